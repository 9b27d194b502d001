//! Presets that reproduce what users already run: named constructors with the
//! constants of ZooKeeper sessions, Kubernetes node leases, Cassandra's
//! gossip, Akka/Pekko clusters, memberlist and foca, each citing its source,
//! and [`Preset`], a list of them with the detection windows their sources
//! document, so a comparison can iterate them.
//!
//! ```
//! use failure_detector::cluster::presets::{self, Preset};
//! use std::time::Duration;
//!
//! // ZooKeeper: a 60 s session asked of a server ticking every 2 s gets 40 s.
//! assert_eq!(
//!     presets::zookeeper_negotiated_timeout(Duration::from_secs(2), Duration::from_secs(60)),
//!     Duration::from_secs(40)
//! );
//! for p in Preset::ALL {
//!     assert!(!p.windows(10).is_empty(), "{}", p.name());
//! }
//! ```
//!
//! The windows are measured from a crash (or, for the SWIM presets, are the
//! suspicion timeouts), on a network whose delays are small against the
//! periods; each preset's test in `tests/cluster_presets.rs` crashes a member
//! and checks them.

use std::time::Duration;

use crate::cluster::LocalGuardConfig;
use crate::cluster::gossip::{GossipConfig, GossipMember, ObserverConfig, VerdictPolicy};
use crate::cluster::heartbeat::{CentralConfig, CentralMember};
use crate::cluster::id::{Member, MemberId};
use crate::cluster::swim::SwimConfig;
use crate::detectors::FailureDetector;
use crate::detectors::exponential::{ExponentialPhi, ExponentialPhiConfig};
use crate::detectors::fixed::{FixedTimeout, FixedTimeoutConfig};
use crate::detectors::phi::{PhiAccrual, PhiAccrualConfig};
use crate::error::ConfigError;

// ----- ZooKeeper -----

/// ZooKeeper's `tickTime` in the sample configuration (`conf/zoo_sample.cfg`,
/// `tickTime=2000`).
pub const ZOOKEEPER_TICK: Duration = Duration::from_secs(2);

/// The session timeout a ZooKeeper server grants a client that asks for
/// `requested`: clamped to `[2, 20]` ticks (`ZooKeeperServer.java`,
/// `minSessionTimeout` defaults to 2 x `tickTime`, `maxSessionTimeout` to 20
/// x `tickTime`). A zero tick is taken as 1 ns.
pub fn zookeeper_negotiated_timeout(tick: Duration, requested: Duration) -> Duration {
    let tick = tick.max(Duration::from_nanos(1));
    requested.clamp(tick.saturating_mul(2), tick.saturating_mul(20))
}

/// A centrally monitored preset: the configuration every member shares and
/// the monitor's detector.
#[derive(Clone, Debug)]
pub struct CentralPreset {
    /// The members' and the monitor's configuration.
    pub config: CentralConfig,
    /// The monitor's detector of each member.
    pub detector: FixedTimeout,
}

impl CentralPreset {
    /// The monitor.
    ///
    /// # Errors
    /// [`ConfigError`] as [`CentralMember::monitor_with_detector`].
    pub fn monitor<I: MemberId>(
        &self,
        me: Member<I>,
    ) -> Result<CentralMember<I, FixedTimeout>, ConfigError> {
        CentralMember::monitor_with_detector(me, self.config, self.detector.clone())
    }

    /// A member monitored by `monitor`.
    ///
    /// # Errors
    /// [`ConfigError`] as [`CentralMember::member`].
    pub fn member<I: MemberId>(
        &self,
        me: Member<I>,
        monitor: I,
    ) -> Result<CentralMember<I, FixedTimeout>, ConfigError> {
        CentralMember::member(me, monitor, self.config)
    }
}

