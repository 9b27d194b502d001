//! Windows kept inside the detector (`InlineMicros`, `InlineMillis`, `InlineNanos`):
//! the same answers as the heap window, bit for bit, for every input; the
//! configuration checked against the type; one block per detector and per
//! registry node.

use std::time::Duration;

use failure_detector::{
    ConfigError, Event, ExponentialPhi, ExponentialPhiConfig, FailureDetector, InlineMicros,
    InlineMillis, InlineNanos, PhiAccrual, PhiAccrualConfig, PhiModel, Registry, RegistryConfig,
    Resolution, Timestamp, WindowStorage,
};
use proptest::prelude::*;

fn field(e: ConfigError) -> &'static str {
    assert!(
        matches!(e, ConfigError::OutOfRange { .. }),
        "unexpected {e:?}"
    );
    e.field()
}

/// The same answers, to the bit, from two detectors after each input.
fn same(a: &dyn FailureDetector, b: &dyn FailureDetector, probes: &[Timestamp], step: usize) {
    assert_eq!(a.deadline(), b.deadline(), "deadline after input {step}");
    assert_eq!(a.last_heartbeat(), b.last_heartbeat(), "input {step}");
    assert_eq!(a.stats(), b.stats(), "stats after input {step}");
    for level in [0.5, a.threshold(), 30.0] {
        assert_eq!(a.deadline_for(level), b.deadline_for(level), "input {step}");
    }
    for &now in probes {
        assert_eq!(
            a.suspicion(now).to_bits(),
            b.suspicion(now).to_bits(),
            "suspicion at {now:?} after input {step}"
        );
        assert_eq!(a.is_available(now), b.is_available(now), "input {step}");
    }
}

/// Feeds `gaps` (ns between inputs; a gap of 0 is a duplicate, and every fifth
/// input is also replayed a little in the past) to both detectors and compares
/// them after every input.
fn replay(a: &mut dyn FailureDetector, b: &mut dyn FailureDetector, gaps: &[u64]) {
    let mut t = 1_000_000_000u64;
    for (step, &gap) in gaps.iter().enumerate() {
        t = t.saturating_add(gap);
        let at = Timestamp::from_nanos(t);
        assert_eq!(a.heartbeat(at), b.heartbeat(at), "input {step}");
        if step % 5 == 4 {
            let past = Timestamp::from_nanos(t.saturating_sub(gap / 2 + 1));
            assert_eq!(a.heartbeat(past), b.heartbeat(past), "input {step}");
        }
        let probes = [
            at,
            Timestamp::from_nanos(t.saturating_add(gap / 3)),
            Timestamp::from_nanos(t.saturating_add(gap.saturating_mul(3))),
            Timestamp::from_nanos(t.saturating_add(20_000_000_000)),
        ];
        same(a, b, &probes, step);
    }
    a.reset();
    b.reset();
    same(a, b, &[Timestamp::from_secs(5)], gaps.len());
}

/// Intervals of every kind: sub-unit, around the units' halves, ordinary jitter,
/// duplicates, and longer than each resolution stores.
fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 900_000_000u64..1_100_000_000,
        2 => 0u64..3_000,
        2 => (1u64..5_000).prop_map(|k| k * 500_000),
        1 => Just(0u64),
        1 => 60_000_000_000u64..5_000_000_000_000,
        1 => Just(u64::MAX / 4),
    ]
}

fn phi_config(window: usize, resolution: Resolution) -> PhiAccrualConfig {
    PhiAccrualConfig::new()
        .with_max_sample_size(window)
        .with_resolution(resolution)
        .with_min_std_deviation(Duration::from_millis(20))
        .with_acceptable_heartbeat_pause(Duration::from_millis(300))
}

fn check_phi<S: WindowStorage>(window: usize, resolution: Resolution, gaps: &[u64]) {
    for model in [PhiModel::Logistic, PhiModel::Normal] {
        let config = phi_config(window, resolution).with_model(model);
        let mut heap = PhiAccrual::new(config).unwrap();
        let mut inline = PhiAccrual::<S>::with_storage(config).unwrap();
        replay(&mut heap, &mut inline, gaps);
    }
}

