//! The `quic` transport passes the conformance suite on 127.0.0.1 and on [::1] (where the
//! machine has no IPv6 loopback, the second run uses 127.0.0.1 too and says so).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Duration;

use ms_core::{MultiServer, PeerKey, Stack};
use ms_quic::{Quic, QuicIdentity};
use ms_shs::{Keypair, NetworkKey};
use ms_testkit::Fixture;

const KEY: &str = "/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=";

fn bad_addresses() -> Vec<String> {
    [
        "quic:127.0.0.1:8008",
        "quic:127.0.0.1:8008:",
        "quic:127.0.0.1:8008:AAAA",
        "quic:127.0.0.1:0:KEY",
        "quic:127.0.0.1:x:KEY",
        "quic::8008:KEY",
        "quic:[::1:8008:KEY",
        "quic:h:x:1:KEY",
        "QUIC:127.0.0.1:8008:KEY",
        "quic:127.0.0.1:8008:KEY~shs:KEY",
    ]
    .iter()
    .map(|a| a.replace("KEY", KEY))
    .collect()
}

fn public(seed: u8) -> PeerKey {
    Keypair::from_seed(&[seed; 32]).public().into()
}

fn node(seed: u8, host: IpAddr) -> MultiServer {
    let identity =
        QuicIdentity::new(&Keypair::from_seed(&[seed; 32]), NetworkKey::MAINNET).expect("identity");
    let quic = Quic::builder(identity)
        .host(host)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("quic");
    MultiServer::new([Stack::new(quic)]).expect("node")
}

fn fixture_on(ip: IpAddr) -> Fixture {
    // A UDP port nobody listens on, and one where a socket takes datagrams and never answers.
    let dead = UdpSocket::bind((ip, 0)).expect("udp");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    let hole = UdpSocket::bind((ip, 0)).expect("udp");
    let hole_port = hole.local_addr().expect("addr").port();
    // The QUIC handshake names both sides by their Ed25519 keys, with no transform.
    let mut f = Fixture::new(
        node(1, ip),
        node(2, ip),
        format!("quic:{ip}:{dead_port}:{KEY}"),
    )
    .expect_identities(Some(public(2)), Some(public(1)));
    f.bad_addresses = bad_addresses();
    f.black_hole = Some(format!("quic:{ip}:{hole_port}:{KEY}"));
    f.keep_alive.push(Box::new(hole));
    f
}

fn fixture() -> Fixture {
    fixture_on(Ipv4Addr::LOCALHOST.into())
}

fn fixture_v6() -> Fixture {
    if UdpSocket::bind("[::1]:0").is_ok() {
        fixture_on(Ipv6Addr::LOCALHOST.into())
    } else {
        eprintln!("note: ::1 is unavailable on this machine; the IPv6 run uses 127.0.0.1");
        fixture()
    }
}

ms_testkit::conformance!(fixture);
ms_testkit::conformance!(ipv6, fixture_v6);
