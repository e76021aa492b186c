//! The DHT over real connections: ms-stackswarm over mem~shs (authenticated by the secret
//! handshake, addresses are multiserver addresses).

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use ms_core::{MultiServer, Stack};
use ms_kad::{Config, Kad, NodeId};
use ms_shs::{Keypair, Shs};
use ms_stackswarm::StackSwarm;
use ms_swarm::{SecureSwarm, Swarm};
use ms_testkit::{MemNetwork, MemTransport};

#[tokio::test]
async fn put_get_and_lookups_over_the_stack_swarm() {
    let network = MemNetwork::new();
    let mut nodes = Vec::new();
    for i in 0..8u8 {
        let shs = Shs::new(Keypair::from_seed(&[i + 1; 32]));
        let server = MultiServer::new([Stack::new(MemTransport::new(&network)).with(shs)]).unwrap();
        let swarm = StackSwarm::builder(server).bind().await.unwrap();
        nodes.push(Kad::new(swarm, Config::default().with_k(4)).unwrap());
    }
    for i in 1..nodes.len() {
        let seed = nodes[i - 1].swarm().local_addrs()[0].clone();
        nodes[i].bootstrap(&[seed]).await.unwrap();
    }
    for node in &nodes {
        node.find_node(node.id()).await;
    }
    // Ids are hashes of the handshake keys.
    let ids: Vec<NodeId> = nodes
        .iter()
        .map(|n| NodeId::from_public_key(n.swarm().public_key().as_ref()))
        .collect();
    assert!(nodes.iter().zip(&ids).all(|(n, id)| n.id() == *id));
    let target = NodeId::hash(b"somewhere");
    let lookup = nodes[0].find_node(target).await;
    let mut others: Vec<NodeId> = ids[1..].to_vec();
    others.sort_by_key(|id| id.distance(&target));
    let got: Vec<NodeId> = lookup.closest.iter().map(|c| c.id).collect();
    assert_eq!(got, others[..4]);

    let key = NodeId::hash(b"over shs");
    assert!(
        nodes[2]
            .put(key, Bytes::from_static(b"sealed"))
            .await
            .unwrap()
            >= 4
    );
    for node in &nodes {
        assert_eq!(node.get(key).await, Some(Bytes::from_static(b"sealed")));
    }
    for node in &nodes {
        node.shutdown();
        node.swarm().close().await.unwrap();
    }
}
