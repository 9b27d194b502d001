//! Behaviour of the normal-model phi detector, including the behaviours Akka documents
//! for its `PhiAccrualFailureDetector` (scenarios re-expressed with explicit times).

use std::time::Duration;

use failure_detector::{
    ConfigError, FailureDetector, HeartbeatError, PhiAccrual, PhiAccrualConfig, PhiModel,
    Resolution, Timestamp,
};

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

/// Akka's test defaults: no acceptable pause, 100 ms min std dev, 1 s estimate.
fn akka_test_config() -> PhiAccrualConfig {
    PhiAccrualConfig::new().with_acceptable_heartbeat_pause(Duration::ZERO)
}

fn detector(cfg: PhiAccrualConfig) -> PhiAccrual {
    PhiAccrual::new(cfg).expect("valid config")
}

/// Akka's phi expression as Akka evaluates it once the silence exceeds the mean,
/// `-log10(e / (1 + e))` with `e = exp(-y (1.5976 + 0.070566 y^2))`, in plain
/// doubles: accurate from the mean until `e` underflows (then infinite).
fn akka_phi(silence_ms: f64, mean_ms: f64, std_ms: f64) -> f64 {
    let y = (silence_ms - mean_ms) / std_ms;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    -(e / (1.0 + e)).log10()
}

#[test]
fn phi_is_zero_and_node_available_before_any_heartbeat() {
    let fd = detector(akka_test_config());
    assert_eq!(fd.suspicion(ms(0)), 0.0);
    assert_eq!(fd.suspicion(Timestamp::MAX), 0.0);
    assert!(fd.is_available(Timestamp::MAX));
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.deadline_for(1.0), None);
    assert_eq!(fd.last_heartbeat(), None);
    // The synthetic bootstrap samples are there from the start.
    assert_eq!(fd.stats().samples, 2);
}

#[test]
fn realistic_phi_values_for_mean_1000ms_std_100ms() {
    // A window of two intervals, 900 and 1100 ms: mean 1000, population std 100.
    let cfg = akka_test_config()
        .with_max_sample_size(2)
        .with_min_std_deviation(Duration::from_millis(1));
    let mut fd = detector(cfg);
    for t in [0, 900, 2000] {
        fd.heartbeat(ms(t)).unwrap();
    }
    let s = fd.stats();
    assert_eq!(
        (s.samples, s.mean(), s.std_dev()),
        (2, Duration::from_secs(1), Duration::from_millis(100))
    );
    // Akka's table: silence (ms) -> phi, each +- 0.1.
    for (silence, expected) in [
        (0, 0.0),
        (500, 0.1),
        (1000, 0.3),
        (1200, 1.6),
        (1400, 4.7),
        (1600, 10.8),
        (1700, 15.3),
    ] {
        let phi = fd.suspicion(ms(2000 + silence));
        assert!(
            (phi - expected).abs() <= 0.1,
            "silence {silence}: phi {phi}"
        );
        if silence >= 1000 {
            let oracle = akka_phi(silence as f64, 1000.0, 100.0);
            assert!((phi - oracle).abs() <= 1e-9 * oracle, "{phi} vs {oracle}");
        }
    }
}

#[test]
fn larger_std_dev_means_lower_phi_and_a_later_deadline() {
    let make = |second: u64| {
        let cfg = akka_test_config()
            .with_max_sample_size(2)
            .with_min_std_deviation(Duration::from_millis(1));
        let mut fd = detector(cfg);
        for t in [0, 1000 - second, 2000] {
            fd.heartbeat(ms(t)).unwrap();
        }
        fd
    };
    let narrow = make(100); // intervals 900, 1100: std 100
    let wide = make(500); // intervals 500, 1500: std 500
    assert!(wide.suspicion(ms(3100)) < narrow.suspicion(ms(3100)));
    assert!(wide.deadline() > narrow.deadline());
}

#[test]
fn phi_from_the_first_heartbeat_estimate_after_one_heartbeat() {
    let mut fd = detector(akka_test_config());
    fd.heartbeat(ms(0)).unwrap();
    // Bootstrap samples 750 and 1250 ms: mean 1 s, std 250 ms.
    let p1 = fd.suspicion(ms(1000));
    let p2 = fd.suspicion(ms(2000));
    let p3 = fd.suspicion(ms(3000));
    assert!((p1 - 0.3).abs() <= 0.2, "{p1}");
    assert!((p2 - 4.5).abs() <= 0.3, "{p2}");
    assert!(p3 > 15.0, "{p3}");
    assert!(
        (p1 - 2f64.log10()).abs() < 1e-12,
        "phi at the mean is log10(2)"
    );
}

