//! The swarm conformance suite: the behaviour every [`ms_swarm`] swarm must have.
//!
//! A swarm crate gives a *factory*: an async function (or closure returning a future) that
//! makes `n` fresh swarms able to reach each other, `Fn(usize) -> impl Future<Output =
//! Vec<S>>`. One line runs every check as its own test, [`swarm_conformance!`](crate::swarm_conformance):
//!
//! ```ignore
//! ms_testkit::swarm_conformance!(mem_swarms, [tell, ask, secure]);
//! ```
//!
//! There are three suites, for what a swarm offers: `tell` ([`Swarm`]), `ask` ([`AskSwarm`]),
//! `secure` ([`SecureSwarm`]). Each check is also a public function here, to run one on its
//! own. The checks assume a fault-free swarm (every tell arrives): run them on a lossless
//! configuration and test faults separately.
//!
//! Taken from go-p2p's swarmtest (LocalAddrs, MarshalParse, SingleTell, Tell over 10 swarms,
//! TellBidirectional, TellMTU, SingleAsk, MultipleAsks, ErrorResponse, a public key), plus what
//! it lacks: close semantics, cancel-safety of `receive` and `next_ask`, parsing garbage,
//! asking an unreachable address, many concurrent senders, and the key behind a sender.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ms_swarm::{AskSwarm, SecureSwarm, SeedRng, Swarm, SwarmError};

/// Runs suites of swarm checks, each check as its own `#[tokio::test]`.
///
/// `swarm_conformance!(factory, [tell, ask, secure])` makes a module per suite (`swarm_tell`,
/// `swarm_ask`, `swarm_secure`); `swarm_conformance!(name, factory, [tell])` puts them in a
/// module `name` first, to run the suites on several configurations in one file. The factory
/// is an expression callable as `Fn(usize) -> impl Future<Output = Vec<S>>`. The calling crate
/// needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! swarm_conformance {
    ($factory:expr, [$($suite:ident),+ $(,)?]) => {
        $( $crate::swarm_conformance!(@suite $suite; $factory); )+
    };
    ($module:ident, $factory:expr, [$($suite:ident),+ $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $( $crate::swarm_conformance!(@suite $suite; $factory); )+
        }
    };
    (@suite tell; $factory:expr) => {
        $crate::swarm_conformance!(@tests swarm_tell; $factory;
            has_local_addrs,
            round_trips_addresses,
            rejects_garbage_addresses,
            single_tell,
            tell_all_pairs,
            tell_bidirectional,
            tell_mtu,
            many_concurrent_senders,
            receive_is_cancel_safe,
            close_semantics,
            close_wakes_receive
        );
    };
    (@suite ask; $factory:expr) => {
        $crate::swarm_conformance!(@tests swarm_ask; $factory;
            single_ask,
            multiple_asks,
            error_response,
            next_ask_is_cancel_safe,
            cancelled_ask_leaves_server_serving,
            ask_unreachable_fails,
            ask_close_semantics
        );
    };
    (@suite secure; $factory:expr) => {
        $crate::swarm_conformance!(@tests swarm_secure; $factory;
            public_key_is_stable,
            lookup_finds_sender_key
        );
    };
    (@tests $module:ident; $factory:expr; $($check:ident),*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    $crate::swarm::$check(&$factory).await;
                }
            )*
        }
    };
}

/// How long one check may run before it counts as a hang (deliberately generous: a slow CI
/// box must not fail a correct swarm).
pub const CHECK_DEADLINE: Duration = Duration::from_secs(60);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(CHECK_DEADLINE, f).await {
        Ok(out) => out,
        Err(_) => {
            panic!("{what}: did not finish within {CHECK_DEADLINE:?} (a hang, or a lost message)")
        }
    }
}

async fn make<S, F, Fut>(factory: &F, n: usize) -> Vec<Arc<S>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let swarms = factory(n).await;
    assert_eq!(
        swarms.len(),
        n,
        "the factory made the wrong number of swarms"
    );
    swarms.into_iter().map(Arc::new).collect()
}

