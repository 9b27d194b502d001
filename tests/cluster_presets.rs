//! The presets on the in-memory network harness: each crashes a member and
//! checks the window its source documents; the SWIM presets' constants are
//! checked against memberlist's and foca's.

mod support;

use std::time::Duration;

use failure_detector::cluster::presets::{self, Measure, Preset, PresetTopology};
use failure_detector::cluster::{ClusterEvent, Member, SwimConfig, SwimMember};
use failure_detector::{NodeState, Timestamp};
use support::net::Net;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Timestamp {
    Timestamp::from_millis(m)
}

fn window(p: Preset, measure: Measure, n: usize) -> presets::DetectionWindow {
    p.windows(n)
        .into_iter()
        .find(|w| w.measure == measure)
        .unwrap_or_else(|| panic!("{} has no {measure:?} window", p.name()))
}

/// Crashes member `victim` of a central preset's cluster at `crash`; returns
/// the monitor's (Suspect, Dead) instants.
fn central_crash(
    p: &presets::CentralPreset,
    seed: u64,
    n: u64,
    crash: Timestamp,
    until: Timestamp,
) -> (Timestamp, Timestamp) {
    let mut net = Net::new(seed);
    net.add(p.monitor(Member::new(1u64, 0)).unwrap());
    for id in 2..=n {
        net.add(p.member(Member::new(id, 0), 1).unwrap());
    }
    net.join_all();
    net.run_until(crash);
    net.crash(n);
    net.run_until(until);
    let suspect = net.first_change(1, n, NodeState::Suspect).unwrap();
    let dead = net.first_change(1, n, NodeState::Dead).unwrap();
    // Nobody else was suspected; the members heard of it from the acks.
    for (o, e) in net.events() {
        if let ClusterEvent::Changed { member, .. } = e {
            assert_eq!(member.id, n, "{o}: {e:?}");
        }
    }
    let learned = net.first_change(2, n, NodeState::Dead).unwrap();
    assert!(
        learned >= dead && learned.saturating_duration_since(dead) <= p.config.heartbeat_interval
    );
    (suspect, dead)
}

#[test]
fn zookeeper_a_60_s_request_is_clamped_to_40_s() {
    let tick = presets::ZOOKEEPER_TICK;
    assert_eq!(tick, secs(2));
    let t = presets::zookeeper_negotiated_timeout;
    assert_eq!(t(tick, secs(60)), secs(40));
    assert_eq!(t(tick, secs(1)), secs(4));
    assert_eq!(t(tick, secs(30)), secs(30));
    let p = presets::zookeeper_session(tick, secs(60)).unwrap();
    assert_eq!(p.detector.timeout(), secs(40));
    assert_eq!(p.config.check_period, tick);
    assert_eq!(p.config.heartbeat_interval, secs(40) / 3);
    assert_eq!(p.config.confirmation, Duration::ZERO);
}

#[test]
fn zookeeper_a_session_expires_within_2t_3_and_t_plus_a_tick() {
    let p = presets::zookeeper_session(presets::ZOOKEEPER_TICK, secs(60)).unwrap();
    let w = window(Preset::ZooKeeper, Measure::CrashToDead, 4);
    assert_eq!(
        (w.min, w.max),
        (Duration::from_nanos(26_666_666_666), secs(42))
    );
    let mut seen = Vec::new();
    for seed in 0..6u64 {
        // Crashes at several phases of the 13.3 s ping period.
        let crash = ms(60_000 + seed * 2_300);
        let (suspect, dead) = central_crash(&p, seed, 4, crash, ms(200_000));
        assert_eq!(suspect, dead, "expiry is final");
        assert_eq!(dead.as_nanos() % 2_000_000_000, 0, "on a tick: {dead}");
        let d = dead.saturating_duration_since(crash);
        assert!(w.contains(d), "seed {seed}: {d:?}");
        seen.push(d);
    }
    // The window is used, not just respected: early and late phases.
    assert!(seen.iter().any(|d| *d < secs(34)), "{seen:?}");
    assert!(seen.iter().any(|d| *d > secs(36)), "{seen:?}");
}

