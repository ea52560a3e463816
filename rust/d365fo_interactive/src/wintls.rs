//! TLS on Windows: rustls for the protocol (its ring provider checks the handshake signatures), and Windows'
//! own chain verification for trust: `CertGetCertificateChain` with the current user's chain engine, then
//! `CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL)` for the host name. So the server is trusted
//! exactly when Windows trusts it for this user: the user's and the machine's root stores (where companies put
//! their TLS-inspection roots), group policy, and the roots Windows fetches on demand (automatic root update),
//! which a copy of the stores' certificates would miss.
//!
//! ureq 3.0.11 has no hook for a custom rustls verifier, so this module brings its own TLS step for ureq's
//! connector chain (`WindowsTlsConnector`), in place of ureq's `RustlsConnector`. Linux and macOS keep ureq's
//! platform verifier.
//!
//! The Win32 declarations are written by hand from the documented signatures (crypt32.dll), as in `dpapi.rs`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::ffi::c_void;
use std::io::{Read, Write};
use std::sync::Arc;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter};

type HCertStore = *mut c_void;

#[repr(C)]
struct CertContext {
    encoding: u32,
    encoded: *mut u8,
    encoded_len: u32,
    info: *mut c_void,
    store: HCertStore,
}

#[repr(C)]
struct EnhKeyUsage {
    count: u32,
    identifiers: *const *const u8,
}

#[repr(C)]
struct UsageMatch {
    match_type: u32,
    usage: EnhKeyUsage,
}

/// CERT_CHAIN_PARA with the fields through dwUrlRetrievalTimeout (cbSize says how many are present).
#[repr(C)]
struct ChainPara {
    size: u32,
    requested_usage: UsageMatch,
    requested_issuance_policy: UsageMatch,
    url_retrieval_timeout_ms: u32,
}

#[repr(C)]
struct TrustStatus {
    error_status: u32,
    info_status: u32,
}

/// The head of CERT_CHAIN_CONTEXT (only read, never allocated here).
#[repr(C)]
struct ChainContext {
    size: u32,
    trust: TrustStatus,
}

#[repr(C)]
struct SslExtraPolicyPara {
    size: u32,
    auth_type: u32,
    checks: u32,
    server_name: *const u16,
}

#[repr(C)]
struct PolicyPara {
    size: u32,
    flags: u32,
    extra: *mut c_void,
}

#[repr(C)]
struct PolicyStatus {
    size: u32,
    error: u32,
    chain_index: i32,
    element_index: i32,
    extra: *mut c_void,
}

const X509_ASN_ENCODING: u32 = 0x1;
const PKCS_7_ASN_ENCODING: u32 = 0x1_0000;
const CERT_STORE_PROV_MEMORY: usize = 2;
const CERT_STORE_ADD_ALWAYS: u32 = 4;
const USAGE_MATCH_TYPE_AND: u32 = 0;
const CERT_CHAIN_REVOCATION_CHECK_END_CERT: u32 = 0x1000_0000;
const CERT_CHAIN_REVOCATION_ACCUMULATIVE_TIMEOUT: u32 = 0x0800_0000;
const CERT_CHAIN_POLICY_SSL: usize = 4;
const AUTHTYPE_SERVER: u32 = 2;
/// A revocation status that could not be found out (no CRL or OCSP answer reachable) does not fail the check;
/// a certificate known to be revoked does.
const CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS: u32 = 0x0000_0F00;
/// How long Windows may spend fetching revocation lists, intermediates and roots for one chain.
const URL_RETRIEVAL_TIMEOUT_MS: u32 = 5_000;
const SERVER_AUTH_OID: &[u8] = b"1.3.6.1.5.5.7.3.1\0";

