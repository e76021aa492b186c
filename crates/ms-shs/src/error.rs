//! Errors of the handshake and of box-stream.
//!
//! Both error types implement [`ms_core::Classify`]: through `ms_core`, [`ms_core::Error::kind`]
//! says whether the peer is incompatible (another network key), misbehaved, rejected or was
//! rejected, timed out or hung up, without downcasting (see the `Classify` impl of
//! [`HandshakeError`] for the mapping). The sans-IO core only produces the variants about
//! the peer's messages and [`Rejected`](HandshakeError::Rejected).

use std::fmt;
use std::io;

use ms_core::ErrorKind;

/// The two ends of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The dialler, who knows the server's public key in advance.
    Client,
    /// The acceptor.
    Server,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

/// The four handshake messages, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// Message 1 (client → server, 64 bytes): the client's ephemeral key and its HMAC.
    ClientHello,
    /// Message 2 (server → client, 64 bytes): the server's ephemeral key and its HMAC.
    ServerHello,
    /// Message 3 (client → server, 112 bytes): the client's signature and identity, boxed.
    ClientAuth,
    /// Message 4 (server → client, 80 bytes): the server's signature, boxed.
    ServerAccept,
}

impl Message {
    /// The message's number, 1 to 4.
    pub const fn number(self) -> u8 {
        match self {
            Message::ClientHello => 1,
            Message::ServerHello => 2,
            Message::ClientAuth => 3,
            Message::ServerAccept => 4,
        }
    }

    /// The message's size on the wire.
    pub const fn wire_len(self) -> usize {
        match self {
            Message::ClientHello | Message::ServerHello => 64,
            Message::ClientAuth => 112,
            Message::ServerAccept => 80,
        }
    }

    /// Who sends this message.
    pub const fn sender(self) -> Role {
        match self {
            Message::ClientHello | Message::ClientAuth => Role::Client,
            Message::ServerHello | Message::ServerAccept => Role::Server,
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Message::ClientHello => "client hello",
            Message::ServerHello => "server hello",
            Message::ClientAuth => "client authentication",
            Message::ServerAccept => "server accept",
        };
        write!(f, "message {} ({name})", self.number())
    }
}

/// Why a secret handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HMAC of the peer's hello (message 1 or 2) is wrong: the peer uses a different network
    /// key, or does not speak secret-handshake at all.
    #[error(
        "the {from} sent an invalid challenge: it uses a different network key or is not speaking SHS"
    )]
    InvalidChallenge {
        /// Who sent the bad hello.
        from: Role,
    },
    /// The server cannot open message 3: the client dialled a different server public key.
    #[error("the client's authentication cannot be opened: it dialled a different server key")]
    ServerKeyMismatch,
    /// The client cannot open message 4 although it passed message 3: the server is broken or
    /// not who it claims to be.
    #[error("the server's accept message cannot be opened")]
    InvalidAccept,
    /// A handshake signature does not verify.
    #[error("the {signer}'s handshake signature is invalid")]
    BadSignature {
        /// Whose signature failed.
        signer: Role,
    },
    /// A long-term public key is not a usable Ed25519 point (it cannot be converted to X25519).
    #[error("the {owner}'s long-term public key is not a valid Ed25519 key")]
    InvalidPublicKey {
        /// Whose key it is.
        owner: Role,
    },
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point.
    #[error("the peer sent a low-order curve point")]
    LowOrderPoint,
    /// The server's authorization decided not to accept this client.
    #[error("the client was not authorized")]
    Rejected,
    /// The connection ended while we waited for a message.
    #[error("the peer hung up while we waited for {waiting_for}{}", hang_up_hint(*.waiting_for))]
    PeerHungUp {
        /// The message we were reading.
        waiting_for: Message,
    },
    /// The handshake did not complete before the deadline.
    #[error("the handshake timed out")]
    Timeout,
    /// The transport failed.
    #[error("transport error during the handshake: {0}")]
    Io(#[from] io::Error),
    /// The operating system's random number generator failed.
    #[error("no randomness available for the ephemeral key: {0}")]
    Randomness(getrandom::Error),
}

fn hang_up_hint(message: Message) -> &'static str {
    match message {
        Message::ServerHello => {
            ": it may use a different network key, or it may be overloaded or have cut the \
             handshake"
        }
        Message::ServerAccept => {
            ": it may have a different public key than we dialled or not have authorized us, \
             or it may be overloaded or have cut the handshake"
        }
        Message::ClientHello | Message::ClientAuth => "",
    }
}

