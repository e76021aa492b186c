//! MultiServer behaviour: stack choice, fallback, errors, limits, events, close.

use std::time::Duration;

use ms_core::{
    Accepted, BoxError, BoxedIo, Connected, Error, Event, Identity, Listener, MultiServer, PeerKey,
    PublicKey, Scope, Scopes, Section, SectionError, Stack, Transform, Transport, Upgraded,
    async_trait,
};
use ms_testkit::{Fault, MemNetwork, MemTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A toy transform for these tests: the client sends the password from its `pw:<password>`
/// section, the server accepts only its own.
struct Password(&'static str);

#[async_trait]
impl Transform for Password {
    fn name(&self) -> &str {
        "pw"
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        if section.name() != "pw" {
            return Err(SectionError::WrongProtocol {
                expected: "pw",
                found: section.name().to_owned(),
            });
        }
        if section.rest().is_empty() {
            return Err(SectionError::Missing {
                what: "password",
                after: "pw",
                at: 2,
            });
        }
        Ok(())
    }

    fn advertise(&self) -> Option<Section> {
        Section::new(format!("pw:{}", self.0)).ok()
    }

    fn check_stack(&self, scopes: Scopes) -> Result<(), BoxError> {
        if scopes.contains(Scope::Public) {
            return Err("pw is not for public stacks".into());
        }
        Ok(())
    }

    async fn upgrade_inbound(&self, mut stream: BoxedIo) -> Result<Upgraded, BoxError> {
        let len = stream.read_u8().await? as usize;
        let mut password = vec![0; len];
        stream.read_exact(&mut password).await?;
        if password != self.0.as_bytes() {
            return Err("wrong password".into());
        }
        stream.write_u8(1).await?;
        Ok(Upgraded::new(stream, Section::new("pw:ok")?).with_identity(
            ms_core::Identity::new(PublicKey([7; 32])).with_auth(ms_core::AuthValue::new("friend")),
        ))
    }

    async fn upgrade_outbound(
        &self,
        mut stream: BoxedIo,
        section: &Section,
    ) -> Result<Upgraded, BoxError> {
        let password = section.rest().as_bytes();
        stream.write_u8(password.len() as u8).await?;
        stream.write_all(password).await?;
        stream.flush().await?;
        if stream.read_u8().await? != 1 {
            return Err("refused".into());
        }
        Ok(Upgraded::new(stream, section.clone()))
    }
}

fn mem(network: &MemNetwork) -> MemTransport {
    MemTransport::new(network)
}

/// The key the [`Authenticating`] transport says every peer has.
const TRANSPORT_KEY: PublicKey = PublicKey([9; 32]);

/// The mem transport, made to say who the peer is on both sides (that it has this key), as a
/// transport that authenticates peers itself (QUIC, TLS, a paired link) would.
struct Authenticating(MemTransport, PeerKey);

impl Authenticating {
    /// Says every peer has the Ed25519 key [`TRANSPORT_KEY`].
    fn ed25519(transport: MemTransport) -> Self {
        Self(transport, TRANSPORT_KEY.into())
    }
}

#[async_trait]
impl Transport for Authenticating {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn scopes(&self) -> Scopes {
        self.0.scopes()
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        self.0.understands(section)
    }

    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let connected = self.0.connect(section).await?;
        Ok(connected.with_identity(Identity::from_key(self.1.clone())))
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(AuthenticatingListener(
            self.0.listen().await?,
            self.1.clone(),
        )))
    }
}

struct AuthenticatingListener(Box<dyn Listener>, PeerKey);

#[async_trait]
impl Listener for AuthenticatingListener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        let accepted = self.0.accept().await?;
        Ok(accepted.with_identity(Identity::from_key(self.1.clone())))
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        self.0.advertise(scope)
    }
}

#[tokio::test]
async fn advertises_each_stack_with_its_transforms_for_its_scopes() {
    let network = MemNetwork::new();
    let node = MultiServer::new([
        Stack::new(mem(&network)).with(Password("a")),
        Stack::new(mem(&network).with_scopes(Scopes::LOCAL | Scopes::PUBLIC)),
    ])
    .unwrap();
    let server = node.listen().await.unwrap();
    let device = server.address(Scope::Device).to_string();
    let public = server.address(Scope::Public).to_string();
    assert!(
        device.starts_with("mem:") && device.ends_with("~pw:a"),
        "{device}"
    );
    assert!(!device.contains(';'));
    assert!(
        public.starts_with("mem:") && !public.contains("pw"),
        "{public}"
    );
    assert_eq!(server.addresses().len(), 3);
    server.close().await;
}

