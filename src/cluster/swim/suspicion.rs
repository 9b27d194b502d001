//! [`Suspicion`]: memberlist's suspicion timer as a pure value, and
//! [`Awareness`]: Lifeguard's local health score.

use std::time::Duration;

use super::SwimConfig;
use crate::time::{Timestamp, duration_nanos};

/// One suspicion of one member: when it started, how long it lasts, and the
/// independent confirmations that shorten it (Lifeguard's dynamic suspicion
/// timeout, as memberlist computes it in `suspicion.go`).
///
/// With `k` confirmations wanted, `n` received, and `min`/`max` the timeouts,
/// the suspicion lasts
///
/// `max(min, floor_ms(max - ln(n + 1) / ln(k + 1) x (max - min)))`
///
/// from its start (`floor_ms`: rounded down to the millisecond, in seconds
/// arithmetic, as memberlist does), and just `min` when `k` is 0. The accuser
/// never confirms its own suspicion, each member confirms at most once, and
/// confirmations beyond `k` are not counted. `n` and `k` are small, so the
/// confirmations are kept in a short list (at most `k + 1` ids).
///
/// ```
/// use failure_detector::cluster::{SwimConfig, swim::Suspicion};
/// use failure_detector::Timestamp;
/// use std::time::Duration;
///
/// // memberlist's LAN config in a cluster of 100: 8 s to 48 s, 2 confirmations.
/// let mut s = Suspicion::for_cluster(&SwimConfig::lan(), 100, 7u64, Timestamp::ZERO);
/// assert_eq!(s.timeout(), Duration::from_secs(48));
/// assert!(!s.confirm(7)); // the accuser does not count
/// assert!(s.confirm(8));
/// assert!(!s.confirm(8)); // nor does a repeat
/// assert_eq!(s.timeout(), Duration::from_millis(22_762));
/// assert!(s.confirm(9));
/// assert_eq!(s.deadline(), Timestamp::from_secs(8));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspicion<I> {
    start: Timestamp,
    min: Duration,
    max: Duration,
    k: u32,
    /// The accuser, then each confirming member.
    seen: Vec<I>,
}

impl<I: Eq> Suspicion<I> {
    /// A suspicion raised by `accuser` at `start`, which `k` confirmations
    /// bring from `max` down to `min`. `max` below `min` is taken as `min`.
    pub fn new(accuser: I, k: u32, min: Duration, max: Duration, start: Timestamp) -> Self {
        Suspicion {
            start,
            min,
            max: max.max(min),
            k,
            seen: vec![accuser],
        }
    }

    /// A suspicion with `config`'s timeouts and confirmations for a cluster of
    /// `n` members ([`SwimConfig::suspicion_min_timeout`],
    /// [`SwimConfig::suspicion_max_timeout`],
    /// [`SwimConfig::suspicion_confirmations`]).
    pub fn for_cluster(config: &SwimConfig, n: usize, accuser: I, start: Timestamp) -> Self {
        Suspicion::new(
            accuser,
            config.suspicion_confirmations(n),
            config.suspicion_min_timeout(n),
            config.suspicion_max_timeout(n),
            start,
        )
    }

    /// Records that `from` suspects the member too. Returns whether it counted
    /// (new information worth passing on): not the accuser, not a repeat, and
    /// fewer than `k` confirmations so far.
    pub fn confirm(&mut self, from: I) -> bool {
        if self.confirmations() >= self.k || self.seen.contains(&from) {
            return false;
        }
        self.seen.push(from);
        true
    }

    /// Independent confirmations counted so far.
    pub fn confirmations(&self) -> u32 {
        (self.seen.len() - 1) as u32
    }

    /// Confirmations that bring the timeout to its minimum.
    pub fn wanted(&self) -> u32 {
        self.k
    }

    /// When the suspicion started.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The timeout with no confirmation.
    pub fn max_timeout(&self) -> Duration {
        self.max
    }

    /// The timeout with `k` confirmations.
    pub fn min_timeout(&self) -> Duration {
        self.min
    }

    /// The whole timeout, from [`start`](Self::start), given the confirmations
    /// so far.
    pub fn timeout(&self) -> Duration {
        if self.k < 1 {
            return self.min;
        }
        let n = f64::from(self.confirmations());
        let frac = (n + 1.0).ln() / (f64::from(self.k) + 1.0).ln();
        let (min_s, max_s) = (self.min.as_secs_f64(), self.max.as_secs_f64());
        let raw = max_s - frac * (max_s - min_s);
        let ms = (1000.0 * raw).floor();
        // `raw` is between min and max (n <= k); the cast saturates anyway.
        let timeout = Duration::from_millis(ms.max(0.0) as u64);
        timeout.max(self.min)
    }

    /// When the suspect is declared dead if nobody refutes first:
    /// [`start`](Self::start) plus [`timeout`](Self::timeout).
    pub fn deadline(&self) -> Timestamp {
        self.start.saturating_add(self.timeout())
    }

    /// Bytes this suspicion holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.seen.capacity() * std::mem::size_of::<I>()
    }
}

