//! What can go wrong in a swarm.

/// A boxed error from a transport underneath a swarm.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a swarm operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// The payload is longer than the swarm's MTU; nothing was sent.
    #[error("message of {size} bytes exceeds the MTU of {mtu} bytes")]
    MtuExceeded {
        /// The payload's length.
        size: usize,
        /// The swarm's MTU.
        mtu: usize,
    },
    /// The swarm was closed.
    #[error("the swarm is closed")]
    Closed,
    /// No public key is known for this address (never heard from, none in the address).
    #[error("no public key known for {addr}")]
    KeyUnknown {
        /// The address, as its canonical text.
        addr: String,
    },
    /// The destination cannot be reached: no such node, or every way to it failed.
    #[error("{addr} is unreachable{}", source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Unreachable {
        /// The address, as its canonical text.
        addr: String,
        /// Why, when a transport said so.
        #[source]
        source: Option<BoxError>,
    },
    /// An ask (or a dial it needed) did not finish within its deadline.
    #[error("timed out")]
    Timeout,
    /// The peer's handler refused to answer the ask.
    #[error("the peer refused to answer the request")]
    Rejected,
    /// The address belongs to another swarm or could not be parsed.
    #[error(transparent)]
    InvalidAddress(#[from] ParseAddrError),
    /// The transport underneath failed.
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
}

impl SwarmError {
    /// A transport failure, boxed.
    pub fn transport(error: impl Into<BoxError>) -> Self {
        Self::Transport(error.into())
    }

    /// [`SwarmError::Unreachable`] for `addr`, optionally with the transport's reason.
    pub fn unreachable(addr: &impl std::fmt::Display, source: Option<BoxError>) -> Self {
        Self::Unreachable {
            addr: addr.to_string(),
            source,
        }
    }

    /// [`SwarmError::KeyUnknown`] for `addr`.
    pub fn key_unknown(addr: &impl std::fmt::Display) -> Self {
        Self::KeyUnknown {
            addr: addr.to_string(),
        }
    }

    /// True for [`SwarmError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

/// Text that is not an address of this swarm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{input}`: {reason}")]
#[non_exhaustive]
pub struct ParseAddrError {
    /// The text (shortened to 100 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ParseAddrError {
    /// `input` is not an address because of `reason`.
    pub fn new(input: &str, reason: impl Into<String>) -> Self {
        let input = if input.chars().count() > 100 {
            let mut s: String = input.chars().take(100).collect();
            s.push('…');
            s
        } else {
            input.to_owned()
        };
        Self {
            input,
            reason: reason.into(),
        }
    }
}
