//! The QUIC peer identity: the node's Ed25519 SSB key, with no certificate authority.
//!
//! Each node makes a self-signed X.509 certificate whose subject public key *is* its SSB key
//! (TLS 1.3 signs with Ed25519 natively, so the handshake proves possession of the SSB secret).
//! Both sides present one (client authentication is mandatory) and both check the other's
//! with custom verifiers instead of a CA:
//!
//! - the certificate must be the only one sent, parse as X.509 v3, be Ed25519 throughout, carry
//!   a valid self-signature, be within its validity, and have no critical extension we do not
//!   know;
//! - its *network tag* (the subject key identifier: HMAC-SHA-256 keyed with the network key
//!   over a label and the public key) must match our network key: peers of different SSB
//!   networks get no connection (docs/decisions.md has the reasoning and the threat model);
//! - a client additionally requires the key the address named ([`QuicIdentity::client_config`]);
//!   a server accepts any key and the application reads it with [`peer_key`];
//! - the TLS 1.3 `CertificateVerify` signature is checked against the certificate's key with
//!   the provider's algorithms (Ed25519 is the only scheme offered and accepted).
//!
//! ```
//! use ms_quic::identity::{QuicIdentity, peer_key};
//! use ms_shs::{Keypair, NetworkKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server_keys = Keypair::from_seed(&[1; 32]);
//! let client_keys = Keypair::from_seed(&[2; 32]);
//! let server_id = QuicIdentity::new(&server_keys, NetworkKey::MAINNET)?;
//! let client_id = QuicIdentity::new(&client_keys, NetworkKey::MAINNET)?;
//!
//! let server = quinn::Endpoint::server(server_id.server_config(), "127.0.0.1:0".parse()?)?;
//! let client = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
//! let address = server.local_addr()?;
//!
//! let accept = tokio::spawn(async move {
//!     let connection = server.accept().await.ok_or("closed")?.await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(peer_key(&connection))
//! });
//! let connection = client_id
//!     .connect(&client, address, server_keys.public(), ms_quic::DEFAULT_CONNECT_TIMEOUT)
//!     .await?;
//! assert_eq!(peer_key(&connection), Some(server_keys.public()));
//! assert_eq!(accept.await?.map_err(|e| e.to_string())?, Some(client_keys.public()));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use ms_core::PublicKey;
use ms_shs::{Keypair, NetworkKey};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SignatureVerificationAlgorithm,
    UnixTime,
};
use subtle::ConstantTimeEq as _;
use x509_parser::prelude::{FromDer as _, X509Certificate, X509Version};

use crate::error::{CertificateRejection, IdentityError, QuicError};

#[cfg(not(any(feature = "native", feature = "pure-rust")))]
compile_error!(
    "ms-quic needs a crypto provider: enable `native` (aws-lc-rs) or `pure-rust` (ring)"
);

/// The application protocol (ALPN) of the `quic:` multiserver transport: one bidirectional
/// stream per multiserver connection.
pub const ALPN_MULTISERVER: &[u8] = b"ssb-ms-quic/1";

/// The label the network tag is computed over, before the public key.
const NETWORK_TAG_LABEL: &[u8] = b"ssb-quic network tag v1";

/// The rustls crypto provider of this build: aws-lc-rs with `native`, else ring, with its
/// TLS 1.3 cipher suites only and `TLS13_AES_128_GCM_SHA256` preferred (its SHA-256 key
/// schedule costs less per handshake than SHA-384's, and AES-128 less per byte;
/// docs/performance.md).
pub fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "native")]
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "pure-rust", not(feature = "native")))]
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| matches!(suite, rustls::SupportedCipherSuite::Tls13(_)));
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// Certificates already parsed and checked (by their DER bytes), so that a peer met again costs
/// no parsing and no self-signature check; bounded (emptied when full).
#[derive(Default)]
struct CheckedCertificates(Mutex<HashMap<Vec<u8>, PeerCertificate>>);

/// How many checked certificates are remembered.
const CHECKED_CERTIFICATES: usize = 1024;

