//! [`RegistryConfig`]: lifecycle timings, policies and sizing of a [`Registry`].
//!
//! [`Registry`]: super::Registry

use std::time::Duration;

use crate::error::{ConfigError, check};
use crate::time::duration_nanos;

/// When a Suspect node is declared Dead.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Confirmation {
    /// Dead once it has been unavailable for this long: the time runs from the
    /// detector's deadline (the instant it became unavailable), so a Suspect node is
    /// declared Dead at `deadline + duration` unless a heartbeat arrives first. May be
    /// zero (Dead as soon as it is suspected); `Duration::MAX` means never.
    After(#[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))] Duration),
    /// Dead once the detector's suspicion reaches this second, higher level (for
    /// example phi 16 when the detector suspects at phi 8, or 3 missed intervals
    /// for a fixed timeout that suspects at 2). Finite and greater than zero; a
    /// level at or below the detector's threshold makes a node Dead as soon as it is
    /// suspected.
    Suspicion(f64),
}

/// Configuration of a [`Registry`](super::Registry): how nodes join, how long each
/// lifecycle stage lasts, and how the registry is sized.
///
/// Every field is checked when the registry is built, before anything is
/// allocated: the sizes are bounded ([`shards`](Self::shards) at most
/// [`MAX_SHARDS`](Self::MAX_SHARDS), [`event_capacity`](Self::event_capacity) at most
/// [`MAX_EVENT_CAPACITY`](Self::MAX_EVENT_CAPACITY)), and a refused value is a
/// [`ConfigError`] naming the field. Durations may be anything from zero to `Duration::MAX`: they are counted
/// in whole nanoseconds, saturating at `u64::MAX` (about 584 years), and an instant
/// they would put past [`Timestamp::MAX`](crate::Timestamp::MAX) is never reached
/// (see [`Registry`](super::Registry#the-end-of-time)). None of them is looped over
/// or allocated for.
///
/// The [`Default`] (same as [`RegistryConfig::new`]) accepts unknown nodes and
/// rejoins, declares a node Dead 10 s after it is suspected, removes it 60 s later,
/// has no hysteresis, 64 shards, an unbounded event channel and no limit on the
/// number of nodes.
///
/// ```
/// use failure_detector::{Confirmation, RegistryConfig};
/// use std::time::Duration;
///
/// let config = RegistryConfig::new()
///     .with_accept_unknown(false)
///     .with_confirmation(Confirmation::After(Duration::from_secs(5)))
///     .with_hysteresis(Duration::from_secs(2))
///     .with_event_capacity(Some(10_000));
/// assert_eq!(config.shards, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RegistryConfig {
    /// Whether a heartbeat from a node the registry does not know creates it (as
    /// Alive). If `false`, such a heartbeat is refused with
    /// [`RegistryHeartbeatError::UnknownNode`](super::RegistryHeartbeatError::UnknownNode)
    /// and nodes must be [`register`](super::Registry::register)ed first. Default
    /// `true`.
    pub accept_unknown: bool,
    /// When a Suspect node becomes Dead. Default
    /// [`Confirmation::After`]`(10 s)`.
    pub confirmation: Confirmation,
    /// How long a Dead node is kept (and reported) before it is Removed and its
    /// state dropped. Default 60 s; may be zero; `Duration::MAX` keeps Dead nodes
    /// until they are removed by hand.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub removal_grace: Duration,
    /// Whether a heartbeat from a Dead node brings it back (Dead -> Alive, with its
    /// detector's statistics reset, as for a restarted process). If `false`, the
    /// heartbeat is refused with
    /// [`RegistryHeartbeatError::RejoinRefused`](super::RegistryHeartbeatError::RejoinRefused)
    /// until the node is registered again or removed. Default `true`.
    pub accept_rejoin: bool,
    /// How long a Suspect node must stay available after the heartbeat that ends
    /// its silence before it counts as Alive again. Zero (the default) means at
    /// once. While it recovers it stays Suspect and no events are sent, so a
    /// flapping link does not flood listeners. Does not apply to a rejoin from Dead.
    /// `Duration::MAX` means a Suspect node never recovers (it can still die and
    /// rejoin).
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub hysteresis: Duration,
    /// Number of independently locked shards: a power of two from 1 to
    /// [`MAX_SHARDS`](RegistryConfig::MAX_SHARDS) (65,536), each allocated up front
    /// (about 136 bytes, so 9 MB at the maximum). More shards mean less contention between threads heartbeating different
    /// nodes and a slightly slower [`tick`](super::Registry::tick) (one atomic load
    /// per shard when nothing is due). Default 64.
    pub shards: usize,
    /// `None` (the default) for an unbounded event channel: no event is ever lost,
    /// and events queue up while the receiver lags. `Some(n)` for a channel holding
    /// at most `n` undelivered events, from 1 to
    /// [`MAX_EVENT_CAPACITY`](RegistryConfig::MAX_EVENT_CAPACITY) (1,048,576): when
    /// it is full, new events are dropped and counted, never
    /// waited for. A bounded channel allocates its `n` slots when the registry is
    /// built (a slot is an [`Event`](super::Event) plus 8 bytes: 32 bytes with `u64`
    /// keys, so 32 MB at the maximum); for more, use `None`.
    pub event_capacity: Option<usize>,
    /// The most nodes monitored at once: `None` (the default) for no limit, or
    /// `Some(n)` with `n >= 1`. A node that would join past it (a heartbeat from an
    /// unknown node, or a registration) is refused with
    /// [`RegistryHeartbeatError::Full`](super::RegistryHeartbeatError::Full) or
    /// [`RegisterError::Full`](super::RegisterError::Full) and nothing is created;
    /// Dead nodes count until they are removed. Set it when node keys come from
    /// input you do not control (datagrams from the network), so that memory stays
    /// bounded: about [`memory_bytes`](crate::FailureDetector::memory_bytes) of the
    /// detector plus about 85 bytes per node. The limit is exact across threads.
    pub max_nodes: Option<usize>,
    /// Opt-in "heartbeats are getting slower" signal: `Some(d)` reports an
    /// [`Event::SlowHeartbeat`](super::Event::SlowHeartbeat) when an Alive node's
    /// heartbeat arrives `d` or more after its previous one, at most once per run
    /// of such intervals (the next is reported only after a shorter interval
    /// ended the run). Pekko warns from two thirds of the acceptable pause
    /// ([`pekko_slow_heartbeat`](crate::operator::pekko_slow_heartbeat) computes
    /// it). Default `None` (off: no cost on the heartbeat path beyond one
    /// comparison); any duration, `Duration::ZERO` reporting every run from its
    /// first heartbeat.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::operator::duration_serde::option")
    )]
    pub slow_heartbeat: Option<Duration>,
}

