//! The phi-accrual detector with a normal model of inter-arrival times, as Akka and
//! Pekko ship it (Hayashibara, Defago, Yared and Katayama, "The phi accrual failure
//! detector", SRDS 2004).

use std::sync::Arc;
use std::time::Duration;

use crate::detectors::{Arrivals, FailureDetector, Stats, ceil_ns};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::math::{
    PHI_FLOOR, check_phi_threshold, logistic_phi, logistic_phi_inverse, normal_phi,
    normal_phi_inverse,
};
use crate::time::{Timestamp, duration_nanos};
use crate::window::{
    HeapWindow, MAX_INTERVAL_NS, Resolution, Window, WindowStorage, variance_from_numerator,
};

/// How phi turns the standardised silence `y = (silence - mean - pause) / sigma` into
/// a suspicion level. Both are `-log10` of an upper tail of the normal distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum PhiModel {
    /// Akka's logistic approximation of the normal CDF,
    /// `1 / (1 + exp(-y (1.5976 + 0.070566 y^2)))`, so that thresholds tuned for
    /// Akka or Pekko mean the same here. Evaluated as `log10(1 + exp(g))` in a form
    /// that stays finite where Akka's returns infinity.
    #[default]
    Logistic,
    /// The exact normal tail, `-log10(erfc(y / sqrt 2) / 2)`, in log space (no
    /// underflow at any silence). About 2 to 3 times slower per query than
    /// [`Logistic`](Self::Logistic). The same threshold means a slightly later
    /// deadline: phi 8 is reached at y = 5.61 here and at y = 5.22 with the logistic
    /// approximation, whose tail is heavier far out.
    Normal,
}

impl PhiModel {
    /// Phi at the standardised silence `y`.
    #[inline]
    pub(crate) fn phi(self, y: f64) -> f64 {
        match self {
            PhiModel::Logistic => logistic_phi(y),
            PhiModel::Normal => normal_phi(y),
        }
    }

    /// The standardised silence at which phi reaches `level` (the inverse of
    /// [`phi`](Self::phi)).
    pub(crate) fn inverse(self, level: f64) -> f64 {
        match self {
            PhiModel::Logistic => logistic_phi_inverse(level),
            PhiModel::Normal => normal_phi_inverse(level),
        }
    }
}

/// Configuration of a [`PhiAccrual`] detector. Defaults are those of Akka's cluster
/// failure detector (`akka.cluster.failure-detector` in `reference.conf`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct PhiAccrualConfig {
    /// Phi at and above which the node is unavailable. Default 8.0; finite, at least
    /// 1e-290: phi below 1e-300 is reported as 0, so a lower threshold could not be
    /// told apart from no suspicion at all.
    pub threshold: f64,
    /// Intervals kept in the window. Default 1000; 1 to 32,768.
    pub max_sample_size: usize,
    /// Lower bound on the standard deviation used by phi, so that a very regular
    /// sender is not suspected at the first small delay. Default 100 ms; not zero,
    /// at most 2^47 ns (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub min_std_deviation: Duration,
    /// Silence tolerated on top of the mean interval (it is added to the mean).
    /// Default 3 s; may be zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub acceptable_heartbeat_pause: Duration,
    /// Assumed interval before any is measured: the window starts with two synthetic
    /// samples at this estimate plus and minus a quarter of it. Default 1 s; not
    /// zero, at most 2^47 ns (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub first_heartbeat_estimate: Duration,
    /// How phi is computed from the standardised silence. Default
    /// [`PhiModel::Logistic`] (Akka's).
    pub model: PhiModel,
    /// How finely the window stores intervals, and so its bytes per slot. Default
    /// [`Resolution::Microsecond`] (4 bytes, intervals up to about 71.6 minutes);
    /// [`Resolution::Millisecond`] (Akka's own unit) halves that, and
    /// [`Resolution::Nanosecond`] keeps them exactly, in 8 bytes.
    /// Heartbeats at whole milliseconds give the same phi at every resolution.
    pub resolution: Resolution,
}

impl PhiAccrualConfig {
    /// Akka's cluster defaults (the [`Default`]).
    pub const fn new() -> Self {
        PhiAccrualConfig {
            threshold: 8.0,
            max_sample_size: 1000,
            min_std_deviation: Duration::from_millis(100),
            acceptable_heartbeat_pause: Duration::from_secs(3),
            first_heartbeat_estimate: Duration::from_secs(1),
            model: PhiModel::Logistic,
            resolution: Resolution::Microsecond,
        }
    }

