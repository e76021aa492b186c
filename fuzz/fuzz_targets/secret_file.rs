//! Key material from text: the SSB `secret` file reader (`Keypair::from_secret_json`),
//! network keys (`NetworkKey::from_base64`, lenient base64) and public keys (`PublicKey`'s
//! `FromStr`, the `@<base64>.ed25519` identity form, and `PublicKey::from_base64`).
//!
//! Checks: never a panic; a keypair that loads writes (`to_secret_json`) a file that loads
//! back to the same keypair; a key that parses prints to text that parses back to the same
//! key. Input: `[mode][text…]`, mode (low 2 bits): 0 secret file, 1 network key, 2 public key,
//! 3 all three on the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_core::PublicKey;
use ms_shs::{Keypair, NetworkKey};

fn secret_file(text: &str) {
    if let Ok(keys) = Keypair::from_secret_json(text) {
        let again = Keypair::from_secret_json(&keys.to_secret_json())
            .expect("a written secret file must load");
        assert_eq!(again.public(), keys.public(), "secret file round trip");
        assert_eq!(*again.seed(), *keys.seed(), "secret file round trip");
    }
}

fn network_key(text: &str) {
    if let Ok(key) = NetworkKey::from_base64(text) {
        let again = NetworkKey::from_base64(&key.to_base64()).expect("a printed key must parse");
        assert_eq!(again.as_bytes(), key.as_bytes(), "network key round trip");
    }
}

fn public_key(text: &str) {
    if let Ok(key) = text.parse::<PublicKey>() {
        let again: PublicKey = key.to_string().parse().expect("a printed id must parse");
        assert_eq!(again, key, "identity round trip");
    }
    if let Ok(key) = PublicKey::from_base64(text) {
        let again = PublicKey::from_base64(&key.to_base64()).expect("printed base64 must parse");
        assert_eq!(again, key, "base64 round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode & 3 {
        0 => secret_file(text),
        1 => network_key(text),
        2 => public_key(text),
        _ => {
            secret_file(text);
            network_key(text);
            public_key(text);
        }
    }
});
