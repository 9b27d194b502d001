//! The transport frame around every datagram on a socket.
//!
//! | offset | size | value |
//! |---|---|---|
//! | 0 | 1 | [`MAGIC`](crate::cluster::wire::MAGIC) (`0xFD`) |
//! | 1 | 1 | [`WIRE_VERSION`](crate::cluster::wire::WIRE_VERSION) (1) |
//! | 2 | 1 | [`FrameKind`]: `0x20` data, `0x21` hello, `0x22` heartbeat |
//! | 3 | varies | sender's id ([`MemberId`] encoding: a varint for integer ids) |
//! | … | varies | receiver's id (same encoding) |
//! | … | rest | the member's datagram (data), nothing (hello), the application's bytes (heartbeat) |
//!
//! A frame adds 5 to 23 bytes to a member's datagram with `u64` ids (5 to 7 for
//! ids below 2^14); a member's MTU should leave that room below the path's MTU.

use crate::cluster::MemberId;
use crate::cluster::wire::{DecodeError, DecodeErrorKind, HEADER_LEN, Reader, put_header};

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameKind {
    /// A member's datagram for the receiver.
    Data,
    /// No payload: "I am `from`, at the address this came from". A relay learns
    /// (or updates, after a restart on a new port) where to forward frames for
    /// `from`; `to` names whom the sender wants to reach (often the relay's own
    /// id, or the sender's).
    Hello,
    /// A bare heartbeat from `from` to a monitor `to`; the payload is free for
    /// the application (empty, or a sequence number) and is not interpreted here.
    Heartbeat,
}

impl FrameKind {
    /// The kind byte on the wire.
    pub const fn byte(self) -> u8 {
        match self {
            FrameKind::Data => 0x20,
            FrameKind::Hello => 0x21,
            FrameKind::Heartbeat => 0x22,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x20 => Some(FrameKind::Data),
            0x21 => Some(FrameKind::Hello),
            0x22 => Some(FrameKind::Heartbeat),
            _ => None,
        }
    }
}

/// A decoded frame, borrowing its payload from the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a, I> {
    /// What it carries.
    pub kind: FrameKind,
    /// The member that sent it.
    pub from: I,
    /// The member it is for.
    pub to: I,
    /// The member's datagram (empty for [`FrameKind::Hello`]).
    pub payload: &'a [u8],
}

impl<'a, I: MemberId> Frame<'a, I> {
    /// Decodes a frame. Allocates nothing (beyond what the id type's decoding
    /// needs) and never panics.
    ///
    /// # Errors
    /// [`DecodeError`] with the byte offset: a bad header, an unknown kind, a
    /// malformed id, or a hello with a payload.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let kind_byte = r.header()?;
        let kind = FrameKind::from_byte(kind_byte).ok_or_else(|| {
            Reader::error_at(HEADER_LEN - 1, DecodeErrorKind::UnknownKind(kind_byte))
        })?;
        let from = I::decode(&mut r)?;
        let to = I::decode(&mut r)?;
        let payload = r.bytes(r.remaining())?;
        if kind == FrameKind::Hello && !payload.is_empty() {
            return Err(Reader::error_at(
                bytes.len() - payload.len(),
                DecodeErrorKind::TrailingBytes,
            ));
        }
        Ok(Frame {
            kind,
            from,
            to,
            payload,
        })
    }

    /// The bytes [`encode`](Self::encode) appends.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.from.encoded_len() + self.to.encoded_len() + self.payload.len()
    }

    /// Appends the frame's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        put_header(out, self.kind.byte());
        self.from.encode(out);
        self.to.encode(out);
        out.extend_from_slice(self.payload);
    }

    /// The frame's encoding in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let f = Frame {
            kind: FrameKind::Data,
            from: 7u64,
            to: 300u64,
            payload: &[0xFD, 1, 2, 3][..],
        };
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), f.encoded_len());
        assert_eq!(Frame::<u64>::decode(&out).unwrap(), f);
        // Every truncation is refused with an offset inside the bytes.
        for cut in 0..HEADER_LEN + 3 {
            let e = Frame::<u64>::decode(&out[..cut]).unwrap_err();
            assert!(e.offset <= cut, "{e}");
        }
        let mut bad = out.clone();
        bad[2] = 0x01;
        assert_eq!(
            Frame::<u64>::decode(&bad).unwrap_err().kind,
            DecodeErrorKind::UnknownKind(0x01)
        );
        let mut hello = Vec::new();
        Frame {
            kind: FrameKind::Hello,
            from: 1u64,
            to: 1u64,
            payload: &[9][..],
        }
        .encode(&mut hello);
        assert_eq!(
            Frame::<u64>::decode(&hello).unwrap_err(),
            DecodeError {
                offset: hello.len() - 1,
                kind: DecodeErrorKind::TrailingBytes
            }
        );
    }
}
