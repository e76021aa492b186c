//! The `onion` transport against a real SOCKS5 proxy: `microsocks` (Debian package
//! `microsocks`), started by each test on a free loopback port and killed when it ends
//! ([`ms_testkit::Microsocks`]).
//!
//! The binary is found on `PATH`, or at the path in the `MICROSOCKS` environment variable.
//! Without it, the tests that need it print one `skipped: ...` line and pass; under
//! `MULTISERVER_REQUIRE_ALL=1` (`.ci/run`, CI) they fail instead ([`ms_testkit::require`]).

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use ms_core::{Error, MultiServer, Stack};
use ms_onion::{Onion, OnionError, SocksReply};
use ms_testkit::{Microsocks, refused_localhost_port, refused_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback address where connections are refused (for as long as the test runs).
fn refused_addr() -> SocketAddr {
    let ip = Ipv4Addr::LOCALHOST.into();
    SocketAddr::new(ip, refused_port(ip))
}

/// An echo server reachable as `localhost:<port>` (on 127.0.0.1, and on ::1 when possible, so
/// that it does not matter which one the proxy's resolver picks).
async fn echo_server() -> u16 {
    let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind(("::1", port)).await.ok();
    for listener in std::iter::once(v4).chain(v6) {
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = tcp.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
    }
    port
}

fn onion_via<const N: usize>(proxies: [std::net::SocketAddr; N]) -> Onion {
    Onion::builder().proxies(proxies).build().unwrap()
}

fn node(onion: Onion) -> MultiServer {
    MultiServer::new([Stack::new(onion)]).unwrap()
}

fn onion_error(err: &Error) -> &OnionError {
    err.plugin_error()
        .and_then(|e| e.downcast_ref::<OnionError>())
        .unwrap_or_else(|| panic!("not an onion error: {err}"))
}

#[tokio::test]
async fn connects_through_the_proxy_by_host_name() {
    let Some(proxy) = Microsocks::start() else {
        return;
    };
    let port = echo_server().await;
    let node = node(onion_via([proxy.addr()]));
    // `localhost` is sent to the proxy as a name, and the proxy resolves it.
    let address = format!("onion:localhost:{port}");
    let mut conn = node.connect(&address).await.unwrap();
    assert_eq!(conn.remote_address().to_string(), address);
    conn.write_all(b"through tor, sort of").await.unwrap();
    let mut back = [0u8; 20];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"through tor, sort of");
}

#[tokio::test]
async fn reports_a_proxy_that_is_down() {
    let proxy = refused_addr();
    let node = node(onion_via([proxy]));
    let err = node.connect("onion:example.onion:8008").await.unwrap_err();
    match onion_error(&err) {
        OnionError::ProxyDown { proxy: p, .. } => assert_eq!(*p, proxy),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn reports_a_proxy_that_requires_authentication() {
    let Some(proxy) = Microsocks::start_with_auth("user", "secret") else {
        return;
    };
    let port = echo_server().await;
    let node = node(onion_via([proxy.addr()]));
    let err = node
        .connect(&format!("onion:localhost:{port}"))
        .await
        .unwrap_err();
    assert!(
        matches!(onion_error(&err), OnionError::AuthRequired { proxy: p } if *p == proxy.addr()),
        "{err}"
    );
}

#[tokio::test]
async fn reports_the_proxy_reply_code() {
    let Some(proxy) = Microsocks::start() else {
        return;
    };
    let node = node(onion_via([proxy.addr()]));
    let err = node
        .connect(&format!("onion:localhost:{}", refused_localhost_port()))
        .await
        .unwrap_err();
    match onion_error(&err) {
        OnionError::Refused { reply, target, .. } => {
            assert_eq!(*reply, SocksReply(5), "{err}");
            assert!(target.starts_with("localhost:"));
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn falls_back_from_the_first_proxy_to_the_second() {
    let Some(proxy) = Microsocks::start() else {
        return;
    };
    let port = echo_server().await;
    let node = node(onion_via([refused_addr(), proxy.addr()]));
    let mut conn = node
        .connect(&format!("onion:localhost:{port}"))
        .await
        .unwrap();
    conn.write_all(b"second").await.unwrap();
    let mut back = [0u8; 6];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"second");
}

#[tokio::test]
async fn lists_every_proxy_when_all_fail() {
    let (first, second) = (refused_addr(), refused_addr());
    let node = node(onion_via([first, second]));
    let err = node.connect("onion:example.onion:8008").await.unwrap_err();
    match onion_error(&err) {
        OnionError::AllProxiesFailed(errors) => {
            assert_eq!(errors.len(), 2);
            assert!(matches!(&errors[0], OnionError::ProxyDown { proxy, .. } if *proxy == first));
            assert!(matches!(&errors[1], OnionError::ProxyDown { proxy, .. } if *proxy == second));
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("all 2 SOCKS proxies failed"),
        "{err}"
    );
}

#[tokio::test]
async fn times_out_on_a_proxy_that_never_answers() {
    // Accepts TCP connections and then says nothing.
    let silent = StdListener::bind("127.0.0.1:0").unwrap();
    let proxy = silent.local_addr().unwrap();
    let node = node(
        Onion::builder()
            .proxies([proxy])
            .connect_timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let err = node.connect("onion:example.onion:8008").await.unwrap_err();
    assert!(
        matches!(onion_error(&err), OnionError::Timeout { proxy: p, .. } if *p == proxy),
        "{err}"
    );
    drop(silent);
}

#[tokio::test]
async fn onion_is_client_only_and_a_node_serves_its_other_stacks() {
    use ms_core::Transport as _;
    let onion = Onion::new();
    assert!(!onion.can_listen());
    let err = onion.listen().await.err().expect("onion listened");
    let err = ms_core::unwrap_classified(err.as_ref())
        .downcast_ref::<OnionError>()
        .expect("not an OnionError");
    assert!(matches!(err, OnionError::ClientOnly), "{err}");
    assert!(
        err.to_string()
            .contains("onion is client-only: serve a net stack behind a Tor hidden service")
    );
    // The node skips the client-only stack instead of failing to listen.
    let server = node(Onion::new()).listen().await.unwrap();
    assert!(server.addresses().iter().all(|(_, a)| a.is_empty()));
    server.close().await;
}
