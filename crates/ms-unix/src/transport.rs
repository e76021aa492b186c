//! [`Unix`], its builder, and dialling.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    BoxError, Connected, Listener, Scopes, Section, SectionError, Transport, classified,
};
use tokio::net::UnixStream;
use tracing::Instrument as _;

use crate::{ConfigError, UnixError, UnixListener};

/// The connect timeout used unless [`UnixBuilder::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket file's mode unless [`UnixBuilder::mode`] says otherwise: owner read and write.
pub const DEFAULT_MODE: u32 = 0o600;

/// The name of the socket file that [`Unix::in_directory`] puts in its directory, as the
/// reference does.
pub const SOCKET_FILE_NAME: &str = "socket";

/// The longest socket path the operating system takes (`sun_path` less its final NUL).
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_PATH_LEN: usize = 107;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MAX_PATH_LEN: usize = 103;

/// The `unix` transport: unix-domain sockets, `unix:<path>` addresses, `device` scope only.
///
/// Cheap to clone. Dialling works with any instance; listening needs a socket path.
///
/// ```
/// use ms_core::{Scopes, Transport};
/// use ms_unix::Unix;
///
/// let unix = Unix::new("/run/ssb/socket")?;
/// assert_eq!(unix.name(), "unix");
/// assert_eq!(unix.scopes(), Scopes::DEVICE);
/// assert_eq!(unix.socket_path(), Some("/run/ssb/socket".as_ref()));
///
/// let unix = Unix::in_directory("/run/ssb")?;
/// assert_eq!(unix.socket_path(), Some("/run/ssb/socket".as_ref()));
///
/// let dialler = Unix::dial_only();
/// assert_eq!(dialler.socket_path(), None);
/// # Ok::<(), ms_unix::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Unix {
    config: Arc<Config>,
}

#[derive(Debug)]
pub(crate) struct Config {
    /// The socket path (absolute) and its section, when this transport can listen.
    pub(crate) socket: Option<(PathBuf, Section)>,
    pub(crate) mode: u32,
    pub(crate) connect_timeout: Duration,
}

impl Unix {
    /// A transport that listens on exactly this socket path (made absolute against the current
    /// directory, so that the advertised address works from any directory).
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        Self::builder().path(path).build()
    }

    /// A transport that listens on `<dir>/socket`, the reference's layout (its `path` option is
    /// a directory). The directory must exist when listening starts.
    pub fn in_directory(dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::builder().directory(dir).build()
    }

    /// A transport that only dials; [`listen`](Transport::listen) fails with
    /// [`UnixError::NoSocketPath`].
    pub fn dial_only() -> Self {
        Self {
            config: Arc::new(Config {
                socket: None,
                mode: DEFAULT_MODE,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            }),
        }
    }

    /// Starts configuring a transport.
    pub fn builder() -> UnixBuilder {
        UnixBuilder::default()
    }

    /// The socket path this transport listens on, if any.
    pub fn socket_path(&self) -> Option<&Path> {
        self.config.socket.as_ref().map(|(path, _)| path.as_path())
    }

    /// The mode the socket file gets.
    pub fn mode(&self) -> u32 {
        self.config.mode
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.config.connect_timeout
    }

    /// Starts listening and returns the concrete listener. [`Transport::listen`] does the
    /// same, boxed.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use ms_unix::Unix;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let listener = Unix::in_directory(dir.path())?.bind().await?;
    /// let mode = std::fs::metadata(listener.path())?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o600);
    /// drop(listener);
    /// assert!(!dir.path().join("socket").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(&self) -> Result<UnixListener, UnixError> {
        let (path, section) = self.config.socket.as_ref().ok_or(UnixError::NoSocketPath)?;
        UnixListener::bind(path, section.clone(), self.config.mode).await
    }

    /// Connects to the socket at `path`.
    pub async fn dial(&self, path: &Path) -> Result<UnixStream, UnixError> {
        let timeout = self.config.connect_timeout;
        match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(connect_error(path, error)),
            Err(_) => Err(UnixError::TimedOut {
                path: path.to_owned(),
                after: timeout,
            }),
        }
    }
}

fn connect_error(path: &Path, source: io::Error) -> UnixError {
    let path = path.to_owned();
    match source.kind() {
        io::ErrorKind::NotFound => UnixError::NotFound { path },
        io::ErrorKind::ConnectionRefused => UnixError::Refused { path },
        _ => UnixError::Connect { path, source },
    }
}

/// The path of a `unix:` section: everything after `unix:`, `:` included.
fn parse(section: &Section) -> Result<&str, SectionError> {
    if section.name() != "unix" {
        return Err(SectionError::WrongProtocol {
            expected: "unix",
            found: section.name().to_owned(),
        });
    }
    let path = section.rest();
    if path.is_empty() {
        return Err(SectionError::Missing {
            what: "socket path",
            after: "unix:",
            at: section.as_str().len(),
        });
    }
    if path.len() > MAX_PATH_LEN {
        return Err(SectionError::Invalid {
            what: "socket path",
            value: path.to_owned(),
            reason: "longer than a unix socket path can be",
            at: "unix:".len(),
        });
    }
    Ok(path)
}

