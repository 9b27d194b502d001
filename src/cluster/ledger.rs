//! The bookkeeping of published verdicts that the members judging through a
//! registry share (gossip, all-to-all, central monitor): per member its
//! published state, the instant of its last event, whether a conviction was
//! deferred and when its tombstone expires; across members the counts of
//! Suspect and Dead, the tombstones in expiry order and the deferred
//! convictions.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use super::event::{ClusterEvent, Doubt};
use super::guard::LocalGuard;
use super::id::{Member, MemberId};
use crate::registry::NodeState;
use crate::time::Timestamp;

/// One member's published verdict, borrowed from the member's own record.
pub(crate) struct Verdict<'a> {
    pub(crate) state: &'a mut NodeState,
    /// The instant of its last published event (never decreasing).
    pub(crate) last_at: &'a mut Timestamp,
    /// A conviction was deferred ([`ClusterEvent::Deferred`] sent).
    pub(crate) deferred: &'a mut bool,
    /// When it is removed (published Dead only).
    pub(crate) remove_at: &'a mut Option<Timestamp>,
}

/// The verdicts' shared state.
#[derive(Clone, Debug)]
pub(crate) struct Ledger<I> {
    /// Dead members by removal instant.
    pub(crate) tombstones: BTreeSet<(Timestamp, I)>,
    /// Convictions deferred while the member doubted itself.
    pub(crate) pending: BTreeSet<I>,
    pub(crate) n_suspect: usize,
    pub(crate) n_dead: usize,
}

impl<I: MemberId> Ledger<I> {
    pub(crate) fn new() -> Self {
        Ledger {
            tombstones: BTreeSet::new(),
            pending: BTreeSet::new(),
            n_suspect: 0,
            n_dead: 0,
        }
    }

    /// Publishes `to` for `member` (a `Changed` event), dated no earlier than
    /// its last event, keeping the counts, the tombstone (removal
    /// `removal_grace` after a conviction) and the deferred convictions in step.
    /// Returns the state it left and the instant, or `None` if it was already
    /// in `to`.
    pub(crate) fn publish(
        &mut self,
        member: Member<I>,
        v: Verdict<'_>,
        to: NodeState,
        at: Timestamp,
        removal_grace: Duration,
        events: &mut VecDeque<ClusterEvent<I>>,
    ) -> Option<(NodeState, Timestamp)> {
        let from = *v.state;
        if from == to {
            return None;
        }
        let at = at.max(*v.last_at);
        *v.last_at = at;
        *v.state = to;
        match from {
            NodeState::Suspect => self.n_suspect -= 1,
            NodeState::Dead => self.n_dead -= 1,
            NodeState::Alive => {}
        }
        if let Some(r) = v.remove_at.take() {
            self.tombstones.remove(&(r, member.id.clone()));
        }
        if *v.deferred {
            *v.deferred = false;
            self.pending.remove(&member.id);
        }
        match to {
            NodeState::Suspect => self.n_suspect += 1,
            NodeState::Dead => {
                self.n_dead += 1;
                let r = at.saturating_add(removal_grace);
                *v.remove_at = Some(r);
                if r < Timestamp::MAX {
                    self.tombstones.insert((r, member.id.clone()));
                }
            }
            NodeState::Alive => {}
        }
        events.push_back(ClusterEvent::Changed {
            member,
            from,
            to,
            at,
        });
        Some((from, at))
    }

    /// The deferred convictions, taken (in id order) to be made now that the
    /// doubt is gone.
    pub(crate) fn take_pending(&mut self) -> Vec<I> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }

    /// The next tombstone due at or before `now`, taken: (removal instant, id).
    pub(crate) fn due_tombstone(&mut self, now: Timestamp) -> Option<(Timestamp, I)> {
        match self.tombstones.first() {
            Some((at, _)) if *at <= now => self.tombstones.pop_first(),
            _ => None,
        }
    }

    /// Updates `guard`'s isolation verdict from the Suspect members among the
    /// `known` ones (Dead members do not count as peers), plus `silent` Alive
    /// members the caller counts as good as suspected; the event if it
    /// changed.
    pub(crate) fn isolation(
        &self,
        guard: &mut LocalGuard,
        known: usize,
        silent: usize,
        now: Timestamp,
    ) -> Option<ClusterEvent<I>> {
        guard.update_isolation(
            self.n_suspect.saturating_add(silent),
            known.saturating_sub(self.n_dead),
            now,
        )
    }

    /// Holds back the conviction of `member` for `doubt`: reported once
    /// ([`ClusterEvent::Deferred`]) and kept until the doubt is gone.
    pub(crate) fn defer(
        &mut self,
        member: Member<I>,
        v: Verdict<'_>,
        doubt: Doubt,
        now: Timestamp,
        events: &mut VecDeque<ClusterEvent<I>>,
    ) {
        if *v.deferred {
            return;
        }
        *v.deferred = true;
        let at = now.max(*v.last_at);
        *v.last_at = at;
        self.pending.insert(member.id.clone());
        events.push_back(ClusterEvent::Deferred { member, doubt, at });
    }
}
