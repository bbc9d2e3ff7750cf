//! Where a client layer may send the token: which schemes, which hosts.

use std::{
    error::Error,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use http::uri::{Authority, Scheme};
use psl::Psl as _;

/// A host the token may go to: one host (`ai.jocloud.com`, `127.0.0.1`, `[::1]`), or a domain
/// and every name under it (`*.jocloud.com` matches `jocloud.com`, `ai.jocloud.com` and
/// `a.b.jocloud.com`), with an optional port (`127.0.0.1:8080`) that the request must then use.
///
/// Parse it from a string, or make it from the address a local mock listens on (`SocketAddr`,
/// `IpAddr`); an invalid pattern is an [`InvalidHost`] error that says what to write instead,
/// never a panic:
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use jocloud_auth::token_auth::HostPattern;
///
/// let mock: HostPattern = "127.0.0.1:8080".parse()?;
/// assert_eq!(mock, HostPattern::try_from(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)))?);
/// assert!("https://ai.jocloud.com@evil.example/".parse::<HostPattern>().is_err());
/// assert!("*.co.uk".parse::<HostPattern>().is_err(), "names of many owners");
/// # Ok::<(), jocloud_auth::token_auth::InvalidHost>(())
/// ```
///
/// A host is a DNS name (letters, digits, `-` and `_` in dot-separated labels) or an IP
/// address, IPv6 in brackets. Hosts compare case-insensitively, and a name with a trailing dot
/// (`ai.jocloud.com.`, the absolute form DNS resolves alike) is the same host as without.
/// Without a port, any port matches; with one, only that port (a URI without a port has its
/// scheme's default, 80 or 443).
///
/// Refused, because they reach the hosts of many owners or no host at all: a domain over one
/// label (`*.com`) or over a public suffix of the [Public Suffix List](https://publicsuffix.org)
/// (`*.co.uk`, `*.github.io`); a public suffix as a host (`com`); port 0; the unspecified
/// addresses `0.0.0.0` and `[::]`, where servers listen but no request goes.
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
        if pattern.parse::<Ipv6Addr>().is_ok() {
            return Err(invalid("an IPv6 address goes in brackets, as in a URI: `[::1]`, `[::1]:8080`"));
        }
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
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let parsed = Self { host: host.into(), subdomains, port: authority.port_u16() };
        parsed.breadth().map_or(Ok(parsed), |reason| Err(invalid(reason)))
    }

    /// Why this pattern would reach hosts no one user owns, or none at all; `None` if it names
    /// hosts of one owner.
    fn breadth(&self) -> Option<&'static str> {
        let ip = self.host.starts_with('[') || self.host.parse::<Ipv4Addr>().is_ok();
        if self.port == Some(0) {
            return Some(
                "port 0 asks the system for any free port, and no request goes to it: name the port \
                 the server listens on (its `local_addr()`)",
            );
        }
        if ip {
            return match (self.subdomains, self.unspecified()) {
                (true, _) => Some("an IP address has no subdomains"),
                (false, true) => Some(
                    "0.0.0.0 and [::] are where a server listens on every interface, not where a \
                     request goes: name the address the client connects to, such as 127.0.0.1",
                ),
                (false, false) => None,
            };
        }
        let suffix = psl::List.suffix(self.host.as_bytes()).filter(|suffix| suffix.is_known());
        let is_suffix = suffix.is_some_and(|suffix| suffix.as_bytes() == self.host.as_bytes());
        if self.subdomains && !self.host.contains('.') {
            Some(
                "a wildcard over one label takes in a whole top-level domain: write a domain of your \
                 own (`*.example.com`) or one host",
            )
        } else if self.subdomains && is_suffix {
            Some(
                "the domain is a public suffix (from the Public Suffix List), whose names belong to \
                 many owners: write a domain under it that is yours, or one host",
            )
        } else if is_suffix && suffix.is_some_and(|suffix| suffix.typ() == Some(psl::Type::Icann)) {
            Some("a public suffix such as `com` or `co.uk` is no one host: write the host's whole name")
        } else {
            None
        }
    }

    /// Whether the host is `0.0.0.0` or `[::]`.
    fn unspecified(&self) -> bool {
        let v6 = self.host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
        match v6 {
            Some(v6) => v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_unspecified()),
            None => self.host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_unspecified()),
        }
    }

    /// Whether a request to `host` on `port` matches.
    fn matches(&self, host: &[u8], port: u16) -> bool {
        self.port.is_none_or(|own| port == own) && self.matches_host(host)
    }

    /// Whether `host` is this one or, for a domain, a name under it: the host exactly (a
    /// trailing dot aside), or a valid name, a dot and this domain. So a match is made of this
    /// pattern's own bytes and a valid name, and is a valid host whatever `host` was.
    fn matches_host(&self, host: &[u8]) -> bool {
        let host = host.strip_suffix(b".").unwrap_or(host);
        let own = self.host.as_bytes();
        match host.len().checked_sub(own.len()) {
            Some(0) => same_host(host, own),
            Some(start) => {
                // A name, a dot, and this domain.
                let (name, dot_own) = host.split_at(start - 1);
                self.subdomains && dot_own[0] == b'.' && same_host(&dot_own[1..], own) && is_name(name)
            }
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

impl TryFrom<IpAddr> for HostPattern {
    type Error = InvalidHost;

    /// The address, any port. `0.0.0.0` and `[::]`, where a server listens, are refused.
    fn try_from(ip: IpAddr) -> Result<Self, InvalidHost> {
        Self::of_ip(ip, None).checked()
    }
}

impl TryFrom<SocketAddr> for HostPattern {
    type Error = InvalidHost;

    /// The address and its port, as a loopback mock's `local_addr()` gives them. Port 0 and
    /// the unspecified addresses, which a server binds but no request goes to, are refused.
    fn try_from(addr: SocketAddr) -> Result<Self, InvalidHost> {
        Self::of_ip(addr.ip(), Some(addr.port())).checked()
    }
}

impl HostPattern {
    fn of_ip(ip: IpAddr, port: Option<u16>) -> Self {
        let host = match ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Self { host: host.into(), subdomains: false, port }
    }

    /// This pattern, unless it is too broad to mean one owner's hosts.
    fn checked(self) -> Result<Self, InvalidHost> {
        match self.breadth() {
            Some(reason) => Err(InvalidHost::new(&self.to_string(), reason)),
            None => Ok(self),
        }
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

/// Why a [`HostPattern`] was refused. Host patterns are not
/// secret: the error shows the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHost {
    pattern: String,
    reason: &'static str,
}

impl InvalidHost {
    fn new(pattern: &str, reason: &'static str) -> Self {
        Self { pattern: pattern.to_owned(), reason }
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for InvalidHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid host pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl Error for InvalidHost {}

/// Whether `host` is a DNS name (labels of letters, digits, `-` and `_`, none empty, with an
/// optional trailing dot) or a bracketed IPv6 address. An IPv4 address is a name of digits.
/// A URI's host may be anything RFC 3986 allows (`a(b),c`), which no DNS name can be: such a
/// request gets no token.
fn is_host(host: &str) -> bool {
    if let Some(ip) = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return ip.parse::<Ipv6Addr>().is_ok();
    }
    is_name(host.strip_suffix('.').unwrap_or(host).as_bytes())
}

/// Whether `name` is dot-separated labels of letters, digits, `-` and `_`, none empty.
fn is_name(name: &[u8]) -> bool {
    // As if a dot came before the start: a leading dot is an empty label.
    let mut previous = b'.';
    for &byte in name {
        let label_byte = byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
        if !(label_byte || (byte == b'.' && previous != b'.')) {
            return false;
        }
        previous = byte;
    }
    previous != b'.'
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
    scheme: Web,
    place: Place<'a>,
}

/// The schemes the scope tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Web {
    Https,
    Http,
    /// Any other, or none (a relative URI): never in scope.
    Other,
}

impl Web {
    fn of(scheme: &str) -> Self {
        match scheme {
            "https" => Web::Https,
            "http" => Web::Http,
            _ => Web::Other,
        }
    }

    /// The scheme's name, for messages.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Web::Https => "https",
            Web::Http => "http",
            Web::Other => "neither http nor https",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Place<'a> {
    /// The authority of a URI, read only as far as the scope needs (see [`Scope::reaches`]).
    Uri(&'a http::Uri),
    /// A host (without userinfo) and the port the URL names, as a `reqwest::Url` has them.
    Known { host: &'a str, port: Option<u16> },
}

impl<'a> Target<'a> {
    pub(crate) fn of(uri: &'a http::Uri) -> Self {
        // `Scheme`'s own comparison: an enum's, where a string's would compare bytes.
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => Web::Https,
            Some(scheme) if *scheme == Scheme::HTTP => Web::Http,
            _ => Web::Other,
        };
        Self { scheme, place: Place::Uri(uri) }
    }

    /// A request whose host (without userinfo) and port (`None`: the scheme's) are known.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn known(scheme: &'a str, host: Option<&'a str>, port: Option<u16>) -> Self {
        Self { scheme: Web::of(scheme), place: Place::Known { host: host.unwrap_or(""), port } }
    }

    /// The scheme, for messages.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn scheme(&self) -> Web {
        self.scheme
    }

    /// The host, as `http` reads it: for messages.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn host(&self) -> &'a str {
        match self.place {
            Place::Uri(uri) => uri.host().unwrap_or(""),
            Place::Known { host, .. } => host,
        }
    }
}

/// A plain authority's host and explicit port: `name` or `name:port`, the port up to five
/// digits and at most 65535; `None` where it ends with anything else after a colon. The host
/// is not checked here: only a pattern's match makes it plain (see [`HostPattern::matches_host`]).
fn split_port(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let digits = authority.iter().rev().take_while(|byte| byte.is_ascii_digit()).count();
    let host_end = authority.len() - digits;
    match host_end.checked_sub(1).map(|colon| authority[colon]) {
        Some(b':') if (1..=5).contains(&digits) => {
            let port =
                authority[host_end..].iter().fold(0u32, |port, digit| port * 10 + u32::from(digit - b'0'));
            Some((&authority[..host_end - 1], Some(u16::try_from(port).ok()?)))
        }
        Some(b':') => None,
        _ => Some((authority, None)),
    }
}

/// What a client layer does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// In the scope as it is: the token goes with it.
    Sign,
    /// Plain HTTP to a host the scope reaches over HTTPS only: it goes over HTTPS instead,
    /// with the token, before anything is sent (as a browser does for an HSTS host).
    Upgrade,
    /// Outside the scope: no token.
    Leave,
}

