//! The plain `ws` transport passes the conformance suite.

mod common;

use ms_testkit::Fixture;

fn fixture() -> Fixture {
    let node = common::node(common::ws());
    let mut f = Fixture::new(
        node.clone(),
        node,
        format!("ws://127.0.0.1:{}", common::dead_port()),
    );
    // A close frame ends the whole connection: WebSockets cannot half-close.
    f.half_close = false;
    f.black_hole = Some(format!("ws://127.0.0.1:{}", common::black_hole_port()));
    f.bad_addresses = vec![
        "ws:127.0.0.1:8989".into(),
        "ws://".into(),
        "ws://127.0.0.1:0".into(),
        "ws://[::1".into(),
        "ws://user@127.0.0.1:1".into(),
        "ws://127.0.0.1:1~shs:x".into(),
    ];
    f
}

ms_testkit::conformance!(fixture);
