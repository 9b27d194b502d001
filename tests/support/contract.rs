//! The `FailureDetector` contract on random arrivals, shared by the property
//! tests of every detector (`tests/properties.rs`, `tests/ewma.rs`).
#![allow(dead_code)]

use std::fmt::Debug;

use failure_detector::{FailureDetector, HeartbeatError, Timestamp};
use proptest::prelude::*;

const MICRO: u64 = 1_000;

/// Gaps between arrivals: mostly around a second, sometimes tiny, sometimes long,
/// sometimes past the horizon.
pub fn gaps() -> impl Strategy<Value = Vec<u64>> {
    let gap = prop_oneof![
        8 => 500_000_000u64..1_500_000_000,
        1 => 1u64..1_000,
        1 => 1_000_000_000u64..60_000_000_000,
        1 => Just(u64::MAX / 2),
    ];
    proptest::collection::vec(gap, 1..40)
}

/// Silences at which to query after the last heartbeat: up to about 30 minutes,
/// or the end of time.
pub fn silences() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(prop_oneof![0u64..2_000_000_000_000, Just(u64::MAX)], 1..30)
}

/// Start times: near the origin, anywhere before the horizon, or close to it.
pub fn start() -> impl Strategy<Value = u64> {
    const HORIZON: u64 = Timestamp::HORIZON.as_nanos();
    prop_oneof![
        0u64..1_000,
        0u64..HORIZON,
        HORIZON - 100_000_000_000..HORIZON
    ]
}

/// Feeds `gaps` from `start` (refusing a duplicate and an earlier arrival after
/// each accepted one) and checks every promise of the trait along the way; `each`
/// checks what is particular to the detector after every accepted heartbeat.
pub fn check<D: FailureDetector + Debug>(
    mut fd: D,
    start: u64,
    gaps: &[u64],
    silences: &[u64],
    each: impl Fn(&D),
) {
    let threshold = fd.threshold();
    let mut t = start;
    for &gap in gaps {
        let next = t.saturating_add(gap);
        if next > Timestamp::HORIZON.as_nanos() {
            // Past the horizon: refused, nothing changed.
            let before = format!("{fd:?}");
            assert!(matches!(
                fd.heartbeat(Timestamp::from_nanos(next)),
                Err(HeartbeatError::PastHorizon { .. })
            ));
            assert_eq!(format!("{fd:?}"), before);
            break;
        }
        t = next;
        let at = Timestamp::from_nanos(t);
        fd.heartbeat(at).unwrap();
        assert_eq!(fd.last_heartbeat(), Some(at));

        // Refused input changes nothing.
        let before = format!("{fd:?}");
        assert!(matches!(
            fd.heartbeat(at),
            Err(HeartbeatError::Duplicate { .. })
        ));
        if t > 0 {
            assert!(matches!(
                fd.heartbeat(Timestamp::from_nanos(t - 1)),
                Err(HeartbeatError::OutOfOrder { .. })
            ));
        }
        assert_eq!(format!("{fd:?}"), before, "a refusal changed the detector");
        each(&fd);
        let s = fd.stats();
        assert!(s.mean_ns.is_finite() && s.mean_ns >= 0.0 && s.std_dev_ns.is_finite());

        // Suspicion: never NaN or negative, never decreasing while silent, and
        // `is_available` agrees with it everywhere (tests/consistency.rs checks
        // the deadline's neighbourhood).
        let mut sorted = silences.to_vec();
        sorted.sort_unstable();
        let mut prev = 0.0;
        for &s in &sorted {
            let now = Timestamp::from_nanos(t.saturating_add(s));
            let phi = fd.suspicion(now);
            assert!(!phi.is_nan() && phi >= 0.0, "suspicion {phi} at +{s} ns");
            assert!(
                phi >= prev,
                "suspicion fell from {prev} to {phi} at +{s} ns"
            );
            prev = phi;
            assert_eq!(fd.is_available(now), phi < threshold, "at +{s} ns");
        }
        assert_eq!(
            fd.suspicion(Timestamp::from_nanos(t / 2)),
            fd.suspicion(at),
            "before the heartbeat: as at the heartbeat"
        );

        let deadline = fd.deadline();
        assert_eq!(fd.deadline_for(threshold), deadline);
        match deadline {
            Some(d) => {
                let d = d.as_nanos();
                assert!(d > t, "available at the heartbeat itself");
                assert!(fd.is_available(Timestamp::from_nanos(d - 1)));
                assert!(!fd.is_available(Timestamp::from_nanos(d)));
                assert!(fd.suspicion(Timestamp::from_nanos(d - 1)) < threshold);
                assert!(fd.suspicion(Timestamp::from_nanos(d)) >= threshold);
                // The threshold is crossed within a microsecond of the deadline.
                if d - t > MICRO {
                    let early = fd.suspicion(Timestamp::from_nanos(d - MICRO));
                    assert!(early < threshold, "{early} >= {threshold} 1 us early");
                }
                if let Some(after) = d.checked_add(MICRO) {
                    let late = fd.suspicion(Timestamp::from_nanos(after));
                    assert!(late >= threshold, "{late} < {threshold} 1 us late");
                }
                // A higher level is reached no earlier.
                if let Some(higher) = fd.deadline_for(threshold * 2.0) {
                    assert!(higher >= Timestamp::from_nanos(d));
                }
            }
            None => assert!(fd.is_available(Timestamp::MAX)),
        }
    }
    fd.reset();
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.last_heartbeat(), None);
    assert_eq!(fd.suspicion(Timestamp::MAX), 0.0);
}
