//! Shared pieces of the fuzz targets (not fuzzed themselves):
//!
//! - [`Input`]: reads the fuzzer's bytes as a stream of fields, padding with zeros when it runs
//!   out, so that every input (even the empty one) means something;
//! - [`fixtures`]: the fixed keys, taken from the `mainnet-appkey-basic` JS test vector so that
//!   the vector's wire bytes are valid inputs;
//! - [`spec`]: an independent, from-the-spec implementation of the SHS and box-stream
//!   cryptography (RustCrypto secretbox, dalek curves), used to play a malicious peer that knows
//!   its own secrets and to check the crate's results;
//! - [`boxmodel`]: a reference box-stream decoder built on [`spec`], and a driver that feeds the
//!   crate's decoder in chunks the way its async layer does.
#![forbid(unsafe_code)]

/// A cursor over the fuzzer's input. Reads past the end give zeros (or empty slices).
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the input.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// One byte (0 at the end).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    /// `N` bytes, zero-padded at the end of the input.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// XORs `mask` onto `buf` and tells whether anything changed.
pub fn xor_in(buf: &mut [u8], mask: &[u8]) -> bool {
    let mut changed = false;
    for (b, m) in buf.iter_mut().zip(mask) {
        *b ^= m;
        changed |= *m != 0;
    }
    changed
}

/// Decodes lowercase hex at compile time.
pub const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 2 * N, "wrong hex length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Fixed keys: those of the `mainnet-appkey-basic` vector in
/// `crates/ms-shs/tests/data/shs-vectors.json`, and the key and first nonce of its
/// `nonce-carry` box-stream vector.
pub mod fixtures {
    use super::hex;

    /// The SSB main network key.
    pub const NETWORK_KEY: [u8; 32] =
        hex("d4a1cb88a66f02f8db635ce26441cc5dac1b08420ceaac230839b755845a9ffb");
    /// The server's long-term Ed25519 seed.
    pub const SERVER_SEED: [u8; 32] =
        hex("4ee40a108cee260aedda4e24bdec91b2bffb5f37995c4a19a1b6d44520c45357");
    /// The server's ephemeral seed (X25519 secret = clamp(SHA-512(seed)[..32])).
    pub const SERVER_EPH_SEED: [u8; 32] =
        hex("06c2a57379aef60d9ee86bba73aa2923a0af142a8faf631e2525a493b395fe42");
    /// The client's long-term Ed25519 seed.
    pub const CLIENT_SEED: [u8; 32] =
        hex("bcd13ecb72aaae8d1e80a348bbcce88117f46c899ff8f9bcb5fdc29a8f4786f2");
    /// The client's ephemeral seed.
    pub const CLIENT_EPH_SEED: [u8; 32] =
        hex("baee5be6cd712b0cba36bbcb21cb0c61320f47c16011d7acc0b01ecc94de7890");

    /// Box-stream key of the `nonce-carry` vector.
    pub const BOX_KEY: [u8; 32] =
        hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    /// Initial nonces the box-stream target chooses from: the vector's (its low 32 bits carry
    /// after one frame), zero, and one that wraps around to zero within two frames.
    pub const BOX_NONCES: [[u8; 24]; 3] = [
        hex("0000000000000000000000000000000000000000fffffffe"),
        [0; 24],
        hex("fffffffffffffffffffffffffffffffffffffffffffffffd"),
    ];
}

