//! Behaviour of the `quic` transport beyond the conformance suite: identities, a wrong key,
//! hostile datagrams.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ms_core::{ErrorKind, MultiServer, Scope, Stack};
use ms_quic::{AddressValidation, Quic, QuicIdentity};
use ms_shs::{Keypair, NetworkKey};
use ms_testkit::{EchoServer, echo_round_trip, pattern};
use tokio::net::UdpSocket;

fn keys(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32])
}

fn quic(seed: u8) -> Quic {
    Quic::new(&keys(seed), NetworkKey::MAINNET).expect("quic")
}

fn node(transport: Quic) -> MultiServer {
    MultiServer::new([Stack::new(transport)]).expect("node")
}

/// The UDP address a `quic:127.0.0.1:<port>:<key>` address names.
fn udp_addr(address: &str) -> SocketAddr {
    let mut fields = address.split(':');
    fields.next();
    let ip = fields.next().expect("ip");
    let port = fields.next().expect("port");
    format!("{ip}:{port}").parse().expect("socket address")
}

#[tokio::test]
async fn both_sides_know_the_peers_key() {
    let server = node(quic(1));
    let mut listening = server.listen().await.expect("listen");
    let address = listening.address(Scope::Device).to_string();
    assert!(address.starts_with("quic:127.0.0.1:"), "{address}");
    assert!(
        address.ends_with(&format!(":{}", keys(1).public().to_base64())),
        "{address}"
    );
    let client = node(quic(2));
    let dial = tokio::spawn(async move { client.connect(&address).await });
    let inbound = listening.accept().await.expect("accepted");
    let outbound = dial.await.expect("task").expect("dial");
    assert_eq!(outbound.remote_key(), Some(&keys(1).public()));
    assert_eq!(inbound.remote_key(), Some(&keys(2).public()));
}

#[tokio::test]
async fn dialling_another_key_than_the_servers_is_incompatible() {
    let server = node(quic(1));
    let listening = server.listen().await.expect("listen");
    let address = listening.address(Scope::Device).to_string();
    let wrong = address.replace(&keys(1).public().to_base64(), &keys(3).public().to_base64());
    let err = node(quic(2)).connect(&wrong).await.expect_err("connected");
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(err.to_string().contains("not the dialled"), "{err}");
}

#[tokio::test]
async fn another_network_is_refused() {
    let server = node(quic(1));
    let listening = server.listen().await.expect("listen");
    let address = listening.address(Scope::Device).to_string();
    let other = Quic::new(&keys(2), NetworkKey::from_bytes([5; 32])).expect("quic");
    let err = node(other).connect(&address).await.expect_err("connected");
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(err.to_string().contains("another network"), "{err}");
}

/// A small deterministic generator for garbage.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_does_not_stop_honest_clients() {
    let server = node(quic(1));
    let echo = EchoServer::start(&server, Scope::Device).await;
    let address = echo.address.to_string();
    let target = udp_addr(&address);
    let flooding = tokio::spawn(async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut sent = 0u64;
        loop {
            let len = 1 + (random.next() % 1400) as usize;
            let mut datagram = random.bytes(len);
            // Every other one looks like a QUIC v1 Initial (long header, version 1).
            if sent.is_multiple_of(2) && len > 8 {
                datagram[0] = 0xc0 | (datagram[0] & 0x0f);
                datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
            }
            let _ = socket.send_to(&datagram, target).await;
            sent += 1;
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = node(quic(2));
    for round in 0..5 {
        let mut conn = client.connect(&address).await.expect("honest dial");
        echo_round_trip(&mut conn, &pattern(64 * 1024, round)).await;
    }
    flooding.abort();
    assert_eq!(echo.accepted(), 5);
    echo.close().await;
}

/// Real QUIC Initial packets, one per connection attempt (distinct connection ids), captured
/// from a quinn client dialling a socket that never answers.
async fn capture_initials(count: usize) -> Vec<Vec<u8>> {
    let sink = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let sink_addr = sink.local_addr().expect("addr");
    let identity = QuicIdentity::new(&keys(9), NetworkKey::MAINNET).expect("identity");
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client");
    let mut dials = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (identity, endpoint) = (identity.clone(), endpoint.clone());
        dials.spawn(async move {
            let _ = identity
                .connect(
                    &endpoint,
                    sink_addr,
                    keys(1).public(),
                    Duration::from_secs(5),
                )
                .await;
        });
    }
    let mut seen = HashSet::new();
    let mut initials = Vec::new();
    let mut buf = vec![0u8; 2048];
    while initials.len() < count {
        let (len, _) = sink.recv_from(&mut buf).await.expect("recv");
        let packet = &buf[..len];
        // Long header, Initial type: 0b1100_xxxx; the destination connection id follows the
        // version and its length byte.
        if len < 7 || packet[0] & 0xf0 != 0xc0 {
            continue;
        }
        let dcid_len = usize::from(packet[5]);
        let Some(dcid) = packet.get(6..6 + dcid_len) else {
            continue;
        };
        if seen.insert(dcid.to_vec()) {
            initials.push(packet.to_vec());
        }
    }
    dials.abort_all();
    initials
}

async fn initial_flood_gets_retries(validation: AddressValidation) -> usize {
    let transport = Quic::builder(QuicIdentity::new(&keys(1), NetworkKey::MAINNET).expect("id"))
        .address_validation(validation)
        .build()
        .expect("quic");
    let server = node(transport);
    let echo = EchoServer::start(&server, Scope::Device).await;
    let address = echo.address.to_string();
    let target = udp_addr(&address);

    // 100 connection attempts that never go on (one socket standing for many sources).
    let flood = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    for (i, initial) in capture_initials(100).await.iter().enumerate() {
        flood.send_to(initial, target).await.expect("send");
        if i % 10 == 9 {
            // Paced so that the server's socket buffer does not drop some (which would make
            // the count below a matter of luck).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The honest client still gets through (following a Retry when the server asks).
    let client = node(quic(2));
    let mut conn = client.connect(&address).await.expect("honest dial");
    echo_round_trip(&mut conn, &pattern(4096, 7)).await;

    // What the server answered the flood: Retry packets (long header type 3) keep no state.
    let mut retries = 0;
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_millis(200), flood.recv_from(&mut buf)).await
    {
        if len > 0 && buf[0] & 0xf0 == 0xf0 {
            retries += 1;
        }
    }
    echo.close().await;
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_flood_is_answered_with_retries_and_honest_clients_connect() {
    let retries = initial_flood_gets_retries(AddressValidation::UnderLoad(16)).await;
    // The first 16 attempts get handshake state, the rest a stateless Retry.
    assert!(
        retries >= 80,
        "only {retries} retries for 100 spoofed attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_validating_retries_every_new_client() {
    let retries = initial_flood_gets_retries(AddressValidation::Always).await;
    assert_eq!(retries, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_validation_the_flood_gets_handshake_state() {
    let retries = initial_flood_gets_retries(AddressValidation::Never).await;
    assert_eq!(retries, 0);
}
