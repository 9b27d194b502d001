//! Heartbeat topologies without gossip: every member heartbeats every other
//! ([`AllToAllMember`]), or every member heartbeats one monitor
//! ([`CentralMember`]). They are the baselines the simulator compares gossip
//! and SWIM against, and the central monitor carries the ZooKeeper and
//! Kubernetes presets ([`presets`](crate::cluster::presets)).
//!
//! ```
//! use failure_detector::cluster::heartbeat::{AllToAllConfig, AllToAllMember};
//! use failure_detector::cluster::{ClusterMember, Member};
//! use failure_detector::{NodeState, Timestamp};
//!
//! let config = AllToAllConfig::new();
//! let mut a = AllToAllMember::new(Member::new(1u64, 0), config)?;
//! let mut b = AllToAllMember::new(Member::new(2u64, 0), config)?;
//! b.join(&[1], Timestamp::ZERO); // a join request to the seed, a
//! let join = b.poll_datagram().unwrap();
//! a.handle_datagram(&2, &join.bytes, Timestamp::from_millis(1))?;
//! let list = a.poll_datagram().unwrap(); // a's answer: its member list
//! b.handle_datagram(&1, &list.bytes, Timestamp::from_millis(2))?;
//! assert_eq!(a.state_of(&2), Some(NodeState::Alive));
//! assert_eq!(b.state_of(&1), Some(NodeState::Alive));
//!
//! // Both heartbeat each other every second until 10 s; then a is silent.
//! for ms in (1_000..=45_000u64).step_by(1_000) {
//!     let now = Timestamp::from_millis(ms);
//!     a.tick(now);
//!     b.tick(now);
//!     while let Some(d) = a.poll_datagram() {
//!         if ms <= 10_000 { b.handle_datagram(&1, &d.bytes, now)?; }
//!     }
//!     while let Some(d) = b.poll_datagram() {
//!         a.handle_datagram(&2, &d.bytes, now)?;
//!     }
//! }
//! // Akka's phi (3 s acceptable pause) suspects a about 4.5 s after its last
//! // heartbeat; 10 s later it is Dead.
//! assert_eq!(b.state_of(&1), Some(NodeState::Dead));
//! // b heartbeats no Dead member: a, which still hears nothing, suspects b.
//! assert_eq!(a.state_of(&2), Some(NodeState::Dead));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # All-to-all heartbeats (the baseline)
//!
//! * **Heartbeats.** Every
//!   [`heartbeat_interval`](AllToAllConfig::heartbeat_interval) (1 s, Akka's
//!   `heartbeat-interval`) a member sends a heartbeat (a sequence number) to
//!   every member it knows that is not Dead: N (N - 1) datagrams per interval
//!   for the cluster, N - 1 out and N - 1 in per member.
//! * **Verdicts.** The receipt of a heartbeat is an arrival for the sender's
//!   own detector (any [`FailureDetector`](crate::FailureDetector); Akka's
//!   [`PhiAccrual`](crate::PhiAccrual) defaults by default) in a
//!   [`Registry`](crate::Registry): Suspect at the detector's deadline, Dead
//!   after the [`confirmation`](AllToAllConfig::confirmation) (10 s), removed
//!   after the [`removal_grace`](AllToAllConfig::removal_grace) (30 s), its id
//!   then quarantined (60 s). A heartbeat of a higher generation is a restart
//!   (a fresh detector); of a lower one, ignored.
//! * **Membership.** [`join`](crate::cluster::ClusterMember::join) sends a
//!   join request to the seeds; a seed answers with its member list (as many
//!   datagrams as the MTU needs, at most
//!   [`MAX_JOIN_ANSWERS_PER_INTERVAL`] per interval, so forged joins cannot
//!   make it an amplifier), and a heartbeat from an unknown sender adds it
//!   (within [`max_members`](AllToAllConfig::max_members)). A member that
//!   knows nobody asks the seeds again every interval, and every 10 intervals
//!   each member asks one known member, in turn, for its list (when many join
//!   at once the seed's budget gives the first joiners short lists).
//! * **Doubting itself** ([`LocalGuardConfig`](crate::cluster::LocalGuardConfig),
//!   interval: the heartbeat interval). A member whose loop ran more than
//!   `max_local_pause` (5 s) late convicts no one for two intervals; one that
//!   suspects more than half of its peers considers itself isolated. A
//!   conviction due meanwhile is [`Deferred`](crate::cluster::ClusterEvent::Deferred)
//!   and made when the doubt is gone if the member is still silent. So an
//!   observer paused for 7 s convicts no one on waking, and the minority side
//!   of a partition declares no member of the majority dead (Akka's
//!   split-brain resolver, keep-majority, reaches the same end by downing the
//!   minority).
//!
//! # Central monitor
//!
//! * **Heartbeats and acks.** Each monitored member sends a heartbeat to the
//!   monitor every [`heartbeat_interval`](CentralConfig::heartbeat_interval);
//!   the monitor acks each (if [`acknowledge`](CentralConfig::acknowledge),
//!   the default), so 2 (N - 1) datagrams per interval, every one of them
//!   through the monitor (N - 1 without acks). The monitor sends nothing
//!   else.
//! * **Quantized verdicts.** The monitor judges each member with its own
//!   detector (a [`FixedTimeout`](crate::FixedTimeout) of
//!   [`DEFAULT_MISSED_HEARTBEATS`] intervals by default) in a registry, but
//!   evaluates verdicts only at multiples of the
//!   [`check_period`](CentralConfig::check_period) (from
//!   [`Timestamp::ZERO`](crate::Timestamp::ZERO)) and dates them there: a
//!   member whose deadline passed is Suspect at the first multiple at or after
//!   it, Dead at the first multiple at or after deadline plus
//!   [`confirmation`](CentralConfig::confirmation), unless a heartbeat came
//!   before that check. That is how ZooKeeper's session expiry
//!   (`ExpiryQueue.java`: expiry times rounded up to the next tick) and
//!   Kubernetes' node lifecycle controller (`node-monitor-period`) quantize
//!   them. Each check compares every member's verdict with its detector's:
//!   O(N) per check period.
//! * **Publishing verdicts.** Members learn the monitor's verdicts from its
//!   acks (no broadcast): each ack carries up to
//!   [`max_ack_entries`](CentralConfig::max_ack_entries) (32) verdicts:
//!   Suspect and Dead members first, then Alive ones, each part from a
//!   rotating cursor kept per member (so with more flagged members than an
//!   ack holds, every one still reaches every member in turn). A monitored member applies them to its view
//!   ([`Joined`](crate::cluster::ClusterEvent::Joined),
//!   [`Changed`](crate::cluster::ClusterEvent::Changed),
//!   [`Restarted`](crate::cluster::ClusterEvent::Restarted)), removes a Dead
//!   member `removal_grace` after it learned it, and, if no ack came for the
//!   [`view_timeout`](CentralConfig::view_timeout) (10 s), drops every
//!   verdict (a [`Removed`](crate::cluster::ClusterEvent::Removed) each) and
//!   reports itself [`Isolated`](crate::cluster::ClusterEvent::Isolated) from
//!   the monitor: it holds no verdicts until the next ack
//!   ([`Reconnected`](crate::cluster::ClusterEvent::Reconnected)). The monitor
//!   itself is in a member's view, Alive while acks come.
//! * **The monitor doubts itself** as the all-to-all members do (guard
//!   interval: the check period): paused, it convicts no one for two check
//!   periods; suspecting more than half the members, it defers convictions
//!   (Kubernetes stops evicting in a zone whose nodes are mostly NotReady,
//!   `--unhealthy-zone-threshold`).
//!
//! # Wire format
//!
//! The shared header ([`wire`](crate::cluster::wire)), the sender (id,
//! generation), then:
//!
//! | kind | topology | message | body |
//! |---|---|---|---|
//! | `0x20` | all-to-all | heartbeat | sequence number |
//! | `0x21` | all-to-all | join request | (none) |
//! | `0x22` | all-to-all | member list | count, `(id, generation)`... |
//! | `0x23` | central | heartbeat to the monitor | sequence number |
//! | `0x24` | central | ack | the heartbeat's sequence number, count, `(status, id, generation)`... |
//!
//! Kinds `0x25..=0x2F` are reserved for these topologies. A status byte is 0
//! (Alive), 1 (Suspect) or 2 (Dead). A heartbeat with a `u64` id below 128,
//! generation below 128 and a sequence number below 16,384 takes 7 bytes; an
//! ack entry 3 to 6 bytes, so a default ack of 32 verdicts is about 100 to
//! 200 bytes. Every datagram is at most the MTU; decoding checks every count
//! against the bytes left and the member bound, never panics, and refuses a
//! datagram whose named sender is not `from`, or of the other topology.
//!
//! # Memory
//!
//! Per tracked member (all-to-all member or monitor): its registry node (the
//! detector, 8,240 bytes for Akka's phi with 1,000 samples, 88 for a fixed
//! timeout, plus about 120 bytes) and about 80 bytes of verdict state; the
//! monitor adds an ack cursor (an id) per member. A monitored member keeps
//! about 80 bytes per verdict it holds. At most `max_members` members are
//! tracked and as many ids quarantined.

