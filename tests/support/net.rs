//! An in-memory network for the cluster members' behaviour tests: a seeded,
//! single-threaded, discrete-event loop on a virtual clock that delivers the
//! members' datagrams with delay, loss, reordering, cut links and partitions, and
//! can crash, restart and pause members. One seed reproduces one run exactly;
//! a failing test prints it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use failure_detector::NodeState;
use failure_detector::Timestamp;
use failure_detector::cluster::{ClusterEvent, ClusterMember, SeededRng};

/// A datagram in flight: delivery time, a sequence number (ties keep sending
/// order), sender, receiver, payload.
type InFlight = Reverse<(Timestamp, u64, u64, u64, Vec<u8>)>;

struct Slot<M> {
    /// `None` while crashed.
    member: Option<M>,
    /// Stop-the-world pause: nothing runs before this instant.
    paused_until: Timestamp,
    /// Datagrams that arrived during a pause, handled on waking.
    held: Vec<(u64, Vec<u8>)>,
}

/// The network and its members (ids are `u64`).
pub struct Net<M> {
    seed: u64,
    rng: SeededRng,
    now: Timestamp,
    slots: BTreeMap<u64, Slot<M>>,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    seeds: Vec<u64>,
    loss: f64,
    delay: (u64, u64),
    cuts: BTreeSet<(u64, u64)>,
    groups: BTreeMap<u64, usize>,
    events: Vec<(u64, ClusterEvent<u64>)>,
    datagrams: u64,
    bytes: u64,
    decode_errors: u64,
    hash: u64,
}

fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x100_0000_01b3);
    }
}

