//! `Registry::heartbeat_batch` against a naive oracle: a second registry fed the
//! same heartbeats one by one through `heartbeat`, in the order `heartbeat_batch`
//! documents (chunk by chunk of 1024, within a chunk shard by shard in ascending
//! `shard_of`, within a shard in batch order). The batch path reads ahead and
//! applies each heartbeat at the position it found the node at, checked against
//! the key; nodes move when a catch-up removes one (the shard's last node takes
//! its place) or an unknown key joins. Whatever the batch, both registries must end
//! in the same state, with the same events in the same order, the same accepted
//! count and the same refusals (position and error, in the same order).

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::time::Duration;

use failure_detector::{
    Confirmation, Event, EventReceiver, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    NodeInfo, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig, RegistryHeartbeatError,
    Timestamp,
};
use proptest::prelude::*;

/// A hasher with fixed keys: both registries put each key in the same shard.
type Seeded = BuildHasherDefault<DefaultHasher>;

type Reg<D> = Registry<u64, D, Seeded>;

/// The chunk `heartbeat_batch` documents.
const CHUNK: usize = 1024;

/// Registry settings that make catch-ups remove nodes within seconds.
#[derive(Clone, Debug)]
struct Setup {
    unknown: bool,
    rejoin: bool,
    shards: usize,
    /// Alive -> Suspect after 3 s of silence (fixed timeout; phi: about that).
    confirmation_ms: u64,
    grace_ms: u64,
    hysteresis_ms: u64,
    max_nodes: Option<usize>,
    slow_ms: Option<u64>,
    /// Keys registered before the batch, at `T0`.
    registered: Vec<u64>,
    /// A tick after the registrations, this many ms after `T0`: inputs stamped
    /// earlier are late (they take effect at the tick).
    tick_ms: Option<u64>,
}

const T0: u64 = 1_000_000_000_000;

impl Setup {
    fn config(&self) -> RegistryConfig {
        RegistryConfig::new()
            .with_accept_unknown(self.unknown)
            .with_accept_rejoin(self.rejoin)
            .with_shards(self.shards)
            .with_confirmation(Confirmation::After(Duration::from_millis(
                self.confirmation_ms,
            )))
            .with_removal_grace(Duration::from_millis(self.grace_ms))
            .with_hysteresis(Duration::from_millis(self.hysteresis_ms))
            .with_max_nodes(self.max_nodes)
            .with_slow_heartbeat(self.slow_ms.map(Duration::from_millis))
    }

    /// A registry in the state before the batch, and its events so far.
    fn build<D>(&self, prototype: &D) -> (Reg<D>, EventReceiver<u64>)
    where
        D: FailureDetector + Clone + Send + Sync + 'static,
    {
        let prototype = prototype.clone();
        let (reg, events) = Registry::with_factory_and_hasher(
            self.config(),
            move |_: &u64| prototype.clone(),
            Seeded::default(),
        )
        .expect("valid config");
        for &key in &self.registered {
            let _ = reg.register(key, Timestamp::from_nanos(T0));
        }
        if let Some(ms) = self.tick_ms {
            reg.tick(Timestamp::from_nanos(T0 + ms * 1_000_000));
        }
        (reg, events)
    }
}

/// Everything observable: the accepted count, the refusals in reporting order,
/// the events in order, the nodes (by key) and their counts.
#[derive(Debug, PartialEq)]
struct Outcome {
    accepted: usize,
    refused: Vec<(usize, RegistryHeartbeatError)>,
    events: Vec<Event<u64>>,
    nodes: Vec<NodeInfo<u64>>,
    counts: (usize, usize, usize),
    undelivered: u64,
    /// The events of a tick after the batch (the heap agrees as well).
    after_tick: Vec<Event<u64>>,
    nodes_after_tick: Vec<NodeInfo<u64>>,
}

fn observe<D: FailureDetector + Send>(
    reg: &Reg<D>,
    events: &EventReceiver<u64>,
    accepted: usize,
    refused: Vec<(usize, RegistryHeartbeatError)>,
    end: u64,
) -> Outcome {
    let sorted = |mut nodes: Vec<NodeInfo<u64>>| {
        nodes.sort_by_key(|n| n.node);
        nodes
    };
    let batch_events = events.try_iter().collect();
    let nodes = sorted(reg.snapshot(Timestamp::from_nanos(end)));
    let c = reg.counts();
    let later = Timestamp::from_nanos(end + 7_000_000_000);
    reg.tick(later);
    Outcome {
        accepted,
        refused,
        events: batch_events,
        nodes,
        counts: (c.alive, c.suspect, c.dead),
        undelivered: reg.undelivered_events(),
        after_tick: events.try_iter().collect(),
        nodes_after_tick: sorted(reg.snapshot(later)),
    }
}

