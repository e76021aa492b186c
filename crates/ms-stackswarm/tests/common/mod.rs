//! Fixtures shared by the integration tests: swarms over mem~shs, net~shs and unix~noauth.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use ms_core::{MultiServer, Stack};
use ms_shs::{Keypair, Shs};
use ms_stackswarm::{Config, StackAddr, StackSwarm};
use ms_swarm::{AskSwarm, Swarm};
use ms_testkit::{MemNetwork, MemTransport};

pub fn mem_node(network: &MemNetwork, seed: u8) -> MultiServer {
    MultiServer::new([
        Stack::new(MemTransport::new(network)).with(Shs::new(Keypair::from_seed(&[seed; 32])))
    ])
    .unwrap()
}

pub async fn mem_swarm(network: &MemNetwork, seed: u8) -> StackSwarm {
    mem_swarm_with(network, seed, Config::default()).await
}

pub async fn mem_swarm_with(network: &MemNetwork, seed: u8, config: Config) -> StackSwarm {
    StackSwarm::builder(mem_node(network, seed))
        .config(config)
        .bind()
        .await
        .unwrap()
}

pub async fn net_swarm(seed: u8) -> StackSwarm {
    let node = MultiServer::new([
        Stack::new(ms_net::Net::new()).with(Shs::new(Keypair::from_seed(&[seed; 32])))
    ])
    .unwrap();
    StackSwarm::builder(node).bind().await.unwrap()
}

pub fn addr(swarm: &StackSwarm) -> StackAddr {
    swarm.local_addrs()[0].clone()
}

/// Waits (at most 10 s) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// Answers every ask with "re:" and the request, until the swarm closes.
pub fn echo_server(swarm: std::sync::Arc<StackSwarm>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(ask) = swarm.next_ask().await {
            let mut answer = b"re:".to_vec();
            answer.extend_from_slice(ask.payload());
            ask.respond(Bytes::from(answer));
        }
    })
}
