//! The fragment reassembler of `ms_swarm::frag`, fed by hostile senders.
//!
//! Input: a sequence of datagrams `[sender][time step][len][bytes…]` (len one byte). Checks:
//! never a panic; after every datagram the reassembler holds at most its limits (incomplete
//! messages in total, bytes); a completed message is never longer than the MTU.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ms_swarm::frag::{FragConfig, Reassembler};

const MTU: usize = 4096;
const MAX_PARTIALS: usize = 8;
const MAX_BYTES: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let config = FragConfig::new()
        .with_mtu(MTU)
        .with_limits(3, MAX_PARTIALS, MAX_BYTES)
        .with_timeout(Duration::from_millis(100));
    let mut r = Reassembler::<u8>::new(config);
    let start = tokio::time::Instant::now();
    let mut now = start;
    let mut rest = data;
    while let [sender, step, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(*step));
        if let Ok(Some(message)) = r.push(&(sender % 4), now, Bytes::copy_from_slice(datagram)) {
            assert!(message.len() <= MTU, "a message longer than the MTU");
        }
        let stats = r.stats();
        assert!(stats.partials <= MAX_PARTIALS, "{} partials", stats.partials);
        assert!(stats.bytes <= MAX_BYTES, "{} bytes", stats.bytes);
    }
});
