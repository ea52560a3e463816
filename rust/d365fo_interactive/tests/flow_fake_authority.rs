//! The real client against the real fake authority on 127.0.0.1, scenario by scenario, through the same
//! entry the C ABI uses (`api::handle_with`), with an environment chosen by the test (a private store folder
//! and nothing else), so the developer's own `D365FO_*` variables cannot change the outcome.

use d365fo_interactive::api::{Seams, handle_with};
use d365fo_interactive::cancel::CancelToken;
use d365fo_interactive::clock::{Clock, FakeClock, RealClock};
use d365fo_interactive::error::{Code, CoreError};
use fake_authority::{FakeAuthority, Options, Scenario};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn start(f: impl FnOnce(&mut Options)) -> FakeAuthority {
    let mut o = Options { interval: 1, ..Options::default() };
    f(&mut o);
    FakeAuthority::start(o).expect("fake authority starts")
}

/// A sign-in request; `force` so that each call signs in (reuse has its own tests in session.rs).
fn request(fa: &FakeAuthority, tenant: &str, version: &str, extra: Value) -> String {
    let mut r = json!({
        "op": "sign_in", "force": true,
        "tenant": tenant, "url": "https://contoso.operations.dynamics.com/", "timeout_secs": 60,
        "authority": fa.base_url(), "endpoint_version": version, "no_browser": true, "no_clipboard": true,
        "http_timeout_secs": 5,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        r[k] = v;
    }
    r.to_string()
}

struct Outcome {
    /// The authority's token response (TokenAnswer.response).
    result: Result<Value, CoreError>,
    events: Vec<Value>,
    took: Duration,
}

/// An environment with only a private configuration store (a fresh folder per call).
fn test_env() -> impl Fn(&str) -> Option<String> {
    let dir = fake_authority::scratch::tempdir();
    move |k: &str| dir.store_var(k)
}

fn run_with(req: &str, clock: &dyn Clock, cancel: &CancelToken) -> Outcome {
    let mut events = Vec::new();
    let started = Instant::now();
    let env = test_env();
    let r = handle_with(
        req,
        cancel,
        &mut |e| events.push(serde_json::to_value(&e).expect("event is JSON")),
        &Seams { env: &env, clock, transport: None },
    );
    let result = r.map(|t| serde_json::from_str::<Value>(&t).expect("answer is JSON")["response"].clone());
    Outcome { result, events, took: started.elapsed() }
}

fn run(req: &str) -> Outcome {
    run_with(req, &RealClock, &CancelToken::new())
}

fn err(o: &Outcome) -> &CoreError {
    match &o.result {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v}"),
    }
}

fn token_polls(fa: &FakeAuthority) -> Vec<Value> {
    fa.log().into_iter().filter(|e| e["endpoint"] == "token").collect()
}

fn gaps_ms(polls: &[Value]) -> Vec<u64> {
    polls.windows(2).map(|w| w[1]["ms"].as_u64().unwrap() - w[0]["ms"].as_u64().unwrap()).collect()
}

/// No access token, refresh token or device code in any event or error.
fn assert_no_secrets(fa: &FakeAuthority, o: &Outcome) {
    let mut text = serde_json::to_string(&o.events).unwrap();
    if let Err(e) = &o.result {
        text.push_str(&e.to_json());
    }
    let signins = fa.signins();
    assert!(!signins.is_empty(), "the check needs at least one sign-in to look for");
    for s in signins {
        for k in ["device_code", "access_token", "refresh_token"] {
            if let Some(secret) = s[k].as_str() {
                assert!(!text.contains(secret), "{k} leaked into events or error");
            }
        }
    }
}

