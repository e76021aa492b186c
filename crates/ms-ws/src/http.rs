//! The HTTP/1.1 side of the server: read one request head, then either accept the WebSocket
//! upgrade or answer the request through the application's handler.
//!
//! Why not hyper: the server needs exactly one request per connection and hands the socket to
//! tungstenite right after the `101`, so a full HTTP stack (keep-alive, pipelining, chunked
//! bodies, its own connection task) would add a layer to every WebSocket byte and a second
//! task per connection, for features the reference's users do not rely on. The head is parsed
//! by `httparse` (the parser hyper itself uses, and already a dependency of tungstenite); this
//! module only bounds what it reads:
//!
//! - the head is at most [`Limits::max_head`] bytes and [`MAX_HEADERS`] headers
//!   (`431` otherwise), the body of a plain request at most [`Limits::max_body`] (`413`);
//! - chunked request bodies are refused (`501`); every plain response closes the connection;
//! - the caller runs all of it under a deadline (the transport's handshake timeout).
//!
//! Bytes that arrive after the head of an upgrade request (a client that does not wait for the
//! `101`) are handed to tungstenite, not dropped.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::WsError;

/// Most headers a request may have.
pub const MAX_HEADERS: usize = 64;

/// Size limits for incoming HTTP requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// Whether an upgrade's request (method, target, headers) is kept for `verify_client`.
    pub keep_upgrade_request: bool,
}

/// A plain (non-WebSocket) HTTP request, as the handler sees it.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/blobs/get/...?x=1`.
    pub target: String,
    /// The headers in the order received; names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (empty unless the request had a `Content-Length`).
    pub body: Bytes,
    /// The peer's socket address.
    pub remote: SocketAddr,
}

impl HttpRequest {
    /// The first header named `name` (any case).
    ///
    /// ```
    /// use ms_ws::HttpRequest;
    /// let request = HttpRequest {
    ///     method: "GET".into(),
    ///     target: "/".into(),
    ///     headers: vec![("Host".into(), b"example.com".to_vec())],
    ///     body: Default::default(),
    ///     remote: "127.0.0.1:5000".parse().unwrap(),
    /// };
    /// assert_eq!(request.header("host"), Some(&b"example.com"[..]));
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// A `Content-Length` value: one or more ASCII digits (no sign, no spaces), as RFC 9112 says.
fn parse_content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The handler's answer. The server adds `Content-Length` and `Connection: close`.
///
/// ```
/// use ms_ws::HttpResponse;
/// let response = HttpResponse::text(200, "hello")
///     .with_header("Cache-Control", "no-store");
/// assert_eq!(response.status(), 200);
/// ```
#[derive(Clone, Debug)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl HttpResponse {
    /// An empty response with `status` (100–999; anything else is sent as 500).
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(text.into())
    }

    /// Adds a header. Names that are not HTTP tokens and values holding CR, LF or NUL are
    /// dropped when the response is written (no response splitting).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}

type HandlerFn =
    dyn Fn(HttpRequest) -> Pin<Box<dyn Future<Output = HttpResponse> + Send>> + Send + Sync;

/// Answers plain HTTP requests that reach a `ws` server (the reference's `handler` option).
///
/// ```
/// use ms_ws::{HttpHandler, HttpResponse};
/// let handler = HttpHandler::new(|request| async move {
///     if request.target == "/health" {
///         HttpResponse::text(200, "ok")
///     } else {
///         HttpResponse::text(404, "not found")
///     }
/// });
/// ```
#[derive(Clone)]
pub struct HttpHandler(Arc<HandlerFn>);

impl HttpHandler {
    /// Wraps an async function.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        Self(Arc::new(move |request| Box::pin(f(request))))
    }

    pub(crate) async fn call(&self, request: HttpRequest) -> HttpResponse {
        (self.0)(request).await
    }
}

impl fmt::Debug for HttpHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpHandler(..)")
    }
}

/// What the request head asked for.
pub(crate) enum Incoming {
    /// A valid WebSocket upgrade; `rest` holds bytes received after the head, `request` the
    /// request itself when the limits ask to keep it.
    Upgrade {
        key: Vec<u8>,
        rest: Vec<u8>,
        request: Option<HttpRequest>,
    },
    /// Anything else: answered (or refused) by [`answer_plain`].
    Plain(PlainRequest),
}

pub(crate) struct PlainRequest {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    rest: Vec<u8>,
}

