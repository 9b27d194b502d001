//! Behaviour tests of the SWIM member on the in-memory network harness: crash,
//! restart, refuted suspicion, determinism, loss and delay, a cut link, a
//! partition, a paused member, churn, hostile datagrams; plus the golden
//! suspicion timeouts and Lifeguard's health score through the public API.

mod support;

use std::time::Duration;

use failure_detector::cluster::swim::{Awareness, Suspicion};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, DecodeErrorKind, Doubt, Member, SwimConfig, SwimMember,
};
use failure_detector::{FailureDetector, NodeState, Timestamp};
use proptest::prelude::*;
use support::net::Net;

type M = SwimMember<u64>;

fn member(id: u64, generation: u64, config: SwimConfig) -> M {
    SwimMember::new(Member::new(id, generation), config.with_seed(11)).unwrap()
}

/// Members `1..=n`, generation 1, joined through member 1.
fn cluster(seed: u64, n: u64, config: SwimConfig) -> Net<M> {
    let mut net = Net::new(seed);
    for id in 1..=n {
        net.add(member(id, 1, config));
    }
    net.join_all();
    net
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Whether every member in `ids` sees every other one of them Alive.
fn all_alive(net: &Net<M>, ids: &[u64]) -> bool {
    ids.iter().all(|&o| {
        ids.iter()
            .filter(|&&s| s != o)
            .all(|s| net.member(o).state_of(s) == Some(NodeState::Alive))
    })
}

#[test]
fn a_crash_is_convicted_by_every_other_member_within_the_window() {
    let mut net = cluster(1, 6, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(20));
    assert!(all_alive(&net, &[1, 2, 3, 4, 5, 6]), "seed {}", net.seed());
    net.crash(6);
    net.run_until(Timestamp::from_secs(90));
    let crash = Timestamp::from_secs(20);
    for o in 1..=5 {
        let dead = net.first_change(o, 6, NodeState::Dead).expect("convicted");
        let took = dead - crash;
        // At least one probe and the minimum suspicion timeout (4 s at N = 6);
        // at most two passes of probes (scaled by the health score) plus the
        // maximum timeout (24 s).
        eprintln!("{o} convicted 6 after {took:?}");
        assert!(took > secs(4) && took < secs(45), "{o}: {took:?}");
    }
    // Nobody else was convicted.
    assert!(net.changes(NodeState::Dead).iter().all(|c| c.1 == 6));
    // The tombstone is gone after 30 s.
    net.run_until(Timestamp::from_secs(140));
    for o in 1..=5 {
        assert_eq!(net.member(o).state_of(&6), None);
        assert!(
            net.events().iter().any(|(w, e)| *w == o
                && matches!(e, ClusterEvent::Removed { member, .. } if member.id == 6))
        );
    }
}

#[test]
fn a_restart_with_a_higher_generation_rejoins_with_fresh_statistics() {
    let mut net = cluster(2, 5, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(20));
    assert!(net.member(1).rtt(&3).is_some());
    net.crash(3);
    net.run_until(Timestamp::from_secs(50));
    assert_eq!(net.member(1).state_of(&3), Some(NodeState::Dead));
    net.restart(member(3, 2, SwimConfig::lan()));
    // Epidemic dissemination: a few periods.
    net.run_until(Timestamp::from_secs(60));
    for o in [1, 2, 4, 5] {
        let m = net.member(o);
        assert_eq!(m.state_of(&3), Some(NodeState::Alive), "{o}");
        assert_eq!(m.version_of(&3).map(|v| v.0), Some(2), "{o}");
        assert!(net.events().iter().any(|(w, e)| *w == o
            && matches!(e, ClusterEvent::Restarted { member, previous_generation: 1, .. }
                if *member == Member::new(3, 2))));
    }
    net.run_until(Timestamp::from_secs(100));
    assert!(all_alive(&net, &[1, 2, 3, 4, 5]));
    // The restarted member learned everyone, and is judged afresh.
    assert_eq!(net.member(3).members().len(), 4);
    assert!(net.member(1).rtt(&3).is_some_and(|r| r.samples < 30));
}

#[test]
fn a_briefly_paused_member_is_suspected_refutes_and_is_never_dead() {
    let mut net = cluster(3, 5, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(15));
    let since = net.now();
    net.pause(4, Duration::from_millis(4_000));
    net.run_until(Timestamp::from_secs(60));
    let suspected = (1..=5)
        .filter(|&o| o != 4)
        .filter_map(|o| net.first_change_since(o, 4, NodeState::Suspect, since))
        .count();
    assert!(suspected > 0, "seed {}", net.seed());
    assert!(
        net.events()
            .iter()
            .any(|(w, e)| *w == 4 && matches!(e, ClusterEvent::Refuted { .. }))
    );
    assert!(net.changes(NodeState::Dead).is_empty());
    assert!(all_alive(&net, &[1, 2, 3, 4, 5]));
    assert!(net.member(4).incarnation() > 0);
}

fn eventful_run(seed: u64) -> Net<M> {
    let mut net = cluster(seed, 7, SwimConfig::lan());
    net.set_loss(0.05);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(30));
    net.run_until(Timestamp::from_secs(10));
    net.crash(7);
    net.pause(3, Duration::from_secs(2));
    net.run_until(Timestamp::from_secs(50));
    net.restart(member(7, 2, SwimConfig::lan()));
    net.run_until(Timestamp::from_secs(70));
    net
}

