//! Time never runs backwards in a member's events, whatever order its inputs'
//! instants come in, for every topology: over a member's whole event stream (and so
//! per member it reports on) event instants never decrease, and no event is dated
//! after the latest instant it was given.

use std::collections::BTreeMap;

use failure_detector::Timestamp;
use failure_detector::cluster::{
    AllToAllConfig, AllToAllMember, ClusterEvent, ClusterMember, GossipConfig, GossipMember,
    Member, SwimConfig, SwimMember,
};
use proptest::prelude::*;

/// One input: which member, what (0 tick, 1 deliver, 2 drop), how far the
/// global clock moves (ms) and how far back this input's instant lags (ms).
type Step = (usize, u8, u64, u64, usize);

fn check<M: ClusterMember<u64>>(mut members: Vec<M>, steps: &[Step]) -> Result<(), TestCaseError> {
    let ids: Vec<u64> = members.iter().map(|m| m.me().id).collect();
    let seed = ids[0];
    for m in members.iter_mut() {
        m.join(&[seed], Timestamp::ZERO);
    }
    let mut in_flight: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    let mut clock = 0u64;
    // (observer, subject) -> last instant; observer -> latest instant given.
    let mut last: BTreeMap<(u64, Option<u64>), Timestamp> = BTreeMap::new();
    let mut latest: BTreeMap<u64, Timestamp> = BTreeMap::new();
    for &(who, action, advance, lag, pick) in steps {
        clock += advance;
        let now = Timestamp::from_millis(clock.saturating_sub(lag));
        let i = who % members.len();
        let id = ids[i];
        match action {
            0 => members[i].tick(now),
            1 if !in_flight.is_empty() => {
                let (from, to, bytes) = in_flight.remove(pick % in_flight.len());
                let j = ids.iter().position(|&x| x == to).unwrap();
                let _ = members[j].handle_datagram(&from, &bytes, now);
                let l = latest.entry(to).or_insert(now);
                *l = (*l).max(now);
                collect(&mut members[j], to, &mut in_flight, &mut last, latest[&to])?;
                continue;
            }
            _ => {
                if !in_flight.is_empty() {
                    in_flight.remove(pick % in_flight.len());
                }
                continue;
            }
        }
        let l = latest.entry(id).or_insert(now);
        *l = (*l).max(now);
        collect(&mut members[i], id, &mut in_flight, &mut last, latest[&id])?;
    }
    Ok(())
}

fn collect<M: ClusterMember<u64>>(
    m: &mut M,
    id: u64,
    in_flight: &mut Vec<(u64, u64, Vec<u8>)>,
    last: &mut BTreeMap<(u64, Option<u64>), Timestamp>,
    latest: Timestamp,
) -> Result<(), TestCaseError> {
    while let Some(d) = m.poll_datagram() {
        if in_flight.len() < 200 {
            in_flight.push((id, d.to, d.bytes));
        }
    }
    while let Some(e) = m.poll_event() {
        let subject = e.member().map(|s: &Member<u64>| s.id);
        let at = e.at();
        prop_assert!(
            at <= latest,
            "{id}: {e:?} is dated after the latest input {latest}"
        );
        // Per subject, and over the member's whole stream.
        for key in [(id, subject), (id, None)] {
            if let Some(&before) = last.get(&key) {
                prop_assert!(at >= before, "{id}: {e:?} is dated before {before}");
            }
            last.insert(key, at);
        }
        if let ClusterEvent::LocalPause { until, .. } = e {
            prop_assert!(until >= at);
        }
    }
    Ok(())
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0usize..4, 0u8..3, 0u64..3_000, 0u64..2_500, 0usize..1000),
        1..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gossip_members_never_date_events_backwards(steps in steps()) {
        let members = (1..=4u64)
            .map(|id| GossipMember::new(Member::new(id, 1), GossipConfig::new().with_seed(id)).unwrap())
            .collect();
        check(members, &steps)?;
    }

    #[test]
    fn observer_members_never_date_events_backwards(steps in steps()) {
        let config = GossipConfig::new().with_observers(Some(Default::default()));
        let members = (1..=4u64)
            .map(|id| GossipMember::new(Member::new(id, 1), config.with_seed(id)).unwrap())
            .collect();
        check(members, &steps)?;
    }

    #[test]
    fn all_to_all_members_never_date_events_backwards(steps in steps()) {
        let members = (1..=4u64)
            .map(|id| AllToAllMember::new(Member::new(id, 1), AllToAllConfig::new()).unwrap())
            .collect();
        check(members, &steps)?;
    }

    #[test]
    fn swim_members_never_date_events_backwards(steps in steps()) {
        let members = (1..=4u64)
            .map(|id| SwimMember::new(Member::new(id, 1), SwimConfig::lan().with_seed(id)).unwrap())
            .collect();
        check(members, &steps)?;
    }
}
