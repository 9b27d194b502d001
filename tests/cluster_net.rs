//! The in-memory network harness itself, checked with a trivial member that
//! beacons to every member it knows once a second.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use failure_detector::cluster::wire::{Reader, put_header, put_varint};
use failure_detector::cluster::{
    ClusterEvent, ClusterMember, Datagram, DecodeError, DecodeErrorKind, Member,
};
use failure_detector::{NodeState, Timestamp};
use support::net::Net;

struct Beacon {
    me: Member<u64>,
    known: BTreeSet<u64>,
    next: Timestamp,
    out: Vec<Datagram<u64>>,
    events: Vec<ClusterEvent<u64>>,
}

impl Beacon {
    fn new(id: u64) -> Self {
        Beacon {
            me: Member::new(id, 1),
            known: BTreeSet::new(),
            next: Timestamp::ZERO,
            out: vec![],
            events: vec![],
        }
    }
}

impl ClusterMember<u64> for Beacon {
    fn me(&self) -> &Member<u64> {
        &self.me
    }
    fn join(&mut self, seeds: &[u64], _now: Timestamp) {
        self.known
            .extend(seeds.iter().filter(|&&s| s != self.me.id));
    }
    fn handle_datagram(
        &mut self,
        from: &u64,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), DecodeError> {
        let mut r = Reader::new(bytes);
        if r.header()? != 0x7F {
            return Err(Reader::error_at(2, DecodeErrorKind::UnknownKind(bytes[2])));
        }
        let sender = r.varint()?;
        r.finish()?;
        if sender != *from {
            return Err(Reader::error_at(3, DecodeErrorKind::WrongSender));
        }
        if self.known.insert(sender) {
            self.events.push(ClusterEvent::Joined {
                member: Member::new(sender, 1),
                at: now,
            });
        }
        Ok(())
    }
    fn tick(&mut self, now: Timestamp) {
        if now >= self.next {
            for &to in &self.known {
                let mut bytes = vec![];
                put_header(&mut bytes, 0x7F);
                put_varint(&mut bytes, self.me.id);
                self.out.push(Datagram { to, bytes });
            }
            self.next = now.saturating_add(Duration::from_secs(1));
        }
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        Some(self.next)
    }
    fn poll_datagram(&mut self) -> Option<Datagram<u64>> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }
    fn poll_event(&mut self) -> Option<ClusterEvent<u64>> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }
    fn state_of(&self, id: &u64) -> Option<NodeState> {
        self.known.contains(id).then_some(NodeState::Alive)
    }
    fn members(&self) -> Vec<(Member<u64>, NodeState)> {
        self.known
            .iter()
            .map(|&id| (Member::new(id, 1), NodeState::Alive))
            .collect()
    }
}

fn net(seed: u64, n: u64) -> Net<Beacon> {
    let mut net = Net::new(seed);
    for id in 0..n {
        net.add(Beacon::new(id));
    }
    net.join_all();
    net
}

#[test]
fn members_meet_through_the_seed_and_runs_repeat_exactly() {
    let run = |seed| {
        let mut n = net(seed, 5);
        n.set_loss(0.2);
        n.set_delay(Duration::from_millis(1), Duration::from_millis(50));
        n.run_for(Duration::from_secs(10));
        (n.trace_hash(), n.datagrams_sent(), n.member(0).known.len())
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a.0, run(8).0);
    assert_eq!(a.2, 4, "the seed heard from everyone");
}

#[test]
fn cuts_partitions_crashes_and_pauses() {
    let mut n = net(1, 3);
    n.cut(0, 2);
    n.partition(&[&[0, 1], &[2]]);
    n.run_for(Duration::from_secs(5));
    // 2 knows 0 from joining, but 0 never hears from 2 (cut, then partitioned).
    assert!(!n.member(0).known.contains(&2));
    n.heal_all();
    n.pause(1, Duration::from_secs(3));
    let before = n.datagrams_sent();
    n.run_for(Duration::from_secs(2));
    assert!(n.member(0).known.contains(&2));
    // Member 1 sent nothing while paused: 0 beacons to {1, 2} and 2 to {0}, twice.
    let sent_while_paused = n.datagrams_sent() - before;
    n.crash(2);
    n.run_for(Duration::from_secs(3));
    assert!(n.live_ids() == vec![0, 1]);
    assert!((2..=6).contains(&sent_while_paused), "{sent_while_paused}");
    assert!(!n.inject(0, 1, &[0xFD, 1, 0x7F, 5]));
    assert_eq!(n.decode_errors(), 1);
}
