//! Test fixture: a transformer that misbehaves on purpose. Events whose id starts with
//! `hostile` get the behaviour named by the sidecar key `behavior`; every other event
//! passes through unchanged, so the plugins around it can be checked for side effects.
//!
//! Behaviours: `spin` (never returns), `memory-bomb` (allocates until refused), `recursion`
//! (overflows the stack), `panic`, `huge-output` (a 10 MiB field), `not-json` (an edit
//! whose value is not JSON), `read-file` (reads the sidecar's `path`), `env` (reads the
//! environment), `socket` (connects to the sidecar's `address`), `error` (returns `Err`),
//! `last-words` (prints a traceback to stderr, then traps), `sleep` (an hour), `hoard`
//! (keeps 4 MiB more on every call, and passes the event), `print` (writes a line to stdout
//! and one to stderr, and passes the event). What it can read or reach it puts into the
//! detail, so a test sees a leak; what fails it returns as an `Err` naming the error.
//!
//! The sidecar key `on_init` makes `init` misbehave too: `print` (writes to stdout and
//! stderr, then succeeds), `panic`, `trap` (an `unreachable` instruction), `spin` (never
//! returns) or `error` (returns `Err`).

use std::hint::black_box;
use std::sync::Mutex;

use logbridge_plugin::{Config, Edits, Event, Reads, Result, Transformer};

static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Hostile {
    behavior: String,
    path: String,
    address: String,
}

impl Reads for Hostile {
    const ENVELOPE: bool = true;
}

fn misbehave_in_init(how: &str) -> Result<()> {
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
        other => Err(format!("unknown on_init `{other}`").into()),
    }
}

fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        0
    } else {
        black_box(recurse(black_box(depth - 1))) + 1
    }
}

/// Puts what leaked into the detail, where a test sees it.
fn leak(what: &str, value: String) -> Result<Edits> {
    let mut edits = Edits::new();
    edits
        .set("data.type", "f")
        .set("data.leaked", what)
        .set("data.value", value);
    Ok(edits)
}

impl Transformer for Hostile {
    fn init(config: &Config) -> Result<Self> {
        if let Some(how) = config.str("on_init") {
            misbehave_in_init(how)?;
        }
        Ok(Hostile {
            behavior: config.str("behavior").unwrap_or_default().to_string(),
            path: config.str("path").unwrap_or("/etc/passwd").to_string(),
            address: config.str("address").unwrap_or("127.0.0.1:9").to_string(),
        })
    }

    fn transform(&self, event: &Event) -> Result<Edits> {
        let envelope = event.envelope().ok_or("the host sent no envelope")?;
        if !envelope.id.starts_with("hostile") {
            return Ok(Edits::new());
        }
        match self.behavior.as_str() {
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
                Ok(Edits::new())
            }
            "panic" => panic!("hostile plugin panicked on {}", envelope.id),
            "huge-output" => {
                let mut edits = Edits::new();
                edits.set("filler", "x".repeat(10 << 20));
                Ok(edits)
            }
            "not-json" => {
                let mut edits = Edits::new();
                edits.set_json("data.type", "this is not JSON");
                Ok(edits)
            }
            "read-file" => match std::fs::read_to_string(&self.path) {
                Ok(text) => leak("file", text),
                Err(e) => Err(format!("cannot read {}: {e}", self.path).into()),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                if vars.is_empty() {
                    Err("the environment is empty".into())
                } else {
                    leak("env", vars.join("\n"))
                }
            }
            "socket" => match std::net::TcpStream::connect(&self.address) {
                Ok(_) => leak("socket", self.address.clone()),
                Err(e) => Err(format!("cannot connect to {}: {e}", self.address).into()),
            },
            "error" => Err(format!("refusing {}", envelope.id).into()),
            "last-words" => {
                // As an interpreter does with an uncaught exception: a traceback, then a trap.
                eprintln!("Traceback (most recent call last):");
                eprintln!("ValueError: no user in {}", envelope.id);
                std::process::abort()
            }
            "print" => {
                println!("hostile plugin: transform prints {}", envelope.id);
                eprintln!("hostile plugin: transform warns about {}", envelope.id);
                Ok(Edits::new())
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Edits::new())
            }
            "hoard" => {
                let mut hoard = HOARD.lock().unwrap_or_else(|e| e.into_inner());
                hoard.push(vec![1u8; 4 << 20]);
                Ok(Edits::new())
            }
            other => Err(format!("unknown behavior `{other}`").into()),
        }
    }
}

logbridge_plugin::export!(Hostile: Transformer);
