//! [`SwimConfig`]: every tuning constant of the probe protocol in one `Copy`
//! struct, with memberlist's LAN, WAN and local presets.

use std::time::Duration;

use crate::cluster::LocalGuardConfig;
use crate::cluster::wire::{MAX_MTU, MIN_MTU};
use crate::error::{ConfigError, check};
use crate::time::duration_nanos;

/// The most members (known, tombstoned) a [`SwimConfig::max_members`] may allow.
pub const MAX_MEMBERS_LIMIT: usize = 1 << 20;

/// The largest multiplier any `*_mult` field accepts.
const MAX_MULT: u32 = 64;

/// The largest [`SwimConfig::indirect_checks`].
const MAX_INDIRECT_CHECKS: usize = 16;

/// The longest [`SwimConfig::probe_interval`]: one hour.
const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(3_600);

/// How a [`SwimMember`](super::SwimMember) probes, suspects, convicts and
/// forgets.
///
/// [`Default`] is [`SwimConfig::lan`], memberlist's `DefaultLANConfig`. The
/// presets copy memberlist's published constants (`config.go`,
/// `DefaultLANConfig`, `DefaultWANConfig`, `DefaultLocalConfig`); the fields
/// memberlist does not have (tombstone quarantine, `max_members`, the local
/// guard, the seed) say where their defaults come from.
///
/// ```
/// use failure_detector::cluster::SwimConfig;
/// use std::time::Duration;
///
/// let lan = SwimConfig::default();
/// assert_eq!(lan, SwimConfig::lan());
/// assert_eq!(lan.probe_interval, Duration::from_secs(1));
/// // memberlist's suspicion timeout at N = 100: 4 x log10(100) x 1 s, and 6 x that.
/// assert_eq!(lan.suspicion_min_timeout(100), Duration::from_secs(8));
/// assert_eq!(lan.suspicion_max_timeout(100), Duration::from_secs(48));
/// assert_eq!(lan.retransmit_limit(100), 12); // 4 x ceil(log10(101))
/// assert!(SwimConfig::wan().with_probe_timeout(Duration::from_secs(9)).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct SwimConfig {
    /// The protocol period: one member is probed per period. A failed probe
    /// waits `probe_interval x (health score + 1)` for an ack before the
    /// target is suspected (Lifeguard). Default 1 s (LAN, local), 5 s (WAN)
    /// (memberlist `ProbeInterval`); not zero, at most 1 hour.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub probe_interval: Duration,
    /// How long a direct ping waits for its ack before `indirect_checks`
    /// relays are asked to ping the target. Not scaled by the health score, as
    /// in memberlist. Default 500 ms (LAN), 3 s (WAN), 200 ms (local)
    /// (memberlist `ProbeTimeout`); not zero, below `probe_interval`.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub probe_timeout: Duration,
    /// Relays asked to ping a target that did not ack in time (SWIM's `k`).
    /// Default 3 (LAN, WAN), 1 (local) (memberlist `IndirectChecks`); 0 to 16
    /// (0 turns indirect probes off).
    pub indirect_checks: usize,
    /// Each update (alive, suspect, dead) is piggybacked on
    /// `retransmit_mult x ceil(log10(N + 1))` datagrams, N the members known
    /// (this one and tombstones included). Default 4 (LAN, WAN), 2 (local)
    /// (memberlist `RetransmitMult`); 1 to 64.
    pub retransmit_mult: u32,
    /// The minimum suspicion timeout is
    /// `suspicion_mult x max(1, log10 N) x probe_interval`, and
    /// `suspicion_mult - 2` independent confirmations bring the timeout down to
    /// it. Default 4 (LAN), 6 (WAN), 3 (local) (memberlist `SuspicionMult`);
    /// 1 to 64.
    pub suspicion_mult: u32,
    /// The maximum suspicion timeout (with no confirmation) is this times the
    /// minimum. Default 6 in every preset (memberlist
    /// `SuspicionMaxTimeoutMult`); 1 to 64.
    pub suspicion_max_timeout_mult: u32,
    /// Lifeguard's local health score runs from 0 to this minus 1; probe
    /// deadlines are scaled by `score + 1`. Default 8 in every preset
    /// (memberlist `AwarenessMaxMultiplier`); 1 to 64 (1 turns the scaling off).
    pub awareness_max_multiplier: u32,
    /// The largest datagram this member sends or accepts, in bytes. Default
    /// 1,400 (memberlist `UDPBufferSize`); [`MIN_MTU`] to [`MAX_MTU`].
    pub mtu: usize,
    /// How long a Dead member is kept (probed by nobody, but still answered
    /// and told it is dead if it speaks) before it is removed. Default 30 s
    /// (LAN), 60 s (WAN), 15 s (local) (memberlist `GossipToTheDeadTime`, after
    /// which memberlist reaps dead nodes); not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub tombstone_grace: Duration,
    /// After removal, news of the member's same or older (generation,
    /// incarnation) is ignored for this long; only a restart (higher
    /// generation) or a refutation (higher incarnation) brings it back.
    /// Default 60 s in every preset (Cassandra's quarantine delay,
    /// `gms/Gossiper.java`, twice its 30 s ring delay; memberlist has none);
    /// not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub quarantine: Duration,
    /// The most other members this one keeps (alive, suspect and tombstoned),
    /// and the most quarantined ids: news of more is ignored, so the network
    /// cannot grow its memory without limit. Default 16,384 (this crate's);
    /// 1 to 2^20.
    pub max_members: usize,
    /// The local pause guard and the isolation rule; the guard's interval is
    /// `probe_interval`. Default [`LocalGuardConfig::new`] (Cassandra's 5 s
    /// maximum local pause; isolated above half the peers, from 3 peers).
    pub guard: LocalGuardConfig,
    /// Seeds the member's random choices (probe order, relays, start offset),
    /// mixed with its id and generation, so members sharing a config still
    /// choose differently. Default 0; any value.
    pub seed: u64,
}

