//! [`Judge`]: what both heartbeat topologies share on the judging side: a
//! registry of detectors, the published verdicts, held convictions (the local
//! guard), tombstones and the quarantine of removed ids.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::Duration;

use crate::cluster::event::ClusterEvent;
use crate::cluster::guard::{LocalGuard, LocalGuardConfig};
use crate::cluster::id::{Member, MemberId};
use crate::cluster::ledger::{Ledger, Verdict};
use crate::cluster::quarantine::Quarantine;
use crate::detectors::FailureDetector;
use crate::error::ConfigError;
use crate::registry::{Confirmation, Event, EventReceiver, NodeState, Registry, RegistryConfig};
use crate::time::{Timestamp, duration_nanos};

/// The registry's hasher: SipHash with fixed keys, so that the order of events
/// depends on the inputs only.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// What the judge knows of a member.
#[derive(Clone, Debug)]
pub(crate) struct Known {
    pub(crate) generation: u64,
    pub(crate) state: NodeState,
    /// The highest heartbeat sequence number heard in this generation.
    seq: u64,
    /// The instant of its last published event (never decreasing).
    last_at: Timestamp,
    /// A conviction was deferred ([`ClusterEvent::Deferred`] sent).
    deferred: bool,
    /// When it is removed (published Dead only).
    remove_at: Option<Timestamp>,
}

/// The lifecycle settings the judge applies.
impl Known {
    fn verdict(&mut self) -> Verdict<'_> {
        Verdict {
            state: &mut self.state,
            last_at: &mut self.last_at,
            deferred: &mut self.deferred,
            remove_at: &mut self.remove_at,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) confirmation: Duration,
    pub(crate) removal_grace: Duration,
    pub(crate) quarantine: Duration,
    pub(crate) max_members: usize,
    pub(crate) guard: LocalGuardConfig,
    /// The guard's interval (the member's own loop period).
    pub(crate) interval: Duration,
    /// Verdicts only at multiples of this (nanoseconds); `None`: at once.
    pub(crate) check_period: Option<u64>,
}

/// Judges members from their heartbeats.
pub(crate) struct Judge<I: MemberId, D: FailureDetector> {
    rules: Rules,
    registry: Registry<I, D, Fixed>,
    registry_events: EventReceiver<I>,
    pub(crate) members: BTreeMap<I, Known>,
    quarantine: Quarantine<I>,
    /// Published verdicts: counts, tombstones, deferred convictions.
    ledger: Ledger<I>,
    /// Members published Suspect or Dead, in id order.
    pub(crate) flagged: BTreeSet<I>,
    pub(crate) ignored: u64,
    guard: LocalGuard,
    now: Timestamp,
    next_check: Option<Timestamp>,
    pub(crate) events: VecDeque<ClusterEvent<I>>,
}

impl<I: MemberId, D> Judge<I, D>
where
    D: FailureDetector + Clone + Send + Sync + 'static,
{
    /// A judge whose members each get a clone of `detector` (reset first).
    pub(crate) fn new(rules: Rules, mut detector: D) -> Result<Self, ConfigError> {
        detector.reset();
        let rc = RegistryConfig::new()
            .with_accept_unknown(false)
            .with_accept_rejoin(true)
            .with_confirmation(Confirmation::After(rules.confirmation))
            .with_removal_grace(Duration::MAX)
            .with_shards(1)
            .with_max_nodes(Some(rules.max_members));
        let (registry, registry_events) =
            Registry::with_factory_and_hasher(rc, move |_: &I| detector.clone(), Fixed::default())?;
        let registry = registry.untraced();
        Ok(Judge {
            guard: LocalGuard::new(rules.guard, rules.interval),
            rules,
            registry,
            registry_events,
            members: BTreeMap::new(),
            quarantine: Quarantine::new(),
            ledger: Ledger::new(),
            flagged: BTreeSet::new(),
            ignored: 0,
            now: Timestamp::ZERO,
            next_check: None,
            events: VecDeque::new(),
        })
    }
}

impl<I: MemberId, D: FailureDetector + Send> Judge<I, D> {
    /// Takes an input at `now` through the local guard; returns the instant it
    /// takes effect at.
    pub(crate) fn begin(&mut self, now: Timestamp) -> Timestamp {
        let (now, event) = self.guard.input(now);
        if let Some(e) = event {
            self.events.push_back(e);
        }
        self.now = now;
        now
    }

    /// Finishes an input: verdicts due, held convictions, removals, the
    /// isolation rule; `own` is the member's own next deadline (for the guard).
    pub(crate) fn end(&mut self, now: Timestamp, own: Option<Timestamp>) {
        match self.rules.check_period {
            None => {
                self.registry.tick(now);
                self.drain(now);
            }
            Some(period) => {
                if self.next_check.is_none_or(|c| c <= now) {
                    self.check(now);
                    self.next_check = Some(next_multiple(now, period));
                }
                self.discard_registry_events();
            }
        }
        self.update_isolation(now);
        if !self.ledger.pending.is_empty() && self.guard.convictions_allowed(now) {
            for id in self.ledger.take_pending() {
                if let Some(k) = self.members.get_mut(&id) {
                    k.deferred = false;
                    if k.state == NodeState::Suspect {
                        self.publish(&id, NodeState::Dead, now);
                    }
                }
            }
        }
        while let Some((at, id)) = self.ledger.due_tombstone(now) {
            self.remove(&id, at, now);
        }
        self.quarantine.expire(now);
        self.update_isolation(now);
        self.guard.expect(min_opt(own, self.next_deadline()));
    }

