//! [`Quic`]: the `quic:<host>:<port>:<key>` multiserver transport.
//!
//! One QUIC connection per dial, one bidirectional stream on it: the stream is the
//! multiserver connection. The QUIC (TLS 1.3) handshake authenticates both sides by their SSB
//! keys ([`crate::identity`]), so no transform follows: the dialler's [`Connected`] and the
//! server's [`Accepted`] carry the peer's [`Identity`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    Accepted, BoxError, Connected, HostPort, Identity, Listener, PublicKey, Scope, Scopes, Section,
    SectionError, Transport, classified,
};
use ms_net::{ExternalHosts, Net, NetBuilder};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::error::QuicError;
use crate::identity::{QuicIdentity, peer_key};

/// The first byte of every stream a dialler opens: the stream's kind and version. It also
/// makes the stream visible to the server at once (QUIC announces a stream with its first
/// data), so a protocol where the server speaks first works.
const STREAM_HEADER: u8 = 0x01;

/// How long a connection that is done lingers for its last bytes to be acknowledged.
const LINGER: Duration = Duration::from_secs(10);

/// Handshakes in progress above which a server asks new clients to prove their address
/// (a Retry round trip) before it keeps any state for them, unless the builder says otherwise.
pub const DEFAULT_RETRY_THRESHOLD: usize = 256;

/// How a server validates client addresses (QUIC Retry, RFC 9000 §8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressValidation {
    /// Every new client first gets a Retry (one more round trip per handshake).
    Always,
    /// A Retry only while more than this many handshakes are in progress (the default,
    /// [`DEFAULT_RETRY_THRESHOLD`]): cheap when calm, stateless under an Initial flood.
    UnderLoad(usize),
    /// Never (the handshake's 3x amplification limit still applies).
    Never,
}

/// The `quic` transport: `quic:<host>:<port>:<key>`, QUIC over UDP with the SSB key as the
/// peer identity.
///
/// The host and port are as in `net:` (IPv6 bare or bracketed, names resolved when dialled);
/// the key (base64, as in `shs:`) is the server's SSB public key, which the handshake proves.
///
/// ```
/// use ms_core::{MultiServer, Scope, Stack};
/// use ms_quic::Quic;
/// use ms_shs::{Keypair, NetworkKey};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server_keys = Keypair::from_seed(&[1; 32]);
/// let server = MultiServer::new([Stack::new(Quic::new(&server_keys, NetworkKey::MAINNET)?)])?;
/// let mut listening = server.listen().await?;
/// let address = listening.address(Scope::Device).to_string(); // quic:127.0.0.1:<port>:<key>
///
/// let client = MultiServer::new([Stack::new(Quic::new(&Keypair::from_seed(&[2; 32]), NetworkKey::MAINNET)?)])?;
/// let mut outbound = client.connect(&address).await?;
/// outbound.write_all(b"ping").await?;
/// outbound.shutdown().await?;
/// let mut inbound = listening.accept().await.ok_or("closed")?;
/// let mut text = String::new();
/// inbound.read_to_string(&mut text).await?;
/// assert_eq!(text, "ping");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Quic {
    inner: Arc<Inner>,
}

/// Which client keys a server accepts.
type Authorize = dyn Fn(&PublicKey) -> bool + Send + Sync;

struct Inner {
    identity: QuicIdentity,
    net: Net,
    validation: AddressValidation,
    authorize: Option<Arc<Authorize>>,
    /// The dialling endpoints, made on first use: one per address family.
    clients: Mutex<[Option<quinn::Endpoint>; 2]>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quic")
            .field("identity", &self.identity)
            .field("net", &self.net)
            .field("validation", &self.validation)
            .field("authorize", &self.authorize.is_some())
            .finish_non_exhaustive()
    }
}

