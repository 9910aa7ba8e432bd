//! Ctrl-C as a request to stop at the next safe point, for work that would otherwise lose
//! what it did since its last save (a GAN run checkpoints every 500 steps by default: a
//! Ctrl-C just before one threw away half an hour of a 64 px ACGAN on 2 cores).
//!
//! [`watch`] installs a SIGINT handler that only sets a flag; the work polls
//! [`requested`], saves and returns. A second Ctrl-C ends the process at once, as it
//! would without the handler. [`Watch`]'s drop puts the earlier action back. Unix only;
//! elsewhere nothing is installed and Ctrl-C ends the process as before.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The line [`announce`]'s handler writes (pointer and length of a `&'static str`).
static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);

/// From now on, Ctrl-C writes `message` (a line of its own) to stderr and then ends the
/// process as it would have (by the signal: exit status 130). For work whose next run
/// resumes from what it saved (prep's journal, the label store): a run that ended
/// without a word looked lost. A [`watch`] taken later wins while it is held. A process
/// that ignores SIGINT goes on ignoring it.
pub fn announce(message: &'static str) {
    MESSAGE_LEN.store(message.len(), Ordering::SeqCst);
    MESSAGE.store(message.as_ptr().cast_mut(), Ordering::SeqCst);
    #[cfg(unix)]
    install(say_and_stop);
}

#[cfg(unix)]
extern "C" fn say_and_stop(_: libc::c_int) {
    let (ptr, len) = (
        MESSAGE.load(Ordering::SeqCst),
        MESSAGE_LEN.load(Ordering::SeqCst),
    );
    let message: &[u8] = match ptr.is_null() {
        true => &[],
        // SAFETY: `ptr` and `len` are a `&'static str`'s, stored before the handler was.
        false => unsafe { std::slice::from_raw_parts(ptr, len) },
    };
    stop_saying(&[b"\n", message, b"\n"]);
}

/// Makes `handler` SIGINT's action and returns the one before, unless SIGINT is ignored
/// (started in the background by a non-interactive shell, or under `nohup`): the
/// terminal's Ctrl-C is not meant for that process, and it stays ignored.
#[cfg(unix)]
fn install(handler: extern "C" fn(libc::c_int)) -> libc::sighandler_t {
    // SAFETY: setting SIGINT's action; the handlers given here only touch atomics and
    // call `stop_saying`, all async-signal-safe.
    unsafe {
        let previous = libc::signal(libc::SIGINT, handler as *const () as libc::sighandler_t);
        if previous == libc::SIG_IGN {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
        }
        previous
    }
}

/// From a SIGINT handler: writes `parts` to stderr and ends the process by the signal,
/// as it would have ended without a handler.
#[cfg(unix)]
fn stop_saying(parts: &[&[u8]]) {
    // SAFETY: write, signal and raise are async-signal-safe.
    unsafe {
        for part in parts {
            libc::write(2, part.as_ptr().cast(), part.len());
        }
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}

/// While held, Ctrl-C sets [`requested`] instead of ending the process.
pub struct Watch {
    /// The action before [`watch`], put back on drop.
    #[cfg(unix)]
    previous: libc::sighandler_t,
}

/// Starts watching for Ctrl-C (clears an earlier request). A process that ignores SIGINT
/// (started in the background by a non-interactive shell, or under `nohup`) goes on
/// ignoring it: the terminal's Ctrl-C is not meant for it.
pub fn watch() -> Watch {
    REQUESTED.store(false, Ordering::SeqCst);
    #[cfg(unix)]
    return Watch {
        previous: install(on_sigint),
    };
    #[cfg(not(unix))]
    Watch {}
}

/// Whether Ctrl-C was pressed since [`watch`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // Say why the process ends silently mid-save (a double press comes 1-10 ms after
        // the first, before the work has printed anything).
        stop_saying(&[
            b"\nfacesynth: interrupted again: stopped at once; the last saved checkpoint stands\n",
        ]);
    }
}

impl Watch {
    /// Ends the watch and, if Ctrl-C was pressed meanwhile, delivers it now to the action
    /// the watch replaced (work that only deferred Ctrl-C over a few writes, such as a
    /// label round's save, must not swallow it: a simulation would go on to its next
    /// round).
    pub fn end_and_deliver(self) {
        drop(self);
        #[cfg(unix)]
        if requested() {
            // SAFETY: raising a signal in this process.
            unsafe {
                libc::raise(libc::SIGINT);
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the action found at the start (never our handler: a nested
        // watch's previous action is the outer one's handler, which stays valid).
        unsafe {
            libc::signal(libc::SIGINT, self.previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first SIGINT is a request, not the end of the process; an ignored one stays
    /// ignored.
    #[cfg(unix)]
    #[test]
    fn a_first_ctrl_c_is_a_request() {
        let w = watch();
        assert!(!requested());
        on_sigint(libc::SIGINT); // what the kernel calls on the first Ctrl-C
        assert!(requested());
        drop(w);
        let w = watch();
        assert!(!requested());
        drop(w);
        // An ignored SIGINT stays ignored while watched, and after (one test: the
        // action and the flag are the process's).
        // SAFETY: setting and reading the action of SIGINT.
        unsafe {
            let before = libc::signal(libc::SIGINT, libc::SIG_IGN);
            let w = watch();
            assert_eq!(libc::signal(libc::SIGINT, libc::SIG_IGN), libc::SIG_IGN);
            drop(w);
            assert_eq!(libc::signal(libc::SIGINT, before), libc::SIG_IGN);
        }
    }
}
