//! One complete secret-handshake, both sides in-process (no I/O): the CPU cost of a connection.

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used)] // benchmarks unwrap freely

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ms_shs::handshake::{ClientHandshake, EphemeralKey, ServerHandshake};
use ms_shs::{Keypair, NetworkKey};

fn full_handshake(c: &mut Criterion) {
    let net = NetworkKey::MAINNET;
    let client_keys = Keypair::from_seed(&[1; 32]);
    let server_keys = Keypair::from_seed(&[2; 32]);
    let server_pk = server_keys.public();
    c.bench_function("handshake/full (client + server)", |b| {
        b.iter(|| {
            let (client, msg1) = ClientHandshake::new(
                net,
                client_keys.clone(),
                server_pk,
                EphemeralKey::generate().unwrap(),
            )
            .unwrap();
            let server =
                ServerHandshake::new(net, server_keys.clone(), EphemeralKey::generate().unwrap());
            let (server, msg2) = server.read_client_hello(&msg1).unwrap();
            let (client, msg3) = client.read_server_hello(&msg2).unwrap();
            let (msg4, server_outcome) = server.read_client_auth(&msg3).unwrap().accept();
            let client_outcome = client.read_server_accept(&msg4).unwrap();
            black_box((client_outcome, server_outcome))
        })
    });
}

criterion_group!(benches, full_handshake);
criterion_main!(benches);
