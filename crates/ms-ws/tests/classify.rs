//! `ws` failures classified through `MultiServer::connect`'s error without downcasting, and
//! `ws://` addresses that have a scope for `DialOptions::prefer_scope`.

#![allow(clippy::unwrap_used)] // tests unwrap freely

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ms_core::{
    BoxError, Connected, DialOptions, DialStrategy, ErrorKind, Listener, MultiAddress, MultiServer,
    Scope, Scopes, Section, SectionError, Stack, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_server_that_does_not_upgrade_is_incompatible() {
    // A plain HTTP server on loopback: it answers every request 200 and closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let _ = tcp.read(&mut request).await.unwrap();
        tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .unwrap();
        tcp.shutdown().await.unwrap();
    });
    let err = common::node(common::ws())
        .connect(&format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let err = common::node(common::ws())
        .connect(&format!("ws://127.0.0.1:{}", common::dead_port()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
}

/// Listening on an address that is not this machine's (TEST-NET-1, RFC 5737: binding fails
/// locally with EADDRNOTAVAIL, nothing is sent) is our configuration's fault, not a refusal.
#[tokio::test]
async fn a_bind_address_that_is_not_ours_is_a_configuration_error() {
    let ws = ms_ws::Ws::builder()
        .host(std::net::Ipv4Addr::new(192, 0, 2, 1))
        .build()
        .unwrap();
    let err = MultiServer::new([Stack::new(ws)])
        .unwrap()
        .listen()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    assert!(
        matches!(
            err.plugin_error()
                .and_then(|e| e.downcast_ref::<ms_ws::WsError>()),
            Some(ms_ws::WsError::Tcp(ms_net::NetError::Listen { .. }))
        ),
        "{err:?}"
    );
}

/// A port already taken: Configuration too, and still a `WsError` underneath.
#[tokio::test]
async fn a_bind_port_in_use_is_a_configuration_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ws = ms_ws::Ws::builder().port(port).build().unwrap();
    let err = MultiServer::new([Stack::new(ws)])
        .unwrap()
        .listen()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    assert!(
        matches!(
            err.plugin_error()
                .and_then(|e| e.downcast_ref::<ms_ws::WsError>()),
            Some(ms_ws::WsError::Tcp(ms_net::NetError::AddrInUse { .. }))
        ),
        "{err:?}"
    );
    drop(taken);
}

#[test]
fn ws_addresses_have_the_scope_of_their_host() {
    let ws = ms_ws::Ws::builder().scopes(Scopes::ALL).build().unwrap();
    let scope = |text: &str| ws.scope_of(&text.parse::<Section>().unwrap());
    assert_eq!(scope("ws://127.0.0.1:8989"), Some(Scope::Device));
    assert_eq!(scope("ws://[::1]:8989/path"), Some(Scope::Device));
    assert_eq!(scope("ws://localhost"), Some(Scope::Device));
    assert_eq!(scope("ws://192.168.1.20:80"), Some(Scope::Local));
    assert_eq!(scope("ws://8.8.8.8"), Some(Scope::Public));
    assert_eq!(scope("ws://example.org"), None);
}

/// A transport with no opinion on scopes (it keeps the default `scope_of`) that records each
/// dial and fails it.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Transport for Recorder {
    fn name(&self) -> &str {
        "rec"
    }
    fn scopes(&self) -> Scopes {
        Scopes::ALL
    }
    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        if section.name() == "rec" {
            Ok(())
        } else {
            Err(SectionError::WrongProtocol {
                expected: "rec",
                found: section.name().to_owned(),
            })
        }
    }
    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        self.0.lock().unwrap().push(section.to_string());
        Err("recorded".into())
    }
    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Err("no".into())
    }
}

#[tokio::test]
async fn prefer_scope_orders_ws_alternatives() {
    let server = common::node(common::ws());
    let mut listening = server.listen().await.unwrap();
    let live = listening.address(Scope::Device).to_string();
    let accepting = tokio::spawn(async move {
        loop {
            if listening.accept().await.is_none() {
                break;
            }
        }
    });

    let log = Arc::new(Mutex::new(Vec::new()));
    // A client transport that serves every scope, so that its `scope_of` cannot fall back on
    // "device-only".
    let ws = ms_ws::Ws::builder().scopes(Scopes::ALL).build().unwrap();
    let client =
        MultiServer::new([Stack::new(ws), Stack::new(Recorder(Arc::clone(&log)))]).unwrap();
    let address: MultiAddress = format!("{live};rec:somewhere").parse().unwrap();
    let options = |scope| {
        DialOptions::default()
            .with_strategy(DialStrategy::Sequential)
            .with_prefer_scope(Some(scope))
    };

    // The ws alternative is on this device: preferring `device` dials it first, and it
    // connects, so the recorder is never dialled.
    client
        .connect_with(&address, &options(Scope::Device))
        .await
        .unwrap();
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // Preferring `public`, an alternative of unknown scope comes before one known to be on
    // this device: the recorder is dialled first, then the ws alternative connects.
    client
        .connect_with(&address, &options(Scope::Public))
        .await
        .unwrap();
    assert_eq!(*log.lock().unwrap(), ["rec:somewhere"]);
    accepting.abort();
}
