//! Finished runs in the failure log: each run's final health, stored as JSON and read
//! back typed, older versions' reports included.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::failure_log::FailureLog;
use super::report::HealthReport;
use super::store::{FailureLogError, rfc3339};

/// A finished run as the failure log keeps it: when it started and finished, and its
/// final health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Its final health. Stored as JSON; fields an older version did not write read as
    /// their defaults.
    pub report: HealthReport,
}

impl FailureLog {
    /// Stores the final health of a run.
    pub fn record_run(
        &self,
        started: SystemTime,
        report: &HealthReport,
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

    /// The most recent run. A stored report this version cannot read is an error that
    /// says which run it is.
    pub fn last_run(&self) -> Result<Option<Run>, FailureLogError> {
        let row = self
            .db()
            .query_row(
                "SELECT id, started_at, finished_at, report FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.error(e))?;
        row.map(|(id, started_at, finished_at, report)| {
            let report = serde_json::from_str(&report).map_err(|e| {
                self.error(format!(
                    "the report of run {id} (started {started_at}) cannot be read: {e}; it \
                     was not written by this version of logbridge, or was changed since \
                     (the failures themselves are unaffected)"
                ))
            })?;
            Ok(Run {
                started_at,
                finished_at,
                report,
            })
        })
        .transpose()
    }
}
