//! Which topology wins where: all-to-all heartbeats, a central monitor, gossip
//! of heartbeat versions, SWIM probes with Lifeguard, and `foca` (an outside
//! reference), on the same simulated networks and faults, at N = 10, 100 and
//! 1,000 members. Everything runs the real sans-IO members in the seeded
//! simulator (`failure_detector::sim`), so each row is reproducible from the
//! seed and its trace hash.
//!
//! ```text
//! cargo run --release --example cluster_sim                 # N = 10 and 100 (a few minutes)
//! cargo run --release --example cluster_sim -- --full       # N = 10, 100, 1,000 (about half an hour)
//! cargo run --release --example cluster_sim -- --quick      # N = 10, short runs (CI)
//! cargo run --release --example cluster_sim -- --full --docs  # and rewrite docs/cluster-*.svg
//! ```
//!
//! `--charts-from FILE` redraws the charts from the tables of an earlier
//! output (runs nothing). Other flags: `--sizes 10,100`, `--seed S`, `--only swim,gossip`,
//! `--scenarios steady,pauses`, `--jobs J` (runs at once; default: the
//! machine's parallelism; every run is seeded on its own, so the rows do not
//! depend on it). Charts go to `target/cluster_sim/` (or
//! `docs/` with `--docs`). `docs/cluster.md` explains the method and reads the
//! results.

// foca 2.0 behind `ClusterMember<u64>`, shared with the tests.
#[allow(dead_code)]
#[path = "../tests/support/foca.rs"]
mod foca_member;

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use failure_detector::cluster::gossip::{GossipConfig, GossipMember};
use failure_detector::cluster::heartbeat::{
    AllToAllConfig, AllToAllMember, CentralConfig, CentralMember,
};
use failure_detector::cluster::{ClusterMember, LocalGuardConfig, Member, SwimConfig, SwimMember};
use failure_detector::qos::{Delay, Loss};
use failure_detector::sim::{DetectionStats, Fault, LinkDelay, Simulation};
use failure_detector::{PhiAccrual, PhiAccrualConfig, Timestamp};
use foca_member::FocaMember;
use plotters::prelude::*;

const SEED: u64 = 2026;
/// Every member's heartbeat, gossip round or probe period (the baseline's and
/// gossip's 1 s; SWIM's and foca's probe interval is set below).
const PERIOD: Duration = Duration::from_secs(1);
/// Samples kept by every phi detector here (Akka keeps 1,000; 100 keeps
/// N = 1,000 all-to-all, a million detectors, within about 1.3 GB).
const WINDOW: usize = 100;
/// Gossip's acceptable pause (phi) and confirmation.
const GOSSIP_PAUSE: Duration = Duration::from_millis(1_500);
const GOSSIP_CONFIRMATION: Duration = Duration::from_millis(2_000);
/// SWIM's and foca's shortest suspicion (probe intervals are set from it) and
/// ack timeout.
const SUSPICION: Duration = Duration::from_secs(3);
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------
// Topologies

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Topology {
    AllToAll,
    Central,
    Gossip,
    Swim,
    Foca,
}

impl Topology {
    const ALL: [Topology; 5] = [
        Topology::AllToAll,
        Topology::Central,
        Topology::Gossip,
        Topology::Swim,
        Topology::Foca,
    ];

    fn name(self) -> &'static str {
        match self {
            Topology::AllToAll => "all-to-all phi",
            Topology::Central => "central",
            Topology::Gossip => "gossip",
            Topology::Swim => "swim",
            Topology::Foca => "foca",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Topology::AllToAll => "all-to-all",
            Topology::Central => "central",
            Topology::Gossip => "gossip",
            Topology::Swim => "swim",
            Topology::Foca => "foca",
        }
    }
}

/// Akka's failure detector (`akka.cluster.failure-detector`: threshold 8,
/// min-std-deviation 100 ms, acceptable-heartbeat-pause 3 s, heartbeat 1 s),
/// with a window of [`WINDOW`].
fn akka_phi() -> Result<PhiAccrual, Box<dyn Error>> {
    Ok(PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_threshold(8.0)
            .with_min_std_deviation(ms(100))
            .with_acceptable_heartbeat_pause(ms(3_000))
            .with_first_heartbeat_estimate(PERIOD)
            .with_max_sample_size(WINDOW),
    )?)
}

/// No self-doubt: a pause longer than any run, and never isolated.
fn no_guard() -> LocalGuardConfig {
    LocalGuardConfig::new()
        .with_max_local_pause(Duration::from_secs(100_000))
        .with_isolation_share(1.0)
}

/// The baseline: every member heartbeats every other each second and convicts
/// as soon as Akka's phi crosses 8 (no confirmation, no self-doubt): the naive
/// all-to-all scheme.
fn all_to_all(id: u64, generation: u64) -> AllToAllMember<u64, PhiAccrual> {
    let config = AllToAllConfig::new()
        .with_heartbeat_interval(PERIOD)
        .with_confirmation(Duration::ZERO)
        .with_guard(no_guard());
    AllToAllMember::with_detector(
        Member::new(id, generation),
        config,
        akka_phi().expect("valid"),
    )
    .expect("valid config")
}

