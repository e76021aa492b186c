//! The multi swarm: passes the suite over two mem realms; its address text; routing by name.

use std::str::FromStr;

use bytes::Bytes;
use ms_swarm::dynamic::DynAddr;
use ms_swarm::mem::{MemAddr, MemKey, Realm};
use ms_swarm::multi::{MultiAddr, MultiError, MultiSwarm};
use ms_swarm::{AskSwarm, SecureSwarm, Swarm, SwarmError};

/// `n` nodes, each in two realms, under the names `mem1` and `mem2`.
async fn multi_swarms(n: usize) -> Vec<MultiSwarm> {
    let (one, two) = (Realm::new(), Realm::new());
    (0..n)
        .map(|_| {
            MultiSwarm::builder()
                .ask_swarm("mem1", one.swarm())
                .ask_swarm("mem2", two.swarm())
                .build()
                .unwrap()
        })
        .collect()
}

ms_testkit::swarm_conformance!(multi_swarms, [tell, ask]);

/// `n` nodes with one identity each, the same key in both realms.
async fn secure_multi_swarms(n: usize) -> Vec<MultiSwarm<MemKey>> {
    let (one, two) = (Realm::new(), Realm::builder().seed(1).build());
    (0..n)
        .map(|_| {
            let first = one.swarm();
            let key = first.public_key();
            MultiSwarm::secure_builder(key)
                .secure_ask_swarm("mem1", first)
                .secure_ask_swarm("mem2", two.swarm_with_key(key))
                .build()
                .unwrap()
        })
        .collect()
}

mod secure {
    use super::*;
    ms_testkit::swarm_conformance!(secure_multi_swarms, [tell, ask, secure]);
}

