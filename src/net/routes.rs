//! Where to send a datagram for a member: the address book of a socket driver.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::cluster::MemberId;

/// The most addresses a [`Routes`] learns from received frames (a bound on what
/// the network can make it hold); addresses given by the caller do not count.
pub const DEFAULT_MAX_LEARNED: usize = 65_536;

/// Maps member ids to socket addresses, for a driver that sends a member's
/// datagrams.
///
/// An id resolves, in this order, to: the address the caller gave for it
/// ([`insert`](Self::insert), as from a static cluster configuration); the address
/// its last frame came from ([`learn`](Self::learn), so a member restarted on a
/// new port is reached there); the default route ([`via`](Self::via), every
/// datagram through one relay or proxy). Lookups are `O(log n)` and allocate
/// nothing; learning is bounded by `max_learned`.
#[derive(Clone, Debug)]
pub struct Routes<I> {
    fixed: BTreeMap<I, SocketAddr>,
    learned: BTreeMap<I, SocketAddr>,
    max_learned: usize,
    default: Option<SocketAddr>,
}

impl<I: MemberId> Default for Routes<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: MemberId> Routes<I> {
    /// No routes; learns up to [`DEFAULT_MAX_LEARNED`] addresses.
    pub fn new() -> Self {
        Routes {
            fixed: BTreeMap::new(),
            learned: BTreeMap::new(),
            max_learned: DEFAULT_MAX_LEARNED,
            default: None,
        }
    }

    /// Sends every datagram whose member has no address of its own to `relay`.
    pub fn via(mut self, relay: SocketAddr) -> Self {
        self.default = Some(relay);
        self
    }

    /// Learns at most `max` addresses from received frames (0: learns none).
    pub fn with_max_learned(mut self, max: usize) -> Self {
        self.max_learned = max;
        self
    }

    /// Gives `id`'s address; it wins over any learned one.
    pub fn insert(&mut self, id: I, addr: SocketAddr) {
        self.fixed.insert(id, addr);
    }

    /// Records that a frame from `id` came from `addr`. Returns `false` (and
    /// changes nothing) when `id` is new and the learned table is full.
    pub fn learn(&mut self, id: I, addr: SocketAddr) -> bool {
        if let Some(a) = self.learned.get_mut(&id) {
            *a = addr;
            return true;
        }
        if self.learned.len() >= self.max_learned {
            return false;
        }
        self.learned.insert(id, addr);
        true
    }

    /// Forgets what was learned about `id` (say, once it is removed).
    pub fn forget(&mut self, id: &I) {
        self.learned.remove(id);
    }

    /// Where to send a datagram for `id` (`None`: nowhere known).
    pub fn resolve(&self, id: &I) -> Option<SocketAddr> {
        self.fixed
            .get(id)
            .or_else(|| self.learned.get(id))
            .copied()
            .or(self.default)
    }

    /// How many addresses were learned from frames.
    pub fn learned_len(&self) -> usize {
        self.learned.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_resolution_and_bound() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let relay: SocketAddr = "127.0.0.1:3".parse().unwrap();
        let mut r = Routes::<u64>::new().with_max_learned(1);
        assert_eq!(r.resolve(&1), None);
        let mut r2 = r.clone().via(relay);
        assert_eq!(r2.resolve(&1), Some(relay));
        assert!(r2.learn(1, a));
        assert_eq!(r2.resolve(&1), Some(a));
        r2.insert(1, b);
        assert_eq!(r2.resolve(&1), Some(b));
        assert!(r.learn(1, a));
        assert!(!r.learn(2, b), "full");
        assert_eq!(r.resolve(&2), None);
        assert!(r.learn(1, b), "updating a known id is always allowed");
        assert_eq!(r.resolve(&1), Some(b));
        r.forget(&1);
        assert_eq!((r.resolve(&1), r.learned_len()), (None, 0));
    }
}
