//! Behaviour of the exponential (Cassandra) phi detector.

use std::f64::consts::LN_10;
use std::time::Duration;

use failure_detector::{
    ConfigError, ExponentialPhi, ExponentialPhiConfig, FailureDetector, HeartbeatError, Timestamp,
};

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

#[test]
fn phi_is_silence_over_mean_times_ln10() {
    let mut fd = ExponentialPhi::new(ExponentialPhiConfig::new()).unwrap();
    fd.heartbeat(ms(0)).unwrap(); // records the 2 s initial interval
    assert_eq!(fd.stats().samples, 1);
    for t in [1000, 2000, 3000] {
        fd.heartbeat(ms(t)).unwrap();
    }
    // Window: 2000, 1000, 1000, 1000 ms: mean 1250 ms.
    assert_eq!(fd.stats().mean(), Duration::from_millis(1250));
    for silence in [0u64, 1, 500, 1250, 10_000, 23_026] {
        let expected = silence as f64 / (1250.0 * LN_10);
        let phi = fd.suspicion(ms(3000 + silence));
        assert!(
            (phi - expected).abs() <= 1e-15 * expected.max(1.0),
            "{silence}"
        );
    }
    // phi = 8 at 8 ln 10 * 1250 ms = 23.0258509... s, rounded up to the nanosecond.
    let d = fd.deadline().unwrap();
    assert_eq!(
        d.as_nanos(),
        3_000_000_000 + (8.0 * LN_10 * 1.25e9f64).ceil() as u64
    );
    assert!(fd.is_available(d - Duration::from_nanos(1)));
    assert!(!fd.is_available(d));
}

#[test]
fn intervals_above_the_cap_are_not_recorded() {
    let cfg = ExponentialPhiConfig::new().with_max_interval(Duration::from_millis(1500));
    let mut fd = ExponentialPhi::new(cfg).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    fd.heartbeat(ms(1500)).unwrap(); // exactly the cap: recorded (Cassandra: <=)
    fd.heartbeat(ms(3001)).unwrap(); // 1501 ms: dropped
    let s = fd.stats();
    assert_eq!((s.samples, s.mean()), (2, Duration::from_millis(1750)));
    // Recorded whether or not the node was available (as in Cassandra).
    let cfg = ExponentialPhiConfig::new()
        .with_threshold(0.1)
        .with_max_interval(Duration::from_secs(10));
    let mut fd = ExponentialPhi::new(cfg).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    assert!(!fd.is_available(ms(5000)));
    fd.heartbeat(ms(5000)).unwrap();
    assert_eq!(fd.stats().samples, 2);
}

#[test]
fn window_keeps_the_last_n_intervals() {
    let cfg = ExponentialPhiConfig::new().with_window_size(3);
    let mut fd = ExponentialPhi::new(cfg).unwrap();
    for t in [0, 100, 200, 300, 400] {
        fd.heartbeat(ms(t)).unwrap();
    }
    let s = fd.stats();
    assert_eq!(
        (s.samples, s.mean(), s.std_dev()),
        (3, Duration::from_millis(100), Duration::ZERO)
    );
    fd.reset();
    assert_eq!(fd.stats().samples, 0);
    assert_eq!(fd.suspicion(ms(1_000_000)), 0.0);
    assert!(fd.memory_bytes() >= 3 * 8);
}

#[test]
fn bad_input() {
    let mut fd = ExponentialPhi::new(ExponentialPhiConfig::new()).unwrap();
    fd.heartbeat(ms(10)).unwrap();
    let before = format!("{fd:?}");
    assert_eq!(
        fd.heartbeat(ms(10)),
        Err(HeartbeatError::Duplicate { at: ms(10) })
    );
    assert!(matches!(
        fd.heartbeat(ms(9)),
        Err(HeartbeatError::OutOfOrder { .. })
    ));
    assert_eq!(format!("{fd:?}"), before);

    let base = ExponentialPhiConfig::new();
    let cases = [
        (
            base.with_threshold(f64::NAN),
            ConfigError::NotFinite { field: "threshold" },
        ),
        (
            base.with_threshold(-0.5),
            ConfigError::NotPositive { field: "threshold" },
        ),
        (
            base.with_window_size(0),
            ConfigError::NotPositive {
                field: "window_size",
            },
        ),
        (
            base.with_max_interval(Duration::ZERO),
            ConfigError::NotPositive {
                field: "max_interval",
            },
        ),
        (
            base.with_initial_interval(Duration::ZERO),
            ConfigError::NotPositive {
                field: "initial_interval",
            },
        ),
    ];
    for (cfg, expected) in cases {
        assert_eq!(ExponentialPhi::new(cfg).unwrap_err(), expected);
    }
    assert!(matches!(
        ExponentialPhi::new(base.with_window_size(100_000)).unwrap_err(),
        ConfigError::OutOfRange {
            field: "window_size",
            ..
        }
    ));
    assert!(matches!(
        ExponentialPhi::new(base.with_initial_interval(Duration::from_secs(1 << 40))).unwrap_err(),
        ConfigError::OutOfRange {
            field: "initial_interval",
            ..
        }
    ));
}

#[test]
fn ends_of_the_clock() {
    let mut fd = ExponentialPhi::new(ExponentialPhiConfig::new()).unwrap();
    assert_eq!(fd.deadline(), None);
    fd.heartbeat(Timestamp::ZERO).unwrap();
    let phi = fd.suspicion(Timestamp::MAX);
    assert!(phi.is_finite() && phi > 1e9);
    fd.heartbeat(Timestamp::HORIZON).unwrap();
    // 18.4 s after the horizon: representable.
    assert!(fd.deadline().is_some());
    assert!(!fd.is_available(Timestamp::MAX));
    assert!(
        fd.heartbeat(Timestamp::MAX - Duration::from_secs(1))
            .is_err()
    );
}
