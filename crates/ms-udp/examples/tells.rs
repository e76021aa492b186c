//! Tells per second over the UDP swarm on 127.0.0.1, with batched receives and with one
//! datagram per receive call: `cargo run --release -p ms-udp --example tells [N]`.
//!
//! The same measurement as the `udp swarm` rows of `cargo xtask bench-swarm`, without building
//! the whole workspace: N (default 200,000) 100-byte tells as fast as `tell` returns while the
//! other swarm receives; the rate is what arrived over the time from the first tell to the last
//! arrival (or to 1 s of silence). Three rounds, interleaved; medians.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ms_swarm::Swarm;
use ms_udp::UdpSwarm;

/// Tells/s delivered, how many arrived, and how many of the rest the swarm's own queue dropped
/// (the others were lost in the kernel: a full socket buffer).
async fn run(batch: usize, n: usize) -> Result<(f64, usize, u64), Box<dyn std::error::Error>> {
    let bind = || {
        UdpSwarm::builder()
            .batch(batch)
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
    };
    let a = Arc::new(bind().await?);
    let b = Arc::new(bind().await?);
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 200_000,
    };
    let mut rows = [(ms_udp::MAX_BATCH, Vec::new()), (1, Vec::new())];
    for _ in 0..3 {
        for (batch, runs) in rows.iter_mut() {
            runs.push(run(*batch, n).await?);
        }
    }
    for (batch, mut runs) in rows {
        runs.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (rate, got, dropped) = runs[1];
        println!(
            "udp swarm, batch {batch:>2}: tells {rate:>9.0}/s ({got}/{n} delivered; {dropped} \
             dropped by the swarm's queue, the rest of the loss in the kernel; median of 3)"
        );
    }
    Ok(())
}
