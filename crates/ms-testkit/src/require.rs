//! Tests that need a program from outside the Rust toolchain (Node.js, `microsocks`, a browser).
//!
//! Each lookup returns the program's path, or, when it is missing, prints one line saying that
//! the test skipped and why, and returns `None`; the test then returns early:
//!
//! ```no_run
//! # fn main() {
//! let Some(node) = ms_testkit::require::program("node") else {
//!     return; // "skipped: node not found on PATH (<test name>)" is on stderr
//! };
//! # let _ = node;
//! # }
//! ```
//!
//! So `cargo test --workspace` passes on any machine where Rust builds. A run that must not skip
//! anything (CI, `.ci/run`) sets [`REQUIRE_ALL`] (`MULTISERVER_REQUIRE_ALL=1`): then a missing
//! program fails the test (a panic with the same reason) instead.
//!
//! The skip line is written to the process's stderr directly, not through `eprintln!`, so that
//! the test harness's output capture does not hide it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable that turns every skip into a failure, when set to anything but an
/// empty string or `0`.
pub const REQUIRE_ALL: &str = "MULTISERVER_REQUIRE_ALL";

/// The environment variable naming the browser [`browser`] uses: a path, or a name looked up
/// on `PATH`. The same variable Karma and many CI images use for Chrome or Chromium.
pub const BROWSER_VAR: &str = "CHROME_BIN";

/// The names [`browser`] looks for on `PATH`, in this order, when [`BROWSER_VAR`] is not set.
pub const BROWSER_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Where macOS installs Chrome and Chromium (not on `PATH`); tried after [`BROWSER_NAMES`].
const BROWSER_PATHS: &[&str] = &[
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
];

/// Whether this run demands every outside program ([`REQUIRE_ALL`] is set).
pub fn required() -> bool {
    std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The program `name` found on `PATH`; otherwise skips (see the [module docs](self)).
#[track_caller]
pub fn program(name: &str) -> Option<PathBuf> {
    match find_on_path(name) {
        Some(path) => Some(path),
        None => skip(&format!("{name} not found on PATH")),
    }
}

/// The program named by the environment variable `var` (a path, or a name looked up on `PATH`)
/// when it is set, else `name` on `PATH`; otherwise skips.
///
/// ```no_run
/// # fn main() {
/// // MICROSOCKS=/opt/bin/microsocks overrides the search.
/// let Some(proxy) = ms_testkit::require::program_or_env("MICROSOCKS", "microsocks") else {
///     return;
/// };
/// # let _ = proxy;
/// # }
/// ```
#[track_caller]
pub fn program_or_env(var: &str, name: &str) -> Option<PathBuf> {
    match from_env(var) {
        Some(Ok(path)) => Some(path),
        Some(Err(reason)) => skip(&reason),
        None => program(name),
    }
}

/// A Chromium or Chrome binary: [`BROWSER_VAR`] when set, else the first of [`BROWSER_NAMES`]
/// on `PATH`, else the usual macOS application paths; otherwise skips.
#[track_caller]
pub fn browser() -> Option<PathBuf> {
    match from_env(BROWSER_VAR) {
        Some(Ok(path)) => return Some(path),
        Some(Err(reason)) => return skip(&reason),
        None => {}
    }
    let found = BROWSER_NAMES
        .iter()
        .find_map(|name| find_on_path(name))
        .or_else(|| {
            BROWSER_PATHS
                .iter()
                .map(PathBuf::from)
                .find(|path| is_executable(path))
        });
    match found {
        Some(path) => Some(path),
        None => skip(&format!(
            "no Chromium or Chrome found ({BROWSER_VAR} is not set, and none of {} is on PATH)",
            BROWSER_NAMES.join(", ")
        )),
    }
}

/// `path` when it exists; otherwise skips, saying `missing` (what is missing and how to get it).
///
/// ```no_run
/// # fn main() {
/// let modules = std::path::Path::new("interop/node_modules");
/// let Some(_) = ms_testkit::require::file(modules, "the npm packages: run `npm ci` in interop/")
/// else {
///     return;
/// };
/// # }
/// ```
#[track_caller]
pub fn file(path: &Path, missing: &str) -> Option<PathBuf> {
    if path.exists() {
        Some(path.to_path_buf())
    } else {
        skip(&format!("{} is missing ({missing})", path.display()))
    }
}

/// Skips the running test because of `reason`: prints `skipped: <reason> (<test name>)` on one
/// line of stderr and returns `None`, or panics with the reason when [`required`].
///
/// # Panics
///
/// When [`REQUIRE_ALL`] is set.
#[track_caller]
pub fn skip<T>(reason: &str) -> Option<T> {
    if required() {
        panic!(
            "{reason}; {REQUIRE_ALL} is set, so this test fails instead of skipping \
             (install the program, or unset {REQUIRE_ALL})"
        );
    }
    not_applicable(reason)
}

/// Skips the running test because it does not apply here (another operating system, not
/// root): prints the same `skipped: <reason> (<test name>)` line as [`skip`] and returns
/// `None`, **even when [`required`]**, since no installation could make it run. For a missing
/// program or file, use [`skip`] (or [`program`], [`file()`]).
#[track_caller]
pub fn not_applicable<T>(reason: &str) -> Option<T> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("skipped: {reason} ({test})\n");
    // Straight to the process's stderr: the harness captures `eprintln!`, not this.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// `name` on `PATH` (a name with a path separator is taken as a path), without printing.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| candidates(&dir, name))
        .find(|path| is_executable(path))
}

