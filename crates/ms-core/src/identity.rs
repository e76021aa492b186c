//! What a transform learns about the peer: its public key and what the server's `auth`
//! callback said about it.

use std::any::Any;
use std::borrow::Cow;
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

/// The key a peer is known by: an Ed25519 key (SSB identities, `shs`, `noauth`) or a key of
/// another kind, supplied by a transport or transform that authenticates peers its own way.
///
/// The kind names what the bytes are, so that keys of different kinds never compare equal and
/// an application can tell them apart. Examples of kinds a plugin might use (a convention, not
/// a registry): `tls-spki-sha256` (the SHA-256 of a QUIC/TLS peer certificate's public key),
/// `bt-addr` (a bonded Bluetooth device's address), `tor-onion-v3` (an onion service's key,
/// kept apart from SSB identities even though it is an Ed25519 key too).
///
/// `Display` prints `@<base64>.ed25519` for Ed25519 keys (the SSB feed id) and
/// `<kind>:<base64>` for the others.
///
/// ```
/// use ms_core::{PeerKey, PublicKey};
///
/// let ssb = PeerKey::from(PublicKey::from_bytes([1; 32]));
/// assert_eq!(ssb.ed25519(), Some(&PublicKey::from_bytes([1; 32])));
/// assert_eq!(ssb.kind(), "ed25519");
///
/// let tls = PeerKey::other("tls-spki-sha256", vec![7; 32]);
/// assert_eq!(tls.kind(), "tls-spki-sha256");
/// assert_eq!(tls.ed25519(), None);
/// assert_eq!(tls.as_bytes(), &[7; 32][..]);
/// assert!(tls.to_string().starts_with("tls-spki-sha256:BwcH"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PeerKey {
    /// An Ed25519 public key, as SSB identities and `shs:` sections carry them.
    Ed25519(PublicKey),
    /// A key of another kind. Build it with [`PeerKey::other`].
    Other {
        /// What the bytes are, e.g. `tls-spki-sha256`. Never `ed25519`.
        kind: Cow<'static, str>,
        /// The key (or its fingerprint), as the kind defines it.
        bytes: Arc<[u8]>,
    },
}

impl PeerKey {
    /// The kind of [`PeerKey::Ed25519`] keys.
    pub const ED25519: &'static str = "ed25519";

    /// A key of another kind than Ed25519.
    ///
    /// The kind `ed25519` is reserved: such a key of 32 bytes becomes a
    /// [`PeerKey::Ed25519`], so that the two spellings of one key compare equal; of another
    /// length it stays `Other`.
    pub fn other(kind: impl Into<Cow<'static, str>>, bytes: impl Into<Arc<[u8]>>) -> Self {
        let kind = kind.into();
        let bytes = bytes.into();
        if kind == Self::ED25519
            && let Ok(key) = <[u8; 32]>::try_from(&bytes[..])
        {
            return PeerKey::Ed25519(PublicKey(key));
        }
        PeerKey::Other { kind, bytes }
    }

    /// The kind: `ed25519` or what [`other`](Self::other) was given.
    pub fn kind(&self) -> &str {
        match self {
            PeerKey::Ed25519(_) => Self::ED25519,
            PeerKey::Other { kind, .. } => kind,
        }
    }

    /// The raw bytes of the key.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PeerKey::Ed25519(key) => key.as_bytes(),
            PeerKey::Other { bytes, .. } => bytes,
        }
    }

    /// The Ed25519 key, if the peer is known by one.
    pub fn ed25519(&self) -> Option<&PublicKey> {
        match self {
            PeerKey::Ed25519(key) => Some(key),
            PeerKey::Other { .. } => None,
        }
    }
}

impl From<PublicKey> for PeerKey {
    fn from(key: PublicKey) -> Self {
        PeerKey::Ed25519(key)
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerKey::Ed25519(key) => write!(f, "PeerKey::Ed25519({})", key.to_base64()),
            PeerKey::Other { kind, bytes } => {
                write!(f, "PeerKey::Other({kind}:{})", STANDARD.encode(bytes))
            }
        }
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerKey::Ed25519(key) => fmt::Display::fmt(key, f),
            PeerKey::Other { kind, bytes } => write!(f, "{kind}:{}", STANDARD.encode(bytes)),
        }
    }
}

/// Who the peer is, as a transport or a transform established it: its [`PeerKey`], and what
/// the server's `auth` callback said about it.
///
/// ```
/// use ms_core::{AuthValue, Identity, PeerKey, PublicKey};
///
/// let id = Identity::new(PublicKey::from_bytes([1; 32])).with_auth(AuthValue::new("friend"));
/// assert_eq!(id.ed25519(), Some(&PublicKey::from_bytes([1; 32])));
/// assert!(id.auth().is_some());
///
/// // A transport that authenticates peers by certificate.
/// let id = Identity::from_key(PeerKey::other("tls-spki-sha256", vec![7; 32]));
/// assert_eq!(id.key().kind(), "tls-spki-sha256");
/// assert_eq!(id.ed25519(), None);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Identity {
    key: PeerKey,
    auth: Option<AuthValue>,
}

impl Identity {
    /// A peer known by its Ed25519 key (an SSB identity), with no `auth` value.
    pub fn new(public_key: PublicKey) -> Self {
        Self::from_key(PeerKey::Ed25519(public_key))
    }

    /// A peer known by a key of any kind, with no `auth` value.
    pub fn from_key(key: PeerKey) -> Self {
        Self { key, auth: None }
    }

    /// Attaches what the server's `auth` callback returned for this peer.
    #[must_use]
    pub fn with_auth(mut self, auth: AuthValue) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The peer's key, of whatever kind (for `noauth`, the local key, as in the reference).
    pub fn key(&self) -> &PeerKey {
        &self.key
    }

    /// The peer's Ed25519 key, if it is known by one.
    pub fn ed25519(&self) -> Option<&PublicKey> {
        self.key.ed25519()
    }

    /// What the server's `auth` callback returned (inbound connections only).
    pub fn auth(&self) -> Option<&AuthValue> {
        self.auth.as_ref()
    }
}
