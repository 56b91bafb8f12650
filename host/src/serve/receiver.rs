//! `POST /`, `POST /logs` and `POST /api/logs`: Auth0 log records from a custom-webhook
//! log stream, in any of its three formats, split record by record, checked,
//! de-duplicated by `log_id` and queued for the pipeline.
//!
//! Auth0 retries every answer that is not 2xx, so an answer other than 200 means "send
//! this again later" and is only given when a retry can succeed. Answers: 200 with counts
//! once the body has been gone through — records taken, dropped as duplicates, and
//! quarantined (a record that can never become an event: not UTF-8, not JSON, no
//! `log_id`... kept in the failure log at stage `ingest`, once, whatever the retries); an
//! empty body is 200 with zero counts. 401 for a missing or wrong `Authorization`
//! (checked on every route, before the body is read; the connection is closed), nothing
//! taken; 413 for a body over the limit (refused on its declared `Content-Length`
//! before it is read); 408 when the body does not arrive within the body timeout; 429
//! with `Retry-After` when the queue stays full, 503 when the ingest slots are all taken
//! or the host is shutting down — records taken before that are kept, and the sender's
//! retry finds them as duplicates.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::Error;
use crate::event::EventError;

/// Where the failure log says HTTP records came from.
const ORIGIN: &str = "http";
/// How much of an unusable body the failure log keeps.
const KEPT_BODY: usize = 64 << 10;

/// The records in a webhook body, each as its own bytes, unparsed and not yet checked
/// to be UTF-8: the elements of a JSON array (`JSONARRAY`), or a sequence of JSON values
/// (`JSONOBJECT`, pretty-printed or not, and `JSONLINES`). A record that is not JSON is
/// taken to end at the end of its line, so one bad record never takes its neighbours
/// with it; an array that does not close is taken line by line. Whitespace around
/// records is left out; a body of only whitespace (or `[]`) has no records.
pub fn split_records(body: &[u8]) -> Vec<&[u8]> {
    let start = skip_space(body, 0);
    if body.get(start) == Some(&b'[')
        && let Some(end) = closing(body, start)
        && skip_space(body, end) == body.len()
    {
        return array_elements(body, start, end);
    }
    let mut records = Vec::new();
    let mut at = start;
    while at < body.len() {
        // A JSON object or array spans as far as it is balanced; anything else, or
        // one that never closes, ends at the end of its line.
        let end = match body[at] {
            b'{' | b'[' => closing(body, at).unwrap_or_else(|| line_end(body, at)),
            _ => line_end(body, at),
        };
        records.push(trim(&body[at..end]));
        at = skip_space(body, end);
    }
    records.retain(|r| !r.is_empty());
    records
}

fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

fn line_end(body: &[u8], at: usize) -> usize {
    body[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |n| at + n)
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes
        && first.is_ascii_whitespace()
    {
        bytes = rest;
    }
    while let [rest @ .., last] = bytes
        && last.is_ascii_whitespace()
    {
        bytes = rest;
    }
    bytes
}

/// Scans JSON structure, strings and escapes included, byte by byte: bytes that are not
/// UTF-8 inside a string do not upset it.
#[derive(Default)]
struct Scan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scan {
    /// Takes one byte; true when it closes the outermost bracket.
    fn step(&mut self, byte: u8) -> bool {
        if self.in_string {
            match byte {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.in_string = false,
                _ => {}
            }
            return false;
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }
}

/// The end (one past the closing bracket) of the object or array opening at `at`.
fn closing(body: &[u8], at: usize) -> Option<usize> {
    let mut scan = Scan::default();
    body[at..]
        .iter()
        .position(|&b| scan.step(b))
        .map(|n| at + n + 1)
}

/// The elements of the array from `start` (its `[`) to `end` (past its `]`).
fn array_elements(body: &[u8], start: usize, end: usize) -> Vec<&[u8]> {
    let inner = start + 1..end - 1;
    let mut scan = Scan {
        depth: 1,
        ..Scan::default()
    };
    let mut elements = Vec::new();
    let mut from = inner.start;
    for at in inner.clone() {
        let byte = body[at];
        if byte == b',' && scan.depth == 1 && !scan.in_string {
            elements.push(trim(&body[from..at]));
            from = at + 1;
        } else {
            scan.step(byte);
        }
    }
    elements.push(trim(&body[from..inner.end]));
    elements.retain(|e| !e.is_empty());
    elements
}

/// The `log_id`s taken recently, to drop what an at-least-once sender sends twice.
///
/// A claim is pending until the record is queued, and released if it never is — even
/// when the request is dropped half-way (the sender hung up): a retry must find it free,
/// not a duplicate. A second request for an id still pending is told to retry later.
#[derive(Debug)]
pub struct Dedupe {
    window: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

/// What [`Dedupe::claim`] found.
#[derive(Debug)]
pub enum Claim<'a> {
    /// The id is this request's; commit the guard once the record is queued.
    New(ClaimGuard<'a>),
    /// The id was taken within the window: a duplicate.
    Duplicate,
    /// Another request holds the id and has not queued it yet: retry later.
    Pending,
}

/// A pending claim; released on drop unless committed.
#[derive(Debug)]
pub struct ClaimGuard<'a> {
    dedupe: &'a Dedupe,
    id: String,
    committed: bool,
}

impl ClaimGuard<'_> {
    /// The record was queued: the id stays taken for the window.
    pub fn commit(mut self) {
        if let Some(entry) = self.dedupe.lock().at.get_mut(&self.id) {
            entry.1 = true;
        }
        self.committed = true;
    }
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.dedupe.lock().at.remove(&self.id);
        }
    }
}

