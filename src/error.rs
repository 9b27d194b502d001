//! Error types, one per operation.

use crate::time::Timestamp;

/// A configuration value was refused by a detector's constructor. Nothing was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The field is NaN or infinite.
    #[error("`{field}` must be a finite number")]
    NotFinite {
        /// Name of the config field, as spelled in the config struct.
        field: &'static str,
    },
    /// The field is zero or negative where only a positive value makes sense.
    #[error("`{field}` must be greater than zero")]
    NotPositive {
        /// Name of the config field, as spelled in the config struct.
        field: &'static str,
    },
    /// The field is outside the range the detector supports.
    #[error("`{field}` is out of range: {allowed}")]
    OutOfRange {
        /// Name of the config field, as spelled in the config struct.
        field: &'static str,
        /// The range that is supported, in words.
        allowed: &'static str,
    },
}

impl ConfigError {
    /// The name of the refused field, as spelled in the config struct.
    ///
    /// ```
    /// use failure_detector::{PhiAccrual, PhiAccrualConfig};
    ///
    /// let err = PhiAccrual::new(PhiAccrualConfig::new().with_threshold(f64::NAN)).unwrap_err();
    /// assert_eq!(err.field(), "threshold");
    /// ```
    pub fn field(&self) -> &'static str {
        match *self {
            ConfigError::NotFinite { field }
            | ConfigError::NotPositive { field }
            | ConfigError::OutOfRange { field, .. } => field,
        }
    }
}

/// A heartbeat was refused. The detector is left exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// The heartbeat has the same timestamp as the last accepted one (a duplicate
    /// delivery, or a clock too coarse to tell two arrivals apart).
    #[error("duplicate heartbeat at {at}: the last accepted heartbeat has the same timestamp")]
    Duplicate {
        /// The refused (and last accepted) timestamp.
        at: Timestamp,
    },
    /// The heartbeat is earlier than the last accepted one. Detectors expect arrivals
    /// in order; reorder upstream (e.g. by sequence number) if the transport can
    /// deliver out of order.
    #[error("out-of-order heartbeat at {at}: earlier than the last accepted heartbeat at {last}")]
    OutOfOrder {
        /// The refused timestamp.
        at: Timestamp,
        /// The last accepted timestamp.
        last: Timestamp,
    },
    /// The heartbeat is later than [`Timestamp::HORIZON`] (2^62 ns, about 146 years
    /// after the origin), past which a deadline might not be representable. Choose
    /// the clock's origin near the start of the process (as
    /// [`MonotonicClock`](crate::MonotonicClock) does).
    #[error("heartbeat at {at} is past the horizon {horizon}: deadlines after it may not be representable", horizon = Timestamp::HORIZON)]
    PastHorizon {
        /// The refused timestamp.
        at: Timestamp,
    },
}

/// Validation helpers shared by the detector constructors.
pub(crate) mod check {
    use super::ConfigError;
    use crate::time::duration_nanos;
    use crate::window::{MAX_INTERVAL_NS, MAX_WINDOW};
    use std::time::Duration;

    /// A finite, strictly positive number.
    pub(crate) fn positive(field: &'static str, value: f64) -> Result<f64, ConfigError> {
        if !value.is_finite() {
            Err(ConfigError::NotFinite { field })
        } else if value <= 0.0 {
            Err(ConfigError::NotPositive { field })
        } else {
            Ok(value)
        }
    }

    /// A non-zero duration, returned in nanoseconds (saturating at `u64::MAX`).
    pub(crate) fn nonzero(field: &'static str, value: Duration) -> Result<u64, ConfigError> {
        if value.is_zero() {
            Err(ConfigError::NotPositive { field })
        } else {
            Ok(duration_nanos(value))
        }
    }

    /// A duration that a window may record: at most 2^47 ns (about 39 hours).
    pub(crate) fn recordable(field: &'static str, value: Duration) -> Result<u64, ConfigError> {
        let ns = nonzero(field, value)?;
        if ns > MAX_INTERVAL_NS {
            Err(ConfigError::OutOfRange {
                field,
                allowed: "at most 2^47 ns (about 39 hours)",
            })
        } else {
            Ok(ns)
        }
    }

    /// A window size: 1 to 32,768 samples.
    pub(crate) fn window(field: &'static str, value: usize) -> Result<usize, ConfigError> {
        if value == 0 {
            Err(ConfigError::NotPositive { field })
        } else if value > MAX_WINDOW {
            Err(ConfigError::OutOfRange {
                field,
                allowed: "at most 32768 samples",
            })
        } else {
            Ok(value)
        }
    }
}
