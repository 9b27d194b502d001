//! SWIM probes with Lifeguard's refinements (pull): [`SwimMember`].
//!
//! Each member probes one other member per protocol period and learns the rest
//! of the cluster's news from updates piggybacked on its probes and acks. The
//! rules are those of SWIM (Das, Gupta, Motivala 2002) with Lifeguard (Dadgar,
//! Phillips, Currey 2017), as HashiCorp's memberlist implements them
//! (`state.go`, `suspicion.go`, `awareness.go`, `queue.go`, `util.go`); the
//! differences are listed below.
//!
//! ```
//! use failure_detector::cluster::{ClusterEvent, ClusterMember, Member, SwimConfig, SwimMember};
//! use failure_detector::{NodeState, Timestamp};
//!
//! // Three members on a perfect network driven by hand, 1 ms steps; `down` is
//! // crashed (it neither ticks nor hears).
//! fn run(members: &mut [SwimMember<u64>], from_ms: u64, to_ms: u64, down: Option<u64>) {
//!     for ms in from_ms..to_ms {
//!         let now = Timestamp::from_millis(ms);
//!         for m in members.iter_mut().filter(|m| Some(m.me().id) != down) {
//!             if m.next_deadline().is_some_and(|d| d <= now) {
//!                 m.tick(now);
//!             }
//!         }
//!         loop {
//!             let mut sent = Vec::new();
//!             for m in members.iter_mut() {
//!                 while let Some(d) = m.poll_datagram() {
//!                     sent.push((m.me().id, d));
//!                 }
//!             }
//!             if sent.is_empty() {
//!                 break;
//!             }
//!             for (from, d) in sent {
//!                 if down == Some(from) || down == Some(d.to) {
//!                     continue;
//!                 }
//!                 let to = members.iter_mut().find(|m| m.me().id == d.to).unwrap();
//!                 assert!(to.handle_datagram(&from, &d.bytes, now).is_ok());
//!             }
//!         }
//!     }
//! }
//!
//! let config = SwimConfig::lan(); // 1 s period, 500 ms probe timeout
//! let mut members: Vec<SwimMember<u64>> = (1..=3)
//!     .map(|id| SwimMember::new(Member::new(id, 0), config.with_seed(id)).unwrap())
//!     .collect();
//! for m in members.iter_mut() {
//!     m.join(&[1], Timestamp::ZERO); // member 1 is the seed
//! }
//! run(&mut members, 0, 10_000, None);
//! assert_eq!(members[0].state_of(&3), Some(NodeState::Alive));
//! assert!(members[0].rtt(&2).is_some()); // direct pings were acked
//!
//! // Member 3 crashes at 10 s; 1 and 2 suspect it on a failed probe and
//! // convict it when the suspicion times out (4 s in a cluster of 3).
//! run(&mut members, 10_000, 30_000, Some(3));
//! assert_eq!(members[0].state_of(&3), Some(NodeState::Dead));
//! assert_eq!(members[1].state_of(&3), Some(NodeState::Dead));
//! let dead_at = std::iter::from_fn(|| members[0].poll_event())
//!     .find_map(|e| match e {
//!         ClusterEvent::Changed { member, to: NodeState::Dead, at, .. } if member.id == 3 => Some(at),
//!         _ => None,
//!     })
//!     .unwrap();
//! assert!(dead_at > Timestamp::from_secs(14) && dead_at < Timestamp::from_secs(25));
//! ```
//!
//! # The protocol
//!
//! * **Probes.** Every [`probe_interval`](SwimConfig::probe_interval) the member
//!   pings the next member of a shuffled round robin (Alive and Suspect
//!   members, reshuffled after each pass; a new member is put at a random
//!   place). No ack within [`probe_timeout`](SwimConfig::probe_timeout): it
//!   asks [`indirect_checks`](SwimConfig::indirect_checks) random Alive members
//!   to ping the target (`ping-req`); each relays the target's ack, or answers
//!   a nack when its own ping went unanswered. No ack, direct or relayed,
//!   by the probe's deadline (`probe_interval x (health + 1)`): the target is
//!   Suspect. An acked probe lets the next one start at the next period
//!   boundary; a failed one at its deadline.
//! * **Suspicion** ([`Suspicion`]): a Suspect member is Dead when its
//!   suspicion times out, between `min = suspicion_mult x max(1, log10 N) x
//!   probe_interval` and `max = suspicion_max_timeout_mult x min`, shrinking
//!   with the logarithm of the independent confirmations (other members'
//!   suspect updates) up to `k = suspicion_mult - 2` of them. N is the number
//!   of members known, this one and tombstones included (memberlist's
//!   `estNumNodes`).
//! * **Refutation.** Members are ordered by (generation, incarnation): the
//!   generation ([`Member`](crate::cluster::Member)) rises on restart, the
//!   incarnation within a generation. A member that hears it is suspected or
//!   dead at its current incarnation raises it above the accusation and
//!   spreads the news ([`ClusterEvent::Refuted`](crate::cluster::ClusterEvent::Refuted));
//!   a newer Alive clears a suspicion or brings a Dead member back. Dead news
//!   of an incarnation not older than the one known wins over Alive (SWIM).
//! * **Dissemination.** Every accepted change is queued once per member (a
//!   newer update replaces the older) and piggybacked on the datagrams this
//!   member sends (pings, acks, relay traffic), least-sent then newest first,
//!   as many as fit in the [`mtu`](SwimConfig::mtu); each is sent
//!   `retransmit_mult x ceil(log10(N + 1))` times. Every datagram also names
//!   its sender with its (generation, incarnation): first-hand Alive news. A
//!   datagram to a member this one holds Suspect or Dead (or has removed) first
//!   tells it so, so it can refute at once.
//! * **Local health** ([`Awareness`]): -1 per acked probe, `+(relays asked -
//!   nacks received)` per failed probe (+1 when no relay could be asked), +1
//!   per refutation; the probe deadline (not the direct ack wait) is scaled by
//!   `score + 1`.
//! * **Joining.** [`join`](crate::cluster::ClusterMember::join) sends `join` to
//!   the seeds, which answer with their view (`sync`: their Alive and Suspect
//!   members as alive updates, in as many datagrams as the MTU requires);
//!   while the member knows nobody to probe it asks the seeds again every
//!   period.
//! * **Tombstones and quarantine.** A Dead member is kept (not probed) for
//!   [`tombstone_grace`](SwimConfig::tombstone_grace), then removed; for
//!   [`quarantine`](SwimConfig::quarantine) after that, news of its same or
//!   older (generation, incarnation) is ignored. [`max_members`](SwimConfig::max_members)
//!   bounds the members and the quarantined ids; news of more is ignored.
//!
//! # Knowing when you are the one cut off
//!
//! Every input first goes through the local guard ([`LocalGuardConfig`](crate::cluster::LocalGuardConfig),
//! interval = the probe interval): an input that comes more than
//! `max_local_pause` after the member's own deadline is a pause of its own
//! ([`ClusterEvent::LocalPause`](crate::cluster::ClusterEvent::LocalPause)); for
//! two periods after it a failed probe suspects nobody (and changes neither the
//! health score nor the relays' standing). After each input the member counts
//! the peers held Suspect or Dead in its view (its own suspicions, those
//! learned from others, and convictions not yet removed: otherwise each
//! conviction would shrink the share the rule sees) or that it could not reach
//! as relays (asked, they answered neither ack nor nack before the probe's
//! end; they count until heard from again), out of the peers it holds, and
//! reports [`Isolated`](crate::cluster::ClusterEvent::Isolated) or
//! [`Reconnected`](crate::cluster::ClusterEvent::Reconnected). While paused
//! or isolated, a suspicion that times out is held
//! ([`Deferred`](crate::cluster::ClusterEvent::Deferred), once); when the doubt
//! is gone it restarts from scratch (maximum timeout, confirmations counted
//! afresh), so a member that was cut off gives the others time to refute
//! before it convicts anyone. Dead news from others is taken as a suspicion
//! while the member doubts itself (its own rules then decide), as a
//! conviction otherwise. While more
//! than a quarter of the peers (half the isolation share) are counted and
//! that count still grows, a partition may be unfolding that the rule has
//! not seen whole: a suspicion then expires only once the count has not grown
//! for the shortest suspicion timeout (one crash, a few, or passing false
//! suspicions leave it as it is). So a member paused for 7 s convicts no one
//! on waking, the minority side of a partition convicts none of the majority
//! (a test: N = 50, 375 ms probes), and a crashed
//! member is convicted by the members that were not paused within their usual
//! detection time.
//!
//! # The failure detector (pull mode)
//!
//! Each member this one probes gets its own `D`: a clone of the prototype
//! given to [`SwimMember::with_detector`], or with [`SwimMember::new`] a
//! [`PhiAccrual`](crate::PhiAccrual) fitted to the cadence of the probes
//! (its first estimate is a pass, `N - 1` periods). The arrivals it sees are the
//! receipts of the acks (direct or relayed) to this member's own probes of it,
//! at the instant they arrive; a probe that times out adds no arrival, so the
//! detector's suspicion grows through it. [`SwimMember::suspicion`] reads it,
//! and [`SwimMember::rtt`] gives the round trips of the direct pings. As with
//! ZooKeeper's client pings, the cadence is this member's own (about one probe
//! of each member per pass of `N - 1` periods), so the detector tells how
//! unusual the silence of a probed member is, on its scale, for dashboards,
//! load balancing or an application's own timeouts. It does not drive the
//! protocol: Suspect and Dead are SWIM's verdicts (a failed probe and a
//! suspicion timeout), and the detector's threshold plays no part in them.
//!
//! # Wire format
//!
//! The shared header ([`wire`](crate::cluster::wire)), then the sender (id,
//! generation, incarnation), the body of the kind, then the updates (a count,
//! then each one). Integers are varints.
//!
//! | kind | name | body |
//! |---|---|---|
//! | `0x10` | ping | seq, target (id, generation) |
//! | `0x11` | ping-req | seq, target (id, generation), nack after (ms) |
//! | `0x12` | ack | seq |
//! | `0x13` | nack | seq |
//! | `0x14` | join | (none) |
//! | `0x15` | sync | (none: the updates are the sender's view) |
//!
//! An update is a status byte (0 alive, 1 suspect, 2 dead), the member (id,
//! generation), its incarnation, and for suspect and dead the accuser's id:
//! with `u64` ids below 16,384 and generations and incarnations below 128, an
//! alive update takes 4 to 5 bytes and a suspect or dead one 5 to 7 (a
//! generation in milliseconds since 1970 adds 5). A ping with no updates takes
//! about 10 bytes, so a 1,400-byte datagram carries about 200 updates. Every
//! datagram is at most the MTU; decoding checks every length and count
//! against the bytes left and never panics; a datagram whose sender is not
//! `from` is refused ([`DecodeErrorKind::WrongSender`](crate::cluster::DecodeErrorKind::WrongSender)).
//!
//! # Cost and memory
//!
//! Per period a member sends a ping and an ack (plus `ping-req`s, relayed
//! pings and acks, and nacks when a probe fails): about 2 datagrams a second
//! at 1 Hz, whatever N. Work per input is O(log N) plus the updates it
//! carries; a failed probe costs O(N) (picking relays), a removal O(N) (the
//! probe order). A member entry with a `u64` id takes about 250 bytes plus its
//! detector's [`memory_bytes`](crate::FailureDetector::memory_bytes) (1,040
//! bytes for the default phi window of 100): about 1.3 KB per member, 1.3 MB
//! at N = 1,000, plus about 100 bytes per queued update while news spreads;
//! [`SwimMember::memory_bytes`] adds it all up.
//!
//! # Deliberate differences from memberlist
//!
//! * A relay nacks after 80% of the time the asking probe has left (the
//!   `ping-req` carries it), capped at the probe timeout, instead of after a
//!   full probe timeout: with memberlist's LAN and WAN constants a relay's nack
//!   is sent when the asking probe has already ended (the request leaves
//!   `probe_timeout` after the ping, the nack `probe_timeout` later, and the
//!   probe ends at `probe_interval`, less than or equal to that sum), so at
//!   health 0 every failed probe counts as if no relay had answered.
//!   Lifeguard proposes 80%, as Apple's swift-cluster-membership does.
//! * No TCP fallback ping, no push-pull anti-entropy and no separate gossip
//!   rounds: news travels on probes, acks and relay traffic only (SWIM's
//!   original dissemination), and joining uses a one-off `sync`. Join answers
//!   share a budget of [`MAX_SYNC_DATAGRAMS_PER_PERIOD`] (64) datagrams per
//!   probe interval, so forged joins (a few bytes each, answered with the whole
//!   view) cannot make a member an amplifier; a joiner answered in part learns
//!   the rest by piggyback.
//! * Every datagram carries its sender's (generation, incarnation), and a
//!   datagram to a member held Suspect or Dead tells it so (memberlist does
//!   the latter for pings to Suspect members only).
//! * The local pause guard, the isolation rule (with silent relays and
//!   learned suspicions counted, and the wait while a wide suspicion grows)
//!   and held convictions are this crate's, not memberlist's.
//! * A removed member's id is quarantined (Cassandra's rule); memberlist
//!   forgets a reaped node at once.
//! * The piggyback queue orders by transmissions, then newest first;
//!   memberlist also prefers longer messages within a tier.

mod broadcast;
mod config;
mod member;
mod message;
mod suspicion;

pub use config::{MAX_MEMBERS_LIMIT, SwimConfig};
pub use member::{MAX_RELAYS, MAX_SYNC_DATAGRAMS_PER_PERIOD, RttStats, SwimMember, SwimStats};
pub use message::{Body, Message, Status, Update};
pub use suspicion::{Awareness, Suspicion};
