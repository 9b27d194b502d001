//! Chen's estimate of the next heartbeat's arrival, shared by the estimation-based
//! detectors ([`Chen`](crate::Chen), [`Bertier`](crate::Bertier),
//! [`TwoWindows`](crate::TwoWindows)).
//!
//! Chen, Toueg and Aguilera (2002, section 6.2) estimate the expected arrival of
//! heartbeat `k + 1` from the last `n` arrivals `A_i` with sequence numbers `s_i` and
//! the sender's period `eta`:
//!
//! ```text
//! EA(k+1) = (1/n) * sum_i (A_i - eta * s_i) + (k + 1) * eta
//! ```
//!
//! Each arrival is stored as `u_i = A_i - eta * s_i` (how late it was against a
//! schedule anchored at sequence number 0), with the window's sum kept exactly in
//! `i128`, so the estimate is O(1) per heartbeat and does not drift. The expected
//! arrival is reported as an offset from the last arrival `A_k`:
//! `EA(k+1) - A_k = eta + (sum_i u_i - n * u_k) / n`, whose numerator is a small exact
//! integer (the window's accumulated lateness relative to the newest arrival).
//!
//! Sums are kept with wrapping arithmetic: they are exact modulo 2^128, so the
//! numerator above is exact whenever its true value fits in an `i128`, which it does
//! unless sequence numbers and arrival times disagree by more than about 2^110 ns.
//!
//! A second, shorter window over the newest `short` values of the same ring gives the
//! two-windows detector its second estimate at no extra memory.

use crate::detector::{Arrivals, Stats, ceil_ns};
use crate::error::HeartbeatError;
use crate::time::Timestamp;

/// The window of `A_i - eta * s_i` values and the sequence-number bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct Estimate {
    ring: Box<[i128]>,
    head: usize,
    len: usize,
    sum: i128,
    /// Length of the optional short window (at most the ring's capacity; 0 = none).
    short: usize,
    short_len: usize,
    short_sum: i128,
    /// The sender's period, ns.
    eta: u64,
    /// Sequence number of the newest arrival (relative to the first one).
    seq: u64,
    /// `A_k - eta * s_k` of the newest arrival.
    newest: i128,
}

impl Estimate {
    /// An empty estimate over the last `capacity` arrivals (at least 1), with an
    /// optional short window of the last `short` (clamped to `capacity`) arrivals.
    pub(crate) fn new(capacity: usize, short: usize, eta: u64) -> Self {
        let capacity = capacity.max(1);
        Estimate {
            ring: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            sum: 0,
            short: short.min(capacity),
            short_len: 0,
            short_sum: 0,
            eta,
            seq: 0,
            newest: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of heap the ring occupies (16 per slot).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.len() * std::mem::size_of::<i128>()
    }

    /// The sequence number of the newest arrival, counted from the first (0).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.sum = 0;
        self.short_len = 0;
        self.short_sum = 0;
        self.seq = 0;
        self.newest = 0;
    }

    /// The sequence number of an arrival at `at_ns` (ns since the first arrival)
    /// when the sender's are not known: the nearest slot of the schedule the window
    /// estimates (its mean lateness plus `seq * eta`), and at least one more than the
    /// newest. Anchoring to the estimated schedule, rather than rounding each gap,
    /// keeps one odd gap (jitter above half a period) from shifting every later
    /// number. O(1); no division unless the arrival is half a period late or more.
    #[inline]
    pub(crate) fn inferred_seq(&self, at_ns: u64) -> u64 {
        let next = self.seq.saturating_add(1);
        let n = self.len.max(1) as i128;
        let eta = i128::from(self.eta);
        // n * (A - (mean(u) + eta * next)): how late against the estimated schedule,
        // times n, exactly (wrapping arithmetic: see the module docs).
        let late = (i128::from(at_ns).wrapping_mul(n))
            .wrapping_sub(self.sum)
            .wrapping_sub(eta.wrapping_mul(i128::from(next)).wrapping_mul(n));
        if late.wrapping_mul(2) < n * eta {
            return next;
        }
        let slots = (late as f64 / (n * eta) as f64).round();
        // `as` saturates: an absurd lateness cannot wrap the sequence number.
        next.saturating_add(slots as u64)
    }

