//! Members in separate processes over real UDP, through a fault-injecting
//! relay: what `examples/cluster.rs` and `tests/cluster_udp.rs` share.
//!
//! * The **member process** ([`run_member`]) binds 127.0.0.1:0, drives one
//!   member with a [`UdpDriver`] whose default route is the relay, joins
//!   through every other id, and prints each event as one line on stdout
//!   (marked [`MARK`], dated on its own clock). It exits when its stdin (a
//!   pipe from the launcher) reaches end of file, when stdout is gone, or
//!   after its lifetime cap.
//! * The **launcher** ([`Cluster`]) runs the relay on a thread, spawns members
//!   (a command the caller builds: the example re-executes itself, the test
//!   re-executes the test binary), reads each child's lines on a thread of its
//!   own, dates them on the launcher's clock, and kills, stops (SIGSTOP),
//!   resumes (SIGCONT) and restarts members. Dropping it kills and reaps every
//!   child.
//!
//! Loopback addresses only; every port is chosen by the system.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use failure_detector::cluster::heartbeat::{AllToAllConfig, AllToAllMember};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, Doubt, GossipConfig, GossipMember, LocalGuardConfig, Member,
    SwimConfig, SwimMember,
};
use failure_detector::net::{Relay, RelayConfig, RelayHandle, Routes, UdpDriver};
use failure_detector::{FixedTimeout, FixedTimeoutConfig, NodeState};

/// Marks a member's event lines (anything else on its stdout is ignored).
pub const MARK: &str = "@fd ";

/// Set by a Ctrl-C handler: the launcher's waits return an error, and its
/// drop guard kills the children.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

// ----- timings shared by every mode -----

/// The members' period: a gossip round, a heartbeat, or a probe every 200 ms.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// Silence after which a fixed-timeout detector suspects: 7.5 intervals.
pub const SILENCE: Duration = Duration::from_millis(1_500);
/// How long a member stays Suspect before it is declared Dead.
pub const CONFIRMATION: Duration = Duration::from_millis(1_500);
/// A member whose own loop runs later than this takes it as its own pause
/// (and convicts no one for two intervals).
pub const MAX_LOCAL_PAUSE: Duration = Duration::from_secs(1);
/// Dead members are kept (tombstoned) this long before they are forgotten:
/// longer than any freeze of the script, so a member frozen past the
/// detection bound is still known (not quarantined) when it wakes, and its
/// same-generation news brings it back.
pub const REMOVAL_GRACE: Duration = Duration::from_secs(30);
/// The members' MTU, and their receive buffer (MTU plus a frame's overhead).
pub const MTU: usize = 1_400;

/// How members judge one another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Gossip of heartbeat versions, fanout 3, a fixed-timeout detector.
    Gossip,
    /// SWIM probes with Lifeguard (memberlist's local constants, faster).
    Probes,
    /// Every member heartbeats every other, a fixed-timeout detector.
    AllToAll,
}

