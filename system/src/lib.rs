//! Hostile peers, as functions: each opens one connection to a `net~shs` node and misbehaves in
//! one way. Used by the hostile-peer tests and by `cargo xtask soak`.
//!
//! Every attack is bounded in time: it returns after at most a few seconds (or when the server
//! hangs up), whatever the server does. The floods of [`load`] run until stopped.

#![forbid(unsafe_code)]

pub mod load;

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use ms_shs::handshake::{ClientHandshake, EphemeralKey};
use ms_shs::{Keypair, NetworkKey, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The ways a peer misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attack {
    /// (a) Connects and sends nothing.
    Silent,
    /// (b) Sends one byte at a time, slowly.
    Trickle,
    /// (c) Sends 64 random bytes as its first message.
    GarbageHello,
    /// (c) Sends a valid first message, then garbage as its third.
    GarbageAuth,
    /// (d) Completes the handshake, then sends a frame that does not authenticate.
    BadFrame,
    /// (d) Completes the handshake, then announces the largest body and stops.
    OversizedFrame,
    /// (e) Completes the handshake, sends half a frame, then resets the connection.
    ResetMidFrame,
    /// (f) Connects and closes at once.
    ConnectAndClose,
    /// (g) The right network key, but a client key the server refuses.
    RefusedKey,
    /// (h) An all-zero ephemeral key with a valid MAC (crashes the JavaScript reference).
    ZeroEphemeral,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 10] = [
        Attack::Silent,
        Attack::Trickle,
        Attack::GarbageHello,
        Attack::GarbageAuth,
        Attack::BadFrame,
        Attack::OversizedFrame,
        Attack::ResetMidFrame,
        Attack::ConnectAndClose,
        Attack::RefusedKey,
        Attack::ZeroEphemeral,
    ];
}

/// Where and whom to attack.
#[derive(Clone, Debug)]
pub struct Target {
    /// The node's `net` address.
    pub addr: SocketAddr,
    /// Its long-term key.
    pub server_key: PublicKey,
    /// Its network key.
    pub network: NetworkKey,
    /// A key the node refuses.
    pub refused: Keypair,
    /// How long a silent or trickling peer keeps going before giving up.
    pub patience: Duration,
}

