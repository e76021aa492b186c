//! Settings of a DHT node, the value validator and the node's errors.

use std::sync::Arc;

use ms_swarm::SwarmError;
use tokio::time::Duration;

use crate::id::{Key, NodeId};
use crate::store::RateLimit;
use crate::wire::WireError;

/// Decides whether a value may be stored under a key, by holders when a store arrives and by
/// the reader when a lookup finds it.
///
/// The swarm contract authenticates *senders* but offers no signatures, so a holder could
/// hand out a value that was never published. A validator makes values self-certifying:
/// [`ContentAddressed`] (the key is the hash of the value) is the strict choice;
/// [`AcceptAll`] (the default) trusts holders and relies on disjoint lookups and the
/// no-overwrite rule for replicas (see docs/dht.md).
pub trait Validator: Send + Sync + std::fmt::Debug {
    /// True when `value`, said to be published by `publisher`, is acceptable under `key`.
    fn validate(&self, key: &Key, value: &[u8], publisher: &NodeId) -> bool;
}

/// Accepts every value.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl Validator for AcceptAll {
    fn validate(&self, _: &Key, _: &[u8], _: &NodeId) -> bool {
        true
    }
}

/// Accepts a value only under the key `NodeId::hash(value)`.
///
/// ```
/// use ms_kad::{ContentAddressed, NodeId, Validator};
/// let key = NodeId::hash(b"hello");
/// assert!(ContentAddressed.validate(&key, b"hello", &key));
/// assert!(!ContentAddressed.validate(&key, b"forged", &key));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ContentAddressed;

impl Validator for ContentAddressed {
    fn validate(&self, key: &Key, value: &[u8], _: &NodeId) -> bool {
        NodeId::hash(value) == *key
    }
}

/// How a DHT node behaves. Start from [`Config::default`] and change what you need.
///
/// ```
/// use std::time::Duration;
/// let config = ms_kad::Config::default().with_k(8).with_alpha(2).with_disjoint_paths(2)
///     .with_request_timeout(Duration::from_secs(2));
/// assert_eq!(config.k, 8);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Contacts per bucket, nodes a value is stored at, contacts per answer (default 20,
    /// at most 255).
    pub k: usize,
    /// Requests in flight per lookup path (default 3).
    pub alpha: usize,
    /// Disjoint lookup paths (S/Kademlia's d; default 2; 1 is plain Kademlia).
    pub disjoint_paths: usize,
    /// How long one request may take (default 5 s).
    pub request_timeout: Duration,
    /// The largest value, in bytes (default 1024, at most 65535 and the swarm's MTU less 80).
    pub max_value: usize,
    /// How long a published value lives without republishing (default 24 h).
    pub record_ttl: Duration,
    /// The longest time-to-live a holder accepts (default 24 h).
    pub max_ttl: Duration,
    /// How often a publisher republishes its values (default 12 h).
    pub republish_interval: Duration,
    /// How often a holder replicates what it holds to the k closest nodes (default 1 h).
    pub replicate_interval: Duration,
    /// A bucket not looked up in for this long is refreshed (default 1 h).
    pub refresh_interval: Duration,
    /// Requests each peer may make (default 20/s, bursts of 100); `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// The most records a node holds for others (default 10,000).
    pub max_records: usize,
    /// After the self-lookup, [`bootstrap`](crate::Kad::bootstrap) refreshes every bucket
    /// farther than the closest neighbour (Kademlia's join; default true).
    pub bootstrap_refresh: bool,
    /// Run refresh, republish, replication and expiry on their intervals (default true).
    pub maintenance: bool,
    /// Which values are acceptable (default [`AcceptAll`]).
    pub validator: Arc<dyn Validator>,
    /// How long a peer that lied is ignored: not asked, not let into the routing table
    /// (default 1 h). A peer is banned at once for a malformed, oversized or wrong-kind
    /// answer or a value the validator refuses, and after three contacts it introduced turned
    /// out to be someone else.
    pub ban_duration: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            k: 20,
            alpha: 3,
            disjoint_paths: 2,
            request_timeout: Duration::from_secs(5),
            max_value: 1024,
            record_ttl: Duration::from_secs(24 * 3600),
            max_ttl: Duration::from_secs(24 * 3600),
            republish_interval: Duration::from_secs(12 * 3600),
            replicate_interval: Duration::from_secs(3600),
            refresh_interval: Duration::from_secs(3600),
            rate_limit: Some(RateLimit::new(20.0, 100.0)),
            max_records: 10_000,
            bootstrap_refresh: true,
            maintenance: true,
            validator: Arc::new(AcceptAll),
            ban_duration: Duration::from_secs(3600),
        }
    }
}

