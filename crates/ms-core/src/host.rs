//! `host:port` arguments, shared by the `net` and `onion` plugins.
//!
//! The reference takes the **last** `:` field as the port and joins everything between the name
//! and the port as the host, so IPv6 hosts are written bare (`net:fe80::1:8008`, `net:::1:8008`).
//! Other SSB implementations write brackets (`net:[::1]:8008`); both are accepted here and the
//! bare form is printed, which is what JavaScript peers can read.
//!
//! A host name with non-ASCII characters (`net:exämple.org:8008`) is converted to its ASCII
//! form with IDNA ([`host_to_ascii`]): the reference's DNS lookup does the same, and its `ws`
//! plugin does it through URL parsing. A name IDNA refuses is a [`SectionError::Idna`].

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::{AddressError, Scope, Section, SectionError};

/// A host and port parsed from a `name:host:port` section.
///
/// ```
/// use ms_core::{HostPort, Section};
/// let hp = HostPort::parse(&Section::new("net:fe80::1:8008")?, "net")?;
/// assert_eq!(hp.host(), "fe80::1");
/// assert_eq!(hp.port(), 8008);
/// let hp = HostPort::parse(&Section::new("net:[::1]:8008")?, "net")?;
/// assert_eq!(hp.to_section("net").unwrap().as_str(), "net:::1:8008");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// Builds a host and port. IPv6 brackets are removed.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.to_owned(),
            None => host,
        };
        Self { host, port }
    }

    /// Parses `protocol:host:port`.
    ///
    /// Stricter than the reference: the port must be a decimal number from 1 to 65535, a host
    /// containing `:` must be an IPv6 address (optionally with a `%zone`), and an empty host is
    /// an error where the reference silently used `localhost`.
    pub fn parse(section: &Section, protocol: &'static str) -> Result<Self, SectionError> {
        if section.name() != protocol {
            return Err(SectionError::WrongProtocol {
                expected: protocol,
                found: section.name().to_owned(),
            });
        }
        Self::parse_any(section)
    }

    /// Parses `name:host:port` whatever the name is.
    pub fn parse_any(section: &Section) -> Result<Self, SectionError> {
        let text = section.as_str();
        let protocol = section.name();
        let Some(rest) = text.get(protocol.len() + 1..) else {
            return Err(SectionError::Missing {
                what: "host",
                after: "protocol name",
                at: text.len(),
            });
        };
        let host_at = protocol.len() + 1;
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(SectionError::Missing {
                what: "port",
                after: "host",
                at: text.len(),
            });
        };
        let port_at = host_at + host.len() + 1;
        if host.is_empty() {
            return Err(SectionError::Missing {
                what: "host",
                after: "protocol name",
                at: host_at,
            });
        }
        if port.is_empty() {
            return Err(SectionError::Missing {
                what: "port",
                after: "host",
                at: port_at,
            });
        }
        let port = parse_port(port).ok_or_else(|| SectionError::Invalid {
            what: "port",
            value: port.to_owned(),
            reason: "expected a decimal number from 1 to 65535",
            at: port_at,
        })?;
        let bracketed = host.strip_prefix('[');
        let host = match bracketed {
            Some(inner) => inner.strip_suffix(']').ok_or(SectionError::Invalid {
                what: "host",
                value: host.to_owned(),
                reason: "'[' without a matching ']'",
                at: host_at,
            })?,
            None => host,
        };
        if host.contains(':') || bracketed.is_some() {
            let (addr, _zone) = host.split_once('%').unwrap_or((host, ""));
            if addr.parse::<Ipv6Addr>().is_err() {
                return Err(SectionError::Invalid {
                    what: "host",
                    value: host.to_owned(),
                    reason: "a host containing ':' must be an IPv6 address",
                    at: host_at,
                });
            }
        } else if host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(SectionError::Invalid {
                what: "host",
                value: host.to_owned(),
                reason: "not a host name or IP address",
                at: host_at,
            });
        }
        let host = host_to_ascii(host).ok_or_else(|| SectionError::Idna {
            value: host.to_owned(),
            at: host_at,
        })?;
        Ok(Self {
            host: host.into_owned(),
            port,
        })
    }

    /// The host: a name, an IPv4 address, or an IPv6 address without brackets (maybe with a
    /// `%zone`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The narrowest scope the host belongs to, when that can be told without a lookup: an IP
    /// address by its range, `localhost` as `device`; `None` for other names.
    pub fn scope(&self) -> Option<Scope> {
        match self.ip() {
            Some(ip) => Some(Scope::of_ip(ip)),
            None if self.host.eq_ignore_ascii_case("localhost") => Some(Scope::Device),
            None => None,
        }
    }

    /// The host as an IP address, when it is one (a `%zone` is ignored).
    pub fn ip(&self) -> Option<IpAddr> {
        let addr = self
            .host
            .split_once('%')
            .map_or(self.host.as_str(), |(a, _)| a);
        addr.parse().ok()
    }

    /// Prints `protocol:host:port` the way the reference does: IPv6 bare, a `%zone` of word
    /// characters stripped.
    ///
    /// Fails only for a hand-built host holding `;` or a control character.
    pub fn to_section(&self, protocol: &str) -> Result<Section, AddressError> {
        let host = strip_word_zone(&self.host);
        Section::new(format!("{protocol}:{host}:{}", self.port))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A host name in the form DNS takes: ASCII names as they are; names with other characters
/// converted with IDNA as URL parsing does it (UTS 46, non-transitional, the WHATWG URL
/// standard's "domain to ASCII" with its forbidden code points), e.g. `exämple.org` →
/// `xn--exmple-cua.org`, `EXÄMPLE.org` → the same, `faß.de` → `xn--fa-hia.de`. This is what
/// the reference does: Node's DNS lookup (`net`) and URL parser (`ws`) convert the same way.
///
/// `None` when IDNA refuses the name (for example a zero-width joiner between Latin letters,
/// or a space), or when ms-core is built without its `idna` feature.
///
/// ```
/// use ms_core::host_to_ascii;
/// assert_eq!(host_to_ascii("example.org").as_deref(), Some("example.org"));
/// assert_eq!(host_to_ascii("exämple.org").as_deref(), Some("xn--exmple-cua.org"));
/// assert_eq!(host_to_ascii("a\u{200d}b.org"), None);
/// ```
pub fn host_to_ascii(host: &str) -> Option<Cow<'_, str>> {
    if host.is_ascii() {
        return Some(Cow::Borrowed(host));
    }
    #[cfg(feature = "idna")]
    {
        let ascii = idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL).ok()?;
        (!ascii.is_empty()).then(|| Cow::Owned(ascii.into_owned()))
    }
    #[cfg(not(feature = "idna"))]
    {
        None
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(p) => Some(p),
    }
}

