//! `ws://` and `wss://` sections: URLs, not `name:argument` lists.
//!
//! The reference hands the whole section to Node's URL parser and accepts it when the scheme is
//! `ws:` or `wss:` (in any case). This module parses the same shapes without I/O and without a
//! URL crate: `scheme://host[:port][/path][?query]`, the host a name, an IPv4 address or a
//! bracketed IPv6 address (optionally with a `%zone`, which the reference keeps). Path and query
//! are kept verbatim for dialling.
//!
//! A host name with non-ASCII characters is converted to its ASCII (punycode) form with IDNA
//! ([`ms_core::host_to_ascii`]), as Node's URL parser does: `ws://exämple.org` is
//! `ws://xn--exmple-cua.org`. A name IDNA refuses is a [`SectionError::Idna`].
//!
//! Stricter than the reference, on purpose: `ws:host:port` (no `//`), an empty host, user
//! information (`user@`), fragments and ports outside 1–65535 are errors. The reference accepts
//! `ws:host:port` and then dials `ws://localhost/host:port`, which is never what was meant.
//!
//! Printing follows the reference: the scheme in lower case, IPv6 in brackets, the port omitted
//! when it is the default (80 for `ws`, 443 for `wss`).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ms_core::{AddressError, Section, SectionError};

/// `ws` (plain) or `wss` (TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain WebSocket, default port 80.
    Ws,
    /// WebSocket over TLS, default port 443.
    Wss,
}

impl Scheme {
    /// `ws` or `wss`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// The scheme named `name` (any case), if it is one.
    pub fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("ws") {
            Some(Scheme::Ws)
        } else if name.eq_ignore_ascii_case("wss") {
            Some(Scheme::Wss)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `ws://` or `wss://` section.
///
/// ```
/// use ms_core::Section;
/// use ms_ws::{Scheme, WsUrl};
///
/// let url = WsUrl::parse(&Section::new("WSS://Example.com:443/room?x=1")?)?;
/// assert_eq!(url.scheme(), Scheme::Wss);
/// assert_eq!(url.host(), "example.com");
/// assert_eq!(url.port(), 443);
/// assert_eq!(url.path_and_query(), "/room?x=1");
/// assert_eq!(url.to_string(), "wss://example.com/room?x=1");
///
/// let v6 = WsUrl::parse(&Section::new("ws://[::1]:8989")?)?;
/// assert_eq!(v6.host(), "::1");
/// assert_eq!(v6.to_string(), "ws://[::1]:8989");
///
/// // Without `//` it is not a URL: refused, where the reference dials localhost.
/// assert!(WsUrl::parse(&Section::new("ws:example.com:8989")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WsUrl {
    scheme: Scheme,
    /// Lower case; IPv6 without brackets, maybe with a `%zone`.
    host: String,
    port: u16,
    /// Empty, or starting with `/` or `?`.
    path_and_query: String,
}

impl WsUrl {
    /// A URL from its parts; `path_and_query` must be empty or start with `/` or `?`.
    ///
    /// ```
    /// use ms_ws::{Scheme, WsUrl};
    /// let url = WsUrl::new(Scheme::Ws, "127.0.0.1", 80, "");
    /// assert_eq!(url.to_string(), "ws://127.0.0.1");
    /// ```
    pub fn new(scheme: Scheme, host: impl Into<String>, port: u16, path_and_query: &str) -> Self {
        let host = host.into();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map(str::to_owned)
            .unwrap_or(host)
            .to_ascii_lowercase();
        let path_and_query = if path_and_query.is_empty()
            || path_and_query.starts_with('/')
            || path_and_query.starts_with('?')
        {
            path_and_query.to_owned()
        } else {
            format!("/{path_and_query}")
        };
        Self {
            scheme,
            host,
            port,
            path_and_query,
        }
    }

