//! A hostile tester's suite: every public constructor and method fed extreme and
//! absurd values, interleaved sequences, registries raced across threads and driven by
//! a clock that runs backwards, trace readers fed malformed bytes, and the QoS lab's
//! scenarios, sweeps and replays at the edges. Each test asserts a documented promise:
//! a typed error that changes nothing, no panic, no NaN, suspicion that never
//! decreases during a silence, `is_available(t) == (suspicion(t) < threshold())`,
//! `deadline() == deadline_for(threshold())`, and event instants that never decrease
//! per node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use failure_detector::qos::{
    Delay, Family, Loss, ReplayConfig, Scenario, Trace, TraceError, TraceReader, replay,
    replay_listing, sweep,
};
use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, Clock, Confirmation, Event, ExponentialPhi,
    ExponentialPhiConfig, FailureDetector, FixedTimeout, FixedTimeoutConfig, HeartbeatError,
    ManualClock, NodeState, PhiAccrual, PhiAccrualConfig, PhiModel, Registry, RegistryConfig,
    Satzger, SatzgerConfig, Timestamp, TwoWindows, TwoWindowsConfig,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};

fn ns(n: u64) -> Timestamp {
    Timestamp::from_nanos(n)
}

const H: u64 = Timestamp::HORIZON.as_nanos();

/// A deterministic proptest runner (fixed seed, nothing written to disk).
fn runner(cases: u32) -> TestRunner {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
}

/// Extreme durations: 0, 1 ns, subsecond, the window's 2^47 ns limit and beyond.
const DURATIONS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_nanos(3),
    Duration::from_millis(100),
    Duration::from_nanos(1 << 47),
    Duration::from_nanos((1 << 47) + 1),
    Duration::from_nanos(u64::MAX),
    Duration::MAX,
];

/// Extreme floats.
const FLOATS: [f64; 14] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    -1.0,
    5e-324,
    1e-310,
    1e-290,
    0.5,
    1.0,
    8.0,
    1e300,
    f64::MAX,
];

const SIZES: [usize; 5] = [0, 1, 2, 32_768, usize::MAX];

/// Every detector built from every combination of extreme values that its
/// constructor accepts (the refusals are checked to be typed errors, which they
/// are by type; building must not panic).
fn all_detectors() -> Vec<(String, Box<dyn FailureDetector + Send>)> {
    let mut out: Vec<(String, Box<dyn FailureDetector + Send>)> = Vec::new();
    let mut push = |name: String, fd: Option<Box<dyn FailureDetector + Send>>| {
        if let Some(fd) = fd {
            out.push((name, fd));
        }
    };
    for &d in &DURATIONS {
        for &f in &FLOATS {
            for &p in &[Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
                let c = FixedTimeoutConfig::new()
                    .with_interval(d)
                    .with_missed_heartbeats(f)
                    .with_acceptable_pause(p);
                push(
                    format!("{c:?}"),
                    FixedTimeout::new(c).ok().map(|x| Box::new(x) as _),
                );
            }
        }
    }
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        for &f in &FLOATS {
            for &size in &SIZES {
                for (i, &d) in DURATIONS.iter().enumerate() {
                    let e = DURATIONS[(i + 3) % DURATIONS.len()];
                    let c = PhiAccrualConfig::new()
                        .with_model(model)
                        .with_threshold(f)
                        .with_max_sample_size(size)
                        .with_min_std_deviation(d)
                        .with_acceptable_heartbeat_pause(e)
                        .with_first_heartbeat_estimate(d);
                    push(
                        format!("{c:?}"),
                        PhiAccrual::new(c).ok().map(|x| Box::new(x) as _),
                    );
                }
            }
        }
    }
    for &f in &FLOATS {
        for &size in &SIZES {
            for (i, &d) in DURATIONS.iter().enumerate() {
                let c = ExponentialPhiConfig::new()
                    .with_threshold(f)
                    .with_window_size(size)
                    .with_max_interval(d)
                    .with_initial_interval(DURATIONS[(i + 2) % DURATIONS.len()]);
                push(
                    format!("{c:?}"),
                    ExponentialPhi::new(c).ok().map(|x| Box::new(x) as _),
                );
                let c = SatzgerConfig::new()
                    .with_threshold(f)
                    .with_window_size(size)
                    .with_first_heartbeat_estimate(d);
                push(
                    format!("{c:?}"),
                    Satzger::new(c).ok().map(|x| Box::new(x) as _),
                );
            }
        }
    }
    for &size in &SIZES {
        for (i, &d) in DURATIONS.iter().enumerate() {
            let m = DURATIONS[(i + 5) % DURATIONS.len()];
            let c = ChenConfig::new()
                .with_interval(d)
                .with_window_size(size)
                .with_safety_margin(m);
            push(
                format!("{c:?}"),
                Chen::new(c).ok().map(|x| Box::new(x) as _),
            );
            let c = TwoWindowsConfig::new()
                .with_interval(d)
                .with_long_window(size)
                .with_short_window(SIZES[(i + 1) % SIZES.len()])
                .with_safety_margin(m);
            push(
                format!("{c:?}"),
                TwoWindows::new(c).ok().map(|x| Box::new(x) as _),
            );
            for &f in &[f64::NAN, -1.0, 0.0, 5e-324, 0.5, 1.0, 1e300, f64::INFINITY] {
                let c = BertierConfig::new()
                    .with_interval(d)
                    .with_window_size(size)
                    .with_beta(f)
                    .with_phi(f)
                    .with_gamma(f);
                push(
                    format!("{c:?}"),
                    Bertier::new(c).ok().map(|x| Box::new(x) as _),
                );
            }
        }
    }
    out
}

/// The documented promises at one instant.
fn check_at(name: &str, fd: &dyn FailureDetector, t: u64) {
    let s = fd.suspicion(ns(t));
    assert!(!s.is_nan() && s >= 0.0, "{name}: suspicion {s} at {t}");
    assert_eq!(
        fd.is_available(ns(t)),
        s < fd.threshold(),
        "{name}: equivalence at {t} (suspicion {s}, threshold {})",
        fd.threshold()
    );
}

