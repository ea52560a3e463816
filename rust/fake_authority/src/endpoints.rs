//! Entra's two endpoints of the device flow: the device code request (`/oauth2[/v2.0]/devicecode`) and the
//! token endpoint (`/oauth2[/v2.0]/token`), with the polling rules and the per-sign-in scenarios.

use crate::fault::{self, FaultContext, send_fault};
use crate::protocol::{
    self, Stage, Version, already_redeemed, authorization_pending, declined, expired, loop_detected, public_client_flows_disabled,
    slow_down,
};
use crate::recorded;
use crate::respond::{send_error, send_json, send_json_text};
use crate::scenario::{Kind, SCENARIO_DOMAIN, Scenario, is_fault};
use crate::state::{SignIn, SignInState, State, lock, normalize_code};
use crate::util;
use serde_json::json;
use std::time::{Duration, Instant};
use tiny_http::Request;

/// Grace for loop detection (timer granularity).
const LOOP_GRACE: Duration = Duration::from_millis(200);

/// A form field by name (the last one wins, as most servers do).
pub type Field<'a> = &'a dyn Fn(&str) -> Option<String>;

fn fault_context(state: &State) -> FaultContext<'_> {
    FaultContext {
        base_url: &state.base_url,
        local_port: state.local_port,
        retry_after: state.opts.retry_after,
        redirect_to: state.opts.redirect_to.as_deref(),
        slow: &state.slow,
    }
}

fn scenario_for(state: &State, tenant: &str) -> Result<Scenario, String> {
    let t = tenant.to_ascii_lowercase();
    match t.strip_suffix(SCENARIO_DOMAIN) {
        Some(name) => Scenario::parse(name).ok_or_else(|| name.to_string()),
        None => Ok(state.opts.scenario),
    }
}

/// The only grant type the device-code poll accepts, on v1 and v2: the v2 device-code doc's
/// (`grant_type` "Must be `urn:ietf:params:oauth:grant-type:device_code`") and RFC 8628 §3.4's.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The refresh grant (RFC 6749 §6; v1-protocols-oauth-code.md and v2-oauth2-auth-code-flow.md).
pub const REFRESH_GRANT: &str = "refresh_token";

fn missing_parameter(state: &State, rq: Request, name: &str) {
    send_error(&state.base_url, rq, &protocol::missing_parameter(name));
}

pub fn device_code(state: &State, rq: Request, tenant: &str, version: Version, field: Field) {
    let scenario = match scenario_for(state, tenant) {
        Ok(s) => s,
        Err(_) => return send_error(&state.base_url, rq, &protocol::tenant_not_found(tenant)),
    };
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else {
        return missing_parameter(state, rq, "client_id");
    };
    let resource = match version {
        Version::V1 => match field("resource").filter(|r| !r.is_empty()) {
            Some(r) => r,
            None => return missing_parameter(state, rq, "resource"),
        },
        Version::V2 => match field("scope").filter(|s| !s.is_empty()) {
            Some(s) => protocol::resource_of_scope(&s),
            None => return missing_parameter(state, rq, "scope"),
        },
    };
    if scenario.stage == Stage::DeviceCode {
        match scenario.kind {
            Kind::SlowResponse => std::thread::sleep(Duration::from_secs_f64(state.opts.delay_secs)),
            // These answer with a device code answer (the real one shaped or timed differently, or a recorded
            // one) below.
            Kind::ExtraFields | Kind::Trickle | Kind::Replay(_) => {}
            k => return send_fault(&fault_context(state), rq, k, Stage::DeviceCode, version),
        }
    }
    if scenario.kind == Kind::DeviceCodeError200 {
        return send_error(&state.base_url, rq, &protocol::app_not_found_on_200(&client_id, tenant));
    }
    let now = Instant::now();
    let user_code = util::user_code();
    let device_code = format!("DAQABIQEAAAD{}", util::base64url(&util::random_bytes(60)));
    let signin = SignIn {
        user_code: user_code.clone(),
        device_code: device_code.clone(),
        tenant: tenant.to_string(),
        version,
        client_id,
        resource,
        scenario,
        issued: now,
        last_seen: now,
        required_interval: state.opts.interval,
        expires_in: state.opts.expires_in,
        polls: 0,
        state: SignInState::Pending,
        tokens: None,
        refresh_tokens: Vec::new(),
        refreshes: 0,
        refresh_refusals: 0,
        revoked: false,
    };
    if let Kind::Replay(name) = scenario.kind
        && scenario.stage == Stage::DeviceCode
    {
        return replay_device_code(state, rq, name, signin);
    }
    lock(&state.signins).push(signin);
    let verification = format!("{}/devicelogin", state.base_url);
    let mut body = protocol::device_code_body(version, &user_code, &device_code, &verification, state.opts.expires_in, state.opts.interval);
    if scenario.kind == Kind::ExtraFields && scenario.stage == Stage::DeviceCode {
        body["verification_uri_complete"] = json!(format!("{verification}?otc={user_code}"));
        body["x_fake_extra"] = json!({"nested": [1, "two", null]});
    }
    match scenario.kind {
        Kind::HostileText => body["message"] = json!(protocol::hostile_message(&verification, &user_code)),
        Kind::HostileUserCode => body["user_code"] = json!(format!("{}\u{202E}{}\u{200B}", &user_code[..4], &user_code[4..])),
        Kind::HostileVerificationUri => {
            let field = if body.get("verification_uri").is_some() { "verification_uri" } else { "verification_url" };
            body[field] = json!(protocol::HOSTILE_VERIFICATION_URI);
            body["message"] = json!(format!("To sign in, open {} and enter the code {user_code}.", protocol::HOSTILE_VERIFICATION_URI));
        }
        Kind::HugeNumbers => protocol::set_seconds(&mut body, version, "expires_in", protocol::HUGE_SECONDS),
        Kind::MaxNumbers => protocol::set_seconds(&mut body, version, "expires_in", u64::MAX),
        _ => {}
    }
    if scenario.kind == Kind::Trickle && scenario.stage == Stage::DeviceCode {
        return fault::trickle(&fault_context(state), rq, 200, body.to_string().as_bytes(), Stage::DeviceCode);
    }
    send_json(rq, 200, &body);
}