async fn close_all<S: Swarm + ?Sized>(swarms: &[Arc<S>]) {
    for s in swarms {
        s.close().await.expect("close failed");
    }
}

fn addr<S: Swarm + ?Sized>(s: &S) -> S::Addr {
    s.local_addrs()
        .into_iter()
        .next()
        .expect("a swarm has no local address")
}

/// A source address is in canonical form for the receiver: it parses back to itself.
fn assert_src<S: Swarm + ?Sized>(receiver: &S, src: &S::Addr) {
    let text = src.to_string();
    match receiver.parse_addr(&text) {
        Ok(back) => assert_eq!(&back, src, "the src `{text}` does not parse back to itself"),
        Err(e) => panic!("the src `{text}` does not parse: {e}"),
    }
}

fn payload(len: usize, seed: u32) -> Bytes {
    Bytes::from(crate::suite::pattern(len, seed))
}

/// Tells `data` from `a` to `b` while `b` receives; checks payload, destination and source.
async fn tell_once<S: Swarm + ?Sized>(a: &S, b: &S, data: Bytes) {
    let dst = addr(b);
    let (sent, got) = tokio::join!(a.tell(&dst, data.clone()), b.receive());
    sent.expect("tell failed");
    let msg = got.expect("receive failed");
    assert_eq!(msg.payload, data, "the payload changed on the way");
    assert_eq!(msg.dst, dst, "the message's dst is not the address told");
    assert_src(b, &msg.src);
}

/// A swarm has at least one local address.
pub async fn has_local_addrs<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 1).await;
    assert!(!s[0].local_addrs().is_empty(), "no local address");
    close_all(&s).await;
}

/// Every local address prints to text that parses back to an equal address printing the same.
pub async fn round_trips_addresses<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    for a in s[0].local_addrs().into_iter().chain(s[1].local_addrs()) {
        let text = a.to_string();
        for parser in &s {
            let back = parser
                .parse_addr(&text)
                .unwrap_or_else(|e| panic!("`{text}` does not parse back: {e}"));
            assert_eq!(back, a, "`{text}` parses to another address");
            assert_eq!(back.to_string(), text, "`{text}` prints differently");
        }
    }
    assert_ne!(
        addr(&*s[0]),
        addr(&*s[1]),
        "two swarms have the same address"
    );
    close_all(&s).await;
}

/// Texts no swarm should accept as an address are refused with a typed error.
pub async fn rejects_garbage_addresses<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 1).await;
    let long = "9".repeat(10_000);
    let garbage = [
        "",
        "\u{0}",
        "\u{1F600}",
        "no-such-scheme-zz:1",
        "~;!",
        "!",
        long.as_str(),
    ];
    for text in garbage {
        if let Ok(a) = s[0].parse_addr(text) {
            panic!("`{}` parsed as the address {a}", text.escape_debug());
        }
    }
    close_all(&s).await;
}

/// One tell from one swarm to another arrives, with its source and destination.
pub async fn single_tell<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("single_tell", tell_once(&*s[0], &*s[1], payload(100, 1))).await;
    close_all(&s).await;
}

/// Over 10 swarms, a tell for every ordered pair arrives.
pub async fn tell_all_pairs<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 10).await;
    bounded("tell_all_pairs", async {
        for (i, a) in s.iter().enumerate() {
            for (j, b) in s.iter().enumerate() {
                if i != j {
                    tell_once(&**a, &**b, payload(64, (i * 10 + j + 1) as u32)).await;
                }
            }
        }
    })
    .await;
    close_all(&s).await;
}

/// Two swarms send 50 messages to each other at once, with small random pauses, while both
/// read: all arrive.
pub async fn tell_bidirectional<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    const N: usize = 50;
    let s = make(factory, 2).await;
    bounded("tell_bidirectional", async {
        let mut tasks = Vec::new();
        for (me, other) in [(0usize, 1usize), (1, 0)] {
            let (a, b) = (s[me].clone(), s[other].clone());
            tasks.push(tokio::spawn(async move {
                let dst = addr(&*b);
                let mut rng = SeedRng::new(me as u64 + 1);
                for i in 0..N {
                    a.tell(&dst, Bytes::from(format!("{me}:{i}")))
                        .await
                        .expect("tell failed");
                    tokio::time::sleep(Duration::from_micros(rng.below(500))).await;
                }
            }));
            let a = s[me].clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = HashSet::new();
                while seen.len() < N {
                    let msg = a.receive().await.expect("receive failed");
                    let text = String::from_utf8(msg.payload.to_vec()).expect("not text");
                    assert!(text.starts_with(&format!("{other}:")), "unexpected {text}");
                    seen.insert(text);
                }
            }));
        }
        for t in tasks {
            t.await.expect("a task failed");
        }
    })
    .await;
    close_all(&s).await;
}

