//! A deterministic cluster simulator: the real sans-IO members on a virtual clock,
//! over a network that misbehaves on schedule or at random, with a report of what
//! they concluded against what really happened.
//!
//! [`Simulation`] runs any [`ClusterMember<u64>`](crate::cluster::ClusterMember)
//! ([`GossipMember`](crate::cluster::GossipMember),
//! [`SwimMember`](crate::cluster::SwimMember), or your own) exactly as a runtime
//! would: datagrams in, `tick` at each member's `next_deadline`, datagrams and
//! events out. No protocol logic is copied: what is measured is the code you ship.
//!
//! * **Network** ([`LinkDelay`], [`Fault::Loss`]): per-link one-way delays from the
//!   QoS lab's models ([`qos::Delay`](crate::qos::Delay): constant, normal,
//!   log-normal, gamma) or uniform, a default and per-link overrides; loss
//!   independent or in bursts ([`qos::Loss::random`](crate::qos::Loss::random),
//!   [`qos::Loss::bursty`](crate::qos::Loss::bursty), the burst state kept per
//!   link and direction). Reordering is not a separate knob: it comes from the
//!   delay's variance (each datagram's delay is drawn on its own).
//! * **Faults** ([`Fault`]), each applied now ([`Simulation::apply`]), at an instant
//!   ([`Simulation::at`]), or drawn at random rates ([`RandomFaults`]): a link cut
//!   in one direction, partitions into groups and healing, crash, restart (a
//!   caller's factory builds the successor of a higher generation), stop-the-world
//!   pause (inbound datagrams wait; on waking the member ticks first, then reads
//!   them), slow processing (every datagram handled `d`
//!   late, first in first out: Lifeguard's "slow member").
//! * **Report** ([`Report`]): datagrams and bytes per member per second (in total
//!   and per member, so a central monitor's load shows), the time from each crash
//!   to the first and to the last survivor's conviction (p50, p99, max), false
//!   Dead verdicts (count and per member-hour), false suspicions, and the
//!   Chen-Toueg-Aguilera metrics per observer pair ([`PairMetrics`], the same
//!   definitions as [`qos::Metrics`](crate::qos::Metrics)).
//!
//! One seed fixes the whole run, and [`Simulation::trace_hash`] fingerprints it:
//! print the seed and the hash with a result, and anyone can replay it.
//!
//! Behind the feature `sim` (on by default), which needs `qos` and adds nothing
//! else.
//!
//! # Limits
//!
//! At most [`MAX_MEMBERS`] members and [`MAX_FAULTS`] faults waiting at once;
//! beyond that a typed [`SimError`]. Members are `u64` ids.

mod engine;
mod error;
mod fault;
mod hash;
mod report;

pub use engine::Simulation;
pub use error::SimError;
pub use fault::{Fault, LinkDelay, RandomFaults};
pub use report::{CrashReport, DetectionStats, FalseVerdict, MemberLoad, PairMetrics, Report};

/// The most members a simulation holds (slots are `u32`; memory is the bound in
/// practice).
pub const MAX_MEMBERS: usize = 1 << 20;

/// The most faults scheduled and not yet applied at once.
pub const MAX_FAULTS: usize = 1 << 22;
