//! [`AllToAllMember`]: every member heartbeats every other member.

use std::collections::VecDeque;

use super::config::{AllToAllConfig, MAX_JOIN_ANSWERS_PER_INTERVAL};
use super::judge::{Judge, Rules, min_opt};
use super::msg::{self, COUNT_LEN, Message, Topology};
use crate::cluster::MAX_SEEDS;
use crate::cluster::event::{ClusterEvent, ClusterMember, Datagram};
use crate::cluster::id::{Member, MemberId};
use crate::cluster::wire::DecodeError;
use crate::detectors::FailureDetector;
use crate::detectors::phi::{PhiAccrual, PhiAccrualConfig};
use crate::error::ConfigError;
use crate::registry::{NodeInfo, NodeState};
use crate::time::Timestamp;

/// A member of an all-to-all heartbeat cluster, the baseline of issue 9 (as
/// Akka/Pekko clusters without observers, and most hand-rolled clusters, do):
/// every [`heartbeat_interval`](AllToAllConfig::heartbeat_interval) it sends a
/// small heartbeat datagram to every other member it knows (Alive or
/// Suspect), and judges each of them with its own [`FailureDetector`] `D`
/// (Akka's [`PhiAccrual`] by default) through a [`Registry`](crate::Registry):
/// Suspect when the detector's deadline passes, Dead after the
/// [`confirmation`](AllToAllConfig::confirmation), removed after the
/// [`removal_grace`](AllToAllConfig::removal_grace).
///
/// See the [module documentation](super) for the rules, the wire format and
/// the costs: N (N - 1) datagrams per interval for the cluster.
pub struct AllToAllMember<I: MemberId, D: FailureDetector = PhiAccrual> {
    config: AllToAllConfig,
    me: Member<I>,
    /// The `at` of the last event handed out (events never go back in time).
    handed_at: Timestamp,
    judge: Judge<I, D>,
    seq: u64,
    seeds: Vec<I>,
    next_beat: Option<Timestamp>,
    /// Join answers (datagrams) left in this interval.
    join_budget: usize,
    out: VecDeque<Datagram<I>>,
}

/// Every this many heartbeat rounds a member asks one known member, in
/// turn, for its member list (one small datagram, answered within the
/// answerer's join budget).
const MEMBERSHIP_REFRESH_ROUNDS: u64 = 10;

impl<I: MemberId, D: FailureDetector> std::fmt::Debug for AllToAllMember<I, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllToAllMember")
            .field("me", &self.me)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<I: MemberId> AllToAllMember<I, PhiAccrual> {
    /// A member judging the others with Akka's phi-accrual defaults (threshold
    /// 8, 1,000 samples, 100 ms minimum standard deviation, 3 s acceptable
    /// pause, first estimate 1 s), the first estimate set to the heartbeat
    /// interval.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range.
    pub fn new(me: Member<I>, config: AllToAllConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let phi = PhiAccrual::new(
            PhiAccrualConfig::new().with_first_heartbeat_estimate(config.heartbeat_interval),
        )?;
        Self::with_detector(me, config, phi)
    }
}

impl<I: MemberId, D> AllToAllMember<I, D>
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    /// A member judging each other member with a clone of `detector` (reset
    /// first).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field of `config` out of range, or
    /// `mtu` if a member list with this member's own entry does not fit.
    pub fn with_detector(
        me: Member<I>,
        config: AllToAllConfig,
        detector: D,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let biggest = Member::new(me.id.clone(), u64::MAX);
        if msg::prefix_len(&biggest) + COUNT_LEN + biggest.encoded_len() > config.mtu {
            return Err(ConfigError::OutOfRange {
                field: "mtu",
                allowed: "room for a member list of one entry (the id is too long)",
            });
        }
        let rules = Rules {
            confirmation: config.confirmation,
            removal_grace: config.removal_grace,
            quarantine: config.quarantine,
            max_members: config.max_members,
            guard: config.guard,
            interval: config.heartbeat_interval,
            check_period: None,
        };
        Ok(AllToAllMember {
            judge: Judge::new(rules, detector)?,
            config,
            me,
            handed_at: Timestamp::ZERO,
            seq: 0,
            seeds: Vec::new(),
            next_beat: None,
            join_budget: MAX_JOIN_ANSWERS_PER_INTERVAL,
            out: VecDeque::new(),
        })
    }
}

impl<I: MemberId, D: FailureDetector + Send> AllToAllMember<I, D> {
    /// The configuration.
    pub fn config(&self) -> &AllToAllConfig {
        &self.config
    }

    /// Heartbeat rounds sent so far (the sequence number of the last one).
    pub fn rounds(&self) -> u64 {
        self.seq
    }

    /// Members tracked (Alive, Suspect or Dead but not yet removed).
    pub fn tracked(&self) -> usize {
        self.judge.members.len()
    }

    /// Heartbeats or list entries ignored because
    /// [`max_members`](AllToAllConfig::max_members) members were tracked.
    pub fn ignored(&self) -> u64 {
        self.judge.ignored
    }

    /// Whether this member currently considers itself isolated.
    pub fn is_isolated(&self) -> bool {
        self.judge.isolated()
    }

    /// What this member's detector of `id` holds at `now`.
    pub fn detector_info(&self, id: &I, now: Timestamp) -> Option<NodeInfo<I>> {
        self.judge.info(id, now)
    }

    fn begin(&mut self, now: Timestamp) -> Timestamp {
        let now = self.judge.begin(now);
        if self.next_beat.is_none() {
            self.next_beat = Some(now.saturating_add(self.config.heartbeat_interval));
        }
        now
    }

    fn end(&mut self, now: Timestamp) {
        self.judge.end(now, self.next_beat);
    }

