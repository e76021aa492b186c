//! Node ids, keys and XOR distance.

use std::fmt;

use ms_swarm::SeedRng;
use sha2::{Digest as _, Sha256};

/// The length of a node id (and of a record key) in bytes.
pub const ID_LEN: usize = 32;

/// The number of bits of an id, and so the number of k-buckets.
pub const ID_BITS: usize = ID_LEN * 8;

/// A 256-bit identifier: a node's id (SHA-256 of its public key) or a record's key.
///
/// ```
/// use ms_kad::NodeId;
/// let a = NodeId::from_public_key(b"alice's key");
/// let b = NodeId::from_public_key(b"bob's key");
/// assert_eq!(a.distance(&a).leading_zeros(), 256);
/// assert_eq!(a.distance(&b), b.distance(&a));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; ID_LEN]);

/// The key of a record: the same 256-bit space as node ids.
pub type Key = NodeId;

impl NodeId {
    /// An id with these bytes.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The id of the node with this public key: SHA-256 of the key's bytes.
    pub fn from_public_key(key: &[u8]) -> Self {
        Self::hash(key)
    }

    /// SHA-256 of `data`: how to turn a name (or a value, for content-addressed records) into
    /// a [`Key`].
    pub fn hash(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &NodeId) -> Distance {
        let mut d = [0u8; ID_LEN];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// The k-bucket `other` belongs to in this node's table: `255 - leading zeros of the
    /// distance`, so bucket `i` holds distances in `[2^i, 2^(i+1))`. `None` for this id itself.
    pub fn bucket_index(&self, other: &NodeId) -> Option<usize> {
        let zeros = self.distance(other).leading_zeros();
        (zeros < ID_BITS).then(|| ID_BITS - 1 - zeros)
    }

    /// A random id in this node's bucket `index` (distance with bit `index` the highest set),
    /// for refreshing that bucket.
    pub fn random_in_bucket(&self, index: usize, rng: &mut SeedRng) -> NodeId {
        let index = index.min(ID_BITS - 1);
        let mut d = [0u8; ID_LEN];
        rng.fill(&mut d);
        // Bit `index` counted from the least significant bit of the last byte.
        let byte = ID_LEN - 1 - index / 8;
        let bit = index % 8;
        for b in d.iter_mut().take(byte) {
            *b = 0;
        }
        let keep = ((1u16 << bit) - 1) as u8; // the bits below `bit`
        d[byte] = (d[byte] & keep) | (1u8 << bit);
        let mut id = self.0;
        for (i, b) in id.iter_mut().enumerate() {
            *b ^= d[i];
        }
        NodeId(id)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for NodeId {
    /// The first 8 bytes in hex, enough to tell ids apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The XOR distance between two ids, ordered as a 256-bit big-endian number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance([u8; ID_LEN]);

impl Distance {
    /// The number of leading zero bits (256 for the distance of an id to itself).
    pub fn leading_zeros(&self) -> usize {
        let mut zeros = 0;
        for b in &self.0 {
            if *b == 0 {
                zeros += 8;
            } else {
                return zeros + b.leading_zeros() as usize;
            }
        }
        zeros
    }

    /// The bytes, most significant first.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_of_random_id_is_the_requested_one() {
        let mut rng = SeedRng::new(3);
        let me = NodeId::hash(b"me");
        for index in [0, 1, 7, 8, 9, 100, 254, 255] {
            for _ in 0..20 {
                let id = me.random_in_bucket(index, &mut rng);
                assert_eq!(me.bucket_index(&id), Some(index), "bucket {index}");
            }
        }
        assert_eq!(me.bucket_index(&me), None);
    }

    #[test]
    fn distance_is_xor_and_ordered_big_endian() {
        let mut a = [0u8; ID_LEN];
        let mut b = [0u8; ID_LEN];
        a[0] = 0b1000_0000;
        b[31] = 1;
        let (a, b, zero) = (
            NodeId::from_bytes(a),
            NodeId::from_bytes(b),
            NodeId::from_bytes([0; ID_LEN]),
        );
        assert!(zero.distance(&a) > zero.distance(&b));
        assert_eq!(zero.bucket_index(&a), Some(255));
        assert_eq!(zero.bucket_index(&b), Some(0));
        assert_eq!(a.distance(&b).as_bytes()[0], 0b1000_0000);
        assert_eq!(a.distance(&b).as_bytes()[31], 1);
    }
}
