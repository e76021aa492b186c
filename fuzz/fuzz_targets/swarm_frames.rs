//! The stack swarm's frame decoder: any byte string, fed in arbitrary pieces, gives frames or a
//! typed error, never a panic; every frame it gives re-encodes to the bytes it came from, and
//! no body exceeds the limits.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ms_stackswarm::frame::{Decoder, Frame, HEADER_LEN, Limits, encode};

const LIMITS: Limits = Limits {
    mtu: 1000,
    max_ask: 3000,
    max_addr: 200,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size, so partial headers and bodies are exercised.
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 17) + 1;
    let decoder = Decoder::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut consumed = 0;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let used = before - buf.len();
                    assert!(used >= HEADER_LEN);
                    let body = used - HEADER_LEN;
                    match &frame {
                        Frame::Tell(p) => assert!(p.len() <= LIMITS.mtu),
                        Frame::Ask { payload, .. } | Frame::Answer { payload, .. } => {
                            assert!(payload.len() <= LIMITS.max_ask)
                        }
                        Frame::Dst(a) => assert!(a.len() <= LIMITS.max_addr),
                        Frame::Hello { addr, .. } => assert!(addr.len() <= LIMITS.max_addr),
                        _ => assert!(body <= 1),
                    }
                    let mut again = BytesMut::new();
                    encode(&frame, &mut again);
                    assert_eq!(&again[..], &input[consumed..consumed + used]);
                    consumed += used;
                }
                Ok(None) => {
                    assert!(decoder.wanted(&buf) > 0);
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
