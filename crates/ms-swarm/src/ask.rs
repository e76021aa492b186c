//! One incoming request and its answer.

use std::future::Future;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::{AskSwarm, Message, SwarmError};

/// An incoming request, waiting for its answer.
///
/// Answer with [`respond`](Ask::respond). Dropping it unanswered, or [`reject`](Ask::reject),
/// makes the asker's [`AskSwarm::ask`] fail with [`SwarmError::Rejected`].
#[derive(Debug)]
pub struct Ask<A> {
    message: Message<A>,
    reply: oneshot::Sender<Option<Bytes>>,
}

/// The swarm's side of an [`Ask`]: resolves to the handler's answer, or `None` when it refused
/// (rejected or dropped the [`Ask`]).
#[derive(Debug)]
pub struct AskReply(oneshot::Receiver<Option<Bytes>>);

impl AskReply {
    /// Waits for the handler: `Some(answer)`, or `None` when it refused.
    pub async fn answer(self) -> Option<Bytes> {
        self.0.await.ok().flatten()
    }
}

impl<A> Ask<A> {
    /// A request to hand to the application, and the receiver through which the swarm learns
    /// the answer. For swarm implementations.
    pub fn new(message: Message<A>) -> (Self, AskReply) {
        let (reply, rx) = oneshot::channel();
        (Self { message, reply }, AskReply(rx))
    }

    /// The request: sender, the address it asked, and the payload.
    pub fn message(&self) -> &Message<A> {
        &self.message
    }

    /// Who asked.
    pub fn src(&self) -> &A {
        &self.message.src
    }

    /// The request's bytes.
    pub fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    /// The same request with its addresses mapped, as a swarm built on another one does when it
    /// hands on a request its transport received. Answering the result answers the original.
    pub fn map_addrs<B>(self, f: impl FnMut(A) -> B) -> Ask<B> {
        Ask {
            message: self.message.map_addrs(f),
            reply: self.reply,
        }
    }

    /// The same request with another payload (e.g. a header removed), answered through the
    /// same reply.
    pub fn with_payload(mut self, payload: Bytes) -> Self {
        self.message.payload = payload;
        self
    }

    /// Sends `answer` to the asker.
    pub fn respond(self, answer: Bytes) {
        let _ = self.reply.send(Some(answer));
    }

    /// Refuses to answer: the asker gets [`SwarmError::Rejected`].
    pub fn reject(self) {
        let _ = self.reply.send(None);
    }
}

/// Serves asks with `handler` until the swarm closes, one task per request so a slow answer
/// does not hold up the next.
///
/// The handler returns `Some(answer)`, or `None` to refuse (the asker gets
/// [`SwarmError::Rejected`]; serving goes on). Returns `Ok(())` when the swarm closes.
pub async fn serve_ask<S, F, Fut>(swarm: &S, handler: F) -> Result<(), SwarmError>
where
    S: AskSwarm + ?Sized,
    F: Fn(Message<S::Addr>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<Bytes>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let ask = tokio::select! {
            ask = swarm.next_ask() => ask,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match ask {
            Ok(ask) => {
                let handler = handler.clone();
                tasks.spawn(async move {
                    let answer = handler(ask.message.clone()).await;
                    match answer {
                        Some(bytes) => ask.respond(bytes),
                        None => ask.reject(),
                    }
                });
            }
            Err(SwarmError::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
