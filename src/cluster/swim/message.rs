//! The probe protocol's datagrams: encoding and bounded decoding.
//!
//! Layout after the shared header (`wire`): the sender (its [`Member`] and
//! incarnation), the body of the kind, then the piggybacked updates (a varint
//! count, then each update). The module docs of `swim` give the table.

use crate::cluster::id::{Member, MemberId};
use crate::cluster::wire::{
    DecodeError, DecodeErrorKind, HEADER_LEN, Reader, put_header, put_varint, varint_len,
};

/// `ping`: seq, target member.
pub(crate) const KIND_PING: u8 = 0x10;
/// `ping-req`: seq, target member, nack-after (ms).
pub(crate) const KIND_PING_REQ: u8 = 0x11;
/// `ack`: seq.
pub(crate) const KIND_ACK: u8 = 0x12;
/// `nack`: seq.
pub(crate) const KIND_NACK: u8 = 0x13;
/// `join`: no body; asks for the receiver's membership.
pub(crate) const KIND_JOIN: u8 = 0x14;
/// `sync`: no body; the updates are the sender's membership.
pub(crate) const KIND_SYNC: u8 = 0x15;

/// The smallest encoded update: a tag, a one-byte id, generation and
/// incarnation.
pub(crate) const MIN_UPDATE_LEN: usize = 4;

/// A member's status as an [`Update`] carries it (one byte on the wire: 0, 1,
/// 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Alive at this incarnation.
    Alive,
    /// Suspected at this incarnation.
    Suspect,
    /// Declared dead at this incarnation.
    Dead,
}

/// News about one member, piggybacked on a datagram: its (generation,
/// incarnation) and status, and for suspect and dead news, who said so.
///
/// Encoded as the status byte, the member (id, varint generation), the
/// varint incarnation and, for suspect and dead, the accuser's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<I> {
    /// What the news says.
    pub status: Status,
    /// Whom it is about.
    pub member: Member<I>,
    /// The incarnation it is about.
    pub incarnation: u64,
    /// The accuser, for suspect and dead news (`None` is encoded as the
    /// member's own id); ignored for alive news.
    pub from: Option<I>,
}

impl<I: MemberId> Update<I> {
    /// The bytes [`encode`](Self::encode) appends.
    pub fn encoded_len(&self) -> usize {
        1 + self.member.encoded_len()
            + varint_len(self.incarnation)
            + match (self.status, &self.from) {
                (Status::Alive, _) => 0,
                (_, Some(from)) => from.encoded_len(),
                (_, None) => self.member.id.encoded_len(),
            }
    }

    /// Appends the update's encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.status {
            Status::Alive => 0,
            Status::Suspect => 1,
            Status::Dead => 2,
        });
        self.member.encode(out);
        put_varint(out, self.incarnation);
        if self.status != Status::Alive {
            if let Some(from) = &self.from {
                from.encode(out);
            } else {
                // A suspect or dead update always names its accuser; the
                // member itself stands in (never reached: callers set it).
                self.member.id.encode(out);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let status = match r.u8()? {
            0 => Status::Alive,
            1 => Status::Suspect,
            2 => Status::Dead,
            _ => {
                return Err(Reader::error_at(
                    at,
                    DecodeErrorKind::OutOfRange {
                        what: "update status",
                    },
                ));
            }
        };
        let member = Member::decode(r)?;
        let incarnation = r.varint()?;
        let from = match status {
            Status::Alive => None,
            _ => Some(I::decode(r)?),
        };
        Ok(Update {
            status,
            member,
            incarnation,
            from,
        })
    }
}

/// What a datagram asks or answers (its kind byte and body).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<I> {
    /// `0x10`: are you alive? Answered by an ack of the same `seq`.
    Ping {
        /// Matches the ack to the ping.
        seq: u64,
        /// The member pinged (its id must be the receiver's).
        target: Member<I>,
    },
    /// `0x11`: please ping `target` for me and relay its ack, or nack.
    PingReq {
        /// The asking probe's sequence number, echoed in the relayed ack or
        /// the nack.
        seq: u64,
        /// The member to ping.
        target: Member<I>,
        /// Nack if no ack came within this many milliseconds (capped at the
        /// relay's probe timeout).
        nack_after_ms: u64,
    },
    /// `0x12`: alive (directly, or relayed).
    Ack {
        /// The ping's or ping-req's sequence number.
        seq: u64,
    },
    /// `0x13`: a relay's ping went unanswered in time.
    Nack {
        /// The ping-req's sequence number.
        seq: u64,
    },
    /// `0x14`: a new member asks for the receiver's view.
    Join,
    /// `0x15`: the sender's view, in the updates.
    Sync,
}