/// The SHS v1 and box-stream primitives and derivations, written from the protocol
/// description, independently of `ms-shs`'s private crypto module.
pub mod spec {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::montgomery::MontgomeryPoint;
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256, Sha512};
    use xsalsa20poly1305::aead::AeadInPlace;
    use xsalsa20poly1305::{Tag, XSalsa20Poly1305};

    /// Poly1305 tag length.
    pub const MAC_LEN: usize = 16;

    /// `crypto_auth`: HMAC-SHA-512 truncated to 32 bytes.
    pub fn auth(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(&full[..32]);
        out
    }

    /// SHA-256 of the concatenation.
    pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    /// The X25519 secret the JS derives from an Ed25519 seed: clamp(SHA-512(seed)[..32]).
    pub fn seed_to_x25519(seed: &[u8; 32]) -> [u8; 32] {
        let h: [u8; 64] = Sha512::digest(seed).into();
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        s
    }

    /// X25519 public key.
    pub fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
    }

    /// X25519 (all zeros for a low-order point; the caller decides what that means).
    pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint(*public).mul_clamped(*secret).to_bytes()
    }

    /// The Ed25519 public key of a seed.
    pub fn ed_public(seed: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(seed).verifying_key().to_bytes()
    }

    /// An Ed25519 public key as X25519, refused (like libsodium, and canonical-only like
    /// `ms-shs`) unless it is a canonical encoding of a point of the prime-order subgroup.
    pub fn ed_to_x25519(public: &[u8; 32]) -> Option<[u8; 32]> {
        let c = CompressedEdwardsY(*public);
        let p = c.decompress()?;
        if p.is_small_order() || !p.is_torsion_free() || p.compress() != c {
            return None;
        }
        Some(p.to_montgomery().to_bytes())
    }

    /// Ed25519 detached signature.
    pub fn sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(seed).sign(msg).to_bytes()
    }

    /// libsodium's `crypto_sign_verify_detached`: canonical key and `S`, neither the key nor
    /// `R` of small order.
    pub fn verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        let canonical = CompressedEdwardsY(*public)
            .decompress()
            .is_some_and(|p| p.compress().0 == *public);
        canonical
            && VerifyingKey::from_bytes(public)
                .is_ok_and(|k| k.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
    }

    fn cipher(key: &[u8; 32]) -> XSalsa20Poly1305 {
        <XSalsa20Poly1305 as xsalsa20poly1305::KeyInit>::new(key.into())
    }

    /// Encrypts `buf` in place and returns the tag (`crypto_secretbox_detached`).
    pub fn seal_detached(key: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> [u8; MAC_LEN] {
        cipher(key)
            .encrypt_in_place_detached(nonce.into(), b"", buf)
            .expect("short message")
            .into()
    }

    /// `crypto_secretbox_easy`: tag ‖ ciphertext.
    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], plain: &[u8]) -> Vec<u8> {
        let mut body = plain.to_vec();
        let tag = seal_detached(key, nonce, &mut body);
        let mut out = tag.to_vec();
        out.extend_from_slice(&body);
        out
    }

    /// `crypto_secretbox_open_easy` of tag ‖ ciphertext.
    pub fn open(key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
        if boxed.len() < MAC_LEN {
            return None;
        }
        let (tag, ct) = boxed.split_at(MAC_LEN);
        let mut body = ct.to_vec();
        cipher(key)
            .decrypt_in_place_detached(nonce.into(), b"", &mut body, Tag::from_slice(tag))
            .ok()?;
        Some(body)
    }

    /// Message 1 or 2: `auth(eph_pk, K) ‖ eph_pk`.
    pub fn hello(network_key: &[u8; 32], eph_pk: &[u8; 32]) -> [u8; 64] {
        let mut m = [0u8; 64];
        m[..32].copy_from_slice(&auth(network_key, eph_pk));
        m[32..].copy_from_slice(eph_pk);
        m
    }

    /// What the client signs: `K ‖ B ‖ sha256(ab)`.
    pub fn client_payload(net: &[u8; 32], server_pk: &[u8; 32], hash_ab: &[u8; 32]) -> Vec<u8> {
        [&net[..], server_pk, hash_ab].concat()
    }

    /// What the server signs: `K ‖ sig_a ‖ A ‖ sha256(ab)`.
    pub fn server_payload(
        net: &[u8; 32],
        sig_a: &[u8; 64],
        client_pk: &[u8; 32],
        hash_ab: &[u8; 32],
    ) -> Vec<u8> {
        [&net[..], sig_a, client_pk, hash_ab].concat()
    }

    /// Session keys derived from the message-4 box key: (key for the stream sent to the owner of
    /// `receiver_pk`).
    pub fn stream_key(msg4_key: &[u8; 32], receiver_pk: &[u8; 32]) -> [u8; 32] {
        let master = sha256(&[msg4_key]);
        sha256(&[&master, receiver_pk])
    }

    /// Adds `by` to a 24-byte big-endian counter, wrapping.
    pub fn nonce_add(nonce: &mut [u8; 24], by: u8) {
        let mut carry = u16::from(by);
        for b in nonce.iter_mut().rev() {
            let sum = u16::from(*b) + carry;
            *b = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
    }
}

/// A reference box-stream decoder and a driver for the crate's.
pub mod boxmodel {
    use ms_shs::BoxStreamError;
    use ms_shs::boxstream::Decoder;

    use super::spec::{self, MAC_LEN};

    /// Header box length on the wire.
    pub const HEADER_LEN: usize = 34;

