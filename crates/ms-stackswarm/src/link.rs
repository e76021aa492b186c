//! One connection to a peer: its state, and the task that reads and writes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use ms_core::{Address, ConnectionStream, Direction, MultiAddress, PublicKey};
use ms_swarm::{Ask, Message, SwarmError};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::addr::StackAddr;
use crate::error::LinkError;
use crate::frame::{Decoder, Frame, RejectReason, VERSION, encode};
use crate::swarm::{Inner, Route};

/// Flush what has been gathered once it reaches this size.
const BATCH: usize = 64 * 1024;
/// A read asks for at most this much room at once (so a frame's buffer grows with the bytes
/// that actually arrive, not with what its header announces).
const READ_CHUNK: usize = 64 * 1024;
/// ... and at least this much (a quiet connection holds a buffer of this size).
const READ_MIN: usize = 4 * 1024;
/// A write buffer grown past this by a burst is let go once written.
const WRITE_KEEP: usize = 16 * 1024;

pub(crate) type AskResult = Result<Bytes, SwarmError>;

/// A peer's request waiting for our application's answer: resolves to the frame to send. Polled
/// by the connection's own task, so an answer goes out without another task in between.
type Waiter = Abortable<std::pin::Pin<Box<dyn std::future::Future<Output = Frame> + Send>>>;

/// The receiving ends a connection's task owns.
pub(crate) struct Queues {
    out: mpsc::Receiver<Out>,
    waiters: mpsc::Receiver<Waiter>,
}

/// What the swarm asks a connection's writer to send.
pub(crate) enum Out {
    Tell {
        dst: StackAddr,
        payload: Bytes,
    },
    Ask {
        dst: StackAddr,
        id: u32,
        payload: Bytes,
    },
    Frame(Frame),
}

struct Pending {
    next: u32,
    waiting: HashMap<u32, oneshot::Sender<AskResult>>,
}

