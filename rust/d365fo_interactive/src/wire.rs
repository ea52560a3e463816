//! Reading the authority's answers: the device code response, the token poll replies and the refresh
//! replies, as Entra ID really sends them (v1 numbers as strings, `verification_url` or `verification_uri`,
//! errors on 200). Everything taken from an answer is checked before it goes anywhere: numbers are bounded,
//! text is made safe for a terminal, the access token must be a bearer token. Nothing here ever copies a
//! token or the device code into a message.

use crate::error::{Code, CoreError, CoreResult};
use crate::http::HttpReply;
use crate::text::{self, display_line, first_line};
use crate::validate;
use serde_json::{Map, Value};

/// Bounds on what an authority may say; anything outside is clamped (and noted at -Verbose).
pub const DEVICE_CODE_LIFETIME_SECS: (u64, u64) = (1, 86_400);
/// RFC 8628 suggests 5 s; more than a minute between polls would leave a person waiting for nothing.
pub const POLL_INTERVAL_SECS: (u64, u64) = (1, 60);
/// Entra ID access tokens live 60 to 90 minutes; nothing lives longer than a day.
pub const TOKEN_LIFETIME_SECS: (u64, u64) = (0, 86_400);
/// When an answer has no `expires_in` (RFC 8628 §3.2 makes it required for the device code).
pub const DEFAULT_DEVICE_CODE_LIFETIME_SECS: u64 = 900;
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 5;
/// Longest text shown from an answer.
const MAX_MESSAGE_CHARS: usize = 500;
const MAX_DESCRIPTION_CHARS: usize = 300;
const MAX_ERROR_CHARS: usize = 100;

/// What the device code endpoint gave us, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_url: String,
    pub expires_in: u64,
    pub interval: u64,
    /// The authority's own instruction (localised by the service), made safe to show.
    pub message: String,
    /// Remarks for -Verbose (defaults applied, values clamped, and why).
    pub notes: Vec<String>,
}

/// A successful token answer, checked: the raw object for -RawOutput and the parts the module uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub response: Map<String, Value>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds from receipt until the access token expires, bounded by `TOKEN_LIFETIME_SECS`.
    pub lifetime_secs: u64,
    pub notes: Vec<String>,
}

/// An OAuth error answer, reduced to what is safe and useful to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: String,
    /// First line of `error_description` (without Trace ID / Correlation ID / Timestamp lines).
    pub description: Option<String>,
    /// e.g. "AADSTS70016", from the description or `error_codes`.
    pub aadsts: Option<String>,
    pub http_status: u16,
}

impl OAuthError {
    /// "error: description" for messages.
    pub fn summary(&self) -> String {
        match &self.description {
            Some(d) => format!("{}: {}", self.error, d),
            None => self.error.clone(),
        }
    }

    /// A CoreError carrying the OAuth fields as details.
    pub fn to_core(&self, code: Code, message: String) -> CoreError {
        let mut e = CoreError::new(code, message).with("error", self.error.clone()).with("http_status", self.http_status);
        if let Some(d) = &self.description {
            e = e.with("error_description", d.clone());
        }
        if let Some(a) = &self.aadsts {
            e = e.with("aadsts", a.clone());
        }
        e
    }
}

/// What an OAuth error means for a person, as one clause: the well-known AADSTS codes in plain words, else the
/// OAuth error's meaning. The authority's own words follow it in messages.
pub fn plain_cause(e: &OAuthError) -> &'static str {
    let known = match e.aadsts.as_deref().unwrap_or("") {
        "AADSTS7000218" => Some(
            "the application (client id) may not use the device code flow: in its app registration allow public client flows, or use another client id",
        ),
        "AADSTS700016" => Some("the application (client id) is not known in this tenant"),
        "AADSTS90002" | "AADSTS900023" => Some("the tenant was not found; check -Tenant"),
        "AADSTS50196" => Some("the authority saw too many requests in a short time (loop detection); wait a minute and try again"),
        "AADSTS65001" | "AADSTS65002" => Some("the application needs consent for this resource in this tenant"),
        "AADSTS53003" => Some("a Conditional Access policy of the tenant blocked the sign-in"),
        "AADSTS50097" | "AADSTS53000" | "AADSTS530033" => {
            Some("the tenant requires a registered or compliant device, which a device code sign-in cannot prove")
        }
        "AADSTS500011" => Some("the resource (-Url) is not known in this tenant; check the environment URL"),
        "AADSTS50076" | "AADSTS50079" => Some("multi-factor authentication is required"),
        "AADSTS70000" | "AADSTS70018" | "AADSTS54005" => Some("the authority did not accept the code"),
        _ => None,
    };
    known.unwrap_or(match e.error.as_str() {
        "invalid_client" => "the authority refused the application (client id)",
        "unauthorized_client" => "the application may not sign in this way",
        "invalid_grant" | "bad_verification_code" => "the authority did not accept the code",
        "invalid_scope" | "invalid_resource" => "the authority does not know the resource (-Url)",
        "interaction_required" => "the authority requires an interactive sign-in",
        "access_denied" | "authorization_declined" => "access was denied",
        "invalid_request" => "the authority refused the request",
        _ => "the authority refused",
    })
}

