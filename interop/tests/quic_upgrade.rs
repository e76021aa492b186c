//! The upgrade story (issue 17): a Rust node serves `quic` and `net~shs` and advertises both in
//! one address, `quic` first. A Rust client given that address connects over QUIC; the JS
//! reference client, which does not know `quic`, given the SAME address skips that alternative
//! and connects over net~shs, and its echo comes back intact.

use ms_core::{MultiServer, Scope, Stack};
use ms_interop::{echo_through, js_connect, pattern, spawn_echo_server};
use ms_net::Net;
use ms_quic::Quic;
use ms_shs::{Keypair, NetworkKey, Shs};

const JS_CLIENT_SEED: [u8; 32] = [2; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A node speaking `quic` and `net~shs` with one identity, `quic` first.
fn node(keys: &Keypair) -> MultiServer {
    let quic = Quic::new(keys, NetworkKey::MAINNET).unwrap();
    MultiServer::new([
        Stack::new(quic),
        Stack::new(Net::new()).with(Shs::new(keys.clone())),
    ])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_rust_takes_quic_and_the_js_reference_takes_net_shs() {
    let Some(_node) = ms_interop::node() else {
        return;
    };
    let server_keys = Keypair::from_seed(&[9; 32]);
    let server = node(&server_keys).listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let alternatives: Vec<&str> = address.split(';').collect();
    assert_eq!(alternatives.len(), 2, "{address}");
    assert!(alternatives[0].starts_with("quic:127.0.0.1:"), "{address}");
    assert!(alternatives[1].starts_with("net:127.0.0.1:"), "{address}");
    assert!(alternatives[1].ends_with(&format!("~shs:{}", server_keys.public().to_base64())));
    let mut remotes = spawn_echo_server(server);

    // A Rust client dials the first alternative it understands: quic.
    let client_keys = Keypair::from_seed(&[3; 32]);
    let mut conn = node(&client_keys).connect(&address).await.unwrap();
    assert!(
        conn.remote_address().to_string().starts_with("quic:"),
        "{}",
        conn.remote_address()
    );
    assert_eq!(conn.remote_key(), Some(&server_keys.public()));
    let data = pattern(256 * 1024, 5);
    assert!(
        echo_through(&mut conn, &data).await == data,
        "the QUIC echo differs"
    );
    let remote = remotes.recv().await.unwrap();
    assert!(remote.starts_with("quic:"), "{remote}");
    assert!(
        remote.ends_with(&client_keys.public().to_base64()),
        "{remote}"
    );

    // The JS reference, given the same string, skips quic and dials net~shs.
    let (result, ok) = js_connect(
        &address,
        &["--bytes", "262144", "--seed", &hex(&JS_CLIENT_SEED)],
    )
    .await;
    assert!(ok, "the JS client failed: {result}");
    assert_eq!(result["received"], 262144);
    assert_eq!(result["remote"], server_keys.public().to_base64());
    assert_eq!(result["remoteAddress"], alternatives[1]);
    let remote = remotes.recv().await.unwrap();
    let js_key = Keypair::from_seed(&JS_CLIENT_SEED).public();
    assert!(remote.starts_with("net:"), "{remote}");
    assert!(
        remote.ends_with(&format!("~shs:{}", js_key.to_base64())),
        "{remote}"
    );
}
