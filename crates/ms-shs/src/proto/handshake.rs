//! The secret-handshake (SHS v1) as sans-IO state machines.
//!
//! Each side is a chain of states; every step consumes the state, takes the peer's message as a
//! fixed-size array and returns the next state plus the message to send, or a
//! [`HandshakeError`]. Nothing here does I/O or keeps time, so the same code serves tokio, tests
//! and fuzzers; `client_handshake`/`server_handshake` in the async layer only move the bytes.
//!
//! ```text
//! client                                   server
//! ClientHandshake::new ──── msg1 (64) ───▶ ServerHandshake::read_client_hello
//! read_server_hello    ◀─── msg2 (64) ──── ServerAwaitingAuth
//! ClientAwaitingAccept ──── msg3 (112) ──▶ read_client_auth → ServerPendingDecision
//!                                          (caller checks .client() and decides)
//! read_server_accept   ◀─── msg4 (80) ──── accept()   (reject(): hang up instead)
//! HandshakeOutcome                         HandshakeOutcome
//! ```
//!
//! Every check the JS reference makes is made here, plus the ones it forgets (all-zero
//! Diffie-Hellman results are errors instead of a crash). Intermediate secrets are wiped when the
//! states are dropped.
//!
//! ```
//! use ms_shs::{handshake::*, Keypair, NetworkKey};
//!
//! let net = NetworkKey::MAINNET;
//! let (client_keys, server_keys) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
//! let server_pk = server_keys.public();
//!
//! let (client, msg1) = ClientHandshake::new(net, client_keys, server_pk, EphemeralKey::generate()?)?;
//! let server = ServerHandshake::new(net, server_keys, EphemeralKey::generate()?);
//! let (server, msg2) = server.read_client_hello(&msg1)?;
//! let (client, msg3) = client.read_server_hello(&msg2)?;
//! let pending = server.read_client_auth(&msg3)?;
//! // Authorization is the caller's decision; here everybody is welcome.
//! let (msg4, server_outcome) = pending.accept();
//! let client_outcome = client.read_server_accept(&msg4)?;
//!
//! assert_eq!(client_outcome.remote(), server_pk);
//! assert_eq!(client_outcome.encryption_key(), server_outcome.decryption_key());
//! # Ok::<(), HandshakeError>(())
//! ```

use zeroize::Zeroizing;

use crate::keys::{Keypair, NetworkKey, PublicKey};
use crate::proto::boxstream::{Decoder, Encoder};
use crate::proto::crypto::{self, DhKey, PeerKey, SecretBox, ZERO_NONCE};

pub use crate::error::{HandshakeError, Message, Role};

/// Size of message 1, the client hello.
pub const CLIENT_HELLO_LEN: usize = 64;
/// Size of message 2, the server hello.
pub const SERVER_HELLO_LEN: usize = 64;
/// Size of message 3, the client's authentication.
pub const CLIENT_AUTH_LEN: usize = 112;
/// Size of message 4, the server's accept.
pub const SERVER_ACCEPT_LEN: usize = 80;

type Secret = Zeroizing<[u8; 32]>;

/// A one-time X25519 key pair for one handshake.
///
/// Use [`generate`](Self::generate); [`from_seed`](Self::from_seed) exists for reproducible
/// tests (it derives the pair exactly like the JS reference does from its 32 random bytes).
pub struct EphemeralKey {
    /// The secret scalar (kept only for the test vectors, which check it).
    #[cfg(test)]
    secret: Secret,
    public: [u8; 32],
    dh: DhKey,
}

impl EphemeralKey {
    /// A fresh random key pair.
    pub fn generate() -> Result<Self, HandshakeError> {
        let seed = crypto::random_bytes::<32>().map_err(HandshakeError::Randomness)?;
        Ok(Self::from_seed(&seed))
    }

