//! A small HTTP proxy on 127.0.0.1 for end-to-end proxy tests (the product has no proxy switch of its own;
//! this lets a test put a proxy between the client and the fake authority). It speaks the two things a client
//! sends to an HTTP proxy: `CONNECT host:port` (a tunnel, what an HTTPS client uses) and absolute-form
//! requests such as `POST http://host:port/path` (plain HTTP through the proxy).
//!
//! A host map (`--map-host login.test.invalid=127.0.0.1:PORT`) routes a name to a local address, so a test
//! can use a non-loopback authority name (and a certificate for it) while the bytes go to the fake
//! authority; the mapped name matches any port. Besides mapped names only loopback addresses are reachable;
//! anything else is answered 502, so no test can reach the internet through it by mistake. With
//! `require_auth` every proxied request needs `Proxy-Authorization: Basic base64(user:pass)`, else 407 with
//! `Proxy-Authenticate: Basic`. Every request it handled is logged (`GET /_proxy/log` on the proxy itself, or
//! `FakeProxy::log`), with `POST /_proxy/clear-log` to empty it.

use crate::util::{base64_standard, epoch_ms};
use serde_json::{Value, json};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest request head read (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// How long a client may take to send its request head, and the proxy to reach a target.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Proxy settings (the `--proxy` mode's flags map onto these).
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// 0: a free port.
    pub port: u16,
    /// (host name, `ip:port`) pairs: requests for the name (any port) go to the address.
    pub map_hosts: Vec<(String, String)>,
    /// `user:pass` every proxied request must present as `Proxy-Authorization: Basic ...`.
    pub require_auth: Option<String>,
    /// One line per request on stderr.
    pub verbose: bool,
}

/// Parses `HOST=IP:PORT` (the `--map-host` value).
pub fn parse_map_host(spec: &str) -> Result<(String, String), String> {
    let (host, target) = spec.split_once('=').ok_or_else(|| format!("'{spec}': expected HOST=IP:PORT"))?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains(':') || host.contains('/') {
        return Err(format!("'{spec}': the host must be a bare name"));
    }
    let target = target.trim();
    let port_ok = target.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return Err(format!("'{spec}': the target must be IP:PORT"));
    }
    Ok((host, target.to_string()))
}

struct ProxyState {
    opts: ProxyOptions,
    /// The Base64 of `user:pass`, when required.
    expected_credentials: Option<String>,
    start: Instant,
    log: Mutex<Vec<Value>>,
}

impl ProxyState {
    fn record(&self, entry: Value) {
        if self.opts.verbose {
            eprintln!("fake_proxy: {} {} -> {}", entry["method"], entry["target"], entry["outcome"]);
        }
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    }

