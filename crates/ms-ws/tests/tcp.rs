//! The TCP under `ws` is `ms-net`'s: dialling races a host's addresses, `[::]` is dual-stack,
//! advertising and the builder's TCP options are the same as the `net` transport's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ms_core::{HostPort, Listener, MultiServer, Scope, Scopes, Stack, Transport};
use ms_net::{ConfigError, Net, NetError};
use ms_ws::{Ws, WsError, WsUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn a_host_name_whose_first_address_is_a_black_hole_still_connects() {
    // A name with two addresses, whatever /etc/hosts says (`Ws::builder().resolve`): ::1 and
    // 127.0.0.1 where the machine has IPv6 loopback, else 127.0.0.2 and 127.0.0.1 (all of
    // 127/8 is loopback on Linux). The dial tries the first first: make it a black hole and
    // serve on the other.
    const NAME: &str = "two-addresses.test";
    let first: IpAddr = if ipv6_loopback_available() {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::new(127, 0, 0, 2).into()
    };
    let second: IpAddr = Ipv4Addr::LOCALHOST.into();
    if std::net::TcpListener::bind((first, 0)).is_err() {
        eprintln!("note: cannot bind {first} here; skipping");
        return;
    }
    // The same port on both addresses: the hole's port, when it is free on the other family.
    let mut found = None;
    for _ in 0..20 {
        let Some(hole) = ms_testkit::black_hole(first).await else {
            return;
        };
        let ws = Ws::builder()
            .host(second)
            .port(hole.addr.port())
            .build()
            .unwrap();
        let node = MultiServer::new([Stack::new(ws)]).unwrap();
        match node.listen().await {
            Ok(server) => {
                found = Some((hole.addr.port(), hole, node, server));
                break;
            }
            Err(e @ ms_core::Error::Listen { .. })
                if matches!(
                    e.plugin_error().and_then(|e| e.downcast_ref::<WsError>()),
                    Some(WsError::Tcp(NetError::AddrInUse { .. }))
                ) =>
            {
                continue;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let Some((port, hole, _server_node, mut server)) = found else {
        eprintln!("note: no port free on both loopbacks; skipping");
        return;
    };
    // A deadline far shorter than the kernel's SYN retries (minutes): a dial that waits for
    // the black hole to give up fails; one that races the addresses gets through.
    let client = Ws::builder()
        .connect_timeout(Duration::from_secs(30))
        .resolve(NAME, [first, second])
        .build()
        .unwrap();
    let client = MultiServer::new([Stack::new(client)]).unwrap();
    let url = format!("ws://{NAME}:{port}");
    // The upgrade completes in the server's own tasks: the dial ends before `accept` is
    // called, and a dial that fails fails the test instead of leaving `accept` waiting.
    let mut outbound = client.connect(&url).await.unwrap();
    let mut inbound = server.accept().await.unwrap();
    assert_eq!(
        outbound.remote_address().to_string(),
        format!("ws://{NAME}:{port}")
    );
    outbound.write_all(b"hi").await.unwrap();
    outbound.flush().await.unwrap();
    let mut got = [0u8; 2];
    inbound.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hi");
    drop(hole);
}

#[tokio::test]
async fn a_wildcard_ipv6_listener_accepts_ipv4_clients() {
    if !ipv6_loopback_available() {
        eprintln!("note: no IPv6 loopback here; skipping");
        return;
    }
    let ws = Ws::builder().host(Ipv6Addr::UNSPECIFIED).build().unwrap();
    assert!(ws.bind().await.unwrap().is_dual_stack());
    let server_node = MultiServer::new([Stack::new(ws)]).unwrap();
    let mut server = server_node.listen().await.unwrap();
    // The IPv4 loopback is advertised for the device scope, first.
    let device = server.address(Scope::Device).to_string();
    let first = device.split(';').next().unwrap();
    let port: u16 = first
        .strip_prefix("ws://127.0.0.1:")
        .unwrap_or_else(|| panic!("{device}"))
        .parse()
        .unwrap();
    let client = MultiServer::new([Stack::new(Ws::builder().build().unwrap())]).unwrap();
    let _outbound = client
        .connect(&format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    let inbound = server.accept().await.unwrap();
    let remote = inbound.remote_address().to_string();
    assert!(remote.starts_with("ws://127.0.0.1:"), "{remote}");
}

/// The hosts a `net` and a `ws` listener with the same options advertise for each scope.
async fn advertised_by_both(
    host: IpAddr,
    scopes: Scopes,
    external: &[&str],
) -> Vec<(Scope, Vec<String>, Vec<String>)> {
    let mut net = Net::builder().host(host).scopes(scopes);
    let mut ws = Ws::builder().host(host).scopes(scopes);
    for name in external {
        net = net.external(*name);
        ws = ws.external(*name);
    }
    let net = net.build().unwrap().bind().await.unwrap();
    let ws = ws.build().unwrap().bind().await.unwrap();
    Scope::ALL
        .into_iter()
        .map(|scope| {
            let net_hosts: Vec<String> = net
                .advertise(scope)
                .iter()
                .map(|s| {
                    let hp = HostPort::parse(s, "net").unwrap();
                    assert_eq!(hp.port(), net.local_addr().port());
                    hp.host().to_owned()
                })
                .collect();
            let ws_hosts: Vec<String> = ws
                .advertise(scope)
                .iter()
                .map(|s| {
                    let url = WsUrl::parse(s).unwrap();
                    assert_eq!(url.port(), ws.local_addr().port());
                    assert!(url.path_and_query().is_empty());
                    url.host().to_owned()
                })
                .collect();
            (scope, net_hosts, ws_hosts)
        })
        .collect()
}

#[tokio::test]
async fn ws_advertises_what_net_advertises_for_the_same_bind() {
    let all = Scopes::DEVICE | Scopes::LOCAL | Scopes::PUBLIC;
    let mut cases: Vec<(IpAddr, Scopes, Vec<&str>)> = vec![
        (Ipv4Addr::LOCALHOST.into(), Scopes::DEVICE, vec![]),
        (Ipv4Addr::LOCALHOST.into(), all, vec![]),
        (Ipv4Addr::UNSPECIFIED.into(), all, vec![]),
        (
            Ipv4Addr::UNSPECIFIED.into(),
            all,
            vec!["ssb.example.org", "198.51.100.7", "2001:db8::7"],
        ),
    ];
    if ipv6_loopback_available() {
        cases.push((Ipv6Addr::LOCALHOST.into(), all, vec![]));
        cases.push((Ipv6Addr::UNSPECIFIED.into(), all, vec![]));
    }
    for (host, scopes, external) in cases {
        for (scope, net, ws) in advertised_by_both(host, scopes, &external).await {
            assert_eq!(ws, net, "bind {host}, scopes {scopes}, {scope}");
            if scope == Scope::Device {
                assert!(!ws.is_empty(), "bind {host}: nothing for device");
            }
            if scope == Scope::Public && !external.is_empty() {
                assert_eq!(ws, external, "bind {host}: external for public");
            }
        }
    }
}

#[tokio::test]
async fn external_appends_and_is_checked_as_net_checks_it() {
    // Appends, one call or several, a name or a list.
    let ws = Ws::builder()
        .scopes([Scope::Device, Scope::Public])
        .external("a.example")
        .external(["b.example", "c.example"])
        .build()
        .unwrap();
    let listener = ws.bind().await.unwrap();
    let port = listener.local_addr().port();
    let public: Vec<String> = listener
        .advertise(Scope::Public)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        public,
        [
            format!("ws://a.example:{port}"),
            format!("ws://b.example:{port}"),
            format!("ws://c.example:{port}")
        ]
    );

    // Refused where net refuses it, with net's error.
    let net_err = Net::builder().external("a.example").build().unwrap_err();
    let ws_err = Ws::builder().external("a.example").build().unwrap_err();
    assert_eq!(net_err, ConfigError::ExternalWithoutPublicScope);
    assert!(matches!(ws_err, WsError::Config(e) if e == net_err));
    for bad in ["", "a;b", "a:b", "a b", "host\n"] {
        let net_err = Net::builder()
            .scope(Scope::Public)
            .external(bad)
            .build()
            .unwrap_err();
        let ws_err = Ws::builder()
            .scope(Scope::Public)
            .external(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(ws_err, WsError::Config(e) if e == net_err),
            "{bad:?}"
        );
    }
    // And where it would not make a URL host.
    for bad in ["a.example/path", "a.example?q", "user@a.example"] {
        let err = Ws::builder()
            .scope(Scope::Public)
            .external(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, WsError::Config(ConfigError::InvalidExternal { .. })),
            "{bad:?}: {err}"
        );
    }
}

#[tokio::test]
async fn the_default_bind_host_follows_the_scopes_as_in_net() {
    for scopes in [
        Scopes::DEVICE,
        Scopes::LOCAL,
        Scopes::DEVICE | Scopes::PUBLIC,
    ] {
        let net = Net::builder().scopes(scopes).build().unwrap();
        let ws = Ws::builder().scopes(scopes).build().unwrap();
        assert_eq!(ws.scopes(), net.scopes());
        let listener = ws.bind().await.unwrap();
        assert_eq!(
            listener.local_addr().ip(),
            net.bind_address().ip(),
            "{scopes}"
        );
    }
}
