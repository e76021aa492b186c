//! Where `serve` prints its addresses: one JSON line per scope, never on the stream that
//! carries what peers send.
//!
//! With `--echo` stdout carries nothing else, so the lines go there (`serve --echo | jq`).
//! Without it stdout carries the peers' bytes (netcat), so the lines go to stderr, where a
//! program finds them as the lines that parse as JSON. `--addresses FILE` sends them to FILE in
//! either mode.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ms_core::Scope;

use crate::error::Failure;

/// Where the address lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// stdout: nothing else is written there (`--echo`).
    Stdout,
    /// stderr, among the log lines: stdout carries the peers' bytes.
    Stderr,
    /// A file given with `--addresses`.
    File(PathBuf),
}

/// The destination for `--addresses` (if given) and `--echo`.
pub fn destination(file: Option<&Path>, echo: bool) -> Destination {
    match file {
        Some(path) => Destination::File(path.to_owned()),
        None if echo => Destination::Stdout,
        None => Destination::Stderr,
    }
}

/// An open destination for the address lines.
#[derive(Debug)]
pub struct Announcer {
    target: Target,
}

#[derive(Debug)]
enum Target {
    Stdout,
    Stderr,
    File(PathBuf, std::fs::File),
}

impl Announcer {
    /// Opens the destination; a file is created (or truncated) now, so that a bad path fails
    /// before anything listens. Opening a FIFO waits for its reader.
    pub async fn open(destination: Destination) -> Result<Self, Failure> {
        let target = match destination {
            Destination::Stdout => Target::Stdout,
            Destination::Stderr => Target::Stderr,
            Destination::File(path) => {
                // On the blocking pool: opening a FIFO waits for its reader.
                let opened = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || std::fs::File::create(path)).await
                };
                let file = match opened {
                    Ok(Ok(file)) => file,
                    Ok(Err(e)) => return Err(cannot_write(&path, &e)),
                    Err(e) => return Err(cannot_write(&path, &e)),
                };
                Target::File(path, file)
            }
        };
        Ok(Self { target })
    }

    /// Writes one line per scope, `{"scope":"<scope>","address":"<address>"}`, in the order
    /// given. A reader of stdout or stderr that went away (`serve --echo | head -1`) does not
    /// stop the node; a file that cannot be written does.
    pub fn announce(
        self,
        addresses: impl IntoIterator<Item = (Scope, String)>,
    ) -> Result<(), Failure> {
        let text: String = addresses
            .into_iter()
            .map(|(scope, address)| line(scope, &address) + "\n")
            .collect();
        let written = match self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            Target::Stderr => {
                let mut out = std::io::stderr().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            // Three short lines: a file or a pipe takes them at once.
            Target::File(path, mut file) => {
                return file
                    .write_all(text.as_bytes())
                    .and_then(|()| file.flush())
                    .map_err(|e| cannot_write(&path, &e));
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, "cannot print the addresses");
        }
        Ok(())
    }
}

fn cannot_write(path: &Path, error: &dyn std::fmt::Display) -> Failure {
    Failure::runtime(format!(
        "cannot write --addresses {}: {error}",
        path.display()
    ))
}

/// One address line: the scope first, then the address (the documented order).
fn line(scope: Scope, address: &str) -> String {
    format!(
        "{{\"scope\":{},\"address\":{}}}",
        serde_json::Value::from(scope.as_str()),
        serde_json::Value::from(address)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_never_share_stdout_with_peer_bytes() {
        assert_eq!(destination(None, true), Destination::Stdout);
        assert_eq!(destination(None, false), Destination::Stderr);
        let file = Path::new("addrs");
        for echo in [true, false] {
            assert_eq!(
                destination(Some(file), echo),
                Destination::File(file.to_owned())
            );
        }
    }

    #[test]
    fn lines_are_json_with_the_scope_first() {
        assert_eq!(
            line(Scope::Device, "net:a:1~shs:\"x"),
            r#"{"scope":"device","address":"net:a:1~shs:\"x"}"#
        );
    }
}