/// A tell of MTU + 1 bytes fails with exactly [`SwarmError::MtuExceeded`]; one of exactly the
/// MTU arrives whole.
pub async fn tell_mtu<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    let mtu = s[0].mtu();
    assert!(mtu > 0, "an MTU of 0");
    bounded("tell_mtu", async {
        let dst = addr(&*s[1]);
        match s[0].tell(&dst, payload(mtu + 1, 3)).await {
            Err(SwarmError::MtuExceeded { size, mtu: m }) => {
                assert_eq!((size, m), (mtu + 1, mtu), "MtuExceeded reports wrong sizes");
            }
            other => panic!("a tell of MTU+1 bytes gave {other:?}, not MtuExceeded"),
        }
        tell_once(&*s[0], &*s[1], payload(mtu, 4)).await;
    })
    .await;
    close_all(&s).await;
}

/// Nine swarms tell one swarm 50 messages each, all at once: every message arrives once, from
/// the right source.
pub async fn many_concurrent_senders<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    const N: usize = 50;
    let s = make(factory, 10).await;
    bounded("many_concurrent_senders", async {
        let dst = addr(&*s[0]);
        let senders: Vec<_> = s[1..]
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let (a, dst) = (a.clone(), dst.clone());
                tokio::spawn(async move {
                    for i in 0..N {
                        a.tell(&dst, Bytes::from(format!("{k}:{i}")))
                            .await
                            .expect("tell failed");
                    }
                })
            })
            .collect();
        let mut seen: HashMap<String, S::Addr> = HashMap::new();
        while seen.len() < 9 * N {
            let msg = s[0].receive().await.expect("receive failed");
            let text = String::from_utf8(msg.payload.to_vec()).expect("not text");
            let k: usize = text
                .split(':')
                .next()
                .and_then(|k| k.parse().ok())
                .expect("bad payload");
            assert!(k < 9, "bad payload {text}");
            assert_src(&*s[0], &msg.src);
            if let Some(prev) = seen.insert(text.clone(), msg.src.clone()) {
                panic!("{text} arrived twice (from {prev} and {})", msg.src);
            }
        }
        for t in senders {
            t.await.expect("a sender failed");
        }
        // Every sender is seen under one source address, and distinct senders under distinct ones.
        let mut by_sender: HashMap<&str, HashSet<&S::Addr>> = HashMap::new();
        for (text, src) in &seen {
            let k = text.split(':').next().unwrap_or_default();
            by_sender.entry(k).or_default().insert(src);
        }
        let all: HashSet<_> = by_sender.values().flatten().collect();
        assert!(
            by_sender.values().all(|v| v.len() == 1) && all.len() == 9,
            "sources do not identify senders"
        );
    })
    .await;
    close_all(&s).await;
}

