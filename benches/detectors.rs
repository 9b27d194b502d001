//! Cost of the hot-path operations of every detector, at window sizes 100 and 1000.
//!
//! Heartbeats follow a prepared trace: 100 ms intervals with +-5 ms of deterministic
//! jitter (4096 precomputed intervals, cycled). Queries are made in two regimes:
//! (a) 10 ms after the last heartbeat, where phi is 0 (the common case), and
//! (b) at mean + acceptable pause + 1 standard deviation of silence, where phi is
//!     about 0.3-1 and the transcendental math runs.
//!
//! The phi detectors use Akka's defaults, under which this trace's 2.9 ms standard
//! deviation is below the 100 ms minimum; `phi_logistic_jittery` lowers the minimum
//! to 1 ms so that every heartbeat pays for the square root and division.
//!
//! `ewma_phi_logistic/0` and `ewma_phi_exponential/0`: the constant-memory `EwmaPhi`
//! (no window; Akka's defaults and RFC 6298's gains).
//!
//! `phi_logistic_inline/{100,1000}` and `phi_logistic_jittery_inline/{100,1000}`: as
//! `phi_logistic` and `phi_logistic_jittery`, with the window inside the detector
//! (`PhiAccrual<InlineMicros<N>>`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use failure_detector::{
    EwmaModel, EwmaPhi, EwmaPhiConfig, ExponentialPhi, ExponentialPhiConfig, FailureDetector,
    FixedTimeout, FixedTimeoutConfig, InlineMicros, PhiAccrual, PhiAccrualConfig, PhiModel,
    Timestamp, WindowStorage,
};

const TRACE_LEN: usize = 4096;
const SHORTLY_AFTER: u64 = 10_000_000; // regime (a): 10 ms after a heartbeat

/// 100 ms +- 5 ms, from a fixed-seed LCG.
fn trace() -> Vec<u64> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..TRACE_LEN)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            95_000_000 + (state >> 33) % 10_000_001
        })
        .collect()
}

/// Feeds `n` heartbeats from the trace; returns the time of the last.
fn warm<D: FailureDetector>(fd: &mut D, intervals: &[u64], n: usize) -> u64 {
    let mut t = 1_000_000_000;
    for i in 0..n {
        t += intervals[i % TRACE_LEN];
        fd.heartbeat(Timestamp::from_nanos(t)).unwrap();
    }
    t
}

/// Regime (b) query offset: one standard deviation past mean + pause.
fn rising_offset<D: FailureDetector>(fd: &D, pause: Duration, min_std: Duration) -> u64 {
    let s = fd.stats();
    (s.mean_ns + pause.as_nanos() as f64 + s.std_dev_ns.max(min_std.as_nanos() as f64)) as u64
}

fn bench_detector<D: FailureDetector>(
    c: &mut Criterion,
    name: &str,
    window: usize,
    make: impl Fn() -> D,
    rising: u64,
) {
    let intervals = trace();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let id = |op: &str| BenchmarkId::new(op, window);

    group.bench_function(id("heartbeat"), |b| {
        let mut fd = make();
        let mut t = warm(&mut fd, &intervals, 2 * window);
        let mut i = 0usize;
        b.iter(|| {
            t += intervals[i & (TRACE_LEN - 1)];
            i += 1;
            // is_ok(): hand criterion a bool. Black-boxing the whole Result makes it
            // reload 24 bytes of which the Ok path wrote one, a store-forwarding stall
            // that costs more than the heartbeat itself.
            black_box(&mut fd)
                .heartbeat(Timestamp::from_nanos(t))
                .is_ok()
        })
    });

    let mut fd = make();
    let last = warm(&mut fd, &intervals, 2 * window);
    for (op, offset) in [("suspicion_a", SHORTLY_AFTER), ("suspicion_b", rising)] {
        let now = Timestamp::from_nanos(last + offset);
        group.bench_function(id(op), |b| {
            b.iter(|| black_box(&fd).suspicion(black_box(now)))
        });
    }
    let now = Timestamp::from_nanos(last + rising);
    group.bench_function(id("is_available"), |b| {
        b.iter(|| black_box(&fd).is_available(black_box(now)))
    });

    for (op, offset) in [
        ("heartbeat+suspicion_a", SHORTLY_AFTER),
        ("heartbeat+suspicion_b", rising),
    ] {
        group.bench_function(id(op), |b| {
            let mut fd = make();
            let mut t = warm(&mut fd, &intervals, 2 * window);
            let mut i = 0usize;
            b.iter(|| {
                t += intervals[i & (TRACE_LEN - 1)];
                i += 1;
                let fd = black_box(&mut fd);
                let _ = fd.heartbeat(Timestamp::from_nanos(t));
                fd.suspicion(Timestamp::from_nanos(t + offset))
            })
        });
    }
    group.finish();
}