/// A ZooKeeper session: the server is the monitor, each client a member.
///
/// * The session timeout `T` is [`zookeeper_negotiated_timeout`]`(tick,
///   requested)`.
/// * A client sends a ping after `T / 3` without traffic (`ClientCnxn.java`:
///   the read timeout is `2T / 3` and a ping goes out after half of it idle),
///   so here a heartbeat every `T / 3`.
/// * The server expires a session `T` after its last packet, rounded up to a
///   multiple of the tick (`ExpiryQueue.java`, `roundToNextInterval`; the
///   expirer runs at those instants), and expiry is final: a fixed timeout of
///   `T`, checks every tick, no confirmation (Suspect and Dead at the same
///   check).
///
/// So a crashed client's session expires within `(2T/3, T + tick]` of the
/// crash (plus the network delay of its last ping). Deliberate differences:
/// the crate's local pause guard stays on (a paused server convicts no one
/// for two ticks on waking), the isolation rule is off (a ZooKeeper server
/// expires every silent session), and members learn expiries from the acks
/// (ZooKeeper tells only the expired client, when it reconnects).
pub fn zookeeper_session(
    tick: Duration,
    requested: Duration,
) -> Result<CentralPreset, ConfigError> {
    let timeout = zookeeper_negotiated_timeout(tick, requested);
    let config = CentralConfig::new()
        .with_heartbeat_interval(timeout / 3)
        .with_check_period(tick)
        .with_confirmation(Duration::ZERO)
        .with_view_timeout(timeout)
        .with_guard(LocalGuardConfig::new().with_isolation_share(1.0));
    config.validate()?;
    let detector = FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(timeout)
            .with_missed_heartbeats(1.0),
    )?;
    Ok(CentralPreset { config, detector })
}

// ----- Kubernetes -----

/// How often a kubelet renews its node lease (`pkg/kubelet/nodelease`:
/// `renewInterval` is a quarter of the 40 s `nodeLeaseDurationSeconds`).
pub const KUBERNETES_LEASE_RENEW: Duration = Duration::from_secs(10);
/// The lease's duration (kubelet `nodeLeaseDurationSeconds`, 40 s).
pub const KUBERNETES_LEASE_DURATION: Duration = Duration::from_secs(40);
/// `--node-monitor-period` of the node lifecycle controller (5 s).
pub const KUBERNETES_NODE_MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// `--node-monitor-grace-period` since Kubernetes 1.32 (50 s; kubernetes
/// issue 121793 and PR 126287 raised it from 40 s).
pub const KUBERNETES_GRACE: Duration = Duration::from_secs(50);
/// `--node-monitor-grace-period` before 1.32 (40 s).
pub const KUBERNETES_GRACE_LEGACY: Duration = Duration::from_secs(40);
/// Pods are evicted this long after their node turns NotReady (the
/// `node.kubernetes.io/not-ready` and `unreachable` taints' default
/// `tolerationSeconds`, 300 s, formerly `--pod-eviction-timeout`).
pub const KUBERNETES_EVICTION: Duration = Duration::from_secs(300);
/// `--unhealthy-zone-threshold` (0.55): a zone with at least this share of its
/// nodes NotReady is unhealthy and evictions in it are throttled or stopped.
pub const KUBERNETES_UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;

/// Kubernetes' node lease as the node lifecycle controller judges it
/// (`pkg/controller/nodelifecycle/node_lifecycle_controller.go`): the
/// controller is the monitor, each kubelet a member renewing its lease every
/// 10 s; every 5 s the controller marks NotReady (Suspect) a node whose lease
/// was last renewed more than the grace period (50 s) ago, and its pods are
/// evicted (Dead) 300 s later. A crashed node turns NotReady within `(40,
/// 55]` s of the crash and is evicted 300 s after that.
///
/// The monitor's isolation share is the unhealthy-zone threshold (0.55):
/// when more than that share of the nodes is NotReady it evicts no one, as
/// the controller stops evictions in a fully disrupted zone. Members learn
/// verdicts from the acks (a kubelet reads the Node objects instead); they
/// drop them after a lease duration (40 s) without an ack.
pub fn kubernetes_node_lease() -> Result<CentralPreset, ConfigError> {
    kubernetes_with_grace(KUBERNETES_GRACE)
}

