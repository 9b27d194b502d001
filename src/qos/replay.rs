//! Replay of a trace through a detector, and the Chen-Toueg-Aguilera metrics.

use std::fmt;
use std::time::Duration;

use super::trace::Trace;
use crate::detectors::FailureDetector;
use crate::time::Timestamp;

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
    /// Mean detection time (exact, rounded down to the nanosecond).
    pub mean: Option<Duration>,
    /// 99th percentile (nearest rank), from a histogram: within 2^-8 (0.4%) of the
    /// exact value, exact below 256 ns and when all detection times are equal, and
    /// never outside the range of the detection times (see [`replay`]).
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
    /// Arrivals the detector refused (its `heartbeat` returned an error), warm-up
    /// included. Trace arrivals are strictly increasing, so this crate's detectors
    /// refuse only arrivals past [`Timestamp::HORIZON`](crate::Timestamp::HORIZON);
    /// a detector of your own may refuse others. A refused arrival is measured like
    /// the others, with the detector's deadline as it stands: if that deadline had
    /// already passed, the mistake under way simply goes on (it is extended, not
    /// counted again), so mistake time never counts an instant twice.
    pub refused: u64,
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
/// the nanosecond and O(1) per arrival beyond the detector's own cost, in memory
/// independent of the trace's length.
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
/// # Accuracy of the detection-time statistics
///
/// The count, mean and max of `T_D` are exact. The p99 comes from a log-linear
/// histogram of the detection times (128 buckets per power of two, allocated for the
/// powers of two that occur: at most 57 KiB, whatever the trace's length):
/// the bucket holding the nearest-rank 99th percentile is reported by its middle,
/// clamped to the smallest and largest detection time. That is within 2^-8 (0.4%)
/// of the exact nearest-rank value, and exact for values below 256 ns.
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
    replay_listing(fd, trace, config, 0).0
}

/// One mistake of a replay ([`replay_listing`]): when the detector wrongly
/// suspected the sender, for how long, and the gap between arrivals that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mistake {
    /// The index in the trace of the last arrival before the mistake (`arrival` and
    /// `arrival + 1` are the two arrivals around it).
    pub arrival: usize,
    /// When the detector started suspecting the sender (its deadline after that
    /// arrival).
    pub start: Timestamp,
    /// How long the suspicion lasted: until the next arrival, or the end of the
    /// measurement (the last arrival, or the trace's crash) if that is earlier.
    pub duration: Duration,
    /// The gap that caused it: from arrival `arrival` to the next one (or to the end
    /// of the measurement, as for `duration`). An arrival the detector refused does
    /// not end a mistake: it goes on to the next arrival, and so does the gap.
    pub gap: Duration,
}

/// The mistakes of a replay, listed up to a caller-given maximum ([`replay_listing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mistakes {
    /// Every mistake, counted even when not listed (equal to [`Metrics::mistakes`]).
    pub total: u64,
    /// The first mistakes in time order, at most the maximum asked for.
    pub listed: Vec<Mistake>,
}

