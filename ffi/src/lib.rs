//! The C ABI of kabuken: `libkabuken` (`.so` and `.a`) with the header
//! `include/kabuken.h`, generated from this crate by cbindgen (see
//! `ffi/cbindgen.toml`; `ffi/tests/header.rs` fails when it is stale).
//!
//! Conventions (modelled on rustls-ffi):
//! - Everything is prefixed `kbk_`; handles are opaque, made by `kbk_*_new`
//!   and released by `kbk_*_free`, which accepts NULL.
//! - Every fallible call returns a `kbk_status` (a `uint32_t` with stable
//!   numbers, `KBK_STATUS_OK` = 0); `kbk_status_message` gives a static text
//!   for each, and `kbk_last_error` the detailed message of this thread's
//!   last failure.
//! - Outputs go through out-parameters placed last, written only on
//!   success. Bad input (NULL, out-of-range integers, wrong lengths, invalid
//!   UTF-8) gets a status and changes nothing.
//! - Integers, never Rust enums, come in from C, and are range-checked.
//! - Callbacks take `void *userdata` first.
//! - Every export runs inside a panic boundary: a panic returns
//!   `KBK_STATUS_PANIC` and poisons the handle (later calls return
//!   `KBK_STATUS_POISONED`); nothing unwinds into C.
//!
//! No business logic lives here: each call converts its arguments and
//! forwards to the `kabuken` crate.
//!
//! Safety: this crate allows `unsafe` (the workspace denies it); every
//! `unsafe` block carries a `// SAFETY:` comment, and all of them are in
//! `status.rs` (pointer checks and conversions, the handle boundary), and
//! the `Send`/`Sync` declarations of C callbacks' `userdata` in `oob.rs`
//! (with the random-source callback's buffer) and `runtime.rs`.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

pub mod book;
pub mod crypto;
pub mod exchange;
pub mod gateway;
pub mod identity;
pub mod message;
pub mod oob;
pub mod register;
pub mod runtime;
pub mod status;

#[cfg(test)]
mod abi_exchange_tests;
#[cfg(test)]
mod abi_gateway_tests;
#[cfg(test)]
mod abi_runtime_tests;
#[cfg(test)]
mod abi_tests;
#[cfg(test)]
mod overhead;

use core::ffi::c_char;
use status::*;

/// Major version of this library (equals `KBK_VERSION_MAJOR` of the header
/// it was built with).
pub const KBK_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const KBK_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const KBK_VERSION_PATCH: u32 = 0;

/// The library's version as a static NUL-terminated string, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn kbk_version() -> *const c_char {
    c"0.1.0".as_ptr()
}

/// The library's version as one number: major * 10000 + minor * 100 + patch.
#[no_mangle]
pub extern "C" fn kbk_version_number() -> u32 {
    KBK_VERSION_MAJOR * 10_000 + KBK_VERSION_MINOR * 100 + KBK_VERSION_PATCH
}

/// A static NUL-terminated message for `status` (never NULL; "unknown
/// status" for numbers this library does not know).
#[no_mangle]
pub extern "C" fn kbk_status_message(status: kbk_status) -> *const c_char {
    message(status).as_ptr()
}

/// The size in bytes, NUL included, of this thread's last error message
/// (1 when there is none).
#[no_mangle]
pub extern "C" fn kbk_last_error_length() -> usize {
    std::panic::catch_unwind(|| with_last_error(|s| s.len() + 1)).unwrap_or(1)
}

/// Copies this thread's last error message (empty when no call has failed
/// on this thread) and a NUL into `buf` of `len` bytes, and its length
/// without the NUL into `*out_len`. `KBK_STATUS_BUFFER_TOO_SMALL` (nothing
/// written) when it does not fit: see `kbk_last_error_length`. This call
/// never changes the last error.
#[no_mangle]
pub extern "C" fn kbk_last_error(buf: *mut c_char, len: usize, out_len: *mut usize) -> kbk_status {
    std::panic::catch_unwind(|| {
        let text = with_last_error(str::to_owned);
        match write_cstr(&text, buf, len, out_len) {
            Ok(()) => KBK_STATUS_OK,
            Err(f) => f.status,
        }
    })
    .unwrap_or(KBK_STATUS_PANIC)
}

/// Forgets this thread's last error.
#[no_mangle]
pub extern "C" fn kbk_clear_last_error() {
    let _ = std::panic::catch_unwind(|| set_last_error_raw(String::new()));
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_constants_match_the_package() {
        assert_eq!(
            super::KBK_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            super::KBK_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            super::KBK_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: kbk_version returns a static NUL-terminated string.
        let v = unsafe { core::ffi::CStr::from_ptr(super::kbk_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
