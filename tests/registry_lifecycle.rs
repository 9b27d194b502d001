//! The registry's lifecycle, one transition at a time, on explicit timestamps.
//!
//! Unless a test says otherwise the detector is the textbook fixed timeout: a
//! heartbeat every 5 s, suspected after 15 s of silence; a Suspect node is Dead
//! 10 s later and Removed 60 s after that.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use failure_detector::{
    ConfigError, Confirmation, Event, EventReceiver, FailureDetector, FixedTimeout,
    FixedTimeoutConfig, HeartbeatError, ManualClock, NodeState, PhiAccrual, PhiAccrualConfig,
    RegisterError, Registry, RegistryConfig, RegistryHeartbeatError, StateCounts, Stats, Timestamp,
};

use NodeState::{Alive, Dead, Suspect};

type Reg = Registry<String, FixedTimeout>;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn fixed() -> FixedTimeout {
    FixedTimeout::new(FixedTimeoutConfig::new()).unwrap()
}

fn registry(config: RegistryConfig) -> (Reg, EventReceiver<String>) {
    Registry::new(config, fixed()).unwrap()
}

fn drain(events: &EventReceiver<String>) -> Vec<Event<String>> {
    events.try_iter().collect()
}

fn joined(node: &str, secs: u64) -> Event<String> {
    Event::Joined {
        node: node.into(),
        at: t(secs),
    }
}

fn changed(node: &str, from: NodeState, to: NodeState, secs: u64) -> Event<String> {
    Event::Changed {
        node: node.into(),
        from,
        to,
        at: t(secs),
    }
}

fn removed(node: &str, from: NodeState, secs: u64) -> Event<String> {
    Event::Removed {
        node: node.into(),
        from,
        at: t(secs),
    }
}

/// Joined, Suspect, Dead, Removed at these instants (seconds): a whole life.
fn whole_life(node: &str, [join, suspect, dead, gone]: [u64; 4]) -> [Event<String>; 4] {
    [
        joined(node, join),
        changed(node, Alive, Suspect, suspect),
        changed(node, Suspect, Dead, dead),
        removed(node, Dead, gone),
    ]
}

fn counts(alive: usize, suspect: usize, dead: usize) -> StateCounts {
    let mut c = StateCounts::default();
    c.alive = alive;
    c.suspect = suspect;
    c.dead = dead;
    c
}

#[test]
fn alive_suspect_dead_removed_one_by_one() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(0)).unwrap();
    reg.heartbeat("a", t(5)).unwrap();
    assert_eq!(drain(&events), [joined("a", 0)]);
    assert_eq!(reg.counts(), counts(1, 0, 0));

    // Deadline: 5 s + 15 s.
    assert_eq!(reg.tick(Timestamp::from_millis(19_999)), 0);
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(reg.tick(t(20)), 1);
    assert_eq!(reg.state("a"), Some(Suspect));
    assert_eq!(drain(&events), [changed("a", Alive, Suspect, 20)]);
    assert_eq!(reg.counts(), counts(0, 1, 0));

    // Confirmation: 10 s after the deadline.
    assert_eq!(reg.next_deadline(), Some(t(30)));
    assert_eq!(reg.tick(Timestamp::from_millis(29_999)), 0);
    assert_eq!(reg.tick(t(30)), 1);
    assert_eq!(reg.state("a"), Some(Dead));
    assert_eq!(drain(&events), [changed("a", Suspect, Dead, 30)]);
    assert_eq!(reg.counts(), counts(0, 0, 1));

    // Grace: 60 s after death.
    assert_eq!(reg.next_deadline(), Some(t(90)));
    assert_eq!(reg.tick(t(89)), 0);
    assert_eq!(reg.tick(t(90)), 1);
    assert_eq!(drain(&events), [removed("a", Dead, 90)]);
    assert_eq!(reg.state("a"), None);
    assert!(reg.is_empty());
    assert_eq!(reg.next_deadline(), None);
    assert_eq!(reg.undelivered_events(), 0);
}

