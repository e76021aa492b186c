//! # ms-onion: the `onion` transport for multiserver (Tor, client only)
//!
//! Dials `onion:<host>:<port>` sections through a Tor SOCKS5 proxy, as the JavaScript
//! reference (`multiserver` 3.8.2, `plugins/onion.js`) does:
//!
//! - the **host name goes to the proxy** (SOCKS5 `CONNECT` with a domain-name address): it is
//!   never resolved on this machine, so no DNS query leaks which service is being reached;
//! - proxies are tried in order, by default `127.0.0.1:9050` (the tor daemon) then
//!   `127.0.0.1:9150` (Tor Browser), each under a connect timeout;
//! - every failure is typed ([`OnionError`]): the proxy is down, it wants authentication, it
//!   refused the request (with its SOCKS reply code), it is not a SOCKS5 proxy, the deadline
//!   passed, or all proxies failed (each error listed).
//!
//! The transport cannot listen: serve a `net` stack and point a Tor hidden service at it.
//! Its scope is `public`, and it advertises nothing.
//!
//! Addresses: `onion:<host>:<port>` like `net` (the last `:` field is the port; IPv6 bare or in
//! brackets); the host is not required to end in `.onion`, as in the reference. Connections
//! report the peer as the section dialled.
//!
//! ```no_run
//! use ms_core::{MultiServer, Stack};
//! use ms_onion::Onion;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = MultiServer::new([Stack::new(Onion::new())])?;
//! let conn = node
//!     .connect("onion:7x3bmfwvm6yxgxg4tgbqvrapxyqv3a3ev3ocnz5zusmxxujb3eo6cdyd.onion:8008")
//!     .await?;
//! # drop(conn);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    BoxError, Connected, HostPort, Listener, Scope, Scopes, Section, SectionError, Transport,
    classified,
};
use tokio::net::TcpStream;
use tokio_socks::TargetAddr;
use tokio_socks::tcp::Socks5Stream;

/// The tor daemon's SOCKS port, tried first by default.
pub const TOR_DAEMON_PROXY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9050);
/// Tor Browser's SOCKS port, tried second by default.
pub const TOR_BROWSER_PROXY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9150);

/// A SOCKS5 reply code other than success (RFC 1928 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocksReply(pub u8);

impl SocksReply {
    /// What the code means.
    ///
    /// ```
    /// use ms_onion::SocksReply;
    /// assert_eq!(SocksReply(4).meaning(), "host unreachable");
    /// ```
    pub fn meaning(self) -> &'static str {
        match self.0 {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown reply code",
        }
    }
}

impl fmt::Display for SocksReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.meaning())
    }
}

/// Why an `onion` dial (or listen) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnionError {
    /// `listen` was called: this transport only dials.
    #[error("onion is client-only: serve a net stack behind a Tor hidden service")]
    ClientOnly,
    /// The proxy did not accept a TCP connection (Tor not running there).
    #[error("SOCKS proxy {proxy} is down: {source}")]
    ProxyDown {
        /// The proxy.
        proxy: SocketAddr,
        /// The connection error.
        source: io::Error,
    },
    /// The proxy accepts none of the authentication methods offered (only "no
    /// authentication" is).
    #[error("SOCKS proxy {proxy} requires authentication")]
    AuthRequired {
        /// The proxy.
        proxy: SocketAddr,
    },
    /// The proxy refused the `CONNECT` with a reply code.
    #[error("SOCKS proxy {proxy} refused to connect to {target}: {reply}")]
    Refused {
        /// The proxy.
        proxy: SocketAddr,
        /// The host and port asked for.
        target: String,
        /// The proxy's answer.
        reply: SocksReply,
    },
    /// The proxy broke the SOCKS5 protocol (or is not a SOCKS5 proxy), or the connection to
    /// it failed half-way.
    #[error("SOCKS proxy {proxy}: {detail}")]
    Protocol {
        /// The proxy.
        proxy: SocketAddr,
        /// What happened.
        detail: String,
    },
    /// The proxy did not finish within the connect timeout.
    #[error("SOCKS proxy {proxy} did not connect to {target} within {after:?}")]
    Timeout {
        /// The proxy.
        proxy: SocketAddr,
        /// The host and port asked for.
        target: String,
        /// The deadline.
        after: Duration,
    },
    /// No proxy is configured.
    #[error("no SOCKS proxy configured")]
    NoProxy,
    /// Every proxy failed; the errors are in the order the proxies were tried.
    #[error("{}", all_failed(.0))]
    AllProxiesFailed(Vec<OnionError>),
}

