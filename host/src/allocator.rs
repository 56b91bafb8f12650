//! The memory allocator the `logbridge` command runs on, for an embedding application to
//! run on too: mimalloc, set up as the command sets it up.
//!
//! Delivery makes many small, short-lived allocations per `PutEvents` call (the SDK's
//! request, its headers and signature, the HTTP exchange). With the C library's
//! allocator they cost about a third of the CPU of each call; with mimalloc the whole
//! host delivers about 30% more events per second on 2 cores (`scripts/bench.sh
//! delivery`, BENCHMARKS.md). Two settings keep its memory where the C library's is:
//! transparent huge pages are off (built in: they took resident memory from 40 to 110
//! MiB with 10 plugins), and freed memory goes back to the system after 10 ms instead of
//! mimalloc's 1 s ([`configure`]).
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: logbridge::allocator::Allocator = logbridge::allocator::ALLOCATOR;
//!
//! fn main() {
//!     logbridge::allocator::configure();
//!     // ...
//! }
//! ```

use std::ffi::c_long;

use libmimalloc_sys::mi_option_t;

/// The allocator type, for a `#[global_allocator]` static.
pub type Allocator = mimalloc::MiMalloc;

/// The allocator, for a `#[global_allocator]` static.
pub const ALLOCATOR: Allocator = mimalloc::MiMalloc;

/// How long freed memory stays with the allocator before it goes back to the system.
pub const PURGE_DELAY_MS: u16 = 10;

/// mimalloc's `mi_option_purge_delay`: in `mimalloc.h` the option just before
/// `mi_option_use_numa_nodes`, which the bindings name (they do not name this one).
const PURGE_DELAY: mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// The environment variable mimalloc reads the purge delay from.
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Sets the allocator's options: freed memory goes back to the system after
/// [`PURGE_DELAY_MS`], unless `MIMALLOC_PURGE_DELAY` says otherwise. Call it first thing
/// in `main`; it changes nothing else, and calling it again is harmless.
pub fn configure() {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; any value is
    // valid for this option, and mimalloc reads it atomically.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, c_long::from(PURGE_DELAY_MS));
    }
}

/// The purge delay in effect, in milliseconds.
#[cfg(test)]
fn purge_delay_ms() -> c_long {
    // SAFETY: reads one entry of mimalloc's option table.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_get(PURGE_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_shortens_the_purge_delay_of_the_option_named_so() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        // mimalloc's own default for the purge delay is 1 s: this checks that the option
        // number is that of the purge delay, before it is changed.
        assert_eq!(purge_delay_ms(), 1000, "not mimalloc's purge delay");
        configure();
        assert_eq!(purge_delay_ms(), c_long::from(PURGE_DELAY_MS));
    }
}
