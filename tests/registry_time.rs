//! Registry time never runs backwards: per node, event instants never decrease,
//! whatever order inputs and ticks arrive in and whichever thread stamps them.
//!
//! Unless a test says otherwise the detector is the textbook fixed timeout: a
//! heartbeat every 5 s, suspected after 15 s of silence; a Suspect node is Dead
//! 10 s later and Removed 60 s after that.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use failure_detector::{
    Event, EventReceiver, FixedTimeout, FixedTimeoutConfig, HeartbeatError, MonotonicClock,
    NodeState, RegisterError, Registry, RegistryConfig, RegistryHeartbeatError, Timestamp,
};

use NodeState::{Alive, Dead, Suspect};

type Reg = Registry<u64, FixedTimeout>;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn registry(config: RegistryConfig) -> (Reg, EventReceiver<u64>) {
    Registry::new(
        config,
        FixedTimeout::new(FixedTimeoutConfig::new()).unwrap(),
    )
    .unwrap()
}

fn drain(events: &EventReceiver<u64>) -> Vec<Event<u64>> {
    events.try_iter().collect()
}

fn joined(secs: u64) -> Event<u64> {
    Event::Joined {
        node: 1,
        at: t(secs),
    }
}

fn changed(from: NodeState, to: NodeState, secs: u64) -> Event<u64> {
    Event::Changed {
        node: 1,
        from,
        to,
        at: t(secs),
    }
}

fn removed(from: NodeState, secs: u64) -> Event<u64> {
    Event::Removed {
        node: 1,
        from,
        at: t(secs),
    }
}

/// Checks that each node's events form a valid lifecycle chain whose instants
/// never decrease; returns the first violation.
fn check_stream<K: Clone + Eq + std::hash::Hash + std::fmt::Debug>(
    events: &[Event<K>],
) -> Result<(), String> {
    let mut last: HashMap<K, (Option<NodeState>, Timestamp)> = HashMap::new();
    for event in events {
        let (state, at) = last
            .get(event.node())
            .copied()
            .unwrap_or((None, Timestamp::ZERO));
        if state != event.from() {
            return Err(format!("{event:?} does not follow {state:?}"));
        }
        if event.at() < at {
            return Err(format!(
                "{event:?} is dated before the previous event at {at:?}"
            ));
        }
        if let Event::Changed { from, to, .. } = *event {
            let allowed = matches!(
                (from, to),
                (Alive, Suspect) | (Suspect, Alive) | (Suspect, Dead) | (Dead, Alive)
            );
            if !allowed {
                return Err(format!("{event:?} is not a lifecycle transition"));
            }
        }
        last.insert(event.node().clone(), (event.to(), event.at()));
    }
    Ok(())
}

#[test]
fn a_heartbeat_stamped_before_a_tick_takes_effect_at_the_tick() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(0)).unwrap();
    assert_eq!(reg.tick(t(20)), 1); // Alive -> Suspect at 15 s
    // Stamped 14 s, but the node was last evaluated at 20 s: it recovers at 20 s.
    reg.heartbeat(&1, t(14)).unwrap();
    assert_eq!(reg.state(&1), Some(Alive));
    assert_eq!(
        drain(&events),
        [
            joined(0),
            changed(Alive, Suspect, 15),
            changed(Suspect, Alive, 20)
        ]
    );
    // The detector heard it at 20 s: the next deadline is 35 s, not 29 s.
    assert_eq!(reg.info(&1, t(20)).unwrap().last_heartbeat, Some(t(20)));
    assert_eq!(reg.tick(t(34)), 0);
    assert_eq!(reg.tick(t(35)), 1);
}

#[test]
fn a_rejoin_is_never_dated_before_the_death() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(t(30)); // Suspect at 15 s, Dead at 25 s
    reg.heartbeat(&1, t(24)).unwrap();
    assert_eq!(
        drain(&events),
        [
            joined(0),
            changed(Alive, Suspect, 15),
            changed(Suspect, Dead, 25),
            changed(Dead, Alive, 30),
        ]
    );
}

