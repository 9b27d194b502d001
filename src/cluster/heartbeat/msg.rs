//! The heartbeat topologies' messages on the wire (kinds `0x20..=0x24`).
//!
//! After the shared three-byte header ([`crate::cluster::wire`]) every message
//! names its sender (id, then generation, a varint); a datagram whose named
//! sender is not the transport's sender is refused
//! ([`DecodeErrorKind::WrongSender`]).
//!
//! | kind | topology | message | body after the sender |
//! |---|---|---|---|
//! | `0x20` | all-to-all | heartbeat | sequence number |
//! | `0x21` | all-to-all | join (to a seed) | (none) |
//! | `0x22` | all-to-all | members (a seed's answer to a join) | count, `(id, generation)`... |
//! | `0x23` | central | heartbeat (member to monitor) | sequence number |
//! | `0x24` | central | ack (monitor to member) | the heartbeat's sequence number, count, `(status, id, generation)`... |
//!
//! `0x25..=0x2F` are reserved for these topologies. A status is a byte: 0
//! Alive, 1 Suspect, 2 Dead. Counts are varints bounded by the bytes left (and
//! by the receiver's member bound) before anything is allocated.

use crate::cluster::id::{Member, MemberId};
use crate::cluster::wire::{
    DecodeError, DecodeErrorKind, HEADER_LEN, Reader, put_header, put_varint, varint_len,
};
use crate::registry::NodeState;

/// All-to-all heartbeat.
pub(crate) const KIND_HEARTBEAT: u8 = 0x20;
/// All-to-all join request.
pub(crate) const KIND_JOIN: u8 = 0x21;
/// All-to-all member list.
pub(crate) const KIND_MEMBERS: u8 = 0x22;
/// Central: a member's heartbeat to the monitor.
pub(crate) const KIND_BEAT: u8 = 0x23;
/// Central: the monitor's ack, with verdicts.
pub(crate) const KIND_ACK: u8 = 0x24;

/// Bytes reserved for a count varint (counts stay below 2^21).
pub(crate) const COUNT_LEN: usize = 3;

/// Which topology decodes: each refuses the other's kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    AllToAll,
    Central,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message<I> {
    /// `0x20` or `0x23`.
    Heartbeat { sender: Member<I>, seq: u64 },
    /// `0x21`.
    Join { sender: Member<I> },
    /// `0x22`.
    Members {
        sender: Member<I>,
        members: Vec<Member<I>>,
    },
    /// `0x24`.
    Ack {
        sender: Member<I>,
        seq: u64,
        verdicts: Vec<(Member<I>, NodeState)>,
    },
}

/// The bytes before a message's body: header and sender.
pub(crate) fn prefix_len<I: MemberId>(sender: &Member<I>) -> usize {
    HEADER_LEN + sender.encoded_len()
}

/// Writes a heartbeat (`central`: to the monitor, kind `0x23`).
pub(crate) fn put_heartbeat<I: MemberId>(
    out: &mut Vec<u8>,
    central: bool,
    sender: &Member<I>,
    seq: u64,
) {
    put_header(out, if central { KIND_BEAT } else { KIND_HEARTBEAT });
    sender.encode(out);
    put_varint(out, seq);
}

/// Writes a join request.
pub(crate) fn put_join<I: MemberId>(out: &mut Vec<u8>, sender: &Member<I>) {
    put_header(out, KIND_JOIN);
    sender.encode(out);
}