#[test]
fn phi_is_positive_after_first_and_second_heartbeat() {
    let mut fd = detector(akka_test_config());
    fd.heartbeat(ms(0)).unwrap();
    assert!(fd.suspicion(ms(100)) > 0.0);
    fd.heartbeat(ms(200)).unwrap();
    assert!(fd.suspicion(ms(300)) > 0.0);
}

#[test]
fn a_regular_node_stays_available() {
    let mut fd = detector(akka_test_config());
    assert!(fd.is_available(ms(0)));
    for t in [0, 1000, 1100] {
        fd.heartbeat(ms(t)).unwrap();
    }
    assert!(fd.is_available(ms(1200)));
    // And through a long regular run, every arrival finds it available.
    let mut fd = detector(PhiAccrualConfig::new());
    for i in 0..5_000u64 {
        let t = ms(i * 100 + (i * 37) % 20);
        assert!(fd.is_available(t), "heartbeat {i}");
        fd.heartbeat(t).unwrap();
    }
}

#[test]
fn a_node_that_stops_is_suspected() {
    let mut fd = detector(akka_test_config().with_threshold(3.0));
    for t in [0, 1000, 1100] {
        fd.heartbeat(ms(t)).unwrap();
    }
    assert!(fd.is_available(ms(1200)));
    assert!(!fd.is_available(ms(8200)));
}

#[test]
fn phi_rises_with_silence() {
    let mut fd = detector(PhiAccrualConfig::new());
    for i in 0..100 {
        fd.heartbeat(ms(i * 1000)).unwrap();
    }
    let last = 99_000;
    let mut prev = 0.0;
    for silence in (0..=60_000).step_by(250) {
        let phi = fd.suspicion(ms(last + silence));
        assert!(phi >= prev, "phi fell at {silence} ms");
        if phi > 1e-300 {
            assert!(phi > prev || prev == 0.0, "phi flat at {silence} ms");
        }
        prev = phi;
    }
    assert!(prev > 1000.0);
}

#[test]
fn recovers_after_being_suspected_and_ignores_the_pause_in_its_statistics() {
    let cfg = PhiAccrualConfig::new(); // threshold 8, 3 s acceptable pause
    let mut fd = detector(cfg);
    let mut t = 0;
    for _ in 0..1000 {
        fd.heartbeat(ms(t)).unwrap();
        t += 1000;
    }
    t -= 1000;
    let before = fd.stats();
    t += 5 * 60 * 1000;
    assert!(!fd.is_available(ms(t)), "after a five-minute pause");
    fd.heartbeat(ms(t)).unwrap();
    // The five-minute interval ended while the node was unavailable: not recorded.
    assert_eq!(fd.stats(), before);
    assert!(fd.is_available(ms(t + 900)));
    t += 100;
    fd.heartbeat(ms(t)).unwrap();
    assert!(!fd.is_available(ms(t + 7000)), "after a seven-second pause");
    t += 7100;
    fd.heartbeat(ms(t)).unwrap();
    assert!(fd.is_available(ms(t + 900)));
    t += 1000;
    fd.heartbeat(ms(t)).unwrap();
    assert!(fd.is_available(ms(t + 900)));
}

#[test]
fn acceptable_pause_tolerates_missing_heartbeats() {
    let cfg = akka_test_config().with_acceptable_heartbeat_pause(Duration::from_secs(3));
    let mut fd = detector(cfg);
    for t in [0, 1000, 2000, 3000] {
        fd.heartbeat(ms(t)).unwrap();
    }
    assert!(fd.is_available(ms(7000)));
    fd.heartbeat(ms(8000)).unwrap();
    assert!(fd.is_available(ms(9000)));
    // Without the pause the same silence is a failure.
    let mut strict = detector(akka_test_config());
    for t in [0, 1000, 2000, 3000] {
        strict.heartbeat(ms(t)).unwrap();
    }
    assert!(!strict.is_available(ms(7000)));
}

#[test]
fn fails_after_the_acceptable_pause() {
    let cfg = akka_test_config().with_acceptable_heartbeat_pause(Duration::from_secs(3));
    let mut fd = detector(cfg);
    for t in [0, 1000, 2000, 3000, 4000, 5000] {
        fd.heartbeat(ms(t)).unwrap();
    }
    assert!(fd.is_available(ms(5500)));
    fd.heartbeat(ms(6000)).unwrap();
    assert!(!fd.is_available(ms(11_000)));
}

