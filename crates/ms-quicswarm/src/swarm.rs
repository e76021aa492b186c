//! [`QuicSwarm`]: the swarm over a QUIC endpoint, whatever carries its packets.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ms_core::PublicKey;
use ms_quic::QuicIdentity;
use ms_shs::Keypair;
use ms_swarm::{Ask, AskSwarm, BoxError, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::addr::QuicAddr;
use crate::config::Config;
use crate::error::QuicSwarmError;
use crate::socket::{AddrTable, SocketStats, SwarmSocket};

/// The ALPN protocol of the swarm's QUIC connections (version 1 of the framing in
/// `docs/quicswarm.md`): a `quic:` multiserver dial (`ms-quic`) and a swarm dial to the same
/// port do not mix.
pub const ALPN: &[u8] = b"ms-quicswarm/1";

/// QUIC's smallest datagram (RFC 9000, 14): a packet swarm must carry at least this.
pub const QUIC_MIN_MTU: usize = 1200;

/// The UDP socket buffers asked for, each way.
const SOCKET_BUFFER: usize = 2 * 1024 * 1024;

/// The largest UDP payload quinn accepts.
const MAX_UDP_PAYLOAD: usize = 65_527;

/// Answer status, first byte of an ask stream's answer.
const ANSWERED: u8 = 0;
const REFUSED: u8 = 1;
const BUSY: u8 = 2;

/// How many addresses of authenticated peers `lookup_public_key` remembers after their
/// connections ended.
const KNOWN_LEN: usize = 4096;

/// Counters of a [`QuicSwarm`] (see [`QuicSwarm::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Peers with a connection in use now.
    pub connections: usize,
    /// QUIC connections the endpoint holds open now (beyond `connections` only briefly: the
    /// losers of simultaneous dials until they idle out, connections still closing).
    pub quic_connections: usize,
    /// Tells sent as QUIC datagrams.
    pub tells_as_datagrams: u64,
    /// Tells sent on a stream (larger than a datagram).
    pub tells_as_streams: u64,
    /// Incoming asks refused because the ask queue was full.
    pub asks_busy: u64,
    /// Incoming streams that broke the framing or came too slowly.
    pub protocol_errors: u64,
    /// Connection attempts refused because 1024 handshakes were already in progress.
    pub handshakes_refused: u64,
    /// Connection attempts asked to prove their address first (QUIC Retry), because more
    /// than 64 handshakes were in progress.
    pub handshakes_retried: u64,
    /// Packets the packet-swarm adapter dropped, sending (queue full, swarm refused).
    pub packets_dropped_out: u64,
    /// Packets the packet-swarm adapter dropped, receiving (queue full, oversized).
    pub packets_dropped_in: u64,
}

#[derive(Default)]
struct Counters {
    tells_as_datagrams: AtomicU64,
    tells_as_streams: AtomicU64,
    asks_busy: AtomicU64,
    protocol_errors: AtomicU64,
    refused: AtomicU64,
    retries: AtomicU64,
}

/// Where the packets go: the mapping between packet addresses and quinn's socket addresses.
trait Underlay<A>: Send + Sync + 'static {
    fn socket_of(&self, addr: &A) -> Option<SocketAddr>;
    fn addr_of(&self, sock: SocketAddr) -> Option<A>;
    fn parse(&self, text: &str) -> Result<A, ParseAddrError>;
    fn local_addrs(&self) -> Vec<A>;
    fn stats(&self) -> (u64, u64);
    fn close(&self) -> futures_util::future::BoxFuture<'_, ()>;
}

/// UDP: socket addresses are the addresses.
struct Udp {
    local: SocketAddr,
}