/// A connection as the rest of the swarm sees it.
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) direction: Direction,
    remote: Address,
    pub(crate) remote_key: Option<PublicKey>,
    /// Routed by the peer's key (an authenticating stack), else by address.
    pub(crate) keyed: bool,
    pub(crate) out: mpsc::Sender<Out>,
    /// Hands the peer's requests to the connection's task (at most `max_asks_in_flight`).
    waiters: mpsc::Sender<Waiter>,
    /// Our requests waiting for answers; `None` once the link is closing or closed.
    pending: Mutex<Option<Pending>>,
    /// Our requests in flight.
    pub(crate) slots: Arc<Semaphore>,
    /// The peer's requests waiting for our application's answer.
    /// ... with the time by which our application must have answered.
    incoming: Mutex<HashMap<u32, (AbortHandle, tokio::time::Instant)>>,
    /// The peer's limits, from its HELLO: (mtu, max ask size).
    peer_limits: Mutex<Option<(usize, usize)>>,
    /// The key the peer's HELLO claims (checked against `remote_key` on keyed links).
    pub(crate) claimed_key: Mutex<Option<PublicKey>>,
    /// The sender of messages that arrive here, from the peer's HELLO.
    src: Mutex<Option<StackAddr>>,
    /// Routes under which this link is registered.
    pub(crate) routes: Mutex<Vec<Route>>,
    /// Tells from this peer waiting in the receive queue.
    pub(crate) queued: AtomicUsize,
    /// Their bytes (see `queue_cost`).
    pub(crate) queued_bytes: AtomicUsize,
    /// Time of the last frame in either direction (ms since the swarm's epoch).
    last_active: AtomicU64,
    closed: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere; the data is still consistent for our uses.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    pub(crate) fn new(
        id: u64,
        direction: Direction,
        remote: Address,
        remote_key: Option<PublicKey>,
        keyed: bool,
        inner: &Inner,
    ) -> (Arc<Self>, Queues) {
        let (out, rx) = mpsc::channel(inner.cfg.send_queue.max(1));
        let (waiters, waiters_rx) = mpsc::channel(inner.cfg.max_asks_in_flight.max(1));
        let link = Arc::new(Self {
            id,
            direction,
            remote,
            remote_key,
            keyed,
            out,
            waiters,
            pending: Mutex::new(Some(Pending {
                next: 1,
                waiting: HashMap::new(),
            })),
            slots: Arc::new(Semaphore::new(inner.cfg.max_asks_in_flight.max(1))),
            incoming: Mutex::new(HashMap::new()),
            peer_limits: Mutex::new(None),
            claimed_key: Mutex::new(None),
            src: Mutex::new(None),
            routes: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            last_active: AtomicU64::new(inner.now_ms()),
            closed: CancellationToken::new(),
        });
        (
            link,
            Queues {
                out: rx,
                waiters: waiters_rx,
            },
        )
    }

    /// Open and not closing: new requests may use it.
    pub(crate) fn usable(&self) -> bool {
        !self.closed.is_cancelled() && lock(&self.pending).is_some()
    }

    /// The peer's MTU for tells, once its HELLO came.
    pub(crate) fn peer_mtu(&self) -> Option<usize> {
        lock(&self.peer_limits).map(|(mtu, _)| mtu)
    }

    /// The largest request the peer accepts, once its HELLO came.
    pub(crate) fn peer_max_ask(&self) -> Option<usize> {
        lock(&self.peer_limits).map(|(_, max)| max)
    }

    /// The address messages from this peer carry as their source.
    pub(crate) fn src(&self) -> Option<StackAddr> {
        lock(&self.src).clone()
    }

    /// The transport's view of the peer, as a swarm address.
    pub(crate) fn remote_addr(&self) -> StackAddr {
        StackAddr::new(MultiAddress::from(self.remote.clone()))
    }

    pub(crate) fn add_route(&self, route: Route) {
        lock(&self.routes).push(route);
    }

    /// Registers one of our requests: its id and the receiver of its outcome. `None` when the
    /// link is closing (try another).
    pub(crate) fn register_ask(self: &Arc<Self>) -> Option<PendingAsk> {
        let mut guard = lock(&self.pending);
        let pending = guard.as_mut()?;
        let mut id = pending.next;
        // Ids are unique among the requests in flight (at most `max_asks_in_flight` of them).
        while id == 0 || pending.waiting.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        pending.next = id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        pending.waiting.insert(id, tx);
        Some(PendingAsk {
            link: self.clone(),
            id,
            rx: Some(rx),
            sent: false,
        })
    }

    fn take_pending(&self, id: u32) -> Option<oneshot::Sender<AskResult>> {
        lock(&self.pending).as_mut()?.waiting.remove(&id)
    }

    fn touch(&self, inner: &Inner) {
        self.last_active.store(inner.now_ms(), Ordering::Relaxed);
    }

    fn idle_deadline(&self, inner: &Inner) -> tokio::time::Instant {
        let last = Duration::from_millis(self.last_active.load(Ordering::Relaxed));
        inner.epoch + last + inner.cfg.idle_timeout
    }

    /// Closes the link for new requests if it has been idle long enough and nothing is in
    /// flight. Called with the swarm's state lock held (see `Inner::unroute_if_idle`).
    pub(crate) fn close_if_idle(&self, inner: &Inner) -> bool {
        let now = inner.now_ms();
        let last = self.last_active.load(Ordering::Relaxed);
        if now.saturating_sub(last) < inner.cfg.idle_timeout.as_millis() as u64 {
            return false;
        }
        if !lock(&self.incoming).is_empty() {
            return false;
        }
        let mut pending = lock(&self.pending);
        match pending.as_ref() {
            Some(p) if p.waiting.is_empty() => {
                *pending = None;
                true
            }
            _ => false,
        }
    }

    /// Fails what is in flight and stops the handlers waiting for our application.
    fn shut(&self) {
        self.closed.cancel();
        // Dropping the senders makes every waiting ask fail with `LinkError::Lost`.
        lock(&self.pending).take();
        for (_, (handle, _)) in lock(&self.incoming).drain() {
            handle.abort();
        }
    }
}

/// One of our requests, registered on a link. Dropping it before the answer came (a cancelled
/// or timed-out ask) frees the id and tells the peer.
pub(crate) struct PendingAsk {
    link: Arc<Link>,
    pub(crate) id: u32,
    rx: Option<oneshot::Receiver<AskResult>>,
    sent: bool,
}

impl PendingAsk {
    pub(crate) fn mark_sent(&mut self) {
        self.sent = true;
    }

