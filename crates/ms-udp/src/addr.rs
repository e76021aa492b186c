//! `udp:<host>:<port>` addresses.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ms_swarm::ParseAddrError;

/// The name of the address section: `udp:<ip>:<port>`.
pub const NAME: &str = "udp";

/// The address of a UDP swarm: an IP address and a port.
///
/// Its canonical text is `udp:<ip>:<port>`, written like the `net` plugin writes its addresses:
/// the **last** `:` separates the port, IPv6 is printed bare (`udp:::1:8008`,
/// `udp:fe80::1:9`), and brackets are accepted on input (`udp:[::1]:8008`). The host is an IP
/// literal, never a name: parsing does no DNS. An IPv4-mapped IPv6 address
/// (`::ffff:127.0.0.1`) is the IPv4 address, so a datagram from an IPv4 peer to a dual-stack
/// socket has the same source as one to an IPv4 socket. IPv6 zones (scope ids) and flow labels
/// are not kept: link-local IPv6 addresses cannot be told to (as `net` does not advertise them).
///
/// ```
/// use ms_udp::UdpAddr;
///
/// let a: UdpAddr = "udp:[::1]:8008".parse()?;
/// assert_eq!(a.to_string(), "udp:::1:8008");
/// assert_eq!(a, "udp:::1:8008".parse()?);
/// assert!("udp:localhost:8008".parse::<UdpAddr>().is_err()); // no DNS
/// # Ok::<(), ms_swarm::ParseAddrError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UdpAddr(SocketAddr);

impl UdpAddr {
    /// The address of `socket`, made canonical (IPv4-mapped IPv6 as IPv4, no zone or flow
    /// label).
    pub fn new(socket: SocketAddr) -> Self {
        Self(SocketAddr::new(socket.ip().to_canonical(), socket.port()))
    }

    /// The IP address and port.
    pub fn socket_addr(&self) -> SocketAddr {
        self.0
    }

    /// The IP address.
    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }
}

impl From<SocketAddr> for UdpAddr {
    fn from(socket: SocketAddr) -> Self {
        Self::new(socket)
    }
}

impl From<UdpAddr> for SocketAddr {
    fn from(addr: UdpAddr) -> Self {
        addr.0
    }
}

impl fmt::Display for UdpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAME}:{}:{}", self.0.ip(), self.0.port())
    }
}

impl FromStr for UdpAddr {
    type Err = ParseAddrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}

/// Parses `udp:<ip>:<port>` (see [`UdpAddr`]).
pub(crate) fn parse(text: &str) -> Result<UdpAddr, ParseAddrError> {
    let err = |reason: &str| ParseAddrError::new(text, reason);
    let rest = text
        .strip_prefix(NAME)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(|| err("not a udp address (udp:<ip>:<port>)"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| err("no port (udp:<ip>:<port>)"))?;
    let port = parse_port(port).ok_or_else(|| err("the port is not a number from 1 to 65535"))?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| err("an unclosed `[`"))?,
        None => host,
    };
    if host.is_empty() {
        return Err(err("no host"));
    }
    let ip: IpAddr = host.parse().map_err(|_| {
        err("the host is not an IP address (udp addresses take IP literals; nothing is resolved)")
    })?;
    if ip.is_unspecified() {
        return Err(err("the unspecified address cannot be told to"));
    }
    Ok(UdpAddr::new(SocketAddr::new(ip, port)))
}

/// A decimal port from 1 to 65535 in canonical form (no sign, no leading zero).
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> UdpAddr {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn prints_like_net_and_round_trips() {
        for (input, canonical) in [
            ("udp:127.0.0.1:8008", "udp:127.0.0.1:8008"),
            ("udp:::1:8008", "udp:::1:8008"),
            ("udp:[::1]:8008", "udp:::1:8008"),
            ("udp:[fd00:0:0::7]:1", "udp:fd00::7:1"),
            ("udp:::ffff:10.0.0.1:65535", "udp:10.0.0.1:65535"),
        ] {
            let a = ok(input);
            assert_eq!(a.to_string(), canonical);
            assert_eq!(ok(canonical), a);
        }
    }

    #[test]
    fn mapped_and_zoned_sockets_are_made_canonical() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5".parse().unwrap();
        assert_eq!(UdpAddr::new(mapped).to_string(), "udp:127.0.0.1:5");
        let zoned = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            9,
            7,
            3,
        ));
        assert_eq!(UdpAddr::new(zoned), ok("udp:fe80::1:9"));
    }

    #[test]
    fn rejects_what_is_not_a_udp_address() {
        for bad in [
            "",
            "udp",
            "udp:",
            "udp:127.0.0.1",
            "udp:127.0.0.1:",
            "udp:127.0.0.1:0",
            "udp:127.0.0.1:08008",
            "udp:127.0.0.1:+80",
            "udp:127.0.0.1:65536",
            "udp:127.0.0.1:99999999999999999999",
            "udp::8008",
            "udp:[::1:8008",
            "udp:[]:8008",
            "udp:localhost:8008",
            "udp:0.0.0.0:8008",
            "udp:::8008",
            "udp:127.0.0.01:8008",
            "net:127.0.0.1:8008",
            "UDP:127.0.0.1:8008",
            "udp:127.0.0.1:8008~shs:abc",
            "udp:fe80::1%2:8008",
        ] {
            assert!(parse(bad).is_err(), "`{bad}` parsed");
        }
    }
}
