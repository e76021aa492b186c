//! QUIC over a packet swarm that loses, duplicates and reorders packets (the seeded mem swarm):
//! asks and streamed tells all complete, because QUIC retransmits; datagram tells are best
//! effort, and QUIC promises only that each arrives whole and at most once.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ms_quicswarm::{Config, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::mem::{Faults, Realm};
use ms_swarm::{AskSwarm, SecureSwarm, Swarm};

fn lossy_realm(seed: u64) -> Realm {
    Realm::builder()
        .mtu(1500)
        .seed(seed)
        .faults(
            Faults::none()
                .with_loss(0.1)
                .with_duplicate(0.05)
                .with_reorder(0.1, Duration::from_millis(5)),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_complete_and_tells_arrive_at_most_once_over_a_lossy_swarm() {
    let realm = lossy_realm(17);
    let a = Arc::new(
        QuicSwarm::over(
            realm.swarm(),
            Keypair::from_seed(&[1; 32]),
            Config::default(),
        )
        .unwrap(),
    );
    let b = Arc::new(
        QuicSwarm::over(
            realm.swarm(),
            Keypair::from_seed(&[2; 32]),
            Config::default(),
        )
        .unwrap(),
    );
    let b_addr = b.local_addrs()[0].clone();
    let server = {
        let b = b.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*b, |msg| async move {
                let mut answer = b"re:".to_vec();
                answer.extend_from_slice(&msg.payload);
                Some(Bytes::from(answer))
            })
            .await
        })
    };

    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        // 100 asks, 10 at a time, some larger than one packet (several packets per request).
        for round in 0..10 {
            let asks = (0..10).map(|i| {
                let (a, dst) = (a.clone(), b_addr.clone());
                async move {
                    let n: u32 = round * 10 + i;
                    let request = Bytes::from(format!(
                        "{n}:{}",
                        "x".repeat(if n.is_multiple_of(3) { 5000 } else { 10 })
                    ));
                    let answer = a.ask(&dst, request.clone()).await.unwrap();
                    assert_eq!(&answer[..3], b"re:");
                    assert_eq!(answer.slice(3..), request);
                }
            });
            futures_util::future::join_all(asks).await;
        }

        // 200 small tells (datagrams) and 20 large ones (streams, 4000 bytes > the 1500-byte
        // packets), told without waiting for the receiver.
        for i in 0..200u32 {
            a.tell(&b_addr, Bytes::from(format!("small:{i}")))
                .await
                .unwrap();
        }
        let big = |i: u32| {
            let mut v = format!("big:{i}:").into_bytes();
            v.resize(4000, i as u8);
            Bytes::from(v)
        };
        for i in 0..20u32 {
            a.tell(&b_addr, big(i)).await.unwrap();
        }
        let (mut small, mut large) = (HashSet::new(), HashSet::new());
        // Every streamed tell arrives; small ones until quiet for 2 s.
        while large.len() < 20 {
            let msg = b.receive().await.unwrap();
            assert_eq!(b.lookup_public_key(&msg.src).unwrap(), a.public_key());
            record(&msg.payload, &mut small, &mut large, &big);
        }
        while let Ok(msg) = tokio::time::timeout(Duration::from_secs(2), b.receive()).await {
            record(&msg.unwrap().payload, &mut small, &mut large, &big);
        }
        small.len()
    })
    .await;
    let small = outcome.expect("asks or streamed tells did not complete over the lossy swarm");
    let faults = realm.stats();
    println!(
        "datagram tells arrived: {small}/200; realm {faults:?}; a {:?}",
        a.stats()
    );
    assert!(
        faults.lost > 0 && faults.duplicated > 0,
        "the faults were not switched on"
    );
    assert!(small <= 200);
    a.close().await.unwrap();
    b.close().await.unwrap();
    server.await.unwrap().unwrap();
}

fn record(
    payload: &Bytes,
    small: &mut HashSet<Bytes>,
    large: &mut HashSet<Bytes>,
    big: &impl Fn(u32) -> Bytes,
) {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(12)]).into_owned();
    if let Some(rest) = text.strip_prefix("small:") {
        let i: u32 = rest.parse().unwrap();
        assert!(i < 200);
        assert!(
            small.insert(payload.clone()),
            "datagram tell {i} arrived twice"
        );
    } else {
        let i: u32 = text.split(':').nth(1).unwrap().parse().unwrap();
        assert_eq!(payload, &big(i), "a streamed tell changed on the way");
        assert!(
            large.insert(payload.clone()),
            "streamed tell {i} arrived twice"
        );
    }
}
