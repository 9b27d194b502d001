//! A fault-injecting relay: members send every frame to it, and it forwards
//! each to its receiver after a delay, or loses it, as a script says.
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use failure_detector::net::{Relay, RelayConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RelayConfig::new()
//!     .with_loss(0.05)
//!     .with_delay(Duration::from_millis(1))
//!     .with_jitter(Duration::from_millis(20))
//!     .with_seed(7);
//! let relay = Relay::<u64>::new(UdpSocket::bind("127.0.0.1:0")?, config)?;
//! let handle = relay.spawn()?; // its own thread; faults change at run time
//! println!("relay on {}", handle.local_addr());
//! handle.cut(1, 2)?; // 1 no longer reaches 2 (2 still reaches 1)
//! handle.partition(vec![vec![1, 2], vec![3, 4, 5]])?;
//! handle.heal()?;
//! let relay = handle.stop()?;
//! assert_eq!(relay.stats().forwarded, 0);
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::cluster::wire::MAX_MTU;
use crate::cluster::{MemberId, SeededRng};
use crate::error::ConfigError;
use crate::net::Burst;
use crate::net::frame::{Frame, FrameKind};
use crate::time::{Clock, MonotonicClock, Timestamp, duration_nanos};

/// The longest delay or jitter a relay accepts: 60 s.
pub const MAX_RELAY_DELAY: Duration = Duration::from_secs(60);

/// The largest [`RelayConfig::max_held`]: 2^20 datagrams.
pub const MAX_HELD_LIMIT: usize = 1 << 20;

/// The largest [`RelayConfig::max_members`]: 2^16.
pub const MAX_MEMBERS_LIMIT: usize = 1 << 16;

/// The most one-way cuts a relay holds at once.
pub const MAX_CUTS: usize = 1 << 16;

/// The most datagrams one [`Relay::step`] receives before it forwards what is
/// due.
const MAX_RECEIVES_PER_STEP: usize = 64;

/// The longest a spawned relay waits before it looks at its commands.
const COMMAND_POLL: Duration = Duration::from_millis(5);

/// How a [`Relay`] treats each datagram it receives. `Copy`; checked by
/// [`validate`](Self::validate), which [`Relay::new`] calls.
///
/// The [`Default`] (same as [`new`](Self::new)) forwards at once and loses
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelayConfig {
    /// The delay every datagram takes in the relay. Default zero; at most
    /// [`MAX_RELAY_DELAY`] (60 s).
    pub delay: Duration,
    /// Each datagram waits a further uniform delay in `[0, jitter]` (so
    /// datagrams reorder when the jitter exceeds the gap between them).
    /// Default zero; at most [`MAX_RELAY_DELAY`].
    pub jitter: Duration,
    /// The probability that a datagram is lost, independently of the others.
    /// Default 0; finite, in `[0, 1]`.
    pub loss: f64,
    /// The most datagrams waiting for their delay at once: one more is
    /// dropped (and counted in [`RelayStats::overflow`]). Bounds the relay's
    /// memory to about `max_held` times the largest datagram. Default 4,096;
    /// 1 to [`MAX_HELD_LIMIT`].
    pub max_held: usize,
    /// The most member ids whose address the relay learns; frames from others
    /// are still forwarded if their receiver is known. Default 1,024; 1 to
    /// [`MAX_MEMBERS_LIMIT`].
    pub max_members: usize,
    /// Seeds the loss and jitter draws: the same seed and the same arrivals
    /// give the same decisions. Default 0; any value.
    pub seed: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayConfig {
    /// No delay, no loss, 4,096 held datagrams, 1,024 members, seed 0.
    pub const fn new() -> Self {
        RelayConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            max_held: 4096,
            max_members: 1024,
            seed: 0,
        }
    }

    /// Sets [`delay`](Self::delay).
    pub const fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    pub const fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`loss`](Self::loss).
    pub const fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`max_held`](Self::max_held).
    pub const fn with_max_held(mut self, max: usize) -> Self {
        self.max_held = max;
        self
    }

    /// Sets [`max_members`](Self::max_members).
    pub const fn with_max_members(mut self, max: usize) -> Self {
        self.max_members = max;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_loss(self.loss)?;
        check_delay("delay", self.delay)?;
        check_delay("jitter", self.jitter)?;
        if self.max_held == 0 {
            return Err(ConfigError::NotPositive { field: "max_held" });
        }
        if self.max_held > MAX_HELD_LIMIT {
            return Err(ConfigError::OutOfRange {
                field: "max_held",
                allowed: "at most 2^20 datagrams",
            });
        }
        if self.max_members == 0 {
            return Err(ConfigError::NotPositive {
                field: "max_members",
            });
        }
        if self.max_members > MAX_MEMBERS_LIMIT {
            return Err(ConfigError::OutOfRange {
                field: "max_members",
                allowed: "at most 65536 members",
            });
        }
        Ok(())
    }
}

