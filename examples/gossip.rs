//! Decentralized detection in one process: a few dozen members gossip heartbeat
//! versions (or probe each other, SWIM-style) over a lossy in-memory network, on a virtual clock (no sleeping, no
//! sockets; the same seed gives the same run). One member crashes, one is frozen
//! for 7 s (a stop-the-world pause), the crashed one restarts; each member's
//! conclusions are printed with the instant it drew them.
//!
//! ```text
//! cargo run --release --example gossip                 # 24 members, plain gossip
//! cargo run --release --example gossip -- 40 observers # 40 members, Akka-style observers
//! cargo run --release --example gossip -- 40 probes    # 40 members, SWIM with Lifeguard
//! ```

// The same in-memory network the behaviour tests use.
#[allow(dead_code)]
#[path = "../tests/support/net.rs"]
mod net;

use std::error::Error;
use std::time::Duration;

use failure_detector::ConfigError;
use failure_detector::cluster::gossip::{GossipConfig, GossipMember, ObserverConfig};
use failure_detector::cluster::{ClusterEvent, ClusterMember, Member, SwimConfig, SwimMember};
use failure_detector::{NodeState, Timestamp};
use net::Net;

const CRASHED: u64 = 5;
const FROZEN: u64 = 7;
const SEED: u64 = 2026;

fn secs(t: Timestamp) -> f64 {
    t.as_nanos() as f64 / 1e9
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = match args.next() {
        Some(a) => a
            .parse()
            .map_err(|_| format!("members: expected 8 to 200, got {a:?}"))?,
        None => 24,
    };
    if !(8..=200).contains(&n) {
        return Err(format!("members: expected 8 to 200, got {n}").into());
    }
    let mode = args.next().unwrap_or_else(|| "gossip".into());
    let gossip = |observers: bool| {
        move |id: u64, generation: u64| {
            let c = GossipConfig::new().with_seed(SEED ^ id);
            let c = if observers {
                c.with_observers(Some(ObserverConfig::new()))
            } else {
                c
            };
            GossipMember::new(Member::new(id, generation), c)
        }
    };
    match mode.as_str() {
        "gossip" => run(
            n,
            "gossip (every member judges every member)",
            gossip(false),
        ),
        "observers" => run(
            n,
            "observer (9 observers per member, any observer)",
            gossip(true),
        ),
        "probes" => run(
            n,
            "probe (SWIM with Lifeguard, memberlist's LAN constants)",
            |id, generation| {
                SwimMember::new(
                    Member::new(id, generation),
                    SwimConfig::lan().with_seed(SEED ^ id),
                )
            },
        ),
        other => Err(format!("mode: `gossip`, `observers` or `probes`, got {other:?}").into()),
    }
}

