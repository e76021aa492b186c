//! # ms-quicswarm: a QUIC secure ask swarm, over UDP or over any packet swarm
//!
//! [`QuicSwarm`] is an [`ms_swarm`] secure ask swarm ([`Swarm`](ms_swarm::Swarm),
//! [`AskSwarm`](ms_swarm::AskSwarm), [`SecureSwarm`](ms_swarm::SecureSwarm)) on
//! [quinn](https://docs.rs/quinn): peers are identified by their Ed25519 SSB key, which their
//! TLS 1.3 certificate carries (no certificate authority: [`ms_quic::identity`], which also
//! keeps peers of other SSB networks out); tells travel as QUIC datagrams (a
//! unidirectional stream when larger than a datagram); asks on one bidirectional stream each;
//! one connection per peer.
//!
//! Two placements, one code path:
//! - [`QuicSwarm::bind`]: quinn's own UDP socket.
//! - [`QuicSwarm::over`]: any [`ms_swarm::Swarm`] carries the QUIC packets (the in-memory
//!   swarm, a UDP swarm, a mux channel), which makes that swarm secure and reliable.
//!
//! Addresses are [`QuicAddr`]s, `quic:<packet address>~shs:<key>`. See `docs/quicswarm.md`
//! for the protocol, limits and decisions.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// The README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod addr;
mod config;
mod error;
mod socket;
mod swarm;

pub use addr::QuicAddr;
pub use config::Config;
pub use error::QuicSwarmError;
pub use swarm::{ALPN, QUIC_MIN_MTU, QuicSwarm, Stats};