const CERT_TRUST_IS_UNTRUSTED_ROOT: u32 = 0x0000_0020;
const CERT_TRUST_IS_PARTIAL_CHAIN: u32 = 0x0001_0000;
const CERT_E_EXPIRED: u32 = 0x800B_0101;
const CERT_E_UNTRUSTEDROOT: u32 = 0x800B_0109;
const CERT_E_CHAINING: u32 = 0x800B_010A;
const CERT_E_CN_NO_MATCH: u32 = 0x800B_010F;
const CERT_E_WRONG_USAGE: u32 = 0x800B_0110;
const CRYPT_E_REVOKED: u32 = 0x8009_2010;
const TRUST_E_CERT_SIGNATURE: u32 = 0x8009_6004;
const CERT_E_UNTRUSTEDTESTROOT: u32 = 0x800B_010D;

#[link(name = "crypt32")]
unsafe extern "system" {
    fn CertOpenStore(provider: usize, encoding: u32, crypt_prov: usize, flags: u32, para: *const c_void) -> HCertStore;
    fn CertCloseStore(store: HCertStore, flags: u32) -> i32;
    fn CertAddEncodedCertificateToStore(
        store: HCertStore,
        encoding: u32,
        encoded: *const u8,
        encoded_len: u32,
        disposition: u32,
        context: *mut *const CertContext,
    ) -> i32;
    fn CertFreeCertificateContext(context: *const CertContext) -> i32;
    fn CertGetCertificateChain(
        engine: *mut c_void,
        cert: *const CertContext,
        time: *const c_void,
        additional: HCertStore,
        para: *const ChainPara,
        flags: u32,
        reserved: *mut c_void,
        chain: *mut *const ChainContext,
    ) -> i32;
    fn CertFreeCertificateChain(chain: *const ChainContext);
    fn CertVerifyCertificateChainPolicy(
        policy: usize,
        chain: *const ChainContext,
        para: *const PolicyPara,
        status: *mut PolicyStatus,
    ) -> i32;
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn GetLastError() -> u32;
}

/// Frees what it holds when dropped, so every early return releases the Win32 objects.
struct Owned {
    store: HCertStore,
    cert: *const CertContext,
    chain: *const ChainContext,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: each handle was returned by crypt32 and is freed once, in reverse order of creation.
        unsafe {
            if !self.chain.is_null() {
                CertFreeCertificateChain(self.chain);
            }
            if !self.cert.is_null() {
                CertFreeCertificateContext(self.cert);
            }
            if !self.store.is_null() {
                CertCloseStore(self.store, 0);
            }
        }
    }
}

fn other(why: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(std::io::Error::other(why)))))
}

/// The certificate error for a CERT_E_* / CRYPT_E_* code of the SSL policy.
fn policy_error(code: u32) -> rustls::Error {
    let cert = match code {
        CERT_E_UNTRUSTEDROOT | CERT_E_CHAINING | CERT_E_UNTRUSTEDTESTROOT => CertificateError::UnknownIssuer,
        CERT_E_EXPIRED => CertificateError::Expired,
        CERT_E_CN_NO_MATCH => CertificateError::NotValidForName,
        CERT_E_WRONG_USAGE => CertificateError::InvalidPurpose,
        CRYPT_E_REVOKED => CertificateError::Revoked,
        TRUST_E_CERT_SIGNATURE => CertificateError::BadSignature,
        _ => return other(format!("Windows did not accept the server's certificate (error 0x{code:08X})")),
    };
    rustls::Error::InvalidCertificate(cert)
}

/// The name Windows' SSL policy compares with the certificate: a DNS name, or an IP address as text.
fn policy_name(name: &ServerName<'_>) -> Result<Vec<u16>, rustls::Error> {
    let text = match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => return Err(other("the server's name is of a kind Windows cannot check".into())),
    };
    Ok(text.encode_utf16().chain(Some(0)).collect())
}

