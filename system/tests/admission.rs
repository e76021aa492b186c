//! A flood on one port does not lock honest peers out, on any stack.
//!
//! A node serves `net~shs`, `ws~shs` and `unix~noauth` on loopback, as `multiserver serve
//! --echo` does (default limits), on its own runtime and threads. Three loads hit it in turn:
//! (a) 512 silent TCP connections held on the `net` port, (b) 8 tasks each keeping 80 silent
//! connections to the `net` port open, reconnecting as fast as they can whenever the node closes
//! one, (c) 600 slowloris connections on the `ws` port (a partial HTTP request head, one more
//! byte every 2 s; one that was cut is reopened at the next 2 s tick, as the `slowloris` tool
//! does). Meanwhile honest clients echo 1 KiB on every stack,
//! 46 times each; each echo (dial, handshake, write, read back) has 1 s, the client's own
//! deadline, and a miss counts as a failure. At least 45 of the 46 must succeed per stack and
//! load.
//!
//! The figures are printed (run with `--nocapture` to see them) and recorded in
//! docs/security.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ms_core::{Connection, MultiAddress, MultiServer, Scope, Stack};
use ms_net::Net;
use ms_noauth::Noauth;
use ms_shs::{Keypair, Shs};
use ms_system_tests::load::{self, Load};
use ms_testkit::pattern;
use ms_unix::Unix;
use ms_ws::Ws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROBES: usize = 46;
const NEEDED: usize = 45;
const PROBE_DEADLINE: Duration = Duration::from_secs(1);
const PROBE_GAP: Duration = Duration::from_millis(100);
/// File descriptors the test needs at most (both ends of every connection live in this process).
const FDS_NEEDED: u64 = 4096;

/// Raises this process's soft limit on open files to what the loads need (as far as the hard
/// limit allows) and returns the limit in force.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= FDS_NEEDED {
        return current;
    }
    let wanted = limit.maximum.map_or(FDS_NEEDED, |max| max.min(FDS_NEEDED));
    let raised = Rlimit {
        current: Some(wanted),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => wanted,
        Err(_) => current,
    }
}

