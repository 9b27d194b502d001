//! End-to-end heartbeats per second through `net::UdpMonitor` over loopback UDP.
//!
//! A timed bench (`harness = false`), not criterion: the monitor runs in this
//! process (on a thread of its own, `run_until`) and feeds a `Registry<u64>` of phi
//! accrual detectors (Akka's defaults, window 100, `RandomState` hashing, 64 shards)
//! in which every node was registered beforehand. `SENDERS` sender processes
//! (this binary, re-executed with `FD_UDP_MONITOR_SENDER` set) send heartbeat
//! frames to it, round robin over their share of the node ids: with `sendmmsg`, 64
//! datagrams a call, where the `batch-recv` feature and the platform offer it
//! (nix), else one `send` per datagram. Each scenario is measured over
//! `FD_BENCH_SECS` seconds (default 2) after 0.3 s of warm-up:
//!
//! * offered: datagrams the senders sent per second (their counts, read at the
//!   start and end of the window through their stdin and stdout);
//! * received and accepted: what the monitor read, and what the registry took, per
//!   second; loss = 1 - received / offered (the socket's queue overflowed);
//! * where the monitor's time goes, per heartbeat: in the receive calls (waiting
//!   included: read it with the monitor's CPU share), decoding, and the registry
//!   (heartbeats and ticks), and the registry's share of the three;
//! * the monitor thread's CPU use (Linux, `/proc/self/task/<tid>/schedstat`), its
//!   CPU time per heartbeat, and the rate that makes for one whole core: on a
//!   shared machine the wall-clock figures above depend on what else runs, this
//!   one much less.
//!
//! Scenarios: batched (`recvmmsg`) and unbatched (`recv` loop) receives, 10,000 and
//! 100,000 nodes, the senders flooding (as fast as they can: the most the monitor
//! processes while sharing the machine's cores with them), then paced at
//! `FD_BENCH_RATE` heartbeats per second in all (default 300,000: the issue's
//! target). Without `--features batch-recv` only the unbatched rows run.
//!
//! `cargo bench --bench udp_monitor --features batch-recv`; about 30 s. Senders
//! exit when their stdin closes, and a guard kills them if the bench fails.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use failure_detector::net::monitor::BATCH_RECV_AVAILABLE;
use failure_detector::net::{Frame, FrameKind, MonitorConfig, MonitorStats, UdpMonitor};
use failure_detector::{
    MonotonicClock, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig, Timestamp,
};

const SENDER_ENV: &str = "FD_UDP_MONITOR_SENDER";
const MONITOR_ID: u64 = u64::MAX;
const SEND_BATCH: usize = 64;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(spec) = std::env::var(SENDER_ENV) {
        sender(&spec);
        return;
    }
    let secs: f64 = env_or("FD_BENCH_SECS", 2.0);
    let senders: u64 = env_or("FD_BENCH_SENDERS", 2);
    let rate: u64 = env_or("FD_BENCH_RATE", 300_000);
    let window = Duration::from_secs_f64(secs.clamp(0.5, 10.0));
    println!("udp_monitor: {}", cpu_name());
    println!(
        "batched receive (recvmmsg) {}; senders use {}; {senders} sender processes; \
         {:.1} s per row",
        if BATCH_RECV_AVAILABLE {
            "available"
        } else {
            "NOT available (build with --features batch-recv on Linux)"
        },
        if BATCH_RECV_AVAILABLE {
            "sendmmsg (64 a call)"
        } else {
            "send"
        },
        window.as_secs_f64()
    );
    feed_comparison();
    if std::env::var_os("FD_BENCH_FEED_ONLY").is_some() {
        return;
    }
    let modes: &[bool] = if BATCH_RECV_AVAILABLE {
        &[true, false]
    } else {
        &[false]
    };
    println!(
        "\n{:<9} {:>7} {:>8} {:>10} {:>10} {:>10} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>6} {:>5} {:>7} {:>9}",
        "receive",
        "nodes",
        "load",
        "offered/s",
        "received/s",
        "accepted/s",
        "loss",
        "batch",
        "calls",
        "recv ns",
        "decode ns",
        "regist ns",
        "reg %",
        "cpu",
        "cpu ns",
        "1 core/s"
    );
    for nodes in [10_000, 100_000] {
        let (registry, warm) = warmed_registry(nodes, rate);
        for load in [0, rate] {
            for &batched in modes {
                match run(&registry, batched, nodes, senders, load, window) {
                    Ok(row) => row.print(),
                    Err(e) => println!("{batched} {nodes} {load}: failed: {e}"),
                }
            }
        }
        println!("  ({nodes} nodes registered and warmed in {warm:.1} s)");
    }
    println!(
        "\nbatch: datagrams per batch; calls: receive system calls per batch; ns: per \
         heartbeat received, in the receive calls (waiting included), decoding, the \
         registry; reg %: the registry's share of the three; cpu: the monitor thread's \
         CPU use (of one core); cpu ns: the monitor thread's CPU time per heartbeat \
         received; 1 core/s: the heartbeats per second that makes for one whole core \
         (the monitor's capacity if it had a core to itself, senders elsewhere)."
    );
}

