//! Serving: [`MultiServer::listen`], the accept loops with their admission control, each
//! inbound connection's trip through its stack, and the hand-over to [`Server::accept`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::admission::{Activity, Eviction, PeerGroup, Pending};
use crate::error::Error;
use crate::rejections::{self, Capacity, REPORT_INTERVAL, Rejection, Tally};
use crate::{Address, Config, Connection, Listener, MultiAddress, MultiServer, Scope, Stack};

impl MultiServer {
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
        rejections::Limits {
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
