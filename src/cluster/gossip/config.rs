//! [`GossipConfig`]: timings, sizes and the observer mode of a
//! [`GossipMember`](super::GossipMember).

use std::time::Duration;

use crate::cluster::LocalGuardConfig;
use crate::cluster::wire::{MAX_MTU, MIN_MTU};
use crate::error::{ConfigError, check};

/// The most members a gossip member may be configured to track (2^20).
pub const MAX_MEMBERS: usize = 1 << 20;

/// The largest [`fanout`](GossipConfig::fanout).
pub const MAX_FANOUT: usize = 32;

/// The most Syns a member answers per gossip interval. A Syn can be a few bytes
/// and its answer fills an MTU, so without a budget forged Syns would make a
/// member an amplifier; a member normally receives about `fanout` Syns a round,
/// so 64 leaves room for bursts. Syns past the budget are still merged, only not
/// answered (the sender learns the news from later rounds).
pub const MAX_REPLIES_PER_INTERVAL: usize = 64;

/// The largest [`monitored_by`](ObserverConfig::monitored_by), which is also the
/// most subjects one observer may flag in one reachability record.
pub const MAX_OBSERVERS: usize = 64;

/// How several observers' reachability records make one verdict on a member
/// ([`ObserverConfig::policy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum VerdictPolicy {
    /// Unreachable as soon as any observer flags it; reachable again only when
    /// every observer that flagged it has cleared it (Akka/Pekko
    /// `Reachability.scala`: a member is unreachable if any record says so).
    AnyObserver,
    /// Unreachable while at least `q` observers flag it. `q` is at least 1 and at
    /// most [`monitored_by`](ObserverConfig::monitored_by); `Quorum(1)` is
    /// [`AnyObserver`](Self::AnyObserver). In a cluster of `N <= q` members a
    /// member has fewer than `q` observers, and is never found unreachable.
    Quorum(usize),
}

impl VerdictPolicy {
    /// Whether `flags` observers flagging a member make it unreachable.
    pub const fn unreachable(self, flags: usize) -> bool {
        match self {
            VerdictPolicy::AnyObserver => flags >= 1,
            VerdictPolicy::Quorum(q) => flags >= q,
        }
    }
}

/// The observer mode (Akka/Pekko `ClusterHeartbeat.scala`): each member is
/// watched by a few observers chosen on a hashed ring, which ask it for a
/// heartbeat every gossip interval and gossip what they conclude.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct ObserverConfig {
    /// How many observers watch each member: `min(monitored_by, N - 1)` in a
    /// cluster of `N`. Default 9 (Akka/Pekko `reference.conf`,
    /// `akka.cluster.failure-detector.monitored-by-nr-of-members = 9`; Akka
    /// releases before 2.4 had 5); 1 to
    /// [`MAX_OBSERVERS`] (64). Each observer sends `monitored_by` heartbeat
    /// requests per gossip interval and receives as many answers.
    pub monitored_by: usize,
    /// How the observers' records make a verdict. Default
    /// [`VerdictPolicy::AnyObserver`] (Akka's rule).
    pub policy: VerdictPolicy,
}

impl ObserverConfig {
    /// Akka's defaults: 9 observers, any of them can flag a member.
    pub const fn new() -> Self {
        ObserverConfig {
            monitored_by: 9,
            policy: VerdictPolicy::AnyObserver,
        }
    }

    /// Sets [`monitored_by`](Self::monitored_by).
    pub const fn with_monitored_by(mut self, k: usize) -> Self {
        self.monitored_by = k;
        self
    }

    /// Sets [`policy`](Self::policy).
    pub const fn with_policy(mut self, policy: VerdictPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.monitored_by == 0 {
            return Err(ConfigError::NotPositive {
                field: "monitored_by",
            });
        }
        if self.monitored_by > MAX_OBSERVERS {
            return Err(ConfigError::OutOfRange {
                field: "monitored_by",
                allowed: "at most 64",
            });
        }
        if let VerdictPolicy::Quorum(q) = self.policy {
            if q == 0 {
                return Err(ConfigError::NotPositive { field: "policy" });
            }
            if q > self.monitored_by {
                return Err(ConfigError::OutOfRange {
                    field: "policy",
                    allowed: "a quorum of at most `monitored_by` observers",
                });
            }
        }
        Ok(())
    }
}

