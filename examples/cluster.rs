//! Members in separate processes over real UDP, with faults injected: the
//! launcher binds a relay on 127.0.0.1, re-executes itself as N member
//! processes (nothing to install), runs a fault script through the relay and
//! with signals (SIGKILL, SIGSTOP/SIGCONT, a restart with a higher
//! generation, a cut link, a partition), and prints one timeline of what each
//! member concluded, dated on the launcher's clock.
//!
//! ```text
//! cargo run --release --example cluster                      # 5 members, gossip, the default script
//! cargo run --release --example cluster -- --mode probes     # SWIM with Lifeguard
//! cargo run --release --example cluster -- --mode all-to-all --n 7
//! cargo run --release --example cluster -- --script none --loss 0.2 --kill 3@4s --end 15s
//! cargo run --release --example cluster -- --help
//! ```
//!
//! Every member exits when the launcher closes its stdin (on exit, on error,
//! and on Ctrl-C, which the launcher catches to kill its children), and in
//! any case after a lifetime cap. Loopback addresses and system-chosen ports
//! only.

#[allow(dead_code)]
#[path = "../tests/support/procs.rs"]
mod procs;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use failure_detector::NodeState;
use failure_detector::net::RelayConfig;
use procs::{Cluster, Ev, Line, MemberArgs, Mode};

const HELP: &str = "\
cluster: members in separate processes over UDP through a fault-injecting relay

USAGE: cargo run --release --example cluster -- [FLAGS]

  --n N                 members (3 to 16; default 5), ids 1 to N
  --mode MODE           gossip (default), probes (SWIM + Lifeguard) or all-to-all
  --loss P              relay loss probability per datagram (default 0.02)
  --delay D             relay base delay (default 1ms)
  --jitter D            relay extra uniform delay in [0, D] (default 10ms; reorders)
  --script NAME         default: kill N at 3s, freeze 2 from 9s to 16s, restart N
                          at 12s, cut 1->3 from 20s to 24s, partition 1,2/3..N
                          from 27s to 31s, end at 36s
                        calm: the default without the cut and the partition, end at 22s
                        none: no fault; add your own with the flags below
  --kill ID@T           SIGKILL member ID at T
  --freeze ID@T1..T2    SIGSTOP member ID at T1, SIGCONT at T2
  --restart ID@T        start member ID again at T with the next generation
                          (killing it first if it still runs)
  --cut A-B@T1..T2      drop datagrams from A to B (one way) from T1 to T2
  --partition G/G..@T1..T2   groups of ids (1,2/3,4,5) that cannot reach each
                          other from T1 to T2; ids in no group reach everyone
  --end T               stop at T (at most 55s; default: the script's end)
  --seed S              the relay's seed (default 2026)

Durations: 250ms, 1.5s, 7s. Times are from the launcher's start.";

#[derive(Clone, Debug)]
enum Action {
    Kill(u64),
    Stop(u64),
    Resume(u64),
    Restart(u64),
    Cut(u64, u64),
    Uncut(u64, u64),
    Partition(Vec<Vec<u64>>),
    Heal,
}

struct Options {
    n: u64,
    mode: Mode,
    loss: f64,
    delay: Duration,
    jitter: Duration,
    seed: u64,
    script: Vec<(Duration, Action)>,
    end: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else {
        return Err(format!("{s:?}: a duration needs a unit (250ms, 1.5s)"));
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number before the unit"))?;
    if !v.is_finite() || v < 0.0 || v * unit > 3_600.0 {
        return Err(format!("{s:?}: expected 0 to 3600 s"));
    }
    Ok(Duration::from_secs_f64(v * unit))
}

fn parse_id(s: &str, n: u64) -> Result<u64, String> {
    let id: u64 = s
        .parse()
        .map_err(|_| format!("{s:?}: expected a member id"))?;
    if id == 0 || id > n {
        return Err(format!("member {id}: ids run from 1 to --n {n}"));
    }
    Ok(id)
}

/// `X@T` -> (X, T).
fn at(s: &str) -> Result<(&str, Duration), String> {
    let (what, t) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?}: expected WHAT@TIME"))?;
    Ok((what, parse_duration(t)?))
}

/// `X@T1..T2` -> (X, T1, T2).
fn span(s: &str) -> Result<(&str, Duration, Duration), String> {
    let (what, t) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?}: expected WHAT@T1..T2"))?;
    let (a, b) = t
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: expected a span T1..T2"))?;
    let (a, b) = (parse_duration(a)?, parse_duration(b)?);
    if b <= a {
        return Err(format!("{s:?}: the span ends before it starts"));
    }
    Ok((what, a, b))
}