    /// When the judge has work to do (`None`: only inputs can give it some).
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        let mut d = match self.rules.check_period {
            None => self.registry.next_deadline(),
            // Checks run while there is anyone to check.
            Some(_) if self.members.is_empty() => None,
            Some(_) => self.next_check,
        };
        d = min_opt(d, self.ledger.tombstones.first().map(|(t, _)| *t));
        d = min_opt(d, self.quarantine.next_end());
        if !self.ledger.pending.is_empty() {
            d = min_opt(d, self.guard.held_until(self.now));
        }
        d
    }

    /// A heartbeat of `sender` (first-hand news) with sequence number `seq`,
    /// received at `now`. Only a sequence number higher than any heard in the
    /// same generation is an arrival for its detector: duplicated, replayed
    /// or reordered heartbeats add no sample. Returns whether the sender is
    /// (now) known.
    pub(crate) fn heard(&mut self, sender: &Member<I>, seq: u64, now: Timestamp) -> bool {
        let id = &sender.id;
        match self.members.get(id).map(|k| k.generation) {
            None => {
                if self.quarantine.refuses(id, sender.generation, now) {
                    return false;
                }
                if self.members.len() >= self.rules.max_members {
                    self.ignored += 1;
                    return false;
                }
                self.drain(now);
                if self.registry.register(id.clone(), now).is_err() {
                    self.discard_registry_events();
                    self.ignored += 1;
                    return false;
                }
                self.discard_registry_events();
                self.members.insert(
                    id.clone(),
                    Known {
                        generation: sender.generation,
                        state: NodeState::Alive,
                        seq,
                        last_at: now,
                        deferred: false,
                        remove_at: None,
                    },
                );
                self.events.push_back(ClusterEvent::Joined {
                    member: sender.clone(),
                    at: now,
                });
                true
            }
            Some(g) if sender.generation < g => false,
            Some(g) if sender.generation > g => {
                self.restart(sender, seq, now);
                true
            }
            Some(_) => {
                let Some(k) = self.members.get_mut(id) else {
                    return false;
                };
                if seq <= k.seq {
                    return true;
                }
                k.seq = seq;
                self.drain(now);
                // A refusal (a second heartbeat at the same instant) changes
                // nothing.
                let _ = self.registry.heartbeat(id, now);
                self.drain(now);
                true
            }
        }
    }

    /// News of `member` from someone else (a seed's member list): it is added
    /// if unknown, as if it had sent a heartbeat now (its detector starts at
    /// its registration, as the registry's lifecycle says).
    pub(crate) fn learn(&mut self, member: &Member<I>, now: Timestamp) {
        if !self.members.contains_key(&member.id) {
            self.heard(member, 0, now);
        }
    }

    fn restart(&mut self, sender: &Member<I>, seq: u64, now: Timestamp) {
        let id = &sender.id;
        let Some(k) = self.members.get_mut(id) else {
            return;
        };
        let previous_generation = k.generation;
        let from = k.state;
        let tombstone = k.remove_at;
        let at = now.max(k.last_at);
        *k = Known {
            generation: sender.generation,
            state: NodeState::Alive,
            seq,
            last_at: at,
            deferred: false,
            remove_at: None,
        };
        match from {
            NodeState::Suspect => self.ledger.n_suspect -= 1,
            NodeState::Dead => self.ledger.n_dead -= 1,
            NodeState::Alive => {}
        }
        self.flagged.remove(id);
        self.ledger.pending.remove(id);
        if let Some(r) = tombstone {
            self.ledger.tombstones.remove(&(r, id.clone()));
        }
        self.drain(now);
        self.registry.remove(id, now);
        let _ = self.registry.register(id.clone(), now);
        self.discard_registry_events();
        self.events.push_back(ClusterEvent::Restarted {
            member: sender.clone(),
            previous_generation,
            at,
        });
    }

    /// Whether this member considers itself isolated.
    pub(crate) fn isolated(&self) -> bool {
        self.guard.isolated()
    }

    /// The registry's view of `id` (detector statistics) at `now`.
    pub(crate) fn info(&self, id: &I, now: Timestamp) -> Option<crate::registry::NodeInfo<I>> {
        self.registry.info(id, now)
    }

    // ----- verdicts -----

    fn update_isolation(&mut self, now: Timestamp) {
        let known = self.members.len();
        if let Some(e) = self.ledger.isolation(&mut self.guard, known, 0, now) {
            self.events.push_back(e);
        }
    }

    /// Publishes `to` for `id` through the ledger, keeping `flagged` in step.
    fn publish(&mut self, id: &I, to: NodeState, at: Timestamp) {
        let Some(k) = self.members.get_mut(id) else {
            return;
        };
        let member = Member::new(id.clone(), k.generation);
        let grace = self.rules.removal_grace;
        if self
            .ledger
            .publish(member, k.verdict(), to, at, grace, &mut self.events)
            .is_none()
        {
            return;
        }
        if to == NodeState::Alive {
            self.flagged.remove(id);
        } else {
            self.flagged.insert(id.clone());
        }
    }

    /// A member is due to be convicted at `at`: convict it, or defer it (once)
    /// while this member doubts itself.
    fn try_convict(&mut self, id: &I, at: Timestamp, now: Timestamp) {
        let Some(k) = self.members.get(id) else {
            return;
        };
        match k.state {
            NodeState::Dead => return,
            NodeState::Alive => self.publish(id, NodeState::Suspect, at),
            NodeState::Suspect => {}
        }
        self.update_isolation(now);
        if self.guard.convictions_allowed(now) {
            self.publish(id, NodeState::Dead, at);
            return;
        }
        let doubt = self.guard.doubt(now);
        if let Some(k) = self.members.get_mut(id) {
            let member = Member::new(id.clone(), k.generation);
            self.ledger
                .defer(member, k.verdict(), doubt, now, &mut self.events);
        }
    }

    /// Moves the published verdict of `id` to the registry's `target`.
    fn reconcile(&mut self, id: &I, target: NodeState, at: Timestamp, now: Timestamp) {
        let Some(state) = self.members.get(id).map(|k| k.state) else {
            return;
        };
        match (state, target) {
            (a, b) if a == b => {}
            (_, NodeState::Alive) => self.publish(id, NodeState::Alive, at),
            (NodeState::Alive, NodeState::Suspect) => self.publish(id, NodeState::Suspect, at),
            (NodeState::Dead, NodeState::Suspect) => {
                // It spoke and fell silent again between two checks.
                self.publish(id, NodeState::Alive, at);
                self.publish(id, NodeState::Suspect, at);
            }
            (_, NodeState::Dead) => self.try_convict(id, at, now),
            _ => {}
        }
    }

    /// Maps the registry's events to verdicts (verdicts at once).
    fn drain(&mut self, now: Timestamp) {
        if self.rules.check_period.is_some() {
            self.discard_registry_events();
            return;
        }
        while let Ok(event) = self.registry_events.try_recv() {
            let Event::Changed { node, to, at, .. } = event else {
                continue; // Joined and Removed follow the judge's own calls.
            };
            self.reconcile(&node, to, at, now);
        }
    }

    /// Quantized verdicts: at a check instant, every member's published verdict
    /// becomes the registry's (O(N) per check, as a node controller's sweep).
    fn check(&mut self, now: Timestamp) {
        let Some(period) = self.rules.check_period else {
            return;
        };
        let at = Timestamp::from_nanos(now.as_nanos() / period * period);
        self.registry.tick(now);
        self.discard_registry_events();
        let states: Vec<(I, NodeState)> = self
            .members
            .keys()
            .filter_map(|id| Some((id.clone(), self.registry.state(id)?)))
            .collect();
        for (id, target) in states {
            self.reconcile(&id, target, at, now);
        }
    }

    fn discard_registry_events(&mut self) {
        while self.registry_events.try_recv().is_ok() {}
    }

    fn remove(&mut self, id: &I, at: Timestamp, now: Timestamp) {
        let Some(k) = self.members.remove(id) else {
            return;
        };
        match k.state {
            NodeState::Suspect => self.ledger.n_suspect -= 1,
            NodeState::Dead => self.ledger.n_dead -= 1,
            NodeState::Alive => {}
        }
        self.flagged.remove(id);
        self.ledger.pending.remove(id);
        self.drain(now);
        self.registry.remove(id, now);
        self.discard_registry_events();
        let at = at.max(k.last_at);
        self.events.push_back(ClusterEvent::Removed {
            member: Member::new(id.clone(), k.generation),
            at,
        });
        if !self.rules.quarantine.is_zero() {
            let until = at.saturating_add(self.rules.quarantine);
            self.quarantine
                .insert(id.clone(), k.generation, until, self.rules.max_members);
        }
    }
}

/// The first multiple of `period` nanoseconds strictly after `now`.
pub(crate) fn next_multiple(now: Timestamp, period: u64) -> Timestamp {
    let period = period.max(1);
    let k = now.as_nanos() / period + 1;
    Timestamp::from_nanos(k.saturating_mul(period))
}

pub(crate) fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// `d` in nanoseconds, at least 1.
pub(crate) fn period_ns(d: Duration) -> u64 {
    duration_nanos(d).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiples_are_strictly_later() {
        assert_eq!(
            next_multiple(Timestamp::from_secs(10), 5_000_000_000),
            Timestamp::from_secs(15)
        );
        assert_eq!(
            next_multiple(Timestamp::from_secs(11), 5_000_000_000),
            Timestamp::from_secs(15)
        );
        assert_eq!(next_multiple(Timestamp::MAX, 3), Timestamp::MAX);
    }
}
