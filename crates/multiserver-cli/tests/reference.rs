//! `multiserver connect` against the JavaScript reference node (interop/js/node.js, the pinned
//! `multiserver` from npm) over the stacks without a goodbye: the end-of-input rule must never
//! lose the reference's echo (docs/cli.md, "End of input").
//!
//! Needs node and `npm ci` in interop/; without node the tests print one `skipped:` line and
//! pass (`.ci/run` installs both).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_multiserver");

/// Runs of 16 MiB per stack.
const RUNS: usize = 20;
const SIZE: usize = 16 * 1024 * 1024;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// `Some(reason)` when the reference cannot run here.
fn missing_reference() -> Option<&'static str> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node not found");
    }
    if !interop_dir().join("node_modules/multiserver").exists() {
        return Some("the JS reference is not installed (npm ci in interop/)");
    }
    None
}

/// The JS node, killed when dropped.
struct JsNode {
    child: Child,
    addresses: serde_json::Value,
    _dir: tempfile::TempDir,
}

impl JsNode {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new("node")
            .arg(interop_dir().join("js/node.js"))
            .arg("serve")
            .arg("--stack")
            .arg(format!("unix~noauth@{}", dir.path().display()))
            .args(["--stack", "net~noauth@127.0.0.1:0", "--echo"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the JS node's stdout");
        // Keep reading its event lines: a closed pipe would make it exit.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let listening: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(listening["event"], "listening", "{listening}");
        Self {
            child,
            addresses: listening["addresses"].clone(),
            _dir: dir,
        }
    }

    fn address(&self, stack: &str) -> String {
        self.addresses[stack]
            .as_str()
            .unwrap_or_else(|| panic!("no {stack} in {}", self.addresses))
            .to_owned()
    }
}

impl Drop for JsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9) ^ usize::from(seed)) as u8)
        .collect()
}

/// `multiserver connect ADDR extra...` with `input` on stdin; its exit status, stdout, stderr.
fn connect(address: &str, input: Vec<u8>, extra: &[&str]) -> (bool, Vec<u8>, String) {
    let config = tempfile::tempdir().expect("temporary directory");
    let mut child = Command::new(BIN)
        .env("MULTISERVER_CONFIG_DIR", config.path())
        .env("HOME", config.path())
        .env_remove("RUST_LOG")
        .arg("connect")
        .arg(address)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn connect");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut stdout)
        .expect("read connect's stdout");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    let status = child.wait().expect("wait for connect");
    writer.join().expect("stdin writer");
    (status.success(), stdout, stderr)
}

fn echo_is_exact_every_time(stack: &str) {
    // Skips with one line, or fails under MULTISERVER_REQUIRE_ALL (as .ci/run sets it).
    if let Some(reason) = missing_reference() {
        ms_testkit::require::skip::<()>(reason);
        return;
    }
    let js = JsNode::start();
    let address = js.address(stack);
    let mut short = Vec::new();
    for run in 0..RUNS {
        let input = pattern(SIZE, run as u8);
        let (ok, back, stderr) = connect(&address, input.clone(), &[]);
        assert!(ok, "{stack} run {run}: connect failed: {stderr}");
        if back != input {
            short.push(format!("run {run}: {} of {SIZE} bytes", back.len()));
        }
    }
    assert!(
        short.is_empty(),
        "{stack}: the echo came back wrong or short while connect exited 0: {short:?}"
    );
}

#[test]
fn unix_noauth_echo_through_the_reference_is_exact() {
    echo_is_exact_every_time("unix~noauth");
}

#[test]
fn net_noauth_echo_through_the_reference_is_exact() {
    echo_is_exact_every_time("net~noauth");
}