impl Quic {
    /// A device-scoped transport for `keys` in `network`: it listens on `127.0.0.1` with a
    /// port chosen by the system.
    pub fn new(keys: &ms_shs::Keypair, network: ms_shs::NetworkKey) -> Result<Self, QuicError> {
        Self::builder(QuicIdentity::new(keys, network)?).build()
    }

    /// Starts configuring a transport with this identity.
    pub fn builder(identity: QuicIdentity) -> QuicBuilder {
        QuicBuilder {
            identity,
            net: Net::builder(),
            validation: AddressValidation::UnderLoad(DEFAULT_RETRY_THRESHOLD),
            authorize: None,
        }
    }

    /// The identity (key, network) the transport speaks with.
    pub fn identity(&self) -> &QuicIdentity {
        &self.inner.identity
    }

    /// The address [`bind`](Self::bind) listens on.
    pub fn bind_address(&self) -> SocketAddr {
        self.inner.net.bind_address()
    }

    /// Starts listening (UDP) and returns the concrete listener.
    pub async fn bind(&self) -> Result<QuicListener, QuicError> {
        QuicListener::bind(&self.inner)
    }

    /// Dials `target`, requiring the peer to prove `key`: resolves the host, races its
    /// addresses as `net:` does, and opens the stream. Returns the stream and the address
    /// reached.
    pub async fn dial(
        &self,
        target: &HostPort,
        key: PublicKey,
    ) -> Result<(QuicStream, SocketAddr), QuicError> {
        let timeout = self.inner.net.connect_timeout();
        let deadline = Instant::now() + timeout;
        let addrs = resolve(target, deadline, timeout).await?;
        // Owned values: a closure taking references, held across awaits, fails the `Send`
        // check.
        let attempts = addrs.into_iter().map(|addr| {
            let this = self.clone();
            async move {
                let endpoint = this.client_endpoint(addr)?;
                let remaining = deadline.saturating_duration_since(Instant::now());
                let connection = this
                    .inner
                    .identity
                    .connect(&endpoint, addr, key, remaining)
                    .await?;
                Ok::<_, QuicError>((connection, addr))
            }
        });
        let (connection, addr) =
            match ms_core::race::staggered(attempts, Some(ms_net::DEFAULT_STAGGER)).await {
                Ok(won) => won,
                Err(mut errors) => {
                    return Err(errors.pop().unwrap_or(QuicError::Timeout(timeout)));
                }
            };
        let (mut send, recv) = connection.open_bi().await?;
        send.write_all(&[STREAM_HEADER])
            .await
            .map_err(|e| QuicError::Io(e.into()))?;
        Ok((QuicStream::dialled(send, recv, connection), addr))
    }

    fn client_endpoint(&self, peer: SocketAddr) -> Result<quinn::Endpoint, QuicError> {
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = &mut clients[usize::from(peer.is_ipv6())];
        if let Some(endpoint) = slot {
            return Ok(endpoint.clone());
        }
        let any: IpAddr = if peer.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let endpoint = quinn::Endpoint::client(SocketAddr::new(any, 0))?;
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }
}

/// The addresses to try for `target`: the IP itself, or what the name resolves to.
async fn resolve(
    target: &HostPort,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, QuicError> {
    if let Some(ip) = target.ip().filter(|_| !target.host().contains('%')) {
        return Ok(vec![SocketAddr::new(ip, target.port())]);
    }
    let lookup = tokio::net::lookup_host((target.host(), target.port()));
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in tokio::time::timeout_at(deadline, lookup)
        .await
        .map_err(|_| QuicError::Timeout(timeout))??
    {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(QuicError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no addresses", target.host()),
        )));
    }
    Ok(addrs)
}