/// The largest number of shards.
pub(crate) const MAX_SHARDS: usize = 1 << 16;

impl RegistryConfig {
    /// The largest [`event_capacity`](Self::event_capacity): 2^20 events, allocated
    /// up front (32 MB with `u64` keys). The events of a million nodes failing at
    /// once fit; a larger queue is better left unbounded (`None`), which allocates
    /// only for the events actually waiting.
    pub const MAX_EVENT_CAPACITY: usize = 1 << 20;

    /// The largest number of [`shards`](Self::shards): 65,536.
    pub const MAX_SHARDS: usize = MAX_SHARDS;

    /// The defaults (see the type's documentation).
    pub const fn new() -> Self {
        RegistryConfig {
            accept_unknown: true,
            confirmation: Confirmation::After(Duration::from_secs(10)),
            removal_grace: Duration::from_secs(60),
            accept_rejoin: true,
            hysteresis: Duration::ZERO,
            shards: 64,
            event_capacity: None,
            max_nodes: None,
            slow_heartbeat: None,
        }
    }

    /// Sets [`accept_unknown`](Self::accept_unknown).
    pub const fn with_accept_unknown(mut self, accept: bool) -> Self {
        self.accept_unknown = accept;
        self
    }

    /// Sets [`confirmation`](Self::confirmation).
    pub const fn with_confirmation(mut self, confirmation: Confirmation) -> Self {
        self.confirmation = confirmation;
        self
    }

