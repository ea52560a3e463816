//! Where the configuration store is and how it is read and changed. The store is PSFramework's persisted
//! user configuration (see `psf`), so d365fo.integrations and this module share one set of OData
//! configurations, in both directions, across sessions:
//! - Linux and macOS: `$XDG_CONFIG_HOME/PowerShell/PSFramework/psf_config.json` (else `~/.config/...`), the
//!   file PSFramework writes for `Register-PSFConfig -Scope UserDefault` on PowerShell 7 there.
//! - Windows: the registry key `HKCU\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default`, where
//!   PSFramework writes UserDefault on Windows PowerShell 5.1 and PowerShell 7 alike.
//! - `D365FO_CONFIG_FILE` points the store at a file of that format instead (any platform);
//!   `D365FO_CONFIG_REGISTRY_KEY` at another key under HKCU (Windows; tests give each run a key of its own).
//!
//! A change is a read-modify-write under this module's lock file (`.d365fo.interactive.lock` beside the
//! file, waited for at most 10 s), written to a new temporary file in the same folder and renamed over the
//! store, so concurrent sessions of this module lose nothing and a crash leaves the old or the new file.
//! PSFramework writes the file in place without a lock, so a write of ours also:
//! - takes an empty, cut-short or invalid file for another writer's moment and reads it again for about 2 s
//!   before it stops with an error (an empty file that stays the same empty file is empty);
//! - checks, right before the rename, that the file is still the one it read (identity, size, time, bytes),
//!   and merges its changes again into what it became when not (5 rounds at most);
//! - repairs a torn file (one complete array, then leftover text) to that array, keeping the damaged file
//!   beside it as `<name>.damaged-<stamp>`;
//! - follows a symbolic link and replaces its target in the target's folder, with the target's mode and owner;
//! - refuses, before any lock, a file or folder the user may not write, another account's file, and a folder
//!   other accounts can change (docs/reliability.md, "The shared configuration file").

use crate::error::{Code, CoreError, CoreResult};
use crate::psf::{Entries, NewValue, Parsed, PsfFile};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE_NAME: &str = "psf_config.json";
const LOCK_NAME: &str = ".d365fo.interactive.lock";
/// Temporary files of this module's writes: `.psf_config.json.<pid>.<random>.d365fo-tmp`.
const TMP_PREFIX: &str = ".psf_config.json.";
const TMP_SUFFIX: &str = ".d365fo-tmp";
/// PSFramework's user-default registry key (Windows).
pub const REGISTRY_KEY: &str = r"SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default";

/// One change: set a value, or remove it (`None`).
pub type Change = (String, Option<NewValue>);

/// The store of the current user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    File(PathBuf),
    /// A registry key under HKCU (Windows only): PSFramework's user-default key unless
    /// `D365FO_CONFIG_REGISTRY_KEY` names another.
    Registry(String),
}

impl Store {
    /// The current user's store, from the environment the caller read.
    pub fn locate(env: &dyn Fn(&str) -> Option<String>) -> CoreResult<Store> {
        let var = |n: &str| env(n).filter(|v| !v.trim().is_empty());
        if let Some(f) = var("D365FO_CONFIG_FILE") {
            return Ok(Store::File(PathBuf::from(f)));
        }
        if cfg!(windows) {
            let key = var("D365FO_CONFIG_REGISTRY_KEY").map(|k| k.trim().trim_start_matches(r"HKCU\").trim_matches('\\').to_string());
            return Ok(Store::Registry(key.unwrap_or_else(|| REGISTRY_KEY.to_string())));
        }
        // PSFramework's FileUserLocal: $Env:XDG_CONFIG_HOME, else $HOME/.config, then PowerShell/PSFramework.
        let base = var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
        base.map(|b| Store::File(b.join("PowerShell").join("PSFramework").join(FILE_NAME))).ok_or_else(|| {
            CoreError::new(Code::StoreError, "The configuration store has no folder: neither XDG_CONFIG_HOME nor HOME is set.")
        })
    }

    /// Where it is, for people.
    pub fn describe(&self) -> String {
        match self {
            Store::File(p) => p.display().to_string(),
            Store::Registry(key) => format!(r"HKCU\{key}"),
        }
    }

    /// Every value in the store. A missing file or key is an empty store.
    pub fn read(&self) -> CoreResult<Entries> {
        match self {
            Store::File(path) => Ok(read_file(path)?.entries()),
            Store::Registry(key) => registry::read(key),
        }
    }

    /// Reads, lets `change` decide what to set and remove, and writes that back, all under one lock. When
    /// `change` fails, or changes nothing, nothing is written.
    pub fn update<R>(&self, change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>) -> CoreResult<R> {
        match self {
            Store::File(path) => update_file(path, change),
            Store::Registry(key) => {
                let entries = registry::read(key)?;
                let (changes, result) = change(&entries)?;
                registry::write(key, &changes)?;
                Ok(result)
            }
        }
    }
}

fn store_error(what: &str, path: &Path, e: impl std::fmt::Display) -> CoreError {
    CoreError::new(Code::StoreError, format!("The configuration store could not {what} '{}': {e}", path.display()))
}

/// How long a file that is empty, cut short or invalid is read again before it is taken as what it is: long
/// enough for PSFramework's in-place write (it empties the file, then writes it) to finish.
const BUSY_WINDOW: Duration = Duration::from_secs(2);
/// How long a write waits for another holder of the lock file.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a write merges again when the file changed between its read and its rename.
const MERGE_ROUNDS: u32 = 5;
/// How long a write waits, after its rename, for the text of a PSFramework write that had begun in the moment
/// between our last check and our rename (it lands within milliseconds; this bounds a stalled writer).
const LATE_WAIT: Duration = Duration::from_secs(1);

/// A note for the person, raised while the store was read or changed; `verbose` ones are for -Verbose only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub message: String,
    pub verbose: bool,
}

thread_local! {
    static NOTES: std::cell::RefCell<Vec<Note>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn note(message: String, verbose: bool) {
    NOTES.with(|n| n.borrow_mut().push(Note { message, verbose }));
}

/// The notes raised on this thread since the last call (the ABI entry passes them on as events).
pub fn take_notes() -> Vec<Note> {
    NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

/// The timing of a file write, and the points where tests step in (a writer of another module).
struct Options<'a> {
    busy_window: Duration,
    lock_wait: Duration,
    /// Called before each re-read of a busy file (attempt 1, 2, …); the real one sleeps a growing moment. Attempt
    /// 0: a wait for a late writer's text after our rename, a millisecond.
    pause: &'a mut dyn FnMut(u32),
    /// Called after the new file is written aside, before the comparison with what was read (round 0, 1, …).
    before_compare: &'a mut dyn FnMut(u32),
    /// Called after that comparison, right before the rename (round 0, 1, …).
    before_rename: &'a mut dyn FnMut(u32),
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(if attempt == 0 { 1 } else { (10u64 << attempt.min(4)).min(150) }));
}

fn with_real_options<R>(f: impl FnOnce(&mut Options) -> R) -> R {
    let mut pause = backoff;
    let (mut before_compare, mut before_rename) = (test_hold, |_| {});
    f(&mut Options {
        busy_window: BUSY_WINDOW,
        lock_wait: LOCK_WAIT,
        pause: &mut pause,
        before_compare: &mut before_compare,
        before_rename: &mut before_rename,
    })
}

/// Test builds only: with `D365FO_TEST_STORE_HOLD` naming a folder, the first round of a write stops between its
/// read and its check (it creates `held` there and waits, at most 60 s, for `go`), so that a Pester test can let
/// the real PSFramework write the file in that moment.
#[cfg(feature = "test-hooks")]
fn test_hold(round: u32) {
    let Some(dir) = std::env::var_os("D365FO_TEST_STORE_HOLD").map(PathBuf::from) else { return };
    if round != 0 {
        return;
    }
    let _ = fs::write(dir.join("held"), b"1");
    let started = std::time::Instant::now();
    while !dir.join("go").exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(not(feature = "test-hooks"))]
fn test_hold(_round: u32) {}

/// What identifies one version of a file: compared with the content right before the rename.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    dev_ino: (u64, u64),
}

