//! The conformance suite's `accept_is_cancel_safe` check catches a listener that loses
//! connections when its `accept` future is dropped.

use std::io;
use std::time::Duration;

use ms_core::{
    Accepted, BoxError, Connected, Listener, MultiServer, Scope, Scopes, Section, SectionError,
    Stack, Transport, async_trait,
};
use ms_testkit::{Fixture, MemNetwork, MemTransport, suite};

/// The mem transport with a listener that is not cancel-safe.
struct Lossy(MemTransport);

#[async_trait]
impl Transport for Lossy {
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
        self.0.connect(section).await
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(LossyListener(self.0.listen().await?)))
    }
}

struct LossyListener(Box<dyn Listener>);

#[async_trait]
impl Listener for LossyListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let accepted = self.0.accept().await?;
        // A slow step after taking the connection (a lookup, say) that belongs in
        // `Accepted::pending`: a future dropped here loses the connection.
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(accepted)
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        self.0.advertise(scope)
    }
}

fn fixture() -> Fixture {
    let network = MemNetwork::new();
    let node = MultiServer::new([Stack::new(Lossy(MemTransport::new(&network)))]).unwrap();
    let dead = format!("mem:{}", network.unused_port());
    Fixture::new(node.clone(), node, dead)
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "Listener::accept is not cancel-safe")]
async fn a_listener_that_loses_connections_fails_the_check() {
    suite::accept_is_cancel_safe(&fixture).await;
}
