//! # ms-unix: the `unix` (unix-domain socket) transport for multiserver
//!
//! Addresses look like `unix:<path>`: everything after `unix:` is the socket path, `:`
//! included (`unix:/run/ssb/socket`). Unix sockets are reachable from the same machine only,
//! so the transport serves the `device` scope and nothing else.
//!
//! ```
//! use ms_core::{MultiServer, Scope, Stack};
//! use ms_unix::Unix;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! // The reference's layout: a directory, with a socket file named `socket` in it.
//! let unix = Unix::in_directory(dir.path())?;
//! let node = MultiServer::new([Stack::new(unix)])?;
//! let mut server = node.listen().await?;
//! let address = server.address(Scope::Device).to_string();
//! assert_eq!(address, format!("unix:{}/socket", dir.path().display()));
//!
//! let dial = tokio::spawn({
//!     let node = node.clone();
//!     async move { node.connect(&address).await }
//! });
//! let mut inbound = server.accept().await.ok_or("server closed")?;
//! let mut outbound = dial.await??;
//! outbound.write_all(b"ping").await?;
//! outbound.shutdown().await?; // half-close: we can still read
//! let mut text = String::new();
//! inbound.read_to_string(&mut text).await?;
//! assert_eq!(text, "ping");
//! server.close().await; // the socket file is gone now
//! assert!(!dir.path().join("socket").exists());
//! # Ok(())
//! # }
//! ```
//!
//! ## Listening
//!
//! - The socket file gets mode `0600` (owner only) by default, set between `bind` and `listen`
//!   so that nobody else can connect in between; see [`UnixBuilder::mode`].
//! - A stale socket file (left by a process that died) is replaced: if connecting to it is
//!   refused, it is removed and the bind retried. A live one is never taken over: listening
//!   fails with [`UnixError::InUse`] and the first server keeps serving. A file that is not a
//!   socket is never removed ([`UnixError::NotASocket`]).
//! - Dropping the listener removes the socket file (only if it is still the one it created).
//! - Any number of unix listeners may run in one process (the reference allows one).
//!
//! ## Remote addresses
//!
//! An accepted connection's remote section is the listening socket's address,
//! `unix:<listening path>` (unix peers have no address of their own), as in the reference. A
//! dialled connection's is the path dialled; the reference reports its own listening path
//! there, a bug not reproduced.

#![cfg(unix)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod listener;
mod transport;

pub use error::{ConfigError, UnixError};
pub use listener::UnixListener;
pub use transport::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MODE, SOCKET_FILE_NAME, Unix, UnixBuilder};

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
