//! Errors.
//!
//! Three layers, as a caller needs them: an [`AddressError`](crate::AddressError) says the text
//! is not an address at all; a [`SectionError`] says a plugin cannot use a section (wrong
//! protocol, missing or invalid argument); an [`Error`] says what went wrong while connecting or
//! serving, with the stack and the address it concerns. Plugin errors travel inside [`Error`] as
//! a [`BoxError`] whose concrete type the plugin documents (reach it with
//! [`Error::plugin_error`] and downcast it to match on every detail).
//!
//! Every error also says what *kind* of failure it is, and so whose fault: [`Error::kind`]
//! answers with an [`ErrorKind`] without downcasting, through every plugin and through
//! [`Error::AllFailed`]. Plugins say the kind of their own errors by implementing [`Classify`]
//! and boxing them with [`classified`]; an error a plugin boxes without it is classified from
//! the [`io::Error`]s in its source chain, or as [`ErrorKind::Other`].
//!
//! ```
//! use ms_core::{classified, Classify, Error, ErrorKind};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("the carrier pigeon did not come back")]
//! struct PigeonLost;
//!
//! impl Classify for PigeonLost {
//!     fn kind(&self) -> ErrorKind {
//!         ErrorKind::Timeout
//!     }
//! }
//!
//! let err = Error::Connect {
//!     stack: "pigeon".into(),
//!     address: "pigeon:loft".into(),
//!     source: classified(PigeonLost),
//! };
//! assert_eq!(err.kind(), ErrorKind::Timeout);
//! assert!(err.is_timeout());
//! // The plugin's own type is still there for downcasting.
//! assert!(err.plugin_error().is_some_and(|e| e.is::<PigeonLost>()));
//! ```

use std::fmt;
use std::io;
use std::time::Duration;

use crate::{AddressError, Skipped};

/// A plugin's error, type-erased. Plugins document the concrete types they return, and box
/// them with [`classified`] so that the node can tell their [`ErrorKind`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an error is, and so whose fault: the one classification every plugin
/// error maps into (see [`Classify`]), for callers that decide what to do next (retry, try
/// another peer, fix the settings, tell the user) without knowing the plugins.
///
/// The set is deliberately small; new kinds may be added (it is `#[non_exhaustive]`), so match
/// with a fallback arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input: the text is not a multiserver address. Fix the address.
    InvalidAddress,
    /// Our own settings are wrong: an unreadable key or certificate, a bad TLS configuration,
    /// an address we cannot listen on (in use, not ours), options that contradict each other.
    /// Our fault; retrying does not help.
    Configuration,
    /// Nobody is there: the connection was refused, the network or host is unreachable, the
    /// name does not resolve, no stack of ours speaks any of the peer's protocols. Nobody's
    /// fault in particular; another address or a later retry may work.
    Refused,
    /// A deadline passed (connecting, a transport's or a transform's handshake, the whole
    /// attempt): the peer or the path to it is slow or silent.
    Timeout,
    /// The peer speaks something else: a different network key (secret-handshake), not a
    /// WebSocket server, not TLS, another protocol or version. Nobody misbehaved, but these two
    /// cannot talk.
    Incompatible,
    /// The peer broke the protocol: a bad signature, an invalid key or curve point, tampered
    /// or garbled bytes, a malformed request. The peer's (or the path's) fault.
    PeerMisbehaved,
    /// An identity was refused: the peer did not authorize us, or our authorization (or a
    /// WebSocket server's `verify_client` callback) refused the peer. Deliberate, on one side
    /// or the other.
    Rejected,
    /// The connection broke: reset, closed early, unexpected end of stream, an I/O failure on
    /// an established connection.
    Closed,
    /// Not a failure: the transport dealt with the connection itself (see
    /// [`HandledByTransport`](crate::HandledByTransport)).
    HandledByTransport,
    /// The caller cancelled the dial (see [`AbortHandle`](crate::AbortHandle)).
    Aborted,
    /// Anything else (a plugin that does not classify its errors, randomness unavailable, ...).
    Other,
}

impl ErrorKind {
    /// How much a failure of this kind tells about the peer, for choosing the kind of a set of
    /// attempts ([`Error::AllFailed`]): an attempt that reached a peer and was rejected or
    /// found it incompatible says more than one that found nobody there.
    fn weight(self) -> u8 {
        match self {
            ErrorKind::Rejected => 9,
            ErrorKind::Incompatible => 8,
            ErrorKind::PeerMisbehaved => 7,
            ErrorKind::Configuration => 6,
            ErrorKind::Closed => 5,
            ErrorKind::Timeout => 4,
            ErrorKind::Refused => 3,
            ErrorKind::InvalidAddress => 2,
            ErrorKind::Other => 1,
            ErrorKind::HandledByTransport | ErrorKind::Aborted => 0,
        }
    }

