//! What a run shows: load, detection times, false verdicts and the
//! Chen-Toueg-Aguilera metrics per observer pair, judged against the
//! simulator's own log of faults.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use crate::cluster::{ClusterEvent, Member};
use crate::registry::NodeState;
use crate::time::Timestamp;

use super::hash::Fast as Det;

/// Datagrams and bytes one member sent and handled over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberLoad {
    /// The member's id.
    pub id: u64,
    /// Datagrams it emitted (delivered or not).
    pub sent: u64,
    /// Bytes it emitted.
    pub sent_bytes: u64,
    /// Datagrams it handled (including refused ones).
    pub received: u64,
    /// Bytes it handled.
    pub received_bytes: u64,
}

impl MemberLoad {
    /// Datagrams sent and handled, per second of `over`.
    pub fn datagrams_per_second(&self, over: Duration) -> f64 {
        per_second((self.sent + self.received) as f64, over)
    }
}

fn per_second(x: f64, over: Duration) -> f64 {
    let s = over.as_secs_f64();
    if s > 0.0 { x / s } else { 0.0 }
}

/// Statistics of detection times over the crashes of a run. Percentiles are exact
/// nearest-rank values over the detected crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectionStats {
    /// Crashes detected.
    pub detected: usize,
    /// Crashes not (yet) detected when the report was made.
    pub undetected: usize,
    /// Median.
    pub p50: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Longest.
    pub max: Option<Duration>,
    /// Mean, rounded down to the nanosecond.
    pub mean: Option<Duration>,
}

impl DetectionStats {
    fn of(values: impl Iterator<Item = Option<Duration>>) -> Self {
        let mut undetected = 0;
        let mut v: Vec<Duration> = values
            .filter_map(|d| {
                if d.is_none() {
                    undetected += 1;
                }
                d
            })
            .collect();
        v.sort_unstable();
        let rank = |p: f64| {
            let r = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
            v.get(r - 1).copied()
        };
        let total: u128 = v.iter().map(Duration::as_nanos).sum();
        DetectionStats {
            detected: v.len(),
            undetected,
            p50: rank(0.5),
            p99: rank(0.99),
            max: v.last().copied(),
            mean: (!v.is_empty()).then(|| Duration::from_nanos((total / v.len() as u128) as u64)),
        }
    }
}

/// One crash and how the others noticed it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrashReport {
    /// The member that crashed (id and generation).
    pub member: Member<u64>,
    /// When.
    pub at: Timestamp,
    /// Members up at the crash and still up at the report: the ones expected to
    /// convict it.
    pub survivors: usize,
    /// Survivors that convicted it (Dead) by the report.
    pub convicted_by: usize,
    /// From the crash to the first conviction (Dead) by any member.
    pub first: Option<Duration>,
    /// From the crash to the conviction by the last survivor (`None` while a
    /// survivor has not convicted it).
    pub all: Option<Duration>,
}

/// A Dead verdict about a member that was up (not crashed; perhaps paused).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FalseVerdict {
    /// Who declared it.
    pub observer: u64,
    /// About whom (id and generation).
    pub member: Member<u64>,
    /// When.
    pub at: Timestamp,
}

/// The Chen-Toueg-Aguilera metrics of one observer watching one subject, from the
/// observer's verdict transitions: a *mistake* starts when it moves the subject
/// from Alive to Suspect or Dead while the subject is up (S-transition) and ends
/// when it trusts it again (Alive, or a restart learned), or when the subject or
/// the observer crashes. The same definitions as [`qos::Metrics`](crate::qos::Metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PairMetrics {
    /// The observer.
    pub observer: u64,
    /// The subject.
    pub subject: u64,
    /// Time both were up (the observation window).
    pub observed: Duration,
    /// Mistakes (false suspicions).
    pub mistakes: u64,
    /// Total time spent wrongly suspecting.
    pub mistake_time: Duration,
    /// Detection time `T_D` for each crash of the subject this observer saw and
    /// suspected for good: from the crash to its last S-transition about it.
    pub detection: Vec<Duration>,
    first_mistake: Option<Timestamp>,
    last_mistake: Option<Timestamp>,
}

