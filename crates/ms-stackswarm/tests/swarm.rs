//! The swarm over mem~shs (real keys, no sockets): tells and asks both ways, one connection
//! per peer, concurrency, cancel, deadlines, idle close, bounds, close.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ms_stackswarm::Config;
use ms_swarm::{AskSwarm, SecureSwarm, Swarm, SwarmError};
use ms_testkit::MemNetwork;

#[tokio::test]
async fn tell_both_ways_over_one_connection() {
    let network = MemNetwork::new();
    let a = mem_swarm(&network, 1).await;
    let b = mem_swarm(&network, 2).await;

    a.tell(&addr(&b), Bytes::from_static(b"hello b"))
        .await
        .unwrap();
    let got = b.receive().await.unwrap();
    assert_eq!(got.payload, Bytes::from_static(b"hello b"));
    assert_eq!(got.dst, addr(&b));
    // The source routes back to a, and carries a's key.
    assert_eq!(b.lookup_public_key(&got.src).unwrap(), a.public_key());

    b.tell(&got.src, Bytes::from_static(b"hello a"))
        .await
        .unwrap();
    let back = a.receive().await.unwrap();
    assert_eq!(back.payload, Bytes::from_static(b"hello a"));
    assert_eq!(a.lookup_public_key(&back.src).unwrap(), b.public_key());

    // b answered over the connection a dialled: one connection each, no second dial.
    assert_eq!(a.stats().connections_opened, 1);
    assert_eq!(b.stats().connections_opened, 1);
    assert_eq!(network.open_streams(), 2);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn another_address_with_the_same_key_reuses_the_connection() {
    let network = MemNetwork::new();
    let a = mem_swarm(&network, 1).await;
    let b = mem_swarm(&network, 2).await;
    a.tell(&addr(&b), Bytes::from_static(b"1")).await.unwrap();
    b.receive().await.unwrap();
    // The same node under a text with an extra (dead) alternative.
    let other = a
        .parse_addr(&format!(
            "mem:{}~shs:{};{}",
            network.unused_port(),
            b.public_key().to_base64(),
            addr(&b)
        ))
        .unwrap();
    assert_ne!(other, addr(&b));
    a.tell(&other, Bytes::from_static(b"2")).await.unwrap();
    let got = b.receive().await.unwrap();
    assert_eq!(got.payload, Bytes::from_static(b"2"));
    assert_eq!(got.dst, other, "the receiver learns which address was used");
    assert_eq!(a.stats().connections_opened, 1);
}

#[tokio::test]
async fn ask_and_answer_both_ways() {
    let network = MemNetwork::new();
    let a = Arc::new(mem_swarm(&network, 1).await);
    let b = Arc::new(mem_swarm(&network, 2).await);
    let _serve_a = echo_server(a.clone());
    let serve_b = tokio::spawn({
        let b = b.clone();
        async move {
            let ask = b.next_ask().await.unwrap();
            let src = ask.src().clone();
            assert_eq!(ask.message().dst, addr(&b));
            ask.respond(Bytes::from_static(b"pong"));
            src
        }
    });
    let answer = a.ask(&addr(&b), Bytes::from_static(b"ping")).await.unwrap();
    assert_eq!(answer, Bytes::from_static(b"pong"));
    let src_of_a = serve_b.await.unwrap();
    // b asks a back through the source address it saw.
    let answer = b.ask(&src_of_a, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(answer, Bytes::from_static(b"re:x"));
    assert_eq!(b.stats().connections_opened, 1);
}

#[tokio::test]
async fn refused_ask_is_rejected_and_serving_goes_on() {
    let network = MemNetwork::new();
    let a = mem_swarm(&network, 1).await;
    let b = Arc::new(mem_swarm(&network, 2).await);
    let serve = tokio::spawn({
        let b = b.clone();
        async move {
            ms_swarm::serve_ask(&*b, |m| async move {
                (m.payload != Bytes::from_static(b"no")).then(|| m.payload.clone())
            })
            .await
        }
    });
    let err = a
        .ask(&addr(&b), Bytes::from_static(b"no"))
        .await
        .unwrap_err();
    assert!(matches!(err, SwarmError::Rejected), "{err:?}");
    let ok = a.ask(&addr(&b), Bytes::from_static(b"yes")).await.unwrap();
    assert_eq!(ok, Bytes::from_static(b"yes"));
    b.close().await.unwrap();
    assert!(serve.await.unwrap().is_ok());
}

#[tokio::test]
async fn many_concurrent_asks_share_one_connection() {
    let network = MemNetwork::new();
    let a = Arc::new(mem_swarm(&network, 1).await);
    let b = Arc::new(mem_swarm(&network, 2).await);
    let _serve = echo_server(b.clone());
    let mut asks = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        let (a, dst) = (a.clone(), addr(&b));
        asks.spawn(async move {
            let answer = a.ask(&dst, Bytes::from(i.to_string())).await.unwrap();
            assert_eq!(answer, Bytes::from(format!("re:{i}")));
        });
    }
    while let Some(r) = asks.join_next().await {
        r.unwrap();
    }
    assert_eq!(a.stats().connections_opened, 1);
    assert_eq!(b.stats().asks_refused, 0);
}

#[tokio::test]
async fn cancelled_ask_frees_the_peers_slot() {
    let network = MemNetwork::new();
    let a = mem_swarm(&network, 1).await;
    let mut config = Config::default();
    config.max_asks_in_flight = 1;
    let b = Arc::new(mem_swarm_with(&network, 2, config).await);
    // b takes requests but never answers the first one.
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    let _serve = tokio::spawn({
        let b = b.clone();
        async move {
            while let Ok(ask) = b.next_ask().await {
                if ask.payload() == &Bytes::from_static(b"hold") {
                    held_tx.send(ask).unwrap();
                } else {
                    ask.respond(Bytes::from_static(b"ok"));
                }
            }
        }
    });
    let dst = addr(&b);
    {
        let ask = a.ask(&dst, Bytes::from_static(b"hold"));
        tokio::pin!(ask);
        tokio::select! {
            _ = &mut ask => panic!("answered"),
            held = held_rx.recv() => assert!(held.is_some()),
        }
        // Dropping the ask cancels it.
    }
    // Without the CANCEL frame b would still count the held request and refuse this one.
    let answer = a.ask(&dst, Bytes::from_static(b"next")).await.unwrap();
    assert_eq!(answer, Bytes::from_static(b"ok"));
    assert_eq!(b.stats().asks_refused, 0);
}

#[tokio::test]
async fn asks_beyond_the_peers_limit_are_rejected_at_once() {
    let network = MemNetwork::new();
    let a = Arc::new(mem_swarm(&network, 1).await);
    let mut config = Config::default();
    config.max_asks_in_flight = 4;
    let b = Arc::new(mem_swarm_with(&network, 2, config).await);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _serve = tokio::spawn({
        let (b, held) = (b.clone(), held.clone());
        async move {
            while let Ok(ask) = b.next_ask().await {
                held.lock().unwrap().push(ask);
            }
        }
    });
    let mut asks = tokio::task::JoinSet::new();
    for i in 0..10u8 {
        let (a, dst) = (a.clone(), addr(&b));
        asks.spawn(async move { a.ask(&dst, Bytes::from(vec![i])).await });
    }
    let mut rejected = 0;
    for _ in 0..6 {
        let r = asks.join_next().await.unwrap().unwrap();
        assert!(matches!(r, Err(SwarmError::Rejected)), "{r:?}");
        rejected += 1;
    }
    assert_eq!(rejected, 6);
    assert_eq!(b.stats().asks_refused, 6);
    eventually("four requests held", || held.lock().unwrap().len() == 4).await;
    for ask in held.lock().unwrap().drain(..) {
        ask.respond(Bytes::from_static(b"late but fine"));
    }
    while let Some(r) = asks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), Bytes::from_static(b"late but fine"));
    }
}

