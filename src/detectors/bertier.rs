//! Bertier, Marin and Sens's adaptable detector ("Implementation and performance
//! evaluation of an adaptable failure detector", DSN 2002): Chen's estimate with a
//! safety margin that follows the network, as Jacobson's TCP round-trip estimator does.

use std::time::Duration;

use crate::detectors::{FailureDetector, Stats, ceil_ns};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::estimate::{MAX_EXPECTED_PERIODS, Observed, Tracker};
use crate::time::Timestamp;

/// Configuration of a [`Bertier`] detector. Defaults are the paper's (`beta = 1`,
/// `phi = 4`, `gamma = 0.1`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BertierConfig {
    /// The sender's heartbeat period (`eta`). Default 1 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub interval: Duration,
    /// Arrivals averaged by Chen's estimate (`n`). Default 1000; 1 to 32,768.
    pub window_size: usize,
    /// Weight of the estimated delay in the margin (`beta`). Default 1.0; finite,
    /// > 0.
    pub beta: f64,
    /// Weight of the estimated variation in the margin (`phi`); also the threshold.
    /// Default 4.0; finite, > 0.
    pub phi: f64,
    /// Gain of the delay and variation estimators (`gamma`). Default 0.1; finite, in
    /// (0, 1].
    pub gamma: f64,
}

impl BertierConfig {
    /// The paper's parameters with a 1 s period and 1000 arrivals (the [`Default`]).
    pub const fn new() -> Self {
        BertierConfig {
            interval: Duration::from_secs(1),
            window_size: 1000,
            beta: 1.0,
            phi: 4.0,
            gamma: 0.1,
        }
    }

    /// Sets [`interval`](Self::interval).
    pub const fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`window_size`](Self::window_size).
    pub const fn with_window_size(mut self, window_size: usize) -> Self {
        self.window_size = window_size;
        self
    }

    /// Sets [`beta`](Self::beta).
    pub const fn with_beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// Sets [`phi`](Self::phi).
    pub const fn with_phi(mut self, phi: f64) -> Self {
        self.phi = phi;
        self
    }

    /// Sets [`gamma`](Self::gamma).
    pub const fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
}

impl Default for BertierConfig {
    fn default() -> Self {
        BertierConfig::new()
    }
}

