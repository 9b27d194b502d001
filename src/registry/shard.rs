//! One shard of a registry: its nodes, their lifecycle, and the nodes in deadline
//! order.
//!
//! # Deadline order: a heap with lazy invalidation
//!
//! Every node has a `due` instant: when its lifecycle moves on if no heartbeat
//! arrives (Alive: the detector's deadline; Suspect: Dead, or the end of its
//! recovery; Dead: Removed). The shard's heap holds `(instant, index)` entries, and
//! each node remembers in `scheduled` the instant of its earliest live entry. The
//! invariant is `scheduled <= due`: a heartbeat that moves the due instant later
//! (the usual case) touches nothing but the node, and only one that moves it
//! earlier pushes a new entry (O(log n)); the old one becomes stale. A tick pops
//! the entries that are due, skips the stale ones (`scheduled` differs), and settles
//! the rest: it applies what is due and pushes the node's next instant. Stale
//! entries are dropped when popped, and the heap is compacted when they would
//! outnumber the nodes, so it holds at most about two entries per node.
//!
//! The shard's earliest entry is published in an atomic outside its lock, so a tick
//! in which nothing is due reads one atomic per shard and takes no lock.
//!
//! # Catching up, and time that never runs backwards
//!
//! Every call that changes a node at a timestamp (heartbeat, registration, removal)
//! first applies the transitions that were due before it, with their own
//! timestamps. So the lifecycle, and the event stream, depend only on the inputs
//! and not on how often `tick` runs, as long as no tick runs ahead of them.
//!
//! Each node keeps `evaluated`, the latest instant it was evaluated at: its last
//! input, or the last tick that settled it. An input stamped earlier takes effect at
//! `evaluated` instead ([`Shard::effective`]), and a transition is dated no earlier
//! than the one before it ([`Ctx::advance`]), so a node's event instants never
//! decrease. The shard forgets removed nodes, so it keeps one such instant for all
//! of them, `forgotten`: the latest `evaluated` of a node it dropped, which is
//! where a node it does not know stands.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::Sender;

use crate::detectors::FailureDetector;
use crate::error::HeartbeatError;
use crate::time::Timestamp;

use super::NextDeadline;
use super::config::{DeadRule, Rules};
use super::error::{RegisterError, RegistryHeartbeatError};
use super::event::{Event, NodeInfo, NodeState};
use super::index::Index;

/// An instant that never comes ("no deadline").
pub(crate) const NEVER: u64 = u64::MAX;

/// Builds the detector of a node that joins.
pub(crate) type Factory<K, D> = dyn Fn(&K) -> D + Send + Sync;

#[inline]
fn nanos(t: Option<Timestamp>) -> u64 {
    t.map_or(NEVER, Timestamp::as_nanos)
}

/// A monitored node. In declaration order (`repr(C)`): the lifecycle fields, then
/// the detector, whose hot fields come first, so that a heartbeat touches a few
/// consecutive cache lines.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Node<K, D> {
    key: K,
    /// When the lifecycle moves on if no heartbeat arrives; `NEVER` if it does not.
    due: u64,
    /// The instant of this node's earliest heap entry (`NEVER`: none); `<= due`.
    scheduled: u64,
    /// While Suspect: the heartbeat that started its recovery (`NEVER`: none).
    /// While Dead: since when. Otherwise `NEVER`.
    since: u64,
    /// The latest instant the node was evaluated at (an input, or a tick that
    /// settled it); inputs stamped earlier take effect at this instant.
    evaluated: u64,
    /// The low half of the key's hash, computed once when it joined: all the
    /// shard's index uses of it (its tag), so the node keeps 4 bytes, not 8.
    hash: u32,
    state: NodeState,
    /// Registered by hand and no heartbeat yet: the detector's only heartbeat is
    /// the registration, and a heartbeat at the same instant is not a duplicate.
    registered_only: bool,
    /// The last interval was at least `rules.slow_ns` (reported once per run).
    slow: bool,
    detector: D,
}