/// Answers the device code request with the recorded answer `name`, verbatim. When it carries a device code,
/// the sign-in is registered under that code, user code, interval and lifetime, so the client's later polls
/// (which send the recorded device_code) are recognised and follow the usual rules.
fn replay_device_code(state: &State, rq: Request, name: &str, mut signin: SignIn) {
    let Some(rec) = recorded::recorded_answer(name) else {
        return send_error(&state.base_url, rq, &protocol::fake_internal_error(format!("no recorded answer '{name}'")));
    };
    let body = rec.body_json();
    if let Some(device_code) = body["device_code"].as_str() {
        signin.device_code = device_code.to_string();
        signin.user_code = normalize_code(body["user_code"].as_str().unwrap_or_default());
        signin.required_interval = seconds(&body["interval"]).unwrap_or(signin.required_interval);
        signin.expires_in = seconds(&body["expires_in"]).unwrap_or(signin.expires_in);
        lock(&state.signins).push(signin);
    }
    send_json_text(rq, rec.status, &rec.body);
}

/// A count of seconds written as a number (v2) or a string (v1).
fn seconds(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// What to answer a poll with, decided under the lock and sent after it.
enum Answer {
    Error(protocol::EntraError),
    Fault(Kind),
    Token(serde_json::Value),
    Recorded(recorded::RecordedAnswer),
}

pub fn token(state: &State, rq: Request, tenant: &str, version: Version, field: Field, received: Instant) {
    let base_url = state.base_url.as_str();
    let grant = field("grant_type").unwrap_or_default();
    if grant.is_empty() {
        return missing_parameter(state, rq, "grant_type");
    }
    if grant == REFRESH_GRANT {
        return refresh(state, rq, tenant, version, field);
    }
    if grant != DEVICE_CODE_GRANT {
        // v1 once also took `device_code` (ADAL's spelling); the documented grant is the only one now.
        return send_error(base_url, rq, &protocol::unsupported_grant_type(&grant));
    }
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else {
        return missing_parameter(state, rq, "client_id");
    };
    let code = match version {
        Version::V1 => field("code").or_else(|| field("device_code")),
        Version::V2 => field("device_code").or_else(|| field("code")),
    };
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return missing_parameter(state, rq, if version == Version::V1 { "code" } else { "device_code" });
    };
    if version == Version::V1 && field("resource").is_none_or(|r| r.is_empty()) {
        return missing_parameter(state, rq, "resource");
    }

    let opts = &state.opts;
    let (answer, delay) = {
        let mut all = lock(&state.signins);
        // A code issued for another tenant, client or endpoint version is not recognized either.
        // Newest first: replays of one recorded answer register the same device code more than once.
        let found =
            all.iter_mut().rev().find(|s| s.device_code == code && s.tenant == tenant && s.client_id == client_id && s.version == version);
        let Some(si) = found else {
            drop(all);
            return send_error(base_url, rq, &protocol::bad_verification_code());
        };
        si.polls += 1;
        let poll = si.polls;
        let since = received.saturating_duration_since(si.last_seen);
        si.last_seen = received;
        let sc = si.scenario;
        let token_fault = sc.stage == Stage::Token && is_fault(sc.kind) && sc.kind != Kind::ExtraFields && sc.kind != Kind::SlowResponse;
        let delay = (sc.stage == Stage::Token && sc.kind == Kind::SlowResponse).then(|| Duration::from_secs_f64(opts.delay_secs));
        let past_expiry = received >= si.issued + Duration::from_secs(si.expires_in);
        let answer =
            if opts.loop_detection && since + LOOP_GRACE < Duration::from_secs(si.required_interval) && si.state != SignInState::Redeemed {
                Answer::Error(loop_detected())
            } else if si.state == SignInState::Redeemed {
                Answer::Error(already_redeemed())
            } else if past_expiry || si.state == SignInState::Expired {
                si.state = SignInState::Expired;
                Answer::Error(expired(version))
            } else if si.state == SignInState::Declined {
                Answer::Error(declined(version))
            } else if poll == 1 && sc.kind == Kind::Decline {
                si.state = SignInState::Declined;
                Answer::Error(declined(version))
            } else if poll == 1 && sc.kind == Kind::Expire {
                si.state = SignInState::Expired;
                Answer::Error(expired(version))
            } else if poll == 1 && sc.kind == Kind::SlowDown {
                si.required_interval += 5;
                Answer::Error(slow_down())
            } else if poll == 1 && sc.kind == Kind::LoopDetected {
                Answer::Error(loop_detected())
            } else if poll == 1 && sc.kind == Kind::InvalidClient {
                Answer::Error(public_client_flows_disabled())
            } else if let (1, Kind::Replay(name), Stage::Token) = (poll, sc.kind, sc.stage) {
                match recorded::recorded_answer(name) {
                    Some(rec) => {
                        // A recorded token ends the flow as a real one would; its tokens are shown in
                        // /_test/signins but are not this server's, so a refresh with them is refused.
                        let body = rec.body_json();
                        if rec.status == 200 && body.get("access_token").is_some() {
                            let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
                            si.tokens = Some(protocol::Tokens {
                                access_token: text("access_token"),
                                refresh_token: text("refresh_token"),
                                id_token: text("id_token"),
                                issued_unix: util::unix_now(),
                                lifetime_secs: seconds(&body["expires_in"]).unwrap_or(0),
                            });
                            si.state = SignInState::Redeemed;
                        }
                        Answer::Recorded(rec)
                    }
                    None => Answer::Error(protocol::fake_internal_error(format!("no recorded answer '{name}'"))),
                }
            } else if token_fault && (poll == 1 || matches!(sc.kind, Kind::Always503 | Kind::HtmlError)) {
                Answer::Fault(sc.kind)
            } else {
                let elapsed = received.saturating_duration_since(si.issued).as_secs_f64();
                let by_polls = match (opts.approve_after_polls, opts.approve_after_secs) {
                    (Some(n), _) => poll > n,
                    (None, None) => poll > 1,
                    (None, Some(_)) => false,
                };
                let by_secs = opts.approve_after_secs.is_some_and(|t| elapsed >= t);
                let auto = opts.auto_approve_secs.is_some_and(|t| elapsed >= t);
                let approved = si.state == SignInState::Approved || auto || (sc.kind != Kind::Manual && (by_polls || by_secs));
                if approved {
                    let tokens =
                        protocol::make_tokens(&opts.token_prefix, &si.tenant, &si.client_id, &si.resource, opts.token_lifetime_secs);
                    let mut body = protocol::token_body(version, &tokens, &si.resource);
                    match sc.kind {
                        Kind::HugeNumbers => {
                            protocol::set_seconds(&mut body, version, "expires_in", protocol::HUGE_SECONDS);
                            protocol::set_seconds(&mut body, version, "ext_expires_in", protocol::HUGE_SECONDS);
                        }
                        Kind::MaxNumbers => {
                            protocol::set_seconds(&mut body, version, "expires_in", u64::MAX);
                            protocol::set_seconds(&mut body, version, "ext_expires_in", u64::MAX);
                        }
                        Kind::BadToken => body["access_token"] = json!(format!("{}\r\nX-Injected: yes\u{1b}[2J", tokens.access_token)),
                        _ => {}
                    }
                    if sc.kind == Kind::ExtraFields && sc.stage == Stage::Token {
                        body["x_fake_extra"] = json!({"nested": [1, "two", null], "flag": true});
                        body["client_info"] = json!(util::base64url(br#"{"uid":"local","utid":"test"}"#));
                    }
                    si.refresh_tokens.push(tokens.refresh_token.clone());
                    si.tokens = Some(tokens);
                    si.state = SignInState::Redeemed;
                    Answer::Token(body)
                } else {
                    Answer::Error(authorization_pending())
                }
            };
        (answer, delay)
    };
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    match answer {
        Answer::Error(e) => send_error(base_url, rq, &e),
        Answer::Fault(kind) => send_fault(&fault_context(state), rq, kind, Stage::Token, version),
        Answer::Token(body) => send_json(rq, 200, &body),
        Answer::Recorded(rec) => send_json_text(rq, rec.status, &rec.body),
    }
}

/// `grant_type=refresh_token`: v1 with `client_id`, `refresh_token`, `resource`; v2 with `client_id`,
/// `refresh_token` and `scope` (optional, as entra-device-flow.md §7 reads the v2 doc; without it the
/// sign-in's resource is used). A refresh token this server issued, presented for the same tenant and client,
/// gets a new access token and a new refresh token in the shape of the endpoint asked (a v1 token may be
/// redeemed on v2 and the other way round, §7). Loop detection never applies here.
fn refresh(state: &State, rq: Request, tenant: &str, version: Version, field: Field) {
    let base_url = state.base_url.as_str();
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else {
        return missing_parameter(state, rq, "client_id");
    };
    let Some(presented) = field("refresh_token").filter(|t| !t.is_empty()) else {
        return missing_parameter(state, rq, "refresh_token");
    };
    let asked_resource = match version {
        Version::V1 => match field("resource").filter(|r| !r.is_empty()) {
            Some(r) => Some(r),
            None => return missing_parameter(state, rq, "resource"),
        },
        Version::V2 => field("scope").map(|s| protocol::resource_of_scope(&s)).filter(|r| !r.is_empty()),
    };
    let answer = {
        let mut all = lock(&state.signins);
        // Newest first: the sign-in that issued the token (tokens are random, so at most one matches).
        let Some(si) = all.iter_mut().rev().find(|s| s.refresh_tokens.contains(&presented)) else {
            drop(all);
            return send_error(base_url, rq, &protocol::refresh_token_malformed());
        };
        let refusal = if si.tenant != tenant || si.client_id != client_id {
            Some(protocol::refresh_token_not_valid_here())
        } else if si.revoked {
            Some(protocol::refresh_token_revoked())
        } else if si.scenario.kind == Kind::RefreshInvalidGrant {
            Some(protocol::refresh_token_inactive(si.tokens.as_ref().map_or_else(util::unix_now, |t| t.issued_unix)))
        } else if si.scenario.kind == Kind::RefreshInteractionRequired {
            Some(protocol::mfa_required(asked_resource.as_deref().unwrap_or(&si.resource)))
        } else {
            None
        };
        match refusal {
            Some(e) => {
                si.refresh_refusals += 1;
                Err(e)
            }
            None => {
                let resource = asked_resource.unwrap_or_else(|| si.resource.clone());
                let opts = &state.opts;
                let tokens = protocol::make_tokens(&opts.token_prefix, &si.tenant, &si.client_id, &resource, opts.token_lifetime_secs);
                let body = protocol::token_body(version, &tokens, &resource);
                si.refresh_tokens.push(tokens.refresh_token.clone());
                si.tokens = Some(tokens);
                si.refreshes += 1;
                Ok(body)
            }
        }
    };
    match answer {
        Ok(body) => send_json(rq, 200, &body),
        Err(e) => send_error(base_url, rq, &e),
    }
}