    /// Sets [`removal_grace`](Self::removal_grace).
    pub const fn with_removal_grace(mut self, grace: Duration) -> Self {
        self.removal_grace = grace;
        self
    }

    /// Sets [`accept_rejoin`](Self::accept_rejoin).
    pub const fn with_accept_rejoin(mut self, accept: bool) -> Self {
        self.accept_rejoin = accept;
        self
    }

    /// Sets [`hysteresis`](Self::hysteresis).
    pub const fn with_hysteresis(mut self, hysteresis: Duration) -> Self {
        self.hysteresis = hysteresis;
        self
    }

    /// Sets [`shards`](Self::shards).
    pub const fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets [`event_capacity`](Self::event_capacity).
    pub const fn with_event_capacity(mut self, capacity: Option<usize>) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Sets [`max_nodes`](Self::max_nodes).
    pub const fn with_max_nodes(mut self, max_nodes: Option<usize>) -> Self {
        self.max_nodes = max_nodes;
        self
    }

    /// Sets [`slow_heartbeat`](Self::slow_heartbeat).
    pub const fn with_slow_heartbeat(mut self, slow: Option<Duration>) -> Self {
        self.slow_heartbeat = slow;
        self
    }

    /// Checks every field and converts the durations to the nanoseconds the
    /// registry works in.
    pub(crate) fn validate(&self) -> Result<Rules, ConfigError> {
        if !self.shards.is_power_of_two() || self.shards > MAX_SHARDS {
            return Err(ConfigError::OutOfRange {
                field: "shards",
                allowed: "a power of two from 1 to 65536",
            });
        }
        match self.event_capacity {
            Some(0) => {
                return Err(ConfigError::NotPositive {
                    field: "event_capacity",
                });
            }
            Some(n) if n > Self::MAX_EVENT_CAPACITY => {
                return Err(ConfigError::OutOfRange {
                    field: "event_capacity",
                    allowed: "at most 2^20 (1,048,576) events, allocated up front; None for an unbounded channel",
                });
            }
            _ => {}
        }
        if self.max_nodes == Some(0) {
            return Err(ConfigError::NotPositive { field: "max_nodes" });
        }
        let dead = match self.confirmation {
            Confirmation::After(d) => DeadRule::After(duration_nanos(d)),
            Confirmation::Suspicion(level) => {
                DeadRule::Suspicion(check::positive("confirmation", level)?)
            }
        };
        Ok(Rules {
            accept_unknown: self.accept_unknown,
            accept_rejoin: self.accept_rejoin,
            dead,
            grace_ns: duration_nanos(self.removal_grace),
            hysteresis_ns: duration_nanos(self.hysteresis),
            max_nodes: self.max_nodes.unwrap_or(usize::MAX),
            slow_ns: self.slow_heartbeat.map_or(u64::MAX, duration_nanos),
        })
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::new()
    }
}

/// [`Confirmation`] in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DeadRule {
    After(u64),
    Suspicion(f64),
}

/// The validated lifecycle settings, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) accept_unknown: bool,
    pub(crate) accept_rejoin: bool,
    pub(crate) dead: DeadRule,
    pub(crate) grace_ns: u64,
    pub(crate) hysteresis_ns: u64,
    /// [`RegistryConfig::max_nodes`], `usize::MAX` for none.
    pub(crate) max_nodes: usize,
    /// [`RegistryConfig::slow_heartbeat`] in ns, `u64::MAX` for off.
    pub(crate) slow_ns: u64,
}
