//! The wire format: one request or one response per ask, versioned, every length bounded.
//!
//! All integers are big-endian. Every message starts with the version byte ([`VERSION`]) and
//! a tag byte.
//!
//! | message | tag | body |
//! |---|---|---|
//! | request `Ping` | 0 | — |
//! | request `FindNode` | 1 | target (32) |
//! | request `FindValue` | 2 | key (32) |
//! | request `Store` | 3 | key (32), ttl seconds (u32), publisher id (32), value length (u16), value |
//! | response `Pong` | 0 | — |
//! | response `Nodes` | 1 | count (u8), then per contact: id (32), address length (u8), address text (UTF-8) |
//! | response `Value` | 2 | ttl seconds left (u32), publisher id (32), value length (u16), value |
//! | response `Stored` | 3 | — |
//!
//! Decoding checks the version, the tag, every length against the bytes left and against
//! [`Limits`] (at most `max_contacts` contacts, values of at most `max_value` bytes), UTF-8 of
//! addresses, and that nothing follows the message.

use bytes::{BufMut, Bytes, BytesMut};

use crate::id::{ID_LEN, NodeId};

/// The version byte of this format.
pub const VERSION: u8 = 1;

/// The longest address text a contact may carry.
pub const MAX_ADDR_LEN: usize = 255;

/// Bounds a decoder enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most contacts a `Nodes` answer may carry (k).
    pub max_contacts: usize,
    /// The largest value, in bytes.
    pub max_value: usize,
}

impl Limits {
    /// At most `max_contacts` contacts per answer and values of at most `max_value` bytes.
    pub fn new(max_contacts: usize, max_value: usize) -> Self {
        Self {
            max_contacts: max_contacts.min(usize::from(u8::MAX)),
            max_value: max_value.min(usize::from(u16::MAX)),
        }
    }
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message ends before a field does.
    #[error("message truncated")]
    Truncated,
    /// Another version of the format.
    #[error("unsupported version {0}")]
    Version(u8),
    /// An unknown message tag.
    #[error("unknown message tag {0}")]
    Tag(u8),
    /// More contacts than the limit.
    #[error("{count} contacts in one answer, at most {max} allowed")]
    TooManyContacts {
        /// Contacts announced.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A value larger than the limit.
    #[error("value of {len} bytes, at most {max} allowed")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An address that is not UTF-8.
    #[error("address is not UTF-8")]
    AddrNotUtf8,
    /// Bytes after the end of the message.
    #[error("{0} bytes after the end of the message")]
    Trailing(usize),
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Are you alive?
    Ping,
    /// The k contacts you know closest to `target`.
    FindNode {
        /// The id looked for.
        target: NodeId,
    },
    /// The value stored under `key`, or the k contacts you know closest to it.
    FindValue {
        /// The record's key.
        key: NodeId,
    },
    /// Store `value` under `key` for `ttl_secs` seconds.
    Store {
        /// The record's key.
        key: NodeId,
        /// Seconds to keep it.
        ttl_secs: u32,
        /// The node that published it first (its republishing keeps it alive).
        publisher: NodeId,
        /// The value.
        value: Bytes,
    },
}

/// A contact as it travels: the id another node claims for an address, unverified.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WireContact {
    /// The claimed id.
    pub id: NodeId,
    /// The address's canonical text.
    pub addr: String,
}

impl WireContact {
    /// A contact `id` at the address with canonical text `addr`.
    pub fn new(id: NodeId, addr: String) -> Self {
        Self { id, addr }
    }
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// Alive.
    Pong,
    /// Contacts close to the target.
    Nodes(Vec<WireContact>),
    /// The value.
    Value {
        /// Seconds it has left.
        ttl_secs: u32,
        /// Who published it.
        publisher: NodeId,
        /// The value.
        value: Bytes,
    },
    /// Stored.
    Stored,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn id(&mut self) -> Result<NodeId, WireError> {
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(self.take(ID_LEN)?);
        Ok(NodeId::from_bytes(id))
    }

    fn value(&mut self, limits: &Limits) -> Result<Bytes, WireError> {
        let len = usize::from(self.u16()?);
        if len > limits.max_value {
            return Err(WireError::ValueTooLarge {
                len,
                max: limits.max_value,
            });
        }
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    fn header(&mut self) -> Result<u8, WireError> {
        let version = self.u8()?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        self.u8()
    }

    fn finish(&self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

fn put_value(out: &mut BytesMut, value: &[u8]) {
    // Encoders are only given values within the limits (checked by the node); cut to the
    // field's range so the length always matches the bytes.
    let len = value.len().min(usize::from(u16::MAX));
    out.put_u16(len as u16);
    out.put_slice(&value[..len]);
}

impl Request {
    /// The request's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(VERSION);
        match self {
            Request::Ping => out.put_u8(0),
            Request::FindNode { target } => {
                out.put_u8(1);
                out.put_slice(target.as_bytes());
            }
            Request::FindValue { key } => {
                out.put_u8(2);
                out.put_slice(key.as_bytes());
            }
            Request::Store {
                key,
                ttl_secs,
                publisher,
                value,
            } => {
                out.put_u8(3);
                out.put_slice(key.as_bytes());
                out.put_u32(*ttl_secs);
                out.put_slice(publisher.as_bytes());
                put_value(&mut out, value);
            }
        }
        out.freeze()
    }

    /// Parses a request within `limits`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        let request = match r.header()? {
            0 => Request::Ping,
            1 => Request::FindNode { target: r.id()? },
            2 => Request::FindValue { key: r.id()? },
            3 => Request::Store {
                key: r.id()?,
                ttl_secs: r.u32()?,
                publisher: r.id()?,
                value: r.value(limits)?,
            },
            tag => return Err(WireError::Tag(tag)),
        };
        r.finish()?;
        Ok(request)
    }
}