/// What one token poll means for the poller.
#[derive(Debug, Clone)]
pub enum TokenReply {
    Token(Box<TokenSet>),
    Pending,
    SlowDown,
    Declined(OAuthError),
    Expired(OAuthError),
    /// 429, 5xx, temporarily_unavailable: worth another try; `retry_after` from the header.
    Transient {
        error: CoreError,
        retry_after: Option<u64>,
    },
    /// Stop with this error.
    Fatal(CoreError),
}

/// Replaces each secret (e.g. the device code) that appears in `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "[redacted]");
    }
    out
}

/// Reads an OAuth error out of a JSON object, if it is one.
pub fn oauth_error(obj: &Map<String, Value>, http_status: u16, secrets: &[&str]) -> Option<OAuthError> {
    let error = match obj.get("error")? {
        Value::String(s) if !s.trim().is_empty() => first_line(s, MAX_ERROR_CHARS),
        Value::Null => return None,
        other => first_line(&other.to_string(), MAX_ERROR_CHARS),
    };
    let error = redact(&error, secrets);
    let full_description = obj.get("error_description").and_then(Value::as_str).unwrap_or("");
    let description = Some(redact(&first_line(full_description, MAX_DESCRIPTION_CHARS), secrets)).filter(|d| !d.is_empty());
    let aadsts = aadsts_in(full_description).or_else(|| {
        obj.get("error_codes").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_u64).map(|n| format!("AADSTS{n}"))
    });
    Some(OAuthError { error, description, aadsts, http_status })
}

fn aadsts_in(s: &str) -> Option<String> {
    let at = s.find("AADSTS")?;
    let digits: String = s[at + 6..].chars().take_while(|c| c.is_ascii_digit()).take(10).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// A number of seconds as the authority wrote it (a number or a numeric string, Entra v1 sends "900"):
/// `Some(n)` for a whole number ≥ 0, saturating at `u64::MAX` instead of overflowing; `None` otherwise.
pub fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            // Whole, non-negative; 1e300 saturates.
            (f >= 0.0 && f.fract() == 0.0).then_some(if f >= u64::MAX as f64 { u64::MAX } else { f as u64 })
        }),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(t.parse::<u64>().unwrap_or(u64::MAX))
        }
        _ => None,
    }
}

/// `n` within `(min, max)`, with a note when it had to be moved.
fn clamp_noted(n: u64, (min, max): (u64, u64), what: &str, notes: &mut Vec<String>) -> u64 {
    let c = n.clamp(min, max);
    if c != n {
        notes.push(format!("the authority's {what} of {n} s is outside {min}..{max} s; using {c} s"));
    }
    c
}

fn is_html(reply: &HttpReply, text: &str) -> bool {
    reply.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("html")) || text.trim_start().get(..1) == Some("<")
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + 7;
    let end = start + lower[start..].find("</title>")?;
    let t = first_line(text.get(start..end)?, 80);
    (!t.is_empty()).then_some(t)
}

fn protocol(msg: String, status: u16) -> CoreError {
    CoreError::new(Code::ProtocolError, msg).with("http_status", status)
}

