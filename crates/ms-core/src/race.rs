//! Staggered racing: the "happy eyeballs" pattern (RFC 8305) for any kind of attempt.
//!
//! One helper serves every layer that has several ways to reach a peer: the node racing the
//! alternatives of a multi-address (`MultiServer::connect_with`), a TCP transport racing the
//! IP addresses a host name resolved to (`ms-net`), and any plugin with the same need.
//!
//! ```
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // The first attempt never answers; the second starts after the stagger and wins.
//! let silent = async { std::future::pending::<Result<&str, &str>>().await };
//! let quick = async { Ok::<_, &str>("second") };
//! let attempts: Vec<std::pin::Pin<Box<dyn Future<Output = _>>>> =
//!     vec![Box::pin(silent), Box::pin(quick)];
//! let winner = ms_core::race::staggered(attempts, Some(Duration::from_millis(250))).await;
//! assert_eq!(winner, Ok("second"));
//!
//! // Every attempt failed: each error, in the order the attempts were given.
//! use std::future::ready;
//! let failed = ms_core::race::staggered([ready(Err::<(), _>(1)), ready(Err(2))], None).await;
//! assert_eq!(failed, Err(vec![1, 2]));
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

/// Runs `attempts` as a staggered race and returns the first success.
///
/// The first attempt starts at once. The next one starts when a running attempt fails, or when
/// the running ones have had `stagger` to themselves (`None`: only when one fails, i.e. one at
/// a time). The first attempt to succeed wins; the others are dropped (cancelled) before this
/// returns. Attempts are taken from the iterator only when they are started, so a lazy
/// iterator builds (and pays for) only the attempts that run.
///
/// When every attempt fails, the errors come back in the order of `attempts` (all of them were
/// started by then). No attempts at all is `Err` with no errors.
///
/// Nothing here has a deadline of its own: wrap the call in [`tokio::time::timeout`] (dropping
/// the future cancels every running attempt). Attempts run concurrently within the caller's
/// task; spawn inside an attempt if it needs a thread of its own.
pub async fn staggered<I, F, T, E>(attempts: I, stagger: Option<Duration>) -> Result<T, Vec<E>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let mut waiting = attempts.into_iter().peekable();
    let Some(first) = waiting.next() else {
        return Err(Vec::new());
    };
    if waiting.peek().is_none() {
        // Nothing to race: no set, no timer.
        return first.await.map_err(|error| vec![error]);
    }
    let numbered = |index: usize, attempt: F| async move { (index, attempt.await) };
    let after_stagger = || stagger.and_then(|delay| Instant::now().checked_add(delay));
    let mut running = FuturesUnordered::new();
    let mut errors: Vec<Option<E>> = vec![None];
    running.push(numbered(0, first));
    let mut next_start = after_stagger();
    loop {
        let more = waiting.peek().is_some();
        let stagger_elapsed = async {
            match next_start {
                Some(at) if more => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        let start_next = tokio::select! {
            finished = running.next() => match finished {
                Some((_, Ok(value))) => return Ok(value),
                Some((index, Err(error))) => {
                    errors[index] = Some(error);
                    more
                }
                // Nothing running: start the next attempt, if there is one.
                None => more,
            },
            () = stagger_elapsed => true,
        };
        if start_next {
            if let Some(attempt) = waiting.next() {
                running.push(numbered(errors.len(), attempt));
                errors.push(None);
                next_start = after_stagger();
            }
        } else if running.is_empty() {
            break;
        }
    }
    Err(errors.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use super::*;

    type Attempt = Pin<Box<dyn Future<Output = Result<&'static str, &'static str>> + Send>>;

    fn after(delay_ms: u64, result: Result<&'static str, &'static str>) -> Attempt {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            result
        })
    }

    fn never() -> Attempt {
        Box::pin(std::future::pending())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_attempt_is_overtaken_after_the_stagger() {
        let start = Instant::now();
        let got = staggered(
            vec![never(), after(10, Ok("b"))],
            Some(Duration::from_millis(250)),
        )
        .await;
        assert_eq!(got, Ok("b"));
        assert_eq!(start.elapsed(), Duration::from_millis(260));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_starts_the_next_attempt_at_once() {
        let start = Instant::now();
        let got = staggered(
            vec![after(5, Err("a")), after(10, Ok("b"))],
            Some(Duration::from_secs(60)),
        )
        .await;
        assert_eq!(got, Ok("b"));
        assert_eq!(start.elapsed(), Duration::from_millis(15));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_stagger_attempts_run_one_at_a_time() {
        let start = Instant::now();
        let got = staggered(vec![after(100, Err("a")), after(10, Ok("b"))], None).await;
        assert_eq!(got, Ok("b"));
        assert_eq!(start.elapsed(), Duration::from_millis(110));
        // A silent first attempt is never overtaken.
        let overtaken = tokio::time::timeout(
            Duration::from_secs(3600),
            staggered(vec![never(), after(1, Ok("b"))], None),
        )
        .await;
        assert!(overtaken.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn errors_come_back_in_the_order_given_whatever_order_they_happened_in() {
        let got = staggered(
            vec![
                after(300, Err("a")),
                after(1, Err("b")),
                after(50, Err("c")),
            ],
            Some(Duration::from_millis(10)),
        )
        .await;
        assert_eq!(got, Err(vec!["a", "b", "c"]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_success_wins_and_the_rest_are_dropped() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let slow = |guard: Guard| -> Attempt {
            Box::pin(async move {
                let _guard = guard;
                std::future::pending().await
            })
        };
        let got = staggered(
            vec![
                slow(Guard(dropped.clone())),
                slow(Guard(dropped.clone())),
                after(0, Ok("c")),
                slow(Guard(dropped.clone())),
            ],
            Some(Duration::from_millis(1)),
        )
        .await;
        assert_eq!(got, Ok("c"));
        // The two running losers and the one never started are all gone.
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn lazy_attempts_are_built_only_when_started() {
        let built = std::cell::Cell::new(0);
        let attempts = (0..5).map(|i| {
            built.set(built.get() + 1);
            after(0, if i == 1 { Ok("one") } else { Err("x") })
        });
        assert_eq!(
            staggered(attempts, Some(Duration::from_secs(1))).await,
            Ok("one")
        );
        // The peek that decides whether to start a timer builds one ahead: 0, 1 and 2.
        assert!(built.get() <= 3, "built {}", built.get());
    }

    #[tokio::test]
    async fn no_attempts_is_an_empty_failure() {
        let none: Vec<Attempt> = Vec::new();
        assert_eq!(staggered(none, None).await, Err(Vec::new()));
    }
}
