//! [`Registry`]: many monitored nodes, shared across threads, with a lifecycle and
//! events.

mod config;
mod error;
mod event;
pub(crate) mod index;
mod observe;
mod shard;

use std::any::Any;
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::detectors::FailureDetector;
use crate::detectors::phi::PhiAccrual;
use crate::error::ConfigError;
use crate::time::{Clock, MonotonicClock, Timestamp};

pub use config::{Confirmation, RegistryConfig};
pub use error::{RegisterError, RegistryHeartbeatError};
pub use event::{Event, NodeInfo, NodeState, StateCounts};

use config::MAX_SHARDS;
use shard::{Ctx, Env, Factory, NEVER, Shard};

/// The receiving end of a registry's event channel (a `crossbeam-channel`
/// receiver: it can be cloned, selected on, iterated, or polled with `try_recv`).
pub type EventReceiver<K> = crossbeam_channel::Receiver<Event<K>>;

/// A shard's earliest heap entry (`NEVER`: none), readable without its lock, and
/// the registry's deadline watch, told when a shard publishes an earlier one.
pub(crate) struct NextDeadline {
    at: AtomicU64,
    watch: Arc<DeadlineWatch>,
}

impl NextDeadline {
    fn new(watch: Arc<DeadlineWatch>) -> Self {
        NextDeadline {
            at: AtomicU64::new(NEVER),
            watch,
        }
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.at.load(order)
    }

    /// Publishes the shard's earliest entry (only under the shard's lock). Costs
    /// one relaxed load and a comparison more than the store, unless a watcher
    /// must be woken (the published instant is earlier than its deadline).
    #[inline]
    pub(crate) fn publish(&self, at: u64) {
        self.at.store(at, Ordering::Relaxed);
        if at < self.watch.announced.load(Ordering::Relaxed) {
            self.watch.wake(at);
        }
    }
}

/// What [`Registry::set_deadline_waker`] installs.
type Waker = Box<dyn Fn() + Send + Sync>;

/// Who sleeps until the registry's next deadline, and how to wake it
/// ([`Registry::set_deadline_waker`], [`Registry::watch_next_deadline`]).
#[derive(Default)]
struct DeadlineWatch {
    /// The deadline the watcher sleeps until: 0 while nobody watches (nothing is
    /// earlier, so publishing never wakes), `NEVER` while it sleeps with nothing
    /// scheduled (anything wakes it). Only lowered by a wake.
    announced: AtomicU64,
    /// The waker and the number [`Registry::set_deadline_waker`] gave it.
    waker: RwLock<Option<(u64, Waker)>>,
    /// Wakers installed so far (numbers them).
    installed: AtomicU64,
}

impl DeadlineWatch {
    #[cold]
    #[inline(never)]
    fn wake(&self, at: u64) {
        // The watcher rescans when woken: until then, publications no earlier
        // than `at` need not wake it again.
        self.announced.fetch_min(at, Ordering::Relaxed);
        if let Some((_, wake)) = self.waker.read().as_ref() {
            wake();
        }
    }
}

/// A shard behind its lock, on cache lines of its own, so that threads working on
/// different shards do not slow each other down.
#[repr(align(128))]
struct LockedShard<K, D>(Mutex<ShardCell<K, D>>);

/// A shard and its heartbeat counters (zero-sized without the `metrics`
/// feature), both behind the shard's lock: counting is a plain addition.
struct ShardCell<K, D> {
    shard: Shard<K, D>,
    counters: observe::ShardCounters,
}

impl<K, D> Deref for ShardCell<K, D> {
    type Target = Shard<K, D>;
    fn deref(&self) -> &Shard<K, D> {
        &self.shard
    }
}

impl<K, D> DerefMut for ShardCell<K, D> {
    fn deref_mut(&mut self) -> &mut Shard<K, D> {
        &mut self.shard
    }
}

