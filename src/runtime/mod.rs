//! Async drivers on tokio (feature `tokio`): a [`MemberDriver`] that runs a
//! decentralized member over a `tokio::net::UdpSocket`, a [`RegistryDriver`] that
//! ticks a [`Registry`](crate::Registry) on time, and [`TokioClock`], the clock
//! that converts [`Timestamp`](crate::Timestamp)s to `tokio::time::Instant`s and
//! back on one origin.
//!
//! Both drivers sleep until the next deadline and wake early when there is news:
//! a datagram, a command that changed the member, a node that registered or a
//! heartbeat that brought a deadline forward ([`Registry::set_deadline_waker`]).
//! Neither polls: with nothing to do, a driver's task is asleep.
//!
//! [`Registry::set_deadline_waker`]: crate::Registry::set_deadline_waker
//!
//! **Time.** Each driver reads a [`TokioClock`]: tokio's clock, which a test can
//! pause (`#[tokio::test(start_paused = true)]`), so the drivers run on virtual
//! time there. Tokio's timers round a deadline up to the next millisecond: a
//! driver acts up to 1 ms after a deadline (plus scheduling delay). A registry
//! dates each transition at its deadline all the same; a member dates its events
//! at the tick that noticed them.
//!
//! **Shutdown.** `stop()` on a driver (or on any of its handles) ends its task
//! after the current step; awaiting the driver's `stop` gives back the member.
//! Dropping a driver without stopping it leaves its task running until the
//! runtime shuts down.
//!
//! **Panics.** None on network or caller input: malformed frames are counted and
//! skipped, configurations are validated ([`ConfigError`]),
//! and spawning outside a tokio runtime is an error ([`SpawnError::NoRuntime`]),
//! not tokio's panic.

mod member;
mod registry;

pub use crate::time::TokioClock;
pub use member::{MemberDriver, MemberDriverConfig, MemberDriverStats, MemberHandle};
pub use registry::{RegistryDriver, RegistryDriverHandle, RegistryDriverStats};

use crate::error::ConfigError;

/// A driver could not be started; nothing was spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The driver's configuration was refused (the field is named).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Not called from within a tokio runtime.
    #[error("no tokio runtime: start the driver from within one")]
    NoRuntime,
    /// The registry's clock is not a [`MonotonicClock`](crate::MonotonicClock)
    /// or a [`TokioClock`] (a [`ManualClock`](crate::ManualClock), say): its
    /// timestamps cannot be turned into instants to sleep until.
    #[error(
        "the registry's clock is not tied to an Instant: give it a MonotonicClock or a TokioClock"
    )]
    ClockNotMonotonic,
}

/// The runtime to spawn on, or [`SpawnError::NoRuntime`].
fn current_runtime() -> Result<tokio::runtime::Handle, SpawnError> {
    tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)
}
