//! Differential target for ms-shs's strict Ed25519 verification (`PeerKey::verify`, which skips
//! one point decompression), against the spec's: ed25519-dalek's `verify_strict` plus
//! libsodium's refusal of non-canonical keys (`spec::verify`). Built with `--cfg fuzzing`, which
//! `cargo fuzz` sets, ms-shs exports the verification as `__fuzz_ed25519_verify`.
//!
//! Input: `[mode][32-byte seed][64-byte mask or signature][32-byte mask or key][message…]`.
//! Mode (low 2 bits): 0 an honest signature of the message by the seed's key, XORed with the
//! masks (a zero mask keeps it valid; sparse masks give near-valid inputs); 1 arbitrary key and
//! signature bytes; 2 an honest signature with `R` replaced by one of the eight small-order
//! points (mask byte 0 picks it) and the key XORed with its mask; 3 the honest key plus a
//! small-order point (a mixed-order key) with the honest signature XORed with its mask.
//! Checks: both verifiers decide the same, and an unmodified honest signature verifies.
#![no_main]

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use libfuzzer_sys::fuzz_target;
use multiserver_fuzz::{Input, spec, xor_in};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte() & 3;
    let seed: [u8; 32] = input.array();
    let sig_bytes: [u8; 64] = input.array();
    let key_bytes: [u8; 32] = input.array();
    let msg = input.rest();

    let honest_key = spec::ed_public(&seed);
    let honest_sig = spec::sign(&seed, msg);
    let (public, sig, honest) = match mode {
        0 => {
            let mut sig = honest_sig;
            let mut public = honest_key;
            let sig_changed = xor_in(&mut sig, &sig_bytes);
            let key_changed = xor_in(&mut public, &key_bytes);
            (public, sig, !sig_changed && !key_changed)
        }
        1 => (key_bytes, sig_bytes, false),
        2 => {
            let mut sig = honest_sig;
            let small = EIGHT_TORSION[usize::from(sig_bytes[0] & 7)].compress();
            sig[..32].copy_from_slice(small.as_bytes());
            let mut public = honest_key;
            xor_in(&mut public, &key_bytes);
            (public, sig, false)
        }
        _ => {
            let torsion = EIGHT_TORSION[usize::from(key_bytes[0] & 7)];
            let public = CompressedEdwardsY(honest_key)
                .decompress()
                .map(|point| (point + torsion).compress().to_bytes())
                .unwrap_or(honest_key);
            let mut sig = honest_sig;
            xor_in(&mut sig, &sig_bytes);
            (public, sig, false)
        }
    };

    let ours = ms_shs::__fuzz_ed25519_verify(&public, msg, &sig);
    let reference = spec::verify(&public, msg, &sig);
    assert_eq!(
        ours, reference,
        "ms-shs and verify_strict disagree (mode {mode})"
    );
    if honest {
        assert!(ours, "an honest signature was refused");
    }
});
