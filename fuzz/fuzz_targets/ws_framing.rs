//! The `ws` transport's server side against untrusted bytes.
//!
//! Mode 0 serves each input in memory through `Ws::serve_connection` (what the
//! transport's listener runs for every accepted connection): a `Ws` (plain `ws`, an
//! echoing HTTP handler, 2 KiB head and 1 KiB body limits) built once per process; each run
//! sends the input over an in-memory pipe, half-closes and reads the answer while the server
//! side serves the connection and, after an upgrade, reads the multiserver stream to its end.
//! Input: `[mode][mode data…]`, mode (low 2 bits):
//!
//! - 0, HTTP: the bytes sent. Checks: no panic, no hang (the set-up deadline is 5 s, each run
//!   is cut at 15 s); the status the server reports (`101` for an upgrade, `200` for a request
//!   the handler answered, `BadRequest` / `NotWebSocket` / `UpgradeRefused` statuses) is the
//!   one on the wire; `verify_client` (which refuses upgrades carrying `X-Refuse` with `403`)
//!   sees the peer and no body, and an upgrade is refused exactly when it carries `X-Refuse`;
//!   an upgrade happens only with a `Sec-WebSocket-Key` of 16 bytes; every answer is a
//!   well-formed response
//!   head with exactly one `Content-Length` (matching the body) and `Connection: close` (except
//!   `101`), no header outside the expected set (the handler copies request headers into
//!   response header names and values: CR/LF/NUL and non-token names must be dropped); the
//!   handler sees exactly the `Content-Length` bytes after the head; after an upgrade the
//!   stream yields no more bytes than were sent;
//! - 1, WebSocket frames, raw: the bytes go to a `WsStream` (server role) over an in-memory
//!   pipe; reading ends (data, EOF or error) with no more bytes than were sent;
//! - 2, WebSocket frames, valid: masked binary (possibly fragmented, with pings interleaved),
//!   text, ping, pong and empty messages built from the input, then a close frame; the stream
//!   must yield exactly the concatenated binary and text payloads, then end cleanly;
//! - 3, URL: a `ws`/`wss` section that parses prints to a section that parses to the same
//!   `WsUrl`.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ms_core::{Scopes, Section};
use ms_ws::{
    HttpHandler, HttpRequest, HttpResponse, WsError, WsOptions, WsStream, Ws, WsUrl,
};
use multiserver_fuzz::Input;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

const MAX_HEAD: usize = 2048;
const MAX_BODY: usize = 1024;

struct Server {
    rt: Runtime,
    transport: Ws,
}

fn echo_handler() -> HttpHandler {
    HttpHandler::new(|request: HttpRequest| async move {
        let text = |name: &str| {
            request
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let mut response = HttpResponse::new(200)
            .with_header("X-Method", request.method.clone())
            .with_header("X-Target", request.target.clone())
            .with_header("X-Echo", text("x-echo"));
        if let Some(name) = request.header("x-name") {
            response = response.with_header(String::from_utf8_lossy(name), "1");
        }
        response.with_body(request.body)
    })
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut options = WsOptions::default();
        options.keepalive = None;
        options.handshake_timeout = Duration::from_secs(5);
        options.max_request_head = MAX_HEAD;
        options.max_request_body = MAX_BODY;
        let transport = Ws::builder()
            .scopes(Scopes::DEVICE)
            .http_handler(echo_handler())
            .verify_client(|request| {
                assert!(request.body.is_empty(), "verify_client saw a body");
                assert_eq!(request.remote, PEER, "verify_client saw another peer");
                match request.header("x-refuse") {
                    Some(_) => Err(HttpResponse::text(403, "refused\n")),
                    None => Ok(()),
                }
            })
            .options(options)
            .build()
            .expect("transport");
        Server { rt, transport }
    })
}

/// What the server side made of a connection.
enum Served {
    Upgraded(Vec<u8>),
    Answered,
    Failed(WsError),
}

/// The peer address every HTTP-mode connection is served as.
const PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    40000,
);

/// Whether `request` parses as a head with an `X-Refuse` header.
fn asks_for_refusal(request: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; ms_ws::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    matches!(req.parse(request), Ok(httparse::Status::Complete(_)))
        && req
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("x-refuse"))
}