/// [`kubernetes_node_lease`] with the grace period of Kubernetes before 1.32
/// (40 s): NotReady within `(30, 45]` s of a crash.
pub fn kubernetes_node_lease_legacy() -> Result<CentralPreset, ConfigError> {
    kubernetes_with_grace(KUBERNETES_GRACE_LEGACY)
}

fn kubernetes_with_grace(grace: Duration) -> Result<CentralPreset, ConfigError> {
    let config = CentralConfig::new()
        .with_heartbeat_interval(KUBERNETES_LEASE_RENEW)
        .with_check_period(KUBERNETES_NODE_MONITOR_PERIOD)
        .with_confirmation(KUBERNETES_EVICTION)
        .with_view_timeout(KUBERNETES_LEASE_DURATION)
        .with_guard(
            LocalGuardConfig::new().with_isolation_share(KUBERNETES_UNHEALTHY_ZONE_THRESHOLD),
        );
    config.validate()?;
    let detector = FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(grace)
            .with_missed_heartbeats(1.0),
    )?;
    Ok(CentralPreset { config, detector })
}

// ----- Cassandra and Akka (gossip) -----

/// A gossip preset: the configuration and the detector each member judges
/// the others with.
#[derive(Clone, Debug)]
pub struct GossipPreset<D> {
    /// The members' configuration (give each its own seed).
    pub config: GossipConfig,
    /// The detector of each member (or subject, in observer mode).
    pub detector: D,
}

impl<D: FailureDetector + Clone + Send + Sync + 'static> GossipPreset<D> {
    /// A member, its random choices seeded with `seed`.
    ///
    /// # Errors
    /// [`ConfigError`] as [`GossipMember::with_detector`].
    pub fn member<I: MemberId>(
        &self,
        me: Member<I>,
        seed: u64,
    ) -> Result<GossipMember<I, D>, ConfigError> {
        GossipMember::with_detector(me, self.config.with_seed(seed), self.detector.clone())
    }
}

/// Cassandra's gossiper and failure detector (`gms/Gossiper.java`,
/// `gms/FailureDetector.java`): a gossip round every second to one random
/// live member (plus an unreachable one with probability unreachable / (live +
/// 1), and a seed when no one is live); the exponential phi with threshold 8
/// (`phi_convict_threshold`), a window of 1,000 intervals, intervals above 2
/// s not recorded and 2 s recorded at the first arrival (`fd_max_interval_ms`
/// and `fd_initial_value_ms`, twice the gossip interval); a local pause
/// above 5 s convicts no one (`cassandra.max_local_pause_in_ms`); conviction
/// as soon as phi reaches the threshold (`FailureDetector.interpret` convicts
/// directly: no confirmation); the dead quarantined 60 s
/// (`QUARANTINE_DELAY`). Phi 8 is reached `8 ln 10 = 18.4` mean intervals
/// after the last new version: with a new version every second (two
/// members), a crashed member is convicted 17.4 to 18.4 s after the crash
/// (the window [`Preset::Cassandra`] lists, 18.4 +- 1 s). With more members,
/// one partner per round brings an observer a member's versions less
/// regularly (some are skipped, and the last one arrives up to a few rounds
/// after the crash): at N = 5 the mean interval is 1.1 to 1.4 s and
/// conviction comes 22 to 28 s after the crash, as it would in Cassandra
/// with these constants.
pub fn cassandra() -> Result<GossipPreset<ExponentialPhi>, ConfigError> {
    let config = GossipConfig::new()
        .with_gossip_interval(Duration::from_secs(1))
        .with_fanout(1)
        .with_confirmation(Duration::ZERO)
        .with_quarantine(Duration::from_secs(60))
        .with_guard(LocalGuardConfig::new().with_max_local_pause(Duration::from_secs(5)));
    config.validate()?;
    let detector = ExponentialPhi::new(
        ExponentialPhiConfig::new()
            .with_threshold(8.0)
            .with_window_size(1000)
            .with_max_interval(Duration::from_secs(2))
            .with_initial_interval(Duration::from_secs(2)),
    )?;
    Ok(GossipPreset { config, detector })
}

