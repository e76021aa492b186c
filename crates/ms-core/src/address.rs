//! The multiserver address grammar.
//!
//! ```text
//! multi-address := address (';' address)*
//! address       := section ('~' section)*
//! section       := name (':' argument)*        -- or a URL such as ws://host:port
//! ```
//!
//! This module reproduces what the JavaScript reference (`multiserver` 3.8.2) does, level by level:
//! a multi-address is split on every `;` (no escape can protect a `;`); an address is split on
//! every unescaped `~`, where `!` escapes the next character; a section is handed, unescaped, to
//! the plugin that owns its name, which splits it on `:` itself. When printing, `!` and `~` inside
//! a section are escaped with `!`; nothing else is.
//!
//! Where the reference is lenient on malformed input (a trailing `!`, `!x` for any `x`, empty
//! sections, control characters) this parser is strict and returns an [`AddressError`] that says
//! what is wrong and at which byte. Every value this module can build prints to a string that
//! parses back to the same value.
//!
//! Two ways to parse a multi-address:
//!
//! - [`MultiAddress::parse`] (and `FromStr`) is strict: one malformed alternative makes the
//!   whole input an error. Use it for addresses you produce or configure.
//! - [`MultiAddress::parse_lenient`] is what a dialler wants, and what the reference does in
//!   effect (it dials the first alternative it understands and never looks at the others): an
//!   alternative that does not parse is left out and recorded as [`Skipped`], with its byte
//!   range and its error; only an input with no alternative left is an error.
//!   [`MultiServer::connect`](crate::MultiServer::connect) parses this way.
//!
//! In both, alternatives are found first, by splitting on every `;` (nothing escapes a `;`, in
//! the reference either), and each is then parsed on its own: an escape error such as `x!y`
//! spoils only the alternative it is in.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// The longest input [`MultiAddress::parse`] accepts, in bytes.
///
/// Real addresses are a few hundred bytes; the bound keeps hostile input cheap to reject.
pub const MAX_ADDRESS_LEN: usize = 16 * 1024;

/// Why an address did not parse, and where.
///
/// `at` is a byte offset into the input string.
///
/// ```
/// use ms_core::MultiAddress;
/// let err = MultiAddress::parse("net:host:8008~~shs:key").unwrap_err();
/// assert_eq!(err.to_string(), "empty section (a lone or doubled '~') at byte 14");
/// assert_eq!(err.at(), 14);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {at}")]
pub struct AddressError {
    kind: AddressErrorKind,
    at: usize,
}

impl AddressError {
    pub(crate) fn new(kind: AddressErrorKind, at: usize) -> Self {
        Self { kind, at }
    }

    /// What is wrong.
    pub fn kind(&self) -> &AddressErrorKind {
        &self.kind
    }

    /// The byte offset in the input where the problem was found.
    pub fn at(&self) -> usize {
        self.at
    }
}

/// The kinds of [`AddressError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressErrorKind {
    /// The input is empty.
    #[error("empty address")]
    Empty,
    /// A `;` with nothing on one side.
    #[error("empty alternative (a lone or doubled ';')")]
    EmptyAlternative,
    /// A `~` with nothing on one side.
    #[error("empty section (a lone or doubled '~')")]
    EmptySection,
    /// A `!` at the end of a section.
    #[error("'!' at the end of a section escapes nothing")]
    DanglingEscape,
    /// `!` followed by a character that needs no escape.
    #[error("'!{0}' is not an escape (only '!!', '!~' and '!:' are)")]
    InvalidEscape(char),
    /// A control character (including tab and newline).
    #[error("control character {0:#04x} is not allowed")]
    ControlCharacter(u32),
    /// A `;` inside a single address or section.
    #[error("';' separates alternatives and cannot appear inside an address")]
    Semicolon,
    /// The section does not start with a protocol name.
    #[error(
        "a section must start with a protocol name (a letter, then letters, digits, '-', '+' or '.')"
    )]
    InvalidName,
    /// The input is not UTF-8.
    #[error("invalid UTF-8")]
    NotUtf8,
    /// The input is longer than [`MAX_ADDRESS_LEN`].
    #[error("address is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// One protocol part of an address, e.g. `net:example.org:8008` or `shs:<key>`.
