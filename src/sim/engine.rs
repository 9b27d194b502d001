//! The event loop.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use super::error::SimError;
use super::fault::{Fault, LinkDelay, RandomFaults};
use super::report::{Counters, MemberLoad, Report, Truth};
use super::{MAX_FAULTS, MAX_MEMBERS};
use crate::cluster::{ClusterEvent, ClusterMember};
use crate::qos::Loss;
use crate::registry::NodeState;
use crate::time::{Timestamp, duration_nanos};

use super::hash::{Fast as Det, mix};

/// No group: reaches everyone.
const NO_GROUP: u32 = u32::MAX;

/// Events at one instant run in this order: faults, then deliveries, then ticks.
const CLASS_FAULT: u64 = 0;
const CLASS_DELIVERY: u64 = 1 << 62;
const CLASS_TICK: u64 = 2 << 62;

enum Kind {
    Fault(usize),
    /// A datagram reaches `to` through the network.
    Arrive {
        from: u32,
        to: u32,
        bytes: Vec<u8>,
    },
    /// A datagram that waited in a slow member's processing queue is handled.
    Process {
        from: u32,
        to: u32,
        life: u32,
        bytes: Vec<u8>,
    },
    Tick {
        slot: u32,
        token: u64,
    },
    Wake {
        slot: u32,
        life: u32,
    },
}

struct Entry {
    at: Timestamp,
    /// Class (top two bits) and a sequence number: ties keep scheduling order.
    key: u64,
    kind: Kind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.key) == (other.at, other.key)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.key).cmp(&(other.at, other.key))
    }
}

struct Slot<M> {
    id: u64,
    /// `None` while crashed.
    member: Option<M>,
    /// The generation of the member it holds (or held last).
    generation: u64,
    /// Counts the member's lives: a restart invalidates what was queued for the
    /// previous one.
    life: u32,
    /// The tick in the queue that is current (others are stale).
    tick_token: u64,
    tick_at: Option<Timestamp>,
    paused_until: Timestamp,
    held: Vec<(u32, Vec<u8>)>,
    /// Processing delay, ns.
    slow: u64,
    /// When the last datagram queued for slow processing comes out.
    slow_last: Timestamp,
    group: u32,
    load: MemberLoad,
}