/// Bertier's detector: Chen's expected arrival plus a margin that Jacobson's
/// estimator adapts to the error of that expectation.
///
/// With `EA(k)` Chen's estimate (see [`Chen`](crate::Chen)), at each arrival `A_k`
/// (Bertier et al. 2002, section 4):
///
/// ```text
/// error(k)   = A_k - EA(k) - delay(k)
/// delay(k+1) = delay(k) + gamma * error(k)
/// var(k+1)   = var(k) + gamma * (|error(k)| - var(k))
/// alpha(k+1) = beta * delay(k+1) + phi * var(k+1)
/// tau(k+1)   = EA(k+1) + alpha(k+1)
/// ```
///
/// with `delay` and `var` starting at 0, and `EA(k)` the arrival expected for heartbeat
/// `k`'s own sequence number (so a lost heartbeat before it is not lateness).
/// `A_k - EA(k)` is taken at most 18 periods early or late (the sequence-number rules
/// keep it there but for a slow drift of the window). The node is trusted until the freshness
/// point `tau(k+1)`. Suspicion counts how many `var`s the silence is past
/// `EA(k+1) + beta * delay`, `max(0, now - EA(k+1) - beta * delay) / var` (with
/// `var` floored at 1 ns), so the threshold is `phi` and the deadline is `tau(k+1)`.
/// After a very late heartbeat `EA(k+1) + beta * delay` can lie before `A_k`; it is
/// then taken as `A_k`, so that the node is trusted for `phi * var` at least.
/// Sequence numbers are inferred from the estimated schedule as for [`Chen`](crate::Chen), or given
/// with [`heartbeat_with_seq`](Self::heartbeat_with_seq), and the window is re-anchored
/// after a stall that moved the schedule's phase as Chen's is (see "After a stall"
/// there): while an arrival after a gap may be the first of a moved schedule,
/// `EA(k+1)` is the later of the old schedule's and one period after it, for the
/// freshness point; `A_(k+1) - EA(k+1)` is still measured against the old schedule's.
/// O(1) per heartbeat.
///
/// Bounds: with `c` 18 periods, `|delay| <= c`, `var <= 2c`, `EA(k+1) - A_k <= c`,
/// so the deadline is at most `c * (1 + beta + 2 * phi) + phi` ns after the last
/// heartbeat, whatever the sequence numbers and arrival times.
///
/// ```
/// use failure_detector::{Bertier, BertierConfig, FailureDetector, Timestamp};
/// use std::time::Duration;
///
/// let cfg = BertierConfig::new().with_interval(Duration::from_millis(100));
/// let mut fd = Bertier::new(cfg).unwrap();
/// for i in 0..200 {
///     // 10 ms of delay, alternately 2 ms less and 2 ms more.
///     let delay = if i % 2 == 0 { 8 } else { 12 };
///     fd.heartbeat(Timestamp::from_millis(100 * i + delay)).unwrap();
/// }
/// // The margin settles near phi * 2 ms of mean absolute error.
/// let margin = fd.margin();
/// assert!(margin > Duration::from_millis(6) && margin < Duration::from_millis(10), "{margin:?}");
/// ```
///
/// Memory: `size_of::<Bertier>()` (under 300 bytes) plus 16 bytes per window slot.
#[derive(Clone, Debug)]
pub struct Bertier {
    config: BertierConfig,
    tracker: Tracker,
    /// `EA(k+1) - A_k`, ns: on the estimated schedule, or while the last arrival may
    /// be the first of a moved schedule, the later of that and the new phase's.
    expected_ns: f64,
    /// `EA(k+1) - A_k` on the estimated schedule alone, ns: what the next arrival's
    /// lateness is measured against.
    schedule_ns: f64,
    delay_ns: f64,
    var_ns: f64,
    /// `max(0, EA(k+1) + beta * delay) - A_k`, ns: where suspicion starts to grow.
    start_ns: f64,
    /// `max(var, 1 ns)`: suspicion divides by it, as the deadline multiplies by it
    /// (multiplying by its inverse could land one ulp below the threshold there).
    var_floor_ns: f64,
}

