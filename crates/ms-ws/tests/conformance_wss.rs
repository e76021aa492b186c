//! The `wss` transport (TLS with a test CA) passes the conformance suite.

#![cfg(feature = "wss")]

mod common;

use ms_testkit::Fixture;

fn fixture() -> Fixture {
    let node = common::node(common::wss());
    let mut f = Fixture::new(
        node.clone(),
        node,
        format!("wss://127.0.0.1:{}", common::dead_port()),
    );
    f.half_close = false;
    f.black_hole = Some(format!("wss://127.0.0.1:{}", common::black_hole_port()));
    f.bad_addresses = vec!["wss:127.0.0.1:8989".into(), "wss://:1".into()];
    f
}

ms_testkit::conformance!(fixture);
