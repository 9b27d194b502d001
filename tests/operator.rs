//! Operator units: the implied detection time is checked against the detector's
//! own `deadline()` after a steady sender's heartbeats (an independent check: the
//! operator module computes it from the formula, the detector from its window).

use std::time::Duration;

use failure_detector::operator::{
    AkkaFailureDetectorSettings, CassandraFailureDetectorSettings, ConfigWarning, OperatorTargets,
    Tuned, pekko_slow_heartbeat,
};
use failure_detector::{
    ConfigError, ExponentialPhi, FailureDetector, FixedTimeout, PhiAccrual, PhiAccrualConfig,
    PhiModel, Resolution, Timestamp,
};

/// Feeds `n` heartbeats every `interval` and returns the silence after the last
/// one at which the detector suspects.
fn steady_detection(fd: &mut dyn FailureDetector, interval: Duration, n: usize) -> Duration {
    let mut at = Timestamp::from_secs(1);
    for _ in 0..n {
        fd.heartbeat(at).unwrap();
        at += interval;
    }
    let last = fd.last_heartbeat().unwrap();
    let deadline = fd.deadline().unwrap();
    assert!(fd.is_available(deadline - Duration::from_nanos(1)));
    assert!(!fd.is_available(deadline));
    deadline - last
}

/// The detection time of a steady sender under the exponential config tuned for
/// `targets`, checked against the one the tuning implies; and that implied one.
fn exponential_detection(targets: &OperatorTargets, interval: Duration) -> (Duration, Duration) {
    let exp = targets.exponential_phi().unwrap();
    let mut fd = ExponentialPhi::new(exp.config).unwrap();
    let got = steady_detection(&mut fd, interval, 3);
    assert!(
        close(got, exp.detection_time),
        "{targets:?}: {got:?} vs {exp:?}"
    );
    (got, exp.detection_time)
}

fn close(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) <= Duration::from_nanos(1)
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn check_phi(tuned: &Tuned<PhiAccrualConfig>, interval: Duration) {
    let mut fd = PhiAccrual::new(tuned.config).unwrap();
    let n = tuned.settle_heartbeats;
    let got = steady_detection(&mut fd, interval, n);
    assert!(
        close(got, tuned.detection_time),
        "detector {got:?}, implied {:?}",
        tuned.detection_time
    );
    // One heartbeat fewer than `settle_heartbeats` (if the bootstrap still
    // widens the deviation) suspects later, never earlier.
    if n > 2 {
        let mut fd = PhiAccrual::new(tuned.config).unwrap();
        assert!(steady_detection(&mut fd, interval, n - 1) > tuned.detection_time);
    }
    assert_eq!(fd.threshold(), tuned.threshold);
}

#[test]
fn every_second_within_five_tolerating_two() {
    let targets = OperatorTargets::new(s(1), s(5), s(2));
    let tuned = targets.phi_accrual().unwrap();
    assert_eq!(tuned.threshold, 8.0);
    assert!(tuned.warnings.is_empty(), "{:?}", tuned.warnings);
    assert!(tuned.detection_time <= s(5));
    assert!(tuned.detection_time > s(5) - Duration::from_nanos(3));
    // The room left goes to the pause: 5 s - 1 s - 5.22 * 100 ms.
    let pause = tuned.config.acceptable_heartbeat_pause;
    assert!(pause > ms(3_470) && pause < ms(3_480), "{pause:?}");
    assert_eq!(tuned.config.first_heartbeat_estimate, s(1));
    assert!(tuned.suspicion_after_pause < 1e-100);
    assert_eq!(tuned.settle_heartbeats, 12); // 1 s / 100 ms: n >= 12.5 samples
    check_phi(&tuned, s(1));
    // The suspicion of a heartbeat late by the tolerated pause, from the detector.
    let mut fd = PhiAccrual::new(tuned.config).unwrap();
    steady_detection(&mut fd, s(1), tuned.settle_heartbeats);
    let late = fd.last_heartbeat().unwrap() + s(1) + s(2);
    let phi = fd.suspicion(late);
    assert!(
        (phi - tuned.suspicion_after_pause).abs() <= 1e-9 * phi,
        "{phi}"
    );
}

