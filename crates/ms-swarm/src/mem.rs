//! The in-memory swarm: nodes in one process, with seeded, reproducible faults.
//!
//! A [`Realm`] is a shared namespace; [`Realm::swarm`] hands out a [`MemSwarm`] with the next
//! sequential address ([`MemAddr`], text: the decimal number, e.g. `3`). Every mem swarm is a
//! [`SecureSwarm`] (a [`MemKey`] per node, looked up in the realm) and an [`AskSwarm`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use ms_swarm::{Swarm, mem::Realm};
//!
//! let realm = Realm::new();
//! let (a, b) = (realm.swarm(), realm.swarm());
//! a.tell(&b.addr(), Bytes::from_static(b"hi")).await.unwrap();
//! let msg = b.receive().await.unwrap();
//! assert_eq!((msg.src, &msg.payload[..]), (a.addr(), &b"hi"[..]));
//! # }
//! ```
//!
//! ## Semantics
//!
//! - [`tell`](Swarm::tell) checks the MTU, then delivers without waiting: to an unknown (or
//!   closed) address, or into a full queue, the message is silently dropped (`Ok`), as a
//!   datagram would be. [`Realm::stats`] counts what happened.
//! - [`ask`](AskSwarm::ask) to an unknown address fails with [`SwarmError::Unreachable`], also
//!   when the peer closes before answering. Asks wait for room in the peer's queue (they are
//!   reliable) and are bounded by the MTU like tells; answers are not.
//! - Closing a swarm frees its address: the realm forgets the node (asks to it fail, tells are
//!   dropped). Numbers are never handed out again, so a stale address never reaches a newcomer.
//!   Its public key stays known to the realm, so a message it sent can still be attributed.
//! - [`Faults`] (loss, duplication, reordering, latency with jitter) apply to tells; asks only
//!   get the latency. All decisions come from the realm's seed: each node draws from its own
//!   generator, so the same seed and the same sequence of tells from a node give the same
//!   faults whatever other nodes do. Delays run on tokio's clock (the paused test clock works).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, SeedRng, Swarm, SwarmError};

/// The default MTU: 64 KiB.
pub const DEFAULT_MTU: usize = 64 * 1024;
/// The default length of each node's receive queue (tells and asks each).
pub const DEFAULT_QUEUE_LEN: usize = 1024;

/// The address of a node in a [`Realm`]: a sequential number. Canonical text: the decimal
/// number without sign or leading zeros.
///
/// Equality, hashing and ordering follow the canonical text (so `10` sorts before `9`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemAddr(u64);

impl MemAddr {
    /// The address with number `n`.
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Parses the canonical text: ASCII digits, no leading zero (except `0` itself), fits in
    /// 64 bits.
    pub fn parse(text: &str) -> Result<Self, ParseAddrError> {
        if text.is_empty() {
            return Err(ParseAddrError::new(text, "empty"));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseAddrError::new(
                text,
                "a mem address is a decimal number",
            ));
        }
        if text.len() > 1 && text.starts_with('0') {
            return Err(ParseAddrError::new(text, "leading zero (not canonical)"));
        }
        text.parse::<u64>()
            .map(Self)
            .map_err(|_| ParseAddrError::new(text, "number too large"))
    }

    fn digits(self, buf: &mut [u8; 20]) -> &[u8] {
        let mut n = self.0;
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &buf[i..]
    }
}

impl Hash for MemAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Ord for MemAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        self.digits(&mut a).cmp(other.digits(&mut b))
    }
}

impl PartialOrd for MemAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MemAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A mem node's public key: 32 bytes, by default derived from the realm's seed and the
/// node's number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemKey([u8; 32]);

impl MemKey {
    /// A key with these bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl AsRef<[u8]> for MemKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for MemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemKey(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Faults applied to every tell in a realm, drawn from the realm's seed.
///
/// ```
/// use std::time::Duration;
/// use ms_swarm::mem::Faults;
/// let faults = Faults::none()
///     .with_loss(0.1)
///     .with_duplicate(0.05)
///     .with_latency(Duration::from_millis(5), Duration::from_millis(2));
/// # let _ = faults;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// Probability that a tell is lost.
    pub loss: f64,
    /// Probability that a tell is delivered twice.
    pub duplicate: f64,
    /// Probability that a tell is held back by [`reorder_delay`](Faults::reorder_delay), so
    /// later tells overtake it.
    pub reorder: f64,
    /// How long a reordered tell is held back.
    pub reorder_delay: Duration,
    /// Fixed delay of every message (tells and asks).
    pub latency: Duration,
    /// Extra random delay, uniform in `0..=jitter`, per message.
    pub jitter: Duration,
}

