//! `cargo xtask soak --minutes N`: honest and hostile load against one `net~shs` node for N
//! minutes; reports connections served, bytes verified, errors by kind, and memory.
//!
//! Honest clients dial, echo a checked pattern of random size and close, in a loop. Hostile
//! peers cycle through every attack of `ms_system_tests::Attack`. The run fails (exit 1) if an
//! honest exchange failed or came back corrupted, if a refused key reached the application, or
//! if the node's tasks did not go back to their baseline after the load stopped. Loopback only.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ms_core::{AuthValue, Event, MultiServer, Scope, Stack};
use ms_net::Net;
use ms_shs::{Keypair, NetworkKey, Shs};
use ms_system_tests::{Attack, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
usage: cargo xtask soak [--minutes N] [--honest N] [--hostile N]

  --minutes N   how long the load runs (default 1)
  --honest N    honest clients dialling in a loop (default 8)
  --hostile N   hostile peers attacking in a loop (default 8)

Writes target/soak/soak.json next to the printed report.";

#[derive(Default)]
struct Counters {
    honest_connections: AtomicU64,
    honest_failures: AtomicU64,
    corrupted: AtomicU64,
    bytes_verified: AtomicU64,
    attacks: AtomicU64,
    accepted: AtomicU64,
    stream_errors: AtomicU64,
    refused_admitted: AtomicU64,
    rejections: Mutex<BTreeMap<String, u64>>,
    honest_errors: Mutex<BTreeMap<String, u64>>,
}

pub fn soak(args: &[String]) -> ExitCode {
    let mut minutes = 1.0f64;
    let mut honest = 8usize;
    let mut hostile = 8usize;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value =
            |it: &mut std::slice::Iter<'_, String>| it.next().and_then(|v| v.parse::<f64>().ok());
        match arg.as_str() {
            "--minutes" => match value(&mut it) {
                Some(v) if v > 0.0 => minutes = v,
                _ => return usage_error("--minutes needs a positive number"),
            },
            "--honest" => match value(&mut it) {
                Some(v) if v >= 1.0 => honest = v as usize,
                _ => return usage_error("--honest needs a number ≥ 1"),
            },
            "--hostile" => match value(&mut it) {
                Some(v) if v >= 0.0 => hostile = v as usize,
                _ => return usage_error("--hostile needs a number ≥ 0"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown option `{other}`")),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtask soak: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(
        Duration::from_secs_f64(minutes * 60.0),
        honest,
        hostile,
    ))
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("xtask soak: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: String) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(key).or_default() += 1;
}

async fn run(duration: Duration, honest: usize, hostile: usize) -> ExitCode {
    let server_keys = Keypair::from_seed(&[1; 32]);
    let refused = Keypair::from_seed(&[66; 32]);
    let refused_key = refused.public();
    let shs = Shs::new(server_keys.clone())
        .timeout(Duration::from_secs(3))
        .authorize(
            move |client| async move { (client != refused_key).then(|| AuthValue::new(())) },
        );
    let node = match MultiServer::builder()
        .stack(Stack::new(Net::new()).with(shs))
        .inbound_timeout(Duration::from_secs(5))
        .event_buffer(4096)
        .build()
    {
        Ok(node) => node,
        Err(e) => {
            eprintln!("xtask soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tasks_before = alive_tasks();
    let mut server = match node.listen().await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("xtask soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = server.address(Scope::Device);
    let Some(addr) = address
        .alternatives()
        .first()
        .and_then(|a| a.transport().as_str().strip_prefix("net:"))
        .and_then(|a| a.parse().ok())
    else {
        eprintln!("xtask soak: unexpected address {address}");
        return ExitCode::FAILURE;
    };
    let counters = Arc::new(Counters::default());
    let closer = server.close_handle();

    // The application: echo every connection.
    let app = tokio::spawn({
        let counters = counters.clone();
        async move {
            while let Some(event) = server.next_event().await {
                match event {
                    Event::Connected(conn) => {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                        if conn.remote_ed25519() == Some(&refused_key) {
                            counters.refused_admitted.fetch_add(1, Ordering::SeqCst);
                        }
                        let counters = counters.clone();
                        tokio::spawn(async move {
                            let (mut r, mut w) = tokio::io::split(conn);
                            if tokio::io::copy(&mut r, &mut w).await.is_err() {
                                counters.stream_errors.fetch_add(1, Ordering::Relaxed);
                            }
                            let _ = w.shutdown().await;
                        });
                    }
                    Event::Rejected { error, .. } => bump(
                        &counters.rejections,
                        ms_system_tests::rejection_kind(&error),
                    ),
                    _ => {}
                }
            }
        }
    });

    let rss_start = rss_kib("VmRSS:");
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for i in 0..honest {
        let client =
            match MultiServer::new([Stack::new(Net::new())
                .with(Shs::new(Keypair::from_seed(&[10 + (i % 200) as u8; 32])))])
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("xtask soak: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let (address, counters, stop) = (address.clone(), counters.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let seed = (i as u32) << 20 | round;
                let len = 1
                    + (ms_testkit::pattern(4, seed)
                        .iter()
                        .fold(0usize, |a, b| a * 256 + *b as usize)
                        % (256 * 1024));
                match honest_round(&client, &address, len, seed).await {
                    Ok(true) => {
                        counters.honest_connections.fetch_add(1, Ordering::Relaxed);
                        counters
                            .bytes_verified
                            .fetch_add(len as u64, Ordering::Relaxed);
                    }
                    Ok(false) => {
                        counters.corrupted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        counters.honest_failures.fetch_add(1, Ordering::SeqCst);
                        bump(&counters.honest_errors, e);
                    }
                }
            }
        }));
    }
    let target = Target {
        addr,
        server_key: server_keys.public(),
        network: NetworkKey::MAINNET,
        refused,
        patience: Duration::from_secs(6),
    };
    for i in 0..hostile {
        let (target, counters, stop) = (target.clone(), counters.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let attack = Attack::ALL[n % Attack::ALL.len()];
                let _ = ms_system_tests::run(attack, &target, n as u64).await;
                counters.attacks.fetch_add(1, Ordering::Relaxed);
                n += hostile.max(1);
            }
        }));
    }

    // Progress once a minute (or at the end of a shorter run).
    let mut next_report = started + Duration::from_secs(60);
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            println!(
                "{:>5.1} min: {} honest connections, {} MB verified, {} attacks, {} honest failures, RSS {} MiB",
                started.elapsed().as_secs_f64() / 60.0,
                counters.honest_connections.load(Ordering::Relaxed),
                counters.bytes_verified.load(Ordering::Relaxed) / 1_000_000,
                counters.attacks.load(Ordering::Relaxed),
                counters.honest_failures.load(Ordering::Relaxed),
                rss_kib("VmRSS:") / 1024,
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        let _ = worker.await;
    }
    // Let the node finish off what is left (its inbound deadline), then close it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    closer.close();
    let _ = app.await;
    drop(node);
    let mut tasks_after = alive_tasks();
    for _ in 0..50 {
        if tasks_after <= tasks_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tasks_after = alive_tasks();
    }
    let rss_end = rss_kib("VmRSS:");
    let rss_peak = rss_kib("VmHWM:");
    report(
        &counters,
        started.elapsed(),
        (rss_start, rss_peak, rss_end),
        (tasks_before, tasks_after),
    )
}

/// One honest exchange: dial, echo `len` checked bytes, close. `Ok(false)`: corrupted.
async fn honest_round(
    client: &MultiServer,
    address: &ms_core::MultiAddress,
    len: usize,
    seed: u32,
) -> Result<bool, String> {
    let data = ms_testkit::pattern(len, seed);
    let exchange = async {
        let conn = client
            .connect_to(address)
            .await
            .map_err(|e| e.to_string())?;
        let (mut reader, mut writer) = tokio::io::split(conn);
        let write = async {
            writer.write_all(&data).await?;
            writer.shutdown().await
        };
        let read = async {
            let mut back = Vec::with_capacity(len);
            reader.read_to_end(&mut back).await.map(|_| back)
        };
        let (wrote, back) = tokio::join!(write, read);
        wrote.map_err(|e| format!("write: {e}"))?;
        let back = back.map_err(|e| format!("read: {e}"))?;
        Ok::<bool, String>(back == data)
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

fn report(
    c: &Counters,
    elapsed: Duration,
    (rss_start, rss_peak, rss_end): (u64, u64, u64),
    (tasks_before, tasks_after): (usize, usize),
) -> ExitCode {
    let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
    let rejections = c.rejections.lock().map(|m| m.clone()).unwrap_or_default();
    let honest_errors = c
        .honest_errors
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    println!(
        "\nsoak: {:.1} minutes against one net~shs node",
        elapsed.as_secs_f64() / 60.0
    );
    println!("| figure | value |\n|---|--:|");
    println!(
        "| honest connections (each echoed and verified) | {} |",
        get(&c.honest_connections)
    );
    println!("| bytes verified | {} |", get(&c.bytes_verified));
    println!("| honest failures | {} |", get(&c.honest_failures));
    println!("| corrupted echoes | {} |", get(&c.corrupted));
    println!("| hostile connections | {} |", get(&c.attacks));
    println!(
        "| connections accepted by the node | {} |",
        get(&c.accepted)
    );
    println!(
        "| stream errors after a good handshake (bad frames, resets) | {} |",
        get(&c.stream_errors)
    );
    println!(
        "| refused keys that reached the application | {} |",
        get(&c.refused_admitted)
    );
    for (kind, n) in &rejections {
        println!("| rejected: {kind} | {n} |");
    }
    for (kind, n) in &honest_errors {
        println!("| honest failure: {kind} | {n} |");
    }
    println!(
        "| RSS at start / peak / after the load, MiB | {:.1} / {:.1} / {:.1} |",
        rss_start as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    println!("| tasks before / after | {tasks_before} / {tasks_after} |");
    let json = serde_json::json!({
        "minutes": elapsed.as_secs_f64() / 60.0,
        "honest_connections": get(&c.honest_connections),
        "bytes_verified": get(&c.bytes_verified),
        "honest_failures": get(&c.honest_failures),
        "honest_errors": honest_errors,
        "corrupted": get(&c.corrupted),
        "hostile_connections": get(&c.attacks),
        "accepted": get(&c.accepted),
        "stream_errors": get(&c.stream_errors),
        "refused_admitted": get(&c.refused_admitted),
        "rejections": rejections,
        "rss_kib": {"start": rss_start, "peak": rss_peak, "end": rss_end},
        "tasks": {"before": tasks_before, "after": tasks_after},
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/soak");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("soak.json"), format!("{json:#}\n"));
    }
    let ok = get(&c.honest_failures) == 0
        && get(&c.corrupted) == 0
        && get(&c.refused_admitted) == 0
        && tasks_after <= tasks_before;
    if ok {
        println!("\nsoak passed");
        ExitCode::SUCCESS
    } else {
        println!("\nsoak FAILED");
        ExitCode::FAILURE
    }
}
