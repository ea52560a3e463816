//! The JSON operations of d365fo_config, through the C ABI, against a store in a temporary folder.
//! One test function: the operations share process-wide state (environment, the session's temporary entries).

use d365fo_interactive::ffi::{d365fo_config, d365fo_string_free};
use serde_json::{Value, json};
use std::ffi::{CStr, CString};

fn call(req: Value) -> (i32, Value) {
    let c = CString::new(req.to_string()).unwrap();
    let mut out: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated input and out pointer; the answer is freed once below.
    let rc = unsafe { d365fo_config(c.as_ptr(), &mut out) };
    assert!(!out.is_null());
    // SAFETY: out is a NUL-terminated string from the library.
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
    // SAFETY: freed exactly once.
    unsafe { d365fo_string_free(out) };
    (rc, serde_json::from_str(&text).unwrap())
}

fn ok(req: Value) -> Value {
    let (rc, v) = call(req.clone());
    assert_eq!(rc, 0, "{req} -> {v}");
    v
}

fn err(req: Value, code: i32) -> String {
    let (rc, v) = call(req.clone());
    assert_eq!(rc, code, "{req} -> {v}");
    assert_eq!(v["code"], code);
    v["message"].as_str().unwrap().to_string()
}

#[test]
fn operations_behave_like_d365fo_integrations() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    // SAFETY: this test binary has a single test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("D365FO_CONFIG_DIR", dir.path());
        std::env::set_var("XDG_CONFIG_HOME", xdg.path());
        for v in ["D365FO_AUTHORITY", "D365FO_ENDPOINT_VERSION", "D365FO_CLIENT_ID", "D365FO_NO_BROWSER"] {
            std::env::remove_var(v);
        }
    }

    // Nothing active yet.
    assert_eq!(err(json!({"op":"get_active"}), 12), "It looks like there isn't configured an active OData configuration.");
    assert_eq!(ok(json!({"op":"list"}))["configurations"], json!([]));

    // Add: trailing slashes removed, systemurl defaults to url, secret masked.
    let a = ok(json!({"op":"add","name":"UAT","tenant":"t1","url":"https://uat.example.com//","clientid":"c1","clientsecret":"p@ss"}));
    assert_eq!(a["url"], "https://uat.example.com");
    assert_eq!(a["systemurl"], "https://uat.example.com");
    assert_eq!(a["clientsecret"], "********");
    assert_eq!(a["temporary"], false);
    assert!(!std::fs::read_to_string(dir.path().join("config.json")).unwrap().is_empty());

    // Same name (any case) without force is refused with the original message; force replaces it.
    assert_eq!(
        err(json!({"op":"add","name":"uat","tenant":"x"}), 13),
        "An OData configuration with uat as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter."
    );
    let b = ok(json!({"op":"add","name":"UAT","tenant":"t2","url":"https://a/","systemurl":"https://s/","force":true}));
    assert_eq!((b["tenant"].as_str(), b["systemurl"].as_str(), b["clientsecret"].is_null()), (Some("t2"), Some("https://s"), true));
    ok(json!({"op":"add","name":"UAT","tenant":"t1","url":"https://uat.example.com","clientsecret":"p@ss","force":true}));

    assert_eq!(err(json!({"op":"add","name":"a*b"}), 3), "The name cannot contain wildcard character.");
    assert_eq!(err(json!({"op":"add","name":""}), 3), "The name of the OData configuration is missing.");

    // The secret only when asked for.
    assert_eq!(ok(json!({"op":"get","name":"uat"}))["clientsecret"], "********");
    assert_eq!(ok(json!({"op":"get","name":"uat","show_secret":true}))["clientsecret"], "p@ss");
    assert!(ok(json!({"op":"list"})).to_string().find("p@ss").is_none());

    // Set active: wildcard and unknown names refused with the original messages.
    assert_eq!(err(json!({"op":"set_active","name":"U*"}), 3), "The name cannot contain wildcard character.");
    assert_eq!(err(json!({"op":"set_active","name":"nope"}), 12), "An OData configuration with that name doesn't exists.");
    ok(json!({"op":"set_active","name":"uat"}));
    let active = ok(json!({"op":"get_active"}));
    assert_eq!((active["name"].as_str(), active["tenant"].as_str(), active["url"].as_str()), (Some("UAT"), Some("t1"), Some("https://uat.example.com")));
    assert_eq!(active["active"], true);

    // Temporary configurations and selections stay in this process and out of the file.
    let t = ok(json!({"op":"add","name":"Scratch","tenant":"tt","url":"https://scratch","temporary":true}));
    assert_eq!(t["temporary"], true);
    ok(json!({"op":"set_active","name":"Scratch","temporary":true}));
    assert_eq!(ok(json!({"op":"get_active"}))["name"], "Scratch");
    let file = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!file.contains("Scratch"), "{file}");
    assert!(file.contains("\"active\": \"UAT\""), "{file}");
    let names: Vec<String> = ok(json!({"op":"list"}))["configurations"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["Scratch", "UAT"]);
    assert_eq!(err(json!({"op":"add","name":"SCRATCH"}), 13).contains("already exists"), true);
    // A persisted choice replaces the temporary one.
    ok(json!({"op":"set_active","name":"UAT"}));
    assert_eq!(ok(json!({"op":"get_active"}))["name"], "UAT");

    // Settings: stored values, validation, reset, and environment overriding them.
    assert_eq!(ok(json!({"op":"get_settings"})), json!({"authority":null,"endpoint_version":null,"client_id":null,"no_browser":null}));
    let s = ok(json!({"op":"set_settings","authority":"https://login.example.com/","endpoint_version":"V2","no_browser":true}));
    assert_eq!(s, json!({"authority":"https://login.example.com","endpoint_version":"v2","client_id":null,"no_browser":true}));
    assert!(err(json!({"op":"set_settings","authority":"http://example.com"}), 3).contains("plain http"));
    assert!(err(json!({"op":"set_settings","endpoint_version":"v3"}), 3).contains("v1 or v2"));
    assert!(err(json!({"op":"set_settings","reset":["colour"]}), 3).contains("Unknown setting"));
    let stored = d365fo_interactive::config::stored_settings();
    assert_eq!(stored.endpoint_version.as_deref(), Some("v2"));
    assert_eq!(stored.no_browser, Some(true));
    // SAFETY: as above.
    unsafe { std::env::set_var("D365FO_ENDPOINT_VERSION", "v1") };
    let eff = ok(json!({"op":"effective_settings"}));
    let by = |n: &str| eff["settings"].as_array().unwrap().iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!((by("endpoint_version")["value"].as_str(), by("endpoint_version")["source"].as_str()), (Some("v1"), Some("environment")));
    assert_eq!((by("authority")["value"].as_str(), by("authority")["source"].as_str()), (Some("https://login.example.com"), Some("stored")));
    assert_eq!(
        (by("client_id")["value"].as_str(), by("client_id")["source"].as_str()),
        (Some("1950a258-227b-4e31-a9cf-717495945fc2"), Some("default"))
    );
    let s = ok(json!({"op":"set_settings","reset":["authority","no_browser"]}));
    assert_eq!(s, json!({"authority":null,"endpoint_version":"v2","client_id":null,"no_browser":null}));
    // The configurations survived every settings change.
    assert_eq!(ok(json!({"op":"get","name":"UAT"}))["tenant"], "t1");

    // Bad requests.
    assert!(err(json!({"op":"frobnicate"}), 3).contains("unknown configuration operation"));
    assert!(err(json!({"op":"add","name":"X","temporary":"yes"}), 3).contains("true or false"));
    let (rc, _) = call(json!([1, 2]));
    assert_eq!(rc, 3);
}

#[test]
fn a_psframework_scan_masks_secrets_and_refuses_a_missing_path() {
    // Uses an explicit path, so it does not depend on the environment the other test sets.
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/psframework/xdg/PowerShell/PSFramework");
    let scan = ok(json!({"op":"psframework_scan","path": fixtures.display().to_string()}));
    assert_eq!(scan["active"], "UAT");
    assert_eq!(scan["configurations"].as_array().unwrap().len(), 2);
    assert!(!scan.to_string().contains("Vja/VmdxaLOPR"), "secrets are masked in a scan");
    assert_eq!(err(json!({"op":"psframework_scan","path":"/nonexistent/psf"}), 12), "The path '/nonexistent/psf' does not exist.");
}