#[async_trait]
impl Transport for Unix {
    fn name(&self) -> &str {
        "unix"
    }

    fn scopes(&self) -> Scopes {
        Scopes::DEVICE
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        parse(section).map(|_| ())
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let path = Path::new(parse(section).map_err(|e| classified(UnixError::from(e)))?);
        let span = tracing::debug_span!("unix.connect", path = %path.display());
        async {
            let stream = self.dial(path).await.map_err(classified)?;
            tracing::debug!("connected");
            Ok(Connected::new(Box::new(stream), section.clone()))
        }
        .instrument(span)
        .await
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(self.bind().await.map_err(classified)?))
    }
}

/// Configures a [`Unix`] transport.
///
/// | option | default | reference (`multiserver` 3.8.2) |
/// |---|---|---|
/// | [`path`](Self::path) / [`directory`](Self::directory) | none: dial only | `path` is a directory (default: a fresh temporary one), socket `<path>/socket` |
/// | [`mode`](Self::mode) | `0o600` | `0o600`, not configurable |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s | none |
///
/// The scope is always `device`.
///
/// ```
/// use std::time::Duration;
/// use ms_unix::Unix;
///
/// let unix = Unix::builder()
///     .path("/run/ssb/socket")
///     .mode(0o660) // the owner's group may connect too
///     .connect_timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(unix.mode(), 0o660);
/// # Ok::<(), ms_unix::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct UnixBuilder {
    path: Option<PathBuf>,
    mode: u32,
    connect_timeout: Duration,
}

impl Default for UnixBuilder {
    fn default() -> Self {
        Self {
            path: None,
            mode: DEFAULT_MODE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl UnixBuilder {
    /// Listens on exactly this socket path.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Listens on `<dir>/socket`, as the reference does with its `path` option.
    pub fn directory(mut self, dir: impl AsRef<Path>) -> Self {
        self.path = Some(dir.as_ref().join(SOCKET_FILE_NAME));
        self
    }

    /// The permission bits of the socket file (default [`DEFAULT_MODE`], `0o600`). Connecting
    /// needs write permission on it, so `0o660` lets the owner's group in.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The deadline of one dial (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the options and builds the transport.
    pub fn build(self) -> Result<Unix, ConfigError> {
        if self.mode & !0o777 != 0 {
            return Err(ConfigError::InvalidMode(self.mode));
        }
        let socket = match self.path {
            Some(path) => Some(socket_section(path)?),
            None => None,
        };
        Ok(Unix {
            config: Arc::new(Config {
                socket,
                mode: self.mode,
                connect_timeout: self.connect_timeout,
            }),
        })
    }
}

/// Makes `path` absolute and checks that it prints as a `unix:` section that parses back.
fn socket_section(path: PathBuf) -> Result<(PathBuf, Section), ConfigError> {
    let invalid = |path: &Path, reason: &str| ConfigError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.as_os_str().is_empty() {
        return Err(invalid(&path, "empty"));
    }
    let absolute = std::path::absolute(&path).map_err(|e| invalid(&path, &e.to_string()))?;
    let text = absolute
        .to_str()
        .ok_or_else(|| invalid(&path, "not UTF-8, so it cannot be written in an address"))?;
    if text.len() > MAX_PATH_LEN {
        return Err(invalid(
            &path,
            &format!(
                "{} bytes long, more than the {MAX_PATH_LEN} a unix socket path can have",
                text.len()
            ),
        ));
    }
    let section = Section::new(format!("unix:{text}"))
        .map_err(|e| invalid(&path, &format!("cannot be written in an address: {e}")))?;
    Ok((absolute, section))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<String, SectionError> {
        parse(&Section::new(text).unwrap()).map(str::to_owned)
    }

    #[test]
    fn everything_after_the_name_is_the_path() {
        assert_eq!(parsed("unix:ssb-dir/socket").unwrap(), "ssb-dir/socket");
        assert_eq!(parsed("unix:dir/a:b").unwrap(), "dir/a:b");
        assert_eq!(parsed("unix:/a~b").unwrap(), "/a~b");
        assert!(matches!(parsed("unix:"), Err(SectionError::Missing { .. })));
        assert!(matches!(parsed("unix"), Err(SectionError::Missing { .. })));
        assert!(matches!(
            parsed("net:a:1"),
            Err(SectionError::WrongProtocol { .. })
        ));
        let long = format!("unix:/{}", "x".repeat(200));
        assert!(matches!(parsed(&long), Err(SectionError::Invalid { .. })));
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        let unix = Unix::new("ssb-dir/socket").unwrap();
        let path = unix.socket_path().unwrap();
        assert!(path.is_absolute());
        assert!(path.ends_with("ssb-dir/socket"));
    }

    #[test]
    fn paths_that_cannot_be_addresses_are_refused() {
        for bad in ["", "/a;b/socket", "/a\nb"] {
            assert!(
                matches!(Unix::new(bad), Err(ConfigError::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        let long = format!("/{}", "x".repeat(200));
        assert!(matches!(
            Unix::new(long),
            Err(ConfigError::InvalidPath { .. })
        ));
        assert_eq!(
            Unix::builder().mode(0o4700).build().unwrap_err(),
            ConfigError::InvalidMode(0o4700)
        );
    }
}