/// A seeded, single-threaded, discrete-event simulation of a cluster on a virtual
/// clock: the members are the real sans-IO state machines
/// ([`ClusterMember`]), driven exactly as a runtime drives them, over a network
/// that delays, loses, reorders, cuts and partitions their datagrams, while
/// members crash, restart, pause and run slow.
///
/// Ids are `u64`: the simulator maps them to dense slots and routes datagrams by
/// them, and every report and fault names members by them. A simulation of
/// members keyed by addresses or ids of your own can map them to integers; a
/// generic id can come later without changing the engine.
///
/// **Determinism.** One seed fixes the whole run: the network's delays and losses
/// and the random faults come from generators seeded by it (the members' own
/// randomness comes from their configs' seeds), and every ordering is fixed:
/// events at one instant run faults first, then deliveries, then ticks, each in
/// the order it was scheduled. [`trace_hash`](Self::trace_hash) fingerprints the
/// stream of events (every datagram sent, with its time, ends and bytes; every
/// delivery; every member event; every fault): equal for equal runs.
///
/// **Cost.** O(log q) per datagram and per tick, where q is the number of
/// datagrams in flight and members with a deadline: the next tick of each member
/// sits in one priority queue with the deliveries, re-read from
/// [`next_deadline`](ClusterMember::next_deadline) after every input to it
/// (lazy invalidation: a superseded tick stays queued and is skipped). No step
/// scans the members. Memory: about 200 bytes per member slot plus the member
/// itself, about 64 bytes plus the payload per datagram in flight, and one entry per
/// observer pair that ever left Alive (the report's bookkeeping).
///
/// ```
/// use failure_detector::cluster::{ClusterMember, Member, SwimConfig, SwimMember};
/// use failure_detector::sim::{Fault, Simulation};
/// use failure_detector::Timestamp;
///
/// let mut sim = Simulation::new(7);
/// for id in 1..=5u64 {
///     sim.add(SwimMember::new(Member::new(id, 0), SwimConfig::lan().with_seed(id))?)?;
/// }
/// sim.join_all();
/// sim.at(Timestamp::from_secs(10), Fault::Crash(5))?;
/// sim.run_until(Timestamp::from_secs(60))?;
/// let report = sim.report();
/// let crash = &report.crashes[0];
/// assert_eq!(crash.convicted_by, 4); // every survivor
/// assert!(report.false_dead.is_empty());
/// println!("{report}\ntrace {:016x}", sim.trace_hash());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Simulation<M: ClusterMember<u64>> {
    seed: u64,
    net_rng: Xoshiro256PlusPlus,
    now: Timestamp,
    start: Option<Timestamp>,
    slots: Vec<Slot<M>>,
    index: HashMap<u64, u32, Det>,
    queue: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    faults: Vec<Option<Fault>>,
    pending_faults: usize,
    delay: LinkDelay,
    link_delay: HashMap<(u32, u32), LinkDelay, Det>,
    loss: Loss,
    /// Links whose Gilbert-Elliott channel is in the bad state.
    bad: HashSet<(u32, u32), Det>,
    cuts: HashSet<(u32, u32), Det>,
    partitioned: bool,
    factory: Option<Box<dyn FnMut(u64, u64) -> M>>,
    record: bool,
    events: Vec<(u64, ClusterEvent<u64>)>,
    truth: Truth,
    counters: Counters,
    hash: u64,
    random_draws: u64,
}

fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    mix(mix(h, u64::from_le_bytes(w)), bytes.len() as u64)
}

fn state_code(s: NodeState) -> u64 {
    match s {
        NodeState::Alive => 1,
        NodeState::Suspect => 2,
        NodeState::Dead => 3,
    }
}

fn event_hash(h: u64, e: &ClusterEvent<u64>) -> u64 {
    let h = mix(h, e.at().as_nanos());
    let h = match e.member() {
        Some(m) => mix(mix(h, m.id), m.generation),
        None => h,
    };
    match e {
        ClusterEvent::Joined { .. } => mix(h, 1),
        ClusterEvent::Changed { from, to, .. } => {
            mix(mix(mix(h, 2), state_code(*from)), state_code(*to))
        }
        ClusterEvent::Restarted {
            previous_generation,
            ..
        } => mix(mix(h, 3), *previous_generation),
        ClusterEvent::Removed { .. } => mix(h, 4),
        ClusterEvent::LocalPause { late_by, until, .. } => {
            mix(mix(mix(h, 5), duration_nanos(*late_by)), until.as_nanos())
        }
        ClusterEvent::Isolated {
            suspected, peers, ..
        } => mix(mix(mix(h, 6), *suspected as u64), *peers as u64),
        ClusterEvent::Reconnected { .. } => mix(h, 7),
        ClusterEvent::Deferred { doubt, .. } => mix(mix(h, 8), *doubt as u64),
        ClusterEvent::Refuted { incarnation, .. } => mix(mix(h, 9), *incarnation),
    }
}

impl<M: ClusterMember<u64>> Simulation<M> {
    /// An empty simulation at time zero: 1 ms delay on every link, no loss, no
    /// faults, events not recorded.
    pub fn new(seed: u64) -> Self {
        Simulation {
            seed,
            net_rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            now: Timestamp::ZERO,
            start: None,
            slots: Vec::new(),
            index: HashMap::default(),
            queue: BinaryHeap::new(),
            seq: 0,
            faults: Vec::new(),
            pending_faults: 0,
            delay: LinkDelay::new(),
            link_delay: HashMap::default(),
            loss: Loss::none(),
            bad: HashSet::default(),
            cuts: HashSet::default(),
            partitioned: false,
            factory: None,
            record: false,
            events: Vec::new(),
            truth: Truth::default(),
            counters: Counters::default(),
            hash: 0xcbf2_9ce4_8422_2325 ^ seed,
            random_draws: 0,
        }
    }

