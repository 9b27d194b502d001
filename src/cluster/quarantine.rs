//! The quarantine of removed members' ids (Cassandra's rule, `gms/Gossiper.java`
//! `QUARANTINE_DELAY`): for a while after a member is removed, news of it with
//! the same or a lower generation is refused, so lagging gossip cannot resurrect
//! it; a higher generation (a restart) is let in at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Timestamp;

/// Quarantined ids with the generation they were removed at and the instant
/// the quarantine ends, and the same ordered by that instant (to expire them,
/// and to evict the one ending first when full).
#[derive(Clone, Debug)]
pub(crate) struct Quarantine<I> {
    entries: BTreeMap<I, (u64, Timestamp)>,
    by_end: BTreeSet<(Timestamp, I)>,
}

impl<I: Ord + Clone> Quarantine<I> {
    pub(crate) fn new() -> Self {
        Quarantine {
            entries: BTreeMap::new(),
            by_end: BTreeSet::new(),
        }
    }

    /// How many ids are quarantined.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether news of `id` at `generation` is refused at `now`. News that is
    /// let in (a higher generation, or after the quarantine ended) lifts it.
    pub(crate) fn refuses(&mut self, id: &I, generation: u64, now: Timestamp) -> bool {
        let Some(&(removed, until)) = self.entries.get(id) else {
            return false;
        };
        if generation <= removed && now < until {
            return true;
        }
        self.entries.remove(id);
        self.by_end.remove(&(until, id.clone()));
        false
    }

    /// Quarantines `id`, removed at `generation`, until `until`, keeping at most
    /// `cap` ids: when full, the one whose quarantine ends first goes first.
    pub(crate) fn insert(&mut self, id: I, generation: u64, until: Timestamp, cap: usize) {
        while self.entries.len() >= cap.max(1) && !self.entries.contains_key(&id) {
            let Some((t, old)) = self.by_end.pop_first() else {
                break;
            };
            if self.entries.get(&old).is_some_and(|q| q.1 == t) {
                self.entries.remove(&old);
            }
        }
        if let Some((_, old)) = self.entries.insert(id.clone(), (generation, until)) {
            self.by_end.remove(&(old, id.clone()));
        }
        self.by_end.insert((until, id));
    }

    /// Ends every quarantine due at or before `now`.
    pub(crate) fn expire(&mut self, now: Timestamp) {
        while let Some((at, _)) = self.by_end.first() {
            if *at > now {
                break;
            }
            if let Some((at, id)) = self.by_end.pop_first()
                && self.entries.get(&id).is_some_and(|q| q.1 == at)
            {
                self.entries.remove(&id);
            }
        }
    }

    /// When the next quarantine ends.
    pub(crate) fn next_end(&self) -> Option<Timestamp> {
        self.by_end.first().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_old_generations_until_the_end_and_stays_bounded() {
        let t = Timestamp::from_secs;
        let mut q = Quarantine::new();
        q.insert(7u64, 3, t(60), 2);
        assert!(q.refuses(&7, 3, t(10)) && q.refuses(&7, 2, t(59)));
        assert!(!q.refuses(&8, 0, t(10)), "not quarantined");
        // A restart gets in at once and lifts the quarantine.
        assert!(!q.refuses(&7, 4, t(10)));
        assert_eq!(q.len(), 0);
        q.insert(1, 0, t(30), 2);
        q.insert(2, 0, t(20), 2);
        q.insert(3, 0, t(40), 2); // full: 2, ending first, goes
        assert_eq!(q.len(), 2);
        assert!(!q.refuses(&2, 0, t(1)) && q.refuses(&1, 0, t(1)));
        assert_eq!(q.next_end(), Some(t(30)));
        q.expire(t(30));
        assert_eq!((q.len(), q.next_end()), (1, Some(t(40))));
        assert!(!q.refuses(&1, 0, t(31)));
    }
}