    /// The pair the JS derives from `seed`: X25519 secret = clamp(SHA-512(seed)[0..32]).
    /// Only for tests and test vectors: a reused seed breaks forward secrecy.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let secret = crypto::ed25519_seed_to_x25519(seed);
        let dh = DhKey::new(&secret);
        Self {
            #[cfg(test)]
            secret,
            public: dh.public(),
            dh,
        }
    }

    /// The public half, as sent in the hello message.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralKey").finish_non_exhaustive()
    }
}

/// What both sides have after message 2: the hello MACs (whose prefixes become the box-stream
/// nonces), the peer's ephemeral key and the first shared secret.
struct Hellos {
    client_hello_mac: [u8; 32],
    server_hello_mac: [u8; 32],
    /// `ab`: the two ephemeral keys.
    shared_ab: Secret,
    /// SHA-256 of `ab`, part of both signed messages.
    hash_ab: [u8; 32],
}

fn hello(network_key: &NetworkKey, ephemeral: &EphemeralKey) -> ([u8; 64], [u8; 32]) {
    let mac = crypto::hmac(network_key.as_bytes(), &ephemeral.public);
    let mut msg = [0u8; 64];
    msg[..32].copy_from_slice(&mac);
    msg[32..].copy_from_slice(&ephemeral.public);
    (msg, mac)
}

/// Checks a peer's hello and returns its MAC and ephemeral key.
fn check_hello(
    network_key: &NetworkKey,
    msg: &[u8; 64],
    from: Role,
) -> Result<([u8; 32], [u8; 32]), HandshakeError> {
    let (mac, key) = msg.split_at(32);
    if !crypto::hmac_verify(network_key.as_bytes(), key, mac) {
        return Err(HandshakeError::InvalidChallenge { from });
    }
    let mut mac_out = [0u8; 32];
    let mut key_out = [0u8; 32];
    mac_out.copy_from_slice(mac);
    key_out.copy_from_slice(key);
    if crypto::is_low_order_x25519(&key_out) {
        // Diffie-Hellman with this key would give all zeros: refuse it now rather than after
        // answering.
        return Err(HandshakeError::LowOrderPoint);
    }
    Ok((mac_out, key_out))
}

fn dh(secret: &DhKey, public: &[u8; 32]) -> Result<Secret, HandshakeError> {
    secret
        .diffie_hellman(public)
        .ok_or(HandshakeError::LowOrderPoint)
}

/// `K ‖ B ‖ H(ab)`: what the client signs.
fn client_signed_payload(
    network_key: &NetworkKey,
    server: &PublicKey,
    hash_ab: &[u8; 32],
) -> [u8; 96] {
    let mut payload = [0u8; 96];
    payload[..32].copy_from_slice(network_key.as_bytes());
    payload[32..64].copy_from_slice(server.as_bytes());
    payload[64..].copy_from_slice(hash_ab);
    payload
}

/// `K ‖ sigA ‖ A ‖ H(ab)`: what the server signs.
fn server_signed_payload(
    network_key: &NetworkKey,
    client_signature: &[u8; 64],
    client: &PublicKey,
    hash_ab: &[u8; 32],
) -> [u8; 160] {
    let mut payload = [0u8; 160];
    payload[..32].copy_from_slice(network_key.as_bytes());
    payload[32..96].copy_from_slice(client_signature);
    payload[96..128].copy_from_slice(client.as_bytes());
    payload[128..].copy_from_slice(hash_ab);
    payload
}

/// Key of the box of message 3: `H(K ‖ ab ‖ aB)`.
fn client_auth_key(network_key: &NetworkKey, ab: &[u8; 32], a_b: &[u8; 32]) -> Secret {
    Zeroizing::new(crypto::sha256(&[network_key.as_bytes(), ab, a_b]))
}

/// Key of the box of message 4: `H(K ‖ ab ‖ aB ‖ Ab)`. Its hash is the master secret.
fn server_accept_key(
    network_key: &NetworkKey,
    ab: &[u8; 32],
    a_b: &[u8; 32],
    a_b_client: &[u8; 32],
) -> Secret {
    Zeroizing::new(crypto::sha256(&[
        network_key.as_bytes(),
        ab,
        a_b,
        a_b_client,
    ]))
}

