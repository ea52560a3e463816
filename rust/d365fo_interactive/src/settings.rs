//! The module's settings, in one table: each setting's PowerShell name, environment variable, stored key,
//! default, kind of value and description. Everything that reads a setting asks this table: the sign-in,
//! `Get/Set-D365ODataInteractiveSetting`, the system-proxy lookup of the cmdlets.
//!
//! Precedence, everywhere: a value given with the request, then the environment variable, then the stored
//! value, then the default. Resolution is a pure function of its inputs (`Inputs`); only the ABI entry
//! (`api`) builds the inputs from the process environment and the user's store, so tests inject their own.

use crate::error::{CoreError, CoreResult};
use crate::validate::{self, EndpointVersion, HttpUrl};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What kind of value a setting holds; each kind has one validator in `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authority,
    EndpointVersion,
    ClientId,
    Flag,
    Seconds { min: u64, max: u64 },
}

/// One row of the table.
#[derive(Debug)]
pub struct Setting {
    /// The name PowerShell users see (`Get-D365ODataInteractiveSetting -Name Authority`).
    pub name: &'static str,
    /// The key in requests and answers across the ABI.
    pub key: &'static str,
    /// The environment variable that overrides the stored value.
    pub env: &'static str,
    /// The setting's full name in the configuration store (PSFramework's format).
    pub stored_key: &'static str,
    /// The default, as text in the setting's kind.
    pub default: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

/// The Azure PowerShell public client, which d365fo.integrations signs in with.
pub const DEFAULT_CLIENT_ID: &str = "1950a258-227b-4e31-a9cf-717495945fc2";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Bound on connecting (TCP and TLS) to the authority.
pub const CONNECT_TIMEOUT_SECS: u64 = 10;

pub static AUTHORITY: &Setting = &TABLE[0];
pub static ENDPOINT_VERSION: &Setting = &TABLE[1];
pub static CLIENT_ID: &Setting = &TABLE[2];
pub static NO_BROWSER: &Setting = &TABLE[3];
pub static HTTP_TIMEOUT: &Setting = &TABLE[4];

/// Every setting of the module.
pub static TABLE: [Setting; 5] = [
    Setting {
        name: "Authority",
        key: "authority",
        env: "D365FO_AUTHORITY",
        stored_key: "d365fo.interactive.authority",
        default: DEFAULT_AUTHORITY,
        kind: Kind::Authority,
        description: "Base URL of the Entra ID authority (sovereign clouds: https://login.microsoftonline.us, https://login.partner.microsoftonline.cn); plain http only to this machine.",
    },
    Setting {
        name: "EndpointVersion",
        key: "endpoint_version",
        env: "D365FO_ENDPOINT_VERSION",
        stored_key: "d365fo.interactive.endpointversion",
        default: "v1",
        kind: Kind::EndpointVersion,
        description: "v1 asks for a token with resource=<Url> (as d365fo.integrations does); v2 with scope=<Url>/.default offline_access.",
    },
    Setting {
        name: "ClientId",
        key: "client_id",
        env: "D365FO_CLIENT_ID",
        stored_key: "d365fo.interactive.clientid",
        default: DEFAULT_CLIENT_ID,
        kind: Kind::ClientId,
        description: "Application (client) id of the public client that signs in; tenants may block the default, then register your own with public client flows allowed.",
    },
    Setting {
        name: "NoBrowser",
        key: "no_browser",
        env: "D365FO_NO_BROWSER",
        stored_key: "d365fo.interactive.nobrowser",
        default: "false",
        kind: Kind::Flag,
        description: "When true, the sign-in page is not opened in a browser; the address and code are shown to open on any device.",
    },
    Setting {
        name: "HttpTimeoutSeconds",
        key: "http_timeout_secs",
        env: "D365FO_HTTP_TIMEOUT_SECS",
        stored_key: "d365fo.interactive.httptimeoutseconds",
        default: "30",
        kind: Kind::Seconds { min: 1, max: 600 },
        description: "Longest one request to the authority may take, connecting included (never longer than what is left of -Timeout).",
    },
];

/// Environment variables the core reads, directly or through its libraries (proxy, TLS roots, clipboard,
/// browser, folders). The cmdlets copy these into the native environment before each call (on Linux and
/// macOS .NET keeps its own copy of the environment).
pub const ENVIRONMENT: &[&str] = &[
    "D365FO_AUTHORITY",
    "D365FO_ENDPOINT_VERSION",
    "D365FO_CLIENT_ID",
    "D365FO_NO_BROWSER",
    "D365FO_HTTP_TIMEOUT_SECS",
    "D365FO_CONFIG_FILE",
    "D365FO_CONFIG_DIR",
    "D365FO_DEBUG_PANICS",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "BROWSER",
    "PATH",
    "XDG_CONFIG_HOME",
    "XDG_CURRENT_DESKTOP",
    "DESKTOP_SESSION",
    "HOME",
    "APPDATA",
    "LOCALAPPDATA",
];

/// The setting whose name (PowerShell) or key (ABI) is `name`, case-insensitively.
pub fn find(name: &str) -> Option<&'static Setting> {
    TABLE.iter().find(|s| s.name.eq_ignore_ascii_case(name) || s.key.eq_ignore_ascii_case(name))
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Request,
    Environment,
    Stored,
    Default,
}

/// What resolution reads: a request's overrides, the environment, the stored values (by stored key).
pub struct Inputs<'a> {
    pub request: &'a BTreeMap<&'static str, String>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub stored: &'a dyn Fn(&str) -> Option<String>,
}

/// A setting's value, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    Authority(String, HttpUrl),
    EndpointVersion(EndpointVersion),
    ClientId(String),
    Flag(bool),
    Seconds(u64),
}

impl Checked {
    /// The value as JSON for answers (`Get-D365ODataInteractiveSetting`).
    pub fn to_json(&self) -> Value {
        match self {
            Checked::Authority(s, _) | Checked::ClientId(s) => json!(s),
            Checked::EndpointVersion(v) => json!(v.name()),
            Checked::Flag(b) => json!(b),
            Checked::Seconds(n) => json!(n),
        }
    }

    /// The value as stored text.
    pub fn to_stored_text(&self) -> String {
        match self {
            Checked::Authority(s, _) | Checked::ClientId(s) => s.clone(),
            Checked::EndpointVersion(v) => v.name().to_string(),
            Checked::Flag(b) => b.to_string(),
            Checked::Seconds(n) => n.to_string(),
        }
    }
}

/// Checks `text` as a value of `setting`; `source` names its origin in the error ("D365FO_AUTHORITY", …).
pub fn check(setting: &Setting, text: &str, source: &str) -> CoreResult<Checked> {
    Ok(match setting.kind {
        Kind::Authority => {
            let (s, u) = validate::authority(text, source)?;
            Checked::Authority(s, u)
        }
        Kind::EndpointVersion => Checked::EndpointVersion(validate::endpoint_version(text, source)?),
        Kind::ClientId => Checked::ClientId(validate::client_id(text, source)?),
        Kind::Flag => Checked::Flag(validate::flag(text, source)?),
        Kind::Seconds { min, max } => Checked::Seconds(validate::seconds(text, min, max, source)?),
    })
}

/// Checks a value given as JSON (a string, or a boolean or number for those kinds).
pub fn check_json(setting: &Setting, value: &Value, source: &str) -> CoreResult<Checked> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(CoreError::invalid(format!("{source}: {} needs a value", setting.name))),
    };
    check(setting, &text, source)
}

/// One setting, resolved, with where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub setting: &'static Setting,
    pub value: Checked,
    pub source: Source,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Resolves one setting; a value that fails its check is an error naming where it came from.
pub fn resolve_one(setting: &'static Setting, inputs: &Inputs) -> CoreResult<Resolved> {
    let (text, source, label) = if let Some(v) = non_empty(inputs.request.get(setting.key).cloned()) {
        (v, Source::Request, format!("given for this call as {}", setting.name))
    } else if let Some(v) = non_empty((inputs.env)(setting.env)) {
        (v, Source::Environment, setting.env.to_string())
    } else if let Some(v) = non_empty((inputs.stored)(setting.stored_key)) {
        (v, Source::Stored, format!("stored setting {}", setting.name))
    } else {
        (setting.default.to_string(), Source::Default, "default".to_string())
    };
    let value = check(setting, &text, &label)?;
    Ok(Resolved { setting, value, source })
}

/// Everything a sign-in needs from the settings, checked.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// Authority base URL without a trailing '/'.
    pub authority: String,
    pub authority_url: HttpUrl,
    pub endpoint: EndpointVersion,
    pub client_id: String,
    pub no_browser: bool,
    /// Where `no_browser` came from, so the waiting screen can say why no browser opened.
    pub no_browser_source: Source,
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
}

/// Resolves the settings of a sign-in.
pub fn resolve_sign_in(inputs: &Inputs) -> CoreResult<SignInSettings> {
    let authority = resolve_one(AUTHORITY, inputs)?;
    let endpoint = resolve_one(ENDPOINT_VERSION, inputs)?;
    let client = resolve_one(CLIENT_ID, inputs)?;
    let no_browser = resolve_one(NO_BROWSER, inputs)?;
    let timeout = resolve_one(HTTP_TIMEOUT, inputs)?;
    let (
        Checked::Authority(authority_text, authority_url),
        Checked::EndpointVersion(endpoint),
        Checked::ClientId(client_id),
        Checked::Flag(nb),
        Checked::Seconds(secs),
    ) = (authority.value, endpoint.value, client.value, no_browser.value.clone(), timeout.value)
    else {
        unreachable!("each setting's kind gives its own variant")
    };
    Ok(SignInSettings {
        authority: authority_text,
        authority_url,
        endpoint,
        client_id,
        no_browser: nb,
        no_browser_source: no_browser.source,
        http_timeout: Duration::from_secs(secs),
        connect_timeout: Duration::from_secs(CONNECT_TIMEOUT_SECS.min(secs)),
    })
}

/// One row of `Get-D365ODataInteractiveSetting`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: &'static str,
    pub key: &'static str,
    pub value: Value,
    pub source: Source,
    pub environment_variable: &'static str,
    pub stored_key: &'static str,
    pub default: Value,
    pub description: &'static str,
    /// When the value from the environment or the store is not valid: why (the sign-in would refuse it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Every setting's effective value and source (no request overrides), for display.
pub fn report(inputs: &Inputs) -> Vec<Report> {
    TABLE
        .iter()
        .map(|s| {
            let default = check(s, s.default, "default").map(|c| c.to_json()).unwrap_or(Value::Null);
            let (value, source, problem) = match resolve_one(s, inputs) {
                Ok(r) => (r.value.to_json(), r.source, None),
                Err(e) => {
                    // Show what was found and why it is refused, rather than hiding it behind the default.
                    let (raw, source) = match non_empty((inputs.env)(s.env)) {
                        Some(v) => (v, Source::Environment),
                        None => (non_empty((inputs.stored)(s.stored_key)).unwrap_or_default(), Source::Stored),
                    };
                    (json!(crate::text::printable(&raw)), source, Some(e.message))
                }
            };
            Report {
                name: s.name,
                key: s.key,
                value,
                source,
                environment_variable: s.env,
                stored_key: s.stored_key,
                default,
                description: s.description,
                problem,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn resolve(request: &[(&'static str, &str)], env: &[(&str, &str)], stored: &[(&str, &str)]) -> CoreResult<SignInSettings> {
        let request: BTreeMap<&'static str, String> = request.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let env = map(env);
        let stored = map(stored);
        resolve_sign_in(&Inputs { request: &request, env: &|k| env.get(k).cloned(), stored: &|k| stored.get(k).cloned() })
    }

    #[test]
    fn every_setting_has_a_valid_default_and_distinct_names() {
        for s in &TABLE {
            check(s, s.default, "default").unwrap_or_else(|e| panic!("{}: {}", s.name, e.message));
            assert!(s.env.starts_with("D365FO_") && s.stored_key.starts_with("d365fo.interactive."));
            assert!(ENVIRONMENT.contains(&s.env), "{} missing from ENVIRONMENT", s.env);
            assert_eq!(TABLE.iter().filter(|o| o.name == s.name || o.key == s.key || o.env == s.env).count(), 1);
        }
        assert!(std::ptr::eq(find("clientid").unwrap(), CLIENT_ID));
        assert!(std::ptr::eq(find("http_timeout_secs").unwrap(), HTTP_TIMEOUT));
    }

    #[test]
    fn defaults_are_v1_the_public_client_and_microsoft_login() {
        let s = resolve(&[], &[], &[]).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.endpoint, s.client_id.as_str(), s.no_browser),
            (DEFAULT_AUTHORITY, EndpointVersion::V1, DEFAULT_CLIENT_ID, false)
        );
        assert_eq!((s.http_timeout, s.connect_timeout), (Duration::from_secs(30), Duration::from_secs(10)));
        assert_eq!(s.no_browser_source, Source::Default);
    }

    #[test]
    fn request_beats_environment_beats_stored_beats_default() {
        let stored = [
            ("d365fo.interactive.authority", "https://login.microsoftonline.us"),
            ("d365fo.interactive.endpointversion", "v2"),
            ("d365fo.interactive.clientid", "00000000-0000-0000-0000-000000000001"),
            ("d365fo.interactive.nobrowser", "true"),
            ("d365fo.interactive.httptimeoutseconds", "5"),
        ];
        let s = resolve(&[], &[], &stored).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.endpoint, s.no_browser, s.no_browser_source, s.http_timeout.as_secs()),
            ("https://login.microsoftonline.us", EndpointVersion::V2, true, Source::Stored, 5)
        );
        let env = [
            ("D365FO_AUTHORITY", "http://127.0.0.1:9/"),
            ("D365FO_ENDPOINT_VERSION", "V1"),
            ("D365FO_NO_BROWSER", "0"),
            ("D365FO_CLIENT_ID", "00000000-0000-0000-0000-000000000002"),
        ];
        let s = resolve(&[], &env, &stored).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.endpoint, s.client_id.as_str(), s.no_browser),
            ("http://127.0.0.1:9", EndpointVersion::V1, "00000000-0000-0000-0000-000000000002", false)
        );
        let s = resolve(&[("authority", "https://a.example"), ("no_browser", "true")], &env, &stored).unwrap();
        assert_eq!((s.authority.as_str(), s.no_browser, s.no_browser_source), ("https://a.example", true, Source::Request));
        // Empty values count as unset at every level.
        let s = resolve(&[("authority", " ")], &[("D365FO_AUTHORITY", "")], &[]).unwrap();
        assert_eq!(s.authority, DEFAULT_AUTHORITY);
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_source() {
        for (env, stored, word) in [
            (vec![("D365FO_ENDPOINT_VERSION", "v3")], vec![], "D365FO_ENDPOINT_VERSION"),
            (vec![("D365FO_AUTHORITY", "http://evil.example")], vec![], "D365FO_AUTHORITY"),
            (vec![("D365FO_NO_BROWSER", "maybe")], vec![], "D365FO_NO_BROWSER"),
            (vec![("D365FO_HTTP_TIMEOUT_SECS", "0")], vec![], "D365FO_HTTP_TIMEOUT_SECS"),
            (vec![("D365FO_CLIENT_ID", "not-a-guid")], vec![], "D365FO_CLIENT_ID"),
            (vec![], vec![("d365fo.interactive.authority", "http://127.0.0.1.evil.com")], "stored setting Authority"),
            (vec![], vec![("d365fo.interactive.authority", "https://user:pw@login.example")], "stored setting Authority"),
        ] {
            let e = resolve(&[], &env, &stored).unwrap_err();
            assert!(e.code == Code::InvalidRequest && e.message.contains(word), "{}", e.message);
        }
    }

    #[test]
    fn the_report_shows_values_sources_and_problems() {
        let request = BTreeMap::new();
        let env = map(&[("D365FO_CLIENT_ID", "bad")]);
        let stored = map(&[("d365fo.interactive.endpointversion", "v2")]);
        let rows = report(&Inputs { request: &request, env: &|k| env.get(k).cloned(), stored: &|k| stored.get(k).cloned() });
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
        assert_eq!((row("Authority").source, row("Authority").value.clone()), (Source::Default, json!(DEFAULT_AUTHORITY)));
        assert_eq!((row("EndpointVersion").source, row("EndpointVersion").value.clone()), (Source::Stored, json!("v2")));
        assert_eq!(row("ClientId").source, Source::Environment);
        assert!(row("ClientId").problem.as_deref().unwrap().contains("GUID"));
        assert_eq!(row("NoBrowser").default, json!(false));
        assert_eq!(row("HttpTimeoutSeconds").default, json!(30));
    }
}
