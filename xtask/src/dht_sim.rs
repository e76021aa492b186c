//! `cargo xtask dht-sim`: the Kademlia DHT of ms-kad simulated at scale in one process over the
//! in-memory swarm, with latency and loss switched on, on tokio's paused clock (see
//! docs/dht.md and docs/performance.md, "DHT simulation").
//!
//! For each network size N: N nodes join one after another through a p2ptest-style topology
//! (ms-testkit's seeded random graph plus a ring, so it is connected); then random lookups
//! (hops against log2 N, messages, whether the true closest node was found), puts, lookups
//! while 20 % of the nodes leave, gets after that churn (before and after one replication
//! round), memory per node, and lookups per second for one node.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use ms_kad::{Config, Kad, NodeId};
use ms_swarm::mem::{Faults, MemAddr, MemKey, MemSwarm, Realm};
use ms_swarm::{Ask, AskSwarm, Message, ParseAddrError, SecureSwarm, SeedRng, Swarm, SwarmError};
use ms_testkit::topology::Adjacency;

const USAGE: &str = "\
usage: cargo xtask dht-sim [--nodes N[,N...]] [--seed S] [--paths D] [--quick] [--debug] [--out DIR]

Simulates the ms-kad DHT in one process over the in-memory swarm (10 ms +- 5 ms latency per
message; 5 % of requests and 5 % of answers lost, each ending in the 5 s request timeout) on
tokio's paused clock.
Default sizes 100 and 1000 (--quick: 100 only, fewer lookups). Writes <out>/summary.md and
<out>/plot.svg (default target/dht-sim). --paths: disjoint lookup paths (default 2). Runs a
release build of xtask (building it first, as `cargo xtask bench` does) unless --debug.
";

/// What one run measures.
#[derive(Clone, Debug)]
pub struct SimResult {
    pub nodes: usize,
    pub join_secs: f64,
    pub table_mean: f64,
    pub hops_mean: f64,
    pub hops_max: u32,
    pub messages_mean: f64,
    pub lookup_success: f64,
    pub churn_success: f64,
    pub get_before_churn: f64,
    pub get_after_churn: f64,
    pub get_after_replication: f64,
    pub bytes_per_node: Option<u64>,
    pub lookups_per_sec: f64,
    pub virtual_ms_per_lookup: f64,
}

/// Knobs of one run.
#[derive(Clone, Copy, Debug)]
pub struct SimParams {
    pub nodes: usize,
    pub seed: u64,
    pub lookups: usize,
    pub values: usize,
    pub rate_lookups: usize,
    /// Disjoint lookup paths (d).
    pub paths: usize,
}

impl SimParams {
    pub fn new(nodes: usize, seed: u64, quick: bool) -> Self {
        Self {
            nodes,
            seed,
            lookups: if quick { 50 } else { 200 },
            values: if quick { 20 } else { 50 },
            rate_lookups: if quick { 50 } else { 200 },
            paths: Config::default().disjoint_paths,
        }
    }
}

/// Loss of requests and of answers, each with probability `LOSS`.
const LOSS: f64 = 0.05;

/// A mem node whose asks are lost like datagrams: the request, or the answer, with
/// probability [`LOSS`] each, drawn from a seeded generator per node. A lost ask never
/// completes; the DHT's request timeout ends it. (The mem swarm itself loses tells only.)
#[derive(Debug)]
pub struct Lossy {
    inner: MemSwarm,
    rng: std::sync::Mutex<SeedRng>,
}

impl Lossy {
    fn new(inner: MemSwarm, seed: u64) -> Self {
        let rng = SeedRng::derive(seed ^ 0x6c6f_7373, inner.addr().get());
        Self {
            inner,
            rng: std::sync::Mutex::new(rng),
        }
    }

    fn lost(&self) -> bool {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .chance(LOSS)
    }

    fn addr(&self) -> MemAddr {
        self.inner.addr()
    }
}