    pub(crate) async fn outcome(&mut self) -> AskResult {
        let Some(rx) = self.rx.as_mut() else {
            return Err(SwarmError::transport(LinkError::Lost));
        };
        let result = rx.await;
        self.rx = None;
        result.unwrap_or_else(|_| Err(SwarmError::transport(LinkError::Lost)))
    }
}

impl Drop for PendingAsk {
    fn drop(&mut self) {
        if self.rx.is_none() {
            return;
        }
        if self.link.take_pending(self.id).is_some() && self.sent {
            // Best effort: with a full send queue the peer's handler runs on until its own
            // deadline; its answer is then ignored as an unknown id.
            let _ = self
                .link
                .out
                .try_send(Out::Frame(Frame::Cancel { id: self.id }));
        }
    }
}

/// How a connection ended without a protocol or I/O error.
#[derive(Debug)]
enum End {
    Eof,
    Idle,
    Shutdown,
}

/// Runs a connection until it ends; then unregisters it.
pub(crate) async fn run(
    inner: Arc<Inner>,
    link: Arc<Link>,
    stream: ConnectionStream,
    queues: Queues,
) {
    let span = tracing::info_span!(
        "stackswarm_conn",
        link = link.id,
        direction = ?link.direction,
        remote = %link.remote,
    );
    async {
        tracing::debug!("connection open");
        let (rd, wr) = tokio::io::split(stream);
        let end = tokio::select! {
            end = read_loop(&inner, &link, rd) => end,
            end = write_loop(&inner, &link, wr, queues) => end,
            () = link.closed.cancelled() => Ok(End::Shutdown),
            // The writer says goodbye on close; this ends a writer stuck on a peer that does
            // not read.
            () = async {
                inner.shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            } => Ok(End::Shutdown),
        };
        match &end {
            Ok(End::Idle) => {
                inner.stats.idle_closed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("closed: idle");
            }
            Ok(end) => tracing::debug!(?end, "closed"),
            Err(LinkError::Frame(_) | LinkError::Protocol(_)) => {
                inner.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = &end {
                    // Debug level, like every turned-away connection: a flood of hostile peers
                    // must not flood the logs. `Stats::protocol_errors` counts them.
                    tracing::debug!(%error, "closing the connection: the peer broke the protocol");
                }
            }
            Err(error) => tracing::debug!(%error, "closed"),
        }
        link.shut();
        inner.unregister(&link);
    }
    .instrument(span)
    .await;
}