impl ms_core::Classify for OnionError {
    /// [`Refused`](ms_core::ErrorKind::Refused) when the proxy is down or cannot reach the
    /// target, [`Timeout`](ms_core::ErrorKind::Timeout) for the connect timeout,
    /// [`Configuration`](ms_core::ErrorKind::Configuration) for our own proxy settings,
    /// [`Incompatible`](ms_core::ErrorKind::Incompatible) when the proxy does not speak SOCKS5;
    /// for several proxies, the kind of the most telling failure.
    fn kind(&self) -> ms_core::ErrorKind {
        use ms_core::ErrorKind;
        match self {
            OnionError::ClientOnly | OnionError::NoProxy | OnionError::AuthRequired { .. } => {
                ErrorKind::Configuration
            }
            OnionError::ProxyDown { .. } | OnionError::Refused { .. } => ErrorKind::Refused,
            OnionError::Protocol { .. } => ErrorKind::Incompatible,
            OnionError::Timeout { .. } => ErrorKind::Timeout,
            OnionError::AllProxiesFailed(errors) => {
                let kinds: Vec<ErrorKind> = errors.iter().map(|e| e.kind()).collect();
                [
                    ErrorKind::Refused,
                    ErrorKind::Timeout,
                    ErrorKind::Incompatible,
                    ErrorKind::Configuration,
                ]
                .into_iter()
                .find(|k| kinds.contains(k))
                .unwrap_or(ErrorKind::Other)
            }
        }
    }
}

fn all_failed(errors: &[OnionError]) -> String {
    let mut msg = format!("all {} SOCKS proxies failed", errors.len());
    for (i, e) in errors.iter().enumerate() {
        msg.push_str(&format!("; [{}] {e}", i + 1));
    }
    msg
}

/// The `onion` transport. See the crate docs.
///
/// ```
/// use std::time::Duration;
/// use ms_core::{Scope, Section, Transport};
/// use ms_onion::Onion;
///
/// let onion = Onion::builder()
///     .proxies(["127.0.0.1:9050".parse()?])
///     .connect_timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(onion.name(), "onion");
/// assert!(onion.scopes().contains(Scope::Public));
/// assert!(onion.understands(&Section::new("onion:abcdefghijklmnop.onion:8008")?).is_ok());
/// assert!(onion.understands(&Section::new("onion:x.onion")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Onion {
    proxies: Vec<SocketAddr>,
    connect_timeout: Duration,
}

/// Configures an [`Onion`] transport; [`build`](Self::build) checks the settings.
#[derive(Clone, Debug)]
#[must_use]
pub struct OnionBuilder {
    onion: Onion,
}

impl OnionBuilder {
    /// Replaces the proxies, tried in order.
    pub fn proxies(mut self, proxies: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.onion.proxies = proxies.into_iter().collect();
        self
    }

    /// Sets the deadline of one attempt through one proxy (TCP to the proxy, the SOCKS
    /// exchange, and Tor's circuit to the service).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.onion.connect_timeout = timeout;
        self
    }

    /// The transport, or [`OnionError::NoProxy`] when the proxy list is empty.
    pub fn build(self) -> Result<Onion, OnionError> {
        if self.onion.proxies.is_empty() {
            return Err(OnionError::NoProxy);
        }
        Ok(self.onion)
    }
}

impl Default for Onion {
    fn default() -> Self {
        Self::new()
    }
}