impl Mode {
    /// Parses `gossip`, `probes` or `all-to-all`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "gossip" => Ok(Mode::Gossip),
            "probes" => Ok(Mode::Probes),
            "all-to-all" => Ok(Mode::AllToAll),
            _ => Err(format!(
                "--mode: expected gossip, probes or all-to-all, got {s:?}"
            )),
        }
    }

    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Gossip => "gossip",
            Mode::Probes => "probes",
            Mode::AllToAll => "all-to-all",
        }
    }

    /// How long after a crash every survivor has declared it Dead, and the
    /// formula, for `n` members.
    ///
    /// Gossip and all-to-all: the crashed member's last heartbeat reaches an
    /// observer at most `P` after the crash (gossip: 4 rounds of relaying;
    /// all-to-all: none, it is direct), the fixed timeout suspects after
    /// `SILENCE` without a newer one, conviction follows `CONFIRMATION`
    /// later, and an observer whose own loop runs up to `MAX_LOCAL_PAUSE` late
    /// is not considered paused, so its verdict may come that much later.
    /// Relay delays (at most delay + jitter) count twice (the last heartbeat
    /// in flight, and the relay of it).
    ///
    /// Probes (approximate; SWIM's detection time is random): the crashed
    /// member is probed within `2 (n - 1)` periods (a shuffled round robin),
    /// a probe fails after at most `awareness_max x INTERVAL`, the suspicion
    /// lasts at most its maximum timeout, plus `MAX_LOCAL_PAUSE`.
    pub fn detection_bound(self, n: u64, relay_delay: Duration) -> (Duration, String) {
        match self {
            Mode::Gossip | Mode::AllToAll => {
                let propagation = if self == Mode::Gossip {
                    INTERVAL * 4
                } else {
                    Duration::ZERO
                };
                let b = propagation + SILENCE + CONFIRMATION + MAX_LOCAL_PAUSE + relay_delay * 2;
                let f = format!(
                    "{}silence {:.1} s + confirmation {:.1} s + late loop {:.1} s + 2 x relay delay {} ms = {:.2} s",
                    if self == Mode::Gossip {
                        format!("propagation 4 x {} ms + ", INTERVAL.as_millis())
                    } else {
                        String::new()
                    },
                    SILENCE.as_secs_f64(),
                    CONFIRMATION.as_secs_f64(),
                    MAX_LOCAL_PAUSE.as_secs_f64(),
                    relay_delay.as_millis(),
                    b.as_secs_f64()
                );
                (b, f)
            }
            Mode::Probes => {
                let c = swim_config(0);
                let first_probe = INTERVAL * (2 * (n.max(2) as u32 - 1));
                let failed = INTERVAL * c.awareness_max_multiplier;
                let suspicion = c.suspicion_max_timeout(n as usize);
                let b = first_probe + failed + suspicion + MAX_LOCAL_PAUSE + relay_delay * 2;
                let f = format!(
                    "about: first probe {:.1} s + failed probe {:.1} s + suspicion (max) {:.1} s + late loop {:.1} s + 2 x relay delay = {:.1} s",
                    first_probe.as_secs_f64(),
                    failed.as_secs_f64(),
                    suspicion.as_secs_f64(),
                    MAX_LOCAL_PAUSE.as_secs_f64(),
                    b.as_secs_f64()
                );
                (b, f)
            }
        }
    }
}

fn guard() -> LocalGuardConfig {
    LocalGuardConfig::new().with_max_local_pause(MAX_LOCAL_PAUSE)
}

fn fixed() -> FixedTimeout {
    FixedTimeout::new(
        FixedTimeoutConfig::new()
            .with_interval(INTERVAL)
            .with_missed_heartbeats(SILENCE.as_secs_f64() / INTERVAL.as_secs_f64()),
    )
    .expect("a valid fixed timeout")
}

/// The probe mode's configuration: memberlist's local constants
/// (`SwimConfig::local`) with a 200 ms period and a 100 ms probe timeout.
pub fn swim_config(seed: u64) -> SwimConfig {
    SwimConfig::local()
        .with_probe_interval(INTERVAL)
        .with_probe_timeout(INTERVAL / 2)
        .with_tombstone_grace(REMOVAL_GRACE)
        .with_mtu(MTU)
        .with_guard(guard())
        .with_seed(seed)
}

/// What a member process is told on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberArgs {
    /// Its id (1 to n).
    pub id: u64,
    /// The relay's address.
    pub relay: SocketAddr,
    /// Its generation (rises on every restart).
    pub generation: u64,
    /// How members judge one another.
    pub mode: Mode,
    /// Members in the cluster (ids 1 to n): its seeds.
    pub n: u64,
    /// It exits after this long whatever happens.
    pub lifetime: Duration,
}