#[test]
fn one_late_tick_reports_each_transition_at_its_own_instant() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(0)).unwrap();
    assert_eq!(reg.tick(t(1_000)), 3);
    assert_eq!(drain(&events), whole_life("a", [0, 15, 25, 85]));
}

#[test]
fn heartbeat_from_suspect_returns_it_to_alive() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(t(16));
    reg.heartbeat("a", t(17)).unwrap();
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(
        drain(&events),
        [
            joined("a", 0),
            changed("a", Alive, Suspect, 15),
            changed("a", Suspect, Alive, 17),
        ]
    );
    // The old Dead deadline (25 s) no longer applies; the new suspicion is at 32 s.
    assert_eq!(reg.tick(t(31)), 0);
    assert_eq!(reg.tick(t(32)), 1);
    assert_eq!(drain(&events), [changed("a", Alive, Suspect, 32)]);
}

#[test]
fn a_heartbeat_applies_what_was_due_before_it_without_a_tick() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(0)).unwrap();
    reg.heartbeat("a", t(20)).unwrap(); // silent from 15 s to 20 s
    assert_eq!(
        drain(&events),
        [
            joined("a", 0),
            changed("a", Alive, Suspect, 15),
            changed("a", Suspect, Alive, 20),
        ]
    );
    // Silent past its removal: it is removed, then joins again as a new node.
    reg.heartbeat("a", t(200)).unwrap();
    assert_eq!(
        drain(&events),
        [
            changed("a", Alive, Suspect, 35),
            changed("a", Suspect, Dead, 45),
            removed("a", Dead, 105),
            joined("a", 200),
        ]
    );
}

#[test]
fn second_threshold_confirms_death() {
    // Suspect after 2 missed heartbeats (10 s), Dead after 3 (15 s).
    let fd = FixedTimeout::new(FixedTimeoutConfig::new().with_missed_heartbeats(2.0)).unwrap();
    let config = RegistryConfig::new().with_confirmation(Confirmation::Suspicion(3.0));
    let (reg, events) = Registry::<String, _>::new(config, fd).unwrap();
    reg.heartbeat("a", t(100)).unwrap();
    reg.tick(t(200));
    assert_eq!(drain(&events), whole_life("a", [100, 110, 115, 175]));
}

#[test]
fn zero_confirmation_and_grace_go_straight_through() {
    let config = RegistryConfig::new()
        .with_confirmation(Confirmation::After(Duration::ZERO))
        .with_removal_grace(Duration::ZERO);
    let (reg, events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    assert_eq!(reg.tick(t(15)), 3);
    assert_eq!(drain(&events), whole_life("a", [0, 15, 15, 15]));
}

#[test]
fn never_confirmed_and_never_removed() {
    let config = RegistryConfig::new()
        .with_confirmation(Confirmation::After(Duration::MAX))
        .with_removal_grace(Duration::MAX);
    let (reg, _events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.state("a"), Some(Suspect));
    assert_eq!(reg.next_deadline(), None);

    let config = RegistryConfig::new().with_removal_grace(Duration::MAX);
    let (reg, _events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.state("a"), Some(Dead));
    assert_eq!(reg.next_deadline(), None);
}

#[test]
fn rejoin_accepted_comes_back_alive_with_fresh_statistics() {
    let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
    let (reg, events) = Registry::<String>::new(RegistryConfig::new(), phi).unwrap();
    for i in 0..50 {
        reg.heartbeat("a", Timestamp::from_millis(1_000 * i))
            .unwrap();
    }
    assert_eq!(reg.info("a", t(49)).unwrap().stats.samples, 51);
    reg.tick(t(70));
    assert_eq!(reg.state("a"), Some(Dead));
    drain(&events);

    reg.heartbeat("a", t(71)).unwrap();
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(drain(&events), [changed("a", Dead, Alive, 71)]);
    let info = reg.info("a", t(71)).unwrap();
    assert_eq!(info.stats.samples, 2, "only the bootstrap samples are left");
    assert_eq!(info.last_heartbeat, Some(t(71)));
}

#[test]
fn a_stale_heartbeat_does_not_revive_a_dead_node() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(10)).unwrap();
    reg.tick(t(40));
    drain(&events);
    assert_eq!(
        reg.heartbeat("a", t(9)),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::OutOfOrder {
                at: t(9),
                last: t(10)
            }
        ))
    );
    assert_eq!(reg.state("a"), Some(Dead));
    assert!(drain(&events).is_empty());
}

