//! Behaviour tests of the gossip member on the in-memory network harness.

mod support;

use std::time::Duration;

use failure_detector::cluster::gossip::{
    GossipConfig, GossipMember, ObserverConfig, VerdictPolicy,
};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, DecodeErrorKind, Doubt, LocalGuardConfig, Member,
};
use failure_detector::{FixedTimeout, FixedTimeoutConfig, NodeState, Timestamp};
use proptest::prelude::*;
use support::net::Net;

type Phi = GossipMember<u64>;
type Fixed = GossipMember<u64, FixedTimeout>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn phi(id: u64, generation: u64, config: GossipConfig) -> Phi {
    GossipMember::new(
        Member::new(id, generation),
        config.with_seed(id * 7919 + generation),
    )
    .unwrap()
}

/// A cluster of members `1..=n` that joined through member 1.
fn cluster(seed: u64, n: u64, config: GossipConfig) -> Net<Phi> {
    let mut net = Net::new(seed);
    for id in 1..=n {
        net.add(phi(id, 0, config));
    }
    net.join_all();
    net
}

/// A detector tight enough that 7 s of silence convicts: suspected after 3
/// missed 1 s intervals, Dead 1 s later.
fn tight(id: u64) -> Fixed {
    let config = GossipConfig::new().with_seed(id).with_confirmation(secs(1));
    let fd = FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(secs(1))
            .with_missed_heartbeats(3.0),
    )
    .unwrap();
    GossipMember::with_detector(Member::new(id, 0), config, fd).unwrap()
}

#[test]
fn a_crash_is_convicted_by_every_other_member() {
    for seed in 0..4 {
        crash_run(seed)
    }
}
fn crash_run(seed: u64) {
    let mut net = cluster(seed, 6, GossipConfig::new());
    net.run_until(at(20));
    for o in 1..=5 {
        assert_eq!(net.member(o).members().len(), 5, "seed {}", net.seed());
    }
    net.crash(6);
    net.run_until(at(80));
    for o in 1..=5 {
        assert_eq!(net.member(o).state_of(&6), Some(NodeState::Dead));
        let dead = net.first_change(o, 6, NodeState::Dead).unwrap();
        // Exponential phi 8 at ~1 s intervals: ~18 s of silence, then 10 s.
        assert!(dead > at(40) && dead < at(60), "{o}: {dead}");
    }
    // Nobody else was suspected, let alone convicted.
    let suspects = net.changes(NodeState::Suspect);
    assert!(suspects.iter().all(|&(_, s, _)| s == 6), "{suspects:?}");
    assert_eq!(net.decode_errors(), 0);
}

#[test]
fn a_restart_rejoins_with_fresh_statistics() {
    let mut net = cluster(2, 5, GossipConfig::new());
    net.run_until(at(30));
    let before = net
        .member(1)
        .detector_info(&3, at(30))
        .unwrap()
        .stats
        .samples;
    assert!(before >= 20, "{before}");
    net.crash(3);
    net.run_until(at(40));
    net.restart(phi(3, 1, GossipConfig::new()));
    net.run_until(at(45));
    for o in [1, 2, 4, 5] {
        let restarted = net.events().iter().any(|(w, e)| {
            *w == o
                && matches!(e, ClusterEvent::Restarted { member, previous_generation: 0, .. }
                    if *member == Member::new(3, 1))
        });
        assert!(restarted, "{o}");
        assert_eq!(net.member(o).state_of(&3), Some(NodeState::Alive));
        let m = net.member(o).members();
        assert!(m.contains(&(Member::new(3, 1), NodeState::Alive)), "{m:?}");
    }
    // A new detector: the samples of the previous generation are gone.
    let after = net
        .member(1)
        .detector_info(&3, at(45))
        .unwrap()
        .stats
        .samples;
    assert!(after < 10, "{after}");
    net.run_until(at(90));
    assert!(net.changes(NodeState::Dead).is_empty());
}

fn lossy_run(seed: u64) -> (u64, Vec<(u64, ClusterEvent<u64>)>) {
    let mut net = cluster(seed, 6, GossipConfig::new());
    net.set_loss(0.2);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(80));
    net.run_until(at(30));
    net.crash(6);
    net.run_until(at(90));
    (net.trace_hash(), net.events().to_vec())
}

