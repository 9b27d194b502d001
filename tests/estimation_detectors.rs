//! Behaviour of the Chen, Bertier, Satzger and two-windows detectors, each checked
//! against a naive recomputation of its paper's formula.

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, ConfigError, FailureDetector, HeartbeatError,
    Satzger, SatzgerConfig, Timestamp, TwoWindows, TwoWindowsConfig,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const ETA: u64 = 100_000_000; // 100 ms

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// A deterministic arrival process: period 100 ms, 0-30 ms of delay, an occasional
/// lost heartbeat and an occasional 400 ms hiccup.
fn arrivals(n: usize, seed: u64) -> Vec<(u64, u64)> {
    let mut state = seed | 1;
    let mut out = Vec::new();
    let mut seq = 0u64;
    let mut last = 0;
    while out.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        seq += if state.is_multiple_of(50) { 2 } else { 1 };
        let mut at = seq * ETA + (state >> 20) % 30_000_000;
        if state.is_multiple_of(97) {
            at += 400_000_000;
        }
        at = at.max(last + 1);
        last = at;
        out.push((at, seq));
    }
    out
}

/// Chen's EA(k+1) - A_k from the last `n` (arrival, seq) pairs, literally.
fn naive_expected(history: &[(u64, u64)], n: usize) -> f64 {
    let tail = &history[history.len().saturating_sub(n)..];
    let (a0, s0) = history[0];
    let mean = tail
        .iter()
        .map(|&(a, s)| (a - a0) as f64 - ETA as f64 * (s - s0) as f64)
        .sum::<f64>()
        / tail.len() as f64;
    let (last_at, last_seq) = *history.last().unwrap();
    mean + ETA as f64 * (last_seq - s0 + 1) as f64 - (last_at - a0) as f64
}

fn offset(fd: &impl FailureDetector) -> f64 {
    (fd.deadline().unwrap().as_nanos() - fd.last_heartbeat().unwrap().as_nanos()) as f64
}

/// The deadline offset is the real one rounded up to the nanosecond: never early, less
/// than 1 ns late (give or take the oracle's own floating-point error).
fn assert_offset(fd: &impl FailureDetector, expected: f64) {
    let got = offset(fd);
    let slack = 1e-6 + expected.abs() * 1e-12;
    assert!(
        got >= expected - slack && got < expected + 1.0 + slack,
        "offset {got} vs {expected}"
    );
}

/// The contract every detector keeps, checked after each heartbeat.
fn check_contract<D: FailureDetector>(fd: &D) {
    let deadline = fd.deadline().expect("monitoring");
    let last = fd.last_heartbeat().unwrap();
    assert!(deadline > last);
    assert_eq!(fd.deadline_for(fd.threshold()), Some(deadline));
    assert!(fd.is_available(deadline - Duration::from_nanos(1)));
    assert!(!fd.is_available(deadline));
    let before = fd.suspicion(deadline - Duration::from_nanos(2));
    let at = fd.suspicion(deadline);
    assert!(before <= at && at.is_finite() && before >= 0.0);
    assert!(
        at >= fd.threshold() * (1.0 - 1e-9),
        "{at} < {}",
        fd.threshold()
    );
    assert!(before < fd.threshold() * (1.0 + 1e-9), "{before}");
    assert!(fd.suspicion(last) < fd.threshold());
}

fn refuses_out_of_order<D: FailureDetector + Clone + std::fmt::Debug>(mut fd: D) {
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.suspicion(Timestamp::from_secs(5)), 0.0);
    assert!(fd.is_available(Timestamp::MAX));
    fd.heartbeat(Timestamp::from_secs(10)).unwrap();
    fd.heartbeat(Timestamp::from_millis(10_100)).unwrap();
    let deadline = fd.deadline();
    let stats = fd.stats();
    assert_eq!(
        fd.heartbeat(Timestamp::from_secs(10)),
        Err(HeartbeatError::OutOfOrder {
            at: Timestamp::from_secs(10),
            last: Timestamp::from_millis(10_100)
        })
    );
    assert_eq!(
        fd.heartbeat(Timestamp::from_millis(10_100)),
        Err(HeartbeatError::Duplicate {
            at: Timestamp::from_millis(10_100)
        })
    );
    assert_eq!(fd.deadline(), deadline);
    assert_eq!(fd.stats(), stats);
    // Silence long enough to overflow nothing.
    assert!(fd.suspicion(Timestamp::MAX).is_finite());
    fd.reset();
    assert_eq!(fd.deadline(), None);
    assert_eq!(fd.last_heartbeat(), None);
}

