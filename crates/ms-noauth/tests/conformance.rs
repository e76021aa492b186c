//! `noauth` passes the conformance suite on three transports: `mem~noauth`, `net~noauth` and
//! `unix~noauth`.

use std::io;
use std::sync::{Arc, OnceLock};

use ms_core::{
    Accepted, BoxError, Connected, Listener, MultiServer, PublicKey, Scope, Scopes, Section,
    SectionError, Stack, Transport, async_trait,
};
use ms_net::Net;
use ms_noauth::Noauth;
use ms_testkit::{Fault, Fixture, MemNetwork, MemTransport};
use ms_unix::Unix;
use tempfile::TempDir;

const KEY: PublicKey = PublicKey([42; 32]);

/// Addresses every `*~noauth` client must refuse: no `noauth` section, a `shs` one, too many.
fn bad(transport: &str) -> Vec<String> {
    vec![
        transport.to_owned(),
        format!("{transport}~shs:6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="),
        format!("{transport}~noauth~noauth"),
        format!("{transport}~NOAUTH"),
    ]
}

fn mem_network() -> MemNetwork {
    static NETWORK: OnceLock<MemNetwork> = OnceLock::new();
    NETWORK.get_or_init(MemNetwork::new).clone()
}

/// As in the reference, `noauth` names the local key as the peer, on both sides.
fn expect_local_key(f: Fixture) -> Fixture {
    f.expect_identities(Some(KEY.into()), Some(KEY.into()))
}

fn mem_fixture() -> Fixture {
    let network = mem_network();
    let stack = Stack::new(MemTransport::new(&network)).with(Noauth::new(KEY));
    let node = MultiServer::new([stack]).expect("node");
    let dead = format!("mem:{}~noauth", network.unused_port());
    let hole = network.unused_port();
    network.set_fault(hole, Fault::BlackHole);
    let mut f = expect_local_key(Fixture::new(node.clone(), node, dead));
    f.black_hole = Some(format!("mem:{hole}~noauth"));
    f.bad_addresses = bad("mem:1");
    f
}

fn net_fixture() -> Fixture {
    let node = MultiServer::new([Stack::new(Net::new()).with(Noauth::new(KEY))]).expect("node");
    let dead = ms_testkit::refused_port(std::net::Ipv4Addr::LOCALHOST.into());
    let mut f = expect_local_key(Fixture::new(
        node.clone(),
        node,
        format!("net:127.0.0.1:{dead}~noauth"),
    ));
    f.bad_addresses = bad("net:127.0.0.1:1");
    f
}

/// `Unix` plus the temporary directory its socket lives in, kept as long as either is used.
struct InTempDir {
    unix: Unix,
    dir: Arc<TempDir>,
}

struct KeepDir {
    inner: Box<dyn Listener>,
    _dir: Arc<TempDir>,
}

#[async_trait]
impl Listener for KeepDir {
    async fn accept(&self) -> io::Result<Accepted> {
        self.inner.accept().await
    }
    fn advertise(&self, scope: Scope) -> Vec<Section> {
        self.inner.advertise(scope)
    }
}

#[async_trait]
impl Transport for InTempDir {
    fn name(&self) -> &str {
        self.unix.name()
    }
    fn scopes(&self) -> Scopes {
        self.unix.scopes()
    }
    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        self.unix.understands(section)
    }
    async fn connect(&self, section: &Section) -> Result<Connected, BoxError> {
        self.unix.connect(section).await
    }
    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        Ok(Box::new(KeepDir {
            inner: self.unix.listen().await?,
            _dir: self.dir.clone(),
        }))
    }
}

fn unix_fixture() -> Fixture {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let unix = Unix::in_directory(dir.path()).expect("unix");
    let dead = format!("unix:{}/nobody-here~noauth", dir.path().display());
    let server = MultiServer::new([Stack::new(InTempDir { unix, dir }).with(Noauth::new(KEY))])
        .expect("node");
    let client =
        MultiServer::new([Stack::new(Unix::dial_only()).with(Noauth::new(KEY))]).expect("node");
    let mut f = expect_local_key(Fixture::new(server, client, dead));
    f.bad_addresses = bad("unix:/tmp/socket");
    f
}

mod mem {
    ms_testkit::conformance!(crate::mem_fixture);
}

mod net {
    ms_testkit::conformance!(crate::net_fixture);
}

mod unix {
    ms_testkit::conformance!(crate::unix_fixture);
}
