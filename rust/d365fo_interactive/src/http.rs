//! HTTP to the authority: ureq with TLS checked against the OS trust store, no redirects, bounded body size,
//! a proxy chosen here (ureq 3.0.11 ignores NO_PROXY, and loopback must never be proxied), and one deadline
//! per request that covers connecting, sending, the headers and the whole body.
//!
//! Every request runs on its own thread so that the caller returns at once on cancel or deadline; its TCP
//! sockets are registered in an `Abort`, which shuts them down at that moment, so the thread wakes from
//! whatever read or write it is blocked in and ends: nothing of a request outlives the call that made it.

use crate::cancel::CancelToken;
use crate::error::{Code, CoreError, CoreResult};
use crate::validate::{self, HttpUrl};
use std::cell::RefCell;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
#[cfg(not(windows))]
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::{ArrayVec, DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport as UreqTransportTrait,
};

/// Largest response body read from the authority; real answers are a few kilobytes.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// How long a request thread may take to end after its sockets were shut down (it is detached after that).
const JOIN_GRACE: Duration = Duration::from_secs(2);

const SLOW: &str = "no complete answer within the time allowed";
/// How often a read blocked on Windows looks whether its request was cut (see `SocketTransport::await_input`).
#[cfg(windows)]
const ABORT_SLICE: Duration = Duration::from_millis(20);

/// One answer from the authority, whatever its status.
#[derive(Debug, Clone, Default)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    /// Retry-After in seconds (only the delay-seconds form; an HTTP date is ignored).
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// Why no answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The connection could not be made (refused, no route, name not found).
    Connect(String),
    /// No complete answer within the time allowed.
    Timeout(String),
    /// The connection broke (reset, closed mid-body, garbled HTTP).
    Broken(String),
    /// TLS failed (e.g. certificate not trusted); retrying cannot help.
    Tls(String),
    /// The body was larger than MAX_BODY_BYTES.
    TooLarge,
    /// The proxy refused or failed.
    Proxy(String),
    /// Anything else; not retried.
    Other(String),
}

impl TransportError {
    /// Failures worth another try at the next interval.
    pub fn is_transient(&self) -> bool {
        matches!(self, TransportError::Connect(_) | TransportError::Timeout(_) | TransportError::Broken(_))
    }

    /// The error for the caller; `host` names the authority.
    pub fn to_core(&self, host: &str) -> CoreError {
        let (code, msg) = match self {
            TransportError::Connect(why) => (Code::NetworkError, format!("could not connect to the authority {host}: {why}")),
            TransportError::Timeout(why) => (Code::NetworkError, format!("the authority {host} did not answer in time: {why}")),
            TransportError::Broken(why) => (Code::NetworkError, format!("the connection to the authority {host} broke: {why}")),
            TransportError::Tls(why) => (Code::NetworkError, format!("TLS with the authority {host} failed: {why}")),
            TransportError::TooLarge => (
                Code::ProtocolError,
                format!("the authority {host} sent a response too large (more than {} MiB)", MAX_BODY_BYTES / (1024 * 1024)),
            ),
            TransportError::Proxy(why) => (Code::NetworkError, format!("the proxy for the authority {host} failed: {why}")),
            TransportError::Other(why) => (Code::NetworkError, format!("the request to the authority {host} failed: {why}")),
        };
        CoreError::new(code, msg)
    }
}

/// The sockets of one request, so another thread can cut them at once (cancel, deadline).
#[derive(Debug, Default)]
pub struct Abort {
    triggered: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Abort {
    pub fn new() -> Arc<Abort> {
        Arc::new(Abort::default())
    }

    /// Keeps a handle on `socket`; shuts it down right away when the request was already aborted.
    pub fn register(&self, socket: &TcpStream) {
        if let Ok(clone) = socket.try_clone() {
            let mut all = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
            if self.triggered.load(Ordering::SeqCst) {
                let _ = clone.shutdown(Shutdown::Both);
            }
            all.push(clone);
        }
    }

    /// Shuts down every socket of the request; blocked reads and writes on them return at once.
    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::SeqCst);
        for s in self.sockets.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }
}