impl PairMetrics {
    /// Mistake rate `lambda_M`, mistakes per second of the observed time.
    pub fn mistake_rate(&self) -> f64 {
        per_second(self.mistakes as f64, self.observed)
    }

    /// Mean mistake duration `T_M` (`None` without mistakes).
    pub fn mistake_duration(&self) -> Option<Duration> {
        (self.mistakes > 0).then(|| {
            Duration::from_nanos((self.mistake_time.as_nanos() / u128::from(self.mistakes)) as u64)
        })
    }

    /// Mean mistake recurrence `T_MR`: mean time between the starts of two
    /// consecutive mistakes (`None` with fewer than two).
    pub fn mistake_recurrence(&self) -> Option<Duration> {
        match (self.first_mistake, self.last_mistake) {
            (Some(a), Some(b)) if self.mistakes > 1 => Some(Duration::from_nanos(
                b.saturating_duration_since(a).as_nanos() as u64 / (self.mistakes - 1),
            )),
            _ => None,
        }
    }

    /// Query accuracy `P_A`: the share of the observed time the subject was
    /// trusted (1 if nothing was observed).
    pub fn query_accuracy(&self) -> f64 {
        let o = self.observed.as_nanos();
        if o == 0 {
            1.0
        } else {
            1.0 - (self.mistake_time.as_nanos().min(o) as f64 / o as f64)
        }
    }
}

/// Everything a run showed ([`Simulation::report`](super::Simulation::report)).
/// Ground truth is the simulator's own log: which member (id and generation) was
/// up, crashed or paused at each instant.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// From the first member added to the report.
    pub duration: Duration,
    /// Member ids in the run.
    pub members: usize,
    /// Hours of member up time (every generation, paused time included).
    pub member_hours: f64,
    /// Per member id, in id order.
    pub load: Vec<MemberLoad>,
    /// Datagrams emitted.
    pub datagrams: u64,
    /// Bytes emitted.
    pub bytes: u64,
    /// Datagrams handled by a member.
    pub delivered: u64,
    /// Datagrams the loss model dropped.
    pub lost: u64,
    /// Datagrams dropped by a cut or a partition.
    pub blocked: u64,
    /// Datagrams that reached a crashed member or an unknown id.
    pub undeliverable: u64,
    /// Datagrams a member refused as malformed.
    pub decode_errors: u64,
    /// Every crash, in time order.
    pub crashes: Vec<CrashReport>,
    /// Time to the first conviction, over the crashes.
    pub detection_first: DetectionStats,
    /// Time to the conviction by every survivor, over the crashes.
    pub detection_all: DetectionStats,
    /// Dead verdicts about members that were up.
    pub false_dead: Vec<FalseVerdict>,
    /// Moves of a member that was up from Alive to Suspect or Dead.
    pub false_suspicions: u64,
    /// Observer pairs with a mistake or a detection, ordered by (observer,
    /// subject).
    pub pairs: Vec<PairMetrics>,
    /// Every ordered pair of members summed: observed time, mistakes, mistake
    /// time (`observer` and `subject` are 0, `detection` is empty).
    pub overall: PairMetrics,
}

impl Report {
    /// Datagrams emitted per member per second.
    pub fn datagrams_per_member_per_second(&self) -> f64 {
        per_second(self.datagrams as f64, self.duration) / self.members.max(1) as f64
    }

    /// Bytes emitted per member per second.
    pub fn bytes_per_member_per_second(&self) -> f64 {
        per_second(self.bytes as f64, self.duration) / self.members.max(1) as f64
    }

    /// The member that sent and handled the most datagrams (a central monitor
    /// shows here).
    pub fn busiest(&self) -> Option<&MemberLoad> {
        self.load
            .iter()
            .max_by_key(|l| (l.sent + l.received, u64::MAX - l.id))
    }

    /// False Dead verdicts per member-hour of up time.
    pub fn false_dead_per_member_hour(&self) -> f64 {
        if self.member_hours > 0.0 {
            self.false_dead.len() as f64 / self.member_hours
        } else {
            0.0
        }
    }
}

