//! The UDP swarm: one socket, a receive task, a bounded queue.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use ms_core::Scope;
use ms_swarm::{Message, ParseAddrError, Swarm, SwarmError};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::addr::{self, UdpAddr};
use crate::error::UdpError;

/// The default MTU: 1200 bytes of payload, the smallest datagram every QUIC path must carry
/// (RFC 9000 §14), which fits the IPv6 minimum link MTU (1280) less the IPv6 and UDP headers
/// (48) with room to spare, so it crosses any IPv6 or IPv4 path unfragmented.
pub const DEFAULT_MTU: usize = 1200;

/// The largest MTU a UDP swarm accepts: the largest UDP payload over IPv4 (65535 less the IPv4
/// and UDP headers).
pub const MAX_MTU: usize = 65_507;

/// The default number of received messages queued for [`Swarm::receive`] before new ones are
/// dropped.
pub const DEFAULT_QUEUE_MESSAGES: usize = 1024;

/// The default number of payload bytes queued for [`Swarm::receive`] before new messages are
/// dropped.
pub const DEFAULT_QUEUE_BYTES: usize = 4 << 20;

/// The default receive buffer (`SO_RCVBUF`) asked of the system; it may grant less.
pub const DEFAULT_RECV_BUFFER: usize = 2 << 20;

/// The size of one receive slot: holds any UDP datagram (at most 65527 bytes of payload over
/// IPv6, 65507 over IPv4) and any GRO batch (the kernel coalesces at most 64 KiB), so nothing
/// received is ever truncated.
const SLOT: usize = 1 << 16;

/// The most datagrams one receive system call returns on this system (`recvmmsg` on Linux;
/// 1 where quinn-udp receives one at a time).
pub const MAX_BATCH: usize = quinn_udp::BATCH_SIZE;

/// How often a send is retried when it fails with an ICMP error left over from an earlier
/// datagram to another destination.
const STALE_ERROR_RETRIES: usize = 4;

/// Options for a [`UdpSwarm`]; [`bind`](Self::bind) makes it.
#[derive(Clone, Debug)]
#[must_use]
pub struct UdpSwarmBuilder {
    mtu: usize,
    queue_messages: usize,
    queue_bytes: usize,
    recv_buffer: usize,
    batch: usize,
}

impl Default for UdpSwarmBuilder {
    fn default() -> Self {
        Self {
            mtu: DEFAULT_MTU,
            queue_messages: DEFAULT_QUEUE_MESSAGES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            recv_buffer: DEFAULT_RECV_BUFFER,
            batch: MAX_BATCH,
        }
    }
}

impl UdpSwarmBuilder {
    /// The largest payload [`tell`](Swarm::tell) accepts (default [`DEFAULT_MTU`], at most
    /// [`MAX_MTU`]). Raise it only for paths known to carry larger datagrams whole (1452 for
    /// an Ethernet link over IPv6); beyond the path's MTU, IP fragments the datagram or drops
    /// it.
    pub fn mtu(mut self, bytes: usize) -> Self {
        self.mtu = bytes;
        self
    }

    /// At most this many received messages wait for [`Swarm::receive`] (default
    /// [`DEFAULT_QUEUE_MESSAGES`]); beyond, the newest are dropped and counted.
    pub fn queue_messages(mut self, messages: usize) -> Self {
        self.queue_messages = messages;
        self
    }

