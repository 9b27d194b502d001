//! Registry throughput, tick cost and memory per node.
//!
//! * `registry_heartbeat/{1,2}_threads/{nodes}`: heartbeats per second into a
//!   registry of 1,000, 100,000 and 1,000,000 `u64`-keyed nodes with phi accrual at
//!   window 100 (`Throughput::Elements`: the total across threads), one
//!   `heartbeat` call each. Nodes heartbeat round robin, each once a second with up
//!   to 5% jitter, as a live cluster would; with 2 threads each thread owns half of
//!   the nodes.
//! * `registry_heartbeat/2_threads_by_shard/{nodes}`: as `2_threads`, but each
//!   thread owns the nodes of half of the shards (`Registry::shard_of`), as
//!   ingestion threads that route by shard would: no lock is shared.
//! * `registry_heartbeat_batch/...`: the same through `heartbeat_batch`, 1024
//!   heartbeats a call (with `2_threads_by_shard`, each thread's batches hold
//!   only the heartbeats of its own shards' nodes).
//! * `registry_heartbeat_now/{1,2}_threads/1000`: `heartbeat_now` on a
//!   `MonotonicClock` (read under the shard's lock), round robin over 1,000 nodes;
//!   with 2 threads each thread owns half of the nodes.
//! * `registry_tick/idle/{nodes}`: a tick when no deadline has passed.
//! * `registry_tick/live_every_10ms/{nodes}`: a tick every 10 ms of simulated time
//!   while every node heartbeats (the heartbeats are not timed): nothing expires,
//!   but heap entries left behind by heartbeats are renewed.
//! * `registry_tick/expire_1pct/1000000`: a tick in which 1% of the nodes (10,000)
//!   pass their deadline and become Suspect (events sent to a listener included).
//! * `registry_heartbeat_inline[_batch]/...`: as `registry_heartbeat[_batch]`, with
//!   the window inside the detector (`PhiAccrual<InlineMicros<100>>`), so each node
//!   is one block.
//! * `registry_heartbeat_ewma[_batch]/...`: the same with the constant-memory
//!   `EwmaPhi` (40 bytes per detector, no window).
//! * `registry_heartbeat[_inline|_ewma]_shuffled[_batch]/.../1000000`: the same
//!   into a million nodes, each node still once a period but in a fixed strided
//!   permutation of the keys (consecutive heartbeats go to nodes 435,769 keys
//!   apart), unrelated to the order they joined (and so to where they sit in
//!   memory): the round robin above visits each shard's nodes in memory order, which
//!   flatters detectors whose nodes are small or whose windows were allocated in
//!   join order.
//! * Before the benchmarks, the resident memory per node is printed for phi accrual
//!   at windows of 100 and 1000 (microseconds, the default, and milliseconds), at
//!   window 100 inline (`InlineMicros<100>`, `InlineMillis<100>`) and for `EwmaPhi`
//!   (Linux: from `/proc/self/statm`). `FAILURE_DETECTOR_BENCH_MEMORY_ONLY=1`
//!   prints it and stops.
//!
//! Each registry is built once per group, outside the timed code.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use failure_detector::{
    Confirmation, EventReceiver, EwmaPhi, EwmaPhiConfig, FailureDetector, InlineMicros,
    InlineMillis, MonotonicClock, PhiAccrual, PhiAccrualConfig, Registry, RegistryConfig,
    Resolution, Timestamp,
};

const PERIOD_NS: u64 = 1_000_000_000;
const BASE_NS: u64 = 1_000_000_000_000;
const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

type Reg<D = PhiAccrual> = Registry<u64, D>;

fn registry(window: usize, config: RegistryConfig) -> (Reg, EventReceiver<u64>) {
    let phi = PhiAccrual::new(PhiAccrualConfig::new().with_max_sample_size(window)).unwrap();
    Registry::new(config, phi).unwrap()
}

/// The time of round-robin heartbeat number `k` among `nodes`: node `k % nodes`, once
/// per period, jittered by up to 5% of the period (a node's heartbeats stay in order).
fn heartbeat_time(k: u64, nodes: u64) -> Timestamp {
    let mut x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    Timestamp::from_nanos(
        BASE_NS + k / nodes * PERIOD_NS + k % nodes * (PERIOD_NS / nodes) + x % (PERIOD_NS / 20),
    )
}

