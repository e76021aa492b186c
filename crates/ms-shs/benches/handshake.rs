//! One complete secret-handshake, both sides in-process (no I/O): the CPU cost of a connection.

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used)] // benchmarks unwrap freely

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ms_shs::handshake::{ClientHandshake, EphemeralKey, HandshakeOutcome, ServerHandshake};
use ms_shs::{Keypair, NetworkKey};

/// Both sides of one handshake, message by message, with fresh ephemeral keys.
fn handshake(client_keys: &Keypair, server_keys: &Keypair) -> (HandshakeOutcome, HandshakeOutcome) {
    let net = NetworkKey::MAINNET;
    let (client, msg1) = ClientHandshake::new(
        net,
        client_keys.clone(),
        server_keys.public(),
        EphemeralKey::generate().unwrap(),
    )
    .unwrap();
    let server = ServerHandshake::new(net, server_keys.clone(), EphemeralKey::generate().unwrap());
    let (server, msg2) = server.read_client_hello(&msg1).unwrap();
    let (client, msg3) = client.read_server_hello(&msg2).unwrap();
    let (msg4, server_outcome) = server.read_client_auth(&msg3).unwrap().accept();
    (client.read_server_accept(&msg4).unwrap(), server_outcome)
}

fn full_handshake(c: &mut Criterion) {
    let client_keys = Keypair::from_seed(&[1; 32]);
    let server_keys = Keypair::from_seed(&[2; 32]);
    c.bench_function("handshake/full (client + server)", |b| {
        b.iter(|| black_box(handshake(&client_keys, &server_keys)))
    });
}

/// The same with a different pair of identities each time (4,096 pairs, more than the 256-slot
/// cache of validated peer keys holds): what a handshake with a peer never seen before costs.
fn full_handshake_new_peers(c: &mut Criterion) {
    let pairs: Vec<(Keypair, Keypair)> = (0..4096u32)
        .map(|i| {
            let mut a = [0u8; 32];
            let mut b = [1u8; 32];
            a[..4].copy_from_slice(&i.to_le_bytes());
            b[..4].copy_from_slice(&i.to_le_bytes());
            (Keypair::from_seed(&a), Keypair::from_seed(&b))
        })
        .collect();
    let mut next = 0;
    c.bench_function("handshake/full, peers never seen (client + server)", |b| {
        b.iter(|| {
            let (client_keys, server_keys) = &pairs[next % pairs.len()];
            next += 1;
            black_box(handshake(client_keys, server_keys))
        })
    });
}

criterion_group!(benches, full_handshake, full_handshake_new_peers);
criterion_main!(benches);
