//! Embeds logbridge in an axum application, with a custom sink.
//!
//! The app has its own route, `POST /login`, and writes an Auth0-style audit log for every
//! attempt; the embedded host filters, redacts and routes those logs through the plugins
//! and hands them to `BusFiles`, a custom [`Sink`] that appends each bus's events to its
//! own JSON-lines file. logbridge's own routes — the Auth0 log-stream receiver, the health
//! page and metrics — are mounted under `/logbridge`.
//!
//! Run: `cargo run -p logbridge-examples --example axum_app -- PLUGINS_DIR OUT_DIR`. It
//! serves on a loopback port, sends itself a few requests, prints what each bus received
//! and stops (so CI can run it).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use logbridge::delivery::{EntryResult, PutFuture, Sink};
use logbridge::serve::ServeConfig;
use logbridge::{Event, Host};
use serde_json::json;

/// A custom sink: one JSON-lines file per bus under a folder.
struct BusFiles {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl Sink for BusFiles {
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        Box::pin(async move {
            let _one_writer = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{bus}.jsonl")));
            let mut file = match file {
                Ok(file) => file,
                // A failure the retry policy may cure: every entry is retried.
                Err(e) => {
                    return entries
                        .iter()
                        .map(|_| EntryResult::failed_retryable("FileError", e.to_string()))
                        .collect();
                }
            };
            entries
                .iter()
                .map(|event| {
                    let line = json!({"id": event.id, "detail": event.detail}).to_string();
                    match writeln!(file, "{line}") {
                        Ok(()) => EntryResult::Delivered,
                        Err(e) => EntryResult::failed_retryable("FileError", e.to_string()),
                    }
                })
                .collect()
        })
    }
}

/// A request of the app to itself, as a browser would send it: a fresh connection, the
/// status and body of the answer.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(StatusCode, String)> {
    use http_body_util::{BodyExt, Full};
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header(axum::http::header::HOST, addr.to_string())
        .body(Full::new(bytes::Bytes::copy_from_slice(body.as_bytes())))?;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    connection.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[derive(Clone)]
struct App {
    host: Host,
    next_id: Arc<AtomicU64>,
}

/// The application's own route: a login attempt, audited through logbridge.
async fn login(State(app): State<App>, body: String) -> StatusCode {
    let (user, password) = body.split_once(':').unwrap_or((body.as_str(), ""));
    let ok = password == "correct horse";
    let n = app.next_id.fetch_add(1, Ordering::Relaxed);
    let log = json!({
        "log_id": format!("app-{n}"),
        "date": "2026-11-25T09:00:00Z",
        "type": if ok { "s" } else { "f" },
        "description": if ok { "Successful login" } else { "Wrong password" },
        "user_name": user,
        "ip": "198.51.100.23",
    });
    match app.host.send_auth0(&log.to_string(), "axum-app").await {
        Ok(()) if ok => StatusCode::NO_CONTENT,
        Ok(()) => StatusCode::UNAUTHORIZED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: axum_app PLUGINS_DIR OUT_DIR";
    let plugins = args.next().context(usage)?;
    let out = PathBuf::from(args.next().context(usage)?);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;

    let sink = BusFiles {
        dir: out.clone(),
        lock: Mutex::new(()),
    };
    let host = Host::builder().plugins_dir(&plugins).sink(sink).build()?;
    let app = Router::new()
        .route("/login", post(login))
        .with_state(App {
            host: host.clone(),
            next_id: Arc::new(AtomicU64::new(1)),
        })
        .nest(
            "/logbridge",
            logbridge::serve::router(host.clone(), ServeConfig::default()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    for body in [
        "jane@example.com:correct horse",
        "jane@example.com:wrong",
        "mallory@example.com:guess",
    ] {
        let (status, _) = request(addr, "POST", "/login", body).await?;
        println!("POST /login {body:?} -> {}", status.as_u16());
    }
    let (health, _) = request(addr, "GET", "/logbridge/health", "").await?;
    println!("GET /logbridge/health -> {}", health.as_u16());
    let _ = stop.send(());
    server.await??;
    let report = host.shutdown().await?;

    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        println!("{}:", path.display());
        for line in std::fs::read_to_string(&path)?.lines() {
            println!("  {line}");
        }
    }
    ensure!(
        report.settled() && report.failed() == 0 && report.delivered() == 3,
        "{report:?}"
    );
    let security = std::fs::read_to_string(out.join("security.jsonl"))?;
    ensure!(
        security.lines().count() == 2 && !security.contains("mallory@"),
        "failed logins reach the security bus, redacted"
    );
    Ok(())
}
