//! The durable failure log: one row per failed event, in an embedded SQLite database
//! (WAL) under the data directory, queryable and replayable.
//!
//! A failure is written before the event is released from memory. Writers go through
//! the small [`FailureStore`] trait, so a shared store can replace SQLite for a fleet.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::totals::Counters;
use super::{Failure, Stage};
use crate::event::Event;

/// The database file inside a data directory.
pub const FAILURE_LOG_FILE: &str = "failures.sqlite3";

/// Where failures are written. [`FailureLog`] is the embedded implementation.
pub trait FailureStore: Send + Sync + 'static {
    /// Stores one failure durably.
    fn record(&self, failure: &Failure) -> Result<(), FailureLogError>;

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
    /// The error code.
    pub code: String,
    /// What happened.
    pub message: String,
    /// Attempts made so far, replays included.
    pub attempts: u32,
    /// When it was first tried (RFC 3339).
    pub first_attempt: String,
    /// When it was last tried (RFC 3339).
    pub last_attempt: String,
    /// The event as it failed, when there was one.
    pub entry: Option<StoredEvent>,
    /// The raw input, for ingest failures.
    pub input: Option<String>,
    /// When a replay delivered it (RFC 3339); `None` while it is still failed.
    pub replayed_at: Option<String>,
}

/// An event as the failure log stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event id.
    pub id: String,
    /// The EventBridge `Source`.
    pub source: String,
    /// The EventBridge `DetailType`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// The event time.
    pub time: String,
    /// The resources.
    pub resources: Vec<String>,
    /// The detail, JSON text.
    pub detail: String,
}

impl From<&Event> for StoredEvent {
    fn from(e: &Event) -> Self {
        StoredEvent {
            id: e.id.clone(),
            source: e.source.clone(),
            detail_type: e.detail_type.clone(),
            time: e.time.clone(),
            resources: e.resources.clone(),
            detail: e.detail.clone(),
        }
    }
}

impl From<StoredEvent> for Event {
    fn from(e: StoredEvent) -> Self {
        Event {
            id: e.id,
            source: e.source,
            detail_type: e.detail_type,
            time: e.time,
            resources: e.resources,
            detail: e.detail,
        }
    }
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

/// The embedded SQLite failure log.
pub struct FailureLog {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl std::fmt::Debug for FailureLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
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

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Ingest => "ingest",
        Stage::Plugin => "plugin",
        Stage::Delivery => "delivery",
    }
}

/// The stage stored in column `column` as `name`; anything else is a corrupt row, said
/// so rather than read as some stage.
fn parse_stage(column: usize, name: &str) -> rusqlite::Result<Stage> {
    match name {
        "ingest" => Ok(Stage::Ingest),
        "plugin" => Ok(Stage::Plugin),
        "delivery" => Ok(Stage::Delivery),
        other => Err(corrupt(
            column,
            format!("unknown stage {other:?} (expected ingest, plugin or delivery)"),
        )),
    }
}

/// A value in column `column` that cannot be what the failure log wrote there.
fn corrupt(column: usize, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, reason.into())
}