#[test]
fn kubernetes_not_ready_within_40_55_s_and_evicted_300_s_later() {
    for (preset, p) in [
        (
            Preset::Kubernetes,
            presets::kubernetes_node_lease().unwrap(),
        ),
        (
            Preset::KubernetesLegacy,
            presets::kubernetes_node_lease_legacy().unwrap(),
        ),
    ] {
        let w = window(preset, Measure::CrashToSuspect, 4);
        let legacy = preset == Preset::KubernetesLegacy;
        let expected = if legacy { (30, 45) } else { (40, 55) };
        assert_eq!((w.min, w.max), (secs(expected.0), secs(expected.1)));
        for seed in 0..4u64 {
            let crash = ms(100_000 + seed * 2_700);
            let (not_ready, evicted) = central_crash(&p, seed, 4, crash, ms(600_000));
            let d = not_ready.saturating_duration_since(crash);
            assert!(w.contains(d), "{} seed {seed}: {d:?}", preset.name());
            assert_eq!(not_ready.as_nanos() % 5_000_000_000, 0, "{not_ready}");
            assert_eq!(evicted.saturating_duration_since(not_ready), secs(300));
        }
    }
}

/// Crashes the last of `n` Cassandra members at `crash`; returns, per
/// observer, the conviction's delay after the crash, the observer's mean
/// interval between new versions of the crashed member, and how long after
/// the crash the last new version reached it.
fn cassandra_run(seed: u64, n: u64, crash: Timestamp) -> Vec<(Duration, f64, Duration)> {
    let p = presets::cassandra().unwrap();
    let mut net = Net::new(seed);
    for id in 1..=n {
        net.add(p.member(Member::new(id, 0), id * 31 + seed).unwrap());
    }
    net.join_all();
    net.run_until(crash);
    net.crash(n);
    net.run_until(crash.saturating_add(secs(40)));
    let suspects = net
        .events()
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                ClusterEvent::Changed {
                    to: NodeState::Suspect,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        suspects as u64,
        n - 1,
        "only the crashed member is suspected"
    );
    (1..n)
        .map(|o| {
            let dead = net.first_change(o, n, NodeState::Dead).unwrap();
            let info = net.member(o).detector_info(&n, dead).unwrap();
            let last = info
                .last_heartbeat
                .unwrap()
                .saturating_duration_since(crash);
            (
                dead.saturating_duration_since(crash),
                info.stats.mean_ns / 1e9,
                last,
            )
        })
        .collect()
}

#[test]
fn cassandra_convicts_at_18_4_s() {
    let p = presets::cassandra().unwrap();
    assert_eq!(p.config.gossip_interval, secs(1));
    assert_eq!(p.config.fanout, 1);
    assert_eq!(p.config.confirmation, Duration::ZERO);
    assert_eq!(p.config.guard.max_local_pause, secs(5));
    let fd = p.detector.config();
    assert_eq!(fd.threshold, 8.0);
    assert_eq!(
        (fd.window_size, fd.max_interval, fd.initial_interval),
        (1000, secs(2), secs(2))
    );
    let w = window(Preset::Cassandra, Measure::CrashToDead, 2);
    assert_eq!(
        (w.min, w.max),
        (Duration::from_millis(17_400), Duration::from_millis(19_400))
    );
    // A new version every second (two members: each round's digest goes to
    // the other): convicted 8 ln 10 = 18.4 s after the crash, +- 1 s.
    for seed in 0..4u64 {
        for (d, _, _) in cassandra_run(seed, 2, ms(120_000 + seed * 300)) {
            assert!(w.contains(d), "seed {seed}: {d:?}");
        }
    }
    // With more members, one partner per round brings a member's versions to
    // an observer less regularly (some are skipped): the mean interval is
    // above a second and the conviction comes 8 ln 10 mean intervals after
    // the last new version, which reached the observer within about a
    // second of the crash.
    let mut all = Vec::new();
    for seed in 0..3u64 {
        for (d, mean, last) in cassandra_run(seed, 5, ms(120_000 + seed * 300)) {
            assert!(mean > 1.0 && mean < 1.5, "seed {seed}: {mean}");
            assert!(last < secs(4), "seed {seed}: {last:?}");
            let nominal = 8.0 * std::f64::consts::LN_10 * mean;
            assert!(
                d.as_secs_f64() > 17.4 && d.as_secs_f64() < nominal + 4.0,
                "seed {seed}: {d:?}"
            );
            all.push((d.as_secs_f64(), mean, last.as_secs_f64()));
        }
    }
    eprintln!(
        "cassandra at N = 5 (conviction, mean interval, last version after the crash): {all:?}"
    );
}

