//! A DHT node: serving requests, lookups, put/get, maintenance.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use ms_swarm::{Ask, SecureAskSwarm, SeedRng};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Duration, Instant};
use tracing::Instrument as _;

use crate::config::{Config, KadError, PeerError};
use crate::id::{Distance, Key, NodeId};
use crate::store::{Limiter, Record, Store, Stored, secs};
use crate::table::{Contact, Insert, RoutingTable};
use crate::wire::{Limits, Request, Response, WireContact};

/// What a node has done so far (cumulative counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests this node sent.
    pub requests_sent: u64,
    /// Of those, the ones that failed (no answer, refused, or a lie).
    pub requests_failed: u64,
    /// Answers that broke the rules: malformed or oversized, the wrong kind, from a peer that
    /// is not the node it was introduced as, or a value the validator refused.
    pub lies: u64,
    /// Requests this node answered.
    pub requests_served: u64,
    /// Of those, `FindNode` and `FindValue` requests (the steps of other nodes' lookups).
    pub lookups_served: u64,
    /// Requests it refused: malformed, refused by the validator, or no room.
    pub requests_refused: u64,
    /// Requests it refused because the peer was over its rate limit.
    pub rate_limited: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    lies: AtomicU64,
    served: AtomicU64,
    lookups_served: AtomicU64,
    refused: AtomicU64,
    limited: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A value found by a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundValue {
    /// The value.
    pub value: Bytes,
    /// Who published it.
    pub publisher: NodeId,
    /// How long it has left at the holder that answered.
    pub ttl: Duration,
}

/// The outcome of an iterative lookup.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Lookup<A> {
    /// The closest nodes that answered, closest first (at most k).
    pub closest: Vec<Contact<A>>,
    /// The value, for a value lookup that found one.
    pub value: Option<FoundValue>,
    /// Hops: 1 for a node from our own table, 2 for one it told us of, and so on; for the
    /// node that held the value, or else for the closest node found (0 when the value was
    /// held locally or nothing answered).
    pub hops: u32,
    /// Requests sent.
    pub messages: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Node,
    Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Asked,
    Answered,
    Failed,
    /// Timed out once: asked again (it is already this path's).
    Retry,
    /// Claimed by another disjoint path: not this path's to ask.
    Other,
}

struct Cand<A> {
    contact: Contact<A>,
    depth: u32,
    state: State,
    /// Who told us of it (`None` for our own table).
    introducer: Option<NodeId>,
    /// Set once it was asked again after a timeout.
    retried: Option<()>,
}

/// Strikes against peers that lied, and the peers banned for it.
#[derive(Debug, Default)]
struct Strikes {
    counts: HashMap<NodeId, u32>,
    banned: HashMap<NodeId, Instant>,
}

/// Failed requests in a row that take a contact out of the routing table (a timeout counts
/// one, any other failure all of them).
const MAX_FAILURES: u32 = 2;

/// Strikes that get a peer banned.
const BAN_STRIKES: u32 = 3;
/// Peers with strikes (or bans) remembered at most; beyond, the oldest knowledge is dropped.
const MAX_STRIKES: usize = 4096;

struct PathResult<A> {
    answered: Vec<(Contact<A>, u32)>,
    found: Option<(FoundValue, u32)>,
    messages: u32,
}

pub(crate) struct Inner<S: SecureAskSwarm> {
    swarm: S,
    config: Config,
    limits: Limits,
    id: NodeId,
    table: Mutex<RoutingTable<S::Addr>>,
    store: Mutex<Store>,
    published: Mutex<HashMap<Key, (Bytes, Duration)>>,
    limiter: Option<Mutex<Limiter>>,
    pinging: Mutex<HashSet<NodeId>>,
    strikes: Mutex<Strikes>,
    failures: Mutex<HashMap<NodeId, u32>>,
    tasks: Mutex<JoinSet<()>>,
    rng: Mutex<SeedRng>,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops the node's tasks when the last handle goes.
struct Guard {
    handles: Vec<JoinHandle<()>>,
    abort_tasks: Box<dyn Fn() + Send + Sync>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
        (self.abort_tasks)();
    }
}