impl Identity {
    fn of(m: &fs::Metadata) -> Identity {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Identity {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            dev_ino: (m.dev(), m.ino()),
        }
    }
}

/// The file as one read saw it: its bytes and identity (None: there was no file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    version: Option<(Identity, Vec<u8>)>,
}

impl Seen {
    /// The file now, read through one handle so identity and bytes belong together.
    fn now(path: &Path) -> std::io::Result<Seen> {
        Self::now_open(path).map(|(seen, _)| seen)
    }

    /// The same, keeping the handle: it still reaches this version once the name is given to another file.
    fn now_open(path: &Path) -> std::io::Result<(Seen, Option<File>)> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Seen { version: None }, None)),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let id = Identity::of(&f.metadata()?);
        Ok((Seen { version: Some((id, bytes)) }, Some(f)))
    }
}

/// Whether a file still has the length and modification time it had when it was seen.
fn still_as_seen(f: &File, seen: &Seen) -> bool {
    match (&seen.version, f.metadata()) {
        (Some((id, _)), Ok(m)) => m.len() == id.len && m.modified().ok() == id.modified,
        _ => true,
    }
}

/// PSFramework's array in a file of ours that its writer wrote over without emptying it: from the start (its
/// array, perhaps followed by our tail), or from where the file first differs from ours, when it begins with an
/// array there (seen in the race tests: our first 1,024 bytes, then PSFramework's whole array; its writer began
/// there, not at the start, in a file it had not emptied).
fn their_array_in(now: &[u8], ours: &[u8]) -> Option<PsfFile> {
    let same = now.iter().zip(ours).take_while(|(a, b)| a == b).count();
    let array_at = |k: usize| now.get(k..).is_some_and(|r| r.starts_with(b"[") || r.starts_with(b"\xEF\xBB\xBF["));
    [0, same].into_iter().filter(|&k| k == 0 || array_at(k)).find_map(|k| match PsfFile::parse_torn(&now[k..]) {
        Ok(Parsed::Whole(file)) | Ok(Parsed::Torn { file, .. }) => Some(file),
        Err(_) => None,
    })
}

/// After our rename, when the file we had checked was emptied in the meantime: PSFramework's in-place write had
/// begun (it empties the file, then opens it again and writes from the start without emptying it). Its text
/// lands in the file we replaced (so its settings would be lost) or over the start of ours (leaving our tail
/// after its array: a torn file). Waits a bounded time for that text and returns what PSFramework meant to
/// write; None when nothing came.
fn late_write(target: &Path, mut replaced: File, ours: &[u8], o: &mut Options) -> Option<PsfFile> {
    let started = std::time::Instant::now();
    loop {
        let mut old = Vec::new();
        if replaced.rewind().is_ok()
            && replaced.read_to_end(&mut old).is_ok()
            && let Ok(Parsed::Whole(file)) = PsfFile::parse_torn(&old)
            && !String::from_utf8_lossy(&old).trim_start_matches('\u{feff}').trim().is_empty()
        {
            return Some(file);
        }
        if let Ok(Seen { version: Some((_, now)) }) = Seen::now(target)
            && now != ours
            && let Some(file) = their_array_in(&now, ours)
        {
            return Some(file);
        }
        if started.elapsed() >= LATE_WAIT {
            return None;
        }
        (o.pause)(0);
    }
}

/// A read that settled: the configuration, what was seen, and for a torn file where its leftover began.
struct Settled {
    file: PsfFile,
    seen: Seen,
    torn_at: Option<usize>,
}

/// Reads the file. A file that is empty, cut short, invalid or torn may be another writer's moment (PSFramework
/// empties the file and then writes it, in place, without a lock): it is read again with a short backoff for
/// `busy_window`. Then an invalid file is an error naming it; a torn one is taken as its complete array; an
/// empty one is empty only when `writing` is false or it stayed the same empty file all that time.
fn read_settled(path: &Path, writing: bool, o: &mut Options) -> CoreResult<Settled> {
    let started = std::time::Instant::now();
    let mut first_unsettled: Option<Seen> = None;
    let mut attempt = 0;
    loop {
        let seen = Seen::now(path).map_err(|e| store_error("read", path, e))?;
        let Some((_, bytes)) = &seen.version else { return Ok(Settled { file: PsfFile::default(), seen, torn_at: None }) };
        let parsed = PsfFile::parse_torn(bytes);
        let blank = matches!(&parsed, Ok(Parsed::Whole(f)) if f == &PsfFile::default())
            && String::from_utf8_lossy(bytes).trim_start_matches('\u{feff}').trim().is_empty();
        let over = started.elapsed() >= o.busy_window;
        let unchanged = first_unsettled.as_ref().is_some_and(|f| f == &seen);
        match parsed {
            Ok(Parsed::Whole(file)) if !blank || !writing || (over && unchanged) => return Ok(Settled { file, seen, torn_at: None }),
            Ok(Parsed::Torn { file, leftover_at }) if !writing || (over && unchanged) => {
                return Ok(Settled { file, seen, torn_at: Some(leftover_at) });
            }
            Err(why) if over => {
                return Err(CoreError::new(
                    Code::StoreError,
                    format!(
                        "The configuration store '{}' (PSFramework's configuration file) could not be read: {why}. It stayed so for {} seconds, so it is not another writer's moment; it was left unchanged: repair it, or move it aside to start a new one.",
                        path.display(),
                        o.busy_window.as_secs_f32()
                    ),
                ));
            }
            _ if over => {
                return Err(CoreError::new(
                    Code::StoreError,
                    format!(
                        "The configuration store '{}' kept changing while it was read (another program is writing it); nothing was changed. Try again.",
                        path.display()
                    ),
                ));
            }
            _ => {}
        }
        if !unchanged {
            first_unsettled = Some(seen);
        }
        attempt += 1;
        (o.pause)(attempt);
    }
}

