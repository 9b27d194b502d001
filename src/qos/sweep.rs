//! Threshold sweeps: the trade-off curve of detection time against mistakes.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::time::Duration;

use super::replay::{Metrics, ReplayConfig, millis, replay, replay_levels};
use super::trace::Trace;
use crate::detectors::FailureDetector;
use crate::error::ConfigError;
use crate::{
    Bertier, BertierConfig, Chen, ChenConfig, ExponentialPhi, ExponentialPhiConfig, FixedTimeout,
    FixedTimeoutConfig, PhiAccrual, PhiAccrualConfig, PhiModel, Satzger, SatzgerConfig, TwoWindows,
    TwoWindowsConfig,
};

/// One threshold of a sweep and what the detector achieved with it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SweepPoint {
    /// The threshold, on the detector's own scale.
    pub threshold: f64,
    /// The metrics of the replay.
    pub metrics: Metrics,
}

/// The curve of detection time against mistakes of one detector family over a range
/// of thresholds ([`sweep`], [`Family::sweep`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Sweep {
    /// The detector: for [`Family::sweep`] and [`FamilyConfig::sweep`], its
    /// [`label`](FamilyConfig::label) (family and every parameter but the threshold).
    pub detector: String,
    /// One point per threshold, in the order given.
    pub points: Vec<SweepPoint>,
}

/// Replays `trace` through the detector `make(threshold)` builds, for each threshold.
///
/// ```
/// use failure_detector::qos::{sweep, ReplayConfig, Scenario, Delay};
/// use failure_detector::{FixedTimeout, FixedTimeoutConfig};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let trace = Scenario::new(ms(100))
///     .jitter(Delay::normal(ms(20), ms(10))?)
///     .generate(7, 5_000)?;
/// let base = FixedTimeoutConfig::new().with_interval(ms(100));
/// let curve = sweep("fixed", &trace, &ReplayConfig::new(), &[1.1, 1.5, 3.0], |t| {
///     FixedTimeout::new(base.with_missed_heartbeats(t))
/// })?;
/// // A longer timeout: slower detection, fewer mistakes.
/// let [a, b, c] = [0, 1, 2].map(|i| curve.points[i].metrics);
/// assert!(a.detection.mean < b.detection.mean && b.detection.mean < c.detection.mean);
/// assert!(a.mistakes > b.mistakes && b.mistakes >= c.mistakes);
/// println!("{}", curve.table());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The first [`ConfigError`] of `make`.
pub fn sweep<D, F>(
    detector: &str,
    trace: &Trace,
    config: &ReplayConfig,
    thresholds: &[f64],
    mut make: F,
) -> Result<Sweep, ConfigError>
where
    D: FailureDetector,
    F: FnMut(f64) -> Result<D, ConfigError>,
{
    let mut points = Vec::with_capacity(thresholds.len());
    for &threshold in thresholds {
        let mut fd = make(threshold)?;
        points.push(SweepPoint {
            threshold,
            metrics: replay(&mut fd, trace, config),
        });
    }
    Ok(Sweep {
        detector: detector.to_string(),
        points,
    })
}

impl Sweep {
    /// The CSV header of [`write_csv`](Self::write_csv).
    pub const CSV_HEADER: &'static str = "detector,threshold,td_mean_ms,td_p99_ms,td_max_ms,\
        mistakes,mistake_rate_per_s,mistake_duration_ms,mistake_recurrence_s,query_accuracy";

