//! Clipboard and browser: helpful when they work, never a reason for the sign-in to fail.

use crate::cancel::CancelToken;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long the flow waits for the clipboard before going on without it.
const CLIPBOARD_WAIT: Duration = Duration::from_secs(3);

fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(120).collect();
    if line.chars().count() > 120 {
        out.push('…');
    }
    if out.is_empty() { "unknown error".into() } else { out }
}

/// What the flow needs to know about the person's desktop, read once from the environment by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desktop {
    /// `DISPLAY|WAYLAND_DISPLAY` when either is set (Unix desktops); the clipboard is kept per display.
    pub display: Option<String>,
    /// `$BROWSER` is set: the person chose a browser command, so it is tried even without a display.
    pub browser_command: bool,
}

impl Desktop {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Desktop {
        let set = |n: &str| env(n).filter(|v| !v.trim().is_empty());
        let (d, w) = (set("DISPLAY"), set("WAYLAND_DISPLAY"));
        let display = (d.is_some() || w.is_some()).then(|| format!("{}|{}", d.unwrap_or_default(), w.unwrap_or_default()));
        Desktop { display, browser_command: set("BROWSER").is_some() }
    }

    /// Why there is no graphical session to use, on Unix desktops (None elsewhere or when there is one).
    fn no_display_reason(&self) -> Option<String> {
        if cfg!(any(target_os = "windows", target_os = "macos", target_os = "ios", target_os = "android")) || self.display.is_some() {
            return None;
        }
        Some("there is no graphical display here (for example in an SSH session or a container)".into())
    }

    /// Why the browser will not be opened, if it will not.
    pub fn browser_skip_reason(&self) -> Option<String> {
        if self.browser_command {
            return None;
        }
        self.no_display_reason()
    }
}

/// The clipboard through arboard (X11, Wayland, macOS).
#[cfg(not(windows))]
mod clip {
    use super::short;
    use std::sync::{Mutex, OnceLock};

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

    pub fn set_clipboard_text(text: &str, display: &str) -> Result<(), String> {
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
}

/// The clipboard through Win32 (`winclip`), retried briefly while another program holds it.
#[cfg(windows)]
mod clip {
    pub fn set_clipboard_text(text: &str, _display: &str) -> Result<(), String> {
        crate::winclip::set_text(text, crate::winclip::OPEN_RETRY_FOR)
    }
}

/// Copies `text` to the clipboard, waiting at most a few seconds (a remote X server may hang).
pub fn copy_to_clipboard(text: &str, desktop: &Desktop, cancel: &CancelToken) -> Result<(), String> {
    if let Some(reason) = desktop.no_display_reason() {
        return Err(reason);
    }
    let (tx, rx) = mpsc::channel();
    let text = text.to_string();
    let display = desktop.display.clone().unwrap_or_default();
    std::thread::Builder::new()
        .name("d365fo-clipboard".into())
        .spawn(move || {
            let _ = tx.send(clip::set_clipboard_text(&text, &display));
        })
        .map_err(|_| "could not start a thread for the clipboard".to_string())?;
    let mut waited = Duration::ZERO;
    let slice = Duration::from_millis(25);
    while waited < CLIPBOARD_WAIT {
        match rx.recv_timeout(slice) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                return Err("cancelled".into());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => waited += slice,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the clipboard could not be reached".into());
            }
        }
    }
    Err("the clipboard did not answer within a few seconds".into())
}

/// Opens `url` in the browser on its own thread (text browsers run in the foreground and would block);
/// the outcome arrives on the returned channel.
pub fn open_browser(url: &str) -> Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    let url = url.to_string();
    let spawned = std::thread::Builder::new().name("d365fo-browser".into()).spawn({
        let tx = tx.clone();
        move || {
            let r = webbrowser::open(&url).map_err(|e| match e.kind() {
                // webbrowser's own text for this names environment variables the person never set.
                std::io::ErrorKind::NotFound => "no web browser was found on this machine".to_string(),
                _ => short(&e.to_string()),
            });
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
        let skip = |pairs: &[(&str, &str)]| Desktop::from_env(&env_of(pairs)).browser_skip_reason();
        assert!(skip(&[]).unwrap().contains("no graphical display"));
        assert!(skip(&[("DISPLAY", "")]).is_some());
        assert!(skip(&[("DISPLAY", ":0")]).is_none());
        assert!(skip(&[("WAYLAND_DISPLAY", "wayland-0")]).is_none());
        assert!(skip(&[("BROWSER", "/bin/true")]).is_none());
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn headless_clipboard_fails_softly_with_a_reason() {
        let t = CancelToken::new();
        let e = copy_to_clipboard("ABC", &Desktop::from_env(&env_of(&[])), &t).unwrap_err();
        assert!(e.contains("no graphical display") && !e.contains("DISPLAY"), "{e}");
    }

    #[cfg(not(all(unix, not(target_os = "macos"))))]
    #[test]
    fn without_display_variables_the_browser_is_still_tried_where_there_is_no_x11() {
        assert_eq!(Desktop::from_env(&env_of(&[])).browser_skip_reason(), None);
        assert_eq!(Desktop::from_env(&env_of(&[("DISPLAY", "")])).browser_skip_reason(), None);
    }

    #[cfg(windows)]
    #[test]
    fn the_code_reaches_the_windows_clipboard() {
        let _turn = crate::winclip::tests::TURN.lock().unwrap_or_else(|p| p.into_inner());
        copy_to_clipboard("WXYZ-1234", &Desktop::from_env(&env_of(&[])), &CancelToken::new()).unwrap();
        assert_eq!(crate::winclip::get_text(crate::winclip::OPEN_RETRY_FOR).unwrap().as_deref(), Some("WXYZ-1234"));
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(short("a\nb"), "a");
        assert_eq!(short(""), "unknown error");
        assert_eq!(short(&"x".repeat(300)).chars().count(), 121);
    }
}