async fn write_loop<W: AsyncWrite + Unpin>(
    inner: &Inner,
    link: &Link,
    mut wr: W,
    queues: Queues,
) -> Result<End, LinkError> {
    let Queues {
        out: mut rx,
        waiters: mut new_waiters,
    } = queues;
    let mut waiting = FuturesUnordered::new();
    let idle = tokio::time::sleep_until(link.idle_deadline(inner));
    tokio::pin!(idle);
    // The earliest deadline of the peer's requests, armed while any is waiting.
    let expiry = tokio::time::sleep_until(link.idle_deadline(inner));
    tokio::pin!(expiry);
    let mut expiry_armed = false;
    let stall = inner.cfg.idle_timeout;
    let mut buf = BytesMut::new();
    encode(
        &Frame::Hello {
            version: VERSION,
            mtu: inner.cfg.mtu as u32,
            max_ask: inner.cfg.max_ask_size as u32,
            key: *inner.key.as_bytes(),
            addr: inner.hello.clone(),
        },
        &mut buf,
    );
    let mut last_dst: Option<StackAddr> = None;
    let mut closing = false;
    loop {
        if !buf.is_empty() {
            write_out(&mut wr, &buf, stall).await?;
            buf.clear();
            if buf.capacity() > WRITE_KEEP {
                buf = BytesMut::new();
            }
            link.touch(inner);
        }
        if closing {
            let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
            return Ok(End::Idle);
        }
        // One timer for the connection's life, moved only when it fires: a new timer per
        // frame would cost a timer registration (and a wake-up of the thread parked on the
        // driver) per write.
        let first = tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
                return Ok(End::Shutdown);
            }
            item = rx.recv() => item,
            Some(waiter) = new_waiters.recv() => {
                waiting.push(waiter);
                if !expiry_armed
                    && let Some(due) = lock(&link.incoming).values().map(|(_, d)| *d).min()
                {
                    expiry.as_mut().reset(due);
                    expiry_armed = true;
                }
                continue;
            }
            () = &mut expiry, if expiry_armed => {
                let now = tokio::time::Instant::now();
                let mut expired = Vec::new();
                let next = {
                    let mut incoming = lock(&link.incoming);
                    incoming.retain(|id, (handle, due)| {
                        if *due > now {
                            return true;
                        }
                        handle.abort();
                        expired.push(*id);
                        false
                    });
                    incoming.values().map(|(_, d)| *d).min()
                };
                for id in expired {
                    tracing::debug!(id, "no answer from the application in time: rejected");
                    push(
                        Out::Frame(Frame::Reject { id, reason: RejectReason::TimedOut }),
                        &mut buf,
                        &mut last_dst,
                    );
                }
                match next {
                    Some(due) => expiry.as_mut().reset(due),
                    None => expiry_armed = false,
                }
                continue;
            }
            Some(done) = waiting.next(), if !waiting.is_empty() => match done {
                Ok(frame) => {
                    if let Frame::Answer { id, .. } | Frame::Reject { id, .. } = &frame {
                        lock(&link.incoming).remove(id);
                    }
                    Some(Out::Frame(frame))
                }
                // Cancelled by the asker.
                Err(_) => continue,
            },
            () = &mut idle => {
                let due = link.idle_deadline(inner);
                if tokio::time::Instant::now() < due {
                    idle.as_mut().reset(due);
                    continue;
                }
                if inner.unroute_if_idle(link) {
                    // Nobody finds this link any more; what was queued meanwhile goes out first.
                    rx.close();
                    closing = true;
                    while let Ok(item) = rx.try_recv() {
                        push(item, &mut buf, &mut last_dst);
                    }
                } else {
                    // Something is in flight: look again an idle period later.
                    link.touch(inner);
                }
                idle.as_mut().reset(link.idle_deadline(inner));
                continue;
            }
        };
        let Some(first) = first else {
            return Ok(End::Shutdown);
        };
        push(first, &mut buf, &mut last_dst);
        while buf.len() < BATCH {
            match rx.try_recv() {
                Ok(item) => push(item, &mut buf, &mut last_dst),
                Err(_) => break,
            }
        }
    }
}

async fn write_out<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bytes: &[u8],
    stall: Duration,
) -> Result<(), LinkError> {
    let write = async {
        wr.write_all(bytes).await?;
        wr.flush().await
    };
    match tokio::time::timeout(stall, write).await {
        Ok(result) => result.map_err(LinkError::Io),
        Err(_) => Err(LinkError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the peer has not read for an idle period",
        ))),
    }
}

fn push(item: Out, buf: &mut BytesMut, last_dst: &mut Option<StackAddr>) {
    let mut set_dst = |dst: StackAddr, buf: &mut BytesMut| {
        if last_dst.as_ref() != Some(&dst) {
            encode(
                &Frame::Dst(Bytes::copy_from_slice(dst.as_str().as_bytes())),
                buf,
            );
            *last_dst = Some(dst);
        }
    };
    match item {
        Out::Tell { dst, payload } => {
            set_dst(dst, buf);
            encode(&Frame::Tell(payload), buf);
        }
        Out::Ask { dst, id, payload } => {
            set_dst(dst, buf);
            encode(&Frame::Ask { id, payload }, buf);
        }
        Out::Frame(frame) => encode(&frame, buf),
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    inner: &Arc<Inner>,
    link: &Arc<Link>,
    mut rd: R,
) -> Result<End, LinkError> {
    let decoder = Decoder::new(inner.limits());
    let mut buf = BytesMut::new();
    let mut reader = Reader {
        inner,
        link,
        dst: None,
        hello: false,
    };
    loop {
        let mut delivered = false;
        while let Some(frame) = decoder.decode(&mut buf)? {
            link.touch(inner);
            delivered |= matches!(frame, Frame::Tell(_));
            reader.handle(frame)?;
        }
        if delivered {
            // Let the application take what this read brought before reading more: on a busy
            // thread the receiver would otherwise only run once the peer's share is full.
            tokio::task::yield_now().await;
        }
        // Room for at least the rest of this frame (up to a chunk), allocated in chunks of at
        // least READ_MIN so small frames do not cost an allocation each.
        let need = decoder.wanted(&buf).clamp(256, READ_CHUNK);
        if buf.capacity() - buf.len() < need {
            buf.reserve(need.max(READ_MIN));
        }
        let n = rd.read_buf(&mut buf).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(End::Eof)
            } else {
                Err(LinkError::Protocol(format!(
                    "the stream ended inside a frame ({} bytes of it)",
                    buf.len()
                )))
            };
        }
    }
}

