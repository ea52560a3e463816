//! Entra's two endpoints of the device flow: the device code request (`/oauth2[/v2.0]/devicecode`) and the
//! token endpoint (`/oauth2[/v2.0]/token`), with the polling rules and the per-sign-in scenarios.

use crate::fault::{FaultContext, send_fault};
use crate::protocol::{self, Stage, Version};
use crate::respond::{send_error, send_json};
use crate::scenario::{Kind, SCENARIO_DOMAIN, Scenario, is_fault};
use crate::state::{SignIn, SignInState, State, lock};
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
    }
}

fn scenario_for(state: &State, tenant: &str) -> Result<Scenario, String> {
    let t = tenant.to_ascii_lowercase();
    match t.strip_suffix(SCENARIO_DOMAIN) {
        Some(name) => Scenario::parse(name).ok_or_else(|| name.to_string()),
        None => Ok(state.opts.scenario),
    }
}

fn missing_parameter(state: &State, rq: Request, name: &str) {
    send_error(
        &state.base_url,
        rq,
        400,
        "invalid_request",
        Some(900144),
        &format!("The request body must contain the following parameter: '{name}'."),
    );
}

pub fn device_code(state: &State, rq: Request, tenant: &str, version: Version, field: Field) {
    let scenario = match scenario_for(state, tenant) {
        Ok(s) => s,
        Err(_) => {
            let text = format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            );
            return send_error(&state.base_url, rq, 400, "invalid_request", Some(90002), &text);
        }
    };
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else { return missing_parameter(state, rq, "client_id") };
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
            Kind::ExtraFields => {}
            k => return send_fault(&fault_context(state), rq, k, Stage::DeviceCode, version),
        }
    }
    if scenario.kind == Kind::DeviceCodeError200 {
        let text = format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        );
        return send_error(&state.base_url, rq, 200, "invalid_client", Some(700016), &text);
    }
    let now = Instant::now();
    let user_code = util::user_code();
    let device_code = format!("DAQABIQEAAAD{}", util::base64url(&util::random_bytes(60)));
    lock(&state.signins).push(SignIn {
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
        polls: 0,
        state: SignInState::Pending,
        tokens: None,
    });
    let verification = format!("{}/devicelogin", state.base_url);
    let mut body = protocol::device_code_body(version, &user_code, &device_code, &verification, state.opts.expires_in, state.opts.interval);
    if scenario.kind == Kind::ExtraFields && scenario.stage == Stage::DeviceCode {
        body["verification_uri_complete"] = json!(format!("{verification}?otc={user_code}"));
        body["x_fake_extra"] = json!({"nested": [1, "two", null]});
    }
    send_json(rq, 200, &body);
}

