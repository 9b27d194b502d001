//! The piggyback queue: updates waiting to ride on outgoing datagrams, each sent
//! a bounded number of times, least-sent and newest first (memberlist
//! `queue.go`, `TransmitLimitedQueue`).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::message::MIN_UPDATE_LEN;

/// Order key: fewer transmissions first, then newer (higher sequence) first.
type Key = (u32, Reverse<u64>);

/// At most one queued update per member: a newer one replaces the older.
#[derive(Clone, Debug)]
pub(crate) struct Broadcasts<I> {
    by_order: BTreeMap<Key, (I, Vec<u8>)>,
    by_member: BTreeMap<I, Key>,
    next: u64,
}

impl<I: Ord + Clone> Broadcasts<I> {
    pub(crate) fn new() -> Self {
        Broadcasts {
            by_order: BTreeMap::new(),
            by_member: BTreeMap::new(),
            next: 0,
        }
    }

    /// Queues `encoded` (one update about `member`), replacing any update about
    /// it still queued.
    pub(crate) fn queue(&mut self, member: I, encoded: Vec<u8>) {
        if let Some(old) = self.by_member.remove(&member) {
            self.by_order.remove(&old);
        }
        self.next += 1;
        let key = (0, Reverse(self.next));
        self.by_order.insert(key, (member.clone(), encoded));
        self.by_member.insert(member, key);
    }

    /// Drops the queued update about `member`, if any.
    pub(crate) fn forget(&mut self, member: &I) {
        if let Some(old) = self.by_member.remove(member) {
            self.by_order.remove(&old);
        }
    }

    /// Updates queued.
    pub(crate) fn len(&self) -> usize {
        self.by_order.len()
    }

    /// Appends to `out` as many queued updates as fit in `budget` bytes,
    /// least-sent and newest first, skipping `skip` (already in `out`), and
    /// counts a transmission of each; an update sent `limit` times is dropped.
    /// Returns how many were appended.
    pub(crate) fn fill(
        &mut self,
        out: &mut Vec<u8>,
        mut budget: usize,
        limit: u32,
        skip: Option<&I>,
    ) -> usize {
        let mut taken: Vec<Key> = Vec::new();
        for (key, (member, bytes)) in &self.by_order {
            if budget < MIN_UPDATE_LEN {
                break;
            }
            if bytes.len() > budget || skip == Some(member) {
                continue;
            }
            out.extend_from_slice(bytes);
            budget -= bytes.len();
            taken.push(*key);
        }
        for key in &taken {
            if let Some((member, bytes)) = self.by_order.remove(key) {
                let sent = key.0 + 1;
                if sent >= limit {
                    self.by_member.remove(&member);
                } else {
                    let next = (sent, key.1);
                    self.by_member.insert(member.clone(), next);
                    self.by_order.insert(next, (member, bytes));
                }
            }
        }
        taken.len()
    }

    /// Heap bytes held (approximate: the encoded updates and the two maps'
    /// entries).
    pub(crate) fn heap_bytes(&self) -> usize {
        let per = std::mem::size_of::<(Key, (I, Vec<u8>))>() + std::mem::size_of::<(I, Key)>();
        self.by_order
            .values()
            .map(|(_, b)| b.capacity() + per)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_sent_newest_first_within_budget_and_limit() {
        let mut q = Broadcasts::new();
        q.queue(1u32, vec![1; 4]);
        q.queue(2, vec![2; 4]);
        q.queue(3, vec![3; 10]);
        let mut out = Vec::new();
        // 9 bytes: the newest that fits (2), then 1; 3 is too long.
        assert_eq!(q.fill(&mut out, 9, 2, None), 2);
        assert_eq!(out, [2, 2, 2, 2, 1, 1, 1, 1]);
        out.clear();
        // 3 (never sent) comes first now.
        assert_eq!(q.fill(&mut out, 100, 2, None), 3);
        assert_eq!(&out[..10], &[3; 10]);
        // 1 and 2 reached the limit of 2 and are gone.
        assert_eq!(q.len(), 1);
        // A newer update about 3 replaces the old one.
        q.queue(3, vec![7; 4]);
        assert_eq!(q.len(), 1);
        out.clear();
        assert_eq!(q.fill(&mut out, 100, 2, Some(&3)), 0);
        assert_eq!(q.fill(&mut out, 100, 2, None), 1);
        assert_eq!(out, [7; 4]);
        q.forget(&3);
        assert_eq!(q.len(), 0);
    }
}