#[test]
fn tight_bound_lowers_the_threshold() {
    // 1 s interval, 2 s pause, within 3.3 s: only 300 ms of margin = y of 3.
    let targets = OperatorTargets::new(s(1), ms(3_300), s(2));
    let tuned = targets.phi_accrual().unwrap();
    assert!(
        tuned.threshold < 8.0 && tuned.threshold > 1.0,
        "{}",
        tuned.threshold
    );
    assert_eq!(tuned.config.acceptable_heartbeat_pause, s(2));
    assert!(tuned.detection_time <= ms(3_300));
    assert!(tuned.warnings.is_empty(), "{:?}", tuned.warnings);
    check_phi(&tuned, s(1));

    // 20 ms of margin: phi far below 1.
    let tuned = OperatorTargets::new(s(1), ms(3_020), s(2))
        .phi_accrual()
        .unwrap();
    assert!(tuned.threshold < 1.0);
    assert!(matches!(
        tuned.warnings[..],
        [ConfigWarning::LowThreshold { .. }]
    ));
    check_phi(&tuned, s(1));
}

#[test]
fn impossible_bound_keeps_the_tolerance_and_says_so() {
    let targets = OperatorTargets::new(s(1), s(3), s(2));
    let tuned = targets.phi_accrual().unwrap();
    assert_eq!(tuned.config.acceptable_heartbeat_pause, s(2));
    assert_eq!(tuned.threshold, 8.0);
    let [
        ConfigWarning::DetectionBoundUnmet {
            requested,
            achieved,
        },
    ] = tuned.warnings[..]
    else {
        panic!("{:?}", tuned.warnings);
    };
    assert_eq!(requested, s(3));
    assert_eq!(achieved, tuned.detection_time);
    assert!(achieved > s(3));
    check_phi(&tuned, s(1));
}

#[test]
fn normal_model_and_other_bases() {
    for (base, interval) in [
        (PhiAccrualConfig::new().with_model(PhiModel::Normal), s(1)),
        (
            PhiAccrualConfig::new()
                .with_min_std_deviation(ms(20))
                .with_max_sample_size(100),
            ms(200),
        ),
        (PhiAccrualConfig::new().with_threshold(12.0), ms(500)),
    ] {
        let targets = OperatorTargets::new(interval, interval * 6, interval * 2);
        let tuned = targets.phi_accrual_from(base).unwrap();
        assert!(tuned.detection_time <= interval * 6);
        check_phi(&tuned, interval);
    }
}

#[test]
fn pause_shorter_than_interval_warns() {
    // Every 5 s, pause 1 s, within 7 s: Pekko would call every heartbeat slow.
    let tuned = OperatorTargets::new(s(5), s(7), s(1))
        .phi_accrual()
        .unwrap();
    // The pause grows to fill the room (7 - 5 - 0.52 s), still under 1.5 x 5 s.
    assert!(tuned.warnings.iter().any(|w| matches!(
        w,
        ConfigWarning::IntervalNearPause { interval, .. } if *interval == s(5)
    )));
    assert!(
        tuned
            .warnings
            .iter()
            .any(|w| matches!(w, ConfigWarning::OneLostHeartbeatSuspects { .. }))
    );
    check_phi(&tuned, s(5));
}

#[test]
fn fixed_timeout_from_targets() {
    let tuned = OperatorTargets::new(s(1), s(5), s(2))
        .fixed_timeout()
        .unwrap();
    assert_eq!(tuned.threshold, 3.0); // three missed heartbeats after the pause
    assert_eq!(tuned.detection_time, s(5));
    assert!(tuned.warnings.is_empty());
    let mut fd = FixedTimeout::new(tuned.config).unwrap();
    assert_eq!(steady_detection(&mut fd, s(1), 3), tuned.detection_time);

    let tuned = OperatorTargets::new(s(1), s(2), s(2))
        .fixed_timeout()
        .unwrap();
    assert!(matches!(
        tuned.warnings[0],
        ConfigWarning::DetectionBoundUnmet { achieved, .. } if achieved == s(3)
    ));
    let mut fd = FixedTimeout::new(tuned.config).unwrap();
    assert_eq!(steady_detection(&mut fd, s(1), 3), s(3));
}

