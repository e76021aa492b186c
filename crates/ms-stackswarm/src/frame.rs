//! The wire protocol: frames with a bounded size, encoded and decoded without I/O.
//!
//! Every frame is a 9-byte header and a body:
//!
//! ```text
//! offset  size  field
//! 0       1     kind     1 HELLO, 2 DST, 3 TELL, 4 ASK, 5 ANSWER, 6 REJECT, 7 CANCEL
//! 1       4     id       request id, big-endian u32: 0 for HELLO, DST, TELL; not 0 otherwise
//! 5       4     length   body length in bytes, big-endian u32
//! 9       len   body
//! ```
//!
//! Bodies:
//!
//! - `HELLO` (first frame each side sends, exactly once): version `1` (1 byte), the sender's MTU
//!   for tells (u32 BE), the largest ask or answer it accepts (u32 BE), its Ed25519 public key
//!   (32 bytes), then its advertised multi-address as UTF-8 text (may be empty).
//! - `DST`: the address of the receiver that the sender's following TELL and ASK frames were
//!   sent to (UTF-8 multi-address text). Sent only when it changes.
//! - `TELL`: the message. `ASK`: the request. `ANSWER`: the answer to request `id`.
//! - `REJECT`: one byte, why request `id` gets no answer: 0 refused by the handler, 1 busy (too
//!   many requests in flight), 2 timed out waiting for the handler, 3 answer too large.
//! - `CANCEL`: empty; the asker no longer wants the answer to request `id`.
//!
//! The receiver's limits bound each body before a byte of it is buffered: HELLO and DST at
//! [`MAX_ADDRESS_LEN`](ms_core::MAX_ADDRESS_LEN), TELL at the MTU, ASK and ANSWER at the ask
//! limit. A frame over its limit, of an unknown kind, or with a bad id or length is a
//! [`FrameError`]: the connection is closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The protocol version a HELLO carries.
pub const VERSION: u8 = 1;

const HELLO_FIXED: usize = 1 + 4 + 4 + 32;

/// Frame kinds, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// Version, limits and advertised address.
    Hello = 1,
    /// Destination address of the following messages.
    Dst = 2,
    /// A best-effort message.
    Tell = 3,
    /// A request.
    Ask = 4,
    /// An answer.
    Answer = 5,
    /// No answer will come.
    Reject = 6,
    /// The asker gave up.
    Cancel = 7,
}

impl Kind {
    fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Kind::Hello,
            2 => Kind::Dst,
            3 => Kind::Tell,
            4 => Kind::Ask,
            5 => Kind::Answer,
            6 => Kind::Reject,
            7 => Kind::Cancel,
            _ => return None,
        })
    }

    fn has_id(self) -> bool {
        matches!(self, Kind::Ask | Kind::Answer | Kind::Reject | Kind::Cancel)
    }
}

/// Why a request gets no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The handler refused (or dropped the request).
    Refused,
    /// The peer has too many requests in flight from us, or its queue is full.
    Busy,
    /// The handler did not answer in time.
    TimedOut,
    /// The answer was larger than the asker accepts.
    TooLarge,
    /// A reason this version does not know.
    Other(u8),
}

impl RejectReason {
    fn to_u8(self) -> u8 {
        match self {
            RejectReason::Refused => 0,
            RejectReason::Busy => 1,
            RejectReason::TimedOut => 2,
            RejectReason::TooLarge => 3,
            RejectReason::Other(b) => b,
        }
    }

    fn from_u8(b: u8) -> Self {
        match b {
            0 => RejectReason::Refused,
            1 => RejectReason::Busy,
            2 => RejectReason::TimedOut,
            3 => RejectReason::TooLarge,
            other => RejectReason::Other(other),
        }
    }
}

/// A decoded frame. Bodies share the receive buffer (no copy).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// See the module docs.
    Hello {
        /// Protocol version.
        version: u8,
        /// The sender's MTU for tells.
        mtu: u32,
        /// The largest ask or answer the sender accepts.
        max_ask: u32,
        /// The sender's public key, as it claims it.
        key: [u8; 32],
        /// The sender's advertised address (UTF-8 not yet checked).
        addr: Bytes,
    },
    /// Destination of the following messages (UTF-8 not yet checked).
    Dst(Bytes),
    /// A message.
    Tell(Bytes),
    /// A request.
    Ask {
        /// Request id (not 0).
        id: u32,
        /// The request.
        payload: Bytes,
    },
    /// An answer.
    Answer {
        /// Request id.
        id: u32,
        /// The answer.
        payload: Bytes,
    },
    /// No answer will come.
    Reject {
        /// Request id.
        id: u32,
        /// Why.
        reason: RejectReason,
    },
    /// The asker gave up.
    Cancel {
        /// Request id.
        id: u32,
    },
}

