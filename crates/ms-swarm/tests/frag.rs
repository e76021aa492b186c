//! The fragmenting swarm: passes the suite over a 64-byte mem swarm, and stays bounded
//! against a hostile sender.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ms_swarm::frag::{FragConfig, FragError, FragSwarm, Reassembler};
use ms_swarm::mem::{MemSwarm, Realm};
use ms_swarm::{Swarm, SwarmError};
use tokio::time::Instant;

async fn frag_swarms(n: usize) -> Vec<FragSwarm<MemSwarm>> {
    let realm = Realm::builder().mtu(64).build();
    let config = FragConfig::new().with_mtu(4096);
    (0..n)
        .map(|_| FragSwarm::new(realm.swarm(), config.clone()).unwrap())
        .collect()
}

ms_testkit::swarm_conformance!(frag_swarms, [tell, ask, secure]);

fn fragment(id: u32, index: u16, count: u16, total: u32, chunk: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(1);
    b.put_u32(id);
    b.put_u16(index);
    b.put_u16(count);
    b.put_u32(total);
    b.put_slice(chunk);
    b.freeze()
}

#[test]
fn construction_checks_mtus() {
    let realm = Realm::builder().mtu(13).build();
    assert_eq!(
        FragSwarm::new(realm.swarm(), FragConfig::new()).unwrap_err(),
        FragError::InnerMtuTooSmall(13)
    );
    let realm = Realm::builder().mtu(14).build();
    assert!(matches!(
        FragSwarm::new(realm.swarm(), FragConfig::new().with_mtu(70_000)),
        Err(FragError::MtuTooLarge { max: 65_535, .. })
    ));
}

#[tokio::test]
async fn large_messages_are_split_and_rebuilt() {
    let s = frag_swarms(2).await;
    let data: Bytes = (0..4096u32)
        .map(|i| (i * 7) as u8)
        .collect::<Vec<_>>()
        .into();
    s[0].tell(&s[1].local_addrs()[0], data.clone())
        .await
        .unwrap();
    let msg = s[1].receive().await.unwrap();
    assert_eq!(msg.payload, data);
    assert_eq!(s[1].stats().completed, 1);
    assert_eq!(s[1].stats().partials, 0);
    assert_eq!(s[1].stats().bytes, 0);
    assert!(matches!(
        s[0].tell(&s[1].local_addrs()[0], Bytes::from(vec![0; 4097]))
            .await,
        Err(SwarmError::MtuExceeded {
            size: 4097,
            mtu: 4096
        })
    ));
}

/// A hostile sender that starts many messages and never finishes them, claims huge counts, and
/// reuses ids, cannot make the receiver hold more than its limits, and an honest message
/// still gets through.
#[tokio::test]
async fn hostile_sender_is_bounded() {
    let realm = Realm::builder().mtu(1024).build();
    let config = FragConfig::new()
        .with_mtu(1 << 20)
        .with_limits(4, 16, 64 * 1024);
    let victim = FragSwarm::new(realm.swarm(), config.clone()).unwrap();
    let honest = FragSwarm::new(realm.swarm(), config).unwrap();
    let attackers: Vec<MemSwarm> = realm.swarms(8);
    let dst = victim.local_addrs()[0];
    let chunk = vec![0xAB; 1000];
    let receiver = async {
        loop {
            let msg = victim.receive().await.unwrap();
            if msg.src == honest.local_addrs()[0] {
                return msg.payload;
            }
        }
    };
    let attack = async {
        for (k, a) in attackers.iter().enumerate() {
            for id in 0..1000u32 {
                // Never-ending messages with the largest count a header can claim.
                a.tell(&dst, fragment(id, 0, u16::MAX, 1 << 20, &chunk))
                    .await
                    .unwrap();
                // The same id again, conflicting.
                if id % 3 == 0 {
                    a.tell(&dst, fragment(id, 0, u16::MAX, 1 << 20, &[1, 2, 3]))
                        .await
                        .unwrap();
                }
                if id % 50 == 0 {
                    tokio::task::yield_now().await;
                    let stats = victim.stats();
                    assert!(stats.partials <= 16, "{} partials held", stats.partials);
                    assert!(stats.bytes <= 64 * 1024, "{} bytes held", stats.bytes);
                }
            }
            let _ = k;
        }
        let big = Bytes::from(vec![5u8; 20_000]);
        honest.tell(&dst, big.clone()).await.unwrap();
        big
    };
    let (got, sent) = tokio::join!(receiver, attack);
    assert_eq!(got, sent, "the honest message did not get through");
    let stats = victim.stats();
    assert!(stats.partials <= 16 && stats.bytes <= 64 * 1024);
    assert!(stats.evicted > 0 && stats.conflicts > 0, "{stats:?}");
}

