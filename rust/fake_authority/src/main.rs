//! The fake authority as a program, for Pester tests and the demo. See the crate docs (lib.rs) for the
//! endpoints, the polling rules and the scenarios.
//!
//! ```text
//! fake_authority [--port N] [--interval S] [--expires-in S] [--scenario NAME]
//!                [--approve-after-polls N] [--approve-after-secs T] [--auto-approve-secs T]
//!                [--token-prefix X] [--token-lifetime S] [--retry-after S] [--delay-secs S] [--no-loop-detection]
//!                [--tls-cert PEM --tls-key PEM] [--redirect-to URL] [--exit-on-stdin-eof] [--verbose] [--list-scenarios]
//! ```
//! The first line on stdout is exactly `READY http://127.0.0.1:PORT`; it serves until killed or, with
//! `--exit-on-stdin-eof`, until stdin closes. Per sign-in scenarios: tenant `NAME.scenario.test`.

use fake_authority::{FakeAuthority, Options, Scenario};
use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: fake_authority [--port N] [--interval S] [--expires-in S] [--scenario NAME]
                      [--approve-after-polls N] [--approve-after-secs T] [--auto-approve-secs T]
                      [--token-prefix X] [--token-lifetime S] [--retry-after S] [--delay-secs S] [--no-loop-detection]
                      [--tls-cert PEM --tls-key PEM] [--redirect-to URL] [--exit-on-stdin-eof] [--verbose] [--list-scenarios]
A local stand-in for Entra ID's device code endpoints (v1 and v2). Not Microsoft.
Prints `READY http://127.0.0.1:PORT` when listening (`https://` with --tls-cert and --tls-key). Tenant NAME.scenario.test picks scenario NAME per sign-in.";

fn parse(args: &[String]) -> Result<(Options, bool), String> {
    let mut o = Options::default();
    let mut exit_on_eof = false;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse::<T>().map_err(|_| format!("{name}: '{v}' is not a valid number"))
        }
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
            "--retry-after" => o.retry_after = num("--retry-after", value(a)?)?,
            "--delay-secs" => o.delay_secs = num("--delay-secs", value(a)?)?,
            "--token-lifetime" => o.token_lifetime_secs = num("--token-lifetime", value(a)?)?,
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
    let (opts, exit_on_eof) = match parse(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fake_authority: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match FakeAuthority::start(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake_authority: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "READY {}", server.base_url());
    let _ = out.flush();
    if exit_on_eof {
        std::thread::spawn(|| {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
    }
    server.wait();
    ExitCode::SUCCESS
}
