//! Invariants every detector keeps, checked on random configurations and arrivals.

use std::fmt::Debug;
use std::time::Duration;

use failure_detector::{
    ExponentialPhi, ExponentialPhiConfig, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    HeartbeatError, PhiAccrual, PhiAccrualConfig, PhiModel, Resolution, Timestamp,
};
use proptest::prelude::*;

const MICRO: u64 = 1_000;

/// Gaps between arrivals: mostly around a second, sometimes tiny, sometimes long.
fn gaps() -> impl Strategy<Value = Vec<u64>> {
    let gap = prop_oneof![
        8 => 500_000_000u64..1_500_000_000,
        1 => 1u64..1_000,
        1 => 1_000_000_000u64..60_000_000_000,
    ];
    proptest::collection::vec(gap, 1..40)
}

/// Silences at which to query after the last heartbeat, up to about 30 minutes.
fn silences() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(0u64..2_000_000_000_000, 1..30)
}

/// Feeds `gaps` (injecting a refused duplicate and a refused earlier arrival after
/// each accepted one) and checks every invariant along the way.
fn check<D: FailureDetector + Debug>(mut fd: D, start: u64, gaps: &[u64], silences: &[u64]) {
    let threshold = fd.threshold();
    let mut t = start;
    for &gap in gaps {
        let next = t.saturating_add(gap);
        if next > Timestamp::HORIZON.as_nanos() {
            // Past the horizon: refused, nothing changed.
            let before = format!("{fd:?}");
            assert!(matches!(
                fd.heartbeat(Timestamp::from_nanos(next)),
                Err(HeartbeatError::PastHorizon { .. })
            ));
            assert_eq!(format!("{fd:?}"), before);
            break;
        }
        t = next;
        let at = Timestamp::from_nanos(t);
        fd.heartbeat(at).unwrap();
        assert_eq!(fd.last_heartbeat(), Some(at));

        // Refused input changes nothing.
        let before = format!("{fd:?}");
        assert!(fd.heartbeat(at).is_err());
        if t > 0 {
            assert!(fd.heartbeat(Timestamp::from_nanos(t - 1)).is_err());
        }
        assert_eq!(format!("{fd:?}"), before);

        // Suspicion: never NaN or negative, never decreasing while silent.
        let mut sorted = silences.to_vec();
        sorted.sort_unstable();
        let mut prev = 0.0;
        for &s in &sorted {
            let now = Timestamp::from_nanos(t.saturating_add(s));
            let phi = fd.suspicion(now);
            assert!(!phi.is_nan() && phi >= 0.0, "suspicion {phi} at +{s} ns");
            assert!(
                phi >= prev,
                "suspicion fell from {prev} to {phi} at +{s} ns"
            );
            prev = phi;
        }
        assert_eq!(
            fd.suspicion(Timestamp::from_nanos(t / 2)),
            fd.suspicion(at),
            "before the heartbeat: as at the heartbeat"
        );

        let deadline = fd.deadline();
        assert_eq!(fd.deadline_for(threshold), deadline);
        // is_available agrees with the suspicion everywhere (tests/consistency.rs
        // checks the deadline's neighbourhood).
        for &s in &sorted {
            let now = Timestamp::from_nanos(t.saturating_add(s));
            assert_eq!(
                fd.is_available(now),
                fd.suspicion(now) < threshold,
                "at +{s} ns, deadline {deadline:?}, suspicion {}",
                fd.suspicion(now)
            );
        }
        match deadline {
            Some(d) => {
                let d = d.as_nanos();
                assert!(d > t, "available at the heartbeat itself");
                assert!(fd.is_available(Timestamp::from_nanos(d - 1)));
                assert!(!fd.is_available(Timestamp::from_nanos(d)));
                // The threshold is crossed within a microsecond of the deadline.
                if d - t > MICRO {
                    let before = fd.suspicion(Timestamp::from_nanos(d - MICRO));
                    assert!(before < threshold, "{before} >= {threshold} 1 us early");
                }
                if let Some(after) = d.checked_add(MICRO) {
                    let after = fd.suspicion(Timestamp::from_nanos(after));
                    assert!(after >= threshold, "{after} < {threshold} 1 us late");
                }
            }
            None => assert!(fd.is_available(Timestamp::MAX)),
        }
    }
    fd.reset();
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.suspicion(Timestamp::MAX), 0.0);
}

/// Start times: near the origin, anywhere before the horizon, or close to it.
fn start() -> impl Strategy<Value = u64> {
    const HORIZON: u64 = Timestamp::HORIZON.as_nanos();
    prop_oneof![
        0u64..1_000,
        0u64..HORIZON,
        HORIZON - 100_000_000_000..HORIZON
    ]
}

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
        check(PhiAccrual::new(cfg).unwrap(), start, &gaps, &silences);
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
        check(FixedTimeout::new(cfg).unwrap(), start, &gaps, &silences);
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
        check(ExponentialPhi::new(cfg).unwrap(), start, &gaps, &silences);
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
