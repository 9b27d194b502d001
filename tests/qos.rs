//! The QoS lab: metrics worked out on paper, the identities of Chen et al., generator
//! statistics, the LIP6 reader, determinism, and sweeps.

use std::path::PathBuf;
use std::time::Duration;

use failure_detector::qos::{
    Delay, Family, FamilyConfig, Loss, Network, ReplayConfig, Scenario, Trace, TraceError, replay,
    replay_listing, sweep,
};
use failure_detector::{
    FailureDetector, FixedTimeout, FixedTimeoutConfig, PhiAccrual, PhiAccrualConfig, Timestamp,
};

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn fixed(interval_ms: u64, missed: f64) -> FixedTimeout {
    FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(ms(interval_ms))
            .with_missed_heartbeats(missed),
    )
    .unwrap()
}

fn trace_ms(arrivals: &[u64]) -> Trace {
    Trace::from_timestamps(
        arrivals
            .iter()
            .map(|&t| Timestamp::from_millis(t))
            .collect(),
    )
    .unwrap()
}

#[test]
fn fixed_timeout_with_two_late_heartbeats() {
    // Every 100 ms, timeout 150 ms. The heartbeats due at 300 and 700 ms arrive at
    // 420 and 900 ms: suspected at 350 ms until 420 (70 ms), at 750 ms until 900
    // (150 ms). The 800 ms heartbeat is lost, which is the same as late.
    let trace = trace_ms(&[0, 100, 200, 420, 500, 600, 900, 1000]);
    let m = replay(&mut fixed(100, 1.5), &trace, &ReplayConfig::new());
    assert_eq!(m.heartbeats, 8);
    assert_eq!(m.observed, ms(1000));
    assert_eq!(m.mistakes, 2);
    assert_eq!(m.mistake_time, ms(220));
    assert_eq!(m.mistake_duration(), Some(ms(110)));
    assert_eq!(m.mistake_recurrence(), Some(ms(400))); // 350 ms -> 750 ms
    assert!((m.mistake_rate() - 2.0).abs() < 1e-12); // 2 in 1 s
    assert!((m.query_accuracy() - 0.78).abs() < 1e-12);
    // Every injected crash is detected 150 ms after the last heartbeat.
    assert_eq!(m.detection.crashes, 8);
    assert_eq!(m.detection.mean, Some(ms(150)));
    assert_eq!(m.detection.p99, Some(ms(150)));
    assert_eq!(m.detection.max, Some(ms(150)));
    assert_eq!(m.detection.undetected, 0);

    // With a warm-up of 3 arrivals accuracy is measured from 420 ms: one mistake.
    let m = replay(
        &mut fixed(100, 1.5),
        &trace,
        &ReplayConfig::new().with_warmup(3),
    );
    assert_eq!((m.heartbeats, m.mistakes, m.mistake_time), (5, 1, ms(150)));
    assert_eq!(m.observed, ms(580));
    assert_eq!(m.mistake_recurrence(), None);
    // Crashes injected after every 2nd measured arrival: 420, 600, 1000.
    let m = replay(
        &mut fixed(100, 1.5),
        &trace,
        &ReplayConfig::new().with_crash_every(2),
    );
    assert_eq!(m.detection.crashes, 4);
    let m = replay(
        &mut fixed(100, 1.5),
        &trace,
        &ReplayConfig::new().with_crash_every(0),
    );
    assert_eq!((m.detection.crashes, m.detection.mean), (0, None));
}

#[test]
fn detection_time_counts_from_the_send_time_and_from_a_recorded_crash() {
    // Sent every 100 ms, each 30 ms in flight; timeout 150 ms after the arrival.
    let csv = "# crash_ns=250000000\narrival_ns,sent_ns\n30000000,0\n130000000,100000000\n230000000,200000000\n";
    let trace = Trace::read(csv.as_bytes()).unwrap();
    // The crash at 250 ms: the last heartbeat arrived at 230 ms, suspected at 380.
    let m = replay(&mut fixed(100, 1.5), &trace, &ReplayConfig::new());
    assert_eq!(m.detection.crashes, 1);
    assert_eq!(m.detection.max, Some(ms(130)));
    // Accuracy is measured up to the crash: 30 to 250 ms, no mistake.
    assert_eq!((m.observed, m.mistakes), (ms(220), 0));

    // Without the crash line: injected crashes right after each send, detected
    // 30 + 150 ms later.
    let mut trace = trace;
    trace.set_crash(None);
    let m = replay(&mut fixed(100, 1.5), &trace, &ReplayConfig::new());
    assert_eq!(m.detection.mean, Some(ms(180)));

    // A crash before the detector would notice the silence: accuracy ends there, and
    // a suspicion that started before the crash is a mistake up to the crash.
    let mut trace = trace_ms(&[0, 100, 200]);
    trace.set_crash(Some(Timestamp::from_millis(500)));
    let m = replay(&mut fixed(100, 1.5), &trace, &ReplayConfig::new());
    assert_eq!((m.mistakes, m.mistake_time), (1, ms(150))); // 350 -> 500
    assert_eq!(m.detection.max, Some(Duration::ZERO)); // already suspected
}

