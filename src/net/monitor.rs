//! [`UdpMonitor`]: a central monitor's receive loop, feeding a [`Registry`] from
//! [`Heartbeat`](FrameKind::Heartbeat) frames on a UDP socket.
//!
//! The loop, one batch at a time:
//!
//! 1. **Receive** up to [`batch_size`](MonitorConfig::batch_size) datagrams: one
//!    `recvmmsg` call per 64 datagrams on Linux with the `batch-recv` feature
//!    (blocking for the first datagram only, `MSG_WAITFORONE`), otherwise one blocking `recv` for the
//!    first and non-blocking `recv`s for the rest, until the socket's queue is
//!    empty or the batch is full. An idle socket is waited on for at most
//!    [`poll_interval`](MonitorConfig::poll_interval).
//! 2. **Stamp** the batch with one reading of the registry's clock
//!    ([`Registry::now`]), taken when the receive returns.
//! 3. **Decode** each datagram as a [`Frame`]. A datagram that is not a heartbeat
//!    frame addressed to the monitor is counted under its reason
//!    ([`RefusedCounts`]) and changes nothing.
//! 4. **Feed** the heartbeats to the registry, one [`Registry::heartbeat`] call each
//!    in batch order (measured as fast as [`Registry::heartbeat_batch`], or
//!    faster, for batches of this size); a heartbeat from a node the registry
//!    does not know is refused by it, then registered (which counts as its
//!    heartbeat) if [`register_unknown`](MonitorConfig::register_unknown) and the
//!    registry monitors fewer than [`max_nodes`](MonitorConfig::max_nodes).
//! 5. **Tick** the registry at the batch's stamp (nothing is locked when no
//!    deadline is due: one atomic load per shard).
//!
//! # Timestamp resolution
//!
//! Every heartbeat of a batch is stamped with the instant its receive call
//! returned, not the instant its datagram arrived: a heartbeat is dated late by the
//! time it waited in the socket's queue (zero when the monitor keeps up and the
//! socket was idle) plus, at most, the time the call took to read the batch
//! (under 2 µs per datagram as measured on a shared 2-core machine, so at most
//! about 100 µs for a full batch of 64). That is far below the heartbeat intervals the detectors model
//! (milliseconds to seconds). Two heartbeats of the same node in one batch share a
//! stamp: the detector refuses the second as a duplicate, counted in
//! [`RefusedCounts::stale`]; a node heartbeating more often than a batch takes to
//! fill has its extra heartbeats merged this way.
//!
//! # Cost and memory
//!
//! Allocation-free per batch after the first call of [`run_for`](UdpMonitor::run_for)
//! or [`run_until`](UdpMonitor::run_until) (a [`receive_batch`](UdpMonitor::receive_batch)
//! call with batched receives allocates the receive headers, two small vectors). The
//! monitor holds `batch_size * (max_datagram + 1)` bytes of receive buffer (32 KiB
//! by default) and a batch of `(K, Timestamp)`; nothing per node (the registry's
//! memory per node is documented on [`Registry`]). Four clock readings per batch:
//! the stamp and three for the time breakdown in [`MonitorStats`].
//!
//! Measured (`benches/udp_monitor.rs`: sender processes on the same shared 2-core
//! AMD EPYC virtual machine, phi accrual into 10,000 and 100,000 nodes): 1.5 to
//! 1.9 µs of the monitor thread's CPU per heartbeat with batched receives (about
//! 550,000 heartbeats per second per core), 10 to 25% more with one `recv` per
//! datagram. The receive calls take about two thirds of it, the registry about a
//! quarter to a third (a cache miss or two per node at these sizes), decoding
//! under 5%.
//!
//! Socket options other than the read timeout (the receive buffer size, most
//! usefully: a monitor that falls behind for a moment loses what its socket's
//! queue cannot hold) are the caller's: set them before handing the socket over.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cluster::MemberId;
use crate::cluster::wire::{DecodeError, MAX_MTU};
use crate::detectors::FailureDetector;
use crate::detectors::phi::PhiAccrual;
use crate::error::ConfigError;
use crate::net::frame::{Frame, FrameKind};
use crate::registry::{RegisterError, Registry, RegistryHeartbeatError};
use crate::time::Timestamp;

