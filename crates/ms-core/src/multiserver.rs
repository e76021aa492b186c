//! [`MultiServer`]: a node, many stacks served together and dialled as one client, with its
//! [`Config`] and [`Builder`]. Dialling is in `dial.rs`, serving in `serve.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Mismatch, MismatchReason};
use crate::{Address, DialOptions, MultiAddress, Stack};

/// Limits and deadlines of a [`MultiServer`]. Every field has a default; see [`Builder`].
///
/// Admission of inbound connections, per stack (each stack's listener has its own budgets, so
/// a flood on one port cannot lock out the others):
///
/// - at most [`max_connections_per_stack`](Self::max_connections_per_stack) connections open
///   (handed out, waiting to be, or in their handshakes); a new one beyond it is closed at once;
/// - at most [`max_pending_per_stack`](Self::max_pending_per_stack) of them still in their
///   handshakes, and at most [`max_pending_per_peer`](Self::max_pending_per_peer) from one
///   remote IP address (IPv6: one /64; loopback and unix peers are exempt from this one). A new
///   connection over either budget is admitted, and the most silent pending handshake of the
///   crowded group is closed to make room: first one that has sent nothing yet, the oldest;
///   failing that, the one heard from least recently. A handshake leaves these budgets as soon
///   as it is done;
/// - a connection through its stack waits at most
///   [`handover_timeout`](Self::handover_timeout) for the application to take it
///   ([`Server::accept`](crate::Server::accept)), then it is closed.
///
/// Every connection closed for capacity is counted; the first for each limit is logged at once
/// at warn level, with the limit and the stack, and then a summary every minute.
///
/// Outside `ms-core` it cannot be built with a struct literal (fields can be added later): start
/// from [`Config::default`] and assign fields, or use the [`Builder`]'s setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// How [`MultiServer::connect`] dials.
    pub dial: DialOptions,
    /// Deadline for an accepted connection to get through its whole stack (default 30 s).
    pub inbound_timeout: Duration,
    /// Accepted connections still in their handshakes, per stack (default 512). When full, a new
    /// connection is admitted and the most silent pending one closed.
    pub max_pending_per_stack: usize,
    /// Accepted connections still in their handshakes from one remote IP address (IPv6: one
    /// /64), per stack (default 32). When full, that peer's new connection is admitted and its
    /// own most silent pending one closed. Loopback and unix peers (everything on this
    /// machine looks alike) are exempt: only `max_pending_per_stack` applies to them.
    pub max_pending_per_peer: usize,
    /// Open inbound connections per stack (those handed out and not yet dropped, those waiting
    /// for the application, and those in their handshakes; default 16384); more are closed at
    /// once.
    pub max_connections_per_stack: usize,
    /// How long a connection that got through its stack waits for the application to take it
    /// (default 10 s); then it is closed and counted as turned away.
    pub handover_timeout: Duration,
    /// Established connections and failures waiting for [`Server::accept`](crate::Server::accept) (default 64).
    pub event_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dial: DialOptions::default(),
            inbound_timeout: Duration::from_secs(30),
            max_pending_per_stack: 512,
            max_pending_per_peer: 32,
            max_connections_per_stack: 16_384,
            handover_timeout: Duration::from_secs(10),
            event_buffer: 64,
        }
    }
}

/// Builds a [`MultiServer`].
#[derive(Default)]
pub struct Builder {
    stacks: Vec<Stack>,
    config: Config,
}

impl Builder {
    /// Adds a stack. Order matters for dialling: for each alternative of an address, the
    /// first stack that understands it is used.
    pub fn stack(mut self, stack: Stack) -> Self {
        self.stacks.push(stack);
        self
    }

