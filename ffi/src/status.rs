//! Status codes, the thread-local last error, the panic boundary and the
//! pointer helpers. Every `unsafe` block of the crate is in this file.

use core::ffi::{c_char, CStr};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// A status code: `KBK_STATUS_OK` (0) or why a call failed. The numbers are
/// stable: codes are only ever added. Ranges: 0..=99 general, 100..=199 the
/// order book and market, 200..=299 out-of-band verification; 300.. are
/// reserved for crypto, certificates, the register, the exchange and the
/// runtime.
pub type kbk_status = u32;

/// Success.
pub const KBK_STATUS_OK: kbk_status = 0;
/// A required pointer argument was NULL.
pub const KBK_STATUS_NULL_ARGUMENT: kbk_status = 1;
/// An integer argument was out of range (an unknown enum value, a flag other
/// than 0 or 1, a misaligned pointer, a length that cannot be).
pub const KBK_STATUS_INVALID_ARGUMENT: kbk_status = 2;
/// A string argument was not valid UTF-8.
pub const KBK_STATUS_INVALID_UTF8: kbk_status = 3;
/// The output buffer is too small; nothing was written.
pub const KBK_STATUS_BUFFER_TOO_SMALL: kbk_status = 4;
/// A Rust panic was caught at the boundary; the handle is now poisoned.
pub const KBK_STATUS_PANIC: kbk_status = 5;
/// The handle was poisoned by an earlier panic; free it.
pub const KBK_STATUS_POISONED: kbk_status = 6;
/// The pointer is not a live handle of the expected type.
pub const KBK_STATUS_INVALID_HANDLE: kbk_status = 7;
/// The thing asked about does not exist (an empty side, an unknown order,
/// an unknown instrument or contractor).
pub const KBK_STATUS_NOT_FOUND: kbk_status = 8;

/// Book: a resting order already has this id.
pub const KBK_STATUS_BOOK_DUPLICATE_ID: kbk_status = 101;
/// Book: no resting order has this id.
pub const KBK_STATUS_BOOK_UNKNOWN_ORDER: kbk_status = 102;
/// Book: quantity zero or above the book's maximum.
pub const KBK_STATUS_BOOK_INVALID_QUANTITY: kbk_status = 103;
/// Book: quantity not a multiple of the lot size.
pub const KBK_STATUS_BOOK_LOT_SIZE: kbk_status = 104;
/// Book: price outside the book's allowed range.
pub const KBK_STATUS_BOOK_PRICE_OUT_OF_RANGE: kbk_status = 105;
/// Book: a post-only order would take liquidity.
pub const KBK_STATUS_BOOK_POST_ONLY_WOULD_CROSS: kbk_status = 106;
/// Book: an impossible combination of order type, time in force and
/// post-only.
pub const KBK_STATUS_BOOK_INVALID_ORDER_TYPE: kbk_status = 107;
/// Book: a GTD order whose expiry is not after the book's time.
pub const KBK_STATUS_BOOK_ALREADY_EXPIRED: kbk_status = 108;
/// Book: the book holds as many resting orders as it may.
pub const KBK_STATUS_BOOK_FULL: kbk_status = 109;
/// Book: the configuration is inconsistent.
pub const KBK_STATUS_BOOK_INVALID_CONFIG: kbk_status = 110;
/// Market: an instrument with this id is already listed.
pub const KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT: kbk_status = 111;

