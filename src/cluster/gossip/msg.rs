//! The gossip member's messages on the wire.
//!
//! After the shared three-byte header ([`crate::cluster::wire`]), every message
//! names its sender (id, then generation, a varint), so that a datagram whose
//! named sender is not the transport's sender is refused
//! ([`DecodeErrorKind::WrongSender`]).
//!
//! | kind | message | body after the sender |
//! |---|---|---|
//! | `0x01` | Syn: a round's digest | sender's version, blocks, entries |
//! | `0x02` | Ack: the reply to a Syn | sender's version, blocks, entries |
//! | `0x03` | heartbeat request (observer mode) | sequence number |
//! | `0x04` | heartbeat answer (observer mode) | the request's sequence number |
//!
//! * an **entry** is `id, generation, version`: `id.encoded_len()` plus one
//!   varint each, so 3 bytes for a `u64` id below 128 in generation 0 at a
//!   version below 128, 6 to 8 bytes in the common case (ids below 16,384,
//!   versions below 2^21, about 24 days of 1 s rounds), at most 20 + id bytes.
//! * a **block** (observer mode) is one observer's reachability record:
//!   `observer id, generation, record version, count, flagged (id, generation)...`; a flag names the generation it judged, so it says nothing of a restarted member
//!   (the members it finds unreachable; at most
//!   [`MAX_OBSERVERS`](super::MAX_OBSERVERS)).
//! * counts are varints, bounded by the bytes left before anything is
//!   allocated.

use super::digest::Heartbeat;
use crate::cluster::id::{Member, MemberId};
use crate::cluster::wire::{
    DecodeError, DecodeErrorKind, HEADER_LEN, Reader, put_header, put_varint, varint_len,
};

use super::config::MAX_OBSERVERS;

pub(crate) const KIND_SYN: u8 = 0x01;
pub(crate) const KIND_ACK: u8 = 0x02;
pub(crate) const KIND_PING: u8 = 0x03;
pub(crate) const KIND_PONG: u8 = 0x04;

/// Bytes reserved for a count varint (counts stay below 2^21).
pub(crate) const COUNT_LEN: usize = 3;

/// One observer's reachability record as gossiped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockMsg<I> {
    pub observer: I,
    /// The observer's generation and the record's version.
    pub hb: Heartbeat,
    /// The subjects it finds unreachable, each with the generation it judged.
    pub flagged: Vec<Member<I>>,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message<I> {
    Gossip {
        reply: bool,
        sender: Member<I>,
        version: u64,
        blocks: Vec<BlockMsg<I>>,
        entries: Vec<(I, Heartbeat)>,
    },
    Ping {
        reply: bool,
        sender: Member<I>,
        seq: u64,
    },
}

/// The bytes an entry takes.
pub(crate) fn entry_len<I: MemberId>(id: &I, hb: Heartbeat) -> usize {
    id.encoded_len() + varint_len(hb.generation) + varint_len(hb.version)
}

/// The bytes a block takes.
pub(crate) fn block_len<I: MemberId>(observer: &I, hb: Heartbeat, flagged: &[Member<I>]) -> usize {
    entry_len(observer, hb)
        + varint_len(flagged.len() as u64)
        + flagged.iter().map(Member::encoded_len).sum::<usize>()
}

/// The bytes before the blocks: header, sender, its version.
pub(crate) fn gossip_prefix_len<I: MemberId>(sender: &Member<I>, version: u64) -> usize {
    HEADER_LEN + sender.encoded_len() + varint_len(version)
}

