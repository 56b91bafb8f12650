//! The failure store seam: the [`FailureStore`] trait (write, list, mark replayed), the
//! rows it reads back, what it remembers of earlier runs, and the RFC 3339 helpers.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::totals::Counters;
use super::{Failure, FailureCode, Stage};
use crate::event::Event;

/// Where failures are written and read back. [`FailureLog`](super::FailureLog) is the
/// embedded implementation; [`replay`](crate::delivery::replay) works through this trait,
/// so a shared store can replace SQLite for a fleet.
///
/// A host writes to its store from one thread of its own, off the async runtime, in
/// batches ([`FailureStore::record_batch`]).
pub trait FailureStore: Send + Sync + 'static {
    /// Stores one failure durably.
    fn record(&self, failure: &Failure) -> Result<(), FailureLogError>;

    /// Stores several failures durably, all or none (one transaction where the store
    /// has them). The default records them one by one.
    fn record_batch(&self, failures: &[Failure]) -> Result<(), FailureLogError> {
        failures.iter().try_for_each(|f| self.record(f))
    }

    /// Failures matching `filter`, oldest first.
    fn list(&self, filter: &FailureFilter) -> Result<Vec<StoredFailure>, FailureLogError>;

    /// Marks failure `id` delivered by a replay at `at`.
    fn mark_replayed(&self, id: i64, at: SystemTime) -> Result<(), FailureLogError>;

    /// Records that a replay of failure `id` failed again: `attempts` more attempts, the
    /// latest `code` and `message`, at `at`.
    fn record_retry(
        &self,
        id: i64,
        attempts: u32,
        code: &FailureCode,
        message: &str,
        at: SystemTime,
    ) -> Result<(), FailureLogError>;

    /// Notes that `bus` accepted entries at `at`, ending any failing streak. Stores that
    /// do not track bus state need not implement it.
    fn record_delivered(&self, bus: &str, at: SystemTime) -> Result<(), FailureLogError> {
        let _ = (bus, at);
        Ok(())
    }

    /// What an earlier run left: bus states, when the latest ingest and plugin failures
    /// happened, and the totals. Stores that keep none of it need not implement it.
    fn load_state(&self) -> Result<StoredState, FailureLogError> {
        Ok(StoredState::default())
    }

    /// Adds `deltas` to the stored totals and returns when they began and what they are
    /// now; `None` when the store keeps no totals.
    fn add_totals(&self, deltas: &Counters) -> Result<Option<(String, Counters)>, FailureLogError> {
        let _ = deltas;
        Ok(None)
    }
}

/// What a store remembers of earlier runs, for a host starting on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// Every bus seen.
    pub buses: Vec<BusState>,
    /// When a record last failed at ingest (RFC 3339).
    pub last_ingest_failure: Option<String>,
    /// When a plugin last failed on an event (RFC 3339).
    pub last_plugin_failure: Option<String>,
    /// When the totals began (RFC 3339), with the totals.
    pub totals: Option<(String, Counters)>,
}

/// How a bus has fared, for the health view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusState {
    /// The bus.
    pub bus: String,
    /// When it last accepted an entry (RFC 3339).
    pub last_delivered: Option<String>,
    /// When an entry for it last failed for good (RFC 3339).
    pub last_failed: Option<String>,
    /// Since when every delivery to it has failed (RFC 3339); `None` when its latest
    /// delivery succeeded.
    pub failing_since: Option<String>,
}

/// The failure log could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("failure log {path}: {message}")]
pub struct FailureLogError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// A failure as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFailure {
    /// The row id: stable, for `replay` and for people.
    pub id: i64,
    /// Where it failed.
    pub stage: Stage,
    /// The plugin, bus or input it failed in.
    pub origin: String,
    /// For stage `plugin`: the SHA-256 of the failing plugin version.
    pub version: Option<String>,
    /// The event's id, when there was an event.
    pub event_id: Option<String>,
    /// Why, as a stable code.
    pub code: FailureCode,
    /// What happened.
    pub message: String,
    /// Attempts made so far, replays included.
    pub attempts: u32,
    /// When it was first tried (RFC 3339).
    pub first_attempt: String,
    /// When it was last tried (RFC 3339).
    pub last_attempt: String,
    /// The event as it failed, when there was one. Stored as the JSON of [`Event`]:
    /// `{"id", "source", "detail-type", "time", "resources", "detail"}`.
    pub entry: Option<Event>,
    /// The raw input, for ingest failures.
    pub input: Option<String>,
    /// When a replay delivered it (RFC 3339); `None` while it is still failed.
    pub replayed_at: Option<String>,
}

/// Which failures to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureFilter {
    /// Only delivery failures for this bus.
    pub bus: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only failures last tried at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Also those a replay has delivered since.
    pub include_replayed: bool,
}

/// The time RFC 3339 text stands for; `None` when it is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Serializes an optional time as RFC 3339 text (or `null`).
pub(crate) fn serialize_time<S: serde::Serializer>(
    time: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&rfc3339(*time)),
        None => serializer.serialize_none(),
    }
}

/// RFC 3339 text for `time`.
pub fn rfc3339(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Reads an optional time from RFC 3339 text (or `null`).
pub(crate) fn deserialize_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SystemTime>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| {
            parse_rfc3339(&text).ok_or_else(|| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time"))
            })
        })
        .transpose()
}
