//! `net::UdpMonitor` over loopback: heartbeats from a test socket reach the
//! registry; garbage, truncated, oversize and wrong-kind datagrams are counted by
//! reason and change nothing; unknown senders are refused, or registered up to
//! `max_nodes`; bad configurations are refused with the field named.
//!
//! Every test runs with batched receives and without (the same path twice where
//! this build has no `recvmmsg`). Sockets bind port 0 on 127.0.0.1; every wait is
//! bounded (a receive waits at most the poll interval, a loop at most 200 of them).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use failure_detector::cluster::wire::DecodeErrorKind;
use failure_detector::net::monitor::BATCH_RECV_AVAILABLE;
use failure_detector::net::{Frame, FrameKind, MonitorConfig, MonitorStats, UdpMonitor};
use failure_detector::{
    Clock, ConfigError, FixedTimeout, FixedTimeoutConfig, ManualClock, NodeInfo, NodeState,
    Registry, RegistryConfig, Timestamp,
};

type Reg = Registry<u64, FixedTimeout>;
type Monitor = UdpMonitor<u64, FixedTimeout>;

const MONITOR_ID: u64 = 1_000_000;

fn modes() -> [bool; 2] {
    [true, false]
}

/// A registry on a manual clock at 100 s (every 5 s, suspected after 15 s of
/// silence, Dead 10 s later), refusing unknown nodes on its own.
fn registry(config: RegistryConfig) -> (Arc<Reg>, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(100));
    let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    let (reg, _events) = Registry::new(config.with_accept_unknown(false), fd).unwrap();
    (Arc::new(reg.with_clock(clock.clone())), clock)
}

fn monitor(reg: &Arc<Reg>, config: MonitorConfig) -> (Monitor, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let config = config.with_poll_interval(Duration::from_millis(20));
    let monitor = UdpMonitor::new(socket, Arc::clone(reg), MONITOR_ID, config).unwrap();
    (monitor, address)
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

fn heartbeat(from: u64) -> Vec<u8> {
    frame(FrameKind::Heartbeat, from, MONITOR_ID, &[])
}

struct Sender {
    socket: UdpSocket,
    to: SocketAddr,
}

impl Sender {
    fn new(to: SocketAddr) -> Self {
        Sender {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to,
        }
    }

    fn send(&self, bytes: &[u8]) {
        assert_eq!(self.socket.send_to(bytes, self.to).unwrap(), bytes.len());
    }
}

/// Receives until `received` datagrams have arrived in all (bounded).
fn receive(monitor: &mut Monitor, received: u64) -> MonitorStats {
    for _ in 0..200 {
        if monitor.stats().received >= received {
            break;
        }
        monitor.receive_batch().unwrap();
    }
    let stats = monitor.stats();
    assert_eq!(stats.received, received, "{stats:?}");
    stats
}

fn sorted(mut snapshot: Vec<NodeInfo<u64>>) -> Vec<NodeInfo<u64>> {
    snapshot.sort_by_key(|n| n.node);
    snapshot
}

#[test]
fn heartbeats_reach_the_registry() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new());
        for node in 1..=3 {
            reg.register(node, clock.now()).unwrap();
        }
        let config = MonitorConfig::new().with_batched(batched);
        let (mut monitor, address) = monitor(&reg, config);
        assert_eq!(monitor.batched_receive(), batched && BATCH_RECV_AVAILABLE);
        let tx = Sender::new(address);

        // At 110 s, nodes 1 and 2 speak, with payloads (ignored); node 3 does not.
        clock.advance(Duration::from_secs(10));
        tx.send(&frame(FrameKind::Heartbeat, 1, MONITOR_ID, b"seq 1"));
        tx.send(&heartbeat(2));
        let stats = receive(&mut monitor, 2);
        assert_eq!(stats.accepted, 2, "{stats:?}");
        assert_eq!(stats.refused.total(), 0);
        assert_eq!(stats.last_stamp, Some(Timestamp::from_secs(110)));
        let info = reg.info(&1, clock.now()).unwrap();
        assert_eq!(info.last_heartbeat, Some(Timestamp::from_secs(110)));

        // At 120 s node 3 (silent since 100 s) is past its deadline (115 s): an
        // idle receive ticks the registry.
        clock.advance(Duration::from_secs(10));
        assert_eq!(monitor.receive_batch().unwrap(), 0);
        assert_eq!(reg.state(&3), Some(NodeState::Suspect));
        assert_eq!(reg.state(&1), Some(NodeState::Alive));
        let counts = reg.counts();
        assert_eq!((counts.alive, counts.suspect, counts.dead), (2, 1, 0));
        assert_eq!(monitor.stats().transitions, 1);

        // Node 3 speaks again and recovers.
        clock.advance(Duration::from_secs(1));
        tx.send(&heartbeat(3));
        let stats = receive(&mut monitor, 3);
        assert_eq!(stats.accepted, 3);
        assert_eq!(reg.state(&3), Some(NodeState::Alive));

        // Two heartbeats of node 1 at one stamp: the second is a duplicate.
        tx.send(&heartbeat(1));
        tx.send(&heartbeat(1));
        let stats = receive(&mut monitor, 5);
        assert_eq!((stats.accepted, stats.refused.stale), (4, 1), "{stats:?}");
        assert_eq!(
            stats.received,
            stats.accepted + stats.registered + stats.refused.total()
        );
        assert!(stats.batches >= 3 && stats.receive_calls >= stats.batches);
    }
}

