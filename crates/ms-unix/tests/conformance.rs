//! The `unix` transport passes the conformance suite, each fixture in a fresh temporary
//! directory that lives as long as its transport.

use std::io;
use std::sync::Arc;

use ms_core::{
    Accepted, BoxError, Connected, Listener, MultiServer, Scope, Scopes, Section, SectionError,
    Stack, Transport, async_trait,
};
use ms_testkit::Fixture;
use ms_unix::Unix;
use tempfile::TempDir;

/// `Unix` plus the temporary directory its socket lives in.
struct InTempDir {
    unix: Unix,
    dir: Arc<TempDir>,
}

/// A listener that keeps the directory alive until it is dropped.
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

fn fixture() -> Fixture {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let unix = Unix::in_directory(dir.path()).expect("unix");
    let dead = format!("unix:{}/nobody-here", dir.path().display());
    let server = MultiServer::new([Stack::new(InTempDir { unix, dir })]).expect("node");
    let client = MultiServer::new([Stack::new(Unix::dial_only())]).expect("node");
    let mut f = Fixture::new(server, client, dead);
    f.bad_addresses = vec![
        "unix:".into(),
        "unix".into(),
        format!("unix:/{}", "x".repeat(200)),
        "unix:/tmp/socket~shs:AAAA".into(),
        "UNIX:/tmp/socket".into(),
    ];
    f
}

ms_testkit::conformance!(fixture);
