//! The language-independent secret-handshake suite `shs1-test` (npm) against our adapters
//! (`crates/ms-shs/examples/shs1_{server,client}.rs`), with several seeds.
//!
//! `cargo test --workspace` builds the examples before running tests; running this file alone
//! needs `cargo build -p ms-shs --examples` first.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/shs1-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p ms-shs --examples` (cargo test --workspace does)",
        path.display()
    );
    path
}

fn run_suite(bin: &Path, suite: &str, adapter: &str, seed: &str) {
    let output = Command::new(bin)
        .arg(example(adapter))
        .arg(seed)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{suite} {adapter} (seed {seed}) failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `shs1-test` runner `suite` from the npm packages, or `None` after a skip line.
fn suite_runner(suite: &str) -> Option<PathBuf> {
    let bin = ms_interop::dir()
        .join("node_modules")
        .join(".bin")
        .join(suite);
    ms_testkit::require::file(&bin, "shs1-test: run `npm ci` in interop/")
}

#[test]
fn our_server_passes_shs1testserver() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let Some(bin) = suite_runner("shs1testserver") else {
        return;
    };
    for seed in ["1", "42", "2026"] {
        run_suite(&bin, "shs1testserver", "shs1_server", seed);
    }
}

#[test]
fn our_client_passes_shs1testclient() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let Some(bin) = suite_runner("shs1testclient") else {
        return;
    };
    for seed in ["1", "42", "2026"] {
        run_suite(&bin, "shs1testclient", "shs1_client", seed);
    }
}
