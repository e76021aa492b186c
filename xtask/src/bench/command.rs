//! The `command` group: the `multiserver` command against itself (`multiserver connect` piping
//! bytes through `multiserver serve --echo`), next to the library's echo (the xtask peers) and
//! the JS reference's client and node, same stacks and bytes, interleaved, so that the ratio of
//! the command to the library is measured in one run (docs/performance.md).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::report::{Better, Figure};
use super::{Bench, Pair, sys};

/// The stacks the command is measured on.
const STACKS: [&str; 2] = ["net~shs", "ws~shs"];

impl Bench {
    pub(super) fn command_group(&mut self) {
        let bytes = self.options.command_bytes;
        let mib = bytes as f64 / 1048576.0;
        let exe = match build_cli(&self.root) {
            Ok(exe) => exe,
            Err(e) => {
                eprintln!("  command: {e}");
                self.report.error(format!("command: {e}"));
                return;
            }
        };
        let config = self.tmp.path().join("command");
        let mut serve = match CliServer::start(&exe, &config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("  command: {e}");
                self.report.error(format!("command: {e}"));
                return;
            }
        };
        let timeout = Duration::from_secs_f64(60.0 + bytes as f64 / 5e6);
        let extra = [("bytes", bytes.to_string())];
        for stack in STACKS {
            let key = stack.replace('~', "_");
            let lib = format!("cmd_lib_{key}");
            let cli = format!("cmd_cli_{key}");
            let ratio = format!("cmd_ratio_{key}");
            let lib_cpu = format!("cmd_lib_{key}_per_cpu");
            let cli_cpu = format!("cmd_cli_{key}_per_cpu");
            self.report.add_figure(Figure::new(
                &lib,
                &format!("{mib:.0} MiB echo, {stack}, library (xtask peers; JS: bench.js)"),
                "MB/s",
                Better::Higher,
            ));
            self.report.add_figure(Figure::new(
                &cli,
                &format!(
                    "{mib:.0} MiB echo, {stack}, command (connect → serve --echo; JS: bench.js)"
                ),
                "MB/s",
                Better::Higher,
            ));
            self.report.add_figure(Figure::new(
                &lib_cpu,
                &format!("↳ MB per CPU-second (client + server), library, {stack}"),
                "MB",
                Better::Higher,
            ));
            self.report.add_figure(Figure::new(
                &cli_cpu,
                &format!("↳ MB per CPU-second (connect + serve), command, {stack}"),
                "MB",
                Better::Higher,
            ));
            self.report.add_figure(Figure::new(
                &ratio,
                &format!("↳ command ÷ library, {stack}"),
                "%",
                Better::Higher,
            ));
            let Some(address) = serve.alternative(stack) else {
                self.report
                    .error(format!("command: serve printed no {stack} address"));
                continue;
            };
            for repeat in 0..self.options.repeats {
                if repeat > 0 && self.over_budget() {
                    self.report.note(format!(
                        "{cli}: repeat {} and later skipped (time budget)",
                        repeat + 1
                    ));
                    break;
                }
                // Rotate who goes first between repeats.
                let mut runs = ["lib", "cli", "js"];
                runs.rotate_left(repeat % 3);
                let (mut lib_rate, mut cli_rate) = (None, None);
                for run in runs {
                    let per_cpu = |r: &serde_json::Value| {
                        let cpu = r["client_cpu_secs"].as_f64()? + r["server_cpu_secs"].as_f64()?;
                        (cpu > 0.0).then(|| bytes as f64 / cpu / 1e6)
                    };
                    let measured = match run {
                        "lib" => self
                            .measure(Pair::RUST, "echo", stack, &extra, timeout)
                            .map(|r| (r["mb_per_s"].as_f64(), per_cpu(&r))),
                        "js" if self.node.is_some() => self
                            .measure(Pair::JS, "echo", stack, &extra, timeout)
                            .map(|r| (r["mb_per_s"].as_f64(), per_cpu(&r))),
                        "js" => continue,
                        _ => {
                            let pid = serve.child.id();
                            run_connect(&exe, &config, &address, bytes, timeout, pid)
                                .map(|(rate, cpu)| (Some(rate), cpu))
                        }
                    };
                    match measured {
                        Ok((Some(rate), per_cpu)) => {
                            if let Some(mb) = per_cpu {
                                let figure = if run == "cli" { &cli_cpu } else { &lib_cpu };
                                let pair = if run == "js" { Pair::JS } else { Pair::RUST };
                                self.report.record(figure, pair, mb, &json!({ "run": run }));
                            }
                            eprintln!("  {:<22} {:<10} {rate:.0} MB/s", cli, run);
                            let detail = json!({ "run": run, "mb_per_s": rate });
                            match run {
                                "lib" => {
                                    lib_rate = Some(rate);
                                    self.report.record(&lib, Pair::RUST, rate, &detail);
                                }
                                "cli" => {
                                    cli_rate = Some(rate);
                                    self.report.record(&cli, Pair::RUST, rate, &detail);
                                }
                                _ => {
                                    // The JS reference's client and node: the same figure
                                    // for both rows (it has no separate command).
                                    self.report.record(&lib, Pair::JS, rate, &detail);
                                    self.report.record(&cli, Pair::JS, rate, &detail);
                                }
                            }
                        }
                        Ok((None, _)) => self.report.error(format!("{cli} {run}: no rate")),
                        Err(e) => {
                            eprintln!("  {:<22} {:<10} FAILED: {e}", cli, run);
                            self.report.error(format!("{cli} {run}: {e}"));
                        }
                    }
                }
                if let (Some(l), Some(c)) = (lib_rate, cli_rate) {
                    let share = c / l * 100.0;
                    self.report
                        .record(&ratio, Pair::RUST, share, &json!({ "percent": share }));
                }
            }
        }
        serve.stop();
    }
}