/// Runs the story with members made by `make(id, generation)`.
fn run<M: ClusterMember<u64>>(
    n: u64,
    mode: &str,
    make: impl Fn(u64, u64) -> Result<M, ConfigError>,
) -> Result<(), Box<dyn Error>> {
    let mut net = Net::new(SEED);
    for id in 1..=n {
        net.add(make(id, 1)?);
    }
    net.set_loss(0.05);
    net.set_delay(Duration::from_millis(1), Duration::from_millis(20));
    net.join_all();
    println!(
        "{n} members, {mode} mode, 5% loss, 1-20 ms delay; member {CRASHED} crashes at 30 s, \
         member {FROZEN} is frozen from 60 s to 67 s, member {CRASHED} restarts at 120 s.\n",
    );

    let crash_at = Timestamp::from_secs(30);
    net.run_until(crash_at);
    net.crash(CRASHED);
    let freeze_at = Timestamp::from_secs(60);
    net.run_until(freeze_at);
    net.pause(FROZEN, Duration::from_secs(7));
    let restart_at = Timestamp::from_secs(120);
    net.run_until(restart_at);
    let (sent, bytes) = (net.datagrams_sent(), net.bytes_sent());
    net.restart(make(CRASHED, 2)?);
    net.run_until(Timestamp::from_secs(140));

    println!("What each survivor concluded about member {CRASHED} (crashed at 30.0 s):");
    let mut dead_times = Vec::new();
    for id in (1..=n).filter(|&id| id != CRASHED) {
        let suspect = net.first_change_since(id, CRASHED, NodeState::Suspect, crash_at);
        let dead = net.first_change_since(id, CRASHED, NodeState::Dead, crash_at);
        let show =
            |t: Option<Timestamp>| t.map_or("never".to_string(), |t| format!("{:6.1} s", secs(t)));
        println!(
            "  member {id:3}: suspect at {}, dead at {}",
            show(suspect),
            show(dead)
        );
        dead_times.extend(dead);
    }
    dead_times.sort();
    if let (Some(first), Some(last)) = (dead_times.first(), dead_times.last()) {
        println!(
            "  {} of {} declared it dead, {:.1} s to {:.1} s after the crash.\n",
            dead_times.len(),
            n - 1,
            secs(*first) - 30.0,
            secs(*last) - 30.0
        );
    }

    println!("What member {FROZEN} concluded after its 7 s freeze:");
    for (_, e) in net
        .events()
        .iter()
        .filter(|(o, e)| *o == FROZEN && e.at() >= freeze_at)
    {
        match e {
            ClusterEvent::LocalPause { late_by, at, until } => println!(
                "  {:6.1} s  my own loop ran {:.1} s late: convicting no one until {:.1} s",
                secs(*at),
                late_by.as_secs_f64(),
                secs(*until)
            ),
            ClusterEvent::Changed {
                member,
                from,
                to,
                at,
            } => {
                println!(
                    "  {:6.1} s  member {}#{}: {from} -> {to}",
                    secs(*at),
                    member.id,
                    member.generation
                )
            }
            ClusterEvent::Deferred { member, doubt, at } => println!(
                "  {:6.1} s  member {}: conviction deferred ({doubt:?})",
                secs(*at),
                member.id
            ),
            ClusterEvent::Refuted { incarnation, at } => println!(
                "  {:6.1} s  others suspected me: refuted with incarnation {incarnation}",
                secs(*at)
            ),
            ClusterEvent::Removed { member, at } => {
                println!(
                    "  {:6.1} s  member {}: removed (tombstone expired)",
                    secs(*at),
                    member.id
                )
            }
            ClusterEvent::Joined { member, at } => println!(
                "  {:6.1} s  member {} (generation {}) joined",
                secs(*at),
                member.id,
                member.generation
            ),
            other => println!("  {:6.1} s  {other:?}", secs(other.at())),
        }
    }

    let mut false_dead = 0;
    let mut suspected_frozen = 0;
    for (o, e) in net.events() {
        if let ClusterEvent::Changed { member, to, .. } = e {
            // Only the first generation of the crashed member really died.
            if *to == NodeState::Dead && (member.id, member.generation) != (CRASHED, 1) {
                false_dead += 1;
                println!(
                    "  false verdict: member {o} declared member {}#{} dead at {:.1} s",
                    member.id,
                    member.generation,
                    secs(e.at())
                );
            }
            if *to == NodeState::Suspect && member.id == FROZEN && *o != FROZEN {
                suspected_frozen += 1;
            }
        }
    }
    println!(
        "\nOthers suspected the frozen member {suspected_frozen} time(s); healthy members \
         declared dead: {false_dead}."
    );

    let rejoined = (1..=n)
        .filter(|&id| id != CRASHED)
        .filter(|&id| {
            net.events().iter().any(|(o, e)| {
                *o == id
                    && matches!(e, ClusterEvent::Restarted { member, .. } | ClusterEvent::Joined { member, .. }
                        if member.id == CRASHED && member.generation == 2)
            })
        })
        .count();
    println!(
        "Member {CRASHED} restarted as generation 2 at 120 s: {rejoined} of {} members took it back by 140 s.",
        n - 1
    );
    println!(
        "Cost: {:.1} datagrams and {:.0} bytes per member per second (first 120 s).",
        sent as f64 / n as f64 / 120.0,
        bytes as f64 / n as f64 / 120.0
    );
    Ok(())
}
