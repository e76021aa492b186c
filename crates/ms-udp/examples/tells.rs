//! Tells per second over the UDP swarm on 127.0.0.1, receiving in batches (`recvmmsg`) and one
//! datagram per call: `cargo run --release -p ms-udp --example tells [N]`.
//!
//! N (default 200,000) 100-byte tells, sent as fast as `tell` returns, measured two ways:
//!
//! - **socket side**: the receiving swarm's queue holds all N and nobody reads during the run,
//!   so what is lost is lost in the kernel (a full socket buffer while the receive task was
//!   behind); the rate is what the receive task took off the socket, up to its last datagram.
//!   This is what batching is for.
//! - **end to end** (the `udp swarm` rows of `cargo xtask bench-swarm`): default queue, a task
//!   receiving with a 1 s timeout per call; the rate is what it got, up to the last arrival;
//!   loss is in the kernel or in the swarm's queue (drop-newest), reported apart.
//!
//! Three rounds, the batch sizes interleaved; medians.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ms_swarm::Swarm;
use ms_udp::UdpSwarm;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn pair(batch: usize, queue: Option<usize>) -> Res<(Arc<UdpSwarm>, Arc<UdpSwarm>)> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let a = UdpSwarm::builder().batch(batch).bind(loopback).await?;
    let mut b = UdpSwarm::builder().batch(batch);
    if let Some(n) = queue {
        b = b.queue_messages(n).queue_bytes(n * 200);
    }
    Ok((Arc::new(a), Arc::new(b.bind(loopback).await?)))
}

/// Socket side: (datagrams/s taken off the socket, how many).
async fn socket_side(batch: usize, n: usize) -> Res<(f64, u64)> {
    let (a, b) = pair(batch, Some(n)).await?;
    let dst = b.local_addrs()[0];
    let payload = Bytes::from(vec![7u8; 100]);
    let start = Instant::now();
    for _ in 0..n {
        a.tell(&dst, payload.clone()).await?;
    }
    // Until nothing more comes for 200 ms.
    let (mut seen, mut last) = (b.stats().received, Instant::now());
    while last.elapsed() < Duration::from_millis(200) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = b.stats().received;
        if now != seen {
            (seen, last) = (now, Instant::now());
        }
    }
    a.close().await?;
    b.close().await?;
    Ok((seen as f64 / last.duration_since(start).as_secs_f64(), seen))
}

/// End to end: (tells/s delivered, how many, how many the swarm's queue dropped).
async fn end_to_end(batch: usize, n: usize) -> Res<(f64, usize, u64)> {
    let (a, b) = pair(batch, None).await?;
    let dst = b.local_addrs()[0];
    let payload = Bytes::from(vec![7u8; 100]);
    let receiver = {
        let b = b.clone();
        tokio::spawn(async move {
            let mut got = 0usize;
            let mut last = Instant::now();
            while got < n {
                match tokio::time::timeout(Duration::from_secs(1), b.receive()).await {
                    Ok(Ok(_)) => {
                        got += 1;
                        last = Instant::now();
                    }
                    _ => break,
                }
            }
            (got, last)
        })
    };
    let start = Instant::now();
    for _ in 0..n {
        a.tell(&dst, payload.clone()).await?;
    }
    let (got, last) = receiver.await?;
    let dropped = b.stats().dropped;
    a.close().await?;
    b.close().await?;
    let rate = got as f64 / last.duration_since(start).as_secs_f64().max(1e-9);
    Ok((rate, got, dropped))
}

fn median<T: Copy>(mut runs: Vec<(f64, T)>) -> (f64, T) {
    runs.sort_by(|x, y| x.0.total_cmp(&y.0));
    runs[runs.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 200_000,
    };
    let batches = [ms_udp::MAX_BATCH, 1];
    let mut socket: Vec<Vec<(f64, u64)>> = vec![Vec::new(); 2];
    let mut e2e: Vec<Vec<(f64, (usize, u64))>> = vec![Vec::new(); 2];
    for _ in 0..3 {
        for (i, batch) in batches.iter().enumerate() {
            socket[i].push(socket_side(*batch, n).await?);
            let (rate, got, dropped) = end_to_end(*batch, n).await?;
            e2e[i].push((rate, (got, dropped)));
        }
    }
    for (i, batch) in batches.iter().enumerate() {
        let (rate, taken) = median(socket[i].clone());
        println!(
            "batch {batch:>2}, socket side: {rate:>9.0} datagrams/s taken off the socket \
             ({taken}/{n}; the rest lost in the kernel)"
        );
        let (rate, (got, dropped)) = median(e2e[i].clone());
        println!(
            "batch {batch:>2}, end to end:  {rate:>9.0} tells/s delivered ({got}/{n}; \
             {dropped} dropped by the swarm's queue, the rest in the kernel)"
        );
    }
    Ok(())
}