impl CheckedCertificates {
    fn check(
        &self,
        provider: &CryptoProvider,
        der: &[u8],
        now: UnixTime,
    ) -> Result<PeerCertificate, CertificateRejection> {
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if let Some(known) = self.lock().get(der) {
            if !known.valid_at(now_secs) {
                return Err(CertificateRejection::Malformed(
                    "outside its validity period",
                ));
            }
            return Ok(known.clone());
        }
        let checked = check_certificate(provider, der, now)?;
        let mut known = self.lock();
        if known.len() >= CHECKED_CERTIFICATES {
            known.clear();
        }
        known.insert(der.to_vec(), checked.clone());
        Ok(checked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, PeerCertificate>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The transport parameters this crate uses unless told otherwise
/// ([`QuicIdentity::with_transport_config`]):
///
/// - idle timeout 30 s, keep-alive every 10 s (an idle but open connection stays up, a dead
///   peer is noticed within 30 s; the idle timeout also bounds a handshake with a silent peer);
/// - a peer may have 32 bidirectional streams open at once (more as earlier ones end) and no
///   unidirectional one (the `quic:` transport uses one bidirectional stream per
///   multiserver connection). quinn sets up the state of every stream a peer may open when a
///   connection starts: 256 instead of 32 cost about 9 % of a server's CPU per handshake
///   (docs/performance.md);
/// - the datagram receive buffer 1 MiB, the send buffer 1 MiB;
/// - quinn's defaults otherwise (flow-control windows, congestion control: Cubic).
pub fn default_transport_config() -> quinn::TransportConfig {
    let mut config = quinn::TransportConfig::default();
    config
        .max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
            30_000,
        ))))
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(32))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .datagram_receive_buffer_size(Some(1 << 20))
        .datagram_send_buffer_size(1 << 20);
    config
}

/// The transport parameters a dialler uses unless told otherwise: [`default_transport_config`]
/// but accepting no stream from the server (0 bidirectional, 0 unidirectional): in the `quic:`
/// transport only the dialler opens streams, and quinn sets up the state of every stream the
/// peer may open when a connection starts (256 + 16 hash-map entries per connection before
/// this, about 7 % of a dialler's CPU per handshake; docs/performance.md).
pub fn default_dialler_transport_config() -> quinn::TransportConfig {
    let mut config = default_transport_config();
    config
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(0))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    config
}

/// The largest QUIC packet on a loopback path: quinn's default upper bound for path MTU
/// discovery, so a loopback connection ends up with the packet size it had before, without
/// the probes.
pub const LOOPBACK_MTU: u16 = 1452;

/// `config` for a peer on the loopback interface: packets of [`LOOPBACK_MTU`] bytes from the
/// start and no path MTU discovery. Loopback's MTU (65,536) is known, and the discovery's
/// padded probes (four per connection, each parsed a byte at a time by quinn) were about 20 % of
/// a `quic:` handshake's CPU on each side (docs/performance.md).
fn for_loopback(mut config: quinn::TransportConfig) -> quinn::TransportConfig {
    config.initial_mtu(LOOPBACK_MTU).mtu_discovery_config(None);
    config
}

/// Whether `address` is on this machine's loopback interface (IPv4-mapped included).
fn is_loopback(address: SocketAddr) -> bool {
    address.ip().to_canonical().is_loopback()
}

/// Transport parameters of one role (serving or dialling): for other peers and for loopback
/// peers.
#[derive(Clone)]
struct RoleTransport {
    any: Arc<quinn::TransportConfig>,
    loopback: Arc<quinn::TransportConfig>,
}

impl RoleTransport {
    fn new(make: fn() -> quinn::TransportConfig) -> Self {
        Self {
            any: Arc::new(make()),
            loopback: Arc::new(for_loopback(make())),
        }
    }

    fn same(config: quinn::TransportConfig) -> Self {
        let config = Arc::new(config);
        Self {
            any: config.clone(),
            loopback: config,
        }
    }

    fn for_peer(&self, peer: SocketAddr) -> Arc<quinn::TransportConfig> {
        if is_loopback(peer) {
            self.loopback.clone()
        } else {
            self.any.clone()
        }
    }
}

/// The network tag of `key` in the network `network`: HMAC-SHA-256(network key, label || key).
fn network_tag(network: &NetworkKey, key: &PublicKey) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail for 32 bytes.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(network.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
    mac.update(NETWORK_TAG_LABEL);
    mac.update(key.as_ref());
    mac.finalize().into_bytes().into()
}

/// A node's QUIC identity: its certificate (made from its SSB key pair), its network key, the
/// ALPN protocols and transport parameters it uses. Cheap to clone.
#[derive(Clone)]
pub struct QuicIdentity {
    public: PublicKey,
    network: NetworkKey,
    provider: Arc<CryptoProvider>,
    certified: Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
    transport: RoleTransport,
    dialler_transport: RoleTransport,
    server: Arc<QuicServerConfig>,
    checked: Arc<CheckedCertificates>,
}

impl fmt::Debug for QuicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicIdentity")
            .field("public", &self.public)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

