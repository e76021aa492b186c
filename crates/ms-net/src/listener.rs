//! [`NetListener`]: a bound TCP listener and the addresses it advertises.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ms_core::{Accepted, HostPort, Listener, Scope, Scopes, Section};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::NetError;
use crate::advertise::advertised_hosts;
use crate::transport::{Config, peer_section, set_nodelay};

/// Pending connections the kernel keeps for us (the usual `SOMAXCONN`-sized backlog).
const BACKLOG: i32 = 1024;

/// A listening `net` transport.
///
/// Made by [`Net::bind`](crate::Net::bind) or, boxed, by
/// [`Transport::listen`](ms_core::Transport::listen). Dropping it stops listening; accepted
/// connections stay open.
///
/// ```
/// use ms_core::{Listener, Scope};
/// use ms_net::Net;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = Net::new().bind().await?;
/// let addr = listener.local_addr();
/// let client = tokio::net::TcpStream::connect(addr).await?;
/// let accepted = listener.accept().await?;
/// assert_eq!(accepted.remote.as_str(), format!("net:{}", client.local_addr()?));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct NetListener {
    listener: TcpListener,
    local: SocketAddr,
    dual_stack: bool,
    scopes: Scopes,
    external: Arc<[String]>,
}

impl NetListener {
    pub(crate) fn bind(config: &Config) -> Result<Self, NetError> {
        let addr = config.bind;
        let listen_error = |source: io::Error| {
            if source.kind() == io::ErrorKind::AddrInUse {
                NetError::AddrInUse { addr }
            } else {
                NetError::Listen { addr, source }
            }
        };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(listen_error)?;
        let wildcard_v6 = addr.is_ipv6() && addr.ip().is_unspecified();
        if wildcard_v6 {
            // `::` means "every address", IPv4 included, whatever the system default is.
            if let Err(error) = socket.set_only_v6(false) {
                tracing::warn!(%error, "cannot make the [::] listener dual-stack; IPv6 only");
            }
        }
        // Lets a restarted server bind again while old connections sit in TIME_WAIT. (On
        // Windows SO_REUSEADDR would allow stealing a bound port, so it is not set there.)
        #[cfg(unix)]
        socket.set_reuse_address(true).map_err(listen_error)?;
        socket.bind(&addr.into()).map_err(listen_error)?;
        socket.listen(BACKLOG).map_err(listen_error)?;
        socket.set_nonblocking(true).map_err(listen_error)?;
        let dual_stack = wildcard_v6 && matches!(socket.only_v6(), Ok(false));
        let listener = TcpListener::from_std(socket.into()).map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        Ok(Self {
            listener,
            local,
            dual_stack,
            scopes: config.scopes,
            external: config.external.clone().into(),
        })
    }

    /// The address the listener is bound to, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether a `[::]` listener also accepts IPv4 (always false for other addresses).
    pub fn is_dual_stack(&self) -> bool {
        self.dual_stack
    }

    /// Accepts the next TCP connection as it is, `TCP_NODELAY` set, with the peer's address:
    /// for a transport layered over TCP (`ms-ws` serves WebSockets on it) that names and
    /// sets up its connections itself. [`Listener::accept`] is this plus the `net:` naming.
    pub async fn accept_tcp(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.listener.accept().await?;
        set_nodelay(&stream);
        Ok((stream, peer))
    }

    /// The hosts (IP addresses as text, IPv6 bare, or `external` names) this listener announces
    /// for `scope`, by the rules in the [crate docs](crate#what-it-advertises); empty for a
    /// scope it does not serve. [`Listener::advertise`] prints each as `net:<host>:<port>`; a
    /// transport layered over TCP prints them its own way, with [`local_addr`](Self::local_addr)'s
    /// port.
    ///
    /// ```
    /// use ms_core::Scope;
    /// use ms_net::Net;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ms_net::NetError> {
    /// let listener = Net::new().bind().await?;
    /// assert_eq!(listener.advertised_hosts(Scope::Device), ["127.0.0.1"]);
    /// assert!(listener.advertised_hosts(Scope::Public).is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn advertised_hosts(&self, scope: Scope) -> Vec<String> {
        if !self.scopes.contains(scope) {
            return Vec::new();
        }
        advertised_hosts(self.local, self.dual_stack, &self.external, scope)
    }
}

#[async_trait]
impl Listener for NetListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let (stream, peer) = self.accept_tcp().await?;
        let remote = peer_section(peer).map_err(io::Error::other)?;
        tracing::debug!(%remote, "net: accepted");
        Ok(Accepted::ready(Box::new(stream), remote))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        self.advertised_hosts(scope)
            .into_iter()
            .filter_map(
                |host| match HostPort::new(host, self.local.port()).to_section("net") {
                    Ok(section) => Some(section),
                    Err(error) => {
                        tracing::warn!(%error, "net: cannot advertise");
                        None
                    }
                },
            )
            .collect()
    }
}