    /// The kind of an [`io::ErrorKind`]: how errors that a plugin did not classify are read.
    pub fn from_io(kind: io::ErrorKind) -> Self {
        use io::ErrorKind as Io;
        match kind {
            Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
            Io::ConnectionRefused
            | Io::HostUnreachable
            | Io::NetworkUnreachable
            | Io::NetworkDown
            | Io::AddrNotAvailable
            | Io::NotFound => ErrorKind::Refused,
            Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::NotConnected
            | Io::UnexpectedEof
            | Io::WriteZero => ErrorKind::Closed,
            Io::InvalidData => ErrorKind::PeerMisbehaved,
            Io::PermissionDenied => ErrorKind::Rejected,
            Io::AddrInUse | Io::InvalidInput => ErrorKind::Configuration,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidAddress => "invalid address",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Incompatible => "incompatible",
            ErrorKind::PeerMisbehaved => "peer misbehaved",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Closed => "closed",
            ErrorKind::HandledByTransport => "handled by the transport",
            ErrorKind::Aborted => "aborted",
            ErrorKind::Other => "other",
        })
    }
}

/// An error that says its [`ErrorKind`]: implemented by every plugin's error types, so that
/// [`Error::kind`] can answer without knowing them. Box such an error with [`classified`].
pub trait Classify {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
}

impl Classify for io::Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::from_io(io::Error::kind(self))
    }
}

impl Classify for SectionError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidAddress
    }
}

impl Classify for AddressError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidAddress
    }
}

impl Classify for crate::HandledByTransport {
    fn kind(&self) -> ErrorKind {
        ErrorKind::HandledByTransport
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}

/// Boxes a plugin error together with its [`ErrorKind`]: what a plugin returns as the
/// [`BoxError`] of [`Transport`](crate::Transport) and [`Transform`](crate::Transform)
/// methods (and of [`Accepted::pending`](crate::Accepted::pending)).
///
/// The box holds a [`Classified`]; [`Error::plugin_error`] and [`Classified::inner`] give back
/// the plugin's own error for downcasting. Its `Display` and `source` are the plugin error's.
pub fn classified<E>(error: E) -> BoxError
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    let kind = error.kind();
    Box::new(Classified {
        kind,
        error: Box::new(error),
    })
}

/// A plugin error with its [`ErrorKind`], as [`classified`] boxes it.
#[derive(Debug)]
pub struct Classified {
    kind: ErrorKind,
    error: BoxError,
}

impl Classified {
    /// Wraps an already boxed error with a kind chosen by the caller.
    pub fn new(kind: ErrorKind, error: BoxError) -> Self {
        Self { kind, error }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The plugin's error, for downcasting.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }

    /// The plugin's error.
    pub fn into_inner(self) -> BoxError {
        self.error
    }
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Classified {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// The kind of a boxed plugin error: the kind [`classified`] stored with it; otherwise the
/// kind of the first [`HandledByTransport`](crate::HandledByTransport), [`Classified`] or
/// [`io::Error`] in its source chain; otherwise [`ErrorKind::Other`].
pub fn kind_of(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(classified) = error.downcast_ref::<Classified>() {
            return classified.kind;
        }
        if error.is::<crate::HandledByTransport>() {
            return ErrorKind::HandledByTransport;
        }
        if let Some(io) = error.downcast_ref::<io::Error>() {
            // An io::Error may carry a classified error (or a plugin error) inside.
            if let Some(inner) = io.get_ref() {
                let kind = kind_of(inner);
                if kind != ErrorKind::Other {
                    return kind;
                }
            }
            return ErrorKind::from_io(io.kind());
        }
        next = error.source();
    }
    ErrorKind::Other
}

/// The plugin's own error inside a boxed one: the error a [`Classified`] wraps, or the error
/// itself. For downcasting a [`BoxError`] that a plugin returned (inside [`Error`],
/// [`Error::plugin_error`] does this).
pub fn unwrap_classified<'a>(
    error: &'a (dyn std::error::Error + Send + Sync + 'static),
) -> &'a (dyn std::error::Error + Send + Sync + 'static) {
    match error.downcast_ref::<Classified>() {
        Some(classified) => classified.inner(),
        None => error,
    }
}

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