/// Signs the certificate with the node's key, through the provider's signer (so no second
/// crypto library is needed to make it).
struct CertSigner<'a> {
    public: [u8; 32],
    signer: &'a dyn rustls::sign::Signer,
}

impl rcgen::PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer
            .sign(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// The PKCS#8 (RFC 8410) encoding of an Ed25519 seed: a fixed prefix, then the 32 bytes.
fn ed25519_pkcs8(seed: &[u8; 32]) -> PrivatePkcs8KeyDer<'static> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(seed);
    PrivatePkcs8KeyDer::from(der)
}

impl QuicIdentity {
    /// Makes the identity of `keys` in the network `network` (the SSB `caps.shs` key), with
    /// the `quic:` transport's ALPN and [`default_transport_config`].
    pub fn new(keys: &Keypair, network: NetworkKey) -> Result<Self, IdentityError> {
        let provider = provider();
        let public = keys.public();
        let seed = keys.seed();
        let key_der = PrivateKeyDer::Pkcs8(ed25519_pkcs8(&seed));
        let signing_key = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let signer = signing_key
            .choose_scheme(&[SignatureScheme::ED25519])
            .ok_or_else(|| IdentityError::Certificate("the provider cannot sign Ed25519".into()))?;

        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.serial_number = Some(rcgen::SerialNumber::from(1u64));
        // The subject key identifier carries the network tag (RFC 5280 lets it be any value
        // derived from the key; this one is keyed with the network key).
        let tag = network_tag(&network, &public);
        let mut ski = vec![0x04, 0x20];
        ski.extend_from_slice(&tag);
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[2, 5, 29, 14],
                ski,
            ));
        let cert = params
            .self_signed(&CertSigner {
                public: public.0,
                signer: signer.as_ref(),
            })
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let certified = Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing_key));
        let transport = RoleTransport::new(default_transport_config);
        let dialler_transport = RoleTransport::new(default_dialler_transport_config);
        let alpn = vec![ALPN_MULTISERVER.to_vec()];
        let checked = Arc::new(CheckedCertificates::default());
        let server = build_server(&provider, &certified, &network, &alpn, &checked)?;
        Ok(Self {
            public,
            network,
            provider,
            certified,
            alpn,
            transport,
            dialler_transport,
            server,
            checked,
        })
    }

    /// The same identity speaking other application protocols (ALPN; the first one both
    /// sides know is chosen, a handshake without a common one fails). Protocols built on this
    /// identity other than the `quic:` transport use their own.
    pub fn with_alpn(mut self, protocols: Vec<Vec<u8>>) -> Result<Self, IdentityError> {
        self.server = build_server(
            &self.provider,
            &self.certified,
            &self.network,
            &protocols,
            &self.checked,
        )?;
        self.alpn = protocols;
        Ok(self)
    }

    /// The same identity with other transport parameters, for serving and dialling and for
    /// every peer (the defaults differ for diallers, [`default_dialler_transport_config`], and
    /// for loopback peers, [`LOOPBACK_MTU`]; `config` replaces them all).
    pub fn with_transport_config(mut self, config: quinn::TransportConfig) -> Self {
        self.transport = RoleTransport::same(config);
        self.dialler_transport = self.transport.clone();
        self
    }

    /// The node's public key (its SSB identity).
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The network key.
    pub fn network_key(&self) -> NetworkKey {
        self.network
    }

    /// The node's certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certified.cert[0]
    }

    /// A server configuration: this certificate, client certificates mandatory and checked
    /// (any key of our network), the transport parameters, and address validation (Retry)
    /// for every connection attempt (docs/security.md).
    pub fn server_config(&self) -> quinn::ServerConfig {
        let mut config = quinn::ServerConfig::with_crypto(self.server.clone());
        config.transport_config(self.transport.any.clone());
        config
    }

    /// [`server_config`](Self::server_config) with the transport parameters for a client at
    /// `peer` (for [`quinn::Incoming::accept_with`]): a loopback client gets
    /// [`LOOPBACK_MTU`]-byte packets and no path MTU discovery unless
    /// [`with_transport_config`](Self::with_transport_config) replaced the defaults.
    pub fn server_config_for(&self, peer: SocketAddr) -> quinn::ServerConfig {
        let mut config = quinn::ServerConfig::with_crypto(self.server.clone());
        config.transport_config(self.transport.for_peer(peer));
        config
    }

    /// A client configuration that accepts only a server proving `expected` (the key the
    /// address names) in our network, and presents our certificate.
    pub fn client_config(&self, expected: PublicKey) -> Result<quinn::ClientConfig, IdentityError> {
        self.client_config_reporting(expected, Arc::default(), self.dialler_transport.any.clone())
    }

    fn client_config_reporting(
        &self,
        expected: PublicKey,
        report: Arc<Mutex<Option<CertificateRejection>>>,
        transport: Arc<quinn::TransportConfig>,
    ) -> Result<quinn::ClientConfig, IdentityError> {
        let verifier = Arc::new(PeerVerifier {
            network: self.network,
            provider: self.provider.clone(),
            expected: Some(expected),
            report,
            checked: self.checked.clone(),
        });
        let mut tls = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| IdentityError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified.clone())));
        tls.alpn_protocols = self.alpn.clone();
        tls.enable_sni = false;
        // Each dial has a configuration of its own (its verifier names the key dialled), so a
        // session ticket could never be used: do not keep them.
        tls.resumption = rustls::client::Resumption::disabled();
        let quic =
            QuicClientConfig::try_from(tls).map_err(|e| IdentityError::Tls(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(transport);
        Ok(config)
    }

    /// Dials `address` on `endpoint`, requiring the peer to prove `expected`, within
    /// `timeout`. A refused certificate is reported as the typed
    /// [`CertificateRejection`], not as quinn's TLS alert.
    pub async fn connect(
        &self,
        endpoint: &quinn::Endpoint,
        address: SocketAddr,
        expected: PublicKey,
        timeout: Duration,
    ) -> Result<quinn::Connection, QuicError> {
        let report = Arc::new(Mutex::new(None));
        let config = self.client_config_reporting(
            expected,
            report.clone(),
            self.dialler_transport.for_peer(address),
        )?;
        // The name is neither sent (SNI is off) nor checked (the verifier checks the key).
        let mut connecting = endpoint.connect_with(config, address, "ssb")?;
        let deadline = tokio::time::Instant::now() + timeout;
        // The server's first flight carries its handshake data: until then nobody has
        // answered (a dead port: UDP has no refusal).
        let answered = tokio::time::timeout_at(deadline, connecting.handshake_data())
            .await
            .map(|data| data.map(drop));
        let outcome = match answered {
            Err(_) => Err(QuicError::NoAnswer(timeout)),
            Ok(Err(e)) => Err(QuicError::Connection(e)),
            Ok(Ok(())) => match tokio::time::timeout_at(deadline, connecting).await {
                Err(_) => Err(QuicError::Timeout(timeout)),
                Ok(Err(e)) => Err(QuicError::Connection(e)),
                Ok(Ok(connection)) => Ok(connection),
            },
        };
        let rejection = report.lock().unwrap_or_else(PoisonError::into_inner).take();
        outcome.map_err(|e| match (rejection, e) {
            (Some(rejection), _) => QuicError::Certificate(rejection),
            (None, QuicError::Connection(e)) => handshake_error(e),
            (None, e) => e,
        })
    }
}

