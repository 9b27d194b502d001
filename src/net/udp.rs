//! A blocking UDP driver: one [`std::net::UdpSocket`], one [`ClusterMember`],
//! driven on the real monotonic clock.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use failure_detector::cluster::{GossipConfig, GossipMember, Member};
//! use failure_detector::net::{Routes, UdpDriver};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let member = GossipMember::new(Member::new(1u64, 1), GossipConfig::local().with_seed(1))?;
//! let routes = Routes::new().via("127.0.0.1:7000".parse()?); // every peer through a relay
//! let mut driver = UdpDriver::new(socket, member, routes)?;
//! driver.join(&[2, 3]);
//! loop {
//!     driver.step(Duration::from_millis(100), &mut |event| println!("{event:?}"))?;
//! }
//! # }
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::cluster::wire::MAX_MTU;
use crate::cluster::{ClusterEvent, ClusterMember, MemberId};
use crate::error::ConfigError;
use crate::net::frame::{Frame, FrameKind};
use crate::net::routes::Routes;
use crate::net::{Burst, Received, deliver, frame_for};
use crate::time::{Clock, MonotonicClock, Timestamp};

/// The receive buffer of a new driver: the largest UDP payload over IPv4
/// (65,507 bytes), so no frame is ever truncated.
pub const DEFAULT_RECV_BUFFER: usize = MAX_MTU;

/// The smallest receive buffer [`UdpDriver::set_recv_buffer`] accepts.
pub const MIN_RECV_BUFFER: usize = 64;

/// How often a driver with a default route (a relay) repeats its hello: 2 s.
pub const DEFAULT_HELLO_INTERVAL: Duration = Duration::from_secs(2);

/// The most datagrams one [`UdpDriver::step`] receives before it returns, so a
/// flood cannot keep it from ticking its member.
pub const MAX_RECEIVES_PER_STEP: usize = 64;

/// What a [`UdpDriver`] did, counted since it was built. Counters saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// Datagrams received (well-formed or not).
    pub datagrams_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Data frames handed to the member that it accepted.
    pub accepted: u64,
    /// Datagrams that were not a frame (bad header, kind or id): dropped.
    pub refused_frames: u64,
    /// Data frames whose payload the member refused (malformed, too long, or
    /// naming another sender than the frame): dropped, the member unchanged.
    pub refused_payloads: u64,
    /// Frames addressed to another member than this one: dropped.
    pub misaddressed: u64,
    /// Hello and heartbeat frames received (not for the member; their source
    /// is learned).
    pub ignored: u64,
    /// Datagrams the member emitted that were sent.
    pub datagrams_out: u64,
    /// Bytes sent (frames included).
    pub bytes_out: u64,
    /// Datagrams the member emitted for an id with no route: dropped.
    pub no_route: u64,
    /// Sends the socket refused (the datagram is lost, as on a lossy network).
    pub send_errors: u64,
    /// Receives that failed with an error other than a timeout (an ICMP "port
    /// unreachable" reported by the socket, say): the driver carries on.
    pub recv_errors: u64,
    /// Hello frames sent.
    pub hellos: u64,
}

