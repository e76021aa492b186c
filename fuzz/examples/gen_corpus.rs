//! Writes the committed seed corpora of the fuzz targets (`fuzz/corpus/<target>/`), mostly from
//! the JS test vectors in `crates/ms-shs/tests/data/shs-vectors.json`, following each target's
//! input layout (see the doc comment of each target).
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```
//!
//! Deterministic: running it again rewrites the same files.

use std::fs;
use std::path::{Path, PathBuf};

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use multiserver_fuzz::boxmodel;
use multiserver_fuzz::fixtures::{
    BOX_KEY, BOX_NONCES, CLIENT_EPH_SEED, CLIENT_SEED, NETWORK_KEY, SERVER_EPH_SEED, SERVER_SEED,
};
use multiserver_fuzz::spec;
use sha2::{Digest, Sha512};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Self {
        let dir = root.join(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        Self { dir, count: 0 }
    }

    fn add(&mut self, name: &str, parts: &[&[u8]]) {
        fs::write(self.dir.join(name), parts.concat()).expect("write seed");
        self.count += 1;
    }
}

/// A public key with an order-8 component and a signature of `msg` by it that passes strict
/// (cofactorless, libsodium-like) verification: such a key must still be refused when it is
/// converted to X25519.
fn mixed_order_signature(msg: &[u8]) -> ([u8; 64], [u8; 32]) {
    let a = Scalar::from_bytes_mod_order([7; 32]);
    let public = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1];
    let public_bytes = public.compress().to_bytes();
    for i in 0u64.. {
        let mut wide = [0u8; 64];
        wide[..8].copy_from_slice(&i.to_le_bytes());
        let r = Scalar::from_bytes_mod_order_wide(&wide) + Scalar::ONE;
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let mut h = Sha512::new();
        h.update(big_r);
        h.update(public_bytes);
        h.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        if k.to_bytes()[0] & 7 != 0 {
            continue;
        }
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(&s.to_bytes());
        assert!(spec::verify(&public_bytes, msg, &sig), "strict verify");
        assert!(spec::ed_to_x25519(&public_bytes).is_none());
        return (sig, public_bytes);
    }
    unreachable!()
}

/// X25519 points of small order (all give an all-zero shared secret).
fn low_order_points() -> Vec<[u8; 32]> {
    let mut points = vec![[0u8; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    points.push(one);
    points.push(
        unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
            .try_into()
            .expect("32"),
    );
    points.push(
        unhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")
            .try_into()
            .expect("32"),
    );
    // p - 1 and p (non-canonical encodings).
    points.push(
        unhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
            .try_into()
            .expect("32"),
    );
    points.push(
        unhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
            .try_into()
            .expect("32"),
    );
    points
}

fn main() {
    let root = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let vectors_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/ms-shs/tests/data/shs-vectors.json");
    let vectors: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vectors_path).expect("read vectors"))
            .expect("parse vectors");
    let hs = vectors["handshake_vectors"]
        .as_array()
        .expect("handshake vectors");
    let wire = |i: usize, m: &str| unhex(hs[i]["wire"][m].as_str().expect("wire"));
    let zero = [0u8; 256];

    // ---- handshake_server: [mode][…]
    let mut c = Corpus::new(&root, "handshake_server");
    for (i, v) in hs.iter().enumerate() {
        let name = v["name"].as_str().expect("name");
        c.add(
            &format!("raw-{name}"),
            &[&[0], &wire(i, "msg1"), &wire(i, "msg3"), &[0]],
        );
        if i == 0 {
            c.add(
                "raw-reject",
                &[&[0], &wire(i, "msg1"), &wire(i, "msg3"), &[1]],
            );
            let eph = &wire(i, "msg1")[32..];
            c.add("hello-vector-key", &[&[2], eph, &wire(i, "msg3")]);
        }
    }
    c.add(
        "honest",
        &[&[1], &CLIENT_SEED, &CLIENT_EPH_SEED, &zero[..112], &[0]],
    );
    c.add(
        "honest-reject",
        &[&[1], &CLIENT_SEED, &CLIENT_EPH_SEED, &zero[..112], &[1]],
    );
    let mut mask = [0u8; 112];
    mask[111] = 0x80;
    c.add(
        "honest-tampered",
        &[&[1], &CLIENT_SEED, &CLIENT_EPH_SEED, &mask, &[0]],
    );
    for (j, p) in low_order_points().iter().enumerate() {
        c.add(&format!("hello-low-order-{j}"), &[&[2], p, &zero[..112]]);
    }
    c.add(
        "malicious-honest",
        &[&[3], &[9; 32], &[1], &CLIENT_SEED, &zero[..96]],
    );
    c.add("malicious-garbage", &[&[3], &[9; 32], &[0], &[0x42; 96]]);
    {
        // The mixed-order client key, for the ephemeral seed [9; 32].
        let eph_sk = spec::seed_to_x25519(&[9; 32]);
        let server_eph_pk = spec::x25519_base(&spec::seed_to_x25519(&SERVER_EPH_SEED));
        let ab = spec::x25519(&eph_sk, &server_eph_pk);
        let server_pk = spec::ed_public(&SERVER_SEED);
        let payload = spec::client_payload(&NETWORK_KEY, &server_pk, &spec::sha256(&[&ab]));
        let (sig, pk) = mixed_order_signature(&payload);
        c.add(
            "malicious-mixed-order-key",
            &[&[3], &[9; 32], &[0], &sig, &pk],
        );
        // An identity-point key with a zero signature.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        c.add(
            "malicious-identity-key",
            &[&[3], &[9; 32], &[0], &sig, &identity],
        );
    }
    println!("handshake_server: {} seeds", c.count);

    // ---- handshake_client
    let mut c = Corpus::new(&root, "handshake_client");
    for (i, v) in hs.iter().enumerate() {
        let name = v["name"].as_str().expect("name");
        c.add(
            &format!("raw-{name}"),
            &[&[0], &wire(i, "msg2"), &wire(i, "msg4")],
        );
    }
    c.add(
        "hello-vector-key",
        &[&[2], &wire(0, "msg2")[32..], &wire(0, "msg4")],
    );
    c.add("honest", &[&[1], &SERVER_EPH_SEED, &zero[..80]]);
    let mut mask = [0u8; 80];
    mask[20] = 1;
    c.add("honest-tampered", &[&[1], &SERVER_EPH_SEED, &mask]);
    for (j, p) in low_order_points().iter().enumerate() {
        c.add(&format!("hello-low-order-{j}"), &[&[2], p, &zero[..80]]);
    }
    c.add("malicious-honest", &[&[3], &[5; 32], &[1], &zero[..64]]);
    c.add(
        "malicious-garbage-signature",
        &[&[3], &[5; 32], &[0], &[0x42; 64]],
    );
    c.add("malicious-unboxed", &[&[3], &[5; 32], &[2], &[0x42; 80]]);
    println!("handshake_client: {} seeds", c.count);

    // ---- boxstream_decoder: [mode][split count][splits…][…]
    let mut c = Corpus::new(&root, "boxstream_decoder");
    let bv = &vectors["boxstream_vectors"][0];
    assert_eq!(unhex(bv["key"].as_str().expect("key")), BOX_KEY);
    assert_eq!(
        unhex(bv["initial_nonce"].as_str().expect("nonce")),
        BOX_NONCES[0]
    );
    let box_wire = unhex(bv["wire"].as_str().expect("wire"));
    // Header: [mode][read size u16][split count][splits…].
    c.add("raw-vector", &[&[0, 0, 0, 0], &box_wire]);
    c.add("raw-vector-split", &[&[0, 0, 0, 3, 1, 33, 7], &box_wire]);
    c.add(
        "raw-vector-truncated",
        &[&[0, 0, 0, 0], &box_wire[..box_wire.len() - 34]],
    );
    let mut flipped = box_wire.clone();
    flipped[40] ^= 1;
    c.add("raw-vector-bad-body", &[&[0, 0, 0, 0], &flipped]);
    // Valid: 2 messages (5 and 4100 bytes), goodbye, no damage.
    let two_messages: &[&[u8]] = &[
        &[2],
        &5u16.to_be_bytes(),
        b"hello",
        &4100u16.to_be_bytes(),
        &[0x78; 4100],
        &[1, 0],
    ];
    c.add(
        "valid-two-messages",
        &[&[1, 0, 0, 0], &two_messages.concat()],
    );
    c.add(
        "valid-wrapping-nonce-split",
        &[
            &[0x21, 0, 0, 2, 17, 200, 1],
            &3u16.to_be_bytes(),
            b"abc",
            &[1, 0],
        ],
    );
    c.add(
        "valid-damaged",
        &[
            &[1, 0, 0, 0, 1],
            &3u16.to_be_bytes(),
            b"abc",
            &[1, 2, 0],
            &40u16.to_be_bytes(),
            &[4],
        ],
    );
    // Crafted: honest frame, zero-length body, bad tag, 65535-byte announcement, goodbye.
    let mut crafted = vec![5u8];
    crafted.extend_from_slice(&[0]);
    crafted.extend_from_slice(&4u16.to_be_bytes());
    crafted.extend_from_slice(b"four");
    crafted.extend_from_slice(&[0]);
    crafted.extend_from_slice(&0u16.to_be_bytes());
    crafted.extend_from_slice(&[1]);
    crafted.extend_from_slice(&2u16.to_be_bytes());
    crafted.extend_from_slice(b"xy");
    crafted.extend_from_slice(&[3, 0x55]);
    crafted.extend_from_slice(&[3]);
    crafted.extend_from_slice(&[0xff, 0xff]);
    crafted.extend_from_slice(&[0xaa; 16]);
    crafted.extend_from_slice(&10u16.to_be_bytes());
    crafted.extend_from_slice(&[0x11; 10]);
    crafted.extend_from_slice(&[2]);
    crafted.extend_from_slice(&[0]);
    c.add("crafted-mixed", &[&[2, 0, 0, 1, 50], &crafted]);
    c.add(
        "crafted-goodbye-then-junk",
        &[&[2, 0, 0, 0, 2, 2, 2], b"junk after goodbye"],
    );
    // Through BoxStream (mode bit 6): the vector's client-to-server wire, read 7 bytes at a
    // time and delivered in 100-byte chunks; the same messages encoded; a crafted stream.
    let c2s = unhex(
        hs[0]["boxstream_after_handshake"]["c2s_wire"]
            .as_str()
            .expect("c2s wire"),
    );
    c.add("stream-vector", &[&[0x40, 0, 7, 1, 100], &c2s]);
    c.add("stream-vector-whole", &[&[0x40, 0, 0, 0], &c2s]);
    c.add(
        "stream-valid",
        &[&[0x41, 0xff, 0xff, 0], &two_messages.concat()],
    );
    c.add("stream-crafted", &[&[0x42, 0, 3, 1, 50], &crafted]);
    println!("boxstream_decoder: {} seeds", c.count);
    // The model must agree with the vector.
    let model = boxmodel::model_decode(&BOX_KEY, &BOX_NONCES[0], &box_wire);
    assert_eq!(model.end, boxmodel::End::Goodbye);

    // ---- ws_framing: [mode][…]
    let mut c = Corpus::new(&root, "ws_framing");
    let upgrade = b"GET /path HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let mut frames = Vec::new();
    // Masked binary "hello", a ping, then close 1000.
    frames.extend_from_slice(&[0x82, 0x85, 1, 2, 3, 4]);
    frames.extend(
        b"hello"
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
    );
    frames.extend_from_slice(&[0x89, 0x80, 0, 0, 0, 0]);
    frames.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    c.add("http-upgrade", &[&[0], upgrade]);
    c.add("http-upgrade-frames", &[&[0], upgrade, &frames]);
    c.add(
        "http-get",
        &[&[0], b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"],
    );
    c.add(
        "http-post",
        &[&[0], b"POST /echo?x=1 HTTP/1.1\r\nContent-Length: 5\r\nX-Echo: e\r\nX-Name: X-Made-Up\r\n\r\nhello"],
    );
    c.add(
        "http-head",
        &[&[0], b"HEAD / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"],
    );
    c.add(
        "http-chunked",
        &[
            &[0],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ],
    );
    c.add(
        "http-too-large",
        &[&[0], b"POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n"],
    );
    c.add(
        "http-bad-version",
        &[&[0], b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: a\r\n\r\n"],
    );
    c.add(
        "http-garbage",
        &[&[0], b"\x16\x03\x01\x00\xa5 hello\r\n\r\n"],
    );
    c.add("http-partial", &[&[0], b"GET / HT"]);
    c.add("frames-raw", &[&[1], &frames]);
    c.add(
        "frames-valid",
        &[
            &[2, 3, 0x0c, 1, 2, 3, 4, 0, 9],
            b"fragments",
            &[1, 0, 0, 0, 0, 0, 4],
            b"text",
            &[4, 0, 0, 0, 0, 0, 0],
        ],
    );
    c.add("url", &[&[3], b"ws://Example.com:8989/room?x=1"]);
    c.add("url-v6", &[&[3], b"wss://[::1]:443"]);
    println!("ws_framing: {} seeds", c.count);

    // Sanity: the fixed keys are the first vector's.
    let inputs = &hs[0]["inputs"];
    let field = |k: &str| unhex(inputs[k].as_str().expect("field"));
    assert_eq!(field("app_key"), NETWORK_KEY);
    assert_eq!(field("server_longterm_seed"), SERVER_SEED);
    assert_eq!(field("server_ephemeral_seed"), SERVER_EPH_SEED);
    assert_eq!(field("client_longterm_seed_configured"), CLIENT_SEED);
    assert_eq!(field("client_ephemeral_seed"), CLIENT_EPH_SEED);
}