#[test]
fn same_inputs_and_seed_give_identical_outputs() {
    let (h1, e1) = lossy_run(3);
    let (h2, e2) = lossy_run(3);
    assert_eq!(h1, h2);
    assert_eq!(e1, e2);
    let (h3, _) = lossy_run(4);
    assert_ne!(h1, h3);
}

#[test]
fn a_lossy_delayed_network_convicts_no_healthy_member() {
    for seed in 0..4 {
        lossy_healthy_run(seed)
    }
}
fn lossy_healthy_run(seed: u64) {
    let mut net = cluster(seed, 6, GossipConfig::new());
    net.set_loss(0.25);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(200));
    net.run_until(at(120));
    assert!(
        net.changes(NodeState::Dead).is_empty(),
        "seed {}",
        net.seed()
    );
    for o in 1..=6 {
        assert_eq!(net.member(o).members().len(), 5);
    }
}

#[test]
fn the_minority_of_a_partition_convicts_no_one_and_says_it_is_isolated() {
    for seed in 0..4 {
        partition_run(seed, 5, 2);
    }
    partition_run(20, 10, 3);
}

/// Members `1..=n`, split into `1..=minority` and the rest at 20 s, healed at
/// 70 s.
fn partition_run(seed: u64, n: u64, minority: u64) {
    let mut net = cluster(seed, n, GossipConfig::new());
    net.run_until(at(20));
    let small: Vec<u64> = (1..=minority).collect();
    let large: Vec<u64> = (minority + 1..=n).collect();
    net.partition(&[&small, &large]);
    net.run_until(at(70));
    let dead = net.changes(NodeState::Dead);
    // The minority declares no majority member dead ...
    assert!(
        dead.iter().all(|&(o, _, _)| o > minority),
        "seed {}: {dead:?}",
        net.seed()
    );
    let (suspected, peers) = ((n - minority) as usize, (n - 1) as usize);
    for &o in &small {
        assert!(net.member(o).is_isolated());
        assert!(net.events().iter().any(|(w, e)| *w == o
            && matches!(e, ClusterEvent::Isolated { suspected: s, peers: p, .. }
                if 2 * *s > peers && *s <= suspected && *p == peers)));
        assert!(net.events().iter().any(|(w, e)| *w == o
            && matches!(
                e,
                ClusterEvent::Deferred {
                    doubt: Doubt::Isolated,
                    ..
                }
            )));
    }
    // ... while the majority convicts the minority.
    for &o in &large {
        assert!(!net.member(o).is_isolated());
        for &s in &small {
            assert_eq!(net.member(o).state_of(&s), Some(NodeState::Dead));
        }
    }
    // Healed: the minority reconnects, and everyone is alive again.
    net.heal_all();
    net.run_until(at(100));
    for o in 1..=n {
        assert!(!net.member(o).is_isolated());
        let all_alive = net
            .member(o)
            .members()
            .iter()
            .all(|(_, s)| *s == NodeState::Alive);
        assert!(all_alive, "{o}: {:?}", net.member(o).members());
    }
    for &o in &small {
        assert!(
            net.events()
                .iter()
                .any(|(w, e)| *w == o && matches!(e, ClusterEvent::Reconnected { .. }))
        );
    }
    let dead_after_heal: Vec<_> = dead_since(&net, at(71));
    assert!(dead_after_heal.is_empty(), "{dead_after_heal:?}");
}

fn dead_since<M: ClusterMember<u64>>(net: &Net<M>, since: Timestamp) -> Vec<(u64, u64, Timestamp)> {
    net.changes(NodeState::Dead)
        .into_iter()
        .filter(|&(_, _, t)| t >= since)
        .collect()
}