/// Drives a [`ClusterMember`] over a blocking UDP socket.
///
/// Each [`step`](Self::step) waits for a datagram at most until the member's
/// [`next_deadline`](ClusterMember::next_deadline) (and at most `max_wait`),
/// handles what arrived, ticks the member when its deadline has come, sends
/// every datagram it emitted (wrapped in a [`Frame`], to
/// [`Routes::resolve`] of the receiver) and hands every event to the caller.
///
/// **Input from the network.** A datagram that is not a frame, a frame for
/// another member, or a payload the member refuses is counted
/// ([`DriverStats`]) and dropped: nothing in the member changes and nothing
/// panics. The source address of every well-formed frame is learned
/// ([`Routes::learn`], bounded by the routes' `max_learned`), so a peer that
/// restarts on a new port is reached there.
///
/// **Relay.** The driver sends a [`FrameKind::Hello`] (from this member, to
/// this member) where a datagram for this member itself would go: the routes'
/// default route, normally. It does so when built and every
/// [`DEFAULT_HELLO_INTERVAL`], so that a relay learns (and, after a restart,
/// updates) where this member is. Without such a route (or when it is the
/// driver's own address) it sends none.
///
/// **Memory.** The member, the routes, a receive buffer of
/// [`DEFAULT_RECV_BUFFER`] bytes (or what [`set_recv_buffer`](Self::set_recv_buffer)
/// sets: a member's MTU plus a frame's overhead, 23 bytes at most with `u64`
/// ids) and a send buffer that grows to the largest frame sent. Nothing else
/// grows with traffic; a step allocates only what the member does.
///
/// **Time.** Every input is dated on the driver's [`MonotonicClock`]; a
/// process stopped (SIGSTOP, a long GC) simply hands the member a late
/// timestamp on waking, which the member's local pause guard recognises.
#[derive(Debug)]
pub struct UdpDriver<I: MemberId, M: ClusterMember<I>> {
    socket: UdpSocket,
    member: M,
    routes: Routes<I>,
    clock: MonotonicClock,
    recv: Vec<u8>,
    send: Vec<u8>,
    stats: DriverStats,
    hello_interval: Duration,
    next_hello: Option<Timestamp>,
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

fn add(c: &mut u64, n: usize) {
    *c = c.saturating_add(n as u64);
}

impl<I: MemberId, M: ClusterMember<I>> UdpDriver<I, M> {
    /// A driver of `member` on `socket` (already bound), sending to `routes`,
    /// on a new [`MonotonicClock`]. Sends the first hello if `routes` has a
    /// default route. The socket is put in blocking mode; the driver sets its
    /// read timeout at every step.
    ///
    /// # Errors
    /// The socket's error if its read timeout cannot be set.
    pub fn new(socket: UdpSocket, member: M, routes: Routes<I>) -> io::Result<Self> {
        Self::with_clock(socket, member, routes, MonotonicClock::new())
    }

