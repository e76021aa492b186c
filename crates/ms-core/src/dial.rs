//! Dialling: [`DialOptions`], [`MultiServer::connect_with`] and the staggered race over the
//! alternatives of a multi-address, and [`Dial`], a dial that can be aborted.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{AbortHandle as FutAbortHandle, Abortable};
use tracing::Instrument as _;

use crate::error::{Attempt, Error};
use crate::{Address, Connection, MultiAddress, MultiServer, Scope, Stack};

/// How a multi-address is dialled. The defaults come from the node's [`Config`](crate::Config); pass your own
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

impl MultiServer {
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
