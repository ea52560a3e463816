//! The one error type of the core, with the stable result codes of the C ABI.

use serde_json::{Map, Value, json};

/// Result codes of the C ABI. Explicit numbers, never reused (see include/d365fo_interactive.h; the drift
/// test in tests/abi_drift.rs compares this enum with the header and with the C# binding).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    NullParameter = 1,
    InvalidUtf8 = 2,
    InvalidRequest = 3,
    Cancelled = 4,
    TimedOut = 5,
    CodeExpired = 6,
    Declined = 7,
    AuthorityError = 8,
    NetworkError = 9,
    ProtocolError = 10,
    StoreError = 11,
    NotFound = 12,
    AlreadyExists = 13,
    InvalidHandle = 14,
    UrlMissing = 15,
    TenantMissing = 16,
    /// The store may not be written by this user, or could be changed by other accounts (nothing was changed).
    StorePermissionDenied = 17,
    Panic = 99,
}

impl Code {
    /// Every code, for the drift test.
    pub const ALL: [Code; 19] = [
        Code::Ok,
        Code::NullParameter,
        Code::InvalidUtf8,
        Code::InvalidRequest,
        Code::Cancelled,
        Code::TimedOut,
        Code::CodeExpired,
        Code::Declined,
        Code::AuthorityError,
        Code::NetworkError,
        Code::ProtocolError,
        Code::StoreError,
        Code::NotFound,
        Code::AlreadyExists,
        Code::InvalidHandle,
        Code::UrlMissing,
        Code::TenantMissing,
        Code::StorePermissionDenied,
        Code::Panic,
    ];

    /// Short stable name used as `kind` in error JSON (and in PowerShell error ids).
    pub fn kind(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::NullParameter => "null_parameter",
            Code::InvalidUtf8 => "invalid_utf8",
            Code::InvalidRequest => "invalid_request",
            Code::Cancelled => "cancelled",
            Code::TimedOut => "timed_out",
            Code::CodeExpired => "code_expired",
            Code::Declined => "declined",
            Code::AuthorityError => "authority_error",
            Code::NetworkError => "network_error",
            Code::ProtocolError => "protocol_error",
            Code::StoreError => "store_error",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::InvalidHandle => "invalid_handle",
            Code::UrlMissing => "url_missing",
            Code::TenantMissing => "tenant_missing",
            Code::StorePermissionDenied => "store_permission_denied",
            Code::Panic => "panic",
        }
    }
}

/// An error with a code, a message for people, and optional structured details (OAuth error fields).
/// Messages must never contain a token or a device code.
#[derive(Debug, Clone)]
pub struct CoreError {
    pub code: Code,
    pub message: String,
    pub details: Map<String, Value>,
}

impl CoreError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CoreError { code, message: message.into(), details: Map::new() }
    }

    /// Adds a detail field (e.g. "error", "aadsts", "http_status") to the error JSON.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CoreError::new(Code::InvalidRequest, message)
    }

    /// The error object written to `out_json`.
    pub fn to_json(&self) -> String {
        let mut obj = Map::new();
        obj.insert("code".into(), json!(self.code as i32));
        obj.insert("kind".into(), json!(self.code.kind()));
        obj.insert("message".into(), json!(self.message));
        for (k, v) in &self.details {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj).to_string()
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoreError {}

pub type CoreResult<T> = Result<T, CoreError>;