impl Underlay<SocketAddr> for Udp {
    fn socket_of(&self, addr: &SocketAddr) -> Option<SocketAddr> {
        Some(*addr)
    }
    fn addr_of(&self, sock: SocketAddr) -> Option<SocketAddr> {
        Some(sock)
    }
    fn parse(&self, text: &str) -> Result<SocketAddr, ParseAddrError> {
        text.parse()
            .map_err(|_| ParseAddrError::new(text, "not an IP socket address"))
    }
    fn local_addrs(&self) -> Vec<SocketAddr> {
        vec![self.local]
    }
    fn stats(&self) -> (u64, u64) {
        (0, 0)
    }
    fn close(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A packet swarm, through the socket adapter's address table.
struct Packets<S: Swarm> {
    swarm: Arc<S>,
    table: Arc<Mutex<AddrTable<S::Addr>>>,
    stats: Arc<SocketStats>,
}

impl<S: Swarm + 'static> Underlay<S::Addr> for Packets<S> {
    fn socket_of(&self, addr: &S::Addr) -> Option<SocketAddr> {
        self.table.lock().ok().map(|mut t| t.socket_of(addr))
    }
    fn addr_of(&self, sock: SocketAddr) -> Option<S::Addr> {
        self.table.lock().ok().and_then(|mut t| t.addr_of(sock))
    }
    fn parse(&self, text: &str) -> Result<S::Addr, ParseAddrError> {
        self.swarm.parse_addr(text)
    }
    fn local_addrs(&self) -> Vec<S::Addr> {
        self.swarm.local_addrs()
    }
    fn stats(&self) -> (u64, u64) {
        (
            self.stats.dropped_out.load(Ordering::Relaxed),
            self.stats.dropped_in.load(Ordering::Relaxed),
        )
    }
    fn close(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async {
            if let Err(e) = self.swarm.close().await {
                tracing::debug!(error = %e, "quicswarm: closing the packet swarm failed");
            }
        })
    }
}

/// One live connection to a peer.
#[derive(Clone)]
struct Conn {
    connection: quinn::Connection,
    /// The node that dialled it (decides which of two simultaneous connections is kept).
    dialer: PublicKey,
}

/// Addresses of authenticated peers, and their order of arrival (oldest forgotten first).
type Known<A> = (HashSet<QuicAddr<A>>, VecDeque<QuicAddr<A>>);

struct Inner<A> {
    endpoint: quinn::Endpoint,
    identity: QuicIdentity,
    public: PublicKey,
    local: Vec<QuicAddr<A>>,
    underlay: Box<dyn Underlay<A>>,
    config: Config,
    conns: Mutex<HashMap<PublicKey, Conn>>,
    dials: Mutex<HashMap<PublicKey, Arc<tokio::sync::Mutex<()>>>>,
    known: Mutex<Known<A>>,
    messages_tx: mpsc::Sender<Message<QuicAddr<A>>>,
    messages_rx: tokio::sync::Mutex<mpsc::Receiver<Message<QuicAddr<A>>>>,
    asks_tx: mpsc::Sender<Ask<QuicAddr<A>>>,
    asks_rx: tokio::sync::Mutex<mpsc::Receiver<Ask<QuicAddr<A>>>>,
    cancel: CancellationToken,
    counters: Counters,
}

/// A secure ask swarm over QUIC: tells as QUIC datagrams (or a stream when larger), asks on a
/// bidirectional stream each, one connection per peer, peers identified by their Ed25519 key.
///
/// `A` is the packet address: [`SocketAddr`] over UDP ([`QuicSwarm::bind`]), or the address of
/// any packet swarm it runs over ([`QuicSwarm::over`]). Its addresses are [`QuicAddr`]s.
///
/// ```
/// use bytes::Bytes;
/// use ms_quicswarm::{Config, QuicSwarm};
/// use ms_swarm::{AskSwarm, SecureSwarm, Swarm};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let local = "127.0.0.1:0".parse()?;
/// let a = QuicSwarm::bind(ms_shs::Keypair::generate()?, local, Config::default())?;
/// let b = QuicSwarm::bind(ms_shs::Keypair::generate()?, local, Config::default())?;
/// let b_addr = b.local_addrs()[0].clone();
///
/// a.tell(&b_addr, Bytes::from_static(b"hello")).await?;
/// let msg = b.receive().await?;
/// assert_eq!(&msg.payload[..], b"hello");
/// assert_eq!(b.lookup_public_key(&msg.src)?, a.public_key());
///
/// let server = tokio::spawn(async move {
///     let ask = b.next_ask().await?;
///     ask.respond(Bytes::from_static(b"pong"));
///     Ok::<_, ms_swarm::SwarmError>(b)
/// });
/// assert_eq!(&a.ask(&b_addr, Bytes::from_static(b"ping")).await?[..], b"pong");
/// server.await??.close().await?;
/// a.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct QuicSwarm<A> {
    inner: Arc<Inner<A>>,
}

