//! Why a connection ended, and the errors boxed into [`SwarmError`](ms_swarm::SwarmError).

use crate::frame::FrameError;

/// Why a connection of the swarm ended, or why a request on it failed. Found as the source of
/// [`SwarmError::Transport`](ms_swarm::SwarmError::Transport).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The connection closed before the answer came.
    #[error("the connection to the peer closed before the answer came")]
    Lost,
    /// The peer broke the protocol (oversized frame, unknown kind, ...); the connection was
    /// closed.
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    /// The peer broke the protocol in a frame that decoded (bad HELLO, bad address, ...).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer answered with more bytes than we accept.
    #[error("the answer was too large for the asker")]
    AnswerTooLarge,
}

/// The swarm could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The node could not listen.
    #[error("listening failed: {0}")]
    Listen(#[source] ms_core::Error),
    /// No public key was given and none is advertised by a `shs` stack.
    #[error("no public key: give one with Builder::public_key (a node without shs has none)")]
    NoPublicKey,
    /// The node advertises no address in any scope, so nobody could reach it.
    #[error("the node advertises no address")]
    NoAddress,
}
