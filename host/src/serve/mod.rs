//! The HTTP face of a running host: a receiver Auth0's custom-webhook log streams post to,
//! the health page (`GET /`, `GET /health`) and Prometheus metrics (`GET /metrics`).
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
mod metrics;
mod pages;
mod receiver;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use receiver::{Claim, ClaimGuard, Dedupe, split_records};

use crate::host::Host;

/// How the receiver treats what is posted to it.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `Authorization` header value every request must present — posts, the health
    /// page and metrics alike — compared in constant time; `None` accepts anyone (keep
    /// the listener on loopback then). An empty value refuses every request. Reads
    /// (`GET`) also take HTTP Basic with this value, or its token after the scheme, as
    /// the password (any user name), so a browser can open the health page.
    pub authorization: Option<String>,
    /// The largest request body taken; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a request may wait for room in the pipeline's queue before it is answered
    /// 429 with `Retry-After`.
    pub queue_wait: Duration,
    /// A record whose `log_id` was taken within this window is dropped as a duplicate
    /// (Auth0 delivers at least once). Zero turns de-duplication off.
    pub dedupe_window: Duration,
    /// The most `log_id`s remembered for de-duplication; the oldest go first.
    pub dedupe_capacity: usize,
    /// The most requests in progress at once; more get 503 with `Retry-After`.
    pub max_requests: usize,
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
        }
    }
}

/// Shared by every request.
pub(crate) struct AppState {
    pub(crate) host: Host,
    pub(crate) config: ServeConfig,
    pub(crate) dedupe: Dedupe,
    pub(crate) in_progress: tokio::sync::Semaphore,
}

/// The routes: `POST /` and `POST /logs` take Auth0 log records (`JSONARRAY`,
/// `JSONLINES` or `JSONOBJECT`), `GET /` is the health page, `GET /health` its JSON,
/// `GET /metrics` Prometheus text.
pub fn router(host: Host, config: ServeConfig) -> Router {
    let state = Arc::new(AppState {
        dedupe: Dedupe::new(config.dedupe_window, config.dedupe_capacity),
        in_progress: tokio::sync::Semaphore::new(config.max_requests.max(1)),
        host,
        config,
    });
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(pages::page).post(receiver::receive))
        .route("/logs", post(receiver::receive))
        .route("/health", get(pages::health_json))
        .route("/metrics", get(metrics::metrics))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            receiver::guard,
        ))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes; requests in progress are
/// finished first. The host itself is not shut down.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Host,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, config))
        .with_graceful_shutdown(shutdown)
        .await
}
