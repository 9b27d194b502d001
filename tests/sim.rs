//! The simulator: determinism, each fault doing what it says, the report's
//! numbers against the fault log, typed errors for bad input.

use std::time::Duration;

use failure_detector::cluster::gossip::{GossipConfig, GossipMember};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, Datagram, DecodeError, Member, SwimConfig, SwimMember,
};
use failure_detector::qos::{Delay, Loss};
use failure_detector::sim::{Fault, LinkDelay, RandomFaults, SimError, Simulation};
use failure_detector::{ConfigError, NodeState, Timestamp};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at_ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

/// A member that sends a numbered datagram (its send time and a sequence number)
/// to each target every `period`, and records what it receives and when: a
/// probe of the network itself.
struct Pinger {
    me: Member<u64>,
    period: u64,
    next: u64,
    seq: u64,
    targets: Vec<u64>,
    out: Vec<Datagram<u64>>,
    /// (from, handled at, sent at, seq)
    got: Vec<(u64, Timestamp, Timestamp, u64)>,
}

impl Pinger {
    fn new(id: u64, period: Duration, targets: &[u64]) -> Self {
        Pinger {
            me: Member::new(id, 0),
            period: period.as_nanos() as u64,
            next: 0,
            seq: 0,
            targets: targets.to_vec(),
            out: Vec::new(),
            got: Vec::new(),
        }
    }

    fn from(&self, id: u64) -> Vec<(Timestamp, Timestamp, u64)> {
        self.got
            .iter()
            .filter(|g| g.0 == id)
            .map(|g| (g.1, g.2, g.3))
            .collect()
    }
}

impl ClusterMember<u64> for Pinger {
    fn me(&self) -> &Member<u64> {
        &self.me
    }
    fn join(&mut self, _: &[u64], _: Timestamp) {}
    fn handle_datagram(
        &mut self,
        from: &u64,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        let sent = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let seq = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        self.got
            .push((*from, now, Timestamp::from_nanos(sent), seq));
        Ok(())
    }
    fn tick(&mut self, now: Timestamp) {
        while self.next <= now.as_nanos() {
            for &to in &self.targets {
                let mut bytes = self.next.to_le_bytes().to_vec();
                bytes.extend_from_slice(&self.seq.to_le_bytes());
                self.out.push(Datagram { to, bytes });
            }
            self.seq += 1;
            self.next += self.period;
        }
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        Some(Timestamp::from_nanos(self.next))
    }
    fn poll_datagram(&mut self) -> Option<Datagram<u64>> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }
    fn poll_event(&mut self) -> Option<ClusterEvent<u64>> {
        None
    }
    fn state_of(&self, _: &u64) -> Option<NodeState> {
        None
    }
    fn members(&self) -> Vec<(Member<u64>, NodeState)> {
        Vec::new()
    }
}

/// Members 1..=n, each pinging every other every `period`.
fn pingers(seed: u64, n: u64, period: Duration) -> Simulation<Pinger> {
    let mut sim = Simulation::new(seed);
    for id in 1..=n {
        let targets: Vec<u64> = (1..=n).filter(|&t| t != id).collect();
        sim.add(Pinger::new(id, period, &targets)).unwrap();
    }
    sim
}

fn gossip(id: u64, generation: u64) -> GossipMember<u64> {
    GossipMember::new(
        Member::new(id, generation),
        GossipConfig::new().with_seed(id * 31 + generation),
    )
    .unwrap()
}

fn swim(id: u64, generation: u64) -> SwimMember<u64> {
    SwimMember::new(
        Member::new(id, generation),
        SwimConfig::lan().with_seed(id * 31 + generation),
    )
    .unwrap()
}

fn cluster<M: ClusterMember<u64> + 'static>(
    seed: u64,
    n: u64,
    make: fn(u64, u64) -> M,
) -> Simulation<M> {
    let mut sim = Simulation::new(seed);
    for id in 1..=n {
        sim.add(make(id, 0)).unwrap();
    }
    sim.set_factory(make);
    sim.join_all();
    sim
}

