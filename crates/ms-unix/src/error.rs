//! The errors of the `unix` transport.
//!
//! [`ConfigError`] says an option given to [`UnixBuilder`](crate::UnixBuilder) is unusable,
//! before anything touches the file system. [`UnixError`] says what went wrong while dialling
//! or listening; through `ms_core` it arrives boxed inside [`ms_core::Error::Connect`] or
//! [`ms_core::Error::Listen`]; it implements [`ms_core::Classify`], so
//! [`ms_core::Error::kind`] says what kind of failure it is without downcasting (downcast
//! [`ms_core::Error::plugin_error`] to match on the details).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ms_core::SectionError;

/// An option given to [`UnixBuilder`](crate::UnixBuilder) cannot work.
///
/// ```
/// use ms_unix::{ConfigError, Unix};
/// let err = Unix::new("/run/ssb;evil/socket").unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidPath { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The socket path cannot be used or cannot be printed as a `unix:` address.
    #[error("invalid socket path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// The mode has bits other than the nine permission bits (`0o777`).
    #[error("invalid socket file mode {0:#o}: only permission bits (0o777) may be set")]
    InvalidMode(u32),
}

/// What went wrong while dialling or listening.
///
/// ```
/// use ms_unix::UnixError;
/// let err = UnixError::InUse { path: "/run/ssb/socket".into() };
/// assert_eq!(
///     err.to_string(),
///     "cannot listen on \"/run/ssb/socket\": another server is listening there"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnixError {
    /// The section is not a usable `unix:<path>` section.
    #[error("invalid unix address: {0}")]
    InvalidAddress(#[from] SectionError),
    /// The transport was built without a socket path, so it can only dial.
    #[error("this unix transport has no socket path to listen on (it was built to dial only)")]
    NoSocketPath,
    /// A live server already answers on the socket path; it is left alone.
    #[error("cannot listen on {path:?}: another server is listening there")]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket (a regular file, a directory) is in the way; it is left
    /// alone.
    #[error("cannot listen on {path:?}: the path exists and is not a socket")]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// Listening failed for another reason (no such directory, permission denied, ...).
    #[error("cannot listen on {path:?}: {source}")]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// There is no socket file at the path.
    #[error("cannot connect to {path:?}: no such socket")]
    NotFound {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket file exists but nobody listens on it (a stale socket).
    #[error("connection refused by {path:?}")]
    Refused {
        /// The socket path.
        path: PathBuf,
    },
    /// The connect timeout passed.
    #[error("connecting to {path:?} timed out after {after:?}")]
    TimedOut {
        /// The socket path.
        path: PathBuf,
        /// The connect timeout.
        after: Duration,
    },
    /// Connecting failed for another reason (permission denied, not a socket, ...).
    #[error("cannot connect to {path:?}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl ms_core::Classify for ConfigError {
    /// Always [`Configuration`](ms_core::ErrorKind::Configuration).
    fn kind(&self) -> ms_core::ErrorKind {
        ms_core::ErrorKind::Configuration
    }
}

impl ms_core::Classify for UnixError {
    /// [`Refused`](ms_core::ErrorKind::Refused) when nobody listens at the path,
    /// [`Timeout`](ms_core::ErrorKind::Timeout) for the connect timeout,
    /// [`Configuration`](ms_core::ErrorKind::Configuration) when we cannot listen.
    fn kind(&self) -> ms_core::ErrorKind {
        use ms_core::ErrorKind;
        match self {
            UnixError::InvalidAddress(_) => ErrorKind::InvalidAddress,
            UnixError::NoSocketPath
            | UnixError::InUse { .. }
            | UnixError::NotASocket { .. }
            | UnixError::Listen { .. } => ErrorKind::Configuration,
            UnixError::NotFound { .. } | UnixError::Refused { .. } => ErrorKind::Refused,
            UnixError::TimedOut { .. } => ErrorKind::Timeout,
            UnixError::Connect { source, .. } => match ErrorKind::from_io(source.kind()) {
                ErrorKind::Other => ErrorKind::Refused,
                kind => kind,
            },
        }
    }
}
