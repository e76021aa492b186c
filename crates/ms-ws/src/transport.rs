//! [`Ws`]: dialling `ws://` / `wss://` URLs and serving WebSockets (and plain HTTP).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
#[cfg(feature = "wss")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    Accepted, BoxError, BoxedIo, Connected, HostPort, Listener, Scope, Scopes, Section,
    SectionError, Transport,
};
use ms_net::{ConfigError, ExternalHosts, Net, NetBuilder, NetListener};
#[cfg(feature = "wss")]
use rustls::{ClientConfig, RootCertStore, ServerConfig};
#[cfg(feature = "wss")]
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
#[cfg(feature = "wss")]
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tracing::Instrument as _;

use crate::http::{self, HttpHandler, HttpRequest, HttpResponse, Incoming, Limits};
#[cfg(feature = "wss")]
use crate::tls;
use crate::{Keepalive, Scheme, WsError, WsStream, WsUrl};

/// Tunables of a [`Ws`]; every field has a default (see [`WsOptions::default`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WsOptions {
    /// Pings on quiet connections, and the deadline for an answer; `None` disables them.
    pub keepalive: Option<Keepalive>,
    /// Deadline for a dial: name resolution, TCP, TLS and the upgrade.
    pub connect_timeout: Duration,
    /// Deadline for an accepted connection's TLS handshake, HTTP request and upgrade (and the
    /// HTTP handler's answer).
    pub handshake_timeout: Duration,
    /// Largest incoming message (and frame) accepted; a larger one closes the connection.
    pub max_message_size: usize,
    /// Largest message this side sends: writes are coalesced up to this size.
    pub write_message_size: usize,
    /// Largest HTTP request head accepted by the server.
    pub max_request_head: usize,
    /// Largest body of a plain HTTP request passed to the handler.
    pub max_request_body: usize,
}

impl Default for WsOptions {
    /// Pings after 30 s of silence (20 s to answer), 10 s to connect or to upgrade, 8 MiB
    /// messages in, 64 KiB messages out, 16 KiB request heads, 64 KiB request bodies.
    fn default() -> Self {
        Self {
            keepalive: Some(Keepalive::default()),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_message_size: 8 << 20,
            write_message_size: 64 << 10,
            max_request_head: 16 << 10,
            max_request_body: 64 << 10,
        }
    }
}

impl WsOptions {
    fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_head: self.max_request_head,
            max_body: self.max_request_body,
            keep_upgrade_request: false,
        }
    }
}

#[cfg(feature = "wss")]
enum ServerTls {
    Pem { cert: PathBuf, key: PathBuf },
    Config(Arc<ServerConfig>),
}

#[cfg(feature = "wss")]
enum ClientTls {
    Roots(RootCertStore),
    Config(Arc<ClientConfig>),
}

/// Builds a [`Ws`].
///
/// The TCP options ([`host`](Self::host), [`port`](Self::port), [`scope`](Self::scope) /
/// [`scopes`](Self::scopes), [`external`](Self::external), [`stagger`](Self::stagger)) are
/// `ms-net`'s: same types, same defaults, same checks, because the TCP underneath is an
/// [`ms_net::Net`] built from them.
///
/// ```
/// use std::net::Ipv4Addr;
/// use ms_core::Scopes;
/// use ms_ws::Ws;
///
/// let ws = Ws::builder()
///     .host(Ipv4Addr::UNSPECIFIED)
///     .port(8989)
///     .scopes(Scopes::DEVICE | Scopes::LOCAL)
///     .build()?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
#[must_use]
pub struct WsBuilder {
    net: NetBuilder,
    #[cfg(feature = "wss")]
    server_tls: Option<ServerTls>,
    #[cfg(feature = "wss")]
    client_tls: Option<ClientTls>,
    handler: Option<HttpHandler>,
    verify: Option<Arc<VerifyFn>>,
    options: WsOptions,
}

/// The `verify_client` callback.
type VerifyFn = dyn Fn(&HttpRequest) -> Result<(), HttpResponse> + Send + Sync;

impl WsBuilder {
    /// The address to listen on, as [`NetBuilder::host`]: without it `127.0.0.1` when the
    /// scopes are exactly `device`, the IPv4 wildcard `0.0.0.0` otherwise; `::` listens on IPv6
    /// and IPv4 (dual-stack). A wildcard bind advertises the machine's interface addresses of
    /// each scope, never the wildcard.
    pub fn host(mut self, host: impl Into<IpAddr>) -> Self {
        self.net = self.net.host(host);
        self
    }