/// Whether this build can receive a batch in one system call (`recvmmsg`: Linux,
/// with the `batch-recv` feature).
pub const BATCH_RECV_AVAILABLE: bool = cfg!(all(feature = "batch-recv", target_os = "linux"));

/// The most datagrams one batch may hold: the kernel caps a `recvmmsg` call at
/// `UIO_MAXIOV` (1024) messages (Linux, `net/socket.c`).
pub const MAX_BATCH_SIZE: usize = 1024;

/// The smallest [`max_datagram`](MonitorConfig::max_datagram): a heartbeat frame
/// with two one-byte ids and no payload is 5 bytes; 16 leaves room for larger ids.
pub const MIN_DATAGRAM: usize = 16;

/// The most bytes of receive buffer a monitor may hold:
/// `batch_size * (max_datagram + 1)` at most 8 MiB.
pub const MAX_BUFFER_BYTES: usize = 8 << 20;

/// Configuration of a [`UdpMonitor`]. Checked by [`UdpMonitor::new`]: a refused
/// value is a [`ConfigError`] naming the field, and nothing is allocated before.
///
/// ```
/// use failure_detector::net::MonitorConfig;
/// use std::time::Duration;
///
/// let config = MonitorConfig::new()
///     .with_batch_size(128)
///     .with_register_unknown(true)
///     .with_max_nodes(10_000)
///     .with_poll_interval(Duration::from_millis(5));
/// assert_eq!(config.max_datagram, 512);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// The most datagrams read (and stamped) as one batch. Default 64; 1 to
    /// [`MAX_BATCH_SIZE`] (1024, the kernel's cap on one `recvmmsg` call). Larger
    /// batches amortise the system call and the registry's locks over more
    /// heartbeats, and widen the stamp's error (see the
    /// [module docs](self#timestamp-resolution)).
    pub batch_size: usize,
    /// The longest datagram accepted, in bytes; longer ones are counted in
    /// [`RefusedCounts::oversize`] and dropped. Default 512 (a heartbeat frame with
    /// `u64` ids is at most 23 bytes plus the application's payload); from
    /// [`MIN_DATAGRAM`] (16) to 65,507 (the largest UDP payload over IPv4), and
    /// `batch_size * (max_datagram + 1)` at most [`MAX_BUFFER_BYTES`] (8 MiB).
    pub max_datagram: usize,
    /// The longest a receive waits for the first datagram of a batch, set as the
    /// socket's read timeout. An idle monitor ticks the registry, and notices a
    /// stop request, this often. Default 10 ms; from 100 µs to 60 s.
    pub poll_interval: Duration,
    /// Whether to receive a batch with one `recvmmsg` call where this build offers
    /// it ([`BATCH_RECV_AVAILABLE`]); otherwise, or if `false`, with one `recv` per
    /// datagram. Default `true`.
    pub batched: bool,
    /// Whether a heartbeat from a node the registry does not know registers it
    /// (it joins Alive, the heartbeat counting as its first), while the registry
    /// monitors fewer than [`max_nodes`](Self::max_nodes) nodes. If `false`, such
    /// heartbeats are counted in [`RefusedCounts::unknown`] and nodes must be
    /// registered by the application. Default `false`: the network does not
    /// decide what is monitored.
    pub register_unknown: bool,
    /// The most nodes the registry may monitor for the monitor to register an
    /// unknown sender: past it, unknown senders are counted in
    /// [`RefusedCounts::full`]. Bounds the memory a network peer can make the
    /// registry use (about 1.2 KB per node with phi accrual at window 100, see
    /// [`Registry`]). Nodes the application registers are not limited. Default
    /// 65,536; 1 to 16,777,216 (2^24).
    pub max_nodes: usize,
}

impl MonitorConfig {
    /// The largest [`max_nodes`](Self::max_nodes).
    pub const MAX_NODES: usize = 1 << 24;

    /// The defaults: batches of 64 datagrams of at most 512 bytes, a 10 ms poll
    /// interval, batched receives where available, unknown senders refused (at
    /// most 65,536 nodes if registration is turned on).
    pub const fn new() -> Self {
        MonitorConfig {
            batch_size: 64,
            max_datagram: 512,
            poll_interval: Duration::from_millis(10),
            batched: true,
            register_unknown: false,
            max_nodes: 65_536,
        }
    }

