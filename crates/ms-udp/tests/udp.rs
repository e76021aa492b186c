//! Behaviour of the UDP swarm beyond the conformance suite: dual-stack sockets, wildcard
//! addresses, address families, the MTU, the byte bound of the queue.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ms_swarm::{Swarm, SwarmError};
use ms_udp::{UdpAddr, UdpSwarm};

const DEADLINE: Duration = Duration::from_secs(30);

fn sock(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

async fn receive(s: &UdpSwarm) -> ms_swarm::Message<UdpAddr> {
    tokio::time::timeout(DEADLINE, s.receive())
        .await
        .expect("nothing arrived")
        .expect("receive failed")
}

fn have_ipv6() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn a_dual_stack_socket_names_ipv4_peers_as_ipv4_and_answers_them() {
    let server = UdpSwarm::bind(sock("[::]:0")).await.unwrap();
    if !server.is_dual_stack() {
        let _: Option<()> = ms_testkit::require::skip("[::] cannot take IPv4 on this system");
        return;
    }
    let client = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let port = server.bound_addr().port();
    let to_server: UdpAddr = format!("udp:127.0.0.1:{port}").parse().unwrap();
    client
        .tell(&to_server, Bytes::from_static(b"v4"))
        .await
        .unwrap();
    let msg = receive(&server).await;
    assert_eq!(msg.payload, "v4");
    assert_eq!(msg.src, client.local_addrs()[0], "not the IPv4 form");
    assert_eq!(msg.dst, to_server, "dst is the address told");
    // And back, from the IPv6 socket to an IPv4 address.
    server
        .tell(&msg.src, Bytes::from_static(b"back"))
        .await
        .unwrap();
    assert_eq!(receive(&client).await.src, to_server);
    server.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_wildcard_socket_lists_concrete_addresses_loopback_first() {
    let s = UdpSwarm::bind(sock("0.0.0.0:0")).await.unwrap();
    let addrs = s.local_addrs();
    let port = s.bound_addr().port();
    assert_eq!(
        addrs.first().map(|a| a.to_string()),
        Some(format!("udp:127.0.0.1:{port}"))
    );
    assert!(
        addrs
            .iter()
            .all(|a| !a.ip().is_unspecified() && a.port() == port)
    );
    assert_eq!(s.addrs_for(ms_core::Scope::Device), addrs[..1]);
    s.close().await.unwrap();
}

#[tokio::test]
async fn a_concrete_loopback_socket_has_no_local_or_public_address() {
    let s = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    assert!(s.addrs_for(ms_core::Scope::Local).is_empty());
    assert!(s.addrs_for(ms_core::Scope::Public).is_empty());
    assert_eq!(s.addrs_for(ms_core::Scope::Device), s.local_addrs());
    s.close().await.unwrap();
}

#[tokio::test]
async fn the_other_family_is_unreachable_with_a_typed_error() {
    let v4 = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let to_v6: UdpAddr = "udp:::1:9".parse().unwrap();
    let got = v4.tell(&to_v6, Bytes::from_static(b"x")).await;
    assert!(
        matches!(got, Err(SwarmError::Unreachable { .. })),
        "{got:?}"
    );
    if have_ipv6() {
        let v6 = UdpSwarm::bind(sock("[::1]:0")).await.unwrap();
        assert!(!v6.is_dual_stack());
        let to_v4: UdpAddr = "udp:127.0.0.1:9".parse().unwrap();
        let got = v6.tell(&to_v4, Bytes::from_static(b"x")).await;
        assert!(
            matches!(got, Err(SwarmError::Unreachable { .. })),
            "{got:?}"
        );
        v6.close().await.unwrap();
    }
    v4.close().await.unwrap();
}

#[tokio::test]
async fn a_tell_over_the_mtu_sends_nothing() {
    let a = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let b = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    assert_eq!(a.mtu(), ms_udp::DEFAULT_MTU);
    let dst = b.local_addrs()[0];
    let big = Bytes::from(vec![7u8; a.mtu() + 1]);
    assert!(matches!(
        a.tell(&dst, big).await,
        Err(SwarmError::MtuExceeded {
            size: 1201,
            mtu: 1200
        })
    ));
    a.tell(&dst, Bytes::from_static(b"small")).await.unwrap();
    assert_eq!(receive(&b).await.payload, "small", "the big one went out");
    assert_eq!(b.stats().received, 1);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn empty_and_maximal_datagrams_arrive_whole() {
    let a = UdpSwarm::builder()
        .mtu(ms_udp::MAX_MTU)
        .bind(sock("127.0.0.1:0"))
        .await
        .unwrap();
    let b = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let dst = b.local_addrs()[0];
    a.tell(&dst, Bytes::new()).await.unwrap();
    assert_eq!(receive(&b).await.payload, "");
    let max = Bytes::from((0..ms_udp::MAX_MTU).map(|i| i as u8).collect::<Vec<_>>());
    a.tell(&dst, max.clone()).await.unwrap();
    assert_eq!(receive(&b).await.payload, max, "truncated or changed");
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn options_out_of_range_are_refused() {
    for builder in [
        UdpSwarm::builder().mtu(0),
        UdpSwarm::builder().mtu(ms_udp::MAX_MTU + 1),
        UdpSwarm::builder().queue_messages(0),
        UdpSwarm::builder().queue_bytes(0),
        UdpSwarm::builder().batch(0),
    ] {
        let got = builder.bind(sock("127.0.0.1:0")).await;
        assert!(matches!(got, Err(ms_udp::UdpError::Config(_))), "{got:?}");
    }
}

#[tokio::test]
async fn binding_a_port_in_use_is_a_typed_error() {
    let a = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let got = UdpSwarm::bind(a.bound_addr()).await;
    assert!(matches!(got, Err(ms_udp::UdpError::Bind { .. })), "{got:?}");
    a.close().await.unwrap();
}

#[tokio::test]
async fn close_releases_the_port() {
    let a = UdpSwarm::bind(sock("127.0.0.1:0")).await.unwrap();
    let addr = a.bound_addr();
    a.close().await.unwrap();
    let again = UdpSwarm::bind(addr).await.expect("the port is still held");
    again.close().await.unwrap();
}
