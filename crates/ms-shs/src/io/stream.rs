//! [`BoxStream`]: box-stream over any tokio byte stream, as `AsyncRead + AsyncWrite`.
//!
//! Invariants that make it fast and bounded:
//!
//! - **Reading** fills one buffer straight from the inner stream, decrypts every frame *in
//!   place* and copies the plaintext once, into the caller's buffer. The buffer has two sizes:
//!   8 KiB while the connection is quiet (a whole 4096-byte frame and the next header: what an
//!   idle connection costs), grown to ~64 KiB (the largest frame the 16-bit length allows)
//!   when a read fills it or a longer frame arrives, and shrunk back when a read finds nothing
//!   buffered and the inner stream has nothing to give. There is no read-ahead beyond it.
//! - **Writing** seals frames in place into one buffer, header and body contiguous, and hands the
//!   inner stream as many queued frames as it takes in one write. `poll_write` tries to write
//!   immediately; if the inner stream is busy the frames stay queued (up to
//!   [`WRITE_QUEUE_LIMIT`] bytes, then `poll_write` waits), so small writes made while the
//!   socket is busy are batched. As with any buffered writer, call `flush` (or `shutdown`) to
//!   be sure everything went out.
//! - **Ending**: `poll_shutdown` sends the goodbye frame and flushes; the inner stream stays
//!   open (a WebSocket cannot half-close: see `poll_shutdown`) until the peer's goodbye has
//!   been read too: a `shutdown` after both goodbyes also shuts the inner stream down (TCP FIN,
//!   WebSocket close frame). Otherwise it is closed when the `BoxStream` is dropped.
//!   The read side reports end-of-file only after the peer's goodbye; an inner EOF without it is
//!   an `UnexpectedEof` error (a truncation attack or a crashed peer, never a clean end).
//! - **No goodbye after a failed read**: once reading has failed (a tampered or truncated
//!   frame, an EOF without goodbye, a frame deadline), `poll_shutdown` does not send the goodbye
//!   and returns that error: the peer must be able to tell a stream we cut short from a
//!   complete one. Drop the stream to close it.
//! - **Frame deadline**: a frame that has started (a byte of its header arrived) must be
//!   complete within [`DEFAULT_FRAME_TIMEOUT`] (see [`BoxStream::with_frame_timeout`]), or the
//!   read fails with [`BoxStreamError::FrameTimeout`] and the read buffer is released: a peer
//!   that announces a 64 KiB body and goes silent cannot pin the memory for ever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::BoxStreamError;
use crate::keys::PublicKey;
use crate::proto::boxstream::{
    BODY_MAC_ROOM, Decoder, Encoder, HEADER_LEN, Header, MAX_DECODED_BODY_LEN,
};
use crate::proto::handshake::HandshakeOutcome;

/// Size of the read buffer while data streams in: MAC room, a header and the largest body the
/// 16-bit length allows (one big read per ~15 frames).
const READ_BUF_LEN: usize = BODY_MAC_ROOM + HEADER_LEN + MAX_DECODED_BODY_LEN;

/// Size of the read buffer of a quiet connection: room for one whole frame of the largest body
/// any encoder sends (4096 bytes) and the next header. Idle connections are the common case on
/// a pub, so this is what a connection costs while nothing happens.
const SMALL_READ_BUF_LEN: usize = 8 * 1024;

/// Compact the read buffer rather than read less than this.
const MIN_READ: usize = 16 * 1024;

/// How long a started frame may take to arrive in full, by default: 30 s. A JavaScript peer's
/// frames are at most 4130 bytes on the wire, so only a link slower than ~140 B/s, or a
/// peer that stalls on purpose, hits it.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Encrypted bytes queued for the inner stream at most (plus one frame), before `poll_write`
/// waits for the inner stream to take some.
pub const WRITE_QUEUE_LIMIT: usize = 64 * 1024;

/// A box-stream session over `S`: writes are encrypted, reads decrypted and authenticated.
///
/// Made by [`client_handshake`](crate::client_handshake) /
/// [`server_handshake`](crate::server_handshake), or from a [`HandshakeOutcome`] with
/// [`BoxStream::new`].
pub struct BoxStream<S> {
    inner: S,
    remote: PublicKey,
    read: ReadHalf,
    write: WriteHalf,
}

