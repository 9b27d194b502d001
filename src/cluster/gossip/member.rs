//! [`GossipMember`]: the state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::config::{GossipConfig, MAX_REPLIES_PER_INTERVAL, ObserverConfig};
use super::digest::{Heartbeat, News, classify};
use super::hash::FxBuild;
use super::msg::{self, BlockMsg, COUNT_LEN, Message};
use super::ring;
use super::table::Table;
use crate::cluster::MAX_SEEDS;
use crate::cluster::event::{ClusterEvent, ClusterMember, Datagram};
use crate::cluster::guard::LocalGuard;
use crate::cluster::id::{Member, MemberId};
use crate::cluster::ledger::{Ledger, Verdict};
use crate::cluster::quarantine::Quarantine;
use crate::cluster::rng::SeededRng;
use crate::cluster::wire::{DecodeError, put_varint};
use crate::detectors::FailureDetector;
use crate::detectors::exponential::{ExponentialPhi, ExponentialPhiConfig};
use crate::error::ConfigError;
use crate::registry::{
    Confirmation, Event, EventReceiver, NodeInfo, NodeState, Registry, RegistryConfig,
};
use crate::time::Timestamp;

/// The registry's hasher: deterministic (seeded by the config's seed), so
/// that everything the registry does depends on the inputs only; one
/// multiplication per word of the id (the registry mixes the hash itself).
type Fixed = FxBuild;

/// How long an observer's empty record is still gossiped after it changed, in
/// gossip intervals (so that a cleared flag reaches everyone).
const RECENT_ROUNDS: u32 = 10;

/// A member from which no newer version came for this many gossip intervals
/// counts toward isolation as if suspected (plain mode): on the minority side
/// of a partition more than half the members fall silent within a few
/// rounds, well before their detectors all suspect them, so the rule sees the
/// partition whole before the first conviction is due.
const SILENT_ROUNDS: u32 = 2;
/// No slot (in `members`, or in the registry: a hint that never holds).
const NO_SLOT: u32 = u32::MAX;

/// What a member knows of another.
#[derive(Clone, Debug)]
struct Known {
    hb: Heartbeat,
    state: NodeState,
    /// The instant of its last published event (per member, never decreasing).
    last_at: Timestamp,
    /// A conviction was deferred ([`ClusterEvent::Deferred`] sent).
    deferred: bool,
    /// Counted in the member's `silent` at the last round (plain mode), so it
    /// leaves that count when it turns Suspect or Dead instead of counting twice
    /// toward isolation until the next round.
    silent: bool,
    /// When it is removed (published Dead only).
    remove_at: Option<Timestamp>,
    /// Since when it is unreachable for the verdict policy (observer mode).
    suspect_since: Option<Timestamp>,
    /// When a newer version of it last came (or it was first heard of).
    heard_at: Timestamp,
    /// Where the registry held its node when last heartbeaten (a hint, checked
    /// before use: positions change when nodes leave).
    registry_hint: u32,
}

impl Known {
    fn verdict(&mut self) -> Verdict<'_> {
        Verdict {
            state: &mut self.state,
            last_at: &mut self.last_at,
            deferred: &mut self.deferred,
            remove_at: &mut self.remove_at,
        }
    }
}

/// One observer's reachability record.
#[derive(Clone, Debug)]
struct Block<I> {
    hb: Heartbeat,
    /// The subjects it flags, each with the generation it judged: a flag of
    /// one generation says nothing of the next (a restarted member starts clean).
    flagged: Vec<Member<I>>,
    changed_at: Timestamp,
}

/// The observer mode's state.
#[derive(Debug)]
struct Observers<I> {
    config: ObserverConfig,
    /// Records by observer (this member's own included).
    blocks: BTreeMap<I, Block<I>>,
    /// How many records flag each subject (of one generation).
    flags: BTreeMap<Member<I>, usize>,
    /// This member's subjects, with the last answered request's sequence number.
    subjects: BTreeMap<I, u64>,
    /// Membership changed: recompute the subjects.
    dirty: bool,
    /// Convictions due: (instant, member); stale entries are skipped.
    convict: BTreeSet<(Timestamp, I)>,
    block_cursor: Option<I>,
}

/// A member of a gossip cluster: it gossips heartbeat versions (push-pull, as
/// Cassandra and chitchat do) and judges every other member with its own
/// [`FailureDetector`] of type `D` (Cassandra's exponential phi by default),
/// through a [`Registry`]; or, in observer mode, a few observers per member
/// judge it and gossip their verdicts, which a [`VerdictPolicy`] combines.
///
/// See the [module documentation](super) for the protocol, its rules and costs.
///
/// Datagrams and events queue inside the member until polled
/// ([`poll_datagram`](ClusterMember::poll_datagram),
/// [`poll_event`](ClusterMember::poll_event)): poll both after every input, or
/// they accumulate.
///
/// [`VerdictPolicy`]: super::VerdictPolicy
pub struct GossipMember<I: MemberId, D: FailureDetector = ExponentialPhi> {
    config: GossipConfig,
    me: Member<I>,
    /// The `at` of the last event handed out (events never go back in time).
    handed_at: Timestamp,
    version: u64,
    rng: SeededRng,
    guard: LocalGuard,
    registry: Registry<I, D, Fixed>,
    registry_events: EventReceiver<I>,
    /// Looked up by hash, iterated in id order.
    members: Table<I, Known>,
    /// Removed ids: the generation removed and the end of the quarantine.
    quarantine: Quarantine<I>,
    /// Published verdicts: counts, tombstones, deferred convictions.
    ledger: Ledger<I>,
    seeds: Vec<I>,
    now: Timestamp,
    next_round: Option<Timestamp>,
    syn_cursor: Option<I>,
    ack_cursor: Option<I>,
    /// Where the cursors were in the table's ordered vector (hints).
    syn_cursor_at: usize,
    ack_cursor_at: usize,
    ignored: u64,
    /// Syns this member may still answer in this interval, and when that refills.
    replies_left: usize,
    replies_refill_at: Timestamp,
    replies_throttled: u64,
    /// Alive members silent for [`SILENT_ROUNDS`] intervals at the last round
    /// (plain mode), counted toward isolation.
    silent: usize,
    observers: Option<Observers<I>>,
    /// Arrivals of the datagram being handled (all at its instant), applied in
    /// one batch: the id, its registry hint, its slot in `members`.
    arrivals: Vec<(I, u32, u32)>,
    /// Reused buffer: the slot in `members` of each entry of the datagram being
    /// handled (`NO_SLOT`: not tracked when it was looked up).
    slots: Vec<u32>,
    /// Reused buffer: the hash (for `members`) of each entry of that datagram.
    hashes: Vec<u64>,
    /// Reused buffers: a datagram's entries, the ids a Syn's sender lacks.
    entries: Vec<(I, Heartbeat)>,
    lacks: Vec<I>,
    /// Reused buffer: the entries of the datagram being encoded.
    body: Vec<u8>,
    out: VecDeque<Datagram<I>>,
    events: VecDeque<ClusterEvent<I>>,
}

