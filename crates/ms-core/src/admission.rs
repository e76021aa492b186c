//! Admission of inbound connections: which pending handshake makes room for a new one.
//!
//! Each accept loop keeps its own [`Pending`] set (so a flood on one listener cannot touch the
//! others) with two limits: `max_pending_per_stack` for the whole listener and
//! `max_pending_per_peer` for one remote IP address (IPv6: one /64). Loopback and unix peers,
//! and transports whose peers have no IP address, form one [`PeerGroup::Local`] group with no
//! cap of its own: every local process looks the same from here, so a per-address cap would
//! only let one local process crowd out the others.
//!
//! A new connection is never refused for a full budget: the most evictable pending handshake is
//! closed instead (see [`Pending::make_room`]). Honest peers finish their handshakes within a
//! round trip or two; the peers that hold a budget are silent or slow, and old.
//!
//! What "silent" means here: a pending handshake has been *heard from* once its transport's
//! set-up finished after waiting for the peer (a WebSocket upgrade), or once the stack's
//! transforms read a byte from it. [`Activity`] records when, counted in accepts of this
//! listener (not in time: what matters is how many newcomers a pending handshake has seen).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::task::{AbortHandle, Id};

use crate::{BoxError, BoxedIo, PendingStream, Section};

/// Who a pending handshake counts against, beyond its listener.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PeerGroup {
    /// Loopback and unix peers, and peers without an IP address: no cap of their own.
    Local,
    /// One IPv4 address, or one IPv6 /64 (IPv4-mapped IPv6 addresses count as IPv4).
    Ip(IpAddr),
}

impl PeerGroup {
    /// The group of the peer a transport describes as `remote` (e.g. `net:192.0.2.7:51234`,
    /// `ws://[2001:db8::1]:51234`).
    pub(crate) fn of(remote: &Section) -> Self {
        match peer_ip(remote) {
            Some(ip) => Self::of_ip(ip),
            None => Self::Local,
        }
    }

    fn of_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            ip if ip.is_loopback() || ip.is_unspecified() => Self::Local,
            IpAddr::V4(v4) => Self::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self::Ip(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }

    fn capped(&self) -> bool {
        matches!(self, Self::Ip(_))
    }
}

/// The IP address in a transport's `name:host:port` or `name://host:port/...` section.
fn peer_ip(remote: &Section) -> Option<IpAddr> {
    let rest = remote.as_str().get(remote.name().len() + 1..)?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next()?,
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host),
    };
    let host = host.split('%').next()?;
    host.parse().ok()
}

/// When a pending handshake was last heard from, in accepts of its listener; 0: never.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    heard_at: AtomicU64,
    /// Its task has started (a task that has not is never closed for room, see
    /// [`Pending::make_room`]).
    started: AtomicBool,
}

impl Activity {
    fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    fn heard(&self, clock: &AtomicU64) {
        // At least 1, so that "heard" is never mistaken for "never heard".
        let now = clock.load(Ordering::Relaxed).max(1);
        self.heard_at.store(now, Ordering::Relaxed);
    }

    fn heard_at(&self) -> Option<u64> {
        match self.heard_at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }
}

/// Why a pending handshake was closed to make room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// Its listener had `max_pending_per_stack` handshakes in progress.
    Stack,
    /// Its peer group had `max_pending_per_peer` handshakes in progress.
    Peer,
}

struct Entry {
    group: PeerGroup,
    accepted_at: u64,
    activity: Arc<Activity>,
    abort: AbortHandle,
    remote: Section,
}

impl Entry {
    /// Larger is evicted first: never heard from before heard from; then the longest silence
    /// (in accepts since it was accepted or last heard from).
    fn evictability(&self) -> (bool, std::cmp::Reverse<u64>) {
        match self.activity.heard_at() {
            None => (true, std::cmp::Reverse(self.accepted_at)),
            Some(at) => (false, std::cmp::Reverse(at)),
        }
    }
}

/// The handshakes in progress on one listener.
pub(crate) struct Pending {
    entries: HashMap<Id, Entry>,
    per_group: HashMap<PeerGroup, usize>,
    /// Accepts so far on this listener: the clock of [`Activity`].
    clock: Arc<AtomicU64>,
    max_total: usize,
    max_per_peer: usize,
}

