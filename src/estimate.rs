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
//! schedule anchored at sequence number 0; the ring holds `u_i - offset`, so that the
//! whole window can be shifted by moving `offset`), with the window's sum kept exactly
//! in `i128`, so the estimate is O(1) per heartbeat and does not drift. The expected
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
//!
//! Sequence numbers ([`Tracker::observe`]): an arrival without one is put in the slot
//! of the estimated schedule nearest to it, or in the newest arrival's slot if that is
//! later (a catch-up heartbeat after a late one shares its slot instead of pushing
//! every later number one slot on). A given sequence number is used when it lies
//! within [`MAX_SEQ_SKEW`] periods of that nearest slot and does not put a second
//! heartbeat in a row the same whole number of periods late (a sender that stalled
//! and resumed its schedule without skipping numbers); otherwise (also a counter that
//! restarted or jumped, a silence of more than that many periods) the arrival is put
//! in its nearest slot as if it had none, and later numbers count on from there.
//! Either way every recorded value `u_i` lies within about `MAX_SEQ_SKEW` periods of
//! the window's mean, so the estimate stays within [`MAX_EXPECTED_PERIODS`] periods.
//! When a second heartbeat in a row is late by the same whole number of periods, the
//! first is moved to its slot on the schedule the sender now keeps
//! ([`Estimate::reslot_newest`]) rather than left whole periods late in the window.
//!
//! Re-anchoring on a moved phase ([`Estimate::note`], [`Estimate::confirm`]): a sender
//! that stalls and then keeps its period from the stall's end moves the phase of its
//! schedule by any fraction of the period, and the window's mean would lag the new
//! phase until the window has turned over (any margin below the lag giving a mistake
//! on nearly every heartbeat). So the window keeps a running spread: the mean distance
//! of arrivals from their nearest slots (plain over the first 32 arrivals, then
//! exponentially weighted with gain 1/32). After a gap of two periods or more (a stall
//! or lost heartbeats), an arrival further from its nearest slot than the threshold
//! `3 * spread + eta / 128` is held as a possible new phase, and until the next
//! arrival the next heartbeat is awaited at the later of the old schedule's next slot
//! and one period after it ([`Estimate::pending_offset`]), so that it is no mistake
//! whichever schedule the sender keeps. If the next arrival comes a whole number of
//! periods (at least one) after it, give or take the threshold, and is itself beyond
//! the threshold from the old schedule on the same side, the two agree: every older
//! value of the window is shifted by the mean of their two latenesses, exactly and in
//! O(1), so the estimate stands on the new phase at once and keeps the window's jitter
//! (clearing the window would lose it). A loss burst with the schedule kept, a single
//! late heartbeat (the next is on schedule), a catch-up heartbeat, or ordinary jitter
//! (no gap) shifts nothing. Phase moves below the threshold, and stalls that leave
//! no slot empty (a gap below two periods), are left to the window as before.

use crate::detectors::{Arrivals, Stats, ceil_ns};
use crate::error::HeartbeatError;
use crate::time::Timestamp;

/// How many periods a given sequence number may place an arrival away from its
/// nearest slot on the estimated schedule (early or late), and how far below the
/// newest a number counts as stale rather than as a restarted counter.
pub(crate) const MAX_SEQ_SKEW: u64 = 16;

/// The expected arrival is at most this many periods after the last one.
pub(crate) const MAX_EXPECTED_PERIODS: u64 = MAX_SEQ_SKEW + 2;

/// The running spread ([`Estimate::note`]) is the plain mean of the arrivals' distances
/// from their nearest slots over the first `SPREAD_ARRIVALS` (after the first arrival),
/// then an exponentially weighted mean with gain `1 / SPREAD_ARRIVALS` (about the last
/// 32 arrivals), as Jacobson's estimator keeps a mean deviation. No phase shift is
/// looked for before the spread has that many arrivals.
const SPREAD_ARRIVALS: u32 = 32;

/// [`Estimate::pending`] when no arrival is awaiting confirmation.
const NO_PHASE: i64 = i64::MIN;

/// A phase shift is only looked for beyond this many spreads (and beyond
/// [`SHIFT_FLOOR_DIVISOR`]).
const SHIFT_SPREADS: f64 = 3.0;

/// A phase shift below `eta / SHIFT_FLOOR_DIVISOR` (0.78 ms on a 100 ms period) is left to
/// the window: it would change the estimate by less than that.
const SHIFT_FLOOR_DIVISOR: f64 = 128.0;

