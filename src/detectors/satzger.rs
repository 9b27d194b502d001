//! The adaptive accrual detector of Satzger, Pietzowski, Trumler and Ungerer ("A new
//! adaptive accrual failure detector for dependable distributed systems", ACM SAC
//! 2007): suspicion from the empirical distribution of recent intervals.

use std::time::Duration;

use crate::detectors::{Arrivals, FailureDetector, Stats};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::order_stats::SlidingOrder;
use crate::time::Timestamp;
use crate::window::{MAX_INTERVAL_NS, Resolution, Window};

/// Configuration of a [`Satzger`] detector.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct SatzgerConfig {
    /// Suspicion at and above which the node is unavailable: the share of recent
    /// intervals shorter than or equal to the current silence. Default 0.99; greater
    /// than 0 and at most 1 (1 suspects once the silence reaches the longest interval
    /// in the window).
    pub threshold: f64,
    /// Intervals kept in the window. Default 1000; 1 to 32,768.
    pub window_size: usize,
    /// The interval assumed before any is measured: the window starts with this one
    /// sample, which real intervals push out. Default 1 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub first_heartbeat_estimate: Duration,
}

impl SatzgerConfig {
    /// The defaults (the [`Default`]): threshold 0.99, 1000 intervals, 1 s estimate.
    pub const fn new() -> Self {
        SatzgerConfig {
            threshold: 0.99,
            window_size: 1000,
            first_heartbeat_estimate: Duration::from_secs(1),
        }
    }

    /// Sets [`threshold`](Self::threshold).
    pub const fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`window_size`](Self::window_size).
    pub const fn with_window_size(mut self, window_size: usize) -> Self {
        self.window_size = window_size;
        self
    }

    /// Sets [`first_heartbeat_estimate`](Self::first_heartbeat_estimate).
    pub const fn with_first_heartbeat_estimate(mut self, estimate: Duration) -> Self {
        self.first_heartbeat_estimate = estimate;
        self
    }
}

impl Default for SatzgerConfig {
    fn default() -> Self {
        SatzgerConfig::new()
    }
}

/// Satzger et al.'s adaptive accrual detector: suspicion is the empirical probability
/// that an interval is no longer than the current silence, assuming no distribution.
///
/// With the last `n` inter-arrival times `S` (Satzger et al. 2007, section 3):
///
/// ```text
/// suspicion(t) = |{ s in S : s <= t - A_k }| / |S|
/// ```
///
/// a number in `[0, 1]`. The node is unavailable once it reaches the threshold, that
/// is once the silence reaches the `ceil(threshold * n)`-th smallest interval: that
/// order statistic, found in O(log n) in an order-statistics tree, is the deadline's
/// offset (exact to the nanosecond). Every interval is recorded. Unlike the phi
/// detectors, the detector cannot wait longer than the longest interval it has seen.
///
/// ```
/// use failure_detector::{FailureDetector, Satzger, SatzgerConfig, Timestamp};
///
/// let cfg = SatzgerConfig::new().with_window_size(4).with_threshold(0.75);
/// let mut fd = Satzger::new(cfg).unwrap();
/// let mut t = 0;
/// fd.heartbeat(Timestamp::from_millis(t)).unwrap();
/// for gap in [100, 120, 90, 110] {
///     t += gap;
///     fd.heartbeat(Timestamp::from_millis(t)).unwrap();
/// }
/// // Intervals 90, 100, 110, 120: suspected when 3 of 4 are covered, after 110 ms.
/// assert_eq!(fd.suspicion(Timestamp::from_millis(t + 100)), 0.5);
/// assert_eq!(fd.deadline(), Some(Timestamp::from_millis(t + 110)));
/// assert_eq!(fd.suspicion(Timestamp::from_millis(t + 110)), 0.75);
/// ```
///
/// Memory: `size_of::<Satzger>()` (under 200 bytes) plus 40 bytes per window slot.
#[derive(Clone, Debug)]
pub struct Satzger {
    config: SatzgerConfig,
    bootstrap_ns: u64,
    order: SlidingOrder,
    /// The same intervals with exact sums, for [`stats`](FailureDetector::stats).
    window: Window,
    arrivals: Arrivals,
}