fn check_loss(p: f64) -> Result<(), ConfigError> {
    if !p.is_finite() {
        return Err(ConfigError::NotFinite { field: "loss" });
    }
    if !(0.0..=1.0).contains(&p) {
        return Err(ConfigError::OutOfRange {
            field: "loss",
            allowed: "a probability in [0, 1]",
        });
    }
    Ok(())
}

fn check_delay(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d > MAX_RELAY_DELAY {
        return Err(ConfigError::OutOfRange {
            field,
            allowed: "at most 60 s",
        });
    }
    Ok(())
}

/// A relay's request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A fault's value is out of range; the faults in force are unchanged.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay's thread has stopped (or panicked); nothing was changed.
    #[error("the relay's thread has stopped")]
    Stopped,
}

/// What a [`Relay`] did, per fault, since it was built. Counters saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// Datagrams received.
    pub received: u64,
    /// Hello frames received (their sender's address learned; not forwarded).
    pub hellos: u64,
    /// Datagrams sent on to their receiver.
    pub forwarded: u64,
    /// Bytes sent on.
    pub bytes_forwarded: u64,
    /// Datagrams that were not a frame: dropped.
    pub refused_frames: u64,
    /// Frames for a member whose address the relay does not know: dropped.
    pub unknown_receiver: u64,
    /// Senders whose address was not learned because `max_members` were
    /// known already.
    pub unlearned: u64,
    /// Datagrams lost to the loss probability.
    pub lost: u64,
    /// Datagrams dropped by a one-way cut.
    pub cut: u64,
    /// Datagrams dropped by a partition.
    pub partitioned: u64,
    /// Datagrams dropped because `max_held` were waiting already.
    pub overflow: u64,
    /// Sends the socket refused.
    pub send_errors: u64,
    /// Receives that failed with an error other than a timeout.
    pub recv_errors: u64,
    /// The most datagrams held at once.
    pub held_peak: u64,
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