/// Runs one attack; returns when the server hung up or the attack gave up.
pub async fn run(attack: Attack, target: &Target, seed: u64) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(target.addr).await?;
    let mut rng = Rng(seed | 1);
    match attack {
        Attack::Silent => {
            wait_for_hangup(&mut stream, target.patience).await;
        }
        Attack::Trickle => {
            let mut bytes = [0u8; 64];
            rng.fill(&mut bytes);
            let deadline = tokio::time::Instant::now() + target.patience;
            for b in bytes {
                if tokio::time::Instant::now() > deadline || stream.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Attack::GarbageHello => {
            let mut hello = [0u8; 64];
            rng.fill(&mut hello);
            let _ = stream.write_all(&hello).await;
            wait_for_hangup(&mut stream, target.patience).await;
        }
        Attack::GarbageAuth => {
            let client = Keypair::from_seed(&rng.seed());
            let (state, msg1) = ClientHandshake::new(
                target.network,
                client,
                target.server_key,
                EphemeralKey::from_seed(&rng.seed()),
            )
            .map_err(std::io::Error::other)?;
            drop(state);
            stream.write_all(&msg1).await?;
            let mut msg2 = [0u8; 64];
            stream.read_exact(&mut msg2).await?;
            let mut auth = [0u8; 112];
            rng.fill(&mut auth);
            let _ = stream.write_all(&auth).await;
            wait_for_hangup(&mut stream, target.patience).await;
        }
        Attack::BadFrame | Attack::OversizedFrame | Attack::ResetMidFrame => {
            let mut encoder =
                handshake(&mut stream, target, Keypair::from_seed(&rng.seed())).await?;
            let mut frame = Vec::new();
            encoder.encode(&[7u8; 1000], &mut frame);
            match attack {
                Attack::BadFrame => {
                    frame[3] ^= 0x40; // inside the header box: its MAC fails
                    let _ = stream.write_all(&frame).await;
                }
                Attack::OversizedFrame => {
                    // A header claiming 65535 body bytes must be authenticated to be believed:
                    // send random bytes shaped like one and stop.
                    let mut header = [0u8; 34];
                    rng.fill(&mut header);
                    let _ = stream.write_all(&header).await;
                }
                _ => {
                    let _ = stream.write_all(&frame[..frame.len() / 2]).await;
                    // Linger 0: closing sends a reset instead of a FIN.
                    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
                    return Ok(());
                }
            }
            wait_for_hangup(&mut stream, target.patience).await;
        }
        Attack::ConnectAndClose => {}
        Attack::RefusedKey => {
            let _ = handshake(&mut stream, target, target.refused.clone()).await;
            wait_for_hangup(&mut stream, target.patience).await;
        }
        Attack::ZeroEphemeral => {
            let mut msg1 = [0u8; 64];
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(target.network.as_bytes())
                .map_err(std::io::Error::other)?;
            mac.update(&[0u8; 32]);
            msg1[..32].copy_from_slice(&mac.finalize().into_bytes()[..32]);
            let _ = stream.write_all(&msg1).await;
            wait_for_hangup(&mut stream, target.patience).await;
        }
    }
    Ok(())
}

/// Runs the client side of the handshake by hand over a raw stream, returning the box-stream
/// encoder, so that the caller can then write whatever bytes it likes.
async fn handshake(
    stream: &mut TcpStream,
    target: &Target,
    client: Keypair,
) -> std::io::Result<ms_shs::boxstream::Encoder> {
    let mut rng = Rng(0x5eed);
    let (state, msg1) = ClientHandshake::new(
        target.network,
        client,
        target.server_key,
        EphemeralKey::from_seed(&rng.seed()),
    )
    .map_err(std::io::Error::other)?;
    stream.write_all(&msg1).await?;
    let mut msg2 = [0u8; 64];
    stream.read_exact(&mut msg2).await?;
    let (state, msg3) = state
        .read_server_hello(&msg2)
        .map_err(std::io::Error::other)?;
    stream.write_all(&msg3).await?;
    let mut msg4 = [0u8; 80];
    stream.read_exact(&mut msg4).await?;
    let session = state
        .read_server_accept(&msg4)
        .map_err(std::io::Error::other)?;
    Ok(session.into_codecs().0)
}

/// Reads (and discards) until the server hangs up or `patience` runs out.
async fn wait_for_hangup(stream: &mut TcpStream, patience: Duration) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(patience, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// A small deterministic generator (xorshift64*), so attacks are reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        seed
    }
}

/// A short, stable name for why a node rejected an inbound connection, for counting
/// rejections by kind: `timeout`, `invalid challenge`, `low-order point`, `refused by auth`,
/// `client auth does not open`, `bad signature`, `peer hung up`, or the error itself.
pub fn rejection_kind(error: &ms_core::Error) -> String {
    use ms_shs::HandshakeError;
    if error.is_timeout() {
        return "timeout".into();
    }
    match error
        .plugin_error()
        .and_then(|e| e.downcast_ref::<HandshakeError>())
    {
        Some(HandshakeError::Timeout) => "timeout".into(),
        Some(HandshakeError::InvalidChallenge { .. }) => "invalid challenge".into(),
        Some(HandshakeError::LowOrderPoint) => "low-order point".into(),
        Some(HandshakeError::Rejected) => "refused by auth".into(),
        Some(HandshakeError::ServerKeyMismatch) => "client auth does not open".into(),
        Some(HandshakeError::BadSignature { .. }) => "bad signature".into(),
        Some(HandshakeError::PeerHungUp { .. }) => "peer hung up".into(),
        Some(other) => other.to_string(),
        None => error.to_string(),
    }
}
