//! The QoS lab: every detector family swept over 50 thresholds on synthetic scenarios
//! and on the LIP6 PlanetLab traces; prints tables, writes CSV and SVG charts of
//! detection time against mistake rate, and lists which gaps caused the mistakes.
//!
//! ```text
//! cargo run --release --example qos_lab            # everything
//! cargo run --release --example qos_lab -- bursty  # traces whose name contains "bursty"
//! ```
//!
//! Writes, for each trace, `target/qos/<trace>.csv` (every sweep point) and
//! `target/qos/<trace>.svg`, and `target/qos/summary.md` (every Markdown table of
//! `docs/qos.md`: the detectors' parameters, the comparisons and the gaps behind the
//! mistakes). The charts `docs/qos.md` shows are also written to `docs/`, so this one
//! command regenerates everything the docs show.
//!
//! The LIP6 traces are read from `data/lip6/` in the repository; the lab
//! stops with an error naming the path if they are missing.

use std::error::Error;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, Instant};

use failure_detector::qos::{Family, FamilyConfig, ReplayConfig, Sweep, Trace, replay_listing};
use plotters::prelude::*;

#[path = "support/lab_traces.rs"]
mod lab_traces;
use lab_traces::{PERIOD, lab_traces};

const THRESHOLDS: usize = 50;
const WARMUP: usize = 1000;
/// The families are compared at the detection times at which phi accrual makes this
/// many mistakes per hour (those of these rates that phi reaches on the trace).
const PHI_MISTAKES_PER_HOUR: [f64; 7] = [1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0];
/// The mistakes are listed at the detection time at which phi makes this many per
/// hour (or the nearest rate it reaches).
const LISTED_AT_PER_HOUR: f64 = 100.0;
/// At most this many mistakes are listed per detector (all are counted).
const MAX_LISTED: usize = 100_000;
/// The charts `docs/qos.md` shows, written to `docs/qos-<trace>.svg`.
const DOC_CHARTS: [&str; 5] = [
    "bursty",
    "sudden-change",
    "lip6-node1",
    "lip6-node3",
    "lip6-node5",
];

fn main() -> Result<(), Box<dyn Error>> {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/qos");
    fs::create_dir_all(&out)?;

    let traces = lab_traces(&filter)?;

    let config = ReplayConfig::new().with_warmup(WARMUP);
    // The lab's presets for a 100 ms period; change a field here to measure another
    // configuration (every table, CSV row and chart legend says which was used).
    let presets: Vec<FamilyConfig> = Family::ALL.iter().map(|f| f.preset(PERIOD)).collect();
    let mut summary =
        String::from("## Detectors\n\n| family | swept threshold | parameters |\n|---|---|---|\n");
    println!("detectors (sender period {} ms):", PERIOD.as_millis());
    for preset in &presets {
        println!("  {preset}");
        let range = preset.family().thresholds(PERIOD, THRESHOLDS);
        summary += &format!(
            "| {} | {}, {} to {} | {} |\n",
            preset.family().name(),
            threshold_name(preset.family()),
            range_end(range[0]),
            range_end(range[range.len() - 1]),
            preset.label()
        );
    }
    summary += "\n";
    for (name, trace) in &traces {
        let gaps = trace.gap_stats().ok_or("trace too short")?;
        println!(
            "\n== {name}: {} arrivals over {:.0} s, gap {:.3} ms +- {:.3} ms (max {:.1} ms)",
            trace.len(),
            (trace.arrivals()[trace.len() - 1] - trace.arrivals()[0]).as_secs_f64(),
            gaps.mean_ns / 1e6,
            gaps.std_dev_ns / 1e6,
            gaps.max_ns as f64 / 1e6
        );
        let started = Instant::now();
        let mut sweeps = Vec::new();
        for preset in &presets {
            let thresholds = preset.family().thresholds(PERIOD, THRESHOLDS);
            sweeps.push(preset.sweep(trace, &config, &thresholds)?);
        }
        let elapsed = started.elapsed();
        println!(
            "swept {} families x {THRESHOLDS} thresholds in {:.3} s ({:.1} M heartbeats/s)",
            sweeps.len(),
            elapsed.as_secs_f64(),
            (sweeps.len() * THRESHOLDS * trace.len()) as f64 / elapsed.as_secs_f64() / 1e6
        );
        summary += &format!("## {name}\n\n");
        summary += &print_comparison(name, &presets, &sweeps);
        summary += "\n";
        summary += &print_mistakes(name, trace, &config, &presets, &sweeps)?;
        summary += "\n";

        let mut csv = BufWriter::new(File::create(out.join(format!("{name}.csv")))?);
        use std::io::Write as _;
        writeln!(csv, "{}", Sweep::CSV_HEADER)?;
        for s in &sweeps {
            s.write_csv(&mut csv)?;
        }
        let svg = out.join(format!("{name}.svg"));
        chart(&svg, name, &sweeps)?;
        println!("wrote {} and {name}.csv", svg.display());
        if DOC_CHARTS.contains(&name.as_str()) {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/qos-{name}.svg"));
            fs::copy(&svg, &docs)?;
            println!("wrote {}", docs.display());
        }
    }
    fs::write(out.join("summary.md"), summary)?;
    println!("\nwrote {}", out.join("summary.md").display());
    Ok(())
}