#[test]
fn v1_sign_in_returns_the_token_response_unchanged_with_string_numbers() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "contoso.onmicrosoft.com", "v1", json!({})));
    let token = o.result.as_ref().expect("signed in");
    let issued = &fa.signins()[0];
    assert_eq!(token["access_token"], issued["access_token"]);
    assert!(issued["refresh_token"].is_string(), "the authority issued a refresh token");
    assert_eq!(token["refresh_token"], Value::Null, "the refresh token stays in the core");
    for k in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        assert!(token[k].is_string(), "{k} stays a string");
    }
    assert_eq!(token["resource"], "https://contoso.operations.dynamics.com");
    assert_eq!(token["foci"], "1");
    assert_eq!(token["access_token"].as_str().unwrap().split('.').count(), 3);

    let log = fa.log();
    assert_eq!(log[0]["path"], "/contoso.onmicrosoft.com/oauth2/devicecode");
    assert_eq!(log[0]["form"]["resource"], "https://contoso.operations.dynamics.com");
    assert_eq!(log[0]["form"]["client_id"], "1950a258-227b-4e31-a9cf-717495945fc2");
    let polls = token_polls(&fa);
    assert_eq!(polls.len(), 2, "pending, then the token");
    for p in &polls {
        assert_eq!(p["path"], "/contoso.onmicrosoft.com/oauth2/token");
        assert_eq!(p["form"]["grant_type"], "urn:ietf:params:oauth:grant-type:device_code");
        assert_eq!(p["form"]["code"], issued["device_code"]);
        assert_eq!(p["form"]["device_code"], issued["device_code"]);
        assert_eq!(p["form"]["resource"], "https://contoso.operations.dynamics.com");
    }
    assert!(polls[0]["ms"].as_u64().unwrap() >= log[0]["ms"].as_u64().unwrap() + 1000, "waits the interval before the first poll");
    assert!(gaps_ms(&polls).iter().all(|g| *g >= 1000));

    let issued_ev = o.events.iter().find(|e| e["event"] == "code_issued").unwrap();
    assert_eq!(issued_ev["user_code"], issued["user_code"]);
    assert_eq!(issued_ev["verification_url"], format!("{}/devicelogin", fa.base_url()));
    assert_eq!((issued_ev["expires_in"].as_u64(), issued_ev["interval"].as_u64()), (Some(900), Some(1)));
    assert!(issued_ev["message"].as_str().unwrap().contains(issued["user_code"].as_str().unwrap()));
    assert_no_secrets(&fa, &o);
}

#[test]
fn v2_sign_in_uses_scope_and_returns_integer_fields() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "72f988bf-86f1-41af-91ab-2d7cd011db47", "v2", json!({"client_id": "11111111-2222-3333-4444-555555555555"})));
    let token = o.result.as_ref().expect("signed in");
    assert!(token["expires_in"].is_u64() && token["ext_expires_in"].is_u64());
    assert!(token.get("expires_on").is_none() && token.get("resource").is_none());
    assert!(token["scope"].as_str().unwrap().contains("https://contoso.operations.dynamics.com/"));
    let log = fa.log();
    assert_eq!(log[0]["path"], "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/devicecode");
    assert_eq!(log[0]["form"]["scope"], "https://contoso.operations.dynamics.com/.default offline_access");
    assert_eq!(log[0]["form"]["client_id"], "11111111-2222-3333-4444-555555555555");
    let polls = token_polls(&fa);
    assert!(
        polls.iter().all(|p| p["path"] == "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" && p["form"].get("resource").is_none())
    );
    assert_no_secrets(&fa, &o);
}

#[test]
fn declined_sign_ins_say_so_on_both_versions() {
    let fa = start(|_| {});
    for (version, error) in [("v1", "access_denied"), ("v2", "authorization_declined")] {
        let o = run(&request(&fa, "decline.scenario.test", version, json!({})));
        let e = err(&o);
        assert_eq!(e.code, Code::Declined);
        assert!(e.message.contains("the sign-in was declined"), "{}", e.message);
        assert_eq!(e.details["error"], error);
        assert_eq!(e.details["http_status"], 400);
        assert_no_secrets(&fa, &o);
    }
}

#[test]
fn server_side_expiry_says_the_code_expired() {
    let fa = start(|_| {});
    for (version, error, aadsts) in [("v1", "code_expired", "AADSTS70019"), ("v2", "expired_token", "AADSTS70020")] {
        let o = run(&request(&fa, "expire.scenario.test", version, json!({})));
        let e = err(&o);
        assert_eq!(e.code, Code::CodeExpired);
        assert!(e.message.contains("the code expired"), "{}", e.message);
        assert_eq!((e.details["error"].as_str(), e.details["aadsts"].as_str()), (Some(error), Some(aadsts)));
        assert!(!e.details["error_description"].as_str().unwrap().contains("Trace ID"));
    }
}

