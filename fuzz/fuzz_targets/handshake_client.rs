//! The client side of the secret handshake against an untrusted server.
//!
//! The client's keys and the server key it dials are fixed (the `mainnet-appkey-basic`
//! vector's, so the vector's msg2/msg4 are a valid raw input). Input: `[mode][mode data…]`,
//! mode (low 2 bits):
//!
//! - 0, raw: `[msg2 64][msg4 80]`;
//! - 1, honest server: a real `ServerHandshake` (ephemeral seed from the input) answers; its
//!   msg4 is XORed with an 80-byte mask from the input. The client must accept exactly when the
//!   mask is zero, and both sides must then derive matching sessions;
//! - 2, crafted hello: msg2 carries an arbitrary ephemeral key with a valid HMAC; the client
//!   must fail with `LowOrderPoint` exactly when the shared secret is zero; msg4 arbitrary;
//! - 3, malicious server: holds the server's long-term secret and its own ephemeral secret, so
//!   it can open msg3 (which must open, with a valid client signature, under the spec's key)
//!   and box any 64 bytes as msg4: arbitrary, or an honest signature XORed with a mask, or an
//!   unboxed arbitrary msg4. The client's verdict must match the spec, and on success its
//!   session keys must be what the spec derives.
//!
//! Bit 2 of the mode byte makes the client (and the honest server) call the optional
//! `precompute` steps before reading the next message, as the async handshake does; after an
//! accepted message they must succeed, and the outcome must not change.
//!
//! Never a panic; errors are expected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_shs::handshake::{ClientAwaitingAccept, ClientHandshake, EphemeralKey, ServerHandshake};
use ms_shs::{HandshakeError, Keypair, NetworkKey, Role};
use multiserver_fuzz::fixtures::{CLIENT_EPH_SEED, CLIENT_SEED, NETWORK_KEY, SERVER_SEED};
use multiserver_fuzz::{Input, spec, xor_in};

fn client() -> (ClientHandshake, [u8; 64]) {
    ClientHandshake::new(
        NetworkKey::from_bytes(NETWORK_KEY),
        Keypair::from_seed(&CLIENT_SEED),
        spec::ed_public(&SERVER_SEED).into(),
        EphemeralKey::from_seed(&CLIENT_EPH_SEED),
    )
    .expect("the server key is valid")
}

