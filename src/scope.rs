//! Where a client layer may send the token: which schemes, which hosts.

use std::{fmt, str::FromStr, sync::Arc};

use http::uri::Authority;

use crate::error::InvalidHost;

/// A host the token may go to: one host (`ai.jocloud.com`, `127.0.0.1`, `[::1]`), or a domain
/// and every name under it (`*.jocloud.com` matches `jocloud.com`, `ai.jocloud.com` and
/// `a.b.jocloud.com`), with an optional port (`127.0.0.1:8080`) that the request must then use.
///
/// Parse it from a string; an invalid pattern is an [`InvalidHost`] error, never a panic:
///
/// ```
/// use jocloud_auth::token_auth::HostPattern;
///
/// let mock: HostPattern = "127.0.0.1:8080".parse()?;
/// assert!("https://ai.jocloud.com@evil.example/".parse::<HostPattern>().is_err());
/// # Ok::<(), jocloud_auth::InvalidHost>(())
/// ```
///
/// Hosts compare case-insensitively. Without a port, any port matches; with one, only that port
/// (a URI without a port has its scheme's default, 80 or 443).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// Lowercase, without the `*.` of a domain pattern.
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
        if rest.is_empty() {
            return Err(invalid("no host"));
        }
        if rest.contains(['/', '@', '?', '#', '*']) {
            return Err(invalid("a host pattern is a host and an optional port, nothing else"));
        }
        let authority: Authority = rest.parse().map_err(|_| invalid("not a host name or IP address"))?;
        if authority.host().is_empty() {
            return Err(invalid("no host"));
        }
        // What follows the host is nothing, or a port that fits in 16 bits.
        let port = &authority.as_str()[authority.host().len()..];
        if !port.is_empty() && port[1..].parse::<u16>().is_err() {
            return Err(invalid("the port is not a number from 0 to 65535"));
        }
        if subdomains && authority.host().starts_with('[') {
            return Err(invalid("an IP address has no subdomains"));
        }
        Ok(Self {
            host: authority.host().to_ascii_lowercase().into(),
            subdomains,
            port: authority.port_u16(),
        })
    }

    /// Whether a request to `target` matches.
    fn matches(&self, target: &Target<'_>) -> bool {
        self.port.is_none_or(|port| target.port() == Some(port)) && self.matches_host(target.host.as_bytes())
    }

    /// Whether `host`, which may start with a URI's userinfo and `@`, matches: it ends with
    /// this host, after an `@` or nothing, or (for a domain) after a non-empty name and a dot.
    fn matches_host(&self, host: &[u8]) -> bool {
        let own = self.host.as_bytes();
        let Some(start) = host.len().checked_sub(own.len()) else {
            return false;
        };
        if !same_host(&host[start..], own) {
            return false;
        }
        match start.checked_sub(1).map(|before| host[before]) {
            None | Some(b'@') => true,
            Some(b'.') => self.subdomains && names_under(&host[..start - 1]),
            Some(_) => false,
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

/// Whether what comes before a domain and its dot, after any userinfo, is a name: not empty,
/// and without the `:` or `[` that would make `http` read the host differently.
fn names_under(before: &[u8]) -> bool {
    let name = before.rsplit(|&b| b == b'@').next().unwrap_or(&[]);
    !name.is_empty() && !name.iter().any(|&b| b == b':' || b == b'[')
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

/// A request as the scope sees it. Taken from a URI without scanning its authority more than
/// the scope needs: `Authority::host` and `port_u16` each scan it, and together cost more than
/// the rest of a client layer. Where the quick reading finds no match, `http`'s own decides
/// (an authority such as `a:b` can hide a host from it), so the scope always agrees with `http`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    /// The URI's scheme (`""` for a relative URI).
    pub(crate) scheme: &'a str,
    /// The host, after any userinfo and `@` (`""` for none).
    host: &'a str,
    port: Port<'a>,
    /// The URI, for `http`'s reading where the quick one finds no match.
    uri: Option<&'a http::Uri>,
}

#[derive(Clone, Copy, Debug)]
enum Port<'a> {
    /// The digits after the host's `:`, possibly none: read only if a host pattern names a port.
    Digits(&'a str),
    /// Known already.
    Known(Option<u16>),
}

impl<'a> Target<'a> {
    pub(crate) fn of(uri: &'a http::Uri) -> Self {
        let scheme = uri.scheme_str().unwrap_or("");
        let authority = uri.authority().map_or("", http::uri::Authority::as_str);
        let bytes = authority.as_bytes();
        let mut digits = bytes.len();
        while digits > 0 && bytes[digits - 1].is_ascii_digit() {
            digits -= 1;
        }
        let (host, port) = match digits.checked_sub(1) {
            Some(colon) if bytes[colon] == b':' => (&authority[..colon], &authority[digits..]),
            _ => (authority, ""),
        };
        Self { scheme, host, port: Port::Digits(port), uri: Some(uri) }
    }

    /// A request whose host (without userinfo) and port are known, as a `reqwest::Url` has them.
    pub(crate) fn known(scheme: &'a str, host: Option<&'a str>, port: Option<u16>) -> Self {
        Self { scheme, host: host.unwrap_or(""), port: Port::Known(port), uri: None }
    }

    /// The same request as `http` reads its host and port, where it was read quickly.
    fn exact(&self) -> Option<Self> {
        let uri = self.uri?;
        let port = uri.port_u16().or(default_port(self.scheme));
        Some(Self::known(self.scheme, uri.host(), port))
    }

    /// The host, without userinfo, as `http` reads it.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn host(&self) -> &'a str {
        match self.uri {
            Some(uri) => uri.host().unwrap_or(""),
            None => self.host,
        }
    }

    /// The port, explicit or the scheme's default.
    fn port(&self) -> Option<u16> {
        match self.port {
            Port::Known(port) => port,
            Port::Digits("") => default_port(self.scheme),
            Port::Digits(digits) => digits.parse().ok(),
        }
    }
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
    /// Shared, because services are cloned per request.
    hosts: Arc<[HostPattern]>,
    /// Whether `hosts` are the product's, to be replaced by the first host the user names.
    default_hosts: bool,
}

impl Scope {
    pub(crate) fn new(hosts: Hosts) -> Self {
        Self { allow_http: false, hosts: hosts.patterns().into(), default_hosts: true }
    }

    pub(crate) fn allow_http(&mut self) {
        self.allow_http = true;
    }

    /// Adds `host`; the first one replaces the product's hosts.
    pub(crate) fn add_host(&mut self, host: HostPattern) {
        let kept = if self.default_hosts { &[][..] } else { &self.hosts[..] };
        self.hosts = kept.iter().cloned().chain([host]).collect();
        self.default_hosts = false;
    }

    /// Switches to another product's hosts, unless the user named hosts.
    pub(crate) fn set_default_hosts(&mut self, hosts: Hosts) {
        if self.default_hosts {
            self.hosts = hosts.patterns().into();
        }
    }

    pub(crate) fn permits(&self, target: Target<'_>) -> bool {
        let scheme_ok = target.scheme == "https" || (self.allow_http && target.scheme == "http");
        let matches = |target: &Target<'_>| self.hosts.iter().any(|rule| rule.matches(target));
        scheme_ok && (matches(&target) || target.exact().is_some_and(|exact| matches(&exact)))
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

    #[test]
    fn hosts_and_ports_are_read_as_http_reads_them() {
        for authority in [
            "ai.jocloud.com",
            "ai.jocloud.com:8443",
            "AI.jocloud.com:443",
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
        ] {
            for scheme in ["https", "http", "ftp"] {
                let uri: http::Uri = format!("{scheme}://{authority}/").parse().unwrap();
                let target = Target::of(&uri);
                let default = match scheme {
                    "https" => Some(443),
                    "http" => Some(80),
                    _ => None,
                };
                let expected = (uri.host().unwrap(), uri.port_u16().or(default));
                assert_eq!((target.host(), target.port()), expected, "{uri}");
            }
        }
    }

    /// The quick reading alone, without `http`'s fallback, gets ordinary authorities right.
    #[test]
    fn the_quick_reading_needs_no_fallback_for_ordinary_uris() {
        for (uri, host, port) in [
            ("https://ai.jocloud.com/p", "ai.jocloud.com", Some(443)),
            ("https://ai.jocloud.com:8443/p", "ai.jocloud.com", Some(8443)),
            ("http://127.0.0.1:8080/", "127.0.0.1", Some(8080)),
            ("http://[::1]/", "[::1]", Some(80)),
            ("https://u@h:1/", "u@h", Some(1)),
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            let target = Target::of(&uri);
            assert_eq!((target.host, target.port()), (host, port), "{uri}");
        }
    }

    /// Where the quick reading finds no match, `http`'s decides: its host for `a:b` is `a`.
    #[test]
    fn odd_authorities_are_read_as_http_reads_them() {
        let scope = Scope::new(Hosts::Jocloud);
        assert!(permits(&scope, "https://ai.jocloud.com:12x/"));
        let uri: http::Uri = "https://ai.jocloud.com:12x/".parse().unwrap();
        assert_eq!(uri.host(), Some("ai.jocloud.com"));
        let pattern: HostPattern = "*.Example.com:8080".parse().unwrap();
        assert_eq!(format!("{pattern:?}"), "HostPattern(*.example.com:8080)");
    }

    #[test]
    fn host_patterns_parse_or_say_why_not() {
        for (pattern, shown) in [
            ("AI.jocloud.com", "ai.jocloud.com"),
            ("*.jocloud.com", "*.jocloud.com"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::1]:8080", "[::1]:8080"),
            ("localhost", "localhost"),
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
        ] {
            let error = HostPattern::new(pattern).unwrap_err();
            assert_eq!(error.pattern(), pattern);
        }
    }
}
