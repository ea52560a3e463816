//! HTTP to the authority: ureq with TLS checked against the OS trust store, bounded time and size,
//! no redirects, and a proxy chosen here (ureq 3.0.11 ignores NO_PROXY, and loopback must never be proxied).

use crate::cancel::CancelToken;
use crate::error::{Code, CoreError, CoreResult};
use crate::settings::FlowSettings;
use crate::validate::{self, HttpUrl};
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::mpsc;
use std::io::Read;
use std::time::{Duration, Instant};
use ureq::tls::{RootCerts, TlsConfig};

/// Largest response body read from the authority; real answers are a few kilobytes.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

const SLOW_BODY: &str = "no complete answer within the time allowed (D365FO_HTTP_TIMEOUT_SECS)";

/// One answer from the authority, whatever its status.
#[derive(Debug, Clone, Default)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    /// Retry-After in seconds (only the delay-seconds form; an HTTP date is ignored).
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// Why no answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The connection could not be made (refused, no route, name not found).
    Connect(String),
    /// No complete answer within the time allowed.
    Timeout(String),
    /// The connection broke (reset, closed mid-body, garbled HTTP).
    Broken(String),
    /// TLS failed (e.g. certificate not trusted); retrying cannot help.
    Tls(String),
    /// The body was larger than MAX_BODY_BYTES.
    TooLarge,
    /// The proxy refused or failed.
    Proxy(String),
    /// Anything else; not retried.
    Other(String),
}

impl TransportError {
    /// Failures worth another try at the next interval.
    pub fn is_transient(&self) -> bool {
        matches!(self, TransportError::Connect(_) | TransportError::Timeout(_) | TransportError::Broken(_))
    }

    /// The error for the caller; `host` names the authority.
    pub fn to_core(&self, host: &str) -> CoreError {
        let (code, msg) = match self {
            TransportError::Connect(why) => (Code::NetworkError, format!("could not connect to the authority {host}: {why}")),
            TransportError::Timeout(why) => (Code::NetworkError, format!("the authority {host} did not answer in time: {why}")),
            TransportError::Broken(why) => (Code::NetworkError, format!("the connection to the authority {host} broke: {why}")),
            TransportError::Tls(why) => (Code::NetworkError, format!("TLS with the authority {host} failed: {why}")),
            TransportError::TooLarge => (
                Code::ProtocolError,
                format!("the authority {host} sent a response too large (more than {} MiB)", MAX_BODY_BYTES / (1024 * 1024)),
            ),
            TransportError::Proxy(why) => (Code::NetworkError, format!("the proxy for the authority {host} failed: {why}")),
            TransportError::Other(why) => (Code::NetworkError, format!("the request to the authority {host} failed: {why}")),
        };
        CoreError::new(code, msg)
    }
}