#[test]
fn many_heartbeats_fill_batches() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new());
        for node in 0..500 {
            reg.register(node, clock.now()).unwrap();
        }
        let config = MonitorConfig::new()
            .with_batched(batched)
            .with_batch_size(100);
        let (mut monitor, address) = monitor(&reg, config);
        let tx = Sender::new(address);
        clock.advance(Duration::from_secs(1));
        // 500 distinct nodes, queued 250 at a time before the monitor receives
        // (the default socket buffer holds about 256 small datagrams on Linux):
        // batches of 100 at most.
        for half in [0..250, 250..500] {
            let end = half.end;
            for node in half {
                tx.send(&heartbeat(node));
            }
            receive(&mut monitor, end);
        }
        let stats = monitor.stats();
        assert_eq!(stats.accepted, 500, "{stats:?}");
        assert!(stats.batches >= 6, "{stats:?}");
        for node in 0..500 {
            let info = reg.info(&node, clock.now()).unwrap();
            assert_eq!(info.last_heartbeat, Some(Timestamp::from_secs(101)));
        }
    }
}

#[test]
fn bad_datagrams_are_counted_and_change_nothing() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new());
        for node in 1..=3 {
            reg.register(node, clock.now()).unwrap();
        }
        let config = MonitorConfig::new()
            .with_batched(batched)
            .with_max_datagram(64);
        let (mut monitor, address) = monitor(&reg, config);
        let tx = Sender::new(address);
        clock.advance(Duration::from_secs(2));
        let before = sorted(reg.snapshot(clock.now()));
        let mut sent = 0;
        let mut send = |bytes: &[u8]| {
            tx.send(bytes);
            sent += 1;
        };

        // Seeded garbage (xorshift), lengths 0 to 63: none starts with the magic.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut garbage = 0;
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            if bytes.first() != Some(&0xFD) {
                send(&bytes);
                garbage += 1;
            }
        }
        // Every truncation of a valid heartbeat from a large id (ids are varints:
        // cutting inside one is malformed; cutting after the sender leaves no
        // receiver).
        let whole = heartbeat(u64::MAX - 1);
        for cut in 0..whole.len() {
            send(&whole[..cut]);
        }
        // Unknown kind byte, and a hello with a payload.
        let mut unknown_kind = heartbeat(1);
        unknown_kind[2] = 0x7F;
        send(&unknown_kind);
        send(&frame(FrameKind::Hello, 1, MONITOR_ID, &[9]));
        let malformed = garbage + whole.len() as u64 + 2;

        // Well-formed frames of the wrong kind, to the wrong monitor, too long.
        send(&frame(
            FrameKind::Data,
            1,
            MONITOR_ID,
            b"a member's datagram",
        ));
        send(&frame(FrameKind::Hello, 2, MONITOR_ID, &[]));
        send(&frame(FrameKind::Heartbeat, 2, 7, &[]));
        send(&frame(FrameKind::Heartbeat, 3, MONITOR_ID, &[0; 60])); // 67 bytes
        send(&[0xFD; 1000]);

        let stats = receive(&mut monitor, sent);
        let r = stats.refused;
        assert_eq!(r.malformed, malformed, "{stats:?}");
        assert_eq!((r.wrong_kind, r.wrong_receiver, r.oversize), (2, 1, 2));
        assert_eq!(stats.accepted + stats.registered + stats.unknown_senders, 0);
        assert_eq!(r.total(), sent);
        let e = stats.last_decode_error.expect("a decode error");
        assert!(e.offset < 64, "{e:?}");
        assert_eq!(sorted(reg.snapshot(clock.now())), before);

        // The last malformed one was the hello with a payload: refused at the
        // payload's offset.
        let hello = frame(FrameKind::Hello, 1, MONITOR_ID, &[]);
        assert_eq!(e.offset, hello.len());
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes);

        // A good heartbeat still gets through afterwards.
        tx.send(&heartbeat(1));
        let stats = receive(&mut monitor, sent + 1);
        assert_eq!(stats.accepted, 1);
    }
}

#[test]
fn unknown_senders_are_refused_by_default() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new());
        let (mut monitor, address) = monitor(&reg, MonitorConfig::new().with_batched(batched));
        let tx = Sender::new(address);
        for node in 0..5 {
            tx.send(&heartbeat(node));
        }
        let stats = receive(&mut monitor, 5);
        assert_eq!((stats.unknown_senders, stats.refused.unknown), (5, 5));
        assert_eq!((stats.accepted, stats.registered), (0, 0));
        assert!(reg.is_empty());
        let _ = clock;
    }
}

