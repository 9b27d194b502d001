//! Time as the detectors see it: [`Timestamp`] (nanoseconds since an origin the caller
//! chooses) and the [`Clock`]s that produce them.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An instant on a monotonic clock: whole nanoseconds since an origin the caller chooses.
///
/// Detectors never read a clock themselves; every question is asked "at" a `Timestamp`
/// the caller provides, so the same code runs live (with [`MonotonicClock`]), in tests
/// and simulations (with [`ManualClock`]) and in trace replay (timestamps from a file).
///
/// The range is 0 to [`Timestamp::MAX`] (`u64::MAX` ns, about 584 years after the
/// origin). Constructors and `+`/`-` **saturate** at the ends of that range instead of
/// panicking; the `checked_*` methods say when that would happen. Detectors accept
/// heartbeats up to [`Timestamp::HORIZON`] (about 146 years after the origin) and
/// answer queries at any instant up to [`Timestamp::MAX`].
///
/// With the `serde` feature a timestamp is (de)serialized as its integer number of
/// nanoseconds since the origin (`1500000000` for 1.5 s), so it round-trips
/// exactly in every format; the origin is the caller's, so a timestamp means
/// nothing to another process unless both share it.
///
/// ```
/// use failure_detector::Timestamp;
/// use std::time::Duration;
///
/// let t = Timestamp::from_millis(1_500);
/// assert_eq!(t.as_nanos(), 1_500_000_000);
/// assert_eq!(t + Duration::from_millis(500), Timestamp::from_secs(2));
/// assert_eq!(Timestamp::from_secs(2) - t, Duration::from_millis(500));
/// // Differences saturate at zero instead of panicking:
/// assert_eq!(t - Timestamp::from_secs(2), Duration::ZERO);
/// assert_eq!(t.checked_duration_since(Timestamp::from_secs(2)), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Timestamp(u64);

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Whole nanoseconds of a `Duration`, saturating at `u64::MAX` (about 584 years).
pub(crate) const fn duration_nanos(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The last representable instant, `u64::MAX` nanoseconds after the origin.
    pub const MAX: Timestamp = Timestamp(u64::MAX);
    /// The last instant at which a detector accepts a heartbeat: 2^62 ns after the
    /// origin (about 146 years). A later heartbeat is refused with
    /// [`HeartbeatError::PastHorizon`](crate::HeartbeatError::PastHorizon), so that
    /// every deadline offset below 2^62 ns (146 years) lands on a representable
    /// instant: a node can always be suspected, unless its own configuration puts
    /// the deadline beyond [`Timestamp::MAX`]. Queries may be asked at any instant.
    pub const HORIZON: Timestamp = Timestamp(1 << 62);

    /// `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// `micros` microseconds after the origin, saturating at [`Timestamp::MAX`].
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros.saturating_mul(NANOS_PER_MICRO))
    }

    /// `millis` milliseconds after the origin, saturating at [`Timestamp::MAX`].
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(NANOS_PER_MILLI))
    }

    /// `secs` seconds after the origin, saturating at [`Timestamp::MAX`].
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(NANOS_PER_SEC))
    }

    /// `since_origin` after the origin, saturating at [`Timestamp::MAX`].
    pub const fn from_duration(since_origin: Duration) -> Self {
        Timestamp(duration_nanos(since_origin))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the origin.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + d`, or `None` if that is after [`Timestamp::MAX`].
    pub const fn checked_add(self, d: Duration) -> Option<Self> {
        let n = d.as_nanos();
        if n > (u64::MAX - self.0) as u128 {
            None
        } else {
            Some(Timestamp(self.0 + n as u64))
        }
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    pub const fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_nanos(d)))
    }

    /// `self - d`, or `None` if that is before the origin.
    pub const fn checked_sub(self, d: Duration) -> Option<Self> {
        let n = d.as_nanos();
        if n > self.0 as u128 {
            None
        } else {
            Some(Timestamp(self.0 - n as u64))
        }
    }

    /// `self - d`, saturating at the origin.
    pub const fn saturating_sub(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(duration_nanos(d)))
    }

    /// Time from `earlier` to `self`, or `None` if `earlier` is after `self`.
    pub const fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is after `self`.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl From<Duration> for Timestamp {
    /// Same as [`Timestamp::from_duration`] (saturating).
    fn from(since_origin: Duration) -> Self {
        Timestamp::from_duration(since_origin)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating: never panics, stops at [`Timestamp::MAX`].
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Timestamp {
    /// Saturating, like `+`.
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating: never panics, stops at the origin.
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl SubAssign<Duration> for Timestamp {
    /// Saturating, like `-`.
    fn sub_assign(&mut self, d: Duration) {
        *self = self.saturating_sub(d);
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    /// Saturating: zero if `earlier` is after `self`.
    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the origin with nanosecond precision, e.g. `12.000000345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / NANOS_PER_SEC,
            self.0 % NANOS_PER_SEC
        )
    }
}

