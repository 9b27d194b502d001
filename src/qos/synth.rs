//! Seeded synthetic traces: a periodic sender with stalls and a crash, seen through a
//! network with delay, jitter, loss, drift and sudden changes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::distr::Distribution;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use statrs::distribution::{Exp, Gamma, LogNormal, Normal};

use super::trace::{Arrival, MAX_ARRIVALS, Trace};
use crate::error::{ConfigError, check};
use crate::time::{Timestamp, duration_nanos};

/// The one-way delay of each heartbeat: a constant, or a random variable given by its
/// mean and standard deviation. Samples are independent; the network may reorder
/// heartbeats when the spread is comparable to the period.
///
/// ```
/// use failure_detector::qos::Delay;
/// use std::time::Duration;
///
/// let d = Delay::log_normal(Duration::from_millis(20), Duration::from_millis(5))?;
/// assert_eq!(d.mean(), Duration::from_millis(20));
/// assert!(Delay::gamma(Duration::ZERO, Duration::from_millis(1)).is_err());
/// # Ok::<(), failure_detector::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delay(DelayModel);

#[derive(Clone, Copy, Debug, PartialEq)]
enum DelayModel {
    Constant(f64),
    /// Truncated at zero.
    Normal(Normal),
    LogNormal(LogNormal, f64),
    Gamma(Gamma, f64),
}

impl Delay {
    /// The same delay for every heartbeat.
    pub fn constant(delay: Duration) -> Self {
        Delay(DelayModel::Constant(duration_nanos(delay) as f64))
    }

    /// Normal delay; a negative sample counts as zero (so the mean is slightly above
    /// `mean` when `std_dev` is not small against it).
    ///
    /// # Errors
    /// [`ConfigError`] for `std_dev` zero (use [`constant`](Self::constant)).
    pub fn normal(mean: Duration, std_dev: Duration) -> Result<Self, ConfigError> {
        let (m, s) = moments(mean, std_dev, false)?;
        let normal =
            Normal::new(m, s).map_err(|_| ConfigError::NotPositive { field: "std_dev" })?;
        Ok(Delay(DelayModel::Normal(normal)))
    }

    /// Log-normal delay with this mean and standard deviation: a long right tail, as
    /// network delays have.
    ///
    /// # Errors
    /// [`ConfigError`] for `mean` or `std_dev` zero.
    pub fn log_normal(mean: Duration, std_dev: Duration) -> Result<Self, ConfigError> {
        let (m, s) = moments(mean, std_dev, true)?;
        let sigma2 = (1.0 + (s / m) * (s / m)).ln();
        let dist = LogNormal::new(m.ln() - sigma2 / 2.0, sigma2.sqrt())
            .map_err(|_| ConfigError::NotPositive { field: "std_dev" })?;
        Ok(Delay(DelayModel::LogNormal(dist, m)))
    }

    /// Gamma-distributed delay with this mean and standard deviation (shape
    /// `mean^2 / std_dev^2`).
    ///
    /// # Errors
    /// [`ConfigError`] for `mean` or `std_dev` zero.
    pub fn gamma(mean: Duration, std_dev: Duration) -> Result<Self, ConfigError> {
        let (m, s) = moments(mean, std_dev, true)?;
        let dist = Gamma::new(m * m / (s * s), m / (s * s))
            .map_err(|_| ConfigError::NotPositive { field: "std_dev" })?;
        Ok(Delay(DelayModel::Gamma(dist, m)))
    }

    /// The mean delay (of the untruncated distribution, for the normal one).
    pub fn mean(&self) -> Duration {
        let m = match self.0 {
            DelayModel::Constant(m) | DelayModel::LogNormal(_, m) | DelayModel::Gamma(_, m) => m,
            DelayModel::Normal(n) => statrs::statistics::Distribution::mean(&n).unwrap_or(0.0),
        };
        Duration::from_nanos(m.round() as u64)
    }

    /// One sample, ns (never negative).
    pub(crate) fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> f64 {
        match &self.0 {
            DelayModel::Constant(d) => *d,
            DelayModel::Normal(d) => d.sample(rng).max(0.0),
            DelayModel::LogNormal(d, _) => d.sample(rng),
            DelayModel::Gamma(d, _) => d.sample(rng),
        }
    }
}

