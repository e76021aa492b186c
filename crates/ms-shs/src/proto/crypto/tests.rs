#![allow(clippy::unwrap_used)]

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use proptest::prelude::*;

use super::*;

/// ed25519-dalek's `verify_strict` with libsodium's refusal of non-canonical keys (which
/// `verify_strict` hashes as they are): the decision `PeerKey::verify` must reproduce.
fn strict(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let canonical = CompressedEdwardsY(*public)
        .decompress()
        .is_some_and(|point| point.compress().to_bytes() == *public);
    canonical
        && VerifyingKey::from_bytes(public)
            .is_ok_and(|key| key.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
}

#[test]
fn provider_is_the_one_the_features_choose() {
    if cfg!(feature = "native") {
        assert_eq!(PROVIDER, "native (aws-lc, libsodium)");
    } else {
        assert_eq!(PROVIDER, "pure-rust (dalek, RustCrypto)");
    }
}

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
fn hashes_match_the_standard_vectors() {
    // FIPS 180-2 "abc", split across parts.
    assert_eq!(
        hex(&sha256(&[b"a", b"bc"])),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&provider::sha512(&[b"ab", b"", b"c"])),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
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
    // curve25519-dalek as the reference for whichever provider is compiled in.
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
    for seed in 1u8..=8 {
        let dalek = SigningKey::from_bytes(&[seed; 32]);
        let ours = LongTermKey::from_seed(&[seed; 32]);
        assert_eq!(ours.public(), dalek.verifying_key().to_bytes());
        assert_eq!(ours.seed(), &[seed; 32]);
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
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut checked = 0;
    for seed in 0u8..4 {
        let key = SigningKey::from_bytes(&[seed; 32]);
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
        let mut malleated = sig;
        malleated[32..].copy_from_slice(&add_group_order(sig[32..].try_into().unwrap()));
        cases.push((public, malleated));
        // A small-order R with the S that makes the cofactorless equation hold for the
        // identity key; and the identity and all-zero keys themselves.
        let mut small_r = sig;
        small_r[..32].copy_from_slice(&identity);
        cases.push((public, small_r));
        cases.push((identity, sig));
        cases.push((identity, small_r));
        cases.push(([0; 32], sig));
        // The signer's own forgery with R = identity: only the small-order check refuses it.
        let forged = identity_r_signature(&[seed; 32], &msg);
        assert!(!strict(&public, &msg, &forged));
        cases.push((public, forged));
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

/// `s + ℓ` as 32 little-endian bytes (for a canonical `s`, which is below 2^253).
fn add_group_order(s: [u8; 32]) -> [u8; 32] {
    let mut wide = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(GROUP_ORDER[i]) + carry;
        wide[i] = sum as u8;
        carry = sum >> 8;
    }
    wide
}

/// A signature, key or message changed the way an attacker could change it.
#[derive(Debug, Clone)]
enum Tamper {
    None,
    /// XOR a mask into signature and key.
    Flip {
        sig: [u8; 64],
        key: [u8; 32],
    },
    /// Replace `R` with one of the small-order points' encodings (`index` % 8).
    SmallR(u8),
    /// The signer, knowing its secret, signs with `R` = the identity and `S = k·a`: the
    /// cofactorless equation holds (`[S]B - [k]A = O = R`), so only the small-order check on
    /// `R` refuses it.
    IdentityR,
    /// Replace the key with a small-order point's encoding.
    SmallKey(u8),
    /// `S + ℓ` (malleation).
    Malleate,
    /// Replace the key with the key plus a point of order `2^k` (mixed order, not in the
    /// prime-order subgroup): strict verification refuses it only when `R` does not match.
    MixedKey(u8),
    /// A non-canonical key encoding: y = p + `k` (`k` % 19).
    NonCanonicalKey(u8),
    /// Arbitrary bytes.
    Random {
        sig: [u8; 64],
        key: [u8; 32],
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::None),
        (any::<[u8; 64]>(), any::<[u8; 32]>()).prop_map(|(sig, key)| Tamper::Flip { sig, key }),
        any::<u8>().prop_map(Tamper::SmallR),
        Just(Tamper::IdentityR),
        any::<u8>().prop_map(Tamper::SmallKey),
        Just(Tamper::Malleate),
        any::<u8>().prop_map(Tamper::MixedKey),
        any::<u8>().prop_map(Tamper::NonCanonicalKey),
        (any::<[u8; 64]>(), any::<[u8; 32]>()).prop_map(|(sig, key)| Tamper::Random { sig, key }),
    ]
}

/// A signature by `seed`'s key with `R` = the identity, which satisfies the cofactorless
/// verification equation (see [`Tamper::IdentityR`]).
fn identity_r_signature(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    use sha2::Digest as _;
    let hash: [u8; 64] = sha2::Sha512::digest(seed).into();
    let mut scalar = [0u8; 32];
    scalar.copy_from_slice(&hash[..32]);
    let a = Scalar::from_bytes_mod_order(clamp(scalar));
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    let mut r = [0u8; 32];
    r[0] = 1;
    let k: [u8; 64] = sha2::Sha512::new()
        .chain_update(r)
        .chain_update(public)
        .chain_update(msg)
        .finalize()
        .into();
    let s = Scalar::from_bytes_mod_order_wide(&k) * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// The encodings of the eight points of small order (the torsion subgroup).
fn small_order_points() -> Vec<[u8; 32]> {
    curve25519_dalek::constants::EIGHT_TORSION
        .iter()
        .map(|point| point.compress().to_bytes())
        .collect()
}

proptest! {
    /// Differential test of the custom strict verification against ed25519-dalek's
    /// `verify_strict` over honest, tampered, malleated, small-order and mixed-order inputs.
    #[test]
    fn verify_is_verify_strict(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        how in tamper(),
    ) {
        let key = SigningKey::from_bytes(&seed);
        let mut public = key.verifying_key().to_bytes();
        let mut sig = key.sign(&msg).to_bytes();
        match how {
            Tamper::None => {}
            Tamper::Flip { sig: mask_sig, key: mask_key } => {
                for (byte, mask) in sig.iter_mut().zip(mask_sig) {
                    // Sparse flips: mostly near-valid inputs.
                    *byte ^= mask & (mask >> 5) & (mask >> 6) & 1;
                }
                for (byte, mask) in public.iter_mut().zip(mask_key) {
                    *byte ^= mask & (mask >> 5) & (mask >> 6) & (mask >> 7) & 1;
                }
            }
            Tamper::SmallR(i) => {
                sig[..32].copy_from_slice(&small_order_points()[usize::from(i % 8)]);
            }
            Tamper::IdentityR => sig = identity_r_signature(&seed, &msg),
            Tamper::SmallKey(i) => public = small_order_points()[usize::from(i % 8)],
            Tamper::Malleate => {
                let s = add_group_order(sig[32..].try_into().unwrap());
                sig[32..].copy_from_slice(&s);
            }
            Tamper::MixedKey(i) => {
                let torsion = curve25519_dalek::constants::EIGHT_TORSION[usize::from(i % 7 + 1)];
                let point = CompressedEdwardsY(public).decompress().unwrap() + torsion;
                public = point.compress().to_bytes();
            }
            Tamper::NonCanonicalKey(k) => {
                public = [0xff; 32];
                public[0] = 0xed + k % 19;
                public[31] = 0x7f;
            }
            Tamper::Random { sig: s, key: k } => {
                sig = s;
                public = k;
            }
        }
        prop_assert_eq!(
            PeerKey::compute(&public).verify(&msg, &sig),
            strict(&public, &msg, &sig)
        );
        prop_assert_eq!(
            PeerKey::get(&public).verify(&msg, &sig),
            strict(&public, &msg, &sig)
        );
    }
}

/// With both features on, the native provider is used and the pure-Rust one is compiled too:
/// they must give the same bytes for every primitive.
#[cfg(all(feature = "native", feature = "pure-rust"))]
mod providers_agree {
    use super::super::{native, pure_rust};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hashes_and_hmac(
            key in any::<[u8; 32]>(),
            a in proptest::collection::vec(any::<u8>(), 0..300),
            b in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            prop_assert_eq!(native::sha256(&[&a, &b]), pure_rust::sha256(&[&a, &b]));
            prop_assert_eq!(native::sha512(&[&a, &b]), pure_rust::sha512(&[&a, &b]));
            prop_assert_eq!(native::hmac_sha512_256(&key, &a), pure_rust::hmac_sha512_256(&key, &a));
        }

        #[test]
        fn x25519_and_signing(secret in any::<[u8; 32]>(), peer in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (n, p) = (native::DhKey::new(&secret), pure_rust::DhKey::new(&secret));
            prop_assert_eq!(n.public(), p.public());
            // Any 32 bytes as the peer's point, low-order ones included (native refuses an
            // all-zero result itself, pure-rust returns it for the caller to refuse).
            let pure = p.exchange(&peer).filter(|s| **s != [0; 32]);
            prop_assert_eq!(n.exchange(&peer).map(|s| *s), pure.map(|s| *s));
            let (n, p) = (native::Signer::from_seed(&secret), pure_rust::Signer::from_seed(&secret));
            prop_assert_eq!(n.public(), p.public());
            prop_assert_eq!(n.sign(&msg), p.sign(&msg));
        }

        #[test]
        fn secretbox(key in any::<[u8; 32]>(), nonce in any::<[u8; 24]>(), msg in proptest::collection::vec(any::<u8>(), 0..5000), flip in any::<usize>()) {
            let (n, p) = (native::SecretBox::new(&key), pure_rust::SecretBox::new(&key));
            let mut a = msg.clone();
            let mut b = msg.clone();
            let mac_a = n.seal_detached(&nonce, &mut a);
            prop_assert_eq!(mac_a, p.seal_detached(&nonce, &mut b));
            prop_assert_eq!(&a, &b);
            // Each opens the other's box, and refuses it with one bit flipped.
            let mut boxed = [&mac_a[..], &a].concat();
            let mut tampered = boxed.clone();
            let at = flip % tampered.len();
            tampered[at] ^= 1;
            prop_assert!(n.open_in_place(&nonce, &mut tampered.clone()).is_err());
            prop_assert!(p.open_in_place(&nonce, &mut tampered).is_err());
            let mut again = boxed.clone();
            prop_assert!(p.open_in_place(&nonce, &mut boxed).is_ok());
            prop_assert!(n.open_in_place(&nonce, &mut again).is_ok());
            prop_assert_eq!(&boxed[16..], &msg[..]);
            prop_assert_eq!(&again[16..], &msg[..]);
        }
    }
}

/// ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
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
    let valid = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
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
    let key = SigningKey::from_bytes(&[5; 32]);
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
    // Shorter than a MAC: refused before the provider sees it.
    assert!(sb.open_in_place(&[2; 24], &mut [0; 15]).is_err());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
