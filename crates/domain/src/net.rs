//! Which network addresses Ferry may send requests to on a user's behalf
//! (webhook receivers), so that a URL cannot turn Ferry against the network it
//! runs in: loopback, the cloud's metadata service, private ranges.
//!
//! [`check_address`] classifies one address (IANA's special-purpose address
//! registries, RFC 6890 and its updates); an [`AddressPolicy`] admits
//! networks on purpose. [`check_host_spelling`] refuses IPv4 addresses
//! written in any form but dotted decimal (`2130706433`, `0x7f000001`,
//! `127.1`, `0177.0.0.1`), which URL parsers accept and people misread.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::RuleError;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `addr/prefix`, or a lone address (a network of one). The address
    /// must be the network's first (`10.0.0.1/8` is refused as ambiguous).
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| {
            RuleError::new(
                "cidr",
                format!("{s:?} is not an IP network such as 10.0.0.0/8 or fd00::/8"),
            )
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    RuleError::new(
                        "cidr",
                        format!("{s:?}: the prefix length must be 0 to {max}"),
                    )
                })?,
        };
        let net = Self { addr, prefix };
        if net.network() != addr {
            return Err(RuleError::new(
                "cidr",
                format!(
                    "{s:?} has host bits set; did you mean {}/{prefix}?",
                    net.network()
                ),
            ));
        }
        Ok(net)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Why an address is not one Ferry sends requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    Unspecified,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    UniqueLocal,
    Multicast,
    Broadcast,
    Documentation,
    Reserved,
    Ipv4Mapped,
    Ipv4Compatible,
}

impl Blocked {
    /// A stable rule code.
    pub fn rule(self) -> &'static str {
        match self {
            Self::Unspecified => "address.unspecified",
            Self::Loopback => "address.loopback",
            Self::Private => "address.private",
            Self::SharedAddressSpace => "address.shared",
            Self::LinkLocal => "address.link_local",
            Self::UniqueLocal => "address.unique_local",
            Self::Multicast => "address.multicast",
            Self::Broadcast => "address.broadcast",
            Self::Documentation => "address.documentation",
            Self::Reserved => "address.reserved",
            Self::Ipv4Mapped => "address.ipv4_mapped",
            Self::Ipv4Compatible => "address.ipv4_compatible",
        }
    }

    /// The kind of address, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::LinkLocal => "a link-local address (cloud metadata lives there)",
            Self::UniqueLocal => "a unique-local address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Reserved => "a reserved address",
            Self::Ipv4Mapped => "an IPv4-mapped IPv6 address",
            Self::Ipv4Compatible => "an IPv4-compatible IPv6 address",
        }
    }
}

fn in4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    u32::from(ip) & mask32(prefix) == u32::from(Ipv4Addr::from(net))
}

fn in6(ip: Ipv6Addr, net: u128, prefix: u8) -> bool {
    u128::from(ip) & mask128(prefix) == net
}

/// The IANA IPv4 special-purpose registry, less what is globally reachable.
fn check_v4(ip: Ipv4Addr) -> Result<(), Blocked> {
    let rules: &[([u8; 4], u8, Blocked)] = &[
        ([0, 0, 0, 0], 8, Blocked::Unspecified),
        ([10, 0, 0, 0], 8, Blocked::Private),
        ([100, 64, 0, 0], 10, Blocked::SharedAddressSpace),
        ([127, 0, 0, 0], 8, Blocked::Loopback),
        ([169, 254, 0, 0], 16, Blocked::LinkLocal),
        ([172, 16, 0, 0], 12, Blocked::Private),
        ([192, 0, 0, 0], 24, Blocked::Reserved),
        ([192, 0, 2, 0], 24, Blocked::Documentation),
        ([192, 88, 99, 0], 24, Blocked::Reserved),
        ([192, 168, 0, 0], 16, Blocked::Private),
        ([198, 18, 0, 0], 15, Blocked::Reserved),
        ([198, 51, 100, 0], 24, Blocked::Documentation),
        ([203, 0, 113, 0], 24, Blocked::Documentation),
        ([224, 0, 0, 0], 4, Blocked::Multicast),
        ([255, 255, 255, 255], 32, Blocked::Broadcast),
        ([240, 0, 0, 0], 4, Blocked::Reserved),
    ];
    match rules.iter().find(|(net, p, _)| in4(ip, *net, *p)) {
        Some((_, _, why)) => Err(*why),
        None => Ok(()),
    }
}