/// Parses `quic:<host>:<port>:<key>`.
///
/// ```
/// let section: ms_core::Section =
///     "quic:::1:8008:/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=".parse()?;
/// let (target, key) = ms_quic::transport::parse_section(&section)?;
/// assert_eq!((target.host(), target.port()), ("::1", 8008));
/// assert_eq!(key.to_base64(), "/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_section(section: &Section) -> Result<(HostPort, PublicKey), SectionError> {
    if section.name() != "quic" {
        return Err(SectionError::WrongProtocol {
            expected: "quic",
            found: section.name().to_owned(),
        });
    }
    let text = section.as_str();
    if section.args().count() < 3 {
        return Err(SectionError::Missing {
            what: "key",
            after: "port",
            at: text.len(),
        });
    }
    let Some((host_port, key)) = text.rsplit_once(':') else {
        return Err(SectionError::Missing {
            what: "key",
            after: "port",
            at: text.len(),
        });
    };
    let key_at = host_port.len() + 1;
    let invalid_key = || SectionError::Invalid {
        what: "key",
        value: key.to_owned(),
        reason: "expected the base64 of a 32-byte Ed25519 key",
        at: key_at,
    };
    let host_port = Section::new(host_port).map_err(|_| SectionError::Invalid {
        what: "host",
        value: host_port.to_owned(),
        reason: "not a host and port",
        at: 0,
    })?;
    let target = HostPort::parse(&host_port, "quic")?;
    if key.is_empty() {
        return Err(SectionError::Missing {
            what: "key",
            after: "port",
            at: key_at,
        });
    }
    let key = PublicKey::from_base64(key).map_err(|_| invalid_key())?;
    Ok((target, key))
}

/// The section naming a peer: `quic:<ip>:<port>:<key>`.
fn peer_section(addr: SocketAddr, key: &PublicKey) -> Result<Section, QuicError> {
    let ip = addr.ip().to_canonical();
    section_for(&ip.to_string(), addr.port(), key)
}

fn section_for(host: &str, port: u16, key: &PublicKey) -> Result<Section, QuicError> {
    let bad = |e: ms_core::AddressError| QuicError::Io(io::Error::other(e));
    let host_port = HostPort::new(host, port).to_section("quic").map_err(bad)?;
    Section::new(format!("{}:{}", host_port.as_str(), key.to_base64())).map_err(bad)
}

#[async_trait]
impl Transport for Quic {
    fn name(&self) -> &str {
        "quic"
    }

    fn scopes(&self) -> Scopes {
        self.inner.net.scopes()
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        parse_section(section).map(|_| ())
    }

    /// The host's scope when it is an IP address or `localhost`, as `net:`.
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        parse_section(section).ok()?.0.scope()
    }

    fn canonical(&self, section: &Section) -> Option<Section> {
        let (target, key) = parse_section(section).ok()?;
        let canonical = section_for(target.host(), target.port(), &key).ok()?;
        (canonical != *section).then_some(canonical)
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let (target, key) = parse_section(section).map_err(|e| {
            classified(QuicError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                e,
            )))
        })?;
        let span = tracing::debug_span!("quic.connect", target = %target);
        async {
            let (stream, reached) = self.dial(&target, key).await.map_err(classified)?;
            tracing::debug!(%reached, "connected");
            let remote = peer_section(reached, &key).map_err(classified)?;
            Ok(Connected::new(Box::new(stream), remote).with_identity(Identity::new(key)))
        }
        .instrument(span)
        .await
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(self.bind().await.map_err(classified)?))
    }
}

/// Configures a [`Quic`] transport. The socket options ([`host`](Self::host),
/// [`port`](Self::port), [`scope`](Self::scope) / [`scopes`](Self::scopes),
/// [`external`](Self::external), [`connect_timeout`](Self::connect_timeout)) are `ms-net`'s,
/// with its defaults and checks.
///
/// ```
/// use std::net::Ipv4Addr;
/// use ms_core::Scope;
/// use ms_quic::{Quic, QuicIdentity};
/// use ms_shs::{Keypair, NetworkKey};
///
/// let identity = QuicIdentity::new(&Keypair::from_seed(&[1; 32]), NetworkKey::MAINNET)?;
/// let quic = Quic::builder(identity)
///     .scopes([Scope::Local, Scope::Public])
///     .host(Ipv4Addr::UNSPECIFIED)
///     .port(8008)
///     .build()?;
/// assert_eq!(quic.bind_address().to_string(), "0.0.0.0:8008");
/// # Ok::<(), ms_quic::QuicError>(())
/// ```
#[must_use]
pub struct QuicBuilder {
    identity: QuicIdentity,
    net: NetBuilder,
    validation: AddressValidation,
    authorize: Option<Arc<Authorize>>,
}