    /// Records an arrival `at_ns` (ns since the first arrival) with sequence number
    /// `seq` (since the first arrival's). O(1).
    #[inline]
    pub(crate) fn push(&mut self, at_ns: u64, seq: u64) {
        let u = i128::from(at_ns).wrapping_sub(i128::from(self.eta).wrapping_mul(i128::from(seq)));
        let cap = self.ring.len();
        if self.short > 0 {
            if self.short_len == self.short {
                // The value `short` pushes back, still in the ring (short <= cap).
                let back = if self.head >= self.short {
                    self.head - self.short
                } else {
                    self.head + cap - self.short
                };
                self.short_sum = self.short_sum.wrapping_sub(self.ring[back]);
            } else {
                self.short_len += 1;
            }
            self.short_sum = self.short_sum.wrapping_add(u);
        }
        let slot = &mut self.ring[self.head];
        if self.len == cap {
            self.sum = self.sum.wrapping_sub(*slot);
        } else {
            self.len += 1;
        }
        self.sum = self.sum.wrapping_add(u);
        *slot = u;
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
        self.seq = seq;
        self.newest = u;
    }

    /// `EA(k+1) - A_k` in nanoseconds over the long window (0 values: `eta`).
    #[inline]
    pub(crate) fn expected_offset(&self) -> f64 {
        self.offset(self.sum, self.len)
    }

    /// `EA(k+1) - A_k` over the short window.
    #[inline]
    pub(crate) fn short_expected_offset(&self) -> f64 {
        self.offset(self.short_sum, self.short_len)
    }

    #[inline]
    fn offset(&self, sum: i128, len: usize) -> f64 {
        if len == 0 {
            return self.eta as f64;
        }
        let numerator = sum.wrapping_sub(self.newest.wrapping_mul(len as i128));
        // The numerator is usually small: convert through i64 (one instruction)
        // rather than the i128 library routine.
        let numerator = match i64::try_from(numerator) {
            Ok(small) => small as f64,
            Err(_) => numerator as f64,
        };
        self.eta as f64 + numerator / len as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chen's formula evaluated literally over the last `n` (arrival, seq) pairs.
    fn naive(history: &[(u64, u64)], n: usize, eta: u64) -> f64 {
        let tail = &history[history.len().saturating_sub(n)..];
        let mean = tail
            .iter()
            .map(|&(a, s)| a as f64 - eta as f64 * s as f64)
            .sum::<f64>()
            / tail.len() as f64;
        let (last_at, last_seq) = *history.last().unwrap();
        mean + (last_seq + 1) as f64 * eta as f64 - last_at as f64
    }

    #[test]
    fn matches_chens_formula() {
        let eta = 100;
        let mut e = Estimate::new(4, 2, eta);
        let mut history = Vec::new();
        let mut state = 7u64;
        let mut at = 0;
        let mut seq = 0;
        for i in 0..50 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let jitter = (state >> 40) % 40;
            if i > 0 {
                seq += 1 + u64::from(i % 7 == 0);
                at = seq * eta + jitter;
            }
            e.push(at, seq);
            history.push((at, seq));
            assert!((e.expected_offset() - naive(&history, 4, eta)).abs() < 1e-9);
            assert!((e.short_expected_offset() - naive(&history, 2, eta)).abs() < 1e-9);
        }
        assert_eq!(e.len(), 4);
        assert_eq!(e.seq(), seq);
    }

    #[test]
    fn infers_sequence_numbers_from_the_schedule() {
        let mut e = Estimate::new(4, 0, 100);
        e.push(0, 0);
        assert_eq!(e.inferred_seq(1), 1); // early: still the next one
        assert_eq!(e.inferred_seq(149), 1);
        assert_eq!(e.inferred_seq(150), 2);
        assert_eq!(e.inferred_seq(251), 3);
        assert!(e.inferred_seq(u64::MAX) >= u64::MAX / 100 - 100);
        // Window of 2: lateness 40 then 0, a schedule 20 late on average. 160 after
        // an on-time arrival is 40 late on that schedule: one period, not two.
        let mut e = Estimate::new(2, 0, 100);
        for (at, seq) in [(0, 0), (140, 1), (200, 2)] {
            e.push(at, seq);
        }
        assert_eq!(e.inferred_seq(360), 3);
        assert_eq!(e.inferred_seq(380), 4);
    }
}