    /// Sets [`threshold`](Self::threshold).
    pub const fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`max_sample_size`](Self::max_sample_size).
    pub const fn with_max_sample_size(mut self, max_sample_size: usize) -> Self {
        self.max_sample_size = max_sample_size;
        self
    }

    /// Sets [`min_std_deviation`](Self::min_std_deviation).
    pub const fn with_min_std_deviation(mut self, min_std_deviation: Duration) -> Self {
        self.min_std_deviation = min_std_deviation;
        self
    }

    /// Sets [`acceptable_heartbeat_pause`](Self::acceptable_heartbeat_pause).
    pub const fn with_acceptable_heartbeat_pause(mut self, pause: Duration) -> Self {
        self.acceptable_heartbeat_pause = pause;
        self
    }

    /// Sets [`first_heartbeat_estimate`](Self::first_heartbeat_estimate).
    pub const fn with_first_heartbeat_estimate(mut self, estimate: Duration) -> Self {
        self.first_heartbeat_estimate = estimate;
        self
    }

    /// Sets [`model`](Self::model).
    pub const fn with_model(mut self, model: PhiModel) -> Self {
        self.model = model;
        self
    }

    /// Sets [`resolution`](Self::resolution).
    pub const fn with_resolution(mut self, resolution: Resolution) -> Self {
        self.resolution = resolution;
        self
    }
}

impl Default for PhiAccrualConfig {
    fn default() -> Self {
        PhiAccrualConfig::new()
    }
}

/// The phi-accrual failure detector with a normal model of inter-arrival times,
/// compatible with Akka/Pekko's `PhiAccrualFailureDetector`.
///
/// `phi(silence) = -log10 P(X > silence)` where `X` is normal with the window's mean
/// plus `acceptable_heartbeat_pause`, and the window's standard deviation (at least
/// `min_std_deviation`). As in Akka:
/// * the window starts with two synthetic intervals, `estimate - estimate/4` and
///   `estimate + estimate/4`, which the real ones push out over time;
/// * an interval is recorded only if the node was available when the heartbeat that
///   ends it arrived (the first heartbeat after a failure would skew the statistics);
/// * before the first heartbeat phi is 0 and the node is available.
///
/// Unlike Akka, phi stays finite however long the silence (Akka's returns infinity
/// about 6 s into a silence with its cluster defaults), and values under 1e-300 are
/// reported as exactly 0 (hence a threshold of at least 1e-290). Phi never decreases
/// while no heartbeat arrives; above 1e-300 it increases strictly from one
/// nanosecond to the next while the silence is below 2^52 ns (about 52 days). Beyond
/// that a nanosecond is below the resolution of a double: at a silence `s` phi
/// increases strictly over steps of `s / 2^50 + 1` ns (5 ns at 2^52 ns, 8 µs at
/// 2^63 ns), and two consecutive nanoseconds past 2^53 ns can read the same value.
///
/// ```
/// use failure_detector::{FailureDetector, PhiAccrual, PhiAccrualConfig, Timestamp};
///
/// let mut fd = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
/// for i in 0..10 {
///     fd.heartbeat(Timestamp::from_secs(i)).unwrap(); // every second
/// }
/// assert!(fd.suspicion(Timestamp::from_millis(9_500)) < 1e-9);
/// assert!(fd.is_available(Timestamp::from_secs(12)));
/// assert!(!fd.is_available(Timestamp::from_secs(20)));
/// let deadline = fd.deadline().unwrap(); // phi reaches 8 about 4.2 s after the last
/// assert!(deadline > Timestamp::from_secs(13) && deadline < Timestamp::from_secs(14));
/// ```
///
/// Memory: `size_of::<PhiAccrual>()` (104 bytes on 64-bit targets) plus the window's
/// slots on the heap (4 bytes each at the default [`Resolution::Microsecond`], 2 at
/// [`Resolution::Millisecond`], 8 at [`Resolution::Nanosecond`]): 504 bytes at a
/// window of 100, about 4.1 KB at the default of 1000. With the window inside the
/// detector ([`WindowStorage`]; `PhiAccrual<InlineMicros<100>>`) it is one block of
/// 472 bytes at a window of 100 (272 with [`InlineMillis`](crate::InlineMillis)).
/// The configuration and the constants derived from it live in one block shared by
/// every clone of a detector (a registry's nodes share their prototype's), not
/// counted in [`memory_bytes`](FailureDetector::memory_bytes).
// In declaration order, so that what every heartbeat reads comes first and, with
// an inline window, the window's sums follow it, the slots last: a heartbeat into
// a registry node reads two or three consecutive cache lines (120 bytes from the
// node's start) and the one of its slot.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct PhiAccrual<S = HeapWindow> {
    arrivals: Arrivals,
    // Derived from the window whenever it changes:
    /// Mean interval plus the acceptable pause, ns.
    mu: f64,
    /// `1 / sigma`, where sigma is the standard deviation phi uses (at least the
    /// minimum): a division at heartbeat time, off the critical path, saves one on
    /// every query.
    inv_sigma: f64,
    params: Arc<PhiParams>,
    window: Window<S>,
}

