//! Multiplexing: several logical swarms over one.
//!
//! A [`Mux`] owns a swarm and hands out logical swarms ([`MuxSwarm`]), each on a
//! [`Channel`] named by an integer or a string. Every message carries its channel in a short
//! header; the receiving mux routes it to the logical swarm open on that channel. A message for
//! a channel nobody has open is dropped (counted in [`MuxStats`], logged at debug level); an
//! ask for one is refused (the asker gets [`SwarmError::Rejected`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use ms_swarm::{AskSwarm, Swarm, mem::Realm, mux::{Channel, Mux}};
//!
//! let realm = Realm::new();
//! let (a, b) = (Mux::new_ask(realm.swarm()), Mux::new_ask(realm.swarm()));
//! let (chat_a, chat_b) = (a.open(Channel::name("chat")).unwrap(), b.open(Channel::name("chat")).unwrap());
//! let (rpc_a, rpc_b) = (a.open(Channel::id(7)).unwrap(), b.open(Channel::id(7)).unwrap());
//! chat_a.tell(&chat_b.local_addrs()[0], Bytes::from_static(b"hi")).await.unwrap();
//! assert_eq!(&chat_b.receive().await.unwrap().payload[..], b"hi");
//! let server = tokio::spawn(async move {
//!     let ask = rpc_b.next_ask().await.unwrap();
//!     ask.respond(Bytes::from_static(b"pong"));
//! });
//! assert_eq!(&rpc_a.ask(&chat_b.local_addrs()[0], Bytes::from_static(b"ping")).await.unwrap()[..], b"pong");
//! # server.await.unwrap();
//! # }
//! ```
//!
//! ## Wire format
//!
//! A header before every payload: `0x00 varint(id)` for an integer channel, `0x01 varint(len)
//! name` for a string channel (LEB128 varints, minimal encoding, names of at most 255 bytes).
//! A logical swarm's MTU is the inner MTU less its header.
//!
//! ## Lifetimes
//!
//! The mux runs one task reading the inner swarm's messages (and one its asks, with
//! [`Mux::new_ask`]); they stop when the mux and all its logical swarms are dropped, or the
//! inner swarm closes. Closing a logical swarm closes its channel only (it can be opened
//! again); [`Mux::close`] closes the inner swarm and with it every logical swarm.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};

/// The longest string channel name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The default queue length of each logical swarm (tells and asks each).
pub const DEFAULT_QUEUE_LEN: usize = 1024;

/// A logical swarm's name on the wire: an integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// An integer channel (a varint on the wire).
    Id(u64),
    /// A string channel (at most [`MAX_NAME_LEN`] bytes).
    Name(String),
}

impl Channel {
    /// The integer channel `id`.
    pub fn id(id: u64) -> Self {
        Self::Id(id)
    }

    /// The string channel `name`.
    pub fn name(name: impl Into<String>) -> Self {
        Self::Name(name.into())
    }

    fn header(&self) -> Result<Bytes, MuxError> {
        let mut b = BytesMut::new();
        match self {
            Self::Id(id) => {
                b.put_u8(0);
                put_varint(&mut b, *id);
            }
            Self::Name(name) => {
                if name.len() > MAX_NAME_LEN {
                    return Err(MuxError::NameTooLong(name.len()));
                }
                b.put_u8(1);
                put_varint(&mut b, name.len() as u64);
                b.put_slice(name.as_bytes());
            }
        }
        Ok(b.freeze())
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "#{id}"),
            Self::Name(name) => write!(f, "{name:?}"),
        }
    }
}

fn put_varint(b: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        b.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    b.put_u8(n as u8);
}

/// Reads a minimal LEB128 varint: its value and length.
fn varint(d: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &byte) in d.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return None;
        }
        n |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None; // not minimal
            }
            return Some((n, i + 1));
        }
    }
    None
}

/// The length of the channel header at the start of `payload`, when it is well formed.
fn header_len(payload: &[u8]) -> Option<usize> {
    let (&tag, rest) = payload.split_first()?;
    let (value, n) = varint(rest)?;
    match tag {
        0 => Some(1 + n),
        1 => {
            let len = usize::try_from(value).ok().filter(|&l| l <= MAX_NAME_LEN)?;
            let end = 1 + n + len;
            (end <= payload.len()).then_some(end)
        }
        _ => None,
    }
}

