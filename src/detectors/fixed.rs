//! The textbook fixed-timeout detector.

use std::time::Duration;

use crate::detectors::{Arrivals, FailureDetector, Stats, ceil_ns};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::time::{Timestamp, duration_nanos};

/// Configuration of a [`FixedTimeout`] detector.
///
/// The node is suspected once it has been silent for
/// `missed_heartbeats * interval + acceptable_pause`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct FixedTimeoutConfig {
    /// Expected time between heartbeats. Default 5 s; must not be zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub interval: Duration,
    /// How many intervals of silence mean failure; also the suspicion threshold.
    /// Default 3.0; finite and greater than zero (fractions are allowed, e.g. 2.5).
    pub missed_heartbeats: f64,
    /// Extra silence tolerated on top of the missed intervals. Default zero (none).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub acceptable_pause: Duration,
}

impl FixedTimeoutConfig {
    /// The classic "every 5 s, suspect after 3 missed" (the [`Default`]).
    pub const fn new() -> Self {
        FixedTimeoutConfig {
            interval: Duration::from_secs(5),
            missed_heartbeats: 3.0,
            acceptable_pause: Duration::ZERO,
        }
    }

    /// Sets [`interval`](Self::interval).
    pub const fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`missed_heartbeats`](Self::missed_heartbeats).
    pub const fn with_missed_heartbeats(mut self, missed: f64) -> Self {
        self.missed_heartbeats = missed;
        self
    }

    /// Sets [`acceptable_pause`](Self::acceptable_pause).
    pub const fn with_acceptable_pause(mut self, pause: Duration) -> Self {
        self.acceptable_pause = pause;
        self
    }
}

impl Default for FixedTimeoutConfig {
    fn default() -> Self {
        FixedTimeoutConfig::new()
    }
}

/// Suspects a node after a fixed silence: `missed_heartbeats` expected intervals plus
/// an optional acceptable pause.
///
/// Suspicion is the number of intervals missed beyond the pause,
/// `max(0, silence - pause) / interval`, so it rises linearly and the threshold is
/// `missed_heartbeats`. The deadline is exact to the nanosecond.
///
/// ```
/// use failure_detector::{FailureDetector, FixedTimeout, FixedTimeoutConfig, Timestamp};
///
/// let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap(); // 5 s x 3
/// fd.heartbeat(Timestamp::from_secs(100)).unwrap();
/// assert!(fd.is_available(Timestamp::from_millis(114_999)));
/// assert!(!fd.is_available(Timestamp::from_secs(115)));
/// assert_eq!(fd.suspicion(Timestamp::from_secs(110)), 2.0);
/// assert_eq!(fd.deadline(), Some(Timestamp::from_secs(115)));
/// ```
///
/// Memory: `size_of::<FixedTimeout>()` (80 bytes on 64-bit targets), no heap.
#[derive(Clone, Debug)]
pub struct FixedTimeout {
    config: FixedTimeoutConfig,
    interval: f64,
    pause_ns: u64,
    /// Silence, in whole nanoseconds, at which the node stops being available.
    timeout_ns: u64,
    arrivals: Arrivals,
}

impl FixedTimeout {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field if `interval` is zero or `missed_heartbeats`
    /// is NaN, infinite, zero or negative.
    pub fn new(config: FixedTimeoutConfig) -> Result<Self, ConfigError> {
        let interval_ns = check::nonzero("interval", config.interval)?;
        let missed = check::positive("missed_heartbeats", config.missed_heartbeats)?;
        let pause_ns = duration_nanos(config.acceptable_pause);
        let timeout_ns = ceil_ns(missed * interval_ns as f64).saturating_add(pause_ns);
        Ok(FixedTimeout {
            config,
            interval: interval_ns as f64,
            pause_ns,
            timeout_ns,
            arrivals: Arrivals::new(),
        })
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &FixedTimeoutConfig {
        &self.config
    }

    /// The silence after which the node is suspected.
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }
}

impl FailureDetector for FixedTimeout {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        self.arrivals.check(at)?;
        self.arrivals.accept(at, self.timeout_ns);
        Ok(())
    }

    #[inline]
    fn suspicion(&self, now: Timestamp) -> f64 {
        let Some(silence) = self.arrivals.silence(now) else {
            return 0.0;
        };
        // Division, not multiplication by 1/interval: 15 s / 5 s must be exactly 3.
        let raw = silence.saturating_sub(self.pause_ns) as f64 / self.interval;
        self.arrivals
            .report(now, raw, self.config.missed_heartbeats)
    }

    fn threshold(&self) -> f64 {
        self.config.missed_heartbeats
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
        // The same exact rounding as the timeout itself, so that
        // deadline_for(threshold) is the deadline.
        let offset = if level <= 0.0 {
            1
        } else {
            ceil_ns(level * self.interval).saturating_add(self.pause_ns)
        };
        self.arrivals.deadline_after_ns(offset)
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.arrivals.last()
    }

    fn stats(&self) -> Stats {
        Stats {
            samples: 0,
            mean_ns: self.interval,
            std_dev_ns: 0.0,
            clamped_intervals: 0,
        }
    }

    fn reset(&mut self) {
        self.arrivals = Arrivals::new();
    }
}
