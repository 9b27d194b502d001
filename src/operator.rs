//! Configuration in the units operators think in: "heartbeats every 1 s; suspect a
//! silent node within 5 s; tolerate pauses of 2 s", Akka's and Pekko's
//! `failure-detector` keys, Cassandra's `phi_convict_threshold`, and the warnings
//! those systems give (or should give) about unsafe combinations.
//!
//! Nothing here needs a feature or a dependency. With the `serde` feature the
//! settings structs read Akka's kebab-case and Cassandra's snake_case keys
//! directly from a configuration file.
//!
//! ```
//! use failure_detector::operator::{ConfigWarning, OperatorTargets};
//! use failure_detector::{FailureDetector, PhiAccrual};
//! use std::time::Duration;
//!
//! // Heartbeats every 1 s; suspect a silent node within 5 s; tolerate pauses of 2 s.
//! let targets = OperatorTargets::new(
//!     Duration::from_secs(1),
//!     Duration::from_secs(5),
//!     Duration::from_secs(2),
//! );
//! let tuned = targets.phi_accrual()?;
//! // Akka's threshold (8) and minimum deviation (100 ms) are kept; the slack
//! // between the 2 s asked for and the 5 s bound goes to the acceptable pause.
//! assert_eq!(tuned.threshold, 8.0);
//! assert!(tuned.config.acceptable_heartbeat_pause >= Duration::from_secs(2));
//! assert!(tuned.detection_time <= Duration::from_secs(5));
//! assert!(tuned.warnings.is_empty());
//! let detector = PhiAccrual::new(tuned.config)?;
//! # let _ = detector;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "serde")]
pub(crate) mod duration_serde;

use std::f64::consts::LN_10;
use std::fmt;
use std::time::Duration;

use crate::detectors::ceil_ns;
use crate::detectors::exponential::ExponentialPhiConfig;
use crate::detectors::fixed::FixedTimeoutConfig;
use crate::detectors::phi::PhiAccrualConfig;
use crate::error::{ConfigError, check};
use crate::math::{MIN_PHI_THRESHOLD, check_phi_threshold, logistic_phi, logistic_phi_inverse};
use crate::time::duration_nanos;