#[test]
fn a_removal_is_never_dated_before_the_last_evaluation() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(t(20));
    assert_eq!(reg.remove(&1, t(14)), Some(Suspect));
    assert_eq!(
        drain(&events),
        [joined(0), changed(Alive, Suspect, 15), removed(Suspect, 20)]
    );
}

#[test]
fn rejoining_after_a_removal_is_never_dated_before_it() {
    // Removed by hand at 10 s, registered again "at 5 s".
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(0)).unwrap();
    reg.remove(&1, t(10));
    reg.register(1, t(5)).unwrap();
    assert_eq!(drain(&events), [joined(0), removed(Alive, 10), joined(10)]);

    // Removed by a tick at 100 s (gone at 85 s), then a heartbeat "at 50 s".
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(t(100));
    reg.heartbeat(&1, t(50)).unwrap();
    let seen = drain(&events);
    assert_eq!(seen[3], removed(Dead, 85));
    assert_eq!(seen[4], joined(100));
    check_stream(&seen).unwrap();
}

#[test]
fn a_heartbeat_before_the_last_accepted_one_is_still_refused() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat(&1, t(10)).unwrap();
    reg.tick(t(30)); // Suspect at 25 s
    // Stale, not late: earlier than the heartbeat the detector already has.
    assert_eq!(
        reg.heartbeat(&1, t(5)),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::OutOfOrder {
                at: t(5),
                last: t(10)
            }
        ))
    );
    assert_eq!(
        reg.heartbeat(&1, t(10)),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::Duplicate { at: t(10) }
        ))
    );
    assert_eq!(reg.state(&1), Some(Suspect));
    assert_eq!(drain(&events), [joined(10), changed(Alive, Suspect, 25)]);
}

/// Receiving threads stamp heartbeats with `heartbeat_now` while a ticker runs
/// `tick_now` and another thread registers and removes: on a real clock, every
/// node's stream is a valid chain whose instants never decrease.
#[test]
fn racing_now_methods_never_backdate_an_event() {
    const NODES: u64 = 64;
    const CALLS: usize = 60_000;
    // Suspected after 3 us of silence, Dead 2 us later, removed 5 us after that:
    // with a few hundred thousand calls, nodes go through every transition.
    let fd = FixedTimeout::new(FixedTimeoutConfig::new().with_interval(Duration::from_micros(1)))
        .unwrap();
    let config = RegistryConfig::new()
        .with_shards(4)
        .with_confirmation(failure_detector::Confirmation::After(
            Duration::from_micros(2),
        ))
        .with_removal_grace(Duration::from_micros(5));
    let (reg, events) = Registry::<u64, _>::new(config, fd).unwrap();
    let reg = Arc::new(reg.with_clock(MonotonicClock::new()));
    let consumer = thread::spawn(move || events.iter().collect::<Vec<Event<u64>>>());
    let workers: Vec<_> = (0..5u64)
        .map(|id| {
            let reg = Arc::clone(&reg);
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (id + 1);
                for _ in 0..CALLS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let node = x % NODES;
                    match id {
                        0..=2 => {
                            let _ = reg.heartbeat_now(&node);
                        }
                        3 => {
                            reg.tick_now();
                        }
                        _ => match x % 8 {
                            0 => {
                                reg.remove_now(&node);
                            }
                            1 => {
                                let _ = reg.register_now(node);
                            }
                            _ => {
                                reg.tick_now();
                            }
                        },
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    drop(reg);
    let events = consumer.join().unwrap();
    check_stream(&events).unwrap();
    let changes = events
        .iter()
        .filter(|e| matches!(e, Event::Changed { .. }))
        .count();
    eprintln!("{} events, {changes} transitions", events.len());
    // Registrations and removals alone make more than this, however fast the
    // machine; transitions depend on its speed and are not asserted.
    assert!(
        events.len() > NODES as usize,
        "only {} events",
        events.len()
    );
}

#[test]
fn a_join_the_detector_refuses_creates_nothing() {
    // Before, a registration past the detector's horizon created a node whose
    // detector had no heartbeat, and so no deadline: never suspected.
    let (reg, events) = registry(RegistryConfig::new());
    let late = Timestamp::MAX - Duration::from_secs(1);
    assert!(matches!(
        reg.register(1, late),
        Err(RegisterError::Detector(HeartbeatError::PastHorizon { .. }))
    ));
    assert!(matches!(
        reg.heartbeat(&2, late),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::PastHorizon { .. }
        ))
    ));
    assert!(reg.is_empty());
    assert_eq!(reg.next_deadline(), None);
    assert!(drain(&events).is_empty());
}

#[test]
fn a_revival_the_detector_refuses_changes_nothing() {
    // Kept Dead (never removed), so the registration finds it.
    let config = RegistryConfig::new().with_removal_grace(Duration::MAX);
    let (reg, events) = registry(config.with_accept_rejoin(false));
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(t(30)); // Suspect at 15 s, Dead at 25 s
    let before = reg.info(&1, t(30)).unwrap();
    let late = Timestamp::HORIZON + Duration::from_secs(1);
    assert!(matches!(
        reg.register(1, late),
        Err(RegisterError::Detector(HeartbeatError::PastHorizon { .. }))
    ));
    assert_eq!(reg.info(&1, t(30)).unwrap(), before);
    assert_eq!(
        drain(&events),
        [
            joined(0),
            changed(Alive, Suspect, 15),
            changed(Suspect, Dead, 25)
        ]
    );
    // And a heartbeat past the horizon does not revive it either.
    let (reg, events) = registry(config);
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(t(30));
    assert!(matches!(
        reg.heartbeat(&1, late),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::PastHorizon { .. }
        ))
    ));
    assert_eq!(reg.state(&1), Some(Dead));
    assert_eq!(drain(&events).len(), 3);
}

