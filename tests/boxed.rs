//! Every detector behind `Box<dyn FailureDetector + Send>`: the trait is object safe,
//! a box forwards every method, and a registry can hold detectors of mixed kinds.

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, ExponentialPhi, ExponentialPhiConfig,
    FailureDetector, FixedTimeout, FixedTimeoutConfig, NodeState, PhiAccrual, PhiAccrualConfig,
    Registry, RegistryConfig, Satzger, SatzgerConfig, Timestamp, TwoWindows, TwoWindowsConfig,
};

type Dyn = Box<dyn FailureDetector + Send>;

fn all() -> Vec<(&'static str, Dyn)> {
    let period = Duration::from_millis(100);
    vec![
        (
            "fixed",
            Box::new(FixedTimeout::new(FixedTimeoutConfig::new().with_interval(period)).unwrap()),
        ),
        (
            "phi",
            Box::new(PhiAccrual::new(PhiAccrualConfig::new()).unwrap()),
        ),
        (
            "exponential",
            Box::new(ExponentialPhi::new(ExponentialPhiConfig::new()).unwrap()),
        ),
        (
            "chen",
            Box::new(Chen::new(ChenConfig::new().with_interval(period)).unwrap()),
        ),
        (
            "bertier",
            Box::new(Bertier::new(BertierConfig::new().with_interval(period)).unwrap()),
        ),
        (
            "satzger",
            Box::new(Satzger::new(SatzgerConfig::new()).unwrap()),
        ),
        (
            "two-windows",
            Box::new(TwoWindows::new(TwoWindowsConfig::new().with_interval(period)).unwrap()),
        ),
    ]
}

#[test]
fn a_box_answers_as_the_detector_inside() {
    for ((name, mut boxed), (_, mut plain)) in all().into_iter().zip(all()) {
        let plain: &mut dyn FailureDetector = &mut *plain;
        let heap = boxed.memory_bytes();
        for i in 0..200u64 {
            let at = Timestamp::from_millis(1_000 + i * 100 + (i * 37) % 9);
            boxed.heartbeat(at).unwrap();
            plain.heartbeat(at).unwrap();
        }
        assert!(
            boxed.heartbeat(Timestamp::from_millis(5)).is_err(),
            "{name}"
        );
        let later = Timestamp::from_millis(21_500);
        assert_eq!(boxed.suspicion(later), plain.suspicion(later), "{name}");
        assert_eq!(
            boxed.is_available(later),
            plain.is_available(later),
            "{name}"
        );
        assert_eq!(boxed.deadline(), plain.deadline(), "{name}");
        assert_eq!(boxed.deadline_for(0.5), plain.deadline_for(0.5), "{name}");
        assert_eq!(boxed.threshold(), plain.threshold(), "{name}");
        assert_eq!(boxed.last_heartbeat(), plain.last_heartbeat(), "{name}");
        assert_eq!(boxed.stats(), plain.stats(), "{name}");
        // The box's own pointer on top of the detector's bytes; nothing allocated since.
        assert_eq!(boxed.memory_bytes(), heap, "{name}");
        assert_eq!(
            boxed.memory_bytes(),
            plain.memory_bytes() + std::mem::size_of::<Dyn>(),
            "{name}"
        );
        assert!(
            plain.memory_bytes() >= std::mem::size_of_val(plain),
            "{name}"
        );
        boxed.reset();
        assert_eq!(boxed.deadline(), None, "{name}");
    }
}

#[test]
fn a_registry_of_mixed_detectors() {
    // Nodes named "fixed:..." get a fixed timeout, the others phi accrual.
    let (registry, events) = Registry::with_factory(RegistryConfig::new(), |key: &String| -> Dyn {
        if key.starts_with("fixed:") {
            Box::new(FixedTimeout::new(FixedTimeoutConfig::new()).unwrap())
        } else {
            Box::new(PhiAccrual::new(PhiAccrualConfig::new()).unwrap())
        }
    })
    .unwrap();
    for key in ["fixed:a", "phi:b"] {
        registry.heartbeat(key, Timestamp::from_secs(1)).unwrap();
        registry.heartbeat(key, Timestamp::from_secs(2)).unwrap();
    }
    // Phi (1 s intervals, 3 s pause) suspects within a few seconds; the fixed timeout
    // (5 s x 3) only after 15 s.
    registry.tick(Timestamp::from_secs(10));
    assert_eq!(registry.state("phi:b"), Some(NodeState::Suspect));
    assert_eq!(registry.state("fixed:a"), Some(NodeState::Alive));
    registry.tick(Timestamp::from_secs(17));
    assert_eq!(registry.state("fixed:a"), Some(NodeState::Suspect));
    assert!(events.try_iter().count() >= 4);
}

/// A detector written outside the crate: it can report its statistics with
/// `Stats::new` (the struct is `#[non_exhaustive]`), and boxes like the built-in ones.
#[test]
fn a_custom_detector_builds_its_stats() {
    use failure_detector::{HeartbeatError, Stats};

    /// Suspicion: seconds of silence; unavailable after `limit` seconds.
    struct Seconds {
        last: Option<Timestamp>,
        limit: f64,
    }

    impl FailureDetector for Seconds {
        fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
            self.last = Some(at);
            Ok(())
        }
        fn suspicion(&self, now: Timestamp) -> f64 {
            self.last.map_or(0.0, |last| (now - last).as_secs_f64())
        }
        fn threshold(&self) -> f64 {
            self.limit
        }
        fn is_available(&self, now: Timestamp) -> bool {
            self.suspicion(now) < self.limit
        }
        fn deadline(&self) -> Option<Timestamp> {
            self.deadline_for(self.limit)
        }
        fn deadline_for(&self, level: f64) -> Option<Timestamp> {
            let last = self.last?;
            last.checked_add(Duration::from_secs_f64(level.max(1e-9)))
        }
        fn last_heartbeat(&self) -> Option<Timestamp> {
            self.last
        }
        fn stats(&self) -> Stats {
            Stats::new(0, self.limit * 1e9, 0.0)
        }
        fn reset(&mut self) {
            self.last = None;
        }
    }

    let mut fd: Dyn = Box::new(Seconds {
        last: None,
        limit: 2.5,
    });
    fd.heartbeat(Timestamp::from_secs(10)).unwrap();
    let stats = fd.stats();
    assert_eq!(stats, Stats::new(0, 2.5e9, 0.0));
    assert_eq!(stats.samples, 0);
    assert_eq!(stats.mean(), Duration::from_millis(2_500));
    assert_eq!(stats.std_dev(), Duration::ZERO);
    assert_eq!(fd.deadline(), Some(Timestamp::from_millis(12_500)));
    assert!(!fd.is_available(Timestamp::from_millis(12_500)));
}
