//! Hostile but well-formed datagrams: extreme generations, versions and
//! incarnations (up to `u64::MAX`), news about the receiver itself (claims that it
//! is dead, an impersonator with a higher generation), unknown senders, replays,
//! interleaved with ticks. Debug builds check arithmetic overflow, so a member that
//! adds one to a `u64::MAX` from the network panics here. Members must not panic,
//! must keep their tables within `max_members`, must keep every datagram within
//! the MTU, and must keep a deadline.

use failure_detector::Timestamp;
use failure_detector::cluster::swim::{Body, Message, Status, Update};
use failure_detector::cluster::wire::{put_header, put_varint};
use failure_detector::cluster::{
    ClusterMember, GossipConfig, GossipMember, Member, ObserverConfig, SwimConfig, SwimMember,
};
use proptest::prelude::*;

const ME: u64 = 1;

/// A datagram (sender, bytes), or a tick when `None`, and the milliseconds the
/// clock moves before it.
type Input = (Option<(u64, Vec<u8>)>, u64);
const MAX_MEMBERS: usize = 8;

fn extreme() -> impl Strategy<Value = u64> {
    // 7 is the receiver's own generation: news about it in that generation counts.
    prop_oneof![
        Just(0),
        Just(1),
        Just(7),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        any::<u64>()
    ]
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![Just(ME), 2u64..6, any::<u64>()]
}

fn member() -> impl Strategy<Value = Member<u64>> {
    (id(), extreme()).prop_map(|(id, g)| Member::new(id, g))
}

fn update() -> impl Strategy<Value = Update<u64>> {
    (0u8..3, member(), extreme(), prop::option::of(id())).prop_map(
        |(s, member, incarnation, from)| {
            let status = match s {
                0 => Status::Alive,
                1 => Status::Suspect,
                _ => Status::Dead,
            };
            Update {
                status,
                member,
                incarnation,
                from,
            }
        },
    )
}

fn body() -> impl Strategy<Value = Body<u64>> {
    prop_oneof![
        (extreme(), member()).prop_map(|(seq, target)| Body::Ping { seq, target }),
        (extreme(), member(), extreme()).prop_map(|(seq, target, nack_after_ms)| Body::PingReq {
            seq,
            target,
            nack_after_ms
        }),
        extreme().prop_map(|seq| Body::Ack { seq }),
        extreme().prop_map(|seq| Body::Nack { seq }),
        Just(Body::Join),
        Just(Body::Sync),
    ]
}

fn swim_message() -> impl Strategy<Value = Message<u64>> {
    (
        member(),
        extreme(),
        body(),
        prop::collection::vec(update(), 0..6),
    )
        .prop_map(|(sender, incarnation, body, updates)| Message {
            sender,
            incarnation,
            body,
            updates,
        })
}

/// A gossip Syn (0x01) or Ack (0x02), or a heartbeat request (0x03) or answer
/// (0x04), from `sender`, with extreme numbers.
fn gossip_datagram() -> impl Strategy<Value = (u64, Vec<u8>)> {
    (
        0u8..4,
        member(),
        extreme(),
        prop::collection::vec(
            (
                id(),
                extreme(),
                extreme(),
                prop::collection::vec(member(), 0..4),
            ),
            0..3,
        ),
        prop::collection::vec((id(), extreme(), extreme()), 0..12),
    )
        .prop_map(|(kind, sender, version, blocks, entries)| {
            let mut out = Vec::new();
            put_header(&mut out, kind + 1);
            sender.encode(&mut out);
            put_varint(&mut out, version);
            if kind < 2 {
                put_varint(&mut out, blocks.len() as u64);
                for (observer, generation, v, flagged) in &blocks {
                    put_varint(&mut out, *observer);
                    put_varint(&mut out, *generation);
                    put_varint(&mut out, *v);
                    put_varint(&mut out, flagged.len() as u64);
                    for m in flagged {
                        m.encode(&mut out);
                    }
                }
                put_varint(&mut out, entries.len() as u64);
                for (id, generation, v) in &entries {
                    put_varint(&mut out, *id);
                    put_varint(&mut out, *generation);
                    put_varint(&mut out, *v);
                }
            }
            (sender.id, out)
        })
}

/// Feeds `inputs` (datagram, or a tick when `None`) to `m` at rising instants,
/// checking the invariants after each.
fn drive<M: ClusterMember<u64>>(
    m: &mut M,
    mtu: usize,
    inputs: Vec<Input>,
) -> Result<(), TestCaseError> {
    let mut now = Timestamp::from_secs(1);
    m.join(&[2, 3], now);
    for (input, advance_ms) in inputs {
        now = now.saturating_add(std::time::Duration::from_millis(advance_ms));
        match input {
            Some((from, bytes)) => {
                let _ = m.handle_datagram(&from, &bytes, now);
            }
            None => m.tick(now),
        }
        while let Some(d) = m.poll_datagram() {
            prop_assert!(d.bytes.len() <= mtu, "{} bytes", d.bytes.len());
        }
        while m.poll_event().is_some() {}
        prop_assert!(m.members().len() <= MAX_MEMBERS);
        prop_assert!(m.next_deadline().is_some());
        prop_assert!(m.members().iter().all(|(x, _)| x.id != ME), "lists itself");
    }
    Ok(())
}