/// IPv6: only global unicast (`2000::/3`) outside the special-purpose
/// blocks; IPv4 embedded by NAT64 or 6to4 is checked as IPv4.
fn check_v6(ip: Ipv6Addr) -> Result<(), Blocked> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Err(Blocked::Unspecified);
    }
    if ip.is_loopback() {
        return Err(Blocked::Loopback);
    }
    if in6(ip, 0xffff << 32, 96) {
        return Err(Blocked::Ipv4Mapped);
    }
    if in6(ip, 0, 96) {
        return Err(Blocked::Ipv4Compatible);
    }
    // NAT64, well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
    if in6(ip, 0x0064_ff9b << 96, 96) {
        return check_v4(Ipv4Addr::from((bits & 0xffff_ffff) as u32));
    }
    // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if in6(ip, 0x2002 << 112, 16) {
        return check_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    let rules: &[(u128, u8, Blocked)] = &[
        (0xfc00 << 112, 7, Blocked::UniqueLocal),
        (0xfe80 << 112, 10, Blocked::LinkLocal),
        (0xfec0 << 112, 10, Blocked::Reserved),
        (0xff00 << 112, 8, Blocked::Multicast),
        (0x2001_0db8 << 96, 32, Blocked::Documentation),
        (0x3fff << 112, 20, Blocked::Documentation),
        // Local-use NAT64 (RFC 8215), discard-only (RFC 6666), and the
        // IETF protocol assignments (Teredo, ORCHID, benchmarking).
        (0x0064_ff9b_0001 << 80, 48, Blocked::Reserved),
        (0x0100 << 112, 64, Blocked::Reserved),
        (0x2001 << 112, 23, Blocked::Reserved),
    ];
    if let Some((_, _, why)) = rules.iter().find(|(net, p, _)| in6(ip, *net, *p)) {
        return Err(*why);
    }
    if !in6(ip, 0x2000 << 112, 3) {
        return Err(Blocked::Reserved);
    }
    Ok(())
}

/// Whether Ferry may connect to `ip` on a user's behalf, by address alone.
pub fn check_address(ip: IpAddr) -> Result<(), Blocked> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

/// The networks admitted although [`check_address`] refuses them
/// (configuration: internal receivers on purpose; loopback for `ferry dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow: Vec<IpNetwork>,
}

/// An address refused by an [`AddressPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {} and not in the allowed networks", why.describe())]
pub struct AddressRefused {
    pub ip: IpAddr,
    pub why: Blocked,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNetwork>) -> Self {
        Self { allow }
    }

    /// Loopback admitted (`ferry dev`).
    pub fn loopback() -> Self {
        Self::new(vec![
            IpNetwork {
                addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            IpNetwork {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ])
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), AddressRefused> {
        match check_address(ip) {
            Ok(()) => Ok(()),
            Err(_) if self.allow.iter().any(|n| n.contains(ip)) => Ok(()),
            Err(why) => Err(AddressRefused { ip, why }),
        }
    }
}

/// The host of a URL as written, between `scheme://` (and any `user@`) and
/// the port or path; `None` for a URL without an authority.
pub fn raw_host(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return Some(host.find(']').map_or(host, |i| &host[..=i]));
    }
    Some(host.rsplit_once(':').map_or(host, |(h, _)| h))
}