/// A combination of settings that builds, but that a production system should not
/// run with, or a target that could not be met. Returned with the configuration,
/// never logged: the caller decides what to do with it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// The heartbeat interval is at least two thirds of the acceptable pause.
    /// Pekko and Akka log "heartbeat interval is growing too large" for every
    /// accepted interval of at least `acceptable_heartbeat_pause / 3 * 2`
    /// (`PhiAccrualFailureDetector.heartbeat`): with this setting a perfectly
    /// steady sender is already "too slow", and little of the pause is left for a
    /// real one.
    IntervalNearPause {
        /// The heartbeat interval.
        interval: Duration,
        /// The acceptable pause.
        pause: Duration,
    },
    /// A steady sender is suspected after at most two heartbeat intervals of
    /// silence, so a single lost heartbeat datagram makes it Suspect.
    OneLostHeartbeatSuspects {
        /// The silence after the last heartbeat at which a steady sender is
        /// suspected.
        detection_time: Duration,
        /// The heartbeat interval.
        interval: Duration,
    },
    /// A phi threshold below 1: by the phi scale's definition the detector is
    /// then wrong more than 10% of the times it suspects a node
    /// (Hayashibara et al. 2004: phi 1 means a 10% chance of a mistake).
    LowThreshold {
        /// The threshold.
        threshold: f64,
    },
    /// Cassandra refuses a `phi_convict_threshold` outside 5 to 16 at startup
    /// (`DatabaseDescriptor`: "phi_convict_threshold must be between 5 and 16").
    /// This crate accepts it, but a value Cassandra would refuse is likely a
    /// mistake (a typo, or a threshold meant for another detector's scale).
    ThresholdOutsideCassandraRange {
        /// The threshold.
        threshold: f64,
    },
    /// The detection bound cannot be met together with the tolerated pause: a
    /// steady sender is suspected `achieved` after its last heartbeat, later than
    /// `requested`. The configuration keeps the tolerance (fewer false
    /// suspicions) and gives up the bound.
    DetectionBoundUnmet {
        /// The bound asked for.
        requested: Duration,
        /// What the returned configuration does.
        achieved: Duration,
    },
    /// Cassandra's `fd_max_interval_ms` is shorter than the gossip interval:
    /// no real interval is ever recorded, and the detector judges every node by
    /// `fd_initial_value_ms` alone.
    IntervalsNeverRecorded {
        /// The longest interval recorded.
        max_interval: Duration,
        /// The heartbeat (gossip) interval.
        interval: Duration,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigWarning::IntervalNearPause { interval, pause } => write!(
                f,
                "heartbeat interval {interval:?} is at least 2/3 of the acceptable pause {pause:?}: every heartbeat looks late (Pekko warns from 2/3)"
            ),
            ConfigWarning::OneLostHeartbeatSuspects {
                detection_time,
                interval,
            } => write!(
                f,
                "a steady sender is suspected {detection_time:?} after its last heartbeat, within two intervals of {interval:?}: one lost heartbeat makes it Suspect"
            ),
            ConfigWarning::LowThreshold { threshold } => write!(
                f,
                "phi threshold {threshold} is below 1: more than 10% of suspicions would be mistakes"
            ),
            ConfigWarning::ThresholdOutsideCassandraRange { threshold } => write!(
                f,
                "phi_convict_threshold {threshold} is outside 5..=16, which Cassandra refuses"
            ),
            ConfigWarning::DetectionBoundUnmet {
                requested,
                achieved,
            } => write!(
                f,
                "cannot suspect within {requested:?} while tolerating the pause: a steady sender is suspected after {achieved:?}"
            ),
            ConfigWarning::IntervalsNeverRecorded {
                max_interval,
                interval,
            } => write!(
                f,
                "max interval {max_interval:?} is shorter than the heartbeat interval {interval:?}: no interval is ever recorded"
            ),
        }
    }
}

/// A configuration derived from operator units or another system's keys, with
/// what it means and what is unsafe about it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tuned<C> {
    /// The detector's configuration: build the detector with it
    /// (`PhiAccrual::new(tuned.config)`), which validates it again.
    pub config: C,
    /// The threshold the configuration implies, on the detector's own scale
    /// (phi, or missed intervals for the fixed timeout).
    pub threshold: f64,
    /// The silence after its last heartbeat at which a steady sender (one
    /// heartbeat exactly every interval) is suspected, once the detector's
    /// window has settled ([`settle_heartbeats`](Self::settle_heartbeats)): the
    /// detector's [`deadline`](crate::FailureDetector::deadline) minus its last
    /// heartbeat, to the nanosecond (within 1 ns of the window's floating-point
    /// mean).
    pub detection_time: Duration,
    /// The suspicion of a steady sender whose next heartbeat is late by the pause
    /// asked to be tolerated (silence of interval plus pause): how close a
    /// tolerated pause comes to the threshold. 0 means no doubt at all.
    pub suspicion_after_pause: f64,
    /// Heartbeats after which `detection_time` holds: for phi, when the window's
    /// bootstrap samples no longer widen its deviation beyond the minimum (before
    /// that a node is suspected later, never earlier); 1 for the fixed timeout; for
    /// Cassandra's model, enough to push the initial value out of the window.
    pub settle_heartbeats: usize,
    /// What is unsafe about the combination; empty if nothing is.
    pub warnings: Vec<ConfigWarning>,
}