/// The split-brain resolver's `stable-after` (Akka/Pekko
/// `split-brain-resolver.stable-after = 20s`): how long membership must be
/// stable before unreachable members are downed.
pub const AKKA_STABLE_AFTER: Duration = Duration::from_secs(20);

/// An Akka / Pekko cluster (`cluster/src/main/resources/reference.conf`,
/// `pekko.cluster.failure-detector`): heartbeats every 1 s, phi threshold 8,
/// 1,000 samples, 100 ms minimum standard deviation, 3 s acceptable pause,
/// each member watched by 9 observers (`monitored-by-nr-of-members`), any of
/// which makes it unreachable (`Reachability.scala`); gossip every 1 s to one
/// member. The split-brain resolver with `keep-majority` and `stable-after =
/// 20 s` downs an unreachable member 20 s after it became unreachable: here
/// the confirmation before Dead. Keep-majority itself is played by the
/// isolation rule: a member that finds more than half of its peers
/// unreachable is on the minority side and downs no one (Akka's minority
/// downs itself instead). Phi 8 is reached 4.52 s after the last answer (1
/// s mean, 3 s pause, 5.22 standard deviations of 100 ms), so a crashed
/// member is unreachable 3.5 to 4.5 s after the crash at its observers (the
/// last answer came within the heartbeat interval before it) and downed 20
/// s later. Akka's reaper (`unreachable-nodes-reaper-interval = 1 s`) looks
/// once a second and so adds up to 1 s: Akka's own window is 3.5 to 5.5 s,
/// the one [`Preset::Akka`] lists; here conviction is not quantized.
pub fn akka() -> Result<GossipPreset<PhiAccrual>, ConfigError> {
    let config = GossipConfig::new()
        .with_gossip_interval(Duration::from_secs(1))
        .with_fanout(1)
        .with_confirmation(AKKA_STABLE_AFTER)
        .with_observers(Some(
            ObserverConfig::new()
                .with_monitored_by(9)
                .with_policy(VerdictPolicy::AnyObserver),
        ));
    config.validate()?;
    let detector = PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_threshold(8.0)
            .with_max_sample_size(1000)
            .with_min_std_deviation(Duration::from_millis(100))
            .with_acceptable_heartbeat_pause(Duration::from_secs(3))
            .with_first_heartbeat_estimate(Duration::from_secs(1)),
    )?;
    Ok(GossipPreset { config, detector })
}

// ----- memberlist and foca (SWIM) -----

/// memberlist's `DefaultLANConfig` (`config.go`): [`SwimConfig::lan`].
pub const fn memberlist_lan() -> SwimConfig {
    SwimConfig::lan()
}

/// memberlist's `DefaultWANConfig` (`config.go`): [`SwimConfig::wan`].
pub const fn memberlist_wan() -> SwimConfig {
    SwimConfig::wan()
}

/// memberlist's `DefaultLocalConfig` (`config.go`): [`SwimConfig::local`].
pub const fn memberlist_local() -> SwimConfig {
    SwimConfig::local()
}

/// foca's `remove_down_after` in both presets (`src/config.rs`,
/// `DEFAULT_REMOVE_DOWN_AFTER`: 24 hours).
pub const FOCA_REMOVE_DOWN_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// foca's `suspect_to_down_after` for a cluster of `n` (`src/config.rs`,
/// `Config::suspicion_duration`): `max(1, log10 n) x mult x probe_period`,
/// with `mult` 4 (LAN) or 6 (WAN). Rounded to the nanosecond.
pub fn foca_suspect_to_down_after(n: u32, probe_period: Duration, mult: f64) -> Duration {
    let secs = f64::from(n.max(1)).log10().max(1.0) * mult * probe_period.as_secs_f64();
    Duration::from_nanos((secs * 1e9).round() as u64)
}

