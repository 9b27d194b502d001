//! The detectors: the [`FailureDetector`] trait, the [`Stats`] it reports, and the
//! bookkeeping of arrivals and deadlines that every detector shares, here; one file
//! per algorithm below.

use std::time::Duration;

use crate::error::HeartbeatError;
use crate::time::Timestamp;

pub(crate) mod bertier;
pub(crate) mod chen;
pub(crate) mod ewma;
pub(crate) mod exponential;
pub(crate) mod fixed;
pub(crate) mod phi;
pub(crate) mod satzger;
pub(crate) mod two_windows;

/// A failure detector for one monitored process: fed heartbeat arrival times, asked how
/// suspicious the silence since the last one is.
///
/// All methods take the time as an argument; a detector never reads a clock. The trait
/// is object safe, so `Box<dyn FailureDetector + Send>` works for mixed collections.
///
/// # Contract (every implementation in this crate keeps it exactly)
///
/// * [`suspicion`](Self::suspicion) is never NaN, never negative, and never decreases
///   while no heartbeat arrives. Before the first heartbeat it is `0.0`.
/// * `is_available(t) == (suspicion(t) < threshold())` at **every** instant `t`, with
///   no exception. [`is_available`](Self::is_available) is one integer comparison
///   against the precomputed [`deadline`](Self::deadline), and every detector's
///   suspicion goes through one shared final step that keeps it at most
///   `threshold().next_down()` before the deadline and at least `threshold()` from
///   the deadline on. The step changes a value only within a few nanoseconds of the
///   deadline, by the formula's own rounding (the crate's "Accuracy" section says how
///   much).
/// * The deadline is the first instant at which `is_available` is false: the node is
///   available at `deadline - 1 ns` and unavailable at the deadline and after it,
///   until the next heartbeat. It is the instant at which the detector's formula
///   reaches the threshold, rounded up exactly to the nanosecond, and
///   `deadline() == deadline_for(threshold())` in every state.
/// * A deadline at or after [`Timestamp::MAX`] is `None`: the node is never
///   suspected (`is_available(Timestamp::MAX)` is true). Heartbeats are accepted up
///   to [`Timestamp::HORIZON`] (2^62 ns, about 146 years after the origin), so this
///   happens only for a configuration whose deadline lies more than 146 years after
///   its heartbeat (a pause or interval of centuries, say), never because of where
///   the heartbeat fell on the clock.
/// * A heartbeat at or before the last accepted one, or past
///   [`Timestamp::HORIZON`], is refused with a [`HeartbeatError`] and changes
///   nothing.
/// * A node is available at the instant of its last heartbeat (deadlines are at
///   least 1 ns after it) and at every earlier instant.
pub trait FailureDetector {
    /// Records a heartbeat that arrived at `at`. Cost: O(1), no allocation.
    ///
    /// # Errors
    /// [`HeartbeatError::Duplicate`] if `at` equals the last accepted arrival,
    /// [`HeartbeatError::OutOfOrder`] if it is earlier,
    /// [`HeartbeatError::PastHorizon`] if it is after [`Timestamp::HORIZON`]. The
    /// detector is unchanged.
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError>;

    /// Suspicion level at `now`, on this detector's own scale (phi for the accrual
    /// detectors, missed intervals for the fixed timeout): `0.0` means no doubt.
    /// A query earlier than the last heartbeat is answered as at the last heartbeat
    /// (zero silence).
    fn suspicion(&self, now: Timestamp) -> f64;

    /// The suspicion level at and above which the node is considered unavailable.
    fn threshold(&self) -> f64;

    /// Whether the node is considered available at `now` (`suspicion(now) <
    /// threshold()`), from one comparison with the precomputed deadline. `true`
    /// before the first heartbeat.
    fn is_available(&self, now: Timestamp) -> bool;

    /// The first instant at which [`is_available`](Self::is_available) is false if
    /// no heartbeat arrives first. `None` before the first heartbeat, or if that
    /// instant would be at or after [`Timestamp::MAX`] (never).
    fn deadline(&self) -> Option<Timestamp>;

    /// The instant at which the suspicion would reach `level` if no heartbeat arrives
    /// first: the detector's formula inverted at `level`, rounded up exactly to the
    /// nanosecond by the same arithmetic as the deadline, so that
    /// `deadline_for(threshold())` is [`deadline`](Self::deadline) in every state.
    /// Used for second thresholds (e.g. "dead" above "suspect").
    ///
    /// For another level the suspicion agrees with it as far as floating point
    /// allows (the shared step that makes the threshold exact works at the threshold
    /// only): it is below `level` up to `deadline_for(level) - δ` and at least
    /// `level` from `deadline_for(level) + δ`, where `δ` is 1 ns plus the rounding
    /// error of the offset from the last heartbeat (about `offset / 2^52`, under a
    /// nanosecond for offsets below 52 days), each up to the suspicion's own relative
    /// rounding error (at most about 1e-12).
    ///
    /// At least 1 ns after the last heartbeat; a `level` at or below 0 gives exactly
    /// that. `None` before the first heartbeat, for a NaN `level`, for a level the
    /// suspicion never reaches, or if the instant would be at or after
    /// [`Timestamp::MAX`].
    fn deadline_for(&self, level: f64) -> Option<Timestamp>;

