//! `ws~shs` and `wss~shs` pass the conformance suite: the secret-handshake and box-stream over
//! WebSocket messages, as SSB peers use them.

mod common;

use ms_core::{MultiServer, Stack};
use ms_shs::{Keypair, Shs};
use ms_testkit::Fixture;
use ms_ws::Ws;

fn fixture_for(make: fn() -> Ws) -> Fixture {
    let server_keys = Keypair::from_seed(&[1; 32]);
    let server_pk = server_keys.public().to_base64();
    let server = MultiServer::new([Stack::new(make()).with(Shs::new(server_keys))]).unwrap();
    let client =
        MultiServer::new([Stack::new(make()).with(Shs::new(Keypair::from_seed(&[2; 32])))])
            .unwrap();
    let scheme = make().scheme();
    // shs names both sides by their Ed25519 keys.
    let mut f = Fixture::new(
        server,
        client,
        format!(
            "{scheme}://127.0.0.1:{}~shs:{server_pk}",
            common::dead_port()
        ),
    )
    .expect_identities(
        Some(Keypair::from_seed(&[2; 32]).public().into()),
        Some(Keypair::from_seed(&[1; 32]).public().into()),
    );
    f.half_close = false;
    f.black_hole = Some(format!(
        "{scheme}://127.0.0.1:{}~shs:{server_pk}",
        common::black_hole_port()
    ));
    f.bad_addresses = vec![
        format!("{scheme}:127.0.0.1:1~shs:{server_pk}"),
        format!("{scheme}://127.0.0.1:1~shs:AAAA"),
        format!("{scheme}://127.0.0.1:1"),
    ];
    f
}

mod ws_shs {
    use super::*;

    fn fixture() -> Fixture {
        fixture_for(common::ws)
    }

    ms_testkit::conformance!(fixture);
}

#[cfg(feature = "wss")]
mod wss_shs {
    use super::*;

    fn fixture() -> Fixture {
        fixture_for(common::wss)
    }

    ms_testkit::conformance!(fixture);
}
