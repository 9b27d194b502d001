//! The members a gossip member knows, by id: a slab of values, a hash index for
//! lookups (every entry of every digest is one), and an id-ordered index for
//! the iterations whose order reaches outputs (digests, targets, subjects,
//! [`members`](crate::cluster::ClusterMember::members)), so those stay in id
//! order, as with a `BTreeMap`.
//!
//! The hash index is the registry's open-addressing [`Index`] (a 32-bit tag
//! and the slot in one word; the ids are compared in the slab), so a lookup
//! reads one word of the index, then the entry it needs anyway; and the home
//! word of an id can be read ahead ([`Table::touch_index`]). The ordered
//! index is a `BTreeMap`, copied into a vector after each change of the
//! membership ([`Table::sync`], O(n) once per change, not per insertion), so
//! that the walks in id order read contiguous memory and a position is O(1).
//!
//! Memory per entry, for `u64` ids: 80 bytes in the slab (the id, the
//! member's state of 64 bytes, a mark), 11 to 21 in the hash index (8-byte
//! words, 3/8 to 3/4 full), about 20 in the tree and 16 in its vector copy:
//! about 135 bytes in all.

use std::collections::{BTreeMap, btree_map};
use std::hash::BuildHasher;

use super::hash::FxBuild;
use crate::registry::index::Index;

struct Entry<I, V> {
    /// The id and its value (`None`: a free slot).
    value: Option<(I, V)>,
    /// Marked when `mark == epoch` ([`Table::clear_marks`]).
    mark: u32,
}

/// Values by id ([module documentation](self)).
pub(super) struct Table<I, V> {
    /// The hash of each id (seeded) to its slot: the registry's open-addressing
    /// index (a 32-bit tag and the slot in one word; ids compared in `slots`).
    index: Index,
    hasher: FxBuild,
    order: BTreeMap<I, u32>,
    /// `order` copied into a vector (contiguous: iterated without chasing the
    /// tree's nodes, positions in O(1)), once [`sync`](Table::sync) made it
    /// current; `stale` after each change of the membership, when the
    /// iterations fall back on `order`.
    ordered: Vec<(I, u32)>,
    stale: bool,
    slots: Vec<Entry<I, V>>,
    free: Vec<u32>,
    epoch: u32,
}

/// The tree's ids from a cursor on, then those before it.
type TreeRotation<'a, I> = std::iter::Chain<
    btree_map::Range<'a, I, u32>,
    std::iter::Flatten<std::option::IntoIter<btree_map::Range<'a, I, u32>>>,
>;

/// The ordered vector's entries from a cursor on, then those before it.
type OrderedRotation<'a, I> =
    std::iter::Chain<std::slice::Iter<'a, (I, u32)>, std::slice::Iter<'a, (I, u32)>>;

/// The ids from a cursor to the end, then from the start to the cursor, with
/// their slots.
pub(super) enum Rotation<'a, I> {
    Tree(TreeRotation<'a, I>),
    Ordered(OrderedRotation<'a, I>),
}

impl<'a, I> Iterator for Rotation<'a, I> {
    type Item = (&'a I, &'a u32);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Rotation::Tree(it) => it.next(),
            Rotation::Ordered(it) => it.next().map(|(id, slot)| (id, slot)),
        }
    }
}

impl<I: Ord + std::hash::Hash + Clone, V> Table<I, V> {
    /// An empty table whose hash index is seeded with `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Table {
            index: Index::default(),
            hasher: FxBuild::new(seed),
            order: BTreeMap::new(),
            ordered: Vec::new(),
            stale: false,
            slots: Vec::new(),
            free: Vec::new(),
            epoch: 1,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// The hash of `id` for the index.
    #[inline]
    pub(super) fn hash(&self, id: &I) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The slot of `id`.
    #[inline]
    pub(super) fn find(&self, id: &I) -> Option<u32> {
        self.find_hashed(self.hash(id), id)
    }