/// Sends form posts; the seam between the flow and the network.
pub trait Transport: Send + Sync {
    fn post_form(&self, url: &str, form: &[(&'static str, String)]) -> Result<HttpReply, TransportError>;
}

/// Runs one post on a worker thread so that a cancel returns at once even while a request is in flight;
/// the abandoned request ends by itself within the HTTP timeout. `limit` is a backstop: past it the
/// request is abandoned as timed out whatever the transport does.
pub fn post_cancellable(
    transport: &Arc<dyn Transport>,
    url: &str,
    form: Vec<(&'static str, String)>,
    cancel: &CancelToken,
    limit: Duration,
) -> Option<Result<HttpReply, TransportError>> {
    let started = Instant::now();
    if cancel.is_cancelled() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let t = Arc::clone(transport);
    let url = url.to_string();
    let spawned = std::thread::Builder::new().name("d365fo-http".into()).spawn(move || {
        let _ = tx.send(t.post_form(&url, &form));
    });
    if spawned.is_err() {
        return Some(Err(TransportError::Other("could not start a thread for the request".into())));
    }
    loop {
        // The channel cannot wake the cancel token's condition variable, so check in short slices.
        match rx.recv_timeout(Duration::from_millis(25)) {
            Ok(r) => return if cancel.is_cancelled() { None } else { Some(r) },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancel.is_cancelled() {
                    return None;
                }
                if started.elapsed() > limit {
                    return Some(Err(TransportError::Timeout(SLOW_BODY.into())));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Some(Err(TransportError::Other("the request thread ended without an answer".into())));
            }
        }
    }
}

/// The real transport.
pub struct UreqTransport {
    agent: ureq::Agent,
    /// Whole-exchange bound, also enforced while reading the body (ureq 3.0.11 lets a body that keeps
    /// trickling run past its global timeout).
    timeout: Duration,
}

impl UreqTransport {
    /// An agent for one sign-in against `settings.authority`, with the proxy chosen by `choose_proxy`.
    pub fn new(settings: &FlowSettings, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<(Self, Option<String>)> {
        let proxy_url = choose_proxy(&settings.authority_url, settings.request_proxy.as_deref(), env)?;
        let proxy = match &proxy_url {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|_| CoreError::invalid(format!("the proxy '{}' is not valid", validate::printable_url(p))))?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy)
            .timeout_global(Some(settings.http_timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build())
            .user_agent(concat!("d365fo.interactive/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .build();
        Ok((UreqTransport { agent: config.into(), timeout: settings.http_timeout }, proxy_url))
    }
}

impl Transport for UreqTransport {
    fn post_form(&self, url: &str, form: &[(&'static str, String)]) -> Result<HttpReply, TransportError> {
        let started = Instant::now();
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut resp = self.agent.post(url).send_form(pairs).map_err(map_ureq_error)?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type = header("content-type");
        let location = header("location");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let status = resp.status().as_u16();
        let mut reader = resp.body_mut().with_config().limit(MAX_BODY_BYTES).reader();
        let mut body = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| map_ureq_error(ureq::Error::from(e)))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if started.elapsed() > self.timeout {
                return Err(TransportError::Timeout(SLOW_BODY.into()));
            }
        }
        Ok(HttpReply { status, content_type, location, retry_after, body })
    }
}

fn map_ureq_error(e: ureq::Error) -> TransportError {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => TransportError::Timeout(match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => "connecting took too long".into(),
            _ => SLOW_BODY.into(),
        }),
        E::HostNotFound => TransportError::Connect("the host name could not be resolved".into()),
        E::ConnectionFailed => TransportError::Connect("the connection failed".into()),
        // rustls reports a failed handshake (e.g. an untrusted certificate) through the TLS stream's reads and
        // writes, so it reaches us as an I/O error wrapping rustls::Error: TLS, not a broken connection (which
        // would be retried).
        E::Io(ref io) if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) => TransportError::Tls(describe_tls(tls)),
        E::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => TransportError::Connect("connection refused".into()),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportError::Timeout("the network timed out".into()),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                TransportError::Broken("the connection was reset".into())
            }
            ErrorKind::UnexpectedEof => TransportError::Broken("the connection closed before the answer was complete".into()),
            ErrorKind::AddrNotAvailable | ErrorKind::NotConnected => TransportError::Connect(io.to_string()),
            _ => TransportError::Broken(io.to_string()),
        },
        E::Protocol(p) => TransportError::Broken(format!("the answer was not valid HTTP ({p})")),
        E::BodyExceedsLimit(_) => TransportError::TooLarge,
        E::LargeResponseHeader(..) => TransportError::Broken("the response headers were too large".into()),
        E::Tls(s) => TransportError::Tls(s.to_string()),
        E::Rustls(r) => TransportError::Tls(describe_tls(&r)),
        E::Pem(_) => TransportError::Tls("a certificate could not be read".into()),
        E::ConnectProxyFailed(s) => TransportError::Proxy(s),
        E::InvalidProxyUrl => TransportError::Proxy("the proxy URL is not valid".into()),
        other => TransportError::Other(other.to_string()),
    }
}

/// A TLS failure in words; certificate problems say where trust comes from.
fn describe_tls(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by an authority trusted here (UnknownIssuer; trust comes from the OS trust store, or SSL_CERT_FILE)".into()
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName) => {
            "the server's certificate is not valid for this host name (NotValidForName)".into()
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired) => "the server's certificate has expired (Expired)".into(),
        other => other.to_string(),
    }
}

