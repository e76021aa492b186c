//! `multiserver dht` on loopback: three processes in a line (B joins through A, C through B), C
//! publishes, A finds it; a key nobody published is a one-line failure; a malformed
//! bootstrap address is a usage error.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_multiserver");
/// Generous: a debug build on a shared machine; a hang is what it catches, not slowness.
const DEADLINE: Duration = Duration::from_secs(60);

/// A running `multiserver dht`, killed when dropped; its stderr lines arrive on `lines`.
struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `multiserver dht --quic 127.0.0.1:0 args` with its own configuration directory
    /// and waits for its device address.
    fn start(home: &Path, args: &[&str], stdout: Stdio) -> Node {
        let mut child = Command::new(BIN)
            .args(["dht", "--quic", "127.0.0.1:0", "--config-dir"])
            .arg(home)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dht");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut node = Node {
            child,
            lines,
            address: String::new(),
        };
        let line = node.wait_for(|l| l.contains(r#""scope":"device""#));
        let value: Value = serde_json::from_str(&line).expect("an address line");
        node.address = value["address"].as_str().expect("address").to_owned();
        assert!(
            node.address.starts_with("quic:127.0.0.1:") && node.address.contains("~shs:"),
            "{}",
            node.address
        );
        node
    }

    /// The first stderr line that `matches`, within [`DEADLINE`].
    fn wait_for(&self, matches: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) if matches(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("the awaited line did not come: {e}"),
            }
        }
    }

    /// Waits (at most [`DEADLINE`]) for the process to exit; its stdout.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let mut stdout = self.child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            let _ = tx.send(text);
        });
        let text = rx.recv_timeout(DEADLINE).expect("the node did not exit");
        let status = self.child.wait().expect("wait");
        (status, text)
    }
}

/// Runs `multiserver --config-dir HOME args` to its end, killed beyond [`DEADLINE`].
fn run(args: &[&str], home: &Path) -> Output {
    let child = Command::new(BIN)
        .arg("--config-dir")
        .arg(home)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "`multiserver {}` did not finish within {DEADLINE:?}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn a_value_put_at_one_end_of_a_line_is_found_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let home = |name: &str| dir.path().join(name);
    // A looks up as soon as it is up, and keeps looking (the network forms after it).
    let a = Node::start(
        &home("a"),
        &["--get", "greeting", "--timeout", "60"],
        Stdio::piped(),
    );
    let b = Node::start(&home("b"), &["--bootstrap", &a.address], Stdio::null());
    b.wait_for(|l| l.contains("joined the DHT"));
    let c = Node::start(
        &home("c"),
        &["--bootstrap", &b.address, "--put", "greeting=hello from C"],
        Stdio::null(),
    );
    c.wait_for(|l| l.contains("published"));
    let (status, stdout) = a.finish();
    assert!(status.success(), "A's get failed: {status}");
    assert_eq!(stdout, "hello from C\n");
    drop((b, c));
}

#[test]
fn a_key_nobody_published_is_one_failure_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"), &[], Stdio::null());
    let out = run(
        &[
            "dht",
            "--quic",
            "127.0.0.1:0",
            "--bootstrap",
            &a.address,
            "--get",
            "nobody put this",
            "--timeout",
            "1",
        ],
        &dir.path().join("b"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("multiserver:") && !l.contains("created a new identity"))
        .collect();
    assert_eq!(failures.len(), 1, "{stderr}");
    assert!(
        failures[0].contains("\"nobody put this\" not found"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["dht", "--bootstrap", "net:127.0.0.1:1~shs:x"][..],
        &["dht", "--put", "novalue"],
        &["dht", "--put", "k=v", "--get", "k"],
    ] {
        let out = run(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("multiserver:") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_serving_node_stops_on_sigterm_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("a"), &[], Stdio::piped());
    node.wait_for(|l| l.contains("dht node up"));
    let killed = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, stdout) = node.finish();
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn a_bootstrap_node_that_does_not_answer_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    // A node that is gone: its address, then it stops.
    let gone = Node::start(&dir.path().join("gone"), &[], Stdio::null());
    let address = gone.address.clone();
    drop(gone);
    let out = run(
        &["dht", "--quic", "127.0.0.1:0", "--bootstrap", &address],
        &dir.path().join("b"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("multiserver: cannot join the DHT") && last.contains(&address),
        "{stderr}"
    );
}

#[test]
fn nodes_of_another_network_key_cannot_join() {
    let dir = tempfile::tempdir().unwrap();
    let main = Node::start(&dir.path().join("main"), &[], Stdio::null());
    // Any 32 bytes that are not the main network's caps.shs.
    let other = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let out = run(
        &[
            "dht",
            "--quic",
            "127.0.0.1:0",
            "--app-key",
            other,
            "--bootstrap",
            &main.address,
            // Bounded even if it joined: then "not found" after a second.
            "--get",
            "k",
            "--timeout",
            "1",
        ],
        &dir.path().join("other"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("multiserver: cannot join the DHT")),
        "{stderr}"
    );
}