    /// Writes one CSV row per point (no header: see
    /// [`CSV_HEADER`](Self::CSV_HEADER)), so that several sweeps can share a file.
    /// Times in milliseconds (recurrence in seconds); empty fields where undefined.
    /// The detector's label is quoted (RFC 4180: in double quotes, a quote doubled)
    /// when it holds a comma, a quote or a line break, as labels with parameters do.
    ///
    /// # Errors
    /// Any error of `writer`.
    pub fn write_csv(&self, mut writer: impl Write) -> io::Result<()> {
        let ms = |d| millis(d, 6, "");
        let detector = if self.detector.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", self.detector.replace('"', "\"\""))
        } else {
            self.detector.clone()
        };
        for p in &self.points {
            let m = &p.metrics;
            writeln!(
                writer,
                "{},{},{},{},{},{},{:.9e},{},{},{:.9}",
                detector,
                p.threshold,
                ms(m.detection.mean),
                ms(m.detection.p99),
                ms(m.detection.max),
                m.mistakes,
                m.mistake_rate(),
                ms(m.mistake_duration()),
                m.mistake_recurrence()
                    .map_or(String::new(), |d| format!("{:.6}", d.as_secs_f64())),
                m.query_accuracy(),
            )?;
        }
        Ok(())
    }

    /// A plain-text table, one row per threshold.
    pub fn table(&self) -> String {
        let ms = |d| millis(d, 1, "-");
        let mut out = format!(
            "{}\n{:>12} {:>10} {:>10} {:>10} {:>9} {:>12} {:>10} {:>10}\n",
            self.detector,
            "threshold",
            "T_D ms",
            "p99 ms",
            "max ms",
            "mistakes",
            "lambda_M /h",
            "T_M ms",
            "P_A"
        );
        for p in &self.points {
            let m = &p.metrics;
            let _ = writeln!(
                out,
                "{:>12.5} {:>10} {:>10} {:>10} {:>9} {:>12.3} {:>10} {:>10.7}",
                p.threshold,
                ms(m.detection.mean),
                ms(m.detection.p99),
                ms(m.detection.max),
                m.mistakes,
                m.mistake_rate() * 3600.0,
                ms(m.mistake_duration()),
                m.query_accuracy()
            );
        }
        out
    }

    /// The points that have a mean detection time, as (`T_D` in seconds, mistakes
    /// per second), by increasing `T_D`: the curve both interpolations read.
    fn curve(&self) -> Vec<(f64, f64)> {
        let mut curve: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|p| {
                Some((
                    p.metrics.detection.mean?.as_secs_f64(),
                    p.metrics.mistake_rate(),
                ))
            })
            .collect();
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        curve
    }

    /// The mistake rate (per second) this detector family would have at a mean
    /// detection time of `detection`: interpolated between the two sweep points that
    /// bracket it (linearly in the logarithm of the rate when both are non-zero).
    /// `None` outside the range the sweep covers. The curve is taken as it is: where
    /// the rate is not monotonic in `T_D`, the first bracket (by increasing `T_D`)
    /// counts.
    pub fn mistake_rate_at(&self, detection: Duration) -> Option<f64> {
        let curve = self.curve();
        let x = detection.as_secs_f64();
        let i = curve.windows(2).position(|w| w[0].0 <= x && x <= w[1].0)?;
        let ((x0, y0), (x1, y1)) = (curve[i], curve[i + 1]);
        let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
        Some(if y0 > 0.0 && y1 > 0.0 {
            (y0.ln() + t * (y1.ln() - y0.ln())).exp()
        } else {
            y0 + t * (y1 - y0)
        })
    }

    /// The mean detection time at which this detector family makes `rate` mistakes
    /// per second: the inverse of [`mistake_rate_at`](Self::mistake_rate_at),
    /// interpolated the same way. The points (those with a mean detection time) are
    /// taken by increasing `T_D`; the first two neighbours whose rates bracket `rate`
    /// (the first at least `rate`, the second at most) count, interpolated linearly
    /// in the logarithm of the rate when both are non-zero, linearly otherwise (so
    /// that `mistake_rate_at` of the answer is `rate`, up to rounding). Where the two
    /// rates are equal, the faster point's `T_D`.
    ///
    /// `None` if `rate` is negative or not finite, or if no two neighbours bracket
    /// it: the sweep never makes that many mistakes, or never as few.
    ///
    /// ```
    /// use failure_detector::qos::{Delay, Family, ReplayConfig, Scenario};
    /// use std::time::Duration;
    ///
    /// let ms = Duration::from_millis;
    /// let trace = Scenario::new(ms(100))
    ///     .jitter(Delay::normal(ms(20), ms(10))?)
    ///     .generate(7, 5_000)?;
    /// let fixed = Family::FixedTimeout;
    /// let curve = fixed.sweep(&trace, ms(100), &ReplayConfig::new(), &fixed.thresholds(ms(100), 20))?;
    /// let td = curve.detection_time_at(0.01).unwrap(); // one mistake per 100 s
    /// let rate = curve.mistake_rate_at(td).unwrap();
    /// assert!((rate / 0.01 - 1.0).abs() < 1e-6, "{rate}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detection_time_at(&self, rate: f64) -> Option<Duration> {
        if !(rate.is_finite() && rate >= 0.0) {
            return None;
        }
        let curve = self.curve();
        curve.windows(2).find_map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            if !(y0 >= rate && rate >= y1) {
                return None;
            }
            let t = if y0 == y1 {
                0.0
            } else if y1 > 0.0 && rate > 0.0 {
                (y0.ln() - rate.ln()) / (y0.ln() - y1.ln())
            } else {
                (y0 - rate) / (y0 - y1)
            };
            Duration::try_from_secs_f64(x0 + t.clamp(0.0, 1.0) * (x1 - x0)).ok()
        })
    }
}

