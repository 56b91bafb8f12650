//! The durable failure log: one row per failed event, in an embedded SQLite database
//! (WAL) under the data directory, queryable and replayable.
//!
//! A running host writes to it from one thread of its own, in batched transactions
//! (see `writer.rs`); everything reads and writes through the [`FailureStore`] trait.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};

use super::store::{
    BusState, FailureFilter, FailureLogError, FailureStore, StoredFailure, StoredState, rfc3339,
};
use super::totals::Counters;
use super::{Failure, FailureCode, Stage};

/// The database file inside a data directory.
pub const FAILURE_LOG_FILE: &str = "failures.sqlite3";

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
        code: FailureCode::parse(&row.get::<_, String>(4)?),
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
    PRAGMA synchronous = FULL;
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

    pub(super) fn error(&self, e: impl std::fmt::Display) -> FailureLogError {
        FailureLogError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    pub(super) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
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
        code: &FailureCode,
        message: &str,
        at: SystemTime,
    ) -> Result<(), FailureLogError> {
        self.db()
            .execute(
                "UPDATE failures SET attempts = attempts + ?2, code = ?3, message = ?4,
                                     last_attempt = ?5
                 WHERE id = ?1",
                params![id, attempts, code.as_str(), message, rfc3339(at)],
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
        self.record_batch(std::slice::from_ref(failure))
    }

    fn record_batch(&self, failures: &[Failure]) -> Result<(), FailureLogError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(|e| self.error(e))?;
        for failure in failures {
            insert(&tx, failure).map_err(|e| self.error(e))?;
        }
        tx.commit().map_err(|e| self.error(e))
    }

    fn list(&self, filter: &FailureFilter) -> Result<Vec<StoredFailure>, FailureLogError> {
        FailureLog::list(self, filter)
    }

    fn mark_replayed(&self, id: i64, at: SystemTime) -> Result<(), FailureLogError> {
        FailureLog::mark_replayed(self, id, at)
    }

    fn record_retry(
        &self,
        id: i64,
        attempts: u32,
        code: &FailureCode,
        message: &str,
        at: SystemTime,
    ) -> Result<(), FailureLogError> {
        FailureLog::record_retry(self, id, attempts, code, message, at)
    }
}

/// Writes one failure row (and, for a delivery failure, its bus's state) in `db`.
fn insert(db: &Connection, failure: &Failure) -> rusqlite::Result<()> {
    let entry = failure
        .event
        .as_ref()
        .map(|e| serde_json::to_string(e).expect("an event serializes"));
    let now = rfc3339(SystemTime::now());
    db.prepare_cached(
        "INSERT INTO failures (stage, origin, event_id, code, message, attempts,
                               first_attempt, last_attempt, entry, input, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        stage_name(failure.stage),
        failure.origin,
        failure.event_id,
        failure.code.as_str(),
        failure.message,
        failure.attempts,
        rfc3339(failure.first_attempt),
        now,
        entry,
        failure.input,
        failure.version,
    ])?;
    if failure.stage == Stage::Delivery {
        db.prepare_cached(
            "INSERT INTO buses (bus, last_failed, failing_since) VALUES (?1, ?2, ?2)
             ON CONFLICT (bus) DO UPDATE
             SET last_failed = ?2, failing_since = COALESCE(failing_since, ?2)",
        )?
        .execute(params![failure.origin, now])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "failure_log_tests.rs"]
mod tests;