/// What an operator asks for: "heartbeats every `heartbeat_interval`; suspect a
/// silent node within `detect_within` of its last heartbeat; tolerate pauses of
/// `tolerate_pause`" (a heartbeat that late must not make the node Suspect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct OperatorTargets {
    /// How often the monitored node sends a heartbeat. Default 1 s (Akka's
    /// `heartbeat-interval`); not zero, at most 2^47 ns (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub heartbeat_interval: Duration,
    /// The longest silence after the last heartbeat before a dead node is
    /// suspected. Default 5 s; not zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub detect_within: Duration,
    /// How late a heartbeat may be (beyond its interval) without the node being
    /// suspected: a GC pause, a busy host. Default 2 s; may be zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub tolerate_pause: Duration,
}

impl Default for OperatorTargets {
    fn default() -> Self {
        OperatorTargets::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(2),
        )
    }
}

/// `a - b` in nanoseconds, or `None` if `b >= a`.
fn positive_gap(a: u64, b: u64) -> Option<u64> {
    a.checked_sub(b).filter(|&gap| gap > 0)
}

impl OperatorTargets {
    /// The targets.
    pub const fn new(
        heartbeat_interval: Duration,
        detect_within: Duration,
        tolerate_pause: Duration,
    ) -> Self {
        OperatorTargets {
            heartbeat_interval,
            detect_within,
            tolerate_pause,
        }
    }

    fn check(&self) -> Result<(u64, u64, u64), ConfigError> {
        let interval = check::recordable("heartbeat_interval", self.heartbeat_interval)?;
        let within = check::nonzero("detect_within", self.detect_within)?;
        Ok((interval, within, duration_nanos(self.tolerate_pause)))
    }

    /// A [`PhiAccrual`](crate::PhiAccrual) configuration on Akka's defaults
    /// (threshold 8, minimum deviation 100 ms): see
    /// [`phi_accrual_from`](Self::phi_accrual_from).
    ///
    /// # Errors
    /// As [`phi_accrual_from`](Self::phi_accrual_from).
    pub fn phi_accrual(&self) -> Result<Tuned<PhiAccrualConfig>, ConfigError> {
        self.phi_accrual_from(PhiAccrualConfig::new())
    }

