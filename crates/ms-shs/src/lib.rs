//! Secure Scuttlebutt's secret-handshake (SHS v1) and box-stream, byte-for-byte compatible with
//! the JavaScript `secret-handshake@1.1.21` and `pull-box-stream@1.0.13`.
//!
//! The crate has a sans-IO core and a thin async layer, in two folders of `src/`:
//!
//! - `proto/`, the protocol with no I/O (plain functions and state machines over bytes; what
//!   the test vectors and fuzzers drive):
//!   - [`handshake`]: the four-message handshake as state machines over byte arrays;
//!   - [`boxstream`]: the encrypted framing that follows, as in-place encoder and decoder;
//!   - `crypto`: the one crypto provider of this build (below).
//! - `io/`, the tokio layer, which only moves bytes:
//!   - [`client_handshake`] / [`server_handshake`]: the handshake over any tokio stream, with a
//!     deadline, giving a [`BoxStream`] (`AsyncRead + AsyncWrite`);
//!   - [`Shs`] ([`transform`]): all of that as an `ms-core` [`Transform`](ms_core::Transform),
//!     the `shs:` section of multiserver addresses.
//! - [`keys`] (identities: [`Keypair`], [`PublicKey`], the SSB `secret` file, and the
//!   [`NetworkKey`]) and the errors are shared by both.
//!
//! All cryptography goes through one crypto provider, chosen by one feature (see
//! [`CRYPTO_PROVIDER`]): `native` (the default: aws-lc for X25519, Ed25519 signing and SHA-2,
//! libsodium for XSalsa20-Poly1305) or `pure-rust` (curve25519/ed25519-dalek and RustCrypto, no
//! C compiler needed), used when `native` is off. Enabling both means `native`; enabling neither
//! does not compile. Strict Ed25519 verification runs on curve25519-dalek under both.
//!
//! ```
//! use ms_shs::{handshake::*, Keypair, NetworkKey};
//!
//! let net = NetworkKey::MAINNET;
//! let server_keys = Keypair::from_seed(&[2; 32]);
//! let server_pk = server_keys.public();
//! let (client, msg1) =
//!     ClientHandshake::new(net, Keypair::generate()?, server_pk, EphemeralKey::generate()?)?;
//! let (server, msg2) = ServerHandshake::new(net, server_keys, EphemeralKey::generate()?)
//!     .read_client_hello(&msg1)?;
//! let (client, msg3) = client.read_server_hello(&msg2)?;
//! let (msg4, server_session) = server.read_client_auth(&msg3)?.accept();
//! let client_session = client.read_server_accept(&msg4)?;
//!
//! // Each side now encrypts with its encoder; the other side decrypts.
//! let (mut client_tx, _client_rx) = client_session.into_codecs();
//! let (_server_tx, mut server_rx) = server_session.into_codecs();
//! let mut wire = Vec::new();
//! client_tx.encode(b"hello", &mut wire);
//! let mut plain = Vec::new();
//! server_rx.decode(&wire, &mut plain)?;
//! assert_eq!(plain, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod io;
pub mod keys;
mod proto;

pub use error::{BoxStreamError, HandshakeError, Message, Role};
pub use io::handshake::{
    DEFAULT_HANDSHAKE_TIMEOUT, HandshakeOptions, client_handshake, server_handshake,
};
pub use io::stream::{BoxStream, DEFAULT_FRAME_TIMEOUT, WRITE_QUEUE_LIMIT};
pub use io::transform;
pub use keys::{KeyError, Keypair, NetworkKey, PublicKey};
pub use proto::{boxstream, handshake};
pub use transform::Shs;

/// The crypto provider this build of the crate uses: `"native (aws-lc, libsodium)"` or
/// `"pure-rust (dalek, RustCrypto)"`. Both give the same bytes; they differ in speed and in
/// needing a C compiler.
///
/// ```
/// assert!(!ms_shs::CRYPTO_PROVIDER.is_empty());
/// ```
pub const CRYPTO_PROVIDER: &str = proto::crypto::PROVIDER;

/// Strict Ed25519 verification as the handshake does it, for the `ed25519_verify` fuzz target
/// only (it exists in `cargo fuzz` builds, which set `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use proto::crypto::verify as __fuzz_ed25519_verify;