fn check_exponential<S: WindowStorage>(window: usize, resolution: Resolution, gaps: &[u64]) {
    let config = ExponentialPhiConfig::new()
        .with_window_size(window)
        .with_resolution(resolution)
        .with_max_interval(Duration::from_secs(60));
    let mut heap = ExponentialPhi::new(config).unwrap();
    let mut inline = ExponentialPhi::<S>::with_storage(config).unwrap();
    replay(&mut heap, &mut inline, gaps);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Inline windows of every resolution, full and not, equal the heap window.
    #[test]
    fn inline_windows_answer_as_the_heap_window(gaps in prop::collection::vec(gap(), 1..160)) {
        check_phi::<InlineMicros<1>>(1, Resolution::Microsecond, &gaps);
        check_phi::<InlineMicros<7>>(7, Resolution::Microsecond, &gaps);
        check_phi::<InlineMicros<100>>(100, Resolution::Microsecond, &gaps);
        check_phi::<InlineMillis<7>>(7, Resolution::Millisecond, &gaps);
        check_phi::<InlineNanos<7>>(7, Resolution::Nanosecond, &gaps);
        check_exponential::<InlineMicros<3>>(3, Resolution::Microsecond, &gaps);
        check_exponential::<InlineMillis<100>>(100, Resolution::Millisecond, &gaps);
        check_exponential::<InlineNanos<3>>(3, Resolution::Nanosecond, &gaps);
    }
}

#[test]
fn a_configuration_that_does_not_match_the_type_is_refused() {
    let ok = PhiAccrualConfig::new().with_max_sample_size(100);
    assert!(PhiAccrual::<InlineMicros<100>>::with_storage(ok).is_ok());
    let e = PhiAccrual::<InlineMicros<100>>::with_storage(ok.with_max_sample_size(99));
    assert_eq!(field(e.unwrap_err()), "max_sample_size");
    // The default window of 1000 is not 100.
    let e = PhiAccrual::<InlineMicros<100>>::with_storage(PhiAccrualConfig::new());
    assert_eq!(field(e.unwrap_err()), "max_sample_size");
    let e = PhiAccrual::<InlineMillis<100>>::with_storage(ok);
    assert_eq!(field(e.unwrap_err()), "resolution");
    let e =
        PhiAccrual::<InlineNanos<100>>::with_storage(ok.with_resolution(Resolution::Millisecond));
    assert_eq!(field(e.unwrap_err()), "resolution");
    // N out of the range every window has (0, or above 32,768): refused (by the
    // window size check, which comes first).
    let e = PhiAccrual::<InlineMicros<0>>::with_storage(ok.with_max_sample_size(0));
    assert!(e.is_err());
    let e = PhiAccrual::<InlineMillis<40_000>>::with_storage(
        ok.with_max_sample_size(40_000)
            .with_resolution(Resolution::Millisecond),
    );
    assert_eq!(field(e.unwrap_err()), "max_sample_size");
    // At most 16 KiB of slots inline: larger windows belong on the heap.
    let big = |n: usize, r: Resolution| ok.with_max_sample_size(n).with_resolution(r);
    assert!(
        PhiAccrual::<InlineMicros<4096>>::with_storage(big(4096, Resolution::Microsecond)).is_ok()
    );
    let e = PhiAccrual::<InlineMicros<4097>>::with_storage(big(4097, Resolution::Microsecond));
    assert_eq!(field(e.unwrap_err()), "max_sample_size");
    let e = PhiAccrual::<InlineNanos<2049>>::with_storage(big(2049, Resolution::Nanosecond));
    assert_eq!(field(e.unwrap_err()), "max_sample_size");
    let e = ExponentialPhi::<InlineMillis<8193>>::with_storage(
        ExponentialPhiConfig::new()
            .with_window_size(8193)
            .with_resolution(Resolution::Millisecond),
    );
    assert_eq!(field(e.unwrap_err()), "window_size");
    // The rest of the configuration is checked as for the heap window.
    let e = PhiAccrual::<InlineMicros<100>>::with_storage(ok.with_threshold(f64::NAN));
    assert!(e.is_err());

    let exp = ExponentialPhiConfig::new().with_window_size(10);
    assert!(ExponentialPhi::<InlineMicros<10>>::with_storage(exp).is_ok());
    let e = ExponentialPhi::<InlineMicros<11>>::with_storage(exp);
    assert_eq!(field(e.unwrap_err()), "window_size");
    let e = ExponentialPhi::<InlineNanos<10>>::with_storage(exp);
    assert_eq!(field(e.unwrap_err()), "resolution");
}