#[test]
fn a_tick_at_the_end_of_time_applies_everything_due_before_it() {
    let (reg, events) = registry(RegistryConfig::new());
    for node in 0..100 {
        reg.heartbeat(&node, t(node)).unwrap();
    }
    // The detectors refuse a heartbeat past their horizon, so a node cannot join
    // so close to the end of time that its deadline would not fit: nothing is
    // created.
    let late = Timestamp::MAX - Duration::from_secs(1);
    assert!(matches!(
        reg.register(1_000, late),
        Err(RegisterError::Detector(HeartbeatError::PastHorizon { .. }))
    ));
    assert_eq!(reg.len(), 100);
    // One that joins just inside the horizon is suspected 15 s later like any other.
    let near = Timestamp::HORIZON - Duration::from_secs(1);
    reg.register(1_000, near).unwrap();
    // Every node is Suspect, Dead and Removed at its own instant.
    assert_eq!(reg.tick(Timestamp::MAX), 101 * 3);
    assert_eq!(reg.len(), 0);
    let seen = drain(&events);
    check_stream(&seen).unwrap();
    assert!(seen.contains(&Event::Changed {
        node: 1_000,
        from: Alive,
        to: Suspect,
        at: near + Duration::from_secs(15),
    }));
    assert_eq!(reg.tick(Timestamp::MAX), 0);
    assert_eq!(reg.next_deadline(), None);

    // A node that a tick at the end of time settled stands there: a later input
    // takes effect at Timestamp::MAX.
    let (reg, events) = registry(RegistryConfig::new().with_removal_grace(Duration::MAX));
    reg.heartbeat(&1, t(0)).unwrap();
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.remove(&1, t(5)), Some(Dead));
    assert_eq!(
        drain(&events).pop().unwrap(),
        Event::Removed {
            node: 1,
            from: Dead,
            at: Timestamp::MAX
        }
    );
}