    /// Where a request for `host:port` goes: the mapped address, the loopback address itself, or nowhere.
    fn route(&self, host: &str, port: u16) -> Option<String> {
        let host = host.to_ascii_lowercase();
        if let Some((_, to)) = self.opts.map_hosts.iter().find(|(h, _)| *h == host) {
            return Some(to.clone());
        }
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback.then(|| if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
    }

    fn authorized(&self, proxy_authorization: Option<&str>) -> bool {
        let Some(expected) = &self.expected_credentials else { return true };
        // The scheme name is case-insensitive (RFC 9110 §11.1); the credentials are compared as sent.
        proxy_authorization
            .and_then(|v| v.trim().split_once(' '))
            .is_some_and(|(scheme, creds)| scheme.eq_ignore_ascii_case("basic") && creds.trim() == expected)
    }
}

/// A running proxy; stops accepting when dropped.
pub struct FakeProxy {
    state: Arc<ProxyState>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProxy {
    /// Binds 127.0.0.1 (`opts.port`, 0 for any free port) and proxies on background threads.
    pub fn start(opts: ProxyOptions) -> io::Result<FakeProxy> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let addr = listener.local_addr()?;
        let expected_credentials = opts.require_auth.as_ref().map(|c| base64_standard(c.as_bytes()));
        let state = Arc::new(ProxyState { opts, expected_credentials, start: Instant::now(), log: Mutex::new(Vec::new()) });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("fake-proxy".into()).spawn({
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let state = Arc::clone(&state);
                    let _ = std::thread::Builder::new().name("fake-proxy-conn".into()).spawn(move || {
                        let _ = serve(&state, client);
                    });
                }
            }
        })?;
        Ok(FakeProxy { state, addr, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`, the value for HTTPS_PROXY / HTTP_PROXY.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request handled so far (as `GET /_proxy/log`): `method`, `target` (host:port), `host`, `port`,
    /// `url` (absolute-form only), `routed_to`, `authorized`, `status` (the proxy's own answer: 200 for an
    /// established tunnel, 400, 407, 502; null when forwarded), `outcome`, `ms` since start, `epoch_ms`.
    pub fn log(&self) -> Vec<Value> {
        self.state.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Blocks until the proxy stops (never, unless the process ends it).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed request head, plus the bytes read after it (the start of a body or of a TLS handshake).
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_head(c: &mut TcpStream) -> io::Result<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(ErrorKind::InvalidData, "request head too long"));
        }
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "connection closed before the request head ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok(Head { method, target, headers, rest: buf[end + 4..].to_vec() })
}

/// Writes a small answer of the proxy's own and closes.
fn answer(c: &mut TcpStream, status: &str, extra_headers: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(text.as_bytes());
    let _ = c.flush();
}

fn answer_json(c: &mut TcpStream, v: &Value) {
    let body = v.to_string();
    let text = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(text.as_bytes());
}

/// Splits `host:port` (with `[v6]:port`); `default_port` when there is none.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port?,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port?)),
    }
    .filter(|(h, _)| !h.is_empty())
}

fn serve(state: &ProxyState, mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(HEAD_TIMEOUT))?;
    let head = read_head(&mut client)?;
    let received = Instant::now();
    if head.target.starts_with('/') {
        return own_endpoints(state, &mut client, &head);
    }

    let connect = head.method.eq_ignore_ascii_case("CONNECT");
    // CONNECT names host:port; any other method an absolute http:// URL (https goes through CONNECT).
    let parsed = if connect {
        split_authority(&head.target, None).map(|(h, p)| (h, p, None))
    } else {
        head.target.strip_prefix("http://").and_then(|rest| {
            let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            split_authority(authority, Some(80)).map(|(h, p)| (h, p, Some(path.to_string())))
        })
    };
    let mut entry = json!({
        "method": head.method, "target": head.target, "host": null, "port": null, "url": null, "routed_to": null,
        "authorized": null, "status": null, "outcome": null,
        "ms": received.saturating_duration_since(state.start).as_millis() as u64, "epoch_ms": epoch_ms(),
    });
    let Some((host, port, path)) = parsed else {
        entry["status"] = json!(400);
        entry["outcome"] = json!("bad-request");
        state.record(entry);
        answer(&mut client, "400 Bad Request", "", "The proxy takes CONNECT host:port or an absolute http:// URL.\n");
        return Ok(());
    };
    entry["target"] = json!(format!("{host}:{port}"));
    entry["host"] = json!(host);
    entry["port"] = json!(port);
    if !connect {
        entry["url"] = json!(head.target);
    }
    let authorized = state.authorized(head.header("Proxy-Authorization"));
    entry["authorized"] = json!(authorized);
    if !authorized {
        entry["status"] = json!(407);
        entry["outcome"] = json!("proxy-auth-required");
        state.record(entry);
        answer(
            &mut client,
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"fake-proxy\"\r\n",
            "Proxy authentication required.\n",
        );
        return Ok(());
    }
    let route = state.route(&host, port);
    entry["routed_to"] = json!(route);
    let upstream = route.as_deref().map(|to| {
        to.to_socket_addrs()
            .and_then(|mut addrs| addrs.next().ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no address")))
            .and_then(|a| TcpStream::connect_timeout(&a, CONNECT_TIMEOUT))
    });
    let mut upstream = match upstream {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            entry["status"] = json!(502);
            entry["outcome"] = json!("unreachable");
            state.record(entry);
            answer(&mut client, "502 Bad Gateway", "", &format!("The proxy could not reach {host}:{port}: {e}\n"));
            return Ok(());
        }
        None => {
            entry["status"] = json!(502);
            entry["outcome"] = json!("not-mapped");
            state.record(entry);
            answer(&mut client, "502 Bad Gateway", "", &format!("{host} is neither mapped (--map-host) nor a loopback address.\n"));
            return Ok(());
        }
    };

    match path {
        None => {
            entry["status"] = json!(200);
            entry["outcome"] = json!("tunnel");
            state.record(entry);
            client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
        }
        Some(path) => {
            entry["outcome"] = json!("forwarded");
            state.record(entry);
            // Origin-form to the target, without the hop-by-hop headers meant for the proxy; one request
            // per connection keeps the relay simple.
            let hop_by_hop = ["proxy-authorization", "proxy-connection", "connection", "keep-alive"];
            let mut out = format!("{} {path} HTTP/1.1\r\n", head.method);
            for (k, v) in head.headers.iter().filter(|(k, _)| !hop_by_hop.contains(&k.to_ascii_lowercase().as_str())) {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("Connection: close\r\n\r\n");
            upstream.write_all(out.as_bytes())?;
        }
    }
    upstream.write_all(&head.rest)?;
    relay(client, upstream)
}

/// Copies both ways until the target closes (or the client does), then closes both.
fn relay(client: TcpStream, upstream: TcpStream) -> io::Result<()> {
    client.set_read_timeout(None)?;
    let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::Builder::new().name("fake-proxy-up".into()).spawn(move || {
        let _ = io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    })?;
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = upstream_read.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}

/// `GET /_proxy/log`, `POST /_proxy/clear-log`: the proxy's own test hooks (not proxied, no auth).
fn own_endpoints(state: &ProxyState, c: &mut TcpStream, head: &Head) -> io::Result<()> {
    match (head.method.as_str(), head.target.as_str()) {
        ("GET", "/_proxy/log") => answer_json(c, &Value::Array(state.log.lock().unwrap_or_else(|p| p.into_inner()).clone())),
        ("POST", "/_proxy/clear-log") => {
            state.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
            answer_json(c, &json!({"ok": true}));
        }
        _ => answer(c, "404 Not Found", "", "Not Found\n"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_host_specs() {
        assert_eq!(parse_map_host("Login.Test.Invalid=127.0.0.1:8443"), Ok(("login.test.invalid".into(), "127.0.0.1:8443".into())));
        for bad in ["login.test.invalid", "login.test.invalid=127.0.0.1", "=127.0.0.1:1", "a:1=127.0.0.1:1", "h=127.0.0.1:0"] {
            assert!(parse_map_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorities() {
        assert_eq!(split_authority("login.test.invalid:443", None), Some(("login.test.invalid".into(), 443)));
        assert_eq!(split_authority("h", Some(80)), Some(("h".into(), 80)));
        assert_eq!(split_authority("[::1]:8080", None), Some(("::1".into(), 8080)));
        assert_eq!(split_authority("h", None), None);
        assert_eq!(split_authority(":443", None), None);
    }

    #[test]
    fn routes_only_mapped_names_and_loopback() {
        let opts = ProxyOptions { map_hosts: vec![("login.test.invalid".into(), "127.0.0.1:9".into())], ..Default::default() };
        let s = ProxyState { opts, expected_credentials: None, start: Instant::now(), log: Mutex::new(Vec::new()) };
        assert_eq!(s.route("LOGIN.test.invalid", 443).as_deref(), Some("127.0.0.1:9"));
        assert_eq!(s.route("127.0.0.1", 5).as_deref(), Some("127.0.0.1:5"));
        assert_eq!(s.route("localhost", 5).as_deref(), Some("localhost:5"));
        assert_eq!(s.route("::1", 5).as_deref(), Some("[::1]:5"));
        assert_eq!(s.route("login.microsoftonline.com", 443), None);
        assert_eq!(s.route("10.0.0.1", 443), None);
    }
}
