//! Several threads heartbeating, ticking, registering and removing at once, for a
//! bounded number of operations: every transition yields exactly one event, each
//! node's events form an unbroken chain in order, dated in time order, the chain
//! ends in the state the registry reports, and nothing deadlocks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use failure_detector::{
    Confirmation, Event, FixedTimeout, FixedTimeoutConfig, NodeState, Registry, RegistryConfig,
    RegistryHeartbeatError, Timestamp,
};

const NODES: u64 = 64;
const OPS_PER_THREAD: usize = 50_000;
const HEARTBEATERS: usize = 3;

/// A small seeded generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn run(config: RegistryConfig) {
    // 1 ms heartbeats, suspected after 3 ms of silence. Every operation moves the
    // shared time on by up to 40 us, so with 64 nodes and 3 heartbeating threads,
    // nodes go silent, die, get removed and come back all the time.
    let fd = FixedTimeout::new(FixedTimeoutConfig::new().with_interval(Duration::from_millis(1)))
        .unwrap();
    let (registry, events) = Registry::<u64, _>::new(config, fd).unwrap();
    let registry = Arc::new(registry);
    let time = Arc::new(AtomicU64::new(1_000_000));
    let now = {
        let time = Arc::clone(&time);
        move |rng: &mut Rng| {
            Timestamp::from_nanos(time.fetch_add(rng.below(40_000), Ordering::SeqCst))
        }
    };

    let (done_tx, done_rx) = mpsc::channel();
    let consumer = thread::spawn(move || events.iter().collect::<Vec<Event<u64>>>());
    let mut workers = Vec::new();
    for id in 0..HEARTBEATERS + 2 {
        let registry = Arc::clone(&registry);
        let now = now.clone();
        let done = done_tx.clone();
        workers.push(thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) * 0x1234_5678_9ABC));
            let mut refused = 0usize;
            for _ in 0..OPS_PER_THREAD {
                let node = rng.below(NODES);
                match id {
                    // Heartbeaters. Timestamps taken before the lock may arrive out
                    // of order: the detector refuses those before its last
                    // heartbeat; the others take effect at the node's last
                    // evaluation.
                    _ if id < HEARTBEATERS => match registry.heartbeat(&node, now(&mut rng)) {
                        Ok(()) => {}
                        Err(RegistryHeartbeatError::Detector(_)) => refused += 1,
                        Err(RegistryHeartbeatError::RejoinRefused) => {
                            // Only when rejoins are refused: let it back in.
                            let _ = registry.register(node, now(&mut rng));
                            refused += 1;
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    },
                    // The ticker, also reading snapshots as a dashboard would.
                    _ if id == HEARTBEATERS => {
                        registry.tick(now(&mut rng));
                        if rng.below(100) == 0 {
                            let _ = registry.snapshot(now(&mut rng));
                        }
                        let _ = registry.next_deadline();
                    }
                    // Registering and removing.
                    _ => {
                        if rng.below(2) == 0 {
                            let _ = registry.register(node, now(&mut rng));
                        } else {
                            registry.remove(&node, now(&mut rng));
                        }
                    }
                }
            }
            done.send(refused).unwrap();
        }));
    }
    drop(done_tx);
    for _ in 0..workers.len() {
        done_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a worker did not finish in 120 s: deadlock?");
    }
    for worker in workers {
        worker.join().unwrap();
    }

    // Quiescent now: the events so far must replay to the registry's states.
    let states: HashMap<u64, NodeState> = registry
        .snapshot(Timestamp::ZERO)
        .into_iter()
        .map(|info| (info.node, info.state))
        .collect();
    let counts = registry.counts();
    assert_eq!(registry.undelivered_events(), 0);
    drop(registry); // closes the channel: the consumer returns everything
    let events = consumer.join().unwrap();

    let mut replayed: HashMap<u64, NodeState> = HashMap::new();
    let mut last_at: HashMap<u64, Timestamp> = HashMap::new();
    let mut transitions = 0;
    for event in &events {
        let current = replayed.get(event.node()).copied();
        assert_eq!(
            current,
            event.from(),
            "{event:?} does not follow the node's previous event"
        );
        // Timestamps taken before the lock arrive late: they take effect at the
        // node's last evaluation, never before it.
        if let Some(previous) = last_at.insert(*event.node(), event.at()) {
            assert!(
                event.at() >= previous,
                "{event:?} is dated before {previous:?}"
            );
        }
        match event.to() {
            Some(state) => replayed.insert(*event.node(), state),
            None => replayed.remove(event.node()),
        };
        if let Event::Changed { .. } = event {
            transitions += 1;
        }
    }
    assert_eq!(replayed, states);
    for state in [NodeState::Alive, NodeState::Suspect, NodeState::Dead] {
        assert_eq!(
            counts.get(state),
            states.values().filter(|&&s| s == state).count()
        );
    }
    // The run must have exercised the lifecycle, not just heartbeats.
    let removals = events.iter().filter(|e| e.to().is_none()).count();
    assert!(transitions > 1_000, "only {transitions} transitions");
    assert!(removals > 100, "only {removals} removals");
}

#[test]
fn concurrent_operations_keep_one_event_per_transition_in_order() {
    run(RegistryConfig::new()
        .with_shards(4)
        .with_confirmation(Confirmation::After(Duration::from_millis(2)))
        .with_removal_grace(Duration::from_millis(5)));
}

#[test]
fn concurrent_operations_with_hysteresis_and_refused_rejoins() {
    run(RegistryConfig::new()
        .with_shards(16)
        .with_accept_rejoin(false)
        .with_hysteresis(Duration::from_millis(2))
        .with_confirmation(Confirmation::Suspicion(6.0))
        .with_removal_grace(Duration::from_millis(3)));
}