    /// A [`PhiAccrual`](crate::PhiAccrual) configuration that meets the targets,
    /// starting from `base` (its `threshold`, `min_std_deviation`,
    /// `max_sample_size` and `model` are kept where possible).
    ///
    /// For a steady sender the window's deviation falls to the minimum `σ`, and
    /// the detector suspects after `interval + pause + y(threshold) σ`, where
    /// `y(threshold)` is the standardised silence at which phi reaches the
    /// threshold (5.22 at phi 8 with Akka's logistic model). So:
    ///
    /// 1. The first heartbeat estimate is the interval.
    /// 2. If `interval + tolerate_pause + y σ` fits within `detect_within`, the
    ///    threshold stays and the acceptable pause takes all the room left
    ///    (`detect_within - interval - y σ`, at least `tolerate_pause`): as Akka's
    ///    documentation advises, the pause is the knob; the threshold is not.
    /// 3. Otherwise, if `interval + tolerate_pause < detect_within`, the pause is
    ///    `tolerate_pause` and the threshold is lowered until the bound is met
    ///    ([`ConfigWarning::LowThreshold`] below phi 1).
    /// 4. Otherwise the bound cannot be met without suspecting a tolerated pause:
    ///    the pause and the threshold stay, with
    ///    [`ConfigWarning::DetectionBoundUnmet`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `heartbeat_interval` zero or above 2^47
    /// ns, `detect_within` zero, or any field of `base` that
    /// [`PhiAccrual::new`](crate::PhiAccrual::new) refuses.
    pub fn phi_accrual_from(
        &self,
        base: PhiAccrualConfig,
    ) -> Result<Tuned<PhiAccrualConfig>, ConfigError> {
        let (interval, within, tolerate) = self.check()?;
        let base_threshold = check_phi_threshold(base.threshold)?;
        check::window("max_sample_size", base.max_sample_size)?;
        let min_std = check::recordable("min_std_deviation", base.min_std_deviation)?;
        let inverse = |level: f64| base.model.inverse(level);
        let phi = |y: f64| base.model.phi(y);
        let margin = inverse(base_threshold) * min_std as f64;
        let mut warnings = Vec::new();
        // The detector's mean is the interval as its window stores it.
        let interval = base.resolution.stored_ns(interval);
        let fits = within as f64 - interval as f64 - margin;
        let (mut pause, threshold) = if fits >= tolerate as f64 {
            (fits.floor() as u64, base_threshold)
        } else if let Some(room) = positive_gap(within, interval.saturating_add(tolerate)) {
            // 2 ns of slack for the rounding of y and of the mean.
            let y = room.saturating_sub(2) as f64 / min_std as f64;
            (tolerate, phi(y).max(MIN_PHI_THRESHOLD))
        } else {
            (tolerate, base_threshold)
        };
        let config = base
            .with_first_heartbeat_estimate(Duration::from_nanos(interval))
            .with_acceptable_heartbeat_pause(Duration::from_nanos(pause))
            .with_threshold(threshold);
        // The detector's own arithmetic: mu = mean + pause, deadline offset =
        // ceil(mu + y(threshold) * sigma), with sigma = the minimum once settled.
        let y_threshold = inverse(threshold);
        let detect =
            |pause: u64| ceil_ns((interval as f64 + pause as f64) + y_threshold * min_std as f64);
        let mut detection = detect(pause);
        // Rounding may put the sum a nanosecond past the bound: take it off the
        // pause (never below the tolerance asked for).
        while detection > within && pause > tolerate {
            pause -= 1;
            detection = detect(pause);
        }
        let config = config.with_acceptable_heartbeat_pause(Duration::from_nanos(pause));
        let detection_time = Duration::from_nanos(detection);
        let y_after_pause = (tolerate as f64 - pause as f64) / min_std as f64;
        let suspicion_after_pause = if y_after_pause < inverse(1e-300) {
            0.0
        } else {
            phi(y_after_pause)
        };
        if threshold < 1.0 {
            warnings.push(ConfigWarning::LowThreshold { threshold });
        }
        if detection > within {
            warnings.push(ConfigWarning::DetectionBoundUnmet {
                requested: self.detect_within,
                achieved: detection_time,
            });
        }
        common_warnings(&mut warnings, interval, pause, detection);
        // The bootstrap samples (estimate -/+ a quarter, around a mean of exactly
        // the interval) add a spread of (interval/4) sqrt(2 / n) with n samples in
        // the window; it is below the minimum once n >= interval^2 / (8 sigma^2).
        let ratio = interval as f64 / min_std as f64;
        let needed = (ratio * ratio / 8.0).ceil().max(2.0);
        let settle = (needed as usize).saturating_sub(2).saturating_add(1);
        Ok(Tuned {
            config,
            threshold,
            detection_time,
            suspicion_after_pause,
            settle_heartbeats: settle.clamp(1, base.max_sample_size.max(1) + 1),
            warnings,
        })
    }