impl std::fmt::Debug for QuicBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicBuilder")
            .field("identity", &self.identity)
            .field("net", &self.net)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl QuicBuilder {
    /// The address to bind, as [`NetBuilder::host`] (`::` is dual-stack).
    pub fn host(mut self, host: impl Into<IpAddr>) -> Self {
        self.net = self.net.host(host);
        self
    }

    /// The UDP port (default 0: chosen by the system, advertised as bound).
    pub fn port(mut self, port: u16) -> Self {
        self.net = self.net.port(port);
        self
    }

    /// Serves one scope (default `device`).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.net = self.net.scope(scope);
        self
    }

    /// Serves several scopes.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.net = self.net.scopes(scopes);
        self
    }

    /// Host names announced for the `public` scope, as [`NetBuilder::external`].
    pub fn external(mut self, hosts: impl ExternalHosts) -> Self {
        self.net = self.net.external(hosts);
        self
    }

    /// The deadline of one dial, name resolution and handshake included (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT), as `net:`'s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.net = self.net.connect_timeout(timeout);
        self
    }

    /// How the server validates client addresses (default
    /// [`AddressValidation::UnderLoad`]`(`[`DEFAULT_RETRY_THRESHOLD`]`)`).
    pub fn address_validation(mut self, validation: AddressValidation) -> Self {
        self.validation = validation;
        self
    }

    /// Accepts only clients whose key `authorize` approves (default: any key of the
    /// network). A refused client's connection is closed with application error code 1
    /// (`not authorized`) right after the handshake, before any stream is handed on.
    pub fn authorize(
        mut self,
        authorize: impl Fn(&PublicKey) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(authorize));
        self
    }

    /// Checks the options and builds the transport.
    pub fn build(self) -> Result<Quic, QuicError> {
        Ok(Quic {
            inner: Arc::new(Inner {
                identity: self.identity,
                net: self.net.build()?,
                validation: self.validation,
                authorize: self.authorize,
                clients: Mutex::new([None, None]),
            }),
        })
    }
}

/// A listening `quic` transport: a UDP socket with a QUIC server on it.
///
/// Handshakes run in tasks of their own (a slow client holds up nobody); an accepted
/// connection is handed on once its handshake is done and its first stream has arrived.
/// Dropping the listener stops accepting new connections; connections already accepted keep
/// working.
#[derive(Debug)]
pub struct QuicListener {
    endpoint: quinn::Endpoint,
    local: SocketAddr,
    dual_stack: bool,
    scopes: Scopes,
    external: Arc<[String]>,
    key: PublicKey,
    accepted: tokio::sync::Mutex<mpsc::Receiver<Accepted>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl QuicListener {
    fn bind(inner: &Inner) -> Result<Self, QuicError> {
        let addr = inner.net.bind_address();
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        let wildcard_v6 = addr.is_ipv6() && addr.ip().is_unspecified();
        if wildcard_v6 && let Err(error) = socket.set_only_v6(false) {
            tracing::warn!(%error, "cannot make the [::] socket dual-stack; IPv6 only");
        }
        socket.bind(&addr.into())?;
        let dual_stack = wildcard_v6 && matches!(socket.only_v6(), Ok(false));
        let socket: std::net::UdpSocket = socket.into();
        let runtime = quinn::default_runtime()
            .ok_or_else(|| io::Error::other("no async runtime for the QUIC endpoint"))?;
        // Bounds on what unvalidated clients can make us hold (docs/security.md).
        let limited = |mut config: quinn::ServerConfig| {
            config
                .max_incoming(4096)
                .incoming_buffer_size(16 * 1024)
                .incoming_buffer_size_total(8 * 1024 * 1024);
            config
        };
        let server_config = limited(inner.identity.server_config());
        // Loopback clients get their own transport parameters (no path MTU discovery).
        let loopback_config = Arc::new(limited(
            inner
                .identity
                .server_config_for(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        ));
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            socket,
            runtime,
        )?;
        let local = endpoint.local_addr()?;
        let (sender, receiver) = mpsc::channel(64);
        let accept_loop = tokio::spawn(accept_loop(
            endpoint.clone(),
            loopback_config,
            sender,
            inner.validation,
            inner.net.connect_timeout(),
            inner.authorize.clone(),
        ));
        tracing::info!(%local, scopes = %inner.net.scopes(), "quic: listening");
        Ok(Self {
            endpoint,
            local,
            dual_stack,
            scopes: inner.net.scopes(),
            external: inner.net.external().to_vec().into(),
            key: inner.identity.public_key(),
            accepted: tokio::sync::Mutex::new(receiver),
            accept_loop,
        })
    }

    /// The UDP address the listener is bound to, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The quinn endpoint (for statistics, or to dial from the same port).
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
        // New connection attempts are refused from now on; established ones go on.
        self.endpoint.set_server_config(None);
    }
}

