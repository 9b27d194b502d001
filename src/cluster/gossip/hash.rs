//! A small deterministic hasher for the member's in-memory indexes (never for
//! the wire, never iterated in an order that reaches outputs).
//!
//! Each word the key's [`Hash`](std::hash::Hash) writes is folded in with a
//! rotate, an exclusive or and a multiplication by an odd constant (the
//! multiply-rotate scheme of Firefox's and rustc's "FxHash"); `finish` multiplies
//! once more into 128 bits and folds the halves, so that low and high bits both
//! depend on every bit of the key (ids that are multiples of a power of two
//! still spread over the table). The state starts from the member's seed
//! ([`GossipConfig::seed`](super::GossipConfig::seed)): deterministic for a seed,
//! unlike `RandomState`, and cheaper than SipHash (one multiplication per word).
//!
//! Not resistant to chosen keys: someone who knows the seed can make ids
//! collide. Lookups then degrade to a scan of the colliding ids, bounded by
//! [`max_members`](super::GossipConfig::max_members); nothing grows and nothing
//! panics.

use std::hash::{BuildHasher, Hasher};

/// An odd multiplier (the 64-bit golden ratio, 2^64 / phi).
const K: u64 = 0x9E37_79B9_7F4A_7C15;
/// The odd multiplier of the final fold.
const K_FINISH: u64 = 0xD6E8_FEB8_6659_FD93;

/// Builds [`Fx`] hashers from a seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FxBuild {
    seed: u64,
}

impl FxBuild {
    /// Hashers whose state starts from `seed`.
    pub(crate) const fn new(seed: u64) -> Self {
        FxBuild { seed }
    }
}

impl BuildHasher for FxBuild {
    type Hasher = Fx;

    #[inline]
    fn build_hasher(&self) -> Fx {
        Fx { hash: self.seed }
    }
}

/// The hasher ([module documentation](self)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fx {
    hash: u64,
}

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length tells "ab" from "ab\0".
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let p = u128::from(self.hash) * u128::from(K_FINISH);
        (p as u64) ^ ((p >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::net::SocketAddr;

    #[test]
    fn deterministic_and_seeded() {
        let a = FxBuild::new(1);
        assert_eq!(a.hash_one(7u64), FxBuild::new(1).hash_one(7u64));
        assert_ne!(a.hash_one(7u64), FxBuild::new(2).hash_one(7u64));
        assert_ne!(a.hash_one(7u64), a.hash_one(8u64));
        let s: SocketAddr = "10.0.0.1:7946".parse().unwrap();
        let t: SocketAddr = "10.0.0.1:7947".parse().unwrap();
        assert_ne!(a.hash_one(s), a.hash_one(t));
        let mut h = a.build_hasher();
        h.write(b"ab");
        let mut g = a.build_hasher();
        g.write(b"ab\0");
        assert_ne!(h.finish(), g.finish());
    }

    #[test]
    fn ids_that_are_multiples_of_a_power_of_two_spread_in_low_and_high_bits() {
        let b = FxBuild::new(0);
        for shift in [0u32, 10, 40, 90] {
            let hashes: Vec<u64> = (0..256u128).map(|i| b.hash_one(i << shift)).collect();
            let low: BTreeSet<u64> = hashes.iter().map(|h| h & 0xFF).collect();
            let high: BTreeSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            assert!(low.len() > 140, "shift {shift}: {} low bytes", low.len());
            assert!(high.len() > 90, "shift {shift}: {} top 7 bits", high.len());
        }
    }
}