/// Checks a proxy URL (http or https proxies only; `host:port` means http).
pub fn check_proxy_url(p: &str, source: &str) -> CoreResult<()> {
    let with_scheme = if p.contains("://") { p.to_string() } else { format!("http://{p}") };
    if let Some(scheme) = with_scheme.split("://").next().filter(|s| s.to_ascii_lowercase().starts_with("socks")) {
        return Err(CoreError::invalid(format!("{source}: {scheme} proxies are not supported; use an http proxy")));
    }
    validate::parse_http_url(&with_scheme)
        .map(|_| ())
        .map_err(|why| CoreError::invalid(format!("{source}: the proxy '{}' is not valid: {why}", validate::printable_url(p))))
}

/// The proxy for a request to `target`: none for loopback; else the caller's proxy; else the
/// environment (HTTPS_PROXY / HTTP_PROXY by scheme, then ALL_PROXY) unless NO_PROXY matches the host.
pub fn choose_proxy(target: &HttpUrl, request_proxy: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Option<String>> {
    if target.is_loopback() {
        return Ok(None);
    }
    if let Some(p) = request_proxy.filter(|p| !p.trim().is_empty()) {
        check_proxy_url(p, "request field \"proxy\"")?;
        return Ok(Some(p.trim().to_string()));
    }
    let no_proxy = env("NO_PROXY").filter(|v| !v.trim().is_empty()).or_else(|| env("no_proxy"));
    if no_proxy.is_some_and(|np| no_proxy_matches(&target.host, &np)) {
        return Ok(None);
    }
    let names: &[&str] = if target.scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    for name in names {
        if let Some(p) = env(name).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
            check_proxy_url(&p, name)?;
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// NO_PROXY rules: entries separated by commas or spaces; `*` matches all; `.suffix` and `*.suffix`
/// match the domain and its subdomains; anything else matches the host exactly (case-insensitive;
/// a `:port` on an entry is ignored).
pub fn no_proxy_matches(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    no_proxy.split([',', ' ', '\t']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        let entry = strip_port(&entry);
        if let Some(suffix) = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')) {
            return !suffix.is_empty() && (host == suffix || host.ends_with(&format!(".{suffix}")));
        }
        host == entry
    })
}

fn strip_port(entry: &str) -> String {
    if let Some(inner) = entry.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("").to_string();
    }
    match entry.rsplit_once(':') {
        // one colon: host:port; more: a bare IPv6 address
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h.to_string(),
        _ => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    fn url(s: &str) -> HttpUrl {
        validate::parse_http_url(s).unwrap()
    }

    #[test]
    fn no_proxy_exact_suffix_and_star() {
        assert!(no_proxy_matches("login.microsoftonline.com", "login.microsoftonline.com"));
        assert!(no_proxy_matches("LOGIN.microsoftonline.com", "foo, login.MicrosoftOnline.com:443"));
        assert!(!no_proxy_matches("x.login.microsoftonline.com", "login.microsoftonline.com"));
        assert!(no_proxy_matches("login.microsoftonline.com", ".microsoftonline.com"));
        assert!(no_proxy_matches("login.microsoftonline.com", "*.microsoftonline.com"));
        assert!(no_proxy_matches("microsoftonline.com", ".microsoftonline.com"));
        assert!(!no_proxy_matches("evilmicrosoftonline.com", ".microsoftonline.com"));
        assert!(!no_proxy_matches("evilmicrosoftonline.com", "*.microsoftonline.com"));
        assert!(no_proxy_matches("anything", "a.b *"));
        assert!(no_proxy_matches("10.1.2.3", "10.1.2.3"));
        assert!(no_proxy_matches("::1", "[::1]:80"));
        assert!(!no_proxy_matches("example.com", ""));
        assert!(!no_proxy_matches("example.com", " , ,"));
        assert!(!no_proxy_matches("example.com", "."));
    }

    #[test]
    fn loopback_is_never_proxied() {
        let env = env_of(&[("HTTP_PROXY", "http://proxy:3128"), ("ALL_PROXY", "http://proxy:3128")]);
        assert_eq!(choose_proxy(&url("http://127.0.0.1:8080"), Some("http://p:1"), &env).unwrap(), None);
        assert_eq!(choose_proxy(&url("http://localhost:8080"), None, &env).unwrap(), None);
        assert_eq!(choose_proxy(&url("http://[::1]:8080"), None, &env).unwrap(), None);
    }

    #[test]
    fn proxy_by_scheme_then_all_proxy_and_no_proxy_wins() {
        let target = url("https://login.microsoftonline.com");
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("HTTP_PROXY", "http://plain:2"), ("ALL_PROXY", "http://all:3")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://secure:1"));
        let env = env_of(&[("https_proxy", "http://lower:1"), ("HTTP_PROXY", "http://plain:2")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://lower:1"));
        let env = env_of(&[("HTTP_PROXY", "http://plain:2"), ("all_proxy", "http://all:3")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://all:3"));
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("no_proxy", ".microsoftonline.com")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap(), None);
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("NO_PROXY", "*")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap(), None);
        assert_eq!(choose_proxy(&target, None, &env_of(&[])).unwrap(), None);
    }

    #[test]
    fn the_callers_proxy_beats_the_environment_but_not_loopback() {
        let target = url("https://login.microsoftonline.com");
        let env = env_of(&[("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")]);
        assert_eq!(choose_proxy(&target, Some("http://system:8080"), &env).unwrap().as_deref(), Some("http://system:8080"));
    }

    #[test]
    fn bad_proxies_are_invalid_requests_naming_the_variable() {
        let target = url("https://login.microsoftonline.com");
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "socks5://p:1")])).unwrap_err();
        assert!(e.code == Code::InvalidRequest && e.message.contains("HTTPS_PROXY"), "{}", e.message);
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "http://bad host")])).unwrap_err();
        assert!(e.message.contains("HTTPS_PROXY"), "{}", e.message);
        assert!(check_proxy_url("proxy.corp:3128", "x").is_ok());
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "http://user:S3cret@bad host:1")])).unwrap_err();
        assert!(!e.message.contains("S3cret") && e.message.contains("http://***@bad host:1"), "{}", e.message);
    }

    #[test]
    fn tls_failures_wrapped_in_io_errors_are_tls_not_a_broken_connection() {
        for (cert, words) in [
            (rustls::CertificateError::UnknownIssuer, "not signed by an authority trusted here"),
            (rustls::CertificateError::NotValidForName, "not valid for this host name"),
            (rustls::CertificateError::Expired, "has expired"),
        ] {
            let io = std::io::Error::new(ErrorKind::InvalidData, rustls::Error::InvalidCertificate(cert));
            match map_ureq_error(ureq::Error::Io(io)) {
                TransportError::Tls(why) => assert!(why.contains(words), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        let io = std::io::Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        let e = map_ureq_error(ureq::Error::Io(io));
        assert!(matches!(e, TransportError::Tls(_)) && !e.is_transient(), "{e:?}");
        assert!(e.to_core("h:1").message.starts_with("TLS with the authority h:1 failed: "));
        // Other I/O errors keep their meaning.
        let e = map_ureq_error(ureq::Error::Io(std::io::Error::new(ErrorKind::ConnectionReset, "reset")));
        assert_eq!(e, TransportError::Broken("the connection was reset".into()));
    }

    #[test]
    fn transient_errors_are_the_network_kind() {
        assert!(TransportError::Connect("x".into()).is_transient());
        assert!(TransportError::Broken("x".into()).is_transient());
        assert!(TransportError::Timeout("x".into()).is_transient());
        assert!(!TransportError::Tls("x".into()).is_transient());
        assert!(!TransportError::TooLarge.is_transient());
        let e = TransportError::TooLarge.to_core("h");
        assert_eq!(e.code, Code::ProtocolError);
        assert!(e.message.contains("too large"));
    }
}
