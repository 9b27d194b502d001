//! Behaviour tests of the all-to-all and central-monitor topologies on the
//! in-memory network harness.

mod support;

use std::time::Duration;

use failure_detector::cluster::heartbeat::{
    AllToAllConfig, AllToAllMember, CentralConfig, CentralMember, decode_for_tests,
};
use failure_detector::cluster::{ClusterEvent, ClusterMember, DecodeErrorKind, Doubt, Member};
use failure_detector::{NodeState, Timestamp};
use proptest::prelude::*;
use support::net::Net;

type A2A = AllToAllMember<u64>;
type Central = CentralMember<u64>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn a2a(id: u64, generation: u64, config: AllToAllConfig) -> A2A {
    AllToAllMember::new(Member::new(id, generation), config).unwrap()
}

/// Members `1..=n` that joined through member 1.
fn a2a_cluster(seed: u64, n: u64, config: AllToAllConfig) -> Net<A2A> {
    let mut net = Net::new(seed);
    for id in 1..=n {
        net.add(a2a(id, 0, config));
    }
    net.join_all();
    net
}

/// Monitor 1 and members `2..=n`.
fn central_cluster(seed: u64, n: u64, config: CentralConfig) -> Net<Central> {
    let mut net = Net::new(seed);
    net.add(CentralMember::monitor(Member::new(1, 0), config).unwrap());
    for id in 2..=n {
        net.add(CentralMember::member(Member::new(id, 0), 1, config).unwrap());
    }
    net.join_all();
    net
}

#[test]
fn all_to_all_a_crash_is_convicted_by_every_member() {
    for seed in 0..3 {
        let mut net = a2a_cluster(seed, 5, AllToAllConfig::new());
        net.run_until(at(20));
        for o in 1..=5 {
            assert_eq!(net.member(o).members().len(), 4, "seed {seed}");
        }
        net.crash(5);
        net.run_until(at(50));
        for o in 1..=4 {
            assert_eq!(net.member(o).state_of(&5), Some(NodeState::Dead));
            let suspect = net.first_change(o, 5, NodeState::Suspect).unwrap();
            let dead = net.first_change(o, 5, NodeState::Dead).unwrap();
            // Akka's phi: 1 s mean, 3 s pause, 100 ms deviation: ~4.5 s after
            // the last heartbeat (20 s at the latest); Dead 10 s later.
            assert!(suspect > at(23) && suspect < at(25), "{o}: {suspect}");
            assert_eq!(dead, suspect.saturating_add(secs(10)));
        }
        let suspects = net.changes(NodeState::Suspect);
        assert!(suspects.iter().all(|&(_, s, _)| s == 5), "{suspects:?}");
        // Removed 30 s after the conviction.
        net.run_until(at(80));
        assert_eq!(net.member(1).state_of(&5), None);
        assert_eq!(net.decode_errors(), 0);
    }
}

#[test]
fn all_to_all_a_restart_rejoins_with_fresh_statistics() {
    let mut net = a2a_cluster(1, 4, AllToAllConfig::new());
    net.run_until(at(30));
    net.crash(3);
    net.run_until(at(32));
    net.restart(a2a(3, 1, AllToAllConfig::new()));
    net.run_until(at(40));
    for o in [1, 2, 4] {
        assert!(net.events().iter().any(|(w, e)| *w == o
            && matches!(e, ClusterEvent::Restarted { member, previous_generation: 0, .. }
                if *member == Member::new(3, 1))));
        assert_eq!(net.member(o).state_of(&3), Some(NodeState::Alive));
        let samples = net
            .member(o)
            .detector_info(&3, at(40))
            .unwrap()
            .stats
            .samples;
        assert!(samples < 12, "{samples}");
    }
    assert!(net.changes(NodeState::Dead).is_empty());
}