impl<A> std::fmt::Debug for QuicSwarm<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicSwarm")
            .field("public", &self.inner.public)
            .finish_non_exhaustive()
    }
}

fn runtime_check() -> Result<(), QuicSwarmError> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| {
            QuicSwarmError::Config("a QuicSwarm must be made inside a tokio runtime".into())
        })
}

impl QuicSwarm<SocketAddr> {
    /// A swarm on a UDP socket bound to `local` (quinn's own socket, with quinn-udp's batched
    /// system calls), as `keypair`'s node. Bind a specific address: it is the address peers
    /// dial (`0.0.0.0` is not reachable). Must be called inside a tokio runtime.
    pub fn bind(
        keypair: Keypair,
        local: SocketAddr,
        config: Config,
    ) -> Result<Self, QuicSwarmError> {
        runtime_check()?;
        let identity = identity(&keypair, &config, None)?;
        let server = identity.server_config();
        let socket = UdpSocket::bind(local).map_err(QuicSwarmError::Endpoint)?;
        // Larger socket buffers than the system's default (~208 KiB on Linux): a burst of
        // handshakes or datagram tells overflows the default, and datagrams are not
        // retransmitted. Best effort: the system may cap it (net.core.rmem_max).
        if let Ok(state) = quinn::udp::UdpSocketState::new((&socket).into()) {
            for result in [
                state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER),
                state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER),
            ] {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "quicswarm: socket buffer size not set");
                }
            }
        }
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(QuicSwarmError::Endpoint)?;
        let local = endpoint.local_addr().map_err(QuicSwarmError::Endpoint)?;
        Ok(Self::start(
            endpoint,
            identity,
            keypair.public(),
            Box::new(Udp { local }),
            config,
            CancellationToken::new(),
        ))
    }
}

impl<A: ms_swarm::Addr> QuicSwarm<A> {
    /// A swarm whose QUIC packets travel over the packet swarm `swarm` (the mem swarm, a UDP
    /// swarm, a mux channel…), as `keypair`'s node. The packet swarm's MTU must be at least
    /// [`QUIC_MIN_MTU`] ([`QuicSwarmError::MtuTooSmall`]); QUIC packets are at most that MTU
    /// (and 65 527 bytes). The QUIC swarm owns the packet swarm: closing it closes that one.
    /// Must be called inside a tokio runtime.
    pub fn over<S>(swarm: S, keypair: Keypair, config: Config) -> Result<Self, QuicSwarmError>
    where
        S: Swarm<Addr = A> + 'static,
    {
        runtime_check()?;
        let mtu = swarm.mtu();
        if mtu < QUIC_MIN_MTU {
            return Err(QuicSwarmError::MtuTooSmall {
                mtu,
                min: QUIC_MIN_MTU,
            });
        }
        let packet = mtu.min(MAX_UDP_PAYLOAD);
        let identity = identity(&keypair, &config, Some(packet))?;
        let server = identity.server_config();
        let swarm = Arc::new(swarm);
        let table = Arc::new(Mutex::new(AddrTable::new(config.address_table_len())));
        let cancel = CancellationToken::new();
        let (socket, stats) = SwarmSocket::new(
            swarm.clone(),
            table.clone(),
            config.queue_len(),
            cancel.clone(),
        );
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config
            .max_udp_payload_size(packet as u16)
            .map_err(|e| QuicSwarmError::Config(e.to_string()))?;
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            endpoint_config,
            Some(server),
            Arc::new(socket),
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(QuicSwarmError::Endpoint)?;
        let underlay = Packets {
            swarm,
            table,
            stats,
        };
        Ok(Self::start(
            endpoint,
            identity,
            keypair.public(),
            Box::new(underlay),
            config,
            cancel,
        ))
    }

