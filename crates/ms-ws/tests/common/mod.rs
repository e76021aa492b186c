//! Shared test set-up: a test PKI written to disk, and ws/wss transports that use it.

#![allow(dead_code)]

use std::net::TcpListener;
#[cfg(feature = "wss")]
use std::path::PathBuf;
use std::sync::OnceLock;

use ms_core::{MultiServer, Stack};
use ms_ws::Ws;
#[cfg(feature = "wss")]
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
#[cfg(feature = "wss")]
use rustls_pki_types::CertificateDer;

#[cfg(feature = "wss")]
/// A CA, and a leaf certificate it signed for `localhost` and `127.0.0.1`, as PEM files.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: CertificateDer<'static>,
}

#[cfg(feature = "wss")]
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        Pki {
            ca: ca.der().clone(),
            _dir: dir,
            cert,
            key,
        }
    })
}

#[cfg(feature = "wss")]
/// A root store that trusts the test CA.
pub fn test_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).unwrap();
    roots
}

/// A plain `ws` transport on 127.0.0.1, any port.
pub fn ws() -> Ws {
    Ws::builder().build().unwrap()
}

#[cfg(feature = "wss")]
/// A `wss` transport with the test certificate that also trusts the test CA.
pub fn wss() -> Ws {
    let pki = pki();
    Ws::builder()
        .tls_pem(&pki.cert, &pki.key)
        .client_roots(test_roots())
        .build()
        .unwrap()
}

pub fn node(transport: Ws) -> MultiServer {
    MultiServer::new([Stack::new(transport)]).unwrap()
}

/// A port on 127.0.0.1 (and ::1) where connections are refused while the test runs.
pub fn dead_port() -> u16 {
    ms_testkit::refused_localhost_port()
}

/// A port that accepts TCP connections and then never says anything.
pub fn black_hole_port() -> u16 {
    static HOLE: OnceLock<TcpListener> = OnceLock::new();
    HOLE.get_or_init(|| TcpListener::bind("127.0.0.1:0").unwrap())
        .local_addr()
        .unwrap()
        .port()
}
