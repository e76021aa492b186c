//! The crate's crypto provider: the one module that touches cryptography libraries.
//!
//! Everything else in the crate speaks in byte arrays and calls these helpers. Like rustls's and
//! quinn's crypto providers, the primitives come from one provider chosen when the crate is
//! built, by one feature:
//!
//! - `native` (the default): aws-lc (X25519, Ed25519 signing, SHA-2, HMAC) and libsodium
//!   (XSalsa20-Poly1305), see `native.rs`;
//! - `pure-rust`, used when `native` is off: the dalek crates and RustCrypto, see `pure_rust.rs`.
//!
//! Enabling both means `native` (features are additive; the pure-Rust code is then only compiled
//! for the tests that compare the two), and enabling neither is a compile error. Each provider
//! implements the same small interface: `sha256`, `sha512`, `hmac_sha512_256`, `DhKey`
//! (X25519 key generation and exchange), `Signer` (Ed25519 from a seed) and `SecretBox`
//! (XSalsa20-Poly1305 seal and open in place).
//!
//! What does not depend on the provider lives here: libsodium's failure cases (an all-zero X25519
//! result is an error, an Ed25519 public key that is not a canonical point of the prime-order
//! subgroup cannot be converted to X25519), and the strict Ed25519 verification with its cache
//! of decoded peer keys, which runs on curve25519-dalek under both providers (no library's own
//! verification can reuse a decoded key, which saves ~55 µs per handshake side; see
//! docs/decisions.md).
//!
//! Secrets returned from here are wrapped in [`Zeroizing`] so they are wiped when dropped.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

#[cfg(feature = "native")]
mod native;
#[cfg(feature = "pure-rust")]
#[cfg_attr(feature = "native", allow(dead_code))]
mod pure_rust;

#[cfg(feature = "native")]
use native as provider;
#[cfg(all(feature = "pure-rust", not(feature = "native")))]
use pure_rust as provider;

#[cfg(not(any(feature = "native", feature = "pure-rust")))]
compile_error!(
    "ms-shs needs a crypto provider: enable feature `native` (the default) or `pure-rust`"
);

/// The name of the crypto provider this build uses.
pub(crate) const PROVIDER: &str = provider::NAME;

/// Length of a secretbox MAC (Poly1305 tag).
pub(crate) const MAC_LEN: usize = 16;
/// Length of a secretbox nonce (XSalsa20).
pub(crate) const NONCE_LEN: usize = 24;
/// The all-zero nonce used for the handshake boxes (each of their keys is used exactly once).
pub(crate) const ZERO_NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// `crypto_auth`: HMAC-SHA-512 truncated to its first 32 bytes (not SHA-512/256).
pub(crate) fn hmac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    provider::hmac_sha512_256(key, msg)
}

/// `crypto_auth_verify`: constant-time check of a truncated HMAC-SHA-512 tag.
pub(crate) fn hmac_verify(key: &[u8; 32], msg: &[u8], tag: &[u8]) -> bool {
    let expected = hmac(key, msg);
    tag.len() == 32 && bool::from(expected.ct_eq(tag))
}

/// `crypto_hash_sha256` of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    provider::sha256(parts)
}

/// An X25519 secret scalar as libsodium stores it (clamped when derived from Ed25519).
pub(crate) type X25519Secret = Zeroizing<[u8; 32]>;

/// An X25519 secret prepared for Diffie-Hellman, with its public key.
///
/// Built once per key (an ephemeral key serves two exchanges, the long-term key one per
/// handshake). Every provider gives identical results and treats an all-zero result as an
/// error exactly where libsodium does.
pub(crate) struct DhKey(provider::DhKey);

impl DhKey {
    /// Prepares `scalar` (clamped by X25519 itself) and computes its public key
    /// (`crypto_scalarmult_base`).
    pub(crate) fn new(scalar: &[u8; 32]) -> Self {
        Self(provider::DhKey::new(scalar))
    }

    /// The public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.0.public()
    }

    /// `crypto_scalarmult`: X25519 with the peer's public key. An all-zero result (the peer sent
    /// a low-order point) is `None`, exactly where libsodium fails.
    pub(crate) fn diffie_hellman(&self, peer: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        let shared = self.0.exchange(peer)?;
        (!bool::from(shared.ct_eq(&[0u8; 32]))).then_some(shared)
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
    let hash = Zeroizing::new(provider::sha512(&[seed]));
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
    /// Checked against `verify_strict` by the tests below (a property test among them) and by
    /// the `ed25519_verify` fuzz target.
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
        let hash = provider::sha512(&[r, compressed.as_bytes(), msg]);
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

/// `crypto_sign_verify_detached`, uncached (see [`PeerKey::verify`]). Public (hidden) only in
/// fuzzing builds, for the `ed25519_verify` target.
#[cfg(any(test, fuzzing))]
pub fn verify(public: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    PeerKey::compute(public).verify(msg, signature)
}

/// Our long-term Ed25519 key, held once, by the provider: for signing, and as X25519 for
/// Diffie-Hellman.
pub(crate) struct LongTermKey {
    /// The seed, for exporting the key (the `secret` file); wiped on drop.
    seed: Zeroizing<[u8; 32]>,
    signer: provider::Signer,
    /// `crypto_sign_ed25519_sk_to_curve25519` of the key, ready for Diffie-Hellman.
    dh: DhKey,
}

impl LongTermKey {
    /// The key of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            seed: Zeroizing::new(*seed),
            signer: provider::Signer::from_seed(seed),
            dh: DhKey::new(&ed25519_seed_to_x25519(seed)),
        }
    }

    /// The Ed25519 public key.
    pub(crate) fn public(&self) -> [u8; 32] {
        self.signer.public()
    }

    /// The seed the key was derived from.
    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// `crypto_sign_detached`: Ed25519 signatures are deterministic, so every provider gives
    /// the same bytes.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signer.sign(msg)
    }

    /// The key as X25519, for Diffie-Hellman.
    pub(crate) fn dh(&self) -> &DhKey {
        &self.dh
    }
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
/// The layout-level operations below are what box-stream needs: a detached seal (the body MAC
/// travels in the header) and in-place "easy" seal/open over `MAC ‖ ciphertext`.
pub(crate) struct SecretBox(provider::SecretBox);

impl SecretBox {
    /// A secretbox with `key`.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(provider::SecretBox::new(key))
    }

    /// `crypto_secretbox_detached`: encrypts `buf` in place and returns the MAC.
    pub(crate) fn seal_detached(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; MAC_LEN] {
        self.0.seal_detached(nonce, buf)
    }

    /// `crypto_secretbox_open_easy` in place: `buf = MAC ‖ ciphertext`; on success the plaintext
    /// is in `buf[MAC_LEN..]`. On failure `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<(), OpenError> {
        if buf.len() < MAC_LEN {
            return Err(OpenError);
        }
        self.0.open_in_place(nonce, buf)
    }

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
mod tests;
