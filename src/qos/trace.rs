//! Heartbeat traces: the arrivals a detector is fed, read from and written to CSV.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use crate::time::Timestamp;

/// The longest line a trace reader accepts: 4,096 bytes, not counting the line ending
/// (`\n` or `\r\n`). A row of this crate's format or of the LIP6 one is at most 62
/// bytes (three 20-digit numbers and two commas), so the cap only stops a corrupt or
/// hostile input (a file without line breaks, `/dev/zero`) from being buffered whole:
/// a reader never holds more than this plus one byte of a line.
pub const MAX_LINE_BYTES: usize = 4096;

/// The most arrivals a [`Trace`] holds and a [`TraceReader`] yields: 2^26
/// (67,108,864; 78 days of heartbeats every 100 ms). A trace of that length takes
/// 512 MiB per column (arrival, sequence number, send time); one more arrival is
/// refused with [`TraceError::TooManyArrivals`], so reading an endless input stops in
/// bounded memory.
pub const MAX_ARRIVALS: u64 = 1 << 26;

/// The most lines a [`TraceReader`] reads, blank and comment lines included: 2^28
/// (four per arrival at [`MAX_ARRIVALS`]). Past it reading stops with
/// [`TraceError::TooManyLines`], so an endless input of empty lines or comments
/// ends too, not only one of arrivals.
pub const MAX_LINES: u64 = 1 << 28;

/// One heartbeat as the monitor saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arrival {
    /// When it arrived, on the monitor's clock.
    pub at: Timestamp,
    /// The sender's sequence number, if the trace records them.
    pub seq: Option<u64>,
    /// When it was sent, if the trace records it. Replay takes an injected crash
    /// right after this heartbeat to happen at its send time (else at its arrival).
    pub sent: Option<Timestamp>,
}

impl Arrival {
    /// An arrival at `at` with no sequence number or send time.
    pub const fn new(at: Timestamp) -> Self {
        Arrival {
            at,
            seq: None,
            sent: None,
        }
    }
}

/// A trace was refused: the line (1-based; for a trace built in memory, the 1-based
/// position of the arrival) and what was wrong. A reader stops at its first error;
/// nothing after that line is read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// Reading failed (also: the path is a directory, on line 0, or a line is not
    /// UTF-8, with [`io::ErrorKind::InvalidData`]).
    #[error("line {line}: read error: {source}")]
    Io {
        /// The line being read.
        line: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The header line is not one of the supported formats (or the input is empty).
    #[error(
        "line {line}: unknown header {found:?}: expected `arrival_ns[,seq][,sent_ns]` or \
         `numseq,timestamp_start_send,timestamp_end_send`"
    )]
    Header {
        /// The line of the header (or the last line, if there is none).
        line: u64,
        /// The header found (empty if none).
        found: String,
    },
    /// A row has a different number of fields than the header.
    #[error("line {line}: {found} fields, the header has {expected}")]
    FieldCount {
        /// The line.
        line: u64,
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A field is not a whole number of the expected range.
    #[error("line {line}: column `{column}`: {value:?} is not a whole number from 0 to 2^64 - 1")]
    Number {
        /// The line.
        line: u64,
        /// The column, as named in the header.
        column: &'static str,
        /// The field as found (at most 40 characters).
        value: String,
    },
    /// An arrival is at or before the previous one. Traces are not sorted for you: a
    /// detector is fed arrivals in the order they happened.
    #[error("line {line}: arrival at {at} is not after the previous one at {previous}")]
    OutOfOrder {
        /// The line.
        line: u64,
        /// The refused arrival.
        at: Timestamp,
        /// The previous arrival.
        previous: Timestamp,
    },
    /// An arrival has a sequence number or send time where the trace has none, or
    /// lacks one where the trace has them (in-memory traces only).
    #[error("arrival {line}: sequence number or send time present in some arrivals only")]
    Columns {
        /// The 1-based position of the arrival.
        line: u64,
    },
    /// A line is longer than [`MAX_LINE_BYTES`]. Reading stopped within that line,
    /// holding at most `max + 1` of its bytes.
    #[error("line {line}: longer than {max} bytes")]
    LineTooLong {
        /// The line.
        line: u64,
        /// The longest line accepted, bytes ([`MAX_LINE_BYTES`]).
        max: usize,
    },
    /// The input has more than [`MAX_LINES`] lines; reading stopped before this one.
    #[error("line {line}: more than {max} lines")]
    TooManyLines {
        /// The first line not read.
        line: u64,
        /// The most lines read ([`MAX_LINES`]).
        max: u64,
    },
    /// The trace would hold more than [`MAX_ARRIVALS`] arrivals: this one (on this
    /// line, or at this 1-based position for a trace built in memory) was refused.
    #[error("line {line}: more than {max} arrivals")]
    TooManyArrivals {
        /// The line of the arrival refused.
        line: u64,
        /// The most arrivals accepted ([`MAX_ARRIVALS`]).
        max: u64,
    },
}