/// Why a channel could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MuxError {
    /// A logical swarm is already open on this channel.
    #[error("channel {0} is already open")]
    AlreadyOpen(Channel),
    /// A string channel name longer than [`MAX_NAME_LEN`].
    #[error("channel name of {0} bytes (at most {MAX_NAME_LEN})")]
    NameTooLong(usize),
}

/// What a [`Mux`] dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MuxStats {
    /// Messages and asks for a channel nobody has open.
    pub unknown_channel: u64,
    /// Messages and asks without a well-formed channel header.
    pub malformed: u64,
    /// Messages dropped because the logical swarm's queue was full.
    pub queue_full: u64,
}

struct Route<A> {
    serial: u64,
    tells: mpsc::Sender<Message<A>>,
    asks: mpsc::Sender<Ask<A>>,
}

struct Shared<S: Swarm> {
    inner: S,
    routes: Mutex<HashMap<Bytes, Route<S::Addr>>>,
    serial: AtomicU64,
    queue_len: usize,
    closed: watch::Sender<bool>,
    unknown: AtomicU64,
    malformed: AtomicU64,
    full: AtomicU64,
}

impl<S: Swarm> Shared<S> {
    fn routes(&self) -> MutexGuard<'_, HashMap<Bytes, Route<S::Addr>>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The route for the header of `payload`, and the payload after it.
    fn split(&self, payload: &Bytes) -> Option<(Bytes, Bytes)> {
        match header_len(payload) {
            Some(n) => Some((payload.slice(..n), payload.slice(n..))),
            None => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("mux: message without a channel header dropped");
                None
            }
        }
    }

    fn route_tell(&self, msg: Message<S::Addr>) {
        let Some((header, rest)) = self.split(&msg.payload) else {
            return;
        };
        let tx = self.routes().get(&header).map(|r| r.tells.clone());
        let Some(tx) = tx else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(src = %msg.src, "mux: message for an unknown channel dropped");
            return;
        };
        if tx.try_send(Message::new(msg.src, msg.dst, rest)).is_err() {
            self.full.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("mux: logical swarm's queue full, message dropped");
        }
    }

    fn route_ask(&self, ask: Ask<S::Addr>) {
        let Some((header, rest)) = self.split(ask.payload()) else {
            return; // dropping the ask refuses it
        };
        let tx = self.routes().get(&header).map(|r| r.asks.clone());
        let Some(tx) = tx else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(src = %ask.src(), "mux: ask for an unknown channel refused");
            return;
        };
        if tx.try_send(ask.with_payload(rest)).is_err() {
            self.full.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("mux: logical swarm's ask queue full, ask refused");
        }
    }
}

struct Core<S: Swarm> {
    shared: Arc<Shared<S>>,
    tasks: Vec<AbortHandle>,
}

impl<S: Swarm> Drop for Core<S> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Several logical swarms over one swarm. Cheap to clone. See the
/// [module documentation](self).
pub struct Mux<S: Swarm> {
    core: Arc<Core<S>>,
}

impl<S: Swarm> Clone for Mux<S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

impl<S: Swarm> fmt::Debug for Mux<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mux").field("stats", &self.stats()).finish()
    }
}

fn shared<S: Swarm>(inner: S, queue_len: usize) -> Arc<Shared<S>> {
    Arc::new(Shared {
        inner,
        routes: Mutex::new(HashMap::new()),
        serial: AtomicU64::new(0),
        queue_len: queue_len.max(1),
        closed: watch::channel(false).0,
        unknown: AtomicU64::new(0),
        malformed: AtomicU64::new(0),
        full: AtomicU64::new(0),
    })
}

fn spawn_tells<S: Swarm + 'static>(shared: &Arc<Shared<S>>) -> AbortHandle {
    let shared = shared.clone();
    tokio::spawn(async move {
        loop {
            match shared.inner.receive().await {
                Ok(msg) => shared.route_tell(msg),
                Err(e) => {
                    tracing::debug!(error = %e, "mux: the inner swarm stopped");
                    shared.closed.send_replace(true);
                    return;
                }
            }
        }
    })
    .abort_handle()
}

