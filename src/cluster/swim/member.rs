//! [`SwimMember`]: the probe protocol's state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::broadcast::Broadcasts;
use super::message::{
    Body, Message, Status, Update, count_len, decode, encode_head, encode_updates,
};
use super::{Awareness, Suspicion, SwimConfig};
use crate::cluster::MAX_SEEDS;
use crate::cluster::event::{ClusterEvent, ClusterMember, Datagram, Doubt};
use crate::cluster::guard::LocalGuard;
use crate::cluster::id::{Member, MemberId};
use crate::cluster::rng::SeededRng;
use crate::cluster::wire::DecodeError;
use crate::detectors::FailureDetector;
use crate::detectors::phi::{PhiAccrual, PhiAccrualConfig};
use crate::error::ConfigError;
use crate::registry::NodeState;
use crate::time::{Timestamp, duration_nanos};

/// The most indirect-probe requests a member serves at once; requests beyond
/// are ignored (the asking member then sees neither ack nor nack from it).
pub const MAX_RELAYS: usize = 256;

/// The most datagrams a member sends per probe interval in answer to joins.
/// A join is a few bytes and its answer is the whole view (about 5 bytes a
/// member), so without a budget a forged join would make a member an amplifier;
/// a joiner that gets only part of the view learns the rest by piggyback.
pub const MAX_SYNC_DATAGRAMS_PER_PERIOD: usize = 64;

/// Round-trip times of the direct pings this member sent to one member and
/// that were acked in time, estimated as TCP does (RFC 6298: smoothed with
/// gain 1/8, variation with gain 1/4, in whole nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RttStats {
    /// Round trips measured.
    pub samples: u64,
    /// The latest round trip.
    pub last: Duration,
    /// The shortest round trip seen.
    pub min: Duration,
    /// The smoothed round trip (RFC 6298 `SRTT`).
    pub smoothed: Duration,
    /// The round-trip variation (RFC 6298 `RTTVAR`).
    pub variation: Duration,
}

impl RttStats {
    fn first(rtt: u64) -> Self {
        RttStats {
            samples: 1,
            last: Duration::from_nanos(rtt),
            min: Duration::from_nanos(rtt),
            smoothed: Duration::from_nanos(rtt),
            variation: Duration::from_nanos(rtt / 2),
        }
    }

    fn add(&mut self, rtt: u64) {
        let srtt = duration_nanos(self.smoothed);
        let var = duration_nanos(self.variation);
        let var = var - var / 4 + srtt.abs_diff(rtt) / 4;
        let srtt = srtt - srtt / 8 + rtt / 8;
        self.samples = self.samples.saturating_add(1);
        self.last = Duration::from_nanos(rtt);
        self.min = self.min.min(self.last);
        self.smoothed = Duration::from_nanos(srtt);
        self.variation = Duration::from_nanos(var);
    }
}

/// What a [`SwimMember`] holds, for observability and memory tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwimStats {
    /// Other members known, tombstones included.
    pub members: usize,
    /// Of which Alive.
    pub alive: usize,
    /// Of which Suspect.
    pub suspect: usize,
    /// Of which Dead (tombstones).
    pub dead: usize,
    /// Ids removed and quarantined.
    pub quarantined: usize,
    /// Updates waiting to be piggybacked.
    pub queued_updates: usize,
    /// Indirect-probe requests being served for others.
    pub pending_relays: usize,
    /// Convictions held back (a pause or isolation).
    pub deferred: usize,
    /// Lifeguard's local health score (0 is healthy).
    pub health_score: u32,
    /// This member's incarnation.
    pub incarnation: u64,
    /// Datagrams not sent because their fixed part alone exceeded the MTU
    /// (ids too long for it).
    pub oversized: u64,
    /// Join answers not sent because the period's budget
    /// ([`MAX_SYNC_DATAGRAMS_PER_PERIOD`]) was spent.
    pub syncs_throttled: u64,
}

/// What this member knows of another.
#[derive(Clone, Debug)]
struct Entry<I, D> {
    generation: u64,
    incarnation: u64,
    state: NodeState,
    /// The protocol's suspicion, while Suspect.
    suspicion: Option<Suspicion<I>>,
    /// When the armed suspicion expires (its key in the timer set).
    timer: Option<Timestamp>,
    /// Why its conviction is held back, once held.
    deferred: Option<Doubt>,
    /// This member's own probe of it failed (counts for isolation).
    own_suspect: bool,
    /// It was asked to relay and answered nothing (counts for isolation until
    /// it is heard from).
    unreachable: bool,
    /// When a Dead member is removed (its key in the tombstone set).
    remove_at: Option<Timestamp>,
    detector: D,
    rtt: Option<RttStats>,
}

/// The probe in flight (one at a time, as in memberlist).
#[derive(Clone, Debug)]
struct Probe<I> {
    seq: u64,
    target: I,
    generation: u64,
    start: Timestamp,
    /// The direct ack wait ends: relays are asked.
    ack_wait_until: Timestamp,
    /// The probe fails (scaled by the health score).
    deadline: Timestamp,
    indirect_sent: bool,
    /// Relays asked, and whether each answered (ack or nack).
    relays: Vec<(I, bool)>,
    nacks: u32,
}

/// An indirect-probe request this member serves.
#[derive(Clone, Debug)]
struct Relay<I> {
    origin: I,
    origin_seq: u64,
    target: I,
    /// Its key in the relay timer set: the nack instant, then the expiry.
    timer: Timestamp,
    nacked: bool,
    expires: Timestamp,
}

/// A removed member's last known (generation, incarnation), and when the
/// quarantine ends.
#[derive(Clone, Copy, Debug)]
struct Quarantined {
    generation: u64,
    incarnation: u64,
    until: Timestamp,
}