    /// Sets [`batch_size`](Self::batch_size).
    pub const fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`max_datagram`](Self::max_datagram).
    pub const fn with_max_datagram(mut self, max_datagram: usize) -> Self {
        self.max_datagram = max_datagram;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    pub const fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`batched`](Self::batched).
    pub const fn with_batched(mut self, batched: bool) -> Self {
        self.batched = batched;
        self
    }

    /// Sets [`register_unknown`](Self::register_unknown).
    pub const fn with_register_unknown(mut self, register: bool) -> Self {
        self.register_unknown = register;
        self
    }

    /// Sets [`max_nodes`](Self::max_nodes).
    pub const fn with_max_nodes(mut self, max_nodes: usize) -> Self {
        self.max_nodes = max_nodes;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_size == 0 {
            return Err(ConfigError::NotPositive {
                field: "batch_size",
            });
        }
        if self.batch_size > MAX_BATCH_SIZE {
            return Err(ConfigError::OutOfRange {
                field: "batch_size",
                allowed: "at most 1024 datagrams",
            });
        }
        if self.max_datagram < MIN_DATAGRAM || self.max_datagram > MAX_MTU {
            return Err(ConfigError::OutOfRange {
                field: "max_datagram",
                allowed: "16 to 65507 bytes",
            });
        }
        if self.batch_size * (self.max_datagram + 1) > MAX_BUFFER_BYTES {
            return Err(ConfigError::OutOfRange {
                field: "max_datagram",
                allowed: "batch_size * (max_datagram + 1) at most 8 MiB",
            });
        }
        if self.poll_interval < Duration::from_micros(100)
            || self.poll_interval > Duration::from_secs(60)
        {
            return Err(ConfigError::OutOfRange {
                field: "poll_interval",
                allowed: "100 us to 60 s",
            });
        }
        if self.max_nodes == 0 {
            return Err(ConfigError::NotPositive { field: "max_nodes" });
        }
        if self.max_nodes > Self::MAX_NODES {
            return Err(ConfigError::OutOfRange {
                field: "max_nodes",
                allowed: "at most 2^24 nodes",
            });
        }
        Ok(())
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Datagrams and heartbeats a [`UdpMonitor`] did not pass on, by reason. None of
/// them changed the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusedCounts {
    /// Not a frame: bad magic or version, unknown kind, truncated or malformed
    /// ids, a hello with a payload. The last one's error, with its byte offset, is
    /// [`MonitorStats::last_decode_error`].
    pub malformed: u64,
    /// Longer than [`max_datagram`](MonitorConfig::max_datagram).
    pub oversize: u64,
    /// A well-formed frame of another kind (data, hello).
    pub wrong_kind: u64,
    /// A heartbeat addressed to another monitor id.
    pub wrong_receiver: u64,
    /// From a node the registry does not know, and
    /// [`register_unknown`](MonitorConfig::register_unknown) is off.
    pub unknown: u64,
    /// From an unknown node, and the registry monitors
    /// [`max_nodes`](MonitorConfig::max_nodes) nodes (or its own
    /// [`max_nodes`](crate::RegistryConfig::max_nodes)).
    pub full: u64,
    /// From a Dead node, and the registry refuses rejoins.
    pub rejoin: u64,
    /// Refused by the node's detector: a second heartbeat of the node in the same
    /// batch (same stamp), or one at or past the detector's horizon.
    pub stale: u64,
}

impl RefusedCounts {
    /// The sum of every reason.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.oversize
            + self.wrong_kind
            + self.wrong_receiver
            + self.unknown
            + self.full
            + self.rejoin
            + self.stale
    }

    fn add(&mut self, other: &RefusedCounts) {
        self.malformed += other.malformed;
        self.oversize += other.oversize;
        self.wrong_kind += other.wrong_kind;
        self.wrong_receiver += other.wrong_receiver;
        self.unknown += other.unknown;
        self.full += other.full;
        self.rejoin += other.rejoin;
        self.stale += other.stale;
    }
}

