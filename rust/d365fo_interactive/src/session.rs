//! One sign-in serves the session: the tokens of this process's sign-ins, in memory only (never written,
//! never in an event or error), keyed by authority, endpoint version, tenant, resource and client id.
//!
//! A sign-in whose key holds an access token valid for at least five more minutes gets it back at once,
//! with nothing sent. Nearer its expiry, the refresh token renews it silently (keeping the rotated refresh
//! token); when the authority refuses, the refusal is reported and a device code sign-in follows.

use crate::cancel::CancelToken;
use crate::clock::{Clock, unix_now};
use crate::error::{Code, CoreError, CoreResult};
use crate::flow::{self, Context, Plan, Refresh};
use crate::http::Transport;
use crate::protocol::{Event, TokenAnswer, TokenSource};
use crate::validate::EndpointVersion;
use crate::wire::{OAuthError, TokenSet};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, MutexGuard};

/// Fields of the token response that never leave the core, not even in `-RawOutput`: the refresh token (with
/// the default family client it buys Graph or Azure Resource Manager tokens for weeks) and the id token.
/// The session keeps the refresh token to renew; the id token only serves `who`.
pub const WITHHELD_FIELDS: &[&str] = &["refresh_token", "id_token"];

/// A token with less than this left is renewed rather than handed out.
pub const REUSE_MIN_SECS: u64 = 300;

/// What makes two sign-ins the same.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    authority: String,
    endpoint: EndpointVersion,
    tenant: String,
    resource: String,
    client_id: String,
}

impl Key {
    fn of(plan: &Plan) -> Key {
        Key {
            authority: plan.settings.authority.to_ascii_lowercase(),
            endpoint: plan.settings.endpoint,
            tenant: plan.tenant.to_ascii_lowercase(),
            resource: plan.resource.to_ascii_lowercase(),
            client_id: plan.settings.client_id.to_ascii_lowercase(),
        }
    }
}

struct Entry {
    id: u64,
    key: Key,
    /// How to renew: the sign-in's resolved plan.
    plan: Plan,
    access_token: String,
    refresh_token: Option<String>,
    expires_on: u64,
    who: Option<String>,
    response: Map<String, Value>,
}

impl Entry {
    fn answer(&self, source: TokenSource) -> TokenAnswer {
        TokenAnswer {
            source,
            session: self.id,
            access_token: self.access_token.clone(),
            expires_on: self.expires_on,
            who: self.who.clone(),
            tenant: self.plan.tenant.clone(),
            resource: self.plan.resource.clone(),
            response: self.response.clone(),
        }
    }
}

struct Cache {
    entries: Vec<Entry>,
    next_id: u64,
}