/// The detector families the lab compares, each with a preset for a sender period
/// `interval` ([`preset`](Self::preset)) and one knob swept as its threshold. Every
/// other parameter can be changed: take the preset (or any detector config) as a
/// [`FamilyConfig`] and set its fields; sweeps and tables are labelled with the
/// parameters actually used ([`FamilyConfig::label`]).
///
/// | family | threshold | preset for `interval` |
/// |---|---|---|
/// | `FixedTimeout` | missed heartbeats | `interval`, no pause |
/// | `PhiAccrual` | phi (Akka's logistic model) | window 1000, `min_std_deviation` = interval / 10, no pause, first estimate = interval: **not** Akka's defaults (100 ms and a 3 s pause, for a 1 s period), which [`FamilyConfig::PhiAccrual`] with [`PhiAccrualConfig::new`] gives |
/// | `ExponentialPhi` | phi (Cassandra's exponential model) | window 1000, initial and max interval 2 x interval (Cassandra's ratio) |
/// | `Chen` | safety margin alpha, seconds | `interval`, window 1000 |
/// | `Bertier` | phi (the margin's weight of the variation) | `interval`, window 1000, beta 1, gamma 0.1 |
/// | `Satzger` | share of intervals | window 1000, first estimate = interval |
/// | `TwoWindows` | safety margin alpha, seconds | `interval`, windows 1000 and 1 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// [`FixedTimeout`].
    FixedTimeout,
    /// [`PhiAccrual`].
    PhiAccrual,
    /// [`ExponentialPhi`].
    ExponentialPhi,
    /// [`Chen`].
    Chen,
    /// [`Bertier`].
    Bertier,
    /// [`Satzger`].
    Satzger,
    /// [`TwoWindows`].
    TwoWindows,
}

const WINDOW: usize = 1000;

impl Family {
    /// The most thresholds [`thresholds`](Self::thresholds) makes: 65,536.
    pub const MAX_THRESHOLDS: usize = 1 << 16;

    /// Every family, in the order of the table above.
    pub const ALL: [Family; 7] = [
        Family::FixedTimeout,
        Family::PhiAccrual,
        Family::ExponentialPhi,
        Family::Chen,
        Family::Bertier,
        Family::Satzger,
        Family::TwoWindows,
    ];

