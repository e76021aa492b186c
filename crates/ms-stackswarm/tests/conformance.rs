//! The stack swarm passes the swarm conformance suite over mem~shs, net~shs and ws~shs
//! (127.0.0.1), and unix~noauth.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use ms_core::{MultiServer, PublicKey, Stack};
use ms_shs::{Keypair, Shs};
use ms_stackswarm::StackSwarm;
use ms_testkit::{MemNetwork, MemTransport};

/// A different key for every swarm of the test process.
fn next_seed() -> [u8; 32] {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0x5a; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    seed
}

/// A generous handshake deadline: the suite dials 90 connections at once among 10 nodes in one
/// process, on a debug build, on a shared machine; it tests the swarm, not the handshake.
fn shs() -> Shs {
    Shs::new(Keypair::from_seed(&next_seed())).timeout(std::time::Duration::from_secs(60))
}

async fn build(
    nodes: impl IntoIterator<Item = (MultiServer, Option<PublicKey>)>,
) -> Vec<StackSwarm> {
    let mut swarms = Vec::new();
    for (node, key) in nodes {
        let mut builder = StackSwarm::builder(node);
        if let Some(key) = key {
            builder = builder.public_key(key);
        }
        swarms.push(builder.bind().await.unwrap());
    }
    swarms
}

async fn mem_shs(n: usize) -> Vec<StackSwarm> {
    let network = MemNetwork::new();
    build((0..n).map(|_| {
        let shs = shs();
        let node = MultiServer::new([Stack::new(MemTransport::new(&network)).with(shs)]).unwrap();
        (node, None)
    }))
    .await
}

async fn net_shs(n: usize) -> Vec<StackSwarm> {
    build((0..n).map(|_| {
        let shs = shs();
        let node = MultiServer::new([Stack::new(ms_net::Net::new()).with(shs)]).unwrap();
        (node, None)
    }))
    .await
}

async fn ws_shs(n: usize) -> Vec<StackSwarm> {
    build((0..n).map(|_| {
        let ws = ms_ws::Ws::builder().build().unwrap();
        let node = MultiServer::new([Stack::new(ws).with(shs())]).unwrap();
        (node, None)
    }))
    .await
}

async fn unix_noauth(n: usize) -> Vec<StackSwarm> {
    build((0..n).map(|_| {
        let seed = next_seed();
        let key = PublicKey::from_bytes(seed);
        // Removed again when the swarm closes its listener.
        let path = std::env::temp_dir().join(format!(
            "ms-ss-{}-{}.sock",
            std::process::id(),
            u32::from_be_bytes([seed[0], seed[1], seed[2], seed[3]])
        ));
        let unix = ms_unix::Unix::new(path).unwrap();
        let node = MultiServer::new([Stack::new(unix).with(ms_noauth::Noauth::new(key))]).unwrap();
        (node, Some(key))
    }))
    .await
}

ms_testkit::swarm_conformance!(over_mem_shs, mem_shs, [tell, ask, secure]);
ms_testkit::swarm_conformance!(over_net_shs, net_shs, [tell, ask, secure]);
ms_testkit::swarm_conformance!(over_ws_shs, ws_shs, [tell, ask, secure]);
ms_testkit::swarm_conformance!(over_unix_noauth, unix_noauth, [tell, ask, secure]);
