//! One validator per kind of value (tenant, URL, authority, client id, proxy, timeout, name, flag), used
//! wherever a value enters: a sign-in request, a stored setting, an environment variable, a configuration.
//! Every check runs before anything is sent or saved; every message says what is wrong without echoing
//! credentials or control characters.

use crate::error::{CoreError, CoreResult};
use crate::text::printable;
use std::net::{IpAddr, Ipv6Addr};

/// Largest accepted `-Timeout` (one day).
pub const MAX_TIMEOUT_SECS: i64 = 86_400;
/// `-Timeout` when none is given, as in d365fo.integrations.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// An absolute http(s) URL split into the parts the flow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// "http" or "https", lower case.
    pub scheme: String,
    /// Host without brackets, lower case.
    pub host: String,
    pub port: Option<u16>,
    /// Everything after the authority ("" or starting with '/', '?' or '#').
    pub rest: String,
}

impl HttpUrl {
    /// `host` or `host:port`, with brackets around IPv6 addresses; for messages.
    pub fn host_port(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// Which Entra ID endpoints a sign-in uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointVersion {
    /// `/oauth2/devicecode` + `/oauth2/token` with `resource` (the original module's choice).
    V1,
    /// `/oauth2/v2.0/devicecode` + `/oauth2/v2.0/token` with `scope=<url>/.default offline_access`.
    V2,
}

impl EndpointVersion {
    pub fn name(self) -> &'static str {
        match self {
            EndpointVersion::V1 => "v1",
            EndpointVersion::V2 => "v2",
        }
    }
}

/// Parses an absolute http or https URL; the error says what is wrong, in words.
pub fn parse_http_url(s: &str) -> Result<HttpUrl, String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > 2048 {
        return Err("it is longer than 2048 characters".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains a space or control character ({})", c.escape_default()));
    }
    if !s.is_ascii() {
        return Err("it contains non-ASCII characters".into());
    }
    let (scheme, after) = s.split_once("://").ok_or_else(|| "it is not an absolute URL (no scheme://)".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme is '{}', not http or https", printable(&scheme)));
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err("it carries a user name or password".into());
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err("it has no host".into());
    }
    Ok(HttpUrl { scheme, host: host.to_ascii_lowercase(), port, rest: rest.to_string() })
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (h, tail) = inner.split_once(']').ok_or_else(|| "its IPv6 host has no closing ']'".to_string())?;
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(format!("'{}' is not an IPv6 address", printable(h)));
        }
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| "text follows the IPv6 host".to_string())?),
        };
        (h.to_string(), port)
    } else {
        let (h, p) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if let Some(c) = h.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')) {
            return Err(format!("its host contains '{c}'"));
        }
        (h.to_string(), p)
    };
    let port = match port {
        None => None,
        Some(p) => {
            // The text is not echoed: in a URL whose password holds '/', '?' or '#', what looks like the port
            // is part of the password.
            Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| "its port is not a number from 1 to 65535".to_string())?)
        }
    };
    Ok((host, port))
}

/// True for localhost, 127.0.0.0/8 and ::1 (the only hosts plain http is allowed to, and never proxied).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// `-Timeout`: absent means 300; otherwise a whole number of seconds from 1 to 86400.
pub fn timeout_secs(v: Option<i64>) -> CoreResult<u64> {
    match v {
        None => Ok(DEFAULT_TIMEOUT_SECS),
        Some(n) if (1..=MAX_TIMEOUT_SECS).contains(&n) => Ok(n as u64),
        Some(n) => {
            Err(CoreError::invalid(format!("the timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds; {n} was given (-Timeout)")))
        }
    }
}

