//! The trait's promise, exactly: `is_available(t) == (suspicion(t) < threshold())` at
//! every instant, `deadline()` is the first instant where that turns false and equals
//! `deadline_for(threshold())`, for all seven detectors, in every state.

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, ConfigError, ExponentialPhi, ExponentialPhiConfig, FailureDetector,
    FixedTimeout, FixedTimeoutConfig, HeartbeatError, PhiAccrual, PhiAccrualConfig, PhiModel,
    Resolution, Timestamp,
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

/// Phi below 1e-300 reads as 0: with a threshold of 1e-310 and a 60 s pause the
/// node turned unavailable at its deadline while its suspicion still read 0. Phi
/// thresholds below 1e-290 are refused.
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

// ---- Property tests: every detector, extreme configurations ----

use failure_detector::{Chen, ChenConfig, Satzger, SatzgerConfig, TwoWindows, TwoWindowsConfig};
use proptest::prelude::*;

const HORIZON: u64 = Timestamp::HORIZON.as_nanos();
/// 2^47 ns (about 39 hours): the longest duration a window records.
const RECORDABLE: u64 = 1 << 47;

/// The distance, in nanoseconds, within which the raw suspicion and a deadline
/// computed for the same level may disagree: 1 ns of rounding up plus the
/// floating-point error of an offset of `offset_ns` (and of the silence as a double).
fn slack(offset_ns: u64) -> u64 {
    2 + (offset_ns as f64 * 2f64.powi(-50)) as u64
}

/// Checks, after every heartbeat of `gaps` from `start`:
/// * `deadline() == deadline_for(threshold())`, the deadline is after the heartbeat
///   and is the first instant at which the node is unavailable;
/// * `is_available(t) == (suspicion(t) < threshold())` at `deadline - 1`,
///   `deadline`, `deadline + 1` and at every probe;
/// * the suspicion is never NaN or negative and never decreases while silent;
/// * `deadline_for(level)` for other levels agrees with the suspicion within
///   [`slack`] nanoseconds (and a relative 1e-12 for the models' own rounding);
/// * a heartbeat past the horizon is refused and changes nothing.
fn check(
    fd: &mut dyn FailureDetector,
    start: u64,
    gaps: &[u64],
    probes: &[u64],
    level_factors: &[f64],
    min_level: f64,
) {
    let threshold = fd.threshold();
    let mut probes = probes.to_vec();
    probes.sort_unstable();
    let mut t = start;
    for (i, &gap) in gaps.iter().enumerate() {
        if i > 0 {
            t = t.saturating_add(gap);
        }
        if t > HORIZON {
            let before = fd.deadline();
            assert!(matches!(
                fd.heartbeat(ns(t)),
                Err(HeartbeatError::PastHorizon { .. })
            ));
            assert_eq!(fd.deadline(), before);
            return;
        }
        fd.heartbeat(ns(t)).unwrap();

        let deadline = fd.deadline();
        assert_eq!(deadline, fd.deadline_for(threshold), "after {t}");
        match deadline {
            Some(d) => {
                let d = d.as_nanos();
                assert!(d > t);
                assert!(fd.is_available(ns(d - 1)) && !fd.is_available(ns(d)));
                for at in [d - 1, d, d.saturating_add(1)] {
                    assert!(agrees(fd, at), "at {at}, deadline {d}, after {t}");
                }
            }
            None => {
                assert!(fd.is_available(Timestamp::MAX));
                assert!(agrees(fd, u64::MAX));
            }
        }

        let mut prev = 0.0;
        for &p in &probes {
            let at = t.saturating_add(p);
            let s = fd.suspicion(ns(at));
            assert!(s >= 0.0 && !s.is_nan(), "suspicion {s} at +{p}");
            assert!(s >= prev, "suspicion fell from {prev} to {s} at +{p}");
            prev = s;
            assert!(agrees(fd, at), "at +{p}, deadline {deadline:?}");
        }
        assert_eq!(fd.suspicion(ns(t / 2)), fd.suspicion(ns(t)));

        assert_eq!(fd.deadline_for(f64::NAN), None);
        assert_eq!(fd.deadline_for(0.0), Some(ns(t + 1)));
        for &factor in level_factors {
            let level = (threshold * factor).max(min_level);
            let Some(dl) = fd.deadline_for(level) else {
                continue;
            };
            let dl = dl.as_nanos();
            assert!(dl > t);
            let slack = slack(dl - t);
            if let Some(after) = dl.checked_add(slack) {
                let s = fd.suspicion(ns(after));
                assert!(
                    s >= level * (1.0 - 1e-12),
                    "{s} < {level} at {slack} ns after"
                );
            }
            if dl - t > slack {
                let s = fd.suspicion(ns(dl - slack));
                assert!(
                    s < level * (1.0 + 1e-12),
                    "{s} >= {level} at {slack} ns before"
                );
            }
        }
    }
}

fn gaps() -> impl Strategy<Value = Vec<u64>> {
    let gap = prop_oneof![
        3 => 1u64..1_000,
        8 => 1_000u64..10_000_000_000,
        2 => 10_000_000_000u64..RECORDABLE,
        1 => RECORDABLE..HORIZON,
    ];
    proptest::collection::vec(gap, 1..30)
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..1_000,
        0u64..=HORIZON,
        HORIZON - 100_000_000_000..=HORIZON
    ]
}

