//! The Rust side of `cargo xtask bench`: `xtask bench-server` and `xtask bench-client`, the
//! twins of `interop/js/bench.js` (same arguments, same per-connection protocol, same JSON
//! lines on stdout). Each runs as its own process so that its memory and CPU are its own.
//!
//! Per-connection protocol, chosen by the client's first byte after the handshake: `E` echoes
//! every following byte; `S` is followed by an 8-byte big-endian length `L` and `L` bytes, and
//! the server answers with the 8-byte count; end of stream without a byte ends the connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ms_core::{Connection, MultiAddress, MultiServer, Scope, Stack, Transform};
use ms_net::Net;
use ms_noauth::Noauth;
use ms_shs::{Keypair, NetworkKey, Shs};
use ms_unix::Unix;
use ms_ws::WsTransport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::sys;

const ECHO: u8 = b'E';
const SINK: u8 = b'S';
const CHUNK: usize = 64 * 1024;

/// Parsed `--name value` options and positionals.
pub struct Args {
    positional: Vec<String>,
    options: BTreeMap<String, String>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Self, String> {
        let mut positional = Vec::new();
        let mut options = BTreeMap::new();
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = it
                    .next()
                    .ok_or_else(|| format!("missing value for {arg}"))?;
                options.insert(name.to_owned(), value.clone());
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Self {
            positional,
            options,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn num(&self, name: &str, default: f64) -> Result<f64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("--{name} must be a non-negative number, not {text}")),
        }
    }

    fn count(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| format!("--{name} must be a non-negative integer, not {text}")),
        }
    }

    fn seed(&self) -> Result<[u8; 32], String> {
        let hex = self.get("seed").ok_or("--seed is required")?;
        sys::hex32(hex).ok_or_else(|| "--seed must be 64 hex characters".to_owned())
    }
}

fn emit(value: &Value) {
    println!("{value}");
}

fn runtime(args: &Args) -> Result<tokio::runtime::Runtime, String> {
    let threads = args.count("threads", 0)?;
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads as usize);
        }
        b
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// The shs transform of a bench peer; `--max-frame-body N` opts into larger box-stream frames
/// (default 4096, as every SSB implementation sends).
fn shs(seed: &[u8; 32], args: &Args) -> Result<Arc<dyn Transform>, String> {
    let max_frame_body = args.count("max-frame-body", 4096)?;
    Ok(Arc::new(
        Shs::new(Keypair::from_seed(seed))
            .network_key(NetworkKey::MAINNET)
            .max_frame_body(usize::try_from(max_frame_body).map_err(|e| e.to_string())?),
    ))
}

fn noauth(seed: &[u8; 32]) -> Arc<dyn Transform> {
    let public = Keypair::from_seed(seed).public();
    Arc::new(Noauth::new(ms_core::PublicKey(*public.as_bytes())))
}

// ---------------------------------------------------------------------------------------------
// Server

/// `xtask bench-server --seed HEX --stacks net~shs,... [--unix-dir DIR] [--threads N] [--max-frame-body N]`.
pub fn server(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv)?;
    let rt = runtime(&args)?;
    rt.block_on(serve(&args))
}

