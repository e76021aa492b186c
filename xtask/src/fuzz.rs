//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` one after the other and prints a
//! summary (see docs/security.md, "Fuzzing").
//!
//! Each target fuzzes for the given time with one job, on a temporary copy of its committed
//! corpus (`fuzz/corpus/<target>/` is read, never written, so the repository is not flooded
//! with generated inputs). Crashes are written by libFuzzer to `fuzz/artifacts/<target>/`.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: cargo xtask fuzz [--minutes N] [--target NAME]...

Runs every fuzz target (or each NAME) for N minutes (default 1; decimals allowed) with
`cargo +nightly fuzz run <target> -- -max_total_time=<secs> -jobs=1`, one after the other,
and prints runs, seconds and crashes per target. Exits 1 if anything crashed, 2 if the
nightly toolchain or cargo-fuzz is missing.";

const INSTALL_HINT: &str =
    "install with `rustup toolchain install nightly && cargo install cargo-fuzz`";

/// Per-input time limit passed to libFuzzer: an input that runs longer is a finding (a hang).
const INPUT_TIMEOUT_SECS: u32 = 30;

struct Options {
    seconds: u64,
    targets: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut minutes = 1.0_f64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--minutes" => {
                let value = it.next().ok_or("--minutes needs a value")?;
                minutes = value
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| format!("--minutes: `{value}` is not a positive number"))?;
            }
            "--target" => targets.push(it.next().ok_or("--target needs a name")?.clone()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    // At least one second: libFuzzer treats 0 as "no limit".
    let seconds = ((minutes * 60.0).round() as u64).max(1);
    Ok(Some(Options { seconds, targets }))
}

/// What one target's run produced.
struct Outcome {
    target: String,
    /// Runs and seconds; `None` if libFuzzer printed no statistics at all.
    stats: Option<Stats>,
    corpus: (usize, usize),
    status_ok: bool,
    artifacts: Vec<PathBuf>,
    log: PathBuf,
}

impl Outcome {
    /// Crashes, leaks, timeouts and out-of-memory inputs (slow units are listed, not counted).
    fn crashes(&self) -> usize {
        self.artifacts
            .iter()
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("slow-unit-"))
            })
            .count()
    }

    fn failed(&self) -> bool {
        !self.status_ok || self.crashes() > 0
    }
}

/// Entry point of `cargo xtask fuzz`.
pub fn fuzz(args: &[String]) -> ExitCode {
    let options = match parse_args(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("xtask fuzz: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf();
    let fuzz_dir = root.join("fuzz");

    if let Err(missing) = check_tools() {
        eprintln!("xtask fuzz: {missing} is missing; {INSTALL_HINT}");
        return ExitCode::from(2);
    }
    let available = match list_targets(&fuzz_dir) {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("xtask fuzz: cannot list the fuzz targets: {e}");
            return ExitCode::from(2);
        }
    };
    let targets = if options.targets.is_empty() {
        available
    } else {
        if let Some(unknown) = options.targets.iter().find(|t| !available.contains(t)) {
            eprintln!(
                "xtask fuzz: no target `{unknown}` (targets: {})",
                available.join(", ")
            );
            return ExitCode::from(2);
        }
        options.targets
    };

    let mut outcomes = Vec::new();
    for target in &targets {
        println!(
            "xtask fuzz: {target} for {} s (building first if needed)...",
            options.seconds
        );
        match run_target(&fuzz_dir, target, options.seconds) {
            Ok(outcome) => {
                if outcome.failed() {
                    println!(
                        "xtask fuzz: {target} FAILED; libFuzzer's output: {}",
                        outcome.log.display()
                    );
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                eprintln!("xtask fuzz: {target}: {e}");
                return ExitCode::from(2);
            }
        }
    }

    print_summary(&outcomes);
    if outcomes.iter().any(Outcome::failed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Err names what is missing.
fn check_tools() -> Result<(), &'static str> {
    let works = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works(&["+nightly", "--version"]) {
        return Err("the nightly toolchain (`cargo +nightly`)");
    }
    if !works(&["+nightly", "fuzz", "--version"]) {
        return Err("cargo-fuzz (`cargo fuzz`)");
    }
    Ok(())
}

fn list_targets(fuzz_dir: &Path) -> io::Result<Vec<String>> {
    let output = Command::new("cargo")
        .args(["+nightly", "fuzz", "list", "--fuzz-dir"])
        .arg(fuzz_dir)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "`cargo fuzz list` failed ({})",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh directory under the system's temporary directory.
fn work_dir(target: &str) -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "multiserver-fuzz-{target}-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(dir.join("corpus"))?;
    Ok(dir)
}

fn run_target(fuzz_dir: &Path, target: &str, seconds: u64) -> io::Result<Outcome> {
    let committed = fuzz_dir.join("corpus").join(target);
    let artifacts_dir = fuzz_dir.join("artifacts").join(target);
    let work = work_dir(target)?;
    let corpus = work.join("corpus");
    let mut seeds = 0;
    if committed.is_dir() {
        for entry in fs::read_dir(&committed)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::copy(entry.path(), corpus.join(entry.file_name()))?;
                seeds += 1;
            }
        }
    }
    let before = file_names(&artifacts_dir);

    // libFuzzer's -jobs mode writes the worker's output to fuzz-<n>.log in the current
    // directory: run from the work directory so it lands there. No `-O`: cargo-fuzz's default
    // build is optimised *with* debug assertions and overflow checks, which `-O` turns off.
    let log = work.join("cargo-fuzz.log");
    let status = Command::new("cargo")
        .current_dir(&work)
        .args(["+nightly", "fuzz", "run", "--fuzz-dir"])
        .arg(fuzz_dir)
        .arg(target)
        .arg(&corpus)
        .arg(&committed)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-jobs=1")
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log)?)
        .stderr(fs::File::create(work.join("cargo-fuzz.stderr.log"))?)
        .status()?;

    // Everything libFuzzer and cargo said, in one place.
    let mut text = String::new();
    let mut logs: Vec<PathBuf> = file_names(&work)
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .map(|n| work.join(n))
        .collect();
    logs.sort();
    for path in &logs {
        text.push_str(&fs::read_to_string(path).unwrap_or_default());
        text.push('\n');
    }
    let combined = work.join("all.log");
    fs::write(&combined, &text)?;

    let stats = parse_stats(&text);
    let mut artifacts: Vec<PathBuf> = file_names(&artifacts_dir)
        .difference(&before)
        .map(|n| artifacts_dir.join(n))
        .collect();
    // Artifacts written elsewhere (e.g. by an -artifact_prefix) are named in the log.
    for line in text.lines() {
        if let Some(path) = line.split("Test unit written to ").nth(1) {
            let path = PathBuf::from(path.trim());
            if !artifacts.contains(&path) {
                artifacts.push(path);
            }
        }
    }
    let outcome = Outcome {
        target: target.to_owned(),
        stats,
        corpus: (seeds, file_names(&corpus).len()),
        status_ok: status.success(),
        artifacts,
        log: combined,
    };
    if !outcome.failed() {
        // Nothing to look at: do not leave the generated corpus behind.
        let _ = fs::remove_dir_all(&work);
    }
    Ok(outcome)
}