/// A source of [`Timestamp`]s. Only convenience layers hold one; detectors take
/// timestamps as arguments.
pub trait Clock {
    /// The current time. Successive calls never go backwards for a monotonic clock;
    /// a [`ManualClock`] returns whatever it was last set to.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The real monotonic clock (`std::time::Instant`), measured from an origin fixed at
/// construction.
///
/// ```
/// use failure_detector::{Clock, MonotonicClock, Timestamp};
///
/// let clock = MonotonicClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }

    /// A clock whose origin is `origin` (clocks built from the same `Instant` agree).
    pub fn with_origin(origin: Instant) -> Self {
        MonotonicClock { origin }
    }

    /// The `Instant` that is [`Timestamp::ZERO`] on this clock.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The timestamp of `instant` on this clock: zero for instants before the origin,
    /// saturating at [`Timestamp::MAX`].
    pub fn timestamp_of(&self, instant: Instant) -> Timestamp {
        Timestamp::from_duration(instant.saturating_duration_since(self.origin))
    }

    /// The `Instant` of `t` on this clock: the origin plus `t`, or `None` if the
    /// platform's `Instant` cannot represent it (never on Linux and the other
    /// platforms whose `Instant` holds signed 64-bit seconds: the whole range,
    /// 584 years, fits).
    pub fn checked_instant_of(&self, t: Timestamp) -> Option<Instant> {
        self.origin.checked_add(t.as_duration())
    }

    /// The `Instant` of `t` on this clock: the origin plus `t`, exact wherever
    /// [`checked_instant_of`](Self::checked_instant_of) is `Some`; otherwise the
    /// latest `Instant` after the origin that the platform represents, to the
    /// nanosecond (found by bisection, about 64 tries, only at that edge). A
    /// deadline so far away means "never" to a sleeper either way.
    ///
    /// `timestamp_of(instant_of(t)) == t` for every representable `t`, and
    /// `instant_of(timestamp_of(i)) == i` for every `i` from the origin up to
    /// [`Timestamp::MAX`] after it (with the nanosecond resolution of Linux's
    /// `Instant`). An instant before the origin has timestamp zero, whose instant
    /// is the origin: convert instants no earlier than the clock's origin.
    ///
    /// ```
    /// use failure_detector::{MonotonicClock, Timestamp};
    /// use std::time::{Duration, Instant};
    ///
    /// let clock = MonotonicClock::new();
    /// let t = Timestamp::from_millis(1_500);
    /// assert_eq!(clock.instant_of(t), clock.origin() + Duration::from_millis(1_500));
    /// assert_eq!(clock.timestamp_of(clock.instant_of(t)), t);
    /// // Before the origin: zero.
    /// let early = clock.origin().checked_sub(Duration::from_secs(1));
    /// if let Some(early) = early {
    ///     assert_eq!(clock.timestamp_of(early), Timestamp::ZERO);
    /// }
    /// ```
    pub fn instant_of(&self, t: Timestamp) -> Instant {
        if let Some(instant) = self.checked_instant_of(t) {
            return instant;
        }
        // The largest representable offset below `t`: `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (0u64, t.as_nanos());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.origin.checked_add(Duration::from_nanos(mid)).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.origin + Duration::from_nanos(lo)
    }
}

