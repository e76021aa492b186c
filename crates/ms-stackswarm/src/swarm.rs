//! [`StackSwarm`]: the swarm, its builder, its routing table.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ms_core::{Connection, Direction, MultiAddress, MultiServer, PublicKey, Scope, Server};
use ms_swarm::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::addr::StackAddr;
use crate::config::{Config, MAX_LIMIT};
use crate::error::{BuildError, LinkError};
use crate::frame::Limits;
use crate::link::{self, Link, Out};

/// How the swarm finds the connection for a destination.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// An authenticated peer: every address carrying its key shares one connection.
    Key(PublicKey),
    /// A peer without a key of its own (`noauth`, no transform, or ourselves): by address text.
    Addr(Box<str>),
}

type DialOutcome = Result<Arc<Link>, Arc<dyn std::error::Error + Send + Sync>>;
type TellQueue = (Message<StackAddr>, Arc<Link>);

/// Addresses remembered for [`lookup_public_key`](SecureSwarm::lookup_public_key) of peers
/// routed by address; beyond this many, the oldest half is forgotten.
const MAX_REMEMBERED_KEYS: usize = 4096;

#[derive(Default)]
struct State {
    routes: HashMap<Route, Arc<Link>>,
    dialing: HashMap<Route, watch::Receiver<Option<DialOutcome>>>,
    /// Keys of peers routed by address, by the address text their messages carry.
    addr_keys: HashMap<Box<str>, (u64, PublicKey)>,
    next_link: u64,
    key_clock: u64,
}

/// Counters of what the swarm did and refused. See [`StackSwarm::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tells_sent: AtomicU64,
    pub(crate) tells_received: AtomicU64,
    pub(crate) tells_dropped: AtomicU64,
    pub(crate) asks_sent: AtomicU64,
    pub(crate) asks_received: AtomicU64,
    pub(crate) asks_refused: AtomicU64,
    pub(crate) unknown_answers: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
}

/// A snapshot of a swarm's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tells handed to a connection.
    pub tells_sent: u64,
    /// Tells queued for [`receive`](Swarm::receive).
    pub tells_received: u64,
    /// Tells received and dropped because the receive queue (or the peer's share of it) was
    /// full.
    pub tells_dropped: u64,
    /// Asks sent.
    pub asks_sent: u64,
    /// Requests from peers queued for [`next_ask`](AskSwarm::next_ask).
    pub asks_received: u64,
    /// Requests from peers rejected at once (too many in flight, queue full).
    pub asks_refused: u64,
    /// Answers and rejections for request ids we did not (or no longer) wait for.
    pub unknown_answers: u64,
    /// Connections closed because the peer broke the protocol (oversized frame, ...).
    pub protocol_errors: u64,
    /// Connections opened, both directions.
    pub connections_opened: u64,
    /// Connections closed for being idle.
    pub idle_closed: u64,
    /// Connections open now.
    pub connections_open: usize,
    /// Connections open now that the swarm routes messages through (one per peer).
    pub peers: usize,
}

