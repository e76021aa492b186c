//! `ws~shs` against the JavaScript reference (multiserver's ws plugin, pull-websocket, ws 7),
//! both directions: a 16 MiB echo byte for byte, and the addresses each side reports.

use ms_core::{MultiServer, Scope, Stack};
use ms_interop::{JsServer, LARGE, assert_same, echo_through, js_connect, pattern};
use ms_shs::{Keypair, Shs};
use ms_ws::Ws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn keys() -> Keypair {
    Keypair::from_seed(&[21; 32])
}

fn ws() -> Ws {
    Ws::builder()
        .host(std::net::Ipv4Addr::LOCALHOST)
        .port(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_to_js_server_over_ws_shs() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let mut js = JsServer::start(&["--stack", "ws~shs@127.0.0.1:0", "--echo"]).await;
    let address = js.address("ws~shs");
    assert!(address.starts_with("ws://127.0.0.1:"), "{address}");
    let node = MultiServer::new([Stack::new(ws()).with(Shs::new(keys()))]).unwrap();
    let mut conn = node.connect(&address).await.unwrap();
    assert_eq!(conn.remote_ed25519().unwrap().to_base64(), js.public_key());
    let data = pattern(LARGE, 31);
    let back = echo_through(&mut conn, &data).await;
    assert_same("echo through the JS ws server", &back, &data);

    let seen = js.next_event("connection").await;
    assert_eq!(seen["remote"], keys().public().to_base64());
    // Clean close: our goodbye, then theirs, over a WebSocket that cannot half-close.
    conn.shutdown().await.unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .await
        .expect("the JS side did not close cleanly");
    let closed = js.next_event("closed").await;
    assert_eq!(closed["error"], serde_json::Value::Null, "{closed}");
    js.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_to_rust_server_over_ws_shs() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let node = MultiServer::new([Stack::new(ws()).with(Shs::new(keys()))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    assert!(address.starts_with("ws://127.0.0.1:"), "{address}");
    let serve = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        let remote = conn.remote_address().to_string();
        let (mut reader, mut writer) = tokio::io::split(conn);
        let copied = tokio::io::copy(&mut reader, &mut writer).await;
        let _ = writer.shutdown().await;
        (remote, copied.map_err(|e| e.to_string()))
    });
    let (result, ok) = js_connect(
        &address,
        &["--bytes", &LARGE.to_string(), "--data-seed", "32"],
    )
    .await;
    assert!(ok, "the JS client failed: {result}");
    assert_eq!(result["received"], LARGE);
    assert_eq!(result["remote"], keys().public().to_base64());
    let (remote, copied) = serve.await.unwrap();
    assert!(
        remote.starts_with("ws://127.0.0.1:") && remote.contains("~shs:"),
        "{remote}"
    );
    assert_eq!(copied, Ok(LARGE as u64));
}