/// [`MonotonicClock`] on tokio's clock (`tokio::time::Instant::now()`), which a
/// test can pause and advance (`#[tokio::test(start_paused = true)]`,
/// `tokio::time::advance`): the clock for a [`Registry`](crate::Registry) or a
/// driver of [`runtime`](crate::runtime) when their timestamps must follow tokio's
/// timers. Outside a paused runtime it reads the same instants as
/// [`MonotonicClock`] (tokio's `Instant` is `std`'s).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use failure_detector::Timestamp;
/// use failure_detector::runtime::TokioClock;
/// use std::time::Duration;
///
/// let clock = TokioClock::new(); // origin: tokio's now
/// let t = Timestamp::from_secs(2);
/// let at = clock.instant_of(t);
/// assert_eq!(at, clock.origin() + Duration::from_secs(2));
/// assert_eq!(clock.timestamp_of(at), t);
/// // The same origin as a MonotonicClock, for std `Instant`s:
/// assert_eq!(clock.monotonic().instant_of(t), at.into_std());
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    std: MonotonicClock,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose origin is tokio's now.
    pub fn new() -> Self {
        Self::with_origin(tokio::time::Instant::now())
    }

    /// A clock whose origin is `origin`.
    pub fn with_origin(origin: tokio::time::Instant) -> Self {
        TokioClock {
            std: MonotonicClock::with_origin(origin.into_std()),
        }
    }

    /// The `tokio::time::Instant` that is [`Timestamp::ZERO`] on this clock.
    pub fn origin(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.std.origin())
    }

    /// The same origin as a [`MonotonicClock`] (which reads `std`'s clock).
    pub fn monotonic(&self) -> MonotonicClock {
        self.std
    }

    /// The timestamp of `instant`: zero before the origin, saturating at
    /// [`Timestamp::MAX`] (as [`MonotonicClock::timestamp_of`]).
    pub fn timestamp_of(&self, instant: tokio::time::Instant) -> Timestamp {
        self.std.timestamp_of(instant.into_std())
    }

    /// The `tokio::time::Instant` of `t`, saturating as
    /// [`MonotonicClock::instant_of`]. Tokio's timers round a deadline up to
    /// the next millisecond: a sleep until this instant ends up to 1 ms after it.
    pub fn instant_of(&self, t: Timestamp) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.std.instant_of(t))
    }
}

#[cfg(feature = "tokio")]
impl PartialEq for TokioClock {
    /// Same origin.
    fn eq(&self, other: &Self) -> bool {
        self.std.origin() == other.std.origin()
    }
}

#[cfg(feature = "tokio")]
impl Eq for TokioClock {}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

