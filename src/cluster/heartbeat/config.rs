//! [`AllToAllConfig`] and [`CentralConfig`]: timings and sizes of the two
//! heartbeat topologies.

use std::time::Duration;

use crate::cluster::LocalGuardConfig;
use crate::cluster::wire::{MAX_MTU, MIN_MTU};
use crate::error::{ConfigError, check};

/// The most members either topology may be configured to track (2^20).
pub const MAX_HEARTBEAT_MEMBERS: usize = 1 << 20;

/// The most datagrams a seed sends per heartbeat interval in answer to joins
/// (all-to-all), so that forged joins cannot make it an amplifier.
pub const MAX_JOIN_ANSWERS_PER_INTERVAL: usize = 64;

fn check_common(
    interval: (&'static str, Duration),
    removal_grace: Duration,
    quarantine: Duration,
    max_members: usize,
    mtu: usize,
) -> Result<(), ConfigError> {
    check::recordable(interval.0, interval.1)?;
    if !removal_grace.is_zero() {
        check::recordable("removal_grace", removal_grace)?;
    }
    if !quarantine.is_zero() {
        check::recordable("quarantine", quarantine)?;
    }
    if max_members == 0 {
        return Err(ConfigError::NotPositive {
            field: "max_members",
        });
    }
    if max_members > MAX_HEARTBEAT_MEMBERS {
        return Err(ConfigError::OutOfRange {
            field: "max_members",
            allowed: "at most 2^20",
        });
    }
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(ConfigError::OutOfRange {
            field: "mtu",
            allowed: "128 to 65507 bytes",
        });
    }
    Ok(())
}

/// Configuration of an [`AllToAllMember`](super::AllToAllMember). `Copy`;
/// checked once by [`validate`](Self::validate), which the constructors call.
///
/// The [`Default`] (same as [`new`](Self::new)) heartbeats every member each
/// second (Akka/Pekko `reference.conf`,
/// `akka.cluster.failure-detector.heartbeat-interval = 1 s`), convicts 10 s
/// after suspecting, forgets the dead 30 s later and quarantines their id for
/// 60 s, tracks at most 4,096 members and sends datagrams of at most 1,400
/// bytes.
///
/// ```
/// use failure_detector::cluster::heartbeat::AllToAllConfig;
/// use std::time::Duration;
///
/// let config = AllToAllConfig::new().with_confirmation(Duration::from_secs(20));
/// assert!(config.validate().is_ok());
/// assert!(config.with_heartbeat_interval(Duration::ZERO).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct AllToAllConfig {
    /// How often a member sends a heartbeat to every other member it knows
    /// (Alive or Suspect). Default 1 s (Akka/Pekko `heartbeat-interval`); not
    /// zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub heartbeat_interval: Duration,
    /// How long a member stays Suspect before it is convicted (Dead). Default
    /// 10 s (the registry's default; Akka's split-brain resolver waits
    /// `stable-after = 20 s`, see the Akka preset); may be zero;
    /// `Duration::MAX` never convicts.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub confirmation: Duration,
    /// How long a Dead member is kept (reported Dead, sent nothing) before it
    /// is removed. Default 30 s; may be zero; at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub removal_grace: Duration,
    /// After a removal, heartbeats of the same (or a lower) generation are
    /// ignored for this long; a restart (higher generation) is accepted at
    /// once. Default 60 s (Cassandra `gms/Gossiper.java`, `QUARANTINE_DELAY`);
    /// may be zero; at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub quarantine: Duration,
    /// The most other members tracked (and the most ids quarantined): news of
    /// more is ignored and counted. Default 4,096; 1 to 2^20.
    pub max_members: usize,
    /// The largest datagram sent or accepted, in bytes. Default 1,400; 128 to
    /// 65,507. Heartbeats take a few bytes; only a seed's member lists fill it.
    pub mtu: usize,
    /// The local pause guard and the isolation rule (interval: the heartbeat
    /// interval). Default [`LocalGuardConfig::new`].
    pub guard: LocalGuardConfig,
}