    /// At most this many payload bytes wait for [`Swarm::receive`] (default
    /// [`DEFAULT_QUEUE_BYTES`]); beyond, the newest messages are dropped and counted.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// The socket receive buffer to ask for (`SO_RCVBUF`, default [`DEFAULT_RECV_BUFFER`]).
    /// The system may cap it (Linux: `net.core.rmem_max`); it is best effort.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = bytes;
        self
    }

    /// How many datagrams one receive system call may return (`recvmmsg` on Linux; default
    /// and maximum [`MAX_BATCH`]; 1 is one datagram per call). Each takes a 64 KiB
    /// buffer.
    pub fn batch(mut self, datagrams: usize) -> Self {
        self.batch = datagrams;
        self
    }

    /// Binds a socket to `addr` (port 0: the system picks one) and starts receiving on it.
    ///
    /// `[::]` is made dual-stack where the system allows it (then IPv4 peers reach it too, and
    /// [`UdpSwarm::is_dual_stack`] says so); any other IPv6 address takes IPv6 only.
    pub async fn bind(self, addr: SocketAddr) -> Result<UdpSwarm, UdpError> {
        if self.mtu == 0 || self.mtu > MAX_MTU {
            return Err(UdpError::Config(format!(
                "the MTU must be from 1 to {MAX_MTU} bytes, not {}",
                self.mtu
            )));
        }
        if self.queue_messages == 0 || self.queue_bytes == 0 {
            return Err(UdpError::Config("the receive queue cannot be empty".into()));
        }
        if self.batch == 0 {
            return Err(UdpError::Config("a batch of 0 datagrams".into()));
        }
        UdpSwarm::start(self, addr)
    }
}

/// Counters of a [`UdpSwarm`], from [`UdpSwarm::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpStats {
    /// Datagrams received (after GRO splitting), queued or dropped.
    pub received: u64,
    /// Datagrams dropped because the receive queue was full (drop-newest).
    pub dropped: u64,
    /// ICMP errors the system reported (port or host unreachable, packet too big), and receive
    /// errors; none stops the receive task.
    pub errors: u64,
    /// Messages waiting for [`Swarm::receive`] now.
    pub queued: usize,
}

