//! The authority-response parser never panics, whatever arrives, and never echoes the device code.

use d365fo_interactive::http::HttpReply;
use d365fo_interactive::wire::{TokenReply, classify_token_reply, parse_device_code};
use proptest::prelude::*;

const SECRET: &str = "SECRETDEVICECODE42";

fn reply(status: u16, ct: Option<String>, body: Vec<u8>, location: Option<String>, retry_after: Option<u64>) -> HttpReply {
    HttpReply { status, content_type: ct, location, retry_after, body }
}

fn leaks(r: &TokenReply) -> bool {
    match r {
        TokenReply::Transient { error, .. } | TokenReply::Fatal(error) => error.to_json().contains(SECRET),
        TokenReply::Declined(e) | TokenReply::Expired(e) => format!("{e:?}").contains(SECRET),
        _ => false,
    }
}

/// JSON-ish bodies built from the fields Entra uses, with values of every type.
fn entra_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "error",
        "error_description",
        "error_codes",
        "access_token",
        "device_code",
        "user_code",
        "verification_uri",
        "verification_url",
        "expires_in",
        "interval",
        "message",
        "token_type",
    ]);
    let value = prop_oneof![
        Just(format!("\"{SECRET}\"")),
        Just(format!("\"AADSTS70016: {SECRET}\\r\\nTrace ID: x\"")),
        Just("\"authorization_pending\"".to_string()),
        Just("\"slow_down\"".to_string()),
        Just("\"https://x/y\"".to_string()),
        Just("[70016, \"x\", null]".to_string()),
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() { f.to_string() } else { "1e400".into() }),
        "[ -~]{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("{\"a\":[1,{}]}".to_string()),
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|kv| {
        let inner: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", inner.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(status in 0u16..1000, body in prop::collection::vec(any::<u8>(), 0..512),
                                   ct in proptest::option::of("[ -~]{0,30}"), loc in proptest::option::of("[ -~]{0,60}"),
                                   ra in proptest::option::of(any::<u64>())) {
        let r = reply(status, ct, body, loc, ra);
        let _ = parse_device_code(&r, "h");
        let _ = classify_token_reply(&r, "h", &[SECRET]);
    }

    #[test]
    fn arbitrary_text_never_panics(status in 100u16..600, body in "\\PC{0,300}") {
        let r = reply(status, Some("application/json".into()), body.into_bytes(), None, None);
        let _ = parse_device_code(&r, "h");
        let _ = classify_token_reply(&r, "h", &[SECRET]);
    }

    #[test]
    fn entra_like_json_never_panics_and_never_echoes_the_device_code(status in prop::sample::select(vec![200u16, 400, 401, 429, 500, 503]), body in entra_like()) {
        // The device code response can only hide its own device code.
        let carries_secret = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v.get("device_code").cloned())
            == Some(serde_json::Value::String(SECRET.into()));
        let r = reply(status, Some("application/json; charset=utf-8".into()), body.into_bytes(), None, None);
        if let (Err(e), true) = (parse_device_code(&r, "h"), carries_secret) {
            prop_assert!(!e.to_json().contains(SECRET), "{}", e.to_json());
        }
        let c = classify_token_reply(&r, "h", &[SECRET]);
        prop_assert!(!leaks(&c), "{c:?}");
    }
}
