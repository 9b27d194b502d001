//! The exponential-model phi detector that Apache Cassandra ships.

use std::f64::consts::{LN_10, LOG10_E};
use std::sync::Arc;
use std::time::Duration;

use crate::detectors::{Arrivals, FailureDetector, Stats, ceil_ns};
use crate::error::{ConfigError, HeartbeatError, check};
use crate::math::check_phi_threshold;
use crate::time::Timestamp;
use crate::window::{HeapWindow, Resolution, Window, WindowStorage};

/// Configuration of an [`ExponentialPhi`] detector. Defaults are Cassandra's
/// (`org.apache.cassandra.gms.FailureDetector`: `phi_convict_threshold` 8, a window
/// of 1000 intervals, `fd_initial_value_ms` = twice the 1 s gossip interval, and
/// `fd_max_interval_ms` equal to that initial value).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ExponentialPhiConfig {
    /// Phi at and above which the node is unavailable. Default 8.0; finite, at least
    /// 1e-290 (the range [`PhiAccrual`](crate::PhiAccrual) accepts, so that a
    /// threshold means the same on both phi scales).
    pub threshold: f64,
    /// Intervals kept in the window. Default 1000; 1 to 32,768.
    pub window_size: usize,
    /// Intervals longer than this are not recorded (Cassandra: a host that is
    /// regularly unreachable this long should be marked down, not adapted to).
    /// Default 2 s; not zero, at most 2^47 ns (about 39 hours).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub max_interval: Duration,
    /// The interval recorded at the first heartbeat, before any real one is known.
    /// Default 2 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub initial_interval: Duration,
    /// How finely the window stores intervals, and so its bytes per slot. Default
    /// [`Resolution::Microsecond`] (4 bytes, intervals up to about 71.6 minutes);
    /// [`Resolution::Millisecond`] takes 2, [`Resolution::Nanosecond`] (exact) 8.
    /// Intervals at whole milliseconds give the same phi at every resolution.
    pub resolution: Resolution,
}

impl ExponentialPhiConfig {
    /// Cassandra's defaults (the [`Default`]).
    pub const fn new() -> Self {
        ExponentialPhiConfig {
            threshold: 8.0,
            window_size: 1000,
            max_interval: Duration::from_secs(2),
            initial_interval: Duration::from_secs(2),
            resolution: Resolution::Microsecond,
        }
    }

    /// Sets [`threshold`](Self::threshold).
    pub const fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`window_size`](Self::window_size).
    pub const fn with_window_size(mut self, window_size: usize) -> Self {
        self.window_size = window_size;
        self
    }

    /// Sets [`max_interval`](Self::max_interval).
    pub const fn with_max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = max_interval;
        self
    }

    /// Sets [`initial_interval`](Self::initial_interval).
    pub const fn with_initial_interval(mut self, initial_interval: Duration) -> Self {
        self.initial_interval = initial_interval;
        self
    }

    /// Sets [`resolution`](Self::resolution).
    pub const fn with_resolution(mut self, resolution: Resolution) -> Self {
        self.resolution = resolution;
        self
    }
}

impl Default for ExponentialPhiConfig {
    fn default() -> Self {
        ExponentialPhiConfig::new()
    }
}

/// Phi under an exponential model of inter-arrival times, as Cassandra computes it:
/// `phi = silence / (mean * ln 10)`, i.e. `-log10 P(X > silence)` for an exponential
/// `X` with the window's mean.
///
/// Suspicion grows linearly with silence and the deadline is
/// `last + threshold * ln 10 * mean`, rounded up to the nanosecond. The first heartbeat
/// records `initial_interval` as a sample; later intervals longer than
/// `max_interval` are not recorded. Every interval shorter than that is recorded,
/// whether or not the node was available when it arrived (Cassandra does the same).
///
/// ```
/// use failure_detector::{ExponentialPhi, ExponentialPhiConfig, FailureDetector, Timestamp};
///
/// let mut fd = ExponentialPhi::new(ExponentialPhiConfig::new()).unwrap();
/// fd.heartbeat(Timestamp::from_secs(1)).unwrap(); // records the 2 s initial interval
/// fd.heartbeat(Timestamp::from_secs(2)).unwrap(); // records 1 s: mean 1.5 s
/// let phi = fd.suspicion(Timestamp::from_secs(5)); // 3 s of silence
/// assert!((phi - 3.0 / (1.5 * std::f64::consts::LN_10)).abs() < 1e-12);
/// ```
///
/// Memory: `size_of::<ExponentialPhi>()` (96 bytes on 64-bit targets) plus the
/// window's slots (4 bytes each at the default [`Resolution::Microsecond`], 2 at
/// [`Resolution::Millisecond`], 8 at [`Resolution::Nanosecond`]): about 4.1 KB at
/// the default window of 1000; see [`memory_bytes`](FailureDetector::memory_bytes).
/// With the window inside the detector ([`WindowStorage`];
/// `ExponentialPhi<InlineMicros<100>>`) it is one block of 464 bytes at a window
/// of 100.
/// The configuration lives in one block shared by every clone, not counted there.
// In declaration order, so that what every heartbeat reads comes first and, with
// an inline window, the window's sums follow it, the slots last.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct ExponentialPhi<S = HeapWindow> {
    arrivals: Arrivals,
    /// `log10(e) / mean`: phi per nanosecond of silence.
    phi_per_ns: f64,
    params: Arc<ExponentialParams>,
    window: Window<S>,
}

