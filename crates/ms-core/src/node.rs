//! [`MultiServer`]: many stacks served as one node, and dialled as one client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{AbortHandle as FutAbortHandle, Abortable};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::admission::{Activity, Eviction, PeerGroup, Pending};
use crate::error::{Attempt, Error, Mismatch, MismatchReason};
use crate::report::{self, Capacity, REPORT_INTERVAL, Rejection, Tally};
use crate::{Address, Connection, Listener, MultiAddress, Scope, Stack};

/// How a multi-address is dialled. The defaults come from the node's [`Config`]; pass your own
/// to [`MultiServer::connect_with`].
///
/// Start from [`DialOptions::default`] and change what you need with the `with_*` setters
/// (or by assigning a field); outside `ms-core` it cannot be built with a struct literal, so
/// options can be added later without breaking callers.
///
/// ```
/// use std::time::Duration;
/// use ms_core::{DialOptions, DialStrategy, Scope};
///
/// let options = DialOptions::default()
///     .with_strategy(DialStrategy::Sequential)
///     .with_attempt_timeout(Duration::from_secs(5))
///     .with_prefer_scope(Some(Scope::Local));
/// assert_eq!(options.attempt_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DialOptions {
    /// How attempts at the alternatives are started.
    pub strategy: DialStrategy,
    /// Deadline for one attempt: transport connect plus every transform (default 30 s).
    pub attempt_timeout: Duration,
    /// Deadline for the whole dial, all attempts together (default 60 s; `None`: no overall
    /// deadline beyond the attempts' own).
    pub overall_timeout: Option<Duration>,
    /// Where the caller believes the peer is. When set, alternatives in that scope are tried
    /// first, wider ones next, narrower ones (which likely point at ourselves) last; the order
    /// given is kept within each group. Off by default: the address's own order is used.
    pub prefer_scope: Option<Scope>,
}

impl Default for DialOptions {
    fn default() -> Self {
        Self {
            strategy: DialStrategy::default(),
            attempt_timeout: Duration::from_secs(30),
            overall_timeout: Some(Duration::from_secs(60)),
            prefer_scope: None,
        }
    }
}

impl DialOptions {
    /// Sets how attempts at the alternatives are started.
    #[must_use]
    pub fn with_strategy(mut self, strategy: DialStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the deadline for one attempt (transport connect plus every transform).
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets the deadline for the whole dial (`None`: only the attempts' own).
    #[must_use]
    pub fn with_overall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.overall_timeout = timeout;
        self
    }

    /// Sets where the caller believes the peer is (`None`: keep the address's own order).
    #[must_use]
    pub fn with_prefer_scope(mut self, scope: Option<Scope>) -> Self {
        self.prefer_scope = scope;
        self
    }
}

/// How attempts at the alternatives of a multi-address are started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialStrategy {
    /// Start the first attempt at once; start the next one when the previous has failed or
    /// after this delay, whichever comes first ("happy eyeballs"). The first attempt to get
    /// through its whole stack wins and the others are cancelled.
    Staggered(Duration),
    /// One attempt at a time, in order, each until it fails (the reference dials only the
    /// first alternative; this also falls back to the next ones).
    Sequential,
}

impl Default for DialStrategy {
    fn default() -> Self {
        DialStrategy::Staggered(Duration::from_millis(250))
    }
}

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
///   ([`Server::accept`]), then it is closed.
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
    /// Established connections and failures waiting for [`Server::accept`] (default 64).
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

    /// Sets how many events (connections, rejections) may wait for [`Server::next_event`]
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
    inner: Arc<Inner>,
}

struct Inner {
    stacks: Vec<Stack>,
    config: Config,
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

    /// Parses `address` leniently and dials it: see [`connect_to`](Self::connect_to).
    ///
    /// Alternatives that do not parse are skipped like those no stack understands (see
    /// [`MultiAddress::parse_lenient`]); if the dial fails, the error lists them too. Only an
    /// address with no alternative that parses is an [`Error::Address`].
    pub async fn connect(&self, address: &str) -> Result<Connection, Error> {
        let address = MultiAddress::parse_lenient(address)?;
        self.connect_to(&address).await
    }

