//! What one sign-in does: the table of scenario names, how a name (or `dc-` name, or `replay-` name) is
//! parsed, and which of them are faults. The fault answers themselves are in `fault.rs`, the recorded ones in
//! `recorded.rs`; the endpoints decide when to use them.

pub use crate::protocol::Stage;
use crate::recorded;

/// Tenants ending in this select a scenario per sign-in.
pub const SCENARIO_DOMAIN: &str = ".scenario.test";

/// What a sign-in does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Approve,
    Manual,
    Decline,
    Expire,
    SlowDown,
    LoopDetected,
    InvalidClient,
    DeviceCodeError200,
    Transient503,
    Transient429,
    Transient503RetryAfter,
    Transient429NoRetryAfter,
    Always503,
    Reset,
    SlowResponse,
    EndlessBody,
    HugeBody,
    InvalidUtf8,
    MalformedJson,
    HtmlError,
    MissingFields,
    ExtraFields,
    WrongTypes,
    RedirectOtherHost,
    RedirectHttp,
    RefreshInvalidGrant,
    RefreshInteractionRequired,
    Trickle,
    HostileText,
    HostileUserCode,
    HostileVerificationUri,
    HugeNumbers,
    MaxNumbers,
    BadToken,
    /// Answer one stage with the recorded answer of this name, verbatim (`replay-NAME`).
    Replay(&'static str),
}

/// (name, kind, may be prefixed with `dc-`)
const KINDS: &[(&str, Kind, bool)] = &[
    ("approve", Kind::Approve, false),
    ("manual", Kind::Manual, false),
    ("decline", Kind::Decline, false),
    ("expire", Kind::Expire, false),
    ("slow-down", Kind::SlowDown, false),
    ("loop-detected", Kind::LoopDetected, false),
    ("invalid-client", Kind::InvalidClient, false),
    ("devicecode-error-200", Kind::DeviceCodeError200, false),
    ("transient-503", Kind::Transient503, true),
    ("transient-429", Kind::Transient429, true),
    ("transient-503-retry-after", Kind::Transient503RetryAfter, true),
    ("transient-429-no-retry-after", Kind::Transient429NoRetryAfter, true),
    ("always-503", Kind::Always503, false),
    ("reset", Kind::Reset, true),
    ("slow-response", Kind::SlowResponse, true),
    ("endless-body", Kind::EndlessBody, true),
    ("trickle", Kind::Trickle, true),
    ("huge-body", Kind::HugeBody, true),
    ("invalid-utf8", Kind::InvalidUtf8, true),
    ("malformed-json", Kind::MalformedJson, true),
    ("html-error", Kind::HtmlError, true),
    ("missing-fields", Kind::MissingFields, true),
    ("extra-fields", Kind::ExtraFields, true),
    ("wrong-types", Kind::WrongTypes, true),
    ("redirect-other-host", Kind::RedirectOtherHost, true),
    ("redirect-http", Kind::RedirectHttp, true),
    ("refresh-invalid-grant", Kind::RefreshInvalidGrant, false),
    ("refresh-interaction-required", Kind::RefreshInteractionRequired, false),
    ("hostile-text", Kind::HostileText, false),
    ("hostile-user-code", Kind::HostileUserCode, false),
    ("hostile-verification-uri", Kind::HostileVerificationUri, false),
    ("huge-numbers", Kind::HugeNumbers, false),
    ("max-numbers", Kind::MaxNumbers, false),
    ("bad-token", Kind::BadToken, false),
];

/// A scenario: what happens, and (for faults) where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub kind: Kind,
    pub stage: Stage,
}

impl Scenario {
    /// Parses `name`, `dc-name` or `replay-NAME` (case-insensitive, `_` = `-`). A replay's stage is the
    /// recorded answer's.
    pub fn parse(name: &str) -> Option<Scenario> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        if let Some(rec) = n.strip_prefix("replay-") {
            let name = recorded::names().find(|r| *r == rec)?;
            let stage = recorded::recorded_answer(name)?.stage;
            return Some(Scenario { kind: Kind::Replay(name), stage });
        }
        let (stage, base) = match n.strip_prefix("dc-") {
            Some(rest) => (Stage::DeviceCode, rest.to_string()),
            None => (Stage::Token, n),
        };
        KINDS
            .iter()
            .find(|(k, _, _)| *k == base)
            .filter(|(_, _, dc_ok)| stage == Stage::Token || *dc_ok)
            .map(|(_, kind, _)| Scenario { kind: *kind, stage })
    }

    pub fn name(&self) -> String {
        if let Kind::Replay(rec) = self.kind {
            return format!("replay-{rec}");
        }
        let base = KINDS.iter().find(|(_, k, _)| *k == self.kind).map(|(n, _, _)| *n).unwrap_or("?");
        match self.stage {
            Stage::DeviceCode => format!("dc-{base}"),
            Stage::Token => base.to_string(),
        }
    }

    /// Every accepted scenario name.
    pub fn all_names() -> Vec<String> {
        let mut v: Vec<String> = KINDS.iter().map(|(n, _, _)| n.to_string()).collect();
        v.extend(KINDS.iter().filter(|(_, _, dc)| *dc).map(|(n, _, _)| format!("dc-{n}")));
        v.extend(recorded::names().map(|n| format!("replay-{n}")));
        v
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario { kind: Kind::Approve, stage: Stage::Token }
    }
}

/// True for the kinds that answer with one of the fault answers (those that may strike at either stage,
/// and `always-503`).
pub fn is_fault(kind: Kind) -> bool {
    KINDS.iter().any(|(_, k, dc)| *k == kind && *dc) || kind == Kind::Always503
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for n in Scenario::all_names() {
            let s = Scenario::parse(&n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(s.name(), n);
        }
        assert_eq!(Scenario::parse("SLOW_DOWN").unwrap().kind, Kind::SlowDown);
        assert!(Scenario::parse("dc-decline").is_none());
        assert!(Scenario::parse("nope").is_none());
        assert!(Scenario::parse("replay-nope").is_none() && Scenario::parse("dc-replay-gcm-v1-token").is_none());
        let replay = Scenario::parse("Replay-GCM_v1-DeviceCode").unwrap();
        assert_eq!((replay.kind, replay.stage), (Kind::Replay("gcm-v1-devicecode"), Stage::DeviceCode));
        assert_eq!(Scenario::parse("replay-gcm-v1-token").unwrap().stage, Stage::Token);
    }
}
