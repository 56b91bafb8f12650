//! A busy machine: the example pipeline while busy-spinning threads compete for the
//! cores. A plugin call's deadline counts the CPU time the call uses, so a worker taken
//! off its core mid-call does not fail a healthy event — and an infinite loop is still
//! stopped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logbridge::health::{FailureFilter, FailureLog};
use logbridge::plugin::PluginLimits;
use logbridge::{ChannelSink, Host};
use logbridge_tests::{copy_of_plugins, fixture, generate_logs};
use serde_json::json;

/// Threads that keep every core busy until dropped (also when the test panics).
struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Spinners {
    fn start(n: usize) -> Spinners {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut spins = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        spins = std::hint::black_box(spins.wrapping_add(1));
                    }
                    spins
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// 100,000 events through the example plugins with 2 workers while 4 threads spin on
/// the 2 cores, under a 2 ms budget per call (the calls take microseconds; on the wall
/// clock, a worker taken off its core for one time slice would overrun it): no event
/// fails, and every one is accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_machine_fails_no_healthy_event() {
    const EVENTS: usize = 100_000;
    let logs = generate_logs(EVENTS, 12, &[]).unwrap();
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("contention"));
    let data = dir.join("data");
    let limits = PluginLimits {
        call_timeout: Duration::from_millis(2),
        ..PluginLimits::default()
    };
    let (sink, mut rx) = ChannelSink::new(1024);
    let counted = tokio::spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let spinners = Spinners::start(4);
    let host = Host::builder()
        .plugins_dir(&dir)
        .data_dir(&data)
        .plugin_limits(limits)
        .sink(sink)
        .workers(2)
        .buses(["security", "audit"])
        .build()
        .unwrap();
    for line in logs.lines() {
        host.send_auth0(line, "contention").await.unwrap();
    }
    let health = host.shutdown().await.unwrap();
    drop(spinners);
    let delivered = counted.await.unwrap();

    let failures = FailureLog::open(&data)
        .unwrap()
        .list(&FailureFilter::default())
        .unwrap();
    let deadlines = failures.iter().filter(|f| f.code == "deadline").count();
    assert_eq!(
        deadlines, 0,
        "deadline failures on a busy machine: {failures:#?}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(health.accepted, EVENTS as u64);
    assert_eq!(health.failed(), 0, "{health:?}");
    assert_eq!(delivered + health.filtered, EVENTS as u64);
}

/// Under the same contention, an infinite loop is still interrupted at its CPU budget,
/// and the events around it go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_machine_still_stops_an_infinite_loop() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("contention-spin"));
    std::fs::copy(fixture("hostile-transformer"), dir.join("15-hostile.wasm")).unwrap();
    std::fs::write(
        dir.join("15-hostile.toml"),
        "[config]\nbehavior = \"spin\"\n[limits]\ncall_timeout_ms = 20\n",
    )
    .unwrap();
    let data = dir.join("data");
    let (sink, mut rx) = ChannelSink::new(100);
    let spinners = Spinners::start(4);
    let host = Host::builder()
        .plugins_dir(&dir)
        .data_dir(&data)
        .sink(sink)
        .workers(2)
        .build()
        .unwrap();
    for n in 0..3 {
        for id in [format!("hostile-{n}"), format!("fine-{n}")] {
            let log = json!({"log_id": id, "date": "2026-11-25T09:00:00Z", "type": "s"});
            host.send_auth0(&log.to_string(), "spin").await.unwrap();
        }
    }
    let health = host.shutdown().await.unwrap();
    drop(spinners);
    let mut delivered = Vec::new();
    while let Ok(d) = rx.try_recv() {
        delivered.push(d.event.id);
    }
    delivered.sort();
    assert_eq!(delivered, ["fine-0", "fine-1", "fine-2"]);
    let failures = FailureLog::open(&data)
        .unwrap()
        .list(&FailureFilter::default())
        .unwrap();
    assert_eq!(failures.len(), 3, "{failures:#?}");
    for f in &failures {
        assert_eq!(f.code, "deadline", "{f:?}");
        assert!(
            f.message.contains("budget of 20 ms of CPU time"),
            "{}",
            f.message
        );
    }
    assert_eq!(health.failed(), 3);
}

/// Runs `command` to completion and returns its exit status and the CPU time (user and
/// system) that process alone used.
#[allow(unsafe_code)]
// The child is reaped by `wait4` below, which also gives its own resource usage.
#[allow(clippy::zombie_processes)]
fn run_measuring_cpu(command: &mut std::process::Command) -> (i32, Duration) {
    let child = command.spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for (std's `Child` is never waited on
    // here); `status` and `usage` are valid for writes for the duration of the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "{}", std::io::Error::last_os_error());
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap())
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap())
    };
    (
        libc::WEXITSTATUS(status),
        time(usage.ru_utime) + time(usage.ru_stime),
    )
}

/// An infinite loop costs at most 2× its CPU budget: two spinning calls under a 300 ms
/// budget, in a `logbridge run` whose plugins come from the compiled cache, use between
/// 600 ms and 1.2 s of CPU for the whole process.
#[test]
fn an_infinite_loop_is_stopped_within_twice_its_cpu_budget() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("contention-cpu"));
    std::fs::copy(fixture("hostile-transformer"), dir.join("15-hostile.wasm")).unwrap();
    std::fs::write(
        dir.join("15-hostile.toml"),
        "[config]\nbehavior = \"spin\"\n[limits]\ncall_timeout_ms = 300\n",
    )
    .unwrap();
    let bin = logbridge_tests::logbridge_bin().unwrap();
    let run = |input: &str| {
        let file = dir.join("input.ndjson");
        std::fs::write(&file, input).unwrap();
        let mut command = std::process::Command::new(&bin);
        command
            .arg("run")
            .arg("--plugins")
            .arg(&dir)
            .arg("--input")
            .arg(&file)
            .arg("--output")
            .arg(dir.join("out.jsonl"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--workers", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        run_measuring_cpu(&mut command)
    };
    // Compiles the plugins into the cache, so the measured run only loads them.
    assert_eq!(run("").0, 0);
    let hostile: String = (0..2)
        .map(|n| {
            json!({"log_id": format!("hostile-{n}"), "date": "2026-11-25T09:00:00Z", "type": "s"})
                .to_string()
                + "\n"
        })
        .collect();
    let (code, cpu) = run(&hostile);
    assert_eq!(code, 1, "the two spinning events failed");
    assert!(
        cpu >= Duration::from_millis(600),
        "each call ran until it had used its budget: {cpu:?}"
    );
    assert!(
        cpu <= Duration::from_millis(1200),
        "each call was stopped within twice its budget: {cpu:?}"
    );
}
