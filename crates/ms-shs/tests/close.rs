//! `Connection::close` over `net~shs`: a connection closed with unread input still delivers
//! everything written before, then the goodbye (a clean end), and takes the peer's goodbye,
//! where a drop (even after `shutdown`) resets the connection.

#![allow(clippy::unwrap_used)] // tests unwrap freely

use std::time::Duration;

use ms_core::{MultiServer, Scope, Stack};
use ms_net::Net;
use ms_shs::{Keypair, Shs};
use ms_testkit::pattern;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn node(seed: u8) -> MultiServer {
    MultiServer::new([Stack::new(Net::new()).with(Shs::new(Keypair::from_seed(&[seed; 32])))])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_with_unread_input_delivers_everything_and_a_clean_end() {
    const UNREAD: usize = 64 * 1024;
    const RESPONSE: usize = 1024 * 1024;
    let mut server = node(1).listen().await.unwrap();
    let address = server.address(Scope::Device);
    let client = node(2);

    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let peer = tokio::spawn(async move {
        let mut conn = client.connect_to(&address).await.unwrap();
        // Input the server never reads.
        conn.write_all(&pattern(UNREAD, 1)).await.unwrap();
        conn.flush().await.unwrap();
        sent_tx.send(()).unwrap();
        // Everything the server wrote, then its goodbye: `read_to_end` fails on a reset or on
        // an end without the goodbye.
        let mut got = Vec::new();
        let ended = conn.read_to_end(&mut got).await;
        // Our own goodbye, which ends the server's drain (a reset fails it).
        let said = conn.shutdown().await;
        (got, ended, said)
    });

    let mut inbound = server.accept().await.unwrap();
    sent_rx.await.unwrap();
    let response = pattern(RESPONSE, 2);
    inbound.write_all(&response).await.unwrap();
    let discarded = inbound.close_within(Duration::from_secs(30)).await.unwrap();

    let (got, ended, said) = peer.await.unwrap();
    ended.unwrap_or_else(|e| panic!("the peer saw no clean end: {e}"));
    said.unwrap_or_else(|e| panic!("the peer's goodbye did not go through: {e}"));
    assert!(
        got == response,
        "the peer got {} of {RESPONSE} bytes",
        got.len()
    );
    assert_eq!(discarded, UNREAD as u64);
    server.close().await;
}

#[tokio::test]
async fn a_peer_that_never_ends_its_side_times_the_close_out() {
    let mut server = node(1).listen().await.unwrap();
    let address = server.address(Scope::Device);
    let client = node(2);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let conn = client.connect_to(&address).await.unwrap();
        // Keeps the connection open, reads nothing, never says goodbye.
        let _ = done_rx.await;
        drop(conn);
    });
    let inbound = server.accept().await.unwrap();
    let err = inbound
        .close_within(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    done_tx.send(()).unwrap();
    peer.await.unwrap();
    server.close().await;
}