#[test]
fn the_codes_own_lifetime_ends_the_wait_with_its_own_words() {
    let fa = start(|o| {
        o.expires_in = 2;
        o.scenario = Scenario::parse("manual").unwrap();
    });
    let o = run(&request(&fa, "contoso", "v1", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::CodeExpired);
    assert_eq!(e.message, "the code expired after 2 seconds without a sign-in");
    assert!(o.took >= Duration::from_secs(2) && o.took < Duration::from_secs(6), "{:?}", o.took);
}

#[test]
fn the_callers_timeout_ends_the_wait_with_its_own_words() {
    let fa = start(|o| o.scenario = Scenario::parse("manual").unwrap());
    let o = run(&request(&fa, "contoso", "v2", json!({"timeout_secs": 2})));
    let e = err(&o);
    assert_eq!(e.code, Code::TimedOut);
    assert_eq!(e.message, "the sign-in timed out after 2 seconds (-Timeout)");
    assert!(o.took >= Duration::from_secs(2) && o.took < Duration::from_secs(6), "{:?}", o.took);
    let ticks: Vec<&Value> = o.events.iter().filter(|e| e["event"] == "tick").collect();
    assert!((2..=5).contains(&ticks.len()), "about one tick a second: {}", ticks.len());
    assert!(ticks.iter().all(|t| t["seconds_total"] == 2));
    assert_eq!(ticks[0]["seconds_left"], 2);
}

#[test]
fn slow_down_adds_five_seconds_to_the_wait_in_real_time() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "slow-down.scenario.test", "v2", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    let gaps = gaps_ms(&token_polls(&fa));
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= 6000, "interval 1 + 5 after slow_down: {gaps:?}");
}

#[test]
fn slow_down_with_a_fake_clock_waits_interval_plus_five_every_time_after() {
    let fa = start(|o| {
        o.interval = 5;
        o.loop_detection = false;
        o.approve_after_polls = Some(3);
    });
    let clock = FakeClock::new();
    let o = run_with(&request(&fa, "slow-down.scenario.test", "v1", json!({})), &clock, &CancelToken::new());
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    assert_eq!(token_polls(&fa).len(), 4);
    // polls at 5, then 10 s later three times: 15, 25, 35 (fake seconds)
    assert_eq!(clock.elapsed(), Duration::from_secs(35));
    assert!(o.took < Duration::from_secs(5), "no real waiting: {:?}", o.took);
}

#[test]
fn a_transient_503_is_retried_at_the_next_interval() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "transient-503.scenario.test", "v1", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    let polls = token_polls(&fa);
    assert_eq!(polls.len(), 2);
    assert!(gaps_ms(&polls)[0] >= 1000);
    assert!(o.events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("HTTP 503")));
}

#[test]
fn a_429_is_retried_no_sooner_than_retry_after() {
    let fa = start(|o| o.retry_after = 3);
    let o = run(&request(&fa, "transient-429.scenario.test", "v2", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    let gaps = gaps_ms(&token_polls(&fa));
    assert!(gaps[0] >= 3000, "{gaps:?}");
}

#[test]
fn a_connection_shut_mid_body_is_retried() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "reset.scenario.test", "v1", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    assert_eq!(token_polls(&fa).len(), 2);
    assert!(o.events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("broke")), "{:?}", o.events);
}

#[test]
fn a_connection_shut_during_the_code_request_is_a_network_error() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "dc-reset.scenario.test", "v1", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::NetworkError);
    assert!(e.message.contains("broke"), "{}", e.message);
}

#[test]
fn a_persistent_503_gives_up_after_bounded_retries() {
    let fa = start(|o| o.loop_detection = false);
    let clock = FakeClock::new();
    let o = run_with(&request(&fa, "always-503.scenario.test", "v1", json!({})), &clock, &CancelToken::new());
    let e = err(&o);
    assert_eq!(e.code, Code::ProtocolError);
    assert!(e.message.contains("HTTP 503") && e.message.contains("gave up after 5"), "{}", e.message);
    assert_eq!(token_polls(&fa).len(), 5);
    // 1 + 1 + 2 + 4 + 4: doubling backoff from the interval, capped at four times
    assert_eq!(clock.elapsed(), Duration::from_secs(12));
}

