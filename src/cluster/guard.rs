//! Knowing when you are the one cut off or frozen: the local pause guard and the
//! isolation rule, shared by both protocols.

use std::time::Duration;

use super::event::{ClusterEvent, Doubt};
use crate::error::{ConfigError, check};
use crate::time::{Timestamp, duration_nanos};

/// How a member doubts itself before it convicts others.
///
/// ```
/// use failure_detector::cluster::LocalGuardConfig;
/// use std::time::Duration;
///
/// let guard = LocalGuardConfig::new(); // Cassandra's 5 s pause, isolation above half
/// assert_eq!(guard.max_local_pause, Duration::from_secs(5));
/// assert!(guard.validate().is_ok());
/// assert!(guard.with_isolation_share(f64::NAN).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct LocalGuardConfig {
    /// If this member's own loop runs later than its deadline by more than this
    /// (a GC pause, a frozen VM, CPU starvation), it convicts no one for that
    /// interval and the next, and says so ([`ClusterEvent::LocalPause`]).
    /// Default 5 s (Cassandra's `cassandra.max_local_pause_in_ms`, read in
    /// `gms/Gossiper.java`); not zero, at most 2^47 ns.
    #[cfg_attr(feature = "serde", serde(with = "crate::operator::duration_serde"))]
    pub max_local_pause: Duration,
    /// A member that suspects more than this share of its peers at once
    /// considers itself isolated ([`ClusterEvent::Isolated`]) and defers its
    /// convictions. Default 0.5: the minority side of a partition suspects more
    /// than half the others, the majority side at most half. Finite, in (0, 1];
    /// 1 turns the rule off.
    pub isolation_share: f64,
    /// The rule applies only with at least this many peers (a member of a
    /// two-member cluster cannot tell a crash from a cut). Default 3; at least 1.
    pub isolation_min_peers: usize,
}

impl Default for LocalGuardConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalGuardConfig {
    /// The defaults: a 5 s maximum local pause, isolation above half the peers,
    /// from 3 peers.
    pub const fn new() -> Self {
        LocalGuardConfig {
            max_local_pause: Duration::from_secs(5),
            isolation_share: 0.5,
            isolation_min_peers: 3,
        }
    }

    /// Sets [`max_local_pause`](Self::max_local_pause).
    pub const fn with_max_local_pause(mut self, pause: Duration) -> Self {
        self.max_local_pause = pause;
        self
    }

    /// Sets [`isolation_share`](Self::isolation_share).
    pub const fn with_isolation_share(mut self, share: f64) -> Self {
        self.isolation_share = share;
        self
    }

    /// Sets [`isolation_min_peers`](Self::isolation_min_peers).
    pub const fn with_isolation_min_peers(mut self, peers: usize) -> Self {
        self.isolation_min_peers = peers;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::recordable("max_local_pause", self.max_local_pause)?;
        let share = check::positive("isolation_share", self.isolation_share)?;
        if share > 1.0 {
            return Err(ConfigError::OutOfRange {
                field: "isolation_share",
                allowed: "a share in (0, 1]",
            });
        }
        if self.isolation_min_peers == 0 {
            return Err(ConfigError::NotPositive {
                field: "isolation_min_peers",
            });
        }
        Ok(())
    }
}

/// The state behind [`LocalGuardConfig`]: the last input's instant, when the
/// member expected to run next, until when convictions are held, and whether it
/// thinks itself isolated.
#[derive(Clone, Debug)]
pub(crate) struct LocalGuard {
    config: LocalGuardConfig,
    max_pause_ns: u64,
    /// How long convictions are held after a pause: two of the member's intervals.
    hold_ns: u64,
    last: Option<Timestamp>,
    expected: Option<Timestamp>,
    held_until: Timestamp,
    isolated: bool,
    /// The suspected count at the last isolation update, and when it last grew
    /// while above half the isolation share ([`LocalGuard::widened_at`]).
    last_suspected: usize,
    widened_at: Timestamp,
}

