//! # ms-stackswarm: messages over every multiserver stack
//!
//! Any [`MultiServer`](ms_core::MultiServer) — `net~shs`, `ws~shs`, `unix~noauth`, the
//! in-memory transport of `ms-testkit` — becomes a secure ask swarm, a [`StackSwarm`]:
//! go-p2p's message API ([`Swarm`](ms_swarm::Swarm): tell, receive, MTU;
//! [`AskSwarm`](ms_swarm::AskSwarm): request/response; [`SecureSwarm`](ms_swarm::SecureSwarm):
//! the key behind an address) with SSB's secret handshake underneath, over the same stacks and
//! addresses a JavaScript multiserver node uses.
//!
//! ```
//! use bytes::Bytes;
//! use ms_core::{MultiServer, Stack};
//! use ms_shs::{Keypair, Shs};
//! use ms_stackswarm::StackSwarm;
//! use ms_swarm::{AskSwarm, SecureSwarm, Swarm};
//! use ms_testkit::{MemNetwork, MemTransport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let network = MemNetwork::new(); // or ms_net::Net::new() for TCP
//! let node = |seed| {
//!     let shs = Shs::new(Keypair::from_seed(&[seed; 32]));
//!     MultiServer::new([Stack::new(MemTransport::new(&network)).with(shs)])
//! };
//! let alice = StackSwarm::builder(node(1)?).bind().await?;
//! let bob = StackSwarm::builder(node(2)?).bind().await?;
//! let bob_addr = bob.local_addrs()[0].clone(); // mem:2~shs:<bob's key>
//!
//! // A tell: dials bob on first use; best effort.
//! alice.tell(&bob_addr, Bytes::from_static(b"hello bob")).await?;
//! let message = bob.receive().await?;
//! assert_eq!(message.payload, Bytes::from_static(b"hello bob"));
//! assert_eq!(bob.lookup_public_key(&message.src)?, alice.public_key());
//!
//! // An ask, the other way, over the same connection.
//! let answer = tokio::join!(bob.ask(&message.src, Bytes::from_static(b"ping")), async {
//!     let ask = alice.next_ask().await?;
//!     ask.respond(Bytes::from_static(b"pong"));
//!     Ok::<_, ms_swarm::SwarmError>(())
//! });
//! assert_eq!(answer.0?, Bytes::from_static(b"pong"));
//! alice.close().await?;
//! bob.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Addresses
//!
//! A [`StackAddr`] is a multiserver multi-address (`;` alternatives, `~` sections); its
//! canonical text is the multi-address text. Two texts can name the same node (other
//! alternatives, another order): they are different addresses, but they reach the node over the
//! same connection when they carry the same `shs:` key. [`Swarm::local_addrs`](ms_swarm::Swarm)
//! gives one address per scope the node serves (`device`, `local`, `public`, in that order).
//! [`parse_addr`](ms_swarm::Swarm::parse_addr) accepts a multi-address with at least one
//! alternative one of the node's stacks can dial.
//!
//! ## Connections
//!
//! - A peer is dialled on the first tell or ask to it, through
//!   [`MultiServer::connect`](ms_core::MultiServer::connect): alternatives, staggered dialling
//!   and deadlines as configured on the node. Callers that want the same peer meanwhile share
//!   the dial.
//! - One connection per peer, used both ways whoever dialled it. Peers that authenticate (a
//!   `shs` stack: [`Connection::remote_key`](ms_core::Connection::remote_key)) are found by
//!   key: every address carrying that key uses the connection. Others (`noauth`, which reports
//!   every peer as this node like the reference does, or a stack without transform) are found
//!   by address: the one dialled, or the one the peer advertised.
//! - Each side's first frame, HELLO, carries its advertised multi-address, its key and its
//!   limits. On an authenticated connection the key must be the authenticated one (else the
//!   connection is closed) and the address is believed only if its `shs:` sections all name
//!   that key; otherwise messages carry the connection's remote address, which also routes
//!   back while the connection is open. So the `src` of a received message always reaches the
//!   sender, and [`lookup_public_key`](ms_swarm::SecureSwarm::lookup_public_key) of it answers
//!   from memory: the `shs:` key in the address, or, for peers found by address, the key their
//!   HELLO claimed (unauthenticated: `noauth` trusts the peer, see `docs/security.md`).
//! - Two nodes that dial each other at once get two connections. Both work; both nodes send
//!   through the one dialled by the node with the smaller key, so the other falls idle and is
//!   closed after the idle timeout.
//! - A connection with no traffic and nothing in flight for [`Config::idle_timeout`] is closed;
//!   the next message dials again.
//!
//! ## Bounds
//!
//! Every buffer is bounded; see [`Config`] for the defaults.
//!
//! - Frames: a 9-byte header (kind, request id, length) and a body checked against the
//!   receiver's limits from the header alone ([`frame`] describes the protocol byte by byte).
//!   An oversized, unknown or malformed frame closes the connection with a typed reason
//!   ([`frame::FrameError`], [`LinkError`]), logged and counted in [`Stats::protocol_errors`].
//! - Tells: [`Config::mtu`] (64 KiB). Received tells wait in a queue of
//!   [`Config::receive_queue`] shared by all peers, of which one peer may hold at most
//!   [`Config::receive_queue_per_peer`]; beyond, tells are dropped and counted
//!   ([`Stats::tells_dropped`]): best effort allows it, and a flooding peer cannot crowd out
//!   the others or stall its own connection's asks. Sending waits for room in the connection's
//!   send queue, at most [`Config::tell_timeout`].
//! - Asks: [`Config::max_ask_size`] (1 MiB) for requests and answers; request ids per
//!   connection; at most [`Config::max_asks_in_flight`] per connection in each direction. Our
//!   own asks beyond it wait for a slot within their deadline; a peer's requests beyond it are
//!   rejected at once ([`SwarmError::Rejected`](ms_swarm::SwarmError::Rejected) for the asker).
//!   A request our application does not answer within [`Config::incoming_ask_timeout`] is
//!   rejected as timed out ([`SwarmError::Timeout`](ms_swarm::SwarmError::Timeout) for the
//!   asker). Our asks end at [`Config::ask_timeout`] (or [`StackSwarm::ask_within`]); dropping
//!   an ask sends CANCEL, which stops the peer's wait; an answer that comes anyway is ignored
//!   and counted ([`Stats::unknown_answers`]).
//! - A peer that stops reading: our writes to it give up after an idle period and the
//!   connection is closed.
//! - [`close`](ms_swarm::Swarm::close) stops the listeners, every connection and every task,
//!   and waits for them.
//!
//! ## From go-p2p, and what changed
//!
//! Taken: the message model (tell best effort under an MTU, ask reliable, keys from memory),
//! canonical text as address identity, parsing as a swarm method. Changed: an address is a
//! multiserver multi-address with alternatives and fallback instead of one transport per
//! address; peers are found by their authenticated key, so any address of a node reuses its
//! connection (go-p2p's QUIC swarm keys sessions by address); asks share one connection with
//! request ids instead of one stream each, so an ask costs no extra round trip; the limits
//! above (go-p2p has none) are part of the contract.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod addr;
mod config;
mod error;
pub mod frame;
mod link;
mod swarm;

pub use addr::StackAddr;
pub use config::Config;
pub use error::{BuildError, LinkError};
pub use swarm::{Builder, StackSwarm, Stats};

/// The README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