/// One block, nothing on the heap, nothing growing; the documented sizes.
#[cfg(target_pointer_width = "64")]
#[test]
fn an_inline_detector_is_one_block_of_the_documented_size() {
    let config = PhiAccrualConfig::new().with_max_sample_size(100);
    let mut phi = PhiAccrual::<InlineMicros<100>>::with_storage(config).unwrap();
    assert_eq!(std::mem::size_of_val(&phi), 472);
    assert_eq!(phi.memory_bytes(), 472);
    let mut t = 0u64;
    for i in 0..1_000u64 {
        t += if i % 100 == 99 {
            1 << 60
        } else {
            1_000_000_000
        };
        let _ = phi.heartbeat(Timestamp::from_nanos(t));
    }
    assert_eq!(phi.memory_bytes(), 472);
    let ms = config.with_resolution(Resolution::Millisecond);
    let phi_ms = PhiAccrual::<InlineMillis<100>>::with_storage(ms).unwrap();
    assert_eq!(phi_ms.memory_bytes(), 272);
    assert_eq!(
        std::mem::size_of::<ExponentialPhi<InlineMicros<100>>>(),
        464
    );
    // The heap window: the detector plus its slots.
    let heap = PhiAccrual::new(config).unwrap();
    assert_eq!(heap.memory_bytes(), std::mem::size_of::<PhiAccrual>() + 400);
}

/// A registry of inline detectors behaves exactly as one of heap detectors: the
/// same events in the same order, the same snapshots.
#[test]
fn a_registry_of_inline_detectors_behaves_as_one_of_heap_detectors() {
    let config = phi_config(20, Resolution::Microsecond);
    let (heap, heap_events) =
        Registry::<u64, _>::new(RegistryConfig::new(), PhiAccrual::new(config).unwrap()).unwrap();
    let inline_fd = PhiAccrual::<InlineMicros<20>>::with_storage(config).unwrap();
    let (inline, inline_events) =
        Registry::<u64, _>::new(RegistryConfig::new(), inline_fd).unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut t = 1_000_000_000u64;
    for step in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let node = x % 300;
        // Nodes in the top sixth fall silent after a while (and some come back).
        if node >= 250 && (step / 4_000) % 2 == 1 {
            continue;
        }
        t += x % 2_000_000;
        let at = Timestamp::from_nanos(t);
        assert_eq!(heap.heartbeat(&node, at), inline.heartbeat(&node, at));
        if step % 500 == 0 {
            heap.tick(at);
            inline.tick(at);
        }
    }
    let end = Timestamp::from_nanos(t + 10_000_000_000);
    heap.tick(end);
    inline.tick(end);
    let mut a = heap.snapshot(end);
    let mut b = inline.snapshot(end);
    a.sort_by_key(|n| n.node);
    b.sort_by_key(|n| n.node);
    assert_eq!(a, b);
    // Per node, the same events in the same order (shards interleave differently).
    let by_node = |events: Vec<Event<u64>>| {
        let mut v: Vec<_> = events.into_iter().map(|e| (*e.node(), e)).collect();
        v.sort_by_key(|(n, _)| *n);
        v
    };
    let ea = by_node(heap_events.try_iter().collect());
    let eb = by_node(inline_events.try_iter().collect());
    assert!(ea.len() > 300, "too few events: {}", ea.len());
    assert_eq!(ea, eb);
}

/// The largest inline window allowed (16 KiB of slots) is built, cloned into a
/// registry's nodes and fed on a thread with a 2 MiB stack, in any build.
#[test]
fn the_largest_inline_window_fits_a_small_stack() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let config = PhiAccrualConfig::new()
                .with_max_sample_size(2048)
                .with_resolution(Resolution::Nanosecond);
            let fd = PhiAccrual::<InlineNanos<2048>>::with_storage(config).unwrap();
            let (registry, _events) = Registry::<u64, _>::new(RegistryConfig::new(), fd).unwrap();
            for round in 1..4u64 {
                for node in 0..20u64 {
                    registry
                        .heartbeat(&node, Timestamp::from_secs(round))
                        .unwrap();
                }
            }
            registry.len()
        })
        .unwrap();
    assert_eq!(worker.join().unwrap(), 20);
}