/// [`replay`], also listing the first `max_listed` mistakes (start, duration, the
/// gap that caused it, the arrival before it) and counting all of them: which gaps
/// between arrivals the detector mistook for a crash. Memory grows with the mistakes
/// listed only, at most `max_listed` of them (nothing is reserved up front); 0 lists
/// none.
///
/// ```
/// use failure_detector::qos::{replay_listing, ReplayConfig, Trace};
/// use failure_detector::{FixedTimeout, FixedTimeoutConfig, Timestamp};
/// use std::time::Duration;
///
/// let trace = Trace::from_timestamps([0, 1_000, 2_000, 5_500, 6_500, 9_000]
///     .map(Timestamp::from_millis).to_vec())?;
/// let mut fd = FixedTimeout::new(
///     FixedTimeoutConfig::new()
///         .with_interval(Duration::from_secs(1))
///         .with_missed_heartbeats(2.0),
/// )?;
/// let (metrics, mistakes) = replay_listing(&mut fd, &trace, &ReplayConfig::new(), 1);
/// assert_eq!((metrics.mistakes, mistakes.total), (2, 2));
/// let first = mistakes.listed[0]; // only one listed
/// assert_eq!(first.arrival, 2); // the 3.5 s gap after the arrival at 2 s
/// assert_eq!(first.gap, Duration::from_millis(3_500));
/// assert_eq!(first.start, Timestamp::from_millis(4_000));
/// assert_eq!(first.duration, Duration::from_millis(1_500));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay_listing<D: FailureDetector + ?Sized>(
    fd: &mut D,
    trace: &Trace,
    config: &ReplayConfig,
    max_listed: usize,
) -> (Metrics, Mistakes) {
    let mut tally = Tally::new(max_listed);
    let metrics = run(
        fd,
        trace,
        config,
        std::slice::from_mut(&mut tally),
        |fd, _| fd.deadline(),
    );
    let metrics = metrics.into_iter().next().unwrap_or_default();
    let mistakes = Mistakes {
        total: tally.mistakes,
        listed: tally.listed,
    };
    (metrics, mistakes)
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
    let mut tallies: Vec<Tally> = levels.iter().map(|_| Tally::new(0)).collect();
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
    /// Where the latest arrival's accounting ended (its `trusted_again`; the start
    /// of the measurement before the first), and whether the detector was then
    /// suspecting: a mistake under way.
    accounted: u64,
    suspecting: bool,
    detections: DetectionStats,
    /// Mistakes to list at most, and those listed.
    max_listed: usize,
    listed: Vec<Mistake>,
}

impl Tally {
    fn new(max_listed: usize) -> Self {
        Tally {
            mistakes: 0,
            mistake_ns: 0,
            first: 0,
            last: 0,
            countdown: 1,
            deadline: u64::MAX,
            accounted: 0,
            suspecting: false,
            detections: DetectionStats::new(),
            max_listed,
            listed: Vec::new(),
        }
    }

    /// Accounts for the deadline after arrival `k` (at `arrived`): a mistake if it
    /// passes before trust is restored, and an injected crash every `inject`
    /// arrivals.
    ///
    /// Time up to `accounted` was accounted for by the previous arrival. A deadline
    /// before it (an arrival the detector refused leaves its deadline as it was, or
    /// a detector of the caller's reports a deadline in the past) counts only from
    /// there: it extends the mistake under way if there is one, so no instant is
    /// counted twice and the mistake time stays below the observed span (it used
    /// to overflow, a panic in debug builds, on a trace ending past the horizon).
    #[inline]
    fn observe(
        &mut self,
        deadline: u64,
        (k, arrived): (usize, u64),
        trusted_again: u64,
        crash_at: u64,
        inject: usize,
    ) {
        self.deadline = deadline;
        if deadline < trusted_again {
            let from = deadline.max(self.accounted);
            let duration = trusted_again - from;
            self.mistake_ns += duration;
            if deadline < self.accounted && self.suspecting {
                // The mistake under way goes on.
                if let Some(m) = self.listed.last_mut()
                    && m.start.as_nanos() + m.duration.as_nanos() as u64 == self.accounted
                {
                    m.duration += Duration::from_nanos(duration);
                    m.gap += Duration::from_nanos(duration);
                }
            } else {
                if self.mistakes == 0 {
                    self.first = from;
                }
                self.last = from;
                self.mistakes += 1;
                if self.listed.len() < self.max_listed {
                    self.listed.push(Mistake {
                        arrival: k,
                        start: Timestamp::from_nanos(from),
                        duration: Duration::from_nanos(duration),
                        gap: Duration::from_nanos(trusted_again.saturating_sub(arrived)),
                    });
                }
            }
        }
        self.suspecting = deadline < trusted_again;
        self.accounted = self.accounted.max(trusted_again);
        if inject > 0 {
            self.countdown -= 1;
            if self.countdown == 0 {
                self.countdown = inject;
                self.detections.record(detection_time(deadline, crash_at));
            }
        }
    }
}

/// Sub-buckets per power of two in [`DetectionStats`]' histogram: 2^7.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Octave 0 holds the values below 2 * SUB one by one; octave `k >= 1` the values
/// with their highest set bit at `k + SUB_BITS`.
const OCTAVES: usize = 64 - SUB_BITS as usize;