/// Mean and standard deviation in ns, validated.
fn moments(
    mean: Duration,
    std_dev: Duration,
    mean_positive: bool,
) -> Result<(f64, f64), ConfigError> {
    let m = if mean_positive {
        check::nonzero("mean", mean)?
    } else {
        duration_nanos(mean)
    };
    let s = check::nonzero("std_dev", std_dev)?;
    Ok((m as f64, s as f64))
}

/// Which heartbeats the network drops: none, each independently, or in bursts (the
/// two-state Gilbert-Elliott model).
///
/// ```
/// use failure_detector::qos::Loss;
///
/// // 1% of heartbeats lost, in bursts of 5 on average.
/// let loss = Loss::bursty(0.01, 5.0)?;
/// assert!((loss.rate() - 0.01).abs() < 1e-12);
/// assert!(Loss::random(1.5).is_err());
/// # Ok::<(), failure_detector::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss(LossModel);

#[derive(Clone, Copy, Debug, PartialEq)]
enum LossModel {
    None,
    Random(f64),
    GilbertElliott {
        enter_bad: f64,
        leave_bad: f64,
        loss_good: f64,
        loss_bad: f64,
    },
}

impl Loss {
    /// No heartbeat is lost.
    pub const fn none() -> Self {
        Loss(LossModel::None)
    }

