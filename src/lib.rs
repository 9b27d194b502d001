//! Failure detectors for distributed systems: is a peer alive, judging by the arrival
//! times of its heartbeats?
//!
//! The crate never opens a socket and never reads a clock on its own. You hand a
//! detector the [`Timestamp`] of each heartbeat as it arrives and ask it, at any
//! timestamp, how suspicious the silence is. Everything is deterministic, so the same
//! code runs live, in tests on a [`ManualClock`], and in trace replay.
//!
//! ```
//! use std::time::Duration;
//! use failure_detector::{FailureDetector, PhiAccrual, PhiAccrualConfig, Timestamp};
//!
//! // Akka's cluster defaults: threshold 8, 3 s acceptable pause, 100 ms min std dev.
//! let mut fd = PhiAccrual::new(PhiAccrualConfig::new())?;
//! for i in 0..20 {
//!     // A heartbeat every 500 ms (timestamps are nanoseconds since any origin).
//!     fd.heartbeat(Timestamp::from_millis(500 * i))?;
//! }
//! let last = Timestamp::from_millis(9_500);
//! assert!(fd.is_available(last + Duration::from_secs(1)));
//! assert!(fd.suspicion(last + Duration::from_secs(1)) < 1e-100); // no doubt at all
//!
//! // The node goes silent. Phi rises, and the detector knows in advance when it
//! // will cross the threshold: a caller can sleep until then.
//! let deadline = fd.deadline().expect("monitoring");
//! assert!(fd.is_available(deadline - Duration::from_nanos(1)));
//! assert!(!fd.is_available(deadline));
//! let phi = fd.suspicion(deadline);
//! assert!((phi - 8.0).abs() < 1e-6);
//! println!("phi {phi:.3} {:?} after the last heartbeat", deadline - last);
//!
//! // Out-of-order input is refused and changes nothing.
//! assert!(fd.heartbeat(Timestamp::from_millis(100)).is_err());
//! assert_eq!(fd.deadline(), Some(deadline));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Detectors
//!
//! All implement [`FailureDetector`]; `Box<dyn FailureDetector + Send>` works.
//!
//! | detector | suspicion | adapts to | use when |
//! |---|---|---|---|
//! | [`FixedTimeout`] | missed intervals, linear | nothing | the interval is known and the network is steady; simplest to explain |
//! | [`PhiAccrual`] | phi, normal model (Akka/Pekko) | mean and spread of intervals | jitter varies between peers or over time; thresholds tuned in Akka carry over |
//! | [`ExponentialPhi`] | phi, exponential model (Cassandra) | mean interval only | compatibility with Cassandra's `phi_convict_threshold` |
//! | [`EwmaPhi`] | phi (normal or exponential model) from an exponentially weighted mean and variance (RFC 6298's gains) | the last dozen intervals or so | millions of watched nodes: 40 bytes each, no window |
//! | [`Chen`] | seconds past the expected arrival (Chen et al. 2002) | mean delay, known period | the sender's period is known; the margin is set in time units |
//! | [`Bertier`] | Chen's expectation plus a Jacobson margin (Bertier et al. 2002) | delay and its variation | a margin that follows the network, as TCP's RTO does |
//! | [`Satzger`] | empirical share of shorter intervals (Satzger et al. 2007) | the whole interval distribution | no distribution can be assumed |
//! | [`TwoWindows`] | later of a long- and a short-window Chen estimate (Tomsic et al. 2015) | sudden changes of delay | the network's conditions change abruptly |
//!
//! # Choosing a detector
//!
//! * The fixed timeout detects a crash after exactly `missed_heartbeats * interval +
//!   pause`, whatever the network does: predictable, but a slow network causes false
//!   suspicions unless the timeout is generous for every peer.
//! * Phi accrual with the normal model learns each peer's mean and jitter: a peer
//!   with a steady link is suspected soon after its usual interval plus the
//!   acceptable pause, a jittery one later. `min_std_deviation` keeps a very steady
//!   peer from being suspected at its first small delay; `acceptable_heartbeat_pause`
//!   is the main knob for tolerating GC pauses and is added to the mean.
//! * The exponential model only learns the mean: its deadline is
//!   `threshold * ln 10 * mean` (about 18.4 mean intervals at threshold 8), long and
//!   insensitive to jitter.
//! * [`PhiModel::Normal`] replaces Akka's logistic approximation by the exact normal
//!   tail; use it for statistical meaning, keep the default for Akka compatibility.
//!   It costs about 45 to 60 ns per query on the development VM, where the logistic
//!   model answers 0 in 2 to 3 ns shortly after a heartbeat (README, "Performance").
//! * [`Chen`] and [`TwoWindows`] need the sender's period and a margin in time
//!   units; on steady hosts they make fewer mistakes than phi at long detection
//!   times. [`Satzger`] assumes no distribution but cannot wait longer than the
//!   longest interval it has seen. Measure them on your own traces with the
//!   [`qos`] lab (`examples/qos_lab.rs`, results in `docs/qos.md`).
//!
//! # Watching many nodes
//!
//! [`Registry`] keeps one detector per node for many nodes at once, shared across
//! threads: nodes go Alive -> Suspect -> Dead -> Removed as their detectors'
//! deadlines pass, each transition is sent as an [`Event`] on a channel, and
//! [`Registry::tick`] touches only the nodes whose deadline passed.
//! `examples/failover.rs` redistributes a failed node's work with it.
//!
//! # Decentralized detection
//!
//! One monitor watching everyone is a single point of failure, and a slow
//! observer (a GC pause, a starved CPU) looks exactly like a dead peer from one
//! heartbeat stream. The [`cluster`] layer has the members watch each other:
//! each member is a sans-IO state machine ([`cluster::ClusterMember`]: datagrams
//! and `tick(now)` in; datagrams, events and `next_deadline()` out; no clock,
//! socket, thread or hidden randomness), so the same code runs over UDP, in a
//! simulator or in a test. Which mode to pick:
//!
//! | mode | pick it when | datagrams per member per second |
//! |---|---|---|
//! | [`GossipMember`](cluster::GossipMember) (Cassandra, chitchat) | every member needs its own accrual view of every other; tens to a few hundred members | about `2 x fanout` (6 at the default fanout of 3), each up to one MTU (1,400 bytes: about 200 to 450 entries) |
//! | gossip with [`ObserverConfig`](cluster::ObserverConfig) (Akka, Pekko) | one bad link or one slow observer must not condemn a member: `Quorum(q)` of its `k` observers (9 by default) must agree | the gossip above plus `2 x k` small heartbeat datagrams (about 10 bytes each) |
//! | [`SwimMember`](cluster::SwimMember) (memberlist, foca) | hundreds to thousands of members, constant load per member | about 2 (one ping and its ack) plus, on a failed probe, `3 x indirect_checks` more; membership news rides on them |
//!
//! In every mode a member that ran late itself (more than 5 s, Cassandra's
//! `max_local_pause`) convicts no one for two intervals, and one that suspects
//! more than half its peers at once considers itself cut off and defers its
//! convictions ([`cluster::LocalGuardConfig`]), so a paused member or the
//! minority side of a partition does not accuse the others.
//! `examples/gossip.rs` runs two dozen members on a lossy in-memory network with
//! a crash, a 7 s freeze and a restart.
//!
//! Two more topologies serve as baselines and presets:
//! [`AllToAllMember`](cluster::AllToAllMember) (every member heartbeats every
//! other: N(N-1) datagrams an interval) and [`CentralMember`](cluster::CentralMember)
//! (one monitor, verdicts quantized to a check period: 2(N-1), all through the
//! monitor). [`cluster::presets`] builds the configurations of ZooKeeper,
//! Kubernetes, Cassandra, Akka/Pekko, memberlist and foca.
//!
//! **Simulating a cluster** (the `sim` feature, on by default):
//! `sim::Simulation` runs the same members on a virtual clock over a network
//! that delays, loses, reorders, cuts and partitions datagrams, while members
//! crash, restart, freeze or run slow, on a script or at random rates; one seed
//! reproduces a run exactly (`trace_hash`), and its `Report` gives messages and
//! bytes per member per second, the time until the first and the last member
//! convicts a crash, and the false verdicts. `examples/cluster_sim.rs` runs every
//! topology (and foca) on eight scenarios at N = 10, 100 and 1,000;
//! `docs/cluster.md` in the repository reads its results: which topology wins
//! where, and where ours lose.
//!
//! # Configuration and observability
//!
//! [`operator`] builds configurations from the units operators think in
//! ("heartbeats every 1 s; suspect a silent node within 5 s; tolerate pauses of
//! 2 s"), from Akka's and Pekko's `failure-detector` keys and from Cassandra's
//! `phi_convict_threshold`, and says what they imply (threshold, detection time
//! of a steady sender) and what is unsafe about them, as typed
//! [`operator::ConfigWarning`]s. Optional features, none on by default:
//!
//! | feature | adds |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for every config (missing keys take their defaults, unknown keys are refused, durations read as `"250ms"`, `"1.5s"`, `"3 s"` or serde's `{ secs, nanos }`; a bare number is refused), [`Stats`], [`NodeInfo`], [`NodeState`], [`StateCounts`], [`Event`], the cluster events and members, and [`Timestamp`] (as integer nanoseconds). Loading never bypasses validation: the constructors check what was loaded. |
//! | `tracing` | a `tracing` event at every registry event (target `failure_detector::registry`) and every cluster event a member hands out (target `failure_detector::cluster`), with the node, `from`, `to` and `at_ns`. Levels: a join at debug; suspected, alive again, removed at info; declared Dead and a slow heartbeat at warn (cluster: Dead, a deferred conviction, isolation and a local pause at warn). Nothing at all without the feature. |
//! | `metrics` | `Registry::record_metrics`: counters of heartbeats, refused heartbeats, transitions and slow heartbeats, gauges of nodes by state and of the suspicion's quantiles, through the `metrics` facade (names prefixed `failure_detector_`). The heartbeat path makes no facade call. |
//!
//! [`RegistryConfig::slow_heartbeat`] turns on Pekko's "heartbeat interval is
//! growing too large" signal as an [`Event::SlowHeartbeat`], once per run of slow
//! intervals.
//!
//! # Async
//!
//! With the `tokio` feature, `runtime::MemberDriver` runs any
//! [`cluster::ClusterMember`] over a `tokio::net::UdpSocket` (events on a
//! bounded channel, a cloneable handle to query it and stop it), and
//! `runtime::RegistryDriver` ticks a [`Registry`] fed by your own transport,
//! sleeping until [`Registry::watch_next_deadline`] and woken early through
//! [`Registry::set_deadline_waker`]. `runtime::TokioClock` converts timestamps
//! to `tokio::time::Instant`s on the registry's own origin
//! ([`Registry::monotonic_clock`], [`MonotonicClock::instant_of`]).
//! `examples/tokio_udp.rs` runs a few members over loopback UDP.
//!
//! # Time
//!
//! [`Timestamp`] is a `u64` of nanoseconds since an origin you choose, on a monotonic
//! clock. [`MonotonicClock`] produces them from `std::time::Instant`;
//! [`ManualClock`] is moved by hand. Arithmetic saturates instead of panicking.
//!
//! # Panics and errors
//!
//! Nothing in this crate panics on caller input.
//! * Constructors validate their config and return [`ConfigError`] naming the field
//!   (NaN, infinite, zero or negative values; sizes out of range).
//! * [`FailureDetector::heartbeat`] refuses a timestamp equal to or earlier than the
//!   last accepted one, or later than [`Timestamp::HORIZON`] (2^62 ns, about 146
//!   years after the origin), with [`HeartbeatError`]; the detector is unchanged.
//! * Before the first heartbeat, suspicion is 0, the node is available and there is
//!   no deadline. A query at a time before the last heartbeat is answered as at the
//!   last heartbeat (zero silence). Queries may be asked at any instant up to
//!   [`Timestamp::MAX`].
//! * Because heartbeats stop at the horizon, a deadline up to 146 years after its
//!   heartbeat is always representable. A deadline that would fall at or after
//!   [`Timestamp::MAX`] (only a configuration with a pause or interval of centuries
//!   does that) is reported as `None` by `deadline` and `deadline_for` alike: never,
//!   and the node stays available.
//!
//! # Accuracy
//!
//! * Interval statistics are kept as exact integers (sum of nanoseconds in `u64`, sum
//!   of squares in `u128`); the mean and variance handed to the models have a relative
//!   error of at most about 2^-51 however long the run. Intervals longer than 2^47 ns
//!   (about 39 hours) are recorded as 2^47 ns.
//! * Phi is computed in log space: finite, never NaN and non-decreasing with silence
//!   for any silence up to `u64::MAX` ns; below 1e-300 it is reported as 0 (so phi
//!   thresholds start at 1e-290). Above that it increases strictly from one
//!   nanosecond to the next while the silence is below 2^52 ns (about 52 days), and
//!   over steps of `silence / 2^50 + 1` ns beyond (past 2^53 ns two consecutive
//!   nanoseconds can read the same phi). Its relative error against the model
//!   formula evaluated exactly is about 1e-14 for the logistic model and 1e-12 for
//!   the exact normal tail.
//! * Every deadline (for every detector) is the real instant at which the formula
//!   reaches the threshold, as computed in doubles, rounded up exactly to the
//!   nanosecond.
//! * `is_available(t) == (suspicion(t) < threshold())` holds exactly at every
//!   instant. The suspicion and the deadline are two floating-point expressions of
//!   the same crossing, so each detector's raw suspicion goes through one shared
//!   final step: at most `threshold.next_down()` while the node is available, at
//!   least `threshold` once it is not. The step changes a value only where the raw
//!   value and the deadline disagree, which is within `δ` of the deadline: 1 ns,
//!   plus the rounding error of the deadline's offset from the heartbeat (about
//!   `offset / 2^52`: under a nanosecond below 52 days), plus the time the formula
//!   takes to rise by its own rounding error (negligible unless it rises very
//!   slowly: a few nanoseconds for phi with a standard deviation of 39 hours). In
//!   practice that is the last nanosecond before the deadline or the deadline
//!   itself. There the reported value differs from the raw one by at most the
//!   formula's rise over `δ` plus its own rounding error (1e-15 relative for the
//!   linear detectors, figures above for phi). An absurd configuration shows the scale: with a standard
//!   deviation of 1 ns and an acceptable pause of 10^15 ns (12 days), logistic phi
//!   rises by about 3.2 per nanosecond near a threshold of 8 and the offset is
//!   known to 0.06 ns, so the step may move phi by up to about 0.2 at the deadline;
//!   with Akka's defaults it moves it by less than 1e-12.
//!   [`FailureDetector::deadline_for`] at other levels agrees with the suspicion to
//!   the same `δ`.
//!
//! # Cost and memory
//!
//! `heartbeat`, `suspicion` and `is_available` never allocate and are O(1), except
//! [`Satzger`]'s, which are O(log n) in its window. `is_available` is one integer
//! comparison. [`PhiAccrual`] and [`ExponentialPhi`] hold 112 and 96 bytes plus 4 per
//! window slot (2 or 8 by [`Resolution`]), [`EwmaPhi`] 40 with no window, the
//! estimation detectors 16 per slot, [`Satzger`] 40; [`FixedTimeout`] is 80 bytes
//! with no heap ([`FailureDetector::memory_bytes`]). `docs/memory.md` has the figures
//! per registry node.
//!
//! # Limitations
//!
//! * One detector watches one peer and is not synchronised: wrap it in a lock (or
//!   use one per thread) to share it.
//! * Arrivals must be fed in order. Reordering by sequence number is the transport's
//!   job.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cluster;
mod detectors;
mod error;
mod estimate;
mod math;
#[cfg(feature = "net")]
pub mod net;
pub mod operator;
mod order_stats;
#[cfg(feature = "qos")]
pub mod qos;
mod registry;
#[cfg(feature = "tokio")]
pub mod runtime;
#[cfg(feature = "sim")]
pub mod sim;
mod time;
mod window;

pub use detectors::bertier::{Bertier, BertierConfig};
pub use detectors::chen::{Chen, ChenConfig};
pub use detectors::ewma::{EwmaModel, EwmaPhi, EwmaPhiConfig};
pub use detectors::exponential::{ExponentialPhi, ExponentialPhiConfig};
pub use detectors::fixed::{FixedTimeout, FixedTimeoutConfig};
pub use detectors::phi::{PhiAccrual, PhiAccrualConfig, PhiModel};
pub use detectors::satzger::{Satzger, SatzgerConfig};
pub use detectors::two_windows::{TwoWindows, TwoWindowsConfig};
pub use detectors::{FailureDetector, Stats};
pub use error::{ConfigError, HeartbeatError};
pub use registry::{
    Confirmation, Event, EventReceiver, NodeInfo, NodeState, RegisterError, Registry,
    RegistryConfig, RegistryHeartbeatError, StateCounts,
};
pub use time::{Clock, ManualClock, MonotonicClock, Timestamp};
pub use window::{HeapWindow, InlineMicros, InlineMillis, InlineNanos, Resolution, WindowStorage};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