#[async_trait]
impl Listener for QuicListener {
    async fn accept(&self) -> io::Result<Accepted> {
        self.accepted
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the QUIC endpoint closed"))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        if !self.scopes.contains(scope) {
            return Vec::new();
        }
        ms_net::advertised_hosts(self.local, self.dual_stack, &self.external, scope)
            .iter()
            .filter_map(|host| section_for(host, self.local.port(), &self.key).ok())
            .collect()
    }
}

/// Takes connection attempts off the endpoint, validates addresses under load, and runs each
/// handshake in a task of its own.
async fn accept_loop(
    endpoint: quinn::Endpoint,
    loopback_config: Arc<quinn::ServerConfig>,
    sender: mpsc::Sender<Accepted>,
    validation: AddressValidation,
    handshake_timeout: Duration,
    authorize: Option<Arc<Authorize>>,
) {
    let in_progress = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            () = sender.closed() => return,
        };
        let Some(incoming) = incoming else { return };
        let retry = match validation {
            AddressValidation::Always => true,
            AddressValidation::UnderLoad(limit) => in_progress.load(Ordering::Relaxed) >= limit,
            AddressValidation::Never => false,
        };
        if retry && !incoming.remote_address_validated() && incoming.may_retry() {
            tracing::trace!(remote = %incoming.remote_address(), "quic: asking for address validation");
            if let Err(error) = incoming.retry() {
                tracing::debug!(%error, "quic: retry refused");
            }
            continue;
        }
        let remote_addr = incoming.remote_address();
        in_progress.fetch_add(1, Ordering::Relaxed);
        let guard = InProgress(in_progress.clone());
        let connecting = if incoming.remote_address().ip().to_canonical().is_loopback() {
            incoming.accept_with(loopback_config.clone())
        } else {
            incoming.accept()
        };
        let connecting = match connecting {
            Ok(connecting) => connecting,
            Err(error) => {
                tracing::debug!(%error, "quic: connection attempt refused");
                continue;
            }
        };
        tokio::spawn(serve_connection(
            connecting,
            remote_addr,
            sender.clone(),
            handshake_timeout,
            guard,
            authorize.clone(),
        ));
    }
}

