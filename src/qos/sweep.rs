//! Threshold sweeps: the trade-off curve of detection time against mistakes.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use super::replay::{Metrics, ReplayConfig, millis, replay_into, replay_levels};
use super::trace::Trace;
use crate::detector::FailureDetector;
use crate::error::ConfigError;
use crate::{
    Bertier, BertierConfig, Chen, ChenConfig, ExponentialPhi, ExponentialPhiConfig, FixedTimeout,
    FixedTimeoutConfig, PhiAccrual, PhiAccrualConfig, Satzger, SatzgerConfig, TwoWindows,
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
    /// The detector family's name.
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
    let mut scratch = Vec::new();
    let mut points = Vec::with_capacity(thresholds.len());
    for &threshold in thresholds {
        let mut fd = make(threshold)?;
        points.push(SweepPoint {
            threshold,
            metrics: replay_into(&mut fd, trace, config, &mut scratch),
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
    ///
    /// # Errors
    /// Any error of `writer`.
    pub fn write_csv(&self, mut writer: impl Write) -> io::Result<()> {
        let ms = |d| millis(d, 6, "");
        for p in &self.points {
            let m = &p.metrics;
            writeln!(
                writer,
                "{},{},{},{},{},{},{:.9e},{},{},{:.9}",
                self.detector,
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

    /// The mistake rate (per second) this detector family would have at a mean
    /// detection time of `detection`: interpolated between the two sweep points that
    /// bracket it (linearly in the logarithm of the rate when both are non-zero).
    /// `None` outside the range the sweep covers. The curve is taken as it is: where
    /// the rate is not monotonic in `T_D`, the first bracket (by increasing `T_D`)
    /// counts.
    pub fn mistake_rate_at(&self, detection: Duration) -> Option<f64> {
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
}

/// The detector families the lab compares, each configured for a sender period
/// `interval` with one knob swept as its threshold.
///
/// | family | threshold | configuration |
/// |---|---|---|
/// | `FixedTimeout` | missed heartbeats | `interval`, no pause |
/// | `PhiAccrual` | phi (Akka's logistic model) | window 1000, `min_std_deviation` = interval / 10 (Akka's ratio: 100 ms at 1 s), no pause, first estimate = interval |
/// | `ExponentialPhi` | phi (Cassandra) | window 1000, initial and max interval 2 x interval (Cassandra's ratio) |
/// | `Chen` | safety margin alpha, seconds | window 1000 |
/// | `Bertier` | phi (the margin's weight of the variation) | window 1000, beta 1, gamma 0.1 |
/// | `Satzger` | share of intervals | window 1000, first estimate = interval |
/// | `TwoWindows` | safety margin alpha, seconds | windows 1000 and 1 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// [`FixedTimeout`].
    FixedTimeout,
    /// [`PhiAccrual`] with Akka's logistic model.
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

    /// A short name for tables and legends.
    pub const fn name(self) -> &'static str {
        match self {
            Family::FixedTimeout => "fixed timeout",
            Family::PhiAccrual => "phi (Akka)",
            Family::ExponentialPhi => "phi (Cassandra)",
            Family::Chen => "Chen",
            Family::Bertier => "Bertier",
            Family::Satzger => "Satzger",
            Family::TwoWindows => "2W-FD",
        }
    }

    /// `n` thresholds spanning this family's useful range for a sender period
    /// `interval`, from aggressive (fast detection, many mistakes) to conservative;
    /// log-spaced except for Satzger's, which approach 1.
    pub fn thresholds(self, interval: Duration, n: usize) -> Vec<f64> {
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

    /// Builds this family's detector for a sender period `interval` at `threshold`.
    ///
    /// # Errors
    /// The detector's [`ConfigError`] (e.g. a threshold out of its range).
    pub fn build(
        self,
        interval: Duration,
        threshold: f64,
    ) -> Result<Box<dyn FailureDetector + Send>, ConfigError> {
        Ok(match self {
            Family::FixedTimeout => Box::new(FixedTimeout::new(fixed(interval, threshold))?),
            Family::PhiAccrual => Box::new(PhiAccrual::new(phi(interval, threshold))?),
            Family::ExponentialPhi => {
                Box::new(ExponentialPhi::new(exponential(interval, threshold))?)
            }
            Family::Chen => Box::new(Chen::new(chen(interval, threshold)?)?),
            Family::Bertier => Box::new(Bertier::new(bertier(interval, threshold))?),
            Family::Satzger => Box::new(Satzger::new(satzger(interval, threshold))?),
            Family::TwoWindows => Box::new(TwoWindows::new(two_windows(interval, threshold)?)?),
        })
    }

    /// Sweeps this family over `thresholds` on `trace`: the same result as [`sweep`]
    /// with [`build`](Self::build), faster.
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
    /// # Errors
    /// The first [`ConfigError`] of a threshold.
    pub fn sweep(
        self,
        trace: &Trace,
        interval: Duration,
        config: &ReplayConfig,
        thresholds: &[f64],
    ) -> Result<Sweep, ConfigError> {
        let name = self.name();
        let i = interval;
        match self {
            Family::PhiAccrual => sweep(name, trace, config, thresholds, |t| {
                PhiAccrual::new(phi(i, t))
            }),
            Family::FixedTimeout => shared(name, trace, config, thresholds, |t| {
                FixedTimeout::new(fixed(i, t))
            }),
            Family::ExponentialPhi => shared(name, trace, config, thresholds, |t| {
                ExponentialPhi::new(exponential(i, t))
            }),
            Family::Chen => shared(name, trace, config, thresholds, |t| Chen::new(chen(i, t)?)),
            Family::Bertier => shared(name, trace, config, thresholds, |t| {
                Bertier::new(bertier(i, t))
            }),
            Family::Satzger => shared(name, trace, config, thresholds, |t| {
                Satzger::new(satzger(i, t))
            }),
            Family::TwoWindows => shared(name, trace, config, thresholds, |t| {
                TwoWindows::new(two_windows(i, t)?)
            }),
        }
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

fn fixed(interval: Duration, threshold: f64) -> FixedTimeoutConfig {
    FixedTimeoutConfig::new()
        .with_interval(interval)
        .with_missed_heartbeats(threshold)
}

fn phi(interval: Duration, threshold: f64) -> PhiAccrualConfig {
    PhiAccrualConfig::new()
        .with_threshold(threshold)
        .with_max_sample_size(WINDOW)
        .with_min_std_deviation((interval / 10).max(Duration::from_nanos(1)))
        .with_acceptable_heartbeat_pause(Duration::ZERO)
        .with_first_heartbeat_estimate(interval)
}

fn exponential(interval: Duration, threshold: f64) -> ExponentialPhiConfig {
    ExponentialPhiConfig::new()
        .with_threshold(threshold)
        .with_window_size(WINDOW)
        .with_initial_interval(interval.saturating_mul(2))
        .with_max_interval(interval.saturating_mul(2))
}

fn chen(interval: Duration, threshold: f64) -> Result<ChenConfig, ConfigError> {
    Ok(ChenConfig::new()
        .with_interval(interval)
        .with_window_size(WINDOW)
        .with_safety_margin(margin(threshold)?))
}

fn bertier(interval: Duration, threshold: f64) -> BertierConfig {
    BertierConfig::new()
        .with_interval(interval)
        .with_window_size(WINDOW)
        .with_phi(threshold)
}

fn satzger(interval: Duration, threshold: f64) -> SatzgerConfig {
    SatzgerConfig::new()
        .with_threshold(threshold)
        .with_window_size(WINDOW)
        .with_first_heartbeat_estimate(interval)
}

fn two_windows(interval: Duration, threshold: f64) -> Result<TwoWindowsConfig, ConfigError> {
    Ok(TwoWindowsConfig::new()
        .with_interval(interval)
        .with_long_window(WINDOW)
        .with_short_window(1)
        .with_safety_margin(margin(threshold)?))
}