#[test]
fn degenerate_traces_give_defined_metrics() {
    let empty = Trace::new();
    let m = replay(&mut fixed(100, 2.0), &empty, &ReplayConfig::new());
    assert_eq!((m.heartbeats, m.mistakes, m.detection.crashes), (0, 0, 0));
    assert_eq!((m.mistake_rate(), m.query_accuracy()), (0.0, 1.0));
    let one = trace_ms(&[5]);
    let m = replay(
        &mut fixed(100, 2.0),
        &one,
        &ReplayConfig::new().with_warmup(10),
    );
    assert_eq!(m.heartbeats, 0);
    let m = replay(&mut fixed(100, 2.0), &one, &ReplayConfig::new());
    assert_eq!(
        (m.observed, m.detection.max),
        (Duration::ZERO, Some(ms(200)))
    );
}

/// The identities of Chen et al. (2002, Theorem 1) hold on a long steady run.
#[test]
fn chen_toueg_aguilera_identities() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::gamma(ms(20), ms(12)).unwrap())
        .loss(Loss::random(0.01).unwrap())
        .generate(99, 200_000)
        .unwrap();
    for mut fd in [fixed(100, 1.3), fixed(100, 1.6)] {
        let m = replay(&mut fd, &trace, &ReplayConfig::new().with_warmup(10));
        assert!(m.mistakes > 1_000, "{m}");
        let t_mr = m.mistake_recurrence().unwrap().as_secs_f64();
        let t_m = m.mistake_duration().unwrap().as_secs_f64();
        let lambda = m.mistake_rate();
        assert!(
            (lambda * t_mr - 1.0).abs() < 0.01,
            "lambda_M = 1/E(T_MR): {m}"
        );
        let pa = 1.0 - t_m / t_mr;
        assert!(
            (m.query_accuracy() - pa).abs() < 0.01 * (1.0 - pa),
            "P_A: {m}"
        );
    }
}

#[test]
fn replay_is_deterministic() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::log_normal(ms(10), ms(8)).unwrap())
        .loss(Loss::bursty(0.02, 3.0).unwrap())
        .generate(5, 20_000)
        .unwrap();
    let config = ReplayConfig::new().with_warmup(100);
    for family in Family::ALL {
        let mut fd = family
            .build(ms(100), family.thresholds(ms(100), 5)[2])
            .unwrap();
        let first = replay(fd.as_mut(), &trace, &config);
        let second = replay(fd.as_mut(), &trace, &config);
        assert_eq!(first, second, "{}", family.name());
        assert!(first.detection.mean.is_some());
    }
}

/// Every family's fast sweep equals one replay per threshold, exactly.
#[test]
fn family_sweeps_equal_one_replay_per_threshold() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::log_normal(ms(10), ms(8)).unwrap())
        .loss(Loss::bursty(0.02, 3.0).unwrap())
        .stalls(ms(700), Duration::from_secs(60))
        .generate(8, 10_000)
        .unwrap();
    let config = ReplayConfig::new().with_warmup(200);
    for family in Family::ALL {
        let thresholds = family.thresholds(ms(100), 12);
        let fast = family.sweep(&trace, ms(100), &config, &thresholds).unwrap();
        assert_eq!(fast.points.len(), thresholds.len());
        for (point, &t) in fast.points.iter().zip(&thresholds) {
            let mut fd = family.build(ms(100), t).unwrap();
            let slow = replay(fd.as_mut(), &trace, &config);
            assert_eq!(point.threshold, t);
            assert_eq!(point.metrics, slow, "{} at {t}", family.name());
        }
        // The curve is a trade-off: detection slows down as the threshold grows...
        let first = fast.points[0].metrics;
        let last = fast.points[11].metrics;
        assert!(
            first.detection.mean < last.detection.mean,
            "{}",
            family.name()
        );
        // ...and mistakes become rarer.
        assert!(first.mistakes > last.mistakes, "{}", family.name());
    }
    assert!(
        Family::Chen
            .sweep(&trace, ms(100), &config, &[0.0])
            .is_err()
    );
    assert!(
        Family::Satzger
            .sweep(&trace, ms(100), &config, &[1.5])
            .is_err()
    );
}

