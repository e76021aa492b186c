//! The `mem` transport passes the conformance suite, bare and naming its peers itself
//! ([`MemTransport::with_identity`]); a fixture whose transport names the wrong peer fails
//! `names_the_peer`.

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use futures_util::FutureExt;

use ms_core::{MultiServer, PeerKey, Stack};
use ms_testkit::{Fault, Fixture, MemNetwork, MemTransport};

/// One network for every check, as a machine has one port space.
fn network() -> MemNetwork {
    static NETWORK: OnceLock<MemNetwork> = OnceLock::new();
    NETWORK.get_or_init(MemNetwork::new).clone()
}

fn fixture() -> Fixture {
    let network = network();
    let node = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
    with_addresses(Fixture::new(node.clone(), node, String::new()), &network)
}

fn with_addresses(mut f: Fixture, network: &MemNetwork) -> Fixture {
    let dead = format!("mem:{}", network.unused_port());
    let hole = network.unused_port();
    network.set_fault(hole, Fault::BlackHole);
    f.dead_address = dead;
    f.black_hole = Some(format!("mem:{hole}"));
    f.bad_addresses = vec![
        "mem:".into(),
        "mem:0".into(),
        "mem:x".into(),
        "mem:1:2".into(),
        "mem:1~shs:x".into(),
    ];
    f
}

fn key(n: u8) -> PeerKey {
    PeerKey::other("mem-test", vec![n; 8])
}

/// A server known as `server_key` and a client known as `client_key`, at the transport level.
fn named(server_key: PeerKey, client_key: PeerKey) -> Fixture {
    let network = network();
    let server = MultiServer::new([Stack::new(
        MemTransport::new(&network).with_identity(server_key),
    )])
    .unwrap();
    let client = MultiServer::new([Stack::new(
        MemTransport::new(&network).with_identity(client_key),
    )])
    .unwrap();
    with_addresses(Fixture::new(server, client, String::new()), &network)
}

fn identity_fixture() -> Fixture {
    named(key(1), key(2)).expect_identities(Some(key(2)), Some(key(1)))
}

ms_testkit::conformance!(fixture);
ms_testkit::conformance!(with_identity, identity_fixture);

/// Runs `names_the_peer` on `make` and returns its panic message, or `None` if it passed.
async fn names_the_peer_fails(make: fn() -> Fixture) -> Option<String> {
    let run = AssertUnwindSafe(ms_testkit::suite::names_the_peer(&make)).catch_unwind();
    match run.await {
        Ok(()) => None,
        Err(payload) => Some(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_naming_the_wrong_server_fails_the_check() {
    // The server's transport says it is key 3; the fixture says the client must see key 1.
    let lying = || named(key(3), key(2)).expect_identities(Some(key(2)), Some(key(1)));
    let message = names_the_peer_fails(lying).await.expect("the check passed");
    assert!(message.contains("who the server is"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_naming_the_wrong_client_fails_the_check() {
    let lying = || named(key(1), key(3)).expect_identities(Some(key(2)), Some(key(1)));
    let message = names_the_peer_fails(lying).await.expect("the check passed");
    assert!(message.contains("who the client is"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_the_fixture_does_not_declare_fails_the_check() {
    // By default a fixture expects nobody to be named.
    let undeclared = || named(key(1), key(2));
    let message = names_the_peer_fails(undeclared)
        .await
        .expect("the check passed");
    assert!(message.contains("nobody"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_identity_the_transport_does_not_give_fails_the_check() {
    let bare_but_declared = || fixture().expect_identities(Some(key(2)), None);
    let message = names_the_peer_fails(bare_but_declared)
        .await
        .expect("the check passed");
    assert!(message.contains("who the client is"), "{message}");
}
