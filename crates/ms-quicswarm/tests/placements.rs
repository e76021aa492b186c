//! The packet swarm under a QUIC swarm can be any swarm: a channel of a multiplexed swarm
//! (beside other channels), or a fragmenting swarm that lifts a small MTU to QUIC's minimum.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use ms_quicswarm::{Config, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::frag::{FragConfig, FragSwarm};
use ms_swarm::mem::Realm;
use ms_swarm::mux::{Channel, Mux};
use ms_swarm::{AskSwarm, SecureSwarm, Swarm};

async fn tell_and_ask<A: ms_swarm::Addr>(a: &QuicSwarm<A>, b: &QuicSwarm<A>) {
    let b_addr = b.local_addrs()[0].clone();
    a.tell(&b_addr, Bytes::from_static(b"hello")).await.unwrap();
    let msg = b.receive().await.unwrap();
    assert_eq!(&msg.payload[..], b"hello");
    assert_eq!(b.lookup_public_key(&msg.src).unwrap(), a.public_key());
    let (answer, ()) = tokio::join!(a.ask(&b_addr, Bytes::from(vec![3u8; 20_000])), async {
        let ask = b.next_ask().await.unwrap();
        let n = ask.payload().len();
        ask.respond(Bytes::from(n.to_string()));
    });
    assert_eq!(&answer.unwrap()[..], b"20000");
}

/// QUIC on one channel of a mux over the mem swarm, plain messages on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_mux_channel_beside_a_plain_one() {
    let realm = Realm::new();
    let (mux_a, mux_b) = (Mux::new(realm.swarm()), Mux::new(realm.swarm()));
    let qa = QuicSwarm::over(
        mux_a.open(Channel::name("quic")).unwrap(),
        Keypair::from_seed(&[1; 32]),
        Config::default(),
    )
    .unwrap();
    let qb = QuicSwarm::over(
        mux_b.open(Channel::name("quic")).unwrap(),
        Keypair::from_seed(&[2; 32]),
        Config::default(),
    )
    .unwrap();
    let (plain_a, plain_b) = (
        mux_a.open(Channel::id(1)).unwrap(),
        mux_b.open(Channel::id(1)).unwrap(),
    );
    tell_and_ask(&qa, &qb).await;
    plain_a
        .tell(&plain_b.local_addrs()[0], Bytes::from_static(b"plain"))
        .await
        .unwrap();
    assert_eq!(&plain_b.receive().await.unwrap().payload[..], b"plain");
    qa.close().await.unwrap();
    qb.close().await.unwrap();
}

/// A mem swarm with a 600-byte MTU is refused; fragmented to 1500 bytes, QUIC runs over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_fragmenting_swarm_lifting_a_small_mtu() {
    let realm = Realm::builder().mtu(600).build();
    assert!(
        QuicSwarm::over(
            realm.swarm(),
            Keypair::from_seed(&[3; 32]),
            Config::default()
        )
        .is_err()
    );
    let frag = |s| FragSwarm::new(s, FragConfig::new().with_mtu(1500)).unwrap();
    let a = QuicSwarm::over(
        frag(realm.swarm()),
        Keypair::from_seed(&[4; 32]),
        Config::default(),
    )
    .unwrap();
    let b = QuicSwarm::over(
        frag(realm.swarm()),
        Keypair::from_seed(&[5; 32]),
        Config::default(),
    )
    .unwrap();
    tell_and_ask(&a, &b).await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}