/// Watches many nodes from many threads: one failure detector per node, a lifecycle
/// (Alive -> Suspect -> Dead -> Removed) driven by the detectors' deadlines, and an
/// event for every transition.
///
/// * `K` identifies a node (an address, a name, an id): `Hash + Eq + Clone + Send +
///   Sync`. Methods that look a node up take any borrowed form of it (`&str` for a
///   `String` key), as `HashMap` does.
/// * `D` is the detector every node gets, [`PhiAccrual`] by default; each node's is
///   built by cloning a prototype ([`Registry::new`]) or by a factory
///   ([`Registry::with_factory`]).
/// * `S` hashes keys, both to pick a shard and inside it; `RandomState` (SipHash,
///   resistant to chosen keys) by default. A faster hasher can be passed to
///   [`Registry::with_factory_and_hasher`] when keys are trusted.
///
/// ```
/// use failure_detector::{
///     Event, FixedTimeout, FixedTimeoutConfig, ManualClock, NodeState, Registry,
///     RegistryConfig, Timestamp,
/// };
/// use std::time::Duration;
///
/// // Every 5 s, suspected after 3 missed heartbeats (15 s); Dead 10 s later.
/// let clock = ManualClock::new(Timestamp::ZERO);
/// let (registry, events) =
///     Registry::new(RegistryConfig::new(), FixedTimeout::new(FixedTimeoutConfig::new())?)?;
/// let registry = registry.with_clock(clock.clone());
///
/// registry.heartbeat_now("a")?; // "a" joins, Alive
/// clock.advance(Duration::from_secs(5));
/// registry.heartbeat_now("a")?;
/// assert_eq!(registry.tick_now(), 0); // nothing due
///
/// clock.advance(Duration::from_secs(30)); // silent until 35 s
/// registry.tick_now();
/// assert_eq!(registry.state("a"), Some(NodeState::Dead));
///
/// // Keys are `String`s here (looked up by `&str`).
/// let seen: Vec<Event<String>> = events.try_iter().collect();
/// let a = || String::from("a");
/// assert_eq!(seen, [
///     Event::Joined { node: a(), at: Timestamp::ZERO },
///     Event::Changed {
///         node: a(), from: NodeState::Alive, to: NodeState::Suspect,
///         at: Timestamp::from_secs(20), // the deadline, not the tick
///     },
///     Event::Changed {
///         node: a(), from: NodeState::Suspect, to: NodeState::Dead,
///         at: Timestamp::from_secs(30),
///     },
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Lifecycle
///
/// A node joins Alive, on its first heartbeat (if
/// [`accept_unknown`](RegistryConfig::accept_unknown)) or when
/// [`register`](Self::register)ed; a registration counts as a heartbeat, so a node
/// that never speaks is suspected like one that stopped. It becomes Suspect when its
/// detector's [`deadline`](FailureDetector::deadline) passes, Dead after the
/// [`confirmation`](RegistryConfig::confirmation) (a time, or a second, higher
/// suspicion level), and is Removed, its state dropped, after the
/// [`removal_grace`](RegistryConfig::removal_grace). A heartbeat brings a Suspect
/// node back to Alive (after the [`hysteresis`](RegistryConfig::hysteresis), if
/// any) and a Dead one too if [`accept_rejoin`](RegistryConfig::accept_rejoin) (a
/// rejoin, with fresh statistics). See [`NodeState`] for the diagram.
///
/// Transitions happen at well-defined instants (the deadline, deadline plus
/// confirmation, ...), whoever notices them: [`tick`](Self::tick) applies those that
/// are due, and a heartbeat, registration or removal first applies those due before
/// it takes effect. Queries ([`state`](Self::state), [`snapshot`](Self::snapshot),
/// ...) report the states as of the last such evaluation; tick first for states as
/// of now.
///
/// # Time never runs backwards
///
/// Each node remembers the instant it was last evaluated at: that of its last
/// input (heartbeat, registration or removal, accepted or not), or of the last
/// tick that looked at it (one that found a transition of it due, or a deadline
/// it had since postponed). The rule:
///
/// * **An input stamped before its node's last evaluation takes effect at that
///   evaluation.** If a tick at 20 s found a node silent since 0 s (and made it
///   Suspect at 15 s), a heartbeat stamped 14 s that arrives next is applied at
///   20 s: the detector records a heartbeat at 20 s, and the recovery is dated
///   20 s. The same holds for a rejoin from Dead, a registration and a removal.
/// * A heartbeat stamped at or before the detector's last accepted heartbeat is
///   stale, not late: it is refused as before
///   ([`RegistryHeartbeatError::Detector`]), and changes nothing.
/// * A node the registry does not know (never seen, or removed) stands at the
///   latest instant its shard removed a node: the registry forgets removed nodes,
///   so it keeps one instant per shard for all of them. A node removed at 85 s
///   that sends a heartbeat stamped 50 s joins again at 85 s or later, not 50 s.
///
/// So per node, event instants never decrease, and each transition is dated no
/// earlier than the one before it. The alternative, refusing late inputs, would
/// make a live service lose real heartbeats to an ordinary race (a receiving
/// thread stamps `now()`, then a ticking thread takes the lock first); taking the
/// heartbeat a few microseconds late is what it expects: the node did speak.
///
/// The `_now` methods ([`heartbeat_now`](Self::heartbeat_now),
/// [`tick_now`](Self::tick_now), ...) read the clock while they hold the node's
/// shard lock, so with a monotonic clock their inputs are never late, whichever
/// threads call them.
///
/// **When the events depend only on the inputs.** If inputs arrive in timestamp
/// order (as a trace replay or a single receiving thread delivers them) and no
/// tick runs ahead of them (each tick's instant is no later than the inputs that
/// follow it), no input is ever late, and the states and events, timestamps
/// included, depend only on the inputs: not on whether, when or how often you tick
/// (ticking only makes them visible sooner), nor on threads or shards. Otherwise (explicit timestamps taken before a lock, out-of-order
/// delivery, ticks ahead of the inputs) the stream is still a valid per-node
/// chain in time order, but a late input is dated when it took effect, which
/// depends on what was evaluated before it arrived.
///
/// # The end of time
///
/// Instants are nanoseconds up to [`Timestamp::MAX`] (about 584 years after the
/// clock's origin), and `Timestamp::MAX` itself means "never": a detector deadline
/// at `Timestamp::MAX`, or a Dead or removal instant that adding the
/// [`confirmation`](RegistryConfig::confirmation) or
/// [`removal_grace`](RegistryConfig::removal_grace) would put at or past it
/// (additions saturate), is never reached, even by a tick at `Timestamp::MAX`,
/// which applies everything due before it. So `Duration::MAX` means never, and a
/// node whose detector's deadline saturated at the end of the range is never
/// suspected. The crate's detectors refuse heartbeats past their documented
/// horizon, well before that; the registry passes the refusal on and changes
/// nothing: a heartbeat or registration that would make a node join or rejoin is
/// refused ([`RegistryHeartbeatError::Detector`], [`RegisterError::Detector`]), since
/// a node that joins counts as having sent a heartbeat. A tick past that horizon
/// makes the nodes it settles stand there: later inputs for them take effect at
/// that instant, and their detectors refuse them.
///
/// # Events
///
/// [`Registry::new`] returns the [`EventReceiver`] with the registry. Each
/// transition produces exactly one [`Event`], sent while the node's shard is locked,
/// so a node's events arrive in order and each one's `from` is the previous one's
/// `to`. Sending never blocks a heartbeat or a tick:
///
/// * **Unbounded** (the default): nothing is ever lost; a receiver that falls
///   behind makes the queue, and memory, grow (a few dozen bytes per event, plus
///   what a clone of the key holds).
/// * **Bounded** ([`event_capacity`](RegistryConfig::event_capacity)): when the
///   queue is full, new events are dropped and counted in
///   [`undelivered_events`](Self::undelivered_events). A listener that sees the
///   count rise should resynchronise from [`snapshot`](Self::snapshot).
/// * **Nobody listening**: drop the receiver. Events are then discarded at once
///   (and counted), costing nothing but their construction. Clones of the receiver
///   share the queue: each event goes to one of them.
///
/// # Threads
///
/// Every method takes `&self`; share the registry as an `Arc<Registry>`. Nodes are
/// spread over [`shards`](RegistryConfig::shards) by the hash of their key, each
/// behind its own `parking_lot` mutex, so threads heartbeating different nodes
/// rarely wait for each other. A call holds at most one shard lock at a time, so
/// calls cannot deadlock one another; but the detector factory, the detector's
/// methods and the key's `Hash` and `Eq` run under a shard lock and must not call
/// back into the registry. [`snapshot`](Self::snapshot) visits the shards one
/// after the other: it is consistent per node, not across nodes.
///
/// Two threads heartbeating nodes of the same shard take turns on its lock, and
/// the lock's cache line travels between their cores: with many nodes spread over
/// all shards that happens on about every other heartbeat. Two ways around it:
/// [`heartbeat_batch`](Self::heartbeat_batch) takes each shard's lock once per
/// chunk of the batch, and threads that route heartbeats by
/// [`shard_of`](Self::shard_of) (each thread its own shards) never share a lock.
///
/// # Cost
///
/// * [`heartbeat`](Self::heartbeat) for a known node: one hash of the key (mixed
///   by a multiply and two shifts, so that any reasonable hasher, even an identity
///   hash of small integers, spreads keys over shards), one lock, one probe of the
///   shard's index, one comparison with the node's last evaluation, the
///   detector's O(1) heartbeat; no
///   allocation. Only when the node's deadline moves earlier (the intervals
///   shrank) is an entry pushed on the shard's heap, O(log n).
/// * [`tick`](Self::tick): one atomic load per shard when nothing is due (no lock);
///   O(log n) per node whose deadline passed. It never scans the nodes. A heartbeat
///   that postpones a deadline leaves the node's heap entry where it was (lazy
///   invalidation); a tick that reaches it pushes it again at the new deadline, so
///   while all nodes heartbeat, ticks renew about one entry per node per deadline
///   horizon (the silence after which a node is suspected).
/// * Joining clones the prototype detector (which allocates its window, unless the
///   window is inline) and the key twice (the node and the event); removal frees
///   them.
///
/// # Memory
///
/// Per node: the detector (for [`PhiAccrual`], [`memory_bytes`](FailureDetector::memory_bytes):
/// 104 bytes plus 4 per window slot at the default microsecond resolution, or 72
/// plus the slots in one block with the window inline,
/// [`InlineMicros`](crate::InlineMicros), the key, 48 bytes of lifecycle state, an
/// 8-byte index slot (at most three quarters of the slots are used) and one or two
/// 16-byte heap entries. The lifecycle and the detector are one element of the
/// shard's vector, so with an inline window a node has no allocation of its own.
/// Measured with `u64` keys (resident memory, `docs/memory.md`): 601 bytes per node
/// for phi at window 100 (555 inline, 393 and 355 at millisecond resolution), 4,218
/// at window 1000, 124 for [`EwmaPhi`](crate::EwmaPhi); about 83 to 114 bytes of
/// registry bookkeeping.
/// Removed nodes are freed, and the
/// tables shrink when most of their nodes have gone, so churn does not make the
/// registry grow.
///
/// # Panics and errors
///
/// No method panics on caller input. Refused operations return a typed error and
/// say what changed: [`RegistryHeartbeatError`], [`RegisterError`]; the
/// constructors return [`ConfigError`] naming the field.
pub struct Registry<K, D = PhiAccrual, S = RandomState> {
    shards: Box<[LockedShard<K, D>]>,
    /// Each shard's earliest heap entry (`NEVER`: none), readable without its lock.
    next: Box<[NextDeadline]>,
    watch: Arc<DeadlineWatch>,
    /// The clock as a `MonotonicClock` (its origin), when it is one.
    monotonic: Option<MonotonicClock>,
    shard_mask: usize,
    hasher: S,
    ctx: Ctx<K>,
    factory: Box<Factory<K, D>>,
    clock: Arc<dyn Clock + Send + Sync>,
    config: RegistryConfig,
}

