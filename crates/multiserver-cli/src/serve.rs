//! `multiserver serve`: listen, print the addresses, handle connections until a signal.

use std::io;

use ms_core::{Connection, Event, Scope};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::announce::Announcer;
use crate::error::Failure;
use crate::plugins::{self, Identity, Listen};
use crate::pump::{self, Served, Sink};

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

    let stdout = if echo {
        None
    } else {
        Some(pump::Stdout::spawn().map_err(|e| Failure::runtime(format!("cannot start: {e}")))?)
    };
    let mode = match &stdout {
        None => Sink::Echo,
        Some(stdout) => Sink::Stdout(stdout.sender()),
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
                        peer = %crate::pump::peer(&conn),
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
    drop(mode);
    if let Some(stdout) = stdout
        && let Err(error) = stdout.finish().await
    {
        tracing::warn!(%error, "cannot write to stdout");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs one connection until either side ends it or the server stops (docs/cli.md, "How
/// connections end"), and logs how it ended: a goodbye that was not delivered is a warning,
/// never a clean close.
async fn handle(conn: Connection, mode: Sink, cancel: CancellationToken) {
    let remote = conn.remote_address().to_string();
    match pump::serve(conn, mode, cancel).await {
        Served::Closed { bytes } => tracing::info!(%remote, bytes, "connection closed"),
        Served::Stopped {
            bytes,
            peer_goodbye: true,
        } => tracing::info!(%remote, bytes, "connection closed (goodbye exchanged)"),
        Served::Stopped {
            bytes,
            peer_goodbye: false,
        } => tracing::info!(
            %remote,
            bytes,
            "connection closed (goodbye delivered; the peer hung up without its own)"
        ),
        // How most peers hang up (JavaScript's `rpc.close()` included): not a warning.
        Served::Failed { bytes, error } if crate::error::is_missing_goodbye(&error) => {
            tracing::info!(%remote, bytes, "connection closed by the peer without a goodbye")
        }
        Served::Failed { bytes, error } => {
            tracing::warn!(%remote, bytes, %error, "connection failed")
        }
    }
}

/// Resolves with the signal's name on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>, Failure>
{
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