impl Default for AllToAllConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AllToAllConfig {
    /// The defaults (see the type's documentation).
    pub const fn new() -> Self {
        AllToAllConfig {
            heartbeat_interval: Duration::from_secs(1),
            confirmation: Duration::from_secs(10),
            removal_grace: Duration::from_secs(30),
            quarantine: Duration::from_secs(60),
            max_members: 4096,
            mtu: 1400,
            guard: LocalGuardConfig::new(),
        }
    }

    /// Sets [`heartbeat_interval`](Self::heartbeat_interval).
    pub const fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
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
        check_common(
            ("heartbeat_interval", self.heartbeat_interval),
            self.removal_grace,
            self.quarantine,
            self.max_members,
            self.mtu,
        )?;
        self.guard.validate()
    }
}

/// Configuration of a [`CentralMember`](super::CentralMember), the monitor's
/// and the monitored members' alike. `Copy`; checked once by
/// [`validate`](Self::validate), which the constructors call.
///
/// The [`Default`] (same as [`new`](Self::new)): members heartbeat the
/// monitor every second; the monitor evaluates verdicts every second, acks
/// every heartbeat with up to 32 verdicts, convicts 10 s after suspecting,
/// forgets the dead 30 s later (quarantine 60 s); a member that hears no ack
/// for 10 s drops the monitor's verdicts.
///
/// ```
/// use failure_detector::cluster::heartbeat::CentralConfig;
/// use std::time::Duration;
///
/// // Kubernetes' node lifecycle controller checks every 5 s.
/// let config = CentralConfig::new()
///     .with_heartbeat_interval(Duration::from_secs(10))
///     .with_check_period(Duration::from_secs(5));
/// assert!(config.validate().is_ok());
/// assert!(config.with_check_period(Duration::ZERO).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct CentralConfig {
    /// How often a member heartbeats the monitor. Default 1 s; not zero, at
    /// most 2^47 ns. (ZooKeeper's client pings after a third of the session
    /// timeout idle, `ClientCnxn.java`; a Kubernetes kubelet renews its lease
    /// every 10 s.)
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub heartbeat_interval: Duration,
    /// The monitor evaluates its verdicts only at multiples of this (counted
    /// from [`Timestamp::ZERO`](crate::Timestamp::ZERO)), and dates them
    /// there: a member whose detector's deadline passed is suspected at the
    /// first multiple at or after the deadline, as ZooKeeper's
    /// `ExpiryQueue.java` rounds expiries up to the next tick and Kubernetes'
    /// node lifecycle controller looks every `node-monitor-period`. Default
    /// 1 s; not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub check_period: Duration,
    /// Whether the monitor acks each heartbeat. `true` (the default): two
    /// datagrams per member and interval, 2 (N - 1) through the monitor, and
    /// members learn the verdicts from the acks. `false`: N - 1 datagrams, and
    /// members hold no verdicts (only the monitor knows).
    pub acknowledge: bool,
    /// The most verdicts an ack carries: every Suspect and Dead member first
    /// (in id order, as many as fit), then Alive ones from a per-member
    /// rotating cursor, so each member learns the whole membership within
    /// `ceil(N / max_ack_entries)` intervals. Default 32; 1 to 4,096; the MTU
    /// bounds it too. A member refuses an ack with more entries than its own
    /// setting (or its `max_members`): give the monitor and its members the
    /// same configuration.
    pub max_ack_entries: usize,
    /// A member that hears no ack for this long drops every verdict it held
    /// (with [`Removed`](crate::cluster::ClusterEvent::Removed) events) and
    /// reports itself [`Isolated`](crate::cluster::ClusterEvent::Isolated)
    /// from the monitor; the next ack brings them back. Default 10 s; not
    /// zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub view_timeout: Duration,
    /// How long the monitor keeps a member Suspect before it convicts it
    /// (Dead), quantized to the check period. Default 10 s; may be zero;
    /// `Duration::MAX` never convicts.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub confirmation: Duration,
    /// How long a Dead member is kept before it is removed (at the monitor,
    /// and in a member's view from when it learned it). Default 30 s; may be
    /// zero; at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub removal_grace: Duration,
    /// After a removal, heartbeats (or verdicts) of the same or a lower
    /// generation are ignored for this long. Default 60 s; may be zero; at
    /// most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub quarantine: Duration,
    /// The most members the monitor tracks (and a member holds verdicts of).
    /// Default 4,096; 1 to 2^20.
    pub max_members: usize,
    /// The largest datagram sent or accepted, in bytes. Default 1,400; 128 to
    /// 65,507.
    pub mtu: usize,
    /// The monitor's local pause guard and isolation rule (interval: the
    /// check period). Default [`LocalGuardConfig::new`].
    pub guard: LocalGuardConfig,
}

