//! [`StackAddr`]: a multiserver address as a swarm address.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use ms_core::{AddressError, MultiAddress, PublicKey};

/// The address of a node in a [`StackSwarm`](crate::StackSwarm): a multiserver
/// [`MultiAddress`] (alternatives joined by `;`), e.g.
/// `net:10.0.0.5:8008~shs:<key>;ws://10.0.0.5:8989~shs:<key>`.
///
/// Its canonical text is the multi-address text; two addresses are equal exactly when their
/// texts are. Two different texts can name the same node (another alternative, another order):
/// they are different addresses, but when they carry the same `shs:` key the swarm reaches the
/// node over the same connection, and [`key`](Self::key) says so.
///
/// ```
/// use ms_stackswarm::StackAddr;
/// let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
/// let addr: StackAddr = format!("net:127.0.0.1:8008~shs:{key}").parse()?;
/// assert_eq!(addr.to_string(), format!("net:127.0.0.1:8008~shs:{key}"));
/// assert_eq!(addr.key().map(|k| k.to_base64()), Some(key.to_owned()));
/// # Ok::<(), ms_core::AddressError>(())
/// ```
#[derive(Clone)]
pub struct StackAddr(Arc<Repr>);

struct Repr {
    text: Box<str>,
    multi: MultiAddress,
    key: Option<PublicKey>,
}

impl StackAddr {
    /// Wraps a multi-address.
    pub fn new(multi: MultiAddress) -> Self {
        let key = key_of(&multi);
        Self(Arc::new(Repr {
            text: multi.to_string().into_boxed_str(),
            multi,
            key,
        }))
    }

    /// Parses multi-address text.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        MultiAddress::parse(text).map(Self::new)
    }

    /// The multi-address.
    pub fn multi(&self) -> &MultiAddress {
        &self.0.multi
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The key in the first `shs:` section of any alternative, if there is one that decodes.
    pub fn key(&self) -> Option<PublicKey> {
        self.0.key
    }

    /// The keys of every `shs:` section (those that decode), in order, with repeats.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Option<PublicKey>> + '_ {
        self.0
            .multi
            .alternatives()
            .iter()
            .flat_map(|a| a.sections().iter())
            .filter(|s| s.name() == "shs")
            .map(|s| s.args().next().and_then(|k| PublicKey::from_base64(k).ok()))
    }
}

fn key_of(multi: &MultiAddress) -> Option<PublicKey> {
    multi
        .alternatives()
        .iter()
        .flat_map(|a| a.sections().iter())
        .filter(|s| s.name() == "shs")
        .find_map(|s| s.args().next().and_then(|k| PublicKey::from_base64(k).ok()))
}

impl From<MultiAddress> for StackAddr {
    fn from(multi: MultiAddress) -> Self {
        Self::new(multi)
    }
}

impl FromStr for StackAddr {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for StackAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.text)
    }
}

impl fmt::Debug for StackAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StackAddr({})", self.0.text)
    }
}

impl PartialEq for StackAddr {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

impl Eq for StackAddr {}

impl PartialOrd for StackAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StackAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.text.cmp(&other.0.text)
    }
}

impl Hash for StackAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.text.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_canonical_text() {
        let a = StackAddr::parse("mem:1;mem:2").unwrap();
        let b = StackAddr::parse("mem:2;mem:1").unwrap();
        assert_ne!(a, b);
        assert_eq!(a, StackAddr::parse(&a.to_string()).unwrap());
        assert_eq!(a.key(), None);
    }

    #[test]
    fn key_comes_from_any_alternative() {
        let key = PublicKey::from_bytes([7; 32]);
        let a = StackAddr::parse(&format!("mem:1;mem:2~shs:{}", key.to_base64())).unwrap();
        assert_eq!(a.key(), Some(key));
        assert_eq!(a.keys().collect::<Vec<_>>(), vec![Some(key)]);
    }
}
