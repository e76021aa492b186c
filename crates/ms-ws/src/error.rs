//! Errors of the `ws` transport.
//!
//! [`WsError`] is the concrete type inside the `BoxError`s this crate hands to `ms-core`
//! (downcast to match on it). Its variants fall in three groups that [`WsError::kind`] names:
//! the configuration is wrong, the network failed, or the peer misbehaved.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What a [`WsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Our configuration is wrong (unreadable certificate, no address to bind).
    Config,
    /// The network failed or a deadline passed.
    Network,
    /// The peer did something it must not (bad HTTP, a failed WebSocket or TLS handshake), or
    /// was refused (`verify_client`).
    Peer,
    /// The connection was ordinary HTTP to a server without an HTTP handler (answered `426`).
    NotWebSocket,
}

/// What went wrong in the `ws` transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// A PEM file could not be read.
    #[error("cannot read {what} from {}: {source}", path.display())]
    ReadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A PEM file holds no certificate or no private key.
    #[error("{} holds no {what}", path.display())]
    EmptyPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate, key or settings.
    #[cfg(feature = "wss")]
    #[error("TLS configuration: {0}")]
    TlsConfig(#[source] rustls::Error),
    /// The configured bind host did not resolve.
    #[error("cannot resolve bind host `{host}`: {source}")]
    BindHost {
        /// The host.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// Listening failed (address in use, permission denied, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The host of a URL did not resolve.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// No address of the host accepted a TCP connection.
    #[error("cannot connect to {url}: {}", connect_failures(attempts))]
    Connect {
        /// The URL dialled.
        url: String,
        /// Each address tried, with its error.
        attempts: Vec<(SocketAddr, io::Error)>,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, not TLS, ...).
    #[error("TLS handshake with {peer} failed: {source}")]
    Tls {
        /// The URL or address of the peer.
        peer: String,
        /// Why (rustls errors are inside, see `io::Error::get_ref`).
        source: io::Error,
    },
    /// The WebSocket upgrade (the HTTP exchange that starts the connection) failed.
    #[error("WebSocket handshake with {peer} failed: {source}")]
    Handshake {
        /// The URL or address of the peer.
        peer: String,
        /// Why.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The peer sent an HTTP request we cannot use (malformed, too large, not an upgrade we
    /// accept); it was answered with `status`.
    #[error("bad request from {peer}: {reason} (answered {status})")]
    BadRequest {
        /// The peer.
        peer: SocketAddr,
        /// What was wrong.
        reason: String,
        /// The HTTP status sent back.
        status: u16,
    },
    /// The peer closed the connection before finishing its request.
    #[error("{peer} closed the connection during the HTTP request")]
    ClosedEarly {
        /// The peer.
        peer: SocketAddr,
    },
    /// The connection carried a plain HTTP request and the server has no [`HttpHandler`]: it was
    /// answered `426 Upgrade Required` (with a handler, the request is served and the
    /// connection is no error at all).
    ///
    /// [`HttpHandler`]: crate::HttpHandler
    #[error("{peer}: plain HTTP request `{method} {path}` answered with {status}")]
    NotWebSocket {
        /// The peer.
        peer: SocketAddr,
        /// The request method.
        method: String,
        /// The request target.
        path: String,
        /// The status sent back.
        status: u16,
    },
    /// A WebSocket upgrade that the `verify_client` callback refused; its response was sent.
    #[error("{peer}: WebSocket upgrade on `{path}` refused by verify_client (answered {status})")]
    UpgradeRefused {
        /// The peer.
        peer: SocketAddr,
        /// The request target.
        path: String,
        /// The status sent back.
        status: u16,
    },
    /// A deadline passed.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// What was going on, e.g. `connecting to ws://host:80`.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// Reading or writing the socket failed during set-up.
    #[error("i/o error with {peer}: {source}")]
    Io {
        /// The peer.
        peer: String,
        /// Why.
        source: io::Error,
    },
}

impl WsError {
    /// Which group the error belongs to.
    ///
    /// ```
    /// use ms_ws::{ErrorKind, WsError};
    /// let err = WsError::Timeout { what: "connecting".into(), after: std::time::Duration::from_secs(1) };
    /// assert_eq!(err.kind(), ErrorKind::Network);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            #[cfg(feature = "wss")]
            WsError::TlsConfig(_) => ErrorKind::Config,
            WsError::ReadPem { .. }
            | WsError::EmptyPem { .. }
            | WsError::BindHost { .. }
            | WsError::Bind { .. } => ErrorKind::Config,
            WsError::Resolve { .. }
            | WsError::Connect { .. }
            | WsError::Timeout { .. }
            | WsError::Io { .. }
            | WsError::ClosedEarly { .. } => ErrorKind::Network,
            WsError::Tls { .. }
            | WsError::Handshake { .. }
            | WsError::BadRequest { .. }
            | WsError::UpgradeRefused { .. } => ErrorKind::Peer,
            WsError::NotWebSocket { .. } => ErrorKind::NotWebSocket,
        }
    }
}

fn connect_failures(attempts: &[(SocketAddr, io::Error)]) -> String {
    if attempts.is_empty() {
        return "the host has no address".to_owned();
    }
    let parts: Vec<String> = attempts.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    parts.join("; ")
}