#[test]
fn central_a_crash_is_convicted_by_the_monitor_and_published() {
    for seed in 0..3 {
        // Checks every 2 s; suspected after 5 missed 1 s heartbeats.
        let config = CentralConfig::new().with_check_period(secs(2));
        let mut net = central_cluster(seed, 6, config);
        net.run_until(at(20));
        // Every member learned the whole membership from the acks.
        for o in 2..=6 {
            assert_eq!(net.member(o).members().len(), 5, "{o}");
            assert_eq!(net.member(o).state_of(&1), Some(NodeState::Alive));
        }
        net.crash(6);
        net.run_until(at(60));
        let suspect = net.first_change(1, 6, NodeState::Suspect).unwrap();
        let dead = net.first_change(1, 6, NodeState::Dead).unwrap();
        // Last heartbeat at 19 s (+1 ms): deadline 24.001 s, checked at 26 s.
        assert_eq!(suspect, at(26));
        assert_eq!(dead, at(36));
        // Verdicts only at multiples of the check period.
        for (o, _, t) in net
            .changes(NodeState::Suspect)
            .into_iter()
            .chain(net.changes(NodeState::Dead))
        {
            if o == 1 {
                assert_eq!(t.as_nanos() % 2_000_000_000, 0, "{t}");
            }
        }
        // The members learned it from the next ack.
        for o in 2..=5 {
            let learned = net.first_change(o, 6, NodeState::Dead).unwrap();
            assert!(
                learned > dead && learned <= dead.saturating_add(secs(1)),
                "{learned}"
            );
        }
        let suspects = net.changes(NodeState::Suspect);
        assert!(suspects.iter().all(|&(_, s, _)| s == 6), "{suspects:?}");
    }
}

#[test]
fn central_members_without_the_monitor_hold_no_verdicts() {
    let mut net = central_cluster(3, 5, CentralConfig::new());
    net.run_until(at(20));
    assert_eq!(net.member(3).members().len(), 4);
    net.crash(1);
    net.run_until(at(35));
    for o in 2..=5 {
        let m = net.member(o);
        assert!(m.members().is_empty(), "{o}: {:?}", m.members());
        assert!(!m.is_connected());
        assert_eq!(m.state_of(&2), None);
        assert!(
            net.events()
                .iter()
                .any(|(w, e)| *w == o && matches!(e, ClusterEvent::Isolated { .. }))
        );
    }
    // The monitor comes back (a new generation): the views return.
    net.restart(CentralMember::monitor(Member::new(1, 1), CentralConfig::new()).unwrap());
    net.run_until(at(40));
    for o in 2..=5 {
        assert!(net.member(o).is_connected());
        assert_eq!(net.member(o).state_of(&1), Some(NodeState::Alive));
    }
}

#[test]
fn central_without_acks_members_hold_nothing_and_send_n_minus_1() {
    let config = CentralConfig::new().with_acknowledge(false);
    let mut net = central_cluster(4, 6, config);
    net.run_until(at(10));
    let before = net.datagrams_sent();
    net.run_until(at(40));
    let per_interval = (net.datagrams_sent() - before) as f64 / 30.0;
    assert!((per_interval - 5.0).abs() <= 0.5, "{per_interval}");
    assert!(net.member(2).members().is_empty());
    assert_eq!(net.member(1).members().len(), 5);
}

#[test]
fn message_counts_match_n_n_minus_1_and_2_n_minus_1() {
    for n in [4u64, 8] {
        let mut net = a2a_cluster(5, n, AllToAllConfig::new());
        net.run_until(at(10));
        let before = net.datagrams_sent();
        net.run_until(at(70));
        let per_interval = (net.datagrams_sent() - before) as f64 / 60.0;
        let expected = (n * (n - 1)) as f64;
        assert!(
            (per_interval - expected).abs() <= 0.1 * expected,
            "all-to-all N = {n}: {per_interval} vs {expected}"
        );

        let mut net = central_cluster(5, n, CentralConfig::new());
        net.run_until(at(10));
        let before = net.datagrams_sent();
        net.run_until(at(70));
        let per_interval = (net.datagrams_sent() - before) as f64 / 60.0;
        let expected = (2 * (n - 1)) as f64;
        assert!(
            (per_interval - expected).abs() <= 0.1 * expected,
            "central N = {n}: {per_interval} vs {expected}"
        );
    }
}

fn lossy_a2a(seed: u64) -> (u64, usize) {
    let mut net = a2a_cluster(seed, 6, AllToAllConfig::new());
    net.set_loss(0.2);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(80));
    net.run_until(at(20));
    net.crash(4);
    net.run_until(at(60));
    time_runs_forward(net.events());
    (net.trace_hash(), net.events().len())
}

fn lossy_central(seed: u64) -> (u64, usize) {
    let mut net = central_cluster(seed, 6, CentralConfig::new());
    net.set_loss(0.2);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(80));
    net.run_until(at(20));
    net.crash(4);
    net.run_until(at(60));
    time_runs_forward(net.events());
    (net.trace_hash(), net.events().len())
}

