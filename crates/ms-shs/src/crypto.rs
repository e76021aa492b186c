//! The one module that touches cryptography libraries.
//!
//! Everything else in the crate speaks in byte arrays and calls these helpers, so a backend can be
//! swapped (or audited) in one place. Each function mirrors the libsodium primitive the JS reference
//! uses (named in its doc) including libsodium's failure cases: an X25519 result of all zeros is an
//! error, an Ed25519 public key that is not a canonical point of the prime-order subgroup cannot be
//! converted to X25519, and signatures are verified with strict (libsodium-like) semantics.
//!
//! Secrets returned from here are wrapped in [`Zeroizing`] so they are wiped when dropped.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of a secretbox MAC (Poly1305 tag).
pub(crate) const MAC_LEN: usize = 16;
/// Length of a secretbox nonce (XSalsa20).
pub(crate) const NONCE_LEN: usize = 24;
/// The all-zero nonce used for the handshake boxes (each of their keys is used exactly once).
pub(crate) const ZERO_NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// `crypto_auth`: HMAC-SHA-512 truncated to its first 32 bytes (not SHA-512/256).
pub(crate) fn hmac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot run.
        unreachable!("HMAC takes keys of any length")
    });
    mac.update(msg);
    let full = mac.finalize().into_bytes();
    let mut out = [0; 32];
    out.copy_from_slice(&full[..32]);
    out
}

/// `crypto_auth_verify`: constant-time check of a truncated HMAC-SHA-512 tag.
pub(crate) fn hmac_verify(key: &[u8; 32], msg: &[u8], tag: &[u8]) -> bool {
    let expected = hmac(key, msg);
    tag.len() == 32 && bool::from(expected.ct_eq(tag))
}

/// `crypto_hash_sha256` of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// An X25519 secret scalar as libsodium stores it (clamped when derived from Ed25519).
pub(crate) type X25519Secret = Zeroizing<[u8; 32]>;

/// The X25519 public key for `secret` (`crypto_scalarmult_base`).
pub(crate) fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// Initialises libsodium once: `sodium_init` picks the fastest implementations for this CPU
/// (AVX2 Salsa20, the sandy2x Curve25519 code); without it libsodium runs portable code.
#[cfg(feature = "libsodium")]
fn sodium() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // On failure libsodium keeps its portable implementations, which give the same results.
        let _ = libsodium_rs::ensure_init();
    });
}

/// `crypto_scalarmult`: X25519. An all-zero result (the peer sent a low-order point) is an error,
/// exactly where libsodium fails.
///
/// With the `libsodium` feature this is libsodium's own (about 1.8× faster than
/// curve25519-dalek here, see docs/decisions.md); both give identical results.
pub(crate) fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    #[cfg(feature = "libsodium")]
    {
        sodium();
        libsodium_rs::crypto_scalarmult::curve25519::scalarmult(secret, public)
            .ok()
            .map(Zeroizing::new)
    }
    #[cfg(not(feature = "libsodium"))]
    {
        let shared = Zeroizing::new(MontgomeryPoint(*public).mul_clamped(*secret).to_bytes());
        if bool::from(shared.ct_eq(&[0u8; 32])) {
            None
        } else {
            Some(shared)
        }
    }
}

/// Clamps a Curve25519 scalar the way X25519 and libsodium's `sk_to_curve25519` do.
fn clamp(mut scalar: [u8; 32]) -> [u8; 32] {
    scalar[0] &= 248;
    scalar[31] &= 127;
    scalar[31] |= 64;
    scalar
}

/// `crypto_sign_ed25519_sk_to_curve25519`: clamp(SHA-512(seed)[0..32]).
pub(crate) fn ed25519_seed_to_x25519(seed: &[u8; 32]) -> X25519Secret {
    let hash = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed)));
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&hash[..32]);
    Zeroizing::new(clamp(*scalar))
}