/// What every clone of a detector shares.
#[derive(Debug)]
struct ExponentialParams {
    max_interval_ns: u64,
    initial_interval_ns: u64,
    config: ExponentialPhiConfig,
}

impl ExponentialPhi {
    /// Builds the detector.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field: `threshold` NaN, infinite or below 1e-290,
    /// `window_size` zero or above 32,768, a duration zero or above 2^47 ns, or
    /// above the longest interval the [`Resolution`](crate::Resolution) stores.
    pub fn new(config: ExponentialPhiConfig) -> Result<Self, ConfigError> {
        Self::with_storage(config)
    }
}

impl<S: WindowStorage> ExponentialPhi<S> {
    /// Builds the detector with its window in the storage `S` (see
    /// [`WindowStorage`]): `ExponentialPhi::<InlineMicros<100>>::with_storage(config)`
    /// keeps a window of 100 inside the detector.
    ///
    /// # Errors
    /// As [`ExponentialPhi::new`], and also: for an inline storage of `N` slots,
    /// `window_size` other than `N`, or a `resolution` other than the storage's.
    pub fn with_storage(config: ExponentialPhiConfig) -> Result<Self, ConfigError> {
        check_phi_threshold(config.threshold)?;
        let window_size = check::window("window_size", config.window_size)?;
        let max_interval_ns = check::recordable("max_interval", config.max_interval)?;
        let initial_interval_ns = check::recordable("initial_interval", config.initial_interval)?;
        let longest = config.resolution.max_interval_ns();
        for (field, ns) in [
            ("max_interval", max_interval_ns),
            ("initial_interval", initial_interval_ns),
        ] {
            if ns > longest {
                return Err(ConfigError::OutOfRange {
                    field,
                    allowed: "at most the longest interval the window's resolution stores \
                              (about 71.6 min at microseconds, 65.535 s at milliseconds)",
                });
            }
        }
        Ok(ExponentialPhi {
            window: Window::for_config("window_size", window_size, config.resolution)?,
            arrivals: Arrivals::new(),
            phi_per_ns: 0.0,
            params: Arc::new(ExponentialParams {
                max_interval_ns,
                initial_interval_ns,
                config,
            }),
        })
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &ExponentialPhiConfig {
        &self.params.config
    }

    /// Records an interval; returns the deadline's offset from the heartbeat.
    #[inline]
    fn record(&mut self, interval_ns: u64) -> u64 {
        self.window.push(interval_ns);
        let mean = self.window.mean();
        self.phi_per_ns = LOG10_E / mean;
        ceil_ns(self.params.config.threshold * LN_10 * mean)
    }
}

impl<S: WindowStorage> FailureDetector for ExponentialPhi<S> {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        let offset = match self.arrivals.check(at)? {
            None => self.record(self.params.initial_interval_ns),
            Some((interval, _)) if interval <= self.params.max_interval_ns => self.record(interval),
            // Not recorded: the mean, hence the offset, stays as it was.
            Some(_) => self.arrivals.offset_ns(),
        };
        self.arrivals.accept(at, offset);
        Ok(())
    }

    #[inline]
    fn suspicion(&self, now: Timestamp) -> f64 {
        let raw = match self.arrivals.silence_ns(now) {
            Some(silence) => silence * self.phi_per_ns,
            None => 0.0,
        };
        self.arrivals.report(now, raw, self.params.config.threshold)
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
        self.arrivals
            .deadline_after(level.max(0.0) * LN_10 * self.window.mean())
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.arrivals.last()
    }

    fn stats(&self) -> Stats {
        Stats {
            samples: self.window.len(),
            mean_ns: self.window.mean(),
            std_dev_ns: self.window.variance().sqrt(),
            clamped_intervals: self.window.clamped(),
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.window.heap_bytes()
    }

    /// Reads the window slot the next heartbeat writes (with an inline window, in
    /// the detector's own block; with a heap window, behind its pointer).
    #[inline]
    fn prefetch(&self) -> u64 {
        self.window.next_slot()
    }

    fn reset(&mut self) {
        self.window.clear();
        self.arrivals = Arrivals::new();
        self.phi_per_ns = 0.0;
    }
}