#[tokio::test]
async fn picks_the_first_alternative_some_stack_understands() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network)).with(Password("a"))]).unwrap();
    let address = "fake:x~nul:y;mem:5~pw:a;mem:6~pw:a".parse().unwrap();
    let plan = node.plan(&address).unwrap();
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[0].0.to_string(), "mem:5~pw:a");
    assert_eq!(plan[0].1.name(), "mem~pw");
}

#[tokio::test]
async fn a_stack_needs_exactly_one_section_per_plugin() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network)).with(Password("a"))]).unwrap();
    // Missing the transform section: the reference would silently run the server side.
    let err = node.connect("mem:5").await.unwrap_err();
    match &err {
        Error::Unsupported { reasons, known, .. } => {
            assert_eq!(known, &["mem~pw"]);
            assert!(reasons[0].to_string().contains("needs 2 sections"), "{err}");
        }
        other => panic!("expected Unsupported, got {other}"),
    }
    // Extra sections are not understood either.
    assert!(matches!(
        node.connect("mem:5~pw:a~pw:a").await,
        Err(Error::Unsupported { .. })
    ));
    // A malformed transform section is reported with its position in the whole address.
    let err = node.connect("mem:5~pw:").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("expected password after pw at byte 8"),
        "{err}"
    );
}

#[tokio::test]
async fn an_alternative_that_does_not_parse_is_skipped_not_fatal() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let live = server.address(Scope::Device).to_string();
    // Issue 13 item 5: each of these was refused whole; the reference dials the good one.
    for bad in ["x!y", "#", "_tor:abc", "mem:1~~pw:a", ""] {
        for input in [format!("{live};{bad}"), format!("{bad};{live}")] {
            let dial = tokio::spawn({
                let node = node.clone();
                async move { node.connect(&input).await }
            });
            assert!(server.accept().await.is_some());
            dial.await.unwrap().unwrap();
        }
    }

    // When the dial fails, the error says what was skipped and why.
    let refused = network.unused_port();
    network.set_fault(refused, Fault::Refuse);
    let err = node
        .connect(&format!("mem:{refused};x!y"))
        .await
        .unwrap_err();
    match &err {
        Error::AllFailed { attempts, skipped } => {
            assert_eq!(attempts.len(), 1);
            assert_eq!(skipped.len(), 1);
            assert_eq!(skipped[0].text(), "x!y");
        }
        other => panic!("expected AllFailed, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("skipped `x!y`: '!y' is not an escape"),
        "{err}"
    );
    let err = node.connect("fake:1;#").await.unwrap_err();
    match &err {
        Error::Unsupported { skipped, .. } => assert_eq!(skipped[0].text(), "#"),
        other => panic!("expected Unsupported, got {other}"),
    }
    assert!(err.to_string().contains("skipped `#`"), "{err}");
    // Nothing usable at all: the address error.
    assert!(matches!(
        node.connect("x!y;#").await,
        Err(Error::Address(_))
    ));
    server.close().await;
}

#[tokio::test]
async fn falls_back_to_the_next_alternative_and_reports_every_failure() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let live = server.address(Scope::Device);
    let refused = network.unused_port();
    network.set_fault(refused, Fault::Refuse);
    let conn = tokio::spawn({
        let node = node.clone();
        let address = format!("mem:{refused};{live}");
        async move { node.connect(&address).await }
    });
    assert!(server.accept().await.is_some());
    conn.await.unwrap().unwrap();

    let dead = network.unused_port();
    let err = node
        .connect(&format!("mem:{refused};mem:{dead}"))
        .await
        .unwrap_err();
    match &err {
        Error::AllFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 2);
            assert_eq!(attempts[0].address, format!("mem:{refused}"));
            assert!(matches!(attempts[1].error, Error::Connect { .. }));
        }
        other => panic!("expected AllFailed, got {other}"),
    }
    assert!(
        err.to_string().starts_with("all 2 alternatives failed"),
        "{err}"
    );
    server.close().await;
}

#[tokio::test]
async fn a_dial_times_out_instead_of_hanging() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)))
        .dial_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let hole = network.unused_port();
    network.set_fault(hole, Fault::BlackHole);
    let err = node.connect(&format!("mem:{hole}")).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(network.dials_in_progress(), 0, "the timed-out dial leaked");
}

#[tokio::test]
async fn aborting_a_dial_leaves_nothing_behind() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let hole = network.unused_port();
    network.set_fault(hole, Fault::Delay(Duration::from_secs(3600)));
    let dial = node.dial(&format!("mem:{hole}"));
    let abort = dial.abort_handle();
    let task = tokio::spawn(dial);
    while network.dials_in_progress() == 0 {
        tokio::task::yield_now().await;
    }
    abort.abort();
    assert!(matches!(task.await.unwrap(), Err(Error::Aborted)));
    assert_eq!(network.dials_in_progress(), 0);
    assert_eq!(network.open_streams(), 0);
}

