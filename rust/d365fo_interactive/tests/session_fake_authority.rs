//! One sign-in serves the session: reuse sends nothing, a token near its expiry is renewed with exactly one
//! refresh grant (keeping the rotated refresh token), a refused refresh falls back to the device flow, -Force
//! signs in again, and the session default's token is renewed after expiry. Against the real fake authority.

use d365fo_interactive::api::{Seams, handle_with};
use d365fo_interactive::cancel::CancelToken;
use d365fo_interactive::clock::RealClock;
use d365fo_interactive::error::{Code, CoreError};
use fake_authority::{FakeAuthority, Options};
use serde_json::{Value, json};

fn start(token_lifetime_secs: u64) -> FakeAuthority {
    FakeAuthority::start(Options { interval: 1, token_lifetime_secs, ..Options::default() }).expect("fake authority")
}

struct Call {
    answer: Result<Value, CoreError>,
    events: Vec<Value>,
}

fn call(request: Value) -> Call {
    let dir = fake_authority::scratch::tempdir();
    let env = |k: &str| dir.store_var(k);
    let mut events = Vec::new();
    let answer = handle_with(
        &request.to_string(),
        &CancelToken::new(),
        &mut |e| events.push(serde_json::to_value(&e).unwrap()),
        &Seams { env: &env, clock: &RealClock, transport: None },
    )
    .map(|a| serde_json::from_str(&a).unwrap());
    Call { answer, events }
}

fn sign_in(fa: &FakeAuthority, tenant: &str, version: &str, force: bool) -> Call {
    call(json!({"op": "sign_in", "tenant": tenant, "url": "https://contoso.operations.dynamics.com", "timeout_secs": 30, "force": force,
        "authority": fa.base_url(), "endpoint_version": version, "no_browser": true, "no_clipboard": true, "http_timeout_secs": 5}))
}

fn ok(c: &Call) -> &Value {
    c.answer.as_ref().unwrap_or_else(|e| panic!("{}", e.message))
}

fn token_requests(fa: &FakeAuthority) -> Vec<Value> {
    fa.log().into_iter().filter(|e| e["endpoint"] == "token").collect()
}

fn refresh_requests(fa: &FakeAuthority) -> Vec<Value> {
    token_requests(fa).into_iter().filter(|e| e["form"]["grant_type"] == "refresh_token").collect()
}

#[test]
fn a_second_sign_in_reuses_the_token_and_sends_nothing() {
    let fa = start(3599);
    let first = sign_in(&fa, "reuse.example", "v1", false);
    assert_eq!(ok(&first)["source"], "device_code");
    let sent = fa.log().len();
    let second = sign_in(&fa, "reuse.example", "v1", false);
    assert_eq!(ok(&second)["source"], "cache");
    assert_eq!(ok(&second)["access_token"], ok(&first)["access_token"]);
    assert_eq!(ok(&second)["session"], ok(&first)["session"]);
    assert_eq!(fa.log().len(), sent, "reuse sent a request");
    assert!(second.events.is_empty(), "{:?}", second.events);
    // Another tenant, resource, version or client is another sign-in.
    assert_eq!(ok(&sign_in(&fa, "other.example", "v1", false))["source"], "device_code");
    assert_eq!(ok(&sign_in(&fa, "reuse.example", "v2", false))["source"], "device_code");
}

#[test]
fn force_signs_in_again_and_replaces_the_sessions_token() {
    let fa = start(3599);
    let first = sign_in(&fa, "force.example", "v2", false);
    let forced = sign_in(&fa, "force.example", "v2", true);
    assert_eq!(ok(&forced)["source"], "device_code");
    assert_ne!(ok(&forced)["access_token"], ok(&first)["access_token"]);
    assert_eq!(fa.log().iter().filter(|e| e["endpoint"] == "devicecode").count(), 2);
    let after = sign_in(&fa, "force.example", "v2", false);
    assert_eq!((ok(&after)["source"].as_str(), &ok(&after)["access_token"]), (Some("cache"), &ok(&forced)["access_token"]));
}

