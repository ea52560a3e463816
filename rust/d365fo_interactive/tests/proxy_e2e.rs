//! The whole client through a real HTTP proxy, with nothing switched on in the product: HTTPS_PROXY names the
//! proxy, the authority has a name that is not this machine (login.test.invalid, which the test proxy routes
//! to the fake authority), and TLS is verified against a test CA given as SSL_CERT_FILE. The proxy must see a
//! CONNECT for the authority and nothing else; without the CA the sign-in must fail on trust.

use d365fo_interactive::api::{Seams, handle_with};
use d365fo_interactive::cancel::CancelToken;
use d365fo_interactive::clock::RealClock;
use d365fo_interactive::error::Code;
use fake_authority::{FakeAuthority, FakeProxy, Options, ProxyOptions};
use serde_json::{Value, json};
use std::path::PathBuf;

const NAME: &str = "login.test.invalid";

fn sign_in(env: &dyn Fn(&str) -> Option<String>, authority: &str) -> Result<Value, d365fo_interactive::error::CoreError> {
    let request = json!({"op": "sign_in", "force": true, "tenant": "contoso.onmicrosoft.com", "url": "https://contoso.operations.dynamics.com",
        "timeout_secs": 30, "authority": authority, "no_browser": true, "no_clipboard": true, "http_timeout_secs": 10});
    handle_with(&request.to_string(), &CancelToken::new(), &mut |_| {}, &Seams { env, clock: &RealClock, transport: None })
        .map(|a| serde_json::from_str(&a).unwrap())
}

#[test]
fn a_sign_in_goes_through_the_proxy_to_a_named_authority_verified_by_the_given_ca() {
    let tmp = fake_authority::scratch::tempdir();
    let dir: PathBuf = tmp.path().to_path_buf();
    let certs = fake_authority::tls::make_test_certificates(&dir, "d365fo.interactive proxy test CA", &[NAME]).unwrap();
    let fa =
        FakeAuthority::start(Options { interval: 1, tls: Some((dir.join("server.pem"), dir.join("server.key"))), ..Options::default() })
            .unwrap();
    let proxy =
        FakeProxy::start(ProxyOptions { map_hosts: vec![(NAME.into(), format!("127.0.0.1:{}", fa.port()))], ..ProxyOptions::default() })
            .unwrap();
    let authority = format!("https://{NAME}:{}", fa.port());
    let store = fake_authority::scratch::tempdir();
    let env = |k: &str| match k {
        "HTTPS_PROXY" => Some(proxy.url()),
        _ => store.store_var(k),
    };

    // Trust: on Linux and macOS the platform verifier reads SSL_CERT_FILE itself, so the test CA is trusted and
    // every sign-in below succeeds. Windows trusts only what its certificate stores hold, and a test must not
    // add a root to a real user's store (Windows asks in a dialog), so there each one must reach the authority
    // through the proxy and then fail on trust; the trusted half is seen on Linux and macOS.
    // SAFETY: this test binary has this one test; nothing else reads the environment meanwhile.
    #[cfg(not(windows))]
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &certs.ca_pem)
    };
    #[cfg(windows)]
    let _ = &certs;
    let trusted = cfg!(not(windows));
    let signed_in = |result: Result<Value, d365fo_interactive::error::CoreError>| match result {
        Ok(answer) if trusted => {
            assert_eq!(answer["source"], "device_code");
            answer
        }
        Err(e) if trusted => panic!("{}", e.message),
        Ok(answer) => panic!("signed in without a trusted certificate: {answer}"),
        Err(e) => {
            assert!(e.code == Code::NetworkError && e.message.contains("TLS") && e.message.contains("UnknownIssuer"), "{}", e.message);
            Value::Null
        }
    };
    let answer = signed_in(sign_in(&env, &authority));
    if trusted {
        assert_eq!(answer["access_token"], fa.signins()[0]["access_token"]);
    }
    let seen = proxy.log();
    assert!(!seen.is_empty());
    for entry in &seen {
        assert_eq!(entry["method"], "CONNECT", "{entry}");
        assert_eq!(entry["target"], format!("{NAME}:{}", fa.port()), "{entry}");
    }

    // A proxy that wants Basic credentials: the user and password in the proxy URL get the sign-in through,
    // and every request presented them; wrong ones fail plainly, without echoing the password.
    let guarded = FakeProxy::start(ProxyOptions {
        map_hosts: vec![(NAME.into(), format!("127.0.0.1:{}", fa.port()))],
        require_auth: Some("alice:s3cret-proxy-pw".into()),
        ..ProxyOptions::default()
    })
    .unwrap();
    let with_credentials = |password: &'static str| {
        let url = guarded.url().replacen("://", &format!("://alice:{password}@"), 1);
        let store = &store;
        move |k: &str| match k {
            "HTTPS_PROXY" => Some(url.clone()),
            _ => store.store_var(k),
        }
    };
    signed_in(sign_in(&with_credentials("s3cret-proxy-pw"), &authority));
    let seen = guarded.log();
    assert!(!seen.is_empty());
    for entry in &seen {
        assert_eq!(entry["method"], "CONNECT", "{entry}");
        assert_eq!(entry["authorized"], true, "{entry}");
    }
    guarded.clear_log();
    let e = sign_in(&with_credentials("wrong-proxy-pw"), &authority).unwrap_err();
    assert_eq!(e.code, Code::NetworkError, "{}", e.message);
    assert!(e.message.contains("credentials") && e.message.contains("407"), "{}", e.message);
    assert!(!e.message.contains("wrong-proxy-pw") && !e.message.contains("s3cret"), "{}", e.message);
    assert!(guarded.log().iter().all(|entry| entry["authorized"] == false), "{:?}", guarded.log());

    // Without the CA the same sign-in fails on trust, through the same proxy, and says where trust comes from
    // (on Windows every sign-in above already did).
    #[cfg(not(windows))]
    {
        unsafe { std::env::set_var("SSL_CERT_FILE", dir.join("server.pem.missing")) };
        let e = sign_in(&env, &authority).unwrap_err();
        unsafe { std::env::remove_var("SSL_CERT_FILE") };
        assert_eq!(e.code, Code::NetworkError, "{}", e.message);
        assert!(e.message.contains("TLS") && !e.message.contains("trying again"), "{}", e.message);
    }
}