impl Response {
    /// The response's bytes. Contacts beyond 255, and addresses longer than
    /// [`MAX_ADDR_LEN`], are left out.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(VERSION);
        match self {
            Response::Pong => out.put_u8(0),
            Response::Nodes(contacts) => {
                out.put_u8(1);
                let fit: Vec<&WireContact> = contacts
                    .iter()
                    .filter(|c| c.addr.len() <= MAX_ADDR_LEN)
                    .take(usize::from(u8::MAX))
                    .collect();
                out.put_u8(fit.len() as u8);
                for c in fit {
                    out.put_slice(c.id.as_bytes());
                    out.put_u8(c.addr.len() as u8);
                    out.put_slice(c.addr.as_bytes());
                }
            }
            Response::Value {
                ttl_secs,
                publisher,
                value,
            } => {
                out.put_u8(2);
                out.put_u32(*ttl_secs);
                out.put_slice(publisher.as_bytes());
                put_value(&mut out, value);
            }
            Response::Stored => out.put_u8(3),
        }
        out.freeze()
    }

    /// Parses a response within `limits`.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        let response = match r.header()? {
            0 => Response::Pong,
            1 => {
                let count = usize::from(r.u8()?);
                if count > limits.max_contacts {
                    return Err(WireError::TooManyContacts {
                        count,
                        max: limits.max_contacts,
                    });
                }
                let mut contacts = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = r.id()?;
                    let len = usize::from(r.u8()?);
                    let addr = std::str::from_utf8(r.take(len)?)
                        .map_err(|_| WireError::AddrNotUtf8)?
                        .to_owned();
                    contacts.push(WireContact { id, addr });
                }
                Response::Nodes(contacts)
            }
            2 => Response::Value {
                ttl_secs: r.u32()?,
                publisher: r.id()?,
                value: r.value(limits)?,
            },
            3 => Response::Stored,
            tag => return Err(WireError::Tag(tag)),
        };
        r.finish()?;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_contacts: 20,
        max_value: 1024,
    };

    #[test]
    fn round_trips() {
        let id = NodeId::hash(b"x");
        let requests = [
            Request::Ping,
            Request::FindNode { target: id },
            Request::FindValue { key: id },
            Request::Store {
                key: id,
                ttl_secs: 7,
                publisher: NodeId::hash(b"p"),
                value: Bytes::from_static(b"hello"),
            },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode(), &LIMITS), Ok(r));
        }
        let responses = [
            Response::Pong,
            Response::Stored,
            Response::Nodes(vec![WireContact::new(id, "12".into()); 20]),
            Response::Value {
                ttl_secs: 9,
                publisher: id,
                value: Bytes::from(vec![7u8; 1024]),
            },
        ];
        for r in responses {
            assert_eq!(Response::decode(&r.encode(), &LIMITS), Ok(r));
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let id = NodeId::hash(b"x");
        let many = Response::Nodes(vec![WireContact::new(id, "1".into()); 21]).encode();
        assert_eq!(
            Response::decode(&many, &LIMITS),
            Err(WireError::TooManyContacts { count: 21, max: 20 })
        );
        let big = Response::Value {
            ttl_secs: 1,
            publisher: id,
            value: Bytes::from(vec![0u8; 1025]),
        }
        .encode();
        assert_eq!(
            Response::decode(&big, &LIMITS),
            Err(WireError::ValueTooLarge {
                len: 1025,
                max: 1024
            })
        );
        assert_eq!(Request::decode(&[], &LIMITS), Err(WireError::Truncated));
        assert_eq!(
            Request::decode(&[2, 0], &LIMITS),
            Err(WireError::Version(2))
        );
        assert_eq!(Request::decode(&[1, 9], &LIMITS), Err(WireError::Tag(9)));
        assert_eq!(
            Request::decode(&[1, 0, 0], &LIMITS),
            Err(WireError::Trailing(1))
        );
        assert_eq!(
            Request::decode(&[1, 1, 0], &LIMITS),
            Err(WireError::Truncated)
        );
        // A count announcing more contacts than the bytes hold.
        assert_eq!(
            Response::decode(&[1, 1, 3], &LIMITS),
            Err(WireError::Truncated)
        );
        let mut bad_utf8 = vec![1, 1, 1];
        bad_utf8.extend_from_slice(id.as_bytes());
        bad_utf8.extend_from_slice(&[1, 0xff]);
        assert_eq!(
            Response::decode(&bad_utf8, &LIMITS),
            Err(WireError::AddrNotUtf8)
        );
    }
}
