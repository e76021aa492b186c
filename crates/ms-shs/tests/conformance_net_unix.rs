//! `net~shs` and `unix~shs` pass the multiserver conformance suite.

#![allow(clippy::unwrap_used)] // tests unwrap freely

use ms_core::{MultiServer, Stack};
use ms_net::Net;
use ms_shs::{Keypair, Shs};
use ms_testkit::Fixture;
use ms_unix::Unix;

fn server_keys() -> Keypair {
    Keypair::from_seed(&[1; 32])
}

fn client_keys() -> Keypair {
    Keypair::from_seed(&[2; 32])
}

/// shs names both sides by their Ed25519 keys.
fn expect_keys(fixture: Fixture) -> Fixture {
    fixture.expect_identities(
        Some(client_keys().public().into()),
        Some(server_keys().public().into()),
    )
}

fn client() -> MultiServer {
    let shs = Shs::new(client_keys());
    MultiServer::new([
        Stack::new(Net::new()).with(shs.clone()),
        Stack::new(Unix::dial_only()).with(shs),
    ])
    .unwrap()
}

fn net_fixture() -> Fixture {
    let server = MultiServer::new([Stack::new(Net::new()).with(Shs::new(server_keys()))]).unwrap();
    // Connections are refused there while the tests run.
    let port = ms_testkit::refused_port(std::net::Ipv4Addr::LOCALHOST.into());
    let key = server_keys().public().to_base64();
    let mut fixture = expect_keys(Fixture::new(
        server,
        client(),
        format!("net:127.0.0.1:{port}~shs:{key}"),
    ));
    fixture.bad_addresses = vec![
        "net:127.0.0.1:1~shs:".to_owned(),
        "net:127.0.0.1:1~shs:AAAA".to_owned(),
        "net:127.0.0.1:1".to_owned(),
    ];
    fixture
}

fn unix_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let unix = Unix::in_directory(dir.path()).unwrap();
    let server = MultiServer::new([Stack::new(unix).with(Shs::new(server_keys()))]).unwrap();
    let key = server_keys().public().to_base64();
    let dead = format!("unix:{}/nothing-here~shs:{key}", dir.path().display());
    let mut fixture = expect_keys(Fixture::new(server, client(), dead));
    fixture.keep_alive.push(Box::new(dir));
    fixture
}

ms_testkit::conformance!(net_shs, net_fixture);
ms_testkit::conformance!(unix_shs, unix_fixture);