/// Refuses redirects, naming where they pointed (the host only).
fn check_redirect(reply: &HttpReply, host: &str) -> CoreResult<()> {
    if !(300..400).contains(&reply.status) {
        return Ok(());
    }
    let target = match reply.location.as_deref().map(str::trim) {
        Some(loc) if loc.contains("://") => match validate::parse_http_url(loc) {
            Ok(u) => format!("{}://{}", u.scheme, u.host_port()),
            Err(_) => "an address that is not http(s)".to_string(),
        },
        Some(loc) if loc.starts_with("//") => {
            format!("the host {}", first_line(loc.trim_start_matches('/').split('/').next().unwrap_or(""), 80))
        }
        Some(_) => "another path on the same host".to_string(),
        None => "nowhere (no Location header)".to_string(),
    };
    Err(protocol(
        format!("the authority {host} answered with a redirect (HTTP {}) to {target}; redirects are not followed", reply.status),
        reply.status,
    ))
}

/// The body as a JSON object, or a ProtocolError that describes what came instead (no excerpts).
pub fn json_object(reply: &HttpReply, host: &str) -> CoreResult<Map<String, Value>> {
    check_redirect(reply, host)?;
    let s = reply.status;
    let Ok(text) = std::str::from_utf8(&reply.body) else {
        return Err(protocol(
            format!("the authority {host} answered HTTP {s} with a body that is not valid UTF-8 ({} bytes)", reply.body.len()),
            s,
        ));
    };
    if text.trim().is_empty() {
        return Err(protocol(format!("the authority {host} answered HTTP {s} with an empty body instead of JSON"), s));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err(protocol(format!("the authority {host} answered HTTP {s} with JSON {kind} instead of an object"), s))
        }
        Err(_) if is_html(reply, text) => {
            let title = html_title(text).map(|t| format!(" (\"{t}\")")).unwrap_or_default();
            Err(protocol(format!("the authority {host} answered HTTP {s} with an HTML page{title} instead of JSON"), s))
        }
        Err(e) => Err(protocol(
            format!(
                "the authority {host} answered HTTP {s} with a body that is not valid JSON ({} bytes; {} at line {} column {})",
                reply.body.len(),
                match e.classify() {
                    serde_json::error::Category::Eof => "it ends too early",
                    serde_json::error::Category::Syntax => "syntax error",
                    _ => "unreadable",
                },
                e.line(),
                e.column()
            ),
            s,
        )),
    }
}

/// Reads the device code response (any status: Entra may send errors with 200).
pub fn parse_device_code(reply: &HttpReply, host: &str) -> CoreResult<DeviceCode> {
    let obj = json_object(reply, host)?;
    let s = reply.status;
    let device_code_text = obj.get("device_code").and_then(Value::as_str).unwrap_or("");
    if let Some(err) = oauth_error(&obj, s, &[device_code_text]) {
        return Err(err.to_core(
            Code::AuthorityError,
            format!("the device code request was refused: {} (the authority said: {}; HTTP {s})", plain_cause(&err), err.summary()),
        ));
    }
    if !(200..300).contains(&s) {
        return Err(protocol(format!("the authority {host} answered the device code request with HTTP {s} and no OAuth error"), s));
    }
    let missing = |what: &str| protocol(format!("the device code response from {host} has no usable {what}"), s);
    let mut notes = Vec::new();

    let device_code = device_code_text.to_string();
    if device_code.is_empty() || device_code.len() > 8192 || !device_code.chars().all(|c| c.is_ascii_graphic()) {
        return Err(missing("device_code"));
    }
    let user_code = match obj.get("user_code").and_then(Value::as_str) {
        None => return Err(missing("user_code")),
        Some(u) if !text::is_plain_user_code(u.trim()) => {
            return Err(protocol(
                format!("the user code from {host} is not plain text (letters, digits and '-', at most 32); refusing to show it"),
                s,
            ));
        }
        Some(u) => u.trim().to_string(),
    };
    let url_value = obj.get("verification_uri").filter(|v| v.is_string()).or_else(|| obj.get("verification_url"));
    let verification_url = url_value.and_then(Value::as_str).unwrap_or("").trim().to_string();
    match validate::parse_http_url(&verification_url) {
        Err(_) => return Err(missing("verification_uri (or verification_url)")),
        Ok(u) if u.scheme != "https" && !u.is_loopback() => {
            return Err(protocol(
                format!("the verification URL from {host} is plain http to another host; refusing to show or open it"),
                s,
            ));
        }
        Ok(_) => {}
    }
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => {
            notes.push(format!("the authority sent no expires_in; assuming {DEFAULT_DEVICE_CODE_LIFETIME_SECS} seconds"));
            DEFAULT_DEVICE_CODE_LIFETIME_SECS
        }
        Some(v) => match seconds(v) {
            Some(0) | None => {
                return Err(protocol(format!("the device code response from {host} has an expires_in that is not a positive number"), s));
            }
            Some(n) => clamp_noted(n, DEVICE_CODE_LIFETIME_SECS, "code lifetime (expires_in)", &mut notes),
        },
    };
    let interval = match obj.get("interval") {
        None | Some(Value::Null) => {
            notes.push(format!("the authority sent no interval; polling every {DEFAULT_POLL_INTERVAL_SECS} seconds (RFC 8628)"));
            DEFAULT_POLL_INTERVAL_SECS
        }
        Some(v) => match seconds(v) {
            None => {
                return Err(protocol(format!("the device code response from {host} has an interval that is not a number"), s));
            }
            Some(0) => {
                notes.push(format!("the authority sent interval 0; polling every {DEFAULT_POLL_INTERVAL_SECS} seconds"));
                DEFAULT_POLL_INTERVAL_SECS
            }
            Some(n) => clamp_noted(n, POLL_INTERVAL_SECS, "polling interval", &mut notes),
        },
    };
    let message = match obj.get("message").and_then(Value::as_str) {
        Some(m) => display_line(&redact(m, &[&device_code]), MAX_MESSAGE_CHARS),
        None => String::new(),
    };
    Ok(DeviceCode { device_code, user_code, verification_url, expires_in, interval, message, notes })
}