impl<I: MemberId, D: FailureDetector> std::fmt::Debug for GossipMember<I, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipMember")
            .field("me", &self.me)
            .field("version", &self.version)
            .field("members", &self.members.len())
            .field("quarantined", &self.quarantine.len())
            .finish_non_exhaustive()
    }
}

impl<I: MemberId> GossipMember<I, ExponentialPhi> {
    /// A member judging the others with Cassandra's exponential phi (threshold 8;
    /// initial and maximum interval twice the gossip interval, 2 s by default,
    /// as Cassandra's `fd_initial_value_ms` and `fd_max_interval_ms`).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range.
    pub fn new(me: Member<I>, config: GossipConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let twice = config.gossip_interval.saturating_mul(2);
        let phi = ExponentialPhi::new(
            ExponentialPhiConfig::new()
                .with_initial_interval(twice)
                .with_max_interval(twice),
        )?;
        Self::with_detector(me, config, phi)
    }
}

impl<I: MemberId, D> GossipMember<I, D>
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    /// A member judging each other member with a clone of `detector` (reset
    /// first).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range, or
    /// `mtu` if this member's own entry (its id's encoding plus up to 20 bytes)
    /// leaves no room in a datagram, or, in observer mode, if half a datagram
    /// cannot hold its reachability record with every subject flagged (each an
    /// id as long as its own and a generation of up to 10 bytes; 9 subjects with
    /// `u64` ids take at most 9 x 20 bytes).
    pub fn with_detector(
        me: Member<I>,
        config: GossipConfig,
        mut detector: D,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        // The largest prefix: header, own id, generation and version (10 bytes
        // each at most), two counts.
        let prefix = msg::gossip_prefix_len(&me, u64::MAX) + 2 * COUNT_LEN;
        if prefix > config.mtu {
            return Err(ConfigError::OutOfRange {
                field: "mtu",
                allowed: "room for this member's own entry (its id is too long)",
            });
        }
        // In observer mode, this member's own record (every subject flagged, ids
        // as long as its own, generations of 10 bytes) must fit the half of a
        // datagram records may take.
        if let Some(o) = config.observers {
            let flagged = Member::new(me.id.clone(), u64::MAX).encoded_len();
            let record = me.encoded_len() + 10 + COUNT_LEN + o.monitored_by * flagged;
            if record > (config.mtu - prefix) / 2 {
                return Err(ConfigError::OutOfRange {
                    field: "mtu",
                    allowed: "room in half a datagram for this member's reachability record \
                              (monitored_by subjects, each an id and a generation)",
                });
            }
        }
        detector.reset();
        // In observer mode the registry watches the subjects only, for
        // reachability (Alive/Suspect); the member convicts by itself.
        let confirmation = if config.observers.is_some() {
            Duration::MAX
        } else {
            config.confirmation
        };
        let rc = RegistryConfig::new()
            .with_accept_unknown(false)
            .with_accept_rejoin(true)
            .with_confirmation(Confirmation::After(confirmation))
            .with_removal_grace(Duration::MAX)
            .with_shards(1)
            .with_max_nodes(Some(config.max_members));
        let (registry, registry_events) = Registry::with_factory_and_hasher(
            rc,
            move |_: &I| detector.clone(),
            FxBuild::new(config.seed),
        )?;
        let registry = registry.untraced();
        Ok(GossipMember {
            rng: SeededRng::new(config.seed),
            guard: LocalGuard::new(config.guard, config.gossip_interval),
            observers: config.observers.map(|config| Observers {
                config,
                blocks: BTreeMap::new(),
                flags: BTreeMap::new(),
                subjects: BTreeMap::new(),
                dirty: true,
                convict: BTreeSet::new(),
                block_cursor: None,
            }),
            config,
            me,
            handed_at: Timestamp::ZERO,
            version: 0,
            registry,
            registry_events,
            members: Table::new(config.seed),
            quarantine: Quarantine::new(),
            ledger: Ledger::new(),
            seeds: Vec::new(),
            now: Timestamp::ZERO,
            next_round: None,
            syn_cursor: None,
            ack_cursor: None,
            syn_cursor_at: 0,
            ack_cursor_at: 0,
            ignored: 0,
            replies_left: MAX_REPLIES_PER_INTERVAL,
            replies_refill_at: Timestamp::ZERO,
            replies_throttled: 0,
            silent: 0,
            arrivals: Vec::new(),
            slots: Vec::new(),
            hashes: Vec::new(),
            entries: Vec::new(),
            lacks: Vec::new(),
            body: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }
}

impl<I: MemberId, D: FailureDetector + Send> GossipMember<I, D> {
    /// The configuration.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// This member's own heartbeat version (one per gossip round).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Members tracked (known, suspected, dead but not yet removed), itself
    /// excluded: at most [`max_members`](GossipConfig::max_members).
    pub fn tracked(&self) -> usize {
        self.members.len()
    }

    /// Removed ids still in quarantine: at most
    /// [`max_members`](GossipConfig::max_members).
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// Gossip entries ignored because [`max_members`](GossipConfig::max_members)
    /// members were already tracked.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Syns merged but not answered because this member had already answered
    /// [`MAX_REPLIES_PER_INTERVAL`] in the interval.
    pub fn replies_throttled(&self) -> u64 {
        self.replies_throttled
    }

    /// What this member's detector of `id` holds (statistics, suspicion,
    /// deadline) at `now`: in plain mode for every tracked member, in observer
    /// mode for its subjects only (`None` otherwise).
    pub fn detector_info(&self, id: &I, now: Timestamp) -> Option<NodeInfo<I>> {
        self.registry.info(id, now)
    }

    /// Whether this member currently considers itself isolated.
    pub fn is_isolated(&self) -> bool {
        self.guard.isolated()
    }

    /// In observer mode, the members this one observes, in id order (empty
    /// otherwise).
    pub fn subjects(&self) -> Vec<I> {
        self.observers
            .as_ref()
            .map(|o| o.subjects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The heartbeat state (generation, version) this member holds for `id`:
    /// its own for itself, `None` for a member it does not track. How far a
    /// version has spread is what the simulator's dissemination figures read.
    pub fn version_of(&self, id: &I) -> Option<(u64, u64)> {
        if *id == self.me.id {
            return Some((self.me.generation, self.version));
        }
        self.members
            .get(id)
            .map(|k| (k.hb.generation, k.hb.version))
    }

    /// Not part of the API (no semver promise): encodes the Syn this member
    /// would send next (advancing its digest cursor), for the benchmarks.
    #[doc(hidden)]
    pub fn bench_encode_syn(&mut self) -> Vec<u8> {
        self.encode_gossip(false, &[], false)
    }

    /// Not part of the API (no semver promise): decodes `bytes` as received
    /// from `from` without applying it, and returns how many member entries it
    /// carries, for the benchmarks.
    #[doc(hidden)]
    pub fn bench_decode(&self, from: &I, bytes: &[u8]) -> Result<usize, DecodeError> {
        match msg::decode::<I>(bytes, self.config.mtu, from)? {
            Message::Gossip { entries, .. } => Ok(entries.len()),
            Message::Ping { .. } => Ok(0),
        }
    }

    // ----- the input's frame -----

    fn begin(&mut self, now: Timestamp) -> Timestamp {
        let (now, event) = self.guard.input(now);
        if let Some(e) = event {
            self.events.push_back(e);
        }
        self.now = now;
        if now >= self.replies_refill_at {
            self.replies_left = MAX_REPLIES_PER_INTERVAL;
            self.replies_refill_at = now.saturating_add(self.config.gossip_interval);
        }
        if self.next_round.is_none() {
            self.next_round = Some(now.saturating_add(self.config.gossip_interval));
        }
        now
    }

    fn end(&mut self, now: Timestamp) {
        self.registry.tick(now);
        self.drain(now);
        self.refresh_subjects(now);
        if let Some(o) = self.observers.as_mut() {
            let mut due = Vec::new();
            while let Some((at, _)) = o.convict.first() {
                if *at > now {
                    break;
                }
                if let Some((at, id)) = o.convict.pop_first() {
                    due.push((at, id));
                }
            }
            for (at, id) in due {
                let still = self.members.get(&id).is_some_and(|k| {
                    k.state == NodeState::Suspect
                        && k.suspect_since
                            .is_some_and(|s| s.saturating_add(self.config.confirmation) == at)
                });
                if still {
                    self.try_convict(&id, at, now);
                }
            }
        }
        self.update_isolation(now);
        if !self.ledger.pending.is_empty() && self.guard.convictions_allowed(now) {
            for id in self.ledger.take_pending() {
                if let Some(k) = self.members.get_mut(&id) {
                    k.deferred = false;
                    if k.state == NodeState::Suspect {
                        self.publish(&id, NodeState::Dead, now);
                    }
                }
            }
        }
        while let Some((at, id)) = self.ledger.due_tombstone(now) {
            self.remove(&id, at, now);
        }
        self.quarantine.expire(now);
        self.update_isolation(now);
        self.guard.expect(self.next_deadline());
    }

    fn update_isolation(&mut self, now: Timestamp) {
        let known = self.members.len();
        if let Some(e) = self
            .ledger
            .isolation(&mut self.guard, known, self.silent, now)
        {
            self.events.push_back(e);
        }
    }

    // ----- verdicts -----

    /// Publishes `to` for `id` through the ledger; observer mode also keeps the
    /// conviction schedule and the ring in step.
    fn publish(&mut self, id: &I, to: NodeState, at: Timestamp) {
        let Some(k) = self.members.get_mut(id) else {
            return;
        };
        let member = Member::new(id.clone(), k.hb.generation);
        let grace = self.config.removal_grace;
        let Some((from, at)) =
            self.ledger
                .publish(member, k.verdict(), to, at, grace, &mut self.events)
        else {
            return;
        };
        if to != NodeState::Alive && k.silent {
            k.silent = false;
            self.silent = self.silent.saturating_sub(1);
        }
        match to {
            NodeState::Suspect => {
                k.suspect_since = Some(at);
                if let Some(o) = self.observers.as_mut() {
                    o.convict
                        .insert((at.saturating_add(self.config.confirmation), id.clone()));
                }
            }
            NodeState::Dead => {
                if let Some(o) = self.observers.as_mut() {
                    o.dirty = true;
                }
            }
            NodeState::Alive => {
                k.suspect_since = None;
                if from == NodeState::Dead
                    && let Some(o) = self.observers.as_mut()
                {
                    o.dirty = true;
                }
            }
        }
    }

    /// A member is due to be convicted at `at`: convict it, or defer it (once)
    /// while this member doubts itself.
    fn try_convict(&mut self, id: &I, at: Timestamp, now: Timestamp) {
        let Some(k) = self.members.get(id) else {
            return;
        };
        match k.state {
            NodeState::Dead => return,
            NodeState::Alive => self.publish(id, NodeState::Suspect, at),
            NodeState::Suspect => {}
        }
        self.update_isolation(now);
        if self.guard.convictions_allowed(now) {
            self.publish(id, NodeState::Dead, at);
            return;
        }
        let doubt = self.guard.doubt(now);
        if let Some(k) = self.members.get_mut(id) {
            let member = Member::new(id.clone(), k.hb.generation);
            self.ledger
                .defer(member, k.verdict(), doubt, now, &mut self.events);
        }
    }

    /// Maps the registry's events to verdicts.
    fn drain(&mut self, now: Timestamp) {
        while let Ok(event) = self.registry_events.try_recv() {
            let Event::Changed { node, from, to, at } = event else {
                continue; // Joined and Removed follow this member's own calls.
            };
            if self.observers.is_some() {
                // The registry watches subjects: Suspect flags, Alive clears.
                match to {
                    NodeState::Suspect => self.set_flag(&node, true, at.max(now)),
                    NodeState::Alive => self.set_flag(&node, false, at.max(now)),
                    NodeState::Dead => {}
                }
                continue;
            }
            match (from, to) {
                (_, NodeState::Suspect) => {
                    if self
                        .members
                        .get(&node)
                        .is_some_and(|k| k.state == NodeState::Alive)
                    {
                        self.publish(&node, NodeState::Suspect, at);
                    }
                }
                (_, NodeState::Dead) => self.try_convict(&node, at, now),
                (_, NodeState::Alive) => self.publish(&node, NodeState::Alive, at),
            }
        }
    }

    fn discard_registry_events(&mut self) {
        while self.registry_events.try_recv().is_ok() {}
    }

    // ----- membership -----

    fn remove(&mut self, id: &I, at: Timestamp, now: Timestamp) {
        let Some(k) = self.members.remove(id) else {
            return;
        };
        match k.state {
            NodeState::Suspect => self.ledger.n_suspect -= 1,
            NodeState::Dead => self.ledger.n_dead -= 1,
            NodeState::Alive => {}
        }
        self.ledger.pending.remove(id);
        self.drain(now);
        self.registry.remove(id, now);
        self.discard_registry_events();
        if let Some(o) = self.observers.as_mut() {
            o.subjects.remove(id);
            o.dirty = true;
        }
        // This member's own record stops flagging it.
        self.set_flag(id, false, now);
        self.drop_block(id, now);
        let at = at.max(k.last_at);
        self.events.push_back(ClusterEvent::Removed {
            member: Member::new(id.clone(), k.hb.generation),
            at,
        });
        if !self.config.quarantine.is_zero() {
            let until = at.saturating_add(self.config.quarantine);
            self.quarantine
                .insert(id.clone(), k.hb.generation, until, self.config.max_members);
        }
    }

    /// Applies one gossiped heartbeat state.
    fn learn(&mut self, id: &I, hb: Heartbeat, now: Timestamp) {
        if *id == self.me.id {
            return;
        }
        let slot = self.members.find(id);
        let known = slot.and_then(|s| self.members.at(s)).map(|k| k.hb);
        match classify(known, hb) {
            News::Stale => {}
            News::New => {
                if self.quarantine.refuses(id, hb.generation, now) {
                    return;
                }
                if self.members.len() >= self.config.max_members {
                    self.ignored += 1;
                    return;
                }
                if self.observers.is_none() {
                    self.drain(now);
                    if self.registry.register(id.clone(), now).is_err() {
                        self.discard_registry_events();
                        self.ignored += 1;
                        return;
                    }
                    self.discard_registry_events();
                }
                self.members.insert(
                    id.clone(),
                    Known {
                        hb,
                        state: NodeState::Alive,
                        last_at: now,
                        deferred: false,
                        silent: false,
                        remove_at: None,
                        suspect_since: None,
                        heard_at: now,
                        registry_hint: NO_SLOT,
                    },
                );
                if let Some(o) = self.observers.as_mut() {
                    o.dirty = true;
                }
                self.events.push_back(ClusterEvent::Joined {
                    member: Member::new(id.clone(), hb.generation),
                    at: now,
                });
                self.reevaluate(id, now);
            }
            News::Newer => {
                let mut hint = NO_SLOT;
                if let Some(k) = slot.and_then(|s| self.members.at_mut(s)) {
                    k.hb = hb;
                    k.heard_at = now;
                    hint = k.registry_hint;
                }
                if self.observers.is_none() {
                    // A strictly higher version is an arrival, dated now
                    // (applied with the datagram's others, `flush_arrivals`).
                    self.arrivals
                        .push((id.clone(), hint, slot.unwrap_or(NO_SLOT)));
                } else if self
                    .members
                    .get(id)
                    .is_some_and(|k| k.state == NodeState::Dead)
                {
                    // It spoke again: back, unless the observers hold it unreachable.
                    let flags = self.flag_count(id);
                    let unreachable = self
                        .observers
                        .as_ref()
                        .is_some_and(|o| o.config.policy.unreachable(flags));
                    if !unreachable {
                        self.publish(id, NodeState::Alive, now);
                    }
                }
            }
            News::Restart => {
                let Some(k) = self.members.get_mut(id) else {
                    return;
                };
                let previous_generation = k.hb.generation;
                let from = k.state;
                let tombstone = k.remove_at;
                let at = now.max(k.last_at);
                if k.silent {
                    self.silent = self.silent.saturating_sub(1);
                }
                *k = Known {
                    hb,
                    state: NodeState::Alive,
                    last_at: at,
                    deferred: false,
                    silent: false,
                    remove_at: None,
                    suspect_since: None,
                    heard_at: now,
                    registry_hint: NO_SLOT,
                };
                match from {
                    NodeState::Suspect => self.ledger.n_suspect -= 1,
                    NodeState::Dead => self.ledger.n_dead -= 1,
                    NodeState::Alive => {}
                }
                self.ledger.pending.remove(id);
                if let Some(r) = tombstone {
                    self.ledger.tombstones.remove(&(r, id.clone()));
                }
                self.drain(now);
                let watched = match self.observers.as_mut() {
                    None => true,
                    Some(o) => {
                        o.dirty = true;
                        o.subjects.get_mut(id).map(|s| *s = 0).is_some()
                    }
                };
                if watched {
                    // Fresh statistics: a new detector, and no flag of the old
                    // generation in this member's own record.
                    self.registry.remove(id, now);
                    let _ = self.registry.register(id.clone(), now);
                    self.discard_registry_events();
                    self.set_flag(id, false, now);
                }
                self.drop_block(id, now);
                self.events.push_back(ClusterEvent::Restarted {
                    member: Member::new(id.clone(), hb.generation),
                    previous_generation,
                    at,
                });
                self.reevaluate(id, now);
            }
        }
    }

    /// Applies a digest's entries: [`learn`](Self::learn) for each, with the
    /// common cases done inline (one lookup, nothing else): a stale entry, and
    /// in plain mode a newer version of the same generation (an arrival).
    ///
    /// In stages, each a pass over the entries: hash each and read its place
    /// in the index, then look each up (the slots are kept in `slots` for the
    /// reply), then read each one's state, then apply them. The memory
    /// accesses of one stage's independent reads overlap, where applying
    /// each entry in turn would wait for each of its reads in turn.
    fn learn_all(&mut self, entries: &[(I, Heartbeat)], now: Timestamp) {
        let plain = self.observers.is_none();
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        let mut touched = 0u64;
        for (id, _) in entries {
            let hash = self.members.hash(id);
            touched ^= self.members.touch_index(hash);
            hashes.push(hash);
        }
        std::hint::black_box(touched);
        slots.extend(
            entries
                .iter()
                .zip(&hashes)
                .map(|((id, _), &hash)| self.members.find_hashed(hash, id).unwrap_or(NO_SLOT)),
        );
        self.hashes = hashes;
        for &slot in &slots {
            touched ^= self.members.touch(slot, |k| k.hb.version);
        }
        std::hint::black_box(touched);
        for ((id, hb), &slot) in entries.iter().zip(&slots) {
            // Not tracked when looked up: it may have been added since (by an
            // earlier entry of the same id).
            let slot = match slot {
                NO_SLOT => self.members.find(id),
                slot => Some(slot),
            };
            // This member is never in `members`: its own id goes to `learn`.
            if let Some(s) = slot
                && let Some(k) = self.members.at_mut(s)
            {
                if plain && hb.generation == k.hb.generation {
                    if hb.version > k.hb.version {
                        k.hb = *hb;
                        k.heard_at = now;
                        self.arrivals.push((id.clone(), k.registry_hint, s));
                    }
                    continue;
                }
                if *hb <= k.hb {
                    continue;
                }
            }
            self.learn(id, *hb, now);
        }
        self.slots = slots;
    }

    /// Hands the arrivals gathered from a datagram to the registry at once
    /// (one lock for all, each node found from its hint), then maps its
    /// events.
    fn flush_arrivals(&mut self, now: Timestamp) {
        if self.arrivals.is_empty() {
            return;
        }
        self.drain(now);
        // Refusals (a duplicate at the same instant) change nothing.
        let mut arrivals = std::mem::take(&mut self.arrivals);
        self.registry
            .heartbeat_hinted(&mut arrivals, now, |(id, hint, _)| (&*id, hint));
        for &(_, hint, slot) in &arrivals {
            if let Some(k) = self.members.at_mut(slot) {
                k.registry_hint = hint;
            }
        }
        arrivals.clear();
        self.arrivals = arrivals;
        self.drain(now);
    }

    // ----- observer mode -----

    /// How many records flag `id` in the generation this member knows it by.
    fn flag_count(&self, id: &I) -> usize {
        let (Some(o), Some(k)) = (self.observers.as_ref(), self.members.get(id)) else {
            return 0;
        };
        o.flags
            .get(&Member::new(id.clone(), k.hb.generation))
            .copied()
            .unwrap_or(0)
    }

    /// This member's own record flags `subject` (in its current generation), or
    /// clears every flag of it.
    fn set_flag(&mut self, subject: &I, flagged: bool, now: Timestamp) {
        let me = self.me.clone();
        let generation = self.members.get(subject).map(|k| k.hb.generation);
        let Some(o) = self.observers.as_mut() else {
            return;
        };
        let block = o.blocks.entry(me.id.clone()).or_insert_with(|| Block {
            hb: Heartbeat::new(me.generation, 0),
            flagged: Vec::new(),
            changed_at: now,
        });
        let target = match (flagged, generation) {
            (true, Some(g)) => Some(Member::new(subject.clone(), g)),
            (true, None) => return,
            (false, _) => None,
        };
        let mut changed = false;
        // Clear the subject's flags of other generations (all of them, to clear).
        let mut dropped = Vec::new();
        block.flagged.retain(|m| {
            let keep = m.id != *subject || Some(m) == target.as_ref();
            if !keep {
                dropped.push(m.clone());
            }
            keep
        });
        for m in dropped {
            changed = true;
            if let Some(n) = o.flags.get_mut(&m) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    o.flags.remove(&m);
                }
            }
        }
        if let Some(m) = target
            && !block.flagged.contains(&m)
        {
            changed = true;
            *o.flags.entry(m.clone()).or_insert(0) += 1;
            block.flagged.push(m);
            block.flagged.sort_unstable();
        }
        if !changed {
            return;
        }
        block.hb.version += 1;
        block.changed_at = now;
        self.reevaluate(subject, now);
    }

    /// Replaces `observer`'s record with a newer one from gossip.
    fn learn_block(&mut self, b: BlockMsg<I>, now: Timestamp) {
        if b.observer == self.me.id {
            return;
        }
        let Some(k) = self.members.get(&b.observer) else {
            return;
        };
        if k.hb.generation != b.hb.generation || k.state == NodeState::Dead {
            return;
        }
        let Some(o) = self.observers.as_mut() else {
            return;
        };
        if o.blocks.get(&b.observer).is_some_and(|old| old.hb >= b.hb) {
            return;
        }
        let mut flagged = b.flagged;
        flagged.sort_unstable();
        flagged.dedup();
        let old = o.blocks.insert(
            b.observer,
            Block {
                hb: b.hb,
                flagged: flagged.clone(),
                changed_at: now,
            },
        );
        let old = old.map(|o| o.flagged).unwrap_or_default();
        self.apply_flags(&old, &flagged, now);
    }

    fn drop_block(&mut self, observer: &I, now: Timestamp) {
        let Some(o) = self.observers.as_mut() else {
            return;
        };
        if let Some(old) = o.blocks.remove(observer) {
            self.apply_flags(&old.flagged, &[], now);
        }
    }

    fn apply_flags(&mut self, old: &[Member<I>], new: &[Member<I>], now: Timestamp) {
        let Some(o) = self.observers.as_mut() else {
            return;
        };
        for s in old.iter().filter(|s| !new.contains(s)) {
            if let Some(n) = o.flags.get_mut(s) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    o.flags.remove(s);
                }
            }
        }
        for s in new.iter().filter(|s| !old.contains(s)) {
            *o.flags.entry(s.clone()).or_insert(0) += 1;
        }
        for s in old.iter().chain(new.iter()) {
            self.reevaluate(&s.id, now);
        }
    }

    /// Observer mode: publishes the verdict policy's view of `id`.
    fn reevaluate(&mut self, id: &I, now: Timestamp) {
        let Some(o) = self.observers.as_ref() else {
            return;
        };
        let unreachable = o.config.policy.unreachable(self.flag_count(id));
        let Some(state) = self.members.get(id).map(|k| k.state) else {
            return;
        };
        match (state, unreachable) {
            (NodeState::Alive, true) => self.publish(id, NodeState::Suspect, now),
            (NodeState::Suspect, false) => self.publish(id, NodeState::Alive, now),
            _ => {}
        }
    }

    /// Observer mode: recomputes this member's subjects after a membership
    /// change (the `k` members after it on the hashed ring).
    fn refresh_subjects(&mut self, now: Timestamp) {
        let Some(o) = self.observers.as_mut() else {
            return;
        };
        if !o.dirty {
            return;
        }
        o.dirty = false;
        let k = o.config.monitored_by;
        // Dead members stay on the ring until removed: their observers keep
        // watching them (as Akka keeps watching unreachable members), so a
        // member convicted over a cut link does not flap back and forth.
        let ids = self
            .members
            .keys()
            .cloned()
            .chain(std::iter::once(self.me.id.clone()));
        let new: BTreeSet<I> = ring::successors(&self.me.id, ids, k).into_iter().collect();
        let gone: Vec<I> = o
            .subjects
            .keys()
            .filter(|s| !new.contains(*s))
            .cloned()
            .collect();
        let added: Vec<I> = new
            .iter()
            .filter(|s| !o.subjects.contains_key(*s))
            .cloned()
            .collect();
        for s in &gone {
            o.subjects.remove(s);
        }
        for s in &added {
            o.subjects.insert(s.clone(), 0);
        }
        self.drain(now);
        for s in &gone {
            self.registry.remove(s, now);
        }
        for s in &added {
            let _ = self.registry.register(s.clone(), now);
        }
        self.discard_registry_events();
        for s in &gone {
            self.set_flag(s, false, now);
        }
    }

    // ----- gossip -----

    /// The round's targets: `fanout` random live members (a partial
    /// Fisher-Yates shuffle of the live ids in id order), one unreachable
    /// member with probability `unreachable / (live + 1)`, a seed if no one is
    /// live.
    fn targets(&mut self) -> Vec<I> {
        let mut live = Vec::new();
        let mut unreachable = Vec::new();
        for (id, k) in self.members.iter() {
            if k.state == NodeState::Alive {
                live.push(id.clone());
            } else {
                unreachable.push(id.clone());
            }
        }
        let mut targets = Vec::with_capacity(self.config.fanout + 1);
        let n = self.config.fanout.min(live.len());
        for i in 0..n {
            let j = i + self.rng.below(live.len() - i);
            live.swap(i, j);
            targets.push(live[i].clone());
        }
        // Cassandra `Gossiper.java` (`maybeGossipToUnreachableMember`): one
        // unreachable member with probability unreachable / (live + 1).
        if !unreachable.is_empty() {
            let p = unreachable.len() as f64 / (live.len() as f64 + 1.0);
            if self.rng.chance(p) {
                let j = self.rng.below(unreachable.len());
                targets.push(unreachable[j].clone());
            }
        }
        // No one live: a seed (Cassandra `maybeGossipToSeed`).
        if live.is_empty() && !self.seeds.is_empty() {
            let j = self.rng.below(self.seeds.len());
            let seed = self.seeds[j].clone();
            if !targets.contains(&seed) {
                targets.push(seed);
            }
        }
        targets
    }

    /// [`targets`](Self::targets) when every tracked member is Alive (no
    /// Suspect, no Dead one: the common case): the same draws from the same
    /// generator and the same picks, without copying every id. The live ids
    /// would be all the ids in id order; the shuffle is followed on positions
    /// (at most `2 fanout` of them moved), and the ids at the picked positions
    /// are read off the table's ordered vector.
    fn targets_all_alive(&mut self) -> Vec<I> {
        let len = self.members.len();
        let n = self.config.fanout.min(len);
        // (position, the original position now there), latest last.
        let mut moved: Vec<(usize, usize)> = Vec::with_capacity(2 * n);
        let at = |moved: &[(usize, usize)], p: usize| {
            moved
                .iter()
                .rev()
                .find(|(q, _)| *q == p)
                .map_or(p, |&(_, o)| o)
        };
        // The positions picked, in the order picked.
        let mut picks: Vec<usize> = Vec::with_capacity(n);
        for i in 0..n {
            let j = i + self.rng.below(len - i);
            let (vi, vj) = (at(&moved, i), at(&moved, j));
            moved.push((i, vj));
            moved.push((j, vi));
            picks.push(vj);
        }
        self.members.sync();
        let mut targets: Vec<I> = picks
            .iter()
            .filter_map(|&p| self.members.key_at(p).cloned())
            .collect();
        // No one live: a seed (Cassandra `maybeGossipToSeed`).
        if len == 0 && !self.seeds.is_empty() {
            let j = self.rng.below(self.seeds.len());
            let seed = self.seeds[j].clone();
            if !targets.contains(&seed) {
                targets.push(seed);
            }
        }
        targets
    }

    fn round(&mut self) {
        self.version += 1;
        if self.observers.is_none() {
            let quiet = self.config.gossip_interval.saturating_mul(SILENT_ROUNDS);
            let now = self.now;
            let mut silent = 0;
            for k in self.members.values_mut() {
                k.silent = k.state == NodeState::Alive
                    && now.saturating_duration_since(k.heard_at) > quiet;
                silent += usize::from(k.silent);
            }
            self.silent = silent;
        }
        let targets = if self.ledger.n_suspect == 0 && self.ledger.n_dead == 0 {
            self.targets_all_alive()
        } else {
            self.targets()
        };
        for to in targets {
            let bytes = self.encode_gossip(false, &[], false);
            self.out.push_back(Datagram { to, bytes });
        }
        if let Some(o) = self.observers.as_ref() {
            let mut out = Vec::new();
            for s in o.subjects.keys() {
                out.clear();
                msg::put_ping(&mut out, false, &self.me, self.version);
                self.out.push_back(Datagram {
                    to: s.clone(),
                    bytes: out.clone(),
                });
            }
        }
    }

    /// Encodes a Syn (or an Ack listing `first` before the rest, and none of the
    /// members marked in the table if `skip_marked`), within the MTU.
    fn encode_gossip(&mut self, reply: bool, first: &[I], skip_marked: bool) -> Vec<u8> {
        self.members.sync();
        let mtu = self.config.mtu;
        let prefix = msg::gossip_prefix_len(&self.me, self.version);
        let mut budget = mtu.saturating_sub(prefix + 2 * COUNT_LEN);
        // Reachability records: at most half the room.
        let mut blocks: Vec<(&I, Heartbeat, &[Member<I>])> = Vec::new();
        let mut next_block_cursor = None;
        if let Some(o) = self.observers.as_ref() {
            let mut room = budget / 2;
            let recent = self.config.gossip_interval.saturating_mul(RECENT_ROUNDS);
            let wanted = |id: &I, b: &Block<I>| {
                !b.flagged.is_empty()
                    || self.now.saturating_duration_since(b.changed_at) < recent
                    || *id == self.me.id
            };
            if let Some(b) = o.blocks.get(&self.me.id) {
                let len = msg::block_len(&self.me.id, b.hb, &b.flagged);
                if len <= room {
                    room -= len;
                    blocks.push((&self.me.id, b.hb, &b.flagged));
                }
            }
            let start = o.block_cursor.clone();
            let iter = match &start {
                Some(c) => Box::new(
                    o.blocks
                        .range(c.clone()..)
                        .chain(o.blocks.range(..c.clone())),
                ) as Box<dyn Iterator<Item = (&I, &Block<I>)>>,
                None => Box::new(o.blocks.iter()),
            };
            for (id, b) in iter {
                if *id == self.me.id || !wanted(id, b) {
                    continue;
                }
                let len = msg::block_len(id, b.hb, &b.flagged);
                if len > room {
                    next_block_cursor = Some(id.clone());
                    break;
                }
                room -= len;
                blocks.push((id, b.hb, &b.flagged));
            }
            budget -= budget / 2 - room;
        }
        // Entries: `first` (what the other side lacks), then from the cursor,
        // written at once into `body` (each takes what it wrote off the budget).
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let mut n = 0u64;
        for id in first {
            if let Some((id, k)) = self.members.get_key_value(id) {
                let start = body.len();
                msg::put_entry(&mut body, id, k.hb);
                let len = body.len() - start;
                if len > budget {
                    body.truncate(start);
                    break;
                }
                budget -= len;
                n += 1;
            }
        }
        let cursor = if reply {
            &self.ack_cursor
        } else {
            &self.syn_cursor
        };
        let mut next_cursor = None;
        // Ahead of the walk, the entries it is about to read are fetched, a
        // block at a time, so that their memory accesses overlap.
        const AHEAD: usize = 64;
        let touch = |k: &Known| k.hb.version;
        let hint = if reply {
            self.ack_cursor_at
        } else {
            self.syn_cursor_at
        };
        let start = self.members.start_hinted(cursor.as_ref(), hint);
        let mut next_at = 0;
        let mut touched = self.members.touch_rotation(start, 0, 2 * AHEAD, touch);
        for (visited, (id, &slot)) in self.members.rotation_at(cursor.as_ref(), start).enumerate() {
            if visited % AHEAD == 0 && visited > 0 {
                touched ^= self
                    .members
                    .touch_rotation(start, visited + AHEAD, AHEAD, touch);
            }
            let Some(k) = self.members.at(slot) else {
                continue;
            };
            if k.state == NodeState::Dead || (skip_marked && self.members.is_marked(slot)) {
                continue;
            }
            let start = body.len();
            msg::put_entry(&mut body, id, k.hb);
            let len = body.len() - start;
            if len > budget {
                body.truncate(start);
                next_cursor = Some(id.clone());
                next_at = (start + visited) % self.members.len().max(1);
                break;
            }
            budget -= len;
            n += 1;
        }
        std::hint::black_box(touched);
        let mut out = Vec::with_capacity(mtu.min(prefix + 2 * COUNT_LEN + body.len() + 512));
        msg::put_gossip_head(&mut out, reply, &self.me, self.version, &blocks);
        put_varint(&mut out, n);
        out.extend_from_slice(&body);
        drop(blocks);
        self.body = body;
        if reply {
            self.ack_cursor = next_cursor;
            self.ack_cursor_at = next_at;
        } else {
            self.syn_cursor = next_cursor;
            self.syn_cursor_at = next_at;
        }
        if let Some(o) = self.observers.as_mut() {
            o.block_cursor = next_block_cursor;
        }
        out
    }

    fn apply(&mut self, from: &I, message: Message<I>, now: Timestamp) {
        match message {
            Message::Gossip {
                reply,
                sender,
                version,
                blocks,
                entries,
            } => {
                self.learn(&sender.id, Heartbeat::new(sender.generation, version), now);
                self.learn_all(&entries, now);
                self.flush_arrivals(now);
                for b in blocks {
                    self.learn_block(b, now);
                }
                if !reply && self.replies_left == 0 {
                    self.replies_throttled += 1;
                } else if !reply {
                    self.replies_left -= 1;
                    // Push-pull: reply with what the sender lacks first, then
                    // others it did not list (marked in the table).
                    let mut lacks = std::mem::take(&mut self.lacks);
                    lacks.clear();
                    self.members.clear_marks();
                    // The entries' slots, as `learn_all` found them (those it
                    // did not find are looked up again: they may be new).
                    for ((id, hb), &slot) in entries.iter().zip(&self.slots) {
                        let slot = match slot {
                            NO_SLOT => self.members.find(id),
                            slot => Some(slot),
                        };
                        let Some(slot) = slot else {
                            continue;
                        };
                        self.members.mark_at(slot);
                        if let Some(k) = self.members.at(slot)
                            && k.state != NodeState::Dead
                            && k.hb > *hb
                        {
                            lacks.push(id.clone());
                        }
                    }
                    self.members.mark(&sender.id);
                    let bytes = self.encode_gossip(true, &lacks, true);
                    self.lacks = lacks;
                    self.out.push_back(Datagram {
                        to: from.clone(),
                        bytes,
                    });
                }
                // The buffer serves the next datagram.
                let mut entries = entries;
                entries.clear();
                self.entries = entries;
            }
            Message::Ping {
                reply: false, seq, ..
            } => {
                let mut bytes = Vec::new();
                msg::put_ping(&mut bytes, true, &self.me, seq);
                self.out.push_back(Datagram {
                    to: from.clone(),
                    bytes,
                });
            }
            Message::Ping {
                reply: true,
                sender,
                seq,
            } => {
                let current = self
                    .members
                    .get(&sender.id)
                    .is_some_and(|k| k.hb.generation == sender.generation);
                let Some(o) = self.observers.as_mut() else {
                    return;
                };
                if let Some(last) = o.subjects.get_mut(&sender.id)
                    && current
                    && seq > *last
                {
                    *last = seq;
                    let _ = self.registry.heartbeat(&sender.id, now);
                    self.drain(now);
                }
            }
        }
    }
}