/// The largest [`CentralConfig::max_ack_entries`].
pub const MAX_ACK_ENTRIES: usize = 4096;

impl Default for CentralConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl CentralConfig {
    /// The defaults (see the type's documentation).
    pub const fn new() -> Self {
        CentralConfig {
            heartbeat_interval: Duration::from_secs(1),
            check_period: Duration::from_secs(1),
            acknowledge: true,
            max_ack_entries: 32,
            view_timeout: Duration::from_secs(10),
            confirmation: Duration::from_secs(10),
            removal_grace: Duration::from_secs(30),
            quarantine: Duration::from_secs(60),
            max_members: 4096,
            mtu: 1400,
            guard: LocalGuardConfig::new(),
        }
    }

    /// Sets [`heartbeat_interval`](Self::heartbeat_interval).
    pub const fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`check_period`](Self::check_period).
    pub const fn with_check_period(mut self, period: Duration) -> Self {
        self.check_period = period;
        self
    }

    /// Sets [`acknowledge`](Self::acknowledge).
    pub const fn with_acknowledge(mut self, acknowledge: bool) -> Self {
        self.acknowledge = acknowledge;
        self
    }

    /// Sets [`max_ack_entries`](Self::max_ack_entries).
    pub const fn with_max_ack_entries(mut self, n: usize) -> Self {
        self.max_ack_entries = n;
        self
    }

    /// Sets [`view_timeout`](Self::view_timeout).
    pub const fn with_view_timeout(mut self, timeout: Duration) -> Self {
        self.view_timeout = timeout;
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
        check_common(
            ("heartbeat_interval", self.heartbeat_interval),
            self.removal_grace,
            self.quarantine,
            self.max_members,
            self.mtu,
        )?;
        check::recordable("check_period", self.check_period)?;
        check::recordable("view_timeout", self.view_timeout)?;
        if self.max_ack_entries == 0 {
            return Err(ConfigError::NotPositive {
                field: "max_ack_entries",
            });
        }
        if self.max_ack_entries > MAX_ACK_ENTRIES {
            return Err(ConfigError::OutOfRange {
                field: "max_ack_entries",
                allowed: "at most 4096",
            });
        }
        self.guard.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<(), ConfigError>) -> &'static str {
        match r {
            Err(ConfigError::NotPositive { field })
            | Err(ConfigError::OutOfRange { field, .. })
            | Err(ConfigError::NotFinite { field }) => field,
            Ok(()) => "ok",
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let a = AllToAllConfig::new();
        assert_eq!(field(a.validate()), "ok");
        assert_eq!(
            field(a.with_heartbeat_interval(Duration::ZERO).validate()),
            "heartbeat_interval"
        );
        assert_eq!(field(a.with_mtu(127).validate()), "mtu");
        assert_eq!(field(a.with_max_members(0).validate()), "max_members");
        assert_eq!(
            field(
                a.with_removal_grace(Duration::from_secs(1 << 40))
                    .validate()
            ),
            "removal_grace"
        );
        let guard = LocalGuardConfig::new().with_isolation_share(f64::NAN);
        assert_eq!(field(a.with_guard(guard).validate()), "isolation_share");
        let c = CentralConfig::new();
        assert_eq!(field(c.validate()), "ok");
        assert_eq!(
            field(c.with_check_period(Duration::ZERO).validate()),
            "check_period"
        );
        assert_eq!(
            field(c.with_view_timeout(Duration::ZERO).validate()),
            "view_timeout"
        );
        assert_eq!(
            field(c.with_max_ack_entries(0).validate()),
            "max_ack_entries"
        );
        assert_eq!(
            field(c.with_max_ack_entries(MAX_ACK_ENTRIES + 1).validate()),
            "max_ack_entries"
        );
        assert_eq!(field(c.with_max_members(1 << 21).validate()), "max_members");
    }
}
