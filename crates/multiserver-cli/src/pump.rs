//! The command's data path: stdin and stdout on dedicated threads, and the pumps that move
//! bytes between them and a connection.
//!
//! Why threads: `tokio::io::stdin()`/`stdout()` hand every single read and write to the
//! blocking pool and wait for it, which halved the command's throughput. Here one thread reads
//! stdin in large chunks and one writes stdout (on Linux through 1 MiB pipes), each connected
//! to the async side by a bounded channel of buffers (back-pressure both ways); a connection's
//! two directions are polled concurrently in its task, and the echo flushes only when no
//! further chunk is waiting. See docs/decisions.md.
//!
//! How a connection ends (docs/cli.md): a goodbye is sent only by a side whose input did not
//! fail, and a side that says goodbye keeps reading (and discarding) until the peer's own end,
//! so that unread input never makes the kernel reset the connection under the goodbye.

use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::pin::Pin;
use std::time::Duration;

use ms_core::Connection;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Bytes per read of stdin or of a connection.
const CHUNK: usize = 256 * 1024;

/// Buffers in flight per channel (stdin → connection, connection → stdout, echo).
const DEPTH: usize = 8;

/// How long a closing connection may take to deliver its goodbye and see the peer's end.
pub const GOODBYE_GRACE: Duration = Duration::from_secs(3);

/// Whether a connection's stack has an end-of-stream signal of its own above the transport
/// (the secret-handshake goodbye). Without one, the transport's FIN is the only end signal.
pub fn has_goodbye(conn: &Connection) -> bool {
    conn.info().stack.split('~').skip(1).any(|t| t == "shs")
}

/// Who the peer is, for log lines: its key of whatever kind (`@<base64>.ed25519` for an SSB
/// identity, `<kind>:<base64>` for another), or `-` when no layer of the stack named it.
pub fn peer(conn: &Connection) -> String {
    conn.remote_key()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// Chunks of stdin, read by a dedicated thread.
pub struct Stdin {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
}

impl Stdin {
    /// Starts the reading thread. It ends at end of stdin, on a read error, or when `Stdin`
    /// is dropped and it next has a chunk to hand over (a read still blocked then is left to
    /// the end of the process).
    pub fn spawn() -> io::Result<Self> {
        let (tx, chunks) = mpsc::channel(DEPTH);
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                grow_pipe(&stdin);
                // One buffer for every read; each chunk is a copy of what was read (a read
                // often returns less than the buffer: cheaper than zeroing a fresh one).
                let mut buf = vec![0; CHUNK];
                loop {
                    let chunk = match stdin.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => Ok(buf[..n].to_vec()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let failed = chunk.is_err();
                    if tx.blocking_send(chunk).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self { chunks })
    }

    /// The next chunk; `None` at end of stdin.
    pub async fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.chunks.recv().await
    }

    /// Whether no chunk is ready right now (time to flush what was written).
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// Stdout, written by a dedicated thread. Clone the [`StdoutSender`] to write from several
/// connections; [`Stdout::finish`] waits until everything sent is written.
pub struct Stdout {
    sender: StdoutSender,
    done: oneshot::Receiver<io::Result<()>>,
}

/// Sends chunks to the stdout thread.
#[derive(Clone)]
pub struct StdoutSender(mpsc::Sender<Vec<u8>>);

impl StdoutSender {
    /// Queues `chunk`; fails once the stdout thread stopped (a write failed: see
    /// [`Stdout::finish`] for why).
    pub async fn send(&self, chunk: Vec<u8>) -> io::Result<()> {
        self.0
            .send(chunk)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed or failed"))
    }
}

impl Stdout {
    /// Starts the writing thread.
    pub fn spawn() -> io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(DEPTH);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                grow_pipe(&io::stdout());
                let mut stdout = raw_stdout();
                let result = (|| {
                    while let Some(chunk) = rx.blocking_recv() {
                        stdout.write_all(&chunk)?;
                        if rx.is_empty() {
                            stdout.flush()?;
                        }
                    }
                    stdout.flush()
                })();
                let _ = done_tx.send(result);
            })?;
        Ok(Self {
            sender: StdoutSender(tx),
            done,
        })
    }

    /// A handle to write with.
    pub fn sender(&self) -> StdoutSender {
        self.sender.clone()
    }

    /// Waits until every chunk sent (by every clone of the sender, which must all be dropped)
    /// is written and flushed.
    pub async fn finish(self) -> io::Result<()> {
        drop(self.sender);
        match self.done.await {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the stdout thread stopped")),
        }
    }
}

