//! The HTTP face of a running host: a receiver Auth0's custom-webhook log streams post to,
//! the health page (`GET /`, `GET /health`) and Prometheus metrics (`GET /metrics`), on an
//! accept loop of its own with header, body and idle timeouts and a connection cap.
//! [`ServeConfig`] is always here; the server itself is behind the `serve` feature (on by
//! default).
//!
//! ```no_run
//! # #[cfg(feature = "serve")]
//! # async fn demo(host: logbridge::Host) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let config = logbridge::serve::ServeConfig {
//!     authorization: Some("Bearer s3cret".into()),
//!     ..Default::default()
//! };
//! logbridge::serve::serve(listener, host, config, std::future::pending()).await
//! # }
//! ```

#[cfg(feature = "serve")]
mod auth;
#[cfg(feature = "serve")]
mod conn;
#[cfg(feature = "serve")]
mod dedupe;
#[cfg(feature = "serve")]
mod metrics;
#[cfg(feature = "serve")]
mod pages;
#[cfg(feature = "serve")]
mod receiver;
#[cfg(feature = "serve")]
mod server;
#[cfg(feature = "serve")]
mod split;

use std::time::Duration;

#[cfg(feature = "serve")]
pub(crate) use server::AppState;
#[cfg(feature = "serve")]
pub use server::{router, serve};

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