/// `uri` over HTTPS: the same authority, where an explicit port 80 becomes HTTPS's own.
/// `None` only where `http` cannot put the parts back together, which a valid URI never is.
pub(crate) fn https_uri(uri: &http::Uri) -> Option<http::Uri> {
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(Scheme::HTTPS);
    if let Some(authority) = parts.authority.as_ref().filter(|authority| authority.port_u16() == Some(80)) {
        let (without_port, _) = authority.as_str().rsplit_once(':')?;
        parts.authority = Some(without_port.parse().ok()?);
    }
    http::Uri::from_parts(parts).ok()
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

    /// What a request to `target` gets: the token as it is, the token over HTTPS instead of
    /// plain HTTP, or no token. An upgraded request goes to the port its URI names, or
    /// HTTPS's 443 where that is none or 80.
    pub(crate) fn decide(&self, target: Target<'_>) -> Decision {
        // What a request gets if a pattern reaches its host, on the port it goes to: the one the
        // URI names, or the scheme's; an upgraded request goes to HTTPS's port in place of HTTP's.
        let (decision, default_port, upgraded_port) = match target.scheme {
            Web::Https => (Decision::Sign, 443, None),
            Web::Http if self.allow_http => (Decision::Sign, 80, None),
            Web::Http => (Decision::Upgrade, 443, Some(80)),
            Web::Other => return Decision::Leave,
        };
        let port =
            |named: Option<u16>| named.filter(|&port| Some(port) != upgraded_port).unwrap_or(default_port);
        if self.reaches(target.place, port) {
            decision
        } else {
            Decision::Leave
        }
    }

    /// Whether a request to `target` gets the token as it is.
    #[cfg_attr(
        not(any(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07")),
        allow(dead_code)
    )]
    pub(crate) fn permits(&self, target: Target<'_>) -> bool {
        self.decide(target) == Decision::Sign
    }

    /// Whether `place` is a host a pattern names, on the port `port` makes of the one the URI
    /// names (`None` where it names none).
    ///
    /// One reading decides, `http`'s (`Authority::host` and `port_u16`, which each scan the
    /// authority and cost more than the rest of a client layer). A plain `name[:port]` that a
    /// pattern matches (its bytes the pattern's and a valid name, its port digits) is read the
    /// same by `http`, so it is taken as it is; every other authority, userinfo and brackets
    /// included, is read by `http`.
    fn reaches(&self, place: Place<'_>, port: impl Fn(Option<u16>) -> u16) -> bool {
        match place {
            Place::Uri(uri) => uri.authority().is_some_and(|authority| {
                let plain = split_port(authority.as_str().as_bytes());
                plain.is_some_and(|(host, explicit)| self.matches(host, port(explicit)))
                    || self.matches_valid(authority.host(), port(authority.port_u16()))
            }),
            Place::Known { host, port: explicit } => self.matches_valid(host, port(explicit)),
        }
    }

    fn matches(&self, host: &[u8], port: u16) -> bool {
        self.hosts.iter().any(|pattern| pattern.matches(host, port))
    }

    /// Whether `host` is a valid host that a pattern matches.
    fn matches_valid(&self, host: &str, port: u16) -> bool {
        is_host(host) && self.matches(host.as_bytes(), port)
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

    /// One reading: whatever the quick path takes, `http`'s reading takes the same, port
    /// included (an invalid port is none, and the scheme's default then applies, as
    /// hyper-util's connector does).
    #[test]
    fn the_scope_decides_as_https_reading_does() {
        let mut scopes = vec![Scope::new(Hosts::Jocloud), Scope::new(Hosts::CloudRecording)];
        for patterns in [&["ai.jocloud.com:8443", "[::1]:8080"][..], &["*.example.com", "127.0.0.1"]] {
            let mut scope = Scope::new(Hosts::Jocloud);
            patterns.iter().for_each(|pattern| scope.add_host(pattern.parse().unwrap()));
            scope.allow_http();
            scopes.push(scope);
        }
        for authority in [
            "ai.jocloud.com",
            "ai.jocloud.com:8443",
            "AI.jocloud.com:443",
            "ai.jocloud.com.",
            "ai.jocloud.com.:8443",
            "api.jocloud.com",
            "user@ai.jocloud.com",
            "user:pass@ai.jocloud.com:8443",
            "ai.jocloud.com@evil.example",
            "a@b@evil.example:9",
            "[::1]",
            "[::1]:8080",
            "u@[::1]:8080",
            "127.0.0.1:0",
            "127.0.0.1",
            "a.b.example.com:1",
            "host:",
            "h:65535",
            "ai.jocloud.com:65536",
            "ai.jocloud.com:0443",
            "ai.jocloud.com:08443",
            "ai.jocloud.com:12x",
            "a:b",
            ".jocloud.com",
            "a..jocloud.com",
            "lllllllhtt0([],,.jocloud.com",
        ] {
            for scheme in ["https", "http", "ftp"] {
                let uri: http::Uri = format!("{scheme}://{authority}/").parse().unwrap();
                for scope in &scopes {
                    let host = uri.host().unwrap();
                    let explicit = uri.port_u16();
                    let expected = match scheme {
                        "https" if scope.matches_valid(host, explicit.unwrap_or(443)) => Decision::Sign,
                        "http" if scope.allow_http && scope.matches_valid(host, explicit.unwrap_or(80)) => {
                            Decision::Sign
                        }
                        "http"
                            if !scope.allow_http
                                && scope
                                    .matches_valid(host, explicit.filter(|&p| p != 80).unwrap_or(443)) =>
                        {
                            Decision::Upgrade
                        }
                        _ => Decision::Leave,
                    };
                    assert_eq!(scope.decide(Target::of(&uri)), expected, "{uri} in {scope:?}");
                }
            }
        }
        let relative = "/p".parse().unwrap();
        assert!(!Scope::new(Hosts::Jocloud).permits(Target::of(&relative)));
        // An invalid port is none: the default port, where the connector goes.
        assert!(permits(&Scope::new(Hosts::Jocloud), "https://ai.jocloud.com:12x/"));
    }

    #[test]
    fn split_port_takes_a_port_of_up_to_five_digits() {
        let split =
            |authority: &str| split_port(authority.as_bytes()).map(|(host, port)| (host.to_vec(), port));
        assert_eq!(split("a.b:8443"), Some((b"a.b".to_vec(), Some(8443))));
        assert_eq!(split("a.b:08443"), Some((b"a.b".to_vec(), Some(8443))));
        assert_eq!(split("a.b"), Some((b"a.b".to_vec(), None)));
        assert_eq!(split("a:b"), Some((b"a:b".to_vec(), None)), "no port: no pattern matches it");
        for authority in ["a.b:", "a.b:65536", "a.b:123456", ":"] {
            assert_eq!(split(authority), None, "{authority}");
        }
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

    /// A layer's `Debug` shows its scope: the hosts, and whether plain HTTP is allowed.
    #[test]
    fn a_scope_shows_its_hosts() {
        let mut scope = Scope::new(Hosts::CloudRecording);
        let shown = format!("{scope:?}");
        assert!(shown.contains("\"api.jocloud.com\", \"api-oversea.jocloud.com\""), "{shown}");
        assert!(shown.contains("allow_http: false"), "{shown}");
        scope.allow_http();
        assert!(format!("{scope:?}").contains("allow_http: true"));
    }

    #[test]
    fn host_patterns_from_addresses() {
        let v4 = HostPattern::try_from(IpAddr::from(Ipv4Addr::LOCALHOST)).unwrap();
        assert_eq!(v4, "127.0.0.1".parse().unwrap());
        let v6 = HostPattern::try_from(SocketAddr::from((Ipv6Addr::LOCALHOST, 8080))).unwrap();
        assert_eq!(v6, "[::1]:8080".parse().unwrap());
        // What a server binds, but no request goes to.
        for addr in [
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 8080)),
        ] {
            let error = HostPattern::try_from(addr).unwrap_err();
            assert_eq!(error.pattern(), addr.to_string());
        }
        assert!(HostPattern::try_from(IpAddr::from(Ipv4Addr::UNSPECIFIED)).is_err());
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
            let message = error.to_string();
            let reason = message.strip_prefix(&format!("invalid host pattern {pattern:?}: "));
            assert!(reason.is_some_and(|reason| !reason.is_empty()), "{message}");
        }
        let error = HostPattern::new("ai.jocloud.com:99999").unwrap_err();
        assert!(error.to_string().ends_with("the port is not a number from 0 to 65535"));
    }

    /// Patterns that would reach the hosts of many owners, or no host at all, are refused with
    /// what to write instead; a domain of one owner under a public suffix is not.
    #[test]
    fn broad_or_empty_patterns_are_refused_with_what_to_write() {
        for (pattern, fix) in [
            ("*.com", "`*.example.com`"),
            ("*.COM.", "`*.example.com`"),
            ("*.localhost", "`*.example.com`"),
            ("*.co.uk", "a domain under it"),
            ("*.github.io", "a domain under it"),
            ("com", "the host's whole name"),
            ("co.uk", "the host's whole name"),
            ("127.0.0.1:0", "`local_addr()`"),
            ("ai.jocloud.com:0", "`local_addr()`"),
            ("0.0.0.0", "such as 127.0.0.1"),
            ("[::]:8080", "such as 127.0.0.1"),
            ("::1", "`[::1]`"),
            ("2001:db8::1", "brackets"),
            ("*.127.0.0.1", "no subdomains"),
            ("*.[::1]", "no subdomains"),
        ] {
            let message = HostPattern::new(pattern).unwrap_err().to_string();
            assert!(message.contains(fix), "{pattern}: {message}");
        }
        for pattern in [
            "*.jocloud.com",
            "jocloud.com",
            "localhost",
            "github.io",
            "s3.amazonaws.com",
            "*.example.co.uk",
            "127.0.0.1:8080",
            "[::1]",
        ] {
            assert!(HostPattern::new(pattern).is_ok(), "{pattern}");
        }
    }

    /// Plain HTTP to a host the scope reaches over HTTPS goes over HTTPS instead, to the port
    /// its URI names, or 443 for none or 80; with `allow_http` it goes as it is.
    #[test]
    fn plain_http_into_the_scope_is_upgraded() {
        let decide = |scope: &Scope, uri: &str| scope.decide(Target::of(&uri.parse().unwrap()));
        let jocloud = Scope::new(Hosts::Jocloud);
        for uri in ["http://ai.jocloud.com/p", "http://ai.jocloud.com:80/", "http://AI.jocloud.com:8080/"] {
            assert_eq!(decide(&jocloud, uri), Decision::Upgrade, "{uri}");
        }
        for uri in ["http://example.com/", "http://ai.jocloud.com@evil.example/", "ftp://ai.jocloud.com/"] {
            assert_eq!(decide(&jocloud, uri), Decision::Leave, "{uri}");
        }
        let mut pinned = Scope::new(Hosts::Jocloud);
        pinned.add_host("ai.jocloud.com:443".parse().unwrap());
        assert_eq!(decide(&pinned, "http://ai.jocloud.com/"), Decision::Upgrade);
        assert_eq!(decide(&pinned, "http://ai.jocloud.com:80/"), Decision::Upgrade);
        assert_eq!(decide(&pinned, "http://ai.jocloud.com:443/"), Decision::Upgrade);
        assert_eq!(decide(&pinned, "http://ai.jocloud.com:8443/"), Decision::Leave);
        let mut plain = Scope::new(Hosts::Jocloud);
        plain.allow_http();
        assert_eq!(decide(&plain, "http://ai.jocloud.com/"), Decision::Sign);

        for (http, https) in [
            ("http://ai.jocloud.com/p?q=1", "https://ai.jocloud.com/p?q=1"),
            ("http://ai.jocloud.com:80/p", "https://ai.jocloud.com/p"),
            ("http://ai.jocloud.com:8080/p", "https://ai.jocloud.com:8080/p"),
            ("http://u:p@ai.jocloud.com:80/", "https://u:p@ai.jocloud.com/"),
            ("http://[::1]:80/", "https://[::1]/"),
        ] {
            assert_eq!(https_uri(&http.parse().unwrap()).unwrap().to_string(), https, "{http}");
        }
    }
}