fn cache() -> MutexGuard<'static, Cache> {
    static CACHE: Mutex<Cache> = Mutex::new(Cache { entries: Vec::new(), next_id: 1 });
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stores a fresh token set for `plan` (replacing the key's entry, keeping its id) and answers with it.
fn store(plan: &Plan, t: TokenSet, source: TokenSource, now: u64) -> TokenAnswer {
    let key = Key::of(plan);
    let mut c = cache();
    let previous = c.entries.iter().position(|e| e.key == key);
    let (id, old_who, old_refresh) = match previous {
        Some(i) => {
            let e = c.entries.remove(i);
            (e.id, e.who, e.refresh_token)
        }
        None => {
            c.next_id += 1;
            (c.next_id - 1, None, None)
        }
    };
    let who = who_from(&t.response).or(old_who);
    let mut response = t.response;
    for field in WITHHELD_FIELDS {
        response.remove(*field);
    }
    // A refresh answer without a new refresh token leaves the old one usable (Entra does not revoke it).
    let refresh_token = t.refresh_token.or(if source == TokenSource::Refresh { old_refresh } else { None });
    let entry = Entry {
        id,
        key,
        plan: plan.clone(),
        access_token: t.access_token,
        refresh_token,
        expires_on: now.saturating_add(t.lifetime_secs),
        who,
        response,
    };
    let answer = entry.answer(source);
    c.entries.push(entry);
    answer
}

/// The refusal of a refresh in a person's words.
pub fn refusal_reason(e: &OAuthError) -> String {
    let plain = match e.error.as_str() {
        "invalid_grant" => {
            "the authority no longer accepts the session's sign-in (it expired, was revoked, or a policy requires signing in again)"
        }
        "interaction_required" => "the authority requires you to sign in again interactively (for example for multi-factor authentication)",
        "consent_required" => "the application needs consent again",
        _ => "the authority refused to renew the session's sign-in",
    };
    match &e.aadsts {
        Some(code) => format!("{plain} ({}, {code})", e.error),
        None => format!("{plain} ({})", e.error),
    }
}

/// A sign-in for `plan`: the session's token when it is still good, else a silent refresh, else a device
/// code sign-in. `force` always signs in again (the new token replaces the session's).
pub fn sign_in(plan: &Plan, force: bool, ctx: &mut Context) -> CoreResult<TokenAnswer> {
    if !force {
        let now = unix_now();
        let key = Key::of(plan);
        let held =
            cache().entries.iter().find(|e| e.key == key).map(|e| (e.expires_on, e.refresh_token.clone(), e.answer(TokenSource::Cache)));
        if let Some((expires_on, refresh_token, answer)) = held {
            if expires_on >= now.saturating_add(REUSE_MIN_SECS) {
                return Ok(answer);
            }
            if let Some(rt) = refresh_token {
                match flow::refresh(plan, &rt, ctx)? {
                    Refresh::Renewed(t) => {
                        return Ok(store(plan, t, TokenSource::Refresh, unix_now()));
                    }
                    Refresh::Refused(e) => (ctx.emit)(Event::RefreshRefused { reason: refusal_reason(&e) }),
                    Refresh::Failed(e) => (ctx.emit)(Event::RefreshRefused { reason: e.message }),
                }
            }
        }
    }
    let t = flow::device_flow(plan, ctx)?;
    Ok(store(plan, t, TokenSource::DeviceCode, unix_now()))
}

/// The session entry holding this bearer token ("Bearer <token>" or the bare token), if any.
pub fn lookup_bearer(bearer: &str) -> Option<u64> {
    let token = bearer.trim();
    let token = token.strip_prefix("Bearer ").or_else(|| token.strip_prefix("bearer ")).unwrap_or(token).trim();
    cache().entries.iter().find(|e| e.access_token == token).map(|e| e.id)
}

/// The entry's access token, renewed silently first when it has less than `min_valid_secs` left.
/// `transport_for` gives the HTTP client for the entry's authority (the real one, or a test's).
pub fn token_for(
    session: u64,
    min_valid_secs: u64,
    clock: &dyn Clock,
    cancel: &CancelToken,
    emit: &mut dyn FnMut(Event),
    transport_for: &dyn Fn(&Plan) -> CoreResult<Arc<dyn Transport>>,
) -> CoreResult<TokenAnswer> {
    let found = cache()
        .entries
        .iter()
        .find(|e| e.id == session)
        .map(|e| (e.plan.clone(), e.expires_on, e.refresh_token.clone(), e.answer(TokenSource::Cache)));
    let Some((plan, expires_on, refresh_token, answer)) = found else {
        return Err(CoreError::new(Code::NotFound, "this session holds no such sign-in (run Get-D365ODataTokenInteractive again)"));
    };
    if expires_on >= unix_now().saturating_add(min_valid_secs) {
        return Ok(answer);
    }
    let Some(rt) = refresh_token else {
        return Err(CoreError::new(
            Code::AuthorityError,
            "the session's token is expiring and there is no refresh token to renew it; run Get-D365ODataTokenInteractive again",
        ));
    };
    let mut ctx = Context { clock, transport: transport_for(&plan)?, cancel, emit };
    match flow::refresh(&plan, &rt, &mut ctx)? {
        Refresh::Renewed(t) => Ok(store(&plan, t, TokenSource::Refresh, unix_now())),
        Refresh::Refused(e) => {
            Err(e.to_core(Code::AuthorityError, format!("{}; run Get-D365ODataTokenInteractive again", refusal_reason(&e))))
        }
        Refresh::Failed(e) => Err(e),
    }
}

/// Forgets every token of this process (tests).
pub fn clear() {
    cache().entries.clear();
}

/// Who signed in, from the id token's claims or else the access token's (display only; nothing is trusted).
fn who_from(response: &Map<String, Value>) -> Option<String> {
    ["id_token", "access_token"].iter().find_map(|k| {
        let claims = jwt_claims(response.get(*k)?.as_str()?)?;
        ["preferred_username", "upn", "unique_name", "email", "name"].iter().find_map(|c| {
            let v = claims.get(*c)?.as_str()?;
            let shown = crate::text::display_line(v, 100);
            (!shown.is_empty()).then_some(shown)
        })
    })
}

/// The payload of a JWT (base64url JSON), without checking anything about it.
fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    match serde_json::from_slice(&base64url_decode(payload)?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let full = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        match chunk.len() {
            4 => out.extend_from_slice(&full),
            3 => out.extend_from_slice(&full[..2]),
            2 => out.push(full[0]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = String::new();
        for c in bytes.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..=c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        s
    }

    #[test]
    fn base64url_round_trips() {
        for input in [&b""[..], b"a", b"ab", b"abc", b"{\"upn\":\"x@y\"}", &[0xff, 0xfe, 0x00, 0x10]] {
            assert_eq!(base64url_decode(&b64url(input)).unwrap(), input);
        }
        assert!(base64url_decode("a").is_none());
        assert!(base64url_decode("ab$c").is_none());
    }

    #[test]
    fn who_comes_from_the_id_token_then_the_access_token_and_is_made_safe() {
        let jwt = |claims: Value| format!("h.{}.s", b64url(claims.to_string().as_bytes()));
        let mut r = Map::new();
        r.insert("access_token".into(), json!(jwt(json!({"upn": "at@contoso.com"}))));
        assert_eq!(who_from(&r).as_deref(), Some("at@contoso.com"));
        r.insert("id_token".into(), json!(jwt(json!({"preferred_username": "id\u{1b}[31m@contoso.com\u{202e}"}))));
        assert_eq!(who_from(&r).as_deref(), Some("id[31m@contoso.com"));
        r.insert("id_token".into(), json!("not a jwt"));
        assert_eq!(who_from(&r).as_deref(), Some("at@contoso.com"));
        assert_eq!(who_from(&Map::new()), None);
    }

    #[test]
    fn the_refresh_and_id_tokens_stay_in_the_core_and_the_rest_of_the_response_is_answered() {
        let plan = crate::api::plan_sign_in(
            &crate::protocol::SignInRequest {
                tenant: Some("withheld.example".into()),
                url: Some("https://withheld.example.com".into()),
                ..Default::default()
            },
            &|k| (k == "D365FO_CONFIG_FILE").then(|| "/nonexistent/d365fo-withheld/psf_config.json".to_string()),
            &mut |_| {},
        )
        .unwrap();
        let mut response = Map::new();
        for (k, v) in [
            ("token_type", "Bearer"),
            ("access_token", "A.T.x"),
            ("refresh_token", "RT-SECRET"),
            ("id_token", "ID.TOKEN.x"),
            ("resource", "r"),
        ] {
            response.insert(k.into(), json!(v));
        }
        let t = TokenSet {
            response,
            access_token: "A.T.x".into(),
            refresh_token: Some("RT-SECRET".into()),
            lifetime_secs: 3600,
            notes: vec![],
        };
        let answer = store(&plan, t, TokenSource::DeviceCode, unix_now());
        let text = serde_json::to_string(&answer).unwrap();
        assert!(
            !text.contains("RT-SECRET") && !text.contains("ID.TOKEN") && !text.contains("refresh_token") && !text.contains("id_token"),
            "{text}"
        );
        assert_eq!((answer.response["token_type"].as_str(), answer.response["resource"].as_str()), (Some("Bearer"), Some("r")));
        // The session still holds the refresh token, to renew; the cached answer withholds it too.
        let held = cache().entries.iter().find(|e| e.id == answer.session).map(|e| (e.refresh_token.clone(), e.answer(TokenSource::Cache)));
        let (rt, cached) = held.unwrap();
        assert_eq!(rt.as_deref(), Some("RT-SECRET"));
        assert!(!serde_json::to_string(&cached).unwrap().contains("RT-SECRET"));
        cache().entries.retain(|e| e.id != answer.session);
    }

    #[test]
    fn refusals_read_as_sentences() {
        let e = OAuthError { error: "invalid_grant".into(), description: None, aadsts: Some("AADSTS700082".into()), http_status: 400 };
        let r = refusal_reason(&e);
        assert!(r.contains("no longer accepts") && r.ends_with("(invalid_grant, AADSTS700082)"), "{r}");
    }
}