/// Pipe buffer asked for on stdin and stdout, when they are pipes (Linux's default is 64 KiB;
/// 1 MiB is the most an unprivileged process may ask for by default).
#[cfg(target_os = "linux")]
const PIPE_SIZE: usize = 1024 * 1024;

/// Makes the pipe behind `fd` larger, if it is one: fewer, larger reads and writes, and fewer
/// wake-ups of this process and of the program at the other end. Best effort.
#[cfg(target_os = "linux")]
fn grow_pipe(fd: &impl std::os::fd::AsFd) {
    if let Ok(size) = rustix::pipe::fcntl_getpipe_size(fd)
        && size < PIPE_SIZE
    {
        let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE);
    }
}

#[cfg(not(target_os = "linux"))]
fn grow_pipe<T>(_: &T) {}

/// Stdout without the standard library's line buffering (a write of a large chunk would be
/// cut at its last newline, the rest buffered): a duplicate of its file descriptor on Unix.
fn raw_stdout() -> Box<dyn io::Write> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        if let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(io::stdout().lock())
}

/// Reads one chunk of up to [`CHUNK`] bytes; `None` at the peer's end.
async fn read_chunk(reader: &mut ReadHalf<Connection>) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(CHUNK);
    match reader.read_buf(&mut buf).await? {
        0 => Ok(None),
        _ => Ok(Some(buf)),
    }
}

/// Reads and discards until the peer's end (its goodbye, or EOF).
async fn drain(reader: &mut ReadHalf<Connection>) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    while reader.read(&mut buf).await? != 0 {}
    Ok(())
}

/// Writes chunks from `rx` until it closes (then flushes) or `stop` fires (then returns at
/// once; what was queued is dropped). Flushes whenever no further chunk is waiting, so a
/// busy stream goes out in large writes.
async fn write_chunks(
    writer: &mut WriteHalf<Connection>,
    rx: &mut mpsc::Receiver<Vec<u8>>,
    stop: &CancellationToken,
) -> io::Result<()> {
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            chunk = rx.recv() => chunk,
        };
        let Some(chunk) = chunk else {
            return writer.flush().await;
        };
        let write = async {
            writer.write_all(&chunk).await?;
            if rx.is_empty() {
                writer.flush().await?;
            }
            Ok::<_, io::Error>(())
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            written = write => written?,
        }
    }
}

/// What a connection received goes to.
#[derive(Clone)]
pub enum Sink {
    /// Back to the same connection.
    Echo,
    /// To stdout.
    Stdout(StdoutSender),
}

/// How a served connection ended.
#[derive(Debug)]
pub enum Served {
    /// The peer ended its side and we ended ours (goodbye sent, when the stack has one).
    Closed {
        /// Bytes received.
        bytes: u64,
    },
    /// The server stopped: our goodbye went out and the peer's end came back.
    Stopped {
        /// Bytes received.
        bytes: u64,
        /// The peer ended its transport without its own goodbye (it had ours).
        peer_goodbye: bool,
    },
    /// Something failed; no goodbye was sent after a failed read.
    Failed {
        /// Bytes received.
        bytes: u64,
        /// What failed.
        error: io::Error,
    },
}