/// The window of `A_i - eta * s_i` values and the sequence-number bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct Estimate {
    /// The values `u_i - offset`: a value's `u_i` is what is stored plus `offset`, so
    /// that moving `offset` shifts every stored value at once.
    ring: Box<[i128]>,
    // Indices and lengths in u32 (the capacity is at most 2^15): the struct stays
    // 160 bytes.
    head: u32,
    len: u32,
    /// The sum of the window's `u_i` (not of what is stored).
    sum: i128,
    /// Added to every stored value to give its `u_i` ([`shift_older`](Self::shift_older)).
    offset: i128,
    /// The running mean distance of arrivals from their nearest slot of the estimated
    /// schedule, ns ([`SPREAD_ARRIVALS`]): the window's jitter.
    spread: f64,
    /// The lateness (ns, against its nearest slot) of the newest arrival, if it came
    /// after a gap of two periods or more and further than the shift threshold from
    /// its slot: perhaps the first heartbeat of a schedule whose phase moved (a sender
    /// that stalled and kept its period from the stall's end). The next arrival
    /// confirms or drops it ([`confirm`](Self::confirm)). [`NO_PHASE`] if none (an
    /// `Option` would take 8 bytes more).
    pending: i64,
    /// Distances in the spread, at most [`SPREAD_ARRIVALS`].
    spread_count: u32,
    /// Length of the optional short window (at most the ring's capacity; 0 = none).
    short: u32,
    short_len: u32,
    short_sum: i128,
    /// The sender's period, ns.
    eta: u64,
    /// Sequence number of the newest arrival (relative to the first one).
    seq: u64,
    /// `A_k - eta * s_k` of the newest arrival.
    newest: i128,
    /// `1 / max(len, 1)`, so that the long window's mean lateness is a product (the
    /// largest expected offset, `MAX_EXPECTED_PERIODS * eta`, is computed instead of
    /// stored, to keep the struct at 160 bytes).
    inv_len: f64,
}

