//! Decentralized detection: members that watch each other, sans-IO.
//!
//! Four topologies, each a [`ClusterMember`] state machine driven by the caller
//! (datagrams and ticks in; datagrams, events and the next deadline out):
//!
//! | member | what it does | datagrams per interval |
//! |---|---|---|
//! | [`GossipMember`] | gossip of heartbeat versions (push), as Cassandra and chitchat do, judged by any [`FailureDetector`](crate::FailureDetector) through a [`Registry`](crate::Registry); optionally several observers per member and a verdict policy, as Akka does | about `2 x fanout` per member (plus `2 x k` with observers) |
//! | [`SwimMember`] | SWIM probes with indirect confirmation and Lifeguard's local health (pull), as memberlist and foca do | about 2 per member, whatever N |
//! | [`AllToAllMember`] | every member heartbeats every other and judges each (Akka-style phi on every member): the baseline | N(N-1) |
//! | [`CentralMember`] | one monitor judges everyone, its verdicts quantized to a check period (ZooKeeper, Kubernetes) | 2(N-1), all through the monitor |
//!
//! [`presets`] builds the configurations of ZooKeeper, Kubernetes, Cassandra,
//! Akka/Pekko, memberlist and foca. All share the wire format's header
//! ([`wire`]), member identity ([`Member`], [`MemberId`]), a seeded generator
//! ([`SeededRng`]) and the local guard ([`LocalGuardConfig`]): a member that ran
//! late itself, or suspects most of its peers at once, holds back its
//! convictions.

mod event;
pub mod gossip;
mod guard;
pub mod heartbeat;
mod id;
mod ledger;
pub mod presets;
mod quarantine;
mod rng;
pub mod swim;
pub mod wire;

pub use event::{ClusterEvent, ClusterMember, Datagram, Doubt};
pub use gossip::{GossipConfig, GossipMember, ObserverConfig, VerdictPolicy};
pub use guard::LocalGuardConfig;
pub use heartbeat::{AllToAllConfig, AllToAllMember, CentralConfig, CentralMember};
pub use id::{Member, MemberId};
pub use rng::SeededRng;
pub use swim::{SwimConfig, SwimMember};
pub use wire::{DecodeError, DecodeErrorKind};

/// The most seeds [`ClusterMember::join`] takes at once; the rest are ignored.
pub const MAX_SEEDS: usize = 64;