#[test]
fn an_html_error_page_is_described_not_dumped() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "dc-html-error.scenario.test", "v1", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::ProtocolError);
    assert!(e.message.contains("HTTP 502 with an HTML page (\"502 Bad Gateway\") instead of JSON"), "{}", e.message);
    assert!(!e.message.contains("<h1>"));
}

#[test]
fn garbage_bodies_are_protocol_errors_without_excerpts() {
    let fa = start(|_| {});
    for (tenant, words) in [
        ("malformed-json.scenario.test", "not valid JSON"),
        ("dc-malformed-json.scenario.test", "not valid JSON"),
        ("invalid-utf8.scenario.test", "not valid UTF-8"),
        ("dc-invalid-utf8.scenario.test", "not valid UTF-8"),
        ("missing-fields.scenario.test", "no access_token"),
        ("dc-missing-fields.scenario.test", "user_code"),
        ("wrong-types.scenario.test", "access_token that is not a string"),
        ("dc-wrong-types.scenario.test", "not a positive number"),
    ] {
        let o = run(&request(&fa, tenant, "v2", json!({})));
        let e = err(&o);
        assert_eq!(e.code, Code::ProtocolError, "{tenant}");
        assert!(e.message.contains(words), "{tenant}: {}", e.message);
        assert!(!e.to_json().contains("eyJ0eXAi") && !e.to_json().contains("DAQAB"), "{tenant}: no excerpt");
        assert_no_secrets(&fa, &o);
    }
}

#[test]
fn extra_fields_are_kept_and_ignored_where_they_do_not_matter() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "extra-fields.scenario.test", "v1", json!({})));
    let token = o.result.as_ref().expect("signed in");
    assert_eq!(token["x_fake_extra"], json!({"nested": [1, "two", null], "flag": true}));
    assert!(token["client_info"].is_string());
    let o = run(&request(&fa, "dc-extra-fields.scenario.test", "v2", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
}

#[test]
fn a_huge_body_is_cut_off_with_a_clear_error() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "huge-body.scenario.test", "v2", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::ProtocolError);
    assert!(e.message.contains("too large"), "{}", e.message);
    assert!(o.took < Duration::from_secs(10));
}

#[test]
fn a_body_that_never_ends_hits_the_http_timeout() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "dc-endless-body.scenario.test", "v1", json!({"http_timeout_secs": 2})));
    let e = err(&o);
    assert_eq!(e.code, Code::NetworkError);
    assert!(e.message.contains("did not answer in time"), "{}", e.message);
    assert!(o.took >= Duration::from_secs(2) && o.took < Duration::from_secs(6), "{:?}", o.took);
}

#[test]
fn redirects_are_never_followed() {
    let fa = start(|_| {});
    for (tenant, target) in [
        ("redirect-other-host.scenario.test", "https://login.evil.example"),
        ("dc-redirect-other-host.scenario.test", "https://login.evil.example"),
        ("redirect-http.scenario.test", "http://login.microsoftonline.com"),
        ("dc-redirect-http.scenario.test", "http://login.microsoftonline.com"),
    ] {
        fa.clear_log();
        let o = run(&request(&fa, tenant, "v2", json!({})));
        let e = err(&o);
        assert_eq!(e.code, Code::ProtocolError, "{tenant}");
        assert!(e.message.contains(target) && e.message.contains("not followed"), "{tenant}: {}", e.message);
        assert!(!e.message.contains("/oauth2/"), "only the host is named");
        let n = fa.log().len();
        assert!(n <= 2, "{tenant}: no request follows the redirect ({n})");
    }
}

#[test]
fn authority_errors_carry_error_description_and_aadsts() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "devicecode-error-200.scenario.test", "v2", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::AuthorityError);
    assert_eq!(
        (e.details["error"].as_str(), e.details["aadsts"].as_str(), e.details["http_status"].as_u64()),
        (Some("unauthorized_client"), Some("AADSTS700016"), Some(200))
    );
    assert!(e.details["error_description"].as_str().unwrap().starts_with("AADSTS700016: Application with identifier"));

    let o = run(&request(&fa, "invalid-client.scenario.test", "v1", json!({})));
    let e = err(&o);
    assert_eq!(
        (e.code, e.details["aadsts"].as_str(), e.details["http_status"].as_u64()),
        (Code::AuthorityError, Some("AADSTS7000218"), Some(401))
    );

    let o = run(&request(&fa, "loop-detected.scenario.test", "v1", json!({})));
    assert_eq!(err(&o).details["aadsts"], "AADSTS50196");

    let o = run(&request(&fa, "no-such-thing.scenario.test", "v1", json!({})));
    assert_eq!(err(&o).details["aadsts"], "AADSTS90002");
}