/// Out-of-band: login refused (uniform on purpose).
pub const KBK_STATUS_OOB_AUTHENTICATION_FAILED: kbk_status = 201;
/// Out-of-band: the session is unknown, ended or expired.
pub const KBK_STATUS_OOB_INVALID_SESSION: kbk_status = 202;
/// Out-of-band: the contractor is disabled.
pub const KBK_STATUS_OOB_CONTRACTOR_DISABLED: kbk_status = 203;
/// Out-of-band: the amount exceeds the contractor's maximum.
pub const KBK_STATUS_OOB_ABOVE_MAXIMUM: kbk_status = 204;
/// Out-of-band: the answer confirmed or cancelled nothing (uniform on
/// purpose).
pub const KBK_STATUS_OOB_ANSWER_REJECTED: kbk_status = 205;
/// Out-of-band: the contractor has the maximum number of pending requests.
pub const KBK_STATUS_OOB_TOO_MANY_PENDING: kbk_status = 206;
/// Out-of-band: every callback line is busy.
pub const KBK_STATUS_OOB_NO_FREE_CALLBACK_LINE: kbk_status = 207;
/// Out-of-band: the method needs a biometric verifier and none is set.
pub const KBK_STATUS_OOB_METHOD_UNAVAILABLE: kbk_status = 208;
/// Out-of-band: the random number source failed.
pub const KBK_STATUS_OOB_RANDOMNESS_FAILURE: kbk_status = 209;
/// Out-of-band: a contractor with this user code exists.
pub const KBK_STATUS_OOB_DUPLICATE_USER_CODE: kbk_status = 210;
/// Out-of-band: no contractor with this id.
pub const KBK_STATUS_OOB_UNKNOWN_CONTRACTOR: kbk_status = 211;
/// Out-of-band: the contractor specification is invalid (the last error
/// says which field).
pub const KBK_STATUS_OOB_INVALID_RECORD: kbk_status = 212;
/// Out-of-band: the service configuration is invalid.
pub const KBK_STATUS_OOB_INVALID_CONFIG: kbk_status = 213;
/// Out-of-band: the audit chain is damaged (the last error says where).
pub const KBK_STATUS_OOB_AUDIT_VIOLATION: kbk_status = 214;

/// The static message of a status (never NULL; "unknown status" for codes
/// this library does not know).
pub(crate) fn message(s: kbk_status) -> &'static CStr {
    match s {
        KBK_STATUS_OK => c"ok",
        KBK_STATUS_NULL_ARGUMENT => c"a required pointer argument was NULL",
        KBK_STATUS_INVALID_ARGUMENT => c"an argument was out of range",
        KBK_STATUS_INVALID_UTF8 => c"a string argument was not valid UTF-8",
        KBK_STATUS_BUFFER_TOO_SMALL => c"the output buffer is too small",
        KBK_STATUS_PANIC => c"internal error (panic caught); the handle is poisoned",
        KBK_STATUS_POISONED => c"the handle is poisoned by an earlier panic",
        KBK_STATUS_INVALID_HANDLE => c"not a live handle of the expected type",
        KBK_STATUS_NOT_FOUND => c"not found",
        KBK_STATUS_BOOK_DUPLICATE_ID => c"book: duplicate order id",
        KBK_STATUS_BOOK_UNKNOWN_ORDER => c"book: unknown order",
        KBK_STATUS_BOOK_INVALID_QUANTITY => c"book: invalid quantity",
        KBK_STATUS_BOOK_LOT_SIZE => c"book: quantity is not a multiple of the lot size",
        KBK_STATUS_BOOK_PRICE_OUT_OF_RANGE => c"book: price out of range",
        KBK_STATUS_BOOK_POST_ONLY_WOULD_CROSS => c"book: post-only order would cross",
        KBK_STATUS_BOOK_INVALID_ORDER_TYPE => c"book: invalid order type",
        KBK_STATUS_BOOK_ALREADY_EXPIRED => c"book: GTD expiry is not in the future",
        KBK_STATUS_BOOK_FULL => c"book: full",
        KBK_STATUS_BOOK_INVALID_CONFIG => c"book: invalid configuration",
        KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT => c"market: instrument already listed",
        KBK_STATUS_OOB_AUTHENTICATION_FAILED => c"oob: authentication failed",
        KBK_STATUS_OOB_INVALID_SESSION => c"oob: invalid session",
        KBK_STATUS_OOB_CONTRACTOR_DISABLED => c"oob: contractor disabled",
        KBK_STATUS_OOB_ABOVE_MAXIMUM => c"oob: amount above the contractor's maximum",
        KBK_STATUS_OOB_ANSWER_REJECTED => c"oob: answer rejected",
        KBK_STATUS_OOB_TOO_MANY_PENDING => c"oob: too many pending requests",
        KBK_STATUS_OOB_NO_FREE_CALLBACK_LINE => c"oob: no free callback line",
        KBK_STATUS_OOB_METHOD_UNAVAILABLE => c"oob: confirmation method unavailable",
        KBK_STATUS_OOB_RANDOMNESS_FAILURE => c"oob: random number source failure",
        KBK_STATUS_OOB_DUPLICATE_USER_CODE => c"oob: duplicate user code",
        KBK_STATUS_OOB_UNKNOWN_CONTRACTOR => c"oob: unknown contractor",
        KBK_STATUS_OOB_INVALID_RECORD => c"oob: invalid contractor record",
        KBK_STATUS_OOB_INVALID_CONFIG => c"oob: invalid configuration",
        KBK_STATUS_OOB_AUDIT_VIOLATION => c"oob: audit chain violation",
        _ => c"unknown status",
    }
}