/// In process, no socket: the registry's cost per heartbeat when a monitor's
/// batches of 64 go through `heartbeat_batch` (what `UdpMonitor` does) or through
/// one `heartbeat` call each.
fn feed_comparison() {
    for nodes in [10_000u64, 100_000] {
        let mut line = format!("registry feed, batches of 64 over {nodes} warmed nodes:");
        let (registry, _) = warmed_registry(nodes, 1_000_000);
        // Round robin on from the warm-up's schedule: 1 us per heartbeat.
        let mut at = registry.now().as_nanos();
        let mut batch = Vec::with_capacity(64);
        let mut next = 0u64;
        // Alternated, best of three each: the machine is shared.
        let mut best = [f64::INFINITY; 2];
        for round in 0..6 {
            let batch_call = round % 2 == 0;
            let mut count = 0u64;
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(100) {
                for _ in 0..100 {
                    batch.clear();
                    for _ in 0..64 {
                        at += 1_000;
                        batch.push((next, Timestamp::from_nanos(at)));
                        next = (next + 1) % nodes;
                    }
                    if batch_call {
                        std::hint::black_box(registry.heartbeat_batch(&batch, |_, _| {}));
                    } else {
                        for (node, at) in &batch {
                            let _ = std::hint::black_box(registry.heartbeat(node, *at));
                        }
                    }
                    registry.tick(Timestamp::from_nanos(at));
                    count += 64;
                }
            }
            let ns = t0.elapsed().as_nanos() as f64 / count as f64;
            let slot = &mut best[usize::from(!batch_call)];
            *slot = slot.min(ns);
        }
        line += &format!(
            "  heartbeat_batch {:.0} ns, heartbeat each {:.0} ns",
            best[0], best[1]
        );
        println!("{line} (wall clock per heartbeat, tick included, best of 3)");
    }
}

/// The CPU's name as `lscpu` gives it ("Model name", from /proc/cpuinfo).
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
        + &format!(
            ", {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
}

struct Row {
    batched: bool,
    nodes: u64,
    load: u64,
    secs: f64,
    sent: u64,
    stats: MonitorStats,
    cpu_ns: Option<u64>,
}

impl Row {
    fn print(&self) {
        let s = &self.stats;
        let per = |x: u64| x as f64 / self.secs;
        let cpu_per_hb = self
            .cpu_ns
            .filter(|_| s.received > 0)
            .map(|ns| ns as f64 / s.received as f64);
        let per_hb = |d: Duration| d.as_nanos() as f64 / s.received.max(1) as f64;
        let (r, d, g) = (
            per_hb(s.receive_time),
            per_hb(s.decode_time),
            per_hb(s.registry_time),
        );
        println!(
            "{:<9} {:>7} {:>8} {:>10.0} {:>10.0} {:>10.0} {:>5.1}% {:>6.1} {:>6.2} {:>9.0} {:>9.1} {:>9.0} {:>5.1}% {:>4} {:>7} {:>9}",
            if self.batched { "recvmmsg" } else { "recv" },
            self.nodes,
            if self.load == 0 {
                "flood".to_string()
            } else {
                format!("{}k/s", self.load / 1000)
            },
            per(self.sent),
            per(s.received),
            per(s.accepted),
            100.0 * (1.0 - s.received as f64 / self.sent.max(1) as f64).max(0.0),
            s.received as f64 / s.batches.max(1) as f64,
            s.receive_calls as f64 / s.batches.max(1) as f64,
            r,
            d,
            g,
            100.0 * g / (r + d + g).max(1e-9),
            self.cpu_ns.map_or("?".into(), |ns| format!(
                "{:.0}%",
                100.0 * ns as f64 / 1e9 / self.secs
            )),
            cpu_per_hb.map_or("?".into(), |ns| format!("{ns:.0}")),
            cpu_per_hb.map_or("?".into(), |ns| format!("{:.0}", 1e9 / ns.max(1.0))),
        );
    }
}