    /// Dials a multi-address with the node's [`DialOptions`]: see
    /// [`connect_with`](Self::connect_with).
    pub async fn connect_to(&self, address: &MultiAddress) -> Result<Connection, Error> {
        self.connect_with(address, &self.inner.config.dial).await
    }

    /// Dials every alternative of `address` that a stack understands, as `options` say, until
    /// one gets through its whole stack (transport and every transform).
    ///
    /// With the default [`DialStrategy::Staggered`] strategy a new attempt starts when the
    /// previous one fails or after the stagger delay; the first to finish wins and the others
    /// are cancelled (their sockets and half-done handshakes dropped). When one alternative was
    /// tried, its error is returned; when several were, or when `address` has
    /// [`skipped`](MultiAddress::skipped) alternatives, [`Error::AllFailed`] lists each attempt,
    /// in the order of the address, and what was skipped. Dropping the future cancels
    /// everything at any point.
    pub async fn connect_with(
        &self,
        address: &MultiAddress,
        options: &DialOptions,
    ) -> Result<Connection, Error> {
        let span = tracing::info_span!("dial", address = %address);
        let dial = async {
            let mut plan = self.plan(address)?;
            if let Some(preferred) = options.prefer_scope {
                plan.sort_by_key(|(alternative, stack)| {
                    let scope = stack.transport().scope_of(alternative.transport());
                    scope_rank(scope, preferred)
                });
            }
            race(plan, options, address.skipped()).await
        }
        .instrument(span);
        match options.overall_timeout {
            None => dial.await,
            Some(limit) => tokio::time::timeout(limit, dial).await.unwrap_or_else(|_| {
                Err(Error::Timeout {
                    stack: self.name(),
                    address: address.to_string(),
                    after: limit,
                })
            }),
        }
    }

    /// Like [`connect`](Self::connect), with an [`AbortHandle`] to cancel the dial from
    /// elsewhere. Dropping the [`Dial`] cancels it too.
    pub fn dial(&self, address: &str) -> Dial {
        let node = self.clone();
        let address = address.to_owned();
        let (handle, registration) = FutAbortHandle::new_pair();
        let future: DialFuture = Box::pin(async move { node.connect(&address).await });
        let future = Abortable::new(future, registration);
        Dial {
            future: Box::pin(future),
            handle: AbortHandle(handle),
        }
    }

    /// Starts every stack's listener and serves them together.
    ///
    /// Every accepted connection goes through its stack's transforms concurrently with the
    /// others, under [`Config::inbound_timeout`] and the admission limits of [`Config`]; those
    /// that make it are handed out by [`Server::accept`]. Stacks of client-only transports
    /// ([`Transport::can_listen`](crate::Transport::can_listen)) are skipped; if another stack
    /// cannot listen, the others are closed and the error is returned.
    pub async fn listen(&self) -> Result<Server, Error> {
        let mut listeners = Vec::with_capacity(self.inner.stacks.len());
        for (index, stack) in self.inner.stacks.iter().enumerate() {
            if !stack.transport().can_listen() {
                continue;
            }
            let listener = stack
                .transport()
                .listen()
                .await
                .map_err(|source| Error::Listen {
                    stack: stack.name(),
                    source,
                })?;
            listeners.push((index, Arc::<dyn Listener>::from(listener)));
        }
        let config = &self.inner.config;
        let (events_tx, events) = mpsc::channel(config.event_buffer.max(1));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for (index, listener) in &listeners {
            let stack = self.inner.stacks[*index].clone();
            let span = tracing::info_span!("serve", stack = %stack.name());
            tasks.spawn(
                accept_loop(
                    stack,
                    listener.clone(),
                    events_tx.clone(),
                    config.clone(),
                    shutdown.clone(),
                )
                .instrument(span),
            );
        }
        Ok(Server {
            node: self.clone(),
            listeners,
            events,
            shutdown,
            tasks,
        })
    }
}

/// Orders alternatives for a caller who believes the peer is in `preferred`: that scope first,
/// then unknown and wider scopes, then narrower ones (which likely point at ourselves).
fn scope_rank(scope: Option<Scope>, preferred: Scope) -> u8 {
    match scope {
        Some(s) if s == preferred => 0,
        Some(s) if s > preferred => 1,
        None => 2,
        Some(_) => 3,
    }
}