/// The reference strips `%` followed by word characters from IPv6 hosts when printing `net:`.
fn strip_word_zone(host: &str) -> &str {
    match host.rsplit_once('%') {
        Some((addr, zone))
            if !zone.is_empty() && zone.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            addr
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostPort, SectionError> {
        HostPort::parse(&Section::new(text).unwrap(), "net")
    }

    #[test]
    fn parses_reference_forms() {
        assert_eq!(
            parse("net:example.com:8008").unwrap(),
            HostPort::new("example.com", 8008)
        );
        assert_eq!(
            parse("net:1.2.3.4:8008").unwrap(),
            HostPort::new("1.2.3.4", 8008)
        );
        assert_eq!(
            parse("net:fe80::1:8008").unwrap(),
            HostPort::new("fe80::1", 8008)
        );
        assert_eq!(parse("net:::1:8008").unwrap(), HostPort::new("::1", 8008));
        assert_eq!(parse("net:[::1]:8008").unwrap(), HostPort::new("::1", 8008));
        assert_eq!(
            parse("net:fe80::1%eth0:8008").unwrap().host(),
            "fe80::1%eth0"
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(
            parse("net:host").unwrap_err().to_string(),
            "expected port after host at byte 8"
        );
        assert_eq!(
            parse("net:host:").unwrap_err().to_string(),
            "expected port after host at byte 9"
        );
        assert!(
            parse("net:host:abc")
                .unwrap_err()
                .to_string()
                .contains("invalid port `abc`")
        );
        assert!(parse("net:host:0x50").is_err());
        assert!(parse("net:host:8008.5").is_err());
        assert!(parse("net:host:65536").is_err());
        assert!(parse("net:host:0").is_err());
        assert!(parse("net::8008").is_err());
        assert!(parse("net:h:x:1").is_err());
        assert!(parse("net:[::1:1").is_err());
        assert!(matches!(
            HostPort::parse(&Section::new("onion:x:1").unwrap(), "net"),
            Err(SectionError::WrongProtocol { .. })
        ));
    }

    #[test]
    fn converts_internationalized_names_like_the_reference() {
        // Node's `url.domainToASCII` (v20.20.2) gives these; its DNS lookup converts the same.
        for (given, ascii) in [
            ("exämple.org", "xn--exmple-cua.org"),
            ("EXÄMPLE.org", "xn--exmple-cua.org"),
            ("faß.de", "xn--fa-hia.de"),
            ("中国.cn", "xn--fiqs8s.cn"),
            ("example\u{3002}org", "example.org"),
            ("a\u{ad}b.org", "ab.org"),
        ] {
            let hp = parse(&format!("net:{given}:8008")).unwrap();
            assert_eq!(hp.host(), ascii, "{given}");
            assert_eq!(
                hp.to_section("net").unwrap().as_str(),
                format!("net:{ascii}:8008")
            );
        }
        // ASCII names are kept as written.
        assert_eq!(parse("net:Example.ORG:1").unwrap().host(), "Example.ORG");
        // What IDNA refuses (the reference's URL parser throws on it) is a typed error.
        assert_eq!(
            parse("net:a\u{200d}b.org:8008").unwrap_err(),
            SectionError::Idna {
                value: "a\u{200d}b.org".into(),
                at: 4
            }
        );
    }

    #[test]
    fn prints_bare_ipv6_and_strips_word_zones() {
        assert_eq!(
            HostPort::new("fe80::1%eth0", 8008)
                .to_section("net")
                .unwrap()
                .as_str(),
            "net:fe80::1:8008"
        );
        assert_eq!(
            HostPort::new("fe80::1%br-1", 8008)
                .to_section("net")
                .unwrap()
                .as_str(),
            "net:fe80::1%br-1:8008"
        );
        assert_eq!(
            HostPort::new("[::1]", 1)
                .to_section("net")
                .unwrap()
                .as_str(),
            "net:::1:1"
        );
    }
}
