//! The QoS lab: replay heartbeat traces through any [`FailureDetector`] and measure it
//! with the metrics of Chen, Toueg and Aguilera ("On the Quality of Service of
//! Failure Detectors", IEEE Transactions on Computers 51(5), 2002).
//!
//! (Feature `qos`, on by default.)
//!
//! [`FailureDetector`]: crate::FailureDetector

mod replay;
mod sweep;
mod synth;
mod trace;

pub use replay::{Detection, Metrics, ReplayConfig, replay};
pub use sweep::{Family, Sweep, SweepPoint, sweep};
pub use synth::{Delay, Generator, Loss, Network, Scenario};
pub use trace::{Arrival, GapStats, Trace, TraceError, TraceReader};