#[test]
fn a_token_near_its_expiry_is_renewed_with_one_refresh_grant_keeping_the_rotated_refresh_token() {
    for version in ["v1", "v2"] {
        // 60 s tokens are always inside the five minutes that make a token renew.
        let fa = start(60);
        let tenant = format!("refresh-{version}.example");
        let first = sign_in(&fa, &tenant, version, false);
        let issued = fa.signins()[0].clone();
        let before = token_requests(&fa).len();
        let second = sign_in(&fa, &tenant, version, false);
        assert_eq!(ok(&second)["source"], "refresh", "{version}");
        assert_eq!(token_requests(&fa).len(), before + 1, "exactly one request: the refresh grant");
        let grants = refresh_requests(&fa);
        assert_eq!(grants.len(), 1);
        let g = &grants[0]["form"];
        assert_eq!(g["refresh_token"], issued["refresh_token"], "the first sign-in's refresh token");
        assert_eq!(g["client_id"], "1950a258-227b-4e31-a9cf-717495945fc2");
        match version {
            "v1" => assert_eq!(g["resource"], "https://contoso.operations.dynamics.com"),
            _ => assert_eq!(g["scope"], "https://contoso.operations.dynamics.com/.default offline_access"),
        }
        assert_ne!(ok(&second)["access_token"], ok(&first)["access_token"]);
        assert_eq!(ok(&second)["access_token"], fa.signins()[0]["access_token"]);
        // The next renewal uses the rotated refresh token, not the first one.
        let rotated = fa.signins()[0]["refresh_token"].clone();
        assert_ne!(rotated, issued["refresh_token"]);
        let third = sign_in(&fa, &tenant, version, false);
        assert_eq!(ok(&third)["source"], "refresh");
        assert_eq!(refresh_requests(&fa)[1]["form"]["refresh_token"], rotated);
        // Nothing of either refresh token reached an event.
        let text = serde_json::to_string(&[&first.events, &second.events, &third.events]).unwrap();
        assert!(!text.contains(issued["refresh_token"].as_str().unwrap()) && !text.contains(rotated.as_str().unwrap()));
    }
}

#[test]
fn a_refused_refresh_says_why_and_falls_back_to_the_device_flow() {
    for (tenant, words) in
        [("refresh-invalid-grant.scenario.test", "AADSTS700082"), ("refresh-interaction-required.scenario.test", "interactively")]
    {
        let fa = start(60);
        sign_in(&fa, tenant, "v1", false);
        let again = sign_in(&fa, tenant, "v1", false);
        assert_eq!(ok(&again)["source"], "device_code", "{tenant}");
        let refused: Vec<&Value> = again.events.iter().filter(|e| e["event"] == "refresh_refused").collect();
        assert_eq!(refused.len(), 1, "{tenant}: {:?}", again.events);
        assert!(refused[0]["reason"].as_str().unwrap().contains(words), "{}", refused[0]["reason"]);
        assert_eq!(refresh_requests(&fa).len(), 1, "one refresh grant, then the device flow");
        assert_eq!(fa.log().iter().filter(|e| e["endpoint"] == "devicecode").count(), 2);
    }
    // A revoked sign-in too.
    let fa = start(60);
    sign_in(&fa, "revoked.example", "v2", false);
    assert!(fa.revoke(None) > 0);
    let again = sign_in(&fa, "revoked.example", "v2", false);
    assert_eq!(ok(&again)["source"], "device_code");
    assert!(again.events.iter().any(|e| e["event"] == "refresh_refused" && e["reason"].as_str().unwrap().contains("AADSTS50173")));
}

#[test]
fn the_session_token_is_renewed_when_it_has_too_little_left_and_reused_otherwise() {
    let fa = start(60);
    let first = sign_in(&fa, "default.example", "v1", false);
    let session = ok(&first)["session"].clone();
    let found = call(json!({"op": "session_lookup", "bearer": format!("Bearer {}", ok(&first)["access_token"].as_str().unwrap())}));
    assert_eq!(ok(&found)["session"], session);
    // 30 s is left-enough for a 60 s token: nothing is sent.
    let sent = fa.log().len();
    let same = call(json!({"op": "session_token", "session": session, "min_valid_secs": 30}));
    assert_eq!((ok(&same)["source"].as_str(), fa.log().len()), (Some("cache"), sent));
    // The default asks for five minutes: renewed.
    let renewed = call(json!({"op": "session_token", "session": session}));
    assert_eq!(ok(&renewed)["source"], "refresh");
    assert_ne!(ok(&renewed)["access_token"], ok(&first)["access_token"]);
    assert_eq!(refresh_requests(&fa).len(), 1);
    // A revoked sign-in cannot be renewed: an error that says what to do, no device flow here.
    assert!(fa.revoke(None) > 0);
    let refused = call(json!({"op": "session_token", "session": session}));
    let e = refused.answer.unwrap_err();
    assert_eq!(e.code, Code::AuthorityError);
    assert!(e.message.contains("run Get-D365ODataTokenInteractive again"), "{}", e.message);
    let unknown = call(json!({"op": "session_token", "session": 987654}));
    assert_eq!(unknown.answer.unwrap_err().code, Code::NotFound);
}