pub(crate) struct Inner {
    node: MultiServer,
    pub(crate) cfg: Config,
    pub(crate) key: PublicKey,
    local: Vec<StackAddr>,
    /// What our HELLO advertises: every alternative of every scope, widest scope first.
    pub(crate) hello: Bytes,
    state: Mutex<State>,
    pub(crate) tells_tx: mpsc::Sender<TellQueue>,
    tells_rx: tokio::sync::Mutex<mpsc::Receiver<TellQueue>>,
    pub(crate) asks_tx: mpsc::Sender<Ask<StackAddr>>,
    asks_rx: tokio::sync::Mutex<mpsc::Receiver<Ask<StackAddr>>>,
    pub(crate) shutdown: CancellationToken,
    tasks: Mutex<JoinSet<()>>,
    open: Mutex<HashMap<u64, Arc<Link>>>,
    pub(crate) stats: Counters,
    /// Bytes of tells in the receive queue (see `link::queue_cost`).
    pub(crate) queued_bytes: std::sync::atomic::AtomicUsize,
    pub(crate) epoch: tokio::time::Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            mtu: self.cfg.mtu,
            max_ask: self.cfg.max_ask_size,
            max_addr: ms_core::MAX_ADDRESS_LEN,
        }
    }

    pub(crate) fn first_local(&self) -> StackAddr {
        self.local[0].clone()
    }

    fn route_of(&self, dst: &StackAddr) -> Route {
        match dst.key() {
            Some(key) if key != self.key => Route::Key(key),
            _ => Route::Addr(dst.as_str().into()),
        }
    }

    /// Spawns a task that `close` waits for; `false` after close.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) -> bool {
        let mut tasks = lock(&self.tasks);
        if self.shutdown.is_cancelled() {
            return false;
        }
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
        true
    }

    /// Takes a connection into the swarm: registers it (by key when authenticated) and starts
    /// its task. Returns the link the swarm now routes `route` to (this one, or a preferred one
    /// that already existed).
    fn adopt(self: &Arc<Self>, conn: Connection, dialled: Option<&Route>) -> Option<Arc<Link>> {
        if self.shutdown.is_cancelled() {
            return None;
        }
        // Swarm routes are Ed25519 keys (the key type of its addresses and HELLO). A peer that
        // a stack authenticated with another kind of key is not keyed: it is routed by the
        // address it was dialled at or that its HELLO names, like an unauthenticated one.
        let remote_key = conn.remote_ed25519().copied();
        let keyed = matches!(remote_key, Some(k) if k != self.key);
        let direction = conn.info().direction;
        let (stream, info) = conn.into_parts();
        let mut state = self.state();
        state.next_link += 1;
        let (link, rx) = Link::new(
            state.next_link,
            direction,
            info.remote_address,
            remote_key,
            keyed,
            self,
        );
        let route = match (keyed, remote_key, dialled) {
            (true, Some(key), _) => Some(Route::Key(key)),
            (_, _, Some(route)) => Some(route.clone()),
            // Routed once its HELLO says under which address.
            _ => None,
        };
        let routed = route.map(|r| self.register(&mut state, r, &link));
        drop(state);
        self.stats
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        lock(&self.open).insert(link.id, link.clone());
        if !self.spawn(link::run(self.clone(), link.clone(), stream, rx)) {
            lock(&self.open).remove(&link.id);
            return None;
        }
        Some(routed.unwrap_or(link))
    }

    /// Routes `route` to `link`, unless a connection already there is preferred. Two nodes that
    /// dial each other at once end up with two connections; both keep working, and both nodes
    /// route through the one dialled by the node with the smaller key, so the other falls idle
    /// and is closed after the idle timeout.
    fn register(&self, state: &mut State, route: Route, link: &Arc<Link>) -> Arc<Link> {
        if let Some(existing) = state.routes.get(&route)
            && existing.usable()
            && !Arc::ptr_eq(existing, link)
        {
            let replace = existing.direction == link.direction
                || match &route {
                    Route::Key(them) => {
                        let preferred = if self.key < *them {
                            Direction::Outbound
                        } else {
                            Direction::Inbound
                        };
                        link.direction == preferred
                    }
                    Route::Addr(_) => true,
                };
            if !replace {
                return existing.clone();
            }
        }
        link.add_route(route.clone());
        state.routes.insert(route, link.clone());
        link.clone()
    }

    /// A HELLO arrived on `link`: peers without a key are routed by the address it gave.
    pub(crate) fn hello_from(&self, link: &Arc<Link>, src: &StackAddr) {
        if link.keyed {
            return;
        }
        let mut state = self.state();
        let route = Route::Addr(src.as_str().into());
        let taken = state.routes.get(&route).is_some_and(|l| l.usable());
        if link.direction == Direction::Inbound || !taken {
            self.register(&mut state, route, link);
        }
        if let Some(key) = *lock(&link.claimed_key) {
            if state.addr_keys.len() >= MAX_REMEMBERED_KEYS {
                let mut ages: Vec<u64> = state.addr_keys.values().map(|(age, _)| *age).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                state.addr_keys.retain(|_, (age, _)| *age > cut);
            }
            state.key_clock += 1;
            let age = state.key_clock;
            state.addr_keys.insert(src.as_str().into(), (age, key));
        }
    }

    /// A tell left the receive queue: gives its room back.
    fn dequeued(&self, message: &Message<StackAddr>, link: &Link) {
        let cost = link::queue_cost(message);
        link.queued.fetch_sub(1, Ordering::AcqRel);
        link.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
    }

    pub(crate) fn deliver_tell(&self, link: &Arc<Link>, message: Message<StackAddr>) {
        link::queue_tell(self, link, message, &self.tells_tx);
    }

    /// Unroutes `link` if it is idle (see `Link::close_if_idle`).
    pub(crate) fn unroute_if_idle(&self, link: &Link) -> bool {
        let mut state = self.state();
        if !link.close_if_idle(self) {
            return false;
        }
        for route in lock(&link.routes).iter() {
            if state.routes.get(route).is_some_and(|l| l.id == link.id) {
                state.routes.remove(route);
            }
        }
        true
    }

    /// A connection ended.
    pub(crate) fn unregister(&self, link: &Link) {
        let mut state = self.state();
        for route in lock(&link.routes).iter() {
            if state.routes.get(route).is_some_and(|l| l.id == link.id) {
                state.routes.remove(route);
            }
        }
        drop(state);
        lock(&self.open).remove(&link.id);
    }

    /// The connection for `dst`: the open one, or a new dial (shared with every caller that
    /// wants the same peer meanwhile).
    async fn link_to(self: &Arc<Self>, dst: &StackAddr) -> Result<Arc<Link>, SwarmError> {
        let route = self.route_of(dst);
        for _ in 0..3 {
            let mut outcome = {
                let mut state = self.state();
                if let Some(link) = state.routes.get(&route)
                    && link.usable()
                {
                    return Ok(link.clone());
                }
                match state.dialing.get(&route) {
                    Some(rx) => rx.clone(),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        state.dialing.insert(route.clone(), rx.clone());
                        drop(state);
                        let inner = self.clone();
                        let span = tracing::debug_span!("dial", %dst);
                        let (route, dst) = (route.clone(), dst.clone());
                        let task = async move { inner.dial(route, dst, tx).await };
                        if !self.spawn(task.instrument(span)) {
                            return Err(SwarmError::Closed);
                        }
                        rx
                    }
                }
            };
            let result = tokio::select! {
                () = self.shutdown.cancelled() => return Err(SwarmError::Closed),
                r = outcome.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
            };
            match result {
                Some(Ok(link)) if link.usable() => return Ok(link),
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    return Err(SwarmError::unreachable(dst, Some(Box::new(error))));
                }
                None => return Err(SwarmError::Closed),
            }
        }
        Err(SwarmError::unreachable(
            dst,
            Some(Box::new(LinkError::Lost)),
        ))
    }

    async fn dial(
        self: Arc<Self>,
        route: Route,
        dst: StackAddr,
        tx: watch::Sender<Option<DialOutcome>>,
    ) {
        let connected = tokio::select! {
            () = self.shutdown.cancelled() => {
                self.state().dialing.remove(&route);
                return;
            }
            c = self.node.connect(dst.as_str()) => c,
        };
        let outcome: DialOutcome = match connected {
            Ok(conn) => match (&route, conn.remote_ed25519()) {
                (Route::Key(want), got) if got != Some(want) => {
                    Err(Arc::new(LinkError::Protocol(format!(
                        "the stack authenticated {} instead of the key in the address",
                        conn.remote_key()
                            .map(ToString::to_string)
                            .unwrap_or_else(|| "nobody".into())
                    ))))
                }
                _ => match self.adopt(conn, Some(&route)) {
                    Some(link) => Ok(link),
                    None => Err(Arc::new(LinkError::Lost)),
                },
            },
            Err(error) => {
                tracing::debug!(%dst, %error, "dial failed");
                Err(Arc::new(error))
            }
        };
        self.state().dialing.remove(&route);
        let _ = tx.send(Some(outcome));
    }
}