#[test]
fn sweep_tables_csv_and_interpolation() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::normal(ms(20), ms(10)).unwrap())
        .generate(1, 5_000)
        .unwrap();
    let s = Family::FixedTimeout
        .sweep(&trace, ms(100), &ReplayConfig::new(), &[1.1, 1.3, 2.0])
        .unwrap();
    let mut csv = Vec::new();
    s.write_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 3);
    let fields = failure_detector::qos::Sweep::CSV_HEADER.split(',').count();
    // The label, quoted (it lists the parameters, with commas), then the numbers.
    let label = "\"fixed timeout (interval 100 ms, pause 0 ms)\",";
    assert!(
        csv.lines()
            .all(|l| l.starts_with(label) && l[label.len()..].split(',').count() == fields - 1)
    );
    assert!(csv.starts_with(&format!("{label}1.1,")));
    assert_eq!(s.table().lines().count(), 5);
    // Interpolation between the points that bracket a detection time.
    let (a, b) = (s.points[0].metrics, s.points[1].metrics);
    let (ta, tb) = (a.detection.mean.unwrap(), b.detection.mean.unwrap());
    assert_eq!(s.mistake_rate_at(ta), Some(a.mistake_rate()));
    let mid = s.mistake_rate_at((ta + tb) / 2).unwrap();
    assert!(mid < a.mistake_rate() && mid > b.mistake_rate());
    assert_eq!(s.mistake_rate_at(Duration::from_secs(100)), None);
}

#[test]
fn phi_sweep_is_a_trade_off() {
    // Akka's phi without the acceptable pause, on a jittery link.
    let trace = Scenario::new(ms(100))
        .jitter(Delay::log_normal(ms(10), ms(20)).unwrap())
        .generate(4, 5_000)
        .unwrap();
    let base = PhiAccrualConfig::new()
        .with_acceptable_heartbeat_pause(Duration::ZERO)
        .with_min_std_deviation(ms(5))
        .with_first_heartbeat_estimate(ms(100));
    let s = sweep("phi", &trace, &ReplayConfig::new(), &[0.5, 8.0], |t| {
        PhiAccrual::new(base.with_threshold(t))
    })
    .unwrap();
    let (low, high) = (s.points[0].metrics, s.points[1].metrics);
    assert!(low.mistakes > 10 * high.mistakes.max(1), "{low}\n{high}");
    assert!(low.detection.mean < high.detection.mean);
}

// ---- generators ----

fn gaps(trace: &Trace) -> Vec<f64> {
    trace
        .arrivals()
        .windows(2)
        .map(|w| (w[1].as_nanos() - w[0].as_nanos()) as f64)
        .collect()
}