/// A swarm over one UDP socket: a tell is one datagram, a received datagram is one message.
///
/// Tells are unreliable, unordered and may arrive more than once, as UDP is; nothing is added
/// to the payload (no header), so any program that sends UDP datagrams can talk to it, and
/// anything received is delivered as it came: bytes, to be checked by the layer above. See the
/// [crate docs](crate) for the address form, the MTU and the limits.
pub struct UdpSwarm {
    inner: Arc<Inner>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Socket {
    io: tokio::net::UdpSocket,
    state: UdpSocketState,
}

struct Inner {
    /// `None` once closed (the socket is released when the last tell in flight ends).
    socket: RwLock<Option<Arc<Socket>>>,
    local: SocketAddr,
    dual_stack: bool,
    /// A message's `dst` where the system does not say which address a datagram was sent to:
    /// the bound address, or loopback for a wildcard (never the unspecified address).
    fallback_dst: UdpAddr,
    mtu: usize,
    queue: Mutex<Queue>,
    queue_messages: usize,
    queue_bytes: usize,
    ready: Notify,
    closed: AtomicBool,
    received: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message<UdpAddr>>,
    bytes: usize,
}

impl Inner {
    /// `Closed` once closed, else the next queued message if there is one. Takes the message
    /// under the lock, so a `receive` dropped at any await point loses nothing.
    fn try_receive(&self) -> Option<Result<Message<UdpAddr>, SwarmError>> {
        if self.closed.load(Ordering::Acquire) {
            return Some(Err(SwarmError::Closed));
        }
        let mut queue = lock(&self.queue);
        let msg = queue.messages.pop_front()?;
        queue.bytes -= msg.payload.len();
        Some(Ok(msg))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl UdpSwarm {
    /// Binds a swarm to `addr` with the default options (see [`UdpSwarmBuilder::bind`]).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ms_swarm::Swarm;
    /// use ms_udp::UdpSwarm;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let a = UdpSwarm::bind("127.0.0.1:0".parse()?).await?;
    /// let b = UdpSwarm::bind("127.0.0.1:0".parse()?).await?;
    /// let to_b = b.local_addrs()[0]; // udp:127.0.0.1:<port>
    /// a.tell(&to_b, Bytes::from_static(b"hello")).await?;
    /// let msg = b.receive().await?;
    /// assert_eq!(msg.payload, "hello");
    /// assert_eq!(msg.src, a.local_addrs()[0]);
    /// a.close().await?;
    /// b.close().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(addr: SocketAddr) -> Result<Self, UdpError> {
        Self::builder().bind(addr).await
    }

    /// Options: MTU, queue, receive buffer, batch size.
    pub fn builder() -> UdpSwarmBuilder {
        UdpSwarmBuilder::default()
    }

    fn start(options: UdpSwarmBuilder, addr: SocketAddr) -> Result<Self, UdpError> {
        let (io, dual_stack) = bind_socket(addr, options.recv_buffer)?;
        let io = tokio::net::UdpSocket::from_std(io).map_err(UdpError::Runtime)?;
        let state = UdpSocketState::new((&io).into())
            .map_err(|source| UdpError::Socket { addr, source })?;
        // ICMP errors are then counted, and drained so they cannot block sends or receives.
        if let Err(error) = state.enable_transport_errors((&io).into()) {
            tracing::debug!(%error, "udp: ICMP errors not reported by this system");
        }
        let local = io
            .local_addr()
            .map_err(|source| UdpError::Socket { addr, source })?;
        let socket = Arc::new(Socket { io, state });
        let inner = Arc::new(Inner {
            socket: RwLock::new(Some(socket.clone())),
            local,
            dual_stack,
            fallback_dst: fallback_dst(local),
            mtu: options.mtu,
            queue: Mutex::new(Queue::default()),
            queue_messages: options.queue_messages,
            queue_bytes: options.queue_bytes,
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        let batch = options.batch.clamp(1, MAX_BATCH);
        let task = tokio::spawn(receive_loop(inner.clone(), socket, batch));
        tracing::debug!(%local, dual_stack, "udp: bound");
        Ok(Self {
            inner,
            task: Mutex::new(Some(task)),
        })
    }

    /// The address the socket is bound to, with the real port (possibly a wildcard; see
    /// [`Swarm::local_addrs`] for the addresses to tell).
    pub fn bound_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Whether a `[::]` socket also takes IPv4 (always false for other addresses).
    pub fn is_dual_stack(&self) -> bool {
        self.inner.dual_stack
    }

    /// The addresses this swarm can be told at from `scope`: the bound address if it is
    /// concrete and reachable from there, or for a wildcard the machine's interface addresses
    /// of that scope, by the rules `ms-net` advertises with ([`ms_net::advertised_ips`]).
    pub fn addrs_for(&self, scope: Scope) -> Vec<UdpAddr> {
        let port = self.inner.local.port();
        ms_net::advertised_ips(self.inner.local, self.inner.dual_stack, scope)
            .into_iter()
            .map(|ip| UdpAddr::new(SocketAddr::new(ip, port)))
            .collect()
    }

    /// The counters: received, dropped, errors, queued.
    pub fn stats(&self) -> UdpStats {
        UdpStats {
            received: self.inner.received.load(Ordering::Relaxed),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
            errors: self.inner.errors.load(Ordering::Relaxed),
            queued: lock(&self.inner.queue).messages.len(),
        }
    }

    fn socket(&self) -> Result<Arc<Socket>, SwarmError> {
        self.inner
            .socket
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(SwarmError::Closed)
    }

    /// `dst` as the socket needs it: IPv4 as IPv4-mapped IPv6 on an IPv6 socket.
    fn destination(&self, dst: &UdpAddr) -> Result<SocketAddr, SwarmError> {
        let to = dst.socket_addr();
        match (self.inner.local, to.ip()) {
            (SocketAddr::V4(_), IpAddr::V4(_)) | (SocketAddr::V6(_), IpAddr::V6(_)) => Ok(to),
            (SocketAddr::V6(_), IpAddr::V4(v4)) if self.inner.dual_stack => {
                Ok(SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), to.port()))
            }
            (SocketAddr::V6(_), IpAddr::V4(_)) => Err(SwarmError::unreachable(
                dst,
                Some("an IPv4 address, and this socket is IPv6 only".into()),
            )),
            (SocketAddr::V4(_), IpAddr::V6(_)) => Err(SwarmError::unreachable(
                dst,
                Some("an IPv6 address, and this socket is IPv4 only".into()),
            )),
        }
    }
}

impl std::fmt::Debug for UdpSwarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSwarm")
            .field("local", &self.inner.local)
            .field("dual_stack", &self.inner.dual_stack)
            .field("mtu", &self.inner.mtu)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for UdpSwarm {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

fn fallback_dst(local: SocketAddr) -> UdpAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    UdpAddr::new(SocketAddr::new(ip, local.port()))
}

/// A socket bound to `addr`, `[::]` dual-stack where possible; non-blocking.
fn bind_socket(
    addr: SocketAddr,
    recv_buffer: usize,
) -> Result<(std::net::UdpSocket, bool), UdpError> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let setup = |source| UdpError::Socket { addr, source };
    let socket = RawSocket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(setup)?;
    let mut dual_stack = false;
    if let IpAddr::V6(ip) = addr.ip() {
        if ip == Ipv6Addr::UNSPECIFIED {
            dual_stack = match socket.set_only_v6(false) {
                Ok(()) => true,
                Err(error) => {
                    tracing::info!(%error, "udp: [::] cannot take IPv4 here; IPv6 only");
                    false
                }
            };
        } else {
            socket.set_only_v6(true).map_err(setup)?;
        }
    }
    socket.set_nonblocking(true).map_err(setup)?;
    if let Err(error) = socket.set_recv_buffer_size(recv_buffer) {
        tracing::debug!(%error, recv_buffer, "udp: SO_RCVBUF not raised");
    }
    socket
        .bind(&addr.into())
        .map_err(|source| UdpError::Bind { addr, source })?;
    Ok((socket.into(), dual_stack))
}

/// Whether a send error may be an ICMP error left over from an earlier datagram (Linux reports
/// those on the next system call of an unconnected socket with `IP_RECVERR` on).
fn maybe_stale(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Drains the system's queue of ICMP errors for `socket`, counting them; how many there were.
fn drain_errors(inner: &Inner, socket: &Socket) -> usize {
    let mut n = 0;
    // Bounded: the queue is charged to the receive buffer, so it is finite, but never spin.
    while n < 1024 {
        match socket.state.recv_transport_error((&socket.io).into()) {
            Ok(Some(error)) => {
                n += 1;
                tracing::debug!(addr = ?error.addr, payload = ?error.payload, "udp: ICMP error");
            }
            Ok(None) | Err(_) => break,
        }
    }
    inner.errors.fetch_add(n as u64, Ordering::Relaxed);
    n
}

#[async_trait]
impl Swarm for UdpSwarm {
    type Addr = UdpAddr;

    async fn tell(&self, dst: &UdpAddr, payload: Bytes) -> Result<(), SwarmError> {
        if payload.len() > self.inner.mtu {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu: self.inner.mtu,
            });
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(SwarmError::Closed);
        }
        let socket = self.socket()?;
        let destination = self.destination(dst)?;
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: &payload,
            segment_size: None,
            src_ip: None,
        };
        let mut retries = 0;
        loop {
            socket.io.writable().await.map_err(SwarmError::transport)?;
            let sent = socket.io.try_io(Interest::WRITABLE, || {
                socket.state.try_send((&socket.io).into(), &transmit)
            });
            match sent {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if maybe_stale(&e) && retries < STALE_ERROR_RETRIES => {
                    // Refused can only be left over (this socket is not connected); the others
                    // are left over when the error queue held something.
                    retries += 1;
                    let drained = drain_errors(&self.inner, &socket);
                    if drained == 0 && e.kind() != io::ErrorKind::ConnectionRefused {
                        return Err(SwarmError::unreachable(dst, Some(e.into())));
                    }
                    self.inner.errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if maybe_stale(&e) || e.kind() == io::ErrorKind::AddrNotAvailable => {
                    return Err(SwarmError::unreachable(dst, Some(e.into())));
                }
                Err(e) => return Err(SwarmError::transport(e)),
            }
        }
    }

