//! Failover, the scenario every textbook uses.
//!
//! A coordinator assigns 12 work shards to three nodes that heartbeat every 5 s.
//! Node A stops at 60 s; once it is declared failed its shards are redistributed to
//! the healthy nodes. A comes back at 120 s, rejoins, and gets its share back.
//! Node B has a jittery link and, once, an 11 s pause.
//!
//! The same trace is run twice, on a `ManualClock`, with the time driven the way a
//! real event loop would: sleep until the next heartbeat or until
//! `next_deadline()`, whichever comes first.
//!
//! 1. `FixedTimeout`: suspect after 2 missed heartbeats (10 s), declared failed after
//!    3 (15 s of silence), whatever the link.
//! 2. `PhiAccrual` (Akka's defaults): suspect at phi 8, declared failed at phi 16.
//!    It learns each node's mean and jitter: A's steady link gets a tighter
//!    deadline, B's jittery one a looser deadline.
//!
//! Run with `cargo run --example failover`.

use std::collections::BTreeMap;
use std::time::Duration;

use failure_detector::{
    Confirmation, Event, EventReceiver, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    ManualClock, NodeState, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig, Timestamp,
};

type Node = &'static str;

const NODES: [Node; 3] = ["A", "B", "C"];
const WORK_SHARDS: usize = 12;
const END: Duration = Duration::from_secs(180);

/// A small seeded generator, so the trace is the same on every run.
struct Lcg(u64);

