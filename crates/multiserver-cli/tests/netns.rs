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
//! And the DHT across four hosts in a line, three IP hops from end to end
//! ([`the_dht_finds_a_value_three_hops_away`]).
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

/// A running `multiserver dht` (killed when dropped); its stderr lines arrive on `lines`.
struct DhtNode {
    child: Guard,
    lines: mpsc::Receiver<String>,
}

impl DhtNode {
    fn start(mut cmd: Command) -> DhtNode {
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Guard(cmd.spawn().expect("spawn dht"));
        let stderr = child.0.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        DhtNode { child, lines }
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

    /// The alternative of its `local` address line on `ip`.
    fn local_address_on(&self, ip: &str) -> String {
        let line = self.wait_for(|l| l.contains(r#""scope":"local""#));
        let value: Value = serde_json::from_str(&line).expect("an address line");
        let local = value["address"].as_str().expect("address");
        let prefix = format!("quic:{ip}:");
        local
            .split(';')
            .find(|alt| alt.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {ip} in the local address {local}"))
            .to_owned()
    }
}

/// The DHT between real hosts, three IP hops apart: four namespaces in a line A — B — C — D
/// (10.78.1.0/24 between A and B, 10.78.2.0/24 between B and C, 10.78.3.0/24 between C and D),
/// B and C forwarding IPv4 with routes so that A and D reach each other through them. A
/// `multiserver dht` on each host, bound to the wildcard: C joins through B, D through C and
/// publishes a value; A, which knows only B, finds the value, and D is in its routing table
/// (D answered A over QUIC, across B and C).
#[test]
fn the_dht_finds_a_value_three_hops_away() {
    let Some(()) = netns::available() else {
        return;
    };
    let hosts: Vec<Netns> = ["a", "b", "c", "d"]
        .iter()
        .map(|tag| Netns::new(tag).unwrap())
        .collect();
    let [a, b, c, d] = &hosts[..] else {
        unreachable!()
    };
    netns::veth(a, &["10.78.1.1/24"], b, &["10.78.1.2/24"]).unwrap();
    netns::veth(b, &["10.78.2.1/24"], c, &["10.78.2.2/24"]).unwrap();
    netns::veth(c, &["10.78.3.1/24"], d, &["10.78.3.2/24"]).unwrap();
    for router in [b, c] {
        let out = router
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"])
            .output()
            .expect("sysctl");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for (host, net, via) in [
        (a, "10.78.2.0/24", "10.78.1.2"),
        (a, "10.78.3.0/24", "10.78.1.2"),
        (b, "10.78.3.0/24", "10.78.2.2"),
        (c, "10.78.1.0/24", "10.78.2.1"),
        (d, "10.78.1.0/24", "10.78.3.1"),
        (d, "10.78.2.0/24", "10.78.3.1"),
    ] {
        host.ip(&["route", "add", net, "via", via]).unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let dht = |host: &Netns, name: &str, args: &[&str]| -> Command {
        let home = dir.path().join(name);
        std::fs::create_dir(&home).unwrap();
        let mut cmd = host.host_command(&home, BIN);
        cmd.arg("dht").arg("--config-dir").arg(&home).args(args);
        cmd
    };

    let node_b = DhtNode::start(dht(b, "b", &[]));
    let b_for_a = node_b.local_address_on("10.78.1.2");
    let b_for_c = b_for_a.replace("quic:10.78.1.2:", "quic:10.78.2.1:");
    let node_c = DhtNode::start(dht(c, "c", &["--bootstrap", &b_for_c]));
    let c_for_d = node_c.local_address_on("10.78.3.1");
    node_c.wait_for(|l| l.contains("joined the DHT"));
    let node_d = DhtNode::start(dht(
        d,
        "d",
        &["--bootstrap", &c_for_d, "--put", "where=three hops away"],
    ));
    let d_address = node_d.local_address_on("10.78.3.2");
    node_d.wait_for(|l| l.contains("published"));

    let out = run(
        dht(
            a,
            "a",
            &[
                "-v",
                "--bootstrap",
                &b_for_a,
                "--get",
                "where",
                "--timeout",
                "30",
            ],
        ),
        b"",
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "A's get failed: {stderr}");
    assert_eq!(text(&out.stdout), "three hops away\n");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("contact") && l.contains(&format!("address={d_address}"))),
        "D ({d_address}) never answered A: {stderr}"
    );
    for mut node in [node_b, node_c, node_d] {
        let status = node.child.0.try_wait().expect("try_wait");
        assert!(status.is_none(), "a dht node exited early: {status:?}");
    }
}
