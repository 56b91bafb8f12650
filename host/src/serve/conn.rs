//! Connections: the accept loop's admission (a cap, with room kept for the health pages,
//! making way by closing the connection that has waited longest without a request), and
//! each connection's task with the timeouts that close what a client leaves hanging.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower_service::Service;

use super::ServeConfig;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request (its head may be arriving) since this instant. `first` is
    /// true until the connection's first request has begun.
    Waiting { since: Instant, first: bool },
    /// A request is being handled.
    Busy,
}

/// One open connection, as the registry and its own task see it.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    /// Admitted into the room kept for the health pages: `GET /`, `/health` and
    /// `/metrics` only, one request.
    reserved: bool,
    phase: watch::Sender<Phase>,
    /// Set when the connection is closed to make room for a new one.
    evict: Notify,
    evicted: AtomicBool,
}

impl Conn {
    fn waiting_since(&self) -> Option<Instant> {
        match *self.phase.borrow() {
            Phase::Waiting { since, .. } => Some(since),
            Phase::Busy => None,
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    normal: HashMap<u64, Arc<Conn>>,
    reserved: HashMap<u64, Arc<Conn>>,
}

/// Every open connection, and the admission rule.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Connections for any request.
    normal_cap: usize,
    /// Connections kept for the health pages.
    reserved_cap: usize,
    open: Mutex<Open>,
}

/// Removes a connection from the registry when its task ends, however it ends.
pub(crate) struct Admitted {
    registry: Arc<Registry>,
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        let map = if self.conn.reserved {
            &mut open.reserved
        } else {
            &mut open.normal
        };
        map.remove(&self.conn.id);
    }
}

impl Registry {
    pub(crate) fn new(config: &ServeConfig) -> Self {
        let total = config.max_connections.max(2);
        let reserved_cap = config.health_connections.min(total - 1);
        Registry {
            normal_cap: total - reserved_cap,
            reserved_cap,
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections open now: (for any request, kept for the health pages).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let open = self.lock();
        (open.normal.len(), open.reserved.len())
    }

    /// Admits a new connection, or `None` when every place is taken by a connection in
    /// the middle of a request. At the cap, the connection that has waited longest
    /// without a request (idle, or still sending its request's head) is closed to make
    /// room; when every connection is busy, the new one gets a place kept for the health
    /// pages.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.lock();
        let reserved = if open.normal.len() < self.normal_cap {
            false
        } else if let Some(victim) = longest_waiting(&open.normal) {
            evict(&mut open.normal, victim);
            false
        } else if open.reserved.len() < self.reserved_cap {
            true
        } else if let Some(victim) = longest_waiting(&open.reserved) {
            evict(&mut open.reserved, victim);
            true
        } else {
            return None;
        };
        let id = open.next_id;
        open.next_id += 1;
        let conn = Arc::new(Conn {
            id,
            reserved,
            phase: watch::Sender::new(Phase::Waiting {
                since: Instant::now(),
                first: true,
            }),
            evict: Notify::new(),
            evicted: AtomicBool::new(false),
        });
        let map = if reserved {
            &mut open.reserved
        } else {
            &mut open.normal
        };
        map.insert(id, Arc::clone(&conn));
        drop(open);
        Some(Admitted {
            registry: Arc::clone(self),
            conn,
        })
    }
}

fn longest_waiting(conns: &HashMap<u64, Arc<Conn>>) -> Option<u64> {
    conns
        .values()
        .filter(|c| !c.evicted.load(Ordering::Relaxed))
        .filter_map(|c| c.waiting_since().map(|since| (since, c.id)))
        .min()
        .map(|(_, id)| id)
}

/// Tells the connection to close, and frees its place at once.
fn evict(conns: &mut HashMap<u64, Arc<Conn>>, id: u64) {
    if let Some(conn) = conns.remove(&id) {
        conn.evicted.store(true, Ordering::Relaxed);
        conn.evict.notify_one();
    }
}

/// The pages a connection kept for them may ask for.
fn is_page(request: &Request<Incoming>) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/" | "/health" | "/metrics")
}

