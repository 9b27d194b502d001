//! A sliding window of the last `n` values that answers order-statistic questions
//! (the k-th smallest, how many are at most x) in O(log n): a treap (a binary search
//! tree kept balanced by random heap priorities) with subtree sizes, stored in an
//! arena whose slot `i` is also ring slot `i`, so the value to evict is found in O(1).
//!
//! Keys are `(value, arrival number)`, unique, so deleting the oldest value removes
//! exactly its node even when other slots hold the same value. Priorities come from
//! a fixed-seed xorshift generator that restarts on [`SlidingOrder::clear`], so the
//! same pushes always build the same tree (replays are deterministic).

const NIL: u32 = u32::MAX;
const PRIORITY_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Copy, Debug)]
struct Node {
    value: u64,
    /// Arrival number: breaks ties between equal values.
    id: u64,
    left: u32,
    right: u32,
    priority: u32,
    /// Nodes in the subtree rooted here.
    size: u32,
}

const EMPTY: Node = Node {
    value: 0,
    id: 0,
    left: NIL,
    right: NIL,
    priority: 0,
    size: 0,
};

#[derive(Clone, Debug)]
pub(crate) struct SlidingOrder {
    nodes: Box<[Node]>,
    head: usize,
    len: usize,
    root: u32,
    next_id: u64,
    rng: u64,
}

impl SlidingOrder {
    /// An empty window of `capacity` values (1 to 2^31; raised to 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, 1 << 31);
        SlidingOrder {
            nodes: vec![EMPTY; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            root: NIL,
            next_id: 0,
            rng: PRIORITY_SEED,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of heap the tree's nodes occupy.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<Node>()
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.root = NIL;
        self.next_id = 0;
        self.rng = PRIORITY_SEED;
    }

    /// Adds `value`, evicting the oldest when full. O(log n) expected.
    pub(crate) fn push(&mut self, value: u64) {
        let slot = self.head as u32;
        if self.len == self.nodes.len() {
            let old = self.nodes[self.head];
            self.root = self.erase(self.root, (old.value, old.id));
        } else {
            self.len += 1;
        }
        // xorshift64: a full-period generator, plenty for balancing.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.nodes[self.head] = Node {
            value,
            id: self.next_id,
            left: NIL,
            right: NIL,
            priority: (self.rng >> 32) as u32,
            size: 1,
        };
        self.next_id += 1;
        self.root = self.insert(self.root, slot);
        self.head += 1;
        if self.head == self.nodes.len() {
            self.head = 0;
        }
    }

