//! Reading the authority's answers: the device code response and the token poll replies, as Entra ID
//! really sends them (v1 numbers as strings, `verification_url` or `verification_uri`, errors on 200).
//! Nothing here ever copies a token or the device code into a message.

use crate::error::{Code, CoreError, CoreResult};
use crate::http::HttpReply;
use crate::validate;
use serde_json::{Map, Value};

/// What the device code endpoint gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_url: String,
    pub expires_in: u64,
    pub interval: u64,
    pub message: String,
    /// Remarks for the log (defaults applied and why).
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

/// What one token poll means for the loop.
#[derive(Debug, Clone)]
pub enum TokenReply {
    /// The token response, as the authority sent it.
    Token(String),
    Pending,
    SlowDown,
    Declined(OAuthError),
    Expired(OAuthError),
    /// 429, 5xx: worth another try; `retry_after` from the header.
    Transient { error: CoreError, retry_after: Option<u64> },
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

fn one_line(s: &str, max: usize) -> String {
    let line = s.split(['\r', '\n']).map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut out: String = line.chars().filter(|c| !c.is_control()).take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

/// Reads an OAuth error out of a JSON object, if it is one.
pub fn oauth_error(obj: &Map<String, Value>, http_status: u16, secrets: &[&str]) -> Option<OAuthError> {
    let error = match obj.get("error")? {
        Value::String(s) if !s.trim().is_empty() => one_line(s, 100),
        Value::Null => return None,
        other => one_line(&other.to_string(), 100),
    };
    let error = redact(&error, secrets);
    let full_description = obj.get("error_description").and_then(Value::as_str).unwrap_or("");
    let description = Some(redact(&one_line(full_description, 300), secrets)).filter(|d| !d.is_empty());
    let aadsts = aadsts_in(full_description).or_else(|| {
        obj.get("error_codes")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_u64)
            .map(|n| format!("AADSTS{n}"))
    });
    Some(OAuthError { error, description, aadsts, http_status })
}

fn aadsts_in(s: &str) -> Option<String> {
    let at = s.find("AADSTS")?;
    let digits: String = s[at + 6..].chars().take_while(|c| c.is_ascii_digit()).take(10).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// Seconds from a number or a numeric string (Entra v1 sends "900").
pub fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e12).map(|f| f as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn is_html(reply: &HttpReply, text: &str) -> bool {
    reply.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("html"))
        || text.trim_start().get(..1) == Some("<")
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + 7;
    let end = start + lower[start..].find("</title>")?;
    let t = one_line(text.get(start..end)?, 80);
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
        Some(loc) if loc.starts_with("//") => format!("the host {}", one_line(loc.trim_start_matches('/').split('/').next().unwrap_or(""), 80)),
        Some(_) => "another path on the same host".to_string(),
        None => "nowhere (no Location header)".to_string(),
    };
    Err(protocol(
        format!("the authority {host} answered with a redirect (HTTP {}) to {target}; redirects are not followed", reply.status),
        reply.status,
    ))
}