    async fn receive(&self) -> Result<Message<UdpAddr>, SwarmError> {
        // The common case under load: a message is waiting, no need to register as a waiter.
        if let Some(next) = self.inner.try_receive() {
            return next;
        }
        loop {
            let notified = self.inner.ready.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push or a close in between is not missed.
            notified.as_mut().enable();
            if let Some(next) = self.inner.try_receive() {
                return next;
            }
            notified.await;
        }
    }

    fn local_addrs(&self) -> Vec<UdpAddr> {
        if !self.inner.local.ip().is_unspecified() {
            return vec![UdpAddr::new(self.inner.local)];
        }
        let mut all = Vec::new();
        for scope in Scope::ALL {
            for a in self.addrs_for(scope) {
                if !all.contains(&a) {
                    all.push(a);
                }
            }
        }
        all
    }

    fn mtu(&self) -> usize {
        self.inner.mtu
    }

    fn parse_addr(&self, text: &str) -> Result<UdpAddr, ParseAddrError> {
        addr::parse(text)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        self.inner.closed.store(true, Ordering::Release);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            task.abort();
            // The task owns a handle on the socket: wait until it has let go of it.
            let _ = task.await;
        }
        self.inner
            .socket
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        {
            let mut queue = lock(&self.inner.queue);
            queue.messages.clear();
            queue.bytes = 0;
        }
        self.inner.ready.notify_waiters();
        Ok(())
    }
}

