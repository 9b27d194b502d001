//! The `serde` feature: configs load from TOML and JSON (missing keys take their
//! defaults, unknown keys are refused, durations read as "250ms"), loading never
//! bypasses the constructors' validation, and events and snapshots round-trip.

use std::time::Duration;

use failure_detector::cluster::presets::{DetectionWindow, Measure, Preset};
use failure_detector::cluster::{
    AllToAllConfig, CentralConfig, ClusterEvent, Doubt, GossipConfig, LocalGuardConfig, Member,
    ObserverConfig, SwimConfig, VerdictPolicy,
};
use failure_detector::operator::{
    AkkaFailureDetectorSettings, CassandraFailureDetectorSettings, OperatorTargets,
};
use failure_detector::{
    BertierConfig, ChenConfig, ConfigError, Confirmation, Event, ExponentialPhi,
    ExponentialPhiConfig, FixedTimeout, FixedTimeoutConfig, ManualClock, NodeInfo, NodeState,
    PhiAccrual, PhiAccrualConfig, PhiModel, Registry, RegistryConfig, SatzgerConfig, StateCounts,
    Stats, Timestamp, TwoWindowsConfig,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn field_of(err: ConfigError) -> &'static str {
    err.field()
}

/// Serializes to JSON and TOML and reads both back.
fn round_trip<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    let toml_text = toml::to_string(value).unwrap();
    assert_eq!(
        &toml::from_str::<T>(&toml_text).unwrap(),
        value,
        "{toml_text}"
    );
}

#[test]
fn every_config_round_trips_with_its_defaults() {
    round_trip(&PhiAccrualConfig::new());
    round_trip(&PhiAccrualConfig::new().with_model(PhiModel::Normal));
    round_trip(&ExponentialPhiConfig::new());
    round_trip(&FixedTimeoutConfig::new());
    round_trip(&ChenConfig::default());
    round_trip(&BertierConfig::default());
    round_trip(&SatzgerConfig::default());
    round_trip(&TwoWindowsConfig::default());
    round_trip(&RegistryConfig::new());
    round_trip(
        &RegistryConfig::new()
            .with_confirmation(Confirmation::Suspicion(16.0))
            .with_event_capacity(Some(128))
            .with_max_nodes(Some(10))
            .with_removal_grace(Duration::MAX)
            .with_slow_heartbeat(Some(Duration::from_millis(2_000))),
    );
    round_trip(&LocalGuardConfig::new());
    round_trip(&GossipConfig::new());
    round_trip(&GossipConfig::new().with_observers(Some(ObserverConfig::new())));
    round_trip(&SwimConfig::default());
    round_trip(&AllToAllConfig::new());
    round_trip(&CentralConfig::new());
    round_trip(&OperatorTargets::default());
    round_trip(&AkkaFailureDetectorSettings::default());
    round_trip(&CassandraFailureDetectorSettings::default());
    round_trip(&ObserverConfig {
        policy: VerdictPolicy::Quorum(3),
        ..ObserverConfig::new()
    });
}