/// The body limits a receiver enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest TELL body.
    pub mtu: usize,
    /// Largest ASK or ANSWER body.
    pub max_ask: usize,
    /// Largest HELLO address or DST body.
    pub max_addr: usize,
}

impl Limits {
    fn max_body(&self, kind: Kind) -> usize {
        match kind {
            Kind::Hello => HELLO_FIXED + self.max_addr,
            Kind::Dst => self.max_addr,
            Kind::Tell => self.mtu,
            Kind::Ask | Kind::Answer => self.max_ask,
            Kind::Reject => 1,
            Kind::Cancel => 0,
        }
    }
}

/// A frame that breaks the protocol. The connection it came on is closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header announces a body over the receiver's limit for that kind.
    #[error("{kind:?} frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// The frame's kind.
        kind: Kind,
        /// The announced body length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A kind byte this version does not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A request frame with id 0, or another frame with an id.
    #[error("{kind:?} frame with invalid request id {id}")]
    BadId {
        /// The frame's kind.
        kind: Kind,
        /// The id.
        id: u32,
    },
    /// A fixed-size body of the wrong size, or a HELLO too short for its fields.
    #[error("{kind:?} frame with a body of {len} bytes")]
    BadLength {
        /// The frame's kind.
        kind: Kind,
        /// The body length.
        len: usize,
    },
}

/// Decodes frames from a buffer that the caller fills from the stream.
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// Takes the next whole frame off the front of `buf`: `Ok(None)` when more bytes are needed.
    ///
    /// The header is checked as soon as it is complete, so an oversized frame is refused before
    /// its body is read.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind_byte = buf[0];
        let kind = Kind::from_u8(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
        let id = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let len = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]);
        if kind.has_id() == (id == 0) {
            return Err(FrameError::BadId { kind, id });
        }
        let max = self.limits.max_body(kind);
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if len_usize > max {
            return Err(FrameError::Oversized {
                kind,
                len: u64::from(len),
                max,
            });
        }
        match kind {
            Kind::Reject if len_usize != 1 => {
                return Err(FrameError::BadLength {
                    kind,
                    len: len_usize,
                });
            }
            Kind::Hello if len_usize < HELLO_FIXED => {
                return Err(FrameError::BadLength {
                    kind,
                    len: len_usize,
                });
            }
            _ => {}
        }
        if buf.len() < HEADER_LEN + len_usize {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let mut body = buf.split_to(len_usize).freeze();
        Ok(Some(match kind {
            Kind::Hello => {
                let version = body.get_u8();
                let mtu = body.get_u32();
                let max_ask = body.get_u32();
                let mut key = [0; 32];
                body.copy_to_slice(&mut key);
                Frame::Hello {
                    version,
                    mtu,
                    max_ask,
                    key,
                    addr: body,
                }
            }
            Kind::Dst => Frame::Dst(body),
            Kind::Tell => Frame::Tell(body),
            Kind::Ask => Frame::Ask { id, payload: body },
            Kind::Answer => Frame::Answer { id, payload: body },
            Kind::Reject => Frame::Reject {
                id,
                reason: RejectReason::from_u8(body[0]),
            },
            Kind::Cancel => Frame::Cancel { id },
        }))
    }

    /// How many bytes the frame at the front of `buf` still needs (header included), when its
    /// header is complete; a hint for how much to read.
    pub fn wanted(&self, buf: &[u8]) -> usize {
        if buf.len() < HEADER_LEN {
            return HEADER_LEN - buf.len();
        }
        let len = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
        (HEADER_LEN + len).saturating_sub(buf.len())
    }
}

fn header(out: &mut BytesMut, kind: Kind, id: u32, len: usize) {
    out.put_u8(kind as u8);
    out.put_u32(id);
    // Callers check lengths against limits that fit in u32 (see `Config`).
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
}

