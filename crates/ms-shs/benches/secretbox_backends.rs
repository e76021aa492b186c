//! Which XSalsa20-Poly1305 implementation should box-stream use?
//!
//! Measures seal and open of one box-stream body (100 bytes and the 4096-byte maximum) with every
//! candidate backend, detached MAC where the library offers it (that is what box-stream does).
//! libsodium is only measured with the (default) `native` feature (it is built from C sources).
//!
//! ```text
//! cargo bench -p ms-shs --bench secretbox_backends
//! ```
//! The result and the choice are recorded in `docs/decisions.md`.

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used)] // benchmarks unwrap freely

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [usize; 2] = [100, 4096];
const KEY: [u8; 32] = [7; 32];
const NONCE: [u8; 24] = [9; 24];

fn rustcrypto(c: &mut Criterion) {
    use xsalsa20poly1305::aead::{AeadInPlace, KeyInit};
    use xsalsa20poly1305::{Nonce, Tag, XSalsa20Poly1305};

    let cipher = XSalsa20Poly1305::new(&KEY.into());
    let nonce = Nonce::from(NONCE);
    let mut group = c.benchmark_group("secretbox/xsalsa20poly1305");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x42u8; size];
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| {
                let tag = cipher
                    .encrypt_in_place_detached(&nonce, b"", black_box(&mut buf))
                    .unwrap();
                black_box(tag)
            })
        });
        let plain = vec![0x42u8; size];
        let mut sealed = plain.clone();
        let tag: Tag = cipher
            .encrypt_in_place_detached(&nonce, b"", &mut sealed)
            .unwrap();
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter(|| {
                buf.copy_from_slice(&sealed);
                cipher
                    .decrypt_in_place_detached(&nonce, b"", black_box(&mut buf), &tag)
                    .unwrap();
            })
        });
    }
    group.finish();
}

fn dryoc(c: &mut Criterion) {
    use dryoc::classic::crypto_secretbox::{
        Mac, crypto_secretbox_detached, crypto_secretbox_open_detached,
    };

    let mut group = c.benchmark_group("secretbox/dryoc");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let plain = vec![0x42u8; size];
        let mut out = vec![0u8; size];
        let mut mac: Mac = [0; 16];
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| {
                crypto_secretbox_detached(&mut out, &mut mac, black_box(&plain), &NONCE, &KEY)
                    .unwrap();
                black_box(&mac);
            })
        });
        let mut sealed = vec![0u8; size];
        crypto_secretbox_detached(&mut sealed, &mut mac, &plain, &NONCE, &KEY).unwrap();
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter(|| {
                crypto_secretbox_open_detached(&mut out, black_box(&sealed), &mac, &NONCE, &KEY)
                    .unwrap();
            })
        });
    }
    group.finish();
}

#[cfg(feature = "native")]
fn libsodium(c: &mut Criterion) {
    use libsodium_rs::crypto_secretbox::{Key, Nonce, open, seal};

    libsodium_rs::ensure_init().unwrap();
    let key = Key::from_bytes(&KEY).unwrap();
    let nonce = Nonce::from_bytes(NONCE);
    let mut group = c.benchmark_group("secretbox/libsodium");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let plain = vec![0x42u8; size];
        // The safe wrapper only offers the combined, allocating form (MAC ‖ ciphertext).
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| black_box(seal(black_box(&plain), &nonce, &key)))
        });
        let sealed = seal(&plain, &nonce, &key);
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter(|| black_box(open(black_box(&sealed), &nonce, &key).unwrap()))
        });
    }
    group.finish();
}

#[cfg(not(feature = "native"))]
fn libsodium(_: &mut Criterion) {}

criterion_group!(benches, rustcrypto, dryoc, libsodium);
criterion_main!(benches);