fn secs(t: u64) -> Duration {
    Duration::from_secs(t)
}

fn script(name: &str, n: u64) -> Result<(Vec<(Duration, Action)>, Duration), String> {
    if name == "none" {
        return Ok((Vec::new(), secs(20)));
    }
    if !matches!(name, "default" | "calm") {
        return Err(format!(
            "--script: expected default, calm or none, got {name:?}"
        ));
    }
    let mut s = vec![
        (secs(3), Action::Kill(n)),
        (secs(9), Action::Stop(2)),
        (secs(12), Action::Restart(n)),
        (secs(16), Action::Resume(2)),
    ];
    if name == "calm" {
        return Ok((s, secs(22)));
    }
    s.extend([
        (secs(20), Action::Cut(1, 3)),
        (secs(24), Action::Uncut(1, 3)),
        (
            secs(27),
            Action::Partition(vec![vec![1, 2], (3..=n).collect()]),
        ),
        (secs(31), Action::Heal),
    ]);
    Ok((s, secs(36)))
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(f) = it.next() {
        if f == "--help" || f == "-h" {
            return Err(HELP.into());
        }
        if !f.starts_with("--") {
            return Err(format!("unexpected argument {f:?} (see --help)"));
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{f}: a value is missing (see --help)"))?;
        flags.push((f.clone(), v.clone()));
    }
    let get = |name: &str| flags.iter().rev().find(|(f, _)| f == name).map(|(_, v)| v);
    let n = match get("--n") {
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (3..=16).contains(n))
            .ok_or_else(|| format!("--n: expected 3 to 16, got {v:?}"))?,
        None => 5,
    };
    let mode = Mode::parse(get("--mode").map_or("gossip", |s| s.as_str()))?;
    let loss = match get("--loss") {
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("--loss: expected a probability in [0, 1], got {v:?}"))?,
        None => 0.02,
    };
    let dur = |name: &str, default: Duration| -> Result<Duration, String> {
        get(name).map_or(Ok(default), |v| {
            parse_duration(v).map_err(|e| format!("{name}: {e}"))
        })
    };
    let delay = dur("--delay", Duration::from_millis(1))?;
    let jitter = dur("--jitter", Duration::from_millis(10))?;
    let seed = match get("--seed") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("--seed: expected a number, got {v:?}"))?,
        None => 2026,
    };
    let (mut s, mut end) = script(get("--script").map_or("default", |s| s.as_str()), n)?;
    for (f, v) in &flags {
        let ctx = |e: String| format!("{f} {v}: {e}");
        match f.as_str() {
            "--kill" | "--restart" => {
                let (id, t) = at(v).map_err(ctx)?;
                let id = parse_id(id, n).map_err(ctx)?;
                s.push((
                    t,
                    if f == "--kill" {
                        Action::Kill(id)
                    } else {
                        Action::Restart(id)
                    },
                ));
            }
            "--freeze" => {
                let (id, a, b) = span(v).map_err(ctx)?;
                let id = parse_id(id, n).map_err(ctx)?;
                s.push((a, Action::Stop(id)));
                s.push((b, Action::Resume(id)));
            }
            "--cut" => {
                let (ends, a, b) = span(v).map_err(ctx)?;
                let (x, y) = ends
                    .split_once('-')
                    .ok_or_else(|| ctx("expected A-B".into()))?;
                let (x, y) = (parse_id(x, n).map_err(ctx)?, parse_id(y, n).map_err(ctx)?);
                s.push((a, Action::Cut(x, y)));
                s.push((b, Action::Uncut(x, y)));
            }
            "--partition" => {
                let (groups, a, b) = span(v).map_err(ctx)?;
                let groups = groups
                    .split('/')
                    .map(|g| g.split(',').map(|id| parse_id(id, n)).collect())
                    .collect::<Result<Vec<Vec<u64>>, String>>()
                    .map_err(ctx)?;
                if groups.len() < 2 {
                    return Err(ctx("expected at least two groups (1,2/3,4)".into()));
                }
                s.push((a, Action::Partition(groups)));
                s.push((b, Action::Heal));
            }
            "--n" | "--mode" | "--loss" | "--delay" | "--jitter" | "--seed" | "--script"
            | "--end" => {}
            _ => return Err(format!("unknown flag {f} (see --help)")),
        }
    }
    s.sort_by_key(|(t, _)| *t);
    if let Some((t, _)) = s.last() {
        end = end.max(*t + secs(5));
    }
    if let Some(v) = get("--end") {
        end = parse_duration(v).map_err(|e| format!("--end: {e}"))?;
    }
    if end > secs(55) {
        return Err(format!(
            "--end: the run must stay under a minute (at most 55 s), not {:.1} s",
            end.as_secs_f64()
        ));
    }
    if let Some((t, _)) = s.iter().find(|(t, _)| *t >= end) {
        return Err(format!(
            "a fault at {:.1} s is past the end ({:.1} s)",
            t.as_secs_f64(),
            end.as_secs_f64()
        ));
    }
    Ok(Options {
        n,
        mode,
        loss,
        delay,
        jitter,
        seed,
        script: s,
        end,
    })
}