type AttemptFuture<'a> = Pin<Box<dyn Future<Output = Result<Connection, Error>> + Send + 'a>>;

/// One alternative of a plan dialled through its stack, under the attempt deadline.
fn attempt<'a>(alternative: &'a Address, stack: &'a Stack, limit: Duration) -> AttemptFuture<'a> {
    let span = tracing::debug_span!("attempt", stack = %stack.name(), address = %alternative);
    Box::pin(
        async move {
            let result = tokio::time::timeout(limit, stack.dial(alternative))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Timeout {
                        stack: stack.name(),
                        address: alternative.to_string(),
                        after: limit,
                    })
                });
            if let Err(error) = &result {
                tracing::debug!(%error, "attempt failed");
            }
            result
        }
        .instrument(span),
    )
}

/// Runs the attempts of a plan as the strategy says; see [`MultiServer::connect_with`].
async fn race(
    plan: Vec<(Address, &Stack)>,
    options: &DialOptions,
    skipped: &[crate::Skipped],
) -> Result<Connection, Error> {
    let stagger = match options.strategy {
        DialStrategy::Staggered(delay) => Some(delay),
        DialStrategy::Sequential => None,
    };
    // Built up front (nothing runs before it is polled): a lazy `map` closure held across
    // awaits trips the compiler's `Send` check for higher-ranked lifetimes.
    let attempts: Vec<AttemptFuture<'_>> = plan
        .iter()
        .map(|(alternative, stack)| attempt(alternative, stack, options.attempt_timeout))
        .collect();
    let errors = match crate::race::staggered(attempts, stagger).await {
        Ok(conn) => {
            tracing::debug!(remote = %conn.remote_address(), "connected");
            return Ok(conn);
        }
        Err(errors) => errors,
    };
    // Every attempt was started and failed: one error per alternative, in order.
    let mut attempts: Vec<Attempt> = plan
        .iter()
        .zip(errors)
        .map(|((alternative, stack), error)| Attempt {
            address: alternative.to_string(),
            stack: stack.name(),
            error,
        })
        .collect();
    if attempts.len() == 1
        && skipped.is_empty()
        && let Some(only) = attempts.pop()
    {
        return Err(only.error);
    }
    Err(Error::AllFailed {
        attempts,
        skipped: skipped.to_vec(),
    })
}

impl fmt::Debug for MultiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiServer({})", self.name())
    }
}

/// A dial in progress: a future of the [`Connection`] with an [`AbortHandle`].
#[must_use = "a dial does nothing unless awaited"]
pub struct Dial {
    future: Pin<Box<Abortable<DialFuture>>>,
    handle: AbortHandle,
}

type DialFuture = Pin<Box<dyn Future<Output = Result<Connection, Error>> + Send>>;

impl Dial {
    /// A handle that cancels this dial.
    pub fn abort_handle(&self) -> AbortHandle {
        self.handle.clone()
    }
}

impl Future for Dial {
    type Output = Result<Connection, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.future.as_mut().poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(_aborted)) => Poll::Ready(Err(Error::Aborted)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dial").finish_non_exhaustive()
    }
}

/// Cancels a [`Dial`]: the dial then fails with [`Error::Aborted`], and whatever it had opened
/// (sockets, half-done handshakes) is dropped.
#[derive(Clone, Debug)]
pub struct AbortHandle(FutAbortHandle);

impl AbortHandle {
    /// Cancels the dial. Does nothing if it already finished.
    pub fn abort(&self) {
        self.0.abort();
    }
}

/// What a [`Server`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A connection made it through its whole stack.
    Connected(Connection),
    /// An accepted connection failed its stack (handshake refused, timed out, ...). Reported
    /// when there is room in the event buffer, dropped otherwise; always logged. A connection
    /// the transport dealt with itself ([`HandledByTransport`](crate::HandledByTransport), e.g.
    /// a plain HTTP request served) is not a rejection and is not reported; nor is one closed
    /// for capacity (see [`Config`]), which is only counted and logged.
    Rejected {
        /// The stack, e.g. `net~shs`.
        stack: String,
        /// Why.
        error: Error,
    },
}

