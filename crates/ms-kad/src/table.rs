//! The routing table: k-buckets with Kademlia's least-recently-seen rule.

use tokio::time::{Duration, Instant};

use crate::id::{Distance, ID_BITS, NodeId};

/// A peer: its id and the swarm address it answered from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Contact<A> {
    /// The peer's id (SHA-256 of its public key).
    pub id: NodeId,
    /// Where to reach it.
    pub addr: A,
}

impl<A> Contact<A> {
    /// The contact `id` at `addr`.
    pub fn new(id: NodeId, addr: A) -> Self {
        Self { id, addr }
    }
}

/// What [`RoutingTable::observe`] did with a contact.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Insert<A> {
    /// New in its bucket, added as the most recently seen.
    Added,
    /// Already known: moved to the tail of its bucket (its address updated).
    Updated,
    /// Our own id: never stored.
    Own,
    /// Its bucket is full. Kademlia's rule: ping `oldest` (the least recently seen); if it
    /// answers keep it ([`RoutingTable::observe`] it again) and drop the newcomer, otherwise
    /// [`RoutingTable::replace`] it with the newcomer.
    Full {
        /// The least recently seen contact of the bucket.
        oldest: Contact<A>,
    },
}

#[derive(Clone, Debug)]
struct Bucket<A> {
    /// Least recently seen first.
    entries: Vec<Contact<A>>,
    /// When a lookup last went through this bucket's range (or it changed).
    touched: Instant,
}

/// k-buckets around one node's id.
///
/// A contact is only handed to [`observe`](RoutingTable::observe) after the node talked to it
/// (an answer to our request, or a request it sent us): contacts learned from other nodes'
/// answers never enter the table unverified.
#[derive(Clone, Debug)]
pub struct RoutingTable<A> {
    own: NodeId,
    k: usize,
    buckets: Vec<Bucket<A>>,
}

impl<A: Clone + PartialEq> RoutingTable<A> {
    /// An empty table for the node `own`, `k` contacts per bucket (at least 1).
    pub fn new(own: NodeId, k: usize, now: Instant) -> Self {
        Self {
            own,
            k: k.max(1),
            buckets: (0..ID_BITS)
                .map(|_| Bucket {
                    entries: Vec::new(),
                    touched: now,
                })
                .collect(),
        }
    }

    /// The node this table belongs to.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// The bucket size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// A contact was seen alive (it answered, or asked us something).
    pub fn observe(&mut self, contact: Contact<A>, now: Instant) -> Insert<A> {
        let Some(index) = self.own.bucket_index(&contact.id) else {
            return Insert::Own;
        };
        let k = self.k;
        let bucket = &mut self.buckets[index];
        bucket.touched = now;
        if let Some(pos) = bucket.entries.iter().position(|c| c.id == contact.id) {
            bucket.entries.remove(pos);
            bucket.entries.push(contact);
            return Insert::Updated;
        }
        if bucket.entries.len() < k {
            bucket.entries.push(contact);
            return Insert::Added;
        }
        Insert::Full {
            oldest: bucket.entries[0].clone(),
        }
    }

    /// The oldest contact `oldest` of a full bucket did not answer its liveness ping: evict it
    /// and add `newcomer`. Does nothing when `oldest` is gone or was seen again in the
    /// meantime (no longer the least recently seen), or `newcomer` is in another bucket.
    pub fn replace(&mut self, oldest: &NodeId, newcomer: Contact<A>, now: Instant) -> bool {
        let Some(index) = self.own.bucket_index(oldest) else {
            return false;
        };
        if self.own.bucket_index(&newcomer.id) != Some(index) {
            return false;
        }
        let bucket = &mut self.buckets[index];
        if bucket.entries.first().map(|c| c.id) != Some(*oldest)
            || bucket.entries.iter().any(|c| c.id == newcomer.id)
        {
            return false;
        }
        bucket.entries.remove(0);
        bucket.entries.push(newcomer);
        bucket.touched = now;
        true
    }