/// One node of a Kademlia DHT over the secure ask swarm `S`.
///
/// Cloning gives another handle to the same node; the node's tasks (answering requests,
/// maintenance) stop when the last handle is dropped or [`shutdown`](Kad::shutdown) is called.
/// The swarm itself is not closed.
pub struct Kad<S: SecureAskSwarm> {
    inner: Arc<Inner<S>>,
    guard: Arc<Guard>,
}

impl<S: SecureAskSwarm> Clone for Kad<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S: SecureAskSwarm> std::fmt::Debug for Kad<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kad").field("id", &self.inner.id).finish()
    }
}

impl<S> Kad<S>
where
    S: SecureAskSwarm + 'static,
    S::PublicKey: AsRef<[u8]>,
{
    /// Starts a node on `swarm`: it answers requests at once (its routing table is empty until
    /// [`bootstrap`](Kad::bootstrap) or a peer contacts it). Needs a tokio runtime.
    pub fn new(swarm: S, config: Config) -> Result<Self, KadError> {
        config.check(swarm.mtu())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| KadError::NoRuntime)?;
        let id = NodeId::from_public_key(swarm.public_key().as_ref());
        let seed = u64::from_be_bytes(id.as_bytes()[..8].try_into().unwrap_or_default());
        let inner = Arc::new(Inner {
            limits: Limits::new(config.k, config.max_value),
            table: Mutex::new(RoutingTable::new(id, config.k, Instant::now())),
            store: Mutex::new(Store::new(config.max_records)),
            published: Mutex::new(HashMap::new()),
            limiter: config.rate_limit.map(|l| Mutex::new(Limiter::new(l, 4096))),
            pinging: Mutex::new(HashSet::new()),
            strikes: Mutex::new(Strikes::default()),
            failures: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            rng: Mutex::new(SeedRng::new(seed)),
            counters: Counters::default(),
            swarm,
            config,
            id,
        });
        let mut handles = vec![runtime.spawn(inner.clone().serve())];
        if inner.config.maintenance {
            handles.push(runtime.spawn(inner.clone().maintain()));
        }
        let weak = Arc::downgrade(&inner);
        let guard = Arc::new(Guard {
            handles,
            abort_tasks: Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    lock(&inner.tasks).abort_all();
                }
            }),
        });
        Ok(Self { inner, guard })
    }

    /// This node's id: SHA-256 of its public key.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The swarm underneath.
    pub fn swarm(&self) -> &S {
        &self.inner.swarm
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Joins the network through `addrs`: pings each (those that answer enter the routing
    /// table), looks up its own id, then (with [`Config::bootstrap_refresh`]) refreshes every
    /// bucket farther than its closest neighbour. Returns how many addresses answered.
    pub async fn bootstrap(&self, addrs: &[S::Addr]) -> Result<usize, KadError> {
        let inner = &self.inner;
        let answers = join_all(addrs.iter().map(|a| inner.ping(a, None))).await;
        let ok = answers.iter().filter(|r| r.is_ok()).count();
        if ok == 0 && !addrs.is_empty() {
            return Err(KadError::BootstrapFailed(addrs.len()));
        }
        inner.lookup(inner.id, Mode::Node).await;
        if inner.config.bootstrap_refresh {
            let far = lock(&inner.table).buckets_beyond_closest();
            for index in far {
                let target = inner.id.random_in_bucket(index, &mut lock(&inner.rng));
                inner.lookup(target, Mode::Node).await;
            }
        }
        Ok(ok)
    }

    /// Finds the k nodes closest to `target` (iterative, α requests in flight per path,
    /// [`Config::disjoint_paths`] disjoint paths).
    pub async fn find_node(&self, target: NodeId) -> Lookup<S::Addr> {
        self.inner.lookup(target, Mode::Node).await
    }

    /// Publishes `value` under `key` for [`Config::record_ttl`], and keeps republishing it
    /// every [`Config::republish_interval`] until [`forget`](Kad::forget). Returns how many
    /// nodes stored it (this one included when it is among the k closest).
    pub async fn put(&self, key: Key, value: Bytes) -> Result<usize, KadError> {
        let ttl = self.inner.config.record_ttl;
        self.put_ttl(key, value, ttl).await
    }

    /// [`put`](Kad::put) with another time-to-live (capped by holders at
    /// [`Config::max_ttl`]).
    pub async fn put_ttl(&self, key: Key, value: Bytes, ttl: Duration) -> Result<usize, KadError> {
        let inner = &self.inner;
        if value.len() > inner.config.max_value {
            return Err(KadError::ValueTooLarge {
                len: value.len(),
                max: inner.config.max_value,
            });
        }
        if !inner.config.validator.validate(&key, &value, &inner.id) {
            return Err(KadError::InvalidValue);
        }
        lock(&inner.published).insert(key, (value.clone(), ttl));
        inner.store_at_closest(key, value, inner.id, ttl).await
    }

    /// Stops republishing `key` (holders keep it until it expires).
    pub fn forget(&self, key: &Key) -> bool {
        lock(&self.inner.published).remove(key).is_some()
    }

    /// The value under `key`: from this node's own store, or found by a value lookup.
    pub async fn get(&self, key: Key) -> Option<Bytes> {
        self.get_lookup(key).await.value.map(|v| v.value)
    }

    /// [`get`](Kad::get) with the lookup's details (hops, messages).
    pub async fn get_lookup(&self, key: Key) -> Lookup<S::Addr> {
        let inner = &self.inner;
        let now = Instant::now();
        if let Some(r) = lock(&inner.store).get(&key, now) {
            return Lookup {
                closest: Vec::new(),
                value: Some(FoundValue {
                    value: r.value.clone(),
                    publisher: r.publisher,
                    ttl: r.expires.saturating_duration_since(now),
                }),
                hops: 0,
                messages: 0,
            };
        }
        inner.lookup(key, Mode::Value).await
    }

    /// Refreshes idle buckets now (a lookup for a random id in each); returns how many.
    pub async fn refresh(&self) -> usize {
        self.inner.refresh().await
    }

    /// Republishes this node's own values now; returns how many were stored somewhere.
    pub async fn republish(&self) -> usize {
        self.inner.republish().await
    }

    /// Stores every live record this node holds at the k closest nodes to its key now;
    /// returns how many records were stored somewhere.
    pub async fn replicate(&self) -> usize {
        self.inner.replicate().await
    }

    /// Drops expired records now; returns how many.
    pub fn expire(&self) -> usize {
        lock(&self.inner.store).expire(Instant::now())
    }

    /// The number of contacts in the routing table.
    pub fn table_len(&self) -> usize {
        lock(&self.inner.table).len()
    }

    /// A copy of the routing table.
    pub fn table(&self) -> RoutingTable<S::Addr> {
        lock(&self.inner.table).clone()
    }

    /// The number of records held (expired ones until [`expire`](Kad::expire) runs).
    pub fn records_len(&self) -> usize {
        lock(&self.inner.store).len()
    }

    /// Whether a live record for `key` is held here.
    pub fn holds(&self, key: &Key) -> bool {
        lock(&self.inner.store).get(key, Instant::now()).is_some()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests_sent: get(&c.sent),
            requests_failed: get(&c.failed),
            lies: get(&c.lies),
            requests_served: get(&c.served),
            lookups_served: get(&c.lookups_served),
            requests_refused: get(&c.refused),
            rate_limited: get(&c.limited),
        }
    }

    /// Stops answering and maintaining (every handle of this node). The swarm stays open.
    pub fn shutdown(&self) {
        for h in &self.guard.handles {
            h.abort();
        }
        (self.guard.abort_tasks)();
    }
}

