//! `multiserver addr`: an address taken apart, and which installed stack would dial each part.
//!
//! By default a short human view (the input, then one entry per alternative in input order:
//! the stack that would dial it and the scope it points into, or why it is not understood or
//! was skipped); `--json` prints everything as one JSON object.

use ms_core::{
    Address, AddressError, Error, HostPort, Mismatch, MismatchReason, MultiAddress, MultiServer,
    Scope, Section, SectionError, Skipped, Stack,
};
use serde_json::{Value, json};

use crate::error::{self, Failure};
use crate::plugins;

/// Parses `input` as `connect` and `addr` take it: leniently (alternatives that do not parse are
/// skipped and recorded, see [`MultiAddress::parse_lenient`]), after dropping trailing
/// whitespace (a pasted address often carries a space or a newline). Fails, with the typed
/// error, its byte position and a caret line, only when no alternative parses.
pub fn parse(input: &str) -> Result<MultiAddress, Failure> {
    MultiAddress::parse_lenient(input.trim_end_matches([' ', '\t', '\n', '\r']))
        .map_err(|e| invalid_address(input, &e))
}

/// [`parse`] for raw bytes (`connect` takes its argument as an `OsString`): an alternative that
/// is not UTF-8 is skipped like any other that does not parse; when nothing parses, the typed
/// error with its byte offset.
pub fn parse_bytes(input: &[u8]) -> Result<MultiAddress, AddressError> {
    MultiAddress::parse_bytes_lenient(input.trim_ascii_end())
}

/// `multiserver addr`: parses `input` and prints the human view, or the JSON one.
pub fn run(input: &str, as_json: bool) -> Result<(), Failure> {
    let address = parse(input)?;
    let identity = plugins::Identity {
        keys: ms_shs::Keypair::generate()
            .map_err(|e| Failure::runtime(format!("cannot generate a key pair: {e}")))?,
        app_key: ms_shs::NetworkKey::MAINNET,
    };
    let node = plugins::client(&identity, None, &[])?;
    let text = if as_json {
        serde_json::to_string_pretty(&describe(input, &address, &node))
            .map_err(|e| Failure::runtime(format!("cannot print JSON: {e}")))?
    } else {
        human(input, &address, &node)
    };
    error::print_line(&text)
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

/// Which installed stack would dial `alternative` (the first that understands it), or why none
/// would: each stack's reason (empty when no installed stack speaks the alternative's protocol).
fn verdict<'a>(alternative: &Address, stacks: &'a [Stack]) -> Result<&'a Stack, Vec<Mismatch>> {
    let mut reasons = Vec::new();
    for stack in stacks {
        match stack.check(alternative) {
            Ok(()) => return Ok(stack),
            Err(MismatchReason::Section { index: 0, error }) if error.is_wrong_protocol() => {}
            Err(reason) => reasons.push(Mismatch {
                stack: stack.name(),
                address: alternative.to_string(),
                reason,
            }),
        }
    }
    Err(reasons)
}

/// The reasons, one line each, as the JSON view lists them.
fn reason_lines(alternative: &Address, reasons: &[Mismatch]) -> Vec<String> {
    if reasons.is_empty() {
        return vec![format!(
            "no installed stack speaks {}",
            alternative.stack_name()
        )];
    }
    reasons.iter().map(ToString::to_string).collect()
}

/// The reasons for the human view: stacks refusing for the same reason (typically every stack
/// of one transport refusing its section) share one line.
fn grouped_reasons(alternative: &Address, reasons: &[Mismatch]) -> Vec<String> {
    if reasons.is_empty() {
        return reason_lines(alternative, reasons);
    }
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for mismatch in reasons {
        let why = match &mismatch.reason {
            MismatchReason::Section { error, .. } => error.to_string(),
            MismatchReason::SectionCount { expected, found } => {
                format!("needs {expected} sections, the address has {found}")
            }
            _ => mismatch.to_string(),
        };
        match groups.iter_mut().find(|(w, _)| *w == why) {
            Some((_, stacks)) => stacks.push(&mismatch.stack),
            None => groups.push((why, vec![&mismatch.stack])),
        }
    }
    groups
        .into_iter()
        .map(|(why, stacks)| format!("{}: {why}", stacks.join(", ")))
        .collect()
}

