//! The crate's errors and how they classify.

use std::io;

use ms_core::{Classify, ErrorKind, PublicKey};

/// Why our own QUIC identity or configuration could not be built. Our fault, never the peer's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The self-signed certificate could not be made.
    #[error("cannot make the QUIC certificate: {0}")]
    Certificate(String),
    /// rustls or quinn refused the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Tls(String),
}

impl Classify for IdentityError {
    /// Always [`Configuration`](ErrorKind::Configuration).
    fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

/// Why a peer's certificate was refused (by our side of the handshake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateRejection {
    /// The certificate is valid but for another key than the one the address names: someone
    /// else answers at that address (a stale address, a re-keyed host, an impostor without the
    /// dialled key's secret).
    #[error("the peer is {actual}, not the dialled {expected}")]
    UnexpectedKey {
        /// The key the address named.
        expected: PublicKey,
        /// The key the peer proved.
        actual: PublicKey,
    },
    /// The certificate's network tag does not match our network key: the peer belongs to
    /// another SSB network (another `caps.shs`).
    #[error("the peer belongs to another network (network key tag does not match)")]
    NetworkMismatch,
    /// The certificate is not one this crate makes: not parseable, not Ed25519, a bad
    /// self-signature, a chain instead of one certificate, outside its validity.
    #[error("malformed peer certificate: {0}")]
    Malformed(&'static str),
    /// The TLS handshake signature does not verify with the certificate's key.
    #[error("bad handshake signature")]
    BadSignature,
}

impl Classify for CertificateRejection {
    /// [`Incompatible`](ErrorKind::Incompatible) for another key or another network (the
    /// peer proved a key honestly, it is just not the one wanted: nobody misbehaved),
    /// [`PeerMisbehaved`](ErrorKind::PeerMisbehaved) for a malformed certificate or a bad
    /// signature.
    fn kind(&self) -> ErrorKind {
        match self {
            Self::UnexpectedKey { .. } | Self::NetworkMismatch => ErrorKind::Incompatible,
            Self::Malformed(_) | Self::BadSignature => ErrorKind::PeerMisbehaved,
        }
    }
}

/// Why a QUIC connection (dialled or accepted) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// Our configuration is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// We refused the peer's certificate.
    #[error(transparent)]
    Certificate(#[from] CertificateRejection),
    /// The peer refused our certificate because our network key differs from its own.
    #[error("the peer refused us: another network key")]
    PeerNetworkMismatch,
    /// The peer ended the TLS handshake with this alert (another protocol, version or
    /// application protocol, or it refused our certificate).
    #[error("the peer refused the handshake (TLS alert {alert})")]
    PeerRefused {
        /// The TLS alert number.
        alert: u8,
    },
    /// Nothing answered within the connect timeout: nobody listens there (UDP has no
    /// refusal; an unreachable host looks the same).
    #[error("no QUIC server answered within {0:?}")]
    NoAnswer(std::time::Duration),
    /// The server answered but the handshake did not finish within the connect timeout (or
    /// name resolution took too long).
    #[error("no QUIC connection within {0:?}")]
    Timeout(std::time::Duration),
    /// quinn could not start the attempt (a bad address for this endpoint, the endpoint is
    /// stopping).
    #[error("cannot dial: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or closed.
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The transport's options are inconsistent (as `net:`'s).
    #[error(transparent)]
    Config(#[from] ms_net::ConfigError),
    /// A socket operation failed (binding the UDP socket).
    #[error("QUIC socket: {0}")]
    Io(#[from] io::Error),
}

impl Classify for QuicError {
    /// [`Configuration`](ErrorKind::Configuration) for our identity and unusable endpoints,
    /// the rejection's kind for a refused certificate, [`Incompatible`](ErrorKind::Incompatible)
    /// for another network key or a peer's TLS refusal, [`Refused`](ErrorKind::Refused) when
    /// nothing answered, [`Timeout`](ErrorKind::Timeout) for a handshake that did not finish
    /// in time and quinn's idle timeout, [`Closed`](ErrorKind::Closed) for a
    /// connection that broke, the I/O error's own kind otherwise.
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Identity(e) => e.kind(),
            Self::Certificate(e) => e.kind(),
            Self::PeerNetworkMismatch | Self::PeerRefused { .. } => ErrorKind::Incompatible,
            Self::NoAnswer(_) => ErrorKind::Refused,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Connect(quinn::ConnectError::InvalidRemoteAddress(_)) => ErrorKind::Refused,
            Self::Connect(_) => ErrorKind::Configuration,
            Self::Connection(e) => connection_kind(e),
            Self::Config(_) => ErrorKind::Configuration,
            Self::Io(e) => ErrorKind::from_io(e.kind()),
        }
    }
}

pub(crate) fn connection_kind(e: &quinn::ConnectionError) -> ErrorKind {
    use quinn::ConnectionError as C;
    match e {
        C::VersionMismatch => ErrorKind::Incompatible,
        C::TimedOut => ErrorKind::Timeout,
        C::TransportError(_) => ErrorKind::PeerMisbehaved,
        C::ConnectionClosed(_) | C::ApplicationClosed(_) | C::Reset | C::LocallyClosed => {
            ErrorKind::Closed
        }
        C::CidsExhausted => ErrorKind::Other,
    }
}

impl From<QuicError> for io::Error {
    fn from(e: QuicError) -> Self {
        let kind = match e.kind() {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Closed => io::ErrorKind::ConnectionReset,
            ErrorKind::Refused => io::ErrorKind::ConnectionRefused,
            ErrorKind::Rejected => io::ErrorKind::PermissionDenied,
            ErrorKind::Configuration => io::ErrorKind::InvalidInput,
            ErrorKind::Incompatible | ErrorKind::PeerMisbehaved => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