/// Derives the session keys (spec §5.5) from the message-4 box key.
fn outcome(
    accept_key: &[u8; 32],
    local: &PublicKey,
    remote: PublicKey,
    local_hello_mac: &[u8; 32],
    remote_hello_mac: &[u8; 32],
) -> HandshakeOutcome {
    let master = Zeroizing::new(crypto::sha256(&[accept_key]));
    let encryption_key = Zeroizing::new(crypto::sha256(&[&master[..], remote.as_bytes()]));
    let decryption_key = Zeroizing::new(crypto::sha256(&[&master[..], local.as_bytes()]));
    let mut encryption_nonce = [0u8; 24];
    let mut decryption_nonce = [0u8; 24];
    encryption_nonce.copy_from_slice(&remote_hello_mac[..24]);
    decryption_nonce.copy_from_slice(&local_hello_mac[..24]);
    HandshakeOutcome {
        remote,
        encryption_key,
        encryption_nonce,
        decryption_key,
        decryption_nonce,
    }
}

// ------------------------------------------------------------------------------------------------
// Client

/// The client (dialler) before message 2. Created together with message 1.
pub struct ClientHandshake {
    network_key: NetworkKey,
    keypair: Keypair,
    server: PublicKey,
    /// The server's long-term key, validated (and as an X25519 point).
    server_key: PeerKey,
    ephemeral: EphemeralKey,
    client_hello_mac: [u8; 32],
    /// `aB`, once [`precompute`](Self::precompute)d.
    shared_a_b: Option<Secret>,
}

impl ClientHandshake {
    /// Starts a handshake as `keypair` with the server whose long-term key is `server`, and
    /// returns the state with message 1 to send.
    ///
    /// For an SSB invite pass `Keypair::from_seed(&invite_seed)` as `keypair`.
    ///
    /// Fails with [`HandshakeError::InvalidPublicKey`] if `server` is not a usable Ed25519 key
    /// (the JS would send message 1 first and fail after message 2; nothing is lost by failing
    /// before sending).
    pub fn new(
        network_key: NetworkKey,
        keypair: Keypair,
        server: PublicKey,
        ephemeral: EphemeralKey,
    ) -> Result<(Self, [u8; CLIENT_HELLO_LEN]), HandshakeError> {
        let server_key = PeerKey::get(server.as_bytes());
        if server_key.x25519().is_none() {
            return Err(HandshakeError::InvalidPublicKey {
                owner: Role::Server,
            });
        }
        let (msg1, client_hello_mac) = hello(&network_key, &ephemeral);
        let state = Self {
            network_key,
            keypair,
            server,
            server_key,
            ephemeral,
            client_hello_mac,
            shared_a_b: None,
        };
        Ok((state, msg1))
    }

    /// Optional: does now the part of the work for message 3 that does not need message 2 (one
    /// Diffie-Hellman), e.g. right after sending message 1 while the server answers.
    /// [`read_server_hello`](Self::read_server_hello) does it otherwise.
    pub fn precompute(&mut self) -> Result<(), HandshakeError> {
        if self.shared_a_b.is_none() {
            self.shared_a_b = Some(self.compute_a_b()?);
        }
        Ok(())
    }

    fn compute_a_b(&self) -> Result<Secret, HandshakeError> {
        let server_x25519 = self
            .server_key
            .x25519()
            .ok_or(HandshakeError::InvalidPublicKey {
                owner: Role::Server,
            })?;
        dh(&self.ephemeral.dh, server_x25519)
    }