#[test]
fn chen_matches_the_formula_and_keeps_the_contract() {
    for n in [1, 5, 64] {
        let cfg = ChenConfig::new()
            .with_interval(Duration::from_nanos(ETA))
            .with_window_size(n)
            .with_safety_margin(ms(7));
        let (mut inferred, mut sequenced) = (Chen::new(cfg).unwrap(), Chen::new(cfg).unwrap());
        let mut history = Vec::new();
        for (at, seq) in arrivals(400, 11) {
            history.push((at, seq));
            sequenced
                .heartbeat_with_seq(Timestamp::from_nanos(at), seq)
                .unwrap();
            inferred.heartbeat(Timestamp::from_nanos(at)).unwrap();
            // The next heartbeat is not expected before this one.
            let expected = naive_expected(&history, n).max(0.0) + 7e6;
            assert_offset(&sequenced, expected);
            check_contract(&sequenced);
            check_contract(&inferred);
        }
        // Inferred sequence numbers agree with the real ones here: delays vary by
        // less than half a period except at the 400 ms hiccups.
        assert!((offset(&inferred) - offset(&sequenced)).abs() < 5e8);
    }
}

#[test]
fn chen_infers_losses_and_ignores_stale_sequence_numbers() {
    let cfg = ChenConfig::new()
        .with_interval(ms(100))
        .with_safety_margin(ms(10));
    let mut fd = Chen::new(cfg).unwrap();
    for (i, t) in [0, 100, 200, 500, 600].into_iter().enumerate() {
        // 300 and 400 were lost: counted from the gap.
        fd.heartbeat(Timestamp::from_millis(t)).unwrap();
        assert!(i < 5);
    }
    assert_eq!(fd.expected_arrival(), Some(Timestamp::from_millis(700)));
    let mut fd = Chen::new(cfg).unwrap();
    assert!(
        fd.heartbeat_with_seq(Timestamp::from_millis(0), 10)
            .unwrap()
    );
    assert!(
        fd.heartbeat_with_seq(Timestamp::from_millis(100), 11)
            .unwrap()
    );
    let deadline = fd.deadline();
    // An older heartbeat overtaken by the network: ignored.
    assert!(
        !fd.heartbeat_with_seq(Timestamp::from_millis(150), 9)
            .unwrap()
    );
    assert!(
        !fd.heartbeat_with_seq(Timestamp::from_millis(150), 11)
            .unwrap()
    );
    assert_eq!(fd.deadline(), deadline);
    assert_eq!(fd.last_heartbeat(), Some(Timestamp::from_millis(100)));
    let d = deadline.unwrap();
    assert!(d >= Timestamp::from_millis(210) && d <= Timestamp::from_nanos(210_000_001));
}

#[test]
fn two_windows_is_the_later_of_two_chen_estimates() {
    let cfg = TwoWindowsConfig::new()
        .with_interval(Duration::from_nanos(ETA))
        .with_long_window(50)
        .with_short_window(3)
        .with_safety_margin(ms(4));
    let mut fd = TwoWindows::new(cfg).unwrap();
    let mut history = Vec::new();
    let mut pending = 0;
    for (at, seq) in arrivals(300, 5) {
        let gap = history.last().map_or(0, |&(last, _)| at - last);
        history.push((at, seq));
        fd.heartbeat_with_seq(Timestamp::from_nanos(at), seq)
            .unwrap();
        let expected = naive_expected(&history, 50)
            .max(naive_expected(&history, 3))
            .max(0.0)
            + 4e6;
        if gap >= 2 * ETA && offset(&fd) > expected + 1.0 {
            // After a gap of two periods, an arrival far from its slot may be the
            // first of a moved schedule: the deadline then waits for the later of
            // the old schedule's next slot and one period (plus the margin), at most
            // one and a half periods. The formula's holds again from the next.
            assert!(offset(&fd) <= 1.5 * ETA as f64 + 4e6 + 1.0);
            pending += 1;
        } else {
            assert_offset(&fd, expected);
        }
        check_contract(&fd);
    }
    assert!(pending < 5, "{pending}");
}

