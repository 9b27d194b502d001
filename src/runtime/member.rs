//! [`MemberDriver`]: a [`ClusterMember`] over a `tokio::net::UdpSocket`.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{SpawnError, current_runtime};
use crate::cluster::{ClusterEvent, ClusterMember, Member, MemberId};
use crate::error::ConfigError;
use crate::net::{Frame, FrameKind, Received, Routes, deliver, frame_for};
use crate::registry::NodeState;
use crate::time::{Clock, Timestamp, TokioClock};

/// The largest event channel a [`MemberDriverConfig`] accepts.
const MAX_EVENT_CAPACITY: usize = 1 << 20;
/// The longest hello interval: one hour.
const MAX_HELLO_INTERVAL: Duration = Duration::from_secs(3_600);
/// Datagrams handled per wake-up before the member's due work and its output
/// (so a flood of datagrams cannot starve its ticks).
const RECV_BATCH: usize = 64;
/// The receive buffer: any UDP payload fits, so none is ever truncated.
const RECV_BUFFER: usize = 65_536;

/// How a [`MemberDriver`] runs its member. `Copy`; [`Default`] is [`new`](Self::new).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemberDriverConfig {
    /// Capacity of the event channel, in events. When the application does not
    /// read fast enough and the channel is full, new events are dropped and
    /// counted in [`MemberDriverStats::events_dropped`]: the driver never waits
    /// for the application, because a member that stops answering is declared
    /// dead by its peers. An application that sees the count rise resynchronises
    /// from [`MemberHandle::members`]. Default 1,024; 1 to 2^20.
    pub event_capacity: usize,
    /// A relay (or proxy) every datagram without an address of its own goes
    /// through: set as the default route, and sent a hello frame at start and
    /// every [`hello_interval`](Self::hello_interval), so that it learns (or
    /// updates, after a restart on another port) where this member is. Default
    /// `None`: no default route, no hellos.
    pub relay: Option<SocketAddr>,
    /// How often hellos go to the [`relay`](Self::relay). Default 2 s (this
    /// crate's: a relay that lost the member's address finds it again within
    /// two seconds, at one small datagram per interval); not zero, at most 1 hour.
    pub hello_interval: Duration,
    /// The clock the member's timestamps are read on. Default `None`: a
    /// [`TokioClock`] whose origin is the instant the driver is spawned.
    pub clock: Option<TokioClock>,
}

impl Default for MemberDriverConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl MemberDriverConfig {
    /// The defaults: 1,024 events, no relay, hellos every 2 s, a clock from the
    /// spawn.
    pub const fn new() -> Self {
        MemberDriverConfig {
            event_capacity: 1_024,
            relay: None,
            hello_interval: Duration::from_secs(2),
            clock: None,
        }
    }

    /// Sets [`event_capacity`](Self::event_capacity).
    pub const fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Sets [`relay`](Self::relay).
    pub const fn with_relay(mut self, relay: Option<SocketAddr>) -> Self {
        self.relay = relay;
        self
    }

    /// Sets [`hello_interval`](Self::hello_interval).
    pub const fn with_hello_interval(mut self, interval: Duration) -> Self {
        self.hello_interval = interval;
        self
    }

    /// Sets [`clock`](Self::clock).
    pub const fn with_clock(mut self, clock: TokioClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.event_capacity == 0 || self.event_capacity > MAX_EVENT_CAPACITY {
            return Err(ConfigError::OutOfRange {
                field: "event_capacity",
                allowed: "1 to 2^20 events",
            });
        }
        if self.hello_interval.is_zero() {
            return Err(ConfigError::NotPositive {
                field: "hello_interval",
            });
        }
        if self.hello_interval > MAX_HELLO_INTERVAL {
            return Err(ConfigError::OutOfRange {
                field: "hello_interval",
                allowed: "at most 1 hour",
            });
        }
        Ok(())
    }
}