impl MemberArgs {
    /// The arguments that [`parse`](Self::parse) reads back.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--member".into(),
            self.id.to_string(),
            "--relay".into(),
            self.relay.to_string(),
            "--generation".into(),
            self.generation.to_string(),
            "--mode".into(),
            self.mode.name().into(),
            "--n".into(),
            self.n.to_string(),
            "--lifetime-ms".into(),
            self.lifetime.as_millis().to_string(),
        ]
    }

    /// Reads what [`to_args`](Self::to_args) wrote (in any order).
    pub fn parse(args: &[String]) -> Result<MemberArgs, String> {
        let mut m = MemberArgs {
            id: 0,
            relay: SocketAddr::from(([127, 0, 0, 1], 0)),
            generation: 1,
            mode: Mode::Gossip,
            n: 0,
            lifetime: Duration::from_secs(60),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag}: a value is missing"))?;
            let num = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
            };
            match flag.as_str() {
                "--member" => m.id = num()?,
                "--relay" => {
                    m.relay = value
                        .parse()
                        .map_err(|_| format!("--relay: expected ip:port, got {value:?}"))?;
                    if !m.relay.ip().is_loopback() {
                        return Err(format!("--relay: loopback addresses only, got {value}"));
                    }
                }
                "--generation" => m.generation = num()?,
                "--mode" => m.mode = Mode::parse(value)?,
                "--n" => m.n = num()?,
                "--lifetime-ms" => m.lifetime = Duration::from_millis(num()?),
                _ => return Err(format!("unknown member flag {flag}")),
            }
        }
        if m.id == 0 || m.id > m.n || m.n > 64 {
            return Err(format!(
                "--member {} of --n {}: expected 1 to n <= 64",
                m.id, m.n
            ));
        }
        Ok(m)
    }
}

// ----- the member process -----

/// Runs one member until its stdin closes, its stdout is gone, or its
/// lifetime ends. Prints `@fd ready <addr>` first, then one line per event.
pub fn run_member(args: &MemberArgs) -> Result<(), String> {
    let seed = 0x5EED ^ (args.id << 8) ^ args.generation;
    let me = Member::new(args.id, args.generation);
    let e = |e: failure_detector::ConfigError| e.to_string();
    match args.mode {
        Mode::Gossip => {
            let config = GossipConfig::local()
                .with_gossip_interval(INTERVAL)
                .with_confirmation(CONFIRMATION)
                .with_removal_grace(REMOVAL_GRACE)
                .with_mtu(MTU)
                .with_guard(guard())
                .with_seed(seed);
            drive(
                args,
                GossipMember::with_detector(me, config, fixed()).map_err(e)?,
            )
        }
        Mode::AllToAll => {
            let config = AllToAllConfig::new()
                .with_heartbeat_interval(INTERVAL)
                .with_confirmation(CONFIRMATION)
                .with_removal_grace(REMOVAL_GRACE)
                .with_mtu(MTU)
                .with_guard(guard());
            drive(
                args,
                AllToAllMember::with_detector(me, config, fixed()).map_err(e)?,
            )
        }
        Mode::Probes => drive(args, SwimMember::new(me, swim_config(seed)).map_err(e)?),
    }
}

fn drive<M: ClusterMember<u64>>(args: &MemberArgs, member: M) -> Result<(), String> {
    let io = |e: io::Error| e.to_string();
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
    let addr = socket.local_addr().map_err(io)?;
    let mut driver = UdpDriver::new(socket, member, Routes::new().via(args.relay)).map_err(io)?;
    driver
        .set_recv_buffer(MTU + 23)
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // End of file (the launcher is gone or let go) or an error: stop.
            let mut sink = [0u8; 64];
            let mut stdin = io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{MARK}0 ready {addr}").map_err(io)?;
    let seeds: Vec<u64> = (1..=args.n).filter(|&i| i != args.id).collect();
    driver.join(&seeds);
    let started = Instant::now();
    let mut broken = false;
    while !stop.load(Ordering::SeqCst) && !broken && started.elapsed() < args.lifetime {
        driver
            .step(Duration::from_millis(50), &mut |e| {
                if !broken && writeln!(out, "{MARK}{}", format_event(&e)).is_err() {
                    broken = true;
                }
            })
            .map_err(io)?;
    }
    let s = driver.stats();
    let _ = writeln!(
        out,
        "{MARK}{} stats in {} out {} refused {} {} no_route {} send_errors {}",
        driver.clock().origin().elapsed().as_millis(),
        s.datagrams_in,
        s.datagrams_out,
        s.refused_frames,
        s.refused_payloads,
        s.no_route,
        s.send_errors
    );
    Ok(())
}