/// A failure: its status and the message kept as the last error.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: kbk_status,
    pub(crate) msg: String,
}

impl Fail {
    pub(crate) fn new(status: kbk_status, msg: impl Into<String>) -> Self {
        Fail {
            status,
            msg: msg.into(),
        }
    }
    pub(crate) fn null(what: &str) -> Self {
        Fail::new(KBK_STATUS_NULL_ARGUMENT, format!("{what} is NULL"))
    }
    pub(crate) fn arg(msg: impl Into<String>) -> Self {
        Fail::new(KBK_STATUS_INVALID_ARGUMENT, msg)
    }
}

pub(crate) type Res<T = ()> = Result<T, Fail>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn set_last_error(status: kbk_status, msg: &str) {
    let text = format!("{}: {msg}", message(status).to_string_lossy());
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

pub(crate) fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|e| f(&e.borrow()))
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn finish(r: Res) -> kbk_status {
    match r {
        Ok(()) => KBK_STATUS_OK,
        Err(f) => {
            set_last_error(f.status, &f.msg);
            f.status
        }
    }
}

/// The panic boundary of a call without a handle.
#[inline]
pub(crate) fn guard(f: impl FnOnce() -> Res) -> kbk_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => finish(r),
        Err(p) => {
            set_last_error(KBK_STATUS_PANIC, &panic_text(&*p));
            KBK_STATUS_PANIC
        }
    }
}

/// What every handle starts with: a type tag (to catch a handle of another
/// type, or garbage) and the poisoned flag.
#[derive(Debug)]
pub(crate) struct Header {
    magic: u64,
    poisoned: AtomicBool,
    /// Set while a `with_mut` call runs, so a callback calling back into
    /// the same single-threaded handle is refused instead of aliasing it.
    busy: AtomicBool,
}

impl Header {
    pub(crate) const fn new(magic: u64) -> Self {
        Header {
            magic,
            poisoned: AtomicBool::new(false),
            busy: AtomicBool::new(false),
        }
    }
}

/// An opaque handle type.
pub(crate) trait Handle {
    /// The type tag.
    const MAGIC: u64;
    /// The handle's header (must be the first field, `repr(C)`).
    fn header(&self) -> &Header;
}

fn check_header<'a, H: Handle>(h: *const H) -> Res<&'a Header> {
    if h.is_null() {
        return Err(Fail::null("handle"));
    }
    if !h.is_aligned() {
        return Err(Fail::new(KBK_STATUS_INVALID_HANDLE, "misaligned handle"));
    }
    // SAFETY: the C caller's contract (kabuken.h): a handle argument is
    // NULL or a pointer this library returned and that has not been freed.
    // It is non-NULL and aligned here. Every handle is `repr(C)` with the
    // `Header` first, so reading the header is valid for any handle type,
    // which is how a handle of another type is caught.
    let header = unsafe { &*h.cast::<Header>() };
    if header.magic != H::MAGIC {
        return Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "not a handle of the expected type (or already freed)",
        ));
    }
    if header.poisoned.load(Ordering::Relaxed) {
        return Err(Fail::new(KBK_STATUS_POISONED, "free the handle"));
    }
    Ok(header)
}

/// The panic boundary of a call on a handle used through `&mut` (single
/// thread at a time): checks the handle, runs `f`, poisons on panic.
#[inline]
pub(crate) fn with_mut<H: Handle>(h: *mut H, f: impl FnOnce(&mut H) -> Res) -> kbk_status {
    let header = match check_header(h) {
        Ok(hd) => hd,
        Err(e) => return finish(Err(e)),
    };
    if header.busy.load(Ordering::Relaxed) {
        return finish(Err(Fail::new(
            KBK_STATUS_INVALID_HANDLE,
            "called from one of this handle's own callbacks",
        )));
    }
    header.busy.store(true, Ordering::Relaxed);
    // SAFETY: checked non-NULL, aligned and of the right type above; the
    // header documents that a handle of this type is used by one thread at
    // a time, and `busy` refuses re-entry from its callbacks, so this is
    // the only reference.
    let r = catch_unwind(AssertUnwindSafe(|| f(unsafe { &mut *h })));
    header.busy.store(false, Ordering::Relaxed);
    after(h, r)
}