impl Faults {
    /// No faults: every tell is delivered once, in order, at once.
    pub fn none() -> Self {
        Self::default()
    }

    /// With probability `p` of losing each tell.
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// With probability `p` of delivering each tell twice.
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// With probability `p` of holding a tell back by `delay`.
    pub fn with_reorder(mut self, p: f64, delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }

    /// With a delay of `latency` plus up to `jitter` on every message.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    fn is_none(&self) -> bool {
        self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.latency.is_zero()
            && self.jitter.is_zero()
    }
}

/// What happened to the tells of a realm so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RealmStats {
    /// Tells put into a receive queue (duplicates count twice).
    pub delivered: u64,
    /// Tells lost by the [`Faults`].
    pub lost: u64,
    /// Extra copies made by the [`Faults`].
    pub duplicated: u64,
    /// Tells dropped because the receiver's queue was full.
    pub queue_full: u64,
    /// Tells to an address with no node (never existed or closed).
    pub no_such_node: u64,
}

/// How to build a [`Realm`].
#[derive(Clone, Debug)]
pub struct RealmBuilder {
    mtu: usize,
    queue_len: usize,
    seed: u64,
    faults: Faults,
}

impl RealmBuilder {
    /// The MTU of every swarm of the realm (default [`DEFAULT_MTU`]).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// The receive queue length of every node, for tells and for asks (default
    /// [`DEFAULT_QUEUE_LEN`], at least 1).
    pub fn queue_len(mut self, len: usize) -> Self {
        self.queue_len = len.max(1);
        self
    }

    /// The seed of every random choice: faults and default keys (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The faults applied to tells (default none).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The realm.
    pub fn build(self) -> Realm {
        Realm {
            shared: Arc::new(Shared {
                mtu: self.mtu,
                queue_len: self.queue_len,
                seed: self.seed,
                faults: self.faults,
                state: Mutex::new(State::default()),
                stats: Counters::default(),
            }),
        }
    }
}

/// A shared in-process namespace of [`MemSwarm`]s. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Realm {
    shared: Arc<Shared>,
}

impl Default for Realm {
    fn default() -> Self {
        Self::new()
    }
}

impl Realm {
    /// A realm with defaults: 64 KiB MTU, queues of 1024, no faults, seed 0.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a realm with other settings.
    pub fn builder() -> RealmBuilder {
        RealmBuilder {
            mtu: DEFAULT_MTU,
            queue_len: DEFAULT_QUEUE_LEN,
            seed: 0,
            faults: Faults::none(),
        }
    }

    /// A new node with the next address and a key derived from the seed and its number.
    pub fn swarm(&self) -> MemSwarm {
        self.make(None)
    }

    /// A new node with the next address and the given key.
    pub fn swarm_with_key(&self, key: MemKey) -> MemSwarm {
        self.make(Some(key))
    }

    /// `n` new nodes.
    pub fn swarms(&self, n: usize) -> Vec<MemSwarm> {
        (0..n).map(|_| self.swarm()).collect()
    }

    /// Counts of what happened to tells so far.
    pub fn stats(&self) -> RealmStats {
        let c = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(AtomicOrdering::Relaxed);
        RealmStats {
            delivered: get(&c.delivered),
            lost: get(&c.lost),
            duplicated: get(&c.duplicated),
            queue_full: get(&c.queue_full),
            no_such_node: get(&c.no_such_node),
        }
    }

    /// How many nodes are open.
    pub fn len(&self) -> usize {
        self.shared.lock().nodes.len()
    }

