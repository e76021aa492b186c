//! Long-term identities and the network key.
//!
//! An SSB identity is an Ed25519 key pair. Its public key is printed as the feed id
//! `@<base64>.ed25519` (standard alphabet, with padding) and stored, together with the secret, in
//! the `secret` file that `ssb-keys` writes. The [`NetworkKey`] (a.k.a. app key, `caps.shs`)
//! separates networks: peers with different network keys cannot complete a handshake.
//!
//! Secrets are wiped from memory when a [`Keypair`] is dropped and are never printed by `Debug`.

use std::fmt;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::proto::crypto;

/// Why a key could not be parsed, loaded, stored or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The decoded key has the wrong size.
    #[error("key has {actual} bytes, expected {expected}")]
    InvalidLength {
        /// The size the key must have.
        expected: usize,
        /// The size it had.
        actual: usize,
    },
    /// The text is not of the form `@<base64>.ed25519`.
    #[error("not an SSB feed id (expected `@<base64>.ed25519`)")]
    InvalidId,
    /// A secret key whose public half does not match its seed.
    #[error("the public key does not belong to the secret key")]
    MismatchedKeypair,
    /// The `secret` file is malformed.
    #[error("invalid SSB secret file: {0}")]
    InvalidSecretFile(String),
    /// Reading or writing the `secret` file failed.
    #[error("secret file: {0}")]
    Io(#[from] io::Error),
    /// The operating system's random number generator failed.
    #[error("no randomness available: {0}")]
    Randomness(getrandom::Error),
}

/// Base64 decoding the way Node's `Buffer.from(s, 'base64')` is used by the JS (see
/// [`ms_core::decode_base64_lenient`]): it never fails, callers check the length.
pub(crate) use ms_core::decode_base64_lenient;

fn decode_32(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = Zeroizing::new(decode_base64_lenient(text));
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::InvalidLength {
        expected: 32,
        actual: bytes.len(),
    })
}

/// An Ed25519 public key: the identity of an SSB peer. The same type as
/// [`ms_core::PublicKey`], which connections report.
///
/// ```
/// use ms_shs::PublicKey;
///
/// let id = "@/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=.ed25519";
/// let key: PublicKey = id.parse()?;
/// assert_eq!(key.to_string(), id);
/// assert_eq!(key.to_base64(), "/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=");
/// # Ok::<(), ms_core::InvalidKey>(())
/// ```
pub use ms_core::PublicKey;

impl From<ms_core::InvalidKey> for KeyError {
    fn from(_: ms_core::InvalidKey) -> Self {
        KeyError::InvalidId
    }
}

/// A long-term Ed25519 key pair (an SSB identity). The secret is wiped on drop.
///
/// ```
/// use ms_shs::Keypair;
///
/// let keys = Keypair::from_seed(&[7; 32]);
/// let json = keys.to_secret_json();
/// let again = Keypair::from_secret_json(&json)?;
/// assert_eq!(again.public(), keys.public());
/// # Ok::<(), ms_shs::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Keypair {
    public: PublicKey,
    /// The secret, held once by the crypto provider and prepared for the handshake (signing,
    /// X25519); shared by clones.
    long_term: Arc<crypto::LongTermKey>,
}