#[test]
fn a_paused_member_convicts_no_one_on_waking_while_a_real_crash_is_convicted() {
    for seed in 0..4 {
        pause_run(seed)
    }
}
fn pause_run(seed: u64) {
    let mut net: Net<Fixed> = Net::new(seed);
    for id in 1..=5 {
        net.add(tight(id));
    }
    net.join_all();
    net.run_until(at(20));
    assert!(
        net.changes(NodeState::Dead).is_empty(),
        "seed {}",
        net.seed()
    );
    net.pause(2, secs(7));
    net.crash(5);
    net.run_until(at(40));
    let dead = net.changes(NodeState::Dead);
    // The paused member convicts only the crashed one, after waking and after
    // its pause's hold (two intervals).
    let by_2: Vec<_> = dead.iter().filter(|&&(o, _, _)| o == 2).collect();
    assert_eq!(by_2.len(), 1, "{dead:?}");
    assert_eq!(by_2[0].1, 5);
    // A digest held during the pause may carry 5's last version: that is an
    // arrival dated on waking (27 s), so the bound is waking plus detection.
    assert!(by_2[0].2 >= at(27) && by_2[0].2 <= at(32), "{by_2:?}");
    assert!(net.events().iter().any(|(w, e)| *w == 2
        && matches!(e, ClusterEvent::LocalPause { late_by, .. } if *late_by > secs(5))));
    assert!(net.events().iter().any(|(w, e)| *w == 2
        && matches!(
            e,
            ClusterEvent::Deferred {
                doubt: Doubt::LocalPause,
                ..
            }
        )));
    // The others convict the crash within the detection time: 3 s of silence,
    // 1 s of confirmation, a round or two of gossip lag.
    for o in [1, 3, 4] {
        let t = net.first_change(o, 5, NodeState::Dead).unwrap();
        assert!(t <= at(27), "{o}: {t}");
        assert_eq!(net.member(o).state_of(&2), Some(NodeState::Alive));
    }
}

#[test]
fn a_removed_member_is_not_resurrected_by_same_generation_gossip() {
    let config = GossipConfig::new()
        .with_removal_grace(secs(5))
        .with_quarantine(secs(60));
    let mut net = cluster(8, 4, config);
    net.run_until(at(20));
    net.crash(4);
    net.run_until(at(80));
    let removed = net.events().iter().any(|(w, e)| {
        *w == 1 && matches!(e, ClusterEvent::Removed { member, .. } if member.id == 4)
    });
    assert!(removed);
    assert_eq!(net.member(1).state_of(&4), None);
    assert_eq!(net.member(1).quarantined(), 1);
    // A ghost of member 4, same generation, even at a higher version.
    let mut ghost = phi(4, 0, config);
    for s in 0..200 {
        ghost.tick(at(s));
    }
    while ghost.poll_datagram().is_some() {}
    ghost.join(&[1], at(200));
    let syn = ghost.poll_datagram().unwrap();
    let events = net.events().len();
    assert!(net.inject(4, 1, &syn.bytes));
    assert_eq!(net.member(1).state_of(&4), None);
    assert!(
        net.events()[events..]
            .iter()
            .all(|(w, e)| *w != 1 || e.member().is_none_or(|m| m.id != 4))
    );
    // A restart (higher generation) is let in at once.
    let mut reborn = phi(4, 1, config);
    reborn.join(&[1], at(81));
    let syn = reborn.poll_datagram().unwrap();
    assert!(net.inject(4, 1, &syn.bytes));
    assert_eq!(net.member(1).state_of(&4), Some(NodeState::Alive));
}

#[test]
fn memory_stays_bounded_under_churn() {
    let config = GossipConfig::new()
        .with_max_members(8)
        .with_removal_grace(secs(2))
        .with_quarantine(secs(20))
        .with_confirmation(secs(1))
        // Most tracked members are silent newcomers here: not an isolation.
        .with_guard(LocalGuardConfig::new().with_isolation_share(1.0));
    let mut net = cluster(9, 2, config);
    net.run_until(at(5));
    let mut peak = (0, 0);
    for round in 0..120u64 {
        // Five newcomers a second, each heard of once, then silent.
        for j in 0..5 {
            let id = 1000 + round * 5 + j;
            let mut ghost = phi(id, 0, config);
            ghost.join(&[1], net.now());
            let syn = ghost.poll_datagram().unwrap();
            net.inject(id, 1, &syn.bytes);
        }
        net.run_for(secs(1));
        let m = net.member(1);
        peak = (peak.0.max(m.tracked()), peak.1.max(m.quarantined()));
        assert!(m.tracked() <= 8 && m.quarantined() <= 8, "{m:?}");
    }
    assert_eq!(peak.0, 8);
    assert!(peak.1 > 0);
    assert!(net.member(1).ignored() > 0);
    // Member 2 stayed known throughout.
    assert_eq!(net.member(1).state_of(&2), Some(NodeState::Alive));
}

