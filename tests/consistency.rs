//! The trait's promise, exactly: `is_available(t) == (suspicion(t) < threshold())` at
//! every instant, `deadline()` is the first instant where that turns false and equals
//! `deadline_for(threshold())`, for all seven detectors, in every state.

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, ConfigError, ExponentialPhi, ExponentialPhiConfig, FailureDetector,
    FixedTimeout, FixedTimeoutConfig, HeartbeatError, PhiAccrual, PhiAccrualConfig, PhiModel,
    Timestamp,
};

fn ns(n: u64) -> Timestamp {
    Timestamp::from_nanos(n)
}

/// The equivalence at one instant.
fn agrees(fd: &dyn FailureDetector, t: u64) -> bool {
    fd.is_available(ns(t)) == (fd.suspicion(ns(t)) < fd.threshold())
}

/// The equivalence at `deadline - 1`, `deadline` and `deadline + 1`.
fn agrees_around_deadline(fd: &dyn FailureDetector) -> bool {
    match fd.deadline() {
        Some(d) => {
            let d = d.as_nanos();
            agrees(fd, d - 1) && agrees(fd, d) && agrees(fd, d.saturating_add(1))
        }
        None => agrees(fd, u64::MAX),
    }
}

// ---- Regression tests: the reproductions of issue 7, section 4 ----

/// Whether the reported suspicion at `d - 1` or `d` sits exactly on the clamp
/// (`threshold.next_down()` before, `threshold` at the deadline): where the raw
/// value disagreed with the deadline and the shared step had to correct it.
fn clamped_around_deadline(fd: &dyn FailureDetector) -> bool {
    let Some(d) = fd.deadline() else {
        return false;
    };
    let d = d.as_nanos();
    let threshold = fd.threshold();
    let below = f64::from_bits(threshold.to_bits() - 1);
    fd.suspicion(ns(d - 1)) == below || fd.suspicion(ns(d)) == threshold
}

/// `PhiAccrual` rounded its deadline as round(x) + 1: in about half of all states it
/// was still available 1 ns before the deadline with a suspicion at the threshold.
/// Now the deadline is the exact ceiling of the real crossing, so the equivalence
/// holds and the raw phi almost never needs correcting at the deadline.
#[test]
fn phi_deadline_is_the_exact_ceiling() {
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        let cfg = PhiAccrualConfig::new()
            .with_model(model)
            .with_min_std_deviation(Duration::from_nanos(1))
            .with_acceptable_heartbeat_pause(Duration::ZERO);
        let mut fd = PhiAccrual::new(cfg).unwrap();
        let mut t = 0;
        let (mut disagreements, mut clamped) = (0, 0);
        for i in 0..400u64 {
            t += 1_000 + (i * 7919) % 97;
            fd.heartbeat(ns(t)).unwrap();
            if !agrees_around_deadline(&fd) {
                disagreements += 1;
            }
            if clamped_around_deadline(&fd) {
                clamped += 1;
            }
        }
        assert_eq!(disagreements, 0, "{model:?}");
        println!("{model:?}: clamped {clamped}");
        assert!(clamped <= 8, "{model:?}: {clamped} of 400 states corrected");
    }
}

/// `Bertier` computed `(silence - start) * (1 / var)`: one ulp below the threshold
/// at its deadline, where it was already unavailable.
#[test]
fn bertier_suspicion_reaches_the_threshold_at_its_deadline() {
    // gamma 1 and a window of 1 keep every quantity a whole number of nanoseconds:
    // a first gap of 1000 + v ns sets var = v, and the deadline is exactly
    // `start + phi * var`, where `v * (1 / v)` falls short of 1 for v = 49, 98, ...
    let cfg = BertierConfig::new()
        .with_interval(Duration::from_micros(1))
        .with_window_size(1)
        .with_gamma(1.0)
        .with_phi(1.0);
    let mut disagreements = 0;
    for v in 1..300 {
        let mut fd = Bertier::new(cfg).unwrap();
        fd.heartbeat(ns(1_000_000)).unwrap();
        fd.heartbeat(ns(1_001_000 + v)).unwrap();
        assert_eq!(fd.stats().std_dev_ns, v as f64);
        if !agrees_around_deadline(&fd) {
            disagreements += 1;
        }
    }
    assert_eq!(disagreements, 0);
}

/// After a heartbeat at `Timestamp::ZERO` with a threshold never reached,
/// `deadline()` said `Some(MAX)` (and `is_available(MAX)` was false) while
/// `deadline_for(threshold())` said `None`.
#[test]
fn a_deadline_never_reached_is_none_for_both() {
    let cfg = FixedTimeoutConfig::new().with_interval(Duration::MAX);
    let mut fd = FixedTimeout::new(cfg).unwrap();
    fd.heartbeat(Timestamp::ZERO).unwrap();
    assert_eq!(fd.deadline(), fd.deadline_for(fd.threshold()));
    assert_eq!(fd.deadline(), None);
    assert!(fd.is_available(Timestamp::MAX));
    assert!(agrees(&fd, u64::MAX));

    let cfg = PhiAccrualConfig::new().with_acceptable_heartbeat_pause(Duration::MAX);
    let mut fd = PhiAccrual::new(cfg).unwrap();
    fd.heartbeat(Timestamp::ZERO).unwrap();
    assert_eq!(fd.deadline(), fd.deadline_for(fd.threshold()));
    assert!(fd.is_available(Timestamp::MAX));
}

/// A phi threshold of 0.05 broke the equivalence.
#[test]
fn a_low_phi_threshold_keeps_the_equivalence() {
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        let cfg = PhiAccrualConfig::new()
            .with_threshold(0.05)
            .with_model(model);
        let mut fd = PhiAccrual::new(cfg).unwrap();
        let mut t = 0;
        for i in 0..300u64 {
            t += 1_000_000_000 + (i * 7919) % 1_000_003;
            fd.heartbeat(ns(t)).unwrap();
            assert!(agrees_around_deadline(&fd), "{model:?} after {i}");
        }
    }
}

/// Phi below 1e-300 reads as 0: a threshold of 1e-310 with a 60 s pause could not be
/// honoured (available with suspicion 0 >= ... no: unavailable at suspicion 0). Such
/// thresholds are refused.
#[test]
fn phi_thresholds_that_cannot_be_honoured_are_refused() {
    let cfg = PhiAccrualConfig::new()
        .with_threshold(1e-310)
        .with_acceptable_heartbeat_pause(Duration::from_secs(60));
    assert!(matches!(
        PhiAccrual::new(cfg),
        Err(ConfigError::OutOfRange {
            field: "threshold",
            ..
        })
    ));
    assert!(matches!(
        ExponentialPhi::new(ExponentialPhiConfig::new().with_threshold(1e-310)),
        Err(ConfigError::OutOfRange {
            field: "threshold",
            ..
        })
    ));
}

/// A heartbeat at `Timestamp::MAX` made a node impossible to suspect without saying
/// so; past `Timestamp::HORIZON` heartbeats are refused.
#[test]
fn heartbeats_past_the_horizon_are_refused() {
    let mut fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    assert!(matches!(
        fd.heartbeat(Timestamp::MAX),
        Err(HeartbeatError::PastHorizon { .. })
    ));
    assert_eq!(fd.last_heartbeat(), None);
}
