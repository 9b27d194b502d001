//! A fixed-capacity ring of inter-arrival intervals with exact integer running sums.
//!
//! The sum of intervals is kept in a `u64` and the sum of their squares in a `u128`,
//! so the mean and the variance are computed from exact integers however many
//! heartbeats have passed: nothing drifts, and the variance has no catastrophic
//! cancellation (its numerator `n * sum_sq - sum^2` is an exact integer).
//!
//! Bounds that make the integers exact (checked by the constructors that use this):
//! at most [`MAX_WINDOW`] samples, each at most [`MAX_INTERVAL_NS`] nanoseconds, so
//! `sum <= 2^62`, `sum_sq <= 2^109`, `n * sum_sq <= 2^124` and `sum^2 <= 2^124`.
//! Keeping `sum` below 2^63 lets it be converted to `f64` through `i64`, which is
//! one instruction on every x86-64 (the unsigned conversion is six).

/// The largest window a detector may ask for.
pub(crate) const MAX_WINDOW: usize = 1 << 15;

/// Intervals longer than this (2^47 ns, about 39 hours) are recorded as this value.
pub(crate) const MAX_INTERVAL_NS: u64 = 1 << 47;

/// In declaration order (`repr(C)`), so that the whole header is one 64-byte cache
/// line: a heartbeat into one of a million nodes misses the cache less.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Window {
    ring: Box<[u64]>,
    /// Index the next sample is written to.
    head: usize,
    len: usize,
    sum: u64,
    /// `1 / len` as a float, kept so that the mean needs no division.
    inv_len: f64,
    sum_sq: u128,
}

impl Window {
    /// An empty window of `capacity` samples (`1..=MAX_WINDOW`, checked by callers;
    /// a zero capacity is raised to one so no index can go out of bounds).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_WINDOW);
        Window {
            ring: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            sum: 0,
            sum_sq: 0,
            inv_len: 0.0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Bytes of heap the ring occupies (8 per slot).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<u64>()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn sum(&self) -> u64 {
        self.sum
    }

    #[cfg(test)]
    pub(crate) fn sum_sq(&self) -> u128 {
        self.sum_sq
    }

    /// Empties the window; its allocation is kept.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.sum = 0;
        self.sum_sq = 0;
        self.inv_len = 0.0;
    }

    /// Adds one interval (clamped to `MAX_INTERVAL_NS`), evicting the oldest when full.
    /// Returns whether the window grew (it was not full). O(1), no allocation.
    #[inline]
    pub(crate) fn push(&mut self, interval_ns: u64) -> bool {
        let x = interval_ns.min(MAX_INTERVAL_NS);
        let cap = self.ring.len();
        let slot = &mut self.ring[self.head];
        if self.len == cap {
            let old = *slot;
            // x^2 - old^2 = (x - old)(x + old): one multiplication instead of two.
            // Both factors are below 2^48 in magnitude; the sum of squares stays
            // non-negative, so wrapping two's-complement addition is exact.
            // Both factors as i64 (|.| < 2^48), so the product is one signed
            // 64 x 64 -> 128 multiplication.
            let diff = x as i64 - old as i64;
            let delta = i128::from(diff) * i128::from((x + old) as i64);
            self.sum_sq = self.sum_sq.wrapping_add(delta as u128);
            self.sum = self.sum - old + x;
            *slot = x;
            self.advance(cap);
            false
        } else {
            self.len += 1;
            self.inv_len = 1.0 / self.len as f64;
            self.sum += x;
            self.sum_sq += u128::from(x) * u128::from(x);
            *slot = x;
            self.advance(cap);
            true
        }
    }

    #[inline]
    fn advance(&mut self, cap: usize) {
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
    }

    /// Mean interval in nanoseconds; 0 when empty. Relative error at most 2^-52
    /// (the exact integer sum is rounded once, then scaled by a rounded `1/n`).
    #[inline]
    pub(crate) fn mean(&self) -> f64 {
        // sum <= 2^62: the signed conversion is exact in range and cheaper.
        self.sum as i64 as f64 * self.inv_len
    }

    /// `n^2` times the population variance, exactly: `n * sum_sq - sum^2` (never
    /// negative: by Cauchy-Schwarz `n * sum_sq >= sum^2`). At most 2^124.
    #[inline]
    pub(crate) fn variance_numerator(&self) -> u128 {
        let s = u128::from(self.sum);
        self.len as u128 * self.sum_sq - s * s
    }

    /// Population variance (divided by `n`, as Akka and Cassandra do) in ns^2; 0 when
    /// empty. The numerator is exact; the result has a relative error of at most
    /// about 2^-51.
    #[inline]
    pub(crate) fn variance(&self) -> f64 {
        variance_from_numerator(self.variance_numerator(), self.inv_len)
    }
}

/// `numerator / n^2` as a float, given `1/n`.
#[inline]
pub(crate) fn variance_from_numerator(numerator: u128, inv_len: f64) -> f64 {
    u128_to_f64(numerator) * inv_len * inv_len
}

impl Window {
    /// `1 / len` (0 when empty).
    #[inline]
    pub(crate) fn inv_len(&self) -> f64 {
        self.inv_len
    }

    /// The samples, oldest first (for tests and diagnostics; allocates).
    #[cfg(test)]
    pub(crate) fn samples(&self) -> Vec<u64> {
        let cap = self.ring.len();
        let start = (self.head + cap - self.len) % cap;
        (0..self.len)
            .map(|i| self.ring[(start + i) % cap])
            .collect()
    }
}