/// What a [`UdpMonitor`] has done since it was built. Every datagram received is
/// either refused ([`refused`](Self::refused)) or passed to the registry as a
/// heartbeat (and then accepted, registered, or refused there):
/// `received == accepted + registered + refused.total()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorStats {
    /// Batches processed (receives that returned at least one datagram).
    pub batches: u64,
    /// Receive system calls made (`recvmmsg` or `recv`), including those that
    /// timed out or found the queue empty.
    pub receive_calls: u64,
    /// Datagrams received.
    pub received: u64,
    /// Heartbeats the registry accepted from nodes it knew.
    pub accepted: u64,
    /// Heartbeats from nodes the registry did not know (registered or refused).
    pub unknown_senders: u64,
    /// Unknown senders the monitor registered.
    pub registered: u64,
    /// Datagrams and heartbeats refused, by reason.
    pub refused: RefusedCounts,
    /// Transient receive errors skipped (a connection refused or reset reported
    /// by ICMP).
    pub receive_errors: u64,
    /// Lifecycle transitions made by the monitor's ticks of the registry.
    pub transitions: u64,
    /// The last malformed datagram's error (with the byte offset).
    pub last_decode_error: Option<DecodeError>,
    /// The stamp of the last batch.
    pub last_stamp: Option<Timestamp>,
    /// Time spent in receive calls, waiting for datagrams included.
    pub receive_time: Duration,
    /// Time spent decoding frames.
    pub decode_time: Duration,
    /// Time spent in the registry (heartbeats, registrations and ticks).
    pub registry_time: Duration,
}

impl MonitorStats {
    fn add(&mut self, d: &MonitorStats) {
        self.batches += d.batches;
        self.receive_calls += d.receive_calls;
        self.received += d.received;
        self.accepted += d.accepted;
        self.unknown_senders += d.unknown_senders;
        self.registered += d.registered;
        self.refused.add(&d.refused);
        self.receive_errors += d.receive_errors;
        self.transitions += d.transitions;
        if d.last_decode_error.is_some() {
            self.last_decode_error = d.last_decode_error;
        }
        if d.last_stamp.is_some() {
            self.last_stamp = d.last_stamp;
        }
        self.receive_time += d.receive_time;
        self.decode_time += d.decode_time;
        self.registry_time += d.registry_time;
    }
}

/// A handle on a [`UdpMonitor`]'s statistics, readable from other threads while
/// the monitor runs (updated once per batch).
#[derive(Clone, Debug, Default)]
pub struct MonitorStatsHandle(Arc<Mutex<MonitorStats>>);

impl MonitorStatsHandle {
    /// The statistics as of the last batch.
    pub fn get(&self) -> MonitorStats {
        *self.0.lock()
    }
}

/// The socket's mode, as last set by the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Unset,
    Blocking,
    NonBlocking,
}

/// A central monitor's receive loop: owns a UDP socket and feeds an application's
/// [`Registry`] from the [`Heartbeat`](FrameKind::Heartbeat) frames that arrive on it
/// (see the [module docs](self) for the loop, the timestamps and the costs).
///
/// Heartbeats must be addressed to the monitor's own id (the frame's `to`); the
/// frame's `from` is the node's key in the registry, and its payload is ignored.
///
/// ```
/// use failure_detector::net::{Frame, FrameKind, MonitorConfig, UdpMonitor};
/// use failure_detector::{NodeState, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig};
/// use std::net::UdpSocket;
/// use std::sync::Arc;
///
/// let phi = PhiAccrual::new(PhiAccrualConfig::new())?;
/// let (registry, _events) =
///     Registry::<u64, _>::new(RegistryConfig::new().with_accept_unknown(false), phi)?;
/// let registry = Arc::new(registry);
/// registry.register(7, registry.now())?;
///
/// let socket = UdpSocket::bind("127.0.0.1:0")?;
/// let address = socket.local_addr()?;
/// let mut monitor = UdpMonitor::new(socket, Arc::clone(&registry), 0, MonitorConfig::new())?;
///
/// // Node 7 sends a heartbeat to monitor 0.
/// let mut frame = Vec::new();
/// Frame { kind: FrameKind::Heartbeat, from: 7u64, to: 0, payload: &[] }.encode(&mut frame);
/// UdpSocket::bind("127.0.0.1:0")?.send_to(&frame, address)?;
///
/// while monitor.stats().received == 0 {
///     monitor.receive_batch()?;
/// }
/// assert_eq!(monitor.stats().accepted, 1);
/// assert_eq!(registry.state(&7), Some(NodeState::Alive));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UdpMonitor<K, D = PhiAccrual, S = RandomState> {
    socket: UdpSocket,
    registry: Arc<Registry<K, D, S>>,
    id: K,
    config: MonitorConfig,
    /// `batch_size` slots of `max_datagram + 1` bytes.
    buf: Vec<u8>,
    /// The length of each received datagram of the current batch (more than
    /// `max_datagram`: too long).
    lens: Vec<usize>,
    batch: Vec<(K, Timestamp)>,
    mode: Mode,
    pending: MonitorStats,
    stats: MonitorStatsHandle,
}