#[tokio::test(start_paused = true)]
async fn unanswered_asks_time_out_on_both_sides() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    config.ask_timeout = Duration::from_secs(5);
    let a = mem_swarm_with(&network, 1, config).await;
    let mut config = Config::default();
    config.incoming_ask_timeout = Duration::from_secs(2);
    let b = Arc::new(mem_swarm_with(&network, 2, config).await);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _serve = tokio::spawn({
        let (b, held) = (b.clone(), held.clone());
        async move {
            while let Ok(ask) = b.next_ask().await {
                held.lock().unwrap().push(ask);
            }
        }
    });
    // b gives up after 2 s and says so: the asker gets a timeout before its own deadline.
    let started = tokio::time::Instant::now();
    let err = a
        .ask(&addr(&b), Bytes::from_static(b"?"))
        .await
        .unwrap_err();
    assert!(matches!(err, SwarmError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Our own deadline, when the peer's is longer.
    let err = a
        .ask_within(&addr(&b), Bytes::from_static(b"?"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SwarmError::Timeout), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_and_are_dialled_again() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    config.idle_timeout = Duration::from_secs(10);
    let a = mem_swarm_with(&network, 1, config.clone()).await;
    let b = mem_swarm_with(&network, 2, config).await;
    a.tell(&addr(&b), Bytes::from_static(b"1")).await.unwrap();
    b.receive().await.unwrap();
    assert_eq!(a.stats().connections_open, 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(a.stats().connections_open, 1, "not idle yet");
    tokio::time::sleep(Duration::from_secs(10)).await;
    eventually("idle connection closed", || {
        a.stats().connections_open == 0 && b.stats().connections_open == 0
    })
    .await;
    assert!(a.stats().idle_closed + b.stats().idle_closed >= 1);
    a.tell(&addr(&b), Bytes::from_static(b"2")).await.unwrap();
    assert_eq!(b.receive().await.unwrap().payload, Bytes::from_static(b"2"));
    assert_eq!(a.stats().connections_opened, 2);
}

#[tokio::test]
async fn a_flooding_peer_gets_only_its_share_of_the_receive_queue() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    config.receive_queue_per_peer = 8;
    let b = mem_swarm_with(&network, 2, config).await;
    let flooder = mem_swarm(&network, 1).await;
    let polite = mem_swarm(&network, 3).await;
    for i in 0..100u8 {
        flooder.tell(&addr(&b), Bytes::from(vec![i])).await.unwrap();
    }
    eventually("every tell received or dropped", || {
        let s = b.stats();
        s.tells_received + s.tells_dropped == 100
    })
    .await;
    assert_eq!(b.stats().tells_received, 8);
    assert_eq!(b.stats().tells_dropped, 92);
    // Another peer still gets through.
    polite
        .tell(&addr(&b), Bytes::from_static(b"me too"))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..9 {
        got.push(b.receive().await.unwrap().payload);
    }
    assert_eq!(
        got[..8],
        (0..8u8).map(|i| Bytes::from(vec![i])).collect::<Vec<_>>()[..]
    );
    assert_eq!(got[8], Bytes::from_static(b"me too"));
}

#[tokio::test]
async fn mtu_is_enforced_before_sending() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    config.mtu = 1000;
    let a = mem_swarm_with(&network, 1, config.clone()).await;
    let b = mem_swarm_with(&network, 2, config).await;
    let err = a
        .tell(&addr(&b), Bytes::from(vec![0; 1001]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SwarmError::MtuExceeded {
                size: 1001,
                mtu: 1000
            }
        ),
        "{err:?}"
    );
    assert_eq!(a.stats().connections_opened, 0, "nothing was dialled");
    a.tell(&addr(&b), Bytes::from(vec![7; 1000])).await.unwrap();
    assert_eq!(b.receive().await.unwrap().payload.len(), 1000);
}

#[tokio::test]
async fn unreachable_and_foreign_addresses_are_errors() {
    let network = MemNetwork::new();
    let a = mem_swarm(&network, 1).await;
    let key = a.public_key().to_base64();
    let dead = a
        .parse_addr(&format!("mem:{}~shs:{key}", network.unused_port()))
        .unwrap();
    let err = a.tell(&dead, Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, SwarmError::Unreachable { .. }), "{err:?}");
    let err = a.ask(&dead, Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, SwarmError::Unreachable { .. }), "{err:?}");
    assert!(
        a.parse_addr("net:127.0.0.1:1~shs:x").is_err(),
        "no net stack"
    );
    assert!(a.parse_addr("not an address").is_err());
    assert!(matches!(
        a.lookup_public_key(&"mem:5".parse().unwrap()),
        Err(SwarmError::KeyUnknown { .. })
    ));
}