/// Writes a member list.
pub(crate) fn put_members<'a, I: MemberId + 'a>(
    out: &mut Vec<u8>,
    sender: &Member<I>,
    members: impl ExactSizeIterator<Item = (&'a I, u64)>,
) {
    put_header(out, KIND_MEMBERS);
    sender.encode(out);
    put_varint(out, members.len() as u64);
    for (id, generation) in members {
        id.encode(out);
        put_varint(out, generation);
    }
}

/// The bytes a member-list entry takes.
pub(crate) fn member_len<I: MemberId>(id: &I, generation: u64) -> usize {
    id.encoded_len() + varint_len(generation)
}

/// The bytes an ack entry takes.
pub(crate) fn verdict_len<I: MemberId>(id: &I, generation: u64) -> usize {
    1 + member_len(id, generation)
}

/// Writes an ack.
pub(crate) fn put_ack<'a, I: MemberId + 'a>(
    out: &mut Vec<u8>,
    sender: &Member<I>,
    seq: u64,
    verdicts: &[(&'a I, u64, NodeState)],
) {
    put_header(out, KIND_ACK);
    sender.encode(out);
    put_varint(out, seq);
    put_varint(out, verdicts.len() as u64);
    for (id, generation, state) in verdicts {
        out.push(status_byte(*state));
        id.encode(out);
        put_varint(out, *generation);
    }
}

fn status_byte(state: NodeState) -> u8 {
    match state {
        NodeState::Alive => 0,
        NodeState::Suspect => 1,
        NodeState::Dead => 2,
    }
}

/// Decodes a datagram received from `from` by a member of `topology` with MTU
/// `mtu`, taking at most `max_entries` list entries.
///
/// # Errors
/// [`DecodeError`] with the offset of the first byte that made no sense.
pub(crate) fn decode<I: MemberId>(
    bytes: &[u8],
    mtu: usize,
    from: &I,
    topology: Topology,
    max_entries: usize,
) -> Result<Message<I>, DecodeError> {
    if bytes.len() > mtu {
        return Err(Reader::error_at(mtu, DecodeErrorKind::TooLong { mtu }));
    }
    let mut r = Reader::new(bytes);
    let kind = r.header()?;
    let known = match topology {
        Topology::AllToAll => matches!(kind, KIND_HEARTBEAT | KIND_JOIN | KIND_MEMBERS),
        Topology::Central => matches!(kind, KIND_BEAT | KIND_ACK),
    };
    if !known {
        return Err(Reader::error_at(2, DecodeErrorKind::UnknownKind(kind)));
    }
    let at = r.offset();
    let sender = Member::<I>::decode(&mut r)?;
    if sender.id != *from {
        return Err(Reader::error_at(at, DecodeErrorKind::WrongSender));
    }
    let message = match kind {
        KIND_HEARTBEAT | KIND_BEAT => Message::Heartbeat {
            sender,
            seq: r.varint()?,
        },
        KIND_JOIN => Message::Join { sender },
        KIND_MEMBERS => {
            let at = r.offset();
            let n = r.count("members", 2)?;
            if n > max_entries {
                return Err(Reader::error_at(
                    at,
                    DecodeErrorKind::OutOfRange { what: "members" },
                ));
            }
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(Member::decode(&mut r)?);
            }
            Message::Members { sender, members }
        }
        _ => {
            let seq = r.varint()?;
            let at = r.offset();
            let n = r.count("verdicts", 3)?;
            if n > max_entries {
                return Err(Reader::error_at(
                    at,
                    DecodeErrorKind::OutOfRange { what: "verdicts" },
                ));
            }
            let mut verdicts = Vec::with_capacity(n);
            for _ in 0..n {
                let at = r.offset();
                let state = match r.u8()? {
                    0 => NodeState::Alive,
                    1 => NodeState::Suspect,
                    2 => NodeState::Dead,
                    _ => {
                        return Err(Reader::error_at(
                            at,
                            DecodeErrorKind::OutOfRange { what: "status" },
                        ));
                    }
                };
                verdicts.push((Member::decode(&mut r)?, state));
            }
            Message::Ack {
                sender,
                seq,
                verdicts,
            }
        }
    };
    r.finish()?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_refuse_the_other_topology() {
        let me = Member::new(7u64, 3);
        let mut hb = Vec::new();
        put_heartbeat(&mut hb, false, &me, 300);
        assert_eq!(
            decode::<u64>(&hb, 1400, &7, Topology::AllToAll, 10),
            Ok(Message::Heartbeat {
                sender: me.clone(),
                seq: 300
            })
        );
        let e = decode::<u64>(&hb, 1400, &7, Topology::Central, 10).unwrap_err();
        assert_eq!((e.offset, e.kind), (2, DecodeErrorKind::UnknownKind(0x20)));
        let e = decode::<u64>(&hb, 1400, &8, Topology::AllToAll, 10).unwrap_err();
        assert_eq!((e.offset, e.kind), (3, DecodeErrorKind::WrongSender));
        let e = decode::<u64>(&hb, 5, &7, Topology::AllToAll, 10).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TooLong { mtu: 5 });

        let mut list = Vec::new();
        let ids = [1u64, 2, 300];
        put_members(&mut list, &me, ids.iter().map(|id| (id, 9)));
        let Ok(Message::Members { members, .. }) =
            decode::<u64>(&list, 1400, &7, Topology::AllToAll, 10)
        else {
            panic!("not a member list");
        };
        assert_eq!(members.len(), 3);
        assert_eq!(members[2], Member::new(300, 9));
        let e = decode::<u64>(&list, 1400, &7, Topology::AllToAll, 2).unwrap_err();
        assert!(matches!(
            e.kind,
            DecodeErrorKind::OutOfRange { what: "members" }
        ));

        let mut ack = Vec::new();
        put_ack(
            &mut ack,
            &me,
            5,
            &[(&1, 0, NodeState::Alive), (&2, 4, NodeState::Dead)],
        );
        assert_eq!(
            decode::<u64>(&ack, 1400, &7, Topology::Central, 10),
            Ok(Message::Ack {
                sender: me,
                seq: 5,
                verdicts: vec![
                    (Member::new(1, 0), NodeState::Alive),
                    (Member::new(2, 4), NodeState::Dead)
                ]
            })
        );
        let mut bad = ack.clone();
        let status_at = bad.len() - 3;
        bad[status_at] = 9;
        let e = decode::<u64>(&bad, 1400, &7, Topology::Central, 10).unwrap_err();
        assert_eq!(e.offset, status_at);
        bad = ack.clone();
        bad.push(0);
        let e = decode::<u64>(&bad, 1400, &7, Topology::Central, 10).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes);
    }
}
