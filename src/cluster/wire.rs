//! The wire format's shared parts: the datagram header, LEB128 varints, and a
//! bounds-checked reader whose errors carry the byte offset.
//!
//! Every datagram starts with a three-byte header:
//!
//! | offset | size | value |
//! |---|---|---|
//! | 0 | 1 | [`MAGIC`] (`0xFD`) |
//! | 1 | 1 | [`WIRE_VERSION`] (1) |
//! | 2 | 1 | message kind (gossip `0x01..=0x0F`, probes `0x10..=0x1F`) |
//!
//! Integers are unsigned LEB128 varints (7 bits a byte, low group first, at most
//! 10 bytes for a `u64`, no overlong encodings), so small numbers (versions,
//! generations, counts) take one or two bytes. Decoding untrusted bytes never
//! panics, never allocates more than the datagram's own length justifies, and
//! reports where it stopped.

use std::fmt;

/// The first byte of every datagram of this crate.
pub const MAGIC: u8 = 0xFD;

/// The wire format's version, the second byte of every datagram. A datagram of
/// another version is refused ([`DecodeErrorKind::UnsupportedVersion`]).
pub const WIRE_VERSION: u8 = 1;

/// Bytes taken by the header (magic, version, kind).
pub const HEADER_LEN: usize = 3;

/// The smallest MTU a member accepts: a header plus room for one member entry
/// with a 128-bit or socket-address id.
pub const MIN_MTU: usize = 128;

/// The largest MTU a member accepts (a UDP payload's ceiling).
pub const MAX_MTU: usize = 65_507;

/// Why a datagram could not be decoded. Nothing was changed by it: a member that
/// refuses a datagram is exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed datagram at byte {offset}: {kind}")]
pub struct DecodeError {
    /// The offset, from the start of the datagram, of the byte that could not be
    /// read or made no sense.
    pub offset: usize,
    /// What was wrong there.
    pub kind: DecodeErrorKind,
}

/// What was wrong with a datagram ([`DecodeError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The datagram ended in the middle of a field.
    Truncated,
    /// The first byte is not [`MAGIC`]: not a datagram of this crate.
    BadMagic(u8),
    /// The version byte is not [`WIRE_VERSION`].
    UnsupportedVersion(u8),
    /// The message kind is unknown, or belongs to the other protocol (a gossip
    /// member sent a probe message, or the reverse).
    UnknownKind(u8),
    /// A varint is longer than 10 bytes, overflows its type, or is overlong.
    BadVarint,
    /// A field's value is outside its allowed range (`what` names the field).
    OutOfRange {
        /// The field.
        what: &'static str,
    },
    /// Bytes remain after the message's last field.
    TrailingBytes,
    /// The datagram is longer than the receiving member's MTU.
    TooLong {
        /// The receiver's MTU.
        mtu: usize,
    },
    /// The sender's address, as the transport saw it, is not the member the
    /// message names as its sender.
    WrongSender,
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::Truncated => f.write_str("the datagram ends inside a field"),
            DecodeErrorKind::BadMagic(b) => write!(f, "magic byte {b:#04x}, expected {MAGIC:#04x}"),
            DecodeErrorKind::UnsupportedVersion(v) => {
                write!(f, "wire version {v}, this build speaks {WIRE_VERSION}")
            }
            DecodeErrorKind::UnknownKind(k) => write!(f, "unknown message kind {k:#04x}"),
            DecodeErrorKind::BadVarint => f.write_str("malformed or overlong varint"),
            DecodeErrorKind::OutOfRange { what } => write!(f, "`{what}` is out of range"),
            DecodeErrorKind::TrailingBytes => f.write_str("bytes after the last field"),
            DecodeErrorKind::TooLong { mtu } => write!(f, "longer than the MTU of {mtu} bytes"),
            DecodeErrorKind::WrongSender => {
                f.write_str("the message's sender is not the transport's sender")
            }
        }
    }
}

