//! The persisted store on its own: atomic locked updates, permissions, corrupt and newer files, and reading
//! PSFramework's persisted format from the fixtures in tests/fixtures/psframework.

use d365fo_interactive::error::Code;
use d365fo_interactive::psframework;
use d365fo_interactive::store::{Store, StoredConfig, StoredSecret};
use std::path::PathBuf;

fn config(name: &str) -> StoredConfig {
    StoredConfig {
        name: name.to_string(),
        tenant: Some("t".into()),
        url: Some("https://u".into()),
        systemurl: Some("https://u".into()),
        clientid: None,
        clientsecret: Some(StoredSecret::protect("s3cret").unwrap()),
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/psframework")
}

#[test]
fn an_update_is_read_back_and_a_missing_store_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("nested").join("store"));
    assert!(store.read().unwrap().configurations.is_empty());
    assert!(!store.dir().exists(), "reading must not create anything");
    store.update(|d| {
        d.upsert(config("UAT"));
        d.active = Some("UAT".into());
        Ok(())
    })
    .unwrap();
    let data = store.read().unwrap();
    assert_eq!(data.schema_version, 1);
    assert_eq!(data.find("uat").unwrap().name, "UAT");
    assert_eq!(data.find("UAT").unwrap().clientsecret.as_ref().unwrap().reveal().unwrap(), "s3cret");
    let text = std::fs::read_to_string(store.file_path()).unwrap();
    assert!(text.contains("\"schema_version\": 1"), "{text}");
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n == "config.json" || n == "config.lock"), "{names:?}");
}

#[test]
fn a_failed_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    store.update(|d| Ok(d.upsert(config("A")))).unwrap();
    let before = std::fs::read(store.file_path()).unwrap();
    let r: Result<(), _> = store.update(|d| {
        d.upsert(config("B"));
        Err(d365fo_interactive::error::CoreError::invalid("no"))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(store.file_path()).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn the_folder_and_file_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("d365fo.interactive"));
    store.update(|d| Ok(d.upsert(config("A")))).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.file_path()), 0o600);
    assert_eq!(mode(&store.lock_path()), 0o600);
    // A folder someone loosened is tightened again at the next change.
    std::fs::set_permissions(store.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    store.update(|d| Ok(d.upsert(config("B")))).unwrap();
    assert_eq!(mode(store.dir()), 0o700);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each thread opens the store (and its lock file) itself, as a separate process would.
                for i in 0..25 {
                    Store::at(&path).update(|d| Ok(d.upsert(config(&format!("t{t}-{i}"))))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(Store::at(&path).read().unwrap().configurations.len(), 100);
}

#[test]
fn a_corrupt_store_is_reported_kept_aside_and_never_replaced_silently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    std::fs::write(store.file_path(), b"{ this is not json").unwrap();
    let err = store.read().unwrap_err();
    assert_eq!(err.code, Code::StoreError);
    assert!(err.message.contains(&store.file_path().display().to_string()), "{}", err.message);
    assert!(err.message.contains("kept aside"), "{}", err.message);
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("config.json.corrupt-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(err.message.contains(&backups[0].display().to_string()));
    assert_eq!(std::fs::read(&backups[0]).unwrap(), b"{ this is not json");
    // After the report the store is empty; the next change starts a new file and keeps the backup.
    assert!(store.read().unwrap().configurations.is_empty());
    store.update(|d| Ok(d.upsert(config("A")))).unwrap();
    assert_eq!(store.read().unwrap().configurations.len(), 1);
    assert!(backups[0].exists());
}

#[test]
fn a_store_without_schema_version_counts_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    std::fs::write(store.file_path(), br#"{"configurations":[]}"#).unwrap();
    let err = store.read().unwrap_err();
    assert!(err.message.contains("no schema_version"), "{}", err.message);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let newer = br#"{"schema_version":2,"configurations":[],"future":true}"#;
    std::fs::write(store.file_path(), newer).unwrap();
    let err = store.update(|d| Ok(d.upsert(config("A")))).unwrap_err();
    assert_eq!(err.code, Code::StoreError);
    assert!(err.message.contains("schema version 2"), "{}", err.message);
    assert_eq!(std::fs::read(store.file_path()).unwrap(), newer);
}

#[test]
fn psframework_user_local_file_yields_the_integrations_configurations() {
    let found = psframework::scan(Some(&fixtures().join("xdg/PowerShell/PSFramework")));
    assert_eq!(found.active.as_deref(), Some("UAT"));
    assert_eq!(found.configs.len(), 2, "{found:?}");
    let prod = found.configs.iter().find(|c| c.name == "Prod").unwrap();
    assert_eq!(prod.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
    assert_eq!(prod.clientsecret, None);
    let uat = found.configs.iter().find(|c| c.name == "UAT").unwrap();
    assert_eq!(uat.url.as_deref(), Some("https://uat.sandbox.operations.dynamics.com/"));
    assert_eq!(uat.clientid.as_deref(), Some("dea8d7a9-1602-4429-b138-111111111111"));
    assert_eq!(uat.clientsecret.as_deref(), Some("Vja/VmdxaLOPR+alkjfsadffelkjlfw234522"));
    assert_eq!(found.sources.len(), 1);
    assert!(found.problems.is_empty());
}

#[test]
fn psframework_single_object_with_bom_and_extra_files_are_merged() {
    let found = psframework::scan(Some(&fixtures().join("single")));
    assert_eq!(found.configs.len(), 1, "{found:?}");
    let dev = &found.configs[0];
    assert_eq!(dev.name, "Dev");
    assert_eq!(dev.url.as_deref(), Some("https://dev.cloudax.dynamics.com"));
    assert_eq!(dev.tenant.as_deref(), Some("dev-tenant"));
    assert_eq!(found.active, None);
}

#[test]
fn a_broken_psframework_file_is_a_problem_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("psf_config.json"), b"[{").unwrap();
    let found = psframework::scan(Some(dir.path()));
    assert!(found.configs.is_empty());
    assert_eq!(found.problems.len(), 1);
}