impl<K, D> Registry<K, D, RandomState>
where
    K: Hash + Eq + Clone + Send + Sync,
    D: FailureDetector + Send,
{
    /// A registry whose nodes each get a clone of `prototype` (reset first, so a
    /// detector that has seen heartbeats is fine), and the receiver of its events.
    /// The clock is a [`MonotonicClock`] starting now; see
    /// [`with_clock`](Self::with_clock).
    ///
    /// # Errors
    /// [`ConfigError`] naming the field, before anything is allocated: `shards`
    /// not a power of two from 1 to 65,536; `event_capacity` of zero or above
    /// [`MAX_EVENT_CAPACITY`](RegistryConfig::MAX_EVENT_CAPACITY); a
    /// [`Confirmation::Suspicion`] level that is not finite, not positive, or
    /// (`OutOfRange`) not above the prototype's threshold.
    pub fn new(
        config: RegistryConfig,
        mut prototype: D,
    ) -> Result<(Self, EventReceiver<K>), ConfigError>
    where
        D: Clone + Sync + 'static,
    {
        config.validate()?;
        if let Confirmation::Suspicion(level) = config.confirmation
            && level <= prototype.threshold()
        {
            return Err(ConfigError::OutOfRange {
                field: "confirmation",
                allowed: "a suspicion level above the detector's threshold",
            });
        }
        prototype.reset();
        Self::with_factory(config, move |_: &K| prototype.clone())
    }

    /// A registry whose nodes get their detector from `factory`, called with the
    /// node's key when it joins (so nodes may get different settings), and the
    /// receiver of its events. The detector is reset before use.
    ///
    /// ```
    /// use failure_detector::{PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig};
    /// use std::time::Duration;
    ///
    /// // Peers in another region ("wan:...") get a longer acceptable pause.
    /// let lan = PhiAccrual::new(PhiAccrualConfig::new())?;
    /// let wan = PhiAccrual::new(
    ///     PhiAccrualConfig::new().with_acceptable_heartbeat_pause(Duration::from_secs(10)),
    /// )?;
    /// let (registry, _events) = Registry::with_factory(RegistryConfig::new(), move |key: &String| {
    ///     if key.starts_with("wan:") { wan.clone() } else { lan.clone() }
    /// })?;
    /// # let _: &Registry<String> = &registry;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`new`](Self::new), except that a [`Confirmation::Suspicion`] level is not
    /// compared with the detectors' thresholds.
    pub fn with_factory(
        config: RegistryConfig,
        factory: impl Fn(&K) -> D + Send + Sync + 'static,
    ) -> Result<(Self, EventReceiver<K>), ConfigError> {
        Self::with_factory_and_hasher(config, factory, RandomState::new())
    }
}