fn state(s: NodeState) -> &'static str {
    match s {
        NodeState::Alive => "alive",
        NodeState::Suspect => "suspect",
        NodeState::Dead => "dead",
    }
}

fn parse_state(s: &str) -> Option<NodeState> {
    match s {
        "alive" => Some(NodeState::Alive),
        "suspect" => Some(NodeState::Suspect),
        "dead" => Some(NodeState::Dead),
        _ => None,
    }
}

/// One event as `<local ms> <kind> <fields...>`.
pub fn format_event(e: &ClusterEvent<u64>) -> String {
    let t = e.at().as_nanos() / 1_000_000;
    match e {
        ClusterEvent::Joined { member, .. } => {
            format!("{t} joined {} {}", member.id, member.generation)
        }
        ClusterEvent::Changed {
            member, from, to, ..
        } => format!(
            "{t} changed {} {} {} {}",
            member.id,
            member.generation,
            state(*from),
            state(*to)
        ),
        ClusterEvent::Restarted {
            member,
            previous_generation,
            ..
        } => format!(
            "{t} restarted {} {} {previous_generation}",
            member.id, member.generation
        ),
        ClusterEvent::Removed { member, .. } => {
            format!("{t} removed {} {}", member.id, member.generation)
        }
        ClusterEvent::LocalPause { late_by, until, .. } => format!(
            "{t} pause {} {}",
            late_by.as_millis(),
            until.as_nanos() / 1_000_000
        ),
        ClusterEvent::Isolated {
            suspected, peers, ..
        } => format!("{t} isolated {suspected} {peers}"),
        ClusterEvent::Reconnected { .. } => format!("{t} reconnected"),
        ClusterEvent::Deferred { member, doubt, .. } => format!(
            "{t} deferred {} {} {}",
            member.id,
            member.generation,
            match doubt {
                Doubt::LocalPause => "pause",
                Doubt::Isolated => "isolated",
                _ => "other",
            }
        ),
        ClusterEvent::Refuted { incarnation, .. } => format!("{t} refuted {incarnation}"),
        other => format!("{t} other {other:?}"),
    }
}

/// A member's event (or a line about itself) as the launcher reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// Bound its socket.
    Ready(SocketAddr),
    /// Learned of `(id, generation)`.
    Joined(u64, u64),
    /// Changed its verdict on `(id, generation)`.
    Changed(u64, u64, NodeState, NodeState),
    /// Accepted `(id, generation)` restarted from `previous`.
    Restarted(u64, u64, u64),
    /// Forgot `(id, generation)`.
    Removed(u64, u64),
    /// Its own loop ran `late` late; convicts no one until its local `until`.
    Pause(Duration, Duration),
    /// Thinks itself cut off: suspects `suspected` of `peers`.
    Isolated(u64, u64),
    /// No longer isolated.
    Reconnected,
    /// Held back a conviction of `(id, generation)` (`pause` or `isolated`).
    Deferred(u64, u64, String),
    /// Refuted a suspicion of itself with `incarnation`.
    Refuted(u64),
    /// Its last line: counters.
    Stats(String),
    /// An event this launcher does not parse.
    Other(String),
}

/// A line of a member, dated by the launcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The member that printed it.
    pub who: u64,
    /// Its generation.
    pub generation: u64,
    /// When the launcher read it (since the launcher started).
    pub at: Duration,
    /// The member's own clock (since it started).
    pub local: Duration,
    /// What it said.
    pub ev: Ev,
}

