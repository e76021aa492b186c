//! The conformance suite: the behaviour every transport and transform must have.
//!
//! A plugin crate describes how to build a server and a client that use it ([`Fixture`]) and
//! runs every check with one line, [`conformance!`](crate::conformance). Each check is also a
//! public function here, to run one on its own.
//!
//! The checks assume nothing about the plugin beyond the [`ms_core`] traits: the server echoes
//! what it receives and shuts its sending side down when the client's side ends.

use std::future::Future;
use std::time::Duration;

use ms_core::{
    Builder, Connection, DialOptions, Error, ErrorKind, MultiAddress, MultiServer, PeerKey, Scope,
    Server,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How to test a plugin: a server node, a client node, and addresses to try.
///
/// Built with [`Fixture::new`]; the public fields can then be changed, and who each side is
/// set with [`expect_identities`](Self::expect_identities).
pub struct Fixture {
    /// A node serving the stack under test. Built fresh for every check.
    pub server: MultiServer,
    /// A node that can dial the server's advertised address.
    pub client: MultiServer,
    /// The scope whose advertised address the client dials.
    pub scope: Scope,
    /// An address the client understands but where nothing listens.
    pub dead_address: String,
    /// Addresses the client must refuse without dialling (malformed for this stack).
    pub bad_addresses: Vec<String>,
    /// Whether shutting down one direction leaves the other one open (TCP and unix sockets
    /// yes; WebSockets no).
    pub half_close: bool,
    /// Bytes sent each way by the large-transfer check.
    pub large_transfer: usize,
    /// An address whose dial never completes (a black hole), to abort mid-dial. Without it,
    /// the mid-dial check aborts after the first poll of a dial to the live server.
    pub black_hole: Option<String>,
    /// Whatever must live as long as the check (temporary directories, helper servers).
    pub keep_alive: Vec<Box<dyn std::any::Any + Send>>,
    /// Who the server's accepted connection says the client is.
    server_sees: Option<PeerKey>,
    /// Who the client's connection says the server is.
    client_sees: Option<PeerKey>,
}

impl Fixture {
    /// A fixture with defaults: device scope, half-close supported, 4 MiB transfers.
    pub fn new(server: MultiServer, client: MultiServer, dead_address: impl Into<String>) -> Self {
        Self {
            server,
            client,
            scope: Scope::Device,
            dead_address: dead_address.into(),
            bad_addresses: Vec::new(),
            half_close: true,
            large_transfer: 4 * 1024 * 1024,
            black_hole: None,
            keep_alive: Vec::new(),
            server_sees: None,
            client_sees: None,
        }
    }

    /// Says who each side of a connection names as its peer, for [`names_the_peer`]:
    /// `server_sees` is the [`remote_key`](Connection::remote_key) of the connection the server
    /// accepts (the client's key), `client_sees` that of the connection the client dials (the
    /// server's key). `None` means that side must name nobody.
    ///
    /// Without this call a fixture expects no identity on either side, as a bare transport
    /// gives: a stack that authenticates (a transform such as `shs`, or a transport such as
    /// QUIC) must say whom it names, so a stack that names the wrong peer, or names one where
    /// it should not, fails the check.
    ///
    /// ```
    /// use ms_core::{MultiServer, PeerKey, Stack};
    /// use ms_testkit::{Fixture, MemNetwork, MemTransport};
    ///
    /// let network = MemNetwork::new();
    /// let (a, b) = (PeerKey::other("test", vec![1]), PeerKey::other("test", vec![2]));
    /// let server = MultiServer::new([Stack::new(
    ///     MemTransport::new(&network).with_identity(a.clone()),
    /// )])?;
    /// let client = MultiServer::new([Stack::new(
    ///     MemTransport::new(&network).with_identity(b.clone()),
    /// )])?;
    /// let dead = format!("mem:{}", network.unused_port());
    /// let f = Fixture::new(server, client, dead).expect_identities(Some(b.clone()), Some(a.clone()));
    /// assert_eq!(f.server_sees(), Some(&b));
    /// assert_eq!(f.client_sees(), Some(&a));
    /// # Ok::<(), ms_core::Error>(())
    /// ```
    #[must_use]
    pub fn expect_identities(
        mut self,
        server_sees: Option<PeerKey>,
        client_sees: Option<PeerKey>,
    ) -> Self {
        self.server_sees = server_sees;
        self.client_sees = client_sees;
        self
    }

    /// Who the server's accepted connection must name (see
    /// [`expect_identities`](Self::expect_identities)).
    pub fn server_sees(&self) -> Option<&PeerKey> {
        self.server_sees.as_ref()
    }

    /// Who the client's dialled connection must name (see
    /// [`expect_identities`](Self::expect_identities)).
    pub fn client_sees(&self) -> Option<&PeerKey> {
        self.client_sees.as_ref()
    }
}

/// Runs every check of the suite as its own `#[tokio::test]`.
///
/// The argument is an expression callable as `Fn() -> Fixture` (a function path or a closure).
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// ms_testkit::conformance!(my_fixture);              // in a module named `conformance`
/// ms_testkit::conformance!(net_noauth, net_fixture); // in a module named `net_noauth`
/// ```
#[macro_export]
macro_rules! conformance {
    ($fixture:expr) => {
        $crate::conformance!(conformance, $fixture);
    };
    ($module:ident, $fixture:expr) => {
        $crate::conformance!(@tests $module; $fixture;
            round_trips_its_address,
            listens_on_ephemeral_addresses,
            echoes_both_directions,
            serves_many_concurrent_connections,
            transfers_large_data_intact,
            supports_half_close,
            aborts_before_dialling,
            aborts_during_a_dial,
            keeps_connections_when_the_listener_closes,
            fails_to_dial_a_dead_address,
            classifies_a_dead_address_as_refused,
            classifies_a_black_hole_as_a_timeout,
            rejects_bad_addresses,
            a_slow_application_does_not_block_new_handshakes,
            keeps_the_connection_slot_until_the_stream_is_dropped,
            accept_is_cancel_safe,
            names_the_peer
        );
    };
    (@tests $module:ident; $fixture:expr; $($check:ident),*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    $crate::suite::$check(&$fixture).await;
                }
            )*
        }
    };
}

