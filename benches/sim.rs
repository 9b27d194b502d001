//! Criterion benchmarks of the cluster simulator.
//!
//! * `sim/engine_100x10s`: the engine's own cost per delivered datagram: 100
//!   members that do nothing but send 16 bytes to 3 others every 100 ms, over
//!   log-normal delays (20 ms +- 10 ms) with 1% independent loss, for 10
//!   simulated seconds (about 30,000 datagrams). `Throughput::Elements`:
//!   datagrams delivered, so criterion prints the rate; its inverse is the
//!   nanoseconds per delivered datagram (queue, routing, faults, fingerprint).
//! * `sim/swim_100x60s` and `sim/gossip_100x60s`: the real members at their
//!   default configs, N = 100, 60 simulated seconds, a crash at 30 s
//!   (`Throughput::Elements`: datagrams delivered, members' work included).
//!
//! The figure of the issue (N = 1,000 for 10 simulated minutes) is timed once by
//! the ignored test `thousand_members_for_ten_minutes` in `tests/sim.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use failure_detector::NodeState;
use failure_detector::Timestamp;
use failure_detector::cluster::gossip::{GossipConfig, GossipMember};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, Datagram, DecodeError, Member, SwimConfig, SwimMember,
};
use failure_detector::qos::{Delay, Loss};
use failure_detector::sim::{Fault, Simulation};

/// Sends 16 bytes to each target every 100 ms; handles datagrams by counting them.
struct Null {
    me: Member<u64>,
    next: u64,
    targets: [u64; 3],
    out: Vec<Datagram<u64>>,
    got: u64,
}

impl ClusterMember<u64> for Null {
    fn me(&self) -> &Member<u64> {
        &self.me
    }
    fn join(&mut self, _: &[u64], _: Timestamp) {}
    fn handle_datagram(&mut self, _: &u64, _: &[u8], _: Timestamp) -> Result<(), DecodeError> {
        self.got += 1;
        Ok(())
    }
    fn tick(&mut self, now: Timestamp) {
        while self.next <= now.as_nanos() {
            for &to in &self.targets {
                self.out.push(Datagram {
                    to,
                    bytes: vec![7; 16],
                });
            }
            self.next += 100_000_000;
        }
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        Some(Timestamp::from_nanos(self.next))
    }
    fn poll_datagram(&mut self) -> Option<Datagram<u64>> {
        self.out.pop()
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

fn engine(n: u64) -> Simulation<Null> {
    let mut sim = Simulation::new(1);
    for id in 0..n {
        sim.add(Null {
            me: Member::new(id, 0),
            next: id * 1_000,
            targets: [(id + 1) % n, (id + 7) % n, (id + 31) % n],
            out: Vec::new(),
            got: 0,
        })
        .unwrap();
    }
    sim.set_delay(Delay::log_normal(Duration::from_millis(20), Duration::from_millis(10)).unwrap())
        .unwrap();
    sim.set_loss(Loss::random(0.01).unwrap());
    sim
}

fn cluster<M: ClusterMember<u64>>(n: u64, make: impl Fn(u64) -> M) -> Simulation<M> {
    let mut sim = Simulation::new(1);
    for id in 1..=n {
        sim.add(make(id)).unwrap();
    }
    sim.join_all();
    sim.at(Timestamp::from_secs(30), Fault::Crash(n)).unwrap();
    sim
}

fn delivered<M: ClusterMember<u64>>(mut sim: Simulation<M>, until: Timestamp) -> u64 {
    sim.run_until(until).unwrap();
    sim.datagrams_delivered()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    let ten = Timestamp::from_secs(10);
    g.throughput(Throughput::Elements(delivered(engine(100), ten)));
    g.bench_function("engine_100x10s", |b| {
        b.iter_batched(
            || engine(100),
            |sim| black_box(delivered(sim, ten)),
            BatchSize::LargeInput,
        )
    });
    let minute = Timestamp::from_secs(60);
    let swim = |id| SwimMember::new(Member::new(id, 0), SwimConfig::lan().with_seed(id)).unwrap();
    g.throughput(Throughput::Elements(delivered(cluster(100, swim), minute)));
    g.bench_function("swim_100x60s", |b| {
        b.iter_batched(
            || cluster(100, swim),
            |sim| black_box(delivered(sim, minute)),
            BatchSize::LargeInput,
        )
    });
    let gossip =
        |id| GossipMember::new(Member::new(id, 0), GossipConfig::new().with_seed(id)).unwrap();
    g.throughput(Throughput::Elements(delivered(
        cluster(100, gossip),
        minute,
    )));
    g.bench_function("gossip_100x60s", |b| {
        b.iter_batched(
            || cluster(100, gossip),
            |sim| black_box(delivered(sim, minute)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(sim_benches, benches);
criterion_main!(sim_benches);