/// Applies `batch` through `heartbeat_batch` and, to an oracle, one by one in the
/// documented order; returns both outcomes.
fn both<D>(setup: &Setup, prototype: &D, batch: &[(u64, Timestamp)]) -> (Outcome, Outcome)
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    let end = batch
        .iter()
        .map(|(_, t)| t.as_nanos())
        .max()
        .unwrap_or(T0)
        .max(T0 + setup.tick_ms.unwrap_or(0) * 1_000_000);

    let (reg, events) = setup.build(prototype);
    events.try_iter().count();
    let mut refused = Vec::new();
    let accepted = reg.heartbeat_batch(batch, |i, e| {
        // The callback runs with no lock held: it may call into the registry.
        let _ = reg.contains(&batch[i].0);
        refused.push((i, e));
    });
    let got = observe(&reg, &events, accepted, refused, end);

    let (oracle, oracle_events) = setup.build(prototype);
    oracle_events.try_iter().count();
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by_key(|&i| (i / CHUNK, oracle.shard_of(&batch[i].0), i));
    let (mut accepted, mut refused) = (0, Vec::new());
    for i in order {
        let (key, at) = batch[i];
        match oracle.heartbeat(&key, at) {
            Ok(()) => accepted += 1,
            Err(e) => refused.push((i, e)),
        }
    }
    let want = observe(&oracle, &oracle_events, accepted, refused, end);
    (got, want)
}

fn fixed() -> FixedTimeout {
    // Suspect after 3 s of silence.
    FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(Duration::from_secs(1))
            .with_missed_heartbeats(3.0),
    )
    .expect("valid")
}

fn phi() -> PhiAccrual {
    PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_max_sample_size(8)
            .with_min_std_deviation(Duration::from_millis(100))
            .with_acceptable_heartbeat_pause(Duration::from_millis(500))
            .with_first_heartbeat_estimate(Duration::from_millis(500)),
    )
    .expect("valid")
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(1usize), Just(4), Just(64)],
        ),
        (
            0u64..2_000,
            0u64..3_000,
            prop_oneof![Just(0u64), 1u64..2_000],
        ),
        prop_oneof![3 => Just(None), 1 => (1usize..12).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => (500u64..3_000).prop_map(Some)],
        prop::collection::vec(0u64..24, 0..10),
        prop_oneof![2 => Just(None), 1 => (0u64..8_000).prop_map(Some)],
    )
        .prop_map(
            |(
                (unknown, rejoin, shards),
                (confirmation_ms, grace_ms, hysteresis_ms),
                max_nodes,
                slow_ms,
                registered,
                tick_ms,
            )| Setup {
                unknown,
                rejoin,
                shards,
                confirmation_ms,
                grace_ms,
                hysteresis_ms,
                max_nodes,
                slow_ms,
                registered,
                tick_ms,
            },
        )
}

/// A batch: keys from a small set (duplicates, and unknown keys beyond the
/// registered ones), stamped by a clock that mostly moves on by less than a
/// heartbeat interval, sometimes by long silences (catch-ups that remove nodes),
/// each stamp sometimes lagging behind it (out of order, late, duplicates).
fn batch(max_len: usize) -> impl Strategy<Value = Vec<(u64, Timestamp)>> {
    let item = (
        0u64..24,
        prop_oneof![6 => 0u64..400, 2 => Just(0u64), 1 => 2_000u64..12_000],
        prop_oneof![6 => Just(0u64), 2 => 0u64..3_000, 1 => Just(u64::MAX)],
    );
    prop::collection::vec(item, 0..max_len).prop_map(|items| {
        let mut clock = T0;
        let mut last = T0;
        items
            .into_iter()
            .map(|(key, gap_ms, lag_ms)| {
                clock += gap_ms * 1_000_000;
                // `u64::MAX`: the previous item's stamp again.
                let at = if lag_ms == u64::MAX {
                    last
                } else {
                    clock
                        .saturating_sub(lag_ms * 1_000_000)
                        .max(T0 - 5_000_000_000)
                };
                last = at;
                (key, Timestamp::from_nanos(at))
            })
            .collect()
    })
}