impl Estimate {
    /// An empty estimate over the last `capacity` arrivals (at least 1), with an
    /// optional short window of the last `short` (clamped to `capacity`) arrivals.
    pub(crate) fn new(capacity: usize, short: usize, eta: u64) -> Self {
        // Detectors check their windows (at most 2^15); clamped for any other caller.
        let capacity = capacity.clamp(1, 1 << 15);
        Estimate {
            ring: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            sum: 0,
            offset: 0,
            spread: 0.0,
            pending: NO_PHASE,
            spread_count: 0,
            short: short.min(capacity) as u32,
            short_len: 0,
            short_sum: 0,
            eta,
            seq: 0,
            newest: 0,
            inv_len: 1.0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Bytes of heap the ring occupies (16 per slot).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.len() * std::mem::size_of::<i128>()
    }

    /// The sequence number (slot) of the newest arrival, counted from the first (0).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The sender's period, ns (at most 2^47).
    pub(crate) fn eta(&self) -> u64 {
        self.eta
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.inv_len = 1.0;
        self.sum = 0;
        self.offset = 0;
        self.spread = 0.0;
        self.pending = NO_PHASE;
        self.spread_count = 0;
        self.short_len = 0;
        self.short_sum = 0;
        self.seq = 0;
        self.newest = 0;
    }

    /// The slot of the estimated schedule nearest to an arrival at `at_ns` (ns since
    /// the first arrival), counted from the newest arrival's slot:
    /// `round((A - mean(u) - eta * s_k) / eta)` (halves rounded up), negative if the
    /// arrival is earlier than half a period before the newest's slot (saturating at
    /// the `i64` range). O(1); no division unless the arrival is half a period early
    /// or one and a half late, or more.
    #[inline]
    pub(crate) fn nearest_slot(&self, at_ns: u64) -> i64 {
        self.locate(at_ns).0
    }

    /// [`nearest_slot`](Self::nearest_slot), and how late the arrival is against that
    /// slot, ns (at least minus half a period, below half a period; exact but for the
    /// final rounding to `f64`).
    #[inline]
    pub(crate) fn locate(&self, at_ns: u64) -> (i64, f64) {
        let len = self.len.max(1) as usize;
        let (slots, late) = self.nearest_slot_over(at_ns, self.sum, len);
        // |late| <= n * eta / 2 <= 2^61: the conversion through i64 is exact.
        (slots, late as i64 as f64 * self.inv_len)
    }

    /// [`nearest_slot`](Self::nearest_slot) on the schedule of the window without its
    /// newest value (the whole window if that is its only one): the reference a late
    /// newest arrival has not pulled towards itself.
    pub(crate) fn nearest_slot_without_newest(&self, at_ns: u64) -> i64 {
        if self.len < 2 {
            return self.nearest_slot(at_ns);
        }
        let len = self.len as usize - 1;
        self.nearest_slot_over(at_ns, self.sum.wrapping_sub(self.newest), len)
            .0
    }

    /// The nearest slot (counted from the newest's) on the schedule of a window of
    /// `len` values summing to `sum`, and `len` times the arrival's lateness against
    /// it (at least `-len * eta / 2`, below `len * eta / 2`).
    #[inline]
    fn nearest_slot_over(&self, at_ns: u64, sum: i128, len: usize) -> (i64, i128) {
        let n = len as i128;
        // n * eta <= 2^15 * 2^47: no overflow.
        let step = n * i128::from(self.eta);
        // n * (A - (mean(u) + eta * s_k)): how late against the newest's slot of the
        // estimated schedule, times n, exactly (wrapping arithmetic: see the module
        // docs).
        let late = (i128::from(at_ns).wrapping_mul(n))
            .wrapping_sub(sum)
            .wrapping_sub(
                i128::from(self.eta)
                    .wrapping_mul(i128::from(self.seq))
                    .wrapping_mul(n),
            );
        let twice = late.wrapping_mul(2);
        if twice >= -step && twice < step {
            (0, late)
        } else if twice >= step && twice < 3 * step {
            (1, late - step)
        } else {
            // Rounded half up, exactly; saturating: an absurd lateness cannot wrap.
            let rem = late.rem_euclid(step);
            let up = rem * 2 >= step;
            let slots = late.div_euclid(step) + i128::from(up);
            let rest = if up { rem - step } else { rem };
            let slots = slots.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            (slots, rest)
        }
    }

    /// The sequence number of an arrival at `at_ns` (ns since the first arrival)
    /// when the sender's are not known: the nearest slot of the schedule the window
    /// estimates (its mean lateness plus `seq * eta`), or the newest arrival's if that
    /// is later. Anchoring to the estimated schedule, rather than rounding each gap,
    /// keeps one odd gap (jitter above half a period) from shifting every later
    /// number; sharing the newest's slot rather than taking the next keeps a
    /// catch-up heartbeat (one sent on schedule right after a late one) from doing
    /// so. O(1). Also returns the arrival's lateness against its nearest slot, as
    /// [`locate`](Self::locate).
    #[inline]
    pub(crate) fn inferred_slot(&self, at_ns: u64) -> (u64, f64) {
        let (nearest, late_ns) = self.locate(at_ns);
        (self.seq.saturating_add(nearest.max(0) as u64), late_ns)
    }

    /// The sequence number alone of [`inferred_slot`](Self::inferred_slot).
    #[cfg(test)]
    pub(crate) fn inferred_seq(&self, at_ns: u64) -> u64 {
        self.inferred_slot(at_ns).0
    }

    /// Records an arrival `at_ns` (ns since the first arrival) with sequence number
    /// `seq` (since the first arrival's). O(1).
    #[inline]
    pub(crate) fn push(&mut self, at_ns: u64, seq: u64) {
        let u = i128::from(at_ns).wrapping_sub(i128::from(self.eta).wrapping_mul(i128::from(seq)));
        let stored = u.wrapping_sub(self.offset);
        let cap = self.ring.len() as u32;
        if self.short > 0 {
            if self.short_len == self.short {
                // The value `short` pushes back, still in the ring (short <= cap).
                let back = if self.head >= self.short {
                    self.head - self.short
                } else {
                    self.head + cap - self.short
                };
                self.short_sum = self
                    .short_sum
                    .wrapping_sub(self.ring[back as usize].wrapping_add(self.offset));
            } else {
                self.short_len += 1;
            }
            self.short_sum = self.short_sum.wrapping_add(u);
        }
        let slot = &mut self.ring[self.head as usize];
        if self.len == cap {
            self.sum = self.sum.wrapping_sub(slot.wrapping_add(self.offset));
        } else {
            self.len += 1;
            self.inv_len = 1.0 / f64::from(self.len);
        }
        self.sum = self.sum.wrapping_add(u);
        *slot = stored;
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
        self.seq = seq;
        self.newest = u;
    }

    /// How far from its nearest slot an arrival must be, ns, for a phase shift to be
    /// looked for: [`SHIFT_SPREADS`] spreads plus `eta / SHIFT_FLOOR_DIVISOR`.
    #[inline]
    fn shift_threshold(&self) -> f64 {
        SHIFT_SPREADS * self.spread + self.eta as f64 / SHIFT_FLOOR_DIVISOR
    }

    /// After [`push`](Self::push)ing an arrival that came `gap_ns` after the previous
    /// one, `late_ns` from its nearest slot (as [`locate`](Self::locate) gave it before
    /// the push): after a gap of two periods or more (a stall or lost heartbeats), an
    /// arrival further from its slot than the shift threshold is held as a possible new
    /// phase ([`confirm`](Self::confirm)); any other goes into the running spread.
    /// O(1).
    #[inline]
    pub(crate) fn note(&mut self, gap_ns: u64, late_ns: f64) {
        let distance = late_ns.abs();
        // eta <= 2^47: no overflow.
        if gap_ns >= 2 * self.eta
            && self.spread_count == SPREAD_ARRIVALS
            && distance > self.shift_threshold()
        {
            // |late_ns| <= eta / 2 <= 2^46: exact in i64 (and never NO_PHASE).
            self.pending = late_ns.round() as i64;
        } else {
            self.pending = NO_PHASE;
            if self.spread_count < SPREAD_ARRIVALS {
                self.spread_count += 1;
                self.spread += (distance - self.spread) / f64::from(self.spread_count);
            } else {
                self.spread += (distance - self.spread) * (1.0 / f64::from(SPREAD_ARRIVALS));
            }
        }
    }

    /// Before placing an arrival that came `gap_ns` after the newest: if the newest is
    /// a possible new phase ([`note`](Self::note)), and this arrival is a whole number
    /// of periods (at least one) after it give or take the shift threshold, and itself
    /// further than that from the schedule on the same side, the two agree that the
    /// sender's schedule moved: every value of the window but the newest is shifted by
    /// the mean of the two latenesses (rounded down to the nanosecond), so the window
    /// keeps its jitter and its estimate stands on the new phase at once. Otherwise
    /// nothing changes. Either way the possible phase is dropped. O(1).
    #[inline]
    pub(crate) fn confirm(&mut self, gap_ns: u64) {
        let first = std::mem::replace(&mut self.pending, NO_PHASE);
        if first != NO_PHASE {
            self.confirm_phase(first, gap_ns);
        }
    }

    fn confirm_phase(&mut self, first: i64, gap_ns: u64) {
        let eta = self.eta;
        // Whole periods after the newest, rounded half up; `rem * 2` < 2^48.
        let periods = gap_ns / eta + u64::from(gap_ns % eta * 2 >= eta);
        if periods == 0 {
            // A catch-up heartbeat (sent on the old schedule right after a late one).
            return;
        }
        // Against the newest's phase: |disagreement| <= eta / 2.
        let disagreement = (i128::from(gap_ns) - i128::from(periods) * i128::from(eta)) as i64;
        let second = first + disagreement;
        let threshold = self.shift_threshold();
        if disagreement.unsigned_abs() as f64 > threshold
            || second.unsigned_abs() as f64 <= threshold
        {
            return;
        }
        self.shift_older(first + disagreement.div_euclid(2));
    }

    /// Moves the newest arrival `periods` slots on (at most [`MAX_SEQ_SKEW`]): its
    /// value goes down by `periods * eta`, exactly, as if its sender had numbered it
    /// so. The window is not empty. O(1).
    pub(crate) fn reslot_newest(&mut self, periods: u64) {
        // periods <= 16 and eta <= 2^47: no overflow.
        let by = i128::from(periods) * i128::from(self.eta);
        let newest = self.newest_index();
        self.ring[newest] = self.ring[newest].wrapping_sub(by);
        self.sum = self.sum.wrapping_sub(by);
        if self.short_len > 0 {
            self.short_sum = self.short_sum.wrapping_sub(by);
        }
        self.newest = self.newest.wrapping_sub(by);
        self.seq = self.seq.saturating_add(periods);
    }

    /// Where the newest value is in the ring (the window is not empty).
    fn newest_index(&self) -> usize {
        if self.head == 0 {
            self.ring.len() - 1
        } else {
            self.head as usize - 1
        }
    }

    /// Adds `by` ns to every value of the window but the newest, exactly and in O(1)
    /// (the newest keeps its value). The window is not empty.
    fn shift_older(&mut self, by: i64) {
        let by = i128::from(by);
        // len <= 2^15 and |by| <= eta <= 2^47: no overflow.
        self.offset = self.offset.wrapping_add(by);
        self.sum = self.sum.wrapping_add((i128::from(self.len) - 1) * by);
        if self.short_len > 0 {
            self.short_sum = self
                .short_sum
                .wrapping_add((i128::from(self.short_len) - 1) * by);
        }
        let newest = self.newest_index();
        self.ring[newest] = self.ring[newest].wrapping_sub(by);
    }

    /// While the newest arrival is a possible new phase ([`note`](Self::note)), the
    /// later of the offsets at which the next heartbeat is due on the old schedule
    /// (the slot after the newest's nearest) and on the new phase (one period after
    /// the newest): `eta + max(0, -late)`, at most one and a half periods. A detector
    /// that waits that long makes no mistake on the next heartbeat whichever schedule
    /// the sender keeps. `None` otherwise.
    #[inline]
    pub(crate) fn pending_offset(&self) -> Option<f64> {
        (self.pending != NO_PHASE).then(|| self.eta as f64 + (-self.pending).max(0) as f64)
    }

    /// `EA(k+1) - A_k` in nanoseconds over the long window (0 values: `eta`), at most
    /// [`MAX_EXPECTED_PERIODS`] periods.
    #[inline]
    pub(crate) fn expected_offset(&self) -> f64 {
        self.offset(self.sum, self.len as usize, self.inv_len)
    }

    /// `EA(k+1) - A_k` over the short window.
    #[inline]
    pub(crate) fn short_expected_offset(&self) -> f64 {
        let len = self.short_len.max(1);
        self.offset(self.short_sum, len as usize, 1.0 / f64::from(len))
    }

    /// `eta + (sum - len * newest) * inv_len`, at most `MAX_EXPECTED_PERIODS * eta`
    /// (`inv_len = 1 / len`); `eta` if `len` is 0.
    #[inline]
    fn offset(&self, sum: i128, len: usize, inv_len: f64) -> f64 {
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
        // eta <= 2^47: the signed conversion is one instruction.
        let eta = self.eta as i64 as f64;
        let max_offset = MAX_EXPECTED_PERIODS as f64 * eta;
        // Plain comparison rather than f64::min (NaN cannot occur here).
        let offset = eta + numerator * inv_len;
        if offset < max_offset {
            offset
        } else {
            max_offset
        }
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
        // Less than half a period after the newest: its slot, shared (a catch-up
        // heartbeat). The old rule took the next slot, 100 early, and so shifted
        // every later number by one.
        assert_eq!(e.inferred_seq(1), 0);
        assert_eq!(e.inferred_seq(49), 0);
        assert_eq!(e.inferred_seq(50), 1);
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

    /// `nearest_slot` against a literal evaluation in floating point.
    #[test]
    fn nearest_slot_matches_rounding() {
        let eta = 100u64;
        let mut e = Estimate::new(3, 0, eta);
        for (at, seq) in [(0, 0), (130, 1), (190, 2), (330, 3)] {
            e.push(at, seq);
        }
        // Mean lateness (130 - 100 + 190 - 200 + 330 - 300) / 3 = 50 / 3.
        let mean = 50.0 / 3.0;
        for at in (0..2_000).step_by(7) {
            let literal = ((at as f64 - mean - 300.0) / eta as f64 + 0.5).floor() as i64;
            assert_eq!(e.nearest_slot(at), literal, "{at}");
        }
        // (2^64 - 1 - 50/3 - 300) / 100 = 184467440737095512.98...
        assert_eq!(e.nearest_slot(u64::MAX), 184_467_440_737_095_513);
    }

    /// `observe`, then `accept` as a detector does.
    fn beat(t: &mut Tracker, at_ns: u64, seq: u64) -> Result<Observed, HeartbeatError> {
        let at = Timestamp::from_nanos(at_ns);
        let observed = t.observe(at, Some(seq))?;
        if observed != Observed::Stale {
            t.arrivals.accept(at, 1);
        }
        Ok(observed)
    }

    /// Chen's offset `EA(k+1) - A_k` over the last `n` of the values `u_i`, literally.
    fn naive_offset(values: &[i128], n: usize, eta: u64) -> f64 {
        let tail = &values[values.len().saturating_sub(n)..];
        let mean = tail.iter().map(|&u| u as f64).sum::<f64>() / tail.len() as f64;
        eta as f64 + mean - *values.last().unwrap() as f64
    }

    /// A confirmed phase shift moves every value but the newest by the documented
    /// amount, exactly: the long and short windows then match Chen's formula over the
    /// shifted values, also as the shifted values leave the ring.
    #[test]
    fn a_confirmed_phase_shift_moves_the_older_values_exactly() {
        let eta = 1_000u64;
        let mut t = Tracker::new(8, 3, eta);
        // The values u_i = A_i - eta * s_i the window should hold, shifted as it is.
        let mut model: Vec<i128> = Vec::new();
        let mut state = 3u64;
        let mut jitter = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 40) % 30
        };
        let beat = |t: &mut Tracker, at: u64| -> (u64, u64) {
            let observed = t.observe(Timestamp::from_nanos(at), None).unwrap();
            t.arrivals.accept(Timestamp::from_nanos(at), 1);
            match observed {
                Observed::Next { gap_ns, slots } => (gap_ns, slots),
                _ => (0, 0),
            }
        };
        let mut slot = 0;
        for _ in 0..40 {
            let at = slot * eta + jitter();
            beat(&mut t, at);
            model.push(i128::from(at) - i128::from(slot * eta));
            slot += 1;
        }
        let check = |t: &Tracker, model: &[i128]| {
            let long = naive_offset(model, 8, eta);
            let short = naive_offset(model, 3, eta);
            assert!((t.estimate.expected_offset() - long).abs() < 1e-9);
            assert!((t.estimate.short_expected_offset() - short).abs() < 1e-9);
        };
        check(&t, &model);
        // A stall: five slots with nothing, then the sender keeps its period from
        // 300 ns into the next slot.
        slot += 5;
        let window = &model[model.len() - 8..];
        let mean = window.iter().sum::<i128>() as f64 / 8.0;
        let first_at = slot * eta + 300 + jitter();
        let first = (first_at as f64 - (slot * eta) as f64 - mean).round() as i64;
        assert_eq!(beat(&mut t, first_at).1, 6);
        assert!(
            t.estimate.pending_offset().is_some(),
            "a possible new phase"
        );
        // Until confirmed, the next heartbeat is awaited one period after it.
        assert_eq!(t.estimate.pending_offset(), Some(eta as f64));
        model.push(i128::from(first_at) - i128::from(slot * eta));
        check(&t, &model);
        slot += 1;
        let second_at = slot * eta + 300 + jitter();
        let disagreement = (second_at - first_at) as i64 - eta as i64;
        let shift = i128::from(first + disagreement.div_euclid(2));
        assert_eq!(beat(&mut t, second_at).1, 1);
        let newest = model.len() - 1;
        for u in &mut model[..newest] {
            *u += shift;
        }
        model.push(i128::from(second_at) - i128::from(slot * eta));
        check(&t, &model);
        assert!(shift > 250 && shift < 320, "{shift}");
        // On the new phase, the shifted values leave the ring as new ones come.
        for _ in 0..20 {
            slot += 1;
            let at = slot * eta + 300 + jitter();
            assert_eq!(beat(&mut t, at).1, 1);
            model.push(i128::from(at) - i128::from(slot * eta));
            check(&t, &model);
        }
        assert_eq!(t.estimate.pending_offset(), None);
    }

