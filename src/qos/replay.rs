//! Replay of a trace through a detector, and the Chen-Toueg-Aguilera metrics.

use std::fmt;
use std::time::Duration;

use super::trace::Trace;
use crate::detector::FailureDetector;

/// How a trace is replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Arrivals fed to the detector before measuring starts, so that it has learnt
    /// the trace's statistics (its window filled). Default 0.
    pub warmup: usize,
    /// A crash is injected right after every `crash_every`-th measured arrival to
    /// measure the detection time (when the trace records no crash of its own).
    /// Default 1 (after every arrival); 0 injects none.
    pub crash_every: usize,
}

impl ReplayConfig {
    /// No warm-up, a crash injected after every arrival (the [`Default`]).
    pub const fn new() -> Self {
        ReplayConfig {
            warmup: 0,
            crash_every: 1,
        }
    }

    /// Sets [`warmup`](Self::warmup).
    pub const fn with_warmup(mut self, warmup: usize) -> Self {
        self.warmup = warmup;
        self
    }

    /// Sets [`crash_every`](Self::crash_every).
    pub const fn with_crash_every(mut self, crash_every: usize) -> Self {
        self.crash_every = crash_every;
        self
    }
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig::new()
    }
}

/// Detection time `T_D`: from a crash until the detector suspects for good.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detection {
    /// Crashes measured (injected ones, or the trace's own).
    pub crashes: usize,
    /// Crashes never detected (the deadline lay beyond [`Timestamp::MAX`](crate::Timestamp::MAX));
    /// not part of the statistics below.
    pub undetected: usize,
    /// Mean detection time.
    pub mean: Option<Duration>,
    /// 99th percentile (nearest rank).
    pub p99: Option<Duration>,
    /// Longest detection time.
    pub max: Option<Duration>,
}

/// The quality of service of a detector on a trace (Chen, Toueg and Aguilera 2002).
///
/// Accuracy is measured from the first measured arrival to the last arrival (or to
/// the trace's crash): a *mistake* starts when the detector suspects the sender
/// (S-transition, at a deadline that passes before the next arrival) and ends when
/// the next heartbeat restores trust (T-transition).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// Arrivals measured (after the warm-up).
    pub heartbeats: usize,
    /// Length of the period over which accuracy was measured.
    pub observed: Duration,
    /// Number of mistakes (false suspicions).
    pub mistakes: u64,
    /// Total time spent wrongly suspecting the sender.
    pub mistake_time: Duration,
    /// Detection time.
    pub detection: Detection,
    /// Start of the first and the last mistake, ns, for `T_MR`.
    first_mistake_ns: u64,
    last_mistake_ns: u64,
}

impl Metrics {
    /// Mistake rate `lambda_M`, mistakes per second (0 if nothing was observed).
    pub fn mistake_rate(&self) -> f64 {
        let secs = self.observed.as_secs_f64();
        if secs > 0.0 {
            self.mistakes as f64 / secs
        } else {
            0.0
        }
    }

    /// Mean mistake duration `T_M` (`None` without mistakes).
    pub fn mistake_duration(&self) -> Option<Duration> {
        (self.mistakes > 0).then(|| {
            Duration::from_nanos((self.mistake_time.as_nanos() / u128::from(self.mistakes)) as u64)
        })
    }

    /// Mean mistake recurrence time `T_MR`: the mean time between the starts of two
    /// consecutive mistakes (`None` with fewer than two mistakes). In a long steady
    /// run `lambda_M = 1 / E(T_MR)`.
    pub fn mistake_recurrence(&self) -> Option<Duration> {
        (self.mistakes > 1).then(|| {
            Duration::from_nanos(
                (self.last_mistake_ns - self.first_mistake_ns) / (self.mistakes - 1),
            )
        })
    }

    /// Query accuracy probability `P_A`: the share of the observed time during which
    /// the detector trusted the (correct) sender; 1 if nothing was observed. In a long
    /// steady run `P_A = 1 - E(T_M) / E(T_MR)`.
    pub fn query_accuracy(&self) -> f64 {
        let observed = self.observed.as_nanos();
        if observed == 0 {
            1.0
        } else {
            1.0 - self.mistake_time.as_nanos() as f64 / observed as f64
        }
    }
}

/// A duration in milliseconds with `decimals` decimals, or `none`.
pub(crate) fn millis(d: Option<Duration>, decimals: usize, none: &str) -> String {
    d.map_or(none.to_string(), |d| {
        format!("{:.*}", decimals, d.as_secs_f64() * 1e3)
    })
}

