//! [`UnixListener`]: a listening unix socket that cleans up after itself.
//!
//! Invariants: the socket file has its final mode before the socket listens (bind, chmod,
//! listen); a file at the path is removed only when it is a socket nobody answers on; on drop
//! the file is removed only if it is still the one this listener created (same device and
//! inode), so a listener never deletes another server's socket.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{Accepted, Listener, Scope, Section};
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixStream;

use crate::UnixError;

/// Pending connections the kernel keeps for us.
const BACKLOG: i32 = 1024;

/// How long a probe of an existing socket file may take before it counts as live (a server
/// too busy to accept is still a server).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A listening `unix` transport.
///
/// Made by [`Unix::bind`](crate::Unix::bind) or, boxed, by
/// [`Transport::listen`](ms_core::Transport::listen). Dropping it stops listening and removes
/// the socket file; accepted connections stay open.
///
/// ```
/// use ms_core::{Listener, Scope};
/// use ms_unix::Unix;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let listener = Unix::in_directory(dir.path())?.bind().await?;
/// let _client = tokio::net::UnixStream::connect(listener.path()).await?;
/// let accepted = listener.accept().await?;
/// // Unix peers have no address: the remote is the listening socket, as in the reference.
/// assert_eq!(accepted.remote, listener.advertise(Scope::Device)[0]);
/// assert!(listener.advertise(Scope::Local).is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    section: Section,
    /// Device and inode of the socket file we created.
    identity: Option<(u64, u64)>,
}

impl UnixListener {
    pub(crate) async fn bind(path: &Path, section: Section, mode: u32) -> Result<Self, UnixError> {
        let listen_error = |source: io::Error| UnixError::Listen {
            path: path.to_owned(),
            source,
        };
        let std_listener = match bind_socket(path, mode) {
            Ok(listener) => listener,
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                clear_stale_socket(path).await?;
                bind_socket(path, mode).map_err(|error| match error.kind() {
                    // Someone else took the path between our removal and our bind.
                    io::ErrorKind::AddrInUse => UnixError::InUse {
                        path: path.to_owned(),
                    },
                    _ => listen_error(error),
                })?
            }
            Err(error) => return Err(listen_error(error)),
        };
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(|error| {
            let _ = fs::remove_file(path);
            listen_error(error)
        })?;
        let identity = fs::symlink_metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        tracing::info!(path = %path.display(), mode = format_args!("{mode:#o}"), "unix: listening");
        Ok(Self {
            listener,
            path: path.to_owned(),
            section,
            identity,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds, sets the mode, then listens: until `listen` the socket refuses connections, so no
/// one connects while the file still has the umask's permissions.
fn bind_socket(path: &Path, mode: u32) -> io::Result<std::os::unix::net::UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    let finish = || -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        socket.listen(BACKLOG)?;
        socket.set_nonblocking(true)
    };
    if let Err(error) = finish() {
        let _ = fs::remove_file(path);
        return Err(error);
    }
    Ok(socket.into())
}

/// Something is at `path`. Removes it if it is a socket nobody answers on; otherwise says why
/// not.
async fn clear_stale_socket(path: &Path) -> Result<(), UnixError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        // Gone already: the retry will tell.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(UnixError::Listen {
                path: path.to_owned(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(UnixError::NotASocket {
            path: path.to_owned(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Ok(_)) | Err(_) => Err(UnixError::InUse {
            path: path.to_owned(),
        }),
        Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "unix: replacing a stale socket");
            match fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(UnixError::Listen {
                    path: path.to_owned(),
                    source,
                }),
            }
        }
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Ok(Err(source)) => Err(UnixError::Listen {
            path: path.to_owned(),
            source,
        }),
    }
}

#[async_trait]
impl Listener for UnixListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let (stream, _) = self.listener.accept().await?;
        tracing::debug!(path = %self.path.display(), "unix: accepted");
        Ok(Accepted::ready(Box::new(stream), self.section.clone()))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        if scope == Scope::Device {
            vec![self.section.clone()]
        } else {
            Vec::new()
        }
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        if ours.is_some() && ours == self.identity {
            if let Err(error) = fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), %error, "unix: cannot remove the socket file");
            }
        } else {
            tracing::debug!(path = %self.path.display(), "unix: socket file gone or replaced; not removing");
        }
    }
}
