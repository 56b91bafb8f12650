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
//! retry finds them as duplicates. With a write-ahead log (`durability = "disk"`), 200
//! means every record taken is on disk; 503 with `Retry-After` when it cannot be written
//! (a full disk) or the failure log cannot (nothing of the body is taken then).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::dedupe::{Claim, ClaimGuard};
use super::split::split_records;
use crate::error::Error;
use crate::event::EventError;

/// Where the failure log says HTTP records came from.
const ORIGIN: &str = "http";
/// How much of an unusable body the failure log keeps.
const KEPT_BODY: usize = 64 << 10;

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
/// dedupe window (the same bytes, sent again) is a duplicate. Returns the claim on it
/// when it was new, to commit once the row is written.
fn quarantine<'a>(state: &'a AppState, raw: &[u8], error: &EventError) -> Option<ClaimGuard<'a>> {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(raw);
    let key: String = std::iter::once("quarantined:".to_string())
        .chain(hash.iter().map(|b| format!("{b:02x}")))
        .collect();
    let Claim::New(claim) = state.dedupe.claim(&key) else {
        return None;
    };
    let kept = String::from_utf8_lossy(&raw[..raw.len().min(KEPT_BODY)]);
    state.host.record_ingest_failure(ORIGIN, &kept, error);
    Some(claim)
}

pub(crate) async fn receive(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Response {
    let body = match read_body(&state, request).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    // Once the body is here, its records are taken whole or not at all even if the
    // sender hangs up meanwhile: taken records stay taken, and a retry finds them.
    tokio::spawn(take(state, body)).await.unwrap_or_else(|_| {
        answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "taking the records failed (a bug); retry the request"}),
        )
    })
}

/// The status and message of a request cut short by `error` from the host.
fn refusal(error: &Error) -> (StatusCode, String) {
    match error {
        Error::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            "the pipeline queue is full; retry the request".into(),
        ),
        Error::Journal(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{error}; retry the request"),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "logbridge is shutting down; retry the request".into(),
        ),
    }
}

/// Splits, checks, de-duplicates and takes the records of `body`, and answers.
async fn take(state: Arc<AppState>, body: Bytes) -> Response {
    // An ingest slot only once the body is here: a slow sender holds none.
    let Ok(_slot) = state.in_progress.try_acquire() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "too many requests in progress; retry the request"}),
        );
    };
    let host = &state.host;
    // What cannot be kept is not taken: the sender retries later.
    if let Some(why) = host.intake_blocked() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": format!("{why}; retry the request")}),
        );
    }
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    let mut first_problem = None;
    let mut cut: Option<(StatusCode, String)> = None;
    let mut events = Vec::new();
    let mut claims = Vec::new();
    let mut quarantined = Vec::new();
    for raw in split_records(&body) {
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| EventError::NotJson(format!("the record is not UTF-8: {e}")))
            .and_then(|text| host.envelope().auth0_event(text));
        let event = match parsed {
            Ok(event) => event,
            Err(error) => {
                if let Some(claim) = quarantine(&state, raw, &error) {
                    first_problem.get_or_insert_with(|| error.to_string());
                    quarantined.push(claim);
                    rejected += 1;
                } else {
                    host.record_duplicate();
                    duplicates += 1;
                }
                continue;
            }
        };
        match state.dedupe.claim(&event.id) {
            Claim::New(claim) => {
                events.push(event);
                claims.push(claim);
            }
            Claim::Duplicate => {
                host.record_duplicate();
                duplicates += 1;
            }
            Claim::Pending => {
                cut = Some((
                    StatusCode::TOO_MANY_REQUESTS,
                    "a record of this batch is being taken by another request; retry".into(),
                ));
                break;
            }
        }
    }
    // Mapped by the envelope, so already checked. With a write-ahead log the records
    // and their ids are on disk before any is acknowledged.
    let seen = events.iter().map(|e| e.id.clone()).collect();
    let taken = match host
        .accept_within(events, seen, state.config.queue_wait)
        .await
    {
        Ok(n) => n,
        Err((error, n)) => {
            cut = Some(refusal(&error));
            n
        }
    };
    // Claims of records not taken are released (dropped): a retry must find them free.
    for claim in claims.drain(..taken) {
        claim.commit();
    }
    drop(claims);
    accepted += taken as u64;
    if rejected > 0 {
        // Quarantined records are in the failure log before they are acknowledged; if
        // they cannot be written, the sender is told to send them again.
        let _ = host.flush_failures().await;
        if let Some(why) = host.intake_blocked() {
            cut.get_or_insert((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{why}; retry the request"),
            ));
            quarantined.clear();
        }
    }
    for claim in quarantined {
        claim.commit();
    }
    if let Some((status, message)) = cut {
        return cut_short(status, &message, [accepted, duplicates, rejected]);
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
