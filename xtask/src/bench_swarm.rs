//! `cargo xtask bench-swarm`: message swarms measured, with the stream baselines they are held
//! to, in one run and one process (see docs/performance.md, "Message swarms").
//!
//! Rows: tells/s and asks/s with 100-byte messages and the ask round trip (p50/p99) over the
//! in-memory swarm of ms-swarm, the stack swarm over mem~shs, the QUIC swarm (ms-quicswarm) on
//! UDP loopback and over the in-memory swarm, and the stack swarm over net~shs
//! on 127.0.0.1; the raw baselines on the same net~shs stack (a 100-byte echo round trip, and
//! 100-byte writes each flushed on one box-stream); tells/s over the UDP swarm on 127.0.0.1,
//! with batched and single-datagram receives; the memory one idle peer costs.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ms_core::{MultiServer, Scope, Stack};
use ms_shs::{Keypair, Shs};
use ms_stackswarm::StackSwarm;
use ms_swarm::{AskSwarm, Swarm};
use ms_testkit::{MemNetwork, MemTransport};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
usage: cargo xtask bench-swarm [--quick] [--out DIR]

Message swarms (tell, ask) over the in-memory swarm, mem~shs and net~shs, against raw 100-byte
echo round trips and writes on net~shs, in one process. Writes <out>/swarm.json (default
target/bench). Build it in release mode for real figures:
  cargo run --release -p xtask -- bench-swarm
";

const MSG: usize = 100;

#[derive(Clone, Copy)]
struct Sizes {
    tells: usize,
    asks: usize,
    concurrent: usize,
    idle_peers: usize,
}

pub fn bench_swarm(argv: &[String]) -> ExitCode {
    let quick = argv.iter().any(|a| a == "--quick");
    let mut out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench");
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {}
            "--out" => match it.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => {
                    eprint!("xtask bench-swarm: --out needs a value\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "xtask bench-swarm: this is a debug build; figures are not representative \
             (cargo run --release -p xtask -- bench-swarm)"
        );
    }
    let sizes = if quick {
        Sizes {
            tells: 20_000,
            asks: 2_000,
            concurrent: 32,
            idle_peers: 300,
        }
    } else {
        Sizes {
            tells: 200_000,
            asks: 20_000,
            concurrent: 32,
            idle_peers: 2_000,
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtask bench-swarm: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // In a task, like an application's code: not on the thread that blocks on the runtime.
    let outcome = runtime.block_on(async move {
        tokio::spawn(async move { run(&sizes).await })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    });
    // The same round trips on one thread: what the hand-offs between tasks cost without
    // wake-ups across threads.
    let outcome = outcome.and_then(|mut report| {
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(err)?;
        report["current_thread"] = single.block_on(round_trips_one_thread(&sizes))?;
        Ok(report)
    });
    match outcome {
        Ok(report) => {
            let _ = std::fs::create_dir_all(&out);
            let path = out.join("swarm.json");
            match serde_json::to_string_pretty(&report) {
                Ok(text) => {
                    if let Err(e) = std::fs::write(&path, text) {
                        eprintln!("xtask bench-swarm: cannot write {}: {e}", path.display());
                    } else {
                        println!("\nwritten: {}", path.display());
                    }
                }
                Err(e) => eprintln!("xtask bench-swarm: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask bench-swarm: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What one swarm did.
#[derive(Default)]
struct Row {
    tells_per_s: f64,
    tells_delivered: usize,
    asks_per_s_serial: f64,
    asks_per_s_concurrent: f64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "tells_per_s": self.tells_per_s.round(),
            "tells_delivered": self.tells_delivered,
            "asks_per_s_serial": self.asks_per_s_serial.round(),
            "asks_per_s_concurrent": self.asks_per_s_concurrent.round(),
            "ask_rtt_p50_us": self.rtt_p50_us,
            "ask_rtt_p99_us": self.rtt_p99_us,
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i].as_secs_f64() * 1e6 * 10.0).round() / 10.0
}

/// Tells `n` 100-byte messages from `a` to `b` as fast as `tell` returns, while `b` receives;
/// the rate is what arrived over the time from the first tell to the last arrival (or to 2 s of
/// silence).
async fn tells<S: Swarm + 'static>(a: Arc<S>, b: Arc<S>, n: usize) -> Res<(f64, usize)> {
    let dst = b.local_addrs().into_iter().next().ok_or("no address")?;
    let payload = Bytes::from(vec![7u8; MSG]);
    // Warm up: the dial, and the first message through.
    a.tell(&dst, payload.clone()).await.map_err(err)?;
    b.receive().await.map_err(err)?;
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut last = Instant::now();
        while got < n {
            match tokio::time::timeout(Duration::from_secs(2), b.receive()).await {
                Ok(Ok(_)) => {
                    got += 1;
                    last = Instant::now();
                }
                _ => break,
            }
        }
        (got, last)
    });
    let start = Instant::now();
    for _ in 0..n {
        a.tell(&dst, payload.clone()).await.map_err(err)?;
    }
    let (got, last) = receiver.await.map_err(err)?;
    let secs = last.duration_since(start).as_secs_f64().max(1e-9);
    Ok((got as f64 / secs, got))
}

/// Answers every ask at once with its request, until the swarm closes.
fn echo_asks<S: AskSwarm + 'static>(s: Arc<S>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(ask) = s.next_ask().await {
            let answer = ask.payload().clone();
            ask.respond(answer);
        }
    })
}