#[cfg(feature = "tokio")]
impl From<MonotonicClock> for TokioClock {
    /// The same origin, read through tokio's clock.
    fn from(clock: MonotonicClock) -> Self {
        TokioClock { std: clock }
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.timestamp_of(tokio::time::Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Timestamp {
        self.timestamp_of(Instant::now())
    }
}

/// A clock moved by hand, for tests, simulations and trace replay. Clones share the
/// same time, so a test can hold one and hand another to the code under test.
///
/// ```
/// use failure_detector::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(Timestamp::from_secs(10));
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(250));
/// assert_eq!(shared.now(), Timestamp::from_millis(10_250));
/// shared.set(Timestamp::ZERO); // it may also be moved back
/// assert_eq!(clock.now(), Timestamp::ZERO);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(start.as_nanos())),
        }
    }

    /// Moves the clock (and every clone) forward by `by`, saturating at
    /// [`Timestamp::MAX`]; returns the new time.
    pub fn advance(&self, by: Duration) -> Timestamp {
        let by = duration_nanos(by);
        let mut old = self.nanos.load(Ordering::Acquire);
        loop {
            let new = old.saturating_add(by);
            match self
                .nanos
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Timestamp(new),
                Err(seen) => old = seen,
            }
        }
    }

    /// Sets the clock (and every clone) to `to`, forwards or backwards.
    pub fn set(&self, to: Timestamp) {
        self.nanos.store(to.as_nanos(), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree_and_saturate() {
        assert_eq!(Timestamp::from_secs(3), Timestamp::from_millis(3_000));
        assert_eq!(Timestamp::from_millis(3), Timestamp::from_micros(3_000));
        assert_eq!(Timestamp::from_micros(3), Timestamp::from_nanos(3_000));
        assert_eq!(
            Timestamp::from_duration(Duration::from_secs(3)),
            Timestamp::from_secs(3)
        );
        assert_eq!(Timestamp::from_secs(u64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_millis(u64::MAX / 1000), Timestamp::MAX);
        assert_eq!(Timestamp::from_micros(u64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_duration(Duration::MAX), Timestamp::MAX);
    }

    #[test]
    fn arithmetic_saturates_and_checked_reports() {
        let t = Timestamp::from_nanos(u64::MAX - 5);
        assert_eq!(t + Duration::from_nanos(10), Timestamp::MAX);
        assert_eq!(t.checked_add(Duration::from_nanos(10)), None);
        assert_eq!(t.checked_add(Duration::from_nanos(5)), Some(Timestamp::MAX));
        assert_eq!(t.checked_add(Duration::MAX), None);
        let z = Timestamp::from_nanos(5);
        assert_eq!(z - Duration::from_nanos(10), Timestamp::ZERO);
        assert_eq!(z.checked_sub(Duration::from_nanos(10)), None);
        assert_eq!(
            z.checked_sub(Duration::from_nanos(5)),
            Some(Timestamp::ZERO)
        );
        assert_eq!(z - Timestamp::MAX, Duration::ZERO);
        assert_eq!(
            Timestamp::MAX - Timestamp::ZERO,
            Duration::from_nanos(u64::MAX)
        );
        let mut m = Timestamp::ZERO;
        m += Duration::from_secs(2);
        m -= Duration::from_millis(500);
        assert_eq!(m, Timestamp::from_millis(1_500));
    }

    #[test]
    fn display_shows_seconds_with_nanos() {
        assert_eq!(
            Timestamp::from_nanos(12_000_000_345).to_string(),
            "12.000000345s"
        );
        assert_eq!(Timestamp::ZERO.to_string(), "0.000000000s");
    }

    #[test]
    fn manual_clock_is_shared_and_saturates() {
        let c = ManualClock::new(Timestamp::from_nanos(u64::MAX - 1));
        let d = c.clone();
        assert_eq!(d.advance(Duration::from_secs(1)), Timestamp::MAX);
        assert_eq!(c.now(), Timestamp::MAX);
    }

    #[test]
    fn monotonic_clock_maps_instants() {
        let origin = Instant::now();
        let c = MonotonicClock::with_origin(origin);
        assert_eq!(c.timestamp_of(origin), Timestamp::ZERO);
        assert_eq!(
            c.timestamp_of(origin + Duration::from_millis(7)),
            Timestamp::from_millis(7)
        );
        assert!(c.now() >= Timestamp::ZERO);
        let through_ref: &dyn Clock = &c;
        assert!(through_ref.now() >= c.timestamp_of(origin));
    }

    #[test]
    fn instants_round_trip_and_saturate() {
        let origin = Instant::now();
        let c = MonotonicClock::with_origin(origin);
        for t in [0, 1, 999_999_999, 1 << 40, 1 << 62, u64::MAX - 1, u64::MAX] {
            let t = Timestamp::from_nanos(t);
            match c.checked_instant_of(t) {
                Some(i) => {
                    assert_eq!(c.instant_of(t), i);
                    assert_eq!(c.timestamp_of(i), t);
                }
                None => {
                    // Saturated: the latest representable instant, below `t`.
                    let i = c.instant_of(t);
                    assert!(c.timestamp_of(i) < t);
                    assert!(i.checked_add(Duration::from_nanos(1)).is_none());
                }
            }
        }
        // Instants before the origin are at zero.
        if let Some(early) = origin.checked_sub(Duration::from_secs(1)) {
            assert_eq!(c.timestamp_of(early), Timestamp::ZERO);
            assert_eq!(c.instant_of(c.timestamp_of(early)), origin);
        }
        #[cfg(target_os = "linux")]
        assert!(c.checked_instant_of(Timestamp::MAX).is_some());
    }
}