/// Reads the file for a command that only reads.
fn read_file(path: &Path) -> CoreResult<PsfFile> {
    let target = resolve(path).map_err(|e| store_error("follow the link", path, e))?;
    with_real_options(|o| read_settled(&target, false, o)).map(|s| s.file)
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// The file a path names after following symbolic links (a dotfiles link is updated in its target's folder).
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = if to.is_absolute() { to } else { dir_of(&p).join(to) };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

fn denied(message: String) -> CoreError {
    CoreError::new(Code::StorePermissionDenied, message)
}

/// Whether other accounts could change a folder's files under us (Unix mode bits): writable by everyone
/// without the sticky bit, writable by its group without the sticky bit while owned by someone else, or owned
/// by an account that is neither the user nor root. A group-writable folder of the user's own (the private
/// group of Debian's usergroups) is the user's.
#[cfg(unix)]
fn folder_is_open_to_others(mode: u32, owner: u32, euid: u32) -> bool {
    let sticky = mode & 0o1000 != 0;
    (mode & 0o002 != 0 && !sticky) || (mode & 0o020 != 0 && !sticky && owner != euid) || (owner != euid && owner != 0)
}

/// The checks before anything is locked or written: the folder is not open to other accounts, and the user
/// may write the file and its folder (the words PSFramework uses when it refuses).
fn check_writable(link: &Path, target: &Path, dir: &Path) -> CoreResult<()> {
    let read_only = || denied(format!("The configuration file '{}' is read-only; nothing was changed.", link.display()));
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        // SAFETY: no arguments; cannot fail.
        let euid = unsafe { libc::geteuid() };
        let mut folders = vec![dir.to_path_buf()];
        if link != target {
            folders.push(dir_of(link));
        }
        for folder in folders {
            if let Ok(m) = fs::metadata(&folder)
                && folder_is_open_to_others(m.mode(), m.uid(), euid)
            {
                return Err(denied(format!(
                    "The configuration folder '{}' can be changed by other accounts (mode {:04o}, owner {}); nothing was changed. Make it the user's own and not writable by others (chmod go-w), or choose another place with D365FO_CONFIG_FILE.",
                    folder.display(),
                    m.mode() & 0o7777,
                    m.uid()
                )));
            }
        }
        let may_write = |p: &Path| {
            let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap_or_default();
            // SAFETY: c is NUL-terminated.
            unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
        };
        match fs::metadata(target) {
            Ok(m) => {
                if m.uid() != euid && euid != 0 {
                    return Err(denied(format!(
                        "The configuration file '{}' belongs to another account (owner {}); nothing was changed.",
                        link.display(),
                        m.uid()
                    )));
                }
                if !may_write(target) {
                    return Err(read_only());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(store_error("read", target, e)),
        }
        if !may_write(dir) {
            return Err(denied(format!(
                "The configuration file '{}' is read-only (its folder '{}' cannot be written); nothing was changed.",
                link.display(),
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, link);
        if fs::metadata(target).is_ok_and(|m| m.permissions().readonly()) {
            return Err(read_only());
        }
    }
    Ok(())
}

/// Waits a bounded time for the lock (flock on Unix, LockFileEx on Windows); released when the file closes.
fn take_lock(lock_path: &Path, wait: Duration) -> CoreResult<File> {
    let lock_file = open_private(lock_path).map_err(|e| store_error("open the lock file", lock_path, e))?;
    let started = std::time::Instant::now();
    loop {
        match lock_file.try_lock() {
            Ok(()) => return Ok(lock_file),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => std::thread::sleep(Duration::from_millis(25)),
            Err(fs::TryLockError::WouldBlock) => {
                return Err(CoreError::new(
                    Code::StoreError,
                    format!(
                        "The configuration store is locked: the lock file '{}' has been held by another process for {} seconds; nothing was changed. Another d365fo.interactive command may still be running; try again when it ends.",
                        lock_path.display(),
                        wait.as_secs_f32()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(store_error("lock", lock_path, e)),
        }
    }
}

fn update_file<R>(path: &Path, change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>) -> CoreResult<R> {
    with_real_options(|o| update_file_with(path, o, change))
}

fn update_file_with<R>(path: &Path, o: &mut Options, change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>) -> CoreResult<R> {
    let target = resolve(path).map_err(|e| store_error("follow the link", path, e))?;
    let dir = dir_of(&target);
    if !dir.exists() {
        create_private_dir(&dir).map_err(|e| store_error("create the folder", &dir, e))?;
    }
    check_writable(path, &target, &dir)?;
    let lock_path = dir.join(LOCK_NAME);
    let _lock = take_lock(&lock_path, o.lock_wait)?;
    remove_stale_temporaries(&dir);
    let mut change = Some(change);
    let mut changes: Vec<Change> = Vec::new();
    let mut result: Option<R> = None;
    // What another writer meant to write, found after our rename: the next round starts from it.
    let mut late: Option<PsfFile> = None;
    for round in 0..MERGE_ROUNDS {
        let Settled { mut file, seen, torn_at } = match late.take() {
            Some(file) => Settled { file, seen: Seen::now(&target).map_err(|e| store_error("read", &target, e))?, torn_at: None },
            None => read_settled(&target, true, o)?,
        };
        // Decided once, on the first read; later rounds apply the same changes to what the file became.
        if let Some(change) = change.take() {
            let (c, r) = change(&file.entries())?;
            if c.is_empty() {
                return Ok(r);
            }
            (changes, result) = (c, Some(r));
        }
        for (name, value) in &changes {
            match value {
                Some(v) => file.set(name, v),
                None => file.remove(name),
            }
        }
        let bytes = file.to_bytes();
        let tmp = write_aside(&target, &dir, &bytes, if seen.version.is_some() { fs::metadata(&target).ok() } else { None })?;
        (o.before_compare)(round);
        let (still, replaced) = match Seen::now_open(&target) {
            Ok((still, replaced)) => (Ok(still), replaced),
            Err(e) => (Err(store_error("read", &target, e)), None),
        };
        if still.as_ref().ok() != Some(&seen) {
            discard(&tmp);
            still?;
            continue;
        }
        if let (Some(at), Some((_, bytes))) = (torn_at, &seen.version) {
            keep_damaged(&target, &dir, bytes, at);
        }
        // Windows (and Wine) refuse to replace a file that is still open: there the handle is let go, and the look
        // after the rename is not made (PSFramework keeps its settings in the registry there, not in this file).
        #[cfg(not(unix))]
        let replaced: Option<File> = replaced.and(None);
        (o.before_rename)(round);
        if let Err(e) = fs::rename(&tmp, &target) {
            discard(&tmp);
            return Err(store_error("write", &target, e));
        }
        sync_dir(&dir);
        if let Some(replaced) = replaced
            && !still_as_seen(&replaced, &seen)
            && round + 1 < MERGE_ROUNDS
            && let Some(theirs) = late_write(&target, replaced, &bytes, o)
        {
            note(
                format!(
                    "Another program (PSFramework) began writing '{}' in the moment before this write; its settings were merged with this command's change.",
                    target.display()
                ),
                true,
            );
            late = Some(theirs);
            continue;
        }
        return result.ok_or_else(|| CoreError::new(Code::Panic, "the store change was not decided"));
    }
    Err(CoreError::new(
        Code::StoreError,
        format!(
            "The configuration store '{}' was changed by another program each of {MERGE_ROUNDS} times this command was about to write it; nothing was changed. Try again.",
            target.display()
        ),
    ))
}

/// Keeps the bytes of a torn file beside it before it is replaced by its repaired array.
fn keep_damaged(target: &Path, dir: &Path, bytes: &[u8], leftover_at: usize) {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.into());
    let stamp = utc_stamp(std::time::SystemTime::now());
    for n in 0..100 {
        let kept = dir.join(if n == 0 { format!("{name}.damaged-{stamp}") } else { format!("{name}.damaged-{stamp}-{n}") });
        match open_new(&kept).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all())) {
            Ok(()) => {
                note(
                    format!(
                        "The configuration file '{}' held one complete PSFramework array followed by leftover text from byte {leftover_at} on (two writers wrote it at once); it was repaired to that array, and the damaged file was kept as '{}'.",
                        target.display(),
                        kept.display()
                    ),
                    false,
                );
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                note(
                    format!("The torn configuration file '{}' could not be kept beside it ({e}); it was repaired.", target.display()),
                    false,
                );
                return;
            }
        }
    }
}

/// Temporary files left by a write that was killed halfway: nobody else writes files of that name, and the
/// lock is held, so any that exist now are stale.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
            match fs::remove_file(entry.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    note(format!("A temporary file of an earlier write, '{}', could not be removed: {e}.", entry.path().display()), true)
                }
                _ => {}
            }
        }
    }
}

fn discard(tmp: &Path) {
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            note(format!("The temporary file '{}' could not be removed: {e}.", tmp.display()), true)
        }
        _ => {}
    }
}