/// The scope the alternative points into, when the address tells it without a lookup: an IP
/// address by its range, `localhost` and unix sockets `device`, onion services `public`.
///
/// (The client transports are built for the device scope, so their own
/// [`scope_of`](ms_core::Transport::scope_of) would call everything `device`.)
fn scope_of(alternative: &Address) -> Option<Scope> {
    let section = alternative.transport();
    match section.name() {
        "unix" => Some(Scope::Device),
        "onion" => Some(Scope::Public),
        name if ms_ws::Scheme::from_name(name).is_some() => {
            let url = ms_ws::WsUrl::parse(section).ok()?;
            HostPort::new(url.host(), url.port()).scope()
        }
        _ => HostPort::parse_any(section).ok()?.scope(),
    }
}

fn scope_text(alternative: &Address) -> String {
    match scope_of(alternative) {
        Some(scope) => scope.to_string(),
        None => "unknown until the name is resolved".to_owned(),
    }
}

/// The canonical spelling of `alternative` when it differs from the one given.
fn canonical(stack: &Stack, alternative: &Address) -> Option<String> {
    let canonical = stack.canonical(alternative).to_string();
    (canonical != alternative.to_string()).then_some(canonical)
}

/// One entry of the view, in input order.
enum Entry<'a> {
    Parsed(&'a Address),
    Skipped(&'a Skipped),
}

fn entries(address: &MultiAddress) -> Vec<(usize, Entry<'_>)> {
    let mut entries: Vec<(usize, Entry<'_>)> = address
        .alternatives()
        .iter()
        .map(|a| (a.transport().offset(), Entry::Parsed(a)))
        .chain(
            address
                .skipped()
                .iter()
                .map(|s| (s.range().start, Entry::Skipped(s))),
        )
        .collect();
    entries.sort_by_key(|(at, _)| *at);
    entries
}

/// The human view: the input, then per alternative (numbered in input order) the stack that
/// would dial it and its scope, or why not.
pub fn human(input: &str, address: &MultiAddress, node: &MultiServer) -> String {
    let stacks = node.stacks();
    let mut out = format!("input: {}\n", truncate(input, 400));
    let mut order = Vec::new();
    for (i, (_, entry)) in entries(address).iter().enumerate() {
        let n = i + 1;
        match entry {
            Entry::Parsed(alternative) => {
                out.push_str(&format!(
                    "{n}. {}\n",
                    truncate(&alternative.to_string(), 400)
                ));
                match verdict(alternative, stacks) {
                    Ok(stack) => {
                        order.push(n.to_string());
                        out.push_str(&format!(
                            "   understood: dialled with {}, scope {}\n",
                            stack.name(),
                            scope_text(alternative)
                        ));
                        if let Some(canonical) = canonical(stack, alternative) {
                            out.push_str(&format!("   canonical: {}\n", truncate(&canonical, 400)));
                        }
                    }
                    Err(reasons) => {
                        for reason in grouped_reasons(alternative, &reasons) {
                            out.push_str(&format!("   not understood: {reason}\n"));
                        }
                    }
                }
            }
            Entry::Skipped(skipped) => {
                let text = match skipped.text() {
                    "" => "(empty)".to_owned(),
                    text => truncate(text, 400),
                };
                out.push_str(&format!("{n}. {text}\n"));
                out.push_str(&format!(
                    "   skipped, does not parse (bytes {}..{}): {}\n",
                    skipped.range().start,
                    skipped.range().end,
                    skipped.error()
                ));
            }
        }
    }
    if order.is_empty() {
        out.push_str("nothing here can dial it");
    } else {
        out.push_str(&format!("dial order: {}", order.join(", ")));
    }
    out
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
            let (chosen, reasons, scope, canonical) = match verdict(alternative, stacks) {
                Ok(stack) => (
                    Some(stack.name()),
                    Vec::new(),
                    scope_of(alternative).map(|s| s.to_string()),
                    canonical(stack, alternative),
                ),
                Err(reasons) => (None, reason_lines(alternative, &reasons), None, None),
            };
            json!({
                "index": index,
                "address": alternative.to_string(),
                "offset": alternative.transport().offset(),
                "stack": alternative.stack_name(),
                "sections": sections,
                "understood_by": chosen,
                "scope": scope,
                "canonical": canonical,
                "reasons": reasons,
            })
        })
        .collect();
    let skipped: Vec<Value> = address
        .skipped()
        .iter()
        .map(|s| {
            json!({
                "text": s.text(),
                "range": [s.range().start, s.range().end],
                "error": s.error().to_string(),
                "at": s.error().at(),
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
        "skipped": skipped,
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
