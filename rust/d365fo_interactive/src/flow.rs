//! The device code sign-in (RFC 8628 against Entra ID v1 and v2).

use crate::cancel::CancelToken;
use crate::error::{CoreError, CoreResult};

/// Runs the whole flow described by `request_json`, emitting events; returns the token response JSON.
pub fn run_device_flow(request_json: &str, cancel: &CancelToken, emit: &mut dyn FnMut(&str)) -> CoreResult<String> {
    let _ = (request_json, cancel, emit);
    Err(CoreError::new(crate::error::Code::InvalidRequest, "the device code sign-in is not implemented yet"))
}