impl Pending {
    pub(crate) fn new(max_total: usize, max_per_peer: usize) -> Self {
        Self {
            entries: HashMap::new(),
            per_group: HashMap::new(),
            clock: Arc::new(AtomicU64::new(0)),
            max_total: max_total.max(1),
            max_per_peer: max_per_peer.max(1),
        }
    }

    /// Counts one accept; the new connection's timestamp.
    pub(crate) fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Closes as many pending handshakes as it takes for one more of `group` to fit; returns
    /// each closed one's remote and the limit that closed it.
    ///
    /// Over `max_pending_per_peer`, the group's own most evictable handshake goes. Over
    /// `max_pending_per_stack`, one of the group holding the most pending handshakes goes (so
    /// a peer with one handshake in progress loses it only when every peer has just one), and
    /// within it the most evictable (never heard from first, then the longest silent).
    ///
    /// A handshake whose task has not run yet is not closed (it has not had a chance to hear
    /// from its peer: that happens in a burst of accepts), unless the listener holds twice
    /// `max_pending_per_stack`: the budgets may be exceeded briefly, by what the scheduler has
    /// not got round to.
    pub(crate) fn make_room(&mut self, group: &PeerGroup) -> Vec<(Section, Eviction)> {
        let mut evicted = Vec::new();
        if group.capped() {
            while self.per_group.get(group).copied().unwrap_or(0) >= self.max_per_peer {
                match self.victim(Some(group)).and_then(|id| self.evict(id)) {
                    Some(remote) => evicted.push((remote, Eviction::Peer)),
                    None => break,
                }
            }
        }
        while self.entries.len() >= self.max_total {
            match self.victim(None).and_then(|id| self.evict(id)) {
                Some(remote) => evicted.push((remote, Eviction::Stack)),
                None => break,
            }
        }
        evicted
    }

    /// Whether one more of `group` would need [`make_room`](Self::make_room) to close one.
    pub(crate) fn is_full(&self, group: &PeerGroup) -> bool {
        self.entries.len() >= self.max_total
            || (group.capped()
                && self.per_group.get(group).copied().unwrap_or(0) >= self.max_per_peer)
    }

    /// Records a handshake now in progress; its stream (wrapped by [`Pending::watch`]) reports
    /// to `activity`.
    pub(crate) fn insert(
        &mut self,
        abort: AbortHandle,
        group: PeerGroup,
        accepted_at: u64,
        activity: Arc<Activity>,
        remote: Section,
    ) {
        *self.per_group.entry(group.clone()).or_default() += 1;
        self.entries.insert(
            abort.id(),
            Entry {
                group,
                accepted_at,
                activity,
                abort,
                remote,
            },
        );
    }

    /// Forgets a handshake that finished (either way). Nothing if it was evicted.
    pub(crate) fn remove(&mut self, id: Id) {
        if let Some(entry) = self.entries.remove(&id) {
            self.forget_group(&entry.group);
        }
    }

    /// Handshakes in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Wraps an accepted connection's set-up so that `activity` learns when the peer is heard
    /// from.
    pub(crate) fn watch(&self, setup: PendingStream, activity: Arc<Activity>) -> PendingStream {
        Box::pin(Watched {
            setup: Some(setup),
            waited: false,
            activity,
            clock: self.clock.clone(),
        })
    }

    fn victim(&self, within: Option<&PeerGroup>) -> Option<Id> {
        let unstarted_too = self.entries.len() >= self.max_total.saturating_mul(2);
        self.entries
            .iter()
            .filter(|(_, e)| {
                within.is_none_or(|g| &e.group == g)
                    && !e.abort.is_finished()
                    && (unstarted_too || e.activity.started())
            })
            .max_by_key(|(_, e)| {
                let size = match within {
                    Some(_) => 0,
                    None => self.per_group.get(&e.group).copied().unwrap_or(0),
                };
                (size, e.evictability())
            })
            .map(|(id, _)| *id)
    }

    fn evict(&mut self, id: Id) -> Option<Section> {
        let entry = self.entries.remove(&id)?;
        entry.abort.abort();
        self.forget_group(&entry.group);
        Some(entry.remote)
    }

    fn forget_group(&mut self, group: &PeerGroup) {
        if let Some(n) = self.per_group.get_mut(group) {
            *n -= 1;
            if *n == 0 {
                self.per_group.remove(group);
            }
        }
    }
}