/// A running node: its listeners, the connections they accept, and its advertised addresses.
///
/// Dropping it closes every listener and abandons the handshakes in progress, like
/// [`close`](Self::close). Connections already handed out are not affected.
pub struct Server {
    node: MultiServer,
    listeners: Vec<(usize, Arc<dyn Listener>)>,
    events: mpsc::Receiver<Event>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Server {
    /// The node's address for `scope`: for every stack serving that scope, the listener's
    /// sections for it followed by the transforms' sections, joined by `;`. Empty when no
    /// stack serves the scope.
    pub fn address(&self, scope: Scope) -> MultiAddress {
        let mut multi = MultiAddress::default();
        for (index, listener) in &self.listeners {
            let stack = &self.node.stacks()[*index];
            if !stack.transport().scopes().contains(scope) {
                continue;
            }
            let Some(tail) = stack.advertised_transforms() else {
                continue;
            };
            for section in listener.advertise(scope) {
                let mut address = Address::from_section(section);
                for s in &tail {
                    address.push(s.clone());
                }
                multi.push(address);
            }
        }
        multi
    }

    /// The address for every scope (some may be empty).
    pub fn addresses(&self) -> Vec<(Scope, MultiAddress)> {
        Scope::ALL.iter().map(|&s| (s, self.address(s))).collect()
    }

    /// The node this server runs.
    pub fn node(&self) -> &MultiServer {
        &self.node
    }

    /// The next connection that made it through its stack; `None` once the server is closed.
    pub async fn accept(&mut self) -> Option<Connection> {
        loop {
            match self.next_event().await? {
                Event::Connected(conn) => return Some(conn),
                Event::Rejected { .. } => continue,
            }
        }
    }

    /// The next event; `None` once the server is closed.
    pub async fn next_event(&mut self) -> Option<Event> {
        tokio::select! {
            event = self.events.recv() => event,
            _ = self.shutdown.cancelled() => None,
        }
    }

    /// A handle that closes this server from elsewhere.
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle(self.shutdown.clone())
    }