/// foca's `max_transmissions` for a cluster of `n` (`src/config.rs`,
/// `Config::compute_max_tx`): `4 x log10(n + 1)`, truncated, between 1 and
/// 255.
pub fn foca_max_transmissions(n: u32) -> u8 {
    let tx = f64::from(n.saturating_add(1)).log10() * 4.0;
    tx.clamp(1.0, 255.0) as u8
}

/// foca's `Config::new_lan` (`src/config.rs`) mapped onto [`SwimConfig`]:
///
/// | foca | value | here |
/// |---|---|---|
/// | `probe_period` | 1 s | [`probe_interval`](SwimConfig::probe_interval) |
/// | `probe_rtt` | 500 ms | [`probe_timeout`](SwimConfig::probe_timeout) |
/// | `num_indirect_probes` | 3 | [`indirect_checks`](SwimConfig::indirect_checks) |
/// | `suspect_to_down_after` | `max(1, log10 N) x 4 x 1 s` | [`suspicion_mult`](SwimConfig::suspicion_mult) 4 with [`suspicion_max_timeout_mult`](SwimConfig::suspicion_max_timeout_mult) 1: a fixed timeout, no Lifeguard shrinking |
/// | `max_transmissions` | `floor(4 log10(N + 1))` | [`retransmit_mult`](SwimConfig::retransmit_mult) 4, which gives `4 ceil(log10(N + 1))` (more: 8 instead of 4 at N = 10) |
/// | `remove_down_after` | 24 h | [`tombstone_grace`](SwimConfig::tombstone_grace) |
/// | `max_packet_size` | 1,400 | [`mtu`](SwimConfig::mtu) |
/// | (no Lifeguard health) | | [`awareness_max_multiplier`](SwimConfig::awareness_max_multiplier) 1 (off) |
///
/// Not mapped: `periodic_gossip` (every 200 ms to 3 members; news rides on
/// probes here), `periodic_announce` (30 s), `periodic_announce_to_down_members`
/// (65 s), `notify_down_members`; the quarantine, member bound and local guard
/// are this crate's (their [`SwimConfig::lan`] values). memberlist's timeout
/// truncates `log10 N` to thousandths, foca's does not: they differ by less
/// than a millisecond per probe period.
pub const fn foca_lan() -> SwimConfig {
    SwimConfig::lan()
        .with_probe_interval(Duration::from_secs(1))
        .with_probe_timeout(Duration::from_millis(500))
        .with_indirect_checks(3)
        .with_retransmit_mult(4)
        .with_suspicion_mult(4)
        .with_suspicion_max_timeout_mult(1)
        .with_awareness_max_multiplier(1)
        .with_mtu(1400)
        .with_tombstone_grace(FOCA_REMOVE_DOWN_AFTER)
}

/// foca's `Config::new_wan` (`src/config.rs`) mapped as [`foca_lan`]: a 5 s
/// probe period, 3 s probe rtt, 3 indirect probes, `suspect_to_down_after =
/// max(1, log10 N) x 6 x 5 s` (suspicion multiplier 6, fixed), the same
/// transmissions, 24 h before removal, 1,400-byte packets. Not mapped:
/// periodic gossip every 500 ms to 4 members, announces every 60 s and 125 s.
pub const fn foca_wan() -> SwimConfig {
    foca_lan()
        .with_probe_interval(Duration::from_secs(5))
        .with_probe_timeout(Duration::from_secs(3))
        .with_suspicion_mult(6)
}

// ----- the list -----

/// Which topology a preset runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum PresetTopology {
    /// A [`CentralMember`] monitor and its members.
    Central,
    /// [`GossipMember`]s judging each other.
    Gossip,
    /// [`GossipMember`]s in observer mode.
    GossipObservers,
    /// [`SwimMember`](crate::cluster::SwimMember)s.
    Swim,
}

