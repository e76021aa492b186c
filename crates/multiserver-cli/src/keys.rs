//! The node's identity: the SSB `secret` file, and the network (app) key.

use std::path::{Path, PathBuf};

use ms_shs::{KeyError, Keypair, NetworkKey};

use crate::config;
use crate::error::Failure;

/// The secret file to use: `--secret`, else `<config dir>/secret`.
pub fn secret_path(explicit: Option<&PathBuf>, config_dir: &Path) -> PathBuf {
    explicit
        .cloned()
        .unwrap_or_else(|| config_dir.join(config::SECRET_FILE))
}

/// Writes a new secret file at `path`; refuses to replace an existing one.
pub fn create(path: &Path) -> Result<Keypair, Failure> {
    if path.exists() {
        return Err(Failure::runtime(format!(
            "{} already exists: refusing to overwrite a secret (it is an identity that cannot be \
             recovered); remove it yourself or pass another --secret",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        config::ensure_dir(parent)?;
    }
    let keys = Keypair::generate()
        .map_err(|e| Failure::runtime(format!("cannot generate a key pair: {e}")))?;
    keys.save_secret_file(path).map_err(|e| match e {
        KeyError::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            Failure::runtime(format!(
                "{} already exists: refusing to overwrite a secret",
                path.display()
            ))
        }
        e => Failure::runtime(format!("cannot write {}: {e}", path.display())),
    })?;
    Ok(keys)
}

/// Loads the secret file at `path`, creating it with a new identity on first use.
pub fn load_or_create(path: &Path) -> Result<Keypair, Failure> {
    if !path.exists() {
        let keys = create(path)?;
        announce_new(&keys, path);
        return Ok(keys);
    }
    Keypair::load_secret_file(path)
        .map_err(|e| Failure::runtime(format!("cannot load {}: {e}", path.display())))
}

/// Says on stderr, once, that a new identity was written at `path` (as ssh says "Permanently
/// added"): whatever the log level, since an identity is for good.
pub fn announce_new(keys: &Keypair, path: &Path) {
    crate::error::notice(&format!(
        "created a new identity {} in {}",
        keys.public(),
        path.display()
    ));
}

/// Parses `--app-key`: 32 bytes of base64.
pub fn parse_app_key(text: &str) -> Result<NetworkKey, String> {
    NetworkKey::from_base64(text).map_err(|e| format!("not a 32-byte base64 app key: {e}"))
}

/// Parses `--allow`: a feed id `@<base64>.ed25519` (or the bare base64 key).
pub fn parse_allowed(text: &str) -> Result<ms_shs::PublicKey, String> {
    text.parse::<ms_shs::PublicKey>()
        .or_else(|_| ms_shs::PublicKey::from_base64(text))
        .map_err(|e| format!("expected @<base64>.ed25519: {e}"))
}
