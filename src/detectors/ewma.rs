//! Constant-memory phi: an exponentially weighted mean and variance of the intervals
//! (no window) feeding the phi models of [`PhiAccrual`](crate::PhiAccrual) and
//! [`ExponentialPhi`](crate::ExponentialPhi).
//!
//! The smoothing is TCP's retransmission-timer estimator (RFC 6298, section 2:
//! `RTTVAR <- (1 - beta) RTTVAR + beta |SRTT - R'|`, then
//! `SRTT <- (1 - alpha) SRTT + alpha R'`, with `alpha = 1/8` and `beta = 1/4`),
//! with the squared deviation in place of the absolute one, so that the second
//! estimate is a variance and phi's normal model can use it as the window's.

use std::f64::consts::{LN_10, LOG10_E};
use std::sync::Arc;
use std::time::Duration;

use crate::detectors::phi::PhiModel;
use crate::detectors::{Arrivals, FailureDetector, Stats, ceil_ns};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::math::{PHI_FLOOR, check_phi_threshold};
use crate::time::{Timestamp, duration_nanos};
use crate::window::MAX_INTERVAL_NS;

/// Which phi an [`EwmaPhi`] computes from its smoothed mean and variance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum EwmaModel {
    /// Normal model with Akka's logistic approximation, as
    /// [`PhiModel::Logistic`](crate::PhiModel::Logistic): `y = (silence - mean -
    /// pause) / max(std, min_std)`.
    #[default]
    Logistic,
    /// Normal model with the exact normal tail, as
    /// [`PhiModel::Normal`](crate::PhiModel::Normal).
    Normal,
    /// Cassandra's exponential model, as [`ExponentialPhi`](crate::ExponentialPhi):
    /// `phi = silence / (mean * ln 10)`. The pause and the minimum deviation do not
    /// apply.
    Exponential,
}

impl EwmaModel {
    /// The normal model this is, if it is one.
    fn normal(self) -> Option<PhiModel> {
        match self {
            EwmaModel::Logistic => Some(PhiModel::Logistic),
            EwmaModel::Normal => Some(PhiModel::Normal),
            EwmaModel::Exponential => None,
        }
    }
}

/// Configuration of an [`EwmaPhi`] detector. Defaults: Akka's for what phi shares
/// with [`PhiAccrualConfig`](crate::PhiAccrualConfig), RFC 6298's gains.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct EwmaPhiConfig {
    /// Phi at and above which the node is unavailable. Default 8.0; finite, at least
    /// 1e-290 (as [`PhiAccrual`](crate::PhiAccrual)).
    pub threshold: f64,
    /// Weight of a new interval in the mean: `mean += mean_gain * (x - mean)`.
    /// Default 0.125 (RFC 6298's alpha, 1/8: the mean follows about the last 15
    /// intervals); finite, above 0, at most 1.
    pub mean_gain: f64,
    /// Weight of a new squared deviation in the variance:
    /// `var += variance_gain * ((x - mean)^2 - var)`, with the mean before the
    /// interval. Default 0.25 (RFC 6298's beta, 1/4); finite, above 0, at most 1.
    pub variance_gain: f64,
    /// Lower bound on the standard deviation of the normal models. Default 100 ms
    /// (Akka's); not zero, at most 2^47 ns (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub min_std_deviation: Duration,
    /// Silence tolerated on top of the mean by the normal models. Default 3 s
    /// (Akka's); may be zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub acceptable_heartbeat_pause: Duration,
    /// The mean before any interval is measured; the variance starts at a quarter
    /// of it, squared (the deviation of Akka's two bootstrap samples). Default 1 s;
    /// not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub first_heartbeat_estimate: Duration,
    /// Which phi. Default [`EwmaModel::Logistic`].
    pub model: EwmaModel,
}

impl EwmaPhiConfig {
    /// The defaults (the [`Default`]).
    pub const fn new() -> Self {
        EwmaPhiConfig {
            threshold: 8.0,
            mean_gain: 0.125,
            variance_gain: 0.25,
            min_std_deviation: Duration::from_millis(100),
            acceptable_heartbeat_pause: Duration::from_secs(3),
            first_heartbeat_estimate: Duration::from_secs(1),
            model: EwmaModel::Logistic,
        }
    }