/// The promises around the deadline, and `deadline == deadline_for(threshold)`.
fn check_state(name: &str, fd: &dyn FailureDetector) {
    assert_eq!(
        fd.deadline(),
        fd.deadline_for(fd.threshold()),
        "{name}: deadline vs deadline_for(threshold)"
    );
    for level in [
        f64::NAN,
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        5e-324,
        f64::MAX,
        f64::INFINITY,
    ] {
        let d = fd.deadline_for(level);
        if let (Some(d), Some(last)) = (d, fd.last_heartbeat()) {
            assert!(
                d > last,
                "{name}: deadline_for({level}) {d:?} not after {last:?}"
            );
        }
    }
    let stats = fd.stats();
    assert!(
        !stats.mean_ns.is_nan() && !stats.std_dev_ns.is_nan(),
        "{name}: stats {stats:?}"
    );
    let _ = (stats.mean(), stats.std_dev());
    match (fd.deadline(), fd.last_heartbeat()) {
        (Some(d), Some(last)) => {
            let d = d.as_nanos();
            assert!(
                d > last.as_nanos(),
                "{name}: deadline not after the heartbeat"
            );
            assert!(
                fd.is_available(last),
                "{name}: unavailable at its heartbeat"
            );
            assert!(
                fd.is_available(ns(d - 1)),
                "{name}: unavailable before deadline"
            );
            assert!(!fd.is_available(ns(d)), "{name}: available at deadline");
            assert!(!fd.is_available(Timestamp::MAX), "{name}: available at MAX");
            for t in [d - 1, d, d.saturating_add(1)] {
                check_at(name, fd, t);
            }
        }
        (None, _) => {
            assert!(
                fd.is_available(Timestamp::MAX),
                "{name}: no deadline yet unavailable"
            );
        }
        (Some(_), None) => panic!("{name}: a deadline before any heartbeat"),
    }
    for t in [0, 1, H - 1, H, H + 1, u64::MAX - 1, u64::MAX] {
        check_at(name, fd, t);
    }
    // Suspicion never decreases during the silence.
    if let Some(last) = fd.last_heartbeat() {
        let last = last.as_nanos();
        let mut previous = 0.0;
        let mut probe = |t: u64| {
            let s = fd.suspicion(ns(t));
            assert!(
                s >= previous,
                "{name}: suspicion fell to {s} at {t} from {previous}"
            );
            previous = s;
        };
        let mut step = 1u64;
        let mut t = last;
        while t < u64::MAX {
            probe(t);
            t = t.saturating_add(step);
            step = step.saturating_mul(3);
        }
        probe(u64::MAX);
    }
}

/// Heartbeats that must be refused, changing nothing.
fn check_refusals(name: &str, fd: &mut dyn FailureDetector) {
    let before = (fd.deadline(), fd.last_heartbeat(), fd.stats());
    let mut refused = vec![ns(H + 1), Timestamp::MAX];
    if let Some(last) = fd.last_heartbeat() {
        refused.push(last);
        refused.push(last - Duration::from_nanos(1));
        refused.push(Timestamp::ZERO);
    }
    for at in refused {
        if fd.last_heartbeat() == Some(Timestamp::ZERO) && at == Timestamp::ZERO {
            assert!(matches!(
                fd.heartbeat(at),
                Err(HeartbeatError::Duplicate { .. })
            ));
        } else {
            let e = fd.heartbeat(at);
            assert!(e.is_err(), "{name}: heartbeat at {at:?} accepted");
        }
        assert_eq!(
            (fd.deadline(), fd.last_heartbeat(), fd.stats()),
            before,
            "{name}: refused heartbeat at {at:?} changed the detector"
        );
    }
}

#[test]
fn every_detector_at_extreme_configs_keeps_the_contract() {
    let detectors = all_detectors();
    assert!(detectors.len() > 200, "{}", detectors.len());
    // Extreme arrival sequences: consecutive nanoseconds, huge gaps, the horizon.
    let sequences: [&[u64]; 5] = [
        &[0, 1, 2, 3, 4, 5, 6],
        &[0, 1 << 47, (1 << 47) + 1, H - 1, H],
        &[H],
        &[
            5,
            1_000_000_005,
            2_000_000_005,
            2_000_000_006,
            9_000_000_000,
        ],
        &[1, u64::MAX / 4, H],
    ];
    for (name, mut fd) in detectors {
        let fd: &mut dyn FailureDetector = &mut *fd;
        check_state(&name, fd);
        for seq in sequences {
            fd.reset();
            assert_eq!(fd.deadline(), None, "{name}: deadline after reset");
            assert_eq!(fd.suspicion(Timestamp::MAX), 0.0, "{name}: after reset");
            for &t in seq {
                fd.heartbeat(ns(t))
                    .unwrap_or_else(|e| panic!("{name}: heartbeat at {t}: {e}"));
                check_state(&name, fd);
            }
            check_refusals(&name, fd);
        }
    }
}

/// Random interleavings of heartbeat / query / reset, each state checked.
#[test]
fn random_interleavings_keep_the_contract() {
    let detectors: Vec<(String, Box<dyn FailureDetector + Send>)> = all_detectors()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, d)| d)
        .collect();
    let detectors = std::cell::RefCell::new(detectors);
    let op = prop_oneof![
        6 => (0u64..=63).prop_map(|bits| (0u8, bits)),
        4 => prop_oneof![1u64..1_000, 1u64..20_000_000_000].prop_map(|gap| (3u8, gap)),
        2 => (0u64..=u64::MAX).prop_map(|t| (1u8, t)),
        1 => Just((2u8, 0)),
    ];
    let mut r = runner(100);
    r.run(&proptest::collection::vec(op, 1..60), |ops| {
        for (name, fd) in detectors.borrow_mut().iter_mut() {
            let fd: &mut dyn FailureDetector = &mut **fd;
            fd.reset();
            let mut t = 0u64;
            for &(kind, v) in &ops {
                match kind {
                    0 => {
                        // A gap of 2^bits ns (at most 2^63), or a repeat.
                        let gap = if v == 0 { 0 } else { 1u64 << (v - 1) };
                        t = t.saturating_add(gap);
                        let was = fd.last_heartbeat();
                        let r = fd.heartbeat(ns(t));
                        let fits = t <= H && was.is_none_or(|w| ns(t) > w);
                        prop_assert_eq!(r.is_ok(), fits, "{}: heartbeat at {}", name, t);
                        if !fits {
                            prop_assert_eq!(fd.last_heartbeat(), was);
                        }
                    }
                    1 => check_at(name, fd, v),
                    3 => {
                        t = t.saturating_add(v);
                        if t <= H {
                            prop_assert!(fd.heartbeat(ns(t)).is_ok(), "{}: at {}", name, t);
                            // Just before, at and after the new deadline, and
                            // a little later than the gap itself.
                            check_at(name, fd, t.saturating_add(v));
                            if let Some(d) = fd.deadline() {
                                let d = d.as_nanos();
                                check_at(name, fd, d - 1);
                                check_at(name, fd, d);
                            }
                        }
                    }
                    _ => fd.reset(),
                }
            }
            check_state(name, fd);
        }
        Ok(())
    })
    .unwrap();
}