impl<S: Swarm + 'static> Mux<S> {
    /// Multiplexes `inner`'s tells. Logical swarms can ask, but incoming asks are not served:
    /// use [`Mux::new_ask`] for an ask swarm. Spawns a task: call it within a tokio runtime.
    pub fn new(inner: S) -> Self {
        Self::with_queue_len(inner, DEFAULT_QUEUE_LEN)
    }

    /// Like [`Mux::new`], with another queue length per logical swarm.
    pub fn with_queue_len(inner: S, queue_len: usize) -> Self {
        let shared = shared(inner, queue_len);
        let tasks = vec![spawn_tells(&shared)];
        Self {
            core: Arc::new(Core { shared, tasks }),
        }
    }
}

impl<S: AskSwarm + 'static> Mux<S> {
    /// Multiplexes `inner`'s tells and asks. Spawns two tasks: call it within a tokio runtime.
    pub fn new_ask(inner: S) -> Self {
        let shared = shared(inner, DEFAULT_QUEUE_LEN);
        let asks = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    match shared.inner.next_ask().await {
                        Ok(ask) => shared.route_ask(ask),
                        Err(e) => {
                            tracing::debug!(error = %e, "mux: the inner swarm stopped asks");
                            shared.closed.send_replace(true);
                            return;
                        }
                    }
                }
            })
            .abort_handle()
        };
        let tasks = vec![spawn_tells(&shared), asks];
        Self {
            core: Arc::new(Core { shared, tasks }),
        }
    }
}

impl<S: Swarm> Mux<S> {
    /// Opens a logical swarm on `channel`.
    pub fn open(&self, channel: Channel) -> Result<MuxSwarm<S>, MuxError> {
        let header = channel.header()?;
        let shared = &self.core.shared;
        let (tell_tx, tell_rx) = mpsc::channel(shared.queue_len);
        let (ask_tx, ask_rx) = mpsc::channel(shared.queue_len);
        let serial = shared.serial.fetch_add(1, Ordering::Relaxed);
        {
            let mut routes = shared.routes();
            if routes.contains_key(&header) {
                return Err(MuxError::AlreadyOpen(channel));
            }
            routes.insert(
                header.clone(),
                Route {
                    serial,
                    tells: tell_tx,
                    asks: ask_tx,
                },
            );
        }
        Ok(MuxSwarm {
            core: self.core.clone(),
            channel,
            header,
            serial,
            tells: tokio::sync::Mutex::new(tell_rx),
            asks: tokio::sync::Mutex::new(ask_rx),
            closed: watch::channel(false).0,
        })
    }

    /// What was dropped so far.
    pub fn stats(&self) -> MuxStats {
        let s = &self.core.shared;
        MuxStats {
            unknown_channel: s.unknown.load(Ordering::Relaxed),
            malformed: s.malformed.load(Ordering::Relaxed),
            queue_full: s.full.load(Ordering::Relaxed),
        }
    }

    /// The swarm underneath.
    pub fn inner(&self) -> &S {
        &self.core.shared.inner
    }

    /// Closes the inner swarm, and so every logical swarm.
    pub async fn close(&self) -> Result<(), SwarmError> {
        self.core.shared.closed.send_replace(true);
        self.core.shared.inner.close().await
    }
}

/// One logical swarm of a [`Mux`]: a full [`Swarm`] (and [`AskSwarm`], [`SecureSwarm`] when
/// the inner swarm is), in the inner swarm's address space.
pub struct MuxSwarm<S: Swarm> {
    core: Arc<Core<S>>,
    channel: Channel,
    header: Bytes,
    serial: u64,
    tells: tokio::sync::Mutex<mpsc::Receiver<Message<S::Addr>>>,
    asks: tokio::sync::Mutex<mpsc::Receiver<Ask<S::Addr>>>,
    closed: watch::Sender<bool>,
}

impl<S: Swarm> fmt::Debug for MuxSwarm<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuxSwarm")
            .field("channel", &self.channel)
            .finish()
    }
}

