//! `multiserver serve`: listen, print the addresses, handle connections until a signal.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ms_core::{Connection, Event, Scope};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::announce::Announcer;
use crate::error::Failure;
use crate::plugins::{self, Identity, Listen};

/// How long a closing connection may take to send its goodbye.
const GOODBYE_GRACE: Duration = Duration::from_secs(3);

/// What happens to the bytes a connection receives.
#[derive(Clone)]
enum Mode {
    /// Sent back on the same connection.
    Echo,
    /// Written to stdout.
    Print(Arc<Mutex<tokio::io::Stdout>>),
}

/// Serves until Ctrl-C or SIGTERM, then closes everything and returns.
pub async fn run(
    listen: &Listen,
    identity: &Identity,
    echo: bool,
    announcer: Announcer,
) -> Result<(), Failure> {
    // Signal handlers first: a signal that arrives once the addresses are printed must find
    // them installed.
    let mut stop = Box::pin(shutdown_signal()?);
    let node = plugins::server(listen, identity)?;
    let mut server = node
        .listen()
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    announcer.announce(Scope::ALL.map(|scope| (scope, server.address(scope).to_string())))?;
    tracing::info!(stacks = %node.name(), "listening");

    let mode = if echo {
        Mode::Echo
    } else {
        Mode::Print(Arc::new(Mutex::new(tokio::io::stdout())))
    };
    let cancel = CancellationToken::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            signal = &mut stop => {
                tracing::info!(%signal, "shutting down");
                break;
            }
            event = server.next_event() => match event {
                None => break,
                Some(Event::Connected(conn)) => {
                    tracing::info!(
                        remote = %conn.remote_address(),
                        stack = %conn.info().stack,
                        "connection",
                    );
                    connections.spawn(handle(conn, mode.clone(), cancel.clone()));
                }
                Some(Event::Rejected { stack, error }) => {
                    tracing::warn!(%stack, %error, "connection rejected");
                }
                Some(_) => {}
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    server.close().await;
    cancel.cancel();
    while connections.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// Runs one connection until either side ends it or the server stops, then ends our sending
/// side (for shs, the box-stream goodbye).
async fn handle(conn: Connection, mode: Mode, cancel: CancellationToken) {
    let remote = conn.remote_address().to_string();
    match pump(conn, &mode, &cancel).await {
        Ok(bytes) => tracing::info!(%remote, bytes, "connection closed"),
        // How most peers hang up (JavaScript's `rpc.close()` included): not a warning.
        Err(error) if crate::error::is_missing_goodbye(&error) => {
            tracing::info!(%remote, "connection closed by the peer without a goodbye");
        }
        Err(error) => tracing::warn!(%remote, %error, "connection failed"),
    }
}

async fn pump(conn: Connection, mode: &Mode, cancel: &CancellationToken) -> io::Result<u64> {
    let (mut reader, mut writer) = tokio::io::split(conn);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let result: io::Result<()> = async {
        loop {
            let n = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                n = reader.read(&mut buf) => n?,
            };
            if n == 0 {
                return Ok(());
            }
            total += n as u64;
            let chunk = &buf[..n];
            let write = async {
                match mode {
                    Mode::Echo => {
                        writer.write_all(chunk).await?;
                        writer.flush().await
                    }
                    Mode::Print(stdout) => {
                        let mut stdout = stdout.lock().await;
                        stdout.write_all(chunk).await?;
                        stdout.flush().await
                    }
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                written = write => written?,
            }
        }
    }
    .await;
    let goodbye = tokio::time::timeout(GOODBYE_GRACE, writer.shutdown()).await;
    result?;
    match goodbye {
        Ok(Ok(())) => Ok(total),
        // The peer is gone already: nothing left to say goodbye to.
        Ok(Err(e)) if is_disconnect(&e) => Ok(total),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the goodbye could not be sent in time",
        )),
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

/// Resolves with the signal's name on Ctrl-C (SIGINT) or SIGTERM.
fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let cannot = |e: io::Error| Failure::runtime(format!("cannot handle signals: {e}"));
        let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
        let mut int = signal(SignalKind::interrupt()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        })
    }
}
