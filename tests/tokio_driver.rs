//! The tokio drivers: the registry driver on tokio's paused clock (deterministic:
//! ticks at deadlines, early wakes, no busy loop), the member driver over real
//! loopback sockets (a stopped member is declared dead, the live ones never),
//! hostile datagrams, and spawn errors.

use std::sync::Arc;
use std::time::Duration;

use failure_detector::cluster::{ClusterEvent, ClusterMember, Member, SwimConfig, SwimMember};
use failure_detector::net::{Frame, FrameKind, Routes};
use failure_detector::runtime::{
    MemberDriver, MemberDriverConfig, RegistryDriver, SpawnError, TokioClock,
};
use failure_detector::{
    ConfigError, Event, FixedTimeout, FixedTimeoutConfig, ManualClock, NodeState, Registry,
    RegistryConfig, Timestamp,
};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};

/// Suspected after 3 missed heartbeats of `interval`.
fn fixed(interval: Duration) -> FixedTimeout {
    FixedTimeout::new(FixedTimeoutConfig::new().with_interval(interval)).unwrap()
}

/// A registry on tokio's clock (origin: now), Suspect after 15 s of silence,
/// Dead 10 s later, removed 60 s after that; nodes named "fast..." are
/// suspected after 3 s.
fn registry() -> (
    Arc<Registry<String, FixedTimeout>>,
    failure_detector::EventReceiver<String>,
    TokioClock,
) {
    let clock = TokioClock::new();
    let (registry, events) = Registry::with_factory(RegistryConfig::new(), |key: &String| {
        if key.starts_with("fast") {
            fixed(Duration::from_secs(1))
        } else {
            fixed(Duration::from_secs(5))
        }
    })
    .unwrap();
    (Arc::new(registry.with_clock(clock)), events, clock)
}

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn registry_driver_ticks_exactly_at_deadlines() {
    let (registry, events, clock) = registry();
    let origin = clock.origin();
    assert_eq!(
        registry.monotonic_clock().map(|m| m.origin()),
        Some(clock.monotonic().origin())
    );
    let driver = RegistryDriver::spawn(registry.clone()).unwrap();
    let handle = driver.handle();
    tokio::task::yield_now().await; // the driver is asleep, with nothing due
    registry.register_now("a".into()).unwrap();

    // Suspect at 15 s, Dead at 25 s, Removed at 85 s: one tick each, on the
    // millisecond (tokio's timer resolution).
    let at = |s: u64| origin + Duration::from_secs(s);
    for (deadline, ticks, state) in [(15, 1, None), (25, 2, None), (85, 3, None::<NodeState>)] {
        sleep_until(at(deadline) - MS).await;
        assert_eq!(handle.stats().ticks, ticks - 1, "before {deadline} s");
        sleep_until(at(deadline) + MS).await;
        assert_eq!(handle.stats().ticks, ticks, "at {deadline} s");
        let _ = state;
    }
    // Nothing scheduled: an hour passes without a tick or a wake.
    sleep_until(at(3_600)).await;
    assert_eq!(handle.stats().ticks, 3);
    assert_eq!(handle.stats().events, 3);
    assert_eq!(handle.stats().wakes, 1, "only the registration woke it");

    let seen: Vec<Event<String>> = events.try_iter().collect();
    let (ts, a) = (Timestamp::from_secs, || "a".to_string());
    assert_eq!(
        seen,
        [
            Event::Joined {
                node: a(),
                at: ts(0)
            },
            Event::Changed {
                node: a(),
                from: NodeState::Alive,
                to: NodeState::Suspect,
                at: ts(15)
            },
            Event::Changed {
                node: a(),
                from: NodeState::Suspect,
                to: NodeState::Dead,
                at: ts(25)
            },
            Event::Removed {
                node: a(),
                from: NodeState::Dead,
                at: ts(85)
            },
        ]
    );
    driver.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn registry_driver_wakes_early_for_an_earlier_deadline() {
    let (registry, events, clock) = registry();
    let origin = clock.origin();
    let driver = RegistryDriver::spawn(registry.clone()).unwrap();
    let handle = driver.handle();
    registry.register_now("slow".into()).unwrap(); // due at 15 s
    sleep_until(origin + Duration::from_secs(1)).await;
    // Due at 4 s, before the 15 s the driver sleeps until: it must wake.
    registry.register_now("fast".into()).unwrap();
    sleep_until(origin + Duration::from_secs(4) + MS).await;
    assert_eq!(registry.state("fast"), Some(NodeState::Suspect));
    assert_eq!(registry.state("slow"), Some(NodeState::Alive));
    assert_eq!(handle.stats().ticks, 1);
    // A node whose deadline is later than the driver's (15 s > 14 s for "fast"
    // Dead at 14 s) does not wake it.
    let wakes = handle.stats().wakes;
    registry.register_now("late".into()).unwrap(); // due at 19 s
    tokio::task::yield_now().await;
    assert_eq!(handle.stats().wakes, wakes);

    // A node joining through a heartbeat (accept_unknown) wakes it too.
    sleep_until(origin + Duration::from_secs(5)).await;
    registry.heartbeat_now("fast-2").unwrap(); // due at 8 s, before "fast" Dead at 14 s
    sleep_until(origin + Duration::from_secs(8) + MS).await;
    assert_eq!(registry.state("fast-2"), Some(NodeState::Suspect));

    let suspected: Vec<(String, Timestamp)> = events
        .try_iter()
        .filter(|e| e.to() == Some(NodeState::Suspect))
        .map(|e| (e.node().clone(), e.at()))
        .collect();
    assert_eq!(
        suspected,
        [
            ("fast".to_string(), Timestamp::from_secs(4)),
            ("fast-2".to_string(), Timestamp::from_secs(8))
        ]
    );
    driver.stop().await.unwrap();
    // Stopped: the waker is gone, registrations wake nobody.
    registry.register_now("after".into()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn registry_driver_does_not_spin_while_nodes_heartbeat() {
    let (registry, _events, clock) = registry();
    let origin = clock.origin();
    let driver = RegistryDriver::spawn(registry.clone()).unwrap();
    let handle = driver.handle();
    // 100 nodes heartbeat every second for 60 s: their deadlines keep moving
    // later, so the driver only wakes at stale deadlines (every ~15 s) and
    // finds them postponed.
    for s in 0..60u64 {
        sleep_until(origin + Duration::from_secs(s)).await;
        for n in 0..100 {
            registry.heartbeat_now(format!("n{n}").as_str()).unwrap();
        }
    }
    let stats = handle.stats();
    assert_eq!(registry.counts().alive, 100);
    assert_eq!(stats.events, 0);
    assert!(stats.ticks <= 5, "{stats:?}");
    assert!(stats.wakes <= 2, "{stats:?}");
    driver.stop().await.unwrap();
}

#[tokio::test]
async fn registry_driver_refuses_a_manual_clock() {
    let (registry, _events) =
        Registry::<u64, _>::new(RegistryConfig::new(), fixed(Duration::from_secs(1))).unwrap();
    let registry = Arc::new(registry.with_clock(ManualClock::new(Timestamp::ZERO)));
    assert!(registry.monotonic_clock().is_none());
    assert_eq!(
        RegistryDriver::spawn(registry).unwrap_err(),
        SpawnError::ClockNotMonotonic
    );
}

#[test]
fn spawning_outside_a_runtime_is_an_error() {
    let (registry, _events) =
        Registry::<u64, _>::new(RegistryConfig::new(), fixed(Duration::from_secs(1))).unwrap();
    assert_eq!(
        RegistryDriver::spawn(Arc::new(registry)).unwrap_err(),
        SpawnError::NoRuntime
    );
}

#[test]
fn member_driver_config_is_validated() {
    let c = MemberDriverConfig::new();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        c.with_event_capacity(0).validate(),
        Err(ConfigError::OutOfRange {
            field: "event_capacity",
            allowed: "1 to 2^20 events"
        })
    );
    assert!(c.with_event_capacity(1 << 21).validate().is_err());
    assert_eq!(
        c.with_hello_interval(Duration::ZERO).validate(),
        Err(ConfigError::NotPositive {
            field: "hello_interval"
        })
    );
    assert!(
        c.with_hello_interval(Duration::from_secs(7_200))
            .validate()
            .is_err()
    );
}

#[tokio::test]
async fn clocks_convert_on_one_origin() {
    let clock = TokioClock::new();
    let std = clock.monotonic();
    assert_eq!(std.origin(), clock.origin().into_std());
    for t in [0, 1, 1_000_000_007, 1 << 62, u64::MAX] {
        let t = Timestamp::from_nanos(t);
        assert_eq!(clock.timestamp_of(clock.instant_of(t)), t);
        assert_eq!(clock.instant_of(t).into_std(), std.instant_of(t));
    }
    // Before the origin: zero.
    if let Some(early) = clock.origin().checked_sub(Duration::from_secs(1)) {
        assert_eq!(clock.timestamp_of(early), Timestamp::ZERO);
    }
    assert_eq!(TokioClock::from(std), clock);
    // A registry given a TokioClock exposes its origin.
    let (registry, _events) =
        Registry::<u64, _>::new(RegistryConfig::new(), fixed(Duration::from_secs(1))).unwrap();
    let registry = registry.with_clock(clock);
    assert_eq!(
        registry.monotonic_clock().map(|m| m.origin()),
        Some(std.origin())
    );
    assert!(registry.now() <= clock.timestamp_of(Instant::now()));
}

// ---- The member driver over loopback UDP ----

/// SWIM five times faster than memberlist's LAN defaults: a 200 ms period and
/// 100 ms probe timeout, so a silent member is suspected within a few periods
/// and convicted 0.8 s (with confirmations) to 4.8 s later; live members on a
/// loaded 2-core machine still answer in time.
fn swim(id: u64) -> SwimMember<u64> {
    let config = SwimConfig::lan()
        .with_probe_interval(Duration::from_millis(200))
        .with_probe_timeout(Duration::from_millis(100))
        .with_seed(7);
    SwimMember::new(Member::new(id, 1), config).unwrap()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_member_is_declared_dead_and_the_live_ones_never() {
    const N: u64 = 4;
    let mut sockets = Vec::new();
    for _ in 0..N {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<_> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut drivers = Vec::new();
    let mut receivers = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let id = i as u64 + 1;
        // A static cluster: every address is given (a member learns others'
        // ids by gossip, but an address only from a frame they send it).
        let mut routes = Routes::new();
        for (j, addr) in addrs.iter().enumerate() {
            routes.insert(j as u64 + 1, *addr);
        }
        let (driver, events) =
            MemberDriver::spawn(socket, swim(id), routes, MemberDriverConfig::new()).unwrap();
        drivers.push(driver);
        receivers.push(events);
    }
    for d in &drivers[1..] {
        assert!(d.handle().join(&[1]));
    }
    let handles: Vec<_> = drivers.iter().map(|d| d.handle()).collect();
    let all_alive = |h: &failure_detector::runtime::MemberHandle<u64, SwimMember<u64>>| {
        (1..=N)
            .filter(|&j| j != h.me().id)
            .all(|j| h.state_of(&j) == Some(NodeState::Alive))
    };
    assert!(
        eventually(Duration::from_secs(5), || handles.iter().all(all_alive)).await,
        "the members did not all meet"
    );

    // Hostile datagrams at member 1: garbage, a frame for another member, a
    // bare heartbeat, a data frame whose payload is not a member's datagram.
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let frame = |kind, to: u64, payload: &[u8]| {
        Frame {
            kind,
            from: 99u64,
            to,
            payload,
        }
        .to_vec()
    };
    for bytes in [
        vec![],
        vec![0xFF; 3],
        vec![0xFD, 1, 0x7E, 1, 1],
        frame(FrameKind::Data, 42, b"x"),
        frame(FrameKind::Heartbeat, 1, b"seq"),
        frame(FrameKind::Data, 1, b"not swim"),
    ] {
        attacker.send_to(&bytes, addrs[0]).await.unwrap();
    }
    let h1 = handles[0].clone();
    assert!(
        eventually(Duration::from_secs(2), || {
            let s = h1.stats();
            s.bad_frames >= 3 && s.misaddressed >= 1 && s.ignored >= 1 && s.refused >= 1
        })
        .await,
        "{:?}",
        h1.stats()
    );
    assert_eq!(h1.state_of(&99), None, "a refused sender is not a member");

    // Stop member 4: it comes back as it was, and the others declare it dead.
    let stopped = drivers.pop().unwrap();
    let h4 = stopped.handle();
    let member4 = stopped.stop().await.unwrap();
    assert_eq!(member4.me(), &Member::new(N, 1));
    assert!(!h4.is_running());
    assert_eq!(h4.state_of(&1), None);
    assert!(!h4.join(&[1]));
    let survivors = &handles[..N as usize - 1];
    let dead = |h: &failure_detector::runtime::MemberHandle<u64, SwimMember<u64>>| {
        matches!(h.state_of(&N), Some(NodeState::Dead) | None)
    };
    if !eventually(Duration::from_secs(15), || survivors.iter().all(dead)).await {
        for (i, r) in receivers.iter_mut().enumerate() {
            while let Ok(e) = r.try_recv() {
                eprintln!("{}: {e:?}", i + 1);
            }
        }
        panic!(
            "member {N} was not declared dead within 15 s: {:?}",
            survivors.iter().map(|h| h.state_of(&N)).collect::<Vec<_>>()
        );
    }
    for h in survivors {
        for j in 1..N {
            if j != h.me().id {
                assert_eq!(
                    h.state_of(&j),
                    Some(NodeState::Alive),
                    "{j} at {}",
                    h.me().id
                );
            }
        }
        let s = h.stats();
        assert_eq!(
            (s.events_dropped, s.unroutable, s.send_errors),
            (0, 0, 0),
            "{s:?}"
        );
        assert!(s.ticks > 0 && s.sent > 0 && s.delivered > 0);
    }

    // The survivors' events: each saw member 4 dead, and no live member ever
    // dead (a live one may be suspected for a moment and refute, on a loaded
    // machine); per member, time never runs backwards.
    for (i, driver) in drivers.into_iter().enumerate() {
        let me = driver.handle().me().id;
        driver.stop().await.unwrap();
        let mut events = Vec::new();
        while let Ok(e) = receivers[i].try_recv() {
            events.push(e);
        }
        assert!(
            events.windows(2).all(|w| w[0].at() <= w[1].at()),
            "{events:?}"
        );
        let dead: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ClusterEvent::Changed {
                    member,
                    to: NodeState::Dead,
                    ..
                } => Some(member.id),
                _ => None,
            })
            .collect();
        assert_eq!(dead, [N], "member {me}: {events:?}");
    }
}

#[tokio::test]
async fn hellos_go_to_the_relay() {
    let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let member_addr = socket.local_addr().unwrap();
    let config = MemberDriverConfig::new()
        .with_relay(Some(relay.local_addr().unwrap()))
        .with_hello_interval(Duration::from_millis(50));
    let (driver, _events) = MemberDriver::spawn(socket, swim(5), Routes::new(), config).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..2 {
        let (len, from) = tokio::time::timeout(Duration::from_secs(2), relay.recv_from(&mut buf))
            .await
            .expect("a hello within 2 s")
            .unwrap();
        assert_eq!(from, member_addr);
        let frame = Frame::<u64>::decode(&buf[..len]).unwrap();
        assert_eq!((frame.kind, frame.from, frame.to), (FrameKind::Hello, 5, 5));
    }
    // Datagrams for members with no address of their own go to the relay too.
    assert!(driver.handle().join(&[6]));
    let got_data = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let (len, _) = relay.recv_from(&mut buf).await.unwrap();
            let frame = Frame::<u64>::decode(&buf[..len]).unwrap();
            if frame.kind == FrameKind::Data {
                return (frame.from, frame.to);
            }
        }
    })
    .await
    .expect("a data frame within 2 s");
    assert_eq!(got_data, (5, 6));
    assert!(driver.handle().stats().hellos >= 2);
    driver.stop().await.unwrap();
}