/// Parses a member's stdout line (`None`: not an event line).
pub fn parse_line(line: &str) -> Option<(Duration, Ev)> {
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let mut w = rest.split_whitespace();
    let local = Duration::from_millis(w.next()?.parse().ok()?);
    let kind = w.next()?;
    let mut num = || w.next().and_then(|s| s.parse::<u64>().ok());
    let ev = match kind {
        "ready" => Ev::Ready(rest.split_whitespace().nth(2)?.parse().ok()?),
        "joined" => Ev::Joined(num()?, num()?),
        "restarted" => Ev::Restarted(num()?, num()?, num()?),
        "removed" => Ev::Removed(num()?, num()?),
        "pause" => Ev::Pause(Duration::from_millis(num()?), Duration::from_millis(num()?)),
        "isolated" => Ev::Isolated(num()?, num()?),
        "reconnected" => Ev::Reconnected,
        "refuted" => Ev::Refuted(num()?),
        "changed" | "deferred" => {
            let mut w = rest.split_whitespace().skip(2);
            let id = w.next()?.parse().ok()?;
            let generation = w.next()?.parse().ok()?;
            if kind == "deferred" {
                Ev::Deferred(id, generation, w.next()?.to_string())
            } else {
                Ev::Changed(
                    id,
                    generation,
                    parse_state(w.next()?)?,
                    parse_state(w.next()?)?,
                )
            }
        }
        "stats" => Ev::Stats(rest.splitn(3, ' ').nth(2)?.to_string()),
        _ => Ev::Other(rest.to_string()),
    };
    Some((local, ev))
}

// ----- the launcher -----

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    generation: u64,
}

/// Called with each line as the launcher reads it.
pub type LineHook = Box<dyn FnMut(&Line)>;

/// How to start a member process: the launcher gives the member's arguments.
pub type Spawner = Box<dyn Fn(&MemberArgs) -> Command>;

/// The relay, the member processes and what they said. Dropping it kills and
/// reaps every child.
pub struct Cluster {
    start: Instant,
    relay: RelayHandle<u64>,
    mode: Mode,
    n: u64,
    lifetime: Duration,
    spawner: Spawner,
    children: BTreeMap<u64, Proc>,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    /// Every line read so far, in the order read.
    pub log: Vec<Line>,
    /// Called with each line as it is read (the demo prints them).
    pub on_line: Option<LineHook>,
}

