//! `cargo xtask bench`: the Rust node and the JavaScript reference side by side, interleaved,
//! in one run, on loopback. See `docs/performance.md` for what it measures and how to read it.
//!
//! Layout: every server and every load generator is its own process (`xtask bench-server` /
//! `xtask bench-client` for Rust, `node interop/js/bench.js server|client` for JavaScript), so
//! that the RSS and CPU time of a server are its own. For every figure and every repeat the four
//! client→server pairs run one after the other (JS→JS, Rust→Rust, Rust→JS, JS→Rust, the order
//! rotating between repeats); the table shows medians.

mod command;
mod peer;
mod report;
mod sys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use report::{Better, Figure, Report};
use sys::Peer;

pub use peer::{client as peer_client, server as peer_server};

const SERVER_SEED: [u8; 32] = [1; 32];
const CLIENT_SEED: [u8; 32] = [2; 32];
/// The stacks every long-running benchmark server serves.
const STACKS: [&str; 4] = ["net~shs", "ws~shs", "unix~shs", "net~noauth"];
/// Stacks only the Rust servers serve (the reference has no such plugin): their figures have a
/// Rust→Rust column only, beside the same figure over net~shs.
const RUST_ONLY_STACKS: [&str; 1] = ["quic"];

const USAGE: &str = "\
usage: cargo xtask bench [options]

Measures the Rust multiserver stacks against the JavaScript reference (multiserver 3.8.2,
secret-handshake 1.1.21 from interop/package.json), interleaved, on loopback, and prints a table
(Rust/JS ratios) and writes <out>/bench.json and <out>/bench.md.

options:
  --quick            ~1-minute smoke run (short windows, 8 MiB transfers, 1,000 connections)
  --repeats N        repeats per figure, medians reported (default 3; --quick: 1)
  --conns N          idle connections for the memory figure (default 10000; --quick: 1000)
  --bytes N          bytes per throughput run (default 67108864; --quick: 8388608)
  --command-bytes N  bytes per run of the command group (default 268435456; --quick: 33554432)
  --only LIST        comma-separated groups: handshakes,throughput,latency,command,memory,swarm
                     (command: `multiserver connect` through `multiserver serve --echo`, next
                     to the library and the JS reference, net~shs and ws~shs)
  --no-js            Rust only (no Node.js needed; no ratios)
  --out DIR          where bench.json / bench.md go (default target/bench)
  --budget SECS      soft time limit: later repeats are skipped past it (default 540)
";

/// Who runs a client or a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Js,
    Rust,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Js => "js",
            Side::Rust => "rust",
        }
    }
}

/// A client side and a server side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    pub client: Side,
    pub server: Side,
}

impl Pair {
    pub const JS: Pair = Pair {
        client: Side::Js,
        server: Side::Js,
    };
    pub const RUST: Pair = Pair {
        client: Side::Rust,
        server: Side::Rust,
    };
    pub const RUST_TO_JS: Pair = Pair {
        client: Side::Rust,
        server: Side::Js,
    };
    pub const JS_TO_RUST: Pair = Pair {
        client: Side::Js,
        server: Side::Rust,
    };

    pub fn key(self) -> String {
        format!("{}-{}", self.client.name(), self.server.name())
    }
}

/// The groups of figures, in the order they run.
/// `swarm` runs `bench-swarm` (message swarms against raw box-stream baselines) after the rest.
const GROUPS: [&str; 6] = [
    "handshakes",
    "throughput",
    "latency",
    "command",
    "memory",
    "swarm",
];

struct Options {
    quick: bool,
    repeats: usize,
    conns: u64,
    bytes: u64,
    command_bytes: u64,
    hs_warmup: f64,
    hs_duration: f64,
    lat_rounds: u64,
    lat_secs: f64,
    groups: Vec<String>,
    js: bool,
    out: PathBuf,
    budget: Duration,
}

