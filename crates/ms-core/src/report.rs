//! What an accept loop turned away, summed up in one log line per interval.
//!
//! Each turned-away connection is logged at debug level; at warn or info level a flood of bad
//! connections would flood the log too. An accept loop instead counts them and writes one
//! summary per [`REPORT_INTERVAL`] in which something was turned away: at warn level when
//! connections were closed for lack of capacity (`max_connections_per_stack`,
//! `max_pending_inbound`), at info level when they were only rejected by their stack.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

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

/// Counts since the last summary.
#[derive(Debug)]
pub(crate) struct Tally {
    since: Instant,
    over_open: u64,
    over_pending: u64,
    rejected: BTreeMap<String, u64>,
    last_rejection: Option<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            over_open: 0,
            over_pending: 0,
            rejected: BTreeMap::new(),
            last_rejection: None,
        }
    }
}

impl Tally {
    pub(crate) fn over_open(&mut self) {
        self.over_open += 1;
    }

    pub(crate) fn over_pending(&mut self) {
        self.over_pending += 1;
    }

    pub(crate) fn rejected(&mut self, rejection: Rejection) {
        *self.rejected.entry(rejection.reason).or_default() += 1;
        self.last_rejection = Some(rejection.message);
    }

    /// Writes the summary of what was counted since the last one (nothing if nothing was),
    /// and starts counting afresh.
    pub(crate) fn report(&mut self) {
        let tally = std::mem::take(self);
        let over = tally.since.elapsed();
        let rejected: u64 = tally.rejected.values().sum();
        let total = rejected + tally.over_open + tally.over_pending;
        if total == 0 {
            return;
        }
        let mut summary = format!(
            "turned away {total} inbound connection{} in the last {}: {rejected} rejected",
            if total == 1 { "" } else { "s" },
            if over >= Duration::from_secs(1) {
                format!("{}s", over.as_secs())
            } else {
                format!("{}ms", over.as_millis())
            }
        );
        if rejected > 0 {
            let reasons: Vec<String> = tally
                .rejected
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            let _ = write!(summary, " ({})", reasons.join(", "));
        }
        let last = tally.last_rejection.as_deref().unwrap_or("-");
        if tally.over_open + tally.over_pending > 0 {
            let _ = write!(
                summary,
                ", {} over max_connections_per_stack, {} over max_pending_inbound",
                tally.over_open, tally.over_pending
            );
            tracing::warn!(
                rejected,
                over_open = tally.over_open,
                over_pending = tally.over_pending,
                last_rejection = last,
                "{summary}"
            );
        } else {
            tracing::info!(rejected, last_rejection = last, "{summary}");
        }
    }
}