/// Resolves after 1 to 3 polls (so a call raced against it is dropped after that many polls,
/// possibly in the middle of its work), or never, one time in four (so every call can finish).
async fn abandon_after(rng: &mut SeedRng) {
    let polls = rng.below(4);
    if polls == 0 {
        return std::future::pending().await;
    }
    let mut n = 0;
    std::future::poll_fn(|cx| {
        n += 1;
        if n >= polls {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Receives dropped before they complete lose no message: 200 tells arrive through a receiver
/// that abandons its `receive` after a random number of polls, mid-work included.
pub async fn receive_is_cancel_safe<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    const N: usize = 200;
    let s = make(factory, 2).await;
    bounded("receive_is_cancel_safe", async {
        // A receive abandoned after its first poll, before anything was sent.
        assert!(
            futures_util::poll!(Box::pin(s[1].receive())).is_pending(),
            "receive completed with nothing sent"
        );
        let (a, dst) = (s[0].clone(), addr(&*s[1]));
        let sender = tokio::spawn(async move {
            for i in 0..N {
                a.tell(&dst, Bytes::from(i.to_string()))
                    .await
                    .expect("tell failed");
                if i % 16 == 15 {
                    // Pauses, so the receiver also waits on an empty queue and gives up.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut seen = HashSet::new();
        let mut abandoned = 0u32;
        let mut rng = SeedRng::new(21);
        while seen.len() < N {
            tokio::select! {
                biased;
                msg = s[1].receive() => {
                    let msg = msg.expect("receive failed");
                    assert!(seen.insert(msg.payload.clone()), "a message arrived twice");
                }
                () = abandon_after(&mut rng) => abandoned += 1,
            }
        }
        tracing::debug!(abandoned, "receive_is_cancel_safe: receives abandoned");
        sender.await.expect("the sender failed");
    })
    .await;
    close_all(&s).await;
}

/// After close: `receive` and `tell` fail with [`SwarmError::Closed`], and a second close is
/// not an error.
pub async fn close_semantics<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("close_semantics", async {
        let dst = addr(&*s[1]);
        s[0].close().await.expect("close failed");
        assert!(
            matches!(s[0].receive().await, Err(SwarmError::Closed)),
            "receive after close is not Closed"
        );
        assert!(
            matches!(
                s[0].tell(&dst, Bytes::from_static(b"x")).await,
                Err(SwarmError::Closed)
            ),
            "tell after close is not Closed"
        );
        s[0].close().await.expect("a second close failed");
        // The other swarm is unaffected.
        let other = addr(&*s[0]);
        let _ = s[1]
            .tell(&other, Bytes::from_static(b"to a closed swarm"))
            .await;
    })
    .await;
    close_all(&s).await;
}

/// A `receive` blocked when the swarm closes ends with [`SwarmError::Closed`].
pub async fn close_wakes_receive<S, F, Fut>(factory: &F)
where
    S: Swarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 1).await;
    bounded("close_wakes_receive", async {
        let a = s[0].clone();
        let blocked = tokio::spawn(async move { a.receive().await });
        // Let it block first.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!blocked.is_finished(), "receive returned with nothing sent");
        s[0].close().await.expect("close failed");
        let result = blocked.await.expect("the receiving task panicked");
        assert!(
            matches!(result, Err(SwarmError::Closed)),
            "a blocked receive ended with {result:?}, not Closed"
        );
    })
    .await;
}

/// Serves asks on `s` until it closes: answers `pong:<request>`, refuses requests starting
/// with `reject`.
fn serve<S: AskSwarm + 'static>(s: Arc<S>) -> tokio::task::JoinHandle<Result<(), SwarmError>> {
    tokio::spawn(async move {
        ms_swarm::serve_ask(&*s, |msg| async move {
            if msg.payload.starts_with(b"reject") {
                None
            } else {
                let mut answer = b"pong:".to_vec();
                answer.extend_from_slice(&msg.payload);
                Some(Bytes::from(answer))
            }
        })
        .await
    })
}

/// One ask: the handler sees the request, its destination and source; the asker gets the
/// answer.
pub async fn single_ask<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("single_ask", async {
        let dst = addr(&*s[1]);
        let server = async {
            let ask = s[1].next_ask().await.expect("next_ask failed");
            assert_eq!(&ask.payload()[..], b"ping");
            assert_eq!(
                ask.message().dst,
                dst,
                "the request's dst is not the address asked"
            );
            let src = ask.src().clone();
            ask.respond(Bytes::from_static(b"pong"));
            src
        };
        let (answer, src) = tokio::join!(s[0].ask(&dst, Bytes::from_static(b"ping")), server);
        assert_eq!(&answer.expect("ask failed")[..], b"pong");
        assert_src(&*s[1], &src);
    })
    .await;
    close_all(&s).await;
}

/// Over 10 swarms serving at once, 10 rounds of asks between every ordered pair in random
/// order, all concurrent within a round: every answer matches its request.
pub async fn multiple_asks<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    const ROUNDS: usize = 10;
    let s = make(factory, 10).await;
    let servers: Vec<_> = s.iter().map(|x| serve(x.clone())).collect();
    bounded("multiple_asks", async {
        let mut rng = SeedRng::new(16);
        let mut pairs: Vec<(usize, usize)> = (0..10)
            .flat_map(|i| (0..10).filter(move |&j| j != i).map(move |j| (i, j)))
            .collect();
        for round in 0..ROUNDS {
            rng.shuffle(&mut pairs);
            let asks = pairs.iter().map(|&(i, j)| {
                let (a, dst) = (s[i].clone(), addr(&*s[j]));
                async move {
                    let req = format!("{round}:{i}->{j}");
                    let answer = a.ask(&dst, Bytes::from(req.clone())).await;
                    let answer = answer.unwrap_or_else(|e| panic!("ask {req} failed: {e}"));
                    assert_eq!(answer, Bytes::from(format!("pong:{req}")));
                }
            });
            futures_util::future::join_all(asks).await;
        }
    })
    .await;
    close_all(&s).await;
    for server in servers {
        server
            .await
            .expect("a server panicked")
            .expect("serve_ask failed");
    }
}

/// A refused request fails the asker with [`SwarmError::Rejected`]; serving goes on.
pub async fn error_response<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    let server = serve(s[1].clone());
    bounded("error_response", async {
        let dst = addr(&*s[1]);
        let refused = s[0].ask(&dst, Bytes::from_static(b"reject me")).await;
        assert!(
            matches!(refused, Err(SwarmError::Rejected)),
            "a refused ask gave {refused:?}, not Rejected"
        );
        let answer = s[0].ask(&dst, Bytes::from_static(b"after")).await;
        assert_eq!(
            &answer.expect("ask after a refusal failed")[..],
            b"pong:after"
        );
        // Dropping an Ask unanswered also refuses.
        let back = addr(&*s[0]);
        let (answer, ()) = tokio::join!(s[1].ask(&back, Bytes::from_static(b"drop")), async {
            drop(s[0].next_ask().await.expect("next_ask failed"));
        });
        assert!(
            matches!(answer, Err(SwarmError::Rejected)),
            "a dropped ask gave {answer:?}, not Rejected"
        );
    })
    .await;
    assert!(!server.is_finished(), "serve_ask stopped after a refusal");
    close_all(&s).await;
    server
        .await
        .expect("the server panicked")
        .expect("serve_ask failed");
}