#[tokio::test]
async fn transforms_authenticate_and_refusals_become_events() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network)).with(Password("secret"))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let port = server.address(Scope::Device).alternatives()[0]
        .transport()
        .clone();

    let bad = node.connect(&format!("{port}~pw:guess")).await;
    assert!(matches!(bad, Err(Error::Transform { .. })), "{bad:?}");
    match server.next_event().await.unwrap() {
        Event::Rejected { stack, error } => {
            assert_eq!(stack, "mem~pw");
            assert!(error.to_string().contains("wrong password"), "{error}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    let client = tokio::spawn({
        let node = node.clone();
        let address = format!("{port}~pw:secret");
        async move { node.connect(&address).await }
    });
    let conn = server.accept().await.unwrap();
    assert_eq!(conn.remote_ed25519(), Some(&PublicKey([7; 32])));
    assert_eq!(conn.auth().unwrap().downcast_ref::<&str>(), Some(&"friend"));
    assert!(conn.remote_address().to_string().ends_with("~pw:ok"));
    let outbound = client.await.unwrap().unwrap();
    assert_eq!(outbound.info().stack, "mem~pw");
    assert_eq!(
        outbound.remote_address().to_string(),
        format!("{port}~pw:secret")
    );
    server.close().await;
}

#[tokio::test]
async fn a_transport_can_say_who_the_peer_is() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(Authenticating::ed25519(mem(&network)))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let client = tokio::spawn({
        let node = node.clone();
        async move { node.connect(&address).await }
    });
    let inbound = server.accept().await.unwrap();
    assert_eq!(inbound.remote_ed25519(), Some(&TRANSPORT_KEY));
    assert!(inbound.auth().is_none());
    let outbound = client.await.unwrap().unwrap();
    assert_eq!(outbound.remote_ed25519(), Some(&TRANSPORT_KEY));
    server.close().await;
}

#[tokio::test]
async fn a_transport_can_name_the_peer_with_a_key_of_another_kind() {
    let network = MemNetwork::new();
    let key = PeerKey::other("tls-spki-sha256", vec![5; 32]);
    let node = MultiServer::new([Stack::new(Authenticating(mem(&network), key.clone()))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let client = tokio::spawn({
        let node = node.clone();
        async move { node.connect(&address).await }
    });
    let inbound = server.accept().await.unwrap();
    let outbound = client.await.unwrap().unwrap();
    for conn in [&inbound, &outbound] {
        assert_eq!(conn.remote_key(), Some(&key));
        assert_eq!(conn.remote_key().unwrap().kind(), "tls-spki-sha256");
        assert_eq!(conn.remote_key().unwrap().as_bytes(), &[5; 32][..]);
        // Not an SSB identity: nothing that wants an Ed25519 key mistakes it for one.
        assert_eq!(conn.remote_ed25519(), None);
    }
    server.close().await;
}

#[tokio::test]
async fn the_last_layer_that_names_the_peer_wins() {
    let network = MemNetwork::new();
    let node =
        MultiServer::new([Stack::new(Authenticating::ed25519(mem(&network))).with(Password("pw"))])
            .unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let client = tokio::spawn({
        let node = node.clone();
        async move { node.connect(&address).await }
    });
    // Inbound, `pw` names the peer: its identity replaces the transport's.
    let inbound = server.accept().await.unwrap();
    assert_eq!(inbound.remote_ed25519(), Some(&PublicKey([7; 32])));
    assert_eq!(
        inbound.auth().unwrap().downcast_ref::<&str>(),
        Some(&"friend")
    );
    // Outbound, `pw` says nothing: the transport's identity stays.
    let outbound = client.await.unwrap().unwrap();
    assert_eq!(outbound.remote_ed25519(), Some(&TRANSPORT_KEY));
    server.close().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_inbound_deadline() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)).with(Password("secret")))
        .inbound_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    // A raw client that connects and says nothing.
    let raw = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let port = server.address(Scope::Device).alternatives()[0]
        .transport()
        .to_string();
    let mut silent = raw.connect(&port).await.unwrap();
    match server.next_event().await.unwrap() {
        Event::Rejected { error, .. } => assert!(error.is_timeout(), "{error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let mut buf = [0u8; 1];
    assert_eq!(
        silent.read(&mut buf).await.unwrap_or(0),
        0,
        "the server kept the peer"
    );
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_full_pending_budget_closes_the_most_silent_handshake_for_a_new_one() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)).with(Password("secret")))
        .max_pending_per_stack(2)
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let raw = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let port = server.address(Scope::Device).alternatives()[0]
        .transport()
        .to_string();
    // Lets the server run until it has nothing left to do (the clock is paused).
    let settle = || tokio::time::sleep(Duration::from_millis(10));
    let mut buf = [0u8; 1];

    let mut silent = raw.connect(&port).await.unwrap();
    settle().await;
    // A peer that has started its handshake (the password's length) and then stalls.
    let mut talking = raw.connect(&port).await.unwrap();
    talking.write_u8(6).await.unwrap();
    settle().await;
    // The budget is full: a newcomer is admitted and the silent one closed...
    let mut newcomer = raw.connect(&port).await.unwrap();
    settle().await;
    assert_eq!(silent.read(&mut buf).await.unwrap_or(0), 0);
    // ...and the next newcomer closes the silent newcomer, not the older peer that talked.
    let mut last = raw.connect(&port).await.unwrap();
    settle().await;
    assert_eq!(newcomer.read(&mut buf).await.unwrap_or(0), 0);
    talking.write_all(b"secret").await.unwrap();
    assert_eq!(
        talking.read_u8().await.unwrap(),
        1,
        "the talking peer was closed"
    );
    assert!(server.accept().await.is_some());
    // The last one is still pending: it gets through too.
    last.write_u8(6).await.unwrap();
    last.write_all(b"secret").await.unwrap();
    assert_eq!(last.read_u8().await.unwrap(), 1);
    assert!(server.accept().await.is_some());
    server.close().await;
}

