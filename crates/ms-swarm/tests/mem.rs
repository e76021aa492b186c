//! The in-memory swarm's own behaviour: seeded faults, queue limits, freed addresses.

use std::time::Duration;

use bytes::Bytes;
use ms_swarm::mem::{Faults, MemAddr, MemSwarm, Realm};
use ms_swarm::{AskSwarm, SecureSwarm, Swarm, SwarmError};

/// Sends `n` numbered tells from a fresh node to another, then collects what arrived (in
/// arrival order) until nothing more comes for a (paused-clock) second.
async fn run(realm: &Realm, n: u32) -> Vec<u32> {
    let (a, b) = (realm.swarm(), realm.swarm());
    for i in 0..n {
        a.tell(&b.addr(), Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    collect(&b).await
}

async fn collect(b: &MemSwarm) -> Vec<u32> {
    let mut got = Vec::new();
    while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(1), b.receive()).await {
        got.push(u32::from_be_bytes(msg.payload[..].try_into().unwrap()));
    }
    got
}

fn lossy(seed: u64) -> Realm {
    Realm::builder()
        .seed(seed)
        .faults(Faults::none().with_loss(0.3))
        .build()
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_losses() {
    let first = run(&lossy(42), 200).await;
    let again = run(&lossy(42), 200).await;
    let other = run(&lossy(43), 200).await;
    assert_eq!(first, again, "the same seed lost different messages");
    assert_ne!(first, other, "another seed lost the same messages");
    assert!(
        first.len() > 100 && first.len() < 180,
        "30% loss kept {}",
        first.len()
    );
    assert!(
        first.windows(2).all(|w| w[0] < w[1]),
        "loss alone reordered"
    );
}

#[tokio::test(start_paused = true)]
async fn losses_are_counted() {
    let realm = lossy(7);
    let got = run(&realm, 100).await;
    let stats = realm.stats();
    assert_eq!(stats.lost as usize, 100 - got.len());
    assert_eq!(stats.delivered as usize, got.len());
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_seeded() {
    let realm = || {
        Realm::builder()
            .seed(5)
            .faults(Faults::none().with_duplicate(0.2))
            .build()
    };
    let r = realm();
    let got = run(&r, 100).await;
    assert_eq!(got.len(), 100 + r.stats().duplicated as usize);
    assert!(got.len() > 100, "no duplicate at 20%");
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique, (0..100).collect::<Vec<_>>(), "a message was lost");
    assert_eq!(
        run(&realm(), 100).await,
        got,
        "the same seed duplicated differently"
    );
}

#[tokio::test(start_paused = true)]
async fn reordering_holds_messages_back() {
    let realm = Realm::builder()
        .seed(9)
        .faults(Faults::none().with_reorder(0.2, Duration::from_millis(50)))
        .build();
    let (a, b) = (realm.swarm(), realm.swarm());
    for i in 0..100u32 {
        a.tell(&b.addr(), Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let got = collect(&b).await;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..100).collect::<Vec<_>>(),
        "reordering lost or duplicated"
    );
    assert_ne!(got, sorted, "nothing was reordered at 20%");
}

#[tokio::test(start_paused = true)]
async fn latency_delays_tells_and_asks() {
    let latency = Duration::from_millis(200);
    let realm = Realm::builder()
        .faults(Faults::none().with_latency(latency, Duration::ZERO))
        .build();
    let (a, b) = (realm.swarm(), realm.swarm());
    let start = tokio::time::Instant::now();
    a.tell(&b.addr(), Bytes::from_static(b"slow"))
        .await
        .unwrap();
    b.receive().await.unwrap();
    assert!(start.elapsed() >= latency, "the tell arrived early");

    let start = tokio::time::Instant::now();
    let dst = b.addr();
    let (answer, ()) = tokio::join!(a.ask(&dst, Bytes::from_static(b"q")), async {
        b.next_ask()
            .await
            .unwrap()
            .respond(Bytes::from_static(b"r"))
    });
    assert_eq!(&answer.unwrap()[..], b"r");
    assert!(start.elapsed() >= latency, "the ask arrived early");
}

#[tokio::test]
async fn full_queue_drops_tells() {
    let realm = Realm::builder().queue_len(2).build();
    let (a, b) = (realm.swarm(), realm.swarm());
    for i in 0..5u8 {
        a.tell(&b.addr(), Bytes::from(vec![i])).await.unwrap();
    }
    assert_eq!(realm.stats().queue_full, 3);
    assert_eq!(&b.receive().await.unwrap().payload[..], [0]);
    assert_eq!(&b.receive().await.unwrap().payload[..], [1]);
}

#[tokio::test]
async fn closing_frees_the_address() {
    let realm = Realm::new();
    let (a, b) = (realm.swarm(), realm.swarm());
    let gone = b.addr();
    assert_eq!(realm.len(), 2);
    b.close().await.unwrap();
    assert_eq!(realm.len(), 1, "the closed node is still in the realm");
    assert!(matches!(
        a.ask(&gone, Bytes::from_static(b"x")).await,
        Err(SwarmError::Unreachable { .. })
    ));
    a.tell(&gone, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(realm.stats().no_such_node, 1);
    let c = realm.swarm();
    assert_ne!(c.addr(), gone, "a freed number was handed out again");
    // Its key is still known, to attribute what it sent.
    assert!(a.lookup_public_key(&gone).is_ok());
    drop(c);
    assert_eq!(realm.len(), 1, "dropping a node does not free it");
}

#[tokio::test]
async fn unknown_addresses() {
    let realm = Realm::new();
    let a = realm.swarm();
    let nobody = MemAddr::new(999);
    a.tell(&nobody, Bytes::from_static(b"x")).await.unwrap();
    match a.ask(&nobody, Bytes::from_static(b"x")).await {
        Err(SwarmError::Unreachable { addr, .. }) => assert_eq!(addr, "999"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.lookup_public_key(&nobody),
        Err(SwarmError::KeyUnknown { .. })
    ));
}

#[tokio::test]
async fn peer_closing_fails_a_pending_ask() {
    let realm = Realm::new();
    let (a, b) = (realm.swarm(), realm.swarm());
    let dst = b.addr();
    let (answer, ()) = tokio::join!(a.ask(&dst, Bytes::from_static(b"q")), async {
        let ask = b.next_ask().await.unwrap();
        b.close().await.unwrap();
        drop(ask);
    });
    assert!(
        matches!(
            answer,
            Err(SwarmError::Unreachable { .. }) | Err(SwarmError::Rejected)
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn mtu_is_configurable_and_bounds_asks() {
    let realm = Realm::builder().mtu(10).build();
    let (a, b) = (realm.swarm(), realm.swarm());
    assert_eq!(a.mtu(), 10);
    assert!(matches!(
        a.ask(&b.addr(), Bytes::from(vec![0; 11])).await,
        Err(SwarmError::MtuExceeded { size: 11, mtu: 10 })
    ));
}

#[tokio::test]
async fn keys_are_seeded_or_given() {
    let key = |seed| Realm::builder().seed(seed).build().swarm().public_key();
    assert_eq!(key(1), key(1));
    assert_ne!(key(1), key(2));
    let own = ms_swarm::mem::MemKey::new([7; 32]);
    assert_eq!(Realm::new().swarm_with_key(own).public_key(), own);
}

#[test]
fn addresses_are_canonical_decimals() {
    assert_eq!(MemAddr::parse("0").unwrap(), MemAddr::new(0));
    assert_eq!(
        MemAddr::parse("18446744073709551615").unwrap().get(),
        u64::MAX
    );
    for bad in [
        "",
        "007",
        "+1",
        "-1",
        " 1",
        "1 ",
        "0x1",
        "18446744073709551616",
        "١",
    ] {
        assert!(MemAddr::parse(bad).is_err(), "{bad:?} parsed");
    }
    // Ordering follows the text.
    assert!(MemAddr::new(10) < MemAddr::new(9));
    assert!(MemAddr::new(1) < MemAddr::new(10));
}
