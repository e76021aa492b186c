//! The `net` transport passes the conformance suite on [::1] (printed `net:::1:<port>`).
//!
//! Where the machine has no IPv6 loopback, the suite runs on 127.0.0.1 instead and says so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::OnceLock;

use ms_core::{MultiServer, Stack};
use ms_net::Net;
use ms_testkit::Fixture;

fn loopback() -> IpAddr {
    static LOOPBACK: OnceLock<IpAddr> = OnceLock::new();
    *LOOPBACK.get_or_init(|| {
        if TcpListener::bind("[::1]:0").is_ok() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            eprintln!(
                "note: ::1 is unavailable on this machine; IPv6 conformance runs on 127.0.0.1"
            );
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    })
}

fn fixture() -> Fixture {
    let ip = loopback();
    let net = Net::builder().host(ip).build().expect("net");
    let node = MultiServer::new([Stack::new(net)]).expect("node");
    let dead = ms_testkit::refused_port(ip);
    let mut f = Fixture::new(node.clone(), node, format!("net:{ip}:{dead}"));
    f.bad_addresses = vec!["net:::1".into(), "net:[::1]".into(), "net:[::1:8008".into()];
    f
}

ms_testkit::conformance!(fixture);