#[test]
fn bertier_follows_its_recurrences() {
    let cfg = BertierConfig::new()
        .with_interval(Duration::from_nanos(ETA))
        .with_window_size(20);
    let mut fd = Bertier::new(cfg).unwrap();
    let (mut delay, mut var) = (0.0f64, 0.0f64);
    let mut history: Vec<(u64, u64)> = Vec::new();
    let mut previous_expected = 0.0;
    for (at, seq) in arrivals(300, 3) {
        if let Some(&(last_at, last_seq)) = history.last() {
            // A_k - EA(k) for this heartbeat's own sequence number: a lost heartbeat
            // before it is not lateness.
            let lost = (seq - last_seq - 1) as f64 * ETA as f64;
            let error = (at - last_at) as f64 - previous_expected - lost - delay;
            delay += 0.1 * error;
            var += 0.1 * (error.abs() - var);
        }
        history.push((at, seq));
        previous_expected = naive_expected(&history, 20);
        fd.heartbeat_with_seq(Timestamp::from_nanos(at), seq)
            .unwrap();
        let expected = (previous_expected + delay).max(0.0) + 4.0 * var.max(1.0);
        assert_offset(&fd, expected);
        check_contract(&fd);
    }
    assert!(fd.margin() > Duration::ZERO);
}

#[test]
fn satzger_is_the_empirical_distribution() {
    for (n, threshold) in [(1, 0.5), (7, 0.5), (50, 0.9), (50, 1.0), (64, 0.99)] {
        let cfg = SatzgerConfig::new()
            .with_window_size(n)
            .with_threshold(threshold)
            .with_first_heartbeat_estimate(ms(100));
        let mut fd = Satzger::new(cfg).unwrap();
        let mut intervals = vec![ETA];
        let mut last = None;
        for (at, _) in arrivals(300, 9) {
            if let Some(last) = last {
                intervals.push(at - last);
            }
            last = Some(at);
            fd.heartbeat(Timestamp::from_nanos(at)).unwrap();
            let mut window = intervals[intervals.len().saturating_sub(n)..].to_vec();
            window.sort_unstable();
            let len = window.len();
            let k = (1..=len)
                .find(|&k| k as f64 / len as f64 >= threshold)
                .unwrap();
            assert_eq!(offset(&fd), window[k - 1] as f64, "n {n} t {threshold}");
            for probe in [window[0], window[len / 2], window[len - 1]] {
                let share = window.iter().filter(|&&x| x <= probe).count() as f64 / len as f64;
                assert_eq!(fd.suspicion(Timestamp::from_nanos(at + probe)), share);
            }
            check_contract(&fd);
        }
    }
}

#[test]
fn every_new_detector_refuses_bad_input_and_resets() {
    let i = ms(100);
    refuses_out_of_order(Chen::new(ChenConfig::new().with_interval(i)).unwrap());
    refuses_out_of_order(Bertier::new(BertierConfig::new().with_interval(i)).unwrap());
    refuses_out_of_order(Satzger::new(SatzgerConfig::new()).unwrap());
    refuses_out_of_order(TwoWindows::new(TwoWindowsConfig::new().with_interval(i)).unwrap());
}

