//! The handshake over a tokio stream: moves the sans-IO messages and enforces a deadline.
//!
//! The deadline covers the whole handshake (all four messages and, on the server, the
//! authorization decision), not each read as in the JS: a peer that trickles bytes cannot keep a
//! handshake alive. Messages are read with exact-size reads, so no byte after message 4 is
//! consumed here: the peer may send box-stream data right behind it and [`BoxStream`] sees all
//! of it.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::error::{HandshakeError, Message};
use crate::io::stream::BoxStream;
use crate::keys::{Keypair, NetworkKey, PublicKey};
use crate::proto::handshake::{ClientHandshake, EphemeralKey, ServerHandshake};

/// The JS reference's handshake timeout (there per read; here for the whole handshake).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings shared by both sides of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeOptions {
    /// The network to join. Default: [`NetworkKey::MAINNET`].
    pub network_key: NetworkKey,
    /// Deadline for the whole handshake. Default: [`DEFAULT_HANDSHAKE_TIMEOUT`] (5 s).
    pub timeout: Duration,
}

impl Default for HandshakeOptions {
    fn default() -> Self {
        Self {
            network_key: NetworkKey::MAINNET,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Maps a read/write failure to "the peer went away while we waited for `waiting_for`" when
/// that is what it means.
fn transport_error(error: io::Error, waiting_for: Message) -> HandshakeError {
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => HandshakeError::PeerHungUp { waiting_for },
        _ => HandshakeError::Io(error),
    }
}

async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &[u8],
    next: Message,
) -> Result<(), HandshakeError> {
    stream
        .write_all(msg)
        .await
        .map_err(|e| transport_error(e, next))?;
    stream.flush().await.map_err(|e| transport_error(e, next))
}

async fn receive<S: AsyncRead + Unpin, const N: usize>(
    stream: &mut S,
    message: Message,
) -> Result<[u8; N], HandshakeError> {
    let mut buf = [0u8; N];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| transport_error(e, message))?;
    Ok(buf)
}

async fn with_deadline<T>(
    timeout: Duration,
    handshake: impl Future<Output = Result<T, HandshakeError>>,
) -> Result<T, HandshakeError> {
    tokio::time::timeout(timeout, handshake)
        .await
        .unwrap_or(Err(HandshakeError::Timeout))
}

/// Dials: runs the client side of the handshake on `stream` as `keypair`, expecting the server
/// `server`, and returns the encrypted session.
///
/// For an SSB invite, pass `&Keypair::from_seed(&seed)` as `keypair`. On any error the stream is
/// dropped (closed): that is all the server sees.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ms_shs::{client_handshake, server_handshake, HandshakeOptions, Keypair};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
/// let (alice, bob) = (Keypair::generate()?, Keypair::generate()?);
/// let bob_pk = bob.public();
/// let options = HandshakeOptions::default();
///
/// let server = tokio::spawn(async move {
///     // Authorize everyone; the value travels with the connection.
///     let (mut stream, who) =
///         server_handshake(server_io, &bob, &options, |client| async move { Some(client) }).await?;
///     let mut greeting = String::new();
///     stream.read_to_string(&mut greeting).await?;
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>((who, greeting))
/// });
///
/// let mut stream = client_handshake(client_io, &alice, &bob_pk, &options).await?;
/// assert_eq!(stream.remote(), bob_pk);
/// stream.write_all(b"hi bob").await?;
/// stream.shutdown().await?; // sends the goodbye
///
/// let (who, greeting) = server.await?.map_err(|e| e.to_string())?;
/// assert_eq!((who, greeting.as_str()), (alice.public(), "hi bob"));
/// # Ok(())
/// # }
/// ```
pub async fn client_handshake<S>(
    mut stream: S,
    keypair: &Keypair,
    server: &PublicKey,
    options: &HandshakeOptions,
) -> Result<BoxStream<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ephemeral = EphemeralKey::generate()?;
    let (state, msg1) =
        ClientHandshake::new(options.network_key, keypair.clone(), *server, ephemeral)?;
    let outcome = with_deadline(options.timeout, async {
        let mut state = state;
        send(&mut stream, &msg1, Message::ServerHello).await?;
        // Work that needs no answer, done while the answer is on its way.
        state.precompute()?;
        let msg2 = receive(&mut stream, Message::ServerHello).await?;
        let (mut state, msg3) = state.read_server_hello(&msg2)?;
        send(&mut stream, &msg3, Message::ServerAccept).await?;
        state.precompute()?;
        let msg4 = receive(&mut stream, Message::ServerAccept).await?;
        state.read_server_accept(&msg4)
    })
    .await?;
    Ok(BoxStream::new(stream, outcome))
}

/// Accepts: runs the server side of the handshake on `stream` as `keypair`.
///
/// Once the client has proven its identity, `authorize` is called with its public key; `Some`
/// accepts it (the value is returned with the stream, like the JS `stream.auth`), `None` rejects
/// it ([`HandshakeError::Rejected`]; the client only sees us hang up). The deadline includes
/// `authorize`. See [`client_handshake`] for an example.
pub async fn server_handshake<S, F, Fut, T>(
    mut stream: S,
    keypair: &Keypair,
    options: &HandshakeOptions,
    authorize: F,
) -> Result<(BoxStream<S>, T), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(PublicKey) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let ephemeral = EphemeralKey::generate()?;
    let state = ServerHandshake::new(options.network_key, keypair.clone(), ephemeral);
    let (outcome, auth) = with_deadline(options.timeout, async {
        let msg1 = receive(&mut stream, Message::ClientHello).await?;
        let (mut state, msg2) = state.read_client_hello(&msg1)?;
        send(&mut stream, &msg2, Message::ClientAuth).await?;
        state.precompute()?;
        let msg3 = receive(&mut stream, Message::ClientAuth).await?;
        let pending = state.read_client_auth(&msg3)?;
        let Some(auth) = authorize(pending.client()).await else {
            return Err(pending.reject());
        };
        let (msg4, outcome) = pending.accept();
        send(&mut stream, &msg4, Message::ServerAccept).await?;
        Ok((outcome, auth))
    })
    .await?;
    Ok((BoxStream::new(stream, outcome), auth))
}