/// Sequence numbers at the extremes: refused or absorbed, never a NaN, a negative
/// mean, or a deadline beyond the documented bound of 18 periods plus the margin.
#[test]
fn sequence_numbers_at_the_extremes() {
    let interval = Duration::from_millis(100);
    let seqs: [u64; 9] = [0, 1, 2, u64::MAX, u64::MAX - 1, 1 << 40, 3, 1_000_000, 0];
    type Make = fn(Duration) -> Box<dyn SeqDetector>;
    let makes: [(&str, Make); 3] = [
        ("chen", |i| {
            Box::new(Chen::new(ChenConfig::new().with_interval(i)).unwrap())
        }),
        ("bertier", |i| {
            Box::new(Bertier::new(BertierConfig::new().with_interval(i)).unwrap())
        }),
        ("two_windows", |i| {
            Box::new(TwoWindows::new(TwoWindowsConfig::new().with_interval(i)).unwrap())
        }),
    ];
    for (name, make) in makes {
        for rotate in 0..seqs.len() {
            let mut fd = make(interval);
            let mut t = 1_000u64;
            for k in 0..seqs.len() * 3 {
                let seq = seqs[(k + rotate) % seqs.len()];
                t += 100_000_000;
                let _ = fd.beat(ns(t), seq);
                let fd_ref = fd.as_fd();
                check_state(name, fd_ref);
                let stats = fd_ref.stats();
                assert!(stats.mean_ns >= 0.0, "{name}: negative mean {stats:?}");
                let d = fd_ref.deadline().expect("monitoring");
                // 18 periods + the default margin, with room for rounding.
                assert!(
                    d - ns(t) <= interval * 20 + Duration::from_secs(1),
                    "{name}: deadline {:?} after seq {seq}",
                    d - ns(t)
                );
            }
            // At most a few mistakes' worth of damage: after 50 regular beats the
            // detector is back to a deadline near one period.
            for _ in 0..50 {
                t += 100_000_000;
                fd.as_fd_mut().heartbeat(ns(t)).unwrap();
            }
            let d = fd.as_fd().deadline().unwrap() - ns(t);
            assert!(
                d < Duration::from_secs(2),
                "{name}: deadline {d:?} after recovery"
            );
        }
    }
}

trait SeqDetector {
    fn beat(&mut self, at: Timestamp, seq: u64) -> Result<bool, HeartbeatError>;
    fn as_fd(&self) -> &dyn FailureDetector;
    fn as_fd_mut(&mut self) -> &mut dyn FailureDetector;
}

macro_rules! seq_detector {
    ($($t:ty),*) => {$(
        impl SeqDetector for $t {
            fn beat(&mut self, at: Timestamp, seq: u64) -> Result<bool, HeartbeatError> {
                self.heartbeat_with_seq(at, seq)
            }
            fn as_fd(&self) -> &dyn FailureDetector {
                self
            }
            fn as_fd_mut(&mut self) -> &mut dyn FailureDetector {
                self
            }
        }
    )*};
}
seq_detector!(Chen, Bertier, TwoWindows);

// ---- Registry ----

fn fixed() -> FixedTimeout {
    FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(Duration::from_secs(1))
            .with_missed_heartbeats(2.0),
    )
    .unwrap()
}

/// Checks that per node, event instants never decrease and the lifecycle is a
/// valid walk (Joined first, Changed from the state it was in, Removed last).
fn check_stream(events: &[Event<u64>]) {
    let mut per_node: HashMap<u64, (Timestamp, Option<NodeState>)> = HashMap::new();
    for e in events {
        let entry = per_node.entry(*e.node()).or_insert((Timestamp::ZERO, None));
        assert!(
            e.at() >= entry.0,
            "backdated event {e:?} after {:?}",
            entry.0
        );
        entry.0 = e.at();
        match e {
            Event::Joined { .. } => {
                assert_eq!(entry.1, None, "joined twice: {e:?}");
                entry.1 = Some(NodeState::Alive);
            }
            Event::Changed { from, to, .. } => {
                assert_eq!(entry.1, Some(*from), "changed from the wrong state: {e:?}");
                assert_ne!(from, to);
                entry.1 = Some(*to);
            }
            Event::Removed { from, .. } => {
                assert_eq!(entry.1, Some(*from), "removed from the wrong state: {e:?}");
                entry.1 = None;
            }
            _ => {}
        }
    }
}

#[test]
fn registry_config_extremes_are_typed_errors_or_work() {
    for shards in [0, 3, usize::MAX, 1 << 17, (1 << 63) + 1] {
        let c = RegistryConfig::new().with_shards(shards);
        assert!(
            Registry::<u64, _>::new(c, fixed()).is_err(),
            "shards {shards}"
        );
    }
    for cap in [
        Some(0),
        Some(usize::MAX),
        Some(1 << 40),
        Some((1 << 20) + 1),
    ] {
        let c = RegistryConfig::new().with_event_capacity(cap);
        assert!(
            Registry::<u64, _>::new(c, fixed()).is_err(),
            "capacity {cap:?}"
        );
    }
    for level in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1.0, 2.0] {
        let c = RegistryConfig::new().with_confirmation(Confirmation::Suspicion(level));
        assert!(
            Registry::<u64, _>::new(c, fixed()).is_err(),
            "level {level}"
        );
    }
    // Accepted extremes: everything at Duration::MAX, one shard, max_nodes 0.
    let clock = ManualClock::new(Timestamp::ZERO);
    let c = RegistryConfig::new()
        .with_shards(1)
        .with_hysteresis(Duration::MAX)
        .with_removal_grace(Duration::MAX)
        .with_confirmation(Confirmation::After(Duration::MAX))
        .with_event_capacity(Some(1))
        .with_max_nodes(Some(1));
    assert!(Registry::<u64, _>::new(c.with_max_nodes(Some(0)), fixed()).is_err());
    let (reg, events) = Registry::<u64, _>::new(c, fixed()).unwrap();
    let reg = reg.with_clock(clock.clone());
    reg.heartbeat(&1, ns(5)).unwrap();
    assert!(reg.heartbeat(&2, ns(5)).is_err());
    assert!(reg.register(3, ns(5)).is_err());
    assert_eq!(reg.len(), 1);
    assert_eq!(reg.tick(Timestamp::MAX), 1);
    assert_eq!(reg.state(&1), Some(NodeState::Suspect));
    assert!(events.try_recv().is_ok());

    let c = RegistryConfig::new()
        .with_shards(1)
        .with_hysteresis(Duration::MAX)
        .with_removal_grace(Duration::MAX)
        .with_confirmation(Confirmation::After(Duration::MAX))
        .with_event_capacity(Some(1));
    let (reg, events) = Registry::<u64, _>::new(c, fixed()).unwrap();
    reg.heartbeat(&1, ns(H)).unwrap();
    reg.tick(Timestamp::MAX);
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.state(&1), Some(NodeState::Suspect));
    // Hysteresis of Duration::MAX: a Suspect node never comes back, but nothing
    // panics, and the heartbeat at the horizon was the last one possible.
    assert!(reg.heartbeat(&1, Timestamp::MAX).is_err());
    assert!(reg.heartbeat(&1, ns(H + 1)).is_err());
    let s = reg.snapshot(Timestamp::MAX);
    assert_eq!(s.len(), 1);
    assert!(!s[0].suspicion.is_nan());
    // The bounded channel (capacity 1) is full: later events are counted, not blocking.
    reg.heartbeat(&2, ns(0)).unwrap();
    reg.tick(Timestamp::MAX);
    let got: Vec<_> = events.try_iter().collect();
    assert!(!got.is_empty());
    let _ = reg.undelivered_events();
}

