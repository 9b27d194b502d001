//! A fast, deterministic hasher for the simulator's maps and its trace
//! fingerprint (FxHash's multiply-rotate on 64-bit words; not for untrusted keys,
//! which the simulator's keys, its own slot numbers and the caller's ids, are not).

use std::hash::{BuildHasherDefault, Hasher};

/// Maps keyed by slots and ids.
pub(crate) type Fast = BuildHasherDefault<Fx>;

/// The hasher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fx(u64);

/// One step of the fingerprint.
#[inline]
pub(crate) fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = mix(self.0, u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0, n);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = mix(self.0, n as u64);
    }
}