    /// As [`new`](Self::new), on `clock` (share one origin between drivers of
    /// one process, or with the application).
    ///
    /// # Errors
    /// The socket's error if its read timeout cannot be set.
    pub fn with_clock(
        socket: UdpSocket,
        member: M,
        routes: Routes<I>,
        clock: MonotonicClock,
    ) -> io::Result<Self> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(Duration::from_millis(1)))?;
        let mut d = UdpDriver {
            socket,
            member,
            routes,
            clock,
            recv: vec![0; DEFAULT_RECV_BUFFER],
            send: Vec::new(),
            stats: DriverStats::default(),
            hello_interval: DEFAULT_HELLO_INTERVAL,
            next_hello: None,
        };
        d.hello_if_due(d.clock.now());
        Ok(d)
    }

    /// Receives datagrams of at most `bytes` (a longer one is cut, and then
    /// refused as a malformed frame or payload). Give the member's MTU plus a
    /// frame's overhead.
    ///
    /// # Errors
    /// [`ConfigError`] for fewer than [`MIN_RECV_BUFFER`] (64) or more than
    /// 65,507 bytes; the driver is then unchanged.
    pub fn set_recv_buffer(&mut self, bytes: usize) -> Result<(), ConfigError> {
        if !(MIN_RECV_BUFFER..=MAX_MTU).contains(&bytes) {
            return Err(ConfigError::OutOfRange {
                field: "recv_buffer",
                allowed: "64 to 65507 bytes",
            });
        }
        self.recv = vec![0; bytes];
        Ok(())
    }

    /// Repeats the hello to the default route every `interval` (default
    /// [`DEFAULT_HELLO_INTERVAL`]).
    ///
    /// The next hello goes `interval` from now.
    ///
    /// # Errors
    /// [`ConfigError`] for a zero interval; the driver is then unchanged.
    pub fn set_hello_interval(&mut self, interval: Duration) -> Result<(), ConfigError> {
        if interval.is_zero() {
            return Err(ConfigError::NotPositive {
                field: "hello_interval",
            });
        }
        self.hello_interval = interval;
        let now = self.clock.now();
        self.next_hello = self.next_hello.map(|_| now.saturating_add(interval));
        Ok(())
    }

    /// The member.
    pub fn member(&self) -> &M {
        &self.member
    }

    /// The member, mutably (send what it emits by calling [`step`](Self::step)
    /// afterwards).
    pub fn member_mut(&mut self) -> &mut M {
        &mut self.member
    }

    /// The routes.
    pub fn routes(&self) -> &Routes<I> {
        &self.routes
    }

    /// The routes, mutably.
    pub fn routes_mut(&mut self) -> &mut Routes<I> {
        &mut self.routes
    }

    /// The socket's local address.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The clock every input is dated on.
    pub fn clock(&self) -> &MonotonicClock {
        &self.clock
    }

    /// The counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Gives the driver back its parts.
    pub fn into_inner(self) -> (UdpSocket, M, Routes<I>) {
        (self.socket, self.member, self.routes)
    }

    /// Has the member join through `seeds` now and sends what that emits.
    /// Events it emits are kept for the next [`step`](Self::step).
    pub fn join(&mut self, seeds: &[I]) {
        let now = self.clock.now();
        self.member.join(seeds, now);
        self.flush_datagrams();
    }

    /// One round: ticks the member if its deadline has come, waits up to
    /// `max_wait` (and no later than the member's next deadline) for
    /// datagrams, handles up to [`MAX_RECEIVES_PER_STEP`] of them, ticks again
    /// if due, sends what the member emitted and hands each event to
    /// `on_event`, oldest first. Returns how many datagrams were received.
    ///
    /// # Errors
    /// Only if the socket's read timeout cannot be set; receive and send
    /// errors are counted ([`DriverStats`]) and the driver carries on.
    pub fn step(
        &mut self,
        max_wait: Duration,
        on_event: &mut dyn FnMut(ClusterEvent<I>),
    ) -> io::Result<usize> {
        let now = self.clock.now();
        self.tick_if_due(now);
        self.drain(on_event);
        let now = self.clock.now();
        let mut wait = max_wait;
        if let Some(d) = self.member.next_deadline() {
            wait = wait.min(d.saturating_duration_since(now));
        }
        if let Some(h) = self.next_hello {
            wait = wait.min(h.saturating_duration_since(now));
        }
        let mut burst = Burst::start(&self.socket, wait, MAX_RECEIVES_PER_STEP)?;
        while let Some((len, src)) = burst.next(&self.socket, &mut self.recv)? {
            let now = self.clock.now();
            self.receive(len, src, now);
            self.drain(on_event);
        }
        self.stats.recv_errors = self.stats.recv_errors.saturating_add(burst.errors);
        let received = burst.received();
        let now = self.clock.now();
        self.tick_if_due(now);
        self.hello_if_due(now);
        self.drain(on_event);
        Ok(received)
    }

    /// Steps until the clock reaches `until` (at most `max_wait` per step, so
    /// the caller regains control that often only through `on_event`).
    ///
    /// # Errors
    /// As [`step`](Self::step).
    pub fn run_until(
        &mut self,
        until: Timestamp,
        on_event: &mut dyn FnMut(ClusterEvent<I>),
    ) -> io::Result<()> {
        loop {
            let now = self.clock.now();
            if now >= until {
                return Ok(());
            }
            self.step(until.saturating_duration_since(now), on_event)?;
        }
    }

    fn tick_if_due(&mut self, now: Timestamp) {
        if self.member.next_deadline().is_some_and(|d| d <= now) {
            self.member.tick(now);
        }
    }

    /// Handles the `len` bytes in the receive buffer, from `src`.
    fn receive(&mut self, len: usize, src: SocketAddr, now: Timestamp) {
        bump(&mut self.stats.datagrams_in);
        add(&mut self.stats.bytes_in, len);
        let Some(bytes) = self.recv.get(..len) else {
            bump(&mut self.stats.refused_frames);
            return;
        };
        let outcome = match frame_for(bytes, &self.member.me().id) {
            Ok(frame) => deliver(&mut self.member, &mut self.routes, frame, src, now),
            Err(outcome) => outcome,
        };
        bump(match outcome {
            Received::BadFrame => &mut self.stats.refused_frames,
            Received::Misaddressed => &mut self.stats.misaddressed,
            Received::Ignored => &mut self.stats.ignored,
            Received::Refused => &mut self.stats.refused_payloads,
            Received::Accepted { .. } => &mut self.stats.accepted,
        });
    }

    /// Sends every datagram, then hands over every event.
    fn drain(&mut self, on_event: &mut dyn FnMut(ClusterEvent<I>)) {
        self.flush_datagrams();
        while let Some(e) = self.member.poll_event() {
            on_event(e);
        }
    }

    fn flush_datagrams(&mut self) {
        while let Some(d) = self.member.poll_datagram() {
            let Some(addr) = self.routes.resolve(&d.to) else {
                bump(&mut self.stats.no_route);
                continue;
            };
            self.send.clear();
            Frame {
                kind: FrameKind::Data,
                from: self.member.me().id.clone(),
                to: d.to,
                payload: &d.bytes,
            }
            .encode(&mut self.send);
            self.send_frame(addr);
        }
    }

    fn send_frame(&mut self, addr: SocketAddr) {
        match self.socket.send_to(&self.send, addr) {
            Ok(n) => {
                bump(&mut self.stats.datagrams_out);
                add(&mut self.stats.bytes_out, n);
            }
            Err(_) => bump(&mut self.stats.send_errors),
        }
    }

    fn hello_if_due(&mut self, now: Timestamp) {
        if self.next_hello.is_some_and(|h| h > now) {
            return;
        }
        let me = self.member.me().id.clone();
        // A hello goes where a datagram for this member itself would: the
        // default route (a relay), unless the caller gave another address.
        let relay = match self.routes.resolve(&me) {
            Some(a) if self.socket.local_addr().ok() != Some(a) => a,
            _ => {
                self.next_hello = None;
                return;
            }
        };
        self.send.clear();
        Frame {
            kind: FrameKind::Hello,
            from: me.clone(),
            to: me,
            payload: &[],
        }
        .encode(&mut self.send);
        self.send_frame(relay);
        bump(&mut self.stats.hellos);
        self.next_hello = Some(now.saturating_add(self.hello_interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{GossipConfig, GossipMember, Member};
    use crate::registry::NodeState;
    use std::time::Instant;

    type G = GossipMember<u64, crate::ExponentialPhi>;

    fn member(id: u64) -> G {
        GossipMember::new(
            Member::new(id, 1),
            GossipConfig::local()
                .with_gossip_interval(Duration::from_millis(20))
                .with_seed(id),
        )
        .unwrap()
    }

    fn bind() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").unwrap()
    }

    #[test]
    fn two_drivers_find_each_other_over_loopback() {
        let (sa, sb) = (bind(), bind());
        let (aa, ab) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
        let mut ra = Routes::new();
        ra.insert(2, ab);
        let mut a = UdpDriver::new(sa, member(1), ra).unwrap();
        // b learns a's address from a's first frame.
        let mut b = UdpDriver::new(sb, member(2), Routes::new()).unwrap();
        a.join(&[2]);
        let mut seen = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5)
            && (a.member().state_of(&2) != Some(NodeState::Alive)
                || b.member().state_of(&1) != Some(NodeState::Alive))
        {
            a.step(Duration::from_millis(5), &mut |e| seen.push((1, e)))
                .unwrap();
            b.step(Duration::from_millis(5), &mut |e| seen.push((2, e)))
                .unwrap();
        }
        assert_eq!(a.member().state_of(&2), Some(NodeState::Alive));
        assert_eq!(b.member().state_of(&1), Some(NodeState::Alive));
        assert_eq!(b.routes().resolve(&1), Some(aa));
        assert!(
            seen.iter().any(|(w, e)| *w == 2
                && matches!(e, ClusterEvent::Joined { member, .. } if member.id == 1))
        );
        let (sa, sb) = (a.stats(), b.stats());
        assert!(sa.datagrams_out > 0 && sb.datagrams_in > 0 && sb.accepted > 0);
        assert_eq!(sa.refused_frames + sb.refused_frames, 0);
        // No default route: no hello.
        assert_eq!(sa.hellos + sb.hellos, 0);
    }

    #[test]
    fn hostile_datagrams_are_counted_and_change_nothing() {
        let s = bind();
        let addr = s.local_addr().unwrap();
        let mut d = UdpDriver::new(s, member(1), Routes::new().with_max_learned(4)).unwrap();
        let attacker = bind();
        let mut frames: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xFD],
            vec![0xFD, 1],
            vec![0x00; 40],
            vec![0xFD, 1, 0x77, 1, 1],
            vec![0xFD, 1, 0x20, 0xFF, 0xFF, 0xFF],
            vec![0xFF; 1_000],
        ];
        let frame = |kind, from: u64, to: u64, payload: &[u8]| {
            Frame {
                kind,
                from,
                to,
                payload,
            }
            .to_vec()
        };
        // Well-formed frames whose payload the member refuses.
        let payloads = [
            vec![],
            vec![0xFD],
            vec![0xFD, 1, 0x01, 9, 9, 9],
            vec![7; 3_000],
        ];
        for p in &payloads {
            frames.push(frame(FrameKind::Data, 9, 1, p));
        }
        // A real gossip datagram of member 2, framed as if member 9 sent it.
        let mut other = member(2);
        other.join(&[1], Timestamp::ZERO);
        let syn = other.poll_datagram().unwrap();
        frames.push(frame(FrameKind::Data, 9, 1, &syn.bytes));
        // Misaddressed, and every truncation of a valid frame.
        frames.push(frame(FrameKind::Data, 2, 5, &syn.bytes));
        let good = frame(FrameKind::Data, 2, 1, &syn.bytes);
        for cut in 0..good.len() {
            frames.push(good[..cut].to_vec());
        }
        for f in &frames {
            attacker.send_to(f, addr).unwrap();
        }
        let mut events = Vec::new();
        let start = Instant::now();
        while d.stats().datagrams_in < frames.len() as u64
            && start.elapsed() < Duration::from_secs(5)
        {
            d.step(Duration::from_millis(10), &mut |e| events.push(e))
                .unwrap();
        }
        let s = d.stats();
        assert_eq!(s.datagrams_in, frames.len() as u64);
        assert_eq!(s.accepted, 0, "{s:?}");
        assert_eq!(s.misaddressed, 1);
        assert_eq!(
            s.refused_frames + s.refused_payloads + s.misaddressed,
            frames.len() as u64,
            "{s:?}"
        );
        assert!(s.refused_payloads > payloads.len() as u64);
        assert!(d.member().members().is_empty());
        assert!(events.is_empty(), "{events:?}");
        // Learned at most max_learned ids, only from well-formed frames.
        assert!(d.routes().learned_len() <= 4);
        // The good frame is still accepted afterwards.
        attacker.send_to(&good, addr).unwrap();
        let start = Instant::now();
        while d.stats().accepted == 0 && start.elapsed() < Duration::from_secs(5) {
            d.step(Duration::from_millis(10), &mut |e| events.push(e))
                .unwrap();
        }
        assert_eq!(d.stats().accepted, 1);
        assert_eq!(d.member().state_of(&2), Some(NodeState::Alive));
    }

    #[test]
    fn hello_to_the_relay_and_no_route_counted() {
        let relay = bind();
        relay
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let s = bind();
        let me = s.local_addr().unwrap();
        let mut d =
            UdpDriver::new(s, member(3), Routes::new().via(relay.local_addr().unwrap())).unwrap();
        d.set_hello_interval(Duration::from_millis(30)).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = relay.recv_from(&mut buf).unwrap();
        assert_eq!(from, me);
        let f = Frame::<u64>::decode(&buf[..n]).unwrap();
        assert_eq!((f.kind, f.from, f.to), (FrameKind::Hello, 3, 3));
        // A second hello follows after the interval (30 ms, not the default 2 s).
        let start = Instant::now();
        while d.stats().hellos < 2 && start.elapsed() < Duration::from_millis(1_500) {
            d.step(Duration::from_millis(10), &mut |_| {}).unwrap();
        }
        assert!(d.stats().hellos >= 2);
        assert!(d.set_recv_buffer(10).is_err());
        // Without any route, a member's datagrams are counted and dropped.
        let mut lone = UdpDriver::new(bind(), member(4), Routes::new()).unwrap();
        lone.join(&[5]);
        assert!(lone.stats().no_route >= 1);
        assert_eq!(lone.stats().datagrams_out, 0);
    }

    #[test]
    fn forged_or_refused_frames_teach_no_route() {
        let s = bind();
        let addr = s.local_addr().unwrap();
        let mut d = UdpDriver::new(s, member(1), Routes::new()).unwrap();
        let attacker = bind();
        let send = |kind, from: u64, payload: &[u8]| {
            let out = Frame {
                kind,
                from,
                to: 1u64,
                payload,
            }
            .to_vec();
            attacker.send_to(&out, addr).unwrap();
        };
        send(FrameKind::Hello, 2, &[]); // claims to be 2
        send(FrameKind::Hello, 1, &[]); // claims to be the member itself
        send(FrameKind::Data, 2, &[0xFD, 1, 0x7F]); // a payload the member refuses
        send(FrameKind::Data, 1, &[0xFD, 1, 0x7F]); // from the member itself
        let start = Instant::now();
        while d.stats().datagrams_in < 4 && start.elapsed() < Duration::from_secs(5) {
            d.step(Duration::from_millis(10), &mut |_| {}).unwrap();
        }
        assert_eq!(d.stats().datagrams_in, 4);
        assert_eq!(d.routes().learned_len(), 0);
        assert_eq!(
            (d.routes().resolve(&1), d.routes().resolve(&2)),
            (None, None)
        );
    }
}