#[test]
fn large_digests_are_spread_over_rounds_within_the_mtu() {
    let config = GossipConfig::new().with_mtu(128);
    let mut net = cluster(10, 40, config);
    net.run_until(at(40));
    assert_eq!(
        net.decode_errors(),
        0,
        "a datagram over the MTU was refused"
    );
    for o in 1..=40 {
        assert_eq!(net.member(o).members().len(), 39, "{o}");
    }
    assert!(net.bytes_sent() <= net.datagrams_sent() * 128);
}

fn observer_cluster(policy: VerdictPolicy) -> Net<Phi> {
    let config =
        GossipConfig::new().with_observers(Some(ObserverConfig::new().with_policy(policy)));
    let mut net = cluster(11, 10, config);
    net.run_until(at(20));
    net.cut(1, 3);
    net.run_until(at(55));
    net
}

#[test]
fn one_cut_link_is_unreachable_for_any_observer_but_not_for_a_quorum_of_five() {
    let any = observer_cluster(VerdictPolicy::AnyObserver);
    for o in (1..=10).filter(|&o| o != 3) {
        assert_eq!(any.member(o).subjects().len(), 9);
        assert!(
            any.first_change(o, 3, NodeState::Suspect).is_some(),
            "{o} does not see 3 unreachable"
        );
    }
    // The heartbeat answers of 1 to 3 cross the cut link too, so 3 flags 1 as
    // Akka's observers would; no one else is suspected.
    let suspects = any.changes(NodeState::Suspect);
    assert!(
        suspects.iter().all(|&(_, s, _)| s == 3 || s == 1),
        "{suspects:?}"
    );

    let quorum = observer_cluster(VerdictPolicy::Quorum(5));
    let suspects = quorum.changes(NodeState::Suspect);
    assert!(suspects.is_empty(), "{suspects:?}");
    assert!(quorum.changes(NodeState::Dead).is_empty());
}

#[test]
fn observers_convict_a_crash() {
    let config = GossipConfig::new().with_observers(Some(
        ObserverConfig::new().with_policy(VerdictPolicy::Quorum(2)),
    ));
    let mut net = cluster(12, 5, config);
    net.run_until(at(20));
    net.crash(5);
    net.run_until(at(70));
    for o in 1..=4 {
        assert_eq!(net.member(o).state_of(&5), Some(NodeState::Dead), "{o}");
    }
    let dead = net.changes(NodeState::Dead);
    assert!(dead.iter().all(|&(_, s, _)| s == 5), "{dead:?}");
}

