//! UDP swarms on two hosts: network namespaces A and B on one machine, joined by a veth pair
//! (10.78.1.0/24 and fd00:78:1::/64), each swarm bound inside its namespace while the test's
//! runtime drives both (`ms_testkit::netns`).
//!
//! - B's `local` addresses (listed inside B) reach A's swarm over IPv4 and IPv6, the source is
//!   A's address on the link, and B answers to it;
//! - B's `device` addresses (`udp:127.0.0.1`, `udp:::1`) told from A stay on A: A's own
//!   loopback answers "port unreachable" (counted), and B never sees them.
//!
//! Root only; skips with one line otherwise. Only addresses inside the namespaces are used.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ms_core::Scope;
use ms_swarm::Swarm;
use ms_testkit::netns::{self, Netns};
use ms_udp::{UdpAddr, UdpSwarm};

const DEADLINE: Duration = Duration::from_secs(30);

async fn receive(s: &UdpSwarm) -> ms_swarm::Message<UdpAddr> {
    tokio::time::timeout(DEADLINE, s.receive())
        .await
        .expect("nothing arrived")
        .expect("receive failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_scopes_between_two_hosts() {
    let Some(()) = netns::available() else {
        return;
    };
    let a = Netns::new("udpa").unwrap();
    let b = Netns::new("udpb").unwrap();
    netns::veth(
        &a,
        &["10.78.1.1/24", "fd00:78:1::1/64"],
        &b,
        &["10.78.1.2/24", "fd00:78:1::2/64"],
    )
    .unwrap();
    let handle = tokio::runtime::Handle::current();
    let wildcard: SocketAddr = "[::]:0".parse().unwrap();
    let bind = |ns: &Netns| {
        ns.run(|| handle.block_on(UdpSwarm::bind(wildcard)))
            .expect("enter the namespace")
            .expect("bind")
    };
    let (sa, sb) = (bind(&a), bind(&b));
    assert!(sa.is_dual_stack() && sb.is_dual_stack());
    // Each host's addresses, read inside its namespace.
    let b_local = b.run(|| sb.addrs_for(Scope::Local)).unwrap();
    let b_device = b.run(|| sb.addrs_for(Scope::Device)).unwrap();
    let port = sb.bound_addr().port();
    let texts = |v: &[UdpAddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    assert_eq!(
        texts(&b_local),
        [
            format!("udp:10.78.1.2:{port}"),
            format!("udp:fd00:78:1::2:{port}")
        ]
    );
    assert_eq!(
        texts(&b_device),
        [format!("udp:127.0.0.1:{port}"), format!("udp:::1:{port}")]
    );

    // Local: across the link, both families, and back.
    let a_port = sa.bound_addr().port();
    for (to_b, a_on_link) in b_local.iter().zip(["10.78.1.1", "fd00:78:1::1"]) {
        sa.tell(to_b, Bytes::from_static(b"over the link"))
            .await
            .unwrap();
        let msg = receive(&sb).await;
        assert_eq!(msg.payload, "over the link");
        assert_eq!(msg.dst, *to_b);
        assert_eq!(msg.src.to_string(), format!("udp:{a_on_link}:{a_port}"));
        sb.tell(&msg.src, Bytes::from_static(b"back"))
            .await
            .unwrap();
        assert_eq!(receive(&sa).await.src, *to_b);
    }

    // Device: told from A, they reach A's own loopback, where nothing listens on that port.
    for to_b in &b_device {
        let before = sa.stats().errors;
        sa.tell(to_b, Bytes::from_static(b"device only"))
            .await
            .unwrap();
        tokio::time::timeout(DEADLINE, async {
            while sa.stats().errors == before {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("A's loopback did not answer port unreachable");
    }
    // B saw none of them: the next thing it receives is this marker.
    sa.tell(&b_local[0], Bytes::from_static(b"marker"))
        .await
        .unwrap();
    assert_eq!(receive(&sb).await.payload, "marker");
    assert_eq!(sb.stats().received, 3, "B received a device-scoped tell");
    sa.close().await.unwrap();
    sb.close().await.unwrap();
}