impl fmt::Display for Report {
    /// A few lines: load, detection, false verdicts, accuracy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| format!("{:.0}", d.as_secs_f64() * 1e3))
        };
        writeln!(
            f,
            "{} members, {:.1} s: {:.2} datagrams and {:.0} bytes per member per second",
            self.members,
            self.duration.as_secs_f64(),
            self.datagrams_per_member_per_second(),
            self.bytes_per_member_per_second()
        )?;
        if let Some(b) = self.busiest() {
            writeln!(
                f,
                "busiest: member {} at {:.1} datagrams per second",
                b.id,
                b.datagrams_per_second(self.duration)
            )?;
        }
        writeln!(
            f,
            "crashes {}: first conviction p50/p99/max {}/{}/{} ms, all survivors {}/{}/{} ms ({} not by all)",
            self.crashes.len(),
            ms(self.detection_first.p50),
            ms(self.detection_first.p99),
            ms(self.detection_first.max),
            ms(self.detection_all.p50),
            ms(self.detection_all.p99),
            ms(self.detection_all.max),
            self.detection_all.undetected
        )?;
        write!(
            f,
            "false Dead {} ({:.3} per member-hour), false suspicions {}, P_A {:.6}",
            self.false_dead.len(),
            self.false_dead_per_member_hour(),
            self.false_suspicions,
            self.overall.query_accuracy()
        )
    }
}

/// One life of a member: a generation between its start and its crash.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Life {
    pub(crate) start: Timestamp,
    pub(crate) end: Option<Timestamp>,
}

struct CrashRec {
    slot: u32,
    member: Member<u64>,
    at: Timestamp,
    /// Observer slot -> its last S-transition about the crashed member.
    suspect: BTreeMap<u32, Timestamp>,
    /// Observer slot -> its first Dead verdict about the crashed member.
    dead: BTreeMap<u32, Timestamp>,
}

#[derive(Default)]
struct Pair {
    generation: u64,
    verdict: Option<NodeState>,
    since: Option<Timestamp>,
    mistakes: u64,
    mistake_ns: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// The ground truth and the verdicts, folded as the run goes (memory: one entry
/// per observer pair that ever left Alive, not per pair).
#[derive(Default)]
pub(crate) struct Truth {
    /// Per slot, its lives in order.
    pub(crate) lives: Vec<Vec<Life>>,
    crashes: Vec<CrashRec>,
    crash_of: HashMap<(u32, u64), usize, Det>,
    pairs: HashMap<(u32, u32), Pair, Det>,
    false_dead: Vec<FalseVerdict>,
    false_suspicions: u64,
}

impl Truth {
    pub(crate) fn add_slot(&mut self) {
        self.lives.push(Vec::new());
    }

    pub(crate) fn start(&mut self, slot: u32, at: Timestamp) {
        if let Some(l) = self.lives.get_mut(slot as usize) {
            l.push(Life {
                start: at,
                end: None,
            });
        }
    }

    /// `slot`'s member (`id`, `generation`) crashed at `at`.
    pub(crate) fn crash(&mut self, slot: u32, id: u64, generation: u64, at: Timestamp) {
        if let Some(life) = self.lives.get_mut(slot as usize).and_then(|l| l.last_mut()) {
            life.end = Some(at);
        }
        let mut rec = CrashRec {
            slot,
            member: Member::new(id, generation),
            at,
            suspect: BTreeMap::new(),
            dead: BTreeMap::new(),
        };
        for (&(o, s), p) in self.pairs.iter_mut() {
            if s == slot && p.generation == generation {
                // Mistakes about it end: the suspicion is now right.
                close(p, at);
                match p.verdict {
                    Some(NodeState::Dead) => {
                        rec.suspect.insert(o, at);
                        rec.dead.insert(o, at);
                    }
                    Some(NodeState::Suspect) => {
                        rec.suspect.insert(o, at);
                    }
                    _ => {}
                }
            }
            if o == slot {
                // The observer is gone: its view ends.
                close(p, at);
                p.verdict = None;
            }
        }
        self.crash_of.insert((slot, generation), self.crashes.len());
        self.crashes.push(rec);
    }