#[test]
fn akka_unreachable_after_3_5_to_5_5_s_and_downed_20_s_later() {
    let p = presets::akka().unwrap();
    assert_eq!(p.config.confirmation, presets::AKKA_STABLE_AFTER);
    assert_eq!(p.config.observers.map(|o| o.monitored_by), Some(9));
    let cfg = p.detector.config();
    assert_eq!(cfg.threshold, 8.0);
    assert_eq!(cfg.max_sample_size, 1000);
    assert_eq!(cfg.min_std_deviation, Duration::from_millis(100));
    assert_eq!(cfg.acceptable_heartbeat_pause, secs(3));
    let unreachable = window(Preset::Akka, Measure::CrashToSuspect, 6);
    let downed = window(Preset::Akka, Measure::CrashToDead, 6);
    assert_eq!(
        (unreachable.min, unreachable.max),
        (Duration::from_millis(3_500), Duration::from_millis(5_500))
    );
    let mut all = Vec::new();
    for seed in 0..4u64 {
        let mut net = Net::new(seed);
        for id in 1..=6u64 {
            net.add(p.member(Member::new(id, 0), id * 17 + seed).unwrap());
        }
        net.join_all();
        let crash = ms(60_000 + seed * 250);
        net.run_until(crash);
        net.crash(6);
        net.run_until(ms(120_000));
        for o in 1..=5 {
            let suspect = net.first_change(o, 6, NodeState::Suspect).unwrap();
            let dead = net.first_change(o, 6, NodeState::Dead).unwrap();
            let d = suspect.saturating_duration_since(crash);
            assert!(unreachable.contains(d), "seed {seed}, member {o}: {d:?}");
            assert!(downed.contains(dead.saturating_duration_since(crash)));
            assert_eq!(dead.saturating_duration_since(suspect), secs(20));
            all.push(d.as_secs_f64());
        }
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    eprintln!("akka unreachable after {mean:.2} s on average: {all:?}");
}

#[test]
fn memberlist_presets_are_memberlists_constants() {
    let lan = presets::memberlist_lan();
    assert_eq!(lan, SwimConfig::lan());
    assert_eq!(
        (lan.probe_interval, lan.probe_timeout, lan.indirect_checks),
        (secs(1), Duration::from_millis(500), 3)
    );
    assert_eq!((lan.retransmit_mult, lan.suspicion_mult), (4, 4));
    assert_eq!(lan.suspicion_max_timeout_mult, 6);
    assert_eq!(lan.awareness_max_multiplier, 8);
    let wan = presets::memberlist_wan();
    assert_eq!(
        (wan.probe_interval, wan.probe_timeout, wan.suspicion_mult),
        (secs(5), secs(3), 6)
    );
    let local = presets::memberlist_local();
    assert_eq!(
        (
            local.probe_timeout,
            local.indirect_checks,
            local.retransmit_mult
        ),
        (Duration::from_millis(200), 1, 2)
    );
    assert_eq!(local.suspicion_mult, 3);
    // The golden suspicion windows of issue 8 (LAN).
    for (n, min, max) in [(10, 4, 24), (100, 8, 48), (1000, 12, 72)] {
        let w = window(Preset::MemberlistLan, Measure::SuspicionTimeout, n);
        assert_eq!((w.min, w.max), (secs(min), secs(max)), "{n}");
    }
    let w = window(Preset::MemberlistWan, Measure::SuspicionTimeout, 10);
    assert_eq!((w.min, w.max), (secs(30), secs(180)));
}

#[test]
fn foca_presets_are_focas_constants() {
    let lan = presets::foca_lan();
    assert_eq!(
        (lan.probe_interval, lan.probe_timeout, lan.indirect_checks),
        (secs(1), Duration::from_millis(500), 3)
    );
    assert_eq!(lan.mtu, 1400);
    assert_eq!(lan.tombstone_grace, secs(24 * 3600));
    assert_eq!(lan.awareness_max_multiplier, 1);
    let wan = presets::foca_wan();
    assert_eq!(
        (wan.probe_interval, wan.probe_timeout, wan.indirect_checks),
        (secs(5), secs(3), 3)
    );
    assert!(lan.validate().is_ok() && wan.validate().is_ok());
    // suspect_to_down_after: max(1, log10 N) x 4 (LAN) or 6 (WAN) x period,
    // fixed (no Lifeguard shrinking): our minimum and maximum equal it.
    for n in [3u32, 10, 100, 1000] {
        for (p, c, mult) in [(Preset::FocaLan, lan, 4.0), (Preset::FocaWan, wan, 6.0)] {
            let foca = presets::foca_suspect_to_down_after(n, c.probe_interval, mult);
            let w = window(p, Measure::SuspicionTimeout, n as usize);
            assert_eq!(w.min, w.max);
            let diff = w.min.abs_diff(foca);
            assert!(
                diff < Duration::from_millis(5),
                "{n}: {:?} vs {foca:?}",
                w.min
            );
        }
    }
    assert_eq!(
        presets::foca_suspect_to_down_after(10, secs(1), 4.0),
        secs(4)
    );
    assert_eq!(
        presets::foca_suspect_to_down_after(10, secs(5), 6.0),
        secs(30)
    );
    assert_eq!(presets::foca_max_transmissions(10), 4);
    assert_eq!(presets::foca_max_transmissions(100), 8);
}

#[test]
fn foca_lan_convicts_a_crash_after_its_fixed_suspicion_timeout() {
    for (preset, c) in [
        (Preset::FocaLan, presets::foca_lan()),
        (Preset::MemberlistLan, presets::memberlist_lan()),
    ] {
        let w = window(preset, Measure::SuspicionTimeout, 5);
        let mut net = Net::new(3);
        for id in 1..=5u64 {
            net.add(SwimMember::new(Member::new(id, 0), c.with_seed(id)).unwrap());
        }
        net.join_all();
        net.run_until(ms(30_000));
        net.crash(5);
        net.run_until(ms(90_000));
        let mut spans = Vec::new();
        for o in 1..=4 {
            let suspect = net.first_change(o, 5, NodeState::Suspect).unwrap();
            let dead = net.first_change(o, 5, NodeState::Dead).unwrap();
            let d = dead.saturating_duration_since(suspect);
            // A member that heard of the suspicion later may hear of the
            // conviction before its own timer ends.
            assert!(d <= w.max, "{}: {o}: {d:?}", preset.name());
            spans.push((suspect, d));
        }
        // The first accuser's own timer ran its course.
        spans.sort();
        assert!(w.contains(spans[0].1), "{}: {spans:?}", preset.name());
    }
}

#[test]
fn the_list_names_every_preset_with_its_source_and_windows() {
    for p in Preset::ALL {
        assert!(!p.name().is_empty() && !p.source().is_empty());
        let windows = p.windows(10);
        assert!(!windows.is_empty());
        assert!(windows.iter().all(|w| w.min <= w.max), "{}", p.name());
        assert_eq!(
            p.swim_config().is_some(),
            p.topology() == PresetTopology::Swim
        );
        assert_eq!(
            p.central().is_some(),
            p.topology() == PresetTopology::Central
        );
    }
}
