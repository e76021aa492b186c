//! What a transform learns about the peer: its public key and what the server's `auth`
//! callback said about it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// An Ed25519 public key, as SSB identities and `shs:` sections carry them.
///
/// ```
/// use ms_core::PublicKey;
/// let key = PublicKey::from_base64("DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=")?;
/// assert_eq!(key.to_id(), "@DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=.ed25519");
/// assert_eq!(PublicKey::from_id(&key.to_id())?, key);
/// # Ok::<(), ms_core::InvalidKey>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

/// A string that is not a 32-byte key in base64 or `@<base64>.ed25519` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid public key `{0}`: expected 32 bytes of base64, or @<base64>.ed25519")]
pub struct InvalidKey(pub String);

impl PublicKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Standard base64 with padding (44 characters), as `shs:` sections print keys.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Decodes standard base64 (padding required).
    pub fn from_base64(s: &str) -> Result<Self, InvalidKey> {
        let bytes = STANDARD.decode(s).map_err(|_| InvalidKey(truncate(s)))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(PublicKey)
            .map_err(|_| InvalidKey(truncate(s)))
    }

    /// The SSB identity form, `@<base64>.ed25519`.
    pub fn to_id(&self) -> String {
        format!("@{}.ed25519", self.to_base64())
    }

    /// Parses the SSB identity form, `@<base64>.ed25519`.
    pub fn from_id(s: &str) -> Result<Self, InvalidKey> {
        s.strip_prefix('@')
            .and_then(|s| s.strip_suffix(".ed25519"))
            .ok_or_else(|| InvalidKey(truncate(s)))
            .and_then(Self::from_base64)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_id())
    }
}

/// Whatever a server's `auth` callback returned for a peer; it travels with the connection.
///
/// ```
/// use ms_core::AuthValue;
/// let auth = AuthValue::new("friend");
/// assert_eq!(auth.downcast_ref::<&str>(), Some(&"friend"));
/// ```
#[derive(Clone)]
pub struct AuthValue(Arc<dyn Any + Send + Sync>);

impl AuthValue {
    /// Wraps a value.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthValue(..)")
    }
}

/// Who the peer is, as a transform established it.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The peer's long-term public key (for `noauth`, the local key, as in the reference).
    pub public_key: PublicKey,
    /// What the server's `auth` callback returned (inbound connections only).
    pub auth: Option<AuthValue>,
}
