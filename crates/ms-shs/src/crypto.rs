//! The one module that touches cryptography libraries.
//!
//! Everything else in the crate speaks in byte arrays and calls these helpers, so a backend can be
//! swapped (or audited) in one place. Each function mirrors the libsodium primitive the JS reference
//! uses (named in its doc) including libsodium's failure cases: an X25519 result of all zeros is an
//! error, an Ed25519 public key that is not a canonical point of the prime-order subgroup cannot be
//! converted to X25519, and signatures are verified with strict (libsodium-like) semantics.
//!
//! Secrets returned from here are wrapped in [`Zeroizing`] so they are wiped when dropped.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
#[cfg(any(test, not(feature = "aws-lc")))]
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
#[cfg(not(feature = "aws-lc"))]
use ed25519_dalek::Signer as _;
use ed25519_dalek::SigningKey;
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

/// An X25519 secret prepared for Diffie-Hellman, with its public key.
///
/// Built once per key (an ephemeral key serves two exchanges, the long-term key one per
/// handshake). Backends, fastest first (docs/decisions.md has the figures): aws-lc (feature
/// `aws-lc`, the default), libsodium (feature `libsodium`), curve25519-dalek. All give identical
/// results, and all treat an all-zero result as an error exactly where libsodium does.
pub(crate) struct DhKey {
    public: [u8; 32],
    #[cfg(feature = "aws-lc")]
    key: aws_lc_rs::agreement::PrivateKey,
    #[cfg(not(feature = "aws-lc"))]
    secret: X25519Secret,
}