/// A name nobody can guess ahead: the process id and 64 bits from the standard library's randomly seeded hasher.
fn unpredictable() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// Writes the new content to a new temporary file beside the target (created exclusively, never through a
/// link), flushed to disk, with the mode and, where the process may, the owner of the file it replaces.
fn write_aside(target: &Path, dir: &Path, bytes: &[u8], replaced: Option<fs::Metadata>) -> CoreResult<PathBuf> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!("{TMP_PREFIX}{}.{:016x}{TMP_SUFFIX}", std::process::id(), unpredictable()));
        let mut f = match open_new(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(store_error("write", target, e)),
        };
        let written = (|| -> std::io::Result<()> {
            f.write_all(bytes)?;
            #[cfg(unix)]
            if let Some(m) = &replaced {
                use std::os::unix::fs::{MetadataExt, PermissionsExt};
                f.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
                let (uid, gid) = (m.uid(), m.gid());
                let mine = f.metadata()?;
                if (uid, gid) != (mine.uid(), mine.gid()) {
                    use std::os::fd::AsRawFd;
                    // SAFETY: a valid descriptor. Where the process may not (another owner's file), the owner
                    // stays the user's; the refusal of such files for non-root users happens before this.
                    unsafe { libc::fchown(f.as_raw_fd(), uid, gid) };
                    f.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
                }
            }
            #[cfg(not(unix))]
            let _ = &replaced;
            f.sync_all()
        })();
        drop(f);
        return match written {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let mut why = e.to_string();
                if let Err(r) = fs::remove_file(&tmp) {
                    why.push_str(&format!("; the temporary file '{}' could not be removed either: {r}", tmp.display()));
                }
                Err(store_error("write", target, why))
            }
        };
    }
    Err(store_error("write", target, last.map(|e| e.to_string()).unwrap_or_default()))
}

