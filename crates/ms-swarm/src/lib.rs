//! # ms-swarm: messages between peers, not only streams
//!
//! A *swarm* is one node's view of an address space in which nodes exchange discrete messages
//! (the model of go-p2p). Where `ms-core` hands out reliable byte streams, a swarm offers:
//!
//! - [`Swarm`]: [`tell`](Swarm::tell) a message to an address, best effort and bounded by
//!   [`mtu`](Swarm::mtu); [`receive`](Swarm::receive) the next message addressed to this node;
//!   the node's own addresses; parsing an address from its canonical text; closing.
//! - [`AskSwarm`]: reliable request/response: [`ask`](AskSwarm::ask) and, on the other side,
//!   [`next_ask`](AskSwarm::next_ask) (or the [`serve_ask`] loop) answering each [`Ask`].
//! - [`SecureSwarm`]: the node's own public key, and the key behind any address it has heard
//!   from, answered from memory (no I/O) so a message handler can always ask.
//!
//! Swarms compose: a swarm used underneath another is simply called its transport. This crate
//! has [`mem`] (an in-process realm with seeded faults), [`multi`] (named subswarms side by
//! side), [`frag`] (a larger MTU over any swarm), [`mux`] (logical swarms over one) and
//! [`dynamic`] (type erasure). The conformance suite every swarm runs is in `ms-testkit`.
//!
//! ## Addresses
//!
//! Every swarm has its own address type ([`Swarm::Addr`]). Its [`Display`]
//! form is its *canonical text*: [`Swarm::parse_addr`] of that text gives back an equal
//! address, and two addresses are the same address exactly when their canonical texts are
//! equal. Parsing is a method of the swarm, not a global registry: only the swarm that
//! produced an address needs to understand its text.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// The README's example compiles and runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod ask;
pub mod dynamic;
mod error;
pub mod frag;
pub mod mem;
pub mod multi;
pub mod mux;
mod rng;

use std::fmt::{Debug, Display};
use std::hash::Hash;

use async_trait::async_trait;
use bytes::Bytes;

pub use ask::{Ask, AskReply, serve_ask};
pub use error::{BoxError, ParseAddrError, SwarmError};
pub use rng::SeedRng;

/// What every swarm address is: cheap to clone, comparable, hashable, printable as its
/// canonical text ([`Display`]), and shareable between tasks.
///
/// Implemented for every type with these properties; a swarm's address type only has to derive
/// or implement them so that equality, ordering and hashing agree with the canonical text.
pub trait Addr: Clone + Eq + Ord + Hash + Debug + Display + Send + Sync + 'static {}

impl<T> Addr for T where T: Clone + Eq + Ord + Hash + Debug + Display + Send + Sync + 'static {}

/// One message: who sent it, to which of our addresses, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message<A> {
    /// The sender, as this swarm knows it: telling or asking this address reaches the sender.
    pub src: A,
    /// The address the sender used for this node (one of its [`Swarm::local_addrs`], or the
    /// one the transport delivered it to).
    pub dst: A,
    /// The bytes, exactly as given to [`Swarm::tell`] or [`AskSwarm::ask`].
    pub payload: Bytes,
}

impl<A> Message<A> {
    /// A message from `src` to `dst`.
    pub fn new(src: A, dst: A, payload: Bytes) -> Self {
        Self { src, dst, payload }
    }

    /// The same message with its addresses mapped, as a swarm built on another one does when it
    /// hands on what its transport received.
    pub fn map_addrs<B>(self, mut f: impl FnMut(A) -> B) -> Message<B> {
        Message {
            src: f(self.src),
            dst: f(self.dst),
            payload: self.payload,
        }
    }
}

/// One node's view of an address space where nodes exchange messages.
///
/// All methods take `&self`: a swarm is shared between the tasks that tell and the tasks that
/// receive (wrap it in an [`Arc`](std::sync::Arc)).
#[async_trait]
pub trait Swarm: Send + Sync {
    /// The addresses of this swarm's address space.
    type Addr: Addr;

    /// Sends `payload` to `dst`, best effort.
    ///
    /// `Ok(())` means the message was set in flight, not that it arrived: it may be lost,
    /// duplicated or reordered, as the swarm's transport allows. An error means it could not be
    /// set in flight: [`SwarmError::MtuExceeded`] when `payload` is longer than
    /// [`mtu`](Swarm::mtu) (always checked, before anything else), [`SwarmError::Closed`]
    /// after [`close`](Swarm::close), or a transport error.
    async fn tell(&self, dst: &Self::Addr, payload: Bytes) -> Result<(), SwarmError>;