#[test]
fn rejoin_refused_until_registered_again() {
    let (reg, events) = registry(RegistryConfig::new().with_accept_rejoin(false));
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(t(30));
    assert_eq!(reg.state("a"), Some(Dead));
    drain(&events);

    assert_eq!(
        reg.heartbeat("a", t(31)),
        Err(RegistryHeartbeatError::RejoinRefused)
    );
    assert_eq!(reg.state("a"), Some(Dead));
    assert!(drain(&events).is_empty());

    reg.register("a".into(), t(40)).unwrap();
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(drain(&events), [changed("a", Dead, Alive, 40)]);
    reg.heartbeat("a", t(40)).unwrap(); // the registration stood in for it
    reg.heartbeat("a", t(45)).unwrap();
    assert_eq!(reg.info("a", t(45)).unwrap().last_heartbeat, Some(t(45)));
    // Once removed it is unknown, not Dead: its next heartbeat makes it join.
    reg.tick(t(500));
    assert_eq!(reg.state("a"), None);
    reg.heartbeat("a", t(501)).unwrap();
    assert_eq!(reg.state("a"), Some(Alive));
}

#[test]
fn unknown_nodes_refused_until_registered() {
    let (reg, events) = registry(RegistryConfig::new().with_accept_unknown(false));
    assert_eq!(
        reg.heartbeat("a", t(1)),
        Err(RegistryHeartbeatError::UnknownNode)
    );
    assert!(reg.is_empty());
    assert!(drain(&events).is_empty());

    reg.register("a".into(), t(2)).unwrap();
    assert_eq!(drain(&events), [joined("a", 2)]);
    assert_eq!(
        reg.register("a".into(), t(3)),
        Err(RegisterError::AlreadyRegistered { state: Alive })
    );
    // A heartbeat at the registration instant is not a duplicate; a second one is.
    reg.heartbeat("a", t(2)).unwrap();
    assert_eq!(
        reg.heartbeat("a", t(2)),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::Duplicate { at: t(2) }
        ))
    );
    // A registered node that never speaks is suspected like one that stopped.
    let (reg, events) = registry(RegistryConfig::new().with_accept_unknown(false));
    reg.register("b".into(), t(0)).unwrap();
    reg.tick(t(15));
    assert_eq!(
        drain(&events),
        [joined("b", 0), changed("b", Alive, Suspect, 15)]
    );
}

#[test]
fn out_of_order_heartbeats_pass_the_detector_error_through() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(10)).unwrap();
    assert_eq!(
        reg.heartbeat("a", t(5)),
        Err(RegistryHeartbeatError::Detector(
            HeartbeatError::OutOfOrder {
                at: t(5),
                last: t(10)
            }
        ))
    );
    assert_eq!(reg.info("a", t(10)).unwrap().last_heartbeat, Some(t(10)));
    assert_eq!(drain(&events), [joined("a", 10)]);
}