/// A lossy, jittery run with every kind of fault.
fn busy_run(seed: u64) -> (u64, String) {
    let mut sim = cluster(seed, 8, gossip);
    sim.set_loss(Loss::bursty(0.05, 3.0).unwrap());
    sim.set_delay(Delay::log_normal(ms(20), ms(10)).unwrap())
        .unwrap();
    sim.at(at_ms(10_000), Fault::Cut { from: 1, to: 2 })
        .unwrap();
    sim.at(
        at_ms(12_000),
        Fault::Pause {
            member: 3,
            duration: ms(4_000),
        },
    )
    .unwrap();
    sim.at(
        at_ms(15_000),
        Fault::Slow {
            member: 4,
            delay: ms(500),
        },
    )
    .unwrap();
    sim.at(at_ms(20_000), Fault::Crash(5)).unwrap();
    sim.at(at_ms(50_000), Fault::Restart(5)).unwrap();
    sim.random_faults(
        RandomFaults::new()
            .with_pauses(60.0, ms(200), ms(2_000))
            .unwrap(),
        at_ms(70_000),
    )
    .unwrap();
    sim.run_until(at_ms(70_000)).unwrap();
    (sim.trace_hash(), format!("{:?}", sim.report()))
}

#[test]
fn one_seed_fixes_the_whole_run() {
    let a = busy_run(11);
    let b = busy_run(11);
    assert_eq!(a, b);
    let c = busy_run(12);
    assert_ne!(a.0, c.0);
    println!("seed 11: trace {:016x}", a.0);
}

#[test]
fn a_cut_link_drops_exactly_that_direction() {
    let mut sim = pingers(1, 3, ms(100));
    sim.apply(Fault::Cut { from: 1, to: 2 }).unwrap();
    sim.run_until(at_ms(2_000)).unwrap();
    let two = sim.member(2).unwrap();
    assert!(two.from(1).is_empty());
    assert_eq!(two.from(3).len(), 20);
    assert_eq!(sim.member(1).unwrap().from(2).len(), 20);
    assert_eq!(sim.member(3).unwrap().from(1).len(), 20);
    // 21 sends (0 to 2,000 ms) on the cut link, one still in flight at the end.
    assert_eq!(sim.report().blocked, 21);
    sim.apply(Fault::Uncut { from: 1, to: 2 }).unwrap();
    sim.run_until(at_ms(3_000)).unwrap();
    // Sent 2,100 to 2,900 ms (the one sent at 3,000 arrives at 3,001).
    assert_eq!(sim.member(2).unwrap().from(1).len(), 9);
}

#[test]
fn a_partition_isolates_groups_and_heals() {
    let mut sim = pingers(2, 4, ms(100));
    sim.at(at_ms(1_000), Fault::Partition(vec![vec![1, 2], vec![3]]))
        .unwrap();
    sim.at(at_ms(3_000), Fault::Heal).unwrap();
    sim.run_until(at_ms(5_000)).unwrap();
    let quiet = |m: &Pinger, from: u64| {
        m.from(from)
            .iter()
            .filter(|(_, sent, _)| *sent >= at_ms(1_000) && *sent < at_ms(3_000))
            .count()
    };
    let m = |id| sim.member(id).unwrap();
    // Across the groups: nothing sent during the partition arrives.
    assert_eq!(quiet(m(3), 1), 0);
    assert_eq!(quiet(m(3), 2), 0);
    assert_eq!(quiet(m(1), 3), 0);
    // Within a group, and to and from member 4 (in no group): everything.
    assert_eq!(quiet(m(1), 2), 20);
    assert_eq!(quiet(m(4), 3), 20);
    assert_eq!(quiet(m(3), 4), 20);
    // After healing, everything again.
    assert_eq!(
        m(3).from(1).iter().filter(|g| g.1 >= at_ms(3_000)).count(),
        20
    );
}

#[test]
fn a_pause_holds_inbound_then_delivers_it_in_order() {
    let mut sim = pingers(3, 2, ms(100));
    sim.at(
        at_ms(1_050),
        Fault::Pause {
            member: 2,
            duration: ms(2_000),
        },
    )
    .unwrap();
    sim.run_until(at_ms(5_000)).unwrap();
    let two = sim.member(2).unwrap().from(1);
    // Sent 1,100 .. 3,000 ms (arriving 1 ms later, before the 3,050 ms wake):
    // handled at the wake, in order.
    let held: Vec<_> = two.iter().filter(|g| g.0 == at_ms(3_050)).collect();
    assert_eq!(held.len(), 20, "{two:?}");
    assert!(held.windows(2).all(|w| w[0].2 < w[1].2));
    assert!(
        two.iter()
            .all(|g| g.0 <= at_ms(1_050) || g.0 >= at_ms(3_050))
    );
    // Member 2 sent nothing while paused; its late tick sends what was due.
    let one = sim.member(1).unwrap().from(2);
    assert!(
        one.iter()
            .all(|g| g.0 <= at_ms(1_050) || g.0 >= at_ms(3_050))
    );
    assert_eq!(one.len(), 50);
}