/// Reads and classifies one request head.
pub(crate) async fn read_request<S>(
    io: &mut S,
    peer: SocketAddr,
    limits: Limits,
) -> Result<Incoming, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        if buf.len() >= limits.max_head {
            return Err(refuse(io, peer, 431, "request head too large").await);
        }
        let want = (limits.max_head - buf.len()).min(4096);
        let start = buf.len();
        buf.resize(start + want, 0);
        let n = match io.read(&mut buf[start..]).await {
            Ok(n) => n,
            Err(source) => {
                return Err(WsError::Io {
                    peer: peer.to_string(),
                    source,
                });
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return Err(WsError::ClosedEarly { peer });
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(len)) => {
                let classified = classify(&request);
                let rest = buf[len..].to_vec();
                let method = || request.method.unwrap_or_default().to_owned();
                let target = || request.path.unwrap_or_default().to_owned();
                let headers = || {
                    request
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), h.value.to_vec()))
                        .collect()
                };
                return match classified {
                    Classified::Upgrade { key } => Ok(Incoming::Upgrade {
                        key,
                        rest,
                        request: limits.keep_upgrade_request.then(|| HttpRequest {
                            method: method(),
                            target: target(),
                            headers: headers(),
                            body: Bytes::new(),
                            remote: peer,
                        }),
                    }),
                    Classified::Plain => Ok(Incoming::Plain(PlainRequest {
                        method: method(),
                        target: target(),
                        headers: headers(),
                        rest,
                    })),
                    Classified::Bad { status, reason } => {
                        Err(refuse(io, peer, status, reason).await)
                    }
                };
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(refuse(io, peer, 431, "too many headers").await);
            }
            Err(e) => {
                let reason = format!("malformed request: {e}");
                return Err(refuse(io, peer, 400, &reason).await);
            }
        }
    }
}

enum Classified {
    Upgrade { key: Vec<u8> },
    Plain,
    Bad { status: u16, reason: &'static str },
}

fn classify(request: &httparse::Request<'_, '_>) -> Classified {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let wants_websocket = header("upgrade").is_some_and(|v| has_token(v, "websocket"));
    if !wants_websocket {
        return Classified::Plain;
    }
    if request.method != Some("GET") || request.version != Some(1) {
        return Classified::Bad {
            status: 400,
            reason: "a WebSocket upgrade must be an HTTP/1.1 GET",
        };
    }
    if !header("connection").is_some_and(|v| has_token(v, "upgrade")) {
        return Classified::Bad {
            status: 400,
            reason: "a WebSocket upgrade needs `Connection: upgrade`",
        };
    }
    if header("sec-websocket-version").map(trim) != Some(b"13".as_slice()) {
        return Classified::Bad {
            status: 426,
            reason: "only WebSocket version 13 is supported",
        };
    }
    match header("sec-websocket-key").map(trim) {
        Some(key) if is_valid_key(key) => Classified::Upgrade { key: key.to_vec() },
        Some(_) => Classified::Bad {
            status: 400,
            reason: "invalid Sec-WebSocket-Key: it must be base64 of 16 bytes (RFC 6455 4.2.1)",
        },
        None => Classified::Bad {
            status: 400,
            reason: "missing Sec-WebSocket-Key",
        },
    }
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 of exactly 16 bytes (RFC 6455
/// §4.2.1), i.e. 22 base64 characters then `==`. The `ws` library behind the reference checks
/// the same shape (`/^[+/0-9A-Za-z]{22}==$/`) and answers 400 otherwise.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    match key.strip_suffix(b"==") {
        Some(body) => {
            body.len() == 22
                && body
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        }
        None => false,
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// Whether a comma-separated header value holds `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| trim(part).eq_ignore_ascii_case(token.as_bytes()))
}

/// The `101 Switching Protocols` answer to an upgrade with `key`.
pub(crate) fn switching_protocols(key: &[u8]) -> Vec<u8> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// Answers a plain request through `handler`: the status of the handler's response once it is
/// sent. Without a handler the answer is `426 Upgrade Required` and the result
/// [`WsError::NotWebSocket`]; a request that cannot be served is refused (400, 413, 501).
pub(crate) async fn answer_plain<S>(
    io: &mut S,
    peer: SocketAddr,
    request: PlainRequest,
    handler: Option<&HttpHandler>,
    limits: Limits,
) -> Result<u16, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let PlainRequest {
        method,
        target,
        headers,
        rest,
    } = request;
    let Some(handler) = handler else {
        let response = HttpResponse::text(426, "this server only speaks WebSocket\n")
            .with_header("Upgrade", "websocket");
        let status = send_response(io, peer, method == "HEAD", &response).await?;
        return Err(WsError::NotWebSocket {
            peer,
            method,
            path: target,
            status,
        });
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    };
    if header("transfer-encoding").is_some() {
        return Err(refuse(io, peer, 501, "chunked request bodies are not supported").await);
    }
    // RFC 9112: `Content-Length = 1*DIGIT`; several headers must agree (else 400), so that a
    // proxy in front and this server can never frame the body differently.
    let mut lengths = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| parse_content_length(trim(v)));
    let length = match lengths.next() {
        None => 0,
        Some(first) => match (first, lengths.all(|other| other == first)) {
            (Some(n), true) => n,
            _ => return Err(refuse(io, peer, 400, "invalid Content-Length").await),
        },
    };
    if length > limits.max_body {
        return Err(refuse(io, peer, 413, "request body too large").await);
    }
    let mut body = rest;
    body.truncate(length);
    if body.len() < length {
        let have = body.len();
        body.resize(length, 0);
        if let Err(source) = io.read_exact(&mut body[have..]).await {
            return Err(WsError::Io {
                peer: peer.to_string(),
                source,
            });
        }
    }
    let head_only = method == "HEAD";
    let request = HttpRequest {
        method,
        target,
        headers,
        body: Bytes::from(body),
        remote: peer,
    };
    let response = handler.call(request).await;
    send_response(io, peer, head_only, &response).await
}

