//! The two-windows detector (2W-FD) of Tomsic, Sens, Garcia, Arantes and Sopena
//! ("2W-FD: A Failure Detector Algorithm with QoS", IPDPS 2015).

use std::time::Duration;

#[cfg(doc)]
use crate::detectors::FailureDetector;
use crate::error::{ConfigError, HeartbeatError, check};
use crate::estimate::{MarginDetector, Tracker, margin_detector_impl};
use crate::time::Timestamp;

/// Configuration of a [`TwoWindows`] detector.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct TwoWindowsConfig {
    /// The sender's heartbeat period (`eta`). Default 1 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub interval: Duration,
    /// Arrivals in the long window (`n1`), which gives a stable estimate. Default
    /// 1000; 1 to 32,768.
    pub long_window: usize,
    /// Arrivals in the short window (`n2`), which reacts at once to a sudden change.
    /// Default 1; 1 to `long_window`.
    pub short_window: usize,
    /// Silence tolerated after the later of the two expected arrivals (`alpha`);
    /// also the threshold, in seconds. Default 500 ms; not zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub safety_margin: Duration,
}

impl TwoWindowsConfig {
    /// The defaults: 1 s period, windows of 1000 and 1 arrivals, 500 ms margin (the
    /// [`Default`]).
    pub const fn new() -> Self {
        TwoWindowsConfig {
            interval: Duration::from_secs(1),
            long_window: 1000,
            short_window: 1,
            safety_margin: Duration::from_millis(500),
        }
    }

    /// Sets [`interval`](Self::interval).
    pub const fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`long_window`](Self::long_window).
    pub const fn with_long_window(mut self, long_window: usize) -> Self {
        self.long_window = long_window;
        self
    }

    /// Sets [`short_window`](Self::short_window).
    pub const fn with_short_window(mut self, short_window: usize) -> Self {
        self.short_window = short_window;
        self
    }

    /// Sets [`safety_margin`](Self::safety_margin).
    pub const fn with_safety_margin(mut self, margin: Duration) -> Self {
        self.safety_margin = margin;
        self
    }
}

impl Default for TwoWindowsConfig {
    fn default() -> Self {
        TwoWindowsConfig::new()
    }
}

/// The two-windows failure detector: the later of two Chen estimates, one over a long
/// window of arrivals and one over a short one, plus a safety margin.
///
/// With `EA_n(k+1)` Chen's expected arrival over the last `n` arrivals (see
/// [`Chen`](crate::Chen)), the freshness point is (Tomsic et al. 2015, section IV)
///
/// ```text
/// tau(k+1) = max(EA_n1(k+1), EA_n2(k+1)) + alpha
/// ```
///
/// The long window smooths jitter; the short one follows a sudden rise in delay at
/// once, so the detector does not keep suspecting a node whose network just got
/// slower. Suspicion is the time past the later expected arrival, in seconds, and
/// the threshold is `alpha` in seconds. Both windows share one ring of `n1` values;
/// O(1) per heartbeat. Sequence numbers are inferred from the estimated schedule as for
/// [`Chen`](crate::Chen), or given with [`heartbeat_with_seq`](Self::heartbeat_with_seq),
/// and the windows are re-anchored after a stall that moved the schedule's phase as
/// Chen's is (see "After a stall" there; until the move is confirmed the later
/// expected arrival is also at least the one that rule gives). As for Chen, both expected arrivals are at most 18 periods after the last
/// heartbeat, so the deadline is at most `18 * interval + safety_margin` after it.
///
/// ```
/// use failure_detector::{FailureDetector, Timestamp, TwoWindows, TwoWindowsConfig};
/// use std::time::Duration;
///
/// let cfg = TwoWindowsConfig::new()
///     .with_interval(Duration::from_millis(100))
///     .with_safety_margin(Duration::from_millis(20));
/// let mut fd = TwoWindows::new(cfg).unwrap();
/// for i in 0..100 {
///     fd.heartbeat(Timestamp::from_millis(100 * i + 5)).unwrap(); // 5 ms delay
/// }
/// // The delay jumps to 50 ms: the short window expects the next one 50 ms late.
/// fd.heartbeat(Timestamp::from_millis(10_050)).unwrap();
/// assert_eq!(fd.deadline(), Some(Timestamp::from_millis(10_170)));
/// ```
///
/// Memory: `size_of::<TwoWindows>()` (under 300 bytes) plus 16 bytes per slot of the
/// long window.
#[derive(Clone, Debug)]
pub struct TwoWindows {
    config: TwoWindowsConfig,
    core: MarginDetector,
}

impl TwoWindows {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `interval` zero or above 2^47 ns,
    /// `long_window` zero or above 32,768, `short_window` zero or above
    /// `long_window`, `safety_margin` zero.
    pub fn new(config: TwoWindowsConfig) -> Result<Self, ConfigError> {
        let eta = check::recordable("interval", config.interval)?;
        let long = check::window("long_window", config.long_window)?;
        let short = check::window("short_window", config.short_window)?;
        if short > long {
            return Err(ConfigError::OutOfRange {
                field: "short_window",
                allowed: "at most `long_window`",
            });
        }
        check::nonzero("safety_margin", config.safety_margin)?;
        let margin = config.safety_margin.as_secs_f64();
        let tracker = Tracker::new(long, short, eta);
        Ok(TwoWindows {
            config,
            core: MarginDetector::new(tracker, eta, margin, true),
        })
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &TwoWindowsConfig {
        &self.config
    }
}

margin_detector_impl!(TwoWindows);
