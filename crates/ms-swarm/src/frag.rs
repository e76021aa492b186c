//! The fragmenting swarm: raises the MTU of any swarm by splitting and reassembling.
//!
//! [`FragSwarm`] sends a message that fits the inner swarm's MTU as one datagram, and a larger
//! one as numbered fragments that the receiving `FragSwarm` puts back together
//! ([`Reassembler`]). Fragments travel as best-effort tells: if one is lost, the message is
//! lost (after [`FragConfig::timeout`] its other fragments are forgotten).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use ms_swarm::{Swarm, frag::{FragConfig, FragSwarm}, mem::Realm};
//!
//! let realm = Realm::builder().mtu(64).build();
//! let config = FragConfig::new().with_mtu(4096);
//! let a = FragSwarm::new(realm.swarm(), config.clone()).unwrap();
//! let b = FragSwarm::new(realm.swarm(), config).unwrap();
//! let big = Bytes::from(vec![7u8; 4096]);
//! a.tell(&b.local_addrs()[0], big.clone()).await.unwrap();
//! assert_eq!(b.receive().await.unwrap().payload, big);
//! # }
//! ```
//!
//! ## Wire format
//!
//! ```text
//! whole message:  0x00 payload
//! fragment:       0x01 id:u32 index:u16 count:u16 total:u32 chunk     (big-endian, 13 bytes)
//! ```
//!
//! ## Bounds against a hostile sender
//!
//! A receiver holds at most [`max_partials_per_sender`](FragConfig::max_partials_per_sender)
//! incomplete messages per sender, [`max_partials`](FragConfig::max_partials) in total and
//! [`max_bytes`](FragConfig::max_bytes) of fragment data (counting a fixed overhead per
//! fragment); beyond a limit the oldest incomplete message is forgotten. Memory grows with
//! fragments actually received, never with the counts or totals a header claims. A header is
//! dropped unless `2 <= count`, `index < count`, `count <= total <= mtu`, and it agrees with
//! earlier fragments of the same id; a fragment repeated with other bytes drops the whole
//! message; a message whose fragments do not add up to `total` is dropped. Incomplete messages
//! expire after [`timeout`](FragConfig::timeout) (tokio's clock; checked whenever a datagram
//! arrives or [`FragSwarm::stats`] is read, so a quiet swarm holds at most its limits).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::Instant;

use crate::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};

const WHOLE: u8 = 0;
const FRAGMENT: u8 = 1;
/// Bytes of a fragment's header.
pub const FRAGMENT_HEADER: usize = 13;
/// Bytes counted against [`FragConfig::max_bytes`] for each stored fragment, besides its data.
pub const FRAGMENT_OVERHEAD: usize = 64;

/// Settings of a [`FragSwarm`] and its [`Reassembler`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FragConfig {
    /// The MTU offered (default 1 MiB; at most what 65 535 fragments of the inner MTU carry).
    pub mtu: usize,
    /// Incomplete messages kept per sender (default 8).
    pub max_partials_per_sender: usize,
    /// Incomplete messages kept in total (default 256).
    pub max_partials: usize,
    /// Fragment bytes kept in total, overhead included (default 16 MiB).
    pub max_bytes: usize,
    /// How long an incomplete message waits for its other fragments (default 10 s).
    pub timeout: Duration,
}

impl Default for FragConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl FragConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            mtu: 1024 * 1024,
            max_partials_per_sender: 8,
            max_partials: 256,
            max_bytes: 16 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }

    /// With another MTU.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// With other limits on incomplete messages: per sender, in total, and bytes held.
    pub fn with_limits(mut self, per_sender: usize, total: usize, bytes: usize) -> Self {
        self.max_partials_per_sender = per_sender.max(1);
        self.max_partials = total.max(1);
        self.max_bytes = bytes;
        self
    }

    /// With another timeout for incomplete messages.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Why a [`FragSwarm`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragError {
    /// The inner MTU leaves no room for a fragment header and data.
    #[error(
        "the inner MTU of {0} bytes is too small to fragment (needs more than {FRAGMENT_HEADER})"
    )]
    InnerMtuTooSmall(usize),
    /// The requested MTU needs more than 65 535 fragments of the inner MTU.
    #[error("an MTU of {mtu} bytes needs more than 65535 fragments (at most {max})")]
    MtuTooLarge {
        /// The requested MTU.
        mtu: usize,
        /// The largest possible over this inner swarm.
        max: usize,
    },
}

