//! Box-stream: the framing that encrypts a byte stream after the handshake (sans-IO).
//!
//! Each direction has its own key and a 24-byte big-endian nonce counter `N`. A frame is
//!
//! ```text
//! header box (34 bytes) = secretbox(len: u16 BE ‖ body MAC (16), nonce N)
//! body       (len bytes) = ciphertext of secretbox(payload, nonce N + 1) without its MAC
//! ```
//!
//! after which `N += 2`. The stream ends with a *goodbye*: a header box of 18 zero bytes. Bodies
//! we send are at most [`MAX_BODY_LEN`] (4096) bytes, like the JS encoder, unless raised with
//! [`Encoder::with_max_body`] (up to 65535, an opt-in for peers known to accept it).
//!
//! **Decoder leniency (a decision):** the decoder accepts any length the 16-bit field can carry
//! (up to 65535) and empty bodies, exactly like the JS decoder. The length is authenticated by the
//! header MAC before any body byte is read, so this costs at most a 64 KiB buffer and no
//! amplification; refusing would break the (theoretical) peers that send larger frames.
//!
//! Both codecs work in place on the caller's buffers so the async layer can write a header and
//! its body (and several frames) with one write, and decrypt without copying:
//!
//! ```
//! use ms_shs::boxstream::{Decoder, Encoder, Header};
//!
//! let (key, nonce) = ([1; 32], [2; 24]);
//! let mut encoder = Encoder::new(&key, nonce);
//! let mut wire = Vec::new();
//! encoder.encode(b"hello", &mut wire);
//! encoder.encode_goodbye(&mut wire);
//!
//! let mut decoder = Decoder::new(&key, nonce);
//! let mut plain = Vec::new();
//! let progress = decoder.decode(&wire, &mut plain)?;
//! assert_eq!(plain, b"hello");
//! assert!(progress.goodbye);
//! assert_eq!(progress.consumed, wire.len());
//! # Ok::<(), ms_shs::BoxStreamError>(())
//! ```

use crate::proto::crypto::{MAC_LEN, NONCE_LEN, SecretBox};

pub use crate::error::BoxStreamError;

/// Size of a header box on the wire: MAC (16) ‖ sealed(length (2) ‖ body MAC (16)).
pub const HEADER_LEN: usize = 34;
/// Largest body the encoder puts in one frame by default (the JS value).
pub const MAX_BODY_LEN: usize = 4096;
/// Largest body the decoder accepts (what the 16-bit length field can carry).
pub const MAX_DECODED_BODY_LEN: usize = u16::MAX as usize;
/// Room a caller leaves in front of a body for [`Decoder::read_body_in_place`].
pub const BODY_MAC_ROOM: usize = MAC_LEN;

