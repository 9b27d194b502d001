//! Errors of the registry's operations, one enum per operation.

use crate::error::HeartbeatError;

use super::event::NodeState;

/// A heartbeat was refused by [`Registry::heartbeat`](super::Registry::heartbeat).
/// The node's detector is unchanged and no node was created; transitions that were
/// already due when the heartbeat would have taken effect (e.g. a deadline that had
/// passed) are still applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryHeartbeatError {
    /// The node is not registered and the registry refuses unknown nodes
    /// ([`RegistryConfig::accept_unknown`](super::RegistryConfig::accept_unknown)
    /// is `false`). Nothing was created.
    #[error("heartbeat from an unknown node, and unknown nodes are refused")]
    UnknownNode,
    /// The node is Dead and rejoining is refused
    /// ([`RegistryConfig::accept_rejoin`](super::RegistryConfig::accept_rejoin) is
    /// `false`). It stays Dead until it is registered again or removed.
    #[error("heartbeat from a dead node, and rejoining is refused: register it again")]
    RejoinRefused,
    /// The node is not registered and the registry already monitors
    /// [`RegistryConfig::max_nodes`](super::RegistryConfig::max_nodes) nodes.
    /// Nothing was created.
    #[error("heartbeat from an unknown node, and the registry is full ({max} nodes)")]
    Full {
        /// The limit.
        max: usize,
    },
    /// The node's detector refused the timestamp: a duplicate, earlier than the
    /// last accepted heartbeat, or past the detector's horizon (for a node that
    /// would join, nothing was created). A heartbeat that is late but still news
    /// (stamped before the node's last evaluation, after its last heartbeat) is
    /// not refused: it takes effect at that evaluation (see
    /// [`Registry`](super::Registry#time-never-runs-backwards)).
    #[error(transparent)]
    Detector(#[from] HeartbeatError),
}

/// A registration was refused by [`Registry::register`](super::Registry::register).
/// Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The node is already monitored and not Dead (registering a Dead node revives
    /// it).
    #[error("the node is already registered ({state})")]
    AlreadyRegistered {
        /// Its current state.
        state: NodeState,
    },
    /// A registration counts as a heartbeat, and the node's detector refused it
    /// (for example an instant past the detector's horizon, at which the node could
    /// never be suspected). The node was neither created nor revived.
    #[error("the registration counts as a heartbeat, and the detector refused it: {0}")]
    Detector(HeartbeatError),
    /// The node is not registered and the registry already monitors
    /// [`RegistryConfig::max_nodes`](super::RegistryConfig::max_nodes) nodes.
    /// Nothing was created.
    #[error("the registry is full ({max} nodes)")]
    Full {
        /// The limit.
        max: usize,
    },
}