/// A central monitor (member 1): heartbeats every second, acked; the monitor
/// suspects after 3 missed heartbeats and convicts at the next check.
fn central_config() -> CentralConfig {
    CentralConfig::new()
        .with_heartbeat_interval(PERIOD)
        .with_check_period(PERIOD)
        .with_confirmation(ms(1_000))
}

fn central(id: u64, generation: u64) -> CentralMember<u64> {
    let me = Member::new(id, generation);
    if id == 1 {
        CentralMember::monitor(me, central_config()).expect("valid config")
    } else {
        CentralMember::member(me, 1, central_config()).expect("valid config")
    }
}

/// Gossip of heartbeat versions every second to 3, each member judged by
/// Akka's phi on the versions it learns, Dead 1 s after Suspect, with the local
/// guard (5 s pause, isolation above half).
fn gossip(id: u64, generation: u64) -> Gossip {
    let config = GossipConfig::new()
        .with_gossip_interval(PERIOD)
        .with_confirmation(GOSSIP_CONFIRMATION)
        .with_seed(SEED ^ id.rotate_left(17) ^ generation);
    let phi = PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_threshold(8.0)
            .with_min_std_deviation(ms(100))
            .with_acceptable_heartbeat_pause(GOSSIP_PAUSE)
            .with_first_heartbeat_estimate(PERIOD)
            .with_max_sample_size(WINDOW),
    )
    .expect("valid");
    GossipMember::with_detector(Member::new(id, generation), config, phi).expect("valid config")
}

/// SWIM with Lifeguard: memberlist's LAN rules (suspicion multiplier 4, 3
/// relays, 200 ms ack timeout) with the probe interval chosen for N so that
/// the shortest suspicion, `4 max(1, log10 N)` intervals, is [`SUSPICION`]:
/// 750 ms at N = 10, 375 ms at 100, 250 ms at 1,000.
fn swim_config(n: u64) -> SwimConfig {
    let c = SwimConfig::lan();
    let periods = f64::from(c.suspicion_mult) * (n as f64).log10().max(1.0);
    let interval = Duration::from_secs_f64(secs(SUSPICION) / periods).max(ms(250));
    c.with_probe_interval(interval)
        .with_probe_timeout(PROBE_TIMEOUT)
}

fn swim(n: u64) -> impl Fn(u64, u64) -> SwimMember<u64> + Clone + 'static {
    move |id: u64, generation: u64| {
        SwimMember::new(
            Member::new(id, generation),
            swim_config(n).with_seed(SEED ^ id.rotate_left(17) ^ generation),
        )
        .expect("valid config")
    }
}

/// foca 2.0's LAN preset at the same probe interval, ack timeout and
/// suspicion time as our SWIM's minimum (`4 max(1, log10 n)` periods).
fn foca(n: u64) -> impl Fn(u64, u64) -> FocaMember + Clone + 'static {
    move |id: u64, generation: u64| {
        let n32 = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        let mut c = foca::Config::new_lan(NonZeroU32::new(n32).unwrap_or(NonZeroU32::MIN));
        let ours = swim_config(n);
        c.probe_period = ours.probe_interval;
        c.probe_rtt = PROBE_TIMEOUT;
        c.suspect_to_down_after = ours.suspicion_min_timeout(n as usize);
        // Generations of restarts leave room for foca's renewals (+1 each).
        FocaMember::with_config(
            Member::new(id, generation),
            c,
            SEED ^ id.rotate_left(17) ^ generation,
        )
        .expect("valid config")
    }
}

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Steady,
    LossyWan,
    Slow,
    Pauses,
    Partition,
    OneWayCut,
    OneCrash,
    TenPercent,
}

impl Scenario {
    const ALL: [Scenario; 8] = [
        Scenario::Steady,
        Scenario::LossyWan,
        Scenario::Slow,
        Scenario::Pauses,
        Scenario::Partition,
        Scenario::OneWayCut,
        Scenario::OneCrash,
        Scenario::TenPercent,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady LAN",
            Scenario::LossyWan => "lossy WAN",
            Scenario::Slow => "slow members",
            Scenario::Pauses => "pauses 1-7 s",
            Scenario::Partition => "partition 2|3",
            Scenario::OneWayCut => "one-way cut",
            Scenario::OneCrash => "one crash",
            Scenario::TenPercent => "10% crash",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::LossyWan => "wan",
            Scenario::Slow => "slow",
            Scenario::Pauses => "pauses",
            Scenario::Partition => "partition",
            Scenario::OneWayCut => "cut",
            Scenario::OneCrash => "crash",
            Scenario::TenPercent => "crash10",
        }
    }
}

/// What a scenario does to the network and when; which members it makes
/// anomalous (paused, slow, crashed), and the groups it splits.
struct Plan {
    delay: LinkDelay,
    loss: Loss,
    faults: Vec<(Timestamp, Fault)>,
    anomalous: BTreeSet<u64>,
    minority: BTreeSet<u64>,
    /// From here on datagrams are counted (members have joined, windows filled).
    measure_from: Timestamp,
    end: Timestamp,
}

