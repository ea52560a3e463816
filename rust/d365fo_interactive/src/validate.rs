//! Checks on every value that shapes a request, done before anything is sent.

use crate::error::{CoreError, CoreResult};
use serde_json::Value;
use std::net::{IpAddr, Ipv6Addr};

/// Largest accepted `timeout_secs` (one day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

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

/// Parses an absolute http or https URL; the error says what is wrong, in words.
pub fn parse_http_url(s: &str) -> Result<HttpUrl, String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains a space or control character ({:?})", c));
    }
    if !s.is_ascii() {
        return Err("it contains non-ASCII characters".into());
    }
    let (scheme, after) = s.split_once("://").ok_or_else(|| "it is not an absolute URL (no scheme://)".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme is '{scheme}', not http or https"));
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
            return Err(format!("'{h}' is not an IPv6 address"));
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
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("the port '{p}' is not a port number"))?),
    };
    Ok((host, port))
}

/// True for localhost, 127.0.0.0/8 and ::1 (the only hosts plain http and "no proxy" are always allowed for).
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

/// `timeout_secs` from the request: absent means 300; otherwise a whole number 1..=86400.
pub fn timeout_secs(v: Option<&Value>) -> CoreResult<u64> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(300) };
    let n = v.as_i64().or_else(|| v.as_u64().map(|u| u.min(i64::MAX as u64) as i64));
    match n {
        Some(n) if (1..=MAX_TIMEOUT_SECS as i64).contains(&n) => Ok(n as u64),
        Some(n) => Err(CoreError::invalid(format!(
            "the timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds; {n} was given (-Timeout)"
        ))),
        None => Err(CoreError::invalid(format!("the timeout must be a whole number of seconds; {v} was given (-Timeout)"))),
    }
}

/// A tenant is a GUID or a domain-like name: ASCII letters, digits, '-', '_' and single dots.
pub fn tenant(s: &str) -> CoreResult<()> {
    let bad = |why: String| Err(CoreError::invalid(format!("the tenant '{}' is not valid: {why}", printable(s))));
    if s.is_empty() {
        return Err(CoreError::invalid("the tenant is empty; give a tenant id (GUID) or a domain such as contoso.onmicrosoft.com"));
    }
    if s.len() > 253 {
        return bad("it is longer than 253 characters".into());
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        let what = match c {
            '/' | '?' | '#' | '%' | '\\' => format!("it contains '{c}', which would change the address"),
            c if c.is_whitespace() => "it contains a space".into(),
            c if c.is_control() => "it contains a control character".into(),
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
    Ok(())
}

/// The resource URL: absolute http(s); one trailing '/' removed (Entra wants the resource without it).
pub fn resource_url(s: &str) -> CoreResult<String> {
    let trimmed = s.strip_suffix('/').unwrap_or(s);
    if trimmed.is_empty() {
        return Err(CoreError::invalid(
            "the Url is empty; give the environment URL, e.g. https://contoso.operations.dynamics.com",
        ));
    }
    parse_http_url(trimmed)
        .map_err(|why| CoreError::invalid(format!("the Url '{}' is not an absolute http(s) URL: {why}", printable_url(s))))?;
    Ok(trimmed.to_string())
}

/// The authority base URL: absolute http(s) without query or fragment; plain http only to loopback.
/// Returned without a trailing '/'.
pub fn authority(s: &str, source: &str) -> CoreResult<(String, HttpUrl)> {
    let trimmed = s.trim_end_matches('/');
    let u = parse_http_url(trimmed).map_err(|why| {
        CoreError::invalid(format!("the authority '{}' ({source}) is not an absolute http(s) URL: {why}", printable_url(s)))
    })?;
    if u.rest.contains(['?', '#']) {
        return Err(CoreError::invalid(format!("the authority '{}' ({source}) must not have a query or fragment", printable_url(s))));
    }
    if u.scheme == "http" && !u.is_loopback() {
        return Err(CoreError::invalid(format!(
            "the authority '{}' ({source}) uses plain http to a host that is not loopback; use https",
            printable(s)
        )));
    }
    Ok((trimmed.to_string(), u))
}

/// A client id: 1..=100 ASCII characters without spaces, '/', '?', '#', '%' or '&'.
pub fn client_id(s: &str, source: &str) -> CoreResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '?' | '#' | '%' | '&' | '='));
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "the client id '{}' ({source}) is not valid; it should be an application id (GUID)",
            printable(s)
        )))
    }
}

