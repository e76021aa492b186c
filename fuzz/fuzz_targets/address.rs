//! The address parser: never panics, and whatever parses prints back to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_core::{HostPort, MultiAddress};

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = MultiAddress::parse_bytes(data) else {
        return;
    };
    let printed = parsed.to_string();
    let again = MultiAddress::parse(&printed).expect("a printed address must parse");
    assert_eq!(again, parsed, "print/parse round trip changed the value");
    for alternative in parsed.alternatives() {
        for section in alternative.sections() {
            let _ = section.args().count();
            if let Ok(hp) = HostPort::parse(section, "net") {
                let back = hp.to_section("net").expect("a parsed host prints");
                let _ = HostPort::parse(&back, "net");
            }
        }
    }
});