/// Whether the request's `Sec-WebSocket-Key` is base64 of 16 bytes (RFC 6455 §4.2.1): 22
/// base64 characters and `==`, surrounding spaces aside.
fn has_valid_key(request: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; ms_ws::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(request), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    let Some(key) = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
    else {
        return false;
    };
    let key = key.value.trim_ascii();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn http(data: &[u8]) {
    let server = server();
    let peer = PEER;
    let run = async {
        // Room for any request and answer, so that neither side waits for the other to read.
        let (mut client_io, server_io) = tokio::io::duplex(1 << 20);
        let client = async {
            // Whether the server reads everything or not, the request is over.
            let _ = client_io.write_all(data).await;
            let _ = client_io.shutdown().await;
            let mut answer = Vec::new();
            let clean = client_io.read_to_end(&mut answer).await.is_ok();
            (answer, clean)
        };
        let serve = async {
            match server.transport.serve_connection(server_io, peer).await {
                Ok(Some(mut stream)) => {
                    let (bytes, _) = read_all(&mut stream, data.len()).await;
                    Served::Upgraded(bytes)
                }
                Ok(None) => Served::Answered,
                Err(e) => Served::Failed(e),
            }
        };
        tokio::join!(client, serve)
    };
    let ((answer, clean), served) = server
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), run).await })
        .expect("a connection took more than 15 s: hang");

    let status = match &served {
        Served::Upgraded(bytes) => {
            assert!(bytes.len() <= data.len(), "read more than was sent");
            assert!(!asks_for_refusal(data), "verify_client was not asked");
            assert!(has_valid_key(data), "upgraded with an invalid Sec-WebSocket-Key");
            Some(101)
        }
        // The handler always answers 200.
        Served::Answered => Some(200),
        Served::Failed(e) => match e {
            WsError::BadRequest { status, .. } | WsError::NotWebSocket { status, .. } => {
                Some(*status)
            }
            WsError::UpgradeRefused { status, .. } => {
                assert!(asks_for_refusal(data), "an upgrade refused without reason");
                Some(*status)
            }
            WsError::ClosedEarly { .. } => {
                if clean {
                    assert!(answer.is_empty(), "an answer to an unfinished request");
                }
                None
            }
            WsError::Timeout { .. } => panic!("the set-up timed out: {e}"),
            _ => None,
        },
    };
    let (Some(status), true, false) = (status, clean, answer.is_empty()) else {
        return;
    };
    check_answer(data, status, &answer);
}

/// Checks a complete answer to `request`, which the server says was `status`.
fn check_answer(request: &[u8], status: u16, answer: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(answer) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "malformed answer ({other:?}): {:?}",
            String::from_utf8_lossy(answer)
        ),
    };
    assert_eq!(
        response.code,
        Some(status),
        "reported and sent status differ"
    );
    let body = &answer[head_len..];
    let names: Vec<String> = response
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    let count = |name: &str| names.iter().filter(|n| *n == name).count();

    // The request as the server must have seen it.
    let mut req_headers = [httparse::EMPTY_HEADER; ms_ws::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut req_headers);
    let parsed = req.parse(request);
    let req_header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let extra_name = req_header("x-name").map(|v| String::from_utf8_lossy(v).to_ascii_lowercase());
    for name in &names {
        let expected = matches!(
            name.as_str(),
            "content-type"
                | "content-length"
                | "connection"
                | "upgrade"
                | "sec-websocket-accept"
                | "sec-websocket-version"
                | "x-method"
                | "x-target"
                | "x-echo"
        ) || Some(name) == extra_name.as_ref();
        assert!(
            expected,
            "unexpected response header `{name}`: {:?}",
            String::from_utf8_lossy(answer)
        );
    }
    if status == 101 {
        assert_eq!(count("sec-websocket-accept"), 1);
        return;
    }
    assert_eq!(
        count("content-length"),
        1,
        "{:?}",
        String::from_utf8_lossy(answer)
    );
    assert_eq!(count("connection"), 1);
    let value = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .expect("present")
    };
    assert_eq!(value("connection"), b"close");
    let length: usize = std::str::from_utf8(value("content-length"))
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a numeric Content-Length");
    let head_request = req.method == Some("HEAD");
    if head_request && status == 200 {
        assert!(body.is_empty(), "a body in the answer to HEAD");
    } else {
        assert_eq!(length, body.len(), "Content-Length does not match the body");
    }

    // The handler echoes the body: it must be exactly the Content-Length bytes after the head.
    if status == 200 && !head_request {
        let Ok(httparse::Status::Complete(req_head_len)) = parsed else {
            panic!("the handler answered a request that does not parse");
        };
        let declared = req_header("content-length").map_or(Some(0), |v| {
            std::str::from_utf8(v.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
        });
        let declared = declared.expect("the handler saw an invalid Content-Length");
        assert!(declared <= MAX_BODY, "the handler saw an oversized body");
        let sent = &request[req_head_len..];
        assert!(
            sent.len() >= declared,
            "the handler ran although the body was incomplete"
        );
        assert!(body == &sent[..declared], "the handler saw another body");
    }
}

