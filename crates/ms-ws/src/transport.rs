//! [`WsTransport`]: dialling `ws://` / `wss://` URLs and serving WebSockets (and plain HTTP).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
#[cfg(feature = "wss")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ms_core::scope::is_loopback;
use ms_core::{
    Accepted, BoxError, BoxStream, Connected, Listener, Scope, Scopes, Section, SectionError,
    Transport,
};
#[cfg(feature = "wss")]
use rustls::{ClientConfig, RootCertStore, ServerConfig};
#[cfg(feature = "wss")]
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
#[cfg(feature = "wss")]
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tracing::Instrument as _;

use crate::http::{self, HttpHandler, HttpRequest, HttpResponse, Incoming, Limits};
#[cfg(feature = "wss")]
use crate::tls;
use crate::{Keepalive, Scheme, WsError, WsStream, WsUrl};

/// Tunables of a [`WsTransport`]; every field has a default (see [`WsOptions::default`]).
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

/// Builds a [`WsTransport`].
///
/// ```
/// use ms_core::Scopes;
/// use ms_ws::WsTransport;
///
/// let ws = WsTransport::builder()
///     .host("0.0.0.0")
///     .port(8989)
///     .scopes(Scopes::DEVICE | Scopes::LOCAL)
///     .build()?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
#[must_use]
pub struct WsBuilder {
    host: Option<String>,
    port: u16,
    scopes: Scopes,
    external: Vec<String>,
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
    /// The host to listen on: an IP address or a name (resolved when listening, first address
    /// wins). Default: `127.0.0.1` when the scopes are only `device`, else `0.0.0.0` (all IPv4
    /// interfaces; use `::` for IPv6 too). A name is also what the server advertises.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The port to listen on; 0 (the default) lets the system pick one, and the real port is
    /// advertised.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The scopes the server is announced in (default: `device`, as in the reference).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Host names to advertise in the `public` scope instead of interface addresses (the
    /// reference's `external`); each becomes one alternative.
    pub fn external<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.external = hosts.into_iter().map(Into::into).collect();
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
    /// use ms_ws::{HttpResponse, WsTransport};
    ///
    /// // Browsers send the page's origin: only pages of this app may open a WebSocket.
    /// let ws = WsTransport::builder()
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

    /// Builds the transport, reading the PEM files if any.
    pub fn build(self) -> Result<WsTransport, WsError> {
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
        Ok(WsTransport {
            inner: Arc::new(Inner {
                scheme,
                host: self.host,
                port: self.port,
                scopes: self.scopes,
                external: self.external,
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
/// use ms_ws::WsTransport;
///
/// let ws = WsTransport::builder().build()?;
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
pub struct WsTransport {
    inner: Arc<Inner>,
}

struct Inner {
    scheme: Scheme,
    host: Option<String>,
    port: u16,
    scopes: Scopes,
    external: Vec<String>,
    #[cfg(feature = "wss")]
    acceptor: Option<TlsAcceptor>,
    #[cfg(feature = "wss")]
    connector: TlsConnector,
    handler: Option<HttpHandler>,
    verify: Option<Arc<VerifyFn>>,
    options: WsOptions,
}

impl WsTransport {
    /// Starts building a transport.
    pub fn builder() -> WsBuilder {
        WsBuilder {
            host: None,
            port: 0,
            scopes: Scopes::DEVICE,
            external: Vec::new(),
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
    /// use ms_ws::WsTransport;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let transport = WsTransport::builder().build()?;
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
    ) -> Result<Option<BoxStream>, WsError>
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

    /// Dials a URL: TCP (every address of the host in turn), TLS for `wss`, then the upgrade,
    /// all under [`WsOptions::connect_timeout`].
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
        let tcp = connect_tcp(url).await?;
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

    /// Where to bind.
    async fn bind_addr(&self) -> Result<SocketAddr, WsError> {
        let port = self.inner.port;
        let Some(host) = &self.inner.host else {
            let ip = if self.inner.scopes.is_device_only() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            return Ok(SocketAddr::new(ip, port));
        };
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let mut addrs = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| WsError::BindHost {
                host: host.clone(),
                source,
            })?;
        addrs.next().ok_or_else(|| WsError::BindHost {
            host: host.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no address"),
        })
    }
}

/// The byte streams a client WebSocket runs on (TCP, or TLS over TCP).
pub trait IoStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> IoStream for T {}

async fn connect_tcp(url: &WsUrl) -> Result<TcpStream, WsError> {
    let addrs: Vec<SocketAddr> = match url.ip() {
        Some(ip) if !url.host().contains('%') => vec![SocketAddr::new(ip, url.port())],
        _ => tokio::net::lookup_host((url.host(), url.port()))
            .await
            .map_err(|source| WsError::Resolve {
                host: url.host().to_owned(),
                source,
            })?
            .collect(),
    };
    let mut attempts = Vec::new();
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Box-stream frames are small and latency matters more than packet count.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(%e, "cannot set TCP_NODELAY");
                }
                return Ok(tcp);
            }
            Err(e) => attempts.push((addr, e)),
        }
    }
    Err(WsError::Connect {
        url: url.to_string(),
        attempts,
    })
}

impl fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTransport")
            .field("scheme", &self.inner.scheme)
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("scopes", &self.inner.scopes)
            .field("external", &self.inner.external)
            .field("handler", &self.inner.handler.is_some())
            .field("verify_client", &self.inner.verify.is_some())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl fmt::Debug for WsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for WsTransport {
    fn name(&self) -> &str {
        self.inner.scheme.as_str()
    }

    fn scopes(&self) -> Scopes {
        self.inner.scopes
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

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let url = WsUrl::parse(section)?;
        let stream = self.dial(&url).await?;
        Ok(Connected {
            stream: Box::new(stream),
            remote: url.to_section()?,
        })
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        let addr = self.bind_addr().await?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| WsError::Bind { addr, source })?;
        let local = tcp
            .local_addr()
            .map_err(|source| WsError::Bind { addr, source })?;
        tracing::info!(%local, scheme = %self.inner.scheme, scopes = %self.inner.scopes, "ws: listening");
        Ok(Box::new(WsListener {
            tcp,
            local,
            transport: self.clone(),
        }))
    }
}

/// A listening `ws` server.
struct WsListener {
    tcp: TcpListener,
    local: SocketAddr,
    transport: WsTransport,
}

#[async_trait]
impl Listener for WsListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let (tcp, peer) = self.tcp.accept().await?;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%e, "cannot set TCP_NODELAY");
        }
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
                Err(error) => Err(Box::new(error) as BoxError),
            }
        };
        Ok(Accepted::pending(setup, remote))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        let inner = &self.transport.inner;
        if !inner.scopes.contains(scope) {
            return Vec::new();
        }
        let port = self.local.port();
        let hosts: Vec<String> = if scope == Scope::Public && !inner.external.is_empty() {
            inner.external.clone()
        } else {
            match &inner.host {
                Some(host) if host_is_name(host) => vec![host.clone()],
                _ => advertised_ips(self.local.ip(), scope, interface_ips())
                    .into_iter()
                    .map(|ip| ip.to_string())
                    .collect(),
            }
        };
        hosts
            .into_iter()
            .filter_map(|host| WsUrl::new(inner.scheme, host, port, "").to_section().ok())
            .collect()
    }
}