async fn accept_loop(inner: Arc<Inner>, mut server: Server) {
    loop {
        tokio::select! {
            () = inner.shutdown.cancelled() => break,
            conn = server.accept() => match conn {
                Some(conn) => {
                    inner.adopt(conn, None);
                }
                None => break,
            },
        }
    }
    server.close().await;
}

/// Builds a [`StackSwarm`]; see [`StackSwarm::builder`].
pub struct Builder {
    node: MultiServer,
    key: Option<PublicKey>,
    cfg: Config,
}

impl Builder {
    /// This node's public key. Needed when no stack runs `shs` (whose key is taken otherwise);
    /// for `noauth` stacks, give the key the `Noauth` transform was made with.
    pub fn public_key(mut self, key: PublicKey) -> Self {
        self.key = Some(key);
        self
    }

    /// All limits and deadlines at once.
    pub fn config(mut self, cfg: Config) -> Self {
        self.cfg = cfg;
        self
    }

    /// The largest tell payload (default 64 KiB).
    pub fn mtu(mut self, bytes: usize) -> Self {
        self.cfg.mtu = bytes;
        self
    }

    /// The largest ask request or answer (default 1 MiB).
    pub fn max_ask_size(mut self, bytes: usize) -> Self {
        self.cfg.max_ask_size = bytes;
        self
    }