/// Ids longer than this are not remembered (no Auth0 log id comes near it).
const MAX_ID_BYTES: usize = 256;

#[derive(Debug, Default)]
struct Seen {
    /// When each id was claimed, and whether its record was queued.
    at: HashMap<String, (Instant, bool)>,
    /// Claims in the order they were made; an entry whose id was released (or claimed
    /// again later) no longer matches `at` and is skipped.
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn forget_oldest(&mut self) {
        if let Some((at, id)) = self.order.pop_front()
            && self.at.get(&id).is_some_and(|(when, _)| *when == at)
        {
            self.at.remove(&id);
        }
    }
}

impl Dedupe {
    /// Remembers up to `capacity` ids for `window` each; a zero window remembers nothing.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Dedupe {
            window,
            capacity,
            seen: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `id` for a record about to be queued.
    pub fn claim(&self, id: &str) -> Claim<'_> {
        let guard = |remembered: bool| {
            Claim::New(ClaimGuard {
                dedupe: self,
                id: id.to_string(),
                // An id not remembered has nothing to release.
                committed: !remembered,
            })
        };
        if self.window.is_zero() || self.capacity == 0 || id.len() > MAX_ID_BYTES {
            return guard(false);
        }
        let now = Instant::now();
        let mut seen = self.lock();
        while seen
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
        {
            seen.forget_oldest();
        }
        match seen.at.get(id) {
            Some((_, true)) => return Claim::Duplicate,
            Some((_, false)) => return Claim::Pending,
            None => {}
        }
        while (seen.at.len() >= self.capacity || seen.order.len() >= 2 * self.capacity)
            && !seen.order.is_empty()
        {
            seen.forget_oldest();
        }
        seen.at.insert(id.to_string(), (now, false));
        seen.order.push_back((now, id.to_string()));
        drop(seen);
        guard(true)
    }
}

/// Compares without an early exit, so timing does not tell how much of a secret matched.
/// An empty `expected` matches nothing.
pub(super) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// Checks the `Authorization` header, when one is configured, on every route — before a
/// request body is read. Reads (`GET`, `HEAD`) also take HTTP Basic (see `auth`) and are
/// refused with a `WWW-Authenticate` challenge.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(expected) = &state.config.authorization {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map_or(&b""[..], |v| v.as_bytes());
        let reading = matches!(*request.method(), Method::GET | Method::HEAD);
        if !super::auth::authorized(given, expected, reading) {
            let mut refused = answer(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "missing or wrong Authorization header"}),
            );
            if reading {
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(super::auth::CHALLENGE),
                );
            }
            return refused;
        }
    }
    next.run(request).await
}

/// The answer to a request cut short: what was taken so far, and when to retry.
fn cut_short(status: StatusCode, message: &str, counts: [u64; 3]) -> Response {
    let [accepted, duplicates, rejected] = counts;
    answer(
        status,
        serde_json::json!({"error": message, "accepted": accepted,
                           "duplicates": duplicates, "rejected": rejected}),
    )
}