/// What a [`DetectionWindow`] bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Measure {
    /// From a crash until the member is Suspect (unreachable, NotReady).
    CrashToSuspect,
    /// From a crash until the member is Dead (convicted, expired, evicted,
    /// downed).
    CrashToDead,
    /// How long a SWIM suspicion lasts before it convicts: from its maximum
    /// (no confirmation) down to its minimum.
    SuspicionTimeout,
}

/// A documented detection window: `min..=max` of a [`Measure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct DetectionWindow {
    /// What it bounds.
    pub measure: Measure,
    /// The earliest.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub min: Duration,
    /// The latest.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub max: Duration,
}

impl DetectionWindow {
    const fn new(measure: Measure, min: Duration, max: Duration) -> Self {
        DetectionWindow { measure, min, max }
    }

    /// Whether `d` lies in the window.
    pub fn contains(&self, d: Duration) -> bool {
        self.min <= d && d <= self.max
    }
}

/// The presets, for a comparison to iterate ([`Preset::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Preset {
    /// [`zookeeper_session`] with the sample tick (2 s) and a 60 s request
    /// (Apache Curator's default session timeout), clamped to 40 s.
    ZooKeeper,
    /// [`kubernetes_node_lease`].
    Kubernetes,
    /// [`kubernetes_node_lease_legacy`].
    KubernetesLegacy,
    /// [`cassandra`].
    Cassandra,
    /// [`akka`].
    Akka,
    /// [`memberlist_lan`].
    MemberlistLan,
    /// [`memberlist_wan`].
    MemberlistWan,
    /// [`memberlist_local`].
    MemberlistLocal,
    /// [`foca_lan`].
    FocaLan,
    /// [`foca_wan`].
    FocaWan,
}