struct ReadHalf {
    decoder: Decoder,
    /// `SMALL_READ_BUF_LEN` bytes while the connection is quiet, `READ_BUF_LEN` while data
    /// streams in (grown when a read fills it, shrunk when the peer goes quiet).
    buf: Vec<u8>,
    /// Undecoded bytes are `buf[start..end]`; `start >= BODY_MAC_ROOM` always, so a body can be
    /// opened in place with its MAC written just in front of it.
    start: usize,
    end: usize,
    /// Decrypted bytes not yet handed out: `buf[plain_start..plain_end]`.
    plain_start: usize,
    plain_end: usize,
    state: ReadState,
    /// How long a started frame may take (`None`: for ever).
    frame_timeout: Option<Duration>,
    /// The deadline of the frame being waited for, created on first use.
    deadline: Option<Pin<Box<Sleep>>>,
    /// `deadline` is running for the current partial frame.
    armed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer said goodbye.
    Finished,
    /// A decoding or EOF error; repeated on every later read.
    Failed(BoxStreamError),
}

struct WriteHalf {
    encoder: Encoder,
    /// Sealed frames; `buf[written..]` still has to go to the inner stream.
    buf: Vec<u8>,
    written: usize,
    state: WriteState,
    /// The inner stream was shut down (after both goodbyes).
    inner_closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Open,
    /// The goodbye is queued; we are flushing and shutting the inner stream down.
    Closing,
    Closed,
}

impl<S> BoxStream<S> {
    /// Wraps `inner` with the keys of a completed handshake. Bytes already read past message 4
    /// would be lost: the handshake functions of this crate never read past it.
    ///
    /// Reading runs the frame deadline ([`with_frame_timeout`](Self::with_frame_timeout)), so
    /// it needs a tokio runtime with the time driver, unless that deadline is turned off.
    pub fn new(inner: S, outcome: HandshakeOutcome) -> Self {
        let remote = outcome.remote();
        let (encoder, decoder) = outcome.into_codecs();
        Self {
            inner,
            remote,
            read: ReadHalf {
                decoder,
                buf: vec![0; SMALL_READ_BUF_LEN],
                start: BODY_MAC_ROOM,
                end: BODY_MAC_ROOM,
                plain_start: 0,
                plain_end: 0,
                state: ReadState::Open,
                frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
                deadline: None,
                armed: false,
            },
            write: WriteHalf {
                encoder,
                buf: Vec::new(),
                written: 0,
                state: WriteState::Open,
                inner_closed: false,
            },
        }
    }

    /// Sets the largest body this side sends per box-stream frame: 4096 by default (what every
    /// SSB implementation sends), up to 65535. See [`Encoder::with_max_body`] for when raising
    /// it is safe; the reading side accepts any size either way.
    pub fn with_max_frame_body(mut self, max_body: usize) -> Self {
        self.write.encoder.set_max_body(max_body);
        self
    }