///
/// The text is stored unescaped. Its name is what comes before the first `:` (`ws` for
/// `ws://host:80`). A section never contains `;` or control characters and always starts with a
/// valid name, so it always prints to something that parses back to it.
///
/// ```
/// use ms_core::Section;
/// let section = Section::new("net:fe80::1:8008")?;
/// assert_eq!(section.name(), "net");
/// assert_eq!(section.args().collect::<Vec<_>>(), ["fe80", "", "1", "8008"]);
/// # Ok::<(), ms_core::AddressError>(())
/// ```
#[derive(Clone)]
pub struct Section {
    text: String,
    /// Byte offset of the section in the string it was parsed from (0 when built directly).
    offset: usize,
}

impl Section {
    /// Builds a section from its unescaped text.
    pub fn new(text: impl Into<String>) -> Result<Self, AddressError> {
        let text = text.into();
        validate_section(&text, 0)?;
        Ok(Self { text, offset: 0 })
    }

    /// Builds a section from a name and arguments, joined by `:`.
    ///
    /// ```
    /// use ms_core::Section;
    /// let section = Section::from_parts("net", ["127.0.0.1", "8008"])?;
    /// assert_eq!(section.to_string(), "net:127.0.0.1:8008");
    /// # Ok::<(), ms_core::AddressError>(())
    /// ```
    pub fn from_parts<I, S>(name: &str, args: I) -> Result<Self, AddressError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::from(name);
        for arg in args {
            text.push(':');
            text.push_str(arg.as_ref());
        }
        Self::new(text)
    }

    /// The unescaped text of the section.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The protocol name: the text before the first `:`.
    pub fn name(&self) -> &str {
        self.text.split(':').next().unwrap_or_default()
    }

    /// The arguments: the text after the name, split on every `:`.
    ///
    /// A section without a `:` has no arguments; `shs:::` has three empty ones.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.text.split(':').skip(1)
    }

    /// The text after the name and its `:` (empty when there is none).
    pub fn rest(&self) -> &str {
        self.text
            .split_once(':')
            .map(|(_, rest)| rest)
            .unwrap_or("")
    }

    /// Byte offset of this section in the string it was parsed from.
    ///
    /// Plugins report errors at offsets inside the section; adding this gives an offset into
    /// the whole address (exact unless escapes came before the error).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl PartialEq for Section {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Section {}

impl std::hash::Hash for Section {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Section({:?})", self.text)
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find(['!', '~']) {
            f.write_str(&rest[..i])?;
            f.write_str("!")?;
            f.write_str(&rest[i..i + 1])?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

impl FromStr for Section {
    type Err = AddressError;

    /// Parses one escaped section (as it appears inside an address).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address = Address::parse(s)?;
        match <[Section; 1]>::try_from(address.sections) {
            Ok([section]) => Ok(section),
            Err(sections) => {
                let at = sections
                    .get(1)
                    .map(|s| s.offset.saturating_sub(1))
                    .unwrap_or(0);
                Err(AddressError::new(AddressErrorKind::EmptySection, at))
            }
        }
    }
}

/// One dialable alternative: a transport section followed by zero or more transform sections,
/// e.g. `net:example.org:8008~shs:<key>`.
///
/// ```
/// use ms_core::Address;
/// let address = Address::parse("net:ex!~ample.org:8008~shs:AAAA")?;
/// assert_eq!(address.sections()[0].as_str(), "net:ex~ample.org:8008");
/// assert_eq!(address.to_string(), "net:ex!~ample.org:8008~shs:AAAA");
/// # Ok::<(), ms_core::AddressError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address {
    sections: Vec<Section>,
}

