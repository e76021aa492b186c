//! # ms-testkit: test tools for multiserver plugins
//!
//! - [`MemTransport`] on a [`MemNetwork`]: an in-memory transport (`mem:<port>` addresses) with
//!   fault hooks ([`Fault`]: delay, refuse, black hole, cut) and leak counters.
//! - [`suite`]: the conformance suite every transport and transform crate runs against itself
//!   with one line, [`conformance!`].
//! - [`swarm`]: the conformance suite of message swarms ([`ms_swarm`]), one line per swarm,
//!   [`swarm_conformance!`].
//! - [`topology`]: adjacency matrices (line, ring, full, seeded random) for test networks.
//! - [`refused_port`], [`refused_localhost_port`]: loopback TCP ports where connections are
//!   refused, reserved for the life of the test process (no race with other tests' listeners).
//! - [`Microsocks`]: a real SOCKS5 proxy (`microsocks`) on a free loopback port.
//! - [`require`]: find a program a test needs (Node.js, `microsocks`, a browser), or skip the
//!   test with one line saying why (fail instead under `MULTISERVER_REQUIRE_ALL=1`).
//! - [`netns`]: hosts on one machine (Linux, root): network namespaces, veth pairs, a private
//!   directory per host, deleted when dropped.
//!
//! ```
//! use ms_core::{MultiServer, Stack};
//! use ms_testkit::{Fixture, MemNetwork, MemTransport};
//!
//! fn fixture() -> Fixture {
//!     let network = MemNetwork::new();
//!     let node = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
//!     let dead = format!("mem:{}", network.unused_port());
//!     Fixture::new(node.clone(), node, dead)
//! }
//! // In a test file: ms_testkit::conformance!(fixture);
//! # let _ = fixture();
//! ```

#![forbid(unsafe_code)]

mod mem;
mod microsocks;
pub mod netns;
mod ports;
pub mod require;
pub mod suite;
pub mod swarm;
pub mod topology;

pub use mem::{Fault, MemNetwork, MemStream, MemTransport};
pub use microsocks::Microsocks;
pub use ports::{BlackHole, black_hole, refused_localhost_port, refused_port};
pub use suite::{EchoServer, Fixture, echo, echo_round_trip, pattern};