/// Everything the lifecycle needs besides the shard: the rules, the event channel
/// and the counters. Shared by all shards.
#[derive(Debug)]
pub(crate) struct Ctx<K> {
    pub(crate) rules: Rules,
    pub(crate) events: Sender<Event<K>>,
    pub(crate) undelivered: AtomicU64,
    /// Nodes per state, indexed by [`state_index`].
    pub(crate) counts: [AtomicUsize; 3],
    /// Nodes monitored or reserved by a join under way, at most
    /// `rules.max_nodes`: a join reserves its place here first, so the limit is
    /// exact across shards and threads.
    members: AtomicUsize,
    /// Tracing and metrics hooks, run at every event.
    pub(crate) observer: super::observe::Observer<K>,
}

/// A place reserved for a joining node ([`Ctx::reserve`]): given back when
/// dropped, unless [`keep`](Self::keep) says the node was created.
struct Reservation<'a, K: Clone>(&'a Ctx<K>);

impl<'a, K: Clone> Reservation<'a, K> {
    /// Reserves a place; `None` if the registry is full.
    fn new(ctx: &'a Ctx<K>) -> Option<Self> {
        ctx.reserve().then(|| Reservation(ctx))
    }

    /// The node was created: its place stays taken until it leaves.
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl<K: Clone> Drop for Reservation<'_, K> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Why a node could not join.
pub(crate) enum JoinError {
    /// Its detector refused the joining heartbeat (past its horizon).
    Detector(HeartbeatError),
    /// The registry holds `max_nodes` nodes already.
    Full(usize),
}

impl From<JoinError> for RegistryHeartbeatError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::Detector(e) => RegistryHeartbeatError::Detector(e),
            JoinError::Full(max) => RegistryHeartbeatError::Full { max },
        }
    }
}

impl From<JoinError> for RegisterError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::Detector(e) => RegisterError::Detector(e),
            JoinError::Full(max) => RegisterError::Full { max },
        }
    }
}

fn state_index(state: NodeState) -> usize {
    match state {
        NodeState::Alive => 0,
        NodeState::Suspect => 1,
        NodeState::Dead => 2,
    }
}

impl<K: Clone> Ctx<K> {
    pub(crate) fn new(rules: Rules, events: Sender<Event<K>>) -> Self {
        Ctx {
            rules,
            events,
            undelivered: AtomicU64::new(0),
            counts: Default::default(),
            members: AtomicUsize::new(0),
            observer: super::observe::Observer::new(),
        }
    }

