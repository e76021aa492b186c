//! What can go wrong when making a UDP swarm.

use std::io;
use std::net::SocketAddr;

/// Why a [`UdpSwarm`](crate::UdpSwarm) could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// An option is out of range.
    #[error("invalid UDP swarm option: {0}")]
    Config(String),
    /// The socket could not be created or set up.
    #[error("cannot set up a UDP socket for {addr}: {source}")]
    Socket {
        /// The address it was for.
        addr: SocketAddr,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot bind UDP to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// No tokio runtime with I/O enabled is running.
    #[error("a UDP swarm needs a tokio runtime with I/O enabled: {0}")]
    Runtime(#[source] io::Error),
}