/// A sequence of heartbeat arrivals in strictly increasing order, with optional
/// sequence numbers and send times (all arrivals have them or none does) and an
/// optional time at which the sender crashed.
///
/// Stored as columns (8 bytes per arrival and per optional column), so replaying
/// reads a dense array of timestamps.
///
/// # CSV format
///
/// ```text
/// # failure-detector trace v1        <- lines starting with '#' are comments
/// # crash_ns=5000000000              <- optional, before the header: the sender crashed then
/// arrival_ns,seq,sent_ns             <- header: arrival_ns, then optionally seq, then sent_ns
/// 1000000000,0,990000000             <- one arrival per line, whole nanoseconds
/// 1100000000,1,1090000000
/// ```
///
/// Blank lines are ignored; a line ends with `\n` or `\r\n` and is at most
/// [`MAX_LINE_BYTES`] long; a trace holds at most [`MAX_ARRIVALS`] arrivals. The
/// header may be `arrival_ns`, `arrival_ns,seq`,
/// `arrival_ns,sent_ns` or `arrival_ns,seq,sent_ns`. The reader also accepts the LIP6
/// PlanetLab format (header `numseq,timestamp_start_send,timestamp_end_send`): the
/// start of each send is taken as both the send time and the arrival (the files
/// record sender-side times; add a network model with
/// [`Scenario::apply`](crate::qos::Scenario::apply) to model the path).
///
/// ```
/// use failure_detector::Timestamp;
/// use failure_detector::qos::Trace;
///
/// let csv = "arrival_ns,seq\n100,0\n200,1\n350,3\n";
/// let trace = Trace::read(csv.as_bytes())?;
/// assert_eq!(trace.len(), 3);
/// assert_eq!(trace.arrivals()[2], Timestamp::from_nanos(350));
/// assert_eq!(trace.seqs(), Some(&[0, 1, 3][..]));
///
/// let mut out = Vec::new();
/// trace.write_csv(&mut out)?;
/// assert_eq!(Trace::read(&out[..])?, trace);
///
/// // Errors carry the line number.
/// let err = Trace::read("arrival_ns\n100\n90\n".as_bytes()).unwrap_err();
/// assert_eq!(err.to_string(), "line 3: arrival at 0.000000090s is not after the previous one at 0.000000100s");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    arrivals: Vec<Timestamp>,
    seqs: Option<Vec<u64>>,
    sent: Option<Vec<Timestamp>>,
    crash: Option<Timestamp>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// A trace of bare arrival times.
    ///
    /// # Errors
    /// [`TraceError::OutOfOrder`] at the first arrival not after the previous one;
    /// [`TraceError::TooManyArrivals`] for more than [`MAX_ARRIVALS`].
    pub fn from_timestamps(arrivals: Vec<Timestamp>) -> Result<Self, TraceError> {
        if arrivals.len() as u64 > MAX_ARRIVALS {
            return Err(TraceError::TooManyArrivals {
                line: MAX_ARRIVALS + 1,
                max: MAX_ARRIVALS,
            });
        }
        if let Some(i) = arrivals.windows(2).position(|w| w[1] <= w[0]) {
            return Err(TraceError::OutOfOrder {
                line: i as u64 + 2,
                at: arrivals[i + 1],
                previous: arrivals[i],
            });
        }
        Ok(Trace {
            arrivals,
            ..Trace::default()
        })
    }

    /// Appends an arrival. The first one decides whether the trace records sequence
    /// numbers and send times.
    ///
    /// # Errors
    /// [`TraceError::OutOfOrder`] if `arrival` is not after the last one;
    /// [`TraceError::Columns`] if it has a sequence number or send time where the
    /// trace has none or the other way round; [`TraceError::TooManyArrivals`] if the
    /// trace already holds [`MAX_ARRIVALS`]. The trace is unchanged.
    pub fn push(&mut self, arrival: Arrival) -> Result<(), TraceError> {
        let line = self.arrivals.len() as u64 + 1;
        if line > MAX_ARRIVALS {
            return Err(TraceError::TooManyArrivals {
                line,
                max: MAX_ARRIVALS,
            });
        }
        if let Some(&previous) = self.arrivals.last() {
            if arrival.at <= previous {
                return Err(TraceError::OutOfOrder {
                    line,
                    at: arrival.at,
                    previous,
                });
            }
            if self.seqs.is_some() != arrival.seq.is_some()
                || self.sent.is_some() != arrival.sent.is_some()
            {
                return Err(TraceError::Columns { line });
            }
        } else {
            self.seqs = arrival.seq.map(|_| Vec::new());
            self.sent = arrival.sent.map(|_| Vec::new());
        }
        self.arrivals.push(arrival.at);
        if let (Some(seqs), Some(seq)) = (&mut self.seqs, arrival.seq) {
            seqs.push(seq);
        }
        if let (Some(sent), Some(at)) = (&mut self.sent, arrival.sent) {
            sent.push(at);
        }
        Ok(())
    }

    /// Reads a trace in this crate's CSV format or the LIP6 format (see the type's
    /// docs), streaming: each line is parsed as it is read and stored once. Lines are
    /// at most [`MAX_LINE_BYTES`] long and a trace at most [`MAX_ARRIVALS`] arrivals,
    /// so memory stays bounded whatever the input.
    ///
    /// # Errors
    /// The first [`TraceError`], with its line number: [`TraceError::LineTooLong`],
    /// [`TraceError::TooManyArrivals`], a malformed header or row, an arrival out of
    /// order, or [`TraceError::Io`] (also for a line that is not UTF-8).
    pub fn read(reader: impl BufRead) -> Result<Self, TraceError> {
        let mut rows = TraceReader::new(reader)?;
        let mut trace = Trace {
            crash: rows.crash(),
            seqs: rows.has_seqs().then(Vec::new),
            sent: rows.has_sent().then(Vec::new),
            ..Trace::default()
        };
        for arrival in &mut rows {
            let arrival = arrival?;
            trace.arrivals.push(arrival.at);
            if let (Some(seqs), Some(seq)) = (&mut trace.seqs, arrival.seq) {
                seqs.push(seq);
            }
            if let (Some(sent), Some(at)) = (&mut trace.sent, arrival.sent) {
                sent.push(at);
            }
        }
        Ok(trace)
    }

    /// Reads a trace file (see [`read`](Self::read)).
    ///
    /// # Errors
    /// [`TraceError::Io`] (line 0) if the file cannot be opened or is a directory,
    /// else as [`read`](Self::read) (a device such as `/dev/zero` fails on its first
    /// line with [`TraceError::LineTooLong`]).
    pub fn read_path(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io { line: 0, source };
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a trace file",
            )));
        }
        Trace::read(BufReader::with_capacity(1 << 16, file))
    }

    /// Writes the trace in this crate's CSV format.
    ///
    /// # Errors
    /// Any error of `writer`.
    pub fn write_csv(&self, writer: impl Write) -> io::Result<()> {
        let mut w = io::BufWriter::new(writer);
        writeln!(w, "# failure-detector trace v1")?;
        if let Some(crash) = self.crash {
            writeln!(w, "# crash_ns={}", crash.as_nanos())?;
        }
        write!(w, "arrival_ns")?;
        if self.seqs.is_some() {
            write!(w, ",seq")?;
        }
        if self.sent.is_some() {
            write!(w, ",sent_ns")?;
        }
        writeln!(w)?;
        for arrival in self.iter() {
            write!(w, "{}", arrival.at.as_nanos())?;
            if let Some(seq) = arrival.seq {
                write!(w, ",{seq}")?;
            }
            if let Some(sent) = arrival.sent {
                write!(w, ",{}", sent.as_nanos())?;
            }
            writeln!(w)?;
        }
        w.flush()
    }

    /// Number of arrivals.
    pub fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// Whether there are no arrivals.
    pub fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    /// The arrival times, strictly increasing.
    pub fn arrivals(&self) -> &[Timestamp] {
        &self.arrivals
    }

    /// The sequence numbers, if recorded (one per arrival).
    pub fn seqs(&self) -> Option<&[u64]> {
        self.seqs.as_deref()
    }

    /// The send times, if recorded (one per arrival).
    pub fn sent(&self) -> Option<&[Timestamp]> {
        self.sent.as_deref()
    }

    /// When the sender crashed, if it did during the trace.
    pub fn crash(&self) -> Option<Timestamp> {
        self.crash
    }

    /// Records that the sender crashed at `at` (`None`: it did not).
    pub fn set_crash(&mut self, at: Option<Timestamp>) {
        self.crash = at;
    }

    /// Arrival `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Arrival> {
        Some(Arrival {
            at: *self.arrivals.get(i)?,
            seq: self.seqs.as_ref().map(|s| s[i]),
            sent: self.sent.as_ref().map(|s| s[i]),
        })
    }

    /// The arrivals in order.
    pub fn iter(&self) -> impl Iterator<Item = Arrival> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The first `n` arrivals (all if fewer), keeping the crash only if it happened
    /// before the last one kept.
    pub fn truncated(&self, n: usize) -> Trace {
        let n = n.min(self.len());
        let last = self.arrivals.get(n.wrapping_sub(1)).copied();
        Trace {
            arrivals: self.arrivals[..n].to_vec(),
            seqs: self.seqs.as_ref().map(|s| s[..n].to_vec()),
            sent: self.sent.as_ref().map(|s| s[..n].to_vec()),
            crash: self.crash.filter(|&c| last.is_some_and(|l| c <= l)),
        }
    }

    /// Mean, standard deviation, minimum and maximum of the gaps between arrivals, in
    /// nanoseconds; `None` for fewer than two arrivals.
    pub fn gap_stats(&self) -> Option<GapStats> {
        if self.arrivals.len() < 2 {
            return None;
        }
        let (mut sum, mut sum_sq, mut min, mut max) = (0u128, 0u128, u64::MAX, 0u64);
        for w in self.arrivals.windows(2) {
            let gap = w[1].as_nanos() - w[0].as_nanos();
            sum += u128::from(gap);
            sum_sq += u128::from(gap) * u128::from(gap);
            min = min.min(gap);
            max = max.max(gap);
        }
        let n = (self.arrivals.len() - 1) as f64;
        let mean = sum as f64 / n;
        let variance = (sum_sq as f64 / n - mean * mean).max(0.0);
        Some(GapStats {
            mean_ns: mean,
            std_dev_ns: variance.sqrt(),
            min_ns: min,
            max_ns: max,
        })
    }
}

