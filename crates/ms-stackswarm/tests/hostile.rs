//! A raw peer that got through the handshake and then breaks the protocol: the swarm closes
//! that connection with a counted reason, ignores answers it did not ask for, and keeps
//! serving everyone else.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use ms_core::Connection;
use ms_stackswarm::StackSwarm;
use ms_stackswarm::frame::{Decoder, Frame, Limits, encode};
use ms_swarm::{SecureSwarm, Swarm};
use ms_testkit::MemNetwork;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMITS: Limits = Limits {
    mtu: 1 << 20,
    max_ask: 1 << 20,
    max_addr: 1 << 16,
};

/// Dials `swarm` with a plain mem~shs node (no swarm) and reads its HELLO.
async fn raw_peer(network: &MemNetwork, swarm: &StackSwarm) -> Connection {
    let node = mem_node(network, 9);
    let mut conn = node.connect(addr(swarm).as_str()).await.unwrap();
    let frame = read_frame(&mut conn).await.unwrap();
    assert!(
        matches!(frame, Frame::Hello { version: 1, .. }),
        "{frame:?}"
    );
    conn
}

async fn read_frame(conn: &mut Connection) -> Option<Frame> {
    let decoder = Decoder::new(LIMITS);
    let mut buf = BytesMut::new();
    loop {
        if let Some(frame) = decoder.decode(&mut buf).unwrap() {
            return Some(frame);
        }
        if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return None;
        }
    }
}

fn frames(list: &[Frame]) -> BytesMut {
    let mut out = BytesMut::new();
    for f in list {
        encode(f, &mut out);
    }
    out
}

fn hello(addr: &str) -> Frame {
    Frame::Hello {
        version: 1,
        mtu: 65536,
        max_ask: 65536,
        key: *ms_shs::Keypair::from_seed(&[9; 32]).public().as_bytes(),
        addr: Bytes::copy_from_slice(addr.as_bytes()),
    }
}

/// The swarm closes the connection: the raw peer reads the end of the stream.
async fn assert_closed(conn: &mut Connection) {
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest).await;
}

#[tokio::test]
async fn oversized_tell_closes_the_connection() {
    let network = MemNetwork::new();
    let b = mem_swarm(&network, 2).await;
    let mut raw = raw_peer(&network, &b).await;
    raw.write_all(&frames(&[hello("")])).await.unwrap();
    // A TELL header announcing one byte over the MTU; the body never needs to come.
    let mtu = b.mtu() as u32 + 1;
    let mut header = vec![3u8, 0, 0, 0, 0];
    header.extend_from_slice(&mtu.to_be_bytes());
    raw.write_all(&header).await.unwrap();
    raw.flush().await.unwrap();
    assert_closed(&mut raw).await;
    eventually("protocol error counted", || b.stats().protocol_errors == 1).await;
    assert_eq!(b.stats().connections_open, 0);
}

#[tokio::test]
async fn garbage_after_the_handshake_closes_the_connection() {
    let network = MemNetwork::new();
    let b = mem_swarm(&network, 2).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0u8; 9][..],
        &[4, 0, 0, 0, 0, 0, 0, 0, 0][..], // ASK before HELLO (and with id 0)
    ] {
        let mut raw = raw_peer(&network, &b).await;
        raw.write_all(garbage).await.unwrap();
        raw.flush().await.unwrap();
        assert_closed(&mut raw).await;
    }
    eventually("three protocol errors", || b.stats().protocol_errors == 3).await;
    // A message before HELLO, a second HELLO, a bad DST address, a HELLO with another key.
    for list in [
        vec![Frame::Tell(Bytes::from_static(b"x"))],
        vec![hello(""), hello("")],
        vec![hello(""), Frame::Dst(Bytes::from_static(b"~~"))],
        vec![Frame::Hello {
            version: 1,
            mtu: 100,
            max_ask: 100,
            key: [1; 32],
            addr: Bytes::new(),
        }],
    ] {
        let mut raw = raw_peer(&network, &b).await;
        raw.write_all(&frames(&list)).await.unwrap();
        raw.flush().await.unwrap();
        assert_closed(&mut raw).await;
    }
    eventually("seven protocol errors", || b.stats().protocol_errors == 7).await;
    assert_eq!(b.stats().tells_received, 0);
}

#[tokio::test]
async fn unknown_answers_are_ignored_and_the_connection_stays() {
    let network = MemNetwork::new();
    let b = mem_swarm(&network, 2).await;
    let mut raw = raw_peer(&network, &b).await;
    raw.write_all(&frames(&[
        hello(""),
        Frame::Answer {
            id: 42,
            payload: Bytes::from_static(b"nobody asked"),
        },
        Frame::Reject {
            id: 43,
            reason: ms_stackswarm::frame::RejectReason::Refused,
        },
        Frame::Cancel { id: 44 },
        Frame::Tell(Bytes::from_static(b"still here")),
    ]))
    .await
    .unwrap();
    raw.flush().await.unwrap();
    let got = b.receive().await.unwrap();
    assert_eq!(got.payload, Bytes::from_static(b"still here"));
    assert_eq!(b.stats().unknown_answers, 2);
    assert_eq!(b.stats().protocol_errors, 0);
    // Its source is the connection's address, which carries the authenticated key.
    assert_eq!(
        b.lookup_public_key(&got.src).unwrap(),
        ms_shs::Keypair::from_seed(&[9; 32]).public()
    );
}

#[tokio::test]
async fn a_hello_claiming_another_key_is_not_believed() {
    let network = MemNetwork::new();
    let b = mem_swarm(&network, 2).await;
    let victim = mem_swarm(&network, 3).await;
    let mut raw = raw_peer(&network, &b).await;
    // The raw peer (key 9) claims to be the victim (key 3).
    raw.write_all(&frames(&[
        hello(addr(&victim).as_str()),
        Frame::Tell(Bytes::from_static(b"from the victim, honest")),
    ]))
    .await
    .unwrap();
    raw.flush().await.unwrap();
    let got = b.receive().await.unwrap();
    assert_ne!(got.src, addr(&victim));
    assert_eq!(
        b.lookup_public_key(&got.src).unwrap(),
        ms_shs::Keypair::from_seed(&[9; 32]).public()
    );
    assert_ne!(b.lookup_public_key(&got.src).unwrap(), victim.public_key());
}

#[tokio::test]
async fn answers_larger_than_we_accept_close_the_connection() {
    let network = MemNetwork::new();
    let mut config = ms_stackswarm::Config::default();
    config.max_ask_size = 100;
    let b = mem_swarm_with(&network, 2, config).await;
    let mut raw = raw_peer(&network, &b).await;
    raw.write_all(&frames(&[
        hello(""),
        Frame::Answer {
            id: 1,
            payload: Bytes::from(vec![0; 101]),
        },
    ]))
    .await
    .unwrap();
    raw.flush().await.unwrap();
    assert_closed(&mut raw).await;
    eventually("protocol error counted", || b.stats().protocol_errors == 1).await;
}