/// TLS (for `wss`), then the HTTP request: an upgrade becomes a [`WsStream`], a request the
/// handler answered `None`, anything else an error (after an answer where there is one).
async fn set_up<S>(io: S, peer: SocketAddr, inner: &Inner) -> Result<Option<BoxStream>, WsError>
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

async fn upgrade<S>(
    mut io: S,
    peer: SocketAddr,
    inner: &Inner,
) -> Result<Option<BoxStream>, WsError>
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

fn host_is_name(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_err()
}

fn interface_ips() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::warn!(%e, "cannot list network interfaces");
            Vec::new()
        }
    }
}

/// The IP addresses under which a server bound to `bound` is reachable from `scope` (the same
/// rules as `ms-net`):
///
/// - a concrete address is advertised in every scope it is reachable from: any address from
///   `device`, a non-loopback one from `local`, a public one from `public`;
/// - a wildcard bind advertises the interface addresses whose own scope is the one asked for,
///   IPv4 first, never the wildcard itself and never IPv6 link-local addresses (without a zone
///   they cannot be dialled).
fn advertised_ips(bound: IpAddr, scope: Scope, interfaces: Vec<IpAddr>) -> Vec<IpAddr> {
    let bound = canonical_ip(bound);
    if !bound.is_unspecified() {
        let reachable = match scope {
            Scope::Device => true,
            Scope::Local => !is_loopback(bound),
            Scope::Public => Scope::of_ip(bound) == Scope::Public,
        };
        return if reachable { vec![bound] } else { Vec::new() };
    }
    let mut ips: Vec<IpAddr> = interfaces
        .into_iter()
        .map(canonical_ip)
        .filter(|ip| bound.is_ipv6() || ip.is_ipv4())
        .filter(|ip| !ip.is_unspecified())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
        .filter(|ip| Scope::of_ip(*ip) == scope)
        .collect();
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn advertises_interface_addresses_of_the_scope_for_a_wildcard_bind() {
        let interfaces = ips(&[
            "127.0.0.1",
            "192.168.1.7",
            "8.8.4.4",
            "::1",
            "fe80::1",
            "fd00::2",
        ]);
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(
            advertised_ips(any4, Scope::Device, interfaces.clone()),
            ips(&["127.0.0.1"])
        );
        assert_eq!(
            advertised_ips(any4, Scope::Local, interfaces.clone()),
            ips(&["192.168.1.7"])
        );
        assert_eq!(
            advertised_ips(any4, Scope::Public, interfaces.clone()),
            ips(&["8.8.4.4"])
        );
        let any6: IpAddr = "::".parse().unwrap();
        assert_eq!(
            advertised_ips(any6, Scope::Local, interfaces.clone()),
            ips(&["192.168.1.7", "fd00::2"])
        );
    }

    #[test]
    fn advertises_a_specific_bind_in_every_scope_it_is_reachable_from() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(advertised_ips(lo, Scope::Device, vec![]), vec![lo]);
        assert!(advertised_ips(lo, Scope::Local, vec![]).is_empty());
        assert!(advertised_ips(lo, Scope::Public, vec![]).is_empty());
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(advertised_ips(lan, Scope::Device, vec![]), vec![lan]);
        assert_eq!(advertised_ips(lan, Scope::Local, vec![]), vec![lan]);
        assert!(advertised_ips(lan, Scope::Public, vec![]).is_empty());
        let public: IpAddr = "8.8.4.4".parse().unwrap();
        assert_eq!(advertised_ips(public, Scope::Public, vec![]), vec![public]);
    }

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