/// Adds `by` to a 24-byte big-endian counter, wrapping to zero after all-`ff`.
fn add_to_nonce(nonce: &mut [u8; NONCE_LEN], by: u8) {
    let mut carry = u16::from(by);
    for byte in nonce.iter_mut().rev() {
        if carry == 0 {
            break;
        }
        let sum = u16::from(*byte) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

fn plus_one(nonce: &[u8; NONCE_LEN]) -> [u8; NONCE_LEN] {
    let mut next = *nonce;
    add_to_nonce(&mut next, 1);
    next
}

/// Encrypts one direction of a box-stream.
pub struct Encoder {
    secretbox: SecretBox,
    nonce: [u8; NONCE_LEN],
    max_body: usize,
}

impl Encoder {
    /// An encoder with the session's encryption key and initial nonce.
    pub fn new(key: &[u8; 32], nonce: [u8; NONCE_LEN]) -> Self {
        Self {
            secretbox: SecretBox::new(key),
            nonce,
            max_body: MAX_BODY_LEN,
        }
    }

    /// Sets the largest body this encoder puts in one frame, clamped to
    /// `1..=`[`MAX_DECODED_BODY_LEN`]. The default, [`MAX_BODY_LEN`] (4096), is what the
    /// JavaScript encoder and every other SSB implementation send. Larger frames cost less
    /// cipher work per byte (one header and one key set-up per frame), and the JavaScript
    /// decoder accepts bodies up to 65535 bytes, but other implementations may not: raise it
    /// only for peers known to accept it.
    ///
    /// ```
    /// use ms_shs::boxstream::{Decoder, Encoder};
    ///
    /// let mut encoder = Encoder::new(&[1; 32], [2; 24]).with_max_body(65535);
    /// let mut wire = Vec::new();
    /// encoder.encode(&[7; 65535], &mut wire);
    /// assert_eq!(wire.len(), 34 + 65535); // one frame
    ///
    /// let mut plain = Vec::new();
    /// Decoder::new(&[1; 32], [2; 24]).decode(&wire, &mut plain)?;
    /// assert_eq!(plain, [7; 65535]);
    /// # Ok::<(), ms_shs::BoxStreamError>(())
    /// ```
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.set_max_body(max_body);
        self
    }

    /// Sets the largest body per frame from now on, as [`with_max_body`](Self::with_max_body).
    pub fn set_max_body(&mut self, max_body: usize) {
        self.max_body = max_body.clamp(1, MAX_DECODED_BODY_LEN);
    }

    /// The largest body this encoder puts in one frame.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Seals one frame in place. `frame` is [`HEADER_LEN`] bytes of room (their content is
    /// ignored) followed by the body plaintext; afterwards it holds the frame as it goes on the
    /// wire.
    ///
    /// # Panics
    ///
    /// If the body is empty or longer than [`max_body`](Self::max_body) (a caller bug: the JS
    /// never sends such frames, so neither do we).
    pub fn seal_frame_in_place(&mut self, frame: &mut [u8]) {
        assert!(
            frame.len() > HEADER_LEN && frame.len() <= HEADER_LEN + self.max_body,
            "box-stream bodies are 1..=max_body bytes"
        );
        let (header, body) = frame.split_at_mut(HEADER_LEN);
        let body_mac = self.secretbox.seal_detached(&plus_one(&self.nonce), body);
        // Body length fits in u16: checked by the assertion above.
        header[MAC_LEN..MAC_LEN + 2].copy_from_slice(&(body.len() as u16).to_be_bytes());
        header[MAC_LEN + 2..].copy_from_slice(&body_mac);
        self.secretbox.seal_in_place(&self.nonce, header);
        add_to_nonce(&mut self.nonce, 2);
    }

    /// Appends the frames for `data` to `out`: one per [`max_body`](Self::max_body) bytes,
    /// nothing at all for empty `data`.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.reserve(data.len() + data.len().div_ceil(self.max_body) * HEADER_LEN);
        for chunk in data.chunks(self.max_body) {
            let start = out.len();
            out.resize(start + HEADER_LEN, 0);
            out.extend_from_slice(chunk);
            self.seal_frame_in_place(&mut out[start..]);
        }
    }

    /// The goodbye frame (a header box of 18 zero bytes). Send it last.
    pub fn goodbye(&mut self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        self.secretbox.seal_in_place(&self.nonce, &mut header);
        add_to_nonce(&mut self.nonce, 2);
        header
    }

    /// Appends the goodbye frame to `out`.
    pub fn encode_goodbye(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.goodbye());
    }

    /// The nonce the next header will use.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }
}

/// What a header announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A body of this many bytes follows.
    Body(usize),
    /// The peer said goodbye: this direction has ended cleanly.
    Goodbye,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Body { len: usize, mac: [u8; MAC_LEN] },
    Ended,
}

/// How far [`Decoder::decode`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that were used; the caller drops them and passes the rest (plus new
    /// bytes) next time.
    pub consumed: usize,
    /// The goodbye was read; nothing after it is looked at.
    pub goodbye: bool,
}

/// Decrypts one direction of a box-stream. A failed check poisons the decoder: every later call
/// fails the same way.
pub struct Decoder {
    secretbox: SecretBox,
    nonce: [u8; NONCE_LEN],
    state: State,
    failed: Option<BoxStreamError>,
}

impl Decoder {
    /// A decoder with the session's decryption key and initial nonce.
    pub fn new(key: &[u8; 32], nonce: [u8; NONCE_LEN]) -> Self {
        Self {
            secretbox: SecretBox::new(key),
            nonce,
            state: State::Header,
            failed: None,
        }
    }

    /// How many bytes the next step reads: [`HEADER_LEN`] for a header, the body length for a
    /// body, 0 once the goodbye was read.
    pub fn next_len(&self) -> usize {
        match self.state {
            State::Header => HEADER_LEN,
            State::Body { len, .. } => len,
            State::Ended => 0,
        }
    }