fn is_transient_status(s: u16) -> bool {
    s == 429 || (500..600).contains(&s)
}

/// Reads a successful token answer (device code or refresh grant): the access token must be a bearer token
/// (RFC 6750 b64token: nothing that could change a header), the lifetime is bounded.
pub fn parse_token_set(obj: Map<String, Value>, host: &str, status: u16) -> CoreResult<TokenSet> {
    let access_token = match obj.get("access_token") {
        Some(Value::String(t)) if text::is_b64token(t) => t.clone(),
        Some(Value::String(t)) if t.trim().is_empty() => {
            return Err(protocol(format!("the token response from {host} has an empty access_token"), status));
        }
        Some(Value::String(_)) => {
            return Err(protocol(
                format!("the access token from {host} contains characters a bearer token cannot have (RFC 6750); it was not used"),
                status,
            ));
        }
        Some(_) => {
            return Err(protocol(format!("the token response from {host} has an access_token that is not a string"), status));
        }
        None => {
            return Err(protocol(format!("the token response from {host} has no access_token"), status));
        }
    };
    let mut notes = Vec::new();
    let refresh_token = match obj.get("refresh_token") {
        Some(Value::String(t)) if !t.is_empty() && t.len() <= text::MAX_TOKEN_CHARS && t.chars().all(|c| c.is_ascii_graphic()) => {
            Some(t.clone())
        }
        None | Some(Value::Null) => None,
        Some(_) => {
            notes.push("the authority's refresh token is not plain text; it is not kept (the next sign-in is interactive)".into());
            None
        }
    };
    let now = crate::clock::unix_now();
    let lifetime_secs = match (obj.get("expires_in").and_then(seconds), obj.get("expires_on").and_then(seconds)) {
        (Some(n), _) => clamp_noted(n, TOKEN_LIFETIME_SECS, "token lifetime (expires_in)", &mut notes),
        (None, Some(on)) => clamp_noted(on.saturating_sub(now), TOKEN_LIFETIME_SECS, "token lifetime (expires_on)", &mut notes),
        (None, None) => {
            notes.push("the token response has no expires_in; assuming one hour".into());
            3600
        }
    };
    Ok(TokenSet { response: obj, access_token, refresh_token, lifetime_secs, notes })
}

