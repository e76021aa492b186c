//! Printing then parsing gives back the same value, for any address; parsing never panics.

use ms_core::{Address, MultiAddress, Section};
use proptest::prelude::*;

fn section() -> impl Strategy<Value = Section> {
    // A name, then arguments of any printable text except ';' (which no section can hold),
    // including the characters that need escaping ('!', '~') and non-ASCII.
    (
        "[a-z][a-z0-9+.-]{0,8}",
        prop::collection::vec("[^;\\p{Cc}]{0,12}", 0..4),
    )
        .prop_map(|(name, args)| Section::from_parts(&name, args).unwrap())
}

fn multi() -> impl Strategy<Value = MultiAddress> {
    prop::collection::vec(prop::collection::vec(section(), 1..5), 1..4).prop_map(|alts| {
        MultiAddress::from_alternatives(
            alts.into_iter()
                .map(|s| Address::from_sections(s).unwrap())
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn print_then_parse_is_identity(m in multi()) {
        let text = m.to_string();
        let back = MultiAddress::parse(&text).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,64}|[!~;:a-z]{0,64}") {
        if let Ok(m) = MultiAddress::parse(&s) {
            prop_assert_eq!(MultiAddress::parse(&m.to_string()).unwrap(), m);
        }
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = MultiAddress::parse_bytes(&bytes);
    }
}