    /// Each heartbeat is lost independently with probability `rate`.
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 <= rate < 1`.
    pub fn random(rate: f64) -> Result<Self, ConfigError> {
        Ok(Loss(LossModel::Random(probability("rate", rate, false)?)))
    }

    /// Bursty loss: a Gilbert model (every heartbeat lost in the bad state, none in
    /// the good one) whose long-run loss rate is `rate` and whose bursts last
    /// `mean_burst` heartbeats on average.
    ///
    /// The good state lasts at least one heartbeat too, so `rate` is at most
    /// `mean_burst / (mean_burst + 1)` (a half for bursts of one heartbeat).
    ///
    /// # Errors
    /// [`ConfigError`] unless `0 <= rate < 1` and `mean_burst >= 1` (finite);
    /// [`ConfigError::OutOfRange`] on `rate` above `mean_burst / (mean_burst + 1)`,
    /// which bursts that short cannot reach.
    pub fn bursty(rate: f64, mean_burst: f64) -> Result<Self, ConfigError> {
        let rate = probability("rate", rate, false)?;
        if check::positive("mean_burst", mean_burst)? < 1.0 {
            return Err(ConfigError::OutOfRange {
                field: "mean_burst",
                allowed: "at least 1 heartbeat",
            });
        }
        let leave_bad = 1.0 / mean_burst;
        // Stationary share of the bad state: enter / (enter + leave) = rate.
        let enter_bad = rate * leave_bad / (1.0 - rate);
        // Above 1 (beyond rounding) the rate cannot be reached: clamping it, as
        // this once did, gave a different rate without a word.
        if enter_bad > 1.0 + 1e-12 {
            return Err(ConfigError::OutOfRange {
                field: "rate",
                allowed: "at most mean_burst / (mean_burst + 1)",
            });
        }
        Loss::gilbert_elliott(enter_bad.min(1.0), leave_bad, 0.0, 1.0)
    }

    /// The general Gilbert-Elliott model: per heartbeat, the channel moves from the
    /// good to the bad state with probability `enter_bad` and back with `leave_bad`;
    /// a heartbeat is lost with probability `loss_good` or `loss_bad` depending on the
    /// state. The channel starts in the good state.
    ///
    /// # Errors
    /// [`ConfigError`] unless every argument is a probability in `[0, 1]` and
    /// `leave_bad > 0`.
    pub fn gilbert_elliott(
        enter_bad: f64,
        leave_bad: f64,
        loss_good: f64,
        loss_bad: f64,
    ) -> Result<Self, ConfigError> {
        Ok(Loss(LossModel::GilbertElliott {
            enter_bad: probability("enter_bad", enter_bad, true)?,
            leave_bad: check::positive("leave_bad", probability("leave_bad", leave_bad, true)?)?,
            loss_good: probability("loss_good", loss_good, true)?,
            loss_bad: probability("loss_bad", loss_bad, true)?,
        }))
    }

    /// The long-run share of heartbeats lost.
    pub fn rate(&self) -> f64 {
        match self.0 {
            LossModel::None => 0.0,
            LossModel::Random(p) => p,
            LossModel::GilbertElliott {
                enter_bad,
                leave_bad,
                loss_good,
                loss_bad,
            } => {
                let bad = enter_bad / (enter_bad + leave_bad);
                bad * loss_bad + (1.0 - bad) * loss_good
            }
        }
    }

    /// Advances the channel by one heartbeat; `true` if it is lost.
    pub(crate) fn lost(&self, bad: &mut bool, rng: &mut Xoshiro256PlusPlus) -> bool {
        match self.0 {
            LossModel::None => false,
            LossModel::Random(p) => uniform(rng) < p,
            LossModel::GilbertElliott {
                enter_bad,
                leave_bad,
                loss_good,
                loss_bad,
            } => {
                let switch = if *bad { leave_bad } else { enter_bad };
                if uniform(rng) < switch {
                    *bad = !*bad;
                }
                uniform(rng) < if *bad { loss_bad } else { loss_good }
            }
        }
    }
}

fn probability(field: &'static str, p: f64, one_allowed: bool) -> Result<f64, ConfigError> {
    if !p.is_finite() {
        return Err(ConfigError::NotFinite { field });
    }
    if !(0.0..=1.0).contains(&p) || (p == 1.0 && !one_allowed) {
        return Err(ConfigError::OutOfRange {
            field,
            allowed: if one_allowed {
                "a probability from 0 to 1"
            } else {
                "a probability from 0 to less than 1"
            },
        });
    }
    Ok(p)
}

/// A uniform double in `[0, 1)` with 53 random bits.
fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The path from sender to monitor: delay, loss and a slow drift of the delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// Delay of each heartbeat. Default: none.
    pub delay: Delay,
    /// Which heartbeats are lost. Default: none.
    pub loss: Loss,
    /// Extra delay added per hour since the start of the trace (a slow drift, e.g. a
    /// queue filling up). Default zero.
    pub drift_per_hour: Duration,
}

impl Network {
    /// A perfect network: no delay, no loss, no drift (the [`Default`]).
    pub const fn new() -> Self {
        Network {
            delay: Delay(DelayModel::Constant(0.0)),
            loss: Loss::none(),
            drift_per_hour: Duration::ZERO,
        }
    }

    /// Sets [`delay`](Self::delay).
    pub const fn with_delay(mut self, delay: Delay) -> Self {
        self.delay = delay;
        self
    }

    /// Sets [`loss`](Self::loss).
    pub const fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`drift_per_hour`](Self::drift_per_hour).
    pub const fn with_drift(mut self, per_hour: Duration) -> Self {
        self.drift_per_hour = per_hour;
        self
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

/// A synthetic heartbeat scenario: a sender with a fixed period, rare stalls (GC
/// pauses) and an optional crash, and a [`Network`] that may change suddenly. Built
/// in one expression and generated from a seed: the same seed gives the same trace.
///
/// ```
/// use failure_detector::qos::{Delay, Loss, Scenario};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// // Log-normal jitter + 1% bursty loss + a 2 s stall every 10 minutes (on average).
/// let scenario = Scenario::new(ms(100))
///     .jitter(Delay::log_normal(ms(10), ms(3))?)
///     .loss(Loss::bursty(0.01, 4.0)?)
///     .stalls(Duration::from_secs(2), Duration::from_secs(600));
/// let trace = scenario.generate(42, 10_000)?;
/// assert!(trace.len() > 9_700 && trace.len() < 10_000);
/// assert_eq!(trace, scenario.generate(42, 10_000)?); // reproducible
/// # Ok::<(), failure_detector::ConfigError>(())
/// ```
///
/// The model, per heartbeat `s = 0, 1, ...`: the sender sends at `start + s * interval`
/// unless a stall is under way, in which case it sends once when the stall ends and
/// keeps its period from there; stalls start at exponentially distributed gaps (mean
/// `every`) after the previous one ends, or after the send it delayed if that is
/// later: at most one stall per heartbeat, so that the work per heartbeat is bounded
/// (stalls are meant to be rarer than heartbeats; with `every` much longer than
/// `interval`, as for GC pauses, the rule changes nothing). Nothing is sent at or
/// after the crash. The
/// network in force at the send time (the changed one after
/// [`change_at`](Self::change_at)) decides whether the heartbeat is lost and adds its
/// delay plus `drift_per_hour` times the hours since the start. Arrivals are
/// delivered in arrival order (a heartbeat overtaken by a later one arrives after it);
/// two arrivals at the same nanosecond are moved 1 ns apart.
///
/// Each random process (delay, loss, stalls) has its own stream derived from the
/// seed, so turning loss on does not change the delays drawn.
///
/// # The end of time
///
/// Times are [`Timestamp`]s, which end at [`Timestamp::MAX`] (about 584 years after
/// the origin). A scenario whose sends or arrivals would pass it is refused: up front
/// when the periodic schedule alone would ([`generate`](Self::generate) and
/// [`arrivals`](Self::arrivals) return [`ConfigError::OutOfRange`] on
/// `heartbeats`), else when stalls, delays or drift push a time past it
/// ([`generate`](Self::generate) and [`apply`](Self::apply) return
/// [`ConfigError::OutOfRange`] on `end of time`; a lazy [`Generator`] stops and says
/// so with [`Generator::ran_out_of_time`]). No trace is ever cut short silently.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    interval: Duration,
    start: Timestamp,
    network: Network,
    change: Option<(Duration, Network)>,
    stalls: Option<(Duration, Duration)>,
    crash: Option<Duration>,
}