    /// The port to listen on; 0 (the default) lets the system pick one, and the real port is
    /// advertised.
    pub fn port(mut self, port: u16) -> Self {
        self.net = self.net.port(port);
        self
    }

    /// Serves one scope (default `device`, as in the reference).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.net = self.net.scope(scope);
        self
    }

    /// Serves several scopes: a [`Scopes`] set or any list of [`Scope`]s.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.net = self.net.scopes(scopes);
        self
    }

    /// A host name (or IP) announced for the `public` scope instead of interface addresses
    /// (the reference's `external`), e.g. the name of a machine behind NAT. Call it again to
    /// announce several; each becomes one alternative `ws://<host>:<port>`. Checked by
    /// [`build`](Self::build) as [`NetBuilder::external`] is, and as a URL host.
    pub fn external(mut self, hosts: impl ExternalHosts) -> Self {
        self.net = self.net.external(hosts);
        self
    }

    /// When a host name resolves to several addresses, how long one TCP attempt runs alone
    /// before the next address is tried alongside it (as [`NetBuilder::stagger`]; default
    /// [`ms_net::DEFAULT_STAGGER`]).
    pub fn stagger(mut self, delay: Duration) -> Self {
        self.net = self.net.stagger(delay);
        self
    }

    /// Answers for the host name `host` with `ips` instead of asking the system resolver, for
    /// `ws://<host>` and `wss://<host>` URLs (as [`NetBuilder::resolve`]). The URL, and so the
    /// TLS server name and the HTTP `Host`, keep the name.
    pub fn resolve(
        mut self,
        host: impl Into<String>,
        ips: impl IntoIterator<Item = std::net::IpAddr>,
    ) -> Self {
        self.net = self.net.resolve(host, ips);
        self
    }

    /// Serves `wss` with the certificate chain and private key in these PEM files (the
    /// reference's `cert` and `key`); they are read by [`build`](Self::build). Feature `wss`.
    #[cfg(feature = "wss")]
    pub fn tls_pem(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.server_tls = Some(ServerTls::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Serves `wss` with a ready rustls configuration. Feature `wss`.
    #[cfg(feature = "wss")]
    pub fn tls_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.server_tls = Some(ServerTls::Config(config));
        self
    }

    /// Verifies `wss` servers against these roots instead of the webpki roots. Feature `wss`.
    #[cfg(feature = "wss")]
    pub fn client_roots(mut self, roots: RootCertStore) -> Self {
        self.client_tls = Some(ClientTls::Roots(roots));
        self
    }

    /// Dials `wss` with a ready rustls client configuration. Feature `wss`.
    #[cfg(feature = "wss")]
    pub fn client_tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.client_tls = Some(ClientTls::Config(config));
        self
    }

    /// Answers plain HTTP requests (anything but a WebSocket upgrade) with `handler`. Without
    /// one they get `426 Upgrade Required`.
    pub fn http_handler(mut self, handler: HttpHandler) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Decides whether to accept each WebSocket upgrade, from its request: the method, the
    /// target, the headers (`Origin`, say) and the peer's address (the body is empty). `Ok(())`
    /// accepts it; `Err(response)` refuses it with that response (the connection then closes
    /// and ends as [`WsError::UpgradeRefused`]). Runs before the `101` is sent, within
    /// [`WsOptions::handshake_timeout`]. Like the JavaScript `verifyClient` option; without
    /// it, every valid upgrade is accepted.
    ///
    /// ```
    /// use ms_ws::{HttpResponse, Ws};
    ///
    /// // Browsers send the page's origin: only pages of this app may open a WebSocket.
    /// let ws = Ws::builder()
    ///     .verify_client(|request| match request.header("origin") {
    ///         None => Ok(()), // not a browser
    ///         Some(b"http://localhost:3000") => Ok(()),
    ///         Some(_) => Err(HttpResponse::text(403, "origin not allowed\n")),
    ///     })
    ///     .build()?;
    /// # Ok::<(), ms_ws::WsError>(())
    /// ```
    pub fn verify_client<F>(mut self, verify: F) -> Self
    where
        F: Fn(&HttpRequest) -> Result<(), HttpResponse> + Send + Sync + 'static,
    {
        self.verify = Some(Arc::new(verify));
        self
    }

    /// Sets every tunable at once.
    pub fn options(mut self, options: WsOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the keep-alive (`None` disables pings).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.options.keepalive = keepalive;
        self
    }

    /// Sets the dial deadline.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Sets the deadline for an accepted connection's set-up.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.handshake_timeout = timeout;
        self
    }

    /// Checks the options and builds the transport, reading the PEM files if any.
    ///
    /// ```
    /// use ms_core::Scope;
    /// use ms_ws::{WsError, Ws};
    ///
    /// // `external` names are announced for `public` only, and must make a valid URL host.
    /// let err = Ws::builder().external("example.org").build().unwrap_err();
    /// assert!(matches!(err, WsError::Config(_)));
    /// let err = Ws::builder()
    ///     .scope(Scope::Public)
    ///     .external("example.org/path")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, WsError::Config(_)));
    /// ```
    pub fn build(self) -> Result<Ws, WsError> {
        #[cfg(feature = "wss")]
        let (acceptor, connector) = build_tls(self.server_tls, self.client_tls)?;
        #[cfg(feature = "wss")]
        let scheme = if acceptor.is_some() {
            Scheme::Wss
        } else {
            Scheme::Ws
        };
        #[cfg(not(feature = "wss"))]
        let scheme = Scheme::Ws;
        let net = self
            .net
            .connect_timeout(self.options.connect_timeout)
            .build()?;
        for host in net.external() {
            check_external_url(scheme, host)?;
        }
        Ok(Ws {
            inner: Arc::new(Inner {
                scheme,
                net,
                #[cfg(feature = "wss")]
                acceptor,
                #[cfg(feature = "wss")]
                connector,
                handler: self.handler,
                verify: self.verify,
                options: self.options,
            }),
        })
    }
}

