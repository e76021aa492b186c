//! The protocol with no I/O: the handshake's state machines, the box-stream codec and the
//! crypto provider they call. Bytes in, bytes out; no sockets, no runtime, no clock (deadlines
//! belong to the tokio layer in `io/`).

pub mod boxstream;
pub(crate) mod crypto;
pub mod handshake;