/// Why the reading loop of a served connection stopped.
enum End {
    /// The peer ended its side (goodbye or EOF).
    PeerDone,
    /// The server is stopping.
    Stopped,
    /// Reading the connection failed.
    ReadFailed(io::Error),
    /// Echoing or printing failed.
    SinkFailed(io::Error),
}

/// Serves one connection of `serve`: what it receives goes to `sink` until the peer ends or
/// `cancel` fires; then ends our side as docs/cli.md describes.
pub async fn serve(conn: Connection, sink: Sink, cancel: CancellationToken) -> Served {
    let (mut reader, writer) = tokio::io::split(conn);
    let stop = CancellationToken::new();
    let (echo_tx, mut echo) = match &sink {
        Sink::Echo => {
            let (tx, mut rx) = mpsc::channel(DEPTH);
            let stop = stop.clone();
            let mut writer = writer;
            let echo: EchoFuture = Box::pin(async move {
                let result = write_chunks(&mut writer, &mut rx, &stop).await;
                (writer, result)
            });
            (Some(tx), Echo::Running(echo))
        }
        Sink::Stdout(_) => (None, Echo::Idle(writer)),
    };
    let mut bytes = 0u64;
    let end = loop {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => break End::Stopped,
            stopped = echo.run() => break End::SinkFailed(stopped),
            chunk = read_chunk(&mut reader) => chunk,
        };
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break End::PeerDone,
            Err(error) => break End::ReadFailed(error),
        };
        bytes += chunk.len() as u64;
        let delivered = async {
            match (&sink, &echo_tx) {
                (Sink::Stdout(stdout), _) => stdout.send(chunk).await,
                (Sink::Echo, Some(tx)) => tx
                    .send(chunk)
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the echo stopped")),
                (Sink::Echo, None) => Ok(()),
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break End::Stopped,
            stopped = echo.run() => break End::SinkFailed(stopped),
            delivered = delivered => if let Err(error) = delivered {
                break End::SinkFailed(error);
            },
        }
    };
    drop(echo_tx);
    match end {
        End::PeerDone => {
            // Everything received is echoed before our goodbye, all within the grace period.
            let finished = tokio::time::timeout(GOODBYE_GRACE, async {
                let mut writer = echo.finish(None).await?;
                writer.shutdown().await
            })
            .await;
            match finished {
                Ok(Ok(())) => Served::Closed { bytes },
                Ok(Err(error)) if is_disconnect(&error) => Served::Closed { bytes },
                Ok(Err(error)) => Served::Failed { bytes, error },
                Err(_) => {
                    // The echo task may still wait for a peer that does not read: end it.
                    stop.cancel();
                    Served::Failed {
                        bytes,
                        error: io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the rest of the echo and the goodbye could not be sent in time",
                        ),
                    }
                }
            }
        }
        End::ReadFailed(error) => {
            // What arrived intact is still echoed, then the stream is dropped WITHOUT a
            // goodbye: the peer must see that it was cut short.
            if tokio::time::timeout(GOODBYE_GRACE, echo.finish(None))
                .await
                .is_err()
            {
                stop.cancel();
            }
            Served::Failed { bytes, error }
        }
        End::SinkFailed(error) => {
            let _ = echo.finish(Some(&stop)).await;
            Served::Failed { bytes, error }
        }
        End::Stopped => {
            stop.cancel();
            let mut writer = match echo.finish(Some(&stop)).await {
                Ok(writer) => writer,
                Err(error) => return Served::Failed { bytes, error },
            };
            // Our goodbye, while reading and discarding whatever the peer still sends, until
            // its own end: closing with unread input would reset the connection and destroy
            // the goodbye on its way.
            let ended = tokio::time::timeout(GOODBYE_GRACE, async {
                let (said, drained) = tokio::join!(writer.shutdown(), drain(&mut reader));
                said?;
                Ok::<_, io::Error>(drained)
            })
            .await;
            match ended {
                Ok(Ok(Ok(()))) => {
                    // Both ends are through: end the transport too (best effort).
                    let _ = tokio::time::timeout(GOODBYE_GRACE, writer.shutdown()).await;
                    Served::Stopped {
                        bytes,
                        peer_goodbye: true,
                    }
                }
                // The peer had our goodbye and hung up without its own.
                Ok(Ok(Err(error))) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    Served::Stopped {
                        bytes,
                        peer_goodbye: false,
                    }
                }
                Ok(Ok(Err(error)) | Err(error)) => Served::Failed {
                    bytes,
                    error: io::Error::new(
                        error.kind(),
                        format!("the goodbye was not confirmed: {error}"),
                    ),
                },
                Err(_) => Served::Failed {
                    bytes,
                    error: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the goodbye was not confirmed within {} s",
                            GOODBYE_GRACE.as_secs()
                        ),
                    ),
                },
            }
        }
    }
}