    /// The default deadline of an ask, dial included (default 30 s).
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.ask_timeout = timeout;
        self
    }

    /// How long a peer's request waits for our application's answer (default 30 s).
    pub fn incoming_ask_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.incoming_ask_timeout = timeout;
        self
    }

    /// How long a connection may stay idle before it is closed (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.idle_timeout = timeout;
        self
    }

    /// Starts listening on every stack of the node and returns the running swarm.
    pub async fn bind(self) -> Result<StackSwarm, BuildError> {
        let mut cfg = self.cfg;
        cfg.mtu = cfg.mtu.min(MAX_LIMIT);
        cfg.max_ask_size = cfg.max_ask_size.min(MAX_LIMIT);
        let server = self.node.listen().await.map_err(BuildError::Listen)?;
        let mut local: Vec<StackAddr> = Vec::new();
        let mut all = MultiAddress::default();
        for scope in Scope::ALL {
            let multi = server.address(scope);
            if multi.is_empty() {
                continue;
            }
            let addr = StackAddr::new(multi);
            if !local.contains(&addr) {
                local.push(addr);
            }
        }
        for scope in Scope::ALL.iter().rev() {
            for alternative in server.address(*scope) {
                if !all.alternatives().contains(&alternative) {
                    all.push(alternative);
                }
            }
        }
        if local.is_empty() {
            return Err(BuildError::NoAddress);
        }
        let key = self
            .key
            .or_else(|| local.iter().find_map(StackAddr::key))
            .ok_or(BuildError::NoPublicKey)?;
        let (tells_tx, tells_rx) = mpsc::channel(cfg.receive_queue.max(1));
        let (asks_tx, asks_rx) = mpsc::channel(cfg.ask_queue.max(1));
        let inner = Arc::new(Inner {
            node: self.node,
            cfg,
            key,
            local,
            hello: Bytes::from(all.to_string()),
            state: Mutex::new(State::default()),
            tells_tx,
            tells_rx: tokio::sync::Mutex::new(tells_rx),
            asks_tx,
            asks_rx: tokio::sync::Mutex::new(asks_rx),
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(JoinSet::new()),
            open: Mutex::new(HashMap::new()),
            stats: Counters::default(),
            queued_bytes: std::sync::atomic::AtomicUsize::new(0),
            epoch: tokio::time::Instant::now(),
        });
        inner.spawn(accept_loop(inner.clone(), server));
        tracing::info!(addrs = ?inner.local, key = %key, "stack swarm listening");
        Ok(StackSwarm { inner })
    }
}

