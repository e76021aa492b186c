//! # ms-ws: the `ws` / `wss` transport for multiserver
//!
//! WebSockets as the JavaScript reference (`multiserver` 3.8.2, `plugins/ws.js`) speaks them:
//! each multiserver byte stream is carried in binary WebSocket messages, whose boundaries mean
//! nothing (the reference sends every box-stream header and body as its own message).
//!
//! ## Addresses
//!
//! A `ws` section is a URL, not a `name:argument` list: `ws://host[:port][/path][?query]` or
//! `wss://…`, IPv6 hosts in brackets (`ws://[::1]:8989`), default ports 80 and 443 left out when
//! printing. The client keeps the path and query when dialling; the server accepts upgrades
//! on any path and never advertises one. `ws:host:port` (no `//`) is refused with a
//! [`SectionError`](ms_core::SectionError) (the reference would dial `ws://localhost/host:port`).
//!
//! | where | text |
//! | --- | --- |
//! | advertised, device scope | `ws://127.0.0.1:8989` |
//! | advertised, public scope with `external` | `wss://example.org` |
//! | the dialler's view of the server | the URL dialled, e.g. `ws://example.org:8989/path` |
//! | the server's view of the dialler | `ws://<ip>:<port>` (the reference prints `ws:<ip>`) |
//!
//! ## Serving
//!
//! ```no_run
//! use ms_core::{MultiServer, Scope, Scopes, Stack};
//! use ms_ws::{HttpHandler, HttpResponse, Ws};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ws = Ws::builder()
//!     .host(std::net::Ipv4Addr::UNSPECIFIED)
//!     .port(8989)
//!     .scopes(Scopes::DEVICE | Scopes::LOCAL | Scopes::PUBLIC)
//!     .external(["example.org"])
//!     .tls_pem("/etc/ssb/cert.pem", "/etc/ssb/key.pem") // serve wss
//!     .http_handler(HttpHandler::new(|_req| async { HttpResponse::text(200, "hello\n") }))
//!     .build()?;
//! let node = MultiServer::new([Stack::new(ws)])?;
//! let mut server = node.listen().await?;
//! println!("{}", server.address(Scope::Public)); // wss://example.org:8989
//! while let Some(conn) = server.accept().await {
//!     // ...
//! #   drop(conn);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Each accepted TCP connection is set up (TLS, the HTTP request, the upgrade) in
//! [`Accepted::pending`](ms_core::Accepted::pending), so a slow peer never holds up the others;
//! the request head and body are bounded and the set-up has a deadline (see [`WsOptions`]).
//! A plain HTTP request is answered by the [`HttpHandler`]: the connection then ends as
//! [`HandledByTransport`](ms_core::HandledByTransport), which the node does not report as a
//! rejection. Without a handler it is answered `426 Upgrade Required` and ends as
//! [`WsError::NotWebSocket`], which the node reports as a rejected connection (as it does a
//! malformed or oversized request, answered 400, 413 or 501).
//!
//! A connection accepted elsewhere (your own listener, behind a proxy, an in-memory pipe) is
//! served the same way by [`Ws::serve_connection`].
//!
//! ## Dialling
//!
//! ```no_run
//! use ms_core::{MultiServer, Stack};
//! use ms_ws::Ws;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = MultiServer::new([Stack::new(Ws::builder().build()?)])?;
//! let conn = node.connect("wss://example.org/room").await?;
//! # drop(conn);
//! # Ok(())
//! # }
//! ```
//!
//! The TCP underneath is `ms-net`'s ([`ms_net::Net`]): the URL's host is resolved and its
//! addresses raced happy-eyeballs style (RFC 8305, [`WsBuilder::stagger`]), `TCP_NODELAY` is
//! set, a `::` listener is dual-stack, and a listener advertises what a `net` listener with the
//! same options would, as URLs. The builder's TCP options are `ms-net`'s.
//!
//! `wss` servers are verified against the webpki (Mozilla) roots unless
//! `WsBuilder::client_roots` sets others.
//!
//! ## Features
//!
//! - `wss` (default): TLS, with rustls. Without it the crate has no TLS code: it dials and
//!   serves `ws://` only, and leaves `wss://` addresses to other transports
//!   (`understands` refuses them).
//! - `native` (default) / `pure-rust`: rustls's crypto provider, named like ms-shs's providers:
//!   aws-lc-rs (the library of ms-shs's native provider) or ring. Both on means aws-lc-rs.
//!
//! ## Stream behaviour
//!
//! See [`WsStream`]: writes are coalesced into messages of at most
//! [`WsOptions::write_message_size`] bytes and sent on flush; incoming binary and text
//! messages are both read as bytes; idle connections are pinged and dropped when the peer stops
//! answering ([`Keepalive`]); `shutdown` sends a close frame. WebSockets cannot half-close.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod http;
mod stream;
#[cfg(feature = "wss")]
pub mod tls;
mod transport;
mod url;

pub use error::WsError;
pub use http::{HttpHandler, HttpRequest, HttpResponse, MAX_HEADERS};
pub use stream::{Keepalive, WsStream};
pub use transport::{IoStream, Ws, WsBuilder, WsListener, WsOptions};
pub use url::{Scheme, WsUrl};

/// The `ms-net` this crate's TCP is: its [`ConfigError`](ms_net::ConfigError) and
/// [`NetError`](ms_net::NetError) arrive inside [`WsError::Config`] and [`WsError::Tcp`].
pub use ms_net;

/// The `rustls` this crate is built with, whose `ServerConfig`, `ClientConfig` and
/// `RootCertStore` its API takes: build them with it, without a `rustls` dependency of your own
/// that has to match this one.
///
/// ```
/// use ms_ws::{Ws, rustls};
///
/// let roots = rustls::RootCertStore::empty(); // add a private CA's certificate here
/// let ws = Ws::builder().client_roots(roots).build()?;
/// # let _ = ws;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
#[cfg(feature = "wss")]
pub use rustls;
