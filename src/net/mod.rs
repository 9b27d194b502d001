//! Members over real sockets: the transport framing shared by the blocking UDP
//! driver, the relay that injects faults, and the optional tokio driver.
//!
//! The decentralized members of [`cluster`](crate::cluster) are sans-IO: they take
//! datagrams addressed by member id and give back datagrams addressed by member id.
//! A socket speaks in addresses, so every datagram on the wire is wrapped in a
//! [`frame`]: the sender's id, the receiver's id, then the member's payload. A
//! receiver learns which member sent a datagram from the frame (and checks the
//! payload agrees: the member refuses a payload that names another sender), and a
//! relay knows where to forward it without decoding the payload.
pub mod frame;
pub mod monitor;
pub mod relay;
pub mod routes;
pub mod udp;

pub use frame::{Frame, FrameKind};
pub use monitor::{MonitorConfig, MonitorStats, MonitorStatsHandle, RefusedCounts, UdpMonitor};
pub use relay::{Relay, RelayConfig, RelayError, RelayHandle, RelayStats};
pub use routes::Routes;
pub use udp::{DriverStats, UdpDriver};

/// One burst of receives on a blocking socket, shared by the drivers that own
/// one: waits at most `wait` for the first datagram, then takes what is already
/// queued (a 1 µs timeout), up to `max` datagrams. A receive error other than
/// "nothing came" ends the burst and is counted in `errors`.
pub(crate) struct Burst {
    received: usize,
    max: usize,
    done: bool,
    /// Receive errors seen (at most one: it ends the burst).
    pub(crate) errors: u64,
}

impl Burst {
    /// Starts a burst: sets the socket's read timeout to `wait` (at least 1 µs:
    /// the platform refuses zero).
    pub(crate) fn start(
        socket: &std::net::UdpSocket,
        wait: std::time::Duration,
        max: usize,
    ) -> std::io::Result<Self> {
        socket.set_read_timeout(Some(wait.max(std::time::Duration::from_micros(1))))?;
        Ok(Burst {
            received: 0,
            max,
            done: false,
            errors: 0,
        })
    }

    /// The next datagram's length and source, `None` when the burst is over.
    ///
    /// # Errors
    /// Only if the read timeout cannot be set after the first datagram.
    pub(crate) fn next(
        &mut self,
        socket: &std::net::UdpSocket,
        buf: &mut [u8],
    ) -> std::io::Result<Option<(usize, std::net::SocketAddr)>> {
        use std::io::ErrorKind;
        if self.done || self.received >= self.max {
            return Ok(None);
        }
        match socket.recv_from(buf) {
            Ok(got) => {
                self.received += 1;
                if self.received == 1 {
                    // Take what else is queued without waiting.
                    socket.set_read_timeout(Some(std::time::Duration::from_micros(1)))?;
                }
                Ok(Some(got))
            }
            Err(e) => {
                self.done = true;
                if !matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) {
                    self.errors += 1;
                }
                Ok(None)
            }
        }
    }

    /// How many datagrams the burst received.
    pub(crate) fn received(&self) -> usize {
        self.received
    }
}

/// What became of a datagram a member's driver received ([`frame_for`] then
/// [`deliver`]): the one rule both the blocking and the tokio driver follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Not a frame of this crate.
    BadFrame,
    /// A frame for another member.
    Misaddressed,
    /// A hello (meant for a relay) or a heartbeat frame: nothing for a member.
    Ignored,
    /// A data frame the member refused, or one claiming to come from the
    /// member itself.
    Refused,
    /// Handed to the member, which accepted it; `learned` is false when the
    /// routes' learned table was full.
    Accepted {
        /// The sender's address was recorded.
        learned: bool,
    },
}

/// The data frame in `bytes` for member `me`, or why there is none. Decoding
/// needs no access to the member, so a driver can do it before taking a lock.
pub(crate) fn frame_for<'a, I: crate::cluster::MemberId>(
    bytes: &'a [u8],
    me: &I,
) -> Result<Frame<'a, I>, Received> {
    let frame = Frame::<I>::decode(bytes).map_err(|_| Received::BadFrame)?;
    if frame.to != *me {
        return Err(Received::Misaddressed);
    }
    if frame.kind != FrameKind::Data {
        return Err(Received::Ignored);
    }
    if frame.from == *me {
        return Err(Received::Refused);
    }
    Ok(frame)
}

/// Hands a data frame from [`frame_for`] to the member. Only a datagram the
/// member accepted teaches where its sender is, so forged or refused frames
/// change no route.
pub(crate) fn deliver<I: crate::cluster::MemberId, M: crate::cluster::ClusterMember<I>>(
    member: &mut M,
    routes: &mut Routes<I>,
    frame: Frame<'_, I>,
    source: std::net::SocketAddr,
    now: crate::time::Timestamp,
) -> Received {
    match member.handle_datagram(&frame.from, frame.payload, now) {
        Ok(()) => Received::Accepted {
            learned: routes.learn(frame.from, source),
        },
        Err(_) => Received::Refused,
    }
}
