//! Errors of the `ws` transport.
//!
//! [`WsError`] is the concrete type inside the `BoxError`s this crate hands to `ms-core`
//! (downcast [`ms_core::Error::plugin_error`] to match on it). It implements
//! [`ms_core::Classify`], so [`ms_core::Error::kind`] says what kind of failure it is without
//! downcasting: our configuration, nobody there, a timeout, a peer that is not a WebSocket
//! (or TLS) server, a peer that misbehaved or was refused, or a connection that broke.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ms_core::ErrorKind;

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
    /// The TCP options (host, port, scopes, `external`) cannot work: `ms-net`'s builder
    /// checks, and an `external` host that would not make a URL host.
    #[error("{0}")]
    Config(#[from] ms_net::ConfigError),
    /// The TCP underneath failed (`ms-net`): the host did not resolve, every address refused
    /// or timed out, or listening failed.
    #[error("{0}")]
    Tcp(#[from] ms_net::NetError),
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

impl ms_core::Classify for WsError {
    /// - [`Configuration`](ErrorKind::Configuration): unreadable PEM files, a TLS setting
    ///   rustls refuses, a bind host or address we cannot use.
    /// - [`Refused`](ErrorKind::Refused): the URL's host does not resolve or accepts no TCP
    ///   connection.
    /// - [`Incompatible`](ErrorKind::Incompatible): the TLS or WebSocket handshake failed (the
    ///   peer is not a WebSocket or TLS server, or answered the upgrade with another status),
    ///   or a plain HTTP request reached a server without an HTTP handler.
    /// - [`PeerMisbehaved`](ErrorKind::PeerMisbehaved): a request we cannot use.
    /// - [`Rejected`](ErrorKind::Rejected): `verify_client` refused the upgrade.
    /// - [`Timeout`](ErrorKind::Timeout), and [`Closed`](ErrorKind::Closed) (or the I/O
    ///   error's kind) when the connection broke during set-up.
    ///
    /// ```
    /// use ms_core::{Classify, ErrorKind};
    /// use ms_ws::WsError;
    /// let err = WsError::Timeout { what: "connecting".into(), after: std::time::Duration::from_secs(1) };
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// ```
    fn kind(&self) -> ErrorKind {
        match self {
            #[cfg(feature = "wss")]
            WsError::TlsConfig(_) => ErrorKind::Configuration,
            WsError::ReadPem { .. } | WsError::EmptyPem { .. } | WsError::Config(_) => {
                ErrorKind::Configuration
            }
            // TCP is ms-net's: its own classification.
            WsError::Tcp(e) => ms_core::Classify::kind(e),
            WsError::Timeout { .. } => ErrorKind::Timeout,
            WsError::Io { source, .. } => match ErrorKind::from_io(source.kind()) {
                ErrorKind::Other => ErrorKind::Closed,
                kind => kind,
            },
            WsError::ClosedEarly { .. } => ErrorKind::Closed,
            WsError::Tls { source, .. } => match ErrorKind::from_io(source.kind()) {
                kind @ (ErrorKind::Closed | ErrorKind::Timeout) => kind,
                _ => ErrorKind::Incompatible,
            },
            WsError::Handshake { source, .. } => match source.as_ref() {
                tokio_tungstenite::tungstenite::Error::Io(e) => {
                    match ErrorKind::from_io(e.kind()) {
                        ErrorKind::Other => ErrorKind::Closed,
                        kind => kind,
                    }
                }
                _ => ErrorKind::Incompatible,
            },
            WsError::NotWebSocket { .. } => ErrorKind::Incompatible,
            WsError::BadRequest { .. } => ErrorKind::PeerMisbehaved,
            WsError::UpgradeRefused { .. } => ErrorKind::Rejected,
        }
    }
}