    fn round(&mut self) {
        self.seq += 1;
        self.join_budget = MAX_JOIN_ANSWERS_PER_INTERVAL;
        let mut bytes = Vec::with_capacity(24);
        msg::put_heartbeat(&mut bytes, false, &self.me, self.seq);
        for (id, k) in &self.judge.members {
            if k.state != NodeState::Dead {
                self.out.push_back(Datagram {
                    to: id.clone(),
                    bytes: bytes.clone(),
                });
            }
        }
        // Known to nobody yet: ask the seeds again.
        if self.judge.members.is_empty() {
            self.send_joins();
        } else if self.seq.is_multiple_of(MEMBERSHIP_REFRESH_ROUNDS) {
            // Anti-entropy of membership: every few rounds ask one known
            // member, in turn, for its list. When many join at once the seed
            // answers a bounded number of joins per interval, and the first
            // joiners get short lists; heartbeats spread membership only to
            // members that already know each other one way.
            let alive = self
                .judge
                .members
                .iter()
                .filter(|(_, k)| k.state != NodeState::Dead)
                .count();
            let pick = (self.seq / MEMBERSHIP_REFRESH_ROUNDS) as usize % alive.max(1);
            let to = self
                .judge
                .members
                .iter()
                .filter(|(_, k)| k.state != NodeState::Dead)
                .nth(pick)
                .map(|(id, _)| id.clone());
            if let Some(to) = to {
                let mut bytes = Vec::new();
                msg::put_join(&mut bytes, &self.me);
                self.out.push_back(Datagram { to, bytes });
            }
        }
    }

    fn send_joins(&mut self) {
        let mut bytes = Vec::new();
        msg::put_join(&mut bytes, &self.me);
        for s in &self.seeds {
            self.out.push_back(Datagram {
                to: s.clone(),
                bytes: bytes.clone(),
            });
        }
    }

    /// Answers a join with this member's view (itself first), in as many
    /// datagrams as the MTU needs, within the interval's budget.
    fn answer_join(&mut self, to: &I) {
        let prefix = msg::prefix_len(&self.me) + COUNT_LEN;
        let mut entries: Vec<(&I, u64)> = Vec::new();
        let mut room = self.config.mtu - prefix;
        let mut batches: Vec<Vec<u8>> = Vec::new();
        let known = self
            .judge
            .members
            .iter()
            .filter(|(id, k)| k.state != NodeState::Dead && *id != to)
            .map(|(id, k)| (id, k.generation));
        let full = self.config.mtu - prefix;
        for (id, generation) in known {
            let len = msg::member_len(id, generation);
            if len > full {
                continue; // an id longer than a datagram's room: never sent
            }
            if len > room {
                let mut out = Vec::with_capacity(self.config.mtu);
                msg::put_members(&mut out, &self.me, entries.drain(..));
                batches.push(out);
                room = full;
            }
            room -= len;
            entries.push((id, generation));
        }
        let mut out = Vec::with_capacity(self.config.mtu.min(prefix + 8 * entries.len()));
        msg::put_members(&mut out, &self.me, entries.drain(..));
        batches.push(out);
        for bytes in batches {
            if self.join_budget == 0 {
                break;
            }
            self.join_budget -= 1;
            self.out.push_back(Datagram {
                to: to.clone(),
                bytes,
            });
        }
    }
}

impl<I: MemberId, D: FailureDetector + Send> ClusterMember<I> for AllToAllMember<I, D> {
    fn me(&self) -> &Member<I> {
        &self.me
    }

    fn join(&mut self, seeds: &[I], now: Timestamp) {
        let now = self.begin(now);
        for s in seeds.iter().filter(|s| **s != self.me.id).take(MAX_SEEDS) {
            if !self.seeds.contains(s) && self.seeds.len() < MAX_SEEDS {
                self.seeds.push(s.clone());
            }
        }
        self.send_joins();
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
            Topology::AllToAll,
            self.config.max_members,
        )?;
        let now = self.begin(now);
        match message {
            Message::Heartbeat { sender, seq } => {
                if sender.id != self.me.id {
                    self.judge.heard(&sender, seq, now);
                }
            }
            Message::Join { sender } => {
                if sender.id != self.me.id {
                    // A join is first-hand news, not a heartbeat: an arrival
                    // only for a member not known yet.
                    self.judge.learn(&sender, now);
                    self.answer_join(&sender.id);
                }
            }
            Message::Members { sender, members } => {
                if sender.id != self.me.id {
                    self.judge.learn(&sender, now);
                }
                for m in members.iter().filter(|m| m.id != self.me.id) {
                    self.judge.learn(m, now);
                }
            }
            Message::Ack { .. } => {}
        }
        self.end(now);
        Ok(())
    }

    fn tick(&mut self, now: Timestamp) {
        let now = self.begin(now);
        if let Some(next) = self.next_beat
            && next <= now
        {
            self.round();
            let mut next = next.saturating_add(self.config.heartbeat_interval);
            if next <= now {
                next = now.saturating_add(self.config.heartbeat_interval);
            }
            self.next_beat = Some(next);
        }
        self.end(now);
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        min_opt(self.next_beat, self.judge.next_deadline())
    }

    fn poll_datagram(&mut self) -> Option<Datagram<I>> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<ClusterEvent<I>> {
        let event = self.judge.events.pop_front();
        crate::cluster::event::handed_out(&self.me, event, &mut self.handed_at)
    }

    fn state_of(&self, id: &I) -> Option<NodeState> {
        self.judge.members.get(id).map(|k| k.state)
    }

    fn members(&self) -> Vec<(Member<I>, NodeState)> {
        self.judge
            .members
            .iter()
            .map(|(id, k)| (Member::new(id.clone(), k.generation), k.state))
            .collect()
    }
}