/// A cursor over a received datagram. Every read checks bounds and reports the
/// offset of a failure.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The offset of the next byte to read.
    #[inline]
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// An error of `kind` at the current offset.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    /// An error of `kind` at `offset`.
    pub fn error_at(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error(DecodeErrorKind::Truncated))?;
        self.pos += 1;
        Ok(b)
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::Truncated));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A fixed-size array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// An unsigned LEB128 varint of at most 64 bits, refusing overlong forms.
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        // Fast paths: one byte (every value below 128), two bytes (below
        // 16,384; a second byte of zero would be overlong: the slow path
        // refuses it).
        match self.buf.get(self.pos..) {
            Some(&[b, ..]) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            Some(&[b0, b1, ..]) if b1 < 0x80 && b1 != 0 => {
                self.pos += 2;
                Ok(u64::from(b0 & 0x7F) | u64::from(b1) << 7)
            }
            _ => self.varint_slow(),
        }
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let group = u64::from(b & 0x7F);
            if i == 9 && b > 1 {
                return Err(Reader::error_at(start, DecodeErrorKind::BadVarint));
            }
            value |= group << (7 * i);
            if b & 0x80 == 0 {
                // Overlong: a last byte of zero after the first.
                if i > 0 && b == 0 {
                    return Err(Reader::error_at(start, DecodeErrorKind::BadVarint));
                }
                return Ok(value);
            }
        }
        Err(Reader::error_at(start, DecodeErrorKind::BadVarint))
    }

    /// A varint that must fit in `u32`.
    pub fn varint_u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let start = self.pos;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| Reader::error_at(start, DecodeErrorKind::OutOfRange { what }))
    }

    /// A count of items that each take at least `min_item_bytes` bytes, checked
    /// against what remains, so a forged count never makes the decoder allocate
    /// or loop beyond the datagram.
    #[inline]
    pub fn count(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.varint()?;
        let max = self.remaining() / min_item_bytes.max(1);
        match usize::try_from(n) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(Reader::error_at(
                start,
                DecodeErrorKind::OutOfRange { what },
            )),
        }
    }

    /// Succeeds if every byte was read.
    #[inline]
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes))
        }
    }

    /// Reads and checks the header (magic, version) and returns the kind byte,
    /// unchecked: the protocol decides which kinds it knows.
    pub fn header(&mut self) -> Result<u8, DecodeError> {
        let magic = self.u8()?;
        if magic != MAGIC {
            return Err(Reader::error_at(0, DecodeErrorKind::BadMagic(magic)));
        }
        let version = self.u8()?;
        if version != WIRE_VERSION {
            return Err(Reader::error_at(
                1,
                DecodeErrorKind::UnsupportedVersion(version),
            ));
        }
        self.u8()
    }
}

/// Appends an unsigned LEB128 varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The bytes [`put_varint`] writes for `v` (1 to 10).
#[inline]
pub const fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the header of a message of `kind`.
pub fn put_header(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&[MAGIC, WIRE_VERSION, kind]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        let mut values = vec![0, 1, 127, 128, 255, 16_383, 16_384, u64::MAX, u64::MAX - 1];
        values.extend((0..64).map(|s| 1u64 << s));
        values.extend((1..64).map(|s| (1u64 << s) - 1));
        for v in values {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.finish().is_ok());
        }
    }

    #[test]
    fn malformed_varints_are_refused_with_their_offset() {
        // Overlong zero, eleven bytes, overflow of the tenth byte, truncation.
        let cases: [(&[u8], DecodeErrorKind); 4] = [
            (&[7, 0x80, 0x00], DecodeErrorKind::BadVarint),
            (
                &[
                    7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                ],
                DecodeErrorKind::BadVarint,
            ),
            (
                &[
                    7, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02,
                ],
                DecodeErrorKind::BadVarint,
            ),
            (&[7, 0x80], DecodeErrorKind::Truncated),
        ];
        for (bytes, kind) in cases {
            let mut r = Reader::new(bytes);
            r.u8().unwrap();
            let e = r.varint().unwrap_err();
            assert_eq!(e.kind, kind, "{bytes:?}");
            assert!(e.offset >= 1 && e.offset <= bytes.len());
        }
    }

    #[test]
    fn forged_counts_are_bounded_by_the_bytes_left() {
        let mut out = vec![];
        put_varint(&mut out, 1_000_000);
        out.extend_from_slice(&[0; 10]);
        let mut r = Reader::new(&out);
        let e = r.count("entries", 2).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(matches!(
            e.kind,
            DecodeErrorKind::OutOfRange { what: "entries" }
        ));
    }

    #[test]
    fn header_is_checked() {
        assert_eq!(Reader::new(&[0xFD, 1, 9]).header(), Ok(9));
        assert_eq!(
            Reader::new(&[0xFE, 1, 9]).header().unwrap_err().kind,
            DecodeErrorKind::BadMagic(0xFE)
        );
        assert_eq!(
            Reader::new(&[0xFD, 2, 9]).header().unwrap_err(),
            DecodeError {
                offset: 1,
                kind: DecodeErrorKind::UnsupportedVersion(2)
            }
        );
        assert_eq!(
            Reader::new(&[0xFD]).header().unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }
}