#[tokio::test]
async fn one_stacks_full_pending_budget_does_not_touch_another_stack() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)).with(Password("secret")))
        .stack(Stack::new(mem(&network).with_scopes(Scopes::LOCAL)).with(Password("other")))
        .max_pending_per_stack(1)
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let flooded = server.address(Scope::Device).alternatives()[0]
        .transport()
        .to_string();
    let other = server.address(Scope::Local).to_string();
    let raw = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let _silent = raw.connect(&flooded).await.unwrap();
    // The other stack's budget is its own: a handshake there goes through.
    let client = MultiServer::new([Stack::new(mem(&network)).with(Password("x"))]).unwrap();
    let dial = tokio::spawn(async move { client.connect(&other).await });
    let conn = server.accept().await.unwrap();
    assert_eq!(conn.info().stack, "mem~pw");
    dial.await.unwrap().unwrap();
    server.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_the_application_does_not_take_in_time_is_closed() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)))
        .event_buffer(1)
        .handover_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    // The first waits in the event buffer; the second for room in it.
    let mut first = node.connect(&address).await.unwrap();
    let mut second = node.connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    first.write_all(b"1").await.unwrap();
    second.write_all(b"2").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The application was too slow for the second: it was closed.
    let mut buf = [0u8; 1];
    assert_eq!(second.read(&mut buf).await.unwrap_or(0), 0);
    let mut taken = server.accept().await.unwrap();
    taken.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"1");
    // A later one is handed over as usual.
    let _third = node.connect(&address).await.unwrap();
    assert!(server.accept().await.is_some());
    drop(first);
    server.close().await;
}

#[tokio::test]
async fn closing_the_server_releases_its_listeners() {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(mem(&network))]).unwrap();
    let server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    server.close().await;
    let err = node.connect(&address).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    // The port is free again.
    let again = MultiServer::new([Stack::new(
        mem(&network).with_port(address[4..].parse().unwrap()),
    )])
    .unwrap();
    again.listen().await.unwrap().close().await;
}

#[test]
fn a_transform_can_refuse_its_transport_scopes() {
    let network = MemNetwork::new();
    let err = MultiServer::new([
        Stack::new(mem(&network).with_scopes(Scopes::PUBLIC)).with(Password("a"))
    ])
    .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    assert!(err.plugin_error().is_some());
    assert!(err.to_string().contains("mem~pw"), "{err}");
    assert!(MultiServer::new([]).is_err());
}

#[tokio::test]
async fn the_open_connection_limit_frees_a_slot_when_a_connection_is_dropped() {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(mem(&network)))
        .max_connections_per_stack(1)
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let mut first = node.connect(&address).await.unwrap();
    let accepted = server.accept().await.unwrap();

    // The second connection is closed at once: it reads end-of-stream.
    let mut second = node.connect(&address).await.unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(second.read(&mut buf).await.unwrap_or(0), 0);

    // The first still works; once the application drops it, a new one is accepted.
    first.write_all(b"x").await.unwrap();
    drop(accepted);
    let mut third = node.connect(&address).await.unwrap();
    let served = server.accept().await.unwrap();
    drop(served);
    assert_eq!(third.read(&mut buf).await.unwrap_or(0), 0);
    server.close().await;
}
