//! The refresh grant: rotation, the v1/v2 shapes, the token lifetime option, and the refusals (unknown
//! token, another client, the refresh scenarios, `/_test/revoke`).

mod common;
use common::*;
use fake_authority::Options;
use serde_json::Value;

fn signin_of(fa: &fake_authority::FakeAuthority, refresh_token: &str) -> Value {
    fa.signins()
        .into_iter()
        .find(|s| s["refresh_token"] == refresh_token)
        .unwrap_or_else(|| panic!("no sign-in shows {refresh_token}: {:?}", fa.signins()))
}

fn assert_refused(r: &Reply, error: &str, aadsts: u64) {
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json();
    assert_eq!((e["error"].as_str(), e["error_codes"][0].as_u64()), (Some(error), Some(aadsts)), "{e}");
    assert!(e["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{aadsts}: ")), "{e}");
}

#[test]
fn v1_refresh_rotates_the_refresh_token_and_answers_in_v1_shapes_with_the_lifetime_asked() {
    let fa = start(Options { token_lifetime_secs: 30, ..quick() });
    let first = sign_in(&fa, "contoso", "v1");
    assert_eq!((first["expires_in"].as_str(), first["ext_expires_in"].as_str()), (Some("30"), Some("30")), "{first}");
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();

    let before = unix_now();
    let r = refresh(&fa, "contoso", "v1", &rt1, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Cache-Control").as_deref(), Some("no-store, no-cache"));
    let t = r.json();
    for k in
        ["expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "token_type", "access_token", "refresh_token", "id_token"]
    {
        assert!(t[k].is_string(), "v1 {k} must be a string: {t}");
    }
    assert_eq!((t["expires_in"].as_str(), t["ext_expires_in"].as_str()), (Some("30"), Some("30")), "{t}");
    let expires_on: u64 = t["expires_on"].as_str().unwrap().parse().unwrap();
    assert!((before + 30..=unix_now() + 30).contains(&expires_on), "{expires_on} vs {before}+30");
    assert_eq!(jwt_payload(t["access_token"].as_str().unwrap())["exp"].as_u64(), Some(expires_on), "JWT exp = expires_on");
    assert_eq!(t["resource"], RESOURCE);
    let rt2 = t["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt2, rt1, "the refresh token rotates");
    assert_ne!(t["access_token"], first["access_token"]);

    // /_test/signins shows the latest tokens and the count.
    let si = signin_of(&fa, &rt2);
    assert_eq!((si["refreshes"].as_u64(), si["refresh_refusals"].as_u64()), (Some(1), Some(0)), "{si}");
    assert_eq!(si["access_token"], t["access_token"]);

    // The old refresh token stays valid (Entra does not revoke on use); both count on the same sign-in.
    let again = refresh(&fa, "contoso", "v1", &rt1, None);
    assert_eq!(again.status, 200, "{}", again.text());
    let rt3 = again.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(signin_of(&fa, &rt3)["refreshes"], 2);

    // Every refresh is in the log with its form.
    let logged: Vec<Value> = fa.log().into_iter().filter(|e| e["form"]["grant_type"] == "refresh_token").collect();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[0]["form"]["refresh_token"], rt1.as_str());
    assert_eq!((logged[0]["endpoint"].as_str(), logged[0]["version"].as_str()), (Some("token"), Some("v1")));
}

#[test]
fn v2_refresh_answers_integers_without_v1_fields_and_takes_an_optional_scope() {
    let fa = start(Options { token_lifetime_secs: 45, ..quick() });
    let first = sign_in(&fa, "contoso", "v2");
    assert_eq!(first["expires_in"], 45, "{first}");
    let rt1 = first["refresh_token"].as_str().unwrap();

    let scope = format!("{RESOURCE}/.default offline_access");
    let r = refresh(&fa, "contoso", "v2", rt1, Some(&scope));
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!((t["expires_in"].as_u64(), t["ext_expires_in"].as_u64()), (Some(45), Some(45)), "{t}");
    for k in ["expires_on", "not_before", "resource"] {
        assert!(t.get(k).is_none(), "v2 has no {k}: {t}");
    }
    assert!(t["scope"].as_str().unwrap().starts_with(&format!("{RESOURCE}/")), "{t}");
    let exp = jwt_payload(t["access_token"].as_str().unwrap())["exp"].as_u64().unwrap();
    assert!((unix_now() + 40..=unix_now() + 45).contains(&exp), "{exp}");
    let rt2 = t["refresh_token"].as_str().unwrap();
    assert_ne!(rt2, rt1);

    // Without a scope the sign-in's resource is used.
    let r = refresh(&fa, "contoso", "v2", rt2, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(jwt_payload(r.json()["access_token"].as_str().unwrap())["aud"], RESOURCE);
}

#[test]
fn the_default_lifetime_is_3599_seconds() {
    let fa = start(quick());
    let t = sign_in(&fa, "contoso", "v2");
    assert_eq!(t["expires_in"], 3599);
    let r = refresh(&fa, "contoso", "v2", t["refresh_token"].as_str().unwrap(), None).json();
    assert_eq!((r["expires_in"].as_u64(), r["ext_expires_in"].as_u64()), (Some(3599), Some(3599)), "{r}");
}

#[test]
fn a_v1_refresh_token_redeems_on_v2_in_the_v2_shape() {
    let fa = start(quick());
    let t = sign_in(&fa, "contoso", "v1");
    let r = refresh(&fa, "contoso", "v2", t["refresh_token"].as_str().unwrap(), Some("https://other.example/.default"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v2 = r.json();
    assert!(v2["expires_in"].is_u64() && v2.get("resource").is_none(), "{v2}");
    assert_eq!(jwt_payload(v2["access_token"].as_str().unwrap())["aud"], "https://other.example");
}

#[test]
fn loop_detection_never_applies_to_refreshes() {
    // interval 1 with loop detection on: the sign-in must wait a second per poll, the refreshes need not.
    let fa = start(Options { interval: 1, approve_after_polls: Some(0), ..Options::default() });
    let dc = device_code(&fa, "contoso", "v2").json();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let t = poll(&fa, "contoso", "v2", dc["device_code"].as_str().unwrap()).json();
    let mut rt = t["refresh_token"].as_str().expect("signed in").to_string();
    for i in 0..5 {
        let r = refresh(&fa, "contoso", "v2", &rt, None);
        assert_eq!(r.status, 200, "refresh {i}: {}", r.text());
        rt = r.json()["refresh_token"].as_str().unwrap().to_string();
    }
    assert_eq!(signin_of(&fa, &rt)["refreshes"], 5);
}

#[test]
fn an_unknown_or_garbage_refresh_token_is_invalid_grant_9002313() {
    let fa = start(quick());
    for (version, token) in [("v1", "0.not-a-token"), ("v2", "AwABAAAAgarbage"), ("v2", "%%%")] {
        assert_refused(&refresh(&fa, "contoso", version, token, None), "invalid_grant", 9002313);
    }
}

#[test]
fn a_refresh_token_presented_by_another_client_or_at_another_tenant_is_invalid_grant_70000() {
    let fa = start(quick());
    let t = sign_in(&fa, "contoso", "v2");
    let rt = t["refresh_token"].as_str().unwrap();
    let other_client = post(
        fa.port(),
        "/contoso/oauth2/v2.0/token",
        &format!("grant_type=refresh_token&client_id=someone-else&refresh_token={}", enc(rt)),
    );
    assert_refused(&other_client, "invalid_grant", 70000);
    assert_refused(&refresh(&fa, "fabrikam", "v2", rt, None), "invalid_grant", 70000);
    assert_eq!(signin_of(&fa, rt)["refresh_refusals"], 2);
}

#[test]
fn missing_refresh_parameters_are_named() {
    let fa = start(quick());
    let cases = [
        ("/contoso/oauth2/v2.0/token", "grant_type=refresh_token&client_id=c", "refresh_token"),
        ("/contoso/oauth2/v2.0/token", "grant_type=refresh_token&refresh_token=x", "client_id"),
        ("/contoso/oauth2/token", "grant_type=refresh_token&client_id=c&refresh_token=x", "resource"),
    ];
    for (path, form, name) in cases {
        let r = post(fa.port(), path, form);
        assert_refused(&r, "invalid_request", 900144);
        assert!(r.json()["error_description"].as_str().unwrap().contains(&format!("'{name}'")), "{}", r.text());
    }
}

#[test]
fn refresh_invalid_grant_signs_in_normally_then_refuses_every_refresh_as_inactive() {
    let fa = start(quick());
    for version in ["v1", "v2"] {
        let t = sign_in(&fa, "refresh-invalid-grant.scenario.test", version);
        let rt = t["refresh_token"].as_str().unwrap();
        for _ in 0..2 {
            assert_refused(&refresh(&fa, "refresh-invalid-grant.scenario.test", version, rt, None), "invalid_grant", 700082);
        }
        let si = signin_of(&fa, rt);
        assert_eq!((si["refreshes"].as_u64(), si["refresh_refusals"].as_u64()), (Some(0), Some(2)), "{si}");
        assert_eq!(si["scenario"], "refresh-invalid-grant");
    }
}

#[test]
fn refresh_interaction_required_refuses_every_refresh_with_mfa() {
    let fa = start(quick());
    let t = sign_in(&fa, "refresh-interaction-required.scenario.test", "v2");
    let r = refresh(&fa, "refresh-interaction-required.scenario.test", "v2", t["refresh_token"].as_str().unwrap(), None);
    assert_refused(&r, "interaction_required", 50076);
    assert!(r.json()["error_description"].as_str().unwrap().contains(RESOURCE), "{}", r.text());
}

#[test]
fn revoke_refuses_one_sign_in_or_all_with_50173() {
    let fa = start(quick());
    let a = sign_in(&fa, "contoso", "v2");
    let b = sign_in(&fa, "contoso", "v1");
    let (rt_a, rt_b) = (a["refresh_token"].as_str().unwrap(), b["refresh_token"].as_str().unwrap());
    let code_a = signin_of(&fa, rt_a)["user_code"].as_str().unwrap().to_string();

    let r = post(fa.port(), "/_test/revoke", &format!("user_code={code_a}"));
    assert_eq!((r.status, r.json()["revoked"].as_u64()), (200, Some(1)), "{}", r.text());
    assert_refused(&refresh(&fa, "contoso", "v2", rt_a, None), "invalid_grant", 50173);
    let fresh_b = refresh(&fa, "contoso", "v1", rt_b, None);
    assert_eq!(fresh_b.status, 200, "the other sign-in still refreshes: {}", fresh_b.text());
    assert_eq!(signin_of(&fa, rt_a)["revoked"], true);

    // No user code: every sign-in, including tokens issued before and after the first refresh.
    let r = post(fa.port(), "/_test/revoke", "");
    assert_eq!((r.status, r.json()["revoked"].as_u64()), (200, Some(2)), "{}", r.text());
    assert_refused(&refresh(&fa, "contoso", "v1", rt_b, None), "invalid_grant", 50173);
    assert_refused(&refresh(&fa, "contoso", "v1", fresh_b.json()["refresh_token"].as_str().unwrap(), None), "invalid_grant", 50173);

    // The query form works too, and an unknown code is a 404.
    assert_eq!(post(fa.port(), &format!("/_test/revoke?user_code={code_a}"), "").status, 200);
    assert_eq!(post(fa.port(), "/_test/revoke?user_code=NOSUCHCOD", "").status, 404);
    // The library call does the same.
    assert_eq!(fa.revoke(None), 2);
}
