//! 50 DHT nodes over the in-memory swarm with 10 ms (± 5 ms) latency per message: they join
//! one after another, one node puts a value, every other node gets it.
//!
//! `cargo run -p ms-kad --example dht`

use std::time::Duration;

use bytes::Bytes;
use ms_kad::{Config, Kad, KadError, NodeId};
use ms_swarm::mem::{Faults, Realm};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), KadError> {
    let realm = Realm::builder()
        .seed(42)
        .faults(Faults::none().with_latency(Duration::from_millis(10), Duration::from_millis(5)))
        .build();
    let nodes: Vec<_> = (0..50)
        .map(|_| Kad::new(realm.swarm(), Config::default()))
        .collect::<Result<_, _>>()?;
    let start = tokio::time::Instant::now();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        // Each node joins through the one before it.
        node.bootstrap(&[nodes[i - 1].swarm().addr()]).await?;
    }
    let tables: usize = nodes.iter().map(|n| n.table_len()).sum();
    println!(
        "50 nodes joined in {:?} of simulated time; {:.1} contacts per routing table",
        start.elapsed(),
        tables as f64 / 50.0
    );

    let key = NodeId::hash(b"the answer");
    let stored = nodes[7].put(key, Bytes::from_static(b"42")).await?;
    println!(
        "node {} put the value; {stored} nodes store it",
        nodes[7].id()
    );

    let mut hops = 0;
    for node in &nodes {
        let lookup = node.get_lookup(key).await;
        let value = lookup.value.map(|v| v.value);
        assert_eq!(
            value.as_deref(),
            Some(&b"42"[..]),
            "node {} did not find it",
            node.id()
        );
        hops += lookup.hops;
    }
    println!(
        "all 50 nodes got it, {:.2} hops on average ({:?} of simulated time so far)",
        f64::from(hops) / 50.0,
        start.elapsed()
    );
    for node in &nodes {
        node.shutdown();
    }
    Ok(())
}