/// A member of a SWIM cluster with Lifeguard's refinements, as a sans-IO state
/// machine ([`ClusterMember`]). See the [module docs](super) for the protocol,
/// its rules and their sources.
///
/// `D` is the failure detector that judges each probed member from the
/// receipts of its acks ([`suspicion`](Self::suspicion)); it does not drive
/// the protocol's verdicts.
#[derive(Clone, Debug)]
pub struct SwimMember<I: MemberId, D: FailureDetector = PhiAccrual> {
    config: SwimConfig,
    me: Member<I>,
    /// The `at` of the last event handed out (events never go back in time).
    handed_at: Timestamp,
    incarnation: u64,
    rng: SeededRng,
    guard: LocalGuard,
    awareness: Awareness,
    /// Cloned for every new member...
    prototype: D,
    /// ...unless this builds one for the cluster's size (the default phi).
    make: Option<fn(&SwimConfig, usize) -> Option<D>>,
    members: BTreeMap<I, Entry<I, D>>,
    /// The probe order: every known member once, shuffled each pass.
    order: Vec<I>,
    order_pos: usize,
    probe: Option<Probe<I>>,
    /// When the next probe starts (`None` while one is in flight or before
    /// the first input).
    next_probe_at: Option<Timestamp>,
    seq: u64,
    relays: BTreeMap<u64, Relay<I>>,
    relay_timers: BTreeSet<(Timestamp, u64)>,
    suspicion_timers: BTreeSet<(Timestamp, I)>,
    tombstone_timers: BTreeSet<(Timestamp, I)>,
    quarantine: BTreeMap<I, Quarantined>,
    quarantine_timers: BTreeSet<(Timestamp, I)>,
    deferred: BTreeSet<I>,
    /// The instant of the last input (after clamping).
    last_input: Timestamp,
    broadcasts: Broadcasts<I>,
    seeds: Vec<I>,
    started: bool,
    /// Isolation must be re-evaluated.
    dirty: bool,
    scratch: Vec<u8>,
    oversized: u64,
    /// Join-answer datagrams left in this period, and when the budget refills.
    sync_left: usize,
    sync_refill_at: Timestamp,
    syncs_throttled: u64,
    out: VecDeque<Datagram<I>>,
    events: VecDeque<ClusterEvent<I>>,
}

/// FNV-1a over the id's encoding and the generation: a stable mix for the seed.
fn mix_seed<I: MemberId>(seed: u64, me: &Member<I>) -> u64 {
    let mut bytes = Vec::with_capacity(me.encoded_len());
    me.encode(&mut bytes);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    seed ^ h
}

impl<I: MemberId> SwimMember<I, PhiAccrual> {
    /// A member `me` judged by `config`, with a [`PhiAccrual`] per probed
    /// member, fitted to the probe cadence: window 100 (about 1 KB),
    /// first estimate `(N - 1) x probe_interval` (N the members known,
    /// this one and the new one included, when it is first heard of:
    /// each member is probed about once a pass), acceptable pause 3
    /// probe intervals, Akka's other defaults (threshold 8, 100 ms minimum
    /// deviation).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field ([`SwimConfig::validate`]).
    pub fn new(me: Member<I>, config: SwimConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let detector = phi_for_cluster(&config, 2).map_or_else(
            || PhiAccrual::new(PhiAccrualConfig::new().with_max_sample_size(100)),
            Ok,
        )?;
        let mut member = SwimMember::with_detector(me, config, detector)?;
        member.make = Some(phi_for_cluster);
        Ok(member)
    }
}

/// The default detector for a member first heard of in a cluster of `n`.
fn phi_for_cluster(config: &SwimConfig, n: usize) -> Option<PhiAccrual> {
    let interval = duration_nanos(config.probe_interval);
    // At most 2^46 ns, well within what the detector records.
    let estimate = interval
        .saturating_mul(n.saturating_sub(1).max(1) as u64)
        .min(1 << 46);
    let pause = interval.saturating_mul(3).min(1 << 46);
    PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_max_sample_size(100)
            .with_first_heartbeat_estimate(Duration::from_nanos(estimate))
            .with_acceptable_heartbeat_pause(Duration::from_nanos(pause)),
    )
    .ok()
}