    /// A short name of the algorithm, without parameters (see
    /// [`FamilyConfig::label`] for a name that says them).
    pub const fn name(self) -> &'static str {
        match self {
            Family::FixedTimeout => "fixed timeout",
            Family::PhiAccrual => "phi accrual",
            Family::ExponentialPhi => "exponential phi",
            Family::Chen => "Chen",
            Family::Bertier => "Bertier",
            Family::Satzger => "Satzger",
            Family::TwoWindows => "2W-FD",
        }
    }

    /// `n` thresholds spanning this family's useful range for a sender period
    /// `interval`, from aggressive (fast detection, many mistakes) to conservative;
    /// log-spaced except for Satzger's, which approach 1. At most
    /// [`MAX_THRESHOLDS`](Self::MAX_THRESHOLDS): a larger `n` gives that many.
    pub fn thresholds(self, interval: Duration, n: usize) -> Vec<f64> {
        let n = n.min(Self::MAX_THRESHOLDS);
        let eta = interval.as_secs_f64();
        match self {
            Family::FixedTimeout => log_space(0.95, 30.0, n),
            Family::PhiAccrual => log_space(0.25, 10_000.0, n),
            Family::ExponentialPhi => log_space(0.2, 15.0, n),
            Family::Chen | Family::TwoWindows => log_space(eta / 10_000.0, 30.0 * eta, n),
            Family::Bertier => log_space(0.1, 20_000.0, n),
            Family::Satzger => {
                // 1 - 0.5 * (2e-4)^(i / (n - 2)), then 1 itself.
                let mut t: Vec<f64> = (0..n.saturating_sub(1))
                    .map(|i| 1.0 - 0.5 * 2e-4f64.powf(i as f64 / (n.max(3) - 2) as f64))
                    .collect();
                if n > 0 {
                    t.push(1.0);
                }
                t
            }
        }
    }

    /// This family's preset for a sender period `interval` (see the table above):
    /// every parameter but the threshold, which [`FamilyConfig::build`] and
    /// [`FamilyConfig::sweep`] set.
    ///
    /// ```
    /// use failure_detector::qos::{Family, FamilyConfig};
    /// use std::time::Duration;
    ///
    /// let preset = Family::PhiAccrual.preset(Duration::from_millis(100));
    /// assert_eq!(
    ///     preset.label(),
    ///     "phi accrual (logistic, window 1000, min std dev 10 ms, pause 0 ms, first estimate 100 ms)"
    /// );
    /// // Akka's defaults instead: 100 ms minimum deviation and a 3 s pause.
    /// let FamilyConfig::PhiAccrual(mut phi) = preset else { unreachable!() };
    /// phi.min_std_deviation = Duration::from_millis(100);
    /// phi.acceptable_heartbeat_pause = Duration::from_secs(3);
    /// let akka = FamilyConfig::PhiAccrual(phi);
    /// assert!(akka.label().contains("min std dev 100 ms, pause 3000 ms"));
    /// ```
    pub fn preset(self, interval: Duration) -> FamilyConfig {
        match self {
            Family::FixedTimeout => FamilyConfig::FixedTimeout(fixed(interval)),
            Family::PhiAccrual => FamilyConfig::PhiAccrual(phi(interval)),
            Family::ExponentialPhi => FamilyConfig::ExponentialPhi(exponential(interval)),
            Family::Chen => FamilyConfig::Chen(chen(interval)),
            Family::Bertier => FamilyConfig::Bertier(bertier(interval)),
            Family::Satzger => FamilyConfig::Satzger(satzger(interval)),
            Family::TwoWindows => FamilyConfig::TwoWindows(two_windows(interval)),
        }
    }

    /// Builds this family's detector for a sender period `interval` at `threshold`
    /// (its [`preset`](Self::preset)).
    ///
    /// # Errors
    /// The detector's [`ConfigError`] (e.g. a threshold out of its range).
    pub fn build(
        self,
        interval: Duration,
        threshold: f64,
    ) -> Result<Box<dyn FailureDetector + Send>, ConfigError> {
        self.preset(interval).build(threshold)
    }

    /// Sweeps this family's [`preset`](Self::preset) for `interval` over
    /// `thresholds` on `trace`: see [`FamilyConfig::sweep`].
    ///
    /// # Errors
    /// The first [`ConfigError`] of a threshold.
    pub fn sweep(
        self,
        trace: &Trace,
        interval: Duration,
        config: &ReplayConfig,
        thresholds: &[f64],
    ) -> Result<Sweep, ConfigError> {
        self.preset(interval).sweep(trace, config, thresholds)
    }
}