/// Counts a handshake in progress until dropped.
struct InProgress(Arc<AtomicUsize>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One accepted connection: the handshake (bounded), then every stream the client opens, each
/// handed on as an [`Accepted`] whose set-up reads the stream header. The task holds the
/// connection until it closes, so the server never cuts off a client that is still reading.
async fn serve_connection(
    connecting: quinn::Connecting,
    remote_addr: SocketAddr,
    sender: mpsc::Sender<Accepted>,
    handshake_timeout: Duration,
    in_progress: InProgress,
    authorize: Option<Arc<Authorize>>,
) {
    let connection = match tokio::time::timeout(handshake_timeout, connecting).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            tracing::debug!(remote = %remote_addr, %error, "quic: handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(remote = %remote_addr, "quic: handshake timed out");
            return;
        }
    };
    drop(in_progress);
    let Some(key) = peer_key(&connection) else {
        connection.close(0u32.into(), b"no peer key");
        return;
    };
    if let Some(authorize) = &authorize
        && !authorize(&key)
    {
        tracing::info!(client = %key, "quic: refused: not authorized");
        connection.close(1u32.into(), b"not authorized");
        return;
    }
    let Ok(remote) = peer_section(remote_addr, &key) else {
        return;
    };
    tracing::debug!(%remote, "quic: accepted");
    loop {
        let (send, recv) = match connection.accept_bi().await {
            Ok(streams) => streams,
            Err(error) => {
                tracing::trace!(%remote, %error, "quic: connection ended");
                return;
            }
        };
        let setup = async move {
            let mut recv = recv;
            let header = recv.read_u8().await?;
            if header != STREAM_HEADER {
                return Err(Box::new(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown QUIC stream header {header:#04x}"),
                )) as BoxError);
            }
            Ok(Box::new(QuicStream::accepted(send, recv)) as ms_core::BoxedIo)
        };
        let accepted = Accepted::pending(setup, remote.clone()).with_identity(Identity::new(key));
        if sender.send(accepted).await.is_err() {
            // The listener is gone: serve what was accepted until the client is done.
            let _ = connection.closed().await;
            return;
        }
    }
}

/// One multiserver connection over QUIC: a bidirectional stream. Shutting down the write side
/// finishes the stream (the peer reads to its end) and keeps the read side open.
///
/// The dialler's stream owns its QUIC connection: when it is dropped, the connection lingers
/// (up to 10 s) until our last bytes are acknowledged, then closes.
#[derive(Debug)]
pub struct QuicStream {
    send: Option<quinn::SendStream>,
    recv: quinn::RecvStream,
    connection: Option<quinn::Connection>,
}

impl QuicStream {
    fn dialled(send: quinn::SendStream, recv: quinn::RecvStream, conn: quinn::Connection) -> Self {
        Self {
            send: Some(send),
            recv,
            connection: Some(conn),
        }
    }

    fn accepted(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        Self {
            send: Some(send),
            recv,
            connection: None,
        }
    }

    fn send(&mut self) -> io::Result<&mut quinn::SendStream> {
        self.send
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "stream closed"))
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        AsyncRead::poll_read(Pin::new(&mut self.recv), cx, buf)
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let send = self.send()?;
        AsyncWrite::poll_write(Pin::new(send), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let send = self.send()?;
        AsyncWrite::poll_flush(Pin::new(send), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let send = self.send()?;
        AsyncWrite::poll_shutdown(Pin::new(send), cx)
    }
}

