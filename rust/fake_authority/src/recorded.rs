//! Answers recorded from the real service, as published in public documentation, issues and Microsoft's own
//! test fixtures. Each lives in `recorded/NAME.json` with its source; the scenario `replay-NAME` makes the
//! fake answer that stage with the recorded body, byte for byte. They let a client be tested against what
//! Entra actually wrote, not only against the fake's reading of the docs.

use crate::protocol::{Stage, Version};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The files, compiled in so the binary serves them wherever it runs. The name is the file's stem.
const FILES: &[(&str, &str)] = &[
    ("gcm-v1-devicecode", include_str!("../recorded/gcm-v1-devicecode.json")),
    ("gcm-v1-token", include_str!("../recorded/gcm-v1-token.json")),
    ("qna-v2-devicecode-consumers", include_str!("../recorded/qna-v2-devicecode-consumers.json")),
    ("qna-v2-authorization-pending", include_str!("../recorded/qna-v2-authorization-pending.json")),
    ("docs-v2-token-success", include_str!("../recorded/docs-v2-token-success.json")),
    ("azure-docs-31986-invalid-client", include_str!("../recorded/azure-docs-31986-invalid-client.json")),
    ("azure-docs-46110-missing-code", include_str!("../recorded/azure-docs-46110-missing-code.json")),
];

/// One recorded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// The file's stem; the scenario is `replay-NAME`.
    pub name: &'static str,
    /// Where the answer was published.
    pub source: String,
    /// Which request it answers.
    pub stage: Stage,
    /// The endpoint version it came from.
    pub version: Version,
    /// The HTTP status (the note says where it comes from when the source gave the body only).
    pub status: u16,
    /// What was done to the published text, if anything, and other context.
    pub note: String,
    /// The body exactly as the fake serves it.
    pub body: String,
}

impl RecordedAnswer {
    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).expect("recorded bodies are JSON")
    }
}

fn parse(name: &'static str, text: &str) -> Result<RecordedAnswer, String> {
    let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let member = |k: &str| members.get(k).ok_or_else(|| format!("{name}: no '{k}'"));
    let string = |k: &str| -> Result<String, String> { serde_json::from_str(member(k)?.get()).map_err(|e| format!("{name}: '{k}': {e}")) };
    let stage = match string("stage")?.as_str() {
        "devicecode" => Stage::DeviceCode,
        "token" => Stage::Token,
        other => return Err(format!("{name}: stage '{other}' is neither devicecode nor token")),
    };
    let version = match string("version")?.as_str() {
        "v1" => Version::V1,
        "v2" => Version::V2,
        other => return Err(format!("{name}: version '{other}' is neither v1 nor v2")),
    };
    let status = serde_json::from_str(member("status")?.get()).map_err(|e| format!("{name}: 'status': {e}"))?;
    Ok(RecordedAnswer {
        name,
        source: string("source")?,
        stage,
        version,
        status,
        note: string("note")?,
        body: member("body")?.get().to_string(),
    })
}

/// Every recorded answer, for tests here and in other crates to iterate.
pub fn recorded_answers() -> Vec<RecordedAnswer> {
    FILES.iter().map(|(name, text)| parse(name, text).unwrap_or_else(|e| panic!("recorded answer {e}"))).collect()
}

/// The recorded answer with this name.
pub fn recorded_answer(name: &str) -> Option<RecordedAnswer> {
    FILES.iter().find(|(n, _)| *n == name).map(|(n, text)| parse(n, text).unwrap_or_else(|e| panic!("recorded answer {e}")))
}

/// The names, without reading the files (for scenario parsing).
pub fn names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_and_names_a_public_source() {
        let all = recorded_answers();
        assert!((4..=8).contains(&all.len()));
        for a in &all {
            assert!(a.source.starts_with("https://"), "{}: {}", a.name, a.source);
            assert!(matches!(a.status, 200 | 400 | 401), "{}: {}", a.name, a.status);
            assert!(!a.note.is_empty(), "{}", a.name);
            // Served as compact JSON on one line, as the service writes it.
            assert!(!a.body.contains('\n') && a.body.starts_with('{') && a.body.ends_with('}'), "{}", a.name);
            let v = a.body_json();
            assert!(v.get("error").is_some() || v.get("device_code").is_some() || v.get("access_token").is_some(), "{}: {v}", a.name);
            assert_eq!(a.status == 200, v.get("error").is_none(), "{}: a 200 carries no error here", a.name);
        }
        let mut names: Vec<_> = all.iter().map(|a| a.name).collect();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn the_body_is_the_stored_bytes_not_a_reserialisation() {
        let a = recorded_answer("qna-v2-authorization-pending").unwrap();
        // Member order as published (re-serialised through a serde_json Map, "correlation_id" would come
        // first) and the escapes as written.
        assert!(a.body.starts_with(r#"{"error":"authorization_pending","error_description":"AADSTS70016: "#), "{}", a.body);
        assert!(a.body.contains(r"\r\nTrace ID: 21a7ca08-5c6d-4238-a06f-d7808ff27900\r\n"), "{}", a.body);
        assert!(recorded_answer("no-such").is_none());
    }
}