    /// A [`FixedTimeout`](crate::FixedTimeout) configuration: interval as given,
    /// acceptable pause `tolerate_pause`, and `missed_heartbeats =
    /// (detect_within - tolerate_pause) / interval` (the threshold), so that the
    /// node is suspected exactly `detect_within` after its last heartbeat. If
    /// `detect_within <= tolerate_pause` the bound cannot be met: one missed
    /// interval on top of the pause, with [`ConfigWarning::DetectionBoundUnmet`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `heartbeat_interval` zero or above 2^47
    /// ns, `detect_within` zero.
    pub fn fixed_timeout(&self) -> Result<Tuned<FixedTimeoutConfig>, ConfigError> {
        let (interval, within, tolerate) = self.check()?;
        let missed = match positive_gap(within, tolerate) {
            Some(room) => {
                // The detector's timeout is ceil(missed * interval) + pause: step
                // down past any rounding that would put it a nanosecond late.
                let mut missed = room as f64 / interval as f64;
                while ceil_ns(missed * interval as f64) > room && missed > f64::MIN_POSITIVE {
                    missed = missed.next_down();
                }
                missed
            }
            None => 1.0,
        };
        let config = FixedTimeoutConfig::new()
            .with_interval(self.heartbeat_interval)
            .with_missed_heartbeats(missed)
            .with_acceptable_pause(self.tolerate_pause);
        let detection = ceil_ns(missed * interval as f64).saturating_add(tolerate);
        let mut warnings = Vec::new();
        if detection > within {
            warnings.push(ConfigWarning::DetectionBoundUnmet {
                requested: self.detect_within,
                achieved: Duration::from_nanos(detection),
            });
        }
        common_warnings(&mut warnings, interval, tolerate, detection);
        // Silence interval + pause: (interval + pause - pause) / interval = 1.
        Ok(Tuned {
            config,
            threshold: missed,
            detection_time: Duration::from_nanos(detection),
            suspicion_after_pause: 1.0,
            settle_heartbeats: 1,
            warnings,
        })
    }

    /// An [`ExponentialPhi`](crate::ExponentialPhi) configuration (Cassandra's
    /// model): phi grows as `silence / (mean ln 10)`, so for a steady sender the
    /// threshold `detect_within / (interval ln 10)` suspects it at
    /// `detect_within`. The initial interval is the interval, and the longest
    /// recorded interval is `interval + tolerate_pause` (Cassandra records no
    /// interval longer than `fd_max_interval_ms`). The model has no separate pause:
    /// any silence shorter than `detect_within` is tolerated.
    ///
    /// Warns [`ConfigWarning::ThresholdOutsideCassandraRange`] if the threshold
    /// is outside the 5 to 16 Cassandra accepts (with a 1 s interval: a bound
    /// under 11.5 s or over 36.8 s), and [`ConfigWarning::DetectionBoundUnmet`] if
    /// `detect_within` is not longer than `interval + tolerate_pause`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `heartbeat_interval` zero or above 2^47
    /// ns, `detect_within` zero, or a threshold under 1e-290.
    pub fn exponential_phi(&self) -> Result<Tuned<ExponentialPhiConfig>, ConfigError> {
        let (interval, within, tolerate) = self.check()?;
        // The detector's mean is the interval as its window stores it.
        let interval = ExponentialPhiConfig::new().resolution.stored_ns(interval);
        let mut threshold = check_phi_threshold(within as f64 / (interval as f64 * LN_10))?;
        // The deadline is ceil(threshold ln 10 mean): step down past rounding.
        while ceil_ns(threshold * LN_10 * interval as f64) > within && threshold > MIN_PHI_THRESHOLD
        {
            threshold = threshold.next_down();
        }
        let max_interval = interval
            .saturating_add(tolerate)
            .min(crate::window::MAX_INTERVAL_NS);
        let config = ExponentialPhiConfig::new()
            .with_threshold(threshold)
            .with_initial_interval(self.heartbeat_interval)
            .with_max_interval(Duration::from_nanos(max_interval));
        let detection = ceil_ns(threshold * LN_10 * interval as f64);
        let mut warnings = Vec::new();
        if !(5.0..=16.0).contains(&threshold) {
            warnings.push(ConfigWarning::ThresholdOutsideCassandraRange { threshold });
        }
        if within <= interval.saturating_add(tolerate) {
            warnings.push(ConfigWarning::DetectionBoundUnmet {
                requested: self.detect_within,
                achieved: Duration::from_nanos(detection),
            });
        }
        common_warnings(&mut warnings, interval, tolerate, detection);
        let silence = interval.saturating_add(tolerate) as f64;
        Ok(Tuned {
            config,
            threshold,
            detection_time: Duration::from_nanos(detection),
            suspicion_after_pause: silence / (interval as f64 * LN_10),
            settle_heartbeats: 1,
            warnings,
        })
    }
}

