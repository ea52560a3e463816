//! Clipboard and browser: helpful when they work, never a reason for the sign-in to fail.

use crate::cancel::CancelToken;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long the flow waits for the clipboard before going on without it.
const CLIPBOARD_WAIT: Duration = Duration::from_secs(3);

/// The clipboard stays open for the life of the process: on X11 the copying program owns the text and
/// serves pastes, so dropping it at the end of the call would empty the clipboard (no manager to hand to).
/// It is kept with the display it was opened on: a session whose DISPLAY changed gets a new one.
type ClipboardSlot = Mutex<Option<(String, arboard::Clipboard)>>;

fn clipboard_slot() -> &'static ClipboardSlot {
    static SLOT: OnceLock<ClipboardSlot> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

fn describe_clipboard_error(e: &arboard::Error) -> String {
    match e {
        arboard::Error::ClipboardNotSupported => "the clipboard is not supported here".into(),
        arboard::Error::ClipboardOccupied => "the clipboard is in use by another program".into(),
        other => short(&other.to_string()),
    }
}

fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(120).collect();
    if line.chars().count() > 120 {
        out.push('…');
    }
    if out.is_empty() { "unknown error".into() } else { out }
}

/// Why there is no graphical session to use, on Unix desktops (None elsewhere or when there is one).
fn no_display_reason(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if cfg!(any(target_os = "windows", target_os = "macos", target_os = "ios", target_os = "android")) {
        return None;
    }
    let set = |n: &str| env(n).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("no graphical display (DISPLAY and WAYLAND_DISPLAY are not set)".into())
    }
}

fn set_clipboard_text(text: &str, display: &str) -> Result<(), String> {
    let mut slot = clipboard_slot().lock().unwrap_or_else(|p| p.into_inner());
    if slot.as_ref().is_some_and(|(opened_on, _)| opened_on != display) {
        *slot = None;
    }
    for attempt in 0..2 {
        if slot.is_none() {
            let cb = arboard::Clipboard::new().map_err(|e| describe_clipboard_error(&e))?;
            *slot = Some((display.to_string(), cb));
        }
        let Some((_, cb)) = slot.as_mut() else { continue };
        match cb.set_text(text.to_string()) {
            Ok(()) => return Ok(()),
            // The display may have gone away since the last call: open a new clipboard once.
            Err(e) if attempt == 0 => {
                let _ = e;
                *slot = None;
            }
            Err(e) => return Err(describe_clipboard_error(&e)),
        }
    }
    Err("the clipboard could not be opened".into())
}

/// Copies `text` to the clipboard, waiting at most a few seconds (a remote X server may hang).
pub fn copy_to_clipboard(text: &str, env: &dyn Fn(&str) -> Option<String>, cancel: &CancelToken) -> Result<(), String> {
    if let Some(reason) = no_display_reason(env) {
        return Err(reason);
    }
    let (tx, rx) = mpsc::channel();
    let text = text.to_string();
    let display = format!("{}|{}", env("DISPLAY").unwrap_or_default(), env("WAYLAND_DISPLAY").unwrap_or_default());
    std::thread::Builder::new()
        .name("d365fo-clipboard".into())
        .spawn(move || {
            let _ = tx.send(set_clipboard_text(&text, &display));
        })
        .map_err(|_| "could not start a thread for the clipboard".to_string())?;
    let mut waited = Duration::ZERO;
    let slice = Duration::from_millis(25);
    while waited < CLIPBOARD_WAIT {
        match rx.recv_timeout(slice) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => return Err("cancelled".into()),
            Err(mpsc::RecvTimeoutError::Timeout) => waited += slice,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the clipboard thread failed".into()),
        }
    }
    Err("the clipboard did not answer in time".into())
}

/// Why the browser will not be opened, if it will not.
pub fn browser_skip_reason(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if env("BROWSER").is_some_and(|v| !v.trim().is_empty()) {
        return None;
    }
    no_display_reason(env)
}

/// Opens `url` in the browser on its own thread (text browsers run in the foreground and would block);
/// the outcome arrives on the returned channel.
pub fn open_browser(url: &str) -> Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    let url = url.to_string();
    let spawned = std::thread::Builder::new().name("d365fo-browser".into()).spawn({
        let tx = tx.clone();
        move || {
            let r = webbrowser::open(&url).map_err(|e| short(&e.to_string()));
            let _ = tx.send(r);
        }
    });
    if spawned.is_err() {
        let _ = tx.send(Err("could not start a thread for the browser".into()));
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn headless_unix_skips_the_browser_unless_browser_is_set() {
        assert!(browser_skip_reason(&env_of(&[])).unwrap().contains("DISPLAY"));
        assert!(browser_skip_reason(&env_of(&[("DISPLAY", "")])).is_some());
        assert!(browser_skip_reason(&env_of(&[("DISPLAY", ":0")])).is_none());
        assert!(browser_skip_reason(&env_of(&[("WAYLAND_DISPLAY", "wayland-0")])).is_none());
        assert!(browser_skip_reason(&env_of(&[("BROWSER", "/bin/true")])).is_none());
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn headless_clipboard_fails_softly_with_a_reason() {
        let t = CancelToken::new();
        let e = copy_to_clipboard("ABC", &env_of(&[]), &t).unwrap_err();
        assert!(e.contains("DISPLAY"), "{e}");
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(short("a\nb"), "a");
        assert_eq!(short(""), "unknown error");
        assert_eq!(short(&"x".repeat(300)).chars().count(), 121);
    }
}
