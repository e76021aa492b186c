//! The tokio layer over the sans-IO protocol in `proto/`: the handshake over a tokio stream
//! with a deadline, [`BoxStream`](crate::BoxStream) as `AsyncRead + AsyncWrite`, and the `shs`
//! transform. It moves bytes and keeps time; every protocol decision is made in `proto/`.

pub(crate) mod handshake;
pub(crate) mod stream;
pub mod transform;