/// A datagram waiting for its delay.
#[derive(Debug)]
struct Held {
    due: Timestamp,
    seq: u64,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// Reversed, so the max-heap pops the earliest (then the first received).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// A UDP relay between members that injects faults: per-datagram delay
/// (base plus uniform jitter, which reorders), independent loss, one-way cut
/// links and partitions, all changeable while it runs. One socket, one thread,
/// seeded ([`SeededRng`]): the same seed and arrivals give the same drops and
/// delays.
///
/// **Forwarding.** Members address every frame to the relay (their routes'
/// default route). The relay learns each sender's address from the source of
/// its frames ([`FrameKind::Hello`] frames, which it does not forward, and
/// data frames), and sends each data or heartbeat frame, unchanged, to the
/// address of the frame's receiver. Faults are decided when a frame arrives:
/// a frame already waiting for its delay is delivered even if a cut or
/// partition starts meanwhile. The relay trusts the sender ids in frames (a
/// frame naming another sender moves that member's address): it is a test
/// and demo tool for loopback, not a gateway.
///
/// **Memory.** The learned addresses (at most `max_members`), the cuts (at
/// most [`MAX_CUTS`]), the partition's groups, a 65,507-byte receive buffer
/// and at most `max_held` waiting datagrams, each a buffer of its length;
/// buffers are reused, so a steady flow allocates nothing.
#[derive(Debug)]
pub struct Relay<I: MemberId> {
    socket: UdpSocket,
    config: RelayConfig,
    rng: SeededRng,
    clock: MonotonicClock,
    addrs: BTreeMap<I, SocketAddr>,
    cuts: BTreeSet<(I, I)>,
    groups: BTreeMap<I, usize>,
    held: BinaryHeap<Held>,
    spare: Vec<Vec<u8>>,
    seq: u64,
    recv: Vec<u8>,
    stats: RelayStats,
}

impl<I: MemberId> Relay<I> {
    /// A relay on `socket` (already bound; loopback for tests and demos).
    ///
    /// # Errors
    /// [`RelayError::Config`] naming the first field of `config` out of range.
    pub fn new(socket: UdpSocket, config: RelayConfig) -> Result<Self, RelayError> {
        config.validate()?;
        Ok(Relay {
            socket,
            config,
            rng: SeededRng::new(config.seed),
            clock: MonotonicClock::new(),
            addrs: BTreeMap::new(),
            cuts: BTreeSet::new(),
            groups: BTreeMap::new(),
            held: BinaryHeap::new(),
            spare: Vec::new(),
            seq: 0,
            recv: vec![0; MAX_MTU],
            stats: RelayStats::default(),
        })
    }

    /// The socket's local address (give it to the members).
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The configuration, with the loss and delays in force.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Where the relay sends frames for `id` (`None`: not learned yet).
    pub fn address_of(&self, id: &I) -> Option<SocketAddr> {
        self.addrs.get(id).copied()
    }

    /// Datagrams waiting for their delay.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Sets the loss probability from now on.
    ///
    /// # Errors
    /// [`ConfigError`] unless `p` is finite and in `[0, 1]`; nothing changes.
    pub fn set_loss(&mut self, p: f64) -> Result<(), ConfigError> {
        check_loss(p)?;
        self.config.loss = p;
        Ok(())
    }

    /// Sets the base delay and the jitter from now on.
    ///
    /// # Errors
    /// [`ConfigError`] if either exceeds [`MAX_RELAY_DELAY`]; nothing changes.
    pub fn set_delay(&mut self, delay: Duration, jitter: Duration) -> Result<(), ConfigError> {
        check_delay("delay", delay)?;
        check_delay("jitter", jitter)?;
        self.config.delay = delay;
        self.config.jitter = jitter;
        Ok(())
    }

    /// Frames from `from` to `to` are dropped (one direction) until
    /// [`uncut`](Self::uncut) or [`heal`](Self::heal).
    ///
    /// # Errors
    /// [`ConfigError`] if [`MAX_CUTS`] cuts are in force already; nothing
    /// changes.
    pub fn cut(&mut self, from: I, to: I) -> Result<(), ConfigError> {
        if self.cuts.len() >= MAX_CUTS && !self.cuts.contains(&(from.clone(), to.clone())) {
            return Err(ConfigError::OutOfRange {
                field: "cuts",
                allowed: "at most 65536 cuts at once",
            });
        }
        self.cuts.insert((from, to));
        Ok(())
    }

    /// Undoes [`cut`](Self::cut) of `from` to `to`.
    pub fn uncut(&mut self, from: &I, to: &I) {
        self.cuts.remove(&(from.clone(), to.clone()));
    }

    /// Splits members into groups that cannot reach one another (replacing any
    /// partition in force); a member in no group reaches everyone. A member
    /// listed in two groups belongs to the last.
    ///
    /// # Errors
    /// [`ConfigError`] if the groups list more than `max_members` members;
    /// nothing changes.
    pub fn partition(&mut self, groups: &[Vec<I>]) -> Result<(), ConfigError> {
        let listed: usize = groups.iter().map(Vec::len).sum();
        if listed > self.config.max_members {
            return Err(ConfigError::OutOfRange {
                field: "partition",
                allowed: "at most max_members members in the groups",
            });
        }
        self.groups.clear();
        for (g, members) in groups.iter().enumerate() {
            for m in members {
                self.groups.insert(m.clone(), g);
            }
        }
        Ok(())
    }