/// A tenant: a GUID or a domain-like name of ASCII letters, digits, '-', '_' and single dots.
pub fn tenant(s: &str) -> CoreResult<String> {
    let bad = |why: String| Err(CoreError::invalid(format!("the tenant '{}' is not valid: {why}", printable(s))));
    if s.is_empty() {
        return Err(CoreError::invalid("the tenant is empty; give a tenant id (GUID) or a domain such as contoso.onmicrosoft.com"));
    }
    if s.len() > 253 {
        return bad("it is longer than 253 characters".into());
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        let what = match c {
            '/' | '?' | '#' | '%' | '\\' => {
                format!("it contains '{c}', which would change the address")
            }
            ' ' => "it contains a space".into(),
            '\n' | '\r' => "it contains a line break".into(),
            '\t' => "it contains a tab".into(),
            c if c.is_control() => format!("it contains a control character (U+{:04X})", c as u32),
            c if c.is_whitespace() => format!("it contains a space character (U+{:04X})", c as u32),
            c if !c.is_ascii() => "it contains non-ASCII characters".into(),
            c => format!("it contains '{c}'"),
        };
        return bad(what);
    }
    if s.contains("..") {
        return bad("it contains '..'".into());
    }
    if s.starts_with('.') || s.ends_with('.') || s.starts_with('-') {
        return bad("it starts or ends with '.' or starts with '-'".into());
    }
    Ok(s.to_string())
}

/// The environment URL (`-Url`, the token's resource): absolute http(s), one trailing '/' removed (Entra wants
/// the resource without it). Plain http is allowed here because it is an identifier, never contacted
/// (Talent/HR's resource is `http://hr.talent.dynamics.com`).
pub fn resource_url(s: &str) -> CoreResult<String> {
    let trimmed = s.strip_suffix('/').unwrap_or(s);
    if trimmed.is_empty() {
        return Err(CoreError::invalid("the Url is empty; give the environment URL, e.g. https://contoso.operations.dynamics.com"));
    }
    parse_http_url(trimmed)
        .map_err(|why| CoreError::invalid(format!("the Url '{}' is not an absolute http(s) URL: {why}", printable_url(s))))?;
    Ok(trimmed.to_string())
}

/// The address the data commands call (`-SystemUrl`): https, or plain http only to this machine; one
/// trailing '/' removed.
pub fn system_url(s: &str) -> CoreResult<String> {
    let trimmed = s.strip_suffix('/').unwrap_or(s);
    let u = parse_http_url(trimmed)
        .map_err(|why| CoreError::invalid(format!("the SystemUrl '{}' is not an absolute http(s) URL: {why}", printable_url(s))))?;
    if u.scheme == "http" && !u.is_loopback() {
        return Err(CoreError::invalid(format!(
            "the SystemUrl '{}' uses plain http to a host that is not this machine; use https",
            printable_url(s)
        )));
    }
    Ok(trimmed.to_string())
}

/// A Url that becomes the SystemUrl because none was given (Add-D365ODataConfig, Import-D365ODataConfig, the
/// carry-over): the data commands call it with the token, so plain http is refused unless it is this machine.
pub fn system_url_from_url(url: &str) -> CoreResult<()> {
    match parse_http_url(url) {
        Ok(u) if u.scheme == "http" && !u.is_loopback() => Err(CoreError::invalid(format!(
            "the Url '{}' uses plain http to a host that is not this machine, and without a SystemUrl the data commands would call it and send the token unencrypted; give the address they call with -SystemUrl https://…",
            printable_url(url)
        ))),
        _ => Ok(()),
    }
}

/// The authority base URL: absolute http(s) without query or fragment; plain http only to loopback.
/// Returned without trailing '/'. `source` names where the value came from, for the message.
pub fn authority(s: &str, source: &str) -> CoreResult<(String, HttpUrl)> {
    let trimmed = s.trim().trim_end_matches('/');
    let u = parse_http_url(trimmed).map_err(|why| {
        CoreError::invalid(format!("the authority '{}' ({source}) is not an absolute http(s) URL: {why}", printable_url(s)))
    })?;
    if u.rest.contains(['?', '#']) {
        return Err(CoreError::invalid(format!("the authority '{}' ({source}) must not have a query or fragment", printable_url(s))));
    }
    if u.scheme == "http" && !u.is_loopback() {
        return Err(CoreError::invalid(format!(
            "the authority '{}' ({source}) uses plain http to a host that is not this machine; use https",
            printable_url(s)
        )));
    }
    Ok((trimmed.to_string(), u))
}

