//! Plugins that print, panic, trap, loop or refuse in `init`: at start-up (a host built
//! inside a tokio runtime, and the `logbridge run` binary) and on hot reload. The host
//! lives; a plugin that prints loads and its lines reach the log; one that fails is
//! refused with its own message, and on reload the running set goes on.

use std::path::{Path, PathBuf};

use logbridge::{ChannelSink, Error, Host};
use logbridge_tests::{copy_of_plugins, fixture, logbridge_bin};
use serde_json::json;

const HOSTILE: &str = "15-hostile";

/// The example plugins plus the hostile transformer with `sidecar`, in a fresh folder.
fn folder(name: &str, sidecar: &str) -> PathBuf {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("init-{name}")));
    std::fs::copy(
        fixture("hostile-transformer"),
        dir.join(format!("{HOSTILE}.wasm")),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{HOSTILE}.toml")), sidecar).unwrap();
    dir
}

fn log(id: &str) -> String {
    json!({"log_id": id, "date": "2026-11-25T09:00:00Z", "type": "f",
           "user_name": "eve@example.com"})
    .to_string()
}

/// A host built on a tokio runtime's own thread (as `async fn main` does) with a plugin
/// that prints in `init` and while handling events: it starts, and every event arrives.
#[tokio::test]
async fn a_plugin_printing_in_init_loads_in_a_host_built_inside_a_runtime() {
    let dir = folder(
        "print",
        "[config]\non_init = \"print\"\nbehavior = \"print\"\n",
    );
    let (sink, mut rx) = ChannelSink::new(100);
    let host = Host::builder()
        .plugins_dir(&dir)
        .data_dir(dir.join("data"))
        .sink(sink)
        .workers(2)
        .build()
        .expect("a plugin that prints in init loads");
    for n in 0..10 {
        host.send_auth0(&log(&format!("hostile-{n}")), "init")
            .await
            .unwrap();
    }
    let health = host.shutdown().await.unwrap();
    assert_eq!(health.failed(), 0, "{health:?}");
    let mut delivered = 0;
    while let Ok(d) = rx.try_recv() {
        assert_eq!(d.bus, "security");
        delivered += 1;
    }
    assert_eq!(delivered, 10);
    assert!(health.plugin(HOSTILE).is_some());
}

/// Each way of failing in `init`, and a piece of the message the refusal must carry.
const FAILING_INITS: &[(&str, &str)] = &[
    ("panic", "hostile plugin panicked in init"),
    ("trap", "unreachable"),
    ("spin", "budget of 1000 ms of CPU time"),
    ("error", "hostile plugin refuses to start"),
];

/// At start-up, inside a runtime, a plugin failing in `init` refuses the start with the
/// plugin's own message: an error, not a panic of the host.
#[tokio::test]
async fn a_plugin_failing_in_init_refuses_the_start_with_its_own_message() {
    for (how, message) in FAILING_INITS {
        let dir = folder(
            &format!("fail-{how}"),
            &format!("[config]\non_init = \"{how}\"\n"),
        );
        let (sink, _rx) = ChannelSink::new(10);
        let refused = Host::builder()
            .plugins_dir(&dir)
            .data_dir(dir.join("data"))
            .sink(sink)
            .build()
            .expect_err("a plugin failing in init refuses the start");
        let Error::Plugin(error) = &refused else {
            panic!("{how}: refused as a plugin error: {refused:?}");
        };
        let text = refused.to_string();
        assert!(text.contains(HOSTILE), "{how}: names the plugin: {text}");
        assert!(text.contains(message), "{how}: {error:?}");
    }
}

/// On hot reload, a plugin failing in `init` is refused with its message while the
/// running set goes on; one that prints in `init` is loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_reload_a_failing_init_is_refused_and_a_printing_one_loads() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-reload"));
    let (sink, mut rx) = ChannelSink::new(100);
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(sink)
        .workers(2)
        .build()
        .unwrap();
    std::fs::copy(
        fixture("hostile-transformer"),
        dir.join(format!("{HOSTILE}.wasm")),
    )
    .unwrap();
    for (n, (how, message)) in FAILING_INITS.iter().enumerate() {
        std::fs::write(
            dir.join(format!("{HOSTILE}.toml")),
            format!("[config]\non_init = \"{how}\"\n"),
        )
        .unwrap();
        let outcome = host.reload().await.unwrap();
        let failure = outcome
            .failed
            .iter()
            .find(|f| f.plugin == HOSTILE)
            .unwrap_or_else(|| panic!("{how}: refused: {outcome:?}"));
        assert!(failure.error.contains(message), "{how}: {failure:?}");
        host.send_auth0(&log(&format!("after-{n}")), "reload")
            .await
            .unwrap();
        let delivered = rx.recv().await.unwrap();
        assert_eq!(delivered.bus, "security", "the running set goes on");
        assert!(delivered.event.detail.contains("***@example.com"));
    }
    std::fs::write(
        dir.join(format!("{HOSTILE}.toml")),
        "[config]\non_init = \"print\"\n",
    )
    .unwrap();
    let outcome = host.reload().await.unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert!(outcome.added.iter().any(|p| p == HOSTILE), "{outcome:?}");
    host.send_auth0(&log("after-print"), "reload")
        .await
        .unwrap();
    assert_eq!(rx.recv().await.unwrap().event.id, "after-print");
    let health = host.shutdown().await.unwrap();
    assert_eq!(health.failed(), 0);
    assert!(health.plugin(HOSTILE).is_some());
}

/// The binary: a plugin printing in `init` runs and its lines reach the log; one
/// panicking in `init` makes `logbridge run` exit 1 with the plugin's message, not crash.
#[test]
fn the_cli_survives_plugins_that_print_or_panic_in_init() {
    let bin = logbridge_bin().unwrap();
    let run = |dir: &Path| {
        let input = dir.join("input.ndjson");
        std::fs::write(&input, format!("{}\n{}\n", log("a"), log("b"))).unwrap();
        std::process::Command::new(&bin)
            .arg("run")
            .arg("--plugins")
            .arg(dir)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.join("out.jsonl"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .output()
            .unwrap()
    };

    let dir = folder("cli-print", "[config]\non_init = \"print\"\n");
    let printed = run(&dir);
    let stderr = String::from_utf8_lossy(&printed.stderr);
    assert!(printed.status.success(), "{stderr}");
    assert!(
        stderr.contains("init prints to stdout") && stderr.contains("init prints to stderr"),
        "the plugin's lines reach the host's log: {stderr}"
    );
    let out = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 2);

    let dir = folder("cli-panic", "[config]\non_init = \"panic\"\n");
    let panicked = run(&dir);
    let stderr = String::from_utf8_lossy(&panicked.stderr);
    assert_eq!(panicked.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hostile plugin panicked in init") && stderr.contains(HOSTILE),
        "{stderr}"
    );
    assert!(!stderr.contains("Cannot start a runtime"), "{stderr}");
}