/// A multiserver node as a secure ask swarm: messages over any stack.
///
/// Built from a [`MultiServer`] with [`builder`](Self::builder); implements
/// [`Swarm`], [`AskSwarm`] and [`SecureSwarm`] with [`StackAddr`] addresses and Ed25519
/// [`PublicKey`]s. See the [crate docs](crate) for how peers are dialled and routed.
///
/// Dropping it closes it (without waiting); [`close`](Swarm::close) also waits until every task
/// has stopped.
pub struct StackSwarm {
    inner: Arc<Inner>,
}

impl StackSwarm {
    /// Starts building a swarm on `node`.
    pub fn builder(node: MultiServer) -> Builder {
        Builder {
            node,
            key: None,
            cfg: Config::default(),
        }
    }

    /// The limits and deadlines in force.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// What the swarm did and refused so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let state = self.inner.state();
        let mut peers: Vec<u64> = state.routes.values().map(|l| l.id).collect();
        peers.sort_unstable();
        peers.dedup();
        drop(state);
        Stats {
            tells_sent: load(&c.tells_sent),
            tells_received: load(&c.tells_received),
            tells_dropped: load(&c.tells_dropped),
            asks_sent: load(&c.asks_sent),
            asks_received: load(&c.asks_received),
            asks_refused: load(&c.asks_refused),
            unknown_answers: load(&c.unknown_answers),
            protocol_errors: load(&c.protocol_errors),
            connections_opened: load(&c.connections_opened),
            idle_closed: load(&c.idle_closed),
            connections_open: lock(&self.inner.open).len(),
            peers: peers.len(),
        }
    }

    /// [`ask`](AskSwarm::ask) with its own deadline instead of the configured one.
    pub async fn ask_within(
        &self,
        dst: &StackAddr,
        request: Bytes,
        deadline: Duration,
    ) -> Result<Bytes, SwarmError> {
        let inner = &self.inner;
        if request.len() > inner.cfg.max_ask_size {
            return Err(SwarmError::MtuExceeded {
                size: request.len(),
                mtu: inner.cfg.max_ask_size,
            });
        }
        if inner.shutdown.is_cancelled() {
            return Err(SwarmError::Closed);
        }
        let attempt = async {
            for _ in 0..3 {
                let link = inner.link_to(dst).await?;
                if let Some(max) = link.peer_max_ask()
                    && request.len() > max
                {
                    return Err(SwarmError::MtuExceeded {
                        size: request.len(),
                        mtu: max,
                    });
                }
                let _slot = tokio::select! {
                    permit = link.slots.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => continue,
                    },
                    () = inner.shutdown.cancelled() => return Err(SwarmError::Closed),
                };
                let Some(mut pending) = link.register_ask() else {
                    continue;
                };
                let frame = Out::Ask {
                    dst: dst.clone(),
                    id: pending.id,
                    payload: request.clone(),
                };
                if link.out.send(frame).await.is_err() {
                    continue;
                }
                pending.mark_sent();
                inner.stats.asks_sent.fetch_add(1, Ordering::Relaxed);
                return tokio::select! {
                    r = pending.outcome() => r,
                    () = inner.shutdown.cancelled() => Err(SwarmError::Closed),
                };
            }
            Err(SwarmError::unreachable(
                dst,
                Some(Box::new(LinkError::Lost)),
            ))
        };
        tokio::time::timeout(deadline, attempt)
            .await
            .unwrap_or(Err(SwarmError::Timeout))
    }
}

impl Drop for StackSwarm {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

impl fmt::Debug for StackSwarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackSwarm")
            .field("local", &self.inner.local)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Swarm for StackSwarm {
    type Addr = StackAddr;

    async fn tell(&self, dst: &StackAddr, payload: Bytes) -> Result<(), SwarmError> {
        let inner = &self.inner;
        if payload.len() > inner.cfg.mtu {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu: inner.cfg.mtu,
            });
        }
        if inner.shutdown.is_cancelled() {
            return Err(SwarmError::Closed);
        }
        for _ in 0..2 {
            let link = inner.link_to(dst).await?;
            if let Some(mtu) = link.peer_mtu()
                && payload.len() > mtu
            {
                return Err(SwarmError::MtuExceeded {
                    size: payload.len(),
                    mtu,
                });
            }
            let frame = Out::Tell {
                dst: dst.clone(),
                payload: payload.clone(),
            };
            let sent = tokio::select! {
                r = tokio::time::timeout(inner.cfg.tell_timeout, link.out.send(frame)) => r,
                () = inner.shutdown.cancelled() => return Err(SwarmError::Closed),
            };
            match sent {
                Ok(Ok(())) => {
                    inner.stats.tells_sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                // The connection closed meanwhile: once more, on a new one.
                Ok(Err(_)) => continue,
                Err(_) => return Err(SwarmError::Timeout),
            }
        }
        Err(SwarmError::unreachable(
            dst,
            Some(Box::new(LinkError::Lost)),
        ))
    }

