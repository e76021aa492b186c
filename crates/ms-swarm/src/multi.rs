//! Named subswarms side by side in one address space.
//!
//! A [`MultiSwarm`] holds swarms of any address types under names the application chooses
//! (`mem1`, `udp`, `ms` …): a new transport, or a new version of one, joins under a new name
//! while the old one keeps running. An address is the subswarm's name and its address there
//! ([`MultiAddr`], text `<name>:<inner text>`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use ms_swarm::{Swarm, mem::Realm, multi::MultiSwarm};
//!
//! let (one, two) = (Realm::new(), Realm::new());
//! let node = |_| MultiSwarm::builder().ask_swarm("mem1", one.swarm()).ask_swarm("mem2", two.swarm()).build();
//! let (a, b) = (node(0).unwrap(), node(1).unwrap());
//! let dst = b.parse_addr("mem2:1").unwrap(); // b's node in the second realm
//! a.tell(&dst, Bytes::from_static(b"hi")).await.unwrap();
//! let msg = b.receive().await.unwrap();
//! assert_eq!((msg.src.to_string(), msg.dst.to_string()), ("mem2:0".into(), "mem2:1".into()));
//! # }
//! ```
//!
//! ## Address text and multiserver addresses
//!
//! The text is `<name>:<inner>`, where `<inner>` is the subswarm's canonical text with `!`,
//! `~` and `;` escaped by a `!`, and the name follows the multiserver name grammar (an ASCII
//! letter, then letters, digits, `-`, `+` or `.`). So a multi address whose inner text has no
//! `;` and no control character *is* a one-section multiserver address: `ms_core::Section`
//! parses it with the subswarm's name as its name and the inner text as its rest, and prints it
//! back the same. (`!;` is the multiserver-address spec's escape; neither the JavaScript
//! reference nor ms-core accepts a `;` inside a section.) Parsing is strict: a raw `~` or `;`, a
//! `!` before anything but `!`, `~` or `;`, or an unknown name is an error.
//!
//! ## Semantics
//!
//! [`mtu`](Swarm::mtu) is the smallest of the subswarms'; [`local_addrs`](Swarm::local_addrs)
//! is the union; [`receive`](Swarm::receive) and [`next_ask`](AskSwarm::next_ask) take the next
//! message or request from any subswarm (cancel-safe when the subswarms are); an ask to a
//! subswarm added without asks fails with [`SwarmError::Unreachable`]; [`close`](Swarm::close)
//! closes every subswarm. A multi swarm made with [`MultiSwarm::secure_builder`] is a
//! [`SecureSwarm`]: one identity, which every secure subswarm must share (checked when it is
//! built), and keys looked up in the subswarm an address names.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::task::Poll;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::dynamic::{DynAddr, DynAskSwarm, DynSwarm, erase};
use crate::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};

/// An address of a [`MultiSwarm`]: a subswarm's name and an address in it.
///
/// Equality, ordering and hashing follow the canonical text.
#[derive(Clone)]
pub struct MultiAddr {
    text: Arc<str>,
    name: Arc<str>,
    inner: DynAddr,
}

impl MultiAddr {
    /// The address `inner` of the subswarm `name`.
    pub fn new(name: &str, inner: DynAddr) -> Self {
        let mut text = String::with_capacity(name.len() + 1 + inner.text().len());
        text.push_str(name);
        text.push(':');
        for c in inner.text().chars() {
            if matches!(c, '!' | '~' | ';') {
                text.push('!');
            }
            text.push(c);
        }
        Self {
            text: text.into(),
            name: name.into(),
            inner,
        }
    }

    /// The subswarm's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address inside the subswarm.
    pub fn inner(&self) -> &DynAddr {
        &self.inner
    }
}

impl PartialEq for MultiAddr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for MultiAddr {}

impl Hash for MultiAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for MultiAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl PartialOrd for MultiAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MultiAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for MultiAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiAddr({:?})", &*self.text)
    }
}

/// Whether `name` is a valid subswarm name (the multiserver name grammar).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
}

/// Splits multi-address text into the name and the unescaped inner text.
pub fn split_text(text: &str) -> Result<(&str, String), ParseAddrError> {
    let Some((name, escaped)) = text.split_once(':') else {
        return Err(ParseAddrError::new(text, "no `:` after a subswarm name"));
    };
    if !is_valid_name(name) {
        return Err(ParseAddrError::new(text, "invalid subswarm name"));
    }
    let mut inner = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some(e @ ('!' | '~' | ';')) => inner.push(e),
                Some(_) => return Err(ParseAddrError::new(text, "`!` escapes only `!`, `~`, `;`")),
                None => return Err(ParseAddrError::new(text, "`!` at the end escapes nothing")),
            },
            '~' | ';' => return Err(ParseAddrError::new(text, "unescaped `~` or `;`")),
            c => inner.push(c),
        }
    }
    Ok((name, inner))
}