    /// The last accepted heartbeat, if any.
    fn last_heartbeat(&self) -> Option<Timestamp>;

    /// The statistics the detector currently bases its verdicts on.
    fn stats(&self) -> Stats;

    /// Bytes this detector occupies, its heap allocations included. Fixed at
    /// construction: no detector in this crate allocates afterwards.
    ///
    /// The default is `size_of_val(self)`, right for a detector without heap
    /// allocations; every windowed detector in this crate adds its window.
    fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(self)
    }

    /// Reads the part of this detector's state that its next heartbeat writes and
    /// returns a value computed from it (pass it to `std::hint::black_box`), so that
    /// a caller applying a batch of heartbeats to many detectors can first read them
    /// all and let their cache misses overlap. Changes nothing. The default reads
    /// nothing and returns 0.
    #[inline]
    fn prefetch(&self) -> u64 {
        0
    }

    /// Forgets every heartbeat: back to the state right after construction.
    fn reset(&mut self);
}

/// A boxed detector is a detector, so `Box<dyn FailureDetector + Send>` can go where
/// a `D: FailureDetector` is expected (a registry of mixed detectors, say).
impl<T: FailureDetector + ?Sized> FailureDetector for Box<T> {
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        (**self).heartbeat(at)
    }

    fn suspicion(&self, now: Timestamp) -> f64 {
        (**self).suspicion(now)
    }

    fn threshold(&self) -> f64 {
        (**self).threshold()
    }

    fn is_available(&self, now: Timestamp) -> bool {
        (**self).is_available(now)
    }

    fn deadline(&self) -> Option<Timestamp> {
        (**self).deadline()
    }

    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        (**self).deadline_for(level)
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        (**self).last_heartbeat()
    }

    fn stats(&self) -> Stats {
        (**self).stats()
    }

    /// The boxed detector's bytes plus the box itself.
    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + (**self).memory_bytes()
    }

    #[inline]
    fn prefetch(&self) -> u64 {
        (**self).prefetch()
    }

    fn reset(&mut self) {
        (**self).reset()
    }
}

/// What a detector currently believes about the heartbeat intervals, for observability.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Stats {
    /// Intervals in the detector's window, including synthetic bootstrap samples
    /// (0 for detectors that keep none, such as [`FixedTimeout`](crate::FixedTimeout)).
    pub samples: usize,
    /// Mean interval in nanoseconds (for a detector without samples: the interval it
    /// assumes).
    pub mean_ns: f64,
    /// Population standard deviation of the intervals in nanoseconds, before any
    /// configured minimum is applied.
    pub std_dev_ns: f64,
    /// Intervals longer than the window could store, recorded as the longest it
    /// can (see [`Resolution`](crate::Resolution)), since construction or the last
    /// reset (0 for detectors without such a limit).
    pub clamped_intervals: u64,
}

impl Stats {
    /// Statistics from their parts, for a [`FailureDetector`] implemented outside
    /// this crate (the struct is `#[non_exhaustive]`, so it has no literal syntax
    /// there). The values are stored as given.
    ///
    /// ```
    /// use failure_detector::Stats;
    /// use std::time::Duration;
    ///
    /// let stats = Stats::new(10, 1e9, 2.5e6);
    /// assert_eq!(stats.samples, 10);
    /// assert_eq!(stats.mean(), Duration::from_secs(1));
    /// assert_eq!(stats.std_dev(), Duration::from_micros(2_500));
    /// ```
    pub const fn new(samples: usize, mean_ns: f64, std_dev_ns: f64) -> Self {
        Stats {
            samples,
            mean_ns,
            std_dev_ns,
            clamped_intervals: 0,
        }
    }

    /// Mean interval, rounded to the nanosecond.
    pub fn mean(&self) -> Duration {
        Duration::from_nanos(self.mean_ns.round() as u64)
    }

    /// Standard deviation, rounded to the nanosecond.
    pub fn std_dev(&self) -> Duration {
        Duration::from_nanos(self.std_dev_ns.round() as u64)
    }
}

