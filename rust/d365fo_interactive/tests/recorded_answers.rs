//! Answers recorded from the real Entra ID (published in Microsoft's docs, MSAL/GCM fixtures and public issues;
//! see rust/fake_authority/recorded/), replayed byte for byte by the fake authority to the real client: each
//! must end the way the real service meant it.

use d365fo_interactive::api::{Seams, handle_with};
use d365fo_interactive::cancel::CancelToken;
use d365fo_interactive::clock::RealClock;
use d365fo_interactive::error::Code;
use fake_authority::{FakeAuthority, Options, recorded_answers};
use serde_json::{Value, json};

/// What each recorded answer must lead to: Ok(source of the token) or Err(code and words in the message).
fn expected(name: &str) -> Result<&'static str, (Code, &'static str)> {
    match name {
        // A device code answer as Entra sends it (v1 strings, verification_url; v2 ints, verification_uri):
        // the sign-in goes on and succeeds.
        "gcm-v1-devicecode" | "qna-v2-devicecode-consumers" => Ok("device_code"),
        // A pending answer first: polling goes on, then the fake approves.
        "qna-v2-authorization-pending" => Ok("device_code"),
        // Successful token answers (the published tokens are placeholders, truncated with '...', still bearer-safe).
        "docs-v2-token-success" | "gcm-v1-token" => Ok("device_code"),
        // Refusals, named in plain words.
        "azure-docs-31986-invalid-client" => Err((Code::AuthorityError, "allow public client flows")),
        "azure-docs-46110-missing-code" => Err((Code::AuthorityError, "AADSTS900144")),
        other => panic!("a recorded answer without an expectation here: {other} (add one)"),
    }
}

#[test]
fn every_recorded_answer_ends_as_the_real_service_meant_it() {
    let fa = FakeAuthority::start(Options { interval: 1, ..Options::default() }).expect("fake authority");
    let answers = recorded_answers();
    assert!(answers.len() >= 5, "{}", answers.len());
    for a in answers {
        let dir = fake_authority::scratch::tempdir();
        let env = |k: &str| dir.store_var(k);
        let request = json!({"op": "sign_in", "force": true, "tenant": format!("replay-{}.scenario.test", a.name),
            "url": "https://contoso.operations.dynamics.com", "timeout_secs": 30, "authority": fa.base_url(),
            "endpoint_version": format!("{:?}", a.version).to_lowercase(), "no_browser": true, "no_clipboard": true, "http_timeout_secs": 5});
        let mut events = Vec::new();
        let got = handle_with(
            &request.to_string(),
            &CancelToken::new(),
            &mut |e| events.push(e),
            &Seams { env: &env, clock: &RealClock, transport: None },
        );
        match (expected(a.name), got) {
            (Ok(source), Ok(answer)) => {
                let v: Value = serde_json::from_str(&answer).unwrap();
                assert_eq!(v["source"], source, "{}", a.name);
                if a.stage == fake_authority::Stage::Token {
                    // The token answer reaches -RawOutput as the service sent it, but for the refresh and id
                    // tokens, which stay in the core.
                    let body: Value = serde_json::from_str(&a.body).unwrap();
                    for (k, want) in body.as_object().unwrap() {
                        if a.status == 200 {
                            let kept = if matches!(k.as_str(), "refresh_token" | "id_token") { &Value::Null } else { want };
                            assert_eq!(&v["response"][k], kept, "{}: {k}", a.name);
                        }
                    }
                }
            }
            (Err((code, words)), Err(e)) => {
                assert_eq!(e.code, code, "{}: {}", a.name, e.message);
                assert!(e.message.contains(words), "{}: {}", a.name, e.message);
                assert!(!e.message.contains('{'), "{}: raw JSON in {}", a.name, e.message);
            }
            (want, got) => {
                panic!("{}: wanted {want:?}, got {:?}", a.name, got.map_err(|e| e.message))
            }
        }
    }
}
