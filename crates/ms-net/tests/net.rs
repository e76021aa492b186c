//! Behaviour of the `net` transport beyond the conformance suite.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ms_core::{
    Classify, Error, ErrorKind, HostPort, Listener, MultiAddress, MultiServer, Scope, Section,
    Stack, Transport,
};
use ms_net::{ConfigError, Net, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A port refused on 127.0.0.1 and ::1 while the tests run.
fn closed_port() -> u16 {
    ms_testkit::refused_localhost_port()
}

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

fn net_error(err: &Error) -> &NetError {
    err.plugin_error()
        .and_then(|e| e.downcast_ref::<NetError>())
        .unwrap_or_else(|| panic!("not a NetError: {err:?}"))
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_refused() {
    let port = closed_port();
    let err = Net::new()
        .dial(&HostPort::new("127.0.0.1", port))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Refused { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("connection refused by 127.0.0.1:{port}")
    );

    // The same error, boxed, through a node.
    let node = MultiServer::new([Stack::new(Net::new())]).unwrap();
    let err = node
        .connect(&format!("net:127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(matches!(net_error(&err), NetError::Refused { .. }));
    // Classified without downcasting.
    assert_eq!(err.kind(), ErrorKind::Refused, "{err:?}");
}

#[tokio::test]
async fn every_resolved_address_refusing_is_still_refused() {
    // `localhost` usually resolves to ::1 and 127.0.0.1: both are tried, both refuse.
    let port = closed_port();
    let err = Net::new()
        .dial(&HostPort::new("localhost", port))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Refused { .. }), "{err:?}");
    assert_eq!(Classify::kind(&err), ErrorKind::Refused);
}

#[tokio::test]
async fn resolve_answers_for_a_name_in_order_and_ignoring_case() {
    // The name's addresses are the given ones, in order: the first refuses, the second serves.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let net = Net::builder()
        .resolve("Peer.Example", [Ipv4Addr::new(127, 0, 0, 2).into()])
        .resolve(
            "peer.example",
            [IpAddr::from([127, 0, 0, 3]), Ipv4Addr::LOCALHOST.into()],
        )
        .build()
        .unwrap();
    // The second call replaced the first; 127.0.0.3 refuses (nobody listens there).
    let (_stream, reached) = net
        .dial(&HostPort::new("PEER.example", port))
        .await
        .unwrap();
    assert_eq!(reached, SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));

    // An empty answer: no addresses, without asking the system resolver.
    let nothing = Net::builder().resolve("localhost", []).build().unwrap();
    let err = nothing
        .dial(&HostPort::new("localhost", port))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::NoAddresses { .. }), "{err:?}");
}

/// A loopback address where a connect hangs (`ms_testkit::black_hole`), or `None` (with a
/// note) where the system never fills a backlog.
async fn black_hole() -> Option<ms_testkit::BlackHole> {
    ms_testkit::black_hole(Ipv4Addr::LOCALHOST.into()).await
}

#[tokio::test]
async fn connecting_to_a_black_hole_times_out() {
    let Some(listener) = black_hole().await else {
        return;
    };
    let addr = listener.addr;
    let net = Net::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = net
        .dial(&HostPort::new("127.0.0.1", addr.port()))
        .await
        .unwrap_err();
    assert_eq!(Classify::kind(&err), ErrorKind::Timeout, "{err:?}");
    assert!(matches!(err, NetError::TimedOut { after, .. } if after == Duration::from_millis(200)));
    drop(listener);
}