#[test]
fn configs_are_validated_field_by_field() {
    let field = |e: ConfigError| e.field();
    let chen = ChenConfig::new();
    assert_eq!(
        field(Chen::new(chen.with_interval(Duration::ZERO)).unwrap_err()),
        "interval"
    );
    assert_eq!(
        field(Chen::new(chen.with_interval(Duration::from_secs(1 << 40))).unwrap_err()),
        "interval"
    );
    assert_eq!(
        field(Chen::new(chen.with_window_size(0)).unwrap_err()),
        "window_size"
    );
    assert_eq!(
        field(Chen::new(chen.with_window_size(1 << 16)).unwrap_err()),
        "window_size"
    );
    assert_eq!(
        field(Chen::new(chen.with_safety_margin(Duration::ZERO)).unwrap_err()),
        "safety_margin"
    );

    let b = BertierConfig::new();
    assert_eq!(
        field(Bertier::new(b.with_phi(f64::NAN)).unwrap_err()),
        "phi"
    );
    assert_eq!(field(Bertier::new(b.with_phi(0.0)).unwrap_err()), "phi");
    assert_eq!(field(Bertier::new(b.with_beta(-1.0)).unwrap_err()), "beta");
    assert_eq!(field(Bertier::new(b.with_gamma(1.5)).unwrap_err()), "gamma");
    assert_eq!(
        field(Bertier::new(b.with_gamma(f64::INFINITY)).unwrap_err()),
        "gamma"
    );
    assert_eq!(
        field(Bertier::new(b.with_window_size(0)).unwrap_err()),
        "window_size"
    );
    assert_eq!(
        field(Bertier::new(b.with_interval(Duration::ZERO)).unwrap_err()),
        "interval"
    );

    let s = SatzgerConfig::new();
    assert_eq!(
        field(Satzger::new(s.with_threshold(1.01)).unwrap_err()),
        "threshold"
    );
    assert_eq!(
        field(Satzger::new(s.with_threshold(0.0)).unwrap_err()),
        "threshold"
    );
    assert_eq!(
        field(Satzger::new(s.with_threshold(f64::NAN)).unwrap_err()),
        "threshold"
    );
    assert_eq!(
        field(Satzger::new(s.with_window_size(0)).unwrap_err()),
        "window_size"
    );
    assert_eq!(
        field(Satzger::new(s.with_first_heartbeat_estimate(Duration::ZERO)).unwrap_err()),
        "first_heartbeat_estimate"
    );

    let w = TwoWindowsConfig::new();
    assert_eq!(
        field(TwoWindows::new(w.with_short_window(0)).unwrap_err()),
        "short_window"
    );
    assert_eq!(
        field(TwoWindows::new(w.with_long_window(10).with_short_window(11)).unwrap_err()),
        "short_window"
    );
    assert_eq!(
        field(TwoWindows::new(w.with_long_window(0)).unwrap_err()),
        "long_window"
    );
    assert_eq!(
        field(TwoWindows::new(w.with_safety_margin(Duration::ZERO)).unwrap_err()),
        "safety_margin"
    );
    assert!(TwoWindows::new(w.with_long_window(10).with_short_window(10)).is_ok());
}

#[test]
fn the_trait_objects_work() {
    let i = ms(100);
    let mut all: Vec<Box<dyn FailureDetector + Send>> = vec![
        Box::new(Chen::new(ChenConfig::new().with_interval(i)).unwrap()),
        Box::new(Bertier::new(BertierConfig::new().with_interval(i)).unwrap()),
        Box::new(Satzger::new(SatzgerConfig::new()).unwrap()),
        Box::new(TwoWindows::new(TwoWindowsConfig::new().with_interval(i)).unwrap()),
    ];
    for fd in &mut all {
        for k in 0..30 {
            fd.heartbeat(Timestamp::from_millis(100 * k)).unwrap();
        }
        assert!(fd.is_available(Timestamp::from_millis(2_950)));
        assert!(!fd.is_available(Timestamp::from_secs(60)));
        assert!(fd.stats().samples > 0);
    }
}

#[test]
fn sizes_are_as_documented() {
    assert!(std::mem::size_of::<Chen>() < 300);
    assert!(std::mem::size_of::<Bertier>() < 300);
    assert!(std::mem::size_of::<TwoWindows>() < 300);
    assert!(std::mem::size_of::<Satzger>() < 200);
    let satzger = Satzger::new(SatzgerConfig::new()).unwrap();
    assert!(satzger.memory_bytes() >= 1000 * 40);
    assert!(satzger.memory_bytes() < 1000 * 40 + 200);
}

