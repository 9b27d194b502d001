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
///
/// Cost: when `from` is not much smaller than `into`, one ordered pass over
/// both (the maps are sorted by id), plus the insertion of the ids `into`
/// lacks; a few entries into a large digest are looked up one by one.
pub fn merge<I: Ord + Clone>(into: &mut Digest<I>, from: &Digest<I>) -> usize {
    if from.len().saturating_mul(8) < into.len() {
        return merge_by_lookup(into, from);
    }
    let mut changed = 0;
    let mut missing: Vec<(&I, Heartbeat)> = Vec::new();
    let mut theirs = from.iter().peekable();
    for (id, known) in into.iter_mut() {
        while let Some((fid, &hb)) = theirs.next_if(|(fid, _)| *fid < id) {
            missing.push((fid, hb));
        }
        if let Some((_, &hb)) = theirs.next_if(|(fid, _)| *fid == id)
            && hb > *known
        {
            *known = hb;
            changed += 1;
        }
        if theirs.peek().is_none() {
            break;
        }
    }
    missing.extend(theirs.map(|(id, &hb)| (id, hb)));
    changed += missing.len();
    if missing.len() > into.len() / 4 {
        // Many new ids: rebuild from one ordered merge of the two sequences
        // (linear), rather than insert each.
        let mut old = std::mem::take(into).into_iter().peekable();
        let mut merged = Vec::with_capacity(old.len() + missing.len());
        for (id, hb) in missing {
            while let Some(e) = old.next_if(|(o, _)| o < id) {
                merged.push(e);
            }
            merged.push((id.clone(), hb));
        }
        merged.extend(old);
        *into = merged.into_iter().collect();
    } else {
        for (id, hb) in missing {
            into.insert(id.clone(), hb);
        }
    }
    changed
}

fn merge_by_lookup<I: Ord + Clone>(into: &mut Digest<I>, from: &Digest<I>) -> usize {
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
        /// Both strategies (one ordered pass, lookups) agree with each other
        /// and with the definition, at every size ratio.
        #[test]
        fn merge_matches_its_definition(
            a in proptest::collection::btree_map(0u16..400, (0u64..3, 0u64..5), 0..300),
            b in proptest::collection::btree_map(0u16..400, (0u64..3, 0u64..5), 0..300),
        ) {
            let a: Digest<u16> = a.into_iter().map(|(i, (g, v))| (i, Heartbeat::new(g, v))).collect();
            let b: Digest<u16> = b.into_iter().map(|(i, (g, v))| (i, Heartbeat::new(g, v))).collect();
            let mut expected = a.clone();
            for (id, hb) in &b {
                let e = expected.entry(*id).or_insert(*hb);
                *e = (*e).max(*hb);
            }
            let changes = b.iter().filter(|(id, hb)| a.get(*id).is_none_or(|k| *hb > k)).count();
            let mut joined = a.clone();
            prop_assert_eq!(merge(&mut joined, &b), changes);
            prop_assert_eq!(&joined, &expected);
            let mut looked_up = a.clone();
            prop_assert_eq!(merge_by_lookup(&mut looked_up, &b), changes);
            prop_assert_eq!(&looked_up, &expected);
        }

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