#[test]
fn same_seed_same_trace() {
    assert_eq!(lossy_a2a(9), lossy_a2a(9));
    assert_ne!(lossy_a2a(9).0, lossy_a2a(10).0);
    assert_eq!(lossy_central(9), lossy_central(9));
    assert_ne!(lossy_central(9).0, lossy_central(10).0);
}

#[test]
fn all_to_all_a_paused_observer_convicts_no_one_on_waking() {
    // A 1 s confirmation: without the guard, 7 s of silence would convict.
    let config = AllToAllConfig::new().with_confirmation(secs(1));
    let mut net = a2a_cluster(6, 5, config);
    net.run_until(at(30));
    net.pause(2, secs(7));
    net.run_until(at(60));
    // The others did convict it (it was silent for 7 s); it convicted no one.
    let dead = net.changes(NodeState::Dead);
    assert!(dead.iter().all(|&(o, s, _)| o != 2 && s == 2), "{dead:?}");
    assert_eq!(dead.len(), 4, "{dead:?}");
    let events = |k: fn(&ClusterEvent<u64>) -> bool| {
        net.events().iter().filter(|(w, e)| *w == 2 && k(e)).count()
    };
    assert_eq!(events(|e| matches!(e, ClusterEvent::LocalPause { .. })), 1);
    // The guard mattered: convictions were due and held back.
    assert!(
        events(|e| matches!(
            e,
            ClusterEvent::Deferred {
                doubt: Doubt::LocalPause,
                ..
            }
        )) > 0
    );
    for o in 3..=5 {
        assert_eq!(net.member(2).state_of(&o), Some(NodeState::Alive));
    }
}

#[test]
fn all_to_all_the_minority_of_a_partition_convicts_no_one_of_the_majority() {
    let mut net = a2a_cluster(7, 5, AllToAllConfig::new());
    net.run_until(at(20));
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    net.run_until(at(80));
    for (o, s, _) in net.changes(NodeState::Dead) {
        let minority = |x: u64| x <= 2;
        assert!(!minority(o) || minority(s), "{o} convicted {s}");
    }
    // The majority convicted the minority; the minority knows it is cut off.
    for o in 3..=5 {
        assert!(net.first_change(o, 1, NodeState::Dead).is_some(), "{o}");
    }
    for o in 1..=2 {
        assert!(net.member(o).is_isolated());
        assert_eq!(net.member(o).state_of(&4), Some(NodeState::Suspect));
    }
    // Healed at 100 s: everyone is Alive again once the majority's
    // quarantine of the minority's ids (60 s after their removal) is over.
    net.heal_all();
    net.run_until(at(150));
    for o in 1..=5 {
        for (m, state) in net.member(o).members() {
            assert_eq!(state, NodeState::Alive, "{o} sees {m:?}");
        }
    }
}

#[test]
fn central_a_monitor_that_loses_most_members_at_once_evicts_no_one() {
    // Kubernetes stops evicting in a zone whose nodes are mostly NotReady:
    // the isolation rule. Three of five members crash at once.
    let config = CentralConfig::new().with_check_period(secs(2));
    let mut net = central_cluster(12, 6, config);
    net.run_until(at(20));
    for id in 4..=6 {
        net.crash(id);
    }
    net.run_until(at(60));
    for id in 4..=6 {
        assert_eq!(net.member(1).state_of(&id), Some(NodeState::Suspect));
    }
    assert!(net.changes(NodeState::Dead).is_empty());
    assert!(net.events().iter().any(|(w, e)| *w == 1
        && matches!(
            e,
            ClusterEvent::Deferred {
                doubt: Doubt::Isolated,
                ..
            }
        )));
}

#[test]
fn central_a_paused_monitor_convicts_no_one_on_waking() {
    let config = CentralConfig::new().with_confirmation(secs(1));
    let mut net = central_cluster(13, 5, config);
    net.run_until(at(20));
    net.pause(1, secs(7));
    net.run_until(at(60));
    assert!(net.changes(NodeState::Dead).is_empty());
    assert!(
        net.events()
            .iter()
            .any(|(w, e)| *w == 1 && matches!(e, ClusterEvent::LocalPause { .. }))
    );
    for id in 2..=5 {
        assert_eq!(net.member(1).state_of(&id), Some(NodeState::Alive));
    }
}

/// Per (member, subject), event instants never decrease.
fn time_runs_forward(events: &[(u64, ClusterEvent<u64>)]) {
    let mut last = std::collections::BTreeMap::new();
    for (o, e) in events {
        let key = (*o, e.member().map(|m| m.id));
        let prev = last.insert(key, e.at()).unwrap_or(Timestamp::ZERO);
        assert!(e.at() >= prev, "{o}: {e:?} after {prev}");
    }
}