async fn serve(args: &Args) -> Result<(), String> {
    let seed = args.seed()?;
    let shs = shs(&seed, args)?;
    let noauth = noauth(&seed);
    let mut builder = MultiServer::builder();
    let stacks = args.get("stacks").unwrap_or("net~shs");
    for name in stacks.split(',') {
        if name == "quic" {
            // QUIC authenticates in its own handshake: no transform.
            let quic = ms_quic::Quic::new(&Keypair::from_seed(&seed), NetworkKey::MAINNET)
                .map_err(|e| format!("quic: {e}"))?;
            builder = builder.stack(Stack::new(quic));
            continue;
        }
        let (transport, transform) = name
            .split_once('~')
            .ok_or_else(|| format!("bad stack {name}"))?;
        let transform = match transform {
            "shs" => shs.clone(),
            "noauth" => noauth.clone(),
            other => return Err(format!("unknown transform {other}")),
        };
        let stack = match transport {
            "net" => Stack::new(Net::new()),
            "ws" => Stack::new(
                WsTransport::builder()
                    .host(std::net::Ipv4Addr::LOCALHOST)
                    .build()
                    .map_err(|e| format!("ws: {e}"))?,
            ),
            "unix" => {
                let dir = PathBuf::from(args.get("unix-dir").ok_or("unix needs --unix-dir")?);
                Stack::new(Unix::in_directory(&dir).map_err(|e| format!("unix: {e}"))?)
            }
            other => return Err(format!("unknown transport {other}")),
        };
        builder = builder.stack(stack.with_shared(transform));
    }
    let node = builder.build().map_err(|e| format!("node: {e}"))?;
    let mut server = node.listen().await.map_err(|e| format!("listen: {e}"))?;
    let mut addresses = serde_json::Map::new();
    for address in server.address(Scope::Device).alternatives() {
        addresses.insert(address.stack_name(), Value::String(address.to_string()));
    }
    emit(&json!({"event": "listening", "pid": std::process::id(), "addresses": addresses}));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            conn = server.accept() => match conn {
                Some(conn) => { tokio::spawn(handle(conn)); }
                None => break,
            },
            line = stdin.next_line() => match line {
                Ok(Some(line)) if line.trim() == "gc" => emit(&json!({"event": "gc"})),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
        }
    }
    server.close().await;
    Ok(())
}

/// Serves one connection. An idle connection holds only this future (a one-byte buffer): the
/// echo buffer is allocated once the client asks for an echo.
async fn handle(mut conn: Connection) {
    let mut mode = [0u8; 1];
    let result = match conn.read(&mut mode).await {
        Ok(0) | Err(_) => Ok(()),
        Ok(_) if mode[0] == ECHO => echo(&mut conn).await,
        Ok(_) if mode[0] == SINK => sink(&mut conn).await,
        Ok(_) => Ok(()),
    };
    if result.is_ok() {
        let _ = conn.shutdown().await;
    }
}

async fn echo(conn: &mut Connection) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
        conn.flush().await?;
    }
}

async fn sink(conn: &mut Connection) -> std::io::Result<()> {
    let mut head = [0u8; 8];
    conn.read_exact(&mut head).await?;
    let expected = u64::from_be_bytes(head);
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    while got < expected {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n as u64;
    }
    conn.write_all(&got.to_be_bytes()).await?;
    conn.flush().await?;
    // Wait for the client's end before ending ours.
    while conn.read(&mut buf).await? > 0 {}
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client

/// `xtask bench-client MODE --addr A --seed HEX [options]`: see `interop/js/bench.js`.
pub fn client(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv)?;
    let rt = runtime(&args)?;
    let mode = args
        .positional
        .first()
        .cloned()
        .ok_or("bench-client needs a mode")?;
    let limit = Duration::from_secs_f64(args.num("timeout", 300.0)?);
    let result = rt.block_on(async {
        match tokio::time::timeout(limit, run_client(&mode, &args)).await {
            Ok(result) => result,
            Err(_) => Err("client timed out".to_owned()),
        }
    })?;
    let mut result = result;
    if let Value::Object(map) = &mut result {
        map.insert("event".into(), "result".into());
        map.insert("mode".into(), mode.into());
    }
    emit(&result);
    // Do not wait for the runtime's tasks (e.g. closing connections) on the way out.
    rt.shutdown_background();
    Ok(())
}

async fn run_client(mode: &str, args: &Args) -> Result<Value, String> {
    let seed = args.seed()?;
    let address = MultiAddress::parse(args.get("addr").ok_or("--addr is required")?)
        .map_err(|e| format!("--addr: {e}"))?;
    let node = client_node(&seed, args)?;
    match mode {
        "handshakes" => handshakes(&node, &address, args).await,
        "echo" => transfer(&node, &address, args, false).await,
        "oneway" => transfer(&node, &address, args, true).await,
        "latency" => latency(&node, &address, args).await,
        "hold" => hold(&node, &address, args).await,
        other => Err(format!("unknown client mode {other}")),
    }
}