/// Which gaps caused each family's mistakes, at the sweep point whose mean detection
/// time is nearest the one at which phi makes `LISTED_AT_PER_HOUR` mistakes per
/// hour: the mistakes by the length of the gap behind them (in sender periods), and
/// the longest gaps. Also returned as a Markdown table.
fn print_mistakes(
    name: &str,
    trace: &Trace,
    config: &ReplayConfig,
    presets: &[FamilyConfig],
    sweeps: &[Sweep],
) -> Result<String, Box<dyn Error>> {
    let Some(phi) = phi_sweep(presets, sweeps) else {
        return Ok(String::new());
    };
    // The target: the rate asked for, or the nearest phi reaches.
    let Some(target) = phi
        .detection_time_at(LISTED_AT_PER_HOUR / 3600.0)
        .or_else(|| {
            phi.points
                .iter()
                .filter(|p| p.metrics.mistakes > 0)
                .filter_map(|p| p.metrics.detection.mean)
                .max()
        })
    else {
        return Ok(String::new());
    };
    let period = PERIOD.as_secs_f64();
    let classes = [(0.0, 1.5), (1.5, 3.0), (3.0, 10.0), (10.0, f64::INFINITY)];
    let mut md = format!(
        "| {name}: mistakes by the gap that caused them, near T_D = {:.2} ms | T_D ms | mistakes | gap < 1.5 periods (jitter) | 1.5 to 3 (a beat or two lost) | 3 to 10 (loss burst) | 10 or more (stall) | longest gaps, ms (arrival index) |\n|---|---|---|---|---|---|---|---|\n",
        target.as_secs_f64() * 1e3
    );
    println!(
        "mistakes near T_D = {:.2} ms, by the gap that caused them (in periods):",
        target.as_secs_f64() * 1e3
    );
    println!(
        "{:<16} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  longest gaps",
        "", "T_D ms", "mistakes", "<1.5", "1.5-3", "3-10", ">=10"
    );
    for (preset, sweep) in presets.iter().zip(sweeps) {
        let nearest = sweep
            .points
            .iter()
            .filter_map(|p| Some((p.threshold, p.metrics.detection.mean?)))
            .min_by_key(|(_, td)| td.abs_diff(target));
        let Some((threshold, td)) = nearest else {
            continue;
        };
        let mut fd = preset.build(threshold)?;
        let (_, mistakes) = replay_listing(fd.as_mut(), trace, config, MAX_LISTED);
        let mut counts = [0u64; 4];
        for m in &mistakes.listed {
            let periods = m.gap.as_secs_f64() / period;
            if let Some(i) = classes
                .iter()
                .position(|&(lo, hi)| lo <= periods && periods < hi)
            {
                counts[i] += 1;
            }
        }
        let mut longest: Vec<_> = mistakes.listed.iter().collect();
        longest.sort_by(|a, b| b.gap.cmp(&a.gap).then(a.arrival.cmp(&b.arrival)));
        let longest: Vec<String> = longest
            .iter()
            .take(3)
            .map(|m| format!("{:.1} (#{})", m.gap.as_secs_f64() * 1e3, m.arrival))
            .collect();
        let listed_all = mistakes.listed.len() as u64 == mistakes.total;
        let total = if listed_all {
            mistakes.total.to_string()
        } else {
            format!("{} ({} listed)", mistakes.total, mistakes.listed.len())
        };
        let td_ms = format!("{:.2}", td.as_secs_f64() * 1e3);
        println!(
            "{:<16} {td_ms:>9} {total:>9} {:>8} {:>8} {:>8} {:>8}  {}",
            preset.family().name(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            longest.join(", ")
        );
        md += &format!(
            "| {} | {td_ms} | {total} | {} | {} | {} | {} | {} |\n",
            preset.label(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            longest.join(", ")
        );
    }
    Ok(md)
}

/// Phi accrual's sweep, the reference of the comparisons.
fn phi_sweep<'a>(presets: &[FamilyConfig], sweeps: &'a [Sweep]) -> Option<&'a Sweep> {
    presets
        .iter()
        .position(|p| p.family() == Family::PhiAccrual)
        .and_then(|i| sweeps.get(i))
}