/// `Some(Ok(path))` when `var` names an executable, `Some(Err(reason))` when it is set to
/// something else, `None` when it is not set.
fn from_env(var: &str) -> Option<Result<PathBuf, String>> {
    let value = std::env::var_os(var).filter(|v| !v.is_empty())?;
    let shown = value.to_string_lossy().into_owned();
    Some(find_on_path(&shown).ok_or_else(|| format!("{var}={shown} is not an executable")))
}

fn candidates(dir: &Path, name: &str) -> Vec<PathBuf> {
    let plain = dir.join(name);
    if cfg!(windows) {
        vec![plain.with_extension("exe"), plain]
    } else {
        vec![plain]
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_program_that_is_on_path() {
        // `sh` is on PATH wherever these tests run (cargo itself needs a shell for build scripts).
        let sh = find_on_path("sh").expect("sh on PATH");
        assert!(sh.is_absolute(), "{}", sh.display());
        assert!(sh.ends_with("sh"));
    }

    #[test]
    fn does_not_find_a_program_that_is_not_there() {
        assert_eq!(find_on_path("ms-testkit-no-such-program-4f1c"), None);
        assert_eq!(find_on_path("/nonexistent/ms-testkit/program"), None);
    }

    /// Run in a child process by the two tests below (`--ignored`), with and without
    /// [`REQUIRE_ALL`].
    #[test]
    #[ignore = "run in a child process by the skip tests"]
    fn child_needs_a_missing_program() {
        let found = program("ms-testkit-no-such-program-4f1c");
        assert!(found.is_none());
    }

    fn run_child(require_all: &str) -> std::process::Output {
        let exe = std::env::current_exe().expect("test binary");
        std::process::Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "require::tests::child_needs_a_missing_program",
            ])
            .env(REQUIRE_ALL, require_all)
            .output()
            .expect("run the test binary")
    }

    /// The child runs with the harness's output capture on: the line must get through it.
    #[test]
    fn a_missing_program_skips_with_one_line() {
        for value in ["", "0"] {
            let output = run_child(value);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{stderr}");
            let skips: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("skipped"))
                .collect();
            assert_eq!(
                skips,
                [
                    "skipped: ms-testkit-no-such-program-4f1c not found on PATH \
                  (require::tests::child_needs_a_missing_program)"
                ],
                "{stderr}"
            );
        }
    }

    #[test]
    fn a_missing_program_fails_when_every_program_is_required() {
        let output = run_child("1");
        assert!(!output.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            all.contains(
                "ms-testkit-no-such-program-4f1c not found on PATH; MULTISERVER_REQUIRE_ALL is set"
            ),
            "{all}"
        );
    }

    #[test]
    fn a_directory_or_a_plain_file_is_not_a_program() {
        let dir = std::env::temp_dir();
        assert!(!is_executable(&dir));
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(!is_executable(&file));
    }
}
