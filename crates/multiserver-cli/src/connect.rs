//! `multiserver connect`: netcat for multiserver addresses.

use ms_core::{Error, MultiAddress, MultiServer};

use crate::addr;
use crate::error::{Failure, explain, failed_transform};
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
    tracing::info!(
        %remote,
        stack = %conn.info().stack,
        peer = %crate::pump::peer(&conn),
        "connected"
    );
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

/// One line: the address as given, what kind of failure it was in plain words
/// ([`explain`], from [`Error::kind`]), then the details (every attempt's error when several
/// alternatives were tried). Exit 2 when the address is the problem.
fn connect_failure(input: &str, error: &Error) -> Failure {
    let detail = match error {
        Error::Connect { stack, source, .. } => format!("{stack}: {source}"),
        Error::Timeout { stack, after, .. } => {
            format!("{stack}: no connection within {}", humantime(*after))
        }
        Error::Transform {
            stack,
            transform,
            address,
            source,
        } => format!("{stack}: {transform} with {address} failed: {source}"),
        other => other.to_string(),
    };
    let message = match error {
        Error::Unsupported { .. } | Error::Address(_) => error.to_string(),
        _ => match explain(error.kind(), failed_transform(error)) {
            Some(why) => format!("cannot connect to {input}: {why} ({detail})"),
            None => format!("cannot connect to {input}: {detail}"),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_leads_with_the_kind_of_failure() {
        let refused = Error::Connect {
            stack: "net~shs".into(),
            address: "net:127.0.0.1:9".into(),
            source: ms_core::classified(ms_net::NetError::Refused {
                target: "127.0.0.1:9".into(),
            }),
        };
        let failure = connect_failure("net:127.0.0.1:9~shs:k", &refused);
        assert_eq!(
            failure.message,
            "cannot connect to net:127.0.0.1:9~shs:k: nobody is listening there \
             (net~shs: connection refused by 127.0.0.1:9)"
        );

        let wrong_key = Error::Transform {
            stack: "net~shs".into(),
            transform: "shs".into(),
            address: "net:127.0.0.1:8008".into(),
            source: ms_core::classified(ms_shs::HandshakeError::PeerHungUp {
                waiting_for: ms_shs::Message::ServerHello,
            }),
        };
        let failure = connect_failure("net:127.0.0.1:8008~shs:k", &wrong_key);
        assert!(
            failure.message.starts_with(
                "cannot connect to net:127.0.0.1:8008~shs:k: the peer uses a different network key"
            ),
            "{}",
            failure.message
        );
    }
}