/// `next_ask` calls dropped before they complete lose no request: 50 concurrent asks all get
/// answers from a server that abandons `next_ask` at every chance.
pub async fn next_ask_is_cancel_safe<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    const N: usize = 50;
    let s = make(factory, 2).await;
    bounded("next_ask_is_cancel_safe", async {
        let dst = addr(&*s[1]);
        let asks = futures_util::future::join_all((0..N).map(|i| {
            let (a, dst) = (s[0].clone(), dst.clone());
            async move { a.ask(&dst, Bytes::from(i.to_string())).await }
        }));
        let server = async {
            let (mut served, mut rng) = (0, SeedRng::new(22));
            while served < N {
                tokio::select! {
                    biased;
                    ask = s[1].next_ask() => {
                        let ask = ask.expect("next_ask failed");
                        let answer = ask.payload().clone();
                        ask.respond(answer);
                        served += 1;
                    }
                    () = abandon_after(&mut rng) => {}
                }
            }
        };
        let (answers, ()) = tokio::join!(asks, server);
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.expect("ask failed"), Bytes::from(i.to_string()));
        }
    })
    .await;
    close_all(&s).await;
}

/// An ask dropped while waiting for its answer leaves both swarms working: the next ask is
/// answered.
pub async fn cancelled_ask_leaves_server_serving<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("cancelled_ask_leaves_server_serving", async {
        let dst = addr(&*s[1]);
        let (got_tx, got_rx) = tokio::sync::oneshot::channel::<()>();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let b = s[1].clone();
        let slow = tokio::spawn(async move {
            let ask = b.next_ask().await.expect("next_ask failed");
            let _ = got_tx.send(());
            let _ = wait.await;
            ask.respond(Bytes::from_static(b"late"));
        });
        // The asker gives up once the server holds the request.
        tokio::select! {
            answer = s[0].ask(&dst, Bytes::from_static(b"slow")) => {
                panic!("answered before the server answered: {answer:?}")
            }
            _ = got_rx => {}
        }
        let _ = release.send(());
        slow.await.expect("the slow server panicked");
        let server = serve(s[1].clone());
        let answer = s[0].ask(&dst, Bytes::from_static(b"next")).await;
        assert_eq!(
            &answer.expect("the ask after a cancelled one failed")[..],
            b"pong:next"
        );
        close_all(&s).await;
        server
            .await
            .expect("the server panicked")
            .expect("serve_ask failed");
    })
    .await;
}