impl DhKey {
    /// Prepares `scalar` (clamped by X25519 itself) and computes its public key
    /// (`crypto_scalarmult_base`).
    pub(crate) fn new(scalar: &[u8; 32]) -> Self {
        #[cfg(feature = "aws-lc")]
        {
            use aws_lc_rs::agreement::{PrivateKey, X25519};
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
        #[cfg(not(feature = "aws-lc"))]
        {
            Self {
                public: MontgomeryPoint::mul_base_clamped(*scalar).to_bytes(),
                secret: Zeroizing::new(*scalar),
            }
        }
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.public
    }

    /// `crypto_scalarmult`: X25519 with the peer's public key. An all-zero result (the peer sent
    /// a low-order point) is `None`, exactly where libsodium fails.
    pub(crate) fn diffie_hellman(&self, peer: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        #[cfg(feature = "aws-lc")]
        {
            use aws_lc_rs::agreement::{UnparsedPublicKey, X25519, agree};
            // aws-lc refuses an all-zero result like libsodium does; check anyway.
            let shared = agree(&self.key, UnparsedPublicKey::new(&X25519, peer), (), |s| {
                let mut out = Zeroizing::new([0u8; 32]);
                if s.len() != 32 {
                    return Err(());
                }
                out.copy_from_slice(s);
                Ok(out)
            })
            .ok()?;
            (!bool::from(shared.ct_eq(&[0u8; 32]))).then_some(shared)
        }
        #[cfg(all(not(feature = "aws-lc"), feature = "libsodium"))]
        {
            sodium();
            libsodium_rs::crypto_scalarmult::curve25519::scalarmult(self.secret.as_slice(), peer)
                .ok()
                .map(Zeroizing::new)
        }
        #[cfg(not(any(feature = "aws-lc", feature = "libsodium")))]
        {
            let shared =
                Zeroizing::new(MontgomeryPoint(*peer).mul_clamped(*self.secret).to_bytes());
            (!bool::from(shared.ct_eq(&[0u8; 32]))).then_some(shared)
        }
    }
}

/// The X25519 points of small order (and their non-canonical encodings), as libsodium lists
/// them: with a clamped scalar, exactly these give an all-zero shared secret. The top bit is
/// ignored (X25519 masks it).
const LOW_ORDER_X25519: [[u8; 32]; 7] = [
    [0; 32],
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// The little-endian encoding of 2^255 - 19 + `delta`.
const fn p_plus(delta: i8) -> [u8; 32] {
    let mut out = [0xff; 32];
    out[0] = (0xed_i16 + delta as i16) as u8;
    out[31] = 0x7f;
    out
}

/// Whether `point` is one of the X25519 points with which Diffie-Hellman gives all zeros.
///
/// Lets the server refuse such a hello before answering it, and so do the exchange itself
/// later, off the critical path; the exchange still checks its result.
pub(crate) fn is_low_order_x25519(point: &[u8; 32]) -> bool {
    let mut masked = *point;
    masked[31] &= 0x7f;
    LOW_ORDER_X25519
        .iter()
        .fold(false, |found, low| found | bool::from(masked.ct_eq(low)))
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

/// What a peer's Ed25519 public key is good for: checking its signatures and, as an X25519
/// point, Diffie-Hellman. Both need the point decompressed and validated (about 55 µs, mostly a
/// multiplication by the group order), so valid keys are cached: peers reconnect.
#[derive(Clone)]
pub(crate) struct PeerKey {
    /// The key's point, `None` if the key does not decode as a canonical point or has small
    /// order (no signature verifies then).
    verifying: Option<(CompressedEdwardsY, EdwardsPoint)>,
    /// `None` if the key cannot be converted (see [`PeerKey::x25519`]).
    x25519: Option<[u8; 32]>,
}

/// Slots of the process-wide cache of valid peer keys (about 70 KiB when full).
const PEER_KEY_SLOTS: usize = 256;

/// A direct-mapped cache keyed by a per-process random hash of the key. An attacker who
/// chooses keys can evict others' entries, which costs time, never correctness: every entry
/// is recomputable from its key.
struct PeerKeyCache {
    hasher: std::collections::hash_map::RandomState,
    slots: Vec<Option<([u8; 32], PeerKey)>>,
}

static PEER_KEYS: std::sync::Mutex<Option<PeerKeyCache>> = std::sync::Mutex::new(None);

impl PeerKey {
    /// The key's uses, from the cache or computed (and cached if the key is fully valid).
    pub(crate) fn get(public: &[u8; 32]) -> Self {
        use std::hash::BuildHasher as _;
        let slot_of =
            |cache: &PeerKeyCache| cache.hasher.hash_one(public) as usize % PEER_KEY_SLOTS;
        {
            let guard = PEER_KEYS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(cache) = guard.as_ref()
                && let Some((key, found)) = &cache.slots[slot_of(cache)]
                && key == public
            {
                return found.clone();
            }
        }
        let computed = Self::compute(public);
        if computed.verifying.is_some() && computed.x25519.is_some() {
            let mut guard = PEER_KEYS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let cache = guard.get_or_insert_with(|| PeerKeyCache {
                hasher: std::collections::hash_map::RandomState::new(),
                slots: vec![None; PEER_KEY_SLOTS],
            });
            let slot = slot_of(cache);
            cache.slots[slot] = Some((*public, computed.clone()));
        }
        computed
    }

    /// Decompresses and validates `public` without the cache.
    pub(crate) fn compute(public: &[u8; 32]) -> Self {
        let compressed = CompressedEdwardsY(*public);
        let Some(point) = compressed.decompress() else {
            return Self {
                verifying: None,
                x25519: None,
            };
        };
        let canonical = point.compress() == compressed;
        let small = point.is_small_order();
        let verifying = (canonical && !small).then_some((compressed, point));
        let x25519 = (canonical && !small && point.is_torsion_free())
            .then(|| point.to_montgomery().to_bytes());
        Self { verifying, x25519 }
    }

    /// `crypto_sign_ed25519_pk_to_curve25519`: the Montgomery form of the key.
    ///
    /// Like libsodium it refuses points that do not decode, have small order or lie outside the
    /// prime-order subgroup; unlike libsodium 1.0.18 it also refuses non-canonical encodings (no
    /// honest key generator produces them).
    pub(crate) fn x25519(&self) -> Option<&[u8; 32]> {
        self.x25519.as_ref()
    }

    /// `crypto_sign_verify_detached` with libsodium's strictness: canonical `S`, canonical
    /// public key, neither `R` nor the public key of small order.
    ///
    /// The same decision as ed25519-dalek's `verify_strict`, one point decompression cheaper:
    /// instead of decompressing `R` to check its order, the recomputed `R'` must encode to the
    /// bytes of `R` (so `R` decodes, canonically, to `R'`) and `R'` must not have small order.
    pub(crate) fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        let Some((compressed, point)) = &self.verifying else {
            return false;
        };
        let (r, s) = signature.split_at(32);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(s);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let hash: [u8; 64] = Sha512::new()
            .chain_update(r)
            .chain_update(compressed.as_bytes())
            .chain_update(msg)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&hash);
        let expected_r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-point, &s);
        bool::from(expected_r.compress().as_bytes().ct_eq(r)) && !expected_r.is_small_order()
    }
}