    /// An event from `observer` about `subject` (its slot, if known) whose
    /// member (id, generation) is `up` now.
    pub(crate) fn event(
        &mut self,
        observer: u32,
        subject: Option<u32>,
        up: bool,
        event: &ClusterEvent<u64>,
    ) {
        let Some(s) = subject else { return };
        match event {
            ClusterEvent::Changed { member, to, at, .. } => {
                let g = member.generation;
                let p = self.pairs.entry((observer, s)).or_default();
                if p.generation != g {
                    close(p, *at);
                    p.verdict = None;
                    p.generation = g;
                }
                let was_suspected = matches!(p.verdict, Some(NodeState::Suspect | NodeState::Dead));
                p.verdict = Some(*to);
                match to {
                    NodeState::Suspect | NodeState::Dead => {
                        if !was_suspected {
                            if up {
                                self.false_suspicions += 1;
                                p.mistakes += 1;
                                p.since = Some(*at);
                                p.first.get_or_insert(*at);
                                p.last = Some(*at);
                            } else if let Some(&c) = self.crash_of.get(&(s, g))
                                && let Some(rec) = self.crashes.get_mut(c)
                            {
                                rec.suspect.insert(observer, *at);
                            }
                        }
                        if *to == NodeState::Dead {
                            if up {
                                self.false_dead.push(FalseVerdict {
                                    // A slot until the report maps it to an id.
                                    observer: u64::from(observer),
                                    member: member.clone(),
                                    at: *at,
                                });
                            } else if let Some(&c) = self.crash_of.get(&(s, g))
                                && let Some(rec) = self.crashes.get_mut(c)
                            {
                                rec.dead.entry(observer).or_insert(*at);
                            }
                        }
                    }
                    NodeState::Alive => {
                        close(p, *at);
                        if let Some(&c) = self.crash_of.get(&(s, g))
                            && let Some(rec) = self.crashes.get_mut(c)
                        {
                            rec.suspect.remove(&observer);
                        }
                    }
                }
            }
            ClusterEvent::Restarted { at, .. } | ClusterEvent::Joined { at, .. } => {
                if let Some(p) = self.pairs.get_mut(&(observer, s)) {
                    close(p, *at);
                    p.verdict = None;
                }
            }
            _ => {}
        }
    }

