//! A node under attack keeps serving honest peers, byte for byte, and lets no refused key in.
//!
//! While honest clients keep connecting and echoing checked data, every kind of hostile peer
//! (see `ms_system_tests::Attack`) hits the same `net~shs` node. Then: every honest exchange
//! succeeded, every hostile connection was closed with a typed error of the expected kind, no
//! connection from the refused key reached the application, and the node's task count is back
//! to where it started. Bounded: a few seconds of attack, loopback only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ms_core::{AuthValue, Event, MultiServer, Scope, Stack};
use ms_net::Net;
use ms_shs::{Keypair, NetworkKey, Shs};
use ms_system_tests::{Attack, Target, rejection_kind, run};
use ms_testkit::{echo_round_trip, pattern};
use tokio::io::AsyncWriteExt;

const HONEST_CLIENTS: usize = 4;
const ROUNDS_PER_CLIENT: usize = 10;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_under_attack_keeps_serving_honest_peers() {
    let server_keys = Keypair::from_seed(&[1; 32]);
    let refused = Keypair::from_seed(&[66; 32]);
    let refused_key = refused.public();
    let shs = Shs::new(server_keys.clone())
        .timeout(Duration::from_secs(3))
        .authorize(
            move |client| async move { (client != refused_key).then(|| AuthValue::new(())) },
        );
    let node = MultiServer::builder()
        .stack(Stack::new(Net::new()).with(shs))
        .inbound_timeout(Duration::from_secs(4))
        .event_buffer(4096)
        .build()
        .unwrap();
    let baseline = alive_tasks();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device);
    let addr = address.alternatives()[0].transport().as_str()["net:".len()..]
        .parse()
        .unwrap();

    // The application: echo every connection, record every rejection and stream error by kind.
    let refused_reached_us = Arc::new(AtomicUsize::new(0));
    let stream_errors = Arc::new(AtomicUsize::new(0));
    let hostile_connected = Arc::new(AtomicUsize::new(0));
    let closer = server.close_handle();
    let app = tokio::spawn({
        let refused_reached_us = refused_reached_us.clone();
        let stream_errors = stream_errors.clone();
        let hostile_connected = hostile_connected.clone();
        async move {
            let mut rejections: HashMap<String, usize> = HashMap::new();
            while let Some(event) = server.next_event().await {
                match event {
                    Event::Connected(conn) => {
                        let honest = (0..HONEST_CLIENTS)
                            .any(|i| conn.remote_ed25519() == Some(&honest_key(i)));
                        if !honest {
                            hostile_connected.fetch_add(1, Ordering::SeqCst);
                        }
                        if conn.remote_ed25519() == Some(&refused_key) {
                            refused_reached_us.fetch_add(1, Ordering::SeqCst);
                        }
                        let stream_errors = stream_errors.clone();
                        tokio::spawn(async move {
                            let (mut r, mut w) = tokio::io::split(conn);
                            if tokio::io::copy(&mut r, &mut w).await.is_err() {
                                stream_errors.fetch_add(1, Ordering::SeqCst);
                            }
                            let _ = w.shutdown().await;
                        });
                    }
                    Event::Rejected { error, .. } => {
                        *rejections.entry(rejection_kind(&error)).or_default() += 1;
                    }
                    _ => {}
                }
            }
            rejections
        }
    });

    // Honest clients, in parallel with the attacks.
    let honest = (0..HONEST_CLIENTS)
        .map(|i| {
            let client =
                MultiServer::new([Stack::new(Net::new()).with(Shs::new(honest_keys(i)))]).unwrap();
            let address = address.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS_PER_CLIENT {
                    let mut conn = client
                        .connect_to(&address)
                        .await
                        .expect("an honest dial failed");
                    let data = pattern(32 * 1024, (i * 100 + round) as u32 + 1);
                    echo_round_trip(&mut conn, &data).await;
                    conn.shutdown().await.expect("an honest close failed");
                }
            })
        })
        .collect::<Vec<_>>();

    let target = Target {
        addr,
        server_key: server_keys.public(),
        network: NetworkKey::MAINNET,
        refused,
        patience: Duration::from_secs(5),
    };
    let mut attacks = Vec::new();
    for (n, attack) in Attack::ALL.into_iter().enumerate() {
        let copies = if attack == Attack::ConnectAndClose {
            200
        } else {
            8
        };
        for c in 0..copies {
            let target = target.clone();
            attacks.push(tokio::spawn(async move {
                let _ = run(attack, &target, (n * 1000 + c) as u64).await;
            }));
        }
    }
    for task in honest {
        task.await.expect("an honest client failed");
    }
    for task in attacks {
        task.await.unwrap();
    }

    // Give the server the inbound deadline to finish off what is left, then close it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    closer.close();
    let rejections = app.await.unwrap();
    assert_eq!(
        refused_reached_us.load(Ordering::SeqCst),
        0,
        "a refused key got in"
    );

    // Each attack was refused for its own reason.
    let count = |k: &str| rejections.get(k).copied().unwrap_or(0);
    assert_eq!(count("low-order point"), 8, "{rejections:?}");
    assert_eq!(count("refused by auth"), 8, "{rejections:?}");
    assert_eq!(count("invalid challenge"), 8, "{rejections:?}");
    assert_eq!(count("client auth does not open"), 8, "{rejections:?}");
    assert_eq!(
        count("peer hung up"),
        200,
        "connect-and-close peers: {rejections:?}"
    );
    // Silent and trickling peers time out; so may the handshakes of the frame-level attackers
    // when the machine is too busy to finish them within the deadline.
    let late = count("timeout")
        .checked_sub(16)
        .expect("a silent or trickling peer got through");
    // Bad frames, oversized frames and resets mid-frame come after a good handshake: the
    // application's reads fail on each of them.
    let connected = hostile_connected.load(Ordering::SeqCst);
    assert_eq!(
        stream_errors.load(Ordering::SeqCst),
        connected,
        "a bad stream was not refused"
    );
    assert_eq!(
        connected + late,
        24,
        "frame-level attackers unaccounted for: {rejections:?}"
    );

    // Everything the attacks started has ended.
    let mut settled = false;
    for _ in 0..50 {
        if alive_tasks() <= baseline + 1 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "tasks left behind: {} (baseline {baseline})",
        alive_tasks()
    );
}

fn honest_keys(i: usize) -> Keypair {
    Keypair::from_seed(&[10 + i as u8; 32])
}

fn honest_key(i: usize) -> ms_core::PublicKey {
    honest_keys(i).public()
}