    /// Reads message 2 and returns the next state with message 3 to send.
    pub fn read_server_hello(
        mut self,
        msg2: &[u8; SERVER_HELLO_LEN],
    ) -> Result<(ClientAwaitingAccept, [u8; CLIENT_AUTH_LEN]), HandshakeError> {
        let (server_hello_mac, server_ephemeral) =
            check_hello(&self.network_key, msg2, Role::Server)?;
        let shared_ab = dh(&self.ephemeral.dh, &server_ephemeral)?;
        let shared_a_b = match self.shared_a_b.take() {
            Some(done) => done,
            None => self.compute_a_b()?,
        };
        let hash_ab = crypto::sha256(&[&shared_ab[..]]);

        let payload = client_signed_payload(&self.network_key, &self.server, &hash_ab);
        let signature = self.keypair.long_term().sign(&payload);
        let mut plain = Zeroizing::new([0u8; 96]);
        plain[..64].copy_from_slice(&signature);
        plain[64..].copy_from_slice(self.keypair.public().as_bytes());
        let key = client_auth_key(&self.network_key, &shared_ab, &shared_a_b);
        let msg3 = SecretBox::new(&key).seal(&ZERO_NONCE, &plain);

        let state = ClientAwaitingAccept {
            network_key: self.network_key,
            keypair: self.keypair,
            server: self.server,
            server_key: self.server_key,
            server_ephemeral,
            hellos: Hellos {
                client_hello_mac: self.client_hello_mac,
                server_hello_mac,
                shared_ab,
                hash_ab,
            },
            shared_a_b,
            shared_a_b_client: None,
            client_signature: signature,
        };
        Ok((state, msg3))
    }
}

/// The client after sending message 3, waiting for message 4.
pub struct ClientAwaitingAccept {
    network_key: NetworkKey,
    keypair: Keypair,
    server: PublicKey,
    server_key: PeerKey,
    server_ephemeral: [u8; 32],
    hellos: Hellos,
    /// `aB`: our ephemeral key with the server's long-term key.
    shared_a_b: Secret,
    /// `Ab`: our long-term key with the server's ephemeral key, once
    /// [`precompute`](Self::precompute)d.
    shared_a_b_client: Option<Secret>,
    client_signature: [u8; 64],
}

impl ClientAwaitingAccept {
    /// Optional: does now the Diffie-Hellman that opening message 4 needs, e.g. right after
    /// sending message 3 while the server checks it. [`read_server_accept`](Self::read_server_accept)
    /// does it otherwise.
    pub fn precompute(&mut self) -> Result<(), HandshakeError> {
        if self.shared_a_b_client.is_none() {
            self.shared_a_b_client =
                Some(dh(self.keypair.long_term().dh(), &self.server_ephemeral)?);
        }
        Ok(())
    }

    /// Reads message 4: checks the server's signature and derives the session keys.
    pub fn read_server_accept(
        mut self,
        msg4: &[u8; SERVER_ACCEPT_LEN],
    ) -> Result<HandshakeOutcome, HandshakeError> {
        let shared_a_b_client = match self.shared_a_b_client.take() {
            Some(done) => done,
            None => dh(self.keypair.long_term().dh(), &self.server_ephemeral)?,
        };
        let key = server_accept_key(
            &self.network_key,
            &self.hellos.shared_ab,
            &self.shared_a_b,
            &shared_a_b_client,
        );
        let signature: Zeroizing<[u8; 64]> = SecretBox::new(&key)
            .open(&ZERO_NONCE, msg4)
            .map_err(|_| HandshakeError::InvalidAccept)?;
        let client = self.keypair.public();
        let payload = server_signed_payload(
            &self.network_key,
            &self.client_signature,
            &client,
            &self.hellos.hash_ab,
        );
        if !self.server_key.verify(&payload, &signature) {
            return Err(HandshakeError::BadSignature {
                signer: Role::Server,
            });
        }
        Ok(outcome(
            &key,
            &client,
            self.server,
            &self.hellos.client_hello_mac,
            &self.hellos.server_hello_mac,
        ))
    }
}

// ------------------------------------------------------------------------------------------------
// Server

/// The server (acceptor) before message 1.
pub struct ServerHandshake {
    network_key: NetworkKey,
    keypair: Keypair,
    ephemeral: EphemeralKey,
}

