//! Five members in five processes over loopback UDP, through a relay that
//! loses 5% of the datagrams and delays each by 1 ms plus up to 20 ms (so
//! they reorder). One member is SIGKILLed, another is frozen (SIGSTOP) for
//! 7 s, the killed one restarts with a higher generation.
//!
//! The members run in gossip mode with a fixed-timeout detector (see
//! `support/procs.rs` for every timing and the detection bound's formula).
//! Gossip is chosen because its guarantees here hold by design: a crashed
//! member's versions stop, so every survivor suspects it `SILENCE` after the
//! last one reached it and convicts it `CONFIRMATION` later; a healthy
//! member's versions reach each observer along `fanout` = 3 random paths a
//! round, so 5% loss never silences it for 1.5 s; the frozen member is
//! convicted by the others (it was silent past the bound) but stays
//! tombstoned for 30 s, so the versions it gossips on waking bring it back
//! (Dead to Alive, same generation); on waking its own loop is 7 s late, so
//! its local pause guard holds every conviction while the datagrams queued
//! in its socket refresh its view; the restarted member's higher generation
//! is accepted at once (a Restarted event), quarantine or not.
//!
//! Members are this test binary re-executed: `member_process` runs a member
//! when the environment variable `FD_CLUSTER_UDP_MEMBER` holds its
//! arguments, and returns at once otherwise. Every port is chosen by the
//! system; every child is killed when the cluster is dropped (on failure
//! too); members also exit when their stdin closes or after 60 s.

#[allow(dead_code)]
#[path = "support/procs.rs"]
mod procs;

use std::process::Command;
use std::time::Duration;

use failure_detector::NodeState;
use failure_detector::net::RelayConfig;
use procs::{Cluster, Ev, Line, MemberArgs, Mode, all_know_all, first_change, verdict};

const ENV: &str = "FD_CLUSTER_UDP_MEMBER";