/// What to answer a poll with, decided under the lock and sent after it.
enum Answer {
    Error(u16, &'static str, Option<u32>, String),
    Fault(Kind),
    Token(serde_json::Value),
}

pub fn token(state: &State, rq: Request, tenant: &str, version: Version, field: Field, received: Instant) {
    let base_url = state.base_url.as_str();
    let grant = field("grant_type").unwrap_or_default();
    let urn = "urn:ietf:params:oauth:grant-type:device_code";
    let grant_ok = match version {
        Version::V1 => grant == urn || grant == "device_code",
        Version::V2 => grant == urn,
    };
    if grant.is_empty() {
        return missing_parameter(state, rq, "grant_type");
    }
    if !grant_ok {
        return send_error(
            base_url,
            rq,
            400,
            "unsupported_grant_type",
            Some(70003),
            &format!("The app requested an unsupported grant type '{grant}'."),
        );
    }
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else { return missing_parameter(state, rq, "client_id") };
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
        let Some(si) = all.iter_mut().find(|s| s.device_code == code) else {
            drop(all);
            return send_error(
                base_url,
                rq,
                400,
                "invalid_grant",
                Some(70000),
                "The provided value for the input parameter 'device_code' is not valid.",
            );
        };
        if si.tenant != tenant || si.client_id != client_id || si.version != version {
            drop(all);
            return send_error(
                base_url,
                rq,
                400,
                "invalid_grant",
                Some(70000),
                "The provided value for the input parameter 'device_code' is not valid. It was issued for another tenant, client or endpoint.",
            );
        }
        si.polls += 1;
        let poll = si.polls;
        let since = received.saturating_duration_since(si.last_seen);
        si.last_seen = received;
        let sc = si.scenario;
        let token_fault = sc.stage == Stage::Token && is_fault(sc.kind) && sc.kind != Kind::ExtraFields && sc.kind != Kind::SlowResponse;
        let delay = (sc.stage == Stage::Token && sc.kind == Kind::SlowResponse).then(|| Duration::from_secs_f64(opts.delay_secs));
        let expired = received >= si.issued + Duration::from_secs(opts.expires_in);
        let expired_answer = || match version {
            Version::V2 => Answer::Error(
                400,
                "expired_token",
                Some(70020),
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.".into(),
            ),
            Version::V1 => Answer::Error(400, "code_expired", Some(70019), "Verification code expired.".into()),
        };
        let declined_answer = || match version {
            Version::V2 => {
                Answer::Error(400, "authorization_declined", Some(65004), "The user declined the sign-in on the device login page.".into())
            }
            Version::V1 => {
                Answer::Error(400, "access_denied", Some(65004), "The user declined the sign-in on the device login page.".into())
            }
        };
        let pending = || {
            Answer::Error(
                400,
                "authorization_pending",
                Some(70016),
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".into(),
            )
        };
        let loop_answer = || {
            Answer::Error(
                400,
                "invalid_request",
                Some(50196),
                "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.".into(),
            )
        };

        let answer =
            if opts.loop_detection && since + LOOP_GRACE < Duration::from_secs(si.required_interval) && si.state != SignInState::Redeemed {
                loop_answer()
            } else if si.state == SignInState::Redeemed {
                Answer::Error(
                    400,
                    "invalid_grant",
                    Some(54005),
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."
                        .into(),
                )
            } else if expired || si.state == SignInState::Expired {
                si.state = SignInState::Expired;
                expired_answer()
            } else if si.state == SignInState::Declined {
                declined_answer()
            } else if poll == 1 && sc.kind == Kind::Decline {
                si.state = SignInState::Declined;
                declined_answer()
            } else if poll == 1 && sc.kind == Kind::Expire {
                si.state = SignInState::Expired;
                expired_answer()
            } else if poll == 1 && sc.kind == Kind::SlowDown {
                si.required_interval += 5;
                Answer::Error(
                    400,
                    "slow_down",
                    None,
                    "The client is polling too often; wait 5 seconds longer before each poll (local test authority).".into(),
                )
            } else if poll == 1 && sc.kind == Kind::LoopDetected {
                loop_answer()
            } else if poll == 1 && sc.kind == Kind::InvalidClient {
                Answer::Error(
                    401,
                    "invalid_client",
                    Some(7000218),
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
                )
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
                    let tokens = protocol::make_tokens(&opts.token_prefix, &si.tenant, &si.client_id, &si.resource);
                    let mut body = protocol::token_body(version, &tokens, &si.resource);
                    if sc.kind == Kind::ExtraFields && sc.stage == Stage::Token {
                        body["x_fake_extra"] = json!({"nested": [1, "two", null], "flag": true});
                        body["client_info"] = json!(util::base64url(br#"{"uid":"local","utid":"test"}"#));
                    }
                    si.tokens = Some(tokens);
                    si.state = SignInState::Redeemed;
                    Answer::Token(body)
                } else {
                    pending()
                }
            };
        (answer, delay)
    };
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    match answer {
        Answer::Error(status, error, aadsts, text) => send_error(base_url, rq, status, error, aadsts, &text),
        Answer::Fault(kind) => send_fault(&fault_context(state), rq, kind, Stage::Token, version),
        Answer::Token(body) => send_json(rq, 200, &body),
    }
}