impl Default for SwimConfig {
    fn default() -> Self {
        Self::lan()
    }
}

impl SwimConfig {
    /// memberlist's `DefaultLANConfig`: 1 s period, 500 ms probe timeout,
    /// 3 relays, retransmit 4, suspicion 4 (max 6x), health up to 8, 1,400-byte
    /// MTU, 30 s tombstones.
    pub const fn lan() -> Self {
        SwimConfig {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            awareness_max_multiplier: 8,
            mtu: 1_400,
            tombstone_grace: Duration::from_secs(30),
            quarantine: Duration::from_secs(60),
            max_members: 16_384,
            guard: LocalGuardConfig::new(),
            seed: 0,
        }
    }

    /// memberlist's `DefaultWANConfig`: the LAN config with a 5 s period, 3 s
    /// probe timeout, suspicion 6 and 60 s tombstones.
    pub const fn wan() -> Self {
        let mut c = Self::lan();
        c.probe_interval = Duration::from_secs(5);
        c.probe_timeout = Duration::from_secs(3);
        c.suspicion_mult = 6;
        c.tombstone_grace = Duration::from_secs(60);
        c
    }

    /// memberlist's `DefaultLocalConfig`: the LAN config with a 200 ms probe
    /// timeout, 1 relay, retransmit 2, suspicion 3 and 15 s tombstones.
    pub const fn local() -> Self {
        let mut c = Self::lan();
        c.probe_timeout = Duration::from_millis(200);
        c.indirect_checks = 1;
        c.retransmit_mult = 2;
        c.suspicion_mult = 3;
        c.tombstone_grace = Duration::from_secs(15);
        c
    }

    /// Sets [`probe_interval`](Self::probe_interval).
    pub const fn with_probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Sets [`probe_timeout`](Self::probe_timeout).
    pub const fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets [`indirect_checks`](Self::indirect_checks).
    pub const fn with_indirect_checks(mut self, k: usize) -> Self {
        self.indirect_checks = k;
        self
    }

    /// Sets [`retransmit_mult`](Self::retransmit_mult).
    pub const fn with_retransmit_mult(mut self, mult: u32) -> Self {
        self.retransmit_mult = mult;
        self
    }

    /// Sets [`suspicion_mult`](Self::suspicion_mult).
    pub const fn with_suspicion_mult(mut self, mult: u32) -> Self {
        self.suspicion_mult = mult;
        self
    }