/// Streaming statistics of detection times: exact count, sum, min and max, and a
/// log-linear histogram for the p99 (see [`replay`]'s accuracy section). Memory is
/// at most `OCTAVES` x `2 * SUB` counters, allocated per octave on first use.
#[derive(Debug)]
struct DetectionStats {
    detected: u64,
    undetected: u64,
    sum: u128,
    min: u64,
    max: u64,
    octaves: Vec<Option<Box<[u32; 2 * SUB]>>>,
}

impl DetectionStats {
    fn new() -> Self {
        DetectionStats {
            detected: 0,
            undetected: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            octaves: Vec::new(),
        }
    }

    /// (octave, bucket) of a value: in octave 0 the value itself (below 256), else
    /// its 8 highest bits, whose leading one is implied (buckets 128 to 255).
    #[inline]
    fn bucket(value: u64) -> (usize, usize) {
        let high = 63 - (value | 1).leading_zeros();
        if high <= SUB_BITS {
            (0, value as usize)
        } else {
            let shift = high - SUB_BITS;
            (shift as usize, (value >> shift) as usize)
        }
    }

    /// The smallest value of a bucket, and its width.
    fn bounds(octave: usize, bucket: usize) -> (u64, u64) {
        ((bucket as u64) << octave, 1 << octave)
    }

    /// Records one detection time (`u64::MAX`: never detected).
    #[inline]
    fn record(&mut self, value: u64) {
        if value == u64::MAX {
            self.undetected += 1;
            return;
        }
        self.detected += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let (octave, bucket) = Self::bucket(value);
        if self.octaves.is_empty() {
            self.octaves.resize_with(OCTAVES, || None);
        }
        let counts = self.octaves[octave].get_or_insert_with(|| Box::new([0; 2 * SUB]));
        // At most `MAX_ARRIVALS` (2^26) detections per trace: no overflow.
        counts[bucket] = counts[bucket].saturating_add(1);
    }

    /// The nearest-rank `ceil(0.99 n)`-th smallest value, from the histogram.
    fn p99(&self) -> Option<u64> {
        if self.detected == 0 {
            return None;
        }
        let rank = (self.detected * 99).div_ceil(100).max(1);
        let mut seen = 0u64;
        for (octave, counts) in self.octaves.iter().enumerate() {
            let Some(counts) = counts else { continue };
            for (bucket, &count) in counts.iter().enumerate() {
                seen += u64::from(count);
                if seen >= rank {
                    let (low, width) = Self::bounds(octave, bucket);
                    let middle = low + (width - 1) / 2;
                    return Some(middle.clamp(self.min, self.max));
                }
            }
        }
        Some(self.max)
    }

    fn summarize(&self, detection: &mut Detection) {
        detection.crashes = (self.detected + self.undetected) as usize;
        detection.undetected = self.undetected as usize;
        if self.detected == 0 {
            return;
        }
        let ns = Duration::from_nanos;
        detection.mean = Some(ns((self.sum / u128::from(self.detected)) as u64));
        detection.max = Some(ns(self.max));
        detection.p99 = self.p99().map(ns);
    }
}