/// Statistics of a trace's gaps between arrivals ([`Trace::gap_stats`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct GapStats {
    /// Mean gap, ns.
    pub mean_ns: f64,
    /// Population standard deviation of the gaps, ns.
    pub std_dev_ns: f64,
    /// Shortest gap, ns.
    pub min_ns: u64,
    /// Longest gap, ns.
    pub max_ns: u64,
}

impl FromIterator<Timestamp> for Result<Trace, TraceError> {
    fn from_iter<I: IntoIterator<Item = Timestamp>>(iter: I) -> Self {
        Trace::from_timestamps(iter.into_iter().collect())
    }
}

/// The column layouts the reader knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `arrival_ns[,seq][,sent_ns]`.
    Native { seq: bool, sent: bool },
    /// `numseq,timestamp_start_send,timestamp_end_send`.
    Lip6,
}

impl Layout {
    /// Every layout, for matching a header.
    const ALL: [Layout; 5] = [
        Layout::Native {
            seq: false,
            sent: false,
        },
        Layout::Native {
            seq: true,
            sent: false,
        },
        Layout::Native {
            seq: false,
            sent: true,
        },
        Layout::Native {
            seq: true,
            sent: true,
        },
        Layout::Lip6,
    ];

    /// The layout whose column names are the header's fields (trimmed), compared
    /// field by field without collecting them.
    fn from_header(header: &str) -> Option<Self> {
        Layout::ALL.into_iter().find(|layout| {
            header
                .split(',')
                .map(str::trim)
                .eq(layout.columns().iter().copied())
        })
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Native {
                seq: false,
                sent: false,
            } => &["arrival_ns"],
            Layout::Native {
                seq: true,
                sent: false,
            } => &["arrival_ns", "seq"],
            Layout::Native {
                seq: false,
                sent: true,
            } => &["arrival_ns", "sent_ns"],
            Layout::Native {
                seq: true,
                sent: true,
            } => &["arrival_ns", "seq", "sent_ns"],
            Layout::Lip6 => &["numseq", "timestamp_start_send", "timestamp_end_send"],
        }
    }
}

