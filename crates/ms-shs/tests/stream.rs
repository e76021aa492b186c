//! The async layer: handshake over tokio streams, then `BoxStream` reading and writing.

#![allow(clippy::unwrap_used)] // tests unwrap freely

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ms_shs::handshake::{EphemeralKey, ServerHandshake};
use ms_shs::{
    BoxStream, HandshakeError, HandshakeOptions, Keypair, Message, NetworkKey, Role,
    client_handshake, server_handshake,
};
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf, duplex,
};

fn keys() -> (Keypair, Keypair) {
    (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]))
}

async fn connected() -> (BoxStream<DuplexStream>, BoxStream<DuplexStream>) {
    let (c, s) = duplex(256 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let options = HandshakeOptions::default();
    let server = tokio::spawn(async move {
        server_handshake(s, &server_keys, &HandshakeOptions::default(), |_| async {
            Some(())
        })
        .await
        .map(|(stream, ())| stream)
    });
    let client = client_handshake(c, &client_keys, &server_pk, &options)
        .await
        .unwrap();
    (client, server.await.unwrap().unwrap())
}

#[tokio::test]
async fn large_transfer_both_ways_with_odd_read_sizes() {
    let (mut client, mut server) = connected().await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(70_001) {
            client.write_all(chunk).await.unwrap();
        }
        client.shutdown().await.unwrap();
        client
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 1237];
    loop {
        let n = server.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(received.len(), data.len());
    assert!(received == data);
    // The other direction still works after the client's goodbye (half-close).
    server.write_all(b"bye").await.unwrap();
    server.shutdown().await.unwrap();
    let mut client = writer.await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"bye");
}

#[tokio::test]
async fn bytes_sent_right_behind_message_4_are_not_lost() {
    let (c, mut s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let net = NetworkKey::MAINNET;
    // A hand-driven server that writes message 4 and two frames in ONE write.
    let server = tokio::spawn(async move {
        let state = ServerHandshake::new(net, server_keys, EphemeralKey::generate().unwrap());
        let mut msg1 = [0; 64];
        s.read_exact(&mut msg1).await.unwrap();
        let (state, msg2) = state.read_client_hello(&msg1).unwrap();
        s.write_all(&msg2).await.unwrap();
        let mut msg3 = [0; 112];
        s.read_exact(&mut msg3).await.unwrap();
        let (msg4, outcome) = state.read_client_auth(&msg3).unwrap().accept();
        let (mut encoder, _) = outcome.into_codecs();
        let mut out = msg4.to_vec();
        encoder.encode(b"right behind", &mut out);
        encoder.encode(b" msg4", &mut out);
        encoder.encode_goodbye(&mut out);
        s.write_all(&out).await.unwrap();
        s
    });
    let mut client = client_handshake(c, &client_keys, &server_pk, &HandshakeOptions::default())
        .await
        .unwrap();
    let mut text = String::new();
    client.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "right behind msg4");
    drop(server.await.unwrap());
}

