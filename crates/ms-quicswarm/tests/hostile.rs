//! Hostile peers and packets: a certificate for another key than the one dialled, garbage
//! datagrams in the packet swarm, a packet swarm too small for QUIC.

#![allow(clippy::unwrap_used)]

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ms_quic::{CertificateRejection, QuicError};
use ms_quicswarm::{Config, QuicAddr, QuicSwarm, QuicSwarmError};
use ms_shs::Keypair;
use ms_swarm::mem::Realm;
use ms_swarm::{AskSwarm, SecureSwarm, SeedRng, Swarm, SwarmError};

fn keypair(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

/// B listens as B; A dials B's socket address with C's key: the handshake fails with
/// `CertificateRejection::UnexpectedKey { expected: C, actual: B }`, nothing reaches B, A knows no key for the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_key_than_dialled_is_refused() {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = QuicSwarm::bind(keypair(1), local, Config::default()).unwrap();
    let b = QuicSwarm::bind(keypair(2), local, Config::default()).unwrap();
    let c_key = keypair(3).public();
    let b_addr = b.local_addrs()[0].clone();
    let spoofed = QuicAddr::new(*b_addr.inner(), c_key);

    for attempt in [
        a.tell(&spoofed, Bytes::from_static(b"hi"))
            .await
            .map(|_| Bytes::new()),
        a.ask(&spoofed, Bytes::from_static(b"hi")).await,
    ] {
        let err = attempt.expect_err("a dial to the wrong key succeeded");
        let SwarmError::Unreachable {
            source: Some(source),
            ..
        } = &err
        else {
            panic!("not Unreachable with a reason: {err:?}");
        };
        match source.downcast_ref::<QuicSwarmError>() {
            Some(QuicSwarmError::Dial(QuicError::Certificate(
                CertificateRejection::UnexpectedKey { expected, actual },
            ))) => {
                assert_eq!(*expected, c_key);
                assert_eq!(*actual, b.public_key());
            }
            other => panic!("not UnexpectedKey: {other:?} ({:?})", err.source()),
        }
    }
    assert!(matches!(
        a.lookup_public_key(&spoofed),
        Err(SwarmError::KeyUnknown { .. })
    ));
    assert_eq!(a.stats().connections, 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.receive())
            .await
            .is_err(),
        "B received a message from a refused connection"
    );
    // The right key works.
    a.tell(&b_addr, Bytes::from_static(b"hello")).await.unwrap();
    let msg = b.receive().await.unwrap();
    assert_eq!(b.lookup_public_key(&msg.src).unwrap(), a.public_key());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Random bytes told to the QUIC node's packet address while honest asks run: every ask
/// completes, and the node still serves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_do_not_disturb_honest_asks() {
    let realm = Realm::new();
    let server = Arc::new(QuicSwarm::over(realm.swarm(), keypair(4), Config::default()).unwrap());
    let client = Arc::new(QuicSwarm::over(realm.swarm(), keypair(5), Config::default()).unwrap());
    let attacker = realm.swarm();
    let target = *server.local_addrs()[0].inner();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*server, |msg| async move { Some(msg.payload) }).await
        })
    };
    let stop = tokio_util_like_flag();
    let flood = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut rng = SeedRng::new(99);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let len = 1 + rng.below(1500) as usize;
                let mut junk = vec![0u8; len];
                rng.fill(&mut junk);
                // Half of them look like QUIC long-header packets.
                if sent.is_multiple_of(2) {
                    junk[0] = 0xc0 | (junk[0] & 0x0f);
                    if len > 5 {
                        junk[1..5].copy_from_slice(&1u32.to_be_bytes());
                    }
                }
                let _ = attacker.tell(&target, Bytes::from(junk)).await;
                sent += 1;
                tokio::task::yield_now().await;
            }
            sent
        })
    };
    let dst = server.local_addrs()[0].clone();
    tokio::time::timeout(Duration::from_secs(60), async {
        for i in 0..100u32 {
            let req = Bytes::from(i.to_string());
            assert_eq!(client.ask(&dst, req.clone()).await.unwrap(), req);
        }
    })
    .await
    .expect("honest asks did not complete under garbage");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.await.unwrap();
    assert!(sent > 100, "the flood did not run ({sent} packets)");
    println!("garbage packets: {sent}; server {:?}", server.stats());
    client.close().await.unwrap();
    server.close().await.unwrap();
    serving.await.unwrap().unwrap();
}