/// Sends form posts; the seam between the flow and the network (tests give a scripted one).
pub trait Transport: Send + Sync {
    /// One POST; must give up at `deadline`, and soon after `abort` is triggered.
    fn post_form(
        &self,
        url: &str,
        form: &[(&'static str, String)],
        deadline: Instant,
        abort: &Arc<Abort>,
    ) -> Result<HttpReply, TransportError>;
}

/// How a bounded request ended.
#[derive(Debug)]
pub enum Outcome {
    Reply(HttpReply),
    Failed(TransportError),
    /// The cancellation token was set; the request was cut.
    Cancelled,
    /// `deadline` passed; the request was cut.
    DeadlineReached,
}

/// Runs one post on its own thread, bounded by `deadline` and `cancel`. When either strikes, the request's
/// sockets are shut down and its thread is joined (for at most `JOIN_GRACE`) before this returns.
pub fn post_bounded(
    transport: &Arc<dyn Transport>,
    url: &str,
    form: Vec<(&'static str, String)>,
    cancel: &CancelToken,
    deadline: Instant,
) -> Outcome {
    if cancel.is_cancelled() {
        return Outcome::Cancelled;
    }
    if Instant::now() >= deadline {
        return Outcome::DeadlineReached;
    }
    let abort = Abort::new();
    let (tx, rx) = mpsc::channel();
    let worker = {
        let t = Arc::clone(transport);
        let url = url.to_string();
        let abort = Arc::clone(&abort);
        std::thread::Builder::new().name("d365fo-http".into()).spawn(move || {
            let _ = tx.send(t.post_form(&url, &form, deadline, &abort));
        })
    };
    let Ok(worker) = worker else {
        return Outcome::Failed(TransportError::Other("could not start a thread for the request".into()));
    };
    let ending = loop {
        // The channel cannot wake the cancellation token's condition variable, so look in short slices.
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(result) => {
                let _ = worker.join();
                return match result {
                    _ if cancel.is_cancelled() => Outcome::Cancelled,
                    Ok(r) => Outcome::Reply(r),
                    Err(_) if Instant::now() >= deadline => Outcome::DeadlineReached,
                    Err(e) => Outcome::Failed(e),
                };
            }
            Err(mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                break Outcome::Cancelled;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                break Outcome::DeadlineReached;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Outcome::Failed(TransportError::Other("the request thread ended without an answer".into()));
            }
        }
    };
    abort.trigger();
    // The thread wakes from its blocked socket call now; wait for it so nothing of this request remains.
    let _ = rx.recv_timeout(JOIN_GRACE);
    if worker.is_finished() {
        let _ = worker.join();
    }
    ending
}

thread_local! {
    /// The `Abort` of the request running on this thread (set by `UreqTransport::post_form` for the connector).
    static CURRENT_ABORT: RefCell<Option<Arc<Abort>>> = const { RefCell::new(None) };
}

/// Opens TCP connections like ureq's own connector, but registers each socket with the current request's
/// `Abort` and never waits past the request's deadline.
#[derive(Debug)]
struct AbortableTcpConnector;

impl<In: UreqTransportTrait> Connector<In> for AbortableTcpConnector {
    type Out = Either<In, SocketTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(t) = chained {
            return Ok(Some(Either::A(t)));
        }
        let abort = CURRENT_ABORT.with(|a| a.borrow().clone());
        let timeout = details.timeout.not_zero().map(|d| *d);
        let mut last = None;
        for addr in &details.addrs {
            if abort.as_ref().is_some_and(|a| a.is_triggered()) {
                return Err(ureq::Error::Io(std::io::Error::new(ErrorKind::Interrupted, "the request was cut")));
            }
            let attempt = match timeout {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(a) = &abort {
                        a.register(&stream);
                    }
                    let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
                    let registered_with = abort.as_ref().map(Arc::downgrade).unwrap_or_default();
                    return Ok(Some(Either::B(SocketTransport { stream, buffers, registered_with })));
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                    return Err(ureq::Error::Timeout(details.timeout.reason));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ureq::Error::Io(last.unwrap_or_else(|| std::io::Error::new(ErrorKind::ConnectionRefused, "connection refused"))))
    }
}

/// A plain TCP transport for ureq (3.0.11 does not export its own), over a socket that `Abort` can cut.
struct SocketTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The request whose `Abort` holds this socket. The agent keeps idle connections for the next request
    /// of the sign-in (the next poll); that request registers the socket again before it sends.
    registered_with: std::sync::Weak<Abort>,
}

impl std::fmt::Debug for SocketTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketTransport").field("peer", &self.stream.peer_addr().ok()).finish()
    }
}