/// The node under test, serving on its own runtime in its own thread.
struct Node {
    /// One address per stack: `net~shs`, `ws~shs`, `unix~noauth`.
    addresses: Vec<(String, MultiAddress)>,
    net: SocketAddr,
    ws: SocketAddr,
    server_key: ms_core::PublicKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl Node {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("ms-admission-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("socket");
        let keys = Keypair::from_seed(&[1; 32]);
        let server_key = keys.public();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let shs = std::sync::Arc::new(Shs::new(keys));
                let net = Net::builder()
                    .host(std::net::Ipv4Addr::LOCALHOST)
                    .port(0)
                    .scopes([Scope::Device])
                    .build()
                    .unwrap();
                let ws = Ws::builder()
                    .host(std::net::Ipv4Addr::LOCALHOST)
                    .port(0)
                    .scope(Scope::Device)
                    .build()
                    .unwrap();
                let unix = Unix::new(&socket).unwrap();
                let node = MultiServer::builder()
                    .stack(Stack::new(net).with_shared(shs.clone()))
                    .stack(Stack::new(ws).with_shared(shs))
                    .stack(Stack::new(unix).with(Noauth::new(server_key)))
                    .build()
                    .unwrap();
                let mut server = node.listen().await.unwrap();
                ready_tx.send(server.address(Scope::Device)).unwrap();
                let serve = async {
                    while let Some(conn) = server.accept().await {
                        tokio::spawn(echo(conn));
                    }
                };
                tokio::select! {
                    () = serve => {}
                    _ = stopped => {}
                }
                server.close().await;
            });
        });
        let address = ready_rx.recv().unwrap();
        let mut addresses = Vec::new();
        let (mut net, mut ws) = (None, None);
        for alternative in address.alternatives() {
            let transport = alternative.transport();
            let stack = alternative
                .sections()
                .iter()
                .map(|s| s.name().to_owned())
                .collect::<Vec<_>>()
                .join("~");
            match transport.name() {
                "net" => net = Some(transport.as_str()["net:".len()..].parse().unwrap()),
                "ws" => ws = Some(transport.as_str()["ws://".len()..].parse().unwrap()),
                _ => {}
            }
            addresses.push((
                stack,
                MultiAddress::parse(&alternative.to_string()).unwrap(),
            ));
        }
        assert_eq!(addresses.len(), 3, "{address}");
        Self {
            addresses,
            net: net.unwrap(),
            ws: ws.unwrap(),
            server_key,
            stop: Some(stop),
            thread: Some(thread),
            dir,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `multiserver serve --echo` does with a connection.
async fn echo(conn: Connection) {
    let (mut reader, mut writer) = tokio::io::split(conn);
    let _ = tokio::io::copy(&mut reader, &mut writer).await;
    let _ = writer.shutdown().await;
}

/// One honest echo: dial, write 1 KiB, read it back, close. Within `PROBE_DEADLINE`.
async fn probe(client: &MultiServer, address: &MultiAddress, seed: u32) -> Result<(), String> {
    let exchange = async {
        let mut conn = client
            .connect_to(address)
            .await
            .map_err(|e| e.to_string())?;
        let data = pattern(1024, seed);
        conn.write_all(&data).await.map_err(|e| e.to_string())?;
        conn.flush().await.map_err(|e| e.to_string())?;
        let mut back = vec![0u8; data.len()];
        conn.read_exact(&mut back)
            .await
            .map_err(|e| format!("reading the echo: {e}"))?;
        if back != data {
            return Err("the echo differs".to_owned());
        }
        let _ = conn.shutdown().await;
        Ok(())
    };
    tokio::time::timeout(PROBE_DEADLINE, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no echo within {PROBE_DEADLINE:?}")))
}

/// One stack's result: the stack, how many of `PROBES` honest echoes succeeded, the first
/// failure.
type Probed = (String, usize, Option<String>);

/// Per stack: how many of `PROBES` honest echoes succeeded, and the first failure.
async fn probe_every_stack(node: &Node) -> Vec<Probed> {
    let client_keys = Keypair::from_seed(&[2; 32]);
    let shs = std::sync::Arc::new(Shs::new(client_keys));
    let client = MultiServer::builder()
        .stack(Stack::new(Net::new()).with_shared(shs.clone()))
        .stack(Stack::new(Ws::builder().build().unwrap()).with_shared(shs))
        .stack(Stack::new(Unix::dial_only()).with(Noauth::new(node.server_key)))
        .build()
        .unwrap();
    let probers: Vec<_> = node
        .addresses
        .iter()
        .enumerate()
        .map(|(s, (stack, address))| {
            let (client, stack, address) = (client.clone(), stack.clone(), address.clone());
            tokio::spawn(async move {
                let mut ok = 0;
                let mut first_error = None;
                for i in 0..PROBES {
                    match probe(&client, &address, (s * PROBES + i + 1) as u32).await {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                    tokio::time::sleep(PROBE_GAP).await;
                }
                (stack, ok, first_error)
            })
        })
        .collect();
    let mut results = Vec::new();
    for prober in probers {
        results.push(prober.await.unwrap());
    }
    results
}

async fn under(node: &Node, name: &str, load: Load, figures: &mut Vec<(String, Vec<Probed>)>) {
    let results = probe_every_stack(node).await;
    eprintln!("{name} ({} attacking connections opened):", load.opened());
    for (stack, ok, error) in &results {
        eprintln!(
            "  {stack}: {ok} of {PROBES} honest echoes within {PROBE_DEADLINE:?}{}",
            error
                .as_ref()
                .map(|e| format!(" (first failure: {e})"))
                .unwrap_or_default()
        );
    }
    load.stop().await;
    figures.push((name.to_owned(), results));
    // Let the node notice that the attackers are gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_do_not_lock_honest_peers_out_of_any_stack() {
    let fds = raise_fd_limit();
    // 600 slowloris or 640 reconnecting connections, both ends in this process, plus probes.
    assert!(
        fds >= 1600,
        "the open-file limit is {fds}, too low for this test (it needs about 1600)"
    );
    let node = Node::start();
    let mut figures = Vec::new();

    let silent = load::silent(node.net, 512).await.unwrap();
    under(
        &node,
        "(a) 512 silent connections on net",
        silent,
        &mut figures,
    )
    .await;

    let reconnecting = load::reconnect_loop(node.net, 8, 80);
    tokio::time::sleep(Duration::from_millis(500)).await;
    under(
        &node,
        "(b) 8 x 80 silent connections on net, reconnecting",
        reconnecting,
        &mut figures,
    )
    .await;

    let slowloris = load::slowloris(node.ws, 600, Duration::from_secs(2), false);
    for _ in 0..100 {
        if slowloris.opened() >= 600 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    under(&node, "(c) 600 slowloris on ws", slowloris, &mut figures).await;

    drop(node);
    for (load, results) in &figures {
        for (stack, ok, error) in results {
            assert!(
                *ok >= NEEDED,
                "{load}: only {ok} of {PROBES} honest echoes on {stack} succeeded within \
                 {PROBE_DEADLINE:?} (first failure: {})",
                error.as_deref().unwrap_or("-")
            );
        }
    }
}
