//! What a member hands back: datagrams to send and events, and the interface
//! both protocols' members share.

use std::time::Duration;

use super::id::{Member, MemberId};
use super::wire::DecodeError;
use crate::registry::NodeState;
use crate::time::Timestamp;

/// A datagram a member wants sent. The caller delivers `bytes` to the member
/// `to` (however it maps ids to addresses), or loses it: the protocols expect a
/// lossy network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram<I> {
    /// The member it is for.
    pub to: I,
    /// The payload, at most the member's MTU.
    pub bytes: Vec<u8>,
}

/// Why a member held back a conviction it would otherwise have made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Doubt {
    /// This member's own loop ran late (a pause of its process or host): the
    /// silence it saw may be its own.
    LocalPause,
    /// This member suspects an unusual share of its peers at once: it is more
    /// likely cut off than they are all dead.
    Isolated,
}

/// Something a member concluded, in the order it concluded it. `at` never
/// decreases from one event a member hands out to the next: a conclusion drawn
/// late (say, a suspicion whose deadline passed while the member's process was
/// frozen) is dated when the member drew it if an event already handed out is
/// later than the deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub enum ClusterEvent<I> {
    /// A member was heard of for the first time (or again after it was removed),
    /// and is considered alive.
    Joined {
        /// The member.
        member: Member<I>,
        /// When this member learned of it.
        at: Timestamp,
    },
    /// A member's verdict changed: Alive to Suspect (suspected, or unreachable for
    /// the verdict policy), Suspect to Alive (cleared, refuted), Suspect to Dead
    /// (convicted), or Dead to Alive (it came back with the same generation).
    Changed {
        /// The member.
        member: Member<I>,
        /// The verdict it had.
        from: NodeState,
        /// The verdict it has now.
        to: NodeState,
        /// When the change took effect here.
        at: Timestamp,
    },
    /// A member restarted: a higher generation of the same id was heard of. It is
    /// judged afresh (a new detector, no history) and is Alive.
    Restarted {
        /// The member, with its new generation.
        member: Member<I>,
        /// The generation it had before.
        previous_generation: u64,
        /// When this member learned of the restart.
        at: Timestamp,
    },
    /// A Dead member was forgotten after the grace period; its id stays
    /// quarantined (same-generation news of it is ignored) for a while after.
    Removed {
        /// The member.
        member: Member<I>,
        /// When it was forgotten.
        at: Timestamp,
    },
    /// This member's own loop ran late by more than the configured maximum local
    /// pause: it convicts no one until `until`.
    LocalPause {
        /// How late the loop ran.
        #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
        late_by: Duration,
        /// When the late input came in.
        at: Timestamp,
        /// Convictions resume at this instant.
        until: Timestamp,
    },
    /// This member suspects more than the configured share of its peers at once:
    /// it is likely the one cut off or partitioned, and defers its convictions
    /// until it hears from enough of them again.
    Isolated {
        /// Peers it suspects or holds dead-pending.
        suspected: usize,
        /// Peers it knows of (not counting itself or members already Dead).
        peers: usize,
        /// When it concluded so.
        at: Timestamp,
    },
    /// This member no longer considers itself isolated: it convicts again.
    Reconnected {
        /// When it concluded so.
        at: Timestamp,
    },
    /// A conviction of `member` was held back for a reason; it is made later if
    /// the member is still silent once the doubt is gone.
    Deferred {
        /// The member it would have declared Dead.
        member: Member<I>,
        /// Why it held back.
        doubt: Doubt,
        /// When.
        at: Timestamp,
    },
    /// Others suspected or declared this member dead; it refuted by raising its
    /// incarnation (probe mode) or its heartbeat version (gossip mode).
    Refuted {
        /// The new incarnation or version.
        incarnation: u64,
        /// When.
        at: Timestamp,
    },
}

/// The `at` field of any event, by reference (shared or mutable, as the event).
macro_rules! event_at {
    ($event:expr) => {
        match $event {
            ClusterEvent::Joined { at, .. }
            | ClusterEvent::Changed { at, .. }
            | ClusterEvent::Restarted { at, .. }
            | ClusterEvent::Removed { at, .. }
            | ClusterEvent::LocalPause { at, .. }
            | ClusterEvent::Isolated { at, .. }
            | ClusterEvent::Reconnected { at }
            | ClusterEvent::Deferred { at, .. }
            | ClusterEvent::Refuted { at, .. } => at,
        }
    };
}

impl<I> ClusterEvent<I> {
    /// When the event took effect.
    pub fn at(&self) -> Timestamp {
        *event_at!(self)
    }

    fn at_mut(&mut self) -> &mut Timestamp {
        event_at!(self)
    }

    /// The member the event is about, if it is about another member.
    pub fn member(&self) -> Option<&Member<I>> {
        match self {
            ClusterEvent::Joined { member, .. }
            | ClusterEvent::Changed { member, .. }
            | ClusterEvent::Restarted { member, .. }
            | ClusterEvent::Removed { member, .. }
            | ClusterEvent::Deferred { member, .. } => Some(member),
            _ => None,
        }
    }
}

