//! The in-memory network of the cluster members' behaviour tests: a thin adapter
//! over the library's simulator (`failure_detector::sim::Simulation`), keeping
//! the small API the tests were written against. One seed reproduces one run
//! exactly; a failing test prints it.
//!
//! What the adapter adds: it records every event, panics on test bugs (an
//! unknown or crashed member), and takes the loss as a probability and the delay
//! as a uniform range.

use std::time::Duration;

use failure_detector::NodeState;
use failure_detector::Timestamp;
use failure_detector::cluster::{ClusterEvent, ClusterMember};
use failure_detector::qos::Loss;
use failure_detector::sim::{Fault, LinkDelay, Simulation};

/// The network and its members (ids are `u64`).
pub struct Net<M: ClusterMember<u64>> {
    sim: Simulation<M>,
    /// Members handed out mutably: their outputs and deadline are collected
    /// before the next step.
    touched: Vec<u64>,
}

impl<M: ClusterMember<u64>> Net<M> {
    /// An empty network at time zero; `seed` drives loss and delay.
    pub fn new(seed: u64) -> Self {
        let mut sim = Simulation::new(seed);
        sim.record_events(true);
        Net {
            sim,
            touched: Vec::new(),
        }
    }

    /// The simulator underneath.
    pub fn sim(&mut self) -> &mut Simulation<M> {
        self.settle();
        &mut self.sim
    }

    /// The seed, for failure messages.
    pub fn seed(&self) -> u64 {
        self.sim.seed()
    }

    /// Adds a member (its id is `member.me().id`); the first one added is the
    /// seed the others join through.
    pub fn add(&mut self, member: M) {
        self.sim.add(member).expect("a new member id");
    }

    /// Every member joins through the seed (the first member added).
    pub fn join_all(&mut self) {
        self.settle();
        self.sim.join_all();
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.sim.now()
    }

    /// Each datagram is lost with probability `p`.
    pub fn set_loss(&mut self, p: f64) {
        let loss = if p == 0.0 {
            Loss::none()
        } else {
            Loss::random(p).expect("a loss probability below 1")
        };
        self.sim.set_loss(loss);
    }

    /// Each datagram takes a uniform delay in `[min, max]` (it reorders when
    /// `max > min`). Default 1 ms.
    pub fn set_delay(&mut self, min: Duration, max: Duration) {
        self.sim
            .set_delay(LinkDelay::Uniform {
                min,
                max: max.max(min),
            })
            .expect("a delay range");
    }

    fn fault(&mut self, fault: Fault) {
        self.settle();
        self.sim.apply(fault).expect("a fault on known members");
    }

    /// Datagrams from `from` to `to` are lost (one direction).
    pub fn cut(&mut self, from: u64, to: u64) {
        self.fault(Fault::Cut { from, to });
    }

    /// Undoes [`cut`](Self::cut).
    pub fn heal(&mut self, from: u64, to: u64) {
        self.fault(Fault::Uncut { from, to });
    }

    /// Splits the members into groups that cannot reach each other; members in
    /// no group reach everyone.
    pub fn partition(&mut self, groups: &[&[u64]]) {
        self.fault(Fault::Partition(
            groups.iter().map(|g| g.to_vec()).collect(),
        ));
    }

    /// Removes every cut and partition.
    pub fn heal_all(&mut self) {
        self.fault(Fault::Heal);
    }

    /// The member stops: it sends, handles and ticks nothing again.
    pub fn crash(&mut self, id: u64) {
        self.fault(Fault::Crash(id));
    }

    /// Replaces the member with the same id (a restart, with a higher generation)
    /// and has it join through the seed.
    pub fn restart(&mut self, member: M) {
        self.settle();
        let id = member.me().id;
        if self.sim.ids().contains(&id) {
            self.sim.restart_with(member).expect("a higher generation");
        } else {
            self.sim.add(member).expect("a new member id");
            self.sim.join(id).expect("a known member");
        }
    }

    /// Stops the world at `id` for `d`: no ticks and nothing handled; what arrives
    /// meanwhile is handled when it wakes.
    pub fn pause(&mut self, id: u64, d: Duration) {
        self.fault(Fault::Pause {
            member: id,
            duration: d,
        });
    }