    /// True when no node is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make(&self, key: Option<MemKey>) -> MemSwarm {
        let shared = &self.shared;
        let (tell_tx, tell_rx) = mpsc::channel(shared.queue_len);
        let (ask_tx, ask_rx) = mpsc::channel(shared.queue_len);
        let (closed, closed_rx) = watch::channel(false);
        let mut state = shared.lock();
        let n = state.next;
        state.next += 1;
        let key = key.unwrap_or_else(|| {
            let mut bytes = [0u8; 32];
            SeedRng::derive(shared.seed ^ 0x6b65_7973, n).fill(&mut bytes);
            MemKey(bytes)
        });
        state.keys.insert(n, key);
        state.nodes.insert(
            n,
            Node {
                tells: tell_tx,
                asks: ask_tx,
                closed: closed_rx,
            },
        );
        drop(state);
        MemSwarm {
            shared: shared.clone(),
            addr: MemAddr(n),
            key,
            tells: tokio::sync::Mutex::new(tell_rx),
            asks: tokio::sync::Mutex::new(ask_rx),
            closed,
            rng: Mutex::new(SeedRng::derive(shared.seed, n)),
        }
    }
}

#[derive(Debug)]
struct Shared {
    mtu: usize,
    queue_len: usize,
    seed: u64,
    faults: Faults,
    state: Mutex<State>,
    stats: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn node(&self, addr: MemAddr) -> Option<Node> {
        self.lock().nodes.get(&addr.0).cloned()
    }

    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, AtomicOrdering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    lost: AtomicU64,
    duplicated: AtomicU64,
    queue_full: AtomicU64,
    no_such_node: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    nodes: HashMap<u64, Node>,
    keys: HashMap<u64, MemKey>,
}

#[derive(Clone, Debug)]
struct Node {
    tells: mpsc::Sender<Message<MemAddr>>,
    asks: mpsc::Sender<Ask<MemAddr>>,
    closed: watch::Receiver<bool>,
}

/// One node of a [`Realm`]. Closing it (or dropping it) frees its address.
#[derive(Debug)]
pub struct MemSwarm {
    shared: Arc<Shared>,
    addr: MemAddr,
    key: MemKey,
    tells: tokio::sync::Mutex<mpsc::Receiver<Message<MemAddr>>>,
    asks: tokio::sync::Mutex<mpsc::Receiver<Ask<MemAddr>>>,
    closed: watch::Sender<bool>,
    rng: Mutex<SeedRng>,
}

/// Resolves when the watched node is closed (or gone).
async fn closed(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|c| *c).await;
}

impl MemSwarm {
    /// This node's address.
    pub fn addr(&self) -> MemAddr {
        self.addr
    }

    /// The realm this node belongs to.
    pub fn realm(&self) -> Realm {
        Realm {
            shared: self.shared.clone(),
        }
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn check(&self, len: usize) -> Result<(), SwarmError> {
        if len > self.shared.mtu {
            return Err(SwarmError::MtuExceeded {
                size: len,
                mtu: self.shared.mtu,
            });
        }
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        Ok(())
    }

    fn jittered(&self, rng: &mut SeedRng) -> Duration {
        let faults = &self.shared.faults;
        let jitter = faults.jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
        faults.latency + Duration::from_nanos(rng.below(jitter.saturating_add(1)))
    }

    /// Decides the fate of one tell: the delay of each copy to deliver (none when lost).
    fn plan(&self) -> Vec<Duration> {
        let faults = &self.shared.faults;
        if faults.is_none() {
            return vec![Duration::ZERO];
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        if rng.chance(faults.loss) {
            self.shared.bump(&self.shared.stats.lost);
            return Vec::new();
        }
        let copies = if rng.chance(faults.duplicate) {
            self.shared.bump(&self.shared.stats.duplicated);
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                let mut delay = self.jittered(&mut rng);
                if rng.chance(faults.reorder) {
                    delay += faults.reorder_delay;
                }
                delay
            })
            .collect()
    }

    fn release(&self) {
        self.closed.send_replace(true);
        self.shared.lock().nodes.remove(&self.addr.0);
    }
}

fn deliver(shared: &Shared, tx: &mpsc::Sender<Message<MemAddr>>, msg: Message<MemAddr>) {
    match tx.try_send(msg) {
        Ok(()) => shared.bump(&shared.stats.delivered),
        Err(mpsc::error::TrySendError::Full(m)) => {
            shared.bump(&shared.stats.queue_full);
            tracing::debug!(dst = %m.dst, "mem swarm: receive queue full, message dropped");
        }
        Err(mpsc::error::TrySendError::Closed(m)) => {
            shared.bump(&shared.stats.no_such_node);
            tracing::debug!(dst = %m.dst, "mem swarm: node closed, message dropped");
        }
    }
}

impl Drop for MemSwarm {
    fn drop(&mut self) {
        self.release();
    }
}

#[async_trait]
impl Swarm for MemSwarm {
    type Addr = MemAddr;