/// How far after the last heartbeat a margin detector's deadline may lie: the next
/// heartbeat is expected at most 18 periods after the last, plus the margin.
fn margin_bound(eta_ns: u64, margin_ns: u64) -> u64 {
    18 * eta_ns + margin_ns + 1
}

/// Bertier's bound: `c * (1 + beta + 2 * phi)` with `c` 18 periods, plus `phi` ns.
fn bertier_bound(cfg: &BertierConfig) -> f64 {
    let c = 18.0 * cfg.interval.as_nanos() as f64;
    (c * (1.0 + cfg.beta + 2.0 * cfg.phi) + cfg.phi + 2.0) * (1.0 + 1e-12)
}

fn deadline_offset(fd: &impl FailureDetector) -> u64 {
    fd.deadline().expect("a deadline within range").as_nanos()
        - fd.last_heartbeat().unwrap().as_nanos()
}

/// The reproductions: a sequence number of `u64::MAX`, or a jump of 10^6,
/// used to put the deadline days away (or beyond `Timestamp::MAX`) and make every
/// later, ordinary sequence number stale, so the node could never be suspected.
#[test]
fn a_sequence_number_jump_cannot_disable_detection() {
    for jump in [u64::MAX, 1_000_000, 1 << 63, 17] {
        let cfg = ChenConfig::new()
            .with_interval(ms(100))
            .with_safety_margin(ms(10));
        let mut chen = Chen::new(cfg).unwrap();
        let mut windows = TwoWindows::new(
            TwoWindowsConfig::new()
                .with_interval(ms(100))
                .with_short_window(3)
                .with_safety_margin(ms(10)),
        )
        .unwrap();
        let bcfg = BertierConfig::new().with_interval(ms(100));
        let mut bertier = Bertier::new(bcfg).unwrap();
        for (k, seq) in (0..50u64).zip(1_000u64..) {
            let at = Timestamp::from_millis(100 * k + 3);
            // One hostile (or restarted) datagram at heartbeat 20.
            let s = if k == 20 { seq.wrapping_add(jump) } else { seq };
            chen.heartbeat_with_seq(at, s).unwrap();
            windows.heartbeat_with_seq(at, s).unwrap();
            bertier.heartbeat_with_seq(at, s).unwrap();
            assert!(
                deadline_offset(&chen) <= margin_bound(ETA, 10_000_000),
                "{jump} {k}"
            );
            assert!(deadline_offset(&windows) <= margin_bound(ETA, 10_000_000));
            assert!(deadline_offset(&bertier) as f64 <= bertier_bound(&bcfg));
            assert!(bertier.stats().mean_ns >= 0.0, "{jump} {k}");
        }
        // Ordinary heartbeats after the jump are recorded: detection works again,
        // on the sender's schedule (next due at 5003 ms, suspected 10 ms after).
        for fd in [&chen as &dyn FailureDetector, &windows] {
            assert_eq!(fd.last_heartbeat(), Some(Timestamp::from_millis(4_903)));
            assert!(fd.is_available(Timestamp::from_millis(5_010)), "{jump}");
            assert!(!fd.is_available(Timestamp::from_millis(5_014)), "{jump}");
        }
        assert!(
            !bertier.is_available(Timestamp::from_millis(5_500)),
            "{jump}"
        );
    }
}

/// A sender whose counter restarted (from 0, after a crash and restart) is followed:
/// its heartbeats are not ignored as stale.
#[test]
fn a_restarted_sender_counter_is_followed() {
    let cfg = ChenConfig::new()
        .with_interval(ms(100))
        .with_safety_margin(ms(10));
    let mut fd = Chen::new(cfg).unwrap();
    for k in 0..100u64 {
        assert!(
            fd.heartbeat_with_seq(Timestamp::from_millis(100 * k), 5_000 + k)
                .unwrap()
        );
    }
    // Restarted 2 s later: its numbers start again at 0.
    for k in 0..10u64 {
        let at = Timestamp::from_millis(12_000 + 100 * k);
        assert!(fd.heartbeat_with_seq(at, k).unwrap(), "{k}");
        assert_eq!(fd.last_heartbeat(), Some(at));
    }
    assert_eq!(fd.expected_arrival(), Some(Timestamp::from_millis(13_000)));
    // A datagram a few numbers behind the newest is still stale.
    assert!(
        !fd.heartbeat_with_seq(Timestamp::from_millis(12_950), 7)
            .unwrap()
    );
}