/// Reads a request's body: 413 when it is (or declares to be) over the limit, 408 when it
/// has not all arrived within the body timeout, 503 when the server stops meanwhile.
async fn read_body(state: &AppState, request: axum::extract::Request) -> Result<Bytes, Response> {
    use http_body_util::BodyExt;
    let limit = state.config.max_body_bytes;
    let too_large = || {
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            serde_json::json!({"error": format!(
                "the body is larger than the receiver takes ({limit} bytes); raise \
                 --max-body, or send smaller batches"
            )}),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    // What the sender declares is only a hint: memory grows with what arrives.
    let capacity = declared.map_or(0, |n| n.min(1 << 20) as usize);
    let read = async move {
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                answer(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": format!("the body could not be read: {e}")}),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > limit {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(bytes)
    };
    tokio::select! {
        read = tokio::time::timeout(state.config.body_timeout, read) => match read {
            Ok(Ok(bytes)) => Ok(Bytes::from(bytes)),
            Ok(Err(refused)) => Err(refused),
            Err(_) => Err(answer(
                StatusCode::REQUEST_TIMEOUT,
                serde_json::json!({"error": format!(
                    "the body did not arrive within {} ms; nothing of it was taken; retry",
                    state.config.body_timeout.as_millis()
                )}),
            )),
        },
        () = stopped(state.stopping.clone()) => Err(answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "logbridge is shutting down; nothing of this body was \
                                         taken; retry the request"}),
        )),
    }
}