#[test]
fn the_same_inputs_and_seed_give_the_same_outputs() {
    let a = eventful_run(9);
    let b = eventful_run(9);
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(a.events(), b.events());
    assert_eq!(a.bytes_sent(), b.bytes_sent());
    assert!(a.events().len() > 20);
    let c = eventful_run(10);
    assert_ne!(a.trace_hash(), c.trace_hash());
}

#[test]
fn a_lossy_delayed_network_convicts_no_one() {
    let mut net = cluster(4, 8, SwimConfig::lan());
    net.set_loss(0.10);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(40));
    net.run_until(Timestamp::from_secs(120));
    assert!(
        net.changes(NodeState::Dead).is_empty(),
        "seed {}: {:?}",
        net.seed(),
        net.changes(NodeState::Dead)
    );
    assert_eq!(net.decode_errors(), 0);
    // Everyone knows everyone (a lost ack may leave a passing suspicion).
    assert!((1..=8).all(|o| net.member(o).members().len() == 7));
    // Two datagrams per member per period, plus relay traffic (12 datagrams)
    // for the probes whose ping or ack was lost (about 19%).
    let per_member_per_s = net.datagrams_sent() as f64 / 8.0 / 120.0;
    assert!(per_member_per_s < 5.0, "{per_member_per_s}");
}

#[test]
fn indirect_probes_save_a_member_behind_a_one_way_cut() {
    for (k, saved) in [(3, true), (0, false)] {
        let config = SwimConfig::lan().with_indirect_checks(k);
        let mut net = cluster(5, 5, config);
        net.run_until(Timestamp::from_secs(5));
        net.cut(1, 3);
        net.run_until(Timestamp::from_secs(60));
        let suspected = net.first_change(1, 3, NodeState::Suspect).is_some()
            || net.first_change(3, 1, NodeState::Suspect).is_some();
        assert_eq!(!suspected, saved, "k = {k}, seed {}", net.seed());
        if saved {
            assert!(net.changes(NodeState::Suspect).is_empty());
            assert!(
                net.member(1)
                    .detector(&3)
                    .unwrap()
                    .last_heartbeat()
                    .is_some()
            );
        }
    }
}

#[test]
fn the_minority_of_a_partition_convicts_no_one_and_says_it_is_isolated() {
    let mut net = cluster(6, 5, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(10));
    net.partition(&[&[1, 2, 3], &[4, 5]]);
    net.run_until(Timestamp::from_secs(70));
    for o in [4, 5] {
        for s in [1, 2, 3] {
            assert_eq!(net.first_change(o, s, NodeState::Dead), None, "{o} -> {s}");
        }
        assert!(net.member(o).is_isolated(), "{o}");
        assert!(
            net.events()
                .iter()
                .any(|(w, e)| *w == o && matches!(e, ClusterEvent::Isolated { .. }))
        );
    }
    assert!(net.events().iter().any(|(w, e)| [4, 5].contains(w)
        && matches!(
            e,
            ClusterEvent::Deferred {
                doubt: Doubt::Isolated,
                ..
            }
        )));
    // The majority convicts the minority and does not think itself isolated.
    for o in [1, 2, 3] {
        assert!(net.first_change(o, 4, NodeState::Dead).is_some(), "{o}");
        assert!(!net.member(o).is_isolated());
    }
    net.heal_all();
    net.run_until(Timestamp::from_secs(130));
    assert!(all_alive(&net, &[1, 2, 3, 4, 5]), "seed {}", net.seed());
    for o in [4, 5] {
        assert!(!net.member(o).is_isolated());
        assert!(
            net.events()
                .iter()
                .any(|(w, e)| *w == o && matches!(e, ClusterEvent::Reconnected { .. }))
        );
        for s in [1, 2, 3] {
            assert_eq!(net.first_change(o, s, NodeState::Dead), None);
        }
    }
}