#[test]
fn min_std_deviation_widens_the_margin() {
    let run = |min_std_ms: u64| {
        let cfg = akka_test_config().with_min_std_deviation(Duration::from_millis(min_std_ms));
        let mut fd = detector(cfg.with_max_sample_size(10));
        for i in 0..20 {
            fd.heartbeat(ms(i * 1000)).unwrap(); // perfectly regular: std 0
        }
        fd.deadline().unwrap()
    };
    let (d100, d500) = (run(100), run(500));
    assert!(d500 > d100);
    // The margin beyond the mean scales with the minimum: 5x the std, 5x the margin.
    let m100 = (d100 - ms(19_000)).as_secs_f64() - 1.0;
    let m500 = (d500 - ms(19_000)).as_secs_f64() - 1.0;
    assert!((m500 / m100 - 5.0).abs() < 1e-6, "{m100} {m500}");
}

#[test]
fn max_sample_size_forgets_old_intervals() {
    let mut fd = detector(akka_test_config().with_max_sample_size(3));
    for t in [0, 100, 200, 300] {
        fd.heartbeat(ms(t)).unwrap();
    }
    let phi1 = fd.suspicion(ms(400));
    for t in [1000, 1500, 2000, 2500] {
        fd.heartbeat(ms(t)).unwrap();
    }
    let phi2 = fd.suspicion(ms(3000));
    assert!((phi2 - phi1).abs() < 0.001, "{phi1} {phi2}");
    let s = fd.stats();
    assert_eq!((s.samples, s.mean()), (3, Duration::from_millis(500)));
}

#[test]
fn bootstrap_comes_back_after_reset() {
    let mut fd = detector(PhiAccrualConfig::new());
    let fresh = fd.stats();
    for i in 0..50 {
        fd.heartbeat(ms(i * 10)).unwrap();
    }
    assert_ne!(fd.stats(), fresh);
    fd.reset();
    assert_eq!(fd.stats(), fresh);
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.suspicion(ms(10_000)), 0.0);
    // Timestamps may start over after a reset.
    fd.heartbeat(ms(0)).unwrap();
    assert_eq!(fd.last_heartbeat(), Some(ms(0)));
}

#[test]
fn deadline_agrees_with_phi_to_a_microsecond() {
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        for threshold in [0.5, 1.0, 3.0, 8.0, 16.0, 100.0] {
            let cfg = PhiAccrualConfig::new()
                .with_model(model)
                .with_threshold(threshold);
            let mut fd = detector(cfg);
            for i in 0..30u64 {
                fd.heartbeat(ms(i * 1000 + (i * 7919) % 300)).unwrap();
            }
            let d = fd.deadline().unwrap();
            let us = Duration::from_micros(1);
            assert!(fd.suspicion(d - us) < threshold, "{model:?} {threshold}");
            assert!(fd.suspicion(d + us) >= threshold, "{model:?} {threshold}");
            assert!(fd.is_available(d - Duration::from_nanos(1)));
            assert!(!fd.is_available(d));
            assert_eq!(fd.deadline_for(threshold), Some(d));
            // Higher levels come later.
            let later = fd.deadline_for(threshold * 2.0).unwrap();
            assert!(later > d);
            assert!(fd.suspicion(later + us) >= threshold * 2.0);
            assert!(fd.suspicion(later - us) < threshold * 2.0);
        }
    }
}

#[test]
fn phi_stays_finite_and_increasing_where_akka_gives_infinity() {
    // Akka's cluster defaults with 1 s heartbeats: Akka's expression overflows to
    // infinity about 6 s into a silence (exp(-y(...)) underflows at y ~ 21.9).
    let mut fd = detector(PhiAccrualConfig::new());
    for i in 0..100 {
        fd.heartbeat(ms(i * 1000)).unwrap();
    }
    let last = 99_000u64;
    assert!(akka_phi(6500.0, 1000.0 + 3000.0, 100.0).is_infinite());
    let mut prev = fd.suspicion(ms(last + 6000));
    assert!(prev.is_finite());
    let mut silence = 6_001u64;
    // Every millisecond up to a minute, then ever coarser up to 500 years.
    while silence < 500 * 365 * 24 * 3600 * 1000 {
        let phi = fd.suspicion(ms(last + silence));
        assert!(
            phi.is_finite() && phi > prev,
            "silence {silence} ms: {phi} <= {prev}"
        );
        prev = phi;
        silence += if silence < 60_000 { 1 } else { silence / 10 };
    }
}