const CHECK_DEADLINE: Duration = Duration::from_secs(120);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(CHECK_DEADLINE, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: did not finish within {CHECK_DEADLINE:?} (a hang)"),
    }
}

/// A listening server that echoes every connection back; counts accepted connections.
pub struct EchoServer {
    /// The address the client dials.
    pub address: MultiAddress,
    accepted: tokio::sync::watch::Receiver<usize>,
    close: ms_core::CloseHandle,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// Starts `server` and echoes every connection it accepts.
    pub async fn start(node: &MultiServer, scope: Scope) -> Self {
        let server = node
            .listen()
            .await
            .unwrap_or_else(|e| panic!("listen failed: {e}"));
        let address = server.address(scope);
        assert!(
            !address.is_empty(),
            "the server advertises nothing for scope {scope}"
        );
        Self::serve(server, address)
    }

    fn serve(mut server: Server, address: MultiAddress) -> Self {
        let (count_tx, accepted) = tokio::sync::watch::channel(0usize);
        let close = server.close_handle();
        let task = tokio::spawn(async move {
            while let Some(conn) = server.accept().await {
                count_tx.send_modify(|n| *n += 1);
                tokio::spawn(serve_echo(conn));
            }
            // Waits until the listeners are released, so a dial after `close` finds nothing.
            server.close().await;
        });
        Self {
            address,
            accepted,
            close,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        *self.accepted.borrow()
    }

    /// Closes the listeners (echoing connections go on).
    pub async fn close(self) {
        self.close.close();
        let _ = self.task.await;
    }
}

async fn serve_echo(conn: Connection) {
    let (mut reader, mut writer) = tokio::io::split(conn);
    let _ = tokio::io::copy(&mut reader, &mut writer).await;
    let _ = writer.shutdown().await;
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `data` while reading the same number of bytes back (concurrently, so a large
/// transfer cannot deadlock on full buffers) and returns what came back.
pub async fn echo<S>(conn: &mut S, data: &[u8]) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(conn);
    let write = async {
        writer.write_all(data).await.expect("write failed");
        writer.flush().await.expect("flush failed");
    };
    let read = async {
        let mut back = vec![0u8; data.len()];
        reader
            .read_exact(&mut back)
            .await
            .expect("reading the echo failed");
        back
    };
    let ((), back) = tokio::join!(write, read);
    back
}

/// Writes `data` while reading the same amount back, then checks it.
pub async fn echo_round_trip(conn: &mut Connection, data: &[u8]) {
    let back = echo(conn, data).await;
    assert!(
        back == data,
        "the echo differs from what was sent ({} bytes)",
        data.len()
    );
}

async fn dial(client: &MultiServer, address: &MultiAddress) -> Connection {
    client
        .connect_to(address)
        .await
        .unwrap_or_else(|e| panic!("dialling {address} failed: {e}"))
}

/// The advertised address prints and parses back to itself, and the client understands it.
pub async fn round_trips_its_address(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("round_trips_its_address", async {
        let server = f.server.listen().await.expect("listen failed");
        let address = server.address(f.scope);
        assert!(!address.is_empty(), "nothing advertised for {}", f.scope);
        let text = address.to_string();
        let parsed = MultiAddress::parse(&text).expect("the advertised address does not parse");
        assert_eq!(parsed, address);
        assert_eq!(parsed.to_string(), text);
        f.client
            .plan(&parsed)
            .expect("the client does not understand the server's address");
        server.close().await;
    })
    .await
}

/// Two servers built the same way listen on different ephemeral addresses.
pub async fn listens_on_ephemeral_addresses(make: &dyn Fn() -> Fixture) {
    let (a, b) = (make(), make());
    bounded("listens_on_ephemeral_addresses", async {
        let first = a.server.listen().await.expect("first listen failed");
        let second = b.server.listen().await.expect("second listen failed");
        assert_ne!(first.address(a.scope), second.address(b.scope));
        first.close().await;
        second.close().await;
    })
    .await
}

/// Bytes go both ways, in several exchanges on one connection.
pub async fn echoes_both_directions(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("echoes_both_directions", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let mut conn = dial(&f.client, &server.address).await;
        for (i, len) in [1usize, 100, 4096, 4097, 65536].into_iter().enumerate() {
            echo_round_trip(&mut conn, &pattern(len, i as u32 + 1)).await;
        }
        server.close().await;
    })
    .await
}

/// Many connections at once, each with its own data.
pub async fn serves_many_concurrent_connections(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("serves_many_concurrent_connections", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let mut tasks = Vec::new();
        for i in 0..24u32 {
            let client = f.client.clone();
            let address = server.address.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = dial(&client, &address).await;
                echo_round_trip(&mut conn, &pattern(32 * 1024, i + 7)).await;
            }));
        }
        for task in tasks {
            task.await.expect("a connection task failed");
        }
        assert_eq!(server.accepted(), 24);
        server.close().await;
    })
    .await
}