    /// The report at `now`; `ids` maps slots to ids.
    pub(crate) fn report(
        &self,
        now: Timestamp,
        start: Timestamp,
        ids: &[u64],
        load: Vec<MemberLoad>,
        counters: Counters,
    ) -> Report {
        let id = |slot: u32| ids.get(slot as usize).copied().unwrap_or(u64::MAX);
        let end_of = |l: &Life| l.end.unwrap_or(now).max(l.start);
        let up_since = |slot: u32, at: Timestamp| {
            self.lives
                .get(slot as usize)
                .and_then(|l| l.last())
                .is_some_and(|l| l.end.is_none() && l.start <= at)
        };
        let mut crashes = Vec::with_capacity(self.crashes.len());
        for rec in &self.crashes {
            let survivors: Vec<u32> = (0..self.lives.len() as u32)
                .filter(|&o| o != rec.slot && up_since(o, rec.at))
                .collect();
            let first = rec
                .dead
                .values()
                .min()
                .map(|t| t.saturating_duration_since(rec.at));
            let convicted: Vec<Timestamp> = survivors
                .iter()
                .filter_map(|o| rec.dead.get(o).copied())
                .collect();
            // By every survivor: the last of their convictions (with no
            // survivor, the first conviction if any).
            let all = if convicted.len() < survivors.len() {
                None
            } else if survivors.is_empty() {
                first
            } else {
                convicted
                    .iter()
                    .max()
                    .map(|t| t.saturating_duration_since(rec.at))
            };
            crashes.push(CrashReport {
                member: rec.member.clone(),
                at: rec.at,
                survivors: survivors.len(),
                convicted_by: convicted.len(),
                first,
                all,
            });
        }
        // Per pair: observed time is the overlap of both members' lives.
        let overlap = |a: &[Life], b: &[Life]| -> u64 {
            let mut total = 0u64;
            for x in a {
                for y in b {
                    let s = x.start.max(y.start);
                    let e = end_of(x).min(end_of(y));
                    total = total.saturating_add(e.as_nanos().saturating_sub(s.as_nanos()));
                }
            }
            total
        };
        let mut detection: BTreeMap<(u32, u32), Vec<Duration>> = BTreeMap::new();
        for rec in &self.crashes {
            for (&o, &t) in &rec.suspect {
                detection
                    .entry((o, rec.slot))
                    .or_default()
                    .push(t.saturating_duration_since(rec.at));
            }
        }
        let mut keys: Vec<(u32, u32)> = self
            .pairs
            .iter()
            .filter(|(_, p)| p.mistakes > 0)
            .map(|(k, _)| *k)
            .chain(detection.keys().copied())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let empty = Vec::new();
        let lives = |s: u32| self.lives.get(s as usize).unwrap_or(&empty);
        let mut pairs = Vec::with_capacity(keys.len());
        let mut overall = PairMetrics::default();
        for &(o, s) in &keys {
            let mut m = PairMetrics {
                observer: id(o),
                subject: id(s),
                observed: Duration::from_nanos(overlap(lives(o), lives(s))),
                detection: detection.get(&(o, s)).cloned().unwrap_or_default(),
                ..PairMetrics::default()
            };
            if let Some(p) = self.pairs.get(&(o, s)) {
                let open = p
                    .since
                    .map_or(0, |t| now.as_nanos().saturating_sub(t.as_nanos()));
                m.mistakes = p.mistakes;
                m.mistake_time = Duration::from_nanos(p.mistake_ns.saturating_add(open));
                m.first_mistake = p.first;
                m.last_mistake = p.last;
            }
            overall.mistakes += m.mistakes;
            overall.mistake_time += m.mistake_time;
            overall.first_mistake = match (overall.first_mistake, m.first_mistake) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            overall.last_mistake = overall.last_mistake.max(m.last_mistake);
            pairs.push(m);
        }
        let n = self.lives.len();
        let mut observed = 0u128;
        for o in 0..n {
            for s in 0..n {
                if o != s {
                    observed += u128::from(overlap(&self.lives[o], &self.lives[s]));
                }
            }
        }
        overall.observed = Duration::from_nanos(observed.min(u128::from(u64::MAX)) as u64);
        let up_ns: u128 = self
            .lives
            .iter()
            .flatten()
            .map(|l| u128::from(end_of(l).as_nanos() - l.start.as_nanos()))
            .sum();
        let mut false_dead = self.false_dead.clone();
        for v in &mut false_dead {
            v.observer = id(v.observer as u32);
        }
        Report {
            duration: now.saturating_duration_since(start),
            members: n,
            member_hours: up_ns as f64 / 3.6e12,
            load,
            datagrams: counters.datagrams,
            bytes: counters.bytes,
            delivered: counters.delivered,
            lost: counters.lost,
            blocked: counters.blocked,
            undeliverable: counters.undeliverable,
            decode_errors: counters.decode_errors,
            detection_first: DetectionStats::of(crashes.iter().map(|c| c.first)),
            detection_all: DetectionStats::of(crashes.iter().map(|c| c.all)),
            crashes,
            false_dead,
            false_suspicions: self.false_suspicions,
            pairs,
            overall,
        }
    }
}

/// Ends an open mistake at `at`.
fn close(p: &mut Pair, at: Timestamp) {
    if let Some(since) = p.since.take() {
        p.mistake_ns = p
            .mistake_ns
            .saturating_add(at.as_nanos().saturating_sub(since.as_nanos()));
    }
}

/// The engine's counters, handed to the report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    pub(crate) delivered: u64,
    pub(crate) lost: u64,
    pub(crate) blocked: u64,
    pub(crate) undeliverable: u64,
    pub(crate) decode_errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(id: u64, from: NodeState, to: NodeState, at_s: u64) -> ClusterEvent<u64> {
        ClusterEvent::Changed {
            member: Member::new(id, 0),
            from,
            to,
            at: Timestamp::from_secs(at_s),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = |v: &[u64]| {
            DetectionStats::of(v.iter().map(|&x| (x > 0).then(|| Duration::from_secs(x))))
        };
        let d = s(&[3, 1, 2, 0, 4]);
        assert_eq!((d.detected, d.undetected), (4, 1));
        assert_eq!(d.p50, Some(Duration::from_secs(2)));
        assert_eq!(d.p99, Some(Duration::from_secs(4)));
        assert_eq!(d.max, Some(Duration::from_secs(4)));
        assert_eq!(d.mean, Some(Duration::from_millis(2_500)));
        let d = s(&[]);
        assert_eq!((d.p50, d.mean, d.detected), (None, None, 0));
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(s(&hundred).p99, Some(Duration::from_secs(99)));
        assert_eq!(s(&hundred).p50, Some(Duration::from_secs(50)));
    }

    /// Three members (slots 0, 1, 2 with ids 10, 11, 12): 0 wrongly suspects 1
    /// from 5 s to 7 s and again from 9 s; 1 crashes at 10 s, which ends the
    /// second mistake; 0 and 2 convict it at 14 s and 20 s.
    #[test]
    fn mistakes_and_detections_follow_the_fault_log() {
        use NodeState::*;
        let mut t = Truth::default();
        for slot in 0..3 {
            t.add_slot();
            t.start(slot, Timestamp::ZERO);
        }
        t.event(0, Some(1), true, &changed(11, Alive, Suspect, 5));
        t.event(0, Some(1), true, &changed(11, Suspect, Alive, 7));
        t.event(0, Some(1), true, &changed(11, Alive, Suspect, 9));
        t.crash(1, 11, 0, Timestamp::from_secs(10));
        t.event(0, Some(1), false, &changed(11, Suspect, Dead, 14));
        t.event(2, Some(1), false, &changed(11, Alive, Suspect, 12));
        t.event(2, Some(1), false, &changed(11, Suspect, Dead, 20));
        // A false Dead about a live member.
        t.event(2, Some(0), true, &changed(10, Alive, Dead, 21));
        let r = t.report(
            Timestamp::from_secs(30),
            Timestamp::ZERO,
            &[10, 11, 12],
            Vec::new(),
            Counters::default(),
        );
        assert_eq!(r.false_suspicions, 3);
        assert_eq!(r.false_dead.len(), 1);
        assert_eq!(r.false_dead[0].observer, 12);
        let c = &r.crashes[0];
        assert_eq!((c.survivors, c.convicted_by), (2, 2));
        assert_eq!(c.first, Some(Duration::from_secs(4)));
        assert_eq!(c.all, Some(Duration::from_secs(10)));
        let p01 = r
            .pairs
            .iter()
            .find(|p| (p.observer, p.subject) == (10, 11))
            .unwrap();
        assert_eq!(p01.mistakes, 2);
        // 2 s, then 1 s until the crash made the suspicion right.
        assert_eq!(p01.mistake_time, Duration::from_secs(3));
        // Suspected at 9 s, before the crash at 10 s: detected at once.
        assert_eq!(p01.detection, vec![Duration::ZERO]);
        assert_eq!(p01.observed, Duration::from_secs(10));
        assert_eq!(p01.mistake_recurrence(), Some(Duration::from_secs(4)));
        assert!((p01.query_accuracy() - 0.7).abs() < 1e-12);
        let p21 = r
            .pairs
            .iter()
            .find(|p| (p.observer, p.subject) == (12, 11))
            .unwrap();
        assert_eq!(
            (p21.mistakes, p21.detection.clone()),
            (0, vec![Duration::from_secs(2)])
        );
        // The open mistake of 12 about 10 runs to the report.
        let p20 = r
            .pairs
            .iter()
            .find(|p| (p.observer, p.subject) == (12, 10))
            .unwrap();
        assert_eq!(p20.mistake_time, Duration::from_secs(9));
        assert_eq!(r.overall.mistakes, 3);
        // Pairs: 0-1 and 1-2 both ways 10 s, 0-2 both ways 30 s.
        assert_eq!(r.overall.observed, Duration::from_secs(100));
        assert!((r.member_hours - 70.0 / 3600.0).abs() < 1e-12);
    }
}