    /// Stops every listener and abandons the handshakes in progress, then waits until the
    /// listeners are released (a unix socket file is gone when this returns). Connections
    /// already handed out stay open.
    pub async fn close(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.listeners.clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Closes a [`Server`] from another task: its accept loops stop and
/// [`Server::accept`] returns `None`.
#[derive(Clone, Debug)]
pub struct CloseHandle(CancellationToken);

impl CloseHandle {
    /// Closes the server.
    pub fn close(&self) {
        self.0.cancel();
    }
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

async fn accept_loop(
    stack: Stack,
    listener: Arc<dyn Listener>,
    events: mpsc::Sender<Event>,
    config: Config,
    shutdown: CancellationToken,
) {
    let name = stack.name();
    let open = Arc::new(Semaphore::new(config.max_connections_per_stack.max(1)));
    let mut pending = Pending::new(config.max_pending_per_stack, config.max_pending_per_peer);
    let (inbound_timeout, handover_timeout) = (config.inbound_timeout, config.handover_timeout);
    // Connections in their handshakes (each in `pending` until it ends), and finished ones
    // waiting for the application.
    let mut upgrades = JoinSet::new();
    let mut handovers = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    // Turned-away connections, summed up in one line per interval (see `report`).
    let mut tally = Tally::new(
        name.clone(),
        report::Limits {
            max_connections_per_stack: config.max_connections_per_stack,
            max_pending_per_stack: config.max_pending_per_stack,
            max_pending_per_peer: config.max_pending_per_peer,
            handover_timeout,
        },
    );
    let mut report = tokio::time::interval_at(
        tokio::time::Instant::now() + REPORT_INTERVAL,
        REPORT_INTERVAL,
    );
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(joined) = upgrades.join_next_with_id(), if !upgrades.is_empty() => {
                let (id, outcome) = match joined {
                    Ok((id, outcome)) => (id, Some(outcome)),
                    Err(error) => (error.id(), None),
                };
                // Done either way: out of the pending budgets at once.
                pending.remove(id);
                match outcome {
                    Some(Upgrade::Connected(conn)) => {
                        handovers.spawn(
                            hand_over(conn, events.clone(), handover_timeout).in_current_span(),
                        );
                    }
                    Some(Upgrade::Rejected(rejection)) => tally.rejected(rejection),
                    Some(Upgrade::Handled) | None => {}
                }
            }
            Some(joined) = handovers.join_next(), if !handovers.is_empty() => {
                if let Ok(Some(remote)) = joined {
                    tally.capacity(Capacity::Handover, &remote);
                }
            }
            _ = report.tick() => tally.report(),
            // Re-created on every turn: `Listener::accept` must be cancel-safe (its docs).
            accepted = listener.accept() => match accepted {
                Ok(mut accepted) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    let accepted_at = pending.tick();
                    let Ok(slot) = open.clone().try_acquire_owned() else {
                        tally.capacity(Capacity::Open, &accepted.remote);
                        continue;
                    };
                    let group = PeerGroup::of(&accepted.remote);
                    if pending.is_full(&group) {
                        // Let the handshakes that are ready to run (or to finish) run first,
                        // so that a burst of accepts does not close ones that were never
                        // polled.
                        tokio::task::yield_now().await;
                    }
                    for (remote, limit) in pending.make_room(&group) {
                        tally.capacity(
                            match limit {
                                Eviction::Stack => Capacity::PendingStack,
                                Eviction::Peer => Capacity::PendingPeer,
                            },
                            &remote,
                        );
                    }
                    let activity = Arc::new(Activity::default());
                    let remote = accepted.remote.clone();
                    accepted.stream = pending.watch(accepted.stream, activity.clone());
                    let span = tracing::debug_span!("inbound", %remote);
                    let abort = upgrades.spawn(
                        upgrade_one(stack.clone(), accepted, events.clone(), slot, inbound_timeout)
                            .instrument(span),
                    );
                    pending.insert(abort, group, accepted_at, activity, remote);
                }
                Err(error) => {
                    tracing::warn!(%error, ?backoff, "accept failed, backing off");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }
    // Dropping them aborts the handshakes still in progress and the hand-overs.
    upgrades.shutdown().await;
    handovers.shutdown().await;
    tally.report();
}

/// How an inbound connection's trip through its stack ended.
enum Upgrade {
    /// Through: to be handed to the application.
    Connected(Connection),
    /// Failed its stack (already logged and reported as an event).
    Rejected(Rejection),
    /// The transport dealt with it itself.
    Handled,
}

/// Runs one inbound connection through its stack, under `inbound_timeout`.
async fn upgrade_one(
    stack: Stack,
    accepted: crate::Accepted,
    events: mpsc::Sender<Event>,
    slot: OwnedSemaphorePermit,
    inbound_timeout: Duration,
) -> Upgrade {
    let remote = accepted.remote.to_string();
    let result = tokio::time::timeout(inbound_timeout, stack.upgrade_inbound(accepted))
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                stack: stack.name(),
                address: remote,
                after: inbound_timeout,
            })
        });
    match result {
        Ok(mut conn) => {
            conn.hold(slot);
            tracing::debug!(remote = %conn.remote_address(), "accepted");
            Upgrade::Connected(conn)
        }
        Err(Error::Accept { source, .. }) if source.is::<crate::HandledByTransport>() => {
            tracing::debug!(%source, "inbound connection handled by the transport");
            Upgrade::Handled
        }
        Err(error) => {
            tracing::debug!(%error, "inbound connection rejected");
            let rejection = Rejection::new(&error);
            let _ = events.try_send(Event::Rejected {
                stack: stack.name(),
                error,
            });
            Upgrade::Rejected(rejection)
        }
    }
}

/// Hands a connection that got through its stack to the application, waiting for room in the
/// event buffer (the back-pressure on a slow application) for at most `handover_timeout`.
/// Returns the peer when the application did not take it in time (the connection is then
/// closed).
async fn hand_over(
    conn: Connection,
    events: mpsc::Sender<Event>,
    handover_timeout: Duration,
) -> Option<crate::Section> {
    let remote = conn.remote_address().transport().clone();
    match tokio::time::timeout(handover_timeout, events.send(Event::Connected(conn))).await {
        // Taken, or the server is gone (the connection is closed with it).
        Ok(_) => None,
        Err(_) => {
            tracing::debug!(%remote, ?handover_timeout, "the application did not take the connection in time, closing");
            Some(remote)
        }
    }
}