#[test]
fn slow_processing_delays_every_datagram_and_keeps_fifo() {
    let mut sim = pingers(4, 2, ms(100));
    sim.at(
        at_ms(1_000),
        Fault::Slow {
            member: 2,
            delay: ms(2_000),
        },
    )
    .unwrap();
    sim.at(
        at_ms(2_000),
        Fault::Slow {
            member: 2,
            delay: Duration::ZERO,
        },
    )
    .unwrap();
    sim.run_until(at_ms(6_000)).unwrap();
    let two = sim.member(2).unwrap().from(1);
    for (handled, sent, _) in &two {
        let arrived = *sent + ms(1);
        if arrived < at_ms(1_000) {
            assert_eq!(*handled, arrived);
        } else if arrived < at_ms(2_000) {
            assert_eq!(*handled, arrived + ms(2_000), "{sent}");
        } else {
            // Not slow any more, but behind the queue (the last one out at 3,901 ms).
            assert_eq!(*handled, arrived.max(at_ms(3_901)), "{sent}");
        }
    }
    assert!(two.windows(2).all(|w| w[0].2 < w[1].2), "FIFO");
    assert_eq!(two.len(), 60);
    // The other direction is not slowed.
    assert!(
        sim.member(1)
            .unwrap()
            .from(2)
            .iter()
            .all(|g| g.0 == g.1 + ms(1))
    );
}

#[test]
fn bursty_loss_has_the_configured_mean_rate_and_bursts() {
    let mut sim = pingers(5, 2, ms(1));
    sim.set_loss(Loss::bursty(0.1, 5.0).unwrap());
    sim.run_until(at_ms(40_000)).unwrap();
    let got: Vec<u64> = sim.member(2).unwrap().from(1).iter().map(|g| g.2).collect();
    let sent = 40_000f64;
    let rate = 1.0 - got.len() as f64 / sent;
    assert!((rate - 0.1).abs() < 0.015, "{rate}");
    // Mean burst length: lost datagrams per gap in the sequence.
    let gaps = got.windows(2).filter(|w| w[1] > w[0] + 1).count() as f64;
    let burst = (sent - got.len() as f64) / gaps;
    assert!((burst - 5.0).abs() < 0.75, "{burst}");
    // Independent loss: bursts of about 1 / (1 - p).
    let mut sim = pingers(5, 2, ms(1));
    sim.set_loss(Loss::random(0.1).unwrap());
    sim.run_until(at_ms(40_000)).unwrap();
    let got: Vec<u64> = sim.member(2).unwrap().from(1).iter().map(|g| g.2).collect();
    let gaps = got.windows(2).filter(|w| w[1] > w[0] + 1).count() as f64;
    assert!(((sent - got.len() as f64) / gaps) < 1.2);
}

#[test]
fn delays_have_the_configured_mean_and_links_their_own() {
    let mut sim = pingers(6, 3, ms(5));
    sim.set_delay(Delay::gamma(ms(20), ms(8)).unwrap()).unwrap();
    sim.apply(Fault::LinkDelay {
        from: 1,
        to: 3,
        delay: LinkDelay::Model(Delay::constant(ms(50))),
    })
    .unwrap();
    sim.run_until(at_ms(60_000)).unwrap();
    let two = sim.member(2).unwrap().from(1);
    let mean = two
        .iter()
        .map(|g| (g.0.as_nanos() - g.1.as_nanos()) as f64)
        .sum::<f64>()
        / two.len() as f64;
    assert!((mean / 20e6 - 1.0).abs() < 0.02, "{mean}");
    // The spread reorders: some datagrams overtake earlier ones.
    assert!(two.windows(2).any(|w| w[1].2 < w[0].2));
    let three = sim.member(3).unwrap().from(1);
    assert!(three.iter().all(|g| g.0 == g.1 + ms(50)));
}