impl Scenario {
    /// A sender every `interval` on a perfect network, starting at time zero.
    pub const fn new(interval: Duration) -> Self {
        Scenario {
            interval,
            start: Timestamp::ZERO,
            network: Network::new(),
            change: None,
            stalls: None,
            crash: None,
        }
    }

    /// The first heartbeat is sent at `start` (default zero).
    pub const fn starting_at(mut self, start: Timestamp) -> Self {
        self.start = start;
        self
    }

    /// The network's delay distribution.
    pub const fn jitter(mut self, delay: Delay) -> Self {
        self.network.delay = delay;
        self
    }

    /// The network's loss model.
    pub const fn loss(mut self, loss: Loss) -> Self {
        self.network.loss = loss;
        self
    }

    /// A slow drift: the delay grows by `per_hour` every hour.
    pub const fn drift(mut self, per_hour: Duration) -> Self {
        self.network.drift_per_hour = per_hour;
        self
    }

    /// The whole network at once.
    pub const fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// A sudden change: heartbeats sent `after` the start or later go through
    /// `network` instead.
    pub const fn change_at(mut self, after: Duration, network: Network) -> Self {
        self.change = Some((after, network));
        self
    }

    /// Sender stalls of `length`, starting on average `every` apart (exponential
    /// gaps): a GC pause, a descheduled VM. `length` is at most 2^47 ns (about 39
    /// hours: a longer silence is a crash, see [`crash_at`](Self::crash_at)); both
    /// are checked when the trace is generated.
    pub const fn stalls(mut self, length: Duration, every: Duration) -> Self {
        self.stalls = Some((length, every));
        self
    }

    /// The sender crashes `after` the start: nothing is sent from then on, and the
    /// trace records the crash.
    pub const fn crash_at(mut self, after: Duration) -> Self {
        self.crash = Some(after);
        self
    }