    /// The seed: print it with a failure, and the run can be replayed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Keeps every member event (with the member that emitted it) for
    /// [`events`](Self::events). Off by default: at N = 1,000 the joins alone are
    /// a million events. The report does not need them.
    pub fn record_events(&mut self, on: bool) {
        self.record = on;
    }

    /// Every event recorded so far, with the id of the member that emitted it.
    pub fn events(&self) -> &[(u64, ClusterEvent<u64>)] {
        &self.events
    }

    /// Adds a member, up from now (its id is `member.me().id`); the first one
    /// added is the seed the others join through.
    ///
    /// # Errors
    /// [`SimError::DuplicateMember`] if the id is taken;
    /// [`SimError::TooManyMembers`] beyond [`MAX_MEMBERS`].
    pub fn add(&mut self, member: M) -> Result<(), SimError> {
        let id = member.me().id;
        if self.index.contains_key(&id) {
            return Err(SimError::DuplicateMember { id });
        }
        if self.slots.len() >= MAX_MEMBERS {
            return Err(SimError::TooManyMembers { max: MAX_MEMBERS });
        }
        let slot = self.slots.len() as u32;
        let generation = member.me().generation;
        self.index.insert(id, slot);
        self.slots.push(Slot {
            id,
            member: Some(member),
            generation,
            life: 0,
            tick_token: 0,
            tick_at: None,
            paused_until: self.now,
            held: Vec::new(),
            slow: 0,
            slow_last: self.now,
            group: NO_GROUP,
            load: MemberLoad {
                id,
                ..MemberLoad::default()
            },
        });
        self.start.get_or_insert(self.now);
        self.truth.add_slot();
        self.truth.start(slot, self.now);
        self.collect_slot(slot);
        Ok(())
    }

    /// Sets the factory that builds a restarting member: called with the id and
    /// the lowest generation the successor may have (one above its
    /// predecessor's); it must return a member with that id and a generation at
    /// least that.
    pub fn set_factory(&mut self, factory: impl FnMut(u64, u64) -> M + 'static) {
        self.factory = Some(Box::new(factory));
    }

    /// Every member joins through the seed (the first member added).
    pub fn join_all(&mut self) {
        for slot in 0..self.slots.len() as u32 {
            self.join_slot(slot);
        }
    }

    /// Member `id` joins through the seed (the first member added; the seed
    /// itself joins through the second).
    ///
    /// # Errors
    /// [`SimError::UnknownMember`].
    pub fn join(&mut self, id: u64) -> Result<(), SimError> {
        let slot = self.slot_of(id)?;
        self.join_slot(slot);
        Ok(())
    }

    fn join_slot(&mut self, slot: u32) {
        let seed = if slot == 0 {
            self.slots.get(1).map(|s| s.id)
        } else {
            self.slots.first().map(|s| s.id)
        };
        let now = self.now;
        if let (Some(seed), Some(m)) = (
            seed,
            self.slots
                .get_mut(slot as usize)
                .and_then(|s| s.member.as_mut()),
        ) {
            m.join(&[seed], now);
        }
        self.collect_slot(slot);
    }

    fn slot_of(&self, id: u64) -> Result<u32, SimError> {
        self.index
            .get(&id)
            .copied()
            .ok_or(SimError::UnknownMember { id })
    }

    /// The member with `id` (`None`: unknown or crashed).
    pub fn member(&self, id: u64) -> Option<&M> {
        let slot = *self.index.get(&id)?;
        self.slots.get(slot as usize)?.member.as_ref()
    }