    /// The slot of `id`, whose [`hash`](Self::hash) is `hash`.
    #[inline]
    pub(super) fn find_hashed(&self, hash: u64, id: &I) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(hash, |slot| {
            slots
                .get(slot as usize)
                .and_then(|e| e.value.as_ref())
                .is_some_and(|(key, _)| key == id)
        })
    }

    /// Reads the index where an id of this `hash` is looked for first, so that
    /// the processor fetches it (see [`touch`](Self::touch)).
    #[inline]
    pub(super) fn touch_index(&self, hash: u64) -> u64 {
        self.index.touch(hash)
    }

    /// Every value, mutably, in slot order (not id order: for counts).
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.value.as_mut().map(|(_, v)| v))
    }

    #[inline]
    pub(super) fn at(&self, slot: u32) -> Option<&V> {
        self.slots
            .get(slot as usize)?
            .value
            .as_ref()
            .map(|(_, v)| v)
    }

    #[inline]
    pub(super) fn at_mut(&mut self, slot: u32) -> Option<&mut V> {
        self.slots
            .get_mut(slot as usize)?
            .value
            .as_mut()
            .map(|(_, v)| v)
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
        let slot = self.find(id)?;
        let (id, v) = self.slots.get(slot as usize)?.value.as_ref()?;
        Some((id, v))
    }

    /// Inserts or replaces the value of `id`.
    pub(super) fn insert(&mut self, id: I, value: V) {
        if let Some(v) = self.get_mut(&id) {
            *v = value;
            return;
        }
        let entry = Entry {
            value: Some((id.clone(), value)),
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
        let hash = self.hash(&id);
        self.order.insert(id, slot);
        self.index.insert(hash, slot);
        self.stale = true;
    }

    pub(super) fn remove(&mut self, id: &I) -> Option<V> {
        let slot = self.order.remove(id)?;
        self.index.remove(self.hash(id), slot);
        self.stale = true;
        let value = self.slots.get_mut(slot as usize)?.value.take();
        self.free.push(slot);
        value.map(|(_, v)| v)
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

    /// Makes the ordered vector current (in O(n) after a change of the
    /// membership, O(1) otherwise): the iterations in id order then read it
    /// instead of the tree.
    pub(super) fn sync(&mut self) {
        if !self.stale {
            return;
        }
        self.ordered.clear();
        let len = self.order.len();
        if self.ordered.capacity() > 4 * len + 64 {
            self.ordered.shrink_to(2 * len);
        }
        self.ordered
            .extend(self.order.iter().map(|(id, &slot)| (id.clone(), slot)));
        self.stale = false;
    }

    /// Where the rotation from `cursor` starts in the ordered vector.
    pub(super) fn start(&self, cursor: Option<&I>) -> usize {
        cursor.map_or(0, |c| self.ordered.partition_point(|(id, _)| id < c))
    }

    /// Every id with its slot, in id order from `cursor` (or the first id) on,
    /// wrapping around.
    #[cfg(test)]
    pub(super) fn rotation(&self, cursor: Option<&I>) -> Rotation<'_, I> {
        self.rotation_at(cursor, self.start(cursor))
    }

    /// [`start`](Self::start), checking `hint` first (where `cursor` was
    /// last seen in the ordered vector): no search of the vector while the
    /// membership does not change.
    pub(super) fn start_hinted(&self, cursor: Option<&I>, hint: usize) -> usize {
        match (cursor, self.ordered.get(hint)) {
            (Some(c), Some((id, _))) if !self.stale && id == c => hint,
            _ => self.start(cursor),
        }
    }

    /// The rotation (ids with slots, in id order from `cursor` on, wrapping
    /// around) from `cursor`, which is at position `start`
    /// of the ordered vector ([`start`](Self::start)) if that is current.
    pub(super) fn rotation_at(&self, cursor: Option<&I>, start: usize) -> Rotation<'_, I> {
        if !self.stale {
            let (tail, head) = self.ordered.split_at(start.min(self.ordered.len()));
            return Rotation::Ordered(head.iter().chain(tail.iter()));
        }
        Rotation::Tree(match cursor {
            Some(c) => self
                .order
                .range(c.clone()..)
                .chain(Some(self.order.range(..c.clone())).into_iter().flatten()),
            None => self.order.range(..).chain(None.into_iter().flatten()),
        })
    }

    /// The id at `position` in id order.
    pub(super) fn key_at(&self, position: usize) -> Option<&I> {
        if self.stale {
            self.order.keys().nth(position)
        } else {
            self.ordered.get(position).map(|(id, _)| id)
        }
    }

    /// [`touch`](Self::touch)es the entries at rotation positions `skip` to
    /// `skip + n` of the rotation that starts at position `start` of the
    /// ordered vector ([`start`](Self::start)), if that is current (nothing
    /// otherwise): done ahead of a walk through the rotation, it lets the
    /// walk's memory accesses overlap.
    pub(super) fn touch_rotation(
        &self,
        start: usize,
        skip: usize,
        n: usize,
        read: impl Fn(&V) -> u64,
    ) -> u64 {
        let len = self.ordered.len();
        if self.stale || len == 0 {
            return 0;
        }
        let mut touched = 0;
        for t in skip..(skip + n).min(len) {
            if let Some(&(_, slot)) = self.ordered.get((start + t) % len) {
                touched ^= self.touch(slot, &read);
            }
        }
        touched
    }

    /// Reads the entry in `slot` (its mark, and what `read` reads of its value),
    /// so that the processor fetches it: a pass of these over many slots lets
    /// their memory accesses overlap.
    #[inline]
    pub(super) fn touch(&self, slot: u32, read: impl Fn(&V) -> u64) -> u64 {
        self.slots.get(slot as usize).map_or(0, |e| {
            u64::from(e.mark) ^ e.value.as_ref().map_or(0, |(_, v)| read(v))
        })
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
            // The same from the ordered vector, once current.
            t.sync();
            let rotated: Vec<u16> = t.rotation(Some(&cursor)).map(|(id, _)| *id).collect();
            let expected: Vec<u16> = m.range(cursor..).chain(m.range(..cursor)).map(|(id, _)| *id).collect();
            prop_assert_eq!(rotated, expected);
            prop_assert!(t.rotation(None).map(|(id, _)| id).eq(m.keys()));
            for (p, id) in m.keys().enumerate() {
                prop_assert_eq!(t.key_at(p), Some(id));
                // A good hint is taken, a bad one ignored.
                prop_assert_eq!(t.start_hinted(Some(id), p), p);
                prop_assert_eq!(t.start_hinted(Some(id), p + 1), p);
            }
            prop_assert_eq!(t.start_hinted(Some(&cursor), 0), t.start(Some(&cursor)));
            prop_assert_eq!(t.key_at(m.len()), None);
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