/// The replay loop shared by [`replay_listing`] and [`replay_levels`]: `deadline(fd, j)`
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
    let mut refused = 0;
    for &at in &arrivals[..warmup] {
        // Strictly increasing arrivals: refused only past the horizon, or by a
        // detector of the caller's.
        refused += u64::from(fd.heartbeat(at).is_err());
    }
    let mut base = Metrics {
        heartbeats: n - warmup,
        ..Metrics::default()
    };
    if warmup == n {
        base.refused = refused;
        return vec![base; tallies.len()];
    }
    let crash = trace.crash().map(|c| c.as_nanos());
    let start = arrivals[warmup].as_nanos();
    // Accuracy is measured over [start, end).
    let end = crash.unwrap_or(arrivals[n - 1].as_nanos()).max(start);
    // The instant the sender crashes if it crashes right after arrival k.
    let crash_times = trace.sent().unwrap_or(arrivals);
    // Mistakes are measured from `start` on, even one whose deadline is earlier
    // (after a refused arrival, or from a detector of the caller's).
    for tally in tallies.iter_mut() {
        tally.accounted = start;
    }
    let inject = if crash.is_some() {
        0
    } else {
        config.crash_every
    };
    for k in warmup..n {
        refused += u64::from(fd.heartbeat(arrivals[k]).is_err());
        let trusted_again = match arrivals.get(k + 1) {
            Some(next) => next.as_nanos().min(end),
            None => end,
        };
        let crash_at = crash_times[k].as_nanos();
        let arrival = (k, arrivals[k].as_nanos());
        for (j, tally) in tallies.iter_mut().enumerate() {
            let d = deadline(fd, j).map_or(u64::MAX, |d| d.as_nanos());
            tally.observe(d, arrival, trusted_again, crash_at, inject);
        }
    }
    base.refused = refused;
    tallies
        .iter_mut()
        .map(|tally| {
            if let Some(crash) = crash {
                tally
                    .detections
                    .record(detection_time(tally.deadline, crash));
            }
            let mut metrics = Metrics {
                observed: Duration::from_nanos(end - start),
                mistakes: tally.mistakes,
                mistake_time: Duration::from_nanos(tally.mistake_ns),
                first_mistake_ns: tally.first,
                last_mistake_ns: tally.last,
                ..base
            };
            tally.detections.summarize(&mut metrics.detection);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact nearest-rank p99, as replay computed it before the histogram.
    fn exact_p99(values: &[u64]) -> Option<u64> {
        let mut v: Vec<u64> = values.iter().copied().filter(|&d| d != u64::MAX).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(v[(v.len() * 99).div_ceil(100).max(1) - 1])
    }

    fn stats(values: &[u64]) -> DetectionStats {
        let mut s = DetectionStats::new();
        for &v in values {
            s.record(v);
        }
        s
    }

    #[test]
    fn buckets_tile_the_range() {
        let mut previous_end = 0u64;
        for octave in 0..OCTAVES {
            let first = if octave == 0 { 0 } else { SUB };
            for bucket in first..2 * SUB {
                let (low, width) = DetectionStats::bounds(octave, bucket);
                assert_eq!(low, previous_end, "{octave} {bucket}");
                assert_eq!(DetectionStats::bucket(low), (octave, bucket));
                assert_eq!(DetectionStats::bucket(low + (width - 1)), (octave, bucket));
                previous_end = low.wrapping_add(width);
            }
        }
        assert_eq!(previous_end, 0); // wrapped: the last bucket ends at 2^64
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(7),
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn p99_is_within_2_pow_minus_8_of_the_exact_value(
            values in proptest::collection::vec(
                proptest::prop_oneof![0u64..300, 0u64..5_000_000_000, 0u64..u64::MAX],
                1..400,
            ),
        ) {
            let s = stats(&values);
            let exact = exact_p99(&values).unwrap();
            let approx = s.p99().unwrap();
            let error = approx.abs_diff(exact);
            proptest::prop_assert!(error as f64 <= exact as f64 / 256.0, "{approx} vs {exact}");
            if exact < 256 {
                proptest::prop_assert_eq!(approx, exact);
            }
            let mut d = Detection::default();
            s.summarize(&mut d);
            let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
            proptest::prop_assert_eq!(d.mean, Some(Duration::from_nanos((sum / values.len() as u128) as u64)));
            proptest::prop_assert_eq!(d.max.map(|m| m.as_nanos() as u64), values.iter().copied().max());
        }
    }

    #[test]
    fn undetected_are_counted_apart_and_equal_values_are_exact() {
        let s = stats(&[150_000_000; 8]);
        assert_eq!(s.p99(), Some(150_000_000));
        let s = stats(&[u64::MAX, 5, u64::MAX]);
        let mut d = Detection::default();
        s.summarize(&mut d);
        assert_eq!((d.crashes, d.undetected), (3, 2));
        assert_eq!(d.p99, Some(Duration::from_nanos(5)));
        assert_eq!(stats(&[u64::MAX]).p99(), None);
    }
}
