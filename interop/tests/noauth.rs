//! `net~noauth` and `unix~noauth` against the JavaScript reference, both directions: 16 MiB
//! echoed byte for byte, and the remote address each side reports.

use ms_core::{MultiServer, PublicKey, Scope, Stack};
use ms_interop::{
    JsServer, LARGE, assert_same, echo_through, js_connect, pattern, spawn_echo_server,
};
use ms_net::Net;
use ms_noauth::Noauth;
use ms_unix::Unix;

const KEY: PublicKey = PublicKey([9; 32]);

fn client() -> MultiServer {
    MultiServer::new([
        Stack::new(Net::new()).with(Noauth::new(KEY)),
        Stack::new(Unix::dial_only()).with(Noauth::new(KEY)),
    ])
    .unwrap()
}

async fn rust_client_against_js_server(stack: &str, spec: &str) {
    let mut js = JsServer::start(&["--stack", spec, "--echo"]).await;
    let address = js.address(stack);
    let mut conn = client().connect(&address).await.unwrap();
    let data = pattern(LARGE, 3);
    let back = echo_through(&mut conn, &data).await;
    assert_same("echo through the JS server", &back, &data);

    // What each side reports. Ours: the address we dialled, then noauth with our own key.
    let ours = conn.remote_address().to_string();
    let dialled = address.strip_suffix("~noauth").unwrap();
    assert_eq!(ours, format!("{dialled}~noauth:{}", KEY.to_base64()));
    // Theirs: the transport's view of us, then noauth with the JS node's own key.
    let seen = js.next_event("connection").await;
    let remote = seen["remoteAddress"].as_str().unwrap();
    assert!(
        remote.starts_with(&stack[..stack.find('~').unwrap()]),
        "{remote}"
    );
    assert!(
        remote.ends_with(&format!("~noauth:{}", js.public_key())),
        "{remote}"
    );
    drop(conn);
    js.stop().await;
}

async fn js_client_against_rust_server(stack: Stack) {
    let node = MultiServer::new([stack]).unwrap();
    let server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let mut remotes = spawn_echo_server(server);
    let (result, ok) = js_connect(
        &address,
        &["--bytes", &LARGE.to_string(), "--data-seed", "5"],
    )
    .await;
    assert!(ok, "the JS client failed: {result}");
    assert_eq!(result["received"], LARGE);
    // The JS client reports the address it dialled, then noauth with its own key.
    let theirs = result["remoteAddress"].as_str().unwrap();
    assert!(theirs.contains("~noauth:"), "{theirs}");
    // We report the peer as our transport saw it, then noauth with OUR key, as the reference.
    let ours = remotes.recv().await.unwrap();
    assert!(
        ours.ends_with(&format!("~noauth:{}", KEY.to_base64())),
        "{ours}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_noauth_rust_client_to_js_server() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    rust_client_against_js_server("net~noauth", "net~noauth@127.0.0.1:0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_noauth_js_client_to_rust_server() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    js_client_against_rust_server(Stack::new(Net::new()).with(Noauth::new(KEY))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_noauth_rust_client_to_js_server() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("unix~noauth@{}", dir.path().display());
    rust_client_against_js_server("unix~noauth", &spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_noauth_js_client_to_rust_server() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unix = Unix::in_directory(dir.path()).unwrap();
    js_client_against_rust_server(Stack::new(unix).with(Noauth::new(KEY))).await;
}