/// Asks Windows whether it trusts `end_entity` (with the server's `intermediates`) for TLS server
/// authentication to `name`, as of now.
pub fn verify_with_windows(end_entity: &[u8], intermediates: &[&[u8]], name: &ServerName<'_>) -> Result<(), rustls::Error> {
    let wide_name = policy_name(name)?;
    let encoding = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;
    let len = |b: &[u8]| u32::try_from(b.len()).map_err(|_| other("a certificate is too large".into()));
    // SAFETY: an in-memory store with no parameters.
    let store = unsafe { CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, std::ptr::null()) };
    let mut owned = Owned { store, cert: std::ptr::null(), chain: std::ptr::null() };
    if store.is_null() {
        // SAFETY: plain Win32 call.
        return Err(other(format!("Windows could not open a certificate store (error {})", unsafe { GetLastError() })));
    }
    for der in intermediates {
        // SAFETY: der is valid for the call; the store copies it. A certificate Windows cannot parse is left out
        // (the chain then fails on its own if it was needed).
        unsafe { CertAddEncodedCertificateToStore(store, encoding, der.as_ptr(), len(der)?, CERT_STORE_ADD_ALWAYS, std::ptr::null_mut()) };
    }
    // SAFETY: as above; owned.cert receives a context freed by Owned.
    let added = unsafe {
        CertAddEncodedCertificateToStore(store, encoding, end_entity.as_ptr(), len(end_entity)?, CERT_STORE_ADD_ALWAYS, &mut owned.cert)
    };
    if added == 0 || owned.cert.is_null() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding));
    }
    let usage = [SERVER_AUTH_OID.as_ptr()];
    let para = ChainPara {
        size: std::mem::size_of::<ChainPara>() as u32,
        requested_usage: UsageMatch { match_type: USAGE_MATCH_TYPE_AND, usage: EnhKeyUsage { count: 1, identifiers: usage.as_ptr() } },
        requested_issuance_policy: UsageMatch {
            match_type: USAGE_MATCH_TYPE_AND,
            usage: EnhKeyUsage { count: 0, identifiers: std::ptr::null() },
        },
        url_retrieval_timeout_ms: URL_RETRIEVAL_TIMEOUT_MS,
    };
    // SAFETY: the default engine (the current user's), now; every pointer is valid for the call; owned.chain
    // receives a chain freed by Owned.
    let built = unsafe {
        CertGetCertificateChain(
            std::ptr::null_mut(),
            owned.cert,
            std::ptr::null(),
            store,
            &para,
            CERT_CHAIN_REVOCATION_CHECK_END_CERT | CERT_CHAIN_REVOCATION_ACCUMULATIVE_TIMEOUT,
            std::ptr::null_mut(),
            &mut owned.chain,
        )
    };
    if built == 0 || owned.chain.is_null() {
        // SAFETY: plain Win32 call.
        return Err(other(format!("Windows could not build the certificate chain (error {})", unsafe { GetLastError() })));
    }
    // What Windows found about the chain itself: a root no store trusts (or no way to one) is said as such,
    // whatever else the SSL policy would report first (Wine, for one, reports the missing revocation list).
    // SAFETY: a chain context returned above; its head is read only.
    let chain_errors = unsafe { (*owned.chain).trust.error_status };
    if chain_errors & (CERT_TRUST_IS_UNTRUSTED_ROOT | CERT_TRUST_IS_PARTIAL_CHAIN) != 0 {
        return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
    }
    let mut extra = SslExtraPolicyPara {
        size: std::mem::size_of::<SslExtraPolicyPara>() as u32,
        auth_type: AUTHTYPE_SERVER,
        checks: 0,
        server_name: wide_name.as_ptr(),
    };
    let policy = PolicyPara {
        size: std::mem::size_of::<PolicyPara>() as u32,
        flags: CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS,
        extra: (&mut extra as *mut SslExtraPolicyPara).cast(),
    };
    let mut status = PolicyStatus {
        size: std::mem::size_of::<PolicyStatus>() as u32,
        error: 0,
        chain_index: -1,
        element_index: -1,
        extra: std::ptr::null_mut(),
    };
    // SAFETY: the chain built above, parameters valid for the call.
    let checked = unsafe { CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, owned.chain, &policy, &mut status) };
    if checked == 0 {
        // SAFETY: plain Win32 call.
        return Err(other(format!("Windows could not check the certificate chain (error {})", unsafe { GetLastError() })));
    }
    match status.error {
        0 => Ok(()),
        code => Err(policy_error(code)),
    }
}

