//! Records held by a node, with expiry, and the per-peer request limiter.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::time::{Duration, Instant};

use crate::id::NodeId;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The value.
    pub value: Bytes,
    /// The node that published it.
    pub publisher: NodeId,
    /// When it expires.
    pub expires: Instant,
}

impl Record {
    /// `value` published by `publisher`, expiring at `expires`.
    pub fn new(value: Bytes, publisher: NodeId, expires: Instant) -> Self {
        Self {
            value,
            publisher,
            expires,
        }
    }
}

/// What [`Store::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Yes,
    /// A replica for a key held with another value or publisher: the record held stays.
    Conflict,
    /// The store is full.
    Full,
}

#[derive(Debug)]
pub(crate) struct Store {
    records: HashMap<NodeId, Record>,
    max: usize,
}

impl Store {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            records: HashMap::new(),
            max,
        }
    }

    /// Stores a record. `from_publisher`: the sender is the publisher itself (authenticated by
    /// the swarm), so it may replace what is held; a replica from a holder only fills an empty
    /// slot or extends the same record.
    pub(crate) fn put(&mut self, key: NodeId, record: Record, from_publisher: bool) -> Stored {
        let full = self.records.len() >= self.max;
        match self.records.get_mut(&key) {
            Some(held) if from_publisher && held.publisher == record.publisher => {
                *held = record;
                Stored::Yes
            }
            Some(held) if held.publisher == record.publisher && held.value == record.value => {
                held.expires = held.expires.max(record.expires);
                Stored::Yes
            }
            Some(_) => Stored::Conflict,
            None if full => Stored::Full,
            None => {
                self.records.insert(key, record);
                Stored::Yes
            }
        }
    }

    pub(crate) fn get(&self, key: &NodeId, now: Instant) -> Option<&Record> {
        self.records.get(key).filter(|r| r.expires > now)
    }

    /// Drops expired records; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let before = self.records.len();
        self.records.retain(|_, r| r.expires > now);
        before - self.records.len()
    }

    pub(crate) fn live(&self, now: Instant) -> Vec<(NodeId, Record)> {
        self.records
            .iter()
            .filter(|(_, r)| r.expires > now)
            .map(|(k, r)| (*k, r.clone()))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// Requests a peer may make: `per_second` sustained, bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// The largest burst.
    pub burst: f64,
}

impl RateLimit {
    /// `per_second` requests per second with bursts of `burst`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self { per_second, burst }
    }
}

/// A token bucket per peer id, bounded in the number of peers it remembers.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    peers: HashMap<NodeId, (f64, Instant)>,
    max_peers: usize,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, max_peers: usize) -> Self {
        Self {
            limit,
            peers: HashMap::new(),
            max_peers,
        }
    }

    /// Takes one token for `peer`; false when it has none left.
    pub(crate) fn allow(&mut self, peer: NodeId, now: Instant) -> bool {
        let limit = self.limit;
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            // Forget peers whose bucket has refilled: they carry no state worth keeping.
            self.peers.retain(|_, (tokens, at)| {
                let refill = now.saturating_duration_since(*at).as_secs_f64() * limit.per_second;
                *tokens + refill < limit.burst
            });
            if self.peers.len() >= self.max_peers {
                return false;
            }
        }
        let (tokens, at) = self.peers.entry(peer).or_insert((limit.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * limit.per_second;
        *tokens = (*tokens + refill).min(limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A duration in whole seconds for the wire, saturating.
pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refills_and_bounds_peers() {
        let now = Instant::now();
        let mut l = Limiter::new(RateLimit::new(1.0, 3.0), 2);
        let (a, b, c) = (NodeId::hash(b"a"), NodeId::hash(b"b"), NodeId::hash(b"c"));
        assert!((0..3).all(|_| l.allow(a, now)));
        assert!(!l.allow(a, now));
        assert!(l.allow(a, now + Duration::from_secs(1)));
        assert!((0..3).all(|_| l.allow(b, now)));
        // Two peers with spent buckets remembered: a third is refused rather than growing.
        assert!(!l.allow(c, now + Duration::from_secs(1)));
        // Once their buckets refill, they are forgotten and room is made.
        assert!(l.allow(c, now + Duration::from_secs(10)));
    }

    #[test]
    fn replicas_do_not_overwrite_and_records_expire() {
        let now = Instant::now();
        let mut s = Store::new(2);
        let (k, p, q) = (NodeId::hash(b"k"), NodeId::hash(b"p"), NodeId::hash(b"q"));
        let later = now + Duration::from_secs(10);
        let rec = |v: &'static [u8], p, e| Record::new(Bytes::from_static(v), p, e);
        assert_eq!(s.put(k, rec(b"v1", p, later), true), Stored::Yes);
        assert_eq!(s.put(k, rec(b"evil", q, later), false), Stored::Conflict);
        assert_eq!(s.put(k, rec(b"evil", p, later), false), Stored::Conflict);
        assert_eq!(s.put(k, rec(b"v2", p, later), true), Stored::Yes);
        assert_eq!(s.get(&k, now).map(|r| &r.value[..]), Some(&b"v2"[..]));
        assert_eq!(
            s.put(NodeId::hash(b"k2"), rec(b"x", p, now), true),
            Stored::Yes
        );
        assert_eq!(
            s.put(NodeId::hash(b"k3"), rec(b"x", p, later), true),
            Stored::Full
        );
        assert_eq!(s.get(&k, later), None);
        assert_eq!(s.expire(later), 2);
        assert_eq!(s.len(), 0);
    }
}