/// The warnings every detector shares.
fn common_warnings(warnings: &mut Vec<ConfigWarning>, interval: u64, pause: u64, detection: u64) {
    if interval >= slow_heartbeat_ns(pause) {
        warnings.push(ConfigWarning::IntervalNearPause {
            interval: Duration::from_nanos(interval),
            pause: Duration::from_nanos(pause),
        });
    }
    if detection <= interval.saturating_mul(2) {
        warnings.push(ConfigWarning::OneLostHeartbeatSuspects {
            detection_time: Duration::from_nanos(detection),
            interval: Duration::from_nanos(interval),
        });
    }
}

fn slow_heartbeat_ns(pause: u64) -> u64 {
    pause / 3 * 2
}

/// The interval at and above which Pekko calls a heartbeat slow: two thirds of
/// the acceptable pause, `pause / 3 * 2` (Pekko and Akka,
/// `PhiAccrualFailureDetector.heartbeat`, which logs "heartbeat interval is
/// growing too large" for such an interval while the node is available). Pekko
/// computes it in whole milliseconds; this in whole nanoseconds.
///
/// Give it to [`RegistryConfig::slow_heartbeat`](crate::RegistryConfig::slow_heartbeat)
/// to have the registry report such heartbeats.
///
/// ```
/// use failure_detector::operator::pekko_slow_heartbeat;
/// use std::time::Duration;
/// assert_eq!(pekko_slow_heartbeat(Duration::from_secs(3)), Duration::from_secs(2));
/// ```
pub fn pekko_slow_heartbeat(acceptable_heartbeat_pause: Duration) -> Duration {
    Duration::from_nanos(slow_heartbeat_ns(duration_nanos(
        acceptable_heartbeat_pause,
    )))
}

/// Akka's and Pekko's phi-accrual failure detector settings, under their own key
/// names (`akka.cluster.failure-detector` / `pekko.cluster.failure-detector` in
/// `reference.conf`), with their defaults.
///
/// With the `serde` feature it reads the keys as Akka spells them, kebab-case
/// (`heartbeat-interval = "1s"`); a key it does not know is an error, so a typo
/// fails loudly. Akka's other keys in that section
/// (`implementation-class`, `expected-response-after`,
/// `monitored-by-nr-of-members`) are not failure-detector parameters here: leave
/// them out.
///
/// ```
/// use failure_detector::operator::AkkaFailureDetectorSettings;
/// use failure_detector::{FailureDetector, PhiAccrual};
/// use std::time::Duration;
///
/// let akka = AkkaFailureDetectorSettings {
///     acceptable_heartbeat_pause: Duration::from_secs(7),
///     ..AkkaFailureDetectorSettings::default()
/// };
/// let tuned = akka.phi_accrual()?;
/// assert_eq!(tuned.config.acceptable_heartbeat_pause, Duration::from_secs(7));
/// assert!(tuned.warnings.is_empty());
/// let _detector = PhiAccrual::new(tuned.config)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields, rename_all = "kebab-case")
)]
pub struct AkkaFailureDetectorSettings {
    /// `threshold`: phi at which a node is suspected. Default 8.0; finite, at
    /// least 1e-290 (Akka: greater than 0).
    pub threshold: f64,
    /// `max-sample-size`: intervals kept. Default 1000; 1 to 32,768.
    pub max_sample_size: usize,
    /// `min-std-deviation`: the least deviation phi assumes. Default 100 ms; not
    /// zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub min_std_deviation: Duration,
    /// `acceptable-heartbeat-pause`: silence tolerated on top of the mean
    /// interval. Default 3 s; may be zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub acceptable_heartbeat_pause: Duration,
    /// `heartbeat-interval`: how often heartbeats are sent; Akka's detector uses
    /// it as its first heartbeat estimate. Default 1 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub heartbeat_interval: Duration,
}

