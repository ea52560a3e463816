//! Entra ID's JSON, written from the documented shapes (not from the client's types), so a naming
//! mistake in the client cannot hide by being made twice. v1 sends numbers as strings and
//! `verification_url`; v2 sends integers and `verification_uri`.

use crate::util::{base64url, entra_timestamp, guid, random_bytes, unix_now};
use serde_json::{Value, json};

/// Which generation of endpoints a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The two requests of the device flow: asking for a code, and polling (or redeeming) at the token endpoint.
/// Scenarios use it to say where a fault strikes; recorded answers to say which request they answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    DeviceCode,
    Token,
}

/// An OAuth error body as Entra writes it.
pub fn error_body(base_url: &str, error: &str, aadsts: Option<u32>, text: &str) -> Value {
    let trace = guid();
    let correlation = guid();
    let ts = entra_timestamp(unix_now());
    let first = match aadsts {
        Some(n) => format!("AADSTS{n}: {text}"),
        None => text.to_string(),
    };
    let mut v = json!({
        "error": error,
        "error_description": format!("{first}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"),
        "error_codes": aadsts.map(|n| vec![n]).unwrap_or_default(),
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
    });
    if let Some(n) = aadsts {
        v["error_uri"] = json!(format!("{base_url}/error?code={n}"));
    }
    v
}

pub fn device_code_body(version: Version, user_code: &str, device_code: &str, verification: &str, expires_in: u64, interval: u64) -> Value {
    let message = format!("To sign in, use a web browser to open the page {verification} and enter the code {user_code} to authenticate.");
    match version {
        Version::V1 => json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_url": verification,
            "expires_in": expires_in.to_string(),
            "interval": interval.to_string(),
            "message": message,
        }),
        Version::V2 => json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification,
            "expires_in": expires_in,
            "interval": interval,
            "message": message,
        }),
    }
}

/// The tokens of one sign-in.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub id_token: String,
}

const F_AND_O_PERMISSIONS: [&str; 3] = ["AX.FullAccess", "CustomService.FullAccess", "Odata.FullAccess"];

/// Makes JWT-shaped tokens (three base64url parts) unique to this sign-in; the signature part of the
/// access token starts with `prefix` so tests can spot it anywhere it leaks.
pub fn make_tokens(prefix: &str, tenant: &str, client_id: &str, resource: &str) -> Tokens {
    let now = unix_now();
    let header = base64url(br#"{"typ":"JWT","alg":"RS256","kid":"local-test-authority"}"#);
    let payload = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now, "nbf": now, "exp": now + 3599,
        "appid": client_id,
        "scp": F_AND_O_PERMISSIONS.join(" "),
        "tid": tenant,
        "upn": "test.user@local-test-authority.invalid",
        "name": "Local Test User",
        "oid": guid(),
        "uti": base64url(&random_bytes(12)),
        "ver": "1.0",
    });
    let access_token = format!("{header}.{}.{prefix}{}", base64url(payload.to_string().as_bytes()), base64url(&random_bytes(32)));
    let refresh_token = format!("0.{prefix}RT{}", base64url(&random_bytes(48)));
    let id_header = base64url(br#"{"typ":"JWT","alg":"none"}"#);
    let id_payload = json!({"aud": client_id, "iss": format!("https://sts.windows.net/{tenant}/"), "iat": now, "exp": now + 3599,
        "name": "Local Test User", "upn": "test.user@local-test-authority.invalid", "tid": tenant, "oid": guid()});
    let id_token = format!("{id_header}.{}.", base64url(id_payload.to_string().as_bytes()));
    Tokens { access_token, refresh_token, id_token }
}

/// The token response for a finished sign-in.
pub fn token_body(version: Version, tokens: &Tokens, resource: &str) -> Value {
    let now = unix_now();
    match version {
        Version::V1 => json!({
            "token_type": "Bearer",
            "scope": F_AND_O_PERMISSIONS.join(" "),
            "expires_in": "3599",
            "ext_expires_in": "3599",
            "expires_on": (now + 3599).to_string(),
            "not_before": (now - 300).to_string(),
            "resource": resource,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "foci": "1",
            "id_token": tokens.id_token,
        }),
        Version::V2 => json!({
            "token_type": "Bearer",
            "scope": F_AND_O_PERMISSIONS.iter().map(|p| format!("{resource}/{p}")).collect::<Vec<_>>().join(" "),
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "foci": "1",
            "id_token": tokens.id_token,
        }),
    }
}

/// The resource a v2 scope names: the first scope other than the OIDC ones, without "/.default".
pub fn resource_of_scope(scope: &str) -> String {
    scope
        .split(' ')
        .find(|s| !s.is_empty() && !matches!(*s, "offline_access" | "openid" | "profile" | "email"))
        .map(|s| s.strip_suffix("/.default").unwrap_or(s).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_numbers_are_strings_and_v2_numbers_are_ints() {
        let v1 = device_code_body(Version::V1, "U", "D", "http://x/devicelogin", 900, 5);
        assert_eq!(v1["expires_in"], json!("900"));
        assert_eq!(v1["interval"], json!("5"));
        assert!(v1.get("verification_url").is_some() && v1.get("verification_uri").is_none());
        let v2 = device_code_body(Version::V2, "U", "D", "http://x/devicelogin", 900, 5);
        assert_eq!(v2["expires_in"], json!(900));
        assert!(v2.get("verification_uri").is_some() && v2.get("verification_url").is_none());
    }

    #[test]
    fn error_bodies_have_every_documented_field() {
        let e = error_body("http://h", "authorization_pending", Some(70016), "pending");
        for f in ["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(e.get(f).is_some(), "{f}");
        }
        let d = e["error_description"].as_str().unwrap();
        assert!(d.starts_with("AADSTS70016: pending\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: ") && d.contains("\r\nTimestamp: "));
        assert_eq!(e["error_uri"], json!("http://h/error?code=70016"));
    }

    #[test]
    fn tokens_look_like_jwts_and_differ_per_sign_in() {
        let a = make_tokens("pfx", "t", "c", "https://r");
        let b = make_tokens("pfx", "t", "c", "https://r");
        assert_eq!(a.access_token.split('.').count(), 3);
        assert!(a.access_token.split('.').nth(2).unwrap().starts_with("pfx"));
        assert_ne!(a.access_token, b.access_token);
        assert_ne!(a.refresh_token, b.refresh_token);
        let v1 = token_body(Version::V1, &a, "https://r");
        assert_eq!(v1["expires_on"].as_str().map(|s| s.parse::<u64>().is_ok()), Some(true));
        assert_eq!(v1["resource"], json!("https://r"));
        let v2 = token_body(Version::V2, &a, "https://r");
        assert!(v2["expires_in"].is_u64() && v2.get("resource").is_none() && v2.get("expires_on").is_none());
    }

    #[test]
    fn scope_to_resource() {
        assert_eq!(resource_of_scope("https://x.dynamics.com/.default offline_access"), "https://x.dynamics.com");
        assert_eq!(resource_of_scope("offline_access"), "");
    }
}