fn valid_a2a() -> Vec<Vec<u8>> {
    // A heartbeat, a join and a member list, captured from real members.
    let mut a = a2a(1, 0, AllToAllConfig::new());
    let mut b = a2a(2, 0, AllToAllConfig::new());
    let mut c = a2a(3, 0, AllToAllConfig::new());
    b.join(&[1], at(0));
    let join = b.poll_datagram().unwrap().bytes;
    a.handle_datagram(&2, &join, at(0)).unwrap();
    a.poll_datagram();
    c.join(&[1], at(0));
    let join3 = c.poll_datagram().unwrap().bytes;
    a.handle_datagram(&3, &join3, at(0)).unwrap();
    let list = a.poll_datagram().unwrap().bytes;
    a.tick(at(1));
    let hb = a.poll_datagram().unwrap().bytes;
    vec![join, list, hb]
}

fn valid_central() -> Vec<Vec<u8>> {
    let mut m = CentralMember::<u64>::monitor(Member::new(1, 0), CentralConfig::new()).unwrap();
    let mut b = CentralMember::<u64>::member(Member::new(2, 0), 1, CentralConfig::new()).unwrap();
    let mut c = CentralMember::<u64>::member(Member::new(3, 0), 1, CentralConfig::new()).unwrap();
    c.join(&[], at(0));
    let hb3 = c.poll_datagram().unwrap().bytes;
    m.handle_datagram(&3, &hb3, at(0)).unwrap();
    m.poll_datagram();
    b.join(&[], at(0));
    let hb = b.poll_datagram().unwrap().bytes;
    m.handle_datagram(&2, &hb, at(0)).unwrap();
    let ack = m.poll_datagram().unwrap().bytes;
    vec![hb, ack]
}

#[test]
fn bad_datagrams_leave_members_unchanged() {
    let mut net = a2a_cluster(8, 4, AllToAllConfig::new());
    net.run_until(at(10));
    let before: Vec<_> = (1..=4).map(|o| net.member(o).members()).collect();
    let events = net.events().len();
    let hb = valid_a2a().swap_remove(2); // member 1's heartbeat
    let mut long = hb.clone();
    long.resize(1401, 0);
    let mut gossip_kind = hb.clone();
    gossip_kind[2] = 0x01;
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xFD],
        vec![0x00, 1, 0x20],
        vec![0xFD, 2, 0x20],
        hb[..hb.len() - 1].to_vec(),
        [hb.clone(), vec![0]].concat(),
        gossip_kind,
        vec![0xFD, 1, 0x24, 1, 0, 1, 0],
        long,
    ];
    for bytes in &cases {
        assert!(!net.inject(1, 2, bytes), "{bytes:?}");
    }
    // A genuine heartbeat from another sender than the transport's.
    assert!(!net.inject(3, 2, &hb));
    assert_eq!(net.decode_errors(), cases.len() as u64 + 1);
    let after: Vec<_> = (1..=4).map(|o| net.member(o).members()).collect();
    assert_eq!(before, after);
    assert_eq!(net.events().len(), events);

    let mut net = central_cluster(8, 4, CentralConfig::new());
    net.run_until(at(10));
    let before: Vec<_> = (1..=4).map(|o| net.member(o).members()).collect();
    let [hb, ack] = <[Vec<u8>; 2]>::try_from(valid_central()).unwrap();
    let mut bad_status = ack.clone();
    let n = bad_status.len();
    bad_status[n - 3] = 7;
    assert!(!net.inject(1, 2, &bad_status));
    assert!(!net.inject(2, 1, &hb[..hb.len() - 1]));
    // An all-to-all heartbeat is another topology's.
    let e = decode_for_tests::<u64>(&valid_a2a()[2], 1400, &1, true, 64).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownKind(0x20));
    let after: Vec<_> = (1..=4).map(|o| net.member(o).members()).collect();
    assert_eq!(before, after);
}