fn io_to_ureq(e: std::io::Error, timeout: &NextTimeout) -> ureq::Error {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

impl UreqTransportTrait for SocketTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if let Some(current) = CURRENT_ABORT.with(|a| a.borrow().clone())
            && !std::ptr::eq(current.as_ref(), self.registered_with.as_ptr())
        {
            current.register(&self.stream);
            self.registered_with = Arc::downgrade(&current);
        }
        self.stream.set_write_timeout(timeout.not_zero().map(|d| *d)).map_err(ureq::Error::Io)?;
        let output = &self.buffers.output()[..amount];
        std::io::Write::write_all(&mut self.stream, output).map_err(|e| io_to_ureq(e, &timeout))
    }

    #[cfg(not(windows))]
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.set_read_timeout(timeout.not_zero().map(|d| *d)).map_err(ureq::Error::Io)?;
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(|e| io_to_ureq(e, &timeout))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    /// On Windows shutting a socket down does not wake a read blocked on it in another thread (Winsock, and
    /// Wine likewise), so the read waits in short slices and looks at the request's `Abort` between them: a
    /// cancel or the deadline ends it within one slice, as the shutdown does on Unix.
    #[cfg(windows)]
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let ends = timeout.not_zero().map(|d| Instant::now() + *d);
        let input = self.buffers.input_append_buf();
        let amount = loop {
            let left = ends.map(|e| e.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            let slice = left.map_or(ABORT_SLICE, |l| l.min(ABORT_SLICE)).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(slice)).map_err(ureq::Error::Io)?;
            match self.stream.read(input) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                    if self.registered_with.upgrade().is_some_and(|a| a.is_triggered()) {
                        return Err(ureq::Error::Io(std::io::Error::new(ErrorKind::Interrupted, "the request was cut")));
                    }
                }
                Err(e) => return Err(io_to_ureq(e, &timeout)),
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Connections are not pooled across requests of interest here; probe like ureq does.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut buf = [0u8; 1];
        let open = matches!(self.stream.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
        open && self.stream.set_nonblocking(false).is_ok()
    }
}

/// Resolves names like ureq's own resolver, except the authority's name when a proxy is used: the proxy resolves
/// that (CONNECT host:port), and a network that only the proxy can see out of may not resolve it locally at all.
/// (ureq 3.0.11 resolves the target name before connecting to the proxy; 3.0.12 fixed it.)
#[derive(Debug)]
struct ProxyAwareResolver {
    /// The proxy's host and port, when requests go through one.
    proxy: Option<(String, u16)>,
    inner: DefaultResolver,
}

impl Resolver for ProxyAwareResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some((host, port)) = &self.proxy {
            let target_port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
            let is_proxy = uri.host().is_some_and(|h| h.eq_ignore_ascii_case(host)) && target_port == *port;
            if !is_proxy {
                // Never connected to: the connector reaches the proxy and asks it for this name.
                let mut addrs: ResolvedSocketAddrs = ArrayVec::from_fn(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                addrs.push(std::net::SocketAddr::from(([0, 0, 0, 0], target_port)));
                return Ok(addrs);
            }
        }
        self.inner.resolve(uri, config, timeout)
    }
}

