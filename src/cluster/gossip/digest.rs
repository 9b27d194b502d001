//! Heartbeat states and their merge, as pure functions: what the member does to
//! each entry of a received digest, and the same rule over whole digest maps.

use std::collections::BTreeMap;

/// A member's heartbeat state as gossiped: the generation of its process and the
/// heartbeat version it reached in that generation. Ordered by generation, then
/// version: the higher one is newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Heartbeat {
    /// The generation (restart count or start time) of the process.
    pub generation: u64,
    /// Heartbeat versions the process counted in that generation (one per
    /// gossip interval).
    pub version: u64,
}

impl Heartbeat {
    /// A heartbeat state.
    pub const fn new(generation: u64, version: u64) -> Self {
        Heartbeat {
            generation,
            version,
        }
    }
}

/// What an incoming heartbeat state means against the one known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum News {
    /// Not known before: the member is new here.
    New,
    /// Same generation, strictly higher version: an arrival for the member's
    /// detector.
    Newer,
    /// A higher generation: the member restarted; its detector starts afresh.
    Restart,
    /// Equal or older (a duplicate, a replay, a lagging peer's view): nothing
    /// to learn, no sample.
    Stale,
}

/// Classifies `incoming` against what is `known` of the same member.
pub const fn classify(known: Option<Heartbeat>, incoming: Heartbeat) -> News {
    match known {
        None => News::New,
        Some(k) if incoming.generation > k.generation => News::Restart,
        Some(k) if incoming.generation == k.generation && incoming.version > k.version => {
            News::Newer
        }
        Some(_) => News::Stale,
    }
}

/// A digest: heartbeat states by member id.
pub type Digest<I> = BTreeMap<I, Heartbeat>;

/// Merges `from` into `into`: each member ends with the newer of the two states
/// (higher generation, then higher version). Returns how many entries of `into`
/// changed. The merge is a join on a semilattice: commutative, associative and
/// idempotent, so gossip in any order, repeated or replayed, converges to the
/// same digest.
pub fn merge<I: Ord + Clone>(into: &mut Digest<I>, from: &Digest<I>) -> usize {
    let mut changed = 0;
    for (id, &hb) in from {
        match into.get_mut(id) {
            Some(known) => {
                if hb > *known {
                    *known = hb;
                    changed += 1;
                }
            }
            None => {
                into.insert(id.clone(), hb);
                changed += 1;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digest() -> impl Strategy<Value = Digest<u8>> {
        proptest::collection::btree_map(
            0u8..16,
            (0u64..3, 0u64..5).prop_map(|(g, v)| Heartbeat::new(g, v)),
            0..12,
        )
    }

    fn merged(a: &Digest<u8>, b: &Digest<u8>) -> Digest<u8> {
        let mut out = a.clone();
        merge(&mut out, b);
        out
    }

    proptest! {
        #[test]
        fn merge_is_commutative_associative_idempotent(
            a in digest(), b in digest(), c in digest()
        ) {
            prop_assert_eq!(merged(&a, &b), merged(&b, &a));
            prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
            prop_assert_eq!(merged(&a, &a), a.clone());
            let ab = merged(&a, &b);
            let mut again = ab.clone();
            prop_assert_eq!(merge(&mut again, &b), 0);
            prop_assert_eq!(again, ab);
        }

        #[test]
        fn classify_agrees_with_the_order(
            k in proptest::option::of((0u64..3, 0u64..5)), g in 0u64..3, v in 0u64..5
        ) {
            let known = k.map(|(g, v)| Heartbeat::new(g, v));
            let inc = Heartbeat::new(g, v);
            let news = classify(known, inc);
            match known {
                None => prop_assert_eq!(news, News::New),
                Some(k) => {
                    prop_assert_eq!(news == News::Stale, inc <= k);
                    prop_assert_eq!(news == News::Restart, inc.generation > k.generation);
                }
            }
        }
    }

    #[test]
    fn examples() {
        let k = Some(Heartbeat::new(2, 10));
        assert_eq!(classify(k, Heartbeat::new(2, 11)), News::Newer);
        assert_eq!(classify(k, Heartbeat::new(2, 10)), News::Stale);
        assert_eq!(classify(k, Heartbeat::new(1, 99)), News::Stale);
        assert_eq!(classify(k, Heartbeat::new(3, 0)), News::Restart);
        assert_eq!(classify(None, Heartbeat::new(0, 0)), News::New);
    }
}