impl fmt::Display for Metrics {
    /// One line: `T_D` mean / p99 / max, mistakes, `lambda_M`, `T_M`, `T_MR`, `P_A`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d| millis(d, 1, "-");
        write!(
            f,
            "T_D {} / {} / {} ms, {} mistakes, lambda_M {:.3e}/s, T_M {} ms, T_MR {} ms, P_A {:.6}",
            ms(self.detection.mean),
            ms(self.detection.p99),
            ms(self.detection.max),
            self.mistakes,
            self.mistake_rate(),
            ms(self.mistake_duration()),
            ms(self.mistake_recurrence()),
            self.query_accuracy()
        )
    }
}

/// Replays `trace` through `fd` (after [`reset`](FailureDetector::reset)ting it) and
/// measures it, from the deadline the detector reports after each arrival: exact to
/// the nanosecond and O(1) per arrival beyond the detector's own cost.
///
/// * After arrival `k` the detector would suspect at its deadline `d_k`; if
///   `d_k < A_(k+1)` that is a mistake lasting `A_(k+1) - d_k`.
/// * A crash right after arrival `k` (every `crash_every`-th one) would be detected
///   at `d_k`: `T_D = d_k - c_k`, where `c_k` is that heartbeat's send time if the
///   trace records send times (the sender crashed right after sending it), else its
///   arrival. If the trace records a crash at `c`, that crash alone is measured:
///   `T_D = max(0, d_last - c)`, and accuracy is measured up to `c`.
///
/// Deterministic: the same detector configuration and trace give the same metrics.
///
/// ```
/// use failure_detector::qos::{replay, ReplayConfig, Trace};
/// use failure_detector::{FixedTimeout, FixedTimeoutConfig, Timestamp};
/// use std::time::Duration;
///
/// // Heartbeats every second, but the fourth is 2.5 s late.
/// let secs = [0, 1_000, 2_000, 5_500, 6_500].map(Timestamp::from_millis);
/// let trace = Trace::from_timestamps(secs.to_vec())?;
/// let mut fd = FixedTimeout::new(
///     FixedTimeoutConfig::new()
///         .with_interval(Duration::from_secs(1))
///         .with_missed_heartbeats(2.0),
/// )?;
/// let m = replay(&mut fd, &trace, &ReplayConfig::new());
/// assert_eq!(m.mistakes, 1); // suspected at 4 s, trusted again at 5.5 s
/// assert_eq!(m.mistake_time, Duration::from_millis(1_500));
/// assert_eq!(m.detection.max, Some(Duration::from_secs(2)));
/// assert!((m.query_accuracy() - (1.0 - 1.5 / 6.5)).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay<D: FailureDetector + ?Sized>(
    fd: &mut D,
    trace: &Trace,
    config: &ReplayConfig,
) -> Metrics {
    replay_into(fd, trace, config, &mut Vec::new())
}

/// [`replay`] with a reusable buffer for the detection times.
pub(crate) fn replay_into<D: FailureDetector + ?Sized>(
    fd: &mut D,
    trace: &Trace,
    config: &ReplayConfig,
    detections: &mut Vec<u64>,
) -> Metrics {
    let mut tally = Tally::new(std::mem::take(detections));
    let metrics = run(
        fd,
        trace,
        config,
        std::slice::from_mut(&mut tally),
        |fd, _| fd.deadline(),
    );
    let metrics = metrics.into_iter().next().unwrap_or_default();
    *detections = tally.detections;
    metrics
}

/// Replays `trace` once and measures the detector at every level of `levels` at
/// once, from [`deadline_for`](FailureDetector::deadline_for). Equal to one
/// [`replay`] per level for a detector whose state does not depend on its threshold
/// and whose `deadline_for(threshold())` is its `deadline()`.
pub(crate) fn replay_levels<D: FailureDetector + ?Sized>(
    fd: &mut D,
    trace: &Trace,
    config: &ReplayConfig,
    levels: &[f64],
) -> Vec<Metrics> {
    let capacity = match config.crash_every {
        0 => 1,
        every => trace.len() / every + 2,
    };
    let mut tallies: Vec<Tally> = levels
        .iter()
        .map(|_| Tally::new(Vec::with_capacity(capacity)))
        .collect();
    run(fd, trace, config, &mut tallies, |fd, j| {
        fd.deadline_for(levels[j])
    })
}

/// The running counts of one replayed detector (or one level of it).
struct Tally {
    mistakes: u64,
    mistake_ns: u64,
    first: u64,
    last: u64,
    countdown: usize,
    /// The deadline after the latest arrival, ns (`u64::MAX`: never).
    deadline: u64,
    detections: Vec<u64>,
}