/// Why a datagram did not (yet) make a message: it was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragDrop {
    /// Not a valid whole message or fragment header.
    #[error("malformed fragment")]
    Malformed,
    /// It contradicts earlier fragments of the same message (which is dropped too).
    #[error("fragment conflicts with an earlier one")]
    Conflict,
    /// A repeat of a fragment already held.
    #[error("duplicate fragment")]
    Duplicate,
}

/// Counts of what a [`Reassembler`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FragStats {
    /// Messages completed from fragments.
    pub completed: u64,
    /// Datagrams dropped as malformed.
    pub malformed: u64,
    /// Messages dropped for conflicting fragments or a wrong total.
    pub conflicts: u64,
    /// Incomplete messages forgotten to stay within a limit.
    pub evicted: u64,
    /// Incomplete messages forgotten after the timeout.
    pub expired: u64,
    /// Incomplete messages held now.
    pub partials: usize,
    /// Bytes held now (fragment data plus overhead).
    pub bytes: usize,
}

struct Partial {
    seq: u64,
    deadline: Instant,
    count: u16,
    total: u32,
    size: usize,
    held: usize,
    chunks: BTreeMap<u16, Bytes>,
}

/// Puts fragments back together, within bounds (sans-IO: the caller gives the time).
pub struct Reassembler<K> {
    config: FragConfig,
    partials: HashMap<(K, u32), Partial>,
    order: BTreeMap<u64, (K, u32)>,
    per_sender: HashMap<K, BTreeSet<u64>>,
    next_seq: u64,
    stats: FragStats,
}

impl<K> std::fmt::Debug for Reassembler<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembler")
            .field("stats", &self.stats)
            .finish()
    }
}

struct Header {
    id: u32,
    index: u16,
    count: u16,
    total: u32,
}

fn header(d: &[u8]) -> Option<Header> {
    let h = d.get(1..FRAGMENT_HEADER)?;
    Some(Header {
        id: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        index: u16::from_be_bytes([h[4], h[5]]),
        count: u16::from_be_bytes([h[6], h[7]]),
        total: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
    })
}

impl<K: Clone + Eq + Hash> Reassembler<K> {
    /// An empty reassembler with these limits.
    pub fn new(config: FragConfig) -> Self {
        Self {
            config,
            partials: HashMap::new(),
            order: BTreeMap::new(),
            per_sender: HashMap::new(),
            next_seq: 0,
            stats: FragStats::default(),
        }
    }

    /// What it did, and what it holds now.
    pub fn stats(&self) -> FragStats {
        FragStats {
            partials: self.partials.len(),
            ..self.stats
        }
    }

    /// Takes one datagram from `src` received at `now`: `Ok(Some(message))` when it completes
    /// one (or is one whole), `Ok(None)` when it was kept, `Err` when it was dropped.
    pub fn push(
        &mut self,
        src: &K,
        now: Instant,
        datagram: Bytes,
    ) -> Result<Option<Bytes>, FragDrop> {
        self.expire(now);
        match datagram.first() {
            Some(&WHOLE) if datagram.len() - 1 <= self.config.mtu => Ok(Some(datagram.slice(1..))),
            Some(&FRAGMENT) => self.fragment(src, now, datagram),
            _ => {
                self.stats.malformed += 1;
                Err(FragDrop::Malformed)
            }
        }
    }