/// A small seeded generator for the scenario's choices (the simulator has its
/// own, from the same seed).
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `k` distinct members among 2..=n (member 1, the seed and the central
    /// monitor, is never faulted).
    fn members(&mut self, n: u64, k: u64) -> Vec<u64> {
        let mut all: Vec<u64> = (2..=n).collect();
        let k = k.min(all.len() as u64) as usize;
        for i in 0..k {
            let j = i + self.below((all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

fn plan(scenario: Scenario, n: u64, seed: u64, quick: bool) -> Result<Plan, Box<dyn Error>> {
    let mut pick = Pick(seed ^ (scenario as u64).wrapping_mul(0xA24B_AED4_963E_E407) ^ n);
    let warm = Timestamp::from_secs(if quick { 20 } else { 40 });
    let span = |s: u64| warm.saturating_add(Duration::from_secs(if quick { s / 2 } else { s }));
    let mut p = Plan {
        delay: LinkDelay::Model(Delay::log_normal(ms(1), Duration::from_micros(300))?),
        loss: Loss::none(),
        faults: Vec::new(),
        anomalous: BTreeSet::new(),
        minority: BTreeSet::new(),
        measure_from: warm,
        end: span(60),
    };
    match scenario {
        Scenario::Steady => {}
        Scenario::LossyWan => {
            p.delay = LinkDelay::Model(Delay::log_normal(ms(60), ms(50))?);
            p.loss = Loss::bursty(0.05, 3.0)?;
        }
        Scenario::Slow => {
            // A few members (2%, at least 2) handle every datagram 0.5 to 2 s
            // late, from the warm-up to the end.
            for m in pick.members(n, (n / 50).max(2)) {
                let delay = ms(500 + pick.below(1_501));
                p.faults.push((warm, Fault::Slow { member: m, delay }));
                p.anomalous.insert(m);
            }
            p.end = span(90);
        }
        Scenario::Pauses => {
            // 5% of the members (at least 3) stop the world once, for 1 to 7 s,
            // at random instants over 60 s.
            for m in pick.members(n, (n / 20).max(3)) {
                let at = warm.saturating_add(ms(pick.below(60_000)));
                let duration = ms(1_000 + pick.below(6_001));
                p.faults.push((
                    at,
                    Fault::Pause {
                        member: m,
                        duration,
                    },
                ));
                p.anomalous.insert(m);
            }
            p.end = span(90);
        }
        Scenario::Partition => {
            // The last two fifths of the members against the rest, for 30 s.
            let small = (2 * n / 5).max(1);
            let minority: Vec<u64> = (n - small + 1..=n).collect();
            let majority: Vec<u64> = (1..=n - small).collect();
            p.minority = minority.iter().copied().collect();
            p.faults
                .push((warm, Fault::Partition(vec![majority, minority])));
            p.faults
                .push((warm.saturating_add(Duration::from_secs(30)), Fault::Heal));
            p.end = span(90);
        }
        Scenario::OneWayCut => {
            // A -/-> C for 60 s: C stops hearing A; everything else flows.
            let m = pick.members(n, 2);
            let (a, c) = (m[0], m[1]);
            p.faults.push((warm, Fault::Cut { from: a, to: c }));
            p.faults.push((
                warm.saturating_add(Duration::from_secs(60)),
                Fault::Uncut { from: a, to: c },
            ));
            p.end = span(90);
        }
        Scenario::OneCrash | Scenario::TenPercent => {
            let k = if scenario == Scenario::OneCrash {
                1
            } else {
                (n / 10).max(1)
            };
            for m in pick.members(n, k) {
                p.faults.push((warm, Fault::Crash(m)));
                p.anomalous.insert(m);
            }
            p.end = span(60);
        }
    }
    Ok(p)
}

// ---------------------------------------------------------------------------
// Runs

/// Detection times over a run's crashes: the first conviction's mean, and
/// the last survivor's (mean, p99, max) over the crashes every survivor
/// convicted.
#[derive(Clone, Copy, Debug, Default)]
struct Det {
    crashes: usize,
    detected: usize,
    first_mean: Option<Duration>,
    mean: Option<Duration>,
    p99: Option<Duration>,
    max: Option<Duration>,
}

impl Det {
    fn of(first: &DetectionStats, all: &DetectionStats) -> Self {
        Det {
            crashes: first.detected + first.undetected,
            detected: all.detected,
            first_mean: first.mean,
            mean: all.mean,
            p99: all.p99,
            max: all.max,
        }
    }
}

/// One row: a topology on a scenario at one size.
#[derive(Clone, Debug)]
struct Row {
    topology: Topology,
    scenario: Scenario,
    n: u64,
    /// Datagrams per member per second over the measured span.
    rate: f64,
    /// Bytes per member per second over the measured span.
    byte_rate: f64,
    /// Datagrams sent and handled per second by the busiest member.
    busiest: f64,
    /// Detection after the crashes (none outside the crash scenarios).
    det: Det,
    /// Dead verdicts about members that were up.
    false_dead: usize,
    /// ... of which about members no fault touched.
    false_dead_healthy: usize,
    /// ... of which by a member a fault touched (paused, slow) about a
    /// healthy one.
    by_anomalous: usize,
    /// ... of which by a member of the minority about one of the majority.
    minority_on_majority: usize,
    false_dead_per_hour: f64,
    false_suspicions: u64,
    query_accuracy: f64,
    /// Gossip only: periods until a version reached every member (mean).
    spread_rounds: Option<f64>,
    hash: u64,
    wall: Duration,
}

fn run<M, F>(
    topology: Topology,
    scenario: Scenario,
    n: u64,
    seed: u64,
    quick: bool,
    make: F,
    spread: Option<Spread<M>>,
) -> Result<Row, Box<dyn Error>>
where
    M: ClusterMember<u64> + 'static,
    F: Fn(u64, u64) -> M + Clone + 'static,
{
    let started = Instant::now();
    let plan = plan(scenario, n, seed, quick)?;
    let mut sim = Simulation::new(seed);
    for id in 1..=n {
        sim.add(make(id, 0))?;
    }
    sim.set_factory(make);
    sim.set_delay(plan.delay)?;
    sim.set_loss(plan.loss);
    for (at, fault) in plan.faults.iter().cloned() {
        sim.at(at, fault)?;
    }
    sim.join_all();
    sim.run_until(plan.measure_from)?;
    let before = sim.report();
    let sent0 = sim.datagrams_sent();
    let bytes0 = sim.bytes_sent();
    // Gossip: how many periods a new version takes to reach every other member,
    // from the round that made it (five origins drawn from the seed).
    let mut spread_rounds = None;
    if let Some((version, reached)) = spread {
        let mut total = 0.0;
        let mut samples = 0u32;
        let mut pick = Pick(seed ^ 0x5EED);
        for _ in 0..5 {
            let origin = 1 + pick.below(n);
            let Some(before) = version(&sim, origin) else {
                break;
            };
            // From the instant the origin bumps its version (its round) ...
            let limit = sim.now().saturating_add(PERIOD.saturating_mul(3));
            while version(&sim, origin).is_some_and(|v| v <= before) && sim.now() < limit {
                sim.run_for(ms(5))?;
            }
            let (t0, Some(v)) = (sim.now(), version(&sim, origin)) else {
                break;
            };
            // ... until every other live member holds it (20 ms steps).
            let limit = t0.saturating_add(Duration::from_secs(30));
            while !reached(&sim, origin, v) && sim.now() < limit {
                sim.run_for(ms(20))?;
            }
            total += secs(sim.now().saturating_duration_since(t0)) / secs(PERIOD);
            samples += 1;
            if sim.now() >= plan.end {
                break;
            }
        }
        if samples > 0 {
            spread_rounds = Some(total / f64::from(samples));
        }
    }
    sim.run_until(plan.end)?;
    let r = sim.report();
    let span = plan.end.saturating_duration_since(plan.measure_from);
    let members = n as f64;
    let rate = (sim.datagrams_sent() - sent0) as f64 / secs(span) / members;
    let byte_rate = (sim.bytes_sent() - bytes0) as f64 / secs(span) / members;
    let busiest = r
        .load
        .iter()
        .map(|l| {
            let b = before.load.iter().find(|x| x.id == l.id);
            let d = (l.sent + l.received) - b.map_or(0, |b| b.sent + b.received);
            d as f64 / secs(span)
        })
        .fold(0.0, f64::max);
    let false_dead_healthy = r
        .false_dead
        .iter()
        .filter(|v| !plan.anomalous.contains(&v.member.id))
        .count();
    let by_anomalous = r
        .false_dead
        .iter()
        .filter(|v| plan.anomalous.contains(&v.observer) && !plan.anomalous.contains(&v.member.id))
        .count();
    let minority_on_majority = r
        .false_dead
        .iter()
        .filter(|v| plan.minority.contains(&v.observer) && !plan.minority.contains(&v.member.id))
        .count();
    Ok(Row {
        topology,
        scenario,
        n,
        rate,
        byte_rate,
        busiest,
        det: Det::of(&r.detection_first, &r.detection_all),
        false_dead: r.false_dead.len(),
        false_dead_healthy,
        by_anomalous,
        minority_on_majority,
        false_dead_per_hour: r.false_dead_per_member_hour(),
        false_suspicions: r.false_suspicions,
        query_accuracy: r.overall.query_accuracy(),
        spread_rounds,
        hash: sim.trace_hash(),
        wall: started.elapsed(),
    })
}

/// How far a member's heartbeat version has spread: its current (generation,
/// version), and whether every other live member holds at least that.
type Spread<M> = (
    fn(&Simulation<M>, u64) -> Option<(u64, u64)>,
    fn(&Simulation<M>, u64, (u64, u64)) -> bool,
);

type Gossip = GossipMember<u64, PhiAccrual>;

fn gossip_version(sim: &Simulation<Gossip>, origin: u64) -> Option<(u64, u64)> {
    sim.member(origin).and_then(|m| m.version_of(&origin))
}

fn gossip_reached(sim: &Simulation<Gossip>, origin: u64, v: (u64, u64)) -> bool {
    sim.live_ids()
        .into_iter()
        .filter(|&id| id != origin)
        .all(|id| {
            sim.member(id)
                .and_then(|m| m.version_of(&origin))
                .is_some_and(|known| known >= v)
        })
}

fn run_one(
    topology: Topology,
    scenario: Scenario,
    n: u64,
    seed: u64,
    quick: bool,
) -> Result<Row, Box<dyn Error>> {
    match topology {
        Topology::AllToAll => run(topology, scenario, n, seed, quick, all_to_all, None),
        Topology::Central => run(topology, scenario, n, seed, quick, central, None),
        Topology::Gossip => run(
            topology,
            scenario,
            n,
            seed,
            quick,
            gossip,
            (scenario == Scenario::Steady).then_some((
                gossip_version as fn(&Simulation<Gossip>, u64) -> _,
                gossip_reached as fn(&Simulation<Gossip>, u64, _) -> _,
            )),
        ),
        Topology::Swim => run(topology, scenario, n, seed, quick, swim(n), None),
        Topology::Foca => run(topology, scenario, n, seed, quick, foca(n), None),
    }
}

// ---------------------------------------------------------------------------
// Main

struct Args {
    sizes: Vec<u64>,
    seed: u64,
    quick: bool,
    docs: bool,
    topologies: Vec<Topology>,
    scenarios: Vec<Scenario>,
    /// Runs at once (threads). Default: the machine's parallelism.
    jobs: usize,
    /// Draw the charts from the tables of an earlier output (no runs).
    charts_from: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        sizes: vec![10, 100],
        seed: SEED,
        quick: false,
        docs: false,
        topologies: Topology::ALL.to_vec(),
        scenarios: Scenario::ALL.to_vec(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        charts_from: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--full" => a.sizes = vec![10, 100, 1_000],
            "--quick" => {
                a.quick = true;
                a.sizes = vec![10];
            }
            "--docs" => a.docs = true,
            "--charts-from" => a.charts_from = Some(PathBuf::from(value("--charts-from")?)),
            "--jobs" => {
                let v = value("--jobs")?;
                a.jobs = match v.parse::<usize>() {
                    Ok(j) if (1..=64).contains(&j) => j,
                    _ => return Err(format!("--jobs: expected 1 to 64, got {v:?}").into()),
                };
            }
            "--seed" => {
                let v = value("--seed")?;
                a.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v:?}"))?;
            }
            "--sizes" => {
                let v = value("--sizes")?;
                a.sizes = v
                    .split(',')
                    .map(|x| match x.trim().parse::<u64>() {
                        Ok(n) if (4..=2_000).contains(&n) => Ok(n),
                        _ => Err(format!("--sizes: expected 4 to 2000 each, got {x:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--only" => {
                a.topologies =
                    pick_keys("--only", &value("--only")?, &Topology::ALL, Topology::key)?
            }
            "--scenarios" => {
                a.scenarios = pick_keys(
                    "--scenarios",
                    &value("--scenarios")?,
                    &Scenario::ALL,
                    Scenario::key,
                )?
            }
            other => return Err(format!("unknown flag {other:?} (see the file's docs)").into()),
        }
    }
    Ok(a)
}

/// The items of `all` named by the comma-separated `keys`.
fn pick_keys<T: Copy>(
    flag: &str,
    keys: &str,
    all: &[T],
    key: fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    keys.split(',')
        .map(|x| {
            all.iter()
                .copied()
                .find(|&t| key(t) == x.trim())
                .ok_or_else(|| format!("{flag}: unknown name {x:?}"))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let dir = if args.docs {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cluster_sim")
    };
    if let Some(path) = &args.charts_from {
        let rows = load_tables(&std::fs::read_to_string(path)?)?;
        let mut sizes: Vec<u64> = rows.iter().map(|r| r.n).collect();
        sizes.sort_unstable();
        sizes.dedup();
        std::fs::create_dir_all(&dir)?;
        charts(&dir, &rows, &sizes)?;
        println!(
            "{} rows read from {}; charts written to {}",
            rows.len(),
            path.display(),
            dir.display()
        );
        return Ok(());
    }
    println!(
        "cluster_sim: seed {}, N = {:?}, {} topologies x {} scenarios{}",
        args.seed,
        args.sizes,
        args.topologies.len(),
        args.scenarios.len(),
        if args.quick { " (quick)" } else { "" }
    );
    // Every run is independent and seeded: run them on `jobs` threads, the
    // largest first, and order the rows afterwards.
    let mut runs: Vec<(Scenario, u64, Topology)> = Vec::new();
    for &scenario in &args.scenarios {
        for &n in &args.sizes {
            for &topology in &args.topologies {
                runs.push((scenario, n, topology));
            }
        }
    }
    let order = runs.clone();
    runs.sort_by_key(|&(s, n, t)| (std::cmp::Reverse(n), t, s));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(runs.len()).max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(scenario, n, topology)) = runs.get(i) else {
                        break;
                    };
                    let row = run_one(topology, scenario, n, args.seed, args.quick)
                        .map_err(|e| e.to_string());
                    if let Ok(r) = &row {
                        eprintln!(
                            "  {:<14} {:<14} N={:<5} {:>7.1} s wall",
                            scenario.name(),
                            topology.name(),
                            n,
                            secs(r.wall)
                        );
                    }
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(row);
                }
            });
        }
    });
    let mut rows = Vec::new();
    for row in results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        rows.push(row?);
    }
    rows.sort_by_key(|r| {
        order
            .iter()
            .position(|&(s, n, t)| (s, n, t) == (r.scenario, r.n, r.topology))
    });
    let mut out = String::new();
    tables(&mut out, &rows, &args.scenarios);
    checks(&mut out, &rows, &args.sizes);
    print!("{out}");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cluster-results.md"), &out)?;
    charts(&dir, &rows, &args.sizes)?;
    println!("\ntables and charts written to {}", dir.display());
    Ok(())
}

fn opt_s(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1}", secs(d)))
}

fn tables(out: &mut String, rows: &[Row], scenarios: &[Scenario]) {
    for &scenario in scenarios {
        let _ = writeln!(out, "\n### {}\n", scenario.name());
        let _ = writeln!(
            out,
            "| N | topology | datagrams /member/s | bytes /member/s | busiest member /s | \
             detected | first: mean | all: mean / p99 / max (s) | false Dead (healthy) | \
             false Dead /member-h | false suspicions | P_A | wall (s) | trace |"
        );
        let _ = writeln!(
            out,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in rows.iter().filter(|r| r.scenario == scenario) {
            let detected = if r.det.crashes > 0 {
                format!("{}/{}", r.det.detected, r.det.crashes)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.0} | {:.0} | {} | {} | {} / {} / {} | {} ({}) | {:.1} | {} | {:.6} | {:.1} | `{:016x}` |",
                r.n,
                r.topology.name(),
                r.rate,
                r.byte_rate,
                r.busiest,
                detected,
                opt_s(r.det.first_mean),
                opt_s(r.det.mean),
                opt_s(r.det.p99),
                opt_s(r.det.max),
                r.false_dead,
                r.false_dead_healthy,
                r.false_dead_per_hour,
                r.false_suspicions,
                r.query_accuracy,
                secs(r.wall),
                r.hash
            );
        }
    }
}

/// Reads back the scenario tables [`tables`] wrote (what the charts need;
/// the counts the checks need beyond the tables are left at zero).
fn load_tables(text: &str) -> Result<Vec<Row>, String> {
    let secs_of = |x: &str| x.trim().parse::<f64>().ok().map(Duration::from_secs_f64);
    let mut scenario = None;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("### ") {
            scenario = Scenario::ALL.into_iter().find(|s| s.name() == name.trim());
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(scenario), true) = (scenario, cells.len() >= 15) else {
            continue;
        };
        let Ok(n) = cells[1].parse::<u64>() else {
            continue;
        };
        let bad = |what: &str| format!("line {}: {what}", i + 1);
        let topology = Topology::ALL
            .into_iter()
            .find(|t| t.name() == cells[2])
            .ok_or_else(|| bad("unknown topology"))?;
        let num = |k: usize| cells[k].parse::<f64>().map_err(|_| bad("not a number"));
        let (detected, crashes) = cells[6]
            .split_once('/')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .unwrap_or((0, 0));
        let all: Vec<&str> = cells[8].split('/').collect();
        let false_dead: Vec<&str> = cells[9].split(['(', ')']).collect();
        rows.push(Row {
            topology,
            scenario,
            n,
            rate: num(3)?,
            byte_rate: num(4)?,
            busiest: num(5)?,
            det: Det {
                crashes,
                detected,
                first_mean: secs_of(cells[7]),
                mean: all.first().and_then(|x| secs_of(x)),
                p99: all.get(1).and_then(|x| secs_of(x)),
                max: all.get(2).and_then(|x| secs_of(x)),
            },
            false_dead: false_dead[0]
                .trim()
                .parse()
                .map_err(|_| bad("false Dead"))?,
            false_dead_healthy: false_dead
                .get(1)
                .and_then(|x| x.trim().parse().ok())
                .unwrap_or(0),
            by_anomalous: 0,
            minority_on_majority: 0,
            false_dead_per_hour: num(10)?,
            false_suspicions: cells[11].parse().map_err(|_| bad("false suspicions"))?,
            query_accuracy: num(12)?,
            spread_rounds: None,
            hash: u64::from_str_radix(cells[14].trim_matches('`'), 16).unwrap_or(0),
            wall: secs_of(cells[13]).unwrap_or_default(),
        });
    }
    Ok(rows)
}