    /// Forgets a contact (it failed to answer a request).
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let Some(index) = self.own.bucket_index(id) else {
            return false;
        };
        let bucket = &mut self.buckets[index];
        let before = bucket.entries.len();
        bucket.entries.retain(|c| c.id != *id);
        bucket.entries.len() != before
    }

    /// Whether `id` is in the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.own
            .bucket_index(id)
            .is_some_and(|i| self.buckets[i].entries.iter().any(|c| c.id == *id))
    }

    /// The `n` known contacts closest to `target`, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Contact<A>> {
        let mut all: Vec<(Distance, &Contact<A>)> = self
            .buckets
            .iter()
            .flat_map(|b| &b.entries)
            .map(|c| (c.id.distance(target), c))
            .collect();
        if n == 0 {
            return Vec::new();
        }
        if all.len() > n {
            all.select_nth_unstable_by_key(n, |(d, _)| *d);
            all.truncate(n);
        }
        all.sort_unstable_by_key(|(d, _)| *d);
        all.into_iter().map(|(_, c)| c.clone()).collect()
    }

    /// The number of contacts.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// True when the table holds no contact.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The contacts of bucket `index`, least recently seen first.
    pub fn bucket(&self, index: usize) -> &[Contact<A>] {
        self.buckets.get(index).map_or(&[], |b| &b.entries)
    }

    /// Marks bucket `index` as refreshed (a lookup for an id in its range was made).
    pub fn touch(&mut self, index: usize, now: Instant) {
        if let Some(b) = self.buckets.get_mut(index) {
            b.touched = now;
        }
    }

    /// The buckets to refresh: those not touched for `idle`, from bucket 0 up to the farthest
    /// non-empty one (farther buckets are empty because no node is there to find).
    pub fn idle_buckets(&self, now: Instant, idle: Duration) -> Vec<usize> {
        let Some(top) = self.buckets.iter().rposition(|b| !b.entries.is_empty()) else {
            return Vec::new();
        };
        (0..=top)
            .filter(|&i| now.saturating_duration_since(self.buckets[i].touched) >= idle)
            .collect()
    }

    /// The indices of buckets farther than the closest known contact: what a joining node
    /// refreshes after looking itself up.
    pub fn buckets_beyond_closest(&self) -> Vec<usize> {
        match self.buckets.iter().position(|b| !b.entries.is_empty()) {
            Some(first) => (first + 1..ID_BITS).collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ms_swarm::SeedRng;

    fn ids_in_bucket(own: &NodeId, index: usize, n: usize) -> Vec<NodeId> {
        let mut rng = SeedRng::new(index as u64);
        let mut out = Vec::new();
        while out.len() < n {
            let id = own.random_in_bucket(index, &mut rng);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    #[test]
    fn full_bucket_reports_the_least_recently_seen() {
        let now = Instant::now();
        let own = NodeId::hash(b"own");
        let mut t = RoutingTable::new(own, 3, now);
        let ids = ids_in_bucket(&own, 200, 5);
        for (i, id) in ids[..3].iter().enumerate() {
            assert_eq!(t.observe(Contact::new(*id, i), now), Insert::Added);
        }
        // Seeing the oldest again moves it to the tail: the second becomes the oldest.
        assert_eq!(t.observe(Contact::new(ids[0], 0), now), Insert::Updated);
        assert_eq!(
            t.observe(Contact::new(ids[3], 3), now),
            Insert::Full {
                oldest: Contact::new(ids[1], 1)
            }
        );
        // The newcomer is not added until the oldest fails its ping.
        assert!(!t.contains(&ids[3]));
        assert_eq!(t.bucket(200).len(), 3);
        // The oldest did not answer: replaced.
        assert!(t.replace(&ids[1], Contact::new(ids[3], 3), now));
        assert!(!t.contains(&ids[1]) && t.contains(&ids[3]));
        assert_eq!(
            t.bucket(200).iter().map(|c| c.id).collect::<Vec<_>>(),
            [ids[2], ids[0], ids[3]]
        );
        // A replace for a contact that is no longer the oldest does nothing.
        assert!(!t.replace(&ids[0], Contact::new(ids[4], 4), now));
        assert!(!t.contains(&ids[4]));
    }

    #[test]
    fn own_id_is_never_stored_and_buckets_are_by_distance() {
        let now = Instant::now();
        let own = NodeId::hash(b"own");
        let mut t = RoutingTable::new(own, 20, now);
        assert_eq!(t.observe(Contact::new(own, 0), now), Insert::Own);
        assert!(t.is_empty());
        let near = ids_in_bucket(&own, 3, 1)[0];
        let far = ids_in_bucket(&own, 255, 1)[0];
        t.observe(Contact::new(far, 1), now);
        t.observe(Contact::new(near, 2), now);
        assert_eq!(t.bucket(3)[0].id, near);
        assert_eq!(t.bucket(255)[0].id, far);
        assert_eq!(t.closest(&own, 1)[0].id, near);
        assert_eq!(t.closest(&far, 2)[0].id, far);
        assert!(t.remove(&near) && !t.contains(&near) && t.len() == 1);
        assert_eq!(t.buckets_beyond_closest(), (256..256).collect::<Vec<_>>());
    }

    #[test]
    fn closest_matches_brute_force() {
        let now = Instant::now();
        let own = NodeId::hash(b"own");
        let mut t = RoutingTable::new(own, 20, now);
        let ids: Vec<NodeId> = (0..300u32)
            .map(|i| NodeId::hash(&i.to_be_bytes()))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            t.observe(Contact::new(*id, i), now);
        }
        let stored: Vec<NodeId> = (0..256)
            .flat_map(|b| t.bucket(b).iter().map(|c| c.id))
            .collect();
        let target = NodeId::hash(b"target");
        let mut brute = stored.clone();
        brute.sort_by_key(|id| id.distance(&target));
        let got: Vec<NodeId> = t.closest(&target, 20).into_iter().map(|c| c.id).collect();
        assert_eq!(got, brute[..20]);
        // No bucket over k, and the far half of the space (bucket 255) is full.
        assert!((0..256).all(|b| t.bucket(b).len() <= 20));
        assert_eq!(t.bucket(255).len(), 20);
    }

    #[test]
    fn idle_buckets_are_the_untouched_ones_up_to_the_farthest_used() {
        let start = Instant::now();
        let own = NodeId::hash(b"own");
        let mut t = RoutingTable::<u8>::new(own, 20, start);
        assert!(t.idle_buckets(start, Duration::ZERO).is_empty());
        let id = ids_in_bucket(&own, 10, 1)[0];
        t.observe(Contact::new(id, 0), start);
        let later = start + Duration::from_secs(3600);
        t.touch(4, later);
        let idle = t.idle_buckets(later, Duration::from_secs(3600));
        assert_eq!(idle.len(), 10);
        assert!(!idle.contains(&4) && idle.contains(&10) && !idle.contains(&11));
    }
}