/// The TLS acceptor (if serving `wss`) and connector, reading the PEM files if any.
#[cfg(feature = "wss")]
fn build_tls(
    server_tls: Option<ServerTls>,
    client_tls: Option<ClientTls>,
) -> Result<(Option<TlsAcceptor>, TlsConnector), WsError> {
    let server_tls = match server_tls {
        None => None,
        Some(ServerTls::Config(config)) => Some(config),
        Some(ServerTls::Pem { cert, key }) => Some(tls::server_config_from_pem(cert, key)?),
    };
    let client_tls = match client_tls {
        None => tls::webpki_client_config()?,
        Some(ClientTls::Roots(roots)) => tls::client_config(roots)?,
        Some(ClientTls::Config(config)) => config,
    };
    Ok((
        server_tls.map(TlsAcceptor::from),
        TlsConnector::from(client_tls),
    ))
}

/// The `ws` transport: WebSockets over TCP, or over TLS (`wss`).
///
/// One transport dials both `ws://` and `wss://` URLs. It serves plain WebSockets (its name
/// is then `ws`) or, when given a certificate, TLS (its name is then `wss`). See the crate
/// docs for addresses, and [`WsBuilder`] for the options.
///
/// ```
/// use ms_core::{Section, Transport};
/// use ms_ws::Ws;
///
/// let ws = Ws::builder().build()?;
/// assert_eq!(ws.name(), "ws");
/// // `wss://` needs the `wss` feature (default).
/// assert_eq!(
///     ws.understands(&Section::new("wss://example.com/path")?).is_ok(),
///     cfg!(feature = "wss")
/// );
/// assert!(ws.understands(&Section::new("ws:example.com:8989")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Ws {
    inner: Arc<Inner>,
}

struct Inner {
    scheme: Scheme,
    net: Net,
    #[cfg(feature = "wss")]
    acceptor: Option<TlsAcceptor>,
    #[cfg(feature = "wss")]
    connector: TlsConnector,
    handler: Option<HttpHandler>,
    verify: Option<Arc<VerifyFn>>,
    options: WsOptions,
}

impl Ws {
    /// Starts building a transport.
    pub fn builder() -> WsBuilder {
        WsBuilder {
            net: Net::builder(),
            #[cfg(feature = "wss")]
            server_tls: None,
            #[cfg(feature = "wss")]
            client_tls: None,
            handler: None,
            verify: None,
            options: WsOptions::default(),
        }
    }