/// Builds the release `multiserver` binary next to ours and returns its path.
fn build_cli(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("xtask bench: building the command (cargo build --release -p multiserver-cli)");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "multiserver-cli"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p multiserver-cli failed".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().ok_or("no directory for the xtask binary")?;
    Ok(dir.join(format!("multiserver{}", std::env::consts::EXE_SUFFIX)))
}

/// `multiserver serve --echo` on loopback (net and ws), killed on drop.
struct CliServer {
    child: Child,
    device: String,
}

impl CliServer {
    fn start(exe: &Path, config: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(config).map_err(|e| format!("{}: {e}", config.display()))?;
        let mut child = cli(exe, config)
            .args([
                "serve",
                "--echo",
                "--net",
                "127.0.0.1:0",
                "--ws",
                "127.0.0.1:0",
                "--no-unix",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut device = None;
        for _ in 0..3 {
            let line = lines
                .next()
                .ok_or("serve exited before printing its addresses")?
                .map_err(|e| e.to_string())?;
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("{line}: {e}"))?;
            if value["scope"] == "device" {
                device = value["address"].as_str().map(str::to_owned);
            }
        }
        Ok(Self {
            child,
            device: device.ok_or("serve printed no device address")?,
        })
    }

    /// The device alternative of `stack` (`net~shs` → `net:…~shs:…`).
    fn alternative(&self, stack: &str) -> Option<String> {
        let (transport, transform) = stack.split_once('~')?;
        self.device
            .split(';')
            .find(|a| a.starts_with(transport) && a.contains(&format!("~{transform}")))
            .map(str::to_owned)
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for CliServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(exe: &Path, config: &Path) -> Command {
    let mut command = Command::new(exe);
    command
        .env("MULTISERVER_CONFIG_DIR", config)
        .env("HOME", config)
        .env_remove("RUST_LOG");
    command
}

/// Pipes `bytes` through `multiserver connect ADDR` (stdin from a thread, stdout counted):
/// MB/s from the start of the process to its exit, and MB per CPU-second of `connect` and of
/// the `serve` process `server`.
fn run_connect(
    exe: &Path,
    config: &Path,
    address: &str,
    bytes: u64,
    timeout: Duration,
    server: u32,
) -> Result<(f64, Option<f64>), String> {
    let cpu0 = sys::children_cpu_secs().zip(sys::cpu_secs(server));
    let t0 = Instant::now();
    let mut child = cli(exe, config)
        .arg("connect")
        .arg(address)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start connect: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let pid = child.id();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..256 * 1024).map(|i| (i * 31 + 7) as u8).collect();
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(chunk.len() as u64) as usize;
            if stdin.write_all(&chunk[..n]).is_err() {
                break;
            }
            sent += n as u64;
        }
    });
    // A watchdog: a stuck run is killed rather than hanging the bench.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout).is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let mut received = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n as u64,
            Err(e) => return Err(format!("reading connect's stdout: {e}")),
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = sys::children_cpu_secs().zip(sys::cpu_secs(server));
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let _ = writer.join();
    if !status.success() || received != bytes {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        return Err(format!(
            "connect {status}, {received} of {bytes} bytes back: {}",
            text.trim()
        ));
    }
    let per_cpu = cpu0
        .zip(cpu1)
        .map(|((c0, s0), (c1, s1))| (c1 - c0) + (s1 - s0))
        .filter(|cpu| *cpu > 0.0)
        .map(|cpu| bytes as f64 / cpu / 1e6);
    Ok((bytes as f64 / secs / 1e6, per_cpu))
}
