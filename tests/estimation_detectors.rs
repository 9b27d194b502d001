//! Behaviour of the Chen, Bertier, Satzger and two-windows detectors, each checked
//! against a naive recomputation of its paper's formula.

use std::time::Duration;

use failure_detector::{
    Bertier, BertierConfig, Chen, ChenConfig, ConfigError, FailureDetector, HeartbeatError,
    Satzger, SatzgerConfig, Timestamp, TwoWindows, TwoWindowsConfig,
};

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
    for (at, seq) in arrivals(300, 5) {
        history.push((at, seq));
        fd.heartbeat_with_seq(Timestamp::from_nanos(at), seq)
            .unwrap();
        let expected = naive_expected(&history, 50)
            .max(naive_expected(&history, 3))
            .max(0.0)
            + 4e6;
        assert_offset(&fd, expected);
        check_contract(&fd);
    }
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
        if let Some(&(last_at, _)) = history.last() {
            let error = (at - last_at) as f64 - previous_expected - delay;
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
    let field = |e: ConfigError| match e {
        ConfigError::NotFinite { field }
        | ConfigError::NotPositive { field }
        | ConfigError::OutOfRange { field, .. } => field,
        _ => "?",
    };
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
