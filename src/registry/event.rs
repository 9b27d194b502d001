//! What a registry reports: lifecycle states, events, per-node snapshots, counts.

use std::fmt;
use std::time::Duration;

use crate::detectors::Stats;
use crate::time::Timestamp;

/// Where a monitored node is in its lifecycle.
///
/// ```text
///            deadline passes           confirmation
///   Alive ------------------> Suspect -------------> Dead --(removal_grace)--> Removed
///     ^                          |                     |
///     +-------- heartbeat -------+                     |
///     |     (after hysteresis)                         |
///     +-------------- heartbeat (rejoin, if accepted) -+
/// ```
///
/// Removed is not a state a node can be queried in: its state is dropped, and the
/// registry no longer knows it ([`Event::Removed`] reports the removal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum NodeState {
    /// Heartbeats arrive in time: the detector considers the node available.
    Alive,
    /// The detector's deadline passed without a heartbeat (or the node is
    /// recovering and has not yet been available for the configured hysteresis).
    Suspect,
    /// Suspect for longer than the confirmation time, or above the second
    /// threshold: declared failed. Kept for the removal grace period.
    Dead,
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
        })
    }
}

/// One lifecycle transition of one node, sent on the registry's event channel (or,
/// if [`slow_heartbeat`](super::RegistryConfig::slow_heartbeat) is set, a
/// [`SlowHeartbeat`](Event::SlowHeartbeat) notice, which is not a transition).
///
/// Exactly one event is produced per transition, and the events of one node are
/// sent in the order the transitions happened (each node's transitions happen
/// under its shard's lock, which is also held while the event is sent). Each
/// transition's `from` is the previous transition's `to` for that node, so a
/// listener can replay the stream into the registry's current states.
///
/// `at` is the instant the transition took effect, not when it was noticed: a node
/// whose deadline passed at 15 s is reported Suspect `at` 15 s even if the next
/// [`tick`](super::Registry::tick) runs at 17 s. Transitions caused by a heartbeat,
/// registration or removal carry the instant that call took effect: its timestamp,
/// or the node's last evaluation if that was later. Per node, `at` never decreases
/// (see [time never runs backwards](super::Registry#time-never-runs-backwards)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Event<K> {
    /// The node is now monitored, as Alive: its first heartbeat arrived (with
    /// [`accept_unknown`](super::RegistryConfig::accept_unknown)) or it was
    /// registered.
    Joined {
        /// The node.
        node: K,
        /// Its first heartbeat or its registration.
        at: Timestamp,
    },
    /// The node moved from one lifecycle state to another.
    Changed {
        /// The node.
        node: K,
        /// The state it left.
        from: NodeState,
        /// The state it entered.
        to: NodeState,
        /// When the transition took effect.
        at: Timestamp,
    },
    /// The node's state was dropped: its removal grace period ended, or it was
    /// removed by hand. The registry no longer knows it; a later heartbeat or
    /// registration makes it join again.
    Removed {
        /// The node.
        node: K,
        /// The state it was in.
        from: NodeState,
        /// When it was removed.
        at: Timestamp,
    },
    /// Not a transition: an Alive node's heartbeat came at least
    /// [`slow_heartbeat`](super::RegistryConfig::slow_heartbeat) after its
    /// previous one (sent only when that option is set). The first slow interval
    /// of a run is reported; the next report comes after an interval shorter than
    /// the limit ends the run. Pekko logs "heartbeat interval is growing too
    /// large" for the same rule, from two thirds of the acceptable pause.
    SlowHeartbeat {
        /// The node.
        node: K,
        /// The interval since its previous heartbeat.
        #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
        interval: Duration,
        /// When the heartbeat took effect.
        at: Timestamp,
    },
}

impl<K> Event<K> {
    /// The node the event is about.
    pub fn node(&self) -> &K {
        match self {
            Event::Joined { node, .. }
            | Event::Changed { node, .. }
            | Event::Removed { node, .. }
            | Event::SlowHeartbeat { node, .. } => node,
        }
    }

    /// When the transition took effect.
    pub fn at(&self) -> Timestamp {
        match *self {
            Event::Joined { at, .. }
            | Event::Changed { at, .. }
            | Event::Removed { at, .. }
            | Event::SlowHeartbeat { at, .. } => at,
        }
    }

    /// The state before the transition; `None` for a node that joined, and for
    /// an event that is not a transition ([`Event::SlowHeartbeat`]).
    pub fn from(&self) -> Option<NodeState> {
        match *self {
            Event::Joined { .. } | Event::SlowHeartbeat { .. } => None,
            Event::Changed { from, .. } | Event::Removed { from, .. } => Some(from),
        }
    }

    /// The state after the transition; `None` for a node that was removed, and
    /// for an event that is not a transition ([`Event::SlowHeartbeat`]).
    pub fn to(&self) -> Option<NodeState> {
        match *self {
            Event::Joined { .. } => Some(NodeState::Alive),
            Event::Changed { to, .. } => Some(to),
            Event::Removed { .. } | Event::SlowHeartbeat { .. } => None,
        }
    }

    /// Whether the event is a lifecycle transition (every variant but
    /// [`Event::SlowHeartbeat`]): replaying the transitions alone rebuilds the
    /// states.
    pub fn is_transition(&self) -> bool {
        !matches!(self, Event::SlowHeartbeat { .. })
    }
}

/// What the registry knows about one node, for dashboards and debugging
/// ([`Registry::snapshot`](super::Registry::snapshot), [`Registry::info`](super::Registry::info)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct NodeInfo<K> {
    /// The node.
    pub node: K,
    /// Its lifecycle state as of the last evaluation (a heartbeat, registration or
    /// [`tick`](super::Registry::tick) touching it).
    pub state: NodeState,
    /// The detector's suspicion at the time of the query.
    pub suspicion: f64,
    /// The last accepted heartbeat (the registration time for a node registered by
    /// hand that has not sent one yet).
    pub last_heartbeat: Option<Timestamp>,
    /// When the detector will stop considering the node available if nothing
    /// arrives (`None`: never).
    pub deadline: Option<Timestamp>,
    /// The detector's statistics: samples, mean and standard deviation of the
    /// intervals.
    pub stats: Stats,
}

/// How many nodes are in each state ([`Registry::counts`](super::Registry::counts)).
///
/// Kept in atomic counters updated at each transition, so reading them is O(1) and
/// takes no lock; while other threads are changing states the three numbers may be
/// from slightly different instants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct StateCounts {
    /// Nodes that are Alive.
    pub alive: usize,
    /// Nodes that are Suspect.
    pub suspect: usize,
    /// Nodes that are Dead (not yet removed).
    pub dead: usize,
}

impl StateCounts {
    /// All monitored nodes.
    pub fn total(&self) -> usize {
        self.alive + self.suspect + self.dead
    }

    /// The count for one state.
    pub fn get(&self, state: NodeState) -> usize {
        match state {
            NodeState::Alive => self.alive,
            NodeState::Suspect => self.suspect,
            NodeState::Dead => self.dead,
        }
    }
}