impl Address {
    /// Parses one address (no `;`).
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        check_length(input)?;
        if let Some(at) = input.find(';') {
            return Err(AddressError::new(AddressErrorKind::Semicolon, at));
        }
        if input.is_empty() {
            return Err(AddressError::new(AddressErrorKind::Empty, 0));
        }
        parse_address(input, 0)
    }

    /// Builds an address from sections.
    ///
    /// Returns `None` when `sections` is empty.
    pub fn from_sections(sections: Vec<Section>) -> Option<Self> {
        if sections.is_empty() {
            None
        } else {
            Some(Self { sections })
        }
    }

    /// An address of one section.
    pub fn from_section(section: Section) -> Self {
        Self {
            sections: vec![section],
        }
    }

    /// The sections, transport first.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The transport section (always present).
    pub fn transport(&self) -> &Section {
        &self.sections[0]
    }

    /// The transform sections that follow the transport.
    pub fn transforms(&self) -> &[Section] {
        &self.sections[1..]
    }

    /// Appends a section.
    pub fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    /// The section names joined by `~`, e.g. `net~shs`: the name of the stack that speaks it.
    pub fn stack_name(&self) -> String {
        let mut name = String::new();
        for (i, section) in self.sections.iter().enumerate() {
            if i > 0 {
                name.push('~');
            }
            name.push_str(section.name());
        }
        name
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, section) in self.sections.iter().enumerate() {
            if i > 0 {
                f.write_str("~")?;
            }
            fmt::Display::fmt(section, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?})", self.to_string())
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A full multiserver address: alternatives separated by `;`, e.g.
/// `net:example.org:8008~shs:<key>;ws://example.org:8989~shs:<key>`.
///
/// A node advertises one of these per scope; a client dials the alternatives it understands.
///
/// ```
/// use ms_core::MultiAddress;
/// let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
/// let text = format!("net:wx.larpa.net:8008~shs:{key};wss://wx.larpa.net~shs:{key}");
/// let multi = MultiAddress::parse(&text)?;
/// assert_eq!(multi.alternatives().len(), 2);
/// assert_eq!(multi.alternatives()[1].stack_name(), "wss~shs");
/// assert_eq!(multi.to_string(), text);
/// # Ok::<(), ms_core::AddressError>(())
/// ```
///
/// A multi-address is its alternatives: equality, hashing and printing ignore the
/// [`skipped`](Self::skipped) list that a lenient parse records.
#[derive(Clone, Default)]
pub struct MultiAddress {
    alternatives: Vec<Address>,
    skipped: Vec<Skipped>,
}

/// An alternative that [`MultiAddress::parse_lenient`] left out because it does not parse.
///
/// ```
/// use ms_core::{AddressErrorKind, MultiAddress};
/// let multi = MultiAddress::parse_lenient("net:a:1~noauth;x!y")?;
/// assert_eq!(multi.to_string(), "net:a:1~noauth");
/// let skipped = &multi.skipped()[0];
/// assert_eq!(skipped.text(), "x!y");
/// assert_eq!(skipped.range(), 15..18);
/// assert_eq!(skipped.error().kind(), &AddressErrorKind::InvalidEscape('y'));
/// assert_eq!(skipped.error().at(), 16);
/// # Ok::<(), ms_core::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    range: Range<usize>,
    text: String,
    error: AddressError,
}

impl Skipped {
    /// A skipped alternative: where it is in the input, its text, and why it does not parse.
    pub fn new(range: Range<usize>, text: impl Into<String>, error: AddressError) -> Self {
        Self {
            range,
            text: text.into(),
            error,
        }
    }

    /// Its byte range in the input.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The alternative as written (invalid UTF-8 replaced by U+FFFD).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Why it does not parse; the error's offset is into the whole input.
    pub fn error(&self) -> &AddressError {
        &self.error
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped `{}`: {}", self.text.escape_debug(), self.error)
    }
}