/// `crypto_sign_ed25519_pk_to_curve25519`: the Montgomery form of an Ed25519 public key.
///
/// Like libsodium it refuses points that do not decode, have small order or lie outside the
/// prime-order subgroup; unlike libsodium 1.0.18 it also refuses non-canonical encodings (no
/// honest key generator produces them).
pub(crate) fn ed25519_public_to_x25519(public: &[u8; 32]) -> Option<[u8; 32]> {
    let compressed = CompressedEdwardsY(*public);
    let point = compressed.decompress()?;
    if point.is_small_order() || !point.is_torsion_free() || point.compress() != compressed {
        return None;
    }
    Some(point.to_montgomery().to_bytes())
}

/// Ed25519 signing key from its 32-byte seed (`crypto_sign_seed_keypair`).
pub(crate) fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// `crypto_sign_detached`.
pub(crate) fn sign(key: &SigningKey, msg: &[u8]) -> [u8; 64] {
    key.sign(msg).to_bytes()
}

/// `crypto_sign_verify_detached` with libsodium's strictness: canonical `S`, canonical public key,
/// neither `R` nor the public key of small order.
pub(crate) fn verify(public: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public) else {
        return false;
    };
    if CompressedEdwardsY(*public)
        .decompress()
        .is_none_or(|point| point.compress().0 != *public)
    {
        return false;
    }
    key.verify_strict(msg, &Signature::from_bytes(signature))
        .is_ok()
}

/// Fills an array from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, getrandom::Error> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut_slice())?;
    Ok(out)
}

/// Authentication failed while opening a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenError;

/// An XSalsa20-Poly1305 key (`crypto_secretbox`); the key is wiped on drop.
///
/// Two backends, chosen at compile time: libsodium (feature `libsodium`, the default; the JS
/// reference uses it too) or RustCrypto's pure-Rust `xsalsa20poly1305` (feature `pure-rust`).
/// The layout-level operations below are what box-stream needs: a detached seal (the body MAC
/// travels in the header) and in-place "easy" seal/open over `MAC ‖ ciphertext`.
pub(crate) struct SecretBox {
    #[cfg(feature = "libsodium")]
    key: libsodium_rs::crypto_secretbox::Key,
    #[cfg(not(feature = "libsodium"))]
    cipher: xsalsa20poly1305::XSalsa20Poly1305,
}

#[cfg(not(any(feature = "libsodium", feature = "pure-rust")))]
compile_error!("ms-shs needs a secretbox backend: enable feature `libsodium` or `pure-rust`");

#[cfg(feature = "libsodium")]
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

    /// `crypto_secretbox_open_easy` in place: `buf = MAC ‖ ciphertext`; on success the plaintext
    /// is in `buf[MAC_LEN..]`. On failure `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<(), OpenError> {
        use libsodium_rs::crypto_secretbox::{Nonce, open};
        if buf.len() < MAC_LEN {
            return Err(OpenError);
        }
        let plain = open(buf, &Nonce::from_bytes(*nonce), &self.key).map_err(|_| OpenError)?;
        buf[MAC_LEN..].copy_from_slice(&plain);
        Ok(())
    }
}

#[cfg(not(feature = "libsodium"))]
impl SecretBox {
    /// A secretbox with `key`.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        use xsalsa20poly1305::aead::KeyInit as _;
        Self {
            cipher: xsalsa20poly1305::XSalsa20Poly1305::new(key.into()),
        }
    }

    /// `crypto_secretbox_detached`: encrypts `buf` in place and returns the MAC.
    pub(crate) fn seal_detached(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
        use xsalsa20poly1305::aead::AeadInPlace as _;
        match self
            .cipher
            .encrypt_in_place_detached(nonce.into(), b"", buf)
        {
            Ok(tag) => tag.into(),
            // Only fails for messages longer than XSalsa20's 2^70-byte keystream.
            Err(_) => unreachable!("secretbox message too long"),
        }
    }

    /// `crypto_secretbox_open_easy` in place: `buf = MAC ‖ ciphertext`; on success the plaintext
    /// is in `buf[MAC_LEN..]`. On failure `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<(), OpenError> {
        use xsalsa20poly1305::aead::AeadInPlace as _;
        if buf.len() < MAC_LEN {
            return Err(OpenError);
        }
        let (mac, body) = buf.split_at_mut(MAC_LEN);
        let tag = xsalsa20poly1305::Tag::clone_from_slice(mac);
        self.cipher
            .decrypt_in_place_detached(nonce.into(), b"", body, &tag)
            .map_err(|_| OpenError)
    }
}