    /// How a decoding ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum End {
        /// The goodbye frame was read.
        Goodbye,
        /// Decoding failed, or the input ended without the goodbye (the `check_eof` error).
        Error(BoxStreamError),
    }

    /// Plaintext delivered, and how it ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Decoded {
        /// Concatenated plaintext of the frames that decoded.
        pub plain: Vec<u8>,
        /// Where each frame's plaintext ended in `plain` (frame boundaries).
        pub frame_ends: Vec<usize>,
        /// How it ended.
        pub end: End,
    }

    /// What a correct decoder makes of the whole `wire` followed by end of input.
    pub fn model_decode(key: &[u8; 32], nonce: &[u8; 24], wire: &[u8]) -> Decoded {
        let mut nonce = *nonce;
        let mut plain = Vec::new();
        let mut frame_ends = Vec::new();
        let mut rest = wire;
        let end = loop {
            if rest.len() < HEADER_LEN {
                break End::Error(if rest.is_empty() {
                    BoxStreamError::MissingGoodbye
                } else {
                    BoxStreamError::TruncatedFrame {
                        got: rest.len(),
                        wanted: HEADER_LEN,
                    }
                });
            }
            let Some(header) = spec::open(key, &nonce, &rest[..HEADER_LEN]) else {
                break End::Error(BoxStreamError::InvalidHeader);
            };
            rest = &rest[HEADER_LEN..];
            if header.iter().all(|&b| b == 0) {
                break End::Goodbye;
            }
            let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
            if rest.len() < len {
                break End::Error(BoxStreamError::TruncatedFrame {
                    got: rest.len(),
                    wanted: len,
                });
            }
            let mut body_nonce = nonce;
            spec::nonce_add(&mut body_nonce, 1);
            let boxed = [&header[2..], &rest[..len]].concat();
            let Some(body) = spec::open(key, &body_nonce, &boxed) else {
                break End::Error(BoxStreamError::InvalidBody);
            };
            plain.extend_from_slice(&body);
            frame_ends.push(plain.len());
            rest = &rest[len..];
            spec::nonce_add(&mut nonce, 2);
        };
        Decoded {
            plain,
            frame_ends,
            end,
        }
    }

    /// Seals a frame whose header plaintext (length ‖ body tag, or 18 zeros for goodbye) and
    /// body ciphertext are chosen by the caller, as a sender who knows the key can.
    pub fn raw_frame(
        key: &[u8; 32],
        nonce: &mut [u8; 24],
        header_plain: &[u8; 18],
        body_ct: &[u8],
    ) -> Vec<u8> {
        let mut out = spec::seal(key, nonce, header_plain);
        out.extend_from_slice(body_ct);
        spec::nonce_add(nonce, 2);
        out
    }

    /// Encrypts `plain` as the body of the frame at `nonce` and returns (tag, ciphertext).
    pub fn body(key: &[u8; 32], nonce: &[u8; 24], plain: &[u8]) -> ([u8; MAC_LEN], Vec<u8>) {
        let mut body_nonce = *nonce;
        spec::nonce_add(&mut body_nonce, 1);
        let mut ct = plain.to_vec();
        let tag = spec::seal_detached(key, &body_nonce, &mut ct);
        (tag, ct)
    }

    /// Feeds `wire` to the crate's decoder in chunks (sizes taken in turn from `splits`; 0 means
    /// "all the rest"), the way `BoxStream` does: append, decode, drop what was consumed; at the
    /// end of input, `check_eof`. Checks the decoder's own invariants on the way and returns the
    /// plaintext and how it ended.
    pub fn drive(decoder: &mut Decoder, wire: &[u8], splits: &[u16]) -> (Vec<u8>, End) {
        let mut buf: Vec<u8> = Vec::new();
        let mut plain = Vec::new();
        let mut rest = wire;
        let mut i = 0;
        loop {
            let n = match splits.get(i % splits.len().max(1)) {
                Some(&s) if s > 0 => usize::from(s).min(rest.len()),
                _ => rest.len(),
            };
            i += 1;
            let (chunk, after) = rest.split_at(n);
            rest = after;
            buf.extend_from_slice(chunk);
            match decoder.decode(&buf, &mut plain) {
                Ok(progress) => {
                    assert!(progress.consumed <= buf.len(), "consumed more than given");
                    buf.drain(..progress.consumed);
                    if progress.goodbye {
                        assert!(decoder.is_finished());
                        assert_eq!(decoder.next_len(), 0);
                        assert_eq!(decoder.check_eof(buf.len()), Ok(()));
                        return (plain, End::Goodbye);
                    }
                    assert!(
                        buf.len() < decoder.next_len(),
                        "decode stopped with {} bytes buffered but the next part needs only {}",
                        buf.len(),
                        decoder.next_len()
                    );
                    assert!(!decoder.is_finished());
                }
                Err(e) => {
                    // Frames before the failing one in this call stay decoded (the reference
                    // comparison checks them). Poisoned: the same error again, whatever comes
                    // next, and no more plaintext.
                    let decoded = plain.len();
                    assert_eq!(decoder.decode(&buf, &mut plain), Err(e.clone()));
                    assert_eq!(decoder.decode(&[], &mut plain), Err(e.clone()));
                    assert_eq!(decoder.check_eof(0), Err(e.clone()));
                    assert_eq!(plain.len(), decoded);
                    return (plain, End::Error(e));
                }
            }
            if rest.is_empty() {
                let e = match decoder.check_eof(buf.len()) {
                    Ok(()) => panic!("check_eof succeeded before the goodbye"),
                    Err(e) => e,
                };
                if e == BoxStreamError::MissingGoodbye {
                    assert!(decoder.is_between_frames() && buf.is_empty());
                }
                if decoder.is_between_frames() {
                    assert!(matches!(
                        e,
                        BoxStreamError::MissingGoodbye
                            | BoxStreamError::TruncatedFrame {
                                wanted: HEADER_LEN,
                                ..
                            }
                    ));
                }
                return (plain, End::Error(e));
            }
        }
    }
}