#[tokio::test]
async fn events_the_application_does_not_read_are_counted() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut ra = Routes::new();
    ra.insert(2, b_addr);
    let mut rb = Routes::new();
    rb.insert(1, a_addr);
    let config = MemberDriverConfig::new().with_event_capacity(1);
    // Member 1's receiver is dropped at once: nobody listens.
    let (d1, events1) = MemberDriver::spawn(a, swim(1), ra, config).unwrap();
    drop(events1);
    let (d2, mut events2) = MemberDriver::spawn(b, swim(2), rb, config).unwrap();
    assert!(d2.handle().join(&[1]));
    let (h1, h2) = (d1.handle(), d2.handle());
    assert!(
        eventually(Duration::from_secs(3), || {
            h1.state_of(&2) == Some(NodeState::Alive) && h2.state_of(&1) == Some(NodeState::Alive)
        })
        .await
    );
    // Member 1 joined 2 (one event), undeliverable: counted.
    assert!(h1.stats().events_dropped >= 1, "{:?}", h1.stats());
    assert_eq!(h1.stats().events, 0);
    // Member 2's channel holds one event; later ones are counted, not waited for.
    assert!(matches!(
        events2.recv().await,
        Some(ClusterEvent::Joined { .. })
    ));
    let _ = d1.stop().await.unwrap();
    let _ = d2.stop().await.unwrap();
}