#[tokio::test]
async fn eof_without_goodbye_is_an_unexpected_eof_error() {
    let (c, mut s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let server = tokio::spawn(async move {
        let state = ServerHandshake::new(
            NetworkKey::MAINNET,
            server_keys,
            EphemeralKey::generate().unwrap(),
        );
        let mut msg1 = [0; 64];
        s.read_exact(&mut msg1).await.unwrap();
        let (state, msg2) = state.read_client_hello(&msg1).unwrap();
        s.write_all(&msg2).await.unwrap();
        let mut msg3 = [0; 112];
        s.read_exact(&mut msg3).await.unwrap();
        let (msg4, outcome) = state.read_client_auth(&msg3).unwrap().accept();
        let (mut encoder, _) = outcome.into_codecs();
        let mut out = msg4.to_vec();
        encoder.encode(b"partial", &mut out);
        s.write_all(&out).await.unwrap();
        // Hang up without goodbye.
    });
    let mut client = client_handshake(c, &client_keys, &server_pk, &HandshakeOptions::default())
        .await
        .unwrap();
    server.await.unwrap();
    let mut buf = Vec::new();
    let err = client.read_to_end(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("goodbye"), "{err}");
    assert_eq!(buf, b"partial");
    // And it stays an error.
    assert_eq!(
        client.read(&mut [0; 10]).await.unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[tokio::test]
async fn tampered_frame_is_invalid_data() {
    let (c, mut s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let server = tokio::spawn(async move {
        let state = ServerHandshake::new(
            NetworkKey::MAINNET,
            server_keys,
            EphemeralKey::generate().unwrap(),
        );
        let mut msg1 = [0; 64];
        s.read_exact(&mut msg1).await.unwrap();
        let (state, msg2) = state.read_client_hello(&msg1).unwrap();
        s.write_all(&msg2).await.unwrap();
        let mut msg3 = [0; 112];
        s.read_exact(&mut msg3).await.unwrap();
        let (msg4, outcome) = state.read_client_auth(&msg3).unwrap().accept();
        let (mut encoder, _) = outcome.into_codecs();
        let mut out = Vec::new();
        encoder.encode(b"tamper with me", &mut out);
        out[40] ^= 1; // in the body
        s.write_all(&msg4).await.unwrap();
        s.write_all(&out).await.unwrap();
        s
    });
    let mut client = client_handshake(c, &client_keys, &server_pk, &HandshakeOptions::default())
        .await
        .unwrap();
    let err = client.read(&mut [0; 100]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    drop(server.await.unwrap());
}

#[tokio::test]
async fn wrong_network_key_fails_on_both_sides_with_typed_errors() {
    let (c, s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let server = tokio::spawn(async move {
        let options = HandshakeOptions {
            network_key: NetworkKey::from_bytes([5; 32]),
            ..Default::default()
        };
        server_handshake(s, &server_keys, &options, |_| async { Some(()) })
            .await
            .map(|_| ())
    });
    let client_err = client_handshake(c, &client_keys, &server_pk, &HandshakeOptions::default())
        .await
        .unwrap_err();
    let server_err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(
            server_err,
            HandshakeError::InvalidChallenge { from: Role::Client }
        ),
        "{server_err}"
    );
    assert!(
        matches!(
            client_err,
            HandshakeError::PeerHungUp {
                waiting_for: Message::ServerHello
            }
        ),
        "{client_err}"
    );
    assert!(client_err.to_string().contains("network key"));
}

#[tokio::test]
async fn rejected_client_sees_a_hang_up_after_message_3() {
    let (c, s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let server_pk = server_keys.public();
    let server = tokio::spawn(async move {
        server_handshake(s, &server_keys, &HandshakeOptions::default(), |_| async {
            None::<()>
        })
        .await
        .map(|_| ())
    });
    let client_err = client_handshake(c, &client_keys, &server_pk, &HandshakeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(
        server.await.unwrap(),
        Err(HandshakeError::Rejected)
    ));
    assert!(
        matches!(
            client_err,
            HandshakeError::PeerHungUp {
                waiting_for: Message::ServerAccept
            }
        ),
        "{client_err}"
    );
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out() {
    let (c, _s) = duplex(64 * 1024);
    let (client_keys, server_keys) = keys();
    let options = HandshakeOptions {
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let start = tokio::time::Instant::now();
    let err = client_handshake(c, &client_keys, &server_keys.public(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, HandshakeError::Timeout), "{err}");
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

/// A sink that records every write it receives, and can pretend to be busy.
#[derive(Clone, Default)]
struct CountingSink {
    writes: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    busy: Arc<std::sync::atomic::AtomicBool>,
}

impl AsyncWrite for CountingSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.busy.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(buf.len(), Ordering::SeqCst);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for CountingSink {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

fn session_over(sink: CountingSink) -> BoxStream<CountingSink> {
    let (client_keys, server_keys) = keys();
    let (outcome, _) = common_handshake(client_keys, server_keys);
    BoxStream::new(sink, outcome)
}

fn common_handshake(
    client: Keypair,
    server: Keypair,
) -> (
    ms_shs::handshake::HandshakeOutcome,
    ms_shs::handshake::HandshakeOutcome,
) {
    use ms_shs::handshake::ClientHandshake;
    let net = NetworkKey::MAINNET;
    let (c, m1) = ClientHandshake::new(
        net,
        client,
        server.public(),
        EphemeralKey::generate().unwrap(),
    )
    .unwrap();
    let (s, m2) = ServerHandshake::new(net, server, EphemeralKey::generate().unwrap())
        .read_client_hello(&m1)
        .unwrap();
    let (c, m3) = c.read_server_hello(&m2).unwrap();
    let (m4, so) = s.read_client_auth(&m3).unwrap().accept();
    (c.read_server_accept(&m4).unwrap(), so)
}

#[tokio::test]
async fn a_frame_is_one_write_and_a_big_write_is_one_batch() {
    let sink = CountingSink::default();
    let mut stream = session_over(sink.clone());
    stream.write_all(b"one small frame").await.unwrap();
    assert_eq!(sink.writes.load(Ordering::SeqCst), 1);
    assert_eq!(sink.bytes.load(Ordering::SeqCst), 34 + 15);

    stream.write_all(&[0u8; 40 * 1024]).await.unwrap();
    assert_eq!(
        sink.writes.load(Ordering::SeqCst),
        2,
        "ten frames, one write"
    );
    assert_eq!(
        sink.bytes.load(Ordering::SeqCst),
        34 + 15 + 10 * 34 + 40 * 1024
    );
}

#[tokio::test]
async fn small_writes_while_the_socket_is_busy_are_batched_and_flush_sends_them() {
    let sink = CountingSink::default();
    let mut stream = session_over(sink.clone());
    sink.busy.store(true, Ordering::SeqCst);
    for _ in 0..100 {
        stream.write_all(b"tiny").await.unwrap();
    }
    assert_eq!(sink.writes.load(Ordering::SeqCst), 0);
    sink.busy.store(false, Ordering::SeqCst);
    stream.flush().await.unwrap();
    assert_eq!(sink.writes.load(Ordering::SeqCst), 1);
    assert_eq!(sink.bytes.load(Ordering::SeqCst), 100 * (34 + 4));
}

#[tokio::test]
async fn write_queue_is_bounded() {
    let sink = CountingSink::default();
    let mut stream = session_over(sink.clone());
    sink.busy.store(true, Ordering::SeqCst);
    let big = vec![0u8; 1024 * 1024];
    let accepted = tokio::time::timeout(Duration::from_millis(50), stream.write_all(&big)).await;
    assert!(accepted.is_err(), "a busy socket must stop the writer");
}

#[tokio::test]
async fn shutdown_sends_goodbye_and_later_writes_fail() {
    let (mut client, mut server) = connected().await;
    client.shutdown().await.unwrap();
    assert_eq!(server.read(&mut [0; 10]).await.unwrap(), 0);
    assert_eq!(
        client.write(b"late").await.unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[tokio::test]
async fn a_quiet_connection_gives_its_streaming_buffers_back() {
    let (mut client, mut server) = connected().await;
    let idle = server.buffer_memory();
    assert!(idle <= 8 * 1024, "a fresh connection holds {idle} bytes");
    let data = vec![7u8; 2_000_000];
    let (reader, writer) = tokio::join!(
        async {
            let mut back = vec![0u8; data.len()];
            server.read_exact(&mut back).await.unwrap();
            server.buffer_memory()
        },
        async {
            client.write_all(&data).await.unwrap();
            client.flush().await.unwrap();
            client.buffer_memory()
        }
    );
    assert!(
        reader > 8 * 1024,
        "streaming used only the small buffer ({reader})"
    );
    let _ = writer;
    // Now nothing arrives: the pending read gives the big buffer back, and the writer's queue
    // shrinks after a small write.
    let pending =
        tokio::time::timeout(Duration::from_millis(50), server.read(&mut [0u8; 16])).await;
    assert!(pending.is_err(), "read something from a quiet peer");
    assert!(
        server.buffer_memory() <= 8 * 1024,
        "{}",
        server.buffer_memory()
    );
    // The writer's queue shrinks after a small write.
    client.write_all(b"small").await.unwrap();
    client.flush().await.unwrap();
    assert!(
        client.buffer_memory() <= 8 * 1024 + 64,
        "{}",
        client.buffer_memory()
    );
    // The shrunk reader goes on: the small message, then (quiet again, shrunk again) the goodbye
    // as end-of-stream. A regression: offsets into the big buffer, left stale by the shrink,
    // once made this end-of-stream panic.
    let mut small = [0u8; 5];
    server.read_exact(&mut small).await.unwrap();
    assert_eq!(&small, b"small");
    client.write_all(&vec![1u8; 100_000]).await.unwrap();
    client.flush().await.unwrap();
    let mut big = vec![0u8; 100_000];
    server.read_exact(&mut big).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(50), server.read(&mut [0u8; 16])).await;
    assert!(quiet.is_err());
    client.shutdown().await.unwrap();
    assert_eq!(server.read(&mut [0u8; 16]).await.unwrap(), 0);
}

#[tokio::test]
async fn larger_frames_are_opt_in_and_the_reader_takes_them() {
    // On the wire: a 100,000-byte write is 25 frames by default, 2 with 65,535-byte bodies.
    for (max_body, frames) in [(4096, 25), (65_535, 2)] {
        let sink = CountingSink::default();
        let mut stream = session_over(sink.clone()).with_max_frame_body(max_body);
        stream.write_all(&[1u8; 100_000]).await.unwrap();
        assert_eq!(
            sink.bytes.load(Ordering::SeqCst),
            100_000 + frames * 34,
            "max body {max_body}"
        );
    }

    // End to end: the other side reads them, in both directions, as it reads any frame.
    let (client, server) = connected().await;
    let (mut client, mut server) = (
        client.with_max_frame_body(65_535),
        server.with_max_frame_body(20_000),
    );
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    // The client writes everything, then reads what the server sends back.
    let peer = tokio::spawn(async move {
        client.write_all(&sent).await.unwrap();
        client.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        back
    });
    let mut received = Vec::new();
    server.read_to_end(&mut received).await.unwrap();
    assert!(received == data, "client to server");
    server.write_all(&data).await.unwrap();
    server.shutdown().await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(30), peer)
        .await
        .expect("the client did not finish reading")
        .unwrap();
    assert!(back == data, "server to client");
}

/// A server `BoxStream` over one end of a duplex; the other end, with the client's raw codecs,
/// is the test's: it can send anything, tampered or cut, and decode what the server says.
fn server_with_raw_client() -> (
    BoxStream<DuplexStream>,
    DuplexStream,
    ms_shs::boxstream::Encoder,
    ms_shs::boxstream::Decoder,
) {
    let (client_keys, server_keys) = keys();
    let (client, server) = common_handshake(client_keys, server_keys);
    let (raw, s) = duplex(1024 * 1024);
    let (encoder, decoder) = client.into_codecs();
    (BoxStream::new(s, server), raw, encoder, decoder)
}

#[tokio::test]
async fn after_a_tampered_frame_shutdown_sends_no_goodbye() {
    let (mut server, mut raw, mut encoder, mut decoder) = server_with_raw_client();
    let mut wire = Vec::new();
    encoder.encode(&[1; 4096], &mut wire);
    let second = wire.len();
    encoder.encode(&[2; 4096], &mut wire);
    wire[second + 34 + 2000] ^= 0x10; // one bit in the second body
    raw.write_all(&wire).await.unwrap();
    // The client keeps its side open.

    let mut got = vec![0; 4096];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [1; 4096]);
    let err = server.read(&mut [0; 4096]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    // Nothing may say goodbye now: shutdown refuses, with the read's error.
    let err = server.shutdown().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    drop(server);

    // The client sees the stream end without a goodbye.
    let mut back = Vec::new();
    raw.read_to_end(&mut back).await.unwrap();
    let mut plain = Vec::new();
    let progress = decoder.decode(&back, &mut plain).unwrap();
    assert!(!progress.goodbye, "a goodbye after a failed read");
    assert_eq!(
        decoder.check_eof(back.len() - progress.consumed),
        Err(ms_shs::BoxStreamError::MissingGoodbye)
    );
}

#[tokio::test]
async fn shutdown_after_both_goodbyes_ends_the_transport() {
    let (mut server, mut raw, mut encoder, mut decoder) = server_with_raw_client();
    let mut wire = Vec::new();
    encoder.encode(b"last words", &mut wire);
    encoder.encode_goodbye(&mut wire);
    raw.write_all(&wire).await.unwrap();
    let mut text = String::new();
    server.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "last words");
    server.shutdown().await.unwrap();
    // The client reads our goodbye and then the end of the transport, while the server
    // stream is still alive (not dropped).
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut back))
        .await
        .expect("the transport ended")
        .unwrap();
    let mut plain = Vec::new();
    assert!(decoder.decode(&back, &mut plain).unwrap().goodbye);
    drop(server);
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_stalls_times_out_and_releases_its_buffer() {
    let (server, mut raw, encoder, _) = server_with_raw_client();
    let mut server = server.with_frame_timeout(Some(Duration::from_secs(30)));
    let mut encoder = encoder.with_max_body(65535);
    let mut wire = Vec::new();
    encoder.encode(&[3; 65535], &mut wire);
    // The header announcing 65,535 bytes and a little of the body, then silence.
    raw.write_all(&wire[..34 + 1000]).await.unwrap();

    let read = tokio::spawn(async move {
        let result = server.read(&mut [0; 1024]).await;
        (result, server)
    });
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(!read.is_finished(), "timed out early");
    let (result, server) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("no timeout within 60 s")
        .unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ms_shs::BoxStreamError>())
        .expect("a BoxStreamError inside");
    assert!(
        matches!(
            inner,
            ms_shs::BoxStreamError::FrameTimeout {
                got: 1000,
                wanted: 65535,
                ..
            }
        ),
        "{inner:?}"
    );
    assert_eq!(server.buffer_memory(), 0, "the read buffer was released");
    drop(raw);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_between_frames_never_times_out() {
    let (mut server, mut raw, mut encoder, _) = server_with_raw_client();
    let mut wire = Vec::new();
    encoder.encode(b"one", &mut wire);
    raw.write_all(&wire).await.unwrap();
    let mut buf = [0; 3];
    server.read_exact(&mut buf).await.unwrap();
    let read = tokio::spawn(async move {
        let mut buf = [0; 3];
        server.read_exact(&mut buf).await.map(|_| buf)
    });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!read.is_finished());
    wire.clear();
    encoder.encode(b"two", &mut wire);
    raw.write_all(&wire).await.unwrap();
    assert_eq!(&read.await.unwrap().unwrap(), b"two");
}