#[test]
fn hysteresis_delays_recovery_and_absorbs_flapping() {
    let config = RegistryConfig::new().with_hysteresis(Duration::from_secs(10));
    let (reg, events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(t(15));
    drain(&events);

    // Recovers at 20 s, must stay available until 30 s.
    reg.heartbeat("a", t(20)).unwrap();
    assert_eq!(reg.state("a"), Some(Suspect));
    reg.heartbeat("a", t(25)).unwrap();
    assert_eq!(reg.tick(t(29)), 0);
    assert_eq!(reg.state("a"), Some(Suspect));
    assert_eq!(reg.tick(t(30)), 1);
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(drain(&events), [changed("a", Suspect, Alive, 30)]);

    // A flapping link: back for a moment, then silent again before the hysteresis
    // ends. No event for the short recovery; the confirmation runs from the new
    // deadline (its last heartbeat + 15 s).
    let config = RegistryConfig::new().with_hysteresis(Duration::from_secs(20));
    let (reg, events) = registry(config);
    reg.heartbeat("b", t(0)).unwrap();
    reg.tick(t(15));
    reg.heartbeat("b", t(16)).unwrap(); // recovering until 36 s; unavailable at 31 s
    reg.tick(t(200));
    assert_eq!(drain(&events), whole_life("b", [0, 15, 41, 101]));
}

#[test]
fn a_rejoin_from_dead_ignores_hysteresis() {
    let config = RegistryConfig::new().with_hysteresis(Duration::from_secs(10));
    let (reg, events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(t(30));
    drain(&events);
    reg.heartbeat("a", t(31)).unwrap();
    assert_eq!(reg.state("a"), Some(Alive));
    assert_eq!(drain(&events), [changed("a", Dead, Alive, 31)]);
}

/// A detector that counts how many of its kind are alive, to see state dropped.
#[derive(Clone)]
struct Counted {
    inner: FixedTimeout,
    live: Arc<AtomicUsize>,
}

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            inner: fixed(),
            live: Arc::clone(live),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FailureDetector for Counted {
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), HeartbeatError> {
        self.inner.heartbeat(at)
    }
    fn suspicion(&self, now: Timestamp) -> f64 {
        self.inner.suspicion(now)
    }
    fn threshold(&self) -> f64 {
        self.inner.threshold()
    }
    fn is_available(&self, now: Timestamp) -> bool {
        self.inner.is_available(now)
    }
    fn deadline(&self) -> Option<Timestamp> {
        self.inner.deadline()
    }
    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        self.inner.deadline_for(level)
    }
    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.inner.last_heartbeat()
    }
    fn stats(&self) -> Stats {
        self.inner.stats()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
}

#[test]
fn removal_after_the_grace_period_frees_the_node() {
    let live = Arc::new(AtomicUsize::new(0));
    let factory_live = Arc::clone(&live);
    let (reg, events) = Registry::<u32, Counted>::with_factory(RegistryConfig::new(), move |_| {
        Counted::new(&factory_live)
    })
    .unwrap();
    drop(events); // nobody listens: events are discarded and counted

    // Churn: 20 generations of 500 nodes, each silent until removed.
    for generation in 0..20u64 {
        let start = t(1_000 * generation);
        for node in 0..500 {
            reg.heartbeat(&node, start).unwrap();
        }
        assert_eq!(live.load(Ordering::SeqCst), 500);
        assert_eq!(reg.len(), 500);
        reg.tick(start + Duration::from_secs(84)); // dead since 25 s, removed at 85 s
        assert_eq!(reg.counts(), counts(0, 0, 500));
        reg.tick(start + Duration::from_secs(85));
        assert_eq!(live.load(Ordering::SeqCst), 0, "detectors dropped");
        assert!(reg.is_empty());
        assert_eq!(reg.state(&0), None);
        assert_eq!(reg.next_deadline(), None);
    }
    // Join + Suspect + Dead + Removed per node, none delivered.
    assert_eq!(reg.undelivered_events(), 20 * 500 * 4);
}

#[test]
fn explicit_removal() {
    let (reg, events) = registry(RegistryConfig::new());
    reg.heartbeat("a", t(0)).unwrap();
    reg.heartbeat("b", t(0)).unwrap();
    assert_eq!(reg.remove("a", t(3)), Some(Alive));
    assert_eq!(reg.remove("a", t(4)), None);
    assert_eq!(reg.remove("zzz", t(4)), None);
    // Removing an overdue node first applies what was due.
    assert_eq!(reg.remove("b", t(20)), Some(Suspect));
    assert_eq!(
        drain(&events),
        [
            joined("a", 0),
            joined("b", 0),
            removed("a", Alive, 3),
            changed("b", Alive, Suspect, 15),
            removed("b", Suspect, 20),
        ]
    );
    assert!(reg.is_empty());
    assert_eq!(reg.tick(t(1_000)), 0);
}

