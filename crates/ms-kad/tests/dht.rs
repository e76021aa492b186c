//! The DHT over the in-memory swarm: lookups against brute force, put/get, expiry,
//! republishing and replication after holders leave, lying and oversized answers, rate limits.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ms_kad::wire::{Limits, Request, Response, WireContact};
use ms_kad::{Config, ContentAddressed, Kad, KadError, NodeId, RateLimit};
use ms_swarm::mem::{MemAddr, MemSwarm, Realm};
use ms_swarm::{AskSwarm, SecureSwarm, SeedRng, Swarm, SwarmError};
use ms_testkit::topology::Adjacency;

type Node = Kad<MemSwarm>;

fn id_of(swarm: &MemSwarm) -> NodeId {
    NodeId::from_public_key(swarm.public_key().as_bytes())
}

/// `n` nodes; node `i` joins through its lower-numbered neighbours on a ring (node 0 starts
/// alone), then every node refreshes once more so early joiners learn of later ones.
async fn network(realm: &Realm, n: usize, config: &Config) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n)
        .map(|_| Kad::new(realm.swarm(), config.clone()).unwrap())
        .collect();
    let ring = Adjacency::ring(n);
    for i in 1..n {
        let seeds: Vec<MemAddr> = ring
            .neighbours(i)
            .filter(|&j| j < i)
            .map(|j| nodes[j].swarm().addr())
            .collect();
        nodes[i].bootstrap(&seeds).await.unwrap();
    }
    for node in &nodes {
        node.find_node(node.id()).await;
    }
    nodes
}

fn brute_force_closest(ids: &[NodeId], target: &NodeId, k: usize) -> Vec<NodeId> {
    let mut ids = ids.to_vec();
    ids.sort_by_key(|id| id.distance(target));
    ids.truncate(k);
    ids
}