impl Default for AkkaFailureDetectorSettings {
    /// Akka's and Pekko's cluster defaults (`reference.conf`): threshold 8.0,
    /// max-sample-size 1000, min-std-deviation 100 ms, acceptable-heartbeat-pause
    /// 3 s, heartbeat-interval 1 s.
    fn default() -> Self {
        AkkaFailureDetectorSettings {
            threshold: 8.0,
            max_sample_size: 1000,
            min_std_deviation: Duration::from_millis(100),
            acceptable_heartbeat_pause: Duration::from_secs(3),
            heartbeat_interval: Duration::from_secs(1),
        }
    }
}

impl AkkaFailureDetectorSettings {
    /// The [`PhiAccrualConfig`] these keys mean (Akka's logistic model), what a
    /// steady sender's detection time is, and Pekko's warnings.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field as this crate spells it (`threshold`,
    /// `max_sample_size`, `min_std_deviation`, `acceptable_heartbeat_pause`,
    /// `heartbeat_interval`): NaN, infinite, zero or out of range, where Akka
    /// would refuse it too (it requires threshold > 0, max-sample-size > 0,
    /// min-std-deviation > 0, acceptable-heartbeat-pause >= 0,
    /// heartbeat-interval > 0).
    pub fn phi_accrual(&self) -> Result<Tuned<PhiAccrualConfig>, ConfigError> {
        let threshold = check_phi_threshold(self.threshold)?;
        check::window("max_sample_size", self.max_sample_size)?;
        let min_std = check::recordable("min_std_deviation", self.min_std_deviation)?;
        let interval = check::recordable("heartbeat_interval", self.heartbeat_interval)?;
        let pause = duration_nanos(self.acceptable_heartbeat_pause);
        let config = PhiAccrualConfig::new()
            .with_threshold(threshold)
            .with_max_sample_size(self.max_sample_size)
            .with_min_std_deviation(self.min_std_deviation)
            .with_acceptable_heartbeat_pause(self.acceptable_heartbeat_pause)
            .with_first_heartbeat_estimate(self.heartbeat_interval);
        let y = logistic_phi_inverse(threshold);
        // The detector's mean is the interval as its window stores it.
        let stored = config.resolution.stored_ns(interval);
        let detection = ceil_ns((stored as f64 + pause as f64) + y * min_std as f64);
        let mut warnings = Vec::new();
        if threshold < 1.0 {
            warnings.push(ConfigWarning::LowThreshold { threshold });
        }
        common_warnings(&mut warnings, interval, pause, detection);
        let ratio = interval as f64 / min_std as f64;
        let settle = ((ratio * ratio / 8.0).ceil().max(2.0) as usize).saturating_sub(1);
        Ok(Tuned {
            config,
            threshold,
            detection_time: Duration::from_nanos(detection),
            // A heartbeat late by the acceptable pause: silence = interval + pause.
            suspicion_after_pause: logistic_phi(0.0),
            settle_heartbeats: settle.clamp(1, self.max_sample_size + 1),
            warnings,
        })
    }
}

