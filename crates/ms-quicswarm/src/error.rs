//! Errors of building a QUIC swarm and of its connections.

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
    /// The node's QUIC identity (certificate, TLS configuration) could not be made.
    #[error(transparent)]
    Identity(#[from] ms_quic::IdentityError),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The dial failed: no answer, a refused certificate (another key than the dialled one:
    /// [`ms_quic::CertificateRejection::UnexpectedKey`]; another network), a closed
    /// connection.
    #[error(transparent)]
    Dial(#[from] ms_quic::QuicError),
    /// The QUIC connection failed after the handshake.
    #[error("QUIC connection: {0}")]
    Connection(#[source] BoxError),
    /// The peer broke the framing (a bad ask or answer status, an oversized message).
    #[error("protocol violation: {0}")]
    Protocol(String),
}
