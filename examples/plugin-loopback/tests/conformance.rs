//! The `lo` transport runs the whole conformance suite of `ms-testkit`: one fixture, one line.

use ms_core::{MultiServer, Stack};
use ms_plugin_loopback::Loopback;
use ms_testkit::Fixture;

fn fixture() -> Fixture {
    let server = MultiServer::new([Stack::new(Loopback::new())]).expect("a node");
    let client = MultiServer::new([Stack::new(Loopback::new())]).expect("a node");
    // A port where connections are refused for as long as the tests run.
    let dead = format!("lo:{}", ms_testkit::refused_port([127, 0, 0, 1].into()));
    // `lo` authenticates nobody: neither side names its peer (the default, said explicitly).
    let mut f = Fixture::new(server, client, dead).expect_identities(None, None);
    f.bad_addresses = vec![
        "lo".into(),
        "lo:".into(),
        "lo:0".into(),
        "lo:65536".into(),
        "lo:http".into(),
        "lo:80:extra".into(),
    ];
    f
}

ms_testkit::conformance!(fixture);
