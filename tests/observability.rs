//! Observability: the opt-in slow-heartbeat signal (always compiled), `tracing`
//! events at every registry and cluster event (feature `tracing`), and the
//! `metrics` facade (feature `metrics`), each checked with a small in-test
//! subscriber or recorder.

use std::time::Duration;

use failure_detector::{
    Event, FixedTimeout, FixedTimeoutConfig, NodeState, PhiAccrual, PhiAccrualConfig, Registry,
    RegistryConfig, Timestamp,
};

/// The tests of this file run one at a time. `tracing` caches, per call site,
/// whether any subscriber is interested; a call site first reached on one
/// thread (no subscriber there) while another thread installs its scoped
/// subscriber can keep the cached "never" and lose that test's events.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The slow-heartbeat notices among `events`: (node, interval, at).
fn slow(events: &[Event<u64>]) -> Vec<(u64, Duration, Timestamp)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::SlowHeartbeat { node, interval, at } => Some((node, interval, at)),
            _ => None,
        })
        .collect()
}

mod slow_heartbeats {
    use super::*;
    use failure_detector::operator::pekko_slow_heartbeat;

    /// Akka's defaults: pause 3 s, so heartbeats 2 s or more apart are slow.
    fn registry() -> (Registry<u64>, failure_detector::EventReceiver<u64>) {
        let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
        let pause = phi.config().acceptable_heartbeat_pause;
        let config = RegistryConfig::new().with_slow_heartbeat(Some(pekko_slow_heartbeat(pause)));
        Registry::new(config, phi).unwrap()
    }

    /// A run of slow intervals ends with a transition: after the node was
    /// suspected and came back, its next slow interval is reported again.
    #[test]
    fn a_transition_ends_a_run_of_slow_intervals() {
        let _serial = serial();
        let (registry, events) = registry();
        let t = Timestamp::from_millis;
        for ms in [0, 1000, 2000, 3000, 5000] {
            registry.heartbeat(&1, t(ms)).unwrap(); // 2000 ms: slow
        }
        registry.tick(t(14_000)); // long silence: suspected
        assert_eq!(registry.state(&1), Some(NodeState::Suspect));
        registry.heartbeat(&1, t(14_500)).unwrap(); // back
        registry.heartbeat(&1, t(16_500)).unwrap(); // slow again
        let seen: Vec<_> = events.try_iter().collect();
        assert_eq!(
            slow(&seen).iter().map(|n| n.2).collect::<Vec<_>>(),
            [t(5000), t(16_500)],
            "{seen:?}"
        );
    }

    #[test]
    fn one_notice_per_run_of_slow_intervals() {
        let _serial = serial();
        let (registry, events) = registry();
        // Intervals in ms: steady, then a run of slow ones, steady, slow again.
        let intervals = [
            1000, 1000, 1000, 1999, 2000, 2400, 2100, 1000, 1000, 2500, 900, 2000,
        ];
        let mut at = Timestamp::from_secs(10);
        registry.heartbeat(&1, at).unwrap();
        for (i, interval) in intervals.into_iter().enumerate() {
            at += ms(interval);
            registry.heartbeat(&1, at).unwrap();
            // A second node, steady every second, is never reported.
            registry
                .heartbeat(&2, Timestamp::from_secs(10 + i as u64))
                .unwrap();
        }
        let seen: Vec<_> = events.try_iter().collect();
        assert!(seen.iter().all(|e| e.node() == &1 || e.is_transition()));
        let notices = slow(&seen);
        // 1999 ms is not slow (the limit is 2000 ms: 3000 / 3 * 2); 2000 starts a
        // run that 2400 and 2100 continue; 2500 starts a second; 2000 a third.
        let at_ms = |sum: u64| Timestamp::from_millis(10_000 + sum);
        assert_eq!(
            notices,
            [
                (1, ms(2000), at_ms(1000 * 3 + 1999 + 2000)),
                (
                    1,
                    ms(2500),
                    at_ms(3000 + 1999 + 2000 + 2400 + 2100 + 2000 + 2500)
                ),
                (
                    1,
                    ms(2000),
                    at_ms(3000 + 1999 + 2000 + 2400 + 2100 + 2000 + 2500 + 900 + 2000)
                ),
            ]
        );
        // Not a transition: the states are those of the transitions alone.
        assert!(
            seen.iter()
                .filter(|e| !e.is_transition())
                .all(|e| e.to().is_none())
        );
        assert_eq!(registry.state(&1), Some(NodeState::Alive));
    }