    /// The scheme this transport serves: `wss` when it has a certificate.
    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
    }

    /// The tunables in force.
    pub fn options(&self) -> &WsOptions {
        &self.inner.options
    }

    /// Serves one connection accepted elsewhere (your own listener, a proxy, an in-memory pipe
    /// in a test) exactly as this transport's listener serves the connections it accepts: TLS
    /// first for `wss`, then the HTTP request, within [`WsOptions::handshake_timeout`] and the
    /// request limits. `peer` names the other end in errors and in [`HttpRequest::remote`].
    ///
    /// - A WebSocket upgrade gives `Ok(Some(stream))`: the multiserver stream, to hand to a
    ///   [`Stack`](ms_core::Stack)'s transforms or to use as is.
    /// - A plain HTTP request answered by the [`HttpHandler`] gives `Ok(None)`: nothing more
    ///   to do, the connection is closed.
    /// - Anything else is a [`WsError`]: a plain request without a handler (answered `426`),
    ///   a malformed or oversized request (answered `400`, `413`, `431` or `501`), a failed TLS
    ///   handshake, a peer that hung up, or the deadline.
    ///
    /// ```
    /// use ms_ws::Ws;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let transport = Ws::builder().build()?;
    /// // Any AsyncRead + AsyncWrite stream will do; here, an in-memory pipe.
    /// let (mut client, server) = tokio::io::duplex(4096);
    /// let peer = "127.0.0.1:40000".parse()?;
    /// let serving = tokio::spawn(async move { transport.serve_connection(server, peer).await });
    ///
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await?;
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).await?;
    /// // No handler: plain HTTP is refused, and reported as an error.
    /// assert!(answer.starts_with("HTTP/1.1 426 Upgrade Required"));
    /// assert!(serving.await?.is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`HttpRequest::remote`]: crate::HttpRequest::remote
    pub async fn serve_connection<S>(
        &self,
        io: S,
        peer: SocketAddr,
    ) -> Result<Option<BoxedIo>, WsError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let inner = &self.inner;
        let after = inner.options.handshake_timeout;
        let span = tracing::debug_span!("ws_setup", %peer);
        match tokio::time::timeout(after, set_up(io, peer, inner).instrument(span)).await {
            Ok(result) => result,
            Err(_) => Err(WsError::Timeout {
                what: format!("the WebSocket set-up with {peer}"),
                after,
            }),
        }
    }

    /// Dials a URL: TCP as [`ms_net::Net::dial`] (the host's addresses raced, happy-eyeballs
    /// style), TLS for `wss`, then the upgrade, all under [`WsOptions::connect_timeout`].
    pub async fn dial(&self, url: &WsUrl) -> Result<WsStream<Box<dyn IoStream>>, WsError> {
        let after = self.inner.options.connect_timeout;
        match tokio::time::timeout(after, self.dial_inner(url)).await {
            Ok(result) => result,
            Err(_) => Err(WsError::Timeout {
                what: format!("connecting to {url}"),
                after,
            }),
        }
    }

    async fn dial_inner(&self, url: &WsUrl) -> Result<WsStream<Box<dyn IoStream>>, WsError> {
        let target = HostPort::new(url.host(), url.port());
        let (tcp, reached) = self.inner.net.dial(&target).await?;
        tracing::debug!(%reached, "ws: TCP connected");
        let options = &self.inner.options;
        let io: Box<dyn IoStream> = match url.scheme() {
            Scheme::Ws => Box::new(tcp),
            #[cfg(not(feature = "wss"))]
            Scheme::Wss => {
                return Err(WsError::Tls {
                    peer: url.to_string(),
                    source: io::Error::new(
                        io::ErrorKind::Unsupported,
                        "this build has no TLS (ms-ws without its `wss` feature)",
                    ),
                });
            }
            #[cfg(feature = "wss")]
            Scheme::Wss => {
                let host = url.host().split('%').next().unwrap_or_default().to_owned();
                let name = ServerName::try_from(host).map_err(|e| WsError::Tls {
                    peer: url.to_string(),
                    source: io::Error::new(io::ErrorKind::InvalidInput, e),
                })?;
                let tls = self
                    .inner
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|source| WsError::Tls {
                        peer: url.to_string(),
                        source,
                    })?;
                Box::new(tls)
            }
        };
        let (ws, _response) = tokio_tungstenite::client_async_with_config(
            url.request_uri(),
            io,
            Some(options.websocket_config()),
        )
        .await
        .map_err(|source| WsError::Handshake {
            peer: url.to_string(),
            source: Box::new(source),
        })?;
        Ok(WsStream::new(
            ws,
            options.write_message_size,
            options.keepalive,
        ))
    }
}

