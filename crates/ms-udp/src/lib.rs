//! # ms-udp: a UDP message swarm
//!
//! [`UdpSwarm`] is an [`ms_swarm::Swarm`] over one UDP socket: [`tell`](ms_swarm::Swarm::tell)
//! sends one datagram, each datagram received is one [`Message`](ms_swarm::Message). Nothing is
//! added to the payload, so tells are exactly what UDP is: **unreliable, unordered, possibly
//! duplicated**, and anyone who can send a datagram to the port can put bytes in the receive
//! queue (a layer above authenticates: ms-quicswarm runs QUIC over it).
//!
//! ```
//! use bytes::Bytes;
//! use ms_swarm::Swarm;
//! use ms_udp::UdpSwarm;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let a = UdpSwarm::bind("127.0.0.1:0".parse()?).await?;
//! let b = UdpSwarm::bind("127.0.0.1:0".parse()?).await?;
//! let to_b = a.parse_addr(&b.local_addrs()[0].to_string())?; // "udp:127.0.0.1:<port>"
//! a.tell(&to_b, Bytes::from_static(b"ping")).await?;
//! assert_eq!(b.receive().await?.payload, "ping");
//! # a.close().await?;
//! # b.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Addresses
//!
//! `udp:<ip>:<port>`, written the way `net:` addresses are ([`UdpAddr`]): IPv6 bare
//! (`udp:::1:8008`), brackets accepted on input, IP literals only (no DNS in
//! [`parse_addr`](ms_swarm::Swarm::parse_addr)). A swarm bound to a concrete address lists
//! that address; bound to a wildcard (`0.0.0.0`, or `[::]`, made dual-stack where the system
//! allows) it lists the machine's interface addresses, device scope first, then local, then
//! public, by the rules `ms-net` advertises with ([`ms_net::advertised_ips`];
//! [`UdpSwarm::addrs_for`] gives one scope).
//!
//! ## MTU
//!
//! [`DEFAULT_MTU`] = 1200 bytes of payload: the smallest datagram QUIC requires every path to
//! carry (RFC 9000 §14.1), below the IPv6 minimum link MTU (1280) less the IPv6 and UDP headers
//! (48), so it crosses any IPv6 path and any IPv4 path of the real Internet whole. A tell of
//! more fails with [`SwarmError::MtuExceeded`](ms_swarm::SwarmError::MtuExceeded) and sends
//! nothing. [`UdpSwarmBuilder::mtu`] raises it for a known path (1452 on Ethernet over IPv6),
//! up to [`MAX_MTU`]; datagrams are sent with "don't fragment", so one larger than the path
//! MTU is lost (or refused by the system with a transport error).
//!
//! ## Receiving
//!
//! A task per swarm receives in batches (`recvmmsg` and GRO on Linux, through `quinn-udp`)
//! into 64 KiB slots, so no datagram is ever truncated, and queues each datagram, whatever its
//! size, for [`receive`](ms_swarm::Swarm::receive). The queue is bounded (by default 1024
//! messages and 4 MiB of payload, [`UdpSwarmBuilder::queue_messages`],
//! [`UdpSwarmBuilder::queue_bytes`]): when it is full, new datagrams are dropped (drop-newest,
//! as a full socket buffer does) and counted ([`UdpSwarm::stats`]). ICMP errors (a tell to a
//! closed port is answered "port unreachable") are drained from the socket's error queue,
//! counted, and never stop the task; a send that meets one left over from an earlier datagram
//! is retried.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// The README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod addr;
mod error;
mod swarm;

pub use addr::{NAME, UdpAddr};
pub use error::UdpError;
pub use swarm::{
    DEFAULT_MTU, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_MESSAGES, DEFAULT_RECV_BUFFER, MAX_BATCH,
    MAX_MTU, UdpStats, UdpSwarm, UdpSwarmBuilder,
};
