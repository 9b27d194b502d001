//! `EwmaPhi`: the constant-memory detector. Its smoothing against an independent
//! recomputation, its phi against Akka's and Cassandra's formulas on the smoothed
//! statistics, and the `FailureDetector` contract on random configurations.

use std::f64::consts::LN_10;
use std::time::Duration;

#[path = "support/contract.rs"]
mod contract;

use contract::{check, gaps, silences, start};
use failure_detector::{EwmaModel, EwmaPhi, EwmaPhiConfig, FailureDetector, Timestamp};
use proptest::prelude::*;

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

/// Akka's phi (logistic approximation), as in tests/phi_accrual.rs.
fn akka_phi(silence_ms: f64, mean_ms: f64, std_ms: f64) -> f64 {
    let y = (silence_ms - mean_ms) / std_ms;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if silence_ms > mean_ms {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// RFC 6298's recurrences with the squared deviation, in exact rationals scaled to
/// integers where possible: here in f64, but written from the RFC's text
/// independently of the detector (variance first, with the old mean).
fn oracle(estimate: f64, alpha: f64, beta: f64, xs: &[f64]) -> (f64, f64) {
    let (mut srtt, mut var) = (estimate, (estimate / 4.0).powi(2));
    for &x in xs {
        var = (1.0 - beta) * var + beta * (srtt - x).powi(2);
        srtt = (1.0 - alpha) * srtt + alpha * x;
    }
    (srtt, var)
}

#[test]
fn smoothing_follows_rfc_6298_with_a_squared_deviation() {
    let mut fd = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
    let mut t = 0;
    let mut xs = Vec::new();
    fd.heartbeat(ms(t)).unwrap();
    for i in 0..200u64 {
        let x = 900 + (i * 7919) % 211;
        t += x;
        xs.push((x * 1_000_000) as f64);
        fd.heartbeat(ms(t)).unwrap();
        let (mean, var) = oracle(1e9, 0.125, 0.25, &xs);
        let s = fd.stats();
        assert!(
            (s.mean_ns - mean).abs() <= mean * 1e-12,
            "{} vs {mean}",
            s.mean_ns
        );
        let std = var.sqrt();
        assert!((s.std_dev_ns - std).abs() <= std * 1e-9 + 1e-6);
        assert_eq!(s.samples, 0);
    }
}

#[test]
fn a_constant_sender_converges_geometrically() {
    // mean_k = x + (m0 - x) (1 - alpha)^k exactly for a constant x.
    let cfg = EwmaPhiConfig::new().with_first_heartbeat_estimate(Duration::from_millis(2000));
    let mut fd = EwmaPhi::new(cfg).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    for k in 1..=60u64 {
        fd.heartbeat(ms(k * 1000)).unwrap();
        let expected = 1e9 + 1e9 * 0.875f64.powi(k as i32);
        let mean = fd.stats().mean_ns;
        assert!((mean - expected).abs() <= expected * 1e-12, "k {k}: {mean}");
    }
}

#[test]
fn phi_is_akkas_on_the_smoothed_statistics() {
    let cfg = EwmaPhiConfig::new()
        .with_acceptable_heartbeat_pause(Duration::ZERO)
        .with_min_std_deviation(Duration::from_millis(1));
    let mut fd = EwmaPhi::new(cfg).unwrap();
    let mut t = 0;
    fd.heartbeat(ms(t)).unwrap();
    for i in 0..50u64 {
        t += 950 + (i * 31) % 100;
        fd.heartbeat(ms(t)).unwrap();
    }
    let s = fd.stats();
    let (mean_ms, std_ms) = (s.mean_ns / 1e6, s.std_dev_ns / 1e6);
    for silence in [mean_ms as u64, mean_ms as u64 + 50, mean_ms as u64 + 100] {
        let phi = fd.suspicion(ms(t + silence));
        let oracle = akka_phi(silence as f64, mean_ms, std_ms);
        assert!(
            (phi - oracle).abs() <= 1e-9 * oracle.max(1e-3),
            "{phi} vs {oracle}"
        );
    }
}

#[test]
fn exponential_model_is_cassandras_on_the_smoothed_mean() {
    let cfg = EwmaPhiConfig::new().with_model(EwmaModel::Exponential);
    let mut fd = EwmaPhi::new(cfg).unwrap();
    fd.heartbeat(ms(0)).unwrap();
    fd.heartbeat(ms(2000)).unwrap();
    // mean = 1 s + (2 s - 1 s) / 8 = 1.125 s.
    assert_eq!(fd.stats().mean(), Duration::from_micros(1_125_000));
    let phi = fd.suspicion(ms(5000));
    let oracle = 3.0 / (1.125 * LN_10);
    assert!((phi - oracle).abs() < 1e-12, "{phi} vs {oracle}");
    // Deadline: threshold * ln 10 * mean after the last heartbeat.
    let d = fd.deadline().unwrap().as_nanos() - 2_000_000_000;
    assert!((d as f64 - 8.0 * LN_10 * 1.125e9).abs() <= 1.0, "{d}");
}

#[test]
fn a_steady_sender_stays_available_and_a_stopped_one_is_suspected() {
    for model in [
        EwmaModel::Logistic,
        EwmaModel::Normal,
        EwmaModel::Exponential,
    ] {
        let mut fd = EwmaPhi::new(EwmaPhiConfig::new().with_model(model)).unwrap();
        for i in 0..100u64 {
            let at = ms(i * 1000 + (i * 37) % 50);
            assert!(fd.is_available(at), "{model:?} at heartbeat {i}");
            fd.heartbeat(at).unwrap();
        }
        assert!(fd.is_available(ms(99_000 + 1_500)), "{model:?}");
        assert!(!fd.is_available(ms(99_000 + 60_000)), "{model:?}");
    }
}

#[test]
fn a_pause_while_unavailable_is_not_learnt() {
    let mut fd = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
    for i in 0..20u64 {
        fd.heartbeat(ms(i * 1000)).unwrap();
    }
    let before = fd.stats();
    let resume = 19_000 + 300_000;
    assert!(!fd.is_available(ms(resume)));
    fd.heartbeat(ms(resume)).unwrap();
    assert_eq!(fd.stats(), before, "the five-minute gap is not an interval");
    assert!(fd.is_available(ms(resume + 900)));
}

#[test]
fn memory_is_constant_and_small() {
    assert_eq!(std::mem::size_of::<EwmaPhi>(), 40);
    let mut fd = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
    assert_eq!(fd.memory_bytes(), 40);
    for i in 0..10_000u64 {
        fd.heartbeat(ms(i * 100)).unwrap();
    }
    assert_eq!(fd.memory_bytes(), 40);
    // Clones share the configuration block.
    let clone = fd.clone();
    assert_eq!(clone.memory_bytes(), 40);
}

#[test]
fn config_errors_name_the_field_and_build_nothing() {
    let base = EwmaPhiConfig::new();
    let cases: Vec<(EwmaPhiConfig, &str)> = vec![
        (base.with_threshold(f64::NAN), "threshold"),
        (base.with_threshold(0.0), "threshold"),
        (base.with_mean_gain(0.0), "mean_gain"),
        (base.with_mean_gain(f64::NAN), "mean_gain"),
        (base.with_mean_gain(1.5), "mean_gain"),
        (base.with_mean_gain(-0.1), "mean_gain"),
        (base.with_variance_gain(f64::INFINITY), "variance_gain"),
        (base.with_variance_gain(1.0000001), "variance_gain"),
        (
            base.with_min_std_deviation(Duration::ZERO),
            "min_std_deviation",
        ),
        (
            base.with_min_std_deviation(Duration::from_secs(200_000)),
            "min_std_deviation",
        ),
        (
            base.with_first_heartbeat_estimate(Duration::ZERO),
            "first_heartbeat_estimate",
        ),
        (
            base.with_first_heartbeat_estimate(Duration::MAX),
            "first_heartbeat_estimate",
        ),
    ];
    for (cfg, field) in cases {
        let err = EwmaPhi::new(cfg).unwrap_err();
        assert_eq!(err.field(), field, "{cfg:?}");
    }
    assert!(EwmaPhi::new(base.with_mean_gain(1.0).with_variance_gain(1.0)).is_ok());
}

// ---- The FailureDetector contract on random configurations ----

fn model() -> impl Strategy<Value = EwmaModel> {
    prop_oneof![
        Just(EwmaModel::Logistic),
        Just(EwmaModel::Normal),
        Just(EwmaModel::Exponential)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ewma_phi_keeps_the_contract(
        start in start(),
        gaps in gaps(),
        silences in silences(),
        threshold in prop_oneof![0.5f64..40.0, Just(1e-290), Just(1e300)],
        mean_gain in prop_oneof![1e-6f64..=1.0, Just(1.0)],
        variance_gain in prop_oneof![1e-6f64..=1.0, Just(1.0)],
        min_std_ms in 1u64..500,
        pause_ms in 0u64..5_000,
        estimate_ms in 1u64..10_000,
        model in model(),
    ) {
        let cfg = EwmaPhiConfig::new()
            .with_threshold(threshold)
            .with_mean_gain(mean_gain)
            .with_variance_gain(variance_gain)
            .with_min_std_deviation(Duration::from_millis(min_std_ms))
            .with_acceptable_heartbeat_pause(Duration::from_millis(pause_ms))
            .with_first_heartbeat_estimate(Duration::from_millis(estimate_ms))
            .with_model(model);
        // The smoothed mean never falls to 0 (the exponential model divides by it).
        let positive_mean = |fd: &EwmaPhi| assert!(fd.stats().mean_ns > 0.0);
        check(EwmaPhi::new(cfg).unwrap(), start, &gaps, &silences, positive_mean);
    }
}