/// The part of every detector that is about arrivals rather than statistics: the last
/// accepted heartbeat, the order and horizon check, the precomputed deadline, and the
/// one step every detector's suspicion goes through ([`report`](Self::report)).
///
/// `available_until` is the last instant (inclusive) at which the node counts as
/// available, `u64::MAX` meaning always (not monitoring yet, or a deadline at or
/// beyond [`Timestamp::MAX`]), so that `is_available` is one comparison with no
/// special cases.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrivals {
    /// The last accepted arrival (at most [`HORIZON_NS`]); [`NOT_MONITORING`]
    /// before the first, so that the struct is two words (every detector of a
    /// registry of millions carries one).
    last: u64,
    available_until: u64,
}

/// [`Arrivals::last`] before the first heartbeat: above every accepted arrival.
const NOT_MONITORING: u64 = u64::MAX;

/// [`Timestamp::HORIZON`] in nanoseconds.
const HORIZON_NS: u64 = Timestamp::HORIZON.as_nanos();

impl Arrivals {
    pub(crate) const fn new() -> Self {
        Arrivals {
            // While not monitoring, `last` is above the horizon: the fast path of
            // `check` accepts only `last < at <= HORIZON`, so every arrival goes to
            // the slow path.
            last: NOT_MONITORING,
            available_until: u64::MAX,
        }
    }

    /// Checks `at` against the last accepted arrival and the horizon. `Ok(None)` for
    /// a first heartbeat, `Ok(Some((interval_ns, was_available)))` otherwise.
    #[inline]
    pub(crate) fn check(&self, at: Timestamp) -> Result<Option<(u64, bool)>, HeartbeatError> {
        let at_ns = at.as_nanos();
        let interval = at_ns.wrapping_sub(self.last);
        // One comparison for `last < at <= HORIZON` (`last <= HORIZON` while
        // monitoring): the
        // wrapped `interval - 1` is below `HORIZON - last` exactly then. While not
        // monitoring `HORIZON - last` saturates at 0, so nothing passes.
        if interval.wrapping_sub(1) < HORIZON_NS.saturating_sub(self.last) {
            Ok(Some((interval, at_ns <= self.available_until)))
        } else {
            self.check_slow(at)
        }
    }

    #[cold]
    fn check_slow(&self, at: Timestamp) -> Result<Option<(u64, bool)>, HeartbeatError> {
        let at_ns = at.as_nanos();
        if at_ns > HORIZON_NS {
            Err(HeartbeatError::PastHorizon { at })
        } else if !self.monitoring() {
            Ok(None)
        } else if at_ns == self.last {
            Err(HeartbeatError::Duplicate { at })
        } else {
            Err(HeartbeatError::OutOfOrder {
                at,
                last: Timestamp::from_nanos(self.last),
            })
        }
    }

    /// Accepts a heartbeat at `at` whose deadline is `offset_ns` later. The offset
    /// is at least 1 (as [`ceil_ns`] returns), so that a node is available at the
    /// instant of its heartbeat. A deadline at or beyond `Timestamp::MAX` (offset
    /// `u64::MAX` included) means never, exactly as in
    /// [`deadline_after_ns`](Self::deadline_after_ns).
    #[inline]
    pub(crate) fn accept(&mut self, at: Timestamp, offset_ns: u64) {
        let at = at.as_nanos();
        self.last = at;
        // Branch-free: at + offset - 1, or u64::MAX (never) when the sum reaches it.
        let deadline = at.saturating_add(offset_ns);
        self.available_until = deadline - u64::from(deadline != u64::MAX);
    }

    #[inline]
    pub(crate) fn is_available(&self, now: Timestamp) -> bool {
        now.as_nanos() <= self.available_until
    }

    /// Whether a heartbeat has been accepted.
    #[inline]
    fn monitoring(&self) -> bool {
        self.last != NOT_MONITORING
    }

    /// The suspicion a detector reports at `now` for its `raw` value (computed by a
    /// floating-point expression of its own) and its `threshold` (finite, > 0): at
    /// most `threshold.next_down()` while available, at least `threshold` once
    /// unavailable. Every detector's `suspicion` goes through here, so
    /// `is_available(now) == (suspicion(now) < threshold)` holds exactly, at every
    /// instant, whatever the rounding of the deadline and of the raw value. It is
    /// monotone in `raw` and in `now`, so a non-decreasing raw suspicion stays
    /// non-decreasing. It changes `raw` only where the raw value and the deadline
    /// disagree, which is within the floating-point error of the two expressions of
    /// the same crossing (see the crate's "Accuracy" section).
    #[inline]
    pub(crate) fn report(&self, now: Timestamp, raw: f64, threshold: f64) -> f64 {
        if self.is_available(now) {
            // The largest double below a positive threshold (0 for a zero one).
            let below = f64::from_bits(threshold.to_bits().saturating_sub(1));
            if raw < below { raw } else { below }
        } else if raw >= threshold {
            raw
        } else {
            threshold
        }
    }