    /// Removes every cut and the partition (loss and delays stay).
    pub fn heal(&mut self) {
        self.cuts.clear();
        self.groups.clear();
    }

    /// One round: forwards what is due, waits up to `max_wait` (no later than
    /// the next held datagram's due time) for datagrams, handles up to 64 of
    /// them, and forwards what is due. Returns how many were received.
    ///
    /// # Errors
    /// Only if the socket's read timeout cannot be set; receive and send
    /// errors are counted ([`RelayStats`]) and the relay carries on.
    pub fn step(&mut self, max_wait: Duration) -> io::Result<usize> {
        let now = self.clock.now();
        self.forward_due(now);
        let mut wait = max_wait;
        if let Some(h) = self.held.peek() {
            wait = wait.min(h.due.saturating_duration_since(now));
        }
        let mut burst = Burst::start(&self.socket, wait, MAX_RECEIVES_PER_STEP)?;
        while let Some((len, src)) = burst.next(&self.socket, &mut self.recv)? {
            let now = self.clock.now();
            self.receive(len, src, now);
        }
        self.stats.recv_errors = self.stats.recv_errors.saturating_add(burst.errors);
        let received = burst.received();
        self.forward_due(self.clock.now());
        Ok(received)
    }

    /// Runs the relay on a thread of its own until [`RelayHandle::stop`] (or
    /// the handle is dropped); the handle changes its faults meanwhile.
    ///
    /// # Errors
    /// The socket's error if its address cannot be read, or the thread's if
    /// it cannot be spawned.
    pub fn spawn(self) -> io::Result<RelayHandle<I>> {
        let addr = self.local_addr()?;
        let (tx, rx) = mpsc::channel::<Command<I>>();
        let max_members = self.config.max_members;
        let thread = thread::Builder::new()
            .name("relay".into())
            .spawn(move || self.serve(rx))?;
        Ok(RelayHandle {
            tx,
            thread: Some(thread),
            addr,
            max_members,
        })
    }

    fn serve(mut self, rx: mpsc::Receiver<Command<I>>) -> Relay<I> {
        loop {
            loop {
                match rx.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return self,
                    Ok(c) => self.apply(c),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            // A socket whose timeout cannot be set is unusable: stop.
            if self.step(COMMAND_POLL).is_err() {
                return self;
            }
        }
    }

    fn apply(&mut self, c: Command<I>) {
        // Values were checked by the handle; a refusal here changes nothing.
        let _ = match c {
            Command::Loss(p) => self.set_loss(p),
            Command::Delay(d, j) => self.set_delay(d, j),
            Command::Cut(a, b) => self.cut(a, b),
            Command::Uncut(a, b) => {
                self.uncut(&a, &b);
                Ok(())
            }
            Command::Partition(g) => self.partition(&g),
            Command::Heal => {
                self.heal();
                Ok(())
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats);
                Ok(())
            }
            Command::Stop => Ok(()),
        };
    }