/// `crypto_sign_ed25519_pk_to_curve25519` of `public`, uncached (see [`PeerKey::x25519`]).
#[cfg(test)]
pub(crate) fn ed25519_public_to_x25519(public: &[u8; 32]) -> Option<[u8; 32]> {
    PeerKey::compute(public).x25519
}

/// `crypto_sign_verify_detached`, uncached (see [`PeerKey::verify`]).
#[cfg(test)]
pub(crate) fn verify(public: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    PeerKey::compute(public).verify(msg, signature)
}

/// Our long-term Ed25519 key, prepared for signing and for Diffie-Hellman as X25519.
///
/// Signing uses aws-lc with the `aws-lc` feature (about 2.5x faster than ed25519-dalek here,
/// docs/decisions.md), ed25519-dalek otherwise; Ed25519 signatures are deterministic, so both
/// give the same bytes.
pub(crate) struct LongTermKey {
    #[cfg(feature = "aws-lc")]
    signer: aws_lc_rs::signature::Ed25519KeyPair,
    #[cfg(not(feature = "aws-lc"))]
    signer: SigningKey,
    /// `crypto_sign_ed25519_sk_to_curve25519` of the key, ready for Diffie-Hellman.
    dh: DhKey,
}

impl LongTermKey {
    /// Prepares `key` (already derived from its seed, so nothing is derived twice).
    pub(crate) fn new(key: &SigningKey) -> Self {
        let seed = Zeroizing::new(key.to_bytes());
        #[cfg(feature = "aws-lc")]
        let signer = match aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&*seed) {
            Ok(signer) => signer,
            // Fails only for seeds that are not 32 bytes long, which the type rules out.
            Err(_) => unreachable!("any 32 bytes are an Ed25519 seed"),
        };
        #[cfg(not(feature = "aws-lc"))]
        let signer = key.clone();
        Self {
            signer,
            dh: DhKey::new(&ed25519_seed_to_x25519(&seed)),
        }
    }

    /// `crypto_sign_detached`.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        #[cfg(feature = "aws-lc")]
        {
            let mut out = [0u8; 64];
            out.copy_from_slice(self.signer.sign(msg).as_ref());
            out
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            self.signer.sign(msg).to_bytes()
        }
    }

    /// The key as X25519, for Diffie-Hellman.
    pub(crate) fn dh(&self) -> &DhKey {
        &self.dh
    }
}