    #[test]
    fn given_sequence_numbers_are_bounded() {
        let mut t = Tracker::new(8, 0, 100);
        assert_eq!(beat(&mut t, 1_000, 50), Ok(Observed::First));
        let next = |gap_ns, slots| Ok(Observed::Next { gap_ns, slots });
        // Two lost: slot 3.
        assert_eq!(beat(&mut t, 1_300, 53), next(300, 3));
        // 16 periods late (a stall) is still the sender's number; 17 early is not.
        assert_eq!(beat(&mut t, 3_000, 54), next(1_700, 1));
        assert_eq!(t.estimate.seq(), 4);
        // The window's mean lateness is now 1600 / 3, so 3100 is nearest to slot
        // 4 + round((2100 - 1600 / 3 - 400) / 100) = 4 + 12: a number 12 + 16
        // after the newest is the sender's, 12 + 17 is not.
        assert_eq!(t.estimate.nearest_slot(2_100), 12);
        assert_eq!(beat(&mut t.clone(), 3_100, 54 + 28), next(100, 28));
        assert_eq!(beat(&mut t, 3_100, 54 + 29), next(100, 12));
        assert_eq!(t.estimate.seq(), 16, "re-anchored on the nearest slot");
        // Later numbers count on from the re-anchored one.
        assert_eq!(beat(&mut t, 3_200, 84), next(100, 1));
        // Stale: equal, or up to 16 below; nothing changes.
        assert_eq!(beat(&mut t, 3_250, 84), Ok(Observed::Stale));
        assert_eq!(beat(&mut t, 3_250, 84 - 16), Ok(Observed::Stale));
        assert_eq!(t.estimate.seq(), 17);
        // 17 below: a restarted counter, in the nearest slot.
        let nearest = t.estimate.nearest_slot(2_250).max(0) as u64;
        assert_eq!(beat(&mut t, 3_250, 84 - 17), next(50, nearest));
        assert_eq!(beat(&mut t, 3_350, 84 - 16), next(100, 1));
        // A moved schedule: two heartbeats in a row 9 periods late against their
        // numbers re-anchor on the second; a transient delay (late by 4, then 3)
        // does not.
        let mut t = Tracker::new(4, 0, 100);
        for k in 0..4 {
            beat(&mut t, 100 * k, k).unwrap();
        }
        assert_eq!(beat(&mut t, 1_300, 4), next(1_000, 1));
        assert_eq!(beat(&mut t, 1_400, 5), next(100, 10 - 1 + 1));
        assert_eq!(t.estimate.seq(), 14, "re-anchored");
        assert_eq!(beat(&mut t, 1_500, 6), next(100, 1));
        let mut t = Tracker::new(4, 0, 100);
        for k in 0..4 {
            beat(&mut t, 100 * k, k).unwrap();
        }
        assert_eq!(beat(&mut t, 800, 4), next(500, 1));
        assert_eq!(beat(&mut t, 801, 5), next(1, 1));
        assert_eq!(beat(&mut t, 802, 6), next(1, 1));
        assert_eq!(t.estimate.seq(), 6, "the sender's numbers");
        // Wrapping: u64::MAX is just before 0, and 0 after it.
        let mut t = Tracker::new(8, 0, 100);
        assert_eq!(beat(&mut t, 0, u64::MAX - 1), Ok(Observed::First));
        assert_eq!(beat(&mut t, 100, u64::MAX), next(100, 1));
        assert_eq!(beat(&mut t, 200, 0), next(100, 1));
        assert_eq!(beat(&mut t, 300, 1), next(100, 1));
    }
}