    /// Sets [`threshold`](Self::threshold).
    pub const fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`mean_gain`](Self::mean_gain).
    pub const fn with_mean_gain(mut self, gain: f64) -> Self {
        self.mean_gain = gain;
        self
    }

    /// Sets [`variance_gain`](Self::variance_gain).
    pub const fn with_variance_gain(mut self, gain: f64) -> Self {
        self.variance_gain = gain;
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
    pub const fn with_model(mut self, model: EwmaModel) -> Self {
        self.model = model;
        self
    }
}

impl Default for EwmaPhiConfig {
    fn default() -> Self {
        EwmaPhiConfig::new()
    }
}

/// Phi from an exponentially weighted mean and variance of the intervals: constant
/// memory (40 bytes on 64-bit targets, whatever the history), for fleets too large
/// for a window per node.
///
/// As [`PhiAccrual`](crate::PhiAccrual), an interval is recorded only if the node
/// was available when the heartbeat that ends it arrived, and intervals are clamped
/// at 2^47 ns (about 39 hours; not counted: the detector keeps no counter). Each recorded interval `x` updates, in this order (RFC 6298's, with
/// the squared deviation):
///
/// ```text
/// var  <- var  + variance_gain * ((x - mean)^2 - var)
/// mean <- mean + mean_gain * (x - mean)
/// ```
///
/// The mean stays within the range of the intervals seen (and the estimate), the
/// variance is never negative and never NaN. The trade-off against a window is
/// statistical, not numerical: the estimates follow the last dozen intervals or so
/// (a window of 1000 averages over 1000), so they react faster to a change of the
/// sender and are noisier on a steady one; `docs/memory.md` measures it on the
/// shipped traces. A query costs a square root and a division more than
/// `PhiAccrual`'s (the deviation is not stored, to keep the detector at 40 bytes).
///
/// ```
/// use failure_detector::{EwmaPhi, EwmaPhiConfig, FailureDetector, Timestamp};
///
/// let mut fd = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
/// for i in 0..10 {
///     fd.heartbeat(Timestamp::from_secs(i)).unwrap(); // every second
/// }
/// assert!(fd.is_available(Timestamp::from_secs(12)));
/// assert!(!fd.is_available(Timestamp::from_secs(20)));
/// let deadline = fd.deadline().unwrap(); // phi reaches 8 about 4.2 s after the last
/// assert!(deadline > Timestamp::from_secs(13) && deadline < Timestamp::from_secs(14));
/// assert_eq!(fd.memory_bytes(), 40);
/// ```
///
/// Memory: `size_of::<EwmaPhi>()`, 40 bytes, no heap. The configuration and the
/// constants derived from it live in one block shared by every clone (a registry's
/// nodes share their prototype's), not counted in
/// [`memory_bytes`](FailureDetector::memory_bytes).
#[derive(Clone, Debug)]
pub struct EwmaPhi {
    arrivals: Arrivals,
    /// Smoothed mean interval, ns.
    mean: f64,
    /// Smoothed variance of the intervals, ns^2.
    var: f64,
    params: Arc<EwmaParams>,
}

#[derive(Debug)]
struct EwmaParams {
    pause_ns: f64,
    /// `min_std_deviation`, ns, and its square.
    min_std: f64,
    min_var: f64,
    /// Standardised silence at which phi reaches the threshold (normal models).
    y_threshold: f64,
    /// Standardised silence below which phi < `PHI_FLOOR` (reported as 0).
    y_floor: f64,
    /// `threshold * ln 10`: the deadline of the exponential model in means.
    exp_threshold: f64,
    estimate_ns: f64,
    config: EwmaPhiConfig,
}

/// A gain: finite, above 0, at most 1.
fn gain(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let value = check::positive(field, value)?;
    if value > 1.0 {
        Err(ConfigError::OutOfRange {
            field,
            allowed: "above 0 and at most 1",
        })
    } else {
        Ok(value)
    }
}