/// A `ManualClock` moved backwards under a registry: every `_now` call at the
/// earlier time is either refused with a typed error or takes effect no earlier
/// than the node's last evaluation; the stream stays monotone per node.
#[test]
fn manual_clock_moving_backwards_never_backdates_events() {
    let configs = [
        RegistryConfig::new()
            .with_shards(2)
            .with_confirmation(Confirmation::After(Duration::from_secs(1)))
            .with_removal_grace(Duration::from_secs(1))
            .with_hysteresis(Duration::from_millis(500)),
        RegistryConfig::new()
            .with_shards(1)
            .with_confirmation(Confirmation::Suspicion(3.0))
            .with_removal_grace(Duration::ZERO)
            .with_accept_rejoin(false),
        RegistryConfig::new()
            .with_confirmation(Confirmation::After(Duration::ZERO))
            .with_removal_grace(Duration::MAX)
            .with_hysteresis(Duration::MAX)
            .with_max_nodes(Some(2)),
    ];
    for c in configs {
        clock_backwards_with(c);
    }
}

fn clock_backwards_with(c: RegistryConfig) {
    let clock = ManualClock::new(Timestamp::from_secs(100));
    let (reg, events) = Registry::<u64, _>::new(c, fixed()).unwrap();
    let reg = reg.with_clock(clock.clone());
    let mut r = runner(64);
    let times: Vec<u64> = vec![
        0,
        1,
        50,
        99,
        100,
        101,
        102,
        103,
        105,
        110,
        200,
        u64::MAX / 1_000_000_000,
    ];
    let op = (0usize..times.len(), 0u8..9, 0u64..4);
    r.run(&proptest::collection::vec(op, 1..60), |ops| {
        for (ti, kind, node) in ops {
            clock.set(Timestamp::from_secs(times[ti]));
            match kind {
                0 | 1 => drop(reg.heartbeat_now(&node)),
                2 => drop(reg.register_now(node)),
                3 => drop(reg.remove_now(&node)),
                4 | 5 => drop(reg.tick_now()),
                6 => drop(
                    reg.heartbeat_batch(&[(node, clock.now()), (node + 1, clock.now())], |_, _| {}),
                ),
                7 => {
                    for info in reg.snapshot_now() {
                        prop_assert!(!info.suspicion.is_nan());
                    }
                }
                _ => {
                    let s = reg.suspicion_now(&node);
                    prop_assert!(s.is_none_or(|s| !s.is_nan()));
                    let _ = reg.info(&node, clock.now());
                    let _ = reg.next_deadline();
                }
            }
        }
        let counts = reg.counts();
        prop_assert_eq!(counts.total(), reg.len());
        Ok(())
    })
    .unwrap();
    let all: Vec<Event<u64>> = events.try_iter().collect();
    assert!(all.len() > 10, "{}", all.len());
    check_stream(&all);
}

/// Threads hammer one registry on a shared manual clock that one thread moves
/// back and forth: no panic, no deadlock, counts consistent, streams monotone.
#[test]
fn registry_races_with_a_clock_running_backwards() {
    let clock = ManualClock::new(Timestamp::from_secs(1000));
    let c = RegistryConfig::new()
        .with_shards(4)
        .with_confirmation(Confirmation::After(Duration::from_millis(300)))
        .with_removal_grace(Duration::from_millis(300))
        .with_max_nodes(Some(20));
    let (reg, events) = Registry::<u64, _>::new(c, fixed()).unwrap();
    let reg = Arc::new(reg.with_clock(clock.clone()));
    std::thread::scope(|s| {
        for worker in 0..4u64 {
            let reg = Arc::clone(&reg);
            let clock = clock.clone();
            s.spawn(move || {
                let mut x = worker.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..4_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let node = x % 32;
                    match (x >> 8) % 12 {
                        0..=3 => drop(reg.heartbeat_now(&node)),
                        4 => drop(reg.heartbeat(&node, ns(x % (H + 10)))),
                        5 => drop(reg.register_now(node)),
                        6 => drop(reg.remove_now(&node)),
                        7 => drop(reg.tick_now()),
                        8 => {
                            let batch: Vec<(u64, Timestamp)> =
                                (0..8).map(|k| ((node + k) % 32, clock.now())).collect();
                            reg.heartbeat_batch(&batch, |_, _| {});
                        }
                        9 => {
                            // A snapshot locks one shard at a time and the counts
                            // are three relaxed loads: neither is a consistent cut
                            // (documented), so only the final state is bounded.
                            let snap = reg.snapshot_now();
                            assert!(snap.iter().all(|n| !n.suspicion.is_nan()));
                        }
                        10 if worker == 0 => {
                            // Jump around, backwards included.
                            clock.set(Timestamp::from_millis(1_000_000 + (x % 5_000)));
                        }
                        _ => {
                            clock.advance(Duration::from_millis(i % 7));
                        }
                    }
                }
            });
        }
    });
    assert!(reg.len() <= 20);
    assert_eq!(reg.snapshot(Timestamp::MAX).len(), reg.len());
    let all: Vec<Event<u64>> = events.try_iter().collect();
    assert!(!all.is_empty());
    check_stream(&all);
}

// ---- Trace readers ----

fn read(bytes: &[u8]) -> Result<Trace, TraceError> {
    Trace::read(bytes)
}

