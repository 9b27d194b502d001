//! One node heartbeats every 100 ms with jitter for a minute, then crashes. Every
//! detector watches the same arrivals on a manual clock (no sleeping); we print their
//! suspicion as the silence grows and when each one declared the crash.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::Duration;

use failure_detector::{
    Clock, ExponentialPhi, ExponentialPhiConfig, FailureDetector, FixedTimeout, FixedTimeoutConfig,
    ManualClock, PhiAccrual, PhiAccrualConfig, PhiModel, Timestamp,
};

/// A small deterministic generator, so every run prints the same thing.
struct Lcg(u64);

impl Lcg {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interval = Duration::from_millis(100);
    // One detector of each kind, configured for a 100 ms heartbeat.
    let mut detectors: Vec<(&str, Box<dyn FailureDetector>)> = vec![
        (
            "fixed 3 x 100 ms",
            Box::new(FixedTimeout::new(
                FixedTimeoutConfig::new().with_interval(interval),
            )?),
        ),
        (
            "phi (Akka defaults)",
            Box::new(PhiAccrual::new(PhiAccrualConfig::new())?),
        ),
        (
            "phi, 200 ms pause",
            Box::new(PhiAccrual::new(
                PhiAccrualConfig::new()
                    .with_acceptable_heartbeat_pause(Duration::from_millis(200))
                    .with_min_std_deviation(Duration::from_millis(20))
                    .with_first_heartbeat_estimate(interval),
            )?),
        ),
        (
            "phi exact normal",
            Box::new(PhiAccrual::new(
                PhiAccrualConfig::new()
                    .with_acceptable_heartbeat_pause(Duration::from_millis(200))
                    .with_min_std_deviation(Duration::from_millis(20))
                    .with_first_heartbeat_estimate(interval)
                    .with_model(PhiModel::Normal),
            )?),
        ),
        (
            "exponential (Cassandra)",
            Box::new(ExponentialPhi::new(
                ExponentialPhiConfig::new().with_initial_interval(interval),
            )?),
        ),
    ];

    // The node: every 100 ms, +-10 ms of jitter, and now and then a 250 ms hiccup
    // (a GC pause, a retransmission) that a tight fixed timeout mistakes for a crash.
    let clock = ManualClock::new(Timestamp::from_secs(1));
    let mut rng = Lcg(42);
    let mut false_alarms = vec![0u32; detectors.len()];
    let mut arrivals = 0;
    while clock.now() < Timestamp::from_secs(61) {
        let jitter = (rng.next() - 0.5) * 20.0;
        let hiccup = if rng.next() < 0.02 { 250.0 } else { 0.0 };
        let gap_ms = 100.0 + jitter + hiccup;
        clock.advance(Duration::from_secs_f64(gap_ms / 1000.0));
        let now = clock.now();
        for ((_, fd), alarms) in detectors.iter_mut().zip(&mut false_alarms) {
            if !fd.is_available(now) {
                *alarms += 1; // the node is alive: that suspicion was a mistake
            }
            fd.heartbeat(now)?;
        }
        arrivals += 1;
    }
    let crash = clock.now();
    println!(
        "{arrivals} heartbeats over 60 s (100 ms +- 10 ms, 2% delayed by 250 ms), \
         then the node crashes at t = {crash}.\n"
    );

    println!("suspicion after the crash (threshold in brackets):");
    print!("{:>10}", "silence");
    for (name, fd) in &detectors {
        print!(" | {:>27}", format!("{name} [{}]", fd.threshold()));
    }
    println!();
    for silence_ms in [
        0, 50, 100, 150, 200, 300, 400, 500, 1_000, 2_000, 3_000, 3_500, 4_000, 5_000,
    ] {
        let now = crash + Duration::from_millis(silence_ms);
        print!("{:>8} ms", silence_ms);
        for (_, fd) in &detectors {
            let flag = if fd.is_available(now) { ' ' } else { '*' };
            print!(" | {:>26.4}{flag}", fd.suspicion(now));
        }
        println!();
    }
    println!("(* = suspected)\n");

    println!(
        "{:<26} {:>14} {:>24}",
        "detector", "declared after", "false alarms before crash"
    );
    for ((name, fd), alarms) in detectors.iter().zip(&false_alarms) {
        let detected = fd
            .deadline()
            .map(|d| format!("{:.3} s", (d - crash).as_secs_f64()))
            .unwrap_or_else(|| "never".into());
        let s = fd.stats();
        println!(
            "{name:<26} {detected:>14} {alarms:>24}   (mean {:.1} ms, std {:.1} ms over {} samples)",
            s.mean_ns / 1e6,
            s.std_dev_ns / 1e6,
            s.samples
        );
    }
    Ok(())
}
