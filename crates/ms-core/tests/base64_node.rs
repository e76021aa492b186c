//! `decode_base64_lenient` against Node's `Buffer.from(text, 'base64')`, which the JavaScript
//! reference uses for keys, seeds and app keys.
//!
//! Every expected value below was produced by Node v20.20.2 (`Buffer.from(input,
//! 'base64').toString('hex')`); none was computed by the code under test.

use ms_core::{PublicKey, decode_base64_lenient};

const KEY: &str = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
const KEY_HEX: &str = "0d33665fee128ec819ef1c83879c7198db45a9aea95a2e50b70edc13c691f534";

/// (input, what Node decoded it to, in hex).
const NODE: &[(&str, &str)] = &[
    (
        "@DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=.ed25519",
        KEY_HEX,
    ),
    (
        "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=.ed25519",
        KEY_HEX,
    ),
    ("DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ= ", KEY_HEX),
    (" DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=\n", KEY_HEX),
    ("@DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=", KEY_HEX),
    ("DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ", KEY_HEX),
    (
        "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ.ed25519",
        "0d33665fee128ec819ef1c83879c7198db45a9aea95a2e50b70edc13c691f5341e776e79d7",
    ),
    ("DTNmX-4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=", KEY_HEX),
    ("", ""),
    ("a", ""),
    ("ab", "69"),
    ("abc", "69b7"),
    ("abcd", "69b71d"),
    ("aGk=", "6869"),
    ("aGk", "6869"),
    ("ab=cd", "69"),
    ("a=b", ""),
    ("=abc", ""),
    ("ab==", "69"),
    ("not base64!", "9e8b5b6ac7ba"),
    ("AAAA====AAAA", "000000"),
    ("A-_/+", "03efff"),
    ("aGk=x", "6869"),
    ("a b\tc\nd", "69b71d"),
    ("%%", ""),
    ("\u{141}\u{141}\u{141}\u{141}", "000000"),
    ("AAA\u{e9}", "0000"),
    ("\u{1F600}AAAA", ""),
    ("\u{100}AAA", "0000"),
    ("AA\u{ff}AA", "000000"),
    ("////", "ffffff"),
    ("____", "ffffff"),
    ("+/+/", "fbffbf"),
    ("-_-_", "fbffbf"),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn decodes_exactly_what_node_decodes() {
    for (input, expected) in NODE {
        assert_eq!(
            hex(&decode_base64_lenient(input)),
            *expected,
            "input {input:?}"
        );
    }
}

#[test]
fn keys_as_people_paste_them_are_the_key() {
    let key = PublicKey::from_base64(KEY).unwrap();
    assert_eq!(hex(key.as_bytes()), KEY_HEX);
    for pasted in [
        format!("@{KEY}.ed25519"),
        format!("{KEY}.ed25519"),
        format!("{KEY} "),
        format!("@{KEY}"),
    ] {
        assert_eq!(PublicKey::from_base64(&pasted), Ok(key), "{pasted:?}");
    }
    // Without its padding, `.ed25519` is read as more base64: 37 bytes, as in Node.
    let unpadded = KEY.trim_end_matches('=');
    assert!(PublicKey::from_base64(&format!("{unpadded}.ed25519")).is_err());
}