    /// The offset of the deadline from the last heartbeat, as last
    /// [`accept`](Self::accept)ed (`u64::MAX`: never), so that a detector need not
    /// store it. Meaningful while monitoring.
    #[inline]
    pub(crate) fn offset_ns(&self) -> u64 {
        if self.available_until == u64::MAX {
            u64::MAX
        } else {
            self.available_until + 1 - self.last
        }
    }

    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        if self.available_until == u64::MAX {
            None
        } else {
            Some(Timestamp::from_nanos(self.available_until + 1))
        }
    }

    /// `last + offset` for a real offset in nanoseconds rounded up exactly
    /// ([`ceil_ns`]); `None` when not monitoring or at or beyond `Timestamp::MAX`.
    pub(crate) fn deadline_after(&self, real_offset_ns: f64) -> Option<Timestamp> {
        self.deadline_after_ns(ceil_ns(real_offset_ns))
    }

    /// `last + offset_ns` (a whole offset of at least 1); `None` when not monitoring
    /// or when that is at or beyond `Timestamp::MAX` (never), as in
    /// [`accept`](Self::accept), so `deadline_for(threshold())` is the deadline.
    pub(crate) fn deadline_after_ns(&self, offset_ns: u64) -> Option<Timestamp> {
        if !self.monitoring() {
            return None;
        }
        let deadline = self.last.saturating_add(offset_ns);
        (deadline != u64::MAX).then_some(Timestamp::from_nanos(deadline))
    }

    /// Silence since the last heartbeat at `now` in nanoseconds (0 for a query before
    /// it), or `None` before the first heartbeat.
    #[inline]
    pub(crate) fn silence_ns(&self, now: Timestamp) -> Option<f64> {
        // The signed conversion is one instruction, the unsigned one six.
        self.silence(now).map(|silence| {
            if silence < 1 << 63 {
                silence as i64 as f64
            } else {
                silence as f64
            }
        })
    }

    /// [`silence_ns`](Self::silence_ns) in whole nanoseconds.
    #[inline]
    pub(crate) fn silence(&self, now: Timestamp) -> Option<u64> {
        self.monitoring()
            .then(|| now.as_nanos().saturating_sub(self.last))
    }

    pub(crate) fn last(&self) -> Option<Timestamp> {
        self.monitoring().then(|| Timestamp::from_nanos(self.last))
    }
}

const TWO_POW_52: f64 = 4_503_599_627_370_496.0;

/// A real offset in nanoseconds rounded **up** exactly, at least 1, saturating at
/// `u64::MAX` (never); NaN maps to `u64::MAX`. How every detector turns its real
/// deadline offset into whole nanoseconds.
#[inline]
pub(crate) fn ceil_ns(real_ns: f64) -> u64 {
    // One comparison selects the range every real deadline falls in (and sends NaN
    // and huge values to the slow path).
    if real_ns < TWO_POW_52 {
        // Plain comparison rather than f64::max: NaN cannot get here.
        let x = if real_ns > 1.0 { real_ns } else { 1.0 };
        // Adding 2^52 leaves a unit in the last place of 1, so the addition rounds
        // to the nearest integer, whose bits are read off (where `ceil` is a library
        // call on baseline x86-64 and the saturating `f64 -> u64` conversion a
        // dozen instructions); one comparison turns that rounding into a ceiling.
        let shifted = x + TWO_POW_52;
        let rounded = shifted.to_bits() - TWO_POW_52.to_bits();
        rounded + u64::from(shifted - TWO_POW_52 < x)
    } else {
        saturate_ns(real_ns)
    }
}

#[cold]
fn saturate_ns(real_ns: f64) -> u64 {
    if real_ns < u64::MAX as f64 {
        // At least 2^52: doubles this large are whole numbers already.
        real_ns as u64
    } else {
        u64::MAX // beyond the clock, or NaN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_rounds_up_exactly() {
        for x in [
            1.0,
            1.2,
            2.5,
            3.0,
            3.5,
            1e9 + 0.49,
            1e9 + 0.51,
            15e9,
            4.5e15 - 0.5,
            4.6e15,
        ] {
            assert_eq!(ceil_ns(x), x.ceil() as u64, "{x}");
        }
        assert_eq!(ceil_ns(0.0), 1);
        assert_eq!(ceil_ns(0.3), 1);
        assert_eq!(ceil_ns(-5.0), 1);
        assert_eq!(ceil_ns(f64::NEG_INFINITY), 1);
        assert_eq!(ceil_ns(f64::NAN), u64::MAX);
        assert_eq!(ceil_ns(f64::INFINITY), u64::MAX);
        assert_eq!(ceil_ns(1e30), u64::MAX);
        assert_eq!(ceil_ns(1e16), 10_000_000_000_000_000);
    }
}