impl Drop for QuicStream {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let Some(mut send) = self.send.take() else {
            connection.close(0u32.into(), b"done");
            return;
        };
        let _ = send.finish();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            connection.close(0u32.into(), b"done");
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, send.stopped()).await;
            connection.close(0u32.into(), b"done");
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=";

    fn section(text: &str) -> Section {
        text.replace("KEY", KEY).parse().unwrap()
    }

    fn quic() -> Quic {
        Quic::new(
            &ms_shs::Keypair::from_seed(&[1; 32]),
            ms_shs::NetworkKey::MAINNET,
        )
        .unwrap()
    }

    #[test]
    fn sections_parse_with_typed_errors() {
        let (target, key) = parse_section(&section("quic:example.org:8008:KEY")).unwrap();
        assert_eq!((target.host(), target.port()), ("example.org", 8008));
        assert_eq!(key.to_base64(), KEY);
        assert!(matches!(
            parse_section(&section("net:example.org:8008")),
            Err(SectionError::WrongProtocol { .. })
        ));
        assert!(matches!(
            parse_section(&section("quic:example.org:8008")),
            Err(SectionError::Missing { what: "key", .. })
        ));
        assert!(matches!(
            parse_section(&section("quic:example.org:8008:AAAA")),
            Err(SectionError::Invalid { what: "key", .. })
        ));
        assert!(matches!(
            parse_section(&section("quic:example.org:0:KEY")),
            Err(SectionError::Invalid { what: "port", .. })
        ));
    }

    #[test]
    fn scope_and_canonical_form_follow_net() {
        let quic = quic();
        assert_eq!(
            quic.scope_of(&section("quic:127.0.0.1:8008:KEY")),
            Some(Scope::Device)
        );
        assert_eq!(
            quic.scope_of(&section("quic:192.168.1.7:8008:KEY")),
            Some(Scope::Local)
        );
        assert_eq!(quic.scope_of(&section("quic:example.org:8008:KEY")), None);
        assert_eq!(
            quic.canonical(&section("quic:[::1]:8008:KEY")).unwrap(),
            section("quic:::1:8008:KEY")
        );
        assert_eq!(quic.canonical(&section("quic:::1:8008:KEY")), None);
    }

    /// On loopback both sides start at the full packet size and send no path MTU probes
    /// (PING frames padded to the size probed).
    #[tokio::test]
    async fn loopback_connections_skip_path_mtu_discovery() {
        use tokio::io::AsyncWriteExt as _;
        let server = quic();
        let listener = server.bind().await.unwrap();
        let port = listener.local_addr().port();
        let echo = tokio::spawn(async move {
            let mut conn = listener.accept().await.unwrap().stream.await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).await.unwrap();
            }
            listener
        });
        let client = Quic::new(
            &ms_shs::Keypair::from_seed(&[2; 32]),
            ms_shs::NetworkKey::MAINNET,
        )
        .unwrap();
        let key = server.identity().public_key();
        let (mut stream, _) = client
            .dial(&HostPort::new("127.0.0.1", port), key)
            .await
            .unwrap();
        let connection = stream.connection.clone().unwrap();
        assert_eq!(
            connection.stats().path.current_mtu,
            crate::identity::LOOPBACK_MTU
        );
        // Round trips after the handshake is confirmed: quinn would probe by now.
        let mut buf = [0u8; 4];
        for _ in 0..20 {
            stream.write_all(b"ping").await.unwrap();
            stream.read_exact(&mut buf).await.unwrap();
        }
        let stats = connection.stats();
        assert_eq!(stats.path.sent_plpmtud_probes, 0, "{stats:?}");
        assert_eq!(stats.frame_rx.ping, 0, "the server probed: {stats:?}");
        stream.shutdown().await.unwrap();
        drop(echo.await.unwrap());
    }

    #[tokio::test]
    async fn a_stream_with_an_unknown_header_is_refused() {
        let server = quic();
        let listener = server.bind().await.unwrap();
        let client = QuicIdentity::new(
            &ms_shs::Keypair::from_seed(&[2; 32]),
            ms_shs::NetworkKey::MAINNET,
        )
        .unwrap();
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let connection = client
            .connect(
                &endpoint,
                listener.local_addr(),
                server.identity().public_key(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(&[0x7f, 1, 2, 3]).await.unwrap();
        let accepted = listener.accept().await.unwrap();
        assert_eq!(
            accepted
                .identity
                .as_ref()
                .and_then(|i| i.ed25519().copied()),
            Some(client.public_key())
        );
        let err = match accepted.stream.await {
            Ok(_) => panic!("a stream with header 0x7f was accepted"),
            Err(err) => err,
        };
        assert!(
            err.to_string().contains("unknown QUIC stream header"),
            "{err}"
        );
    }
}