/// Reads a trace one arrival at a time, in constant memory (one reused line buffer of
/// at most [`MAX_LINE_BYTES`] + 1 bytes): an iterator of `Result<Arrival, TraceError>`
/// that ends after the first error. Accepts the same formats as [`Trace::read`], and
/// yields at most [`MAX_ARRIVALS`] arrivals (then [`TraceError::TooManyArrivals`]).
///
/// ```
/// use failure_detector::qos::TraceReader;
///
/// let csv = "# crash_ns=1000\narrival_ns\n100\n200\n";
/// let mut reader = TraceReader::new(csv.as_bytes())?;
/// assert_eq!(reader.crash().map(|c| c.as_nanos()), Some(1000));
/// let total: u64 = reader.map(|a| a.map(|a| a.at.as_nanos())).sum::<Result<u64, _>>()?;
/// assert_eq!(total, 300);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TraceReader<R> {
    reader: R,
    /// The current line, without its line ending; at most `MAX_LINE_BYTES + 1` bytes.
    line: Vec<u8>,
    line_no: u64,
    /// Lines read at the most: [`MAX_LINES`] (lower in unit tests).
    max_lines: u64,
    /// Arrivals yielded so far.
    count: u64,
    layout: Layout,
    crash: Option<Timestamp>,
    previous: Option<Timestamp>,
    done: bool,
}

