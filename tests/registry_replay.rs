//! Property: for any interleaving of heartbeats, ticks, registrations and removals,
//! the event stream is a valid per-node chain, with instants that never decrease,
//! that replays to the states `snapshot` reports. While no tick runs ahead of the
//! inputs (inputs in timestamp order, each tick at an instant no later than the
//! inputs after it), it does not depend on when, how often or whether `tick` runs.
//! When ticks do run ahead, late inputs take effect at the node's last evaluation:
//! the stream may then differ, but stays a valid, monotone chain.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::time::Duration;

use failure_detector::{
    Confirmation, Event, EventReceiver, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    NodeState, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig, Timestamp,
};
use proptest::prelude::*;

/// A hasher with fixed keys: two registries built with it put each key in the same
/// shard.
type Seeded = BuildHasherDefault<DefaultHasher>;

#[derive(Clone, Debug)]
enum Op {
    Heartbeat(u8),
    /// A tick this many ms before the current time: lagging, never ahead.
    Tick(u64),
    Register(u8),
    Remove(u8),
}

/// An operation and how long after the previous one it happens (ms).
fn op() -> impl Strategy<Value = (Op, u64)> {
    let kind = prop_oneof![
        6 => (0u8..5).prop_map(Op::Heartbeat),
        3 => prop_oneof![Just(0u64), 0u64..20_000].prop_map(Op::Tick),
        1 => (0u8..5).prop_map(Op::Register),
        1 => (0u8..5).prop_map(Op::Remove),
    ];
    // Mostly on time (5 s heartbeats), sometimes long silences.
    let gap = prop_oneof![4 => 0u64..3_000, 1 => 3_000u64..40_000];
    (kind, gap)
}

fn config() -> impl Strategy<Value = RegistryConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            (0u64..20_000).prop_map(|ms| Confirmation::After(Duration::from_millis(ms))),
            (10.0f64..30.0).prop_map(Confirmation::Suspicion),
        ],
        0u64..60_000,
        prop_oneof![Just(0u64), 1u64..15_000],
        prop_oneof![Just(1usize), Just(4)],
    )
        .prop_map(
            |(unknown, rejoin, confirmation, grace, hysteresis, shards)| {
                RegistryConfig::new()
                    .with_accept_unknown(unknown)
                    .with_accept_rejoin(rejoin)
                    .with_confirmation(confirmation)
                    .with_removal_grace(Duration::from_millis(grace))
                    .with_hysteresis(Duration::from_millis(hysteresis))
                    .with_shards(shards)
            },
        )
}

/// Replays `events` into per-node states, checking that each event continues its
/// node's chain and is dated no earlier than the node's previous event. Returns the
/// states, or the first broken link.
fn replay<K: Clone + Eq + std::hash::Hash + std::fmt::Debug>(
    events: &[Event<K>],
) -> Result<HashMap<K, NodeState>, String> {
    let mut states = HashMap::new();
    let mut last_at: HashMap<K, Timestamp> = HashMap::new();
    for event in events {
        let current = states.get(event.node()).copied();
        if current != event.from() {
            return Err(format!("{event:?} does not follow {current:?}"));
        }
        let previous = last_at.insert(event.node().clone(), event.at());
        if previous.is_some_and(|previous| event.at() < previous) {
            return Err(format!("{event:?} is dated before {previous:?}"));
        }
        if let Event::Changed { from, to, .. } = *event {
            use NodeState::*;
            let allowed = matches!(
                (from, to),
                (Alive, Suspect) | (Suspect, Alive) | (Suspect, Dead) | (Dead, Alive)
            );
            if !allowed {
                return Err(format!("{event:?} is not a lifecycle transition"));
            }
        }
        match event.to() {
            Some(state) => states.insert(event.node().clone(), state),
            None => states.remove(event.node()),
        };
    }
    Ok(states)
}

/// When the registry is ticked during a run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ticks {
    /// Never (only once at the end).
    Never,
    /// As the operations say, each tick lagging the current time by its own amount.
    AsGiven,
    /// Before every operation, at its instant: as often as possible.
    Always,
    /// As the operations say, but each `ahead` ms ahead of the current time: the
    /// inputs that follow may be stamped before it.
    Ahead(u64),
}

/// Runs `ops`, ticking as `ticks` says, then ticks once at the end. Returns the
/// events and the registry's final states.
fn run<D: FailureDetector + Clone + Send + Sync + 'static>(
    config: RegistryConfig,
    detector: D,
    ops: &[(Op, u64)],
    ticks: Ticks,
) -> (Vec<Event<u8>>, HashMap<u8, NodeState>) {
    let (reg, events): (Registry<u8, D>, EventReceiver<u8>) =
        Registry::new(config, detector).unwrap();
    let mut now = Timestamp::from_secs(1);
    for (op, gap) in ops {
        now += Duration::from_millis(*gap);
        if ticks == Ticks::Always {
            reg.tick(now);
        }
        match *op {
            Op::Heartbeat(node) => {
                let _ = reg.heartbeat(&node, now);
            }
            Op::Tick(lag) => match ticks {
                Ticks::AsGiven => {
                    reg.tick(now - Duration::from_millis(lag));
                }
                Ticks::Ahead(ahead) => {
                    reg.tick(now + Duration::from_millis(ahead));
                }
                Ticks::Never | Ticks::Always => {}
            },
            Op::Register(node) => {
                let _ = reg.register(node, now);
            }
            Op::Remove(node) => {
                reg.remove(&node, now);
            }
        }
    }
    // Past anything a tick ran ahead to.
    let end = now + Duration::from_secs(100);
    reg.tick(end);
    let states: HashMap<u8, NodeState> = reg
        .snapshot(end)
        .into_iter()
        .map(|info| (info.node, info.state))
        .collect();
    let counts = reg.counts();
    for state in [NodeState::Alive, NodeState::Suspect, NodeState::Dead] {
        assert_eq!(
            counts.get(state),
            states.values().filter(|&&s| s == state).count()
        );
    }
    assert_eq!(reg.undelivered_events(), 0);
    (events.try_iter().collect(), states)
}