impl ms_core::Classify for HandshakeError {
    /// - [`Incompatible`](ErrorKind::Incompatible): a hello with the wrong HMAC (a different
    ///   network key, or not secret-handshake at all), a client that dialled another server
    ///   key, and a server that hangs up right after our hello (what a server with another
    ///   network key does: it cannot answer).
    /// - [`Rejected`](ErrorKind::Rejected): our authorization refused the client, and a server
    ///   that hangs up right after our authentication (what a server that does not authorize
    ///   us does).
    /// - [`PeerMisbehaved`](ErrorKind::PeerMisbehaved): a bad signature, an invalid key or
    ///   curve point, an accept message that does not open.
    /// - [`Timeout`](ErrorKind::Timeout), [`Closed`](ErrorKind::Closed) (any other hang-up),
    ///   the I/O error's own kind, and [`Other`](ErrorKind::Other) for missing randomness.
    ///
    /// A server that hangs up is ambiguous on the wire (it may also be overloaded); the kind
    /// names what the protocol says the hang-up means, the message says both.
    fn kind(&self) -> ErrorKind {
        match self {
            HandshakeError::InvalidChallenge { .. } | HandshakeError::ServerKeyMismatch => {
                ErrorKind::Incompatible
            }
            HandshakeError::InvalidAccept
            | HandshakeError::BadSignature { .. }
            | HandshakeError::InvalidPublicKey { .. }
            | HandshakeError::LowOrderPoint => ErrorKind::PeerMisbehaved,
            HandshakeError::Rejected => ErrorKind::Rejected,
            HandshakeError::PeerHungUp { waiting_for } => match waiting_for {
                Message::ServerHello => ErrorKind::Incompatible,
                Message::ServerAccept => ErrorKind::Rejected,
                Message::ClientHello | Message::ClientAuth => ErrorKind::Closed,
            },
            HandshakeError::Timeout => ErrorKind::Timeout,
            HandshakeError::Io(e) => ErrorKind::from_io(e.kind()),
            HandshakeError::Randomness(_) => ErrorKind::Other,
        }
    }
}

impl ms_core::Classify for BoxStreamError {
    /// [`PeerMisbehaved`](ErrorKind::PeerMisbehaved) for a box that does not open (tampered),
    /// [`Closed`](ErrorKind::Closed) for a stream that ended early,
    /// [`Timeout`](ErrorKind::Timeout) for a frame that did not finish in time.
    fn kind(&self) -> ErrorKind {
        match self {
            BoxStreamError::InvalidHeader | BoxStreamError::InvalidBody => {
                ErrorKind::PeerMisbehaved
            }
            BoxStreamError::MissingGoodbye | BoxStreamError::TruncatedFrame { .. } => {
                ErrorKind::Closed
            }
            BoxStreamError::FrameTimeout { .. } => ErrorKind::Timeout,
        }
    }
}

impl From<HandshakeError> for io::Error {
    fn from(error: HandshakeError) -> Self {
        let kind = match &error {
            HandshakeError::Io(e) => e.kind(),
            HandshakeError::Timeout => io::ErrorKind::TimedOut,
            HandshakeError::PeerHungUp { .. } => io::ErrorKind::UnexpectedEof,
            HandshakeError::Rejected => io::ErrorKind::PermissionDenied,
            HandshakeError::Randomness(_) => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// Why a box-stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoxStreamError {
    /// A 34-byte header box failed authentication (tampering, or the wrong key or nonce).
    #[error("box-stream: invalid header (tampered, or keys out of sync)")]
    InvalidHeader,
    /// A frame body failed authentication.
    #[error("box-stream: invalid body (tampered)")]
    InvalidBody,
    /// The stream ended without the goodbye frame.
    #[error("box-stream: the peer closed the connection without saying goodbye")]
    MissingGoodbye,
    /// The stream ended in the middle of a frame.
    #[error("box-stream: the stream ended in the middle of a frame ({got} of {wanted} bytes)")]
    TruncatedFrame {
        /// Bytes of the frame part that arrived.
        got: usize,
        /// Bytes it should have had.
        wanted: usize,
    },
    /// A frame had started but did not finish within the frame deadline (a peer that announces
    /// a body and goes silent). The read buffer is released when this happens.
    #[error("box-stream: a frame did not finish within {after:?} ({got} of {wanted} bytes)")]
    FrameTimeout {
        /// The deadline that passed.
        after: std::time::Duration,
        /// Bytes of the frame part that had arrived.
        got: usize,
        /// Bytes it should have had.
        wanted: usize,
    },
}

impl From<BoxStreamError> for io::Error {
    fn from(error: BoxStreamError) -> Self {
        let kind = match error {
            BoxStreamError::MissingGoodbye | BoxStreamError::TruncatedFrame { .. } => {
                io::ErrorKind::UnexpectedEof
            }
            BoxStreamError::InvalidHeader | BoxStreamError::InvalidBody => {
                io::ErrorKind::InvalidData
            }
            BoxStreamError::FrameTimeout { .. } => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_hang_up_is_not_blamed_on_the_network_key_alone() {
        let text = HandshakeError::PeerHungUp {
            waiting_for: Message::ServerHello,
        }
        .to_string();
        assert!(text.contains("different network key"), "{text}");
        assert!(
            text.contains("overloaded or have cut the handshake"),
            "{text}"
        );
        let text = HandshakeError::PeerHungUp {
            waiting_for: Message::ServerAccept,
        }
        .to_string();
        assert!(
            text.contains("overloaded or have cut the handshake"),
            "{text}"
        );
    }
}