    /// Waits for the next message sent to this node.
    ///
    /// Each message is delivered to exactly one caller, however many receive at once.
    /// Cancel-safe: dropping the future before it completes loses no message.
    /// After [`close`](Swarm::close), and when a close happens while waiting:
    /// [`SwarmError::Closed`].
    async fn receive(&self) -> Result<Message<Self::Addr>, SwarmError>;

    /// The addresses other nodes can use to reach this one; at least one while open.
    fn local_addrs(&self) -> Vec<Self::Addr>;

    /// The largest payload [`tell`](Swarm::tell) accepts, in bytes.
    fn mtu(&self) -> usize;

    /// Parses the canonical text of an address of this swarm (what its `Display` prints).
    fn parse_addr(&self, text: &str) -> Result<Self::Addr, ParseAddrError>;

    /// Closes the swarm: waiting and later calls fail with [`SwarmError::Closed`], resources
    /// are released. Calling it again is not an error.
    async fn close(&self) -> Result<(), SwarmError>;
}

/// A swarm with reliable request/response besides best-effort messages.
#[async_trait]
pub trait AskSwarm: Swarm {
    /// Sends `request` to `dst` and waits for its answer.
    ///
    /// Reliable: the request arrives once or the call fails. Cancel it by dropping the future
    /// (the peer's answer, if it comes, is discarded); bound it with
    /// [`tokio::time::timeout`] or the swarm's own deadline ([`SwarmError::Timeout`]). When the
    /// peer's handler refuses to answer (drops the [`Ask`] or calls [`Ask::reject`]):
    /// [`SwarmError::Rejected`].
    async fn ask(&self, dst: &Self::Addr, request: Bytes) -> Result<Bytes, SwarmError>;

    /// Waits for the next request sent to this node; answer it with [`Ask::respond`].
    ///
    /// Each request goes to exactly one caller. Cancel-safe, like [`Swarm::receive`].
    async fn next_ask(&self) -> Result<Ask<Self::Addr>, SwarmError>;
}

/// A swarm that knows who is behind an address: its own public key, and the key of every peer
/// it has heard from.
pub trait SecureSwarm: Swarm {
    /// The kind of key that identifies a node (an Ed25519 key for SSB-style swarms).
    type PublicKey: Clone + Eq + Hash + Debug + Send + Sync + 'static;

    /// This node's own public key.
    fn public_key(&self) -> Self::PublicKey;

    /// The key behind `addr`, from memory: never does I/O, so it can be called while handling
    /// a message, and it always knows the key of the `src` of a message this swarm delivered.
    /// [`SwarmError::KeyUnknown`] for an address it has not heard from and cannot derive a key
    /// from.
    fn lookup_public_key(&self, addr: &Self::Addr) -> Result<Self::PublicKey, SwarmError>;
}

/// A secure swarm with asks: what an application that needs both usually wants.
pub trait SecureAskSwarm: SecureSwarm + AskSwarm {}

impl<T: SecureSwarm + AskSwarm> SecureAskSwarm for T {}

// A shared swarm is a swarm: wrappers (multi, frag, mux) and tests can hold an `Arc`.
#[async_trait]
impl<S: Swarm + ?Sized> Swarm for std::sync::Arc<S> {
    type Addr = S::Addr;

    async fn tell(&self, dst: &Self::Addr, payload: Bytes) -> Result<(), SwarmError> {
        (**self).tell(dst, payload).await
    }

    async fn receive(&self) -> Result<Message<Self::Addr>, SwarmError> {
        (**self).receive().await
    }

    fn local_addrs(&self) -> Vec<Self::Addr> {
        (**self).local_addrs()
    }

    fn mtu(&self) -> usize {
        (**self).mtu()
    }

    fn parse_addr(&self, text: &str) -> Result<Self::Addr, ParseAddrError> {
        (**self).parse_addr(text)
    }

    async fn close(&self) -> Result<(), SwarmError> {
        (**self).close().await
    }
}

#[async_trait]
impl<S: AskSwarm + ?Sized> AskSwarm for std::sync::Arc<S> {
    async fn ask(&self, dst: &Self::Addr, request: Bytes) -> Result<Bytes, SwarmError> {
        (**self).ask(dst, request).await
    }

    async fn next_ask(&self) -> Result<Ask<Self::Addr>, SwarmError> {
        (**self).next_ask().await
    }
}

impl<S: SecureSwarm + ?Sized> SecureSwarm for std::sync::Arc<S> {
    type PublicKey = S::PublicKey;

    fn public_key(&self) -> Self::PublicKey {
        (**self).public_key()
    }

    fn lookup_public_key(&self, addr: &Self::Addr) -> Result<Self::PublicKey, SwarmError> {
        (**self).lookup_public_key(addr)
    }
}