fn inputs<S: Strategy<Value = (u64, Vec<u8>)>>(datagram: S) -> impl Strategy<Value = Vec<Input>> {
    prop::collection::vec((prop::option::weighted(0.8, datagram), 0u64..4_000), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn swim_members_survive_hostile_news(inputs in inputs(swim_message().prop_map(|m| {
        let mut out = Vec::new();
        m.encode(&mut out);
        (m.sender.id, out)
    }))) {
        let config = SwimConfig::lan().with_seed(9).with_max_members(MAX_MEMBERS);
        let mut m = SwimMember::new(Member::new(ME, 7), config).unwrap();
        drive(&mut m, config.mtu, inputs)?;
    }

    #[test]
    fn gossip_members_survive_hostile_news(inputs in inputs(gossip_datagram())) {
        let config = GossipConfig::new().with_seed(9).with_max_members(MAX_MEMBERS);
        let mut m = GossipMember::new(Member::new(ME, 7), config).unwrap();
        drive(&mut m, config.mtu, inputs)?;
    }

    #[test]
    fn observer_members_survive_hostile_news(inputs in inputs(gossip_datagram())) {
        let config = GossipConfig::new()
            .with_seed(9)
            .with_max_members(MAX_MEMBERS)
            .with_observers(Some(ObserverConfig::new().with_monitored_by(3)));
        let mut m = GossipMember::new(Member::new(ME, 7), config).unwrap();
        drive(&mut m, config.mtu, inputs)?;
    }
}

/// A join is a few bytes and its answer is the member's whole view: forged joins
/// must not turn a member into an amplifier. A flood of joins within one probe
/// period gets at most `MAX_SYNC_DATAGRAMS_PER_PERIOD` datagrams in answer; the
/// budget refills the next period, so a real joiner still gets its answer.
#[test]
fn a_flood_of_joins_is_answered_within_a_budget() {
    use failure_detector::cluster::swim::MAX_SYNC_DATAGRAMS_PER_PERIOD;
    let config = SwimConfig::lan().with_seed(3).with_mtu(200);
    let mut m = SwimMember::new(Member::new(ME, 7), config).unwrap();
    let mut now = Timestamp::from_secs(1);
    // It learns 300 members (each one's alive news is a datagram from it).
    for id in 2..302u64 {
        let ping = Message {
            sender: Member::new(id, 1),
            incarnation: 0,
            body: Body::Ack { seq: 0 },
            updates: vec![],
        };
        let mut bytes = Vec::new();
        ping.encode(&mut bytes);
        m.handle_datagram(&id, &bytes, now).unwrap();
    }
    while m.poll_datagram().is_some() {}
    assert_eq!(m.members().len(), 300);
    let join = |id: u64| {
        let mut bytes = Vec::new();
        Message {
            sender: Member::new(id, 1),
            incarnation: 0,
            body: Body::Join,
            updates: vec![],
        }
        .encode(&mut bytes);
        bytes
    };
    // One join needs several datagrams at this MTU: the view is about 1.5 KB.
    now = now.saturating_add(std::time::Duration::from_secs(2));
    m.handle_datagram(&2, &join(2), now).unwrap();
    let syncs = |m: &mut SwimMember<u64>, to: Option<u64>| {
        std::iter::from_fn(|| m.poll_datagram())
            .filter(|d| d.bytes[2] == 0x15 && to.is_none_or(|t| d.to == t))
            .count()
    };
    let one = syncs(&mut m, None);
    assert!(one > 1 && one <= MAX_SYNC_DATAGRAMS_PER_PERIOD, "{one}");
    // A flood in the same period.
    for id in 2..302u64 {
        m.handle_datagram(&id, &join(id), now).unwrap();
    }
    let flood = syncs(&mut m, None);
    assert!(
        one + flood <= MAX_SYNC_DATAGRAMS_PER_PERIOD,
        "{one} + {flood}"
    );
    assert!(m.stats().syncs_throttled >= 250, "{:?}", m.stats());
    // Next period: a join is answered in full again.
    now = now.saturating_add(std::time::Duration::from_secs(1));
    m.handle_datagram(&9, &join(9), now).unwrap();
    assert_eq!(syncs(&mut m, Some(9)), one);
}

/// A gossip Syn can be a few bytes and its answer fills an MTU: forged Syns get
/// at most `MAX_REPLIES_PER_INTERVAL` answers per gossip interval; their news is
/// still merged, and the budget refills the next interval.
#[test]
fn a_flood_of_syns_is_answered_within_a_budget() {
    use failure_detector::cluster::gossip::MAX_REPLIES_PER_INTERVAL;
    let mut m = GossipMember::new(Member::new(ME, 7), GossipConfig::new().with_seed(5)).unwrap();
    let syn = |sender: u64, version: u64| {
        let mut out = Vec::new();
        put_header(&mut out, 0x01);
        for v in [sender, 1, version, 0, 0] {
            put_varint(&mut out, v); // sender#1 at `version`, no records, no entries
        }
        out
    };
    let now = Timestamp::from_secs(10);
    let mut answers = 0;
    for i in 0..500u64 {
        m.handle_datagram(&(2 + i % 4), &syn(2 + i % 4, i + 1), now)
            .unwrap();
        answers += std::iter::from_fn(|| m.poll_datagram())
            .filter(|d| d.bytes[2] == 0x02)
            .count();
    }
    assert_eq!(answers, MAX_REPLIES_PER_INTERVAL);
    assert_eq!(m.replies_throttled(), 500 - MAX_REPLIES_PER_INTERVAL as u64);
    assert_eq!(m.members().len(), 4, "the news was merged all the same");
    let later = now.saturating_add(std::time::Duration::from_secs(1));
    m.handle_datagram(&2, &syn(2, 1_000), later).unwrap();
    assert!(std::iter::from_fn(|| m.poll_datagram()).any(|d| d.to == 2 && d.bytes[2] == 0x02));
}
