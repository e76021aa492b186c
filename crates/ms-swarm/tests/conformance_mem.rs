//! The in-memory swarm passes the swarm conformance suite.

use ms_swarm::mem::{MemSwarm, Realm};

async fn mem_swarms(n: usize) -> Vec<MemSwarm> {
    Realm::new().swarms(n)
}

ms_testkit::swarm_conformance!(mem_swarms, [tell, ask, secure]);