/// Classifies one token poll reply. `secrets` are redacted from anything taken from the body.
pub fn classify_token_reply(reply: &HttpReply, host: &str, secrets: &[&str]) -> TokenReply {
    let s = reply.status;
    let obj = match json_object(reply, host) {
        Ok(v) => v,
        Err(e) if is_transient_status(s) => {
            return TokenReply::Transient { error: e, retry_after: reply.retry_after };
        }
        Err(e) => return TokenReply::Fatal(e),
    };
    if let Some(err) = oauth_error(&obj, s, secrets) {
        return match err.error.as_str() {
            "authorization_pending" => TokenReply::Pending,
            "slow_down" => TokenReply::SlowDown,
            "authorization_declined" | "access_denied" => TokenReply::Declined(err),
            "expired_token" | "code_expired" => TokenReply::Expired(err),
            "temporarily_unavailable" => TokenReply::Transient {
                error: err.to_core(Code::AuthorityError, format!("the authority is temporarily unavailable: {} (HTTP {s})", err.summary())),
                retry_after: reply.retry_after,
            },
            _ if is_transient_status(s) => TokenReply::Transient {
                error: err.to_core(Code::AuthorityError, format!("the authority answered with an error: {} (HTTP {s})", err.summary())),
                retry_after: reply.retry_after,
            },
            _ => TokenReply::Fatal(err.to_core(
                Code::AuthorityError,
                format!("the sign-in was refused: {} (the authority said: {}; HTTP {s})", plain_cause(&err), err.summary()),
            )),
        };
    }
    if is_transient_status(s) {
        return TokenReply::Transient {
            error: protocol(format!("the authority {host} answered HTTP {s} without an OAuth error"), s),
            retry_after: reply.retry_after,
        };
    }
    if !(200..300).contains(&s) {
        return TokenReply::Fatal(protocol(format!("the authority {host} answered HTTP {s} without an OAuth error"), s));
    }
    match parse_token_set(obj, host, s) {
        Ok(t) => TokenReply::Token(Box::new(t)),
        Err(e) => TokenReply::Fatal(e),
    }
}

/// The answer to a refresh grant: a new token set, or why the authority refused (an OAuth error, so the
/// caller can fall back to signing in interactively), or a failure to talk to it.
pub enum RefreshReply {
    Token(Box<TokenSet>),
    Refused(OAuthError),
    Failed(CoreError),
}