/// A URL safe to echo in an error message: any user name and password before the host replaced by `***`,
/// then as `printable`. (Proxy and authority URLs may carry credentials; messages must not.)
pub fn printable_url(s: &str) -> String {
    let (scheme, rest) = match s.find("://") {
        Some(i) => s.split_at(i + 3),
        None => ("", s),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => printable(&format!("{scheme}***{}{tail}", &authority[at..])),
        None => printable(s),
    }
}

/// Text safe to echo in an error message: control characters escaped, at most 100 characters.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(100).flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

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
            ("a b", "space"),
            ("a\tb", "space"),
            ("a\u{1}b", "control"),
            ("a..b", "'..'"),
            ("..", "'..'"),
            ("tënant", "non-ASCII"),
            (".contoso", "starts or ends"),
        ] {
            let e = tenant(t).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest);
            assert!(e.message.contains(why), "{t:?}: {}", e.message);
        }
    }

    #[test]
    fn timeout_bounds() {
        assert_eq!(timeout_secs(None).unwrap(), 300);
        assert_eq!(timeout_secs(Some(&json!(1))).unwrap(), 1);
        assert_eq!(timeout_secs(Some(&json!(86400))).unwrap(), 86400);
        for bad in [json!(0), json!(-5), json!(86401), json!(1e12), json!(2.5), json!("300"), json!(u64::MAX)] {
            let e = timeout_secs(Some(&bad)).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest, "{bad}");
            assert!(e.message.contains("-Timeout"), "{}", e.message);
        }
    }

    #[test]
    fn resource_url_must_be_absolute_http_and_loses_one_trailing_slash() {
        assert_eq!(resource_url("https://x.dynamics.com/").unwrap(), "https://x.dynamics.com");
        assert_eq!(resource_url("http://hr.talent.dynamics.com").unwrap(), "http://hr.talent.dynamics.com");
        for bad in ["", "/", "x.dynamics.com", "ftp://x", "https://", "https://a b", "javascript:alert(1)", "https://u:p@x"] {
            assert_eq!(resource_url(bad).unwrap_err().code, Code::InvalidRequest, "{bad}");
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
        assert!(authority("https://x/?a=b", "t").is_err());
        assert!(authority("http://127.0.0.1.evil.com", "t").is_err());
    }

    #[test]
    fn loopback_detection() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["localhost.evil.com", "128.0.0.1", "10.0.0.1", "::2", "example.com", ""] {
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
    }

    #[test]
    fn credentials_in_urls_never_reach_a_message() {
        assert_eq!(printable_url("http://user:S3cret@proxy:3128/x?y"), "http://***@proxy:3128/x?y");
        assert_eq!(printable_url("user:S3cret@proxy:3128"), "***@proxy:3128");
        assert_eq!(printable_url("https://a:b@c@host/p@q"), "https://***@host/p@q");
        assert_eq!(printable_url("https://host/p@q"), "https://host/p@q");
        for (e, secret) in [
            (authority("http://user:S3cret@127.0.0.1:1", "D365FO_AUTHORITY").unwrap_err(), "S3cret"),
            (resource_url("https://user:S3cret@x.example").unwrap_err(), "S3cret"),
            (authority("https://user:S3cret@login.example/?q", "t").unwrap_err(), "S3cret"),
        ] {
            assert!(!e.message.contains(secret) && e.message.contains("***@"), "{}", e.message);
        }
    }

    #[test]
    fn client_ids() {
        assert!(client_id("1950a258-227b-4e31-a9cf-717495945fc2", "t").is_ok());
        for bad in ["", "a b", "a&b", "ä"] {
            assert!(client_id(bad, "t").is_err(), "{bad}");
        }
    }
}