    #[test]
    fn only_while_alive_and_off_by_default() {
        let _serial = serial();
        let (registry, events) = registry();
        registry.heartbeat(&1, Timestamp::from_secs(1)).unwrap();
        // Silent for 30 s: Suspect, then the heartbeat brings it back; that
        // interval is a recovery, not a slow heartbeat (Pekko: only while available).
        registry.tick(Timestamp::from_secs(31));
        registry.heartbeat(&1, Timestamp::from_secs(31)).unwrap();
        let seen: Vec<_> = events.try_iter().collect();
        assert!(slow(&seen).is_empty(), "{seen:?}");
        assert_eq!(registry.state(&1), Some(NodeState::Alive));

        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let (plain, events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
        for t in [0, 10, 20] {
            plain.heartbeat(&1, Timestamp::from_secs(t)).unwrap();
        }
        assert!(slow(&events.try_iter().collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn batches_report_the_same() {
        let _serial = serial();
        let (registry, events) = registry();
        let batch: Vec<(u64, Timestamp)> = [0, 1000, 3500, 4000, 7000]
            .into_iter()
            .map(|t| (5, Timestamp::from_millis(t)))
            .collect();
        assert_eq!(registry.heartbeat_batch(&batch, |_, _| {}), 5);
        let notices = slow(&events.try_iter().collect::<Vec<_>>());
        assert_eq!(
            notices,
            [
                (5, ms(2500), Timestamp::from_millis(3500)),
                (5, ms(3000), Timestamp::from_millis(7000)),
            ]
        );
    }
}

#[cfg(feature = "tracing")]
mod tracing_events {
    use super::*;
    use failure_detector::ManualClock;
    use failure_detector::cluster::{
        ClusterEvent, ClusterMember, GossipConfig, GossipMember, Member,
    };
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event as TracingEvent, Level, Metadata, Subscriber};

    #[derive(Clone, Debug)]
    struct Seen {
        level: Level,
        target: String,
        fields: BTreeMap<String, String>,
    }

    /// Records every event; spans are not used.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &TracingEvent<'_>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(Seen {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                fields,
            });
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn field<'a>(seen: &'a Seen, name: &str) -> &'a str {
        seen.fields.get(name).map_or("", String::as_str)
    }

    #[test]
    fn every_registry_event_is_traced_once_with_its_level() {
        let _serial = serial();
        let capture = Capture::default();
        let clock = ManualClock::new(Timestamp::ZERO);
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let config = RegistryConfig::new().with_slow_heartbeat(Some(s(6)));
        let (registry, events) = Registry::<u64, _>::new(config, fd).unwrap();
        let registry = registry.with_clock(clock.clone()).with_debug_keys();
        tracing::subscriber::with_default(capture.clone(), || {
            registry.heartbeat_now(&7).unwrap();
            clock.advance(s(7));
            registry.heartbeat_now(&7).unwrap(); // slow
            clock.advance(s(100));
            registry.tick_now(); // suspect, dead, removed
        });
        let sent: Vec<_> = events.try_iter().collect();
        let traced = capture.0.lock().unwrap().clone();
        assert_eq!(traced.len(), sent.len(), "{traced:?}");
        assert!(
            traced
                .iter()
                .all(|t| t.target == "failure_detector::registry")
        );
        assert!(traced.iter().all(|t| field(t, "node") == "7"));
        for (t, e) in traced.iter().zip(&sent) {
            assert_eq!(field(t, "at_ns"), e.at().as_nanos().to_string());
            let want = match e {
                Event::Joined { .. } => Level::DEBUG,
                Event::Changed {
                    to: NodeState::Dead,
                    ..
                }
                | Event::SlowHeartbeat { .. } => Level::WARN,
                _ => Level::INFO,
            };
            assert_eq!(t.level, want, "{t:?} for {e:?}");
            if let (Some(from), Event::Changed { to, .. }) = (e.from(), e) {
                assert_eq!(field(t, "from"), from.to_string());
                assert_eq!(field(t, "to"), to.to_string());
            }
        }
        assert_eq!(field(&traced[1], "interval_ns"), "7000000000");
        assert_eq!(field(&traced[3], "to"), "dead");
        assert_eq!(field(&traced[4], "to"), "removed");

        // Keys without `with_debug_keys` show as `?`.
        let capture = Capture::default();
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
        tracing::subscriber::with_default(capture.clone(), || {
            registry.heartbeat(&7, Timestamp::ZERO).unwrap();
        });
        assert_eq!(field(&capture.0.lock().unwrap()[0], "node"), "?");
    }

    #[test]
    fn cluster_events_are_traced_as_they_are_handed_out() {
        let _serial = serial();
        let capture = Capture::default();
        let config = |seed| GossipConfig::new().with_seed(seed);
        let mut a = GossipMember::new(Member::new(1u64, 0), config(1)).unwrap();
        let mut b = GossipMember::new(Member::new(2u64, 0), config(2)).unwrap();
        let mut handed = Vec::new();
        tracing::subscriber::with_default(capture.clone(), || {
            b.join(&[1], Timestamp::ZERO);
            for s in 0..=60u64 {
                let now = Timestamp::from_secs(s);
                a.tick(now);
                b.tick(now);
                while let Some(d) = a.poll_datagram() {
                    if s <= 10 {
                        b.handle_datagram(&1, &d.bytes, now).unwrap();
                    }
                }
                while let Some(d) = b.poll_datagram() {
                    if s <= 10 {
                        a.handle_datagram(&2, &d.bytes, now).unwrap();
                    }
                }
                handed.extend(std::iter::from_fn(|| b.poll_event()));
            }
        });
        let traced = capture.0.lock().unwrap().clone();
        // The members' internal registries are not traced: only their conclusions.
        assert!(
            traced
                .iter()
                .all(|t| t.target == "failure_detector::cluster")
        );
        let traced: Vec<_> = traced.iter().collect();
        assert_eq!(traced.len(), handed.len());
        assert!(traced.iter().all(|t| field(t, "me") == "2"));
        let dead = handed
            .iter()
            .position(|e| {
                matches!(
                    e,
                    ClusterEvent::Changed {
                        to: NodeState::Dead,
                        ..
                    }
                )
            })
            .expect("b convicts a");
        assert_eq!(traced[dead].level, Level::WARN);
        assert_eq!(field(traced[dead], "member"), "1");
        assert_eq!(field(traced[dead], "to"), "dead");
        assert_eq!(
            field(traced[dead], "at_ns"),
            handed[dead].at().as_nanos().to_string()
        );
    }
}

