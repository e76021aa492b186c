//! The `mem` transport passes the conformance suite.

use std::sync::OnceLock;

use ms_core::{MultiServer, Stack};
use ms_testkit::{Fault, Fixture, MemNetwork, MemTransport};

/// One network for every check, as a machine has one port space.
fn network() -> MemNetwork {
    static NETWORK: OnceLock<MemNetwork> = OnceLock::new();
    NETWORK.get_or_init(MemNetwork::new).clone()
}

fn fixture() -> Fixture {
    let network = network();
    let node = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
    let dead = format!("mem:{}", network.unused_port());
    let hole = network.unused_port();
    network.set_fault(hole, Fault::BlackHole);
    let mut f = Fixture::new(node.clone(), node, dead);
    f.black_hole = Some(format!("mem:{hole}"));
    f.bad_addresses = vec![
        "mem:".into(),
        "mem:0".into(),
        "mem:x".into(),
        "mem:1:2".into(),
        "mem:1~shs:x".into(),
    ];
    f
}

ms_testkit::conformance!(fixture);