struct Reader<'a> {
    inner: &'a Arc<Inner>,
    link: &'a Arc<Link>,
    /// The destination of the peer's messages, from its last DST frame.
    dst: Option<StackAddr>,
    hello: bool,
}

fn text(bytes: &[u8], what: &str) -> Result<StackAddr, LinkError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| LinkError::Protocol(format!("{what} address is not UTF-8")))?;
    StackAddr::parse(text).map_err(|e| LinkError::Protocol(format!("{what} address: {e}")))
}

impl Reader<'_> {
    fn handle(&mut self, frame: Frame) -> Result<(), LinkError> {
        let (inner, link) = (self.inner, self.link);
        if !self.hello && !matches!(frame, Frame::Hello { .. }) {
            return Err(LinkError::Protocol("the first frame must be HELLO".into()));
        }
        match frame {
            Frame::Hello {
                version,
                mtu,
                max_ask,
                key,
                addr,
            } => {
                if self.hello {
                    return Err(LinkError::Protocol("a second HELLO".into()));
                }
                if version != VERSION {
                    return Err(LinkError::Protocol(format!(
                        "unsupported protocol version {version}"
                    )));
                }
                self.hello = true;
                let key = PublicKey::from_bytes(key);
                if link.keyed && Some(key) != link.remote_key {
                    return Err(LinkError::Protocol(
                        "the key in HELLO is not the key the stack authenticated".into(),
                    ));
                }
                *lock(&link.claimed_key) = Some(key);
                *lock(&link.peer_limits) = Some((mtu as usize, max_ask as usize));
                let advertised = if addr.is_empty() {
                    None
                } else {
                    Some(text(&addr, "HELLO")?)
                };
                let src = match advertised {
                    Some(a) if self.accepts(&a) => a,
                    Some(a) => {
                        tracing::debug!(advertised = %a, "HELLO address does not match the authenticated key; using the connection's address");
                        link.remote_addr()
                    }
                    None => link.remote_addr(),
                };
                tracing::debug!(%src, "peer said hello");
                *lock(&link.src) = Some(src.clone());
                inner.hello_from(link, &src);
            }
            Frame::Dst(addr) => self.dst = Some(text(&addr, "DST")?),
            Frame::Tell(payload) => {
                let message = self.message(payload);
                inner.deliver_tell(link, message);
            }
            Frame::Ask { id, payload } => {
                let message = self.message(payload);
                self.incoming_ask(id, message);
            }
            Frame::Answer { id, payload } => match link.take_pending(id) {
                Some(tx) => {
                    let _ = tx.send(Ok(payload));
                }
                None => self.unknown(id),
            },
            Frame::Reject { id, reason } => match link.take_pending(id) {
                Some(tx) => {
                    let error = match reason {
                        RejectReason::TimedOut => SwarmError::Timeout,
                        RejectReason::TooLarge => SwarmError::transport(LinkError::AnswerTooLarge),
                        _ => SwarmError::Rejected,
                    };
                    let _ = tx.send(Err(error));
                }
                None => self.unknown(id),
            },
            Frame::Cancel { id } => {
                if let Some((handle, _)) = lock(&link.incoming).remove(&id) {
                    handle.abort();
                    tracing::trace!(id, "request cancelled by the asker");
                }
            }
        }
        Ok(())
    }

    /// Whether the peer's advertised address may be its name: on a keyed link, it must carry
    /// `shs:` sections, all naming the authenticated key.
    fn accepts(&self, advertised: &StackAddr) -> bool {
        if !self.link.keyed {
            return true;
        }
        let mut any = false;
        for key in advertised.keys() {
            if key.is_none() || key != self.link.remote_key {
                return false;
            }
            any = true;
        }
        any
    }

    fn message(&self, payload: Bytes) -> Message<StackAddr> {
        let src = self.link.src().unwrap_or_else(|| self.link.remote_addr());
        let dst = self.dst.clone().unwrap_or_else(|| self.inner.first_local());
        Message::new(src, dst, payload)
    }

    fn unknown(&self, id: u32) {
        self.inner
            .stats
            .unknown_answers
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(id, "answer to an unknown or cancelled request ignored");
    }

    fn reject_now(&self, id: u32, reason: RejectReason) {
        self.inner
            .stats
            .asks_refused
            .fetch_add(1, Ordering::Relaxed);
        // Never wait here: a peer that does not read must not stall our reading.
        let _ = self
            .link
            .out
            .try_send(Out::Frame(Frame::Reject { id, reason }));
    }

    fn incoming_ask(&self, id: u32, message: Message<StackAddr>) {
        let (inner, link) = (self.inner, self.link);
        let mut incoming = lock(&link.incoming);
        if incoming.len() >= inner.cfg.max_asks_in_flight || incoming.contains_key(&id) {
            drop(incoming);
            tracing::debug!(id, "too many requests in flight from this peer: rejected");
            return self.reject_now(id, RejectReason::Busy);
        }
        let (ask, reply) = Ask::new(message);
        if inner.asks_tx.try_send(ask).is_err() {
            drop(incoming);
            tracing::debug!(id, "request queue full: rejected");
            return self.reject_now(id, RejectReason::Busy);
        }
        let limit = inner.cfg.incoming_ask_timeout;
        let ours = inner.cfg.max_ask_size;
        // The peer's limit is known: its HELLO came before any request.
        let max = link.peer_max_ask().unwrap_or(ours).min(ours);
        // No timer per request: the connection's task rejects those past their deadline.
        let answer = async move {
            match reply.answer().await {
                Some(answer) if answer.len() <= max => Frame::Answer {
                    id,
                    payload: answer,
                },
                Some(answer) => {
                    tracing::warn!(
                        id,
                        size = answer.len(),
                        max,
                        "answer larger than the asker accepts: rejected"
                    );
                    Frame::Reject {
                        id,
                        reason: RejectReason::TooLarge,
                    }
                }
                None => Frame::Reject {
                    id,
                    reason: RejectReason::Refused,
                },
            }
        };
        let (waiter, handle) = futures_util::future::abortable(Box::pin(answer) as _);
        // Room is certain: the channel holds at most `max_asks_in_flight` waiters, and each
        // has its entry in `incoming` until it is answered.
        if link.waiters.try_send(waiter).is_err() {
            drop(incoming);
            return self.reject_now(id, RejectReason::Busy);
        }
        incoming.insert(id, (handle, tokio::time::Instant::now() + limit));
        inner.stats.asks_received.fetch_add(1, Ordering::Relaxed);
    }
}