/// Lifeguard's local health (Dadgar et al. 2017, "Local Health Aware Probe"),
/// as memberlist keeps it in `awareness.go`: a score from 0 (healthy) to
/// `max - 1`, which scales this member's probe deadlines by `score + 1`.
///
/// The member applies memberlist's deltas: -1 for a probe acked in time,
/// `+(expected nacks - nacks received)` for a failed probe (+1 if no relay
/// could be asked), +1 for refuting a suspicion of itself.
///
/// ```
/// use failure_detector::cluster::swim::Awareness;
/// use std::time::Duration;
///
/// let mut health = Awareness::new(8);
/// health.apply_delta(3); // a failed probe, no nack came back from 3 relays
/// assert_eq!(health.score(), 3);
/// assert_eq!(health.scale(Duration::from_secs(1)), Duration::from_secs(4));
/// health.apply_delta(100);
/// assert_eq!(health.score(), 7); // capped at max - 1
/// health.apply_delta(-100);
/// assert_eq!(health.score(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Awareness {
    max: u32,
    score: u32,
}

impl Awareness {
    /// A healthy score (0) with the given maximum multiplier (at least 1).
    pub const fn new(max: u32) -> Self {
        Awareness {
            max: if max == 0 { 1 } else { max },
            score: 0,
        }
    }

    /// Adds `delta` to the score and clamps it to `0..=max - 1`.
    pub fn apply_delta(&mut self, delta: i64) {
        let score = i64::from(self.score).saturating_add(delta);
        self.score = score.clamp(0, i64::from(self.max - 1)) as u32;
    }

    /// The score: 0 is healthy, `max - 1` the worst.
    pub const fn score(&self) -> u32 {
        self.score
    }

    /// The maximum multiplier.
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// `timeout x (score + 1)`, saturating.
    pub fn scale(&self, timeout: Duration) -> Duration {
        Duration::from_nanos(duration_nanos(timeout).saturating_mul(u64::from(self.score) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lan(n: usize) -> Suspicion<u32> {
        Suspicion::for_cluster(&SwimConfig::lan(), n, 0, Timestamp::from_secs(100))
    }

    #[test]
    fn golden_lan_timeouts() {
        for (n, min, max) in [(10, 4, 24), (100, 8, 48), (1000, 12, 72)] {
            let mut s = lan(n);
            assert_eq!(s.timeout(), Duration::from_secs(max), "{n}");
            assert_eq!(s.min_timeout(), Duration::from_secs(min), "{n}");
            assert!(s.confirm(1) && s.confirm(2));
            assert_eq!(s.timeout(), Duration::from_secs(min), "{n}");
            assert_eq!(s.deadline(), Timestamp::from_secs(100 + min));
        }
        let mut s = lan(100);
        s.confirm(1);
        // 48 - ln 2 / ln 3 x 40 = 22.7627..., floored to the millisecond.
        assert_eq!(s.timeout(), Duration::from_millis(22_762));
    }

    #[test]
    fn confirmations_against_a_naive_oracle() {
        let (min, max) = (Duration::from_secs(3), Duration::from_secs(50));
        for k in 0..6u32 {
            let mut s = Suspicion::new(0u32, k, min, max, Timestamp::ZERO);
            for n in 0..8u32 {
                let counted = n.min(k);
                let expected = if k == 0 {
                    3.0
                } else {
                    let frac = f64::from(counted + 1).ln() / f64::from(k + 1).ln();
                    (((50.0 - frac * 47.0) * 1000.0f64).floor() / 1000.0).max(3.0)
                };
                assert!(
                    (s.timeout().as_secs_f64() - expected).abs() < 1e-9,
                    "k {k} n {n}: {:?} vs {expected}",
                    s.timeout()
                );
                assert_eq!(s.confirm(n + 1), n < k);
            }
            assert_eq!(s.confirmations(), k);
        }
    }

    #[test]
    fn few_members_want_no_confirmation() {
        // N = 3: the suspect and the suspecting member leave one, fewer than 2.
        let s = lan(3);
        assert_eq!(s.wanted(), 0);
        assert_eq!(s.timeout(), Duration::from_secs(4));
    }

    #[test]
    fn awareness_matches_memberlist() {
        let mut a = Awareness::new(8);
        assert_eq!(a.score(), 0);
        a.apply_delta(-1);
        assert_eq!(a.score(), 0);
        for expected in 1..=7 {
            a.apply_delta(1);
            assert_eq!(a.score(), expected);
        }
        a.apply_delta(1);
        assert_eq!(a.score(), 7);
        assert_eq!(a.scale(Duration::from_millis(500)), Duration::from_secs(4));
        a.apply_delta(-3);
        assert_eq!(a.score(), 4);
        assert_eq!(
            Awareness::new(1).scale(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        let mut off = Awareness::new(1);
        off.apply_delta(5);
        assert_eq!(off.score(), 0);
        assert_eq!(Awareness::new(0).max(), 1);
        a.apply_delta(i64::MAX);
        a.apply_delta(i64::MIN);
        assert_eq!(a.score(), 0);
    }
}
