//! Multiplexing: logical swarms on string and integer channels pass the suite; routing,
//! unknown channels, and lifetimes.

use bytes::Bytes;
use ms_swarm::mem::{MemSwarm, Realm};
use ms_swarm::mux::{Channel, Mux, MuxError, MuxSwarm};
use ms_swarm::{AskSwarm, Swarm, SwarmError};

async fn named(n: usize) -> Vec<MuxSwarm<MemSwarm>> {
    let realm = Realm::new();
    (0..n)
        .map(|_| {
            Mux::new_ask(realm.swarm())
                .open(Channel::name("chat"))
                .unwrap()
        })
        .collect()
}

/// Integer channels (a two-byte varint).
async fn numbered(n: usize) -> Vec<MuxSwarm<MemSwarm>> {
    let realm = Realm::new();
    (0..n)
        .map(|_| Mux::new_ask(realm.swarm()).open(Channel::id(300)).unwrap())
        .collect()
}

ms_testkit::swarm_conformance!(by_name, named, [tell, ask, secure]);
ms_testkit::swarm_conformance!(by_id, numbered, [tell, ask, secure]);

#[tokio::test]
async fn channels_are_separate_and_unknown_ones_dropped() {
    let realm = Realm::new();
    let (a, b) = (Mux::new_ask(realm.swarm()), Mux::new_ask(realm.swarm()));
    let a_one = a.open(Channel::id(1)).unwrap();
    let a_two = a.open(Channel::name("two")).unwrap();
    let b_two = b.open(Channel::name("two")).unwrap();
    let dst = b_two.local_addrs()[0];
    a_one
        .tell(&dst, Bytes::from_static(b"for one"))
        .await
        .unwrap();
    a_two
        .tell(&dst, Bytes::from_static(b"for two"))
        .await
        .unwrap();
    assert_eq!(&b_two.receive().await.unwrap().payload[..], b"for two");
    assert!(matches!(
        a_one.ask(&dst, Bytes::from_static(b"q")).await,
        Err(SwarmError::Rejected)
    ));
    assert_eq!(b.stats().unknown_channel, 2, "{:?}", b.stats());
    // A raw datagram without a header is dropped too.
    a.inner()
        .tell(&dst, Bytes::from_static(b"\x07junk"))
        .await
        .unwrap();
    a_two
        .tell(&dst, Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(&b_two.receive().await.unwrap().payload[..], b"after");
    assert_eq!(b.stats().malformed, 1);
}

#[tokio::test]
async fn mtu_leaves_room_for_the_header() {
    let realm = Realm::builder().mtu(100).build();
    let mux = Mux::new(realm.swarm());
    assert_eq!(mux.open(Channel::id(5)).unwrap().mtu(), 98);
    assert_eq!(mux.open(Channel::name("abc")).unwrap().mtu(), 95);
}

#[tokio::test]
async fn open_close_reopen() {
    let realm = Realm::new();
    let mux = Mux::new(realm.swarm());
    let first = mux.open(Channel::id(9)).unwrap();
    assert_eq!(
        mux.open(Channel::id(9)).unwrap_err(),
        MuxError::AlreadyOpen(Channel::id(9))
    );
    first.close().await.unwrap();
    let again = mux.open(Channel::id(9)).unwrap();
    // The old handle closing again or dropping does not close the new one.
    first.close().await.unwrap();
    drop(first);
    let sender = realm.swarm();
    let framed = Bytes::from_static(b"\x00\x09hello");
    sender.tell(&again.local_addrs()[0], framed).await.unwrap();
    assert_eq!(&again.receive().await.unwrap().payload[..], b"hello");
}

#[tokio::test]
async fn closing_the_mux_closes_every_channel() {
    let realm = Realm::new();
    let mux = Mux::new_ask(realm.swarm());
    let (x, y) = (
        mux.open(Channel::id(1)).unwrap(),
        mux.open(Channel::id(2)).unwrap(),
    );
    let waiting = tokio::spawn(async move { x.receive().await.map(|_| ()) });
    tokio::task::yield_now().await;
    mux.close().await.unwrap();
    assert!(matches!(waiting.await.unwrap(), Err(SwarmError::Closed)));
    assert!(matches!(y.next_ask().await, Err(SwarmError::Closed)));
    assert!(matches!(
        y.tell(&y.local_addrs()[0], Bytes::new()).await,
        Err(SwarmError::Closed)
    ));
}