    /// Sets how long a frame may take to arrive once its first byte has (default
    /// [`DEFAULT_FRAME_TIMEOUT`], `None` for no limit). When it passes, reading fails with
    /// [`BoxStreamError::FrameTimeout`] (an [`io::ErrorKind::TimedOut`] error) and the read
    /// buffer is released. A quiet connection between frames is not affected. Needs a tokio
    /// runtime with the time driver, as the handshake does.
    pub fn with_frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read.frame_timeout = timeout;
        self
    }

    /// The peer's long-term public key, as proven by the handshake.
    pub fn remote(&self) -> PublicKey {
        self.remote
    }

    /// Bytes of buffer memory this stream holds now (read buffer and write queue). About 8 KiB
    /// while the connection is quiet; up to ~140 KiB while data streams both ways.
    pub fn buffer_memory(&self) -> usize {
        self.read.buf.capacity() + self.write.buf.capacity()
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> std::fmt::Debug for BoxStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxStream")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl ReadHalf {
    /// Decodes what is buffered. Returns `true` if there is plaintext to hand out or the stream
    /// finished, `false` if more input is needed.
    fn decode_buffered(&mut self) -> Result<bool, BoxStreamError> {
        loop {
            if self.plain_start < self.plain_end || self.state == ReadState::Finished {
                return Ok(true);
            }
            let available = self.end - self.start;
            let needed = self.decoder.next_len();
            if self.decoder.is_between_frames() {
                let Some(header) = self.buf[self.start..self.end].first_chunk::<HEADER_LEN>()
                else {
                    return Ok(false);
                };
                match self.decoder.read_header(header)? {
                    Header::Goodbye => {
                        self.state = ReadState::Finished;
                        return Ok(true);
                    }
                    Header::Body(_) => self.start += HEADER_LEN,
                }
            } else {
                if available < needed {
                    return Ok(false);
                }
                let body = self.start..self.start + needed;
                self.decoder
                    .read_body_in_place(&mut self.buf[body.start - BODY_MAC_ROOM..body.end])?;
                (self.plain_start, self.plain_end) = (body.start, body.end);
                self.start = body.end;
            }
        }
    }

    /// Records a failure (repeated on every later read) and releases the read buffer: nothing
    /// more is ever decoded.
    fn fail(&mut self, error: BoxStreamError) {
        self.state = ReadState::Failed(error);
        self.buf = Vec::new();
        (self.start, self.end, self.plain_start, self.plain_end) = (0, 0, 0, 0);
        self.deadline = None;
        self.armed = false;
    }

    /// Whether part of a frame has arrived and the rest is awaited.
    fn mid_frame(&self) -> bool {
        !self.decoder.is_between_frames() || self.end > self.start
    }

    /// Runs the frame deadline while the inner stream has nothing for us: arms it when a frame
    /// has started, disarms it between frames. `Err` when it passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), BoxStreamError> {
        let Some(timeout) = self.frame_timeout else {
            return Ok(());
        };
        if !self.mid_frame() {
            self.armed = false;
            return Ok(());
        }
        if !self.armed {
            let at = Instant::now() + timeout;
            match &mut self.deadline {
                Some(deadline) => deadline.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.armed = true;
        }
        let passed = match &mut self.deadline {
            Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
            None => false,
        };
        if passed {
            return Err(BoxStreamError::FrameTimeout {
                after: timeout,
                got: self.end - self.start,
                wanted: self.decoder.next_len(),
            });
        }
        Ok(())
    }

    /// Whether nothing is buffered: no undecoded bytes and no plaintext to hand out.
    fn is_empty(&self) -> bool {
        self.start == self.end && self.plain_start == self.plain_end
    }

    /// Grows the buffer to its streaming size, keeping its contents.
    fn grow(&mut self) {
        if self.buf.len() < READ_BUF_LEN {
            self.buf.resize(READ_BUF_LEN, 0);
        }
    }

    /// Gives the streaming-size buffer back when nothing is buffered (the peer went quiet).
    fn shrink(&mut self) {
        if self.buf.len() > SMALL_READ_BUF_LEN && self.is_empty() {
            self.start = BODY_MAC_ROOM;
            self.end = BODY_MAC_ROOM;
            // Every index must stay inside the smaller buffer.
            self.plain_start = 0;
            self.plain_end = 0;
            self.buf.truncate(SMALL_READ_BUF_LEN);
            self.buf.shrink_to_fit();
        }
    }

    /// Makes room at the end of the buffer by moving the undecoded bytes to the front (after
    /// the MAC room). Only called when no plaintext is pending.
    fn compact(&mut self) {
        if self.start > BODY_MAC_ROOM {
            self.buf.copy_within(self.start..self.end, BODY_MAC_ROOM);
            self.end -= self.start - BODY_MAC_ROOM;
            self.start = BODY_MAC_ROOM;
        }
    }
}

fn eof_error(error: BoxStreamError) -> io::Error {
    io::Error::from(error)
}