#[test]
fn exponential_from_targets() {
    let tuned = OperatorTargets::new(s(1), s(15), s(2))
        .exponential_phi()
        .unwrap();
    assert!((tuned.threshold - 15.0 / std::f64::consts::LN_10).abs() < 1e-12);
    assert!(tuned.warnings.is_empty(), "{:?}", tuned.warnings);
    let mut fd = ExponentialPhi::new(tuned.config).unwrap();
    let got = steady_detection(&mut fd, s(1), 50);
    assert!(close(got, tuned.detection_time), "{got:?}");
    assert!(close(got, s(15)));

    // 5 s at 1 s: threshold 2.17, which Cassandra refuses.
    let tuned = OperatorTargets::new(s(1), s(5), s(2))
        .exponential_phi()
        .unwrap();
    assert!(matches!(
        tuned.warnings[..],
        [ConfigWarning::ThresholdOutsideCassandraRange { .. }]
    ));
}

#[test]
fn akka_keys() {
    let tuned = AkkaFailureDetectorSettings::default()
        .phi_accrual()
        .unwrap();
    assert_eq!(tuned.config, PhiAccrualConfig::new());
    assert!(tuned.warnings.is_empty());
    assert!((tuned.suspicion_after_pause - 2f64.log10()).abs() < 1e-12);
    // 1 s + 3 s + 5.22 x 100 ms.
    assert!(tuned.detection_time > ms(4_520) && tuned.detection_time < ms(4_530));
    check_phi(&tuned, s(1));

    // Akka's classic mistake: heartbeat-interval close to the pause.
    let close_call = AkkaFailureDetectorSettings {
        heartbeat_interval: s(2),
        acceptable_heartbeat_pause: s(3),
        ..Default::default()
    };
    let tuned = close_call.phi_accrual().unwrap();
    assert!(matches!(
        tuned.warnings[..],
        [ConfigWarning::IntervalNearPause { .. }]
    ));
    check_phi(&tuned, s(2));

    for (settings, field) in [
        (
            AkkaFailureDetectorSettings {
                threshold: f64::NAN,
                ..Default::default()
            },
            "threshold",
        ),
        (
            AkkaFailureDetectorSettings {
                threshold: -1.0,
                ..Default::default()
            },
            "threshold",
        ),
        (
            AkkaFailureDetectorSettings {
                max_sample_size: 0,
                ..Default::default()
            },
            "max_sample_size",
        ),
        (
            AkkaFailureDetectorSettings {
                min_std_deviation: Duration::ZERO,
                ..Default::default()
            },
            "min_std_deviation",
        ),
        (
            AkkaFailureDetectorSettings {
                heartbeat_interval: Duration::ZERO,
                ..Default::default()
            },
            "heartbeat_interval",
        ),
    ] {
        let err = settings.phi_accrual().unwrap_err();
        assert_eq!(field_of(err), field, "{err}");
    }
}

fn field_of(err: ConfigError) -> &'static str {
    err.field()
}

#[test]
fn cassandra_keys() {
    let tuned = CassandraFailureDetectorSettings::default()
        .exponential_phi()
        .unwrap();
    assert_eq!(tuned.threshold, 8.0);
    assert!(tuned.warnings.is_empty());
    // 8 ln 10 = 18.42 s at one gossip a second, once the 2 s initial value is out.
    let mut fd = ExponentialPhi::new(tuned.config).unwrap();
    let got = steady_detection(&mut fd, s(1), tuned.settle_heartbeats);
    assert!(
        close(got, tuned.detection_time),
        "{got:?} {:?}",
        tuned.detection_time
    );
    assert!(tuned.detection_time > ms(18_420) && tuned.detection_time < ms(18_430));

    for threshold in [4.9, 16.1] {
        let fd = CassandraFailureDetectorSettings {
            phi_convict_threshold: threshold,
            ..Default::default()
        };
        let tuned = fd.exponential_phi().unwrap();
        assert!(matches!(
            tuned.warnings[..],
            [ConfigWarning::ThresholdOutsideCassandraRange { .. }]
        ));
    }
    let never = CassandraFailureDetectorSettings {
        fd_max_interval_ms: 500,
        ..Default::default()
    };
    let tuned = never.exponential_phi().unwrap();
    assert!(matches!(
        tuned.warnings[..],
        [ConfigWarning::IntervalsNeverRecorded { .. }]
    ));
    let mut fd = ExponentialPhi::new(tuned.config).unwrap();
    assert!(close(
        steady_detection(&mut fd, s(1), 20),
        tuned.detection_time
    ));

    let zero = CassandraFailureDetectorSettings {
        fd_initial_value_ms: 0,
        ..Default::default()
    };
    assert_eq!(
        field_of(zero.exponential_phi().unwrap_err()),
        "initial_interval"
    );
}

