//! Native core of the d365fo.interactive PowerShell module: the Entra ID device code sign-in, the session's
//! tokens, the settings and the OData configuration store shared with d365fo.integrations, exposed to the
//! C# cmdlets through a small C ABI (`ffi`, described in `include/d365fo_interactive.h`).
//!
//! A request travels: `ffi` (C ABI, panic boundary) → `api` (typed request, environment and store read) →
//! `session` (reuse, refresh) → `flow` (device flow) → `poller` (decisions) and `http` (transport) → `wire`
//! (answers checked). `settings`, `validate` and `text` hold the facts every layer shares.

pub mod api;
pub mod cancel;
pub mod clock;
pub mod configs;
pub mod desktop;
pub mod dpapi;
pub mod error;
pub mod ffi;
pub mod flow;
pub mod http;
pub mod legacy;
pub mod page;
pub mod poller;
pub mod protocol;
pub mod psf;
pub mod session;
pub mod settings;
pub mod store;
pub mod text;
pub mod validate;
#[cfg(windows)]
pub mod winclip;
#[cfg(windows)]
pub mod wintls;
pub mod wire;

/// Version of the C ABI; the C# binding refuses a library with any other number.
pub const ABI_VERSION: u32 = 2;