#[test]
fn malformed_headers_are_dropped() {
    let mut r = Reassembler::new(FragConfig::new().with_mtu(1000));
    let now = Instant::now();
    for bad in [
        Bytes::new(),
        Bytes::from_static(&[9, 1, 2]),
        Bytes::from_static(&[1, 0, 0]),
        fragment(1, 2, 2, 10, b"abc"),   // index >= count
        fragment(1, 0, 1, 10, b"abc"),   // count < 2
        fragment(1, 0, 20, 10, b"abc"),  // count > total
        fragment(1, 0, 2, 1001, b"abc"), // total > mtu
        fragment(1, 0, 2, 10, b""),      // empty chunk
        fragment(1, 0, 2, 2, b"abc"),    // chunk > total
    ] {
        assert!(r.push(&0u8, now, bad).is_err());
    }
    assert_eq!(r.stats().malformed, 9);
    assert_eq!(r.stats().partials, 0);
    // Whole messages larger than the MTU too.
    let mut big = vec![0u8];
    big.extend(vec![1; 1001]);
    assert!(r.push(&0u8, now, big.into()).is_err());
}

#[test]
fn conflicts_drop_the_message() {
    let mut r = Reassembler::new(FragConfig::new());
    let now = Instant::now();
    assert_eq!(r.push(&0u8, now, fragment(1, 0, 2, 6, b"abc")), Ok(None));
    // An identical repeat is only a duplicate.
    assert!(r.push(&0u8, now, fragment(1, 0, 2, 6, b"abc")).is_err());
    assert_eq!(r.stats().partials, 1);
    // Other bytes for the same fragment: the message is dropped.
    assert!(r.push(&0u8, now, fragment(1, 0, 2, 6, b"xyz")).is_err());
    assert_eq!(r.stats().partials, 0);
    // A count that disagrees: dropped.
    assert_eq!(r.push(&0u8, now, fragment(2, 0, 2, 6, b"abc")), Ok(None));
    assert!(r.push(&0u8, now, fragment(2, 1, 3, 6, b"def")).is_err());
    assert_eq!(r.stats().partials, 0);
    // Fragments that do not add up to the total: dropped.
    assert_eq!(r.push(&0u8, now, fragment(3, 0, 2, 6, b"ab")), Ok(None));
    assert!(r.push(&0u8, now, fragment(3, 1, 2, 6, b"cd")).is_err());
    // Same id from another sender is another message.
    assert_eq!(r.push(&0u8, now, fragment(4, 0, 2, 6, b"abc")), Ok(None));
    assert_eq!(r.push(&1u8, now, fragment(4, 1, 2, 6, b"XYZ")), Ok(None));
    assert_eq!(
        r.push(&0u8, now, fragment(4, 1, 2, 6, b"def")),
        Ok(Some(Bytes::from_static(b"abcdef")))
    );
    assert_eq!(r.stats().conflicts, 3);
}

#[tokio::test(start_paused = true)]
async fn incomplete_messages_expire() {
    let mut r = Reassembler::new(FragConfig::new().with_timeout(Duration::from_secs(10)));
    assert_eq!(
        r.push(&0u8, Instant::now(), fragment(1, 0, 2, 6, b"abc")),
        Ok(None)
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    // The second half arrives too late: it starts a new incomplete message.
    assert_eq!(
        r.push(&0u8, Instant::now(), fragment(1, 1, 2, 6, b"def")),
        Ok(None)
    );
    assert_eq!(r.stats().expired, 1);
    assert_eq!(r.stats().partials, 1);
    assert_eq!(r.stats().bytes, 3 + ms_swarm::frag::FRAGMENT_OVERHEAD);
    tokio::time::advance(Duration::from_secs(11)).await;
    r.expire(Instant::now());
    assert_eq!((r.stats().partials, r.stats().bytes), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_quiet_swarm_forgets_incomplete_messages() {
    let realm = Realm::builder().mtu(64).build();
    let config = FragConfig::new()
        .with_mtu(1024)
        .with_timeout(Duration::from_secs(5));
    let victim = std::sync::Arc::new(FragSwarm::new(realm.swarm(), config).unwrap());
    let attacker = realm.swarm();
    attacker
        .tell(&victim.local_addrs()[0], fragment(1, 0, 2, 100, &[0; 50]))
        .await
        .unwrap();
    let v = victim.clone();
    let receiving = tokio::spawn(async move { v.receive().await });
    while victim.stats().partials == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(victim.stats().partials, 0);
    assert_eq!(victim.stats().expired, 1);
    receiving.abort();
}

#[tokio::test(start_paused = true)]
async fn a_lost_fragment_loses_only_its_message() {
    // Loss on the inner swarm: messages either arrive whole or not at all.
    let realm = Realm::builder()
        .mtu(64)
        .seed(3)
        .faults(ms_swarm::mem::Faults::none().with_loss(0.02))
        .build();
    let config = FragConfig::new()
        .with_mtu(1024)
        .with_timeout(Duration::from_secs(1));
    let a = FragSwarm::new(realm.swarm(), config.clone()).unwrap();
    let b = FragSwarm::new(realm.swarm(), config).unwrap();
    for i in 0..50u8 {
        a.tell(&b.local_addrs()[0], Bytes::from(vec![i; 1000]))
            .await
            .unwrap();
    }
    let mut got = 0;
    while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(2), b.receive()).await {
        assert_eq!(msg.payload.len(), 1000);
        assert!(
            msg.payload.iter().all(|&x| x == msg.payload[0]),
            "a message mixed up"
        );
        got += 1;
    }
    assert!(
        got > 0 && got < 50,
        "{got} of 50 arrived at 2% fragment loss"
    );
}