/// A crashed member that restarts (a higher generation) is judged afresh by
/// the observers: their flags of its old generation say nothing of the new one,
/// whether it comes back before its old self was removed or after.
#[test]
fn a_restarted_member_is_not_convicted_by_flags_of_its_old_generation() {
    for (restart_at, policy) in [
        (60, VerdictPolicy::AnyObserver),
        (120, VerdictPolicy::AnyObserver),
        (120, VerdictPolicy::Quorum(2)),
    ] {
        let config =
            GossipConfig::new().with_observers(Some(ObserverConfig::new().with_policy(policy)));
        let mut net = cluster(13, 12, config);
        net.run_until(at(20));
        net.crash(5);
        net.run_until(at(restart_at));
        net.restart(phi(5, 2, config));
        net.run_until(at(restart_at + 40));
        for o in (1..=12).filter(|&o| o != 5) {
            assert_eq!(
                net.member(o).state_of(&5),
                Some(NodeState::Alive),
                "{o} at {restart_at}"
            );
        }
        let wrong: Vec<_> = net
            .events()
            .iter()
            .filter(|(_, e)| {
                matches!(e, ClusterEvent::Changed { member, to, .. }
                    if *to != NodeState::Alive && (member.id != 5 || member.generation == 2))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "restart at {restart_at}, {policy:?}: {wrong:?}"
        );
    }
}

/// A valid Syn from member 2 to member 1 of a running cluster.
fn valid_syn() -> Vec<u8> {
    let mut m = phi(2, 3, GossipConfig::new());
    m.join(&[1], at(0));
    let mut a = phi(7, 0, GossipConfig::new());
    a.join(&[2], at(0));
    let syn = a.poll_datagram().unwrap();
    m.handle_datagram(&7, &syn.bytes, at(1)).unwrap();
    for s in 2..10 {
        m.tick(at(s));
    }
    while m.poll_datagram().is_some() {}
    m.join(&[1], at(10));
    m.poll_datagram().unwrap().bytes
}

/// Valid datagrams from member 2 of every kind: a Syn, a hand-encoded Ack
/// with a reachability record, a heartbeat request and its answer.
fn valid_datagrams() -> Vec<Vec<u8>> {
    use failure_detector::cluster::wire::{put_header, put_varint};
    let mut ack = Vec::new();
    put_header(&mut ack, 0x02);
    for v in [2, 3, 9, 1, 2, 3, 4, 2, 5, 0, 6, 0, 2, 5, 0, 1, 6, 0, 2] {
        // sender 2#3 at version 9; one record: observer 2#3, version 4,
        // flagging 5#0 and 6#0; two entries: 5#0 v1, 6#0 v2.
        put_varint(&mut ack, v);
    }
    let ping = |kind| {
        let mut out = Vec::new();
        put_header(&mut out, kind);
        for v in [2, 3, 77] {
            put_varint(&mut out, v);
        }
        out
    };
    vec![valid_syn(), ack, ping(0x03), ping(0x04)]
}

#[test]
fn every_kind_of_valid_datagram_is_accepted() {
    for bytes in valid_datagrams() {
        let mut m = phi(1, 0, GossipConfig::new());
        m.handle_datagram(&2, &bytes, at(1)).unwrap();
    }
    let observers = GossipConfig::new().with_observers(Some(ObserverConfig::new()));
    let mut m = phi(1, 0, observers);
    m.handle_datagram(&2, &valid_datagrams()[1], at(1)).unwrap();
    assert_eq!(m.members().len(), 3);
}

#[test]
fn bad_datagrams_leave_the_member_unchanged() {
    let mut net = cluster(13, 3, GossipConfig::new());
    net.run_until(at(10));
    let before = net.member(1).members();
    let events = net.events().len();
    let sent = net.datagrams_sent();
    let syn = valid_syn();
    let mut too_long = syn.clone();
    too_long.resize(1401, 0);
    let bad: Vec<(u64, Vec<u8>)> = vec![
        (2, vec![]),
        (2, vec![0xFE, 1, 1]),
        (2, vec![0xFD, 2, 1]),
        (2, vec![0xFD, 1, 0x10]),
        (2, syn[..syn.len() - 1].to_vec()),
        (2, [&syn[..], &[0][..]].concat()),
        (3, syn.clone()), // names 2 as its sender
        (2, too_long),
    ];
    for (from, bytes) in &bad {
        assert!(!net.inject(*from, 1, bytes), "{bytes:?}");
    }
    assert_eq!(net.decode_errors(), bad.len() as u64);
    assert_eq!(net.member(1).members(), before);
    assert_eq!(net.events().len(), events);
    assert_eq!(net.datagrams_sent(), sent);
    let e = net
        .member_mut(1)
        .handle_datagram(&3, &syn, at(10))
        .unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::WrongSender);
    // The valid one is taken.
    assert!(net.inject(2, 1, &syn));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut m = phi(1, 0, GossipConfig::new());
        if let Err(e) = m.handle_datagram(&2, &bytes, at(1)) {
            prop_assert!(e.offset <= bytes.len());
            prop_assert!(m.members().is_empty());
            prop_assert!(m.poll_datagram().is_none() && m.poll_event().is_none());
        }
    }

    #[test]
    fn mutated_datagrams_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut bytes = valid_datagrams().swap_remove(which);
        for (i, b, op) in edits {
            let i = i % (bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        let mut m = phi(1, 0, GossipConfig::new());
        if let Err(e) = m.handle_datagram(&2, &bytes, at(1)) {
            prop_assert!(e.offset <= bytes.len());
            prop_assert!(m.members().is_empty());
            prop_assert!(m.poll_event().is_none());
        }
    }
}

