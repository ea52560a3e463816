//! The Windows clipboard, Unicode text only (`CF_UNICODETEXT`), bound by hand from the documented Win32
//! signatures (user32.dll, kernel32.dll) as `dpapi.rs` is. Windows lets one program at a time open the
//! clipboard (clipboard managers, remote desktop and Office hold it for moments), so opening is retried
//! briefly; the caller (desktop.rs) runs this on its own thread and never waits long for it.

use std::ffi::c_void;
use std::time::{Duration, Instant};

const CF_UNICODETEXT: u32 = 13;
const GMEM_MOVEABLE: u32 = 0x0002;

/// How long opening the clipboard is retried while another program holds it.
pub const OPEN_RETRY_FOR: Duration = Duration::from_millis(1_000);
const OPEN_RETRY_EVERY: Duration = Duration::from_millis(20);

#[link(name = "user32")]
unsafe extern "system" {
    fn OpenClipboard(owner: *mut c_void) -> i32;
    fn CloseClipboard() -> i32;
    fn EmptyClipboard() -> i32;
    fn SetClipboardData(format: u32, data: *mut c_void) -> *mut c_void;
    fn GetClipboardData(format: u32) -> *mut c_void;
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn GlobalAlloc(flags: u32, bytes: usize) -> *mut c_void;
    fn GlobalLock(mem: *mut c_void) -> *mut c_void;
    fn GlobalUnlock(mem: *mut c_void) -> i32;
    fn GlobalFree(mem: *mut c_void) -> *mut c_void;
    fn GetLastError() -> u32;
}

/// The clipboard, open for this thread until dropped.
struct Open;

impl Open {
    /// Opens the clipboard, retrying for `retry_for` while another program holds it.
    fn new(retry_for: Duration) -> Result<Open, String> {
        let until = Instant::now() + retry_for;
        loop {
            // SAFETY: no owner window; the clipboard is then associated with this thread until CloseClipboard.
            if unsafe { OpenClipboard(std::ptr::null_mut()) } != 0 {
                return Ok(Open);
            }
            #[cfg(test)]
            tests::FAILED_OPENS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if Instant::now() >= until {
                return Err("the clipboard is in use by another program".into());
            }
            std::thread::sleep(OPEN_RETRY_EVERY);
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // SAFETY: opened by Open::new on this thread.
        unsafe { CloseClipboard() };
    }
}

/// Puts `text` on the clipboard as Unicode text (the only format; other programs convert from it).
pub fn set_text(text: &str, retry_for: Duration) -> Result<(), String> {
    let units: Vec<u16> = text.encode_utf16().chain(Some(0)).collect();
    let bytes = units.len() * 2;
    let _open = Open::new(retry_for)?;
    // SAFETY: the clipboard is open on this thread.
    if unsafe { EmptyClipboard() } == 0 {
        // SAFETY: plain Win32 call.
        return Err(format!("the clipboard could not be emptied (error {})", unsafe { GetLastError() }));
    }
    // SAFETY: a movable global block, as SetClipboardData requires; freed below unless the clipboard takes it.
    let mem = unsafe { GlobalAlloc(GMEM_MOVEABLE, bytes) };
    if mem.is_null() {
        return Err("no memory for the clipboard".into());
    }
    // SAFETY: mem is a block of `bytes` bytes; locked, filled and unlocked here.
    unsafe {
        let p = GlobalLock(mem) as *mut u16;
        if p.is_null() {
            GlobalFree(mem);
            return Err("no memory for the clipboard".into());
        }
        std::ptr::copy_nonoverlapping(units.as_ptr(), p, units.len());
        GlobalUnlock(mem);
    }
    // SAFETY: on success the system owns mem; on failure it is still ours to free.
    if unsafe { SetClipboardData(CF_UNICODETEXT, mem) }.is_null() {
        // SAFETY: plain Win32 calls; mem was not taken.
        let code = unsafe { GetLastError() };
        unsafe { GlobalFree(mem) };
        return Err(format!("the clipboard did not take the text (error {code})"));
    }
    Ok(())
}

/// The clipboard's Unicode text, if it holds any.
pub fn get_text(retry_for: Duration) -> Result<Option<String>, String> {
    let _open = Open::new(retry_for)?;
    // SAFETY: the clipboard is open on this thread; the handle stays the clipboard's.
    let mem = unsafe { GetClipboardData(CF_UNICODETEXT) };
    if mem.is_null() {
        return Ok(None);
    }
    // SAFETY: a CF_UNICODETEXT block holds NUL-terminated UTF-16; read up to the NUL while locked.
    unsafe {
        let p = GlobalLock(mem) as *const u16;
        if p.is_null() {
            return Ok(None);
        }
        let mut n = 0;
        while *p.add(n) != 0 {
            n += 1;
        }
        let text = String::from_utf16_lossy(std::slice::from_raw_parts(p, n));
        GlobalUnlock(mem);
        Ok(Some(text))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, mpsc};

    /// Openings refused because another thread held the clipboard (what the retry test waits for).
    pub static FAILED_OPENS: AtomicUsize = AtomicUsize::new(0);

    /// The clipboard is one per session: these tests take turns.
    pub static TURN: Mutex<()> = Mutex::new(());

    #[test]
    fn unicode_text_goes_onto_the_clipboard_and_reads_back() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let text = "ABCD-EFGH · Gerät 設定 ✓";
        set_text(text, OPEN_RETRY_FOR).unwrap();
        assert_eq!(get_text(OPEN_RETRY_FOR).unwrap().as_deref(), Some(text));
        set_text("second", OPEN_RETRY_FOR).unwrap();
        assert_eq!(get_text(OPEN_RETRY_FOR).unwrap().as_deref(), Some("second"));
    }

