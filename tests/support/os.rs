//! What the tests ask of the operating system: a free loopback port, child processes
//! that die with the test, and enough open files for a thousand sockets.

use std::net::TcpListener;
use std::process::Command;

use anyhow::Result;

/// A free loopback port (released again; the server that takes it binds it at once).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Asks Linux to kill `command`'s process when the thread that started it dies (the test
/// thread, which owns the server), so no server outlives a killed test run.
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
    // parent; it is the only thing run between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Raises this process's soft limit of open files to at least `want` (up to the hard
/// limit) and returns the limit now in force.
pub fn raise_open_file_limit(want: u64) -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
    #[allow(unsafe_code)]
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    anyhow::ensure!(got == 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur < want {
        limit.rlim_cur = want.min(limit.rlim_max);
        // SAFETY: setrlimit only reads the struct it is given.
        #[allow(unsafe_code)]
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        anyhow::ensure!(set == 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}