/// Ed25519 signing key from its 32-byte seed (`crypto_sign_seed_keypair`).
pub(crate) fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
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
        let key = DhKey::new(&[0x11; 32]);
        for (i, low) in LOW_ORDER_X25519.iter().enumerate() {
            // Every listed point (also with the ignored top bit set) gives all zeros, which is
            // refused; and the cheap check recognises it.
            let mut high = *low;
            high[31] |= 0x80;
            for point in [*low, high] {
                assert!(key.diffie_hellman(&point).is_none(), "point {i}");
                assert!(is_low_order_x25519(&point), "point {i}");
                // An independent implementation agrees that the result is all zeros.
                let shared = MontgomeryPoint(point).mul_clamped([0x11; 32]).to_bytes();
                assert_eq!(shared, [0; 32], "point {i}");
            }
        }
        let other = DhKey::new(&[0x22; 32]);
        assert!(!is_low_order_x25519(&other.public()));
        let shared = key.diffie_hellman(&other.public()).unwrap();
        assert_eq!(*shared, *other.diffie_hellman(&key.public()).unwrap());
    }

    #[test]
    fn dh_matches_an_independent_implementation() {
        // curve25519-dalek as the reference for whichever backend is compiled in.
        for seed in 1u8..=16 {
            let ours = DhKey::new(&[seed; 32]);
            let theirs = MontgomeryPoint::mul_base_clamped([seed; 32]);
            assert_eq!(ours.public(), theirs.to_bytes());
            let peer = MontgomeryPoint::mul_base_clamped([seed.wrapping_mul(7); 32]);
            assert_eq!(
                *ours.diffie_hellman(&peer.to_bytes()).unwrap(),
                peer.mul_clamped([seed; 32]).to_bytes()
            );
        }
    }

    #[test]
    fn signatures_match_ed25519_dalek() {
        use ed25519_dalek::Signer as _;
        for seed in 1u8..=8 {
            let dalek = signing_key(&[seed; 32]);
            let ours = LongTermKey::new(&dalek);
            let msg = [seed; 100];
            assert_eq!(ours.sign(&msg), dalek.sign(&msg).to_bytes());
            let peer = PeerKey::get(dalek.verifying_key().as_bytes());
            assert!(peer.verify(&msg, &ours.sign(&msg)));
            assert!(!peer.verify(&msg[1..], &ours.sign(&msg)));
            // The long-term X25519 key is libsodium's conversion of the Ed25519 one.
            assert_eq!(
                ours.dh().public(),
                peer.x25519().copied().unwrap(),
                "seed {seed}"
            );
        }
    }

    /// Our verification decides exactly like ed25519-dalek's `verify_strict` (the libsodium
    /// semantics) on valid, tampered, malleated and small-order inputs.
    #[test]
    fn verify_decides_like_verify_strict() {
        use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
        let strict = |public: &[u8; 32], msg: &[u8], sig: &[u8; 64]| {
            VerifyingKey::from_bytes(public)
                .is_ok_and(|key| key.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut checked = 0;
        for seed in 0u8..4 {
            let key = signing_key(&[seed; 32]);
            let public = *key.verifying_key().as_bytes();
            let msg = [seed.wrapping_mul(3); 77];
            let sig = key.sign(&msg).to_bytes();
            let mut cases = vec![(public, sig)];
            // Every single-bit flip of the signature and a few of the key.
            for bit in (0..512).step_by(13) {
                let mut bad = sig;
                bad[bit / 8] ^= 1 << (bit % 8);
                cases.push((public, bad));
            }
            for bit in (0..256).step_by(37) {
                let mut bad = public;
                bad[bit / 8] ^= 1 << (bit % 8);
                cases.push((bad, sig));
            }
            // S + L: the same scalar, non-canonical (malleated) encoding.
            let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap()).unwrap();
            let mut wide = [0u8; 32];
            let (mut carry, l) = (0u16, GROUP_ORDER);
            for i in 0..32 {
                let sum = u16::from(s.to_bytes()[i]) + u16::from(l[i]) + carry;
                wide[i] = sum as u8;
                carry = sum >> 8;
            }
            let mut malleated = sig;
            malleated[32..].copy_from_slice(&wide);
            cases.push((public, malleated));
            // A small-order R with the S that makes the cofactorless equation hold for the
            // identity key; and the identity and all-zero keys themselves.
            let mut small_r = sig;
            small_r[..32].copy_from_slice(&identity);
            cases.push((public, small_r));
            cases.push((identity, sig));
            cases.push((identity, small_r));
            cases.push(([0; 32], sig));
            for (public, sig) in cases {
                assert_eq!(
                    PeerKey::compute(&public).verify(&msg, &sig),
                    strict(&public, &msg, &sig),
                    "seed {seed}"
                );
                checked += 1;
            }
        }
        // S = 0 and R = identity verify under the cofactorless equation for the identity key
        // (R = [0]B - [k]·O = O); both implementations must refuse it for the small orders.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        assert!(!strict(&identity, b"x", &forged));
        assert!(!PeerKey::compute(&identity).verify(b"x", &forged));
        assert!(checked > 150);
    }

    /// ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    #[test]
    fn group_order_constant() {
        assert_eq!(Scalar::from_bytes_mod_order(GROUP_ORDER), Scalar::ZERO);
        assert!(bool::from(
            Scalar::from_canonical_bytes(GROUP_ORDER).is_none()
        ));
    }

    #[test]
    fn peer_keys_cached_or_not_agree() {
        let valid = *signing_key(&[9; 32]).verifying_key().as_bytes();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for key in [valid, identity, [0; 32], [0xff; 32]] {
            let first = PeerKey::get(&key);
            let second = PeerKey::get(&key);
            let uncached = PeerKey::compute(&key);
            assert_eq!(first.x25519, uncached.x25519);
            assert_eq!(second.x25519, uncached.x25519);
            assert_eq!(first.verifying, uncached.verifying);
            assert_eq!(second.verifying, uncached.verifying);
        }
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