impl LocalGuard {
    /// A guard for a member whose loop runs every `interval` (gossip interval or
    /// probe interval). `config` must have been validated.
    pub(crate) fn new(config: LocalGuardConfig, interval: Duration) -> Self {
        LocalGuard {
            config,
            max_pause_ns: duration_nanos(config.max_local_pause),
            hold_ns: duration_nanos(interval).saturating_mul(2),
            last: None,
            expected: None,
            held_until: Timestamp::ZERO,
            isolated: false,
            last_suspected: 0,
            widened_at: Timestamp::ZERO,
        }
    }

    /// Takes an input at `now`: returns the instant it takes effect at (never
    /// before an earlier input's), and a [`ClusterEvent::LocalPause`] if the
    /// member ran later than it expected by more than the maximum local pause.
    pub(crate) fn input<I>(&mut self, now: Timestamp) -> (Timestamp, Option<ClusterEvent<I>>) {
        let now = match self.last {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last = Some(now);
        let mut event = None;
        if let Some(expected) = self.expected.take() {
            let late = now.saturating_duration_since(expected);
            if duration_nanos(late) > self.max_pause_ns {
                self.held_until = now.saturating_add(Duration::from_nanos(self.hold_ns));
                event = Some(ClusterEvent::LocalPause {
                    late_by: late,
                    at: now,
                    until: self.held_until,
                });
            }
        }
        (now, event)
    }

    /// Records when the member expects to run next (its `next_deadline` after
    /// an input). A deadline already past counts from the last input: a pause is
    /// reported once, by the first input after it, not again by every input
    /// handled before the member's next tick.
    pub(crate) fn expect(&mut self, deadline: Option<Timestamp>) {
        self.expected = match (deadline, self.last) {
            (Some(d), Some(last)) => Some(d.max(last)),
            (d, _) => d,
        };
    }

    /// Whether a pause still holds convictions back at `now`.
    pub(crate) fn paused(&self, now: Timestamp) -> bool {
        now < self.held_until
    }

    /// When a pause stops holding convictions back (`None`: none does).
    pub(crate) fn held_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.paused(now).then_some(self.held_until)
    }

    /// Whether the member considers itself isolated.
    pub(crate) fn isolated(&self) -> bool {
        self.isolated
    }

    /// Why convictions are held back at `now`: a pause if one holds them, else
    /// isolation (ask only when [`convictions_allowed`](Self::convictions_allowed)
    /// is false).
    pub(crate) fn doubt(&self, now: Timestamp) -> Doubt {
        if self.paused(now) {
            Doubt::LocalPause
        } else {
            Doubt::Isolated
        }
    }

    /// Whether convictions are allowed at `now`: no pause holds them and the
    /// member is not isolated.
    pub(crate) fn convictions_allowed(&self, now: Timestamp) -> bool {
        !self.paused(now) && !self.isolated
    }

    /// When the suspected count last grew while above half the isolation
    /// share: a partition may still be unfolding that the isolation rule has
    /// not seen whole (`Timestamp::ZERO` if never). A member can wait for it to
    /// settle before it convicts.
    pub(crate) fn widened_at(&self) -> Timestamp {
        self.widened_at
    }

