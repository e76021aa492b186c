//! Limits and deadlines of a [`QuicSwarm`](crate::QuicSwarm).

use std::time::Duration;

use ms_shs::NetworkKey;

/// Limits and deadlines of a [`QuicSwarm`](crate::QuicSwarm); `Config::default()` and the
/// `with_*` setters.
///
/// ```
/// use std::time::Duration;
/// let config = ms_quicswarm::Config::default()
///     .with_ask_timeout(Duration::from_secs(5))
///     .with_max_ask(64 * 1024);
/// assert_eq!(config.max_ask(), 64 * 1024);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    mtu: usize,
    max_ask: usize,
    ask_timeout: Duration,
    dial_timeout: Duration,
    idle_timeout: Duration,
    read_timeout: Duration,
    queue_len: usize,
    streams_per_connection: u32,
    address_table_len: usize,
    network_key: NetworkKey,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mtu: 64 * 1024,
            max_ask: 1024 * 1024,
            ask_timeout: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(10),
            queue_len: 1024,
            streams_per_connection: 256,
            address_table_len: 4096,
            network_key: NetworkKey::MAINNET,
        }
    }
}

macro_rules! setting {
    ($(#[$doc:meta])* $field:ident, $with:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $field(&self) -> $ty {
            self.$field
        }

        $(#[$doc])*
        #[must_use]
        pub fn $with(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
    };
}

impl Config {
    setting!(
        /// The largest tell (default 64 KiB). Tells that fit in a QUIC datagram go as one;
        /// larger ones go on a unidirectional stream each.
        mtu, with_mtu, usize
    );
    setting!(
        /// The largest request and the largest answer (default 1 MiB).
        max_ask, with_max_ask, usize
    );
    setting!(
        /// How long an ask waits for its answer (default 30 s): then [`SwarmError::Timeout`](ms_swarm::SwarmError::Timeout).
        ask_timeout, with_ask_timeout, Duration
    );
    setting!(
        /// How long a dial (QUIC + TLS handshake) may take (default 10 s).
        dial_timeout, with_dial_timeout, Duration
    );
    setting!(
        /// A connection with no packet either way for this long is closed (default 30 s);
        /// the next message dials again.
        idle_timeout, with_idle_timeout, Duration
    );
    setting!(
        /// How long a peer may take to send a whole request or streamed tell (default 10 s).
        read_timeout, with_read_timeout, Duration
    );
    setting!(
        /// Received tells and asks waiting for `receive` / `next_ask`, and packets waiting in
        /// the packet-swarm adapter (default 1024 each). A full ask queue refuses (busy).
        queue_len, with_queue_len, usize
    );
    setting!(
        /// Concurrent streams a peer may open on one connection, each direction and kind:
        /// asks in flight and streamed tells (default 256).
        streams_per_connection, with_streams_per_connection, u32
    );
    setting!(
        /// Packet-swarm addresses remembered by the socket adapter (default 4096).
        address_table_len, with_address_table_len, usize
    );
    setting!(
        /// The SSB network (`caps.shs`) this node belongs to (default the main network): peers
        /// of another network fail the handshake (`ms_quic`'s network tag).
        network_key, with_network_key, NetworkKey
    );
}