#[async_trait::async_trait]
impl Swarm for Lossy {
    type Addr = MemAddr;
    async fn tell(&self, dst: &MemAddr, payload: Bytes) -> Result<(), SwarmError> {
        self.inner.tell(dst, payload).await
    }
    async fn receive(&self) -> Result<Message<MemAddr>, SwarmError> {
        self.inner.receive().await
    }
    fn local_addrs(&self) -> Vec<MemAddr> {
        self.inner.local_addrs()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn parse_addr(&self, text: &str) -> Result<MemAddr, ParseAddrError> {
        self.inner.parse_addr(text)
    }
    async fn close(&self) -> Result<(), SwarmError> {
        self.inner.close().await
    }
}

#[async_trait::async_trait]
impl AskSwarm for Lossy {
    async fn ask(&self, dst: &MemAddr, request: Bytes) -> Result<Bytes, SwarmError> {
        if self.lost() {
            std::future::pending::<()>().await;
        }
        let answer = self.inner.ask(dst, request).await;
        if self.lost() {
            std::future::pending::<()>().await;
        }
        answer
    }
    async fn next_ask(&self) -> Result<Ask<MemAddr>, SwarmError> {
        self.inner.next_ask().await
    }
}

impl SecureSwarm for Lossy {
    type PublicKey = MemKey;
    fn public_key(&self) -> MemKey {
        self.inner.public_key()
    }
    fn lookup_public_key(&self, addr: &MemAddr) -> Result<MemKey, SwarmError> {
        self.inner.lookup_public_key(addr)
    }
}

type Node = Kad<Lossy>;

fn progress(label: &str, done: usize, total: usize) {
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{label} {done}/{total}");
    let _ = err.flush();
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn closest_alive(ids: &[(NodeId, bool)], exclude: NodeId, target: &NodeId) -> Option<NodeId> {
    ids.iter()
        .filter(|(id, alive)| *alive && *id != exclude)
        .map(|(id, _)| *id)
        .min_by_key(|id| id.distance(target))
}

/// The bootstrap graph: ms-testkit's seeded random graph (mean degree 4) with a ring added
/// so it is connected; a plain ring beyond 20,000 nodes (the matrix is N^2 bytes).
fn neighbours(n: usize, seed: u64) -> Vec<Vec<usize>> {
    if n > 20_000 {
        return (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
    }
    let mut graph = Adjacency::random(n, 4.0 / n as f64, seed);
    for i in 0..n {
        graph.link(i, (i + 1) % n);
    }
    (0..n)
        .map(|i| graph.neighbours(i).filter(|&j| j < i).collect())
        .collect()
}

/// The share of `keys` a random live node gets (all gets at once).
async fn get_rate(
    nodes: &[Node],
    ids: &[(NodeId, bool)],
    keys: &[NodeId],
    rng: &mut SeedRng,
) -> f64 {
    let n = nodes.len() as u64;
    let gets = keys.iter().map(|key| {
        let reader = loop {
            let r = rng.below(n) as usize;
            if ids[r].1 {
                break r;
            }
        };
        let node = nodes[reader].clone();
        async move { node.get(*key).await.is_some() }
    });
    let gets: Vec<_> = gets.collect();
    let ok = join_all(gets).await.into_iter().filter(|ok| *ok).count();
    ok as f64 / keys.len().max(1) as f64
}

/// One simulated network of `p.nodes` nodes.
pub async fn run(p: SimParams, show: bool) -> SimResult {
    let n = p.nodes;
    let label = |s: &str| format!("N={n}: {s}");
    let rss_before = rss_bytes();
    let realm = Realm::builder()
        .seed(p.seed)
        .faults(Faults::none().with_latency(Duration::from_millis(10), Duration::from_millis(5)))
        .build();
    // Maintenance is driven by the simulation; no per-peer rate limit (one node runs hundreds
    // of lookups in no virtual time for the throughput figure).
    let config = Config::default()
        .with_maintenance(false)
        .with_rate_limit(None)
        .with_disjoint_paths(p.paths);
    let nodes: Vec<Node> = (0..n)
        .filter_map(|_| Kad::new(Lossy::new(realm.swarm(), p.seed), config.clone()).ok())
        .collect();
    let addrs: Vec<MemAddr> = nodes.iter().map(|k| k.swarm().addr()).collect();
    let graph = neighbours(n, p.seed);
    let wall = Instant::now();
    for (i, node) in nodes.iter().enumerate() {
        let seeds: Vec<MemAddr> = graph[i].iter().map(|&j| addrs[j]).collect();
        if !seeds.is_empty() {
            let _ = node.bootstrap(&seeds).await;
        }
        if show && (i % 10 == 0 || i + 1 == n) {
            progress(&label("joining"), i + 1, n);
        }
    }
    let join_secs = wall.elapsed().as_secs_f64();
    let bytes_per_node = match (rss_before, rss_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) / n as u64),
        _ => None,
    };
    let table_mean = nodes.iter().map(|k| k.table_len()).sum::<usize>() as f64 / n as f64;
    let mut rng = SeedRng::derive(p.seed, 1);
    let mut ids: Vec<(NodeId, bool)> = nodes.iter().map(|k| (k.id(), true)).collect();

    // Lookups in the stable network.
    let mut hops = Vec::new();
    let mut messages = Vec::new();
    let mut found = 0;
    for i in 0..p.lookups {
        let asker = &nodes[rng.below(n as u64) as usize];
        let target = NodeId::hash(&rng.next_u64().to_be_bytes());
        let lookup = asker.find_node(target).await;
        hops.push(lookup.hops);
        messages.push(lookup.messages);
        if lookup.closest.first().map(|c| c.id) == closest_alive(&ids, asker.id(), &target) {
            found += 1;
        }
        if show && i % 10 == 0 {
            progress(&label("lookups"), i + 1, p.lookups);
        }
    }

    // Values, then churn: 20 % of the nodes leave while lookups run.
    let keys: Vec<NodeId> = (0..p.values)
        .map(|i| NodeId::hash(format!("value {i}").as_bytes()))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let publisher = &nodes[rng.below(n as u64) as usize];
        let _ = publisher.put(*key, Bytes::from(format!("v{i}"))).await;
        if show {
            progress(&label("puts"), i + 1, p.values);
        }
    }
    let get_before_churn = get_rate(&nodes, &ids, &keys, &mut rng).await;
    if show {
        progress(&label("churn"), 0, 1);
    }
    let mut leaving: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut leaving);
    leaving.truncate(n / 5);
    let mut stays = vec![true; n];
    for &i in &leaving {
        stays[i] = false;
    }
    let churn_lookups: Vec<(usize, NodeId)> = (0..p.lookups)
        .map(|_| {
            let asker = loop {
                let r = rng.below(n as u64) as usize;
                if stays[r] {
                    break r;
                }
            };
            (asker, NodeId::hash(&rng.next_u64().to_be_bytes()))
        })
        .collect();
    // Lookups start every 2 ms of virtual time; the leavers go one by one over the same
    // window. A lookup succeeds when the closest node it returns is the closest of the nodes
    // still there when it ends.
    let window = Duration::from_millis(2 * p.lookups as u64);
    let step = window / u32::try_from(leaving.len().max(1)).unwrap_or(u32::MAX);
    let alive = std::cell::RefCell::new(ids.clone());
    let leave = async {
        for &i in &leaving {
            tokio::time::sleep(step).await;
            alive.borrow_mut()[i].1 = false;
            nodes[i].shutdown();
            let _ = nodes[i].swarm().close().await;
        }
    };
    let lookups = churn_lookups
        .iter()
        .enumerate()
        .map(|(i, (asker, target))| {
            let node = &nodes[*asker];
            let alive = &alive;
            async move {
                tokio::time::sleep(Duration::from_millis(2 * i as u64)).await;
                let lookup = node.find_node(*target).await;
                let truth = closest_alive(&alive.borrow(), node.id(), target);
                lookup.closest.first().map(|c| c.id) == truth
            }
        });
    let (_, results) = tokio::join!(leave, join_all(lookups));
    let churn_found = results.iter().filter(|ok| **ok).count();
    for &i in &leaving {
        ids[i].1 = false;
    }
    let get_after_churn = get_rate(&nodes, &ids, &keys, &mut rng).await;
    if show {
        progress(&label("replication"), 0, 1);
    }
    for (i, node) in nodes.iter().enumerate() {
        if ids[i].1 {
            node.replicate().await;
        }
    }
    let get_after_replication = get_rate(&nodes, &ids, &keys, &mut rng).await;

    // Throughput: one node, lookups one after another (CPU-bound: the clock is paused).
    let one = nodes
        .iter()
        .enumerate()
        .find(|(i, _)| ids[*i].1)
        .map(|(_, k)| k.clone());
    let (mut lookups_per_sec, mut virtual_ms_per_lookup) = (0.0, 0.0);
    if let Some(node) = one {
        let wall = Instant::now();
        let virt = tokio::time::Instant::now();
        for i in 0..p.rate_lookups {
            node.find_node(NodeId::hash(&(i as u64 ^ p.seed).to_be_bytes()))
                .await;
        }
        lookups_per_sec = p.rate_lookups as f64 / wall.elapsed().as_secs_f64().max(1e-9);
        virtual_ms_per_lookup =
            virt.elapsed().as_secs_f64() * 1000.0 / p.rate_lookups.max(1) as f64;
    }
    if show {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    for node in &nodes {
        node.shutdown();
    }
    let mean = |v: &[u32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
    SimResult {
        nodes: n,
        join_secs,
        table_mean,
        hops_mean: mean(&hops),
        hops_max: hops.iter().copied().max().unwrap_or(0),
        messages_mean: mean(&messages),
        lookup_success: found as f64 / p.lookups.max(1) as f64,
        churn_success: churn_found as f64 / p.lookups.max(1) as f64,
        get_before_churn,
        get_after_churn,
        get_after_replication,
        bytes_per_node,
        lookups_per_sec,
        virtual_ms_per_lookup,
    }
}

fn table(results: &[SimResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| N | log2 N | hops mean (max) | messages / lookup | lookup success | success, 20 % leaving | get before churn | get after churn | after replication | table size | memory / node | lookups/s (one node) | virtual ms / lookup | join (wall s) |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let mem = r.bytes_per_node.map_or("n/a".to_owned(), |b| {
            format!("{:.1} KiB", b as f64 / 1024.0)
        });
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.2} ({}) | {:.1} | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {:.0} | {} | {:.0} | {:.0} | {:.1} |",
            r.nodes,
            (r.nodes as f64).log2(),
            r.hops_mean,
            r.hops_max,
            r.messages_mean,
            r.lookup_success * 100.0,
            r.churn_success * 100.0,
            r.get_before_churn * 100.0,
            r.get_after_churn * 100.0,
            r.get_after_replication * 100.0,
            r.table_mean,
            mem,
            r.lookups_per_sec,
            r.virtual_ms_per_lookup,
            r.join_secs,
        );
    }
    s
}