impl Default for ObserverConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Configuration of a [`GossipMember`](super::GossipMember). `Copy`; checked
/// once by [`validate`](Self::validate), which the member's constructors call.
///
/// The [`Default`] (same as [`new`](Self::new) and [`lan`](Self::lan)) gossips
/// every second to 3 members, convicts 10 s after suspecting, forgets the dead
/// 30 s later and quarantines their id for 60 s, tracks at most 4,096 members,
/// sends datagrams of at most 1,400 bytes, and has no observer mode.
///
/// ```
/// use failure_detector::cluster::gossip::{GossipConfig, ObserverConfig, VerdictPolicy};
/// use std::time::Duration;
///
/// let config = GossipConfig::new()
///     .with_seed(7)
///     .with_observers(Some(ObserverConfig::new().with_policy(VerdictPolicy::Quorum(3))));
/// assert!(config.validate().is_ok());
/// assert!(config.with_mtu(100).validate().is_err());
/// assert!(config.with_gossip_interval(Duration::ZERO).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct GossipConfig {
    /// How often the member bumps its own heartbeat version and starts a gossip
    /// round. Default 1 s (Cassandra `gms/Gossiper.java`, `intervalInMillis`;
    /// chitchat's `gossip_interval`); not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub gossip_interval: Duration,
    /// How many live members, picked at random, each round's digest goes to.
    /// Default 3 (chitchat `server.rs`, `GOSSIP_COUNT = 3`; Cassandra sends to
    /// one live member per round); 1 to [`MAX_FANOUT`] (32). Besides them, a
    /// round goes to one unreachable member with probability
    /// `unreachable / (live + 1)`, and to a seed when no member is live (as
    /// Cassandra's `GossipTask` does).
    pub fanout: usize,
    /// How long a member stays Suspect (suspected by its detector, or
    /// unreachable for the verdict policy) before it is convicted (Dead).
    /// Default 10 s (the registry's default; it gives the isolation rule time to
    /// see a partition whole before anyone is convicted); may be zero;
    /// `Duration::MAX` never convicts.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub confirmation: Duration,
    /// How long a Dead member is kept (tombstoned: reported Dead, no longer
    /// gossiped) before it is removed. Default 30 s (memberlist `config.go`,
    /// `GossipToTheDeadTime`; Cassandra `FatClientTimeout` is half the
    /// quarantine); may be zero; at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub removal_grace: Duration,
    /// After a member is removed, news of it with the same (or a lower)
    /// generation is ignored for this long, so lagging gossip cannot resurrect
    /// it; a higher generation (a restart) is accepted at once. Default 60 s
    /// (Cassandra `gms/Gossiper.java`, `QUARANTINE_DELAY = 2 * RING_DELAY`);
    /// may be zero; at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub quarantine: Duration,
    /// The most other members tracked at once (known, dead or quarantined):
    /// gossip about more is ignored, so the network cannot grow memory without
    /// limit. Default 4,096; 1 to [`MAX_MEMBERS`] (2^20).
    pub max_members: usize,
    /// The largest datagram sent or accepted, in bytes. Default 1,400 (fits an
    /// Ethernet frame with IP and UDP headers; memberlist's `UDPBufferSize` is
    /// 1,400 too); [`MIN_MTU`] (128) to [`MAX_MTU`] (65,507).
    pub mtu: usize,
    /// The seed of the member's random choices (gossip targets), and of the
    /// hashing of ids in its in-memory indexes (which never affects outputs).
    /// Default 0; any value. Give each member its own (its id, say) so they do
    /// not pick alike; a secret one makes colliding ids harder to forge.
    pub seed: u64,
    /// The observer mode (`Some`), or plain gossip judging (`None`, the
    /// default): see [`ObserverConfig`].
    pub observers: Option<ObserverConfig>,
    /// The local pause guard and the isolation rule. Default
    /// [`LocalGuardConfig::new`] (Cassandra's 5 s maximum local pause).
    pub guard: LocalGuardConfig,
}

impl Default for GossipConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl GossipConfig {
    /// The defaults (see the type's documentation).
    pub const fn new() -> Self {
        GossipConfig {
            gossip_interval: Duration::from_secs(1),
            fanout: 3,
            confirmation: Duration::from_secs(10),
            removal_grace: Duration::from_secs(30),
            quarantine: Duration::from_secs(60),
            max_members: 4096,
            mtu: 1400,
            seed: 0,
            observers: None,
            guard: LocalGuardConfig::new(),
        }
    }

    /// A data center's network: the defaults.
    pub const fn lan() -> Self {
        Self::new()
    }

    /// Members across regions: gossip every second, 30 s before conviction
    /// (wide-area links flap), a 1,200-byte MTU (room for tunnels and IPv6
    /// headers), 10 s maximum local pause.
    pub const fn wan() -> Self {
        let mut c = Self::new();
        c.confirmation = Duration::from_secs(30);
        c.mtu = 1200;
        c.guard = LocalGuardConfig::new().with_max_local_pause(Duration::from_secs(10));
        c
    }