/// An accepted connection's set-up, then its stream, reporting when the peer is heard from.
struct Watched {
    setup: Option<PendingStream>,
    /// The set-up had to wait for the peer at least once.
    waited: bool,
    activity: Arc<Activity>,
    clock: Arc<AtomicU64>,
}

impl Future for Watched {
    type Output = Result<BoxedIo, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.activity.started.store(true, Ordering::Relaxed);
        let Some(setup) = this.setup.as_mut() else {
            return Poll::Ready(Err("the connection set-up was polled after it ended".into()));
        };
        match setup.as_mut().poll(cx) {
            Poll::Pending => {
                this.waited = true;
                Poll::Pending
            }
            Poll::Ready(result) => {
                this.setup = None;
                let stream = result?;
                if this.waited {
                    // The transport's own exchange with the peer (a WebSocket upgrade) is done.
                    this.activity.heard(&this.clock);
                }
                Poll::Ready(Ok(Box::new(Heard {
                    stream,
                    activity: this.activity.clone(),
                    clock: this.clock.clone(),
                })))
            }
        }
    }
}

/// A stream that records, in its [`Activity`], when it last delivered bytes.
struct Heard {
    stream: BoxedIo,
    activity: Arc<Activity>,
    clock: Arc<AtomicU64>,
}

delegate_io!(Heard);

