//! Drives the built `multiserver` binary: serve on loopback with OS-assigned ports, connect
//! over each default stack, and the failure paths. Every test has its own temporary
//! configuration directory; every child process is killed when its guard drops.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_multiserver");

/// A command with a private configuration directory and no inherited logging settings.
fn multiserver(config: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("MULTISERVER_CONFIG_DIR", config)
        .env("XDG_CONFIG_HOME", config.join("xdg"))
        .env("HOME", config.join("home"))
        .env_remove("RUST_LOG");
    cmd
}

/// Kills the child when dropped (a failing test leaves no process behind).
struct Guard {
    child: Child,
}

impl Guard {
    fn spawn(cmd: &mut Command) -> Self {
        let child = cmd.spawn().expect("spawn multiserver");
        Self { child }
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for multiserver")
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `serve`: its addresses per scope, its stdout (after the addresses, with
/// `--echo`) and its stderr (after the addresses, without `--echo`).
struct Server {
    guard: Guard,
    scopes: Vec<(String, String)>,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
    /// The stderr lines read before the addresses (logs).
    early_stderr: Vec<String>,
}

/// Parses the three address lines; panics unless they are the documented objects.
fn address_lines(lines: &[String]) -> Vec<(String, String)> {
    assert_eq!(lines.len(), 3, "{lines:?}");
    lines
        .iter()
        .map(|line| {
            let json: Value = serde_json::from_str(line).expect("a JSON line");
            let object = json.as_object().expect("a JSON object");
            assert_eq!(object.len(), 2, "{line}");
            let scope = json["scope"].as_str().expect("scope").to_owned();
            let address = json["address"].as_str().expect("address").to_owned();
            (scope, address)
        })
        .collect()
}

impl Server {
    fn start(config: &Path, extra: &[&str]) -> Self {
        let socket = config.join("sock");
        let mut cmd = multiserver(config);
        cmd.args([
            "serve",
            "--net",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
            "--unix",
        ])
        .arg(&socket)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut guard = Guard::spawn(&mut cmd);
        let mut stdout = BufReader::new(guard.child.stdout.take().expect("piped stdout"));
        let mut stderr = BufReader::new(guard.child.stderr.take().expect("piped stderr"));
        let mut early_stderr = Vec::new();
        let mut lines = Vec::new();
        // With --echo the addresses are on stdout, else on stderr among the logs.
        let on_stdout = extra.contains(&"--echo");
        while lines.len() < 3 {
            let mut line = String::new();
            let read = if on_stdout {
                stdout.read_line(&mut line)
            } else {
                stderr.read_line(&mut line)
            };
            read.expect("read serve's output");
            if line.is_empty() {
                let mut rest = String::new();
                let _ = stderr.read_to_string(&mut rest);
                panic!("serve exited before listening: {early_stderr:?} {rest}");
            }
            if on_stdout || line.starts_with('{') {
                lines.push(line.trim_end().to_owned());
            } else {
                // Logged once the addresses are out: they were not on stderr.
                assert!(
                    !line.contains("INFO listening stacks="),
                    "no address lines on stderr: {early_stderr:?} {line}"
                );
                early_stderr.push(line);
            }
        }
        Self {
            guard,
            scopes: address_lines(&lines),
            stdout,
            stderr,
            early_stderr,
        }
    }

    /// Reads stderr lines until one matches `wanted`; returns them all (panics at the end).
    fn stderr_until(&mut self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.stderr
                .read_line(&mut line)
                .expect("read serve's stderr");
            assert!(!line.is_empty(), "not found in {lines:?}");
            let found = wanted(&line);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }

    /// Everything left on stderr (once the server has exited).
    fn stderr_rest(&mut self) -> String {
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest);
        rest
    }

    fn address(&self, scope: &str) -> &str {
        &self
            .scopes
            .iter()
            .find(|(s, _)| s == scope)
            .expect("scope printed")
            .1
    }

    /// The device-scope alternative whose stack starts with `transport`.
    fn alternative(&self, transport: &str) -> String {
        self.address("device")
            .split(';')
            .find(|a| a.starts_with(transport))
            .unwrap_or_else(|| panic!("no {transport} alternative in {:?}", self.scopes))
            .to_owned()
    }

    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.guard.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        self.guard.wait()
    }
}

/// Runs `connect ADDR` with `input` on stdin (written from a thread, so that a large input
/// cannot deadlock against the output), returns its output.
fn connect(config: &Path, address: &str, input: Vec<u8>, extra: &[&str]) -> Output {
    let mut cmd = multiserver(config);
    cmd.arg("connect")
        .arg(address)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn connect");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        // The peer may close first (a refused connection): ignore broken pipes.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for connect");
    writer.join().expect("stdin writer");
    output
}

