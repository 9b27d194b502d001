//! Criterion benchmarks of the gossip member ([`GossipMember`]).
//!
//! * `gossip_codec/encode_syn`, `gossip_codec/decode_syn`: one full-MTU (1,400
//!   bytes) Syn of a member that knows 1,000 others, encoded and decoded
//!   (`Throughput::Elements`: the member entries it carries).
//! * `gossip_codec/handle_syn_and_reply`: a received full-MTU Syn with nothing
//!   new handled end to end: decoded, merged (no news) and answered (the Ack
//!   encoded). `gossip_codec/decode_ack`: that Ack decoded.
//! * `gossip_merge/1000_new` and `gossip_merge/1000_stale`: a 1,000-entry digest
//!   (one Ack on a 16 KB MTU) handled by a member that knows the same 1,000
//!   members, every entry a strictly higher version (1,000 arrivals for 1,000
//!   detectors) or every entry already known (a replay; time barely moves, so
//!   no member's state changes: checked, as for `handle_syn_and_reply`).
//!   Target: < 20 us.
//! * `gossip_merge/digest_1000`: the pure digest merge
//!   ([`merge`](failure_detector::cluster::gossip::merge)) of a 1,000-entry
//!   digest into another over the same ids, each side newer for half of them
//!   (news in both directions: 500 entries updated, 500 stale).
//! * `gossip_round/1000`: a member's work per gossip round at N = 1,000: its
//!   tick (version bump, 3 Syns encoded, registry tick) and its share of the
//!   round's datagrams (3 Syns received and answered, 3 Acks received), which
//!   together carry a newer version of every member. Target: < 10 ms (1% of a
//!   core at 1 Hz).
//!
//! Datagrams are encoded outside the timed code (by hand, from the documented
//! wire format, or by a member); `iter_custom` times only the member's work.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::BatchSize;
use criterion::{Criterion, Throughput};
use failure_detector::cluster::gossip::{Digest, GossipConfig, GossipMember, Heartbeat};
use failure_detector::cluster::wire::{put_header, put_varint};
use failure_detector::cluster::{ClusterMember, Member};
use failure_detector::{NodeState, Timestamp};

const N: u64 = 1_000;
const SYN: u8 = 0x01;
const ACK: u8 = 0x02;

/// A Syn or Ack from `sender` (generation 0) at `version`, carrying `ids` at
/// `entry_version`, all of generation 0.
fn gossip(
    kind: u8,
    sender: u64,
    version: u64,
    ids: impl Iterator<Item = u64>,
    entry_version: u64,
) -> Vec<u8> {
    let ids: Vec<u64> = ids.collect();
    let mut out = Vec::new();
    put_header(&mut out, kind);
    put_varint(&mut out, sender);
    put_varint(&mut out, 0);
    put_varint(&mut out, version);
    put_varint(&mut out, 0); // no reachability records
    put_varint(&mut out, ids.len() as u64);
    for id in ids {
        put_varint(&mut out, id);
        put_varint(&mut out, 0);
        put_varint(&mut out, entry_version);
    }
    out
}

fn drain(m: &mut GossipMember<u64>) {
    while m.poll_datagram().is_some() {}
    while m.poll_event().is_some() {}
}

/// Member 0 with an MTU of `mtu`, knowing members 1..=N at version `rounds`,
/// after `rounds` rounds of five Acks a second carrying 200 of them each.
fn member(mtu: usize, rounds: u64) -> GossipMember<u64> {
    let config = GossipConfig::new().with_mtu(mtu);
    let mut m = GossipMember::new(Member::new(0, 0), config).unwrap();
    for r in 1..=rounds {
        for chunk in 0..5u64 {
            let ids = chunk * 200 + 1..=(chunk + 1) * 200;
            let ack = gossip(ACK, 1, r * 5 + chunk, ids, r);
            let at = Timestamp::from_secs(r).saturating_add(Duration::from_millis(chunk));
            m.handle_datagram(&1, &ack, at).unwrap();
        }
        drain(&mut m);
    }
    assert_eq!(m.tracked() as u64, N);
    m
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("gossip_codec");
    let mut m = member(1400, 1);
    let syn = m.bench_encode_syn();
    let entries = m.bench_decode(&0, &syn).unwrap() as u64;
    assert!(syn.len() <= 1400 && syn.len() > 1300, "{}", syn.len());
    g.throughput(Throughput::Elements(entries));
    g.bench_function("encode_syn", |b| b.iter(|| black_box(m.bench_encode_syn())));
    g.bench_function("decode_syn", |b| {
        b.iter(|| black_box(m.bench_decode(&0, black_box(&syn))))
    });

    // A peer's full-MTU Syn with nothing new, and the Ack it gets back.
    let peer_syn = gossip(SYN, 1, 1, 1..=240, 1);
    assert!(peer_syn.len() <= 1400);
    // Time moves 1 us per handled Syn: a few tenths of a second in all, so
    // that no member falls silent for its detector (the members' states must
    // not change while nothing new is heard; checked below).
    let mut t = Timestamp::from_secs(10);
    m.handle_datagram(&1, &peer_syn, t).unwrap();
    let ack = m.poll_datagram().unwrap().bytes;
    drain(&mut m);
    let before = states(&m);
    g.throughput(Throughput::Elements(240));
    g.bench_function("handle_syn_and_reply", |b| {
        b.iter(|| {
            t = t.saturating_add(Duration::from_micros(1));
            m.handle_datagram(&1, black_box(&peer_syn), t).unwrap();
            black_box(m.poll_datagram());
        })
    });
    assert_eq!(states(&m), before);
    g.throughput(Throughput::Elements(
        m.bench_decode(&0, &ack).unwrap() as u64
    ));
    g.bench_function("decode_ack", |b| {
        b.iter(|| black_box(m.bench_decode(&0, black_box(&ack))))
    });
    g.finish();
}