impl Tally {
    fn new(mut detections: Vec<u64>) -> Self {
        detections.clear();
        Tally {
            mistakes: 0,
            mistake_ns: 0,
            first: 0,
            last: 0,
            countdown: 1,
            deadline: u64::MAX,
            detections,
        }
    }

    /// Accounts for the deadline after one arrival: a mistake if it passes before
    /// trust is restored, and an injected crash every `inject` arrivals.
    #[inline]
    fn observe(&mut self, deadline: u64, trusted_again: u64, crash_at: u64, inject: usize) {
        self.deadline = deadline;
        if deadline < trusted_again {
            if self.mistakes == 0 {
                self.first = deadline;
            }
            self.last = deadline;
            self.mistakes += 1;
            self.mistake_ns += trusted_again - deadline;
        }
        if inject > 0 {
            self.countdown -= 1;
            if self.countdown == 0 {
                self.countdown = inject;
                self.detections.push(detection_time(deadline, crash_at));
            }
        }
    }
}

/// The replay loop shared by [`replay_into`] and [`replay_levels`]: `deadline(fd, j)`
/// is the deadline measured by tally `j` after each arrival.
fn run<D: FailureDetector + ?Sized>(
    fd: &mut D,
    trace: &Trace,
    config: &ReplayConfig,
    tallies: &mut [Tally],
    deadline: impl Fn(&D, usize) -> Option<crate::Timestamp>,
) -> Vec<Metrics> {
    fd.reset();
    let arrivals = trace.arrivals();
    let n = arrivals.len();
    let warmup = config.warmup.min(n);
    for &at in &arrivals[..warmup] {
        let accepted = fd.heartbeat(at);
        debug_assert!(accepted.is_ok(), "traces are strictly increasing");
    }
    let base = Metrics {
        heartbeats: n - warmup,
        ..Metrics::default()
    };
    if warmup == n {
        return vec![base; tallies.len()];
    }
    let crash = trace.crash().map(|c| c.as_nanos());
    let start = arrivals[warmup].as_nanos();
    // Accuracy is measured over [start, end).
    let end = crash.unwrap_or(arrivals[n - 1].as_nanos()).max(start);
    // The instant the sender crashes if it crashes right after arrival k.
    let crash_times = trace.sent().unwrap_or(arrivals);
    let inject = if crash.is_some() {
        0
    } else {
        config.crash_every
    };
    for k in warmup..n {
        let accepted = fd.heartbeat(arrivals[k]);
        debug_assert!(accepted.is_ok(), "traces are strictly increasing");
        let trusted_again = match arrivals.get(k + 1) {
            Some(next) => next.as_nanos().min(end),
            None => end,
        };
        let crash_at = crash_times[k].as_nanos();
        for (j, tally) in tallies.iter_mut().enumerate() {
            let d = deadline(fd, j).map_or(u64::MAX, |d| d.as_nanos());
            tally.observe(d, trusted_again, crash_at, inject);
        }
    }
    tallies
        .iter_mut()
        .map(|tally| {
            if let Some(crash) = crash {
                tally.detections.push(detection_time(tally.deadline, crash));
            }
            let mut metrics = Metrics {
                observed: Duration::from_nanos(end - start),
                mistakes: tally.mistakes,
                mistake_time: Duration::from_nanos(tally.mistake_ns),
                first_mistake_ns: tally.first,
                last_mistake_ns: tally.last,
                ..base
            };
            metrics.detection.crashes = tally.detections.len();
            summarize(&mut tally.detections, &mut metrics.detection);
            metrics
        })
        .collect()
}

/// `deadline - crash` (0 if the sender was already suspected), or `u64::MAX` for
/// never.
fn detection_time(deadline: u64, crash: u64) -> u64 {
    if deadline == u64::MAX {
        u64::MAX
    } else {
        deadline.saturating_sub(crash)
    }
}

/// Mean, p99 and max of the detection times, counting and leaving out the undetected
/// ones (`u64::MAX`).
fn summarize(detections: &mut Vec<u64>, detection: &mut Detection) {
    let before = detections.len();
    detections.retain(|&d| d != u64::MAX);
    detection.undetected = before - detections.len();
    if detections.is_empty() {
        return;
    }
    let m = detections.len();
    let sum: u128 = detections.iter().map(|&d| u128::from(d)).sum();
    detection.mean = Some(Duration::from_nanos((sum / m as u128) as u64));
    detection.max = detections.iter().max().map(|&d| Duration::from_nanos(d));
    // Nearest rank: the ceil(0.99 m)-th smallest.
    let rank = (m * 99).div_ceil(100).max(1);
    let (_, p99, _) = detections.select_nth_unstable(rank - 1);
    detection.p99 = Some(Duration::from_nanos(*p99));
}
