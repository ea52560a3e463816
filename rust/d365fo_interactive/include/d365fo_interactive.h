/*
 * d365fo_interactive: the C ABI of the native core of the d365fo.interactive PowerShell module.
 * Hand-written (interoptopus/csbindgen/cbindgen are not used); this header is the contract the C# binding
 * (dotnet-shim/src/Native.cs) follows. Bump D365FO_ABI_VERSION on any incompatible change: the module
 * refuses to import a library whose d365fo_abi_version() differs. rust/d365fo_interactive/tests/abi_drift.rs
 * fails when this header, the Rust result codes and the C# binding disagree.
 *
 * Conventions (after rustls-ffi):
 *  - Every fallible function returns a d365fo_result; numbers are explicit and never reused.
 *  - Every exported body runs inside one panic boundary: a Rust panic becomes D365FO_PANIC, never a crash.
 *  - Every pointer is checked: NULL where a value is required gives D365FO_NULL_PARAMETER.
 *  - Handles are opaque 64-bit ids, never pointers: an unknown or freed id gives D365FO_INVALID_HANDLE.
 *  - Strings in are NUL-terminated UTF-8 and copied during the call; strings out are NUL-terminated UTF-8
 *    allocated by the library and released with d365fo_string_free (never with free()).
 *  - Callbacks take userdata first and run synchronously on the thread that made the call, inside the call.
 */
#ifndef D365FO_INTERACTIVE_H
#define D365FO_INTERACTIVE_H

#include <stdint.h>

#define D365FO_ABI_VERSION 2

typedef int32_t d365fo_result;
enum {
    D365FO_OK = 0,
    D365FO_NULL_PARAMETER = 1,   /* a required pointer was NULL */
    D365FO_INVALID_UTF8 = 2,     /* an input string was not UTF-8 */
    D365FO_INVALID_REQUEST = 3,  /* request JSON malformed, or a value (tenant, url, timeout, name, setting) refused */
    D365FO_CANCELLED = 4,        /* d365fo_cancel_request was called */
    D365FO_TIMED_OUT = 5,        /* the caller's timeout elapsed before the user signed in */
    D365FO_CODE_EXPIRED = 6,     /* the device code expired (its lifetime, or expired_token/code_expired) */
    D365FO_DECLINED = 7,         /* the user declined the sign-in */
    D365FO_AUTHORITY_ERROR = 8,  /* the authority answered with an OAuth error (error, error_description, AADSTS) */
    D365FO_NETWORK_ERROR = 9,    /* connect, TLS, reset, read timeout, proxy */
    D365FO_PROTOCOL_ERROR = 10,  /* the authority answered something that is not the protocol (garbage, too big, redirect) */
    D365FO_STORE_ERROR = 11,     /* the configuration store could not be read or written */
    D365FO_NOT_FOUND = 12,       /* no such configuration, path or session entry */
    D365FO_ALREADY_EXISTS = 13,  /* a configuration with that name exists and force was not given */
    D365FO_INVALID_HANDLE = 14,  /* unknown or already freed handle */
    D365FO_URL_MISSING = 15,     /* no Url given and none in the active configuration */
    D365FO_TENANT_MISSING = 16,  /* no tenant given and none in the active configuration */
    D365FO_STORE_PERMISSION_DENIED = 17,  /* the store is read-only for this user or open to other accounts */
    D365FO_PANIC = 99            /* a bug in the core; caught at the boundary */
};

/* Version of this ABI (D365FO_ABI_VERSION). Never fails. */
uint32_t d365fo_abi_version(void);

/* The core's semantic version, e.g. "0.2.0". Static: do not free. */
const char *d365fo_version(void);

/* Frees a string returned by this library. NULL is accepted. Each string exactly once. */
void d365fo_string_free(char *s);

/* Cancellation. A handle may be cancelled from any thread, any number of times; a call waiting on it
 * returns D365FO_CANCELLED within 200 ms, with its requests cut. Free exactly once, after the call using
 * it has returned. */
d365fo_result d365fo_cancel_new(uint64_t *out_handle);
d365fo_result d365fo_cancel_request(uint64_t handle);
d365fo_result d365fo_cancel_free(uint64_t handle);

/* Events of a running call, as one JSON object tagged by "event"; event_json is valid only during the
 * callback: code_issued, clipboard, browser, tick, refresh_refused, warning, notice, log (see src/protocol.rs).
 * No event ever carries a token or a device code. */
typedef void (*d365fo_event_cb)(void *userdata, const char *event_json);

/* Runs one request and blocks until it ends. request_json is one JSON object tagged by "op":
 *   sign_in, session_lookup, session_token, settings_get, settings_set, config_list, config_active,
 *   config_add, config_set_active, config_scan, config_import, store_info, environment,
 *   environment_set, session_clear
 * (fields and answers: rust/d365fo_interactive/src/protocol.rs).
 * cancel: 0 for none, else a handle from d365fo_cancel_new. cb may be NULL.
 * out_json is always written (unless it is NULL): the answer on D365FO_OK, otherwise
 * {"code":n,"kind":"..","message":"..", optional "error","error_description","aadsts","http_status","source"}. */
d365fo_result d365fo_call(const char *request_json, uint64_t cancel, d365fo_event_cb cb, void *userdata,
                          char **out_json);

#endif
