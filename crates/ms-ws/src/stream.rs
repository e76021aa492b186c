//! [`WsStream`]: a WebSocket as a byte stream.
//!
//! Message boundaries mean nothing to multiserver (the reference sends each box-stream header
//! and body as its own message), so:
//!
//! - reading concatenates the payloads of every binary message; text messages are taken as
//!   their UTF-8 bytes too (a JavaScript peer that writes a string sends one), empty messages
//!   are skipped;
//! - writing collects bytes in a buffer that becomes one binary message when it is full or when
//!   the stream is flushed, so a `poll_write` produces at most one message and small writes
//!   are coalesced. The buffer's allocation is reused once tungstenite has framed the message.
//!
//! Keep-alive: when nothing has arrived for the ping interval, reading sends a ping; when
//! nothing arrives for the interval and then the timeout, reading fails with
//! [`io::ErrorKind::TimedOut`]. Only a task that reads runs this (as only a reader answers the
//! peer's pings), which every multiserver application does.
//!
//! `shutdown` sends a close frame. WebSockets cannot half-close: the peer answers the close
//! and stops sending, so reading ends soon after.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as TError, Message};

/// Keep-alive settings: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Quiet time after which a ping is sent.
    pub interval: Duration,
    /// How long to wait, after the ping, for anything from the peer.
    pub timeout: Duration,
}

impl Default for Keepalive {
    /// A ping after 30 s of silence, given up 20 s later.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
        }
    }
}

struct Liveness {
    settings: Keepalive,
    timer: Pin<Box<Sleep>>,
    /// Something arrived since the timer was last armed.
    seen: bool,
    /// A ping went out and nothing arrived since.
    ping_outstanding: bool,
    /// A ping is queued in tungstenite but not flushed yet.
    ping_unflushed: bool,
}

/// A WebSocket connection read and written as a byte stream. See the module docs.
///
/// Built by the `ws` transport; public so that code holding a tungstenite `WebSocketStream`
/// (from another server, say) can hand it to a multiserver stack.
///
/// ```
/// # async fn f(ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) {
/// use tokio::io::AsyncWriteExt;
/// let mut stream = ms_ws::WsStream::new(ws, 64 * 1024, None);
/// stream.write_all(b"hello").await.unwrap();
/// stream.flush().await.unwrap(); // one binary message
/// # }
/// ```
pub struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last message.
    incoming: Bytes,
    read_done: bool,
    outgoing: BytesMut,
    max_message: usize,
    write_closed: bool,
    liveness: Option<Liveness>,
    /// The waker of the last write that waited, so that a flush started by the reader (for a
    /// ping) wakes the writer too: tungstenite keeps one waker per direction.
    writer: Option<Waker>,
}

impl<S> WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps an established WebSocket. Writes are sent as binary messages of at most
    /// `max_message` bytes (at least 1); `keepalive` enables pings.
    pub fn new(ws: WebSocketStream<S>, max_message: usize, keepalive: Option<Keepalive>) -> Self {
        let max_message = max_message.max(1);
        Self {
            ws,
            incoming: Bytes::new(),
            read_done: false,
            outgoing: BytesMut::new(),
            max_message,
            write_closed: false,
            liveness: keepalive.map(|settings| Liveness {
                settings,
                timer: Box::pin(tokio::time::sleep(settings.interval)),
                seen: false,
                ping_outstanding: false,
                ping_unflushed: false,
            }),
            writer: None,
        }
    }

    /// The WebSocket inside.
    pub fn get_ref(&self) -> &WebSocketStream<S> {
        &self.ws
    }

    fn mark_seen(&mut self) {
        if let Some(l) = &mut self.liveness {
            l.seen = true;
            l.ping_outstanding = false;
        }
    }

    /// Runs the keep-alive timer; an error means the peer stopped answering.
    fn poll_liveness(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(l) = &mut self.liveness else {
            return Ok(());
        };
        let mut send_ping = l.ping_unflushed;
        while l.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if l.seen {
                l.seen = false;
                l.timer.as_mut().reset(now + l.settings.interval);
            } else if l.ping_outstanding {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the WebSocket peer did not answer a ping within {:?}",
                        l.settings.timeout
                    ),
                ));
            } else {
                l.ping_outstanding = true;
                send_ping = true;
                l.timer.as_mut().reset(now + l.settings.timeout);
            }
        }
        if send_ping && !self.write_closed {
            self.send_ping(cx)?;
        }
        Ok(())
    }

    fn send_ping(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let waker = match &self.writer {
            Some(writer) if !writer.will_wake(cx.waker()) => {
                Waker::from(Arc::new(BothWakers(cx.waker().clone(), writer.clone())))
            }
            _ => cx.waker().clone(),
        };
        let mut both = Context::from_waker(&waker);
        let queued = self.liveness.as_ref().is_some_and(|l| l.ping_unflushed);
        if !queued {
            match Pin::new(&mut self.ws).poll_ready(&mut both) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(to_io(e)),
                Poll::Pending => {
                    if let Some(l) = &mut self.liveness {
                        l.ping_unflushed = true;
                    }
                    return Ok(());
                }
            }
            Pin::new(&mut self.ws)
                .start_send(Message::Ping(Bytes::new()))
                .map_err(to_io)?;
        }
        let flushed = Pin::new(&mut self.ws).poll_flush(&mut both);
        if let Some(l) = &mut self.liveness {
            l.ping_unflushed = flushed.is_pending();
        }
        match flushed {
            Poll::Ready(Err(e)) => Err(to_io(e)),
            _ => Ok(()),
        }
    }

    /// Sends the write buffer as one message, if it holds anything.
    fn poll_send_buffer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.outgoing.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Err(e) = ready!(Pin::new(&mut self.ws).poll_ready(cx)) {
            return Poll::Ready(Err(to_io(e)));
        }
        let message = self.outgoing.split().freeze();
        Poll::Ready(
            Pin::new(&mut self.ws)
                .start_send(Message::Binary(message))
                .map_err(to_io),
        )
    }

    fn remember_writer(&mut self, cx: &Context<'_>) {
        match &self.writer {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.writer = Some(cx.waker().clone()),
        }
    }
}