/// The host and port of a proxy URL (credentials ignored).
fn proxy_host_port(p: &str) -> Option<(String, u16)> {
    let with_scheme = validate::proxy_url(p, "proxy").ok()?;
    let (scheme, rest) = with_scheme.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let u = validate::parse_http_url(&format!("{scheme}://{}", authority.rsplit('@').next()?)).ok()?;
    let port = u.port.unwrap_or(if u.scheme == "https" { 443 } else { 80 });
    Some((u.host, port))
}

/// What the HTTP client needs to know about one sign-in's requests.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The proxy for the authority (already chosen by `choose_proxy`), if any.
    pub proxy: Option<String>,
    /// Longest one request may take (never past the request's deadline).
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// The real transport.
pub struct UreqTransport {
    agent: ureq::Agent,
    timeout: Duration,
}

impl UreqTransport {
    pub fn new(options: &HttpOptions) -> CoreResult<Self> {
        let proxy = match &options.proxy {
            Some(p) => Some(
                ureq::Proxy::new(p).map_err(|_| CoreError::invalid(format!("the proxy '{}' is not valid", validate::printable_url(p))))?,
            ),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy)
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(options.connect_timeout))
            .user_agent(concat!("d365fo.interactive/", env!("CARGO_PKG_VERSION")))
            .accept("application/json");
        // Trust: the platform verifier (the OS trust store) on Linux and macOS; Windows' own chain
        // verification through our TLS step on Windows (ureq 3.0.11 cannot take a custom verifier).
        #[cfg(not(windows))]
        let (config, tls) = (
            config.tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build()).build(),
            ureq::unversioned::transport::RustlsConnector::default(),
        );
        #[cfg(windows)]
        let (config, tls) = (config.build(), crate::wintls::WindowsTlsConnector::new());
        let connector = ().chain(ConnectProxyConnector::default()).chain(AbortableTcpConnector).chain(tls);
        let resolver = ProxyAwareResolver { proxy: options.proxy.as_deref().and_then(proxy_host_port), inner: DefaultResolver::default() };
        Ok(UreqTransport { agent: ureq::Agent::with_parts(config, connector, resolver), timeout: options.timeout })
    }
}

