//! The third placement: QUIC over ms-udp's [`UdpSwarm`] (a packet swarm whose MTU, 1200
//! bytes, is exactly QUIC's minimum datagram size), on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ms_quicswarm::{Config, QUIC_MIN_MTU, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::{AskSwarm, Swarm};
use ms_udp::{UdpAddr, UdpSwarm};

/// A different key for every swarm of the test process.
fn keypair() -> Keypair {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0x75; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    Keypair::from_seed(&seed)
}

async fn over_udp(n: usize) -> Vec<QuicSwarm<UdpAddr>> {
    let mut swarms = Vec::with_capacity(n);
    for _ in 0..n {
        let udp = UdpSwarm::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        swarms.push(QuicSwarm::over(udp, keypair(), Config::default()).unwrap());
    }
    swarms
}

ms_testkit::swarm_conformance!(over_udp_swarm, over_udp, [tell, ask, secure]);

/// Every QUIC packet fits the UDP swarm's 1200 bytes: a handshake (whose Initial packets are
/// padded to exactly 1200) and asks of many packets each way go through with no packet
/// refused by the UDP swarm (a refused packet would be counted as dropped on the way out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_fit_the_udp_swarms_mtu_exactly() {
    let udp_a = UdpSwarm::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let udp_b = UdpSwarm::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(udp_a.mtu(), QUIC_MIN_MTU);
    let a = QuicSwarm::over(udp_a, keypair(), Config::default()).unwrap();
    let b = Arc::new(QuicSwarm::over(udp_b, keypair(), Config::default()).unwrap());
    let server = {
        let b = b.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*b, |msg| async move { Some(msg.payload) }).await
        })
    };
    let b_addr = b.local_addrs()[0].clone();
    for size in [1, 1100, 1200, 50_000] {
        let request = Bytes::from(vec![7u8; size]);
        let answer = a.ask(&b_addr, request.clone()).await.unwrap();
        assert_eq!(answer, request);
    }
    // The largest tell that fits one datagram frame goes as one.
    a.tell(&b_addr, Bytes::from(vec![1u8; 1000])).await.unwrap();
    assert_eq!(b.receive().await.unwrap().payload.len(), 1000);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.packets_dropped_out, 0, "{sa:?}");
    assert_eq!(sb.packets_dropped_out, 0, "{sb:?}");
    assert_eq!(sa.tells_as_datagrams, 1, "{sa:?}");
    a.close().await.unwrap();
    b.close().await.unwrap();
    server.await.unwrap().unwrap();
}

/// Bursts larger than the receiving UDP swarm's queue (8 datagrams here: it drops the newest
/// when full) lose packets; QUIC's loss recovery still completes every ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_complete_when_bursts_overflow_the_udp_queue() {
    let small_queue = || UdpSwarm::builder().queue_messages(8);
    let udp_a = Arc::new(
        small_queue()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap(),
    );
    let udp_b = Arc::new(
        small_queue()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap(),
    );
    let a = Arc::new(QuicSwarm::over(udp_a.clone(), keypair(), Config::default()).unwrap());
    let b = Arc::new(QuicSwarm::over(udp_b.clone(), keypair(), Config::default()).unwrap());
    let server = {
        let b = b.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*b, |msg| async move {
                Some(Bytes::from(msg.payload.len().to_string()))
            })
            .await
        })
    };
    let b_addr = b.local_addrs()[0].clone();
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        // 4 rounds of 16 concurrent asks of 30 kB: each round is hundreds of packets at once.
        for round in 0..4u8 {
            let asks = (0..16u8).map(|i| {
                let (a, dst) = (a.clone(), b_addr.clone());
                async move {
                    let request = Bytes::from(vec![round ^ i; 30_000]);
                    let answer = a.ask(&dst, request).await.unwrap();
                    assert_eq!(&answer[..], b"30000");
                }
            });
            futures_util::future::join_all(asks).await;
        }
    })
    .await;
    let dropped = udp_a.stats().dropped + udp_b.stats().dropped;
    outcome.expect("asks stalled after the UDP swarm dropped packets");
    assert!(dropped > 0, "the bursts never overflowed the UDP queue");
    println!("UDP swarm queue drops: {dropped}");
    a.close().await.unwrap();
    b.close().await.unwrap();
    server.await.unwrap().unwrap();
}