/// Appends a frame to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Hello {
            version,
            mtu,
            max_ask,
            key,
            addr,
        } => {
            header(out, Kind::Hello, 0, HELLO_FIXED + addr.len());
            out.put_u8(*version);
            out.put_u32(*mtu);
            out.put_u32(*max_ask);
            out.extend_from_slice(key);
            out.extend_from_slice(addr);
        }
        Frame::Dst(addr) => {
            header(out, Kind::Dst, 0, addr.len());
            out.extend_from_slice(addr);
        }
        Frame::Tell(payload) => {
            header(out, Kind::Tell, 0, payload.len());
            out.extend_from_slice(payload);
        }
        Frame::Ask { id, payload } => {
            header(out, Kind::Ask, *id, payload.len());
            out.extend_from_slice(payload);
        }
        Frame::Answer { id, payload } => {
            header(out, Kind::Answer, *id, payload.len());
            out.extend_from_slice(payload);
        }
        Frame::Reject { id, reason } => {
            header(out, Kind::Reject, *id, 1);
            out.put_u8(reason.to_u8());
        }
        Frame::Cancel { id } => header(out, Kind::Cancel, *id, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        mtu: 100,
        max_ask: 200,
        max_addr: 50,
    };

    fn round_trip(frame: Frame) {
        let mut buf = BytesMut::new();
        encode(&frame, &mut buf);
        let d = Decoder::new(LIMITS);
        // Byte by byte: never a frame before the last byte, then exactly this one.
        let whole = buf.clone();
        let mut partial = BytesMut::new();
        for (i, b) in whole.iter().enumerate() {
            partial.put_u8(*b);
            let got = d.decode(&mut partial).unwrap();
            if i + 1 < whole.len() {
                assert_eq!(got, None, "frame before its last byte at {i}");
            } else {
                assert_eq!(got, Some(frame.clone()));
            }
        }
        assert!(partial.is_empty());
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Frame::Hello {
            version: 1,
            mtu: 100,
            max_ask: 200,
            key: [3; 32],
            addr: Bytes::from_static(b"mem:1~shs:x"),
        });
        round_trip(Frame::Dst(Bytes::from_static(b"mem:2")));
        round_trip(Frame::Tell(Bytes::from_static(b"hi")));
        round_trip(Frame::Tell(Bytes::new()));
        round_trip(Frame::Ask {
            id: 7,
            payload: Bytes::from_static(b"q"),
        });
        round_trip(Frame::Answer {
            id: u32::MAX,
            payload: Bytes::from(vec![9; 200]),
        });
        round_trip(Frame::Reject {
            id: 3,
            reason: RejectReason::Busy,
        });
        round_trip(Frame::Cancel { id: 3 });
    }

    #[test]
    fn header_layout_is_kind_id_length_big_endian() {
        let mut buf = BytesMut::new();
        encode(
            &Frame::Ask {
                id: 0x0102_0304,
                payload: Bytes::from_static(b"xyz"),
            },
            &mut buf,
        );
        assert_eq!(&buf[..], &[4, 1, 2, 3, 4, 0, 0, 0, 3, b'x', b'y', b'z']);
    }

    #[test]
    fn oversized_is_refused_from_the_header_alone() {
        let d = Decoder::new(LIMITS);
        let mut buf = BytesMut::from(&[3u8, 0, 0, 0, 0, 0, 0, 0, 101][..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::Oversized {
                kind: Kind::Tell,
                len: 101,
                max: 100
            })
        );
        let mut buf = BytesMut::from(&[5u8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            d.decode(&mut buf),
            Err(FrameError::Oversized {
                kind: Kind::Answer,
                ..
            })
        ));
    }

    #[test]
    fn bad_kinds_ids_and_lengths_are_errors() {
        let d = Decoder::new(LIMITS);
        let cases: [(&[u8], FrameError); 6] = [
            (&[0, 0, 0, 0, 0, 0, 0, 0, 0], FrameError::UnknownKind(0)),
            (&[8, 0, 0, 0, 0, 0, 0, 0, 0], FrameError::UnknownKind(8)),
            (
                &[4, 0, 0, 0, 0, 0, 0, 0, 0],
                FrameError::BadId {
                    kind: Kind::Ask,
                    id: 0,
                },
            ),
            (
                &[3, 0, 0, 0, 1, 0, 0, 0, 0],
                FrameError::BadId {
                    kind: Kind::Tell,
                    id: 1,
                },
            ),
            (
                &[6, 0, 0, 0, 1, 0, 0, 0, 0],
                FrameError::BadLength {
                    kind: Kind::Reject,
                    len: 0,
                },
            ),
            (
                &[1, 0, 0, 0, 0, 0, 0, 0, 3],
                FrameError::BadLength {
                    kind: Kind::Hello,
                    len: 3,
                },
            ),
        ];
        for (bytes, error) in cases {
            assert_eq!(d.decode(&mut BytesMut::from(bytes)), Err(error));
        }
    }

    #[test]
    fn random_bytes_give_frames_or_errors_never_a_panic() {
        // What the fuzz target does, on a fixed pseudo-random sample, in every `cargo test`.
        let d = Decoder::new(LIMITS);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut input = BytesMut::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            for i in 0..len {
                // Mostly small values, so kinds, ids and lengths are often plausible.
                let b = (x.rotate_left(i as u32 * 5) & 0xff) as u8;
                input.put_u8(if i % 3 == 0 { b % 9 } else { b });
            }
            while let Ok(Some(frame)) = d.decode(&mut input) {
                let mut again = BytesMut::new();
                encode(&frame, &mut again);
                assert!(again.len() >= HEADER_LEN);
            }
        }
    }
}
