//! The server: the routes over a shared state, and the accept loop that serves them with
//! timeouts, a connection cap and a bounded drain.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::dedupe::Dedupe;
use super::{ServeConfig, conn, metrics, pages, receiver};
use crate::host::Host;

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
    let dedupe = Dedupe::new(config.dedupe_window, config.dedupe_capacity);
    dedupe.remember(host.seen_before(config.dedupe_window, config.dedupe_capacity));
    let state = Arc::new(AppState {
        dedupe,
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
