//! Memory per watched node, as documented (docs/memory.md, each detector's
//! "Memory" paragraph): the detector's own bytes, its window's slots at each
//! resolution, and that nothing grows after construction.

use std::time::Duration;

use failure_detector::{
    EwmaPhi, EwmaPhiConfig, ExponentialPhi, ExponentialPhiConfig, FailureDetector, PhiAccrual,
    PhiAccrualConfig, Registry, RegistryConfig, Resolution, Timestamp,
};

const RESOLUTIONS: [(Resolution, usize); 3] = [
    (Resolution::Nanosecond, 8),
    (Resolution::Microsecond, 4),
    (Resolution::Millisecond, 2),
];

/// Feeds a thousand heartbeats, some with intervals beyond every resolution, and
/// checks the memory did not change.
fn no_growth(fd: &mut dyn FailureDetector) {
    let before = fd.memory_bytes();
    let mut t = 0u64;
    for i in 0..1_000u64 {
        t += if i % 100 == 99 {
            100_000_000_000_000
        } else {
            1_000_000_000
        };
        fd.heartbeat(Timestamp::from_nanos(t)).unwrap();
    }
    assert_eq!(fd.memory_bytes(), before);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn detector_sizes_are_as_documented() {
    assert_eq!(std::mem::size_of::<PhiAccrual>(), 104);
    assert_eq!(std::mem::size_of::<ExponentialPhi>(), 96);
    assert_eq!(std::mem::size_of::<EwmaPhi>(), 40);
    // At a window of 100 (microseconds, the default): 504 bytes; 304 in
    // milliseconds; 40 without a window.
    let phi = PhiAccrual::new(PhiAccrualConfig::new().with_max_sample_size(100)).unwrap();
    assert_eq!(phi.memory_bytes(), 504);
    let cfg = PhiAccrualConfig::new()
        .with_max_sample_size(100)
        .with_resolution(Resolution::Millisecond);
    assert_eq!(PhiAccrual::new(cfg).unwrap().memory_bytes(), 304);
    assert_eq!(
        EwmaPhi::new(EwmaPhiConfig::new()).unwrap().memory_bytes(),
        40
    );
}

#[test]
fn windows_take_their_resolutions_bytes_per_slot() {
    for (resolution, slot) in RESOLUTIONS {
        for window in [1, 100, 1000, 32_768] {
            let cfg = PhiAccrualConfig::new()
                .with_max_sample_size(window)
                .with_resolution(resolution);
            let mut phi = PhiAccrual::new(cfg).unwrap();
            assert_eq!(
                phi.memory_bytes(),
                std::mem::size_of::<PhiAccrual>() + window * slot
            );
            no_growth(&mut phi);
            let cfg = ExponentialPhiConfig::new()
                .with_window_size(window)
                .with_resolution(resolution);
            let mut exp = ExponentialPhi::new(cfg).unwrap();
            assert_eq!(
                exp.memory_bytes(),
                std::mem::size_of::<ExponentialPhi>() + window * slot
            );
            no_growth(&mut exp);
        }
    }
    no_growth(&mut EwmaPhi::new(EwmaPhiConfig::new()).unwrap());
}

#[test]
fn the_default_resolution_is_the_microsecond() {
    assert_eq!(PhiAccrualConfig::new().resolution, Resolution::Microsecond);
    assert_eq!(
        ExponentialPhiConfig::new().resolution,
        Resolution::Microsecond
    );
    assert_eq!(Resolution::default(), Resolution::Microsecond);
    assert_eq!(Resolution::Microsecond.max_interval_ns(), 4_294_967_295_000);
    assert_eq!(Resolution::Millisecond.max_interval_ns(), 65_535_000_000);
    assert_eq!(Resolution::Nanosecond.max_interval_ns(), 1 << 47);
}

/// A longer interval than the window stores is clamped and counted, never wrapped:
/// a sender silent for two minutes, seen at millisecond resolution with a pause long
/// enough to record it.
#[test]
fn intervals_beyond_the_resolution_are_clamped_and_counted() {
    let cfg = PhiAccrualConfig::new()
        .with_max_sample_size(10)
        .with_acceptable_heartbeat_pause(Duration::from_secs(3600))
        .with_resolution(Resolution::Millisecond);
    let mut fd = PhiAccrual::new(cfg).unwrap();
    fd.heartbeat(Timestamp::from_secs(1)).unwrap();
    fd.heartbeat(Timestamp::from_secs(121)).unwrap();
    let s = fd.stats();
    assert_eq!(s.clamped_intervals, 1);
    // Bootstrap 0.75 s and 1.25 s, then 65.535 s (not 120 s, and not wrapped to
    // 120 - 65.536 = 54.464 s).
    let expected = (750.0 + 1250.0 + 65_535.0) / 3.0 * 1e6;
    assert!((s.mean_ns - expected).abs() < 1e-3, "{}", s.mean_ns);
    fd.reset();
    assert_eq!(fd.stats().clamped_intervals, 0);

    // Microseconds store the two minutes.
    let mut fd = PhiAccrual::new(cfg.with_resolution(Resolution::Microsecond)).unwrap();
    fd.heartbeat(Timestamp::from_secs(1)).unwrap();
    fd.heartbeat(Timestamp::from_secs(121)).unwrap();
    assert_eq!(fd.stats().clamped_intervals, 0);
}

/// Heartbeats at whole milliseconds (Akka's and Cassandra's resolution): every
/// resolution gives bit-for-bit the same suspicion and deadlines.
#[test]
fn whole_milliseconds_give_the_same_verdicts_at_every_resolution() {
    let mut phis: Vec<PhiAccrual> = RESOLUTIONS
        .iter()
        .map(|&(r, _)| {
            PhiAccrual::new(
                PhiAccrualConfig::new()
                    .with_max_sample_size(50)
                    .with_min_std_deviation(Duration::from_millis(1))
                    .with_resolution(r),
            )
            .unwrap()
        })
        .collect();
    let mut exps: Vec<ExponentialPhi> = RESOLUTIONS
        .iter()
        .map(|&(r, _)| {
            ExponentialPhi::new(
                ExponentialPhiConfig::new()
                    .with_window_size(50)
                    .with_resolution(r),
            )
            .unwrap()
        })
        .collect();
    let mut t = 0u64;
    for i in 0..300u64 {
        t += 900 + (i * 7919) % 250;
        let at = Timestamp::from_millis(t);
        for fd in &mut phis {
            fd.heartbeat(at).unwrap();
        }
        for fd in &mut exps {
            fd.heartbeat(at).unwrap();
        }
        let probe = Timestamp::from_millis(t + 1_100);
        for group in [
            phis.iter()
                .map(|f| f as &dyn FailureDetector)
                .collect::<Vec<_>>(),
            exps.iter().map(|f| f as &dyn FailureDetector).collect(),
        ] {
            for fd in &group[1..] {
                assert_eq!(fd.deadline(), group[0].deadline(), "heartbeat {i}");
                assert_eq!(
                    fd.suspicion(probe).to_bits(),
                    group[0].suspicion(probe).to_bits()
                );
                assert_eq!(fd.stats(), group[0].stats());
            }
        }
    }
}

/// Clones share the configuration block: a registry of constant-memory detectors
/// holds one copy of it, and each node's detector is 40 bytes.
#[test]
fn a_registry_of_ewma_detectors_works_and_stays_small() {
    let fd = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
    let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
    for round in 0..5u64 {
        for node in 0..1_000u64 {
            registry
                .heartbeat(&node, Timestamp::from_millis(round * 1000 + node))
                .unwrap();
        }
    }
    assert_eq!(registry.len(), 1_000);
    let info = registry.info(&7, Timestamp::from_secs(5)).unwrap();
    assert!(info.stats.mean_ns > 0.9e9 && info.stats.mean_ns < 1.1e9);
    registry.tick(Timestamp::from_secs(60));
    // A minute of silence: nobody is Alive any more.
    assert_eq!(registry.counts().alive, 0);
}

/// A configured duration the window's resolution cannot store is refused at
/// construction (not clamped from the first sample on), with the field named.
#[test]
fn durations_beyond_the_resolution_are_refused() {
    use failure_detector::ConfigError;
    let field = |e: ConfigError| {
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e:?}");
        e.field()
    };
    let ms = PhiAccrualConfig::new().with_resolution(Resolution::Millisecond);
    // 52 s + 25% = 65 s fits 65.535 s; 53 s does not.
    assert!(PhiAccrual::new(ms.with_first_heartbeat_estimate(Duration::from_secs(52))).is_ok());
    let e = PhiAccrual::new(ms.with_first_heartbeat_estimate(Duration::from_secs(53))).unwrap_err();
    assert_eq!(field(e), "first_heartbeat_estimate");
    let two_hours = Duration::from_secs(7_200);
    let e =
        ExponentialPhi::new(ExponentialPhiConfig::new().with_max_interval(two_hours)).unwrap_err();
    assert_eq!(field(e), "max_interval");
    let e = ExponentialPhi::new(ExponentialPhiConfig::new().with_initial_interval(two_hours))
        .unwrap_err();
    assert_eq!(field(e), "initial_interval");
    let nanos = ExponentialPhiConfig::new().with_resolution(Resolution::Nanosecond);
    assert!(ExponentialPhi::new(nanos.with_max_interval(two_hours)).is_ok());
}