/// A large transfer arrives intact.
pub async fn transfers_large_data_intact(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("transfers_large_data_intact", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let mut conn = dial(&f.client, &server.address).await;
        echo_round_trip(&mut conn, &pattern(f.large_transfer, 42)).await;
        server.close().await;
    })
    .await
}

/// After the client ends its side, the server still sends, and then ends its own.
pub async fn supports_half_close(make: &dyn Fn() -> Fixture) {
    let f = make();
    if !f.half_close {
        return;
    }
    bounded("supports_half_close", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let mut conn = dial(&f.client, &server.address).await;
        let data = pattern(100_000, 9);
        conn.write_all(&data).await.expect("write failed");
        conn.shutdown().await.expect("shutdown failed");
        let mut back = Vec::new();
        conn.read_to_end(&mut back)
            .await
            .expect("reading after our shutdown failed");
        assert!(back == data, "the echo after half-close differs");
        server.close().await;
    })
    .await
}

/// A dial aborted before it is polled fails with `Aborted`.
pub async fn aborts_before_dialling(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("aborts_before_dialling", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let dial = f.client.dial(&server.address.to_string());
        dial.abort_handle().abort();
        assert!(matches!(dial.await, Err(Error::Aborted)));
        server.close().await;
    })
    .await
}

/// A dial aborted while in progress fails with `Aborted` and leaves the node usable.
pub async fn aborts_during_a_dial(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("aborts_during_a_dial", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let target = f
            .black_hole
            .clone()
            .unwrap_or_else(|| server.address.to_string());
        let mut dial = f.client.dial(&target);
        let handle = dial.abort_handle();
        let first = futures_util::poll!(&mut dial);
        if f.black_hole.is_some() {
            assert!(first.is_pending(), "a dial to the black hole completed");
        }
        if first.is_pending() {
            handle.abort();
            assert!(matches!(dial.await, Err(Error::Aborted)));
        }
        // The node still dials normally afterwards.
        let mut conn = dial_ok(&f.client, &server.address).await;
        echo_round_trip(&mut conn, b"after abort").await;
        server.close().await;
    })
    .await
}

