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