/// Hops (mean) and log2 N against N on the left axis, success rates on the right, N on a log
/// axis: hand-written SVG.
fn plot(results: &[SimResult]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 360.0, 60.0, 60.0, 30.0, 50.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let ns: Vec<f64> = results.iter().map(|r| (r.nodes as f64).log10()).collect();
    let (lo, hi) = (
        ns.iter().copied().fold(f64::INFINITY, f64::min).floor(),
        ns.iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil()
            .max(1.0),
    );
    let span = (hi - lo).max(1.0);
    let x = |n: f64| left + (n - lo) / span * pw;
    let max_hops = results
        .iter()
        .map(|r| r.hops_mean.max((r.nodes as f64).log2()))
        .fold(1.0, f64::max)
        .ceil();
    let yh = |v: f64| top + ph - v / max_hops * ph;
    let yp = |v: f64| top + ph - v * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle">ms-kad: lookup hops and success against N</text>"#,
        w / 2.0
    );
    let _ = writeln!(
        s,
        r#"<path d="M{left} {top} V{} H{}" stroke="black" fill="none"/><line x1="{}" y1="{top}" x2="{}" y2="{}" stroke="black"/>"#,
        top + ph,
        left + pw,
        left + pw,
        left + pw,
        top + ph
    );
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(decade),
            top + ph + 16.0,
            10f64.powf(decade).round()
        );
        decade += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">N (nodes, log scale)</text>"#,
        left + pw / 2.0,
        h - 10.0
    );
    for i in 0..=max_hops as u32 {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{i}</text>"#,
            left - 6.0,
            yh(f64::from(i)) + 4.0
        );
    }
    for pct in [0, 25, 50, 75, 100] {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{pct} %</text>"#,
            left + pw + 6.0,
            yp(f64::from(pct) / 100.0) + 4.0
        );
    }
    type Series = (&'static str, &'static str, fn(&SimResult) -> f64, bool);
    let series: [Series; 4] = [
        ("hops (mean)", "#1f77b4", |r| r.hops_mean, false),
        ("log2 N", "#999999", |r| (r.nodes as f64).log2(), false),
        ("lookup success", "#2ca02c", |r| r.lookup_success, true),
        (
            "success, 20 % leaving",
            "#d62728",
            |r| r.churn_success,
            true,
        ),
    ];
    for (i, (name, colour, value, pct)) in series.iter().enumerate() {
        let points: Vec<String> = results
            .iter()
            .zip(&ns)
            .map(|(r, n)| {
                let v = value(r);
                format!("{:.1},{:.1}", x(*n), if *pct { yp(v) } else { yh(v) })
            })
            .collect();
        let dash = if *pct {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{colour}"/>"#);
        }
        // The legend in the middle right, where hops (low) and success (high) leave room.
        let (lx, ly) = (left + pw - 230.0, top + ph * 0.45 + 16.0 * i as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{name}{}</text>"#,
            lx,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            if *pct { " (right axis)" } else { "" }
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

pub fn dht_sim(argv: &[String]) -> ExitCode {
    let mut quick = false;
    let mut debug = false;
    let mut seed = 1u64;
    let mut paths = Config::default().disjoint_paths;
    let mut sizes: Option<Vec<usize>> = None;
    let mut out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("dht-sim");
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let ok = match arg.as_str() {
            "--quick" => {
                quick = true;
                true
            }
            "--debug" => {
                debug = true;
                true
            }
            "--seed" => it
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| seed = v)
                .is_some(),
            "--paths" => it
                .next()
                .and_then(|v| v.parse().ok().filter(|d: &usize| *d >= 1))
                .map(|v| paths = v)
                .is_some(),
            "--nodes" => it
                .next()
                .and_then(|v| {
                    v.split(',')
                        .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n >= 2))
                        .collect::<Option<Vec<_>>>()
                })
                .map(|v| sizes = Some(v))
                .is_some(),
            "--out" => it.next().map(|v| out = PathBuf::from(v)).is_some(),
            _ => false,
        };
        if !ok {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let sizes = sizes.unwrap_or_else(|| if quick { vec![100] } else { vec![100, 1000] });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtask dht-sim: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) && !debug {
        // `cargo xtask` builds in debug mode: simulate with an optimised build of ourselves.
        let root = crate::bench::workspace_root();
        return match crate::bench::reexec_release(&root, "dht-sim", argv) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask dht-sim: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let command = format!("cargo xtask dht-sim {}", argv.join(" "));
    let wall = Instant::now();
    let mut results = Vec::new();
    for &n in &sizes {
        let params = SimParams {
            paths,
            ..SimParams::new(n, seed, quick)
        };
        let r = runtime.block_on(run(params, true));
        eprintln!(
            "N={n}: hops {:.2}, success {:.1} %, with churn {:.1} % ({:.0} s)",
            r.hops_mean,
            r.lookup_success * 100.0,
            r.churn_success * 100.0,
            wall.elapsed().as_secs_f64()
        );
        results.push(r);
    }
    let table = table(&results);
    println!("{table}");
    let summary = format!(
        "# DHT simulation\n\n`{}` ({} build, seed {seed}, {:.0} s wall)\n\n{table}\n![hops and success against N](plot.svg)\n",
        command.trim_end(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        wall.elapsed().as_secs_f64(),
    );
    let written = std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(out.join("summary.md"), summary))
        .and_then(|()| std::fs::write(out.join("plot.svg"), plot(&results)));
    match written {
        Ok(()) => {
            println!(
                "wrote {} and {}",
                out.join("summary.md").display(),
                out.join("plot.svg").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask dht-sim: cannot write to {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoke variant CI runs: 100 nodes, quick.
    #[test]
    fn smoke_100_nodes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let r = runtime.block_on(run(SimParams::new(100, 3, true), false));
        assert!(r.lookup_success >= 0.95, "{r:?}");
        assert!(r.churn_success >= 0.8, "{r:?}");
        assert!(r.get_before_churn >= 0.95, "{r:?}");
        assert!(r.get_after_replication >= 0.9, "{r:?}");
        assert!(
            r.hops_mean >= 1.0 && r.hops_mean <= (100f64).log2(),
            "{r:?}"
        );
        assert!(r.messages_mean > 0.0 && r.table_mean > 10.0, "{r:?}");
        let svg = plot(std::slice::from_ref(&r));
        assert!(svg.starts_with("<svg") && svg.contains("polyline"));
        assert!(table(&[r]).lines().count() == 3);
    }
}
