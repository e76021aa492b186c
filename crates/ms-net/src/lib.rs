//! # ms-net: the `net` (TCP) transport for multiserver
//!
//! Addresses look like `net:<host>:<port>`: `net:example.org:8008`, `net:192.168.1.7:8008`,
//! `net:::1:8008`. As in the JavaScript reference the **last** field is the port and IPv6 hosts
//! are printed bare; `net:[::1]:8008` is accepted on input too.
//!
//! ```
//! use ms_core::{MultiServer, Scope, Stack};
//! use ms_net::Net;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Device scope, 127.0.0.1, a port chosen by the OS.
//! let node = MultiServer::new([Stack::new(Net::new())])?;
//! let mut server = node.listen().await?;
//! let address = server.address(Scope::Device).to_string(); // e.g. net:127.0.0.1:41234
//! assert!(address.starts_with("net:127.0.0.1:"));
//!
//! let dial = tokio::spawn({
//!     let node = node.clone();
//!     async move { node.connect(&address).await }
//! });
//! let mut inbound = server.accept().await.ok_or("server closed")?;
//! let mut outbound = dial.await??;
//! outbound.write_all(b"ping").await?;
//! outbound.shutdown().await?; // half-close: we can still read
//! let mut text = String::new();
//! inbound.read_to_string(&mut text).await?;
//! assert_eq!(text, "ping");
//! # Ok(())
//! # }
//! ```
//!
//! ## Options
//!
//! See [`NetBuilder`]: the bind `host` (default `127.0.0.1` for a device-only transport,
//! `0.0.0.0` otherwise), the `port` (default 0: the operating system picks one and the
//! advertised address carries it), the served [`Scope`](ms_core::Scope)s (default `device`),
//! `external` host names announced for the `public` scope, and the connect timeout
//! (default 10 s).
//!
//! ## What it advertises
//!
//! A listener bound to a concrete address advertises that address for every served scope it is
//! reachable from (a loopback address only for `device`). A listener bound to the wildcard
//! (`0.0.0.0`, or `::` which is made dual-stack) never advertises the wildcard: it lists the
//! machine's interface addresses whose own scope is the one asked for: loopback for `device`,
//! private ranges for `local`, the rest for `public`; `external` hosts, when given, replace the
//! public list. IPv6 link-local addresses are skipped (they cannot be dialled without a zone).
//!
//! ## Building on it
//!
//! A transport layered over TCP (`ms-ws` is one) uses a [`Net`] for its TCP: [`Net::dial`]
//! (resolve, race, connect timeout, `TCP_NODELAY`), [`Net::bind`] (dual-stack `::`, port 0),
//! [`NetListener::accept_tcp`] and [`NetListener::advertised_hosts`] (the hosts to announce,
//! printed in its own address format), and takes [`NetBuilder`]'s options as they are.
//!
//! ## Connections
//!
//! A dial races the addresses a host name resolves to, happy-eyeballs style (RFC 8305): the
//! first at once, the next when one fails or after [`DEFAULT_STAGGER`], the first to connect
//! wins; all under the connect timeout, resolution included. `TCP_NODELAY` is set on both
//! sides. Shutting down the write side keeps the read side open
//! (TCP half-close; JavaScript peers close both directions when they see it). The remote
//! section of a dialled connection is the resolved IP (`net:93.184.216.34:8008`, as the
//! reference); of an accepted one the peer's IP and port, an IPv4-mapped IPv6 address printed
//! as IPv4 (`net:127.0.0.1:53211` where the reference prints `net:::ffff:127.0.0.1:53211`).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod advertise;
mod error;
mod listener;
mod transport;

pub use advertise::advertised_hosts;
pub use error::{ConfigError, NetError};
pub use listener::NetListener;
pub use transport::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_STAGGER, ExternalHosts, Net, NetBuilder};

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