/// What every clone of a detector shares: the configuration and the constants
/// derived from it.
#[derive(Debug)]
struct PhiParams {
    pause_ns: f64,
    /// `1 / min_std_deviation`, 1/ns.
    inv_min_std: f64,
    /// `min_std_deviation^2`, ns^2 (at most 2^94).
    min_var: u128,
    /// `min_var * capacity^2`: the threshold of the variance numerator once the
    /// window is full (at most 2^124).
    min_var_full: u128,
    /// `y_threshold * min_std_deviation`, ns.
    min_std_margin: f64,
    /// Standardised silence at which phi reaches the threshold.
    y_threshold: f64,
    /// Standardised silence below which phi < `PHI_FLOOR` (reported as 0).
    y_floor: f64,
    config: PhiAccrualConfig,
}

impl PhiAccrual {
    /// Builds the detector, its window on the heap.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `threshold` NaN, infinite or below 1e-290;
    /// `max_sample_size` zero or above 32,768; `min_std_deviation` zero or above 2^47 ns;
    /// `first_heartbeat_estimate` zero, or with its +25% sample above 2^47 ns or the
    /// longest interval the [`Resolution`] stores.
    pub fn new(config: PhiAccrualConfig) -> Result<Self, ConfigError> {
        Self::with_storage(config)
    }
}

impl<S: WindowStorage> PhiAccrual<S> {
    /// Builds the detector with its window in the storage `S` (see
    /// [`WindowStorage`]): `PhiAccrual::<InlineMicros<100>>::with_storage(config)`
    /// keeps a window of 100 inside the detector.
    ///
    /// # Errors
    /// As [`PhiAccrual::new`], and also: for an inline storage of `N` slots,
    /// `max_sample_size` other than `N`, or a `resolution` other than the
    /// storage's.
    pub fn with_storage(config: PhiAccrualConfig) -> Result<Self, ConfigError> {
        let threshold = check_phi_threshold(config.threshold)?;
        let window = check::window("max_sample_size", config.max_sample_size)?;
        let min_std_ns = check::recordable("min_std_deviation", config.min_std_deviation)?;
        let estimate =
            check::recordable("first_heartbeat_estimate", config.first_heartbeat_estimate)?;
        if estimate + estimate / 4 > MAX_INTERVAL_NS.min(config.resolution.max_interval_ns()) {
            return Err(ConfigError::OutOfRange {
                field: "first_heartbeat_estimate",
                allowed: "with its +25% sample, at most the longest interval the window's \
                          resolution stores (2^47 ns, about 71.6 min at microseconds, \
                          65.535 s at milliseconds)",
            });
        }
        let (y_threshold, y_floor) = (
            config.model.inverse(threshold),
            config.model.inverse(PHI_FLOOR),
        );
        let params = PhiParams {
            config,
            pause_ns: duration_nanos(config.acceptable_heartbeat_pause) as f64,
            y_threshold,
            y_floor,
            min_var: u128::from(min_std_ns) * u128::from(min_std_ns),
            // window <= 2^15: window^2 fits a u64.
            min_var_full: u128::from(min_std_ns)
                * u128::from(min_std_ns)
                * u128::from((window * window) as u64),
            inv_min_std: 1.0 / min_std_ns as f64,
            min_std_margin: y_threshold * min_std_ns as f64,
        };
        let mut fd = PhiAccrual {
            window: Window::for_config("max_sample_size", window, config.resolution)?,
            arrivals: Arrivals::new(),
            mu: 0.0,
            inv_sigma: 1.0,
            params: Arc::new(params),
        };
        fd.reset();
        Ok(fd)
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &PhiAccrualConfig {
        &self.params.config
    }

    /// Whether the window's standard deviation exceeds the minimum, decided exactly
    /// in integers: `n * sum_sq - sum^2 > min_std^2 * n^2` (both at most 2^124).
    /// Returns the variance numerator when it does.
    #[inline]
    fn deviation_above_minimum(&self) -> Option<u128> {
        let numerator = self.window.variance_numerator();
        let n = self.window.len();
        let minimum = if n == self.window.capacity() {
            // The common case: no multiplication.
            self.params.min_var_full
        } else {
            // n <= 2^15: n^2 fits a u64, and min_var * n^2 <= 2^124.
            self.params.min_var * u128::from((n * n) as u64)
        };
        (numerator > minimum).then_some(numerator)
    }

    /// `min_std_deviation` in whole nanoseconds (validated at construction).
    fn min_std_ns(&self) -> u64 {
        duration_nanos(self.params.config.min_std_deviation)
    }

    /// The standard deviation phi uses: the window's, at least the minimum.
    fn sigma(&self) -> f64 {
        match self.deviation_above_minimum() {
            Some(numerator) => variance_from_numerator(numerator, self.window.inv_len()).sqrt(),
            None => self.min_std_ns() as f64,
        }
    }

    /// The deadline's offset from a heartbeat under the current statistics, by the
    /// same arithmetic as [`record`](Self::record).
    fn offset_ns(&self) -> u64 {
        let margin = match self.deviation_above_minimum() {
            Some(_) => self.params.y_threshold * self.sigma(),
            None => self.params.min_std_margin,
        };
        ceil_ns(self.mu + margin)
    }

    /// Records an interval and recomputes everything derived from the window: O(1),
    /// at most one square root and one division. Returns the deadline's offset from
    /// the heartbeat.
    #[inline]
    fn record(&mut self, interval_ns: u64) -> u64 {
        self.window.push(interval_ns);
        let params = &*self.params;
        self.mu = self.window.mean() + params.pause_ns;
        // Same value as `self.sigma()`, spelled out to pick precomputed constants in
        // the common case.
        let margin = match self.deviation_above_minimum() {
            Some(numerator) => {
                let sigma = variance_from_numerator(numerator, self.window.inv_len()).sqrt();
                self.inv_sigma = 1.0 / sigma;
                params.y_threshold * sigma
            }
            None => {
                // A steady sender usually sits here: no square root or division, and
                // a query right after this heartbeat does not wait for them.
                self.inv_sigma = params.inv_min_std;
                params.min_std_margin
            }
        };
        ceil_ns(self.mu + margin)
    }
}

impl<S: WindowStorage> FailureDetector for PhiAccrual<S> {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        let offset = match self.arrivals.check(at)? {
            Some((interval, true)) => self.record(interval),
            // Not available: the statistics, hence the offset, stay as they were.
            Some((_, false)) => self.arrivals.offset_ns(),
            // The first: from the bootstrap statistics.
            None => self.offset_ns(),
        };
        self.arrivals.accept(at, offset);
        Ok(())
    }