impl<I: MemberId> Body<I> {
    /// The kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Body::Ping { .. } => KIND_PING,
            Body::PingReq { .. } => KIND_PING_REQ,
            Body::Ack { .. } => KIND_ACK,
            Body::Nack { .. } => KIND_NACK,
            Body::Join => KIND_JOIN,
            Body::Sync => KIND_SYNC,
        }
    }

    /// Appends the body (not the header or the kind).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::Ping { seq, target } => {
                put_varint(out, *seq);
                target.encode(out);
            }
            Body::PingReq {
                seq,
                target,
                nack_after_ms,
            } => {
                put_varint(out, *seq);
                target.encode(out);
                put_varint(out, *nack_after_ms);
            }
            Body::Ack { seq } | Body::Nack { seq } => put_varint(out, *seq),
            Body::Join | Body::Sync => {}
        }
    }
}

/// One datagram of the probe protocol, decoded: what a
/// [`SwimMember`](super::SwimMember) sends and accepts. Exposed for tools
/// (dissectors, test drivers) and benchmarks; a member never needs it.
///
/// ```
/// use failure_detector::cluster::Member;
/// use failure_detector::cluster::swim::{Body, Message, Status, Update};
///
/// let ping = Message {
///     sender: Member::new(1u64, 7),
///     incarnation: 0,
///     body: Body::Ping { seq: 42, target: Member::new(2, 3) },
///     updates: vec![Update {
///         status: Status::Suspect,
///         member: Member::new(5, 7),
///         incarnation: 1,
///         from: Some(1),
///     }],
/// };
/// let mut bytes = Vec::new();
/// ping.encode(&mut bytes);
/// assert_eq!(bytes.len(), 3 + 3 + 3 + 1 + 5); // header, sender, body, count, update
/// assert_eq!(Message::decode(&bytes, &1u64, 1_400), Ok(ping));
/// assert!(Message::<u64>::decode(&bytes, &9, 1_400).is_err()); // not from 9
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<I> {
    /// Who sent it (checked against the transport's sender on decoding).
    pub sender: Member<I>,
    /// The sender's incarnation.
    pub incarnation: u64,
    /// What it asks or answers.
    pub body: Body<I>,
    /// The piggybacked updates.
    pub updates: Vec<Update<I>>,
}

impl<I: MemberId> Message<I> {
    /// Appends the whole datagram. It is not checked against any MTU: a
    /// member only sends what fits its own.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_head(out, &self.sender, self.incarnation, &self.body);
        put_varint(out, self.updates.len() as u64);
        for u in &self.updates {
            u.encode(out);
        }
    }

    /// Decodes a datagram received from `from`, of at most `mtu` bytes.
    /// Allocates at most one update per four bytes of input.
    ///
    /// # Errors
    /// [`DecodeError`] with the offset: longer than `mtu`, a bad header,
    /// an unknown kind, a sender other than `from`
    /// ([`WrongSender`](DecodeErrorKind::WrongSender)), a malformed or
    /// out-of-range field, a count beyond the bytes left, trailing bytes.
    pub fn decode(bytes: &[u8], from: &I, mtu: usize) -> Result<Self, DecodeError> {
        decode(bytes, from, mtu)
    }
}

/// Writes the header, the sender and the body: the part of a datagram before
/// its updates.
pub(crate) fn encode_head<I: MemberId>(
    out: &mut Vec<u8>,
    sender: &Member<I>,
    incarnation: u64,
    body: &Body<I>,
) {
    put_header(out, body.kind());
    sender.encode(out);
    put_varint(out, incarnation);
    body.encode(out);
}

/// Appends the updates section: `count` then the `count` encoded updates in
/// `updates`.
pub(crate) fn encode_updates(out: &mut Vec<u8>, count: usize, updates: &[u8]) {
    put_varint(out, count as u64);
    out.extend_from_slice(updates);
}

/// The bytes the updates' count may take in a datagram of `mtu` bytes.
pub(crate) fn count_len(mtu: usize) -> usize {
    varint_len((mtu / MIN_UPDATE_LEN) as u64)
}

