//! Any packet swarm as quinn's UDP socket ([`quinn::AsyncUdpSocket`]).
//!
//! quinn keys connections by [`SocketAddr`], so every swarm address the socket meets gets a
//! *synthetic* socket address: the IPv6 address `fd6d:7371::<n>` (a unique-local prefix, `n` a
//! 64-bit counter, never reused) with port 1. This node's own synthetic address is
//! `[fd6d:7371::]:1`. The table is bounded ([`Config::address_table_len`](crate::Config)):
//! when full, the least recently used entry is forgotten (a connection still using it loses its
//! packets until the peer sends again, which makes a new entry).
//!
//! Sending is [`Swarm::tell`] on a task fed by a bounded queue; a packet the queue cannot take,
//! or the swarm refuses (too large, unreachable), is dropped and counted: QUIC tolerates loss.
//! Receiving is [`Swarm::receive`] on a task feeding a bounded queue that
//! [`poll_recv`](quinn::AsyncUdpSocket::poll_recv) drains.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use ms_swarm::Swarm;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The synthetic address of the socket itself.
pub(crate) const LOCAL: SocketAddr = synthetic(0);

const fn synthetic(n: u64) -> SocketAddr {
    let ip = Ipv6Addr::new(
        0xfd6d,
        0x7371,
        0,
        0,
        (n >> 48) as u16,
        (n >> 32) as u16,
        (n >> 16) as u16,
        n as u16,
    );
    SocketAddr::V6(SocketAddrV6::new(ip, 1, 0, 0))
}

/// Counters of the socket adapter.
#[derive(Debug, Default)]
pub(crate) struct SocketStats {
    pub(crate) dropped_out: AtomicU64,
    pub(crate) dropped_in: AtomicU64,
}

/// Swarm address <-> synthetic socket address, bounded, least recently used forgotten first.
#[derive(Debug)]
pub(crate) struct AddrTable<A> {
    by_addr: HashMap<A, (SocketAddr, u64)>,
    by_socket: HashMap<SocketAddr, A>,
    next: u64,
    clock: u64,
    cap: usize,
}

impl<A: ms_swarm::Addr> AddrTable<A> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            by_addr: HashMap::new(),
            by_socket: HashMap::new(),
            next: 1,
            clock: 0,
            cap: cap.max(1),
        }
    }

    /// The synthetic address of `addr`, made if new.
    pub(crate) fn socket_of(&mut self, addr: &A) -> SocketAddr {
        self.clock += 1;
        if let Some((sock, used)) = self.by_addr.get_mut(addr) {
            *used = self.clock;
            return *sock;
        }
        if self.by_addr.len() >= self.cap {
            let oldest = self
                .by_addr
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(a, (s, _))| (a.clone(), *s));
            if let Some((a, s)) = oldest {
                self.by_addr.remove(&a);
                self.by_socket.remove(&s);
            }
        }
        let sock = synthetic(self.next);
        self.next += 1;
        self.by_addr.insert(addr.clone(), (sock, self.clock));
        self.by_socket.insert(sock, addr.clone());
        sock
    }

    /// The swarm address behind a synthetic address, if it is still in the table.
    pub(crate) fn addr_of(&mut self, sock: SocketAddr) -> Option<A> {
        let addr = self.by_socket.get(&sock)?.clone();
        self.clock += 1;
        if let Some((_, used)) = self.by_addr.get_mut(&addr) {
            *used = self.clock;
        }
        Some(addr)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_addr.len()
    }
}

/// quinn's socket over the packet swarm `S`.
pub(crate) struct SwarmSocket<A> {
    table: Arc<Mutex<AddrTable<A>>>,
    inbox: Mutex<mpsc::Receiver<(SocketAddr, Bytes)>>,
    outbox: mpsc::Sender<(A, Bytes)>,
    stats: Arc<SocketStats>,
}

impl<A> fmt::Debug for SwarmSocket<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwarmSocket").finish_non_exhaustive()
    }
}

