//! # ms-core: multiserver addresses, scopes, and the plugin traits
//!
//! [Multiserver](https://github.com/ssbc/multiserver) lets a peer-to-peer node run several
//! protocol *stacks* side by side — a transport plus zero or more transforms, such as TCP with
//! Secure Scuttlebutt's secret-handshake — and advertise all of them in one address:
//!
//! ```text
//! net:example.org:8008~shs:<key>;ws://example.org:8989~shs:<key>
//! ```
//!
//! `;` separates alternatives, `~` the sections of one stack, `:` a section's arguments. A
//! client dials the first alternative it understands, so protocols are upgraded by serving a
//! new stack next to the old one and later dropping the old one, never by negotiating.
//!
//! This crate holds what every plugin shares and depends on no transport:
//!
//! - the address grammar: [`MultiAddress`], [`Address`], [`Section`], [`HostPort`], with
//!   typed errors that say where and why ([`AddressError`]);
//! - [`Scope`]s: from where an address is reachable (`device`, `local`, `public`);
//! - the plugin traits: [`Transport`] (with its [`Listener`]) and [`Transform`];
//! - [`MultiServer`]: many [`Stack`]s served as one node and dialled as one client;
//! - [`race::staggered`]: the staggered ("happy eyeballs") race it dials with, for plugins
//!   that race attempts of their own.
//!
//! Plugins live in their own crates (`ms-net`, `ms-ws`, `ms-unix`, `ms-onion`, `ms-shs`,
//! `ms-noauth`); `ms-testkit` has an in-memory transport and the conformance suite every
//! plugin runs.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

/// Implements `AsyncWrite` (and, with `read`, `AsyncRead`) for a wrapper by handing every call to
/// its `stream` field: the wrappers that carry bookkeeping beside a stream (`Connection`,
/// `ConnectionStream`, the admission's read-activity recorder) stay zero-cost on the data path.
macro_rules! delegate_io {
    ($ty:ty, read) => {
        impl tokio::io::AsyncRead for $ty {
            #[inline]
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
            }
        }
        delegate_io!($ty);
    };
    ($ty:ty) => {
        impl tokio::io::AsyncWrite for $ty {
            #[inline]
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
            }

            #[inline]
            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
            }

            #[inline]
            fn is_write_vectored(&self) -> bool {
                self.stream.is_write_vectored()
            }

            #[inline]
            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_flush(cx)
            }

            #[inline]
            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
            }
        }
    };
}

mod address;
mod admission;
mod connection;
mod dial;
mod error;
mod host;
mod identity;
mod multiserver;
pub mod race;
mod rejections;
pub mod scope;
mod serve;
mod stack;
mod transform;
mod transport;

pub use address::{
    Address, AddressError, AddressErrorKind, MAX_ADDRESS_LEN, MultiAddress, Section, Skipped,
};
pub use connection::{
    AsyncStream, BoxedIo, Connection, ConnectionInfo, ConnectionStream, DEFAULT_CLOSE_GRACE,
    Direction,
};
pub use dial::{AbortHandle, Dial, DialOptions, DialStrategy};
pub use error::{
    Attempt, BoxError, Classified, Classify, Error, ErrorKind, Mismatch, MismatchReason,
    SectionError, classified, kind_of, unwrap_classified,
};
pub use host::{HostPort, host_to_ascii};
pub use identity::{AuthValue, Identity, InvalidKey, PeerKey, PublicKey, decode_base64_lenient};
pub use multiserver::{Builder, Config, MultiServer};
pub use scope::{InvalidScope, Scope, Scopes};
pub use serve::{CloseHandle, Event, Server};
pub use stack::Stack;
pub use transform::{Transform, Upgraded};
pub use transport::{Accepted, Connected, HandledByTransport, Listener, PendingStream, Transport};

/// Re-exported so plugins implement the traits with the same macro version.
pub use async_trait::async_trait;