fn per_node(events: &[Event<u8>]) -> HashMap<u8, Vec<Event<u8>>> {
    let mut by_node: HashMap<u8, Vec<Event<u8>>> = HashMap::new();
    for event in events {
        by_node
            .entry(*event.node())
            .or_default()
            .push(event.clone());
    }
    by_node
}

/// Runs `ops` with each way of ticking that does not run ahead of the inputs:
/// every run's events form valid monotone chains that replay to its snapshot, and
/// all runs have the same events per node, timestamps included, and the same
/// final states. Then once with ticks running `ahead` ms ahead: still valid
/// monotone chains that replay to the snapshot.
fn check<D: FailureDetector + Clone + Send + Sync + 'static>(
    config: RegistryConfig,
    detector: D,
    ops: &[(Op, u64)],
    ahead: u64,
) -> Result<(), TestCaseError> {
    let (events, states) = run(config, detector.clone(), ops, Ticks::AsGiven);
    let replayed = replay(&events).map_err(TestCaseError::fail)?;
    prop_assert_eq!(&replayed, &states);
    for ticks in [Ticks::Never, Ticks::Always] {
        let (other_events, other_states) = run(config, detector.clone(), ops, ticks);
        prop_assert_eq!(per_node(&other_events), per_node(&events), "{:?}", ticks);
        prop_assert_eq!(&other_states, &states, "{:?}", ticks);
    }

    let (events, states) = run(config, detector, ops, Ticks::Ahead(ahead));
    let replayed = replay(&events).map_err(TestCaseError::fail)?;
    prop_assert_eq!(&replayed, &states);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fixed_timeout_events_replay_to_the_snapshot(
        config in config(),
        ops in prop::collection::vec(op(), 0..80),
        ahead in 1u64..30_000,
    ) {
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        check(config, fd, &ops, ahead)?;
    }

    #[test]
    fn phi_accrual_events_replay_to_the_snapshot(
        config in config(),
        ops in prop::collection::vec(op(), 0..80),
        ahead in 1u64..30_000,
    ) {
        let fd = PhiAccrual::new(
            PhiAccrualConfig::new()
                .with_max_sample_size(20)
                .with_first_heartbeat_estimate(Duration::from_secs(2)),
        )
        .unwrap();
        check(config, fd, &ops, ahead)?;
    }
}

#[test]
fn replay_rejects_a_broken_chain() {
    let at = Timestamp::ZERO;
    let missing_join = [Event::Changed {
        node: 1u8,
        from: NodeState::Alive,
        to: NodeState::Suspect,
        at,
    }];
    assert!(replay(&missing_join).is_err());
    let skipped = [
        Event::Joined { node: 1u8, at },
        Event::Changed {
            node: 1,
            from: NodeState::Suspect,
            to: NodeState::Dead,
            at,
        },
    ];
    assert!(replay(&skipped).is_err());
    let backwards = [
        Event::Joined {
            node: 1u8,
            at: Timestamp::from_secs(2),
        },
        Event::Changed {
            node: 1,
            from: NodeState::Alive,
            to: NodeState::Suspect,
            at: Timestamp::from_secs(1),
        },
    ];
    assert!(replay(&backwards).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `heartbeat_batch` has the effect of the same heartbeats one by one: the same
    /// events per node, the same states, the same refusals.
    #[test]
    fn a_batch_equals_heartbeats_one_by_one(
        config in config(),
        beats in prop::collection::vec((0u8..40, 0u64..4_000, any::<bool>()), 0..1500),
    ) {
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let mut now = Timestamp::from_secs(1);
        let batch: Vec<(u8, Timestamp)> = beats
            .iter()
            .map(|&(node, gap_ms, back)| {
                now += Duration::from_millis(gap_ms);
                // Some heartbeats go back in time, to be refused.
                let at = if back { now - Duration::from_millis(3 * gap_ms) } else { now };
                (node, at)
            })
            .collect();

        // Both registries hash alike, so each node is in the same shard in both:
        // a shard's nodes are applied in batch order.
        let build = |fd: FixedTimeout| {
            Registry::<u8, _, Seeded>::with_factory_and_hasher(
                config,
                move |_: &u8| fd.clone(),
                Seeded::default(),
            )
            .unwrap()
        };
        let (one, one_events) = build(fd.clone());
        let mut one_refused = Vec::new();
        for (i, (node, at)) in batch.iter().enumerate() {
            if let Err(e) = one.heartbeat(node, *at) {
                one_refused.push((i, e));
            }
        }
        let (many, many_events) = build(fd);
        let mut many_refused = Vec::new();
        let accepted = many.heartbeat_batch(&batch, |i, e| many_refused.push((i, e)));
        many_refused.sort_by_key(|&(i, _)| i);

        prop_assert_eq!(accepted, batch.len() - one_refused.len());
        prop_assert_eq!(many_refused, one_refused);
        let one_events: Vec<_> = one_events.try_iter().collect();
        let many_events: Vec<_> = many_events.try_iter().collect();
        prop_assert_eq!(per_node(&many_events), per_node(&one_events));
        let states = |reg: &Registry<u8, FixedTimeout, Seeded>| -> HashMap<u8, NodeState> {
            reg.snapshot(now).into_iter().map(|info| (info.node, info.state)).collect()
        };
        prop_assert_eq!(states(&many), states(&one));
    }
}