/// The body as a JSON object, or a ProtocolError that describes what came instead (no excerpts).
pub fn json_object(reply: &HttpReply, host: &str) -> CoreResult<(String, Map<String, Value>)> {
    check_redirect(reply, host)?;
    let s = reply.status;
    let Ok(text) = std::str::from_utf8(&reply.body) else {
        return Err(protocol(format!("the authority {host} answered HTTP {s} with a body that is not valid UTF-8 ({} bytes)", reply.body.len()), s));
    };
    if text.trim().is_empty() {
        return Err(protocol(format!("the authority {host} answered HTTP {s} with an empty body instead of JSON"), s));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => Ok((text.trim().to_string(), obj)),
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
    let (_, obj) = json_object(reply, host)?;
    let s = reply.status;
    let device_code_text = obj.get("device_code").and_then(Value::as_str).unwrap_or("");
    if let Some(err) = oauth_error(&obj, s, &[device_code_text]) {
        return Err(err.to_core(Code::AuthorityError, format!("the authority refused the device code request: {} (HTTP {s})", err.summary())));
    }
    if !(200..300).contains(&s) {
        return Err(protocol(format!("the authority {host} answered the device code request with HTTP {s} and no OAuth error"), s));
    }
    let missing = |what: &str| protocol(format!("the device code response from {host} has no usable {what}"), s);
    let mut notes = Vec::new();

    let device_code = device_code_text.to_string();
    if device_code.is_empty() || device_code.len() > 8192 {
        return Err(missing("device_code"));
    }
    let user_code = obj.get("user_code").and_then(Value::as_str).unwrap_or("").trim().to_string();
    if user_code.is_empty() || user_code.chars().count() > 64 || user_code.chars().any(|c| c.is_control()) {
        return Err(missing("user_code"));
    }
    let url_value = obj.get("verification_uri").filter(|v| v.is_string()).or_else(|| obj.get("verification_url"));
    let verification_url = url_value.and_then(Value::as_str).unwrap_or("").trim().to_string();
    match validate::parse_http_url(&verification_url) {
        Err(_) => return Err(missing("verification_uri (or verification_url)")),
        Ok(u) if u.scheme != "https" && !u.is_loopback() => {
            return Err(protocol(format!("the verification URL from {host} is plain http to another host; refusing to show or open it"), s));
        }
        Ok(_) => {}
    }
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => {
            notes.push("the authority sent no expires_in; assuming 900 seconds".to_string());
            900
        }
        Some(v) => match seconds(v) {
            Some(0) | None => return Err(protocol(format!("the device code response from {host} has an expires_in that is not a positive number"), s)),
            Some(n) => n,
        },
    };
    let interval = match obj.get("interval") {
        None | Some(Value::Null) => {
            notes.push("the authority sent no interval; polling every 5 seconds (RFC 8628)".to_string());
            5
        }
        Some(v) => match seconds(v) {
            None => return Err(protocol(format!("the device code response from {host} has an interval that is not a number"), s)),
            Some(0) => {
                notes.push("the authority sent interval 0; polling every 5 seconds".to_string());
                5
            }
            Some(n) => n.min(3600),
        },
    };
    let message = match obj.get("message").and_then(Value::as_str).map(|m| redact(m.trim(), &[&device_code])) {
        Some(m) if !m.is_empty() => m,
        _ => format!("To sign in, use a web browser to open the page {verification_url} and enter the code {user_code} to authenticate."),
    };
    Ok(DeviceCode { device_code, user_code, verification_url, expires_in, interval, message, notes })
}

fn is_transient_status(s: u16) -> bool {
    s == 429 || (500..600).contains(&s)
}

