//! The browser bridge (the seeds' browser-to-desktop case): the JavaScript reference's ws
//! client with secret-handshake, bundled for the browser, runs in headless Chromium and talks
//! to a Rust node's `ws~shs` stack: it sends data and checks the echo.
//!
//! Needs Node.js, the npm packages (`npm ci`) and Chromium or Chrome: `CHROME_BIN` when set,
//! else `chromium`, `chromium-browser`, `google-chrome` or `google-chrome-stable` on `PATH`
//! ([`ms_testkit::require::browser`]). Without one of them the test prints one `skipped: ...`
//! line and passes; under `MULTISERVER_REQUIRE_ALL=1` (`.ci/run`, CI) it fails instead.

use std::process::Stdio;

use ms_core::{MultiServer, Scope, Stack};
use ms_shs::{Keypair, Shs};
use ms_ws::Ws;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_talks_to_a_rust_node_over_ws_shs() {
    let Some(node_js) = ms_interop::node() else {
        return;
    };
    let Some(browser) = ms_testkit::require::browser() else {
        return;
    };
    let keys = Keypair::from_seed(&[41; 32]);
    let ws = Ws::builder()
        .host(std::net::Ipv4Addr::LOCALHOST)
        .port(0)
        .build()
        .unwrap();
    let node = MultiServer::new([Stack::new(ws).with(Shs::new(keys.clone()))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let serve = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        let remote = conn.remote_address().to_string();
        let (mut reader, mut writer) = tokio::io::split(conn);
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
        let _ = writer.shutdown().await;
        remote
    });
    let run = ms_interop::dir().join("browser").join("run.js");
    let output = tokio::time::timeout(
        ms_interop::STEP * 2,
        Command::new(node_js)
            .arg(run)
            .arg(&address)
            .args(["--bytes", "1048576", "--data-seed", "7"])
            .arg("--chromium")
            .arg(browser)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run did not finish")
    .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result from the browser: {stdout}"));
    assert!(output.status.success(), "the browser side failed: {result}");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["received"], 1_048_576);
    assert_eq!(result["remote"], keys.public().to_base64());
    // The browser's connection reached the application as an authenticated ws~shs stream.
    let remote = serve.await.unwrap();
    assert!(
        remote.starts_with("ws://127.0.0.1:") && remote.contains("~shs:"),
        "{remote}"
    );
}
