//! Windows DPAPI (CryptProtectData / CryptUnprotectData, current-user scope) for client secrets at rest.
//! Elsewhere both functions return `None`: the secret is kept in the owner-only (0600) store file.
//!
//! The declarations are written by hand from the documented Win32 signatures (crypt32.dll, kernel32.dll).
//! They are compiled and exercised only on Windows, which this project's CI machine does not run: UNVERIFIED.

/// `Some(Ok(blob))` on Windows, `None` where DPAPI does not exist.
pub fn protect(plain: &[u8]) -> Option<Result<Vec<u8>, String>> {
    imp::protect(plain)
}

/// `Some(Ok(plain))` on Windows, `None` where DPAPI does not exist.
pub fn unprotect(blob: &[u8]) -> Option<Result<Vec<u8>, String>> {
    imp::unprotect(blob)
}

#[cfg(windows)]
mod imp {
    use std::ffi::c_void;

    #[repr(C)]
    struct DataBlob {
        cb_data: u32,
        pb_data: *mut u8,
    }

    const CRYPTPROTECT_UI_FORBIDDEN: u32 = 0x1;

    #[link(name = "crypt32")]
    unsafe extern "system" {
        fn CryptProtectData(
            data_in: *const DataBlob,
            description: *const u16,
            entropy: *const DataBlob,
            reserved: *mut c_void,
            prompt: *mut c_void,
            flags: u32,
            data_out: *mut DataBlob,
        ) -> i32;
        fn CryptUnprotectData(
            data_in: *const DataBlob,
            description: *mut *mut u16,
            entropy: *const DataBlob,
            reserved: *mut c_void,
            prompt: *mut c_void,
            flags: u32,
            data_out: *mut DataBlob,
        ) -> i32;
    }

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn LocalFree(mem: *mut c_void) -> *mut c_void;
        fn GetLastError() -> u32;
    }

    /// Copies the output blob and frees it with LocalFree, as DPAPI requires.
    fn take(out: DataBlob) -> Vec<u8> {
        if out.pb_data.is_null() {
            return Vec::new();
        }
        // SAFETY: DPAPI returned cb_data bytes at pb_data, allocated with LocalAlloc.
        let v = unsafe { std::slice::from_raw_parts(out.pb_data, out.cb_data as usize) }.to_vec();
        // SAFETY: freed once, with the allocator DPAPI used.
        unsafe { LocalFree(out.pb_data as *mut c_void) };
        v
    }

    pub fn protect(plain: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let input = DataBlob { cb_data: plain.len() as u32, pb_data: plain.as_ptr() as *mut u8 };
        let mut out = DataBlob { cb_data: 0, pb_data: std::ptr::null_mut() };
        // SAFETY: input points at plain for the call; out is written by the call.
        let ok = unsafe {
            CryptProtectData(
                &input,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut out,
            )
        };
        if ok == 0 {
            // SAFETY: plain Win32 call.
            return Some(Err(format!("CryptProtectData failed (error {})", unsafe { GetLastError() })));
        }
        Some(Ok(take(out)))
    }

    pub fn unprotect(blob: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let input = DataBlob { cb_data: blob.len() as u32, pb_data: blob.as_ptr() as *mut u8 };
        let mut out = DataBlob { cb_data: 0, pb_data: std::ptr::null_mut() };
        // SAFETY: input points at blob for the call; out is written by the call.
        let ok = unsafe {
            CryptUnprotectData(
                &input,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut out,
            )
        };
        if ok == 0 {
            // SAFETY: plain Win32 call.
            return Some(Err(format!("CryptUnprotectData failed (error {})", unsafe { GetLastError() })));
        }
        Some(Ok(take(out)))
    }
}

#[cfg(not(windows))]
mod imp {
    pub fn protect(_plain: &[u8]) -> Option<Result<Vec<u8>, String>> {
        None
    }

    pub fn unprotect(_blob: &[u8]) -> Option<Result<Vec<u8>, String>> {
        None
    }
}
