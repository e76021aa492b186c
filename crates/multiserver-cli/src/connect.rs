//! `multiserver connect`: netcat for multiserver addresses.

use ms_core::{Error, MultiAddress, MultiServer};

use crate::addr;
use crate::error::Failure;
use crate::pump::{self, Connected, EndOfInput};

/// Dials `address`, then copies stdin to the connection and the connection to stdout until
/// the peer ends its side (docs/cli.md: "End of input"). Exits 0 once the peer has ended
/// cleanly, even if stdin had not ended.
pub async fn run(
    input: &str,
    address: &MultiAddress,
    node: &MultiServer,
    end: EndOfInput,
) -> Result<(), Failure> {
    let conn = node
        .connect_to(address)
        .await
        .map_err(|e| connect_failure(input, &e))?;
    let remote = conn.remote_address().to_string();
    tracing::info!(%remote, stack = %conn.info().stack, "connected");
    pump::connect(conn, end)
        .await
        .map_err(|broken| match broken {
            Connected::Connection(e) => {
                Failure::runtime(format!("connection to {remote} failed: {e}"))
            }
            Connected::Sending(e) => {
                Failure::runtime(format!("connection to {remote} failed while sending: {e}"))
            }
            Connected::Stdin(e) => Failure::runtime(format!("cannot read stdin: {e}")),
            Connected::Stdout(e) => Failure::runtime(format!("cannot write to stdout: {e}")),
        })
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
