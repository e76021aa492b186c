//! Hostile input: garbage datagrams, ICMP errors, a flood from one source.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ms_swarm::{SeedRng, Swarm};
use ms_udp::{UdpAddr, UdpSwarm};
use tokio::net::UdpSocket;

const DEADLINE: Duration = Duration::from_secs(60);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn receive(s: &UdpSwarm) -> ms_swarm::Message<UdpAddr> {
    tokio::time::timeout(DEADLINE, s.receive())
        .await
        .expect("nothing arrived")
        .expect("receive failed")
}

/// Waits until `f` holds, polling (the deadline only catches a hang).
async fn until(mut f: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the condition never held");
}

/// Garbage from a raw socket interleaved with honest tells: every honest tell arrives, the
/// garbage arrives too, byte for byte, as messages from the raw socket (a datagram is just
/// bytes), whatever its size (0 to the largest UDP payload), and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_interleaved_with_honest_tells() {
    let receiver = UdpSwarm::bind(loopback()).await.unwrap();
    let honest = UdpSwarm::bind(loopback()).await.unwrap();
    let raw = UdpSocket::bind(loopback()).await.unwrap();
    let dst = receiver.local_addrs()[0];
    let raw_src = UdpAddr::new(raw.local_addr().unwrap());
    let mut rng = SeedRng::new(17);
    for i in 0..200u32 {
        let len = match i % 50 {
            0 => 0,
            1 => 65_507,
            _ => rng.below(3000) as usize,
        };
        let garbage: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        raw.send_to(&garbage, dst.socket_addr()).await.unwrap();
        let text = format!("honest {i}");
        honest.tell(&dst, Bytes::from(text.clone())).await.unwrap();
        // Lockstep, so no burst outgrows the socket buffer: both arrive before the next pair.
        let (mut got_garbage, mut got_honest) = (false, false);
        while !(got_garbage && got_honest) {
            let msg = receive(&receiver).await;
            if msg.src == raw_src {
                assert_eq!(msg.payload, garbage, "garbage {i} changed on the way");
                got_garbage = true;
            } else {
                assert_eq!(msg.src, honest.local_addrs()[0]);
                assert_eq!(msg.payload, text);
                got_honest = true;
            }
        }
    }
    assert_eq!(receiver.stats().dropped, 0);
    receiver.close().await.unwrap();
    honest.close().await.unwrap();
}

/// Tells to a closed port draw ICMP "port unreachable" answers; they are counted, later tells
/// still succeed, and the swarm still receives from an honest peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_errors_do_not_stop_the_swarm() {
    let swarm = UdpSwarm::bind(loopback()).await.unwrap();
    let honest = UdpSwarm::bind(loopback()).await.unwrap();
    let closed = {
        let s = std::net::UdpSocket::bind(loopback()).unwrap();
        UdpAddr::new(s.local_addr().unwrap())
    };
    for _ in 0..20 {
        // Some of these meet the error left by the one before: retried, so still Ok.
        swarm
            .tell(&closed, Bytes::from_static(b"anyone?"))
            .await
            .expect("a tell after an ICMP error failed");
    }
    if cfg!(target_os = "linux") {
        // The errors reached the swarm (so the paths that handle them ran).
        until(|| swarm.stats().errors > 0).await;
    }
    let dst = swarm.local_addrs()[0];
    honest
        .tell(&dst, Bytes::from_static(b"still there?"))
        .await
        .unwrap();
    assert_eq!(receive(&swarm).await.payload, "still there?");
    // And it still sends: the honest peer hears back.
    swarm
        .tell(&honest.local_addrs()[0], Bytes::from_static(b"yes"))
        .await
        .unwrap();
    assert_eq!(receive(&honest).await.payload, "yes");
    swarm.close().await.unwrap();
    honest.close().await.unwrap();
}

/// 100,000 datagrams from one socket while nobody reads and an honest peer tells: the queue
/// never holds more than its cap (the rest is dropped and counted), and once the flood is
/// over the swarm delivers what it queued and hears the honest peer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_source_is_bounded_and_the_swarm_keeps_working() {
    const FLOOD: usize = 100_000;
    const CAP: usize = 256;
    let receiver = UdpSwarm::builder()
        .queue_messages(CAP)
        .bind(loopback())
        .await
        .unwrap();
    let honest = UdpSwarm::bind(loopback()).await.unwrap();
    let dst = receiver.local_addrs()[0];
    let flooder = tokio::spawn(async move {
        let raw = UdpSocket::bind(loopback()).await.unwrap();
        let datagram = [0xffu8; 200];
        for _ in 0..FLOOD {
            raw.send_to(&datagram, dst.socket_addr()).await.unwrap();
        }
    });
    let teller = {
        let honest_dst = dst;
        let honest = std::sync::Arc::new(honest);
        let h = honest.clone();
        (
            honest,
            tokio::spawn(async move {
                for i in 0..100 {
                    h.tell(&honest_dst, Bytes::from(format!("during {i}")))
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            }),
        )
    };
    let (honest, teller_task) = teller;
    let mut most = 0;
    while !flooder.is_finished() {
        most = most.max(receiver.stats().queued);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    flooder.await.unwrap();
    teller_task.await.unwrap();
    let stats = receiver.stats();
    most = most.max(stats.queued);
    assert!(most <= CAP, "{most} messages queued, over the cap of {CAP}");
    assert!(
        stats.dropped > 0,
        "a flood of {FLOOD} with nobody reading dropped nothing"
    );
    assert!(stats.received >= stats.dropped);
    // Drain what was queued (flood and honest alike)...
    let queued = stats.queued;
    for _ in 0..queued {
        receive(&receiver).await;
    }
    // ...then the honest peer gets through again.
    let mut i = 0u32;
    tokio::time::timeout(DEADLINE, async {
        loop {
            i += 1;
            honest
                .tell(&dst, Bytes::from(format!("after {i}")))
                .await
                .unwrap();
            if let Ok(Ok(msg)) =
                tokio::time::timeout(Duration::from_millis(100), receiver.receive()).await
                && msg.src == honest.local_addrs()[0]
                && msg.payload.starts_with(b"after ")
            {
                break;
            }
        }
    })
    .await
    .expect("the honest peer never got through after the flood");
    receiver.close().await.unwrap();
    honest.close().await.unwrap();
}

/// The queue is bounded in bytes too: with room for 10,000 bytes, three 3,000-byte datagrams
/// are queued and the next two dropped.
#[tokio::test]
async fn the_queue_is_bounded_in_bytes() {
    let receiver = UdpSwarm::builder()
        .queue_bytes(10_000)
        .bind(loopback())
        .await
        .unwrap();
    let raw = UdpSocket::bind(loopback()).await.unwrap();
    let dst = receiver.local_addrs()[0].socket_addr();
    for n in 1..=5u64 {
        raw.send_to(&[1u8; 3000], dst).await.unwrap();
        until(|| receiver.stats().received == n).await;
    }
    let stats = receiver.stats();
    assert_eq!((stats.queued, stats.dropped), (3, 2));
    receiver.close().await.unwrap();
}
