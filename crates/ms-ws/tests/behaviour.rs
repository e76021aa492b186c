//! What the `ws` transport does beyond the conformance suite: framing as the reference frames,
//! write batching, close frames, keep-alive, plain HTTP, advertising, TLS verification.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ms_core::{Event, MultiServer, Scope, Scopes, Stack};
use ms_ws::{HttpHandler, HttpResponse, Keepalive, Ws, WsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

type RawClient = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A plain tungstenite client, as a JavaScript peer would be: it frames as it likes.
async fn raw_client(url: &str) -> RawClient {
    let authority = url.trim_start_matches("ws://");
    let tcp = TcpStream::connect(authority).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("{url}/"), tcp)
        .await
        .unwrap();
    ws
}

fn device_address(server: &ms_core::Server) -> String {
    server.address(Scope::Device).to_string()
}

#[tokio::test]
async fn reads_messages_split_as_the_reference_splits_them() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let mut client = raw_client(&device_address(&server)).await;
    let mut conn = server.accept().await.unwrap();

    // A box-stream frame as the reference sends it: header and body as separate messages.
    client.send(Message::binary(vec![1u8; 34])).await.unwrap();
    client.send(Message::binary(vec![2u8; 100])).await.unwrap();
    client.send(Message::binary(Vec::new())).await.unwrap();
    client.send(Message::text("xyz")).await.unwrap();
    let mut got = vec![0u8; 34 + 100 + 3];
    conn.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..34], &[1u8; 34][..]);
    assert_eq!(&got[34..134], &[2u8; 100][..]);
    assert_eq!(&got[134..], b"xyz");
}

#[tokio::test]
async fn coalesces_small_writes_into_one_message_per_flush() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let mut client = raw_client(&device_address(&server)).await;
    let mut conn = server.accept().await.unwrap();

    for _ in 0..100 {
        conn.write_all(b"ab").await.unwrap();
    }
    conn.flush().await.unwrap();
    match client.next().await.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(data.len(), 200),
        other => panic!("expected one binary message, got {other:?}"),
    }

    // A large write becomes a few large messages, none bigger than the limit.
    let limit = ms_ws::WsOptions::default().write_message_size;
    let big = vec![7u8; 3 * limit + 5];
    conn.write_all(&big).await.unwrap();
    conn.flush().await.unwrap();
    let mut total = 0;
    let mut messages = 0;
    while total < big.len() {
        match client.next().await.unwrap().unwrap() {
            Message::Binary(data) => {
                assert!(data.len() <= limit);
                total += data.len();
                messages += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(total, big.len());
    assert_eq!(messages, 4);
}

#[tokio::test]
async fn shutdown_sends_a_close_frame_and_the_peer_close_ends_reading() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let mut client = raw_client(&device_address(&server)).await;
    let mut conn = server.accept().await.unwrap();

    conn.write_all(b"last words").await.unwrap();
    conn.shutdown().await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::binary(&b"last words"[..])
    );
    assert!(matches!(
        client.next().await.unwrap().unwrap(),
        Message::Close(_)
    ));
    // tungstenite answers the close; our side then reads the end of the stream.
    let closing = tokio::spawn(async move {
        // Sends tungstenite's answer to our close, then waits for the end of the TCP stream.
        let _ = client.next().await;
    });
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    assert!(conn.write_all(b"more").await.is_err() || conn.flush().await.is_err());
    drop(conn);
    tokio::time::timeout(Duration::from_secs(5), closing)
        .await
        .expect("the peer did not see the connection end")
        .unwrap();
}