/// A silence of days, then heartbeats again: with inferred or given sequence
/// numbers, the state is that of a node that paused, not days of lateness.
#[test]
fn a_silence_of_days_leaves_sane_state() {
    const DAYS: u64 = 3 * 86_400_000;
    let bcfg = BertierConfig::new().with_interval(ms(100));
    for with_seq in [false, true] {
        let mut bertier = Bertier::new(bcfg).unwrap();
        let mut chen = Chen::new(
            ChenConfig::new()
                .with_interval(ms(100))
                .with_safety_margin(ms(10)),
        )
        .unwrap();
        let mut k = 0u64;
        let mut beat = |at_ms: u64, bertier: &mut Bertier, chen: &mut Chen| {
            let at = Timestamp::from_millis(at_ms);
            if with_seq {
                bertier.heartbeat_with_seq(at, k).unwrap();
                chen.heartbeat_with_seq(at, k).unwrap();
            } else {
                bertier.heartbeat(at).unwrap();
                chen.heartbeat(at).unwrap();
            }
            k += 1;
        };
        for i in 0..50 {
            beat(100 * i + 2 * (i % 3), &mut bertier, &mut chen);
        }
        for i in 0..3 {
            beat(DAYS + 100 * i, &mut bertier, &mut chen);
            assert!(bertier.stats().mean_ns >= 0.0);
            assert!(deadline_offset(&bertier) as f64 <= bertier_bound(&bcfg));
            assert!(
                bertier.margin() < Duration::from_secs(10),
                "{:?}",
                bertier.margin()
            );
            assert!(deadline_offset(&chen) <= margin_bound(ETA, 10_000_000));
        }
        // Chen expects the next heartbeat on the schedule, give or take the 0 to
        // 4 ms of lateness its window learnt before the silence.
        let expected = chen.expected_arrival().unwrap();
        assert!(expected >= Timestamp::from_millis(DAYS + 300));
        assert!(
            expected <= Timestamp::from_millis(DAYS + 304),
            "{expected:?}"
        );
    }
}

/// One heartbeat of a random sequence: the gap since the previous one, and how its
/// sequence number is made from the previous one's (`None`: no number).
#[derive(Clone, Copy, Debug)]
enum Seq {
    None,
    Next(u64),
    Back(u64),
    Any(u64),
}

fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 50_000_000u64..150_000_000,
        2 => 1u64..1_000,
        1 => 150_000_000u64..5_000_000_000,
        1 => 1u64 << 30..1u64 << 50,
        1 => any::<u64>(),
    ]
}

fn seq() -> impl Strategy<Value = Seq> {
    prop_oneof![
        3 => Just(Seq::None),
        6 => (1u64..3).prop_map(Seq::Next),
        1 => (3u64..1_000_000).prop_map(Seq::Next),
        1 => (0u64..40).prop_map(Seq::Back),
        1 => any::<u64>().prop_map(Seq::Any),
        1 => Just(Seq::Any(u64::MAX)),
    ]
}

fn interval() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(1)),
        Just(Duration::from_millis(100)),
        Just(Duration::from_secs(1)),
        Just(Duration::from_nanos(1 << 47)),
    ]
}