#[test]
fn a_member_paused_for_7_s_convicts_no_one_while_a_crash_is_convicted() {
    let mut net = cluster(7, 6, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(20));
    let stall = net.now();
    net.crash(6);
    net.pause(2, secs(7));
    net.run_until(Timestamp::from_secs(90));
    assert!(
        net.events()
            .iter()
            .any(|(w, e)| *w == 2 && matches!(e, ClusterEvent::LocalPause { .. }))
    );
    for s in [1, 3, 4, 5] {
        assert_eq!(net.first_change(2, s, NodeState::Dead), None, "2 -> {s}");
    }
    // Whoever suspected the paused member was refuted.
    let suspected_2 = (1..=5).any(|o| net.first_change(o, 2, NodeState::Suspect).is_some());
    let refuted = net
        .events()
        .iter()
        .any(|(w, e)| *w == 2 && matches!(e, ClusterEvent::Refuted { .. }));
    assert!(!suspected_2 || refuted);
    // The crash is convicted by the members that were not paused, within the
    // stall bound (5 s) plus their detection time.
    for o in [1, 3, 4, 5] {
        let dead = net.first_change(o, 6, NodeState::Dead).expect("convicted");
        assert!(dead - stall < secs(5 + 45), "{o}: {:?}", dead - stall);
    }
    assert!(all_alive(&net, &[1, 2, 3, 4, 5]));
}

#[test]
fn tombstones_expire_and_memory_stays_bounded_under_churn() {
    let config = SwimConfig::lan()
        .with_tombstone_grace(secs(3))
        .with_quarantine(secs(5));
    let mut net = cluster(8, 4, config);
    net.run_until(Timestamp::from_secs(10));
    let baseline = net.member(1).memory_bytes();
    let mut peak = 0;
    for i in 0..40 {
        let id = 100 + i;
        net.restart(member(id, 1, config));
        net.run_for(secs(3));
        net.crash(id);
        net.run_for(secs(2));
        let s = net.member(1).stats();
        peak = peak.max(s.members + s.quarantined);
    }
    net.run_for(secs(60));
    let s = net.member(1).stats();
    assert_eq!((s.members, s.quarantined, s.deferred), (3, 0, 0), "{s:?}");
    assert!(peak < 30, "peak {peak}");
    assert!(net.member(1).memory_bytes() < baseline * 2);
    assert!(all_alive(&net, &[1, 2, 3, 4]));

    // max_members bounds what the network can make a member hold.
    let mut net = cluster(8, 10, SwimConfig::lan().with_max_members(4));
    net.run_until(Timestamp::from_secs(30));
    for o in 1..=10 {
        assert!(net.member(o).stats().members <= 4);
    }
}

/// Datagrams exchanged: (from, to, bytes).
type Log = Vec<(u64, u64, Vec<u8>)>;

/// A small cluster driven by hand, returning every datagram it exchanged:
/// `(from, to, bytes)`, including ping-reqs and nacks (member 3 crashes).
fn corpus() -> (Vec<M>, Log) {
    let config = SwimConfig::lan();
    let mut members: Vec<M> = (1..=4).map(|id| member(id, 1, config)).collect();
    for m in members.iter_mut() {
        m.join(&[1], Timestamp::ZERO);
    }
    let mut log = Vec::new();
    for ms in (0..12_000u64).step_by(5) {
        let now = Timestamp::from_millis(ms);
        let down = |id: u64| ms >= 6_000 && id == 3;
        for m in members.iter_mut() {
            if !down(m.me().id) && m.next_deadline().is_some_and(|d| d <= now) {
                m.tick(now);
            }
        }
        loop {
            let mut sent = Vec::new();
            for m in members.iter_mut() {
                while let Some(d) = m.poll_datagram() {
                    sent.push((m.me().id, d));
                }
            }
            if sent.is_empty() {
                break;
            }
            for (from, d) in sent {
                log.push((from, d.to, d.bytes.clone()));
                if down(from) || down(d.to) {
                    continue;
                }
                let to = members.iter_mut().find(|m| m.me().id == d.to).unwrap();
                to.handle_datagram(&from, &d.bytes, now).unwrap();
            }
        }
        for m in members.iter_mut() {
            while m.poll_event().is_some() {}
        }
    }
    (members, log)
}