    #[inline]
    fn suspicion(&self, now: Timestamp) -> f64 {
        let Some(silence) = self.arrivals.silence_ns(now) else {
            return 0.0;
        };
        let y = (silence - self.mu) * self.inv_sigma;
        // Shortly after a heartbeat phi is below 1e-300: report 0 without the
        // transcendental math (and without exp's slow subnormal path). The
        // threshold is at least 1e-290, so the node is available there.
        let raw = if y < self.params.y_floor {
            0.0
        } else {
            self.params.config.model.phi(y)
        };
        self.arrivals.report(now, raw, self.params.config.threshold)
    }

    fn threshold(&self) -> f64 {
        self.params.config.threshold
    }

    #[inline]
    fn is_available(&self, now: Timestamp) -> bool {
        self.arrivals.is_available(now)
    }

    fn deadline(&self) -> Option<Timestamp> {
        self.arrivals.deadline()
    }

    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        if level.is_nan() {
            return None;
        }
        if level <= 0.0 {
            return self.arrivals.deadline_after_ns(1);
        }
        let y = self.params.config.model.inverse(level);
        // The same arithmetic as `record`, so deadline_for(threshold) == deadline().
        self.arrivals
            .deadline_after_ns(ceil_ns(self.mu + y * self.sigma()))
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.arrivals.last()
    }

    fn stats(&self) -> Stats {
        Stats {
            samples: self.window.len(),
            mean_ns: self.window.mean(),
            std_dev_ns: self.window.variance().sqrt(),
            clamped_intervals: self.window.clamped(),
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.window.heap_bytes()
    }

    /// Reads the window slot the next heartbeat writes (with an inline window, in
    /// the detector's own block; with a heap window, behind its pointer).
    #[inline]
    fn prefetch(&self) -> u64 {
        self.window.next_slot()
    }

    fn reset(&mut self) {
        // Akka's bootstrap: two synthetic intervals at the estimate +- a quarter,
        // the quarter taken in whole units of the window (Akka divides whole
        // milliseconds), so that the two average exactly to the stored estimate.
        let resolution = self.params.config.resolution;
        let unit = resolution.unit_ns();
        let estimate =
            resolution.stored_ns(duration_nanos(self.params.config.first_heartbeat_estimate));
        let quarter = estimate / unit / 4 * unit;
        self.window.clear();
        self.record(estimate - quarter);
        self.record(estimate + quarter);
        self.arrivals = Arrivals::new();
    }
}
