//! The pure-Rust provider (feature `pure-rust`, used when `native` is off): curve25519-dalek for
//! X25519, ed25519-dalek for signing, RustCrypto's `sha2`, `hmac` and `xsalsa20poly1305`. No C
//! compiler needed (wasm, cross builds); slower (docs/decisions.md has the figures).

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};
use xsalsa20poly1305::XSalsa20Poly1305;
use xsalsa20poly1305::aead::AeadInPlace as _;
use zeroize::Zeroizing;

use super::{MAC_LEN, NONCE_LEN, OpenError};

/// What the provider is called in logs and docs.
pub(crate) const NAME: &str = "pure-rust (dalek, RustCrypto)";

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// SHA-512 of the concatenation of `parts`.
pub(crate) fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut hash = Sha512::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// HMAC-SHA-512 truncated to its first 32 bytes (libsodium's `crypto_auth`).
pub(crate) fn hmac_sha512_256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha512>>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot run.
        unreachable!("HMAC takes keys of any length")
    });
    mac.update(msg);
    let full = mac.finalize().into_bytes();
    let mut out = [0; 32];
    out.copy_from_slice(&full[..32]);
    out
}

/// An X25519 secret ready for several exchanges, with its public key.
pub(crate) struct DhKey {
    public: [u8; 32],
    secret: Zeroizing<[u8; 32]>,
}

impl DhKey {
    /// Prepares `scalar` (X25519 clamps it) and computes its public key.
    pub(crate) fn new(scalar: &[u8; 32]) -> Self {
        Self {
            public: MontgomeryPoint::mul_base_clamped(*scalar).to_bytes(),
            secret: Zeroizing::new(*scalar),
        }
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.public
    }

    /// X25519 with `peer`, before the all-zero check (which the caller makes).
    pub(crate) fn exchange(&self, peer: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        Some(Zeroizing::new(
            MontgomeryPoint(*peer).mul_clamped(*self.secret).to_bytes(),
        ))
    }
}

/// An Ed25519 signing key (ed25519-dalek wipes it on drop).
pub(crate) struct Signer {
    key: SigningKey,
}

impl Signer {
    /// The key of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// `crypto_sign_detached` (deterministic: every provider gives the same bytes).
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// An XSalsa20-Poly1305 key.
pub(crate) struct SecretBox {
    cipher: XSalsa20Poly1305,
}

impl SecretBox {
    /// A secretbox with `key`.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        use xsalsa20poly1305::aead::KeyInit as _;
        Self {
            cipher: XSalsa20Poly1305::new(key.into()),
        }
    }

    /// `crypto_secretbox_detached`: encrypts `buf` in place and returns the MAC.
    pub(crate) fn seal_detached(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
        match self
            .cipher
            .encrypt_in_place_detached(nonce.into(), b"", buf)
        {
            Ok(tag) => tag.into(),
            // Only fails for messages longer than XSalsa20's 2^70-byte keystream.
            Err(_) => unreachable!("secretbox message too long"),
        }
    }

    /// `crypto_secretbox_open_easy` in place: `buf = MAC ‖ ciphertext` (at least `MAC_LEN`
    /// bytes, which the caller checks); on success the plaintext is in `buf[MAC_LEN..]`, on
    /// failure `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<(), OpenError> {
        let (mac, body) = buf.split_at_mut(MAC_LEN);
        let tag = xsalsa20poly1305::Tag::clone_from_slice(mac);
        self.cipher
            .decrypt_in_place_detached(nonce.into(), b"", body, &tag)
            .map_err(|_| OpenError)
    }
}
