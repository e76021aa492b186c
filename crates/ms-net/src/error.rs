//! The errors of the `net` transport.
//!
//! Two types, as a caller needs them: [`ConfigError`] says the options given to
//! [`NetBuilder`](crate::NetBuilder) are unusable (a programming or configuration mistake, found
//! before anything touches the network); [`NetError`] says what went wrong while dialling or
//! listening. Through `ms_core` a [`NetError`] arrives boxed inside
//! [`ms_core::Error::Connect`] or [`ms_core::Error::Listen`]; both types implement
//! [`Classify`], so [`ms_core::Error::kind`] tells the kind of failure without downcasting
//! (downcast [`ms_core::Error::plugin_error`] to match on the details).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ms_core::{Classify, ErrorKind, SectionError};

/// The options given to [`NetBuilder`](crate::NetBuilder) cannot work.
///
/// ```
/// use ms_core::Scope;
/// use ms_net::{ConfigError, Net};
/// let err = Net::builder()
///     .scope(Scope::Public)
///     .external("a.example;b.example")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidExternal { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An `external` host would not print as a valid, dialable `net:` section.
    #[error("invalid external host `{host}`: {reason}")]
    InvalidExternal {
        /// The host as given.
        host: String,
        /// Why it is unusable.
        reason: String,
    },
    /// `external` hosts were given but the transport does not serve the `public` scope, the
    /// only one they are announced for.
    #[error(
        "external hosts are announced for the public scope, which this transport does not serve"
    )]
    ExternalWithoutPublicScope,
}

/// What went wrong while dialling or listening.
///
/// The variants a dialler usually matches on are [`Refused`](Self::Refused) (nothing listens
/// there), [`TimedOut`](Self::TimedOut) (no answer within the connect timeout) and
/// [`Resolve`](Self::Resolve) (the host name is unknown).
///
/// ```
/// use ms_core::{Classify, ErrorKind};
/// use ms_net::NetError;
/// let err = NetError::Refused { target: "127.0.0.1:9".into() };
/// assert_eq!(err.kind(), ErrorKind::Refused);
/// assert_eq!(err.to_string(), "connection refused by 127.0.0.1:9");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The section is not a usable `net:host:port` section.
    #[error("invalid net address: {0}")]
    InvalidAddress(#[from] SectionError),
    /// The host name could not be resolved.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The host name resolved to no address at all.
    #[error("`{host}` resolved to no address")]
    NoAddresses {
        /// The host name.
        host: String,
    },
    /// Every address of the target actively refused the connection: nothing listens there.
    #[error("connection refused by {target}")]
    Refused {
        /// The target as dialled, `host:port` (IPv6 in brackets).
        target: String,
    },
    /// The connect timeout passed before a connection was made (resolution included).
    #[error("connecting to {target} timed out after {after:?}")]
    TimedOut {
        /// The target as dialled, `host:port`.
        target: String,
        /// The connect timeout.
        after: Duration,
    },
    /// Every address of the target failed, in other ways than all refusing or all timing out
    /// (unreachable network, reset, a mix, ...).
    #[error("cannot connect to {target}: {}", describe_attempts(attempts))]
    Connect {
        /// The target as dialled, `host:port`.
        target: String,
        /// Each address tried, in order, with its error.
        attempts: Vec<(SocketAddr, io::Error)>,
    },
    /// Another socket is already bound to the address.
    #[error("cannot listen on {addr}: address already in use")]
    AddrInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// Listening failed for another reason (no such local address, permission denied, ...).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Classify for ConfigError {
    /// Always [`ErrorKind::Configuration`].
    fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl Classify for NetError {
    /// [`Refused`](ErrorKind::Refused) when nobody could be reached (refused, unreachable,
    /// unknown name), [`Timeout`](ErrorKind::Timeout) for the connect timeout,
    /// [`Configuration`](ErrorKind::Configuration) when we cannot listen.
    fn kind(&self) -> ErrorKind {
        match self {
            NetError::InvalidAddress(_) => ErrorKind::InvalidAddress,
            NetError::Resolve { .. } | NetError::NoAddresses { .. } | NetError::Refused { .. } => {
                ErrorKind::Refused
            }
            NetError::TimedOut { .. } => ErrorKind::Timeout,
            NetError::Connect { attempts, .. } => {
                let kinds = attempts.iter().map(|(_, e)| ErrorKind::from_io(e.kind()));
                // Every address failed: the most hopeful of them says the most (a reset means
                // someone was there).
                if kinds.clone().any(|k| k == ErrorKind::Closed) {
                    ErrorKind::Closed
                } else if kinds.clone().all(|k| k == ErrorKind::Timeout) && !attempts.is_empty() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Refused
                }
            }
            NetError::AddrInUse { .. } | NetError::Listen { .. } => ErrorKind::Configuration,
        }
    }
}

fn describe_attempts(attempts: &[(SocketAddr, io::Error)]) -> String {
    let parts: Vec<String> = attempts
        .iter()
        .map(|(addr, error)| format!("{addr}: {error}"))
        .collect();
    parts.join("; ")
}