async fn asks<S: AskSwarm + 'static>(
    a: Arc<S>,
    b: Arc<S>,
    sizes: &Sizes,
    row: &mut Row,
) -> Res<()> {
    let server = echo_asks(b.clone());
    let dst = b.local_addrs().into_iter().next().ok_or("no address")?;
    let payload = Bytes::from(vec![9u8; MSG]);
    for _ in 0..100 {
        a.ask(&dst, payload.clone()).await.map_err(err)?;
    }
    let mut samples = Vec::with_capacity(sizes.asks);
    let start = Instant::now();
    for _ in 0..sizes.asks {
        let t = Instant::now();
        a.ask(&dst, payload.clone()).await.map_err(err)?;
        samples.push(t.elapsed());
    }
    row.asks_per_s_serial = sizes.asks as f64 / start.elapsed().as_secs_f64();
    samples.sort_unstable();
    row.rtt_p50_us = percentile(&samples, 0.5);
    row.rtt_p99_us = percentile(&samples, 0.99);

    let per_task = sizes.asks / sizes.concurrent;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..sizes.concurrent {
        let (a, dst, payload) = (a.clone(), dst.clone(), payload.clone());
        tasks.spawn(async move {
            for _ in 0..per_task {
                a.ask(&dst, payload.clone()).await?;
            }
            Ok::<_, ms_swarm::SwarmError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(err)?.map_err(err)?;
    }
    row.asks_per_s_concurrent =
        (per_task * sizes.concurrent) as f64 / start.elapsed().as_secs_f64();
    server.abort();
    Ok(())
}

async fn measure<S, F, Fut>(name: &str, make: F, sizes: &Sizes) -> Res<Row>
where
    S: AskSwarm + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Res<(S, S)>>,
{
    let mut row = Row::default();
    let (a, b) = make().await?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let (rate, got) = tells(a.clone(), b.clone(), sizes.tells).await?;
    row.tells_per_s = rate;
    row.tells_delivered = got;
    asks(a.clone(), b.clone(), sizes, &mut row).await?;
    a.close().await.map_err(err)?;
    b.close().await.map_err(err)?;
    println!(
        "{name:<22} tells {:>9.0}/s ({got}/{} delivered)  asks {:>8.0}/s serial, {:>8.0}/s x{}  rtt p50 {:>6.1} us  p99 {:>6.1} us",
        row.tells_per_s,
        sizes.tells,
        row.asks_per_s_serial,
        row.asks_per_s_concurrent,
        sizes.concurrent,
        row.rtt_p50_us,
        row.rtt_p99_us
    );
    Ok(row)
}

fn shs_node(transport: impl ms_core::Transport, seed: u8) -> Res<MultiServer> {
    MultiServer::new([Stack::new(transport).with(Shs::new(Keypair::from_seed(&[seed; 32])))])
        .map_err(err)
}

async fn stack_pair(a: MultiServer, b: MultiServer) -> Res<(StackSwarm, StackSwarm)> {
    Ok((
        StackSwarm::builder(a).bind().await.map_err(err)?,
        StackSwarm::builder(b).bind().await.map_err(err)?,
    ))
}

/// The raw baselines on net~shs: 100-byte echo round trips (p50, p99, per second) and 100-byte
/// writes each flushed (per second, as the reader sees them arrive).
async fn raw_net_shs(sizes: &Sizes) -> Res<Value> {
    let server = shs_node(ms_net::Net::new(), 1)?;
    let client = shs_node(ms_net::Net::new(), 2)?;
    let mut listening = server.listen().await.map_err(err)?;
    let address = listening.address(Scope::Device).to_string();

    // Echo.
    let echo = tokio::spawn(async move {
        let mut conn = listening.accept().await?;
        let mut buf = [0u8; MSG];
        while conn.read_exact(&mut buf).await.is_ok() {
            if conn.write_all(&buf).await.is_err() || conn.flush().await.is_err() {
                break;
            }
        }
        Some(listening)
    });
    let mut conn = client.connect(&address).await.map_err(err)?;
    let msg = [5u8; MSG];
    let mut back = [0u8; MSG];
    for _ in 0..100 {
        conn.write_all(&msg).await.map_err(err)?;
        conn.flush().await.map_err(err)?;
        conn.read_exact(&mut back).await.map_err(err)?;
    }
    let mut samples = Vec::with_capacity(sizes.asks);
    let start = Instant::now();
    for _ in 0..sizes.asks {
        let t = Instant::now();
        conn.write_all(&msg).await.map_err(err)?;
        conn.flush().await.map_err(err)?;
        conn.read_exact(&mut back).await.map_err(err)?;
        samples.push(t.elapsed());
    }
    let echo_per_s = sizes.asks as f64 / start.elapsed().as_secs_f64();
    samples.sort_unstable();
    drop(conn);
    let mut listening = echo.await.map_err(err)?.ok_or("the echo server closed")?;

    // Writes.
    let n = sizes.tells;
    let reader = tokio::spawn(async move {
        let mut conn = listening.accept().await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        let mut started: Option<Instant> = None;
        while total < n * MSG {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    started.get_or_insert_with(Instant::now);
                    total += k;
                }
            }
        }
        listening.close().await;
        Some((total, Instant::now()))
    });
    let mut conn = client.connect(&address).await.map_err(err)?;
    let start = Instant::now();
    for _ in 0..n {
        conn.write_all(&msg).await.map_err(err)?;
        conn.flush().await.map_err(err)?;
    }
    let (total, end) = reader.await.map_err(err)?.ok_or("the reader closed")?;
    let writes_per_s = (total / MSG) as f64 / end.duration_since(start).as_secs_f64();
    let row = json!({
        "echo_rtt_p50_us": percentile(&samples, 0.5),
        "echo_rtt_p99_us": percentile(&samples, 0.99),
        "echo_per_s": echo_per_s.round(),
        "writes_per_s": writes_per_s.round(),
    });
    println!(
        "{:<22} writes {:>8.0}/s (100 B, each flushed)  echo {:>8.0}/s  rtt p50 {:>6.1} us  p99 {:>6.1} us",
        "raw net~shs",
        writes_per_s,
        echo_per_s,
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
    Ok(row)
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Memory of idle peers over mem~shs: `k` raw clients (each its own key) hold a connection to
/// a server that holds them too, first a plain multiserver listener, then (those still open) a
/// stack swarm (the clients say HELLO, so the swarm takes each as a peer). The difference is
/// what the swarm adds per idle peer. RSS of this whole process: both ends are counted.
async fn idle_memory(k: usize) -> Res<Value> {
    let network = MemNetwork::new();
    let clients: Vec<MultiServer> = (0..k)
        .map(|i| {
            let mut seed = [3u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            MultiServer::new([
                Stack::new(MemTransport::new(&network)).with(Shs::new(Keypair::from_seed(&seed)))
            ])
            .map_err(err)
        })
        .collect::<Res<_>>()?;

    // Bare connections, both ends held.
    let server = shs_node(MemTransport::new(&network), 1)?;
    let mut listening = server.listen().await.map_err(err)?;
    let address = listening.address(Scope::Device).to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(conn) = listening.accept().await {
            held.push(conn);
        }
        held.len()
    });
    settle().await;
    let before = rss_bytes().ok_or("no /proc/self/status")?;
    let mut conns = Vec::with_capacity(k);
    for c in &clients {
        conns.push(c.connect(&address).await.map_err(err)?);
    }
    settle().await;
    let bare = rss_bytes()
        .ok_or("no /proc/self/status")?
        .saturating_sub(before);
    // Kept open: memory freed now would be reused below and hide the swarm's cost.
    let bare_conns = conns;

    // The same clients, to a stack swarm.
    let swarm = StackSwarm::builder(shs_node(MemTransport::new(&network), 1)?)
        .bind()
        .await
        .map_err(err)?;
    let address = swarm.local_addrs().into_iter().next().ok_or("no address")?;
    settle().await;
    let before = rss_bytes().ok_or("no /proc/self/status")?;
    let mut conns = Vec::with_capacity(k);
    for (i, c) in clients.iter().enumerate() {
        let mut conn = c.connect(address.as_str()).await.map_err(err)?;
        let mut hello = BytesMut::new();
        let mut seed = [3u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        ms_stackswarm::frame::encode(
            &ms_stackswarm::frame::Frame::Hello {
                version: ms_stackswarm::frame::VERSION,
                mtu: 65536,
                max_ask: 1 << 20,
                key: *Keypair::from_seed(&seed).public().as_bytes(),
                addr: Bytes::new(),
            },
            &mut hello,
        );
        conn.write_all(&hello).await.map_err(err)?;
        conn.flush().await.map_err(err)?;
        conns.push(conn);
    }
    for _ in 0..500 {
        if swarm.stats().connections_open >= k {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    settle().await;
    let with_swarm = rss_bytes()
        .ok_or("no /proc/self/status")?
        .saturating_sub(before);
    let open = swarm.stats().connections_open;
    swarm.close().await.map_err(err)?;
    drop(conns);
    drop(bare_conns);
    holder.abort();
    let per_bare = bare as f64 / k as f64;
    let per_swarm = with_swarm as f64 / k as f64;
    println!(
        "{:<22} {k} idle peers ({open} open): {:.1} KiB each with the swarm, {:.1} KiB for a bare connection (both ends); the swarm adds {:.1} KiB",
        "idle peers (mem~shs)",
        per_swarm / 1024.0,
        per_bare / 1024.0,
        (per_swarm - per_bare) / 1024.0
    );
    Ok(json!({
        "peers": k,
        "open": open,
        "per_peer_with_swarm_bytes": per_swarm.round(),
        "per_bare_connection_bytes": per_bare.round(),
        "swarm_adds_bytes": (per_swarm - per_bare).round(),
    }))
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn run(sizes: &Sizes) -> Res<Value> {
    println!(
        "message swarms, 100-byte messages; {} tells, {} asks per row",
        sizes.tells, sizes.asks
    );
    let mem = measure(
        "mem swarm (ms-swarm)",
        || async {
            let realm = ms_swarm::mem::Realm::builder().queue_len(4096).build();
            let mut s = realm.swarms(2);
            let b = s.pop().ok_or("no swarm")?;
            let a = s.pop().ok_or("no swarm")?;
            Ok((a, b))
        },
        sizes,
    )
    .await?;
    let mem_shs = measure(
        "stack swarm mem~shs",
        || async {
            let network = MemNetwork::new();
            stack_pair(
                shs_node(MemTransport::new(&network), 1)?,
                shs_node(MemTransport::new(&network), 2)?,
            )
            .await
        },
        sizes,
    )
    .await?;
    // QUIC (ms-quicswarm): tells as datagrams, asks on a stream each; on UDP loopback and
    // over the in-memory packet swarm.
    let quic_udp = measure(
        "quic swarm udp",
        || async {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let config = ms_quicswarm::Config::default().with_queue_len(4096);
            let a =
                ms_quicswarm::QuicSwarm::bind(Keypair::from_seed(&[1; 32]), local, config.clone())
                    .map_err(err)?;
            let b = ms_quicswarm::QuicSwarm::bind(Keypair::from_seed(&[2; 32]), local, config)
                .map_err(err)?;
            Ok((a, b))
        },
        sizes,
    )
    .await?;
    let quic_mem = measure(
        "quic swarm over mem",
        || async {
            let realm = ms_swarm::mem::Realm::builder().queue_len(4096).build();
            let config = ms_quicswarm::Config::default().with_queue_len(4096);
            let a = ms_quicswarm::QuicSwarm::over(
                realm.swarm(),
                Keypair::from_seed(&[1; 32]),
                config.clone(),
            )
            .map_err(err)?;
            let b =
                ms_quicswarm::QuicSwarm::over(realm.swarm(), Keypair::from_seed(&[2; 32]), config)
                    .map_err(err)?;
            Ok((a, b))
        },
        sizes,
    )
    .await?;
    // QUIC over ms-udp's UdpSwarm (the generic packet-swarm adapter over real UDP, 1200-byte
    // packets), beside quinn's own socket above.
    let quic_over_udp = measure(
        "quic swarm over ms-udp",
        || async {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let config = ms_quicswarm::Config::default().with_queue_len(4096);
            let udp = || async {
                ms_udp::UdpSwarm::builder()
                    .queue_messages(4096)
                    .bind(local)
                    .await
                    .map_err(err)
            };
            let a = ms_quicswarm::QuicSwarm::over(
                udp().await?,
                Keypair::from_seed(&[1; 32]),
                config.clone(),
            )
            .map_err(err)?;
            let b =
                ms_quicswarm::QuicSwarm::over(udp().await?, Keypair::from_seed(&[2; 32]), config)
                    .map_err(err)?;
            Ok((a, b))
        },
        sizes,
    )
    .await?;
    // The comparison with the raw stack is what the targets are about: interleaved, 3 times,
    // medians (this machine is shared; single runs are noisy).
    let mut net_rows = Vec::new();
    let mut raw_rows = Vec::new();
    for _ in 0..3 {
        net_rows.push(
            measure(
                "stack swarm net~shs",
                || async {
                    stack_pair(
                        shs_node(ms_net::Net::new(), 1)?,
                        shs_node(ms_net::Net::new(), 2)?,
                    )
                    .await
                },
                sizes,
            )
            .await?,
        );
        raw_rows.push(raw_net_shs(sizes).await?);
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let net_shs = Row {
        tells_per_s: med(net_rows.iter().map(|r| r.tells_per_s).collect()),
        tells_delivered: net_rows
            .iter()
            .map(|r| r.tells_delivered)
            .min()
            .unwrap_or(0),
        asks_per_s_serial: med(net_rows.iter().map(|r| r.asks_per_s_serial).collect()),
        asks_per_s_concurrent: med(net_rows.iter().map(|r| r.asks_per_s_concurrent).collect()),
        rtt_p50_us: med(net_rows.iter().map(|r| r.rtt_p50_us).collect()),
        rtt_p99_us: med(net_rows.iter().map(|r| r.rtt_p99_us).collect()),
    };
    let raw_med = |key: &str| {
        med(raw_rows
            .iter()
            .map(|r| r[key].as_f64().unwrap_or(0.0))
            .collect())
    };
    let raw = json!({
        "echo_rtt_p50_us": raw_med("echo_rtt_p50_us"),
        "echo_rtt_p99_us": raw_med("echo_rtt_p99_us"),
        "echo_per_s": raw_med("echo_per_s"),
        "writes_per_s": raw_med("writes_per_s"),
    });
    println!(
        "medians of 3: net~shs swarm tells {:.0}/s, ask rtt p50 {:.1} us p99 {:.1} us; raw writes {:.0}/s, echo rtt p50 {:.1} us p99 {:.1} us",
        net_shs.tells_per_s,
        net_shs.rtt_p50_us,
        net_shs.rtt_p99_us,
        raw_med("writes_per_s"),
        raw_med("echo_rtt_p50_us"),
        raw_med("echo_rtt_p99_us"),
    );
    let udp = udp_rows(sizes).await?;
    let memory = idle_memory(sizes.idle_peers).await?;

    let raw_rtt = raw["echo_rtt_p50_us"].as_f64().unwrap_or(0.0);
    let raw_writes = raw["writes_per_s"].as_f64().unwrap_or(0.0);
    let rtt_ratio = net_shs.rtt_p50_us / raw_rtt.max(1e-9);
    let tell_ratio = net_shs.tells_per_s / raw_writes.max(1e-9);
    println!(
        "\ntargets: ask rtt p50 over net~shs / raw echo rtt p50 = {rtt_ratio:.2} (target <= 1.5): {}",
        if rtt_ratio <= 1.5 { "met" } else { "NOT met" }
    );
    println!(
        "         tells/s over net~shs / raw 100-byte writes/s = {tell_ratio:.2} (target >= 0.5): {}",
        if tell_ratio >= 0.5 { "met" } else { "NOT met" }
    );
    Ok(json!({
        "sizes": {"tells": sizes.tells, "asks": sizes.asks, "concurrent": sizes.concurrent, "message_bytes": MSG},
        "release": !cfg!(debug_assertions),
        "mem_swarm": mem.json(),
        "stack_swarm_mem_shs": mem_shs.json(),
        "stack_swarm_net_shs": net_shs.json(),
        "quic_swarm_udp": quic_udp.json(),
        "quic_swarm_over_mem": quic_mem.json(),
        "quic_swarm_over_udp_swarm": quic_over_udp.json(),
        "raw_net_shs": raw,
        "udp_swarm": udp,
        "idle_memory_mem_shs": memory,
        "targets": {
            "ask_rtt_over_raw_echo_rtt": (rtt_ratio * 100.0).round() / 100.0,
            "tells_over_raw_writes": (tell_ratio * 100.0).round() / 100.0,
        },
    }))
}

/// Tells over the UDP swarm on 127.0.0.1, receiving in batches (`recvmmsg`, as many datagrams
/// per call as quinn-udp allows) and one datagram per call, interleaved 3 times; medians. Two
/// ways: end to end (as the other rows: a task receiving, the swarm's default queue) and on the
/// socket side (a queue that holds every tell, nobody reading during the run: what the receive
/// task takes off the socket, the rest lost in the kernel).
async fn udp_rows(sizes: &Sizes) -> Res<Value> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let n = sizes.tells;
    let mut out = serde_json::Map::new();
    // Per batch size: end-to-end runs (rate, delivered), socket-side runs (rate, taken).
    type Runs = (usize, Vec<(f64, usize)>, Vec<(f64, u64)>);
    let mut rows: Vec<Runs> = [ms_udp::MAX_BATCH, 1]
        .into_iter()
        .map(|batch| (batch, Vec::new(), Vec::new()))
        .collect();
    for _ in 0..3 {
        for (batch, e2e, socket) in rows.iter_mut() {
            let bind = |queue: Option<usize>| {
                let mut b = ms_udp::UdpSwarm::builder().batch(*batch);
                if let Some(q) = queue {
                    b = b.queue_messages(q).queue_bytes(q * (MSG + 100));
                }
                b.bind(loopback)
            };
            let a = Arc::new(bind(None).await.map_err(err)?);
            let b = Arc::new(bind(None).await.map_err(err)?);
            e2e.push(tells(a.clone(), b.clone(), n).await?);
            a.close().await.map_err(err)?;
            b.close().await.map_err(err)?;

            let a = bind(None).await.map_err(err)?;
            let b = bind(Some(n)).await.map_err(err)?;
            let dst = b.local_addrs().into_iter().next().ok_or("no address")?;
            let payload = Bytes::from(vec![7u8; MSG]);
            let start = Instant::now();
            for _ in 0..n {
                a.tell(&dst, payload.clone()).await.map_err(err)?;
            }
            let (mut seen, mut last) = (b.stats().received, Instant::now());
            while last.elapsed() < Duration::from_millis(200) {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let now = b.stats().received;
                if now != seen {
                    (seen, last) = (now, Instant::now());
                }
            }
            socket.push((seen as f64 / last.duration_since(start).as_secs_f64(), seen));
            a.close().await.map_err(err)?;
            b.close().await.map_err(err)?;
        }
    }
    for (batch, mut e2e, mut socket) in rows {
        e2e.sort_by(|x, y| x.0.total_cmp(&y.0));
        socket.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (rate, got) = e2e[e2e.len() / 2];
        let (taken_rate, taken) = socket[socket.len() / 2];
        let name = format!("udp swarm, batch {batch}");
        println!(
            "{name:<22} tells {rate:>9.0}/s ({got}/{n} delivered); socket side {taken_rate:>9.0}/s \
             ({taken}/{n} taken off the socket); medians of 3"
        );
        out.insert(
            format!("batch_{batch}"),
            json!({
                "tells_per_s": rate.round(),
                "tells_delivered": got,
                "socket_side_per_s": taken_rate.round(),
                "socket_side_taken": taken,
            }),
        );
    }
    Ok(Value::Object(out))
}

/// Ask round trips over net~shs and raw echo round trips, interleaved 3 times, on a
/// current-thread runtime.
async fn round_trips_one_thread(sizes: &Sizes) -> Res<Value> {
    let mut swarm = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..3 {
        let (a, b) = stack_pair(
            shs_node(ms_net::Net::new(), 1)?,
            shs_node(ms_net::Net::new(), 2)?,
        )
        .await?;
        let (a, b) = (Arc::new(a), Arc::new(b));
        let mut row = Row::default();
        asks(a.clone(), b.clone(), sizes, &mut row).await?;
        a.close().await.map_err(err)?;
        b.close().await.map_err(err)?;
        swarm.push(row.rtt_p50_us);
        raw.push(
            raw_net_shs(sizes).await?["echo_rtt_p50_us"]
                .as_f64()
                .unwrap_or(0.0),
        );
    }
    swarm.sort_by(|a, b| a.total_cmp(b));
    raw.sort_by(|a, b| a.total_cmp(b));
    let (s, r) = (swarm[1], raw[1]);
    println!(
        "current-thread runtime, medians of 3: ask rtt p50 {s:.1} us, raw echo rtt p50 {r:.1} us: ratio {:.2}",
        s / r.max(1e-9)
    );
    Ok(json!({
        "ask_rtt_p50_us": s,
        "raw_echo_rtt_p50_us": r,
        "ratio": (s / r.max(1e-9) * 100.0).round() / 100.0,
    }))
}