impl<I: MemberId, D: FailureDetector + Clone> SwimMember<I, D> {
    /// A member `me` judged by `config`, with a clone of `detector` (reset)
    /// for each member it probes.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field ([`SwimConfig::validate`]).
    pub fn with_detector(
        me: Member<I>,
        config: SwimConfig,
        mut detector: D,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        detector.reset();
        let rng = SeededRng::new(mix_seed(config.seed, &me));
        Ok(SwimMember {
            guard: LocalGuard::new(config.guard, config.probe_interval),
            awareness: Awareness::new(config.awareness_max_multiplier),
            config,
            me,
            handed_at: Timestamp::ZERO,
            incarnation: 0,
            rng,
            prototype: detector,
            make: None,
            members: BTreeMap::new(),
            order: Vec::new(),
            order_pos: 0,
            probe: None,
            next_probe_at: None,
            seq: 0,
            relays: BTreeMap::new(),
            relay_timers: BTreeSet::new(),
            suspicion_timers: BTreeSet::new(),
            tombstone_timers: BTreeSet::new(),
            quarantine: BTreeMap::new(),
            quarantine_timers: BTreeSet::new(),
            deferred: BTreeSet::new(),
            last_input: Timestamp::ZERO,
            broadcasts: Broadcasts::new(),
            seeds: Vec::new(),
            started: false,
            dirty: false,
            scratch: Vec::new(),
            oversized: 0,
            sync_left: MAX_SYNC_DATAGRAMS_PER_PERIOD,
            sync_refill_at: Timestamp::ZERO,
            syncs_throttled: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwimConfig {
        &self.config
    }

    /// This member's incarnation: raised each time it refutes a suspicion
    /// of itself; starts at 0 in every generation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Lifeguard's local health ([`Awareness`]).
    pub fn awareness(&self) -> Awareness {
        self.awareness
    }

    /// Whether this member currently considers itself isolated (it defers
    /// its convictions).
    pub fn is_isolated(&self) -> bool {
        self.guard.isolated()
    }

    /// The failure detector's suspicion of `id` at `now`, on its own scale
    /// (phi for [`PhiAccrual`]), from the ack receipts of this member's probes
    /// of it (`None`: unknown). See the module docs for what it means.
    pub fn suspicion(&self, id: &I, now: Timestamp) -> Option<f64> {
        self.members.get(id).map(|e| e.detector.suspicion(now))
    }

    /// The failure detector judging `id` from this member's probes of it.
    pub fn detector(&self, id: &I) -> Option<&D> {
        self.members.get(id).map(|e| &e.detector)
    }

    /// Round-trip times of this member's direct pings to `id` (`None`:
    /// unknown or never acked directly).
    pub fn rtt(&self, id: &I) -> Option<RttStats> {
        self.members.get(id).and_then(|e| e.rtt)
    }

    /// The protocol's suspicion of `id`, while it is Suspect.
    pub fn protocol_suspicion(&self, id: &I) -> Option<&Suspicion<I>> {
        self.members.get(id).and_then(|e| e.suspicion.as_ref())
    }

    /// The (generation, incarnation) this member knows `id` at.
    pub fn version_of(&self, id: &I) -> Option<(u64, u64)> {
        self.members.get(id).map(|e| (e.generation, e.incarnation))
    }

    /// Counts of what this member holds.
    pub fn stats(&self) -> SwimStats {
        let mut s = SwimStats {
            members: self.members.len(),
            alive: 0,
            suspect: 0,
            dead: 0,
            quarantined: self.quarantine.len(),
            queued_updates: self.broadcasts.len(),
            pending_relays: self.relays.len(),
            deferred: self.deferred.len(),
            health_score: self.awareness.score(),
            incarnation: self.incarnation,
            oversized: self.oversized,
            syncs_throttled: self.syncs_throttled,
        };
        for e in self.members.values() {
            match e.state {
                NodeState::Alive => s.alive += 1,
                NodeState::Suspect => s.suspect += 1,
                NodeState::Dead => s.dead += 1,
            }
        }
        s
    }

    /// Bytes this member holds, approximately: the struct, each member entry
    /// (its detector's [`memory_bytes`](FailureDetector::memory_bytes)
    /// included), the probe order, timers, quarantine, relays and queued
    /// updates. Without the detector, an entry with a `u64` id takes about
    /// 250 bytes (map node, timers and order slot included); with the default
    /// phi detector about 1.3 KB.
    pub fn memory_bytes(&self) -> usize {
        let id = std::mem::size_of::<I>();
        let entry = std::mem::size_of::<(I, Entry<I, D>)>() + id + 2 * (16 + id);
        let members: usize = self
            .members
            .values()
            .map(|e| {
                entry
                    + e.detector
                        .memory_bytes()
                        .saturating_sub(std::mem::size_of::<D>())
                    + e.suspicion.as_ref().map_or(0, Suspicion::heap_bytes)
            })
            .sum();
        std::mem::size_of::<Self>()
            + members
            + self.quarantine.len() * (2 * std::mem::size_of::<(I, Quarantined)>())
            + self.relays.len() * (std::mem::size_of::<(u64, Relay<I>)>() + 16)
            + self.broadcasts.heap_bytes()
            + self.scratch.capacity()
    }

    // ----- inputs: the beginning and end of each -----

    /// Takes an input at `now`: clamps time, detects a late loop, starts the
    /// schedule, and runs what is due.
    fn begin(&mut self, now: Timestamp) -> Timestamp {
        let (now, pause) = self.guard.input::<I>(now);
        self.last_input = now;
        if let Some(event) = pause {
            self.events.push_back(event);
        }
        if !self.started {
            self.started = true;
            // A random offset within the first period, so that members
            // started together do not probe in lockstep.
            let interval = duration_nanos(self.config.probe_interval);
            let offset = self
                .rng
                .below(usize::try_from(interval).unwrap_or(usize::MAX));
            self.next_probe_at = Some(now.saturating_add(Duration::from_nanos(offset as u64)));
        }
        if now >= self.sync_refill_at {
            self.sync_left = MAX_SYNC_DATAGRAMS_PER_PERIOD;
            self.sync_refill_at = now.saturating_add(self.config.probe_interval);
        }
        self.run_timers(now);
        now
    }

    /// Ends an input: isolation, deferred convictions, the guard's
    /// expectation.
    fn end(&mut self, now: Timestamp) {
        if self.dirty {
            self.dirty = false;
            let (suspected, peers) = self.isolation_counts();
            if let Some(event) = self.guard.update_isolation(suspected, peers, now) {
                self.events.push_back(event);
            }
        }
        if !self.deferred.is_empty() && self.guard.convictions_allowed(now) {
            self.release_deferred(now);
        }
        self.guard.expect(self.next_deadline());
    }

    /// (Peers suspected or convicted in this member's view, by itself or by
    /// others it heard from, or that it could not reach as relays; peers not
    /// yet removed.) Suspicions learned from others count: on the minority
    /// side of a partition every member soon holds the suspicions its side
    /// raised of the majority, long before its own probes have reached most of
    /// them. Convicted members count until removed: otherwise each conviction
    /// would shrink the share the rule sees, and a partition convicted one
    /// member at a time would never reach it.
    fn isolation_counts(&self) -> (usize, usize) {
        let mut suspected = 0;
        for e in self.members.values() {
            if e.state != NodeState::Alive || e.own_suspect || e.unreachable {
                suspected += 1;
            }
        }
        (suspected, self.members.len())
    }

    /// The doubt is gone: each held conviction gets a fresh suspicion from
    /// now (maximum timeout, confirmations counted afresh).
    fn release_deferred(&mut self, now: Timestamp) {
        let ids = std::mem::take(&mut self.deferred);
        let n = self.cluster_size();
        for id in ids {
            let Some(e) = self.members.get_mut(&id) else {
                continue;
            };
            e.deferred = None;
            if e.state == NodeState::Suspect {
                let s = Suspicion::for_cluster(&self.config, n, self.me.id.clone(), now);
                self.arm(&id, s);
            }
        }
    }

    /// Everything due at or before `now`, in a fixed order.
    fn run_timers(&mut self, now: Timestamp) {
        while let Some(&(at, seq)) = self.relay_timers.first() {
            if at > now {
                break;
            }
            self.relay_timers.pop_first();
            self.relay_timer(seq, now);
        }
        if let Some(p) = &self.probe {
            if now >= p.deadline {
                self.fail_probe(now);
            } else if !p.indirect_sent && now >= p.ack_wait_until {
                self.send_indirect(now);
            }
        }
        while let Some((at, _)) = self.suspicion_timers.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.suspicion_timers.pop_first() {
                self.expire(id, now);
            }
        }
        while let Some((at, _)) = self.tombstone_timers.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.tombstone_timers.pop_first() {
                self.remove(id, now);
            }
        }
        while let Some((at, _)) = self.quarantine_timers.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.quarantine_timers.pop_first() {
                self.quarantine.remove(&id);
            }
        }
        if self.probe.is_none() && self.next_probe_at.is_some_and(|t| t <= now) {
            self.start_probe(now);
        }
    }

