//! Real secret-handshake failures, classified through `MultiServer::connect`'s error without
//! downcasting (`ms_core::Error::kind`).

#![allow(clippy::unwrap_used)] // tests unwrap freely

use std::time::Duration;

use ms_core::{Connection, Error, ErrorKind, MultiServer, Scope, Server, Stack};
use ms_shs::handshake::{EphemeralKey, ServerHandshake};
use ms_shs::{Keypair, NetworkKey, Shs};
use ms_testkit::{MemNetwork, MemTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(network: &MemNetwork, shs: Shs) -> MultiServer {
    MultiServer::new([Stack::new(MemTransport::new(network)).with(shs)]).unwrap()
}

/// A server with no transform: its connections are raw streams a test speaks on by hand.
async fn raw_server(network: &MemNetwork) -> (Server, String) {
    let node = MultiServer::new([Stack::new(MemTransport::new(network))]).unwrap();
    let server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    (server, address)
}

#[tokio::test]
async fn a_different_network_key_is_incompatible() {
    let network = MemNetwork::new();
    let server = MultiServer::new([Stack::new(MemTransport::new(&network)).with(
        Shs::new(Keypair::from_seed(&[1; 32])).network_key(NetworkKey::from_bytes([7; 32])),
    )])
    .unwrap();
    let listening = server.listen().await.unwrap();
    let address = listening.address(Scope::Device).to_string();
    let err = client(&network, Shs::new(Keypair::from_seed(&[2; 32])))
        .connect(&address)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    drop(listening);
}

#[tokio::test]
async fn an_unauthorized_client_is_rejected() {
    let network = MemNetwork::new();
    let server = MultiServer::new([Stack::new(MemTransport::new(&network))
        .with(Shs::new(Keypair::from_seed(&[1; 32])).authorize(|_| async { None }))])
    .unwrap();
    let listening = server.listen().await.unwrap();
    let address = listening.address(Scope::Device).to_string();
    let err = client(&network, Shs::new(Keypair::from_seed(&[2; 32])))
        .connect(&address)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    drop(listening);
}

#[tokio::test(start_paused = true)]
async fn the_handshake_timeout_is_a_timeout() {
    let network = MemNetwork::new();
    let (mut server, address) = raw_server(&network).await;
    let server_pk = Keypair::from_seed(&[1; 32]).public().to_base64();
    // The peer accepts the connection and never says a word.
    let silent = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(conn);
    });
    let shs = Shs::new(Keypair::from_seed(&[2; 32])).timeout(Duration::from_secs(5));
    let err = client(&network, shs)
        .connect(&format!("{address}~shs:{server_pk}"))
        .await
        .unwrap_err();
    // The transform's own 5 s deadline, not the node's 30 s one.
    assert!(matches!(err, Error::Transform { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_timeout());
    silent.abort();
}

/// A server that runs the real handshake and flips one bit of its accept message.
async fn tampering_server(mut conn: Connection, keys: Keypair) {
    let server = ServerHandshake::new(NetworkKey::MAINNET, keys, EphemeralKey::from_seed(&[5; 32]));
    let mut hello = [0; 64];
    conn.read_exact(&mut hello).await.unwrap();
    let (awaiting, reply) = server.read_client_hello(&hello).unwrap();
    conn.write_all(&reply).await.unwrap();
    let mut auth = [0; 112];
    conn.read_exact(&mut auth).await.unwrap();
    let (mut accept, _) = awaiting.read_client_auth(&auth).unwrap().accept();
    accept[40] ^= 0x10;
    conn.write_all(&accept).await.unwrap();
    conn.flush().await.unwrap();
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_tampered_accept_message_is_peer_misbehaviour() {
    let network = MemNetwork::new();
    let (mut server, address) = raw_server(&network).await;
    let keys = Keypair::from_seed(&[1; 32]);
    let server_pk = keys.public().to_base64();
    let peer = tokio::spawn(async move {
        let conn = server.accept().await.unwrap();
        tampering_server(conn, keys).await;
    });
    let err = client(&network, Shs::new(Keypair::from_seed(&[2; 32])))
        .connect(&format!("{address}~shs:{server_pk}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerMisbehaved, "{err}");
    peer.abort();
}
