//! Embeds a logbridge host in an application: the app hands it its own Auth0-style audit
//! logs, the plugins filter, redact and route them, and the app receives the routed events
//! in-process through a channel sink.
//!
//! Run: `cargo run -p logbridge-examples --example embed -- PLUGINS_DIR`
//! (`scripts/build-plugins.sh target/example` builds a plugins folder into
//! `target/example/plugins`).

use anyhow::{Context, Result, ensure};
use logbridge::{ChannelSink, Host};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<()> {
    let plugins = std::env::args()
        .nth(1)
        .context("usage: embed PLUGINS_DIR")?;
    let (sink, mut delivered) = ChannelSink::new(64);
    let host = Host::builder().plugins_dir(&plugins).sink(sink).build()?;
    println!("loaded plugins:");
    for plugin in host.plugins() {
        println!("  {} ({})", plugin.name(), plugin.role());
    }

    let logs = [
        json!({"log_id": "app-1", "date": "2026-11-25T09:00:00Z", "type": "f",
               "description": "Wrong password", "user_name": "jane@example.com", "ip": "198.51.100.23"}),
        json!({"log_id": "app-2", "date": "2026-11-25T09:00:01Z", "type": "seacft",
               "description": "Token exchange", "client_id": "abc"}),
        json!({"log_id": "app-3", "date": "2026-11-25T09:00:02Z", "type": "sapi",
               "description": "Update a client", "ip": "2001:db8:1:2::9"}),
    ];
    // The channel holds 64 events: receive while sending, or delivery waits for room
    // (backpressure) and shutdown would wait for ever.
    let receiver = tokio::spawn(async move {
        let mut received = 0;
        while let Some(event) = delivered.recv().await {
            if event.event.id.starts_with("app-") {
                println!(
                    "{} -> bus {}: {}",
                    event.event.id, event.bus, event.event.detail
                );
            }
            received += 1;
        }
        received
    });
    for log in &logs {
        host.send_auth0(&log.to_string(), "embed-example").await?;
    }
    // A busy hour of ordinary logins: far more than the channel holds.
    for n in 0..500 {
        let login = json!({"log_id": format!("login-{n}"), "date": "2026-11-25T10:00:00Z",
                           "type": "s", "user_name": format!("user{n}@example.com")});
        host.send_auth0(&login.to_string(), "embed-example").await?;
    }
    let health = host.shutdown().await?;
    let received = receiver.await?;
    ensure!(
        received == health.delivered(),
        "received {received} of {} delivered events",
        health.delivered()
    );

    println!(
        "accepted {}, filtered {}, delivered {}, failed {}",
        health.accepted,
        health.filtered,
        health.delivered(),
        health.failed()
    );
    ensure!(
        health.settled() && health.failed() == 0,
        "not every event was delivered"
    );
    Ok(())
}
