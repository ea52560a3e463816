//! The JSON protocol across the C ABI, as types: one request enum (tagged by `op`), one answer type per
//! request, and the events a sign-in reports while it runs (tagged by `event`). The C# cmdlets map these
//! in one place (dotnet-shim/src/Protocol.cs); `include/d365fo_interactive.h` lists the operations.

use crate::settings::Report;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Every request `d365fo_call` takes.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A sign-in: the session's token when it is still good, else a silent refresh, else the device flow.
    SignIn(SignInRequest),
    /// Which session entry holds this bearer token (for Set-D365ODataTokenInSession).
    SessionLookup {
        bearer: String,
    },
    /// The session entry's access token, renewed silently when it has less than `min_valid_secs` left.
    SessionToken {
        session: u64,
        min_valid_secs: Option<u64>,
        system_proxy: Option<String>,
    },
    /// Every setting's effective value and source.
    SettingsGet,
    /// Stores settings (`values`, by name or key) and returns others to their defaults (`reset`).
    SettingsSet {
        #[serde(default)]
        values: BTreeMap<String, Value>,
        #[serde(default)]
        reset: Vec<String>,
    },
    /// All OData configurations (persisted and this session's temporary ones), sorted by name.
    ConfigList,
    /// The active configuration.
    ConfigActive,
    ConfigAdd(ConfigAddRequest),
    ConfigSetActive {
        name: String,
        #[serde(default)]
        temporary: bool,
        #[serde(default)]
        dry_run: bool,
    },
    /// The configurations in another PSFramework configuration file (read only).
    ConfigScan {
        path: String,
    },
    /// Copies configurations from another PSFramework configuration file into the store.
    ConfigImport {
        path: String,
        names: Option<Vec<String>>,
        #[serde(default)]
        force: bool,
        #[serde(default)]
        dry_run: bool,
    },
    /// Where the store is.
    StoreInfo,
    /// The environment variables the core reads (the cmdlets hand their values over with `environment_set`).
    Environment,
    /// Makes the process environment hold these values (None: unset) for the variables the core reads; set
    /// under Rust's own environment lock, which every reader in the core takes, so no thread of the core reads
    /// the environment while it changes. Names the core does not read are refused.
    EnvironmentSet {
        #[serde(default)]
        values: BTreeMap<String, Option<String>>,
    },
    /// Forgets every token of this process's sessions (the module's removal, when no session still has it).
    SessionClear,
    /// Test builds only: panics inside the boundary.
    #[cfg(feature = "test-hooks")]
    TestPanic,
}

/// Get-D365ODataTokenInteractive's parameters, and per-call settings (tests and the demo use those).
#[derive(Debug, Default, Deserialize)]
pub struct SignInRequest {
    /// Empty or absent: the active configuration's.
    pub tenant: Option<String>,
    pub url: Option<String>,
    pub timeout_secs: Option<i64>,
    #[serde(default)]
    pub force: bool,
    /// The Windows system proxy for the authority, as .NET resolves it (WinINET, PAC); used when no proxy
    /// variable applies (see `http::choose_proxy`).
    pub system_proxy: Option<String>,
    #[serde(default)]
    pub no_clipboard: bool,
    pub authority: Option<String>,
    pub endpoint_version: Option<String>,
    pub client_id: Option<String>,
    pub no_browser: Option<bool>,
    pub http_timeout_secs: Option<u64>,
}

/// Add-D365ODataConfig's parameters. Only the values given change (`-Force` over an existing configuration).
#[derive(Debug, Default, Deserialize)]
pub struct ConfigAddRequest {
    pub name: String,
    pub tenant: Option<String>,
    pub url: Option<String>,
    pub systemurl: Option<String>,
    pub clientid: Option<String>,
    pub clientsecret: Option<String>,
    #[serde(default)]
    pub temporary: bool,
    #[serde(default)]
    pub force: bool,
    /// Check and report, change nothing (-WhatIf).
    #[serde(default)]
    pub dry_run: bool,
}

