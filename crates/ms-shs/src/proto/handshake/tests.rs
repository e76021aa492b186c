//! Checks the intermediate values of the JS-generated vectors (they are private to this module).
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::*;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../../tests/data/shs-vectors.json")).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(value: &Value) -> [u8; N] {
    hex(value.as_str().unwrap()).try_into().unwrap()
}

/// Runs one vector through both state machines, checking every intermediate it lists.
fn check_vector(v: &Value) {
    let name = v["name"].as_str().unwrap();
    let input = &v["inputs"];
    let mid = &v["intermediate"];
    let wire = &v["wire"];
    let net = NetworkKey::from_bytes(arr(&input["app_key"]));
    let server_keys = Keypair::from_libsodium_secret(&arr(&input["server_longterm_sk"])).unwrap();
    let client_keys =
        Keypair::from_libsodium_secret(&arr(&input["client_longterm_sk_used"])).unwrap();
    assert_eq!(
        server_keys.public().as_bytes(),
        &arr(&input["server_longterm_pk"]),
        "{name}"
    );
    assert_eq!(
        client_keys.public().as_bytes(),
        &arr(&input["client_longterm_pk_used"]),
        "{name}"
    );
    if let Some(seed) = input["invite_seed"].as_str() {
        let invite = Keypair::from_seed(&arr(&Value::from(seed)));
        assert_eq!(invite.public(), client_keys.public(), "{name}: invite seed");
    }

    let client_eph = EphemeralKey::from_seed(&arr(&input["client_ephemeral_seed"]));
    let server_eph = EphemeralKey::from_seed(&arr(&input["server_ephemeral_seed"]));
    assert_eq!(*client_eph.secret, arr(&mid["client_eph_sk"]), "{name}");
    assert_eq!(client_eph.public, arr(&mid["client_eph_pk"]), "{name}");
    assert_eq!(*server_eph.secret, arr(&mid["server_eph_sk"]), "{name}");
    assert_eq!(server_eph.public, arr(&mid["server_eph_pk"]), "{name}");
    if let Some(x) = mid.get("server_pk_as_curve25519") {
        assert_eq!(
            crypto::ed25519_public_to_x25519(server_keys.public().as_bytes()).unwrap(),
            arr(x)
        );
        let cx = &mid["client_pk_as_curve25519"];
        assert_eq!(
            crypto::ed25519_public_to_x25519(client_keys.public().as_bytes()).unwrap(),
            arr(cx)
        );
    }

    let (client, msg1) =
        ClientHandshake::new(net, client_keys.clone(), server_keys.public(), client_eph).unwrap();
    assert_eq!(msg1, arr(&wire["msg1"]), "{name}: msg1");
    let server = ServerHandshake::new(net, server_keys.clone(), server_eph);
    let (mut server, msg2) = server.read_client_hello(&msg1).unwrap();
    assert_eq!(msg2, arr(&wire["msg2"]), "{name}: msg2");
    assert!(
        server.secrets.is_none(),
        "message 2 needs no Diffie-Hellman"
    );
    server.precompute().unwrap();
    let (hellos, a_b) = server.secrets.as_ref().unwrap();
    assert_eq!(*hellos.shared_ab, arr(&mid["ab"]), "{name}: ab");
    assert_eq!(hellos.hash_ab, arr(&mid["sha256_ab"]), "{name}");
    assert_eq!(**a_b, arr(&mid["aB"]), "{name}: aB");

    let (client, msg3) = client.read_server_hello(&msg2).unwrap();
    assert_eq!(*client.hellos.shared_ab, arr(&mid["ab"]), "{name}: ab");
    assert_eq!(*client.shared_a_b, arr(&mid["aB"]), "{name}: aB");
    assert_eq!(client.client_signature, arr(&mid["sig_a"]), "{name}: sig_a");
    assert_eq!(
        *client_auth_key(&net, &client.hellos.shared_ab, &client.shared_a_b),
        arr(&mid["msg3_box_key"]),
        "{name}"
    );
    assert_eq!(msg3, arr(&wire["msg3"]), "{name}: msg3");

    let pending = server.read_client_auth(&msg3).unwrap();
    assert_eq!(pending.client(), client_keys.public(), "{name}");
    assert_eq!(*pending.shared_a_b, arr(&mid["aB"]), "{name}: aB");
    assert_eq!(*pending.shared_a_b_client, arr(&mid["Ab"]), "{name}: Ab");
    let accept_key = server_accept_key(
        &net,
        &pending.hellos.shared_ab,
        &pending.shared_a_b,
        &pending.shared_a_b_client,
    );
    assert_eq!(*accept_key, arr(&mid["msg4_box_key"]), "{name}");
    assert_eq!(
        crypto::sha256(&[&accept_key[..]]),
        arr(&mid["master"]),
        "{name}: master"
    );
    let (msg4, server_outcome) = pending.accept();
    assert_eq!(msg4, arr(&wire["msg4"]), "{name}: msg4");

    let client_outcome = client.read_server_accept(&msg4).unwrap();
    for (outcome, expected) in [
        (&client_outcome, &v["client_outcome"]),
        (&server_outcome, &v["server_outcome"]),
    ] {
        assert_eq!(
            outcome.encryption_key(),
            &arr(&expected["encryptKey"]),
            "{name}"
        );
        assert_eq!(
            outcome.encryption_nonce(),
            &arr(&expected["encryptNonce"]),
            "{name}"
        );
        assert_eq!(
            outcome.decryption_key(),
            &arr(&expected["decryptKey"]),
            "{name}"
        );
        assert_eq!(
            outcome.decryption_nonce(),
            &arr(&expected["decryptNonce"]),
            "{name}"
        );
        if let Some(remote) = expected.get("remote") {
            assert_eq!(outcome.remote().as_bytes(), &arr(remote), "{name}");
        }
    }
}

