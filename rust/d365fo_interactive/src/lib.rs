//! Native core of the d365fo.interactive PowerShell module: the Entra ID device code sign-in and the
//! OData configuration store, exposed to the C# cmdlets through a small C ABI (`ffi`, described in
//! `include/d365fo_interactive.h`).

pub mod cancel;
pub mod clock;
pub mod config;
pub mod desktop;
pub mod dpapi;
pub mod error;
pub mod ffi;
pub mod flow;
pub mod http;
pub mod psframework;
pub mod settings;
pub mod store;
pub mod validate;
pub mod wire;

/// Version of the C ABI; the C# binding refuses a library with any other number.
pub const ABI_VERSION: u32 = 1;