const SELECT: &str = "SELECT id, stage, origin, event_id, code, message, attempts, first_attempt,
                             last_attempt, entry, input, replayed_at, version
                      FROM failures";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFailure> {
    let entry = row
        .get::<_, Option<String>>(9)?
        .map(|e| serde_json::from_str(&e))
        .transpose()
        .map_err(|e| corrupt(9, format!("the stored event is not what was written: {e}")))?;
    Ok(StoredFailure {
        id: row.get(0)?,
        stage: parse_stage(1, &row.get::<_, String>(1)?)?,
        origin: row.get(2)?,
        event_id: row.get(3)?,
        code: row.get(4)?,
        message: row.get(5)?,
        attempts: row.get(6)?,
        first_attempt: row.get(7)?,
        last_attempt: row.get(8)?,
        entry,
        input: row.get(10)?,
        replayed_at: row.get(11)?,
        version: row.get(12)?,
    })
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS failures (
        id            INTEGER PRIMARY KEY,
        stage         TEXT NOT NULL,
        origin        TEXT NOT NULL,
        event_id      TEXT,
        code          TEXT NOT NULL,
        message       TEXT NOT NULL,
        attempts      INTEGER NOT NULL,
        first_attempt TEXT NOT NULL,
        last_attempt  TEXT NOT NULL,
        entry         TEXT,
        input         TEXT,
        replayed_at   TEXT
    );
    CREATE INDEX IF NOT EXISTS failures_by_last_attempt ON failures (last_attempt);
    CREATE TABLE IF NOT EXISTS buses (
        bus            TEXT PRIMARY KEY,
        last_delivered TEXT,
        last_failed    TEXT,
        failing_since  TEXT
    );
    CREATE TABLE IF NOT EXISTS totals (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS facts (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        report      TEXT NOT NULL
    );
";

/// Brings a failure log written by an earlier logbridge up to the current schema.
fn migrate(db: &Connection) -> rusqlite::Result<()> {
    let has_version: bool = db.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('failures') WHERE name = 'version'",
        [],
        |row| row.get(0),
    )?;
    if !has_version {
        db.execute_batch("ALTER TABLE failures ADD COLUMN version TEXT")?;
    }
    Ok(())
}

