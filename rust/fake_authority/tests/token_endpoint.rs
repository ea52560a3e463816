//! The token endpoint's refusals for the device-code poll: only the documented grant type, and Entra's
//! `bad_verification_code` for a device code it never issued.

mod common;
use common::*;

#[test]
fn the_documented_grant_type_signs_in_on_v1_and_v2() {
    let fa = start(quick());
    for version in ["v1", "v2"] {
        let token = sign_in(&fa, "contoso", version);
        assert!(token["access_token"].is_string(), "{version}: {token}");
    }
}

#[test]
fn any_other_grant_type_is_unsupported_on_v1_and_v2() {
    let fa = start(quick());
    for version in ["v1", "v2"] {
        let dc = device_code(&fa, "contoso", version).json();
        let code = dc["device_code"].as_str().unwrap();
        let path = if version == "v1" { "/contoso/oauth2/token" } else { "/contoso/oauth2/v2.0/token" };
        // `device_code` is ADAL's spelling for v1 (entra-device-flow.md §1.3); the fake takes only the urn now.
        for grant in [
            "device_code",
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_cod",
            "URN:IETF:PARAMS:OAUTH:GRANT-TYPE:DEVICE_CODE",
        ] {
            let form = format!(
                "grant_type={}&client_id={CLIENT}&code={}&device_code={}&resource={}",
                enc(grant),
                enc(code),
                enc(code),
                enc(RESOURCE)
            );
            let r = post(fa.port(), path, &form);
            assert_eq!(r.status, 400, "{version} {grant}: {}", r.text());
            let e = r.json();
            assert_eq!(
                (e["error"].as_str(), e["error_codes"][0].as_u64()),
                (Some("unsupported_grant_type"), Some(70003)),
                "{version} {grant}: {e}"
            );
            assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS70003: "), "{e}");
        }
        // The refusals did not count as polls: the sign-in is still untouched.
        let si = fa.signins().into_iter().find(|s| s["device_code"] == dc["device_code"]).unwrap();
        assert_eq!(si["polls"], 0, "{si}");
    }
}

#[test]
fn a_missing_grant_type_is_a_missing_parameter() {
    let fa = start(quick());
    let r = post(fa.port(), "/contoso/oauth2/v2.0/token", &format!("client_id={CLIENT}&device_code=x"));
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!((e["error"].as_str(), e["error_codes"][0].as_u64()), (Some("invalid_request"), Some(900144)), "{e}");
    assert!(e["error_description"].as_str().unwrap().contains("'grant_type'"), "{e}");
}

#[test]
fn an_unknown_device_code_is_a_bad_verification_code() {
    let fa = start(quick());
    for version in ["v1", "v2"] {
        let r = poll(&fa, "contoso", version, "DAQABIQEAAADnever-issued");
        assert_eq!(r.status, 400, "{version}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"], "bad_verification_code", "{version}: {e}");
        assert_eq!(e["error_codes"], serde_json::json!([70018]), "{e}");
        for f in ["error_description", "timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(e.get(f).is_some(), "{f} missing in {e}");
        }
        assert_eq!(r.header("Content-Type").as_deref(), Some("application/json; charset=utf-8"));
    }
}

#[test]
fn a_device_code_from_another_tenant_client_or_version_is_not_recognized() {
    let fa = start(quick());
    let dc = device_code(&fa, "contoso", "v2").json();
    let code = dc["device_code"].as_str().unwrap();
    let other_tenant = poll(&fa, "fabrikam", "v2", code).json();
    let other_version = poll(&fa, "contoso", "v1", code).json();
    let other_client =
        post(fa.port(), "/contoso/oauth2/v2.0/token", &format!("grant_type={}&client_id=someone-else&device_code={}", enc(URN), enc(code)))
            .json();
    for e in [other_tenant, other_version, other_client] {
        assert_eq!(e["error"], "bad_verification_code", "{e}");
    }
    // The right tenant, client and version still work.
    assert_eq!(poll(&fa, "contoso", "v2", code).json()["error"], "authorization_pending");
}