/// A new file only the owner may read, created exclusively and never through a symbolic link.
fn open_new(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

/// Opens (creating when missing) the lock file, only the owner may read it, never through a link.
/// Client secrets are stored in clear, as d365fo.integrations stores them; owner-only is the least we do.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Makes the rename durable (Unix); best effort.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Gregorian date of a day count since 1970-01-01 (proleptic calendar, 400-year eras).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(not(windows))]
mod registry {
    use super::Change;
    use crate::error::{Code, CoreError, CoreResult};
    use crate::psf::Entries;

    pub fn read(_key: &str) -> CoreResult<Entries> {
        Err(CoreError::new(Code::StoreError, "the registry store exists only on Windows"))
    }

    pub fn write(_key: &str, _changes: &[Change]) -> CoreResult<()> {
        Err(CoreError::new(Code::StoreError, "the registry store exists only on Windows"))
    }
}

#[cfg(windows)]
mod registry {
    //! PSFramework's user-default registry values, read and written with advapi32. Hand-declared Win32
    //! signatures from the documented API; compiled and run only on Windows: UNVERIFIED on this project's
    //! machines (Linux).
    use super::Change;
    use crate::error::{Code, CoreError, CoreResult};
    use crate::psf::{Entries, parse_registry_data};
    use std::ffi::c_void;

    type Hkey = *mut c_void;
    /// The SDK's `(HKEY)(ULONG_PTR)((LONG)0x80000001)`: the 32-bit value sign-extended to the pointer's width.
    const HKEY_CURRENT_USER: isize = 0x8000_0001_u32 as i32 as isize;
    const KEY_READ: u32 = 0x20019;
    const KEY_WRITE: u32 = 0x20006;
    const REG_SZ: u32 = 1;
    const ERROR_SUCCESS: i32 = 0;
    const ERROR_FILE_NOT_FOUND: i32 = 2;
    const ERROR_MORE_DATA: i32 = 234;
    const ERROR_NO_MORE_ITEMS: i32 = 259;

    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn RegOpenKeyExW(key: Hkey, sub_key: *const u16, options: u32, desired: u32, result: *mut Hkey) -> i32;
        fn RegCreateKeyExW(
            key: Hkey,
            sub_key: *const u16,
            reserved: u32,
            class: *const u16,
            options: u32,
            desired: u32,
            security: *const c_void,
            result: *mut Hkey,
            disposition: *mut u32,
        ) -> i32;
        fn RegEnumValueW(
            key: Hkey,
            index: u32,
            name: *mut u16,
            name_len: *mut u32,
            reserved: *mut u32,
            ty: *mut u32,
            data: *mut u8,
            data_len: *mut u32,
        ) -> i32;
        fn RegSetValueExW(key: Hkey, name: *const u16, reserved: u32, ty: u32, data: *const u8, data_len: u32) -> i32;
        fn RegDeleteValueW(key: Hkey, name: *const u16) -> i32;
        fn RegCloseKey(key: Hkey) -> i32;
        #[cfg(test)]
        fn RegDeleteTreeW(key: Hkey, sub_key: *const u16) -> i32;
    }

    /// Removes a key with its values and subkeys (tests clean up their own keys).
    #[cfg(test)]
    pub fn delete_tree(key_path: &str) {
        let path = wide(key_path);
        // SAFETY: path is NUL-terminated.
        unsafe { RegDeleteTreeW(HKEY_CURRENT_USER as Hkey, path.as_ptr()) };
    }

    #[cfg(test)]
    #[test]
    fn hkey_current_user_is_the_sdks_sign_extended_handle() {
        assert_eq!(HKEY_CURRENT_USER as usize as u64, 0xFFFF_FFFF_8000_0001);
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    fn failed(key: &str, what: &str, rc: i32) -> CoreError {
        CoreError::new(Code::StoreError, format!(r"The configuration store HKCU\{key} could not {what} (Windows error {rc})."))
    }

    pub fn read(key_path: &str) -> CoreResult<Entries> {
        let path = wide(key_path);
        let mut key: Hkey = std::ptr::null_mut();
        // SAFETY: path is NUL-terminated; key receives a handle closed below.
        let rc = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER as Hkey, path.as_ptr(), 0, KEY_READ, &mut key) };
        if rc == ERROR_FILE_NOT_FOUND {
            return Ok(Vec::new());
        }
        if rc != ERROR_SUCCESS {
            return Err(failed(key_path, "be opened", rc));
        }
        let mut out = Vec::new();
        let mut index = 0u32;
        let mut data: Vec<u8> = vec![0; 4096];
        loop {
            let mut name = vec![0u16; 16_384];
            let mut name_len = name.len() as u32;
            let mut ty = 0u32;
            let mut data_len = data.len() as u32;
            // SAFETY: buffers and their lengths are valid for the call.
            let rc = unsafe {
                RegEnumValueW(key, index, name.as_mut_ptr(), &mut name_len, std::ptr::null_mut(), &mut ty, data.as_mut_ptr(), &mut data_len)
            };
            if rc == ERROR_MORE_DATA {
                data.resize(data_len as usize + 2, 0);
                continue;
            }
            if rc != ERROR_SUCCESS {
                let _ = rc == ERROR_NO_MORE_ITEMS;
                break;
            }
            index += 1;
            if ty != REG_SZ {
                continue;
            }
            let full = String::from_utf16_lossy(&name[..name_len as usize]);
            let units: Vec<u16> =
                data[..data_len as usize].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|u| *u != 0).collect();
            out.push((full, parse_registry_data(&String::from_utf16_lossy(&units))));
        }
        // SAFETY: key was opened above.
        unsafe { RegCloseKey(key) };
        Ok(out)
    }

    pub fn write(key_path: &str, changes: &[Change]) -> CoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = wide(key_path);
        let mut key: Hkey = std::ptr::null_mut();
        let mut disposition = 0u32;
        // SAFETY: path is NUL-terminated; key receives a handle closed below.
        let rc = unsafe {
            RegCreateKeyExW(
                HKEY_CURRENT_USER as Hkey,
                path.as_ptr(),
                0,
                std::ptr::null(),
                0,
                KEY_WRITE,
                std::ptr::null(),
                &mut key,
                &mut disposition,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(failed(key_path, "be created", rc));
        }
        let mut result = Ok(());
        for (name, value) in changes {
            let wname = wide(name);
            let rc = match value {
                Some(v) => {
                    let data = wide(&v.registry_data());
                    // SAFETY: data is a NUL-terminated UTF-16 buffer of the given byte length.
                    unsafe { RegSetValueExW(key, wname.as_ptr(), 0, REG_SZ, data.as_ptr() as *const u8, (data.len() * 2) as u32) }
                }
                // SAFETY: wname is NUL-terminated.
                None => match unsafe { RegDeleteValueW(key, wname.as_ptr()) } {
                    ERROR_FILE_NOT_FOUND => ERROR_SUCCESS,
                    other => other,
                },
            };
            if rc != ERROR_SUCCESS {
                result = Err(failed(key_path, "be written", rc));
                break;
            }
        }
        // SAFETY: key was opened above.
        unsafe { RegCloseKey(key) };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psf::Stored;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn stamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3_723); // 2000-02-29 01:02:03
        assert_eq!(utc_stamp(t), "20000229T010203Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
    }

    #[cfg(not(windows))]
    #[test]
    fn the_store_is_where_psframework_keeps_user_settings() {
        assert_eq!(
            Store::locate(&env_of(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])).unwrap(),
            Store::File("/x/PowerShell/PSFramework/psf_config.json".into())
        );
        assert_eq!(
            Store::locate(&env_of(&[("HOME", "/h")])).unwrap(),
            Store::File("/h/.config/PowerShell/PSFramework/psf_config.json".into())
        );
        assert_eq!(Store::locate(&env_of(&[("D365FO_CONFIG_FILE", "/f.json"), ("HOME", "/h")])).unwrap(), Store::File("/f.json".into()));
        assert!(Store::locate(&env_of(&[])).is_err());
    }

    #[cfg(windows)]
    #[test]
    fn on_windows_the_store_is_psframeworks_key_unless_a_file_or_another_key_is_named() {
        assert_eq!(Store::locate(&env_of(&[("APPDATA", r"C:\a"), ("HOME", r"C:\h")])).unwrap(), Store::Registry(REGISTRY_KEY.into()));
        assert_eq!(
            Store::locate(&env_of(&[("D365FO_CONFIG_REGISTRY_KEY", r"HKCU\Software\t\k\")])).unwrap(),
            Store::Registry(r"Software\t\k".into())
        );
        assert_eq!(
            Store::locate(&env_of(&[("D365FO_CONFIG_FILE", r"C:\f.json"), ("D365FO_CONFIG_REGISTRY_KEY", "x")])).unwrap(),
            Store::File(r"C:\f.json".into())
        );
        assert_eq!(Store::Registry(r"Software\t".into()).describe(), r"HKCU\Software\t");
    }

    #[cfg(windows)]
    #[test]
    fn a_registry_store_of_its_own_is_read_and_written_and_the_real_key_is_left_alone() {
        let real = Store::Registry(REGISTRY_KEY.into());
        let before = real.read().unwrap();
        let key = format!(r"Software\d365fo.interactive.tests\store-{}-{:x}", std::process::id(), fake_authority::util::random_u64());
        let store = Store::Registry(key.clone());
        assert!(store.read().unwrap().is_empty(), "a key that does not exist is an empty store");
        let url = "d365fo.integrations.odata.wintest.url";
        store
            .update(|_| {
                Ok((
                    vec![(url.to_string(), Some(NewValue::Text("https://x.example".into()))), ("a.n".to_string(), Some(NewValue::Int(5)))],
                    (),
                ))
            })
            .unwrap();
        let entries = store.read().unwrap();
        assert_eq!(crate::psf::lookup(&entries, url), Some(&Stored::Text("https://x.example".into())));
        assert_eq!(crate::psf::lookup(&entries, "a.n"), Some(&Stored::Text("5".into())));
        store.update(|_| Ok((vec![("a.n".to_string(), None)], ()))).unwrap();
        assert_eq!(store.read().unwrap().len(), 1);
        registry::delete_tree(&key);
        assert!(store.read().unwrap().is_empty());
        assert_eq!(real.read().unwrap(), before, "the real PSFramework key changed");
    }

    #[test]
    fn updates_write_atomically_and_clean_up_after_a_crashed_writer() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("PowerShell/PSFramework/psf_config.json");
        let store = Store::File(path.clone());
        assert!(store.read().unwrap().is_empty());
        let stale = path.parent().map(|p| p.join(".psf_config.json.999999.d365fo-tmp"));
        store.update(|_| Ok((vec![("a.b".to_string(), Some(NewValue::Text("1".into())))], ()))).unwrap();
        std::fs::write(stale.as_ref().unwrap(), b"half").unwrap();
        store
            .update(|e| {
                assert_eq!(crate::psf::lookup(e, "A.B"), Some(&Stored::Text("1".into())));
                Ok((vec![("a.b".to_string(), None), ("c.d".to_string(), Some(NewValue::Bool(true)))], ()))
            })
            .unwrap();
        assert!(!stale.unwrap().exists(), "a stale temporary file was left");
        let entries = store.read().unwrap();
        assert_eq!(entries, vec![("c.d".to_string(), Stored::Text("true".into()))]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }

    #[test]
    fn a_failed_change_writes_nothing_and_an_unreadable_file_is_never_overwritten() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let store = Store::File(path.clone());
        let e = store.update::<()>(|_| Err(CoreError::invalid("no"))).unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest);
        assert!(!path.exists());
        std::fs::write(&path, b"[{\"FullName\": ").unwrap();
        let e = store.update(|_| Ok((vec![("a".to_string(), Some(NewValue::Text("x".into())))], ()))).unwrap_err();
        assert!(e.code == Code::StoreError && e.message.contains("left unchanged"), "{}", e.message);
        assert_eq!(std::fs::read(&path).unwrap(), b"[{\"FullName\": ");
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = Store::File(path.clone());
                std::thread::spawn(move || {
                    for i in 0..10 {
                        store.update(|_| Ok((vec![(format!("k.{t}.{i}"), Some(NewValue::Text(i.to_string())))], ()))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(Store::File(path).read().unwrap().len(), 80);
    }

    /// Options for a test: its own busy window and lock wait, and hooks standing in for another writer.
    fn run<R>(
        path: &Path,
        busy_ms: u64,
        pause: &mut dyn FnMut(u32),
        before_compare: &mut dyn FnMut(u32),
        change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>,
    ) -> CoreResult<R> {
        run_with(path, busy_ms, pause, before_compare, &mut |_| {}, change)
    }

    /// The same, with a hook right before the rename.
    fn run_with<R>(
        path: &Path,
        busy_ms: u64,
        pause: &mut dyn FnMut(u32),
        before_compare: &mut dyn FnMut(u32),
        before_rename: &mut dyn FnMut(u32),
        change: impl FnOnce(&Entries) -> CoreResult<(Vec<Change>, R)>,
    ) -> CoreResult<R> {
        let mut o = Options {
            busy_window: Duration::from_millis(busy_ms),
            lock_wait: Duration::from_millis(200),
            pause,
            before_compare,
            before_rename,
        };
        update_file_with(path, &mut o, change)
    }

    fn set(name: &str, v: &str) -> Vec<Change> {
        vec![(name.to_string(), Some(NewValue::Text(v.into())))]
    }

    /// A file of another module's 200 settings, as PSFramework writes it.
    fn foreign_file(n: usize) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| format!("  {{\n    \"FullName\": \"other.module.s{i}\",\n    \"Value\": \"{i}\",\n    \"Version\": 1,\n    \"Type\": 6,\n    \"Style\": \"default\"\n  }}"))
            .collect();
        format!("[\n{}\n]", items.join(",\n"))
    }

    #[test]
    fn an_empty_file_seen_while_writing_is_read_again_and_not_taken_for_an_empty_store() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        // PSFramework's in-place write, caught after it emptied the file; it finishes before our second look.
        std::fs::write(&path, b"").unwrap();
        let full = foreign_file(200);
        let mut pause = |attempt: u32| {
            if attempt == 2 {
                std::fs::write(&path, full.as_bytes()).unwrap();
            }
        };
        run(&path, 60_000, &mut pause, &mut |_| {}, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        let entries = Store::File(path.clone()).read().unwrap();
        assert_eq!(entries.len(), 201, "other modules' settings were lost");
        // Cut short in the middle of an item: the same.
        let cut = &full[..full.len() / 2];
        std::fs::write(&path, cut).unwrap();
        let mut pause = |attempt: u32| {
            if attempt == 1 {
                std::fs::write(&path, full.as_bytes()).unwrap();
            }
        };
        run(&path, 60_000, &mut pause, &mut |_| {}, |_| Ok((set("d365fo.mine", "2"), ()))).unwrap();
        assert_eq!(Store::File(path).read().unwrap().len(), 201);
    }

    #[test]
    fn an_empty_file_that_stays_empty_is_empty_and_one_that_stays_invalid_is_refused_unchanged() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        std::fs::write(&path, b"\n").unwrap();
        let mut pause = |_| std::thread::sleep(Duration::from_millis(5));
        run(&path, 40, &mut pause, &mut |_| {}, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        assert_eq!(Store::File(path.clone()).read().unwrap().len(), 1);
        std::fs::write(&path, b"[{\"FullName\": ").unwrap();
        let mut looks = 0;
        let mut pause = |_| {
            looks += 1;
            std::thread::sleep(Duration::from_millis(5));
        };
        let e = run(&path, 40, &mut pause, &mut |_| {}, |_| Ok((set("d365fo.mine", "2"), ()))).unwrap_err();
        assert!(looks >= 2, "it was not read again");
        assert_eq!(e.code, Code::StoreError);
        assert!(e.message.contains(&path.display().to_string()) && e.message.contains("left unchanged"), "{}", e.message);
        assert_eq!(std::fs::read(&path).unwrap(), b"[{\"FullName\": ");
    }

    /// PSFramework's Set-Content empties the file through one handle, then opens the name again and writes from the
    /// start without emptying it. When it empties the file after our last check and before our rename, its text
    /// lands in the file we replaced, or over the start of ours (our tail left after its array): both times what it
    /// meant to write is merged with our change at once, and the file is whole.
    #[test]
    #[cfg(unix)]
    fn a_psframework_write_begun_right_before_our_rename_is_merged_wherever_its_text_lands() {
        // Where its text lands: in the file we replaced, over ours from the start, over ours from byte 1,024.
        for landing in ["the old file", "over ours", "over ours from 1024"] {
            let over_ours = landing != "the old file";
            let dir = fake_authority::scratch::tempdir();
            let path = dir.path().join("psf_config.json");
            std::fs::write(&path, foreign_file(20)).unwrap();
            // What PSFramework meant to write: the twenty it read, one of them changed; shorter than ours, so
            // written over ours it leaves our tail behind.
            let theirs = foreign_file(20).replace("\"Value\": \"1\"", "\"Value\": \"one\"");
            let old = std::cell::RefCell::new(Some(File::options().write(true).open(&path).unwrap()));
            let mut before_rename = |round: u32| {
                if round == 0 {
                    old.borrow().as_ref().unwrap().set_len(0).unwrap();
                }
            };
            let mut waits = 0;
            let mut pause = |attempt: u32| {
                assert_eq!(attempt, 0, "a busy re-read was not expected");
                waits += 1;
                if let Some(mut f) = old.borrow_mut().take() {
                    if over_ours {
                        drop(f);
                        f = File::options().write(true).open(&path).unwrap();
                        if landing.ends_with("1024") {
                            f.seek(std::io::SeekFrom::Start(1024)).unwrap();
                        }
                    }
                    f.write_all(theirs.as_bytes()).unwrap();
                }
            };
            take_notes();
            run_with(&path, 60_000, &mut pause, &mut |_| {}, &mut before_rename, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
            let text = std::fs::read(&path).unwrap();
            assert!(
                matches!(PsfFile::parse_torn(&text), Ok(Parsed::Whole(_))),
                "left damaged ({landing}): {}",
                String::from_utf8_lossy(&text)
            );
            let entries = Store::File(path.clone()).read().unwrap();
            assert_eq!(entries.len(), 21, "{landing}: {entries:?}");
            assert!(crate::psf::lookup(&entries, "d365fo.mine").is_some(), "our change was lost ({landing})");
            assert!(String::from_utf8_lossy(&text).contains("\"Value\": \"one\""), "PSFramework's change was lost ({landing})");
            assert_eq!(waits, 1, "it waited for the late text {waits} times");
            assert!(take_notes().iter().any(|n| n.verbose && n.message.contains("began writing")));
        }
        // An emptied file whose writer never writes: bounded, and our file stays.
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        std::fs::write(&path, foreign_file(3)).unwrap();
        let old = File::options().write(true).open(&path).unwrap();
        let started = std::time::Instant::now();
        let mut pause = |_| std::thread::sleep(Duration::from_millis(20));
        run_with(&path, 60_000, &mut pause, &mut |_| {}, &mut |_| old.set_len(0).unwrap(), |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        assert!(started.elapsed() < LATE_WAIT * 3, "{:?}", started.elapsed());
        assert_eq!(Store::File(path).read().unwrap().len(), 4);
    }

    #[test]
    fn a_file_changed_between_read_and_rename_is_merged_again() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        std::fs::write(&path, foreign_file(3)).unwrap();
        // Another module's writer lands after our read, before our rename.
        let mut before = |round: u32| {
            if round == 0 {
                std::fs::write(&path, foreign_file(5)).unwrap();
            }
        };
        run(&path, 100, &mut |_| {}, &mut before, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        let entries = Store::File(path.clone()).read().unwrap();
        assert_eq!(entries.len(), 6, "{entries:?}");
        assert!(crate::psf::lookup(&entries, "other.module.s4").is_some() && crate::psf::lookup(&entries, "d365fo.mine").is_some());
        // One that changes every time: bounded, an error, and what the other writer wrote stays.
        let mut n = 0;
        let mut always = |_| {
            n += 1;
            std::fs::write(&path, foreign_file(10 + n)).unwrap();
        };
        let e = run(&path, 100, &mut |_| {}, &mut always, |_| Ok((set("d365fo.mine", "2"), ()))).unwrap_err();
        assert!(e.message.contains("each of 5 times") && e.message.contains("nothing was changed"), "{}", e.message);
        assert_eq!(n, 5);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign_file(15));
        let left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(TMP_SUFFIX)).collect();
        assert!(left.is_empty(), "temporary files were left: {left:?}");
    }

    #[test]
    fn a_torn_file_that_stays_torn_is_repaired_to_its_array_and_kept_beside_it() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let torn = format!("{}\n    \"Type\": 6,\n    \"Style\": \"default\"\n  }}\n]\n", foreign_file(4));
        std::fs::write(&path, &torn).unwrap();
        take_notes();
        let mut pause = |_| std::thread::sleep(Duration::from_millis(5));
        run(&path, 40, &mut pause, &mut |_| {}, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        let repaired = std::fs::read(&path).unwrap();
        assert!(matches!(PsfFile::parse_torn(&repaired).unwrap(), Parsed::Whole(_)));
        assert_eq!(PsfFile::parse(&repaired).unwrap().entries().len(), 5);
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("psf_config.json.damaged-"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read_to_string(kept[0].path()).unwrap(), torn);
        let notes = take_notes();
        assert!(notes.iter().any(|n| !n.verbose && n.message.contains("repaired") && n.message.contains("damaged-")), "{notes:?}");
    }

    #[test]
    fn other_modules_items_keep_their_exact_text_through_a_write() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        let big = r#"{"Style":"Simple","Data":123456789012345678901234567890,"Version":1,"FullName":"other.big"}"#;
        let odd = r#"{"FullName":"other.odd","Value":"\ud800","Type":6,"Version":1,"Style":"default"}"#;
        std::fs::write(&path, format!("\u{feff}[{big},{odd}]")).unwrap();
        let store = Store::File(path.clone());
        assert_eq!(crate::psf::lookup(&store.read().unwrap(), "other.big"), Some(&Stored::Text("123456789012345678901234567890".into())));
        store.update(|_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(big) && text.contains(odd), "{text}");
        assert_eq!(store.read().unwrap().len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_file_is_replaced_in_its_targets_folder_with_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = fake_authority::scratch::tempdir();
        let (home, dots) = (dir.path().join("home"), dir.path().join("dotfiles"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&dots).unwrap();
        let real = dots.join("psf.json");
        std::fs::write(&real, foreign_file(2)).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = home.join("psf_config.json");
        std::os::unix::fs::symlink("../dotfiles/psf.json", &link).unwrap();
        Store::File(link.clone()).update(|_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced by a file");
        assert_eq!(PsfFile::parse(&std::fs::read(&real).unwrap()).unwrap().entries().len(), 3);
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777, 0o640);
        assert!(dots.join(LOCK_NAME).exists() && !home.join(LOCK_NAME).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_other_accounts_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        assert!(folder_is_open_to_others(0o777, 1000, 1000));
        assert!(!folder_is_open_to_others(0o1777, 0, 1000), "a sticky shared folder (/tmp) is safe");
        assert!(!folder_is_open_to_others(0o775, 1000, 1000), "the user's own group-writable folder (usergroups)");
        assert!(folder_is_open_to_others(0o775, 0, 1000), "a group-writable folder of root's");
        assert!(folder_is_open_to_others(0o755, 1001, 1000), "another account's folder");
        assert!(!folder_is_open_to_others(0o755, 0, 1000) && !folder_is_open_to_others(0o700, 1000, 1000));
        let dir = fake_authority::scratch::tempdir();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = shared.join("psf_config.json");
        let e = Store::File(path.clone()).update(|_| Ok((set("d365fo.mine", "1"), ()))).unwrap_err();
        assert_eq!(e.code, Code::StorePermissionDenied);
        assert!(e.message.contains("can be changed by other accounts") && e.message.contains("0777"), "{}", e.message);
        assert!(!path.exists() && !shared.join(LOCK_NAME).exists());
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        Store::File(path.clone()).update(|_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
    }

    /// The checks of `files_and_folders_the_user_cannot_write_are_refused_before_any_lock`, run as the
    /// unprivileged user (root ignores file modes).
    #[cfg(unix)]
    fn check_refusals(base: &Path, other_owned: bool) {
        let try_write = |p: &Path| Store::File(p.to_path_buf()).update(|_| Ok((set("d365fo.mine", "1"), ())));
        let ro = base.join("ro/psf_config.json");
        let e = try_write(&ro).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::StorePermissionDenied, format!("The configuration file '{}' is read-only; nothing was changed.", ro.display()).as_str())
        );
        assert_eq!(std::fs::read_to_string(&ro).unwrap(), foreign_file(2));
        assert!(!base.join("ro").join(LOCK_NAME).exists(), "the lock was taken before the refusal");
        let in_ro_folder = base.join("rofolder/psf_config.json");
        let e = try_write(&in_ro_folder).unwrap_err();
        assert_eq!(e.code, Code::StorePermissionDenied);
        assert!(e.message.contains("is read-only") && !e.message.contains("os error"), "{}", e.message);
        if other_owned {
            let theirs = base.join("other/psf_config.json");
            let e = try_write(&theirs).unwrap_err();
            assert_eq!(e.code, Code::StorePermissionDenied);
            assert!(e.message.contains("belongs to another account"), "{}", e.message);
            assert_eq!(std::fs::read_to_string(&theirs).unwrap(), foreign_file(2));
        }
        // The user's own file beside them is written as usual.
        try_write(&base.join("own/psf_config.json")).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_and_folders_the_user_cannot_write_are_refused_before_any_lock() {
        use std::os::unix::fs::PermissionsExt;
        const CHILD: &str = "D365FO_STORE_TEST_UNPRIVILEGED_BASE";
        if let Ok(base) = std::env::var(CHILD) {
            return check_refusals(Path::new(&base), true);
        }
        // SAFETY: no arguments.
        let root = unsafe { libc::geteuid() } == 0;
        let dir = fake_authority::scratch::tempdir();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let base = dir.path().join("u");
        for d in ["ro", "rofolder", "other", "own"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
            std::fs::write(base.join(d).join("psf_config.json"), foreign_file(2)).unwrap();
        }
        std::fs::set_permissions(base.join("ro/psf_config.json"), std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(base.join("other/psf_config.json"), std::fs::Permissions::from_mode(0o666)).unwrap();
        if !root {
            std::fs::set_permissions(base.join("rofolder"), std::fs::Permissions::from_mode(0o555)).unwrap();
            check_refusals(&base, false);
            std::fs::set_permissions(base.join("rofolder"), std::fs::Permissions::from_mode(0o755)).unwrap();
            return;
        }
        // As root (CI): the same checks as nobody (65534), and a file of root's in nobody's folder.
        let chown = |p: &Path| {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: c is NUL-terminated.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        };
        for p in ["", "ro", "ro/psf_config.json", "rofolder", "rofolder/psf_config.json", "other", "own", "own/psf_config.json"] {
            chown(&base.join(p));
        }
        std::fs::set_permissions(base.join("rofolder"), std::fs::Permissions::from_mode(0o555)).unwrap();
        let me = std::env::current_exe().unwrap();
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&me)
            .args(["--exact", "store::tests::files_and_folders_the_user_cannot_write_are_refused_before_any_lock", "--test-threads=1"])
            .env(CHILD, &base)
            .output()
            .expect("setpriv runs the test as an unprivileged user");
        let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.contains("1 passed"), "the unprivileged run failed: {said}");
        // Seen from outside: nothing of theirs changed hands.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(base.join("other/psf_config.json")).unwrap().uid(), 0);
        assert_eq!(std::fs::metadata(base.join("ro/psf_config.json")).unwrap().mode() & 0o777, 0o444);
        std::fs::set_permissions(base.join("rofolder"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_a_bounded_time_and_named() {
        let dir = fake_authority::scratch::tempdir();
        let path = dir.path().join("psf_config.json");
        std::fs::write(&path, foreign_file(2)).unwrap();
        let lock_path = dir.path().join(LOCK_NAME);
        let held = take_lock(&lock_path, Duration::ZERO).unwrap();
        let started = std::time::Instant::now();
        let e = run(&path, 100, &mut |_| {}, &mut |_| {}, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(e.message.contains(&lock_path.display().to_string()) && e.message.contains("nothing was changed"), "{}", e.message);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign_file(2));
        drop(held);
        run(&path, 100, &mut |_| {}, &mut |_| {}, |_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn temporary_files_are_new_never_through_a_link_and_failed_clean_ups_are_told() {
        let dir = fake_authority::scratch::tempdir();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let planted = dir.path().join(".psf_config.json.1.0000000000000000.d365fo-tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(open_new(&planted).is_err());
        std::fs::remove_file(&planted).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &planted).unwrap();
        assert!(open_new(&planted).is_err(), "a dangling link was followed");
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        std::fs::remove_file(&planted).unwrap();
        // A regular file, or a hard link to another file, planted under the name: never opened, never emptied.
        std::fs::hard_link(&victim, &planted).unwrap();
        assert_eq!(open_new(&planted).map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep", "the planted link's file was emptied");
        std::fs::remove_file(&planted).unwrap();
        // A stale temporary that cannot be removed (a folder by that name): a -Verbose note, and the write goes on.
        std::fs::create_dir_all(dir.path().join(".psf_config.json.7.d365fo-tmp/x")).unwrap();
        take_notes();
        Store::File(dir.path().join("psf_config.json")).update(|_| Ok((set("d365fo.mine", "1"), ()))).unwrap();
        let notes = take_notes();
        assert!(notes.iter().any(|n| n.verbose && n.message.contains(".psf_config.json.7.d365fo-tmp")), "{notes:?}");
        let a = unpredictable();
        assert_ne!(a, unpredictable());
    }
}