fn find(rows: &[Row], t: Topology, s: Scenario, n: u64) -> Option<&Row> {
    rows.iter()
        .find(|r| r.topology == t && r.scenario == s && r.n == n)
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "holds",
        Some(false) => "DOES NOT HOLD",
        None => "not shown",
    }
}

/// The issue's claims, each checked on the rows (where the rows exist).
fn checks(out: &mut String, rows: &[Row], sizes: &[u64]) {
    let _ = writeln!(out, "\n### Checks\n");
    let _ = writeln!(out, "| claim | N | measured | expected | |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut line = |claim: &str, n: u64, measured: String, expected: String, ok: Option<bool>| {
        let _ = writeln!(
            out,
            "| {claim} | {n} | {measured} | {expected} | {} |",
            verdict(ok)
        );
    };
    let mut info = Vec::new();
    for &n in sizes {
        let m = (n - 1) as f64;
        if let Some(r) = find(rows, Topology::AllToAll, Scenario::Steady, n) {
            let per_period = r.rate * n as f64 * secs(PERIOD);
            let want = n as f64 * m;
            line(
                "all-to-all: N(N-1) datagrams a period",
                n,
                format!("{per_period:.0}"),
                format!("{want:.0}"),
                Some((per_period / want - 1.0).abs() <= 0.1),
            );
        }
        if let Some(r) = find(rows, Topology::Central, Scenario::Steady, n) {
            let want = 2.0 * m / secs(PERIOD);
            line(
                "central: 2(N-1) datagrams a period, all through the monitor",
                n,
                format!("{:.0}", r.busiest * secs(PERIOD)),
                format!("{want:.0}"),
                Some((r.busiest / want - 1.0).abs() <= 0.1),
            );
        }
        if let Some(r) = find(rows, Topology::Swim, Scenario::Steady, n) {
            let per_period = r.rate * secs(swim_config(n).probe_interval);
            line(
                "swim: about 2 datagrams per member a probe period",
                n,
                format!("{per_period:.2}"),
                "2".into(),
                Some((per_period / 2.0 - 1.0).abs() <= 0.1),
            );
        }
    }
    // Gossip: rounds to reach everyone against a + b log10 N through the ends.
    let spread: Vec<(u64, f64)> = sizes
        .iter()
        .filter_map(|&n| {
            find(rows, Topology::Gossip, Scenario::Steady, n)
                .and_then(|r| r.spread_rounds.map(|x| (n, x)))
        })
        .collect();
    if spread.len() >= 3 {
        let (n0, r0) = spread[0];
        let (n1, r1) = spread[spread.len() - 1];
        let b = (r1 - r0) / ((n1 as f64).log10() - (n0 as f64).log10());
        for &(n, r) in &spread[1..spread.len() - 1] {
            let want = r0 + b * ((n as f64).log10() - (n0 as f64).log10());
            line(
                "gossip: periods to reach everyone grow as log N (fit through the smallest and largest N)",
                n,
                format!("{r:.2}"),
                format!("{want:.2}"),
                Some((r / want - 1.0).abs() <= 0.1),
            );
        }
    }
    for &(n, r) in &spread {
        info.push(format!(
            "| gossip: periods for a version to reach every member | {n} | {r:.2} | | |"
        ));
    }
    for &n in sizes {
        // Detection: ours within 1.2x of the baseline's mean (every survivor).
        let base = [Scenario::OneCrash, Scenario::TenPercent]
            .iter()
            .filter_map(|&s| find(rows, Topology::AllToAll, s, n)?.det.mean)
            .collect::<Vec<_>>();
        for t in [Topology::Gossip, Topology::Swim, Topology::Foca] {
            let ours = [Scenario::OneCrash, Scenario::TenPercent]
                .iter()
                .filter_map(|&s| find(rows, t, s, n)?.det.mean)
                .collect::<Vec<_>>();
            if base.len() == ours.len() && !base.is_empty() {
                let b: f64 = base.iter().map(|d| secs(*d)).sum::<f64>() / base.len() as f64;
                let o: f64 = ours.iter().map(|d| secs(*d)).sum::<f64>() / ours.len() as f64;
                line(
                    &format!(
                        "{}: mean detection (every survivor) within 1.2x of all-to-all phi's",
                        t.name()
                    ),
                    n,
                    format!("{o:.1} s ({:.2}x)", o / b),
                    format!("<= {:.1} s", 1.2 * b),
                    Some(o <= 1.2 * b),
                );
            }
        }
        // False Dead verdicts about healthy members under slow members and pauses.
        for s in [Scenario::Slow, Scenario::Pauses] {
            let Some(base) = find(rows, Topology::AllToAll, s, n) else {
                continue;
            };
            let foca = find(rows, Topology::Foca, s, n);
            for t in [Topology::Gossip, Topology::Swim] {
                let Some(ours) = find(rows, t, s, n) else {
                    continue;
                };
                let ratio = if ours.false_dead_healthy == 0 {
                    "no false Dead".to_string()
                } else {
                    format!(
                        "{:.1}x fewer",
                        base.false_dead_healthy as f64 / ours.false_dead_healthy as f64
                    )
                };
                line(
                    &format!(
                        "{}, {}: false Dead about healthy members, vs all-to-all phi",
                        t.name(),
                        s.name()
                    ),
                    n,
                    format!(
                        "{} vs {} ({ratio})",
                        ours.false_dead_healthy, base.false_dead_healthy
                    ),
                    "50x fewer".into(),
                    // Nothing to reduce when the baseline made no mistake.
                    (base.false_dead_healthy > 0)
                        .then_some(ours.false_dead_healthy * 50 <= base.false_dead_healthy),
                );
                if let Some(f) = foca {
                    line(
                        &format!(
                            "{}, {}: fewer false Dead (all) than foca",
                            t.name(),
                            s.name()
                        ),
                        n,
                        format!("{} vs {}", ours.false_dead, f.false_dead),
                        "fewer".into(),
                        (f.false_dead > 0 || ours.false_dead > 0)
                            .then_some(ours.false_dead < f.false_dead),
                    );
                }
            }
        }
        for t in Topology::ALL {
            if let Some(r) = find(rows, t, Scenario::Pauses, n) {
                line(
                    &format!("{}: a paused observer declares no one dead", t.name()),
                    n,
                    format!("{} by paused members", r.by_anomalous),
                    "0".into(),
                    Some(r.by_anomalous == 0),
                );
            }
            if let Some(r) = find(rows, t, Scenario::Partition, n) {
                line(
                    &format!(
                        "{}: the minority declares no majority member dead",
                        t.name()
                    ),
                    n,
                    format!("{}", r.minority_on_majority),
                    "0".into(),
                    Some(r.minority_on_majority == 0),
                );
            }
        }
    }
    for l in info {
        let _ = writeln!(out, "{l}");
    }
}