    /// Members known, this one and tombstones included (memberlist's
    /// `estNumNodes`).
    fn cluster_size(&self) -> usize {
        self.members.len() + 1
    }

    // ----- probing -----

    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The next member to probe in the shuffled round robin: Alive or
    /// Suspect, never Dead; the order is reshuffled at the end of each pass.
    fn next_target(&mut self) -> Option<I> {
        for _ in 0..=self.order.len() {
            if self.order_pos >= self.order.len() {
                self.rng.shuffle(&mut self.order);
                self.order_pos = 0;
            }
            let id = self.order.get(self.order_pos)?.clone();
            self.order_pos += 1;
            if self
                .members
                .get(&id)
                .is_some_and(|e| e.state != NodeState::Dead)
            {
                return Some(id);
            }
        }
        None
    }

    fn start_probe(&mut self, now: Timestamp) {
        let interval = self.config.probe_interval;
        let Some(target) = self.next_target() else {
            self.next_probe_at = Some(now.saturating_add(interval));
            // Nobody to probe: ask the seeds again (a lost join).
            let seeds = self.seeds.clone();
            for seed in seeds {
                self.send(seed, Body::Join);
            }
            return;
        };
        let generation = self.members.get(&target).map_or(0, |e| e.generation);
        let seq = self.next_seq();
        self.probe = Some(Probe {
            seq,
            target: target.clone(),
            generation,
            start: now,
            ack_wait_until: now.saturating_add(self.config.probe_timeout),
            deadline: now.saturating_add(self.awareness.scale(interval)),
            indirect_sent: false,
            relays: Vec::new(),
            nacks: 0,
        });
        self.next_probe_at = None;
        self.send(
            target.clone(),
            Body::Ping {
                seq,
                target: Member::new(target, generation),
            },
        );
    }

