//! The harness itself: the Rust data generator matches the JavaScript one.

#[test]
fn data_generator_matches_the_javascript_one() {
    // interop/README.md: the first 16 bytes for seed 1.
    let bytes = ms_interop::pattern(16, 1);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "2101c54fd1d01ab22574cb378aaef5b1");
}
