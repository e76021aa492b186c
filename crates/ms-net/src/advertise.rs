//! Which `net:` sections a listener announces for a scope.
//!
//! The rule (see the crate docs): `external` hosts for `public` when given; a concrete bind
//! address for every scope it is reachable from; for a wildcard bind, the interface addresses
//! whose own scope is the one asked for. The wildcard itself is never announced. Interfaces are
//! read at every call, so an address that appears later (DHCP, a VPN) is picked up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ms_core::Scope;

/// The hosts a listener bound to `local` announces for `scope` (reading the interfaces only
/// when the rule needs them), by the rules in the [crate docs](crate#what-it-advertises):
/// IP addresses as text (IPv6 bare) or the `external` names. `dual_stack` says whether a `[::]`
/// socket also takes IPv4. For transports that bind their own sockets on `net:`'s options (a
/// UDP transport, for one); a TCP listener has [`NetListener::advertised_hosts`](crate::NetListener::advertised_hosts).
///
/// ```
/// use ms_core::Scope;
///
/// let local = "127.0.0.1:8008".parse().unwrap();
/// assert_eq!(ms_net::advertised_hosts(local, false, &[], Scope::Device), ["127.0.0.1"]);
/// assert!(ms_net::advertised_hosts(local, false, &[], Scope::Public).is_empty());
/// ```
pub fn advertised_hosts(
    local: SocketAddr,
    dual_stack: bool,
    external: &[String],
    scope: Scope,
) -> Vec<String> {
    let interfaces = if local.ip().is_unspecified() && external_is_not_used(external, scope) {
        match if_addrs::get_if_addrs() {
            Ok(list) => list.iter().map(|i| i.ip()).collect(),
            Err(error) => {
                tracing::warn!(%error, "net: cannot list network interfaces");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    select(local, dual_stack, external, scope, &interfaces)
}

fn external_is_not_used(external: &[String], scope: Scope) -> bool {
    external.is_empty() || scope != Scope::Public
}

/// The hosts to announce, IPv4 first, without duplicates.
fn select(
    local: SocketAddr,
    dual_stack: bool,
    external: &[String],
    scope: Scope,
    interfaces: &[IpAddr],
) -> Vec<String> {
    if scope == Scope::Public && !external.is_empty() {
        return external.to_vec();
    }
    let bound = local.ip();
    if !bound.is_unspecified() {
        let bound = bound.to_canonical();
        return if reachable(bound, scope) {
            vec![bound.to_string()]
        } else {
            Vec::new()
        };
    }
    let family_ok = |ip: &IpAddr| match (bound, ip) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => true,
        (IpAddr::V6(_), IpAddr::V4(_)) => dual_stack,
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    };
    let mut ips: Vec<IpAddr> = interfaces
        .iter()
        .filter(|ip| family_ok(ip))
        .filter(|ip| !is_ipv6_link_local(ip))
        .filter(|ip| Scope::of_ip(**ip) == scope)
        .copied()
        .collect();
    if ips.is_empty() && scope == Scope::Device {
        // No interface list (or no loopback in it): loopback is there all the same.
        if bound.is_ipv4() || dual_stack {
            ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        if bound.is_ipv6() {
            ips.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
    }
    // Stable: IPv4 first (the reference dials the first alternative only, and IPv4 works on
    // more networks), otherwise in the system's order.
    ips.sort_by_key(|ip| ip.is_ipv6());
    let mut hosts: Vec<String> = Vec::new();
    for ip in ips {
        let host = ip.to_string();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// Whether a peer in `scope` can reach a listener bound to `ip`: any local address from the
/// device itself, anything but loopback from the local network, only a public address from
/// everywhere.
fn reachable(ip: IpAddr, scope: Scope) -> bool {
    match scope {
        Scope::Device => true,
        Scope::Local => !ms_core::scope::is_loopback(ip),
        Scope::Public => Scope::of_ip(ip) == Scope::Public,
    }
}

/// `fe80::/10`: printed without its zone (as the reference does), such an address could not be
/// dialled, so it is not announced.
fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const MACHINE: &[&str] = &[
        "127.0.0.1",
        "::1",
        "192.168.1.7",
        "fe80::1",
        "fd00::7",
        "93.184.216.34",
        "2001:db8::7",
    ];

    fn pick(bind: &str, dual: bool, external: &[&str], scope: Scope) -> Vec<String> {
        let external: Vec<String> = external.iter().map(|s| s.to_string()).collect();
        select(bind.parse().unwrap(), dual, &external, scope, &ips(MACHINE))
    }

    #[test]
    fn ipv4_wildcard_announces_ipv4_interfaces_by_scope() {
        assert_eq!(pick("0.0.0.0:1", false, &[], Scope::Device), ["127.0.0.1"]);
        assert_eq!(pick("0.0.0.0:1", false, &[], Scope::Local), ["192.168.1.7"]);
        assert_eq!(
            pick("0.0.0.0:1", false, &[], Scope::Public),
            ["93.184.216.34"]
        );
    }

    #[test]
    fn dual_stack_wildcard_announces_both_families_ipv4_first_without_link_local() {
        assert_eq!(
            pick("[::]:1", true, &[], Scope::Device),
            ["127.0.0.1", "::1"]
        );
        assert_eq!(
            pick("[::]:1", true, &[], Scope::Local),
            ["192.168.1.7", "fd00::7"]
        );
        assert_eq!(pick("[::]:1", false, &[], Scope::Public), ["2001:db8::7"]);
    }

    #[test]
    fn external_replaces_the_public_list_only() {
        assert_eq!(
            pick(
                "0.0.0.0:1",
                false,
                &["a.example", "b.example"],
                Scope::Public
            ),
            ["a.example", "b.example"]
        );
        assert_eq!(
            pick("0.0.0.0:1", false, &["a.example"], Scope::Local),
            ["192.168.1.7"]
        );
    }

    #[test]
    fn concrete_bind_is_announced_where_reachable() {
        assert_eq!(
            pick("127.0.0.1:1", false, &[], Scope::Device),
            ["127.0.0.1"]
        );
        assert!(pick("127.0.0.1:1", false, &[], Scope::Local).is_empty());
        assert_eq!(
            pick("192.168.1.7:1", false, &[], Scope::Device),
            ["192.168.1.7"]
        );
        assert_eq!(
            pick("192.168.1.7:1", false, &[], Scope::Local),
            ["192.168.1.7"]
        );
        assert!(pick("192.168.1.7:1", false, &[], Scope::Public).is_empty());
        assert_eq!(pick("[::1]:1", false, &[], Scope::Device), ["::1"]);
    }

    #[test]
    fn device_falls_back_to_loopback_without_an_interface_list() {
        let none: Vec<IpAddr> = Vec::new();
        let got = select("[::]:1".parse().unwrap(), true, &[], Scope::Device, &none);
        assert_eq!(got, ["127.0.0.1", "::1"]);
        let got = select(
            "0.0.0.0:1".parse().unwrap(),
            false,
            &[],
            Scope::Local,
            &none,
        );
        assert!(got.is_empty());
    }

    #[test]
    fn ipv6_hosts_are_bare() {
        let got = advertised_hosts("[::1]:8008".parse().unwrap(), false, &[], Scope::Device);
        assert_eq!(got, ["::1"]);
    }
}