    /// Members on one host or a test bench: gossip every 200 ms, convict 2 s
    /// after suspecting, forget the dead after 5 s, 1 s maximum local pause.
    pub const fn local() -> Self {
        let mut c = Self::new();
        c.gossip_interval = Duration::from_millis(200);
        c.confirmation = Duration::from_secs(2);
        c.removal_grace = Duration::from_secs(5);
        c.guard = LocalGuardConfig::new().with_max_local_pause(Duration::from_secs(1));
        c
    }

    /// Sets [`gossip_interval`](Self::gossip_interval).
    pub const fn with_gossip_interval(mut self, interval: Duration) -> Self {
        self.gossip_interval = interval;
        self
    }

    /// Sets [`fanout`](Self::fanout).
    pub const fn with_fanout(mut self, fanout: usize) -> Self {
        self.fanout = fanout;
        self
    }

    /// Sets [`confirmation`](Self::confirmation).
    pub const fn with_confirmation(mut self, confirmation: Duration) -> Self {
        self.confirmation = confirmation;
        self
    }

    /// Sets [`removal_grace`](Self::removal_grace).
    pub const fn with_removal_grace(mut self, grace: Duration) -> Self {
        self.removal_grace = grace;
        self
    }

    /// Sets [`quarantine`](Self::quarantine).
    pub const fn with_quarantine(mut self, quarantine: Duration) -> Self {
        self.quarantine = quarantine;
        self
    }

    /// Sets [`max_members`](Self::max_members).
    pub const fn with_max_members(mut self, max: usize) -> Self {
        self.max_members = max;
        self
    }

    /// Sets [`mtu`](Self::mtu).
    pub const fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`observers`](Self::observers).
    pub const fn with_observers(mut self, observers: Option<ObserverConfig>) -> Self {
        self.observers = observers;
        self
    }

    /// Sets [`guard`](Self::guard).
    pub const fn with_guard(mut self, guard: LocalGuardConfig) -> Self {
        self.guard = guard;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::recordable("gossip_interval", self.gossip_interval)?;
        if self.fanout == 0 {
            return Err(ConfigError::NotPositive { field: "fanout" });
        }
        if self.fanout > MAX_FANOUT {
            return Err(ConfigError::OutOfRange {
                field: "fanout",
                allowed: "at most 32",
            });
        }
        if !self.removal_grace.is_zero() {
            check::recordable("removal_grace", self.removal_grace)?;
        }
        if !self.quarantine.is_zero() {
            check::recordable("quarantine", self.quarantine)?;
        }
        if self.max_members == 0 {
            return Err(ConfigError::NotPositive {
                field: "max_members",
            });
        }
        if self.max_members > MAX_MEMBERS {
            return Err(ConfigError::OutOfRange {
                field: "max_members",
                allowed: "at most 2^20",
            });
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::OutOfRange {
                field: "mtu",
                allowed: "128 to 65507 bytes",
            });
        }
        if let Some(o) = &self.observers {
            o.validate()?;
        }
        self.guard.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_fields_are_named() {
        for c in [
            GossipConfig::lan(),
            GossipConfig::wan(),
            GossipConfig::local(),
        ] {
            assert_eq!(c.validate(), Ok(()));
        }
        let c = GossipConfig::new();
        let field = |r: Result<(), ConfigError>| match r {
            Err(ConfigError::NotPositive { field })
            | Err(ConfigError::OutOfRange { field, .. })
            | Err(ConfigError::NotFinite { field }) => field,
            Ok(()) => "ok",
        };
        assert_eq!(field(c.with_fanout(0).validate()), "fanout");
        assert_eq!(field(c.with_fanout(33).validate()), "fanout");
        assert_eq!(field(c.with_mtu(127).validate()), "mtu");
        assert_eq!(field(c.with_mtu(65_508).validate()), "mtu");
        assert_eq!(field(c.with_max_members(0).validate()), "max_members");
        assert_eq!(
            field(c.with_gossip_interval(Duration::ZERO).validate()),
            "gossip_interval"
        );
        let quorum = |q| Some(ObserverConfig::new().with_policy(VerdictPolicy::Quorum(q)));
        assert_eq!(field(c.with_observers(quorum(0)).validate()), "policy");
        assert_eq!(field(c.with_observers(quorum(10)).validate()), "policy");
        assert_eq!(field(c.with_observers(quorum(9)).validate()), "ok");
        let none = Some(ObserverConfig::new().with_monitored_by(0));
        assert_eq!(field(c.with_observers(none).validate()), "monitored_by");
        let guard = LocalGuardConfig::new().with_isolation_share(f64::NAN);
        assert_eq!(field(c.with_guard(guard).validate()), "isolation_share");
    }

    #[test]
    fn policies() {
        assert!(!VerdictPolicy::AnyObserver.unreachable(0));
        assert!(VerdictPolicy::AnyObserver.unreachable(1));
        assert!(!VerdictPolicy::Quorum(5).unreachable(4));
        assert!(VerdictPolicy::Quorum(5).unreachable(5));
    }
}
