//! Limits and deadlines of a [`StackSwarm`](crate::StackSwarm).

use std::time::Duration;

/// Limits and deadlines. Every field has a default; set them with the
/// [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Largest tell payload (default 64 KiB: go-p2p's in-memory default, 16 box-stream frames
    /// of `shs`, and small enough that one frame in flight per connection is cheap).
    pub mtu: usize,
    /// Largest ask request or answer (default 1 MiB, go-p2p's QUIC swarm MTU).
    pub max_ask_size: usize,
    /// Deadline of an [`ask`](ms_swarm::AskSwarm::ask), dial included (default 30 s).
    pub ask_timeout: Duration,
    /// How long an incoming request waits for the application's answer before the asker is
    /// told it timed out (default 30 s).
    pub incoming_ask_timeout: Duration,
    /// How long a [`tell`](ms_swarm::Swarm::tell) waits for room in a connection's send queue
    /// before failing with [`SwarmError::Timeout`](ms_swarm::SwarmError::Timeout) (default 10 s).
    pub tell_timeout: Duration,
    /// A connection with no frame in either direction and no request in flight for this long
    /// is closed (default 60 s).
    pub idle_timeout: Duration,
    /// Received tells waiting for [`receive`](ms_swarm::Swarm::receive), all peers together
    /// (default 4096). More are dropped and counted.
    pub receive_queue: usize,
    /// Received tells of one peer waiting for `receive` (default 1024, room for what one
    /// 64 KiB read brings of 100-byte tells): one flooding peer cannot fill the whole queue.
    /// More are dropped and counted.
    pub receive_queue_per_peer: usize,
    /// Bytes of received tells waiting for `receive`, all peers together (default 16 MiB;
    /// each tell counts its payload and 64 bytes). More are dropped and counted.
    pub receive_queue_bytes: usize,
    /// Bytes of one peer's tells waiting for `receive` (default 4 MiB).
    pub receive_queue_bytes_per_peer: usize,
    /// Received requests waiting for [`next_ask`](ms_swarm::AskSwarm::next_ask) (default 256).
    /// More are rejected as busy at once.
    pub ask_queue: usize,
    /// Requests in flight per connection, in each direction (default 64). Our own asks beyond
    /// it wait for a slot (within their deadline); a peer's requests beyond it are rejected as
    /// busy at once.
    pub max_asks_in_flight: usize,
    /// Frames waiting to be written to one connection (default 256). Tells wait for room
    /// (see `tell_timeout`).
    pub send_queue: usize,
}

/// The protocol carries sizes as u32; every limit stays below this.
pub(crate) const MAX_LIMIT: usize = (u32::MAX as usize) - 64;

impl Default for Config {
    fn default() -> Self {
        Self {
            mtu: 64 * 1024,
            max_ask_size: 1024 * 1024,
            ask_timeout: Duration::from_secs(30),
            incoming_ask_timeout: Duration::from_secs(30),
            tell_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            receive_queue: 4096,
            receive_queue_per_peer: 1024,
            receive_queue_bytes: 16 << 20,
            receive_queue_bytes_per_peer: 4 << 20,
            ask_queue: 256,
            max_asks_in_flight: 64,
            send_queue: 256,
        }
    }
}