#[test]
fn a_file_gives_only_what_it_changes() {
    let config: PhiAccrualConfig = toml::from_str(
        r#"
        threshold = 10.0
        acceptable_heartbeat_pause = "2s"
        model = "normal"
        "#,
    )
    .unwrap();
    assert_eq!(
        config,
        PhiAccrualConfig::new()
            .with_threshold(10.0)
            .with_acceptable_heartbeat_pause(Duration::from_secs(2))
            .with_model(PhiModel::Normal)
    );
    PhiAccrual::new(config).unwrap();

    let config: ExponentialPhiConfig =
        serde_json::from_str(r#"{ "threshold": 12, "max_interval": "1.5s" }"#).unwrap();
    assert_eq!(config.threshold, 12.0);
    assert_eq!(config.max_interval, Duration::from_millis(1_500));
    assert_eq!(config.window_size, 1000);

    // Nested tables, an enum with data, an optional duration.
    let registry: RegistryConfig = toml::from_str(
        r#"
        accept_unknown = false
        confirmation = { after = "5s" }
        hysteresis = "250 ms"
        event_capacity = 10000
        slow_heartbeat = "2s"
        "#,
    )
    .unwrap();
    assert_eq!(
        registry,
        RegistryConfig::new()
            .with_accept_unknown(false)
            .with_confirmation(Confirmation::After(Duration::from_secs(5)))
            .with_hysteresis(Duration::from_millis(250))
            .with_event_capacity(Some(10_000))
            .with_slow_heartbeat(Some(Duration::from_secs(2)))
    );
    let gossip: GossipConfig = toml::from_str(
        r#"
        gossip_interval = "500ms"
        fanout = 4

        [guard]
        max_local_pause = "3s"

        [observers]
        monitored_by = 5
        policy = { quorum = 2 }
        "#,
    )
    .unwrap();
    assert_eq!(gossip.gossip_interval, Duration::from_millis(500));
    assert_eq!(gossip.guard.max_local_pause, Duration::from_secs(3));
    assert_eq!(
        gossip.guard.isolation_share,
        LocalGuardConfig::new().isolation_share
    );
    let observers = gossip.observers.unwrap();
    assert_eq!(observers.monitored_by, 5);
    assert_eq!(observers.policy, VerdictPolicy::Quorum(2));
    gossip.validate().unwrap();
    let swim: SwimConfig =
        serde_json::from_str(r#"{ "probe_interval": "1s", "probe_timeout": "500ms" }"#).unwrap();
    swim.validate().unwrap();
    assert_eq!(swim.indirect_checks, SwimConfig::default().indirect_checks);
}

#[test]
fn durations_in_every_form() {
    let read = |json: &str| {
        serde_json::from_str::<FixedTimeoutConfig>(&format!(r#"{{ "interval": {json} }}"#))
            .map(|c| c.interval)
    };
    assert_eq!(read(r#""250ms""#).unwrap(), Duration::from_millis(250));
    assert_eq!(read(r#""1.5s""#).unwrap(), Duration::from_millis(1_500));
    assert_eq!(read(r#""3 seconds""#).unwrap(), Duration::from_secs(3));
    assert_eq!(read(r#""2m""#).unwrap(), Duration::from_secs(120));
    assert_eq!(read(r#""7ns""#).unwrap(), Duration::from_nanos(7));
    assert_eq!(
        read(r#"{ "secs": 2, "nanos": 500 }"#).unwrap(),
        Duration::new(2, 500)
    );
    assert_eq!(read(r#""never""#).unwrap(), Duration::MAX);
    for bad in [
        "5",                // which unit?
        "1.5",              // idem
        r#""5""#,           // idem, as a string
        r#""-1s""#,         // negative
        r#""1 fortnight""#, // unknown unit
        r#""0.1ns""#,       // finer than a nanosecond
        r#""1e3ms""#,       // exponents are not durations
        "true",
    ] {
        let err = read(bad).unwrap_err().to_string();
        assert!(!err.is_empty(), "{bad}");
    }
    let err = read("5").unwrap_err().to_string();
    assert!(err.contains("not a duration"), "{err}");
    // Written back in the largest exact unit.
    let json = serde_json::to_string(
        &FixedTimeoutConfig::new()
            .with_interval(Duration::from_millis(1_500))
            .with_acceptable_pause(Duration::from_secs(2)),
    )
    .unwrap();
    assert!(json.contains(r#""interval":"1500ms""#), "{json}");
    assert!(json.contains(r#""acceptable_pause":"2s""#), "{json}");
}

#[test]
fn unknown_keys_are_refused() {
    let err = toml::from_str::<PhiAccrualConfig>("treshold = 8.0").unwrap_err();
    assert!(err.to_string().contains("treshold"), "{err}");
    let err = serde_json::from_str::<RegistryConfig>(r#"{ "shard": 8 }"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    let err = toml::from_str::<GossipConfig>("[guard]\nmax_pause = \"1s\"").unwrap_err();
    assert!(err.to_string().contains("max_pause"), "{err}");
    let err = toml::from_str::<AkkaFailureDetectorSettings>("expected-response-after = \"1 s\"")
        .unwrap_err();
    assert!(err.to_string().contains("expected-response-after"), "{err}");
}

#[test]
fn loading_never_bypasses_validation() {
    // TOML can spell NaN and infinities; the constructor refuses them by name.
    let nan: PhiAccrualConfig = toml::from_str("threshold = nan").unwrap();
    assert_eq!(
        PhiAccrual::new(nan).unwrap_err(),
        ConfigError::NotFinite { field: "threshold" }
    );
    let inf: ExponentialPhiConfig = toml::from_str("threshold = inf").unwrap();
    assert_eq!(field_of(ExponentialPhi::new(inf).unwrap_err()), "threshold");
    let negative: PhiAccrualConfig = toml::from_str("threshold = -1.0").unwrap();
    assert_eq!(
        field_of(PhiAccrual::new(negative).unwrap_err()),
        "threshold"
    );
    let zero: PhiAccrualConfig = toml::from_str(r#"min_std_deviation = "0s""#).unwrap();
    assert_eq!(
        PhiAccrual::new(zero).unwrap_err(),
        ConfigError::NotPositive {
            field: "min_std_deviation"
        }
    );
    let zero: PhiAccrualConfig = serde_json::from_str(r#"{ "max_sample_size": 0 }"#).unwrap();
    assert_eq!(
        field_of(PhiAccrual::new(zero).unwrap_err()),
        "max_sample_size"
    );
    let zero: FixedTimeoutConfig = toml::from_str("missed_heartbeats = 0.0").unwrap();
    assert_eq!(
        field_of(FixedTimeout::new(zero).unwrap_err()),
        "missed_heartbeats"
    );
    // A negative count is not even a `usize`: refused while parsing.
    assert!(toml::from_str::<PhiAccrualConfig>("max_sample_size = -5").is_err());

    let registry: RegistryConfig = toml::from_str("shards = 3").unwrap();
    let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
    let err = Registry::<u64, _>::new(registry, phi.clone()).unwrap_err();
    assert_eq!(field_of(err), "shards");
    let registry: RegistryConfig = toml::from_str("confirmation = { suspicion = nan }").unwrap();
    assert_eq!(
        field_of(Registry::<u64, _>::new(registry, phi).unwrap_err()),
        "confirmation"
    );

    let gossip: GossipConfig = toml::from_str(r#"gossip_interval = "0s""#).unwrap();
    assert_eq!(field_of(gossip.validate().unwrap_err()), "gossip_interval");
    let guard: LocalGuardConfig = toml::from_str("isolation_share = 1.5").unwrap();
    assert_eq!(field_of(guard.validate().unwrap_err()), "isolation_share");

    let akka: AkkaFailureDetectorSettings = toml::from_str("threshold = nan").unwrap();
    assert_eq!(field_of(akka.phi_accrual().unwrap_err()), "threshold");
    let targets: OperatorTargets = toml::from_str(r#"heartbeat_interval = "0s""#).unwrap();
    assert_eq!(
        field_of(targets.phi_accrual().unwrap_err()),
        "heartbeat_interval"
    );
}

#[test]
fn akka_and_cassandra_keys_load_as_spelled() {
    // The failure-detector section of an Akka/Pekko application.conf, as TOML.
    let akka: AkkaFailureDetectorSettings = toml::from_str(
        r#"
        threshold = 12.0
        heartbeat-interval = "1 s"
        acceptable-heartbeat-pause = "7 s"
        min-std-deviation = "100 ms"
        max-sample-size = 1000
        "#,
    )
    .unwrap();
    assert_eq!(akka.acceptable_heartbeat_pause, Duration::from_secs(7));
    let tuned = akka.phi_accrual().unwrap();
    assert_eq!(tuned.config.threshold, 12.0);
    assert!(tuned.warnings.is_empty());
    let cassandra: CassandraFailureDetectorSettings =
        serde_json::from_str(r#"{ "phi_convict_threshold": 12 }"#).unwrap();
    assert_eq!(cassandra.fd_initial_value_ms, 2_000);
    assert_eq!(cassandra.exponential_phi().unwrap().threshold, 12.0);
    let targets: OperatorTargets = toml::from_str(
        r#"
        heartbeat_interval = "1s"
        detect_within = "5s"
        tolerate_pause = "2s"
        "#,
    )
    .unwrap();
    assert_eq!(targets, OperatorTargets::default());
}

#[test]
fn timestamps_are_integer_nanoseconds() {
    let t = Timestamp::from_millis(1_500);
    assert_eq!(serde_json::to_string(&t).unwrap(), "1500000000");
    assert_eq!(serde_json::from_str::<Timestamp>("1500000000").unwrap(), t);
    assert_eq!(
        serde_json::from_str::<Timestamp>("18446744073709551615").unwrap(),
        Timestamp::MAX
    );
    assert!(serde_json::from_str::<Timestamp>("-1").is_err());
    assert!(serde_json::from_str::<Timestamp>("1.5").is_err());
}

#[test]
fn registry_events_and_snapshots_round_trip() {
    let clock = ManualClock::new(Timestamp::ZERO);
    let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
    let config = RegistryConfig::new()
        .with_removal_grace(Duration::from_secs(5))
        .with_slow_heartbeat(Some(Duration::from_secs(6)));
    let (registry, events) = Registry::<String, _>::new(config, fd).unwrap();
    let registry = registry.with_clock(clock.clone());
    for node in ["a", "b"] {
        registry.heartbeat_now(node).unwrap();
    }
    clock.advance(Duration::from_secs(7));
    registry.heartbeat_now("a").unwrap(); // slow: 7 s
    let snapshot = registry.snapshot_now();
    assert_eq!(snapshot.len(), 2);
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: Vec<NodeInfo<String>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    clock.advance(Duration::from_secs(60));
    registry.tick_now();
    let seen: Vec<Event<String>> = events.try_iter().collect();
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::SlowHeartbeat { .. }))
    );
    assert!(seen.iter().any(|e| matches!(e, Event::Removed { .. })));
    let json = serde_json::to_string(&seen).unwrap();
    assert!(
        json.contains(r#"{"changed":{"node":"a","from":"alive","to":"suspect","at":22000000000}}"#),
        "{json}"
    );
    let back: Vec<Event<String>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, seen);
    for event in &seen {
        let text = toml::to_string(&Wrap {
            event: event.clone(),
        })
        .unwrap();
        assert_eq!(toml::from_str::<Wrap>(&text).unwrap().event, *event);
    }

    let counts = registry.counts();
    round_trip(&counts);
    assert_eq!(
        serde_json::to_string(&StateCounts::default()).unwrap(),
        r#"{"alive":0,"suspect":0,"dead":0}"#
    );
    round_trip(&Stats::new(10, 1e9, 2.5e7));
    assert_eq!(
        serde_json::to_string(&NodeState::Suspect).unwrap(),
        r#""suspect""#
    );
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wrap {
    event: Event<String>,
}

#[test]
fn cluster_events_round_trip() {
    let member = Member::new(7u64, 3);
    let at = Timestamp::from_secs(12);
    let events = vec![
        ClusterEvent::Joined {
            member: member.clone(),
            at,
        },
        ClusterEvent::Changed {
            member: member.clone(),
            from: NodeState::Suspect,
            to: NodeState::Dead,
            at,
        },
        ClusterEvent::Restarted {
            member: member.clone(),
            previous_generation: 2,
            at,
        },
        ClusterEvent::Removed {
            member: member.clone(),
            at,
        },
        ClusterEvent::LocalPause {
            late_by: Duration::from_millis(7_250),
            at,
            until: at + Duration::from_secs(2),
        },
        ClusterEvent::Isolated {
            suspected: 3,
            peers: 4,
            at,
        },
        ClusterEvent::Reconnected { at },
        ClusterEvent::Deferred {
            member: member.clone(),
            doubt: Doubt::Isolated,
            at,
        },
        ClusterEvent::Refuted { incarnation: 9, at },
    ];
    let json = serde_json::to_string(&events).unwrap();
    assert!(json.contains(r#""late_by":"7250ms""#), "{json}");
    assert!(
        json.contains(r#""member":{"id":7,"generation":3}"#),
        "{json}"
    );
    let back: Vec<ClusterEvent<u64>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, events);
    round_trip(&member);
}

#[test]
fn presets_describe_themselves() {
    let window = DetectionWindow {
        measure: Measure::CrashToDead,
        min: Duration::from_secs(10),
        max: Duration::from_secs(30),
    };
    round_trip(&window);
    assert_eq!(
        serde_json::to_string(&Preset::Cassandra).unwrap(),
        r#""cassandra""#
    );
    let config = failure_detector::cluster::presets::cassandra()
        .unwrap()
        .config;
    round_trip(&config);
}