/// The echo of a served connection: writes what the reading side hands it until its channel
/// closes or `stop` fires, then gives the writer back.
type EchoFuture = Pin<Box<dyn Future<Output = (WriteHalf<Connection>, io::Result<()>)> + Send>>;

/// The sending side of a served connection.
///
/// The echo runs in the connection's own task, next to the reading side, rather than on a task
/// of its own: both halves of a split stream share one lock, held while a box-stream frame is
/// encrypted or decrypted, so a second thread would mostly wait for it (and cost futex
/// wake-ups), not work in parallel.
enum Echo {
    /// Echoing.
    Running(EchoFuture),
    /// Not written to (stdout mode), or the echo ended early.
    Idle(WriteHalf<Connection>),
}

impl Echo {
    /// Drives the echo; completes only if it stops early (the peer stopped reading, a write
    /// failed), with why. Never completes without an echo. Cancel-safe.
    async fn run(&mut self) -> io::Error {
        let Echo::Running(echo) = self else {
            return std::future::pending().await;
        };
        let (writer, result) = echo.await;
        *self = Echo::Idle(writer);
        result
            .err()
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the echo stopped"))
    }

    /// Waits for the echo to finish (with `stop` fired: at once) and gives the writer back.
    async fn finish(self, stop: Option<&CancellationToken>) -> io::Result<WriteHalf<Connection>> {
        if let Some(stop) = stop {
            stop.cancel();
        }
        match self {
            Echo::Idle(writer) => Ok(writer),
            Echo::Running(echo) => match echo.await {
                (writer, Ok(())) => Ok(writer),
                (_, Err(error)) => Err(error),
            },
        }
    }
}

/// How `connect` treats the end of stdin.
#[derive(Clone, Copy, Debug)]
pub struct EndOfInput {
    /// End our sending side (TCP FIN) as soon as stdin ends, even on a stack without a goodbye
    /// (`-N`, as OpenBSD netcat).
    pub half_close: bool,
    /// Without `half_close` on a stack without a goodbye: end our side once the peer has sent
    /// nothing for this long.
    pub quiet: Duration,
}

/// Why `connect` stopped.
#[derive(Debug)]
pub enum Connected {
    /// Reading the connection failed.
    Connection(io::Error),
    /// Sending failed (not because the peer was gone).
    Sending(io::Error),
    /// Reading stdin failed.
    Stdin(io::Error),
    /// Writing stdout failed.
    Stdout(io::Error),
}