/// The session timeout [`Preset::ZooKeeper`] asks for.
pub const ZOOKEEPER_REQUESTED_TIMEOUT: Duration = Duration::from_secs(60);

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 10] = [
        Preset::ZooKeeper,
        Preset::Kubernetes,
        Preset::KubernetesLegacy,
        Preset::Cassandra,
        Preset::Akka,
        Preset::MemberlistLan,
        Preset::MemberlistWan,
        Preset::MemberlistLocal,
        Preset::FocaLan,
        Preset::FocaWan,
    ];

    /// A short name.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::ZooKeeper => "zookeeper-session",
            Preset::Kubernetes => "kubernetes-node-lease",
            Preset::KubernetesLegacy => "kubernetes-node-lease-pre-1.32",
            Preset::Cassandra => "cassandra",
            Preset::Akka => "akka-cluster",
            Preset::MemberlistLan => "memberlist-lan",
            Preset::MemberlistWan => "memberlist-wan",
            Preset::MemberlistLocal => "memberlist-local",
            Preset::FocaLan => "foca-lan",
            Preset::FocaWan => "foca-wan",
        }
    }

    /// Where its constants come from.
    pub const fn source(self) -> &'static str {
        match self {
            Preset::ZooKeeper => {
                "Apache ZooKeeper: conf/zoo_sample.cfg, ZooKeeperServer.java, ClientCnxn.java, ExpiryQueue.java"
            }
            Preset::Kubernetes | Preset::KubernetesLegacy => {
                "Kubernetes: kubelet node lease (pkg/kubelet/nodelease), kube-controller-manager node lifecycle controller flags"
            }
            Preset::Cassandra => "Apache Cassandra: gms/Gossiper.java, gms/FailureDetector.java",
            Preset::Akka => {
                "Akka/Pekko: cluster reference.conf (failure-detector, split-brain-resolver), Reachability.scala"
            }
            Preset::MemberlistLan | Preset::MemberlistWan | Preset::MemberlistLocal => {
                "HashiCorp memberlist: config.go (DefaultLANConfig, DefaultWANConfig, DefaultLocalConfig)"
            }
            Preset::FocaLan | Preset::FocaWan => {
                "foca: src/config.rs (Config::new_lan, Config::new_wan)"
            }
        }
    }

    /// The topology it runs on.
    pub const fn topology(self) -> PresetTopology {
        match self {
            Preset::ZooKeeper | Preset::Kubernetes | Preset::KubernetesLegacy => {
                PresetTopology::Central
            }
            Preset::Cassandra => PresetTopology::Gossip,
            Preset::Akka => PresetTopology::GossipObservers,
            _ => PresetTopology::Swim,
        }
    }

    /// The SWIM configuration of a SWIM preset (`None` for the others).
    pub const fn swim_config(self) -> Option<SwimConfig> {
        match self {
            Preset::MemberlistLan => Some(memberlist_lan()),
            Preset::MemberlistWan => Some(memberlist_wan()),
            Preset::MemberlistLocal => Some(memberlist_local()),
            Preset::FocaLan => Some(foca_lan()),
            Preset::FocaWan => Some(foca_wan()),
            _ => None,
        }
    }

    /// The configuration and detector of a centrally monitored preset
    /// (`None` for the others; ZooKeeper with [`ZOOKEEPER_TICK`] and
    /// [`ZOOKEEPER_REQUESTED_TIMEOUT`]).
    pub fn central(self) -> Option<CentralPreset> {
        match self {
            Preset::ZooKeeper => {
                zookeeper_session(ZOOKEEPER_TICK, ZOOKEEPER_REQUESTED_TIMEOUT).ok()
            }
            Preset::Kubernetes => kubernetes_node_lease().ok(),
            Preset::KubernetesLegacy => kubernetes_node_lease_legacy().ok(),
            _ => None,
        }
    }

    /// The windows its sources document, in a cluster of `n` members.
    pub fn windows(self, n: usize) -> Vec<DetectionWindow> {
        let ms = Duration::from_millis;
        match self {
            Preset::ZooKeeper => {
                let t = zookeeper_negotiated_timeout(ZOOKEEPER_TICK, ZOOKEEPER_REQUESTED_TIMEOUT);
                let w = DetectionWindow::new(Measure::CrashToDead, t * 2 / 3, t + ZOOKEEPER_TICK);
                vec![
                    w,
                    DetectionWindow {
                        measure: Measure::CrashToSuspect,
                        ..w
                    },
                ]
            }
            Preset::Kubernetes | Preset::KubernetesLegacy => {
                let grace = if self == Preset::Kubernetes {
                    KUBERNETES_GRACE
                } else {
                    KUBERNETES_GRACE_LEGACY
                };
                let lo = grace - KUBERNETES_LEASE_RENEW;
                let hi = grace + KUBERNETES_NODE_MONITOR_PERIOD;
                vec![
                    DetectionWindow::new(Measure::CrashToSuspect, lo, hi),
                    DetectionWindow::new(
                        Measure::CrashToDead,
                        lo + KUBERNETES_EVICTION,
                        hi + KUBERNETES_EVICTION,
                    ),
                ]
            }
            Preset::Cassandra => vec![DetectionWindow::new(
                Measure::CrashToDead,
                ms(17_400),
                ms(19_400),
            )],
            // The last answer came within a heartbeat interval before the
            // crash; phi 8 is reached 4.52 s after it (1 s mean, 3 s pause,
            // 5.22 deviations of 100 ms).
            Preset::Akka => vec![
                DetectionWindow::new(Measure::CrashToSuspect, ms(3_500), ms(5_500)),
                DetectionWindow::new(
                    Measure::CrashToDead,
                    ms(3_500) + AKKA_STABLE_AFTER,
                    ms(5_500) + AKKA_STABLE_AFTER,
                ),
            ],
            _ => {
                let c = self.swim_config().unwrap_or_else(SwimConfig::lan);
                vec![DetectionWindow::new(
                    Measure::SuspicionTimeout,
                    c.suspicion_min_timeout(n),
                    c.suspicion_max_timeout(n),
                )]
            }
        }
    }
}
