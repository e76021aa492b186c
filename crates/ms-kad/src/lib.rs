//! # ms-kad: a Kademlia DHT over any secure ask swarm
//!
//! [`Kad`] runs one DHT node on any [`SecureAskSwarm`](ms_swarm::SecureAskSwarm) whose public
//! keys are bytes: the in-memory swarm for tests and simulations, the stack swarm over real
//! connections, or any other. The DHT never sees a transport: it asks, answers, and trusts the
//! swarm to say which key is behind an address.
//!
//! - Node ids are SHA-256 of the node's public key; distance is XOR ([`NodeId`]).
//! - k-buckets (k = 20) with the least-recently-seen rule: a full bucket pings its oldest
//!   contact and keeps it if it answers ([`RoutingTable`]); idle buckets are refreshed.
//! - Iterative lookups, α = 3 requests in flight, over d = 2 disjoint paths (S/Kademlia):
//!   [`Kad::find_node`], [`Kad::get`].
//! - [`Kad::put`] stores small values at the k closest nodes, with expiry; publishers
//!   republish, holders replicate.
//! - Bounded, versioned wire format ([`wire`]); contacts enter the routing table only after
//!   answering; per-peer rate limits; pluggable value validation ([`Validator`]).
//!
//! ```
//! use bytes::Bytes;
//! use ms_kad::{Config, Kad, NodeId};
//! use ms_swarm::mem::Realm;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ms_kad::KadError> {
//! let realm = Realm::new();
//! let mut nodes = Vec::new();
//! for _ in 0..10 {
//!     nodes.push(Kad::new(realm.swarm(), Config::default())?);
//! }
//! let first = nodes[0].swarm().addr();
//! for node in &nodes[1..] {
//!     node.bootstrap(&[first]).await?;
//! }
//! let key = NodeId::hash(b"greeting");
//! nodes[3].put(key, Bytes::from_static(b"hello")).await?;
//! assert_eq!(nodes[7].get(key).await, Some(Bytes::from_static(b"hello")));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// The README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod config;
mod id;
mod node;
mod store;
mod table;
pub mod wire;

pub use config::{AcceptAll, Config, ContentAddressed, KadError, PeerError, Validator};
pub use id::{Distance, ID_BITS, ID_LEN, Key, NodeId};
pub use node::{FoundValue, Kad, Lookup, Stats};
pub use store::{RateLimit, Record};
pub use table::{Contact, Insert, RoutingTable};