/// The registry's deadline watch loses no wake-up: a watcher that got `d` from
/// `watch_next_deadline` and was not woken since never misses an earlier
/// deadline, while another thread registers nodes with ever earlier deadlines.
#[test]
fn the_deadline_watch_loses_no_wake_up() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    for round in 0..100u64 {
        let (registry, _events) =
            Registry::<u64, _>::new(RegistryConfig::new(), fixed(Duration::from_secs(1))).unwrap();
        let registry = Arc::new(registry);
        let wakes = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let counter = wakes.clone();
        registry.set_deadline_waker(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let writer = {
            let (registry, done) = (registry.clone(), done.clone());
            std::thread::spawn(move || {
                for k in 0..40u64 {
                    // Each deadline (registration + 3 s) is earlier than the last.
                    let at = Timestamp::from_secs(1_000 - k) + Duration::from_nanos(round);
                    registry.register(k, at).unwrap();
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        loop {
            let seen = wakes.load(Ordering::SeqCst);
            let deadline = registry.watch_next_deadline();
            while wakes.load(Ordering::SeqCst) == seen && !done.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            if wakes.load(Ordering::SeqCst) == seen {
                // Not woken since the watch, and the writer is done: nothing
                // earlier than the answer may have been published.
                let now = registry.next_deadline();
                assert!(
                    deadline.is_some() && now >= deadline,
                    "round {round}: slept until {deadline:?}, missed {now:?}"
                );
                break;
            }
        }
        writer.join().unwrap();
    }
}

/// A driver that stops does not remove the waker of one that replaced it: the
/// second driver still wakes for a node registered after the first stopped.
#[tokio::test(start_paused = true)]
async fn a_stopping_driver_leaves_a_newer_drivers_waker_in_place() {
    let (registry, _events, clock) = registry();
    let origin = clock.origin();
    let first = RegistryDriver::spawn(registry.clone()).unwrap();
    let second = RegistryDriver::spawn(registry.clone()).unwrap();
    let handle = second.handle();
    tokio::task::yield_now().await; // both asleep, with nothing due
    first.handle().stop();
    tokio::task::yield_now().await;
    registry.register_now("a".into()).unwrap(); // due at 15 s
    sleep_until(origin + Duration::from_secs(15) + MS).await;
    assert_eq!(registry.state("a"), Some(NodeState::Suspect));
    assert_eq!(handle.stats().ticks, 1);
}