    /// True once the goodbye was read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Ended
    }

    /// True if the decoder is between frames (the only place where the peer may stop without
    /// the stream being truncated mid-frame).
    pub fn is_between_frames(&self) -> bool {
        self.state == State::Header
    }

    fn fail(&mut self, error: BoxStreamError) -> BoxStreamError {
        self.failed = Some(error.clone());
        error
    }

    fn check_usable(&self) -> Result<(), BoxStreamError> {
        match &self.failed {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Opens a header box. Call when [`next_len`](Self::next_len) is [`HEADER_LEN`].
    ///
    /// # Panics
    ///
    /// If the decoder expects a body, or has ended (a caller bug).
    pub fn read_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<Header, BoxStreamError> {
        self.check_usable()?;
        assert!(
            self.state == State::Header,
            "box-stream decoder: read_header while not expecting a header"
        );
        let mut buf = *header;
        if self.secretbox.open_in_place(&self.nonce, &mut buf).is_err() {
            return Err(self.fail(BoxStreamError::InvalidHeader));
        }
        let plain = &buf[MAC_LEN..];
        if plain.iter().all(|&b| b == 0) {
            self.state = State::Ended;
            return Ok(Header::Goodbye);
        }
        let len = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&plain[2..]);
        self.state = State::Body { len, mac };
        Ok(Header::Body(len))
    }

    /// Decrypts a body in place. `buf` is [`BODY_MAC_ROOM`] bytes of room (overwritten)
    /// followed by exactly the body's ciphertext; afterwards `buf[BODY_MAC_ROOM..]` is the
    /// plaintext.
    ///
    /// # Panics
    ///
    /// If no body is expected or `buf` has the wrong length (a caller bug).
    pub fn read_body_in_place(&mut self, buf: &mut [u8]) -> Result<(), BoxStreamError> {
        self.check_usable()?;
        let State::Body { len, mac } = self.state else {
            panic!("box-stream decoder: read_body_in_place while not expecting a body");
        };
        assert_eq!(
            buf.len(),
            BODY_MAC_ROOM + len,
            "box-stream body has the wrong length"
        );
        buf[..MAC_LEN].copy_from_slice(&mac);
        let body_nonce = plus_one(&self.nonce);
        if self.secretbox.open_in_place(&body_nonce, buf).is_err() {
            return Err(self.fail(BoxStreamError::InvalidBody));
        }
        add_to_nonce(&mut self.nonce, 2);
        self.state = State::Header;
        Ok(())
    }

    /// Decodes as much of `input` as possible, appending plaintext to `out`. Headers are consumed
    /// as soon as they are complete, bodies only when complete. Stops after the goodbye.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, BoxStreamError> {
        self.check_usable()?;
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            match self.state {
                State::Ended => {
                    return Ok(Progress {
                        consumed,
                        goodbye: true,
                    });
                }
                State::Header => {
                    let Some(header) = rest.first_chunk::<HEADER_LEN>() else {
                        break;
                    };
                    self.read_header(header)?;
                    consumed += HEADER_LEN;
                }
                State::Body { len, .. } => {
                    if rest.len() < len {
                        break;
                    }
                    let start = out.len();
                    out.resize(start + BODY_MAC_ROOM, 0);
                    out.extend_from_slice(&rest[..len]);
                    let result = self.read_body_in_place(&mut out[start..]);
                    // Keep only plaintext: drop the MAC room (and everything on failure).
                    match result {
                        Ok(()) => {
                            out.drain(start..start + BODY_MAC_ROOM);
                        }
                        Err(error) => {
                            out.truncate(start);
                            return Err(error);
                        }
                    }
                    consumed += len;
                }
            }
        }
        Ok(Progress {
            consumed,
            goodbye: false,
        })
    }

    /// What to report when the input ends: `Ok` after the goodbye, otherwise the error (the
    /// async layer turns it into an `UnexpectedEof` I/O error).
    ///
    /// `buffered` is how many bytes of the unfinished frame part had arrived.
    pub fn check_eof(&self, buffered: usize) -> Result<(), BoxStreamError> {
        self.check_usable()?;
        match self.state {
            State::Ended => Ok(()),
            State::Header if buffered == 0 => Err(BoxStreamError::MissingGoodbye),
            State::Header => Err(BoxStreamError::TruncatedFrame {
                got: buffered,
                wanted: HEADER_LEN,
            }),
            State::Body { len, .. } => Err(BoxStreamError::TruncatedFrame {
                got: buffered,
                wanted: len,
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nonce_counter_carries_and_wraps() {
        let mut nonce = [0u8; 24];
        nonce[23] = 0xfe;
        nonce[22] = 0xff;
        add_to_nonce(&mut nonce, 2);
        assert_eq!(nonce[21..], [1, 0, 0]);
        let mut max = [0xff; 24];
        add_to_nonce(&mut max, 1);
        assert_eq!(max, [0; 24]);
    }

    #[test]
    fn empty_input_produces_no_frame() {
        let mut encoder = Encoder::new(&[0; 32], [0; 24]);
        let mut out = Vec::new();
        encoder.encode(b"", &mut out);
        assert!(out.is_empty());
        assert_eq!(encoder.nonce(), &[0; 24]);
    }

    #[test]
    fn decoder_is_poisoned_after_a_failure() {
        let mut encoder = Encoder::new(&[0; 32], [0; 24]);
        let mut wire = Vec::new();
        encoder.encode(b"abc", &mut wire);
        wire[0] ^= 1;
        let mut decoder = Decoder::new(&[0; 32], [0; 24]);
        let mut out = Vec::new();
        assert_eq!(
            decoder.decode(&wire, &mut out),
            Err(BoxStreamError::InvalidHeader)
        );
        wire[0] ^= 1;
        assert_eq!(
            decoder.decode(&wire, &mut out),
            Err(BoxStreamError::InvalidHeader)
        );
    }
}