/// Which node sends heartbeat number `k`: `k % n` (round robin in the order the
/// nodes joined, so a shard's nodes are visited in the order they sit in memory),
/// or, `shuffled`, a fixed strided permutation of that (each node still once per
/// period, at a phase unrelated to when it joined: no locality between
/// consecutive heartbeats, as when senders' phases are unrelated to join order).
#[derive(Clone, Copy)]
struct Feed {
    n: u64,
    shuffled: bool,
}

impl Feed {
    const fn round_robin(n: u64) -> Self {
        Feed { n, shuffled: false }
    }

    #[inline]
    fn node(self, k: u64) -> u64 {
        let x = k % self.n;
        if self.shuffled {
            // A bijection of 0..n: the multiplier is odd and not a multiple of 5,
            // so coprime with every power of ten. x < n <= 10^6 and the multiplier
            // is below 2^32: the product fits a u64 (one division, as `k % n`).
            x * 0x9E37_79B9 % self.n
        } else {
            x
        }
    }

    #[inline]
    fn time(self, k: u64) -> Timestamp {
        heartbeat_time(k, self.n)
    }
}

/// Sends the heartbeats numbered `ks` (heartbeat `k` from node `feed.node(k)`) of
/// the nodes `mine` accepts: one `heartbeat` call each, or `batched` in
/// `heartbeat_batch` calls of up to [`BATCH`].
fn deliver<D: FailureDetector + Send>(
    reg: &Reg<D>,
    feed: Feed,
    ks: impl Iterator<Item = u64>,
    mine: impl Fn(u64) -> bool,
    batched: bool,
) {
    let mut batch = Vec::with_capacity(if batched { BATCH } else { 0 });
    for k in ks {
        let node = feed.node(k);
        if !mine(node) {
            continue;
        }
        if !batched {
            let _ = black_box(reg.heartbeat(&node, feed.time(k)));
            continue;
        }
        batch.push((node, feed.time(k)));
        if batch.len() == BATCH {
            black_box(reg.heartbeat_batch(&batch, |_, _| {}));
            batch.clear();
        }
    }
    if !batch.is_empty() {
        black_box(reg.heartbeat_batch(&batch, |_, _| {}));
    }
}

/// The heartbeat numbers `k` in `start..end` with `k % stride == offset`.
fn strided(start: u64, end: u64, offset: u64, stride: u64) -> impl Iterator<Item = u64> {
    let first = start + (offset + stride - start % stride) % stride;
    (first..end).step_by(stride as usize)
}

/// Sends heartbeats `start..end` of the round robin, those `k` with
/// `k % stride == offset`, one call each.
fn send<D: FailureDetector + Send>(
    reg: &Reg<D>,
    feed: Feed,
    start: u64,
    end: u64,
    offset: u64,
    stride: u64,
) {
    deliver(
        reg,
        feed,
        strided(start, end, offset, stride),
        |_| true,
        false,
    );
}

const BATCH: usize = 1024;

/// All of `start..end`, each thread sending only the heartbeats of the nodes it
/// owns (`owner[node] == thread`), one call each or `batched`.
fn send_owned<D: FailureDetector + Send>(
    reg: &Reg<D>,
    feed: Feed,
    (start, end): (u64, u64),
    owner: &[u8],
    thread: u8,
    batched: bool,
) {
    let mine = |node: u64| owner[node as usize] == thread;
    deliver(reg, feed, start..end, mine, batched);
}

/// Resident set size in bytes (Linux), for the memory report.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What a memory measurement watches: phi accrual at a window and resolution,
/// with its window on the heap or inline, or `EwmaPhi`.
#[derive(Clone, Copy)]
enum Watched {
    Phi { window: usize, millis: bool },
    InlineMicros100,
    InlineMillis100,
    Ewma,
}