#[test]
fn every_handshake_vector_matches_including_intermediates() {
    let all = vectors();
    let list = all["handshake_vectors"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for v in list {
        check_vector(v);
    }
}

#[test]
fn signatures_cover_the_documented_payloads() {
    let all = vectors();
    let v = &all["handshake_vectors"][0];
    let net = NetworkKey::from_bytes(arr(&v["inputs"]["app_key"]));
    let server = PublicKey::from_bytes(arr(&v["inputs"]["server_longterm_pk"]));
    let client = PublicKey::from_bytes(arr(&v["inputs"]["client_longterm_pk_used"]));
    let hash_ab = arr(&v["intermediate"]["sha256_ab"]);
    let sig_a: [u8; 64] = arr(&v["intermediate"]["sig_a"]);
    let sig_b: [u8; 64] = arr(&v["intermediate"]["sig_b"]);
    assert!(crypto::verify(
        client.as_bytes(),
        &client_signed_payload(&net, &server, &hash_ab),
        &sig_a
    ));
    assert!(crypto::verify(
        server.as_bytes(),
        &server_signed_payload(&net, &sig_a, &client, &hash_ab),
        &sig_b
    ));
}

/// Re-boxes message 3 of vector 0 with a modified signature: it opens, but must not verify.
#[test]
fn rejects_forged_client_signature() {
    let all = vectors();
    let v = &all["handshake_vectors"][0];
    let key: [u8; 32] = arr(&v["intermediate"]["msg3_box_key"]);
    let msg3: [u8; 112] = arr(&v["wire"]["msg3"]);
    let mut plain: [u8; 96] = *SecretBox::new(&key).open(&ZERO_NONCE, &msg3).unwrap();
    plain[5] ^= 1;
    let forged: [u8; 112] = SecretBox::new(&key).seal(&ZERO_NONCE, &plain);

    let i = &v["inputs"];
    let server = ServerHandshake::new(
        NetworkKey::from_bytes(arr(&i["app_key"])),
        Keypair::from_libsodium_secret(&arr(&i["server_longterm_sk"])).unwrap(),
        EphemeralKey::from_seed(&arr(&i["server_ephemeral_seed"])),
    );
    let (server, _) = server.read_client_hello(&arr(&v["wire"]["msg1"])).unwrap();
    assert!(matches!(
        server.read_client_auth(&forged),
        Err(HandshakeError::BadSignature {
            signer: Role::Client
        })
    ));
}

/// Re-boxes message 4 of vector 0 with a modified signature.
#[test]
fn rejects_forged_server_signature() {
    let all = vectors();
    let v = &all["handshake_vectors"][0];
    let key: [u8; 32] = arr(&v["intermediate"]["msg4_box_key"]);
    let msg4: [u8; 80] = arr(&v["wire"]["msg4"]);
    let mut sig: [u8; 64] = *SecretBox::new(&key).open(&ZERO_NONCE, &msg4).unwrap();
    sig[40] ^= 1;
    let forged: [u8; 80] = SecretBox::new(&key).seal(&ZERO_NONCE, &sig);

    let i = &v["inputs"];
    let (client, _) = ClientHandshake::new(
        NetworkKey::from_bytes(arr(&i["app_key"])),
        Keypair::from_libsodium_secret(&arr(&i["client_longterm_sk_used"])).unwrap(),
        PublicKey::from_bytes(arr(&i["server_longterm_pk"])),
        EphemeralKey::from_seed(&arr(&i["client_ephemeral_seed"])),
    )
    .unwrap();
    let (client, _) = client.read_server_hello(&arr(&v["wire"]["msg2"])).unwrap();
    assert!(matches!(
        client.read_server_accept(&forged),
        Err(HandshakeError::BadSignature {
            signer: Role::Server
        })
    ));
}