/// Feeds the sequence to `fd` (through `beat`), checking after each heartbeat that
/// the deadline is at most `bound` after it and that suspicion is a number >= 0.
fn run_sequence<D: FailureDetector>(
    fd: &mut D,
    start: u64,
    ops: &[(u64, Seq)],
    mut beat: impl FnMut(&mut D, Timestamp, Option<u64>),
    bound: f64,
    mut check: impl FnMut(&D),
) {
    let (mut t, mut s) = (start, 0u64);
    for &(gap, op) in ops {
        // Detectors refuse heartbeats past their horizon (tested elsewhere): stop there.
        match t.checked_add(gap) {
            Some(next) if next <= Timestamp::HORIZON.as_nanos() => t = next,
            _ => break,
        }
        s = match op {
            Seq::None => s,
            Seq::Next(d) => s.wrapping_add(d),
            Seq::Back(d) => s.wrapping_sub(d),
            Seq::Any(x) => x,
        };
        let given = (!matches!(op, Seq::None)).then_some(s);
        beat(fd, Timestamp::from_nanos(t), given);
        let last = fd.last_heartbeat().unwrap().as_nanos();
        match fd.deadline() {
            Some(d) => {
                let offset = (d.as_nanos() - last) as f64;
                assert!(
                    offset >= 1.0 && offset <= bound,
                    "offset {offset} > {bound}"
                );
            }
            // Beyond the end of the clock: only if the bound reaches past it.
            None => assert!(last as f64 + bound >= u64::MAX as f64, "no deadline"),
        }
        for probe in [0, 1, gap / 2, gap, u64::MAX / 2, u64::MAX] {
            let q = fd.suspicion(Timestamp::from_nanos(last.saturating_add(probe)));
            assert!(q >= 0.0 && !q.is_nan(), "suspicion {q}");
        }
        check(fd);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the sequence numbers and times: Chen's and the two-windows deadline is
    /// at most 18 periods plus the margin after the last heartbeat, Bertier's at most
    /// 18 periods times `1 + beta + 2 * phi` (plus `phi` ns), suspicion is never NaN
    /// or negative, and Bertier's mean is never negative.
    #[test]
    fn sequence_numbers_and_times_keep_state_bounded(
        start in prop_oneof![
            0u64..1 << 40,
            Timestamp::HORIZON.as_nanos() - (1 << 40)..Timestamp::HORIZON.as_nanos(),
        ],
        ops in proptest::collection::vec((gap(), seq()), 1..60),
        eta in interval(),
        window in prop_oneof![Just(1usize), Just(2), Just(16), Just(1000)],
        margin in prop_oneof![Just(1u64), Just(10_000_000), Just(3_600_000_000_000)],
        beta in prop_oneof![Just(0.01), Just(1.0), Just(100.0)],
        phi in prop_oneof![Just(0.01), Just(4.0), Just(1000.0)],
        gamma in prop_oneof![Just(0.01), Just(0.1), Just(1.0)],
    ) {
        let eta_ns = eta.as_nanos() as u64;
        let margin_slack = (margin_bound(eta_ns, margin) + 1) as f64;
        let cfg = ChenConfig::new()
            .with_interval(eta)
            .with_window_size(window)
            .with_safety_margin(Duration::from_nanos(margin));
        let mut chen = Chen::new(cfg).unwrap();
        run_sequence(&mut chen, start, &ops, |fd, at, s| {
            match s {
                Some(s) => { fd.heartbeat_with_seq(at, s).unwrap(); }
                None => fd.heartbeat(at).unwrap(),
            }
        }, margin_slack, |_| {});

        let cfg = TwoWindowsConfig::new()
            .with_interval(eta)
            .with_long_window(window)
            .with_short_window(window.min(3))
            .with_safety_margin(Duration::from_nanos(margin));
        let mut windows = TwoWindows::new(cfg).unwrap();
        run_sequence(&mut windows, start, &ops, |fd, at, s| {
            match s {
                Some(s) => { fd.heartbeat_with_seq(at, s).unwrap(); }
                None => fd.heartbeat(at).unwrap(),
            }
        }, margin_slack, |_| {});

        let cfg = BertierConfig::new()
            .with_interval(eta)
            .with_window_size(window)
            .with_beta(beta)
            .with_phi(phi)
            .with_gamma(gamma);
        let mut bertier = Bertier::new(cfg).unwrap();
        run_sequence(&mut bertier, start, &ops, |fd, at, s| {
            match s {
                Some(s) => { fd.heartbeat_with_seq(at, s).unwrap(); }
                None => fd.heartbeat(at).unwrap(),
            }
        }, bertier_bound(&cfg), |fd| {
            let stats = fd.stats();
            assert!(stats.mean_ns >= 0.0 && stats.mean_ns.is_finite(), "mean {}", stats.mean_ns);
            assert!(stats.std_dev_ns >= 0.0 && stats.std_dev_ns.is_finite());
        });
    }
}