/// Cassandra's failure detector settings (`cassandra.yaml` and the
/// `cassandra.fd_*` system properties of `gms/FailureDetector.java`), with
/// Cassandra's defaults, for an [`ExponentialPhi`](crate::ExponentialPhi).
///
/// With the `serde` feature it reads Cassandra's snake_case keys; unknown keys
/// are refused. Cassandra gossips every second (`Gossiper.intervalInMillis`, not
/// configurable), so the detection time of a steady node is
/// `phi_convict_threshold * ln 10` seconds: 18.4 s at the default 8.
///
/// ```
/// use failure_detector::operator::{CassandraFailureDetectorSettings, ConfigWarning};
///
/// let fd = CassandraFailureDetectorSettings { phi_convict_threshold: 4.0, ..Default::default() };
/// let tuned = fd.exponential_phi()?;
/// assert!(matches!(
///     tuned.warnings[..],
///     [ConfigWarning::ThresholdOutsideCassandraRange { .. }]
/// ));
/// # Ok::<(), failure_detector::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct CassandraFailureDetectorSettings {
    /// `phi_convict_threshold` (`cassandra.yaml`). Default 8; Cassandra refuses
    /// values outside 5 to 16 at startup, this crate warns
    /// ([`ConfigWarning::ThresholdOutsideCassandraRange`]).
    pub phi_convict_threshold: f64,
    /// `cassandra.fd_initial_value_ms`: the interval assumed at the first
    /// heartbeat, in milliseconds. Default 2000 (twice the gossip interval);
    /// not zero.
    pub fd_initial_value_ms: u64,
    /// `cassandra.fd_max_interval_ms`: intervals longer than this are not
    /// recorded, in milliseconds. Default 2000 (the initial value); not zero.
    pub fd_max_interval_ms: u64,
}

impl Default for CassandraFailureDetectorSettings {
    /// Cassandra's defaults: threshold 8, initial and maximum interval 2 s.
    fn default() -> Self {
        CassandraFailureDetectorSettings {
            phi_convict_threshold: 8.0,
            fd_initial_value_ms: 2_000,
            fd_max_interval_ms: 2_000,
        }
    }
}

impl CassandraFailureDetectorSettings {
    /// Cassandra's gossip interval (`Gossiper.intervalInMillis`): 1 s.
    pub const GOSSIP_INTERVAL: Duration = Duration::from_secs(1);

    /// The [`ExponentialPhiConfig`] these keys mean (window 1000, Cassandra's
    /// `SAMPLE_SIZE`), the detection time of a node gossiping every second, and
    /// the warnings.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `threshold` (from
    /// `phi_convict_threshold`) NaN, infinite or under 1e-290;
    /// `initial_interval` or `max_interval` (from the `_ms` keys) zero or above
    /// 2^47 ns.
    pub fn exponential_phi(&self) -> Result<Tuned<ExponentialPhiConfig>, ConfigError> {
        let threshold = check_phi_threshold(self.phi_convict_threshold)?;
        let initial = Duration::from_millis(self.fd_initial_value_ms);
        let max = Duration::from_millis(self.fd_max_interval_ms);
        check::recordable("initial_interval", initial)?;
        let max_ns = check::recordable("max_interval", max)?;
        let config = ExponentialPhiConfig::new()
            .with_threshold(threshold)
            .with_initial_interval(initial)
            .with_max_interval(max);
        let interval = duration_nanos(Self::GOSSIP_INTERVAL);
        let mut warnings = Vec::new();
        if !(5.0..=16.0).contains(&threshold) {
            warnings.push(ConfigWarning::ThresholdOutsideCassandraRange { threshold });
        }
        let mean = if max_ns < interval {
            warnings.push(ConfigWarning::IntervalsNeverRecorded {
                max_interval: max,
                interval: Self::GOSSIP_INTERVAL,
            });
            duration_nanos(initial)
        } else {
            interval
        };
        let detection = ceil_ns(threshold * LN_10 * mean as f64);
        if detection <= interval.saturating_mul(2) {
            warnings.push(ConfigWarning::OneLostHeartbeatSuspects {
                detection_time: Duration::from_nanos(detection),
                interval: Self::GOSSIP_INTERVAL,
            });
        }
        Ok(Tuned {
            config,
            threshold,
            detection_time: Duration::from_nanos(detection),
            // One gossip round late: silence of two intervals.
            suspicion_after_pause: 2.0 * interval as f64 / (mean as f64 * LN_10),
            // The window holds 1000 intervals, the first one the initial value.
            settle_heartbeats: if mean == interval { 1001 } else { 1 },
            warnings,
        })
    }
}
