//! Member identity: a caller-chosen id and a generation that rises on every
//! restart.

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::wire::{DecodeError, DecodeErrorKind, Reader, put_varint, varint_len};

/// What identifies a member on the wire and to the caller: an integer, a socket
/// address, or a type of your own that can encode itself.
///
/// The caller maps ids to transport addresses: a datagram a member emits is
/// addressed to an id ([`Datagram::to`](super::Datagram::to)), and a received one
/// is handed in with the id it came from. With `SocketAddr` ids that mapping is
/// the identity.
///
/// Implementations must round-trip (`decode` of `encode` gives the same id, and
/// reads exactly [`encoded_len`](Self::encoded_len) bytes), and `decode` must not
/// panic or allocate more than the bytes it reads justify.
pub trait MemberId: Clone + Eq + Ord + Hash + fmt::Debug + Send + Sync + 'static {
    /// Appends the id's encoding.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one id.
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes are not an id.
    fn decode(input: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// The bytes [`encode`](Self::encode) appends.
    fn encoded_len(&self) -> usize;
}

macro_rules! varint_id {
    ($($t:ty),*) => {$(
        /// A varint: 1 byte below 128, at most
        #[doc = concat!("`", stringify!($t), "::BITS.div_ceil(7)` bytes.")]
        impl MemberId for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                put_varint(out, u64::from(*self));
            }
            #[inline(always)]
            fn decode(input: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let at = input.offset();
                let v = input.varint()?;
                <$t>::try_from(v).map_err(|_| {
                    Reader::error_at(at, DecodeErrorKind::OutOfRange { what: "member id" })
                })
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                varint_len(u64::from(*self))
            }
        }
    )*};
}
varint_id!(u16, u32, u64);

/// Sixteen bytes, big-endian.
impl MemberId for u128 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(u128::from_be_bytes(input.array()?))
    }
    fn encoded_len(&self) -> usize {
        16
    }
}

/// A tag byte (4 or 6), the address's bytes and the port, big-endian: 7 bytes for
/// IPv4, 19 for IPv6. Flow info and scope id of IPv6 addresses are not sent.
impl MemberId for SocketAddr {
    fn encode(&self, out: &mut Vec<u8>) {
        match self.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.port().to_be_bytes());
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = input.offset();
        let ip = match input.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(input.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(input.array::<16>()?)),
            _ => {
                return Err(Reader::error_at(
                    at,
                    DecodeErrorKind::OutOfRange {
                        what: "address family",
                    },
                ));
            }
        };
        let port = u16::from_be_bytes(input.array()?);
        Ok(SocketAddr::new(ip, port))
    }
    fn encoded_len(&self) -> usize {
        match self {
            SocketAddr::V4(_) => 7,
            SocketAddr::V6(_) => 19,
        }
    }
}

/// A member as the cluster knows it: the caller's id and the generation of the
/// process behind it.
///
/// The generation must rise every time the process restarts (a boot counter kept
/// on disk, or the start time in milliseconds), so that the others can tell a
/// restarted member, with fresh statistics, from old news about the previous one.
/// Members compare by id, then generation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Member<I> {
    /// The caller-chosen id.
    pub id: I,
    /// The generation (restart count or start time); higher is newer.
    pub generation: u64,
}

impl<I: MemberId> Member<I> {
    /// A member of generation `generation`.
    pub fn new(id: I, generation: u64) -> Self {
        Member { id, generation }
    }

    /// Appends the id and the generation (a varint).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.id.encode(out);
        put_varint(out, self.generation);
    }

    /// Reads what [`encode`](Self::encode) wrote.
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes are not a member.
    pub fn decode(input: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Member {
            id: I::decode(input)?,
            generation: input.varint()?,
        })
    }

    /// The bytes [`encode`](Self::encode) appends.
    pub fn encoded_len(&self) -> usize {
        self.id.encoded_len() + varint_len(self.generation)
    }
}

impl<I: fmt::Display> fmt::Display for Member<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.id, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<I: MemberId>(id: I) {
        let m = Member::new(id, 300);
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out.len(), m.encoded_len());
        let mut r = Reader::new(&out);
        assert_eq!(Member::<I>::decode(&mut r), Ok(m));
        assert!(r.finish().is_ok());
    }

    #[test]
    fn ids_round_trip() {
        round_trip(7u16);
        round_trip(u32::MAX);
        round_trip(u64::MAX);
        round_trip(u128::MAX - 3);
        round_trip("127.0.0.1:7946".parse::<SocketAddr>().unwrap());
        round_trip("[::1]:7946".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn a_too_large_id_is_refused() {
        let mut out = Vec::new();
        put_varint(&mut out, 70_000);
        let e = u16::decode(&mut Reader::new(&out)).unwrap_err();
        assert_eq!(e.offset, 0);
        let e = SocketAddr::decode(&mut Reader::new(&[5, 1, 2])).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::OutOfRange { .. }));
    }
}
