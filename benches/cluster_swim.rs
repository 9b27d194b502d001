//! Criterion benchmarks of the SWIM member.
//!
//! * `swim_wire/encode_ping_full_mtu` and `swim_wire/decode_ping_full_mtu`: a
//!   ping carrying as many piggybacked updates as fit in 1,400 bytes (`u64` ids
//!   near 1,000, suspect updates: about 200 of them), encoded into a reused
//!   buffer, and decoded (`Throughput::Elements`: updates).
//! * `swim_period/1000`: one member's work per protocol period in a cluster of
//!   1,000 at 1 Hz: the tick that starts a probe (the ping encoded with its
//!   piggyback), the target's ack handled, one ping from another member
//!   handled and answered, and the outputs polled. Crafting the two incoming
//!   datagrams (tens of bytes) is inside the timed code. The cluster is learned
//!   and its join updates drained before timing, so this is the steady state.
//!   Target: under 10 ms of work per period (1% of a core at 1 Hz).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failure_detector::Timestamp;
use failure_detector::cluster::swim::{Body, Message, Status, Update};
use failure_detector::cluster::{ClusterMember, Member, SwimConfig, SwimMember};

const N: u64 = 1_000;

/// A ping from member 1 with a full MTU of suspect updates.
fn full_ping() -> Message<u64> {
    let mut ping = Message {
        sender: Member::new(1u64, 1_700_000_000_000),
        incarnation: 3,
        body: Body::Ping {
            seq: 123_456,
            target: Member::new(2, 1_700_000_000_000),
        },
        updates: Vec::new(),
    };
    let mut bytes = Vec::new();
    for i in 0.. {
        let update = Update {
            status: Status::Suspect,
            member: Member::new(1_000 + i, 5),
            incarnation: 7,
            from: Some(900 + i % 50),
        };
        ping.updates.push(update);
        bytes.clear();
        ping.encode(&mut bytes);
        if bytes.len() > 1_400 {
            ping.updates.pop();
            break;
        }
    }
    ping
}

fn wire(c: &mut Criterion) {
    let ping = full_ping();
    let mut bytes = Vec::with_capacity(1_400);
    ping.encode(&mut bytes);
    assert!(bytes.len() <= 1_400);
    let mut g = c.benchmark_group("swim_wire");
    g.throughput(Throughput::Elements(ping.updates.len() as u64));
    let mut out = Vec::with_capacity(1_400);
    g.bench_function("encode_ping_full_mtu", |b| {
        b.iter(|| {
            out.clear();
            black_box(&ping).encode(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode_ping_full_mtu", |b| {
        b.iter(|| Message::<u64>::decode(black_box(&bytes), &1, 1_400).map(|m| m.updates.len()))
    });
    g.finish();
}

fn datagram(sender: u64, body: Body<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    Message {
        sender: Member::new(sender, 1),
        incarnation: 0,
        body,
        updates: Vec::new(),
    }
    .encode(&mut bytes);
    bytes
}

/// A member that knows 999 others (all Alive), with its join updates drained.
fn member_of_1000() -> (SwimMember<u64>, Timestamp) {
    let mut m = SwimMember::new(Member::new(0, 1), SwimConfig::lan()).unwrap();
    let mut now = Timestamp::from_secs(1);
    m.join(&[1], now);
    let ids: Vec<u64> = (2..N).collect();
    for chunk in ids.chunks(200) {
        let mut bytes = Vec::new();
        Message {
            sender: Member::new(1, 1),
            incarnation: 0,
            body: Body::Sync,
            updates: chunk
                .iter()
                .map(|&id| Update {
                    status: Status::Alive,
                    member: Member::new(id, 1),
                    incarnation: 0,
                    from: None,
                })
                .collect(),
        }
        .encode(&mut bytes);
        m.handle_datagram(&1, &bytes, now).unwrap();
    }
    assert_eq!(m.members().len() as u64, N - 1);
    // Drain the join updates: run periods until the queue is empty.
    for _ in 0..2_000 {
        now = period(&mut m, now);
        if m.stats().queued_updates == 0 {
            break;
        }
    }
    let stats = m.stats();
    assert_eq!(
        (stats.queued_updates, stats.suspect, stats.health_score),
        (0, 0, 0)
    );
    (m, now)
}

/// One protocol period: tick at the probe, the ack, a ping from another
/// member. Returns the next period's start.
fn period(m: &mut SwimMember<u64>, now: Timestamp) -> Timestamp {
    let start = m.next_deadline().unwrap_or(now).max(now);
    m.tick(start);
    let mut probe = None;
    while let Some(d) = m.poll_datagram() {
        if let Ok(Message {
            body: Body::Ping { seq, target },
            ..
        }) = Message::<u64>::decode(&d.bytes, &0, 1_400)
        {
            probe = Some((seq, target.id));
        }
    }
    let at = start + Duration::from_millis(1);
    if let Some((seq, target)) = probe {
        let ack = datagram(target, Body::Ack { seq });
        let _ = m.handle_datagram(&target, &ack, at);
        let pinger = target % (N - 1) + 1;
        let ping = datagram(
            pinger,
            Body::Ping {
                seq,
                target: Member::new(0, 1),
            },
        );
        let _ = m.handle_datagram(&pinger, &ping, at + Duration::from_millis(1));
    }
    while m.poll_datagram().is_some() {}
    while m.poll_event().is_some() {}
    start + Duration::from_secs(1)
}

fn per_period(c: &mut Criterion) {
    let (mut m, mut now) = member_of_1000();
    let mut g = c.benchmark_group("swim_period");
    g.throughput(Throughput::Elements(1));
    g.bench_function("1000", |b| {
        b.iter(|| {
            now = period(&mut m, now);
            black_box(now)
        })
    });
    g.finish();
}

criterion_group!(benches, wire, per_period);
criterion_main!(benches);