#[test]
fn targets_are_validated() {
    let bad = OperatorTargets::new(Duration::ZERO, s(5), s(2));
    assert_eq!(
        field_of(bad.phi_accrual().unwrap_err()),
        "heartbeat_interval"
    );
    let bad = OperatorTargets::new(s(1), Duration::ZERO, s(2));
    assert_eq!(field_of(bad.fixed_timeout().unwrap_err()), "detect_within");
    let bad = PhiAccrualConfig::new().with_threshold(f64::INFINITY);
    assert_eq!(
        field_of(
            OperatorTargets::default()
                .phi_accrual_from(bad)
                .unwrap_err()
        ),
        "threshold"
    );
}

#[test]
fn warnings_display() {
    let w = ConfigWarning::IntervalNearPause {
        interval: s(2),
        pause: s(3),
    };
    assert!(w.to_string().contains("2/3"));
    assert_eq!(pekko_slow_heartbeat(s(3)), s(2));
    assert_eq!(
        pekko_slow_heartbeat(ms(100)),
        Duration::from_nanos(66_666_666)
    );
}

/// Property: for any targets, the implied detection time is the detector's.
#[test]
fn implied_detection_matches_the_detector_for_many_targets() {
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..500 {
        let interval = ms(50 + next(2_000));
        let pause = ms(next(5_000));
        let within = interval + ms(next(10_000));
        let targets = OperatorTargets::new(interval, within, pause);
        let tuned = targets.phi_accrual().unwrap();
        let (_, unmet) = detection_as_implied(&tuned, &targets);
        assert_eq!(
            unmet,
            tuned.detection_time > within,
            "{targets:?} {tuned:?}"
        );
        if !unmet {
            // A steady sender late by the tolerated pause is not suspected.
            assert!(
                tuned.detection_time > interval + pause,
                "{targets:?} {tuned:?}"
            );
        }
        let fixed = targets.fixed_timeout().unwrap();
        let mut fd = FixedTimeout::new(fixed.config).unwrap();
        assert_eq!(steady_detection(&mut fd, interval, 2), fixed.detection_time);
        if within > pause {
            assert!(fixed.detection_time <= within, "{targets:?} {fixed:?}");
            assert!(fixed.detection_time + Duration::from_nanos(2) >= within);
        }
        let (_, implied) = exponential_detection(&targets, interval);
        assert!(implied <= within);
    }
}

/// Property: the implied detection time is the detector's also for intervals
/// that are not whole units of the window's resolution (the window stores the
/// interval rounded; the tuning must use what it stores).
#[test]
fn implied_detection_holds_at_every_resolution_for_odd_intervals() {
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    for _ in 0..300 {
        let interval = Duration::from_nanos(2_000_000 + next(2_000_000_000));
        let pause = Duration::from_nanos(next(5_000_000_000));
        let within = interval + Duration::from_nanos(next(10_000_000_000));
        let targets = OperatorTargets::new(interval, within, pause);
        for resolution in [
            Resolution::Nanosecond,
            Resolution::Microsecond,
            Resolution::Millisecond,
        ] {
            let base = PhiAccrualConfig::new().with_resolution(resolution);
            let tuned = targets.phi_accrual_from(base).unwrap();
            let (got, unmet) = detection_as_implied(&tuned, &targets);
            assert!(
                unmet || got <= within,
                "{resolution:?} {targets:?}: {got:?}"
            );
        }
        let (got, _) = exponential_detection(&targets, interval);
        assert!(got <= within, "{targets:?}: {got:?}");
    }
}

/// A seeded xorshift: `next(n)` draws below `n`.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}

/// Checks that a steady sender is suspected exactly when `tuned` says (to 1 ns)
/// and returns that detection time and whether `tuned` warned that the bound is
/// not met.
fn detection_as_implied(
    tuned: &Tuned<PhiAccrualConfig>,
    targets: &OperatorTargets,
) -> (Duration, bool) {
    let mut fd = PhiAccrual::new(tuned.config).unwrap();
    let got = steady_detection(&mut fd, targets.heartbeat_interval, tuned.settle_heartbeats);
    assert!(
        close(got, tuned.detection_time),
        "{targets:?}: {got:?} vs {tuned:?}"
    );
    let unmet = tuned
        .warnings
        .iter()
        .any(|w| matches!(w, ConfigWarning::DetectionBoundUnmet { .. }));
    (got, unmet)
}