#[test]
fn trace_reader_on_malformed_bytes() {
    let bad: &[&[u8]] = &[
        b"",
        b"\n\n\n",
        b"# only comments\n",
        b"\xff\xfe\x00",
        b"arrival_ns\n\xff\n",
        b"arrival_ns\n+5\n",
        b"arrival_ns\n-5\n",
        b"arrival_ns\n1e3\n",
        b"arrival_ns\n18446744073709551616\n",
        b"arrival_ns\n99999999999999999999999999999\n",
        b"arrival_ns\n0x10\n",
        b"arrival_ns\n 1 2\n",
        b"arrival_ns\n1\n1\n",
        b"arrival_ns\n2\n1\n",
        b"arrival_ns,seq\n1\n",
        b"arrival_ns,seq\n1,2,3\n",
        b"arrival_ns\n1,\n",
        b"arrival_ns\n,\n",
        b"arrival_ns,arrival_ns\n1,2\n",
        b"numseq,timestamp_start_send,timestamp_end_send\n0,5\n",
        b"numseq,timestamp_start_send,timestamp_end_send\n0,5,6,7\n",
        b"numseq,timestamp_start_send,timestamp_end_send\n0,5,6\n1,5,7\n",
        b"# crash_ns=-1\narrival_ns\n1\n",
        b"# crash_ns=1e9\narrival_ns\n1\n",
        b"\xef\xbb\xbfarrival_ns\n1\n",
        b"arrival_ns\n\x001\n",
        b"ARRIVAL_NS\n1\n",
    ];
    for input in bad {
        let e = read(input);
        assert!(
            e.is_err(),
            "{:?} accepted: {e:?}",
            String::from_utf8_lossy(input)
        );
        // The streaming reader agrees and stops after its first error.
        if let Ok(reader) = TraceReader::new(*input) {
            let items: Vec<_> = reader.collect();
            assert!(items.last().is_some_and(Result::is_err), "{input:?}");
            assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
        }
    }
    let good: &[(&[u8], usize)] = &[
        (b"arrival_ns\n", 0),
        (b"arrival_ns", 0),
        (b"arrival_ns\r\n1\r\n2\r\n", 2),
        (b"arrival_ns\n1\n\n# c\n2", 2),
        (b"  arrival_ns , seq \n 1 , 2 \n", 1),
        (b"arrival_ns\n18446744073709551615\n", 1),
        (b"arrival_ns\n0\n", 1),
        (
            b"# crash_ns=18446744073709551615\narrival_ns,seq,sent_ns\n1,18446744073709551615,0\n",
            1,
        ),
        (
            b"numseq,timestamp_start_send,timestamp_end_send\n5,1,0\n3,2,0\n",
            2,
        ),
    ];
    for (input, n) in good {
        let t = read(input).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(input)));
        assert_eq!(t.len(), *n, "{:?}", String::from_utf8_lossy(input));
        // Round trip through write_csv.
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        assert_eq!(read(&out).unwrap(), t);
    }
}

#[test]
fn trace_reader_line_bounds() {
    // A header of 100 KB of commas, a 100 KB number, a line of 4096 bytes exactly.
    let mut commas = vec![b','; 100_000];
    commas.push(b'\n');
    assert!(matches!(
        read(&commas),
        Err(TraceError::LineTooLong { line: 1, .. })
    ));
    let mut long = b"arrival_ns\n".to_vec();
    long.extend(std::iter::repeat_n(b'1', 100_000));
    assert!(matches!(
        read(&long),
        Err(TraceError::LineTooLong { line: 2, .. })
    ));
    let mut exact = b"arrival_ns\n".to_vec();
    exact.extend(std::iter::repeat_n(b' ', 4095));
    exact.extend(b"1\r\n");
    assert_eq!(read(&exact).unwrap().len(), 1);
    // An endless stream of zeros stops at the first line.
    let zeros = std::io::BufReader::new(std::io::repeat(0));
    assert!(matches!(
        Trace::read(zeros),
        Err(TraceError::LineTooLong { line: 1, .. })
    ));
    let newlines = std::io::BufReader::new(std::io::Read::take(std::io::repeat(b'\n'), 1 << 20));
    assert!(matches!(
        Trace::read(newlines),
        Err(TraceError::Header { .. })
    ));
    // A directory is an error on line 0.
    assert!(matches!(
        Trace::read_path(std::env::temp_dir()),
        Err(TraceError::Io { line: 0, .. })
    ));
    assert!(matches!(
        Trace::read_path("/nonexistent/definitely/not"),
        Err(TraceError::Io { line: 0, .. })
    ));
}

#[test]
fn trace_reader_on_random_bytes_never_panics() {
    let mut r = runner(160);
    let alphabet = prop_oneof![
        Just(b'0'),
        Just(b'9'),
        Just(b','),
        Just(b'\n'),
        Just(b'\r'),
        Just(b'#'),
        Just(b'-'),
        Just(b'+'),
        Just(b' '),
        Just(b'e'),
        any::<u8>()
    ];
    let header = prop_oneof![
        Just(b"arrival_ns\n".to_vec()),
        Just(b"arrival_ns,seq,sent_ns\n".to_vec()),
        Just(b"numseq,timestamp_start_send,timestamp_end_send\n".to_vec()),
        Just(Vec::new()),
    ];
    r.run(
        &(header, proptest::collection::vec(alphabet, 0..300)),
        |(mut h, body)| {
            h.extend(body);
            if let Ok(t) = read(&h) {
                prop_assert!(t.arrivals().windows(2).all(|w| w[0] < w[1]));
                let mut out = Vec::new();
                t.write_csv(&mut out).unwrap();
                prop_assert_eq!(read(&out).unwrap(), t);
            }
            Ok(())
        },
    )
    .unwrap();
}

// ---- Trace construction, replay, sweeps and scenarios ----

#[test]
fn replay_on_tiny_and_extreme_traces() {
    let traces = [
        Trace::new(),
        Trace::from_timestamps(vec![Timestamp::ZERO]).unwrap(),
        Trace::from_timestamps(vec![Timestamp::MAX]).unwrap(),
        Trace::from_timestamps(vec![ns(0), ns(1)]).unwrap(),
        Trace::from_timestamps(vec![ns(0), ns(H), Timestamp::MAX]).unwrap(),
        Trace::from_timestamps(vec![ns(1), ns(u64::MAX - 1), Timestamp::MAX]).unwrap(),
    ];
    assert!(Trace::from_timestamps(vec![ns(1), ns(1)]).is_err());
    assert!(Trace::from_timestamps(vec![ns(2), ns(1)]).is_err());
    let configs = [
        ReplayConfig::new(),
        ReplayConfig::new().with_warmup(usize::MAX),
        ReplayConfig::new().with_crash_every(0),
        ReplayConfig::new().with_crash_every(usize::MAX),
        ReplayConfig::new().with_warmup(1).with_crash_every(1),
    ];
    let mut with_crashes = Vec::new();
    for trace in &traces {
        for crash in [Timestamp::ZERO, ns(1), ns(H), Timestamp::MAX] {
            let mut t = trace.clone();
            t.set_crash(Some(crash));
            with_crashes.push(t);
        }
        with_crashes.push(trace.clone());
    }
    for trace in &with_crashes {
        let _ = trace.gap_stats();
        for scenario in [
            Scenario::new(Duration::from_secs(1)),
            Scenario::new(Duration::from_secs(1))
                .jitter(Delay::constant(Duration::MAX))
                .drift(Duration::MAX)
                .crash_at(Duration::ZERO),
        ] {
            if let Ok(t) = scenario.apply(1, trace) {
                assert!(t.arrivals().windows(2).all(|w| w[0] < w[1]));
            }
        }
        let _ = trace.truncated(usize::MAX);
        let _ = trace.truncated(0);
        for config in &configs {
            for (name, mut fd) in all_detectors().into_iter().step_by(37) {
                let m = replay(&mut *fd, trace, config);
                assert!(
                    m.mistake_rate().is_finite() && m.mistake_rate() >= 0.0,
                    "{name}"
                );
                let qa = m.query_accuracy();
                assert!((0.0..=1.0).contains(&qa), "{name}: query accuracy {qa}");
                let (m2, list) = replay_listing(&mut *fd, trace, config, usize::MAX);
                assert_eq!(m, m2, "{name}");
                let _ = list;
            }
        }
    }
}