#[test]
fn config_errors_name_the_field() {
    let err = |config: RegistryConfig| Registry::<u32, _>::new(config, fixed()).unwrap_err();
    assert_eq!(
        err(RegistryConfig::new().with_shards(3)),
        ConfigError::OutOfRange {
            field: "shards",
            allowed: "a power of two from 1 to 65536"
        }
    );
    assert!(matches!(
        err(RegistryConfig::new().with_shards(0)),
        ConfigError::OutOfRange {
            field: "shards",
            ..
        }
    ));
    assert!(matches!(
        err(RegistryConfig::new().with_shards(1 << 17)),
        ConfigError::OutOfRange {
            field: "shards",
            ..
        }
    ));
    assert_eq!(
        err(RegistryConfig::new().with_event_capacity(Some(0))),
        ConfigError::NotPositive {
            field: "event_capacity"
        }
    );
    let level = |l| RegistryConfig::new().with_confirmation(Confirmation::Suspicion(l));
    assert_eq!(
        err(level(f64::NAN)),
        ConfigError::NotFinite {
            field: "confirmation"
        }
    );
    assert_eq!(
        err(level(-1.0)),
        ConfigError::NotPositive {
            field: "confirmation"
        }
    );
    // The fixed timeout suspects at 3 missed heartbeats: a second level must be above.
    assert!(matches!(
        err(level(3.0)),
        ConfigError::OutOfRange {
            field: "confirmation",
            ..
        }
    ));
    assert!(Registry::<u32, _>::new(level(3.5), fixed()).is_ok());
    assert!(Registry::<u32, _>::new(RegistryConfig::new().with_shards(1), fixed()).is_ok());
}

#[test]
fn absurd_event_capacities_are_refused_before_allocating() {
    let err = |config: RegistryConfig| Registry::<u32, _>::new(config, fixed()).unwrap_err();
    // Once a panic inside the channel, an aborted allocation, 3 GB and 6.7 s.
    for capacity in [
        usize::MAX,
        1 << 40,
        100_000_000,
        RegistryConfig::MAX_EVENT_CAPACITY + 1,
    ] {
        assert!(matches!(
            err(RegistryConfig::new().with_event_capacity(Some(capacity))),
            ConfigError::OutOfRange {
                field: "event_capacity",
                ..
            }
        ));
    }
    let largest =
        RegistryConfig::new().with_event_capacity(Some(RegistryConfig::MAX_EVENT_CAPACITY));
    assert!(Registry::<u32, _>::new(largest, fixed()).is_ok());
    assert!(
        Registry::<u32, _>::new(RegistryConfig::new().with_event_capacity(None), fixed()).is_ok()
    );
    assert_eq!(RegistryConfig::MAX_SHARDS, 1 << 16);
}

#[test]
fn the_longest_durations_mean_never() {
    // Durations are not bounded: they saturate, and an instant past the end of the
    // range is never reached.
    let (reg, events) = registry(
        RegistryConfig::new()
            .with_confirmation(Confirmation::After(Duration::MAX))
            .with_hysteresis(Duration::MAX)
            .with_removal_grace(Duration::MAX),
    );
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.state("a"), Some(Suspect));
    assert_eq!(reg.next_deadline(), None);
    assert_eq!(
        drain(&events),
        [joined("a", 0), changed("a", Alive, Suspect, 15)]
    );
    let (reg, events) = registry(
        RegistryConfig::new()
            .with_confirmation(Confirmation::After(Duration::ZERO))
            .with_removal_grace(Duration::MAX),
    );
    reg.heartbeat("a", t(0)).unwrap();
    reg.tick(Timestamp::MAX);
    assert_eq!(reg.state("a"), Some(Dead));
    assert_eq!(
        drain(&events),
        [
            joined("a", 0),
            changed("a", Alive, Suspect, 15),
            changed("a", Suspect, Dead, 15)
        ]
    );
}