#[test]
fn exact_normal_model_matches_statrs() {
    use statrs::distribution::{ContinuousCDF, Normal};
    let cfg = akka_test_config()
        .with_model(PhiModel::Normal)
        .with_max_sample_size(2)
        .with_min_std_deviation(Duration::from_millis(1));
    let mut fd = detector(cfg);
    for t in [0, 900, 2000] {
        fd.heartbeat(ms(t)).unwrap(); // mean 1000 ms, std 100 ms
    }
    let n = Normal::new(1000.0, 100.0).unwrap();
    for silence in (0..=1700).step_by(50) {
        let phi = fd.suspicion(ms(2000 + silence));
        let oracle = -n.sf(silence as f64).log10();
        assert!(
            (phi - oracle).abs() <= 1e-10 * oracle.max(1e-3),
            "{silence}: {phi} {oracle}"
        );
    }
    // Far beyond where the tail underflows a double (Q(40) ~ 1e-350): still finite.
    let far = fd.suspicion(ms(2000 + 5000));
    assert!(far.is_finite() && far > 300.0);
}

#[test]
fn out_of_order_and_duplicate_heartbeats_change_nothing() {
    let mut fd = detector(PhiAccrualConfig::new());
    for t in [1000, 2000, 3000] {
        fd.heartbeat(ms(t)).unwrap();
    }
    let before = format!("{fd:?}");
    assert_eq!(
        fd.heartbeat(ms(3000)),
        Err(HeartbeatError::Duplicate { at: ms(3000) })
    );
    assert_eq!(
        fd.heartbeat(ms(2500)),
        Err(HeartbeatError::OutOfOrder {
            at: ms(2500),
            last: ms(3000)
        })
    );
    assert_eq!(format!("{fd:?}"), before);
    let msg = fd.heartbeat(ms(1)).unwrap_err().to_string();
    assert!(
        msg.contains("out-of-order") && msg.contains("3.000000000s"),
        "{msg}"
    );
}

#[test]
fn config_errors_name_the_field() {
    let base = PhiAccrualConfig::new();
    let cases = [
        (
            base.with_threshold(f64::NAN),
            ConfigError::NotFinite { field: "threshold" },
        ),
        (
            base.with_threshold(f64::INFINITY),
            ConfigError::NotFinite { field: "threshold" },
        ),
        (
            base.with_threshold(0.0),
            ConfigError::NotPositive { field: "threshold" },
        ),
        (
            base.with_threshold(-1.0),
            ConfigError::NotPositive { field: "threshold" },
        ),
        (
            base.with_max_sample_size(0),
            ConfigError::NotPositive {
                field: "max_sample_size",
            },
        ),
        (
            base.with_min_std_deviation(Duration::ZERO),
            ConfigError::NotPositive {
                field: "min_std_deviation",
            },
        ),
        (
            base.with_first_heartbeat_estimate(Duration::ZERO),
            ConfigError::NotPositive {
                field: "first_heartbeat_estimate",
            },
        ),
    ];
    for (cfg, expected) in cases {
        assert_eq!(PhiAccrual::new(cfg).unwrap_err(), expected);
    }
    for cfg in [
        base.with_max_sample_size(1 << 20),
        base.with_first_heartbeat_estimate(Duration::from_secs(1 << 40)),
        base.with_min_std_deviation(Duration::from_secs(1 << 40)),
    ] {
        let err = PhiAccrual::new(cfg).unwrap_err();
        assert!(matches!(err, ConfigError::OutOfRange { .. }), "{err:?}");
        assert!(err.to_string().contains("out of range"));
    }
    // A huge pause is fine: the node is simply never suspected within the clock's range.
    let mut fd = detector(base.with_acceptable_heartbeat_pause(Duration::MAX));
    fd.heartbeat(ms(1)).unwrap();
    assert_eq!(fd.deadline(), None);
    assert!(fd.is_available(Timestamp::MAX));
    assert!(fd.suspicion(Timestamp::MAX).is_finite());
}