impl<M: ClusterMember<u64>> Net<M> {
    /// An empty network at time zero; `seed` drives loss and delay.
    pub fn new(seed: u64) -> Self {
        Net {
            seed,
            rng: SeededRng::new(seed),
            now: Timestamp::ZERO,
            slots: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            seeds: Vec::new(),
            loss: 0.0,
            delay: (1_000_000, 1_000_000),
            cuts: BTreeSet::new(),
            groups: BTreeMap::new(),
            events: Vec::new(),
            datagrams: 0,
            bytes: 0,
            decode_errors: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// The seed, for failure messages.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds a member (its id is `member.me().id`); the first one added is the
    /// seed the others join through.
    pub fn add(&mut self, member: M) {
        let id = member.me().id;
        if self.seeds.is_empty() {
            self.seeds.push(id);
        }
        self.slots.insert(
            id,
            Slot {
                member: Some(member),
                paused_until: Timestamp::ZERO,
                held: Vec::new(),
            },
        );
    }

    /// Every member joins through the seed (the first member added).
    pub fn join_all(&mut self) {
        let ids: Vec<u64> = self.slots.keys().copied().collect();
        for id in ids {
            self.join(id);
        }
    }

    fn join(&mut self, id: u64) {
        let seeds: Vec<u64> = self.seeds.iter().copied().filter(|&s| s != id).collect();
        let seeds = if seeds.is_empty() {
            // The seed itself restarting joins through any other member.
            self.slots
                .keys()
                .copied()
                .filter(|&s| s != id)
                .take(1)
                .collect()
        } else {
            seeds
        };
        let now = self.now;
        if let Some(m) = self.slots.get_mut(&id).and_then(|s| s.member.as_mut()) {
            m.join(&seeds, now);
        }
        self.collect(id);
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Each datagram is lost with probability `p`.
    pub fn set_loss(&mut self, p: f64) {
        self.loss = p;
    }

    /// Each datagram takes a uniform delay in `[min, max]` (it reorders when
    /// `max > min`). Default 1 ms.
    pub fn set_delay(&mut self, min: Duration, max: Duration) {
        let min = min.as_nanos() as u64;
        self.delay = (min, (max.as_nanos() as u64).max(min));
    }

    /// Datagrams from `from` to `to` are lost (one direction).
    pub fn cut(&mut self, from: u64, to: u64) {
        self.cuts.insert((from, to));
    }

    /// Undoes [`cut`](Self::cut).
    pub fn heal(&mut self, from: u64, to: u64) {
        self.cuts.remove(&(from, to));
    }

    /// Splits the members into groups that cannot reach each other; members in
    /// no group reach everyone.
    pub fn partition(&mut self, groups: &[&[u64]]) {
        self.groups.clear();
        for (g, ids) in groups.iter().enumerate() {
            for &id in ids.iter() {
                self.groups.insert(id, g);
            }
        }
    }

    /// Removes every cut and partition.
    pub fn heal_all(&mut self) {
        self.cuts.clear();
        self.groups.clear();
    }

    /// The member stops: it sends, handles and ticks nothing again.
    pub fn crash(&mut self, id: u64) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.member = None;
            s.held.clear();
        }
    }

    /// Replaces the member with the same id (a restart, with a higher generation)
    /// and has it join through the seed.
    pub fn restart(&mut self, member: M) {
        let id = member.me().id;
        self.slots.insert(
            id,
            Slot {
                member: Some(member),
                paused_until: self.now,
                held: Vec::new(),
            },
        );
        self.join(id);
    }

    /// Stops the world at `id` for `d`: no ticks and nothing handled; what arrives
    /// meanwhile is handled when it wakes.
    pub fn pause(&mut self, id: u64, d: Duration) {
        let until = self.now.saturating_add(d);
        if let Some(s) = self.slots.get_mut(&id) {
            s.paused_until = s.paused_until.max(until);
        }
    }

    /// The member with `id` (panics if unknown or crashed: a test bug).
    pub fn member(&self, id: u64) -> &M {
        self.slots[&id].member.as_ref().expect("member crashed")
    }

    /// The member with `id`, mutably.
    pub fn member_mut(&mut self, id: u64) -> &mut M {
        self.slots
            .get_mut(&id)
            .and_then(|s| s.member.as_mut())
            .expect("member crashed")
    }

    /// Ids of the members that have not crashed.
    pub fn live_ids(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.member.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Every event so far, with the member that emitted it.
    pub fn events(&self) -> &[(u64, ClusterEvent<u64>)] {
        &self.events
    }

    /// The first time `observer` moved `subject` to `to` at or after `since`.
    pub fn first_change_since(
        &self,
        observer: u64,
        subject: u64,
        to: NodeState,
        since: Timestamp,
    ) -> Option<Timestamp> {
        self.events.iter().find_map(|(o, e)| match e {
            ClusterEvent::Changed {
                member, to: t, at, ..
            } if *o == observer && member.id == subject && *t == to && *at >= since => Some(*at),
            _ => None,
        })
    }

    /// The first time `observer` moved `subject` to `to`.
    pub fn first_change(&self, observer: u64, subject: u64, to: NodeState) -> Option<Timestamp> {
        self.first_change_since(observer, subject, to, Timestamp::ZERO)
    }

    /// Datagrams the members emitted (delivered or not).
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams
    }

    /// Bytes the members emitted.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes
    }

    /// Datagrams a member refused as malformed.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// A hash of every datagram (time, ends, bytes) and event so far: equal for
    /// equal runs.
    pub fn trace_hash(&self) -> u64 {
        self.hash
    }

    /// Hands `bytes` to `to` as if `from` had sent them, now (for tests of
    /// hostile datagrams). Returns whether the member accepted them.
    pub fn inject(&mut self, from: u64, to: u64, bytes: &[u8]) -> bool {
        let now = self.now;
        let ok = match self.slots.get_mut(&to).and_then(|s| s.member.as_mut()) {
            Some(m) => m.handle_datagram(&from, bytes, now).is_ok(),
            None => false,
        };
        if !ok {
            self.decode_errors += 1;
        }
        self.collect(to);
        ok
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now.saturating_add(d);
        self.run_until(until);
    }