#[tokio::test]
async fn close_stops_everything() {
    let network = MemNetwork::new();
    let a = Arc::new(mem_swarm(&network, 1).await);
    let b = mem_swarm(&network, 2).await;
    a.tell(&addr(&b), Bytes::from_static(b"x")).await.unwrap();
    b.receive().await.unwrap();
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.receive().await }
    });
    let asking = tokio::spawn({
        let a = a.clone();
        async move { a.next_ask().await.map(|_| ()) }
    });
    tokio::task::yield_now().await;
    a.close().await.unwrap();
    assert!(matches!(waiting.await.unwrap(), Err(SwarmError::Closed)));
    assert!(matches!(asking.await.unwrap(), Err(SwarmError::Closed)));
    assert!(matches!(
        a.tell(&addr(&b), Bytes::new()).await,
        Err(SwarmError::Closed)
    ));
    assert!(matches!(a.receive().await, Err(SwarmError::Closed)));
    a.close().await.unwrap();
    b.close().await.unwrap();
    eventually("every stream closed", || network.open_streams() == 0).await;
}

#[tokio::test(start_paused = true)]
async fn simultaneous_dials_converge_on_one_connection() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    config.idle_timeout = Duration::from_secs(10);
    let a = Arc::new(mem_swarm_with(&network, 1, config.clone()).await);
    let b = Arc::new(mem_swarm_with(&network, 2, config).await);
    let (aa, ba) = (addr(&a), addr(&b));
    for round in 0..8u8 {
        let (x, y) = tokio::join!(
            a.tell(&ba, Bytes::from(vec![round])),
            b.tell(&aa, Bytes::from(vec![round]))
        );
        x.unwrap();
        y.unwrap();
        a.receive().await.unwrap();
        b.receive().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // Both dialled at once: two connections, both working. The one dialled by the smaller key
    // carries the traffic both ways; the other fell idle and was closed.
    assert_eq!(a.stats().connections_opened, 2);
    assert_eq!(a.stats().connections_open, 1);
    assert_eq!(b.stats().connections_open, 1);
    assert_eq!(network.open_streams(), 2);
}