/// A client (application) id: a GUID, as Entra ID issues them.
pub fn client_id(s: &str, source: &str) -> CoreResult<String> {
    let t = s.trim();
    if is_guid(t) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(CoreError::invalid(format!(
            "the client id '{}' ({source}) is not valid: it must be an application (client) id, a GUID such as 1950a258-227b-4e31-a9cf-717495945fc2",
            printable(s)
        )))
    }
}

/// 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `v1` or `v2` (also `1`, `2`, `1.0`, `2.0`), any case.
pub fn endpoint_version(s: &str, source: &str) -> CoreResult<EndpointVersion> {
    match s.trim().to_ascii_lowercase().as_str() {
        "v1" | "1" | "1.0" => Ok(EndpointVersion::V1),
        "v2" | "2" | "2.0" => Ok(EndpointVersion::V2),
        _ => Err(CoreError::invalid(format!("the endpoint version '{}' ({source}) is not known; use v1 or v2", printable(s)))),
    }
}

/// A yes/no value as people write it in environment variables: 1/0, true/false, yes/no, on/off.
pub fn flag(s: &str, source: &str) -> CoreResult<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(CoreError::invalid(format!("{source} is '{}'; use 1 or 0 (true or false)", printable(s)))),
    }
}

/// A whole number of seconds within `min..=max`.
pub fn seconds(s: &str, min: u64, max: u64, source: &str) -> CoreResult<u64> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| CoreError::invalid(format!("{source} is '{}'; use a whole number of seconds from {min} to {max}", printable(s))))
}

/// A proxy URL (http or https proxies; `host:port` means http). Returned with its scheme.
pub fn proxy_url(p: &str, source: &str) -> CoreResult<String> {
    let p = p.trim();
    let with_scheme = if p.contains("://") { p.to_string() } else { format!("http://{p}") };
    if let Some(scheme) = with_scheme.split("://").next().filter(|s| s.to_ascii_lowercase().starts_with("socks")) {
        return Err(CoreError::invalid(format!("{source}: {} proxies are not supported; use an http proxy", printable(scheme))));
    }
    // Credentials are allowed in a proxy URL (http://user:pass@proxy:3128); check the rest without them. They
    // end at the last '@' (a password may hold any character), and must then be percent-encoded where a URL
    // needs it: an unencoded '/', '?', '#' or '@' would make the HTTP client read another host or port.
    let without_credentials = match with_scheme.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                if rest[..at].contains(['/', '?', '#', '@']) {
                    return Err(CoreError::invalid(format!(
                        "{source}: the proxy '{}' is not valid: its user name or password holds '/', '?', '#' or '@', \
                         which must be percent-encoded (%2F, %3F, %23, %40)",
                        proxy_for_message(&with_scheme)
                    )));
                }
                format!("{scheme}://{}", &rest[at + 1..])
            }
            None => with_scheme.clone(),
        },
        None => with_scheme.clone(),
    };
    parse_http_url(&without_credentials)
        .map_err(|why| CoreError::invalid(format!("{source}: the proxy '{}' is not valid: {why}", proxy_for_message(&with_scheme))))?;
    Ok(with_scheme)
}

/// A proxy URL as messages show it: scheme, `***@` where it carries credentials, the host, and the port only
/// when it is a number; no path, query or fragment. What follows a ':' and is not a number may be part of a
/// password (`http://alice:S3cr#t@proxy` read up to '#'), so it is never echoed.
fn proxy_for_message(p: &str) -> String {
    let (scheme, rest) = p.split_once("://").unwrap_or(("http", p));
    let (credentials, after) = match rest.rfind('@') {
        Some(at) => ("***@", &rest[at + 1..]),
        None => ("", rest),
    };
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let shown = match authority.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => format!("{h}:{port}"),
        Some((h, _)) if !authority.starts_with('[') || h.ends_with(']') => h.to_string(),
        _ => authority.to_string(),
    };
    printable(&format!("{scheme}://{credentials}{shown}"))
}

