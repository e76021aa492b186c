//! The address parser: never panics, and whatever parses prints back to an equal value.
//!
//! Both parsers: the strict one (`parse_bytes`) and the lenient one (`parse_bytes_lenient`),
//! which must keep exactly the alternatives that parse on their own, record every other one
//! with its range, and agree with the strict parser when nothing was skipped. Also the UDP
//! swarm's address parser (`udp:<ip>:<port>`): what parses prints to text that parses back to
//! the same address and prints the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ms_core::{HostPort, MultiAddress};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(udp) = text.parse::<ms_udp::UdpAddr>()
    {
        let printed = udp.to_string();
        let again: ms_udp::UdpAddr = printed.parse().expect("a printed udp address parses");
        assert_eq!(again, udp, "udp print/parse round trip changed the value");
        assert_eq!(again.to_string(), printed, "udp canonical text is not stable");
    }
    let strict = MultiAddress::parse_bytes(data);
    let lenient = MultiAddress::parse_bytes_lenient(data);
    if let Ok(lenient) = &lenient {
        assert!(!lenient.is_empty(), "a lenient parse kept no alternative");
        let parts = data.split(|&b| b == b';').count();
        assert_eq!(
            lenient.alternatives().len() + lenient.skipped().len(),
            parts,
            "every alternative is kept or skipped"
        );
        for skipped in lenient.skipped() {
            let range = skipped.range();
            assert!(range.end <= data.len() && range.start <= range.end);
            assert!(
                MultiAddress::parse_bytes(&data[range]).is_err(),
                "a skipped alternative parses on its own"
            );
        }
        let again = MultiAddress::parse(&lenient.to_string()).expect("a printed address parses");
        assert_eq!(&again, lenient, "print/parse round trip changed the value");
        if lenient.skipped().is_empty() {
            assert_eq!(strict.as_ref().ok(), Some(lenient), "the parsers disagree");
        }
    }
    let Ok(parsed) = strict else {
        return;
    };
    assert_eq!(lenient.as_ref().ok(), Some(&parsed), "strict parsed, lenient did not agree");
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