#[test]
fn bounded_channel_drops_and_counts_without_blocking() {
    let (reg, events) = registry(RegistryConfig::new().with_event_capacity(Some(2)));
    for node in ["a", "b", "c", "d", "e"] {
        reg.heartbeat(node, t(0)).unwrap();
    }
    assert_eq!(reg.undelivered_events(), 3);
    assert_eq!(drain(&events).len(), 2);
    reg.tick(t(15));
    assert_eq!(reg.undelivered_events(), 6);
    assert_eq!(
        reg.counts(),
        counts(0, 5, 0),
        "states are kept all the same"
    );
}

#[test]
fn next_deadline_tells_how_long_to_sleep() {
    let (reg, _events) = registry(RegistryConfig::new());
    assert_eq!(reg.next_deadline(), None);
    reg.heartbeat("a", t(0)).unwrap();
    reg.heartbeat("b", t(3)).unwrap();
    assert_eq!(reg.next_deadline(), Some(t(15)));
    // "a" speaks again: 15 s may now be early (never late); a tick there finds
    // nothing and moves it on.
    reg.heartbeat("a", t(5)).unwrap();
    let next = reg.next_deadline().unwrap();
    assert!(next <= t(18));
    assert_eq!(reg.tick(next), 0);
    assert_eq!(reg.next_deadline(), Some(t(18)));
    assert_eq!(reg.tick(t(18)), 1);
    assert_eq!(reg.state("b"), Some(Suspect));
    assert_eq!(reg.next_deadline(), Some(t(20)));
}

#[test]
fn a_deadline_that_moves_earlier_is_still_honoured() {
    // Phi learns a shorter interval: the deadline after a heartbeat can come
    // before the one scheduled for the previous heartbeat.
    let phi = PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_max_sample_size(2)
            .with_acceptable_heartbeat_pause(Duration::ZERO)
            .with_min_std_deviation(Duration::from_millis(1))
            .with_first_heartbeat_estimate(Duration::from_secs(10)),
    )
    .unwrap();
    let (reg, events) = Registry::<String>::new(RegistryConfig::new(), phi).unwrap();
    reg.heartbeat("a", t(0)).unwrap();
    reg.heartbeat("a", t(10)).unwrap(); // learns ~10 s intervals (with bootstrap)
    let before = reg.info("a", t(10)).unwrap().deadline.unwrap();
    reg.heartbeat("a", Timestamp::from_millis(10_100)).unwrap();
    reg.heartbeat("a", Timestamp::from_millis(10_200)).unwrap(); // now ~100 ms
    let after = reg.info("a", t(10)).unwrap().deadline.unwrap();
    assert!(after < before, "{after} should be before {before}");
    drain(&events);
    reg.tick(after);
    assert_eq!(
        drain(&events),
        [Event::Changed {
            node: "a".into(),
            from: Alive,
            to: Suspect,
            at: after
        }]
    );
}