/// Reads until EOF or an error; never more than `limit` bytes (a stream cannot produce more
/// payload than it was sent).
async fn read_all<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    limit: usize,
) -> (Vec<u8>, std::io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return (out, Ok(())),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                assert!(out.len() <= limit, "read more than was sent");
            }
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Runs `wire` through a server-side `WsStream` over an in-memory pipe.
fn frames(wire: &[u8]) -> (Vec<u8>, std::io::Result<()>) {
    let run = async {
        let (mut peer, ours) = tokio::io::duplex(256 * 1024);
        let config = WebSocketConfig::default()
            .max_message_size(Some(64 << 10))
            .max_frame_size(Some(64 << 10));
        let ws = WebSocketStream::from_raw_socket(ours, Role::Server, Some(config)).await;
        let mut stream = WsStream::new(ws, 4096, None);
        let peer_side = async {
            let _ = peer.write_all(wire).await;
            let _ = peer.shutdown().await;
            let mut sink = Vec::new();
            let _ = peer.read_to_end(&mut sink).await;
        };
        let ours_side = async {
            let result = read_all(&mut stream, wire.len()).await;
            drop(stream);
            result
        };
        tokio::join!(peer_side, ours_side).1
    };
    server()
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), run).await })
        .expect("reading the WebSocket took more than 15 s: hang")
}

/// A masked client frame.
fn frame(out: &mut Vec<u8>, fin: bool, opcode: u8, mask: [u8; 4], payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

fn valid_frames(input: &mut Input<'_>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..input.byte() % 8 {
        let kind = input.byte();
        let mask: [u8; 4] = input.array();
        let len = usize::from(input.u16()) % 3000;
        let payload = input.bytes(len).to_vec();
        match kind % 5 {
            0 => {
                // A binary message in up to four fragments, with a ping between fragments.
                let pieces = usize::from(kind >> 3) % 4 + 1;
                let size = payload.len().div_ceil(pieces).max(1);
                let chunks: Vec<&[u8]> = payload.chunks(size).collect();
                if chunks.is_empty() {
                    frame(&mut wire, true, 2, mask, &[]);
                }
                for (i, chunk) in chunks.iter().enumerate() {
                    let last = i + 1 == chunks.len();
                    frame(&mut wire, last, if i == 0 { 2 } else { 0 }, mask, chunk);
                    if !last && kind & 4 != 0 {
                        frame(&mut wire, true, 9, mask, b"ping");
                    }
                }
                expected.extend_from_slice(&payload);
            }
            1 => {
                let text: Vec<u8> = payload.iter().map(|b| b & 0x7f).collect();
                frame(&mut wire, true, 1, mask, &text);
                expected.extend_from_slice(&text);
            }
            2 => frame(&mut wire, true, 9, mask, &payload[..payload.len().min(125)]),
            3 => frame(
                &mut wire,
                true,
                10,
                mask,
                &payload[..payload.len().min(125)],
            ),
            _ => frame(&mut wire, true, 2, mask, &[]),
        }
    }
    frame(&mut wire, true, 8, input.array(), &1000u16.to_be_bytes());
    let (got, result) = frames(&wire);
    assert!(
        result.is_ok(),
        "a valid WebSocket stream failed: {result:?}"
    );
    assert!(
        got == expected,
        "the stream delivered other bytes than the messages carried"
    );
}

fn url(text: &[u8]) {
    let Ok(section) = Section::new(String::from_utf8_lossy(text)) else {
        return;
    };
    let Ok(url) = WsUrl::parse(&section) else {
        return;
    };
    let printed = url.to_section().expect("a parsed URL prints as a section");
    assert_eq!(printed.as_str(), url.to_string());
    let again = WsUrl::parse(&printed).expect("a printed URL parses");
    assert_eq!(again, url, "print/parse round trip changed the URL");
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    match input.byte() % 4 {
        0 => http(input.rest()),
        1 => {
            let wire = input.rest();
            let (got, _) = frames(wire);
            assert!(got.len() <= wire.len());
        }
        2 => valid_frames(&mut input),
        _ => url(input.rest()),
    }
});