impl AsyncRead for Heard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.heard(&this.clock);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Section {
        Section::new(text).unwrap()
    }

    #[test]
    fn peers_are_grouped_by_ip_and_ipv6_slash_64() {
        let ip = |s: &str| PeerGroup::Ip(s.parse().unwrap());
        assert_eq!(
            PeerGroup::of(&section("net:192.0.2.7:51234")),
            ip("192.0.2.7")
        );
        assert_eq!(PeerGroup::of(&section("ws://192.0.2.7:1")), ip("192.0.2.7"));
        assert_eq!(
            PeerGroup::of(&section("wss://192.0.2.7:1/x")),
            ip("192.0.2.7")
        );
        assert_eq!(
            PeerGroup::of(&section("net:2001:db8:1:2:3:4:5:6:8008")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            PeerGroup::of(&section("ws://[2001:db8:1:2:ffff::1]:8989")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            PeerGroup::of(&section("net:::ffff:192.0.2.7:1")),
            ip("192.0.2.7")
        );
        for local in [
            "net:127.0.0.1:1",
            "net:127.3.2.1:1",
            "net:::1:1",
            "ws://[::1]:1",
            "unix:/run/ssb/socket",
            "mem:7",
            "net:example.org:1",
        ] {
            assert_eq!(PeerGroup::of(&section(local)), PeerGroup::Local, "{local}");
        }
    }

    /// A pending set with `n` entries of `group`, accepted in order; returns their ids.
    fn fill(
        pending: &mut Pending,
        tasks: &mut tokio::task::JoinSet<()>,
        group: &PeerGroup,
        n: usize,
    ) -> Vec<(Id, Arc<Activity>)> {
        (0..n)
            .map(|_| {
                assert!(pending.make_room(group).is_empty());
                let at = pending.tick();
                let activity = Arc::new(Activity::default());
                activity.started.store(true, Ordering::Relaxed);
                let abort = tasks.spawn(std::future::pending());
                let id = abort.id();
                pending.insert(
                    abort,
                    group.clone(),
                    at,
                    activity.clone(),
                    section("net:192.0.2.1:1"),
                );
                (id, activity)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_most_silent_pending_handshake_makes_room() {
        let mut tasks = tokio::task::JoinSet::new();
        let mut pending = Pending::new(4, 100);
        let local = PeerGroup::Local;
        let ids = fill(&mut pending, &mut tasks, &local, 4);
        // The oldest two were heard from (the second most recently); the others are silent.
        ids[0].1.heard(&pending.clock);
        pending.tick();
        ids[1].1.heard(&pending.clock);
        // Silent ones go first, oldest first...
        assert_eq!(pending.victim(None), Some(ids[2].0));
        assert_eq!(
            pending.make_room(&local),
            vec![(section("net:192.0.2.1:1"), Eviction::Stack)]
        );
        assert_eq!(pending.len(), 3);
        assert!(!pending.entries.contains_key(&ids[2].0));
        assert_eq!(pending.victim(None), Some(ids[3].0));
        pending.remove(ids[3].0);
        // ...then the one heard from least recently.
        assert_eq!(pending.victim(None), Some(ids[0].0));
        // A handshake that finished is forgotten.
        pending.remove(ids[0].0);
        assert_eq!(pending.victim(None), Some(ids[1].0));
        assert_eq!(pending.per_group.get(&local), Some(&1));
    }

    #[tokio::test]
    async fn a_handshake_whose_task_has_not_run_is_not_closed_until_twice_the_budget() {
        let mut tasks = tokio::task::JoinSet::new();
        let mut pending = Pending::new(2, 100);
        let local = PeerGroup::Local;
        let ids = fill(&mut pending, &mut tasks, &local, 2);
        for (_, activity) in &ids {
            activity.started.store(false, Ordering::Relaxed);
        }
        // Over budget, but nothing that has run: admitted without closing anything.
        assert!(pending.make_room(&local).is_empty());
        let at = pending.tick();
        let abort = tasks.spawn(std::future::pending());
        let third = abort.id();
        pending.insert(abort, local.clone(), at, Arc::default(), section("mem:3"));
        assert_eq!(pending.len(), 3);
        // One that has run goes first...
        pending.entries[&third]
            .activity
            .started
            .store(true, Ordering::Relaxed);
        assert_eq!(pending.victim(None), Some(third));
        pending.entries[&third]
            .activity
            .started
            .store(false, Ordering::Relaxed);
        // ...and at twice the budget the oldest goes, run or not.
        let at = pending.tick();
        pending.insert(
            tasks.spawn(std::future::pending()),
            local.clone(),
            at,
            Arc::default(),
            section("mem:4"),
        );
        assert_eq!(pending.victim(None), Some(ids[0].0));
    }

    #[tokio::test]
    async fn a_peer_over_its_cap_loses_its_own_handshakes_not_others() {
        let mut tasks = tokio::task::JoinSet::new();
        let mut pending = Pending::new(6, 3);
        let honest = PeerGroup::Ip("192.0.2.1".parse().unwrap());
        let flood = PeerGroup::Ip("198.51.100.9".parse().unwrap());
        let honest_ids = fill(&mut pending, &mut tasks, &honest, 1);
        let flood_ids = fill(&mut pending, &mut tasks, &flood, 3);
        // The flooding peer is at its cap: its own oldest goes.
        let evicted = pending.make_room(&flood);
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].1, Eviction::Peer);
        assert!(!pending.entries.contains_key(&flood_ids[0].0));
        assert_eq!(pending.per_group.get(&flood), Some(&2));
        // Loopback has no cap of its own.
        let local = fill(&mut pending, &mut tasks, &PeerGroup::Local, 3);
        assert_eq!(pending.len(), 6);
        // The listener is full: the largest group loses one, never the lone honest peer, even
        // though it is the oldest and silent.
        let evicted = pending.make_room(&honest);
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].1, Eviction::Stack);
        assert!(!pending.entries.contains_key(&local[0].0));
        assert!(pending.entries.contains_key(&honest_ids[0].0));
    }

    #[tokio::test]
    async fn a_set_up_that_waited_for_the_peer_and_bytes_read_count_as_heard() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let pending = Pending::new(4, 4);
        let (ours, mut theirs) = tokio::io::duplex(64);
        // A ready set-up (a plain TCP accept) is not "heard from"...
        let activity = Arc::new(Activity::default());
        let ready: PendingStream = Box::pin(std::future::ready(Ok(Box::new(ours) as BoxedIo)));
        let mut stream = pending.watch(ready, activity.clone()).await.unwrap();
        assert_eq!(activity.heard_at(), None);
        // ...until the transforms read bytes from it.
        pending.tick();
        pending.tick();
        theirs.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(activity.heard_at(), Some(2));

        // A set-up that had to wait for the peer (an HTTP upgrade) counts when it ends.
        let activity = Arc::new(Activity::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<BoxedIo>();
        let waiting: PendingStream = Box::pin(async move { rx.await.map_err(Into::into) });
        let setup = tokio::spawn(pending.watch(waiting, activity.clone()));
        tokio::task::yield_now().await;
        assert_eq!(activity.heard_at(), None);
        let (ours, _theirs) = tokio::io::duplex(64);
        tx.send(Box::new(ours)).ok().unwrap();
        setup.await.unwrap().unwrap();
        assert_eq!(activity.heard_at(), Some(2));
    }
}