/// The arrival bookkeeping of an estimation-based detector: the shared [`Arrivals`],
/// Chen's [`Estimate`], and the origin that timestamps and sequence numbers are
/// counted from (so the estimate's integers stay small).
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    pub(crate) arrivals: Arrivals,
    pub(crate) estimate: Estimate,
    origin_ns: u64,
    first_seq: u64,
}

/// What [`Tracker::observe`] made of a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observed {
    /// The first heartbeat: recorded, no interval yet.
    First,
    /// A later heartbeat, recorded; `gap_ns` since the previous one.
    Next { gap_ns: u64 },
    /// A sequence number at or below the newest one: ignored, nothing changed.
    Stale,
}

impl Tracker {
    pub(crate) fn new(capacity: usize, short: usize, eta: u64) -> Self {
        Tracker {
            arrivals: Arrivals::new(),
            estimate: Estimate::new(capacity, short, eta),
            origin_ns: 0,
            first_seq: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.arrivals = Arrivals::new();
        self.estimate.clear();
        self.origin_ns = 0;
        self.first_seq = 0;
    }

    /// Checks the order of `at` and records it in the estimate, with sequence number
    /// `seq` or, if `None`, one inferred from the estimated schedule. The caller then computes its
    /// deadline offset and calls `self.arrivals.accept(at, offset)` (unless the
    /// heartbeat was [`Observed::Stale`]).
    ///
    /// # Errors
    /// As [`FailureDetector::heartbeat`](crate::FailureDetector::heartbeat); nothing
    /// is changed.
    #[inline]
    pub(crate) fn observe(
        &mut self,
        at: Timestamp,
        seq: Option<u64>,
    ) -> Result<Observed, HeartbeatError> {
        match self.arrivals.check(at)? {
            None => {
                self.origin_ns = at.as_nanos();
                self.first_seq = seq.unwrap_or(0);
                self.estimate.clear();
                self.estimate.push(0, 0);
                Ok(Observed::First)
            }
            Some((gap_ns, _)) => {
                let relative = match seq {
                    None => self.estimate.inferred_seq(at.as_nanos() - self.origin_ns),
                    Some(seq) => match seq.checked_sub(self.first_seq) {
                        Some(relative) if relative > self.estimate.seq() => relative,
                        _ => return Ok(Observed::Stale),
                    },
                };
                self.estimate.push(at.as_nanos() - self.origin_ns, relative);
                Ok(Observed::Next { gap_ns })
            }
        }
    }
}

const NANOS_PER_SEC: f64 = 1e9;

/// Everything of a "expected arrival plus a fixed margin" detector (Chen's, and the
/// two-windows one, which differ only in how the expected arrival is estimated): the
/// suspicion is the time past the expected arrival in seconds, the threshold the
/// margin in seconds.
#[derive(Clone, Debug)]
pub(crate) struct MarginDetector {
    pub(crate) tracker: Tracker,
    margin_ns: f64,
    eta_ns: f64,
    /// Take the later of the long and the short window's estimates.
    two_windows: bool,
    /// `EA(k+1) - A_k`, ns.
    expected_ns: f64,
    /// The threshold: the margin in seconds.
    margin: f64,
}

impl MarginDetector {
    /// `margin` is the threshold in seconds: the deadline is computed as
    /// [`deadline_for`](Self::deadline_for) computes it, so the two agree exactly.
    pub(crate) fn new(tracker: Tracker, eta_ns: u64, margin: f64, two_windows: bool) -> Self {
        MarginDetector {
            tracker,
            margin_ns: margin * NANOS_PER_SEC,
            eta_ns: eta_ns as f64,
            two_windows,
            expected_ns: eta_ns as f64,
            margin,
        }
    }

    /// `EA(k+1) - A_k`, ns.
    pub(crate) fn expected_ns(&self) -> f64 {
        self.expected_ns
    }