/// The client state after message 1, with its optional precomputation done when `pre`.
fn client_precomputed(pre: bool) -> ClientHandshake {
    let (mut state, _msg1) = client();
    if pre {
        state.precompute().expect("the client precomputes");
    }
    state
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let server_pk = spec::ed_public(&SERVER_SEED);
    let client_pk = spec::ed_public(&CLIENT_SEED);
    let mode = input.byte();
    let pre = mode & 4 != 0;
    match mode % 4 {
        0 => {
            let msg2: [u8; 64] = input.array();
            let msg4: [u8; 80] = input.array();
            let state = client_precomputed(pre);
            let Ok((mut state, _msg3)) = state.read_server_hello(&msg2) else {
                return;
            };
            if pre {
                state.precompute().expect("an accepted hello precomputes");
            }
            if let Ok(session) = state.read_server_accept(&msg4) {
                assert_eq!(session.remote().as_bytes(), &server_pk);
                let _ = session.into_codecs();
            }
        }
        1 => {
            let server = ServerHandshake::new(
                NetworkKey::from_bytes(NETWORK_KEY),
                Keypair::from_seed(&SERVER_SEED),
                EphemeralKey::from_seed(&input.array()),
            );
            let mask: [u8; 80] = input.array();
            let (mut state, msg1) = client();
            let (mut server, msg2) = server
                .read_client_hello(&msg1)
                .expect("the server accepts an honest hello");
            if pre {
                state.precompute().expect("the client precomputes");
                server.precompute().expect("the server precomputes");
            }
            let (mut state, msg3) = state
                .read_server_hello(&msg2)
                .expect("the client accepts an honest hello");
            if pre {
                state.precompute().expect("the client precomputes");
            }
            let pending = server
                .read_client_auth(&msg3)
                .expect("the server accepts an honest msg3");
            assert_eq!(pending.client().as_bytes(), &client_pk);
            let (mut msg4, server_session) = pending.accept();
            let tampered = xor_in(&mut msg4, &mask);
            match state.read_server_accept(&msg4) {
                Ok(session) => {
                    assert!(!tampered, "a tampered msg4 was accepted");
                    assert_eq!(session.remote().as_bytes(), &server_pk);
                    assert_eq!(session.encryption_key(), server_session.decryption_key());
                    assert_eq!(
                        session.encryption_nonce(),
                        server_session.decryption_nonce()
                    );
                    assert_eq!(session.decryption_key(), server_session.encryption_key());
                    assert_eq!(
                        session.decryption_nonce(),
                        server_session.encryption_nonce()
                    );
                }
                Err(e) => {
                    assert!(tampered, "an honest msg4 was refused: {e}");
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
            let msg2 = spec::hello(&NETWORK_KEY, &eph_pk);
            let msg4: [u8; 80] = input.array();
            let zero = spec::x25519(&spec::seed_to_x25519(&CLIENT_EPH_SEED), &eph_pk) == [0; 32];
            let state = client_precomputed(pre);
            match state.read_server_hello(&msg2) {
                Ok((mut state, _msg3)) => {
                    assert!(!zero, "a low-order ephemeral key was accepted");
                    if pre {
                        state.precompute().expect("an accepted hello precomputes");
                    }
                    let _ = state.read_server_accept(&msg4);
                }
                Err(e) => {
                    assert!(zero, "a valid hello was refused: {e}");
                    assert!(matches!(e, HandshakeError::LowOrderPoint), "{e}");
                }
            }
        }
        _ => {
            let (mut state, msg1) = client();
            if pre {
                state.precompute().expect("the client precomputes");
            }
            malicious_server(&mut input, state, &msg1, &server_pk, &client_pk, pre);
        }
    }
});

fn malicious_server(
    input: &mut Input<'_>,
    state: ClientHandshake,
    msg1: &[u8; 64],
    server_pk: &[u8; 32],
    client_pk: &[u8; 32],
    pre: bool,
) {
    let net = &NETWORK_KEY;
    let eph_sk = spec::seed_to_x25519(&input.array());
    let eph_pk = spec::x25519_base(&eph_sk);
    let msg2 = spec::hello(net, &eph_pk);
    let (mut state, msg3): (ClientAwaitingAccept, [u8; 112]) = state
        .read_server_hello(&msg2)
        .expect("a hello with a prime-order key is accepted");
    if pre {
        state.precompute().expect("an accepted hello precomputes");
    }

    // The server opens msg3 as the spec says and checks the client's signature.
    let client_eph_pk: [u8; 32] = msg1[32..].try_into().expect("32 bytes");
    let ab = spec::x25519(&eph_sk, &client_eph_pk);
    let a_b = spec::x25519(&spec::seed_to_x25519(&SERVER_SEED), &client_eph_pk);
    let hash_ab = spec::sha256(&[&ab]);
    let key3 = spec::sha256(&[net, &ab, &a_b]);
    let plain3 = spec::open(&key3, &[0; 24], &msg3).expect("msg3 opens with the spec's key");
    let sig_a: [u8; 64] = plain3[..64].try_into().expect("64 bytes");
    assert_eq!(&plain3[64..], client_pk);
    assert!(spec::verify(
        client_pk,
        &spec::client_payload(net, server_pk, &hash_ab),
        &sig_a
    ));

    let client_x = spec::ed_to_x25519(client_pk).expect("the client key converts");
    let a_b_client = spec::x25519(&eph_sk, &client_x);
    let key4 = spec::sha256(&[net, &ab, &a_b, &a_b_client]);
    let payload = spec::server_payload(net, &sig_a, client_pk, &hash_ab);

    let mut honest = false;
    let msg4: [u8; 80] = match input.byte() % 3 {
        0 => {
            let plain: [u8; 64] = input.array();
            spec::seal(&key4, &[0; 24], &plain)
                .try_into()
                .expect("80 bytes")
        }
        1 => {
            let mut sig = spec::sign(&SERVER_SEED, &payload);
            let mask: [u8; 64] = input.array();
            honest = !xor_in(&mut sig, &mask);
            spec::seal(&key4, &[0; 24], &sig)
                .try_into()
                .expect("80 bytes")
        }
        _ => input.array(),
    };

    let expected: Result<(), HandshakeError> = match spec::open(&key4, &[0; 24], &msg4) {
        None => Err(HandshakeError::InvalidAccept),
        Some(sig) => {
            let sig: [u8; 64] = sig.try_into().expect("64 bytes");
            if spec::verify(server_pk, &payload, &sig) {
                Ok(())
            } else {
                Err(HandshakeError::BadSignature {
                    signer: Role::Server,
                })
            }
        }
    };
    if honest {
        assert!(expected.is_ok(), "the spec refuses an honest msg4");
    }
    match (state.read_server_accept(&msg4), expected) {
        (Ok(session), Ok(())) => {
            assert_eq!(session.remote().as_bytes(), server_pk);
            assert_eq!(
                session.encryption_key(),
                &spec::stream_key(&key4, server_pk)
            );
            assert_eq!(
                session.decryption_key(),
                &spec::stream_key(&key4, client_pk)
            );
            assert_eq!(&session.encryption_nonce()[..], &msg2[..24]);
            assert_eq!(&session.decryption_nonce()[..], &msg1[..24]);
        }
        (Err(got), Err(want)) => assert_eq!(
            format!("{got:?}"),
            format!("{want:?}"),
            "the client refused msg4 for another reason than the spec"
        ),
        (Ok(_), Err(want)) => panic!("the client accepted a msg4 the spec refuses ({want})"),
        (Err(got), Ok(())) => panic!("the client refused a msg4 the spec accepts: {got}"),
    }
}