/// The panic boundary of a call on a handle shared between threads (`&`).
#[inline]
pub(crate) fn with_ref<H: Handle + Sync>(h: *const H, f: impl FnOnce(&H) -> Res) -> kbk_status {
    if let Err(e) = check_header(h) {
        return finish(Err(e));
    }
    // SAFETY: checked non-NULL, aligned and of the right type above; the
    // type is `Sync`, so shared references from many threads are fine.
    let r = catch_unwind(AssertUnwindSafe(|| f(unsafe { &*h })));
    after(h, r)
}

fn after<H: Handle>(h: *const H, r: std::thread::Result<Res>) -> kbk_status {
    match r {
        Ok(r) => finish(r),
        Err(p) => {
            // SAFETY: `h` was checked valid before the call; a panic does
            // not free it (only `*_free` does).
            unsafe { &*h }
                .header()
                .poisoned
                .store(true, Ordering::Relaxed);
            set_last_error(KBK_STATUS_PANIC, &panic_text(&*p));
            KBK_STATUS_PANIC
        }
    }
}

/// Boxes a new handle for C.
pub(crate) fn into_raw<H>(h: H) -> *mut H {
    Box::into_raw(Box::new(h))
}

/// Frees a handle from `*_new` (NULL, a handle of another type and a
/// poisoned handle are fine). Never unwinds.
pub(crate) fn free<H: Handle>(h: *mut H) {
    if h.is_null() || !h.is_aligned() {
        return;
    }
    // SAFETY: as in `check_header`: non-NULL, aligned, a handle from this
    // library; the header is first in every handle.
    let header = unsafe { &*h.cast::<Header>() };
    if header.magic != H::MAGIC {
        return;
    }
    // SAFETY: the pointer came from `into_raw` (`Box::into_raw`) for this
    // type (the magic says so) and the caller gives up its ownership here.
    let mut b = unsafe { Box::from_raw(h) };
    // Clear the tag before the memory is returned, so a later call with the
    // dangling pointer is more likely to be refused than misused.
    // SAFETY: `b` owns the handle; the header is its first field.
    unsafe { (*(&mut *b as *mut H).cast::<Header>()).magic = 0 };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
}

// ---- pointer helpers ------------------------------------------------------
//
// The C caller's contract, stated in kabuken.h: every non-NULL pointer
// argument points to valid, initialised memory of the documented type and
// length for the duration of the call, and output pointers are writable.
// The helpers below check what can be checked (NULL, alignment, length
// overflow, UTF-8) and rely on that contract for the rest.

/// A required input object.
#[inline]
pub(crate) fn req<'a, T>(p: *const T, what: &str) -> Res<&'a T> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    // SAFETY: non-NULL and aligned; valid by the C caller's contract.
    Ok(unsafe { &*p })
}

/// An optional input object (NULL gives `None`).
#[inline]
pub(crate) fn opt<'a, T>(p: *const T, what: &str) -> Res<Option<&'a T>> {
    if p.is_null() {
        Ok(None)
    } else {
        req(p, what).map(Some)
    }
}

/// An output object, written once on success through a raw pointer (the
/// memory behind it may be uninitialised, so no reference to it is made).
#[derive(Debug)]
pub(crate) struct Out<'a, T>(*mut T, core::marker::PhantomData<&'a mut T>);

impl<T> Out<'_, T> {
    /// Writes the result.
    #[inline]
    pub(crate) fn set(self, v: T) {
        // SAFETY: checked non-NULL and aligned in `out`; writable by the C
        // caller's contract. `write` does not read or drop the old bytes.
        unsafe { self.0.write(v) }
    }
}

/// A required output object: checked before any work, written (with
/// [`Out::set`]) only on success.
#[inline]
pub(crate) fn out<'a, T>(p: *mut T, what: &str) -> Res<Out<'a, T>> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    Ok(Out(p, core::marker::PhantomData))
}

/// An output array, written element by element through a raw pointer.
#[derive(Debug)]
pub(crate) struct OutSlice<'a, T> {
    p: *mut T,
    n: usize,
    _m: core::marker::PhantomData<&'a mut T>,
}

