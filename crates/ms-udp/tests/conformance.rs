//! The UDP swarm passes the swarm conformance suite (`tell`) on 127.0.0.1 and on ::1.
//!
//! Where the machine has no IPv6 loopback, the IPv6 set says so in one `skipped:` line and runs
//! on 127.0.0.1 instead (the pattern of ms-net's `conformance_ipv6.rs`); under
//! `MULTISERVER_REQUIRE_ALL=1` it fails instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use ms_udp::UdpSwarm;

async fn swarms(ip: IpAddr, n: usize) -> Vec<UdpSwarm> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            UdpSwarm::bind(SocketAddr::new(ip, 0))
                .await
                .expect("bind a UDP swarm"),
        );
    }
    out
}

async fn ipv4(n: usize) -> Vec<UdpSwarm> {
    swarms(Ipv4Addr::LOCALHOST.into(), n).await
}

fn ipv6_loopback() -> IpAddr {
    static LOOPBACK: OnceLock<IpAddr> = OnceLock::new();
    *LOOPBACK.get_or_init(|| {
        if std::net::UdpSocket::bind("[::1]:0").is_ok() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            let _: Option<()> = ms_testkit::require::skip(
                "::1 is unavailable on this machine; the IPv6 set runs on 127.0.0.1",
            );
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    })
}

async fn ipv6(n: usize) -> Vec<UdpSwarm> {
    swarms(ipv6_loopback(), n).await
}

ms_testkit::swarm_conformance!(over_ipv4, super::ipv4, [tell]);
ms_testkit::swarm_conformance!(over_ipv6, super::ipv6, [tell]);

/// The IPv6 set really is on IPv6 where ::1 exists: its swarms print `udp:::1:<port>`.
#[tokio::test]
async fn the_ipv6_set_uses_ipv6_addresses() {
    let s = ipv6(1).await;
    let text = ms_swarm::Swarm::local_addrs(&s[0])[0].to_string();
    if ipv6_loopback().is_ipv6() {
        assert!(text.starts_with("udp:::1:"), "{text}");
    }
}