impl PartialEq for MultiAddress {
    fn eq(&self, other: &Self) -> bool {
        self.alternatives == other.alternatives
    }
}

impl Eq for MultiAddress {}

impl std::hash::Hash for MultiAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.alternatives.hash(state)
    }
}

impl MultiAddress {
    /// Parses a multi-address strictly: any malformed alternative is an error (see
    /// [`parse_lenient`](Self::parse_lenient) for what a dialler wants).
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        check_length(input)?;
        if input.is_empty() {
            return Err(AddressError::new(AddressErrorKind::Empty, 0));
        }
        let mut alternatives = Vec::new();
        let mut start: usize = 0;
        for part in input.split(';') {
            if part.is_empty() {
                return Err(AddressError::new(
                    AddressErrorKind::EmptyAlternative,
                    start.saturating_sub(usize::from(start == input.len())),
                ));
            }
            alternatives.push(parse_address(part, start)?);
            start += part.len() + 1;
        }
        Ok(Self {
            alternatives,
            skipped: Vec::new(),
        })
    }

    /// Parses a multi-address, leaving out the alternatives that do not parse.
    ///
    /// The input is split on every `;`; each alternative that parses is kept, in order, and
    /// each that does not (an empty one included) is recorded in [`skipped`](Self::skipped)
    /// with its byte range and error. Fails only when the input is empty or too long, or when
    /// no alternative parses: then with the first alternative's error, so that a single
    /// alternative fails exactly as with [`parse`](Self::parse).
    ///
    /// ```
    /// use ms_core::MultiAddress;
    /// let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
    /// let text = format!("net:10.0.0.1:8008~shs:{key};#;net:h:1~~shs:{key}");
    /// assert!(MultiAddress::parse(&text).is_err());
    /// let multi = MultiAddress::parse_lenient(&text)?;
    /// assert_eq!(multi.alternatives().len(), 1);
    /// assert_eq!(multi.skipped().len(), 2);
    /// assert!(MultiAddress::parse_lenient("x!y;;#").is_err());
    /// # Ok::<(), ms_core::AddressError>(())
    /// ```
    pub fn parse_lenient(input: &str) -> Result<Self, AddressError> {
        Self::parse_bytes_lenient(input.as_bytes())
    }

    /// Like [`parse_lenient`](Self::parse_lenient), for raw bytes: an alternative that is not
    /// UTF-8 is skipped like any other that does not parse.
    pub fn parse_bytes_lenient(input: &[u8]) -> Result<Self, AddressError> {
        if input.len() > MAX_ADDRESS_LEN {
            return Err(too_long(input.len()));
        }
        if input.is_empty() {
            return Err(AddressError::new(AddressErrorKind::Empty, 0));
        }
        let mut multi = Self::default();
        let mut start: usize = 0;
        for part in input.split(|&b| b == b';') {
            let range = start..start + part.len();
            let parsed = if part.is_empty() {
                Err(AddressError::new(
                    AddressErrorKind::EmptyAlternative,
                    start.saturating_sub(usize::from(start == input.len())),
                ))
            } else {
                match std::str::from_utf8(part) {
                    Ok(text) => parse_address(text, start),
                    Err(e) => Err(AddressError::new(
                        AddressErrorKind::NotUtf8,
                        start + e.valid_up_to(),
                    )),
                }
            };
            match parsed {
                Ok(address) => multi.alternatives.push(address),
                Err(error) => {
                    let text = String::from_utf8_lossy(part).into_owned();
                    tracing::debug!(alternative = %text.escape_debug(), %error, "skipping an alternative that does not parse");
                    multi.skipped.push(Skipped { range, text, error });
                }
            }
            start += part.len() + 1;
        }
        if multi.alternatives.is_empty() {
            return Err(match multi.skipped.into_iter().next() {
                Some(first) => first.error,
                None => AddressError::new(AddressErrorKind::Empty, 0),
            });
        }
        Ok(multi)
    }

    /// The alternatives a lenient parse left out, in input order (always empty after a strict
    /// parse).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Parses raw bytes, reporting invalid UTF-8 as an [`AddressError`].
    ///
    /// ```
    /// use ms_core::{AddressErrorKind, MultiAddress};
    /// let err = MultiAddress::parse_bytes(b"net:h\xff:1").unwrap_err();
    /// assert_eq!(err.kind(), &AddressErrorKind::NotUtf8);
    /// assert_eq!(err.at(), 5);
    /// ```
    pub fn parse_bytes(input: &[u8]) -> Result<Self, AddressError> {
        if input.len() > MAX_ADDRESS_LEN {
            return Err(too_long(input.len()));
        }
        match std::str::from_utf8(input) {
            Ok(text) => Self::parse(text),
            Err(e) => Err(AddressError::new(
                AddressErrorKind::NotUtf8,
                e.valid_up_to(),
            )),
        }
    }

    /// Builds a multi-address from alternatives (possibly none: it then prints as `""`).
    pub fn from_alternatives(alternatives: Vec<Address>) -> Self {
        Self {
            alternatives,
            skipped: Vec::new(),
        }
    }

    /// The alternatives, in the order given.
    pub fn alternatives(&self) -> &[Address] {
        &self.alternatives
    }

    /// Whether there is no alternative.
    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// Appends an alternative.
    pub fn push(&mut self, address: Address) {
        self.alternatives.push(address);
    }
}