impl<R: BufRead> TraceReader<R> {
    /// Reads the preamble (comments, the optional crash line) and the header.
    ///
    /// # Errors
    /// [`TraceError::Header`] for an unknown or missing header, [`TraceError::Number`]
    /// for a malformed crash line, [`TraceError::LineTooLong`],
    /// [`TraceError::TooManyLines`], [`TraceError::Io`].
    pub fn new(reader: R) -> Result<Self, TraceError> {
        Self::with_max_lines(reader, MAX_LINES)
    }

    /// [`new`](Self::new) reading at most `max_lines` lines.
    fn with_max_lines(reader: R, max_lines: u64) -> Result<Self, TraceError> {
        let mut this = TraceReader {
            reader,
            line: Vec::with_capacity(128),
            line_no: 0,
            max_lines,
            count: 0,
            layout: Layout::Lip6,
            crash: None,
            previous: None,
            done: false,
        };
        loop {
            if !this.next_line()? {
                return Err(TraceError::Header {
                    line: this.line_no,
                    found: String::new(),
                });
            }
            let text = this.text()?;
            if let Some(comment) = text.strip_prefix('#') {
                if let Some(value) = comment.trim().strip_prefix("crash_ns=") {
                    this.crash = Some(Timestamp::from_nanos(parse(
                        value,
                        this.line_no,
                        "crash_ns",
                    )?));
                }
                continue;
            }
            if text.is_empty() {
                continue;
            }
            this.layout = Layout::from_header(text).ok_or_else(|| TraceError::Header {
                line: this.line_no,
                found: text.chars().take(80).collect(),
            })?;
            return Ok(this);
        }
    }