#[test]
fn sweeps_with_extreme_thresholds() {
    let trace = Scenario::new(Duration::from_millis(100))
        .generate(1, 200)
        .unwrap();
    let interval = Duration::from_millis(100);
    let config = ReplayConfig::new();
    for family in Family::ALL {
        let _ = family.thresholds(interval, usize::MAX);
        assert!(family.thresholds(interval, 0).is_empty());
        for t in family.thresholds(interval, 3) {
            assert!(t.is_finite(), "{family:?}: {t}");
        }
        for extreme in [f64::NAN, f64::INFINITY, -1.0, 0.0, 5e-324, f64::MAX] {
            // Either a typed error or a sweep with finite numbers.
            if let Ok(s) = family.sweep(&trace, interval, &config, &[extreme]) {
                let _ = s.table();
                let mut csv = Vec::new();
                s.write_csv(&mut csv).unwrap();
                let _ = s.mistake_rate_at(Duration::MAX);
                let _ = s.detection_time_at(f64::NAN);
                let _ = s.detection_time_at(f64::INFINITY);
                let _ = s.detection_time_at(-1.0);
            }
        }
        for iv in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            let _ = family.build(iv, 1.0);
            let _ = family.thresholds(iv, 5);
        }
    }
    let s = sweep("empty", &trace, &config, &[], |t| {
        FixedTimeout::new(FixedTimeoutConfig::new().with_missed_heartbeats(t))
    })
    .unwrap();
    assert!(s.points.is_empty());
    assert_eq!(s.mistake_rate_at(Duration::from_secs(1)), None);
    assert_eq!(s.detection_time_at(0.1), None);
}

#[test]
fn scenarios_with_extreme_parameters_return() {
    let d = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(1),
        Duration::from_nanos(1 << 47),
        Duration::MAX,
    ];
    for &interval in &d {
        for &a in &d {
            for &b in &d {
                for heartbeats in [0, 1, 1_000, u64::MAX] {
                    for start in [
                        Timestamp::ZERO,
                        ns(H),
                        ns(u64::MAX - (1 << 40)),
                        Timestamp::MAX,
                    ] {
                        let s = Scenario::new(interval)
                            .starting_at(start)
                            .stalls(a, b)
                            .crash_at(b)
                            .drift(a)
                            .jitter(Delay::constant(a));
                        let hb = heartbeats.min(2_000);
                        if let Ok(t) = s.generate(3, hb) {
                            assert!(t.len() as u64 <= hb);
                            assert!(t.arrivals().windows(2).all(|w| w[0] < w[1]));
                        }
                        let _ = s.arrivals(3, heartbeats).map(|g| g.take(2_000).count());
                    }
                }
            }
        }
    }
    for rate in [f64::NAN, -0.1, 1.1, f64::INFINITY] {
        assert!(Loss::random(rate).is_err());
        assert!(Loss::bursty(rate, 2.0).is_err());
        assert!(Loss::gilbert_elliott(rate, 0.5, 0.1, 0.5).is_err());
    }
    assert!(Loss::bursty(0.5, f64::NAN).is_err());
    assert!(Loss::gilbert_elliott(0.1, 0.0, 0.1, 0.5).is_err());
    for (m, s) in [
        (Duration::ZERO, Duration::ZERO),
        (Duration::MAX, Duration::MAX),
        (Duration::from_nanos(1), Duration::MAX),
    ] {
        let delays = [
            Delay::normal(m, s),
            Delay::log_normal(m, s),
            Delay::gamma(m, s),
        ];
        for delay in delays.into_iter().flatten() {
            let t = Scenario::new(Duration::from_millis(10))
                .jitter(delay)
                .generate(1, 100);
            if let Ok(t) = t {
                assert!(t.arrivals().windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
    // A loss rate of 1 is refused (documented: below 1); the bad state of a
    // Gilbert-Elliott channel that is never left loses everything, without a hang.
    assert!(Loss::random(1.0).is_err());
    let t = Scenario::new(Duration::from_millis(10))
        .loss(Loss::gilbert_elliott(1.0, 1e-300, 1.0, 1.0).unwrap())
        .generate(1, 1_000);
    assert!(t.is_ok_and(|t| t.is_empty()));
}

/// Regression: a trace whose later arrivals are past the horizon (refused by every
/// detector of this crate) had the mistake under way counted again after each
/// refused arrival; with `[0, H, MAX]` the mistake time overflowed `u64` (a panic in
/// debug builds). Now a refused arrival extends the mistake under way.
#[test]
fn replay_counts_a_mistake_once_across_refused_arrivals() {
    let s = |x: u64| x * 1_000_000_000;
    let trace =
        Trace::from_timestamps(vec![ns(0), ns(s(10)), ns(H + s(1)), ns(H + s(20))]).unwrap();
    let mut fd = fixed(); // suspects 2 s after a heartbeat
    let (m, list) = replay_listing(&mut fd, &trace, &ReplayConfig::new(), 10);
    assert_eq!(m.refused, 2);
    assert_eq!(m.mistakes, 2);
    assert_eq!(list.total, 2);
    let second = Duration::from_nanos(H + s(20) - s(12));
    assert_eq!(m.mistake_time, Duration::from_secs(8) + second);
    assert!(m.mistake_time <= m.observed);
    assert_eq!(list.listed[1].start, ns(s(12)));
    assert_eq!(list.listed[1].duration, second);
    assert_eq!(list.listed[1].gap, Duration::from_nanos(H + s(20) - s(10)));

    let trace = Trace::from_timestamps(vec![ns(0), ns(H), Timestamp::MAX]).unwrap();
    let m = replay(&mut fd, &trace, &ReplayConfig::new());
    assert_eq!((m.mistakes, m.refused), (2, 1));
    assert!(m.mistake_time <= m.observed);

    // A warm-up arrival accepted, the measured ones refused: the detector's
    // deadline lies before the measurement, which counts only from its start.
    let trace = Trace::from_timestamps(vec![ns(1), ns(u64::MAX - 1), Timestamp::MAX]).unwrap();
    let m = replay(&mut fd, &trace, &ReplayConfig::new().with_warmup(1));
    assert_eq!((m.mistakes, m.refused), (1, 2));
    assert_eq!(m.mistake_time, Duration::from_nanos(1));
    assert_eq!(m.observed, Duration::from_nanos(1));
    assert_eq!(m.query_accuracy(), 0.0);

    // The shared replay of a family sweep measures every level the same way.
    let trace =
        Trace::from_timestamps(vec![ns(0), ns(s(10)), ns(H + s(1)), Timestamp::MAX]).unwrap();
    for family in [
        Family::FixedTimeout,
        Family::PhiAccrual,
        Family::Chen,
        Family::Satzger,
    ] {
        let interval = Duration::from_secs(1);
        let curve = family
            .sweep(
                &trace,
                interval,
                &ReplayConfig::new(),
                &family.thresholds(interval, 4),
            )
            .unwrap();
        for p in &curve.points {
            assert!(
                p.metrics.mistake_time <= p.metrics.observed,
                "{family:?}: {:?}",
                p.metrics
            );
            assert!(p.metrics.mistakes <= 2, "{family:?}: {:?}", p.metrics);
        }
    }
}

/// Regression: with a delay of many intervals the generator held every heartbeat
/// in flight: 1 s of delay at an interval of 1 ns meant a billion heartbeats (24 GB)
/// in memory before the first arrival. Now at most 2^20 are in flight.
#[test]
fn generator_in_flight_is_bounded() {
    let mut g = Scenario::new(Duration::from_nanos(1))
        .jitter(Delay::constant(Duration::from_secs(1)))
        .drift(Duration::from_secs(3600))
        .arrivals(1, u64::MAX)
        .unwrap();
    let first: Vec<_> = g.by_ref().take(3).collect();
    assert_eq!(first[0].at, Timestamp::from_secs(1));
    assert_eq!(first[0].seq, Some(0));
    assert!(first.windows(2).all(|w| w[0].at < w[1].at));
    assert!(!g.ran_out_of_time());
}

/// A detector of the caller's that breaks every promise of the trait: deadlines in
/// the past or at the end of time, NaN suspicion and threshold, refusals at random.
/// The registry and the QoS lab take it as input; they must not panic or hang, and
/// the registry's event stream must stay monotone per node.
#[derive(Clone, Debug)]
struct Liar {
    x: u64,
    last: Option<Timestamp>,
}

impl Liar {
    fn roll(&self, salt: u64) -> u64 {
        let mut x = self.x ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 32)
    }
    fn time(&self, salt: u64) -> Option<Timestamp> {
        match self.roll(salt) % 6 {
            0 => None,
            1 => Some(Timestamp::ZERO),
            2 => Some(Timestamp::MAX),
            3 => self.last,
            4 => self
                .last
                .map(|l| l + Duration::from_nanos(self.roll(salt + 9) % 5_000_000_000)),
            _ => Some(ns(self.roll(salt + 3))),
        }
    }
}

impl FailureDetector for Liar {
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        self.x = self.roll(at.as_nanos());
        if self.x.is_multiple_of(5) {
            return Err(HeartbeatError::Duplicate { at });
        }
        self.last = Some(at);
        Ok(())
    }
    fn suspicion(&self, now: Timestamp) -> f64 {
        [f64::NAN, -1.0, f64::INFINITY, 0.0, 1e300][(self.roll(now.as_nanos()) % 5) as usize]
    }
    fn threshold(&self) -> f64 {
        [f64::NAN, 1.0, 0.0, f64::INFINITY][(self.x % 4) as usize]
    }
    fn is_available(&self, now: Timestamp) -> bool {
        self.roll(now.as_nanos() ^ 77).is_multiple_of(2)
    }
    fn deadline(&self) -> Option<Timestamp> {
        self.time(1)
    }
    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        self.time(level.to_bits())
    }
    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.time(2)
    }
    fn stats(&self) -> failure_detector::Stats {
        failure_detector::Stats::new(usize::MAX, f64::NAN, f64::NEG_INFINITY)
    }
    fn reset(&mut self) {
        self.last = None;
    }
}