fn delays(trace: &Trace) -> Vec<f64> {
    trace
        .arrivals()
        .iter()
        .zip(trace.sent().unwrap())
        .map(|(a, s)| (a.as_nanos() - s.as_nanos()) as f64)
        .collect()
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn generators_produce_the_requested_statistics() {
    let n = 50_000;
    for (name, delay) in [
        ("normal", Delay::normal(ms(30), ms(5)).unwrap()),
        ("log-normal", Delay::log_normal(ms(30), ms(5)).unwrap()),
        ("gamma", Delay::gamma(ms(30), ms(5)).unwrap()),
    ] {
        let trace = Scenario::new(ms(100)).jitter(delay).generate(7, n).unwrap();
        assert_eq!(trace.len() as u64, n, "{name}: nothing lost");
        let (mean, sd) = mean_sd(&delays(&trace));
        assert!(
            (mean / 30e6 - 1.0).abs() < 0.01,
            "{name}: mean delay {mean}"
        );
        assert!((sd / 5e6 - 1.0).abs() < 0.03, "{name}: sd {sd}");
        let (gap, _) = mean_sd(&gaps(&trace));
        assert!((gap / 100e6 - 1.0).abs() < 1e-4, "{name}: mean gap {gap}");
        assert_eq!(trace.seqs().unwrap()[..3], [0, 1, 2]);
    }

    // Random loss: 5% within 0.5 points.
    let trace = Scenario::new(ms(100))
        .loss(Loss::random(0.05).unwrap())
        .generate(1, n)
        .unwrap();
    let lost = 1.0 - trace.len() as f64 / n as f64;
    assert!((lost - 0.05).abs() < 0.005, "random loss {lost}");

    // Bursty loss: 2% in bursts of 4 on average.
    let trace = Scenario::new(ms(100))
        .loss(Loss::bursty(0.02, 4.0).unwrap())
        .generate(2, 200_000)
        .unwrap();
    let lost = 1.0 - trace.len() as f64 / 200_000.0;
    assert!((lost - 0.02).abs() < 0.003, "bursty loss {lost}");
    let bursts: Vec<u64> = trace
        .seqs()
        .unwrap()
        .windows(2)
        .map(|w| w[1] - w[0] - 1)
        .filter(|&missing| missing > 0)
        .collect();
    let mean_burst = bursts.iter().sum::<u64>() as f64 / bursts.len() as f64;
    assert!((mean_burst - 4.0).abs() < 0.4, "mean burst {mean_burst}");
}

#[test]
fn stalls_crash_change_and_drift() {
    // 2 s stalls on average every 10 minutes over 10 hours: about 60.
    let trace = Scenario::new(ms(100))
        .stalls(Duration::from_secs(2), Duration::from_secs(600))
        .generate(3, 360_000)
        .unwrap();
    let long = gaps(&trace).iter().filter(|&&g| g >= 1.9e9).count();
    assert!((40..=80).contains(&long), "{long} stalls");
    assert!(gaps(&trace).iter().all(|&g| g <= 2.1e9));
    assert_eq!(trace.len(), 360_000); // stalls delay heartbeats, they lose none

    // A crash after 60 s: nothing sent from then on, and the trace records it.
    let trace = Scenario::new(ms(100))
        .jitter(Delay::constant(ms(5)))
        .crash_at(Duration::from_secs(60))
        .generate(3, 10_000)
        .unwrap();
    assert_eq!(trace.len(), 600);
    assert_eq!(trace.crash(), Some(Timestamp::from_secs(60)));
    assert_eq!(trace.arrivals()[599], Timestamp::from_millis(59_905));

    // A sudden change after 1000 s: 5 ms -> 50 ms of delay and 10% loss.
    let trace = Scenario::new(ms(100))
        .jitter(Delay::constant(ms(5)))
        .change_at(
            Duration::from_secs(1000),
            Network::new()
                .with_delay(Delay::constant(ms(50)))
                .with_loss(Loss::random(0.1).unwrap()),
        )
        .generate(3, 20_000)
        .unwrap();
    let d = delays(&trace);
    assert!(d[..10_000].iter().all(|&x| x == 5e6));
    assert!(d[10_000..].iter().all(|&x| x == 50e6));
    let after = trace.len() - 10_000;
    assert!(
        (8_800..=9_200).contains(&after),
        "{after} arrived after the change"
    );

    // A drift of 36 ms per hour: 10 ms after 1000 s.
    let trace = Scenario::new(ms(100))
        .drift(ms(36))
        .generate(3, 10_001)
        .unwrap();
    let d = delays(&trace);
    assert_eq!(d[0], 0.0);
    assert!((d[10_000] - 10e6).abs() < 2.0);
}

#[test]
fn generators_are_seeded_and_streams_independent() {
    let jitter = Scenario::new(ms(100)).jitter(Delay::log_normal(ms(10), ms(5)).unwrap());
    let a = jitter.generate(11, 5_000).unwrap();
    assert_eq!(a, jitter.generate(11, 5_000).unwrap());
    assert_ne!(a, jitter.generate(12, 5_000).unwrap());
    // Turning loss on drops heartbeats but does not change the delays drawn.
    let lossy = jitter
        .loss(Loss::random(0.1).unwrap())
        .generate(11, 5_000)
        .unwrap();
    let first_lost = lossy
        .seqs()
        .unwrap()
        .iter()
        .enumerate()
        .position(|(i, &s)| s != i as u64)
        .unwrap();
    assert_eq!(delays(&a)[..first_lost], delays(&lossy)[..first_lost]);
    // Reordering: a heavy tail overtakes; arrivals stay strictly increasing.
    let wild = Scenario::new(ms(10))
        .jitter(Delay::log_normal(ms(30), ms(60)).unwrap())
        .generate(1, 20_000)
        .unwrap();
    assert_eq!(wild.len(), 20_000);
    let seqs = wild.seqs().unwrap();
    assert!(
        seqs.windows(2).any(|w| w[1] < w[0]),
        "some heartbeats overtaken"
    );
    // Invalid scenarios are refused, naming the field.
    assert!(Scenario::new(Duration::ZERO).generate(1, 1).is_err());
    assert!(
        Scenario::new(ms(1))
            .stalls(Duration::ZERO, ms(1))
            .generate(1, 1)
            .is_err()
    );
    assert!(Loss::bursty(0.1, 0.5).is_err());
    assert!(Loss::gilbert_elliott(0.1, 0.0, 0.0, 1.0).is_err());
    assert!(Delay::log_normal(ms(1), Duration::ZERO).is_err());
}

#[test]
fn apply_puts_a_network_on_a_real_trace() {
    let sender = trace_ms(&[1000, 1100, 1200, 1300]);
    let trace = Scenario::new(ms(100))
        .jitter(Delay::constant(ms(7)))
        .crash_at(ms(250))
        .apply(1, &sender)
        .unwrap();
    assert_eq!(
        trace.arrivals(),
        &[1007, 1107, 1207].map(Timestamp::from_millis)
    );
    assert_eq!(trace.sent().unwrap()[2], Timestamp::from_millis(1200));
    assert_eq!(trace.seqs(), Some(&[0, 1, 2][..]));
    assert_eq!(trace.crash(), Some(Timestamp::from_millis(1250)));
}

// ---- LIP6 ----

fn lip6(node: &str) -> Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/lip6")
        .join(format!("{node}.csv"));
    Trace::read_path(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the LIP6 trace {}: {e}. The traces ship in the \
             repository under data/lip6/.",
            path.display()
        )
    })
}