fn run(config: &Path, args: &[&str]) -> Output {
    multiserver(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run multiserver")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn serve_prints_scopes_and_echoes_over_every_default_stack() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo"]);

    let names: Vec<&str> = server.scopes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["device", "local", "public"]);
    // Bound to loopback: reachable from this device only.
    assert_eq!(server.address("local"), "");
    assert_eq!(server.address("public"), "");
    // The secret was created on first run, in the configuration directory.
    assert!(dir.path().join("secret").is_file());

    let net = server.alternative("net:");
    let ws = server.alternative("ws:");
    let unix = server.alternative("unix:");
    assert!(
        net.starts_with("net:127.0.0.1:") && net.contains("~shs:"),
        "{net}"
    );
    assert!(!net.starts_with("net:127.0.0.1:0~"), "real port: {net}");
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.contains("~shs:"),
        "{ws}"
    );
    assert!(!ws.starts_with("ws://127.0.0.1:0~"), "real port: {ws}");
    assert_eq!(
        unix,
        format!("unix:{}~noauth", dir.path().join("sock").display())
    );

    for address in [&net, &ws, &unix] {
        let input = pattern(200_000);
        let output = connect(dir.path(), address, input.clone(), &[]);
        assert!(
            output.status.success(),
            "{address}: {:?} {}",
            output.status,
            text(&output.stderr)
        );
        assert!(output.stdout == input, "{address}: echoed bytes differ");
    }

    // -N: over noauth, end our side (FIN) right at the end of stdin; serve is half-open.
    let input = pattern(100_000);
    let output = connect(dir.path(), &unix, input.clone(), &["-N"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout == input, "-N: echoed bytes differ");

    // Nothing to send: our goodbye at once, the server's in return, exit 0.
    let output = connect(dir.path(), &net, Vec::new(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());

    // The whole multi-address works too (first alternative wins).
    let output = connect(dir.path(), server.address("device"), b"all".to_vec(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"all");

    assert!(server.terminate().success());
    assert!(!dir.path().join("sock").exists(), "unix socket removed");
}

#[test]
fn serve_without_echo_prints_what_it_receives() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--no-ws", "--no-unix"]);
    assert_eq!(server.address("device").split(';').count(), 1);
    let net = server.alternative("net:");

    let output = connect(dir.path(), &net, b"hello from a client\n".to_vec(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"", "nothing is sent back without --echo");

    let mut line = String::new();
    server
        .stdout
        .read_line(&mut line)
        .expect("read serve's stdout");
    assert_eq!(line, "hello from a client\n");
    assert!(server.terminate().success());
}

#[test]
fn sigterm_closes_connections_cleanly_and_exits_zero() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo"]);
    let socket = dir.path().join("sock");
    assert!(socket.exists());

    // A client that keeps its stdin open: only the server's goodbye can end it.
    let mut cmd = multiserver(dir.path());
    cmd.arg("connect")
        .arg(server.alternative("net:"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = Guard::spawn(&mut cmd);
    let mut stdin = client.child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(client.child.stdout.take().expect("piped stdout"));
    stdin.write_all(b"ping\n").expect("write to connect");
    stdin.flush().expect("flush");
    let mut echoed = String::new();
    stdout.read_line(&mut echoed).expect("read the echo");
    assert_eq!(echoed, "ping\n", "the connection is up");

    let status = server.terminate();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    assert!(!socket.exists(), "unix socket removed");

    // The client saw the server close its side (box-stream goodbye) and exits 0.
    let status = client.wait();
    let stderr = client.stderr();
    assert!(status.success(), "{status:?}: {stderr}");
    drop(stdin);
}

#[test]
fn allow_restricts_clients_to_the_listed_keys() {
    let dir = tempdir();
    let client_secret = dir.path().join("client-secret");
    let output = run(
        dir.path(),
        &["keygen", "--secret", client_secret.to_str().expect("utf-8")],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let client_id = text(&output.stdout).trim().to_owned();

    let other_secret = dir.path().join("other-secret");
    let output = run(
        dir.path(),
        &["keygen", "--secret", other_secret.to_str().expect("utf-8")],
    );
    let other_id = text(&output.stdout).trim().to_owned();

    let server = Server::start(
        dir.path(),
        &["--echo", "--no-ws", "--no-unix", "--allow", &client_id],
    );
    let net = server.alternative("net:");
    let secret_flag = |p: &Path| vec!["--secret".to_owned(), p.display().to_string()];

    let args = secret_flag(&client_secret);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = connect(dir.path(), &net, b"let me in".to_vec(), &args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"let me in");

    let args = secret_flag(&other_secret);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = connect(dir.path(), &net, b"let me in".to_vec(), &args);
    assert!(!output.status.success(), "{other_id} must be refused");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&net), "{stderr}");
}

#[test]
fn serve_quic_is_advertised_first_dialled_and_obeys_allow() {
    let dir = tempdir();
    let client_secret = dir.path().join("client-secret");
    let output = run(
        dir.path(),
        &["keygen", "--secret", client_secret.to_str().expect("utf-8")],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let client_id = text(&output.stdout).trim().to_owned();
    let other_secret = dir.path().join("other-secret");
    let output = run(
        dir.path(),
        &["keygen", "--secret", other_secret.to_str().expect("utf-8")],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));

    let server = Server::start(
        dir.path(),
        &[
            "--echo",
            "--no-ws",
            "--no-unix",
            "--quic",
            "127.0.0.1:0",
            "--allow",
            &client_id,
        ],
    );
    let device = &server.scopes[0].1;
    assert!(device.starts_with("quic:127.0.0.1:"), "{device}");
    assert!(device.contains(";net:127.0.0.1:"), "{device}");
    let quic = server.alternative("quic:");

    let data = pattern(100_000);
    let secret = client_secret.display().to_string();
    let output = connect(dir.path(), &quic, data.clone(), &["--secret", &secret]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout == data, "the echo differs");

    let other = other_secret.display().to_string();
    let output = connect(
        dir.path(),
        &quic,
        b"let me in".to_vec(),
        &["--secret", &other],
    );
    assert!(output.stdout.is_empty(), "a refused client got an echo");
    assert!(
        !output.status.success(),
        "a key not in --allow must be refused"
    );
}

#[test]
fn the_app_key_must_match() {
    let dir = tempdir();
    let test_network = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let server = Server::start(
        dir.path(),
        &["--echo", "--no-ws", "--no-unix", "--app-key", test_network],
    );
    let net = server.alternative("net:");

    let output = connect(
        dir.path(),
        &net,
        b"x".to_vec(),
        &["--app-key", test_network],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"x");

    // The main network's key (the default) cannot talk to this node.
    let output = connect(dir.path(), &net, b"x".to_vec(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&net), "{stderr}");

    // Not a key at all: a usage error.
    let output = run(dir.path(), &["connect", &net, "--app-key", "short"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn keygen_writes_a_secret_and_refuses_to_overwrite_it() {
    let dir = tempdir();
    let output = run(dir.path(), &["keygen"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let id = text(&output.stdout);
    let id = id.trim();
    assert!(
        id.starts_with('@') && id.ends_with("=.ed25519") && id.len() == 53,
        "{id}"
    );
    let path = dir.path().join("secret");
    let before = std::fs::read(&path).expect("secret written");
    assert!(text(&before).contains(id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let output = run(dir.path(), &["keygen"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("secret kept"), before);

    // --secret, in a directory that does not exist yet.
    let other: PathBuf = dir.path().join("nested").join("alice");
    let output = run(
        dir.path(),
        &["keygen", "--secret", other.to_str().expect("utf-8")],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_ne!(text(&output.stdout).trim(), id);
    let output = run(
        dir.path(),
        &["keygen", "--secret", other.to_str().expect("utf-8")],
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn addr_describes_alternatives_sections_and_stacks() {
    let dir = tempdir();
    let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
    let address =
        format!("net:example.org:8008~shs:{key};ws://example.org:8989~shs:{key};fake:x~nope");
    let output = run(dir.path(), &["addr", "--json", &address]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["address"], address.as_str());
    assert_eq!(json["skipped"], serde_json::json!([]));
    assert_eq!(json["dialable"], true);
    let alternatives = json["alternatives"].as_array().expect("alternatives");
    assert_eq!(alternatives.len(), 3);

    let net = &alternatives[0];
    assert_eq!(net["stack"], "net~shs");
    assert_eq!(net["understood_by"], "net~shs");
    assert_eq!(net["sections"][0]["name"], "net");
    assert_eq!(net["sections"][0]["args"][0], "example.org");
    assert_eq!(net["sections"][0]["args"][1], "8008");
    assert_eq!(net["sections"][0]["plugin"], "net");
    assert_eq!(net["sections"][1]["name"], "shs");
    assert_eq!(net["sections"][1]["plugin"], "shs");
    assert_eq!(net["sections"][1]["args"][0], key);

    assert_eq!(alternatives[1]["understood_by"], "ws~shs");
    assert_eq!(alternatives[1]["sections"][0]["plugin"], "ws");
    assert_eq!(alternatives[2]["understood_by"], Value::Null);
    assert_eq!(alternatives[2]["sections"][0]["plugin"], Value::Null);
    assert_eq!(json["dial_order"].as_array().map(Vec::len), Some(2));

    // A section a plugin claims but cannot use says why.
    let output = run(
        dir.path(),
        &["addr", "--json", "net:example.org:http~shs:short"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["dialable"], false);
    let alternative = &json["alternatives"][0];
    assert_eq!(alternative["understood_by"], Value::Null);
    assert!(alternative["sections"][0]["error"].is_string(), "{json}");
    assert!(
        !alternative["reasons"]
            .as_array()
            .expect("reasons")
            .is_empty()
    );
}

#[test]
fn malformed_addresses_exit_2_with_the_position() {
    let dir = tempdir();
    for args in [
        vec!["addr", "net:host:8008~~shs:key"],
        vec!["connect", "net:host:8008~~shs:key"],
    ] {
        let output = run(dir.path(), &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("empty section"), "{stderr}");
        assert!(stderr.contains("at byte 14"), "{stderr}");
    }
    // No alternative parses: the first one's error.
    let output = run(dir.path(), &["addr", "x!y;;#"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("'!y' is not an escape"), "{stderr}");
    assert!(stderr.contains("at byte 1"), "{stderr}");

    // Well-formed, but nothing here speaks it: also an input error.
    let output = run(dir.path(), &["connect", "fake:x~nope"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("fake:x~nope"), "{stderr}");
}

#[test]
fn addr_shows_each_alternative_in_a_short_view_and_what_was_skipped() {
    let dir = tempdir();
    let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
    let address = format!(
        "net:10.0.0.1:8008~shs:@{key}.ed25519;x!y;fake:x;unix:/tmp/s~noauth;;net:h:1~~shs:{key}"
    );
    let output = run(dir.path(), &["addr", &address]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("input: {address}"), "{out}");
    assert_eq!(lines[1], format!("1. net:10.0.0.1:8008~shs:@{key}.ed25519"));
    assert_eq!(lines[2], "   understood: dialled with net~shs, scope local");
    assert_eq!(
        lines[3],
        format!("   canonical: net:10.0.0.1:8008~shs:{key}")
    );
    assert_eq!(lines[4], "2. x!y");
    assert!(
        lines[5].starts_with("   skipped, does not parse (bytes 76..79): '!y' is not an escape"),
        "{out}"
    );
    assert_eq!(lines[6], "3. fake:x");
    assert_eq!(
        lines[7],
        "   not understood: no installed stack speaks fake"
    );
    assert_eq!(lines[8], "4. unix:/tmp/s~noauth");
    assert_eq!(
        lines[9],
        "   understood: dialled with unix~noauth, scope device"
    );
    assert_eq!(lines[10], "5. (empty)");
    assert!(lines[11].contains("empty alternative"), "{out}");
    assert_eq!(lines[12], format!("6. net:h:1~~shs:{key}"));
    assert!(lines[13].contains("empty section"), "{out}");
    assert_eq!(lines[14], "dial order: 1, 4");
    assert_eq!(lines.len(), 15, "{out}");

    // The JSON view lists the skipped alternatives with their ranges.
    let output = run(dir.path(), &["addr", "--json", &address]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["skipped"][0]["text"], "x!y");
    assert_eq!(json["skipped"][0]["range"], serde_json::json!([76, 79]));
    assert_eq!(json["skipped"][0]["at"], 77);
    assert_eq!(json["skipped"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        json["alternatives"][0]["canonical"],
        format!("net:10.0.0.1:8008~shs:{key}")
    );
    assert_eq!(json["alternatives"][0]["scope"], "local");

    // Stacks that refuse a section for the same reason share one line.
    let output = run(dir.path(), &["addr", "net:h:http~shs:short"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert_eq!(
        out.lines().nth(2),
        Some(
            "   not understood: net~shs, net~noauth, net: invalid port `http` at byte 6: expected \
             a decimal number from 1 to 65535"
        ),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("nothing here can dial it"));
}

#[test]
fn connect_dials_the_good_alternative_whatever_else_the_address_holds() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    let net = server.alternative("net:");
    let (transport, key) = net.split_once("~shs:").expect("a net~shs address");
    // Issue 13: each of these exited 2 `invalid address`; the reference dials the good one.
    let mut inputs = Vec::new();
    for bad in ["x!y", "#", "_tor:abc", &format!("net:h:1~~shs:{key}")] {
        inputs.push(format!("{net};{bad}"));
        inputs.push(format!("{bad};{net}"));
    }
    // Keys as people paste them.
    inputs.push(format!("{transport}~shs:@{key}.ed25519"));
    inputs.push(format!("{transport}~shs:{key}.ed25519"));
    inputs.push(format!("{transport}~shs:{key} "));
    inputs.push(format!("{net}\n"));
    for address in &inputs {
        let output = connect(dir.path(), address, b"ping".to_vec(), &[]);
        assert!(
            output.status.success(),
            "{address}: {:?} {}",
            output.status,
            text(&output.stderr)
        );
        assert_eq!(output.stdout, b"ping", "{address}");
    }
    // When the good one fails, the error also says what was skipped and why.
    let address = format!("net:127.0.0.1:{}~shs:{key};x!y", closed_port());
    let output = connect(dir.path(), &address, Vec::new(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("skipped `x!y`"), "{stderr}");
    assert!(server.terminate().success());
}

/// A loopback port where connections are refused while the tests run.
fn closed_port() -> u16 {
    ms_testkit::refused_port(std::net::Ipv4Addr::LOCALHOST.into())
}

#[test]
fn a_refused_connection_fails_with_one_line_naming_the_address() {
    let dir = tempdir();
    let address = format!("net:127.0.0.1:{}", closed_port());
    let output = connect(dir.path(), &address, Vec::new(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        !dir.path().join("secret").exists(),
        "a bare address needs no identity"
    );

    // Several alternatives: every attempt's error, still on one line (with an identity made
    // beforehand: creating one is announced on a line of its own).
    assert!(run(dir.path(), &["keygen"]).status.success());
    let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
    let missing = dir.path().join("no-such-socket");
    let address = format!(
        "net:127.0.0.1:{}~shs:{key};unix:{}~noauth",
        closed_port(),
        missing.display()
    );
    let output = connect(dir.path(), &address, Vec::new(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("[1]") && stderr.contains("[2]"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}

#[test]
fn help_has_examples_everywhere_and_version_prints() {
    let dir = tempdir();
    for args in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["serve", "--help"],
        vec!["connect", "--help"],
        vec!["addr", "--help"],
    ] {
        let output = run(dir.path(), &args);
        assert!(output.status.success(), "{args:?}");
        assert!(text(&output.stdout).contains("Examples:"), "{args:?}");
    }
    let output = run(dir.path(), &["--version"]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout).trim(),
        format!("multiserver {}", env!("CARGO_PKG_VERSION"))
    );
    let output = run(dir.path(), &["serve", "--net", "nonsense"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn onion_addresses_go_through_the_socks_proxy() {
    // A real SOCKS5 proxy (microsocks, which `.ci/run` installs): skipped without it, except
    // under MULTISERVER_REQUIRE_ALL=1 (`.ci/run`, CI), where it fails.
    let Some(proxy) = ms_testkit::Microsocks::start() else {
        return;
    };
    let dir = tempdir();
    let server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    // The proxy resolves the host itself, as Tor resolves an onion name.
    let net = server.alternative("net:");
    let onion = net.replacen("net:", "onion:", 1);
    let socks = proxy.addr().to_string();
    // The proxy cannot half-close (nor can Tor): the whole echo still arrives, because under
    // shs the end of stdin is only the goodbye.
    let input = pattern(100_000);
    let output = connect(dir.path(), &onion, input.clone(), &["--socks", &socks]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout == input, "echoed bytes differ");

    // No proxy there: one line, naming the address.
    let output = connect(
        dir.path(),
        &onion,
        Vec::new(),
        &["--socks", &format!("127.0.0.1:{}", closed_port())],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&onion), "{stderr}");
}

/// The id in a secret file (the ssb-keys JSON).
fn secret_id(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("secret file");
    let json: String = text.lines().filter(|l| !l.starts_with('#')).collect();
    let json: Value = serde_json::from_str(&json).expect("secret JSON");
    json["id"].as_str().expect("id").to_owned()
}

#[test]
fn serve_without_echo_keeps_its_addresses_off_stdout() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--no-ws", "--no-unix"]);
    // Bytes that look like an address line, then binary.
    let mut payload = b"{\"scope\":\"device\",\"address\":\"evil\"}\n".to_vec();
    payload.extend(pattern(10_000));
    let output = connect(
        dir.path(),
        &server.alternative("net:"),
        payload.clone(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut received = vec![0; payload.len()];
    server
        .stdout
        .read_exact(&mut received)
        .expect("the peer's bytes on stdout");
    assert!(received == payload, "stdout starts with the peer's bytes");
    assert!(server.terminate().success());
    let mut rest = Vec::new();
    server.stdout.read_to_end(&mut rest).expect("read stdout");
    assert!(rest.is_empty(), "only the peer's bytes: {}", text(&rest));
    // On stderr, the only JSON lines are the three address lines read at start-up.
    let stderr = server.stderr_rest();
    assert!(
        !stderr.lines().any(|l| l.starts_with('{')),
        "peer bytes on stderr: {stderr}"
    );
}

#[test]
fn serve_with_echo_prints_only_address_lines_on_stdout() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    let payload = b"{\"scope\":\"public\",\"address\":\"evil\"}\nand more\n".to_vec();
    let output = connect(
        dir.path(),
        &server.alternative("net:"),
        payload.clone(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, payload);
    assert!(server.terminate().success());
    let mut rest = Vec::new();
    server.stdout.read_to_end(&mut rest).expect("read stdout");
    assert!(
        rest.is_empty(),
        "stdout after the addresses: {}",
        text(&rest)
    );
}

#[test]
fn serve_writes_its_addresses_to_the_addresses_file() {
    let dir = tempdir();
    let file = dir.path().join("addresses");
    let mut cmd = multiserver(dir.path());
    cmd.args([
        "serve",
        "--net",
        "127.0.0.1:0",
        "--no-ws",
        "--no-unix",
        "--addresses",
    ])
    .arg(&file)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    // The file is complete once it holds three lines (bounded wait: serve may have failed).
    let mut lines = Vec::new();
    for _ in 0..1000 {
        let content = std::fs::read_to_string(&file).unwrap_or_default();
        if content.ends_with('\n') && content.lines().count() == 3 {
            lines = content.lines().map(str::to_owned).collect();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!lines.is_empty(), "no addresses: {}", guard.stderr());
    let scopes = address_lines(&lines);
    let net = scopes[0].1.clone();
    assert!(net.starts_with("net:127.0.0.1:"), "{net}");

    let output = connect(dir.path(), &net, b"to stdout\n".to_vec(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = Command::new("kill")
        .args(["-TERM", &guard.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert!(guard.wait().success());
    let mut stdout = Vec::new();
    guard
        .child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    assert_eq!(text(&stdout), "to stdout\n");
    let stderr = guard.stderr();
    assert!(!stderr.lines().any(|l| l.starts_with('{')), "{stderr}");

    // A path that cannot be written: exit 1 before listening.
    let output = run(
        dir.path(),
        &[
            "serve",
            "--net",
            "127.0.0.1:0",
            "--no-ws",
            "--no-unix",
            "--addresses",
            &dir.path()
                .join("no-such-dir")
                .join("a")
                .display()
                .to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("multiserver: cannot write --addresses"),
        "{stderr}"
    );
}

#[test]
fn a_new_identity_is_announced_once() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    let net = server.alternative("net:");

    // No configuration directory given: ~/.config/multiserver under a private HOME.
    let home = tempdir();
    let client = |input: &[u8]| {
        let mut cmd = Command::new(BIN);
        cmd.env("HOME", home.path())
            .env_remove("MULTISERVER_CONFIG_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RUST_LOG")
            .arg("connect")
            .arg(&net)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn connect");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait for connect")
    };
    let output = client(b"first");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"first");
    let secret = home
        .path()
        .join(".config")
        .join("multiserver")
        .join("secret");
    let id = secret_id(&secret);
    assert_eq!(
        text(&output.stderr),
        format!(
            "multiserver: created a new identity {id} in {}\n",
            secret.display()
        )
    );
    // Once only.
    let output = client(b"second");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, b"second");
    assert_eq!(text(&output.stderr), "");
    assert_eq!(secret_id(&secret), id);

    // serve says it too (on its first run, before the addresses), and keygen.
    let other = tempdir();
    let server = Server::start(other.path(), &["--no-ws", "--no-unix"]);
    let id = secret_id(&other.path().join("secret"));
    let said = format!(
        "multiserver: created a new identity {id} in {}\n",
        other.path().join("secret").display()
    );
    assert!(
        server.early_stderr.contains(&said),
        "{:?}",
        server.early_stderr
    );
    let path = other.path().join("keygen-secret");
    let output = run(
        other.path(),
        &["keygen", "--secret", &path.display().to_string()],
    );
    assert!(output.status.success());
    let id = secret_id(&path);
    assert_eq!(text(&output.stdout), format!("{id}\n"));
    assert_eq!(
        text(&output.stderr),
        format!(
            "multiserver: created a new identity {id} in {}\n",
            path.display()
        )
    );
}

#[test]
fn completions_and_man_pages_generate() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = run(dir.path(), &["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        for word in [
            "multiserver",
            "serve",
            "connect",
            "keygen",
            "addr",
            "app-key",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let output = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));

    let output = run(dir.path(), &["man"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let page = text(&output.stdout);
    assert!(page.contains(".TH multiserver 1"), "{page}");
    for word in ["serve", "connect", "keygen", "addr", "completions"] {
        assert!(page.contains(word), "man page: no {word}");
    }

    let pages = dir.path().join("man1");
    let output = run(dir.path(), &["man", "--dir", &pages.display().to_string()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for name in [
        "multiserver",
        "multiserver-serve",
        "multiserver-connect",
        "multiserver-keygen",
        "multiserver-addr",
    ] {
        let page = std::fs::read_to_string(pages.join(format!("{name}.1"))).expect(name);
        assert!(page.contains(".TH"), "{name}");
    }
    let serve = std::fs::read_to_string(pages.join("multiserver-serve.1")).expect("serve page");
    assert!(serve.contains("addresses"), "{serve}");
}

#[test]
fn an_invalid_rust_log_is_reported_and_the_default_used() {
    let dir = tempdir();
    let output = multiserver(dir.path())
        .env("RUST_LOG", "=[[")
        .args(["addr", "net:example.org:8008"])
        .output()
        .expect("run multiserver");
    assert!(output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("multiserver: warning: ignoring RUST_LOG"),
        "{stderr}"
    );

    // serve falls back to its default (info): the listeners still log.
    let mut cmd = multiserver(dir.path());
    cmd.env("RUST_LOG", "ms_net=[[")
        .args(["serve", "--net", "127.0.0.1:0", "--no-ws", "--no-unix"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let mut stderr = BufReader::new(guard.child.stderr.take().expect("stderr"));
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("net: listening")) {
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        assert!(!line.is_empty(), "{lines:?}");
        lines.push(line);
    }
    assert!(
        lines[0].starts_with("multiserver: warning: ignoring RUST_LOG"),
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("RUST_LOG")).count(),
        1,
        "{lines:?}"
    );
}

#[test]
fn every_listener_logs_its_address_at_info() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    // Once each: the TCP listener under ws logs at debug, not as a second `net` line.
    for stack in ["net", "ws", "unix"] {
        let needle = format!("INFO {stack}: listening");
        assert_eq!(
            server
                .early_stderr
                .iter()
                .filter(|l| l.contains(&needle))
                .count(),
            1,
            "{needle}: {:?}",
            server.early_stderr
        );
    }
    let ws = server.alternative("ws:");
    let port = ws
        .trim_start_matches("ws://127.0.0.1:")
        .split('~')
        .next()
        .expect("port");
    assert!(
        server
            .early_stderr
            .iter()
            .any(|l| l.contains("ws: listening") && l.contains(&format!("127.0.0.1:{port}"))),
        "{:?}",
        server.early_stderr
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let dir = tempdir();
    let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
    let net = format!("net:127.0.0.1:1~shs:{key}");
    for (args, says) in [
        (vec!["connect", &net, "--timeout", "-1"], "--timeout"),
        (vec!["connect", &net, "--app-key", "abc"], "--app-key"),
        (vec!["serve", "--net", "nohost.invalid:1"], "--net"),
        (vec!["conect", &net], "connect"),
        (vec!["connect", &net, "--no-such-flag"], "--no-such-flag"),
    ] {
        let output = run(dir.path(), &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("multiserver: "), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    // Help is not an error.
    let output = run(dir.path(), &["connect", "--help"]);
    assert_eq!(output.status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn an_address_that_is_not_utf8_is_reported_with_its_offset() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempdir();
    let address = std::ffi::OsStr::from_bytes(b"net:h\xff:1~noauth");
    let output = multiserver(dir.path())
        .arg("connect")
        .arg(address)
        .stdin(Stdio::null())
        .output()
        .expect("run multiserver");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("multiserver: invalid address"),
        "{stderr}"
    );
    assert!(stderr.contains("UTF-8 at byte 5"), "{stderr}");
    assert!(!dir.path().join("secret").exists());
}

#[test]
fn a_peer_that_hangs_up_without_a_goodbye_is_not_a_warning() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    let mut cmd = multiserver(dir.path());
    cmd.arg("connect")
        .arg(server.alternative("net:"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut client = Guard::spawn(&mut cmd);
    let mut stdin = client.child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(client.child.stdout.take().expect("piped stdout"));
    stdin.write_all(b"ping\n").expect("write to connect");
    stdin.flush().expect("flush");
    let mut echoed = String::new();
    stdout.read_line(&mut echoed).expect("read the echo");
    assert_eq!(echoed, "ping\n", "the handshake is done");
    // Killed: the kernel closes the socket, no box-stream goodbye is sent.
    client.child.kill().expect("kill connect");
    client.wait();

    let lines =
        server.stderr_until(|l| l.contains("remote=") && !l.contains(" connection remote="));
    let last = lines.last().expect("a line");
    assert!(
        last.contains(" INFO ") && last.contains("without a goodbye"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("WARN")), "{lines:?}");
    assert!(server.terminate().success());
    drop(stdin);
}

/// The byte at `offset` of the endless stream the transfer tests send: not periodic at any
/// power of two, so a lost, repeated or reordered chunk shows.
fn stream_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 8) ^ (offset >> 17)) as u8
}

/// A `connect` fed an endless stream on stdin, its echo checked byte by byte as it arrives.
struct Transfer {
    client: Guard,
    /// Bytes received and checked so far, updated as they arrive.
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
    checker: std::thread::JoinHandle<Result<u64, String>>,
}

impl Transfer {
    fn start(config: &Path, address: &str) -> Self {
        use std::sync::atomic::Ordering;
        let mut cmd = multiserver(config);
        cmd.arg("connect")
            .arg(address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut client = Guard::spawn(&mut cmd);
        let mut stdin = client.child.stdin.take().expect("piped stdin");
        let mut stdout = client.child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let mut offset = 0u64;
            let mut chunk = vec![0u8; 256 * 1024];
            loop {
                for (i, b) in chunk.iter_mut().enumerate() {
                    *b = stream_byte(offset + i as u64);
                }
                // Ends when connect exits (broken pipe).
                if stdin.write_all(&chunk).is_err() {
                    return;
                }
                offset += chunk.len() as u64;
            }
        });
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = received.clone();
        let checker = std::thread::spawn(move || {
            let mut offset = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = stdout.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(offset);
                }
                for (i, &b) in buf[..n].iter().enumerate() {
                    if b != stream_byte(offset + i as u64) {
                        return Err(format!("wrong byte at offset {}", offset + i as u64));
                    }
                }
                offset += n as u64;
                count.store(offset, Ordering::Relaxed);
            }
        });
        Self {
            client,
            received,
            checker,
        }
    }

    /// Waits until at least `bytes` came back (or the client ended: the checker says why).
    fn wait_for(&self, bytes: u64) {
        use std::sync::atomic::Ordering;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while self.received.load(Ordering::Relaxed) < bytes && !self.checker.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "no {bytes} bytes back in 2 minutes"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[test]
fn sigterm_during_a_busy_transfer_delivers_the_goodbye_on_every_stack() {
    for transport in ["net:", "ws:", "unix:"] {
        let dir = tempdir();
        let mut server = Server::start(dir.path(), &["--echo"]);
        let address = server.alternative(transport);
        let transfer = Transfer::start(dir.path(), &address);
        // Busy in both directions: several MiB through already, stdin never ends.
        transfer.wait_for(8 * 1024 * 1024);

        let status = server.terminate();
        let log = server.stderr_rest();
        assert!(status.success(), "{transport} serve: {status:?}\n{log}");
        assert!(
            log.contains("connection closed") && !log.contains("connection failed"),
            "{transport}: the server did not log a delivered goodbye:\n{log}"
        );

        let mut client = transfer.client;
        let status = client.wait();
        let stderr = client.stderr();
        let received = transfer.checker.join().expect("checker thread");
        assert!(
            status.success(),
            "{transport} connect: {status:?}: {stderr}"
        );
        let received = received.unwrap_or_else(|e| panic!("{transport}: {e}"));
        assert!(received >= 8 * 1024 * 1024, "{transport}: {received} bytes");
    }
}

/// The raw client side of a secret handshake with `serve` over TCP: the stream and the
/// session's codecs, to send frames as they are on the wire (tampered ones too).
fn raw_shs_client(
    address: &str,
) -> (
    std::net::TcpStream,
    ms_shs::boxstream::Encoder,
    ms_shs::boxstream::Decoder,
) {
    use ms_shs::handshake::{ClientHandshake, EphemeralKey};
    let rest = address.strip_prefix("net:").expect("a net address");
    let (host_port, key) = rest.split_once("~shs:").expect("~shs:");
    let server = ms_shs::PublicKey::from_base64(key).expect("the server's key");
    let mut tcp = std::net::TcpStream::connect(host_port).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let (client, msg1) = ClientHandshake::new(
        ms_shs::NetworkKey::MAINNET,
        ms_shs::Keypair::generate().unwrap(),
        server,
        EphemeralKey::generate().unwrap(),
    )
    .unwrap();
    tcp.write_all(&msg1).unwrap();
    let mut msg2 = [0; 64];
    tcp.read_exact(&mut msg2).unwrap();
    let (client, msg3) = client.read_server_hello(&msg2).unwrap();
    tcp.write_all(&msg3).unwrap();
    let mut msg4 = [0; 80];
    tcp.read_exact(&mut msg4).unwrap();
    let (encoder, decoder) = client.read_server_accept(&msg4).unwrap().into_codecs();
    (tcp, encoder, decoder)
}

#[test]
fn a_tampered_stream_gets_its_echo_but_no_goodbye() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    let (mut tcp, mut encoder, mut decoder) = raw_shs_client(&server.alternative("net:"));
    let mut wire = Vec::new();
    encoder.encode(&[1; 4096], &mut wire);
    let second = wire.len();
    encoder.encode(&[2; 4096], &mut wire);
    wire[second + 34 + 100] ^= 0x01; // one bit of the second body
    tcp.write_all(&wire).unwrap();
    // Our side stays open: only the server can end the stream.

    let mut back = Vec::new();
    tcp.read_to_end(&mut back)
        .expect("the server ends the stream");
    let mut plain = Vec::new();
    let progress = decoder
        .decode(&back, &mut plain)
        .expect("frames from the server");
    assert!(
        plain == [1; 4096],
        "the intact box is echoed: {} bytes",
        plain.len()
    );
    assert!(
        !progress.goodbye,
        "a goodbye after a tampered box: the stream looks complete"
    );
    drop(tcp);

    assert!(server.terminate().success());
    let log = server.stderr_rest();
    assert!(log.contains("connection failed"), "{log}");
}

#[test]
fn a_goodbye_the_peer_never_confirms_is_not_logged_as_a_clean_close() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &["--echo", "--no-ws", "--no-unix"]);
    // A peer that completes the handshake, then neither reads, nor writes, nor ends.
    let (tcp, _encoder, _decoder) = raw_shs_client(&server.alternative("net:"));

    let status = server.terminate();
    let log = server.stderr_rest();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("connection failed") && log.contains("not confirmed"),
        "an unconfirmed goodbye must be a failure:\n{log}"
    );
    assert!(!log.contains("connection closed"), "{log}");
    drop(tcp);
}