/// An OData configuration name: not empty, no wildcard characters, printable, at most 100 characters.
pub fn config_name(name: &str) -> CoreResult<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(CoreError::invalid("The name of the OData configuration is missing."));
    }
    if n.contains(['*', '?', '[', ']']) {
        return Err(CoreError::invalid("The name cannot contain wildcard character."));
    }
    if n.chars().count() > 100 || n.chars().any(|c| c.is_control()) || n.contains(['\\', '/']) {
        return Err(CoreError::invalid(format!(
            "The name '{}' is not valid: use at most 100 printable characters without '/' or '\\'.",
            printable(n)
        )));
    }
    Ok(n.to_string())
}

/// The name of a new OData configuration (Add-D365ODataConfig): `config_name`, and no dot. d365fo.integrations
/// reads a configuration as every setting under `d365fo.integrations.odata.<name>.`, so 'uat.v2' would show
/// up inside 'uat' (its client secret included). Names with dots made elsewhere are still read.
pub fn new_config_name(name: &str) -> CoreResult<String> {
    let n = config_name(name)?;
    if n.contains('.') {
        return Err(CoreError::invalid(format!(
            "The name '{}' contains a dot, which d365fo.integrations cannot keep apart: it reads a configuration as every setting under 'd365fo.integrations.odata.<name>.', so it would mix this one into the configuration named '{}'. Use '-' or '_' instead.",
            printable(&n),
            printable(n.split('.').next().unwrap_or(""))
        )));
    }
    Ok(n)
}