    fn start(
        endpoint: quinn::Endpoint,
        identity: QuicIdentity,
        public: PublicKey,
        underlay: Box<dyn Underlay<A>>,
        config: Config,
        cancel: CancellationToken,
    ) -> Self {
        let (messages_tx, messages_rx) = mpsc::channel(config.queue_len().max(1));
        let (asks_tx, asks_rx) = mpsc::channel(config.queue_len().max(1));
        let local = underlay
            .local_addrs()
            .into_iter()
            .map(|a| QuicAddr::new(a, public))
            .collect();
        let inner = Arc::new(Inner {
            endpoint,
            identity,
            public,
            local,
            underlay,
            config,
            conns: Mutex::default(),
            dials: Mutex::default(),
            known: Mutex::default(),
            messages_tx,
            messages_rx: tokio::sync::Mutex::new(messages_rx),
            asks_tx,
            asks_rx: tokio::sync::Mutex::new(asks_rx),
            cancel,
            counters: Counters::default(),
        });
        tokio::spawn(accept_loop(inner.clone()));
        Self { inner }
    }

    /// Counters, for tests and monitoring.
    pub fn stats(&self) -> Stats {
        let (out, inn) = self.inner.underlay.stats();
        let c = &self.inner.counters;
        Stats {
            connections: self.inner.conns.lock().map(|c| c.len()).unwrap_or(0),
            quic_connections: self.inner.endpoint.open_connections(),
            tells_as_datagrams: c.tells_as_datagrams.load(Ordering::Relaxed),
            tells_as_streams: c.tells_as_streams.load(Ordering::Relaxed),
            asks_busy: c.asks_busy.load(Ordering::Relaxed),
            protocol_errors: c.protocol_errors.load(Ordering::Relaxed),
            handshakes_refused: c.refused.load(Ordering::Relaxed),
            handshakes_retried: c.retries.load(Ordering::Relaxed),
            packets_dropped_out: out,
            packets_dropped_in: inn,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The live connection to `dst`'s node, dialled if there is none (callers wanting the same
    /// node meanwhile share the dial).
    async fn connection(&self, dst: &QuicAddr<A>) -> Result<quinn::Connection, SwarmError> {
        let inner = &self.inner;
        let key = dst.key();
        if let Some(c) = inner.live(&key) {
            return Ok(c);
        }
        let lock = match inner.dials.lock() {
            Ok(mut d) => d.entry(key).or_default().clone(),
            Err(_) => return Err(SwarmError::Closed),
        };
        let _guard = lock.lock().await;
        if let Some(c) = inner.live(&key) {
            return Ok(c);
        }
        let result = self.dial(dst).await;
        if let Ok(mut d) = inner.dials.lock() {
            d.remove(&key);
        }
        result
    }

    async fn dial(&self, dst: &QuicAddr<A>) -> Result<quinn::Connection, SwarmError> {
        let inner = &self.inner;
        let unreachable = |e: QuicSwarmError| SwarmError::unreachable(dst, Some(Box::new(e)));
        let sock = inner
            .underlay
            .socket_of(dst.inner())
            .ok_or_else(|| SwarmError::unreachable(dst, None))?;
        let connected = tokio::select! {
            () = inner.cancel.cancelled() => return Err(SwarmError::Closed),
            r = inner.identity.connect(&inner.endpoint, sock, dst.key(), inner.config.dial_timeout()) => r,
        };
        let connection = connected.map_err(|e| {
            tracing::debug!(%dst, error = %e, "quicswarm: dial failed");
            unreachable(QuicSwarmError::Dial(e))
        })?;
        inner
            .adopt(connection, true)
            .ok_or_else(|| SwarmError::unreachable(dst, None))
    }

    fn check_open(&self) -> Result<(), SwarmError> {
        if self.inner.cancel.is_cancelled() {
            Err(SwarmError::Closed)
        } else {
            Ok(())
        }
    }
}

fn transport_config(
    config: &Config,
    packet: Option<usize>,
) -> Result<quinn::TransportConfig, QuicSwarmError> {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(config.idle_timeout())
        .map_err(|e| QuicSwarmError::Config(format!("idle timeout: {e}")))?;
    let streams = quinn::VarInt::from_u32(config.streams_per_connection());
    t.max_idle_timeout(Some(idle))
        .max_concurrent_bidi_streams(streams)
        .max_concurrent_uni_streams(streams)
        .datagram_receive_buffer_size(Some(1024 * 1024))
        .datagram_send_buffer_size(1024 * 1024);
    if let Some(packet) = packet {
        // The packet swarm's MTU is the path MTU: start there, no discovery.
        // quinn's initial congestion window (14 720 bytes) is smaller than one packet of a
        // large-MTU swarm: give it room for ten packets, as RFC 9002 does for small ones.
        let mut cubic = quinn::congestion::CubicConfig::default();
        cubic.initial_window((10 * packet as u64).max(14_720));
        t.initial_mtu(packet as u16)
            .mtu_discovery_config(None)
            .congestion_controller_factory(Arc::new(cubic));
    }
    Ok(t)
}

/// The node's QUIC identity (ms-quic's), speaking [`ALPN`] with the swarm's transport
/// parameters.
fn identity(
    keypair: &Keypair,
    config: &Config,
    packet: Option<usize>,
) -> Result<QuicIdentity, QuicSwarmError> {
    let transport = transport_config(config, packet)?;
    Ok(QuicIdentity::new(keypair, config.network_key())?
        .with_alpn(vec![ALPN.to_vec()])?
        .with_transport_config(transport))
}

impl<A: ms_swarm::Addr> Inner<A> {
    fn live(&self, key: &PublicKey) -> Option<quinn::Connection> {
        let conns = self.conns.lock().ok()?;
        let c = conns.get(key)?;
        c.connection
            .close_reason()
            .is_none()
            .then(|| c.connection.clone())
    }

    fn local_addr(&self) -> Option<QuicAddr<A>> {
        self.local.first().cloned()
    }

    fn remember(&self, addr: &QuicAddr<A>) {
        if let Ok(mut known) = self.known.lock() {
            let (set, order) = &mut *known;
            if set.insert(addr.clone()) {
                order.push_back(addr.clone());
                if order.len() > KNOWN_LEN
                    && let Some(old) = order.pop_front()
                {
                    set.remove(&old);
                }
            }
        }
    }

    /// Registers an authenticated connection and starts serving it; returns the connection
    /// to use for its peer (another one, when an earlier connection wins).
    fn adopt(
        self: &Arc<Self>,
        connection: quinn::Connection,
        dialled: bool,
    ) -> Option<quinn::Connection> {
        let Some(key) = ms_quic::peer_key(&connection) else {
            connection.close(quinn::VarInt::from_u32(1), b"no identity");
            return None;
        };
        let Some(inner_addr) = self.underlay.addr_of(connection.remote_address()) else {
            connection.close(quinn::VarInt::from_u32(1), b"unknown address");
            return None;
        };
        let peer = QuicAddr::new(inner_addr, key);
        self.remember(&peer);
        let dialer = if dialled { self.public } else { key };
        let conn = Conn {
            connection: connection.clone(),
            dialer,
        };
        let chosen = {
            let Ok(mut conns) = self.conns.lock() else {
                return None;
            };
            match conns.get(&key) {
                Some(old)
                    if old.connection.close_reason().is_none()
                        && old.dialer != dialer
                        && old.dialer < dialer =>
                {
                    // Simultaneous dials: both sides keep the one dialled by the smaller key;
                    // the other carries what is already in flight, then idles out.
                    old.connection.clone()
                }
                _ => {
                    conns.insert(key, conn);
                    connection.clone()
                }
            }
        };
        tracing::debug!(peer = %peer, dialled, "quicswarm: connection up");
        tokio::spawn(serve_connection(self.clone(), connection, peer));
        Some(chosen)
    }

    fn forget(&self, key: &PublicKey, connection: &quinn::Connection) {
        if let Ok(mut conns) = self.conns.lock()
            && conns
                .get(key)
                .is_some_and(|c| c.connection.stable_id() == connection.stable_id())
        {
            conns.remove(key);
        }
    }

    fn protocol_error(&self, what: &str, peer: &QuicAddr<A>) {
        tracing::debug!(%peer, what, "quicswarm: bad stream from peer");
        self.counters
            .protocol_errors
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Handshakes in progress beyond which a new client must first prove its address (QUIC Retry,
/// one more round trip), and beyond which new clients are refused.
const RETRY_ABOVE: usize = 64;
const REFUSE_ABOVE: usize = 1024;

async fn accept_loop<A: ms_swarm::Addr>(inner: Arc<Inner<A>>) {
    let pending = Arc::new(AtomicU64::new(0));
    loop {
        let incoming = tokio::select! {
            () = inner.cancel.cancelled() => break,
            incoming = inner.endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        let in_progress = pending.load(Ordering::Relaxed) as usize;
        if in_progress >= REFUSE_ABOVE {
            inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            incoming.refuse();
            continue;
        }
        if in_progress >= RETRY_ABOVE
            && !incoming.remote_address_validated()
            && incoming.may_retry()
        {
            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "quicswarm: retry refused");
            }
            continue;
        }
        let (inner, pending) = (inner.clone(), pending.clone());
        pending.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let deadline = inner.config.dial_timeout();
            let cancel = inner.cancel.clone();
            let result = tokio::select! {
                () = cancel.cancelled() => None,
                r = tokio::time::timeout(deadline, async { incoming.await }) => Some(r),
            };
            pending.fetch_sub(1, Ordering::Relaxed);
            match result {
                None => {}
                Some(Ok(Ok(connection))) => {
                    inner.adopt(connection, false);
                }
                Some(Ok(Err(e))) => {
                    tracing::debug!(error = %e, "quicswarm: incoming handshake failed");
                }
                Some(Err(_)) => tracing::debug!("quicswarm: incoming handshake timed out"),
            }
        });
    }
}

/// Serves one connection until it closes: datagrams and streamed tells to `receive`, asks to
/// `next_ask`.
async fn serve_connection<A: ms_swarm::Addr>(
    inner: Arc<Inner<A>>,
    connection: quinn::Connection,
    peer: QuicAddr<A>,
) {
    let Some(local) = inner.local_addr() else {
        return;
    };
    let cancel = inner.cancel.clone();
    let datagrams = {
        let (inner, connection, peer, local) = (
            inner.clone(),
            connection.clone(),
            peer.clone(),
            local.clone(),
        );
        async move {
            while let Ok(payload) = connection.read_datagram().await {
                let msg = Message::new(peer.clone(), local.clone(), payload);
                if inner.messages_tx.send(msg).await.is_err() {
                    break;
                }
            }
        }
    };
    let uni = {
        let (inner, connection, peer, local) = (
            inner.clone(),
            connection.clone(),
            peer.clone(),
            local.clone(),
        );
        // At most `streams_per_connection` streamed tells per connection are read or wait for
        // room in the receive queue at once: a peer cannot pile up tasks and buffers.
        let slots = Arc::new(tokio::sync::Semaphore::new(
            inner.config.streams_per_connection() as usize,
        ));
        async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let Ok(mut recv) = connection.accept_uni().await else {
                    break;
                };
                let (inner, peer, local) = (inner.clone(), peer.clone(), local.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let limit = inner.config.mtu();
                    let read =
                        tokio::time::timeout(inner.config.read_timeout(), recv.read_to_end(limit))
                            .await;
                    match read {
                        Ok(Ok(payload)) => {
                            let msg = Message::new(peer, local, Bytes::from(payload));
                            tokio::select! {
                                () = inner.cancel.cancelled() => {}
                                _ = inner.messages_tx.send(msg) => {}
                            }
                        }
                        _ => inner.protocol_error("streamed tell", &peer),
                    }
                });
            }
        }
    };
    let bi = {
        let (inner, connection, peer) = (inner.clone(), connection.clone(), peer.clone());
        async move {
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(answer(
                    inner.clone(),
                    send,
                    recv,
                    peer.clone(),
                    local.clone(),
                ));
            }
        }
    };
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = async { tokio::join!(datagrams, uni, bi) } => {}
    }
    inner.forget(&peer.key(), &connection);
    tracing::debug!(%peer, "quicswarm: connection closed");
}