impl EwmaPhi {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `threshold` NaN, infinite or below 1e-290;
    /// a gain NaN, infinite, not above 0 or above 1; `min_std_deviation` or
    /// `first_heartbeat_estimate` zero or above 2^47 ns.
    pub fn new(config: EwmaPhiConfig) -> Result<Self, ConfigError> {
        let threshold = check_phi_threshold(config.threshold)?;
        gain("mean_gain", config.mean_gain)?;
        gain("variance_gain", config.variance_gain)?;
        let min_std = check::recordable("min_std_deviation", config.min_std_deviation)? as f64;
        let estimate =
            check::recordable("first_heartbeat_estimate", config.first_heartbeat_estimate)?;
        // The exponential model has no standardised silence: unused there.
        let normal = config.model.normal().unwrap_or_default();
        let (y_threshold, y_floor) = (normal.inverse(threshold), normal.inverse(PHI_FLOOR));
        let params = EwmaParams {
            pause_ns: duration_nanos(config.acceptable_heartbeat_pause) as f64,
            min_std,
            min_var: min_std * min_std,
            y_threshold,
            y_floor,
            exp_threshold: threshold * LN_10,
            estimate_ns: estimate as f64,
            config,
        };
        let mut fd = EwmaPhi {
            arrivals: Arrivals::new(),
            mean: 0.0,
            var: 0.0,
            params: Arc::new(params),
        };
        fd.reset();
        Ok(fd)
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &EwmaPhiConfig {
        &self.params.config
    }

    /// The standard deviation the normal models use: the smoothed one, at least
    /// the minimum.
    #[inline]
    fn sigma(&self) -> f64 {
        if self.var > self.params.min_var {
            self.var.sqrt()
        } else {
            self.params.min_std
        }
    }

    /// The offset from the last heartbeat at which the suspicion reaches the level
    /// whose standardised silence is `y` (normal models) or `level` itself
    /// (exponential), rounded up.
    #[inline]
    fn offset_for(&self, y: f64, level: f64) -> u64 {
        match self.params.config.model {
            EwmaModel::Exponential => ceil_ns(level * LN_10 * self.mean),
            _ => ceil_ns(self.mean + self.params.pause_ns + y * self.sigma()),
        }
    }

    /// The deadline's offset under the current statistics.
    #[inline]
    fn offset_ns(&self) -> u64 {
        match self.params.config.model {
            EwmaModel::Exponential => ceil_ns(self.params.exp_threshold * self.mean),
            _ => self.offset_for(self.params.y_threshold, self.params.config.threshold),
        }
    }

    #[inline]
    fn record(&mut self, interval_ns: u64) {
        let x = interval_ns.min(MAX_INTERVAL_NS) as i64 as f64;
        let d = x - self.mean;
        let config = &self.params.config;
        self.var += config.variance_gain * (d * d - self.var);
        self.mean += config.mean_gain * d;
    }
}

impl FailureDetector for EwmaPhi {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        let offset = match self.arrivals.check(at)? {
            Some((interval, true)) => {
                self.record(interval);
                self.offset_ns()
            }
            // Not available: the statistics, hence the offset, stay as they were.
            Some((_, false)) => self.arrivals.offset_ns(),
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
        let params = &*self.params;
        let raw = match params.config.model.normal() {
            None => silence * (LOG10_E / self.mean),
            Some(model) => {
                let y = (silence - self.mean - params.pause_ns) / self.sigma();
                if y < params.y_floor {
                    0.0
                } else {
                    model.phi(y)
                }
            }
        };
        self.arrivals.report(now, raw, params.config.threshold)
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
        // The same arithmetic as the heartbeat's, so that
        // deadline_for(threshold) == deadline().
        let offset = if level == self.params.config.threshold {
            self.offset_ns()
        } else {
            let y = self
                .params
                .config
                .model
                .normal()
                .map_or(0.0, |m| m.inverse(level));
            self.offset_for(y, level)
        };
        self.arrivals.deadline_after_ns(offset)
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.arrivals.last()
    }

    /// `samples` is 0: no interval is kept.
    fn stats(&self) -> Stats {
        Stats {
            samples: 0,
            mean_ns: self.mean,
            std_dev_ns: self.var.sqrt(),
            clamped_intervals: 0,
        }
    }

    fn reset(&mut self) {
        let estimate = self.params.estimate_ns;
        self.mean = estimate;
        self.var = (estimate / 4.0) * (estimate / 4.0);
        self.arrivals = Arrivals::new();
    }
}
