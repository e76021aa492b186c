//! At `info`, a listener logs one `listening` line: a `ws` listener says `ws: listening` and
//! the `net` listener under it stays at `debug`. (Its own test binary: no other test's events
//! race the callsite registration this one records.)

use ms_net::Net;
use ms_ws::Ws;

/// The `info` events seen on this thread: each one's message (the `message` field).
#[derive(Clone, Default)]
struct InfoLines(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for InfoLines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::INFO {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            self.0.lock().unwrap().push(message);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn a_ws_listener_logs_one_listening_line_at_info() {
    let lines = InfoLines::default();
    let listening = {
        let _guard = tracing::subscriber::set_default(lines.clone());
        tracing::callsite::rebuild_interest_cache();
        let listener = Ws::builder().build().unwrap().bind().await.unwrap();
        drop(listener);
        let net = Net::new().bind().await.unwrap();
        drop(net);
        lines.0.lock().unwrap().clone()
    };
    // One line for the ws listener (ms-net's under it at debug), one for the plain net one.
    assert_eq!(
        listening
            .iter()
            .filter(|l| l.contains("listening"))
            .collect::<Vec<_>>(),
        ["ws: listening", "net: listening"],
    );
}