impl Bertier {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `interval` zero or above 2^47 ns,
    /// `window_size` zero or above 32,768, `beta` or `phi` NaN, infinite or not
    /// positive, `gamma` outside (0, 1].
    pub fn new(config: BertierConfig) -> Result<Self, ConfigError> {
        let eta = check::recordable("interval", config.interval)?;
        let window = check::window("window_size", config.window_size)?;
        check::positive("beta", config.beta)?;
        check::positive("phi", config.phi)?;
        if check::positive("gamma", config.gamma)? > 1.0 {
            return Err(ConfigError::OutOfRange {
                field: "gamma",
                allowed: "greater than 0 and at most 1",
            });
        }
        let mut fd = Bertier {
            config,
            tracker: Tracker::new(window, 0, eta),
            expected_ns: 0.0,
            schedule_ns: 0.0,
            delay_ns: 0.0,
            var_ns: 0.0,
            start_ns: 0.0,
            var_floor_ns: 1.0,
        };
        fd.reset();
        Ok(fd)
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &BertierConfig {
        &self.config
    }

    /// Records a heartbeat carrying the sender's sequence number: `Ok(false)` and no
    /// change for a stale one (equal to the newest or at most 16 below), a number
    /// more than 16 periods away from its arrival's slot taken as a restarted
    /// counter; the rules of [`Chen::heartbeat_with_seq`](crate::Chen::heartbeat_with_seq).
    ///
    /// # Errors
    /// As [`FailureDetector::heartbeat`]; nothing is changed.
    pub fn heartbeat_with_seq(&mut self, at: Timestamp, seq: u64) -> Result<bool, HeartbeatError> {
        self.record(at, Some(seq))
    }

    /// The current safety margin `alpha = beta * delay + phi * var`, rounded up to
    /// the nanosecond (zero if negative).
    pub fn margin(&self) -> Duration {
        let alpha = self.config.beta * self.delay_ns + self.config.phi * self.var_ns.max(1.0);
        Duration::from_nanos(if alpha > 0.0 { ceil_ns(alpha) } else { 0 })
    }

    /// `EA(k+1)`: when the next heartbeat is expected. `None` before the first
    /// heartbeat or beyond [`Timestamp::MAX`].
    pub fn expected_arrival(&self) -> Option<Timestamp> {
        self.tracker
            .arrivals
            .deadline_after_ns(ceil_ns(self.expected_ns))
    }

    #[inline]
    fn record(&mut self, at: Timestamp, seq: Option<u64>) -> Result<bool, HeartbeatError> {
        match self.tracker.observe(at, seq)? {
            Observed::Stale => return Ok(false),
            Observed::First => {}
            Observed::Next { gap_ns, slots } => {
                // A_k - EA(k), with EA(k) the expected arrival of this heartbeat's own
                // slot, `slots` after the previous one's: gap - (EA(k-1 + 1) - A_(k-1))
                // - eta * (slots - 1). Clamped to the range the slots allow.
                // eta <= 2^47 and slots < 2^63: the signed conversions are one
                // instruction each (the unsigned ones six).
                let eta = self.tracker.estimate.eta() as i64 as f64;
                let late = gap_ns as f64 - self.schedule_ns + eta - eta * slots as i64 as f64;
                // The largest lateness recorded: MAX_EXPECTED_PERIODS periods.
                let bound = MAX_EXPECTED_PERIODS as f64 * eta;
                let late = if late > bound {
                    bound
                } else if late < -bound {
                    -bound
                } else {
                    late
                };
                let error = late - self.delay_ns;
                let gamma = self.config.gamma;
                self.delay_ns += gamma * error;
                self.var_ns += gamma * (error.abs() - self.var_ns);
                self.var_floor_ns = self.var_ns.max(1.0);
            }
        }
        let estimate = &self.tracker.estimate;
        self.schedule_ns = estimate.expected_offset();
        // After a stall the next heartbeat may keep the old schedule or a new phase:
        // wait for the later of the two until it says which.
        self.expected_ns = match estimate.pending_offset() {
            Some(either) => self.schedule_ns.max(either),
            None => self.schedule_ns,
        };
        // Suspicion grows from EA(k+1) + beta * delay, but not before this arrival.
        self.start_ns = (self.expected_ns + self.config.beta * self.delay_ns).max(0.0);
        // The same expression as `deadline_for(phi)`, so the two agree exactly.
        let offset = self.start_ns + self.config.phi * self.var_floor_ns;
        self.tracker.arrivals.accept(at, ceil_ns(offset));
        Ok(true)
    }
}

impl FailureDetector for Bertier {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        self.record(at, None).map(|_| ())
    }

    #[inline]
    fn suspicion(&self, now: Timestamp) -> f64 {
        let raw = match self.tracker.arrivals.silence_ns(now) {
            Some(silence) => ((silence - self.start_ns) / self.var_floor_ns).max(0.0),
            None => 0.0,
        };
        self.tracker.arrivals.report(now, raw, self.config.phi)
    }

    fn threshold(&self) -> f64 {
        self.config.phi
    }

    #[inline]
    fn is_available(&self, now: Timestamp) -> bool {
        self.tracker.arrivals.is_available(now)
    }

    fn deadline(&self) -> Option<Timestamp> {
        self.tracker.arrivals.deadline()
    }

    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        if level.is_nan() {
            return None;
        }
        let real = if level <= 0.0 {
            0.0
        } else {
            self.start_ns + level * self.var_floor_ns
        };
        self.tracker.arrivals.deadline_after(real)
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.tracker.arrivals.last()
    }

    /// `samples`: arrivals in the estimate; `mean_ns`: `EA(k+1) - A_k`, the expected
    /// time from the last heartbeat to the next, at least 0 (after a very late
    /// heartbeat the estimate can lie before it; the next is not expected before the
    /// last) and at most 18 periods; `std_dev_ns`: Jacobson's mean deviation `var`.
    fn stats(&self) -> Stats {
        Stats {
            samples: self.tracker.estimate.len(),
            mean_ns: self.expected_ns.max(0.0),
            std_dev_ns: self.var_ns,
            clamped_intervals: 0,
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.tracker.estimate.heap_bytes()
    }

    fn reset(&mut self) {
        self.tracker.clear();
        self.expected_ns = self.config.interval.as_nanos() as f64;
        self.schedule_ns = self.expected_ns;
        self.delay_ns = 0.0;
        self.var_ns = 0.0;
        self.start_ns = 0.0;
        self.var_floor_ns = 1.0;
    }
}
