//! Entra ID's wire protocol as the fake speaks it: the JSON shapes of the device code and token answers,
//! written from the documented shapes (not from the client's types, so a naming mistake in the client cannot
//! hide by being made twice), and every error answer the fake sends, each with where it comes from.
//! v1 sends numbers as strings and `verification_url`; v2 sends integers and `verification_uri`.
//!
//! Sources named below, in short:
//! - "v2 device-code doc": <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code>
//!   (MicrosoftDocs/entra-docs `docs/identity-platform/v2-oauth2-device-code.md`).
//! - "error-code reference": <https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>
//!   (MicrosoftDocs/entra-docs `docs/identity-platform/reference-error-codes.md`): the AADSTS table and the
//!   table of `error` strings.
//! - "v1 protocol doc": MicrosoftDocs/azure-docs `articles/active-directory/develop/v1-protocols-oauth-code.md`
//!   (error body shape; 400 is the default status of an error).
//! - GitHub issues are named as owner/repo#number; /work/shared/docs/entra-device-flow.md quotes them.

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

/// One of Entra's error answers: the HTTP status, the OAuth `error` string, the AADSTS number (if any) and
/// the message that follows it in `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub status: u16,
    pub error: &'static str,
    pub aadsts: Option<u32>,
    pub message: String,
}

impl EntraError {
    fn new(status: u16, error: &'static str, aadsts: Option<u32>, message: impl Into<String>) -> EntraError {
        EntraError { status, error, aadsts, message: message.into() }
    }