impl<S: Swarm> MuxSwarm<S> {
    /// The channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    fn shared(&self) -> &Shared<S> {
        &self.core.shared
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow() || *self.shared().closed.borrow()
    }

    fn framed(&self, payload: &[u8]) -> Result<Bytes, SwarmError> {
        let mtu = self.mtu();
        if payload.len() > mtu {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu,
            });
        }
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let mut b = BytesMut::with_capacity(self.header.len() + payload.len());
        b.put_slice(&self.header);
        b.put_slice(payload);
        Ok(b.freeze())
    }

    /// Waits on `queue` until an item comes, this swarm or the mux closes.
    async fn next<T>(
        &self,
        queue: &tokio::sync::Mutex<mpsc::Receiver<T>>,
    ) -> Result<T, SwarmError> {
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let (mut own, mut all) = (self.closed.subscribe(), self.shared().closed.subscribe());
        let closed = async {
            tokio::select! {
                _ = own.wait_for(|c| *c) => {}
                _ = all.wait_for(|c| *c) => {}
            }
        };
        tokio::pin!(closed);
        let mut rx = tokio::select! {
            rx = queue.lock() => rx,
            () = &mut closed => return Err(SwarmError::Closed),
        };
        tokio::select! {
            biased;
            () = &mut closed => Err(SwarmError::Closed),
            item = rx.recv() => item.ok_or(SwarmError::Closed),
        }
    }

    fn release(&self) {
        self.closed.send_replace(true);
        {
            let mut routes = self.shared().routes();
            if routes
                .get(&self.header)
                .is_some_and(|r| r.serial == self.serial)
            {
                routes.remove(&self.header);
            }
        }
        // Refuse the asks already queued, so their askers do not wait for a closed channel.
        if let Ok(mut asks) = self.asks.try_lock() {
            asks.close();
            while asks.try_recv().is_ok() {}
        }
    }
}

impl<S: Swarm> Drop for MuxSwarm<S> {
    fn drop(&mut self) {
        self.release();
    }
}

#[async_trait]
impl<S: Swarm> Swarm for MuxSwarm<S> {
    type Addr = S::Addr;

    async fn tell(&self, dst: &S::Addr, payload: Bytes) -> Result<(), SwarmError> {
        let framed = self.framed(&payload)?;
        self.shared().inner.tell(dst, framed).await
    }

    async fn receive(&self) -> Result<Message<S::Addr>, SwarmError> {
        self.next(&self.tells).await
    }

    fn local_addrs(&self) -> Vec<S::Addr> {
        self.shared().inner.local_addrs()
    }

    fn mtu(&self) -> usize {
        self.shared().inner.mtu().saturating_sub(self.header.len())
    }

    fn parse_addr(&self, text: &str) -> Result<S::Addr, ParseAddrError> {
        self.shared().inner.parse_addr(text)
    }

    /// Closes this channel only; the inner swarm stays open ([`Mux::close`] closes it).
    async fn close(&self) -> Result<(), SwarmError> {
        self.release();
        Ok(())
    }
}

#[async_trait]
impl<S: AskSwarm> AskSwarm for MuxSwarm<S> {
    async fn ask(&self, dst: &S::Addr, request: Bytes) -> Result<Bytes, SwarmError> {
        let framed = self.framed(&request)?;
        self.shared().inner.ask(dst, framed).await
    }

    async fn next_ask(&self) -> Result<Ask<S::Addr>, SwarmError> {
        self.next(&self.asks).await
    }
}

impl<S: SecureSwarm> SecureSwarm for MuxSwarm<S> {
    type PublicKey = S::PublicKey;

    fn public_key(&self) -> S::PublicKey {
        self.shared().inner.public_key()
    }

    fn lookup_public_key(&self, addr: &S::Addr) -> Result<S::PublicKey, SwarmError> {
        self.shared().inner.lookup_public_key(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_must_be_minimal() {
        for n in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = BytesMut::new();
            put_varint(&mut b, n);
            assert_eq!(varint(&b), Some((n, b.len())));
        }
        assert_eq!(varint(&[0x80, 0x00]), None, "non-minimal");
        assert_eq!(varint(&[0x80]), None, "truncated");
        assert_eq!(varint(&[0xff; 10]), None, "overflow");
        assert_eq!(
            varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            None
        );
    }

    #[test]
    fn headers_parse() {
        let h = Channel::name("chat").header().unwrap();
        assert_eq!(&h[..], b"\x01\x04chat");
        assert_eq!(header_len(&h), Some(6));
        assert_eq!(header_len(b"\x01\x05chat"), None, "name runs past the end");
        assert_eq!(header_len(b"\x02\x00"), None, "unknown tag");
        assert_eq!(header_len(b""), None);
        assert_eq!(header_len(&Channel::id(300).header().unwrap()), Some(3));
        assert_eq!(
            Channel::name("x".repeat(256)).header(),
            Err(MuxError::NameTooLong(256))
        );
    }
}