    #[link(name = "user32")]
    unsafe extern "system" {
        fn CreateWindowExW(
            ex_style: u32,
            class: *const u16,
            name: *const u16,
            style: u32,
            x: i32,
            y: i32,
            w: i32,
            h: i32,
            parent: isize,
            menu: *mut c_void,
            instance: *mut c_void,
            param: *mut c_void,
        ) -> *mut c_void;
        fn DestroyWindow(window: *mut c_void) -> i32;
    }

    /// Another thread holds the clipboard open with a window of its own (as another program would) until told
    /// to let go.
    fn hold_clipboard() -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (opened_tx, opened_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let class: Vec<u16> = "STATIC".encode_utf16().chain(Some(0)).collect();
            const HWND_MESSAGE: isize = -3;
            // SAFETY: a message-only window of a predefined class, destroyed below.
            let window = unsafe {
                CreateWindowExW(
                    0,
                    class.as_ptr(),
                    class.as_ptr(),
                    0,
                    0,
                    0,
                    0,
                    0,
                    HWND_MESSAGE,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            assert!(!window.is_null(), "no window for the holder");
            // SAFETY: opened by this thread's window; closed below.
            assert!(unsafe { OpenClipboard(window) } != 0, "the holder could not open the clipboard");
            opened_tx.send(()).unwrap();
            let _ = release_rx.recv();
            // SAFETY: opened above on this thread; the window is this thread's.
            unsafe {
                CloseClipboard();
                DestroyWindow(window);
            }
        });
        opened_rx.recv().unwrap();
        (release_tx, holder)
    }

    #[test]
    fn a_held_clipboard_is_waited_for_briefly_then_given_up() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let (release, holder) = hold_clipboard();
        let started = Instant::now();
        let e = set_text("never", Duration::from_millis(150)).unwrap_err();
        let took = started.elapsed();
        assert_eq!(e, "the clipboard is in use by another program");
        assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(2), "{took:?}");
        release.send(()).unwrap();
        holder.join().unwrap();
        // Released: the next copy goes through at once.
        set_text("after", OPEN_RETRY_FOR).unwrap();
        assert_eq!(get_text(OPEN_RETRY_FOR).unwrap().as_deref(), Some("after"));
    }

    #[test]
    fn a_copy_waits_for_a_clipboard_released_meanwhile() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let (release, holder) = hold_clipboard();
        let (done_tx, done_rx) = mpsc::channel();
        let refused_before = FAILED_OPENS.load(Ordering::SeqCst);
        let copier = std::thread::spawn(move || done_tx.send(set_text("waited", Duration::from_secs(20))).unwrap());
        // Let go only once the copier was refused at least once: it must then retry and succeed.
        while FAILED_OPENS.load(Ordering::SeqCst) == refused_before {
            std::thread::yield_now();
        }
        assert!(done_rx.try_recv().is_err(), "the copy finished while the clipboard was held");
        release.send(()).unwrap();
        holder.join().unwrap();
        done_rx.recv().unwrap().unwrap();
        copier.join().unwrap();
        assert_eq!(get_text(OPEN_RETRY_FOR).unwrap().as_deref(), Some("waited"));
    }
}
