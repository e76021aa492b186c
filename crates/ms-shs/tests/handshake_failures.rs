//! Every way a handshake can fail gives its own typed error, and no tampered byte goes unnoticed.

#![allow(clippy::unwrap_used)] // tests unwrap freely

mod common;

use common::*;
use ms_shs::handshake::{
    ClientAwaitingAccept, ClientHandshake, EphemeralKey, ServerAwaitingAuth, ServerHandshake,
};
use ms_shs::{HandshakeError, Keypair, NetworkKey, PublicKey, Role};

fn first_vector() -> (Inputs, Messages) {
    let all = vectors();
    let v = &all["handshake_vectors"][0];
    (inputs(v), messages(v))
}

fn client(i: &Inputs) -> ClientHandshake {
    ClientHandshake::new(
        i.net,
        i.client.clone(),
        i.server.public(),
        EphemeralKey::from_seed(&i.client_eph),
    )
    .unwrap()
    .0
}

fn server(i: &Inputs) -> ServerHandshake {
    ServerHandshake::new(
        i.net,
        i.server.clone(),
        EphemeralKey::from_seed(&i.server_eph),
    )
}

fn client_after_msg3(i: &Inputs, m2: &[u8; 64]) -> ClientAwaitingAccept {
    client(i).read_server_hello(m2).unwrap().0
}

fn server_after_msg2(i: &Inputs, m1: &[u8; 64]) -> ServerAwaitingAuth {
    server(i).read_client_hello(m1).unwrap().0
}

#[test]
fn rejects_client_with_wrong_network_key() {
    let (i, (m1, ..)) = first_vector();
    let other_net = NetworkKey::from_bytes([9; 32]);
    let server = ServerHandshake::new(
        other_net,
        i.server.clone(),
        EphemeralKey::from_seed(&i.server_eph),
    );
    assert!(matches!(
        server.read_client_hello(&m1),
        Err(HandshakeError::InvalidChallenge { from: Role::Client })
    ));
}

#[test]
fn client_rejects_server_hello_with_wrong_network_key() {
    let (i, (_, m2, ..)) = first_vector();
    let c = ClientHandshake::new(
        NetworkKey::from_bytes([9; 32]),
        i.client.clone(),
        i.server.public(),
        EphemeralKey::from_seed(&i.client_eph),
    )
    .unwrap()
    .0;
    assert!(matches!(
        c.read_server_hello(&m2),
        Err(HandshakeError::InvalidChallenge { from: Role::Server })
    ));
}

#[test]
fn server_detects_client_dialling_a_different_key() {
    let (i, _) = first_vector();
    let impostor = Keypair::from_seed(&[42; 32]);
    // The client believes `impostor` is at this address, but the real server answers.
    let (c, m1) = ClientHandshake::new(
        i.net,
        i.client.clone(),
        impostor.public(),
        EphemeralKey::generate().unwrap(),
    )
    .unwrap();
    let (s, m2) = ServerHandshake::new(i.net, i.server.clone(), EphemeralKey::generate().unwrap())
        .read_client_hello(&m1)
        .unwrap();
    let (_, m3) = c.read_server_hello(&m2).unwrap();
    assert!(matches!(
        s.read_client_auth(&m3),
        Err(HandshakeError::ServerKeyMismatch)
    ));
}

#[test]
fn rejecting_authorization_is_its_own_error() {
    let (i, (m1, _, m3, _)) = first_vector();
    let pending = server_after_msg2(&i, &m1).read_client_auth(&m3).unwrap();
    assert_eq!(pending.client(), i.client.public());
    assert!(matches!(pending.reject(), HandshakeError::Rejected));
}

#[test]
fn rejects_low_order_ephemeral_key_from_client() {
    let all = vectors();
    let case = &all["negative_handshake_checks"][1];
    let msg1: [u8; 64] = arr(&case["msg1"]);
    let i = inputs(&all["handshake_vectors"][0]);
    assert!(matches!(
        server(&i).read_client_hello(&msg1),
        Err(HandshakeError::LowOrderPoint)
    ));
}

