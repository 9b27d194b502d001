//! Constant memory against a window: the QoS lab's sweep of detection time against
//! mistake rate for phi accrual (window 1000 and 100, at each window resolution),
//! Cassandra's exponential phi (window 1000), and `EwmaPhi` (no window: RFC 6298's
//! gains, and slower ones) on the lab's synthetic scenarios and the shipped LIP6
//! traces. Prints the Markdown tables of `docs/memory.md`.
//!
//! ```text
//! cargo run --release --example memory_lab            # everything
//! cargo run --release --example memory_lab -- lip6    # traces whose name contains "lip6"
//! ```
//!
//! Every detector gets the lab's parameters for a 100 ms period (min std dev 10 ms,
//! no pause, first estimate 100 ms; exponential: initial and max interval 200 ms),
//! so that only the estimator differs.

use std::error::Error;

use failure_detector::qos::{Family, FamilyConfig, ReplayConfig, Sweep, sweep};
#[path = "support/lab_traces.rs"]
mod lab_traces;
use lab_traces::{PERIOD, lab_traces};

use failure_detector::{EwmaModel, EwmaPhi, EwmaPhiConfig, ExponentialPhi, PhiAccrual, Resolution};

const THRESHOLDS: usize = 40;
const WARMUP: usize = 1000;
/// Mistakes per hour at which the detection times are compared.
const PER_HOUR: [f64; 3] = [100.0, 10.0, 1.0];

fn main() -> Result<(), Box<dyn Error>> {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let config = ReplayConfig::new().with_warmup(WARMUP);
    let FamilyConfig::PhiAccrual(phi) = Family::PhiAccrual.preset(PERIOD) else {
        return Err("the phi preset changed family".into());
    };
    let FamilyConfig::ExponentialPhi(exp) = Family::ExponentialPhi.preset(PERIOD) else {
        return Err("the exponential preset changed family".into());
    };
    let ewma = EwmaPhiConfig::new()
        .with_min_std_deviation(phi.min_std_deviation)
        .with_acceptable_heartbeat_pause(phi.acceptable_heartbeat_pause)
        .with_first_heartbeat_estimate(phi.first_heartbeat_estimate);
    let slow = ewma
        .with_mean_gain(1.0 / 32.0)
        .with_variance_gain(1.0 / 32.0);
    let phi_t = Family::PhiAccrual.thresholds(PERIOD, THRESHOLDS);
    let exp_t = Family::ExponentialPhi.thresholds(PERIOD, THRESHOLDS);

    println!("Mean detection time (ms) at equal mistake rates; '-' where the sweep does not");
    println!("reach the rate. Bytes: per detector at 64-bit (its own plus its window).\n");
    for (name, trace) in lab_traces(&filter)? {
        let mut rows: Vec<(String, usize, Sweep)> = Vec::new();
        for (label, window, resolution) in [
            ("phi, window 1000, ns (exact)", 1000, Resolution::Nanosecond),
            (
                "phi, window 1000, µs (default)",
                1000,
                Resolution::Microsecond,
            ),
            ("phi, window 1000, ms", 1000, Resolution::Millisecond),
            ("phi, window 100, µs", 100, Resolution::Microsecond),
            ("phi, window 100, ms", 100, Resolution::Millisecond),
        ] {
            let cfg = phi.with_max_sample_size(window).with_resolution(resolution);
            let s = sweep(label, &trace, &config, &phi_t, |t| {
                PhiAccrual::new(cfg.with_threshold(t))
            })?;
            let bytes = failure_detector::FailureDetector::memory_bytes(&PhiAccrual::new(cfg)?);
            rows.push((label.to_string(), bytes, s));
        }
        for (label, cfg) in [
            ("EWMA phi, gains 1/8, 1/4 (RFC 6298)", ewma),
            ("EWMA phi, gains 1/32", slow),
        ] {
            let s = sweep(label, &trace, &config, &phi_t, |t| {
                EwmaPhi::new(cfg.with_threshold(t))
            })?;
            rows.push((label.to_string(), 40, s));
        }
        let s = sweep(
            "exponential phi, window 1000",
            &trace,
            &config,
            &exp_t,
            |t| ExponentialPhi::new(exp.with_threshold(t)),
        )?;
        let bytes = failure_detector::FailureDetector::memory_bytes(&ExponentialPhi::new(exp)?);
        rows.push(("exponential phi, window 1000, µs".to_string(), bytes, s));
        for (label, cfg) in [
            ("EWMA exponential, gain 1/8", ewma),
            ("EWMA exponential, gain 1/32", slow),
        ] {
            let cfg = cfg.with_model(EwmaModel::Exponential);
            let s = sweep(label, &trace, &config, &exp_t, |t| {
                EwmaPhi::new(cfg.with_threshold(t))
            })?;
            rows.push((label.to_string(), 40, s));
        }

        println!("### {name}\n");
        println!(
            "| detector | bytes | T_D at {}/h | T_D at {}/h | T_D at {}/h |",
            PER_HOUR[0], PER_HOUR[1], PER_HOUR[2]
        );
        println!("|---|---:|---:|---:|---:|");
        for (label, bytes, s) in &rows {
            let cells: Vec<String> = PER_HOUR
                .iter()
                .map(|&h| {
                    s.detection_time_at(h / 3600.0)
                        .map_or("-".to_string(), |d| format!("{:.0}", d.as_secs_f64() * 1e3))
                })
                .collect();
            println!("| {label} | {bytes} | {} |", cells.join(" | "));
        }
        println!();
    }
    Ok(())
}