impl Watched {
    const ALL: [(Watched, u64); 7] = [
        (
            Watched::Phi {
                window: 100,
                millis: false,
            },
            1_000_000,
        ),
        (
            Watched::Phi {
                window: 100,
                millis: true,
            },
            1_000_000,
        ),
        (Watched::InlineMicros100, 1_000_000),
        (Watched::InlineMillis100, 1_000_000),
        (
            Watched::Phi {
                window: 1000,
                millis: false,
            },
            100_000,
        ),
        (
            Watched::Phi {
                window: 1000,
                millis: true,
            },
            100_000,
        ),
        (Watched::Ewma, 1_000_000),
    ];
}

/// Adds `nodes` nodes of `fd` to a registry and returns the resident memory they
/// took per node, with a label.
fn grow<D: FailureDetector + Clone + Send + Sync + 'static>(
    fd: D,
    label: &str,
    nodes: u64,
) -> Option<(String, u64)> {
    let label = format!("{label} (the detector: {} bytes)", fd.memory_bytes());
    let before = resident_bytes()?;
    let (reg, _) = Registry::new(RegistryConfig::new(), fd).unwrap();
    send(&reg, Feed::round_robin(nodes), 0, nodes, 0, 1);
    let after = resident_bytes().unwrap_or(before);
    black_box(&reg);
    Some((label, (after - before) / nodes))
}

/// Adds `nodes` nodes and prints the resident memory they took. Run in a child
/// process each, so that memory freed by one measurement (and kept by the
/// allocator) does not hide the next one's growth.
fn measure_memory(watched: Watched, nodes: u64) {
    let phi = |window: usize, resolution: Resolution| {
        PhiAccrualConfig::new()
            .with_max_sample_size(window)
            .with_resolution(resolution)
    };
    let (us, ms) = (Resolution::Microsecond, Resolution::Millisecond);
    let measured = match watched {
        Watched::Phi { window, millis } => {
            let resolution = if millis { ms } else { us };
            let label = format!("phi window {window:>4}, {resolution:?}");
            grow(
                PhiAccrual::new(phi(window, resolution)).unwrap(),
                &label,
                nodes,
            )
        }
        Watched::InlineMicros100 => {
            let fd = PhiAccrual::<InlineMicros<100>>::with_storage(phi(100, us)).unwrap();
            grow(fd, "phi window  100, InlineMicros<100>", nodes)
        }
        Watched::InlineMillis100 => {
            let fd = PhiAccrual::<InlineMillis<100>>::with_storage(phi(100, ms)).unwrap();
            grow(fd, "phi window  100, InlineMillis<100>", nodes)
        }
        Watched::Ewma => grow(
            EwmaPhi::new(EwmaPhiConfig::new()).unwrap(),
            "EwmaPhi",
            nodes,
        ),
    };
    match measured {
        Some((label, bytes)) => println!("  {label}: {bytes:>5} bytes per node over {nodes} nodes"),
        None => println!("  /proc/self/statm not readable: skipped"),
    }
}

const MEMORY_ENV: &str = "FAILURE_DETECTOR_BENCH_MEMORY";

fn report_memory() {
    println!("registry memory per node (resident set growth while adding nodes, u64 keys):");
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    for (i, (_, nodes)) in Watched::ALL.iter().enumerate() {
        let status = std::process::Command::new(&exe)
            .env(MEMORY_ENV, format!("{i},{nodes}"))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            println!("  measurement {i} failed");
        }
    }
}

/// Times `iters` heartbeats numbered on from `next`, sent by `threads` threads:
/// `send(start, end, j, threads)` sends the heartbeats `k` in `start..end` with
/// `k = j (mod threads)` (with an even node count, the nodes `k mod threads = j`).
fn timed_split(
    next: &AtomicU64,
    iters: u64,
    threads: u64,
    send: impl Fn(u64, u64, u64, u64) + Sync,
) -> Duration {
    let start = next.fetch_add(iters, Ordering::Relaxed);
    let end = start + iters;
    let began = Instant::now();
    if threads == 1 {
        send(start, end, 0, 1);
    } else {
        thread::scope(|s| {
            for j in 0..threads {
                let send = &send;
                s.spawn(move || send(start, end, j, threads));
            }
        });
    }
    began.elapsed()
}

