//! One node heartbeats every 100 ms with jitter for a minute, then crashes. All seven
//! detectors of the crate (phi accrual twice, with Akka's logistic model and with the
//! exact normal tail) watch the same arrivals on a manual clock (no sleeping); we
//! print their suspicion as the silence grows, and when each one declared the crash.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, Clock, ExponentialPhi, ExponentialPhiConfig,
    FailureDetector, FixedTimeout, FixedTimeoutConfig, ManualClock, PhiAccrual, PhiAccrualConfig,
    PhiModel, Satzger, SatzgerConfig, Timestamp, TwoWindows, TwoWindowsConfig,
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
    // One detector of each kind, configured for a 100 ms heartbeat. Each suspicion
    // is on the detector's own scale: missed intervals, phi, or (Chen, 2W-FD)
    // seconds past the expected arrival plus the margin.
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
        (
            "Chen, 150 ms margin",
            Box::new(Chen::new(
                ChenConfig::new()
                    .with_interval(interval)
                    .with_safety_margin(Duration::from_millis(150)),
            )?),
        ),
        (
            "Bertier",
            Box::new(Bertier::new(BertierConfig::new().with_interval(interval))?),
        ),
        (
            "Satzger",
            Box::new(Satzger::new(
                SatzgerConfig::new().with_first_heartbeat_estimate(interval),
            )?),
        ),
        (
            "2W-FD, 150 ms margin",
            Box::new(TwoWindows::new(
                TwoWindowsConfig::new()
                    .with_interval(interval)
                    .with_safety_margin(Duration::from_millis(150)),
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

    // One row per detector, one column per silence since the crash.
    let silences_ms = [50, 100, 200, 300, 500, 1_000, 2_000, 3_000, 4_000, 5_000];
    println!("suspicion after the crash, on each detector's own scale (* = suspected):");
    print!("{:<26} {:>9}", "detector", "threshold");
    for ms in silences_ms {
        print!(" {:>10}", format!("{ms} ms"));
    }
    println!();
    for (name, fd) in &detectors {
        print!("{name:<26} {:>9}", fd.threshold());
        for ms in silences_ms {
            let now = crash + Duration::from_millis(ms);
            let flag = if fd.is_available(now) { ' ' } else { '*' };
            print!(" {:>9}{flag}", short(fd.suspicion(now)));
        }
        println!();
    }
    println!();

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

/// A suspicion level in at most 9 characters.
fn short(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&x) {
        format!("{x:.2e}")
    } else if x < 10.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.1}")
    }
}