fn client_node(seed: &[u8; 32], args: &Args) -> Result<MultiServer, String> {
    let shs = shs(seed, args)?;
    let net: Arc<dyn ms_core::Transport> = Arc::new(Net::new());
    let ws: Arc<dyn ms_core::Transport> = Arc::new(
        WsTransport::builder()
            .build()
            .map_err(|e| format!("ws: {e}"))?,
    );
    let unix: Arc<dyn ms_core::Transport> = Arc::new(Unix::dial_only());
    let quic = ms_quic::Quic::new(&Keypair::from_seed(seed), NetworkKey::MAINNET)
        .map_err(|e| format!("quic: {e}"))?;
    MultiServer::builder()
        .stack(Stack::new(quic))
        .stack(Stack::from_shared(net.clone()).with_shared(shs.clone()))
        .stack(Stack::from_shared(ws).with_shared(shs.clone()))
        .stack(Stack::from_shared(unix).with_shared(shs))
        .stack(Stack::from_shared(net).with_shared(noauth(seed)))
        .build()
        .map_err(|e| format!("client node: {e}"))
}

/// Connect + handshake + close: our goodbye, then the server's end of stream.
async fn one_handshake(node: &MultiServer, address: &MultiAddress) -> Result<(), String> {
    let mut conn = node.connect_to(address).await.map_err(|e| e.to_string())?;
    conn.shutdown().await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn handshakes(
    node: &MultiServer,
    address: &MultiAddress,
    args: &Args,
) -> Result<Value, String> {
    let concurrency = args.count("concurrency", 1)?.max(1);
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5)?);
    let duration = Duration::from_secs_f64(args.num("duration", 3.0)?);
    let t0 = Instant::now();
    let start = t0 + warmup;
    let end = start + duration;
    let ops = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let cpu_start = Arc::new(std::sync::Mutex::new(None::<f64>));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (node, address) = (node.clone(), address.clone());
        let (ops, total, errors) = (ops.clone(), total.clone(), errors.clone());
        let (first_error, cpu_start) = (first_error.clone(), cpu_start.clone());
        workers.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if now >= start {
                    let mut c = cpu_start.lock().unwrap_or_else(|p| p.into_inner());
                    if c.is_none() {
                        *c = sys::self_cpu_secs();
                    }
                }
                let result =
                    tokio::time::timeout(Duration::from_secs(10), one_handshake(&node, &address))
                        .await
                        .unwrap_or_else(|_| Err("handshake timed out".into()));
                match result {
                    Ok(()) => {
                        total.fetch_add(1, Ordering::Relaxed);
                        let t = Instant::now();
                        if t >= start && t < end {
                            ops.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        // Do not spin on a dead server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }
    let mut cpu_end = None;
    while workers.join_next().await.is_some() {
        if cpu_end.is_none() {
            cpu_end = sys::self_cpu_secs();
        }
    }
    let ops = ops.load(Ordering::Relaxed);
    let secs = duration.as_secs_f64();
    let cpu_start = *cpu_start.lock().unwrap_or_else(|p| p.into_inner());
    let client_cpu = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(json!({
        "ops": ops,
        "ops_total": total.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "secs": secs,
        "rate": ops as f64 / secs,
        "client_cpu_secs": client_cpu,
    }))
}

async fn transfer(
    node: &MultiServer,
    address: &MultiAddress,
    args: &Args,
    oneway: bool,
) -> Result<Value, String> {
    let bytes = args.count("bytes", 64 << 20)?;
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 + 7) as u8).collect();
    let conn = node.connect_to(address).await.map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let c0 = sys::self_cpu_secs();
    let (mut rx, mut tx) = tokio::io::split(conn);
    let writer = async move {
        if oneway {
            let mut head = [SINK; 9];
            head[1..].copy_from_slice(&bytes.to_be_bytes());
            tx.write_all(&head).await?;
        } else {
            tx.write_all(&[ECHO]).await?;
        }
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            tx.write_all(&chunk[..n]).await?;
            sent += n as u64;
        }
        tx.flush().await?;
        Ok::<_, std::io::Error>(tx)
    };
    let want = if oneway { 8 } else { bytes };
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        while received < want {
            let n = rx.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {received} of {want} bytes"),
                ));
            }
            received += n as u64;
        }
        Ok((rx, received))
    };
    let (tx, rx) = tokio::try_join!(writer, reader).map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = match (c0, sys::self_cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let (rx, received) = rx;
    let error = (received != want).then(|| format!("received {received} bytes, expected {want}"));
    let mut conn = rx.unsplit(tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.shutdown()).await;
    Ok(json!({
        "bytes": bytes,
        "secs": secs,
        "mb_per_s": bytes as f64 / secs / 1e6,
        "client_cpu_secs": cpu,
        "error": error,
    }))
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((p * sorted.len() as f64) as usize).min(sorted.len() - 1);
    Some(sorted[index])
}