    /// Parses a section. Sections named anything but `ws`/`wss` (any case) give
    /// [`SectionError::WrongProtocol`].
    pub fn parse(section: &Section) -> Result<Self, SectionError> {
        let Some(scheme) = Scheme::from_name(section.name()) else {
            return Err(SectionError::WrongProtocol {
                expected: "ws",
                found: section.name().to_owned(),
            });
        };
        let text = section.as_str();
        let after_scheme = section.name().len() + 1;
        let Some(rest) = section.rest().strip_prefix("//") else {
            return Err(SectionError::Invalid {
                what: "url",
                value: text.to_owned(),
                reason: "a ws section is a URL: ws://host[:port][/path] (the `//` is missing)",
                at: after_scheme,
            });
        };
        let authority_at = after_scheme + 2;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if tail.starts_with('#') || tail.contains('#') {
            let at = authority_at + end + tail.find('#').unwrap_or(0);
            return Err(SectionError::Unexpected {
                value: tail[tail.find('#').unwrap_or(0)..].to_owned(),
                at,
            });
        }
        if let Some(i) = tail.find(|c: char| c.is_whitespace() || !c.is_ascii()) {
            return Err(SectionError::Invalid {
                what: "path",
                value: tail.to_owned(),
                reason: "a path may hold only visible ASCII characters",
                at: authority_at + end + i,
            });
        }
        if let Some(i) = authority.find('@') {
            return Err(SectionError::Invalid {
                what: "host",
                value: authority.to_owned(),
                reason: "user information (`user@`) is not supported",
                at: authority_at + i,
            });
        }
        let (host, port_text, port_at) = split_authority(authority, authority_at)?;
        if host.is_empty() {
            return Err(SectionError::Missing {
                what: "host",
                after: "`//`",
                at: authority_at,
            });
        }
        // Non-ASCII names go through IDNA, as the reference's URL parser does.
        let host = ms_core::host_to_ascii(host).ok_or_else(|| SectionError::Idna {
            value: host.to_owned(),
            at: authority_at,
        })?;
        check_host(&host, authority_at)?;
        let port = match port_text {
            None => scheme.default_port(),
            Some(p) => parse_port(p).ok_or_else(|| SectionError::Invalid {
                what: "port",
                value: p.to_owned(),
                reason: "expected a decimal number from 1 to 65535",
                at: port_at,
            })?,
        };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path_and_query: tail.to_owned(),
        })
    }

    /// `ws` or `wss`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path and query as given (possibly empty).
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The host as an IP address, if it is one (a `%zone` is ignored).
    pub fn ip(&self) -> Option<IpAddr> {
        strip_zone(&self.host).parse().ok()
    }

    /// This URL as a section, e.g. `ws://127.0.0.1:8989`.
    ///
    /// Fails only for a hand-built host holding `;` or a control character.
    ///
    /// ```
    /// use ms_ws::{Scheme, WsUrl};
    /// let section = WsUrl::new(Scheme::Wss, "::1", 443, "").to_section()?;
    /// assert_eq!(section.as_str(), "wss://[::1]");
    /// # Ok::<(), ms_core::AddressError>(())
    /// ```
    pub fn to_section(&self) -> Result<Section, AddressError> {
        Section::new(self.to_string())
    }

    /// The URI for the HTTP upgrade request: the zone id is dropped (it means nothing to the
    /// server) and an empty path becomes `/`.
    pub(crate) fn request_uri(&self) -> String {
        let host = strip_zone(&self.host);
        let mut uri = format!("{}://", self.scheme);
        push_host(&mut uri, host);
        uri.push_str(&format!(":{}", self.port));
        if !self.path_and_query.starts_with('/') {
            uri.push('/');
        }
        uri.push_str(&self.path_and_query);
        uri
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("{}://", self.scheme);
        push_host(&mut out, &self.host);
        f.write_str(&out)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.path_and_query)
    }
}

fn push_host(out: &mut String, host: &str) {
    if host.contains(':') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
}

fn strip_zone(host: &str) -> &str {
    host.split_once('%').map_or(host, |(addr, _)| addr)
}

/// Splits `host[:port]` / `[v6][:port]`; returns the host, the port text, and its offset.
fn split_authority(
    authority: &str,
    base: usize,
) -> Result<(&str, Option<&str>, usize), SectionError> {
    if let Some(inner) = authority.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(SectionError::Invalid {
                what: "host",
                value: authority.to_owned(),
                reason: "'[' without a matching ']'",
                at: base,
            });
        };
        let host = &inner[..close];
        let after = &inner[close + 1..];
        let port_at = base + close + 3;
        if host.is_empty() || strip_zone(host).parse::<Ipv6Addr>().is_err() {
            return Err(SectionError::Invalid {
                what: "host",
                value: host.to_owned(),
                reason: "brackets must hold an IPv6 address",
                at: base + 1,
            });
        }
        return match after {
            "" => Ok((host, None, port_at)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port), port_at)),
                None => Err(SectionError::Unexpected {
                    value: after.to_owned(),
                    at: base + close + 2,
                }),
            },
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => {
            if port.contains(':') {
                return Err(SectionError::Invalid {
                    what: "host",
                    value: authority.to_owned(),
                    reason: "an IPv6 host must be written in brackets: ws://[::1]:8989",
                    at: base,
                });
            }
            Ok((host, Some(port), base + host.len() + 1))
        }
        None => Ok((authority, None, base + authority.len())),
    }
}