#[test]
fn registry_survives_a_lying_detector() {
    for confirmation in [
        Confirmation::After(Duration::ZERO),
        Confirmation::After(Duration::from_secs(1)),
        Confirmation::Suspicion(2.0),
    ] {
        for seed in 0..8u64 {
            let c = RegistryConfig::new()
                .with_shards(2)
                .with_confirmation(confirmation)
                .with_removal_grace(Duration::from_secs(seed % 3))
                .with_hysteresis(Duration::from_millis(seed * 100));
            let (reg, events) = Registry::<u64, Liar>::with_factory(c, move |k: &u64| Liar {
                x: seed ^ *k,
                last: None,
            })
            .unwrap();
            let mut t = 0u64;
            let mut x = seed + 1;
            for _ in 0..2_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t = t.saturating_add(x % 3_000_000_000);
                let node = x % 6;
                match (x >> 20) % 6 {
                    0 | 1 => drop(reg.heartbeat(&node, ns(t))),
                    2 => drop(reg.register(node, ns(t))),
                    3 => drop(reg.remove(&node, ns(t))),
                    4 => drop(reg.tick(ns(t))),
                    _ => {
                        let _ = reg.snapshot(ns(t));
                        let _ = reg.next_deadline();
                        let _ = reg.suspicion(&node, ns(t));
                    }
                }
            }
            reg.tick(Timestamp::MAX);
            reg.tick(Timestamp::MAX);
            let all: Vec<Event<u64>> = events.try_iter().collect();
            assert!(all.len() > 10, "{}", all.len());
            check_stream(&all);
        }
    }
}

#[test]
fn qos_lab_survives_a_lying_detector() {
    let trace = Scenario::new(Duration::from_millis(100))
        .jitter(Delay::normal(Duration::from_millis(5), Duration::from_millis(3)).unwrap())
        .generate(5, 2_000)
        .unwrap();
    for seed in 0..4 {
        for config in [
            ReplayConfig::new(),
            ReplayConfig::new().with_warmup(10).with_crash_every(3),
        ] {
            let mut fd = Liar {
                x: seed,
                last: None,
            };
            let (m, list) = replay_listing(&mut fd, &trace, &config, 5);
            assert!(m.mistake_time <= m.observed, "{m:?}");
            assert!((0.0..=1.0).contains(&m.query_accuracy()), "{m:?}");
            assert_eq!(list.total, m.mistakes);
            let _ = m.to_string();
        }
        let s = sweep(
            "liar",
            &trace,
            &ReplayConfig::new(),
            &[f64::NAN, 1.0, -1.0],
            |_| {
                Ok(Liar {
                    x: seed,
                    last: None,
                })
            },
        )
        .unwrap();
        let _ = s.table();
        let _ = s.mistake_rate_at(Duration::from_millis(200));
        let _ = s.detection_time_at(0.5);
        let mut csv = Vec::new();
        s.write_csv(&mut csv).unwrap();
    }
}

/// `heartbeat_batch`'s refusal callback may call back into the registry (no lock is
/// held then): no deadlock, and the batch's effect is that of heartbeats in turn.
#[test]
fn heartbeat_batch_callback_reenters_the_registry() {
    let c = RegistryConfig::new()
        .with_accept_unknown(false)
        .with_shards(4);
    let (reg, events) = Registry::<u64, _>::new(c, fixed()).unwrap();
    assert_eq!(
        reg.heartbeat_batch(&[], |_, _| panic!("nothing to refuse")),
        0
    );
    for node in 0..100 {
        reg.register(node, ns(10)).unwrap();
    }
    // 5,000 heartbeats, a fifth of them from unknown nodes or duplicates.
    let batch: Vec<(u64, Timestamp)> = (0..5_000u64)
        .map(|i| (i % 125, ns(10 + (i / 125) * 1_000_000_000 + (i % 5) / 4)))
        .collect();
    let mut refused = Vec::new();
    let accepted = reg.heartbeat_batch(&batch, |i, e| {
        // Re-enter: register the unknown node (at a time in its past), query, tick.
        let _ = reg.register(batch[i].0, batch[i].1);
        let _ = reg.snapshot(batch[i].1);
        let _ = reg.tick(batch[i].1);
        refused.push((i, e));
    });
    assert_eq!(accepted + refused.len(), batch.len());
    assert!(!refused.is_empty());
    let all: Vec<Event<u64>> = events.try_iter().collect();
    check_stream(&all);
}

