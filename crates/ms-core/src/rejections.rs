//! What an accept loop turned away: one warning at once when a capacity limit starts closing
//! connections, then one summary line per interval.
//!
//! Each turned-away connection is logged at debug level; at warn or info level a flood of bad
//! connections would flood the log too. An accept loop instead counts them and writes one
//! summary per [`REPORT_INTERVAL`] in which something was turned away: at warn level when
//! connections were closed for capacity (`max_connections_per_stack`, `max_pending_per_stack`,
//! `max_pending_per_peer`, `handover_timeout`), at info level when they were only rejected by
//! their stack. So that the operator does not wait a minute to learn that a limit is being hit,
//! the first connection closed for each limit is also logged at once, at warn level, with the
//! limit and the listener; then again at most once per interval.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, Section};

/// How often an accept loop may write a summary.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// An inbound connection that failed its stack, as the summary counts it.
#[derive(Debug)]
pub(crate) struct Rejection {
    /// `timeout`, `transport`, or the transform that refused it (e.g. `shs`).
    reason: String,
    /// The error, for the summary's "last" field.
    message: String,
}

impl Rejection {
    pub(crate) fn new(error: &Error) -> Self {
        let reason = match error {
            Error::Timeout { .. } => "timeout".to_owned(),
            Error::Transform { transform, .. } => transform.clone(),
            Error::Accept { .. } => "transport".to_owned(),
            _ => "other".to_owned(),
        };
        Self {
            reason,
            message: error.to_string(),
        }
    }
}

/// A capacity limit that closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capacity {
    /// A new connection was refused: the stack had `max_connections_per_stack` open.
    Open,
    /// A pending handshake was closed for a new connection: the listener had
    /// `max_pending_per_stack` in progress.
    PendingStack,
    /// A pending handshake was closed for a new connection from the same peer, which had
    /// `max_pending_per_peer` in progress.
    PendingPeer,
    /// A finished connection was closed: the application did not take it within
    /// `handover_timeout`.
    Handover,
}

impl Capacity {
    const ALL: [Capacity; 4] = [
        Capacity::Open,
        Capacity::PendingStack,
        Capacity::PendingPeer,
        Capacity::Handover,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// How the summary counts it.
    fn counted_as(self) -> &'static str {
        match self {
            Capacity::Open => "over max_connections_per_stack",
            Capacity::PendingStack => "evicted for max_pending_per_stack",
            Capacity::PendingPeer => "evicted for max_pending_per_peer",
            Capacity::Handover => "not taken by the application within handover_timeout",
        }
    }
}

/// The limits in force, for the messages.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections_per_stack: usize,
    pub(crate) max_pending_per_stack: usize,
    pub(crate) max_pending_per_peer: usize,
    pub(crate) handover_timeout: Duration,
}

/// Counts since the last summary.
#[derive(Debug)]
struct Counts {
    since: Instant,
    capacity: [u64; 4],
    rejected: BTreeMap<String, u64>,
    last_rejection: Option<String>,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            capacity: [0; 4],
            rejected: BTreeMap::new(),
            last_rejection: None,
        }
    }
}

/// What one accept loop turned away.
#[derive(Debug)]
pub(crate) struct Tally {
    /// The stack (listener) name, e.g. `net~shs`.
    stack: String,
    limits: Limits,
    counts: Counts,
    /// When each capacity limit was last warned about at once.
    warned: [Option<Instant>; 4],
}

impl Tally {
    pub(crate) fn new(stack: String, limits: Limits) -> Self {
        Self {
            stack,
            limits,
            counts: Counts::default(),
            warned: [None; 4],
        }
    }

    /// Counts a connection closed for `limit`; `remote` is the peer it was. The first of each
    /// limit (in an interval) is logged at once, at warn level.
    pub(crate) fn capacity(&mut self, limit: Capacity, remote: &Section) {
        self.counts.capacity[limit.index()] += 1;
        let warned = &mut self.warned[limit.index()];
        if warned.is_some_and(|at| at.elapsed() < REPORT_INTERVAL) {
            tracing::debug!(%remote, "{}: closed, {}", self.stack, limit.counted_as());
            return;
        }
        *warned = Some(Instant::now());
        let stack = &self.stack;
        let limits = &self.limits;
        let every = REPORT_INTERVAL.as_secs();
        match limit {
            Capacity::Open => tracing::warn!(
                %remote,
                limit = "max_connections_per_stack",
                "{stack}: refused an inbound connection from {remote}: the stack has \
                 {} connections open (max_connections_per_stack); more are counted in a summary \
                 every {every}s",
                limits.max_connections_per_stack
            ),
            Capacity::PendingStack => tracing::warn!(
                %remote,
                limit = "max_pending_per_stack",
                "{stack}: {} handshakes in progress (max_pending_per_stack): closed the most \
                 silent one, from {remote}, to admit a new connection; more are counted in a \
                 summary every {every}s",
                limits.max_pending_per_stack
            ),
            Capacity::PendingPeer => tracing::warn!(
                %remote,
                limit = "max_pending_per_peer",
                "{stack}: a peer has {} handshakes in progress (max_pending_per_peer): closed its \
                 most silent one, from {remote}, to admit its new connection; more are counted \
                 in a summary every {every}s",
                limits.max_pending_per_peer
            ),
            Capacity::Handover => tracing::warn!(
                %remote,
                limit = "handover_timeout",
                "{stack}: the application did not take the connection from {remote} within \
                 {:?} (handover_timeout): closed it; more are counted in a summary every {every}s",
                limits.handover_timeout
            ),
        }
    }

    pub(crate) fn rejected(&mut self, rejection: Rejection) {
        *self.counts.rejected.entry(rejection.reason).or_default() += 1;
        self.counts.last_rejection = Some(rejection.message);
    }

    /// Writes the summary of what was counted since the last one (nothing if nothing was),
    /// and starts counting afresh.
    pub(crate) fn report(&mut self) {
        let counts = std::mem::take(&mut self.counts);
        let over = counts.since.elapsed();
        let rejected: u64 = counts.rejected.values().sum();
        let for_capacity: u64 = counts.capacity.iter().sum();
        let total = rejected + for_capacity;
        if total == 0 {
            return;
        }
        let mut summary = format!(
            "{}: turned away {total} inbound connection{} in the last {}: {rejected} rejected",
            self.stack,
            if total == 1 { "" } else { "s" },
            if over >= Duration::from_secs(1) {
                format!("{}s", over.as_secs())
            } else {
                format!("{}ms", over.as_millis())
            }
        );
        if rejected > 0 {
            let reasons: Vec<String> = counts
                .rejected
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            let _ = write!(summary, " ({})", reasons.join(", "));
        }
        let last = counts.last_rejection.as_deref().unwrap_or("-");
        if for_capacity > 0 {
            for limit in Capacity::ALL {
                let n = counts.capacity[limit.index()];
                if n > 0 {
                    let _ = write!(summary, ", {n} {}", limit.counted_as());
                }
            }
            tracing::warn!(
                rejected,
                over_open = counts.capacity[Capacity::Open.index()],
                evicted_stack = counts.capacity[Capacity::PendingStack.index()],
                evicted_peer = counts.capacity[Capacity::PendingPeer.index()],
                not_taken = counts.capacity[Capacity::Handover.index()],
                last_rejection = last,
                "{summary}"
            );
        } else {
            tracing::info!(rejected, last_rejection = last, "{summary}");
        }
    }
}
