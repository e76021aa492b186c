//! Errors.
//!
//! Three layers, as a caller needs them: an [`AddressError`](crate::AddressError) says the text
//! is not an address at all; a [`SectionError`] says a plugin cannot use a section (wrong
//! protocol, missing or invalid argument); an [`Error`] says what went wrong while connecting or
//! serving, with the stack and the address it concerns. Plugin errors travel inside [`Error`] as
//! a [`BoxError`] whose concrete type the plugin documents (downcast it to match on it).

use std::time::Duration;

use crate::{AddressError, Skipped};

/// A plugin's error, type-erased. Plugins document the concrete types they return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a plugin cannot use a section. Offsets are bytes into the section's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// The section belongs to another protocol: this plugin does not claim it.
    #[error("`{found}` is not a `{expected}` section")]
    WrongProtocol {
        /// The protocol the plugin speaks.
        expected: &'static str,
        /// The section's name.
        found: String,
    },
    /// A required argument is missing.
    #[error("expected {what} after {after} at byte {at}")]
    Missing {
        /// What is missing, e.g. `port`.
        what: &'static str,
        /// What came before, e.g. `host`.
        after: &'static str,
        /// Where it was expected.
        at: usize,
    },
    /// An argument is present but unusable.
    #[error("invalid {what} `{value}` at byte {at}: {reason}")]
    Invalid {
        /// Which argument, e.g. `port`.
        what: &'static str,
        /// The argument as given.
        value: String,
        /// Why it is unusable.
        reason: &'static str,
        /// Where it starts.
        at: usize,
    },
    /// More arguments than the protocol takes.
    #[error("unexpected argument `{value}` at byte {at}")]
    Unexpected {
        /// The first extra argument.
        value: String,
        /// Where it starts.
        at: usize,
    },
    /// A host name with non-ASCII characters that IDNA (UTS 46, as URL parsing applies it)
    /// refuses to convert to its ASCII form (or any such name, when ms-core is built without
    /// its `idna` feature). See [`host_to_ascii`](crate::host_to_ascii).
    #[error("invalid host name `{value}` at byte {at}: IDNA (UTS 46) cannot convert it to ASCII")]
    Idna {
        /// The host as given.
        value: String,
        /// Where it starts.
        at: usize,
    },
}

impl SectionError {
    /// Whether this only says "not my protocol" (the section is simply for another plugin).
    pub fn is_wrong_protocol(&self) -> bool {
        matches!(self, SectionError::WrongProtocol { .. })
    }

    /// Shifts the offset by `base` (to make it relative to a whole address).
    pub fn offset_by(mut self, base: usize) -> Self {
        match &mut self {
            SectionError::WrongProtocol { .. } => {}
            SectionError::Missing { at, .. }
            | SectionError::Invalid { at, .. }
            | SectionError::Unexpected { at, .. }
            | SectionError::Idna { at, .. } => *at += base,
        }
        self
    }
}

/// Why a stack cannot dial an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The stack, e.g. `net~shs`.
    pub stack: String,
    /// The alternative it was asked about.
    pub address: String,
    /// Why not.
    pub reason: MismatchReason,
}

/// Why a stack cannot dial an address: see [`Mismatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchReason {
    /// The address has a different number of sections than the stack has plugins. (The
    /// reference accepts fewer sections and then silently runs the wrong side of `shs`.)
    SectionCount {
        /// Sections the stack needs.
        expected: usize,
        /// Sections the address has.
        found: usize,
    },
    /// A plugin refused its section.
    Section {
        /// Which section (0 is the transport).
        index: usize,
        /// The plugin's reason.
        error: SectionError,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            MismatchReason::SectionCount { expected, found } => write!(
                f,
                "{} needs {expected} sections, `{}` has {found}",
                self.stack, self.address
            ),
            MismatchReason::Section { error, .. } => {
                write!(f, "{} cannot use `{}`: {error}", self.stack, self.address)
            }
        }
    }
}

/// One failed dial attempt of a multi-address.
#[derive(Debug)]
pub struct Attempt {
    /// The alternative that was dialled.
    pub address: String,
    /// The stack that dialled it.
    pub stack: String,
    /// Why it failed.
    pub error: Error,
}