// ---------------------------------------------------------------------------
// Charts

fn color(t: Topology) -> RGBAColor {
    Palette99::pick(t as usize).to_rgba()
}

/// Draws the legend (upper left) and writes the file.
fn legend_and_save<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A labelled, coloured line of (N, value) points.
type Series = (String, RGBAColor, Vec<(f64, f64)>);

fn line_chart(
    path: &Path,
    caption: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<(), Box<dyn Error>> {
    let xs = series.iter().flat_map(|s| s.2.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.2.iter().map(|p| p.1));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys
        .filter(|y| *y > 0.0)
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    if x0 > x1 || y0 > y1 {
        return Ok(());
    }
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x0 / 1.5..x1 * 1.5).log_scale(),
            (y0 / 2.0..y1 * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("members N (log)")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()?;
    for (label, c, points) in series {
        let c = *c;
        let pts: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1 > 0.0).collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    legend_and_save(&mut chart, &root)
}

fn charts(dir: &Path, rows: &[Row], sizes: &[u64]) -> Result<(), Box<dyn Error>> {
    let topologies: BTreeSet<Topology> = rows.iter().map(|r| r.topology).collect();
    let by = |t: Topology, s: Scenario, f: &dyn Fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> {
        sizes
            .iter()
            .filter_map(|&n| find(rows, t, s, n).and_then(|r| Some((n as f64, f(r)?))))
            .collect()
    };
    // Messages per member per second against N (steady LAN), and the monitor.
    let mut series = Vec::new();
    for &t in &topologies {
        series.push((
            t.name().to_string(),
            color(t),
            by(t, Scenario::Steady, &|r| Some(r.rate)),
        ));
        if t == Topology::Central {
            series.push((
                "central: the monitor".to_string(),
                Palette99::pick(7).to_rgba(),
                by(t, Scenario::Steady, &|r| Some(r.busiest)),
            ));
        }
    }
    line_chart(
        &dir.join("cluster-messages.svg"),
        "Datagrams per member per second (steady LAN)",
        "datagrams sent per member per second (log)",
        &series,
    )?;
    // Detection time (every survivor, mean) against N.
    let series: Vec<_> = topologies
        .iter()
        .map(|&t| {
            (
                t.name().to_string(),
                color(t),
                by(t, Scenario::TenPercent, &|r| r.det.mean.map(secs)),
            )
        })
        .collect();
    line_chart(
        &dir.join("cluster-detection.svg"),
        "Mean time until every survivor convicts a crashed member (10% crash)",
        "seconds (log)",
        &series,
    )?;
    // False Dead verdicts per scenario and topology, at the largest N.
    let Some(&n) = sizes.iter().max() else {
        return Ok(());
    };
    let scenarios: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|&s| rows.iter().any(|r| r.scenario == s && r.n == n))
        .collect();
    let ts: Vec<Topology> = topologies.iter().copied().collect();
    let height = |c: usize| (1.0 + c as f64).log10();
    let top = rows
        .iter()
        .filter(|r| r.n == n)
        .map(|r| height(r.false_dead))
        .fold(1.0, f64::max);
    let path = dir.join("cluster-false-dead.svg");
    let root = SVGBackend::new(&path, (1100, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("False Dead verdicts by scenario, N = {n} (log10 of 1 + count)"),
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..scenarios.len() as f64, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(scenarios.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 {
                scenarios
                    .get(i)
                    .map_or(String::new(), |s| s.name().to_string())
            } else {
                String::new()
            }
        })
        .y_desc("log10(1 + false Dead verdicts)")
        .draw()?;
    let w = 0.8 / ts.len() as f64;
    for (k, &t) in ts.iter().enumerate() {
        let c = color(t);
        let bars: Vec<_> = scenarios
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| {
                let r = find(rows, t, s, n)?;
                let x = i as f64 + 0.1 + k as f64 * w;
                Some(Rectangle::new(
                    [(x, 0.0), (x + w * 0.9, height(r.false_dead))],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(t.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
    }
    legend_and_save(&mut chart, &root)
}