    #[inline]
    pub(crate) fn record(
        &mut self,
        at: Timestamp,
        seq: Option<u64>,
    ) -> Result<bool, HeartbeatError> {
        if self.tracker.observe(at, seq)? == Observed::Stale {
            return Ok(false);
        }
        let estimate = &self.tracker.estimate;
        let expected = if self.two_windows {
            estimate
                .expected_offset()
                .max(estimate.short_expected_offset())
        } else {
            estimate.expected_offset()
        };
        // The next heartbeat is not expected before this one (after a very late
        // arrival the formula can say so): the node is trusted for `alpha` at least.
        self.expected_ns = expected.max(0.0);
        let offset = ceil_ns(self.expected_ns + self.margin_ns);
        self.tracker.arrivals.accept(at, offset);
        Ok(true)
    }

    #[inline]
    pub(crate) fn suspicion(&self, now: Timestamp) -> f64 {
        let raw = match self.tracker.arrivals.silence_ns(now) {
            Some(silence) => (silence - self.expected_ns).max(0.0) / NANOS_PER_SEC,
            None => 0.0,
        };
        self.tracker.arrivals.report(now, raw, self.margin)
    }

    pub(crate) fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        if level.is_nan() {
            return None;
        }
        let real = if level <= 0.0 {
            0.0
        } else {
            self.expected_ns + level * NANOS_PER_SEC
        };
        self.tracker.arrivals.deadline_after(real)
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            samples: self.tracker.estimate.len(),
            mean_ns: self.expected_ns,
            std_dev_ns: 0.0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.tracker.clear();
        self.expected_ns = self.eta_ns;
    }
}

/// Implements [`FailureDetector`](crate::FailureDetector) for a wrapper whose field
/// `core` is a [`MarginDetector`] and whose config has a `safety_margin`.
macro_rules! margin_detector_impl {
    ($ty:ty) => {
        impl $ty {
            /// Records a heartbeat carrying the sender's sequence number. Returns
            /// `Ok(false)` and changes nothing if `seq` is not above the newest
            /// sequence number seen (a stale heartbeat, which Chen's algorithm
            /// discards).
            ///
            /// # Errors
            /// As [`FailureDetector::heartbeat`](crate::FailureDetector::heartbeat);
            /// nothing is changed.
            pub fn heartbeat_with_seq(
                &mut self,
                at: Timestamp,
                seq: u64,
            ) -> Result<bool, HeartbeatError> {
                self.core.record(at, Some(seq))
            }

            /// When the next heartbeat is expected (the estimate the safety margin
            /// is added to; never before the last heartbeat). `None` before the
            /// first heartbeat or beyond [`Timestamp::MAX`].
            pub fn expected_arrival(&self) -> Option<Timestamp> {
                self.core
                    .tracker
                    .arrivals
                    .deadline_after_ns($crate::detector::ceil_ns(self.core.expected_ns()))
            }
        }

        impl $crate::detector::FailureDetector for $ty {
            #[inline]
            fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
                self.core.record(at, None).map(|_| ())
            }

            #[inline]
            fn suspicion(&self, now: Timestamp) -> f64 {
                self.core.suspicion(now)
            }

            fn threshold(&self) -> f64 {
                self.config.safety_margin.as_secs_f64()
            }

            #[inline]
            fn is_available(&self, now: Timestamp) -> bool {
                self.core.tracker.arrivals.is_available(now)
            }

            fn deadline(&self) -> Option<Timestamp> {
                self.core.tracker.arrivals.deadline()
            }

            fn deadline_for(&self, level: f64) -> Option<Timestamp> {
                self.core.deadline_for(level)
            }

            fn last_heartbeat(&self) -> Option<Timestamp> {
                self.core.tracker.arrivals.last()
            }

            /// `samples`: arrivals in the (long) window; `mean_ns`: the expected time
            /// from the last heartbeat to the next, `EA(k+1) - A_k`; `std_dev_ns`: 0
            /// (not estimated).
            fn stats(&self) -> $crate::detector::Stats {
                self.core.stats()
            }

            fn memory_bytes(&self) -> usize {
                std::mem::size_of::<Self>() + self.core.tracker.estimate.heap_bytes()
            }

            fn reset(&mut self) {
                self.core.reset();
            }
        }
    };
}
pub(crate) use margin_detector_impl;