#[test]
fn snapshot_and_info_report_every_node() {
    let phi = PhiAccrual::new(PhiAccrualConfig::new()).unwrap();
    let (reg, _events) = Registry::<String>::new(RegistryConfig::new(), phi).unwrap();
    for i in 0..10 {
        reg.heartbeat("steady", Timestamp::from_millis(500 * i))
            .unwrap();
    }
    reg.heartbeat("quiet", t(0)).unwrap();
    reg.tick(t(6)); // "quiet" was suspected at about 5.3 s, "steady" at 9.2 s
    let mut snapshot = reg.snapshot(t(6));
    snapshot.sort_by(|a, b| a.node.cmp(&b.node));
    assert_eq!(snapshot.len(), 2);
    let (quiet, steady) = (&snapshot[0], &snapshot[1]);
    assert_eq!(quiet.node, "quiet");
    assert_eq!(quiet.state, Suspect);
    assert!(quiet.suspicion >= 8.0);
    assert_eq!(quiet.last_heartbeat, Some(t(0)));
    assert_eq!(steady.state, Alive);
    assert_eq!(steady.stats.samples, 11);
    assert_eq!(steady.last_heartbeat, Some(Timestamp::from_millis(4_500)));
    assert_eq!(
        reg.suspicion("steady", t(6)),
        Some(steady.suspicion),
        "same query, same answer"
    );
    assert_eq!(reg.info("steady", t(6)).as_ref(), Some(steady));
    assert_eq!(reg.info("nobody", t(10)), None);
    assert_eq!(reg.suspicion("nobody", t(10)), None);
    assert!(reg.contains("quiet") && !reg.contains("nobody"));
    assert_eq!(reg.counts(), counts(1, 1, 0));
    assert_eq!(reg.counts().get(Suspect), 1);
}

#[test]
fn clock_methods_read_the_registry_clock() {
    let clock = ManualClock::new(t(100));
    let (reg, events) = registry(RegistryConfig::new());
    let reg = reg.with_clock(clock.clone());
    assert_eq!(reg.now(), t(100));
    reg.register_now("a".into()).unwrap();
    clock.advance(Duration::from_secs(1));
    reg.heartbeat_now("a").unwrap();
    assert_eq!(reg.suspicion_now("a"), Some(0.0));
    clock.advance(Duration::from_secs(15));
    assert_eq!(reg.tick_now(), 1);
    assert_eq!(reg.suspicion_now("a"), Some(3.0));
    assert_eq!(reg.snapshot_now()[0].suspicion, 3.0);
    assert_eq!(reg.remove_now("a"), Some(Suspect));
    assert_eq!(
        drain(&events),
        [
            joined("a", 100),
            changed("a", Alive, Suspect, 116),
            removed("a", Suspect, 116),
        ]
    );
}

#[test]
fn registry_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Registry<String>>();
    shareable::<Registry<u64, FixedTimeout>>();
    shareable::<Event<String>>();
}

/// A hasher that returns the integer it is given: the worst reasonable hasher for
/// sequential keys (all their high bits are zero).
#[derive(Clone, Copy, Default)]
struct Identity;

struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0 << 8 | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::hash::BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

#[test]
fn sequential_keys_spread_over_every_shard_even_with_an_identity_hash() {
    // Before, shards were chosen by hash bits 32 and up: all 10,000 keys in shard 0.
    let (reg, _events) = Registry::<u64, _, Identity>::with_factory_and_hasher(
        RegistryConfig::new(),
        |_: &u64| fixed(),
        Identity,
    )
    .unwrap();
    let shards = reg.shard_count();
    assert_eq!(shards, 64);
    let mut per_shard = vec![0usize; shards];
    for node in 0..10_000u64 {
        per_shard[reg.shard_of(&node)] += 1;
    }
    // 156 per shard on average (the mixed hash gives 154 to 159); a uniform
    // random choice would stay within 110..=205 with probability above 99.9%.
    let (min, max) = (per_shard.iter().min(), per_shard.iter().max());
    assert!(
        per_shard.iter().all(|&n| (110..=205).contains(&n)),
        "{min:?}..{max:?}: {per_shard:?}"
    );
    // Keys that differ only in their high bits spread too.
    let mut high = vec![0usize; shards];
    for node in 0..10_000u64 {
        high[reg.shard_of(&(node << 40))] += 1;
    }
    assert!(high.iter().all(|&n| (110..=205).contains(&n)), "{high:?}");
    // The nodes go where shard_of says, and the shards' indexes find them all.
    let batch: Vec<(u64, Timestamp)> = (0..10_000u64).map(|n| (n, t(1))).collect();
    assert_eq!(reg.heartbeat_batch(&batch, |_, _| {}), 10_000);
    for node in 0..10_000u64 {
        assert!(reg.contains(&node));
        reg.heartbeat(&node, t(2)).unwrap();
    }
    assert_eq!(reg.len(), 10_000);
}