/// Sends `response` (without its body if `head_only`: the answer to a `HEAD`); its status.
async fn send_response<S>(
    io: &mut S,
    peer: SocketAddr,
    head_only: bool,
    response: &HttpResponse,
) -> Result<u16, WsError>
where
    S: AsyncWrite + Unpin,
{
    write_response(io, response, head_only)
        .await
        .map_err(|source| WsError::Io {
            peer: peer.to_string(),
            source,
        })?;
    Ok(response.status)
}

/// Refuses an upgrade that `verify_client` turned down with its `response`, and returns the
/// matching error.
pub(crate) async fn refuse_upgrade<S>(
    io: &mut S,
    request: &HttpRequest,
    response: HttpResponse,
) -> WsError
where
    S: AsyncWrite + Unpin,
{
    let status = response.status;
    if let Err(source) = write_response(io, &response, false).await {
        return WsError::Io {
            peer: request.remote.to_string(),
            source,
        };
    }
    WsError::UpgradeRefused {
        peer: request.remote,
        path: request.target.clone(),
        status,
    }
}

/// Answers with `status` and a short text, and returns the matching error.
async fn refuse<S>(io: &mut S, peer: SocketAddr, status: u16, reason: &str) -> WsError
where
    S: AsyncWrite + Unpin,
{
    let mut response = HttpResponse::text(status, format!("{reason}\n"));
    if status == 426 {
        response = response.with_header("Sec-WebSocket-Version", "13");
    }
    // The peer is already misbehaving: a failure to tell it so changes nothing.
    let _ = write_response(io, &response, false).await;
    WsError::BadRequest {
        peer,
        reason: reason.to_owned(),
        status,
    }
}