/// An ask to the address of a closed swarm fails with a typed error (unreachable, timeout,
/// rejected or closed), not a hang.
pub async fn ask_unreachable_fails<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("ask_unreachable_fails", async {
        let dead = addr(&*s[1]);
        s[1].close().await.expect("close failed");
        match s[0].ask(&dead, Bytes::from_static(b"anyone?")).await {
            Err(
                SwarmError::Unreachable { .. }
                | SwarmError::Timeout
                | SwarmError::Rejected
                | SwarmError::Transport(_),
            ) => {}
            other => panic!("an ask to a closed swarm gave {other:?}"),
        }
    })
    .await;
    close_all(&s).await;
}

/// After close: `ask` and `next_ask` fail with [`SwarmError::Closed`], and a blocked
/// `next_ask` is woken with it.
pub async fn ask_close_semantics<S, F, Fut>(factory: &F)
where
    S: AskSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    bounded("ask_close_semantics", async {
        let a = s[0].clone();
        let blocked = tokio::spawn(async move { a.next_ask().await.map(|_| ()) });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !blocked.is_finished(),
            "next_ask returned with nothing asked"
        );
        s[0].close().await.expect("close failed");
        let woken = blocked.await.expect("the task panicked");
        assert!(
            matches!(woken, Err(SwarmError::Closed)),
            "a blocked next_ask ended with {woken:?}"
        );
        assert!(matches!(s[0].next_ask().await, Err(SwarmError::Closed)));
        let dst = addr(&*s[1]);
        assert!(matches!(
            s[0].ask(&dst, Bytes::from_static(b"x")).await,
            Err(SwarmError::Closed)
        ));
    })
    .await;
    close_all(&s).await;
}

/// A swarm's public key does not change, and two swarms have different keys.
pub async fn public_key_is_stable<S, F, Fut>(factory: &F)
where
    S: SecureSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 2).await;
    assert_eq!(s[0].public_key(), s[0].public_key());
    assert_ne!(
        s[0].public_key(),
        s[1].public_key(),
        "two swarms share a key"
    );
    close_all(&s).await;
}

/// The key behind the source of a received message is the sender's key, known from memory;
/// an address never heard from either gives [`SwarmError::KeyUnknown`] or a key, never a
/// wrong one for the sender.
pub async fn lookup_finds_sender_key<S, F, Fut>(factory: &F)
where
    S: SecureSwarm + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<S>>,
{
    let s = make(factory, 3).await;
    bounded("lookup_finds_sender_key", async {
        for (i, j) in [(0usize, 1usize), (2, 1), (1, 0)] {
            let dst = addr(&*s[j]);
            let (sent, got) = tokio::join!(
                s[i].tell(&dst, Bytes::from_static(b"who am i")),
                s[j].receive()
            );
            sent.expect("tell failed");
            let msg = got.expect("receive failed");
            let key = s[j]
                .lookup_public_key(&msg.src)
                .unwrap_or_else(|e| panic!("the key of a sender is unknown: {e}"));
            assert_eq!(
                key,
                s[i].public_key(),
                "the looked-up key is not the sender's"
            );
        }
    })
    .await;
    close_all(&s).await;
}