/// Classifies the answer to a refresh grant.
pub fn classify_refresh_reply(reply: &HttpReply, host: &str, secrets: &[&str]) -> RefreshReply {
    let s = reply.status;
    let obj = match json_object(reply, host) {
        Ok(v) => v,
        Err(e) => return RefreshReply::Failed(e),
    };
    if let Some(err) = oauth_error(&obj, s, secrets) {
        return RefreshReply::Refused(err);
    }
    if !(200..300).contains(&s) {
        return RefreshReply::Failed(protocol(format!("the authority {host} answered HTTP {s} without an OAuth error"), s));
    }
    match parse_token_set(obj, host, s) {
        Ok(t) => RefreshReply::Token(Box::new(t)),
        Err(e) => RefreshReply::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status,
            content_type: Some("application/json; charset=utf-8".into()),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn v1_device_code_with_string_numbers_and_verification_url() {
        let r = reply(
            200,
            r#"{"user_code":"EZ2KYPAW4","device_code":"EAAABAAEAiL9Kn2Z27Uubv","verification_url":"https://aka.ms/devicelogin","expires_in":"900","interval":"5","message":"To sign in, use a web browser to open the page https://aka.ms/devicelogin. Enter the code EZ2KYPAW4 to authenticate."}"#,
        );
        let d = parse_device_code(&r, "h").unwrap();
        assert_eq!(
            (d.user_code.as_str(), d.verification_url.as_str(), d.expires_in, d.interval),
            ("EZ2KYPAW4", "https://aka.ms/devicelogin", 900, 5)
        );
        assert!(d.message.contains("EZ2KYPAW4") && d.notes.is_empty());
    }

    #[test]
    fn v2_device_code_with_int_numbers_and_verification_uri() {
        let r = reply(
            200,
            r#"{"user_code":"ABC","device_code":"DCDCDC","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"m"}"#,
        );
        let d = parse_device_code(&r, "h").unwrap();
        assert_eq!(
            (d.verification_url.as_str(), d.expires_in, d.interval, d.message.as_str()),
            ("https://microsoft.com/devicelogin", 900, 5, "m")
        );
    }

    #[test]
    fn device_code_defaults_and_refusals() {
        let d = parse_device_code(&reply(200, r#"{"user_code":"U","device_code":"D","verification_uri":"https://x/y"}"#), "h").unwrap();
        assert_eq!((d.expires_in, d.interval, d.notes.len(), d.message.as_str()), (900, 5, 2, ""));
        for (body, word) in [
            (r#"{"device_code":"D","verification_uri":"https://x"}"#, "user_code"),
            (r#"{"user_code":"U","verification_uri":"https://x"}"#, "device_code"),
            (r#"{"user_code":"U","device_code":"D"}"#, "verification_uri"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"javascript:alert(1)"}"#, "verification_uri"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"http://evil.example/x"}"#, "plain http"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"https://x","interval":"five"}"#, "interval"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"https://x","expires_in":0}"#, "expires_in"),
            (r#"{"user_code":"U\u202eX","device_code":"D","verification_uri":"https://x"}"#, "not plain text"),
            (r#"{"user_code":"U\u200bX","device_code":"D","verification_uri":"https://x"}"#, "not plain text"),
            (r#"{"user_code":"\u001b[2J","device_code":"D","verification_uri":"https://x"}"#, "not plain text"),
        ] {
            let e = parse_device_code(&reply(200, body), "h").unwrap_err();
            assert_eq!(e.code, Code::ProtocolError, "{body}");
            assert!(e.message.contains(word), "{body}: {}", e.message);
        }
        let long_url = format!(r#"{{"user_code":"U","device_code":"D","verification_uri":"https://x/{}"}}"#, "a".repeat(3_000_000));
        assert!(parse_device_code(&reply(200, &long_url), "h").is_err());
    }

    #[test]
    fn authority_numbers_are_bounded_and_never_overflow() {
        for (expires, interval, want_e, want_i) in [
            ("1000000000000", "5", 86_400, 5),
            ("18446744073709551615", "18446744073709551615", 86_400, 60),
            ("99999999999999999999999", "1e3", 86_400, 0),
            ("900", "3600", 900, 60),
        ] {
            let body = format!(
                r#"{{"user_code":"U","device_code":"D","verification_uri":"https://x","expires_in":"{expires}","interval":"{interval}"}}"#
            );
            match parse_device_code(&reply(200, &body), "h") {
                Ok(d) => {
                    assert_eq!((d.expires_in, d.interval), (want_e, want_i), "{body}");
                    assert!(d.notes.iter().any(|n| n.contains("outside")), "{:?}", d.notes);
                }
                Err(e) => assert!(want_i == 0 && e.message.contains("interval"), "{}", e.message),
            }
        }
        let body =
            r#"{"user_code":"U","device_code":"D","verification_uri":"https://x","expires_in":1e300,"interval":1.8446744073709552e19}"#;
        let d = parse_device_code(&reply(200, body), "h").unwrap();
        assert_eq!((d.expires_in, d.interval), (86_400, 60));
    }

    #[test]
    fn hostile_text_in_the_message_is_made_safe_and_short() {
        let body = format!(
            r#"{{"user_code":"U","device_code":"SECRETDC","verification_uri":"https://x","message":"Go\u001b]0;pwned\u0007 \u202etxt.exe SECRETDC {}"}}"#,
            "z".repeat(100_000)
        );
        let d = parse_device_code(&reply(200, &body), "h").unwrap();
        assert!(d.message.chars().all(text::is_safe_char), "{:?}", &d.message[..40]);
        assert!(!d.message.contains("SECRETDC") && d.message.chars().count() <= 501);
    }

    #[test]
    fn device_code_errors_arrive_even_with_status_200() {
        let r = reply(
            200,
            r#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[7000218]}"#,
        );
        let e = parse_device_code(&r, "h").unwrap_err();
        assert_eq!(e.code, Code::AuthorityError);
        assert_eq!(e.details["error"], json!("invalid_client"));
        assert_eq!(e.details["aadsts"], json!("AADSTS7000218"));
        assert_eq!(e.details["http_status"], json!(200));
        let d = e.details["error_description"].as_str().unwrap();
        assert!(d.starts_with("AADSTS7000218:") && !d.contains("Trace ID"), "{d}");
    }

    #[test]
    fn error_text_from_the_authority_is_made_safe() {
        let r = reply(
            400,
            &format!(
                r#"{{"error":"bad\u001b[31m\u202e","error_description":"AADSTS1: \u001b]8;;http://evil\u0007click{}"}}"#,
                "w".repeat(10_000)
            ),
        );
        match classify_token_reply(&r, "h", &[]) {
            TokenReply::Fatal(e) => {
                assert!(e.message.chars().all(text::is_safe_char), "{}", e.message);
                assert!(e.message.chars().count() < 600, "{}", e.message.len());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_cause_in_plain_words() {
        let r = reply(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: t"}"#,
        );
        let TokenReply::Fatal(e) = classify_token_reply(&r, "h", &[]) else { panic!() };
        assert!(
            e.message.starts_with("the sign-in was refused: the application (client id) may not use the device code flow"),
            "{}",
            e.message
        );
        assert!(e.message.contains("AADSTS7000218") && !e.message.contains('{'), "{}", e.message);
        let r = reply(400, r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#);
        let e = parse_device_code(&r, "h").unwrap_err();
        assert!(e.message.contains("the tenant was not found"), "{}", e.message);
        let unknown = OAuthError { error: "weird".into(), description: None, aadsts: None, http_status: 400 };
        assert_eq!(plain_cause(&unknown), "the authority refused");
    }

    #[test]
    fn token_replies_map_to_the_loop() {
        let err = |e: &str| {
            reply(400, &format!(r#"{{"error":"{e}","error_description":"AADSTS70016: x\r\nTrace ID: t","error_codes":[70016]}}"#))
        };
        assert!(matches!(classify_token_reply(&err("authorization_pending"), "h", &[]), TokenReply::Pending));
        assert!(matches!(classify_token_reply(&err("slow_down"), "h", &[]), TokenReply::SlowDown));
        assert!(matches!(classify_token_reply(&err("authorization_declined"), "h", &[]), TokenReply::Declined(_)));
        assert!(matches!(classify_token_reply(&err("access_denied"), "h", &[]), TokenReply::Declined(_)));
        assert!(matches!(classify_token_reply(&err("expired_token"), "h", &[]), TokenReply::Expired(_)));
        assert!(matches!(classify_token_reply(&err("code_expired"), "h", &[]), TokenReply::Expired(_)));
        match classify_token_reply(&err("invalid_grant"), "h", &[]) {
            TokenReply::Fatal(e) => {
                assert_eq!(e.code, Code::AuthorityError);
                assert_eq!(e.details["aadsts"], json!("AADSTS70016"));
                assert_eq!(e.details["http_status"], json!(400));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_success_keeps_the_response_and_bounds_the_lifetime() {
        let body = r#"{"token_type":"Bearer","expires_in":"3599","expires_on":"1700000000","access_token":"a.b.c","refresh_token":"R.T","zzz":{"n":[1,2]}}"#;
        match classify_token_reply(&reply(200, body), "h", &[]) {
            TokenReply::Token(t) => {
                assert_eq!(Value::Object(t.response.clone()), serde_json::from_str::<Value>(body).unwrap());
                assert_eq!((t.access_token.as_str(), t.refresh_token.as_deref(), t.lifetime_secs), ("a.b.c", Some("R.T"), 3599));
            }
            other => panic!("{other:?}"),
        }
        for (lifetime, want) in [("1000000000000", 86_400), ("18446744073709551616", 86_400), ("-5", 3600)] {
            let body = format!(r#"{{"access_token":"a","expires_in":"{lifetime}"}}"#);
            let TokenReply::Token(t) = classify_token_reply(&reply(200, &body), "h", &[]) else { panic!("{body}") };
            assert_eq!(t.lifetime_secs, want, "{body}");
        }
        let far = crate::clock::unix_now() + 100;
        let TokenReply::Token(t) = classify_token_reply(&reply(200, &format!(r#"{{"access_token":"a","expires_on":"{far}"}}"#)), "h", &[])
        else {
            panic!()
        };
        assert!((99..=100).contains(&t.lifetime_secs));
        assert!(matches!(classify_token_reply(&reply(200, r#"{"token_type":"Bearer"}"#), "h", &[]), TokenReply::Fatal(_)));
        assert!(matches!(classify_token_reply(&reply(200, r#"{"access_token":5}"#), "h", &[]), TokenReply::Fatal(_)));
    }

    #[test]
    fn an_access_token_that_could_break_a_header_is_refused_and_never_echoed() {
        for at in ["abc\r\nX-Injected: 1", "abc\u{1b}[2Jdef", "abc def", "abc\u{0}", "ab,c"] {
            let body = json!({ "access_token": at, "expires_in": 3599 }).to_string();
            match classify_token_reply(&reply(200, &body), "h", &[]) {
                TokenReply::Fatal(e) => {
                    assert_eq!(e.code, Code::ProtocolError);
                    assert!(e.message.contains("RFC 6750") && !e.to_json().contains("abc"), "{}", e.message);
                }
                other => panic!("{at:?}: {other:?}"),
            }
        }
        let body = json!({ "access_token": "ok.ok", "refresh_token": "bad\r\nrt" }).to_string();
        let TokenReply::Token(t) = classify_token_reply(&reply(200, &body), "h", &[]) else { panic!() };
        assert!(t.refresh_token.is_none() && !t.notes.is_empty());
    }

    #[test]
    fn transient_statuses_and_garbage() {
        let mut r = reply(503, "Service Unavailable");
        r.retry_after = Some(7);
        match classify_token_reply(&r, "h", &[]) {
            TokenReply::Transient { retry_after, error } => {
                assert_eq!(retry_after, Some(7));
                assert_eq!(error.code, Code::ProtocolError);
            }
            other => panic!("{other:?}"),
        }
        let mut html = reply(502, "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>");
        html.content_type = Some("text/html".into());
        match classify_token_reply(&html, "h", &[]) {
            TokenReply::Transient { error, .. } => {
                assert!(error.message.contains("HTML page (\"502 Bad Gateway\") instead of JSON"), "{}", error.message)
            }
            other => panic!("{other:?}"),
        }
        match classify_token_reply(&reply(200, r#"{"access_token": "abc", "#), "h", &[]) {
            TokenReply::Fatal(e) => {
                assert_eq!(e.code, Code::ProtocolError);
                assert!(e.message.contains("not valid JSON") && !e.message.contains("abc"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
        let bad = HttpReply { status: 200, body: vec![b'{', 0xff, 0xfe, b'}'], ..Default::default() };
        match classify_token_reply(&bad, "h", &[]) {
            TokenReply::Fatal(e) => assert!(e.message.contains("not valid UTF-8"), "{}", e.message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn redirects_name_only_the_target_host() {
        let r = HttpReply { status: 302, location: Some("https://evil.example:8443/steal?code=SECRET".into()), ..Default::default() };
        match classify_token_reply(&r, "h", &[]) {
            TokenReply::Fatal(e) => {
                assert!(e.message.contains("https://evil.example:8443") && !e.message.contains("SECRET"), "{}", e.message);
                assert_eq!(e.code, Code::ProtocolError);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_in_error_text_are_redacted() {
        let r = reply(400, r#"{"error":"invalid_grant","error_description":"AADSTS70000: code DEVICECODE123 is bad"}"#);
        match classify_token_reply(&r, "h", &["DEVICECODE123"]) {
            TokenReply::Fatal(e) => assert!(!e.to_json().contains("DEVICECODE123")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refresh_replies() {
        assert!(matches!(
            classify_refresh_reply(&reply(200, r#"{"access_token":"n.e.w","refresh_token":"R2","expires_in":3599}"#), "h", &[]),
            RefreshReply::Token(_)
        ));
        match classify_refresh_reply(
            &reply(400, r#"{"error":"invalid_grant","error_description":"AADSTS700082: expired\r\nTrace ID: x"}"#),
            "h",
            &["OLD-RT"],
        ) {
            RefreshReply::Refused(e) => assert_eq!((e.error.as_str(), e.aadsts.as_deref()), ("invalid_grant", Some("AADSTS700082"))),
            _ => panic!("refused expected"),
        }
        assert!(matches!(classify_refresh_reply(&reply(502, "<html>"), "h", &[]), RefreshReply::Failed(_)));
    }

    #[test]
    fn seconds_accepts_strings_and_whole_numbers() {
        assert_eq!(seconds(&json!("900")), Some(900));
        assert_eq!(seconds(&json!(" 5 ")), Some(5));
        assert_eq!(seconds(&json!(5)), Some(5));
        assert_eq!(seconds(&json!(5.0)), Some(5));
        assert_eq!(seconds(&json!(5.5)), None);
        assert_eq!(seconds(&json!(-1)), None);
        assert_eq!(seconds(&json!("x")), None);
        assert_eq!(seconds(&json!("-1")), None);
        assert_eq!(seconds(&json!(null)), None);
        assert_eq!(seconds(&json!("99999999999999999999999")), Some(u64::MAX));
        assert_eq!(seconds(&json!(1e300)), Some(u64::MAX));
    }
}