fn check_host(host: &str, at: usize) -> Result<(), SectionError> {
    if host.contains(':') {
        return Ok(()); // an IPv6 address, checked by `split_authority`
    }
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(SectionError::Invalid {
            what: "host",
            value: host.to_owned(),
            reason: "not a host name or IP address",
            at,
        })
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WsUrl, SectionError> {
        WsUrl::parse(&Section::new(text).unwrap())
    }

    #[test]
    fn parses_the_reference_cases() {
        // The `ws` entries of `address_parse_cases` in shs-vectors.json.
        let u = parse("ws://example.com").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.path_and_query()),
            ("example.com", 80, "")
        );
        let u = parse("ws://example.com:80").unwrap();
        assert_eq!((u.port(), u.to_string().as_str()), (80, "ws://example.com"));
        let u = parse("wss://example.com/path?x=1").unwrap();
        assert_eq!(u.scheme(), Scheme::Wss);
        assert_eq!(u.port(), 443);
        assert_eq!(u.path_and_query(), "/path?x=1");
        let u = parse("WS://Example.com:81/").unwrap();
        assert_eq!(u.to_string(), "ws://example.com:81/");
        let u = parse("ws://[::1]:8989").unwrap();
        assert_eq!(u.host(), "::1");
        assert_eq!(u.to_string(), "ws://[::1]:8989");
        assert!(matches!(
            parse("http://example.com"),
            Err(SectionError::WrongProtocol { .. })
        ));
        // The reference accepts these and dials localhost; they are errors here.
        assert!(parse("ws:example.com:8989").is_err());
        assert!(parse("ws:").is_err());
    }

    #[test]
    fn prints_default_ports_like_the_reference() {
        assert_eq!(
            WsUrl::new(Scheme::Wss, "example.com", 443, "").to_string(),
            "wss://example.com"
        );
        assert_eq!(
            WsUrl::new(Scheme::Ws, "example.com", 80, "").to_string(),
            "ws://example.com"
        );
        assert_eq!(
            WsUrl::new(Scheme::Ws, "example.com", 443, "").to_string(),
            "ws://example.com:443"
        );
        assert_eq!(
            WsUrl::new(Scheme::Wss, "localhost", 8989, "").to_string(),
            "wss://localhost:8989"
        );
    }

    #[test]
    fn keeps_ipv6_zones_like_the_reference() {
        let u = parse("ws://[fe80::1%eth0]:8080").unwrap();
        assert_eq!(u.host(), "fe80::1%eth0");
        assert_eq!(u.to_string(), "ws://[fe80::1%eth0]:8080");
        assert_eq!(u.request_uri(), "ws://[fe80::1]:8080/");
        assert_eq!(u.ip(), Some("fe80::1".parse().unwrap()));
    }

    #[test]
    fn rejects_malformed_urls_with_positions() {
        let err = parse("ws:example.com:8989").unwrap_err();
        assert!(err.to_string().contains("`//` is missing"), "{err}");
        assert!(matches!(
            parse("ws://"),
            Err(SectionError::Missing { what: "host", .. })
        ));
        assert!(matches!(
            parse("ws://:80"),
            Err(SectionError::Missing { what: "host", .. })
        ));
        for bad in [
            "ws://h:0",
            "ws://h:65536",
            "ws://h:x",
            "ws://h:",
            "ws://h:8o",
            "ws://user@h",
            "ws://[::1",
            "ws://[nope]:1",
            "ws://[::1]x",
            "ws://::1:8989",
            "ws://h/p#frag",
            "ws://h h",
            "ws://h/a b",
            "ws://h\u{200d}x",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        match parse("ws://h:99999") {
            Err(SectionError::Invalid { what, at, .. }) => {
                assert_eq!(what, "port");
                assert_eq!(at, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn converts_internationalized_hosts_like_the_reference() {
        // Node's `url.parse` (v20.20.2), which the reference's ws plugin uses, gives these.
        for (given, ascii) in [
            ("ws://exämple.org:8989", "ws://xn--exmple-cua.org:8989"),
            ("WSS://EXÄMPLE.org/p", "wss://xn--exmple-cua.org/p"),
            ("ws://faß.de", "ws://xn--fa-hia.de"),
        ] {
            let url = parse(given).unwrap();
            assert_eq!(url.to_string(), ascii, "{given}");
            assert_eq!(parse(ascii).unwrap(), url);
        }
        assert_eq!(
            parse("ws://a\u{200d}b.org:1").unwrap_err(),
            SectionError::Idna {
                value: "a\u{200d}b.org".into(),
                at: 5
            }
        );
    }

    #[test]
    fn round_trips_through_sections() {
        for text in [
            "ws://example.com",
            "wss://example.com:8443/a/b?c=d",
            "ws://[::1]:8989",
            "ws://127.0.0.1:1",
            "wss://h/?q",
        ] {
            let u = parse(text).unwrap();
            assert_eq!(u.to_string(), text);
            assert_eq!(WsUrl::parse(&u.to_section().unwrap()).unwrap(), u);
        }
    }

    #[test]
    fn request_uri_always_has_a_path_and_a_port() {
        assert_eq!(
            parse("ws://example.com").unwrap().request_uri(),
            "ws://example.com:80/"
        );
        assert_eq!(
            parse("wss://example.com?x").unwrap().request_uri(),
            "wss://example.com:443/?x"
        );
    }
}
