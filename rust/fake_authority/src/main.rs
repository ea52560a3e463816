//! The fake authority as a program, for Pester tests and the demo; with `--proxy`, the test proxy instead.
//! See the crate docs (lib.rs) for the endpoints, the polling and refresh rules, the scenarios and the proxy.
//!
//! ```text
//! fake_authority [--port N] [--interval S] [--expires-in S] [--scenario NAME]
//!                [--approve-after-polls N] [--approve-after-secs T] [--auto-approve-secs T]
//!                [--token-prefix X] [--token-lifetime S] [--retry-after S] [--delay-secs S] [--no-loop-detection]
//!                [--tls-cert PEM --tls-key PEM] [--redirect-to URL] [--exit-on-stdin-eof] [--verbose] [--list-scenarios]
//! fake_authority --proxy [--port N] [--map-host HOST=IP:PORT]... [--require-auth USER:PASS]
//!                [--exit-on-stdin-eof] [--verbose]
//! ```
//! The first line on stdout is exactly `READY http://127.0.0.1:PORT` (`https://` for the authority with TLS);
//! it serves until killed or, with `--exit-on-stdin-eof`, until stdin closes. Per sign-in scenarios: tenant
//! `NAME.scenario.test`.

use fake_authority::proxy::parse_map_host;
use fake_authority::{FakeAuthority, FakeProxy, Options, ProxyOptions, Scenario};
use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: fake_authority [--port N] [--interval S] [--expires-in S] [--scenario NAME]
                      [--approve-after-polls N] [--approve-after-secs T] [--auto-approve-secs T]
                      [--token-prefix X] [--token-lifetime S] [--retry-after S] [--delay-secs S] [--no-loop-detection]
                      [--tls-cert PEM --tls-key PEM] [--redirect-to URL] [--exit-on-stdin-eof] [--verbose] [--list-scenarios]
       fake_authority --proxy [--port N] [--map-host HOST=IP:PORT]... [--require-auth USER:PASS]
                      [--exit-on-stdin-eof] [--verbose]
A local stand-in for Entra ID's device code and refresh endpoints (v1 and v2). Not Microsoft.
Prints `READY http://127.0.0.1:PORT` when listening (`https://` with --tls-cert and --tls-key).
Tenant NAME.scenario.test picks scenario NAME per sign-in (--list-scenarios lists them).

Authority:
  --port N                 listen on 127.0.0.1:N (default: a free port)
  --interval S             polling interval the device code answer asks for (default 5)
  --expires-in S           device code lifetime (default 900)
  --scenario NAME          scenario for tenants that do not pick one (default approve)
  --approve-after-polls N  approve after N pending polls (default 1)
  --approve-after-secs T   approve T seconds after the code was issued
  --auto-approve-secs T    approve every scenario's sign-in T seconds after issue
  --token-prefix X         start of each access token's signature part (letters, digits, - and _)
  --token-lifetime S       access token lifetime for sign-ins and refreshes: expires_in, expires_on, JWT exp (default 3599)
  --retry-after S          Retry-After of the 429/503 scenarios (default 3)
  --delay-secs S           delay of slow-response (default 3)
  --no-loop-detection      never answer a fast poll with AADSTS50196
  --tls-cert PEM --tls-key PEM  serve HTTPS with this certificate chain and key
  --redirect-to URL        where the redirect scenarios point
Proxy (--proxy): CONNECT tunnels and absolute-form http:// requests, logged at GET /_proxy/log.
  --port N                 listen on 127.0.0.1:N (default: a free port)
  --map-host HOST=IP:PORT  send requests for HOST (any port) to IP:PORT; repeatable. Other names than
                           mapped ones and loopback addresses are answered 502.
  --require-auth USER:PASS answer 407 (Proxy-Authenticate: Basic) unless Proxy-Authorization matches
Both:
  --exit-on-stdin-eof      exit when stdin closes
  --verbose                one line per request on stderr";

fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
    v.parse::<T>().map_err(|_| format!("{name}: '{v}' is not a valid number"))
}

fn parse(args: &[String]) -> Result<(Options, bool), String> {
    let mut o = Options::default();
    let mut exit_on_eof = false;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => o.port = num("--port", value(a)?)?,
            "--interval" => o.interval = num("--interval", value(a)?)?,
            "--expires-in" => o.expires_in = num("--expires-in", value(a)?)?,
            "--scenario" => {
                let v = value(a)?;
                o.scenario = Scenario::parse(&v).ok_or_else(|| format!("--scenario: unknown scenario '{v}' (see --list-scenarios)"))?;
            }
            "--approve-after-polls" => o.approve_after_polls = Some(num("--approve-after-polls", value(a)?)?),
            "--approve-after-secs" => o.approve_after_secs = Some(num("--approve-after-secs", value(a)?)?),
            "--auto-approve-secs" => o.auto_approve_secs = Some(num("--auto-approve-secs", value(a)?)?),
            "--token-prefix" => {
                let v = value(a)?;
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err("--token-prefix: use letters, digits, '-' or '_'".into());
                }
                o.token_prefix = v;
            }
            "--token-lifetime" => o.token_lifetime_secs = num("--token-lifetime", value(a)?)?,
            "--retry-after" => o.retry_after = num("--retry-after", value(a)?)?,
            "--delay-secs" => o.delay_secs = num("--delay-secs", value(a)?)?,
            "--tls-cert" => tls_cert = Some(std::path::PathBuf::from(value(a)?)),
            "--tls-key" => tls_key = Some(std::path::PathBuf::from(value(a)?)),
            "--redirect-to" => o.redirect_to = Some(value(a)?),
            "--no-loop-detection" => o.loop_detection = false,
            "--exit-on-stdin-eof" => exit_on_eof = true,
            "--verbose" => o.verbose = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    o.tls = match (tls_cert, tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    if o.interval == 0 || o.expires_in == 0 || o.token_lifetime_secs == 0 {
        return Err("--interval, --expires-in and --token-lifetime must be at least 1".into());
    }
    Ok((o, exit_on_eof))
}

fn parse_proxy(args: &[String]) -> Result<(ProxyOptions, bool), String> {
    let mut o = ProxyOptions::default();
    let mut exit_on_eof = false;
    let mut it = args.iter().filter(|a| *a != "--proxy");
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => o.port = num("--port", value(a)?)?,
            "--map-host" => o.map_hosts.push(parse_map_host(&value(a)?).map_err(|e| format!("--map-host {e}"))?),
            "--require-auth" => {
                let v = value(a)?;
                if !v.contains(':') {
                    return Err("--require-auth: expected USER:PASS".into());
                }
                o.require_auth = Some(v);
            }
            "--exit-on-stdin-eof" => exit_on_eof = true,
            "--verbose" => o.verbose = true,
            other => return Err(format!("unknown argument '{other}' in --proxy mode")),
        }
    }
    Ok((o, exit_on_eof))
}

fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

fn ready(url: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY {url}");
    let _ = out.flush();
}

fn fail(e: String) -> ExitCode {
    eprintln!("fake_authority: {e}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--list-scenarios") {
        for n in Scenario::all_names() {
            println!("{n}");
        }
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--proxy") {
        let (opts, exit_on_eof) = match parse_proxy(&args) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let proxy = match FakeProxy::start(opts) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("fake_authority: the proxy cannot listen: {e}");
                return ExitCode::from(1);
            }
        };
        ready(&proxy.url());
        if exit_on_eof {
            exit_when_stdin_closes();
        }
        proxy.wait();
        return ExitCode::SUCCESS;
    }
    let (opts, exit_on_eof) = match parse(&args) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let server = match FakeAuthority::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake_authority: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    ready(&server.base_url());
    if exit_on_eof {
        exit_when_stdin_closes();
    }
    server.wait();
    ExitCode::SUCCESS
}