    /// The member with `id` (panics if unknown or crashed: a test bug).
    pub fn member(&self, id: u64) -> &M {
        self.sim.member(id).expect("a live member")
    }

    /// The member with `id`, mutably.
    pub fn member_mut(&mut self, id: u64) -> &mut M {
        self.touched.push(id);
        self.sim.member_mut(id).expect("a live member")
    }

    /// Ids of the members that have not crashed, in id order.
    pub fn live_ids(&self) -> Vec<u64> {
        let mut ids = self.sim.live_ids();
        ids.sort_unstable();
        ids
    }

    /// Every event so far, with the member that emitted it.
    pub fn events(&self) -> &[(u64, ClusterEvent<u64>)] {
        self.sim.events()
    }

    /// The first time `observer` moved `subject` to `to` at or after `since`.
    pub fn first_change_since(
        &self,
        observer: u64,
        subject: u64,
        to: NodeState,
        since: Timestamp,
    ) -> Option<Timestamp> {
        self.events().iter().find_map(|(o, e)| match e {
            ClusterEvent::Changed {
                member, to: t, at, ..
            } if *o == observer && member.id == subject && *t == to && *at >= since => Some(*at),
            _ => None,
        })
    }

    /// Every `(observer, subject, at)` of a change to `to`, in event order.
    pub fn changes(&self, to: NodeState) -> Vec<(u64, u64, Timestamp)> {
        self.events()
            .iter()
            .filter_map(|(o, e)| match e {
                ClusterEvent::Changed {
                    member, to: t, at, ..
                } if *t == to => Some((*o, member.id, *at)),
                _ => None,
            })
            .collect()
    }

    /// Splits members `1..=n` into `1..=n - small` (the majority) and the rest
    /// now, runs until `until`, and checks the partition's verdicts: no member
    /// of the minority moved one of the majority to Dead, and every member of
    /// the majority holds every member of the minority Dead.
    pub fn check_two_sided_partition(&mut self, n: u64, small: u64, until: Timestamp) {
        let majority: Vec<u64> = (1..=n - small).collect();
        let minority: Vec<u64> = (n - small + 1..=n).collect();
        self.partition(&[&majority, &minority]);
        self.run_until(until);
        let wrong: Vec<_> = self
            .changes(NodeState::Dead)
            .into_iter()
            .filter(|(o, s, _)| minority.contains(o) && majority.contains(s))
            .collect();
        assert!(wrong.is_empty(), "seed {}: {wrong:?}", self.seed());
        for &o in &majority {
            for &s in &minority {
                assert_eq!(
                    self.member(o).state_of(&s),
                    Some(NodeState::Dead),
                    "{o} -> {s}"
                );
            }
        }
    }

    /// The first time `observer` moved `subject` to `to`.
    pub fn first_change(&self, observer: u64, subject: u64, to: NodeState) -> Option<Timestamp> {
        self.first_change_since(observer, subject, to, Timestamp::ZERO)
    }

    /// Datagrams the members emitted (delivered or not).
    pub fn datagrams_sent(&self) -> u64 {
        self.sim.datagrams_sent()
    }

    /// Bytes the members emitted.
    pub fn bytes_sent(&self) -> u64 {
        self.sim.bytes_sent()
    }

    /// Datagrams a member refused as malformed.
    pub fn decode_errors(&self) -> u64 {
        self.sim.decode_errors()
    }

    /// A hash of every datagram (time, ends, bytes) and event so far: equal for
    /// equal runs.
    pub fn trace_hash(&self) -> u64 {
        self.sim.trace_hash()
    }

    /// Hands `bytes` to `to` as if `from` had sent them, now (for tests of
    /// hostile datagrams). Returns whether the member accepted them.
    pub fn inject(&mut self, from: u64, to: u64, bytes: &[u8]) -> bool {
        self.settle();
        self.sim.inject(from, to, bytes)
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now().saturating_add(d);
        self.run_until(until);
    }

    /// Runs every delivery and tick due up to `t`, in time order, then sets the
    /// clock to `t`.
    pub fn run_until(&mut self, t: Timestamp) {
        self.settle();
        let seed = self.seed();
        self.sim
            .run_until(t)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }

    /// Collects the outputs of members touched by hand.
    fn settle(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            self.sim.collect(id);
        }
    }
}