/// Completes once the server is stopping (never, for a router served without
/// [`super::serve`]).
async fn stopped(mut stopping: tokio::sync::watch::Receiver<bool>) {
    if stopping.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Quarantines a record that can never become an event: one failure-log row (stage
/// `ingest`, the text kept), counted once — a record already quarantined within the
/// dedupe window (the same bytes, sent again) is a duplicate. Returns whether it was
/// new.
fn quarantine(state: &AppState, raw: &[u8], error: &EventError) -> bool {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(raw);
    let key: String = std::iter::once("quarantined:".to_string())
        .chain(hash.iter().map(|b| format!("{b:02x}")))
        .collect();
    let Claim::New(claim) = state.dedupe.claim(&key) else {
        return false;
    };
    let kept = String::from_utf8_lossy(&raw[..raw.len().min(KEPT_BODY)]);
    state.host.record_ingest_failure(ORIGIN, &kept, error);
    claim.commit();
    true
}

pub(crate) async fn receive(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Response {
    let body = match read_body(&state, request).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    // An ingest slot only once the body is here: a slow sender holds none.
    let Ok(_slot) = state.in_progress.try_acquire() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "too many requests in progress; retry the request"}),
        );
    };
    let host = &state.host;
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let mut first_problem = None;
    for raw in split_records(&body) {
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| EventError::NotJson(format!("the record is not UTF-8: {e}")))
            .and_then(|text| host.envelope().auth0_event(text));
        let event = match parsed {
            Ok(event) => event,
            Err(error) => {
                if quarantine(&state, raw, &error) {
                    first_problem.get_or_insert_with(|| error.to_string());
                    rejected += 1;
                } else {
                    host.record_duplicate();
                    duplicates += 1;
                }
                continue;
            }
        };
        let claim = match state.dedupe.claim(&event.id) {
            Claim::New(claim) => claim,
            Claim::Duplicate => {
                host.record_duplicate();
                duplicates += 1;
                continue;
            }
            Claim::Pending => {
                return cut_short(
                    StatusCode::TOO_MANY_REQUESTS,
                    "a record of this batch is being taken by another request; retry",
                    [accepted, duplicates, rejected],
                );
            }
        };
        // If the sender hangs up while this waits, the request is dropped here and the
        // claim released with it.
        // Mapped by the envelope, so already checked.
        match host.enqueue_within(event, state.config.queue_wait).await {
            Ok(()) => {
                claim.commit();
                accepted += 1;
            }
            Err(error) => {
                let (status, message) = match error {
                    Error::Busy => (
                        StatusCode::TOO_MANY_REQUESTS,
                        "the pipeline queue is full; retry the request",
                    ),
                    _ => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "logbridge is shutting down; retry the request",
                    ),
                };
                return cut_short(status, message, [accepted, duplicates, rejected]);
            }
        }
    }
    let mut counts =
        serde_json::json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected});
    if let Some(problem) = first_problem {
        counts["quarantined"] = serde_json::json!(format!(
            "{rejected} record(s) can never become events and were kept in the failure log \
             (stage ingest); the first: {problem}"
        ));
    }
    answer(StatusCode::OK, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &[u8]) -> Vec<String> {
        split_records(body)
            .into_iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    #[test]
    fn the_three_webhook_formats_split_into_records() {
        let a = r#"{"log_id":"1","data":{"s":"a, ] } \" ["}}"#;
        let b = r#"{"log_id":"2","data":{}}"#;
        assert_eq!(split(format!("[{a},{b}]").as_bytes()), [a, b]);
        assert_eq!(split(format!(" [ {a} ,\n {b} ]\n").as_bytes()), [a, b]);
        assert_eq!(split(format!("{a}\n{b}\n").as_bytes()), [a, b]);
        assert_eq!(split(format!("{a}\r\n\r\n{b}").as_bytes()), [a, b]);
        assert_eq!(split(a.as_bytes()), [a]);
        let pretty = "{\n  \"log_id\": \"3\",\n  \"data\": {}\n}";
        assert_eq!(split(pretty.as_bytes()), [pretty]);
        assert_eq!(
            split(format!("{pretty}\n{pretty}").as_bytes()),
            [pretty, pretty]
        );
    }

    #[test]
    fn nothing_at_all_is_no_record() {
        assert!(split(b"").is_empty());
        assert!(split(b" \n\r\n ").is_empty());
        assert!(split(b"[]").is_empty());
        assert!(split(b"[ \n ]").is_empty());
    }

    #[test]
    fn a_bad_record_is_split_off_from_its_neighbours() {
        let good = br#"{"log_id":"1","data":{}}"#.as_slice();
        let bad_utf8 = b"{\"log_id\":\"2\",\"data\":{\"n\":\"\xff\xfe\"}}".as_slice();
        let lines = [
            good,
            bad_utf8,
            &b"not JSON at all"[..],
            &b"{\"cut\": "[..],
            good,
        ]
        .join(&b'\n');
        assert_eq!(
            split_records(&lines),
            [
                good,
                bad_utf8,
                &b"not JSON at all"[..],
                &b"{\"cut\":"[..],
                good
            ],
            "JSONLINES: one bad line is one bad record, even one that never closes"
        );
        let array = [b"[".as_slice(), good, b",", bad_utf8, b",", good, b"]"].concat();
        assert_eq!(
            split_records(&array),
            [good, bad_utf8, good],
            "JSONARRAY: an element that is not UTF-8 is split off alone"
        );
        let pretty_bad = b"{\n \"log_id\": \"3\",\n \"data\": \"\xc3\x28\"\n}".as_slice();
        assert_eq!(
            split_records(pretty_bad),
            [pretty_bad],
            "a pretty-printed record with a bad byte stays one record"
        );
        assert_eq!(
            split_records(b"[1, 2"),
            [b"[1, 2".as_slice()],
            "an array that never closes is taken line by line"
        );
    }

    fn taken(claim: Claim<'_>) -> bool {
        match claim {
            Claim::New(guard) => {
                guard.commit();
                true
            }
            _ => false,
        }
    }

    #[test]
    fn a_log_id_is_taken_once_within_the_window() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 10);
        assert!(taken(dedupe.claim("a")));
        assert!(matches!(dedupe.claim("a"), Claim::Duplicate));
        assert!(taken(Dedupe::new(Duration::ZERO, 10).claim("a")));
    }

    #[test]
    fn a_claim_never_committed_is_released_and_a_pending_one_is_not_a_duplicate() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 10);
        let first = dedupe.claim("a");
        assert!(
            matches!(dedupe.claim("a"), Claim::Pending),
            "retry later, not a duplicate"
        );
        drop(first); // the request went away before the record was queued
        assert!(taken(dedupe.claim("a")), "free again");
        assert!(matches!(dedupe.claim("a"), Claim::Duplicate));
    }

    #[test]
    fn the_oldest_ids_go_first_past_capacity() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 2);
        assert!(taken(dedupe.claim("a")));
        assert!(taken(dedupe.claim("b")));
        assert!(taken(dedupe.claim("c")), "a is forgotten to make room");
        assert!(taken(dedupe.claim("a")));
        assert!(matches!(dedupe.claim("c"), Claim::Duplicate));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"Bearer x", b"Bearer x"));
        assert!(!same_secret(b"Bearer y", b"Bearer x"));
        assert!(!same_secret(b"Bearer", b"Bearer x"));
        assert!(!same_secret(b"Bearer xx", b"Bearer x"));
        assert!(!same_secret(b"", b"Bearer x"));
        assert!(!same_secret(b"", b""), "an empty secret refuses everyone");
    }
}
