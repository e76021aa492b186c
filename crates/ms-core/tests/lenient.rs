//! One bad alternative must not throw the good ones away: `MultiAddress::parse_lenient` keeps
//! every alternative that parses, in order, and records each one it skipped with its range and
//! error. Issue 13 item 5: `net:…~shs:<key>;x!y` and friends were refused whole.

use ms_core::{Address, AddressErrorKind, MultiAddress, Section};
use proptest::prelude::*;

const KEY: &str = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";

fn section() -> impl Strategy<Value = Section> {
    (
        "[a-z][a-z0-9+.-]{0,8}",
        prop::collection::vec("[^;\\p{Cc}]{0,12}", 0..4),
    )
        .prop_map(|(name, args)| Section::from_parts(&name, args).unwrap())
}

fn good() -> impl Strategy<Value = String> {
    prop::collection::vec(section(), 1..4)
        .prop_map(|s| Address::from_sections(s).unwrap().to_string())
}

/// Alternatives that never parse, each one of the ways seen in the wild or in the grammar.
fn bad() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("x!y".to_owned()),
        Just("#".to_owned()),
        Just("_tor:abc".to_owned()),
        Just(format!("net:h:1~~shs:{KEY}")),
        Just("net:h:1~".to_owned()),
        Just("~net:h:1".to_owned()),
        Just("net:h:1!".to_owned()),
        Just("net:h\t:1".to_owned()),
        Just("1net:h:1".to_owned()),
        // A good alternative spoilt by a bad escape or section somewhere inside.
        (good(), "[a-z0-9 ]?").prop_map(|(g, e)| format!("{g}!{e}")),
        (good(), good()).prop_map(|(a, b)| format!("{a}~~{b}")),
        (good(), "[0-9_#@ ]").prop_map(|(g, c)| format!("{c}{g}")),
    ]
}

fn check(alternatives: &[(String, bool)]) -> Result<(), TestCaseError> {
    let input = alternatives
        .iter()
        .map(|(text, _)| text.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let wanted: Vec<&String> = alternatives
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(text, _)| text)
        .collect();
    let parsed = MultiAddress::parse_lenient(&input);
    if wanted.is_empty() {
        prop_assert!(parsed.is_err(), "{input:?} has no good alternative");
        return Ok(());
    }
    let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
    let kept: Vec<String> = parsed
        .alternatives()
        .iter()
        .map(ToString::to_string)
        .collect();
    prop_assert_eq!(kept.iter().collect::<Vec<_>>(), wanted, "{:?}", input);
    // Every bad one is reported, with the range it has in the input.
    let mut start = 0;
    let mut skipped = parsed.skipped().iter();
    for (text, ok) in alternatives {
        if !ok {
            let s = skipped
                .next()
                .ok_or_else(|| TestCaseError::fail("missing skip"))?;
            prop_assert_eq!(s.range(), start..start + text.len());
            prop_assert_eq!(s.text(), text.as_str());
            prop_assert!(
                s.range().contains(&s.error().at())
                    || s.error().at() == s.range().end
                    || (text.is_empty() && s.error().at() + 1 == start)
            );
        }
        start += text.len() + 1;
    }
    prop_assert!(skipped.next().is_none());
    // The strict parser refuses the same input.
    prop_assert!(MultiAddress::parse(&input).is_err());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_bad_alternative_after_a_good_one_is_skipped(g in good(), b in bad()) {
        check(&[(g, true), (b, false)])?;
    }

    #[test]
    fn good_alternatives_are_kept_wherever_the_bad_ones_are(
        parts in prop::collection::vec(prop_oneof![
            good().prop_map(|g| (g, true)),
            bad().prop_map(|b| (b, false)),
        ], 1..6)
    ) {
        if parts.iter().any(|(_, ok)| !ok) {
            check(&parts)?;
        }
    }

    #[test]
    fn lenient_parsing_of_arbitrary_bytes_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        if let Ok(m) = MultiAddress::parse_bytes_lenient(&bytes) {
            prop_assert!(!m.is_empty());
            prop_assert_eq!(MultiAddress::parse(&m.to_string()).unwrap(), m);
        }
    }
}

#[test]
fn the_reported_inputs_keep_their_good_alternative() {
    let good = format!("net:127.0.0.1:8008~shs:{KEY}");
    for bad in ["x!y", "#", "_tor:abc", &format!("net:h:1~~shs:{KEY}")] {
        for input in [format!("{good};{bad}"), format!("{bad};{good}")] {
            let parsed = MultiAddress::parse_lenient(&input).unwrap();
            assert_eq!(parsed.to_string(), good, "{input}");
            assert_eq!(parsed.skipped().len(), 1, "{input}");
            assert_eq!(parsed.skipped()[0].text(), bad);
        }
    }
}

#[test]
fn with_nothing_usable_the_first_error_is_returned() {
    let err = MultiAddress::parse_lenient("x!y;#").unwrap_err();
    assert_eq!(err.kind(), &AddressErrorKind::InvalidEscape('y'));
    assert_eq!(err.at(), 1);
    assert_eq!(
        MultiAddress::parse_lenient("").unwrap_err().kind(),
        &AddressErrorKind::Empty
    );
    assert_eq!(
        MultiAddress::parse_lenient(";").unwrap_err().kind(),
        &AddressErrorKind::EmptyAlternative
    );
    // A single alternative fails exactly as with the strict parser.
    for input in ["net:a:1~", "net:a!b:1", "1net:a:1", "net:a\n:1"] {
        assert_eq!(
            MultiAddress::parse_lenient(input).unwrap_err(),
            MultiAddress::parse(input).unwrap_err()
        );
    }
}

#[test]
fn an_alternative_that_is_not_utf8_is_skipped() {
    let parsed = MultiAddress::parse_bytes_lenient(b"net:h\xff:1;net:a:1").unwrap();
    assert_eq!(parsed.to_string(), "net:a:1");
    assert_eq!(
        parsed.skipped()[0].error().kind(),
        &AddressErrorKind::NotUtf8
    );
    assert_eq!(parsed.skipped()[0].error().at(), 5);
    assert_eq!(parsed.skipped()[0].range(), 0..8);
}