    fn receive(&mut self, len: usize, src: SocketAddr, now: Timestamp) {
        bump(&mut self.stats.received);
        let Some(bytes) = self.recv.get(..len) else {
            bump(&mut self.stats.refused_frames);
            return;
        };
        let Ok(frame) = Frame::<I>::decode(bytes) else {
            bump(&mut self.stats.refused_frames);
            return;
        };
        // Learn (or update) the sender's address.
        if let Some(a) = self.addrs.get_mut(&frame.from) {
            *a = src;
        } else if self.addrs.len() < self.config.max_members {
            self.addrs.insert(frame.from.clone(), src);
        } else {
            bump(&mut self.stats.unlearned);
        }
        if frame.kind == FrameKind::Hello {
            bump(&mut self.stats.hellos);
            return;
        }
        let Some(&to) = self.addrs.get(&frame.to) else {
            bump(&mut self.stats.unknown_receiver);
            return;
        };
        if self.cuts.contains(&(frame.from.clone(), frame.to.clone())) {
            bump(&mut self.stats.cut);
            return;
        }
        if let (Some(a), Some(b)) = (self.groups.get(&frame.from), self.groups.get(&frame.to))
            && a != b
        {
            bump(&mut self.stats.partitioned);
            return;
        }
        if self.config.loss > 0.0 && self.rng.chance(self.config.loss) {
            bump(&mut self.stats.lost);
            return;
        }
        let jitter = duration_nanos(self.config.jitter);
        let extra = if jitter == 0 {
            0
        } else {
            // Uniform in [0, jitter] (Lemire's multiply-shift; the bias is
            // below 2^-17 for jitters under 2^47 ns).
            ((u128::from(self.rng.next_u64()) * (u128::from(jitter) + 1)) >> 64) as u64
        };
        let due = now
            .saturating_add(self.config.delay)
            .saturating_add(Duration::from_nanos(extra));
        if due <= now && self.held.is_empty() {
            self.send(to, len);
            return;
        }
        if self.held.len() >= self.config.max_held {
            bump(&mut self.stats.overflow);
            return;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(bytes);
        self.seq = self.seq.wrapping_add(1);
        self.held.push(Held {
            due,
            seq: self.seq,
            to,
            bytes: buf,
        });
        self.stats.held_peak = self.stats.held_peak.max(self.held.len() as u64);
    }

    /// Sends the first `len` bytes of the receive buffer to `to`.
    fn send(&mut self, to: SocketAddr, len: usize) {
        let bytes = self.recv.get(..len).unwrap_or_default();
        match self.socket.send_to(bytes, to) {
            Ok(n) => {
                bump(&mut self.stats.forwarded);
                self.stats.bytes_forwarded = self.stats.bytes_forwarded.saturating_add(n as u64);
            }
            Err(_) => bump(&mut self.stats.send_errors),
        }
    }

    fn forward_due(&mut self, now: Timestamp) {
        while self.held.peek().is_some_and(|h| h.due <= now) {
            let Some(h) = self.held.pop() else { break };
            match self.socket.send_to(&h.bytes, h.to) {
                Ok(n) => {
                    bump(&mut self.stats.forwarded);
                    self.stats.bytes_forwarded =
                        self.stats.bytes_forwarded.saturating_add(n as u64);
                }
                Err(_) => bump(&mut self.stats.send_errors),
            }
            if self.spare.len() < self.config.max_held {
                self.spare.push(h.bytes);
            }
        }
    }
}

/// A request to a spawned relay.
#[derive(Debug)]
enum Command<I> {
    Loss(f64),
    Delay(Duration, Duration),
    Cut(I, I),
    Uncut(I, I),
    Partition(Vec<Vec<I>>),
    Heal,
    Stats(mpsc::Sender<RelayStats>),
    Stop,
}

/// Controls a [`Relay`] running on its own thread ([`Relay::spawn`]). Each
/// method checks its values here, then the relay applies it within a few
/// milliseconds. Dropping the handle stops the relay and waits for its thread.
#[derive(Debug)]
pub struct RelayHandle<I: MemberId> {
    tx: mpsc::Sender<Command<I>>,
    thread: Option<thread::JoinHandle<Relay<I>>>,
    addr: SocketAddr,
    max_members: usize,
}

impl<I: MemberId> RelayHandle<I> {
    /// The relay's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn send(&self, c: Command<I>) -> Result<(), RelayError> {
        self.tx.send(c).map_err(|_| RelayError::Stopped)
    }

    /// As [`Relay::set_loss`].
    ///
    /// # Errors
    /// [`RelayError::Config`] for a bad probability, [`RelayError::Stopped`].
    pub fn set_loss(&self, p: f64) -> Result<(), RelayError> {
        check_loss(p)?;
        self.send(Command::Loss(p))
    }