/// The byte streams a client WebSocket runs on (TCP, or TLS over TCP).
pub trait IoStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> IoStream for T {}

impl fmt::Debug for Ws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ws")
            .field("scheme", &self.inner.scheme)
            .field("net", &self.inner.net)
            .field("handler", &self.inner.handler.is_some())
            .field("verify_client", &self.inner.verify.is_some())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl fmt::Debug for WsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsBuilder")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for Ws {
    fn name(&self) -> &str {
        self.inner.scheme.as_str()
    }

    fn scopes(&self) -> Scopes {
        self.inner.net.scopes()
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        let url = WsUrl::parse(section)?;
        if cfg!(not(feature = "wss")) && url.scheme() == Scheme::Wss {
            // Left to a transport that has TLS, if the stack has one.
            return Err(SectionError::WrongProtocol {
                expected: "ws (this build has no TLS: ms-ws without its `wss` feature)",
                found: section.name().to_owned(),
            });
        }
        Ok(())
    }

    /// The scope of the URL's host when it is an IP address (by its range) or `localhost`
    /// (`device`); `None` for other names.
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        let url = WsUrl::parse(section).ok()?;
        let host = url.host();
        let ip = host.split_once('%').map_or(host, |(ip, _)| ip);
        match ip.parse() {
            Ok(ip) => Some(Scope::of_ip(ip)),
            Err(_) => host
                .eq_ignore_ascii_case("localhost")
                .then_some(Scope::Device),
        }
    }

    /// The URL as the reference prints it: scheme and host in lower case, an internationalized
    /// name in its ASCII (punycode) form, the default port left out.
    fn canonical(&self, section: &Section) -> Option<Section> {
        let canonical = WsUrl::parse(section).ok()?.to_section().ok()?;
        (canonical != *section).then_some(canonical)
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let url = WsUrl::parse(section).map_err(ms_core::classified)?;
        let stream = self.dial(&url).await.map_err(ms_core::classified)?;
        Ok(Connected::new(Box::new(stream), url.to_section()?))
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        // Classified here, so `Error::kind` says Configuration for a bind that cannot work
        // (not what its io error alone would suggest, e.g. Refused for EADDRNOTAVAIL).
        Ok(Box::new(self.bind().await.map_err(ms_core::classified)?))
    }
}

impl Ws {
    /// Starts listening (TCP as [`ms_net::Net::bind`]: dual-stack for `::`, port 0 chosen by
    /// the system) and returns the concrete listener. [`Transport::listen`] does the same,
    /// boxed.
    ///
    /// ```
    /// use ms_core::{Listener, Scope};
    /// use ms_ws::Ws;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ms_ws::WsError> {
    /// let listener = Ws::builder().build()?.bind().await?;
    /// let port = listener.local_addr().port();
    /// assert_eq!(listener.advertise(Scope::Device)[0].as_str(), format!("ws://127.0.0.1:{port}"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(&self) -> Result<WsListener, WsError> {
        // ms-net's own `listening` line goes at debug: this one says it at info.
        let tcp = self.inner.net.bind_for("ws").await?;
        tracing::info!(
            local = %tcp.local_addr(),
            scheme = %self.inner.scheme,
            scopes = %self.inner.net.scopes(),
            "ws: listening"
        );
        Ok(WsListener {
            tcp,
            transport: self.clone(),
        })
    }
}

/// A listening `ws` (or `wss`) server: an [`ms_net::NetListener`] whose connections are set up
/// as WebSockets. Made by [`Ws::bind`] or, boxed, by [`Transport::listen`].
///
/// It advertises what the `net` listener would for the same bind, as `ws://<host>:<port>`
/// (`wss://` with TLS).
#[derive(Debug)]
pub struct WsListener {
    tcp: NetListener,
    transport: Ws,
}

impl WsListener {
    /// The address the listener is bound to, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr()
    }

    /// Whether a `[::]` listener also accepts IPv4 (always false for other addresses).
    pub fn is_dual_stack(&self) -> bool {
        self.tcp.is_dual_stack()
    }
}

