//! # ms-plugin-loopback: an example multiserver transport
//!
//! TCP on the loopback interface under an address prefix of its own: `lo:<port>` is
//! `127.0.0.1:<port>`. It exists to show how a plugin is written outside the multiserver
//! workspace (docs/plugins/writing-a-plugin.md walks through this file) and how it runs the
//! conformance suite of `ms-testkit` (tests/conformance.rs).
//!
//! ```no_run
//! use ms_core::{MultiServer, Stack};
//! use ms_plugin_loopback::Loopback;
//!
//! # async fn run() -> Result<(), ms_core::Error> {
//! let node = MultiServer::new([Stack::new(Loopback::new())])?;
//! let server = node.listen().await?;
//! println!("listening on {}", server.address(ms_core::Scope::Device));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ms_core::{
    Accepted, BoxError, Classify, Connected, ErrorKind, Listener, Scope, Scopes, Section,
    SectionError, Transport, async_trait, classified,
};
use tokio::net::{TcpListener, TcpStream};

/// The protocol name: the first word of every section this transport claims.
pub const NAME: &str = "lo";

// --- configuration ---------------------------------------------------------------------------

/// The `lo` transport: `lo:<port>` is TCP to `127.0.0.1:<port>`.
///
/// Its settings cannot be wrong together, so it is a value with setters named after the option
/// (the workspace's convention, docs/decisions.md); a transport whose settings must be checked
/// together would have a builder with a fallible `build()` instead.
#[derive(Clone, Debug)]
pub struct Loopback {
    port: u16,
    connect_timeout: Duration,
}

impl Default for Loopback {
    fn default() -> Self {
        Self::new()
    }
}

impl Loopback {
    /// Listens on a port the system picks; dials give up after 5 s.
    pub fn new() -> Self {
        Self {
            port: 0,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Listens on this port (0: one the system picks).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets how long a dial may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

// --- errors ----------------------------------------------------------------------------------

/// Why a `lo` dial or listen failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// Nothing listens on the port.
    #[error("nothing listens on 127.0.0.1:{port}")]
    Refused {
        /// The port dialled.
        port: u16,
    },
    /// The dial did not finish within the connect timeout.
    #[error("127.0.0.1:{port} did not answer within {after:?}")]
    Timeout {
        /// The port dialled.
        port: u16,
        /// The connect timeout.
        after: Duration,
    },
    /// The listening port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The system's error.
        source: io::Error,
    },
    /// Another I/O failure.
    #[error("127.0.0.1:{port}: {source}")]
    Io {
        /// The port.
        port: u16,
        /// The system's error.
        source: io::Error,
    },
}

impl Classify for LoopbackError {
    fn kind(&self) -> ErrorKind {
        match self {
            LoopbackError::Refused { .. } => ErrorKind::Refused,
            LoopbackError::Timeout { .. } => ErrorKind::Timeout,
            LoopbackError::Bind { .. } => ErrorKind::Configuration,
            LoopbackError::Io { source, .. } => ErrorKind::from_io(source.kind()),
        }
    }
}

// --- the address grammar ---------------------------------------------------------------------

/// The port of a `lo:<port>` section. Offsets in errors are bytes into the section.
pub fn parse(section: &Section) -> Result<u16, SectionError> {
    if section.name() != NAME {
        return Err(SectionError::WrongProtocol {
            expected: NAME,
            found: section.name().to_owned(),
        });
    }
    let at = NAME.len() + 1;
    let mut args = section.args();
    let text = args.next().unwrap_or_default();
    if text.is_empty() {
        return Err(SectionError::Missing {
            what: "port",
            after: "lo",
            at,
        });
    }
    let port = match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => port,
        _ => {
            return Err(SectionError::Invalid {
                what: "port",
                value: text.to_owned(),
                reason: "not a number from 1 to 65535",
                at,
            });
        }
    };
    if let Some(extra) = args.next() {
        return Err(SectionError::Unexpected {
            value: extra.to_owned(),
            at: at + text.len() + 1,
        });
    }
    Ok(port)
}

/// The section for a port: `lo:<port>`.
fn lo_section(port: u16) -> io::Result<Section> {
    // Digits only: it always parses; the error stays typed rather than unwrapped anyway.
    Section::from_parts(NAME, [port.to_string()]).map_err(io::Error::other)
}

// --- the transport ---------------------------------------------------------------------------

#[async_trait]
impl Transport for Loopback {
    fn name(&self) -> &str {
        NAME
    }

    fn scopes(&self) -> Scopes {
        Scopes::DEVICE
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        parse(section).map(drop)
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let port = parse(section).map_err(classified)?;
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(target)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(classified(LoopbackError::Refused { port }));
                }
                Ok(Err(source)) => return Err(classified(LoopbackError::Io { port, source })),
                Err(_elapsed) => {
                    return Err(classified(LoopbackError::Timeout {
                        port,
                        after: self.connect_timeout,
                    }));
                }
            };
        stream
            .set_nodelay(true)
            .map_err(|source| classified(LoopbackError::Io { port, source }))?;
        let remote =
            lo_section(port).map_err(|source| classified(LoopbackError::Io { port, source }))?;
        Ok(Connected::new(Box::new(stream), remote))
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let listener = TcpListener::bind(bind).await.map_err(|source| {
            classified(LoopbackError::Bind {
                port: self.port,
                source,
            })
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| {
                classified(LoopbackError::Io {
                    port: self.port,
                    source,
                })
            })?
            .port();
        Ok(Box::new(LoopbackListener { listener, port }))
    }
}

// --- the listener ----------------------------------------------------------------------------

/// A listening `lo` transport. Dropping it closes the port.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

impl LoopbackListener {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

#[async_trait]
impl Listener for LoopbackListener {
    async fn accept(&self) -> io::Result<Accepted> {
        // Cancel-safe, as the contract requires: tokio's accept either returns a connection or,
        // dropped, leaves it in the backlog. Nothing is awaited after it.
        let (stream, peer) = self.listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(Accepted::ready(Box::new(stream), lo_section(peer.port())?))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        match (scope, lo_section(self.port)) {
            (Scope::Device, Ok(section)) => vec![section],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_of(text: &str) -> Result<u16, SectionError> {
        parse(&Section::new(text).unwrap())
    }

    #[test]
    fn parses_a_port_and_refuses_everything_else() {
        assert_eq!(port_of("lo:8008"), Ok(8008));
        assert!(port_of("net:8008").unwrap_err().is_wrong_protocol());
        assert!(matches!(
            port_of("lo"),
            Err(SectionError::Missing { at: 3, .. })
        ));
        assert!(matches!(port_of("lo:0"), Err(SectionError::Invalid { .. })));
        assert!(matches!(
            port_of("lo:+80"),
            Err(SectionError::Invalid { .. })
        ));
        assert!(matches!(
            port_of("lo:65536"),
            Err(SectionError::Invalid { .. })
        ));
        assert!(matches!(
            port_of("lo:80:x"),
            Err(SectionError::Unexpected { at: 6, .. })
        ));
    }
}
