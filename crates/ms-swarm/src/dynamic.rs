//! Type erasure: any swarm as a swarm of [`DynAddr`], so swarms of different address types can
//! sit side by side (as in [`multi`](crate::multi)).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use ms_swarm::{Swarm, dynamic::{DynSwarm, erase}, mem::Realm};
//!
//! let realm = Realm::new();
//! let (a, b): (DynSwarm, DynSwarm) = (erase(realm.swarm()), erase(realm.swarm()));
//! let dst = b.local_addrs()[0].clone();
//! a.tell(&dst, Bytes::from_static(b"hi")).await.unwrap();
//! assert_eq!(b.receive().await.unwrap().src.to_string(), a.local_addrs()[0].to_string());
//! # }
//! ```

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Addr, Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, Swarm, SwarmError};

/// An address of any swarm: its canonical text, and the typed address inside for the swarm
/// that made it.
///
/// Canonical text is identity: equality, ordering and hashing use the text only. Two
/// `DynAddr`s of the same text are the same address, whatever swarm made them.
#[derive(Clone)]
pub struct DynAddr {
    text: Arc<str>,
    inner: Arc<dyn Any + Send + Sync>,
}

impl DynAddr {
    /// Wraps a typed address.
    pub fn new<A: Addr>(addr: A) -> Self {
        Self {
            text: addr.to_string().into(),
            inner: Arc::new(addr),
        }
    }

    /// The canonical text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The typed address, when it is an `A`.
    pub fn downcast_ref<A: Addr>(&self) -> Option<&A> {
        self.inner.downcast_ref::<A>()
    }
}

impl PartialEq for DynAddr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for DynAddr {}

impl Hash for DynAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for DynAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl PartialOrd for DynAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DynAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DynAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynAddr({:?})", &*self.text)
    }
}

/// A swarm of [`DynAddr`], whatever its real address type.
pub type DynSwarm = Arc<dyn Swarm<Addr = DynAddr>>;
/// An ask swarm of [`DynAddr`].
pub type DynAskSwarm = Arc<dyn AskSwarm<Addr = DynAddr>>;

/// `swarm` with its addresses erased to [`DynAddr`]. It is a [`Swarm`], and an [`AskSwarm`] or
/// [`SecureSwarm`] when `swarm` is.
pub fn erase<S: Swarm + 'static>(swarm: S) -> Arc<Erased<S>> {
    Arc::new(Erased(swarm))
}

/// A swarm whose addresses are [`DynAddr`]; made by [`erase`].
#[derive(Debug)]
pub struct Erased<S>(S);

impl<S: Swarm> Erased<S> {
    /// The swarm inside.
    pub fn inner(&self) -> &S {
        &self.0
    }

    /// The typed address behind `addr`: the one inside when it is of this swarm's type, or
    /// else its text parsed by this swarm.
    fn typed(&self, addr: &DynAddr) -> Result<S::Addr, SwarmError> {
        match addr.downcast_ref::<S::Addr>() {
            Some(a) => Ok(a.clone()),
            None => Ok(self.0.parse_addr(addr.text())?),
        }
    }
}

#[async_trait]
impl<S: Swarm + 'static> Swarm for Erased<S> {
    type Addr = DynAddr;

    async fn tell(&self, dst: &DynAddr, payload: Bytes) -> Result<(), SwarmError> {
        if payload.len() > self.0.mtu() {
            return Err(SwarmError::MtuExceeded {
                size: payload.len(),
                mtu: self.0.mtu(),
            });
        }
        let dst = self.typed(dst)?;
        self.0.tell(&dst, payload).await
    }

    async fn receive(&self) -> Result<Message<DynAddr>, SwarmError> {
        Ok(self.0.receive().await?.map_addrs(DynAddr::new))
    }

    fn local_addrs(&self) -> Vec<DynAddr> {
        self.0.local_addrs().into_iter().map(DynAddr::new).collect()
    }

    fn mtu(&self) -> usize {
        self.0.mtu()
    }

    fn parse_addr(&self, text: &str) -> Result<DynAddr, ParseAddrError> {
        self.0.parse_addr(text).map(DynAddr::new)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        self.0.close().await
    }
}

#[async_trait]
impl<S: AskSwarm + 'static> AskSwarm for Erased<S> {
    async fn ask(&self, dst: &DynAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        let dst = self.typed(dst)?;
        self.0.ask(&dst, request).await
    }

    async fn next_ask(&self) -> Result<Ask<DynAddr>, SwarmError> {
        Ok(self.0.next_ask().await?.map_addrs(DynAddr::new))
    }
}

impl<S: SecureSwarm + 'static> SecureSwarm for Erased<S> {
    type PublicKey = S::PublicKey;

    fn public_key(&self) -> S::PublicKey {
        self.0.public_key()
    }

    fn lookup_public_key(&self, addr: &DynAddr) -> Result<S::PublicKey, SwarmError> {
        let addr = self.typed(addr)?;
        self.0.lookup_public_key(&addr)
    }
}