    /// Sets every limit and deadline at once (e.g. those of another node, from
    /// [`MultiServer::config`]); the other setters then change single ones.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the deadline of one dial attempt (default 30 s).
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.config.dial.attempt_timeout = timeout;
        self
    }

    /// Sets how [`MultiServer::connect`] dials (strategy, deadlines, scope preference).
    pub fn dial_options(mut self, options: DialOptions) -> Self {
        self.config.dial = options;
        self
    }

    /// Sets the deadline for an accepted connection to finish its stack (default 30 s).
    pub fn inbound_timeout(mut self, timeout: Duration) -> Self {
        self.config.inbound_timeout = timeout;
        self
    }

    /// Sets how many accepted connections each stack may have in their handshakes at once
    /// (default 512; at least 1). See [`Config::max_pending_per_stack`].
    pub fn max_pending_per_stack(mut self, max: usize) -> Self {
        self.config.max_pending_per_stack = max.max(1);
        self
    }

    /// Sets how many accepted connections from one remote IP address (IPv6: one /64) each stack
    /// may have in their handshakes at once (default 32; at least 1). Loopback and unix peers
    /// are exempt. See [`Config::max_pending_per_peer`].
    pub fn max_pending_per_peer(mut self, max: usize) -> Self {
        self.config.max_pending_per_peer = max.max(1);
        self
    }

    /// Sets how long a connection that got through its stack waits for the application to take
    /// it before it is closed (default 10 s). See [`Config::handover_timeout`].
    pub fn handover_timeout(mut self, timeout: Duration) -> Self {
        self.config.handover_timeout = timeout;
        self
    }

    /// Sets how many events (connections, rejections) may wait for [`Server::next_event`](crate::Server::next_event)
    /// (default 64). Connections wait for room, up to [`Config::handover_timeout`]; rejections
    /// beyond it are only logged.
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.config.event_buffer = events.max(1);
        self
    }

    /// Sets how many inbound connections each stack keeps open at most (default 16384).
    pub fn max_connections_per_stack(mut self, max: usize) -> Self {
        self.config.max_connections_per_stack = max.max(1);
        self
    }

    /// Builds the node, checking that every transform accepts its transport's scopes.
    pub fn build(self) -> Result<MultiServer, Error> {
        if self.stacks.is_empty() {
            return Err(Error::Config {
                message: "a node needs at least one stack".into(),
                source: None,
            });
        }
        for stack in &self.stacks {
            let scopes = stack.transport().scopes();
            for transform in stack.transforms() {
                transform.check_stack(scopes).map_err(|e| Error::Config {
                    message: format!("stack {} (scopes {scopes}): {e}", stack.name()),
                    source: Some(e),
                })?;
            }
        }
        Ok(MultiServer {
            inner: Arc::new(Inner {
                stacks: self.stacks,
                config: self.config,
            }),
        })
    }
}

/// A node: a list of stacks that it serves together and dials with.
///
/// Cheap to clone. Dialling needs no server; serving starts with [`listen`](Self::listen).
///
/// ```
/// use ms_core::{MultiServer, Scope, Stack};
/// use ms_testkit::{MemNetwork, MemTransport};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let network = MemNetwork::new();
/// let node = MultiServer::builder()
///     .stack(Stack::new(MemTransport::new(&network)))
///     .build()?;
/// let mut server = node.listen().await?;
/// let address = server.address(Scope::Device);
///
/// let client = tokio::spawn({
///     let node = node.clone();
///     async move {
///         let mut conn = node.connect(&address.to_string()).await?;
///         conn.write_all(b"hello").await?;
///         conn.shutdown().await?;
///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
///     }
/// });
/// let mut conn = server.accept().await.ok_or("server closed")?;
/// let mut text = String::new();
/// conn.read_to_string(&mut text).await?;
/// assert_eq!(text, "hello");
/// client.await?.map_err(|e| e.to_string())?;
/// server.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MultiServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) stacks: Vec<Stack>,
    pub(crate) config: Config,
}

impl MultiServer {
    /// Starts building a node.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A node with these stacks and default limits.
    pub fn new(stacks: impl IntoIterator<Item = Stack>) -> Result<Self, Error> {
        stacks
            .into_iter()
            .fold(Builder::default(), Builder::stack)
            .build()
    }

    /// The stacks, in order.
    pub fn stacks(&self) -> &[Stack] {
        &self.inner.stacks
    }

    /// The limits and deadlines in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The stack names joined by `;`, e.g. `net~shs;ws~shs`.
    pub fn name(&self) -> String {
        let names: Vec<String> = self.inner.stacks.iter().map(Stack::name).collect();
        names.join(";")
    }

    /// Which stack would dial each alternative of `address`: the alternatives some stack
    /// understands, in order, each with its stack (the first that understands it).
    ///
    /// Fails with [`Error::Unsupported`] when no alternative is understood.
    pub fn plan<'a>(&'a self, address: &MultiAddress) -> Result<Vec<(Address, &'a Stack)>, Error> {
        let mut plan = Vec::new();
        let mut reasons = Vec::new();
        for alternative in address.alternatives() {
            let mut chosen = None;
            for stack in &self.inner.stacks {
                match stack.check(alternative) {
                    Ok(()) => {
                        chosen = Some(stack);
                        break;
                    }
                    Err(MismatchReason::Section { index: 0, error })
                        if error.is_wrong_protocol() => {}
                    Err(reason) => reasons.push(Mismatch {
                        stack: stack.name(),
                        address: alternative.to_string(),
                        reason,
                    }),
                }
            }
            if let Some(stack) = chosen {
                plan.push((alternative.clone(), stack));
            }
        }
        if plan.is_empty() {
            return Err(Error::Unsupported {
                address: address.to_string(),
                known: self.inner.stacks.iter().map(Stack::name).collect(),
                reasons,
                skipped: address.skipped().to_vec(),
            });
        }
        Ok(plan)
    }
}

impl fmt::Debug for MultiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiServer({})", self.name())
    }
}
