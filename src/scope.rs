//! Where a client layer may send the token: which schemes, which hosts.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use http::uri::Authority;

use crate::error::InvalidHost;

/// A host the token may go to: one host (`ai.jocloud.com`, `127.0.0.1`, `[::1]`), or a domain
/// and every name under it (`*.jocloud.com` matches `jocloud.com`, `ai.jocloud.com` and
/// `a.b.jocloud.com`), with an optional port (`127.0.0.1:8080`) that the request must then use.
///
/// Parse it from a string, or make it from an address (`SocketAddr`, `IpAddr`) for a local
/// mock; an invalid pattern is an [`InvalidHost`] error, never a panic:
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use jocloud_auth::token_auth::HostPattern;
///
/// let mock: HostPattern = "127.0.0.1:8080".parse()?;
/// assert_eq!(mock, HostPattern::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))));
/// assert!("https://ai.jocloud.com@evil.example/".parse::<HostPattern>().is_err());
/// # Ok::<(), jocloud_auth::InvalidHost>(())
/// ```
///
/// A host is a DNS name (letters, digits, `-` and `_` in dot-separated labels) or an IP
/// address, IPv6 in brackets. Hosts compare case-insensitively, and a name with a trailing dot
/// (`ai.jocloud.com.`, the absolute form DNS resolves alike) is the same host as without.
/// Without a port, any port matches; with one, only that port (a URI without a port has its
/// scheme's default, 80 or 443).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// Lowercase, without the `*.` of a domain pattern or a trailing dot.
    host: Box<str>,
    /// The domain and every name under it, or the host alone.
    subdomains: bool,
    /// `None`: any port.
    port: Option<u16>,
}

impl HostPattern {
    /// Parses `pattern`: see the [type docs](Self).
    pub fn new(pattern: &str) -> Result<Self, InvalidHost> {
        let invalid = |reason| InvalidHost::new(pattern, reason);
        let (subdomains, rest) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if rest.contains(['/', '@', '?', '#', '*']) {
            return Err(invalid("a host pattern is a host and an optional port, nothing else"));
        }
        let authority: Authority = rest.parse().map_err(|_| invalid("not a host name or IP address"))?;
        let host = authority.host();
        if !is_host(host) {
            return Err(invalid("not a host name or IP address"));
        }
        // What follows the host is nothing, or a port that fits in 16 bits.
        let port = &authority.as_str()[host.len()..];
        if !port.is_empty() && port[1..].parse::<u16>().is_err() {
            return Err(invalid("the port is not a number from 0 to 65535"));
        }
        if subdomains && host.starts_with('[') {
            return Err(invalid("an IP address has no subdomains"));
        }
        let host = host.strip_suffix('.').unwrap_or(host);
        Ok(Self { host: host.to_ascii_lowercase().into(), subdomains, port: authority.port_u16() })
    }

    /// Whether a request to `target` matches.
    fn matches(&self, target: &Target<'_>) -> bool {
        self.port.is_none_or(|port| target.port == Some(port)) && self.matches_host(target.host)
    }

    /// Whether `host`, a valid host (see [`is_host`]), is this one or, for a domain, a name
    /// under it.
    fn matches_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
        let own = self.host.as_bytes();
        match host.len().checked_sub(own.len()) {
            Some(0) => same_host(host, own),
            // A valid host has no empty label: what comes before the dot is a name.
            Some(start) => self.subdomains && host[start - 1] == b'.' && same_host(&host[start..], own),
            None => false,
        }
    }

    fn domain(host: &'static str) -> Self {
        Self { host: host.into(), subdomains: true, port: None }
    }

    fn host(host: &'static str) -> Self {
        Self { host: host.into(), subdomains: false, port: None }
    }
}

impl FromStr for HostPattern {
    type Err = InvalidHost;

    fn from_str(pattern: &str) -> Result<Self, InvalidHost> {
        Self::new(pattern)
    }
}