/// What a [`MemberDriver`] has done since it started: counts, each a snapshot of
/// a relaxed atomic counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MemberDriverStats {
    /// Datagrams received on the socket (whatever they held).
    pub received: u64,
    /// Data frames handed to the member that it accepted.
    pub delivered: u64,
    /// Datagrams that are not a frame (bad header, unknown kind, malformed id):
    /// skipped.
    pub bad_frames: u64,
    /// Data frames whose payload the member refused (malformed, another
    /// protocol, a sender that does not match the frame's): skipped, the member
    /// unchanged.
    pub refused: u64,
    /// Frames for another member id than this one: skipped.
    pub misaddressed: u64,
    /// Frames of a kind a member does not take (bare heartbeats): skipped.
    pub ignored: u64,
    /// Frames from a member whose address could not be learned because the
    /// routes' learned table was full (the frame was still handled).
    pub routes_full: u64,
    /// Datagrams sent (the member's, framed, and hellos).
    pub sent: u64,
    /// Hellos sent to the relay.
    pub hellos: u64,
    /// The member's datagrams for an id with no address (no route, no relay):
    /// dropped, as a lossy network would.
    pub unroutable: u64,
    /// Sends that failed (an I/O error from the socket): the datagram is lost.
    pub send_errors: u64,
    /// Receives that failed (an I/O error from the socket), then retried.
    pub recv_errors: u64,
    /// Calls to the member's `tick`.
    pub ticks: u64,
    /// Events handed to the channel.
    pub events: u64,
    /// Events that could not be delivered: the channel was full, or its
    /// receiver was dropped (nobody listens).
    pub events_dropped: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    delivered: AtomicU64,
    bad_frames: AtomicU64,
    refused: AtomicU64,
    misaddressed: AtomicU64,
    ignored: AtomicU64,
    routes_full: AtomicU64,
    sent: AtomicU64,
    hellos: AtomicU64,
    unroutable: AtomicU64,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
    ticks: AtomicU64,
    events: AtomicU64,
    events_dropped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> MemberDriverStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MemberDriverStats {
            received: get(&self.received),
            delivered: get(&self.delivered),
            bad_frames: get(&self.bad_frames),
            refused: get(&self.refused),
            misaddressed: get(&self.misaddressed),
            ignored: get(&self.ignored),
            routes_full: get(&self.routes_full),
            sent: get(&self.sent),
            hellos: get(&self.hellos),
            unroutable: get(&self.unroutable),
            send_errors: get(&self.send_errors),
            recv_errors: get(&self.recv_errors),
            ticks: get(&self.ticks),
            events: get(&self.events),
            events_dropped: get(&self.events_dropped),
        }
    }
}

/// The member and its address book, behind one lock shared by the task and
/// the handles; `None` once the task has ended and handed the member back.
struct State<I, M> {
    member: M,
    routes: Routes<I>,
}

struct Shared<I, M> {
    state: Mutex<Option<State<I, M>>>,
    /// Wakes the task: a command changed the member, or stop was asked.
    wake: Notify,
    stopping: AtomicBool,
    counters: Counters,
    me: Member<I>,
    local_addr: Option<SocketAddr>,
    clock: TokioClock,
}

/// Runs a [`ClusterMember`] over a `tokio::net::UdpSocket` in a task of its own.
///
/// The task sleeps until the member's [`next_deadline`](ClusterMember::next_deadline)
/// (and the next hello, with a relay) and wakes early when a datagram arrives
/// or a command from a [`MemberHandle`] changed the member. After each wake it
/// hands received frames to the member, ticks it if a deadline passed, sends
/// what it has to send, and passes its events on the channel.
///
/// **Framing** ([`crate::net::frame`]): each member datagram goes out as a data
/// frame (the member's id, the receiver's id, the datagram) to the receiver's
/// address in the [`Routes`]. A received frame addressed to this member teaches
/// the routes where its sender is (its source address); data frames go to the
/// member, hellos only teach, other kinds are ignored. Anything malformed is
/// counted ([`MemberDriverStats`]) and skipped: the network cannot make the
/// driver panic, allocate beyond its fixed 64 KiB receive buffer and the
/// bounded routes, or stop.
///
/// **Events** go on a bounded tokio channel; when it is full (or nobody
/// listens) they are dropped and counted, never waited for: see
/// [`MemberDriverConfig::event_capacity`].
///
/// ```no_run
/// use failure_detector::cluster::{ClusterEvent, Member, SwimConfig, SwimMember};
/// use failure_detector::net::Routes;
/// use failure_detector::runtime::{MemberDriver, MemberDriverConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
/// let mut routes = Routes::new();
/// routes.insert(2u64, "127.0.0.1:7002".parse()?); // a seed
/// let member = SwimMember::new(Member::new(1u64, 1), SwimConfig::lan())?;
/// let (driver, mut events) =
///     MemberDriver::spawn(socket, member, routes, MemberDriverConfig::new())?;
/// driver.handle().join(&[2]);
/// while let Some(event) = events.recv().await {
///     if let ClusterEvent::Changed { member, to, .. } = &event {
///         println!("{} is {to}", member.id);
///     }
/// #   break;
/// }
/// let member = driver.stop().await?; // the member, as it was
/// # let _ = member;
/// # Ok(())
/// # }
/// ```
pub struct MemberDriver<I, M> {
    handle: MemberHandle<I, M>,
    task: JoinHandle<M>,
}

