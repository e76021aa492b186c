//! The `net` transport passes the conformance suite on 127.0.0.1 (IPv6: `conformance_ipv6.rs`).

use ms_core::{MultiServer, Stack};
use ms_net::Net;
use ms_testkit::Fixture;

/// Malformed `net:` sections: the client must refuse them without dialling.
pub const BAD_ADDRESSES: &[&str] = &[
    "net:host",
    "net:host:",
    "net:host:abc",
    "net:host:0",
    "net:host:65536",
    "net:host:0x50",
    "net:host: 80",
    "net:host:8008.5",
    "net::8008",
    "net:[::1:1",
    "net:h:x:1",
    "NET:host:1",
    "net:127.0.0.1:1~shs:AAAA",
];

/// A port where connections are refused while the tests run.
fn dead_port() -> u16 {
    ms_testkit::refused_port(std::net::Ipv4Addr::LOCALHOST.into())
}

fn fixture() -> Fixture {
    let node = MultiServer::new([Stack::new(Net::new())]).expect("node");
    let mut f = Fixture::new(node.clone(), node, format!("net:127.0.0.1:{}", dead_port()));
    f.bad_addresses = BAD_ADDRESSES.iter().map(|s| s.to_string()).collect();
    f
}

ms_testkit::conformance!(fixture);