/// Where a sign-in's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The session already held a token valid for long enough; nothing was sent.
    Cache,
    /// Renewed silently with the session's refresh token.
    Refresh,
    /// A device code sign-in.
    DeviceCode,
}

/// The answer to `sign_in` and `session_token`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    pub source: TokenSource,
    /// The session entry (for the session default of -Token).
    pub session: u64,
    pub access_token: String,
    /// Unix seconds when the access token expires.
    pub expires_on: u64,
    /// Who signed in (from the token's claims), when the token says.
    pub who: Option<String>,
    pub tenant: String,
    /// The environment URL (resource).
    pub resource: String,
    /// The authority's token response as received (for -RawOutput), without `session::WITHHELD_FIELDS`
    /// (the refresh token and the id token never cross the ABI).
    pub response: Map<String, Value>,
}

/// One OData configuration as the cmdlets return it. The secret is the real value (as d365fo.integrations
/// returns it); only the default view masks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub name: String,
    pub tenant: Option<String>,
    pub url: Option<String>,
    pub systemurl: Option<String>,
    pub clientid: Option<String>,
    pub clientsecret: Option<String>,
    pub temporary: bool,
    pub active: bool,
}

/// One value written to the store: the cmdlets mirror it into PSFramework's live configuration when
/// PSFramework is loaded in the session, so d365fo.integrations' commands see it at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreChange {
    pub full_name: String,
    pub value: Value,
}

/// The answer to a change of configurations (add, set active, import).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigChange {
    /// The configurations as they are (or would be, on a dry run) after the change.
    pub configs: Vec<Config>,
    pub changes: Vec<StoreChange>,
    /// Names left alone (import without -Force).
    pub skipped: Vec<String>,
    /// Configurations not imported because a value would be refused at sign-in, with the reason.
    pub refused: Vec<Refused>,
    pub temporary: bool,
    pub dry_run: bool,
    /// Whether the active configuration changed (so d365fo.integrations' variables need a refresh).
    pub active_changed: bool,
    /// What people should be told about the change (import: a SystemUrl on another host than the Url, an
    /// active choice taken over), shown as warnings.
    pub notes: Vec<String>,
}

/// A configuration an import left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub name: String,
    pub reason: String,
}

/// Configurations found in a PSFramework file.
#[derive(Debug, Clone, Serialize)]
pub struct ScanAnswer {
    pub configs: Vec<Config>,
    pub active: Option<String>,
    pub sources: Vec<String>,
    pub problems: Vec<String>,
}

/// The settings and where their values come from.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsAnswer {
    pub settings: Vec<Report>,
    pub changes: Vec<StoreChange>,
}

/// What a running sign-in reports, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The code to enter and where; the wait ends at the earlier of -Timeout and the code's expiry.
    CodeIssued {
        user_code: String,
        /// The page to open; empty when it was refused (`page_refused`).
        verification_url: String,
        /// Why the page the authority named is neither shown nor opened (`page::judge`); None when it is fine.
        page_refused: Option<String>,
        /// The authority's own instruction, made safe (shown at -Verbose); empty when the page was refused.
        message: String,
        expires_in: u64,
        interval: u64,
        /// Seconds until the wait ends.
        wait_secs: u64,
        /// What ends the wait: "timeout" (-Timeout) or "expiry" (the code's lifetime).
        wait_ends_by: &'static str,
    },
    /// The code was (or was not) put on the clipboard; `reason` in a person's words.
    Clipboard { ok: bool, reason: Option<String> },
    /// The browser was (or was not) opened on the page; `skipped` when it was not even tried.
    Browser { ok: bool, skipped: bool, reason: Option<String> },
    /// About once a second while waiting.
    Tick { seconds_left: u64, seconds_total: u64 },
    /// The session's token could not be renewed silently; a device code sign-in follows.
    RefreshRefused { reason: String },
    /// Something a person should be warned about (the cmdlets write a warning).
    Warning { message: String },
    /// Something a person should be told once (e.g. configurations carried over from an earlier version).
    Notice { message: String },
    /// Diagnostics for -Verbose (never a token or device code).
    Log { message: String },
}