/// Receives datagrams until aborted, queueing each as a message. No error ends it.
async fn receive_loop(inner: Arc<Inner>, socket: Arc<Socket>, batch: usize) {
    let mut buffer = vec![0u8; batch * SLOT];
    let mut metas = vec![RecvMeta::default(); batch];
    loop {
        let ready = match socket.io.ready(Interest::READABLE | Interest::ERROR).await {
            Ok(ready) => ready,
            Err(error) => {
                // Only when the runtime's I/O driver is gone.
                tracing::debug!(%error, "udp: receive task ends");
                return;
            }
        };
        if ready.is_error() {
            // An ICMP error arrived (the system signals it apart from data): take it off the
            // error queue at once, so it is counted and cannot fail the next send or receive.
            let _ = socket.io.try_io(Interest::ERROR, || {
                drain_errors(&inner, &socket);
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
        if !ready.is_readable() {
            continue;
        }
        let got = socket.io.try_io(Interest::READABLE, || {
            let mut slices: Vec<IoSliceMut<'_>> =
                buffer.chunks_mut(SLOT).map(IoSliceMut::new).collect();
            socket
                .state
                .recv((&socket.io).into(), &mut slices, &mut metas)
        });
        match got {
            Ok(count) => {
                for (meta, slot) in metas.iter().take(count).zip(buffer.chunks(SLOT)) {
                    deliver(&inner, meta, slot);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // An ICMP error reported here (refused, unreachable), or anything else: count
                // it, drain the error queue, and go on receiving.
                tracing::debug!(error = %e, "udp: receive error");
                inner.errors.fetch_add(1, Ordering::Relaxed);
                drain_errors(&inner, &socket);
            }
        }
    }
}

/// Queues the datagram(s) of one receive slot (several when the system coalesced them: GRO).
fn deliver(inner: &Inner, meta: &RecvMeta, slot: &[u8]) {
    let len = meta.len.min(slot.len());
    let data = &slot[..len];
    let src = UdpAddr::new(meta.addr);
    let dst = match meta.dst_ip {
        Some(ip) => UdpAddr::new(SocketAddr::new(ip, inner.local.port())),
        None => inner.fallback_dst,
    };
    let stride = if meta.stride == 0 { len } else { meta.stride };
    if len == 0 {
        push(inner, Message::new(src, dst, Bytes::new()));
        return;
    }
    for datagram in data.chunks(stride.max(1)) {
        push(
            inner,
            Message::new(src, dst, Bytes::copy_from_slice(datagram)),
        );
    }
}

fn push(inner: &Inner, msg: Message<UdpAddr>) {
    inner.received.fetch_add(1, Ordering::Relaxed);
    {
        let mut queue = lock(&inner.queue);
        let size = msg.payload.len();
        if queue.messages.len() >= inner.queue_messages || queue.bytes + size > inner.queue_bytes {
            drop(queue);
            let dropped = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::debug!(dropped, "udp: receive queue full, datagrams dropped");
            }
            return;
        }
        queue.bytes += size;
        queue.messages.push_back(msg);
    }
    inner.ready.notify_one();
}