impl Lcg {
    /// Uniform in `[-1, 1)`.
    fn jitter(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Heartbeat arrivals of every node, in time order.
fn trace() -> Vec<(Timestamp, Node)> {
    let mut rng = Lcg(42);
    let mut arrivals = Vec::new();
    let ms = |secs: f64| Timestamp::from_millis((secs * 1000.0).round() as u64);
    for node in NODES {
        let mut t = 1.0;
        while t < END.as_secs_f64() {
            let crashed = node == "A" && (61.0..120.0).contains(&t);
            if !crashed {
                arrivals.push((ms(t), node));
            }
            t += match node {
                "A" if crashed => 120.0 - t, // back at 120 s
                "A" => 5.0 + 0.2 * rng.jitter(),
                // B: 3 to 7 s, and one long pause (a GC, a congested link).
                "B" if (95.0..100.0).contains(&t) => 11.0,
                "B" => 5.0 + 2.0 * rng.jitter(),
                _ => 5.0 + 0.3 * rng.jitter(),
            };
        }
    }
    arrivals.sort();
    arrivals
}

/// Who owns which work shard, and what it does about events.
struct Coordinator {
    owner: BTreeMap<usize, Node>,
    healthy: Vec<Node>,
    false_suspicions: usize,
    moves: usize,
    a_failed_after: Option<Duration>,
    last_heartbeat: BTreeMap<Node, Timestamp>,
}

impl Coordinator {
    fn new() -> Self {
        Coordinator {
            owner: (0..WORK_SHARDS)
                .map(|s| (s, NODES[s % NODES.len()]))
                .collect(),
            healthy: NODES.to_vec(),
            false_suspicions: 0,
            moves: 0,
            a_failed_after: None,
            last_heartbeat: BTreeMap::new(),
        }
    }

    fn shards_of(&self, node: Node) -> Vec<usize> {
        self.owner
            .iter()
            .filter(|&(_, &n)| n == node)
            .map(|(&s, _)| s)
            .collect()
    }

    fn load(&self) -> String {
        NODES
            .iter()
            .map(|n| format!("{n}:{}", self.shards_of(n).len()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn handle(&mut self, event: Event<Node>, crashed: bool) {
        let at = event.at();
        let (node, what) = match event {
            Event::Joined { node, .. } => (node, "joined".to_string()),
            Event::Changed { node, from, to, .. } => {
                let mut what = format!("{from} -> {to}");
                match (from, to) {
                    (_, NodeState::Suspect) => {
                        if !crashed {
                            self.false_suspicions += 1;
                            what += "   (false suspicion: it is only slow)";
                        } else {
                            what += "   (still owns its shards)";
                        }
                    }
                    (_, NodeState::Dead) => {
                        let silence = at - self.last_heartbeat[node];
                        if node == "A" {
                            self.a_failed_after = Some(silence);
                        }
                        what += &format!(
                            "   FAILED {:.1} s after its last heartbeat",
                            silence.as_secs_f64()
                        );
                        self.healthy.retain(|&n| n != node);
                        self.redistribute(node, &mut what);
                    }
                    (NodeState::Dead, NodeState::Alive) => {
                        what += "   (rejoined)";
                        self.healthy.push(node);
                        self.rebalance(node, &mut what);
                    }
                    _ => {}
                }
                (node, what)
            }
            Event::Removed { node, from, .. } => (node, format!("removed ({from})")),
            _ => return,
        };
        println!("  {:>7.1}s  {node}  {what}", at.as_duration().as_secs_f64());
    }

    /// Hands a failed node's shards to the healthy nodes, round robin.
    fn redistribute(&mut self, failed: Node, what: &mut String) {
        let shards = self.shards_of(failed);
        if self.healthy.is_empty() {
            *what += "\n             no healthy node left: shards unassigned";
            return;
        }
        for (i, shard) in shards.iter().enumerate() {
            let to = self.healthy[i % self.healthy.len()];
            self.owner.insert(*shard, to);
            self.moves += 1;
        }
        *what += &format!(
            "\n             shards {shards:?} redistributed -> {}",
            self.load()
        );
    }

    /// Gives a node that came back its fair share, taken from the busiest.
    fn rebalance(&mut self, node: Node, what: &mut String) {
        let fair = WORK_SHARDS / self.healthy.len();
        while self.shards_of(node).len() < fair {
            let busiest = *self
                .healthy
                .iter()
                .max_by_key(|n| self.shards_of(n).len())
                .unwrap_or(&node);
            let Some(&shard) = self.shards_of(busiest).last() else {
                break;
            };
            self.owner.insert(shard, node);
            self.moves += 1;
        }
        *what += &format!("\n             rebalanced -> {}", self.load());
    }
}

struct Outcome {
    a_failed_after: Option<Duration>,
    false_suspicions: usize,
    moves: usize,
}

fn run<D>(title: &str, config: RegistryConfig, detector: D) -> Outcome
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    println!("\n== {title} ==");
    let clock = ManualClock::new(Timestamp::ZERO);
    let (registry, events): (Registry<Node, D>, EventReceiver<Node>) =
        Registry::new(config, detector).expect("valid config");
    let registry = registry.with_clock(clock.clone());
    let mut coordinator = Coordinator::new();
    println!(
        "  {:>7.1}s     shards assigned -> {}",
        0.0,
        coordinator.load()
    );

    let crashed = |node: Node, at: Timestamp| {
        node == "A" && (Timestamp::from_secs(61)..Timestamp::from_secs(120)).contains(&at)
    };
    let handle = |coordinator: &mut Coordinator| {
        for event in events.try_iter() {
            let crashed = crashed(event.node(), event.at());
            coordinator.handle(event, crashed);
        }
    };
    let mut announced = false;
    for (at, node) in trace()
        .into_iter()
        .chain([(Timestamp::from_duration(END), "")])
    {
        // Sleep until the next heartbeat, waking for deadlines on the way. The
        // ticks never run ahead of the heartbeats, so the events (and their
        // instants) are exactly those of the heartbeats alone; the ticks only
        // deliver them on time. `heartbeat_now` reads the clock under the shard's
        // lock, so even a receiving thread racing a ticking one could not date an
        // event before one already sent.
        while let Some(deadline) = registry.next_deadline().filter(|&d| d <= at) {
            clock.set(deadline);
            registry.tick_now();
            handle(&mut coordinator);
        }
        clock.set(at);
        if node.is_empty() {
            break;
        }
        if !announced && at >= Timestamp::from_secs(61) {
            announced = true;
            let tolerated = |n: Node| {
                let info = registry.info(&n, at).expect("monitored");
                let silence =
                    info.deadline.unwrap_or(Timestamp::MAX) - info.last_heartbeat.unwrap_or(at);
                format!("{n} after {:.1} s", silence.as_secs_f64())
            };
            println!(
                "  {:>7.1}s  A  crashes   (silence now suspected: {}, {}, {})",
                coordinator.last_heartbeat["A"].as_duration().as_secs_f64(),
                tolerated("A"),
                tolerated("B"),
                tolerated("C"),
            );
        }
        coordinator.last_heartbeat.insert(node, at);
        registry.heartbeat_now(&node).expect("in order");
        handle(&mut coordinator);
    }
    let counts = registry.counts();
    println!(
        "  {:>7.1}s     end: {} alive, {} suspect, {} dead; shards {}",
        END.as_secs_f64(),
        counts.alive,
        counts.suspect,
        counts.dead,
        coordinator.load()
    );
    Outcome {
        a_failed_after: coordinator.a_failed_after,
        false_suspicions: coordinator.false_suspicions,
        moves: coordinator.moves,
    }
}

fn main() {
    let fixed = run(
        "FixedTimeout: suspect after 10 s, failed after 15 s of silence",
        RegistryConfig::new().with_confirmation(Confirmation::Suspicion(3.0)),
        FixedTimeout::new(
            FixedTimeoutConfig::new()
                .with_interval(Duration::from_secs(5))
                .with_missed_heartbeats(2.0),
        )
        .expect("valid config"),
    );
    let phi = run(
        "PhiAccrual (Akka defaults): suspect at phi 8, failed at phi 16",
        RegistryConfig::new().with_confirmation(Confirmation::Suspicion(16.0)),
        PhiAccrual::new(
            PhiAccrualConfig::new().with_first_heartbeat_estimate(Duration::from_secs(5)),
        )
        .expect("valid config"),
    );

    println!("\n== Same trace, two detectors ==");
    println!("  detector       A declared failed after   false suspicions   shard moves");
    for (name, o) in [("FixedTimeout", fixed), ("PhiAccrual", phi)] {
        let failed = o
            .a_failed_after
            .map_or("never".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
        println!(
            "  {name:<14} {failed:>23}   {:>16}   {:>11}",
            o.false_suspicions, o.moves
        );
    }
    println!(
        "\n  The fixed timeout treats every link alike: it needs 15 s to declare A failed and\n  \
         still suspects B during its 11 s pause. Phi accrual learned that A's heartbeats are\n  \
         regular (so a short silence is already telling) and that B's vary (so 11 s is not)."
    );
}