/// Reads a peer's refusal out of quinn's error: a TLS alert the peer closed the handshake with
/// becomes [`QuicError::PeerNetworkMismatch`] (`access_denied`) or [`QuicError::PeerRefused`].
///
/// In TLS 1.3 a client completes its side of the handshake before the server has judged the
/// client's certificate, so a server's refusal can arrive as the connection closing right
/// after [`QuicIdentity::connect`] returned: pass that close reason here.
pub fn handshake_error(e: quinn::ConnectionError) -> QuicError {
    if let quinn::ConnectionError::ConnectionClosed(close) = &e {
        let code = u64::from(close.error_code);
        if (0x100..0x200).contains(&code) {
            let alert = (code & 0xff) as u8;
            if alert == u8::from(rustls::AlertDescription::AccessDenied) {
                return QuicError::PeerNetworkMismatch;
            }
            return QuicError::PeerRefused { alert };
        }
    }
    QuicError::Connection(e)
}

fn build_server(
    provider: &Arc<CryptoProvider>,
    certified: &Arc<CertifiedKey>,
    network: &NetworkKey,
    alpn: &[Vec<u8>],
    checked: &Arc<CheckedCertificates>,
) -> Result<Arc<QuicServerConfig>, IdentityError> {
    let verifier = Arc::new(PeerVerifier {
        network: *network,
        provider: provider.clone(),
        expected: None,
        report: Arc::default(),
        checked: checked.clone(),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| IdentityError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone())));
    tls.alpn_protocols = alpn.to_vec();
    // No session tickets: resumption is not offered (every handshake proves both keys with a
    // signature), and tickets nobody uses cost a random id, an encoded session and a cache
    // entry each (rustls sends two per handshake by default).
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let quic = QuicServerConfig::try_from(tls).map_err(|e| IdentityError::Tls(e.to_string()))?;
    Ok(Arc::new(quic))
}

