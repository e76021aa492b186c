//! Connection floods, as functions: each starts tasks that keep a node's port busy until the
//! returned [`Load`] is stopped or dropped. Used by the admission tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// A running flood: its tasks, and how many connections it opened.
pub struct Load {
    tasks: JoinSet<()>,
    opened: Arc<AtomicU64>,
}

impl Load {
    /// Connections opened so far (reconnections included).
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Stops every task and closes its connections.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Opens `count` plain TCP connections to `addr` and holds them, sending nothing and never
/// reconnecting: when the server closes one, it stays closed. Returns once all are open.
pub async fn silent(addr: SocketAddr, count: usize) -> std::io::Result<Load> {
    let opened = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await?;
        opened.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let mut buf = [0u8; 64];
            // Hold it until the server hangs up (or the load is stopped).
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            // Keep the socket until stopped, like a peer that does not notice.
            std::future::pending::<()>().await;
        });
    }
    Ok(Load { tasks, opened })
}

/// `tasks` tasks, each keeping `per_task` silent TCP connections to `addr` open: as soon as the
/// server closes one, it opens another, as fast as it can.
pub fn reconnect_loop(addr: SocketAddr, tasks: usize, per_task: usize) -> Load {
    let opened = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        let opened = opened.clone();
        set.spawn(async move {
            let mut slots = JoinSet::new();
            for _ in 0..per_task {
                let opened = opened.clone();
                slots.spawn(async move {
                    loop {
                        let Ok(mut stream) = TcpStream::connect(addr).await else {
                            tokio::task::yield_now().await;
                            continue;
                        };
                        opened.fetch_add(1, Ordering::Relaxed);
                        let mut buf = [0u8; 64];
                        while let Ok(n) = stream.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                });
            }
            while slots.join_next().await.is_some() {}
        });
    }
    Load { tasks: set, opened }
}

/// `count` slowloris connections to the HTTP (WebSocket) server at `addr`: each sends the start
/// of a request head, then one more byte every `interval`, never finishing it; when the server
/// closes one, it opens another at the next tick (as the `slowloris` tool does), or at once
/// with `reconnect_at_once`.
pub fn slowloris(
    addr: SocketAddr,
    count: usize,
    interval: Duration,
    reconnect_at_once: bool,
) -> Load {
    let opened = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for i in 0..count {
        let opened = opened.clone();
        set.spawn(async move {
            for round in 0u64.. {
                if round > 0 && !reconnect_at_once {
                    tokio::time::sleep(interval).await;
                }
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let head = format!(
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow-{i}: "
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    continue;
                }
                let mut buf = [0u8; 256];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        },
                        () = tokio::time::sleep(interval) => {
                            if stream.write_all(b"a").await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
    }
    Load { tasks: set, opened }
}