/// A URL safe to echo in a message: everything between `://` and the last '@' (a user name and password,
/// whatever characters they hold) replaced by `***`, then as `printable`. (Proxy and authority URLs may carry
/// credentials; messages must not.) An '@' later in a path hides that part of the path too, which only costs
/// detail in a message.
pub fn printable_url(s: &str) -> String {
    let (scheme, rest) = match s.find("://") {
        Some(i) => s.split_at(i + 3),
        None => ("", s),
    };
    match rest.rfind('@') {
        Some(at) => printable(&format!("{scheme}***{}", &rest[at..])),
        None => printable(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn tenants_that_are_guids_or_domains_pass() {
        for t in ["common", "organizations", "contoso.onmicrosoft.com", "72f988bf-86f1-41af-91ab-2d7cd011db47", "a_b.scenario.test"] {
            assert!(tenant(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn tenants_that_would_change_the_address_are_refused_with_a_reason() {
        for (t, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("a?b", "'?'"),
            ("a#b", "'#'"),
            ("a%2fb", "'%'"),
            ("a b", "contains a space"),
            ("a\tb", "contains a tab"),
            ("a\nb", "contains a line break"),
            ("a\u{a0}b", "space character (U+00A0)"),
            ("a\u{1}b", "control character (U+0001)"),
            ("a..b", "'..'"),
            ("..", "'..'"),
            ("tënant", "non-ASCII"),
            (".contoso", "starts or ends"),
        ] {
            let e = tenant(t).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest);
            assert!(e.message.contains(why), "{t:?}: {}", e.message);
        }
        assert!(!tenant("a\nb").unwrap_err().message.contains("space"), "a line break is not a space");
    }

    #[test]
    fn timeout_bounds() {
        assert_eq!(timeout_secs(None).unwrap(), 300);
        assert_eq!(timeout_secs(Some(1)).unwrap(), 1);
        assert_eq!(timeout_secs(Some(86400)).unwrap(), 86400);
        for bad in [0, -5, 86401, i64::MAX, i64::MIN] {
            let e = timeout_secs(Some(bad)).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest, "{bad}");
            assert!(e.message.contains("-Timeout"), "{}", e.message);
        }
    }

    #[test]
    fn resource_url_must_be_absolute_http_and_loses_one_trailing_slash() {
        assert_eq!(resource_url("https://x.dynamics.com/").unwrap(), "https://x.dynamics.com");
        assert_eq!(resource_url("http://hr.talent.dynamics.com").unwrap(), "http://hr.talent.dynamics.com");
        for bad in ["", "/", "x.dynamics.com", "ftp://x", "https://", "https://a b", "javascript:alert(1)", "https://u:p@x", "not a url"] {
            assert_eq!(resource_url(bad).unwrap_err().code, Code::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn system_url_is_https_or_loopback_http() {
        assert_eq!(system_url("https://x.dynamics.com/").unwrap(), "https://x.dynamics.com");
        assert_eq!(system_url("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        for bad in ["ftp://x", "http://x.dynamics.com", "http://127.0.0.1.evil.com", "https://u:p@x", ""] {
            assert!(system_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authority_allows_plain_http_only_to_loopback() {
        assert!(authority("http://127.0.0.1:8080", "test").is_ok());
        assert!(authority("http://127.9.9.9:8080/", "test").is_ok());
        assert!(authority("http://[::1]:8080", "test").is_ok());
        assert!(authority("http://localhost:1", "test").is_ok());
        assert_eq!(authority("https://login.microsoftonline.com/", "test").unwrap().0, "https://login.microsoftonline.com");
        let e = authority("http://login.microsoftonline.com", "D365FO_AUTHORITY").unwrap_err();
        assert!(e.message.contains("plain http") && e.message.contains("D365FO_AUTHORITY"), "{}", e.message);
        for bad in [
            "https://x/?a=b",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com",
            "https://user:pw@login.example",
            "ftp://x",
            "https://",
            "https://a b",
        ] {
            assert!(authority(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_detection() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["localhost.evil.com", "128.0.0.1", "10.0.0.1", "::2", "example.com", "", "127.0.0.1.evil.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn url_parser_splits_host_and_port() {
        let u = parse_http_url("HTTPS://Login.Example.com:8443/a/b?c").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str(), u.port, u.rest.as_str()), ("https", "login.example.com", Some(8443), "/a/b?c"));
        let u = parse_http_url("http://[::1]:80").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(80)));
        assert_eq!(u.host_port(), "[::1]:80");
        assert!(parse_http_url("http://h:99999").is_err());
        assert!(parse_http_url("http://h:0").is_err());
        assert!(parse_http_url(&format!("https://h/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn credentials_in_urls_never_reach_a_message() {
        assert_eq!(printable_url("http://user:S3cret@proxy:3128/x?y"), "http://***@proxy:3128/x?y");
        assert_eq!(printable_url("user:S3cret@proxy:3128"), "***@proxy:3128");
        assert_eq!(printable_url("https://a:b@c@host/p@q"), "https://***@q");
        assert_eq!(printable_url("https://host/p@q"), "https://***@q");
        // Credentials holding the characters that end an authority ('/', '?', '#') are masked whole.
        assert_eq!(printable_url("http://alice:S3cr#tPw@127.0.0.1:3128"), "http://***@127.0.0.1:3128");
        assert_eq!(printable_url("http://alice:pa/ss?w0rd@127.0.0.1:3128"), "http://***@127.0.0.1:3128");
        assert_eq!(printable_url("alice:pa/ss@p:1"), "***@p:1");
        for (e, secret) in [
            (authority("http://user:S3cret@127.0.0.1:1", "D365FO_AUTHORITY").unwrap_err(), "S3cret"),
            (resource_url("https://user:S3cret@x.example").unwrap_err(), "S3cret"),
            (authority("https://user:S3cret@login.example/?q", "t").unwrap_err(), "S3cret"),
            (system_url("http://user:S3cret@x.example").unwrap_err(), "S3cret"),
            (proxy_url("http://user:S3cret@bad host:1", "HTTPS_PROXY").unwrap_err(), "S3cret"),
            (proxy_url("http://alice:S3cr#tPw@127.0.0.1:3128", "HTTPS_PROXY").unwrap_err(), "S3cr"),
            (proxy_url("http://alice:pa/ss?w0rd@127.0.0.1:3128", "HTTPS_PROXY").unwrap_err(), "w0rd"),
            (proxy_url("alice:pa/ss@127.0.0.1:3128", "HTTPS_PROXY").unwrap_err(), "pa/ss"),
        ] {
            assert!(!e.message.contains(secret) && e.message.contains("***@"), "{}", e.message);
        }
        // What stands where a port would be is never echoed when it is not a number: it may be a password.
        for (bad, secret) in [("http://alice:S3cret", "S3cret"), ("http://alice:S3cr#t@", "S3cr"), ("http://p:12ab/x?y", "12ab")] {
            let e = proxy_url(bad, "HTTPS_PROXY").unwrap_err();
            assert!(!e.message.contains(secret), "{}", e.message);
        }
        assert!(proxy_url("http://p:12ab", "x").unwrap_err().message.contains("'http://p' is not valid: its port is not a number"));
    }

    #[test]
    fn client_ids_are_guids() {
        assert_eq!(client_id("1950A258-227b-4e31-a9cf-717495945fc2", "t").unwrap(), "1950a258-227b-4e31-a9cf-717495945fc2");
        for bad in ["", "a b", "a&b", "ä", "not-a-guid", "1950a258227b4e31a9cf717495945fc2", "1950a258-227b-4e31-a9cf-717495945fcz"] {
            let e = client_id(bad, "D365FO_CLIENT_ID").unwrap_err();
            assert!(e.message.contains("D365FO_CLIENT_ID") && e.message.contains("GUID"), "{}", e.message);
        }
    }

    #[test]
    fn endpoint_versions_flags_and_seconds() {
        assert_eq!(endpoint_version("V2", "t").unwrap(), EndpointVersion::V2);
        assert_eq!(endpoint_version("1.0", "t").unwrap(), EndpointVersion::V1);
        assert!(endpoint_version("v3", "X").unwrap_err().message.contains("(X)"));
        assert!(flag("YES", "t").unwrap());
        assert!(!flag("0", "t").unwrap());
        assert!(flag("maybe", "D365FO_NO_BROWSER").unwrap_err().message.contains("D365FO_NO_BROWSER"));
        assert_eq!(seconds("30", 1, 600, "t").unwrap(), 30);
        for bad in ["0", "601", "-1", "x", "1e3"] {
            assert!(seconds(bad, 1, 600, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies() {
        assert_eq!(proxy_url("proxy.corp:3128", "x").unwrap(), "http://proxy.corp:3128");
        assert_eq!(proxy_url("http://u:p@proxy.corp:3128", "x").unwrap(), "http://u:p@proxy.corp:3128");
        assert!(proxy_url("socks5://p:1", "HTTPS_PROXY").unwrap_err().message.contains("HTTPS_PROXY"));
        assert!(proxy_url("http://bad host", "HTTPS_PROXY").is_err());
    }

    #[test]
    fn configuration_names() {
        assert_eq!(config_name(" UAT ").unwrap(), "UAT");
        for (bad, why) in [
            ("", "missing"),
            ("   ", "missing"),
            ("a*", "wildcard"),
            ("a?", "wildcard"),
            ("[a]", "wildcard"),
            ("a/b", "not valid"),
            ("a\u{7}", "not valid"),
        ] {
            assert!(config_name(bad).unwrap_err().message.contains(why), "{bad:?}");
        }
        // A dot is refused for new names only, with the reason; existing dotted names are still accepted.
        assert_eq!(config_name("uat.v2").unwrap(), "uat.v2");
        let e = new_config_name("uat.v2").unwrap_err();
        assert!(e.message.contains("contains a dot") && e.message.contains("'uat'"), "{}", e.message);
        assert_eq!(new_config_name("uat-v2").unwrap(), "uat-v2");
    }

    #[test]
    fn a_url_taken_as_system_url_is_https_or_loopback() {
        assert!(system_url_from_url("https://x.dynamics.com").is_ok());
        assert!(system_url_from_url("http://127.0.0.1:9").is_ok());
        assert!(system_url_from_url("http://localhost").is_ok());
        let e = system_url_from_url("http://contoso.operations.dynamics.com").unwrap_err();
        assert!(e.message.contains("-SystemUrl https://"), "{}", e.message);
    }
}
