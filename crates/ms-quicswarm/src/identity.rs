//! TLS 1.3 for QUIC with the node's Ed25519 SSB key as its only credential.
//!
//! Each node presents a self-signed certificate whose subject public key is its SSB key (the
//! way libp2p-tls does, without its extension: the certificate's own key *is* the identity).
//! There is no certificate authority: a verifier accepts a certificate when it parses, its key
//! is an Ed25519 key, the TLS 1.3 handshake signature (Ed25519 only) verifies with that key,
//! and — for a dial — the key is the one the dialled address names. Both sides present
//! certificates (client authentication is mandatory), so each knows the other's key when the
//! handshake ends.

use std::sync::{Arc, Mutex};

use ms_core::PublicKey;
use ms_shs::Keypair;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::error::QuicSwarmError;

/// The ALPN protocol of the swarm's QUIC connections (version 1 of the framing in
/// `docs/quicswarm.md`).
pub(crate) const ALPN: &[u8] = b"ms-quicswarm/1";

/// The server name a dial sends (SNI). Verifiers ignore it: the key is the identity.
pub(crate) const SERVER_NAME: &str = "ssb";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) }, followed by the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410): version 0, the algorithm,
/// and an OCTET STRING holding the OCTET STRING of the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The Ed25519 key a certificate certifies, if it parses and certifies one.
pub fn key_of_certificate(cert: &CertificateDer<'_>) -> Option<PublicKey> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let bytes: &[u8] = spki.as_ref();
    let key: [u8; 32] = bytes
        .strip_prefix(&ED25519_SPKI_PREFIX[..])?
        .try_into()
        .ok()?;
    Some(PublicKey(key))
}

/// The rustls provider: aws-lc-rs (the workspace's), TLS 1.3 only.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A node's TLS credentials: its self-signed certificate and the signing key behind it.
#[derive(Clone)]
pub(crate) struct Identity {
    public: PublicKey,
    cert: CertificateDer<'static>,
    pkcs8: Arc<[u8]>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The certificate for `keypair`'s key, signed by it.
    pub(crate) fn new(keypair: &Keypair) -> Result<Self, QuicSwarmError> {
        let seed = keypair.seed();
        let mut pkcs8 = Vec::with_capacity(48);
        pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
        pkcs8.extend_from_slice(&seed[..]);
        let der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let signer = rcgen::KeyPair::try_from(&der).map_err(QuicSwarmError::certificate)?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(QuicSwarmError::certificate)?;
        let cert = params
            .self_signed(&signer)
            .map_err(QuicSwarmError::certificate)?;
        let cert = cert.der().clone();
        // The certificate must carry exactly our key (rcgen derived it from the seed).
        if key_of_certificate(&cert) != Some(keypair.public()) {
            return Err(QuicSwarmError::certificate(
                "the certificate does not carry the node's key",
            ));
        }
        Ok(Self {
            public: keypair.public(),
            cert,
            pkcs8: pkcs8.into(),
            provider: provider(),
        })
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec()))
    }

    /// The server side: TLS 1.3, ALPN, a certificate required from every client.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, QuicSwarmError> {
        let verifier = Arc::new(PeerVerifier {
            expected: None,
            presented: Arc::default(),
            provider: self.provider.clone(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(QuicSwarmError::tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert.clone()], self.key_der())
            .map_err(QuicSwarmError::tls)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }

    /// The client side of a dial to the node with key `expected`; `presented` records the key
    /// the server's certificate carried, so a mismatch can be reported with both keys.
    pub(crate) fn client_config(
        &self,
        expected: PublicKey,
        presented: Arc<Mutex<Option<PublicKey>>>,
    ) -> Result<rustls::ClientConfig, QuicSwarmError> {
        let verifier = Arc::new(PeerVerifier {
            expected: Some(expected),
            presented,
            provider: self.provider.clone(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(QuicSwarmError::tls)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.cert.clone()], self.key_der())
            .map_err(QuicSwarmError::tls)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }
}

/// Checks a peer's certificate: an Ed25519 key, the expected one when dialling.
#[derive(Debug)]
struct PeerVerifier {
    expected: Option<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        }
        let Some(key) = key_of_certificate(end_entity) else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        };
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(key);
        }
        match self.expected {
            Some(expected) if expected != key => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(()),
        }
    }

    fn signature(
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
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)?;
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
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)?;
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
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_node_key() {
        let keypair = Keypair::from_seed(&[7; 32]);
        let identity = Identity::new(&keypair).unwrap();
        assert_eq!(key_of_certificate(&identity.cert), Some(keypair.public()));
        assert_eq!(
            key_of_certificate(&CertificateDer::from(vec![1, 2, 3])),
            None
        );
    }
}