/// The `heartbeat` and `heartbeat_batch` groups (`{prefix}` and `{prefix}_batch`)
/// for registries of `fd`.
fn heartbeats<D: FailureDetector + Clone + Send + Sync + 'static>(
    c: &mut Criterion,
    prefix: &str,
    fd: D,
    sizes: &[u64],
    shuffled: bool,
) {
    for &nodes in sizes {
        let feed = Feed { n: nodes, shuffled };
        let (reg, _) = Registry::<u64, D>::new(RegistryConfig::new(), fd.clone()).unwrap();
        let next = AtomicU64::new(0);
        // Nodes join in the order of their keys (so they sit in memory in that
        // order), then one round in the feed's order.
        send(&reg, Feed::round_robin(nodes), 0, nodes, 0, 1);
        send(&reg, feed, nodes, 2 * nodes, 0, 1);
        next.store(2 * nodes, Ordering::Relaxed);
        assert_eq!(reg.len() as u64, nodes);

        let batch_name = format!("{prefix}_batch");
        for (name, batched) in [(prefix, false), (batch_name.as_str(), true)] {
            let mut group = c.benchmark_group(name);
            group.throughput(Throughput::Elements(1));
            for threads in [1u64, 2] {
                let id = BenchmarkId::new(format!("{threads}_threads"), nodes);
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        timed_split(&next, iters, threads, |start, end, j, threads| {
                            let ks = strided(start, end, j, threads);
                            deliver(&reg, feed, ks, |_| true, batched)
                        })
                    })
                });
            }
            // Each thread owns the nodes of half of the shards.
            let owner: Vec<u8> = (0..nodes).map(|n| (reg.shard_of(&n) % 2) as u8).collect();
            let id = BenchmarkId::new("2_threads_by_shard", nodes);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let start = next.fetch_add(iters, Ordering::Relaxed);
                    let end = start + iters;
                    let began = Instant::now();
                    thread::scope(|s| {
                        for j in 0..2u8 {
                            let (reg, owner) = (&reg, &owner);
                            s.spawn(move || send_owned(reg, feed, (start, end), owner, j, batched));
                        }
                    });
                    began.elapsed()
                })
            });
            group.finish();
        }
        // The registry saw heartbeats only, in time: nobody changed state.
        assert_eq!(reg.counts().alive as u64, nodes);
    }
}

fn ticks(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry_tick");
    for nodes in SIZES {
        let (reg, _) = registry(100, RegistryConfig::new());
        send(&reg, Feed::round_robin(nodes), 0, 3 * nodes, 0, 1);
        // Settle: the heap entries pushed when the nodes joined come due first.
        let now = heartbeat_time(3 * nodes, nodes);
        reg.tick(now);
        group.bench_function(BenchmarkId::new("idle", nodes), |b| {
            b.iter(|| black_box(reg.tick(black_box(now))))
        });

        // Live: everyone heartbeats (untimed), and a tick runs every 10 ms of
        // simulated time. Nothing expires, but the heap entries of nodes whose
        // deadline moved on since they were scheduled come due and are pushed
        // again: about one per node per deadline horizon (4.5 s here).
        let mut k = 3 * nodes;
        group.bench_function(BenchmarkId::new("live_every_10ms", nodes), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    send(&reg, Feed::round_robin(nodes), k, k + nodes / 100, 0, 1);
                    k += nodes / 100;
                    let now = heartbeat_time(k, nodes);
                    let began = Instant::now();
                    black_box(reg.tick(now));
                    timed += began.elapsed();
                }
                timed
            })
        });
        assert_eq!(reg.counts().alive as u64, nodes);
    }

    // 1% expire per tick: node i's only heartbeat is at i us, so deadlines are spread
    // evenly over 1 s; each tick moves 10 ms on. Suspect nodes stay Suspect (an hour
    // of confirmation). After 100 ticks everyone is Suspect: a heartbeat round
    // (untimed) brings them back.
    let nodes = 1_000_000u64;
    let config =
        RegistryConfig::new().with_confirmation(Confirmation::After(Duration::from_secs(3600)));
    let (reg, events) = registry(100, config);
    let spacing = 1_000; // ns
    let mut epoch = BASE_NS;
    let revive = |epoch: u64| {
        for i in 0..nodes {
            reg.heartbeat(&i, Timestamp::from_nanos(epoch + i * spacing))
                .unwrap();
        }
    };
    revive(epoch);
    let first_deadline = reg.next_deadline().unwrap().as_nanos();
    let mut now = first_deadline;
    let mut round = 0;
    let step = nodes / 100 * spacing;
    events.try_iter().count();
    group.throughput(Throughput::Elements(nodes / 100));
    group.bench_function(BenchmarkId::new("expire_1pct", nodes), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                if round == 100 {
                    epoch = now + PERIOD_NS;
                    revive(epoch);
                    now = epoch + (first_deadline - BASE_NS);
                    round = 0;
                    events.try_iter().count();
                }
                now += step;
                round += 1;
                let began = Instant::now();
                let changed = reg.tick(Timestamp::from_nanos(now - 1));
                timed += began.elapsed();
                assert_eq!(changed as u64, nodes / 100);
                events.try_iter().count();
            }
            timed
        })
    });
    group.finish();
}

