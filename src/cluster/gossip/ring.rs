//! The observer ring: positions from a stable hash of each id's wire encoding.

use crate::cluster::id::MemberId;

/// FNV-1a, 64 bits (Fowler, Noll, Vo): stable across builds, platforms and
/// processes, unlike `RandomState` or `DefaultHasher`, so every member places
/// every id at the same position.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The ring position of `id`: FNV-1a 64 of its wire encoding.
pub(crate) fn position<I: MemberId>(id: &I, scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    id.encode(scratch);
    fnv1a64(scratch)
}

/// The `k` members after `me` on the ring of `ids` (which includes `me`), in
/// ring order: the subjects `me` observes. Every member that knows the same ids
/// computes the same subjects for everyone.
pub(crate) fn successors<I: MemberId>(me: &I, ids: impl Iterator<Item = I>, k: usize) -> Vec<I> {
    let mut scratch = Vec::new();
    let mut ring: Vec<(u64, I)> = ids.map(|id| (position(&id, &mut scratch), id)).collect();
    ring.sort_unstable();
    ring.dedup();
    let Some(at) = ring.iter().position(|(_, id)| id == me) else {
        return Vec::new();
    };
    let k = k.min(ring.len().saturating_sub(1));
    (1..=k)
        .filter_map(|i| ring.get((at + i) % ring.len()).map(|(_, id)| id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_member_is_watched_by_k_others() {
        let ids: Vec<u64> = (0..20).collect();
        let mut watched = [0usize; 20];
        for me in &ids {
            let s = successors(me, ids.iter().copied(), 5);
            assert_eq!(s.len(), 5);
            assert!(!s.contains(me));
            for x in s {
                watched[x as usize] += 1;
            }
        }
        assert!(watched.iter().all(|&w| w == 5), "{watched:?}");
        assert_eq!(successors(&3u64, [3u64, 4].into_iter(), 9), vec![4]);
        assert!(successors(&3u64, [4u64].into_iter(), 9).is_empty());
    }
}