/// Random gaps and random sequence numbers (jumps, repeats, going back, u64::MAX)
/// into the estimation detectors, every state checked against the contract.
#[test]
fn estimation_detectors_under_random_sequence_numbers() {
    let op = (
        prop_oneof![1u64..1_000, 90_000_000u64..110_000_000, 1u64..(1 << 40)],
        prop_oneof![
            3 => Just(None),
            3 => (0u64..64).prop_map(Some),
            1 => any::<u64>().prop_map(Some),
            1 => Just(Some(u64::MAX)),
        ],
    );
    let mut r = runner(64);
    r.run(&proptest::collection::vec(op, 1..80), |ops| {
        let interval = Duration::from_millis(100);
        let mut fds: Vec<(&str, Box<dyn SeqDetector>)> = vec![
            (
                "chen",
                Box::new(
                    Chen::new(
                        ChenConfig::new()
                            .with_interval(interval)
                            .with_window_size(3),
                    )
                    .unwrap(),
                ),
            ),
            (
                "bertier",
                Box::new(
                    Bertier::new(
                        BertierConfig::new()
                            .with_interval(interval)
                            .with_window_size(2),
                    )
                    .unwrap(),
                ),
            ),
            (
                "two_windows",
                Box::new(
                    TwoWindows::new(
                        TwoWindowsConfig::new()
                            .with_interval(interval)
                            .with_short_window(1),
                    )
                    .unwrap(),
                ),
            ),
        ];
        for (name, fd) in &mut fds {
            let mut t = 0u64;
            for &(gap, seq) in &ops {
                t += gap;
                let r = match seq {
                    Some(seq) => fd.beat(ns(t), seq).map(|_| ()),
                    None => fd.as_fd_mut().heartbeat(ns(t)),
                };
                prop_assert!(r.is_ok(), "{}: {:?}", name, r);
                check_state(name, fd.as_fd());
                prop_assert!(fd.as_fd().stats().mean_ns >= 0.0);
            }
        }
        Ok(())
    })
    .unwrap();
}

/// A factory that panics (caller code, run under the shard's lock): the panic
/// reaches the caller, and the registry stays usable and consistent (the lock is
/// not poisoned, no node is half-created, the counts match the nodes).
#[test]
fn a_panicking_factory_leaves_the_registry_consistent() {
    let c = RegistryConfig::new()
        .with_shards(1)
        .with_max_nodes(Some(10));
    let (reg, events) = Registry::<u64, FixedTimeout>::with_factory(c, |k: &u64| {
        assert!(*k != 13, "the factory refuses 13");
        fixed()
    })
    .unwrap();
    reg.heartbeat(&1, ns(5)).unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reg.heartbeat(&13, ns(6))));
    let r2 = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reg.register(13, ns(7))));
    std::panic::set_hook(hook);
    assert!(r.is_err() && r2.is_err());
    assert!(!reg.contains(&13));
    reg.heartbeat(&2, ns(8)).unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!(reg.snapshot(ns(8)).len(), 2);
    for k in 20..28 {
        reg.heartbeat(&k, ns(9)).unwrap();
    }
    // The limit counts only the nodes that exist.
    assert!(reg.heartbeat(&99, ns(9)).is_err());
    assert_eq!(reg.len(), 10);
    reg.tick(Timestamp::MAX);
    let all: Vec<Event<u64>> = events.try_iter().collect();
    check_stream(&all);
}

/// Regression: `Loss::bursty(rate, mean_burst)` promises a long-run loss rate of
/// `rate`, but clamped the entry probability to 1 when `rate` was above
/// `mean_burst / (mean_burst + 1)`: `bursty(0.9, 1.0)` lost half the heartbeats,
/// silently. Such a rate cannot be reached with bursts that short (the good state
/// lasts at least one heartbeat): it is refused now.
#[test]
fn bursty_loss_keeps_its_rate_or_refuses_it() {
    assert!(matches!(
        Loss::bursty(0.9, 1.0),
        Err(failure_detector::ConfigError::OutOfRange { field: "rate", .. })
    ));
    assert!(Loss::bursty(0.99, 50.0).is_err());
    for (rate, burst) in [(0.5, 1.0), (0.9, 9.0), (0.2, 3.0), (0.0, 1.0), (0.98, 50.0)] {
        let loss = Loss::bursty(rate, burst).unwrap();
        assert!(
            (loss.rate() - rate).abs() < 1e-12,
            "{rate} {burst}: {}",
            loss.rate()
        );
    }
}

/// A hasher that sends every key to the same hash: lookups stay exact (keys are
/// compared), joins, removals and re-joins keep the index and the counts right.
#[test]
fn registry_with_a_constant_hasher_stays_exact() {
    #[derive(Clone, Default)]
    struct Constant;
    struct Same;
    impl std::hash::Hasher for Same {
        fn finish(&self) -> u64 {
            42
        }
        fn write(&mut self, _: &[u8]) {}
    }
    impl std::hash::BuildHasher for Constant {
        type Hasher = Same;
        fn build_hasher(&self) -> Same {
            Same
        }
    }
    let c = RegistryConfig::new()
        .with_shards(4)
        .with_removal_grace(Duration::ZERO)
        .with_confirmation(Confirmation::After(Duration::ZERO));
    let (reg, events) =
        Registry::<u64, _, Constant>::with_factory_and_hasher(c, |_: &u64| fixed(), Constant)
            .unwrap();
    for k in 0..600u64 {
        reg.heartbeat(&k, ns(1 + k)).unwrap();
    }
    assert_eq!(reg.len(), 600);
    for k in (0..600u64).step_by(2) {
        assert!(reg.remove(&k, ns(1_000)).is_some());
    }
    assert_eq!(reg.len(), 300);
    for k in 0..600u64 {
        assert_eq!(reg.contains(&k), k % 2 == 1, "{k}");
    }
    // Odd nodes heartbeat on; even ones rejoin; then everything dies and goes.
    for k in 0..600u64 {
        reg.heartbeat(&k, ns(2_000 + k)).unwrap();
    }
    assert_eq!(reg.len(), 600);
    assert_eq!(reg.snapshot(ns(3_000)).len(), 600);
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.len(), 0);
    let all: Vec<Event<u64>> = events.try_iter().collect();
    check_stream(&all);
}
