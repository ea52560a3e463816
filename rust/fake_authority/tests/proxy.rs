//! The test proxy: CONNECT tunnels to a mapped host, absolute-form forwarding, the log, --require-auth, and
//! HTTPS to the fake authority under the name login.test.invalid through a tunnel.

mod common;
use common::*;
use fake_authority::{FakeAuthority, FakeProxy, Options, ProxyOptions};
use serde_json::Value;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "login.test.invalid";

fn proxy_to(fa_port: u16, require_auth: Option<&str>) -> FakeProxy {
    FakeProxy::start(ProxyOptions {
        map_hosts: vec![(NAME.into(), format!("127.0.0.1:{fa_port}"))],
        require_auth: require_auth.map(str::to_string),
        ..ProxyOptions::default()
    })
    .unwrap()
}

/// Sends CONNECT and returns the stream and the proxy's answer head (up to the blank line, nothing after).
fn connect(proxy: &FakeProxy, authority: &str, extra_headers: &str) -> (TcpStream, String) {
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra_headers}\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut byte).unwrap(), 1, "the proxy closed during its answer: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    (c, String::from_utf8(head).unwrap())
}

fn devicecode_request(host: &str, path_or_url: &str) -> Vec<u8> {
    let form = format!("client_id={CLIENT}&scope={}", enc(&format!("{RESOURCE}/.default")));
    format!(
        "POST {path_or_url} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

fn read_all(mut s: impl Read) -> Reply {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

fn last(proxy: &FakeProxy) -> Value {
    proxy.log().last().cloned().expect("a log entry")
}

#[test]
fn connect_tunnels_a_mapped_name_to_the_fake_authority_and_is_logged() {
    let fa = start(quick());
    let proxy = proxy_to(fa.port(), None);
    let before = unix_now() * 1000;
    let (mut c, head) = connect(&proxy, &format!("{NAME}:443"), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    c.write_all(&devicecode_request(NAME, "/contoso/oauth2/v2.0/devicecode")).unwrap();
    let r = read_all(c);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["device_code"].is_string());

    let e = last(&proxy);
    assert_eq!(
        (e["method"].as_str(), e["target"].as_str(), e["port"].as_u64()),
        (Some("CONNECT"), Some("login.test.invalid:443"), Some(443)),
        "{e}"
    );
    assert_eq!(e["routed_to"], format!("127.0.0.1:{}", fa.port()));
    assert_eq!((e["status"].as_u64(), e["outcome"].as_str()), (Some(200), Some("tunnel")), "{e}");
    assert!(e["epoch_ms"].as_u64().unwrap() >= before && e["ms"].is_u64(), "{e}");
    // The authority saw the request that went through the tunnel.
    assert_eq!(fa.log().last().unwrap()["path"], "/contoso/oauth2/v2.0/devicecode");
}

#[test]
fn absolute_form_requests_are_forwarded_in_origin_form() {
    let fa = start(quick());
    let proxy = proxy_to(fa.port(), None);
    let url = format!("http://{NAME}:8080/contoso/oauth2/v2.0/devicecode?api-version=1.0");
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.write_all(&devicecode_request(&format!("{NAME}:8080"), &url)).unwrap();
    let r = read_all(c);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = fa.log().last().cloned().unwrap();
    assert_eq!(
        (seen["path"].as_str(), seen["query"].as_str()),
        (Some("/contoso/oauth2/v2.0/devicecode"), Some("api-version=1.0")),
        "{seen}"
    );
    let e = last(&proxy);
    assert_eq!(
        (e["method"].as_str(), e["target"].as_str(), e["url"].as_str()),
        (Some("POST"), Some("login.test.invalid:8080"), Some(url.as_str())),
        "{e}"
    );
    assert_eq!((e["outcome"].as_str(), e["status"].is_null()), (Some("forwarded"), true), "{e}");
}

#[test]
fn only_mapped_names_and_loopback_are_reachable() {
    let fa = start(quick());
    let proxy = proxy_to(fa.port(), None);
    let (_, head) = connect(&proxy, "login.microsoftonline.com:443", "");
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    assert_eq!(last(&proxy)["outcome"], "not-mapped");
    let (mut c, head) = connect(&proxy, &format!("127.0.0.1:{}", fa.port()), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    c.write_all(&devicecode_request("127.0.0.1", "/contoso/oauth2/v2.0/devicecode")).unwrap();
    assert_eq!(read_all(c).status, 200);
    // Not a proxy request at all.
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.write_all(b"GET https://login.test.invalid/ HTTP/1.1\r\nHost: login.test.invalid\r\n\r\n").unwrap();
    assert_eq!(read_all(c).status, 400);
}

#[test]
fn require_auth_answers_407_until_the_basic_credentials_match() {
    let fa = start(quick());
    let proxy = proxy_to(fa.port(), Some("tester:s3cret pass"));
    let (_, head) = connect(&proxy, &format!("{NAME}:443"), "");
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    assert!(head.contains("\r\nProxy-Authenticate: Basic realm=\"fake-proxy\"\r\n"), "{head}");
    // Base64 of "tester:wrong" and of "tester:s3cret pass".
    let (_, head) = connect(&proxy, &format!("{NAME}:443"), "Proxy-Authorization: Basic dGVzdGVyOndyb25n\r\n");
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    let (mut c, head) = connect(&proxy, &format!("{NAME}:443"), "Proxy-Authorization: basic dGVzdGVyOnMzY3JldCBwYXNz\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    c.write_all(&devicecode_request(NAME, "/contoso/oauth2/v2.0/devicecode")).unwrap();
    assert_eq!(read_all(c).status, 200);
    let authorized: Vec<bool> = proxy.log().iter().map(|e| e["authorized"].as_bool().unwrap()).collect();
    assert_eq!(authorized, [false, false, true]);
    assert_eq!(proxy.log()[0]["status"], 407);

    // Absolute form too; nothing reaches the authority without the credentials.
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.write_all(&devicecode_request(NAME, &format!("http://{NAME}/contoso/oauth2/v2.0/devicecode"))).unwrap();
    let r = read_all(c);
    assert_eq!((r.status, r.header("Proxy-Authenticate").as_deref()), (407, Some("Basic realm=\"fake-proxy\"")));
    assert_eq!(fa.log().len(), 1, "only the authorised request got through");
}

#[test]
fn the_log_is_served_by_the_proxy_itself_and_can_be_cleared() {
    let fa = start(quick());
    let proxy = proxy_to(fa.port(), Some("u:p"));
    let _ = connect(&proxy, "elsewhere.example:443", "");
    let served = get(proxy.port(), "/_proxy/log").json();
    assert_eq!(served, Value::Array(proxy.log()));
    assert_eq!(served.as_array().unwrap().len(), 1);
    assert_eq!(post(proxy.port(), "/_proxy/clear-log", "").json()["ok"], true);
    assert!(proxy.log().is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// HTTPS to login.test.invalid through the tunnel.

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA and a server certificate it signs for login.test.invalid, made with the openssl CLI.
fn certificates() -> Option<PathBuf> {
    // A missing tool is a failure with its reason, not a silent pass (.ci/run installs openssl).
    assert!(
        std::process::Command::new("openssl").arg("version").output().is_ok(),
        "this test needs the openssl CLI to make its certificates (.ci/run installs it)"
    );
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("fake-authority-proxy-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=fake authority test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        &dir,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=login.test.invalid"],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:login.test.invalid\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    Some(dir)
}

fn tls_client(ca: &Path, server_name: &str, tcp: TcpStream) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(ca).unwrap())) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
    rustls::StreamOwned::new(rustls::ClientConnection::new(Arc::new(config), name).unwrap(), tcp)
}

#[test]
fn https_to_login_test_invalid_through_a_tunnel_verifies_and_signs_in() {
    let Some(dir) = certificates() else { return };
    let fa = FakeAuthority::start(Options { tls: Some((dir.join("server.pem"), dir.join("server.key"))), ..quick() }).unwrap();
    assert!(fa.base_url().starts_with("https://"));
    let proxy = proxy_to(fa.port(), None);

    let (tcp, head) = connect(&proxy, &format!("{NAME}:443"), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut tls = tls_client(&dir.join("ca.pem"), NAME, tcp);
    tls.write_all(&devicecode_request(NAME, "/contoso/oauth2/v2.0/devicecode")).unwrap();
    let r = read_all(&mut tls);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["device_code"].is_string());

    // The same certificate is refused for another name: the check above really verified the name.
    let (tcp, _) = connect(&proxy, &format!("{NAME}:443"), "");
    let mut wrong = tls_client(&dir.join("ca.pem"), "wrong.test.invalid", tcp);
    let err = wrong.write_all(b"GET / HTTP/1.1\r\n\r\n").and_then(|_| wrong.flush()).and_then(|_| wrong.read(&mut [0u8; 16]));
    assert!(err.is_err(), "a certificate for login.test.invalid must not pass for wrong.test.invalid");
    let _ = std::fs::remove_dir_all(dir);
}
