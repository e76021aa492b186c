//! The server side of the secret handshake against an untrusted client.
//!
//! The server's keys are fixed (the `mainnet-appkey-basic` vector's, so the vector's msg1/msg3
//! are a valid raw input). Input: `[mode][mode data…]`, mode (low 2 bits):
//!
//! - 0, raw: `[msg1 64][msg3 112][decision]`;
//! - 1, honest client: a real `ClientHandshake` (long-term and ephemeral seeds from the input)
//!   makes msg1 and msg3; msg3 is XORed with a 112-byte mask from the input. The server must
//!   accept exactly when the mask is zero, and both sides must then derive matching sessions;
//! - 2, crafted hello: msg1 carries an arbitrary ephemeral key with a valid HMAC (so the server
//!   does the Diffie-Hellman with it); it must fail with `LowOrderPoint` exactly when the
//!   shared secret is zero; msg3 arbitrary;
//! - 3, malicious client: knows its ephemeral secret, so it can box any 96 bytes as msg3: either
//!   arbitrary `signature ‖ public key`, or an honest signature by a key from the input XORed
//!   with a mask. The server's verdict (ok / `BadSignature` / `InvalidPublicKey` /
//!   `LowOrderPoint`) must match the spec (`multiserver_fuzz::spec`), and msg4 and the session
//!   keys must be what the spec derives.
//!
//! Bit 2 of the mode byte makes both sides call the optional `precompute` steps (as the async
//! handshake does) before reading the next message; after an accepted message they must succeed
//! (low-order keys are refused when read), and the outcome must not change.
//!
//! Never a panic; errors are expected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_shs::handshake::{ClientHandshake, EphemeralKey, HandshakeOutcome, ServerHandshake};
use ms_shs::{HandshakeError, Keypair, NetworkKey, Role};
use multiserver_fuzz::fixtures::{NETWORK_KEY, SERVER_EPH_SEED, SERVER_SEED};
use multiserver_fuzz::{Input, spec, xor_in};

fn server() -> ServerHandshake {
    ServerHandshake::new(
        NetworkKey::from_bytes(NETWORK_KEY),
        Keypair::from_seed(&SERVER_SEED),
        EphemeralKey::from_seed(&SERVER_EPH_SEED),
    )
}

fn same_session(client: &HandshakeOutcome, server: &HandshakeOutcome) {
    assert_eq!(client.encryption_key(), server.decryption_key());
    assert_eq!(client.encryption_nonce(), server.decryption_nonce());
    assert_eq!(client.decryption_key(), server.encryption_key());
    assert_eq!(client.decryption_nonce(), server.encryption_nonce());
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let server_pk = spec::ed_public(&SERVER_SEED);
    let mode = input.byte();
    let pre = mode & 4 != 0;
    match mode % 4 {
        0 => {
            let msg1: [u8; 64] = input.array();
            let msg3: [u8; 112] = input.array();
            let Ok((mut state, msg2)) = server().read_client_hello(&msg1) else {
                return;
            };
            if pre {
                state.precompute().expect("an accepted hello precomputes");
            }
            let eph_pk = spec::x25519_base(&spec::seed_to_x25519(&SERVER_EPH_SEED));
            assert_eq!(msg2, spec::hello(&NETWORK_KEY, &eph_pk));
            if let Ok(pending) = state.read_client_auth(&msg3) {
                let _ = pending.client();
                if input.byte() & 1 == 1 {
                    assert!(matches!(pending.reject(), HandshakeError::Rejected));
                } else {
                    let (_msg4, outcome) = pending.accept();
                    let _ = outcome.into_codecs();
                }
            }
        }
        1 => {
            let client_keys = Keypair::from_seed(&input.array());
            let client_pk = client_keys.public();
            let eph = EphemeralKey::from_seed(&input.array());
            let mask: [u8; 112] = input.array();
            let reject = input.byte() & 1 == 1;
            let (mut client, msg1) = ClientHandshake::new(
                NetworkKey::from_bytes(NETWORK_KEY),
                client_keys,
                server_pk.into(),
                eph,
            )
            .expect("the server key is valid");
            let (mut state, msg2) = server()
                .read_client_hello(&msg1)
                .expect("an honest hello is accepted");
            if pre {
                client.precompute().expect("the client precomputes");
                state.precompute().expect("the server precomputes");
            }
            let (mut client, mut msg3) = client
                .read_server_hello(&msg2)
                .expect("the client accepts the server's hello");
            if pre {
                client.precompute().expect("the client precomputes");
            }
            let tampered = xor_in(&mut msg3, &mask);
            match state.read_client_auth(&msg3) {
                Ok(pending) => {
                    assert!(!tampered, "a tampered msg3 was accepted");
                    assert_eq!(pending.client(), client_pk);
                    if reject {
                        assert!(matches!(pending.reject(), HandshakeError::Rejected));
                        return;
                    }
                    let (msg4, server_session) = pending.accept();
                    let client_session = client
                        .read_server_accept(&msg4)
                        .expect("the client accepts an honest msg4");
                    assert_eq!(client_session.remote().as_bytes(), &server_pk);
                    assert_eq!(server_session.remote(), client_pk);
                    same_session(&client_session, &server_session);
                }
                Err(e) => {
                    assert!(tampered, "an honest msg3 was refused: {e}");
                    // What `is_peer_misbehaviour` used to cover: a check the peer's bytes failed.
                    assert!(matches!(
                        ms_core::Classify::kind(&e),
                        ms_core::ErrorKind::PeerMisbehaved | ms_core::ErrorKind::Incompatible
                    ));
                }
            }
        }
        2 => {
            let eph_pk: [u8; 32] = input.array();
            let msg1 = spec::hello(&NETWORK_KEY, &eph_pk);
            let msg3: [u8; 112] = input.array();
            let zero = spec::x25519(&spec::seed_to_x25519(&SERVER_EPH_SEED), &eph_pk) == [0; 32];
            match server().read_client_hello(&msg1) {
                Ok((mut state, _msg2)) => {
                    assert!(!zero, "a low-order ephemeral key was accepted");
                    if pre {
                        state.precompute().expect("an accepted hello precomputes");
                    }
                    let _ = state.read_client_auth(&msg3);
                }
                Err(e) => {
                    assert!(zero, "a valid hello was refused: {e}");
                    assert!(matches!(e, HandshakeError::LowOrderPoint), "{e}");
                }
            }
        }
        _ => malicious_client(&mut input, &server_pk, pre),
    }
});