    /// The member with `id`, mutably. Call [`collect`](Self::collect) after
    /// giving it an input by hand.
    pub fn member_mut(&mut self, id: u64) -> Option<&mut M> {
        let slot = *self.index.get(&id)?;
        self.slots.get_mut(slot as usize)?.member.as_mut()
    }

    /// Takes what member `id` has to send and to say (after an input given
    /// through [`member_mut`](Self::member_mut)) and reschedules its tick.
    pub fn collect(&mut self, id: u64) {
        if let Some(&slot) = self.index.get(&id) {
            self.collect_slot(slot);
        }
    }

    /// Ids of the members that have not crashed, in the order they were added.
    pub fn live_ids(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|s| s.member.is_some())
            .map(|s| s.id)
            .collect()
    }

    /// Every member id, in the order they were added.
    pub fn ids(&self) -> Vec<u64> {
        self.slots.iter().map(|s| s.id).collect()
    }

    /// Datagrams the members emitted (delivered or not).
    pub fn datagrams_sent(&self) -> u64 {
        self.counters.datagrams
    }

    /// Bytes the members emitted.
    pub fn bytes_sent(&self) -> u64 {
        self.counters.bytes
    }

    /// Datagrams handed to a member.
    pub fn datagrams_delivered(&self) -> u64 {
        self.counters.delivered
    }

    /// Datagrams a member refused as malformed.
    pub fn decode_errors(&self) -> u64 {
        self.counters.decode_errors
    }

    /// A fingerprint of everything that happened so far (datagrams sent with
    /// their time, ends and bytes; deliveries; member events; faults): equal for
    /// equal runs, and different, but for a 2^-64 chance, for different ones.
    pub fn trace_hash(&self) -> u64 {
        self.hash
    }

    /// Hands `bytes` to `to` now, as if `from` had sent them (hostile-input
    /// tests). Returns whether the member accepted them; `false` also if `to` is
    /// unknown or crashed.
    pub fn inject(&mut self, from: u64, to: u64, bytes: &[u8]) -> bool {
        let now = self.now;
        let Some(&slot) = self.index.get(&to) else {
            return false;
        };
        let ok = match self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.member.as_mut())
        {
            Some(m) => m.handle_datagram(&from, bytes, now).is_ok(),
            None => false,
        };
        if !ok {
            self.counters.decode_errors += 1;
        }
        self.collect_slot(slot);
        ok
    }

    /// Sets the delay of every link without an override (default: 1 ms).
    ///
    /// # Errors
    /// [`SimError::Config`] for a uniform range with `max < min`.
    pub fn set_delay(&mut self, delay: impl Into<LinkDelay>) -> Result<(), SimError> {
        self.apply(Fault::Delay(delay.into()))
    }

    /// Sets the loss of every link (default: none).
    pub fn set_loss(&mut self, loss: Loss) {
        self.loss = loss;
        self.bad.clear();
    }

    /// Applies `fault` now.
    ///
    /// # Errors
    /// [`SimError::UnknownMember`] for an id never added, [`SimError::Config`]
    /// for a bad value, [`SimError::NoFactory`] or [`SimError::BadRestart`] for a
    /// restart; nothing changed (but a bad restart's crash half happened).
    pub fn apply(&mut self, fault: Fault) -> Result<(), SimError> {
        self.check(&fault)?;
        self.apply_checked(fault)
    }

    /// Schedules `fault` at `at`: it is applied when the clock reaches `at`,
    /// before the deliveries and ticks of that instant, in the order scheduled.
    ///
    /// # Errors
    /// As [`apply`](Self::apply) (checked now, except the factory), and
    /// [`SimError::InThePast`], [`SimError::TooManyFaults`].
    pub fn at(&mut self, at: Timestamp, fault: Fault) -> Result<(), SimError> {
        self.check(&fault)?;
        if at < self.now {
            return Err(SimError::InThePast { at, now: self.now });
        }
        if self.pending_faults >= MAX_FAULTS {
            return Err(SimError::TooManyFaults { max: MAX_FAULTS });
        }
        self.schedule_fault(at, fault);
        Ok(())
    }

    fn schedule_fault(&mut self, at: Timestamp, fault: Fault) {
        let i = self.faults.len();
        self.faults.push(Some(fault));
        self.pending_faults += 1;
        self.push(at, CLASS_FAULT, Kind::Fault(i));
    }

    /// Draws faults at random rates for every member added so far, from now to
    /// `until`, and schedules them. Each call draws from a new stream derived
    /// from the seed, so the network's randomness is not disturbed.
    ///
    /// # Errors
    /// [`SimError::Config`] for a bad rate or duration,
    /// [`SimError::NoFactory`] if restarts are asked for without a factory,
    /// [`SimError::TooManyFaults`]; nothing is scheduled then.
    pub fn random_faults(
        &mut self,
        faults: RandomFaults,
        until: Timestamp,
    ) -> Result<(), SimError> {
        faults.validate()?;
        if faults.restart_after.is_some() && self.factory.is_none() {
            return Err(SimError::NoFactory {
                id: self.slots.first().map_or(0, |s| s.id),
            });
        }
        self.random_draws += 1;
        let stream = self.seed ^ self.random_draws.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let room = MAX_FAULTS.saturating_sub(self.pending_faults);
        let drawn = faults.draw(&self.ids(), self.now, until, stream, room)?;
        if drawn.len() > room {
            return Err(SimError::TooManyFaults { max: MAX_FAULTS });
        }
        for (at, f) in drawn {
            self.schedule_fault(at, f);
        }
        Ok(())
    }

    fn check(&self, fault: &Fault) -> Result<(), SimError> {
        fault.validate()?;
        for id in fault.ids() {
            self.slot_of(id)?;
        }
        Ok(())
    }

    fn apply_checked(&mut self, fault: Fault) -> Result<(), SimError> {
        let now = self.now;
        self.hash = mix(self.hash, 0xFA17 ^ now.as_nanos());
        match fault {
            Fault::Cut { from, to } => {
                let link = (self.slot_of(from)?, self.slot_of(to)?);
                self.cuts.insert(link);
            }
            Fault::Uncut { from, to } => {
                let link = (self.slot_of(from)?, self.slot_of(to)?);
                self.cuts.remove(&link);
            }
            Fault::Partition(groups) => {
                for s in &mut self.slots {
                    s.group = NO_GROUP;
                }
                for (g, ids) in groups.iter().enumerate() {
                    for &id in ids {
                        let slot = self.slot_of(id)?;
                        if let Some(s) = self.slots.get_mut(slot as usize) {
                            s.group = g as u32;
                        }
                    }
                }
                self.partitioned = true;
            }
            Fault::Heal => {
                self.cuts.clear();
                for s in &mut self.slots {
                    s.group = NO_GROUP;
                }
                self.partitioned = false;
            }
            Fault::Crash(id) => {
                let slot = self.slot_of(id)?;
                self.crash_slot(slot);
            }
            Fault::Restart(id) => {
                let slot = self.slot_of(id)?;
                let previous = self.slots.get(slot as usize).map_or(0, |s| s.generation);
                if self.factory.is_none() {
                    return Err(SimError::NoFactory { id });
                }
                self.crash_slot(slot);
                let Some(factory) = self.factory.as_mut() else {
                    return Err(SimError::NoFactory { id });
                };
                let member = factory(id, previous.saturating_add(1));
                self.restart_slot(slot, member)?;
            }
            Fault::Pause { member, duration } => {
                let slot = self.slot_of(member)?;
                let until = now.saturating_add(duration);
                if let Some(s) = self.slots.get_mut(slot as usize)
                    && s.member.is_some()
                    && until > s.paused_until
                {
                    s.paused_until = until;
                    let life = s.life;
                    self.push(until, CLASS_TICK, Kind::Wake { slot, life });
                }
            }
            Fault::Slow { member, delay } => {
                let slot = self.slot_of(member)?;
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    s.slow = duration_nanos(delay);
                }
            }
            Fault::Delay(d) => self.delay = d,
            Fault::LinkDelay { from, to, delay } => {
                let link = (self.slot_of(from)?, self.slot_of(to)?);
                self.link_delay.insert(link, delay);
            }
            Fault::Loss(l) => self.set_loss(l),
        }
        Ok(())
    }

    fn crash_slot(&mut self, slot: u32) {
        let now = self.now;
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if s.member.take().is_none() {
            return;
        }
        s.held.clear();
        s.life = s.life.wrapping_add(1);
        s.tick_token = s.tick_token.wrapping_add(1);
        s.tick_at = None;
        s.paused_until = now;
        s.slow_last = now;
        let (id, generation) = (s.id, s.generation);
        self.hash = mix(mix(self.hash, 0xC4A5), id);
        self.truth.crash(slot, id, generation, now);
    }

    /// Replaces member `member.me().id` by `member` (a restart: the old one, if
    /// up, crashes now) and has it join through the seed.
    ///
    /// # Errors
    /// [`SimError::UnknownMember`] for an id never added;
    /// [`SimError::BadRestart`] unless the generation is above the old one's
    /// (nothing changed then).
    pub fn restart_with(&mut self, member: M) -> Result<(), SimError> {
        let id = member.me().id;
        let slot = self.slot_of(id)?;
        let previous = self.slots.get(slot as usize).map_or(0, |s| s.generation);
        if member.me().generation <= previous {
            return Err(SimError::BadRestart {
                id,
                got_id: id,
                got_generation: member.me().generation,
                previous,
            });
        }
        self.crash_slot(slot);
        self.restart_slot(slot, member)
    }

    fn restart_slot(&mut self, slot: u32, member: M) -> Result<(), SimError> {
        let now = self.now;
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return Ok(());
        };
        let (got_id, got_generation) = (member.me().id, member.me().generation);
        if got_id != s.id || got_generation <= s.generation {
            return Err(SimError::BadRestart {
                id: s.id,
                got_id,
                got_generation,
                previous: s.generation,
            });
        }
        s.member = Some(member);
        s.generation = got_generation;
        s.paused_until = now;
        s.slow_last = now;
        self.hash = mix(mix(self.hash, 0x5E57), got_generation);
        self.truth.start(slot, now);
        self.join_slot(slot);
        Ok(())
    }

    /// Runs for `d` of virtual time (see [`run_until`](Self::run_until)).
    ///
    /// # Errors
    /// As [`run_until`](Self::run_until).
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        let until = self.now.saturating_add(d);
        self.run_until(until)
    }

    /// Runs everything due up to `t` in time order (at one instant: faults,
    /// deliveries, ticks, each in the order scheduled), then sets the clock to
    /// `t` (unless it is already later).
    ///
    /// # Errors
    /// [`SimError::NoFactory`] or [`SimError::BadRestart`] from a scheduled
    /// restart: the run stops at that instant, with the member crashed; call
    /// again to go on.
    pub fn run_until(&mut self, t: Timestamp) -> Result<(), SimError> {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > t {
                break;
            }
            let Some(Reverse(entry)) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(entry.at);
            self.step(entry.kind)?;
        }
        self.now = self.now.max(t);
        Ok(())
    }

    fn step(&mut self, kind: Kind) -> Result<(), SimError> {
        match kind {
            Kind::Fault(i) => {
                self.pending_faults = self.pending_faults.saturating_sub(1);
                if let Some(f) = self.faults.get_mut(i).and_then(Option::take) {
                    self.apply_checked(f)?;
                }
            }
            Kind::Arrive { from, to, bytes } => self.arrive(from, to, bytes),
            Kind::Process {
                from,
                to,
                life,
                bytes,
            } => {
                if self.slots.get(to as usize).is_some_and(|s| s.life == life) {
                    self.handle(from, to, bytes);
                }
            }
            Kind::Tick { slot, token } => {
                let now = self.now;
                let Some(s) = self.slots.get_mut(slot as usize) else {
                    return Ok(());
                };
                if s.tick_token != token {
                    return Ok(());
                }
                s.tick_at = None;
                if s.paused_until > now {
                    // Asleep: the wake-up ticks it.
                    return Ok(());
                }
                self.tick_slot(slot);
            }
            Kind::Wake { slot, life } => {
                let now = self.now;
                let Some(s) = self.slots.get_mut(slot as usize) else {
                    return Ok(());
                };
                if s.life != life || s.paused_until > now || s.member.is_none() {
                    return Ok(());
                }
                // The late tick first (an overdue timer fires as the process
                // resumes, before it reads its socket: the case Cassandra's
                // pause guard exists for), then what arrived meanwhile, in
                // arrival order.
                let held = std::mem::take(&mut s.held);
                self.tick_slot(slot);
                for (from, bytes) in held {
                    self.handle(from, slot, bytes);
                }
            }
        }
        Ok(())
    }

    /// Ticks the member now, then makes sure its next tick is later: a deadline
    /// that did not move past the tick just made is taken 1 ns later, so no
    /// member can hold the clock still.
    fn tick_slot(&mut self, slot: u32) {
        let now = self.now;
        let Some(m) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.member.as_mut())
        else {
            return;
        };
        m.tick(now);
        self.collect_slot(slot);
        if let Some(s) = self.slots.get_mut(slot as usize)
            && s.tick_at.is_some_and(|t| t <= now)
        {
            let at = Timestamp::from_nanos(now.as_nanos().saturating_add(1));
            s.tick_token = s.tick_token.wrapping_add(1);
            s.tick_at = Some(at);
            let token = s.tick_token;
            self.push(at, CLASS_TICK, Kind::Tick { slot, token });
        }
    }

    fn slots_id(&self, slot: u32) -> u64 {
        self.slots.get(slot as usize).map_or(u64::MAX, |s| s.id)
    }

    /// A datagram reaches `to` through the network.
    fn arrive(&mut self, from: u32, to: u32, bytes: Vec<u8>) {
        let now = self.now;
        let Some(s) = self.slots.get_mut(to as usize) else {
            return;
        };
        if s.member.is_none() {
            self.counters.undeliverable += 1;
            return;
        }
        if s.slow > 0 || s.slow_last > now {
            // FIFO behind what is already queued.
            let due = now
                .saturating_add(Duration::from_nanos(s.slow))
                .max(s.slow_last);
            s.slow_last = due;
            let life = s.life;
            self.push(
                due,
                CLASS_DELIVERY,
                Kind::Process {
                    from,
                    to,
                    life,
                    bytes,
                },
            );
            return;
        }
        self.handle(from, to, bytes);
    }

    /// Hands a datagram to member `to` (or holds it while paused).
    fn handle(&mut self, from: u32, to: u32, bytes: Vec<u8>) {
        let now = self.now;
        let from_id = self.slots_id(from);
        let Some(s) = self.slots.get_mut(to as usize) else {
            return;
        };
        let Some(m) = s.member.as_mut() else {
            self.counters.undeliverable += 1;
            return;
        };
        if s.paused_until > now {
            s.held.push((from, bytes));
            return;
        }
        s.load.received += 1;
        s.load.received_bytes += bytes.len() as u64;
        self.counters.delivered += 1;
        self.hash = mix(mix(self.hash, now.as_nanos()), u64::from(to));
        if m.handle_datagram(&from_id, &bytes, now).is_err() {
            self.counters.decode_errors += 1;
        }
        self.collect_slot(to);
    }

    fn push(&mut self, at: Timestamp, class: u64, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            at,
            key: class | self.seq,
            kind,
        }));
    }

    /// Takes the member's datagrams (through the network's faults) and events,
    /// and reschedules its tick.
    fn collect_slot(&mut self, slot: u32) {
        let now = self.now;
        loop {
            let Some(s) = self.slots.get_mut(slot as usize) else {
                return;
            };
            let Some(m) = s.member.as_mut() else {
                return;
            };
            let Some(d) = m.poll_datagram() else {
                break;
            };
            s.load.sent += 1;
            s.load.sent_bytes += d.bytes.len() as u64;
            let from_group = s.group;
            self.counters.datagrams += 1;
            self.counters.bytes += d.bytes.len() as u64;
            let mut h = mix(mix(mix(self.hash, now.as_nanos()), u64::from(slot)), d.to);
            h = mix_bytes(h, &d.bytes);
            self.hash = h;
            let Some(&to) = self.index.get(&d.to) else {
                self.counters.undeliverable += 1;
                continue;
            };
            let link = (slot, to);
            let blocked = (!self.cuts.is_empty() && self.cuts.contains(&link))
                || (self.partitioned
                    && from_group != NO_GROUP
                    && self
                        .slots
                        .get(to as usize)
                        .is_some_and(|t| t.group != NO_GROUP && t.group != from_group));
            if blocked {
                self.counters.blocked += 1;
                continue;
            }
            if self.loss != Loss::none() {
                let mut bad = self.bad.contains(&link);
                let was = bad;
                let lost = self.loss.lost(&mut bad, &mut self.net_rng);
                if bad != was {
                    if bad {
                        self.bad.insert(link);
                    } else {
                        self.bad.remove(&link);
                    }
                }
                if lost {
                    self.counters.lost += 1;
                    continue;
                }
            }
            let delay = match self.link_delay.is_empty() {
                true => self.delay.sample(&mut self.net_rng),
                false => self
                    .link_delay
                    .get(&link)
                    .unwrap_or(&self.delay)
                    .sample(&mut self.net_rng),
            };
            let Some(at) = now.as_nanos().checked_add(delay) else {
                // Beyond the end of time: never delivered.
                self.counters.lost += 1;
                continue;
            };
            self.push(
                Timestamp::from_nanos(at),
                CLASS_DELIVERY,
                Kind::Arrive {
                    from: slot,
                    to,
                    bytes: d.bytes,
                },
            );
        }
        loop {
            let Some(s) = self.slots.get_mut(slot as usize) else {
                return;
            };
            let Some(m) = s.member.as_mut() else {
                return;
            };
            let Some(e) = m.poll_event() else {
                break;
            };
            let id = s.id;
            self.hash = event_hash(mix(self.hash, id), &e);
            let (subject, up) = match e.member() {
                Some(member) => match self.index.get(&member.id) {
                    Some(&t) => {
                        let up = self.slots.get(t as usize).is_some_and(|t| {
                            t.member.is_some() && t.generation == member.generation
                        });
                        (Some(t), up)
                    }
                    None => (None, false),
                },
                None => (None, false),
            };
            self.truth.event(slot, subject, up, &e);
            if self.record {
                self.events.push((id, e));
            }
        }
        // Reschedule the tick.
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Some(m) = s.member.as_ref() else {
            return;
        };
        if s.paused_until > now {
            return;
        }
        let due = m.next_deadline().map(|d| d.max(now));
        if due != s.tick_at {
            s.tick_token = s.tick_token.wrapping_add(1);
            s.tick_at = due;
            if let Some(at) = due {
                let token = s.tick_token;
                self.push(at, CLASS_TICK, Kind::Tick { slot, token });
            }
        }
    }

    /// The report of the run so far (see [`Report`]).
    pub fn report(&self) -> Report {
        let ids = self.ids();
        let mut load: Vec<MemberLoad> = self.slots.iter().map(|s| s.load).collect();
        load.sort_by_key(|l| l.id);
        self.truth.report(
            self.now,
            self.start.unwrap_or(self.now),
            &ids,
            load,
            self.counters,
        )
    }
}
