//! What the benchmark reads from the system (Linux `/proc`), and the child processes it runs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`: 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// Parses 64 hex characters.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lowercase hex of 32 bytes.
pub fn to_hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// CPU seconds used so far by process `pid`: the sum of its live threads' run time from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds), else user + system time from
/// `/proc/<pid>/stat` (10 ms ticks).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    cpu_of(&format!("/proc/{pid}"))
}

/// CPU seconds used so far by this process (see [`cpu_secs`]).
pub fn self_cpu_secs() -> Option<f64> {
    cpu_of("/proc/self")
}

fn cpu_of(proc_dir: &str) -> Option<f64> {
    let sched = std::fs::read_dir(format!("{proc_dir}/task"))
        .ok()
        .and_then(|tasks| {
            let mut total_ns = 0u64;
            for task in tasks.flatten() {
                let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
                total_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
            }
            Some(total_ns as f64 / 1e9)
        });
    sched.or_else(|| stat_cpu(&std::fs::read_to_string(format!("{proc_dir}/stat")).ok()?))
}

/// CPU seconds of this process's children that have exited and been waited for (user + system,
/// `cutime` + `cstime` of `/proc/self/stat`, 10 ms ticks): the CPU of a child process that is
/// gone, as the difference around its run.
pub fn children_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / USER_HZ)
}

fn stat_cpu(stat: &str) -> Option<f64> {
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The soft limit on open files of process `pid`.
pub fn nofile_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// A line of text describing this machine: CPU model, cores, kernel, memory.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let load = loadavg();
    serde_json::json!({
        "cpu": model,
        "cores": cores,
        "kernel": kernel,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "load_average_at_start": load,
    })
}

/// The 1-, 5- and 15-minute load averages (other work on the machine shows here).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Raises the open-files limit of what follows (as far as allowed), then execs the command.
const NOFILE_WRAPPER: &str =
    "ulimit -n 65536 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$@\"";

/// A child process (a benchmark server or client) that prints JSON lines on stdout. It is
/// killed when dropped, whatever happened.
pub struct Peer {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Peer {
    /// Starts `program args` under `bash` with a raised open-files limit.
    pub fn spawn(label: &str, program: &Path, args: &[String]) -> Result<Self, String> {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(NOFILE_WRAPPER)
            .arg("bench-peer")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("{label}: cannot start {}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let keep = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    let mut keep = keep.lock().unwrap_or_else(|p| p.into_inner());
                    if keep.len() >= 20 {
                        keep.pop_front();
                    }
                    keep.push_back(line);
                }
            });
        }
        Ok(Self {
            label: label.to_owned(),
            child,
            stdin,
            lines,
            stderr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stderr_tail(&self) -> String {
        let keep = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        keep.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The next JSON object with `"event": event` (other lines are skipped); a `fatal` event,
    /// the end of output or the deadline is an error.
    pub fn expect(&mut self, event: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no `{event}` within {timeout:?}; stderr: {}",
                        self.label,
                        self.stderr_tail()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Give the stderr reader a moment to collect the last words.
                    std::thread::sleep(Duration::from_millis(100));
                    return Err(format!(
                        "{}: exited before `{event}`; stderr: {}",
                        self.label,
                        self.stderr_tail()
                    ));
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match value.get("event").and_then(Value::as_str) {
                Some(e) if e == event => return Ok(value),
                Some("fatal") => {
                    return Err(format!(
                        "{}: {}; stderr: {}",
                        self.label,
                        value["message"],
                        self.stderr_tail()
                    ));
                }
                _ => {}
            }
        }
    }

    /// Writes a line to the child's stdin.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin closed", self.label))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: cannot write to stdin: {e}", self.label))
    }

    /// Closes stdin (the signal to exit), waits up to `grace`, then kills.
    pub fn finish(mut self, grace: Duration) {
        self.stdin = None;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop kills.
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