#[test]
fn lip6_traces_read_as_documented() {
    // The README of the data: mean gap, standard deviation and extremes.
    for (node, sd_ms, min_ms, max_ms) in
        [("node0", 0.18, 99.0, 101.2), ("node5", 3.05, 41.6, 1016.3)]
    {
        let trace = lip6(node);
        assert_eq!(trace.len(), 100_001);
        assert_eq!(trace.seqs().unwrap()[100_000], 100_000);
        let g = trace.gap_stats().unwrap();
        assert!((g.mean_ns / 1e6 - 100.0).abs() < 0.02, "{node}");
        assert!((g.std_dev_ns / 1e6 - sd_ms).abs() < 0.01, "{node}");
        assert!((g.min_ns as f64 / 1e6 - min_ms).abs() < 0.05, "{node}");
        assert!((g.max_ns as f64 / 1e6 - max_ms).abs() < 0.05, "{node}");
    }
}

#[test]
fn lip6_node5_stall_is_one_mistake_for_a_tight_timeout() {
    let trace = lip6("node5");
    // A 1 s timeout: only the 1016 ms stall exceeds it.
    let m = replay(&mut fixed(100, 10.0), &trace, &ReplayConfig::new());
    assert_eq!(m.mistakes, 1);
    assert!(m.mistake_time > Duration::ZERO && m.mistake_time < ms(17));
}

#[test]
fn malformed_files_are_refused_with_line_numbers() {
    let err =
        Trace::read("numseq,timestamp_start_send,timestamp_end_send\n0,1,2\n1,2\n".as_bytes())
            .unwrap_err();
    assert!(matches!(err, TraceError::FieldCount { line: 3, .. }));
    assert_eq!(err.to_string(), "line 3: 2 fields, the header has 3");
    let err = Trace::read_path("/nonexistent/trace.csv").unwrap_err();
    assert!(matches!(err, TraceError::Io { line: 0, .. }));
}

// ---- Sweep memory: streaming statistics against the old exact computation ----

/// Detection times as replay computed them before streaming statistics: one per
/// measured arrival, `deadline - crash` (send time, else arrival), `None` for never.
fn exact_detections(
    fd: &mut dyn FailureDetector,
    trace: &Trace,
    warmup: usize,
) -> Vec<Option<u64>> {
    fd.reset();
    let crash_times = trace.sent().unwrap_or(trace.arrivals()).to_vec();
    let mut out = Vec::new();
    for (k, &at) in trace.arrivals().iter().enumerate() {
        fd.heartbeat(at).unwrap();
        if k >= warmup {
            out.push(
                fd.deadline()
                    .map(|d| d.as_nanos().saturating_sub(crash_times[k].as_nanos())),
            );
        }
    }
    out
}