    /// As [`Relay::set_delay`].
    ///
    /// # Errors
    /// [`RelayError::Config`] for a delay above 60 s, [`RelayError::Stopped`].
    pub fn set_delay(&self, delay: Duration, jitter: Duration) -> Result<(), RelayError> {
        check_delay("delay", delay)?;
        check_delay("jitter", jitter)?;
        self.send(Command::Delay(delay, jitter))
    }

    /// As [`Relay::cut`] (a cut past [`MAX_CUTS`] is ignored).
    ///
    /// # Errors
    /// [`RelayError::Stopped`].
    pub fn cut(&self, from: I, to: I) -> Result<(), RelayError> {
        self.send(Command::Cut(from, to))
    }

    /// As [`Relay::uncut`].
    ///
    /// # Errors
    /// [`RelayError::Stopped`].
    pub fn uncut(&self, from: I, to: I) -> Result<(), RelayError> {
        self.send(Command::Uncut(from, to))
    }

    /// As [`Relay::partition`].
    ///
    /// # Errors
    /// [`RelayError::Config`] if the groups list more than the relay's
    /// `max_members` members, [`RelayError::Stopped`].
    pub fn partition(&self, groups: Vec<Vec<I>>) -> Result<(), RelayError> {
        if groups.iter().map(Vec::len).sum::<usize>() > self.max_members {
            return Err(RelayError::Config(ConfigError::OutOfRange {
                field: "partition",
                allowed: "at most max_members members in the groups",
            }));
        }
        self.send(Command::Partition(groups))
    }

    /// As [`Relay::heal`].
    ///
    /// # Errors
    /// [`RelayError::Stopped`].
    pub fn heal(&self) -> Result<(), RelayError> {
        self.send(Command::Heal)
    }

    /// The relay's counters now.
    ///
    /// # Errors
    /// [`RelayError::Stopped`].
    pub fn stats(&self) -> Result<RelayStats, RelayError> {
        let (tx, rx) = mpsc::channel();
        self.send(Command::Stats(tx))?;
        rx.recv().map_err(|_| RelayError::Stopped)
    }

    /// Stops the relay and gives it back (with its counters).
    ///
    /// # Errors
    /// [`RelayError::Stopped`] if its thread had panicked.
    pub fn stop(mut self) -> Result<Relay<I>, RelayError> {
        let _ = self.tx.send(Command::Stop);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| RelayError::Stopped),
            None => Err(RelayError::Stopped),
        }
    }
}