impl From<Address> for MultiAddress {
    fn from(address: Address) -> Self {
        Self::from_alternatives(vec![address])
    }
}

impl fmt::Display for MultiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, address) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            fmt::Display::fmt(address, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for MultiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiAddress({:?})", self.to_string())
    }
}

impl FromStr for MultiAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl IntoIterator for MultiAddress {
    type Item = Address;
    type IntoIter = std::vec::IntoIter<Address>;
    fn into_iter(self) -> Self::IntoIter {
        self.alternatives.into_iter()
    }
}

fn too_long(len: usize) -> AddressError {
    AddressError::new(
        AddressErrorKind::TooLong {
            len,
            max: MAX_ADDRESS_LEN,
        },
        MAX_ADDRESS_LEN,
    )
}

fn check_length(input: &str) -> Result<(), AddressError> {
    if input.len() > MAX_ADDRESS_LEN {
        Err(too_long(input.len()))
    } else {
        Ok(())
    }
}

/// Parses one alternative (which contains no `;`); `base` is its offset in the whole input.
fn parse_address(input: &str, base: usize) -> Result<Address, AddressError> {
    let mut sections = Vec::new();
    let mut text = String::with_capacity(input.len());
    let mut section_start = 0;
    let mut chars = input.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some((_, e @ ('!' | '~' | ':'))) => text.push(e),
                Some((_, other)) => {
                    return Err(AddressError::new(
                        AddressErrorKind::InvalidEscape(other),
                        base + i,
                    ));
                }
                None => {
                    return Err(AddressError::new(
                        AddressErrorKind::DanglingEscape,
                        base + i,
                    ));
                }
            },
            '~' => {
                sections.push(finish_section(
                    std::mem::take(&mut text),
                    base + section_start,
                    base + i,
                )?);
                section_start = i + 1;
            }
            c => text.push(c),
        }
    }
    sections.push(finish_section(
        text,
        base + section_start,
        base + input.len(),
    )?);
    Ok(Address { sections })
}

fn finish_section(text: String, start: usize, end: usize) -> Result<Section, AddressError> {
    if text.is_empty() {
        return Err(AddressError::new(AddressErrorKind::EmptySection, end));
    }
    validate_section(&text, start)?;
    Ok(Section {
        text,
        offset: start,
    })
}

