//! [`Net`], its builder, and dialling.
//!
//! A dial resolves the host (unless it is an IP literal), orders the addresses as RFC 8305
//! ("happy eyeballs") says (families alternating, the resolver's first family first) and races
//! them with [`ms_core::race::staggered`]: the first at once, the next when one fails or after
//! the stagger (250 ms), the first connection winning, all under one connect deadline. A silent
//! address costs one stagger, not the deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    BoxError, Connected, HostPort, Listener, Scope, Scopes, Section, SectionError, Transport,
    classified,
};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::{ConfigError, NetError, NetListener};

/// The connect timeout used unless [`NetBuilder::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one connection attempt runs alone before the next resolved address is tried too,
/// unless [`NetBuilder::stagger`] says otherwise.
pub const DEFAULT_STAGGER: Duration = Duration::from_millis(250);

/// The `net` transport: TCP, `net:<host>:<port>` addresses.
///
/// Cheap to clone. Build one with [`Net::new`] (device scope, `127.0.0.1`, OS-assigned port)
/// or [`Net::builder`].
///
/// ```
/// use ms_core::{Scope, Transport};
/// use ms_net::Net;
///
/// let net = Net::new();
/// assert_eq!(net.name(), "net");
/// assert!(net.scopes().contains(Scope::Device));
/// assert_eq!(net.bind_address().to_string(), "127.0.0.1:0");
/// ```
#[derive(Clone, Debug)]
pub struct Net {
    config: Arc<Config>,
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) bind: SocketAddr,
    pub(crate) scopes: Scopes,
    pub(crate) external: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) stagger: Duration,
    /// Host names answered without the system resolver ([`NetBuilder::resolve`]).
    pub(crate) resolve: Vec<(String, Vec<IpAddr>)>,
}

impl Config {
    /// The addresses [`NetBuilder::resolve`] gave for `host` (names compare ignoring case).
    fn overridden(&self, host: &str) -> Option<&[IpAddr]> {
        self.resolve
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, ips)| ips.as_slice())
    }
}

impl Net {
    /// A device-scoped transport that listens on `127.0.0.1` with an OS-assigned port.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                scopes: Scopes::DEVICE,
                external: Vec::new(),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                stagger: DEFAULT_STAGGER,
                resolve: Vec::new(),
            }),
        }
    }

    /// Starts configuring a transport.
    pub fn builder() -> NetBuilder {
        NetBuilder::default()
    }

    /// The address [`bind`](Self::bind) listens on (port 0: chosen by the OS).
    pub fn bind_address(&self) -> SocketAddr {
        self.config.bind
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.config.connect_timeout
    }

    /// The `external` host names announced for the `public` scope.
    pub fn external(&self) -> &[String] {
        &self.config.external
    }

    /// Starts listening and returns the concrete listener (its real address is
    /// [`NetListener::local_addr`]). [`Transport::listen`] does the same, boxed.
    ///
    /// ```
    /// use ms_core::{Listener, Scope};
    /// use ms_net::Net;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ms_net::NetError> {
    /// let listener = Net::new().bind().await?;
    /// let port = listener.local_addr().port();
    /// assert_ne!(port, 0);
    /// let advertised = listener.advertise(Scope::Device);
    /// assert_eq!(advertised[0].as_str(), format!("net:127.0.0.1:{port}"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(&self) -> Result<NetListener, NetError> {
        let listener = NetListener::bind(&self.config)?;
        tracing::info!(local = %listener.local_addr(), scopes = %self.config.scopes, "net: listening");
        Ok(listener)
    }

    /// Starts listening for a transport layered over TCP (`layer`, e.g. `ws`) that logs its
    /// own `listening` line: the same as [`bind`](Self::bind), but this crate's line goes at
    /// `debug`, so a log at `info` shows one line per listener.
    ///
    /// ```
    /// use ms_net::Net;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ms_net::NetError> {
    /// let listener = Net::new().bind_for("my-layer").await?;
    /// tracing::info!(local = %listener.local_addr(), "my-layer: listening");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind_for(&self, layer: &str) -> Result<NetListener, NetError> {
        let listener = NetListener::bind(&self.config)?;
        tracing::debug!(local = %listener.local_addr(), scopes = %self.config.scopes, layer, "net: listening");
        Ok(listener)
    }

    /// Dials `host:port` and returns the stream with the address it reached.
    ///
    /// ```
    /// use ms_core::HostPort;
    /// use ms_net::Net;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let port = listener.local_addr()?.port();
    /// let (_stream, reached) = Net::new().dial(&HostPort::new("localhost", port)).await?;
    /// assert!(reached.ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dial(&self, target: &HostPort) -> Result<(TcpStream, SocketAddr), NetError> {
        let timeout = self.config.connect_timeout;
        let deadline = Instant::now() + timeout;
        let timed_out = || NetError::TimedOut {
            target: target.to_string(),
            after: timeout,
        };
        let overridden = self.config.overridden(target.host());
        let addrs = match (literal_ip(target), overridden) {
            (Some(ip), _) => vec![SocketAddr::new(ip, target.port())],
            (None, Some(ips)) => {
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for ip in ips {
                    let addr = SocketAddr::new(*ip, target.port());
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                addrs
            }
            (None, None) => {
                let lookup = tokio::net::lookup_host((target.host(), target.port()));
                let resolved = tokio::time::timeout_at(deadline, lookup)
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|source| NetError::Resolve {
                        host: target.host().to_owned(),
                        source,
                    })?;
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for addr in resolved {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                addrs
            }
        };
        if addrs.is_empty() {
            return Err(NetError::NoAddresses {
                host: target.host().to_owned(),
            });
        }
        let addrs = interleave_families(addrs);
        tracing::trace!(?addrs, "resolved");
        let attempts = match race(&addrs, deadline, self.config.stagger).await {
            Ok((stream, addr)) => {
                set_nodelay(&stream);
                return Ok((stream, addr));
            }
            Err(Some(attempts)) => attempts,
            Err(None) => return Err(timed_out()),
        };
        let all = |kind| attempts.iter().all(|(_, e)| e.kind() == kind);
        if all(std::io::ErrorKind::ConnectionRefused) {
            Err(NetError::Refused {
                target: target.to_string(),
            })
        } else if all(std::io::ErrorKind::TimedOut) {
            Err(timed_out())
        } else {
            Err(NetError::Connect {
                target: target.to_string(),
                attempts,
            })
        }
    }
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