/// A detector family with every parameter but the threshold: the configuration a
/// sweep varies one knob of. Take a [`Family::preset`] and change its fields, or
/// wrap any detector configuration; the threshold field of the configuration held
/// here is ignored (each threshold of a sweep replaces it).
///
/// Its [`label`](Self::label) (also its [`Display`](fmt::Display)) names the family
/// and every parameter in force, and titles the sweeps it makes, so that tables and
/// charts say what was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FamilyConfig {
    /// [`FixedTimeout`]; the threshold is `missed_heartbeats`.
    FixedTimeout(FixedTimeoutConfig),
    /// [`PhiAccrual`]; the threshold is `threshold`.
    PhiAccrual(PhiAccrualConfig),
    /// [`ExponentialPhi`]; the threshold is `threshold`.
    ExponentialPhi(ExponentialPhiConfig),
    /// [`Chen`]; the threshold is `safety_margin`, in seconds.
    Chen(ChenConfig),
    /// [`Bertier`]; the threshold is `phi`.
    Bertier(BertierConfig),
    /// [`Satzger`]; the threshold is `threshold`.
    Satzger(SatzgerConfig),
    /// [`TwoWindows`]; the threshold is `safety_margin`, in seconds.
    TwoWindows(TwoWindowsConfig),
}

impl FamilyConfig {
    /// The family.
    pub const fn family(&self) -> Family {
        match self {
            FamilyConfig::FixedTimeout(_) => Family::FixedTimeout,
            FamilyConfig::PhiAccrual(_) => Family::PhiAccrual,
            FamilyConfig::ExponentialPhi(_) => Family::ExponentialPhi,
            FamilyConfig::Chen(_) => Family::Chen,
            FamilyConfig::Bertier(_) => Family::Bertier,
            FamilyConfig::Satzger(_) => Family::Satzger,
            FamilyConfig::TwoWindows(_) => Family::TwoWindows,
        }
    }

    /// The family's name and every parameter but the threshold, e.g. `phi accrual
    /// (logistic, window 1000, min std dev 10 ms, pause 0 ms, first estimate 100 ms)`.
    pub fn label(&self) -> String {
        self.to_string()
    }

    /// Builds the detector at `threshold`.
    ///
    /// # Errors
    /// The detector's [`ConfigError`] (e.g. a threshold out of its range, or a
    /// parameter refused by its constructor).
    pub fn build(&self, threshold: f64) -> Result<Box<dyn FailureDetector + Send>, ConfigError> {
        Ok(match *self {
            FamilyConfig::FixedTimeout(c) => Box::new(FixedTimeout::new(c.at(threshold)?)?),
            FamilyConfig::PhiAccrual(c) => Box::new(PhiAccrual::new(c.at(threshold)?)?),
            FamilyConfig::ExponentialPhi(c) => Box::new(ExponentialPhi::new(c.at(threshold)?)?),
            FamilyConfig::Chen(c) => Box::new(Chen::new(c.at(threshold)?)?),
            FamilyConfig::Bertier(c) => Box::new(Bertier::new(c.at(threshold)?)?),
            FamilyConfig::Satzger(c) => Box::new(Satzger::new(c.at(threshold)?)?),
            FamilyConfig::TwoWindows(c) => Box::new(TwoWindows::new(c.at(threshold)?)?),
        })
    }

