//! [`CentralMember`]: members heartbeat one monitor, which judges them and
//! publishes its verdicts in its acks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::config::CentralConfig;
use super::judge::{Judge, Rules, min_opt, period_ns};
use super::msg::{self, COUNT_LEN, Message, Topology};
use crate::cluster::event::{ClusterEvent, ClusterMember, Datagram};
use crate::cluster::id::{Member, MemberId};
use crate::cluster::wire::{DecodeError, varint_len};
use crate::detectors::FailureDetector;
use crate::detectors::fixed::{FixedTimeout, FixedTimeoutConfig};
use crate::error::ConfigError;
use crate::registry::{NodeInfo, NodeState};
use crate::time::Timestamp;

/// The default monitor's detector: suspected after this many missed
/// heartbeat intervals (Kubernetes' grace period is 5 lease renewals).
pub const DEFAULT_MISSED_HEARTBEATS: f64 = 5.0;

/// The monitor's state.
struct Monitor<I: MemberId, D: FailureDetector> {
    judge: Judge<I, D>,
    /// Per member, where the Alive part of its next ack starts.
    cursors: BTreeMap<I, I>,
    /// Per member, where the Suspect and Dead part of its next ack starts
    /// (more flagged members than an ack holds are sent in turn).
    flagged_cursors: BTreeMap<I, I>,
}

/// A monitored member's state: the monitor's verdicts as its acks said.
struct Monitored<I> {
    monitor: I,
    seq: u64,
    /// The sequence number of the newest heartbeat acked.
    acked: u64,
    next_beat: Option<Timestamp>,
    last_ack: Option<Timestamp>,
    /// Whether it has heard an ack within the view timeout.
    connected: bool,
    /// Whether it said it was cut off from the monitor (and not yet back).
    isolated: bool,
    view: BTreeMap<I, Seen>,
    removals: BTreeSet<(Timestamp, I)>,
    quarantine: BTreeMap<I, (u64, Timestamp)>,
    quarantine_queue: BTreeSet<(Timestamp, I)>,
    ignored: u64,
}

/// A verdict a monitored member holds.
#[derive(Clone, Copy, Debug)]
struct Seen {
    generation: u64,
    state: NodeState,
    remove_at: Option<Timestamp>,
}

enum Role<I: MemberId, D: FailureDetector> {
    Monitor(Box<Monitor<I, D>>),
    Monitored(Box<Monitored<I>>),
}

/// A member of a centrally monitored cluster, as ZooKeeper sessions and
/// Kubernetes node leases are: either **the monitor** (built with
/// [`monitor`](Self::monitor)), which judges every member from its heartbeats
/// with its own [`FailureDetector`] `D` through a
/// [`Registry`](crate::Registry), evaluating verdicts only at multiples of the
/// [`check_period`](CentralConfig::check_period), and acks each heartbeat with
/// its verdicts; or **a monitored member** (built with
/// [`member`](Self::member)), which heartbeats the monitor every
/// [`heartbeat_interval`](CentralConfig::heartbeat_interval) and holds the
/// verdicts the acks carry.
///
/// Both roles have the same type, so one driver or simulator runs them all.
/// See the [module documentation](super) for the rules and the costs: 2 (N -
/// 1) datagrams per interval, all through the monitor.
pub struct CentralMember<I: MemberId, D: FailureDetector = FixedTimeout> {
    config: CentralConfig,
    me: Member<I>,
    /// The `at` of the last event handed out (events never go back in time).
    handed_at: Timestamp,
    role: Role<I, D>,
    now: Timestamp,
    out: VecDeque<Datagram<I>>,
    /// A monitored member's events (the monitor's are the judge's).
    events: VecDeque<ClusterEvent<I>>,
}

impl<I: MemberId, D: FailureDetector> std::fmt::Debug for CentralMember<I, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralMember")
            .field("me", &self.me)
            .field("monitor", &matches!(self.role, Role::Monitor(_)))
            .finish_non_exhaustive()
    }
}