#[test]
fn a_server_that_is_down_is_a_network_error_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let req = json!({"op": "sign_in", "tenant": "contoso", "url": "https://x", "authority": format!("http://127.0.0.1:{port}"), "no_browser": true, "no_clipboard": true}).to_string();
    let o = run(&req);
    let e = err(&o);
    assert_eq!(e.code, Code::NetworkError);
    assert!(e.message.contains("could not connect") && e.message.contains(&format!("127.0.0.1:{port}")), "{}", e.message);
    assert!(o.took < Duration::from_secs(5));
}

#[test]
fn invalid_requests_send_nothing() {
    let fa = start(|_| {});
    for (tenant, url, extra) in [
        ("a/b", "https://x", json!({})),
        ("a?b", "https://x", json!({})),
        ("a#b", "https://x", json!({})),
        ("..", "https://x", json!({})),
        ("a%2fb", "https://x", json!({})),
        ("a b", "https://x", json!({})),
        ("a\u{7}b", "https://x", json!({})),
        ("tenänt", "https://x", json!({})),
        ("contoso", "contoso.operations.dynamics.com", json!({})),
        ("contoso", "ftp://x", json!({})),
        ("contoso", "https://x", json!({"timeout_secs": 0})),
        ("contoso", "https://x", json!({"timeout_secs": -1})),
        ("contoso", "https://x", json!({"timeout_secs": 86401})),
        ("contoso", "https://x", json!({"endpoint_version": "v3"})),
        ("contoso", "https://x", json!({"client_id": "not-a-guid"})),
    ] {
        let mut r: Value = serde_json::from_str(&request(&fa, tenant, "v1", extra)).unwrap();
        r["url"] = json!(url);
        let o = run(&r.to_string());
        assert_eq!(err(&o).code, Code::InvalidRequest, "{tenant:?} {url:?} {r}");
        assert!(o.events.is_empty());
    }
    for (tenant, url, code) in [("", "https://x", Code::TenantMissing), ("contoso", "", Code::UrlMissing)] {
        let mut r: Value = serde_json::from_str(&request(&fa, tenant, "v1", json!({}))).unwrap();
        r["url"] = json!(url);
        assert_eq!(err(&run(&r.to_string())).code, code);
    }
    assert!(fa.log().is_empty(), "nothing reached the authority: {:?}", fa.log());
}

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused() {
    let o = run(&json!({"op": "sign_in", "tenant": "contoso", "url": "https://x", "authority": "http://login.microsoftonline.com", "no_browser": true}).to_string());
    let e = err(&o);
    assert_eq!(e.code, Code::InvalidRequest);
    assert!(e.message.contains("plain http"), "{}", e.message);
}

#[test]
fn cancel_from_another_thread_ends_the_wait_promptly() {
    let fa = start(|o| o.scenario = Scenario::parse("manual").unwrap());
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let cancelled_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let at = cancelled_at.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        *at.lock().unwrap() = Some(Instant::now());
        c2.cancel();
    });
    let o = run_with(&request(&fa, "contoso", "v1", json!({})), &RealClock, &cancel);
    let returned = Instant::now();
    t.join().unwrap();
    assert_eq!(err(&o).code, Code::Cancelled);
    let lag = returned - cancelled_at.lock().unwrap().unwrap();
    assert!(lag < Duration::from_millis(200), "returned {lag:?} after the cancel");
}

#[test]
fn cancel_during_a_slow_request_returns_without_waiting_for_it() {
    let fa = start(|o| o.delay_secs = 5.0);
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        c2.cancel();
    });
    let o = run_with(&request(&fa, "dc-slow-response.scenario.test", "v1", json!({})), &RealClock, &cancel);
    t.join().unwrap();
    assert_eq!(err(&o).code, Code::Cancelled);
    assert!(o.took < Duration::from_millis(1000), "{:?}", o.took);
}

