//! Drives the JavaScript reference (`interop/js/node.js`, multiserver 3.8.2 from npm) from Rust
//! tests: start a JS server and read its JSON lines, or run a JS client against a Rust server.
//!
//! Needs Node.js on `PATH` and the npm packages (`cd interop && npm ci`; `.ci/run` does both).
//! Every test starts with [`node`], which returns `None` after one `skipped: ...` line when
//! either is missing (the test then returns), or fails the test under
//! `MULTISERVER_REQUIRE_ALL=1` ([`ms_testkit::require`]).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use ms_testkit::require;

pub use ms_testkit::pattern;

/// How long any JS process may take for one step before the test fails.
pub const STEP: Duration = Duration::from_secs(60);

/// The `interop/` folder.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Node.js, when it is on `PATH` and the JavaScript reference is installed in
/// `interop/node_modules`; otherwise `None`, after one line saying the test skipped (see
/// [`ms_testkit::require`]). Call it first in every test that runs JavaScript:
///
/// ```no_run
/// # fn main() {
/// let Some(_node) = ms_interop::node() else {
///     return;
/// };
/// # }
/// ```
#[track_caller]
pub fn node() -> Option<PathBuf> {
    let node = require::program("node")?;
    require::file(
        &dir().join("node_modules").join("multiserver"),
        "the JavaScript reference: run `npm ci` in interop/",
    )?;
    Some(node)
}

/// The `node` binary for the helpers below: the tests have called [`node`] already.
fn node_binary() -> PathBuf {
    require::find_on_path("node").unwrap_or_else(|| PathBuf::from("node"))
}

fn cli() -> PathBuf {
    dir().join("js").join("node.js")
}

/// A running JavaScript multiserver server (`node js/node.js serve ...`), killed on drop.
pub struct JsServer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// The `listening` line.
    pub listening: Value,
}

impl JsServer {
    /// Starts `node js/node.js serve <args>` and waits for its `listening` line.
    pub async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(node_binary())
            .arg(cli())
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start node");
        let stdout = child.stdout.take().expect("no stdout");
        let mut lines = BufReader::new(stdout).lines();
        let listening = next_json(&mut lines)
            .await
            .expect("the JS server exited before listening");
        assert_eq!(
            listening["event"], "listening",
            "the JS server did not start: {listening}"
        );
        Self {
            child,
            lines,
            listening,
        }
    }

    /// The address the JS server prints for `stack` (e.g. `net~shs`).
    pub fn address(&self, stack: &str) -> String {
        self.listening["addresses"][stack]
            .as_str()
            .unwrap_or_else(|| panic!("no {stack} address in {}", self.listening))
            .to_owned()
    }

    /// The JS server's public key, base64.
    pub fn public_key(&self) -> String {
        self.listening["publicKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The next line whose `event` is `event` (other lines are skipped).
    pub async fn next_event(&mut self, event: &str) -> Value {
        loop {
            let line = next_json(&mut self.lines)
                .await
                .unwrap_or_else(|| panic!("the JS server exited while we waited for `{event}`"));
            if line["event"] == event {
                return line;
            }
        }
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<Value> {
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .expect("the JS process printed nothing for too long")
        .ok()??;
    Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
}

/// Runs `node js/node.js connect <address> <args>` to the end and returns its `result` line and
/// exit status.
pub async fn js_connect(address: &str, args: &[&str]) -> (Value, bool) {
    let output = tokio::time::timeout(
        STEP * 2,
        Command::new(node_binary())
            .arg(cli())
            .arg("connect")
            .arg(address)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the JS client did not finish")
    .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result line from the JS client: {stdout}"));
    (result, output.status.success())
}

/// SHA-256 is what the JS side reports; we compare bytes directly instead, so this only
/// checks lengths and reports the first difference.
pub fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length differs");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {i}");
    }
}

/// Sends `data` on `conn` while reading the same number of bytes back, and returns them
/// (bounded by [`STEP`]).
pub async fn echo_through<S>(conn: &mut S, data: &[u8]) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(STEP, ms_testkit::echo(conn, data))
        .await
        .expect("the echo did not come back in time")
}

/// A Rust server that echoes every connection and reports each one's remote address.
pub fn spawn_echo_server(
    mut server: ms_core::Server,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(conn) = server.accept().await {
            let _ = tx.send(conn.remote_address().to_string());
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let (mut reader, mut writer) = tokio::io::split(conn);
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = writer.shutdown().await;
            });
        }
    });
    rx
}

/// 16 MiB: the size of the large transfers the issues ask for.
pub const LARGE: usize = 16 * 1024 * 1024;