/// Checks the invariants of an unescaped section. Offsets in errors are `base` plus the offset
/// in the unescaped text.
fn validate_section(text: &str, base: usize) -> Result<(), AddressError> {
    let mut name_done = false;
    for (i, c) in text.char_indices() {
        if c.is_control() {
            return Err(AddressError::new(
                AddressErrorKind::ControlCharacter(u32::from(c)),
                base + i,
            ));
        }
        if c == ';' {
            return Err(AddressError::new(AddressErrorKind::Semicolon, base + i));
        }
        if !name_done {
            let ok = if i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')
            };
            if c == ':' && i > 0 {
                name_done = true;
            } else if !ok {
                return Err(AddressError::new(AddressErrorKind::InvalidName, base + i));
            }
        }
    }
    if text.is_empty() {
        return Err(AddressError::new(AddressErrorKind::EmptySection, base));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> (AddressErrorKind, usize) {
        let err = MultiAddress::parse(input).unwrap_err();
        (err.kind().clone(), err.at())
    }

    #[test]
    fn splits_alternatives_sections_and_arguments() {
        let m = MultiAddress::parse("net:a:1~shs:K;ws://b:2~shs:K").unwrap();
        assert_eq!(m.alternatives().len(), 2);
        let first = &m.alternatives()[0];
        assert_eq!(first.sections().len(), 2);
        assert_eq!(first.transport().name(), "net");
        assert_eq!(first.transforms()[0].args().collect::<Vec<_>>(), ["K"]);
        assert_eq!(m.alternatives()[1].transport().name(), "ws");
        assert_eq!(m.alternatives()[1].transport().offset(), 14);
    }

    #[test]
    fn unescapes_and_reescapes() {
        let a = Address::parse("net:h!!x!~y!:z:1").unwrap();
        assert_eq!(a.transport().as_str(), "net:h!x~y:z:1");
        assert_eq!(a.to_string(), "net:h!!x!~y:z:1");
    }

    #[test]
    fn rejects_malformed_input_with_positions() {
        assert_eq!(kind(""), (AddressErrorKind::Empty, 0));
        assert_eq!(kind(";"), (AddressErrorKind::EmptyAlternative, 0));
        assert_eq!(kind("net:a:1;"), (AddressErrorKind::EmptyAlternative, 7));
        assert_eq!(
            kind("net:a:1;;net:b:2"),
            (AddressErrorKind::EmptyAlternative, 8)
        );
        assert_eq!(kind("~"), (AddressErrorKind::EmptySection, 0));
        assert_eq!(kind("net:a:1~"), (AddressErrorKind::EmptySection, 8));
        assert_eq!(kind("net:a:1!"), (AddressErrorKind::DanglingEscape, 7));
        assert_eq!(kind("net:a!b:1"), (AddressErrorKind::InvalidEscape('b'), 5));
        assert_eq!(
            kind("net:a\n:1"),
            (AddressErrorKind::ControlCharacter(10), 5)
        );
        assert_eq!(kind("1net:a:1"), (AddressErrorKind::InvalidName, 0));
        assert_eq!(kind(":a:1"), (AddressErrorKind::InvalidName, 0));
        assert_eq!(kind("ne t:a:1"), (AddressErrorKind::InvalidName, 2));
        let huge = "a".repeat(MAX_ADDRESS_LEN + 1);
        assert!(matches!(kind(&huge).0, AddressErrorKind::TooLong { .. }));
    }

    #[test]
    fn section_cannot_hold_a_semicolon() {
        assert_eq!(
            Section::new("net:a;b:1").unwrap_err().kind(),
            &AddressErrorKind::Semicolon
        );
    }

    #[test]
    fn error_message_names_the_byte() {
        let err = MultiAddress::parse("net:host:8008~shs:K~").unwrap_err();
        assert_eq!(
            err.to_string(),
            "empty section (a lone or doubled '~') at byte 20"
        );
    }
}