/// Executions and time of one run.
#[derive(Debug, PartialEq, Eq)]
struct Stats {
    runs: u64,
    seconds: u64,
    /// From libFuzzer's final `Done` line; otherwise (the run stopped at a crash) estimated from
    /// its last status line (`#<runs> … exec/s: <rate>`).
    exact: bool,
}

/// The last `Done N runs in S second(s)` line of libFuzzer's output or, failing that, its last
/// status line.
fn parse_stats(text: &str) -> Option<Stats> {
    let done = text.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("Done ")?;
        let (runs, rest) = rest.split_once(" runs in ")?;
        let (secs, _) = rest.split_once(' ')?;
        Some(Stats {
            runs: runs.parse().ok()?,
            seconds: secs.parse().ok()?,
            exact: true,
        })
    });
    done.or_else(|| {
        text.lines().rev().find_map(|line| {
            let runs: u64 = line
                .strip_prefix('#')?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let rate: u64 = line
                .split_once("exec/s: ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(Stats {
                runs,
                seconds: runs / rate.max(1),
                exact: false,
            })
        })
    })
}

fn print_summary(outcomes: &[Outcome]) {
    let approx = |s: &Stats| if s.exact { "" } else { "~" };
    println!();
    println!(
        "{:<20} {:>12} {:>8} {:>8} {:>11} {:>8}  artifacts",
        "target", "runs", "seconds", "exec/s", "corpus", "crashes"
    );
    for o in outcomes {
        let (runs, seconds, rate) = match &o.stats {
            Some(s) => (
                format!("{}{}", approx(s), s.runs),
                format!("{}{}", approx(s), s.seconds),
                (s.runs / s.seconds.max(1)).to_string(),
            ),
            None => ("?".to_owned(), "?".to_owned(), "?".to_owned()),
        };
        let crashes = if o.status_ok || o.crashes() > 0 {
            o.crashes().to_string()
        } else {
            "failed".to_owned()
        };
        let artifacts = if o.artifacts.is_empty() {
            "-".to_owned()
        } else {
            o.artifacts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{:<20} {:>12} {:>8} {:>8} {:>11} {:>8}  {artifacts}",
            o.target,
            runs,
            seconds,
            rate,
            format!("{}→{}", o.corpus.0, o.corpus.1),
            crashes,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_done_line() {
        let log =
            "INFO: x\nDone 12 runs in 1 second(s)\n#5 pulse\nDone 4130371 runs in 601 second(s)\n";
        let stats = parse_stats(log).unwrap();
        assert_eq!(
            (stats.runs, stats.seconds, stats.exact),
            (4_130_371, 601, true)
        );
        assert_eq!(parse_stats("no summary"), None);
        let crashed = "#876676\tREDUCE cov: 3153 ft: 9568 corp: 363/143Kb lim: 4246 exec/s: 1585 rss: 443Mb\n\
                       thread '<unnamed>' panicked at x.rs:1:1\n";
        let stats = parse_stats(crashed).unwrap();
        assert_eq!(
            (stats.runs, stats.seconds, stats.exact),
            (876_676, 553, false)
        );
    }

    #[test]
    fn parses_minutes_and_targets() {
        let args: Vec<String> = ["--minutes", "0.5", "--target", "address"]
            .map(String::from)
            .into();
        let options = parse_args(&args).unwrap().unwrap();
        assert_eq!(options.seconds, 30);
        assert_eq!(options.targets, ["address"]);
        assert!(parse_args(&["--minutes".into(), "0".into()]).is_err());
        assert!(parse_args(&["--bogus".into()]).is_err());
        assert!(parse_args(&["--help".into()]).unwrap().is_none());
    }
}
