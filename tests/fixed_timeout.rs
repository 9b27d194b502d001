//! Behaviour of the fixed-timeout detector.

use std::time::Duration;

use failure_detector::{
    ConfigError, FailureDetector, FixedTimeout, FixedTimeoutConfig, HeartbeatError, Timestamp,
};

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

#[test]
fn five_seconds_times_three_missed() {
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    assert_eq!(fd.threshold(), 3.0);
    assert_eq!(fd.timeout(), Duration::from_secs(15));
    fd.heartbeat(ms(1_000)).unwrap();
    // Silent for 14.999 s: not suspected. For 15 s: suspected.
    assert!(fd.is_available(ms(15_999)));
    assert!(fd.suspicion(ms(15_999)) < 3.0);
    assert!(!fd.is_available(ms(16_000)));
    assert_eq!(fd.suspicion(ms(16_000)), 3.0);
    assert_eq!(fd.deadline(), Some(ms(16_000)));
    // To the nanosecond.
    assert!(fd.is_available(ms(16_000) - Duration::from_nanos(1)));
}

#[test]
fn suspicion_counts_missed_intervals() {
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    for (at, missed) in [
        (0, 0.0),
        (2_500, 0.5),
        (5_000, 1.0),
        (12_500, 2.5),
        (50_000, 10.0),
    ] {
        assert_eq!(fd.suspicion(ms(at)), missed, "at {at} ms");
    }
    // A new heartbeat starts the count again.
    fd.heartbeat(ms(50_000)).unwrap();
    assert_eq!(fd.suspicion(ms(55_000)), 1.0);
    assert!(fd.is_available(ms(64_999)));
}

#[test]
fn acceptable_pause_is_added_before_counting() {
    let cfg = FixedTimeoutConfig::new().with_acceptable_pause(Duration::from_secs(2));
    let mut fd = FixedTimeout::new(cfg).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    assert_eq!(fd.suspicion(ms(1_999)), 0.0);
    assert_eq!(fd.suspicion(ms(7_000)), 1.0);
    assert!(fd.is_available(ms(16_999)));
    assert!(!fd.is_available(ms(17_000)));
    assert_eq!(fd.deadline_for(1.0), Some(ms(7_000)));
    assert_eq!(fd.deadline_for(3.0), fd.deadline());
}

#[test]
fn fractional_missed_heartbeats() {
    let cfg = FixedTimeoutConfig::new()
        .with_interval(Duration::from_millis(100))
        .with_missed_heartbeats(2.5);
    let mut fd = FixedTimeout::new(cfg).unwrap();
    fd.heartbeat(ms(10)).unwrap();
    assert_eq!(fd.deadline(), Some(ms(260)));
    assert!(fd.is_available(ms(259)));
    assert!(!fd.is_available(ms(260)));
}

#[test]
fn before_the_first_heartbeat() {
    let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    assert_eq!(fd.suspicion(Timestamp::MAX), 0.0);
    assert!(fd.is_available(Timestamp::MAX));
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.deadline_for(1.0), None);
    let s = fd.stats();
    assert_eq!((s.samples, s.mean()), (0, Duration::from_secs(5)));
}

#[test]
fn bad_heartbeats_change_nothing() {
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    fd.heartbeat(ms(5)).unwrap();
    let before = format!("{fd:?}");
    assert_eq!(
        fd.heartbeat(ms(5)),
        Err(HeartbeatError::Duplicate { at: ms(5) })
    );
    assert_eq!(
        fd.heartbeat(ms(4)),
        Err(HeartbeatError::OutOfOrder {
            at: ms(4),
            last: ms(5)
        })
    );
    assert_eq!(format!("{fd:?}"), before);
    fd.reset();
    fd.heartbeat(ms(4)).unwrap(); // after a reset anything goes
}

#[test]
fn ends_of_the_clock() {
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    fd.heartbeat(Timestamp::ZERO).unwrap();
    assert_eq!(fd.suspicion(Timestamp::MAX), u64::MAX as f64 / 5e9);
    fd.heartbeat(Timestamp::HORIZON).unwrap();
    assert_eq!(
        fd.deadline(),
        Some(Timestamp::HORIZON + Duration::from_secs(15))
    );
    assert!(fd.suspicion(Timestamp::MAX) > 3.0);
    assert!(
        fd.heartbeat(Timestamp::MAX - Duration::from_secs(1))
            .is_err()
    );
    // A timeout beyond the clock: never suspected, and said so (`None`).
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new().with_interval(Duration::MAX)).unwrap();
    fd.heartbeat(Timestamp::HORIZON).unwrap();
    assert_eq!(fd.deadline(), None, "beyond the clock's range");
    assert!(fd.is_available(Timestamp::MAX));
    assert!(fd.suspicion(Timestamp::MAX) < 3.0);
}

#[test]
fn config_errors_name_the_field() {
    let base = FixedTimeoutConfig::new();
    assert_eq!(
        FixedTimeout::new(base.with_interval(Duration::ZERO)).unwrap_err(),
        ConfigError::NotPositive { field: "interval" }
    );
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            FixedTimeout::new(base.with_missed_heartbeats(bad)).unwrap_err(),
            ConfigError::NotFinite {
                field: "missed_heartbeats"
            }
        );
    }
    for bad in [0.0, -3.0] {
        assert_eq!(
            FixedTimeout::new(base.with_missed_heartbeats(bad)).unwrap_err(),
            ConfigError::NotPositive {
                field: "missed_heartbeats"
            }
        );
    }
}