    /// Reserves a place for a joining node; `false` if the registry is full.
    fn reserve(&self) -> bool {
        let max = self.rules.max_nodes;
        self.members
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back the place of a node that left (or did not join after all).
    fn release(&self) {
        self.members.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sends an event without ever blocking; counts it if it cannot be delivered
    /// (bounded channel full, or every receiver dropped).
    fn emit(&self, event: Event<K>) {
        self.observer.on_event(&event);
        if self.events.try_send(event).is_err() {
            self.undelivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count(&self, from: Option<NodeState>, to: Option<NodeState>) {
        if let Some(to) = to {
            self.counts[state_index(to)].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(from) = from {
            self.counts[state_index(from)].fetch_sub(1, Ordering::Relaxed);
            if to.is_none() {
                self.release(); // the node left
            }
        }
    }

    /// Moves `node` to `to` at `at` and reports it.
    fn change<D>(&self, node: &mut Node<K, D>, to: NodeState, at: u64) {
        let from = node.state;
        node.state = to;
        // A transition ends a run of slow intervals: the next one is reported.
        node.slow = false;
        node.since = NEVER;
        self.count(Some(from), Some(to));
        self.emit(Event::Changed {
            node: node.key.clone(),
            from,
            to,
            at: Timestamp::from_nanos(at),
        });
    }

    /// When `node`'s lifecycle moves on if no heartbeat arrives.
    fn due_of<D: FailureDetector>(&self, node: &Node<K, D>) -> u64 {
        let deadline = nanos(node.detector.deadline());
        match node.state {
            NodeState::Alive => deadline,
            NodeState::Suspect if node.since != NEVER => {
                deadline.min(node.since.saturating_add(self.rules.hysteresis_ns))
            }
            NodeState::Suspect => match self.rules.dead {
                DeadRule::After(after) => deadline.saturating_add(after),
                // Only once unavailable, even for a level below the threshold.
                DeadRule::Suspicion(level) => {
                    nanos(node.detector.deadline_for(level)).max(deadline)
                }
            },
            NodeState::Dead => node.since.saturating_add(self.rules.grace_ns),
        }
    }

    /// Applies every transition due at or before `now`, each at its own instant
    /// but never before the previous one (nor before the node's last evaluation),
    /// and records the node as evaluated at `now` (if later). Returns the number
    /// of events and whether the node was removed (the caller then drops it).
    fn advance<D: FailureDetector>(&self, node: &mut Node<K, D>, now: u64) -> (usize, bool) {
        let mut events = 0;
        // A well-behaved detector's deadline is after its last heartbeat, so `due`
        // is never before `evaluated`; the floor makes that hold for any detector.
        let mut floor = node.evaluated;
        node.evaluated = now.max(floor);
        // Each pass moves Alive -> Suspect -> Dead -> Removed or ends a recovery,
        // and only a heartbeat starts one: at most five passes.
        while node.due != NEVER && node.due <= now {
            let at = node.due.max(floor);
            floor = at;
            match node.state {
                NodeState::Alive => {
                    self.change(node, NodeState::Suspect, at);
                    events += 1;
                }
                NodeState::Suspect if node.since != NEVER => {
                    let recovered = node.since.saturating_add(self.rules.hysteresis_ns);
                    if recovered < nanos(node.detector.deadline()) {
                        self.change(node, NodeState::Alive, at);
                        events += 1;
                    } else {
                        // Unavailable again before it recovered: still Suspect, no event.
                        node.since = NEVER;
                    }
                }
                NodeState::Suspect => {
                    self.change(node, NodeState::Dead, at);
                    node.since = at;
                    events += 1;
                }
                NodeState::Dead => {
                    self.count(Some(NodeState::Dead), None);
                    self.emit(Event::Removed {
                        node: node.key.clone(),
                        from: NodeState::Dead,
                        at: Timestamp::from_nanos(at),
                    });
                    return (events + 1, true);
                }
            }
            node.due = self.due_of(node);
        }
        (events, false)
    }

    /// A heartbeat stamped `stamp` that takes effect at `at` (the later of `stamp`
    /// and the node's last evaluation), for a node that has been caught up to `at`.
    #[inline]
    fn heartbeat<D: FailureDetector>(
        &self,
        node: &mut Node<K, D>,
        stamp: Timestamp,
        at: Timestamp,
    ) -> Result<(), RegistryHeartbeatError> {
        if stamp < at && Self::stale(node, stamp)? {
            // The registration stood in for this heartbeat.
            node.registered_only = false;
            return Ok(());
        }
        match node.state {
            NodeState::Alive => {
                let last = match self.rules.slow_ns {
                    NEVER => None,
                    _ => node.detector.last_heartbeat(),
                };
                match node.detector.heartbeat(at) {
                    // The registration stood in for this heartbeat.
                    Err(HeartbeatError::Duplicate { .. }) if node.registered_only => {}
                    result => result?,
                }
                if let Some(last) = last {
                    self.slow_heartbeat(node, at.as_nanos().saturating_sub(last.as_nanos()), at);
                }
            }
            NodeState::Suspect => {
                node.detector.heartbeat(at)?;
                if self.rules.hysteresis_ns == 0 {
                    self.change(node, NodeState::Alive, at.as_nanos());
                } else if node.since == NEVER {
                    node.since = at.as_nanos();
                }
            }
            NodeState::Dead => {
                if !self.rules.accept_rejoin {
                    return Err(RegistryHeartbeatError::RejoinRefused);
                }
                self.revive(node, at)?;
            }
        }
        node.registered_only = false;
        node.due = self.due_of(node);
        Ok(())
    }

    /// The opt-in slow-heartbeat signal: reports the first interval of at least
    /// `rules.slow_ns` in a run of them.
    #[cold]
    fn slow_heartbeat<D>(&self, node: &mut Node<K, D>, interval_ns: u64, at: Timestamp) {
        let slow = interval_ns >= self.rules.slow_ns;
        if slow && !node.slow {
            self.emit(Event::SlowHeartbeat {
                node: node.key.clone(),
                interval: std::time::Duration::from_nanos(interval_ns),
                at,
            });
        }
        node.slow = slow;
    }

    /// For a late heartbeat (stamped `stamp`, before the node's last evaluation):
    /// refuses it, as the detector would at `stamp`, if it is not after the
    /// detector's last heartbeat. `Ok(true)` if it is the heartbeat a registration
    /// stood in for (nothing to do), `Ok(false)` if it is news.
    #[cold]
    fn stale<D: FailureDetector>(
        node: &Node<K, D>,
        stamp: Timestamp,
    ) -> Result<bool, HeartbeatError> {
        match node.detector.last_heartbeat() {
            Some(last) if stamp < last => Err(HeartbeatError::OutOfOrder { at: stamp, last }),
            Some(last) if stamp == last && node.registered_only => Ok(true),
            Some(last) if stamp == last => Err(HeartbeatError::Duplicate { at: stamp }),
            _ => Ok(false),
        }
    }

    /// Dead -> Alive at `at` with fresh statistics, as a restarted process. If the
    /// detector refuses `at` (it is not after its last heartbeat, or past its
    /// horizon), nothing changes.
    fn revive<D: FailureDetector>(
        &self,
        node: &mut Node<K, D>,
        at: Timestamp,
    ) -> Result<(), HeartbeatError> {
        // Refuses what the detector refuses before anything is forgotten.
        node.detector.heartbeat(at)?;
        node.detector.reset();
        // A reset detector accepts what it accepted before.
        let _ = node.detector.heartbeat(at);
        self.change(node, NodeState::Alive, at.as_nanos());
        node.due = self.due_of(node);
        Ok(())
    }
}

/// What a shard operation needs from the registry besides the shard itself.
pub(crate) struct Env<'a, K, D> {
    pub(crate) ctx: &'a Ctx<K>,
    /// The shard's earliest heap entry, published for lock-free reads; only
    /// written under the shard's lock.
    pub(crate) next: &'a NextDeadline,
    pub(crate) factory: &'a Factory<K, D>,
}

impl<K, D> Clone for Env<'_, K, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, D> Copy for Env<'_, K, D> {}

/// The nodes of one shard, behind its lock.
///
/// Nodes live in a dense vector (a removal moves the last one into the hole). The
/// [`Index`] maps a key's hash to a position in it and compares keys in the nodes
/// themselves, so a key is stored once and hashed once: the registry hashes it and
/// picks the shard from the same hash.
#[derive(Debug)]
pub(crate) struct Shard<K, D> {
    index: Index,
    nodes: Vec<Node<K, D>>,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// The latest instant at which a node of this shard was evaluated before it was
    /// removed: the last evaluation of every node the shard does not know.
    forgotten: u64,
}

impl<K, D> Shard<K, D>
where
    K: Eq + Clone,
    D: FailureDetector,
{
    pub(crate) fn new() -> Self {
        Shard {
            index: Index::default(),
            nodes: Vec::new(),
            heap: BinaryHeap::new(),
            forgotten: 0,
        }
    }

    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        self.index
            .find(hash, |i| nodes[i as usize].key.borrow() == key)
            .map(|i| i as usize)
    }

    /// Makes sure the heap has an entry at or before the node's due instant.
    #[inline]
    fn schedule(&mut self, i: usize, next: &NextDeadline) {
        let node = &mut self.nodes[i];
        let due = node.due;
        if due >= node.scheduled {
            return;
        }
        node.scheduled = due;
        // Positions fit: a shard would need 2^32 nodes (terabytes) to overflow.
        self.heap.push(Reverse((due, i as u32)));
        if due < next.load(Ordering::Relaxed) {
            next.publish(due);
        }
        if self.heap.len() > 2 * self.nodes.len() + 64 {
            self.compact(next);
        }
    }

    /// Drops the stale heap entries.
    fn compact(&mut self, next: &NextDeadline) {
        let nodes = &self.nodes;
        self.heap.retain(|&Reverse((t, i))| {
            nodes
                .get(i as usize)
                .is_some_and(|node| node.scheduled == t)
        });
        self.heap.shrink_to(2 * self.heap.len());
        self.publish(next);
    }

    /// Publishes the earliest heap entry (and wakes the registry's deadline
    /// watcher, if any, when it is earlier than the watcher's deadline).
    fn publish(&self, next: &NextDeadline) {
        let earliest = self.heap.peek().map_or(NEVER, |&Reverse((t, _))| t);
        next.publish(earliest);
    }

    /// Forgets the node at `i`; its detector is dropped with it.
    fn drop_node(&mut self, i: usize, next: &NextDeadline) {
        self.forgotten = self.forgotten.max(self.nodes[i].evaluated);
        self.index.remove(u64::from(self.nodes[i].hash), i as u32);
        let last = self.nodes.len() - 1;
        if i != last {
            // The last node moves into the hole: its index slot and heap entries
            // point at its old position, so both are renewed.
            self.index
                .relocate(u64::from(self.nodes[last].hash), last as u32, i as u32);
            self.nodes[last].scheduled = NEVER;
        }
        self.nodes.swap_remove(i);
        if i != last {
            self.schedule(i, next);
        }
        // Memory follows the number of nodes down after churn (amortised O(1)).
        let len = self.nodes.len();
        if self.nodes.capacity() > 64 && len < self.nodes.capacity() / 4 {
            self.nodes.shrink_to(2 * len);
            self.compact(next);
        }
    }

    /// When an input stamped `at` takes effect: at `at`, or at the node's last
    /// evaluation if that is later (the shard's `forgotten` instant for a node it
    /// does not know). Never earlier than anything already reported about the node.
    #[inline]
    fn effective(&self, i: Option<usize>, at: Timestamp) -> Timestamp {
        let floor = i.map_or(self.forgotten, |i| self.nodes[i].evaluated);
        if at.as_nanos() < floor {
            Timestamp::from_nanos(floor)
        } else {
            at
        }
    }

    /// Catches the node at `i` up to `now` (not before its last evaluation) and
    /// records it as evaluated then; `None` if that removed it.
    #[inline]
    fn catch_up(&mut self, i: usize, now: u64, env: Env<'_, K, D>) -> Option<usize> {
        let node = &mut self.nodes[i];
        if now < node.due {
            node.evaluated = now;
            return Some(i);
        }
        let (_, removed) = env.ctx.advance(node, now);
        if removed {
            self.drop_node(i, env.next);
            None
        } else {
            Some(i)
        }
    }

    /// The node `key`, if it is monitored, and when an input stamped `at` takes
    /// effect for it. The node is caught up to that instant; `None` if it is not
    /// monitored (or no longer: the catching up removed it).
    #[inline]
    fn find_at<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        at: Timestamp,
        env: Env<'_, K, D>,
    ) -> Option<(usize, Timestamp)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.find(hash, key)?;
        let at = self.effective(Some(i), at);
        self.catch_up(i, at.as_nanos(), env).map(|i| (i, at))
    }

    /// A node the shard does not know joins, Alive, as if it sent a heartbeat at
    /// `at` (or at the shard's `forgotten` instant, if later). If its detector
    /// refuses that heartbeat (past its horizon), or the registry is full, nothing
    /// is created.
    fn join(
        &mut self,
        key: K,
        hash: u64,
        at: Timestamp,
        registered: bool,
        env: Env<'_, K, D>,
    ) -> Result<(), JoinError> {
        let at = self.effective(None, at);
        // Given back unless the node is created: on a refusal, and also if the
        // caller's factory, detector or key panics (the place used to be lost
        // for good, shrinking the registry's `max_nodes` by one per panic).
        let Some(reservation) = Reservation::new(env.ctx) else {
            return Err(JoinError::Full(env.ctx.rules.max_nodes));
        };
        let mut detector = (env.factory)(&key);
        detector.reset();
        // The join counts as a heartbeat: a node the detector cannot time would
        // never be suspected.
        if let Err(e) = detector.heartbeat(at) {
            return Err(JoinError::Detector(e));
        }
        let mut node = Node {
            key: key.clone(),
            // The index reads the low 32 bits only (its tag).
            hash: hash as u32,
            detector,
            state: NodeState::Alive,
            due: NEVER,
            scheduled: NEVER,
            since: NEVER,
            evaluated: at.as_nanos(),
            registered_only: registered,
            slow: false,
        };
        node.due = env.ctx.due_of(&node);
        let i = self.nodes.len();
        self.nodes.push(node);
        reservation.keep();
        self.index.insert(hash, i as u32);
        env.ctx.count(None, Some(NodeState::Alive));
        env.ctx.emit(Event::Joined { node: key, at });
        self.schedule(i, env.next);
        Ok(())
    }

    /// A heartbeat from `key` stamped `at`.
    #[inline]
    pub(crate) fn heartbeat<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        at: Timestamp,
        env: Env<'_, K, D>,
    ) -> Result<(), RegistryHeartbeatError>
    where
        K: Borrow<Q>,
        Q: Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.find_at(hash, key, at, env) {
            Some((i, effective)) => {
                let result = env.ctx.heartbeat(&mut self.nodes[i], at, effective);
                self.schedule(i, env.next);
                result
            }
            None if env.ctx.rules.accept_unknown => {
                Ok(self.join(key.to_owned(), hash, at, false, env)?)
            }
            None => Err(RegistryHeartbeatError::UnknownNode),
        }
    }

    /// [`heartbeat`](Self::heartbeat) for a caller that remembers where `key`
    /// was found: the node at position `hint` is compared first (one key
    /// comparison, no index probe), the index is searched (with `hash()`) only
    /// if that is not `key`. Same effect as `heartbeat`; `hint` is set to the
    /// node's position afterwards (positions change when other nodes leave).
    #[inline]
    pub(crate) fn heartbeat_hinted(
        &mut self,
        hash: &impl Fn() -> u64,
        key: &K,
        hint: &mut u32,
        at: Timestamp,
        env: Env<'_, K, D>,
    ) -> Result<(), RegistryHeartbeatError> {
        let found = match self.nodes.get(*hint as usize) {
            Some(node) if node.key == *key => Some(*hint as usize),
            _ => self.find(hash(), key),
        };
        let caught_up = found.and_then(|i| {
            let effective = self.effective(Some(i), at);
            self.catch_up(i, effective.as_nanos(), env)
                .map(|i| (i, effective))
        });
        match caught_up {
            Some((i, effective)) => {
                *hint = i as u32;
                let result = env.ctx.heartbeat(&mut self.nodes[i], at, effective);
                self.schedule(i, env.next);
                result
            }
            None if env.ctx.rules.accept_unknown => {
                self.join(key.clone(), hash(), at, false, env)?;
                *hint = (self.nodes.len() - 1) as u32;
                Ok(())
            }
            None => Err(RegistryHeartbeatError::UnknownNode),
        }
    }

    /// Reads the index slot a lookup of `hash` starts at, so that the processor
    /// fetches it (first pass of a pipelined batch: [`Index::touch`]).
    #[inline]
    pub(crate) fn touch_index(&self, hash: u64) -> u64 {
        self.index.touch(hash)
    }

    /// The position of `key` (with `hash`), or `u32::MAX` if the shard does not
    /// know it: a hint for [`heartbeat_hinted`](Self::heartbeat_hinted), which
    /// checks it. After [`touch_index`](Self::touch_index) the index slot is
    /// usually cached, so this mostly waits for the node's key only.
    #[inline]
    pub(crate) fn locate(&self, hash: u64, key: &K) -> u32 {
        self.find(hash, key).map_or(u32::MAX, |i| i as u32)
    }

    /// Reads (so that the processor fetches them) the lines of the node at `hint`
    /// that a heartbeat reads (its lifecycle, and the detector's deadline and last
    /// heartbeat), if there is such a node: a pass of these over a batch lets the
    /// memory accesses of its heartbeats overlap. Changes nothing.
    #[inline]
    pub(crate) fn touch(&self, hint: u32) -> u64 {
        self.nodes.get(hint as usize).map_or(0, |node| {
            node.due
                ^ node.evaluated
                ^ nanos(node.detector.deadline())
                ^ nanos(node.detector.last_heartbeat())
        })
    }

    /// Reads the detector state that a heartbeat of the node at `hint` writes
    /// ([`FailureDetector::prefetch`]), if there is such a node. A pass of its
    /// own after [`touch`](Self::touch): the detector's window slot is found
    /// from the node, so reading both in one pass would chain two misses per
    /// node. Changes nothing.
    #[inline]
    pub(crate) fn touch_detector(&self, hint: u32) -> u64 {
        self.nodes
            .get(hint as usize)
            .map_or(0, |node| node.detector.prefetch())
    }

    /// Registers `key` at `at` (or its last evaluation, if later).
    pub(crate) fn register(
        &mut self,
        hash: u64,
        key: K,
        at: Timestamp,
        env: Env<'_, K, D>,
    ) -> Result<(), RegisterError> {
        let Some((i, at)) = self.find_at(hash, &key, at, env) else {
            return Ok(self.join(key, hash, at, true, env)?);
        };
        let node = &mut self.nodes[i];
        if node.state != NodeState::Dead {
            return Err(RegisterError::AlreadyRegistered { state: node.state });
        }
        env.ctx.revive(node, at).map_err(RegisterError::Detector)?;
        node.registered_only = true;
        self.schedule(i, env.next);
        Ok(())
    }

    /// Removes `key` at `at` (or its last evaluation, if later).
    pub(crate) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        at: Timestamp,
        env: Env<'_, K, D>,
    ) -> Option<NodeState>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (i, at) = self.find_at(hash, key, at, env)?;
        let node = &self.nodes[i];
        let from = node.state;
        env.ctx.count(Some(from), None);
        env.ctx.emit(Event::Removed {
            node: node.key.clone(),
            from,
            at,
        });
        self.drop_node(i, env.next);
        Some(from)
    }

    /// Settles every node whose due instant is at or before `now`; returns the
    /// number of events.
    pub(crate) fn tick(&mut self, now: u64, env: Env<'_, K, D>) -> usize {
        let mut events = 0;
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let i = i as usize;
            match self.nodes.get_mut(i) {
                Some(node) if node.scheduled == t => node.scheduled = NEVER,
                _ => continue, // stale
            }
            let (n, removed) = env.ctx.advance(&mut self.nodes[i], now);
            events += n;
            if removed {
                self.drop_node(i, env.next);
            } else {
                self.schedule(i, env.next);
            }
        }
        self.publish(env.next);
        events
    }

    /// Reads the node `key`, if it is monitored.
    pub(crate) fn read<Q, R>(
        &self,
        hash: u64,
        key: &Q,
        f: impl FnOnce(&Node<K, D>) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.find(hash, key).map(|i| f(&self.nodes[i]))
    }

    /// The shard's nodes (for metrics).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn nodes(&self) -> &[Node<K, D>] {
        &self.nodes
    }

    pub(crate) fn snapshot_into(&self, now: Timestamp, out: &mut Vec<NodeInfo<K>>) {
        out.extend(self.nodes.iter().map(|node| node.info(now)));
    }
}