#[test]
fn rejects_low_order_ephemeral_keys_from_server() {
    let (i, _) = first_vector();
    // Small-order u-coordinates of Curve25519 (0, 1 and a point of order 8) with valid HMACs.
    let mut order8 = [0u8; 32];
    order8.copy_from_slice(&hex(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ));
    let mut one = [0u8; 32];
    one[0] = 1;
    for point in [[0u8; 32], one, order8] {
        let mut msg2 = [0u8; 64];
        msg2[..32].copy_from_slice(&hmac(i.net.as_bytes(), &point));
        msg2[32..].copy_from_slice(&point);
        assert!(matches!(
            client(&i).read_server_hello(&msg2),
            Err(HandshakeError::LowOrderPoint)
        ));
    }
}

#[test]
fn refuses_to_dial_an_invalid_server_key() {
    let (i, _) = first_vector();
    let mut identity = [0u8; 32];
    identity[0] = 1; // the neutral element: small order
    let result = ClientHandshake::new(
        i.net,
        i.client.clone(),
        PublicKey::from_bytes(identity),
        EphemeralKey::generate().unwrap(),
    );
    assert!(matches!(
        result,
        Err(HandshakeError::InvalidPublicKey {
            owner: Role::Server
        })
    ));
}

/// A tampered hello cannot be told from one made with another network key: either way the
/// failure is about the peer's bytes, not a hang-up, a timeout or our own decision.
fn is_about_the_peer(err: &HandshakeError) -> bool {
    use ms_core::{Classify, ErrorKind};
    matches!(
        err.kind(),
        ErrorKind::Incompatible | ErrorKind::PeerMisbehaved
    )
}

#[test]
fn every_tampered_byte_of_every_message_is_detected() {
    let (i, (m1, m2, m3, m4)) = first_vector();
    for pos in 0..64 {
        for bit in [0x01, 0x80] {
            let mut bad = m1;
            bad[pos] ^= bit;
            let err = server(&i)
                .read_client_hello(&bad)
                .err()
                .expect("tampered msg1 accepted");
            assert!(is_about_the_peer(&err), "msg1 byte {pos}: {err}");

            let mut bad = m2;
            bad[pos] ^= bit;
            let err = client(&i)
                .read_server_hello(&bad)
                .err()
                .expect("tampered msg2 accepted");
            assert!(is_about_the_peer(&err), "msg2 byte {pos}: {err}");
        }
    }
    for pos in 0..112 {
        let mut bad = m3;
        bad[pos] ^= 0x04;
        assert!(
            matches!(
                server_after_msg2(&i, &m1).read_client_auth(&bad),
                Err(HandshakeError::ServerKeyMismatch)
            ),
            "msg3 byte {pos}"
        );
    }
    for pos in 0..80 {
        let mut bad = m4;
        bad[pos] ^= 0x10;
        assert!(
            matches!(
                client_after_msg3(&i, &m2).read_server_accept(&bad),
                Err(HandshakeError::InvalidAccept)
            ),
            "msg4 byte {pos}"
        );
    }
}

fn hmac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    // HMAC-SHA-512 truncated to 32 bytes, to forge hellos with chosen (bad) keys.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes()[..32].try_into().unwrap()
}

#[test]
fn full_handshake_with_random_keys_agrees() {
    let (co, so) = handshake(
        NetworkKey::MAINNET,
        Keypair::generate().unwrap(),
        Keypair::generate().unwrap(),
    );
    assert_eq!(co.encryption_key(), so.decryption_key());
    assert_eq!(co.decryption_key(), so.encryption_key());
    assert_eq!(co.encryption_nonce(), so.decryption_nonce());
    assert_eq!(co.decryption_nonce(), so.encryption_nonce());
}
