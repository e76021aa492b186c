//! What a transform learns about the peer: its public key and what the server's `auth`
//! callback said about it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// An Ed25519 public key, as SSB identities and `shs:` sections carry them.
///
/// `Display` prints the feed id `@<base64>.ed25519`; `FromStr` parses it (the `@` is optional
/// there, the `.ed25519` suffix is not). Base64 is decoded as leniently as the JavaScript
/// reference does it ([`decode_base64_lenient`]).
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
    /// Wraps 32 raw bytes. Whether they are a usable curve point is for the handshake to check.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Standard base64 with padding (44 characters), as `shs:` sections print keys.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Decodes base64 of 32 bytes, leniently ([`decode_base64_lenient`]).
    pub fn from_base64(s: &str) -> Result<Self, InvalidKey> {
        let bytes = decode_base64_lenient(s);
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(PublicKey)
            .map_err(|_| InvalidKey(truncate(s)))
    }

    /// The SSB identity form, `@<base64>.ed25519`.
    pub fn to_id(&self) -> String {
        format!("@{}.ed25519", self.to_base64())
    }

    /// Parses the SSB identity form, `@<base64>.ed25519` (the `@` may be left out).
    pub fn from_id(s: &str) -> Result<Self, InvalidKey> {
        let body = s.strip_prefix('@').unwrap_or(s);
        body.strip_suffix(".ed25519")
            .ok_or_else(|| InvalidKey(truncate(s)))
            .and_then(Self::from_base64)
    }
}

impl FromStr for PublicKey {
    type Err = InvalidKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_id(s)
    }
}

impl From<[u8; 32]> for PublicKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for PublicKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Decodes base64 exactly as Node's `Buffer.from(text, 'base64')` does, which is how the
/// JavaScript reference reads keys and seeds in `shs:` sections, app keys and secret files.
///
/// Node's decoder never fails. It reads the text as UTF-16 code units and looks at the low
/// eight bits of each; it stops at the first `=`; it skips every character that is not in the
/// standard or the URL-safe alphabet (`@`, `.`, spaces, newlines, ...); it accepts missing
/// padding and ignores leftover bits (a lone trailing character gives nothing). So
/// `@<key>.ed25519` and `<key> ` decode to the key, while `<key without padding>.ed25519`
/// decodes to 37 bytes, `ed25519` being base64 too. Callers check the length.
///
/// ```
/// use ms_core::decode_base64_lenient;
/// assert_eq!(decode_base64_lenient("aGk="), b"hi");
/// assert_eq!(decode_base64_lenient("aGk"), b"hi");
/// assert_eq!(decode_base64_lenient("-_8"), decode_base64_lenient("+/8="));
/// assert_eq!(decode_base64_lenient("@aGk=.ed25519"), b"hi");
/// assert_eq!(decode_base64_lenient("not base64!"), decode_base64_lenient("notbase64"));
/// ```
pub fn decode_base64_lenient(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut group: u32 = 0;
    let mut count = 0;
    for unit in text.encode_utf16() {
        // Node indexes its table with the low byte of the code unit ('Ł', U+0141, reads as 'A').
        let byte = unit.to_le_bytes()[0];
        if byte == b'=' {
            break;
        }
        let Some(value) = sextet(byte) else {
            continue;
        };
        group = (group << 6) | u32::from(value);
        count += 1;
        if count == 4 {
            out.extend_from_slice(&group.to_be_bytes()[1..]);
            group = 0;
            count = 0;
        }
    }
    match count {
        2 => out.push((group >> 4).to_be_bytes()[3]),
        3 => out.extend_from_slice(&(group >> 2).to_be_bytes()[2..]),
        _ => {}
    }
    out
}

/// The value of a base64 character in either alphabet (standard `+/`, URL-safe `-_`).
fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
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

/// Who the peer is, as a transport or a transform established it.
///
/// ```
/// use ms_core::{AuthValue, Identity, PublicKey};
/// let id = Identity::new(PublicKey::from_bytes([1; 32])).with_auth(AuthValue::new("friend"));
/// assert_eq!(id.public_key, PublicKey::from_bytes([1; 32]));
/// assert!(id.auth.is_some());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Identity {
    /// The peer's long-term public key (for `noauth`, the local key, as in the reference).
    pub public_key: PublicKey,
    /// What the server's `auth` callback returned (inbound connections only).
    pub auth: Option<AuthValue>,
}

impl Identity {
    /// A peer known by its public key, with no `auth` value.
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            auth: None,
        }
    }

    /// Attaches what the server's `auth` callback returned for this peer.
    #[must_use]
    pub fn with_auth(mut self, auth: AuthValue) -> Self {
        self.auth = Some(auth);
        self
    }
}