/// Reads one request, hands it to `next_ask`, writes the answer (or the refusal).
async fn answer<A: ms_swarm::Addr>(
    inner: Arc<Inner<A>>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    peer: QuicAddr<A>,
    local: QuicAddr<A>,
) {
    let read = tokio::time::timeout(
        inner.config.read_timeout(),
        recv.read_to_end(inner.config.max_ask()),
    )
    .await;
    let Ok(Ok(request)) = read else {
        inner.protocol_error("ask request", &peer);
        let _ = send.reset(quinn::VarInt::from_u32(1));
        return;
    };
    let (ask, reply) = Ask::new(Message::new(peer, local, Bytes::from(request)));
    let (status, body) = match inner.asks_tx.try_send(ask) {
        Err(_) => {
            inner.counters.asks_busy.fetch_add(1, Ordering::Relaxed);
            (BUSY, Bytes::new())
        }
        Ok(()) => {
            let answer = tokio::select! {
                answer = reply.answer() => answer,
                // The asker gave up: drop the answer when it comes.
                _ = send.stopped() => return,
            };
            match answer {
                Some(body) if body.len() <= inner.config.max_ask() => (ANSWERED, body),
                Some(_) | None => (REFUSED, Bytes::new()),
            }
        }
    };
    if send.write_all(&[status]).await.is_ok() && send.write_chunk(body).await.is_ok() {
        let _ = send.finish();
    }
}