impl Transport for UreqTransport {
    fn post_form(
        &self,
        url: &str,
        form: &[(&'static str, String)],
        deadline: Instant,
        abort: &Arc<Abort>,
    ) -> Result<HttpReply, TransportError> {
        let limit = self.timeout.min(deadline.saturating_duration_since(Instant::now()));
        if limit.is_zero() {
            return Err(TransportError::Timeout(SLOW.into()));
        }
        let ends = Instant::now() + limit;
        CURRENT_ABORT.with(|a| *a.borrow_mut() = Some(Arc::clone(abort)));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sent = self.agent.post(url).config().timeout_global(Some(limit)).build().send_form(pairs);
        CURRENT_ABORT.with(|a| *a.borrow_mut() = None);
        let mut resp = sent.map_err(|e| map_ureq_error(e, abort))?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type = header("content-type");
        let location = header("location");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let status = resp.status().as_u16();
        let mut reader = resp.body_mut().with_config().limit(MAX_BODY_BYTES).reader();
        let mut body = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            // The abort (a watchdog on the deadline) wakes a read that would block past it.
            let n = reader.read(&mut buf).map_err(|e| map_ureq_error(ureq::Error::from(e), abort))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if Instant::now() > ends {
                return Err(TransportError::Timeout(SLOW.into()));
            }
        }
        Ok(HttpReply { status, content_type, location, retry_after, body })
    }
}

fn map_ureq_error(e: ureq::Error, abort: &Abort) -> TransportError {
    use ureq::Error as E;
    if abort.is_triggered() {
        return TransportError::Timeout("the request was cut at the deadline".into());
    }
    match e {
        E::Timeout(t) => TransportError::Timeout(match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => "connecting took too long".into(),
            _ => SLOW.into(),
        }),
        E::HostNotFound => TransportError::Connect("the host name could not be resolved".into()),
        E::ConnectionFailed => TransportError::Connect("the connection failed".into()),
        // rustls reports a failed handshake (e.g. an untrusted certificate) through the TLS stream's reads and
        // writes, so it reaches us as an I/O error wrapping rustls::Error: TLS, not a broken connection (which
        // would be retried).
        E::Io(ref io) if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) => {
            TransportError::Tls(describe_tls(tls))
        }
        E::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => TransportError::Connect("connection refused".into()),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportError::Timeout("the network timed out".into()),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                TransportError::Broken("the connection was reset".into())
            }
            ErrorKind::UnexpectedEof => TransportError::Broken("the connection closed before the answer was complete".into()),
            ErrorKind::AddrNotAvailable | ErrorKind::NotConnected => TransportError::Connect(crate::text::first_line(&io.to_string(), 200)),
            _ => TransportError::Broken(crate::text::first_line(&io.to_string(), 200)),
        },
        E::Protocol(p) => {
            TransportError::Broken(format!("the answer was not valid HTTP ({})", crate::text::first_line(&p.to_string(), 200)))
        }
        E::BodyExceedsLimit(_) => TransportError::TooLarge,
        E::LargeResponseHeader(..) => TransportError::Broken("the response headers were too large".into()),
        E::Tls(s) => TransportError::Tls(s.to_string()),
        E::Rustls(r) => TransportError::Tls(describe_tls(&r)),
        E::Pem(_) => TransportError::Tls("a certificate could not be read".into()),
        E::ConnectProxyFailed(s) => TransportError::Proxy(describe_proxy_refusal(&s)),
        E::InvalidProxyUrl => TransportError::Proxy("the proxy URL is not valid".into()),
        other => TransportError::Other(crate::text::first_line(&other.to_string(), 200)),
    }
}

/// What the proxy said to the tunnel request (ureq reports it as "proxy server responded 407/407"), in words.
fn describe_proxy_refusal(s: &str) -> String {
    let status = s.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 3).and_then(|w| w.parse::<u16>().ok());
    match status {
        Some(407) => "it asked for credentials and did not accept the ones given (HTTP 407); \
                      check the user name and password in the proxy URL"
            .into(),
        Some(code) => format!("it refused to open a tunnel to the authority (HTTP {code})"),
        None => crate::text::first_line(s, 200),
    }
}

/// Where trust comes from, for the message of an untrusted certificate.
#[cfg(not(windows))]
const TRUST_SOURCE: &str = "trust comes from the OS trust store, or SSL_CERT_FILE";
#[cfg(windows)]
const TRUST_SOURCE: &str = "trust comes from Windows' certificate stores for this user";

/// A TLS failure in words; certificate problems say where trust comes from.
fn describe_tls(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            format!("the server's certificate is not signed by an authority trusted here (UnknownIssuer; {TRUST_SOURCE})")
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName) => {
            "the server's certificate is not valid for this host name (NotValidForName)".into()
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired) => "the server's certificate has expired (Expired)".into(),
        other => crate::text::first_line(&other.to_string(), 200),
    }
}

/// The proxy for the authority, the one place this is decided: none for loopback or a host NO_PROXY names;
/// else the first of HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy (HTTP_PROXY, http_proxy, ... for a plain
/// http authority) that is set; else the Windows system proxy the cmdlets resolved; else none.
pub fn choose_proxy(target: &HttpUrl, system_proxy: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Option<String>> {
    if target.is_loopback() {
        return Ok(None);
    }
    let no_proxy = env("NO_PROXY").filter(|v| !v.trim().is_empty()).or_else(|| env("no_proxy"));
    if no_proxy.is_some_and(|np| no_proxy_matches(&target.host, &np)) {
        return Ok(None);
    }
    let names: &[&str] = if target.scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    for name in names {
        if let Some(p) = env(name).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
            return validate::proxy_url(&p, name).map(Some);
        }
    }
    match system_proxy.filter(|p| !p.trim().is_empty()) {
        Some(p) => validate::proxy_url(p, "the system proxy").map(Some),
        None => Ok(None),
    }
}

