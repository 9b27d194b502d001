//! Hostile inputs to the QoS lab: every one is refused with a typed error, quickly and
//! in bounded memory (issue 7, section 3).

#![cfg(feature = "qos")]

use std::io::{self, BufReader, Read};
use std::time::Duration;

use failure_detector::ConfigError;
use failure_detector::Timestamp;
use failure_detector::qos::{
    Delay, MAX_ARRIVALS, MAX_LINE_BYTES, Scenario, Trace, TraceError, TraceReader,
};

/// `prefix`, then `len` copies of `fill`, produced lazily; counts the bytes handed out.
struct Lazy {
    prefix: &'static [u8],
    fill: u8,
    len: u64,
    pos: u64,
}

impl Lazy {
    fn new(prefix: &'static [u8], fill: u8, len: u64) -> Self {
        Lazy {
            prefix,
            fill,
            len,
            pos: 0,
        }
    }
}

impl Read for Lazy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let total = self.prefix.len() as u64 + self.len;
        let mut n = 0;
        while n < buf.len() && self.pos < total {
            buf[n] = match self.prefix.get(self.pos as usize) {
                Some(&b) => b,
                None => self.fill,
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

// ---- Trace readers ----

#[test]
fn a_100_mb_header_line_is_refused_after_reading_a_few_kib() {
    let mut lazy = Lazy::new(b"", b',', 100 << 20);
    let err = Trace::read(BufReader::with_capacity(8192, &mut lazy)).unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::LineTooLong {
                line: 1,
                max: MAX_LINE_BYTES
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "line 1: longer than 4096 bytes");
    assert!(lazy.pos <= 16 << 10, "read {} bytes", lazy.pos);
}

#[test]
fn a_100_mb_row_is_refused_with_its_line_number() {
    let mut lazy = Lazy::new(b"# c\narrival_ns\n1\n", b'7', 100 << 20);
    let err = Trace::read(BufReader::with_capacity(8192, &mut lazy)).unwrap_err();
    assert!(
        matches!(err, TraceError::LineTooLong { line: 4, .. }),
        "{err:?}"
    );
    assert!(lazy.pos <= 16 << 10, "read {} bytes", lazy.pos);
}

#[cfg(unix)]
#[test]
fn dev_zero_is_refused_on_its_first_line() {
    let err = Trace::read_path("/dev/zero").unwrap_err();
    assert!(
        matches!(err, TraceError::LineTooLong { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn a_directory_is_an_error_on_line_0() {
    let err = Trace::read_path(env!("CARGO_MANIFEST_DIR")).unwrap_err();
    assert!(matches!(err, TraceError::Io { line: 0, .. }), "{err:?}");
    assert!(err.to_string().starts_with("line 0: read error"), "{err}");
}

#[test]
fn crlf_lines_read_like_lf_lines() {
    let crlf = "# crash_ns=500\r\narrival_ns,seq,sent_ns\r\n\r\n100,0,90\r\n200,1,190\r\n";
    let lf = crlf.replace("\r\n", "\n");
    let a = Trace::read(crlf.as_bytes()).unwrap();
    assert_eq!(a, Trace::read(lf.as_bytes()).unwrap());
    assert_eq!(a.len(), 2);
    assert_eq!(a.crash(), Some(Timestamp::from_nanos(500)));
    // A final line without a line ending counts.
    assert_eq!(
        Trace::read("arrival_ns\r\n1\r\n2".as_bytes())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_line_of_exactly_the_cap_is_read_and_one_more_byte_is_not() {
    for ending in ["\n", "\r\n"] {
        // A row of MAX_LINE_BYTES bytes: leading zeros, then 100.
        let row = format!("{}100", "0".repeat(MAX_LINE_BYTES - 3));
        assert_eq!(row.len(), MAX_LINE_BYTES);
        let comment = format!("#{}", "x".repeat(MAX_LINE_BYTES - 1));
        let input = format!("{comment}{ending}arrival_ns{ending}{row}{ending}200{ending}");
        let t = Trace::read(input.as_bytes()).unwrap();
        assert_eq!(t.arrivals(), &[100, 200].map(Timestamp::from_nanos));
        // The last line, without a line ending.
        let t = Trace::read(format!("arrival_ns{ending}{row}").as_bytes()).unwrap();
        assert_eq!(t.len(), 1);

        let long = format!("0{row}");
        let input = format!("arrival_ns{ending}1{ending}{long}{ending}");
        let err = Trace::read(input.as_bytes()).unwrap_err();
        assert!(
            matches!(err, TraceError::LineTooLong { line: 3, .. }),
            "{err:?}"
        );
        let err = Trace::read(format!("arrival_ns{ending}{long}").as_bytes()).unwrap_err();
        assert!(
            matches!(err, TraceError::LineTooLong { line: 2, .. }),
            "{err:?}"
        );
        let err = TraceReader::new(format!("x{comment}{ending}").as_bytes()).unwrap_err();
        assert!(
            matches!(err, TraceError::LineTooLong { line: 1, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn a_long_header_of_commas_is_refused_as_a_header() {
    let header = ",".repeat(MAX_LINE_BYTES);
    let err = Trace::read(format!("{header}\n1\n").as_bytes()).unwrap_err();
    assert!(matches!(err, TraceError::Header { line: 1, ref found } if found.len() == 80));
}

#[test]
fn an_in_memory_trace_is_bounded_too() {
    assert_eq!(MAX_ARRIVALS, 1 << 26);
    let err = Scenario::new(Duration::from_millis(1))
        .generate(1, MAX_ARRIVALS + 1)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "heartbeats",
                ..
            }
        ),
        "{err:?}"
    );
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

// ---- Synthetic scenarios ----

#[test]
fn dense_stalls_take_constant_work_per_heartbeat() {
    // A 1 ns stall every 1 ns on average: the old stall loop drew about 50 million
    // stalls per 100 ms heartbeat. Now at most one per heartbeat.
    let t = Scenario::new(ms(100))
        .stalls(Duration::from_nanos(1), Duration::from_nanos(1))
        .generate(1, 10_000)
        .unwrap();
    assert_eq!(t.len(), 10_000);
}

#[test]
fn a_stall_longer_than_2_pow_47_ns_is_refused_up_front() {
    let err = Scenario::new(ms(100))
        .stalls(Duration::from_nanos((1 << 47) + 1), Duration::from_secs(10))
        .arrivals(1, 10)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "stall length",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_schedule_past_the_end_of_time_is_refused_up_front() {
    let err = Scenario::new(Duration::from_nanos(1 << 47))
        .arrivals(1, 200_000)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "heartbeats",
                ..
            }
        ),
        "{err:?}"
    );
    // 131,072 sends fit exactly (the last one at 2^64 - 2^47).
    assert!(
        Scenario::new(Duration::from_nanos(1 << 47))
            .arrivals(1, 1 << 17)
            .is_ok()
    );
}

#[test]
fn a_lazy_stream_says_it_ran_out_of_time() {
    let start = Timestamp::from_nanos(u64::MAX - 2_000_000_000);
    let mut g = Scenario::new(ms(100))
        .starting_at(start)
        .drift(Duration::MAX)
        .arrivals(1, 15)
        .unwrap();
    assert!(!g.ran_out_of_time());
    let n = g.by_ref().count();
    assert!(g.ran_out_of_time() && n < 15, "{n}");
    assert!(g.into_trace().is_err());
    // Right up to Timestamp::MAX is fine.
    let t = Scenario::new(ms(100))
        .starting_at(Timestamp::from_nanos(u64::MAX - 1_400_000_000))
        .generate(1, 15)
        .unwrap();
    assert_eq!(t.arrivals()[14], Timestamp::MAX);
}

#[test]
fn scenario_past_the_end_of_time_with_stalls_is_refused() {
    // 200,000 sends every 2^47 ns run past Timestamp::MAX after 131,072 of them; the
    // stall loop used to spin there for ever.
    let r = Scenario::new(Duration::from_nanos(1 << 47))
        .stalls(Duration::from_secs(1), Duration::from_secs(3600))
        .generate(1, 200_000);
    assert!(r.is_err(), "{:?}", r.map(|t| t.len()));
}

#[test]
fn endless_stall_is_refused() {
    let r = Scenario::new(ms(100))
        .stalls(Duration::MAX, Duration::from_secs(10))
        .generate(1, 1_000);
    assert!(
        matches!(
            r,
            Err(ConfigError::OutOfRange {
                field: "stall length",
                ..
            })
        ),
        "{:?}",
        r.map(|t| t.len())
    );
}

#[test]
fn sends_near_the_end_of_time_are_refused() {
    let start = Timestamp::from_nanos(u64::MAX - 1_000_000_000);
    let r = Scenario::new(ms(100)).starting_at(start).generate(1, 100);
    assert!(r.is_err(), "{:?}", r.map(|t| t.len()));
}

#[test]
fn arrivals_near_the_end_of_time_are_refused() {
    // The sends fit; a 1 s delay pushes the arrivals past Timestamp::MAX.
    let start = Timestamp::from_nanos(u64::MAX - 2_000_000_000);
    let r = Scenario::new(ms(100))
        .starting_at(start)
        .jitter(Delay::constant(Duration::from_secs(1)))
        .generate(1, 15);
    assert!(
        matches!(
            r,
            Err(ConfigError::OutOfRange {
                field: "end of time",
                ..
            })
        ),
        "{:?}",
        r.map(|t| t.len())
    );
}

#[test]
fn threshold_counts_are_bounded() {
    use failure_detector::qos::Family;
    let t = Family::Chen.thresholds(ms(100), usize::MAX);
    assert_eq!(t.len(), Family::MAX_THRESHOLDS);
    assert!(t.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        Family::Satzger.thresholds(ms(100), usize::MAX).len(),
        Family::MAX_THRESHOLDS
    );
}

/// A fixed timeout that refuses every heartbeat at an odd millisecond.
struct Picky(failure_detector::FixedTimeout);

impl failure_detector::FailureDetector for Picky {
    fn heartbeat(&mut self, at: Timestamp) -> Result<(), failure_detector::HeartbeatError> {
        if (at.as_nanos() / 1_000_000) % 2 == 1 {
            return Err(failure_detector::HeartbeatError::Duplicate { at });
        }
        self.0.heartbeat(at)
    }
    fn suspicion(&self, now: Timestamp) -> f64 {
        self.0.suspicion(now)
    }
    fn threshold(&self) -> f64 {
        self.0.threshold()
    }
    fn is_available(&self, now: Timestamp) -> bool {
        self.0.is_available(now)
    }
    fn deadline(&self) -> Option<Timestamp> {
        self.0.deadline()
    }
    fn deadline_for(&self, level: f64) -> Option<Timestamp> {
        self.0.deadline_for(level)
    }
    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.0.last_heartbeat()
    }
    fn stats(&self) -> failure_detector::Stats {
        self.0.stats()
    }
    fn reset(&mut self) {
        self.0.reset()
    }
}

#[test]
fn a_detector_that_refuses_arrivals_is_measured_without_panicking() {
    use failure_detector::qos::{ReplayConfig, replay};
    use failure_detector::{FixedTimeout, FixedTimeoutConfig};
    let trace = Trace::from_timestamps(
        [0, 100, 201, 300, 401, 500]
            .map(Timestamp::from_millis)
            .to_vec(),
    )
    .unwrap();
    let fixed = FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(ms(100))
            .with_missed_heartbeats(1.5),
    )
    .unwrap();
    let m = replay(
        &mut Picky(fixed),
        &trace,
        &ReplayConfig::new().with_warmup(1),
    );
    assert_eq!(m.refused, 2);
    assert_eq!(m.heartbeats, 5);
    // 201 and 401 refused: suspected at 250 until 300 and at 450 until 500.
    assert_eq!((m.mistakes, m.mistake_time), (2, ms(100)));
}