async fn dial_ok(client: &MultiServer, address: &MultiAddress) -> Connection {
    dial(client, address).await
}

/// Closing the server stops new connections but leaves open ones working.
pub async fn keeps_connections_when_the_listener_closes(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("keeps_connections_when_the_listener_closes", async {
        let server = EchoServer::start(&f.server, f.scope).await;
        let address = server.address.clone();
        let mut conn = dial(&f.client, &address).await;
        echo_round_trip(&mut conn, b"before close").await;
        server.close().await;
        echo_round_trip(&mut conn, b"after close").await;
        let again = f.client.connect_to(&address).await;
        assert!(again.is_err(), "dialled a closed server");
    })
    .await
}

/// Dialling an address where nothing listens fails with an error, not a hang.
pub async fn fails_to_dial_a_dead_address(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("fails_to_dial_a_dead_address", async {
        match f.client.connect(&f.dead_address).await {
            Ok(conn) => panic!("dialled a dead address: {conn:?}"),
            Err(Error::Unsupported { .. } | Error::Address(_)) => {
                panic!(
                    "the client does not understand the dead address {}",
                    f.dead_address
                )
            }
            Err(_) => {}
        }
    })
    .await
}

/// A dial to the dead address says [`ErrorKind::Refused`] through [`Error::kind`]: the
/// transport classifies its errors (see [`ms_core::Classify`]).
pub async fn classifies_a_dead_address_as_refused(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("classifies_a_dead_address_as_refused", async {
        let err = match f.client.connect(&f.dead_address).await {
            Ok(conn) => panic!("dialled a dead address: {conn:?}"),
            Err(err) => err,
        };
        assert_eq!(
            err.kind(),
            ErrorKind::Refused,
            "dialling the dead address {}: {err}",
            f.dead_address
        );
    })
    .await
}

