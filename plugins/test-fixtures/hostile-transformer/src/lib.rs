//! Test fixture: a transformer that misbehaves on purpose. Events whose id starts with
//! `hostile` get the behaviour named by the sidecar key `behavior`; every other event
//! passes through unchanged, so the plugins around it can be checked for side effects.
//!
//! Behaviours: `spin` (never returns), `memory-bomb` (allocates until refused),
//! `recursion` (overflows the stack), `panic`, `huge-output` (a 10 MiB detail),
//! `not-json` (a detail that is not JSON), `read-file` (reads the sidecar's `path`),
//! `env` (reads the environment), `socket` (connects to the sidecar's `address`),
//! `error` (returns `Err`), `sleep` (an hour), `hoard` (keeps 4 MiB more on every call,
//! and passes the event), `print` (writes a line to stdout and one to stderr, and passes
//! the event). What it can read or reach it puts into the detail, so a test sees a leak;
//! what fails it returns as an `Err` naming the error.
//!
//! The sidecar key `on_init` makes `init` misbehave too: `print` (writes to stdout and
//! stderr, then succeeds), `panic`, `trap` (an `unreachable` instruction), `spin` (never
//! returns) or `error` (returns `Err`).

use std::hint::black_box;
use std::sync::{Mutex, OnceLock};

use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use exports::logbridge::plugin::transformer::{Event, Guest as Transformer};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "configurable-transformer-plugin",
});

#[derive(Default)]
struct Settings {
    behavior: String,
    path: String,
    address: String,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Hostile;

impl Lifecycle for Hostile {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let mut settings = Settings {
            path: "/etc/passwd".into(),
            address: "127.0.0.1:9".into(),
            ..Settings::default()
        };
        for (key, value) in config {
            match key.as_str() {
                "on_init" => misbehave_in_init(&value)?,
                "behavior" => settings.behavior = value,
                "path" => settings.path = value,
                "address" => settings.address = value,
                other => return Err(format!("unknown config key `{other}`")),
            }
        }
        SETTINGS
            .set(settings)
            .map_err(|_| "init called twice".to_string())
    }
}

fn misbehave_in_init(how: &str) -> Result<(), String> {
    match how {
        "print" => {
            println!("hostile plugin: init prints to stdout");
            eprintln!("hostile plugin: init prints to stderr");
            Ok(())
        }
        "panic" => panic!("hostile plugin panicked in init"),
        "trap" => std::process::abort(),
        "spin" => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        "error" => Err("hostile plugin refuses to start".into()),
        other => Err(format!("unknown on_init `{other}`")),
    }
}

fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        0
    } else {
        black_box(recurse(black_box(depth - 1))) + 1
    }
}

fn leak(mut event: Event, what: &str, value: String) -> Result<Event, String> {
    event.detail = serde_json::json!({
        "log_id": event.id,
        "data": { "log_id": event.id, "type": "f", "leaked": what, "value": value },
    })
    .to_string();
    Ok(event)
}

impl Transformer for Hostile {
    fn transform(event: Event) -> Result<Event, String> {
        if !event.id.starts_with("hostile") {
            return Ok(event);
        }
        let settings = SETTINGS.get_or_init(Settings::default);
        match settings.behavior.as_str() {
            "spin" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "recursion" => {
                black_box(recurse(black_box(u64::MAX)));
                Ok(event)
            }
            "panic" => panic!("hostile plugin panicked on {}", event.id),
            "huge-output" => {
                let mut event = event;
                event.detail = format!("{{\"filler\":\"{}\"}}", "x".repeat(10 << 20));
                Ok(event)
            }
            "not-json" => {
                let mut event = event;
                event.detail = "this is not JSON".into();
                Ok(event)
            }
            "read-file" => match std::fs::read_to_string(&settings.path) {
                Ok(text) => leak(event, "file", text),
                Err(e) => Err(format!("cannot read {}: {e}", settings.path)),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                if vars.is_empty() {
                    Err("the environment is empty".into())
                } else {
                    leak(event, "env", vars.join("\n"))
                }
            }
            "socket" => match std::net::TcpStream::connect(&settings.address) {
                Ok(_) => leak(event, "socket", settings.address.clone()),
                Err(e) => Err(format!("cannot connect to {}: {e}", settings.address)),
            },
            "error" => Err(format!("refusing {}", event.id)),
            "print" => {
                println!("hostile plugin: transform prints {}", event.id);
                eprintln!("hostile plugin: transform warns about {}", event.id);
                Ok(event)
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(event)
            }
            "hoard" => {
                let mut hoard = HOARD.lock().unwrap_or_else(|e| e.into_inner());
                hoard.push(vec![1u8; 4 << 20]);
                Ok(event)
            }
            other => Err(format!("unknown behavior `{other}`")),
        }
    }
}

export!(Hostile);
