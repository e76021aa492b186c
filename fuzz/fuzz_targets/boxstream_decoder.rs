//! The box-stream decoder against untrusted bytes, fed in arbitrary chunks.
//!
//! Input: `[mode][read size u16][split count][split sizes…][mode data…]`. Bits 4-5 of the mode
//! pick one of three initial nonces (one carries, one wraps around); the low bits pick:
//!
//! - 0, raw: the rest is the wire;
//! - 1, valid then damaged: messages from the input are encoded with the crate's `Encoder`
//!   (optionally with the goodbye; with bit 3, with a maximum body from the input, 1..=65536
//!   clamped to 65535), then bytes are flipped, inserted, cut or appended; the key (or, with
//!   bit 6, the handshake's client ephemeral seed) is the SHA-256 of the input;
//! - 2, crafted: frames built by a sender that knows the key (it always does: it is the peer),
//!   with honest, bad-tag, goodbye or arbitrary header contents (any length up to 65535).
//!
//! With bit 6 of the mode set, the wire is encrypted for the session of a (deterministic)
//! handshake and read through the async `BoxStream` over an in-memory pipe, the chunks written
//! one at a time and read with a caller buffer of the size the input says: the production read
//! path (buffer compaction, partial plaintext hand-out, EOF handling) instead of
//! `Decoder::decode`.
//!
//! Whatever the mode: no panic; the plaintext and the way decoding ends (goodbye, or which
//! error) equal those of an independent reference decoder (`boxmodel::model_decode`, RustCrypto
//! secretbox); a failing decoder stays failed; after each call the decoder has consumed all it
//! could. In mode 1 the plaintext is a prefix, ending at a frame boundary, of what was encoded,
//! and all of it (with the right ending) when nothing was damaged.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ms_shs::boxstream::{Decoder, Encoder, MAX_BODY_LEN};
use ms_shs::handshake::{ClientHandshake, EphemeralKey, HandshakeOutcome, ServerHandshake};
use ms_shs::{BoxStream, BoxStreamError, Keypair, NetworkKey};
use multiserver_fuzz::boxmodel::{self, End};
use multiserver_fuzz::fixtures::{
    BOX_KEY, BOX_NONCES, CLIENT_EPH_SEED, CLIENT_SEED, NETWORK_KEY, SERVER_EPH_SEED, SERVER_SEED,
};
use multiserver_fuzz::{Input, spec, xor_in};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// The server's session of the fixtures' handshake, with the client's ephemeral seed
/// `client_eph`: it decrypts with the key and nonce the client encrypts with.
fn session(client_eph: &[u8; 32]) -> HandshakeOutcome {
    let net = NetworkKey::from_bytes(NETWORK_KEY);
    let (client, msg1) = ClientHandshake::new(
        net,
        Keypair::from_seed(&CLIENT_SEED),
        spec::ed_public(&SERVER_SEED).into(),
        EphemeralKey::from_seed(client_eph),
    )
    .expect("client");
    let server = ServerHandshake::new(
        net,
        Keypair::from_seed(&SERVER_SEED),
        EphemeralKey::from_seed(&SERVER_EPH_SEED),
    );
    let (server, msg2) = server.read_client_hello(&msg1).expect("msg1");
    let (_client, msg3) = client.read_server_hello(&msg2).expect("msg2");
    server.read_client_auth(&msg3).expect("msg3").accept().1
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            // BoxStream runs a deadline for every started frame.
            .enable_time()
            .build()
            .expect("runtime")
    })
}