    /// The `k`-th smallest value, `k` from 1 to `len` (clamped); `None` when empty.
    /// O(log n) expected.
    pub(crate) fn kth(&self, k: usize) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let mut k = k.clamp(1, self.len) as u32;
        let mut t = self.root;
        loop {
            let node = &self.nodes[t as usize];
            let left = self.size(node.left);
            if k <= left {
                t = node.left;
            } else if k == left + 1 {
                return Some(node.value);
            } else {
                k -= left + 1;
                t = node.right;
            }
        }
    }

    /// How many values are at most `x`. O(log n) expected.
    pub(crate) fn count_at_most(&self, x: u64) -> usize {
        let mut count = 0;
        let mut t = self.root;
        while t != NIL {
            let node = &self.nodes[t as usize];
            if node.value <= x {
                count += self.size(node.left) + 1;
                t = node.right;
            } else {
                t = node.left;
            }
        }
        count as usize
    }

    #[inline]
    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    #[inline]
    fn key(&self, t: u32) -> (u64, u64) {
        let node = &self.nodes[t as usize];
        (node.value, node.id)
    }

    fn update(&mut self, t: u32) {
        let node = self.nodes[t as usize];
        self.nodes[t as usize].size = self.size(node.left) + self.size(node.right) + 1;
    }

    /// Inserts node `n` into the subtree `t`; returns the new subtree root.
    fn insert(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        if self.nodes[n as usize].priority > self.nodes[t as usize].priority {
            let (left, right) = self.split(t, self.key(n));
            let node = &mut self.nodes[n as usize];
            node.left = left;
            node.right = right;
            self.update(n);
            return n;
        }
        if self.key(n) < self.key(t) {
            let child = self.insert(self.nodes[t as usize].left, n);
            self.nodes[t as usize].left = child;
        } else {
            let child = self.insert(self.nodes[t as usize].right, n);
            self.nodes[t as usize].right = child;
        }
        self.nodes[t as usize].size += 1;
        t
    }

    /// Splits subtree `t` into keys below `key` and keys at or above it.
    fn split(&mut self, t: u32, key: (u64, u64)) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.key(t) < key {
            let (left, right) = self.split(self.nodes[t as usize].right, key);
            self.nodes[t as usize].right = left;
            self.update(t);
            (t, right)
        } else {
            let (left, right) = self.split(self.nodes[t as usize].left, key);
            self.nodes[t as usize].left = right;
            self.update(t);
            (left, t)
        }
    }

    /// Joins two subtrees, every key of `a` below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority > self.nodes[b as usize].priority {
            let right = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = right;
            self.update(a);
            a
        } else {
            let left = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = left;
            self.update(b);
            b
        }
    }

    /// Removes the node with `key` (which must be present) from subtree `t`.
    fn erase(&mut self, t: u32, key: (u64, u64)) -> u32 {
        if t == NIL {
            return NIL;
        }
        let node = self.nodes[t as usize];
        if self.key(t) == key {
            return self.merge(node.left, node.right);
        }
        if key < self.key(t) {
            let child = self.erase(node.left, key);
            self.nodes[t as usize].left = child;
        } else {
            let child = self.erase(node.right, key);
            self.nodes[t as usize].right = child;
        }
        self.nodes[t as usize].size -= 1;
        t
    }

    /// The depth of the tree (for tests of the balance).
    #[cfg(test)]
    fn depth(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            let node = &self.nodes[t as usize];
            1 + self.depth(node.left).max(self.depth(node.right))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sliding_order_statistics() {
        let mut w = SlidingOrder::new(3);
        assert_eq!(w.kth(1), None);
        assert_eq!(w.count_at_most(u64::MAX), 0);
        for x in [50, 10, 30, 10] {
            w.push(x);
        }
        // Window: 10, 30, 10 (the 50 was evicted).
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w.kth(1), w.kth(2), w.kth(3)),
            (Some(10), Some(10), Some(30))
        );
        assert_eq!(w.kth(0), Some(10));
        assert_eq!(w.kth(9), Some(30));
        assert_eq!(w.count_at_most(9), 0);
        assert_eq!(w.count_at_most(10), 2);
        assert_eq!(w.count_at_most(50), 3);
        w.clear();
        assert_eq!(w.len(), 0);
        assert_eq!(w.capacity(), 3);
    }

    #[test]
    fn stays_balanced_on_sorted_input() {
        let mut w = SlidingOrder::new(4096);
        for x in 0..100_000u64 {
            w.push(x);
        }
        // A treap's expected depth is about 2 ln n (~17 here); a list would be 4096.
        assert!(w.depth(w.root) < 60, "depth {}", w.depth(w.root));
        assert_eq!(w.kth(1), Some(100_000 - 4096));
    }

    proptest! {
        #[test]
        fn matches_a_sorted_copy(
            cap in 1usize..40,
            xs in proptest::collection::vec(0u64..20, 0..200),
        ) {
            let mut w = SlidingOrder::new(cap);
            for (i, &x) in xs.iter().enumerate() {
                w.push(x);
                let mut tail = xs[(i + 1).saturating_sub(cap)..=i].to_vec();
                tail.sort_unstable();
                prop_assert_eq!(w.len(), tail.len());
                for k in 1..=tail.len() {
                    prop_assert_eq!(w.kth(k), Some(tail[k - 1]));
                }
                for probe in 0..21 {
                    let naive = tail.iter().filter(|&&v| v <= probe).count();
                    prop_assert_eq!(w.count_at_most(probe), naive);
                }
            }
        }
    }
}
