//! The simulator's errors.

use crate::error::ConfigError;
use crate::time::Timestamp;

/// A simulation input was refused. Unless a variant says otherwise, the
/// simulation is exactly as it was before the call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A value in a fault or a rate was refused (NaN, zero or negative duration,
    /// a probability out of range), naming the field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A fault or a call names a member id that was never added.
    #[error("unknown member {id}")]
    UnknownMember {
        /// The id.
        id: u64,
    },
    /// A member with this id was already added.
    #[error("member {id} was already added")]
    DuplicateMember {
        /// The id.
        id: u64,
    },
    /// A fault was scheduled before the simulation's current instant.
    #[error("fault scheduled at {at}, before the current instant {now}")]
    InThePast {
        /// The instant asked for.
        at: Timestamp,
        /// The simulation's clock.
        now: Timestamp,
    },
    /// A restart was asked for with no factory set
    /// ([`Simulation::set_factory`](super::Simulation::set_factory)).
    #[error("restart of member {id} without a factory")]
    NoFactory {
        /// The member that was to restart.
        id: u64,
    },
    /// A restart's member has another id, or a generation not above the one it
    /// replaces. The old member stays as it was (crashed, if the restart came from
    /// a scheduled fault: the crash half of it happened).
    #[error(
        "restart of member {id} gave id {got_id} generation {got_generation}, needs a generation above {previous}"
    )]
    BadRestart {
        /// The member that was to restart.
        id: u64,
        /// The id of the member given.
        got_id: u64,
        /// The generation of the member given.
        got_generation: u64,
        /// The generation it had to exceed.
        previous: u64,
    },
    /// More faults than [`MAX_FAULTS`](super::MAX_FAULTS) would be scheduled.
    #[error("more than {max} faults scheduled")]
    TooManyFaults {
        /// The bound.
        max: usize,
    },
    /// More members than [`MAX_MEMBERS`](super::MAX_MEMBERS).
    #[error("more than {max} members")]
    TooManyMembers {
        /// The bound.
        max: usize,
    },
}