impl FailureLog {
    /// Opens (creating if needed) the failure log in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, FailureLogError> {
        let path = data_dir.join(FAILURE_LOG_FILE);
        let error = |message: String| FailureLogError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| error(format!("cannot create the data directory: {e}")))?;
        let db = Connection::open(&path).map_err(|e| error(format!("cannot open: {e}")))?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .and_then(|()| db.execute_batch(SCHEMA))
            .and_then(|()| migrate(&db))
            .and_then(|()| {
                // When the totals begin: the first time this database is opened.
                db.execute(
                    "INSERT OR IGNORE INTO facts (name, value) VALUES ('created_at', ?1)",
                    [rfc3339(SystemTime::now())],
                )
                .map(drop)
            })
            .map_err(|e| error(format!("cannot prepare the database: {e}")))?;
        Ok(FailureLog {
            path,
            db: Mutex::new(db),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: impl std::fmt::Display) -> FailureLogError {
        FailureLogError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Failures matching `filter`, oldest first.
    pub fn list(&self, filter: &FailureFilter) -> Result<Vec<StoredFailure>, FailureLogError> {
        let db = self.db();
        let sql = format!(
            "{SELECT}
             WHERE (?1 IS NULL OR (stage = 'delivery' AND origin = ?1))
               AND (?2 IS NULL OR stage = ?2)
               AND (?3 IS NULL OR last_attempt >= ?3)
               AND (?4 OR replayed_at IS NULL)
             ORDER BY id"
        );
        let mut query = db.prepare(&sql).map_err(|e| self.error(e))?;
        let rows = query
            .query_map(
                params![
                    filter.bus,
                    filter.stage.map(stage_name),
                    filter.since,
                    filter.include_replayed
                ],
                from_row,
            )
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Marks failure `id` delivered by a replay at `at`.
    pub fn mark_replayed(&self, id: i64, at: SystemTime) -> Result<(), FailureLogError> {
        self.db()
            .execute(
                "UPDATE failures SET replayed_at = ?2, last_attempt = ?2 WHERE id = ?1",
                params![id, rfc3339(at)],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Records that a replay of failure `id` failed again.
    pub fn record_retry(
        &self,
        id: i64,
        attempts: u32,
        code: &str,
        message: &str,
        at: SystemTime,
    ) -> Result<(), FailureLogError> {
        self.db()
            .execute(
                "UPDATE failures SET attempts = attempts + ?2, code = ?3, message = ?4,
                                     last_attempt = ?5
                 WHERE id = ?1",
                params![id, attempts, code, message, rfc3339(at)],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Every bus seen, with when it last delivered and failed.
    pub fn bus_states(&self) -> Result<Vec<BusState>, FailureLogError> {
        let db = self.db();
        let mut query = db
            .prepare(
                "SELECT bus, last_delivered, last_failed, failing_since FROM buses ORDER BY bus",
            )
            .map_err(|e| self.error(e))?;
        let rows = query
            .query_map([], |row| {
                Ok(BusState {
                    bus: row.get(0)?,
                    last_delivered: row.get(1)?,
                    last_failed: row.get(2)?,
                    failing_since: row.get(3)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Stores the final health of a run.
    pub fn record_run(
        &self,
        started: SystemTime,
        report: &super::HealthReport,
    ) -> Result<(), FailureLogError> {
        let json = serde_json::to_string(report).map_err(|e| self.error(e))?;
        self.db()
            .execute(
                "INSERT INTO runs (started_at, finished_at, report) VALUES (?1, ?2, ?3)",
                params![rfc3339(started), rfc3339(SystemTime::now()), json],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The most recent run: when it started and finished, and its final health as JSON.
    pub fn last_run(&self) -> Result<Option<(String, String, serde_json::Value)>, FailureLogError> {
        let row = self
            .db()
            .query_row(
                "SELECT started_at, finished_at, report FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?)),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        row.map(|(started, finished, report)| {
            let report = serde_json::from_str(&report).map_err(|e| self.error(e))?;
            Ok((started, finished, report))
        })
        .transpose()
    }

    /// The failure with row id `id`.
    pub fn get(&self, id: i64) -> Result<Option<StoredFailure>, FailureLogError> {
        self.db()
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], from_row)
            .optional()
            .map_err(|e| self.error(e))
    }
}

impl FailureLog {
    /// The stored totals and when they began.
    fn totals(db: &Connection) -> rusqlite::Result<(String, Counters)> {
        let since: String = db.query_row(
            "SELECT value FROM facts WHERE name = 'created_at'",
            [],
            |row| row.get(0),
        )?;
        let mut query = db.prepare("SELECT name, value FROM totals")?;
        let rows = query.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut counters = Counters::new();
        for row in rows {
            let (name, value) = row?;
            counters.insert(name, u64::try_from(value).unwrap_or(0));
        }
        Ok((since, counters))
    }
}

impl FailureStore for FailureLog {
    fn load_state(&self) -> Result<StoredState, FailureLogError> {
        let buses = self.bus_states()?;
        let db = self.db();
        let latest = |stage: &str| {
            db.query_row(
                "SELECT MAX(last_attempt) FROM failures WHERE stage = ?1",
                [stage],
                |row| row.get::<_, Option<String>>(0),
            )
        };
        Ok(StoredState {
            buses,
            last_ingest_failure: latest("ingest").map_err(|e| self.error(e))?,
            last_plugin_failure: latest("plugin").map_err(|e| self.error(e))?,
            totals: Some(Self::totals(&db).map_err(|e| self.error(e))?),
        })
    }

    fn add_totals(&self, deltas: &Counters) -> Result<Option<(String, Counters)>, FailureLogError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(|e| self.error(e))?;
        for (name, value) in deltas {
            tx.execute(
                "INSERT INTO totals (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = value + ?2",
                params![name, i64::try_from(*value).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.error(e))?;
        }
        let totals = Self::totals(&tx).map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(Some(totals))
    }

    fn record_delivered(&self, bus: &str, at: SystemTime) -> Result<(), FailureLogError> {
        self.db()
            .execute(
                "INSERT INTO buses (bus, last_delivered) VALUES (?1, ?2)
                 ON CONFLICT (bus) DO UPDATE SET last_delivered = ?2, failing_since = NULL",
                params![bus, rfc3339(at)],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    fn record(&self, failure: &Failure) -> Result<(), FailureLogError> {
        let entry = failure
            .event
            .as_ref()
            .map(|e| serde_json::to_string(&StoredEvent::from(e)).expect("an event serializes"));
        let db = self.db();
        db.execute(
            "INSERT INTO failures (stage, origin, event_id, code, message, attempts,
                                       first_attempt, last_attempt, entry, input, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                stage_name(failure.stage),
                failure.origin,
                failure.event_id,
                failure.code,
                failure.message,
                failure.attempts,
                rfc3339(failure.first_attempt),
                rfc3339(SystemTime::now()),
                entry,
                failure.input,
                failure.version,
            ],
        )
        .map_err(|e| self.error(e))?;
        if failure.stage == Stage::Delivery {
            let now = rfc3339(SystemTime::now());
            db.execute(
                "INSERT INTO buses (bus, last_failed, failing_since) VALUES (?1, ?2, ?2)
                     ON CONFLICT (bus) DO UPDATE
                     SET last_failed = ?2, failing_since = COALESCE(failing_since, ?2)",
                params![failure.origin, now],
            )
            .map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(stage: Stage, origin: &str, id: &str) -> Failure {
        Failure {
            stage,
            event_id: Some(id.into()),
            origin: origin.into(),
            version: None,
            code: "ThrottlingException".into(),
            message: "slow down".into(),
            attempts: 4,
            first_attempt: SystemTime::now(),
            event: Some(Event {
                id: id.into(),
                source: "s".into(),
                detail_type: "d".into(),
                time: "2026-11-25T09:00:00Z".into(),
                resources: vec!["arn:x".into()],
                detail: "{\"a\":1}".into(),
            }),
            input: None,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("logbridge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_corrupt_row_is_an_error_not_another_stage() {
        let dir = scratch("failure-log-corrupt");
        let log = FailureLog::open(&dir).unwrap();
        log.record(&failure(Stage::Plugin, "20-redact", "e1"))
            .unwrap();
        let db = Connection::open(dir.join(FAILURE_LOG_FILE)).unwrap();
        db.execute("UPDATE failures SET stage = 'bogus'", [])
            .unwrap();
        let error = log.list(&FailureFilter::default()).unwrap_err();
        assert!(
            error.to_string().contains("unknown stage \"bogus\""),
            "{error}"
        );
        db.execute(
            "UPDATE failures SET stage = 'plugin', entry = '{not json'",
            [],
        )
        .unwrap();
        let error = log.list(&FailureFilter::default()).unwrap_err();
        assert!(error.to_string().contains("stored event"), "{error}");
    }

    #[test]
    fn failures_survive_reopening_and_filter() {
        let dir = scratch("failure-log");
        {
            let log = FailureLog::open(&dir).unwrap();
            log.record(&failure(Stage::Delivery, "security", "e1"))
                .unwrap();
            log.record(&failure(Stage::Delivery, "audit", "e2"))
                .unwrap();
            log.record(&failure(Stage::Plugin, "20-redact", "e3"))
                .unwrap();
        }
        let log = FailureLog::open(&dir).unwrap();
        let all = log.list(&FailureFilter::default()).unwrap();
        assert_eq!(all.len(), 3);
        let e1 = &all[0];
        assert_eq!(
            (e1.stage, e1.origin.as_str(), e1.attempts),
            (Stage::Delivery, "security", 4)
        );
        let entry = e1.entry.clone().unwrap();
        assert_eq!(
            (entry.detail.as_str(), entry.resources.len()),
            ("{\"a\":1}", 1)
        );

        let security = FailureFilter {
            bus: Some("security".into()),
            ..FailureFilter::default()
        };
        assert_eq!(log.list(&security).unwrap().len(), 1);
        let plugins = FailureFilter {
            stage: Some(Stage::Plugin),
            ..FailureFilter::default()
        };
        assert_eq!(
            log.list(&plugins).unwrap()[0].event_id.as_deref(),
            Some("e3")
        );
        let future = FailureFilter {
            since: Some("2999-01-01T00:00:00Z".into()),
            ..FailureFilter::default()
        };
        assert!(log.list(&future).unwrap().is_empty());

        log.mark_replayed(e1.id, SystemTime::now()).unwrap();
        assert_eq!(log.list(&FailureFilter::default()).unwrap().len(), 2);
        assert!(log.get(e1.id).unwrap().unwrap().replayed_at.is_some());
        log.record_retry(all[1].id, 4, "InternalFailure", "again", SystemTime::now())
            .unwrap();
        let e2 = log.get(all[1].id).unwrap().unwrap();
        assert_eq!((e2.attempts, e2.code.as_str()), (8, "InternalFailure"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