mod all_to_all;
mod central;
mod config;
mod judge;
mod msg;

pub use all_to_all::AllToAllMember;
pub use central::{CentralMember, DEFAULT_MISSED_HEARTBEATS};
pub use config::{
    AllToAllConfig, CentralConfig, MAX_ACK_ENTRIES, MAX_HEARTBEAT_MEMBERS,
    MAX_JOIN_ANSWERS_PER_INTERVAL,
};

/// Not part of the API (no semver promise): decodes `bytes` as a member of
/// the all-to-all (`central == false`) or central topology would, for the
/// fuzz tests and benchmarks. Returns the number of list entries.
///
/// # Errors
/// [`DecodeError`](crate::cluster::DecodeError) as the members report it.
#[doc(hidden)]
pub fn decode_for_tests<I: crate::cluster::MemberId>(
    bytes: &[u8],
    mtu: usize,
    from: &I,
    central: bool,
    max_entries: usize,
) -> Result<usize, crate::cluster::DecodeError> {
    let topology = if central {
        msg::Topology::Central
    } else {
        msg::Topology::AllToAll
    };
    Ok(
        match msg::decode::<I>(bytes, mtu, from, topology, max_entries)? {
            msg::Message::Heartbeat { .. } | msg::Message::Join { .. } => 0,
            msg::Message::Members { members, .. } => members.len(),
            msg::Message::Ack { verdicts, .. } => verdicts.len(),
        },
    )
}