#[async_trait]
impl Listener for WsListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let (tcp, peer) = self.tcp.accept_tcp().await?;
        let transport = self.transport.clone();
        // An IP address and a port always make a valid section.
        let remote = inbound_section(transport.inner.scheme, peer)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let setup = async move {
            match transport.serve_connection(tcp, peer).await {
                Ok(Some(stream)) => Ok(stream),
                Ok(None) => Err(Box::new(ms_core::HandledByTransport::new(format!(
                    "plain HTTP request from {peer} answered by the handler"
                ))) as BoxError),
                Err(error) => Err(ms_core::classified(error)),
            }
        };
        Ok(Accepted::pending(setup, remote))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        let scheme = self.transport.inner.scheme;
        let port = self.tcp.local_addr().port();
        self.tcp
            .advertised_hosts(scope)
            .into_iter()
            .filter_map(
                |host| match WsUrl::new(scheme, host, port, "").to_section() {
                    Ok(section) => Some(section),
                    Err(error) => {
                        tracing::warn!(%error, "ws: cannot advertise");
                        None
                    }
                },
            )
            .collect()
    }
}

/// TLS (for `wss`), then the HTTP request: an upgrade becomes a [`WsStream`], a request the
/// handler answered `None`, anything else an error (after an answer where there is one).
async fn set_up<S>(io: S, peer: SocketAddr, inner: &Inner) -> Result<Option<BoxedIo>, WsError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    #[cfg(not(feature = "wss"))]
    return upgrade(io, peer, inner).await;
    #[cfg(feature = "wss")]
    match &inner.acceptor {
        None => upgrade(io, peer, inner).await,
        Some(acceptor) => {
            let tls = acceptor.accept(io).await.map_err(|source| WsError::Tls {
                peer: peer.to_string(),
                source,
            })?;
            upgrade(tls, peer, inner).await
        }
    }
}

async fn upgrade<S>(mut io: S, peer: SocketAddr, inner: &Inner) -> Result<Option<BoxedIo>, WsError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let options = &inner.options;
    let limits = http::Limits {
        keep_upgrade_request: inner.verify.is_some(),
        ..options.limits()
    };
    match http::read_request(&mut io, peer, limits).await? {
        Incoming::Upgrade { key, rest, request } => {
            if let (Some(verify), Some(request)) = (&inner.verify, &request)
                && let Err(response) = verify(request)
            {
                return Err(http::refuse_upgrade(&mut io, request, response).await);
            }
            let io_error = |source| WsError::Io {
                peer: peer.to_string(),
                source,
            };
            io.write_all(&http::switching_protocols(&key))
                .await
                .map_err(io_error)?;
            io.flush().await.map_err(io_error)?;
            let ws = WebSocketStream::from_partially_read(
                io,
                rest,
                Role::Server,
                Some(options.websocket_config()),
            )
            .await;
            Ok(Some(Box::new(WsStream::new(
                ws,
                options.write_message_size,
                options.keepalive,
            ))))
        }
        Incoming::Plain(request) => {
            // Answered by the application's handler: done, and not a failure. Without a
            // handler (426), or refused or cut short: a failed connection.
            let status =
                http::answer_plain(&mut io, peer, request, inner.handler.as_ref(), limits).await?;
            tracing::debug!(status, "plain HTTP request answered by the handler");
            Ok(None)
        }
    }
}

/// How an accepted connection's peer is named: `ws://<ip>:<port>` (`wss://` over TLS).
fn inbound_section(scheme: Scheme, peer: SocketAddr) -> Result<Section, ms_core::AddressError> {
    let ip = canonical_ip(peer.ip());
    WsUrl::new(scheme, ip.to_string(), peer.port(), "").to_section()
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// An `external` host must also make a URL that reads back with the same host (`ms-net` has
/// checked that it makes a `net:` section).
fn check_external_url(scheme: Scheme, host: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidExternal {
        host: host.to_owned(),
        reason,
    };
    let expected = HostPort::new(host, 1);
    let section = WsUrl::new(scheme, expected.host(), 1, "")
        .to_section()
        .map_err(|e| invalid(e.to_string()))?;
    let parsed = WsUrl::parse(&section).map_err(|e| invalid(e.to_string()))?;
    if parsed.host() != expected.host() || parsed.port() != 1 || !parsed.path_and_query().is_empty()
    {
        return Err(invalid("it does not read back as the same URL host".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_inbound_peers_as_urls() {
        let peer: SocketAddr = "[::ffff:10.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            inbound_section(Scheme::Ws, peer).unwrap().as_str(),
            "ws://10.0.0.1:5000"
        );
        let peer: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(
            inbound_section(Scheme::Wss, peer).unwrap().as_str(),
            "wss://[::1]:5000"
        );
    }
}
