//! TLS for `wss`: server configurations from PEM files, client configurations that verify
//! certificates against the webpki roots or a root store of the caller's.
//!
//! Every configuration is built with the crate's crypto provider passed explicitly, so nothing
//! depends on a process-wide default provider being installed: aws-lc-rs with the `native`
//! feature (the default, the library ms-shs's native provider uses), ring with `pure-rust`
//! alone. This module exists with the `wss` feature (default) only.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::WsError;

#[cfg(not(any(feature = "native", feature = "pure-rust")))]
compile_error!(
    "ms-ws's `wss` feature needs a TLS crypto provider: enable `native` (aws-lc-rs) or `pure-rust` (ring)"
);

/// The rustls crypto provider of this build: aws-lc-rs with `native`, else ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "native")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "pure-rust", not(feature = "native")))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// Reads a certificate chain (leaf first) and its private key from PEM files, as the
/// reference's `cert` and `key` options, and builds a server configuration.
///
/// ```no_run
/// let config = ms_ws::tls::server_config_from_pem("cert.pem", "key.pem")?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
pub fn server_config_from_pem(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, WsError> {
    let certs = read_certificates(cert_path.as_ref())?;
    let key = read_private_key(key_path.as_ref())?;
    server_config(certs, key)
}

/// Builds a server configuration from a certificate chain (leaf first) and its key.
///
/// ```
/// # fn f(chain: Vec<rustls_pki_types::CertificateDer<'static>>, key: rustls_pki_types::PrivateKeyDer<'static>) -> Result<(), ms_ws::WsError> {
/// let config = ms_ws::tls::server_config(chain, key)?;
/// # Ok(()) }
/// ```
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, WsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(WsError::TlsConfig)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(WsError::TlsConfig)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts `roots` (a custom store: a private CA, or a test
/// certificate).
///
/// ```
/// let config = ms_ws::tls::client_config(rustls::RootCertStore::empty())?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, WsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(WsError::TlsConfig)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The default client configuration: the Mozilla root program, as shipped by `webpki-roots`
/// (the same on every machine, independent of the system's store).
///
/// ```
/// let config = ms_ws::tls::webpki_client_config()?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
pub fn webpki_client_config() -> Result<Arc<ClientConfig>, WsError> {
    client_config(webpki_roots())
}

/// The `webpki-roots` trust anchors as a root store.
pub fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Reads every certificate of a PEM file (leaf first).
///
/// ```no_run
/// let chain = ms_ws::tls::read_certificates("cert.pem".as_ref())?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, WsError> {
    let what = "certificate";
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, what, e))?;
    if certs.is_empty() {
        return Err(WsError::EmptyPem {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
///
/// ```no_run
/// let key = ms_ws::tls::read_private_key("key.pem".as_ref())?;
/// # Ok::<(), ms_ws::WsError>(())
/// ```
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, WsError> {
    let what = "private key";
    let pem = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => WsError::EmptyPem {
            what,
            path: path.to_owned(),
        },
        other => pem_error(path, what, other),
    })
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, WsError> {
    std::fs::read(path).map_err(|source| WsError::ReadPem {
        what,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: &'static str, e: rustls_pki_types::pem::Error) -> WsError {
    WsError::ReadPem {
        what,
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_config_errors() {
        let err =
            server_config_from_pem("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(matches!(
            err,
            WsError::ReadPem {
                what: "certificate",
                ..
            }
        ));
        assert_eq!(
            ms_core::Classify::kind(&err),
            ms_core::ErrorKind::Configuration
        );
    }

    #[test]
    fn files_without_pem_items_are_reported_as_empty() {
        let dir = std::env::temp_dir().join(format!("ms-ws-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not pem at all\n").unwrap();
        assert!(matches!(
            read_certificates(&path),
            Err(WsError::EmptyPem { .. })
        ));
        assert!(matches!(
            read_private_key(&path),
            Err(WsError::EmptyPem { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_provider_is_the_features_one() {
        // aws-lc-rs's and ring's providers offer different key-exchange groups: aws-lc-rs has
        // the post-quantum X25519MLKEM768, ring has not.
        let names: Vec<String> = provider()
            .kx_groups
            .iter()
            .map(|group| format!("{:?}", group.name()))
            .collect();
        let has_mlkem = names.iter().any(|name| name.contains("MLKEM"));
        assert_eq!(has_mlkem, cfg!(feature = "native"), "{names:?}");
    }

    #[test]
    fn webpki_roots_are_not_empty() {
        assert!(!webpki_roots().is_empty());
        webpki_client_config().unwrap();
    }
}
