//! What the scopes mean between real hosts: three network namespaces on one machine, A — B —
//! C, joined by veth pairs (10.77.1.0/24 and fd00:77:1::/64 between A and B, 10.77.2.0/24 and
//! fd00:77:2::/64 between B and C), each host with its own disk (a private tmpfs for its
//! configuration directory). `multiserver serve` runs on B; `multiserver connect` dials it from
//! A, from C, and from B itself.
//!
//! - B's `local` address (its four link addresses) reaches A and C, its neighbours: a payload
//!   comes back echoed, over the whole address and over each alternative on the shared link;
//! - B's `device` addresses (`net:127.0.0.1`, `net:::1`, its unix socket) do not leave B: from
//!   A they fail (connection refused, no such socket), from B itself they work.
//!
//! Root only; skips with one line otherwise (see `ms_testkit::netns::available`). Only
//! addresses inside these namespaces are contacted. Everything is removed at the end, also when
//! the test fails (the namespaces' guards kill what runs in them and delete them).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ms_testkit::netns::{self, Netns};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_multiserver");
/// Generous: a debug build on a shared machine; a hang is what it catches, not slowness.
const DEADLINE: Duration = Duration::from_secs(60);

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` with `input` on stdin, under [`DEADLINE`] (killed beyond it).
fn run(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
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
            panic!("a command did not finish within {DEADLINE:?}");
        }
    }
}

/// `multiserver connect ADDR` as `base` (a command for the host it runs on), echoing `payload`:
/// the output of the command.
fn connect(mut base: Command, secret: &Path, addr: &str, payload: &[u8]) -> Output {
    base.args(["connect", addr, "-N", "--timeout", "10", "--secret"])
        .arg(secret);
    run(base, payload)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn scopes_between_hosts_on_one_machine() {
    let Some(()) = netns::available() else {
        return;
    };
    let a = Netns::new("a").unwrap();
    let b = Netns::new("b").unwrap();
    let c = Netns::new("c").unwrap();
    netns::veth(
        &a,
        &["10.77.1.1/24", "fd00:77:1::1/64"],
        &b,
        &["10.77.1.2/24", "fd00:77:1::2/64"],
    )
    .unwrap();
    netns::veth(
        &b,
        &["10.77.2.1/24", "fd00:77:2::1/64"],
        &c,
        &["10.77.2.2/24", "fd00:77:2::2/64"],
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let b_home = dir.path().join("b");
    std::fs::create_dir(&b_home).unwrap();

    // B: net~shs on every interface (IPv6 and IPv4), unix~noauth in its private configuration
    // directory.
    let mut serve = b.host_command(&b_home, BIN);
    serve
        .args([
            "serve",
            "--no-ws",
            "--echo",
            "--net",
            "[::]:0",
            "--config-dir",
        ])
        .arg(&b_home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Guard(serve.spawn().expect("spawn serve"));
    let server_pid = server.0.id();
    let stdout = server.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut scopes = Vec::new();
        for _ in 0..3 {
            match lines.next() {
                Some(Ok(line)) => scopes.push(line),
                _ => break,
            }
        }
        let _ = tx.send(scopes);
        // Keep reading so that serve never blocks on a full pipe.
        for _ in lines {}
    });
    let lines = rx
        .recv_timeout(DEADLINE)
        .expect("serve printed no addresses");
    assert_eq!(lines.len(), 3, "serve ended early: {lines:?}");
    let address = |scope: &str| -> String {
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).expect("an address line"))
            .find(|v| v["scope"] == scope)
            .and_then(|v| v["address"].as_str().map(str::to_owned))
            .expect("no line for the scope")
    };
    let device = address("device");
    let local = address("local");

    // What the scopes hold: the four link addresses are local; loopback and the socket device.
    let alternatives = |a: &str| -> Vec<String> { a.split(';').map(str::to_owned).collect() };
    let local_alts = alternatives(&local);
    for link in [
        "net:10.77.1.2:",
        "net:10.77.2.1:",
        "net:fd00:77:1::2:",
        "net:fd00:77:2::1:",
    ] {
        assert!(
            local_alts.iter().any(|a| a.starts_with(link)),
            "{link} is not in local: {local}"
        );
    }
    assert!(
        !local.contains("127.0.0.1") && !local.contains("net:::1:") && !local.contains("unix:"),
        "{local}"
    );
    let device_alts = alternatives(&device);
    for loopback in ["net:127.0.0.1:", "net:::1:", "unix:"] {
        assert!(
            device_alts.iter().any(|a| a.starts_with(loopback)),
            "{loopback} is not in device: {device}"
        );
    }
    assert!(
        !device.contains("10.77.") && !device.contains("fd00:"),
        "{device}"
    );

    let secret = dir.path().join("client.secret");
    let payload = b"across the link\n".repeat(100);

    // The local address reaches both neighbours on their shared links; so does each of its
    // alternatives on the link the neighbour shares, over IPv4 and over IPv6.
    for (name, host, link) in [
        ("A", &a, ["10.77.1.2", "fd00:77:1::2"]),
        ("C", &c, ["10.77.2.1", "fd00:77:2::1"]),
    ] {
        let out = connect(host.command(BIN), &secret, &local, &payload);
        assert!(
            out.status.success(),
            "{name} could not use B's local address {local}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.stdout, payload, "{name}: the echo differs");
        for ip in link {
            let prefix = format!("net:{ip}:");
            let alt = local_alts
                .iter()
                .find(|a| a.starts_with(&prefix))
                .expect("checked above");
            let out = connect(host.command(BIN), &secret, alt, &payload);
            assert!(
                out.status.success(),
                "{name} could not use {alt}: {}",
                text(&out.stderr)
            );
            assert_eq!(out.stdout, payload, "{name} over {alt}: the echo differs");
        }
    }

    // Each device address: from A it fails, from B itself it works.
    for alt in &device_alts {
        let out = connect(a.command(BIN), &secret, alt, b"x");
        let stderr = text(&out.stderr).to_lowercase();
        assert!(
            !out.status.success() && out.stdout.is_empty(),
            "B's device address {alt} was usable from A"
        );
        assert!(
            // The command's words for a refused connection and a missing socket.
            stderr.contains("nobody is listening")
                && (stderr.contains("refused") || stderr.contains("no such socket")),
            "{alt} from A failed, but not as refused or missing: {stderr}"
        );

        let out = connect(netns::enter(server_pid, BIN), &secret, alt, &payload);
        assert!(
            out.status.success(),
            "B's device address {alt} did not work on B: {}",
            text(&out.stderr)
        );
        assert_eq!(out.stdout, payload, "{alt} on B: the echo differs");
    }

    // serve is still up after all that (the guard stops it, then the namespaces go).
    assert!(
        server.0.try_wait().expect("try_wait").is_none(),
        "serve exited during the test"
    );
}