#[test]
fn replayed_heartbeats_and_stale_acks_change_nothing() {
    let mut net = a2a_cluster(11, 3, AllToAllConfig::new());
    net.run_until(at(10));
    let hb = valid_a2a().swap_remove(2); // member 1's first heartbeat
    let samples = |net: &Net<A2A>| {
        net.member(2)
            .detector_info(&1, net.now())
            .unwrap()
            .stats
            .samples
    };
    net.run_until(Timestamp::from_millis(10_500));
    let before = samples(&net);
    for _ in 0..5 {
        assert!(net.inject(1, 2, &hb)); // well-formed, accepted, not an arrival
    }
    assert_eq!(samples(&net), before);
    assert_eq!(net.member(2).state_of(&1), Some(NodeState::Alive));

    // A monitored member ignores an ack of a heartbeat it never sent, and an
    // old one.
    let mut net = central_cluster(11, 4, CentralConfig::new());
    net.run_until(at(10));
    let [_, ack] = <[Vec<u8>; 2]>::try_from(valid_central()).unwrap(); // seq 1
    let events = net.events().len();
    let view = net.member(2).members();
    assert!(net.inject(1, 2, &ack));
    assert_eq!(net.member(2).members(), view);
    assert_eq!(net.events().len(), events);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for central in [false, true] {
            if let Err(e) = decode_for_tests::<u64>(&bytes, 1400, &2, central, 64) {
                prop_assert!(e.offset <= bytes.len());
            }
        }
        let mut m = a2a(1, 0, AllToAllConfig::new());
        if let Err(e) = m.handle_datagram(&2, &bytes, at(1)) {
            prop_assert!(e.offset <= bytes.len());
            prop_assert!(m.members().is_empty());
            prop_assert!(m.poll_datagram().is_none() && m.poll_event().is_none());
        }
    }

    #[test]
    fn mutated_datagrams_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut all = valid_a2a();
        all.extend(valid_central());
        let central = which >= 3;
        // The join and the heartbeat to the monitor come from 2, the rest from 1.
        let from = if which == 0 || which == 3 { 2 } else { 1 };
        let mut bytes = all.swap_remove(which);
        for (i, b, op) in edits {
            let i = i % (bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        if let Err(e) = decode_for_tests::<u64>(&bytes, 1400, &from, central, 64) {
            prop_assert!(e.offset <= bytes.len());
        }
        if central {
            let mut m = CentralMember::<u64>::member(Member::new(9, 0), 1, CentralConfig::new()).unwrap();
            let mut mon = CentralMember::<u64>::monitor(Member::new(1, 0), CentralConfig::new()).unwrap();
            for x in [&mut m, &mut mon] {
                if let Err(e) = x.handle_datagram(&from, &bytes, at(1)) {
                    prop_assert!(e.offset <= bytes.len());
                    prop_assert!(x.members().is_empty());
                    prop_assert!(x.poll_datagram().is_none() && x.poll_event().is_none());
                }
                for d in std::iter::from_fn(|| x.poll_datagram()) {
                    prop_assert!(d.bytes.len() <= 1400);
                }
            }
        } else {
            let mut m = a2a(7, 0, AllToAllConfig::new());
            if let Err(e) = m.handle_datagram(&from, &bytes, at(1)) {
                prop_assert!(e.offset <= bytes.len());
                prop_assert!(m.members().is_empty());
                prop_assert!(m.poll_datagram().is_none() && m.poll_event().is_none());
            }
        }
    }
}

/// More members crash at once than an ack holds verdicts (12 with acks of at
/// most 4): the flagged part of the acks rotates per member, so every
/// survivor learns every conviction. (Before, the same first 4 were sent
/// every time and the others never reached the members.)
#[test]
fn central_more_convictions_than_an_ack_holds_reach_every_member_in_turn() {
    let config = CentralConfig::new().with_max_ack_entries(4);
    let mut net = central_cluster(8, 40, config);
    net.run_until(at(20));
    let crashed: Vec<u64> = (29..=40).collect();
    for &c in &crashed {
        net.crash(c);
    }
    net.run_until(at(60));
    for &c in &crashed {
        assert!(
            net.first_change(1, c, NodeState::Dead).is_some(),
            "monitor -> {c}"
        );
        for o in 2..29 {
            assert!(
                net.first_change(o, c, NodeState::Dead).is_some(),
                "{o} never learned {c}"
            );
        }
    }
}

/// 150 members join through one seed at once. The seed answers a bounded
/// number of joins per interval, so the first joiners get short lists; every
/// 10 rounds each member asks a known member, in turn, for its list, and
/// within 40 s every member knows every other (a full mesh: N - 1
/// heartbeats out per member per interval).
#[test]
fn all_to_all_a_crowd_joining_at_once_becomes_a_full_mesh() {
    let mut net = a2a_cluster(2, 150, AllToAllConfig::new());
    net.run_until(at(40));
    for o in 1..=150 {
        assert_eq!(net.member(o).tracked(), 149, "{o}");
    }
}