impl<K, D, S> UdpMonitor<K, D, S>
where
    K: MemberId,
    D: FailureDetector + Send,
    S: BuildHasher,
{
    /// A monitor with id `id` that receives on `socket` and feeds `registry`.
    /// Nothing is done to the socket until the first receive, which sets its read
    /// timeout (and, without batched receives, switches it between blocking and
    /// non-blocking).
    ///
    /// # Errors
    /// [`ConfigError`] naming the field, before anything is allocated: a field of
    /// `config` out of its range (see [`MonitorConfig`]), or `accept_unknown` if
    /// the registry accepts unknown nodes on its own
    /// ([`RegistryConfig::accept_unknown`](crate::RegistryConfig::accept_unknown)):
    /// which senders join is the monitor's decision, so that the network cannot
    /// make the registry grow without bound.
    pub fn new(
        socket: UdpSocket,
        registry: Arc<Registry<K, D, S>>,
        id: K,
        config: MonitorConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if registry.config().accept_unknown {
            return Err(ConfigError::OutOfRange {
                field: "accept_unknown",
                allowed: "false: build the registry with `with_accept_unknown(false)`; \
                          the monitor registers unknown senders (`register_unknown`)",
            });
        }
        let slot = config.max_datagram + 1;
        Ok(UdpMonitor {
            socket,
            registry,
            id,
            config,
            buf: vec![0; config.batch_size * slot],
            lens: Vec::with_capacity(config.batch_size),
            batch: Vec::with_capacity(config.batch_size),
            mode: Mode::Unset,
            pending: MonitorStats::default(),
            stats: MonitorStatsHandle::default(),
        })
    }

    /// The registry the monitor feeds.
    pub fn registry(&self) -> &Arc<Registry<K, D, S>> {
        &self.registry
    }

    /// The monitor's id (the `to` of the heartbeats it accepts).
    pub fn id(&self) -> &K {
        &self.id
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The socket's local address.
    ///
    /// # Errors
    /// As [`UdpSocket::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Whether batches are received with one `recvmmsg` call: [`batched`](MonitorConfig::batched)
    /// and this build offers it ([`BATCH_RECV_AVAILABLE`]).
    pub fn batched_receive(&self) -> bool {
        self.config.batched && BATCH_RECV_AVAILABLE
    }

    /// The statistics so far.
    pub fn stats(&self) -> MonitorStats {
        self.stats.get()
    }

    /// A handle to read the statistics from another thread while the monitor runs.
    pub fn stats_handle(&self) -> MonitorStatsHandle {
        self.stats.clone()
    }

    /// Receives one batch (waiting at most [`poll_interval`](MonitorConfig::poll_interval)
    /// for its first datagram), feeds it to the registry, and ticks the registry.
    /// Returns how many datagrams were received (0 if none came in time; the
    /// registry is ticked all the same).
    ///
    /// # Errors
    /// An I/O error of the socket other than a timeout, an interruption, or a
    /// transient ICMP report (counted in [`MonitorStats::receive_errors`]). The
    /// datagrams of the batch received before the error are still processed.
    pub fn receive_batch(&mut self) -> io::Result<usize> {
        let mut receiver = Receiver::new(self.batched_receive());
        self.step(&mut receiver, Instant::now()).map(|(n, _)| n)
    }

    /// Runs [`receive_batch`](Self::receive_batch) in a loop for `duration` (or a
    /// little longer: up to one [`poll_interval`](MonitorConfig::poll_interval)).
    ///
    /// # Errors
    /// As [`receive_batch`](Self::receive_batch): the loop stops at the first.
    pub fn run_for(&mut self, duration: Duration) -> io::Result<()> {
        let start = Instant::now();
        let end = start.checked_add(duration);
        self.run(start, |now| end.is_some_and(|end| now >= end))
    }

    /// Runs [`receive_batch`](Self::receive_batch) in a loop until `stop` is set
    /// (it is checked after every batch, so within one
    /// [`poll_interval`](MonitorConfig::poll_interval) when the socket is idle).
    ///
    /// # Errors
    /// As [`receive_batch`](Self::receive_batch): the loop stops at the first.
    pub fn run_until(&mut self, stop: &AtomicBool) -> io::Result<()> {
        self.run(Instant::now(), |_| stop.load(Ordering::Relaxed))
    }

    fn run(&mut self, start: Instant, done: impl Fn(Instant) -> bool) -> io::Result<()> {
        let mut receiver = Receiver::new(self.batched_receive());
        let mut now = start;
        while !done(now) {
            now = self.step(&mut receiver, now)?.1;
        }
        Ok(())
    }

    /// One batch, the time breakdown starting at `start`; returns the datagrams
    /// received and the instant it finished.
    fn step(&mut self, receiver: &mut Receiver, start: Instant) -> io::Result<(usize, Instant)> {
        self.set_mode(receiver.mode())?;
        let slot = self.config.max_datagram + 1;
        self.lens.clear();
        let result = match receiver {
            #[cfg(all(feature = "batch-recv", target_os = "linux"))]
            Receiver::Batched(mmsg) => mmsg.receive(
                &self.socket,
                &mut self.buf,
                slot,
                &mut self.lens,
                &mut self.pending,
            ),
            Receiver::Single => self.receive_single(slot),
        };
        let stamp = self.registry.now();
        let received = Instant::now();
        let n = self.lens.len();
        if n > 0 {
            self.decode(slot, stamp);
        }
        let decoded = Instant::now();
        if n > 0 {
            self.feed();
        }
        self.pending.transitions += self.registry.tick(stamp) as u64;
        let done = Instant::now();
        let p = &mut self.pending;
        p.batches += u64::from(n > 0);
        p.received += n as u64;
        if n > 0 {
            p.last_stamp = Some(stamp);
        }
        p.receive_time += received.saturating_duration_since(start);
        p.decode_time += decoded.saturating_duration_since(received);
        p.registry_time += done.saturating_duration_since(decoded);
        self.stats.0.lock().add(p);
        *p = MonitorStats::default();
        result.map(|()| (n, done))
    }

    fn set_mode(&mut self, mode: Mode) -> io::Result<()> {
        if self.mode == Mode::Unset {
            self.socket
                .set_read_timeout(Some(self.config.poll_interval))?;
        }
        if self.mode != mode {
            self.socket.set_nonblocking(mode == Mode::NonBlocking)?;
            self.mode = mode;
        }
        Ok(())
    }

    /// One `recv` per datagram: the socket is left non-blocking while datagrams
    /// keep coming, and made blocking (with the read timeout) only to wait for the
    /// first datagram of a batch when the queue is empty.
    fn receive_single(&mut self, slot: usize) -> io::Result<()> {
        let batch_size = self.config.batch_size;
        let mut slots = self.buf.chunks_exact_mut(slot);
        while self.lens.len() < batch_size {
            let Some(buf) = slots.next() else { break };
            let mut result;
            loop {
                self.pending.receive_calls += 1;
                result = self.socket.recv(buf);
                match &result {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if is_transient(e) => self.pending.receive_errors += 1,
                    Err(e)
                        if self.lens.is_empty()
                            && self.mode == Mode::NonBlocking
                            && e.kind() == io::ErrorKind::WouldBlock =>
                    {
                        // The queue is empty: wait for the first datagram.
                        self.socket.set_nonblocking(false)?;
                        self.mode = Mode::Blocking;
                    }
                    _ => break,
                }
            }
            match result {
                Ok(len) => {
                    self.lens.push(len);
                    if self.mode == Mode::Blocking {
                        self.socket.set_nonblocking(true)?;
                        self.mode = Mode::NonBlocking;
                    }
                }
                Err(e) if is_timeout(&e) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Decodes the batch's datagrams into `self.batch`, counting the refusals.
    fn decode(&mut self, slot: usize, stamp: Timestamp) {
        self.batch.clear();
        let max = self.config.max_datagram;
        let refused = &mut self.pending.refused;
        for (&len, buf) in self.lens.iter().zip(self.buf.chunks_exact(slot)) {
            let Some(bytes) = buf.get(..len).filter(|_| len <= max) else {
                refused.oversize += 1;
                continue;
            };
            match Frame::<K>::decode(bytes) {
                Err(e) => {
                    refused.malformed += 1;
                    self.pending.last_decode_error = Some(e);
                }
                Ok(frame) if frame.kind != FrameKind::Heartbeat => refused.wrong_kind += 1,
                Ok(frame) if frame.to != self.id => refused.wrong_receiver += 1,
                Ok(frame) => self.batch.push((frame.from, stamp)),
            }
        }
    }

    /// Hands the decoded heartbeats to the registry, in batch order, registering
    /// unknown senders if configured.
    fn feed(&mut self) {
        let UdpMonitor {
            registry,
            config,
            batch,
            pending,
            ..
        } = self;
        // One call per heartbeat: with batches of 64 spread over the registry's
        // shards, `heartbeat_batch` takes about as many locks and adds a sort
        // (benches/udp_monitor.rs measures both: per-heartbeat calls were as fast
        // or up to a quarter faster).
        for (node, at) in batch.iter() {
            let error = match registry.heartbeat(node, *at) {
                Ok(()) => {
                    pending.accepted += 1;
                    continue;
                }
                Err(error) => error,
            };
            match error {
                RegistryHeartbeatError::UnknownNode => {
                    pending.unknown_senders += 1;
                    if !config.register_unknown {
                        pending.refused.unknown += 1;
                    } else if registry.len() >= config.max_nodes {
                        pending.refused.full += 1;
                    } else {
                        match registry.register(node.clone(), *at) {
                            Ok(()) => pending.registered += 1,
                            Err(RegisterError::Full { .. }) => pending.refused.full += 1,
                            Err(_) => pending.refused.stale += 1,
                        }
                    }
                }
                RegistryHeartbeatError::RejoinRefused => pending.refused.rejoin += 1,
                RegistryHeartbeatError::Full { .. } => pending.refused.full += 1,
                _ => pending.refused.stale += 1,
            }
        }
    }
}

impl<K: std::fmt::Debug, D, S> std::fmt::Debug for UdpMonitor<K, D, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpMonitor")
            .field("socket", &self.socket)
            .field("id", &self.id)
            .field("config", &self.config)
            .field("stats", &self.stats.get())
            .finish_non_exhaustive()
    }
}

/// A read timeout: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An ICMP report about an earlier send on the socket (Linux reports them on the
/// next receive of a connected socket; Windows on an unconnected one too).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

/// How batches are received; the batched receiver's headers hold raw pointers
/// (they are not `Send`), so it lives only for one call of `run_*`.
enum Receiver {
    #[cfg(all(feature = "batch-recv", target_os = "linux"))]
    Batched(mmsg::Mmsg),
    Single,
}

impl Receiver {
    fn new(batched: bool) -> Self {
        #[cfg(all(feature = "batch-recv", target_os = "linux"))]
        if batched {
            return Receiver::Batched(mmsg::Mmsg::new());
        }
        let _ = batched;
        Receiver::Single
    }

    fn mode(&self) -> Mode {
        match self {
            #[cfg(all(feature = "batch-recv", target_os = "linux"))]
            Receiver::Batched(_) => Mode::Blocking,
            Receiver::Single => Mode::NonBlocking,
        }
    }
}

#[cfg(all(feature = "batch-recv", target_os = "linux"))]
mod mmsg {
    use std::io::{self, IoSliceMut};
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{MsgFlags, MultiHeaders, recvmmsg};

    use super::{MonitorStats, is_timeout, is_transient};

    /// Datagrams per `recvmmsg` call. nix ties the slices handed to a call to the
    /// call's lifetime, so they live on the stack, this many at a time; a larger
    /// batch takes one call per chunk (the later ones with `MSG_DONTWAIT`,
    /// stopping at the first that comes back short).
    const CHUNK: usize = 64;

    /// `recvmmsg` state, allocated once per run: the kernel's message headers.
    pub(super) struct Mmsg {
        headers: MultiHeaders<()>,
    }

    impl Mmsg {
        pub(super) fn new() -> Self {
            Mmsg {
                headers: MultiHeaders::preallocate(CHUNK, None),
            }
        }

        /// `recvmmsg` with `MSG_WAITFORONE` on a blocking socket: waits (up to
        /// the read timeout) for the first datagram, then takes whatever else is
        /// queued, up to the number of slots of `slot` bytes in `buf`. Pushes each
        /// datagram's length (`slot` if it was truncated) to `lens`. An
        /// interruption or a transient error ends the batch early.
        pub(super) fn receive(
            &mut self,
            socket: &UdpSocket,
            buf: &mut [u8],
            slot: usize,
            lens: &mut Vec<usize>,
            stats: &mut MonitorStats,
        ) -> io::Result<()> {
            let mut slots = buf.chunks_exact_mut(slot);
            let mut flags = MsgFlags::MSG_WAITFORONE;
            loop {
                let mut wanted = 0;
                let mut iovs: [[IoSliceMut<'_>; 1]; CHUNK] = std::array::from_fn(|_| {
                    let s: &mut [u8] = match slots.next() {
                        Some(s) => {
                            wanted += 1;
                            s
                        }
                        None => &mut [],
                    };
                    [IoSliceMut::new(s)]
                });
                if wanted == 0 {
                    return Ok(());
                }
                stats.receive_calls += 1;
                let iovs = iovs.get_mut(..wanted).unwrap_or_default();
                match recvmmsg(
                    socket.as_raw_fd(),
                    &mut self.headers,
                    iovs.iter_mut(),
                    flags,
                    None,
                ) {
                    Ok(messages) => {
                        let before = lens.len();
                        for m in messages {
                            let truncated = m.flags.contains(MsgFlags::MSG_TRUNC);
                            lens.push(if truncated { slot } else { m.bytes });
                        }
                        if lens.len() - before < wanted {
                            return Ok(());
                        }
                    }
                    Err(errno) => {
                        let e = io::Error::from(errno);
                        if is_transient(&e) {
                            stats.receive_errors += 1;
                            return Ok(());
                        }
                        if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted {
                            return Ok(());
                        }
                        return Err(e);
                    }
                }
                flags = MsgFlags::MSG_DONTWAIT;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bounds() {
        assert_eq!(MonitorConfig::new().validate(), Ok(()));
        let field = |c: MonitorConfig| match c.validate() {
            Err(ConfigError::NotPositive { field } | ConfigError::OutOfRange { field, .. }) => {
                field
            }
            other => panic!("{other:?}"),
        };
        let c = MonitorConfig::new();
        assert_eq!(field(c.with_batch_size(0)), "batch_size");
        assert_eq!(field(c.with_batch_size(1025)), "batch_size");
        assert_eq!(field(c.with_max_datagram(15)), "max_datagram");
        assert_eq!(field(c.with_max_datagram(65_508)), "max_datagram");
        assert_eq!(
            field(c.with_batch_size(1024).with_max_datagram(65_507)),
            "max_datagram"
        );
        assert_eq!(field(c.with_poll_interval(Duration::ZERO)), "poll_interval");
        assert_eq!(
            field(c.with_poll_interval(Duration::from_secs(61))),
            "poll_interval"
        );
        assert_eq!(field(c.with_max_nodes(0)), "max_nodes");
        assert_eq!(field(c.with_max_nodes((1 << 24) + 1)), "max_nodes");
        assert_eq!(
            c.with_batch_size(1024).with_max_datagram(8190).validate(),
            Ok(())
        );
    }
}