impl Satzger {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `threshold` NaN, not positive or above 1;
    /// `window_size` zero or above 32,768; `first_heartbeat_estimate` zero or above
    /// 2^47 ns.
    pub fn new(config: SatzgerConfig) -> Result<Self, ConfigError> {
        if check::positive("threshold", config.threshold)? > 1.0 {
            return Err(ConfigError::OutOfRange {
                field: "threshold",
                allowed: "greater than 0 and at most 1",
            });
        }
        let window = check::window("window_size", config.window_size)?;
        let bootstrap_ns =
            check::recordable("first_heartbeat_estimate", config.first_heartbeat_estimate)?;
        let mut fd = Satzger {
            config,
            bootstrap_ns,
            order: SlidingOrder::new(window),
            // Exact: the empirical distribution is ranked in nanoseconds.
            window: Window::new(window, Resolution::Nanosecond),
            arrivals: Arrivals::new(),
        };
        fd.reset();
        Ok(fd)
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &SatzgerConfig {
        &self.config
    }

    /// The share of intervals at most `silence_ns`, computed as the suspicion is.
    #[inline]
    fn share(count: usize, len: usize) -> f64 {
        count as f64 / len as f64
    }

    /// The smallest `k` with `k / len >= threshold`: the node is unavailable once `k`
    /// intervals are covered. Consistent with [`share`](Self::share) by construction.
    fn rank_for(&self, level: f64) -> usize {
        let len = self.order.len();
        let mut k = ((level * len as f64).ceil() as usize).clamp(1, len);
        while k > 1 && Self::share(k - 1, len) >= level {
            k -= 1;
        }
        while k < len && Self::share(k, len) < level {
            k += 1;
        }
        k
    }

    /// The silence at which the suspicion reaches `level`, ns (> 0).
    fn offset_for(&self, level: f64) -> u64 {
        // Intervals are at least 1 ns (arrivals are strictly increasing) and the
        // bootstrap sample is not zero, so the offset is at least 1.
        self.order
            .kth(self.rank_for(level))
            .unwrap_or(self.bootstrap_ns)
    }
}

impl FailureDetector for Satzger {
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        if let Some((interval, _)) = self.arrivals.check(at)? {
            let interval = interval.min(MAX_INTERVAL_NS);
            self.order.push(interval);
            self.window.push(interval);
        }
        let offset = self.offset_for(self.config.threshold);
        self.arrivals.accept(at, offset);
        Ok(())
    }

    fn suspicion(&self, now: Timestamp) -> f64 {
        let Some(silence) = self.arrivals.silence(now) else {
            return 0.0;
        };
        let raw = Self::share(self.order.count_at_most(silence), self.order.len());
        self.arrivals.report(now, raw, self.config.threshold)
    }

    fn threshold(&self) -> f64 {
        self.config.threshold
    }

    #[inline]
    fn is_available(&self, now: Timestamp) -> bool {
        self.arrivals.is_available(now)
    }

    fn deadline(&self) -> Option<Timestamp> {
        self.arrivals.deadline()
    }

    /// For a `level` above 1, which the suspicion never reaches, `None`.
    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        if level.is_nan() || level > 1.0 {
            return None;
        }
        if level <= 0.0 {
            return self.arrivals.deadline_after_ns(1);
        }
        // Whole nanoseconds, as the heartbeat's deadline: deadline_for(threshold)
        // is the deadline.
        self.arrivals.deadline_after_ns(self.offset_for(level))
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
        std::mem::size_of::<Self>() + self.window.heap_bytes() + self.order.heap_bytes()
    }

    fn reset(&mut self) {
        self.order.clear();
        self.window.clear();
        self.order.push(self.bootstrap_ns);
        self.window.push(self.bootstrap_ns);
        self.arrivals = Arrivals::new();
    }
}