    /// The stream of arrivals for `seed`: at most `heartbeats` are sent (fewer
    /// arrive if some are lost or the sender crashes). Lazy, O(log r) per arrival
    /// where r is the number of heartbeats in flight, and O(1) work per heartbeat
    /// sent: every step of the stream either sends one of the `heartbeats` or
    /// delivers one in flight.
    ///
    /// At most 2^20 heartbeats are in flight at once (24 MiB), whatever the delay:
    /// when a delay spans more than 2^20 intervals, the earliest in flight is
    /// delivered before the next is sent, so a later heartbeat that the network
    /// would have delivered before it arrives 1 ns after the last one delivered
    /// instead (the stream's arrivals are strictly increasing).
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `interval` zero or above 2^47 ns, a stall
    /// `length` zero or above 2^47 ns, `every` zero, or `heartbeats` so many that the
    /// last send, `start + (heartbeats - 1) * interval`, is after
    /// [`Timestamp::MAX`].
    pub fn arrivals(&self, seed: u64, heartbeats: u64) -> Result<Generator, ConfigError> {
        let interval = check::recordable("interval", self.interval)?;
        let last_send = heartbeats
            .checked_sub(1)
            .map_or(Some(0), |n| n.checked_mul(interval))
            .and_then(|span| self.start.as_nanos().checked_add(span));
        if last_send.is_none() {
            return Err(ConfigError::OutOfRange {
                field: "heartbeats",
                allowed: "few enough that the last send is before Timestamp::MAX",
            });
        }
        let stalls = match self.stalls {
            Some((length, every)) => {
                let length = check::recordable("stall length", length)?;
                let every = check::nonzero("stall every", every)? as f64;
                let exp = Exp::new(1.0 / every).map_err(|_| ConfigError::NotPositive {
                    field: "stall every",
                })?;
                Some((length, exp))
            }
            None => None,
        };
        let sends = Sends::Periodic {
            next: Some(self.start.as_nanos()),
            interval,
            remaining: heartbeats,
            seq: 0,
            stalls,
            next_stall: None,
        };
        Ok(self.generator(seed, sends, self.start.as_nanos()))
    }

    /// Generates a trace of `heartbeats` sent heartbeats for `seed` (see
    /// [`arrivals`](Self::arrivals)), with sequence numbers, send times and the crash.
    /// `heartbeats` is at most [`MAX_ARRIVALS`](crate::qos::MAX_ARRIVALS), checked
    /// before anything is generated.
    ///
    /// # Errors
    /// As [`arrivals`](Self::arrivals); [`ConfigError::OutOfRange`] on `heartbeats`
    /// above [`MAX_ARRIVALS`](crate::qos::MAX_ARRIVALS), or on `end of time` if a send
    /// or arrival would be after [`Timestamp::MAX`] (see the type's docs).
    pub fn generate(&self, seed: u64, heartbeats: u64) -> Result<Trace, ConfigError> {
        if heartbeats > MAX_ARRIVALS {
            return Err(ConfigError::OutOfRange {
                field: "heartbeats",
                allowed: "at most MAX_ARRIVALS (2^26)",
            });
        }
        self.arrivals(seed, heartbeats)?.into_trace()
    }

    /// Sends the heartbeats of an existing trace (at its send times, or its arrivals
    /// if it has none; with its sequence numbers, or their positions) through this
    /// scenario's network, and stops them at its crash. The sender's own period and
    /// stalls are those of the trace. Use it to put a network model on top of the
    /// LIP6 sender-side traces.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] on `end of time` if a delay or drift would put an
    /// arrival after [`Timestamp::MAX`].
    pub fn apply(&self, seed: u64, trace: &Trace) -> Result<Trace, ConfigError> {
        let sent = trace.sent().unwrap_or(trace.arrivals());
        let origin = sent.first().map_or(0, |t| t.as_nanos());
        let sends = Sends::Replayed {
            sent: sent.to_vec(),
            seqs: trace.seqs().map(<[u64]>::to_vec),
            next: 0,
        };
        let mut generator = self.generator(seed, sends, origin);
        if let Some(crash) = trace.crash() {
            let crash = crash.as_nanos();
            generator.crash = Some(generator.crash.map_or(crash, |own| own.min(crash)));
        }
        generator.into_trace()
    }