/// rustls' verifier hook: trust decided by Windows, handshake signatures checked with rustls' ring provider.
#[derive(Debug)]
pub struct WindowsVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl WindowsVerifier {
    pub fn new(provider: &CryptoProvider) -> WindowsVerifier {
        WindowsVerifier { algorithms: provider.signature_verification_algorithms }
    }
}

impl ServerCertVerifier for WindowsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let inter: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
        verify_with_windows(end_entity.as_ref(), &inter, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls client configuration: ring, TLS 1.2 and 1.3, trust by Windows.
pub fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(WindowsVerifier::new(&provider));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous() // not dangerous: the verifier is Windows' own chain verification
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS step of ureq's connector chain on Windows: wraps the chained transport (TCP, or a proxy's tunnel)
/// in rustls with `client_config` when the URL is https.
pub struct WindowsTlsConnector {
    config: Result<Arc<ClientConfig>, String>,
}

impl WindowsTlsConnector {
    pub fn new() -> WindowsTlsConnector {
        WindowsTlsConnector { config: client_config().map_err(|e| e.to_string()) }
    }
}

impl std::fmt::Debug for WindowsTlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsTlsConnector").finish()
    }
}

impl<In: Transport> Connector<In> for WindowsTlsConnector {
    type Out = Either<In, WindowsTlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no connection to put TLS on"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self.config.as_ref().map_err(|_| ureq::Error::Tls("TLS could not be set up"))?;
        let host = details.uri.authority().map(|a| a.host()).unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|_| ureq::Error::Tls("the host name is not valid for TLS"))?;
        let conn = ClientConnection::new(Arc::clone(config), name)?;
        let stream = StreamOwned { conn, sock: TransportAdapter::new(transport.boxed()) };
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(WindowsTlsTransport { buffers, stream })))
    }
}

/// A TLS connection for ureq over another transport.
pub struct WindowsTlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for WindowsTlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsTlsTransport").finish()
    }
}

impl Transport for WindowsTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ServerName<'static> {
        ServerName::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn a_certificate_windows_does_not_trust_is_an_unknown_issuer() {
        let dir = fake_authority::scratch::tempdir();
        let c = fake_authority::tls::make_test_certificates(dir.path(), "d365fo.interactive untrusted test CA", &["login.test.invalid"])
            .unwrap();
        let e = verify_with_windows(&c.cert_der, &[], &name("login.test.invalid")).unwrap_err();
        assert_eq!(e, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        // With its CA sent along as an intermediate it is still not trusted: the CA is in no root store.
        let e = verify_with_windows(&c.cert_der, &[&c.ca_der], &name("login.test.invalid")).unwrap_err();
        assert_eq!(e, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
    }

    #[test]
    fn garbage_is_a_bad_encoding_and_policy_codes_are_named() {
        let e = verify_with_windows(b"not a certificate", &[], &name("a.example")).unwrap_err();
        assert_eq!(e, rustls::Error::InvalidCertificate(CertificateError::BadEncoding));
        assert_eq!(policy_error(CERT_E_CN_NO_MATCH), rustls::Error::InvalidCertificate(CertificateError::NotValidForName));
        assert_eq!(policy_error(CERT_E_EXPIRED), rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert_eq!(policy_error(CRYPT_E_REVOKED), rustls::Error::InvalidCertificate(CertificateError::Revoked));
        assert!(policy_error(0x800B_0111).to_string().contains("0x800B0111"));
        assert_eq!(policy_name(&name("127.0.0.1")).unwrap(), "127.0.0.1\0".encode_utf16().collect::<Vec<_>>());
    }

    #[test]
    fn the_verifier_offers_the_ring_providers_signature_schemes() {
        let provider = rustls::crypto::ring::default_provider();
        let v = WindowsVerifier::new(&provider);
        let schemes = v.supported_verify_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256) && schemes.contains(&SignatureScheme::RSA_PSS_SHA256));
    }
}
