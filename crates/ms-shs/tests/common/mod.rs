#![allow(clippy::unwrap_used)]
//! Helpers shared by the integration tests: the vector file and hex.
#![allow(dead_code)]

use ms_shs::handshake::{ClientHandshake, EphemeralKey, HandshakeOutcome, ServerHandshake};
use ms_shs::{Keypair, NetworkKey, PublicKey};
use serde_json::Value;

pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../data/shs-vectors.json")).unwrap()
}

pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2));
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

pub fn arr<const N: usize>(value: &Value) -> [u8; N] {
    hex(value.as_str().unwrap()).try_into().unwrap()
}

/// The inputs of a handshake vector as typed values.
pub struct Inputs {
    pub net: NetworkKey,
    pub server: Keypair,
    pub client: Keypair,
    pub client_eph: [u8; 32],
    pub server_eph: [u8; 32],
}

pub fn inputs(v: &Value) -> Inputs {
    let i = &v["inputs"];
    Inputs {
        net: NetworkKey::from_bytes(arr(&i["app_key"])),
        server: Keypair::from_libsodium_secret(&arr(&i["server_longterm_sk"])).unwrap(),
        client: Keypair::from_libsodium_secret(&arr(&i["client_longterm_sk_used"])).unwrap(),
        client_eph: arr(&i["client_ephemeral_seed"]),
        server_eph: arr(&i["server_ephemeral_seed"]),
    }
}

/// The four handshake messages, in order.
pub type Messages = ([u8; 64], [u8; 64], [u8; 112], [u8; 80]);

/// The four messages of a vector.
pub fn messages(v: &Value) -> Messages {
    let w = &v["wire"];
    (
        arr(&w["msg1"]),
        arr(&w["msg2"]),
        arr(&w["msg3"]),
        arr(&w["msg4"]),
    )
}

/// Runs a complete in-memory handshake with random ephemeral keys.
pub fn handshake(
    net: NetworkKey,
    client: Keypair,
    server: Keypair,
) -> (HandshakeOutcome, HandshakeOutcome) {
    let server_pk: PublicKey = server.public();
    let (c, m1) =
        ClientHandshake::new(net, client, server_pk, EphemeralKey::generate().unwrap()).unwrap();
    let s = ServerHandshake::new(net, server, EphemeralKey::generate().unwrap());
    let (s, m2) = s.read_client_hello(&m1).unwrap();
    let (c, m3) = c.read_server_hello(&m2).unwrap();
    let (m4, so) = s.read_client_auth(&m3).unwrap().accept();
    let co = c.read_server_accept(&m4).unwrap();
    (co, so)
}
