//! [`QuicAddr`]: a peer's key and the packet address QUIC reaches it at.

use std::fmt;
use std::hash::{Hash, Hasher};

use ms_core::PublicKey;
use ms_swarm::ParseAddrError;

/// The address of a node of a [`QuicSwarm`](crate::QuicSwarm): the packet address its QUIC
/// endpoint listens on (a UDP socket address, or an address of the packet swarm underneath)
/// and its Ed25519 key, which its certificate must carry.
///
/// Canonical text: `quic:<packet address>~shs:<base64 key>`, the form a multiserver
/// address takes (e.g. `quic:127.0.0.1:8008~shs:…`, `quic:[::1]:8008~shs:…`, or over a mem
/// swarm `quic:3~shs:…`). The key is last, so the packet address's own text may hold anything.
/// Equality, ordering and hashing follow the text.
///
/// ```
/// use ms_quicswarm::QuicAddr;
/// use std::net::SocketAddr;
/// let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
/// let text = format!("quic:127.0.0.1:8008~shs:{key}");
/// let addr = QuicAddr::<SocketAddr>::parse_with(&text, |s| s.parse().map_err(|_| "not a socket address"))?;
/// assert_eq!(addr.to_string(), text);
/// assert_eq!(addr.key().to_base64(), key);
/// # Ok::<(), ms_swarm::ParseAddrError>(())
/// ```
#[derive(Clone, Debug)]
pub struct QuicAddr<A> {
    inner: A,
    key: PublicKey,
    text: Box<str>,
}

const PREFIX: &str = "quic:";
const KEY_SEP: &str = "~shs:";

impl<A: fmt::Display> QuicAddr<A> {
    /// The node with `key` at the packet address `inner`.
    pub fn new(inner: A, key: PublicKey) -> Self {
        let text = format!("{PREFIX}{inner}{KEY_SEP}{}", key.to_base64()).into_boxed_str();
        Self { inner, key, text }
    }

    /// Parses the canonical text, the packet address with `parse_inner`. The packet address must
    /// print back to the same text (canonical form).
    pub fn parse_with<E: fmt::Display>(
        text: &str,
        parse_inner: impl FnOnce(&str) -> Result<A, E>,
    ) -> Result<Self, ParseAddrError> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| ParseAddrError::new(text, "does not start with `quic:`"))?;
        let (inner_text, key_text) = rest
            .rsplit_once(KEY_SEP)
            .ok_or_else(|| ParseAddrError::new(text, "no `~shs:<key>` at the end"))?;
        let key = PublicKey::from_base64(key_text)
            .map_err(|e| ParseAddrError::new(text, format!("bad key: {e}")))?;
        let inner = parse_inner(inner_text)
            .map_err(|e| ParseAddrError::new(text, format!("bad packet address: {e}")))?;
        let addr = Self::new(inner, key);
        if &*addr.text != text {
            return Err(ParseAddrError::new(text, "not in canonical form"));
        }
        Ok(addr)
    }
}

impl<A> QuicAddr<A> {
    /// The packet address.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The node's key.
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<A> fmt::Display for QuicAddr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<A> PartialEq for QuicAddr<A> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<A> Eq for QuicAddr<A> {}

impl<A> PartialOrd for QuicAddr<A> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<A> Ord for QuicAddr<A> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl<A> Hash for QuicAddr<A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}