    /// When the sender crashed, from the `# crash_ns=` line, if any.
    pub fn crash(&self) -> Option<Timestamp> {
        self.crash
    }

    /// Whether arrivals carry sequence numbers.
    pub fn has_seqs(&self) -> bool {
        matches!(self.layout, Layout::Native { seq: true, .. } | Layout::Lip6)
    }

    /// Whether arrivals carry send times.
    pub fn has_sent(&self) -> bool {
        matches!(
            self.layout,
            Layout::Native { sent: true, .. } | Layout::Lip6
        )
    }

    /// Reads the next line into the buffer, without its line ending; `false` at the
    /// end of the input. Reads from the inner buffer in chunks and stops within a
    /// line longer than [`MAX_LINE_BYTES`]: the buffer never grows beyond
    /// `MAX_LINE_BYTES + 1` bytes.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        if self.line_no >= self.max_lines {
            return Err(TraceError::TooManyLines {
                line: self.line_no + 1,
                max: self.max_lines,
            });
        }
        self.line_no += 1;
        let line = self.line_no;
        let too_long = TraceError::LineTooLong {
            line,
            max: MAX_LINE_BYTES,
        };
        // Room for the longest line plus a '\r' before its '\n'.
        let room = MAX_LINE_BYTES + 1;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(TraceError::Io { line, source }),
            };
            if available.is_empty() {
                if !any {
                    self.line_no -= 1;
                    return Ok(false);
                }
                break;
            }
            any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if chunk.len() > room - self.line.len() {
                return Err(too_long);
            }
            self.line.extend_from_slice(chunk);
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            if newline.is_some() {
                break;
            }
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if self.line.len() > MAX_LINE_BYTES {
            return Err(too_long);
        }
        Ok(true)
    }

    /// The current line as text, trimmed.
    fn text(&self) -> Result<&str, TraceError> {
        std::str::from_utf8(&self.line)
            .map(str::trim)
            .map_err(|e| TraceError::Io {
                line: self.line_no,
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })
    }

    /// Parses the current line as a row of the layout.
    fn parse_row(&self) -> Result<Arrival, TraceError> {
        let columns = self.layout.columns();
        let mut values = [0u64; 3];
        let mut found = 0;
        for field in self.text()?.split(',') {
            if found < columns.len() {
                values[found] = parse(field, self.line_no, columns[found])?;
            }
            found += 1;
        }
        if found != columns.len() {
            return Err(TraceError::FieldCount {
                line: self.line_no,
                found,
                expected: columns.len(),
            });
        }
        let ts = Timestamp::from_nanos;
        Ok(match self.layout {
            Layout::Native { seq, sent } => Arrival {
                at: ts(values[0]),
                seq: seq.then_some(values[1]),
                sent: sent.then(|| ts(values[columns.len() - 1])),
            },
            Layout::Lip6 => Arrival {
                at: ts(values[1]),
                seq: Some(values[0]),
                sent: Some(ts(values[1])),
            },
        })
    }

    fn next_arrival(&mut self) -> Result<Option<Arrival>, TraceError> {
        loop {
            if !self.next_line()? {
                return Ok(None);
            }
            let text = self.text()?;
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            if self.count >= MAX_ARRIVALS {
                return Err(TraceError::TooManyArrivals {
                    line: self.line_no,
                    max: MAX_ARRIVALS,
                });
            }
            let arrival = self.parse_row()?;
            if let Some(previous) = self.previous
                && arrival.at <= previous
            {
                return Err(TraceError::OutOfOrder {
                    line: self.line_no,
                    at: arrival.at,
                    previous,
                });
            }
            self.previous = Some(arrival.at);
            self.count += 1;
            return Ok(Some(arrival));
        }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_arrival().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

fn parse(field: &str, line: u64, column: &'static str) -> Result<u64, TraceError> {
    let field = field.trim();
    // `u64::from_str` accepts a leading '+'; a trace field is digits only.
    if field.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = field.parse()
    {
        return Ok(value);
    }
    Err(TraceError::Number {
        line,
        column,
        value: field.chars().take(40).collect(),
    })
}

impl fmt::Display for Arrival {
    /// `at` in seconds, then `seq=` and `sent=` if present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.at)?;
        if let Some(seq) = self.seq {
            write!(f, " seq={seq}")?;
        }
        if let Some(sent) = self.sent {
            write!(f, " sent={sent}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> TraceError {
        Trace::read(input.as_bytes()).unwrap_err()
    }

    #[test]
    fn parse_errors_carry_line_numbers() {
        let e = err("# comment\n\narrival_ns,seq\n1,0\n2,x\n");
        assert!(
            matches!(e, TraceError::Number { line: 5, column: "seq", ref value } if value == "x"),
            "{e:?}"
        );
        let e = err("arrival_ns\n1\n2,3\n");
        assert!(
            matches!(
                e,
                TraceError::FieldCount {
                    line: 3,
                    found: 2,
                    expected: 1
                }
            ),
            "{e:?}"
        );
        let e = err("arrival_ns,seq,sent_ns\n1,2\n");
        assert!(
            matches!(
                e,
                TraceError::FieldCount {
                    line: 2,
                    found: 2,
                    expected: 3
                }
            ),
            "{e:?}"
        );
        let e = err("time,seq\n1,2\n");
        assert!(matches!(e, TraceError::Header { line: 1, ref found } if found == "time,seq"));
        let e = err("# only a comment\n");
        assert!(matches!(e, TraceError::Header { line: 1, ref found } if found.is_empty()));
        let e = err("");
        assert!(matches!(e, TraceError::Header { line: 0, .. }));
        let e = err("arrival_ns\n5\n5\n");
        assert!(matches!(e, TraceError::OutOfOrder { line: 3, .. }), "{e:?}");
        let e = err("arrival_ns\n-5\n");
        assert!(matches!(e, TraceError::Number { line: 2, .. }));
        let e = err("arrival_ns\n+5\n");
        assert!(matches!(e, TraceError::Number { line: 2, .. }));
        let e = err("arrival_ns\n18446744073709551616\n");
        assert!(matches!(e, TraceError::Number { line: 2, .. }));
        let e = err("# crash_ns=soon\narrival_ns\n");
        assert!(matches!(
            e,
            TraceError::Number {
                line: 1,
                column: "crash_ns",
                ..
            }
        ));
        assert_eq!(
            err("numseq,timestamp_start_send,timestamp_end_send\n0,10,11\n1,9,12\n").to_string(),
            "line 3: arrival at 0.000000009s is not after the previous one at 0.000000010s"
        );
    }

    #[test]
    fn reads_every_layout_and_round_trips() {
        let t = Trace::read("arrival_ns,sent_ns\r\n10,5\r\n20,15\r\n".as_bytes()).unwrap();
        assert_eq!(t.seqs(), None);
        assert_eq!(t.sent().unwrap()[1], Timestamp::from_nanos(15));
        let lip6 = "numseq,timestamp_start_send,timestamp_end_send\n7,100,120\n8,200,230\n";
        let t = Trace::read(lip6.as_bytes()).unwrap();
        assert_eq!(
            t.get(1),
            Some(Arrival {
                at: Timestamp::from_nanos(200),
                seq: Some(8),
                sent: Some(Timestamp::from_nanos(200)),
            })
        );
        let mut t = t;
        t.set_crash(Some(Timestamp::from_nanos(250)));
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        assert_eq!(Trace::read(&out[..]).unwrap(), t);
        assert_eq!(t.truncated(1).crash(), None);
        assert_eq!(t.truncated(1).len(), 1);
    }

    #[test]
    fn push_checks_order_and_columns() {
        let mut t = Trace::new();
        t.push(Arrival::new(Timestamp::from_nanos(5))).unwrap();
        let late = Arrival {
            seq: Some(1),
            ..Arrival::new(Timestamp::from_nanos(6))
        };
        assert!(matches!(t.push(late), Err(TraceError::Columns { line: 2 })));
        assert!(matches!(
            t.push(Arrival::new(Timestamp::from_nanos(5))),
            Err(TraceError::OutOfOrder { line: 2, .. })
        ));
        assert_eq!(t.len(), 1);
        let from: Result<Trace, _> = [3, 2].map(Timestamp::from_nanos).into_iter().collect();
        assert!(matches!(from, Err(TraceError::OutOfOrder { line: 2, .. })));
    }

    #[test]
    fn reader_refuses_more_than_max_arrivals() {
        let mut r = TraceReader::new("arrival_ns\n1\n\n# c\n2\n3\n".as_bytes()).unwrap();
        r.count = MAX_ARRIVALS - 1;
        assert!(r.next().unwrap().is_ok());
        let e = r.next().unwrap().unwrap_err();
        assert!(
            matches!(
                e,
                TraceError::TooManyArrivals {
                    line: 5,
                    max: MAX_ARRIVALS
                }
            ),
            "{e:?}"
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn reader_stops_after_an_error() {
        let mut r = TraceReader::new("arrival_ns\n1\nx\n3\n".as_bytes()).unwrap();
        assert!(r.next().unwrap().is_ok());
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }

    #[test]
    fn an_endless_input_of_blank_lines_stops_at_the_line_limit() {
        /// Endless "\n# c\n": no arrival ever, so only the line limit stops it.
        struct Blank;
        impl io::Read for Blank {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = b"\n# c\n"[i % 5];
                }
                Ok(buf.len() - buf.len() % 5)
            }
        }
        // Comments before the header are part of the preamble: the limit applies
        // there too.
        let e = TraceReader::with_max_lines(io::BufReader::new(Blank), 1_000).err();
        assert!(
            matches!(
                e,
                Some(TraceError::TooManyLines {
                    line: 1_001,
                    max: 1_000
                })
            ),
            "{e:?}"
        );
        // After a header, blank lines and comments between rows count as well.
        let input = io::Read::chain("arrival_ns\n1\n".as_bytes(), Blank);
        let mut r = match TraceReader::with_max_lines(io::BufReader::new(input), 1_000) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert!(matches!(r.next(), Some(Ok(_))));
        let e = r.next();
        assert!(
            matches!(
                e,
                Some(Err(TraceError::TooManyLines {
                    line: 1_001,
                    max: 1_000
                }))
            ),
            "{e:?}"
        );
        assert!(r.next().is_none());
        assert_eq!(MAX_LINES, 1 << 28);
    }
}
