//! `mem~shs` passes the multiserver conformance suite, and the transform behaves like the JS
//! plugin at the node level (addresses, identities, auth values, invites).

#![allow(clippy::unwrap_used)] // tests unwrap freely

use ms_core::{AuthValue, MultiServer, Scope, Stack};
use ms_shs::{Keypair, NetworkKey, Shs};
use ms_testkit::{Fixture, MemNetwork, MemTransport};

/// One network for every fixture, so servers built by different fixtures get different ports.
fn shared_network() -> MemNetwork {
    static NETWORK: std::sync::OnceLock<MemNetwork> = std::sync::OnceLock::new();
    NETWORK.get_or_init(MemNetwork::new).clone()
}

fn fixture() -> Fixture {
    let network = shared_network();
    let server_keys = Keypair::from_seed(&[1; 32]);
    let server_pk = server_keys.public().to_base64();
    let server =
        MultiServer::new([Stack::new(MemTransport::new(&network)).with(Shs::new(server_keys))])
            .unwrap();
    let client = MultiServer::new([
        Stack::new(MemTransport::new(&network)).with(Shs::new(Keypair::from_seed(&[2; 32])))
    ])
    .unwrap();
    let dead = format!("mem:{}~shs:{server_pk}", network.unused_port());
    // shs names both sides by their Ed25519 keys.
    let mut fixture = Fixture::new(server, client, dead).expect_identities(
        Some(Keypair::from_seed(&[2; 32]).public().into()),
        Some(Keypair::from_seed(&[1; 32]).public().into()),
    );
    fixture.bad_addresses = vec![
        "mem:1~shs:".to_owned(),
        "mem:1~shs:AAAA".to_owned(),
        format!("mem:1~shs:{server_pk}:notaseed"),
    ];
    fixture
}

ms_testkit::conformance!(fixture);

#[tokio::test]
async fn connection_carries_keys_addresses_and_auth_value() {
    let network = MemNetwork::new();
    let server_keys = Keypair::from_seed(&[1; 32]);
    let client_keys = Keypair::from_seed(&[2; 32]);
    let server_pk = server_keys.public();
    let client_pk = client_keys.public();
    let shs = Shs::new(server_keys).authorize(move |client| async move {
        (client == client_pk).then(|| AuthValue::new("friend"))
    });
    let server = MultiServer::new([Stack::new(MemTransport::new(&network)).with(shs)]).unwrap();
    let client =
        MultiServer::new([Stack::new(MemTransport::new(&network)).with(Shs::new(client_keys))])
            .unwrap();
    let mut listening = server.listen().await.unwrap();
    let address = listening.address(Scope::Device).to_string();
    assert!(
        address.ends_with(&format!("~shs:{}", server_pk.to_base64())),
        "{address}"
    );

    let accept = tokio::spawn(async move { listening.accept().await.unwrap() });
    let outbound = client.connect(&address).await.unwrap();
    let inbound = accept.await.unwrap();

    assert_eq!(outbound.remote_ed25519(), Some(&server_pk));
    assert!(outbound.auth().is_none());
    assert_eq!(inbound.remote_ed25519(), Some(&client_pk));
    assert_eq!(
        inbound.auth().unwrap().downcast_ref::<&str>(),
        Some(&"friend")
    );
    assert!(
        inbound
            .remote_address()
            .to_string()
            .ends_with(&format!("~shs:{}", client_pk.to_base64()))
    );
}

#[tokio::test]
async fn invite_seed_authenticates_as_the_seed_key() {
    let network = MemNetwork::new();
    let server_keys = Keypair::from_seed(&[1; 32]);
    let invite = Keypair::from_seed(&[9; 32]);
    let invite_pk = invite.public();
    let net = NetworkKey::from_bytes([3; 32]);
    let shs = Shs::new(server_keys.clone())
        .network_key(net)
        .authorize(move |client| async move { (client == invite_pk).then(|| AuthValue::new(())) });
    let server = MultiServer::new([Stack::new(MemTransport::new(&network)).with(shs)]).unwrap();
    let client = MultiServer::new([Stack::new(MemTransport::new(&network))
        .with(Shs::new(Keypair::from_seed(&[2; 32])).network_key(net))])
    .unwrap();
    let mut listening = server.listen().await.unwrap();
    let address = format!(
        "{}:{}",
        listening.address(Scope::Device),
        base64_std(&[9; 32])
    );
    let accept = tokio::spawn(async move { listening.accept().await.unwrap() });
    client.connect(&address).await.unwrap();
    let inbound = accept.await.unwrap();
    assert_eq!(inbound.remote_ed25519(), Some(&invite_pk));
}

#[tokio::test]
async fn unauthorized_client_is_refused() {
    let network = MemNetwork::new();
    let server = MultiServer::new([Stack::new(MemTransport::new(&network))
        .with(Shs::new(Keypair::from_seed(&[1; 32])).authorize(|_| async { None }))])
    .unwrap();
    let client = MultiServer::new([
        Stack::new(MemTransport::new(&network)).with(Shs::new(Keypair::from_seed(&[2; 32])))
    ])
    .unwrap();
    let listening = server.listen().await.unwrap();
    let address = listening.address(Scope::Device).to_string();
    let err = client.connect(&address).await.unwrap_err();
    let text = format!("{err:?} {err}");
    assert!(
        text.contains("hung up") || text.contains("HungUp"),
        "{text}"
    );
    drop(listening);
}

fn base64_std(bytes: &[u8]) -> String {
    ms_shs::PublicKey::from_bytes(bytes.try_into().unwrap()).to_base64()
}