fn crash_report<M: ClusterMember<u64> + 'static>(make: fn(u64, u64) -> M, limit: Duration) {
    for seed in 0..3 {
        let mut sim = cluster(seed, 6, make);
        // Jitter, so that each seed is another run.
        sim.set_delay(LinkDelay::Uniform {
            min: ms(1),
            max: ms(5),
        })
        .unwrap();
        sim.at(at_ms(20_000), Fault::Crash(6)).unwrap();
        sim.run_until(at_ms(20_000) + limit).unwrap();
        let r = sim.report();
        assert_eq!(r.crashes.len(), 1);
        let c = &r.crashes[0];
        assert_eq!((c.member.clone(), c.at), (Member::new(6, 0), at_ms(20_000)));
        assert_eq!((c.survivors, c.convicted_by), (5, 5), "seed {seed}");
        let (first, all) = (c.first.unwrap(), c.all.unwrap());
        assert!(first <= all && all < limit, "{first:?} {all:?}");
        assert_eq!(r.detection_all.max, Some(all));
        assert_eq!(r.detection_first.p50, Some(first));
        assert!(r.false_dead.is_empty(), "{:?}", r.false_dead);
        assert_eq!(r.false_suspicions, 0);
        // Every survivor's pair with the crashed member has its detection time.
        let detected: Vec<_> = r.pairs.iter().filter(|p| p.subject == 6).collect();
        assert_eq!(detected.len(), 5);
        assert!(
            detected
                .iter()
                .all(|p| p.detection.len() == 1 && p.detection[0] <= all)
        );
        assert_eq!(r.overall.mistakes, 0);
        assert_eq!(r.overall.query_accuracy(), 1.0);
        assert!(r.datagrams_per_member_per_second() > 1.0);
        println!("seed {seed}: {r}");
    }
}

#[test]
fn a_crash_in_a_gossip_cluster_is_reported_for_every_survivor() {
    // Exponential phi 8 at 1 s gossip (~18 s), then 10 s of confirmation.
    crash_report(gossip, Duration::from_secs(45));
}

#[test]
fn a_crash_in_a_swim_cluster_is_reported_for_every_survivor() {
    crash_report(swim, Duration::from_secs(15));
}

#[test]
fn a_slow_member_draws_false_suspicions_and_the_report_sees_them() {
    let mut sim = cluster(8, 8, swim);
    // Every datagram handled 2 s late: its acks miss the 500 ms probe timeout.
    sim.at(
        at_ms(10_000),
        Fault::Slow {
            member: 3,
            delay: ms(2_000),
        },
    )
    .unwrap();
    sim.run_until(at_ms(70_000)).unwrap();
    let r = sim.report();
    assert!(r.crashes.is_empty());
    assert!(r.false_suspicions > 0, "{r}");
    let about_3: Vec<_> = r.pairs.iter().filter(|p| p.subject == 3).collect();
    assert!(!about_3.is_empty());
    for p in &about_3 {
        assert!(p.mistakes > 0 && p.mistake_duration().is_some());
        assert!(p.query_accuracy() < 1.0 && p.mistake_rate() > 0.0);
        assert!(p.observed > Duration::from_secs(69));
    }
    assert_eq!(
        r.overall.mistakes,
        r.pairs.iter().map(|p| p.mistakes).sum::<u64>()
    );
    // Every false Dead, if any, names a member that was up.
    assert!(r.false_dead.iter().all(|v| v.member == Member::new(3, 0)));
    println!("{r}");
}

