//! The QoS lab's traces, shared by `examples/qos_lab.rs` and
//! `examples/memory_lab.rs`: two synthetic scenarios and the shipped LIP6 traces.

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use failure_detector::qos::{Delay, Loss, Network, Scenario, Trace};

/// The synthetic scenarios' heartbeat period.
pub const PERIOD: Duration = Duration::from_millis(100);

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// The traces whose name contains `filter`: `bursty` and `sudden-change` (100,000
/// heartbeats each, about 2.8 hours at 100 ms), then `lip6-node0`, `-node1`,
/// `-node3` and `-node5`, read from `data/lip6/` (an error names the path if one is
/// missing).
pub fn lab_traces(filter: &str) -> Result<Vec<(String, Trace)>, Box<dyn Error>> {
    let n = 100_000;
    let bursty = Scenario::new(PERIOD)
        .jitter(Delay::log_normal(ms(10), ms(5))?)
        .loss(Loss::bursty(0.01, 5.0)?)
        .stalls(Duration::from_secs(2), Duration::from_secs(600));
    let change = Scenario::new(PERIOD)
        .jitter(Delay::normal(ms(5), ms(1))?)
        .change_at(
            Duration::from_secs(3600),
            Network::new()
                .with_delay(Delay::gamma(ms(60), ms(15))?)
                .with_loss(Loss::random(0.02)?),
        );
    let mut traces = Vec::new();
    if "bursty".contains(filter) {
        traces.push(("bursty".to_string(), bursty.generate(1, n)?));
    }
    if "sudden-change".contains(filter) {
        traces.push(("sudden-change".to_string(), change.generate(2, n)?));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/lip6");
    for node in ["node0", "node1", "node3", "node5"] {
        let name = format!("lip6-{node}");
        if !name.contains(filter) {
            continue;
        }
        let path = dir.join(format!("{node}.csv"));
        let trace = Trace::read_path(&path).map_err(|e| {
            format!(
                "{}: {e} (the LIP6 traces ship in the repository under data/lip6/)",
                path.display()
            )
        })?;
        traces.push((name, trace));
    }
    Ok(traces)
}