/// Every event a member hands out passes here ([`ClusterMember::poll_event`] of
/// each topology): with the `tracing` feature it is also a `tracing` event
/// (target `failure_detector::cluster`, fields `me` (the observing member),
/// `member`, `from`, `to`, `at_ns`, ...; Dead at warn, a deferred conviction,
/// isolation and a local pause at warn, the rest at info, joins at debug).
/// Without the feature it only keeps the stream in time order: an event dated
/// before `*last` (the previous event handed out) is dated `*last`.
#[inline]
pub(crate) fn handed_out<I: MemberId>(
    me: &Member<I>,
    mut event: Option<ClusterEvent<I>>,
    last: &mut Timestamp,
) -> Option<ClusterEvent<I>> {
    if let Some(e) = &mut event {
        let at = e.at_mut();
        *at = (*at).max(*last);
        *last = *at;
    }
    #[cfg(feature = "tracing")]
    if let Some(event) = &event {
        trace(me, event);
    }
    let _ = me;
    event
}

#[cfg(feature = "tracing")]
fn trace<I: MemberId>(me: &Member<I>, event: &ClusterEvent<I>) {
    const TARGET: &str = "failure_detector::cluster";
    let me = &me.id;
    let at_ns = event.at().as_nanos();
    match event {
        ClusterEvent::Joined { member, .. } => {
            tracing::debug!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, to = "alive", at_ns, "member joined");
        }
        ClusterEvent::Changed {
            member,
            from,
            to: NodeState::Dead,
            ..
        } => {
            tracing::warn!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, from = %from, to = "dead", at_ns, "member declared dead");
        }
        ClusterEvent::Changed {
            member, from, to, ..
        } => {
            tracing::info!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, from = %from, to = %to, at_ns, "member changed state");
        }
        ClusterEvent::Restarted {
            member,
            previous_generation,
            ..
        } => {
            tracing::info!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, previous_generation, to = "alive", at_ns, "member restarted");
        }
        ClusterEvent::Removed { member, .. } => {
            tracing::info!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, from = "dead", to = "removed", at_ns, "member removed");
        }
        ClusterEvent::LocalPause { late_by, until, .. } => {
            let late_by_ns = crate::time::duration_nanos(*late_by);
            let until_ns = until.as_nanos();
            tracing::warn!(target: TARGET, me = ?me, late_by_ns, until_ns, at_ns, "local pause: convicting no one for a while");
        }
        ClusterEvent::Isolated {
            suspected, peers, ..
        } => {
            tracing::warn!(target: TARGET, me = ?me, suspected, peers, at_ns, "isolated: deferring convictions");
        }
        ClusterEvent::Reconnected { .. } => {
            tracing::info!(target: TARGET, me = ?me, at_ns, "reconnected");
        }
        ClusterEvent::Deferred { member, doubt, .. } => {
            tracing::warn!(target: TARGET, me = ?me, member = ?member.id, generation = member.generation, doubt = ?doubt, at_ns, "conviction deferred");
        }
        ClusterEvent::Refuted { incarnation, .. } => {
            tracing::info!(target: TARGET, me = ?me, incarnation, at_ns, "refuted a suspicion of itself");
        }
    }
}

/// A member of a cluster as a sans-IO state machine: datagrams and ticks in;
/// datagrams, events and the next deadline out. Both protocols implement it
/// ([`GossipMember`](super::GossipMember), [`SwimMember`](super::SwimMember)), so
/// a driver or a simulator runs either.
///
/// A member never reads a clock, opens a socket, spawns a thread or draws hidden
/// randomness: the same inputs (and seed) give byte-identical outputs.
///
/// **Time.** Every input carries `now`. An input whose `now` is earlier than a
/// previous input's is taken at that previous instant: time never runs backwards
/// inside a member or in its events.
///
/// **Driving it.** After every input, send what [`poll_datagram`](Self::poll_datagram)
/// returns and handle what [`poll_event`](Self::poll_event) returns, then call
/// [`tick`](Self::tick) no later than [`next_deadline`](Self::next_deadline) (a
/// later tick works, but a member that ticks more than its `max_local_pause`
/// late takes it as a pause of its own and convicts no one for a while).
pub trait ClusterMember<I: MemberId> {
    /// This member's id and generation.
    fn me(&self) -> &Member<I>;

    /// Introduces this member to `seeds` (other members' ids): it contacts them
    /// at once and learns the rest of the cluster from them. Its own id is
    /// ignored in `seeds`; at most [`MAX_SEEDS`](super::MAX_SEEDS) are taken.
    fn join(&mut self, seeds: &[I], now: Timestamp);

    /// Handles a datagram received from `from`.
    ///
    /// # Errors
    /// [`DecodeError`] (with the byte offset) when the bytes are malformed, of
    /// another version or protocol, longer than the MTU, or sent by another
    /// member than `from`; the member is then exactly as before.
    fn handle_datagram(
        &mut self,
        from: &I,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError>;

    /// Does what is due at `now`: a gossip round or a probe, timeouts, verdicts.
    fn tick(&mut self, now: Timestamp);

    /// When [`tick`](Self::tick) should next be called (`None`: only inputs can
    /// give it work).
    fn next_deadline(&self) -> Option<Timestamp>;

    /// The next datagram to send, oldest first.
    fn poll_datagram(&mut self) -> Option<Datagram<I>>;

    /// The next event, oldest first.
    fn poll_event(&mut self) -> Option<ClusterEvent<I>>;

    /// This member's verdict on `id` (`None`: unknown, or removed).
    fn state_of(&self, id: &I) -> Option<NodeState>;

    /// Every member this one knows (itself excluded) with its verdict, in id order.
    fn members(&self) -> Vec<(Member<I>, NodeState)>;
}
