//! Keeps freed memory in the process's heap for the next allocation (glibc's malloc).
//!
//! A training step's tensors are tens of megabytes each. glibc serves blocks that large
//! with a fresh `mmap` and unmaps them when freed, so each operation's output began as
//! page faults on newly zeroed pages: in a label round that was about 15% of the CPU
//! time, in the kernel, and 60 training steps went from 17.3 to 14.4 s without it
//! (perf; BENCHMARKS.md, label, session 13). With `mmap` off for allocations and no
//! trimming, freed blocks stay in the heap and the next step reuses them; the resident
//! memory stays at the largest step's, which the process reached anyway.

/// Turns off `mmap` for allocations and trimming of the heap (glibc only; elsewhere
/// nothing). For a program's `main`, before the work starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; glibc documents both
    // settings and applies them to later calls.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
