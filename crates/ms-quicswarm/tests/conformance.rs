//! The QUIC swarm passes the swarm conformance suite in both placements: on UDP loopback
//! (quinn's own socket) and over the in-memory packet swarm (lossless).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use ms_quicswarm::{Config, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::mem::{MemAddr, Realm};

/// A different key for every swarm of the test process.
fn keypair() -> Keypair {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0x51; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    Keypair::from_seed(&seed)
}

async fn udp(n: usize) -> Vec<QuicSwarm<SocketAddr>> {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    (0..n)
        .map(|_| QuicSwarm::bind(keypair(), local, Config::default()).unwrap())
        .collect()
}

async fn udp6(n: usize) -> Vec<QuicSwarm<SocketAddr>> {
    let local: SocketAddr = "[::1]:0".parse().unwrap();
    (0..n)
        .map(|_| QuicSwarm::bind(keypair(), local, Config::default()).unwrap())
        .collect()
}

async fn mem(n: usize) -> Vec<QuicSwarm<MemAddr>> {
    let realm = Realm::new();
    (0..n)
        .map(|_| QuicSwarm::over(realm.swarm(), keypair(), Config::default()).unwrap())
        .collect()
}

ms_testkit::swarm_conformance!(over_udp, udp, [tell, ask, secure]);
ms_testkit::swarm_conformance!(over_udp6, udp6, [tell, ask, secure]);
ms_testkit::swarm_conformance!(over_mem, mem, [tell, ask, secure]);
