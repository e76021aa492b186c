//! # ms-quic: QUIC for multiserver, with the SSB key as the peer identity
//!
//! [`identity`] turns an SSB key pair into a QUIC identity: a self-signed certificate whose
//! key is the node's Ed25519 key, verifiers that accept a peer by its key (and its network)
//! instead of a certificate authority, and quinn configurations built from them.
//!
//! [`transport`] is the `quic:<host>:<port>:<key>` multiserver transport, [`Quic`]: one QUIC
//! connection and one bidirectional stream per dial, authenticated by the QUIC handshake (no
//! `~shs` follows), the peer's key on every connection.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod identity;
pub mod transport;

use std::time::Duration;

pub use error::{CertificateRejection, IdentityError, QuicError};
pub use identity::{LOOPBACK_MTU, QuicIdentity, handshake_error, peer_key};
pub use transport::{AddressValidation, Quic, QuicBuilder, QuicListener, QuicStream};

/// The connect timeout used unless told otherwise: as `net:`'s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