/// An IP literal needs no resolver; one with a `%zone` goes through it (which maps the zone
/// name to an interface index).
fn literal_ip(target: &HostPort) -> Option<IpAddr> {
    if target.host().contains('%') {
        None
    } else {
        target.ip()
    }
}

pub(crate) fn set_nodelay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "cannot set TCP_NODELAY");
    }
}

/// The section naming a peer: its IP (IPv4-mapped IPv6 printed as IPv4) and port.
pub(crate) fn peer_section(addr: SocketAddr) -> Result<Section, BoxError> {
    let ip = addr.ip().to_canonical();
    Ok(HostPort::new(ip.to_string(), addr.port()).to_section("net")?)
}

#[async_trait]
impl Transport for Net {
    fn name(&self) -> &str {
        "net"
    }

    fn scopes(&self) -> Scopes {
        self.config.scopes
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        HostPort::parse(section, "net").map(|_| ())
    }

    /// The host's scope when it is an IP address or `localhost` (see [`HostPort::scope`]).
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        HostPort::parse(section, "net").ok()?.scope()
    }

    /// `net:<host>:<port>` as the reference prints it: IPv6 bare, an internationalized name in
    /// its ASCII (punycode) form.
    fn canonical(&self, section: &Section) -> Option<Section> {
        let canonical = HostPort::parse(section, "net")
            .ok()?
            .to_section("net")
            .ok()?;
        (canonical != *section).then_some(canonical)
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let target = HostPort::parse(section, "net").map_err(|e| classified(NetError::from(e)))?;
        let span = tracing::debug_span!("net.connect", target = %target);
        async {
            let (stream, reached) = self.dial(&target).await.map_err(classified)?;
            tracing::debug!(%reached, "connected");
            Ok(Connected::new(Box::new(stream), peer_section(reached)?))
        }
        .instrument(span)
        .await
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(self.bind().await.map_err(classified)?))
    }
}

/// Configures a [`Net`] transport.
///
/// | option | default | reference (`multiserver` 3.8.2) |
/// |---|---|---|
/// | [`scope`](Self::scope) / [`scopes`](Self::scopes) | `device` | same |
/// | [`host`](Self::host) | `127.0.0.1` if the scopes are exactly `device`, else `0.0.0.0` | `localhost` / first private / first public interface IP; all interfaces for several scopes |
/// | [`port`](Self::port) | 0: chosen by the OS, advertised as bound | a random port in 49152–65535 |
/// | [`external`](Self::external) | none | same (string or array) |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s | none |
///
/// ```
/// use std::net::Ipv4Addr;
/// use ms_core::{Scope, Transport};
/// use ms_net::Net;
///
/// let net = Net::builder()
///     .scopes([Scope::Local, Scope::Public])
///     .host(Ipv4Addr::UNSPECIFIED)
///     .port(8008)
///     .external(["ssb.example.org", "198.51.100.7"])
///     .build()?;
/// assert!(net.scopes().contains(Scope::Public));
/// assert_eq!(net.bind_address().to_string(), "0.0.0.0:8008");
/// # Ok::<(), ms_net::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct NetBuilder {
    host: Option<IpAddr>,
    port: u16,
    scopes: Scopes,
    external: Vec<String>,
    connect_timeout: Duration,
    stagger: Duration,
    resolve: Vec<(String, Vec<IpAddr>)>,
}

