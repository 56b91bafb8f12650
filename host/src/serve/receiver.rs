//! `POST /` and `POST /logs`: Auth0 log records from a custom-webhook log stream, in any of
//! its three formats, checked, de-duplicated by `log_id` and queued for the pipeline.
//!
//! Answers: 200 with counts when every record was taken (or recorded as bad, or dropped
//! as a duplicate); 401 for a missing or wrong `Authorization` (checked on every route,
//! before the body is read), nothing taken; 413 for a
//! body over the limit; 400 with the reason when nothing in the body is a record (the body
//! is recorded as an ingest failure); 429 with `Retry-After` when the queue stays full,
//! 503 when the host is shutting down — records taken before that are kept, and the
//! sender's retry finds them as duplicates.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;

use super::AppState;
use crate::error::Error;
use crate::event::EventError;

/// Where the failure log says HTTP records came from.
const ORIGIN: &str = "http";
/// How much of an unusable body the failure log keeps.
const KEPT_BODY: usize = 64 << 10;

/// The records in a webhook body: a JSON array (`JSONARRAY`), one JSON value
/// (`JSONOBJECT`), or one record per line (`JSONLINES`). Each is returned as its own JSON
/// text, unparsed. `Err` when the body is not UTF-8 or is an array that is not JSON.
pub fn split_records(body: &[u8]) -> Result<Vec<&str>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let records: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| format!("the body starts like a JSON array but is not one: {e}"))?;
        return Ok(records.into_iter().map(RawValue::get).collect());
    }
    if let Ok(one) = serde_json::from_str::<&RawValue>(text) {
        return Ok(vec![one.get()]);
    }
    Ok(text.lines().filter(|l| !l.trim().is_empty()).collect())
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
/// request body is read — and bounds the requests in progress. Reads (`GET`, `HEAD`) also
/// take HTTP Basic (see `auth`) and are refused with a `WWW-Authenticate` challenge.
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
    let Ok(_permit) = state.in_progress.try_acquire() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "too many requests in progress; retry the request"}),
        );
    };
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

pub(crate) async fn receive(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let host = &state.host;
    let records = match split_records(&body) {
        Ok(records) => records,
        Err(reason) => {
            let kept = String::from_utf8_lossy(&body[..body.len().min(KEPT_BODY)]);
            host.record_ingest_failure(ORIGIN, &kept, &EventError::NotJson(reason.clone()));
            return answer(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": reason}),
            );
        }
    };
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let mut first_problem = None;
    for record in records {
        let event = match host.envelope().auth0_event(record) {
            Ok(event) => event,
            Err(error) => {
                host.record_ingest_failure(ORIGIN, record, &error);
                first_problem.get_or_insert_with(|| error.to_string());
                rejected += 1;
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
        match host.send_within(event, state.config.queue_wait).await {
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
    if accepted == 0 && duplicates == 0 && rejected > 0 {
        return answer(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": first_problem, "rejected": rejected}),
        );
    }
    answer(
        StatusCode::OK,
        serde_json::json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_webhook_formats_split_into_records() {
        let a = r#"{"log_id":"1","data":{}}"#;
        let b = r#"{"log_id":"2","data":{}}"#;
        assert_eq!(
            split_records(format!("[{a},{b}]").as_bytes()).unwrap(),
            [a, b]
        );
        assert_eq!(
            split_records(format!("{a}\n{b}\n").as_bytes()).unwrap(),
            [a, b]
        );
        assert_eq!(split_records(a.as_bytes()).unwrap(), [a]);
        let pretty = "{\n  \"log_id\": \"3\",\n  \"data\": {}\n}";
        assert_eq!(split_records(pretty.as_bytes()).unwrap(), [pretty]);
        assert!(split_records(b"[1, 2").unwrap_err().contains("array"));
        assert!(split_records(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
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