impl SecretBox {
    /// `crypto_secretbox_easy` in place: `buf = [MAC_LEN bytes of room] ‖ message` becomes
    /// `MAC ‖ ciphertext`.
    pub(crate) fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) {
        let (mac, body) = buf.split_at_mut(MAC_LEN);
        mac.copy_from_slice(&self.seal_detached(nonce, body));
    }

    /// `crypto_secretbox_easy` into a fixed array: `out = MAC ‖ ciphertext(msg)`.
    /// `OUT` must be `IN + 16` (checked at compile time).
    pub(crate) fn seal<const IN: usize, const OUT: usize>(
        &self,
        nonce: &[u8; NONCE_LEN],
        msg: &[u8; IN],
    ) -> [u8; OUT] {
        const { assert!(OUT == IN + MAC_LEN) };
        let mut out = [0u8; OUT];
        out[MAC_LEN..].copy_from_slice(msg);
        self.seal_in_place(nonce, &mut out);
        out
    }

    /// `crypto_secretbox_open_easy` of a fixed-size box `MAC ‖ ciphertext`. `OUT` must be
    /// `IN - 16` (checked at compile time).
    pub(crate) fn open<const IN: usize, const OUT: usize>(
        &self,
        nonce: &[u8; NONCE_LEN],
        sealed: &[u8; IN],
    ) -> Result<Zeroizing<[u8; OUT]>, OpenError> {
        const { assert!(OUT + MAC_LEN == IN) };
        let mut buf = Zeroizing::new(*sealed);
        self.open_in_place(nonce, buf.as_mut_slice())?;
        let mut out = Zeroizing::new([0u8; OUT]);
        out.copy_from_slice(&buf[MAC_LEN..]);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_truncated_hmac_sha512() {
        // RFC 4231 test case 2 (key "Jefe"), HMAC-SHA-512 first 32 bytes; our key type is 32 bytes,
        // so check against a 32-byte key instead: HMAC pads short keys with zeros.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(&tag),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        );
        assert!(hmac_verify(&key, b"what do ya want for nothing?", &tag));
        assert!(!hmac_verify(&key, b"what do ya want for nothing!", &tag));
    }

    #[test]
    fn x25519_rejects_low_order_points() {
        let secret = [0x11; 32];
        assert!(x25519(&secret, &[0; 32]).is_none());
        let mut one = [0; 32];
        one[0] = 1;
        assert!(x25519(&secret, &one).is_none());
        assert!(x25519(&secret, &x25519_public(&[0x22; 32])).is_some());
    }

    #[test]
    fn ed25519_to_x25519_rejects_small_order_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519_public_to_x25519(&identity).is_none());
        assert!(ed25519_public_to_x25519(&[0; 32]).is_none());
        let key = signing_key(&[5; 32]);
        assert!(ed25519_public_to_x25519(key.verifying_key().as_bytes()).is_some());
    }

    #[test]
    fn secretbox_round_trip_and_tamper() {
        let sb = SecretBox::new(&[1; 32]);
        let sealed: [u8; 20] = sb.seal(&[2; 24], b"four");
        let opened: Zeroizing<[u8; 4]> = sb.open(&[2; 24], &sealed).unwrap();
        assert_eq!(&*opened, b"four");
        let mut bad = sealed;
        bad[17] ^= 1;
        assert!(sb.open::<20, 4>(&[2; 24], &bad).is_err());
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