    /// The direct ack did not come in time: ask `indirect_checks` random Alive
    /// members to ping the target.
    fn send_indirect(&mut self, now: Timestamp) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        p.indirect_sent = true;
        let (target, generation, seq, deadline) =
            (p.target.clone(), p.generation, p.seq, p.deadline);
        let k = self.config.indirect_checks;
        if k == 0 {
            return;
        }
        let mut candidates: Vec<I> = self
            .members
            .iter()
            .filter(|(id, e)| e.state == NodeState::Alive && **id != target)
            .map(|(id, _)| id.clone())
            .collect();
        let take = k.min(candidates.len());
        for i in 0..take {
            let j = i + self.rng.below(candidates.len() - i);
            candidates.swap(i, j);
        }
        candidates.truncate(take);
        // The relays nack after 80% of the time this probe has left
        // (Lifeguard's proposal), so that their nacks arrive before it ends.
        let left = duration_nanos(deadline.saturating_duration_since(now));
        let nack_after_ms = (left / 10 * 8 / 1_000_000).max(1);
        if let Some(p) = self.probe.as_mut() {
            p.relays = candidates.iter().map(|r| (r.clone(), false)).collect();
        }
        for relay in candidates {
            self.send(
                relay,
                Body::PingReq {
                    seq,
                    target: Member::new(target.clone(), generation),
                    nack_after_ms,
                },
            );
        }
    }

    /// An ack for the probe in flight arrived from `from` (the target, or a
    /// relay) at `now`.
    fn probe_acked(&mut self, from: &I, now: Timestamp) {
        let Some(p) = self.probe.take() else {
            return;
        };
        self.awareness.apply_delta(-1);
        // The next probe starts at the first period boundary (from this
        // probe's start) not before now.
        let interval = duration_nanos(self.config.probe_interval).max(1);
        let elapsed = duration_nanos(now.saturating_duration_since(p.start));
        let periods = elapsed.div_ceil(interval).max(1);
        self.next_probe_at = Some(
            p.start
                .saturating_add(Duration::from_nanos(periods.saturating_mul(interval))),
        );
        if let Some(e) = self.members.get_mut(&p.target)
            && e.generation == p.generation
        {
            // A repeated instant is refused by the detector; nothing lost.
            let _ = e.detector.heartbeat(now);
            if *from == p.target {
                let rtt = duration_nanos(now.saturating_duration_since(p.start));
                match e.rtt.as_mut() {
                    Some(stats) => stats.add(rtt),
                    None => e.rtt = Some(RttStats::first(rtt)),
                }
            }
        }
    }

    /// The probe's deadline passed without an ack.
    fn fail_probe(&mut self, now: Timestamp) {
        let Some(p) = self.probe.take() else {
            return;
        };
        self.next_probe_at = Some(p.deadline);
        if self.guard.paused(now) {
            // The silence may be this member's own: no verdict, no health
            // change, no relay blamed.
            return;
        }
        let expected = p.relays.len() as i64;
        let delta = if expected > 0 {
            (expected - i64::from(p.nacks)).max(0)
        } else {
            1
        };
        self.awareness.apply_delta(delta);
        for (relay, answered) in &p.relays {
            if !answered
                && let Some(e) = self.members.get_mut(relay)
                && !e.unreachable
            {
                e.unreachable = true;
                self.dirty = true;
            }
        }
        let Some(e) = self.members.get(&p.target) else {
            return;
        };
        if e.generation != p.generation {
            return;
        }
        let incarnation = e.incarnation;
        let member = Member::new(p.target.clone(), p.generation);
        let me = self.me.id.clone();
        self.apply_suspect(member, incarnation, me, now);
        if let Some(e) = self.members.get_mut(&p.target)
            && e.state == NodeState::Suspect
            && !e.own_suspect
        {
            e.own_suspect = true;
            self.dirty = true;
        }
    }

    fn relay_timer(&mut self, seq: u64, now: Timestamp) {
        let Some(r) = self.relays.get_mut(&seq) else {
            return;
        };
        if r.nacked || r.expires <= now {
            let r = self.relays.remove(&seq);
            if let Some(r) = r
                && !r.nacked
            {
                self.send(r.origin, Body::Nack { seq: r.origin_seq });
            }
            return;
        }
        r.nacked = true;
        r.timer = r.expires;
        let (origin, origin_seq, expires) = (r.origin.clone(), r.origin_seq, r.expires);
        self.relay_timers.insert((expires, seq));
        self.send(origin, Body::Nack { seq: origin_seq });
    }

    // ----- suspicion timers, tombstones -----

    fn arm(&mut self, id: &I, suspicion: Suspicion<I>) {
        let Some(e) = self.members.get_mut(id) else {
            return;
        };
        if let Some(old) = e.timer.take() {
            self.suspicion_timers.remove(&(old, id.clone()));
        }
        let deadline = suspicion.deadline();
        e.suspicion = Some(suspicion);
        e.timer = Some(deadline);
        self.suspicion_timers.insert((deadline, id.clone()));
    }

    /// Drops the suspicion of `id`, its timer, any deferral and the own-suspect
    /// mark.
    fn clear_suspicion(&mut self, id: &I) {
        let Some(e) = self.members.get_mut(id) else {
            return;
        };
        if let Some(old) = e.timer.take() {
            self.suspicion_timers.remove(&(old, id.clone()));
        }
        e.suspicion = None;
        if e.deferred.take().is_some() {
            self.deferred.remove(id);
        }
        if e.own_suspect {
            e.own_suspect = false;
            self.dirty = true;
        }
    }

    fn clear_tombstone(&mut self, id: &I) {
        if let Some(e) = self.members.get_mut(id)
            && let Some(at) = e.remove_at.take()
        {
            self.tombstone_timers.remove(&(at, id.clone()));
        }
    }

    /// The suspicion of `id` expired.
    fn expire(&mut self, id: I, now: Timestamp) {
        // While a large share of the peers is suspected and that share still
        // grows, a partition may be unfolding that the isolation rule has not
        // seen whole yet: a suspicion expires only once the share has not
        // grown for the shortest suspicion timeout.
        let settled_at = self
            .guard
            .widened_at()
            .saturating_add(self.config.suspicion_min_timeout(self.cluster_size()));
        let Some(e) = self.members.get_mut(&id) else {
            return;
        };
        e.timer = None;
        if e.state != NodeState::Suspect {
            return;
        }
        if now < settled_at {
            e.timer = Some(settled_at);
            self.suspicion_timers.insert((settled_at, id));
            return;
        }
        if self.guard.convictions_allowed(now) {
            let (member, incarnation) = (Member::new(id, e.generation), e.incarnation);
            let me = self.me.id.clone();
            self.apply_dead(member, incarnation, me, now);
            return;
        }
        if e.deferred.is_some() {
            return;
        }
        let doubt = self.guard.doubt(now);
        e.deferred = Some(doubt);
        let member = Member::new(id.clone(), e.generation);
        self.deferred.insert(id);
        self.events.push_back(ClusterEvent::Deferred {
            member,
            doubt,
            at: now,
        });
    }

    /// The tombstone of `id` expired: forget it, quarantine its id.
    fn remove(&mut self, id: I, now: Timestamp) {
        self.clear_suspicion(&id);
        let Some(e) = self.members.remove(&id) else {
            return;
        };
        self.dirty = true;
        if let Some(pos) = self.order.iter().position(|x| *x == id) {
            self.order.remove(pos);
            if pos < self.order_pos {
                self.order_pos -= 1;
            }
        }
        self.broadcasts.forget(&id);
        if self.quarantine.len() >= self.config.max_members
            && let Some((_, oldest)) = self.quarantine_timers.pop_first()
        {
            self.quarantine.remove(&oldest);
        }
        let until = now.saturating_add(self.config.quarantine);
        if let Some(old) = self.quarantine.insert(
            id.clone(),
            Quarantined {
                generation: e.generation,
                incarnation: e.incarnation,
                until,
            },
        ) {
            self.quarantine_timers.remove(&(old.until, id.clone()));
        }
        self.quarantine_timers.insert((until, id.clone()));
        self.events.push_back(ClusterEvent::Removed {
            member: Member::new(id, e.generation),
            at: now,
        });
    }

    // ----- news -----

    fn queue_update(&mut self, update: Update<I>) {
        let mut bytes = Vec::with_capacity(2 * update.member.encoded_len() + 12);
        update.encode(&mut bytes);
        self.broadcasts.queue(update.member.id, bytes);
    }

    /// Raises this member's incarnation above `accused` and tells everyone.
    fn refute(&mut self, accused: u64, now: Timestamp) {
        let incarnation = self
            .incarnation
            .saturating_add(1)
            .max(accused.saturating_add(1));
        self.incarnation = incarnation;
        self.awareness.apply_delta(1);
        self.queue_update(Update {
            status: Status::Alive,
            member: self.me.clone(),
            incarnation,
            from: None,
        });
        self.events.push_back(ClusterEvent::Refuted {
            incarnation,
            at: now,
        });
    }

    /// `id` came back as generation `generation` (a restart): judged afresh,
    /// Alive.
    fn restart(&mut self, id: &I, generation: u64, incarnation: u64, now: Timestamp) {
        self.clear_suspicion(id);
        self.clear_tombstone(id);
        let Some(e) = self.members.get_mut(id) else {
            return;
        };
        let previous_generation = e.generation;
        e.generation = generation;
        e.incarnation = incarnation;
        e.state = NodeState::Alive;
        e.unreachable = false;
        e.rtt = None;
        e.detector.reset();
        self.dirty = true;
        self.events.push_back(ClusterEvent::Restarted {
            member: Member::new(id.clone(), generation),
            previous_generation,
            at: now,
        });
    }

    /// memberlist's `aliveNode`: a newer (generation, incarnation) of a member
    /// is Alive; an unknown member joins (unless quarantined or too many).
    fn apply_alive(&mut self, member: Member<I>, incarnation: u64, now: Timestamp) {
        if member.id == self.me.id {
            if member.generation == self.me.generation && incarnation > self.incarnation {
                self.refute(incarnation, now);
            }
            return;
        }
        let id = member.id.clone();
        let Some(e) = self.members.get_mut(&id) else {
            if let Some(q) = self.quarantine.get(&id) {
                if (member.generation, incarnation) <= (q.generation, q.incarnation) {
                    return;
                }
                let until = q.until;
                self.quarantine.remove(&id);
                self.quarantine_timers.remove(&(until, id.clone()));
            }
            if self.members.len() >= self.config.max_members {
                return;
            }
            let made = self
                .make
                .and_then(|make| make(&self.config, self.members.len() + 2));
            let mut detector = made.unwrap_or_else(|| self.prototype.clone());
            detector.reset();
            self.members.insert(
                id.clone(),
                Entry {
                    generation: member.generation,
                    incarnation,
                    state: NodeState::Alive,
                    suspicion: None,
                    timer: None,
                    deferred: None,
                    own_suspect: false,
                    unreachable: false,
                    remove_at: None,
                    detector,
                    rtt: None,
                },
            );
            // A random place in the probe order (memberlist), so that a new
            // member is probed within a pass on average.
            let n = self.order.len();
            let at = self.rng.below(n + 1);
            self.order.push(id.clone());
            self.order.swap(at, n);
            self.dirty = true;
            self.events.push_back(ClusterEvent::Joined {
                member: member.clone(),
                at: now,
            });
            self.queue_update(Update {
                status: Status::Alive,
                member,
                incarnation,
                from: None,
            });
            return;
        };
        if member.generation > e.generation {
            self.restart(&id, member.generation, incarnation, now);
        } else if member.generation == e.generation && incarnation > e.incarnation {
            e.incarnation = incarnation;
            let from = e.state;
            if from != NodeState::Alive {
                e.state = NodeState::Alive;
                self.clear_suspicion(&id);
                self.clear_tombstone(&id);
                self.dirty = true;
                self.events.push_back(ClusterEvent::Changed {
                    member: member.clone(),
                    from,
                    to: NodeState::Alive,
                    at: now,
                });
            }
        } else {
            return;
        }
        self.queue_update(Update {
            status: Status::Alive,
            member,
            incarnation,
            from: None,
        });
    }

    /// Whether a suspicion or a death notice about `member` at `incarnation`
    /// is news to apply: not about this member (which refutes it instead, if
    /// it is about its current incarnation or later), about a known member, and
    /// not older than what is known of it. News of a higher generation first
    /// restarts the member here.
    fn accept_accusation(&mut self, member: &Member<I>, incarnation: u64, now: Timestamp) -> bool {
        if member.id == self.me.id {
            if member.generation == self.me.generation && incarnation >= self.incarnation {
                self.refute(incarnation, now);
            }
            return false;
        }
        let Some(e) = self.members.get(&member.id) else {
            return false;
        };
        if member.generation < e.generation
            || (member.generation == e.generation && incarnation < e.incarnation)
        {
            return false;
        }
        if member.generation > e.generation {
            self.restart(&member.id, member.generation, incarnation, now);
        }
        true
    }

    /// memberlist's `suspectNode`: a confirmation of a running suspicion, or a
    /// new suspicion of an Alive member; a suspicion of this member is refuted.
    fn apply_suspect(&mut self, member: Member<I>, incarnation: u64, from: I, now: Timestamp) {
        if !self.accept_accusation(&member, incarnation, now) {
            return;
        }
        let id = member.id.clone();
        let n = self.cluster_size();
        let own = from == self.me.id;
        let Some(e) = self.members.get_mut(&id) else {
            return;
        };
        if let Some(s) = e.suspicion.as_mut() {
            let counted = s.confirm(from.clone());
            let rearm = (counted && e.deferred.is_none() && e.timer.is_some()).then(|| s.clone());
            e.incarnation = e.incarnation.max(incarnation);
            if own && !e.own_suspect {
                e.own_suspect = true;
                self.dirty = true;
            }
            if counted {
                // Re-arm at the shorter deadline, unless the conviction is
                // already held back.
                if let Some(s) = rearm {
                    self.arm(&id, s);
                }
                self.queue_update(Update {
                    status: Status::Suspect,
                    member,
                    incarnation,
                    from: Some(from),
                });
            }
            return;
        }
        if e.state != NodeState::Alive {
            return;
        }
        e.state = NodeState::Suspect;
        e.incarnation = incarnation;
        if own {
            e.own_suspect = true;
        }
        self.dirty = true;
        let suspicion = Suspicion::for_cluster(&self.config, n, from.clone(), now);
        self.arm(&id, suspicion);
        self.events.push_back(ClusterEvent::Changed {
            member: member.clone(),
            from: NodeState::Alive,
            to: NodeState::Suspect,
            at: now,
        });
        self.queue_update(Update {
            status: Status::Suspect,
            member,
            incarnation,
            from: Some(from),
        });
    }

    /// memberlist's `deadNode`: a member is Dead at any incarnation not older
    /// than the one known; news of this member's own death is refuted.
    fn apply_dead(&mut self, member: Member<I>, incarnation: u64, from: I, now: Timestamp) {
        if !self.accept_accusation(&member, incarnation, now) {
            return;
        }
        let id = member.id.clone();
        self.clear_suspicion(&id);
        let Some(e) = self.members.get_mut(&id) else {
            return;
        };
        let previous = e.state;
        if previous == NodeState::Dead {
            return;
        }
        e.state = NodeState::Dead;
        e.incarnation = incarnation;
        e.unreachable = false;
        let remove_at = now.saturating_add(self.config.tombstone_grace);
        e.remove_at = Some(remove_at);
        self.tombstone_timers.insert((remove_at, id));
        self.dirty = true;
        self.events.push_back(ClusterEvent::Changed {
            member: member.clone(),
            from: previous,
            to: NodeState::Dead,
            at: now,
        });
        self.queue_update(Update {
            status: Status::Dead,
            member,
            incarnation,
            from: Some(from),
        });
    }

    fn apply_update(&mut self, update: Update<I>, now: Timestamp) {
        let from = update.from.unwrap_or_else(|| update.member.id.clone());
        match update.status {
            Status::Alive => self.apply_alive(update.member, update.incarnation, now),
            Status::Suspect => self.apply_suspect(update.member, update.incarnation, from, now),
            // A member that doubts itself (paused, isolated) takes another's
            // conviction as a suspicion: its own rules decide when it expires,
            // so the minority side of a partition does not adopt the verdicts
            // its first members drew before the rule saw the partition whole.
            Status::Dead
                if update.member.id != self.me.id && !self.guard.convictions_allowed(now) =>
            {
                self.apply_suspect(update.member, update.incarnation, from, now)
            }
            Status::Dead => self.apply_dead(update.member, update.incarnation, from, now),
        }
    }

    // ----- sending -----

    /// What this member holds against `to`, told first in every datagram to
    /// it so it can refute: a suspicion, a conviction, or a removal.
    fn news_for(&self, to: &I) -> Option<Update<I>> {
        let accuser = Some(self.me.id.clone());
        if let Some(e) = self.members.get(to) {
            let status = match e.state {
                NodeState::Alive => return None,
                NodeState::Suspect => Status::Suspect,
                NodeState::Dead => Status::Dead,
            };
            return Some(Update {
                status,
                member: Member::new(to.clone(), e.generation),
                incarnation: e.incarnation,
                from: accuser,
            });
        }
        self.quarantine.get(to).map(|q| Update {
            status: Status::Dead,
            member: Member::new(to.clone(), q.generation),
            incarnation: q.incarnation,
            from: accuser,
        })
    }

    /// Encodes a datagram to `to` with as many updates as fit in the MTU and
    /// queues it.
    fn send(&mut self, to: I, body: Body<I>) {
        let mtu = self.config.mtu;
        let mut bytes = Vec::with_capacity(mtu.min(256));
        encode_head(&mut bytes, &self.me, self.incarnation, &body);
        let reserve = count_len(mtu);
        if bytes.len() + reserve > mtu {
            self.oversized += 1;
            return;
        }
        let mut budget = mtu - bytes.len() - reserve;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut count = 0;
        let news = self.news_for(&to);
        if let Some(news) = &news {
            news.encode(&mut scratch);
            if scratch.len() <= budget {
                budget -= scratch.len();
                count += 1;
            } else {
                scratch.clear();
            }
        }
        let limit = self.config.retransmit_limit(self.cluster_size());
        let skip = news.as_ref().map(|_| &to);
        count += self.broadcasts.fill(&mut scratch, budget, limit, skip);
        encode_updates(&mut bytes, count, &scratch);
        self.scratch = scratch;
        self.out.push_back(Datagram { to, bytes });
    }

    /// Answers a join: this member's view (Alive and Suspect members, as
    /// alive updates) in as many datagrams as it takes; these updates are not
    /// counted as piggyback transmissions.
    fn send_sync(&mut self, to: &I) {
        if self.sync_left == 0 {
            self.syncs_throttled += 1;
            return;
        }
        let mtu = self.config.mtu;
        let mut head = Vec::new();
        encode_head(&mut head, &self.me, self.incarnation, &Body::<I>::Sync);
        let reserve = count_len(mtu);
        if head.len() + reserve > mtu {
            self.oversized += 1;
            return;
        }
        let budget = mtu - head.len() - reserve;
        let mut chunk = Vec::new();
        let mut count = 0;
        let mut one = Vec::new();
        let mut datagrams = Vec::new();
        for (id, e) in &self.members {
            // Suspect members are sent as members (alive at their
            // incarnation): the joiner judges them with its own probes, and
            // suspect news, which it would ignore about unknown members,
            // follows by piggyback.
            if e.state == NodeState::Dead || id == to {
                continue;
            }
            one.clear();
            Update {
                status: Status::Alive,
                member: Member::new(id.clone(), e.generation),
                incarnation: e.incarnation,
                from: None,
            }
            .encode(&mut one);
            if one.len() > budget {
                continue;
            }
            if chunk.len() + one.len() > budget {
                let mut bytes = head.clone();
                encode_updates(&mut bytes, count, &chunk);
                datagrams.push(bytes);
                chunk.clear();
                count = 0;
            }
            chunk.extend_from_slice(&one);
            count += 1;
        }
        let mut bytes = head;
        encode_updates(&mut bytes, count, &chunk);
        datagrams.push(bytes);
        let allowed = datagrams.len().min(self.sync_left);
        self.sync_left -= allowed;
        self.syncs_throttled += (datagrams.len() - allowed) as u64;
        for bytes in datagrams.into_iter().take(allowed) {
            self.out.push_back(Datagram {
                to: to.clone(),
                bytes,
            });
        }
    }

    // ----- handling a datagram -----

    fn handle(&mut self, from: &I, msg: Message<I>, now: Timestamp) {
        // The sender field is first-hand news that it is alive.
        self.apply_alive(msg.sender.clone(), msg.incarnation, now);
        if let Some(e) = self.members.get_mut(from)
            && e.generation == msg.sender.generation
            && e.unreachable
        {
            e.unreachable = false;
            self.dirty = true;
        }
        for update in msg.updates {
            self.apply_update(update, now);
        }
        match msg.body {
            Body::Ping { seq, target } => {
                if target.id == self.me.id {
                    self.send(from.clone(), Body::Ack { seq });
                }
            }
            Body::PingReq {
                seq,
                target,
                nack_after_ms,
            } => {
                if target.id == self.me.id || target.id == *from {
                    return;
                }
                if self.relays.len() >= MAX_RELAYS {
                    return;
                }
                let local = self.next_seq();
                let timeout = self.config.probe_timeout;
                let nack_after = Duration::from_millis(nack_after_ms).min(timeout);
                let timer = now.saturating_add(nack_after);
                self.relays.insert(
                    local,
                    Relay {
                        origin: from.clone(),
                        origin_seq: seq,
                        target: target.id.clone(),
                        timer,
                        nacked: false,
                        expires: now.saturating_add(timeout),
                    },
                );
                self.relay_timers.insert((timer, local));
                self.send(target.id.clone(), Body::Ping { seq: local, target });
            }
            Body::Ack { seq } => {
                if let Some(p) = &self.probe
                    && p.seq == seq
                {
                    if p.target == *from || p.relays.iter().any(|(r, _)| r == from) {
                        self.probe_acked(from, now);
                    }
                    return;
                }
                if self.relays.get(&seq).is_some_and(|r| r.target == *from)
                    && let Some(r) = self.relays.remove(&seq)
                {
                    self.relay_timers.remove(&(r.timer, seq));
                    self.send(r.origin, Body::Ack { seq: r.origin_seq });
                }
            }
            Body::Nack { seq } => {
                if let Some(p) = self.probe.as_mut()
                    && p.seq == seq
                    && let Some(slot) = p.relays.iter_mut().find(|(r, _)| r == from)
                    && !slot.1
                {
                    slot.1 = true;
                    p.nacks += 1;
                }
            }
            Body::Join => self.send_sync(from),
            Body::Sync => {}
        }
    }
}