/// The proxy without credentials, for the log.
pub fn proxy_for_log(p: &str) -> String {
    match p.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => p.rsplit('@').next().unwrap_or(p).to_string(),
    }
}

/// NO_PROXY rules: entries separated by commas or spaces; `*` matches all; `.suffix` and `*.suffix`
/// match the domain and its subdomains; anything else matches the host exactly (case-insensitive;
/// a `:port` on an entry is ignored).
pub fn no_proxy_matches(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    no_proxy.split([',', ' ', '\t']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        let entry = strip_port(&entry);
        if let Some(suffix) = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')) {
            return !suffix.is_empty() && (host == suffix || host.ends_with(&format!(".{suffix}")));
        }
        host == entry
    })
}

fn strip_port(entry: &str) -> String {
    if let Some(inner) = entry.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("").to_string();
    }
    match entry.rsplit_once(':') {
        // one colon: host:port; more: a bare IPv6 address
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h.to_string(),
        _ => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_proxy_refusal_is_said_in_words() {
        let m = super::describe_proxy_refusal("proxy server responded 407/407");
        assert!(m.contains("credentials") && m.contains("407"), "{m}");
        assert_eq!(
            super::describe_proxy_refusal("proxy server responded 403/403"),
            "it refused to open a tunnel to the authority (HTTP 403)"
        );
        assert_eq!(super::describe_proxy_refusal("no status here"), "no status here");
    }

    use super::*;
    use std::collections::HashMap;
    use std::io::Write;
    use std::net::TcpListener;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    fn url(s: &str) -> HttpUrl {
        validate::parse_http_url(s).unwrap()
    }

    #[test]
    fn no_proxy_exact_suffix_and_star() {
        assert!(no_proxy_matches("login.microsoftonline.com", "login.microsoftonline.com"));
        assert!(no_proxy_matches("LOGIN.microsoftonline.com", "foo, login.MicrosoftOnline.com:443"));
        assert!(!no_proxy_matches("x.login.microsoftonline.com", "login.microsoftonline.com"));
        assert!(no_proxy_matches("login.microsoftonline.com", ".microsoftonline.com"));
        assert!(no_proxy_matches("login.microsoftonline.com", "*.microsoftonline.com"));
        assert!(no_proxy_matches("microsoftonline.com", ".microsoftonline.com"));
        assert!(!no_proxy_matches("evilmicrosoftonline.com", ".microsoftonline.com"));
        assert!(!no_proxy_matches("evilmicrosoftonline.com", "*.microsoftonline.com"));
        assert!(no_proxy_matches("anything", "a.b *"));
        assert!(no_proxy_matches("10.1.2.3", "10.1.2.3"));
        assert!(no_proxy_matches("::1", "[::1]:80"));
        assert!(!no_proxy_matches("example.com", ""));
        assert!(!no_proxy_matches("example.com", " , ,"));
        assert!(!no_proxy_matches("example.com", "."));
    }

    #[test]
    fn loopback_is_never_proxied() {
        let env = env_of(&[("HTTP_PROXY", "http://proxy:3128"), ("ALL_PROXY", "http://proxy:3128")]);
        assert_eq!(choose_proxy(&url("http://127.0.0.1:8080"), Some("http://p:1"), &env).unwrap(), None);
        assert_eq!(choose_proxy(&url("http://localhost:8080"), None, &env).unwrap(), None);
        assert_eq!(choose_proxy(&url("http://[::1]:8080"), None, &env).unwrap(), None);
    }

    #[test]
    fn proxy_by_scheme_then_all_proxy_and_no_proxy_wins() {
        let target = url("https://login.microsoftonline.com");
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("HTTP_PROXY", "http://plain:2"), ("ALL_PROXY", "http://all:3")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://secure:1"));
        let env = env_of(&[("https_proxy", "http://lower:1"), ("HTTP_PROXY", "http://plain:2")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://lower:1"));
        let env = env_of(&[("HTTP_PROXY", "http://plain:2"), ("all_proxy", "http://all:3")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://all:3"));
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("no_proxy", ".microsoftonline.com")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap(), None);
        let env = env_of(&[("HTTPS_PROXY", "http://secure:1"), ("NO_PROXY", "*")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap(), None);
        assert_eq!(choose_proxy(&target, None, &env_of(&[])).unwrap(), None);
        let env = env_of(&[("HTTPS_PROXY", "proxy.corp:3128")]);
        assert_eq!(choose_proxy(&target, None, &env).unwrap().as_deref(), Some("http://proxy.corp:3128"));
    }

    #[test]
    fn the_system_proxy_applies_only_where_no_variable_does() {
        let target = url("https://login.microsoftonline.com");
        let system = Some("http://system:8080");
        assert_eq!(choose_proxy(&target, system, &env_of(&[])).unwrap().as_deref(), Some("http://system:8080"));
        // A variable for another scheme does not switch the system proxy off (an authority over https).
        assert_eq!(
            choose_proxy(&target, system, &env_of(&[("HTTP_PROXY", "http://plain:2")])).unwrap().as_deref(),
            Some("http://system:8080")
        );
        assert_eq!(choose_proxy(&target, system, &env_of(&[("HTTPS_PROXY", "http://env:1")])).unwrap().as_deref(), Some("http://env:1"));
        assert_eq!(choose_proxy(&target, system, &env_of(&[("NO_PROXY", ".microsoftonline.com")])).unwrap(), None);
        assert_eq!(choose_proxy(&url("http://127.0.0.1:8080"), system, &env_of(&[])).unwrap(), None);
    }

    #[test]
    fn bad_proxies_are_invalid_requests_naming_the_variable() {
        let target = url("https://login.microsoftonline.com");
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "socks5://p:1")])).unwrap_err();
        assert!(e.code == Code::InvalidRequest && e.message.contains("HTTPS_PROXY"), "{}", e.message);
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "http://bad host")])).unwrap_err();
        assert!(e.message.contains("HTTPS_PROXY"), "{}", e.message);
        let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", "http://user:S3cret@bad host:1")])).unwrap_err();
        assert!(!e.message.contains("S3cret") && e.message.contains("http://***@bad host:1"), "{}", e.message);
        assert_eq!(proxy_for_log("http://u:p@proxy:1"), "http://proxy:1");
        // Passwords holding the characters that end a URL's authority: masked whole, port text never echoed.
        for (proxy, secrets) in
            [("http://alice:S3cr#tPw@127.0.0.1:3128", ["S3cr", "tPw"]), ("http://alice:pa/ss?w0rd@127.0.0.1:3128", ["pa/ss", "w0rd"])]
        {
            let e = choose_proxy(&target, None, &env_of(&[("HTTPS_PROXY", proxy)])).unwrap_err();
            assert!(secrets.iter().all(|s| !e.message.contains(s)) && !e.message.contains("alice"), "{}", e.message);
            assert!(e.message.contains("'http://***@127.0.0.1:3128'") && e.message.contains("percent-encoded"), "{}", e.message);
        }
    }

    #[test]
    fn tls_failures_wrapped_in_io_errors_are_tls_not_a_broken_connection() {
        let abort = Abort::default();
        for (cert, words) in [
            (rustls::CertificateError::UnknownIssuer, "not signed by an authority trusted here"),
            (rustls::CertificateError::NotValidForName, "not valid for this host name"),
            (rustls::CertificateError::Expired, "has expired"),
        ] {
            let io = std::io::Error::new(ErrorKind::InvalidData, rustls::Error::InvalidCertificate(cert));
            match map_ureq_error(ureq::Error::Io(io), &abort) {
                TransportError::Tls(why) => assert!(why.contains(words), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        let io = std::io::Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        let e = map_ureq_error(ureq::Error::Io(io), &abort);
        assert!(matches!(e, TransportError::Tls(_)) && !e.is_transient(), "{e:?}");
        assert!(e.to_core("h:1").message.starts_with("TLS with the authority h:1 failed: "));
        let e = map_ureq_error(ureq::Error::Io(std::io::Error::new(ErrorKind::ConnectionReset, "reset")), &abort);
        assert_eq!(e, TransportError::Broken("the connection was reset".into()));
    }

    #[test]
    fn the_proxys_own_host_and_port_are_known_without_credentials() {
        assert_eq!(proxy_host_port("http://u:S3cret@Proxy.Corp:3128"), Some(("proxy.corp".into(), 3128)));
        assert_eq!(proxy_host_port("proxy.corp"), Some(("proxy.corp".into(), 80)));
        assert_eq!(proxy_host_port("https://p"), Some(("p".into(), 443)));
        assert_eq!(proxy_host_port("socks5://p:1"), None);
    }

    #[test]
    fn transient_errors_are_the_network_kind() {
        assert!(TransportError::Connect("x".into()).is_transient());
        assert!(TransportError::Broken("x".into()).is_transient());
        assert!(TransportError::Timeout("x".into()).is_transient());
        assert!(!TransportError::Tls("x".into()).is_transient());
        assert!(!TransportError::TooLarge.is_transient());
        let e = TransportError::TooLarge.to_core("h");
        assert_eq!(e.code, Code::ProtocolError);
        assert!(e.message.contains("too large"));
    }

    /// A server that accepts and then sends one byte every 100 ms, forever (until the socket dies).
    fn trickling_server() -> (String, Arc<AtomicBool>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/t/oauth2/token", listener.local_addr().unwrap());
        let gone = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&gone);
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
            for b in head.iter().cycle() {
                std::thread::sleep(Duration::from_millis(100));
                if s.write_all(&[*b]).is_err() {
                    break;
                }
            }
            flag.store(true, Ordering::SeqCst);
        });
        (url, gone)
    }

    #[test]
    fn a_trickling_answer_is_cut_at_the_deadline_and_its_socket_closed() {
        let (url, gone) = trickling_server();
        let opts = HttpOptions { proxy: None, timeout: Duration::from_secs(30), connect_timeout: Duration::from_secs(5) };
        let t: Arc<dyn Transport> = Arc::new(UreqTransport::new(&opts).unwrap());
        let started = Instant::now();
        let deadline = started + Duration::from_millis(800);
        let outcome = post_bounded(&t, &url, vec![("a", "b".into())], &CancelToken::new(), deadline);
        let took = started.elapsed();
        assert!(matches!(outcome, Outcome::DeadlineReached), "{outcome:?}");
        assert!(took < Duration::from_millis(800 + 1500), "{took:?}");
        // The server notices the closed socket at its next write.
        let waited = Instant::now();
        while !gone.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone.load(Ordering::SeqCst), "the socket stayed open after the deadline");
    }

    #[test]
    fn cancel_cuts_a_request_in_flight() {
        let (url, gone) = trickling_server();
        let opts = HttpOptions { proxy: None, timeout: Duration::from_secs(30), connect_timeout: Duration::from_secs(5) };
        let t: Arc<dyn Transport> = Arc::new(UreqTransport::new(&opts).unwrap());
        let cancel = CancelToken::new();
        let c2 = Arc::clone(&cancel);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c2.cancel();
        });
        let started = Instant::now();
        let outcome = post_bounded(&t, &url, vec![], &cancel, started + Duration::from_secs(60));
        assert!(matches!(outcome, Outcome::Cancelled), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        let waited = Instant::now();
        while !gone.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone.load(Ordering::SeqCst));
    }
}