impl<I: MemberId> Drop for RelayHandle<I> {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn bind() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    }

    fn frame(kind: FrameKind, from: u64, to: u64, payload: &[u8]) -> Vec<u8> {
        Frame {
            kind,
            from,
            to,
            payload,
        }
        .to_vec()
    }

    /// A relay and two members' sockets (ids 1 and 2) it has learned.
    fn setup(config: RelayConfig) -> (Relay<u64>, UdpSocket, UdpSocket) {
        let mut relay = Relay::new(UdpSocket::bind("127.0.0.1:0").unwrap(), config).unwrap();
        let at = relay.local_addr().unwrap();
        let (a, b) = (bind(), bind());
        a.send_to(&frame(FrameKind::Hello, 1, 1, &[]), at).unwrap();
        b.send_to(&frame(FrameKind::Hello, 2, 2, &[]), at).unwrap();
        pump(&mut relay, |r| r.stats().hellos == 2);
        assert_eq!(relay.address_of(&1), Some(a.local_addr().unwrap()));
        (relay, a, b)
    }

    /// Steps the relay until `done` (or 5 s).
    fn pump(relay: &mut Relay<u64>, done: impl Fn(&Relay<u64>) -> bool) {
        let start = Instant::now();
        while !done(relay) && start.elapsed() < Duration::from_secs(5) {
            relay.step(Duration::from_millis(5)).unwrap();
        }
    }

    fn recv(s: &UdpSocket) -> Option<Vec<u8>> {
        let mut buf = [0u8; 2048];
        s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    }

    #[test]
    fn bad_configs_are_refused_by_field() {
        let field = |c: RelayConfig| match c.validate() {
            Err(ConfigError::NotFinite { field })
            | Err(ConfigError::NotPositive { field })
            | Err(ConfigError::OutOfRange { field, .. }) => field,
            _ => "ok",
        };
        let c = RelayConfig::new();
        assert_eq!(field(c), "ok");
        assert_eq!(field(c.with_loss(f64::NAN)), "loss");
        assert_eq!(field(c.with_loss(-0.1)), "loss");
        assert_eq!(field(c.with_loss(1.5)), "loss");
        assert_eq!(field(c.with_delay(Duration::from_secs(61))), "delay");
        assert_eq!(field(c.with_jitter(Duration::MAX)), "jitter");
        assert_eq!(field(c.with_max_held(0)), "max_held");
        assert_eq!(field(c.with_max_members(1 << 17)), "max_members");
        let mut r = Relay::<u64>::new(UdpSocket::bind("127.0.0.1:0").unwrap(), c).unwrap();
        assert!(r.set_loss(f64::INFINITY).is_err());
        assert!(
            r.set_delay(Duration::ZERO, Duration::from_secs(100))
                .is_err()
        );
        assert_eq!(r.config().loss, 0.0);
        assert!(matches!(
            Relay::<u64>::new(UdpSocket::bind("127.0.0.1:0").unwrap(), c.with_loss(2.0)),
            Err(RelayError::Config(_))
        ));
    }

    #[test]
    fn forwards_cuts_partitions_heals_and_counts() {
        let (mut relay, a, b) = setup(RelayConfig::new());
        let at = relay.local_addr().unwrap();
        let data = frame(FrameKind::Data, 1, 2, b"hello");
        a.send_to(&data, at).unwrap();
        pump(&mut relay, |r| r.stats().forwarded == 1);
        assert_eq!(recv(&b), Some(data.clone()));
        // One-way cut: 1 -> 2 dropped, 2 -> 1 still flows.
        relay.cut(1, 2).unwrap();
        a.send_to(&data, at).unwrap();
        let back = frame(FrameKind::Data, 2, 1, b"back");
        b.send_to(&back, at).unwrap();
        pump(&mut relay, |r| r.stats().received == 5);
        assert_eq!(recv(&a), Some(back.clone()));
        assert_eq!(relay.stats().cut, 1);
        relay.uncut(&1, &2);
        // Partition {1} / {2}: both directions dropped; 3 (in no group) is
        // unknown, so its frames are dropped as such.
        relay.partition(&[vec![1], vec![2]]).unwrap();
        a.send_to(&data, at).unwrap();
        b.send_to(&back, at).unwrap();
        a.send_to(&frame(FrameKind::Data, 1, 3, b"?"), at).unwrap();
        // Not frames: counted, dropped, nothing learned.
        let junk: [&[u8]; 5] = [
            b"garbage",
            &[],
            &[0xFD],
            &[0xFD, 1, 0x20],
            &[0xFD, 1, 0x21, 7, 7, 1],
        ];
        for j in junk {
            a.send_to(j, at).unwrap();
        }
        pump(&mut relay, |r| r.stats().received == 13);
        let s = relay.stats();
        assert_eq!(
            (s.partitioned, s.unknown_receiver, s.refused_frames),
            (2, 1, 5)
        );
        assert_eq!(relay.address_of(&7), None);
        relay.heal();
        a.send_to(&data, at).unwrap();
        pump(&mut relay, |r| r.stats().forwarded == 3);
        assert_eq!(recv(&b), Some(data.clone()));
        // Loss 1: everything lost.
        relay.set_loss(1.0).unwrap();
        for _ in 0..10 {
            a.send_to(&data, at).unwrap();
        }
        pump(&mut relay, |r| r.stats().received == 24);
        assert_eq!(relay.stats().lost, 10);
        assert_eq!(relay.stats().forwarded, 3);
    }

    #[test]
    fn delays_hold_bounded_and_a_restarted_member_is_found_at_its_new_address() {
        let config = RelayConfig::new()
            .with_delay(Duration::from_millis(100))
            .with_max_held(3);
        let (mut relay, a, b) = setup(config);
        let at = relay.local_addr().unwrap();
        let sent = Instant::now();
        for i in 0..5u8 {
            a.send_to(&frame(FrameKind::Data, 1, 2, &[i]), at).unwrap();
        }
        pump(&mut relay, |r| r.stats().received == 7);
        assert_eq!(relay.stats().overflow, 2);
        assert_eq!(relay.held(), 3);
        pump(&mut relay, |r| r.stats().forwarded == 3);
        // In order, and not before the delay.
        for i in 0..3u8 {
            assert_eq!(recv(&b), Some(frame(FrameKind::Data, 1, 2, &[i])));
        }
        assert!(sent.elapsed() >= Duration::from_millis(100));
        assert_eq!(relay.stats().held_peak, 3);
        // Member 2 restarts on a new socket: its hello moves its address.
        let b2 = bind();
        b2.send_to(&frame(FrameKind::Hello, 2, 2, &[]), at).unwrap();
        pump(&mut relay, |r| r.stats().hellos == 3);
        assert_eq!(relay.address_of(&2), Some(b2.local_addr().unwrap()));
        drop(b);
    }

    #[test]
    fn jitter_reorders_and_the_same_seed_decides_alike() {
        let draws = |seed| {
            let mut r = Relay::<u64>::new(
                UdpSocket::bind("127.0.0.1:0").unwrap(),
                RelayConfig::new().with_loss(0.3).with_seed(seed),
            )
            .unwrap();
            (0..64).map(|_| r.rng.chance(0.3)).collect::<Vec<_>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
        let config = RelayConfig::new()
            .with_jitter(Duration::from_millis(50))
            .with_seed(1);
        let (mut relay, a, b) = setup(config);
        let at = relay.local_addr().unwrap();
        for i in 0..20u8 {
            a.send_to(&frame(FrameKind::Data, 1, 2, &[i]), at).unwrap();
        }
        pump(&mut relay, |r| r.stats().forwarded == 20);
        let got: Vec<u8> = (0..20)
            .filter_map(|_| recv(&b))
            .map(|f| *f.last().unwrap())
            .collect();
        assert_eq!(got.len(), 20);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<u8>>());
        assert_ne!(
            got, sorted,
            "20 datagrams with 50 ms of jitter stayed in order"
        );
    }

    #[test]
    fn a_spawned_relay_takes_commands_and_stops() {
        let relay =
            Relay::<u64>::new(UdpSocket::bind("127.0.0.1:0").unwrap(), RelayConfig::new()).unwrap();
        let handle = relay.spawn().unwrap();
        let at = handle.local_addr();
        let (a, b) = (bind(), bind());
        a.send_to(&frame(FrameKind::Hello, 1, 1, &[]), at).unwrap();
        b.send_to(&frame(FrameKind::Hello, 2, 2, &[]), at).unwrap();
        let start = Instant::now();
        while handle.stats().unwrap().hellos < 2 && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(2));
        }
        assert!(matches!(
            handle.set_loss(f64::NAN),
            Err(RelayError::Config(ConfigError::NotFinite { field: "loss" }))
        ));
        assert!(matches!(
            handle.partition(vec![(0..2_000).collect()]),
            Err(RelayError::Config(ConfigError::OutOfRange {
                field: "partition",
                ..
            }))
        ));
        handle.cut(1, 2).unwrap();
        // The cut is in force once a later command has been answered.
        handle.stats().unwrap();
        a.send_to(&frame(FrameKind::Data, 1, 2, b"x"), at).unwrap();
        let start = Instant::now();
        while handle.stats().unwrap().cut < 1 && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(2));
        }
        handle.heal().unwrap();
        handle.stats().unwrap();
        a.send_to(&frame(FrameKind::Data, 1, 2, b"y"), at).unwrap();
        assert_eq!(recv(&b).map(|f| *f.last().unwrap()), Some(b'y'));
        let relay = handle.stop().unwrap();
        let s = relay.stats();
        assert_eq!((s.cut, s.forwarded), (1, 1));
    }
}