impl<I: MemberId> CentralMember<I, FixedTimeout> {
    /// The monitor, judging members with a fixed timeout of
    /// [`DEFAULT_MISSED_HEARTBEATS`] heartbeat intervals.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range.
    pub fn monitor(me: Member<I>, config: CentralConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let fd = FixedTimeout::new(
            FixedTimeoutConfig::new()
                .with_interval(config.heartbeat_interval)
                .with_missed_heartbeats(DEFAULT_MISSED_HEARTBEATS),
        )?;
        Self::monitor_with_detector(me, config, fd)
    }
}

impl<I: MemberId, D> CentralMember<I, D>
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    /// The monitor, judging each member with a clone of `detector` (reset
    /// first).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range, or
    /// `mtu` if an ack of one verdict cannot fit.
    pub fn monitor_with_detector(
        me: Member<I>,
        config: CentralConfig,
        detector: D,
    ) -> Result<Self, ConfigError> {
        Self::check_mtu(&me, &config)?;
        let rules = Rules {
            confirmation: config.confirmation,
            removal_grace: config.removal_grace,
            quarantine: config.quarantine,
            max_members: config.max_members,
            guard: config.guard,
            interval: config.check_period,
            check_period: Some(period_ns(config.check_period)),
        };
        Ok(CentralMember {
            role: Role::Monitor(Box::new(Monitor {
                judge: Judge::new(rules, detector)?,
                cursors: BTreeMap::new(),
                flagged_cursors: BTreeMap::new(),
            })),
            config,
            me,
            handed_at: Timestamp::ZERO,
            now: Timestamp::ZERO,
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }
}

impl<I: MemberId, D: FailureDetector + Send> CentralMember<I, D> {
    /// A member monitored by `monitor` (an id; its generation is learned
    /// from its acks).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range, or
    /// `mtu` if an ack of one verdict cannot fit.
    pub fn member(me: Member<I>, monitor: I, config: CentralConfig) -> Result<Self, ConfigError> {
        Self::check_mtu(&me, &config)?;
        Ok(CentralMember {
            role: Role::Monitored(Box::new(Monitored {
                monitor,
                seq: 0,
                acked: 0,
                next_beat: None,
                last_ack: None,
                connected: false,
                isolated: false,
                view: BTreeMap::new(),
                removals: BTreeSet::new(),
                quarantine: BTreeMap::new(),
                quarantine_queue: BTreeSet::new(),
                ignored: 0,
            })),
            config,
            me,
            handed_at: Timestamp::ZERO,
            now: Timestamp::ZERO,
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    fn check_mtu(me: &Member<I>, config: &CentralConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let biggest = Member::new(me.id.clone(), u64::MAX);
        if msg::prefix_len(&biggest) + 10 + COUNT_LEN + 1 + biggest.encoded_len() > config.mtu {
            return Err(ConfigError::OutOfRange {
                field: "mtu",
                allowed: "room for an ack of one verdict (the id is too long)",
            });
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &CentralConfig {
        &self.config
    }

    /// Whether this member is the monitor.
    pub fn is_monitor(&self) -> bool {
        matches!(self.role, Role::Monitor(_))
    }

    /// The monitor's id (this member's own if it is the monitor).
    pub fn monitor_id(&self) -> &I {
        match &self.role {
            Role::Monitor(_) => &self.me.id,
            Role::Monitored(m) => &m.monitor,
        }
    }

    /// A monitored member: whether an ack came within the view timeout (the
    /// monitor: always true).
    pub fn is_connected(&self) -> bool {
        match &self.role {
            Role::Monitor(_) => true,
            Role::Monitored(m) => m.connected,
        }
    }

    /// Members (or verdicts) ignored because
    /// [`max_members`](CentralConfig::max_members) were tracked.
    pub fn ignored(&self) -> u64 {
        match &self.role {
            Role::Monitor(m) => m.judge.ignored,
            Role::Monitored(m) => m.ignored,
        }
    }

    /// The monitor: what its detector of `id` holds at `now` (`None` on a
    /// monitored member).
    pub fn detector_info(&self, id: &I, now: Timestamp) -> Option<NodeInfo<I>> {
        match &self.role {
            Role::Monitor(m) => m.judge.info(id, now),
            Role::Monitored(_) => None,
        }
    }

    fn begin(&mut self, now: Timestamp) -> Timestamp {
        let now = match &mut self.role {
            Role::Monitor(m) => m.judge.begin(now),
            Role::Monitored(_) => now.max(self.now),
        };
        self.now = now;
        now
    }

    fn end(&mut self, now: Timestamp) {
        match &mut self.role {
            Role::Monitor(m) => m.judge.end(now, None),
            Role::Monitored(m) => {
                let interval = self.config.heartbeat_interval;
                if m.next_beat.is_some_and(|b| b <= now) {
                    m.seq += 1;
                    let mut bytes = Vec::with_capacity(24);
                    msg::put_heartbeat(&mut bytes, true, &self.me, m.seq);
                    self.out.push_back(Datagram {
                        to: m.monitor.clone(),
                        bytes,
                    });
                    let mut next = m.next_beat.unwrap_or(now).saturating_add(interval);
                    if next <= now {
                        next = now.saturating_add(interval);
                    }
                    m.next_beat = Some(next);
                }
                if m.connected
                    && m.last_ack
                        .is_some_and(|a| a.saturating_add(self.config.view_timeout) <= now)
                {
                    m.connected = false;
                    m.isolated = true;
                    self.events.push_back(ClusterEvent::Isolated {
                        suspected: 1,
                        peers: 1,
                        at: now,
                    });
                    let view = std::mem::take(&mut m.view);
                    m.removals.clear();
                    for (id, seen) in view {
                        self.events.push_back(ClusterEvent::Removed {
                            member: Member::new(id, seen.generation),
                            at: now,
                        });
                    }
                }
                while let Some((at, _)) = m.removals.first() {
                    if *at > now {
                        break;
                    }
                    if let Some((at, id)) = m.removals.pop_first()
                        && let Some(seen) = m.view.remove(&id)
                    {
                        self.events.push_back(ClusterEvent::Removed {
                            member: Member::new(id.clone(), seen.generation),
                            at,
                        });
                        m.quarantine_add(id, seen.generation, at, &self.config);
                    }
                }
                while let Some((at, _)) = m.quarantine_queue.first() {
                    if *at > now {
                        break;
                    }
                    if let Some((at, id)) = m.quarantine_queue.pop_first()
                        && m.quarantine.get(&id).is_some_and(|q| q.1 == at)
                    {
                        m.quarantine.remove(&id);
                    }
                }
            }
        }
    }

    /// The monitor's ack to `to`: its Suspect and Dead verdicts first (from
    /// `to`'s flagged cursor, in turn), then Alive ones from `to`'s cursor,
    /// within the MTU and the entry bound.
    fn ack(&mut self, to: &I, seq: u64) {
        let Role::Monitor(m) = &mut self.role else {
            return;
        };
        let mut room = self.config.mtu - msg::prefix_len(&self.me) - varint_len(seq) - COUNT_LEN;
        let max = self.config.max_ack_entries;
        let mut verdicts: Vec<(&I, u64, NodeState)> = Vec::new();
        // Flagged members from `to`'s flagged cursor, in turn: with more of
        // them than an ack holds, every one still reaches every member.
        let flagged_start = m.flagged_cursors.get(to).cloned();
        let flagged: Box<dyn Iterator<Item = &I>> = match &flagged_start {
            Some(c) => Box::new(
                m.judge
                    .flagged
                    .range(c.clone()..)
                    .chain(m.judge.flagged.range(..c.clone())),
            ),
            None => Box::new(m.judge.flagged.iter()),
        };
        let mut next_flagged = None;
        for id in flagged {
            if let Some(k) = m.judge.members.get(id) {
                let len = msg::verdict_len(id, k.generation);
                if verdicts.len() >= max || len > room {
                    next_flagged = Some(id.clone());
                    break;
                }
                room -= len;
                verdicts.push((id, k.generation, k.state));
            }
        }
        let start = m.cursors.get(to).cloned();
        let iter: Box<dyn Iterator<Item = _>> = match &start {
            Some(c) => Box::new(
                m.judge
                    .members
                    .range(c.clone()..)
                    .chain(m.judge.members.range(..c.clone())),
            ),
            None => Box::new(m.judge.members.iter()),
        };
        let mut next = None;
        for (id, k) in iter {
            if k.state != NodeState::Alive || id == to {
                continue;
            }
            let len = msg::verdict_len(id, k.generation);
            if verdicts.len() >= max || len > room {
                next = Some(id.clone());
                break;
            }
            room -= len;
            verdicts.push((id, k.generation, k.state));
        }
        let mut bytes = Vec::with_capacity(64);
        msg::put_ack(&mut bytes, &self.me, seq, &verdicts);
        drop(verdicts);
        if m.cursors.len() > 2 * self.config.max_members {
            m.cursors.clear();
        }
        if m.flagged_cursors.len() > 2 * self.config.max_members {
            m.flagged_cursors.clear();
        }
        match next_flagged {
            Some(c) => {
                m.flagged_cursors.insert(to.clone(), c);
            }
            None => {
                m.flagged_cursors.remove(to);
            }
        }
        match next {
            Some(c) => {
                m.cursors.insert(to.clone(), c);
            }
            None => {
                m.cursors.remove(to);
            }
        }
        self.out.push_back(Datagram {
            to: to.clone(),
            bytes,
        });
    }
}

impl<I: MemberId> Monitored<I> {
    fn quarantine_add(&mut self, id: I, generation: u64, at: Timestamp, config: &CentralConfig) {
        if config.quarantine.is_zero() {
            return;
        }
        while self.quarantine.len() >= config.max_members {
            let Some((t, old)) = self.quarantine_queue.pop_first() else {
                break;
            };
            if self.quarantine.get(&old).is_some_and(|q| q.1 == t) {
                self.quarantine.remove(&old);
            }
        }
        let until = at.saturating_add(config.quarantine);
        if let Some((_, old)) = self.quarantine.insert(id.clone(), (generation, until)) {
            self.quarantine_queue.remove(&(old, id.clone()));
        }
        self.quarantine_queue.insert((until, id));
    }

    /// Applies one verdict of the monitor.
    fn apply(
        &mut self,
        member: &Member<I>,
        state: NodeState,
        now: Timestamp,
        config: &CentralConfig,
        events: &mut VecDeque<ClusterEvent<I>>,
    ) {
        let id = &member.id;
        let old = self.view.get(id).copied();
        let mut from = NodeState::Alive;
        match old {
            None => {
                if let Some(&(generation, until)) = self.quarantine.get(id) {
                    if member.generation <= generation && now < until {
                        return;
                    }
                    self.quarantine.remove(id);
                    self.quarantine_queue.remove(&(until, id.clone()));
                }
                if self.view.len() >= config.max_members {
                    self.ignored += 1;
                    return;
                }
                events.push_back(ClusterEvent::Joined {
                    member: member.clone(),
                    at: now,
                });
            }
            Some(seen) if member.generation < seen.generation => return,
            Some(seen) if member.generation > seen.generation => {
                if let Some(r) = seen.remove_at {
                    self.removals.remove(&(r, id.clone()));
                }
                events.push_back(ClusterEvent::Restarted {
                    member: member.clone(),
                    previous_generation: seen.generation,
                    at: now,
                });
            }
            Some(seen) => from = seen.state,
        }
        let mut remove_at = old
            .filter(|s| s.generation == member.generation)
            .and_then(|s| s.remove_at);
        if from != state {
            if let Some(r) = remove_at.take() {
                self.removals.remove(&(r, id.clone()));
            }
            if state == NodeState::Dead {
                let r = now.saturating_add(config.removal_grace);
                if r < Timestamp::MAX {
                    self.removals.insert((r, id.clone()));
                }
                remove_at = Some(r);
            }
            events.push_back(ClusterEvent::Changed {
                member: member.clone(),
                from,
                to: state,
                at: now,
            });
        }
        self.view.insert(
            id.clone(),
            Seen {
                generation: member.generation,
                state,
                remove_at,
            },
        );
    }
}

impl<I: MemberId, D: FailureDetector + Send> ClusterMember<I> for CentralMember<I, D> {
    fn me(&self) -> &Member<I> {
        &self.me
    }

    /// The monitor ignores `seeds`; a monitored member ignores them too (its
    /// monitor was given at construction) and sends its first heartbeat now.
    fn join(&mut self, _seeds: &[I], now: Timestamp) {
        let now = self.begin(now);
        if let Role::Monitored(m) = &mut self.role
            && m.next_beat.is_none()
        {
            m.next_beat = Some(now);
        }
        self.end(now);
    }

    fn handle_datagram(
        &mut self,
        from: &I,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        let message = msg::decode::<I>(
            bytes,
            self.config.mtu,
            from,
            Topology::Central,
            self.config.max_members.min(self.config.max_ack_entries),
        )?;
        let now = self.begin(now);
        match (&mut self.role, message) {
            (Role::Monitor(m), Message::Heartbeat { sender, seq }) => {
                let known = sender.id != self.me.id && m.judge.heard(&sender, seq, now);
                if known && self.config.acknowledge {
                    self.ack(&sender.id, seq);
                }
            }
            // Only an ack of a heartbeat sent and newer than the last acked
            // one counts: a stale (reordered, replayed) ack would move the
            // view back, and a forged sequence number cannot block later acks.
            (
                Role::Monitored(m),
                Message::Ack {
                    sender,
                    seq,
                    verdicts,
                },
            ) if sender.id == m.monitor && seq > m.acked && seq <= m.seq => {
                m.acked = seq;
                m.last_ack = Some(now);
                m.connected = true;
                if m.isolated {
                    m.isolated = false;
                    self.events.push_back(ClusterEvent::Reconnected { at: now });
                }
                m.apply(
                    &sender,
                    NodeState::Alive,
                    now,
                    &self.config,
                    &mut self.events,
                );
                for (member, state) in &verdicts {
                    if member.id != self.me.id && member.id != m.monitor {
                        m.apply(member, *state, now, &self.config, &mut self.events);
                    }
                }
            }
            // Well-formed but not for this role (an ack to the monitor, a
            // heartbeat to a member, an ack from another than the monitor):
            // ignored.
            _ => {}
        }
        self.end(now);
        Ok(())
    }

    fn tick(&mut self, now: Timestamp) {
        let now = self.begin(now);
        self.end(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        match &self.role {
            Role::Monitor(m) => m.judge.next_deadline(),
            Role::Monitored(m) => {
                let mut d = m.next_beat;
                if m.connected {
                    d = min_opt(
                        d,
                        m.last_ack
                            .map(|a| a.saturating_add(self.config.view_timeout)),
                    );
                }
                d = min_opt(d, m.removals.first().map(|(t, _)| *t));
                min_opt(d, m.quarantine_queue.first().map(|(t, _)| *t))
            }
        }
    }

    fn poll_datagram(&mut self) -> Option<Datagram<I>> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ClusterEvent<I>> {
        let event = match &mut self.role {
            Role::Monitor(m) => m.judge.events.pop_front(),
            Role::Monitored(_) => self.events.pop_front(),
        };
        crate::cluster::event::handed_out(&self.me, event, &mut self.handed_at)
    }

    fn state_of(&self, id: &I) -> Option<NodeState> {
        match &self.role {
            Role::Monitor(m) => m.judge.members.get(id).map(|k| k.state),
            Role::Monitored(m) => m.view.get(id).map(|s| s.state),
        }
    }

    fn members(&self) -> Vec<(Member<I>, NodeState)> {
        match &self.role {
            Role::Monitor(m) => m
                .judge
                .members
                .iter()
                .map(|(id, k)| (Member::new(id.clone(), k.generation), k.state))
                .collect(),
            Role::Monitored(m) => m
                .view
                .iter()
                .map(|(id, s)| (Member::new(id.clone(), s.generation), s.state))
                .collect(),
        }
    }
}
