//! The HTTP face of a running host: a receiver Auth0's custom-webhook log streams post to,
//! the health page (`GET /`, `GET /health`) and Prometheus metrics (`GET /metrics`), on an
//! accept loop of its own with header, body and idle timeouts and a connection cap.
//!
//! ```no_run
//! # async fn demo(host: logbridge::Host) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let config = logbridge::serve::ServeConfig {
//!     authorization: Some("Bearer s3cret".into()),
//!     ..Default::default()
//! };
//! logbridge::serve::serve(listener, host, config, std::future::pending()).await
//! # }
//! ```

mod auth;
mod conn;
mod dedupe;
mod metrics;
mod pages;
mod receiver;
mod split;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

pub use dedupe::{Claim, ClaimGuard, Dedupe};
pub use split::split_records;

use crate::host::Host;

/// How the receiver treats what is posted to it, and how long it waits for clients.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `Authorization` header value every request must present — posts, the health
    /// page and metrics alike — compared in constant time; `None` accepts anyone (keep
    /// the listener on loopback then). An empty value refuses every request. Reads
    /// (`GET`) also take HTTP Basic with this value, or its token after the scheme, as
    /// the password (any user name), so a browser can open the health page.
    pub authorization: Option<String>,
    /// The largest request body taken; larger ones get 413 — at once when the declared
    /// `Content-Length` says so, before any of the body is read.
    pub max_body_bytes: usize,
    /// How long a request may wait for room in the pipeline's queue before it is answered
    /// 429 with `Retry-After`.
    pub queue_wait: Duration,
    /// A record whose `log_id` was taken within this window is dropped as a duplicate
    /// (Auth0 delivers at least once); so is a record already quarantined within it, by
    /// the hash of its text. Zero turns de-duplication off.
    pub dedupe_window: Duration,
    /// The most `log_id`s (and quarantined records) remembered for de-duplication; the
    /// oldest go first.
    pub dedupe_capacity: usize,
    /// Ingest slots: the most posts whose records are being taken at once; more get 503
    /// with `Retry-After`. A post takes a slot once its body has arrived; the health
    /// pages take none.
    pub max_requests: usize,
    /// A new connection must have sent a whole request head within this long, or it is
    /// closed: idle sockets, half-sent headers, and — as every answer without the right
    /// `Authorization` closes its connection — unauthenticated clients.
    pub header_timeout: Duration,
    /// A request's whole body must have arrived within this long of its head, or it is
    /// answered 408 and its connection closed (nothing of it is taken).
    pub body_timeout: Duration,
    /// A kept-alive connection is closed when this long has passed since its last answer
    /// without a whole next request head.
    pub idle_timeout: Duration,
    /// The most connections open at once, the `health_connections` included. At the cap,
    /// the connection that has waited longest without a request is closed to make room.
    /// Keep it well below the process's open-file limit.
    pub max_connections: usize,
    /// Of `max_connections`, how many are kept for `GET /`, `/health` and `/metrics`:
    /// used only when every other connection is in the middle of a request, one request
    /// each; a post there gets 503.
    pub health_connections: usize,
    /// Once stopping, how long requests in progress may finish; then their connections
    /// are closed (what they had queued is kept).
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            authorization: None,
            max_body_bytes: 16 << 20,
            queue_wait: Duration::from_secs(1),
            dedupe_window: Duration::from_secs(600),
            dedupe_capacity: 1_000_000,
            max_requests: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            health_connections: 16,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Shared by every request.
pub(crate) struct AppState {
    pub(crate) host: Host,
    pub(crate) config: ServeConfig,
    pub(crate) dedupe: Dedupe,
    pub(crate) in_progress: tokio::sync::Semaphore,
    /// Turns true when the server stops: bodies still arriving are cut short.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

/// The routes: `POST /`, `POST /logs` and `POST /api/logs` take Auth0 log records
/// (`JSONARRAY`, `JSONLINES` or `JSONOBJECT`), `GET /` is the health page, `GET /health`
/// its JSON, `GET /metrics` Prometheus text. Served alone (by `axum::serve`, say), it has
/// none of [`serve`]'s timeouts, cap or shutdown.
pub fn router(host: Host, config: ServeConfig) -> Router {
    router_stopping(host, config, tokio::sync::watch::channel(false).1)
}

fn router_stopping(
    host: Host,
    config: ServeConfig,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let state = Arc::new(AppState {
        dedupe: Dedupe::new(config.dedupe_window, config.dedupe_capacity),
        in_progress: tokio::sync::Semaphore::new(config.max_requests.max(1)),
        host,
        config,
        stopping,
    });
    Router::new()
        .route("/", get(pages::page).post(receiver::receive))
        .route("/logs", post(receiver::receive))
        .route("/api/logs", post(receiver::receive))
        .route("/health", get(pages::health_json))
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            receiver::guard,
        ))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, with the timeouts and the
/// connection cap of `config`. Then it stops accepting, closes connections not in a
/// request at once, cuts bodies still arriving short (503), lets requests in progress
/// finish for up to [`ServeConfig::drain_timeout`] and closes what is left. The host
/// itself is not shut down. Dropping the returned future closes every connection at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Host,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let config = Arc::new(config);
    let app = router_stopping(host, (*config).clone(), stopping.clone());
    let registry = Arc::new(conn::Registry::new(&config));
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Without a place, the connection is closed unanswered.
                    if let Some(admitted) = registry.admit() {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(conn::serve_connection(
                            stream,
                            admitted,
                            app.clone(),
                            Arc::clone(&config),
                            stopping.clone(),
                        ));
                    }
                }
                Err(e) if conn::is_connection_error(&e) => {}
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(conn::ACCEPT_PAUSE).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let (normal, _) = registry.counts();
        tracing::warn!(
            connections = normal,
            "requests still in progress after the drain timeout; closing their connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}
