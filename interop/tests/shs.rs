//! `net~shs` against the JavaScript reference (secret-handshake 1.1.21), both directions: a
//! 16 MiB echo byte for byte, a clean close each way, a refused client, a wrong network key,
//! and the opt-in larger box-stream frames read by the JS decoder.

use ms_core::{Error, Event, MultiServer, Scope, Stack};
use ms_interop::{JsServer, LARGE, assert_same, echo_through, js_connect, pattern};
use ms_net::Net;
use ms_shs::{HandshakeError, Keypair, NetworkKey, Shs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JS_SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const JS_CLIENT_SEED: [u8; 32] = [2; 32];
const OTHER_NETWORK: NetworkKey = NetworkKey::from_bytes([0x42; 32]);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rust_keys() -> Keypair {
    Keypair::from_seed(&[9; 32])
}

fn node(shs: Shs) -> MultiServer {
    MultiServer::new([Stack::new(Net::new()).with(shs)]).unwrap()
}

fn handshake_error(err: &Error) -> &HandshakeError {
    err.plugin_error()
        .and_then(|e| e.downcast_ref::<HandshakeError>())
        .unwrap_or_else(|| panic!("not a handshake error: {err}"))
}

/// A JS server echoing on net~shs, with the identity of `JS_SEED`.
async fn js_echo_server() -> JsServer {
    JsServer::start(&[
        "--stack",
        "net~shs@127.0.0.1:0",
        "--echo",
        "--seed",
        JS_SEED,
    ])
    .await
}

/// Clean close after a `LARGE` echo: our goodbye ends the JS side's reading without error, and
/// the JS goodbye ends ours with nothing after it.
async fn close_cleanly(mut conn: ms_core::Connection, js: &mut JsServer) {
    conn.shutdown().await.unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .await
        .expect("the JS side did not close cleanly");
    assert!(rest.is_empty());
    let closed = js.next_event("closed").await;
    assert_eq!(closed["error"], serde_json::Value::Null, "{closed}");
    assert_eq!(closed["bytes"], LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_to_js_server_echoes_16_mib_and_closes_cleanly() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let mut js = js_echo_server().await;
    let address = js.address("net~shs");
    let js_key = Keypair::from_seed(&[1; 32]).public();
    assert_eq!(
        js.public_key(),
        js_key.to_base64(),
        "the same seed gives the same key"
    );

    let mut conn = node(Shs::new(rust_keys())).connect(&address).await.unwrap();
    assert_eq!(conn.remote_ed25519(), Some(&js_key));
    assert_eq!(conn.remote_address().to_string(), address);
    let data = pattern(LARGE, 11);
    let back = echo_through(&mut conn, &data).await;
    assert_same("echo through the JS server", &back, &data);

    let seen = js.next_event("connection").await;
    assert_eq!(seen["remote"], rust_keys().public().to_base64());
    let remote = seen["remoteAddress"].as_str().unwrap();
    assert!(remote.starts_with("net:127.0.0.1:"), "{remote}");
    assert!(
        remote.ends_with(&format!("~shs:{}", rust_keys().public().to_base64())),
        "{remote}"
    );

    close_cleanly(conn, &mut js).await;
    js.stop().await;
}

/// `Shs::max_frame_body` is an opt-in that relies on the JS decoder taking bodies up to 65535
/// bytes (pull-box-stream does not enforce the 4096 its encoder uses): checked here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_server_reads_65535_byte_frames_from_a_rust_client() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let mut js = js_echo_server().await;
    let address = js.address("net~shs");
    let shs = Shs::new(rust_keys()).max_frame_body(65_535);
    let mut conn = node(shs).connect(&address).await.unwrap();
    let data = pattern(LARGE, 13);
    let back = echo_through(&mut conn, &data).await;
    assert_same(
        "echo of 65535-byte frames through the JS server",
        &back,
        &data,
    );
    close_cleanly(conn, &mut js).await;
    js.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_to_rust_server_echoes_16_mib_and_closes_cleanly() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let node = node(Shs::new(rust_keys()));
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let serve = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        let remote_key = *conn.remote_ed25519().unwrap();
        let remote_address = conn.remote_address().to_string();
        let (mut reader, mut writer) = tokio::io::split(conn);
        let copied = tokio::io::copy(&mut reader, &mut writer).await;
        let _ = writer.shutdown().await;
        (
            remote_key,
            remote_address,
            copied.map_err(|e| e.to_string()),
        )
    });
    let (result, ok) = js_connect(
        &address,
        &[
            "--bytes",
            &LARGE.to_string(),
            "--data-seed",
            "12",
            "--seed",
            &hex(&JS_CLIENT_SEED),
        ],
    )
    .await;
    assert!(ok, "the JS client failed: {result}");
    assert_eq!(result["received"], LARGE);
    assert_eq!(result["closeError"], serde_json::Value::Null, "{result}");
    assert_eq!(result["remote"], rust_keys().public().to_base64());
    assert_eq!(result["remoteAddress"], address);

    let (remote_key, remote_address, copied) = serve.await.unwrap();
    let js_client = Keypair::from_seed(&JS_CLIENT_SEED).public();
    assert_eq!(remote_key, js_client);
    assert!(remote_address.ends_with(&format!("~shs:{}", js_client.to_base64())));
    assert_eq!(
        copied,
        Ok(LARGE as u64),
        "the JS client's goodbye did not end the stream cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_server_that_refuses_us_is_a_handshake_error() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let mut js = JsServer::start(&["--stack", "net~shs@127.0.0.1:0", "--echo", "--deny-all"]).await;
    let err = node(Shs::new(rust_keys()))
        .connect(&js.address("net~shs"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transform { .. }), "{err}");
    assert!(
        matches!(handshake_error(&err), HandshakeError::PeerHungUp { .. }),
        "{err}"
    );
    let event = js.next_event("error").await;
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("did not authorize"),
        "{event}"
    );
    js.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_server_refuses_a_js_client_that_auth_says_no_to() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let allowed = Keypair::from_seed(&[3; 32]).public();
    let shs = Shs::new(rust_keys()).authorize(move |client| async move {
        (client == allowed).then(|| ms_core::AuthValue::new(()))
    });
    let node = node(shs);
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let (result, ok) = js_connect(&address, &["--seed", &hex(&JS_CLIENT_SEED)]).await;
    assert!(!ok);
    assert!(
        result["error"].as_str().unwrap().contains("phase 3"),
        "{result}"
    );
    match server.next_event().await.unwrap() {
        Event::Rejected { error, .. } => {
            assert!(
                matches!(handshake_error(&error), HandshakeError::Rejected),
                "{error}"
            )
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_network_key_fails_in_both_directions() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    // Rust client with another network key → JS server.
    let mut js = JsServer::start(&["--stack", "net~shs@127.0.0.1:0", "--echo"]).await;
    let err = node(Shs::new(rust_keys()).network_key(OTHER_NETWORK))
        .connect(&js.address("net~shs"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transform { .. }), "{err}");
    let event = js.next_event("error").await;
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("invalid challenge"),
        "{event}"
    );
    js.stop().await;

    // JS client with another network key → Rust server.
    let node = node(Shs::new(rust_keys()));
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let (result, ok) = js_connect(&address, &["--app-key", &OTHER_NETWORK.to_base64()]).await;
    assert!(!ok);
    assert!(
        result["error"].as_str().unwrap().contains("phase 1"),
        "{result}"
    );
    match server.next_event().await.unwrap() {
        Event::Rejected { error, .. } => assert!(
            matches!(
                handshake_error(&error),
                HandshakeError::InvalidChallenge { .. }
            ),
            "{error}"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_closing_first_lets_the_js_server_finish_sending() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    // One-way transfer Rust → JS (the JS server in sink mode hashes what arrives and sends its
    // goodbye once we have sent ours).
    let mut js = JsServer::start(&["--stack", "net~shs@127.0.0.1:0"]).await;
    let mut conn = node(Shs::new(rust_keys()))
        .connect(&js.address("net~shs"))
        .await
        .unwrap();
    let data = pattern(1024 * 1024, 13);
    conn.write_all(&data).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .await
        .expect("no clean goodbye from the JS side");
    let closed = js.next_event("closed").await;
    assert_eq!(closed["error"], serde_json::Value::Null, "{closed}");
    assert_eq!(closed["bytes"], data.len());
    js.stop().await;
}