    /// A generator whose times (change, crash, drift) count from `origin`.
    fn generator(&self, seed: u64, sends: Sends, origin: u64) -> Generator {
        let stream = |i: u64| {
            Xoshiro256PlusPlus::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        };
        let ns = |d: Duration| duration_nanos(d);
        Generator {
            sends,
            sender_done: false,
            origin,
            network: self.network,
            change: self
                .change
                .map(|(after, net)| (origin.saturating_add(ns(after)), net)),
            crash: self.crash.map(|after| origin.saturating_add(ns(after))),
            delay_rng: stream(1),
            loss_rng: stream(2),
            stall_rng: stream(3),
            bad: false,
            in_flight: BinaryHeap::new(),
            last: None,
            out_of_time: false,
        }
    }
}

/// Where send times come from.
#[derive(Clone, Debug)]
enum Sends {
    Periodic {
        /// The next send if no stall delays it; `None` past the end of time.
        next: Option<u64>,
        interval: u64,
        remaining: u64,
        seq: u64,
        /// Stall length (ns) and the distribution of gaps between stalls.
        stalls: Option<(u64, Exp)>,
        /// Start of the next stall, drawn lazily.
        next_stall: Option<u64>,
    },
    Replayed {
        sent: Vec<Timestamp>,
        seqs: Option<Vec<u64>>,
        next: usize,
    },
}

/// A lazy stream of synthetic arrivals ([`Scenario::arrivals`]), in arrival order.
#[derive(Clone, Debug)]
pub struct Generator {
    sends: Sends,
    /// The sender sent its last heartbeat (or crashed).
    sender_done: bool,
    origin: u64,
    network: Network,
    change: Option<(u64, Network)>,
    crash: Option<u64>,
    delay_rng: Xoshiro256PlusPlus,
    loss_rng: Xoshiro256PlusPlus,
    stall_rng: Xoshiro256PlusPlus,
    /// Gilbert-Elliott state.
    bad: bool,
    /// Heartbeats sent and not yet delivered: (arrival, seq, sent).
    in_flight: BinaryHeap<Reverse<(u64, u64, u64)>>,
    last: Option<u64>,
    /// A send or arrival would have been after `Timestamp::MAX`: the sender stopped.
    out_of_time: bool,
}

/// Heartbeats held in flight (sent, not yet delivered) at most: 24 MiB. Beyond it
/// the earliest is delivered before the next is sent (see [`Scenario::arrivals`]).
/// Without the bound, a delay of many intervals (1 s at an interval of 1 ns) made
/// the first `next` send a billion heartbeats into memory before it could return.
const MAX_IN_FLIGHT: usize = 1 << 20;

/// The error of a stream that ran past [`Timestamp::MAX`].
const OUT_OF_TIME: ConfigError = ConfigError::OutOfRange {
    field: "end of time",
    allowed: "send and arrival times at or before Timestamp::MAX",
};

impl Generator {
    /// The crash time, if the scenario has one.
    pub fn crash(&self) -> Option<Timestamp> {
        self.crash.map(Timestamp::from_nanos)
    }

    /// Whether the stream stopped early because a send or arrival time would have
    /// been after [`Timestamp::MAX`] (the heartbeats already in flight were still
    /// delivered). Always `false` while the stream has not reached that point.
    pub fn ran_out_of_time(&self) -> bool {
        self.out_of_time
    }

    /// Collects the stream into a trace (with the crash).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] on `end of time` if the stream
    /// [ran out of time](Self::ran_out_of_time), or on `heartbeats` if it yields more
    /// than [`MAX_ARRIVALS`](crate::qos::MAX_ARRIVALS) arrivals.
    pub fn into_trace(mut self) -> Result<Trace, ConfigError> {
        let crash = self.crash();
        let mut trace = Trace::new();
        for arrival in &mut self {
            // Arrivals are strictly increasing with both columns by construction;
            // only the length can be refused.
            trace.push(arrival).map_err(|_| ConfigError::OutOfRange {
                field: "heartbeats",
                allowed: "at most MAX_ARRIVALS (2^26)",
            })?;
        }
        if self.out_of_time {
            return Err(OUT_OF_TIME);
        }
        trace.set_crash(crash);
        Ok(trace)
    }

    /// The next send: (seq, time), or `None` when the sender is done.
    fn next_send(&mut self) -> Option<(u64, u64)> {
        if self.sender_done {
            return None;
        }
        let next = self.scheduled_send();
        if next.is_none() {
            self.sender_done = true;
        }
        next
    }