impl Keypair {
    /// A fresh random key pair from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let seed = crypto::random_bytes::<32>().map_err(KeyError::Randomness)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key pair for a 32-byte seed (`crypto_sign_seed_keypair`), e.g. an SSB invite seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let long_term = Arc::new(crypto::LongTermKey::from_seed(seed));
        Self {
            public: PublicKey(long_term.public()),
            long_term,
        }
    }

    /// Parses libsodium's 64-byte secret key layout `seed ‖ public key` and checks that the
    /// public half belongs to the seed.
    pub fn from_libsodium_secret(secret: &[u8; 64]) -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&secret[..32]);
        let keys = Self::from_seed(&seed);
        if keys.public.0[..] != secret[32..] {
            return Err(KeyError::MismatchedKeypair);
        }
        Ok(keys)
    }

    /// libsodium's 64-byte secret key layout `seed ‖ public key`.
    pub fn to_libsodium_secret(&self) -> Zeroizing<[u8; 64]> {
        let mut secret = Zeroizing::new([0u8; 64]);
        secret[..32].copy_from_slice(self.long_term.seed());
        secret[32..].copy_from_slice(&self.public.0);
        secret
    }

    /// The 32-byte seed the key pair was derived from.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.long_term.seed())
    }

    /// The public key (identity).
    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn long_term(&self) -> &crypto::LongTermKey {
        &self.long_term
    }

    /// The `secret` file's JSON object (without the comment lines `ssb-keys` adds).
    pub fn to_secret_json(&self) -> String {
        let secret = self.to_libsodium_secret();
        let b64 = self.public.to_base64();
        format!(
            "{{\n  \"curve\": \"ed25519\",\n  \"public\": \"{b64}.ed25519\",\n  \"private\": \"{}.ed25519\",\n  \"id\": \"@{b64}.ed25519\"\n}}",
            STANDARD.encode(secret.as_slice())
        )
    }

    /// Reads an SSB `secret` file's content: JSON, optionally surrounded by `#` comment lines as
    /// `ssb-keys` writes them.
    pub fn from_secret_json(text: &str) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        struct SecretFile {
            curve: Option<String>,
            public: Option<String>,
            private: String,
            id: Option<String>,
        }
        let json: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let file: SecretFile =
            serde_json::from_str(&json).map_err(|e| KeyError::InvalidSecretFile(e.to_string()))?;
        if file.curve.as_deref().is_some_and(|c| c != "ed25519") {
            return Err(KeyError::InvalidSecretFile(
                "curve is not ed25519".to_owned(),
            ));
        }
        let private = Zeroizing::new(decode_base64_lenient(
            file.private
                .strip_suffix(".ed25519")
                .unwrap_or(&file.private),
        ));
        let secret: &[u8; 64] =
            private
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::InvalidLength {
                    expected: 64,
                    actual: private.len(),
                })?;
        let keys = Self::from_libsodium_secret(secret)?;
        if let Some(public) = file.public {
            let public = public.strip_suffix(".ed25519").unwrap_or(&public);
            if PublicKey::from_base64(public)? != keys.public {
                return Err(KeyError::MismatchedKeypair);
            }
        }
        if let Some(id) = file.id
            && id.parse::<PublicKey>()? != keys.public
        {
            return Err(KeyError::MismatchedKeypair);
        }
        Ok(keys)
    }

    /// Loads an SSB `secret` file.
    pub fn load_secret_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        Self::from_secret_json(&text)
    }

    /// Writes an SSB `secret` file with mode 0600 (on Unix). Refuses to overwrite an existing
    /// file: replacing an identity by accident cannot be undone.
    pub fn save_secret_file(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        let text = Zeroizing::new(format!(
            "# This is your SSB secret key. Never show it to anyone, never edit it, and do not\n\
             # use it on two devices at once (that forks your feed).\n\
             #\n\
             {}\n\
             #\n\
             # The public name derived from it is safe to share:\n\
             #\n\
             #   {}\n",
            self.to_secret_json(),
            self.public
        ));
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    /// Loads the `secret` file at `path`, or creates it with a new random identity if it does
    /// not exist (what `ssb-keys` `loadOrCreateSync` does).
    pub fn load_or_create_secret_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        match Self::load_secret_file(path) {
            Err(KeyError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                let keys = Self::generate()?;
                keys.save_secret_file(path)?;
                Ok(keys)
            }
            other => other,
        }
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The network key ("app key", `caps.shs`): 32 bytes every peer of one network shares.
///
/// [`NetworkKey::MAINNET`] (also the `Default`) is the main SSB network's key.
///
/// ```
/// use ms_shs::NetworkKey;
///
/// let key = NetworkKey::from_base64("1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=")?;
/// assert_eq!(key, NetworkKey::MAINNET);
/// # Ok::<(), ms_shs::KeyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkKey([u8; 32]);

impl NetworkKey {
    /// The main SSB network's key, base64 `1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=`.
    pub const MAINNET: Self = Self([
        0xd4, 0xa1, 0xcb, 0x88, 0xa6, 0x6f, 0x02, 0xf8, 0xdb, 0x63, 0x5c, 0xe2, 0x64, 0x41, 0xcc,
        0x5d, 0xac, 0x1b, 0x08, 0x42, 0x0c, 0xea, 0xac, 0x23, 0x08, 0x39, 0xb7, 0x55, 0x84, 0x5a,
        0x9f, 0xfb,
    ]);

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses base64 leniently (standard or URL-safe, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_32(text).map(Self)
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        general_purpose::STANDARD.encode(self.0)
    }
}

impl Default for NetworkKey {
    fn default() -> Self {
        Self::MAINNET
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkKey({})", self.to_base64())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_key_matches_its_base64() {
        assert_eq!(
            NetworkKey::MAINNET.to_base64(),
            "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="
        );
        assert_eq!(NetworkKey::default(), NetworkKey::MAINNET);
    }

    #[test]
    fn lenient_base64_accepts_url_safe_and_missing_padding() {
        let key = PublicKey::from_bytes([0xfb; 32]);
        let std = key.to_base64();
        let url = std.replace('+', "-").replace('/', "_");
        assert_eq!(PublicKey::from_base64(&url).unwrap(), key);
        assert_eq!(
            PublicKey::from_base64(std.trim_end_matches('=')).unwrap(),
            key
        );
        assert!(PublicKey::from_base64("AAAA").is_err());
        assert!(PublicKey::from_base64("not base64!").is_err());
        assert!(matches!(
            decode_32("AAAA"),
            Err(KeyError::InvalidLength {
                expected: 32,
                actual: 3
            })
        ));
        // As in Node, `!` and the space are skipped: `notbase64` is 6 bytes.
        assert!(matches!(
            decode_32("not base64!"),
            Err(KeyError::InvalidLength {
                expected: 32,
                actual: 6
            })
        ));
    }

    #[test]
    fn feed_id_round_trip_and_errors() {
        let key = Keypair::from_seed(&[1; 32]).public();
        assert_eq!(key.to_id().parse::<PublicKey>().unwrap(), key);
        assert!(key.to_base64().parse::<PublicKey>().is_err());
    }

    #[test]
    fn loads_secret_file_with_comments() {
        let keys = Keypair::from_seed(&[3; 32]);
        let text = format!(
            "# comment\n#\n{}\n#\n#   {}\n",
            keys.to_secret_json(),
            keys.public()
        );
        let loaded = Keypair::from_secret_json(&text).unwrap();
        assert_eq!(loaded.public(), keys.public());
        assert_eq!(*loaded.seed(), [3; 32]);
    }

    #[test]
    fn rejects_secret_file_with_foreign_public_key() {
        let keys = Keypair::from_seed(&[3; 32]);
        let other = Keypair::from_seed(&[4; 32]).public().to_base64();
        let text = keys
            .to_secret_json()
            .replace(&keys.public().to_base64(), &other);
        assert!(matches!(
            Keypair::from_secret_json(&text),
            Err(KeyError::MismatchedKeypair)
        ));
    }

    #[test]
    fn saves_with_mode_0600_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let keys = Keypair::load_or_create_secret_file(&path).unwrap();
        assert_eq!(
            Keypair::load_or_create_secret_file(&path).unwrap().public(),
            keys.public()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            keys.save_secret_file(&path),
            Err(KeyError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists
        ));
    }
}