/// The sender processes; closing their stdin makes them exit, and dropping the
/// guard kills whatever is left.
struct Senders(Vec<(Child, Option<ChildStdin>, BufReader<ChildStdout>)>);

impl Senders {
    /// The datagrams sent so far by all senders.
    fn sent(&mut self) -> std::io::Result<u64> {
        for (_, stdin, _) in &mut self.0 {
            if let Some(stdin) = stdin {
                stdin.write_all(b"r\n")?;
                stdin.flush()?;
            }
        }
        let mut total = 0;
        for (_, _, stdout) in &mut self.0 {
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            total += line
                .trim()
                .parse::<u64>()
                .map_err(|e| std::io::Error::other(format!("sender said {line:?}: {e}")))?;
        }
        Ok(total)
    }
}

impl Drop for Senders {
    fn drop(&mut self) {
        for (child, stdin, _) in &mut self.0 {
            drop(stdin.take());
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// On-CPU nanoseconds of thread `tid` of this process (Linux).
fn thread_cpu_ns(tid: u64) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The calling thread's id (Linux: `/proc/thread-self` links to `<pid>/task/<tid>`).
fn current_tid() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

type Reg = Registry<u64, PhiAccrual>;

/// Heartbeats per node before a registry is measured: enough for phi's
/// statistics to settle (the window holds 100), so that the rows show a monitor in
/// its steady state rather than detectors still learning (whose deadlines move
/// earlier with almost every heartbeat, each move a heap push).
const WARM_HEARTBEATS: u64 = 30;

/// A registry of `nodes` phi accrual detectors (Akka's defaults), each with
/// [`WARM_HEARTBEATS`] heartbeats in its past at the interval it would see at
/// `rate` heartbeats per second in all; its clock's origin is set back so that
/// the last of them was a moment ago. Returns it and the seconds it took.
fn warmed_registry(nodes: u64, rate: u64) -> (Arc<Reg>, f64) {
    let t0 = Instant::now();
    let interval_ns = nodes * 1_000_000_000 / rate.max(1);
    let history = Duration::from_nanos(interval_ns * (WARM_HEARTBEATS + 1));
    let origin = Instant::now()
        .checked_sub(history)
        .unwrap_or_else(Instant::now);
    let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
    let (registry, events) =
        Registry::<u64, _>::new(RegistryConfig::new().with_accept_unknown(false), phi).unwrap();
    drop(events);
    let registry = registry.with_clock(MonotonicClock::with_origin(origin));
    for node in 0..nodes {
        registry
            .register(node, Timestamp::from_nanos(node * interval_ns / nodes))
            .unwrap();
    }
    let mut batch = Vec::with_capacity(1024);
    for k in 1..=WARM_HEARTBEATS {
        for node in 0..nodes {
            let at = k * interval_ns + node * interval_ns / nodes;
            batch.push((node, Timestamp::from_nanos(at)));
            if batch.len() == 1024 {
                registry.heartbeat_batch(&batch, |_, _| {});
                batch.clear();
            }
        }
    }
    registry.heartbeat_batch(&batch, |_, _| {});
    registry.tick_now();
    (Arc::new(registry), t0.elapsed().as_secs_f64())
}

fn run(
    registry: &Arc<Reg>,
    batched: bool,
    nodes: u64,
    senders: u64,
    load: u64,
    window: Duration,
) -> Result<Row, Box<dyn std::error::Error>> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    set_receive_buffer(&socket);
    let address = socket.local_addr()?;
    let config = MonitorConfig::new().with_batched(batched);
    let mut monitor = UdpMonitor::new(socket, Arc::clone(registry), MONITOR_ID, config)?;
    let stats = monitor.stats_handle();

    let exe = std::env::current_exe()?;
    let mut children = Senders(Vec::new());
    for j in 0..senders {
        let mut child = Command::new(&exe)
            .env(
                SENDER_ENV,
                format!("{address},{j},{senders},{nodes},{}", load / senders),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        children.0.push((child, stdin, BufReader::new(stdout)));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tid = Arc::new(AtomicU64::new(0));
    let thread = {
        let (stop, tid) = (Arc::clone(&stop), Arc::clone(&tid));
        std::thread::spawn(move || {
            tid.store(current_tid(), Ordering::Relaxed);
            monitor.run_until(&stop)
        })
    };
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop_guard = Stop(stop);

    std::thread::sleep(Duration::from_millis(300));
    let tid = tid.load(Ordering::Relaxed);
    let sent0 = children.sent()?;
    let (stats0, cpu0, t0) = (stats.get(), thread_cpu_ns(tid), Instant::now());
    std::thread::sleep(window);
    let sent1 = children.sent()?;
    let (stats1, cpu1, t1) = (stats.get(), thread_cpu_ns(tid), Instant::now());
    drop(stop_guard);
    drop(children);
    thread.join().map_err(|_| "monitor thread panicked")??;

    Ok(Row {
        batched,
        nodes,
        load,
        secs: (t1 - t0).as_secs_f64(),
        sent: sent1 - sent0,
        stats: diff(&stats1, &stats0),
        cpu_ns: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

fn diff(b: &MonitorStats, a: &MonitorStats) -> MonitorStats {
    let mut d = *b;
    d.batches -= a.batches;
    d.receive_calls -= a.receive_calls;
    d.received -= a.received;
    d.accepted -= a.accepted;
    d.receive_time -= a.receive_time;
    d.decode_time -= a.decode_time;
    d.registry_time -= a.registry_time;
    d
}

/// 4 MiB of receive buffer (capped by `net.core.rmem_max`), so that a scheduling
/// hiccup of the monitor does not turn into loss at once. Linux with nix only;
/// elsewhere the default.
fn set_receive_buffer(socket: &UdpSocket) {
    #[cfg(all(feature = "batch-recv", target_os = "linux"))]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(socket, sockopt::RcvBuf, &(4 << 20));
    }
    let _ = socket;
}

/// A sender process: `address,index,count,nodes,rate` (rate 0: flood). Sends
/// heartbeats for nodes `index, index + count, ...` below `nodes`, round robin,
/// until its stdin closes; answers each line on stdin with its count of sent
/// datagrams.
fn sender(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [address, index, count, nodes, rate] = parts[..] else {
        eprintln!("sender: bad spec {spec:?}");
        std::process::exit(2);
    };
    let address: SocketAddr = address.parse().expect("address");
    let (index, count, nodes, rate): (u64, u64, u64, u64) = (
        index.parse().expect("index"),
        count.parse().expect("count"),
        nodes.parse().expect("nodes"),
        rate.parse().expect("rate"),
    );
    let sent = Arc::new(AtomicU64::new(0));
    {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout();
            for line in stdin.lock().lines() {
                if line.is_err() {
                    break;
                }
                let _ = writeln!(out, "{}", sent.load(Ordering::Relaxed));
                let _ = out.flush();
            }
            std::process::exit(0);
        });
    }
    let frames: Vec<Vec<u8>> = (index..nodes)
        .step_by(count as usize)
        .map(|node| {
            Frame {
                kind: FrameKind::Heartbeat,
                from: node,
                to: MONITOR_ID,
                payload: &[],
            }
            .to_vec()
        })
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(address).expect("connect");
    let start = Instant::now();
    let mut next = 0;
    let mut total = 0u64;
    loop {
        let n = send_batch(&socket, &frames, &mut next);
        total += n as u64;
        sent.store(total, Ordering::Relaxed);
        if rate > 0 {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            let elapsed = start.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
}

/// Sends the next [`SEND_BATCH`] frames (round robin from `next`); returns how
/// many were sent.
#[cfg(all(feature = "batch-recv", target_os = "linux"))]
fn send_batch(socket: &UdpSocket, frames: &[Vec<u8>], next: &mut usize) -> usize {
    use nix::sys::socket::{MsgFlags, MultiHeaders, sendmmsg};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;
    thread_local! {
        static HEADERS: std::cell::RefCell<MultiHeaders<()>> =
            std::cell::RefCell::new(MultiHeaders::preallocate(SEND_BATCH, None));
    }
    let iovs: [[IoSlice<'_>; 1]; SEND_BATCH] =
        std::array::from_fn(|i| [IoSlice::new(&frames[(*next + i) % frames.len()])]);
    let addrs = [None::<()>; SEND_BATCH];
    let sent = HEADERS.with(|h| {
        let mut h = h.borrow_mut();
        sendmmsg(
            socket.as_raw_fd(),
            &mut h,
            &iovs,
            addrs,
            [],
            MsgFlags::empty(),
        )
        .map_or(0, |r| r.count())
    });
    *next = (*next + sent) % frames.len();
    sent
}

#[cfg(not(all(feature = "batch-recv", target_os = "linux")))]
fn send_batch(socket: &UdpSocket, frames: &[Vec<u8>], next: &mut usize) -> usize {
    let mut sent = 0;
    for _ in 0..SEND_BATCH {
        if socket.send(&frames[*next]).is_ok() {
            sent += 1;
        }
        *next = (*next + 1) % frames.len();
    }
    sent
}