#[tokio::test(start_paused = true)]
async fn close_cancels_a_dial_in_progress() {
    let network = MemNetwork::new();
    let a = Arc::new(mem_swarm(&network, 1).await);
    let port = network.unused_port();
    network.set_fault(port, ms_testkit::Fault::BlackHole);
    let key = ms_shs::Keypair::from_seed(&[2; 32]).public().to_base64();
    let hole = a.parse_addr(&format!("mem:{port}~shs:{key}")).unwrap();
    let telling = tokio::spawn({
        let a = a.clone();
        async move { a.tell(&hole, Bytes::from_static(b"x")).await }
    });
    eventually("dialling", || network.dials_in_progress() == 1).await;
    let started = tokio::time::Instant::now();
    a.close().await.unwrap();
    // On the paused clock: close did not wait for the dial's 30 s attempt deadline.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(matches!(telling.await.unwrap(), Err(SwarmError::Closed)));
    assert_eq!(network.dials_in_progress(), 0);
}

#[tokio::test]
async fn the_receive_queue_is_bounded_in_bytes_too() {
    let network = MemNetwork::new();
    let mut config = Config::default();
    // Each queued tell counts its payload and 64 bytes: six 100-byte tells fit in 1000.
    config.receive_queue_bytes_per_peer = 1000;
    let b = mem_swarm_with(&network, 2, config).await;
    let a = mem_swarm(&network, 1).await;
    for i in 0..10u8 {
        a.tell(&addr(&b), Bytes::from(vec![i; 100])).await.unwrap();
    }
    eventually("every tell received or dropped", || {
        let s = b.stats();
        s.tells_received + s.tells_dropped == 10
    })
    .await;
    assert_eq!(b.stats().tells_received, 6);
    for i in 0..6u8 {
        assert_eq!(
            b.receive().await.unwrap().payload,
            Bytes::from(vec![i; 100])
        );
    }
    // Room again once the application took them.
    a.tell(&addr(&b), Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(
        b.receive().await.unwrap().payload,
        Bytes::from_static(b"again")
    );
}
