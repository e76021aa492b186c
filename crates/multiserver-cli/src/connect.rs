//! `multiserver connect`: netcat for multiserver addresses.

use std::io;

use ms_core::{Error, MultiAddress, MultiServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::addr;
use crate::error::Failure;

/// Dials `address`, then copies stdin to the connection and the connection to stdout. End of
/// stdin ends our sending side; returns once the peer has closed its side.
pub async fn run(input: &str, address: &MultiAddress, node: &MultiServer) -> Result<(), Failure> {
    let conn = node
        .connect_to(address)
        .await
        .map_err(|e| connect_failure(input, &e))?;
    let remote = conn.remote_address().to_string();
    tracing::info!(%remote, stack = %conn.info().stack, "connected");
    let (mut reader, mut writer) = tokio::io::split(conn);

    let upload = async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdin.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n]).await?;
            writer.flush().await?;
        }
        tracing::debug!("end of stdin: closing our side");
        writer.shutdown().await
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).await.map_err(Broken::Connection)?;
            if n == 0 {
                return Ok(());
            }
            stdout.write_all(&buf[..n]).await.map_err(Broken::Stdout)?;
            stdout.flush().await.map_err(Broken::Stdout)?;
        }
    };
    tokio::pin!(upload, download);
    let mut uploading = true;
    loop {
        tokio::select! {
            sent = &mut upload, if uploading => {
                uploading = false;
                match sent {
                    Ok(()) => tracing::debug!("our side is closed"),
                    Err(error) if is_disconnect(&error) => {
                        tracing::debug!(%error, "sending stopped");
                    }
                    Err(error) => {
                        return Err(Failure::runtime(format!(
                            "connection to {remote} failed while sending: {error}"
                        )));
                    }
                }
            }
            done = &mut download => {
                return match done {
                    Ok(()) => {
                        tracing::debug!("the peer closed its side");
                        Ok(())
                    }
                    Err(Broken::Connection(e)) => Err(Failure::runtime(format!(
                        "connection to {remote} failed: {e}"
                    ))),
                    Err(Broken::Stdout(e)) => {
                        Err(Failure::runtime(format!("cannot write to stdout: {e}")))
                    }
                };
            }
        }
    }
}

/// Why copying the connection to stdout stopped.
enum Broken {
    /// Reading the connection failed.
    Connection(io::Error),
    /// Writing stdout failed.
    Stdout(io::Error),
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

/// One line: the address as given and why it could not be reached (every attempt's error
/// when several alternatives were tried). Exit 2 when the address is the problem.
fn connect_failure(input: &str, error: &Error) -> Failure {
    let message = match error {
        Error::Connect {
            stack,
            address,
            source,
        } => format!("cannot connect to {address} ({stack}): {source}"),
        Error::Timeout {
            stack,
            address,
            after,
        } => format!(
            "cannot connect to {address} ({stack}): no connection within {}",
            humantime(*after)
        ),
        Error::Transform {
            stack,
            transform,
            address,
            source,
        } => format!(
            "cannot connect to {input} ({stack}): {transform} with {address} failed: {source}"
        ),
        Error::Unsupported { .. } | Error::Address(_) => error.to_string(),
        other => format!("cannot connect to {input}: {other}"),
    };
    if addr::is_input_error(error) {
        Failure::usage(message)
    } else {
        Failure::runtime(message)
    }
}

fn humantime(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}
