//! Gossip of heartbeat versions (push), as Cassandra (`gms/Gossiper.java`) and
//! chitchat do, after van Renesse, Minsky and Hayden (1998): [`GossipMember`].
//!
//! ```
//! use failure_detector::cluster::gossip::{GossipConfig, GossipMember};
//! use failure_detector::cluster::{ClusterEvent, ClusterMember, Member};
//! use failure_detector::{NodeState, Timestamp};
//!
//! let config = |seed| GossipConfig::new().with_seed(seed);
//! let mut a = GossipMember::new(Member::new(1u64, 0), config(1))?;
//! let mut b = GossipMember::new(Member::new(2u64, 0), config(2))?;
//!
//! // b joins through a: its digest goes to a, which merges it and replies.
//! b.join(&[1], Timestamp::ZERO);
//! let syn = b.poll_datagram().unwrap();
//! assert_eq!(syn.to, 1);
//! a.handle_datagram(&2, &syn.bytes, Timestamp::from_millis(1))?;
//! let ack = a.poll_datagram().unwrap();
//! assert_eq!(ack.to, 2);
//! b.handle_datagram(&1, &ack.bytes, Timestamp::from_millis(2))?;
//! assert_eq!(a.state_of(&2), Some(NodeState::Alive));
//! assert_eq!(b.state_of(&1), Some(NodeState::Alive));
//! assert!(matches!(a.poll_event(), Some(ClusterEvent::Joined { at, .. }) if at == Timestamp::from_millis(1)));
//!
//! // Each second, each bumps its version and gossips; both stay Alive. Then a
//! // goes silent: b suspects it (phi 8 of Cassandra's exponential model) and,
//! // 10 s later, convicts it.
//! for s in 1..=60u64 {
//!     let now = Timestamp::from_secs(s);
//!     a.tick(now);
//!     b.tick(now);
//!     while let Some(d) = a.poll_datagram() {
//!         if s <= 10 { b.handle_datagram(&1, &d.bytes, now)?; }
//!     }
//!     while let Some(d) = b.poll_datagram() {
//!         if s <= 10 { a.handle_datagram(&2, &d.bytes, now)?; }
//!     }
//! }
//! assert_eq!(b.state_of(&1), Some(NodeState::Dead));
//! let convicted = std::iter::from_fn(|| b.poll_event()).find_map(|e| match e {
//!     ClusterEvent::Changed { to: NodeState::Dead, at, .. } => Some(at),
//!     _ => None,
//! });
//! assert!(convicted.is_some_and(|at| at > Timestamp::from_secs(20)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The protocol
//!
//! * **Rounds.** Every [`gossip_interval`](GossipConfig::gossip_interval)
//!   (1 s), a member bumps its own heartbeat version and sends a digest (Syn) to
//!   [`fanout`](GossipConfig::fanout) (3) random live members, plus one
//!   unreachable member with probability `unreachable / (live + 1)`, plus a seed
//!   when it knows no live member (Cassandra's `GossipTask`). The receiver merges
//!   the digest and answers (Ack) with what the sender lacks: the entries it
//!   holds newer than the digest listed, then others (push-pull). A member
//!   answers at most [`MAX_REPLIES_PER_INTERVAL`] (64) Syns per interval, so
//!   forged Syns cannot make it an amplifier; Syns past that are merged, not
//!   answered.
//! * **Merge** ([`digest`]). A higher `(generation, version)` wins. Only a
//!   strictly higher version in the same generation is an *arrival* for that
//!   member's detector, dated when the datagram is handled; a higher generation
//!   is a restart ([`ClusterEvent::Restarted`](crate::cluster::ClusterEvent::Restarted)):
//!   the member's detector is replaced by a fresh one. Equal or older states
//!   (duplicates, replays, a lagging peer's view) add no sample.
//! * **Verdicts.** Each other member is judged by its own detector (any
//!   [`FailureDetector`](crate::FailureDetector); Cassandra's exponential phi
//!   with threshold 8 by default) in a [`Registry`](crate::Registry): Suspect
//!   when the detector's deadline passes, Dead after the
//!   [`confirmation`](GossipConfig::confirmation) (10 s), Alive again when its
//!   version rises.
//! * **Removal and quarantine.** A Dead member is tombstoned (reported, no
//!   longer gossiped) and removed after the
//!   [`removal_grace`](GossipConfig::removal_grace) (30 s); for the
//!   [`quarantine`](GossipConfig::quarantine) after (60 s, Cassandra's
//!   `QUARANTINE_DELAY`), gossip of it with the same generation is ignored, so
//!   it cannot be resurrected by a lagging digest; a restart (a higher
//!   generation) is accepted at once.
//! * **Observer mode** ([`ObserverConfig`], Akka/Pekko `ClusterHeartbeat.scala`
//!   and `Reachability.scala`). Each member is watched by
//!   `k = min(monitored_by, N - 1)` observers (9 by default): the `k` members
//!   before it on a ring ordered by the FNV-1a 64 hash of each id's wire
//!   encoding (the same on every member). An observer sends each subject a
//!   heartbeat request every interval; the answer's receipt is the arrival for
//!   the observer's detector of that subject. Each observer gossips its record
//!   (the subjects it finds unreachable, versioned) inside the digests, in at
//!   most half of each datagram. A [`VerdictPolicy`] makes one verdict of the
//!   records: Suspect while unreachable for the policy, Dead after the
//!   confirmation.
//! * **Doubting itself** ([`LocalGuardConfig`](crate::cluster::LocalGuardConfig)).
//!   A member whose own loop ran more than `max_local_pause` (5 s) late
//!   convicts no one for two intervals; one that suspects more than half its
//!   peers considers itself isolated (in plain mode, members from which no
//!   newer version came for two intervals count as suspected: on the minority
//!   side of a partition they fall silent together, well before their
//!   detectors all suspect them). Meanwhile a conviction is
//!   [`Deferred`](crate::cluster::ClusterEvent::Deferred) (said once), and made
//!   when the doubt is gone if the member is still silent (not if it spoke).
//!   So the minority side of a partition declares no one of the majority dead,
//!   and a member that stalled for 7 s convicts no one on waking.
//!
//! # Wire format and costs
//!
//! Every message starts with the shared header
//! ([`wire`](crate::cluster::wire)) and names its sender (id, generation). A
//! member entry takes `id.encoded_len() + varint(generation) +
//! varint(version)` bytes: 3 to 8 for `u64` ids in the common case, so a
//! 1,400-byte datagram carries about 200 to 450 entries; larger digests are
//! spread over rounds by a rotating cursor (the sender's own entry is always
//! in). Every datagram is at most [`mtu`](GossipConfig::mtu) bytes.
//!
//! | kind | message | body after header and sender (id, generation) |
//! |---|---|---|
//! | `0x01` | Syn (a round's digest) | version, records, entries |
//! | `0x02` | Ack (reply to a Syn) | version, records, entries |
//! | `0x03` | heartbeat request (observer mode) | sequence number |
//! | `0x04` | heartbeat answer (observer mode) | the request's sequence number |
//!
//! Messages per member per second: `fanout` Syns out and about `fanout` Acks
//! back (2 x 3 = 6 datagrams of up to one MTU), plus `2 k` small heartbeat
//! datagrams in observer mode. Decoding untrusted bytes never panics and
//! allocates only in proportion to the datagram; a datagram whose named sender
//! is not the transport's `from` is refused.
//!
//! # Memory
//!
//! Per tracked member: its registry node (the detector, 8,240 bytes for the
//! default exponential phi with its 1,000-interval window, plus about 120 bytes)
//! and about 135 bytes of gossip state: 64 for the [`Heartbeat`], verdict and
//! timers, and for `u64` ids about 70 for the id in the slab and in two
//! indexes with their slack (a hash index, seeded with
//! [`seed`](GossipConfig::seed), for the lookup of every digest entry; an
//! ordered one, with a vector copy, for everything whose order reaches the
//! outputs: digests, gossip targets, events). At most
//! [`max_members`](GossipConfig::max_members) members are tracked and as many
//! ids quarantined; gossip about more is ignored and counted
//! ([`GossipMember::ignored`]).

mod config;
pub mod digest;
mod hash;
mod member;
mod msg;
mod ring;
mod table;

pub use config::{
    GossipConfig, MAX_FANOUT, MAX_MEMBERS, MAX_OBSERVERS, MAX_REPLIES_PER_INTERVAL, ObserverConfig,
    VerdictPolicy,
};
pub use digest::{Digest, Heartbeat, News, classify, merge};
pub use member::GossipMember;
