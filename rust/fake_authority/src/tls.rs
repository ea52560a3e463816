//! TLS in front of the fake authority (`--tls-cert`/`--tls-key`): a listener that terminates TLS with rustls
//! and relays the plain bytes to the HTTP server on an internal loopback port. Tests use it to check that the
//! client trusts only what the OS trust store (or SSL_CERT_FILE) says, with certificates made at test time.

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long each side is waited on before looking at the other one.
const SLICE: Duration = Duration::from_millis(10);

/// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1) into a server config.
pub fn server_config(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let open = |p: &Path| std::fs::File::open(p).map(BufReader::new).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())));
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert)?).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(io::Error::other(format!("{}: no certificate in it", cert.display())));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut open(key)?)?
        .ok_or_else(|| io::Error::other(format!("{}: no private key in it", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// A running TLS listener; stops accepting when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on 127.0.0.1:`port` (0: any) and relays each connection to 127.0.0.1:`backend_port`.
    pub fn start(port: u16, backend_port: u16, config: Arc<ServerConfig>) -> io::Result<TlsFront> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("fake-authority-tls".into()).spawn({
            let stop = Arc::clone(&stop);
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let config = Arc::clone(&config);
                    let _ = std::thread::Builder::new().name("fake-authority-tls-conn".into()).spawn(move || {
                        let _ = relay(client, backend_port, config);
                    });
                }
            }
        })?;
        Ok(TlsFront { addr, stop, thread: Some(thread) })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn idle(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// One connection: TLS with the client, plain HTTP with the backend, until either side ends.
fn relay(mut client: TcpStream, backend_port: u16, config: Arc<ServerConfig>) -> io::Result<()> {
    let mut conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    client.set_read_timeout(Some(SLICE))?;
    let mut backend: Option<TcpStream> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let result = (|| -> io::Result<()> {
        loop {
            // Client to backend.
            match conn.read_tls(&mut client) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // Send the alert (e.g. the client refused our certificate), then stop.
                        let _ = conn.write_tls(&mut client);
                        return Err(io::Error::other(e));
                    }
                    loop {
                        match conn.reader().read(&mut buf) {
                            Ok(0) => return Ok(()),
                            Ok(n) => {
                                if backend.is_none() {
                                    let b = TcpStream::connect(("127.0.0.1", backend_port))?;
                                    b.set_read_timeout(Some(SLICE))?;
                                    backend = Some(b);
                                }
                                if let Some(b) = backend.as_mut() {
                                    b.write_all(&buf[..n])?;
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) if idle(&e) => {}
                Err(e) => return Err(e),
            }
            while conn.wants_write() {
                conn.write_tls(&mut client)?;
            }
            // Backend to client.
            if let Some(b) = backend.as_mut() {
                match b.read(&mut buf) {
                    Ok(0) => {
                        conn.send_close_notify();
                        while conn.wants_write() {
                            conn.write_tls(&mut client)?;
                        }
                        return Ok(());
                    }
                    Ok(n) => conn.writer().write_all(&buf[..n])?,
                    Err(e) if idle(&e) => {}
                    Err(e) => return Err(e),
                }
                while conn.wants_write() {
                    conn.write_tls(&mut client)?;
                }
            }
        }
    })();
    if let Some(b) = backend {
        let _ = b.shutdown(Shutdown::Both);
    }
    let _ = client.shutdown(Shutdown::Both);
    result
}

/// Certificates made for one test: a CA of its own and a server certificate it signs, as PEM files in a folder
/// (`ca.pem`, `server.pem`, `server.key`) and as DER. Made in process (rcgen), so tests need no openssl
/// command, on Windows neither.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    pub ca_pem: std::path::PathBuf,
    pub cert_pem: std::path::PathBuf,
    pub key_pem: std::path::PathBuf,
    pub ca_der: Vec<u8>,
    pub cert_der: Vec<u8>,
}

/// A CA named `ca_name` and a server certificate for `names` (DNS names or IP addresses) signed by it,
/// written into `dir`.
pub fn make_test_certificates(dir: &Path, ca_name: &str, names: &[&str]) -> io::Result<TestCertificates> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let err = |e: rcgen::Error| io::Error::other(format!("making test certificates: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let mut server = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(err)?;
    server.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().map_err(err)?;
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).map_err(err)?;
    let out = TestCertificates {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("server.pem"),
        key_pem: dir.join("server.key"),
        ca_der: ca_cert.der().to_vec(),
        cert_der: server_cert.der().to_vec(),
    };
    std::fs::write(&out.ca_pem, ca_cert.pem())?;
    std::fs::write(&out.cert_pem, server_cert.pem())?;
    std::fs::write(&out.key_pem, server_key.serialize_pem())?;
    Ok(out)
}
