//! The swarm over real stacks: net~shs on 127.0.0.1 and unix~noauth (routed by address).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use ms_core::{MultiServer, PublicKey, Stack};
use ms_noauth::Noauth;
use ms_stackswarm::StackSwarm;
use ms_swarm::{AskSwarm, SecureSwarm, Swarm};

#[tokio::test]
async fn net_shs_tells_and_asks_both_ways() {
    let a = Arc::new(net_swarm(1).await);
    let b = Arc::new(net_swarm(2).await);
    assert!(
        addr(&b).as_str().starts_with("net:127.0.0.1:"),
        "{}",
        addr(&b)
    );
    let _serve_a = echo_server(a.clone());
    let _serve_b = echo_server(b.clone());

    a.tell(&addr(&b), Bytes::from_static(b"hi")).await.unwrap();
    let got = b.receive().await.unwrap();
    assert_eq!(got.payload, Bytes::from_static(b"hi"));
    assert_eq!(b.lookup_public_key(&got.src).unwrap(), a.public_key());
    // The source is a's advertised (listening) address, not the ephemeral port it dialled from.
    assert_eq!(got.src, addr(&a));

    b.tell(&got.src, Bytes::from_static(b"back")).await.unwrap();
    assert_eq!(
        a.receive().await.unwrap().payload,
        Bytes::from_static(b"back")
    );
    assert_eq!(
        b.ask(&got.src, Bytes::from_static(b"q")).await.unwrap(),
        Bytes::from_static(b"re:q")
    );
    assert_eq!(
        a.ask(&addr(&b), Bytes::from_static(b"p")).await.unwrap(),
        Bytes::from_static(b"re:p")
    );
    assert_eq!(a.stats().connections_opened, 1);
    assert_eq!(b.stats().connections_opened, 1);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

fn unix_noauth(dir: &std::path::Path, name: &str, key: PublicKey) -> MultiServer {
    let unix = ms_unix::Unix::new(dir.join(name)).unwrap();
    MultiServer::new([Stack::new(unix).with(Noauth::new(key))]).unwrap()
}

#[tokio::test]
async fn unix_noauth_routes_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let (key_a, key_b) = (
        PublicKey::from_bytes([5; 32]),
        PublicKey::from_bytes([6; 32]),
    );
    let a = StackSwarm::builder(unix_noauth(dir.path(), "a.sock", key_a))
        .public_key(key_a)
        .bind()
        .await
        .unwrap();
    let b = StackSwarm::builder(unix_noauth(dir.path(), "b.sock", key_b))
        .public_key(key_b)
        .bind()
        .await
        .unwrap();
    assert!(addr(&b).as_str().ends_with("~noauth"), "{}", addr(&b));
    a.tell(&addr(&b), Bytes::from_static(b"hi")).await.unwrap();
    let got = b.receive().await.unwrap();
    // noauth reports every peer as this node (as the reference does), so the peer is routed by
    // address: the source is its advertised address, and replies use the same connection.
    assert_eq!(got.src, addr(&a));
    b.tell(&got.src, Bytes::from_static(b"back")).await.unwrap();
    assert_eq!(
        a.receive().await.unwrap().payload,
        Bytes::from_static(b"back")
    );
    assert_eq!(b.stats().connections_opened, 1);
    assert_eq!(a.stats().connections_opened, 1);
    // The key is the one the peer's HELLO claims: noauth authenticates nobody.
    assert_eq!(b.lookup_public_key(&got.src).unwrap(), key_a);
    assert!(matches!(
        a.lookup_public_key(&got.src),
        Err(ms_swarm::SwarmError::KeyUnknown { .. })
    ));
}

#[tokio::test]
async fn a_node_without_shs_needs_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = PublicKey::from_bytes([5; 32]);
    let err = StackSwarm::builder(unix_noauth(dir.path(), "c.sock", key))
        .bind()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ms_stackswarm::BuildError::NoPublicKey),
        "{err:?}"
    );
}
