//! Box-stream properties: round trips under arbitrary splits, tamper detection, end handling.

#![allow(clippy::unwrap_used)] // tests unwrap freely

use ms_shs::BoxStreamError;
use ms_shs::boxstream::{Decoder, Encoder, HEADER_LEN, MAX_BODY_LEN};
use proptest::prelude::*;

const KEY: [u8; 32] = [0x5a; 32];
const NONCE: [u8; 24] = [0xff; 24]; // starts at the wrap-around point on purpose

fn encode_all(writes: &[Vec<u8>]) -> Vec<u8> {
    let mut encoder = Encoder::new(&KEY, NONCE);
    let mut wire = Vec::new();
    for w in writes {
        encoder.encode(w, &mut wire);
    }
    encoder.encode_goodbye(&mut wire);
    wire
}

/// Feeds `wire` to a decoder in pieces cut at `cuts`, the way a socket might deliver it.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, bool), BoxStreamError> {
    let mut decoder = Decoder::new(&KEY, NONCE);
    let mut pending = Vec::new();
    let mut plain = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    let mut at = 0;
    for end in points {
        pending.extend_from_slice(&wire[at..end]);
        at = end;
        let progress = decoder.decode(&pending, &mut plain)?;
        pending.drain(..progress.consumed);
        if progress.goodbye {
            return Ok((plain, true));
        }
    }
    decoder.check_eof(pending.len())?;
    Ok((plain, false))
}

proptest! {
    #[test]
    fn round_trips_under_any_split(
        writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..9000), 0..5),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let wire = encode_all(&writes);
        let expected_frames: usize = writes.iter().map(|w| w.len().div_ceil(MAX_BODY_LEN)).sum();
        let total: usize = writes.iter().map(Vec::len).sum();
        prop_assert_eq!(wire.len(), total + (expected_frames + 1) * HEADER_LEN);
        let (plain, goodbye) = decode_in_pieces(&wire, &cuts).unwrap();
        prop_assert!(goodbye);
        prop_assert_eq!(plain, writes.concat());
    }

    #[test]
    fn any_flipped_byte_is_detected(
        writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..4),
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        let mut wire = encode_all(&writes);
        let pos = pos % wire.len();
        wire[pos] ^= 1 << bit;
        let result = decode_in_pieces(&wire, &[]);
        prop_assert!(
            matches!(result, Err(BoxStreamError::InvalidHeader | BoxStreamError::InvalidBody)),
            "flip at {} gave {:?}", pos, result
        );
    }

    #[test]
    fn truncation_is_an_error_not_an_end(
        writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..5000), 1..3),
        cut in any::<usize>(),
    ) {
        let wire = encode_all(&writes);
        let cut = cut % wire.len(); // strictly before the end of the goodbye
        let result = decode_in_pieces(&wire[..cut], &[]);
        prop_assert!(
            matches!(result, Err(BoxStreamError::MissingGoodbye | BoxStreamError::TruncatedFrame { .. })),
            "cut at {} gave {:?}", cut, result
        );
    }
}

#[test]
fn every_byte_of_a_frame_is_authenticated() {
    let wire = encode_all(&[b"exhaustive".to_vec()]);
    for pos in 0..wire.len() {
        let mut bad = wire.clone();
        bad[pos] ^= 0x20;
        let err = decode_in_pieces(&bad, &[]).unwrap_err();
        let expected = if !(HEADER_LEN..HEADER_LEN + 10).contains(&pos) {
            BoxStreamError::InvalidHeader
        } else {
            BoxStreamError::InvalidBody
        };
        assert_eq!(err, expected, "byte {pos}");
    }
}

#[test]
fn bytes_after_goodbye_are_ignored() {
    let mut wire = encode_all(&[b"hi".to_vec()]);
    let end = wire.len();
    wire.extend_from_slice(b"trailing garbage");
    let mut decoder = Decoder::new(&KEY, NONCE);
    let mut plain = Vec::new();
    let progress = decoder.decode(&wire, &mut plain).unwrap();
    assert_eq!((progress.consumed, progress.goodbye), (end, true));
    assert_eq!(plain, b"hi");
    assert!(decoder.check_eof(0).is_ok());
}

#[test]
fn eof_without_goodbye_is_reported() {
    let wire = encode_all(&[b"hi".to_vec()]);
    let without_goodbye = &wire[..wire.len() - HEADER_LEN];
    assert_eq!(
        decode_in_pieces(without_goodbye, &[]).unwrap_err(),
        BoxStreamError::MissingGoodbye
    );
    assert_eq!(
        decode_in_pieces(&wire[..HEADER_LEN + 1], &[]).unwrap_err(),
        BoxStreamError::TruncatedFrame { got: 1, wanted: 2 }
    );
}

#[test]
fn large_writes_are_split_into_4096_byte_bodies() {
    let mut encoder = Encoder::new(&KEY, NONCE);
    let mut wire = Vec::new();
    encoder.encode(&[7; 4097], &mut wire);
    assert_eq!(wire.len(), 2 * HEADER_LEN + 4097);
    let mut decoder = Decoder::new(&KEY, NONCE);
    let header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
    assert_eq!(
        decoder.read_header(&header).unwrap(),
        ms_shs::boxstream::Header::Body(4096)
    );
}
