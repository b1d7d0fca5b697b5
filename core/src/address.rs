//! The backend address policy: which IP addresses a proxy may open upstream connections to.
//!
//! A route's backend can name any host, and a name can resolve to any address: cloud metadata
//! (`169.254.169.254`), the proxy's own admin port on loopback, the node's kubelet. The policy
//! judges an address by its numeric value, after resolution, so a DNS name, an IPv4-mapped IPv6
//! spelling (`::ffff:127.0.0.1`) or a decimal spelling (`2130706433`) is judged like the address
//! it stands for. The proxy applies it to every resolved address at connect time; the controller
//! applies it early to backends written as literal addresses, so such a route is reported instead
//! of failing at request time.
//!
//! The order of the rules (first that applies decides):
//!
//! 1. the proxy's own listeners (its listening port on a loopback, unspecified or listening
//!    address) are always refused: a route to them is a loop or exposes the admin port;
//! 2. the operator's `allow` and `deny` CIDRs: the most specific entry covering the address
//!    (longest prefix) decides, and `deny` wins a tie;
//! 3. the mode's default refusals ([`Mode::Cluster`]: loopback, link-local, unspecified;
//!    [`Mode::Standalone`]: link-local only);
//! 4. everything else is allowed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A CIDR block (`10.0.0.0/8`, `::1/128`, or a bare address). An IPv4-mapped or -compatible IPv6
/// block of prefix 96 or more (`::ffff:127.0.0.0/104`) is the IPv4 block it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid CIDR {0:?}")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| err())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| err())?
            }
            Some(_) => return Err(err()),
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Self::new(network, prefix))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// The block of `prefix` bits at `network` (`prefix` is capped at the family's width).
    pub const fn new(network: IpAddr, prefix: u8) -> Self {
        if let IpAddr::V6(v6) = network
            && prefix >= 96
            && let Some(v4) = embedded_v4(v6)
        {
            return Self {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            };
        }
        let max = if network.is_ipv4() { 32 } else { 128 };
        Self {
            network,
            prefix: if prefix > max { max } else { prefix },
        }
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(network: Ipv6Addr, prefix: u8) -> Self {
        Self {
            network: IpAddr::V6(network),
            prefix,
        }
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (compared in its [`canonical`] form) is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses `a,b,c` CIDR lists (empty items ignored).
pub fn parse_cidrs(list: &str) -> Result<Vec<Cidr>, CidrError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::from_str)
        .collect()
}