impl ServerHandshake {
    /// A server handshake as `keypair`.
    pub fn new(network_key: NetworkKey, keypair: Keypair, ephemeral: EphemeralKey) -> Self {
        Self {
            network_key,
            keypair,
            ephemeral,
        }
    }

    /// Reads message 1 and returns the next state with message 2 to send. (The server answers
    /// only once the client's hello checks out, like the JS.)
    ///
    /// Message 2 needs no Diffie-Hellman, so this is cheap; the exchanges message 3 needs are
    /// done by [`ServerAwaitingAuth::precompute`] (after sending message 2, while the client
    /// works) or else by [`ServerAwaitingAuth::read_client_auth`].
    pub fn read_client_hello(
        self,
        msg1: &[u8; CLIENT_HELLO_LEN],
    ) -> Result<(ServerAwaitingAuth, [u8; SERVER_HELLO_LEN]), HandshakeError> {
        let (client_hello_mac, client_ephemeral) =
            check_hello(&self.network_key, msg1, Role::Client)?;
        let (msg2, server_hello_mac) = hello(&self.network_key, &self.ephemeral);
        let state = ServerAwaitingAuth {
            network_key: self.network_key,
            keypair: self.keypair,
            ephemeral: self.ephemeral,
            client_ephemeral,
            client_hello_mac,
            server_hello_mac,
            secrets: None,
        };
        Ok((state, msg2))
    }
}

/// The server after sending message 2, waiting for message 3.
pub struct ServerAwaitingAuth {
    network_key: NetworkKey,
    keypair: Keypair,
    ephemeral: EphemeralKey,
    client_ephemeral: [u8; 32],
    client_hello_mac: [u8; 32],
    server_hello_mac: [u8; 32],
    /// `ab`, its hash and `aB`, once [`precompute`](Self::precompute)d.
    secrets: Option<(Hellos, Secret)>,
}

impl ServerAwaitingAuth {
    /// Optional: does now the two Diffie-Hellman exchanges that opening message 3 needs, e.g.
    /// right after sending message 2 while the client computes message 3.
    /// [`read_client_auth`](Self::read_client_auth) does them otherwise.
    pub fn precompute(&mut self) -> Result<(), HandshakeError> {
        if self.secrets.is_none() {
            self.secrets = Some(self.compute_secrets()?);
        }
        Ok(())
    }

    fn compute_secrets(&self) -> Result<(Hellos, Secret), HandshakeError> {
        let shared_ab = dh(&self.ephemeral.dh, &self.client_ephemeral)?;
        let hash_ab = crypto::sha256(&[&shared_ab[..]]);
        let shared_a_b = dh(self.keypair.long_term().dh(), &self.client_ephemeral)?;
        let hellos = Hellos {
            client_hello_mac: self.client_hello_mac,
            server_hello_mac: self.server_hello_mac,
            shared_ab,
            hash_ab,
        };
        Ok((hellos, shared_a_b))
    }

    /// Reads message 3: opens it, checks the client's signature and learns the client's identity.
    /// The result waits for the caller's authorization decision.
    pub fn read_client_auth(
        mut self,
        msg3: &[u8; CLIENT_AUTH_LEN],
    ) -> Result<ServerPendingDecision, HandshakeError> {
        let (hellos, shared_a_b) = match self.secrets.take() {
            Some(done) => done,
            None => self.compute_secrets()?,
        };
        let key = client_auth_key(&self.network_key, &hellos.shared_ab, &shared_a_b);
        let plain: Zeroizing<[u8; 96]> = SecretBox::new(&key)
            .open(&ZERO_NONCE, msg3)
            .map_err(|_| HandshakeError::ServerKeyMismatch)?;
        let mut client_signature = [0u8; 64];
        let mut client_bytes = [0u8; 32];
        client_signature.copy_from_slice(&plain[..64]);
        client_bytes.copy_from_slice(&plain[64..]);
        let client = PublicKey::from_bytes(client_bytes);
        let client_key = PeerKey::get(client.as_bytes());

        let payload =
            client_signed_payload(&self.network_key, &self.keypair.public(), &hellos.hash_ab);
        if !client_key.verify(&payload, &client_signature) {
            return Err(HandshakeError::BadSignature {
                signer: Role::Client,
            });
        }
        let client_x25519 = client_key
            .x25519()
            .ok_or(HandshakeError::InvalidPublicKey {
                owner: Role::Client,
            })?;
        let shared_a_b_client = dh(&self.ephemeral.dh, client_x25519)?;
        Ok(ServerPendingDecision {
            network_key: self.network_key,
            keypair: self.keypair,
            client,
            client_signature,
            hellos,
            shared_a_b,
            shared_a_b_client,
        })
    }
}

