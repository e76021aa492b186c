//! # ms-stackswarm: messages over every multiserver stack
//!
//! Any [`MultiServer`](ms_core::MultiServer) — `net~shs`, `ws~shs`, `unix~noauth`, the
//! in-memory transport of `ms-testkit` — becomes a secure ask swarm ([`StackSwarm`]): go-p2p's
//! message API ([`Swarm`](ms_swarm::Swarm), [`AskSwarm`](ms_swarm::AskSwarm),
//! [`SecureSwarm`](ms_swarm::SecureSwarm)) with SSB's handshake underneath.
//!
//! TODO: full docs.

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