fn stream_error(dst: &impl std::fmt::Display, e: impl Into<BoxError>) -> SwarmError {
    SwarmError::unreachable(dst, Some(Box::new(QuicSwarmError::Connection(e.into()))))
}

#[async_trait]
impl<A: ms_swarm::Addr> Swarm for QuicSwarm<A> {
    type Addr = QuicAddr<A>;

    async fn tell(&self, dst: &QuicAddr<A>, payload: Bytes) -> Result<(), SwarmError> {
        let mtu = self.inner.config.mtu();
        if payload.len() > mtu {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu,
            });
        }
        self.check_open()?;
        let connection = self.connection(dst).await?;
        let fits = connection
            .max_datagram_size()
            .is_some_and(|max| payload.len() <= max);
        if fits {
            let sent = tokio::select! {
                () = self.inner.cancel.cancelled() => return Err(SwarmError::Closed),
                sent = connection.send_datagram_wait(payload) => sent,
            };
            sent.map_err(|e| stream_error(dst, e))?;
            self.inner
                .counters
                .tells_as_datagrams
                .fetch_add(1, Ordering::Relaxed);
        } else {
            let sent = tokio::select! {
                () = self.inner.cancel.cancelled() => return Err(SwarmError::Closed),
                sent = async {
                    let mut send = connection.open_uni().await.map_err(|e| stream_error(dst, e))?;
                    send.write_chunk(payload).await.map_err(|e| stream_error(dst, e))?;
                    send.finish().map_err(|e| stream_error(dst, e))
                } => sent,
            };
            sent?;
            self.inner
                .counters
                .tells_as_streams
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn receive(&self) -> Result<Message<QuicAddr<A>>, SwarmError> {
        self.check_open()?;
        let mut rx = tokio::select! {
            () = self.inner.cancel.cancelled() => return Err(SwarmError::Closed),
            rx = self.inner.messages_rx.lock() => rx,
        };
        tokio::select! {
            () = self.inner.cancel.cancelled() => Err(SwarmError::Closed),
            msg = rx.recv() => msg.ok_or(SwarmError::Closed),
        }
    }

    fn local_addrs(&self) -> Vec<QuicAddr<A>> {
        self.inner.local.clone()
    }

    fn mtu(&self) -> usize {
        self.inner.config.mtu()
    }

    fn parse_addr(&self, text: &str) -> Result<QuicAddr<A>, ParseAddrError> {
        QuicAddr::parse_with(text, |inner| self.inner.underlay.parse(inner))
    }

    async fn close(&self) -> Result<(), SwarmError> {
        if self.inner.cancel.is_cancelled() {
            return Ok(());
        }
        self.inner.cancel.cancel();
        self.inner
            .endpoint
            .close(quinn::VarInt::from_u32(0), b"closed");
        if let Ok(mut conns) = self.inner.conns.lock() {
            conns.clear();
        }
        // Give the CONNECTION_CLOSE frames a moment to leave before the packet swarm goes.
        let _ =
            tokio::time::timeout(Duration::from_millis(100), self.inner.endpoint.wait_idle()).await;
        self.inner.underlay.close().await;
        Ok(())
    }
}