struct BothWakers(Waker, Waker);

impl Wake for BothWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_by_ref();
        self.1.wake_by_ref();
    }
}

fn to_io(e: TError) -> io::Error {
    match e {
        TError::Io(e) => e,
        TError::ConnectionClosed | TError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed")
        }
        TError::Protocol(p) => io::Error::new(io::ErrorKind::InvalidData, p),
        TError::Capacity(c) => io::Error::new(io::ErrorKind::InvalidData, c),
        other => io::Error::other(other),
    }
}

impl<S> AsyncRead for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.incoming.is_empty() {
                let n = this.incoming.len().min(buf.remaining());
                buf.put_slice(&this.incoming[..n]);
                this.incoming.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.read_done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut this.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    this.mark_seen();
                    match message {
                        Message::Binary(data) => this.incoming = data,
                        Message::Text(text) => this.incoming = Bytes::from(text),
                        // Pongs are answered by tungstenite; all of these prove liveness.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        // The close is answered by tungstenite; the next poll ends the stream.
                        Message::Close(_) => this.write_closed = true,
                    }
                }
                Poll::Ready(None) => {
                    this.read_done = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.read_done = true;
                    return match e {
                        // A peer that vanishes without a close frame: the TCP reset is the
                        // end of the stream as far as the bytes are concerned.
                        TError::Protocol(
                            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                        ) => Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the WebSocket peer closed without a close frame",
                        ))),
                        e => Poll::Ready(Err(to_io(e))),
                    };
                }
                Poll::Pending => {
                    this.poll_liveness(cx)?;
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S> AsyncWrite for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the WebSocket is closed",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.outgoing.len() >= this.max_message && this.poll_send_buffer(cx)?.is_pending() {
            this.remember_writer(cx);
            return Poll::Pending;
        }
        let n = data.len().min(this.max_message - this.outgoing.len());
        this.outgoing.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the WebSocket is closed",
            )));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if this.outgoing.len() >= this.max_message && this.poll_send_buffer(cx)?.is_pending() {
            this.remember_writer(cx);
            return Poll::Pending;
        }
        let mut room = this.max_message - this.outgoing.len();
        this.outgoing.reserve(total.min(room));
        let mut written = 0;
        for b in bufs {
            if room == 0 {
                break;
            }
            let n = b.len().min(room);
            this.outgoing.extend_from_slice(&b[..n]);
            room -= n;
            written += n;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_closed && this.outgoing.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if this.poll_send_buffer(cx)?.is_pending() {
            this.remember_writer(cx);
            return Poll::Pending;
        }
        match Pin::new(&mut this.ws).poll_flush(cx) {
            Poll::Ready(r) => {
                if let Some(l) = &mut this.liveness {
                    l.ping_unflushed = false;
                }
                Poll::Ready(r.map_err(to_io))
            }
            Poll::Pending => {
                this.remember_writer(cx);
                Poll::Pending
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed && this.poll_send_buffer(cx)?.is_pending() {
            this.remember_writer(cx);
            return Poll::Pending;
        }
        match Pin::new(&mut this.ws).poll_close(cx) {
            Poll::Ready(Ok(())) => {
                this.write_closed = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                this.write_closed = true;
                match e {
                    TError::ConnectionClosed | TError::AlreadyClosed => Poll::Ready(Ok(())),
                    TError::Protocol(
                        tokio_tungstenite::tungstenite::error::ProtocolError::SendAfterClosing,
                    ) => Poll::Ready(Ok(())),
                    e => Poll::Ready(Err(to_io(e))),
                }
            }
            Poll::Pending => {
                this.remember_writer(cx);
                Poll::Pending
            }
        }
    }
}

impl<S> std::fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsStream")
            .field("buffered_in", &self.incoming.len())
            .field("buffered_out", &self.outgoing.len())
            .field("read_done", &self.read_done)
            .field("write_closed", &self.write_closed)
            .finish_non_exhaustive()
    }
}
