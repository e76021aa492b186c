//! The summary an accept loop logs of the connections it turned away: one line per interval,
//! not one per connection.
//!
//! A process-wide subscriber (installed once, before any event) writes each line into a buffer
//! of the thread that logged it; every test here runs its server on its own current-thread
//! runtime, so it reads back exactly its own server's lines.

use std::cell::RefCell;
use std::io;
use std::sync::Once;
use std::time::Duration;

use ms_core::{
    BoxError, BoxedIo, Event, MultiServer, Scope, Section, SectionError, Stack, Transform,
    Upgraded, async_trait,
};
use ms_testkit::{MemNetwork, MemTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

thread_local! {
    static LINES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct ThreadBuffer;

impl io::Write for ThreadBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LINES.with(|lines| lines.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(|| ThreadBuffer)
            .init();
    });
}

/// This thread's log lines containing `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    LINES.with(|lines| {
        String::from_utf8_lossy(&lines.borrow())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    })
}

fn all_lines() -> String {
    LINES.with(|lines| String::from_utf8_lossy(&lines.borrow()).into_owned())
}

/// A toy transform: the server wants the byte `!` first, and refuses anything else.
struct Knock;

#[async_trait]
impl Transform for Knock {
    fn name(&self) -> &str {
        "knock"
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        if section.name() == "knock" {
            Ok(())
        } else {
            Err(SectionError::WrongProtocol {
                expected: "knock",
                found: section.name().to_owned(),
            })
        }
    }

    fn advertise(&self) -> Option<Section> {
        Section::new("knock").ok()
    }

    async fn upgrade_inbound(&self, mut stream: BoxedIo) -> Result<Upgraded, BoxError> {
        if stream.read_u8().await? != b'!' {
            return Err("wrong knock".into());
        }
        Ok(Upgraded::new(stream, Section::new("knock")?))
    }

    async fn upgrade_outbound(
        &self,
        mut stream: BoxedIo,
        _section: &Section,
    ) -> Result<Upgraded, BoxError> {
        stream.write_u8(b'!').await?;
        Ok(Upgraded::new(stream, Section::new("knock")?))
    }
}

#[tokio::test(start_paused = true)]
async fn rejections_are_summed_up_in_one_line_per_minute() {
    capture_logs();
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(MemTransport::new(&network)).with(Knock)]).unwrap();
    let mut server = node.listen().await.unwrap();
    let port = server.address(Scope::Device).alternatives()[0]
        .transport()
        .to_string();
    let raw = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
    for _ in 0..3 {
        let mut wrong = raw.connect(&port).await.unwrap();
        wrong.write_u8(b'?').await.unwrap();
        assert!(matches!(
            server.next_event().await,
            Some(Event::Rejected { .. })
        ));
    }
    // Not one line per rejection at info level...
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(lines_with("turned away").is_empty(), "{}", all_lines());
    // ...but one summary once the minute is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let summary = lines_with("turned away");
    assert_eq!(summary.len(), 1, "{}", all_lines());
    assert!(summary[0].contains("INFO"), "{}", summary[0]);
    assert!(
        summary[0]
            .contains("turned away 3 inbound connections in the last 60s: 3 rejected (knock 3)"),
        "{}",
        summary[0]
    );
    assert!(summary[0].contains("wrong knock"), "{}", summary[0]);
    // A quiet minute writes nothing; honest connections are not counted.
    let _honest = node.connect(&format!("{port}~knock")).await.unwrap();
    assert!(server.accept().await.is_some());
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(lines_with("turned away").len(), 1, "{}", all_lines());
    server.close().await;
}

#[tokio::test]
async fn connections_closed_for_capacity_are_reported_at_warn_level() {
    capture_logs();
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(MemTransport::new(&network)))
        .max_connections_per_stack(1)
        .build()
        .unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let _first = node.connect(&address).await.unwrap();
    let _accepted = server.accept().await.unwrap();
    let mut buf = [0u8; 1];
    for _ in 0..2 {
        let mut excess = node.connect(&address).await.unwrap();
        assert_eq!(excess.read(&mut buf).await.unwrap_or(0), 0);
    }
    // The first one is logged at once, naming the limit and the stack; not the second.
    let at_once = lines_with("refused an inbound connection");
    assert_eq!(at_once.len(), 1, "{}", all_lines());
    assert!(
        at_once[0].contains("WARN")
            && at_once[0].contains("mem: refused an inbound connection from mem:")
            && at_once[0].contains("1 connections open (max_connections_per_stack)"),
        "{}",
        at_once[0]
    );
    // What was counted is reported when the server closes, too.
    server.close().await;
    let summary = lines_with("turned away");
    assert_eq!(summary.len(), 1, "{}", all_lines());
    assert!(summary[0].contains("WARN"), "{}", summary[0]);
    assert!(
        summary[0].contains("mem: turned away 2 inbound connections in the last ")
            && summary[0].contains(": 0 rejected, 2 over max_connections_per_stack"),
        "{}",
        summary[0]
    );
}

#[tokio::test(start_paused = true)]
async fn evictions_are_logged_at_once_then_summed_up() {
    capture_logs();
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(MemTransport::new(&network)).with(Knock))
        .max_pending_per_stack(1)
        .build()
        .unwrap();
    let server = node.listen().await.unwrap();
    let port = server.address(Scope::Device).alternatives()[0]
        .transport()
        .to_string();
    let raw = MultiServer::new([Stack::new(MemTransport::new(&network))]).unwrap();
    // Four silent peers, one after the other: each evicts the one before.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(raw.connect(&port).await.unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut buf = [0u8; 1];
    for evicted in &mut silent[..3] {
        assert_eq!(evicted.read(&mut buf).await.unwrap_or(0), 0);
    }
    let at_once = lines_with("handshakes in progress");
    assert_eq!(at_once.len(), 1, "{}", all_lines());
    assert!(
        at_once[0].contains("WARN")
            && at_once[0].contains(
                "mem~knock: 1 handshakes in progress (max_pending_per_stack): closed the most \
                 silent one, from mem:"
            ),
        "{}",
        at_once[0]
    );
    assert!(lines_with("turned away").is_empty(), "{}", all_lines());
    server.close().await;
    let summary = lines_with("turned away");
    assert_eq!(summary.len(), 1, "{}", all_lines());
    assert!(
        summary[0].contains("WARN") && summary[0].contains("3 evicted for max_pending_per_stack"),
        "{}",
        summary[0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_the_application_did_not_take_is_logged_at_once() {
    capture_logs();
    let network = MemNetwork::new();
    let node = MultiServer::builder()
        .stack(Stack::new(MemTransport::new(&network)))
        .event_buffer(1)
        .handover_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let _waiting = node.connect(&address).await.unwrap();
    let mut late = node.connect(&address).await.unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(late.read(&mut buf).await.unwrap_or(0), 0);
    let at_once = lines_with("handover_timeout");
    assert_eq!(at_once.len(), 1, "{}", all_lines());
    assert!(
        at_once[0].contains("WARN")
            && at_once[0].contains("mem: the application did not take the connection from mem:")
            && at_once[0].contains("within 3s (handover_timeout)"),
        "{}",
        at_once[0]
    );
    server.close().await;
    let summary = lines_with("turned away");
    assert_eq!(summary.len(), 1, "{}", all_lines());
    assert!(
        summary[0].contains("1 not taken by the application within handover_timeout"),
        "{}",
        summary[0]
    );
}