#[test]
fn stale_and_replayed_digests_add_no_samples() {
    let mut a = phi(1, 0, GossipConfig::new());
    let mut b = phi(2, 0, GossipConfig::new());
    b.join(&[1], at(0));
    let first = b.poll_datagram().unwrap().bytes;
    a.handle_datagram(&2, &first, at(1)).unwrap();
    b.tick(at(1));
    let second = b.poll_datagram().unwrap().bytes;
    a.handle_datagram(&2, &second, at(2)).unwrap();
    let samples = a.detector_info(&2, at(2)).unwrap().stats.samples;
    // Replays of both, and a duplicate, later: nothing new.
    for (s, bytes) in [(3, &first), (4, &second), (5, &second)] {
        a.handle_datagram(&2, bytes, at(s)).unwrap();
    }
    let info = a.detector_info(&2, at(5)).unwrap();
    assert_eq!(info.stats.samples, samples);
    assert_eq!(info.last_heartbeat, Some(at(2)));
}

#[test]
fn the_guard_config_is_used() {
    let config =
        GossipConfig::new().with_guard(LocalGuardConfig::new().with_max_local_pause(secs(1)));
    let mut m = phi(1, 0, config);
    m.tick(at(0));
    m.tick(at(3)); // due at 1 s: 2 s late
    let pause =
        std::iter::from_fn(|| m.poll_event()).any(|e| matches!(e, ClusterEvent::LocalPause { .. }));
    assert!(pause);
}

/// With a fast detector (Akka's phi with a 1.5 s acceptable pause) and a 2 s
/// confirmation, the first convictions of a 2|3 partition of 50 fall due before
/// the minority suspects more than half its peers; members silent for two
/// rounds count toward isolation, so the minority sees the partition whole in
/// time and convicts no majority member.
#[test]
fn with_a_fast_detector_the_minority_of_a_2_3_partition_of_50_convicts_no_one() {
    use failure_detector::{PhiAccrual, PhiAccrualConfig};
    let (n, small) = (50u64, 20u64);
    let mut net = Net::new(5);
    for id in 1..=n {
        let phi = PhiAccrual::new(
            PhiAccrualConfig::new()
                .with_acceptable_heartbeat_pause(Duration::from_millis(1_500))
                .with_max_sample_size(100),
        )
        .unwrap();
        let config = GossipConfig::new()
            .with_confirmation(secs(2))
            .with_seed(id * 7919);
        net.add(GossipMember::with_detector(Member::new(id, 0), config, phi).unwrap());
    }
    net.join_all();
    net.run_until(at(30));
    net.check_two_sided_partition(n, small, at(60));
}

/// A member that fell silent and is then suspected counts once toward isolation,
/// not twice (once as silent at the last round, once as suspect) until the next
/// round: with one member dead, a second crash among the three peers left is
/// not "most peers in doubt".
#[test]
fn a_suspected_member_is_not_also_counted_silent() {
    for seed in 0..3 {
        let mut net = cluster(seed, 5, GossipConfig::new());
        net.run_until(at(20));
        net.crash(5);
        net.run_until(at(60));
        net.crash(4);
        net.run_until(at(100));
        for o in 1..=3 {
            assert_eq!(net.member(o).state_of(&4), Some(NodeState::Dead), "{o}");
            let isolated: Vec<_> = net
                .events()
                .iter()
                .filter(|(w, e)| *w == o && matches!(e, ClusterEvent::Isolated { .. }))
                .collect();
            assert!(isolated.is_empty(), "seed {seed}, member {o}: {isolated:?}");
        }
    }
}
