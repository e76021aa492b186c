//! The native provider (feature `native`, the default): aws-lc for X25519, Ed25519 signing,
//! SHA-2 and HMAC; libsodium for XSalsa20-Poly1305. The fastest measured on this code's hot paths
//! (docs/decisions.md has the figures); both are C libraries behind safe Rust bindings.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use super::{MAC_LEN, NONCE_LEN, OpenError};

/// What the provider is called in logs and docs.
pub(crate) const NAME: &str = "native (aws-lc, libsodium)";

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// SHA-512 of the concatenation of `parts`.
pub(crate) fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0; 64];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// HMAC-SHA-512 truncated to its first 32 bytes (libsodium's `crypto_auth`).
pub(crate) fn hmac_sha512_256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, key), msg);
    let mut out = [0; 32];
    out.copy_from_slice(&tag.as_ref()[..32]);
    out
}

/// An X25519 secret ready for several exchanges, with its public key.
pub(crate) struct DhKey {
    public: [u8; 32],
    key: PrivateKey,
}

impl DhKey {
    /// Prepares `scalar` (X25519 clamps it) and computes its public key.
    pub(crate) fn new(scalar: &[u8; 32]) -> Self {
        // Both calls fail only for keys that are not 32 bytes long, which the type rules out.
        let Ok(key) = PrivateKey::from_private_key(&X25519, scalar) else {
            unreachable!("any 32 bytes are an X25519 secret")
        };
        let Ok(public) = key.compute_public_key() else {
            unreachable!("an X25519 key always has a public key")
        };
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(public.as_ref());
        Self { public: bytes, key }
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.public
    }

    /// X25519 with `peer`, before the all-zero check (which the caller makes): `None` only if
    /// the library refused the exchange (aws-lc refuses an all-zero result itself).
    pub(crate) fn exchange(&self, peer: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        agreement::agree(&self.key, UnparsedPublicKey::new(&X25519, peer), (), |s| {
            let mut out = Zeroizing::new([0u8; 32]);
            if s.len() != 32 {
                return Err(());
            }
            out.copy_from_slice(s);
            Ok(out)
        })
        .ok()
    }
}

/// An Ed25519 signing key.
pub(crate) struct Signer {
    key: Ed25519KeyPair,
    public: [u8; 32],
}

impl Signer {
    /// The key of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        let key = match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(key) => key,
            // Fails only for seeds that are not 32 bytes long, which the type rules out.
            Err(_) => unreachable!("any 32 bytes are an Ed25519 seed"),
        };
        let mut public = [0u8; 32];
        public.copy_from_slice(key.public_key().as_ref());
        Self { key, public }
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.public
    }

    /// `crypto_sign_detached` (deterministic: every provider gives the same bytes).
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.key.sign(msg).as_ref());
        out
    }
}

/// Initialises libsodium once: `sodium_init` picks the fastest implementations for this CPU
/// (AVX2 Salsa20); without it libsodium runs portable code.
fn sodium() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // On failure libsodium keeps its portable implementations, which give the same results.
        let _ = libsodium_rs::ensure_init();
    });
}

/// An XSalsa20-Poly1305 key (libsodium wipes it on drop).
pub(crate) struct SecretBox {
    key: libsodium_rs::crypto_secretbox::Key,
}

impl SecretBox {
    /// A secretbox with `key`.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        use libsodium_rs::crypto_secretbox::Key;
        sodium();
        match Key::from_bytes(key) {
            Ok(key) => Self { key },
            // from_bytes only checks the length, which the array type fixes.
            Err(_) => unreachable!("secretbox keys are 32 bytes"),
        }
    }

    /// `crypto_secretbox_detached`: encrypts `buf` in place and returns the MAC.
    pub(crate) fn seal_detached(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
        use libsodium_rs::crypto_secretbox::{Nonce, seal};
        // The safe binding only has the allocating combined form; copying back costs a few percent.
        let sealed = seal(buf, &Nonce::from_bytes(*nonce), &self.key);
        let (mac, body) = sealed.split_at(MAC_LEN);
        buf.copy_from_slice(body);
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(mac);
        out
    }

    /// `crypto_secretbox_open_easy` in place: `buf = MAC ‖ ciphertext` (at least `MAC_LEN`
    /// bytes, which the caller checks); on success the plaintext is in `buf[MAC_LEN..]`, on
    /// failure `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<(), OpenError> {
        use libsodium_rs::crypto_secretbox::{Nonce, open};
        let plain = open(buf, &Nonce::from_bytes(*nonce), &self.key).map_err(|_| OpenError)?;
        buf[MAC_LEN..].copy_from_slice(&plain);
        Ok(())
    }
}