    async fn receive(&self) -> Result<Message<StackAddr>, SwarmError> {
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() {
            return Err(SwarmError::Closed);
        }
        // Fast path: a message is waiting and nobody else is receiving.
        if let Ok(mut rx) = inner.tells_rx.try_lock()
            && let Ok((message, link)) = rx.try_recv()
        {
            inner.dequeued(&message, &link);
            return Ok(message);
        }
        let mut rx = tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => return Err(SwarmError::Closed),
            rx = inner.tells_rx.lock() => rx,
        };
        tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => Err(SwarmError::Closed),
            item = rx.recv() => match item {
                Some((message, link)) => {
                    inner.dequeued(&message, &link);
                    Ok(message)
                }
                None => Err(SwarmError::Closed),
            },
        }
    }

    fn local_addrs(&self) -> Vec<StackAddr> {
        self.inner.local.clone()
    }

    fn mtu(&self) -> usize {
        self.inner.cfg.mtu
    }

    fn parse_addr(&self, text: &str) -> Result<StackAddr, ParseAddrError> {
        let addr = StackAddr::parse(text).map_err(|e| ParseAddrError::new(text, e.to_string()))?;
        let understood = addr.multi().alternatives().iter().any(|alternative| {
            self.inner
                .node
                .stacks()
                .iter()
                .any(|stack| stack.check(alternative).is_ok())
        });
        if !understood {
            return Err(ParseAddrError::new(
                text,
                format!(
                    "no stack of this node ({}) dials it",
                    self.inner.node.name()
                ),
            ));
        }
        Ok(addr)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        let inner = &self.inner;
        inner.shutdown.cancel();
        let mut tasks = std::mem::take(&mut *lock(&inner.tasks));
        while tasks.join_next().await.is_some() {}
        // Queued messages hold their connections' state: let it go.
        if let Ok(mut rx) = inner.tells_rx.try_lock() {
            rx.close();
            while rx.try_recv().is_ok() {}
        }
        if let Ok(mut rx) = inner.asks_rx.try_lock() {
            rx.close();
            while rx.try_recv().is_ok() {}
        }
        Ok(())
    }
}

#[async_trait]
impl AskSwarm for StackSwarm {
    async fn ask(&self, dst: &StackAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        self.ask_within(dst, request, self.inner.cfg.ask_timeout)
            .await
    }

    async fn next_ask(&self) -> Result<Ask<StackAddr>, SwarmError> {
        let inner = &self.inner;
        let mut rx = tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => return Err(SwarmError::Closed),
            rx = inner.asks_rx.lock() => rx,
        };
        tokio::select! {
            biased;
            () = inner.shutdown.cancelled() => Err(SwarmError::Closed),
            item = rx.recv() => item.ok_or(SwarmError::Closed),
        }
    }
}

impl SecureSwarm for StackSwarm {
    type PublicKey = PublicKey;

    fn public_key(&self) -> PublicKey {
        self.inner.key
    }

    fn lookup_public_key(&self, addr: &StackAddr) -> Result<PublicKey, SwarmError> {
        if let Some(key) = addr.key() {
            return Ok(key);
        }
        self.inner
            .state()
            .addr_keys
            .get(addr.as_str())
            .map(|(_, key)| *key)
            .ok_or_else(|| SwarmError::key_unknown(addr))
    }
}
