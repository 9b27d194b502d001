//! Invariants every detector keeps, checked on random configurations and arrivals.

use std::time::Duration;

#[path = "support/contract.rs"]
mod contract;

use contract::{check, gaps, silences, start};
use failure_detector::{
    ExponentialPhi, ExponentialPhiConfig, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    PhiAccrual, PhiAccrualConfig, PhiModel, Resolution, Timestamp,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        // Failing cases are saved beside this file (tests/properties.proptest-regressions)
        // and replayed first on every run; commit that file when it appears.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn phi_accrual_invariants(
        start in start(),
        gaps in gaps(),
        silences in silences(),
        threshold in 0.5f64..40.0,
        window in 1usize..64,
        min_std_ms in 1u64..500,
        pause_ms in 0u64..5_000,
        exact in any::<bool>(),
    ) {
        let cfg = PhiAccrualConfig::new()
            .with_threshold(threshold)
            .with_max_sample_size(window)
            .with_min_std_deviation(Duration::from_millis(min_std_ms))
            .with_acceptable_heartbeat_pause(Duration::from_millis(pause_ms))
            .with_model(if exact { PhiModel::Normal } else { PhiModel::Logistic });
        check(PhiAccrual::new(cfg).unwrap(), start, &gaps, &silences, |_| {});
    }

    #[test]
    fn fixed_timeout_invariants(
        start in start(),
        gaps in gaps(),
        silences in silences(),
        interval_ms in 1u64..10_000,
        missed in 0.1f64..10.0,
        pause_ms in 0u64..5_000,
    ) {
        let cfg = FixedTimeoutConfig::new()
            .with_interval(Duration::from_millis(interval_ms))
            .with_missed_heartbeats(missed)
            .with_acceptable_pause(Duration::from_millis(pause_ms));
        check(FixedTimeout::new(cfg).unwrap(), start, &gaps, &silences, |_| {});
    }

    #[test]
    fn exponential_invariants(
        start in start(),
        gaps in gaps(),
        silences in silences(),
        threshold in 0.1f64..40.0,
        window in 1usize..64,
        max_interval_ms in 1u64..100_000,
        initial_ms in 1u64..10_000,
    ) {
        let cfg = ExponentialPhiConfig::new()
            .with_threshold(threshold)
            .with_window_size(window)
            .with_max_interval(Duration::from_millis(max_interval_ms))
            .with_initial_interval(Duration::from_millis(initial_ms));
        check(ExponentialPhi::new(cfg).unwrap(), start, &gaps, &silences, |_| {});
    }

    /// Phi against an independent recomputation of Akka's formula from a naive mean
    /// and standard deviation of the intervals fed (all recorded: the pause is huge).
    #[test]
    fn phi_matches_a_naive_recomputation(
        intervals in proptest::collection::vec(50_000_000u64..2_000_000_000, 1..50),
        window in 1usize..20,
        silence_ms in 0u64..20_000,
        exact in any::<bool>(),
    ) {
        let pause = Duration::from_secs(3600);
        // The default window stores microseconds: the oracle sees the intervals
        // rounded to the nearest microsecond; the nanosecond window keeps them.
        let (resolution, unit) = if exact {
            (Resolution::Nanosecond, 1)
        } else {
            (Resolution::Microsecond, 1_000)
        };
        let cfg = PhiAccrualConfig::new()
            .with_max_sample_size(window)
            .with_acceptable_heartbeat_pause(pause)
            .with_resolution(resolution);
        let mut fd = PhiAccrual::new(cfg).unwrap();
        let mut all = vec![750_000_000u64, 1_250_000_000]; // Akka's bootstrap
        let mut t = 0u64;
        fd.heartbeat(Timestamp::from_nanos(t)).unwrap();
        for &i in &intervals {
            t += i;
            fd.heartbeat(Timestamp::from_nanos(t)).unwrap();
            all.push((i + unit / 2) / unit * unit);
        }
        let recent = &all[all.len().saturating_sub(window)..];
        let n = recent.len() as f64;
        let mean = recent.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = recent.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let std = var.sqrt().max(100e6);
        let s = fd.stats();
        prop_assert!((s.mean_ns - mean).abs() <= 1e-9 * mean);
        prop_assert!((s.std_dev_ns - var.sqrt()).abs() <= 1e-6 * var.sqrt().max(1.0));

        // Make the silence land in the rising part: mean + pause + [-2, 5] sigma.
        let silence = mean + pause.as_nanos() as f64 + (silence_ms as f64 / 20_000.0 * 7.0 - 2.0) * std;
        let now = Timestamp::from_nanos(t + silence as u64);
        let y = ((now.as_nanos() - t) as f64 - mean - pause.as_nanos() as f64) / std;
        let g = y * (1.5976 + 0.070566 * y * y);
        let oracle = (1.0 + g.exp()).log10();
        let phi = fd.suspicion(now);
        prop_assert!((phi - oracle).abs() <= 1e-6 * oracle + 1e-12, "{} vs {}", phi, oracle);
    }
}