impl<A: ms_swarm::Addr> SwarmSocket<A> {
    /// The socket over `swarm`, with its pump tasks (ended by `cancel`).
    pub(crate) fn new<S: Swarm<Addr = A> + 'static>(
        swarm: Arc<S>,
        table: Arc<Mutex<AddrTable<A>>>,
        queue_len: usize,
        cancel: CancellationToken,
    ) -> (Self, Arc<SocketStats>) {
        let stats = Arc::new(SocketStats::default());
        let (in_tx, in_rx) = mpsc::channel(queue_len.max(1));
        let (out_tx, mut out_rx) = mpsc::channel::<(A, Bytes)>(queue_len.max(1));
        {
            let (swarm, table, stats, cancel) =
                (swarm.clone(), table.clone(), stats.clone(), cancel.clone());
            tokio::spawn(async move {
                loop {
                    let msg = tokio::select! {
                        () = cancel.cancelled() => break,
                        msg = swarm.receive() => msg,
                    };
                    let msg = match msg {
                        Ok(msg) => msg,
                        Err(e) if e.is_closed() => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "quicswarm: packet swarm receive failed");
                            continue;
                        }
                    };
                    let sock = match table.lock() {
                        Ok(mut t) => t.socket_of(&msg.src),
                        Err(_) => break,
                    };
                    if in_tx.try_send((sock, msg.payload)).is_err() {
                        stats.dropped_in.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        {
            let (stats, cancel) = (stats.clone(), cancel);
            tokio::spawn(async move {
                loop {
                    let next = tokio::select! {
                        () = cancel.cancelled() => break,
                        next = out_rx.recv() => next,
                    };
                    let Some((dst, payload)) = next else { break };
                    if let Err(e) = swarm.tell(&dst, payload).await {
                        if e.is_closed() {
                            break;
                        }
                        tracing::trace!(error = %e, %dst, "quicswarm: packet dropped");
                        stats.dropped_out.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let socket = Self {
            table,
            inbox: Mutex::new(in_rx),
            outbox: out_tx,
            stats: stats.clone(),
        };
        (socket, stats)
    }

    fn send_one(&self, dst: &A, contents: &[u8]) {
        let packet = Bytes::copy_from_slice(contents);
        if self.outbox.try_send((dst.clone(), packet)).is_err() {
            self.stats.dropped_out.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Always writable: a full queue drops instead of blocking.
#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<A: ms_swarm::Addr> AsyncUdpSocket for SwarmSocket<A> {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let dst = match self.table.lock() {
            Ok(mut t) => t.addr_of(transmit.destination),
            Err(_) => return Err(io::Error::other("address table poisoned")),
        };
        let Some(dst) = dst else {
            // Forgotten (table full) or never known: lost, as on a network.
            self.stats.dropped_out.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        match transmit.segment_size {
            Some(size) if size > 0 && size < transmit.contents.len() => {
                for chunk in transmit.contents.chunks(size) {
                    self.send_one(&dst, chunk);
                }
            }
            _ => self.send_one(&dst, transmit.contents),
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let Ok(mut inbox) = self.inbox.lock() else {
            return Poll::Ready(Err(io::Error::other("socket queue poisoned")));
        };
        let max = bufs.len().min(meta.len());
        let mut n = 0;
        while n < max {
            let next = if n == 0 {
                match inbox.poll_recv(cx) {
                    Poll::Ready(Some(next)) => next,
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                match inbox.try_recv() {
                    Ok(next) => next,
                    Err(_) => break,
                }
            };
            let (src, payload) = next;
            let buf = &mut bufs[n];
            if payload.len() > buf.len() {
                // Larger than quinn's buffer: not a QUIC packet of this endpoint's size.
                self.stats.dropped_in.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            buf[..payload.len()].copy_from_slice(&payload);
            meta[n] = RecvMeta {
                addr: src,
                len: payload.len(),
                stride: payload.len(),
                ecn: None,
                dst_ip: None,
            };
            n += 1;
        }
        if n == 0 {
            // Only oversized packets were queued: ask to be polled again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(LOCAL)
    }

    fn may_fragment(&self) -> bool {
        // Packets pass whole or not at all; quinn's path MTU discovery is off either way
        // (the initial MTU is the packet swarm's).
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_bounded_and_forgets_least_recently_used() {
        let mut t = AddrTable::<u32>::new(2);
        let a = t.socket_of(&1);
        let b = t.socket_of(&2);
        assert_ne!(a, b);
        assert_eq!(t.addr_of(a), Some(1)); // 1 used more recently than 2
        let c = t.socket_of(&3);
        assert_eq!(t.len(), 2);
        assert_eq!(t.addr_of(b), None, "the least recently used entry stays");
        assert_eq!(t.addr_of(a), Some(1));
        assert_eq!(t.addr_of(c), Some(3));
        assert_ne!(c, a);
        assert_ne!(c, b, "a synthetic address is never reused");
        assert_ne!(a, LOCAL);
    }
}