/// The server after a valid message 3: the client has proven its identity
/// ([`client`](Self::client)); the caller decides whether to [`accept`](Self::accept) it.
pub struct ServerPendingDecision {
    network_key: NetworkKey,
    keypair: Keypair,
    client: PublicKey,
    client_signature: [u8; 64],
    hellos: Hellos,
    shared_a_b: Secret,
    shared_a_b_client: Secret,
}

impl ServerPendingDecision {
    /// The client's long-term public key (its identity), proven by its signature.
    pub fn client(&self) -> PublicKey {
        self.client
    }

    /// Accepts the client: returns message 4 to send and the session.
    pub fn accept(self) -> ([u8; SERVER_ACCEPT_LEN], HandshakeOutcome) {
        let payload = server_signed_payload(
            &self.network_key,
            &self.client_signature,
            &self.client,
            &self.hellos.hash_ab,
        );
        let signature = self.keypair.long_term().sign(&payload);
        let key = server_accept_key(
            &self.network_key,
            &self.hellos.shared_ab,
            &self.shared_a_b,
            &self.shared_a_b_client,
        );
        let msg4 = SecretBox::new(&key).seal(&ZERO_NONCE, &signature);
        let session = outcome(
            &key,
            &self.keypair.public(),
            self.client,
            &self.hellos.server_hello_mac,
            &self.hellos.client_hello_mac,
        );
        (msg4, session)
    }

    /// Rejects the client. Nothing is sent: the caller hangs up (that is all the client sees).
    pub fn reject(self) -> HandshakeError {
        HandshakeError::Rejected
    }
}

// ------------------------------------------------------------------------------------------------
// Outcome

/// A completed handshake: the peer's identity and the box-stream keys of both directions.
///
/// Keys are wiped on drop and not shown by `Debug`.
pub struct HandshakeOutcome {
    remote: PublicKey,
    encryption_key: Secret,
    encryption_nonce: [u8; 24],
    decryption_key: Secret,
    decryption_nonce: [u8; 24],
}

impl HandshakeOutcome {
    /// The peer's long-term public key.
    pub fn remote(&self) -> PublicKey {
        self.remote
    }

    /// Key of the box-stream we send.
    pub fn encryption_key(&self) -> &[u8; 32] {
        &self.encryption_key
    }

    /// Initial nonce of the box-stream we send.
    pub fn encryption_nonce(&self) -> &[u8; 24] {
        &self.encryption_nonce
    }

    /// Key of the box-stream we receive.
    pub fn decryption_key(&self) -> &[u8; 32] {
        &self.decryption_key
    }

    /// Initial nonce of the box-stream we receive.
    pub fn decryption_nonce(&self) -> &[u8; 24] {
        &self.decryption_nonce
    }

    /// The box-stream codecs for this session: an encoder for what we send and a decoder for
    /// what we receive.
    pub fn into_codecs(self) -> (Encoder, Decoder) {
        (
            Encoder::new(&self.encryption_key, self.encryption_nonce),
            Decoder::new(&self.decryption_key, self.decryption_nonce),
        )
    }
}

impl std::fmt::Debug for HandshakeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeOutcome")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
