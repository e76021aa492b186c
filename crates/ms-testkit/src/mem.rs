//! The `mem` transport: connections between nodes of one process, with fault hooks.
//!
//! Addresses are `mem:<port>`, ports are numbers handed out by a [`MemNetwork`]. Faults set on
//! a port ([`Fault`]) make dials to it slow, refused, hang forever, or cut after some bytes,
//! so dialling logic can be tested without real sockets. The network counts open streams and
//! dials in progress, so tests can check that nothing leaks.
//!
//! A transport given a key ([`MemTransport::with_identity`]) names the peer itself, as QUIC or
//! a paired Bluetooth link would: the dialler learns the listener's key and the listener the
//! dialler's, without any transform.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{
    Accepted, BoxError, Connected, Identity, Listener, PeerKey, Scope, Scopes, Section,
    SectionError, Transport,
};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

/// What happens to dials to a port.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Refused at once.
    Refuse,
    /// Completed after this delay.
    Delay(Duration),
    /// Never completed (until the dial is dropped).
    BlackHole,
    /// Completed, then cut (both directions) once the dialler has written this many bytes.
    CutAfter(usize),
}

/// A shared in-memory network: ports, listeners, faults and counters.
#[derive(Clone, Default)]
pub struct MemNetwork {
    state: Arc<Mutex<State>>,
    counters: Arc<Counters>,
}

/// What a dial hands the listener: our end of the pipe, the dialler's port and key.
type Incoming = (DuplexStream, u32, Option<PeerKey>);

#[derive(Default)]
struct State {
    /// Each listening port's queue and the key its transport is known by.
    listeners: HashMap<u32, (mpsc::Sender<Incoming>, Option<PeerKey>)>,
    faults: HashMap<u32, Fault>,
    next_port: u32,
}

#[derive(Default)]
struct Counters {
    streams: AtomicUsize,
    dials: AtomicUsize,
}

impl MemNetwork {
    /// A new, empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a test panicked elsewhere; the map is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the fault for dials to `port`.
    pub fn set_fault(&self, port: u32, fault: Fault) {
        self.state().faults.insert(port, fault);
    }

    /// Removes the fault of `port`.
    pub fn clear_fault(&self, port: u32) {
        self.state().faults.remove(&port);
    }

    /// A port number nobody listens on (for dead addresses and black holes).
    pub fn unused_port(&self) -> u32 {
        let mut state = self.state();
        allocate(&mut state)
    }

    /// Stream ends currently open (two per connection).
    pub fn open_streams(&self) -> usize {
        self.counters.streams.load(Ordering::SeqCst)
    }

    /// Dials currently in progress.
    pub fn dials_in_progress(&self) -> usize {
        self.counters.dials.load(Ordering::SeqCst)
    }
}

fn allocate(state: &mut State) -> u32 {
    loop {
        state.next_port = state.next_port.wrapping_add(1).max(1);
        if !state.listeners.contains_key(&state.next_port) {
            return state.next_port;
        }
    }
}

/// The `mem` transport.
///
/// ```
/// use ms_core::{Scope, Transport};
/// use ms_testkit::{MemNetwork, MemTransport};
/// let network = MemNetwork::new();
/// let mem = MemTransport::new(&network);
/// assert_eq!(mem.name(), "mem");
/// assert!(mem.scopes().contains(Scope::Device));
/// ```
#[derive(Clone)]
pub struct MemTransport {
    network: MemNetwork,
    port: u32,
    scopes: Scopes,
    buffer: usize,
    identity: Option<PeerKey>,
}

impl MemTransport {
    /// A transport on `network` that listens on a fresh port, in the `device` scope.
    pub fn new(network: &MemNetwork) -> Self {
        Self {
            network: network.clone(),
            port: 0,
            scopes: Scopes::DEVICE,
            buffer: 64 * 1024,
            identity: None,
        }
    }

    /// Listens on this port instead of a fresh one.
    pub fn with_port(mut self, port: u32) -> Self {
        self.port = port;
        self
    }

    /// Serves these scopes instead of `device`.
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Names this node by `key` at the transport level: a peer that dials it, or that it
    /// accepts, gets a connection whose [`remote_key`](ms_core::Connection::remote_key) is
    /// `key` when no transform above says otherwise. Without it, `mem` names nobody.
    ///
    /// ```
    /// use ms_core::{MultiServer, PeerKey, Scope, Stack};
    /// use ms_testkit::{MemNetwork, MemTransport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ms_core::Error> {
    /// let network = MemNetwork::new();
    /// let alice = PeerKey::other("mem-test", vec![1]);
    /// let bob = PeerKey::other("mem-test", vec![2]);
    /// let mem = |key: &PeerKey| MemTransport::new(&network).with_identity(key.clone());
    /// let server = MultiServer::new([Stack::new(mem(&alice))])?;
    /// let client = MultiServer::new([Stack::new(mem(&bob))])?;
    /// let mut listening = server.listen().await?;
    /// let outbound = client.connect_to(&listening.address(Scope::Device)).await?;
    /// let inbound = listening.accept().await.expect("a connection");
    /// assert_eq!(outbound.remote_key(), Some(&alice));
    /// assert_eq!(inbound.remote_key(), Some(&bob));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_identity(mut self, key: PeerKey) -> Self {
        self.identity = Some(key);
        self
    }

    /// The network this transport is on.
    pub fn network(&self) -> &MemNetwork {
        &self.network
    }
}