impl Onion {
    /// Proxies `127.0.0.1:9050` then `127.0.0.1:9150`, 30 s per proxy (as the reference's
    /// SOCKS library).
    pub fn new() -> Self {
        Self {
            proxies: vec![TOR_DAEMON_PROXY, TOR_BROWSER_PROXY],
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// Starts configuring one: proxies and connect timeout, as in [`new`](Self::new) until set.
    pub fn builder() -> OnionBuilder {
        OnionBuilder { onion: Self::new() }
    }

    /// The proxies, in order.
    pub fn proxies(&self) -> &[SocketAddr] {
        &self.proxies
    }

    /// Connects to `target` through the proxies, in order, until one gets through.
    ///
    /// With one proxy its error is returned as is; with several,
    /// [`OnionError::AllProxiesFailed`] lists each.
    pub async fn dial(&self, target: &HostPort) -> Result<Socks5Stream<TcpStream>, OnionError> {
        let mut errors = Vec::new();
        for &proxy in &self.proxies {
            match self.dial_via(proxy, target).await {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    tracing::debug!(%proxy, error = %e, "onion dial through proxy failed");
                    errors.push(e);
                }
            }
        }
        match errors.len() {
            0 => Err(OnionError::NoProxy),
            1 => Err(errors.remove(0)),
            _ => Err(OnionError::AllProxiesFailed(errors)),
        }
    }

    async fn dial_via(
        &self,
        proxy: SocketAddr,
        target: &HostPort,
    ) -> Result<Socks5Stream<TcpStream>, OnionError> {
        let after = self.connect_timeout;
        let attempt = async {
            let tcp = TcpStream::connect(proxy)
                .await
                .map_err(|source| OnionError::ProxyDown { proxy, source })?;
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(%e, "cannot set TCP_NODELAY");
            }
            // A domain-name target: the proxy resolves it (never this machine).
            let addr = match target.ip() {
                Some(ip) => TargetAddr::Ip(SocketAddr::new(ip, target.port())),
                None => TargetAddr::Domain(target.host().to_owned().into(), target.port()),
            };
            Socks5Stream::connect_with_socket(tcp, addr)
                .await
                .map_err(|e| socks_error(proxy, target, e))
        };
        match tokio::time::timeout(after, attempt).await {
            Ok(result) => result,
            Err(_) => Err(OnionError::Timeout {
                proxy,
                target: target.to_string(),
                after,
            }),
        }
    }
}

fn socks_error(proxy: SocketAddr, target: &HostPort, e: tokio_socks::Error) -> OnionError {
    use tokio_socks::Error as E;
    let reply = |code| OnionError::Refused {
        proxy,
        target: target.to_string(),
        reply: SocksReply(code),
    };
    match e {
        E::NoAcceptableAuthMethods => OnionError::AuthRequired { proxy },
        E::GeneralSocksServerFailure => reply(1),
        E::ConnectionNotAllowedByRuleset => reply(2),
        E::NetworkUnreachable => reply(3),
        E::HostUnreachable => reply(4),
        E::ConnectionRefused => reply(5),
        E::TtlExpired => reply(6),
        E::CommandNotSupported => reply(7),
        E::AddressTypeNotSupported => reply(8),
        other => OnionError::Protocol {
            proxy,
            detail: other.to_string(),
        },
    }
}

#[async_trait]
impl Transport for Onion {
    fn name(&self) -> &str {
        "onion"
    }

    fn scopes(&self) -> Scopes {
        Scopes::PUBLIC
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        HostPort::parse(section, "onion").map(|_| ())
    }

    /// The host's scope when it is an IP address or `localhost` (see [`HostPort::scope`]); an
    /// `.onion` name has none that can be told without Tor.
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        HostPort::parse(section, "onion").ok()?.scope()
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let target = HostPort::parse(section, "onion").map_err(classified)?;
        let stream = self.dial(&target).await.map_err(classified)?;
        Ok(Connected::new(
            Box::new(stream),
            target.to_section("onion")?,
        ))
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Err(classified(OnionError::ClientOnly))
    }

    /// `false`: a node with an `onion` stack serves its other stacks and only dials this one.
    fn can_listen(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Section {
        Section::new(text).unwrap()
    }

    #[test]
    fn parses_like_net() {
        let onion = Onion::new();
        assert!(
            onion
                .understands(&section("onion:abcdefghijklmnop.onion:8008"))
                .is_ok()
        );
        assert!(onion.understands(&section("onion:x.onion")).is_err());
        assert!(onion.understands(&section("onion:x.onion:")).is_err());
        assert!(onion.understands(&section("onion::1")).is_err());
        assert!(
            onion
                .understands(&section("net:x.onion:1"))
                .unwrap_err()
                .is_wrong_protocol()
        );
    }

    #[tokio::test]
    async fn refuses_to_listen() {
        let err = Onion::new().listen().await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "onion is client-only: serve a net stack behind a Tor hidden service"
        );
        assert_eq!(
            ms_core::kind_of(err.as_ref()),
            ms_core::ErrorKind::Configuration
        );
        assert!(matches!(
            ms_core::unwrap_classified(err.as_ref()).downcast_ref::<OnionError>(),
            Some(OnionError::ClientOnly)
        ));
    }

    #[tokio::test]
    async fn without_proxies_says_so() {
        let err = Onion::builder().proxies([]).build().unwrap_err();
        assert!(matches!(err, OnionError::NoProxy));
    }

    #[test]
    fn reply_codes_have_meanings() {
        assert_eq!(SocksReply(5).to_string(), "5 (connection refused)");
        assert_eq!(SocksReply(0xf0).meaning(), "unknown reply code");
    }
}
