//! Connection management and ask limits of the QUIC swarm: simultaneous dials converge, idle
//! connections close and are dialled again, deadlines, size limits.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ms_quicswarm::{Config, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::{AskSwarm, Swarm, SwarmError};

fn pair(config: Config) -> (Arc<QuicSwarm<SocketAddr>>, Arc<QuicSwarm<SocketAddr>>) {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = QuicSwarm::bind(Keypair::from_seed(&[1; 32]), local, config.clone()).unwrap();
    let b = QuicSwarm::bind(Keypair::from_seed(&[2; 32]), local, config).unwrap();
    (Arc::new(a), Arc::new(b))
}

/// Both nodes dial each other at once: two QUIC connections come up, both sides then use the
/// one dialled by the smaller key, and the other idles out, while messages keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_converge_on_one_connection() {
    let (a, b) = pair(Config::default().with_idle_timeout(Duration::from_millis(800)));
    let (a_addr, b_addr) = (a.local_addrs()[0].clone(), b.local_addrs()[0].clone());
    let (x, y) = tokio::join!(
        a.tell(&b_addr, Bytes::from_static(b"a")),
        b.tell(&a_addr, Bytes::from_static(b"b"))
    );
    x.unwrap();
    y.unwrap();
    let mut most = 0;
    // Both keep talking, every 100 ms, for 3 s: only the connection in use stays up.
    for i in 0..30u32 {
        let (x, y) = tokio::join!(
            a.tell(&b_addr, Bytes::from(i.to_string())),
            b.tell(&a_addr, Bytes::from(i.to_string()))
        );
        x.unwrap();
        y.unwrap();
        most = most.max(a.stats().quic_connections);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("most QUIC connections at once: {most}");
    assert_eq!(a.stats().quic_connections, 1, "a: {:?}", a.stats());
    assert_eq!(b.stats().quic_connections, 1, "b: {:?}", b.stats());
    // Nothing was lost on the way (32 each, all arrived).
    for s in [&a, &b] {
        for _ in 0..31 {
            tokio::time::timeout(Duration::from_secs(5), s.receive())
                .await
                .unwrap()
                .unwrap();
        }
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A connection unused for the idle timeout closes on both sides; the next tell dials again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_closes_and_is_dialled_again() {
    let (a, b) = pair(Config::default().with_idle_timeout(Duration::from_millis(300)));
    let b_addr = b.local_addrs()[0].clone();
    a.tell(&b_addr, Bytes::from_static(b"one")).await.unwrap();
    b.receive().await.unwrap();
    assert_eq!(a.stats().connections, 1);
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if a.stats().quic_connections == 0 && b.stats().quic_connections == 0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the idle connection stayed open: {:?}", a.stats());
    assert_eq!(a.stats().connections, 0);
    a.tell(&b_addr, Bytes::from_static(b"two")).await.unwrap();
    assert_eq!(&b.receive().await.unwrap().payload[..], b"two");
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// An ask nobody answers ends with `Timeout` at the asker's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_ask_times_out() {
    let (a, b) = pair(Config::default().with_ask_timeout(Duration::from_millis(300)));
    let b_addr = b.local_addrs()[0].clone();
    let held = tokio::spawn({
        let b = b.clone();
        async move { b.next_ask().await.unwrap() }
    });
    let result = a.ask(&b_addr, Bytes::from_static(b"anyone?")).await;
    assert!(matches!(result, Err(SwarmError::Timeout)), "{result:?}");
    drop(held.await.unwrap());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Requests and answers are bounded: our own limit before sending (`MtuExceeded`), the
/// peer's when it receives (refused, counted), and an answer beyond the limit is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_sizes_are_bounded() {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = QuicSwarm::bind(Keypair::from_seed(&[3; 32]), local, Config::default()).unwrap();
    let b = Arc::new(
        QuicSwarm::bind(
            Keypair::from_seed(&[4; 32]),
            local,
            Config::default().with_max_ask(1000),
        )
        .unwrap(),
    );
    let b_addr = b.local_addrs()[0].clone();
    let big = Bytes::from(vec![7u8; 2 * 1024 * 1024]);
    match a.ask(&b_addr, big).await {
        Err(SwarmError::MtuExceeded { size, mtu }) => {
            assert_eq!((size, mtu), (2 * 1024 * 1024, 1024 * 1024))
        }
        other => panic!("{other:?}"),
    }
    let server = tokio::spawn({
        let b = b.clone();
        async move {
            ms_swarm::serve_ask(&*b, |msg| async move {
                // Answers 2000 bytes to "big answer", over b's limit of 1000.
                Some(if &msg.payload[..] == b"big answer" {
                    Bytes::from(vec![1u8; 2000])
                } else {
                    msg.payload
                })
            })
            .await
        }
    });
    let too_long = a.ask(&b_addr, Bytes::from(vec![5u8; 1001])).await;
    assert!(too_long.is_err(), "b accepted a request over its limit");
    assert_eq!(b.stats().protocol_errors, 1);
    let refused = a.ask(&b_addr, Bytes::from_static(b"big answer")).await;
    assert!(matches!(refused, Err(SwarmError::Rejected)), "{refused:?}");
    let ok = a.ask(&b_addr, Bytes::from(vec![5u8; 1000])).await.unwrap();
    assert_eq!(ok.len(), 1000);
    a.close().await.unwrap();
    b.close().await.unwrap();
    server.await.unwrap().unwrap();
}

/// Streamed tells (larger than a datagram) to a node that does not receive are held back by
/// QUIC flow control once its queue and its stream slots are full, instead of piling up tasks
/// and buffers there; they all arrive once it receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tells_to_a_slow_receiver_are_held_back_then_delivered() {
    const N: usize = 40;
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a =
        Arc::new(QuicSwarm::bind(Keypair::from_seed(&[5; 32]), local, Config::default()).unwrap());
    let b = QuicSwarm::bind(
        Keypair::from_seed(&[6; 32]),
        local,
        Config::default()
            .with_queue_len(1)
            .with_streams_per_connection(4),
    )
    .unwrap();
    let b_addr = b.local_addrs()[0].clone();
    let mut sender = tokio::spawn({
        let a = a.clone();
        async move {
            for i in 0..N {
                a.tell(&b_addr, Bytes::from(vec![i as u8; 5000]))
                    .await
                    .unwrap();
            }
        }
    });
    // b does not receive: the sender cannot finish.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), &mut sender)
            .await
            .is_err(),
        "all streamed tells were taken by a node that does not receive"
    );
    let mut seen = std::collections::HashSet::new();
    while seen.len() < N {
        let msg = tokio::time::timeout(Duration::from_secs(10), b.receive())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.payload.len(), 5000);
        seen.insert(msg.payload[0]);
    }
    sender.await.unwrap();
    assert_eq!(a.stats().tells_as_streams, N as u64);
    a.close().await.unwrap();
    b.close().await.unwrap();
}
