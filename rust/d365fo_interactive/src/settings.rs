//! Everything a sign-in needs, resolved at each call: request fields override environment variables,
//! which override the stored module settings, which override the defaults.

use crate::config::StoredSettings;
use crate::error::{CoreError, CoreResult};
use crate::validate::{self, HttpUrl};
use serde_json::{Map, Value};
use std::time::Duration;

/// The public client the original module used ("Microsoft Azure PowerShell").
pub const DEFAULT_CLIENT_ID: &str = "1950a258-227b-4e31-a9cf-717495945fc2";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Bound on one HTTP exchange, end to end, unless D365FO_HTTP_TIMEOUT_SECS says otherwise.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 30;
/// Bound on connecting (TCP and TLS).
pub const CONNECT_TIMEOUT_SECS: u64 = 10;

/// Which Entra ID endpoints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointVersion {
    /// `/oauth2/devicecode` + `/oauth2/token` with `resource` (the original module's choice).
    V1,
    /// `/oauth2/v2.0/devicecode` + `/oauth2/v2.0/token` with `scope=<url>/.default offline_access`.
    V2,
}

impl EndpointVersion {
    fn parse(s: &str, source: &str) -> CoreResult<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" | "1.0" => Ok(EndpointVersion::V1),
            "v2" | "2" | "2.0" => Ok(EndpointVersion::V2),
            _ => Err(CoreError::invalid(format!(
                "the endpoint version '{}' ({source}) is not known; use v1 or v2",
                validate::printable(s)
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EndpointVersion::V1 => "v1",
            EndpointVersion::V2 => "v2",
        }
    }
}

/// A fully checked sign-in request.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub tenant: String,
    /// The resource (environment URL) without a trailing '/'.
    pub resource: String,
    pub timeout_secs: u64,
    /// Authority base URL without a trailing '/'.
    pub authority: String,
    pub authority_url: HttpUrl,
    pub endpoint: EndpointVersion,
    pub client_id: String,
    pub no_browser: bool,
    /// Why the browser is disabled (for the event), when it is.
    pub no_browser_source: &'static str,
    pub no_clipboard: bool,
    /// Proxy given by the caller (the Windows system proxy); None means "look at the environment".
    pub request_proxy: Option<String>,
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
}

impl FlowSettings {
    pub fn devicecode_url(&self) -> String {
        match self.endpoint {
            EndpointVersion::V1 => format!("{}/{}/oauth2/devicecode", self.authority, self.tenant),
            EndpointVersion::V2 => format!("{}/{}/oauth2/v2.0/devicecode", self.authority, self.tenant),
        }
    }

    pub fn token_url(&self) -> String {
        match self.endpoint {
            EndpointVersion::V1 => format!("{}/{}/oauth2/token", self.authority, self.tenant),
            EndpointVersion::V2 => format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant),
        }
    }

    /// The form of the device code request.
    pub fn devicecode_form(&self) -> Vec<(&'static str, String)> {
        match self.endpoint {
            EndpointVersion::V1 => vec![("client_id", self.client_id.clone()), ("resource", self.resource.clone())],
            EndpointVersion::V2 => {
                vec![("client_id", self.client_id.clone()), ("scope", format!("{}/.default offline_access", self.resource))]
            }
        }
    }

    /// The form of each token poll: the device code goes as both `device_code` and `code`
    /// (v1 reads `code`, v2 reads `device_code`; MSAL sends both for the same reason).
    pub fn token_form(&self, device_code: &str) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_string()),
            ("client_id", self.client_id.clone()),
            ("device_code", device_code.to_string()),
            ("code", device_code.to_string()),
        ];
        if self.endpoint == EndpointVersion::V1 {
            form.push(("resource", self.resource.clone()));
        }
        form
    }
}

fn field<'a>(req: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    req.get(name).filter(|v| !v.is_null())
}

fn string_field(req: &Map<String, Value>, name: &str) -> CoreResult<Option<String>> {
    match field(req, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(CoreError::invalid(format!("request field \"{name}\" must be a string, not {}", kind_of(other)))),
    }
}