    /// Updates the isolation verdict from `suspected` of `peers`; returns the
    /// event if it changed.
    pub(crate) fn update_isolation<I>(
        &mut self,
        suspected: usize,
        peers: usize,
        now: Timestamp,
    ) -> Option<ClusterEvent<I>> {
        // Growth counts once the suspected exceed half the isolation share (a
        // quarter of the peers by default): one crash, a few, or passing false
        // suspicions on a lossy network do not count.
        let wide = suspected as f64 > self.config.isolation_share * 0.5 * peers as f64;
        if suspected > self.last_suspected && wide {
            self.widened_at = now;
        }
        self.last_suspected = suspected;
        let isolated = peers >= self.config.isolation_min_peers
            && self.config.isolation_share < 1.0
            && suspected as f64 > self.config.isolation_share * peers as f64;
        if isolated == self.isolated {
            return None;
        }
        self.isolated = isolated;
        Some(if isolated {
            ClusterEvent::Isolated {
                suspected,
                peers,
                at: now,
            }
        } else {
            ClusterEvent::Reconnected { at: now }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type E = ClusterEvent<u64>;

    #[test]
    fn a_late_input_holds_convictions_for_two_intervals() {
        let mut g = LocalGuard::new(LocalGuardConfig::new(), Duration::from_secs(1));
        let (_, e): (_, Option<E>) = g.input(Timestamp::from_secs(10));
        assert!(e.is_none());
        g.expect(Some(Timestamp::from_secs(11)));
        // 5 s late exactly is not a pause; the bound is strict.
        let (_, e): (_, Option<E>) = g.input(Timestamp::from_secs(16));
        assert!(e.is_none());
        g.expect(Some(Timestamp::from_secs(17)));
        let (now, e): (_, Option<E>) = g.input(Timestamp::from_secs(24));
        assert_eq!(
            e,
            Some(ClusterEvent::LocalPause {
                late_by: Duration::from_secs(7),
                at: now,
                until: Timestamp::from_secs(26)
            })
        );
        assert!(!g.convictions_allowed(Timestamp::from_secs(25)));
        assert!(g.convictions_allowed(Timestamp::from_secs(26)));
    }

    #[test]
    fn a_pause_is_reported_once_by_the_first_input_after_it() {
        let mut g = LocalGuard::new(LocalGuardConfig::new(), Duration::from_secs(1));
        let _: (_, Option<E>) = g.input(Timestamp::from_secs(10));
        g.expect(Some(Timestamp::from_secs(11)));
        // Woken at 18 s: three held datagrams, then the overdue tick.
        let mut pauses = 0;
        for _ in 0..4 {
            let (_, e): (_, Option<E>) = g.input(Timestamp::from_secs(18));
            pauses += usize::from(e.is_some());
            g.expect(Some(Timestamp::from_secs(11))); // not ticked yet: still 11 s
        }
        assert_eq!(pauses, 1);
        assert!(!g.convictions_allowed(Timestamp::from_secs(19)));
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut g = LocalGuard::new(LocalGuardConfig::new(), Duration::from_secs(1));
        let _: (_, Option<E>) = g.input(Timestamp::from_secs(10));
        let (now, _): (_, Option<E>) = g.input(Timestamp::from_secs(3));
        assert_eq!(now, Timestamp::from_secs(10));
    }

    #[test]
    fn isolation_is_a_strict_majority_of_suspected_peers() {
        let mut g = LocalGuard::new(LocalGuardConfig::new(), Duration::from_secs(1));
        let t = Timestamp::ZERO;
        // Majority side of 2|3: suspects 2 of 4. Minority: 3 of 4.
        assert!(g.update_isolation::<u64>(2, 4, t).is_none());
        assert!(matches!(
            g.update_isolation::<u64>(3, 4, t),
            Some(ClusterEvent::Isolated { .. })
        ));
        assert!(!g.convictions_allowed(t));
        assert_eq!(
            g.update_isolation::<u64>(1, 4, t),
            Some(ClusterEvent::Reconnected { at: t })
        );
        // Two peers: too few to tell a crash from a cut.
        assert!(g.update_isolation::<u64>(2, 2, t).is_none());
    }

    #[test]
    fn a_wide_suspicion_that_grows_is_dated() {
        let mut g = LocalGuard::new(LocalGuardConfig::new(), Duration::from_secs(1));
        let at = Timestamp::from_secs;
        // Growth within a quarter of the peers does not count.
        let _ = g.update_isolation::<u64>(1, 100, at(1));
        let _ = g.update_isolation::<u64>(25, 100, at(2));
        assert_eq!(g.widened_at(), Timestamp::ZERO);
        // Above a quarter, each growth is dated; a shrink or a standstill is not.
        let _ = g.update_isolation::<u64>(30, 100, at(3));
        assert_eq!(g.widened_at(), at(3));
        let _ = g.update_isolation::<u64>(30, 100, at(4));
        let _ = g.update_isolation::<u64>(28, 100, at(5));
        assert_eq!(g.widened_at(), at(3));
        let _ = g.update_isolation::<u64>(29, 100, at(6));
        assert_eq!(g.widened_at(), at(6));
    }
}