/// What went wrong while connecting, listening or accepting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The string is not a multiserver address.
    #[error("invalid address: {0}")]
    Address(#[from] AddressError),
    /// No configured stack understands any alternative of the address.
    #[error("{}", unsupported_message(address, known, reasons, skipped))]
    Unsupported {
        /// The address's alternatives that parsed.
        address: String,
        /// The stacks this node has.
        known: Vec<String>,
        /// Why stacks whose transport claimed an alternative could not use it.
        reasons: Vec<Mismatch>,
        /// The alternatives left out because they do not parse
        /// ([`MultiAddress::parse_lenient`](crate::MultiAddress::parse_lenient)).
        skipped: Vec<Skipped>,
    },
    /// The transport could not connect (refused, unreachable, name not found, ...).
    #[error("{stack}: cannot connect to {address}: {source}")]
    Connect {
        /// The stack.
        stack: String,
        /// The alternative dialled.
        address: String,
        /// The transport's error.
        source: BoxError,
    },
    /// The transport's own set-up of an accepted connection failed (a TLS or WebSocket
    /// handshake, or a plain HTTP request that a WebSocket server answered).
    #[error("{stack}: setting up the connection from {address} failed: {source}")]
    Accept {
        /// The stack.
        stack: String,
        /// The peer as the transport names it.
        address: String,
        /// The transport's error.
        source: BoxError,
    },
    /// A transform failed (handshake refused, wrong key, peer misbehaved, ...).
    #[error("{stack}: {transform} with {address} failed: {source}")]
    Transform {
        /// The stack.
        stack: String,
        /// The transform, e.g. `shs`.
        transform: String,
        /// The remote address as far as it was established.
        address: String,
        /// The transform's error.
        source: BoxError,
    },
    /// The attempt took longer than its deadline.
    #[error("{stack}: {address} did not finish connecting within {after:?}")]
    Timeout {
        /// The stack.
        stack: String,
        /// The alternative.
        address: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// Every alternative that some stack understood was tried and failed (or one was, and
    /// others were skipped because they do not parse).
    #[error("{}", all_failed_message(attempts, skipped))]
    AllFailed {
        /// The attempts, in the order of the address.
        attempts: Vec<Attempt>,
        /// The alternatives left out because they do not parse
        /// ([`MultiAddress::parse_lenient`](crate::MultiAddress::parse_lenient)).
        skipped: Vec<Skipped>,
    },
    /// The dial was cancelled through its [`AbortHandle`](crate::AbortHandle).
    #[error("dial aborted")]
    Aborted,
    /// A stack could not start listening.
    #[error("{stack}: cannot listen: {source}")]
    Listen {
        /// The stack.
        stack: String,
        /// The transport's error.
        source: BoxError,
    },
    /// The configuration is invalid (e.g. `noauth` on a public stack).
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong, with the stack concerned.
        message: String,
        /// The plugin's own error, when a plugin refused the configuration.
        source: Option<BoxError>,
    },
}

impl Error {
    /// Whether the error (or any attempt inside it) is a timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::AllFailed { attempts, .. } => attempts.iter().all(|a| a.error.is_timeout()),
            _ => false,
        }
    }

    /// The plugin error inside, if there is exactly one, for downcasting.
    pub fn plugin_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Connect { source, .. }
            | Error::Accept { source, .. }
            | Error::Transform { source, .. }
            | Error::Listen { source, .. } => Some(source.as_ref()),
            Error::Config {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            Error::AllFailed { attempts, .. } if attempts.len() == 1 => {
                attempts.first().and_then(|a| a.error.plugin_error())
            }
            _ => None,
        }
    }
}

fn unsupported_message(
    address: &str,
    known: &[String],
    reasons: &[Mismatch],
    skipped: &[Skipped],
) -> String {
    let mut msg = format!(
        "no stack understands `{address}` (this node speaks {})",
        if known.is_empty() {
            "nothing".to_owned()
        } else {
            known.join(", ")
        }
    );
    for reason in reasons {
        msg.push_str("; ");
        msg.push_str(&reason.to_string());
    }
    push_skipped(&mut msg, skipped);
    msg
}

fn all_failed_message(attempts: &[Attempt], skipped: &[Skipped]) -> String {
    let mut msg = match attempts.len() {
        1 => "the only usable alternative failed".to_owned(),
        n => format!("all {n} alternatives failed"),
    };
    for (i, attempt) in attempts.iter().enumerate() {
        msg.push_str(&format!("; [{}] {}", i + 1, attempt.error));
    }
    push_skipped(&mut msg, skipped);
    msg
}

fn push_skipped(msg: &mut String, skipped: &[Skipped]) {
    for skipped in skipped {
        msg.push_str("; ");
        msg.push_str(&skipped.to_string());
    }
}