#[cfg(feature = "metrics")]
mod metrics_facade {
    use super::*;
    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Store = Arc<Mutex<BTreeMap<String, f64>>>;

    /// Keeps the last value of every counter and gauge, keyed `name{k=v,...}`.
    #[derive(Default)]
    struct Capture(Store);

    struct Slot(Store, String);

    impl CounterFn for Slot {
        fn increment(&self, value: u64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
        }
        fn absolute(&self, value: u64) {
            self.0.lock().unwrap().insert(self.1.clone(), value as f64);
        }
    }

    impl GaugeFn for Slot {
        fn increment(&self, value: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
        }
        fn decrement(&self, value: f64) {
            *self.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
        }
        fn set(&self, value: f64) {
            self.0.lock().unwrap().insert(self.1.clone(), value);
        }
    }

    fn name(key: &Key) -> String {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Capture {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Slot(self.0.clone(), name(key))))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Slot(self.0.clone(), name(key))))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    fn get(store: &Store, key: &str) -> f64 {
        *store
            .lock()
            .unwrap()
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {:?}", store.lock().unwrap().keys()))
    }

    #[test]
    fn counters_and_gauges_reach_the_recorder() {
        let _serial = serial();
        let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
        let config = RegistryConfig::new()
            .with_shards(4)
            .with_slow_heartbeat(Some(s(2)));
        let (registry, _events) = Registry::<u64, _>::new(config, phi).unwrap();
        // 100 nodes heartbeat every second for 20 s, node k stops after k/5 s.
        let mut accepted = 0;
        for t in 0..20u64 {
            for node in 0..100u64 {
                if t * 5 <= node {
                    registry.heartbeat(&node, Timestamp::from_secs(t)).unwrap();
                    accepted += 1;
                }
            }
        }
        // Refused: a duplicate, an out-of-order one, and three in a batch.
        assert!(registry.heartbeat(&99, Timestamp::from_secs(19)).is_err());
        assert!(registry.heartbeat(&99, Timestamp::from_secs(3)).is_err());
        let batch = [(99, Timestamp::from_secs(1)); 3];
        assert_eq!(registry.heartbeat_batch(&batch, |_, _| {}), 0);
        // Node k's last heartbeat is at k/5 s: at 22 s the last ten are Alive,
        // those silent since 7 s or earlier Dead, the others Suspect.
        let now = Timestamp::from_secs(22);
        registry.tick(now);

        let capture = Capture::default();
        let store = capture.0.clone();
        metrics::with_local_recorder(&capture, || {
            registry.record_metrics(now, &[("registry", "peers")]);
        });
        let m = |key: &str| get(&store, key);
        assert_eq!(
            m("failure_detector_heartbeats_total{registry=peers}"),
            accepted as f64
        );
        assert_eq!(
            m("failure_detector_heartbeats_refused_total{registry=peers}"),
            5.0
        );
        let counts = registry.counts();
        for (state, n) in [
            ("alive", counts.alive),
            ("suspect", counts.suspect),
            ("dead", counts.dead),
        ] {
            assert_eq!(
                m(&format!(
                    "failure_detector_nodes{{registry=peers,state={state}}}"
                )),
                n as f64
            );
        }
        assert!(counts.suspect > 0 && counts.dead > 0 && counts.alive > 0);
        assert_eq!(
            m("failure_detector_transitions_total{from=none,registry=peers,to=alive}"),
            100.0
        );
        assert_eq!(
            m("failure_detector_transitions_total{from=alive,registry=peers,to=suspect}"),
            (counts.suspect + counts.dead) as f64
        );
        assert_eq!(
            m("failure_detector_slow_heartbeats_total{registry=peers}"),
            0.0
        );

        // Quantiles against a naive oracle: sort every suspicion, nearest rank.
        let mut phis: Vec<f64> = registry.snapshot(now).iter().map(|n| n.suspicion).collect();
        phis.sort_by(f64::total_cmp);
        for (label, q) in [
            ("0", 0.0),
            ("0.5", 0.5),
            ("0.9", 0.9),
            ("0.99", 0.99),
            ("1", 1.0),
        ] {
            let rank = ((q * phis.len() as f64).ceil() as usize).clamp(1, phis.len());
            assert_eq!(
                m(&format!(
                    "failure_detector_suspicion{{quantile={label},registry=peers}}"
                )),
                phis[rank - 1],
                "q {label}"
            );
        }
    }

    #[test]
    fn an_empty_registry_publishes_no_quantiles() {
        let _serial = serial();
        let fd = FixedTimeout::new(FixedTimeoutConfig::new()).unwrap();
        let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
        let capture = Capture::default();
        let store = capture.0.clone();
        metrics::with_local_recorder(&capture, || registry.record_metrics(Timestamp::ZERO, &[]));
        assert_eq!(get(&store, "failure_detector_heartbeats_total{}"), 0.0);
        assert!(
            !store
                .lock()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("failure_detector_suspicion"))
        );
    }
}