impl<K: Clone, D: FailureDetector> Node<K, D> {
    pub(crate) fn state(&self) -> NodeState {
        self.state
    }

    pub(crate) fn detector(&self) -> &D {
        &self.detector
    }

    pub(crate) fn info(&self, now: Timestamp) -> NodeInfo<K> {
        NodeInfo {
            node: self.key.clone(),
            state: self.state,
            suspicion: self.detector.suspicion(now),
            last_heartbeat: self.detector.last_heartbeat(),
            deadline: self.detector.deadline(),
            stats: self.detector.stats(),
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::Node;
    use crate::{EwmaPhi, InlineMicros, InlineMillis, PhiAccrual};

    /// A node is its 48 bytes of lifecycle and its detector, in one block: with an
    /// inline window nothing else is allocated for it (docs/memory.md).
    #[test]
    fn a_node_is_its_lifecycle_and_its_detector() {
        use std::mem::size_of;
        assert_eq!(size_of::<Node<u64, PhiAccrual>>(), 48 + 104);
        assert_eq!(
            size_of::<Node<u64, PhiAccrual<InlineMicros<100>>>>(),
            48 + 472
        );
        assert_eq!(
            size_of::<Node<u64, PhiAccrual<InlineMillis<100>>>>(),
            48 + 272
        );
        assert_eq!(size_of::<Node<u64, EwmaPhi>>(), 48 + 40);
    }
}