impl<S: AsyncRead + Unpin> AsyncRead for BoxStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let read = &mut this.read;
        if let ReadState::Failed(error) = &read.state {
            return Poll::Ready(Err(eof_error(error.clone())));
        }
        loop {
            match read.decode_buffered() {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => {
                    read.fail(error.clone());
                    return Poll::Ready(Err(eof_error(error)));
                }
            }
            // Need more input. Keep the partial frame and make room behind it (cheap: at most one
            // partial frame moves) unless there is plenty, then read as much as fits.
            let missing = read
                .decoder
                .next_len()
                .saturating_sub(read.end - read.start);
            if read.buf.len() - read.end < missing.max(MIN_READ) {
                read.compact();
            }
            if read.buf.len() - read.end < missing {
                // A body longer than the small buffer holds (only non-JS encoders send those).
                read.grow();
            }
            let room = read.buf.len() - read.end;
            let mut inner_buf = ReadBuf::new(&mut read.buf[read.end..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut inner_buf);
            let n = inner_buf.filled().len();
            match polled {
                Poll::Pending => {
                    if let Err(error) = read.poll_deadline(cx) {
                        read.fail(error.clone());
                        return Poll::Ready(Err(eof_error(error)));
                    }
                    read.shrink();
                    return Poll::Pending;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) => {}
            }
            if n == room {
                // The read filled the buffer: data is streaming, read more at a time.
                read.grow();
            }
            if n == 0 {
                let error = match read.decoder.check_eof(read.end - read.start) {
                    Ok(()) => break,
                    Err(error) => error,
                };
                read.fail(error.clone());
                return Poll::Ready(Err(eof_error(error)));
            }
            read.end += n;
        }
        // A frame finished (or the goodbye came): the next partial frame gets its own deadline.
        read.armed = false;
        // Plaintext is pending, or the peer said goodbye (then this read returns nothing: EOF).
        // Hand out every frame already buffered while the caller has room: one read then
        // returns up to ~15 frames instead of one (fewer wake-ups and, for an echo, fewer
        // writes downstream), without another read of the inner stream.
        loop {
            let n = (read.plain_end - read.plain_start).min(out.remaining());
            out.put_slice(&read.buf[read.plain_start..read.plain_start + n]);
            read.plain_start += n;
            if out.remaining() == 0 || read.plain_start < read.plain_end {
                break;
            }
            match read.decode_buffered() {
                Ok(true) if read.plain_start < read.plain_end => {}
                // Finished (EOF on the next read) or an incomplete frame: return what we have.
                Ok(_) => break,
                Err(error) => {
                    // Returned on the next read, after the plaintext handed out now (already
                    // copied out, so the buffer can go).
                    read.fail(error);
                    break;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl WriteHalf {
    fn queued(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Writes queued frames until the queue is empty or the inner stream is busy.
    fn poll_drain<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        // Keep room for about twice what was just sent: a streaming writer keeps its queue, a
        // connection that goes back to small messages (or to silence) gives the memory back.
        let sent = self.buf.len();
        self.buf.clear();
        self.buf.shrink_to(2 * sent);
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals as much of `bufs` as fits in the queue; returns the plaintext bytes taken.
    fn encode(&mut self, bufs: &[io::IoSlice<'_>]) -> usize {
        if self.written > 0 {
            // Move the unwritten tail to the front so the queue stays within its capacity.
            self.buf.drain(..self.written);
            self.written = 0;
        }
        let mut taken = 0;
        for slice in bufs {
            let room = WRITE_QUEUE_LIMIT.saturating_sub(self.buf.len());
            if room == 0 {
                break;
            }
            // Frames never straddle two slices (like the JS, one write → its own frames). When a
            // slice does not fit, take whole frames (at least one: the queue may exceed its limit
            // by one frame) rather than leave a small remainder frame.
            let max_body = self.encoder.max_body();
            let take = if slice.len() <= room {
                slice.len()
            } else {
                (room / max_body).max(1) * max_body
            }
            .min(slice.len());
            self.encoder.encode(&slice[..take], &mut self.buf);
            taken += take;
            if take < slice.len() {
                break;
            }
        }
        taken
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BoxStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let write = &mut this.write;
        if write.state != WriteState::Open {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "box-stream: write after shutdown",
            )));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if write.queued() >= WRITE_QUEUE_LIMIT {
            // Full: wait until the inner stream has taken everything (one big write next time
            // rather than a trickle of small ones).
            ready!(write.poll_drain(&mut this.inner, cx))?;
        }
        let taken = write.encode(bufs);
        // Send now if the inner stream is ready; if it is busy, the frames wait in the queue and
        // go out together with later ones.
        match write.poll_drain(&mut this.inner, cx) {
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Ready(Ok(())) | Poll::Pending => {}
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.write.poll_drain(&mut this.inner, cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let write = &mut this.write;
        if write.state == WriteState::Open {
            if let ReadState::Failed(error) = &this.read.state {
                // After a failed read nothing says goodbye: the peer must see that we cut the
                // stream short, not a clean end.
                return Poll::Ready(Err(eof_error(error.clone())));
            }
            if write.written > 0 {
                write.buf.drain(..write.written);
                write.written = 0;
            }
            write.encoder.encode_goodbye(&mut write.buf);
            write.state = WriteState::Closing;
        }
        if write.state == WriteState::Closing {
            ready!(write.poll_drain(&mut this.inner, cx))?;
            // The goodbye is the end-of-stream signal; the transport is closed when the stream
            // is dropped, not here. A WebSocket cannot half-close: its close frame would make a
            // JavaScript peer drop what it still had to send us.
            ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
            write.state = WriteState::Closed;
        }
        if this.read.state == ReadState::Finished && !write.inner_closed {
            // Both goodbyes are through: nothing is left for either side to send, so the
            // transport can end now (TCP FIN, WebSocket close frame) rather than at drop. Best
            // effort: the session already ended cleanly, a peer that closed first is no error.
            let _ = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
            write.inner_closed = true;
        }
        Poll::Ready(Ok(()))
    }
}