extern "C" fn on_sigint(_: libc::c_int) {
    procs::INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--member") {
        if let Err(e) = MemberArgs::parse(&args).and_then(|a| procs::run_member(&a)) {
            eprintln!("member: {e}");
            std::process::exit(2);
        }
        return;
    }
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(if e == HELP { 0 } else { 2 });
        }
    };
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    if let Err(e) = run(&options) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn t(d: Duration) -> String {
    format!("{:5.2} s", d.as_secs_f64())
}

fn describe(a: &Action, generation: Option<u64>) -> String {
    match a {
        Action::Kill(id) => format!("SIGKILL member {id}"),
        Action::Stop(id) => format!("SIGSTOP member {id} (frozen)"),
        Action::Resume(id) => format!("SIGCONT member {id} (wakes)"),
        Action::Restart(id) => format!(
            "restart member {id} as generation {}",
            generation.unwrap_or(0)
        ),
        Action::Cut(a, b) => format!("cut the link {a} -> {b}"),
        Action::Uncut(a, b) => format!("restore the link {a} -> {b}"),
        Action::Partition(g) => format!(
            "partition {}",
            g.iter()
                .map(|g| g.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        Action::Heal => "heal the partition".into(),
    }
}

fn run(o: &Options) -> Result<(), String> {
    let relay = RelayConfig::new()
        .with_loss(o.loss)
        .with_delay(o.delay)
        .with_jitter(o.jitter)
        .with_seed(o.seed);
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let spawner = Box::new(move |args: &MemberArgs| {
        let mut c = Command::new(&exe);
        c.args(args.to_args());
        c
    });
    let lifetime = o.end + secs(20);
    let mut cluster = Cluster::new(relay, o.mode, o.n, lifetime, spawner)?;
    let (bound, formula) = o.mode.detection_bound(o.n, o.delay + o.jitter);
    println!(
        "{} member processes, {} mode, every {} ms; relay on {} with {:.0}% loss, {} ms + up to {} ms delay.",
        o.n,
        o.mode.name(),
        procs::INTERVAL.as_millis(),
        cluster.relay().local_addr(),
        o.loss * 100.0,
        o.delay.as_millis(),
        o.jitter.as_millis()
    );
    println!("Detection bound: {formula}.");
    println!("Run ends at {:.0} s.\n", o.end.as_secs_f64());
    let mut generations: BTreeMap<u64, u64> = (1..=o.n).map(|id| (id, 1)).collect();
    for id in 1..=o.n {
        cluster.spawn(id, 1)?;
    }
    let mut actions: Vec<(Duration, Action, String)> = Vec::new();
    for (when, action) in &o.script {
        cluster.pump_until(*when)?;
        let now = cluster.now();
        let mut generation = None;
        match action {
            Action::Kill(id) => cluster.kill(*id),
            Action::Stop(id) => cluster.stop(*id)?,
            Action::Resume(id) => cluster.resume(*id)?,
            Action::Restart(id) => {
                let g = generations.entry(*id).or_insert(1);
                *g += 1;
                generation = Some(*g);
                cluster.spawn(*id, *g)?;
            }
            Action::Cut(a, b) => cluster.relay().cut(*a, *b).map_err(|e| e.to_string())?,
            Action::Uncut(a, b) => cluster.relay().uncut(*a, *b).map_err(|e| e.to_string())?,
            Action::Partition(g) => cluster
                .relay()
                .partition(g.clone())
                .map_err(|e| e.to_string())?,
            Action::Heal => cluster.relay().heal().map_err(|e| e.to_string())?,
        }
        let d = describe(action, generation);
        println!("{}  launcher: {d}", t(now));
        actions.push((now, action.clone(), d));
    }
    cluster.pump_until(o.end)?;
    let relay = cluster.relay().stats().map_err(|e| e.to_string())?;
    cluster.shutdown(Duration::from_millis(500));
    report(o, &cluster.log, &actions, bound, relay);
    Ok(())
}

fn what(ev: &Ev) -> Option<String> {
    Some(match ev {
        Ev::Changed(id, g, from, to) => format!("{id}#{g}: {from} -> {to}"),
        Ev::Restarted(id, g, p) => format!("{id} restarted: generation {p} -> {g}, accepted"),
        Ev::Removed(id, g) => format!("{id}#{g} removed"),
        Ev::Pause(late, until) => format!(
            "my own loop ran {:.1} s late: convicting no one until {:.1} s (my clock)",
            late.as_secs_f64(),
            until.as_secs_f64()
        ),
        Ev::Isolated(s, p) => format!("I suspect {s} of {p} peers: likely cut off myself"),
        Ev::Reconnected => "no longer isolated".into(),
        Ev::Deferred(id, g, why) => format!("{id}#{g}: conviction deferred ({why})"),
        Ev::Refuted(i) => format!("others suspected me: refuted (incarnation {i})"),
        Ev::Joined(..) | Ev::Ready(_) | Ev::Stats(_) => return None,
        Ev::Other(s) => s.clone(),
    })
}

fn report(
    o: &Options,
    log: &[Line],
    actions: &[(Duration, Action, String)],
    bound: Duration,
    relay: failure_detector::net::RelayStats,
) {
    // One timeline: the launcher's actions and every member's conclusions
    // (joins at start-up left out), on the launcher's clock.
    let mut rows: Vec<(Duration, String)> = actions
        .iter()
        .map(|(at, _, d)| (*at, format!("launcher: {d}")))
        .collect();
    let first_action = actions.first().map_or(o.end, |a| a.0);
    for l in log {
        let text = match (&l.ev, l.at < first_action) {
            (Ev::Joined(id, g), false) => Some(format!("{id}#{g} joined")),
            (ev, _) => what(ev),
        };
        if let Some(text) = text {
            rows.push((
                l.at,
                format!(
                    "member {}#{} (its clock {:5.2} s): {text}",
                    l.who,
                    l.generation,
                    l.local.as_secs_f64()
                ),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    println!("\n== Timeline (launcher's clock) ==");
    for (at, text) in &rows {
        println!("{}  {text}", t(*at));
    }

    println!("\n== What the members concluded ==");
    let mut out = String::new();
    let dead_at = |observer: u64, subject: u64, generation: u64, since: Duration| {
        procs::first_change(log, observer, subject, generation, NodeState::Dead, since)
    };
    let suspect_at = |observer: u64, subject: u64, generation: u64, since: Duration| {
        procs::first_change(
            log,
            observer,
            subject,
            generation,
            NodeState::Suspect,
            since,
        )
    };
    let observers = |except: u64| -> Vec<u64> { (1..=o.n).filter(|&i| i != except).collect() };
    for (at, action, _) in actions {
        match action {
            Action::Kill(id) => {
                let g = log
                    .iter()
                    .filter(|l| l.who == *id && l.at <= *at)
                    .map(|l| l.generation)
                    .max()
                    .unwrap_or(1);
                let _ = writeln!(
                    out,
                    "Member {id}#{g} killed at {} (bound {:.2} s):",
                    t(*at),
                    bound.as_secs_f64()
                );
                for ob in observers(*id) {
                    let (s, d) = (suspect_at(ob, *id, g, *at), dead_at(ob, *id, g, *at));
                    let show = |x: Option<Duration>| {
                        x.map_or("never".into(), |x| {
                            format!("{} (+{:.2} s)", t(x), (x - *at).as_secs_f64())
                        })
                    };
                    let late = d.is_some_and(|d| d - *at > bound);
                    let _ = writeln!(
                        out,
                        "  member {ob}: suspected at {}, declared dead at {}{}",
                        show(s),
                        show(d),
                        if late { "  <- past the bound" } else { "" }
                    );
                }
            }
            Action::Stop(id) => {
                let wake = actions
                    .iter()
                    .find(|(w, a, _)| *w >= *at && matches!(a, Action::Resume(x) if x == id))
                    .map_or(o.end, |a| a.0);
                let _ = writeln!(out, "Member {id} frozen from {} to {}:", t(*at), t(wake));
                for ob in observers(*id) {
                    let d = dead_at(ob, *id, 1, *at).filter(|d| *d <= wake + secs(1));
                    let back = log.iter().find(|l| {
                        l.who == ob
                            && l.at >= wake
                            && l.at <= wake + secs(3)
                            && matches!(l.ev, Ev::Changed(s, _, _, NodeState::Alive) if s == *id)
                    });
                    let _ = writeln!(
                        out,
                        "  member {ob}: {}{}",
                        d.map_or("did not declare it dead".into(), |d| format!(
                            "declared it dead at {}",
                            t(d)
                        )),
                        back.map_or(String::new(), |l| format!(", alive again at {}", t(l.at)))
                    );
                }
                let woke: Vec<String> = log
                    .iter()
                    .filter(|l| l.who == *id && l.at >= wake && l.at <= wake + secs(3))
                    .filter_map(|l| what(&l.ev))
                    .collect();
                let dead = log.iter().any(|l| {
                    l.who == *id
                        && l.at >= wake
                        && l.at <= wake + secs(3)
                        && matches!(l.ev, Ev::Changed(_, _, _, NodeState::Dead))
                });
                let _ = writeln!(
                    out,
                    "  on waking it concluded: {}; it declared {} dead.",
                    if woke.is_empty() {
                        "nothing".into()
                    } else {
                        woke.join("; ")
                    },
                    if dead { "someone" } else { "no one" }
                );
            }
            Action::Restart(id) => {
                let g = log
                    .iter()
                    .filter(|l| l.who == *id && l.at >= *at)
                    .map(|l| l.generation)
                    .max()
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "Member {id} restarted at {} as generation {g}:",
                    t(*at)
                );
                for ob in observers(*id) {
                    let seen = log.iter().find(|l| {
                        l.who == ob
                            && l.at >= *at
                            && matches!(l.ev, Ev::Restarted(s, ng, _) | Ev::Joined(s, ng) if s == *id && ng == g)
                    });
                    let _ = writeln!(
                        out,
                        "  member {ob}: {}",
                        seen.map_or("never accepted it".into(), |l| format!(
                            "accepted generation {g} at {} (+{:.2} s)",
                            t(l.at),
                            (l.at - *at).as_secs_f64()
                        ))
                    );
                }
            }
            Action::Cut(..) | Action::Partition(_) => {
                let end = actions
                    .iter()
                    .find(|(w, a, _)| *w > *at && matches!(a, Action::Uncut(..) | Action::Heal))
                    .map_or(o.end, |a| a.0);
                let during: Vec<&Line> = log
                    .iter()
                    .filter(|l| l.at >= *at && l.at <= end + secs(1))
                    .collect();
                let count = |f: &dyn Fn(&Ev) -> bool| during.iter().filter(|l| f(&l.ev)).count();
                let suspicions = count(&|e| matches!(e, Ev::Changed(_, _, _, NodeState::Suspect)));
                let deferred = count(&|e| matches!(e, Ev::Deferred(..)));
                let dead: Vec<String> = during
                    .iter()
                    .filter_map(|l| match l.ev {
                        Ev::Changed(s, _, _, NodeState::Dead) => Some(format!("{} -> {s}", l.who)),
                        _ => None,
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{} from {} to {}: {suspicions} suspicions, {deferred} convictions deferred, \
                     {} declared dead{}",
                    describe(action, None),
                    t(*at),
                    t(end),
                    dead.len(),
                    if dead.is_empty() {
                        String::new()
                    } else {
                        format!(" (observer -> member: {})", dead.join(", "))
                    }
                );
            }
            _ => {}
        }
    }
    print!("{out}");
    let stats: Vec<String> = log
        .iter()
        .filter_map(|l| match &l.ev {
            Ev::Stats(s) => Some(format!("  member {}#{}: {s}", l.who, l.generation)),
            _ => None,
        })
        .collect();
    println!(
        "\nRelay: {} received, {} forwarded, {} lost, {} cut, {} partitioned, {} for unknown members.",
        relay.received,
        relay.forwarded,
        relay.lost,
        relay.cut,
        relay.partitioned,
        relay.unknown_receiver
    );
    if !stats.is_empty() {
        println!("Members' datagrams (at exit):\n{}", stats.join("\n"));
    }
}