    async fn tell(&self, dst: &MemAddr, payload: Bytes) -> Result<(), SwarmError> {
        self.check(payload.len())?;
        let Some(node) = self.shared.node(*dst) else {
            self.shared.bump(&self.shared.stats.no_such_node);
            tracing::debug!(%dst, "mem swarm: no such node, message dropped");
            return Ok(());
        };
        let msg = Message::new(self.addr, *dst, payload);
        for delay in self.plan() {
            if delay.is_zero() {
                deliver(&self.shared, &node.tells, msg.clone());
            } else {
                let (shared, tx, msg) = (self.shared.clone(), node.tells.clone(), msg.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    deliver(&shared, &tx, msg);
                });
            }
        }
        Ok(())
    }

    async fn receive(&self) -> Result<Message<MemAddr>, SwarmError> {
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let on_close = closed(self.closed.subscribe());
        tokio::pin!(on_close);
        let mut rx = tokio::select! {
            rx = self.tells.lock() => rx,
            () = &mut on_close => return Err(SwarmError::Closed),
        };
        tokio::select! {
            biased;
            () = &mut on_close => Err(SwarmError::Closed),
            msg = rx.recv() => msg.ok_or(SwarmError::Closed),
        }
    }

    fn local_addrs(&self) -> Vec<MemAddr> {
        vec![self.addr]
    }

    fn mtu(&self) -> usize {
        self.shared.mtu
    }

    fn parse_addr(&self, text: &str) -> Result<MemAddr, ParseAddrError> {
        MemAddr::parse(text)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        self.release();
        Ok(())
    }
}

#[async_trait]
impl AskSwarm for MemSwarm {
    async fn ask(&self, dst: &MemAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        self.check(request.len())?;
        let Some(node) = self.shared.node(*dst) else {
            return Err(SwarmError::unreachable(dst, None));
        };
        let own_close = closed(self.closed.subscribe());
        let peer_close = closed(node.closed.clone());
        tokio::pin!(own_close, peer_close);
        let delay = if self.shared.faults.is_none() {
            Duration::ZERO
        } else {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            self.jittered(&mut rng)
        };
        let (ask, reply) = Ask::new(Message::new(self.addr, *dst, request));
        let send = async {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            node.asks.send(ask).await
        };
        tokio::select! {
            sent = send => if sent.is_err() {
                return Err(SwarmError::unreachable(dst, None));
            },
            () = &mut own_close => return Err(SwarmError::Closed),
            () = &mut peer_close => return Err(SwarmError::unreachable(dst, None)),
        }
        tokio::select! {
            answer = reply.answer() => answer.ok_or(SwarmError::Rejected),
            () = &mut own_close => Err(SwarmError::Closed),
            () = &mut peer_close => Err(SwarmError::unreachable(dst, None)),
        }
    }

    async fn next_ask(&self) -> Result<Ask<MemAddr>, SwarmError> {
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let on_close = closed(self.closed.subscribe());
        tokio::pin!(on_close);
        let mut rx = tokio::select! {
            rx = self.asks.lock() => rx,
            () = &mut on_close => return Err(SwarmError::Closed),
        };
        tokio::select! {
            biased;
            () = &mut on_close => Err(SwarmError::Closed),
            ask = rx.recv() => ask.ok_or(SwarmError::Closed),
        }
    }
}

impl SecureSwarm for MemSwarm {
    type PublicKey = MemKey;

    fn public_key(&self) -> MemKey {
        self.key
    }

    fn lookup_public_key(&self, addr: &MemAddr) -> Result<MemKey, SwarmError> {
        self.shared
            .lock()
            .keys
            .get(&addr.0)
            .copied()
            .ok_or_else(|| SwarmError::key_unknown(addr))
    }
}