/// The peer's key, read from its (already verified) certificate; `None` before the handshake
/// completed or for a connection not made with a [`QuicIdentity`].
pub fn peer_key(connection: &quinn::Connection) -> Option<PublicKey> {
    let identity = connection.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let cert = chain.first()?;
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let key: [u8; 32] = parsed
        .public_key()
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .ok()?;
    Some(PublicKey(key))
}

/// What a verified certificate says.
#[derive(Clone)]
struct PeerCertificate {
    key: PublicKey,
    tag: Vec<u8>,
    /// The validity period, in seconds since the Unix epoch.
    not_before: i64,
    not_after: i64,
}

impl PeerCertificate {
    fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The Ed25519 verification algorithm of the provider.
fn ed25519_algorithm(
    provider: &CryptoProvider,
) -> Option<&'static dyn SignatureVerificationAlgorithm> {
    provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == SignatureScheme::ED25519)
        .and_then(|(_, algorithms)| algorithms.first().copied())
}

/// Parses and checks a peer certificate as this crate makes them.
fn check_certificate(
    provider: &CryptoProvider,
    der: &[u8],
    now: UnixTime,
) -> Result<PeerCertificate, CertificateRejection> {
    use CertificateRejection::Malformed;
    use x509_parser::oid_registry::{OID_SIG_ED25519, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER};
    use x509_parser::prelude::ParsedExtension;

    let (rest, cert) = X509Certificate::from_der(der).map_err(|_| Malformed("not X.509 DER"))?;
    if !rest.is_empty() {
        return Err(Malformed("trailing bytes after the certificate"));
    }
    if cert.version() != X509Version::V3 {
        return Err(Malformed("not an X.509 v3 certificate"));
    }
    if cert.signature_algorithm.algorithm != OID_SIG_ED25519
        || cert.signature_algorithm.parameters.is_some()
        || cert.tbs_certificate.signature != cert.signature_algorithm
    {
        return Err(Malformed("not signed with Ed25519"));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 || spki.algorithm.parameters.is_some() {
        return Err(Malformed("the subject key is not Ed25519"));
    }
    let key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| Malformed("the Ed25519 key is not 32 bytes"))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if now < not_before || now > not_after {
        return Err(Malformed("outside its validity period"));
    }
    let mut tag = None;
    for extension in cert.extensions() {
        match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id)
                if extension.oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER
                    && tag.replace(id.0.to_vec()).is_some() =>
            {
                return Err(Malformed("two network tags"));
            }
            ParsedExtension::SubjectKeyIdentifier(_)
                if extension.oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER => {}
            _ if extension.critical => {
                return Err(Malformed("an unknown critical extension"));
            }
            _ => {}
        }
    }
    let tag = tag.ok_or(Malformed("no network tag"))?;
    let algorithm = ed25519_algorithm(provider).ok_or(Malformed("Ed25519 is unsupported"))?;
    algorithm
        .verify_signature(
            &key,
            cert.tbs_certificate.as_ref(),
            cert.signature_value.data.as_ref(),
        )
        .map_err(|_| Malformed("bad self-signature"))?;
    Ok(PeerCertificate {
        key: PublicKey(key),
        tag,
        not_before,
        not_after,
    })
}

/// Both sides' certificate verifier: the client's with the expected key, the server's without.
struct PeerVerifier {
    network: NetworkKey,
    provider: Arc<CryptoProvider>,
    expected: Option<PublicKey>,
    /// Where a client's verifier leaves its reason, for [`QuicIdentity::connect`].
    report: Arc<Mutex<Option<CertificateRejection>>>,
    /// Shared by every verifier of one identity.
    checked: Arc<CheckedCertificates>,
}

