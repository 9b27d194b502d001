//! Chen, Toueg and Aguilera's estimation-based detector ("On the Quality of Service of
//! Failure Detectors", IEEE Transactions on Computers 51(5), 2002, section 6.2).

use std::time::Duration;

#[cfg(doc)]
use crate::detectors::FailureDetector;
use crate::error::{ConfigError, HeartbeatError, check};
use crate::estimate::{MarginDetector, Tracker, margin_detector_impl};
use crate::time::Timestamp;

/// Configuration of a [`Chen`] detector.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ChenConfig {
    /// The sender's heartbeat period (`eta` in the paper): the estimator assumes
    /// heartbeat `s` is sent at `s * interval`. Default 1 s; not zero, at most 2^47 ns
    /// (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub interval: Duration,
    /// Arrivals averaged by the estimate (`n`). Default 1000; 1 to 32,768.
    pub window_size: usize,
    /// Silence tolerated after the expected arrival (`alpha`); also the threshold, in
    /// seconds. Default 500 ms; not zero.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub safety_margin: Duration,
}

impl ChenConfig {
    /// The defaults: 1 s period, 1000 arrivals, 500 ms margin (the [`Default`]).
    pub const fn new() -> Self {
        ChenConfig {
            interval: Duration::from_secs(1),
            window_size: 1000,
            safety_margin: Duration::from_millis(500),
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

    /// Sets [`safety_margin`](Self::safety_margin).
    pub const fn with_safety_margin(mut self, margin: Duration) -> Self {
        self.safety_margin = margin;
        self
    }
}

impl Default for ChenConfig {
    fn default() -> Self {
        ChenConfig::new()
    }
}

/// Chen's estimation-based failure detector: the node is suspected once the expected
/// arrival of its next heartbeat plus a safety margin has passed.
///
/// From the last `n` arrivals `A_i` with sequence numbers `s_i` and the sender's
/// period `eta`, the next heartbeat is expected at (Chen et al. 2002, eq. 6.3)
///
/// ```text
/// EA(k+1) = (1/n) * sum_i (A_i - eta * s_i) + (k + 1) * eta
/// ```
///
/// and the freshness point is `tau(k+1) = EA(k+1) + alpha`: the node is trusted until
/// then. After a very late heartbeat the formula can put `EA(k+1)` before `A_k`; it
/// is then taken as `A_k`, so that a node is trusted for `alpha` at least after each
/// heartbeat. Suspicion is the time past the expected arrival, in seconds,
/// `max(0, now - EA(k+1))`, and the threshold is `alpha` in seconds, so the deadline
/// is `tau(k+1)` (rounded up to the nanosecond).
///
/// Sequence numbers: [`heartbeat`](FailureDetector::heartbeat) has none, so each
/// arrival is given the slot of the schedule the window estimates nearest to it, or
/// the previous arrival's slot if that is later: an arrival about `m` periods after
/// the expected one counts `m` lost heartbeats, and a catch-up heartbeat (sent on
/// schedule right after a late one, as after a sender stall) shares the late one's
/// slot instead of pushing every later number on by one. This is exact while delays
/// vary by less than half a period around their mean; a larger jitter or a stall
/// costs the mistakes it causes itself and does not shift later numbers. Use
/// [`heartbeat_with_seq`](Self::heartbeat_with_seq) when the transport carries them
/// (a sender's number is trusted within 16 periods of its arrival's slot; see
/// there). The estimate is kept as an exact integer sum, O(1) per heartbeat.
///
/// After a stall: a sender that stalls and then keeps its period from the stall's end
/// moves its schedule's phase by any fraction of the period, which the window's mean
/// would follow only as the window turns over (with any margin below the lag, a
/// mistake on nearly every heartbeat until then). So the detector keeps a running
/// spread of the arrivals' distances from their slots (their mean, over about the last
/// 32 arrivals). After a gap of two periods or more, an arrival further from its slot
/// than `3 * spread + interval / 128` may be the first of a moved schedule: the next
/// heartbeat is then expected at the later of the old schedule's next slot and one
/// period after that arrival (so it is no mistake either way). If the next arrival
/// comes a whole number of periods after it (give or take that threshold) and is as
/// far off the old schedule on the same side, the whole window is shifted, exactly
/// and in O(1), by the mean of the two latenesses: the estimate stands on the new
/// phase at once and keeps the window's jitter. Lost heartbeats on the kept schedule,
/// a single late heartbeat, a catch-up heartbeat and ordinary jitter shift nothing; a
/// phase move below the threshold, or a stall that leaves no heartbeat missing, is
/// absorbed by the window as before. So a stall costs the mistakes it causes itself,
/// and after it no more than a detector started after it.
///
/// Bounds: the expected arrival is at most 18 periods after the last heartbeat,
/// whatever the sequence numbers and arrival times, so the deadline is at most
/// `18 * interval + safety_margin` after it.
///
/// ```
/// use failure_detector::{Chen, ChenConfig, FailureDetector, Timestamp};
/// use std::time::Duration;
///
/// let cfg = ChenConfig::new()
///     .with_interval(Duration::from_millis(100))
///     .with_safety_margin(Duration::from_millis(30));
/// let mut fd = Chen::new(cfg).unwrap();
/// // Heartbeats due every 100 ms, each arriving 5 ms late.
/// for i in 0..10 {
///     fd.heartbeat(Timestamp::from_millis(100 * i + 5)).unwrap();
/// }
/// // Next expected at 1005 ms; suspected 30 ms after that.
/// assert_eq!(fd.expected_arrival(), Some(Timestamp::from_millis(1_005)));
/// assert_eq!(fd.deadline(), Some(Timestamp::from_millis(1_035)));
/// assert!((fd.suspicion(Timestamp::from_millis(1_025)) - 0.020).abs() < 1e-12);
/// ```
///
/// Memory: `size_of::<Chen>()` (under 300 bytes) plus 16 bytes per window slot.
#[derive(Clone, Debug)]
pub struct Chen {
    config: ChenConfig,
    core: MarginDetector,
}

impl Chen {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `interval` zero or above 2^47 ns,
    /// `window_size` zero or above 32,768, `safety_margin` zero.
    pub fn new(config: ChenConfig) -> Result<Self, ConfigError> {
        let eta = check::recordable("interval", config.interval)?;
        let window = check::window("window_size", config.window_size)?;
        check::nonzero("safety_margin", config.safety_margin)?;
        let margin = config.safety_margin.as_secs_f64();
        let tracker = Tracker::new(window, 0, eta);
        Ok(Chen {
            config,
            core: MarginDetector::new(tracker, eta, margin, false),
        })
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &ChenConfig {
        &self.config
    }
}

margin_detector_impl!(Chen);