/// One failed dial attempt of a multi-address; its [`ErrorKind`] is `error.kind()`.
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
    /// What kind of failure this is, and so whose fault (see [`ErrorKind`]).
    ///
    /// For a plugin's error, the kind the plugin gave it ([`Classify`]), wherever it arrives:
    /// a transport's connect timeout is [`ErrorKind::Timeout`] as much as the node's own
    /// attempt deadline. For [`Error::AllFailed`], the kind of the most telling attempt: one
    /// that reached a peer ([`Rejected`](ErrorKind::Rejected),
    /// [`Incompatible`](ErrorKind::Incompatible), [`PeerMisbehaved`](ErrorKind::PeerMisbehaved),
    /// in that order) before one that broke, timed out or found nobody there; each attempt's
    /// own kind is `attempts[i].error.kind()`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Address(_) => ErrorKind::InvalidAddress,
            Error::Unsupported { .. } => ErrorKind::Refused,
            Error::Connect { source, .. }
            | Error::Accept { source, .. }
            | Error::Transform { source, .. }
            | Error::Listen { source, .. } => kind_of(source.as_ref()),
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::AllFailed { attempts, .. } => attempts
                .iter()
                .map(|a| a.error.kind())
                .reduce(|best, kind| {
                    if kind.weight() > best.weight() {
                        kind
                    } else {
                        best
                    }
                })
                .unwrap_or(ErrorKind::Refused),
            Error::Aborted => ErrorKind::Aborted,
            Error::Config { .. } => ErrorKind::Configuration,
        }
    }

    /// Whether the failure is a timeout (`self.kind() == ErrorKind::Timeout`): the node's
    /// attempt deadline, a transport's connect timeout or a transform's handshake timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// The plugin error inside, if there is exactly one, for downcasting (the plugin's own
    /// type, not the [`Classified`] box around it).
    pub fn plugin_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Connect { source, .. }
            | Error::Accept { source, .. }
            | Error::Transform { source, .. }
            | Error::Listen { source, .. } => Some(unwrap_classified(source.as_ref())),
            Error::Config {
                source: Some(source),
                ..
            } => Some(unwrap_classified(source.as_ref())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("plugin: {0}")]
    struct Plugin(ErrorKind);

    impl Classify for Plugin {
        fn kind(&self) -> ErrorKind {
            self.0
        }
    }

    fn connect(source: BoxError) -> Error {
        Error::Connect {
            stack: "p".into(),
            address: "p:x".into(),
            source,
        }
    }

    fn attempt(error: Error) -> Attempt {
        Attempt {
            address: "p:x".into(),
            stack: "p".into(),
            error,
        }
    }

    #[test]
    fn a_classified_plugin_error_keeps_its_kind_message_and_type() {
        let err = connect(classified(Plugin(ErrorKind::Incompatible)));
        assert_eq!(err.kind(), ErrorKind::Incompatible);
        assert_eq!(
            err.to_string(),
            "p: cannot connect to p:x: plugin: incompatible"
        );
        assert!(err.plugin_error().is_some_and(|e| e.is::<Plugin>()));
    }

    #[test]
    fn unclassified_errors_are_read_from_their_io_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(connect(Box::new(refused)).kind(), ErrorKind::Refused);
        let wrapped = io::Error::other(Plugin(ErrorKind::Rejected));
        // An io::Error that carries a classified error inside says that error's kind.
        let inside = io::Error::other(classified(Plugin(ErrorKind::Rejected)));
        assert_eq!(connect(Box::new(inside)).kind(), ErrorKind::Rejected);
        assert_eq!(connect(Box::new(wrapped)).kind(), ErrorKind::Other);
        assert_eq!(connect("text".into()).kind(), ErrorKind::Other);
    }

    #[test]
    fn all_failed_takes_the_most_telling_attempt() {
        let err = Error::AllFailed {
            attempts: vec![
                attempt(connect(classified(Plugin(ErrorKind::Refused)))),
                attempt(connect(classified(Plugin(ErrorKind::Incompatible)))),
                attempt(Error::Timeout {
                    stack: "p".into(),
                    address: "p:x".into(),
                    after: Duration::from_secs(1),
                }),
            ],
            skipped: Vec::new(),
        };
        assert_eq!(err.kind(), ErrorKind::Incompatible);
        assert!(!err.is_timeout());

        let err = Error::AllFailed {
            attempts: vec![
                attempt(connect(classified(Plugin(ErrorKind::Refused)))),
                attempt(connect(classified(Plugin(ErrorKind::Timeout)))),
            ],
            skipped: Vec::new(),
        };
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_timeout());
    }
}
