//! A local stand-in for Microsoft Entra ID's device code flow and refresh grant (v1 and v2 endpoints), for
//! tests and the demo, plus a small HTTP proxy for proxy tests. A real HTTP server (tiny_http) on 127.0.0.1
//! that writes Entra's JSON from the documented shapes. Not shipped in the module. The wire protocol it
//! follows, with sources, is /work/shared/docs/entra-device-flow.md in the project's notes; every error
//! answer is in `protocol.rs` with its public source, marked INVENTED or UNCONFIRMED where none backs it.
//!
//! # Endpoints
//! - `POST /{tenant}/oauth2/devicecode` (v1: `client_id`, `resource`) and `POST /{tenant}/oauth2/v2.0/devicecode`
//!   (v2: `client_id`, `scope`). v1 answers `verification_url` with numbers as strings, v2 `verification_uri`
//!   with integers. The verification URL is this server's `/devicelogin` page.
//! - `POST /{tenant}/oauth2/token` (v1: `grant_type`, `client_id`, `code` or `device_code`, `resource`) and
//!   `POST /{tenant}/oauth2/v2.0/token` (v2: `grant_type`, `client_id`, `device_code` or `code`). The poll
//!   takes only the documented grant `urn:ietf:params:oauth:grant-type:device_code`, on both versions; any
//!   other grant gets `unsupported_grant_type` AADSTS70003, none gets `invalid_request` AADSTS900144. A
//!   device code this server did not issue (or issued for another tenant, client or version) gets
//!   `bad_verification_code` AADSTS70018.
//! - The same token endpoints take `grant_type=refresh_token` (v1: `client_id`, `refresh_token`, `resource`;
//!   v2: `client_id`, `refresh_token`, optional `scope`); see "Refresh".
//! - Errors carry `error`, `error_description` ("AADSTSnnnnn: …\r\nTrace ID: …\r\nCorrelation ID: …\r\n
//!   Timestamp: …"), `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`; JSON answers carry
//!   `Cache-Control: no-store, no-cache`, `Pragma: no-cache`, `Expires: -1`,
//!   `Content-Type: application/json; charset=utf-8`.
//! - `GET /devicelogin[?otc=CODE]`: a page where a person types the code (filled in from `otc`, the link in
//!   `verification_uri_complete`) and clicks "Sign in" or "Deny" (`POST /devicelogin` with `user_code` and
//!   `action=approve|deny`). A wrong code shows an error there.
//!
//! # Test hooks
//! - `GET /_test/log`: the requests received (`/_test/*` excluded), each with `method`, `path`, `query`, `ms`
//!   since start, `epoch_ms` (wall clock, ms since the Unix epoch), `form` object, `endpoint`
//!   (devicecode|token|devicelogin|other), `tenant`, `version`. `POST /_test/clear-log` empties it.
//! - `GET /_test/signins`: each sign-in's `user_code`, `device_code`, `tenant`, `version`, `scenario`,
//!   `client_id`, `resource`, `state`, `polls`, `issued_ms`, `refreshes`, `refresh_refusals`, `revoked`, and
//!   once issued the latest `access_token`, `refresh_token`, `id_token`.
//! - `POST /_test/approve`, `POST /_test/decline` (form or query `user_code`): 200
//!   `{"ok":true,"user_code":..,"epoch_ms":..}` with the wall-clock instant the state changed, or 404.
//! - `POST /_test/revoke` (form or query `user_code`, or none for every sign-in): the sign-in's refreshes get
//!   `invalid_grant` AADSTS50173 from then on; 200 `{"ok":true,"revoked":N,"epoch_ms":..}`, or 404 for an
//!   unknown code.
//! - `GET /_test/slow-answers`: `{"in_progress":N,"finished":[..]}`, each `trickle`/`endless-body` answer with
//!   `bytes_sent`, `bytes_total` and how it `ended` (`complete`, `client-gone` or `time-limit`).
//!
//! The same are methods of [`FakeAuthority`]: `log`, `clear_log`, `signins`, `approve`, `decline`, `revoke`,
//! `slow_answers`.
//!
//! # Polling rules
//! Each sign-in starts pending. A poll earlier than the interval (plus 5 s per `slow_down` sent) after the
//! previous poll (or after the code was issued), with 200 ms of grace, gets `invalid_request` AADSTS50196
//! (loop detection; `Options::loop_detection`, CLI `--no-loop-detection`). After `expires_in` seconds polls
//! get `expired_token` AADSTS70020 (v2) or `code_expired` AADSTS70019 (v1). A decline answers
//! `authorization_declined` (v2) or `access_denied` (v1); the AADSTS code used for it (65004) is a stand-in.
//! Approval: by the page or `/_test/approve`; in the scenario `approve` also after `approve_after_polls`
//! pending polls (default 1: the first poll is pending, the second succeeds) and/or `approve_after_secs`;
//! in every scenario after `auto_approve_secs`. A redeemed code gets `invalid_grant` AADSTS54005.
//!
//! # Refresh
//! A refresh token this server issued, presented for the same tenant and client id, gets a new access token
//! and a new refresh token (rotation) in the shapes of the device flow's token answer for the endpoint used
//! (v1: numbers as strings with `expires_on`; v2: integers), so a v1 token may be redeemed on v2 and back.
//! Old refresh tokens stay valid, as Entra's do. Access tokens live `token_lifetime_secs` (CLI
//! `--token-lifetime`, default 3599): `expires_in`, `ext_expires_in`, `expires_on` and the JWT's `exp`, for
//! both grants. Loop detection never applies to refreshes. Refusals (all 400): a token the server never
//! issued, `invalid_grant` AADSTS9002313; one issued to another client or tenant, `invalid_grant`
//! AADSTS70000; after `/_test/revoke`, `invalid_grant` AADSTS50173; and the `refresh-*` scenarios.
//!
//! # Scenarios
//! One per sign-in: the tenant `NAME.scenario.test` selects scenario NAME for that sign-in (e.g.
//! `decline.scenario.test`, `dc-html-error.scenario.test`); any other tenant uses the server's default
//! (`Options::scenario`, CLI `--scenario`, default `approve`). An unknown NAME answers the device code
//! request with 400 `invalid_request` AADSTS90002 (tenant not found). `_` and `-` are the same in names;
//! `--list-scenarios` prints them all.
//! - `approve`, `manual` (approved only by the page, `/_test/approve` or `auto_approve_secs`).
//! - `decline`, `expire`, `slow-down`, `loop-detected` (AADSTS50196), `invalid-client` (401 AADSTS7000218):
//!   the answer to the first poll; `slow-down` then continues as `approve`.
//! - `refresh-invalid-grant`, `refresh-interaction-required`: the sign-in succeeds as `approve`; every
//!   refresh answers `invalid_grant` AADSTS700082 (expired due to inactivity), or `interaction_required`
//!   AADSTS50076 (multi-factor authentication now required).
//! - `devicecode-error-200`: the device code endpoint answers 200 with `unauthorized_client` AADSTS700016.
//! - Faults, at the first token poll, or at the device code request with the prefix `dc-`:
//!   `transient-503` (503, then as `approve`), `transient-429` (429 with `Retry-After: retry_after`),
//!   `transient-503-retry-after` (503 with `Retry-After: retry_after`), `transient-429-no-retry-after` (429
//!   without Retry-After), `reset` (headers and part of the body, then the connection is shut),
//!   `endless-body` (a body that trickles a byte every 250 ms for up to 2 minutes), `trickle` (the whole
//!   answer, status line and headers included, one byte every 200 ms for up to 3 minutes; at the token
//!   stage it is the true answer of that moment, `authorization_pending`, and the sign-in then continues as
//!   `approve`; `dc-trickle` registers the sign-in and trickles its device code answer; the first failed
//!   write ends it), `huge-body` (a 50 MB JSON body), `invalid-utf8`, `malformed-json` (a truncated object),
//!   `missing-fields` (token: no `access_token`; dc: no `user_code`), `wrong-types` (token: `access_token` a
//!   number; dc: `interval` "five"), `redirect-other-host` (302 to `https://login.evil.example`),
//!   `redirect-http` (307 to `http://login.microsoftonline.com`; `--redirect-to URL` points both at URL
//!   instead), `html-error` (502 HTML page; at the token stage on every poll), `slow-response` (every answer
//!   at that stage after `delay_secs`), `extra-fields` (token: extra members in the token response; dc: extra
//!   members in the device code response).
//! - `always-503`: every poll answers 503.
//! - Hostile answers, each otherwise as `approve`: `hostile-text` (the device code `message` carries
//!   terminal escapes, bidi and zero-width characters and about 3 MB of filler), `hostile-user-code` (a
//!   `user_code` with a bidi override and a zero-width space), `hostile-verification-uri` (the page to open is
//!   a look-alike host with `&` and `|` in its query), `huge-numbers` (`expires_in` of 10^12 seconds
//!   in the device code and token answers), `max-numbers` (the same with 2^64-1), `bad-token` (an
//!   `access_token` with CR LF and an escape sequence in it).
//! - `replay-NAME`: one of the answers recorded from the real service (`recorded/NAME.json`, each with its
//!   public source; [`recorded_answers`] lists them) is sent verbatim, status and body bytes, with Entra's
//!   JSON headers. A recorded device code answer answers the device code request, and the sign-in is
//!   registered under its `device_code`, `user_code`, `interval` and `expires_in` so the client's polls
//!   match; a recorded token-stage answer answers the first poll. Afterwards the sign-in goes on as
//!   `approve` (a recorded token redeems the code; its tokens are not this server's, so refreshing them is
//!   refused).
//!
//! # Proxy
//! [`FakeProxy`] (`proxy.rs`; the program's `--proxy` mode) is a small HTTP proxy on 127.0.0.1 for
//! end-to-end proxy tests: `CONNECT host:port` tunnels and absolute-form `http://` requests, a host map
//! (`--map-host login.test.invalid=127.0.0.1:PORT`, repeatable) so a test can use a non-loopback authority
//! name, optional `--require-auth USER:PASS` (407 with `Proxy-Authenticate: Basic` otherwise), and a log of
//! every request (`GET /_proxy/log` on the proxy, `POST /_proxy/clear-log`, or [`FakeProxy::log`]). Only
//! mapped names and loopback addresses are reachable through it. It prints `READY http://127.0.0.1:PORT`
//! and honours `--exit-on-stdin-eof` like the authority. The authority serves HTTPS (`--tls-cert`,
//! `--tls-key`) for whatever name its certificate carries, e.g. `login.test.invalid` from openssl.
//!
//! # Modules
//! Each module uses only modules before it in this order: `util` (randomness, base64, forms), `protocol`
//! (Entra's JSON and the error catalogue with sources), `recorded` (answers recorded from the service),
//! `scenario` (names and parsing), `respond` (writing answers), `fault` (the fault answers), `state`
//! (options, sign-ins, log), `endpoints` (device code and token endpoints), `page` (the device-login page),
//! `tls`, `server` (binding, routing, test hooks), and `proxy`.

mod endpoints;
mod fault;
mod page;
pub mod protocol;
pub mod proxy;
pub mod recorded;
mod respond;
pub mod scenario;
pub mod scratch;
mod server;
mod state;
pub mod tls;
pub mod util;

/// The old name of [`protocol`], kept so paths written against it still resolve.
pub use protocol as entra;
pub use protocol::Version;
pub use proxy::{FakeProxy, ProxyOptions};
pub use recorded::{RecordedAnswer, recorded_answers};
pub use scenario::{Kind, SCENARIO_DOMAIN, Scenario, Stage};
pub use server::FakeAuthority;
pub use state::Options;
