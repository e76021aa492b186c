//! The DHT's wire decoders (ms-kad): any bytes give a request, a response or a typed error,
//! never a panic; nothing decoded exceeds the limits, and what decodes re-encodes to exactly
//! the bytes it came from (the format is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_kad::wire::{Limits, Request, Response};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits, so both sides of each bound are exercised.
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let limits = Limits::new(usize::from(pick % 32), usize::from(pick) * 8);
    if let Ok(request) = Request::decode(input, &limits) {
        if let Request::Store { value, .. } = &request {
            assert!(value.len() <= limits.max_value);
        }
        assert_eq!(&request.encode()[..], input);
    }
    if let Ok(response) = Response::decode(input, &limits) {
        match &response {
            Response::Nodes(contacts) => assert!(contacts.len() <= limits.max_contacts),
            Response::Value { value, .. } => assert!(value.len() <= limits.max_value),
            _ => {}
        }
        assert_eq!(&response.encode()[..], input);
    }
});