fn tokio_util_like_flag() -> Arc<std::sync::atomic::AtomicBool> {
    Arc::new(std::sync::atomic::AtomicBool::new(false))
}

/// A packet swarm with an MTU below QUIC's 1200 bytes is refused with a typed error.
#[tokio::test]
async fn packet_swarm_below_quic_minimum_is_refused() {
    let realm = Realm::builder().mtu(1199).build();
    match QuicSwarm::over(realm.swarm(), keypair(6), Config::default()) {
        Err(QuicSwarmError::MtuTooSmall {
            mtu: 1199,
            min: 1200,
        }) => {}
        other => panic!("{other:?}"),
    }
    let realm = Realm::builder().mtu(1200).build();
    let ok = QuicSwarm::over(realm.swarm(), keypair(6), Config::default()).unwrap();
    ok.close().await.unwrap();
}

/// An address the swarm did not write is refused by `parse_addr`, and a key in a parsed
/// address is not believed before a handshake proves it.
#[tokio::test]
async fn key_in_an_address_is_a_claim_until_proved() {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = QuicSwarm::bind(keypair(7), local, Config::default()).unwrap();
    let text = format!("quic:127.0.0.1:9~shs:{}", keypair(8).public().to_base64());
    let addr = a.parse_addr(&text).unwrap();
    assert!(matches!(
        a.lookup_public_key(&addr),
        Err(SwarmError::KeyUnknown { .. })
    ));
    assert!(a.parse_addr("quic:127.0.0.1:9~shs:AAAA").is_err());
    assert!(a.parse_addr("quic:127.000.0.1:9~shs:AAAA").is_err());
    a.close().await.unwrap();
}

/// A node of another SSB network (another network key) is refused by the handshake: typed,
/// and nothing is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_of_another_network_is_refused() {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let other_net = ms_shs::NetworkKey::from_bytes([9; 32]);
    let a = QuicSwarm::bind(keypair(10), local, Config::default()).unwrap();
    let b = QuicSwarm::bind(
        keypair(11),
        local,
        Config::default().with_network_key(other_net),
    )
    .unwrap();
    let b_addr = b.local_addrs()[0].clone();
    let err = a
        .tell(&b_addr, Bytes::from_static(b"hi"))
        .await
        .unwrap_err();
    let SwarmError::Unreachable {
        source: Some(source),
        ..
    } = &err
    else {
        panic!("not Unreachable with a reason: {err:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<QuicSwarmError>(),
            Some(QuicSwarmError::Dial(
                QuicError::Certificate(CertificateRejection::NetworkMismatch)
                    | QuicError::PeerNetworkMismatch
            ))
        ),
        "not a network mismatch: {err:?}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.receive())
            .await
            .is_err()
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// 150 nodes ask one node at once: beyond 64 handshakes in progress the node asks for
/// address validation (QUIC Retry) instead of keeping state at once; every honest dial still
/// completes and every ask is answered. (Asks, not tells: a datagram tell may be lost when a
/// burst overflows a socket buffer, which is what best effort means.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_handshakes_is_validated_and_served() {
    const N: usize = 150;
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Arc::new(QuicSwarm::bind(keypair(20), local, Config::default()).unwrap());
    let dst = server.local_addrs()[0].clone();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*server, |msg| async move { Some(msg.payload) }).await
        })
    };
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let mut seed = [0x77; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Arc::new(QuicSwarm::bind(Keypair::from_seed(&seed), local, Config::default()).unwrap())
        })
        .collect();
    let asks = clients.iter().enumerate().map(|(i, c)| {
        let (c, dst) = (c.clone(), dst.clone());
        tokio::spawn(async move { (i, c.ask(&dst, Bytes::from(i.to_string())).await) })
    });
    for t in futures_util::future::join_all(asks).await {
        let (i, answer) = t.unwrap();
        assert_eq!(answer.unwrap(), Bytes::from(i.to_string()));
    }
    let stats = server.stats();
    println!("burst of {N}: {stats:?}");
    assert_eq!(stats.handshakes_refused, 0);
    assert!(
        stats.handshakes_retried > 0,
        "no Retry under a burst of {N} handshakes"
    );
    for c in &clients {
        c.close().await.unwrap();
    }
    server.close().await.unwrap();
    serving.await.unwrap().unwrap();
}