/// Refuses a URL whose host a URL parser read as an IPv4 address
/// (`parsed_host`, dotted decimal) from another spelling: decimal, hex or
/// octal numbers, fewer than four parts, a trailing dot, percent-encoding.
pub fn check_host_spelling(raw_url: &str, parsed_host: Ipv4Addr) -> Result<(), RuleError> {
    let written = raw_host(raw_url).unwrap_or_default();
    if written == parsed_host.to_string() {
        return Ok(());
    }
    Err(RuleError::new(
        "address.non_canonical",
        format!(
            "the host {written:?} is the IPv4 address {parsed_host} spelt another way; \
             write addresses in dotted decimal"
        ),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn why(s: &str) -> Option<Blocked> {
        check_address(s.parse().unwrap()).err()
    }

    #[test]
    fn special_purpose_addresses_are_refused() {
        for (ip, expected) in [
            ("127.0.0.1", Blocked::Loopback),
            ("127.255.0.9", Blocked::Loopback),
            ("0.0.0.0", Blocked::Unspecified),
            ("10.0.0.1", Blocked::Private),
            ("172.31.255.255", Blocked::Private),
            ("192.168.1.1", Blocked::Private),
            ("100.64.0.1", Blocked::SharedAddressSpace),
            ("169.254.169.254", Blocked::LinkLocal),
            ("224.0.0.1", Blocked::Multicast),
            ("255.255.255.255", Blocked::Broadcast),
            ("192.0.2.10", Blocked::Documentation),
            ("203.0.113.5", Blocked::Documentation),
            ("198.18.0.1", Blocked::Reserved),
            ("240.0.0.1", Blocked::Reserved),
            ("::", Blocked::Unspecified),
            ("::1", Blocked::Loopback),
            ("fd00:ec2::254", Blocked::UniqueLocal),
            ("fc00::1", Blocked::UniqueLocal),
            ("fe80::1", Blocked::LinkLocal),
            ("ff02::1", Blocked::Multicast),
            ("2001:db8::1", Blocked::Documentation),
            ("::ffff:127.0.0.1", Blocked::Ipv4Mapped),
            ("::ffff:8.8.8.8", Blocked::Ipv4Mapped),
            ("::127.0.0.1", Blocked::Ipv4Compatible),
            ("64:ff9b::127.0.0.1", Blocked::Loopback),
            ("64:ff9b::a9fe:a9fe", Blocked::LinkLocal),
            ("2002:7f00:1::", Blocked::Loopback),
            ("2001::1", Blocked::Reserved),
            ("100::1", Blocked::Reserved),
            ("4000::1", Blocked::Reserved),
        ] {
            assert_eq!(why(ip), Some(expected), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn the_policy_admits_allowed_networks() {
        let policy = AddressPolicy::new(vec![IpNetwork::parse("10.20.0.0/16").unwrap()]);
        assert!(policy.check("10.20.3.4".parse().unwrap()).is_ok());
        let refused = policy.check("10.21.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(refused.why, Blocked::Private);
        assert!(
            refused
                .to_string()
                .contains("10.21.0.1 is a private address")
        );
        let dev = AddressPolicy::loopback();
        assert!(dev.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(dev.check("::1".parse().unwrap()).is_ok());
        assert!(dev.check("169.254.169.254".parse().unwrap()).is_err());
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(
            IpNetwork::parse("fd00::/8").unwrap().to_string(),
            "fd00::/8"
        );
        assert_eq!(
            IpNetwork::parse("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "nope", "::/129", "10.0.0.0/x"] {
            assert_eq!(IpNetwork::parse(bad).unwrap_err().rule, "cidr", "{bad}");
        }
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn ipv4_must_be_dotted_decimal() {
        let lo = Ipv4Addr::LOCALHOST;
        assert!(check_host_spelling("http://127.0.0.1:8080/x", lo).is_ok());
        assert!(check_host_spelling("http://u@127.0.0.1/", lo).is_ok());
        for raw in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
            "http://%31%32%37.0.0.1/",
        ] {
            assert_eq!(
                check_host_spelling(raw, lo).unwrap_err().rule,
                "address.non_canonical",
                "{raw}"
            );
        }
        assert_eq!(raw_host("https://[::1]:8443/a"), Some("[::1]"));
        assert_eq!(raw_host("https://h.example?x"), Some("h.example"));
    }
}