/// The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`, except
/// `::` and `::1`) IPv6 address carries.
const fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = v6.to_bits();
    if bits >> 32 == 0 && bits > 1 {
        let [a, b, c, d] = (bits as u32).to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

/// The address as the policy judges it: an IPv4-mapped or -compatible IPv6 address becomes the
/// IPv4 address it carries (a dual-stack socket connecting to `::ffff:127.0.0.1` reaches
/// `127.0.0.1`); every other address is itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IP address a URL or endpoint host stands for, if it is a literal: a bracketed or bare
/// IPv6 address, or an IPv4 address in any spelling the system resolver (`inet_aton`) and
/// WHATWG URL parsers accept — one to four parts, each decimal, octal (leading `0`) or hex
/// (`0x`), the last part filling the remaining bytes (`127.1`, `2130706433`, `0177.0.0.1`,
/// `0x7f.0.0.1`), with an optional trailing dot. `None` for a host name.
pub fn parse_host_ip(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    parse_inet_aton(host.strip_suffix('.').unwrap_or(host)).map(IpAddr::V4)
}

fn parse_inet_aton(host: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u64; 4];
    let mut count = 0;
    for part in host.split('.') {
        if count == 4 {
            return None;
        }
        parts[count] = parse_number(part)?;
        count += 1;
    }
    let (init, last) = parts[..count].split_at(count.checked_sub(1)?);
    if init.iter().any(|p| *p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - init.len() as u32);
    if last[0] >> last_bits != 0 {
        return None;
    }
    let mut value = last[0];
    for (i, p) in init.iter().enumerate() {
        value |= p << (24 - 8 * i as u32);
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if part.is_empty() || digits.len() > 12 {
        return None;
    }
    if digits.is_empty() {
        // `0x` alone is 0 for inet_aton and WHATWG alike.
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Which default refusals apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tollgate-proxy` configured by the operator: loopback, link-local and unspecified
    /// addresses are refused.
    Cluster,
    /// `tollgate-controller standalone`: loopback (and the unspecified address, which reaches
    /// the host itself) stays allowed, since serving local upstreams is its use; link-local is
    /// refused.
    Standalone,
}

/// Why an address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A loopback address (`127.0.0.0/8`, `::1`).
    Loopback,
    /// A link-local address (`169.254.0.0/16`, `fe80::/10`): cloud metadata lives here.
    LinkLocal,
    /// An unspecified address (`0.0.0.0/8`, `::`): connecting to it reaches the host itself.
    Unspecified,
    /// One of the proxy's own listening ports on a local address.
    OwnListener(u16),
    /// Covered by an operator's deny-list entry.
    Denied(Cidr),
}

impl Refusal {
    /// A short stable name, for log fields and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::OwnListener(_) => "own-listener",
            Self::Denied(_) => "denied",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loopback => f.write_str("a loopback address"),
            Self::LinkLocal => f.write_str("a link-local address"),
            Self::Unspecified => f.write_str("an unspecified address"),
            Self::OwnListener(port) => write!(f, "the proxy's own listening port {port}"),
            Self::Denied(cidr) => write!(f, "in the backend deny-list entry {cidr}"),
        }
    }
}

/// Every default refusal: the block, its category, and whether standalone mode refuses it too
/// (cluster mode refuses them all).
const DEFAULT_REFUSALS: [(Cidr, Refusal, bool); 6] = [
    (Cidr::v4(127, 0, 0, 0, 8), Refusal::Loopback, false),
    (Cidr::v6(Ipv6Addr::LOCALHOST, 128), Refusal::Loopback, false),
    (Cidr::v4(169, 254, 0, 0, 16), Refusal::LinkLocal, true),
    (
        Cidr::v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        Refusal::LinkLocal,
        true,
    ),
    (Cidr::v4(0, 0, 0, 0, 8), Refusal::Unspecified, false),
    (
        Cidr::v6(Ipv6Addr::UNSPECIFIED, 128),
        Refusal::Unspecified,
        false,
    ),
];

/// The default refusals of `mode`, as CIDR blocks with their category.
pub fn default_refusals(mode: Mode) -> impl Iterator<Item = (Cidr, Refusal)> {
    DEFAULT_REFUSALS
        .iter()
        .filter(move |(_, _, standalone)| mode == Mode::Cluster || *standalone)
        .map(|(cidr, refusal, _)| (*cidr, *refusal))
}

/// Which backend addresses a proxy may connect to. See the module documentation for the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPolicy {
    mode: Mode,
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    own: Vec<SocketAddr>,
}

impl AddressPolicy {
    /// The defaults of `mode`, with no allow- or deny-list and no listener of its own.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            allow: Vec::new(),
            deny: Vec::new(),
            own: Vec::new(),
        }
    }

    /// `tollgate-proxy`'s defaults.
    pub fn cluster() -> Self {
        Self::new(Mode::Cluster)
    }

    /// `tollgate-controller standalone`'s defaults.
    pub fn standalone() -> Self {
        Self::new(Mode::Standalone)
    }

    /// Adds allow-list entries: they override the default refusals for the addresses they cover.
    #[must_use]
    pub fn allow(mut self, cidrs: impl IntoIterator<Item = Cidr>) -> Self {
        self.allow.extend(cidrs);
        self
    }

    /// Adds deny-list entries: refused on top of the defaults.
    #[must_use]
    pub fn deny(mut self, cidrs: impl IntoIterator<Item = Cidr>) -> Self {
        self.deny.extend(cidrs);
        self
    }

    /// Records the proxy's own listening addresses (after binding, with their real ports): their
    /// ports are refused on loopback, unspecified and their own addresses, whatever the lists say.
    #[must_use]
    pub fn own_listeners(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.own.extend(addrs.into_iter().filter(|a| a.port() != 0));
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn allowed(&self) -> &[Cidr] {
        &self.allow
    }

    pub fn denied(&self) -> &[Cidr] {
        &self.deny
    }

    /// Judges a connection to `addr`: the own-listener rule, then [`Self::judge_ip`].
    pub fn judge(&self, addr: SocketAddr) -> Result<(), Refusal> {
        let ip = canonical(addr.ip());
        for own in &self.own {
            let local = ip.is_loopback() || ip.is_unspecified() || ip == canonical(own.ip());
            if own.port() == addr.port() && local {
                return Err(Refusal::OwnListener(own.port()));
            }
        }
        self.judge_ip(ip)
    }

    /// Judges a connection once open, by its two ends: a connection whose local address is its
    /// peer's address stayed on this host, so its port must not be one of the proxy's own
    /// listeners (this catches the host's other addresses, which [`Self::judge`] cannot know).
    pub fn judge_connected(&self, local: SocketAddr, peer: SocketAddr) -> Result<(), Refusal> {
        let same_host = canonical(local.ip()) == canonical(peer.ip());
        match self.own.iter().find(|own| own.port() == peer.port()) {
            Some(own) if same_host => Err(Refusal::OwnListener(own.port())),
            _ => Ok(()),
        }
    }

    /// Judges an address by the lists and the mode's defaults (ports play no part).
    pub fn judge_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        let most_specific = |list: &[Cidr]| {
            list.iter()
                .filter(|c| c.contains(ip))
                .max_by_key(|c| c.prefix)
                .copied()
        };
        match (most_specific(&self.allow), most_specific(&self.deny)) {
            (Some(allow), Some(deny)) if allow.prefix > deny.prefix => return Ok(()),
            (_, Some(deny)) => return Err(Refusal::Denied(deny)),
            (Some(_), None) => return Ok(()),
            (None, None) => {}
        }
        match default_refusals(self.mode).find(|(cidr, _)| cidr.contains(ip)) {
            Some((_, refusal)) => Err(refusal),
            None => Ok(()),
        }
    }

    /// A one-line summary for the start-up log.
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            Mode::Cluster => "cluster defaults (loopback, link-local, unspecified refused)",
            Mode::Standalone => "standalone defaults (link-local refused, loopback allowed)",
        };
        let list = |l: &[Cidr]| {
            if l.is_empty() {
                "none".to_owned()
            } else {
                l.iter().map(Cidr::to_string).collect::<Vec<_>>().join(",")
            }
        };
        format!(
            "{mode}; allow {}; deny {}",
            list(&self.allow),
            list(&self.deny)
        )
    }
}

#[cfg(test)]
#[path = "address_tests.rs"]
mod tests;