    /// Sweeps this configuration over `thresholds` on `trace`: the same result as
    /// [`sweep`] with [`build`](Self::build), faster; the sweep is titled with the
    /// [`label`](Self::label).
    ///
    /// Every family but [`PhiAccrual`](Family::PhiAccrual) keeps statistics that do
    /// not depend on its threshold (Akka's phi records an interval only if the node
    /// was available), and reports through
    /// [`deadline_for`](FailureDetector::deadline_for) exactly the deadline a detector
    /// built with that threshold would have. Those families are replayed once, every
    /// threshold measured from `deadline_for` after each arrival; phi is replayed
    /// once per threshold. Either way with the detector's concrete type, so that
    /// nothing goes through dynamic dispatch.
    ///
    /// Sweep memory does not grow with the trace's length: each threshold keeps
    /// streaming statistics (see [`replay`](super::replay)'s accuracy section).
    ///
    /// # Errors
    /// The first [`ConfigError`] of a threshold.
    pub fn sweep(
        &self,
        trace: &Trace,
        config: &ReplayConfig,
        thresholds: &[f64],
    ) -> Result<Sweep, ConfigError> {
        let name = &self.label();
        let (tr, cf, ts) = (trace, config, thresholds);
        match *self {
            FamilyConfig::PhiAccrual(c) => sweep(name, tr, cf, ts, |t| PhiAccrual::new(c.at(t)?)),
            FamilyConfig::FixedTimeout(c) => {
                shared(name, tr, cf, ts, |t| FixedTimeout::new(c.at(t)?))
            }
            FamilyConfig::ExponentialPhi(c) => {
                shared(name, tr, cf, ts, |t| ExponentialPhi::new(c.at(t)?))
            }
            FamilyConfig::Chen(c) => shared(name, tr, cf, ts, |t| Chen::new(c.at(t)?)),
            FamilyConfig::Bertier(c) => shared(name, tr, cf, ts, |t| Bertier::new(c.at(t)?)),
            FamilyConfig::Satzger(c) => shared(name, tr, cf, ts, |t| Satzger::new(c.at(t)?)),
            FamilyConfig::TwoWindows(c) => shared(name, tr, cf, ts, |t| TwoWindows::new(c.at(t)?)),
        }
    }
}

/// A duration for a label: milliseconds with up to 3 decimals, trailing zeros cut.
fn label_ms(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64() * 1e3);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} ms")
}

impl fmt::Display for FamilyConfig {
    /// The [`label`](Self::label).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = label_ms;
        let name = self.family().name();
        match self {
            FamilyConfig::FixedTimeout(c) => write!(
                f,
                "{name} (interval {}, pause {})",
                ms(c.interval),
                ms(c.acceptable_pause)
            ),
            FamilyConfig::PhiAccrual(c) => write!(
                f,
                "{name} ({}, window {}, min std dev {}, pause {}, first estimate {})",
                match c.model {
                    PhiModel::Normal => "normal",
                    _ => "logistic",
                },
                c.max_sample_size,
                ms(c.min_std_deviation),
                ms(c.acceptable_heartbeat_pause),
                ms(c.first_heartbeat_estimate)
            ),
            FamilyConfig::ExponentialPhi(c) => write!(
                f,
                "{name} (window {}, initial interval {}, max interval {})",
                c.window_size,
                ms(c.initial_interval),
                ms(c.max_interval)
            ),
            FamilyConfig::Chen(c) => write!(
                f,
                "{name} (interval {}, window {})",
                ms(c.interval),
                c.window_size
            ),
            FamilyConfig::Bertier(c) => write!(
                f,
                "{name} (interval {}, window {}, beta {}, gamma {})",
                ms(c.interval),
                c.window_size,
                c.beta,
                c.gamma
            ),
            FamilyConfig::Satzger(c) => write!(
                f,
                "{name} (window {}, first estimate {})",
                c.window_size,
                ms(c.first_heartbeat_estimate)
            ),
            FamilyConfig::TwoWindows(c) => write!(
                f,
                "{name} (interval {}, windows {} and {})",
                ms(c.interval),
                c.long_window,
                c.short_window
            ),
        }
    }
}

/// A detector configuration with its swept knob set to a threshold.
trait AtThreshold: Sized {
    fn at(self, threshold: f64) -> Result<Self, ConfigError>;
}

