//! Box-stream costs: sealing and opening one frame (100 bytes and the 4096-byte maximum), and
//! one-way throughput of `BoxStream` over an in-memory pipe (encrypt and decrypt on two tasks).

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used)] // benchmarks unwrap freely

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ms_shs::boxstream::{BODY_MAC_ROOM, Decoder, Encoder, HEADER_LEN, Header};
use ms_shs::handshake::{ClientHandshake, EphemeralKey, HandshakeOutcome, ServerHandshake};
use ms_shs::{BoxStream, Keypair, NetworkKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: [u8; 32] = [3; 32];
const NONCE: [u8; 24] = [4; 24];

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("boxstream/frame");
    for size in [100usize, 4096] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut encoder = Encoder::new(&KEY, NONCE);
        let mut frame = vec![0x61u8; HEADER_LEN + size];
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter(|| encoder.seal_frame_in_place(black_box(&mut frame)))
        });

        // Open needs frames sealed with successive nonces: pre-seal a batch and cycle it.
        const BATCH: usize = 256;
        let mut encoder = Encoder::new(&KEY, NONCE);
        let mut wire = Vec::new();
        for _ in 0..BATCH {
            encoder.encode(&vec![0x61u8; size], &mut wire);
        }
        let frame_len = HEADER_LEN + size;
        let mut scratch = vec![0u8; BODY_MAC_ROOM + size];
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BATCH as u64) as usize;
                    let mut decoder = Decoder::new(&KEY, NONCE);
                    let start = std::time::Instant::now();
                    for i in 0..n {
                        let f = &wire[i * frame_len..(i + 1) * frame_len];
                        let header: &[u8; HEADER_LEN] = f[..HEADER_LEN].try_into().unwrap();
                        assert_eq!(decoder.read_header(header).unwrap(), Header::Body(size));
                        scratch[BODY_MAC_ROOM..].copy_from_slice(&f[HEADER_LEN..]);
                        decoder.read_body_in_place(black_box(&mut scratch)).unwrap();
                    }
                    total += start.elapsed();
                    left -= n as u64;
                }
                total
            })
        });
    }
    group.finish();
}

fn sessions() -> (HandshakeOutcome, HandshakeOutcome) {
    let net = NetworkKey::MAINNET;
    let server = Keypair::from_seed(&[2; 32]);
    let (c, m1) = ClientHandshake::new(
        net,
        Keypair::from_seed(&[1; 32]),
        server.public(),
        EphemeralKey::generate().unwrap(),
    )
    .unwrap();
    let (s, m2) = ServerHandshake::new(net, server, EphemeralKey::generate().unwrap())
        .read_client_hello(&m1)
        .unwrap();
    let (c, m3) = c.read_server_hello(&m2).unwrap();
    let (m4, so) = s.read_client_auth(&m3).unwrap().accept();
    (c.read_server_accept(&m4).unwrap(), so)
}

/// Writer and reader on two runtime threads, connected by tokio's in-memory duplex pipe.
fn throughput(c: &mut Criterion) {
    const TOTAL: usize = 64 * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("boxstream/stream");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.bench_function("one-way 64 MiB, 64 KiB writes", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (a, z) = tokio::io::duplex(256 * 1024);
                let (client, server) = sessions();
                let mut tx = BoxStream::new(a, client);
                let mut rx = BoxStream::new(z, server);
                let writer = tokio::spawn(async move {
                    let chunk = vec![0x5au8; 64 * 1024];
                    for _ in 0..TOTAL / chunk.len() {
                        tx.write_all(&chunk).await.unwrap();
                    }
                    tx.shutdown().await.unwrap();
                });
                let reader = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut got = 0;
                    loop {
                        let n = rx.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                    assert_eq!(got, TOTAL);
                });
                writer.await.unwrap();
                reader.await.unwrap();
            })
        })
    });
    group.finish();
}

criterion_group!(benches, frames, throughput);
criterion_main!(benches);