impl<K, D, S> Registry<K, D, S>
where
    K: Hash + Eq + Clone + Send + Sync,
    D: FailureDetector + Send,
    S: BuildHasher,
{
    /// As [`with_factory`](Registry::with_factory), hashing keys with `hasher`.
    ///
    /// # Errors
    /// As [`with_factory`](Registry::with_factory).
    pub fn with_factory_and_hasher(
        config: RegistryConfig,
        factory: impl Fn(&K) -> D + Send + Sync + 'static,
        hasher: S,
    ) -> Result<(Self, EventReceiver<K>), ConfigError> {
        let rules = config.validate()?;
        let (sender, receiver) = match config.event_capacity {
            None => crossbeam_channel::unbounded(),
            Some(capacity) => crossbeam_channel::bounded(capacity),
        };
        let shards = config.shards.min(MAX_SHARDS);
        let watch = Arc::new(DeadlineWatch::default());
        let clock = MonotonicClock::new();
        let registry = Registry {
            shards: (0..shards)
                .map(|_| {
                    LockedShard(Mutex::new(ShardCell {
                        shard: Shard::new(),
                        counters: observe::ShardCounters::default(),
                    }))
                })
                .collect(),
            next: (0..shards)
                .map(|_| NextDeadline::new(watch.clone()))
                .collect(),
            watch,
            monotonic: Some(clock),
            shard_mask: shards - 1,
            hasher,
            ctx: Ctx::new(rules, sender),
            factory: Box::new(factory),
            clock: Arc::new(clock),
            config,
        };
        Ok((registry, receiver))
    }

    /// Replaces the clock that the `*_now` methods read (a [`ManualClock`] in tests
    /// and simulations). Call it before sharing the registry.
    ///
    /// [`ManualClock`]: crate::ManualClock
    ///
    /// A [`MonotonicClock`] (or, with the `tokio` feature, a
    /// `runtime::TokioClock`) is also kept as such:
    /// [`monotonic_clock`](Self::monotonic_clock) gives it back, so that
    /// timestamps convert to `Instant`s on the registry's own origin.
    pub fn with_clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        let any: &dyn Any = &clock;
        self.monotonic = any.downcast_ref::<MonotonicClock>().copied();
        #[cfg(feature = "tokio")]
        if let Some(tokio) = any.downcast_ref::<crate::time::TokioClock>() {
            self.monotonic = Some(tokio.monotonic());
        }
        self.clock = Arc::new(clock);
        self
    }

    /// The clock that the `*_now` methods read.
    pub fn clock(&self) -> &(dyn Clock + Send + Sync) {
        &*self.clock
    }

    /// The registry's clock as a [`MonotonicClock`], whose
    /// [`origin`](MonotonicClock::origin) and
    /// [`instant_of`](MonotonicClock::instant_of) turn the registry's timestamps
    /// into `Instant`s and back: the default clock, or one given to
    /// [`with_clock`](Self::with_clock) that is a `MonotonicClock` (or a
    /// `TokioClock`). `None` for any other clock (a
    /// [`ManualClock`](crate::ManualClock)), whose timestamps are not tied to
    /// an `Instant`.
    ///
    /// ```
    /// use failure_detector::{FixedTimeout, FixedTimeoutConfig, MonotonicClock, Registry, RegistryConfig, Timestamp};
    /// use std::time::{Duration, Instant};
    ///
    /// let clock = MonotonicClock::with_origin(Instant::now());
    /// let fd = FixedTimeout::new(FixedTimeoutConfig::new())?;
    /// let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd)?;
    /// let registry = registry.with_clock(clock);
    /// let same = registry.monotonic_clock().expect("a monotonic clock");
    /// assert_eq!(same.origin(), clock.origin());
    /// let t = Timestamp::from_secs(3);
    /// assert_eq!(same.instant_of(t), clock.origin() + Duration::from_secs(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monotonic_clock(&self) -> Option<MonotonicClock> {
        self.monotonic
    }

    /// Installs `wake`, called when the registry's next deadline moves earlier
    /// than the one [`watch_next_deadline`](Self::watch_next_deadline) last
    /// returned (a node joined or registered, or a heartbeat brought a deadline
    /// forward), replacing any earlier waker. Runtime-agnostic: a tokio task
    /// passes `move || notify.notify_one()`, a thread `move || thread.unpark()`.
    ///
    /// `wake` is called while a shard's lock is held, by whichever thread moved
    /// the deadline: it must be quick, must not block, and must not call back
    /// into the registry. It may be called when nothing moved (spuriously); a
    /// watcher that wakes just asks again.
    ///
    /// Cost: nothing on a heartbeat that postpones its node's deadline (the usual
    /// case); one relaxed atomic load and a comparison where a shard publishes a
    /// new earliest deadline; the waker runs only when that deadline is earlier
    /// than the watcher's, and then once until the watcher asks again.
    ///
    /// Returns the waker's number, for
    /// [`clear_deadline_waker_if`](Self::clear_deadline_waker_if).
    pub fn set_deadline_waker(&self, wake: impl Fn() + Send + Sync + 'static) -> u64 {
        let id = self.watch.installed.fetch_add(1, Ordering::Relaxed);
        *self.watch.waker.write() = Some((id, Box::new(wake)));
        id
    }

    /// Removes the waker; publishing deadlines then never calls one.
    pub fn clear_deadline_waker(&self) {
        *self.watch.waker.write() = None;
        self.watch.announced.store(0, Ordering::Relaxed);
    }

    /// Removes the waker only if it is still the one numbered `id` (what
    /// [`set_deadline_waker`](Self::set_deadline_waker) returned), so a watcher
    /// that stops never removes the waker of one that replaced it. Returns
    /// whether it removed it.
    pub fn clear_deadline_waker_if(&self, id: u64) -> bool {
        let mut waker = self.watch.waker.write();
        if waker.as_ref().is_some_and(|(mine, _)| *mine == id) {
            *waker = None;
            self.watch.announced.store(0, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// [`next_deadline`](Self::next_deadline) for a sleeper: the earliest instant
    /// at which a [`tick`](Self::tick) may have something to do, and, until the
    /// next call, the waker installed by
    /// [`set_deadline_waker`](Self::set_deadline_waker) is called as soon as any
    /// shard publishes an earlier one (or any one at all, if this returned
    /// `None`). No wake-up is lost between this call and the sleep: a deadline
    /// published while it runs is either in its answer or wakes the waker.
    ///
    /// Takes each shard's lock in turn (briefly, one at a time), which is what
    /// makes the hand-over exact; call it once per sleep, not per heartbeat.
    ///
    /// ```
    /// use failure_detector::{FixedTimeout, FixedTimeoutConfig, Registry, RegistryConfig, Timestamp};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let fd = FixedTimeout::new(FixedTimeoutConfig::new())?; // suspects after 15 s
    /// let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd)?;
    /// let wakes = Arc::new(AtomicUsize::new(0));
    /// let counter = wakes.clone();
    /// registry.set_deadline_waker(move || { counter.fetch_add(1, Ordering::Relaxed); });
    ///
    /// assert_eq!(registry.watch_next_deadline(), None); // sleep until woken
    /// registry.register(1, Timestamp::from_secs(10))?;
    /// assert_eq!(wakes.load(Ordering::Relaxed), 1);
    /// assert_eq!(registry.watch_next_deadline(), Some(Timestamp::from_secs(25)));
    /// registry.register(2, Timestamp::from_secs(20))?; // later than 25 s: no wake
    /// assert_eq!(wakes.load(Ordering::Relaxed), 1);
    /// registry.register(3, Timestamp::from_secs(5))?; // earlier: wake
    /// assert_eq!(wakes.load(Ordering::Relaxed), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch_next_deadline(&self) -> Option<Timestamp> {
        // Anything published from now on wakes; a shard that published before
        // its lock is taken below is read; one that publishes after sees NEVER
        // (or the answer stored last) through that lock.
        self.watch.announced.store(NEVER, Ordering::Relaxed);
        let mut earliest = NEVER;
        for (shard, next) in self.shards.iter().zip(self.next.iter()) {
            let _locked = shard.0.lock();
            earliest = earliest.min(next.load(Ordering::Relaxed));
        }
        self.watch.announced.store(earliest, Ordering::Relaxed);
        (earliest != NEVER).then(|| Timestamp::from_nanos(earliest))
    }

    /// The registry's clock's current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The configuration the registry was built with.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The shard holding `node` (whether or not it is monitored), in
    /// `0..shard_count()`.
    ///
    /// For ingestion threads that can choose which heartbeats they deliver: if each
    /// thread takes the nodes of its own set of shards (thread `j` of `t` the nodes
    /// with `shard_of(node) % t == j`, say), no two threads ever take the same lock,
    /// and no lock's cache line travels between cores. Measured from two threads
    /// into 1,000 nodes: 52 M heartbeats per second, against 18 M with the nodes
    /// split between the threads regardless of shard (see the README).
    ///
    /// ```
    /// use failure_detector::{PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig};
    ///
    /// let phi = PhiAccrual::new(PhiAccrualConfig::new())?;
    /// let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), phi)?;
    /// let threads = 2;
    /// let mine: Vec<u64> = (0..1000).filter(|n| registry.shard_of(n) % threads == 0).collect();
    /// assert!(mine.len() > 300 && mine.len() < 700);
    /// assert!(registry.shard_of(&7) < registry.shard_count());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shard_of<Q>(&self, node: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.shard_index(self.hash(node))
    }

    /// How many shards the registry has ([`shards`](RegistryConfig::shards), a power
    /// of two).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The hash of `node` as the registry uses it: the hasher's, mixed (see
    /// [`mix`]), so that a hasher that leaves most bits alike (an identity hash of
    /// small integers) still spreads keys over shards and index slots.
    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, node: &Q) -> u64 {
        mix(self.hasher.hash_one(node))
    }

    /// Bits 32 and up of the mixed hash pick the shard: the shard's index uses the
    /// low 32.
    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & self.shard_mask
    }

    /// The hash of `node`, the shard holding it, and what the shard's operations
    /// need.
    #[inline]
    fn shard<Q: Hash + ?Sized>(&self, node: &Q) -> (u64, &Mutex<ShardCell<K, D>>, Env<'_, K, D>) {
        let hash = self.hash(node);
        let i = self.shard_index(hash);
        (hash, &self.shards[i].0, self.env(&self.next[i]))
    }

    #[inline]
    fn env<'a>(&'a self, next: &'a NextDeadline) -> Env<'a, K, D> {
        Env {
            ctx: &self.ctx,
            next,
            factory: &*self.factory,
        }
    }

    /// Reads the node `node`, if it is monitored.
    fn read<Q, R>(&self, node: &Q, f: impl FnOnce(&shard::Node<K, D>) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard, _) = self.shard(node);
        shard.lock().read(hash, node, f)
    }

    /// Records a heartbeat from `node` stamped `at`, creating the node if it is
    /// unknown and [`accept_unknown`](RegistryConfig::accept_unknown). A Suspect
    /// node becomes Alive (after the hysteresis, if any); a Dead one rejoins if
    /// [`accept_rejoin`](RegistryConfig::accept_rejoin).
    ///
    /// The heartbeat takes effect at `at`, or at the node's last evaluation if that
    /// is later (a tick already went past `at`): see
    /// [time never runs backwards](Self#time-never-runs-backwards).
    ///
    /// # Errors
    /// [`RegistryHeartbeatError`]: an unknown node that is refused, a refused
    /// rejoin, or a timestamp the detector refuses (at or before its last
    /// accepted heartbeat, or past its horizon). The detector is then unchanged
    /// and no node is created, but transitions already due when the heartbeat
    /// would have taken effect are applied.
    #[inline]
    pub fn heartbeat<Q>(&self, node: &Q, at: Timestamp) -> Result<(), RegistryHeartbeatError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let (hash, shard, env) = self.shard(node);
        let mut shard = shard.lock();
        let result = shard.heartbeat(hash, node, at, env);
        shard.counters.count(&result);
        result
    }

    /// Records many heartbeats, with the same effect as calling
    /// [`heartbeat`](Self::heartbeat) for each in turn, but faster: the batch is
    /// sorted by shard in chunks of 1024, and each shard's lock is taken once per
    /// chunk, so threads exchange lock cache lines less often. Within a shard the
    /// heartbeats are pipelined, up to 32 at a time: the index slots of all of
    /// them are read first, then their nodes, then the detector state each
    /// heartbeat writes ([`FailureDetector::prefetch`]), and only then are they
    /// applied, so that their cache misses overlap instead of following one
    /// another. Worth it from a few hundred heartbeats at a time (a burst read
    /// from a socket, a gossip digest). No allocation; about 15 KB of stack.
    ///
    /// The heartbeats of one node are applied in batch order; those of different
    /// shards may be applied in any order. Returns how many were accepted.
    ///
    /// Each refused heartbeat is reported to `refused` with its position in
    /// `batch` and the reason, while no lock is held (so `refused` may call back
    /// into the registry), in the order they were applied: chunk by chunk
    /// (positions 0 to 1023, then 1024 to 2047, ...), within a chunk shard by shard
    /// in ascending [`shard_of`](Self::shard_of), and within a shard in batch
    /// order. So the refusals of one node arrive in batch order, and the positions
    /// increase within each shard of a chunk; sort them by position for the whole
    /// batch's order (refusals are rare, so the sort is cheap).
    ///
    /// ```
    /// use failure_detector::{
    ///     FixedTimeout, FixedTimeoutConfig, Registry, RegistryConfig, RegistryHeartbeatError,
    ///     Timestamp,
    /// };
    ///
    /// let fd = FixedTimeout::new(FixedTimeoutConfig::new())?;
    /// let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd)?;
    /// let at = Timestamp::from_secs(1);
    /// let batch: Vec<(u64, Timestamp)> = (0..1000).map(|node| (node, at)).collect();
    /// assert_eq!(registry.heartbeat_batch(&batch, |_, _| {}), 1000);
    /// assert_eq!(registry.len(), 1000);
    ///
    /// // Node 7 again at the same instant is a duplicate.
    /// let mut refused = Vec::new();
    /// let again = [(7, at), (8, Timestamp::from_secs(2))];
    /// assert_eq!(registry.heartbeat_batch(&again, |i, e| refused.push((i, e))), 1);
    /// assert!(matches!(refused[..], [(0, RegistryHeartbeatError::Detector(_))]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heartbeat_batch(
        &self,
        batch: &[(K, Timestamp)],
        mut refused: impl FnMut(usize, RegistryHeartbeatError),
    ) -> usize {
        let mut accepted = 0;
        let mut hashes = [0u64; BATCH_CHUNK];
        // The shard in the high half, the position in the chunk in the low half.
        let mut order = [0u32; BATCH_CHUNK];
        let mut errors = [(0usize, RegistryHeartbeatError::UnknownNode); BATCH_ERRORS];
        // Where each heartbeat of a pass was found (`u32::MAX`: not found).
        let mut hints = [0u32; BATCH_PASS];
        // Per shard, where its entries start in `order` (a counting sort).
        let mut starts = [0u16; BATCH_COUNTED_SHARDS + 1];
        let counted = self.shards.len() <= BATCH_COUNTED_SHARDS;
        for (c, chunk) in batch.chunks(BATCH_CHUNK).enumerate() {
            let order = &mut order[..chunk.len()];
            if counted {
                // Stable: within a shard, the entries stay in batch order.
                let starts = &mut starts[..=self.shards.len()];
                starts.fill(0);
                for (j, (node, _)) in chunk.iter().enumerate() {
                    let hash = self.hash(node);
                    hashes[j] = hash;
                    starts[self.shard_index(hash) + 1] += 1;
                }
                for s in 1..starts.len() {
                    starts[s] += starts[s - 1];
                }
                for (j, &hash) in hashes[..chunk.len()].iter().enumerate() {
                    let shard = self.shard_index(hash);
                    order[usize::from(starts[shard])] = (shard as u32) << 16 | j as u32;
                    starts[shard] += 1;
                }
            } else {
                for (j, (node, _)) in chunk.iter().enumerate() {
                    let hash = self.hash(node);
                    hashes[j] = hash;
                    let shard = self.shard_index(hash);
                    order[j] = (shard as u32) << 16 | j as u32;
                }
                // The entries are distinct: an unstable sort keeps batch order
                // within a shard, hence for each node.
                order.sort_unstable();
            }
            for group in order.chunk_by(|a, b| a >> 16 == b >> 16) {
                let shard = (group[0] >> 16) as usize;
                let env = self.env(&self.next[shard]);
                let mut failed = 0;
                let mut guard = self.shards[shard].0.lock();
                for pass in group.chunks(BATCH_PASS) {
                    let hints = &mut hints[..pass.len()];
                    // An entry's position in the chunk.
                    let pos = |entry: u32| (entry & 0xFFFF) as usize;
                    // Software pipelining. A heartbeat into a large registry
                    // misses the cache at each step of a dependent chain (index
                    // slot -> node -> the detector's window slot): three passes
                    // each read one step for every heartbeat of the pass, so that
                    // their misses overlap; a fourth applies the heartbeats.
                    let mut touched = 0u64;
                    for &entry in pass {
                        touched ^= guard.touch_index(hashes[pos(entry)]);
                    }
                    for (hint, &entry) in hints.iter_mut().zip(pass) {
                        let j = pos(entry);
                        *hint = guard.locate(hashes[j], &chunk[j].0);
                        touched ^= guard.touch(*hint);
                    }
                    for &hint in hints.iter() {
                        touched ^= guard.touch_detector(hint);
                    }
                    std::hint::black_box(touched);
                    // In batch order, each at the position found above if the
                    // node is still there: an earlier heartbeat of the pass may
                    // have removed a node (moving the shard's last one into its
                    // place) or added one, so the hint is checked against the key.
                    for (hint, &entry) in hints.iter_mut().zip(pass) {
                        let j = pos(entry);
                        let ((node, stamp), hash) = (&chunk[j], hashes[j]);
                        let result = guard.heartbeat_hinted(&|| hash, node, hint, *stamp, env);
                        guard.counters.count(&result);
                        match result {
                            Ok(()) => accepted += 1,
                            Err(e) => {
                                errors[failed] = (c * BATCH_CHUNK + j, e);
                                failed += 1;
                            }
                        }
                        if failed == BATCH_ERRORS {
                            // Rare: report outside the lock, then carry on (the
                            // hints are checked, whatever changed meanwhile).
                            drop(guard);
                            errors.iter().for_each(|&(i, e)| refused(i, e));
                            failed = 0;
                            guard = self.shards[shard].0.lock();
                        }
                    }
                }
                drop(guard);
                errors[..failed].iter().for_each(|&(i, e)| refused(i, e));
            }
        }
        accepted
    }

    /// Crate-private: [`heartbeat`](Self::heartbeat) at `at` for each item of
    /// `batch` in turn (refusals ignored), for a caller that keeps, per node,
    /// where it was last found (`part` gives an item's node and that hint,
    /// any value at first; it is updated). With a hint that still holds, a
    /// heartbeat skips the key's hash and the index probe. With one shard, a
    /// first pass reads every hinted node, so that their memory accesses
    /// overlap, before the heartbeats are applied in batch order.
    pub(crate) fn heartbeat_hinted<T>(
        &self,
        batch: &mut [T],
        at: Timestamp,
        mut part: impl FnMut(&mut T) -> (&K, &mut u32),
    ) {
        if let [only] = &self.shards[..] {
            let env = self.env(&self.next[0]);
            let mut shard = only.0.lock();
            let mut touched = 0u64;
            for item in batch.iter_mut() {
                touched ^= shard.touch(*part(item).1);
            }
            std::hint::black_box(touched);
            for item in batch.iter_mut() {
                let (node, hint) = part(item);
                let result = shard.heartbeat_hinted(&|| self.hash(node), node, hint, at, env);
                shard.counters.count(&result);
            }
            return;
        }
        for item in batch.iter_mut() {
            let (node, hint) = part(item);
            let (hash, shard, env) = self.shard(node);
            let mut shard = shard.lock();
            let result = shard.heartbeat_hinted(&|| hash, node, hint, at, env);
            shard.counters.count(&result);
        }
    }

    /// [`heartbeat`](Self::heartbeat) at the clock's current time, read while the
    /// node's shard is locked: on a monotonic clock, never late, however threads
    /// race (only the clock read is added to the time the lock is held).
    ///
    /// # Errors
    /// As [`heartbeat`](Self::heartbeat).
    pub fn heartbeat_now<Q>(&self, node: &Q) -> Result<(), RegistryHeartbeatError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let (hash, shard, env) = self.shard(node);
        let mut shard = shard.lock();
        let result = shard.heartbeat(hash, node, self.clock.now(), env);
        shard.counters.count(&result);
        result
    }

    /// Starts monitoring `node` at `at` as if it had sent a heartbeat then (it joins
    /// Alive). A Dead node is revived (Dead -> Alive) with fresh statistics, which is
    /// how a node refused by [`accept_rejoin`](RegistryConfig::accept_rejoin) is let
    /// back in. A heartbeat at exactly `at` is then accepted, not a duplicate.
    ///
    /// Takes effect at `at`, or at the node's last evaluation if that is later (for
    /// a node the registry does not know, the last removal in its shard): see
    /// [time never runs backwards](Self#time-never-runs-backwards).
    ///
    /// # Errors
    /// Nothing changes but the transitions already due when it would have taken
    /// effect: [`RegisterError::AlreadyRegistered`] if the node is Alive or
    /// Suspect; [`RegisterError::Detector`] if the node's detector refuses the
    /// registration's heartbeat (past its horizon).
    pub fn register(&self, node: K, at: Timestamp) -> Result<(), RegisterError> {
        let (hash, shard, env) = self.shard(&node);
        shard.lock().register(hash, node, at, env)
    }

    /// [`register`](Self::register) at the clock's current time, read while the
    /// node's shard is locked.
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn register_now(&self, node: K) -> Result<(), RegisterError> {
        let (hash, shard, env) = self.shard(&node);
        let mut shard = shard.lock();
        shard.register(hash, node, self.clock.now(), env)
    }

    /// Stops monitoring `node` at `at` (or at its last evaluation, if later: see
    /// [time never runs backwards](Self#time-never-runs-backwards)) and drops its
    /// state ([`Event::Removed`]). Returns the state it was in, or `None` if it was
    /// not monitored (or its removal grace period had already ended by then).
    pub fn remove<Q>(&self, node: &Q, at: Timestamp) -> Option<NodeState>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard, env) = self.shard(node);
        shard.lock().remove(hash, node, at, env)
    }

    /// [`remove`](Self::remove) at the clock's current time, read while the node's
    /// shard is locked.
    pub fn remove_now<Q>(&self, node: &Q) -> Option<NodeState>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard, env) = self.shard(node);
        let mut shard = shard.lock();
        shard.remove(hash, node, self.clock.now(), env)
    }

    /// Applies every transition due at or before `now` (each at its own instant)
    /// and returns how many events that made. Visits only the shards with something
    /// due and, in them, only the nodes whose deadline passed; those nodes are then
    /// evaluated as of `now`, so later inputs stamped before `now` take effect at
    /// `now` (see [time never runs backwards](Self#time-never-runs-backwards)). A
    /// tick earlier than a node's last evaluation changes nothing for it.
    pub fn tick(&self, now: Timestamp) -> usize {
        self.tick_shards(now.as_nanos(), |now| now)
    }

    /// [`tick`](Self::tick) at the clock's current time. The clock is read once,
    /// and again under the lock of each shard that has something due, so a shard
    /// is ticked no earlier than any `_now` input it has seen.
    pub fn tick_now(&self) -> usize {
        // Read again under each lock: no later than any `_now` input the shard has
        // seen.
        self.tick_shards(self.clock.now().as_nanos(), |now| {
            self.clock.now().as_nanos().max(now)
        })
    }

    /// Ticks every shard with something due at `now`, at `locked(now)` read once
    /// its lock is held.
    fn tick_shards(&self, now: u64, locked: impl Fn(u64) -> u64) -> usize {
        let mut events = 0;
        for (shard, next) in self.shards.iter().zip(self.next.iter()) {
            if next.load(Ordering::Relaxed) <= now {
                let mut shard = shard.0.lock();
                events += shard.tick(locked(now), self.env(next));
            }
        }
        events
    }

    /// The earliest instant at which a [`tick`](Self::tick) may have something to
    /// do: sleep until then (or until woken by other news). Never later than the
    /// next transition due without heartbeats; it may be earlier (a heartbeat
    /// postponed it since), in which case that tick finds nothing and the next call
    /// answers later. `None` if nothing is scheduled.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let earliest = self
            .next
            .iter()
            .map(|next| next.load(Ordering::Relaxed))
            .min()
            .unwrap_or(NEVER);
        (earliest != NEVER).then(|| Timestamp::from_nanos(earliest))
    }

    /// The lifecycle state of `node` as of its last evaluation, or `None` if it is
    /// not monitored.
    pub fn state<Q>(&self, node: &Q) -> Option<NodeState>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read(node, |n| n.state())
    }

    /// The suspicion of `node`'s detector at `now`, or `None` if it is not monitored.
    pub fn suspicion<Q>(&self, node: &Q, now: Timestamp) -> Option<f64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read(node, |n| n.detector().suspicion(now))
    }

    /// [`suspicion`](Self::suspicion) at the clock's current time.
    pub fn suspicion_now<Q>(&self, node: &Q) -> Option<f64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.suspicion(node, self.clock.now())
    }

    /// Everything known about `node`, with the suspicion at `now`; `None` if it is
    /// not monitored.
    pub fn info<Q>(&self, node: &Q, now: Timestamp) -> Option<NodeInfo<K>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read(node, |n| n.info(now))
    }

    /// Every node, with suspicions at `now`, in no particular order. Locks one
    /// shard at a time: consistent per node, not across nodes.
    pub fn snapshot(&self, now: Timestamp) -> Vec<NodeInfo<K>> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            shard.0.lock().snapshot_into(now, &mut out);
        }
        out
    }

    /// [`snapshot`](Self::snapshot) at the clock's current time.
    pub fn snapshot_now(&self) -> Vec<NodeInfo<K>> {
        self.snapshot(self.clock.now())
    }

    /// How many nodes are in each state: O(1), no lock.
    pub fn counts(&self) -> StateCounts {
        let [alive, suspect, dead] = &self.ctx.counts;
        StateCounts {
            alive: alive.load(Ordering::Relaxed),
            suspect: suspect.load(Ordering::Relaxed),
            dead: dead.load(Ordering::Relaxed),
        }
    }

    /// The number of monitored nodes (Removed ones excluded).
    pub fn len(&self) -> usize {
        self.counts().total()
    }

    /// Whether no node is monitored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `node` is monitored.
    pub fn contains<Q>(&self, node: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.state(node).is_some()
    }

    /// Events that could not be delivered since the registry was built: dropped
    /// because the bounded channel was full, or discarded because every receiver
    /// had been dropped. Always 0 with an unbounded channel that is listened to.
    pub fn undelivered_events(&self) -> u64 {
        self.ctx.undelivered.load(Ordering::Relaxed)
    }

    /// Shows node keys with their `Debug` form in the `tracing` events of the
    /// `tracing` feature (without it they show as `?`, since a key need not be
    /// `Debug`). Call it before sharing the registry; it does nothing without the
    /// feature.
    pub fn with_debug_keys(mut self) -> Self
    where
        K: fmt::Debug,
    {
        self.ctx.observer.key_debug = Some(|key| key);
        self
    }

    /// No `tracing` events from this registry: for the registries inside cluster
    /// members, whose verdicts are traced as the member's cluster events.
    pub(crate) fn untraced(mut self) -> Self {
        self.ctx.observer.traced = false;
        self
    }

    /// Publishes the registry's counters and gauges to the
    /// [`metrics`](https://docs.rs/metrics) facade's installed recorder (a
    /// Prometheus exporter, say), with the suspicions at `now`. Feature
    /// `metrics`.
    ///
    /// | name | kind | labels | what |
    /// |---|---|---|---|
    /// | `failure_detector_heartbeats_total` | counter | | heartbeats accepted |
    /// | `failure_detector_heartbeats_refused_total` | counter | | heartbeats refused (any [`RegistryHeartbeatError`]) |
    /// | `failure_detector_transitions_total` | counter | `from` (`none` for a join, `alive`, `suspect`, `dead`), `to` (`alive`, `suspect`, `dead`, `removed`) | lifecycle transitions |
    /// | `failure_detector_slow_heartbeats_total` | counter | | [`Event::SlowHeartbeat`]s |
    /// | `failure_detector_events_undelivered_total` | counter | | [`undelivered_events`](Self::undelivered_events) |
    /// | `failure_detector_nodes` | gauge | `state` (`alive`, `suspect`, `dead`) | nodes per state ([`counts`](Self::counts)) |
    /// | `failure_detector_suspicion` | gauge | `quantile` (`0`, `0.5`, `0.9`, `0.99`, `1`) | the nodes' suspicion at `now` on the detector's scale (phi for the accrual detectors): exact quantiles over every node, nearest rank |
    ///
    /// `labels` are added to every metric (`[("registry", "peers")]`, say, to tell
    /// two registries apart). Counters are published with
    /// [`absolute`](metrics::Counter::absolute): they count since the registry
    /// was built.
    ///
    /// **Cost.** The heartbeat path makes no facade call: each heartbeat adds one
    /// to a plain integer of its shard, under the lock it already holds, and each
    /// event one relaxed atomic addition. This call locks each shard once, asks
    /// every node's detector for its suspicion (O(n), about what a
    /// [`snapshot`](Self::snapshot) costs without cloning keys), and selects the
    /// quantiles in O(n) from a buffer of 8 bytes per node that it allocates and
    /// frees (8 MB for a million nodes). Call it at the exporter's scrape interval
    /// (seconds), not per heartbeat.
    #[cfg(feature = "metrics")]
    pub fn record_metrics(&self, now: Timestamp, labels: &[(&'static str, &str)]) {
        use metrics::Label;
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<Label> {
            labels
                .iter()
                .map(|&(k, v)| Label::new(k, v.to_owned()))
                .chain(extra.iter().map(|&(k, v)| Label::new(k, v)))
                .collect()
        };
        let (mut accepted, mut refused) = (0u64, 0u64);
        let mut suspicions = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let shard = shard.0.lock();
            accepted += shard.counters.accepted;
            refused += shard.counters.refused;
            suspicions.extend(shard.nodes().iter().map(|n| n.detector().suspicion(now)));
        }
        metrics::counter!("failure_detector_heartbeats_total", with(&[])).absolute(accepted);
        metrics::counter!("failure_detector_heartbeats_refused_total", with(&[])).absolute(refused);
        let counts = &self.ctx.observer.counts;
        for (row, from) in observe::FROM.iter().enumerate() {
            for (col, to) in observe::TO.iter().enumerate() {
                let n = counts[row * 4 + col].load(Ordering::Relaxed);
                if n > 0 {
                    metrics::counter!(
                        "failure_detector_transitions_total",
                        with(&[("from", from), ("to", to)])
                    )
                    .absolute(n);
                }
            }
        }
        metrics::counter!("failure_detector_slow_heartbeats_total", with(&[]))
            .absolute(counts[observe::SLOW].load(Ordering::Relaxed));
        metrics::counter!("failure_detector_events_undelivered_total", with(&[]))
            .absolute(self.undelivered_events());
        let states = self.counts();
        for state in [NodeState::Alive, NodeState::Suspect, NodeState::Dead] {
            let name = match state {
                NodeState::Alive => "alive",
                NodeState::Suspect => "suspect",
                NodeState::Dead => "dead",
            };
            metrics::gauge!("failure_detector_nodes", with(&[("state", name)]))
                .set(states.get(state) as f64);
        }
        for (q, value) in quantiles(&mut suspicions) {
            metrics::gauge!("failure_detector_suspicion", with(&[("quantile", q)])).set(value);
        }
    }
}