/// Mistakes per hour of each family at the detection times where phi accrual makes
/// 1000, 300, 100, 30, 10, 3 and 1 mistakes per hour (`Sweep::detection_time_at`),
/// with the ratio to phi. Also returned as a Markdown table whose rows are labelled
/// with every parameter of the detector.
fn print_comparison(name: &str, presets: &[FamilyConfig], sweeps: &[Sweep]) -> String {
    let Some(phi) = phi_sweep(presets, sweeps) else {
        return String::new();
    };
    let at: Vec<Duration> = PHI_MISTAKES_PER_HOUR
        .iter()
        .filter_map(|&r| phi.detection_time_at(r / 3600.0))
        .collect();
    let mut md = format!("| {name}: mistakes/hour at mean T_D |");
    let mut header = format!("{:<16}", "mistakes/hour at T_D =");
    for t in &at {
        let cell = format!("{:.2} ms", t.as_secs_f64() * 1e3);
        header += &format!(" {cell:>18}");
        md += &format!(" {cell} |");
    }
    md += "\n|---|";
    md += &"---|".repeat(at.len());
    md += "\n";
    println!("{header}");
    for (preset, s) in presets.iter().zip(sweeps) {
        let mut line = format!("{:<22}", preset.family().name());
        md += &format!("| {} |", s.detector);
        for &t in &at {
            let cell = match s.mistake_rate_at(t) {
                None => "-".to_string(),
                Some(rate) => {
                    let per_hour = rate * 3600.0;
                    match phi.mistake_rate_at(t) {
                        Some(base) if base > 0.0 && !std::ptr::eq(s, phi) => {
                            format!("{per_hour:.1} (x{:.2})", rate / base)
                        }
                        _ => format!("{per_hour:.1}"),
                    }
                }
            };
            line += &format!(" {cell:>18}");
            md += &format!(" {cell} |");
        }
        println!("{line}");
        md += "\n";
    }
    md
}

/// What a family's threshold is.
fn threshold_name(family: Family) -> &'static str {
    match family {
        Family::FixedTimeout => "missed heartbeats",
        Family::PhiAccrual | Family::ExponentialPhi => "phi",
        Family::Chen | Family::TwoWindows => "safety margin alpha (s)",
        Family::Bertier => "phi (weight of the variation)",
        Family::Satzger => "share of intervals",
        _ => "threshold",
    }
}

/// An end of a threshold range: three significant digits at most.
fn range_end(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A tick label: as few digits as tell neighbouring ticks apart.
fn short(v: f64) -> String {
    if v >= 100.0 && v.fract() == 0.0 || v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3}")
    }
}

/// T_D against lambda_M (log axis), one line per family.
fn chart(path: &Path, name: &str, sweeps: &[Sweep]) -> Result<(), Box<dyn Error>> {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = sweeps
        .iter()
        .map(|s| {
            let mut points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|p| {
                    let td = p.metrics.detection.mean?.as_secs_f64() * 1e3;
                    let rate = p.metrics.mistake_rate() * 3600.0;
                    (rate > 0.0).then_some((td, rate))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (s.detector.as_str(), points)
        })
        .collect();
    // From where the curves start to fall to where they flatten: the second
    // latest of the detection times at which each family first reaches its lowest
    // rate (one slow family does not squash the others), at most 20 periods.
    let period_ms = PERIOD.as_secs_f64() * 1e3;
    // Where the first curve leaves its plateau of saturated mistakes.
    let fastest = curves
        .iter()
        .filter_map(|(_, p)| {
            let high = p.iter().map(|q| q.1).fold(0.0, f64::max);
            p.iter().rev().find(|q| q.1 >= high * 0.9).map(|q| q.0)
        })
        .fold(f64::MAX, f64::min);
    let mut knees: Vec<f64> = curves
        .iter()
        .filter_map(|(_, p)| {
            let low = p.iter().map(|q| q.1).fold(f64::MAX, f64::min);
            p.iter().find(|q| q.1 <= low * 1.01).map(|q| q.0)
        })
        .collect();
    knees.sort_by(f64::total_cmp);
    let knee = knees.iter().rev().nth(1).or(knees.last()).copied();
    let (x0, x1) = match knee {
        Some(knee) if fastest < f64::MAX => (
            fastest * 0.998,
            (knee * 1.1).clamp(fastest * 1.05, 20.0 * period_ms),
        ),
        _ => (period_ms, 20.0 * period_ms),
    };
    let visible = curves
        .iter()
        .flat_map(|(_, p)| p)
        .filter(|p| p.0 >= x0 && p.0 <= x1);
    let (y0, y1) = visible.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (y0, y1) = if y0 <= y1 {
        (y0 / 2.0, y1 * 2.0)
    } else {
        (0.1, 10.0)
    };

    let root = SVGBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{name}: detection time vs mistake rate ({THRESHOLDS} thresholds per detector)"
            ),
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("mean detection time T_D (ms)")
        .y_desc("mistake rate lambda_M (per hour, log; zero not drawn)")
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .draw()?;
    for (i, (label, points)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let inside: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|p| p.0 >= x0 && p.0 <= x1)
            .collect();
        chart
            .draw_series(LineSeries::new(
                inside.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(inside.iter().map(|&p| Circle::new(p, 2, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