/// The arrival bookkeeping of an estimation-based detector: the shared [`Arrivals`],
/// Chen's [`Estimate`], and the origins that timestamps and sequence numbers are
/// counted from (so the estimate's integers stay small).
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    pub(crate) arrivals: Arrivals,
    pub(crate) estimate: Estimate,
    origin_ns: u64,
    /// The sender's sequence number of slot 0 (modulo 2^64): a given number `s` is
    /// slot `s - seq_base`. Moved when a number is taken as a restarted counter.
    seq_base: u64,
    /// How many periods late (negative: early) the newest arrival was against the
    /// slot its sender's number gave; 0 if it had none or was re-anchored.
    lag: i64,
}

/// What [`Tracker::observe`] made of a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observed {
    /// The first heartbeat: recorded, no interval yet.
    First,
    /// A later heartbeat, recorded; `gap_ns` since the previous one, `slots` after
    /// the previous one's slot (0: the same slot, a catch-up heartbeat; below 2^63).
    Next { gap_ns: u64, slots: u64 },
    /// A sequence number at most [`MAX_SEQ_SKEW`] below the newest one (or equal):
    /// ignored, nothing changed.
    Stale,
}

impl Tracker {
    pub(crate) fn new(capacity: usize, short: usize, eta: u64) -> Self {
        Tracker {
            arrivals: Arrivals::new(),
            estimate: Estimate::new(capacity, short, eta),
            origin_ns: 0,
            seq_base: 0,
            lag: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.arrivals = Arrivals::new();
        self.estimate.clear();
        self.origin_ns = 0;
        self.seq_base = 0;
        self.lag = 0;
    }

    /// Checks the order of `at` and records it in the estimate, in the slot given by
    /// the sender's sequence number `seq` or, if `None`, the one inferred from the
    /// estimated schedule ([`Estimate::inferred_slot`]). The caller then computes its
    /// deadline offset and calls `self.arrivals.accept(at, offset)` (unless the
    /// heartbeat was [`Observed::Stale`]).
    ///
    /// Sequence numbers are compared modulo 2^64 (serial number arithmetic: `s` is
    /// after the newest `n` if `s - n`, wrapping, is below 2^63). A given number is
    /// used when it is after the newest and puts the arrival at most
    /// [`MAX_SEQ_SKEW`] periods early or late against its nearest slot on the
    /// estimated schedule, unless the newest arrival was late by the same whole
    /// number of periods (at least one) against its own number: then the sender's
    /// schedule moved (it stalled and went on numbering from where it stopped). One
    /// at most `MAX_SEQ_SKEW` before the newest (or equal) is stale. Any other (a
    /// counter that restarted or jumped, a hostile datagram, a sender silent for
    /// longer than `MAX_SEQ_SKEW` periods that resumes with its next number, a moved
    /// schedule) re-anchors the sender's numbers: the arrival goes in the inferred
    /// slot and later numbers count on from it. O(1).
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
                self.seq_base = seq.unwrap_or(0);
                self.lag = 0;
                self.estimate.clear();
                self.estimate.push(0, 0);
                Ok(Observed::First)
            }
            Some((gap_ns, _)) => {
                let at_ns = at.as_nanos() - self.origin_ns;
                let newest = self.estimate.seq();
                let (slot, late_ns) = match seq {
                    None => {
                        self.lag = 0;
                        self.estimate.confirm(gap_ns);
                        self.estimate.inferred_slot(at_ns)
                    }
                    Some(seq) => match self.given_slot(at_ns, seq, gap_ns) {
                        Some(placed) => placed,
                        None => return Ok(Observed::Stale),
                    },
                };
                self.estimate.push(at_ns, slot);
                self.estimate.note(gap_ns, late_ns);
                Ok(Observed::Next {
                    gap_ns,
                    slots: slot - newest,
                })
            }
        }
    }

    /// The slot of a heartbeat at `at_ns`, `gap_ns` after the newest, numbered `seq`
    /// by its sender (see [`observe`](Self::observe)), and its lateness against its
    /// nearest slot (as [`Estimate::locate`]), or `None` if it is stale. Moves
    /// `seq_base` when the number is taken as a restarted counter.
    #[inline]
    fn given_slot(&mut self, at_ns: u64, seq: u64, gap_ns: u64) -> Option<(u64, f64)> {
        let newest = self.estimate.seq();
        // Slots after the newest's, modulo 2^64, as a signed distance.
        let step = seq.wrapping_sub(self.seq_base).wrapping_sub(newest) as i64;
        let skew = MAX_SEQ_SKEW as i64;
        if step <= 0 && step >= -skew {
            return None;
        }
        self.estimate.confirm(gap_ns);
        let (mut nearest, late_ns) = self.estimate.locate(at_ns);
        // Periods late against its number (negative: early); saturating.
        let lag = nearest.saturating_sub(step);
        let mut moved = false;
        if self.lag >= 1 && lag >= 1 {
            // The newest was late too: against the schedule it has not pulled
            // towards itself, is this one exactly as late? Then the schedule moved.
            let reference = self.estimate.nearest_slot_without_newest(at_ns);
            if reference.saturating_sub(step) == self.lag {
                moved = true;
                nearest = reference;
                // The newest was the first heartbeat of the moved schedule: put it in
                // its slot there rather than keep it whole periods late in the
                // window. `nearest` still counts from its old slot.
                self.estimate.reslot_newest(self.lag as u64);
            }
        }
        if step > 0
            && !moved
            && lag.unsigned_abs() <= MAX_SEQ_SKEW
            && let Some(slot) = newest.checked_add(step as u64)
        {
            self.lag = lag;
            return Some((slot, late_ns));
        }
        // A restarted or jumped counter, or a schedule that moved: re-anchor the
        // sender's numbers on the inferred slot.
        self.lag = 0;
        let slot = newest.saturating_add(nearest.max(0) as u64);
        self.seq_base = seq.wrapping_sub(slot);
        Some((slot, late_ns))
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
        let mut expected = estimate.expected_offset();
        if self.two_windows {
            expected = expected.max(estimate.short_expected_offset());
        }
        // After a stall the next heartbeat may keep the old schedule or a new phase:
        // wait for the later of the two until it says which.
        if let Some(either) = estimate.pending_offset() {
            expected = expected.max(either);
        }
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
            clamped_intervals: 0,
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
            /// Records a heartbeat carrying the sender's sequence number `seq`.
            /// Numbers are compared modulo 2^64 (a counter may wrap):
            ///
            /// * `seq` after the newest number, and putting the heartbeat at most 16
            ///   periods early or late against the slot its arrival falls in on the
            ///   estimated schedule: recorded in the slot `seq` gives, so lost
            ///   heartbeats are counted exactly whatever the jitter. `Ok(true)`.
            /// * `seq` equal to the newest or at most 16 below it: a duplicate or
            ///   overtaken heartbeat, which Chen's algorithm discards. `Ok(false)`,
            ///   nothing changes.
            /// * Any other `seq` is taken as the sender's counter having restarted
            ///   or jumped (a restarted process, a corrupt or hostile datagram such
            ///   as `u64::MAX`, a sender that resumes with its next number after
            ///   more than 16 periods of silence): the heartbeat is recorded in the
            ///   slot its arrival falls in, as
            ///   [`heartbeat`](crate::FailureDetector::heartbeat) would record it,
            ///   and later numbers count on from `seq`. `Ok(true)`.
            /// * The same happens when two heartbeats in a row are late against
            ///   their numbers by the same whole number of periods (at least one):
            ///   the sender stalled and resumed its schedule later without skipping
            ///   numbers, so its numbers are re-anchored on the schedule it now
            ///   keeps rather than expected on the one it left, and the first of
            ///   the two is moved to its slot on that schedule.
            /// * Whatever the numbers, a schedule whose phase moved after a stall
            ///   is followed as with inferred numbers (see "After a stall" in
            ///   [`Chen`](crate::Chen)).
            ///
            /// So no number can put the deadline further away than the documented
            /// bound, or make the sender's later heartbeats stale, and a stall costs
            /// at most one mistake more than with inferred numbers.
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
            /// is added to; never before the last heartbeat, at most 18 periods
            /// after it). `None` before the first heartbeat or beyond
            /// [`Timestamp::MAX`].
            pub fn expected_arrival(&self) -> Option<Timestamp> {
                self.core
                    .tracker
                    .arrivals
                    .deadline_after_ns($crate::detectors::ceil_ns(self.core.expected_ns()))
            }
        }

        impl $crate::detectors::FailureDetector for $ty {
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
            /// from the last heartbeat to the next, `EA(k+1) - A_k` (0 to 18
            /// periods); `std_dev_ns`: 0 (not estimated).
            fn stats(&self) -> $crate::detectors::Stats {
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