#[test]
fn unknown_senders_are_registered_up_to_max_nodes() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new());
        reg.register(100, clock.now()).unwrap(); // the application's own node counts
        let config = MonitorConfig::new()
            .with_batched(batched)
            .with_register_unknown(true)
            .with_max_nodes(4);
        let (mut monitor, address) = monitor(&reg, config);
        let tx = Sender::new(address);
        clock.advance(Duration::from_secs(1));
        for node in 0..6 {
            tx.send(&heartbeat(node));
        }
        let stats = receive(&mut monitor, 6);
        assert_eq!(stats.unknown_senders, 6, "{stats:?}");
        assert_eq!((stats.registered, stats.refused.full), (3, 3), "{stats:?}");
        assert_eq!(reg.len(), 4);
        // Which three joined depends on the registry's shard order; each of them
        // joined at the batch's stamp.
        let joined: Vec<u64> = (0..6).filter(|n| reg.contains(n)).collect();
        assert_eq!(joined.len(), 3);
        for node in &joined {
            let info = reg.info(node, clock.now()).unwrap();
            assert_eq!(info.state, NodeState::Alive);
            assert_eq!(info.last_heartbeat, Some(Timestamp::from_secs(101)));
        }

        // A registered node's next heartbeat is an ordinary one.
        clock.advance(Duration::from_secs(1));
        tx.send(&heartbeat(joined[0]));
        let stats = receive(&mut monitor, 7);
        assert_eq!(stats.accepted, 1);
    }
}

#[test]
fn refused_rejoin_is_counted() {
    for batched in modes() {
        let (reg, clock) = registry(RegistryConfig::new().with_accept_rejoin(false));
        reg.register(1, clock.now()).unwrap();
        let (mut monitor, address) = monitor(&reg, MonitorConfig::new().with_batched(batched));
        clock.advance(Duration::from_secs(40)); // deadline 115 s, Dead at 125 s
        monitor.receive_batch().unwrap();
        assert_eq!(reg.state(&1), Some(NodeState::Dead));
        let tx = Sender::new(address);
        tx.send(&heartbeat(1));
        let stats = receive(&mut monitor, 1);
        assert_eq!(stats.refused.rejoin, 1, "{stats:?}");
        assert_eq!(reg.state(&1), Some(NodeState::Dead));
    }
}

#[test]
fn runs_on_a_thread_until_stopped() {
    for batched in modes() {
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let (reg, _events) =
            Registry::<u64, _>::new(RegistryConfig::new().with_accept_unknown(false), fd).unwrap();
        let reg = Arc::new(reg); // a monotonic clock
        for node in 0..10 {
            reg.register(node, reg.now()).unwrap();
        }
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let config = MonitorConfig::new()
            .with_batched(batched)
            .with_poll_interval(Duration::from_millis(5));
        let mut monitor = UdpMonitor::new(socket, Arc::clone(&reg), MONITOR_ID, config).unwrap();
        let stats = monitor.stats_handle();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || monitor.run_until(&stop).map(|()| monitor))
        };
        // Stops the thread even if an assertion below fails.
        struct Stop(Arc<AtomicBool>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let guard = Stop(Arc::clone(&stop));

        let tx = Sender::new(address);
        for round in 0..10 {
            for node in 0..10 {
                tx.send(&heartbeat(node));
            }
            // Wait for the round (bounded), so that each node's heartbeats get
            // distinct stamps.
            for _ in 0..400 {
                if stats.get().received >= (round + 1) * 10 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(guard);
        let monitor = thread.join().unwrap().unwrap();
        let s = monitor.stats();
        assert_eq!(s, stats.get());
        assert_eq!(s.received, 100, "{s:?}");
        assert_eq!(s.accepted, 100, "{s:?}");
        assert_eq!(reg.counts().alive, 10);
    }
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let (reg, _clock) = registry(RegistryConfig::new());
    let field = |config: MonitorConfig| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        match UdpMonitor::new(socket, Arc::clone(&reg), MONITOR_ID, config) {
            Err(ConfigError::NotPositive { field } | ConfigError::OutOfRange { field, .. }) => {
                field
            }
            other => panic!("{other:?}"),
        }
    };
    let c = MonitorConfig::new();
    assert_eq!(field(c.with_batch_size(0)), "batch_size");
    assert_eq!(field(c.with_batch_size(4096)), "batch_size");
    assert_eq!(field(c.with_max_datagram(0)), "max_datagram");
    assert_eq!(field(c.with_max_datagram(70_000)), "max_datagram");
    assert_eq!(
        field(c.with_batch_size(1024).with_max_datagram(60_000)),
        "max_datagram"
    );
    assert_eq!(field(c.with_poll_interval(Duration::ZERO)), "poll_interval");
    assert_eq!(
        field(c.with_poll_interval(Duration::from_secs(3600))),
        "poll_interval"
    );
    assert_eq!(field(c.with_max_nodes(0)), "max_nodes");
    assert_eq!(field(c.with_max_nodes(usize::MAX)), "max_nodes");

    // A registry that admits unknown nodes on its own is refused.
    let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    let (open, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    match UdpMonitor::new(socket, Arc::new(open), MONITOR_ID, c) {
        Err(ConfigError::OutOfRange { field, .. }) => assert_eq!(field, "accept_unknown"),
        other => panic!("{other:?}"),
    }
}