fn malicious_client(input: &mut Input<'_>, server_pk: &[u8; 32], pre: bool) {
    let net = &NETWORK_KEY;
    let eph_sk = spec::seed_to_x25519(&input.array());
    let eph_pk = spec::x25519_base(&eph_sk);
    let msg1 = spec::hello(net, &eph_pk);
    let (mut state, msg2) = server()
        .read_client_hello(&msg1)
        .expect("a hello with a prime-order key is accepted");
    if pre {
        state.precompute().expect("an accepted hello precomputes");
    }
    assert_eq!(&msg2[..32], &spec::auth(net, &msg2[32..]));
    let server_eph_pk: [u8; 32] = msg2[32..].try_into().expect("32 bytes");

    let ab = spec::x25519(&eph_sk, &server_eph_pk);
    let server_x = spec::ed_to_x25519(server_pk).expect("the server key converts");
    let a_b = spec::x25519(&eph_sk, &server_x);
    let hash_ab = spec::sha256(&[&ab]);
    let payload = spec::client_payload(net, server_pk, &hash_ab);

    let mut plain = [0u8; 96];
    let mut honest = false;
    if input.byte() & 1 == 0 {
        plain = input.array();
    } else {
        let seed: [u8; 32] = input.array();
        plain[..64].copy_from_slice(&spec::sign(&seed, &payload));
        plain[64..].copy_from_slice(&spec::ed_public(&seed));
        let mask: [u8; 96] = input.array();
        honest = !xor_in(&mut plain, &mask);
    }
    let sig_a: [u8; 64] = plain[..64].try_into().expect("64 bytes");
    let client_pk: [u8; 32] = plain[64..].try_into().expect("32 bytes");
    let key3 = spec::sha256(&[net, &ab, &a_b]);
    let msg3: [u8; 112] = spec::seal(&key3, &[0; 24], &plain)
        .try_into()
        .expect("112 bytes");

    // What the spec says the server must conclude.
    let server_eph_sk = spec::seed_to_x25519(&SERVER_EPH_SEED);
    let expected: Result<[u8; 32], HandshakeError> = if !spec::verify(&client_pk, &payload, &sig_a)
    {
        Err(HandshakeError::BadSignature {
            signer: Role::Client,
        })
    } else {
        match spec::ed_to_x25519(&client_pk) {
            None => Err(HandshakeError::InvalidPublicKey {
                owner: Role::Client,
            }),
            Some(client_x) => {
                let a_b_client = spec::x25519(&server_eph_sk, &client_x);
                if a_b_client == [0; 32] {
                    Err(HandshakeError::LowOrderPoint)
                } else {
                    Ok(a_b_client)
                }
            }
        }
    };
    if honest {
        assert!(expected.is_ok(), "the spec refuses an honest msg3");
    }

    match (state.read_client_auth(&msg3), expected) {
        (Ok(pending), Ok(a_b_client)) => {
            assert_eq!(pending.client().as_bytes(), &client_pk);
            let (msg4, session) = pending.accept();
            let key4 = spec::sha256(&[net, &ab, &a_b, &a_b_client]);
            let sig_b: [u8; 64] = spec::open(&key4, &[0; 24], &msg4)
                .expect("msg4 opens with the spec's key")
                .try_into()
                .expect("64 bytes");
            let server_payload = spec::server_payload(net, &sig_a, &client_pk, &hash_ab);
            assert!(spec::verify(server_pk, &server_payload, &sig_b));
            assert_eq!(
                session.encryption_key(),
                &spec::stream_key(&key4, &client_pk)
            );
            assert_eq!(
                session.decryption_key(),
                &spec::stream_key(&key4, server_pk)
            );
            assert_eq!(&session.encryption_nonce()[..], &msg1[..24]);
            assert_eq!(&session.decryption_nonce()[..], &msg2[..24]);
        }
        (Err(got), Err(want)) => {
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "the server refused msg3 for another reason than the spec"
            );
        }
        (Ok(_), Err(want)) => panic!("the server accepted a msg3 the spec refuses ({want})"),
        (Err(got), Ok(_)) => panic!("the server refused a msg3 the spec accepts: {got}"),
    }
}