/// Classifies one token poll reply. `secrets` are redacted from anything taken from the body.
pub fn classify_token_reply(reply: &HttpReply, host: &str, secrets: &[&str]) -> TokenReply {
    let s = reply.status;
    let (text, obj) = match json_object(reply, host) {
        Ok(v) => v,
        Err(e) if is_transient_status(s) => return TokenReply::Transient { error: e, retry_after: reply.retry_after },
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
            _ => TokenReply::Fatal(err.to_core(Code::AuthorityError, format!("the authority refused the sign-in: {} (HTTP {s})", err.summary()))),
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
    match obj.get("access_token") {
        Some(Value::String(t)) if !t.trim().is_empty() => TokenReply::Token(text),
        Some(Value::String(_)) => TokenReply::Fatal(protocol(format!("the token response from {host} has an empty access_token"), s)),
        Some(_) => TokenReply::Fatal(protocol(format!("the token response from {host} has an access_token that is not a string"), s)),
        None => TokenReply::Fatal(protocol(format!("the token response from {host} has no access_token"), s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply { status, content_type: Some("application/json; charset=utf-8".into()), body: body.as_bytes().to_vec(), ..Default::default() }
    }

    #[test]
    fn v1_device_code_with_string_numbers_and_verification_url() {
        let r = reply(200, r#"{"user_code":"EZ2KYPAW4","device_code":"EAAABAAEAiL9Kn2Z27Uubv","verification_url":"https://aka.ms/devicelogin","expires_in":"900","interval":"5","message":"To sign in, use a web browser to open the page https://aka.ms/devicelogin. Enter the code EZ2KYPAW4 to authenticate."}"#);
        let d = parse_device_code(&r, "h").unwrap();
        assert_eq!((d.user_code.as_str(), d.verification_url.as_str(), d.expires_in, d.interval), ("EZ2KYPAW4", "https://aka.ms/devicelogin", 900, 5));
        assert!(d.message.contains("EZ2KYPAW4"));
    }

    #[test]
    fn v2_device_code_with_int_numbers_and_verification_uri() {
        let r = reply(200, r#"{"user_code":"ABC","device_code":"DCDCDC","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"m"}"#);
        let d = parse_device_code(&r, "h").unwrap();
        assert_eq!((d.verification_url.as_str(), d.expires_in, d.interval, d.message.as_str()), ("https://microsoft.com/devicelogin", 900, 5, "m"));
    }

    #[test]
    fn device_code_defaults_and_refusals() {
        let d = parse_device_code(&reply(200, r#"{"user_code":"U","device_code":"D","verification_uri":"https://x/y"}"#), "h").unwrap();
        assert_eq!((d.expires_in, d.interval, d.notes.len()), (900, 5, 2));
        assert!(d.message.contains("https://x/y") && d.message.contains('U'));
        for (body, word) in [
            (r#"{"device_code":"D","verification_uri":"https://x"}"#, "user_code"),
            (r#"{"user_code":"U","verification_uri":"https://x"}"#, "device_code"),
            (r#"{"user_code":"U","device_code":"D"}"#, "verification_uri"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"javascript:alert(1)"}"#, "verification_uri"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"http://evil.example/x"}"#, "plain http"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"https://x","interval":"five"}"#, "interval"),
            (r#"{"user_code":"U","device_code":"D","verification_uri":"https://x","expires_in":0}"#, "expires_in"),
        ] {
            let e = parse_device_code(&reply(200, body), "h").unwrap_err();
            assert_eq!(e.code, Code::ProtocolError, "{body}");
            assert!(e.message.contains(word), "{body}: {}", e.message);
        }
    }

    #[test]
    fn device_code_errors_arrive_even_with_status_200() {
        let r = reply(200, r#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[7000218]}"#);
        let e = parse_device_code(&r, "h").unwrap_err();
        assert_eq!(e.code, Code::AuthorityError);
        assert_eq!(e.details["error"], json!("invalid_client"));
        assert_eq!(e.details["aadsts"], json!("AADSTS7000218"));
        assert_eq!(e.details["http_status"], json!(200));
        let d = e.details["error_description"].as_str().unwrap();
        assert!(d.starts_with("AADSTS7000218:") && !d.contains("Trace ID"), "{d}");
    }

    #[test]
    fn token_replies_map_to_the_loop() {
        let err = |e: &str| reply(400, &format!(r#"{{"error":"{e}","error_description":"AADSTS70016: x\r\nTrace ID: t","error_codes":[70016]}}"#));
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
    fn token_success_is_returned_unchanged() {
        let body = r#"{"token_type":"Bearer","expires_in":"3599","expires_on":"1700000000","access_token":"a.b.c","zzz":{"n":[1,2]}}"#;
        match classify_token_reply(&reply(200, body), "h", &[]) {
            TokenReply::Token(t) => assert_eq!(t, body),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify_token_reply(&reply(200, r#"{"token_type":"Bearer"}"#), "h", &[]), TokenReply::Fatal(_)));
        assert!(matches!(classify_token_reply(&reply(200, r#"{"access_token":5}"#), "h", &[]), TokenReply::Fatal(_)));
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
            TokenReply::Transient { error, .. } => assert!(error.message.contains("HTML page (\"502 Bad Gateway\") instead of JSON"), "{}", error.message),
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
    fn seconds_accepts_strings_and_whole_numbers() {
        assert_eq!(seconds(&json!("900")), Some(900));
        assert_eq!(seconds(&json!(" 5 ")), Some(5));
        assert_eq!(seconds(&json!(5)), Some(5));
        assert_eq!(seconds(&json!(5.0)), Some(5));
        assert_eq!(seconds(&json!(5.5)), None);
        assert_eq!(seconds(&json!(-1)), None);
        assert_eq!(seconds(&json!("x")), None);
        assert_eq!(seconds(&json!(null)), None);
    }
}