#[test]
fn random_faults_follow_the_rates_from_the_seed() {
    let run = |seed| {
        let mut sim = cluster(seed, 10, swim);
        sim.random_faults(
            RandomFaults::new()
                .with_crashes(6.0)
                .unwrap()
                .with_restarts(Duration::from_secs(20))
                .unwrap(),
            at_ms(600_000),
        )
        .unwrap();
        sim.run_until(at_ms(600_000)).unwrap();
        sim.report()
    };
    let r = run(9);
    // 10 members, 6 crashes per member-hour, for 10 minutes (minus 20 s down
    // after each): about 10 crashes.
    assert!((3..=20).contains(&r.crashes.len()), "{}", r.crashes.len());
    assert!(r.crashes.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(r, run(9));
    // Restarts come back with higher generations.
    assert!(r.crashes.iter().any(|c| c.member.generation > 0));
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let mut sim = cluster(1, 3, gossip);
    let before = sim.trace_hash();
    assert_eq!(
        RandomFaults::new().with_crashes(f64::NAN),
        Err(SimError::Config(ConfigError::NotFinite {
            field: "crashes_per_member_hour"
        }))
    );
    assert!(matches!(
        RandomFaults::new().with_pauses(-1.0, ms(1), ms(2)),
        Err(SimError::Config(ConfigError::OutOfRange { .. }))
    ));
    assert!(RandomFaults::new().with_pauses(1.0, ms(0), ms(2)).is_err());
    assert!(RandomFaults::new().with_pauses(1.0, ms(3), ms(2)).is_err());
    let bad = RandomFaults {
        pauses_per_member_hour: f64::INFINITY,
        ..RandomFaults::new()
    };
    assert!(sim.random_faults(bad, at_ms(1_000)).is_err());
    assert_eq!(
        sim.apply(Fault::Pause {
            member: 1,
            duration: Duration::ZERO
        }),
        Err(SimError::Config(ConfigError::NotPositive {
            field: "duration"
        }))
    );
    assert_eq!(
        sim.apply(Fault::Crash(9)),
        Err(SimError::UnknownMember { id: 9 })
    );
    assert_eq!(
        sim.at(at_ms(1), Fault::Partition(vec![vec![1], vec![2, 99]])),
        Err(SimError::UnknownMember { id: 99 })
    );
    assert!(matches!(
        sim.set_delay(LinkDelay::Uniform {
            min: ms(5),
            max: ms(1)
        }),
        Err(SimError::Config(_))
    ));
    assert_eq!(
        sim.add(gossip(2, 0)),
        Err(SimError::DuplicateMember { id: 2 })
    );
    assert!(matches!(
        sim.restart_with(gossip(2, 0)),
        Err(SimError::BadRestart { .. })
    ));
    assert_eq!(sim.trace_hash(), before);
    assert_eq!(sim.live_ids(), vec![1, 2, 3]);
    sim.run_until(at_ms(5_000)).unwrap();
    assert!(matches!(
        sim.at(at_ms(1_000), Fault::Crash(1)),
        Err(SimError::InThePast { .. })
    ));
    let mut plain: Simulation<GossipMember<u64>> = Simulation::new(1);
    plain.add(gossip(1, 0)).unwrap();
    assert_eq!(
        plain.apply(Fault::Restart(1)),
        Err(SimError::NoFactory { id: 1 })
    );
    assert_eq!(plain.live_ids(), vec![1]);
    assert!(
        plain
            .random_faults(
                RandomFaults::new().with_restarts(ms(5)).unwrap(),
                at_ms(1_000)
            )
            .is_err()
    );
}

/// Runs 1,000 members for 10 simulated minutes, printing the wall time of
/// each simulated minute and the report.
fn thousand_for_ten_minutes<M: ClusterMember<u64> + 'static>(name: &str, make: fn(u64, u64) -> M) {
    use std::time::Instant;
    let start = Instant::now();
    let mut sim = cluster(1, 1_000, make);
    for minute in 1..=10 {
        sim.run_until(Timestamp::from_secs(60 * minute)).unwrap();
        println!(
            "{name}: {minute} simulated minutes after {:.1} s wall, {} datagrams delivered",
            start.elapsed().as_secs_f64(),
            sim.datagrams_delivered()
        );
    }
    let wall = start.elapsed();
    let r = sim.report();
    println!(
        "{name}: N = 1,000 x 600 s in {:.1} s wall; {} datagrams delivered, {:.0} ns each (members' work included); trace {:016x}\n{r}",
        wall.as_secs_f64(),
        r.delivered,
        wall.as_nanos() as f64 / r.delivered as f64,
        sim.trace_hash()
    );
    assert_eq!(r.members, 1_000);
}

/// The speed figure of the issue for SWIM: N = 1,000 at the default (LAN)
/// config for 10 simulated minutes. Prints wall times; asserts only behaviour.
/// Run it in release:
/// `cargo test --release --test sim -- --ignored --nocapture thousand_swim`.
#[test]
#[ignore]
fn thousand_swim_members_for_ten_minutes() {
    thousand_for_ten_minutes("swim", swim);
}

/// The same for gossip at its default config (about 8 GB: each of the 1,000
/// members holds a detector with a 1,000-sample window for each other one).
#[test]
#[ignore]
fn thousand_gossip_members_for_ten_minutes() {
    thousand_for_ten_minutes("gossip", gossip);
}

/// The engine's own cost per delivered datagram: 1,000 members that do
/// nothing but send to 3 others every 100 ms, log-normal delays, 60 simulated
/// seconds.
#[test]
#[ignore]
fn engine_cost_per_delivered_datagram() {
    use std::time::Instant;
    let start = Instant::now();
    let mut sim = Simulation::new(1);
    for id in 1..=1_000u64 {
        let targets = [1 + id % 1_000, 1 + (id + 1) % 1_000, 1 + (id + 2) % 1_000];
        sim.add(Pinger::new(id, ms(100), &targets)).unwrap();
    }
    sim.set_delay(Delay::log_normal(ms(20), ms(10)).unwrap())
        .unwrap();
    sim.run_until(Timestamp::from_secs(60)).unwrap();
    let wall = start.elapsed();
    let delivered = sim.datagrams_delivered();
    assert!(delivered > 1_700_000);
    println!(
        "engine alone: {delivered} datagrams delivered in {:.2} s, {:.0} ns per delivered datagram",
        wall.as_secs_f64(),
        wall.as_nanos() as f64 / delivered as f64
    );
}
