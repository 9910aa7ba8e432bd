//! One lock for the backend's random generator.
//!
//! burn-flex keeps a single generator per process (`Backend::seed` replaces it), and burn
//! initializes parameters lazily, at their first use. A thread that seeds and then draws
//! (weights at the first forward pass, instance noise, dropout) gets the numbers its seed
//! promises only if no other thread seeds or draws in between; two trainings in one
//! process (tests run in parallel, a library user's threads) would otherwise change each
//! other's weights. Everything in facesynth that seeds the backend holds this lock from
//! the seed to its last draw.

use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

/// Holds the backend's generator for the caller until the guard is dropped.
pub fn lock() -> MutexGuard<'static, ()> {
    // A panic while holding it leaves no broken state behind: the next holder seeds anew.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
