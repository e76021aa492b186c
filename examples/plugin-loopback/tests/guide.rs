//! docs/plugins/writing-a-plugin.md shows this crate's code: every code block there that is
//! marked `<!-- example: <path> -->` must appear, verbatim, in that file of this repository.

use std::path::Path;

/// The repository root: this crate is `examples/plugin-loopback/`.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the crate is two levels below the repository root")
}

/// Each marked block of the guide: the file it claims to come from, and its text.
fn marked_blocks(guide: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- example: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "no code block after the marker for {path}"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push((path.to_owned(), body.join("\n")));
    }
    blocks
}

#[test]
fn the_guide_shows_this_crates_code_verbatim() {
    let guide = std::fs::read_to_string(root().join("docs/plugins/writing-a-plugin.md"))
        .expect("the guide exists");
    let blocks = marked_blocks(&guide);
    assert!(
        blocks.len() >= 7,
        "only {} marked blocks in the guide",
        blocks.len()
    );
    for (path, body) in &blocks {
        let file = std::fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("the guide shows {path}, which cannot be read: {e}"));
        assert!(
            file.contains(body.as_str()),
            "a block of the guide is not in {path} (any more):\n{body}"
        );
    }
}
