//! The JS-generated vectors through the public API: handshake messages, session keys and the
//! complete box-stream wire bytes that followed.

#![allow(clippy::unwrap_used)] // tests unwrap freely

mod common;

use common::*;
use ms_shs::Keypair;
use ms_shs::boxstream::{Decoder, Encoder, HEADER_LEN};
use ms_shs::handshake::{ClientHandshake, EphemeralKey, ServerHandshake};

#[test]
fn handshake_vectors_produce_the_js_wire_bytes() {
    let all = vectors();
    for v in all["handshake_vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let i = inputs(v);
        let (m1, m2, m3, m4) = messages(v);
        let (client, msg1) = ClientHandshake::new(
            i.net,
            i.client.clone(),
            i.server.public(),
            EphemeralKey::from_seed(&i.client_eph),
        )
        .unwrap();
        assert_eq!(msg1, m1, "{name}");
        let server = ServerHandshake::new(
            i.net,
            i.server.clone(),
            EphemeralKey::from_seed(&i.server_eph),
        );
        let (server, msg2) = server.read_client_hello(&msg1).unwrap();
        assert_eq!(msg2, m2, "{name}");
        let (client, msg3) = client.read_server_hello(&msg2).unwrap();
        assert_eq!(msg3, m3, "{name}");
        let pending = server.read_client_auth(&msg3).unwrap();
        if let Some(called) = v.get("server_authorize_called_with") {
            assert_eq!(pending.client().as_bytes(), &arr(called), "{name}");
        }
        let (msg4, server_outcome) = pending.accept();
        assert_eq!(msg4, m4, "{name}");
        let client_outcome = client.read_server_accept(&msg4).unwrap();
        assert_eq!(
            client_outcome.encryption_key(),
            &arr(&v["client_outcome"]["encryptKey"])
        );
        assert_eq!(
            server_outcome.encryption_key(),
            &arr(&v["server_outcome"]["encryptKey"])
        );
    }
}

#[test]
fn invite_seed_vector_authenticates_as_the_seed_key() {
    let all = vectors();
    let v = &all["handshake_vectors"][1];
    let i = inputs(v);
    let invite = Keypair::from_seed(&arr(&v["inputs"]["invite_seed"]));
    assert_eq!(invite.public(), i.client.public());
    assert_ne!(
        Keypair::from_seed(&arr(&v["inputs"]["client_longterm_seed_configured"])).public(),
        invite.public()
    );
}

/// Plays the JS side's writes through our encoder and compares with the captured wire bytes;
/// then decodes the capture and compares with what the JS reader received.
#[test]
fn boxstream_after_handshake_matches_js_wire_bytes() {
    let all = vectors();
    for v in all["handshake_vectors"].as_array().unwrap() {
        let Some(bs) = v.get("boxstream_after_handshake") else {
            continue;
        };
        let name = v["name"].as_str().unwrap();
        let c2s_writes: Vec<Vec<u8>> = match bs["c2s_plaintexts"].as_array() {
            Some(list) => list.iter().map(|x| hex(x.as_str().unwrap())).collect(),
            // Described instead of listed: 'hello' and 4100 x 'x'.
            None => vec![b"hello".to_vec(), vec![b'x'; 4100]],
        };
        let s2c_writes: Vec<Vec<u8>> = bs["s2c_plaintexts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| hex(x.as_str().unwrap()))
            .collect();

        for (dir, writes, key, nonce, wire_field, received_field) in [
            (
                "c2s",
                &c2s_writes,
                "client_outcome",
                "client_outcome",
                "c2s_wire",
                "c2s_received_chunks",
            ),
            (
                "s2c",
                &s2c_writes,
                "server_outcome",
                "server_outcome",
                "s2c_wire",
                "s2c_received_chunks",
            ),
        ] {
            let mut encoder =
                Encoder::new(&arr(&v[key]["encryptKey"]), arr(&v[nonce]["encryptNonce"]));
            let mut wire = Vec::new();
            for w in writes {
                encoder.encode(w, &mut wire);
            }
            encoder.encode_goodbye(&mut wire);
            let expected = hex(bs[wire_field].as_str().unwrap());
            assert_eq!(wire, expected, "{name} {dir}");

            // The receiver is the other side: its decrypt key/nonce equal our encrypt ones.
            let other = if key == "client_outcome" {
                "server_outcome"
            } else {
                "client_outcome"
            };
            let mut decoder = Decoder::new(
                &arr(&v[other]["decryptKey"]),
                arr(&v[other]["decryptNonce"]),
            );
            let mut plain = Vec::new();
            let progress = decoder.decode(&expected, &mut plain).unwrap();
            assert!(progress.goodbye, "{name} {dir}");
            assert_eq!(progress.consumed, expected.len());
            let received: Vec<u8> = bs[received_field]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|c| {
                    let s = c.as_str().unwrap();
                    // "<4096 bytes of 0x78>" is a description, not hex.
                    if s.starts_with('<') {
                        vec![b'x'; 4096]
                    } else {
                        hex(s)
                    }
                })
                .collect();
            assert_eq!(plain, received, "{name} {dir}");
        }
    }
}

#[test]
fn nonce_carry_vector() {
    let all = vectors();
    let v = &all["boxstream_vectors"][0];
    let key = arr(&v["key"]);
    let nonce = arr(&v["initial_nonce"]);
    let mut encoder = Encoder::new(&key, nonce);
    let mut wire = Vec::new();
    let mut boundaries = Vec::new();
    for chunk in v["plaintext_chunks_written"].as_array().unwrap() {
        let before = wire.len();
        encoder.encode(&hex(chunk.as_str().unwrap()), &mut wire);
        if wire.len() > before {
            boundaries.push(before + HEADER_LEN);
            boundaries.push(wire.len());
        }
    }
    boundaries.push(wire.len() + HEADER_LEN);
    encoder.encode_goodbye(&mut wire);
    assert_eq!(wire, hex(v["wire"].as_str().unwrap()));

    // The JS emitted header and body as separate chunks; same boundaries.
    let mut start = 0;
    let emitted = v["emitted_wire_chunks"].as_array().unwrap();
    assert_eq!(emitted.len(), boundaries.len());
    for (chunk, end) in emitted.iter().zip(boundaries) {
        assert_eq!(&wire[start..end], hex(chunk.as_str().unwrap()).as_slice());
        start = end;
    }
    let nonces = v["nonces_used"].as_array().unwrap();
    assert_eq!(encoder.nonce(), &{
        let mut last: [u8; 24] = arr(&nonces.last().unwrap()["nonce"]);
        // The encoder has moved past the goodbye's nonce by two.
        let n = u64::from_be_bytes(last[16..].try_into().unwrap()) + 2;
        last[16..].copy_from_slice(&n.to_be_bytes());
        last
    });

    let mut decoder = Decoder::new(&key, nonce);
    let mut plain = Vec::new();
    decoder.decode(&wire, &mut plain).unwrap();
    let expected: Vec<u8> = v["decoded_chunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| hex(c.as_str().unwrap()))
        .collect();
    assert_eq!(plain, expected);
}
