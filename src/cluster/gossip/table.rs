//! The members a gossip member knows, by id: a slab of values, a hash index for
//! lookups (every entry of every digest is one), and an id-ordered index for
//! the iterations whose order reaches outputs (digests, targets, subjects,
//! [`members`](crate::cluster::ClusterMember::members)), so those stay in id
//! order, as with a `BTreeMap`.
//!
//! Memory per entry: the value and a mark (`u32`) in the slab (72 bytes for
//! the member's state), the id and a slot number in each index (for `u64`
//! ids, about 45 bytes with the indexes' slack): about 120 bytes in all.

use std::collections::{BTreeMap, HashMap, btree_map};

use super::hash::FxBuild;

struct Entry<V> {
    value: Option<V>,
    /// Marked when `mark == epoch` ([`Table::clear_marks`]).
    mark: u32,
}

/// Values by id ([module documentation](self)).
pub(super) struct Table<I, V> {
    index: HashMap<I, u32, FxBuild>,
    order: BTreeMap<I, u32>,
    slots: Vec<Entry<V>>,
    free: Vec<u32>,
    epoch: u32,
}

/// The ids from a cursor to the end, then from the start to the cursor.
pub(super) type Rotation<'a, I> = std::iter::Chain<
    btree_map::Range<'a, I, u32>,
    std::iter::Flatten<std::option::IntoIter<btree_map::Range<'a, I, u32>>>,
>;

impl<I: Ord + std::hash::Hash + Clone, V> Table<I, V> {
    /// An empty table whose hash index is seeded with `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Table {
            index: HashMap::with_hasher(FxBuild::new(seed)),
            order: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            epoch: 1,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of `id`.
    #[inline]
    pub(super) fn find(&self, id: &I) -> Option<u32> {
        self.index.get(id).copied()
    }

    #[inline]
    pub(super) fn at(&self, slot: u32) -> Option<&V> {
        self.slots.get(slot as usize)?.value.as_ref()
    }

    #[inline]
    pub(super) fn at_mut(&mut self, slot: u32) -> Option<&mut V> {
        self.slots.get_mut(slot as usize)?.value.as_mut()
    }

    #[inline]
    pub(super) fn get(&self, id: &I) -> Option<&V> {
        self.at(self.find(id)?)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: &I) -> Option<&mut V> {
        let slot = self.find(id)?;
        self.at_mut(slot)
    }

    pub(super) fn get_key_value(&self, id: &I) -> Option<(&I, &V)> {
        let (id, &slot) = self.index.get_key_value(id)?;
        Some((id, self.at(slot)?))
    }

    /// Inserts or replaces the value of `id`.
    pub(super) fn insert(&mut self, id: I, value: V) {
        if let Some(v) = self.get_mut(&id) {
            *v = value;
            return;
        }
        let entry = Entry {
            value: Some(value),
            mark: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(e) = self.slots.get_mut(slot as usize) {
                    *e = entry;
                }
                slot
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.order.insert(id.clone(), slot);
        self.index.insert(id, slot);
    }

    pub(super) fn remove(&mut self, id: &I) -> Option<V> {
        let slot = self.index.remove(id)?;
        self.order.remove(id);
        let value = self.slots.get_mut(slot as usize)?.value.take();
        self.free.push(slot);
        value
    }

    /// Every entry, in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&I, &V)> {
        self.order
            .iter()
            .filter_map(|(id, &slot)| Some((id, self.at(slot)?)))
    }

    /// Every id, in id order.
    pub(super) fn keys(&self) -> btree_map::Keys<'_, I, u32> {
        self.order.keys()
    }

    /// Every id with its slot, in id order from `cursor` (or the first id) on,
    /// wrapping around.
    pub(super) fn rotation(&self, cursor: Option<&I>) -> Rotation<'_, I> {
        match cursor {
            Some(c) => self
                .order
                .range(c.clone()..)
                .chain(Some(self.order.range(..c.clone())).into_iter().flatten()),
            None => self.order.range(..).chain(None.into_iter().flatten()),
        }
    }

    /// Unmarks every entry (in O(1)).
    pub(super) fn clear_marks(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Once in 2^32 clears: old marks could read as new ones.
            self.slots.iter_mut().for_each(|e| e.mark = 0);
            self.epoch = 1;
        }
    }

    /// Marks `id`, if known.
    #[inline]
    pub(super) fn mark(&mut self, id: &I) {
        if let Some(slot) = self.find(id)
            && let Some(e) = self.slots.get_mut(slot as usize)
        {
            e.mark = self.epoch;
        }
    }

    /// Marks the entry in `slot`.
    #[inline]
    pub(super) fn mark_at(&mut self, slot: u32) {
        if let Some(e) = self.slots.get_mut(slot as usize) {
            e.mark = self.epoch;
        }
    }

    #[inline]
    pub(super) fn is_marked(&self, slot: u32) -> bool {
        self.slots
            .get(slot as usize)
            .is_some_and(|e| e.mark == self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The table behaves as a `BTreeMap` (same lookups, same id order).
        #[test]
        fn behaves_as_an_ordered_map(
            ops in proptest::collection::vec((0u8..3, 0u16..40, any::<u32>()), 0..200),
            cursor in 0u16..40,
        ) {
            let mut t = Table::new(7);
            let mut m = BTreeMap::new();
            for (op, id, v) in ops {
                match op {
                    0 | 1 => {
                        t.insert(id, v);
                        m.insert(id, v);
                    }
                    _ => prop_assert_eq!(t.remove(&id), m.remove(&id)),
                }
                prop_assert_eq!(t.len(), m.len());
                prop_assert_eq!(t.get(&id), m.get(&id));
            }
            prop_assert!(t.iter().eq(m.iter()));
            prop_assert!(t.keys().eq(m.keys()));
            let rotated: Vec<u16> = t.rotation(Some(&cursor)).map(|(id, _)| *id).collect();
            let expected: Vec<u16> = m.range(cursor..).chain(m.range(..cursor)).map(|(id, _)| *id).collect();
            prop_assert_eq!(rotated, expected);
            prop_assert!(t.rotation(None).map(|(id, _)| id).eq(m.keys()));
            prop_assert!(t.slots.len() <= m.len() + t.free.len());
        }
    }

    #[test]
    fn marks_clear_at_once() {
        let mut t = Table::new(0);
        for id in 0..10u64 {
            t.insert(id, ());
        }
        t.clear_marks();
        t.mark(&3);
        t.mark(&99);
        let marked: Vec<u64> = t
            .rotation(None)
            .filter(|(_, s)| t.is_marked(**s))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(marked, [3]);
        t.clear_marks();
        assert!(t.rotation(None).all(|(_, s)| !t.is_marked(*s)));
        // A removed and reused slot starts unmarked.
        t.mark(&4);
        t.remove(&4);
        t.insert(11, ());
        assert!(!t.is_marked(t.find(&11).unwrap()));
        t.epoch = u32::MAX;
        t.mark(&5);
        t.clear_marks();
        assert!(!t.is_marked(t.find(&5).unwrap()));
    }
}