impl Default for NetBuilder {
    fn default() -> Self {
        Self {
            host: None,
            port: 0,
            scopes: Scopes::DEVICE,
            external: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            stagger: DEFAULT_STAGGER,
            resolve: Vec::new(),
        }
    }
}

impl NetBuilder {
    /// Serves one scope (default `device`).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scopes = scope.into();
        self
    }

    /// Serves several scopes.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes = scopes.into_iter().collect();
        self
    }

    /// The address to bind. Without it: `127.0.0.1` when the scopes are exactly `device`,
    /// the IPv4 wildcard `0.0.0.0` otherwise. `::` listens on IPv6 and IPv4 (dual-stack).
    ///
    /// Scopes only choose what is advertised; they are not a firewall: a wildcard bind
    /// accepts connections on every interface.
    pub fn host(mut self, host: impl Into<IpAddr>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The port to bind (default 0: the operating system picks a free one, and the listener
    /// advertises the port it got).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// A host name (or IP) announced for the `public` scope instead of interface addresses,
    /// e.g. the name of a machine behind NAT. Call it again to announce several; each becomes
    /// one alternative `net:<host>:<port>`.
    pub fn external(mut self, hosts: impl ExternalHosts) -> Self {
        hosts.add_to(&mut self.external);
        self
    }

    /// The deadline of one dial, name resolution included (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// When a host name resolves to several addresses, how long one attempt runs alone before
    /// the next address is tried alongside it (default [`DEFAULT_STAGGER`], as "happy
    /// eyeballs", RFC 8305, recommends). A failed attempt starts the next one at once.
    pub fn stagger(mut self, delay: Duration) -> Self {
        self.stagger = delay;
        self
    }

    /// Answers for the host name `host` with `ips`, in this order, instead of asking the
    /// system resolver (as curl's `--resolve`): a dial to `net:<host>:<port>` races these
    /// addresses with `port`, as it would race what a resolver returned. Names compare
    /// ignoring ASCII case; calling it again for the same name replaces its addresses. An
    /// empty list makes dials to the name fail with [`NetError::NoAddresses`].
    ///
    /// For pinning a name to known addresses without touching `/etc/hosts` (and for tests of
    /// multi-address dialling on machines where `localhost` has one address).
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use ms_core::HostPort;
    /// use ms_net::Net;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let port = listener.local_addr()?.port();
    /// let net = Net::builder()
    ///     .resolve("peer.example", [Ipv4Addr::LOCALHOST.into()])
    ///     .build()?;
    /// let (_stream, reached) = net.dial(&HostPort::new("peer.example", port)).await?;
    /// assert_eq!(reached, listener.local_addr()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn resolve(
        mut self,
        host: impl Into<String>,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        let host = host.into();
        self.resolve
            .retain(|(name, _)| !name.eq_ignore_ascii_case(&host));
        self.resolve.push((host, ips.into_iter().collect()));
        self
    }

    /// Checks the options and builds the transport.
    pub fn build(self) -> Result<Net, ConfigError> {
        if !self.external.is_empty() && !self.scopes.contains(Scope::Public) {
            return Err(ConfigError::ExternalWithoutPublicScope);
        }
        for host in &self.external {
            check_external(host)?;
        }
        let host = self.host.unwrap_or(if self.scopes.is_device_only() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        Ok(Net {
            config: Arc::new(Config {
                bind: SocketAddr::new(host, self.port),
                scopes: self.scopes,
                external: self.external,
                connect_timeout: self.connect_timeout,
                stagger: self.stagger,
                resolve: self.resolve,
            }),
        })
    }
}

/// Happy eyeballs (RFC 8305) with [`ms_core::race::staggered`]: the first address at once, the
/// next when one fails or after the stagger delay; the first connection wins and the others are
/// dropped. `Err(None)`: the deadline passed; `Err(Some(_))`: every address failed, with each
/// error in the order tried.
async fn race(
    addrs: &[SocketAddr],
    deadline: Instant,
    stagger: Duration,
) -> Result<(TcpStream, SocketAddr), Option<Vec<(SocketAddr, std::io::Error)>>> {
    // Addresses by value: a closure taking references, held across awaits, fails the `Send` check.
    let attempts = addrs.iter().copied().map(|addr| async move {
        match TcpStream::connect(addr).await {
            Ok(stream) => Ok((stream, addr)),
            Err(error) => {
                tracing::debug!(%addr, %error, "connect attempt failed");
                Err((addr, error))
            }
        }
    });
    let race = ms_core::race::staggered(attempts, Some(stagger));
    match tokio::time::timeout_at(deadline, race).await {
        Err(_) => Err(None),
        Ok(result) => result.map_err(Some),
    }
}

/// Orders resolved addresses as RFC 8305 does: alternate address families, starting with the
/// family of the first address the resolver returned.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut preferred, mut other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(preferred.len() + other.len());
    preferred.reverse();
    other.reverse();
    loop {
        match (preferred.pop(), other.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// An external host must print as a `net:` section that parses back to the same host.
fn check_external(host: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidExternal {
        host: host.to_owned(),
        reason,
    };
    let section = HostPort::new(host, 1)
        .to_section("net")
        .map_err(|e| invalid(e.to_string()))?;
    let parsed = HostPort::parse(&section, "net").map_err(|e| invalid(e.to_string()))?;
    if parsed.host() != HostPort::new(host, 1).host() {
        return Err(invalid("it does not read back as the same host".into()));
    }
    Ok(())
}

/// One or several external host names: a `&str`, a `String`, or an array, slice or `Vec` of
/// them (the reference's string-or-array option).
///
/// ```
/// use ms_core::Scope;
/// use ms_net::Net;
///
/// let one = Net::builder().scope(Scope::Public).external("a.example").build()?;
/// let many = Net::builder()
///     .scope(Scope::Public)
///     .external(vec![String::from("a.example"), String::from("b.example")])
///     .build()?;
/// assert_eq!(one.external(), ["a.example"]);
/// assert_eq!(many.external(), ["a.example", "b.example"]);
/// # Ok::<(), ms_net::ConfigError>(())
/// ```
pub trait ExternalHosts {
    /// Appends the host names to `list`.
    fn add_to(self, list: &mut Vec<String>);
}

impl ExternalHosts for &str {
    fn add_to(self, list: &mut Vec<String>) {
        list.push(self.to_owned());
    }
}

impl ExternalHosts for String {
    fn add_to(self, list: &mut Vec<String>) {
        list.push(self);
    }
}

impl<S: AsRef<str>, const N: usize> ExternalHosts for [S; N] {
    fn add_to(self, list: &mut Vec<String>) {
        list.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

impl<S: AsRef<str>> ExternalHosts for &[S] {
    fn add_to(self, list: &mut Vec<String>) {
        list.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

impl<S: AsRef<str>> ExternalHosts for Vec<S> {
    fn add_to(self, list: &mut Vec<String>) {
        list.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

#[cfg(test)]
mod happy_eyeballs_tests {
    use super::*;

    #[test]
    fn resolved_addresses_alternate_families_starting_with_the_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave_families(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("127.0.0.1:1"),
            a("127.0.0.2:1"),
        ]);
        assert_eq!(
            got,
            [
                a("[::1]:1"),
                a("127.0.0.1:1"),
                a("[::2]:1"),
                a("127.0.0.2:1"),
                a("[::3]:1")
            ]
        );
        let got = interleave_families(vec![a("127.0.0.1:1"), a("[::1]:1")]);
        assert_eq!(got, [a("127.0.0.1:1"), a("[::1]:1")]);
    }

    #[tokio::test]
    async fn a_failed_address_starts_the_next_one_at_once() {
        // The first address refuses (a port that was just freed); only the second listens.
        // With a stagger far past the deadline, only "a failure starts the next" can connect.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live = listener.local_addr().unwrap();
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let (_, reached) = race(&[dead, live], deadline, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(reached, live);
    }

    #[tokio::test]
    async fn a_silent_first_address_is_overtaken_after_the_stagger() {
        // A black hole: a listener that never accepts, its smallest backlog filled, so the
        // kernel drops further SYNs and a connect hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let hole = socket.listen(0).unwrap();
        let hole_addr = hole.local_addr().unwrap();
        let mut fillers = Vec::new();
        loop {
            let connect = TcpStream::connect(hole_addr);
            match tokio::time::timeout(Duration::from_millis(300), connect).await {
                Ok(Ok(stream)) if fillers.len() < 64 => fillers.push(stream),
                Ok(_) => {
                    eprintln!("note: the backlog never fills here; skipping");
                    return;
                }
                Err(_) => break,
            }
        }
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live = live.local_addr().unwrap();
        // A deadline far shorter than the kernel's SYN retries: waiting for the hole fails.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (_, reached) = race(&[hole_addr, live], deadline, DEFAULT_STAGGER)
            .await
            .unwrap();
        assert_eq!(reached, live);
        drop(hole);
    }

    #[tokio::test]
    async fn when_every_address_fails_each_error_is_reported() {
        let dead1 = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let dead2 = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = race(&[dead1, dead2], deadline, Duration::from_millis(250))
            .await
            .unwrap_err();
        let attempts = err.expect("both addresses refused, not a timeout");
        assert_eq!(attempts.len(), 2);
    }
}