fn bool_field(req: &Map<String, Value>, name: &str) -> CoreResult<Option<bool>> {
    match field(req, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(CoreError::invalid(format!("request field \"{name}\" must be true or false, not {}", kind_of(other)))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn env_bool(env: &dyn Fn(&str) -> Option<String>, name: &str) -> CoreResult<Option<bool>> {
    match env(name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(CoreError::invalid(format!("{name} is '{}'; use 1 or 0", validate::printable(&v)))),
        },
    }
}

fn env_nonempty(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_string())
}

/// The process environment, as `resolve` reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses and checks the request; nothing is sent when this fails.
pub fn resolve(request_json: &str, env: &dyn Fn(&str) -> Option<String>, stored: &StoredSettings) -> CoreResult<FlowSettings> {
    let req: Value = serde_json::from_str(request_json)
        .map_err(|e| CoreError::invalid(format!("the request is not valid JSON ({e})")))?;
    let Value::Object(req) = req else {
        return Err(CoreError::invalid("the request must be a JSON object"));
    };

    let tenant = string_field(&req, "tenant")?.unwrap_or_default();
    validate::tenant(&tenant)?;
    let resource = validate::resource_url(&string_field(&req, "url")?.unwrap_or_default())?;
    let timeout_secs = validate::timeout_secs(req.get("timeout_secs"))?;

    let (authority_raw, authority_source) = if let Some(a) = string_field(&req, "authority")?.filter(|s| !s.is_empty()) {
        (a, "request")
    } else if let Some(a) = env_nonempty(env, "D365FO_AUTHORITY") {
        (a, "D365FO_AUTHORITY")
    } else if let Some(a) = stored.authority.clone().filter(|s| !s.is_empty()) {
        (a, "stored setting")
    } else {
        (DEFAULT_AUTHORITY.to_string(), "default")
    };
    let (authority, authority_url) = validate::authority(authority_raw.trim(), authority_source)?;

    let endpoint = if let Some(v) = string_field(&req, "endpoint_version")?.filter(|s| !s.is_empty()) {
        EndpointVersion::parse(&v, "request")?
    } else if let Some(v) = env_nonempty(env, "D365FO_ENDPOINT_VERSION") {
        EndpointVersion::parse(&v, "D365FO_ENDPOINT_VERSION")?
    } else if let Some(v) = stored.endpoint_version.clone().filter(|s| !s.is_empty()) {
        EndpointVersion::parse(&v, "stored setting")?
    } else {
        EndpointVersion::V1
    };

    let (client_id, client_source) = if let Some(c) = string_field(&req, "client_id")?.filter(|s| !s.is_empty()) {
        (c, "request")
    } else if let Some(c) = env_nonempty(env, "D365FO_CLIENT_ID") {
        (c, "D365FO_CLIENT_ID")
    } else if let Some(c) = stored.client_id.clone().filter(|s| !s.is_empty()) {
        (c, "stored setting")
    } else {
        (DEFAULT_CLIENT_ID.to_string(), "default")
    };
    validate::client_id(&client_id, client_source)?;

    let (no_browser, no_browser_source) = if let Some(b) = bool_field(&req, "no_browser")? {
        (b, "request")
    } else if let Some(b) = env_bool(env, "D365FO_NO_BROWSER")? {
        (b, "D365FO_NO_BROWSER")
    } else if let Some(b) = stored.no_browser {
        (b, "stored setting")
    } else {
        (false, "default")
    };
    let no_clipboard = bool_field(&req, "no_clipboard")?.unwrap_or(false);

    let request_proxy = string_field(&req, "proxy")?.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    if let Some(p) = &request_proxy {
        crate::http::check_proxy_url(p, "request field \"proxy\"")?;
    }

    let http_timeout_secs = match (field(&req, "http_timeout_secs"), env_nonempty(env, "D365FO_HTTP_TIMEOUT_SECS")) {
        (Some(v), _) => v.as_u64().filter(|n| (1..=600).contains(n)).ok_or_else(|| {
            CoreError::invalid(format!("request field \"http_timeout_secs\" is {v}; use a whole number of seconds from 1 to 600"))
        })?,
        (None, Some(v)) => v.parse::<u64>().ok().filter(|n| (1..=600).contains(n)).ok_or_else(|| {
            CoreError::invalid(format!("D365FO_HTTP_TIMEOUT_SECS is '{}'; use a whole number of seconds from 1 to 600", validate::printable(&v)))
        })?,
        (None, None) => DEFAULT_HTTP_TIMEOUT_SECS,
    };
    let http_timeout = Duration::from_secs(http_timeout_secs);
    let connect_timeout = Duration::from_secs(CONNECT_TIMEOUT_SECS.min(http_timeout_secs));

    Ok(FlowSettings {
        tenant,
        resource,
        timeout_secs,
        authority,
        authority_url,
        endpoint,
        client_id,
        no_browser,
        no_browser_source,
        no_clipboard,
        request_proxy,
        http_timeout,
        connect_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    const BASE: &str = r#"{"tenant":"contoso.onmicrosoft.com","url":"https://x.dynamics.com/","timeout_secs":60}"#;

    #[test]
    fn defaults_are_v1_public_client_and_microsoft_login() {
        let s = resolve(BASE, &env_of(&[]), &StoredSettings::default()).unwrap();
        assert_eq!(s.endpoint, EndpointVersion::V1);
        assert_eq!(s.client_id, DEFAULT_CLIENT_ID);
        assert_eq!(s.authority, DEFAULT_AUTHORITY);
        assert_eq!(s.resource, "https://x.dynamics.com");
        assert_eq!(s.timeout_secs, 60);
        assert!(!s.no_browser && !s.no_clipboard);
        assert_eq!(s.devicecode_url(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/devicecode");
        assert_eq!(s.token_url(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token");
        assert_eq!(s.http_timeout, Duration::from_secs(30));
    }

    #[test]
    fn request_overrides_environment_which_overrides_stored() {
        let stored = StoredSettings {
            authority: Some("https://login.microsoftonline.us".into()),
            endpoint_version: Some("v2".into()),
            client_id: Some("stored-id".into()),
            no_browser: Some(true),
        };
        let s = resolve(BASE, &env_of(&[]), &stored).unwrap();
        assert_eq!((s.authority.as_str(), s.endpoint, s.client_id.as_str(), s.no_browser), ("https://login.microsoftonline.us", EndpointVersion::V2, "stored-id", true));

        let env = env_of(&[
            ("D365FO_AUTHORITY", "http://127.0.0.1:9/"),
            ("D365FO_ENDPOINT_VERSION", "V1"),
            ("D365FO_CLIENT_ID", "env-id"),
            ("D365FO_NO_BROWSER", "0"),
        ]);
        let s = resolve(BASE, &env, &stored).unwrap();
        assert_eq!((s.authority.as_str(), s.endpoint, s.client_id.as_str(), s.no_browser), ("http://127.0.0.1:9", EndpointVersion::V1, "env-id", false));

        let req = r#"{"tenant":"t","url":"https://x","authority":"https://a.example","endpoint_version":"v2","client_id":"req-id","no_browser":true,"no_clipboard":true}"#;
        let s = resolve(req, &env, &stored).unwrap();
        assert_eq!((s.authority.as_str(), s.endpoint, s.client_id.as_str(), s.no_browser, s.no_clipboard), ("https://a.example", EndpointVersion::V2, "req-id", true, true));
        assert_eq!(s.devicecode_url(), "https://a.example/t/oauth2/v2.0/devicecode");
        assert_eq!(s.token_url(), "https://a.example/t/oauth2/v2.0/token");
        assert_eq!(s.devicecode_form()[1], ("scope", "https://x/.default offline_access".to_string()));
    }

    #[test]
    fn bad_settings_are_refused_naming_their_source() {
        let e = resolve(BASE, &env_of(&[("D365FO_ENDPOINT_VERSION", "v3")]), &StoredSettings::default()).unwrap_err();
        assert!(e.code == Code::InvalidRequest && e.message.contains("D365FO_ENDPOINT_VERSION"), "{}", e.message);
        let e = resolve(BASE, &env_of(&[("D365FO_AUTHORITY", "http://evil.example")]), &StoredSettings::default()).unwrap_err();
        assert!(e.message.contains("D365FO_AUTHORITY") && e.message.contains("plain http"), "{}", e.message);
        let e = resolve(BASE, &env_of(&[("D365FO_NO_BROWSER", "maybe")]), &StoredSettings::default()).unwrap_err();
        assert!(e.message.contains("D365FO_NO_BROWSER"), "{}", e.message);
        let e = resolve(BASE, &env_of(&[("D365FO_HTTP_TIMEOUT_SECS", "0")]), &StoredSettings::default()).unwrap_err();
        assert!(e.message.contains("D365FO_HTTP_TIMEOUT_SECS"), "{}", e.message);
        let s = resolve(BASE, &env_of(&[("D365FO_HTTP_TIMEOUT_SECS", "5")]), &StoredSettings::default()).unwrap();
        assert_eq!((s.http_timeout, s.connect_timeout), (Duration::from_secs(5), Duration::from_secs(5)));
        let req = BASE.replace("\"timeout_secs\":60", "\"timeout_secs\":60,\"http_timeout_secs\":2");
        let s = resolve(&req, &env_of(&[("D365FO_HTTP_TIMEOUT_SECS", "5")]), &StoredSettings::default()).unwrap();
        assert_eq!(s.http_timeout, Duration::from_secs(2));
    }

    #[test]
    fn malformed_requests_are_refused() {
        for (req, word) in [
            ("", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"url":"https://x"}"#, "tenant is empty"),
            (r#"{"tenant":"t"}"#, "Url is empty"),
            (r#"{"tenant":5,"url":"https://x"}"#, "\"tenant\" must be a string"),
            (r#"{"tenant":"t","url":"https://x","no_browser":"yes"}"#, "true or false"),
            (r#"{"tenant":"t","url":"https://x","timeout_secs":0}"#, "-Timeout"),
            (r#"{"tenant":"t","url":"https://x","proxy":"not a url"}"#, "proxy"),
        ] {
            let e = resolve(req, &env_of(&[]), &StoredSettings::default()).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest);
            assert!(e.message.contains(word), "{req}: {}", e.message);
        }
    }

    #[test]
    fn token_form_sends_the_device_code_twice_and_v1_the_resource() {
        let s = resolve(BASE, &env_of(&[]), &StoredSettings::default()).unwrap();
        let f = s.token_form("DC");
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("urn:ietf:params:oauth:grant-type:device_code"));
        assert_eq!(get("device_code"), Some("DC"));
        assert_eq!(get("code"), Some("DC"));
        assert_eq!(get("resource"), Some("https://x.dynamics.com"));
    }
}