/// Writes a Syn or Ack (the member writes its entries as it picks them:
/// [`put_gossip_head`], the count, then each [`put_entry`]).
#[cfg(test)]
pub(crate) fn put_gossip<'a, I: MemberId + 'a>(
    out: &mut Vec<u8>,
    reply: bool,
    sender: &Member<I>,
    version: u64,
    blocks: &[(&'a I, Heartbeat, &'a [Member<I>])],
    entries: &[(&'a I, Heartbeat)],
) {
    put_gossip_head(out, reply, sender, version, blocks);
    put_varint(out, entries.len() as u64);
    for (id, hb) in entries {
        put_entry(out, *id, *hb);
    }
}

/// Writes a Syn or Ack up to its entries: the entry count and the entries
/// ([`put_entry`]) follow.
pub(crate) fn put_gossip_head<'a, I: MemberId + 'a>(
    out: &mut Vec<u8>,
    reply: bool,
    sender: &Member<I>,
    version: u64,
    blocks: &[(&'a I, Heartbeat, &'a [Member<I>])],
) {
    put_header(out, if reply { KIND_ACK } else { KIND_SYN });
    sender.encode(out);
    put_varint(out, version);
    put_varint(out, blocks.len() as u64);
    for (observer, hb, flagged) in blocks {
        put_entry(out, *observer, *hb);
        put_varint(out, flagged.len() as u64);
        for m in flagged.iter() {
            m.encode(out);
        }
    }
}

/// Writes one member entry (`entry_len` bytes).
#[inline(always)]
pub(crate) fn put_entry<I: MemberId>(out: &mut Vec<u8>, id: &I, hb: Heartbeat) {
    id.encode(out);
    put_varint(out, hb.generation);
    put_varint(out, hb.version);
}

/// Writes a heartbeat request or answer.
pub(crate) fn put_ping<I: MemberId>(out: &mut Vec<u8>, reply: bool, sender: &Member<I>, seq: u64) {
    put_header(out, if reply { KIND_PONG } else { KIND_PING });
    sender.encode(out);
    put_varint(out, seq);
}

#[inline(always)]
fn read_entry<I: MemberId>(r: &mut Reader<'_>) -> Result<(I, Heartbeat), DecodeError> {
    let id = I::decode(r)?;
    let generation = r.varint()?;
    let version = r.varint()?;
    Ok((id, Heartbeat::new(generation, version)))
}

/// Decodes a datagram received from `from` by a member whose MTU is `mtu`.
/// Never panics; allocates at most in proportion to `bytes.len()`.
pub(crate) fn decode<I: MemberId>(
    bytes: &[u8],
    mtu: usize,
    from: &I,
) -> Result<Message<I>, DecodeError> {
    decode_into(bytes, mtu, from, &mut Vec::new())
}

/// As [`decode`], reading a digest's entries into `buffer` (cleared first),
/// whose allocation a Syn or Ack then takes over: give it back for the next
/// datagram to decode without allocating. On an error `buffer` keeps its
/// allocation, with whatever was read.
pub(crate) fn decode_into<I: MemberId>(
    bytes: &[u8],
    mtu: usize,
    from: &I,
    buffer: &mut Vec<(I, Heartbeat)>,
) -> Result<Message<I>, DecodeError> {
    if bytes.len() > mtu {
        return Err(Reader::error_at(mtu, DecodeErrorKind::TooLong { mtu }));
    }
    let mut r = Reader::new(bytes);
    let kind = r.header()?;
    if !(KIND_SYN..=KIND_PONG).contains(&kind) {
        return Err(Reader::error_at(2, DecodeErrorKind::UnknownKind(kind)));
    }
    let at = r.offset();
    let sender = Member::<I>::decode(&mut r)?;
    if &sender.id != from {
        return Err(Reader::error_at(at, DecodeErrorKind::WrongSender));
    }
    let msg = match kind {
        KIND_SYN | KIND_ACK => {
            let version = r.varint()?;
            let n = r.count("blocks", 4)?;
            let mut blocks = Vec::with_capacity(n);
            for _ in 0..n {
                let (observer, hb) = read_entry(&mut r)?;
                let at = r.offset();
                let m = r.count("flagged members", 2)?;
                if m > MAX_OBSERVERS {
                    return Err(Reader::error_at(
                        at,
                        DecodeErrorKind::OutOfRange {
                            what: "flagged members",
                        },
                    ));
                }
                let mut flagged = Vec::with_capacity(m);
                for _ in 0..m {
                    flagged.push(Member::decode(&mut r)?);
                }
                blocks.push(BlockMsg {
                    observer,
                    hb,
                    flagged,
                });
            }
            let n = r.count("entries", 3)?;
            buffer.clear();
            buffer.reserve(n);
            for _ in 0..n {
                buffer.push(read_entry(&mut r)?);
            }
            r.finish()?;
            Message::Gossip {
                reply: kind == KIND_ACK,
                sender,
                version,
                blocks,
                entries: std::mem::take(buffer),
            }
        }
        _ => {
            let seq = r.varint()?;
            r.finish()?;
            Message::Ping {
                reply: kind == KIND_PONG,
                sender,
                seq,
            }
        }
    };
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_lengths_add_up() {
        let me = Member::new(7u64, 3);
        let flagged = [Member::new(9u64, 1), Member::new(300, 0)];
        let blocks = [(&7u64, Heartbeat::new(3, 2), &flagged[..])];
        let (a, b) = (1u64, 200_000u64);
        let entries = [
            (&a, Heartbeat::new(0, 5)),
            (&b, Heartbeat::new(1 << 40, 1 << 20)),
        ];
        let mut out = Vec::new();
        put_gossip(&mut out, false, &me, 42, &blocks, &entries);
        let expected = gossip_prefix_len(&me, 42)
            + 1
            + block_len(&7u64, Heartbeat::new(3, 2), &flagged)
            + 1
            + entries
                .iter()
                .map(|(i, h)| entry_len(*i, *h))
                .sum::<usize>();
        assert_eq!(out.len(), expected);
        assert_eq!(entry_len(&1u64, Heartbeat::new(0, 5)), 3);
        let m = decode::<u64>(&out, 1400, &7).unwrap();
        assert_eq!(
            m,
            Message::Gossip {
                reply: false,
                sender: me.clone(),
                version: 42,
                blocks: vec![BlockMsg {
                    observer: 7,
                    hb: Heartbeat::new(3, 2),
                    flagged: flagged.to_vec()
                }],
                entries: vec![
                    (1, Heartbeat::new(0, 5)),
                    (b, Heartbeat::new(1 << 40, 1 << 20))
                ],
            }
        );
        assert_eq!(
            decode::<u64>(&out, 1400, &8).unwrap_err().kind,
            DecodeErrorKind::WrongSender
        );
        assert_eq!(
            decode::<u64>(&out, out.len() - 1, &7).unwrap_err().kind,
            DecodeErrorKind::TooLong { mtu: out.len() - 1 }
        );
        let mut ping = Vec::new();
        put_ping(&mut ping, true, &me, 9);
        assert_eq!(
            decode::<u64>(&ping, 1400, &7).unwrap(),
            Message::Ping {
                reply: true,
                sender: me,
                seq: 9
            }
        );
        ping.push(0);
        assert_eq!(
            decode::<u64>(&ping, 1400, &7).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            decode::<u64>(&[0xFD, 1, 0x11, 7, 0], 1400, &7)
                .unwrap_err()
                .kind,
            DecodeErrorKind::UnknownKind(0x11)
        );
    }
}