impl<T> OutSlice<'_, T> {
    /// Capacity in elements.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.n
    }
    /// Writes element `i` (`i` must be below [`Self::len`]; checked).
    #[inline]
    pub(crate) fn set(&mut self, i: usize, v: T) {
        assert!(i < self.n, "output index out of bounds");
        // SAFETY: `i < n`, and `p` is valid for `n` writable elements
        // (checked non-NULL, aligned, size fits; C caller's contract).
        unsafe { self.p.add(i).write(v) }
    }
}

fn check_len<T>(p: *const T, n: usize, what: &str) -> Res<bool> {
    if n == 0 {
        return Ok(false);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if !p.is_aligned() {
        return Err(Fail::arg(format!("{what} is misaligned")));
    }
    if n.checked_mul(core::mem::size_of::<T>().max(1))
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Fail::arg(format!("{what}: length {n} is too large")));
    }
    Ok(true)
}

/// An input array of `n` elements (`p` may be NULL when `n` is 0).
#[inline]
pub(crate) fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Res<&'a [T]> {
    if !check_len(p, n, what)? {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, aligned, length checked to fit in `isize`; `n`
    // initialised elements by the C caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// An output array of `n` elements (`p` may be NULL when `n` is 0).
#[inline]
pub(crate) fn slice_mut<'a, T>(p: *mut T, n: usize, what: &str) -> Res<OutSlice<'a, T>> {
    let n = if check_len(p, n, what)? { n } else { 0 };
    Ok(OutSlice {
        p,
        n,
        _m: core::marker::PhantomData,
    })
}

/// A required NUL-terminated UTF-8 string.
#[inline]
pub(crate) fn string<'a>(p: *const c_char, what: &str) -> Res<&'a str> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL; a NUL-terminated string by the C caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Fail::new(KBK_STATUS_INVALID_UTF8, format!("{what} is not UTF-8")))
}

/// A fixed-size byte array behind a pointer.
#[inline]
pub(crate) fn bytes32<'a>(p: *const u8, what: &str) -> Res<&'a [u8; 32]> {
    req(p.cast::<[u8; 32]>(), what)
}

/// A 0/1 flag from C.
#[inline]
pub(crate) fn flag(v: u8, what: &str) -> Res<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Fail::arg(format!("{what} must be 0 or 1, got {v}"))),
    }
}

/// Copies `s` and a NUL into `buf` of `cap` bytes (only if it fits).
pub(crate) fn write_cstr(s: &str, buf: *mut c_char, cap: usize, out_len: *mut usize) -> Res {
    let out_len = out(out_len, "out_len")?;
    let mut dst = slice_mut(buf.cast::<u8>(), cap, "buf")?;
    if s.len() >= cap {
        return Err(Fail::new(
            KBK_STATUS_BUFFER_TOO_SMALL,
            format!("{} bytes needed (with the NUL), {cap} given", s.len() + 1),
        ));
    }
    for (i, b) in s.bytes().enumerate() {
        dst.set(i, b);
    }
    dst.set(s.len(), 0);
    out_len.set(s.len());
    Ok(())
}

pub(crate) fn set_last_error_raw(text: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    struct T {
        header: Header,
        v: u32,
    }
    impl Handle for T {
        const MAGIC: u64 = 42;
        fn header(&self) -> &Header {
            &self.header
        }
    }

    #[test]
    fn a_panic_poisons_the_handle_and_never_unwinds() {
        let h = into_raw(T {
            header: Header::new(T::MAGIC),
            v: 1,
        });
        assert_eq!(
            with_mut(h, |t| {
                t.v = 2;
                Ok(())
            }),
            KBK_STATUS_OK
        );
        assert_eq!(with_mut(h, |_| panic!("boom")), KBK_STATUS_PANIC);
        assert!(with_last_error(|e| e.contains("boom")));
        assert_eq!(with_mut(h, |_| Ok(())), KBK_STATUS_POISONED);
        assert_eq!(guard(|| panic!("free-standing")), KBK_STATUS_PANIC);
        free(h);
        free::<T>(core::ptr::null_mut());
        assert_eq!(
            with_mut::<T>(core::ptr::null_mut(), |_| Ok(())),
            KBK_STATUS_NULL_ARGUMENT
        );
    }

    #[test]
    fn every_status_has_a_message() {
        for s in 0..300 {
            assert!(!message(s).to_bytes().is_empty());
        }
        assert_eq!(message(KBK_STATUS_OK), c"ok");
    }
}