/// `heartbeat_now` calls for the nodes `k % nodes` with `k % stride == offset`.
fn send_now(reg: &Reg, nodes: u64, start: u64, end: u64, offset: u64, stride: u64) {
    let mut k = start + (offset + stride - start % stride) % stride;
    while k < end {
        let _ = black_box(reg.heartbeat_now(&(k % nodes)));
        k += stride;
    }
}

/// `registry_heartbeat_ewma`: one `heartbeat` call each into `EwmaPhi` nodes.
fn heartbeats_now(c: &mut Criterion) {
    let nodes = 1_000;
    let (reg, _) = registry(100, RegistryConfig::new());
    let reg = reg.with_clock(MonotonicClock::new());
    send_now(&reg, nodes, 0, 2 * nodes, 0, 1);
    let next = AtomicU64::new(2 * nodes);
    let mut group = c.benchmark_group("registry_heartbeat_now");
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 2] {
        let id = BenchmarkId::new(format!("{threads}_threads"), nodes);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                timed_split(&next, iters, threads, |start, end, j, threads| {
                    send_now(&reg, nodes, start, end, j, threads)
                })
            })
        });
    }
    group.finish();
}

fn main() {
    if let Ok(spec) = std::env::var(MEMORY_ENV) {
        let mut parts = spec.split(',').map(|p| p.parse::<u64>().unwrap_or(0));
        let i = parts.next().unwrap_or(0) as usize;
        let nodes = parts.next().unwrap_or(1);
        let (watched, _) = Watched::ALL[i.min(Watched::ALL.len() - 1)];
        measure_memory(watched, nodes.max(1));
        return;
    }
    report_memory();
    if std::env::var_os("FAILURE_DETECTOR_BENCH_MEMORY_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let phi = PhiAccrualConfig::new().with_max_sample_size(100);
    let heap = PhiAccrual::new(phi).unwrap();
    let inline = PhiAccrual::<InlineMicros<100>>::with_storage(phi).unwrap();
    let ewma = EwmaPhi::new(EwmaPhiConfig::new()).unwrap();
    heartbeats(&mut c, "registry_heartbeat", heap.clone(), &SIZES, false);
    heartbeats(
        &mut c,
        "registry_heartbeat_inline",
        inline.clone(),
        &SIZES,
        false,
    );
    heartbeats(
        &mut c,
        "registry_heartbeat_ewma",
        ewma.clone(),
        &SIZES,
        false,
    );
    let million = [1_000_000];
    heartbeats(&mut c, "registry_heartbeat_shuffled", heap, &million, true);
    heartbeats(
        &mut c,
        "registry_heartbeat_inline_shuffled",
        inline,
        &million,
        true,
    );
    heartbeats(
        &mut c,
        "registry_heartbeat_ewma_shuffled",
        ewma,
        &million,
        true,
    );
    heartbeats_now(&mut c);
    ticks(&mut c);
    c.final_summary();
}