/// A dial to the black hole that runs out of time says [`ErrorKind::Timeout`], whichever
/// deadline fires first (the transport's own or the attempt's). Skipped without a black hole.
pub async fn classifies_a_black_hole_as_a_timeout(make: &dyn Fn() -> Fixture) {
    let f = make();
    let Some(target) = f.black_hole.clone() else {
        return;
    };
    bounded("classifies_a_black_hole_as_a_timeout", async {
        let address: MultiAddress = target.parse().expect("the black hole parses");
        let options = DialOptions::default().with_attempt_timeout(Duration::from_millis(300));
        let err = match f.client.connect_with(&address, &options).await {
            Ok(conn) => panic!("dialled the black hole: {conn:?}"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::Timeout, "dialling {target}: {err}");
        assert!(err.is_timeout());
    })
    .await
}

/// Malformed addresses are refused without dialling.
pub async fn rejects_bad_addresses(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("rejects_bad_addresses", async {
        let mut all = vec![
            String::new(),
            ";".into(),
            "~".into(),
            "unknown:thing".into(),
            "\u{0}".into(),
        ];
        all.extend(f.bad_addresses.iter().cloned());
        for bad in &all {
            match f.client.connect(bad).await {
                Err(Error::Unsupported { .. } | Error::Address(_)) => {}
                other => panic!("`{bad}` was not refused as an address: {other:?}"),
            }
        }
    })
    .await
}

/// The fixture's server stacks and limits, with some limits changed by `tune`.
fn rebuilt(server: &MultiServer, tune: impl FnOnce(Builder) -> Builder) -> MultiServer {
    let builder = server
        .stacks()
        .iter()
        .fold(MultiServer::builder(), |b, stack| b.stack(stack.clone()))
        .config(server.config().clone());
    tune(builder)
        .build()
        .unwrap_or_else(|e| panic!("rebuilding the fixture's server failed: {e}"))
}

/// Connections that got through their stack while the application was not taking them do not
/// count as handshakes in progress: with room for two handshakes and one waiting connection,
/// six peers dialled one after the other all get through, and each echoes once the
/// application takes them.
pub async fn a_slow_application_does_not_block_new_handshakes(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("a_slow_application_does_not_block_new_handshakes", async {
        let node = rebuilt(&f.server, |b| {
            b.max_pending_per_stack(2)
                .event_buffer(1)
                .handover_timeout(CHECK_DEADLINE)
        });
        let mut server = node.listen().await.expect("listen failed");
        let address = server.address(f.scope);
        // Nobody takes the connections yet.
        let mut conns = Vec::new();
        for _ in 0..6 {
            conns.push(dial(&f.client, &address).await);
        }
        // Now the application takes them, in order, and echoes each.
        let app = tokio::spawn(async move {
            for _ in 0..6 {
                let conn = server.accept().await.expect("the server closed");
                tokio::spawn(serve_echo(conn));
            }
            server
        });
        for (i, conn) in conns.iter_mut().enumerate() {
            echo_round_trip(conn, &pattern(1000, i as u32 + 1)).await;
        }
        app.await.expect("the application failed").close().await;
    })
    .await
}

/// A connection split with [`Connection::into_parts`] keeps its place under
/// `max_connections_per_stack` until its stream is dropped: with a limit of one, a second peer
/// is turned away while the first stream lives, and a third gets in once it is dropped.
pub async fn keeps_the_connection_slot_until_the_stream_is_dropped(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded(
        "keeps_the_connection_slot_until_the_stream_is_dropped",
        async {
            let node = rebuilt(&f.server, |b| b.max_connections_per_stack(1));
            let mut server = node.listen().await.expect("listen failed");
            let address = server.address(f.scope);
            let mut first = dial(&f.client, &address).await;
            let (mut stream, _info) = server
                .accept()
                .await
                .expect("the server closed")
                .into_parts();
            first.write_all(b"ping").await.expect("write failed");
            first.flush().await.expect("flush failed");
            let mut ping = [0u8; 4];
            stream.read_exact(&mut ping).await.expect("read failed");
            assert_eq!(&ping, b"ping");

            // The slot is taken: a second peer is closed (during its handshake, or right after).
            if let Ok(mut second) = f.client.connect_to(&address).await {
                let mut buf = [0u8; 1];
                let read = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buf))
                    .await
                    .expect("a second connection got in while the first stream was alive");
                assert!(
                    matches!(read, Ok(0) | Err(_)),
                    "the second connection got data"
                );
            }

            // Dropping the stream gives the slot back.
            drop(stream);
            drop(first);
            let mut third = dial(&f.client, &address).await;
            let app = tokio::spawn(async move {
                let conn = server.accept().await.expect("the server closed");
                tokio::spawn(serve_echo(conn));
                server
            });
            echo_round_trip(&mut third, b"third").await;
            app.await.expect("the application failed").close().await;
        },
    )
    .await
}

/// How many connections [`accept_is_cancel_safe`] dials.
const CANCEL_SAFE_DIALS: usize = 16;

/// How long [`accept_is_cancel_safe`] keeps accepting once every dial has completed.
const CANCEL_SAFE_GRACE: Duration = Duration::from_secs(10);

