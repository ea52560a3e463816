/*
 * d365fo_interactive: the C ABI of the native core of the d365fo.interactive PowerShell module.
 * Hand-written (interoptopus/csbindgen/cbindgen are not used); this header is the contract the C# binding
 * (dotnet-shim/src/Native.cs) follows. Bump D365FO_ABI_VERSION on any incompatible change: the module
 * refuses to import a library whose d365fo_abi_version() differs.
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

#define D365FO_ABI_VERSION 1

typedef int32_t d365fo_result;
enum {
    D365FO_OK = 0,
    D365FO_NULL_PARAMETER = 1,   /* a required pointer was NULL */
    D365FO_INVALID_UTF8 = 2,     /* an input string was not UTF-8 */
    D365FO_INVALID_REQUEST = 3,  /* request JSON malformed, or a value (tenant, url, timeout, name) refused */
    D365FO_CANCELLED = 4,        /* d365fo_cancel_request was called */
    D365FO_TIMED_OUT = 5,        /* the caller's timeout elapsed before the user signed in */
    D365FO_CODE_EXPIRED = 6,     /* the device code expired (expires_in, expired_token, code_expired) */
    D365FO_DECLINED = 7,         /* the user declined the sign-in */
    D365FO_AUTHORITY_ERROR = 8,  /* the authority answered with an OAuth error (error, error_description, AADSTS) */
    D365FO_NETWORK_ERROR = 9,    /* connect, TLS, reset, read timeout, proxy */
    D365FO_PROTOCOL_ERROR = 10,  /* the authority answered something that is not the protocol (garbage, too big, redirect) */
    D365FO_STORE_ERROR = 11,     /* the configuration store could not be read or written */
    D365FO_NOT_FOUND = 12,       /* no such configuration */
    D365FO_ALREADY_EXISTS = 13,  /* a configuration with that name exists and force was not given */
    D365FO_INVALID_HANDLE = 14,  /* unknown or already freed handle */
    D365FO_PANIC = 99            /* a bug in the core; caught at the boundary */
};

/* Version of this ABI (D365FO_ABI_VERSION). Never fails. */
uint32_t d365fo_abi_version(void);

/* The core's semantic version, e.g. "0.1.0". Static: do not free. */
const char *d365fo_version(void);

/* Frees a string returned by this library. NULL is accepted. Each string exactly once. */
void d365fo_string_free(char *s);

/* Cancellation. A handle may be cancelled from any thread, any number of times; a flow waiting on it
 * returns D365FO_CANCELLED within 200 ms. Free exactly once, after the flow using it has returned. */
d365fo_result d365fo_cancel_new(uint64_t *out_handle);
d365fo_result d365fo_cancel_request(uint64_t handle);
d365fo_result d365fo_cancel_free(uint64_t handle);

/* Events of a running flow, as one JSON object; event_json is valid only during the callback.
 *   {"event":"code_issued","user_code":..,"verification_url":..,"message":..,"expires_in":s,"interval":s}
 *   {"event":"clipboard","ok":bool,"reason":".."}      reason only when not ok
 *   {"event":"browser","ok":bool,"skipped":bool,"reason":".."}
 *   {"event":"tick","seconds_left":n,"seconds_total":n}   about once a second while waiting
 *   {"event":"log","message":".."}                       diagnostics (never a token or device code) */
typedef void (*d365fo_event_cb)(void *userdata, const char *event_json);

/* Runs a whole device code sign-in and blocks until it ends.
 * request_json: {"tenant":"..","url":"..","timeout_secs":300,
 *                optional: "authority","endpoint_version":"v1"|"v2","client_id","no_browser","no_clipboard",
 *                          "proxy":"http://host:port" (the caller's system proxy for the authority URL),
 *                          "http_timeout_secs":1..600 (per request; default 30 or D365FO_HTTP_TIMEOUT_SECS)}
 * Settings not in the request come from the environment (D365FO_AUTHORITY, D365FO_ENDPOINT_VERSION,
 * D365FO_CLIENT_ID, D365FO_NO_BROWSER), then from the stored module settings, then defaults.
 * cancel: 0 for none, else a handle from d365fo_cancel_new. cb may be NULL.
 * out_json is always written (unless it is NULL): on D365FO_OK the authority's token response object,
 * otherwise {"code":n,"kind":"..","message":"..", optional "error","error_description","aadsts","http_status"}. */
d365fo_result d365fo_device_flow(const char *request_json, uint64_t cancel, d365fo_event_cb cb,
                                 void *userdata, char **out_json);

/* The configuration store and module settings: one JSON request {"op":"..", ...}, one JSON answer.
 * out_json is always written (unless NULL): the answer on D365FO_OK, else an error object as above.
 * Operations are listed in rust/d365fo_interactive/src/config.rs. */
d365fo_result d365fo_config(const char *request_json, char **out_json);

#endif
