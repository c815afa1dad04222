//! What every server binary does to its process at start: stop cleanly on SIGINT/SIGTERM
//! (the event loop polls [`STOP_REQUESTED`] on every tick), ignore SIGPIPE, and lift the
//! open-file limit since every client holds a connection.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT/SIGTERM.
pub static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set [`STOP_REQUESTED`]; SIGPIPE is ignored.
pub fn install_signal_handlers() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_stop_signal` only performs an atomic store, which is async-signal-safe,
        // and has the C ABI signature `signal` expects.
        unsafe {
            libc::signal(signal, handler);
        }
    }
    // SAFETY: ignoring SIGPIPE is always sound; writes to a closed socket then return EPIPE
    // (Rust's runtime does this too; kept explicit because the loop depends on it).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Lifts the open-file soft limit to the hard limit.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if !raised {
        log::warn!("cannot raise the open-file limit; many connections may be refused");
    }
}