impl Config {
    /// With `k` contacts per bucket.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// With `alpha` requests in flight per path.
    pub fn with_alpha(mut self, alpha: usize) -> Self {
        self.alpha = alpha;
        self
    }
    /// With `d` disjoint lookup paths.
    pub fn with_disjoint_paths(mut self, d: usize) -> Self {
        self.disjoint_paths = d;
        self
    }
    /// With this per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// With values of at most `max` bytes.
    pub fn with_max_value(mut self, max: usize) -> Self {
        self.max_value = max;
        self
    }
    /// With this time-to-live for published values.
    pub fn with_record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = ttl;
        self
    }
    /// With this per-peer limit on incoming requests (`None`: unlimited).
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }
    /// With or without the bucket refresh after joining.
    pub fn with_bootstrap_refresh(mut self, on: bool) -> Self {
        self.bootstrap_refresh = on;
        self
    }
    /// With or without background maintenance.
    pub fn with_maintenance(mut self, on: bool) -> Self {
        self.maintenance = on;
        self
    }
    /// With the republish, replicate and refresh intervals.
    pub fn with_intervals(
        mut self,
        republish: Duration,
        replicate: Duration,
        refresh: Duration,
    ) -> Self {
        self.republish_interval = republish;
        self.replicate_interval = replicate;
        self.refresh_interval = refresh;
        self
    }
    /// With this validator.
    pub fn with_validator(mut self, validator: Arc<dyn Validator>) -> Self {
        self.validator = validator;
        self
    }

    pub(crate) fn check(&self, mtu: usize) -> Result<(), KadError> {
        if self.k == 0 || self.k > 255 {
            return Err(KadError::Config("k must be in 1..=255"));
        }
        if self.alpha == 0 || self.disjoint_paths == 0 {
            return Err(KadError::Config(
                "alpha and disjoint_paths must be at least 1",
            ));
        }
        if self.max_value > usize::from(u16::MAX) || self.max_value + 80 > mtu {
            return Err(KadError::Config(
                "max_value must be at most 65535 and fit the swarm's MTU with 80 bytes to spare",
            ));
        }
        let intervals = [
            self.republish_interval,
            self.replicate_interval,
            self.refresh_interval,
            self.request_timeout,
        ];
        if intervals.iter().any(Duration::is_zero) {
            return Err(KadError::Config(
                "intervals and the request timeout must not be zero",
            ));
        }
        Ok(())
    }
}

/// Why a DHT operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KadError {
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// Not called inside a tokio runtime (the node needs one for its tasks).
    #[error("a DHT node must be started inside a tokio runtime")]
    NoRuntime,
    /// None of the bootstrap addresses answered.
    #[error("bootstrap failed: none of the {0} addresses answered")]
    BootstrapFailed(usize),
    /// The value is larger than [`Config::max_value`].
    #[error("value of {len} bytes, at most {max} allowed")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The configured [`Validator`] refuses the value.
    #[error("the validator refuses the value")]
    InvalidValue,
    /// No node (not even this one) stored the value.
    #[error("no node stored the value")]
    NotStored,
    /// The swarm failed.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
}

/// Why one request to one peer failed (counted, logged, never returned to the caller: a
/// lookup goes on with other peers).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The swarm could not deliver the request or the answer.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    /// No answer within [`Config::request_timeout`].
    #[error("no answer in time")]
    Timeout,
    /// The answer is malformed or over a limit.
    #[error("bad answer: {0}")]
    Wire(#[from] WireError),
    /// The peer is not the node its contact claimed.
    #[error("the peer's key does not match the id it was introduced with")]
    IdMismatch,
    /// An answer of the wrong kind for the request.
    #[error("an answer of the wrong kind")]
    Unexpected,
}

impl PeerError {
    /// True when the peer misbehaved (as opposed to being unreachable or slow).
    pub fn is_lie(&self) -> bool {
        matches!(self, Self::Wire(_) | Self::IdMismatch | Self::Unexpected)
    }
}