/// A cloneable handle on a running [`MemberDriver`]: queries, commands, stop.
///
/// Queries lock the member briefly (the driver holds the same lock only while it
/// hands the member a datagram or a tick, never across a wait) and answer from
/// its state as of its last input. Once the driver has stopped, queries answer
/// as for an empty cluster (`None`, nothing) and commands return `false`.
pub struct MemberHandle<I, M> {
    shared: Arc<Shared<I, M>>,
}

impl<I, M> Clone for MemberHandle<I, M> {
    fn clone(&self) -> Self {
        MemberHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<I, M> std::fmt::Debug for MemberHandle<I, M>
where
    I: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberHandle")
            .field("me", &self.shared.me)
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl<I, M> std::fmt::Debug for MemberDriver<I, M>
where
    I: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberDriver")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<I, M> MemberDriver<I, M>
where
    I: MemberId,
    M: ClusterMember<I> + Send + 'static,
{
    /// Starts driving `member` on `socket`, sending to the addresses in
    /// `routes` (and learning more from received frames); returns the driver
    /// and the receiving end of its events. Must be called from within a tokio
    /// runtime; the task runs on it.
    ///
    /// # Errors
    /// Nothing is spawned: [`SpawnError::Config`] naming the field of `config`
    /// out of range; [`SpawnError::NoRuntime`] outside a tokio runtime.
    pub fn spawn(
        socket: UdpSocket,
        member: M,
        routes: Routes<I>,
        config: MemberDriverConfig,
    ) -> Result<(Self, mpsc::Receiver<ClusterEvent<I>>), SpawnError> {
        config.validate()?;
        let runtime = current_runtime()?;
        let clock = config.clock.unwrap_or_default();
        let routes = match config.relay {
            Some(relay) => routes.via(relay),
            None => routes,
        };
        let (events, receiver) = mpsc::channel(config.event_capacity);
        let shared = Arc::new(Shared {
            me: member.me().clone(),
            state: Mutex::new(Some(State { member, routes })),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            counters: Counters::default(),
            local_addr: socket.local_addr().ok(),
            clock,
        });
        let task = runtime.spawn(run(
            socket,
            shared.clone(),
            events,
            config.relay,
            config.hello_interval,
        ));
        Ok((
            MemberDriver {
                handle: MemberHandle { shared },
                task,
            },
            receiver,
        ))
    }

    /// A handle on the driver (cloneable, for other tasks).
    pub fn handle(&self) -> MemberHandle<I, M> {
        self.handle.clone()
    }

    /// Stops the driver after its current step and gives back the member, as
    /// it was (its events not yet delivered included: `poll_event` returns
    /// them).
    ///
    /// # Errors
    /// The task's `JoinError` if it panicked (a member's own panic) or the
    /// runtime cancelled it.
    pub async fn stop(self) -> Result<M, tokio::task::JoinError> {
        self.handle.stop();
        self.task.await
    }
}

impl<I, M> MemberHandle<I, M>
where
    I: MemberId,
    M: ClusterMember<I>,
{
    /// The member's id and generation.
    pub fn me(&self) -> &Member<I> {
        &self.shared.me
    }

    /// The socket's local address (`None` if the socket could not tell).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local_addr
    }

    /// The clock the member's timestamps are read on.
    pub fn clock(&self) -> TokioClock {
        self.shared.clock
    }

    /// The member's verdict on `id` ([`ClusterMember::state_of`]); `None` once
    /// the driver has stopped.
    pub fn state_of(&self, id: &I) -> Option<NodeState> {
        self.shared
            .state
            .lock()
            .as_ref()
            .and_then(|s| s.member.state_of(id))
    }

    /// Every member this one knows, with its verdict
    /// ([`ClusterMember::members`]); empty once the driver has stopped.
    pub fn members(&self) -> Vec<(Member<I>, NodeState)> {
        self.shared
            .state
            .lock()
            .as_ref()
            .map(|s| s.member.members())
            .unwrap_or_default()
    }

    /// The driver's counters.
    pub fn stats(&self) -> MemberDriverStats {
        self.shared.counters.snapshot()
    }

    /// Whether the driver still runs (no stop asked, task not ended).
    pub fn is_running(&self) -> bool {
        !self.shared.stopping.load(Ordering::Acquire) && self.shared.state.lock().is_some()
    }

    /// Introduces the member to `seeds` ([`ClusterMember::join`]) now; the
    /// driver sends what that produces at once. `false` once stopped.
    pub fn join(&self, seeds: &[I]) -> bool {
        let now = self.shared.clock.now();
        self.with_member(|m| m.join(seeds, now)).is_some()
    }

    /// Gives `id`'s address ([`Routes::insert`]); it wins over learned ones.
    /// `false` once stopped.
    pub fn insert_route(&self, id: I, addr: SocketAddr) -> bool {
        let mut state = self.shared.state.lock();
        match state.as_mut() {
            Some(s) => {
                s.routes.insert(id, addr);
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the member (a query, or a command of its own API), then has
    /// the driver send what it produced and re-read its next deadline: a
    /// deadline brought forward wakes the driver at once. `None` once stopped.
    /// `f` runs under the member's lock: keep it short, and do not call the
    /// handle from inside it.
    pub fn with_member<R>(&self, f: impl FnOnce(&mut M) -> R) -> Option<R> {
        let result = self.shared.state.lock().as_mut().map(|s| f(&mut s.member));
        self.shared.wake.notify_one();
        result
    }

    /// Asks the driver to stop after its current step (it then gives the member
    /// back to [`MemberDriver::stop`]). Returns at once; idempotent.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// The frames to send in one round, encoded back to back in one buffer that is
/// reused from round to round.
struct Outbox {
    bytes: Vec<u8>,
    frames: Vec<(SocketAddr, Range<usize>)>,
}

impl Outbox {
    fn push<I: MemberId>(&mut self, to: SocketAddr, frame: &Frame<'_, I>) {
        let start = self.bytes.len();
        frame.encode(&mut self.bytes);
        self.frames.push((to, start..self.bytes.len()));
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }
}

/// Ticks the member if a deadline passed, collects its datagrams (framed) and
/// passes its events on; returns its next deadline. `None` if stopped.
fn step<I, M>(
    shared: &Shared<I, M>,
    events: &mpsc::Sender<ClusterEvent<I>>,
    outbox: &mut Outbox,
    now: Timestamp,
) -> Option<Option<Timestamp>>
where
    I: MemberId,
    M: ClusterMember<I>,
{
    let c = &shared.counters;
    let mut guard = shared.state.lock();
    let State { member, routes } = guard.as_mut()?;
    if member.next_deadline().is_some_and(|d| d <= now) {
        member.tick(now);
        bump(&c.ticks);
    }
    while let Some(datagram) = member.poll_datagram() {
        match routes.resolve(&datagram.to) {
            Some(addr) => outbox.push(
                addr,
                &Frame {
                    kind: FrameKind::Data,
                    from: shared.me.id.clone(),
                    to: datagram.to,
                    payload: &datagram.bytes,
                },
            ),
            None => bump(&c.unroutable),
        }
    }
    while let Some(event) = member.poll_event() {
        match events.try_send(event) {
            Ok(()) => bump(&c.events),
            Err(_) => bump(&c.events_dropped),
        }
    }
    Some(member.next_deadline())
}

/// Handles one received datagram.
fn receive<I, M>(shared: &Shared<I, M>, bytes: &[u8], source: SocketAddr)
where
    I: MemberId,
    M: ClusterMember<I>,
{
    let c = &shared.counters;
    bump(&c.received);
    let outcome = match frame_for(bytes, &shared.me.id) {
        Ok(frame) => {
            let now = shared.clock.now();
            let mut guard = shared.state.lock();
            let Some(State { member, routes }) = guard.as_mut() else {
                return;
            };
            deliver(member, routes, frame, source, now)
        }
        Err(outcome) => outcome,
    };
    match outcome {
        Received::BadFrame => bump(&c.bad_frames),
        Received::Misaddressed => bump(&c.misaddressed),
        Received::Ignored => bump(&c.ignored),
        Received::Refused => bump(&c.refused),
        Received::Accepted { learned } => {
            bump(&c.delivered);
            if !learned {
                bump(&c.routes_full);
            }
        }
    }
}

/// The driver's task: returns the member once stopped.
async fn run<I, M>(
    socket: UdpSocket,
    shared: Arc<Shared<I, M>>,
    events: mpsc::Sender<ClusterEvent<I>>,
    relay: Option<SocketAddr>,
    hello_interval: Duration,
) -> M
where
    I: MemberId,
    M: ClusterMember<I> + Send + 'static,
{
    let c = &shared.counters;
    let clock = shared.clock;
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut outbox = Outbox {
        bytes: Vec::new(),
        frames: Vec::new(),
    };
    // With a relay, the first hello goes out at once.
    let mut next_hello = relay.map(|_| Timestamp::ZERO);
    let sleep = tokio::time::sleep_until(clock.instant_of(Timestamp::ZERO));
    tokio::pin!(sleep);
    while !shared.stopping.load(Ordering::Acquire) {
        let now = clock.now();
        outbox.clear();
        let Some(deadline) = step(&shared, &events, &mut outbox, now) else {
            break;
        };
        if let (Some(relay), Some(at)) = (relay, next_hello)
            && at <= now
        {
            let me = shared.me.id.clone();
            outbox.push(
                relay,
                &Frame {
                    kind: FrameKind::Hello,
                    from: me.clone(),
                    to: me,
                    payload: &[],
                },
            );
            bump(&c.hellos);
            next_hello = Some(now + hello_interval);
        }
        for (to, range) in &outbox.frames {
            let Some(bytes) = outbox.bytes.get(range.clone()) else {
                continue;
            };
            match socket.send_to(bytes, *to).await {
                Ok(_) => bump(&c.sent),
                Err(_) => bump(&c.send_errors),
            }
        }
        // Sleep until the earlier of the member's deadline and the next hello,
        // and at least a nanosecond past this round (tokio makes that a
        // millisecond), so a member whose deadline did not move cannot spin.
        let wake_at = match (deadline, next_hello) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleeping = wake_at.is_some();
        if let Some(at) = wake_at {
            let at = at.max(now + Duration::from_nanos(1));
            sleep.as_mut().reset(clock.instant_of(at));
        }
        tokio::select! {
            biased;
            _ = shared.wake.notified() => {}
            _ = &mut sleep, if sleeping => {}
            received = socket.recv_from(&mut buf) => {
                let mut next = Some(received);
                let mut handled = 0;
                while let Some(received) = next.take() {
                    match received {
                        Ok((len, source)) => {
                            receive(&shared, buf.get(..len).unwrap_or(&[]), source);
                        }
                        Err(_) => bump(&c.recv_errors),
                    }
                    handled += 1;
                    if handled < RECV_BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            other => next = Some(other),
                        }
                    }
                }
            }
        }
    }
    let state = shared.state.lock().take();
    match state {
        Some(state) => state.member,
        // Only this task takes the state out.
        None => unreachable_member(),
    }
}

/// The task is the only one that takes the member out, once: this is never
/// reached. Kept out of line so the loop above stays free of panics.
#[cold]
fn unreachable_member<M>() -> M {
    unreachable!("the member driver's state is taken only when its task ends")
}
