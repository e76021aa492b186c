#![allow(missing_docs)]
//! How long a multi-address dial takes when its first alternative is a black hole: about the
//! stagger delay (250 ms), not the attempt timeout (30 s). In-memory transport, so the figure is
//! the dialling logic alone.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ms_core::{MultiServer, Scope, Stack};
use ms_testkit::{Fault, MemNetwork, MemTransport};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
    let server = runtime.block_on(node.listen()).unwrap();
    let live = server.address(Scope::Device).to_string();
    let hole = network.unused_port();
    network.set_fault(hole, Fault::BlackHole);
    let with_hole = format!("mem:{hole};{live}");

    let mut group = c.benchmark_group("dial");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("live alternative alone", |b| {
        b.to_async(&runtime)
            .iter(|| async { node.connect(&live).await.unwrap() })
    });
    group.bench_function("black hole first, then the live one", |b| {
        b.to_async(&runtime)
            .iter(|| async { node.connect(&with_hole).await.unwrap() })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