async fn latency(node: &MultiServer, address: &MultiAddress, args: &Args) -> Result<Value, String> {
    let size = args.count("size", 100)?.max(1) as usize;
    let rounds = args.count("rounds", 1000)?.max(1) as usize;
    let warmup = args.count("warmup", 10)? as usize;
    let max_secs = Duration::from_secs_f64(args.num("max-secs", 5.0)?);
    let mut conn = node.connect_to(address).await.map_err(|e| e.to_string())?;
    let mut first = vec![ECHO];
    first.extend(std::iter::repeat_n(b'a', size));
    let mut back = vec![0u8; size];
    let mut samples = Vec::with_capacity(rounds);
    let t0 = Instant::now();
    let mut error = None;
    for round in 0..rounds + warmup {
        let sent_at = Instant::now();
        let message = if round == 0 { &first[..] } else { &first[1..] };
        let exchange = async {
            conn.write_all(message).await?;
            conn.flush().await?;
            conn.read_exact(&mut back).await
        };
        if let Err(e) = exchange.await {
            error = Some(e.to_string());
            break;
        }
        let rtt = sent_at.elapsed().as_secs_f64() * 1e6;
        if round >= warmup {
            samples.push(rtt);
        }
        if samples.len() >= rounds || t0.elapsed() > max_secs {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.shutdown()).await;
    Ok(json!({
        "rounds": samples.len(),
        "p50_us": percentile(&samples, 0.5),
        "p90_us": percentile(&samples, 0.9),
        "p99_us": percentile(&samples, 0.99),
        "max_us": samples.last(),
        "error": error,
    }))
}

async fn hold(node: &MultiServer, address: &MultiAddress, args: &Args) -> Result<Value, String> {
    let count = args.count("count", 1000)?.max(1);
    let concurrency = args.count("concurrency", 64)?.max(1);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(count) {
        let (node, address, next) = (node.clone(), address.clone(), next.clone());
        workers.spawn(async move {
            let mut conns = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                match tokio::time::timeout(Duration::from_secs(30), node.connect_to(&address)).await
                {
                    Ok(Ok(conn)) => conns.push(conn),
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(_) => errors.push("connect timed out".to_owned()),
                }
            }
            (conns, errors)
        });
    }
    let mut conns = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = workers.join_next().await {
        let (c, e) = joined.map_err(|e| e.to_string())?;
        conns.extend(c);
        errors.extend(e);
    }
    emit(&json!({
        "event": "opened",
        "ok": conns.len(),
        "errors": errors.len(),
        "first_error": errors.first(),
        "secs": t0.elapsed().as_secs_f64(),
    }));
    // Wait for "close" or the end of stdin.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line.contains("close") {
            break;
        }
    }
    let c0 = Instant::now();
    let closed = conns.len();
    let mut closing = tokio::task::JoinSet::new();
    for mut conn in conns {
        closing.spawn(async move {
            let _ = conn.shutdown().await;
            let mut buf = [0u8; 64];
            while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while closing.join_next().await.is_some() {}
    })
    .await;
    Ok(json!({"closed": closed, "secs": c0.elapsed().as_secs_f64()}))
}