#[test]
fn sweep_statistics_match_the_exact_computation() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::log_normal(ms(10), ms(8)).unwrap())
        .loss(Loss::bursty(0.02, 3.0).unwrap())
        .stalls(ms(700), Duration::from_secs(60))
        .generate(3, 3_000)
        .unwrap();
    let config = ReplayConfig::new().with_warmup(100);
    for family in Family::ALL {
        let thresholds = family.thresholds(ms(100), 6);
        let swept = family.sweep(&trace, ms(100), &config, &thresholds).unwrap();
        for (point, &t) in swept.points.iter().zip(&thresholds) {
            let mut fd = family.build(ms(100), t).unwrap();
            let all = exact_detections(fd.as_mut(), &trace, 100);
            let mut times: Vec<u64> = all.iter().flatten().copied().collect();
            let d = point.metrics.detection;
            assert_eq!(d.crashes, all.len(), "{}", family.name());
            assert_eq!(d.undetected, all.len() - times.len());
            if times.is_empty() {
                assert_eq!((d.mean, d.p99, d.max), (None, None, None));
                continue;
            }
            let sum: u128 = times.iter().map(|&x| u128::from(x)).sum();
            let mean = Duration::from_nanos((sum / times.len() as u128) as u64);
            assert_eq!(d.mean, Some(mean), "{} at {t}", family.name());
            times.sort_unstable();
            assert_eq!(d.max, Some(Duration::from_nanos(*times.last().unwrap())));
            let exact = times[(times.len() * 99).div_ceil(100) - 1];
            let p99 = d.p99.unwrap().as_nanos() as u64;
            assert!(
                p99.abs_diff(exact) as f64 <= exact as f64 / 256.0,
                "{} at {t}: p99 {p99} vs exact {exact}",
                family.name()
            );
        }
    }
}

// ---- Which gaps caused the mistakes; detection time at a mistake rate ----

/// Every 100 ms, with gaps of 150, 250 and 350 ms; 1 s of arrivals in all.
fn three_gaps() -> Trace {
    trace_ms(&[0, 100, 250, 350, 600, 700, 1050, 1150])
}

#[test]
fn replay_lists_each_mistake_and_the_gap_that_caused_it() {
    let trace = three_gaps();
    // Timeout 120 ms: every gap above it is a mistake starting 120 ms after the
    // arrival before it.
    let (m, list) = replay_listing(&mut fixed(100, 1.2), &trace, &ReplayConfig::new(), 10);
    assert_eq!((m.mistakes, list.total), (3, 3));
    let found: Vec<(usize, u64, u64, u64)> = list
        .listed
        .iter()
        .map(|x| {
            (
                x.arrival,
                x.start.as_nanos() / 1_000_000,
                x.duration.as_millis() as u64,
                x.gap.as_millis() as u64,
            )
        })
        .collect();
    assert_eq!(
        found,
        [(1, 220, 30, 150), (3, 470, 130, 250), (5, 820, 230, 350)]
    );
    // Bounded: the total is still counted.
    let (_, list) = replay_listing(&mut fixed(100, 1.2), &trace, &ReplayConfig::new(), 2);
    assert_eq!((list.total, list.listed.len()), (3, 2));
    let (_, list) = replay_listing(&mut fixed(100, 1.2), &trace, &ReplayConfig::new(), 0);
    assert_eq!((list.total, list.listed.len()), (3, 0));
    // After a warm-up of 4 arrivals, two are left; the indices are the trace's.
    let warm = ReplayConfig::new().with_warmup(4);
    let (_, list) = replay_listing(&mut fixed(100, 1.2), &trace, &warm, usize::MAX);
    assert_eq!(
        list.listed.iter().map(|x| x.arrival).collect::<Vec<_>>(),
        [5]
    );
    assert_eq!(list.total, 1);
    // A crash ends the last gap: the mistake lasts until the crash.
    let mut crashed = three_gaps();
    crashed.set_crash(Some(Timestamp::from_millis(1000)));
    let (_, list) = replay_listing(&mut fixed(100, 1.2), &crashed, &ReplayConfig::new(), 10);
    let last = list.listed[2];
    assert_eq!(
        (last.arrival, last.duration, last.gap),
        (5, ms(180), ms(300))
    );
}