impl<S> Inner<S>
where
    S: SecureAskSwarm + 'static,
    S::PublicKey: AsRef<[u8]>,
{
    fn id_of(&self, addr: &S::Addr) -> Result<NodeId, PeerError> {
        let key = self.swarm.lookup_public_key(addr)?;
        Ok(NodeId::from_public_key(key.as_ref()))
    }

    /// One request to one peer. The peer enters the routing table only once it answered, under
    /// the id of the key the swarm authenticated; `expected` is the id it was introduced with.
    async fn rpc(
        self: &Arc<Self>,
        addr: &S::Addr,
        expected: Option<NodeId>,
        request: &Request,
    ) -> Result<(NodeId, Response), PeerError> {
        bump(&self.counters.sent);
        let result = async {
            let answer = tokio::time::timeout(
                self.config.request_timeout,
                self.swarm.ask(addr, request.encode()),
            )
            .await
            .map_err(|_| PeerError::Timeout)??;
            let response = Response::decode(&answer, &self.limits)?;
            let fits = matches!(
                (request, &response),
                (Request::Ping, Response::Pong)
                    | (Request::FindNode { .. }, Response::Nodes(_))
                    | (
                        Request::FindValue { .. },
                        Response::Nodes(_) | Response::Value { .. }
                    )
                    | (Request::Store { .. }, Response::Stored)
            );
            if !fits {
                return Err(PeerError::Unexpected);
            }
            let id = self.id_of(addr)?;
            if expected.is_some_and(|e| e != id) {
                return Err(PeerError::IdMismatch);
            }
            Ok((id, response))
        }
        .await;
        match &result {
            Ok((id, _)) => {
                lock(&self.failures).remove(id);
                self.observe(Contact::new(*id, addr.clone()));
            }
            Err(e) => {
                bump(&self.counters.failed);
                if e.is_lie() {
                    bump(&self.counters.lies);
                }
                if matches!(e, PeerError::Wire(_) | PeerError::Unexpected) {
                    // The peer itself broke the protocol: banned at once.
                    if let Some(id) = expected.or_else(|| self.id_of(addr).ok()) {
                        self.strike(id, BAN_STRIKES);
                    }
                }
                tracing::debug!(peer = %addr, error = %e, "kad: request failed");
                if let Some(id) = expected {
                    // Gone, or lying: out at once. A timeout may be a lost datagram: out at
                    // the second in a row.
                    let strikes = if matches!(e, PeerError::Timeout) {
                        1
                    } else {
                        MAX_FAILURES
                    };
                    let mut failures = lock(&self.failures);
                    let count = failures.entry(id).or_insert(0);
                    *count += strikes;
                    if *count >= MAX_FAILURES {
                        failures.remove(&id);
                        drop(failures);
                        lock(&self.table).remove(&id);
                    } else if failures.len() > MAX_STRIKES {
                        failures.clear();
                    }
                }
            }
        }
        result
    }

    fn is_banned(&self, id: &NodeId) -> bool {
        let mut strikes = lock(&self.strikes);
        match strikes.banned.get(id) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                strikes.banned.remove(id);
                strikes.counts.remove(id);
                false
            }
            None => false,
        }
    }

    /// Counts `n` strikes against `id`; at [`BAN_STRIKES`] it is banned for
    /// [`Config::ban_duration`] and leaves the routing table.
    fn strike(&self, id: NodeId, n: u32) {
        let mut strikes = lock(&self.strikes);
        if strikes.counts.len() >= MAX_STRIKES && !strikes.counts.contains_key(&id) {
            strikes.counts.clear();
        }
        let count = strikes.counts.entry(id).or_insert(0);
        *count += n;
        if *count >= BAN_STRIKES {
            if strikes.banned.len() >= MAX_STRIKES {
                let now = Instant::now();
                strikes.banned.retain(|_, until| *until > now);
            }
            if strikes.banned.len() < MAX_STRIKES {
                strikes
                    .banned
                    .insert(id, Instant::now() + self.config.ban_duration);
            }
            drop(strikes);
            tracing::debug!(peer = %id, "kad: peer banned for lying");
            lock(&self.table).remove(&id);
        }
    }

    /// A ping with two tries: one lost datagram should not evict a live node or fail a join.
    async fn ping(
        self: &Arc<Self>,
        addr: &S::Addr,
        expected: Option<NodeId>,
    ) -> Result<NodeId, PeerError> {
        match self.rpc(addr, expected, &Request::Ping).await {
            Err(PeerError::Timeout) => self.rpc(addr, expected, &Request::Ping).await,
            other => other,
        }
        .map(|(id, _)| id)
    }

    /// A verified contact was seen: Kademlia's update rule, pinging the oldest of a full bucket.
    fn observe(self: &Arc<Self>, contact: Contact<S::Addr>) {
        if self.is_banned(&contact.id) {
            return;
        }
        let outcome = lock(&self.table).observe(contact.clone(), Instant::now());
        if let Insert::Full { oldest } = outcome {
            if !lock(&self.pinging).insert(oldest.id) {
                return; // a ping of that contact is already under way; the newcomer is dropped
            }
            let inner = self.clone();
            let mut tasks = lock(&self.tasks);
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let alive = inner.ping(&oldest.addr, Some(oldest.id)).await.is_ok();
                if !alive {
                    // The failed ping may already have taken it out of the table (a node that
                    // is gone is removed at once): either way the newcomer gets the room.
                    let mut table = lock(&inner.table);
                    if !table.replace(&oldest.id, contact.clone(), Instant::now()) {
                        table.remove(&oldest.id);
                        table.observe(contact, Instant::now());
                    }
                }
                lock(&inner.pinging).remove(&oldest.id);
            });
        }
    }

    async fn serve(self: Arc<Self>) {
        loop {
            match self.swarm.next_ask().await {
                Ok(ask) => self.handle(ask),
                Err(e) if e.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "kad: the swarm failed, no longer answering");
                    return;
                }
            }
        }
    }

    fn handle(self: &Arc<Self>, ask: Ask<S::Addr>) {
        let src = ask.src().clone();
        let Ok(sender) = self.id_of(&src) else {
            bump(&self.counters.refused);
            ask.reject();
            return;
        };
        let now = Instant::now();
        if let Some(limiter) = &self.limiter
            && !lock(limiter).allow(sender, now)
        {
            bump(&self.counters.limited);
            tracing::debug!(peer = %src, "kad: over its rate limit");
            ask.reject();
            return;
        }
        let request = match Request::decode(ask.payload(), &self.limits) {
            Ok(r) => r,
            Err(e) => {
                bump(&self.counters.refused);
                tracing::debug!(peer = %src, error = %e, "kad: malformed request");
                ask.reject();
                return;
            }
        };
        self.observe(Contact::new(sender, src.clone()));
        let response = match request {
            Request::Ping => Response::Pong,
            Request::FindNode { target } => {
                bump(&self.counters.lookups_served);
                Response::Nodes(self.closest_for(&target, &sender))
            }
            Request::FindValue { key } => {
                bump(&self.counters.lookups_served);
                let held = lock(&self.store).get(&key, now).cloned();
                match held {
                    Some(r) => Response::Value {
                        ttl_secs: secs(r.expires.saturating_duration_since(now)),
                        publisher: r.publisher,
                        value: r.value,
                    },
                    None => Response::Nodes(self.closest_for(&key, &sender)),
                }
            }
            Request::Store {
                key,
                ttl_secs,
                publisher,
                value,
            } => {
                if !self.config.validator.validate(&key, &value, &publisher) {
                    bump(&self.counters.refused);
                    ask.reject();
                    return;
                }
                let ttl = Duration::from_secs(u64::from(ttl_secs)).min(self.config.max_ttl);
                let record = Record::new(value, publisher, now + ttl);
                let stored = lock(&self.store).put(key, record, sender == publisher);
                if stored != Stored::Yes {
                    bump(&self.counters.refused);
                    ask.reject();
                    return;
                }
                Response::Stored
            }
        };
        bump(&self.counters.served);
        ask.respond(response.encode());
    }

    /// The k contacts closest to `target`, leaving out the asker.
    fn closest_for(&self, target: &NodeId, asker: &NodeId) -> Vec<WireContact> {
        lock(&self.table)
            .closest(target, self.config.k + 1)
            .into_iter()
            .filter(|c| c.id != *asker)
            .take(self.config.k)
            .map(|c| WireContact::new(c.id, c.addr.to_string()))
            .collect()
    }

    async fn lookup(self: &Arc<Self>, target: NodeId, mode: Mode) -> Lookup<S::Addr> {
        let span = tracing::debug_span!("kad.lookup", %target, ?mode);
        async {
            let k = self.config.k;
            let seeds = {
                let mut table = lock(&self.table);
                if let Some(i) = self.id.bucket_index(&target) {
                    table.touch(i, Instant::now());
                }
                table.closest(&target, k)
            };
            let d = self.config.disjoint_paths.min(seeds.len()).max(1);
            let mut groups = vec![Vec::new(); d];
            for (i, c) in seeds.into_iter().enumerate() {
                groups[i % d].push(c);
            }
            let claimed = Mutex::new(HashSet::from([self.id]));
            let done = AtomicBool::new(false);
            let results = join_all(
                groups
                    .into_iter()
                    .map(|g| self.path(target, mode, g, &claimed, &done)),
            )
            .await;
            let mut messages = 0;
            let mut found = None;
            let mut answered: BTreeMap<Distance, (Contact<S::Addr>, u32)> = BTreeMap::new();
            for r in results {
                messages += r.messages;
                if found.is_none() {
                    found = r.found;
                }
                for (c, depth) in r.answered {
                    answered.insert(c.id.distance(&target), (c, depth));
                }
            }
            let closest: Vec<(Contact<S::Addr>, u32)> = answered.into_values().take(k).collect();
            let hops = match &found {
                Some((_, depth)) => *depth,
                None => closest.first().map_or(0, |(_, d)| *d),
            };
            tracing::debug!(hops, messages, found = found.is_some(), "kad: lookup done");
            Lookup {
                closest: closest.into_iter().map(|(c, _)| c).collect(),
                value: found.map(|(v, _)| v),
                hops,
                messages,
            }
        }
        .instrument(span)
        .await
    }

    /// One of the disjoint paths of a lookup: asks at most α at a time, the closest first,
    /// until the k closest it knows (and may ask) have all answered or failed.
    async fn path(
        self: &Arc<Self>,
        target: NodeId,
        mode: Mode,
        seeds: Vec<Contact<S::Addr>>,
        claimed: &Mutex<HashSet<NodeId>>,
        done: &AtomicBool,
    ) -> PathResult<S::Addr> {
        let (k, alpha) = (self.config.k, self.config.alpha);
        let request = match mode {
            Mode::Node => Request::FindNode { target },
            Mode::Value => Request::FindValue { key: target },
        };
        let mut short: BTreeMap<Distance, Cand<S::Addr>> = seeds
            .into_iter()
            .map(|c| {
                let cand = Cand {
                    contact: c,
                    depth: 1,
                    state: State::Waiting,
                    introducer: None,
                    retried: None,
                };
                (cand.contact.id.distance(&target), cand)
            })
            .collect();
        let mut inflight = FuturesUnordered::new();
        let mut messages = 0;
        let mut found = None;
        loop {
            if done.load(Ordering::Relaxed) {
                break;
            }
            let mut live = 0;
            let mut to_ask = Vec::new();
            for (dist, cand) in short.iter_mut() {
                if live >= k {
                    break;
                }
                match cand.state {
                    State::Failed | State::Other => {}
                    State::Answered | State::Asked => live += 1,
                    State::Waiting | State::Retry => {
                        live += 1;
                        if inflight.len() + to_ask.len() >= alpha {
                            continue;
                        }
                        if cand.state == State::Waiting && !lock(claimed).insert(cand.contact.id) {
                            cand.state = State::Other;
                            live -= 1;
                            continue;
                        }
                        cand.state = State::Asked;
                        to_ask.push((*dist, cand.contact.clone(), cand.depth, cand.introducer));
                    }
                }
            }
            for (dist, contact, depth, introducer) in to_ask {
                messages += 1;
                let request = &request;
                inflight.push(async move {
                    let r = self.rpc(&contact.addr, Some(contact.id), request).await;
                    (dist, depth, introducer, r)
                });
            }
            let Some((dist, depth, introducer, result)) = inflight.next().await else {
                break;
            };
            let state = match result {
                Ok((from, Response::Nodes(list))) => {
                    for wc in list {
                        if wc.id == self.id || self.is_banned(&wc.id) {
                            continue;
                        }
                        let Ok(addr) = self.swarm.parse_addr(&wc.addr) else {
                            bump(&self.counters.lies);
                            continue;
                        };
                        short
                            .entry(wc.id.distance(&target))
                            .or_insert_with(|| Cand {
                                contact: Contact::new(wc.id, addr),
                                depth: depth + 1,
                                state: State::Waiting,
                                introducer: Some(from),
                                retried: None,
                            });
                    }
                    State::Answered
                }
                Ok((
                    from,
                    Response::Value {
                        ttl_secs,
                        publisher,
                        value,
                    },
                )) => {
                    if self.config.validator.validate(&target, &value, &publisher) {
                        found = Some((
                            FoundValue {
                                value,
                                publisher,
                                ttl: Duration::from_secs(u64::from(ttl_secs)),
                            },
                            depth,
                        ));
                        done.store(true, Ordering::Relaxed);
                        State::Answered
                    } else {
                        bump(&self.counters.lies);
                        self.strike(from, BAN_STRIKES);
                        State::Failed
                    }
                }
                Err(PeerError::Timeout)
                    if short.get(&dist).is_some_and(|c| c.retried.is_none()) =>
                {
                    // Perhaps a lost datagram: one more try.
                    if let Some(c) = short.get_mut(&dist) {
                        c.retried = Some(());
                    }
                    State::Retry
                }
                Err(PeerError::IdMismatch) => {
                    // The address answered with another key: whoever introduced the contact
                    // made it up (or passed on a stale one): a strike against it.
                    if let Some(id) = introducer {
                        self.strike(id, 1);
                    }
                    State::Failed
                }
                Ok(_) | Err(_) => State::Failed,
            };
            if let Some(c) = short.get_mut(&dist) {
                c.state = state;
            }
            if found.is_some() {
                break;
            }
        }
        PathResult {
            answered: short
                .into_values()
                .filter(|c| c.state == State::Answered)
                .map(|c| (c.contact, c.depth))
                .collect(),
            found,
            messages,
        }
    }

    /// Stores a record at the k closest nodes to `key` (this one included when it is one of
    /// them).
    async fn store_at_closest(
        self: &Arc<Self>,
        key: Key,
        value: Bytes,
        publisher: NodeId,
        ttl: Duration,
    ) -> Result<usize, KadError> {
        let lookup = self.lookup(key, Mode::Node).await;
        let k = self.config.k;
        let own = self.id.distance(&key);
        let self_included = lookup.closest.len() < k
            || lookup
                .closest
                .get(k - 1)
                .is_some_and(|c| own < c.id.distance(&key));
        let targets: Vec<&Contact<S::Addr>> = lookup
            .closest
            .iter()
            .take(if self_included { k - 1 } else { k })
            .collect();
        let mut stored = 0;
        if self_included {
            let record = Record::new(value.clone(), publisher, Instant::now() + ttl);
            if lock(&self.store).put(key, record, publisher == self.id) == Stored::Yes {
                stored += 1;
            }
        }
        let request = Request::Store {
            key,
            ttl_secs: secs(ttl),
            publisher,
            value,
        };
        let answers = join_all(
            targets
                .iter()
                .map(|c| self.rpc(&c.addr, Some(c.id), &request)),
        )
        .await;
        stored += answers.iter().filter(|r| r.is_ok()).count();
        tracing::debug!(%key, stored, "kad: stored");
        if stored == 0 {
            return Err(KadError::NotStored);
        }
        Ok(stored)
    }

    async fn refresh(self: &Arc<Self>) -> usize {
        let idle = lock(&self.table).idle_buckets(Instant::now(), self.config.refresh_interval);
        for &index in &idle {
            let target = self.id.random_in_bucket(index, &mut lock(&self.rng));
            self.lookup(target, Mode::Node).await;
        }
        idle.len()
    }

    async fn republish(self: &Arc<Self>) -> usize {
        let own: Vec<(Key, (Bytes, Duration))> = lock(&self.published)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut ok = 0;
        for (key, (value, ttl)) in own {
            if self
                .store_at_closest(key, value, self.id, ttl)
                .await
                .is_ok()
            {
                ok += 1;
            }
        }
        ok
    }

    async fn replicate(self: &Arc<Self>) -> usize {
        let now = Instant::now();
        let held = lock(&self.store).live(now);
        let mut ok = 0;
        for (key, record) in held {
            let ttl = record.expires.saturating_duration_since(now);
            if self
                .store_at_closest(key, record.value, record.publisher, ttl)
                .await
                .is_ok()
            {
                ok += 1;
            }
        }
        ok
    }

    async fn maintain(self: Arc<Self>) {
        let c = &self.config;
        let start = Instant::now();
        let every = |p: Duration| {
            let mut i = tokio::time::interval_at(start + p, p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        };
        let expiry = Duration::from_secs(60).min(c.max_ttl.max(Duration::from_secs(1)));
        let (mut refresh, mut republish, mut replicate, mut expire) = (
            every(c.refresh_interval),
            every(c.republish_interval),
            every(c.replicate_interval),
            every(expiry),
        );
        loop {
            tokio::select! {
                _ = refresh.tick() => { self.refresh().await; }
                _ = republish.tick() => { self.republish().await; }
                _ = replicate.tick() => { self.replicate().await; }
                _ = expire.tick() => {
                    let gone = lock(&self.store).expire(Instant::now());
                    if gone > 0 {
                        tracing::debug!(gone, "kad: records expired");
                    }
                }
            }
        }
    }
}