#[test]
fn batch_refusals_arrive_in_the_documented_order() {
    let (reg, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fixed()).unwrap();
    // 3,000 heartbeats from 100 nodes, every third one a duplicate of the one
    // before: 1,000 refusals, more than 32 per shard and chunk.
    let mut batch = Vec::new();
    for i in 0..1_000u64 {
        let node = i % 100;
        let at = t(1 + i);
        batch.push((node, at));
        batch.push((node, at)); // refused: a duplicate
        batch.push((node, at + Duration::from_millis(1)));
    }
    let mut refused = Vec::new();
    let accepted = reg.heartbeat_batch(&batch, |i, e| refused.push((i, e)));
    assert_eq!(accepted, 2_000);
    let positions: Vec<usize> = refused.iter().map(|&(i, _)| i).collect();
    let mut expected: Vec<usize> = (0..batch.len()).filter(|i| i % 3 == 1).collect();
    expected.sort_by_key(|&i| (i / 1024, reg.shard_of(&batch[i].0), i));
    assert_eq!(positions, expected);
    for (i, e) in refused {
        assert_eq!(
            e,
            RegistryHeartbeatError::Detector(HeartbeatError::Duplicate { at: batch[i].1 })
        );
    }
}

#[test]
fn a_full_registry_refuses_new_nodes_and_creates_nothing() {
    let config = RegistryConfig::new().with_max_nodes(Some(2));
    let (reg, events) = registry(config);
    reg.heartbeat("a", t(0)).unwrap();
    reg.register("b".into(), t(0)).unwrap();
    assert_eq!(
        reg.heartbeat("c", t(1)),
        Err(RegistryHeartbeatError::Full { max: 2 })
    );
    assert_eq!(
        reg.register("c".into(), t(1)),
        Err(RegisterError::Full { max: 2 })
    );
    assert_eq!(reg.len(), 2);
    assert_eq!(reg.state("c"), None);
    assert_eq!(drain(&events), [joined("a", 0), joined("b", 0)]);
    // Known nodes are not affected, Dead ones count until removed, and a removal
    // makes room.
    reg.heartbeat("a", t(5)).unwrap();
    reg.tick(t(30)); // b: Suspect at 15 s, Dead at 25 s
    assert_eq!(reg.state("b"), Some(Dead));
    assert!(reg.heartbeat("c", t(30)).is_err());
    assert_eq!(reg.remove("b", t(31)), Some(Dead));
    reg.heartbeat("c", t(32)).unwrap();
    assert_eq!(reg.len(), 2);
    // A node removed at the end of its grace period makes room too.
    reg.tick(t(200)); // a and c die and are removed
    assert!(reg.is_empty());
    reg.heartbeat("d", t(201)).unwrap();
    reg.heartbeat("e", t(201)).unwrap();
    assert!(reg.heartbeat("f", t(201)).is_err());
}

#[test]
fn zero_max_nodes_is_refused() {
    let config = RegistryConfig::new().with_max_nodes(Some(0));
    assert!(matches!(
        Registry::<String, FixedTimeout>::new(config, fixed()),
        Err(ConfigError::NotPositive { field: "max_nodes" })
    ));
}

#[test]
fn the_node_limit_holds_exactly_across_threads() {
    const MAX: usize = 100;
    let config = RegistryConfig::new().with_max_nodes(Some(MAX));
    let (reg, _events) = Registry::<u64, FixedTimeout>::new(config, fixed()).unwrap();
    let joined = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            let (reg, joined) = (&reg, &joined);
            s.spawn(move || {
                for k in 0..1_000u64 {
                    match reg.heartbeat(&(thread * 1_000 + k), t(1)) {
                        Ok(()) => {
                            joined.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RegistryHeartbeatError::Full { max }) => assert_eq!(max, MAX),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!(joined.load(Ordering::Relaxed), MAX);
    assert_eq!(reg.len(), MAX);
}