/// [`Listener::accept`](ms_core::Listener::accept) is cancel-safe, as the node's accept loop
/// needs: with the server stack's listener taken directly from its transport, 16 dials from
/// the client's transport (one after the other, 2 ms apart) all come out of `accept` although
/// the check keeps dropping `accept` futures early (every other call is dropped after its
/// second poll, the others after 5 ms).
/// A listener that takes a connection and then awaits something before returning it loses
/// connections here.
///
/// The transport's own set-up ([`Accepted::pending`](ms_core::Accepted::pending)) is run for
/// every accepted connection, so transports whose dial needs it (WebSocket) complete.
pub async fn accept_is_cancel_safe(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("accept_is_cancel_safe", async {
        let stack = f
            .server
            .stacks()
            .iter()
            .find(|stack| stack.transport().can_listen())
            .expect("the fixture's server has no stack that listens");
        let listener = stack
            .transport()
            .listen()
            .await
            .unwrap_or_else(|e| panic!("listen failed: {e}"));
        let section = listener
            .advertise(f.scope)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("the listener advertises nothing for scope {}", f.scope));
        // Dial with the client's transport for this section (it may be configured to trust
        // the server), else with the server's own.
        let dialler = f
            .client
            .stacks()
            .iter()
            .map(|stack| stack.transport())
            .find(|transport| {
                transport.name() == section.name() && transport.understands(&section).is_ok()
            })
            .unwrap_or(stack.transport())
            .clone();
        // One dial after the other, a little apart, so that connections arrive both while an
        // `accept` future waits and while none does.
        let dials = tokio::spawn(async move {
            let mut connected = Vec::new();
            for _ in 0..CANCEL_SAFE_DIALS {
                match dialler.connect(&section).await {
                    Ok(conn) => connected.push(conn),
                    Err(e) => panic!("a dial failed: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            connected
        });

        let mut accepted = 0;
        let mut cancelled = 0;
        let mut setups = JoinSet::new();
        let mut give_up: Option<Instant> = None;
        let mut round = 0u64;
        while accepted < CANCEL_SAFE_DIALS {
            round += 1;
            let next = if round.is_multiple_of(2) {
                tokio::select! {
                    biased;
                    next = listener.accept() => Some(next),
                    () = tokio::task::yield_now() => None,
                }
            } else {
                tokio::time::timeout(Duration::from_millis(5), listener.accept())
                    .await
                    .ok()
            };
            match next {
                Some(Ok(incoming)) => {
                    accepted += 1;
                    setups.spawn(incoming.stream);
                }
                Some(Err(e)) => panic!("accept failed: {e}"),
                None => cancelled += 1,
            }
            if give_up.is_none() && dials.is_finished() {
                give_up = Some(Instant::now() + CANCEL_SAFE_GRACE);
            }
            if give_up.is_some_and(|at| Instant::now() >= at) {
                break;
            }
        }
        assert_eq!(
            accepted,
            CANCEL_SAFE_DIALS,
            "{} of {CANCEL_SAFE_DIALS} connections were lost while accept futures were dropped \
             ({cancelled} dropped): Listener::accept is not cancel-safe",
            CANCEL_SAFE_DIALS - accepted
        );
        let connected = dials.await.expect("the dialling task failed");
        assert_eq!(connected.len(), CANCEL_SAFE_DIALS);
        assert!(
            cancelled > 0,
            "no accept future was dropped: the check checked nothing"
        );
        drop(connected);
        setups.abort_all();
        drop(listener);
    })
    .await
}

/// Each side names the peer the fixture says ([`Fixture::expect_identities`]; by default
/// nobody): the client's [`Connection::remote_key`] is the server's key and the server's
/// accepted connection names the client, whichever layer (transform or transport) established
/// it, and [`Connection::remote_ed25519`] agrees with it. A byte goes each way first, so both
/// sides are past every handshake.
pub async fn names_the_peer(make: &dyn Fn() -> Fixture) {
    let f = make();
    bounded("names_the_peer", async {
        let mut server = f.server.listen().await.expect("listen failed");
        let address = server.address(f.scope);
        let accept = tokio::spawn(async move {
            let conn = server.accept().await.expect("the server closed");
            (conn, server)
        });
        let mut outbound = dial(&f.client, &address).await;
        let (mut inbound, server) = accept.await.expect("the accepting task failed");
        outbound.write_all(b"?").await.expect("write failed");
        outbound.flush().await.expect("flush failed");
        let mut byte = [0u8; 1];
        inbound.read_exact(&mut byte).await.expect("read failed");
        inbound.write_all(b"!").await.expect("write failed");
        inbound.flush().await.expect("flush failed");
        outbound.read_exact(&mut byte).await.expect("read failed");

        assert_names(
            "the client's connection (who the server is)",
            &outbound,
            f.client_sees(),
        );
        assert_names(
            "the server's accepted connection (who the client is)",
            &inbound,
            f.server_sees(),
        );
        drop((outbound, inbound));
        server.close().await;
    })
    .await
}

fn assert_names(what: &str, conn: &Connection, expected: Option<&PeerKey>) {
    assert_eq!(
        conn.remote_key(),
        expected,
        "{what} names the wrong peer (stack {}): the fixture expects {}, see \
         Fixture::expect_identities",
        conn.info().stack,
        expected.map_or_else(|| "nobody".to_owned(), ToString::to_string),
    );
    assert_eq!(
        conn.remote_ed25519(),
        expected.and_then(PeerKey::ed25519),
        "{what}: remote_ed25519 disagrees with remote_key"
    );
}