    fn fragment(
        &mut self,
        src: &K,
        now: Instant,
        datagram: Bytes,
    ) -> Result<Option<Bytes>, FragDrop> {
        let Some(h) = header(&datagram) else {
            self.stats.malformed += 1;
            return Err(FragDrop::Malformed);
        };
        let chunk = datagram.slice(FRAGMENT_HEADER..);
        let total = h.total as usize;
        if h.count < 2
            || h.index >= h.count
            || usize::from(h.count) > total
            || total > self.config.mtu
            || chunk.is_empty()
            || chunk.len() > total
        {
            self.stats.malformed += 1;
            return Err(FragDrop::Malformed);
        }
        let key = (src.clone(), h.id);
        let cost = chunk.len() + FRAGMENT_OVERHEAD;
        if cost > self.config.max_bytes {
            self.stats.evicted += 1;
            return Ok(None);
        }
        if let Some(p) = self.partials.get(&key) {
            let conflict = p.count != h.count
                || p.total != h.total
                || p.chunks.get(&h.index).is_some_and(|c| *c != chunk)
                || (!p.chunks.contains_key(&h.index) && p.size + chunk.len() > total);
            if conflict {
                self.stats.conflicts += 1;
                self.remove(&key);
                return Err(FragDrop::Conflict);
            }
            if p.chunks.contains_key(&h.index) {
                return Err(FragDrop::Duplicate);
            }
        } else {
            // A new incomplete message: make room for it first.
            while self
                .per_sender
                .get(src)
                .is_some_and(|s| s.len() >= self.config.max_partials_per_sender)
            {
                let oldest = self.per_sender.get(src).and_then(|s| s.first().copied());
                match oldest.and_then(|seq| self.order.get(&seq).cloned()) {
                    Some(k) if self.evict(&k) => {}
                    _ => break,
                }
            }
            while self.partials.len() >= self.config.max_partials {
                match self.order.first_key_value().map(|(_, k)| k.clone()) {
                    Some(k) if self.evict(&k) => {}
                    _ => break,
                }
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key.clone());
            self.per_sender.entry(src.clone()).or_default().insert(seq);
            self.partials.insert(
                key.clone(),
                Partial {
                    seq,
                    deadline: now + self.config.timeout,
                    count: h.count,
                    total: h.total,
                    size: 0,
                    held: 0,
                    chunks: BTreeMap::new(),
                },
            );
        }
        // Stay within the byte budget, forgetting the oldest other messages.
        while self.stats.bytes + cost > self.config.max_bytes {
            let victim = self.order.values().find(|k| **k != key).cloned();
            match victim {
                Some(k) if self.evict(&k) => {}
                _ => {
                    self.evict(&key);
                    return Ok(None);
                }
            }
        }
        let Some(p) = self.partials.get_mut(&key) else {
            return Ok(None);
        };
        p.size += chunk.len();
        p.held += cost;
        p.chunks.insert(h.index, chunk);
        self.stats.bytes += cost;
        if p.chunks.len() < usize::from(p.count) {
            return Ok(None);
        }
        let complete = p.size == total;
        let Some(p) = self.remove(&key) else {
            return Ok(None);
        };
        if !complete {
            self.stats.conflicts += 1;
            return Err(FragDrop::Conflict);
        }
        let mut out = BytesMut::with_capacity(total);
        for chunk in p.chunks.values() {
            out.put_slice(chunk);
        }
        self.stats.completed += 1;
        Ok(Some(out.freeze()))
    }

    /// Forgets the incomplete messages whose time is up at `now` (also done on every
    /// [`push`](Reassembler::push)).
    pub fn expire(&mut self, now: Instant) {
        while let Some((&seq, key)) = self.order.first_key_value() {
            let key = key.clone();
            match self.partials.get(&key) {
                Some(p) if p.deadline > now => break,
                Some(_) => {
                    self.stats.expired += 1;
                    self.remove(&key);
                }
                None => {
                    self.order.remove(&seq);
                }
            }
        }
    }

    /// Forgets an incomplete message to make room; false when there was none under `key`.
    fn evict(&mut self, key: &(K, u32)) -> bool {
        let removed = self.remove(key).is_some();
        if removed {
            self.stats.evicted += 1;
        }
        removed
    }

    fn remove(&mut self, key: &(K, u32)) -> Option<Partial> {
        let p = self.partials.remove(key)?;
        self.order.remove(&p.seq);
        if let Some(set) = self.per_sender.get_mut(&key.0) {
            set.remove(&p.seq);
            if set.is_empty() {
                self.per_sender.remove(&key.0);
            }
        }
        self.stats.bytes -= p.held;
        Some(p)
    }
}

/// A swarm with a larger MTU over `S`. See the [module documentation](self).
#[derive(Debug)]
pub struct FragSwarm<S: Swarm> {
    inner: S,
    mtu: usize,
    next_id: AtomicU32,
    reassembler: Mutex<Reassembler<S::Addr>>,
}