/// `u128 -> f64` through its two 64-bit halves, within two units in the last place of
/// the correctly rounded value (exact below 2^53).
///
/// The halves are converted as *unsigned*: on baseline x86-64 that is a short
/// sequence of full-register vector operations, where the signed `cvtsi2sd` would
/// write only the low lane of its destination. LLVM does not always break that false
/// dependency, and here it chained every heartbeat's conversion to the previous one's
/// square root and division (12 ns per heartbeat instead of 5 for jittery senders).
#[inline]
fn u128_to_f64(x: u128) -> f64 {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    hi as f64 * TWO_POW_64 + lo as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_mean(xs: &[u64]) -> f64 {
        xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64
    }

    /// Two-pass variance in exact rational arithmetic via i128 where it fits.
    fn naive_variance(xs: &[u64]) -> f64 {
        let n = xs.len() as i128;
        let s: i128 = xs.iter().map(|&x| x as i128).sum();
        // sum over (n*x - s)^2 / n^3, exactly in integers when small enough
        let num: i128 = xs
            .iter()
            .map(|&x| {
                let d = n * x as i128 - s;
                d * d
            })
            .sum();
        num as f64 / (n * n * n) as f64
    }

    #[test]
    fn fills_then_evicts_oldest() {
        let mut w = Window::new(3);
        for x in [10, 20, 30, 40] {
            w.push(x);
        }
        assert_eq!(w.samples(), vec![20, 30, 40]);
        assert_eq!(w.len(), 3);
        assert_eq!(w.sum(), 90);
        assert_eq!(w.sum_sq(), 400 + 900 + 1600);
        assert_eq!(w.mean(), 30.0);
        assert!((w.variance() - 200.0 / 3.0).abs() < 1e-12);
        w.clear();
        assert_eq!((w.len(), w.sum(), w.sum_sq()), (0, 0, 0));
        assert_eq!(w.mean(), 0.0);
        assert_eq!(w.variance(), 0.0);
        assert_eq!(w.capacity(), 3);
    }

    #[test]
    fn clamps_huge_intervals() {
        let mut w = Window::new(2);
        w.push(u64::MAX);
        w.push(u64::MAX);
        assert_eq!(w.sum(), 2 * MAX_INTERVAL_NS);
        assert_eq!(w.variance(), 0.0);
        assert_eq!(w.mean(), MAX_INTERVAL_NS as f64);
    }

    #[test]
    fn exact_at_the_integer_bounds() {
        // The largest window full of the largest and smallest intervals: the sums must
        // not overflow and the variance must be exact (max - min)^2 / 4.
        let mut w = Window::new(MAX_WINDOW);
        for i in 0..MAX_WINDOW {
            w.push(if i % 2 == 0 { MAX_INTERVAL_NS } else { 1 });
        }
        let half_range = (MAX_INTERVAL_NS - 1) as f64 / 2.0;
        let rel = (w.variance() - half_range * half_range).abs() / (half_range * half_range);
        assert!(rel < 1e-15, "relative error {rel}");
        assert_eq!(w.sum(), (MAX_WINDOW as u64 / 2) * (MAX_INTERVAL_NS + 1));
    }

    #[test]
    fn u128_conversion_is_close_to_correct_rounding() {
        for x in [
            0u128,
            1,
            (1 << 53) + 1,
            (1 << 62) - 1,
            1 << 62,
            u64::MAX as u128,
            (u64::MAX as u128) + 1,
            u128::MAX >> 3,
            (1u128 << 124) - 12345,
            123_456_789_012_345_678_901_234_567_890,
        ] {
            let fast = u128_to_f64(x);
            let exact = x as f64;
            assert!((fast - exact).abs() <= 2.0 * exact * f64::EPSILON, "{x}");
        }
    }

    #[test]
    fn no_drift_over_a_long_run() {
        // Ten million pushes of values with fractional means: integer sums stay exact.
        let mut w = Window::new(1000);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..10_000_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            w.push(100_000_000 + (state >> 40) % 1_000_000);
        }
        let xs = w.samples();
        assert_eq!(w.sum(), xs.iter().sum::<u64>());
        assert_eq!(
            w.sum_sq(),
            xs.iter()
                .map(|&x| u128::from(x) * u128::from(x))
                .sum::<u128>()
        );
        let v = naive_variance(&xs);
        assert!((w.variance() - v).abs() <= v * 1e-12);
    }

    proptest! {
        #[test]
        fn sums_always_equal_a_naive_recomputation(
            cap in 1usize..64,
            xs in proptest::collection::vec(0u64..=MAX_INTERVAL_NS * 2, 0..300),
        ) {
            let mut w = Window::new(cap);
            let mut all = Vec::new();
            for &x in &xs {
                w.push(x);
                all.push(x.min(MAX_INTERVAL_NS));
                let tail = &all[all.len().saturating_sub(cap)..];
                prop_assert_eq!(w.samples(), tail.to_vec());
                prop_assert_eq!(w.sum(), tail.iter().sum::<u64>());
                prop_assert_eq!(
                    w.sum_sq(),
                    tail.iter().map(|&x| u128::from(x) * u128::from(x)).sum::<u128>()
                );
                let m = naive_mean(tail);
                prop_assert!((w.mean() - m).abs() <= m * 1e-15);
            }
        }

        #[test]
        fn variance_matches_two_pass_oracle(
            xs in proptest::collection::vec(1u64..=1u64 << 40, 1..100),
        ) {
            let mut w = Window::new(xs.len());
            for &x in &xs {
                w.push(x);
            }
            let v = naive_variance(&xs);
            prop_assert!(w.variance() >= 0.0);
            prop_assert!((w.variance() - v).abs() <= v * 1e-14 + 1e-300);
        }
    }
}