async fn leave(node: &Node) {
    node.shutdown();
    node.swarm().close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn lookups_converge_on_the_true_k_closest() {
    let realm = Realm::builder().seed(1).build();
    let config = Config::default().with_k(8);
    let nodes = network(&realm, 120, &config).await;
    let mut rng = SeedRng::new(5);
    for round in 0..20u64 {
        let asker = &nodes[rng.below(nodes.len() as u64) as usize];
        let target = NodeId::hash(&round.to_be_bytes());
        let others: Vec<NodeId> = nodes
            .iter()
            .map(|n| n.id())
            .filter(|id| *id != asker.id())
            .collect();
        let lookup = asker.find_node(target).await;
        let got: Vec<NodeId> = lookup.closest.iter().map(|c| c.id).collect();
        assert_eq!(
            got,
            brute_force_closest(&others, &target, 8),
            "round {round}"
        );
        assert!(lookup.hops >= 1 && lookup.messages >= 8);
    }
}

#[tokio::test(start_paused = true)]
async fn put_then_get_from_every_node() {
    let realm = Realm::builder().seed(2).build();
    let nodes = network(&realm, 40, &Config::default().with_k(5)).await;
    let key = NodeId::hash(b"song");
    let stored = nodes[7]
        .put(key, Bytes::from_static(b"la la"))
        .await
        .unwrap();
    assert_eq!(stored, 5);
    assert_eq!(nodes.iter().filter(|n| n.holds(&key)).count(), 5);
    for node in &nodes {
        assert_eq!(node.get(key).await, Some(Bytes::from_static(b"la la")));
    }
    assert_eq!(nodes[3].get(NodeId::hash(b"absent")).await, None);
    // Values over the limit are refused before anything is sent.
    let big = Bytes::from(vec![0u8; 1025]);
    assert!(matches!(
        nodes[0].put(key, big).await,
        Err(KadError::ValueTooLarge {
            len: 1025,
            max: 1024
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn values_expire() {
    let realm = Realm::builder().seed(3).build();
    let nodes = network(&realm, 30, &Config::default().with_k(4)).await;
    let key = NodeId::hash(b"short-lived");
    nodes[0]
        .put_ttl(
            key,
            Bytes::from_static(b"soon gone"),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    nodes[0].forget(&key);
    tokio::time::sleep(Duration::from_secs(599)).await;
    assert!(nodes[9].get(key).await.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    for node in &nodes {
        assert_eq!(node.get(key).await, None);
    }
    // The background expiry (every minute) drops them; an explicit one finds nothing left.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        nodes
            .iter()
            .all(|n| n.records_len() == 0 && n.expire() == 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_publisher_republishes_after_the_holders_leave() {
    let realm = Realm::builder().seed(4).build();
    let day = Duration::from_secs(24 * 3600);
    let config = Config::default()
        .with_k(4)
        .with_intervals(Duration::from_secs(600), day, day);
    let nodes = network(&realm, 40, &config).await;
    let key = NodeId::hash(b"kept alive");
    let publisher = nodes
        .iter()
        .position(|n| !n.holds(&key) && n.id().distance(&key).leading_zeros() == 0)
        .unwrap();
    nodes[publisher]
        .put(key, Bytes::from_static(b"v"))
        .await
        .unwrap();
    let holders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].holds(&key)).collect();
    assert_eq!(holders.len(), 4);
    assert!(!holders.contains(&publisher));
    for &h in &holders {
        leave(&nodes[h]).await;
    }
    let reader = (0..nodes.len())
        .find(|i| *i != publisher && !holders.contains(i))
        .unwrap();
    assert_eq!(
        nodes[reader].get(key).await,
        None,
        "nobody holds it any more"
    );
    // The republish timer (every 10 min here) fires and stores it at the new k closest.
    tokio::time::sleep(Duration::from_secs(601)).await;
    assert_eq!(nodes[reader].get(key).await, Some(Bytes::from_static(b"v")));
    let alive: Vec<NodeId> = (0..nodes.len())
        .filter(|i| !holders.contains(i))
        .map(|i| nodes[i].id())
        .collect();
    for id in brute_force_closest(&alive, &key, 4) {
        let node = nodes.iter().find(|n| n.id() == id).unwrap();
        assert!(node.holds(&key), "{id} is one of the new k closest");
    }
}

#[tokio::test(start_paused = true)]
async fn holders_replicate_when_the_publisher_is_gone() {
    let realm = Realm::builder().seed(6).build();
    let config = Config::default().with_k(4).with_maintenance(false);
    let nodes = network(&realm, 40, &config).await;
    let key = NodeId::hash(b"orphan");
    let publisher = nodes.iter().position(|n| !n.holds(&key)).unwrap();
    nodes[publisher]
        .put(key, Bytes::from_static(b"o"))
        .await
        .unwrap();
    leave(&nodes[publisher]).await;
    let holders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].holds(&key)).collect();
    let (gone, kept) = holders.split_at(2);
    for &h in gone {
        leave(&nodes[h]).await;
    }
    let alive: Vec<usize> = (0..nodes.len())
        .filter(|i| *i != publisher && !gone.contains(i))
        .collect();
    let ids: Vec<NodeId> = alive.iter().map(|&i| nodes[i].id()).collect();
    let closest = brute_force_closest(&ids, &key, 4);
    let holding = |nodes: &[Node]| {
        closest
            .iter()
            .filter(|id| nodes.iter().any(|n| n.id() == **id && n.holds(&key)))
            .count()
    };
    assert_eq!(holding(&nodes), 2, "only the two remaining holders");
    for &h in kept {
        assert_eq!(nodes[h].replicate().await, 1);
    }
    assert_eq!(holding(&nodes), 4, "the new k closest all hold it");
}

/// A node that answers every lookup with fabricated contacts: ids next to the target at
/// addresses of real nodes (whose keys do not match), at addresses nobody has, and far-away
/// ones (`count` of them: more than k is an oversized answer).
fn spawn_liar(swarm: Arc<MemSwarm>, victims: Vec<MemAddr>, count: usize) {
    tokio::spawn(async move {
        let limits = Limits::new(255, 65_535);
        let mut n = 0u64;
        while let Ok(ask) = swarm.next_ask().await {
            let answer = match Request::decode(ask.payload(), &limits) {
                Ok(Request::Ping) => Response::Pong,
                Ok(Request::FindNode { target } | Request::FindValue { key: target }) => {
                    let contacts = (0..count)
                        .map(|i| {
                            n += 1;
                            let mut id = *target.as_bytes();
                            id[31] ^= (i as u8) + 1; // "closer than anyone"
                            if i % 3 == 2 {
                                id[0] ^= 0x80; // far away
                            }
                            let addr = if i % 2 == 0 {
                                victims[(n as usize) % victims.len()].to_string()
                            } else {
                                format!("{}", 1_000_000 + n) // nobody
                            };
                            WireContact::new(NodeId::from_bytes(id), addr)
                        })
                        .collect();
                    Response::Nodes(contacts)
                }
                Ok(Request::Store { .. }) => Response::Stored,
                _ => {
                    ask.reject();
                    continue;
                }
            };
            ask.respond(answer.encode());
        }
    });
}

#[tokio::test(start_paused = true)]
async fn liars_with_fabricated_contacts_do_not_break_lookups() {
    let realm = Realm::builder().seed(7).build();
    let config = Config::default().with_k(8);
    let honest = network(&realm, 60, &config).await;
    let honest_addrs: Vec<MemAddr> = honest.iter().map(|n| n.swarm().addr()).collect();
    let ids: Vec<NodeId> = honest.iter().map(|n| n.id()).collect();
    // 15 liars (20 %) contact every honest node, so they sit in routing tables wherever a
    // bucket has room, and answer every lookup with k fabricated contacts.
    let liars: Vec<Arc<MemSwarm>> = (0..15).map(|_| Arc::new(realm.swarm())).collect();
    for liar in &liars {
        spawn_liar(liar.clone(), honest_addrs.clone(), 8);
        for addr in &honest_addrs {
            liar.ask(addr, Request::Ping.encode()).await.unwrap();
        }
    }
    let liar_ids: Vec<NodeId> = liars.iter().map(|l| id_of(l)).collect();
    let in_tables: usize = honest
        .iter()
        .map(|n| liar_ids.iter().filter(|id| n.table().contains(id)).count())
        .sum();
    assert!(in_tables > 100, "liars are in the tables: {in_tables}");
    let key = NodeId::hash(b"through the liars");
    honest[0]
        .put(key, Bytes::from_static(b"truth"))
        .await
        .unwrap();
    for round in 0..20u64 {
        let asker = &honest[(round as usize * 7) % honest.len()];
        let target = NodeId::hash(&round.to_be_bytes());
        let lookup = asker.find_node(target).await;
        let got: Vec<NodeId> = lookup
            .closest
            .iter()
            .map(|c| c.id)
            .filter(|id| !liar_ids.contains(id))
            .collect();
        // Every honest node among the true k closest of all nodes (liars are nodes too) is
        // found, in order.
        let everyone: Vec<NodeId> = ids
            .iter()
            .chain(&liar_ids)
            .copied()
            .filter(|id| *id != asker.id())
            .collect();
        let expected: Vec<NodeId> = brute_force_closest(&everyone, &target, 8)
            .into_iter()
            .filter(|id| ids.contains(id))
            .collect();
        assert_eq!(got[..expected.len()], expected, "round {round}");
        // No fabricated id made it into a result.
        assert!(
            lookup
                .closest
                .iter()
                .all(|c| ids.contains(&c.id) || liar_ids.contains(&c.id))
        );
        assert_eq!(asker.get(key).await, Some(Bytes::from_static(b"truth")));
    }
    // Nor into a routing table; and the liars were caught.
    for node in &honest {
        let table = node.table();
        for b in 0..256 {
            for c in table.bucket(b) {
                assert!(ids.contains(&c.id) || liar_ids.contains(&c.id));
            }
        }
    }
    assert!(honest.iter().map(|n| n.stats().lies).sum::<u64>() > 0);
}

#[tokio::test(start_paused = true)]
async fn oversized_answers_are_rejected_and_the_liar_dropped() {
    let realm = Realm::builder().seed(8).build();
    let config = Config::default().with_k(8);
    let liar = Arc::new(realm.swarm());
    let nodes: Vec<Node> = (0..20)
        .map(|_| Kad::new(realm.swarm(), config.clone()).unwrap())
        .collect();
    let addrs: Vec<MemAddr> = nodes.iter().map(|n| n.swarm().addr()).collect();
    spawn_liar(liar.clone(), addrs.clone(), 40);
    for i in 1..nodes.len() {
        nodes[i].bootstrap(&[addrs[i - 1]]).await.unwrap();
    }
    let liar_id = id_of(&liar);
    // A node with room in the liar's bucket (a full bucket keeps its old contacts).
    let node = nodes
        .iter()
        .find(|n| {
            let index = n.id().bucket_index(&liar_id).unwrap();
            n.table().bucket(index).len() < 8
        })
        .unwrap();
    // The liar answers pings, so it enters the table...
    liar.ask(&node.swarm().addr(), Request::Ping.encode())
        .await
        .unwrap();
    assert!(node.table().contains(&liar_id));
    // ...then a lookup asks it, and its 40-contact answer is refused: it is dropped and banned,
    // none of its contacts used.
    let lies = node.stats().lies;
    let lookup = node.find_node(liar_id).await;
    assert_eq!(node.stats().lies, lies + 1);
    assert!(!node.table().contains(&liar_id));
    assert!(lookup.closest.iter().all(|c| c.id != liar_id));
    let others: Vec<NodeId> = nodes
        .iter()
        .map(|n| n.id())
        .filter(|id| *id != node.id())
        .collect();
    let got: Vec<NodeId> = lookup.closest.iter().map(|c| c.id).collect();
    assert_eq!(got, brute_force_closest(&others, &liar_id, 8));
    // Its pings no longer bring it back into the table, so it is not asked again.
    liar.ask(&node.swarm().addr(), Request::Ping.encode())
        .await
        .unwrap();
    assert!(!node.table().contains(&liar_id));
    node.find_node(liar_id).await;
    assert_eq!(node.stats().lies, lies + 1);
}

#[tokio::test(start_paused = true)]
async fn requests_over_the_rate_limit_are_refused() {
    let realm = Realm::new();
    let config = Config::default().with_rate_limit(Some(RateLimit::new(2.0, 5.0)));
    let node = Kad::new(realm.swarm(), config).unwrap();
    let peer = realm.swarm();
    let ping = Request::Ping.encode();
    for _ in 0..5 {
        peer.ask(&node.swarm().addr(), ping.clone()).await.unwrap();
    }
    assert!(matches!(
        peer.ask(&node.swarm().addr(), ping.clone()).await,
        Err(SwarmError::Rejected)
    ));
    assert_eq!(node.stats().rate_limited, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    peer.ask(&node.swarm().addr(), ping.clone()).await.unwrap();
    // Another peer has its own budget.
    realm.swarm().ask(&node.swarm().addr(), ping).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn malformed_requests_are_refused_and_serving_goes_on() {
    let realm = Realm::new();
    let node = Kad::new(realm.swarm(), Config::default()).unwrap();
    let peer = realm.swarm();
    let dst = node.swarm().addr();
    for garbage in [&b""[..], b"\x01", b"\x02\x00", b"\x01\x07", b"\x01\x00\x00"] {
        let answer = peer.ask(&dst, Bytes::copy_from_slice(garbage)).await;
        assert!(matches!(answer, Err(SwarmError::Rejected)), "{garbage:?}");
    }
    let pong = peer.ask(&dst, Request::Ping.encode()).await.unwrap();
    assert_eq!(
        Response::decode(&pong, &Limits::new(20, 1024)),
        Ok(Response::Pong)
    );
    assert_eq!(node.stats().requests_refused, 5);
}

#[tokio::test(start_paused = true)]
async fn content_addressed_values_cannot_be_forged() {
    let realm = Realm::builder().seed(9).build();
    let config = Config::default()
        .with_k(4)
        .with_validator(Arc::new(ContentAddressed));
    let nodes = network(&realm, 20, &config).await;
    let value = Bytes::from_static(b"self-certifying");
    let key = NodeId::hash(&value);
    assert!(matches!(
        nodes[0].put(key, Bytes::from_static(b"forged")).await,
        Err(KadError::InvalidValue)
    ));
    // A store of a forged value sent by hand is refused by the holder.
    let forged = Request::Store {
        key,
        ttl_secs: 60,
        publisher: nodes[1].id(),
        value: Bytes::from_static(b"forged"),
    };
    let answer = nodes[1]
        .swarm()
        .ask(&nodes[2].swarm().addr(), forged.encode())
        .await;
    assert!(matches!(answer, Err(SwarmError::Rejected)));
    nodes[0].put(key, value.clone()).await.unwrap();
    assert_eq!(nodes[11].get(key).await, Some(value));
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let realm = Realm::new();
    for config in [
        Config::default().with_k(0),
        Config::default().with_k(256),
        Config::default().with_alpha(0),
        Config::default().with_max_value(70_000),
        Config::default().with_request_timeout(Duration::ZERO),
    ] {
        assert!(matches!(
            Kad::new(realm.swarm(), config),
            Err(KadError::Config(_))
        ));
    }
    let unreachable = realm.swarm().addr();
    let node = Kad::new(realm.swarm(), Config::default()).unwrap();
    drop(realm);
    // Bootstrapping through nodes that are all gone is an error, not a hang.
    assert!(matches!(
        node.bootstrap(&[unreachable]).await,
        Err(KadError::BootstrapFailed(1))
    ));
}

#[tokio::test(start_paused = true)]
async fn disjoint_paths_never_ask_a_node_twice_and_still_converge() {
    let realm = Realm::builder().seed(10).build();
    let config = Config::default().with_k(8).with_disjoint_paths(3);
    let nodes = network(&realm, 80, &config).await;
    for round in 0..10u64 {
        let asker = &nodes[(round as usize * 13) % nodes.len()];
        let before: Vec<u64> = nodes.iter().map(|n| n.stats().lookups_served).collect();
        let target = NodeId::hash(&round.to_le_bytes());
        let lookup = asker.find_node(target).await;
        let asked: Vec<u64> = nodes
            .iter()
            .zip(&before)
            .map(|(n, b)| n.stats().lookups_served - b)
            .collect();
        assert!(asked.iter().all(|&a| a <= 1), "round {round}: {asked:?}");
        assert_eq!(asked.iter().sum::<u64>(), u64::from(lookup.messages));
        let others: Vec<NodeId> = nodes
            .iter()
            .map(|n| n.id())
            .filter(|id| *id != asker.id())
            .collect();
        let got: Vec<NodeId> = lookup.closest.iter().map(|c| c.id).collect();
        assert_eq!(
            got,
            brute_force_closest(&others, &target, 8),
            "round {round}"
        );
    }
}

/// A mem node whose first `FindNode` request to each peer is lost (never answered).
struct LosesFirstLookup {
    inner: MemSwarm,
    seen: std::sync::Mutex<std::collections::HashSet<MemAddr>>,
}

#[async_trait::async_trait]
impl Swarm for LosesFirstLookup {
    type Addr = MemAddr;
    async fn tell(&self, dst: &MemAddr, payload: Bytes) -> Result<(), SwarmError> {
        self.inner.tell(dst, payload).await
    }
    async fn receive(&self) -> Result<ms_swarm::Message<MemAddr>, SwarmError> {
        self.inner.receive().await
    }
    fn local_addrs(&self) -> Vec<MemAddr> {
        self.inner.local_addrs()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn parse_addr(&self, text: &str) -> Result<MemAddr, ms_swarm::ParseAddrError> {
        self.inner.parse_addr(text)
    }
    async fn close(&self) -> Result<(), SwarmError> {
        self.inner.close().await
    }
}

#[async_trait::async_trait]
impl AskSwarm for LosesFirstLookup {
    async fn ask(&self, dst: &MemAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        if request.get(1) == Some(&1) && self.seen.lock().unwrap().insert(*dst) {
            std::future::pending::<()>().await;
        }
        self.inner.ask(dst, request).await
    }
    async fn next_ask(&self) -> Result<ms_swarm::Ask<MemAddr>, SwarmError> {
        self.inner.next_ask().await
    }
}

impl SecureSwarm for LosesFirstLookup {
    type PublicKey = ms_swarm::mem::MemKey;
    fn public_key(&self) -> Self::PublicKey {
        self.inner.public_key()
    }
    fn lookup_public_key(&self, addr: &MemAddr) -> Result<Self::PublicKey, SwarmError> {
        self.inner.lookup_public_key(addr)
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_request_is_retried_once() {
    let realm = Realm::builder().seed(11).build();
    let config = Config::default()
        .with_k(8)
        .with_request_timeout(Duration::from_secs(1));
    let nodes = network(&realm, 40, &config).await;
    let swarm = LosesFirstLookup {
        inner: realm.swarm(),
        seen: Default::default(),
    };
    let node = Kad::new(swarm, config).unwrap();
    node.bootstrap(&[nodes[0].swarm().addr()]).await.unwrap();
    let target = NodeId::hash(b"anything");
    let lookup = node.find_node(target).await;
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id()).collect();
    let got: Vec<NodeId> = lookup.closest.iter().map(|c| c.id).collect();
    assert_eq!(got, brute_force_closest(&ids, &target, 8));
    let stats = node.stats();
    assert!(stats.requests_failed >= 8, "{stats:?}");
    assert_eq!(stats.lies, 0);
}

/// A bare node that answers pings, and nothing else.
fn spawn_ponger(swarm: Arc<MemSwarm>) {
    tokio::spawn(async move {
        while let Ok(ask) = swarm.next_ask().await {
            ask.respond(Response::Pong.encode());
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_full_bucket_keeps_its_live_oldest_and_replaces_a_dead_one() {
    let realm = Realm::new();
    let node = Kad::new(realm.swarm(), Config::default().with_k(2)).unwrap();
    // Five peers in the far half of the node's id space (bucket 255).
    let mut far = Vec::new();
    while far.len() < 5 {
        let swarm = Arc::new(realm.swarm());
        if node.id().bucket_index(&id_of(&swarm)) == Some(255) {
            spawn_ponger(swarm.clone());
            far.push(swarm);
        }
    }
    let hello = |s: &Arc<MemSwarm>| {
        let (s, dst) = (s.clone(), node.swarm().addr());
        async move { s.ask(&dst, Request::Ping.encode()).await.unwrap() }
    };
    hello(&far[0]).await;
    hello(&far[1]).await;
    // Full: the oldest (0) answers its ping, so it stays and the newcomer (2) is dropped.
    hello(&far[2]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let table = node.table();
    let ids =
        |t: &ms_kad::RoutingTable<MemAddr>| t.bucket(255).iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(&table), [id_of(&far[1]), id_of(&far[0])]);
    // The oldest (now 1) is gone: the next newcomer (3) takes its place.
    far[1].close().await.unwrap();
    hello(&far[3]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ids(&node.table()), [id_of(&far[0]), id_of(&far[3])]);
}

#[tokio::test(start_paused = true)]
async fn idle_buckets_are_refreshed_on_their_timer() {
    let realm = Realm::builder().seed(12).build();
    let nodes = network(&realm, 30, &Config::default().with_k(4)).await;
    let node = &nodes[3];
    // Just used: nothing is idle.
    assert_eq!(node.refresh().await, 0);
    let sent = node.stats().requests_sent;
    // An hour without lookups: the maintenance timer refreshes every used bucket.
    tokio::time::sleep(Duration::from_secs(3600 + 30)).await;
    assert!(node.stats().requests_sent > sent);
    assert_eq!(
        node.refresh().await,
        0,
        "refreshed buckets are not idle any more"
    );
}