#[test]
fn bad_datagrams_leave_the_member_unchanged() {
    let (mut members, log) = corpus();
    let kinds: std::collections::BTreeSet<u8> = log.iter().map(|d| d.2[2]).collect();
    assert!(
        kinds.is_superset(&[0x10, 0x11, 0x12, 0x13, 0x14, 0x15].into()),
        "{kinds:?}"
    );
    let (from, _, valid) = log
        .iter()
        .rev()
        .find(|d| d.1 == 1 && d.0 != 3)
        .cloned()
        .unwrap();
    let m = &mut members[0];
    let now = Timestamp::from_secs(12);
    let before = format!("{m:?}");
    let mut too_long = valid.clone();
    too_long.resize(1_401, 0);
    let mut trailing = valid.clone();
    trailing.push(0);
    let mut kind = valid.clone();
    kind[2] = 0x01;
    let other = if from == 2 { 4 } else { 2 };
    let cases: Vec<(u64, Vec<u8>, DecodeErrorKind)> = vec![
        (from, vec![], DecodeErrorKind::Truncated),
        (from, vec![0x00; 40], DecodeErrorKind::BadMagic(0)),
        (from, too_long, DecodeErrorKind::TooLong { mtu: 1_400 }),
        (from, trailing, DecodeErrorKind::TrailingBytes),
        (from, kind, DecodeErrorKind::UnknownKind(0x01)),
        (other, valid.clone(), DecodeErrorKind::WrongSender),
        (
            from,
            valid[..valid.len() - 1].to_vec(),
            DecodeErrorKind::Truncated,
        ),
    ];
    for (sender, bytes, expected) in cases {
        let e = m.handle_datagram(&sender, &bytes, now).unwrap_err();
        assert_eq!(e.kind, expected, "{bytes:?}");
        assert!(e.offset <= bytes.len().max(1_400));
        assert_eq!(format!("{m:?}"), before);
        assert!(m.poll_datagram().is_none() && m.poll_event().is_none());
    }
    // And through the harness.
    let mut net = cluster(12, 3, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(5));
    let before = format!("{:?}", net.member(1));
    assert!(!net.inject(2, 1, &[0xFD, 1, 0x10, 0xFF]));
    assert!(!net.inject(3, 1, &valid));
    assert_eq!(format!("{:?}", net.member(1)), before);
    assert_eq!(net.decode_errors(), 2);
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match *m {
        Mutation::Flip(i, x) => {
            if let Some(b) = bytes.get_mut(i % len) {
                *b ^= x.max(1);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
        Mutation::Insert(i, x) => bytes.insert(i % (bytes.len() + 1), x),
        Mutation::Remove(i) => {
            if !bytes.is_empty() {
                bytes.remove(i % len);
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

thread_local! {
    static CORPUS: (Vec<M>, Log) = corpus();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes: refused with an offset inside the datagram, or
    /// accepted; never a panic; a refusal changes nothing.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                   header in any::<bool>(), from in 1u64..5) {
        let mut bytes = bytes;
        if header && bytes.len() >= 3 {
            bytes[0] = 0xFD;
            bytes[1] = 1;
            bytes[2] = 0x10 + bytes[2] % 6;
        }
        let mut m = CORPUS.with(|c| c.0[0].clone());
        let before = format!("{m:?}");
        match m.handle_datagram(&from, &bytes, Timestamp::from_secs(13)) {
            Err(e) => {
                prop_assert!(e.offset <= bytes.len());
                prop_assert_eq!(format!("{m:?}"), before);
            }
            Ok(()) => {
                while let Some(d) = m.poll_datagram() {
                    prop_assert!(d.bytes.len() <= 1_400);
                }
            }
        }
    }

    /// Valid datagrams with a few mutations.
    #[test]
    fn mutated_datagrams_never_panic(pick in any::<usize>(),
                                     mutations in proptest::collection::vec(mutation(), 1..4)) {
        let (mut m, from, mut bytes) = CORPUS.with(|c| {
            let (from, to, bytes) = c.1[pick % c.1.len()].clone();
            let m = c.0.iter().find(|m| m.me().id == to).unwrap().clone();
            (m, from, bytes)
        });
        for mu in &mutations {
            mutate(&mut bytes, mu);
        }
        let before = format!("{m:?}");
        match m.handle_datagram(&from, &bytes, Timestamp::from_secs(13)) {
            Err(e) => {
                prop_assert!(e.offset <= bytes.len().max(1_400));
                prop_assert_eq!(format!("{m:?}"), before);
            }
            Ok(()) => {
                while let Some(d) = m.poll_datagram() {
                    prop_assert!(d.bytes.len() <= 1_400);
                }
            }
        }
    }
}

#[test]
fn every_datagram_fits_the_mtu_even_with_a_full_queue() {
    // 150 members in a small MTU: joins and piggyback queues overflow one
    // datagram and are spread.
    let config = SwimConfig::lan().with_mtu(200);
    let mut members: Vec<M> = (1..=150).map(|id| member(id, 1, config)).collect();
    for m in members.iter_mut() {
        m.join(&[1], Timestamp::ZERO);
    }
    let mut seen = 0;
    for ms in (0..3_000u64).step_by(10) {
        let now = Timestamp::from_millis(ms);
        for m in members.iter_mut() {
            if m.next_deadline().is_some_and(|d| d <= now) {
                m.tick(now);
            }
        }
        loop {
            let mut sent = Vec::new();
            for m in members.iter_mut() {
                while let Some(d) = m.poll_datagram() {
                    assert!(d.bytes.len() <= 200);
                    sent.push((m.me().id, d));
                }
            }
            if sent.is_empty() {
                break;
            }
            for (from, d) in sent {
                seen += 1;
                let to = &mut members[(d.to - 1) as usize];
                to.handle_datagram(&from, &d.bytes, now).unwrap();
            }
        }
    }
    // Join answers share a budget (`MAX_SYNC_DATAGRAMS_PER_PERIOD`), so the
    // seed answers 150 simultaneous joins over several periods.
    assert!(seen > 500, "{seen}");
    assert!(members[0].stats().members > 100);
}

#[test]
fn golden_suspicion_timeouts_with_the_lan_config() {
    let lan = SwimConfig::lan();
    for (n, min, max) in [(10, 4, 24), (100, 8, 48), (1000, 12, 72)] {
        let s = Suspicion::for_cluster(&lan, n, 0u64, Timestamp::ZERO);
        assert_eq!(s.min_timeout(), secs(min));
        assert_eq!(s.max_timeout(), secs(max));
        assert_eq!(s.timeout(), secs(max));
        assert_eq!(s.deadline(), Timestamp::from_secs(max));
    }
    let mut s = Suspicion::for_cluster(&lan, 100, 0u64, Timestamp::ZERO);
    assert!(!s.confirm(0)); // the accuser
    assert!(s.confirm(1));
    assert!(!s.confirm(1)); // a repeat
    assert_eq!(s.timeout(), Duration::from_millis(22_762));
    assert!(s.confirm(2));
    assert!(!s.confirm(3)); // k = suspicion_mult - 2 = 2 reached
    assert_eq!(s.timeout(), secs(8));
}

#[test]
fn awareness_scores_and_scales_as_memberlist() {
    let mut a = Awareness::new(SwimConfig::lan().awareness_max_multiplier);
    a.apply_delta(3 - 1); // a failed probe: 3 relays asked, 1 nack
    assert_eq!(a.score(), 2);
    assert_eq!(a.scale(secs(1)), secs(3));
    a.apply_delta(-1); // an acked probe
    a.apply_delta(1); // a refutation
    assert_eq!(a.score(), 2);
    a.apply_delta(20);
    assert_eq!((a.score(), a.scale(secs(1))), (7, secs(8)));
}

#[test]
fn health_rises_when_probes_fail_without_nacks_and_heals() {
    // Member 1 cannot hear anyone: its probes fail and no relay answers.
    let mut net = cluster(13, 5, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(10));
    assert_eq!(net.member(1).awareness().score(), 0);
    for o in 2..=5 {
        net.cut(o, 1);
    }
    net.run_until(Timestamp::from_secs(25));
    assert!(net.member(1).awareness().score() >= 4);
    assert!(net.member(1).is_isolated());
    net.heal_all();
    net.run_until(Timestamp::from_secs(70));
    assert_eq!(net.member(1).awareness().score(), 0);
    assert!(!net.member(1).is_isolated());
    assert!(all_alive(&net, &[1, 2, 3, 4, 5]));
}

#[test]
fn the_detector_judges_probed_members_from_their_acks() {
    let mut net = cluster(14, 4, SwimConfig::lan());
    net.run_until(Timestamp::from_secs(60));
    let now = net.now();
    let m = net.member(1);
    for s in 2..=4 {
        let rtt = m.rtt(&s).unwrap();
        // 1 ms each way on the harness.
        assert_eq!(rtt.min, Duration::from_millis(2));
        assert!(rtt.samples >= 5);
        assert!(m.suspicion(&s, now).unwrap() < 1.0);
        assert!(m.detector(&s).unwrap().is_available(now));
    }
    net.crash(4);
    net.run_until(Timestamp::from_secs(90));
    let now = net.now();
    assert!(net.member(1).suspicion(&4, now).unwrap() >= 8.0);
    assert!(net.member(1).suspicion(&2, now).unwrap() < 8.0);
}

#[test]
fn a_suspicion_that_expires_during_a_pause_is_held_not_convicted() {
    // Member 1's suspicions last 1 s, so its suspicion of the crashed member
    // runs out while it is paused; the others' last 4 s or more.
    let short = SwimConfig::lan()
        .with_suspicion_mult(1)
        .with_suspicion_max_timeout_mult(1);
    let mut net = Net::new(15);
    net.add(member(1, 1, short));
    for id in 2..=4 {
        net.add(member(id, 1, SwimConfig::lan()));
    }
    net.join_all();
    net.run_until(Timestamp::from_secs(10));
    net.crash(4);
    while net.first_change(1, 4, NodeState::Suspect).is_none() {
        net.run_for(Duration::from_millis(50));
        assert!(net.now() < Timestamp::from_secs(40));
    }
    net.pause(1, secs(7));
    net.run_for(secs(30));
    let events: Vec<&ClusterEvent<u64>> = net
        .events()
        .iter()
        .filter(|(w, _)| *w == 1)
        .map(|(_, e)| e)
        .collect();
    let pause = events
        .iter()
        .position(|e| matches!(e, ClusterEvent::LocalPause { .. }))
        .expect("the pause is noticed");
    let held = events
        .iter()
        .position(|e| {
            matches!(e, ClusterEvent::Deferred { member, doubt: Doubt::LocalPause, .. }
                if member.id == 4)
        })
        .expect("the conviction is held");
    assert!(pause < held);
    // The others' verdict arrives; member 1 convicts none of the living.
    assert_eq!(net.member(1).state_of(&4), Some(NodeState::Dead));
    for s in [2, 3] {
        assert_eq!(net.first_change(1, s, NodeState::Dead), None);
    }
}

/// With timeouts as short as a fast all-to-all phi's (375 ms probes, about
/// 2.5 s of suspicion at N = 50), the minority of a 2|3 partition draws its
/// first suspicions before its probes and gossip have shown it the partition
/// whole. Learned suspicions and convictions count toward isolation, a
/// suspicion expires only once a wide suspicion has stopped growing, and a
/// member in doubt takes others' convictions as suspicions: so the minority
/// convicts no majority member, and the majority still convicts the minority.
#[test]
fn with_short_timeouts_the_minority_of_a_2_3_partition_of_50_convicts_no_one() {
    let config = SwimConfig::lan()
        .with_probe_interval(Duration::from_millis(375))
        .with_probe_timeout(Duration::from_millis(200));
    let (n, small) = (50u64, 20u64);
    let mut net = cluster(3, n, config);
    net.run_until(Timestamp::from_secs(30));
    net.check_two_sided_partition(n, small, Timestamp::from_secs(60));
}
