//! Cache prefetch hints for batch paths: the only `unsafe` in the crate.
//!
//! A prefetch is a hint: it never faults and has no architectural effect,
//! so it is sound for any address. The function takes a reference anyway,
//! so only addresses of live values are ever passed. `unsafe` is needed only
//! because the intrinsic is declared with `#[target_feature(enable = "sse")]`,
//! and SSE is part of the x86_64 baseline. Elsewhere it does nothing.
#![allow(unsafe_code)]

/// Asks the CPU to bring `r`'s cache line into L1.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: see the module docs: SSE is baseline on x86_64 and a
    // prefetch does not access memory architecturally.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
