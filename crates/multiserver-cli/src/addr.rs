//! `multiserver addr`: an address taken apart, and which installed stack would dial each part.

use ms_core::{
    AddressError, Error, Mismatch, MismatchReason, MultiAddress, MultiServer, Section,
    SectionError, Stack,
};
use serde_json::{Value, json};

use crate::error::Failure;

/// Parses `input`, or fails with the typed error, its byte position and a caret line.
pub fn parse(input: &str) -> Result<MultiAddress, Failure> {
    MultiAddress::parse(input).map_err(|e| invalid_address(input, &e))
}

/// The failure for a malformed address: `invalid address `...`: <kind> at byte N` (exit 2),
/// with the input and a caret under byte N when stderr is a terminal.
pub fn invalid_address(input: &str, error: &AddressError) -> Failure {
    let shown = truncate(input, 200);
    let detail = if input.len() <= 200 && !input.contains(|c: char| c.is_control()) {
        let column = input
            .get(..error.at().min(input.len()))
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Some(format!("  {input}\n  {}^", " ".repeat(column)))
    } else {
        None
    };
    let failure = Failure::usage(format!("invalid address `{shown}`: {error}"));
    match detail {
        Some(d) => failure.with_detail(d),
        None => failure,
    }
}

/// `s` for an error message: control characters escaped (it stays one line), cut after `max`
/// bytes.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown = String::with_capacity(end + 3);
    for c in s[..end].chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    if end < s.len() {
        shown.push_str("...");
    }
    shown
}

/// The JSON description of `address` against the stacks of `node`.
pub fn describe(input: &str, address: &MultiAddress, node: &MultiServer) -> Value {
    let stacks = node.stacks();
    let alternatives: Vec<Value> = address
        .alternatives()
        .iter()
        .enumerate()
        .map(|(index, alternative)| {
            let sections: Vec<Value> = alternative
                .sections()
                .iter()
                .enumerate()
                .map(|(i, section)| describe_section(i, section, stacks))
                .collect();
            let mut chosen = None;
            let mut reasons = Vec::new();
            for stack in stacks {
                match stack.check(alternative) {
                    Ok(()) => {
                        chosen = Some(stack.name());
                        break;
                    }
                    Err(MismatchReason::Section { index: 0, error })
                        if error.is_wrong_protocol() => {}
                    Err(reason) => reasons.push(
                        Mismatch {
                            stack: stack.name(),
                            address: alternative.to_string(),
                            reason,
                        }
                        .to_string(),
                    ),
                }
            }
            if chosen.is_some() {
                reasons.clear();
            } else if reasons.is_empty() {
                reasons.push(format!(
                    "no installed stack speaks {}",
                    alternative.stack_name()
                ));
            }
            json!({
                "index": index,
                "address": alternative.to_string(),
                "stack": alternative.stack_name(),
                "sections": sections,
                "understood_by": chosen,
                "reasons": reasons,
            })
        })
        .collect();
    let plan = node.plan(address);
    let (dialable, error) = match &plan {
        Ok(_) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    };
    let order: Vec<String> = plan
        .map(|p| p.into_iter().map(|(a, _)| a.to_string()).collect())
        .unwrap_or_default();
    json!({
        "input": input,
        "address": address.to_string(),
        "alternatives": alternatives,
        "dialable": dialable,
        "dial_order": order,
        "error": error,
        "installed": stacks.iter().map(Stack::name).collect::<Vec<_>>(),
    })
}

/// A section: its name, arguments, offset, and the installed plugin that accepts it (a
/// transport for the first section, a transform for the others), or why the plugin of that
/// name refuses it.
fn describe_section(index: usize, section: &Section, stacks: &[Stack]) -> Value {
    type Check<'a> = (
        &'a str,
        Box<dyn Fn(&Section) -> Result<(), SectionError> + 'a>,
    );
    let mut candidates: Vec<Check<'_>> = Vec::new();
    for stack in stacks {
        if index == 0 {
            let t = stack.transport();
            candidates.push((t.name(), Box::new(move |s| t.understands(s))));
        } else {
            for t in stack.transforms() {
                candidates.push((t.name(), Box::new(move |s| t.understands(s))));
            }
        }
    }
    let mut plugin = None;
    let mut error = None;
    let mut tried: Vec<&str> = Vec::new();
    for (name, understands) in &candidates {
        if tried.contains(name) {
            continue;
        }
        tried.push(name);
        match understands(section) {
            Ok(()) => {
                plugin = Some(name.to_string());
                error = None;
                break;
            }
            Err(e) if e.is_wrong_protocol() => {}
            Err(e) => {
                error.get_or_insert_with(|| e.offset_by(section.offset()).to_string());
            }
        }
    }
    json!({
        "name": section.name(),
        "text": section.as_str(),
        "args": section.args().collect::<Vec<_>>(),
        "offset": section.offset(),
        "plugin": plugin,
        "error": error,
    })
}

/// Whether `error` is about the input rather than the network (exit 2 instead of 1).
pub fn is_input_error(error: &Error) -> bool {
    matches!(error, Error::Address(_) | Error::Unsupported { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_input_is_one_line_and_bounded() {
        assert_eq!(truncate("net:h:1", 200), "net:h:1");
        assert_eq!(truncate("a\nb'c", 200), "a\\nb'c");
        assert_eq!(truncate("abcdef", 3), "abc...");
        assert_eq!(truncate("ééé", 3), "é...");
    }

    #[test]
    fn the_caret_points_at_the_byte() {
        let input = "net:host:8008~~shs:key";
        let error = MultiAddress::parse(input).unwrap_err();
        let failure = invalid_address(input, &error);
        assert_eq!(failure.code, crate::error::EXIT_USAGE);
        assert!(
            failure.message.ends_with("at byte 14"),
            "{}",
            failure.message
        );
        let detail = failure.detail.unwrap();
        let caret = detail.lines().nth(1).unwrap();
        assert_eq!(caret.find('^'), Some(2 + 14));
    }
}