#[test]
fn detection_time_at_inverts_mistake_rate_at() {
    let trace = three_gaps();
    let s = Family::FixedTimeout
        .sweep(&trace, ms(100), &ReplayConfig::new(), &[1.2, 2.0, 3.0, 4.0])
        .unwrap();
    // T_D is the timeout; 3, 2, 1 and 0 mistakes over 1.15 s.
    let r = 1.0 / 1.15;
    let rates: Vec<f64> = s.points.iter().map(|p| p.metrics.mistake_rate()).collect();
    for (got, want) in rates.iter().zip([3.0 * r, 2.0 * r, r, 0.0]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let near = |got: Option<Duration>, want: u64| {
        let got = got.unwrap_or_else(|| panic!("none for {want} ms"));
        assert!(
            got.abs_diff(ms(want)) < Duration::from_micros(1),
            "{got:?} vs {want} ms"
        );
    };
    near(s.detection_time_at(3.0 * r), 120);
    near(s.detection_time_at(2.0 * r), 200);
    // Between 2r and r, in the log of the rate: the geometric mean is half way.
    near(s.detection_time_at(2f64.sqrt() * r), 250);
    // Between r and 0, linearly.
    near(s.detection_time_at(0.5 * r), 350);
    near(s.detection_time_at(0.0), 400);
    // Round trip through mistake_rate_at.
    for want in [2.5 * r, 1.7 * r, 0.3 * r] {
        let td = s.detection_time_at(want).unwrap();
        let back = s.mistake_rate_at(td).unwrap();
        assert!((back / want - 1.0).abs() < 1e-6, "{back} vs {want}");
    }
    // Outside the range the sweep covers.
    assert_eq!(s.detection_time_at(4.0 * r), None);
    assert_eq!(s.detection_time_at(-1.0), None);
    assert_eq!(s.detection_time_at(f64::NAN), None);
}

// ---- Family parameters and labels ----

#[test]
fn family_parameters_are_settable_and_labelled() {
    let trace = Scenario::new(ms(100))
        .jitter(Delay::normal(ms(20), ms(10)).unwrap())
        .generate(1, 3_000)
        .unwrap();
    let preset = Family::PhiAccrual.preset(ms(100));
    assert_eq!(
        preset.to_string(),
        "phi accrual (logistic, window 1000, min std dev 10 ms, pause 0 ms, first estimate 100 ms)"
    );
    // Akka's defaults: a 3 s pause makes detection 3 s slower.
    let akka = FamilyConfig::PhiAccrual(
        PhiAccrualConfig::new()
            .with_max_sample_size(1000)
            .with_first_heartbeat_estimate(ms(100)),
    );
    assert_eq!(
        akka.label(),
        "phi accrual (logistic, window 1000, min std dev 100 ms, pause 3000 ms, first estimate 100 ms)"
    );
    let config = ReplayConfig::new().with_warmup(100);
    let a = preset.sweep(&trace, &config, &[8.0]).unwrap();
    let b = akka.sweep(&trace, &config, &[8.0]).unwrap();
    assert_eq!(a.detector, preset.label());
    assert_eq!(b.detector, akka.label());
    let (ta, tb) = (
        a.points[0].metrics.detection.mean.unwrap(),
        b.points[0].metrics.detection.mean.unwrap(),
    );
    assert!(tb > ta + ms(3000), "{ta:?} {tb:?}");
    // The same as building the detector by hand.
    let mut fd = PhiAccrual::new(
        PhiAccrualConfig::new()
            .with_threshold(8.0)
            .with_max_sample_size(1000)
            .with_first_heartbeat_estimate(ms(100)),
    )
    .unwrap();
    assert_eq!(b.points[0].metrics, replay(&mut fd, &trace, &config));
    // Every family's preset names its family and its parameters.
    for family in Family::ALL {
        let label = family.preset(ms(100)).label();
        assert!(label.starts_with(family.name()), "{label}");
        assert!(
            label.contains("100 ms") || label.contains("window 1000"),
            "{label}"
        );
        assert_eq!(family.preset(ms(100)).family(), family);
    }
    let other = FamilyConfig::FixedTimeout(FixedTimeoutConfig::new().with_acceptable_pause(ms(40)));
    assert_eq!(
        other.label(),
        "fixed timeout (interval 5000 ms, pause 40 ms)"
    );
}