impl fmt::Debug for PeerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PeerVerifier {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        self.check(end_entity, intermediates, now)
            .map_err(|rejection| {
                tracing::debug!(%rejection, "refused a QUIC peer certificate");
                let error = match &rejection {
                    CertificateRejection::UnexpectedKey { .. } => {
                        rustls::CertificateError::NotValidForName
                    }
                    CertificateRejection::NetworkMismatch => {
                        rustls::CertificateError::ApplicationVerificationFailure
                    }
                    CertificateRejection::BadSignature => rustls::CertificateError::BadSignature,
                    CertificateRejection::Malformed(_) => rustls::CertificateError::Other(
                        rustls::OtherError(Arc::new(rejection.clone())),
                    ),
                };
                *self.report.lock().unwrap_or_else(PoisonError::into_inner) = Some(rejection);
                rustls::Error::InvalidCertificate(error)
            })
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), CertificateRejection> {
        if !intermediates.is_empty() {
            return Err(CertificateRejection::Malformed("more than one certificate"));
        }
        let cert = self
            .checked
            .check(&self.provider, end_entity.as_ref(), now)?;
        if let Some(expected) = self.expected
            && expected != cert.key
        {
            return Err(CertificateRejection::UnexpectedKey {
                expected,
                actual: cert.key,
            });
        }
        let tag = network_tag(&self.network, &cert.key);
        if !bool::from(tag.as_slice().ct_eq(&cert.tag)) {
            return Err(CertificateRejection::NetworkMismatch);
        }
        Ok(())
    }

    fn verify_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
        .inspect_err(|_| {
            *self.report.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(CertificateRejection::BadSignature);
        })
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Keypair {
        Keypair::from_seed(&[n; 32])
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    #[test]
    fn the_certificate_carries_the_ssb_key_and_checks_out() {
        let id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let cert = check_certificate(&provider(), id.certificate().as_ref(), now()).unwrap();
        assert_eq!(cert.key, keys(1).public());
        assert_eq!(
            cert.tag,
            network_tag(&NetworkKey::MAINNET, &keys(1).public())
        );
    }

    #[test]
    fn a_tampered_certificate_fails_its_self_signature() {
        let id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let mut der = id.certificate().to_vec();
        // The network tag is the last 32 bytes of the extensions, inside the signed part:
        // flip a bit of it (find it by value: it is our own certificate).
        let tag = network_tag(&NetworkKey::MAINNET, &keys(1).public());
        let at = der.windows(32).position(|w| w == tag).unwrap();
        der[at] ^= 1;
        assert_eq!(
            check_certificate(&provider(), &der, now()).err(),
            Some(CertificateRejection::Malformed("bad self-signature"))
        );
    }

    #[test]
    fn a_remembered_certificate_is_still_checked_for_validity() {
        let id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let checked = CheckedCertificates::default();
        let der = id.certificate().as_ref();
        let first = checked.check(&provider(), der, now()).unwrap();
        assert_eq!(checked.lock().len(), 1);
        let again = checked.check(&provider(), der, now()).unwrap();
        assert_eq!(again.key, first.key);
        // After the certificate's end (rcgen's default: 4096), even a remembered one fails.
        let later = UnixTime::since_unix_epoch(Duration::from_secs(first.not_after as u64 + 1));
        assert_eq!(
            checked.check(&provider(), der, later).err(),
            Some(CertificateRejection::Malformed(
                "outside its validity period"
            ))
        );
    }

    #[test]
    fn tls_1_3_only_and_aes_128_gcm_sha256_first() {
        let suites: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert!(
            provider()
                .cipher_suites
                .iter()
                .all(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for der in [&b""[..], b"\x30\x03abc", &[0x30; 300]] {
            assert!(matches!(
                check_certificate(&provider(), der, now()),
                Err(CertificateRejection::Malformed(_))
            ));
        }
    }

    #[test]
    fn loopback_peers_get_their_own_transport_parameters() {
        let id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        for loopback in [
            "127.0.0.1:1",
            "127.3.2.1:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            let peer: SocketAddr = loopback.parse().unwrap();
            assert!(is_loopback(peer), "{peer}");
            assert!(Arc::ptr_eq(
                &id.dialler_transport.for_peer(peer),
                &id.dialler_transport.loopback
            ));
            assert!(Arc::ptr_eq(
                &id.transport.for_peer(peer),
                &id.transport.loopback
            ));
        }
        for other in ["192.168.1.7:1", "[2001:db8::1]:1", "[::ffff:10.0.0.1]:1"] {
            let peer: SocketAddr = other.parse().unwrap();
            assert!(!is_loopback(peer), "{peer}");
            assert!(Arc::ptr_eq(&id.transport.for_peer(peer), &id.transport.any));
        }
        // Replaced parameters apply to every peer.
        let id = id.with_transport_config(quinn::TransportConfig::default());
        assert!(Arc::ptr_eq(&id.transport.loopback, &id.transport.any));
        assert!(Arc::ptr_eq(&id.dialler_transport.any, &id.transport.any));
    }

    #[test]
    fn network_tags_differ_by_network_and_key() {
        let other = NetworkKey::from_bytes([9; 32]);
        let a = network_tag(&NetworkKey::MAINNET, &keys(1).public());
        assert_ne!(a, network_tag(&other, &keys(1).public()));
        assert_ne!(a, network_tag(&NetworkKey::MAINNET, &keys(2).public()));
    }

    #[test]
    fn the_pkcs8_encoding_matches_the_ssb_key() {
        let provider = provider();
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(ed25519_pkcs8(&keys(3).seed())))
            .unwrap();
        let spki = key.public_key().unwrap();
        assert!(spki.as_ref().ends_with(keys(3).public().as_ref()));
    }

    // --- handshakes on loopback ---

    async fn server(id: &QuicIdentity) -> (quinn::Endpoint, SocketAddr) {
        let endpoint =
            quinn::Endpoint::server(id.server_config(), "127.0.0.1:0".parse().unwrap()).unwrap();
        let address = endpoint.local_addr().unwrap();
        (endpoint, address)
    }

    fn client_endpoint() -> quinn::Endpoint {
        quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    /// Accepts one connection attempt and returns how it ended.
    async fn accept_one(
        endpoint: &quinn::Endpoint,
    ) -> Result<quinn::Connection, quinn::ConnectionError> {
        endpoint.accept().await.unwrap().await
    }

    const T: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn both_sides_see_each_others_key() {
        let (a, b) = (keys(1), keys(2));
        let server_id = QuicIdentity::new(&a, NetworkKey::MAINNET).unwrap();
        let client_id = QuicIdentity::new(&b, NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { accept_one(&server).await });
        let connection = client_id
            .connect(&client_endpoint(), address, a.public(), T)
            .await
            .unwrap();
        assert_eq!(peer_key(&connection), Some(a.public()));
        let inbound = accepted.await.unwrap().unwrap();
        assert_eq!(peer_key(&inbound), Some(b.public()));
    }

    #[tokio::test]
    async fn stream_credit_only_the_dialler_needs() {
        let (a, b) = (keys(1), keys(2));
        let server_id = QuicIdentity::new(&a, NetworkKey::MAINNET).unwrap();
        let client_id = QuicIdentity::new(&b, NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { (accept_one(&server).await, server) });
        let connection = client_id
            .connect(&client_endpoint(), address, a.public(), T)
            .await
            .unwrap();
        let (inbound, _server) = accepted.await.unwrap();
        let inbound = inbound.unwrap();
        // The dialler's transport parameters (known once the handshake is done) grant the
        // server no stream: opening one waits for credit that never comes.
        assert!(
            !is_ready(inbound.open_bi()).await,
            "the server could open a stream towards the dialler"
        );
        // The dialler can open 32 bidirectional streams at once, not a 33rd, and no
        // unidirectional one.
        let mut streams = Vec::new();
        for _ in 0..32 {
            streams.push(connection.open_bi().await.unwrap());
        }
        assert!(
            !is_ready(connection.open_bi()).await,
            "a 33rd stream opened"
        );
        assert!(
            !is_ready(connection.open_uni()).await,
            "a unidirectional stream opened"
        );
    }

    /// Whether `future` is ready at its first poll.
    async fn is_ready(future: impl std::future::Future) -> bool {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(future.as_mut(), cx).is_ready())
        })
        .await
    }

    /// Counts the session tickets a client is given.
    #[derive(Debug, Default)]
    struct TicketCounter(std::sync::atomic::AtomicUsize);

    impl rustls::client::ClientSessionStore for TicketCounter {
        fn set_kx_hint(&self, _: ServerName<'static>, _: rustls::NamedGroup) {}
        fn kx_hint(&self, _: &ServerName<'_>) -> Option<rustls::NamedGroup> {
            None
        }
        fn set_tls12_session(
            &self,
            _: ServerName<'static>,
            _: rustls::client::Tls12ClientSessionValue,
        ) {
        }
        fn tls12_session(
            &self,
            _: &ServerName<'_>,
        ) -> Option<rustls::client::Tls12ClientSessionValue> {
            None
        }
        fn remove_tls12_session(&self, _: &ServerName<'static>) {}
        fn insert_tls13_ticket(
            &self,
            _: ServerName<'static>,
            _: rustls::client::Tls13ClientSessionValue,
        ) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn take_tls13_ticket(
            &self,
            _: &ServerName<'static>,
        ) -> Option<rustls::client::Tls13ClientSessionValue> {
            None
        }
    }

    #[tokio::test]
    async fn a_server_sends_no_session_tickets() {
        let server_id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let client_id = QuicIdentity::new(&keys(2), NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        // The server echoes one stream: its answer comes after anything it sent at the end of
        // the handshake (tickets are sent then).
        let echo = tokio::spawn(async move {
            let connection = accept_one(&server).await.unwrap();
            let (mut send, mut recv) = connection.accept_bi().await.unwrap();
            let data = recv.read_to_end(16).await.unwrap();
            send.write_all(&data).await.unwrap();
            send.finish().unwrap();
            connection.closed().await
        });
        let tickets = Arc::new(TicketCounter::default());
        let mut tls = lax_client_tls(Some(client_id.certified.clone()));
        tls.resumption = rustls::client::Resumption::store(tickets.clone());
        let connection = client_endpoint()
            .connect_with(
                quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap())),
                address,
                "ssb",
            )
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(b"ping").await.unwrap();
        send.finish().unwrap();
        assert_eq!(recv.read_to_end(16).await.unwrap(), b"ping");
        assert_eq!(tickets.0.load(std::sync::atomic::Ordering::Relaxed), 0);
        connection.close(0u32.into(), b"");
        let _ = echo.await;
    }

    #[tokio::test]
    async fn a_server_with_another_key_than_dialled_is_refused() {
        let (a, b, c) = (keys(1), keys(2), keys(3));
        let server_id = QuicIdentity::new(&a, NetworkKey::MAINNET).unwrap();
        let client_id = QuicIdentity::new(&b, NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { accept_one(&server).await });
        let err = client_id
            .connect(&client_endpoint(), address, c.public(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                QuicError::Certificate(CertificateRejection::UnexpectedKey { expected, actual })
                    if *expected == c.public() && *actual == a.public()
            ),
            "{err:?}"
        );
        assert_eq!(
            ms_core::Classify::kind(&err),
            ms_core::ErrorKind::Incompatible
        );
        assert!(accepted.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_server_of_another_network_is_refused_by_the_client() {
        let (a, b) = (keys(1), keys(2));
        let server_id = QuicIdentity::new(&a, NetworkKey::from_bytes([7; 32])).unwrap();
        let client_id = QuicIdentity::new(&b, NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { accept_one(&server).await });
        let err = client_id
            .connect(&client_endpoint(), address, a.public(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                QuicError::Certificate(CertificateRejection::NetworkMismatch)
            ),
            "{err:?}"
        );
        assert!(accepted.await.unwrap().is_err());
    }

    /// A client verifier that accepts any server certificate (but checks the handshake
    /// signature), to reach the server's own checks.
    #[derive(Debug)]
    struct AnyServer(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("no TLS 1.2".into()))
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
    }

    /// A client that trusts any server and presents `certified` (or no certificate).
    fn lax_client(certified: Option<Arc<CertifiedKey>>) -> quinn::ClientConfig {
        let tls = lax_client_tls(certified);
        quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()))
    }

    fn lax_client_tls(certified: Option<Arc<CertifiedKey>>) -> rustls::ClientConfig {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
        let mut tls = match certified {
            Some(certified) => {
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
            }
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![ALPN_MULTISERVER.to_vec()];
        tls
    }

    #[tokio::test]
    async fn a_client_of_another_network_is_refused_by_the_server() {
        let server_id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let client_id = QuicIdentity::new(&keys(2), NetworkKey::from_bytes([7; 32])).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { accept_one(&server).await });
        let connecting = client_endpoint()
            .connect_with(
                lax_client(Some(client_id.certified.clone())),
                address,
                "ssb",
            )
            .unwrap();
        // The client finishes its side of the TLS 1.3 handshake before the server judges its
        // certificate: the refusal arrives as the connection closing.
        let err = match connecting.await {
            Ok(connection) => handshake_error(connection.closed().await),
            Err(e) => handshake_error(e),
        };
        assert!(matches!(err, QuicError::PeerNetworkMismatch), "{err:?}");
        assert_eq!(
            ms_core::Classify::kind(&err),
            ms_core::ErrorKind::Incompatible
        );
        assert!(accepted.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_client_without_a_certificate_is_refused() {
        let server_id = QuicIdentity::new(&keys(1), NetworkKey::MAINNET).unwrap();
        let (server, address) = server(&server_id).await;
        let accepted = tokio::spawn(async move { accept_one(&server).await });
        let connecting = client_endpoint()
            .connect_with(lax_client(None), address, "ssb")
            .unwrap();
        // As above: the refusal may arrive after the client's side completed.
        let outcome = match connecting.await {
            Ok(connection) => handshake_error(connection.closed().await),
            Err(e) => handshake_error(e),
        };
        assert!(
            matches!(outcome, QuicError::PeerRefused { alert } if alert == u8::from(rustls::AlertDescription::CertificateRequired)),
            "{outcome:?}"
        );
        assert!(accepted.await.unwrap().is_err());
    }
}