/// Writes `wire` chunk by chunk into a pipe read by a `BoxStream` with `read_size`-byte reads.
fn through_box_stream(
    session: HandshakeOutcome,
    wire: &[u8],
    splits: &[u16],
    read_size: usize,
) -> (Vec<u8>, End) {
    let stream = async {
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let mut stream = BoxStream::new(ours, session);
        let writer = async {
            let mut rest = wire;
            let mut i = 0;
            while !rest.is_empty() {
                let n = match splits.get(i % splits.len().max(1)) {
                    Some(&s) if s > 0 => usize::from(s).min(rest.len()),
                    _ => rest.len(),
                };
                i += 1;
                let (chunk, after) = rest.split_at(n);
                rest = after;
                peer.write_all(chunk).await.expect("pipe write");
                tokio::task::yield_now().await;
            }
            peer.shutdown().await.expect("pipe shutdown");
            peer
        };
        let reader = async {
            let mut plain = Vec::new();
            let mut buf = vec![0u8; read_size];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => return (plain, End::Goodbye),
                    Ok(n) => plain.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        let inner = e
                            .get_ref()
                            .and_then(|i| i.downcast_ref::<BoxStreamError>())
                            .cloned()
                            .unwrap_or_else(|| panic!("not a box-stream error: {e}"));
                        // Failed for good: the same error again.
                        let again = stream.read(&mut buf).await.expect_err("poisoned");
                        assert_eq!(again.kind(), e.kind());
                        return (plain, End::Error(inner));
                    }
                }
            }
        };
        let (_peer, result) = tokio::join!(writer, reader);
        result
    };
    runtime().block_on(stream)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte();
    // In mode 1 the keys are derived from the whole input. libFuzzer learns byte strings from
    // comparisons (here: the encoded frames) and splices them into later inputs: with one key
    // for every run it replays a frame encoded in another run, which decodes (same key, same
    // nonce) to plaintext that this run never encoded. Per-input keys rule that out; the other
    // modes keep the fixed keys so the test vectors stay valid seeds.
    let per_input = (mode % 3 == 1).then(|| spec::sha256(&[data]));
    let (session, key, nonce) = if mode & 0x40 != 0 {
        let session = session(per_input.as_ref().unwrap_or(&CLIENT_EPH_SEED));
        let (key, nonce) = (*session.decryption_key(), *session.decryption_nonce());
        (Some(session), key, nonce)
    } else {
        let nonce = BOX_NONCES[usize::from((mode >> 4) & 3) % BOX_NONCES.len()];
        (None, per_input.unwrap_or(BOX_KEY), nonce)
    };
    let read_size = usize::from(input.u16()).max(1);
    let splits: Vec<u16> = (0..input.byte() % 8)
        .map(|_| u16::from(input.byte()))
        .collect();

    let mut encoded: Option<(Vec<u8>, Vec<usize>, bool)> = None;
    let mut damaged = false;
    let wire = match mode % 3 {
        0 => input.rest().to_vec(),
        1 => {
            let mut encoder = Encoder::new(&key, nonce);
            if mode & 0x08 != 0 {
                // The opt-in larger frames (`Shs::max_frame_body`), any size up to 65535.
                encoder.set_max_body(1 + usize::from(input.u16()));
            }
            let max_body = encoder.max_body();
            let mut wire = Vec::new();
            let mut plain = Vec::new();
            let mut frame_ends = vec![0];
            for _ in 0..input.byte() % 6 {
                let len = usize::from(input.u16()) % (2 * max_body.max(MAX_BODY_LEN) + 10);
                let mut message = input.bytes(len).to_vec();
                message.resize(len, 0x5a);
                encoder.encode(&message, &mut wire);
                for chunk in message.chunks(max_body) {
                    plain.extend_from_slice(chunk);
                    frame_ends.push(plain.len());
                }
            }
            let goodbye = input.byte() & 1 == 1;
            if goodbye {
                encoder.encode_goodbye(&mut wire);
            }
            let original = wire.clone();
            for _ in 0..input.byte() % 4 {
                let op = input.byte();
                let at = usize::from(input.u16());
                match op % 4 {
                    0 if !wire.is_empty() => {
                        let i = at % wire.len();
                        wire[i] ^= input.byte() | 1;
                    }
                    1 => wire.truncate(at % (wire.len() + 1)),
                    2 => {
                        let n = usize::from(input.byte() % 64);
                        wire.extend_from_slice(input.bytes(n));
                    }
                    3 => {
                        let i = at % (wire.len() + 1);
                        wire.insert(i, input.byte());
                    }
                    _ => {}
                }
            }
            damaged = wire != original;
            encoded = Some((plain, frame_ends, goodbye));
            wire
        }
        _ => {
            let mut frame_nonce = nonce;
            let mut wire = Vec::new();
            for _ in 0..input.byte() % 6 {
                let kind = input.byte();
                let mut header = [0u8; 18];
                let body_ct = match kind % 4 {
                    0 | 1 => {
                        let len = usize::from(input.u16()) % 8200;
                        let mut plain = input.bytes(len).to_vec();
                        plain.resize(len, 0xa5);
                        let (mut tag, ct) = boxmodel::body(&key, &frame_nonce, &plain);
                        if kind % 4 == 1 {
                            let i = usize::from(input.byte() % 16);
                            tag[i] ^= input.byte() | 1;
                        }
                        header[..2].copy_from_slice(&(len as u16).to_be_bytes());
                        header[2..].copy_from_slice(&tag);
                        ct
                    }
                    2 => Vec::new(),
                    _ => {
                        header = input.array();
                        let n = usize::from(input.u16());
                        input.bytes(n).to_vec()
                    }
                };
                wire.extend(boxmodel::raw_frame(
                    &key,
                    &mut frame_nonce,
                    &header,
                    &body_ct,
                ));
            }
            match input.byte() % 3 {
                0 => {}
                1 => {
                    let cut = usize::from(input.u16()) % (wire.len() + 1);
                    wire.truncate(cut);
                }
                _ => wire.extend_from_slice(input.rest()),
            }
            if !input.is_empty() {
                let mask = input.rest();
                let at = mask.len() % (wire.len() + 1);
                xor_in(&mut wire[at..], mask);
            }
            wire
        }
    };

    let (plain, end) = match session {
        Some(session) => through_box_stream(session, &wire, &splits, read_size),
        None => boxmodel::drive(&mut Decoder::new(&key, nonce), &wire, &splits),
    };
    let model = boxmodel::model_decode(&key, &nonce, &wire);
    assert_eq!(
        end, model.end,
        "decoder and reference disagree on how the stream ends"
    );
    assert!(
        plain == model.plain,
        "decoder and reference disagree on the plaintext ({} vs {} bytes)",
        plain.len(),
        model.plain.len()
    );

    if let Some((expected, frame_ends, goodbye)) = encoded {
        assert!(
            expected.starts_with(&plain),
            "decoded plaintext is not a prefix of what was encoded"
        );
        assert!(
            frame_ends.contains(&plain.len()),
            "decoding stopped inside a frame"
        );
        if !damaged {
            assert!(plain == expected, "undamaged stream lost plaintext");
            let wanted = if goodbye {
                End::Goodbye
            } else {
                End::Error(BoxStreamError::MissingGoodbye)
            };
            assert_eq!(end, wanted);
        }
    }
});