#[tokio::test]
async fn keys_through_every_subswarm() {
    let nodes = secure_multi_swarms(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    for dst in b.local_addrs() {
        a.tell(&dst, Bytes::from_static(b"k")).await.unwrap();
        let msg = b.receive().await.unwrap();
        assert_eq!(b.lookup_public_key(&msg.src).unwrap(), a.public_key());
    }
    // A subswarm without keys knows none.
    let realm = Realm::new();
    let key = realm.swarm().public_key();
    let mixed = MultiSwarm::secure_builder(key)
        .secure_swarm("keyed", realm.swarm_with_key(key))
        .swarm("plain", realm.swarm())
        .build()
        .unwrap();
    let plain = mixed.parse_addr("plain:0").unwrap();
    assert!(matches!(
        mixed.lookup_public_key(&plain),
        Err(SwarmError::KeyUnknown { .. })
    ));
    assert_eq!(
        mixed
            .lookup_public_key(&mixed.parse_addr("keyed:0").unwrap())
            .unwrap(),
        key
    );
}

#[test]
fn secure_subswarms_share_the_identity() {
    let realm = Realm::new();
    let key = MemKey::new([1; 32]);
    let err = MultiSwarm::secure_builder(key)
        .secure_swarm("a", realm.swarm_with_key(key))
        .secure_swarm("b", realm.swarm())
        .build()
        .unwrap_err();
    assert_eq!(err, MultiError::KeyMismatch("b".into()));
}

/// The same, reaching each node through its second subswarm: local_addrs reversed.
mod second_name {
    use super::*;

    async fn via_mem2(n: usize) -> Vec<MultiSwarm> {
        let (one, two) = (Realm::new(), Realm::new());
        (0..n)
            .map(|_| {
                MultiSwarm::builder()
                    .ask_swarm("mem2", two.swarm())
                    .swarm("mem1", one.swarm())
                    .build()
                    .unwrap()
            })
            .collect()
    }

    ms_testkit::swarm_conformance!(via_mem2, [tell, ask]);
}

#[tokio::test]
async fn routes_by_name_and_fans_in() {
    let nodes = multi_swarms(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    assert_eq!(
        b.local_addrs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["mem1:1", "mem2:1"]
    );
    for dst in b.local_addrs() {
        a.tell(&dst, Bytes::from(dst.to_string())).await.unwrap();
        let msg = b.receive().await.unwrap();
        assert_eq!(msg.dst, dst);
        assert_eq!(
            msg.src.name(),
            dst.name(),
            "the reply address is in another subswarm"
        );
        assert_eq!(msg.payload, Bytes::from(dst.to_string()));
    }
}

#[tokio::test]
async fn mtu_is_the_smallest() {
    let small = Realm::builder().mtu(100).build();
    let big = Realm::builder().mtu(1000).build();
    let node = MultiSwarm::builder()
        .swarm("big", big.swarm())
        .swarm("small", small.swarm())
        .build()
        .unwrap();
    assert_eq!(node.mtu(), 100);
    let dst = node.parse_addr("big:0").unwrap();
    assert!(matches!(
        node.tell(&dst, Bytes::from(vec![0; 101])).await,
        Err(SwarmError::MtuExceeded {
            size: 101,
            mtu: 100
        })
    ));
}

#[tokio::test]
async fn asks_to_a_subswarm_without_asks_fail() {
    let realm = Realm::new();
    let make = || {
        MultiSwarm::builder()
            .swarm("plain", realm.swarm())
            .build()
            .unwrap()
    };
    let (a, b) = (make(), std::sync::Arc::new(make()));
    let dst = b.local_addrs()[0].clone();
    assert!(matches!(
        a.ask(&dst, Bytes::from_static(b"q")).await,
        Err(SwarmError::Unreachable { .. })
    ));
    // next_ask waits (no subswarm has asks) until the close.
    let waiter = b.clone();
    let blocked = tokio::spawn(async move { waiter.next_ask().await.map(|_| ()) });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    b.close().await.unwrap();
    assert!(matches!(blocked.await.unwrap(), Err(SwarmError::Closed)));
}

#[test]
fn names_are_checked() {
    let realm = Realm::new();
    for bad in ["", "1mem", "me m", "a:b", "a~b", "é"] {
        assert_eq!(
            MultiSwarm::builder()
                .swarm(bad, realm.swarm())
                .build()
                .unwrap_err(),
            MultiError::InvalidName(bad.into())
        );
    }
    assert_eq!(
        MultiSwarm::builder()
            .swarm("a", realm.swarm())
            .swarm("a", realm.swarm())
            .build()
            .unwrap_err(),
        MultiError::DuplicateName("a".into())
    );
    assert_eq!(
        MultiSwarm::builder().build().unwrap_err(),
        MultiError::Empty
    );
}

#[test]
fn text_escapes_and_parses_strictly() {
    let realm = Realm::new();
    let node = MultiSwarm::builder()
        .swarm("mem", realm.swarm())
        .build()
        .unwrap();
    let a = node.parse_addr("mem:12").unwrap();
    assert_eq!(a.name(), "mem");
    assert_eq!(a.inner().downcast_ref::<MemAddr>(), Some(&MemAddr::new(12)));
    for bad in [
        "mem", "mem:", "mem:x", "other:1", ":1", "mem:1~", "mem:!1", "mem:1!", "MEM;1", "mem:1;2",
    ] {
        assert!(node.parse_addr(bad).is_err(), "{bad} parsed");
    }
    // Escapes: what a stack-swarm-like inner text looks like.
    let inner = DynAddr::new(String::from("net:h:1~shs:K!;x"));
    let addr = MultiAddr::new("ms", inner);
    assert_eq!(addr.to_string(), "ms:net:h:1!~shs:K!!!;x");
    let text = addr.to_string();
    let (name, unescaped) = ms_swarm::multi::split_text(&text).unwrap();
    assert_eq!((name, unescaped.as_str()), ("ms", "net:h:1~shs:K!;x"));
}

/// Without a `;`, a multi address is a one-section multiserver address: ms-core reads the name
/// and the inner text, and prints it back the same.
#[test]
fn text_is_a_multiserver_section() {
    for inner in ["3", "net:h:1~shs:K", "a!b", "unix:/tmp/x:y"] {
        let addr = MultiAddr::new("ms", DynAddr::new(String::from(inner)));
        let text = addr.to_string();
        let section = ms_core::Section::from_str(&text).unwrap();
        assert_eq!(section.name(), "ms");
        assert_eq!(section.rest(), inner);
        assert_eq!(section.to_string(), text);
    }
}
