//! Byte streams and the connections handed to applications.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;

use crate::{Address, AuthValue, Identity, PeerKey, PublicKey};

/// A bidirectional byte stream: what transports produce and transforms consume and produce.
///
/// Implemented for every `AsyncRead + AsyncWrite + Send + Unpin` type.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + ?Sized> AsyncStream for T {}

/// A boxed [`AsyncStream`]: the byte stream every transport hands over and every transform
/// takes and returns. (Not to be confused with `ms_shs::BoxStream`, the box-stream protocol.)
pub type BoxedIo = Box<dyn AsyncStream>;

/// Whether a connection was dialled or accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled.
    Outbound,
    /// We accepted.
    Inbound,
}

/// What is known about a connection.
///
/// Built with [`ConnectionInfo::new`] (and [`with_identity`](Self::with_identity)); outside
/// `ms-core` the fields can be read but not set by a struct literal.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Whether we dialled or accepted.
    pub direction: Direction,
    /// The stack that carries it, e.g. `net~shs`.
    pub stack: String,
    /// The remote's full address as a multiserver string, e.g.
    /// `net:127.0.0.1:53211~shs:<key>`: the transport's view of the peer, then one section per
    /// transform (`shs:<remote key>`; `noauth:<local key>` as in the reference).
    pub remote_address: Address,
    /// Who the peer is, as the last layer that said it established it (a transform such as
    /// `shs`, or the transport itself).
    pub identity: Option<Identity>,
}

impl ConnectionInfo {
    /// A description with no identity.
    pub fn new(direction: Direction, stack: impl Into<String>, remote_address: Address) -> Self {
        Self {
            direction,
            stack: stack.into(),
            remote_address,
            identity: None,
        }
    }

    /// Says who the peer is.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }
}

/// How long [`Connection::close`] waits for the peer to end its side.
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// An established connection: a byte stream that went through a whole stack, and what is known
/// about the peer.
///
/// Read and write it like any tokio stream. `shutdown` ends our sending side (for `shs`, after
/// the box-stream goodbye).
///
/// To end a connection, [`close`](Self::close) it rather than drop it: dropping a TCP (or
/// unix) connection whose input was not all read makes the kernel reset it, and the peer
/// may lose what we sent last (and `shs` peers miss the goodbye). `close` says goodbye and
/// reads, discarding, until the peer ends its side too, within a deadline.
///
/// An inbound connection counts against its stack's
/// [`max_connections_per_stack`](crate::Config::max_connections_per_stack) until it is dropped,
/// or, after [`into_parts`](Self::into_parts), until its [`ConnectionStream`] is.
pub struct Connection {
    stream: ConnectionStream,
    info: ConnectionInfo,
}

impl Connection {
    /// Wraps a stream and its description.
    pub fn new(stream: BoxedIo, info: ConnectionInfo) -> Self {
        Self {
            stream: ConnectionStream { stream, slot: None },
            info,
        }
    }

    pub(crate) fn hold(&mut self, slot: OwnedSemaphorePermit) {
        self.stream.slot = Some(slot);
    }

    /// What is known about the connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The remote's full address (see [`ConnectionInfo::remote_address`]).
    pub fn remote_address(&self) -> &Address {
        &self.info.remote_address
    }

    /// The peer's key, of any kind, when a transform or the transport established one.
    pub fn remote_key(&self) -> Option<&PeerKey> {
        self.info.identity.as_ref().map(Identity::key)
    }

    /// The peer's Ed25519 key (its SSB identity), when it is known by one.
    pub fn remote_ed25519(&self) -> Option<&PublicKey> {
        self.info.identity.as_ref().and_then(Identity::ed25519)
    }

    /// What the server's `auth` callback returned for this peer (inbound only).
    pub fn auth(&self) -> Option<&AuthValue> {
        self.info.identity.as_ref().and_then(Identity::auth)
    }

    /// Ends the connection cleanly, waiting at most [`DEFAULT_CLOSE_GRACE`]: see
    /// [`close_within`](Self::close_within).
    pub async fn close(self) -> io::Result<u64> {
        self.close_within(DEFAULT_CLOSE_GRACE).await
    }

    /// Ends the connection cleanly: ends our sending side (`shutdown`: for `shs` the
    /// box-stream goodbye, then the transport's end, e.g. a TCP FIN) while reading and
    /// discarding what the peer still sends, until the peer ends its side too. Returns how
    /// many bytes were discarded.
    ///
    /// Everything written before arrives intact, followed by a clean end, instead of the reset
    /// a drop with unread input causes. Fails with the error of either direction (e.g.
    /// `UnexpectedEof` when an `shs` peer hung up without its goodbye), or `TimedOut` when the
    /// peer has not ended its side within `grace`; the connection is dropped in every case.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ms_core::{Address, Connection, ConnectionInfo, Direction};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (ours, mut theirs) = tokio::io::duplex(64);
    /// let info = ConnectionInfo::new(Direction::Outbound, "mem", Address::parse("mem:1").unwrap());
    /// let conn = Connection::new(Box::new(ours), info);
    /// let peer = tokio::spawn(async move {
    ///     theirs.write_all(b"unread").await?;
    ///     let mut got = Vec::new();
    ///     theirs.read_to_end(&mut got).await?; // our end arrives
    ///     theirs.shutdown().await // and the peer ends its side
    /// });
    /// let discarded = conn.close_within(Duration::from_secs(5)).await?;
    /// assert_eq!(discarded, 6);
    /// peer.await??;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close_within(self, grace: Duration) -> io::Result<u64> {
        let (mut reader, mut writer) = tokio::io::split(self);
        let drain = async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut discarded = 0u64;
            loop {
                match reader.read(&mut buf).await? {
                    0 => return Ok::<_, io::Error>(discarded),
                    n => discarded += n as u64,
                }
            }
        };
        let both = async move {
            let (said, drained) = tokio::join!(writer.shutdown(), drain);
            said?;
            drained
        };
        match tokio::time::timeout(grace, both).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer did not end its side within {grace:?}"),
            )),
        }
    }

    /// Splits into the stream and its description. The stream keeps the connection's place
    /// under the server's open-connection limit until it is dropped.
    pub fn into_parts(self) -> (ConnectionStream, ConnectionInfo) {
        (self.stream, self.info)
    }
}

/// The byte stream of a [`Connection`], from [`Connection::into_parts`].
///
/// An inbound connection's stream keeps counting against its stack's
/// [`max_connections_per_stack`](crate::Config::max_connections_per_stack) until it is dropped.
/// Reads and writes go straight to the stream underneath.
///
/// ```
/// use ms_core::{Connection, ConnectionInfo, Direction, Address, AsyncStream};
///
/// let (ours, _theirs) = tokio::io::duplex(64);
/// let info = ConnectionInfo::new(Direction::Outbound, "mem", Address::parse("mem:1")?);
/// let (stream, info) = Connection::new(Box::new(ours), info).into_parts();
/// fn takes_any_stream(_: impl AsyncStream) {}
/// takes_any_stream(stream);
/// # Ok::<(), ms_core::AddressError>(())
/// ```
pub struct ConnectionStream {
    stream: BoxedIo,
    /// The server's open-connection slot (inbound only), released on drop.
    slot: Option<OwnedSemaphorePermit>,
}

impl fmt::Debug for ConnectionStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionStream")
            .field("holds_slot", &self.slot.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("direction", &self.info.direction)
            .field("stack", &self.info.stack)
            .field("remote_address", &self.info.remote_address)
            .finish_non_exhaustive()
    }
}

delegate_io!(ConnectionStream, read);
delegate_io!(Connection, read);
