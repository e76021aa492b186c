//! The [`Transport`] trait: the first section of every address.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use async_trait::async_trait;

use crate::{BoxError, BoxedIo, Identity, Scope, Scopes, Section, SectionError};

/// A way to move bytes between two machines: TCP (`net`), WebSockets (`ws`), unix sockets,
/// Tor (`onion`), or the in-memory transport of `ms-testkit`.
///
/// A transport owns one protocol name and parses its own sections. It is cheap to share
/// (`Arc`) between a server and a client.
///
/// Implementations must never panic on a section or on bytes from the network, and must bound
/// every wait that a peer controls (a connect timeout, for example).
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// The protocol name, e.g. `net`; it is also the name of the sections the transport claims.
    fn name(&self) -> &str;

    /// The scopes this transport serves: a node announces its address for these scopes only.
    fn scopes(&self) -> Scopes;

    /// Whether this transport can dial `section`.
    ///
    /// [`SectionError::WrongProtocol`] means "not mine"; other errors mean "mine, but
    /// malformed" and are shown to the user.
    fn understands(&self, section: &Section) -> Result<(), SectionError>;

    /// The canonical spelling of a section this transport understands (for example a host
    /// name in its IDNA ASCII form), for showing to people; `None` (the default) when the
    /// section is already canonical or the transport has no canonical form.
    fn canonical(&self, section: &Section) -> Option<Section> {
        let _ = section;
        None
    }

    /// Dials `section` (which [`understands`](Self::understands) accepted).
    ///
    /// Dropping the future must cancel the attempt and release everything it holds.
    async fn connect(&self, section: &Section) -> Result<Connected, BoxError>;

    /// Starts listening, as configured when the transport was built.
    ///
    /// Client-only transports (such as `onion`) return an error, and say so with
    /// [`can_listen`](Self::can_listen).
    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError>;

    /// Whether this transport can listen at all. [`MultiServer::listen`](crate::MultiServer::listen)
    /// skips the stacks of client-only transports (such as `onion`), so one node can serve
    /// `net~shs` and dial `onion~shs`. Default: `true`.
    fn can_listen(&self) -> bool {
        true
    }

    /// The scope `section` points into, when the transport can tell without I/O (used to order
    /// alternatives when the caller prefers a scope, see
    /// [`DialOptions::prefer_scope`](crate::DialOptions::prefer_scope)).
    ///
    /// The default has no opinion about a section's grammar: `device` for a device-only
    /// transport, `None` otherwise. A transport whose sections name a host says its scope
    /// itself (`net` and `onion` through [`HostPort::scope`](crate::HostPort::scope), `ws`
    /// from its URL's host).
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        let _ = section;
        self.scopes().is_device_only().then_some(Scope::Device)
    }
}

/// A dialled connection: the stream, how the transport names the peer, and who the peer is
/// when the transport itself authenticated it.
///
/// Built with [`Connected::new`] (and [`with_identity`](Self::with_identity)); the fields can
/// be read but, outside `ms-core`, not set by a struct literal, so fields can be added later
/// without breaking plugins.
///
/// ```
/// use ms_core::{Connected, Identity, PublicKey};
///
/// let (ours, _theirs) = tokio::io::duplex(64);
/// let connected = Connected::new(Box::new(ours), "net:127.0.0.1:8008".parse()?)
///     .with_identity(Identity::new(PublicKey::from_bytes([7; 32])));
/// assert_eq!(connected.remote.to_string(), "net:127.0.0.1:8008");
/// assert!(connected.identity.is_some());
/// # Ok::<(), ms_core::AddressError>(())
/// ```
#[non_exhaustive]
pub struct Connected {
    /// The raw stream.
    pub stream: BoxedIo,
    /// The peer as a section, e.g. `net:127.0.0.1:8008` (the resolved address, not the name
    /// dialled, as in the reference).
    pub remote: Section,
    /// Who the peer is, when the transport authenticated it itself (a QUIC or TLS transport,
    /// a paired link); `None` for transports that leave this to a transform. A transform that
    /// establishes an identity replaces it on the [`Connection`](crate::Connection).
    pub identity: Option<Identity>,
}

impl Connected {
    /// A dialled stream and the peer as a section, with no identity.
    pub fn new(stream: BoxedIo, remote: Section) -> Self {
        Self {
            stream,
            remote,
            identity: None,
        }
    }