/// [`bench_detector`] for phi accrual with its window in `S`, regime (b) found on
/// a warmed probe.
fn bench_phi<S: WindowStorage>(c: &mut Criterion, name: &str, cfg: PhiAccrualConfig) {
    let window = cfg.max_sample_size;
    let mut probe = PhiAccrual::<S>::with_storage(cfg).unwrap();
    warm(&mut probe, &trace(), 2 * window);
    let rising = rising_offset(
        &probe,
        cfg.acceptable_heartbeat_pause,
        cfg.min_std_deviation,
    );
    bench_detector(
        c,
        name,
        window,
        || PhiAccrual::<S>::with_storage(cfg).unwrap(),
        rising,
    );
}

fn detectors(c: &mut Criterion) {
    let fixed = FixedTimeoutConfig::new().with_interval(Duration::from_millis(100));
    let fixed_rising = 150_000_000; // 1.5 missed intervals
    bench_detector(
        c,
        "fixed_timeout",
        0,
        || FixedTimeout::new(fixed).unwrap(),
        fixed_rising,
    );

    let ewma = EwmaPhiConfig::new();
    let mut probe = EwmaPhi::new(ewma).unwrap();
    warm(&mut probe, &trace(), 200);
    let rising = rising_offset(
        &probe,
        ewma.acceptable_heartbeat_pause,
        ewma.min_std_deviation,
    );
    bench_detector(
        c,
        "ewma_phi_logistic",
        0,
        || EwmaPhi::new(ewma).unwrap(),
        rising,
    );
    let ewma = ewma.with_model(EwmaModel::Exponential);
    bench_detector(
        c,
        "ewma_phi_exponential",
        0,
        || EwmaPhi::new(ewma).unwrap(),
        1_000_000_000,
    );

    for window in [100, 1000] {
        for (name, model) in [
            ("phi_logistic", PhiModel::Logistic),
            ("phi_normal", PhiModel::Normal),
        ] {
            let cfg = PhiAccrualConfig::new()
                .with_max_sample_size(window)
                .with_model(model);
            bench_phi::<failure_detector::HeapWindow>(c, name, cfg);
        }
        // A jittery sender whose deviation exceeds the minimum, so every heartbeat
        // takes the square root and the division (the trace's std dev is 2.9 ms).
        let jittery = PhiAccrualConfig::new()
            .with_max_sample_size(window)
            .with_min_std_deviation(Duration::from_millis(1));
        bench_phi::<failure_detector::HeapWindow>(c, "phi_logistic_jittery", jittery);
        let logistic = PhiAccrualConfig::new().with_max_sample_size(window);
        if window == 100 {
            bench_phi::<InlineMicros<100>>(c, "phi_logistic_inline", logistic);
            bench_phi::<InlineMicros<100>>(c, "phi_logistic_jittery_inline", jittery);
        } else {
            bench_phi::<InlineMicros<1000>>(c, "phi_logistic_inline", logistic);
            bench_phi::<InlineMicros<1000>>(c, "phi_logistic_jittery_inline", jittery);
        }

        let cfg = ExponentialPhiConfig::new().with_window_size(window);
        // Exponential phi is linear: any silence is the same cost; use 1 s (phi ~ 4.3).
        bench_detector(
            c,
            "phi_exponential",
            window,
            || ExponentialPhi::new(cfg).unwrap(),
            1_000_000_000,
        );
    }
}

criterion_group!(benches, detectors);
criterion_main!(benches);