#[tokio::test]
async fn the_connect_timeout_is_a_timeout_through_the_node() {
    let Some(listener) = black_hole().await else {
        return;
    };
    let addr = listener.addr;
    let net = Net::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let node = MultiServer::builder()
        .stack(Stack::new(net))
        // The node's own deadline never fires: the transport's connect timeout does.
        .dial_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let err = node
        .connect(&format!("net:127.0.0.1:{}", addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_timeout(), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn a_multi_address_whose_first_alternative_is_a_black_hole_connects_through_the_second() {
    let Some(listener) = black_hole().await else {
        return;
    };
    let hole = listener.addr;
    let node = ms_core::MultiServer::builder()
        .stack(ms_core::Stack::new(Net::new()))
        // An attempt deadline far longer than the test: only the stagger can get us through.
        .dial_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let live = server.address(ms_core::Scope::Device).to_string();
    let address = format!("net:127.0.0.1:{};{live}", hole.port());
    let dial = tokio::spawn({
        let node = node.clone();
        async move { node.connect(&address).await }
    });
    let accepted = server.accept().await.unwrap();
    let conn = dial.await.unwrap().unwrap();
    assert_eq!(conn.remote_address().to_string(), live);
    drop(accepted);
    drop(listener);
}

#[tokio::test]
async fn an_unknown_host_name_is_a_resolve_error() {
    let net = Net::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = net
        .dial(&HostPort::new("no-such-host.invalid", 8008))
        .await
        .unwrap_err();
    // Without any DNS the resolver may also hang until the deadline.
    assert!(
        matches!(err, NetError::Resolve { ref host, .. } if host == "no-such-host.invalid")
            || matches!(err, NetError::TimedOut { .. }),
        "{err:?}"
    );
}

#[test]
fn an_internationalized_host_is_looked_up_in_its_ascii_form() {
    // The reference's DNS lookup converts the name with IDNA; so do we (issue 13 item 7).
    let net = Net::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let section = Section::new("net:exämple.invalid:8008").unwrap();
    assert_eq!(
        net.canonical(&section).unwrap().as_str(),
        "net:xn--exmple-cua.invalid:8008"
    );
    // `connect` dials the host `HostPort::parse` gives (no lookup here: no DNS in tests).
    assert_eq!(
        HostPort::parse(&section, "net").unwrap().host(),
        "xn--exmple-cua.invalid"
    );
    // What IDNA refuses is refused before any lookup, with a typed error.
    let bad = Section::new("net:a\u{200d}b.org:8008").unwrap();
    assert!(matches!(
        net.understands(&bad),
        Err(ms_core::SectionError::Idna { at: 4, .. })
    ));
}

#[tokio::test]
async fn dialled_connections_name_the_resolved_ip_and_set_nodelay() {
    let listener = Net::new().bind().await.unwrap();
    let port = listener.local_addr().port();
    let (stream, reached) = Net::new()
        .dial(&HostPort::new("localhost", port))
        .await
        .unwrap();
    assert_eq!(reached, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    assert!(stream.nodelay().unwrap());

    let node = MultiServer::new([Stack::new(Net::new())]).unwrap();
    let conn = node
        .connect(&format!("net:localhost:{port}"))
        .await
        .unwrap();
    assert_eq!(
        conn.remote_address().to_string(),
        format!("net:127.0.0.1:{port}")
    );
}

#[tokio::test]
async fn accepted_connections_name_the_peer_ip_and_port() {
    let listener = Net::new().bind().await.unwrap();
    let client = TcpStream::connect(listener.local_addr()).await.unwrap();
    let accepted = listener.accept().await.unwrap();
    let local = client.local_addr().unwrap();
    assert_eq!(
        accepted.remote.as_str(),
        format!("net:127.0.0.1:{}", local.port())
    );
}

#[tokio::test]
async fn ipv4_mapped_peers_of_a_dual_stack_listener_print_as_ipv4() {
    if !ipv6_loopback_available() {
        eprintln!("note: ::1 is unavailable; skipping");
        return;
    }
    let net = Net::builder().host(Ipv6Addr::UNSPECIFIED).build().unwrap();
    let listener = net.bind().await.unwrap();
    if !listener.is_dual_stack() {
        eprintln!("note: this system refuses dual-stack sockets; skipping");
        return;
    }
    let port = listener.local_addr().port();
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    let accepted = listener.accept().await.unwrap();
    assert_eq!(
        accepted.remote.as_str(),
        format!("net:127.0.0.1:{}", client.local_addr().unwrap().port())
    );
}

#[tokio::test]
async fn ipv6_addresses_print_bare_and_brackets_are_accepted() {
    if !ipv6_loopback_available() {
        eprintln!("note: ::1 is unavailable; skipping");
        return;
    }
    let net = Net::builder().host(Ipv6Addr::LOCALHOST).build().unwrap();
    let node = MultiServer::new([Stack::new(net)]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(address, format!("net:::1:{port}"));
    for dial in [address.clone(), format!("net:[::1]:{port}")] {
        let client = tokio::spawn({
            let node = node.clone();
            async move {
                let mut conn = node.connect(&dial).await.unwrap();
                assert_eq!(conn.remote_address().to_string(), format!("net:::1:{port}"));
                conn.write_all(b"v6").await.unwrap();
                conn.shutdown().await.unwrap();
            }
        });
        let mut conn = server.accept().await.unwrap();
        assert!(conn.remote_address().to_string().starts_with("net:::1:"));
        let mut text = String::new();
        conn.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "v6");
        client.await.unwrap();
    }
}

#[tokio::test]
async fn port_zero_advertises_the_real_port() {
    let listener = Net::new().bind().await.unwrap();
    let port = listener.local_addr().port();
    assert_ne!(port, 0);
    let advertised = listener.advertise(Scope::Device);
    assert_eq!(advertised.len(), 1);
    assert_eq!(advertised[0].as_str(), format!("net:127.0.0.1:{port}"));
    assert!(listener.advertise(Scope::Local).is_empty());
    assert!(listener.advertise(Scope::Public).is_empty());
}

#[tokio::test]
async fn wildcard_listen_advertises_concrete_addresses_per_scope() {
    let net = Net::builder()
        .scopes(Scope::ALL)
        .host(Ipv4Addr::UNSPECIFIED)
        .build()
        .unwrap();
    let listener = net.bind().await.unwrap();
    let port = listener.local_addr().port();
    let device = listener.advertise(Scope::Device);
    assert!(
        device
            .iter()
            .any(|s| s.as_str() == format!("net:127.0.0.1:{port}")),
        "{device:?}"
    );
    for scope in Scope::ALL {
        for section in listener.advertise(scope) {
            let hp = HostPort::parse(&section, "net").unwrap();
            assert_eq!(hp.port(), port);
            let ip = hp.ip().expect("an interface address, not a name");
            assert!(!ip.is_unspecified(), "advertised the wildcard: {section:?}");
            assert!(ip.is_ipv4(), "an IPv4 wildcard advertised {section:?}");
            assert_eq!(Scope::of_ip(ip), scope, "{section:?}");
        }
    }
    // And the advertised device address works.
    let node = MultiServer::new([Stack::new(Net::new())]).unwrap();
    let conn = node.connect(device[0].as_str()).await;
    assert!(conn.is_ok(), "{conn:?}");
}

#[tokio::test]
async fn dual_stack_wildcard_advertises_both_loopbacks_and_both_work() {
    if !ipv6_loopback_available() {
        eprintln!("note: ::1 is unavailable; skipping");
        return;
    }
    let net = Net::builder().host(Ipv6Addr::UNSPECIFIED).build().unwrap();
    let listener = net.bind().await.unwrap();
    let port = listener.local_addr().port();
    let device: Vec<String> = listener
        .advertise(Scope::Device)
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert!(device.contains(&format!("net:::1:{port}")), "{device:?}");
    if listener.is_dual_stack() {
        assert_eq!(device[0], format!("net:127.0.0.1:{port}"), "IPv4 first");
    }
    for section in &device {
        let hp = HostPort::parse(&Section::new(section.as_str()).unwrap(), "net").unwrap();
        TcpStream::connect((hp.ip().unwrap(), port)).await.unwrap();
    }
}

#[tokio::test]
async fn external_hosts_are_announced_for_the_public_scope() {
    let net = Net::builder()
        .scopes([Scope::Device, Scope::Public])
        .external(["a.example", "b.example"])
        .build()
        .unwrap();
    assert_eq!(net.external(), ["a.example", "b.example"]);
    let node = MultiServer::new([Stack::new(net)]).unwrap();
    let server = node.listen().await.unwrap();
    let device = server.address(Scope::Device).to_string();
    let port = device.rsplit(':').next().unwrap();
    assert_eq!(
        server.address(Scope::Public).to_string(),
        format!("net:a.example:{port};net:b.example:{port}")
    );
    assert!(server.address(Scope::Local).is_empty());
    // Listening on a wildcard, the device address is still loopback, not the external name.
    assert_eq!(device, format!("net:127.0.0.1:{port}"));
    // A single string works too (the reference's string form).
    let one = Net::builder()
        .scope(Scope::Public)
        .external("ssb.example.org")
        .build()
        .unwrap();
    assert_eq!(one.external(), ["ssb.example.org"]);
}

#[test]
fn external_hosts_are_checked() {
    let err = Net::builder().external("a.example").build().unwrap_err();
    assert_eq!(err, ConfigError::ExternalWithoutPublicScope);
    for bad in ["", "a;b", "a:b", "a b", "host\n"] {
        let err = Net::builder()
            .scope(Scope::Public)
            .external(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidExternal { ref host, .. } if host == bad),
            "{bad:?}: {err:?}"
        );
    }
    // IPv6 external hosts print bare; brackets are accepted.
    let net = Net::builder()
        .scope(Scope::Public)
        .external(["2001:db8::1", "[2001:db8::2]"])
        .build()
        .unwrap();
    assert_eq!(net.external().len(), 2);
}

#[tokio::test]
async fn external_ipv6_hosts_print_bare() {
    let net = Net::builder()
        .scope(Scope::Public)
        .external(vec!["[2001:db8::2]"])
        .build()
        .unwrap();
    let listener = net.bind().await.unwrap();
    let port = listener.local_addr().port();
    let public: Vec<_> = listener.advertise(Scope::Public);
    assert_eq!(public[0].as_str(), format!("net:2001:db8::2:{port}"));
}

#[tokio::test]
async fn default_bind_host_follows_the_scopes() {
    assert_eq!(
        Net::new().bind_address().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    let local = Net::builder().scope(Scope::Local).build().unwrap();
    assert_eq!(local.bind_address().ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let explicit = Net::builder()
        .scope(Scope::Local)
        .host(Ipv4Addr::LOCALHOST)
        .port(1234)
        .build()
        .unwrap();
    assert_eq!(explicit.bind_address().to_string(), "127.0.0.1:1234");
}

#[tokio::test]
async fn a_busy_port_is_a_typed_error() {
    let first = Net::new().bind().await.unwrap();
    let port = first.local_addr().port();
    let second = Net::builder().port(port).build().unwrap();
    let err = second.bind().await.unwrap_err();
    assert!(
        matches!(err, NetError::AddrInUse { addr } if addr.port() == port),
        "{err:?}"
    );
    // Through a node it is a listen error.
    let node = MultiServer::new([Stack::new(second)]).unwrap();
    let err = node.listen().await.unwrap_err();
    assert!(matches!(err, Error::Listen { .. }), "{err:?}");
}

#[tokio::test]
async fn half_close_keeps_the_other_direction_open() {
    let node = MultiServer::new([Stack::new(Net::new())]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let client = tokio::spawn({
        let node = node.clone();
        async move {
            let mut conn = node.connect(&address).await.unwrap();
            conn.write_all(b"question").await.unwrap();
            conn.shutdown().await.unwrap();
            let mut answer = String::new();
            conn.read_to_string(&mut answer).await.unwrap();
            answer
        }
    });
    let mut conn = server.accept().await.unwrap();
    let mut question = String::new();
    conn.read_to_string(&mut question).await.unwrap();
    assert_eq!(question, "question");
    conn.write_all(b"answer after your FIN").await.unwrap();
    conn.shutdown().await.unwrap();
    assert_eq!(client.await.unwrap(), "answer after your FIN");
}

/// The `address_parse_cases` of the spec for `net` (shs-vectors.json), each with what this
/// crate does. `None` = refused. Where the reference differs, the comment says how.
#[test]
fn reference_parse_cases() {
    let cases: &[(&str, Option<(&str, u16)>)] = &[
        ("net:example.com:8008", Some(("example.com", 8008))),
        ("net:1.2.3.4:8008", Some(("1.2.3.4", 8008))),
        ("net:fe80::1:8008", Some(("fe80::1", 8008))),
        ("net:::1:8008", Some(("::1", 8008))),
        // Reference: host `[::1]`, which then fails to resolve. Brackets are accepted here.
        ("net:[::1]:8008", Some(("::1", 8008))),
        // Reference: empty host means `localhost`. Refused here: say what you mean.
        ("net::8008", None),
        // Reference: port 0, ` 80`, `0x50` (80) and 8008.5 come out of JavaScript's Number().
        // Here a port is 1 to 65535 in decimal digits.
        ("net:host:", None),
        ("net:host:abc", None),
        ("net:host: 80", None),
        ("net:host:0x50", None),
        ("net:host:8008.5", None),
        ("net:host", None),
        ("NET:host:1", None),
        // Reference (plugin parse called directly): host `h!:x`. A host with `:` must be IPv6.
        ("net:h!:x:1", None),
    ];
    let net = Net::new();
    for (input, expected) in cases {
        let section = Section::new(*input).unwrap();
        let got = net
            .understands(&section)
            .ok()
            .and_then(|()| HostPort::parse(&section, "net").ok());
        let got = got.as_ref().map(|hp| (hp.host(), hp.port()));
        assert_eq!(got, *expected, "{input}");
    }
    // Through the address parser `!:` is unescaped first (as compose does): `net:h:x:1`,
    // refused likewise; `!~` gives a host with `~`, which the reference accepts too.
    let node = MultiServer::new([Stack::new(Net::new())]).unwrap();
    assert!(
        node.plan(&MultiAddress::parse("net:h!:x:1").unwrap())
            .is_err()
    );
    let plan = node
        .plan(&MultiAddress::parse("net:ex!~ample.com:8008").unwrap())
        .unwrap();
    assert_eq!(plan[0].0.transport().as_str(), "net:ex~ample.com:8008");
}

#[tokio::test]
async fn reference_stringify_cases() {
    // `net_ipv6_scopeid_stripped`: a word zone is not printed.
    assert_eq!(
        HostPort::new("fe80::1%eth0", 8008)
            .to_section("net")
            .unwrap()
            .as_str(),
        "net:fe80::1:8008"
    );
    // `net_public`: a device-only transport announces nothing for public.
    let listener = Net::new().bind().await.unwrap();
    assert!(listener.advertise(Scope::Public).is_empty());
}