/// The nearest-rank quantiles 0, 0.5, 0.9, 0.99 and 1 of `values` (reordered),
/// by selection: O(n). None for no values. Suspicions are never NaN.
#[cfg(feature = "metrics")]
fn quantiles(values: &mut [f64]) -> Vec<(&'static str, f64)> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    [
        ("0", 0.0),
        ("0.5", 0.5),
        ("0.9", 0.9),
        ("0.99", 0.99),
        ("1", 1.0),
    ]
    .into_iter()
    .map(|(label, q)| {
        // Nearest rank: the ceil(q n)-th smallest, 1-based.
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (_, v, _) = values.select_nth_unstable_by(rank, f64::total_cmp);
        (label, *v)
    })
    .collect()
}

/// [`Registry::heartbeat_batch`] sorts its batch by shard in chunks of this many
/// heartbeats (at most 2^16: positions in a chunk are kept in 16 bits).
const BATCH_CHUNK: usize = 1024;
/// [`Registry::heartbeat_batch`] pipelines the heartbeats of one shard in a chunk
/// this many at a time: enough misses in flight to keep the memory busy, few
/// enough lines touched that they are still in L1 when the heartbeats are applied
/// (measured at a million nodes: 16 to 32 alike, 64 slower; see `heartbeat_batch`).
const BATCH_PASS: usize = 32;
/// With at most this many shards, [`Registry::heartbeat_batch`] sorts a chunk by
/// shard with a counting sort (two passes, 2 KB of counts), else with a comparison
/// sort (at a million nodes and 64 shards the comparison sort took about a tenth
/// of the batch's time, at 1,000 nodes a sixth).
const BATCH_COUNTED_SHARDS: usize = 1024;
/// Refusals buffered under a shard's lock before they are reported.
const BATCH_ERRORS: usize = 32;

/// A xorshift-multiply-xorshift finaliser, so that every bit of `hash` moves the
/// bits that pick the shard (32 and up) and those of the shard's index (the low
/// 32): the first xorshift folds the high half into the low one, the
/// multiplication (by 2^64 / golden ratio, odd, so sequential keys land far apart:
/// Fibonacci hashing) carries the low bits upwards, and the last xorshift brings
/// the high half back down. Each step is a bijection: distinct hashes stay
/// distinct.
#[inline]
fn mix(hash: u64) -> u64 {
    let h = (hash ^ (hash >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 32)
}

impl<K, D, S> fmt::Debug for Registry<K, D, S>
where
    K: Hash + Eq + Clone + Send + Sync,
    D: FailureDetector + Send,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .field("counts", &self.counts())
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}