fn merge(c: &mut Criterion) {
    let mut g = c.benchmark_group("gossip_merge");
    g.throughput(Throughput::Elements(N));
    // Even ids newer on the left, odd ids newer on the right.
    let left: Digest<u64> = (1..=N)
        .map(|id| (id, Heartbeat::new(0, if id % 2 == 0 { 9 } else { 8 })))
        .collect();
    let right: Digest<u64> = (1..=N)
        .map(|id| (id, Heartbeat::new(0, if id % 2 == 0 { 8 } else { 9 })))
        .collect();
    g.bench_function("digest_1000", |b| {
        b.iter_batched_ref(
            || left.clone(),
            |into| {
                black_box(failure_detector::cluster::gossip::merge(
                    into,
                    black_box(&right),
                ))
            },
            BatchSize::SmallInput,
        )
    });
    let mut m = member(16_384, 3);
    let mut round = 3u64;
    let mut t = Timestamp::from_secs(3);
    g.bench_function("1000_new", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                t = t.saturating_add(Duration::from_millis(10));
                let ack = gossip(ACK, 1, round, 1..=N, round);
                let start = Instant::now();
                m.handle_datagram(&1, &ack, t).unwrap();
                total += start.elapsed();
                drain(&mut m);
            }
            total
        })
    });
    let before = states(&m);
    assert!(before.iter().all(|(_, s)| *s == NodeState::Alive));
    // A replay of the last digest. Time moves 100 ns per replay, a few
    // hundredths of a second in all: far less than the members' detectors
    // (fitted to 10 ms arrivals above) take to suspect them, so every entry
    // stays a stale entry of an Alive member (checked below), rather than
    // the members dying, being removed, and rejoining mid-benchmark.
    let stale = gossip(ACK, 1, round, 1..=N, round);
    g.bench_function("1000_stale", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                t = t.saturating_add(Duration::from_nanos(100));
                let start = Instant::now();
                m.handle_datagram(&1, black_box(&stale), t).unwrap();
                total += start.elapsed();
                drain(&mut m);
            }
            total
        })
    });
    assert_eq!(states(&m), before);
    g.finish();
}

/// What `m` knows of each member: a "nothing new" benchmark must leave it as
/// it found it (no state changed while it measured).
fn states(m: &GossipMember<u64>) -> Vec<(Member<u64>, NodeState)> {
    let members = m.members();
    assert_eq!(members.len() as u64, N);
    members
}

fn round(c: &mut Criterion) {
    let mut g = c.benchmark_group("gossip_round");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    let mut m = member(1400, 20);
    let mut r = 20u64;
    g.bench_function("1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                r += 1;
                let t = Timestamp::from_secs(r);
                // Six datagrams, each a sixth of the members at the new version
                // (about 170 entries, well within 1,400 bytes).
                let datagrams: Vec<(u64, Vec<u8>)> = (0..6u64)
                    .map(|i| {
                        let from = 1 + (r * 6 + i) % N;
                        let ids = i * N / 6 + 1..=(i + 1) * N / 6;
                        (from, gossip(if i < 3 { SYN } else { ACK }, from, r, ids, r))
                    })
                    .collect();
                let start = Instant::now();
                m.tick(t);
                for (k, (from, bytes)) in datagrams.iter().enumerate() {
                    let at = t.saturating_add(Duration::from_millis(k as u64 + 1));
                    m.handle_datagram(from, bytes, at).unwrap();
                }
                while let Some(d) = m.poll_datagram() {
                    black_box(d);
                }
                while let Some(e) = m.poll_event() {
                    black_box(e);
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    merge(&mut c);
    round(&mut c);
    c.final_summary();
}
