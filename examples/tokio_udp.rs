//! Four members in one process, each driven by a `runtime::MemberDriver` over its
//! own loopback UDP socket. After two seconds member 4 is stopped; the others'
//! events are printed until all three have declared it dead (at most 20 s).
//!
//! ```text
//! cargo run --example tokio_udp --features tokio
//! ```
//!
//! SWIM runs five times faster than memberlist's LAN defaults here (a 200 ms
//! protocol period), so the whole run takes a few seconds.

use std::time::Duration;

use failure_detector::cluster::{ClusterEvent, Member, SwimConfig, SwimMember};
use failure_detector::net::Routes;
use failure_detector::runtime::{MemberDriver, MemberDriverConfig, TokioClock};
use failure_detector::{Clock, NodeState};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout_at};

const N: u64 = 4;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One clock for every member, so their timestamps read alike.
    let clock = TokioClock::new();
    let config = SwimConfig::lan()
        .with_probe_interval(Duration::from_millis(200))
        .with_probe_timeout(Duration::from_millis(100));

    let mut sockets = Vec::new();
    for _ in 0..N {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await?);
    }
    let addrs = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<Result<Vec<_>, _>>()?;

    // Every member gets every address (a static cluster) and merges its events
    // into one channel, tagged with its id.
    let (merged_tx, mut merged) = mpsc::channel::<(u64, ClusterEvent<u64>)>(1_024);
    let mut drivers = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let id = i as u64 + 1;
        let mut routes = Routes::new();
        for (j, addr) in addrs.iter().enumerate() {
            routes.insert(j as u64 + 1, *addr);
        }
        let member = SwimMember::new(Member::new(id, 1), config.with_seed(id))?;
        let driver_config = MemberDriverConfig::new().with_clock(clock);
        let (driver, mut events) = MemberDriver::spawn(socket, member, routes, driver_config)?;
        let tx = merged_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((id, event)).await.is_err() {
                    break;
                }
            }
        });
        println!("member {id} on {}", addrs[i]);
        drivers.push(driver);
    }
    drop(merged_tx);
    for driver in &drivers[1..] {
        driver.handle().join(&[1]);
    }

    let start = Instant::now();
    let stop_at = start + Duration::from_secs(2);
    let give_up = start + Duration::from_secs(20);
    let mut stopped = None;
    let survivors: Vec<_> = drivers[..N as usize - 1]
        .iter()
        .map(|d| d.handle())
        .collect();
    loop {
        if stopped.is_none()
            && Instant::now() >= stop_at
            && let Some(last) = drivers.pop()
        {
            let member = last.stop().await?;
            println!(
                "{:>7.3}s  member {N} stopped",
                clock.now().as_duration().as_secs_f64()
            );
            stopped = Some(member);
        }
        if stopped.is_some()
            && survivors
                .iter()
                .all(|h| h.state_of(&N) == Some(NodeState::Dead))
        {
            println!("every survivor declared member {N} dead");
            break;
        }
        if Instant::now() >= give_up {
            println!("gave up after 20 s");
            break;
        }
        let wake = if stopped.is_none() { stop_at } else { give_up };
        match timeout_at(
            wake.min(Instant::now() + Duration::from_millis(100)),
            merged.recv(),
        )
        .await
        {
            Ok(Some((id, event))) => print_event(id, &event),
            Ok(None) => break,
            Err(_) => {} // time to look again
        }
    }
    // Let the last events arrive, then stop everyone.
    sleep(Duration::from_millis(50)).await;
    while let Ok((id, event)) = merged.try_recv() {
        print_event(id, &event);
    }
    for driver in drivers {
        let stats = driver.handle().stats();
        let id = driver.handle().me().id;
        driver.stop().await?;
        println!(
            "member {id}: {} datagrams sent, {} received, {} ticks, {} bad frames, {} events dropped",
            stats.sent, stats.received, stats.ticks, stats.bad_frames, stats.events_dropped
        );
    }
    Ok(())
}

fn print_event(id: u64, event: &ClusterEvent<u64>) {
    let at = event.at().as_duration().as_secs_f64();
    match event {
        ClusterEvent::Joined { member, .. } => {
            println!("{at:>7.3}s  member {id}: {} joined", member.id)
        }
        ClusterEvent::Changed {
            member, from, to, ..
        } => {
            println!("{at:>7.3}s  member {id}: {} {from} -> {to}", member.id)
        }
        other => println!("{at:>7.3}s  member {id}: {other:?}"),
    }
}