    /// Says who the peer is, as the transport authenticated it.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("remote", &self.remote)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// A listening transport.
///
/// Dropping it stops listening and releases what it holds (a unix listener removes its socket
/// file); connections already accepted are not affected.
#[async_trait]
pub trait Listener: Send + Sync + 'static {
    /// Waits for the next incoming connection.
    ///
    /// **Must be cancel-safe**: the node's accept loop polls this future inside `select!` and
    /// drops it whenever something else is ready (shutdown, a finished handshake), then calls
    /// `accept` again. Dropping the future before it completes must not lose a connection:
    /// one the OS or the transport has already taken in must be returned by a later call (or
    /// still be waiting in the OS backlog). Tokio's `TcpListener::accept`,
    /// `UnixListener::accept` and `mpsc::Receiver::recv` are cancel-safe; a future that first
    /// takes a connection and then awaits something else before returning it is not (move that
    /// work into [`Accepted::pending`]). `ms_testkit::suite` checks this.
    ///
    /// An error here is about the listener (out of file descriptors, for example), not about
    /// one peer; the caller backs off and calls again. Per-connection work that can stall
    /// (a TLS or WebSocket handshake) belongs in [`Accepted::pending`] so that one slow peer
    /// never holds up the others.
    async fn accept(&self) -> io::Result<Accepted>;

    /// The sections under which this listener is reachable from `scope` (real port, concrete
    /// interface addresses for a wildcard bind). Empty when it is not reachable from there.
    fn advertise(&self, scope: Scope) -> Vec<Section>;
}

/// A stream that is still being set up by the transport (e.g. a WebSocket upgrade).
///
/// When the set-up deals with the connection itself and there is no stream to hand on, it
/// returns a boxed [`HandledByTransport`] as its error.
pub type PendingStream = Pin<Box<dyn Future<Output = Result<BoxedIo, BoxError>> + Send>>;

/// An incoming connection as the transport hands it over.
///
/// Built with [`Accepted::ready`] or [`Accepted::pending`] (and
/// [`with_identity`](Self::with_identity)); outside `ms-core` the fields can be read but not
/// set by a struct literal.
#[non_exhaustive]
pub struct Accepted {
    /// The peer as a section, e.g. `net:127.0.0.1:53211`.
    pub remote: Section,
    /// The stream, once the transport's own set-up is done.
    pub stream: PendingStream,
    /// Who the peer is, when the transport authenticated it itself; a transform that
    /// establishes an identity replaces it on the [`Connection`](crate::Connection).
    pub identity: Option<Identity>,
}

impl Accepted {
    /// A connection that is ready to use.
    pub fn ready(stream: BoxedIo, remote: Section) -> Self {
        Self {
            remote,
            stream: Box::pin(std::future::ready(Ok(stream))),
            identity: None,
        }
    }

    /// A connection that still needs the transport's own set-up, done by `setup` (the server
    /// runs it concurrently with other connections, under its deadline).
    pub fn pending<F>(setup: F, remote: Section) -> Self
    where
        F: Future<Output = Result<BoxedIo, BoxError>> + Send + 'static,
    {
        Self {
            remote,
            stream: Box::pin(setup),
            identity: None,
        }
    }

    /// Says who the peer is, as the transport authenticated it.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accepted")
            .field("remote", &self.remote)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// What a transport's set-up ([`Accepted::pending`]) returns, boxed as its error, when it dealt
/// with the connection itself and there is no stream to hand on: a WebSocket transport that
/// answered a plain HTTP request through the application's handler, for example.
///
/// This is not a failure: the node does not report it as
/// [`Event::Rejected`](crate::Event::Rejected) and logs it at debug level only.
///
/// ```
/// use ms_core::{Accepted, BoxError, HandledByTransport, Section};
///
/// let remote: Section = "net:127.0.0.1:4000".parse().unwrap();
/// let accepted = Accepted::pending(
///     async {
///         // ... answer the peer here, then:
///         Err(Box::new(HandledByTransport::new("served GET / with 200")) as BoxError)
///     },
///     remote,
/// );
/// # drop(accepted);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("handled by the transport: {what}")]
pub struct HandledByTransport {
    what: String,
}

impl HandledByTransport {
    /// What the transport did with the connection, for the log (e.g. `served GET / with 200`).
    pub fn new(what: impl Into<String>) -> Self {
        Self { what: what.into() }
    }

    /// What the transport did with the connection.
    pub fn what(&self) -> &str {
        &self.what
    }
}