#[test]
fn cancel_during_a_slow_poll_on_a_reused_connection_returns_at_once() {
    // The token poll goes over the connection the device code request opened (kept by the agent); cutting it
    // must still wake the blocked read, or the cancel waits out the join grace (2 s).
    let fa = start(|o| o.delay_secs = 5.0);
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1600));
        c2.cancel();
    });
    let started = Instant::now();
    let o = run_with(&request(&fa, "slow-response.scenario.test", "v1", json!({})), &RealClock, &cancel);
    let returned = started.elapsed();
    t.join().unwrap();
    assert_eq!(err(&o).code, Code::Cancelled);
    assert!(fa.log().iter().any(|e| e["endpoint"] == "token"), "the poll was under way when cancelled");
    assert!(returned < Duration::from_millis(2200), "returned {returned:?} after the start (cancel at 1.6 s)");
}

#[test]
fn a_slow_answer_within_the_http_timeout_still_works() {
    let fa = start(|o| o.delay_secs = 1.5);
    let o = run(&request(&fa, "dc-slow-response.scenario.test", "v2", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
}

/// A tiny HTTP client for the device-login page (as a browser would post it).
fn post_page(fa: &FakeAuthority, code: &str, action: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.post(format!("{}/devicelogin", fa.base_url())).send_form([("user_code", code), ("action", action)]).unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn wait_for_code(fa: &FakeAuthority) -> String {
    for _ in 0..100 {
        if let Some(s) = fa.signins().first() {
            return s["user_code"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no sign-in started");
}

#[test]
fn the_device_login_page_approves_after_a_wrong_code_and_the_client_keeps_waiting() {
    let fa = start(|o| o.scenario = Scenario::parse("manual").unwrap());
    std::thread::scope(|s| {
        let h = s.spawn(|| run(&request(&fa, "contoso", "v1", json!({}))));
        let code = wait_for_code(&fa);
        std::thread::sleep(Duration::from_millis(1200));
        let (status, page) = post_page(&fa, "WRONGCODE", "approve");
        assert_eq!(status, 400);
        assert!(page.contains("role=\"alert\"") && page.contains("not recognised"));
        std::thread::sleep(Duration::from_millis(1200));
        let (status, page) = post_page(&fa, &code.to_lowercase(), "approve");
        assert_eq!(status, 200);
        assert!(page.contains("data-result=\"signed-in\""));
        let o = h.join().unwrap();
        assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
        assert!(token_polls(&fa).len() >= 2, "the client was still polling after the wrong code");
    });
}

#[test]
fn the_device_login_page_deny_declines() {
    let fa = start(|o| o.scenario = Scenario::parse("manual").unwrap());
    std::thread::scope(|s| {
        let h = s.spawn(|| run(&request(&fa, "contoso", "v2", json!({}))));
        let code = wait_for_code(&fa);
        let (status, page) = post_page(&fa, &code, "deny");
        assert_eq!(status, 200);
        assert!(page.contains("data-result=\"declined\""));
        let o = h.join().unwrap();
        assert_eq!(err(&o).code, Code::Declined);
    });
}

#[test]
fn the_fake_clock_ends_a_long_wait_at_expiry_without_real_waiting() {
    let fa = start(|o| {
        o.interval = 5;
        o.loop_detection = false;
        o.scenario = Scenario::parse("manual").unwrap();
    });
    let clock = FakeClock::new();
    let o = run_with(&request(&fa, "contoso", "v1", json!({"timeout_secs": 3600})), &clock, &CancelToken::new());
    let e = err(&o);
    assert_eq!(e.message, "the code expired after 900 seconds without a sign-in");
    assert_eq!(token_polls(&fa).len(), 179, "a poll every 5 s, none at the deadline itself");
    assert!(o.took < Duration::from_secs(30), "{:?}", o.took);
    let ticks = o.events.iter().filter(|e| e["event"] == "tick").count();
    assert_eq!(ticks, 901);
}

// The rest of the fault matrix that Reliability.Tests.ps1 used to walk through PowerShell one real-time sign-in
// at a time (it now keeps one end-to-end case per fault class): every wait here runs on the fake clock where the
// client waits, so the Retry-After and interval rules are checked exactly and without sleeping.

#[test]
fn a_503_and_a_429_with_retry_after_wait_that_long_on_the_fake_clock() {
    for (tenant, endpoint) in [("transient-503-retry-after.scenario.test", "v1"), ("transient-429.scenario.test", "v2")] {
        // on the fake clock the polls come at once in real time: the authority's loop detection would refuse them
        let fa = start(|o| {
            o.retry_after = 7;
            o.loop_detection = false;
        });
        let clock = FakeClock::new();
        let o = run_with(&request(&fa, tenant, endpoint, json!({})), &clock, &CancelToken::new());
        assert!(o.result.is_ok(), "{tenant}: {:?}", o.result.as_ref().err());
        assert_eq!(token_polls(&fa).len(), 2, "{tenant}");
        // the interval (1) before the first poll, then the 7 s the answer asked for, not the interval
        assert_eq!(clock.elapsed(), Duration::from_secs(8), "{tenant}");
        assert!(
            o.events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("trying again in 7 s")),
            "{tenant}: {:?}",
            o.events
        );
        assert_no_secrets(&fa, &o);
    }
}

#[test]
fn a_429_and_a_503_without_retry_after_wait_the_interval_on_the_fake_clock() {
    for tenant in ["transient-429-no-retry-after.scenario.test", "transient-503.scenario.test"] {
        let fa = start(|o| {
            o.interval = 3;
            o.loop_detection = false;
        });
        let clock = FakeClock::new();
        let o = run_with(&request(&fa, tenant, "v1", json!({})), &clock, &CancelToken::new());
        assert!(o.result.is_ok(), "{tenant}: {:?}", o.result.as_ref().err());
        assert_eq!(token_polls(&fa).len(), 2, "{tenant}");
        assert_eq!(clock.elapsed(), Duration::from_secs(6), "{tenant}: interval, then the interval again");
        assert!(
            o.events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("trying again in 3 s")),
            "{tenant}: {:?}",
            o.events
        );
    }
}

#[test]
fn a_503_or_429_at_the_device_code_request_is_not_retried() {
    let fa = start(|_| {});
    for (tenant, status) in [("dc-transient-503.scenario.test", "HTTP 503"), ("dc-transient-429.scenario.test", "HTTP 429")] {
        fa.clear_log();
        let clock = FakeClock::new();
        let o = run_with(&request(&fa, tenant, "v1", json!({})), &clock, &CancelToken::new());
        let e = err(&o);
        assert_eq!(e.code, Code::ProtocolError, "{tenant}");
        assert!(e.message.contains(status) && e.message.contains("not valid JSON"), "{tenant}: {}", e.message);
        assert_eq!(fa.log().iter().filter(|l| l["endpoint"] == "devicecode").count(), 1, "{tenant}: asked once");
        assert_eq!(clock.elapsed(), Duration::ZERO, "{tenant}: no wait");
    }
}

#[test]
fn a_huge_device_code_body_is_cut_off_with_a_clear_error() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "dc-huge-body.scenario.test", "v1", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::ProtocolError);
    assert!(e.message.contains("too large (more than 4 MiB)"), "{}", e.message);
    assert!(o.took < Duration::from_secs(10));
}

#[test]
fn a_token_answer_that_never_ends_is_retried_after_the_http_timeout() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "endless-body.scenario.test", "v1", json!({"http_timeout_secs": 2})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
    assert_eq!(token_polls(&fa).len(), 2);
    assert!(
        o.events.iter().any(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("did not answer in time")),
        "{:?}",
        o.events
    );
    assert_no_secrets(&fa, &o);
}

#[test]
fn a_slow_token_answer_within_the_http_timeout_still_works() {
    let fa = start(|o| o.delay_secs = 1.0);
    let o = run(&request(&fa, "slow-response.scenario.test", "v1", json!({})));
    assert!(o.result.is_ok(), "{:?}", o.result.as_ref().err());
}

#[test]
fn an_unknown_tenant_is_an_authority_error_naming_aadsts90002() {
    let fa = start(|_| {});
    let o = run(&request(&fa, "no-such-tenant.scenario.test", "v2", json!({})));
    let e = err(&o);
    assert_eq!(e.code, Code::AuthorityError);
    assert_eq!(e.details["aadsts"], "AADSTS90002");
}