impl<S: Swarm> FragSwarm<S> {
    /// Fragments over `inner` with `config`.
    pub fn new(inner: S, mut config: FragConfig) -> Result<Self, FragError> {
        let inner_mtu = inner.mtu();
        if inner_mtu <= FRAGMENT_HEADER {
            return Err(FragError::InnerMtuTooSmall(inner_mtu));
        }
        let max = (inner_mtu - FRAGMENT_HEADER).saturating_mul(usize::from(u16::MAX));
        let max = max.min(u32::MAX as usize);
        if config.mtu > max {
            return Err(FragError::MtuTooLarge {
                mtu: config.mtu,
                max,
            });
        }
        // Whole messages always fit, whatever the configured MTU.
        config.mtu = config.mtu.max(inner_mtu - 1);
        Ok(Self {
            inner,
            mtu: config.mtu,
            next_id: AtomicU32::new(0),
            reassembler: Mutex::new(Reassembler::new(config)),
        })
    }

    /// The swarm underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// What reassembly did and holds now (incomplete messages past their time forgotten first).
    pub fn stats(&self) -> FragStats {
        let mut r = self.reassembler.lock().unwrap_or_else(|e| e.into_inner());
        r.expire(Instant::now());
        r.stats()
    }
}

#[async_trait]
impl<S: Swarm> Swarm for FragSwarm<S> {
    type Addr = S::Addr;

    async fn tell(&self, dst: &S::Addr, payload: Bytes) -> Result<(), SwarmError> {
        if payload.len() > self.mtu {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu: self.mtu,
            });
        }
        let inner_mtu = self.inner.mtu();
        if payload.len() < inner_mtu {
            let mut whole = BytesMut::with_capacity(payload.len() + 1);
            whole.put_u8(WHOLE);
            whole.put_slice(&payload);
            return self.inner.tell(dst, whole.freeze()).await;
        }
        let room = inner_mtu - FRAGMENT_HEADER;
        let count = payload.len().div_ceil(room);
        let (Ok(count), Ok(total)) = (u16::try_from(count), u32::try_from(payload.len())) else {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu: self.mtu,
            });
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        for (index, chunk) in payload.chunks(room).enumerate() {
            let mut frag = BytesMut::with_capacity(FRAGMENT_HEADER + chunk.len());
            frag.put_u8(FRAGMENT);
            frag.put_u32(id);
            frag.put_u16(index as u16);
            frag.put_u16(count);
            frag.put_u32(total);
            frag.put_slice(chunk);
            self.inner.tell(dst, frag.freeze()).await?;
        }
        Ok(())
    }

    async fn receive(&self) -> Result<Message<S::Addr>, SwarmError> {
        loop {
            let msg = self.inner.receive().await?;
            let pushed = self
                .reassembler
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&msg.src, Instant::now(), msg.payload.clone());
            match pushed {
                Ok(Some(payload)) => return Ok(Message::new(msg.src, msg.dst, payload)),
                Ok(None) => {}
                Err(why) => tracing::debug!(src = %msg.src, %why, "frag swarm: datagram dropped"),
            }
        }
    }

    fn local_addrs(&self) -> Vec<S::Addr> {
        self.inner.local_addrs()
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn parse_addr(&self, text: &str) -> Result<S::Addr, ParseAddrError> {
        self.inner.parse_addr(text)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        self.inner.close().await
    }
}

/// Asks pass through unfragmented: the inner swarm's own limits apply.
#[async_trait]
impl<S: AskSwarm> AskSwarm for FragSwarm<S> {
    async fn ask(&self, dst: &S::Addr, request: Bytes) -> Result<Bytes, SwarmError> {
        self.inner.ask(dst, request).await
    }

    async fn next_ask(&self) -> Result<Ask<S::Addr>, SwarmError> {
        self.inner.next_ask().await
    }
}

impl<S: SecureSwarm> SecureSwarm for FragSwarm<S> {
    type PublicKey = S::PublicKey;

    fn public_key(&self) -> S::PublicKey {
        self.inner.public_key()
    }

    fn lookup_public_key(&self, addr: &S::Addr) -> Result<S::PublicKey, SwarmError> {
        self.inner.lookup_public_key(addr)
    }
}