impl Cluster {
    /// Binds the relay on 127.0.0.1:0 and runs it; no member yet.
    pub fn new(
        relay: RelayConfig,
        mode: Mode,
        n: u64,
        lifetime: Duration,
        spawner: Spawner,
    ) -> Result<Cluster, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let relay = Relay::new(socket, relay)
            .map_err(|e| e.to_string())?
            .spawn()
            .map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        Ok(Cluster {
            start: Instant::now(),
            relay,
            mode,
            n,
            lifetime,
            spawner,
            children: BTreeMap::new(),
            tx,
            rx,
            log: Vec::new(),
            on_line: None,
        })
    }

    /// The relay (change its faults through it).
    pub fn relay(&self) -> &RelayHandle<u64> {
        &self.relay
    }

    /// Time since the launcher started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Starts member `id` with `generation` (killing a previous process of
    /// it first).
    pub fn spawn(&mut self, id: u64, generation: u64) -> Result<(), String> {
        self.kill(id);
        let args = MemberArgs {
            id,
            relay: self.relay.local_addr(),
            generation,
            mode: self.mode,
            n: self.n,
            lifetime: self.lifetime,
        };
        let mut cmd = (self.spawner)(&args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning member {id}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let tx = self.tx.clone();
        let start = self.start;
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((local, ev)) = parse_line(&line) {
                    let at = start.elapsed();
                    let l = Line {
                        who: id,
                        generation,
                        at,
                        local,
                        ev,
                    };
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        });
        self.children.insert(
            id,
            Proc {
                child,
                stdin,
                generation,
            },
        );
        Ok(())
    }

    /// SIGKILLs member `id` and reaps it (nothing if it is not running).
    pub fn kill(&mut self, id: u64) {
        if let Some(mut p) = self.children.remove(&id) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    fn signal(&self, id: u64, sig: libc::c_int) -> Result<(), String> {
        let p = self
            .children
            .get(&id)
            .ok_or(format!("member {id} is not running"))?;
        let pid = libc::pid_t::try_from(p.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: kill(2) with a pid this launcher spawned and has not reaped.
        let r = unsafe { libc::kill(pid, sig) };
        if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "kill({pid}, {sig}): {}",
                io::Error::last_os_error()
            ))
        }
    }

    /// Freezes member `id` (SIGSTOP).
    pub fn stop(&self, id: u64) -> Result<(), String> {
        self.signal(id, libc::SIGSTOP)
    }

    /// Resumes member `id` (SIGCONT).
    pub fn resume(&self, id: u64) -> Result<(), String> {
        self.signal(id, libc::SIGCONT)
    }

    /// The generation of the running process of `id`.
    pub fn generation(&self, id: u64) -> Option<u64> {
        self.children.get(&id).map(|p| p.generation)
    }

    /// Collects lines until `until` (since the launcher started).
    ///
    /// # Errors
    /// When [`INTERRUPTED`] is set.
    pub fn pump_until(&mut self, until: Duration) -> Result<(), String> {
        self.wait_for(until, |_| false).map(|_| ())
    }

    /// Collects lines until `done(log)` holds (returns true) or until
    /// `deadline` (since the launcher started; returns false).
    ///
    /// # Errors
    /// When [`INTERRUPTED`] is set.
    pub fn wait_for(
        &mut self,
        deadline: Duration,
        done: impl Fn(&[Line]) -> bool,
    ) -> Result<bool, String> {
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Err("interrupted".into());
            }
            if done(&self.log) {
                return Ok(true);
            }
            let now = self.now();
            if now >= deadline {
                return Ok(false);
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            if let Ok(l) = self.rx.recv_timeout(wait) {
                if let Some(f) = self.on_line.as_mut() {
                    f(&l);
                }
                self.log.push(l);
            }
        }
    }

    /// Closes every member's stdin (they exit), waits up to `grace` for their
    /// last lines, then kills what is left.
    pub fn shutdown(&mut self, grace: Duration) {
        for p in self.children.values_mut() {
            p.stdin = None;
        }
        let deadline = self.now() + grace;
        let _ = self.wait_for(deadline, |_| false);
        let ids: Vec<u64> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
        while let Ok(l) = self.rx.try_recv() {
            self.log.push(l);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.children.values_mut() {
            p.stdin = None;
            // SIGKILL ends a stopped process too.
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

// ----- reading the log -----

/// The first time (launcher clock) `observer` changed `(subject, generation)`
/// to `to`, at or after `since`.
pub fn first_change(
    log: &[Line],
    observer: u64,
    subject: u64,
    generation: u64,
    to: NodeState,
    since: Duration,
) -> Option<Duration> {
    log.iter().find_map(|l| match l.ev {
        Ev::Changed(s, g, _, t)
            if l.who == observer && s == subject && g == generation && t == to && l.at >= since =>
        {
            Some(l.at)
        }
        _ => None,
    })
}

/// What `observer`'s latest process last said about `subject`: its verdict
/// and generation, replaying its events (`None`: unknown or removed).
pub fn verdict(log: &[Line], observer: u64, subject: u64) -> Option<(u64, NodeState)> {
    let latest = log
        .iter()
        .filter(|l| l.who == observer)
        .map(|l| l.generation)
        .max()?;
    let mut v = None;
    for l in log
        .iter()
        .filter(|l| l.who == observer && l.generation == latest)
    {
        match l.ev {
            Ev::Joined(s, g) | Ev::Restarted(s, g, _) if s == subject => {
                v = Some((g, NodeState::Alive))
            }
            Ev::Changed(s, g, _, to) if s == subject => v = Some((g, to)),
            Ev::Removed(s, _) if s == subject => v = None,
            _ => {}
        }
    }
    v
}

/// Whether each member of `ids` holds every other one alive.
pub fn all_know_all(log: &[Line], ids: &[u64]) -> bool {
    ids.iter().all(|&o| {
        ids.iter()
            .filter(|&&s| s != o)
            .all(|&s| matches!(verdict(log, o, s), Some((_, NodeState::Alive))))
    })
}