/// The member process (does nothing in a normal test run).
#[test]
fn member_process() {
    let Ok(args) = std::env::var(ENV) else {
        return;
    };
    let args: Vec<String> = args.split(' ').map(String::from).collect();
    let code = match MemberArgs::parse(&args).and_then(|a| procs::run_member(&a)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("member process: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn s(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn dump(log: &[Line]) -> String {
    log.iter()
        .filter(|l| !matches!(l.ev, Ev::Joined(..) | Ev::Ready(_)))
        .map(|l| {
            format!(
                "  {:>8} member {}#{}: {:?}\n",
                s(l.at),
                l.who,
                l.generation,
                l.ev
            )
        })
        .collect()
}

#[test]
fn kill_freeze_restart_over_udp_through_a_lossy_relay() {
    scenario(Mode::Gossip);
}

/// The same story with SWIM probes. Not run by default: SWIM's detection
/// time is random (its bound in `procs.rs` is approximate), and with 100 ms
/// probe timeouts a loaded CI machine could delay an ack past it often enough
/// to make a false conviction possible. Run with `--ignored`.
#[test]
#[ignore = "SWIM's bound is approximate; run by hand with --ignored"]
fn kill_freeze_restart_with_probes() {
    scenario(Mode::Probes);
}

/// The same story with all-to-all heartbeats (run with `--ignored`; it
/// holds by the same design as gossip, without the relaying, so it adds
/// little but time to CI).
#[test]
#[ignore = "adds 12 s to CI for little coverage; run by hand with --ignored"]
fn kill_freeze_restart_all_to_all() {
    scenario(Mode::AllToAll);
}

fn scenario(mode: Mode) {
    const N: u64 = 5;
    const KILLED: u64 = 5;
    const FROZEN: u64 = 2;
    let delay = Duration::from_millis(1);
    let jitter = Duration::from_millis(20);
    let relay = RelayConfig::new()
        .with_loss(0.05)
        .with_delay(delay)
        .with_jitter(jitter)
        .with_seed(10);
    let exe = std::env::current_exe().expect("the test binary's path");
    let spawner = Box::new(move |args: &MemberArgs| {
        let mut c = Command::new(&exe);
        c.args([
            "member_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ENV, args.to_args().join(" "));
        c
    });
    let mut cluster = Cluster::new(relay, mode, N, Duration::from_secs(60), spawner)
        .expect("a relay on loopback");
    let (bound, formula) = mode.detection_bound(N, delay + jitter);
    for id in 1..=N {
        cluster.spawn(id, 1).expect("a member process");
    }
    let all: Vec<u64> = (1..=N).collect();
    let joined = cluster
        .wait_for(cluster.now() + Duration::from_secs(15), |log| {
            all_know_all(log, &all)
        })
        .unwrap();
    assert!(joined, "the members never all met:\n{}", dump(&cluster.log));
    cluster
        .pump_until(cluster.now() + Duration::from_secs(1))
        .unwrap();

    // SIGKILL member 5: every survivor declares it dead within the bound.
    let t_kill = cluster.now();
    cluster.kill(KILLED);
    let survivors = [1, 2, 3, 4];
    cluster
        .wait_for(t_kill + bound + Duration::from_secs(2), |log| {
            survivors
                .iter()
                .all(|&o| first_change(log, o, KILLED, 1, NodeState::Dead, t_kill).is_some())
        })
        .unwrap();
    for o in survivors {
        let t = first_change(&cluster.log, o, KILLED, 1, NodeState::Dead, t_kill);
        assert!(
            t.is_some_and(|t| t - t_kill <= bound),
            "member {o} declared the killed member dead at {:?} (killed at {}, bound {formula}):\n{}",
            t.map(s),
            s(t_kill),
            dump(&cluster.log)
        );
    }

    // Freeze member 2 for 7 s; restart member 5 (generation 2) meanwhile.
    let t_freeze = cluster.now();
    cluster.stop(FROZEN).unwrap();
    cluster
        .pump_until(t_freeze + Duration::from_secs(2))
        .unwrap();
    cluster.spawn(KILLED, 2).unwrap();
    cluster
        .pump_until(t_freeze + Duration::from_secs(7))
        .unwrap();
    let t_wake = cluster.now();
    cluster.resume(FROZEN).unwrap();
    let others = [1, 3, 4, 5];
    let settled = |log: &[Line]| {
        others
            .iter()
            .all(|&o| verdict(log, o, FROZEN) == Some((1, NodeState::Alive)))
            && [1, 2, 3, 4]
                .iter()
                .all(|&o| verdict(log, o, KILLED) == Some((2, NodeState::Alive)))
    };
    let ok = cluster
        .wait_for(t_wake + Duration::from_secs(8), settled)
        .unwrap();
    // A little more, to see no late false verdict.
    cluster
        .pump_until(cluster.now() + Duration::from_secs(1))
        .unwrap();
    let log = cluster.log.clone();
    let timeline = dump(&log);
    assert!(
        ok,
        "after waking at {}, member 2 was not back everywhere or 5#2 not accepted everywhere:\n{timeline}",
        s(t_wake)
    );

    // No healthy member was ever declared dead: only 5#1 after its kill,
    // and 2 by the others while it was frozen.
    let grace = Duration::from_millis(500);
    for l in &log {
        if let Ev::Changed(subject, generation, _, NodeState::Dead) = l.ev {
            let killed = (subject, generation) == (KILLED, 1) && l.at >= t_kill;
            let frozen = (subject, generation) == (FROZEN, 1)
                && l.who != FROZEN
                && l.at >= t_freeze
                && l.at <= t_wake + grace;
            assert!(
                killed || frozen,
                "member {}#{} declared {subject}#{generation} dead at {}:\n{timeline}",
                l.who,
                l.generation,
                s(l.at)
            );
        }
    }

    // The frozen member, on waking, saw its own pause and declared no one
    // dead (checked above), and rejoined (checked by `settled`).
    assert!(
        log.iter().any(|l| l.who == FROZEN
            && l.at >= t_wake
            && matches!(l.ev, Ev::Pause(late, _) if late >= Duration::from_secs(5))),
        "member 2 reported no local pause on waking:\n{timeline}"
    );

    // The restarted member was accepted with its new generation.
    for o in [1, 2, 3, 4] {
        assert!(
            log.iter()
                .any(|l| l.who == o && l.ev == Ev::Restarted(KILLED, 2, 1)),
            "member {o} did not report 5's restart:\n{timeline}"
        );
    }
    let relay = cluster.relay().stats().unwrap();
    assert!(relay.lost > 0 && relay.forwarded > 200, "{relay:?}");
    println!("bound: {formula}\n{timeline}\nrelay: {relay:?}");
}