    /// Sets [`suspicion_max_timeout_mult`](Self::suspicion_max_timeout_mult).
    pub const fn with_suspicion_max_timeout_mult(mut self, mult: u32) -> Self {
        self.suspicion_max_timeout_mult = mult;
        self
    }

    /// Sets [`awareness_max_multiplier`](Self::awareness_max_multiplier).
    pub const fn with_awareness_max_multiplier(mut self, max: u32) -> Self {
        self.awareness_max_multiplier = max;
        self
    }

    /// Sets [`mtu`](Self::mtu).
    pub const fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets [`tombstone_grace`](Self::tombstone_grace).
    pub const fn with_tombstone_grace(mut self, grace: Duration) -> Self {
        self.tombstone_grace = grace;
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

    /// Sets [`guard`](Self::guard).
    pub const fn with_guard(mut self, guard: LocalGuardConfig) -> Self {
        self.guard = guard;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let interval = check::nonzero("probe_interval", self.probe_interval)?;
        if self.probe_interval > MAX_PROBE_INTERVAL {
            return Err(ConfigError::OutOfRange {
                field: "probe_interval",
                allowed: "at most 1 hour",
            });
        }
        let timeout = check::nonzero("probe_timeout", self.probe_timeout)?;
        if timeout >= interval {
            return Err(ConfigError::OutOfRange {
                field: "probe_timeout",
                allowed: "below probe_interval",
            });
        }
        if self.indirect_checks > MAX_INDIRECT_CHECKS {
            return Err(ConfigError::OutOfRange {
                field: "indirect_checks",
                allowed: "0 to 16",
            });
        }
        mult("retransmit_mult", self.retransmit_mult)?;
        mult("suspicion_mult", self.suspicion_mult)?;
        mult(
            "suspicion_max_timeout_mult",
            self.suspicion_max_timeout_mult,
        )?;
        mult("awareness_max_multiplier", self.awareness_max_multiplier)?;
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::OutOfRange {
                field: "mtu",
                allowed: "128 to 65,507 bytes (wire::MIN_MTU to wire::MAX_MTU)",
            });
        }
        check::recordable("tombstone_grace", self.tombstone_grace)?;
        check::recordable("quarantine", self.quarantine)?;
        if self.max_members == 0 {
            return Err(ConfigError::NotPositive {
                field: "max_members",
            });
        }
        if self.max_members > MAX_MEMBERS_LIMIT {
            return Err(ConfigError::OutOfRange {
                field: "max_members",
                allowed: "at most 2^20",
            });
        }
        self.guard.validate()
    }

    /// memberlist's minimum suspicion timeout for a cluster of `n` members
    /// (`util.go`, `suspicionTimeout`):
    /// `suspicion_mult x max(1, log10 max(1, n)) x probe_interval`, with the
    /// scale truncated to thousandths as memberlist does. Saturates at
    /// `Duration::MAX`-like values only for absurd configs (the validated
    /// ranges stay below 2^63 ns).
    pub fn suspicion_min_timeout(&self, n: usize) -> Duration {
        let scale = (n.max(1) as f64).log10().max(1.0);
        // memberlist: time.Duration(nodeScale*1000), a truncation.
        let milli_scale = (scale * 1000.0) as u128;
        let ns = u128::from(self.suspicion_mult)
            * milli_scale
            * u128::from(duration_nanos(self.probe_interval))
            / 1000;
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The maximum suspicion timeout: `suspicion_max_timeout_mult` times
    /// [`suspicion_min_timeout`](Self::suspicion_min_timeout).
    pub fn suspicion_max_timeout(&self, n: usize) -> Duration {
        let min = duration_nanos(self.suspicion_min_timeout(n));
        Duration::from_nanos(min.saturating_mul(u64::from(self.suspicion_max_timeout_mult)))
    }

    /// The independent confirmations that bring a suspicion to its minimum
    /// timeout in a cluster of `n`: `suspicion_mult - 2`, or 0 if fewer than
    /// that many members besides the suspect and the suspecting one exist
    /// (memberlist `state.go`, `suspectNode`).
    pub fn suspicion_confirmations(&self, n: usize) -> u32 {
        let k = self.suspicion_mult.saturating_sub(2);
        if (n as u64).saturating_sub(2) < u64::from(k) {
            0
        } else {
            k
        }
    }

    /// How many datagrams each update rides on in a cluster of `n`:
    /// `retransmit_mult x ceil(log10(n + 1))` (memberlist `util.go`,
    /// `retransmitLimit`).
    pub fn retransmit_limit(&self, n: usize) -> u32 {
        let scale = ((n as f64) + 1.0).log10().ceil() as u32;
        self.retransmit_mult.saturating_mul(scale)
    }
}