/// Puts a received tell in the swarm's queue, or drops and counts it.
pub(crate) fn queue_tell(
    inner: &Inner,
    link: &Arc<Link>,
    message: Message<StackAddr>,
    tx: &mpsc::Sender<(Message<StackAddr>, Arc<Link>)>,
) {
    let stats = &inner.stats;
    let cost = queue_cost(&message);
    let cfg = &inner.cfg;
    let count = link.queued.fetch_add(1, Ordering::AcqRel);
    let bytes = link.queued_bytes.fetch_add(cost, Ordering::AcqRel);
    let all = inner.queued_bytes.fetch_add(cost, Ordering::AcqRel);
    let undo = || {
        link.queued.fetch_sub(1, Ordering::AcqRel);
        link.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        inner.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        stats.tells_dropped.fetch_add(1, Ordering::Relaxed);
    };
    if count >= cfg.receive_queue_per_peer
        || bytes + cost > cfg.receive_queue_bytes_per_peer
        || all + cost > cfg.receive_queue_bytes
    {
        undo();
        tracing::trace!("peer's share of the receive queue is full: tell dropped");
        return;
    }
    if tx.try_send((message, link.clone())).is_err() {
        undo();
        tracing::trace!("receive queue full: tell dropped");
        return;
    }
    stats.tells_received.fetch_add(1, Ordering::Relaxed);
}

/// What a queued tell counts against the receive queue's byte limits.
pub(crate) fn queue_cost(message: &Message<StackAddr>) -> usize {
    message.payload.len() + 64
}