impl<I: MemberId, D: FailureDetector + Clone> ClusterMember<I> for SwimMember<I, D> {
    fn me(&self) -> &Member<I> {
        &self.me
    }

    fn join(&mut self, seeds: &[I], now: Timestamp) {
        let now = self.begin(now);
        let seeds: Vec<I> = seeds
            .iter()
            .filter(|s| **s != self.me.id)
            .take(MAX_SEEDS)
            .cloned()
            .collect();
        for seed in seeds {
            if !self.seeds.contains(&seed) {
                self.seeds.push(seed.clone());
            }
            self.send(seed, Body::Join);
        }
        self.end(now);
    }

    fn handle_datagram(
        &mut self,
        from: &I,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        let msg = decode(bytes, from, self.config.mtu)?;
        let now = self.begin(now);
        self.handle(from, msg, now);
        self.end(now);
        Ok(())
    }

    fn tick(&mut self, now: Timestamp) {
        let now = self.begin(now);
        self.end(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let mut next = self.next_probe_at;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Some(p) = &self.probe {
            consider(Some(p.deadline));
            if !p.indirect_sent {
                consider(Some(p.ack_wait_until));
            }
        }
        consider(self.relay_timers.first().map(|t| t.0));
        consider(self.suspicion_timers.first().map(|t| t.0));
        consider(self.tombstone_timers.first().map(|t| t.0));
        consider(self.quarantine_timers.first().map(|t| t.0));
        if !self.deferred.is_empty() {
            consider(self.guard.held_until(self.last_input));
        }
        next
    }

    fn poll_datagram(&mut self) -> Option<Datagram<I>> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ClusterEvent<I>> {
        let event = self.events.pop_front();
        crate::cluster::event::handed_out(&self.me, event, &mut self.handed_at)
    }

    fn state_of(&self, id: &I) -> Option<NodeState> {
        self.members.get(id).map(|e| e.state)
    }

    fn members(&self) -> Vec<(Member<I>, NodeState)> {
        self.members
            .iter()
            .map(|(id, e)| (Member::new(id.clone(), e.generation), e.state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_follows_rfc_6298() {
        let mut r = RttStats::first(8_000);
        assert_eq!(
            (r.smoothed, r.variation),
            (Duration::from_nanos(8_000), Duration::from_nanos(4_000))
        );
        r.add(16_000);
        // RTTVAR = 3/4 x 4000 + 1/4 x |8000 - 16000|; SRTT = 7/8 x 8000 + 1/8 x 16000.
        assert_eq!(r.variation, Duration::from_nanos(5_000));
        assert_eq!(r.smoothed, Duration::from_nanos(9_000));
        assert_eq!(
            (r.samples, r.min, r.last),
            (2, Duration::from_nanos(8_000), Duration::from_nanos(16_000))
        );
    }

    #[test]
    fn the_default_detector_fits_the_probe_cadence() {
        // N = 100: a member is probed once a pass of 99 periods, at a
        // shuffled place in each pass: 1 to 197 s apart.
        let mut phi = phi_for_cluster(&SwimConfig::lan(), 100).unwrap();
        let mut rng = SeededRng::new(3);
        let (mut t, mut available) = (Timestamp::ZERO, 0);
        for _ in 0..200 {
            if phi.is_available(t) {
                available += 1;
            }
            phi.heartbeat(t).unwrap();
            t += Duration::from_secs(1 + rng.below(197) as u64);
        }
        assert!(available >= 199, "{available}");
        // A silence of many passes is suspicious.
        assert!(!phi.is_available(t + Duration::from_secs(2_000)));
    }

    #[test]
    fn entry_sizes() {
        let entry = std::mem::size_of::<(u64, Entry<u64, PhiAccrual>)>();
        let phi = std::mem::size_of::<PhiAccrual>();
        eprintln!("entry {entry} bytes, of which phi {phi}");
        let m: SwimMember<u64> = SwimMember::new(Member::new(1, 1), SwimConfig::lan()).unwrap();
        let empty = m.memory_bytes();
        let mut m = m;
        let mut bytes = Vec::new();
        super::super::Message {
            sender: Member::new(2u64, 1),
            incarnation: 0,
            body: Body::Sync,
            updates: (3..103u64)
                .map(|id| Update {
                    status: Status::Alive,
                    member: Member::new(id, 1),
                    incarnation: 0,
                    from: None,
                })
                .collect(),
        }
        .encode(&mut bytes);
        m.handle_datagram(&2, &bytes, Timestamp::ZERO).unwrap();
        let per = (m.memory_bytes() - empty) as f64 / 101.0;
        eprintln!("per member {per}");
        // About 0.9 KB per entry with phi at window 100 (4-byte slots), plus
        // the 101 queued join updates (about 100 bytes each).
        assert!(per > 800.0 && per < 1_000.0, "{per}");
    }
}