/// Why a [`MultiSwarm`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultiError {
    /// A name outside the multiserver name grammar.
    #[error("invalid subswarm name `{0}` (an ASCII letter, then letters, digits, `-`, `+`, `.`)")]
    InvalidName(String),
    /// Two subswarms under one name.
    #[error("two subswarms named `{0}`")]
    DuplicateName(String),
    /// No subswarm at all.
    #[error("a multi swarm needs at least one subswarm")]
    Empty,
    /// A secure subswarm whose public key is not the multi swarm's identity.
    #[error("the subswarm `{0}` has another public key than the multi swarm's")]
    KeyMismatch(String),
}

/// The key type of a multi swarm without an identity: such a swarm is not a [`SecureSwarm`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKey;

type DynSecure<K> = Arc<dyn SecureSwarm<Addr = DynAddr, PublicKey = K>>;

struct Sub<K> {
    name: Arc<str>,
    swarm: DynSwarm,
    asks: Option<DynAskSwarm>,
    keys: Option<DynSecure<K>>,
}

/// Collects the subswarms of a [`MultiSwarm`].
pub struct MultiBuilder<K = NoKey> {
    identity: K,
    subs: Vec<Sub<K>>,
    error: Option<MultiError>,
}

impl<K> fmt::Debug for MultiBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiBuilder")
            .field(
                "names",
                &self.subs.iter().map(|s| &*s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<K: 'static> MultiBuilder<K> {
    fn add(
        mut self,
        name: &str,
        swarm: DynSwarm,
        asks: Option<DynAskSwarm>,
        keys: Option<DynSecure<K>>,
    ) -> Self {
        if self.error.is_none() {
            if !is_valid_name(name) {
                self.error = Some(MultiError::InvalidName(name.into()));
            } else if self.subs.iter().any(|s| &*s.name == name) {
                self.error = Some(MultiError::DuplicateName(name.into()));
            }
        }
        self.subs.push(Sub {
            name: name.into(),
            swarm,
            asks,
            keys,
        });
        self
    }

    /// Adds a subswarm without asks (asks to its addresses fail).
    pub fn swarm<S: Swarm + 'static>(self, name: &str, swarm: S) -> Self {
        self.add(name, erase(swarm), None, None)
    }

    /// Adds a subswarm with asks.
    pub fn ask_swarm<S: AskSwarm + 'static>(self, name: &str, swarm: S) -> Self {
        let erased = erase(swarm);
        self.add(name, erased.clone(), Some(erased), None)
    }

    /// The multi swarm, or why the names or keys are wrong.
    pub fn build(self) -> Result<MultiSwarm<K>, MultiError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.subs.is_empty() {
            return Err(MultiError::Empty);
        }
        Ok(MultiSwarm {
            identity: self.identity,
            subs: self.subs,
            turn: AtomicUsize::new(0),
            closed: watch::channel(false).0,
        })
    }
}

impl<K: Clone + PartialEq + 'static> MultiBuilder<K> {
    fn check_key(mut self, name: &str, key: &K) -> Self {
        if self.error.is_none() && *key != self.identity {
            self.error = Some(MultiError::KeyMismatch(name.into()));
        }
        self
    }

    /// Adds a secure subswarm without asks; its public key must be the multi swarm's.
    pub fn secure_swarm<S: SecureSwarm<PublicKey = K> + 'static>(
        self,
        name: &str,
        swarm: S,
    ) -> Self {
        let key = swarm.public_key();
        let erased = erase(swarm);
        self.check_key(name, &key)
            .add(name, erased.clone(), None, Some(erased))
    }

    /// Adds a secure subswarm with asks; its public key must be the multi swarm's.
    pub fn secure_ask_swarm<S>(self, name: &str, swarm: S) -> Self
    where
        S: AskSwarm + SecureSwarm<PublicKey = K> + 'static,
    {
        let key = swarm.public_key();
        let erased = erase(swarm);
        self.check_key(name, &key)
            .add(name, erased.clone(), Some(erased.clone()), Some(erased))
    }
}

/// Named subswarms in one address space. See the [module documentation](self).
///
/// `K` is the node's public key type: a multi swarm built with [`MultiSwarm::secure_builder`]
/// is a [`SecureSwarm`] with one identity across its secure subswarms.
pub struct MultiSwarm<K = NoKey> {
    identity: K,
    subs: Vec<Sub<K>>,
    turn: AtomicUsize,
    closed: watch::Sender<bool>,
}

impl<K> fmt::Debug for MultiSwarm<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiSwarm")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, SwarmError>> + Send + 'a>>;

impl MultiSwarm {
    /// A builder to add named subswarms to.
    pub fn builder() -> MultiBuilder {
        MultiBuilder {
            identity: NoKey,
            subs: Vec::new(),
            error: None,
        }
    }

    /// A builder for a secure multi swarm whose identity is `public_key`: every secure
    /// subswarm added must have this key. Subswarms added without keys answer
    /// [`SwarmError::KeyUnknown`] for their addresses.
    pub fn secure_builder<K>(public_key: K) -> MultiBuilder<K> {
        MultiBuilder {
            identity: public_key,
            subs: Vec::new(),
            error: None,
        }
    }
}