/// The pump of `connect`: stdin to the connection, the connection to stdout, until the peer
/// ends its side. See docs/cli.md for the end-of-input rule.
pub async fn connect(conn: Connection, end: EndOfInput) -> Result<(), Connected> {
    let goodbye = has_goodbye(&conn);
    let (reader, mut writer) = tokio::io::split(conn);
    let stdout = Stdout::spawn().map_err(Connected::Stdout)?;
    let mut stdin = Stdin::spawn().map_err(Connected::Stdin)?;
    // Chunks received so far, for the quiet-period rule.
    let (seen_tx, seen) = tokio::sync::watch::channel(0u64);
    let sender = stdout.sender();
    // Polled in this task, next to the upload (see `Echo` for why not a task of its own).
    let download = async move {
        let mut reader = reader;
        let mut count = 0u64;
        loop {
            match read_chunk(&mut reader).await {
                Ok(Some(chunk)) => {
                    count += 1;
                    seen_tx.send_replace(count);
                    if let Err(error) = sender.send(chunk).await {
                        return Err(Connected::Stdout(error));
                    }
                }
                Ok(None) => return Ok(()),
                Err(error) => return Err(Connected::Connection(error)),
            }
        }
    };
    tokio::pin!(download);

    let received = {
        let upload = async {
            while let Some(chunk) = stdin.next().await {
                let chunk = chunk.map_err(Connected::Stdin)?;
                writer.write_all(&chunk).await.map_err(Connected::Sending)?;
                if stdin.is_empty() {
                    writer.flush().await.map_err(Connected::Sending)?;
                }
            }
            if !goodbye && !end.half_close {
                // No end signal but the transport's FIN, which a peer that is not half-open (the
                // JS reference) takes as the end of everything: wait until it has gone quiet.
                let mut seen = seen.clone();
                loop {
                    let before = *seen.borrow_and_update();
                    tokio::time::sleep(end.quiet).await;
                    if *seen.borrow() == before {
                        break;
                    }
                }
            }
            tracing::debug!("end of stdin: ending our side");
            writer.shutdown().await.map_err(Connected::Sending)
        };
        tokio::pin!(upload);
        let mut uploading = true;
        loop {
            tokio::select! {
                sent = &mut upload, if uploading => {
                    uploading = false;
                    match sent {
                        Ok(()) => tracing::debug!("our side is closed"),
                        Err(Connected::Sending(error)) if is_disconnect(&error) => {
                            tracing::debug!(%error, "sending stopped");
                        }
                        Err(error) => return Err(error),
                    }
                }
                done = &mut download => break done,
            }
        }
    };
    drop(stdin);
    let stdout_done = stdout.finish();
    match received {
        Ok(()) => {
            tracing::debug!("the peer closed its side");
            // Our goodbye if stdin had not ended yet, and the end of the transport: the
            // peer's end is here, so nothing of ours is lost.
            match tokio::time::timeout(GOODBYE_GRACE, writer.shutdown()).await {
                Ok(Err(error)) if !is_disconnect(&error) => {
                    tracing::debug!(%error, "ending our side failed");
                }
                _ => {}
            }
            stdout_done.await.map_err(Connected::Stdout)
        }
        // The stdout thread knows why it stopped (e.g. a closed pipe).
        Err(Connected::Stdout(error)) => {
            Err(Connected::Stdout(stdout_done.await.err().unwrap_or(error)))
        }
        Err(error) => {
            // No goodbye after a failed read; still write out what did arrive.
            let _ = stdout_done.await;
            Err(error)
        }
    }
}

/// Errors that mean the peer is gone (nothing left to say goodbye to).
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

#[cfg(test)]
mod tests {
    use ms_core::{Address, ConnectionInfo, Direction, Identity, PeerKey, PublicKey};

    use super::*;

    fn connection(identity: Option<Identity>) -> Connection {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut info = ConnectionInfo::new(
            Direction::Inbound,
            "net",
            Address::parse("net:127.0.0.1:1").unwrap(),
        );
        if let Some(identity) = identity {
            info = info.with_identity(identity);
        }
        Connection::new(Box::new(ours), info)
    }

    #[test]
    fn log_lines_name_the_peer_by_its_key_of_any_kind() {
        let ssb = connection(Some(Identity::new(PublicKey::from_bytes([0; 32]))));
        assert_eq!(
            peer(&ssb),
            "@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519"
        );
        let tls = connection(Some(Identity::from_key(PeerKey::other(
            "tls-spki-sha256",
            vec![0; 3],
        ))));
        assert_eq!(peer(&tls), "tls-spki-sha256:AAAA");
        assert_eq!(peer(&connection(None)), "-");
    }
}