/// Silences at which to query: near the heartbeat, within minutes, or anywhere.
fn probes() -> impl Strategy<Value = Vec<u64>> {
    let probe = prop_oneof![0u64..1_000, 0u64..200_000_000_000, any::<u64>()];
    proptest::collection::vec(probe, 1..12)
}

/// Levels for `deadline_for`, as factors of the threshold.
fn level_factors() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec((-8i32..=8).prop_map(|k| 2f64.powi(k) * 0.9), 0..4)
}

/// A duration from 1 ns to `max_ns`, spread over every order of magnitude.
fn duration(max_ns: u64) -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(1u64),
        1u64..1_000,
        1_000u64..=max_ns,
        (0u32..64).prop_map(|k| 1u64 << k),
        Just(max_ns),
    ]
    .prop_map(move |n| Duration::from_nanos(n.clamp(1, max_ns)))
}

/// A positive number `m * 10^e`, `e` in `exponents`.
fn magnitude(exponents: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = f64> {
    (1.0f64..10.0, exponents).prop_map(|(m, e)| m * 10f64.powi(e))
}

fn window() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(1usize), 8 => 1usize..64, 1 => Just(32_768usize)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fixed_timeout(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        interval in prop_oneof![duration(u64::MAX), Just(Duration::MAX)],
        missed in prop_oneof![magnitude(-300..=300), Just(5e-324), Just(f64::MAX)],
        pause in prop_oneof![Just(Duration::ZERO), duration(u64::MAX)],
    ) {
        let cfg = FixedTimeoutConfig::new()
            .with_interval(interval)
            .with_missed_heartbeats(missed)
            .with_acceptable_pause(pause);
        let mut fd = FixedTimeout::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }

    #[test]
    fn phi_accrual(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        threshold in prop_oneof![magnitude(-290..=300), Just(1e-290), Just(f64::MAX)],
        window in window(),
        min_std in duration(RECORDABLE),
        pause in prop_oneof![Just(Duration::ZERO), duration(u64::MAX)],
        estimate in duration(RECORDABLE / 5 * 4),
        normal in any::<bool>(),
    ) {
        let cfg = PhiAccrualConfig::new()
            .with_threshold(threshold)
            .with_max_sample_size(window)
            .with_min_std_deviation(min_std)
            .with_acceptable_heartbeat_pause(pause)
            .with_first_heartbeat_estimate(estimate)
            .with_model(if normal { PhiModel::Normal } else { PhiModel::Logistic })
            .with_resolution(resolution_for(estimate + estimate / 4));
        let mut fd = PhiAccrual::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 1e-290);
    }

    #[test]
    fn exponential_phi(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        threshold in prop_oneof![magnitude(-290..=300), Just(1e-290), Just(f64::MAX)],
        window in window(),
        max_interval in duration(RECORDABLE),
        initial in duration(RECORDABLE),
    ) {
        let cfg = ExponentialPhiConfig::new()
            .with_threshold(threshold)
            .with_window_size(window)
            .with_max_interval(max_interval)
            .with_initial_interval(initial)
            .with_resolution(resolution_for(max_interval.max(initial)));
        let mut fd = ExponentialPhi::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }

    #[test]
    fn chen(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        interval in duration(RECORDABLE),
        window in window(),
        margin in prop_oneof![duration(u64::MAX), Just(Duration::MAX)],
    ) {
        let cfg = ChenConfig::new()
            .with_interval(interval)
            .with_window_size(window)
            .with_safety_margin(margin);
        let mut fd = Chen::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }

    #[test]
    fn bertier(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        interval in duration(RECORDABLE),
        window in window(),
        beta in prop_oneof![magnitude(-20..=20), Just(5e-324), Just(1e300)],
        phi in prop_oneof![magnitude(-20..=20), Just(1.0), Just(5e-324), Just(1e300)],
        gamma in prop_oneof![1e-6f64..=1.0, Just(1.0)],
    ) {
        let cfg = BertierConfig::new()
            .with_interval(interval)
            .with_window_size(window)
            .with_beta(beta)
            .with_phi(phi)
            .with_gamma(gamma);
        let mut fd = Bertier::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }

    #[test]
    fn satzger(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        threshold in prop_oneof![1e-9f64..=1.0, Just(1.0), Just(5e-324)],
        window in window(),
        estimate in duration(RECORDABLE),
    ) {
        let cfg = SatzgerConfig::new()
            .with_threshold(threshold)
            .with_window_size(window)
            .with_first_heartbeat_estimate(estimate);
        let mut fd = Satzger::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }

    #[test]
    fn two_windows(
        start in start(), gaps in gaps(), probes in probes(), levels in level_factors(),
        interval in duration(RECORDABLE),
        (long, short) in window().prop_flat_map(|long| (Just(long), 1..=long)),
        margin in prop_oneof![duration(u64::MAX), Just(Duration::MAX)],
    ) {
        let cfg = TwoWindowsConfig::new()
            .with_interval(interval)
            .with_long_window(long)
            .with_short_window(short)
            .with_safety_margin(margin);
        let mut fd = TwoWindows::new(cfg).unwrap();
        check(&mut fd, start, &gaps, &probes, &levels, 0.0);
    }
}

/// The default microsecond resolution where the configured durations fit it,
/// else exact nanoseconds (the only one that stores up to 2^47 ns).
fn resolution_for(longest: Duration) -> Resolution {
    let micro = Resolution::Microsecond;
    if longest.as_nanos() <= u128::from(micro.max_interval_ns()) {
        micro
    } else {
        Resolution::Nanosecond
    }
}