impl<K> MultiSwarm<K> {
    /// The subswarms' names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.subs.iter().map(|s| &*s.name)
    }

    fn sub(&self, addr: &MultiAddr) -> Result<&Sub<K>, SwarmError> {
        self.subs
            .iter()
            .find(|s| s.name == addr.name)
            .ok_or_else(|| {
                SwarmError::InvalidAddress(ParseAddrError::new(
                    &addr.text,
                    "no subswarm of this name",
                ))
            })
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// The first of `futs` to finish, polled from a rotating start so no subswarm starves.
    /// Dropping the others is cancel-safe when each subswarm's call is.
    async fn first<'a, T: 'a>(
        &'a self,
        mut futs: Vec<(Arc<str>, Boxed<'a, T>)>,
    ) -> Result<(Arc<str>, T), SwarmError> {
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let mut on_close = self.closed.subscribe();
        let closed = on_close.wait_for(|c| *c);
        tokio::pin!(closed);
        let start = self.turn.fetch_add(1, AtomicOrdering::Relaxed);
        let n = futs.len();
        let next = std::future::poll_fn(|cx| {
            for k in 0..n {
                let (name, fut) = &mut futs[(start + k) % n];
                if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                    return Poll::Ready(out.map(|v| (name.clone(), v)));
                }
            }
            Poll::Pending
        });
        tokio::select! {
            biased;
            _ = &mut closed => Err(SwarmError::Closed),
            out = next => out,
        }
    }
}

#[async_trait]
impl<K: Send + Sync + 'static> Swarm for MultiSwarm<K> {
    type Addr = MultiAddr;

    async fn tell(&self, dst: &MultiAddr, payload: Bytes) -> Result<(), SwarmError> {
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
        self.sub(dst)?.swarm.tell(&dst.inner, payload).await
    }

    async fn receive(&self) -> Result<Message<MultiAddr>, SwarmError> {
        let futs = self
            .subs
            .iter()
            .map(|s| (s.name.clone(), s.swarm.receive()))
            .collect();
        let (name, msg) = self.first(futs).await?;
        Ok(msg.map_addrs(|a| MultiAddr::new(&name, a)))
    }

    fn local_addrs(&self) -> Vec<MultiAddr> {
        let mut seen = HashSet::new();
        self.subs
            .iter()
            .flat_map(|s| {
                s.swarm
                    .local_addrs()
                    .into_iter()
                    .map(|a| MultiAddr::new(&s.name, a))
            })
            .filter(|a| seen.insert(a.clone()))
            .collect()
    }

    fn mtu(&self) -> usize {
        self.subs.iter().map(|s| s.swarm.mtu()).min().unwrap_or(0)
    }

    fn parse_addr(&self, text: &str) -> Result<MultiAddr, ParseAddrError> {
        let (name, inner) = split_text(text)?;
        let sub = self
            .subs
            .iter()
            .find(|s| &*s.name == name)
            .ok_or_else(|| ParseAddrError::new(text, format!("no subswarm named `{name}`")))?;
        let inner = sub
            .swarm
            .parse_addr(&inner)
            .map_err(|e| ParseAddrError::new(text, format!("in `{name}`: {}", e.reason)))?;
        Ok(MultiAddr::new(name, inner))
    }

    async fn close(&self) -> Result<(), SwarmError> {
        self.closed.send_replace(true);
        let mut result = Ok(());
        for sub in &self.subs {
            if let Err(e) = sub.swarm.close().await {
                result = Err(e);
            }
        }
        result
    }
}

#[async_trait]
impl<K: Send + Sync + 'static> AskSwarm for MultiSwarm<K> {
    async fn ask(&self, dst: &MultiAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        if self.is_closed() {
            return Err(SwarmError::Closed);
        }
        let sub = self.sub(dst)?;
        match &sub.asks {
            Some(asks) => asks.ask(&dst.inner, request).await,
            None => Err(SwarmError::unreachable(
                dst,
                Some(format!("the subswarm `{}` has no asks", sub.name).into()),
            )),
        }
    }

    async fn next_ask(&self) -> Result<Ask<MultiAddr>, SwarmError> {
        let futs: Vec<_> = self
            .subs
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.asks.as_ref()?.next_ask())))
            .collect();
        let futs = if futs.is_empty() {
            // No subswarm serves asks: wait for the close.
            vec![(
                Arc::from(""),
                Box::pin(std::future::pending()) as Boxed<'_, Ask<DynAddr>>,
            )]
        } else {
            futs
        };
        let (name, ask) = self.first(futs).await?;
        Ok(ask.map_addrs(|a| MultiAddr::new(&name, a)))
    }
}

impl<K> SecureSwarm for MultiSwarm<K>
where
    K: Clone + Eq + std::hash::Hash + fmt::Debug + Send + Sync + 'static,
{
    type PublicKey = K;

    fn public_key(&self) -> K {
        self.identity.clone()
    }

    fn lookup_public_key(&self, addr: &MultiAddr) -> Result<K, SwarmError> {
        match &self.sub(addr)?.keys {
            Some(keys) => keys.lookup_public_key(&addr.inner),
            None => Err(SwarmError::key_unknown(addr)),
        }
    }
}