    /// The JSON body, with fresh trace and correlation ids and the current timestamp.
    pub fn body(&self, base_url: &str) -> Value {
        error_body(base_url, self.error, self.aadsts, &self.message)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The error catalogue. Statuses are 400 unless a source says otherwise: the v1 protocol doc gives 400 as the
// default, and azure-sdk-for-python#32375 logs "Response status: 400" for a device-flow poll error.

/// The user has not finished. `authorization_pending`: v2 device-code doc, "Expected errors". AADSTS70016:
/// error-code reference (AuthorizationPending). The live service's wording is in the recorded answer
/// `qna-v2-authorization-pending`; this message paraphrases the reference's description.
pub fn authorization_pending() -> EntraError {
    EntraError::new(400, "authorization_pending", Some(70016), "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
}

/// The device code outlived `expires_in`. v2: `expired_token` (v2 device-code doc, "Expected errors") with
/// AADSTS70020 and this message, as quoted in Azure/azure-cli#22251, Azure/azure-powershell#23557 and
/// Azure/azure-sdk-for-python#32375 (the raw body pairing the two was not seen; see entra-device-flow.md §3.2).
/// v1: `code_expired` (Azure/azure-cli#22252, AzureAD/azure-activedirectory-library-for-python#110, go-autorest's
/// mapping) with AADSTS70019 CodeExpired (error-code reference).
pub fn expired(version: Version) -> EntraError {
    match version {
        Version::V2 => EntraError::new(
            400,
            "expired_token",
            Some(70020),
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ),
        Version::V1 => EntraError::new(400, "code_expired", Some(70019), "Verification code expired."),
    }
}

/// The user pressed "Deny". v2: `authorization_declined` (v2 device-code doc, "Expected errors"). v1:
/// `access_denied`, the string go-autorest maps to a decline (no Entra capture: UNCONFIRMED). INVENTED: the
/// AADSTS number; 65004 (UserDeclinedConsent in the error-code reference) is a stand-in for a related refusal,
/// and the message is the fake's own.
pub fn declined(version: Version) -> EntraError {
    let error = match version {
        Version::V2 => "authorization_declined",
        Version::V1 => "access_denied",
    };
    EntraError::new(400, error, Some(65004), "The user declined the sign-in on the device login page.")
}

/// A device code this server never issued (or issued for another tenant, client or endpoint version).
/// `bad_verification_code`: v2 device-code doc, "Expected errors" ("The device_code sent to the /token
/// endpoint wasn't recognized"). AADSTS70018 is BadVerificationCode in the error-code reference (described
/// there for a mistyped user code); pairing it with an unknown device_code, the 400 status (RFC 6749 §5.2's
/// convention, no capture) and the message are the fake's choices.
pub fn bad_verification_code() -> EntraError {
    EntraError::new(400, "bad_verification_code", Some(70018), "The device_code sent to the token endpoint was not recognized.")
}

/// A device code polled again after it was redeemed. `invalid_grant` with AADSTS54005 and this message:
/// error-code reference (the row's text) and AzureAD/microsoft-identity-web#2008 (invalid_grant + 54005).
pub fn already_redeemed() -> EntraError {
    EntraError::new(
        400,
        "invalid_grant",
        Some(54005),
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
    )
}

/// RFC 8628 §3.5 `slow_down`. No source shows Entra sending it (entra-device-flow.md §3.2), so it carries no
/// AADSTS number. INVENTED: the message.
pub fn slow_down() -> EntraError {
    EntraError::new(
        400,
        "slow_down",
        None,
        "The client is polling too often; wait 5 seconds longer before each poll (local test authority).",
    )
}

/// Polling faster than `interval`. AADSTS50196 LoopDetected: error-code reference; the message as quoted in
/// AzureAD/microsoft-authentication-library-for-dotnet#1495 (device flow). The `error` string that comes with
/// it was not seen in any capture: `invalid_request` is the fake's guess (UNCONFIRMED).
pub fn loop_detected() -> EntraError {
    EntraError::new(
        400,
        "invalid_request",
        Some(50196),
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.",
    )
}

/// The app registration does not allow public client flows. `invalid_client`, AADSTS7000218 and this message:
/// the body in MicrosoftDocs/azure-docs#31986 (a v2 device-code poll); status 401 from the same error's
/// capture in tamhinsf/ChannelSurf#20 ("401 (Unauthorized)").
pub fn public_client_flows_disabled() -> EntraError {
    EntraError::new(
        401,
        "invalid_client",
        Some(7000218),
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

/// The client id is unknown in the tenant, answered by the device code endpoint with HTTP 200 (MSAL.NET's
/// DeviceCodeRequest.cs: "/devicecode endpoint sends errors on 200OK"). AADSTS700016 and its message: error-code
/// reference. The OAuth error is `unauthorized_client`, as in captures of 700016 from the service.
pub fn app_not_found_on_200(client_id: &str, tenant: &str) -> EntraError {
    EntraError::new(
        200,
        "unauthorized_client",
        Some(700016),
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        ),
    )
}

/// An unknown tenant. AADSTS90002 InvalidTenantName: error-code reference. `invalid_request` with 90002 at an
/// OAuth endpoint: microsoftarchive/BatchAI#31 (an ADAL token request); status 400: sjkp/letsencrypt-siteextension#108.
/// (OIDC discovery answers the same code with `invalid_tenant`, Azure/azure-cli#22145; the fake serves no
/// discovery.) The message follows the wording in azure-cli#22145.
pub fn tenant_not_found(tenant: &str) -> EntraError {
    EntraError::new(
        400,
        "invalid_request",
        Some(90002),
        format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    )
}

/// A required form field is missing. `invalid_request`, AADSTS900144 and this message: the body in
/// MicrosoftDocs/azure-docs#46110 and the error-code reference row.
pub fn missing_parameter(name: &str) -> EntraError {
    EntraError::new(400, "invalid_request", Some(900144), format!("The request body must contain the following parameter: '{name}'."))
}

/// A grant type the token endpoint does not take. `unsupported_grant_type`: RFC 6749 §5.2 and the error-code
/// reference's table of `error` strings; AADSTS70003 UnsupportedGrantType: error-code reference. The message
/// is the fake's.
pub fn unsupported_grant_type(grant: &str) -> EntraError {
    EntraError::new(400, "unsupported_grant_type", Some(70003), format!("The app requested an unsupported grant type '{grant}'."))
}

/// Anything but POST on an OAuth endpoint. AADSTS900561 and its message template: error-code reference
/// (BadResourceRequestInvalidRequest). The status 405 is the fake's choice (UNCONFIRMED).
pub fn method_not_allowed(method: &str) -> EntraError {
    EntraError::new(405, "invalid_request", Some(900561), format!("The endpoint only accepts POST requests. Received a {method} request."))
}

/// A refresh token the server cannot parse or never issued. `invalid_grant` with AADSTS9002313 and this
/// message: the refresh-grant body in MicrosoftDocs/azure-docs#63819, and the maintainers' reading of the
/// same error in AzureAD/microsoft-authentication-library-for-android#558 ("Something's wrong with your
/// refresh token; it's malformed or invalid"). Chosen over 70008, which the reference describes as expiry.
pub fn refresh_token_malformed() -> EntraError {
    EntraError::new(400, "invalid_grant", Some(9002313), "Invalid request. Request is malformed or invalid.")
}

/// A refresh token this server issued, redeemed by another client id or at another tenant. `invalid_grant`
/// with AADSTS70000 and this message: BingAds/BingAds-Python-SDK#279 (a refresh grant), and InvalidGrant
/// ("The refresh token isn't valid") in the error-code reference.
pub fn refresh_token_not_valid_here() -> EntraError {
    EntraError::new(
        400,
        "invalid_grant",
        Some(70000),
        "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.",
    )
}

/// Scenario `refresh-invalid-grant`. `invalid_grant` with AADSTS700082 ExpiredOrRevokedGrantInactiveToken:
/// error-code reference (its message template, filled in with the issue time of the token) and
/// entra-device-flow.md §7.
pub fn refresh_token_inactive(issued_unix: u64) -> EntraError {
    EntraError::new(
        400,
        "invalid_grant",
        Some(700082),
        format!(
            "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for 90.00:00:00.",
            entra_timestamp(issued_unix)
        ),
    )
}

/// After `/_test/revoke`. `invalid_grant` with AADSTS50173 FreshTokenNeeded: error-code reference (its
/// description) and entra-device-flow.md §7.
pub fn refresh_token_revoked() -> EntraError {
    EntraError::new(
        400,
        "invalid_grant",
        Some(50173),
        "The provided grant has expired due to it being revoked, and a fresh auth token is needed. Have the user sign in again.",
    )
}

/// Scenario `refresh-interaction-required`: multi-factor authentication is now required. `interaction_required`
/// (error-code reference, table of `error` strings: "The request requires user interaction") with AADSTS50076
/// UserStrongAuthClientAuthNRequired (error-code reference; the message follows its description).
pub fn mfa_required(resource: &str) -> EntraError {
    EntraError::new(
        400,
        "interaction_required",
        Some(50076),
        format!(
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
        ),
    )
}

/// A fault scenario that has no answer at the stage it was asked for. INVENTED (an internal error of the fake):
/// `server_error` is RFC 6749's, AADSTS50000 TokenIssuanceError is from the error-code reference.
pub fn fake_internal_error(message: String) -> EntraError {
    EntraError::new(500, "server_error", Some(50000), message)
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

/// A number of seconds no real authority sends (about 31 700 years), for the `huge-numbers` scenario.
pub const HUGE_SECONDS: u64 = 1_000_000_000_000;

/// Sets a number of seconds in an answer the way the endpoint version writes numbers (v1 as strings).
pub fn set_seconds(body: &mut Value, version: Version, key: &str, secs: u64) {
    body[key] = match version {
        Version::V1 => json!(secs.to_string()),
        Version::V2 => json!(secs),
    };
}

/// The `hostile-verification-uri` scenario's page: a look-alike host, and a query with `&` and `|` that
/// `cmd.exe /c start` (webbrowser on WSL) would read as command separators.
pub const HOSTILE_VERIFICATION_URI: &str = "https://microsoft.com.devicelogin.attacker.example/x?a=1&calc.exe&echo|whoami";

/// The `hostile-text` scenario's device code `message`: terminal escape sequences (colour, an OSC window
/// title, clear screen), bidi overrides and zero-width characters around the true instruction, then about
/// 3 MB of filler, so a client that prints it raw shows the damage.
pub fn hostile_message(verification: &str, user_code: &str) -> String {
    let mut m = format!(
        "\u{1b}[31m\u{1b}]0;owned by the authority\u{7}To sign in, open {verification}\u{202E} and enter the code \u{200B}{user_code}\u{2066}.\u{1b}[2J\r\nIGNORE ME"
    );
    m.push_str(&"filler ".repeat(3 * 1024 * 1024 / 7));
    m
}

/// The tokens of one grant (a finished device flow or a refresh), with when they were issued and for how
/// long the access token lives, so the JWT's `exp` and the answer's `expires_on` agree.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub id_token: String,
    pub issued_unix: u64,
    pub lifetime_secs: u64,
}

const F_AND_O_PERMISSIONS: [&str; 3] = ["AX.FullAccess", "CustomService.FullAccess", "Odata.FullAccess"];

/// Makes JWT-shaped tokens (three base64url parts) unique to this sign-in; the signature part of the
/// access token starts with `prefix` so tests can spot it anywhere it leaks. The access token (and the id
/// token) expire `lifetime_secs` after now.
pub fn make_tokens(prefix: &str, tenant: &str, client_id: &str, resource: &str, lifetime_secs: u64) -> Tokens {
    let now = unix_now();
    let exp = now + lifetime_secs;
    let header = base64url(br#"{"typ":"JWT","alg":"RS256","kid":"local-test-authority"}"#);
    let payload = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now, "nbf": now, "exp": exp,
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
    let id_payload = json!({"aud": client_id, "iss": format!("https://sts.windows.net/{tenant}/"), "iat": now, "exp": exp,
        "name": "Local Test User", "upn": "test.user@local-test-authority.invalid", "tid": tenant, "oid": guid()});
    let id_token = format!("{id_header}.{}.", base64url(id_payload.to_string().as_bytes()));
    Tokens { access_token, refresh_token, id_token, issued_unix: now, lifetime_secs }
}

/// The token response for a finished sign-in or a refresh (the same shapes: v1-protocols-oauth-code.md and
/// entra-device-flow.md §7 for v1, v2-oauth2-auth-code-flow.md "Refresh the access token" for v2). v1 writes
/// every number as a string, v2 as integers; `ext_expires_in` follows the lifetime as in the msal-node fixture
/// quoted in entra-device-flow.md §2.4.
pub fn token_body(version: Version, tokens: &Tokens, resource: &str) -> Value {
    let (now, lifetime) = (tokens.issued_unix, tokens.lifetime_secs);
    match version {
        Version::V1 => json!({
            "token_type": "Bearer",
            "scope": F_AND_O_PERMISSIONS.join(" "),
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
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
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
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
        let a = make_tokens("pfx", "t", "c", "https://r", 3599);
        let b = make_tokens("pfx", "t", "c", "https://r", 3599);
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