/// Many batches of up to 300 heartbeats, and fewer long ones that span several
/// chunks.
fn any_batch() -> impl Strategy<Value = Vec<(u64, Timestamp)>> {
    prop_oneof![6 => batch(300), 1 => batch(2_600)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn batch_is_heartbeats_in_documented_order_fixed(setup in setup(), batch in any_batch()) {
        let (got, want) = both(&setup, &fixed(), &batch);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn batch_is_heartbeats_in_documented_order_phi(setup in setup(), batch in any_batch()) {
        let (got, want) = both(&setup, &phi(), &batch);
        prop_assert_eq!(got, want);
    }
}

/// One shard, a node removed by its own catch-up every few heartbeats (the
/// shard's last node moves into its place while later heartbeats of the pass
/// still point at the old positions), more than 32 refusals in one shard's part
/// of a chunk (reported outside the lock midway), and several chunks. Also with
/// 2048 shards, more than the batch sorts by counting (it sorts by comparison).
#[test]
fn removals_moves_and_many_refusals() {
    for shards in [1, 64, 2048] {
        for unknown in [true, false] {
            let setup = Setup {
                unknown,
                rejoin: true,
                shards,
                confirmation_ms: 0,
                grace_ms: 0,
                hysteresis_ms: 0,
                max_nodes: None,
                slow_ms: Some(1_500),
                registered: (0..40).collect(),
                tick_ms: None,
            };
            let mut batch = Vec::new();
            let mut clock = T0;
            for round in 0..70u64 {
                // Every key once per round; every 7th round a silence that
                // removes whoever is heartbeated late. Duplicates and stale
                // stamps (refused) in between, and keys never registered.
                clock += if round % 7 == 6 {
                    4_000_000_000
                } else {
                    300_000_000
                };
                for key in 0..48u64 {
                    let at = clock + key * 1_000;
                    batch.push((key, Timestamp::from_nanos(at)));
                    if key % 3 == 0 {
                        batch.push((key, Timestamp::from_nanos(at)));
                        batch.push((key, Timestamp::from_nanos(at - 5_000_000)));
                    }
                }
            }
            assert!(batch.len() > 3 * CHUNK);
            let (got, want) = both(&setup, &fixed(), &batch);
            assert!(got.refused.len() > 100, "{}", got.refused.len());
            assert!(
                got.events
                    .iter()
                    .any(|e| matches!(e, Event::Removed { .. })),
                "no removal"
            );
            assert_eq!(got, want, "shards {shards}, accept_unknown {unknown}");
            let (got, want) = both(&setup, &phi(), &batch);
            assert_eq!(got, want, "phi, shards {shards}, accept_unknown {unknown}");
        }
    }
}

/// Boxed detectors (the trait's `prefetch` forwarded through `Box`) behave alike.
#[test]
fn boxed_detectors() {
    type Boxed = Box<dyn FailureDetector + Send + Sync>;
    let setup = Setup {
        unknown: true,
        rejoin: false,
        shards: 4,
        confirmation_ms: 500,
        grace_ms: 500,
        hysteresis_ms: 0,
        max_nodes: Some(20),
        slow_ms: None,
        registered: vec![],
        tick_ms: None,
    };
    let batch: Vec<(u64, Timestamp)> = (0..2_000u64)
        .map(|k| (k * 7 % 31, Timestamp::from_nanos(T0 + k * 150_000_000)))
        .collect();
    let (got, want) = both_boxed(&setup, &batch);
    assert!(got.accepted > 1_000);
    assert!(
        got.refused
            .iter()
            .any(|(_, e)| matches!(e, RegistryHeartbeatError::Full { .. }))
    );
    assert_eq!(got, want);

    fn both_boxed(setup: &Setup, batch: &[(u64, Timestamp)]) -> (Outcome, Outcome) {
        let make = |_: &u64| -> Boxed { Box::new(fixed()) };
        let run = |batched: bool| {
            let (reg, events) = Registry::<u64, Boxed, Seeded>::with_factory_and_hasher(
                setup.config(),
                make,
                Seeded::default(),
            )
            .expect("valid config");
            let mut refused = Vec::new();
            let accepted = if batched {
                reg.heartbeat_batch(batch, |i, e| refused.push((i, e)))
            } else {
                let mut order: Vec<usize> = (0..batch.len()).collect();
                order.sort_by_key(|&i| (i / CHUNK, reg.shard_of(&batch[i].0), i));
                let mut accepted = 0;
                for i in order {
                    match reg.heartbeat(&batch[i].0, batch[i].1) {
                        Ok(()) => accepted += 1,
                        Err(e) => refused.push((i, e)),
                    }
                }
                accepted
            };
            let end = batch.last().map_or(T0, |(_, t)| t.as_nanos());
            observe(&reg, &events, accepted, refused, end)
        };
        (run(true), run(false))
    }
}