#[async_trait]
impl<A: ms_swarm::Addr> AskSwarm for QuicSwarm<A> {
    async fn ask(&self, dst: &QuicAddr<A>, request: Bytes) -> Result<Bytes, SwarmError> {
        let max = self.inner.config.max_ask();
        if request.len() > max {
            return Err(SwarmError::MtuExceeded {
                size: request.len(),
                mtu: max,
            });
        }
        self.check_open()?;
        let exchange = async {
            let connection = self.connection(dst).await?;
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|e| stream_error(dst, e))?;
            send.write_chunk(request)
                .await
                .map_err(|e| stream_error(dst, e))?;
            send.finish().map_err(|e| stream_error(dst, e))?;
            let answer = recv
                .read_to_end(max + 1)
                .await
                .map_err(|e| stream_error(dst, e))?;
            match answer.split_first() {
                Some((&ANSWERED, body)) => Ok(Bytes::copy_from_slice(body)),
                Some((&REFUSED | &BUSY, [])) => Err(SwarmError::Rejected),
                _ => Err(SwarmError::unreachable(
                    dst,
                    Some(Box::new(QuicSwarmError::Protocol(
                        "bad answer status".into(),
                    ))),
                )),
            }
        };
        tokio::select! {
            () = self.inner.cancel.cancelled() => Err(SwarmError::Closed),
            r = tokio::time::timeout(self.inner.config.ask_timeout(), exchange) => r.unwrap_or(Err(SwarmError::Timeout)),
        }
    }

    async fn next_ask(&self) -> Result<Ask<QuicAddr<A>>, SwarmError> {
        self.check_open()?;
        let mut rx = tokio::select! {
            () = self.inner.cancel.cancelled() => return Err(SwarmError::Closed),
            rx = self.inner.asks_rx.lock() => rx,
        };
        tokio::select! {
            () = self.inner.cancel.cancelled() => Err(SwarmError::Closed),
            ask = rx.recv() => ask.ok_or(SwarmError::Closed),
        }
    }
}

impl<A: ms_swarm::Addr> SecureSwarm for QuicSwarm<A> {
    type PublicKey = PublicKey;

    fn public_key(&self) -> PublicKey {
        self.inner.public
    }

    /// The key of `addr` when this node has authenticated a connection with that node at that
    /// packet address (now, or among the last 4096 peer addresses): the key in an address is
    /// a claim until a handshake proves it.
    fn lookup_public_key(&self, addr: &QuicAddr<A>) -> Result<PublicKey, SwarmError> {
        if self.inner.local.contains(addr) {
            return Ok(self.inner.public);
        }
        let known = self
            .inner
            .known
            .lock()
            .map(|k| k.0.contains(addr))
            .unwrap_or(false);
        if known {
            Ok(addr.key())
        } else {
            Err(SwarmError::key_unknown(addr))
        }
    }
}