impl From<IpAddr> for HostPattern {
    /// The address, any port.
    fn from(ip: IpAddr) -> Self {
        let host = match ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Self { host: host.into(), subdomains: false, port: None }
    }
}

impl From<SocketAddr> for HostPattern {
    /// The address and its port, as a loopback mock listens on.
    fn from(addr: SocketAddr) -> Self {
        Self { port: Some(addr.port()), ..Self::from(addr.ip()) }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subdomains {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({self})")
    }
}

/// Whether `host` is a DNS name (labels of letters, digits, `-` and `_`, none empty, with an
/// optional trailing dot) or a bracketed IPv6 address. An IPv4 address is a name of digits.
/// A URI's host may be anything RFC 3986 allows (`a(b),c`), which no DNS name can be: such a
/// request gets no token.
fn is_host(host: &str) -> bool {
    if let Some(ip) = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return ip.parse::<Ipv6Addr>().is_ok();
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_byte = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'_';
    name.split('.').all(|label| !label.is_empty() && label.as_bytes().iter().all(label_byte))
}

/// Whether two host names are the same, ignoring ASCII case: byte for byte first, as names
/// nearly always come in lowercase.
fn same_host(a: &[u8], b: &[u8]) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// The hosts of one jocloud product, where the token goes unless the user names others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hosts {
    /// `jocloud.com` and every name under it.
    Jocloud,
    /// Cloud recording's two hosts.
    CloudRecording,
}

impl Hosts {
    fn patterns(self) -> Vec<HostPattern> {
        match self {
            Hosts::Jocloud => vec![HostPattern::domain("jocloud.com")],
            Hosts::CloudRecording => {
                vec![HostPattern::host("api.jocloud.com"), HostPattern::host("api-oversea.jocloud.com")]
            }
        }
    }
}

/// A request as the scope sees it: its scheme, and its host and port as `http` reads them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    /// The URI's scheme (`""` for a relative URI).
    pub(crate) scheme: &'a str,
    /// The host, without userinfo (`""` for none).
    pub(crate) host: &'a str,
    /// The port, explicit or the scheme's default.
    port: Option<u16>,
}

impl<'a> Target<'a> {
    pub(crate) fn of(uri: &'a http::Uri) -> Self {
        let scheme = uri.scheme_str().unwrap_or("");
        let (host, port) = match uri.authority() {
            Some(authority) => host_and_port(authority),
            None => ("", None),
        };
        Self { scheme, host, port: port.or_else(|| default_port(scheme)) }
    }

    /// A request whose host (without userinfo) and port are known, as a `reqwest::Url` has them.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn known(scheme: &'a str, host: Option<&'a str>, port: Option<u16>) -> Self {
        Self { scheme, host: host.unwrap_or(""), port }
    }
}