    fn scheduled_send(&mut self) -> Option<(u64, u64)> {
        let out_of_time = &mut self.out_of_time;
        let (seq, at) = match &mut self.sends {
            Sends::Periodic {
                next,
                interval,
                remaining,
                seq,
                stalls,
                next_stall,
            } => {
                if *remaining == 0 {
                    return None;
                }
                let Some(mut at) = *next else {
                    *out_of_time = true;
                    return None;
                };
                if let Some((length, gaps)) = stalls {
                    // `u64::MAX` for the next stall: none before the end of time.
                    let stall = *next_stall.get_or_insert_with(|| {
                        at.saturating_add(gaps.sample(&mut self.stall_rng) as u64)
                    });
                    if stall <= at && stall < u64::MAX {
                        // The stall started at or before this send: if it is still
                        // under way, the send waits for its end. At most one stall
                        // per send; the next is drawn after the later of the two.
                        let Some(end) = stall.checked_add(*length) else {
                            *out_of_time = true;
                            return None;
                        };
                        at = at.max(end);
                        *next_stall =
                            Some(at.saturating_add(gaps.sample(&mut self.stall_rng) as u64));
                    }
                }
                *remaining -= 1;
                *next = at.checked_add(*interval);
                *seq += 1;
                (*seq - 1, at)
            }
            Sends::Replayed { sent, seqs, next } => {
                let i = *next;
                let at = sent.get(i)?.as_nanos();
                *next += 1;
                (seqs.as_ref().map_or(i as u64, |s| s[i]), at)
            }
        };
        if self.crash.is_some_and(|crash| at >= crash) {
            return None;
        }
        Some((seq, at))
    }

    /// Sends the next heartbeat through the network; `false` when the sender is done.
    fn send_one(&mut self) -> bool {
        let Some((seq, at)) = self.next_send() else {
            return false;
        };
        let network = match self.change {
            Some((when, changed)) if at >= when => changed,
            _ => self.network,
        };
        if network.loss.lost(&mut self.bad, &mut self.loss_rng) {
            return true;
        }
        let hours = at.saturating_sub(self.origin) as f64 / 3.6e12;
        let delay = network.delay.sample(&mut self.delay_rng)
            + duration_nanos(network.drift_per_hour) as f64 * hours;
        // `as` saturates (and maps NaN to 0).
        let Some(arrival) = at.checked_add(delay as u64) else {
            self.out_of_time = true;
            self.sender_done = true;
            return false;
        };
        self.in_flight.push(Reverse((arrival, seq, at)));
        true
    }

    /// The send time of the next heartbeat, without sending it.
    fn peek_send(&self) -> Option<u64> {
        if self.sender_done {
            return None;
        }
        match &self.sends {
            Sends::Periodic {
                next, remaining, ..
            } => (*remaining > 0).then_some(next.unwrap_or(u64::MAX)),
            Sends::Replayed { sent, next, .. } => sent.get(*next).map(|t| t.as_nanos()),
        }
    }
}

impl Iterator for Generator {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        loop {
            // A heartbeat in flight can be delivered once no later send can overtake
            // it: delays are never negative, so nothing sent after its arrival time
            // (or, with stalls, after the next scheduled send) arrives before it.
            if let Some(&Reverse((arrival, _, _))) = self.in_flight.peek()
                && (self.in_flight.len() >= MAX_IN_FLIGHT
                    || self.peek_send().is_none_or(|send| arrival < send))
            {
                break;
            }
            if !self.send_one() && self.in_flight.is_empty() {
                return None;
            }
        }
        let Reverse((arrival, seq, sent)) = self.in_flight.pop()?;
        let arrival = match self.last {
            Some(last) if arrival <= last => match last.checked_add(1) {
                Some(moved) => moved,
                None => {
                    self.out_of_time = true;
                    self.sender_done = true;
                    self.in_flight.clear();
                    return None;
                }
            },
            _ => arrival,
        };
        self.last = Some(arrival);
        Some(Arrival {
            at: Timestamp::from_nanos(arrival),
            seq: Some(seq),
            sent: Some(Timestamp::from_nanos(sent)),
        })
    }
}