async fn write_response<S>(
    io: &mut S,
    response: &HttpResponse,
    head_only: bool,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let status = if (100..=999).contains(&response.status) {
        response.status
    } else {
        500
    };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in &response.headers {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let value_ok = !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        let reserved =
            name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection");
        if name_ok && value_ok && !reserved {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    io.write_all(head.as_bytes()).await?;
    if !head_only {
        io.write_all(&response.body).await?;
    }
    io.flush().await?;
    io.shutdown().await
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        keep_upgrade_request: false,
        max_head: 1024,
        max_body: 16,
    };

    fn peer() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    async fn run(input: &[u8]) -> (Result<Incoming, WsError>, Vec<u8>) {
        let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
        theirs.write_all(input).await.unwrap();
        theirs.shutdown().await.unwrap();
        let result = read_request(&mut ours, peer(), LIMITS).await;
        drop(ours);
        let mut answer = Vec::new();
        theirs.read_to_end(&mut answer).await.unwrap();
        (result, answer)
    }

    const UPGRADE: &[u8] = b"GET /any/path HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nEXTRA";

    #[tokio::test]
    async fn accepts_an_upgrade_on_any_path_and_keeps_early_bytes() {
        let (result, answer) = run(UPGRADE).await;
        match result {
            Ok(Incoming::Upgrade { key, rest, .. }) => {
                assert_eq!(key, b"dGhlIHNhbXBsZSBub25jZQ==");
                assert_eq!(rest, b"EXTRA");
            }
            _ => panic!("not an upgrade"),
        }
        assert!(answer.is_empty());
        // The RFC 6455 example key.
        let response = String::from_utf8(switching_protocols(b"dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[tokio::test]
    async fn refuses_oversized_heads() {
        let mut input = b"GET / HTTP/1.1\r\nX: ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 2000));
        let (result, answer) = run(&input).await;
        assert!(matches!(
            result,
            Err(WsError::BadRequest { status: 431, .. })
        ));
        assert!(answer.starts_with(b"HTTP/1.1 431 "));
    }

    #[tokio::test]
    async fn refuses_garbage_and_bad_upgrades() {
        let (result, answer) = run(b"\x16\x03\x01 hello\r\n\r\n").await;
        assert!(matches!(
            result,
            Err(WsError::BadRequest { status: 400, .. })
        ));
        assert!(answer.starts_with(b"HTTP/1.1 400 "));

        let bad_version = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
            Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: a\r\n\r\n";
        let (result, answer) = run(bad_version).await;
        assert!(matches!(
            result,
            Err(WsError::BadRequest { status: 426, .. })
        ));
        assert!(String::from_utf8_lossy(&answer).contains("Sec-WebSocket-Version: 13"));

        let post = b"POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
        let (result, _) = run(post).await;
        assert!(matches!(
            result,
            Err(WsError::BadRequest { status: 400, .. })
        ));
    }

    #[tokio::test]
    async fn refuses_keys_that_are_not_16_bytes_of_base64() {
        // 17 bytes of base64, too short, not base64, missing, URL-safe, no padding.
        for key in [
            "abc",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAA====",
            "AAAAAAAAAAAAAAAAAAAA-_==",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAA AAAAAAAAAAA==",
            "",
        ] {
            let request = format!(
                "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            );
            let (result, answer) = run(request.as_bytes()).await;
            match result {
                Err(WsError::BadRequest { status, reason, .. }) => {
                    assert_eq!(status, 400, "{key:?}");
                    assert!(reason.contains("Sec-WebSocket-Key"), "{reason}");
                }
                _ => panic!("{key:?} was not refused"),
            }
            assert!(answer.starts_with(b"HTTP/1.1 400 "), "{key:?}");
        }
        let missing = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n";
        let (result, _) = run(missing).await;
        assert!(matches!(
            result,
            Err(WsError::BadRequest { status: 400, .. })
        ));
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAA+/=="));
    }

    #[tokio::test]
    async fn a_peer_that_hangs_up_mid_head_is_reported() {
        let (result, _) = run(b"GET / HT").await;
        assert!(matches!(result, Err(WsError::ClosedEarly { .. })));
    }

    async fn plain(input: &[u8], handler: Option<&HttpHandler>) -> (Result<u16, WsError>, String) {
        let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
        theirs.write_all(input).await.unwrap();
        let Ok(Incoming::Plain(request)) = read_request(&mut ours, peer(), LIMITS).await else {
            panic!("not a plain request");
        };
        let err = answer_plain(&mut ours, peer(), request, handler, LIMITS).await;
        drop(ours);
        let mut answer = Vec::new();
        theirs.read_to_end(&mut answer).await.unwrap();
        (err, String::from_utf8(answer).unwrap())
    }

    #[tokio::test]
    async fn answers_plain_requests_through_the_handler() {
        let handler = HttpHandler::new(|request: HttpRequest| async move {
            let body = format!(
                "{} {} {}",
                request.method,
                request.target,
                String::from_utf8_lossy(&request.body)
            );
            HttpResponse::text(200, body).with_header("X-Evil", "a\r\nSet-Cookie: x")
        });
        let (err, answer) = plain(
            b"POST /echo?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            Some(&handler),
        )
        .await;
        assert!(matches!(err, Ok(200)));
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nPOST /echo?x=1 hello"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"));
        assert!(
            !answer.contains("Set-Cookie"),
            "response splitting: {answer}"
        );

        let (err, answer) = plain(
            b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n",
            Some(&handler),
        )
        .await;
        assert!(matches!(err, Err(WsError::BadRequest { status: 413, .. })));
        assert!(answer.starts_with("HTTP/1.1 413 "));

        let (err, _) = plain(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Some(&handler),
        )
        .await;
        assert!(matches!(err, Err(WsError::BadRequest { status: 501, .. })));
        // Content-Length is 1*DIGIT, and several must agree (RFC 9112).
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\nabc",
        ] {
            let (err, answer) = plain(bad, Some(&handler)).await;
            assert!(
                matches!(err, Err(WsError::BadRequest { status: 400, .. })),
                "{answer}"
            );
        }
        let (err, answer) = plain(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            Some(&handler),
        )
        .await;
        assert!(matches!(err, Ok(200)), "{answer}");
    }

    #[tokio::test]
    async fn without_a_handler_plain_requests_get_426() {
        let (err, answer) = plain(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None).await;
        assert!(matches!(
            err,
            Err(WsError::NotWebSocket { status: 426, .. })
        ));
        assert!(answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    }
}