fn mult(field: &'static str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::NotPositive { field })
    } else if value > MAX_MULT {
        Err(ConfigError::OutOfRange {
            field,
            allowed: "1 to 64",
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_memberlists_and_valid() {
        for c in [SwimConfig::lan(), SwimConfig::wan(), SwimConfig::local()] {
            assert_eq!(c.validate(), Ok(()));
        }
        let wan = SwimConfig::wan();
        assert_eq!(wan.probe_interval, Duration::from_secs(5));
        assert_eq!(wan.probe_timeout, Duration::from_secs(3));
        assert_eq!(wan.suspicion_mult, 6);
        let local = SwimConfig::local();
        assert_eq!(local.probe_timeout, Duration::from_millis(200));
        assert_eq!((local.indirect_checks, local.retransmit_mult), (1, 2));
        assert_eq!(local.suspicion_mult, 3);
    }

    #[test]
    fn every_field_is_checked() {
        let c = SwimConfig::lan();
        let bad = [
            (c.with_probe_interval(Duration::ZERO), "probe_interval"),
            (
                c.with_probe_interval(Duration::from_secs(7200)),
                "probe_interval",
            ),
            (c.with_probe_timeout(Duration::ZERO), "probe_timeout"),
            (
                c.with_probe_timeout(Duration::from_secs(1)),
                "probe_timeout",
            ),
            (c.with_indirect_checks(17), "indirect_checks"),
            (c.with_retransmit_mult(0), "retransmit_mult"),
            (c.with_suspicion_mult(65), "suspicion_mult"),
            (
                c.with_suspicion_max_timeout_mult(0),
                "suspicion_max_timeout_mult",
            ),
            (
                c.with_awareness_max_multiplier(0),
                "awareness_max_multiplier",
            ),
            (c.with_mtu(MIN_MTU - 1), "mtu"),
            (c.with_mtu(MAX_MTU + 1), "mtu"),
            (c.with_tombstone_grace(Duration::ZERO), "tombstone_grace"),
            (
                c.with_quarantine(Duration::from_secs(1 << 40)),
                "quarantine",
            ),
            (c.with_max_members(0), "max_members"),
            (c.with_max_members(MAX_MEMBERS_LIMIT + 1), "max_members"),
            (
                c.with_guard(LocalGuardConfig::new().with_isolation_share(f64::NAN)),
                "isolation_share",
            ),
        ];
        for (config, field) in bad {
            let e = config.validate().unwrap_err();
            assert_eq!(e.field(), field, "{config:?}");
        }
    }

    #[test]
    fn golden_timeouts_and_limits_of_the_lan_config() {
        let c = SwimConfig::lan();
        for (n, min, max) in [(1, 4, 24), (10, 4, 24), (100, 8, 48), (1000, 12, 72)] {
            assert_eq!(c.suspicion_min_timeout(n), Duration::from_secs(min), "{n}");
            assert_eq!(c.suspicion_max_timeout(n), Duration::from_secs(max), "{n}");
        }
        // log10(5) < 1: the scale is at least 1.
        assert_eq!(c.suspicion_min_timeout(5), Duration::from_secs(4));
        // log10(50) = 1.69897...: truncated to 1.698.
        assert_eq!(c.suspicion_min_timeout(50), Duration::from_millis(6_792));
        assert_eq!(c.suspicion_confirmations(100), 2);
        assert_eq!(c.suspicion_confirmations(3), 0);
        assert_eq!(c.suspicion_confirmations(4), 2);
        for (n, limit) in [(1, 4), (9, 4), (10, 8), (99, 8), (100, 12), (1000, 16)] {
            assert_eq!(c.retransmit_limit(n), limit, "{n}");
        }
    }
}
