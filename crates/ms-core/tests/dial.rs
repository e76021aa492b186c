//! Dialling a multi-address: staggered attempts, fallback, cancellation, scope preference.
//!
//! Time is paused (tokio's test clock), so the delays below are virtual: these tests check the
//! dialling logic (what starts when), not the speed of anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ms_core::{
    BoxError, Connected, DialOptions, DialStrategy, Error, Listener, MultiAddress, MultiServer,
    Scope, Scopes, Section, SectionError, Stack, Transport, async_trait,
};
use ms_testkit::{Fault, MemNetwork, MemTransport};
use tokio::time::Instant;

struct Setup {
    network: MemNetwork,
    node: MultiServer,
    server: ms_core::Server,
    live: String,
}

async fn setup(options: DialOptions) -> Setup {
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(MemTransport::new(&network)))
        .dial_options(options)
        .build()
        .unwrap();
    let server = node.listen().await.unwrap();
    let live = server.address(Scope::Device).to_string();
    Setup {
        network,
        node,
        server,
        live,
    }
}

fn port_with(network: &MemNetwork, fault: Fault) -> String {
    let port = network.unused_port();
    network.set_fault(port, fault);
    format!("mem:{port}")
}

#[tokio::test(start_paused = true)]
async fn a_black_hole_costs_the_stagger_delay_not_the_timeout() {
    let s = setup(DialOptions::default()).await;
    let hole = port_with(&s.network, Fault::BlackHole);
    let started = Instant::now();
    let conn = s.node.connect(&format!("{hole};{}", s.live)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(conn.remote_address().to_string(), s.live);
    assert!(
        took >= Duration::from_millis(250),
        "the second attempt started early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "waited for the black hole: {took:?}"
    );
    assert_eq!(
        s.network.dials_in_progress(),
        0,
        "the losing attempt was not cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_starts_the_next_at_once() {
    let s = setup(DialOptions::default()).await;
    let refused = port_with(&s.network, Fault::Refuse);
    let started = Instant::now();
    s.node
        .connect(&format!("{refused};{}", s.live))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn sequential_dialling_waits_for_each_attempt() {
    let s = setup(
        DialOptions::default()
            .with_strategy(DialStrategy::Sequential)
            .with_attempt_timeout(Duration::from_secs(5)),
    )
    .await;
    let hole = port_with(&s.network, Fault::BlackHole);
    let started = Instant::now();
    s.node.connect(&format!("{hole};{}", s.live)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_first_to_finish_wins_and_the_others_are_cancelled() {
    let s = setup(
        DialOptions::default().with_strategy(DialStrategy::Staggered(Duration::from_millis(10))),
    )
    .await;
    let port: u32 = s.live[4..].parse().unwrap();
    // The first alternative is slow (a delay on a second listener), the second is fast.
    let slow_node = MultiServer::new([Stack::new(MemTransport::new(&s.network))]).unwrap();
    let slow_server = slow_node.listen().await.unwrap();
    let slow = slow_server.address(Scope::Device).to_string();
    let slow_port: u32 = slow[4..].parse().unwrap();
    s.network
        .set_fault(slow_port, Fault::Delay(Duration::from_secs(10)));
    let conn = s.node.connect(&format!("{slow};mem:{port}")).await.unwrap();
    assert_eq!(conn.remote_address().to_string(), format!("mem:{port}"));
    assert_eq!(s.network.dials_in_progress(), 0);
    drop(slow_server);
}

#[tokio::test(start_paused = true)]
async fn every_failure_is_reported_in_address_order() {
    let s = setup(DialOptions::default()).await;
    let hole = port_with(&s.network, Fault::BlackHole);
    let refused = port_with(&s.network, Fault::Refuse);
    let options = DialOptions::default().with_attempt_timeout(Duration::from_secs(2));
    let address: MultiAddress = format!("{hole};{refused}").parse().unwrap();
    match s.node.connect_with(&address, &options).await.unwrap_err() {
        Error::AllFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 2);
            assert_eq!(attempts[0].address, hole);
            assert!(attempts[0].error.is_timeout());
            assert_eq!(attempts[1].address, refused);
            assert!(matches!(attempts[1].error, Error::Connect { .. }));
        }
        other => panic!("expected AllFailed, got {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_bounds_the_whole_dial() {
    let s = setup(DialOptions::default().with_overall_timeout(Some(Duration::from_secs(3)))).await;
    let a = port_with(&s.network, Fault::BlackHole);
    let b = port_with(&s.network, Fault::BlackHole);
    let started = Instant::now();
    let err = s.node.connect(&format!("{a};{b}")).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(s.network.dials_in_progress(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_dial_midway_leaves_nothing_behind() {
    let s = setup(DialOptions::default()).await;
    let a = port_with(&s.network, Fault::Delay(Duration::from_secs(60)));
    let b = port_with(&s.network, Fault::BlackHole);
    let dial = s.node.dial(&format!("{a};{b};{}", s.live));
    let abort = dial.abort_handle();
    let task = tokio::spawn(dial);
    while s.network.dials_in_progress() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    abort.abort();
    assert!(matches!(task.await.unwrap(), Err(Error::Aborted)));
    assert_eq!(s.network.dials_in_progress(), 0);
    assert_eq!(s.network.open_streams(), 0);
    drop(s.server);
}

/// A transport that only records which hosts it was asked to dial, and fails.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Transport for Recorder {
    fn name(&self) -> &str {
        "rec"
    }
    fn scopes(&self) -> Scopes {
        Scopes::ALL
    }
    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        ms_core::HostPort::parse(section, "rec").map(|_| ())
    }
    // A transport that knows its grammar says its scope (the default has no opinion).
    fn scope_of(&self, section: &Section) -> Option<Scope> {
        ms_core::HostPort::parse(section, "rec").ok()?.scope()
    }
    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        let host = ms_core::HostPort::parse(section, "rec")?.host().to_owned();
        self.0.lock().unwrap().push(host);
        Err("recorded".into())
    }
    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Err("no".into())
    }
}

/// A transport that does not override `scope_of`: the core knows nothing of its grammar.
struct NoOpinion(Scopes);

#[async_trait]
impl Transport for NoOpinion {
    fn name(&self) -> &str {
        "rec"
    }
    fn scopes(&self) -> Scopes {
        self.0
    }
    fn understands(&self, _: &Section) -> Result<(), SectionError> {
        Ok(())
    }
    async fn connect(&self, _: &Section) -> Result<Connected, BoxError> {
        Err("no".into())
    }
    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Err("no".into())
    }
}

#[test]
fn the_default_scope_of_reads_no_grammar() {
    let section: Section = "rec:127.0.0.1:1".parse().unwrap();
    // `host:port` is one plugin's grammar, not the core's: no scope unless the plugin says so.
    assert_eq!(NoOpinion(Scopes::ALL).scope_of(&section), None);
    // A device-only transport reaches nothing else.
    assert_eq!(
        NoOpinion(Scopes::DEVICE).scope_of(&section),
        Some(Scope::Device)
    );
}

#[tokio::test]
async fn a_preferred_scope_orders_the_alternatives() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let node = MultiServer::new([Stack::new(Recorder(log.clone()))]).unwrap();
    let address: MultiAddress =
        "rec:127.0.0.1:1;rec:example.org:1;rec:8.8.8.8:1;rec:192.168.1.1:1;rec:localhost:1"
            .parse()
            .unwrap();
    let sequential = DialOptions::default().with_strategy(DialStrategy::Sequential);
    // Off by default: the address's order.
    let _ = node.connect_with(&address, &sequential).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "127.0.0.1",
            "example.org",
            "8.8.8.8",
            "192.168.1.1",
            "localhost"
        ]
    );
    log.lock().unwrap().clear();
    // The peer is on our network: local first, then wider or unknown, device last.
    let local = sequential.clone().with_prefer_scope(Some(Scope::Local));
    let _ = node.connect_with(&address, &local).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "192.168.1.1",
            "8.8.8.8",
            "example.org",
            "127.0.0.1",
            "localhost"
        ]
    );
    log.lock().unwrap().clear();
    // The peer is this machine: device addresses first.
    let device = sequential.with_prefer_scope(Some(Scope::Device));
    let _ = node.connect_with(&address, &device).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "127.0.0.1",
            "localhost",
            "8.8.8.8",
            "192.168.1.1",
            "example.org"
        ]
    );
}