impl AtThreshold for FixedTimeoutConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_missed_heartbeats(t))
    }
}
impl AtThreshold for PhiAccrualConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_threshold(t))
    }
}
impl AtThreshold for ExponentialPhiConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_threshold(t))
    }
}
impl AtThreshold for ChenConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_safety_margin(margin(t)?))
    }
}
impl AtThreshold for BertierConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_phi(t))
    }
}
impl AtThreshold for SatzgerConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_threshold(t))
    }
}
impl AtThreshold for TwoWindowsConfig {
    fn at(self, t: f64) -> Result<Self, ConfigError> {
        Ok(self.with_safety_margin(margin(t)?))
    }
}

/// One replay for every threshold: each threshold is validated by building its
/// detector, whose [`threshold`](FailureDetector::threshold) (the value as the
/// detector rounds it) is the level measured on the first one.
fn shared<D, F>(
    detector: &str,
    trace: &Trace,
    config: &ReplayConfig,
    thresholds: &[f64],
    mut make: F,
) -> Result<Sweep, ConfigError>
where
    D: FailureDetector,
    F: FnMut(f64) -> Result<D, ConfigError>,
{
    let mut first = None;
    let mut levels = Vec::with_capacity(thresholds.len());
    for &threshold in thresholds {
        let fd = make(threshold)?;
        levels.push(fd.threshold());
        first.get_or_insert(fd);
    }
    let metrics = match first.as_mut() {
        Some(fd) => replay_levels(fd, trace, config, &levels),
        None => Vec::new(),
    };
    Ok(Sweep {
        detector: detector.to_string(),
        points: thresholds
            .iter()
            .zip(metrics)
            .map(|(&threshold, metrics)| SweepPoint { threshold, metrics })
            .collect(),
    })
}

/// `n` values from `lo` to `hi` evenly spaced on a log scale.
fn log_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lo],
        _ => (0..n)
            .map(|i| lo * (hi / lo).powf(i as f64 / (n - 1) as f64))
            .collect(),
    }
}

/// A margin of `seconds`, validated (the config's own check catches zero).
fn margin(seconds: f64) -> Result<Duration, ConfigError> {
    let field = "safety_margin";
    if !seconds.is_finite() {
        return Err(ConfigError::NotFinite { field });
    }
    if seconds <= 0.0 {
        return Err(ConfigError::NotPositive { field });
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| ConfigError::OutOfRange {
        field,
        allowed: "a duration that fits in 2^64 seconds",
    })
}

fn fixed(interval: Duration) -> FixedTimeoutConfig {
    FixedTimeoutConfig::new()
        .with_interval(interval)
        .with_acceptable_pause(Duration::ZERO)
}

fn phi(interval: Duration) -> PhiAccrualConfig {
    PhiAccrualConfig::new()
        .with_max_sample_size(WINDOW)
        .with_min_std_deviation((interval / 10).max(Duration::from_nanos(1)))
        .with_acceptable_heartbeat_pause(Duration::ZERO)
        .with_first_heartbeat_estimate(interval)
}

fn exponential(interval: Duration) -> ExponentialPhiConfig {
    ExponentialPhiConfig::new()
        .with_window_size(WINDOW)
        .with_initial_interval(interval.saturating_mul(2))
        .with_max_interval(interval.saturating_mul(2))
}

fn chen(interval: Duration) -> ChenConfig {
    ChenConfig::new()
        .with_interval(interval)
        .with_window_size(WINDOW)
}

fn bertier(interval: Duration) -> BertierConfig {
    BertierConfig::new()
        .with_interval(interval)
        .with_window_size(WINDOW)
}

fn satzger(interval: Duration) -> SatzgerConfig {
    SatzgerConfig::new()
        .with_window_size(WINDOW)
        .with_first_heartbeat_estimate(interval)
}

fn two_windows(interval: Duration) -> TwoWindowsConfig {
    TwoWindowsConfig::new()
        .with_interval(interval)
        .with_long_window(WINDOW)
        .with_short_window(1)
}