/// Decodes a datagram that `from` sent, at most `mtu` bytes long. Allocates
/// at most one `Update` per [`MIN_UPDATE_LEN`] bytes of the datagram.
pub(crate) fn decode<I: MemberId>(
    bytes: &[u8],
    from: &I,
    mtu: usize,
) -> Result<Message<I>, DecodeError> {
    if bytes.len() > mtu {
        return Err(Reader::error_at(mtu, DecodeErrorKind::TooLong { mtu }));
    }
    let mut r = Reader::new(bytes);
    let kind = r.header()?;
    if !(KIND_PING..=KIND_SYNC).contains(&kind) {
        return Err(Reader::error_at(
            HEADER_LEN - 1,
            DecodeErrorKind::UnknownKind(kind),
        ));
    }
    let sender_at = r.offset();
    let sender = Member::<I>::decode(&mut r)?;
    if sender.id != *from {
        return Err(Reader::error_at(sender_at, DecodeErrorKind::WrongSender));
    }
    let incarnation = r.varint()?;
    let body = match kind {
        KIND_PING => Body::Ping {
            seq: r.varint()?,
            target: Member::decode(&mut r)?,
        },
        KIND_PING_REQ => Body::PingReq {
            seq: r.varint()?,
            target: Member::decode(&mut r)?,
            nack_after_ms: r.varint()?,
        },
        KIND_ACK => Body::Ack { seq: r.varint()? },
        KIND_NACK => Body::Nack { seq: r.varint()? },
        KIND_JOIN => Body::Join,
        _ => Body::Sync,
    };
    let count = r.count("updates", MIN_UPDATE_LEN)?;
    let mut updates = Vec::with_capacity(count);
    for _ in 0..count {
        updates.push(Update::decode(&mut r)?);
    }
    r.finish()?;
    Ok(Message {
        sender,
        incarnation,
        body,
        updates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(body: Body<u64>, updates: &[Update<u64>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_head(&mut out, &Member::new(5, 2), 9, &body);
        let mut u = Vec::new();
        for up in updates {
            up.encode(&mut u);
        }
        encode_updates(&mut out, updates.len(), &u);
        out
    }

    #[test]
    fn every_kind_round_trips() {
        let updates = [
            Update {
                status: Status::Alive,
                member: Member::new(1u64, 0),
                incarnation: 0,
                from: None,
            },
            Update {
                status: Status::Suspect,
                member: Member::new(300, 1),
                incarnation: 7,
                from: Some(5),
            },
            Update {
                status: Status::Dead,
                member: Member::new(2, 1 << 40),
                incarnation: u64::MAX,
                from: Some(2),
            },
        ];
        let bodies = [
            Body::Ping {
                seq: 1,
                target: Member::new(3, 4),
            },
            Body::PingReq {
                seq: 1 << 33,
                target: Member::new(3, 4),
                nack_after_ms: 400,
            },
            Body::Ack { seq: 0 },
            Body::Nack { seq: 12 },
            Body::Join,
            Body::Sync,
        ];
        for u in &updates {
            let mut one = Vec::new();
            u.encode(&mut one);
            assert_eq!(one.len(), u.encoded_len());
        }
        for body in bodies {
            for n in [0, 3] {
                let bytes = datagram(body.clone(), &updates[..n]);
                let m = decode::<u64>(&bytes, &5, 1400).unwrap();
                assert_eq!(m.sender, Member::new(5, 2));
                assert_eq!(m.incarnation, 9);
                assert_eq!(m.body, body);
                assert_eq!(m.updates, &updates[..n]);
            }
        }
        // An alive update of a small id: tag, id, generation, incarnation.
        let mut one = Vec::new();
        updates[0].encode(&mut one);
        assert_eq!(one.len(), MIN_UPDATE_LEN);
    }

    #[test]
    fn bad_datagrams_are_refused_where_they_go_wrong() {
        let ok = datagram(Body::Ack { seq: 3 }, &[]);
        let e = decode::<u64>(&ok, &6, 1400).unwrap_err();
        assert_eq!((e.offset, e.kind), (3, DecodeErrorKind::WrongSender));
        let e = decode::<u64>(&ok, &5, 4).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TooLong { mtu: 4 });
        let mut kind = ok.clone();
        kind[2] = 0x01;
        let e = decode::<u64>(&kind, &5, 1400).unwrap_err();
        assert_eq!((e.offset, e.kind), (2, DecodeErrorKind::UnknownKind(1)));
        let mut trailing = ok.clone();
        trailing.push(0);
        let e = decode::<u64>(&trailing, &5, 1400).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes);
        for cut in 0..ok.len() {
            let e = decode::<u64>(&ok[..cut], &5, 1400).unwrap_err();
            assert!(e.offset <= cut);
        }
        let mut status = datagram(
            Body::Sync,
            &[Update {
                status: Status::Alive,
                member: Member::new(1, 0),
                incarnation: 0,
                from: None,
            }],
        );
        let at = status.len() - MIN_UPDATE_LEN;
        status[at] = 3;
        let e = decode::<u64>(&status, &5, 1400).unwrap_err();
        assert_eq!(e.offset, at);
    }
}