    /// Runs every delivery and tick due up to `t`, in time order (deliveries
    /// before ticks at the same instant, members in id order), then sets the
    /// clock to `t`.
    pub fn run_until(&mut self, t: Timestamp) {
        let (mut last, mut steps) = (self.now, 0u32);
        loop {
            if self.now == last {
                steps += 1;
                assert!(
                    steps < 1_000_000,
                    "no progress at {} (seed {})",
                    self.now,
                    self.seed
                );
            } else {
                (last, steps) = (self.now, 0);
            }
            let next_msg = self.queue.peek().map(|Reverse(m)| m.0);
            let next_tick = self
                .slots
                .iter()
                .filter_map(|(&id, s)| {
                    let m = s.member.as_ref()?;
                    let due = if s.paused_until > self.now || !s.held.is_empty() {
                        Some(s.paused_until.max(self.now))
                    } else {
                        m.next_deadline()
                    }?;
                    Some((due.max(self.now), id))
                })
                .min();
            let msg_first = match (next_msg, next_tick) {
                (Some(m), Some((k, _))) => m <= k,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if msg_first {
                let at = next_msg.unwrap_or(t);
                if at > t {
                    break;
                }
                let Some(Reverse((at, _, from, to, bytes))) = self.queue.pop() else {
                    break;
                };
                self.now = self.now.max(at);
                self.deliver(from, to, bytes);
            } else {
                let Some((at, id)) = next_tick else { break };
                if at > t {
                    break;
                }
                self.now = self.now.max(at);
                self.wake_or_tick(id);
            }
        }
        self.now = self.now.max(t);
    }

    fn deliver(&mut self, from: u64, to: u64, bytes: Vec<u8>) {
        let now = self.now;
        let Some(slot) = self.slots.get_mut(&to) else {
            return;
        };
        let Some(member) = slot.member.as_mut() else {
            return;
        };
        if slot.paused_until > now {
            slot.held.push((from, bytes));
            return;
        }
        if member.handle_datagram(&from, &bytes, now).is_err() {
            self.decode_errors += 1;
        }
        self.collect(to);
    }

    fn wake_or_tick(&mut self, id: u64) {
        let now = self.now;
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let Some(member) = slot.member.as_mut() else {
            return;
        };
        let held = std::mem::take(&mut slot.held);
        let mut errors = 0;
        for (from, bytes) in held {
            if member.handle_datagram(&from, &bytes, now).is_err() {
                errors += 1;
            }
        }
        member.tick(now);
        self.decode_errors += errors;
        self.collect(id);
    }

    /// Takes the member's datagrams (through the faults) and events.
    fn collect(&mut self, id: u64) {
        let now = self.now;
        let Some(member) = self.slots.get_mut(&id).and_then(|s| s.member.as_mut()) else {
            return;
        };
        let mut out = Vec::new();
        while let Some(d) = member.poll_datagram() {
            out.push(d);
        }
        let mut events = Vec::new();
        while let Some(e) = member.poll_event() {
            events.push(e);
        }
        for e in events {
            fnv(&mut self.hash, format!("{id}:{e:?}").as_bytes());
            self.events.push((id, e));
        }
        for d in out {
            self.datagrams += 1;
            self.bytes += d.bytes.len() as u64;
            fnv(&mut self.hash, &now.as_nanos().to_le_bytes());
            fnv(&mut self.hash, &id.to_le_bytes());
            fnv(&mut self.hash, &d.to.to_le_bytes());
            fnv(&mut self.hash, &d.bytes);
            let cut = self.cuts.contains(&(id, d.to))
                || match (self.groups.get(&id), self.groups.get(&d.to)) {
                    (Some(a), Some(b)) => a != b,
                    _ => false,
                };
            if cut || self.rng.chance(self.loss) {
                continue;
            }
            let (lo, hi) = self.delay;
            let delay = lo + self.rng.below((hi - lo) as usize + 1) as u64;
            let at = Timestamp::from_nanos(now.as_nanos().saturating_add(delay));
            self.seq += 1;
            self.queue.push(Reverse((at, self.seq, id, d.to, d.bytes)));
        }
    }
}