/// The host and explicit port of `authority`, as `http`'s `Authority::host` and `port_u16`
/// read them (a port that is not a number from 0 to 65535 is none, as the connectors read it).
///
/// Those two each scan the authority, which costs more than the rest of a client layer; a
/// plain `host` or `host:port` (the authority of nearly every request) is read here in one
/// pass instead, where both readings agree by construction. Any other (userinfo, brackets)
/// is `http`'s to read.
fn host_and_port(authority: &Authority) -> (&str, Option<u16>) {
    let text = authority.as_str();
    let (host, port) = match text.split_once(':') {
        Some((host, digits)) => (host, digits.parse::<u16>().ok()),
        None => (text, None),
    };
    let plain = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_');
    let port_ok = port.is_some() || host.len() == text.len();
    if port_ok && !host.is_empty() && host.bytes().all(plain) {
        return (host, port);
    }
    (authority.host(), authority.port_u16())
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// Which requests get the token: HTTPS (and plain HTTP only when allowed) to the named hosts.
#[derive(Clone)]
pub(crate) struct Scope {
    allow_http: bool,
    hosts: Vec<HostPattern>,
    /// Whether `hosts` are the product's, to be replaced by the first host the user names.
    default_hosts: bool,
}

impl Scope {
    pub(crate) fn new(hosts: Hosts) -> Self {
        Self { allow_http: false, hosts: hosts.patterns(), default_hosts: true }
    }

    pub(crate) fn allow_http(&mut self) {
        self.allow_http = true;
    }

    /// Adds `host`; the first one replaces the product's hosts.
    pub(crate) fn add_host(&mut self, host: HostPattern) {
        if self.default_hosts {
            self.hosts.clear();
            self.default_hosts = false;
        }
        self.hosts.push(host);
    }

    /// Switches to another product's hosts, unless the user named hosts.
    pub(crate) fn set_default_hosts(&mut self, hosts: Hosts) {
        if self.default_hosts {
            self.hosts = hosts.patterns();
        }
    }

    pub(crate) fn permits(&self, target: Target<'_>) -> bool {
        let scheme_ok = target.scheme == "https" || (self.allow_http && target.scheme == "http");
        scheme_ok && is_host(target.host) && self.hosts.iter().any(|rule| rule.matches(&target))
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.hosts.iter().map(HostPattern::to_string).collect();
        f.debug_struct("Scope").field("allow_http", &self.allow_http).field("hosts", &hosts).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permits(scope: &Scope, uri: &str) -> bool {
        scope.permits(Target::of(&uri.parse().unwrap()))
    }

    #[test]
    fn the_default_is_https_to_jocloud_only() {
        let scope = Scope::new(Hosts::Jocloud);
        for uri in
            ["https://ai.jocloud.com/p", "https://API-OVERSEA.jocloud.com:8443/", "https://jocloud.com/"]
        {
            assert!(permits(&scope, uri), "{uri}");
        }
        for uri in [
            "http://ai.jocloud.com/",
            "http://127.0.0.1/",
            "https://example.com/",
            "https://ai.jocloud.com.evil.example/",
            "https://evil.example/?u=ai.jocloud.com",
            "https://ai.jocloud.com@evil.example/",
            "https://eviljocloud.com/",
            "https://.jocloud.com/",
            "https://u@.jocloud.com/",
            "https://jocloud.com.@evil.example/",
            "https://ai.jp22222222222[::1]22.jocloud.com/",
            "/relative",
            "ftp://ai.jocloud.com/",
        ] {
            assert!(!permits(&scope, uri), "{uri}");
        }
    }

    #[test]
    fn named_hosts_replace_the_default_in_any_order() {
        let mut scope = Scope::new(Hosts::Jocloud);
        scope.add_host("127.0.0.1:8080".parse().unwrap());
        scope.set_default_hosts(Hosts::CloudRecording);
        scope.add_host("*.example.com".parse().unwrap());
        scope.allow_http();
        for uri in ["http://127.0.0.1:8080/", "https://example.com/", "http://a.b.example.com:1/"] {
            assert!(permits(&scope, uri), "{uri}");
        }
        for uri in [
            "http://127.0.0.1/",
            "https://ai.jocloud.com/",
            "https://api.jocloud.com/",
            "https://example.community/",
        ] {
            assert!(!permits(&scope, uri), "{uri}");
        }
    }

    /// One reading: the quick one, where it applies, is `http`'s, port included (an invalid
    /// port is none, and the scheme's default then applies, as hyper-util's connector does).
    #[test]
    fn hosts_and_ports_are_read_as_http_reads_them() {
        for authority in [
            "ai.jocloud.com",
            "ai.jocloud.com:8443",
            "AI.jocloud.com:443",
            "ai.jocloud.com.",
            "user@ai.jocloud.com",
            "user:pass@ai.jocloud.com:1",
            "ai.jocloud.com@evil.example",
            "a@b@evil.example:9",
            "[::1]",
            "[::1]:8080",
            "u@[::1]:8080",
            "127.0.0.1:0",
            "host:",
            "h:65535",
            "h:65536",
            "h:0443",
            "ai.jocloud.com:12x",
            "a:b",
            "lllllllhtt0([],,.jocloud.com",
        ] {
            for scheme in ["https", "http", "ftp"] {
                let uri: http::Uri = format!("{scheme}://{authority}/").parse().unwrap();
                let target = Target::of(&uri);
                let expected = (uri.host().unwrap(), uri.port_u16().or(default_port(scheme)));
                assert_eq!((target.host, target.port), expected, "{uri}");
            }
        }
        let relative = "/p".parse().unwrap();
        assert_eq!((Target::of(&relative).host, Target::of(&relative).port), ("", None));
        // An invalid port is none: the default port, where the connector goes.
        assert!(permits(&Scope::new(Hosts::Jocloud), "https://ai.jocloud.com:12x/"));
    }

    /// A host no DNS name can be gets no token, whatever it ends with; a trailing dot is the
    /// same name.
    #[test]
    fn only_dns_names_and_ip_addresses_are_hosts() {
        for host in
            ["ai.jocloud.com", "ai.jocloud.com.", "a_b-c.jocloud.com", "127.0.0.1", "[::1]", "[2001:db8::1]"]
        {
            assert!(is_host(host), "{host}");
        }
        for host in [
            "",
            ".",
            "..",
            ".jocloud.com",
            "a..jocloud.com",
            "ai.jocloud.com..",
            "lllllllhtt0([],,.jocloud.com",
            "a b",
            "[]",
            "[::1",
            "[x]",
            "ai.jocloud.com@",
        ] {
            assert!(!is_host(host), "{host}");
        }
        let scope = Scope::new(Hosts::Jocloud);
        assert!(permits(&scope, "https://ai.jocloud.com./"));
        assert!(permits(&scope, "https://jocloud.com./"));
        assert!(!permits(&scope, "https://lllllllhtt0([],,.jocloud.com/"));
        assert!(!permits(&scope, "https://a(b).jocloud.com/"));
        let pattern: HostPattern = "*.Example.com:8080".parse().unwrap();
        assert_eq!(format!("{pattern:?}"), "HostPattern(*.example.com:8080)");
    }

    #[test]
    fn host_patterns_from_addresses() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let v4 = HostPattern::from(IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_eq!(v4, "127.0.0.1".parse().unwrap());
        let v6 = HostPattern::from(SocketAddr::from((Ipv6Addr::LOCALHOST, 8080)));
        assert_eq!(v6, "[::1]:8080".parse().unwrap());
        let mut scope = Scope::new(Hosts::Jocloud);
        scope.add_host(v6);
        scope.allow_http();
        assert!(permits(&scope, "http://[::1]:8080/") && !permits(&scope, "http://[::1]:8081/"));
    }

    #[test]
    fn host_patterns_parse_or_say_why_not() {
        for (pattern, shown) in [
            ("AI.jocloud.com", "ai.jocloud.com"),
            ("*.jocloud.com", "*.jocloud.com"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::1]:8080", "[::1]:8080"),
            ("localhost", "localhost"),
            ("ai.jocloud.com.", "ai.jocloud.com"),
        ] {
            assert_eq!(HostPattern::new(pattern).unwrap().to_string(), shown);
        }
        for pattern in [
            "",
            "*.",
            "https://ai.jocloud.com",
            "ai.jocloud.com/path",
            "user@ai.jocloud.com",
            "ai.*.com",
            "**.jocloud.com",
            "*.[::1]",
            "ai.jocloud.com:99999",
            "ai.jocloud.com:",
            "ai jocloud.com",
            ":8080",
            "[]",
            "[]:80",
            "[x]",
            "a..b",
            ".jocloud.com",
            "*..jocloud.com",
            "a(b)",
        ] {
            let error = HostPattern::new(pattern).unwrap_err();
            assert_eq!(error.pattern(), pattern);
        }
    }
}