impl<I: MemberId, D: FailureDetector + Send> ClusterMember<I> for GossipMember<I, D> {
    fn me(&self) -> &Member<I> {
        &self.me
    }

    fn join(&mut self, seeds: &[I], now: Timestamp) {
        let now = self.begin(now);
        for s in seeds.iter().filter(|s| **s != self.me.id).take(MAX_SEEDS) {
            if !self.seeds.contains(s) && self.seeds.len() < MAX_SEEDS {
                self.seeds.push(s.clone());
            }
        }
        for s in self.seeds.clone() {
            let bytes = self.encode_gossip(false, &[], false);
            self.out.push_back(Datagram { to: s, bytes });
        }
        self.end(now);
    }

    fn handle_datagram(
        &mut self,
        from: &I,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        // Decoded (and so validated) in full before anything changes.
        let message = msg::decode_into::<I>(bytes, self.config.mtu, from, &mut self.entries)?;
        let now = self.begin(now);
        self.apply(from, message, now);
        self.end(now);
        Ok(())
    }

    fn tick(&mut self, now: Timestamp) {
        let now = self.begin(now);
        self.registry.tick(now);
        self.drain(now);
        if let Some(next) = self.next_round
            && next <= now
        {
            self.round();
            let mut next = next.saturating_add(self.config.gossip_interval);
            if next <= now {
                next = now.saturating_add(self.config.gossip_interval);
            }
            self.next_round = Some(next);
        }
        self.end(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let mut d = self.next_round;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        consider(self.registry.next_deadline());
        consider(self.ledger.tombstones.first().map(|(t, _)| *t));
        consider(self.quarantine.next_end());
        if let Some(o) = self.observers.as_ref() {
            consider(o.convict.first().map(|(t, _)| *t));
        }
        if !self.ledger.pending.is_empty() {
            consider(self.guard.held_until(self.now));
        }
        d
    }

    fn poll_datagram(&mut self) -> Option<Datagram<I>> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ClusterEvent<I>> {
        let event = self.events.pop_front();
        crate::cluster::event::handed_out(&self.me, event, &mut self.handed_at)
    }

    fn state_of(&self, id: &I) -> Option<NodeState> {
        self.members.get(id).map(|k| k.state)
    }

    fn members(&self) -> Vec<(Member<I>, NodeState)> {
        self.members
            .iter()
            .map(|(id, k)| (Member::new(id.clone(), k.hb.generation), k.state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::gossip::{ObserverConfig, VerdictPolicy};
    use crate::cluster::wire::MIN_MTU;

    /// A member with `I` ids that learned `n` others from Acks.
    fn knowing<I: MemberId>(
        me: I,
        others: impl Iterator<Item = I>,
        config: GossipConfig,
    ) -> GossipMember<I> {
        let mut m = GossipMember::new(Member::new(me, 5), config).unwrap();
        for (t, id) in (1..).zip(others) {
            let peer = Member::new(id.clone(), 1 << 40);
            let mut bytes = Vec::new();
            msg::put_gossip(&mut bytes, true, &peer, 1 << 30, &[], &[]);
            m.handle_datagram(&id, &bytes, Timestamp::from_millis(t))
                .unwrap();
        }
        m
    }

    #[test]
    fn every_datagram_fits_the_mtu_and_carries_the_senders_entry() {
        let config = GossipConfig::new().with_mtu(MIN_MTU);
        let mut m = knowing(7u128 << 100, (0..300u128).map(|i| i << 90), config);
        assert_eq!(m.tracked(), 300);
        let mut seen = BTreeSet::new();
        for _ in 0..100 {
            let syn = m.bench_encode_syn();
            assert!(syn.len() <= MIN_MTU, "{}", syn.len());
            let Ok(Message::Gossip {
                sender, entries, ..
            }) = msg::decode::<u128>(&syn, MIN_MTU, &(7u128 << 100))
            else {
                panic!("not a Syn");
            };
            assert_eq!(sender, Member::new(7u128 << 100, 5));
            assert!(!entries.is_empty());
            seen.extend(entries.into_iter().map(|(id, _)| id));
        }
        // The rotating cursor covers everyone.
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn observer_records_take_at_most_half_the_datagram() {
        let observers = ObserverConfig::new().with_policy(VerdictPolicy::Quorum(2));
        // 9 flagged subjects of 2^40-th generation take 9 x 7 bytes: the smallest
        // MTU that leaves them room in half a datagram is 256 (checked below).
        let config = GossipConfig::new()
            .with_mtu(256)
            .with_observers(Some(observers));
        assert!(
            GossipMember::new(Member::new(1u64, 5), config.with_mtu(MIN_MTU)).is_err(),
            "a record of 9 subjects cannot fit half of {MIN_MTU} bytes"
        );
        let mut m = knowing(1u64, 2..40u64, config);
        m.tick(Timestamp::from_secs(1));
        assert_eq!(m.subjects().len(), 9);
        // Flag every subject by hand, as if their answers never came.
        for s in m.subjects() {
            m.set_flag(&s, true, Timestamp::from_secs(1));
        }
        let syn = m.bench_encode_syn();
        assert!(syn.len() <= 256);
        let Ok(Message::Gossip {
            blocks, entries, ..
        }) = msg::decode::<u64>(&syn, 256, &1)
        else {
            panic!("not a Syn");
        };
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].flagged.len(), 9);
        assert!(!entries.is_empty());
        // One flag is not a quorum of two: nobody is suspected.
        assert!(m.members().iter().all(|(_, s)| *s == NodeState::Alive));
    }
}