fn unavailable(message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(
        serde_json::json!({ "error": message }).to_string(),
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Serves one connection until it closes, a timeout closes it, it is evicted, or — once
/// `stopping` turns true — it has finished the request it is in (an idle one closes at
/// once).
pub(crate) async fn serve_connection(
    stream: tokio::net::TcpStream,
    admitted: Admitted,
    app: Router,
    config: Arc<ServeConfig>,
    mut stopping: watch::Receiver<bool>,
) {
    let conn = Arc::clone(&admitted.conn);
    let service = {
        let conn = Arc::clone(&conn);
        let stopping = stopping.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let (conn, mut app, stopping) = (Arc::clone(&conn), app.clone(), stopping.clone());
            // Boxed, so the connection can be run without shutting its socket down.
            Box::pin(async move {
                conn.phase.send_replace(Phase::Busy);
                let mut response = if conn.reserved && !is_page(&request) {
                    unavailable(
                        "every connection is busy; this one is kept for the health pages; \
                         retry the request",
                    )
                } else {
                    match app.call(request.map(Body::new)).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                };
                // Answers after which the connection is not kept: a refused request whose
                // body may still be on its way, a place kept for the health pages, and
                // everything once the server is stopping.
                let close = conn.reserved
                    || *stopping.borrow()
                    || matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED
                            | StatusCode::REQUEST_TIMEOUT
                            | StatusCode::PAYLOAD_TOO_LARGE
                    );
                if close {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                conn.phase.send_replace(Phase::Waiting {
                    since: Instant::now(),
                    first: false,
                });
                Ok::<_, Infallible>(response)
            })
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // A backstop: the phases below close a connection sooner.
        .header_read_timeout(config.header_timeout.max(config.idle_timeout))
        .keep_alive(!conn.reserved);
    let mut connection = http.serve_connection(TokioIo::new(stream), service);
    let mut phases = conn.phase.subscribe();
    let mut draining = false;
    let finished = loop {
        let phase = *phases.borrow_and_update();
        let deadline = match phase {
            Phase::Waiting { since, first: true } => Some(since + config.header_timeout),
            Phase::Waiting {
                since,
                first: false,
            } => Some(since + config.idle_timeout),
            Phase::Busy => None,
        };
        if draining && deadline.is_some() {
            // Stopping, and not in a request: close now.
            break false;
        }
        tokio::select! {
            done = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => {
                break done.is_ok();
            }
            () = sleep_until(deadline) => break false,
            () = conn.evict.notified() => break false,
            changed = phases.changed() => {
                if changed.is_err() {
                    break false;
                }
            }
            changed = stopping.changed(), if !draining => {
                if changed.is_err() || *stopping.borrow() {
                    draining = true;
                    std::pin::Pin::new(&mut connection).graceful_shutdown();
                }
            }
        }
    };
    if finished {
        // The last answer is written. Close gently, so that a client still sending a body
        // the answer refused reads that answer instead of a reset.
        let stream = connection.into_parts().io.into_inner();
        linger(stream, &conn, stopping).await;
    }
    // Dropping the connection closes the socket.
    drop(admitted);
}

/// How long a connection closed after its answer is still read (and what is read thrown
/// away) so that the answer is not lost to a reset, and how much of it at most.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Ends the write side (the client reads the end of the answer) and reads what the
/// client still sends until it closes too, for at most [`LINGER`].
async fn linger(
    mut stream: tokio::net::TcpStream,
    conn: &Conn,
    mut stopping: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 8192];
        let mut total = 0;
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            total += n;
            if total > LINGER_BYTES {
                break;
            }
        }
    };
    tokio::select! {
        () = drain => {}
        () = tokio::time::sleep(LINGER) => {}
        () = conn.evict.notified() => {}
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Accept errors that concern one connection only; any other (out of file descriptors,
/// say) is worth a pause before the next try.
pub(crate) fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// How long to pause after an accept error that is not about one connection.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: usize, health: usize) -> ServeConfig {
        ServeConfig {
            max_connections: max,
            health_connections: health,
            ..ServeConfig::default()
        }
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let registry = Arc::new(Registry::new(&config(3, 1)));
        let a = registry.admit().expect("a place");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = registry.admit().expect("a place");
        assert!(!a.conn.reserved && !b.conn.reserved);
        // Both waiting: the older one, a, is closed for c.
        let c = registry.admit().expect("room made");
        assert!(!c.conn.reserved);
        assert!(a.conn.evicted.load(Ordering::Relaxed));
        assert!(!b.conn.evicted.load(Ordering::Relaxed));
        assert_eq!(registry.counts(), (2, 0));
    }

    #[tokio::test]
    async fn busy_connections_are_kept_and_the_health_room_is_used_then_refused() {
        let registry = Arc::new(Registry::new(&config(3, 1)));
        let a = registry.admit().expect("a place");
        let b = registry.admit().expect("a place");
        a.conn.phase.send_replace(Phase::Busy);
        b.conn.phase.send_replace(Phase::Busy);
        let health = registry.admit().expect("the kept place");
        assert!(health.conn.reserved);
        health.conn.phase.send_replace(Phase::Busy);
        assert!(registry.admit().is_none(), "every place is in a request");
        drop(a);
        assert!(
            !registry.admit().expect("a freed place").conn.reserved,
            "a place freed by a closed connection is an ordinary one"
        );
    }
}