impl Options {
    fn parse(argv: &[String], root: &Path) -> Result<Self, String> {
        let quick = argv.iter().any(|a| a == "--quick");
        let mut o = Options {
            quick,
            repeats: if quick { 1 } else { 3 },
            conns: if quick { 1000 } else { 10_000 },
            bytes: if quick { 8 << 20 } else { 64 << 20 },
            command_bytes: if quick { 32 << 20 } else { 256 << 20 },
            hs_warmup: if quick { 0.2 } else { 0.5 },
            hs_duration: if quick { 0.6 } else { 2.0 },
            lat_rounds: if quick { 200 } else { 1000 },
            lat_secs: if quick { 1.5 } else { 6.0 },
            groups: GROUPS.map(String::from).to_vec(),
            js: true,
            out: std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"))
                .join("bench"),
            budget: Duration::from_secs(540),
        };
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let number = |text: String, name: &str| {
                text.parse::<u64>()
                    .map_err(|_| format!("{name}: not a number: {text}"))
            };
            match arg.as_str() {
                "--quick" => {}
                "--no-js" => o.js = false,
                "--repeats" => o.repeats = number(value(arg)?, arg)?.max(1) as usize,
                "--conns" => o.conns = number(value(arg)?, arg)?.max(1),
                "--bytes" => o.bytes = number(value(arg)?, arg)?.max(1),
                "--command-bytes" => o.command_bytes = number(value(arg)?, arg)?.max(1),
                "--budget" => o.budget = Duration::from_secs(number(value(arg)?, arg)?),
                "--out" => o.out = PathBuf::from(value(arg)?),
                "--only" => {
                    o.groups = value(arg)?.split(',').map(str::to_owned).collect();
                    for g in &o.groups {
                        if !GROUPS.contains(&g.as_str()) {
                            return Err(format!("--only: unknown group {g}"));
                        }
                    }
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(o)
    }

    fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The workspace root (the xtask crate's parent directory).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo xtask bench`.
pub fn bench(argv: &[String]) -> ExitCode {
    let root = workspace_root();
    let options = match Options::parse(argv, &root) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("xtask bench: {e}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        // `cargo xtask` builds in debug mode: measure with an optimised build of ourselves.
        return match reexec_release(&root, "bench", argv) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let swarm = options.wants("swarm").then(|| {
        let quick = options.quick.then(|| "--quick".to_owned());
        quick.into_iter().collect::<Vec<_>>()
    });
    match Bench::new(root, options).and_then(Bench::run) {
        // The swarm rows are Rust only (no JavaScript side); they print their own table.
        Ok(()) => match swarm {
            Some(args) => crate::bench_swarm::bench_swarm(&args),
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            eprintln!("xtask bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds xtask in release mode and runs `xtask <command> <argv>` with it.
pub(crate) fn reexec_release(
    root: &Path,
    command: &str,
    argv: &[String],
) -> Result<ExitCode, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "xtask {command}: building the release build of xtask (cargo build --release -p xtask)"
    );
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "xtask"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p xtask failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let exe = target.join("release").join("xtask");
    let status = Command::new(&exe)
        .arg(command)
        .args(argv)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

/// One figure's measurements: which client mode, against which stack, how often.
struct Series<'a> {
    figures: &'a [Figure],
    /// Also the cross pairs (Rust client → JS server, JS client → Rust server).
    cross: bool,
    repeats: usize,
    mode: &'a str,
    stack: &'a str,
    extra: &'a [(&'a str, String)],
    timeout: Duration,
}

/// A running benchmark server and the addresses of its stacks.
struct Server {
    peer: Peer,
    addresses: BTreeMap<String, String>,
}

struct Bench {
    root: PathBuf,
    options: Options,
    exe: PathBuf,
    node: Option<String>,
    tmp: tempfile::TempDir,
    servers: BTreeMap<Side, Server>,
    report: Report,
    started: Instant,
}

impl Bench {
    fn new(root: PathBuf, options: Options) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let tmp = tempfile::Builder::new()
            .prefix("ms-bench-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let node = if options.js {
            Some(prepare_js(&root)?)
        } else {
            None
        };
        let mut report = Report::new(sys::machine());
        report.set("node", json!(node));
        report.set("git", json!(git_head(&root)));
        report.set(
            "options",
            json!({
                "quick": options.quick,
                "repeats": options.repeats,
                "conns": options.conns,
                "bytes": options.bytes,
                "command_bytes": options.command_bytes,
                "handshake_window_secs": options.hs_duration,
                "handshake_warmup_secs": options.hs_warmup,
                "latency_rounds": options.lat_rounds,
                "latency_max_secs": options.lat_secs,
                "groups": options.groups,
            }),
        );
        Ok(Self {
            root,
            options,
            exe,
            node,
            tmp,
            servers: BTreeMap::new(),
            report,
            started: Instant::now(),
        })
    }

    fn sides(&self) -> Vec<Side> {
        if self.node.is_some() {
            vec![Side::Js, Side::Rust]
        } else {
            vec![Side::Rust]
        }
    }

    /// The pairs of a figure, rotated by `repeat` so that no pair always runs first.
    fn pairs(&self, cross: bool, repeat: usize) -> Vec<Pair> {
        let mut pairs = if self.node.is_none() {
            vec![Pair::RUST]
        } else if cross {
            vec![Pair::JS, Pair::RUST, Pair::RUST_TO_JS, Pair::JS_TO_RUST]
        } else {
            vec![Pair::JS, Pair::RUST]
        };
        let n = pairs.len();
        pairs.rotate_left(repeat % n);
        pairs
    }

    /// The program and arguments of a benchmark peer.
    fn command(&self, side: Side, args: Vec<String>) -> (PathBuf, Vec<String>) {
        match side {
            Side::Rust => {
                let mut a = args;
                let role = a.remove(0);
                a.insert(0, format!("bench-{role}"));
                (self.exe.clone(), a)
            }
            Side::Js => {
                let mut a = vec![
                    "--expose-gc".to_owned(),
                    self.root
                        .join("interop/js/bench.js")
                        .to_string_lossy()
                        .into_owned(),
                ];
                a.extend(args);
                (PathBuf::from("node"), a)
            }
        }
    }

    fn start_server(&self, side: Side, stacks: &[&str], tag: &str) -> Result<Server, String> {
        let unix_dir = self.tmp.path().join(format!("{}-{tag}", side.name()));
        std::fs::create_dir_all(&unix_dir).map_err(|e| format!("{}: {e}", unix_dir.display()))?;
        let mut stacks = stacks.to_vec();
        if side == Side::Rust && tag == "main" {
            stacks.extend(RUST_ONLY_STACKS);
        }
        let args = vec![
            "server".to_owned(),
            "--seed".to_owned(),
            sys::to_hex(&SERVER_SEED),
            "--stacks".to_owned(),
            stacks.join(","),
            "--unix-dir".to_owned(),
            unix_dir.to_string_lossy().into_owned(),
        ];
        let (program, args) = self.command(side, args);
        let mut peer = Peer::spawn(&format!("{} server", side.name()), &program, &args)?;
        let listening = peer.expect("listening", Duration::from_secs(20))?;
        let addresses = listening["addresses"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Server { peer, addresses })
    }

    /// The long-running server of `side`, restarted if it died.
    fn server(&mut self, side: Side) -> Result<&mut Server, String> {
        let alive = match self.servers.get_mut(&side) {
            Some(s) => s.peer.alive(),
            None => false,
        };
        if !alive {
            if self.servers.remove(&side).is_some() {
                self.report
                    .note(format!("the {} server died and was restarted", side.name()));
            }
            let server = self.start_server(side, &STACKS, "main")?;
            self.servers.insert(side, server);
        }
        self.servers
            .get_mut(&side)
            .ok_or_else(|| "no server".to_owned())
    }

    fn client_args(&self, mode: &str, address: &str, extra: &[(&str, String)]) -> Vec<String> {
        let mut args = vec![
            "client".to_owned(),
            mode.to_owned(),
            "--addr".to_owned(),
            address.to_owned(),
            "--seed".to_owned(),
            sys::to_hex(&CLIENT_SEED),
        ];
        for (name, value) in extra {
            args.push(format!("--{name}"));
            args.push(value.clone());
        }
        args
    }

    /// Runs one client against the long-running server of `pair.server`; adds the server's CPU
    /// time to the client's result.
    fn measure(
        &mut self,
        pair: Pair,
        mode: &str,
        stack: &str,
        extra: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Value, String> {
        let server = self.server(pair.server)?;
        let address = server
            .addresses
            .get(stack)
            .cloned()
            .ok_or_else(|| format!("the {:?} server has no {stack}", pair.server))?;
        let server_pid = server.peer.pid();
        let args = self.client_args(mode, &address, extra);
        let (program, args) = self.command(pair.client, args);
        let cpu0 = sys::cpu_secs(server_pid);
        let mut client = Peer::spawn(
            &format!("{} client ({mode} {stack})", pair.client.name()),
            &program,
            &args,
        )?;
        let result = client.expect("result", timeout);
        let cpu1 = sys::cpu_secs(server_pid);
        client.finish(Duration::from_secs(2));
        let mut result = result?;
        if let Some(error) = result.get("error").and_then(Value::as_str) {
            return Err(format!("{} → {}: {error}", pair.key(), stack));
        }
        if let (Some(a), Some(b), Value::Object(map)) = (cpu0, cpu1, &mut result) {
            map.insert("server_cpu_secs".into(), json!(b - a));
        }
        Ok(result)
    }

    fn over_budget(&self) -> bool {
        self.started.elapsed() > self.options.budget
    }

    fn run(mut self) -> Result<(), String> {
        eprintln!(
            "xtask bench: {} (sides: {}); results in {}",
            if self.options.quick {
                "quick run"
            } else {
                "full run"
            },
            self.sides()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
            self.options.out.display()
        );
        for side in self.sides() {
            let server = self.start_server(side, &STACKS, "main")?;
            self.servers.insert(side, server);
        }
        if self.options.wants("handshakes") {
            self.handshakes();
        }
        if self.options.wants("throughput") {
            self.throughput();
        }
        if self.options.wants("latency") {
            self.latency();
        }
        if self.options.wants("command") {
            self.command_group();
        }
        // Stop the long-running servers before the memory figure starts its own.
        let servers = std::mem::take(&mut self.servers);
        for (_, server) in servers {
            server.peer.finish(Duration::from_secs(3));
        }
        if self.options.wants("memory") {
            for side in self.sides() {
                if let Err(e) = self.memory(side) {
                    eprintln!("  memory ({}): {e}", side.name());
                    self.report.error(format!("memory ({}): {e}", side.name()));
                }
            }
        }
        self.report
            .set("elapsed_secs", json!(self.started.elapsed().as_secs_f64()));
        self.report
            .set("load_average_at_end", json!(sys::loadavg()));
        let table = self.report.table();
        println!("{table}");
        std::fs::create_dir_all(&self.options.out)
            .map_err(|e| format!("{}: {e}", self.options.out.display()))?;
        let json_path = self.options.out.join("bench.json");
        let md_path = self.options.out.join("bench.md");
        std::fs::write(&json_path, self.report.json_text())
            .map_err(|e| format!("{}: {e}", json_path.display()))?;
        std::fs::write(&md_path, &table).map_err(|e| format!("{}: {e}", md_path.display()))?;
        eprintln!(
            "xtask bench: done in {:.0} s; wrote {} and {}",
            self.started.elapsed().as_secs_f64(),
            json_path.display(),
            md_path.display()
        );
        Ok(())
    }

    /// Runs `measure` for every repeat and pair, recording `extract(result)` in each figure.
    fn series(&mut self, series: Series<'_>, extract: &dyn Fn(&Value) -> Vec<Option<f64>>) {
        let Series {
            figures,
            cross,
            repeats,
            mode,
            stack,
            extra,
            timeout,
        } = series;
        for figure in figures {
            self.report.add_figure(figure.clone());
        }
        for repeat in 0..repeats {
            if repeat > 0 && self.over_budget() {
                self.report.note(format!(
                    "{}: repeat {} and later skipped (time budget)",
                    figures[0].id,
                    repeat + 1
                ));
                break;
            }
            let pairs = if RUST_ONLY_STACKS.contains(&stack) {
                vec![Pair::RUST]
            } else {
                self.pairs(cross, repeat)
            };
            for pair in pairs {
                match self.measure(pair, mode, stack, extra, timeout) {
                    Ok(result) => {
                        let values = extract(&result);
                        let mut shown = Vec::new();
                        for (figure, value) in figures.iter().zip(values) {
                            if let Some(v) = value {
                                self.report.record(&figure.id, pair, v, &result);
                                shown.push(format!(
                                    "{} {}",
                                    report::format_value(v, figure.unit),
                                    figure.unit
                                ));
                            }
                        }
                        eprintln!(
                            "  {:<22} {:<10} {}",
                            figures[0].id,
                            pair.key(),
                            shown.join(", ")
                        );
                        if let Some(errors) = result.get("errors").and_then(Value::as_u64)
                            && errors > 0
                        {
                            self.report.note(format!(
                                "{} {}: {errors} failed operations (first: {})",
                                figures[0].id,
                                pair.key(),
                                result["first_error"]
                            ));
                        }
                    }
                    Err(e) => {
                        eprintln!("  {:<22} {:<10} FAILED: {e}", figures[0].id, pair.key());
                        self.report
                            .error(format!("{} {}: {e}", figures[0].id, pair.key()));
                    }
                }
            }
        }
    }

    fn handshakes(&mut self) {
        let window = self.options.hs_warmup + self.options.hs_duration;
        let runs = [1u64, 16, 128]
            .into_iter()
            .map(|c| ("net~shs", c))
            .chain([1u64, 16, 128].into_iter().map(|c| ("quic", c)));
        for (stack, concurrency) in runs {
            // net~shs keeps its historical ids; other stacks get a suffix.
            let (suffix, label) = match stack {
                "net~shs" => (String::new(), String::new()),
                other => (format!("_{other}"), format!(", {other}")),
            };
            let (id, title) = match concurrency {
                1 => (
                    format!("hs_seq{suffix}"),
                    format!("handshakes/s, sequential{label}"),
                ),
                c => (
                    format!("hs_{c}{suffix}"),
                    format!("handshakes/s, {c} in flight{label}"),
                ),
            };
            let figures = [
                Figure::new(&id, &title, "/s", Better::Higher),
                Figure::new(
                    &format!("{id}_client_cpu"),
                    &format!("↳ client CPU per handshake, {concurrency} in flight"),
                    "µs",
                    Better::Lower,
                ),
                Figure::new(
                    &format!("{id}_server_cpu"),
                    &format!("↳ server CPU per handshake, {concurrency} in flight"),
                    "µs",
                    Better::Lower,
                ),
            ];
            let extra = [
                ("concurrency", concurrency.to_string()),
                ("warmup", self.options.hs_warmup.to_string()),
                ("duration", self.options.hs_duration.to_string()),
            ];
            let series = Series {
                figures: &figures,
                cross: true,
                repeats: self.options.repeats,
                mode: "handshakes",
                stack,
                extra: &extra,
                timeout: Duration::from_secs_f64(window + 60.0),
            };
            self.series(series, &|r| {
                let total = r["ops_total"].as_f64().filter(|t| *t > 0.0);
                let cpu = r["server_cpu_secs"].as_f64();
                let ops = r["ops"].as_f64().filter(|t| *t > 0.0);
                vec![
                    r["rate"].as_f64(),
                    ops.zip(r["client_cpu_secs"].as_f64())
                        .map(|(t, c)| c / t * 1e6),
                    total.zip(cpu).map(|(t, c)| c / t * 1e6),
                ]
            });
        }
    }

    fn throughput(&mut self) {
        let mib = self.options.bytes as f64 / 1048576.0;
        let extra = [("bytes", self.options.bytes.to_string())];
        // Generous: the slowest stack seen is ~35 MB/s.
        let timeout = Duration::from_secs_f64(60.0 + self.options.bytes as f64 / 5e6);
        let runs = STACKS.iter().map(|stack| ("echo", *stack)).chain([
            ("oneway", "net~shs"),
            ("echo", "quic"),
            ("oneway", "quic"),
        ]);
        for (mode, stack) in runs {
            let id = format!("{mode}_{}", stack.replace('~', "_"));
            let title = match mode {
                "echo" => format!("{mib:.0} MiB echo, {stack}"),
                _ => format!("{mib:.0} MiB one-way, {stack}"),
            };
            let figures = [
                Figure::new(&id, &title, "MB/s", Better::Higher),
                Figure::new(
                    &format!("{id}_per_cpu"),
                    &format!("↳ MB per CPU-second (client + server), {mode} {stack}"),
                    "MB",
                    Better::Higher,
                ),
            ];
            let series = Series {
                figures: &figures,
                cross: true,
                repeats: self.options.repeats,
                mode,
                stack,
                extra: &extra,
                timeout,
            };
            self.series(series, &|r| {
                let cpu = r["client_cpu_secs"]
                    .as_f64()
                    .zip(r["server_cpu_secs"].as_f64())
                    .map(|(c, s)| c + s)
                    .filter(|c| *c > 0.0);
                vec![
                    r["mb_per_s"].as_f64(),
                    r["bytes"]
                        .as_f64()
                        .zip(cpu)
                        .map(|(bytes, cpu)| bytes / cpu / 1e6),
                ]
            });
        }
    }

    fn latency(&mut self) {
        let extra = [
            ("size", "100".to_owned()),
            ("rounds", self.options.lat_rounds.to_string()),
            ("max-secs", self.options.lat_secs.to_string()),
            ("warmup", "10".to_owned()),
        ];
        for stack in ["net~shs", "ws~shs", "quic"] {
            let id = format!("lat_{}", stack.replace('~', "_"));
            let figures = [
                Figure::new(
                    &format!("{id}_p50"),
                    &format!("100-byte echo round trip p50, {stack}"),
                    "ms",
                    Better::Lower,
                ),
                Figure::new(
                    &format!("{id}_p99"),
                    &format!("100-byte echo round trip p99, {stack}"),
                    "ms",
                    Better::Lower,
                ),
            ];
            // One repeat: each run already holds up to `lat_rounds` samples.
            let series = Series {
                figures: &figures,
                cross: true,
                repeats: 1,
                mode: "latency",
                stack,
                extra: &extra,
                timeout: Duration::from_secs_f64(self.options.lat_secs + 60.0),
            };
            self.series(series, &|r| {
                vec![
                    r["p50_us"].as_f64().map(|v| v / 1000.0),
                    r["p99_us"].as_f64().map(|v| v / 1000.0),
                ]
            });
        }
    }

    /// RSS growth of a fresh `side` server over `conns` idle net~shs connections opened by a
    /// client of the same side, and the time to open them; then the same again after those
    /// connections were closed (a server that has served connections before: freed buffers
    /// are reused, already touched, and the allocator may not give memory back).
    fn memory(&mut self, side: Side) -> Result<(), String> {
        let conns_text = self.options.conns;
        for figure in [
            Figure::new(
                "mem_per_conn",
                "memory per idle net~shs connection, fresh server (RSS growth)",
                "KiB",
                Better::Lower,
            ),
            Figure::new(
                "mem_per_conn_again",
                "memory per idle net~shs connection, second round (RSS over the first baseline)",
                "KiB",
                Better::Lower,
            ),
            Figure::new(
                "mem_open_secs",
                &format!("time to open {conns_text} net~shs connections (64 in flight)"),
                "s",
                Better::Lower,
            ),
        ] {
            self.report.add_figure(figure);
        }
        let pair = Pair {
            client: side,
            server: side,
        };
        let mut server = self.start_server(side, &["net~shs"], "mem")?;
        let pid = server.peer.pid();
        let address = server
            .addresses
            .get("net~shs")
            .cloned()
            .ok_or("no net~shs address")?;
        let mut conns = self.options.conns;
        if let Some(limit) = sys::nofile_limit(pid)
            && limit < conns + 64
        {
            conns = limit.saturating_sub(64).max(1);
            self.report.note(format!(
                "memory ({}): open-files limit {limit}: measured over {conns} connections instead of {}",
                side.name(),
                self.options.conns
            ));
        }
        let settle = |server: &mut Server| -> Result<u64, String> {
            server.peer.send("gc")?;
            server.peer.expect("gc", Duration::from_secs(30))?;
            std::thread::sleep(Duration::from_millis(1000));
            sys::rss_kib(pid).ok_or_else(|| "cannot read the server's RSS".to_owned())
        };
        // Opens `count` connections, measures the server's RSS with them open, closes them.
        let round = |this: &Self, server: &mut Server, count: u64, label: &str| {
            let extra = [
                ("count", count.to_string()),
                ("concurrency", "64".to_owned()),
                ("timeout", "600".to_owned()),
            ];
            let args = this.client_args("hold", &address, &extra);
            let (program, args) = this.command(side, args);
            let mut client = Peer::spawn(&format!("{} {label}", side.name()), &program, &args)?;
            let opened = client.expect("opened", Duration::from_secs(600))?;
            let rss = settle(server)?;
            client.send("close")?;
            let closed = client
                .expect("result", Duration::from_secs(120))
                .unwrap_or(Value::Null);
            client.finish(Duration::from_secs(2));
            Ok::<_, String>((opened, rss, closed))
        };
        // Warm up (JIT, allocator arenas, buffers), then take the baseline.
        round(self, &mut server, conns.min(500), "warm-up client")?;
        let before = settle(&mut server)?;
        let (opened, after, closed) = round(self, &mut server, conns, "hold client")?;
        let between = settle(&mut server)?;
        let (opened2, after2, closed2) = round(self, &mut server, conns, "second hold client")?;
        server.peer.finish(Duration::from_secs(3));
        let ok = opened["ok"].as_u64().unwrap_or(0);
        let ok2 = opened2["ok"].as_u64().unwrap_or(0);
        if ok == 0 || ok2 == 0 {
            return Err(format!("no connection opened: {}", opened["first_error"]));
        }
        if ok < conns || ok2 < conns {
            self.report.note(format!(
                "memory ({}): only {ok} and {ok2} of {conns} connections opened (first error: {})",
                side.name(),
                opened["first_error"]
            ));
        }
        let kib = after.saturating_sub(before) as f64 / ok as f64;
        let kib2 = after2.saturating_sub(before) as f64 / ok2 as f64;
        let detail = json!({
            "conns": ok,
            "rss_before_kib": before,
            "rss_open_kib": after,
            "rss_after_close_kib": between,
            "rss_open_again_kib": after2,
            "open": opened,
            "close": closed,
            "open_again": opened2,
            "close_again": closed2,
        });
        let secs = opened["secs"].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "  {:<22} {:<10} {kib:.1} KiB/conn fresh, {kib2:.1} KiB/conn second round (RSS {before} → {after} → {between} → {after2} KiB, {ok} conns), opened in {secs:.2} s",
            "memory",
            pair.key()
        );
        self.report.record("mem_per_conn", pair, kib, &detail);
        self.report
            .record("mem_per_conn_again", pair, kib2, &detail);
        self.report.record("mem_open_secs", pair, secs, &detail);
        Ok(())
    }
}

/// Checks Node.js and installs the pinned reference (`npm ci` in `interop/`) if needed.
fn prepare_js(root: &Path) -> Result<String, String> {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node not found ({e}); install Node.js ≥ 18 or pass --no-js"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let interop = root.join("interop");
    if !interop
        .join("node_modules/multiserver/package.json")
        .exists()
        || !interop
            .join("node_modules/secret-handshake/package.json")
            .exists()
    {
        eprintln!("xtask bench: installing the JavaScript reference (npm ci in interop/)");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&interop)
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !status.success() {
            return Err("npm ci in interop/ failed".into());
        }
    }
    Ok(version)
}

fn git_head(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
