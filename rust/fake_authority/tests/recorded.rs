//! Each recorded answer is served verbatim by its `replay-NAME` scenario, at its stage.

mod common;
use common::*;
use fake_authority::{Scenario, Stage, Version, recorded_answers};

fn version_name(v: Version) -> &'static str {
    match v {
        Version::V1 => "v1",
        Version::V2 => "v2",
    }
}

#[test]
fn there_are_a_handful_and_each_is_listed_as_a_scenario() {
    let all = recorded_answers();
    assert!((4..=8).contains(&all.len()), "{}", all.len());
    assert!(all.iter().any(|a| a.stage == Stage::DeviceCode) && all.iter().any(|a| a.stage == Stage::Token));
    let names = Scenario::all_names();
    for a in &all {
        assert!(names.contains(&format!("replay-{}", a.name)), "replay-{} not listed", a.name);
    }
}

#[test]
fn each_recorded_answer_is_served_verbatim_at_its_stage() {
    for rec in recorded_answers() {
        let fa = start(quick());
        let tenant = format!("replay-{}.scenario.test", rec.name);
        let version = version_name(rec.version);
        let served = match rec.stage {
            Stage::DeviceCode => device_code(&fa, &tenant, version),
            Stage::Token => {
                let dc = device_code(&fa, &tenant, version);
                assert_eq!(dc.status, 200, "{}: the device code request is the fake's own: {}", rec.name, dc.text());
                poll(&fa, &tenant, version, dc.json()["device_code"].as_str().unwrap())
            }
        };
        assert_eq!(served.status, rec.status, "{}", rec.name);
        assert_eq!(served.body, rec.body.as_bytes(), "{}: not byte for byte:\n{}\n{}", rec.name, served.text(), rec.body);
        assert_eq!(served.header("Content-Type").as_deref(), Some("application/json; charset=utf-8"), "{}", rec.name);
        assert_eq!(served.header("Cache-Control").as_deref(), Some("no-store, no-cache"), "{}", rec.name);
    }
}

#[test]
fn a_replayed_device_code_answer_registers_its_device_code_for_the_polls() {
    for rec in recorded_answers().into_iter().filter(|r| r.stage == Stage::DeviceCode && r.body_json().get("device_code").is_some()) {
        let fa = start(quick());
        let tenant = format!("replay-{}.scenario.test", rec.name);
        let version = version_name(rec.version);
        let body = rec.body_json();
        assert_eq!(device_code(&fa, &tenant, version).status, 200);
        let code = body["device_code"].as_str().unwrap();
        // The recorded device code is known: pending first, then (as approve) the token.
        let first = poll(&fa, &tenant, version, code);
        assert_eq!(first.json()["error"], "authorization_pending", "{}: {}", rec.name, first.text());
        let second = poll(&fa, &tenant, version, code);
        assert_eq!(second.status, 200, "{}: {}", rec.name, second.text());
        // The sign-in carries the recorded user code, so the page and /_test/approve work with it.
        let si = &fa.signins()[0];
        assert_eq!(si["user_code"], body["user_code"], "{si}");
        assert_eq!(si["scenario"], format!("replay-{}", rec.name));
    }
}

#[test]
fn after_a_replayed_poll_answer_the_sign_in_goes_on() {
    for rec in recorded_answers().into_iter().filter(|r| r.stage == Stage::Token) {
        let fa = start(quick());
        let tenant = format!("replay-{}.scenario.test", rec.name);
        let version = version_name(rec.version);
        let code = device_code(&fa, &tenant, version).json()["device_code"].as_str().unwrap().to_string();
        assert_eq!(poll(&fa, &tenant, version, &code).status, rec.status);
        let next = poll(&fa, &tenant, version, &code);
        if rec.status == 200 {
            // A recorded token redeemed the code.
            assert_eq!(next.json()["error_codes"][0], 54005, "{}: {}", rec.name, next.text());
            assert_eq!(fa.signins()[0]["access_token"], rec.body_json()["access_token"]);
        } else {
            assert_eq!(next.status, 200, "{}: the sign-in continues as approve: {}", rec.name, next.text());
        }
    }
}