fn parse_port(section: &Section) -> Result<u32, SectionError> {
    if section.name() != "mem" {
        return Err(SectionError::WrongProtocol {
            expected: "mem",
            found: section.name().to_owned(),
        });
    }
    let mut args = section.args();
    let port = args.next().ok_or(SectionError::Missing {
        what: "port",
        after: "mem",
        at: section.as_str().len(),
    })?;
    if let Some(extra) = args.next() {
        return Err(SectionError::Unexpected {
            value: extra.to_owned(),
            at: 5 + port.len(),
        });
    }
    match port.parse::<u32>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(SectionError::Invalid {
            what: "port",
            value: port.to_owned(),
            reason: "expected a number from 1 to 4294967295",
            at: 4,
        }),
    }
}

fn section(port: u32) -> Result<Section, BoxError> {
    Ok(Section::new(format!("mem:{port}"))?)
}

/// Decrements the dials counter when a dial ends, however it ends.
struct DialGuard(Arc<Counters>);

impl Drop for DialGuard {
    fn drop(&mut self) {
        self.0.dials.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Transport for MemTransport {
    fn name(&self) -> &str {
        "mem"
    }

    fn scopes(&self) -> Scopes {
        self.scopes
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        parse_port(section).map(|_| ())
    }

    async fn connect(&self, target: &Section) -> Result<Connected, BoxError> {
        let port = parse_port(target)?;
        self.network.counters.dials.fetch_add(1, Ordering::SeqCst);
        let _guard = DialGuard(self.network.counters.clone());
        let fault = self.network.state().faults.get(&port).cloned();
        let mut cut_after = None;
        match fault {
            Some(Fault::Refuse) => return Err(refused(port)),
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::BlackHole) => std::future::pending::<()>().await,
            Some(Fault::CutAfter(n)) => cut_after = Some(n),
            None => {}
        }
        let (listener, local_port) = {
            let mut state = self.network.state();
            let listener = state.listeners.get(&port).cloned();
            (listener, allocate(&mut state))
        };
        let (sender, server_key) = listener.ok_or_else(|| refused(port))?;
        let (ours, theirs) = tokio::io::duplex(self.buffer);
        let counters = self.network.counters.clone();
        let theirs_tracked = (theirs, local_port, self.identity.clone());
        sender
            .send(theirs_tracked)
            .await
            .map_err(|_| refused(port))?;
        let stream = MemStream::new(ours, counters, cut_after);
        let connected = Connected::new(Box::new(stream), section(port)?);
        Ok(match server_key {
            Some(key) => connected.with_identity(Identity::from_key(key)),
            None => connected,
        })
    }

    async fn listen(&self) -> Result<Box<dyn Listener>, BoxError> {
        let (tx, rx) = mpsc::channel(128);
        let port = {
            let mut state = self.network.state();
            let port = if self.port == 0 {
                allocate(&mut state)
            } else {
                self.port
            };
            if state.listeners.contains_key(&port) {
                return Err(Box::new(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("mem:{port} is already listening"),
                )));
            }
            state.listeners.insert(port, (tx, self.identity.clone()));
            port
        };
        Ok(Box::new(MemListener {
            network: self.network.clone(),
            port,
            scopes: self.scopes,
            incoming: tokio::sync::Mutex::new(rx),
        }))
    }
}

fn refused(port: u32) -> BoxError {
    Box::new(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("nothing listens on mem:{port}"),
    ))
}

struct MemListener {
    network: MemNetwork,
    port: u32,
    scopes: Scopes,
    incoming: tokio::sync::Mutex<mpsc::Receiver<Incoming>>,
}

#[async_trait]
impl Listener for MemListener {
    async fn accept(&self) -> io::Result<Accepted> {
        let mut incoming = self.incoming.lock().await;
        let (stream, remote_port, client_key) = incoming
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "listener closed"))?;
        let remote = section(remote_port).map_err(io::Error::other)?;
        let stream = MemStream::new(stream, self.network.counters.clone(), None);
        let accepted = Accepted::ready(Box::new(stream), remote);
        Ok(match client_key {
            Some(key) => accepted.with_identity(Identity::from_key(key)),
            None => accepted,
        })
    }

    fn advertise(&self, scope: Scope) -> Vec<Section> {
        if self.scopes.contains(scope) {
            section(self.port).into_iter().collect()
        } else {
            Vec::new()
        }
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        self.network.state().listeners.remove(&self.port);
    }
}

/// One end of a `mem` connection: counted while open, optionally cut after some bytes.
pub struct MemStream {
    inner: Option<DuplexStream>,
    counters: Arc<Counters>,
    cut_after: Option<usize>,
}

impl MemStream {
    fn new(inner: DuplexStream, counters: Arc<Counters>, cut_after: Option<usize>) -> Self {
        counters.streams.fetch_add(1, Ordering::SeqCst);
        Self {
            inner: Some(inner),
            counters,
            cut_after,
        }
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        self.counters.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "mem connection cut")
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_read(cx, buf),
            None => Poll::Ready(Err(cut())),
        }
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let limit = match this.cut_after {
            Some(0) => {
                this.inner = None;
                return Poll::Ready(Err(cut()));
            }
            Some(n) => n.min(buf.len()),
            None => buf.len(),
        };
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(cut()));
        };
        let result = Pin::new(inner).poll_write(cx, &buf[..limit]);
        if let (Poll::Ready(Ok(n)), Some(left)) = (&result, this.cut_after.as_mut()) {
            *left -= *n;
            if *left == 0 {
                // Dropping our end makes the peer see the connection end at once.
                this.inner = None;
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Err(cut())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_shutdown(cx),
            None => Poll::Ready(Err(cut())),
        }
    }
}