#[test]
fn timestamps_at_the_horizon_and_the_end_of_time() {
    let mut fd = detector(PhiAccrualConfig::new());
    let horizon = Timestamp::HORIZON.as_nanos();
    fd.heartbeat(Timestamp::from_nanos(horizon - 2_000_000_000))
        .unwrap();
    fd.heartbeat(Timestamp::HORIZON).unwrap();
    // A heartbeat at the horizon still has a representable deadline.
    let deadline = fd.deadline().unwrap();
    assert!(deadline > Timestamp::HORIZON);
    assert!(!fd.is_available(Timestamp::MAX));
    assert!(fd.suspicion(Timestamp::MAX).is_finite());
    // Past it: refused, nothing changed.
    let before = format!("{fd:?}");
    assert_eq!(
        fd.heartbeat(Timestamp::MAX),
        Err(HeartbeatError::PastHorizon { at: Timestamp::MAX })
    );
    assert_eq!(
        fd.heartbeat(Timestamp::HORIZON),
        Err(HeartbeatError::Duplicate {
            at: Timestamp::HORIZON
        })
    );
    assert_eq!(format!("{fd:?}"), before);
    let mut fresh = detector(PhiAccrualConfig::new());
    assert!(
        fresh
            .heartbeat(Timestamp::HORIZON + Duration::from_nanos(1))
            .is_err()
    );
    assert_eq!(fresh.last_heartbeat(), None);
}

#[test]
fn a_silence_of_years_and_queries_before_the_last_heartbeat() {
    let cfg = PhiAccrualConfig::new()
        .with_min_std_deviation(Duration::from_nanos(1))
        .with_max_sample_size(2);
    let mut fd = detector(cfg);
    for i in 0..10 {
        fd.heartbeat(Timestamp::from_nanos(i)).unwrap(); // 1 ns intervals, std 0
    }
    let years = fd.suspicion(Timestamp::MAX); // 584 years / 1 ns std: y ~ 1.8e19
    assert!(years.is_finite() && years > 1e50, "{years}");
    assert_eq!(fd.suspicion(Timestamp::ZERO), 0.0);
    assert!(fd.is_available(Timestamp::ZERO));
}

#[test]
fn memory_per_detector_is_small_and_fixed() {
    // Bytes per slot at each resolution (the default is microseconds, 4 bytes).
    let resolutions = [
        (Resolution::Microsecond, 4),
        (Resolution::Millisecond, 2),
        (Resolution::Nanosecond, 8),
    ];
    for ((resolution, slot), window) in resolutions
        .into_iter()
        .flat_map(|r| [1, 100, 1000].map(|w| (r, w)))
    {
        let cfg = PhiAccrualConfig::new()
            .with_max_sample_size(window)
            .with_resolution(resolution);
        let mut fd = detector(cfg);
        let before = fd.memory_bytes();
        assert!(std::mem::size_of::<PhiAccrual>() <= 128);
        assert_eq!(before, std::mem::size_of::<PhiAccrual>() + window * slot);
        for i in 0..5_000u64 {
            fd.heartbeat(ms(i * 100)).unwrap();
        }
        assert_eq!(fd.memory_bytes(), before, "no growth after construction");
    }
}

/// What the docs promise about phi's resolution: non-decreasing everywhere; strictly
/// increasing (where above 1e-300) from one nanosecond to the next below 2^52 ns of
/// silence, and over steps of `silence / 2^50` beyond; past 2^53 ns two consecutive
/// nanoseconds can read the same phi (the silence itself is a double).
#[test]
fn phi_resolution_is_as_documented() {
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        for std_ns in [1u64, 1_000_000, 1 << 47] {
            let cfg = PhiAccrualConfig::new()
                .with_model(model)
                .with_threshold(1e300)
                .with_min_std_deviation(Duration::from_nanos(std_ns))
                .with_acceptable_heartbeat_pause(Duration::ZERO)
                .with_max_sample_size(1);
            let mut fd = detector(cfg);
            fd.heartbeat(Timestamp::ZERO).unwrap();
            fd.heartbeat(ms(1_000)).unwrap();
            let last = ms(1_000).as_nanos();
            let phi = |s: u64| fd.suspicion(Timestamp::from_nanos(last + s));
            let mut s = 1u64;
            while s < u64::MAX / 4 {
                let step = if s < 1 << 52 { 1 } else { (s >> 50) + 1 };
                for k in 0..20 {
                    let (a, b) = (phi(s + k * step), phi(s + k * step + step));
                    assert!(b >= a, "{model:?} std {std_ns}: fell at {s}");
                    if a > 1e-300 {
                        assert!(b > a, "{model:?} std {std_ns}: flat at {s} + {k} x {step}");
                    }
                }
                s += s / 3 + 1;
            }
            // Past 2^53 ns, 1 ns is below the resolution of the silence.
            let far = (1u64 << 53) + 1;
            assert_eq!(phi(far), phi(far - 1));
        }
    }
}
