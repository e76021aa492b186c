//! Scopes: from where an address is reachable.
//!
//! A node announces a different address per scope. `device` addresses work only on the same
//! machine (loopback, unix sockets), `local` ones on the same network (private ranges), `public`
//! ones from anywhere. The scope is never written into the address; it only chooses which
//! stacks a node announces (as `stringify(scope)` does in the reference).
//!
//! The private ranges are those of the reference's `multiserver-scopes` (through the `ip`
//! package's `isPrivate`): `10/8`, `172.16/12`, `192.168/16`, `169.254/16`, `127/8`, `fc00::/7`,
//! `fe80::/10`, `::1` and `::`, IPv4-mapped IPv6 included.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// From where an address is reachable.
///
/// ```
/// use ms_core::Scope;
/// assert_eq!("private".parse::<Scope>()?, Scope::Local);
/// assert_eq!(Scope::of_ip("127.0.0.1".parse()?), Scope::Device);
/// assert_eq!(Scope::of_ip("192.168.1.7".parse()?), Scope::Local);
/// assert_eq!(Scope::of_ip("93.184.216.34".parse()?), Scope::Public);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The same machine.
    Device,
    /// The same local network.
    Local,
    /// Anywhere.
    Public,
}

impl Scope {
    /// All scopes, narrowest first.
    pub const ALL: [Scope; 3] = [Scope::Device, Scope::Local, Scope::Public];

    /// The name used in configuration and by the reference.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Device => "device",
            Scope::Local => "local",
            Scope::Public => "public",
        }
    }

    /// The narrowest scope an IP address belongs to: loopback is `device`, the private ranges
    /// are `local`, everything else is `public`.
    pub fn of_ip(ip: IpAddr) -> Scope {
        if is_loopback(ip) {
            Scope::Device
        } else if is_private(ip) {
            Scope::Local
        } else {
            Scope::Public
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not `device`, `local`, `private` or `public`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope `{0}` (expected device, local, private or public)")]
pub struct InvalidScope(pub String);

impl FromStr for Scope {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "device" => Ok(Scope::Device),
            "local" | "private" => Ok(Scope::Local),
            "public" => Ok(Scope::Public),
            other => Err(InvalidScope(other.to_owned())),
        }
    }
}

/// A set of scopes, as a transport serves them.
///
/// ```
/// use ms_core::{Scope, Scopes};
/// let scopes = Scopes::DEVICE | Scopes::LOCAL;
/// assert!(scopes.contains(Scope::Local));
/// assert!(!scopes.contains(Scope::Public));
/// assert_eq!(scopes.to_string(), "device,local");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// No scope.
    pub const NONE: Scopes = Scopes(0);
    /// Only `device`.
    pub const DEVICE: Scopes = Scopes(1);
    /// Only `local`.
    pub const LOCAL: Scopes = Scopes(2);
    /// Only `public`.
    pub const PUBLIC: Scopes = Scopes(4);
    /// Every scope.
    pub const ALL: Scopes = Scopes(7);

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & Scopes::from(scope).0 != 0
    }

    /// Whether the set holds no scope.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set is exactly `device`.
    pub fn is_device_only(self) -> bool {
        self == Scopes::DEVICE
    }

    /// The scopes in the set, narrowest first.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Device => Scopes::DEVICE,
            Scope::Local => Scopes::LOCAL,
            Scope::Public => Scopes::PUBLIC,
        }
    }
}

/// The scopes in the set, narrowest first, so a set goes wherever a list of scopes does.
///
/// ```
/// use ms_core::{Scope, Scopes};
/// let list: Vec<Scope> = (Scopes::DEVICE | Scopes::PUBLIC).into_iter().collect();
/// assert_eq!(list, [Scope::Device, Scope::Public]);
/// ```
impl IntoIterator for Scopes {
    type Item = Scope;
    type IntoIter = std::vec::IntoIter<Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter().collect::<Vec<_>>().into_iter()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Scopes::NONE, |acc, s| acc | s.into())
    }
}

impl std::ops::BitOr for Scopes {
    type Output = Scopes;
    fn bitor(self, rhs: Scopes) -> Scopes {
        Scopes(self.0 | rhs.0)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

/// Whether `ip` is a loopback address (`127/8`, `::1`, or IPv4-mapped loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Whether `ip` is in a range the reference counts as private (see the module docs).
///
/// Loopback counts as private, as in the reference.
pub fn is_private(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private() || ip.is_link_local()
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10, link local
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::of_ip(s.parse().unwrap())
    }

    #[test]
    fn classifies_addresses_like_the_reference() {
        for s in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(scope(s), Scope::Device, "{s}");
        }
        for s in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.1.1",
            "fd00::2",
            "fc00::1",
            "fe80::1",
            "::",
            "::ffff:192.168.1.1",
        ] {
            assert_eq!(scope(s), Scope::Local, "{s}");
        }
        // CGNAT and documentation ranges count as public in the reference.
        for s in [
            "8.8.8.8",
            "172.32.0.1",
            "100.64.0.1",
            "192.0.2.2",
            "2001:db8::1",
        ] {
            assert_eq!(scope(s), Scope::Public, "{s}");
        }
    }

    #[test]
    fn parses_scope_names() {
        assert_eq!("device".parse::<Scope>().unwrap(), Scope::Device);
        assert_eq!("private".parse::<Scope>().unwrap(), Scope::Local);
        assert!("Public".parse::<Scope>().is_err());
    }
}
