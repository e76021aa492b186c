//! Errors of building a QUIC swarm and of its connections.

use ms_core::PublicKey;
use ms_swarm::BoxError;

/// Why a [`QuicSwarm`](crate::QuicSwarm) could not be built, or a connection failed.
///
/// Connection failures reach callers inside [`ms_swarm::SwarmError::Unreachable`] (as its
/// source), so `tell` and `ask` keep the swarm contract's error type; match on this type with
/// `source().downcast_ref::<QuicSwarmError>()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicSwarmError {
    /// The packet swarm underneath carries less than QUIC needs (1200 bytes per datagram).
    #[error("the packet swarm's MTU of {mtu} bytes is below QUIC's minimum of {min} bytes")]
    MtuTooSmall {
        /// The packet swarm's MTU.
        mtu: usize,
        /// QUIC's minimum.
        min: usize,
    },
    /// Binding the UDP socket or starting the QUIC endpoint failed.
    #[error("cannot start the QUIC endpoint: {0}")]
    Endpoint(#[source] std::io::Error),
    /// The node's certificate could not be made.
    #[error("cannot make the node's certificate: {0}")]
    Certificate(#[source] BoxError),
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(#[source] BoxError),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The dialled node proved a key other than the one its address names.
    #[error("the peer's certificate is for {presented}, not the dialled {expected}")]
    WrongKey {
        /// The key in the dialled address.
        expected: PublicKey,
        /// The key the peer's certificate carries.
        presented: PublicKey,
    },
    /// The QUIC handshake or connection failed.
    #[error("QUIC connection: {0}")]
    Connection(#[source] BoxError),
    /// The peer broke the framing (a bad ask or answer status, an oversized message).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl QuicSwarmError {
    pub(crate) fn certificate(e: impl Into<BoxError>) -> Self {
        Self::Certificate(e.into())
    }

    pub(crate) fn tls(e: impl Into<BoxError>) -> Self {
        Self::Tls(e.into())
    }

    pub(crate) fn connection(e: impl Into<BoxError>) -> Self {
        Self::Connection(e.into())
    }
}