fn keepalive_node() -> MultiServer {
    common::node(
        Ws::builder()
            .keepalive(Some(Keepalive {
                interval: Duration::from_millis(150),
                timeout: Duration::from_millis(150),
            }))
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn drops_a_peer_that_stops_answering_pings() {
    let node = keepalive_node();
    let mut server = node.listen().await.unwrap();
    // The client never reads, so it never answers a ping.
    let _silent = raw_client(&device_address(&server)).await;
    let mut conn = server.accept().await.unwrap();
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("the silent peer was never timed out")
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn keeps_a_quiet_peer_that_answers_pings() {
    let node = keepalive_node();
    let mut server = node.listen().await.unwrap();
    let client = raw_client(&device_address(&server)).await;
    let (mut sink, mut source) = client.split();
    // Reading makes tungstenite answer the pings.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    let mut conn = server.accept().await.unwrap();
    let mut buf = [0u8; 5];
    let read = tokio::spawn(async move { conn.read_exact(&mut buf).await.map(|_| buf) });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sink.send(Message::binary(&b"hello"[..])).await.unwrap();
    assert_eq!(&read.await.unwrap().unwrap(), b"hello");
    reader.abort();
}

/// The server's next event, which must be a rejection (within 5 s).
async fn next_rejection(server: &mut ms_core::Server) -> ms_core::Error {
    match tokio::time::timeout(Duration::from_secs(5), server.next_event()).await {
        Ok(Some(Event::Rejected { error, .. })) => error,
        other => panic!("expected a rejected event, got {other:?}"),
    }
}

/// The `WsError` inside a node error.
fn ws_error(error: &ms_core::Error) -> &WsError {
    error
        .plugin_error()
        .and_then(|e| e.downcast_ref::<WsError>())
        .unwrap_or_else(|| panic!("not a ws error: {error}"))
}

async fn http_get(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn answers_plain_http_through_the_handler() {
    let ws = Ws::builder()
        .http_handler(HttpHandler::new(|request| async move {
            HttpResponse::text(200, format!("you asked for {}", request.target))
        }))
        .build()
        .unwrap();
    let node = common::node(ws);
    let mut server = node.listen().await.unwrap();
    let addr = device_address(&server)
        .trim_start_matches("ws://")
        .to_owned();

    let answer = http_get(&addr, "GET /blobs/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("you asked for /blobs/x?y=1"), "{answer}");

    // WebSockets still work on the same port, and the served request was not a rejection:
    // the next event is the WebSocket connection.
    let mut client = raw_client(&device_address(&server)).await;
    let mut conn = match tokio::time::timeout(Duration::from_secs(5), server.next_event()).await {
        Ok(Some(Event::Connected(conn))) => conn,
        other => panic!("expected the WebSocket connection, got {other:?}"),
    };
    conn.write_all(b"hi").await.unwrap();
    conn.flush().await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::binary(&b"hi"[..])
    );
}

#[tokio::test]
async fn without_a_handler_plain_http_gets_426() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let addr = device_address(&server)
        .trim_start_matches("ws://")
        .to_owned();
    let answer = http_get(&addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
    // A WebSocket-only port asked for plain HTTP: the node reports a rejected connection.
    let error = next_rejection(&mut server).await;
    assert!(
        matches!(ws_error(&error), WsError::NotWebSocket { status: 426, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_upgrade_whose_key_is_not_16_bytes_gets_400() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let addr = device_address(&server)
        .trim_start_matches("ws://")
        .to_owned();
    // `abc`, and 17 bytes of base64: the `ws` library behind the reference answers 400.
    for key in ["abc", "AAAAAAAAAAAAAAAAAAAAAAA="] {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        );
        // Bounded: an upgraded connection (the bug) would stay open.
        let answer = tokio::time::timeout(Duration::from_secs(10), http_get(&addr, &request))
            .await
            .expect("the server answered and closed the connection");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        let error = next_rejection(&mut server).await;
        assert!(
            matches!(ws_error(&error), WsError::BadRequest { status: 400, reason, .. }
                if reason.contains("Sec-WebSocket-Key")),
            "{error}"
        );
    }
    // A valid key on the same port is still upgraded.
    let _client = raw_client(&device_address(&server)).await;
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), server.next_event()).await,
        Ok(Some(Event::Connected(_)))
    ));
}

#[tokio::test]
async fn a_slow_http_client_does_not_block_others() {
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let addr = device_address(&server)
        .trim_start_matches("ws://")
        .to_owned();
    // Half a request head, then silence.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    let _client = raw_client(&device_address(&server)).await;
    tokio::time::timeout(Duration::from_secs(5), server.accept())
        .await
        .expect("the slow client blocked the accept loop")
        .unwrap();
}

#[tokio::test]
async fn reports_inbound_peers_as_ws_urls_and_keeps_the_dialled_path() {
    // A bare tungstenite server that records the request path.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (path_tx, path_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut path_tx = Some(path_tx);
        // tungstenite's callback type fixes the (large) error type.
        #[allow(clippy::result_large_err)]
        let callback = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                        response| {
            if let Some(tx) = path_tx.take() {
                let _ = tx.send(request.uri().to_string());
            }
            Ok(response)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    });
    let node = common::node(common::ws());
    let url = format!("ws://127.0.0.1:{port}/room/1?x=y");
    let conn = node.connect(&url).await.unwrap();
    assert_eq!(path_rx.await.unwrap(), "/room/1?x=y");
    assert_eq!(conn.remote_address().to_string(), url);

    // And the server names its peers ws://<ip>:<port>.
    let node = common::node(common::ws());
    let mut server = node.listen().await.unwrap();
    let _client = node.connect(&device_address(&server)).await.unwrap();
    let inbound = server.accept().await.unwrap();
    let remote = inbound.remote_address().to_string();
    assert!(remote.starts_with("ws://127.0.0.1:"), "{remote}");
}

#[tokio::test]
async fn advertises_the_real_port_and_external_names() {
    let ws = Ws::builder()
        .host(std::net::Ipv4Addr::UNSPECIFIED)
        .scopes(Scopes::DEVICE | Scopes::PUBLIC)
        .external(["example.org", "b.example"])
        .build()
        .unwrap();
    let node = MultiServer::new([Stack::new(ws)]).unwrap();
    let server = node.listen().await.unwrap();
    let device = server.address(Scope::Device).to_string();
    assert!(device.starts_with("ws://127.0.0.1:"), "{device}");
    assert!(!device.contains("0.0.0.0"));
    let port = device.rsplit(':').next().unwrap();
    assert_ne!(port, "0");
    assert_eq!(
        server.address(Scope::Public).to_string(),
        format!("ws://example.org:{port};ws://b.example:{port}")
    );
    assert!(server.address(Scope::Local).is_empty());
}

#[cfg(feature = "wss")]
#[tokio::test]
async fn wss_refuses_a_server_it_cannot_verify() {
    // The server has a certificate from the test CA; this client trusts only webpki roots.
    let node = common::node(common::wss());
    let server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    assert!(address.starts_with("wss://127.0.0.1:"), "{address}");
    let stranger = common::node(Ws::builder().build().unwrap());
    let err = stranger.connect(&address).await.unwrap_err();
    let ws_error = err.plugin_error().and_then(|e| e.downcast_ref::<WsError>());
    assert!(matches!(ws_error, Some(WsError::Tls { .. })), "{err}");
}

#[tokio::test]
async fn dial_timeout_applies_to_a_server_that_never_upgrades() {
    let ws = Ws::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let node = common::node(ws);
    let err = node
        .connect(&format!("ws://127.0.0.1:{}", common::black_hole_port()))
        .await
        .unwrap_err();
    let ws_error = err.plugin_error().and_then(|e| e.downcast_ref::<WsError>());
    assert!(matches!(ws_error, Some(WsError::Timeout { .. })), "{err}");
}

#[tokio::test]
async fn a_dead_port_lists_the_refused_address() {
    let node = common::node(common::ws());
    let err = node
        .connect(&format!("ws://localhost:{}", common::dead_port()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ms_core::ErrorKind::Refused, "{err}");
    match err.plugin_error().and_then(|e| e.downcast_ref::<WsError>()) {
        Some(WsError::Tcp(tcp)) => assert_eq!(
            ms_core::Classify::kind(tcp),
            ms_core::ErrorKind::Refused,
            "{tcp:?}"
        ),
        _ => panic!("{err}"),
    }
}

/// `serve_connection` on a stream accepted elsewhere (an in-memory pipe here) upgrades, serves
/// plain HTTP through the handler, and answers a slow peer with a timeout, as the listener does.
#[tokio::test]
async fn serves_a_connection_accepted_elsewhere() {
    let ws = Ws::builder()
        .http_handler(HttpHandler::new(|request| async move {
            HttpResponse::text(200, format!("hello {}", request.remote))
        }))
        .build()
        .unwrap();
    let peer: std::net::SocketAddr = "192.0.2.7:4242".parse().unwrap();

    // A WebSocket upgrade: the multiserver stream carries the bytes both ways.
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn({
        let ws = ws.clone();
        async move { ws.serve_connection(server_io, peer).await }
    });
    let (mut client, _) = tokio_tungstenite::client_async("ws://example.org/", client_io)
        .await
        .unwrap();
    let mut stream = serving.await.unwrap().unwrap().expect("an upgrade");
    client.send(Message::binary(&b"ping"[..])).await.unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    stream.write_all(b"pong").await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::binary(&b"pong"[..])
    );

    // Plain HTTP: the handler answers (it sees the peer given), and there is no stream.
    let (mut client_io, server_io) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn({
        let ws = ws.clone();
        async move { ws.serve_connection(server_io, peer).await }
    });
    client_io
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    client_io.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello 192.0.2.7:4242"), "{answer}");
    assert!(matches!(serving.await.unwrap(), Ok(None)));

    // A peer that never finishes its request: the set-up deadline ends it.
    let mut options = ms_ws::WsOptions::default();
    options.handshake_timeout = Duration::from_millis(100);
    let strict = Ws::builder().options(options).build().unwrap();
    let (mut client_io, server_io) = tokio::io::duplex(1024);
    client_io.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let result = strict.serve_connection(server_io, peer).await;
    assert!(
        matches!(result, Err(WsError::Timeout { .. })),
        "{:?}",
        result.map(|s| s.is_some())
    );
}

#[tokio::test]
async fn verify_client_decides_on_each_upgrade() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ws = Ws::builder()
        .verify_client({
            let seen = seen.clone();
            move |request| {
                seen.lock()
                    .unwrap()
                    .push((request.target.clone(), request.remote.ip()));
                match request.header("origin") {
                    Some(b"http://good.example") | None => Ok(()),
                    Some(_) => Err(HttpResponse::text(403, "origin not allowed\n")),
                }
            }
        })
        .build()
        .unwrap();
    let node = common::node(ws);
    let mut server = node.listen().await.unwrap();
    let url = device_address(&server);
    let authority = url.trim_start_matches("ws://").to_owned();
    let upgrade = |origin: &'static str| {
        let authority = authority.clone();
        async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut request = format!("ws://{authority}/room")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
            let tcp = TcpStream::connect(&authority).await.unwrap();
            tokio_tungstenite::client_async(request, tcp).await
        }
    };

    // A refused origin gets the callback's response, and the node a rejection saying why.
    match upgrade("http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
    let error = next_rejection(&mut server).await;
    assert!(
        matches!(ws_error(&error), WsError::UpgradeRefused { status: 403, path, .. } if path == "/room"),
        "{error}"
    );

    // An accepted origin upgrades as usual.
    let (mut client, _) = upgrade("http://good.example").await.unwrap();
    let mut conn = server.accept().await.unwrap();
    conn.write_all(b"welcome").await.unwrap();
    conn.flush().await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::binary(&b"welcome"[..])
    );

    // The callback saw both requests, with their target and the peer's address.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|(target, ip)| target == "/room" && ip.is_loopback())
    );
}

/// Without the `wss` feature there is no TLS: `wss://` addresses are left to other transports,
/// and dialling one directly is a clear error.
#[cfg(not(feature = "wss"))]
#[tokio::test]
async fn a_build_without_wss_leaves_wss_addresses_alone() {
    use ms_core::{Section, SectionError, Transport as _};
    let ws = common::ws();
    let section = Section::new("wss://127.0.0.1:1/").unwrap();
    assert!(matches!(
        ws.understands(&section),
        Err(SectionError::WrongProtocol { .. })
    ));
    assert!(
        ws.understands(&Section::new("ws://127.0.0.1:1/").unwrap())
            .is_ok()
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("wss://{}/", listener.local_addr().unwrap());
    let url = ms_ws::WsUrl::parse(&Section::new(&url).unwrap()).unwrap();
    match ws.dial(&url).await {
        Err(ms_ws::WsError::Tls { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::Unsupported);
        }
        Err(other) => panic!("expected the no-TLS error, got {other}"),
        Ok(_) => panic!("a build without TLS dialled wss"),
    }
}
