//! The QoS lab's speed: replay of a 1,000,000-heartbeat trace through each detector
//! (throughput in heartbeats), and a sweep of 50 thresholds over six detector
//! families on a 100,000-heartbeat trace.
//!
//! The traces are generated before timing: 100 ms period, log-normal delay (10 ms
//! mean, 5 ms standard deviation), 1% bursty loss, a 2 s stall every 10 minutes on
//! average. Replay measures every heartbeat's deadline and a detection time after
//! each arrival (`ReplayConfig::new()`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use failure_detector::qos::{Delay, Family, Loss, ReplayConfig, Scenario, Trace, replay};
use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, ExponentialPhi, ExponentialPhiConfig,
    FailureDetector, FixedTimeout, FixedTimeoutConfig, PhiAccrual, PhiAccrualConfig, PhiModel,
    Satzger, SatzgerConfig, TwoWindows, TwoWindowsConfig,
};

const PERIOD: Duration = Duration::from_millis(100);

fn trace(heartbeats: u64) -> Trace {
    let ms = Duration::from_millis;
    Scenario::new(PERIOD)
        .jitter(Delay::log_normal(ms(10), ms(5)).expect("valid delay"))
        .loss(Loss::bursty(0.01, 5.0).expect("valid loss"))
        .stalls(Duration::from_secs(2), Duration::from_secs(600))
        .generate(1, heartbeats)
        .expect("valid scenario")
}

/// Replays the trace through `make()`'s detector, statically dispatched.
fn one<D: FailureDetector>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    trace: &Trace,
    make: impl Fn() -> D,
) {
    let config = ReplayConfig::new();
    let mut fd = make();
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        b.iter(|| black_box(replay(&mut fd, black_box(trace), &config)))
    });
}

fn bench_replay(c: &mut Criterion) {
    let trace = trace(1_000_000);
    let mut group = c.benchmark_group("replay_1M");
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    let ms = Duration::from_millis;
    // The lab's presets (see `Family`) at a middle threshold.
    one(&mut group, "fixed_timeout", &trace, || {
        FixedTimeout::new(
            FixedTimeoutConfig::new()
                .with_interval(PERIOD)
                .with_missed_heartbeats(3.0),
        )
        .expect("valid")
    });
    let phi = PhiAccrualConfig::new()
        .with_acceptable_heartbeat_pause(Duration::ZERO)
        .with_min_std_deviation(PERIOD / 10)
        .with_first_heartbeat_estimate(PERIOD);
    one(&mut group, "phi_logistic", &trace, || {
        PhiAccrual::new(phi).expect("valid")
    });
    one(&mut group, "phi_normal", &trace, || {
        PhiAccrual::new(phi.with_model(PhiModel::Normal)).expect("valid")
    });
    one(&mut group, "phi_exponential", &trace, || {
        ExponentialPhi::new(
            ExponentialPhiConfig::new()
                .with_initial_interval(PERIOD * 2)
                .with_max_interval(PERIOD * 2),
        )
        .expect("valid")
    });
    one(&mut group, "chen", &trace, || {
        Chen::new(
            ChenConfig::new()
                .with_interval(PERIOD)
                .with_safety_margin(ms(50)),
        )
        .expect("valid")
    });
    one(&mut group, "bertier", &trace, || {
        Bertier::new(BertierConfig::new().with_interval(PERIOD)).expect("valid")
    });
    one(&mut group, "satzger", &trace, || {
        Satzger::new(SatzgerConfig::new().with_first_heartbeat_estimate(PERIOD)).expect("valid")
    });
    one(&mut group, "two_windows", &trace, || {
        TwoWindows::new(
            TwoWindowsConfig::new()
                .with_interval(PERIOD)
                .with_safety_margin(ms(50)),
        )
        .expect("valid")
    });
    // The same replay through a trait object, for the cost of dynamic dispatch.
    let mut boxed: Box<dyn FailureDetector + Send> = Box::new(PhiAccrual::new(phi).expect("valid"));
    let config = ReplayConfig::new();
    group.bench_function(BenchmarkId::from_parameter("phi_logistic_dyn"), |b| {
        b.iter(|| black_box(replay(boxed.as_mut(), black_box(&trace), &config)))
    });
    group.finish();
}

fn bench_sweep(c: &mut Criterion) {
    let trace = trace(100_000);
    let config = ReplayConfig::new().with_warmup(1000);
    let six = [
        Family::FixedTimeout,
        Family::PhiAccrual,
        Family::Chen,
        Family::Bertier,
        Family::Satzger,
        Family::TwoWindows,
    ];
    let mut group = c.benchmark_group("sweep_100k_x50");
    group.throughput(Throughput::Elements(trace.len() as u64 * 50));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for family in six {
        let thresholds = family.thresholds(PERIOD, 50);
        group.bench_function(BenchmarkId::from_parameter(bench_id(family)), |b| {
            b.iter(|| black_box(family.sweep(&trace, PERIOD, &config, &thresholds)))
        });
    }
    group.throughput(Throughput::Elements(trace.len() as u64 * 50 * 6));
    group.bench_function("six_families", |b| {
        b.iter(|| {
            for family in six {
                let thresholds = family.thresholds(PERIOD, 50);
                black_box(family.sweep(&trace, PERIOD, &config, &thresholds).ok());
            }
        })
    });
    group.finish();
}

/// The benchmark ids of the sweeps, kept as they were when `Family::name` said
/// "phi (Akka)" (the lab's phi preset is not Akka's defaults; `FamilyConfig::label`
/// says what it is), so that medians compare across versions.
fn bench_id(family: Family) -> &'static str {
    match family {
        Family::PhiAccrual => "phi (Akka)",
        Family::ExponentialPhi => "phi (Cassandra)",
        other => other.name(),
    }
}

criterion_group!(benches, bench_replay, bench_sweep);
criterion_main!(benches);
