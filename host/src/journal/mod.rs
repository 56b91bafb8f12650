//! The write-ahead log: every accepted event is on disk before it is acknowledged, and
//! stays there until it is settled — filtered, delivered, or written to the failure log.
//!
//! It is an SQLite database in WAL mode (`journal.sqlite3` in the data folder), written by one
//! thread of its own. Appends from every caller waiting at the same time go into one
//! transaction and one `fsync` (group commit); settled rows are trimmed in batches. It
//! also keeps the `log_id`s taken recently (for de-duplication across restarts) and how
//! far each `run --input` file was read. On start, [`Journal::open`] returns what an
//! earlier process left unsettled, to be resumed before new input.

mod ticket;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
pub(crate) use ticket::Ticket;

use crate::event::Event;

// The schema's settings: WAL with an `fsync` at every commit; a checkpoint every 8,192
// pages (32 MiB) rather than SQLite's 1,000, which under sustained load kept the writer
// copying pages back into the database more than appending (benches/src/bin/bench_http.rs);
// the WAL file cut back to 64 MiB after a checkpoint; a 32 MiB page cache.

/// The write-ahead log's file in the data folder.
pub const JOURNAL_FILE: &str = "journal.sqlite3";

/// Where accepted events wait until they are settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// In memory only: fastest, but a crash, an OOM kill or a power cut loses every
    /// event accepted and not yet settled, and de-duplication starts empty after a
    /// restart.
    #[default]
    Memory,
    /// In a write-ahead log in the data folder: an event is on disk (`fsync`ed) before
    /// it is acknowledged, and one not settled at a crash is resumed at the next start.
    Disk,
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Durability::Memory => "memory",
            Durability::Disk => "disk",
        })
    }
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disk" => Ok(Durability::Disk),
            "memory" => Ok(Durability::Memory),
            other => Err(format!(
                "unknown durability `{other}`; use `disk` (acknowledge once on disk) or \
                 `memory` (faster, loses unsettled events in a crash)"
            )),
        }
    }
}

/// The write-ahead log could not be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file system is full (or over quota): nothing more can be taken until space
    /// returns.
    #[error(
        "the write-ahead log {} cannot grow: the disk is full ({message}); free space in \
         the data folder — intake resumes by itself",
        path.display()
    )]
    Full {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// Another process has the write-ahead log open.
    #[error(
        "the write-ahead log {} is in use by another logbridge process; give each process \
         its own data folder (--data-dir)",
        path.display()
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// Any other error reading or writing it.
    #[error(
        "the write-ahead log {} could not be {doing}: {message}; check the data folder is \
         writable",
        path.display()
    )]
    Io {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// What SQLite said.
        message: String,
    },
    /// The log's writer has stopped (the host is shutting down).
    #[error("the write-ahead log is closed: the host is shutting down")]
    Closed,
}

impl JournalError {
    fn from_sqlite(path: &Path, doing: &'static str, e: &rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => JournalError::Full {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::InUse {
                path: path.to_path_buf(),
            },
            _ => JournalError::Io {
                path: path.to_path_buf(),
                doing,
                message: e.to_string(),
            },
        }
    }
}

/// How far an input was read: the events before it are accepted, and a rerun on the
/// same data folder can start from it (see [`Host::send_read`](crate::Host::send_read)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPosition {
    /// What names the input (its path, say, and what tells it apart from another file
    /// at the same path).
    pub key: String,
    /// Bytes read and accounted for.
    pub offset: u64,
    /// Lines read and accounted for.
    pub line: u64,
}

/// What an earlier process left in the write-ahead log.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Events accepted and not settled, oldest first, with their tickets.
    pub events: Vec<(Event, Ticket)>,
    /// Of those, how many may already be on a bus (a `PutEvents` call carried them).
    pub in_flight: u64,
    /// `log_id`s taken, with when (milliseconds since the Unix epoch), newest first.
    pub seen: Vec<(String, u64)>,
    /// How far each input file was read.
    pub inputs: HashMap<String, InputPosition>,
}

/// What the writer thread is asked to do.
pub(crate) enum Op {
    /// Write these events (and the ids taken with them, and how far an input was read)
    /// durably; answer with the first row's sequence number.
    Append {
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
        reply: tokio::sync::oneshot::Sender<AppendResult>,
    },
    /// Note that `PutEvents` calls may carry rows up to this sequence number.
    SentThrough {
        through: i64,
        reply: tokio::sync::oneshot::Sender<()>,
    },
    /// This row is settled: trim it.
    Finished(i64),
    /// Forget how far this input was read (it was read to the end).
    ForgetInput(String),
    /// Forget ids taken longer ago than this, beyond the newest `usize`.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    SeenWindow(Duration, usize),
    /// Answered once everything before it is written.
    #[cfg(test)]
    Barrier(Sender<()>),
    /// Write what is left and stop.
    Close,
}

type AppendResult = Result<(i64, Vec<Event>), (JournalError, Vec<Event>)>;

/// Live figures of the write-ahead log, for health and `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    /// Rows not settled.
    pub pending: AtomicU64,
    /// Events appended since start.
    pub appended: AtomicU64,
    /// Durable commits (`fsync`s) since start.
    pub fsyncs: AtomicU64,
    /// Events resumed from an earlier process.
    pub recovered: AtomicU64,
    /// Of those, how many may have reached a bus before (possible duplicates).
    pub recovered_in_flight: AtomicU64,
    /// Whether the last write failed.
    pub failing: AtomicBool,
    /// Why the last write failed.
    pub error: Mutex<Option<String>>,
}

/// What health shows of the write-ahead log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalReport {
    /// The database file.
    pub path: PathBuf,
    /// Events accepted and not yet settled (rows in the log).
    pub pending: u64,
    /// Bytes on disk: the database and its WAL file.
    pub bytes: u64,
    /// Events written to it since start.
    pub appended: u64,
    /// Durable commits (`fsync`s) since start; each covers every append waiting.
    pub fsyncs: u64,
    /// Events an earlier process accepted and did not settle, resumed at start.
    pub recovered: u64,
    /// Of those, how many a `PutEvents` call had already carried: each may reach its bus
    /// twice (at least once delivery across a crash).
    pub possible_duplicates: u64,
    /// Why the log cannot be written now (a full disk, say), when it cannot; intake
    /// stops meanwhile.
    pub error: Option<String>,
}

/// The write-ahead log: a handle to its writer thread.
pub(crate) struct Journal {
    path: PathBuf,
    tx: Sender<Op>,
    /// Rows up to this sequence number may be carried by a call: written down.
    sent_through: Arc<AtomicI64>,
    gauges: Arc<Gauges>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA wal_autocheckpoint = 8192;
    PRAGMA journal_size_limit = 67108864;
    PRAGMA cache_size = -32768;
    CREATE TABLE IF NOT EXISTS pending (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL,
        source      TEXT NOT NULL,
        detail_type TEXT NOT NULL,
        time        TEXT NOT NULL,
        resources   TEXT NOT NULL,
        detail      TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS seen (
        at  INTEGER NOT NULL,
        ids TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS seen_by_age ON seen (at);
    CREATE TABLE IF NOT EXISTS meta (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS inputs (
        key    TEXT PRIMARY KEY,
        offset INTEGER NOT NULL,
        line   INTEGER NOT NULL
    );
";

/// Most appends that go into one transaction.
const APPENDS_PER_COMMIT: usize = 512;

/// While appends keep coming, settled rows are trimmed once this many have gathered...
const TRIM_BATCH: usize = 4096;
/// ...or this long after the last trim.
const TRIM_EVERY: Duration = Duration::from_millis(20);

/// How far ahead of the rows a call carries the note of what may have been sent is
/// moved: one write for about this many entries sent, and at most this many rows more
/// counted as possible duplicates after a crash.
const SENT_AHEAD: i64 = 512;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Journal {
    /// Opens (creating if needed) the write-ahead log in `data_dir`, takes it for this
    /// process alone, and returns what an earlier process left in it.
    pub(crate) fn open(data_dir: &Path) -> Result<(Journal, Recovered), JournalError> {
        let path = data_dir.join(JOURNAL_FILE);
        let fail = |doing, e: &rusqlite::Error| JournalError::from_sqlite(&path, doing, e);
        std::fs::create_dir_all(data_dir).map_err(|e| JournalError::Io {
            path: path.clone(),
            doing: "created",
            message: format!("cannot create the data folder: {e}"),
        })?;
        let db = Connection::open(&path).map_err(|e| fail("opened", &e))?;
        // One process at a time: a second one would resume the same events.
        db.busy_timeout(Duration::from_millis(500))
            .and_then(|()| db.execute_batch("PRAGMA locking_mode = EXCLUSIVE;"))
            .and_then(|()| db.execute_batch(SCHEMA))
            .and_then(|()| db.execute_batch("BEGIN EXCLUSIVE; COMMIT;"))
            .map_err(|e| fail("opened", &e))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let (recovered, sent_through) = recover(&db, &tx).map_err(|e| fail("read", &e))?;
        // New rows come after every row a call may have carried, so none of them counts
        // as a possible duplicate after the next crash before it is sent.
        let next_seq: i64 = db
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM pending", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| fail("read", &e))?
            .max(sent_through + 1);
        let gauges = Arc::new(Gauges::default());
        let n = recovered.events.len() as u64;
        gauges.pending.store(n, Ordering::Release);
        gauges.recovered.store(n, Ordering::Release);
        gauges
            .recovered_in_flight
            .store(recovered.in_flight, Ordering::Release);
        let sent_through = Arc::new(AtomicI64::new(sent_through));
        let writer = Writer {
            db,
            path: path.clone(),
            next_seq,
            sent_through: Arc::clone(&sent_through),
            gauges: Arc::clone(&gauges),
            synchronous_full: true,
            trimmed_at: std::time::Instant::now(),
            trim_failing: false,
            seen_window: None,
            trimmed_seen_at: std::time::Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("logbridge-journal".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| JournalError::Io {
                path: path.clone(),
                doing: "started",
                message: format!("cannot start its writer thread: {e}"),
            })?;
        Ok((
            Journal {
                path,
                tx,
                sent_through,
                gauges,
                thread: Mutex::new(Some(thread)),
            },
            recovered,
        ))
    }

    /// Writes `events` durably (with the `log_id`s in `seen`, and how far an input was
    /// read) and returns them with a ticket each, once the `fsync` is done. On an error
    /// nothing was written, and the events come back with it.
    pub(crate) async fn append(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
    ) -> Result<Vec<(Event, Ticket)>, (JournalError, Vec<Event>)> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if let Err(std::sync::mpsc::SendError(Op::Append { events, .. })) =
            self.tx.send(Op::Append {
                events,
                seen,
                input,
                reply,
            })
        {
            return Err((JournalError::Closed, events));
        }
        let (first, events) = answer
            .await
            .map_err(|_| (JournalError::Closed, Vec::new()))??;
        Ok(events
            .into_iter()
            .zip(first..)
            .map(|(event, seq)| (event, Ticket::new(seq, self.tx.clone())))
            .collect())
    }

    /// Notes, before a `PutEvents` call carries rows up to `seq`, that they may reach a
    /// bus: after a crash, rows up to the noted number count as possible duplicates. The
    /// note runs [`SENT_AHEAD`] rows ahead, so most calls find it written already and do
    /// not wait. Returns once it is written (to the operating system; a power cut may
    /// lose the note).
    pub(crate) async fn note_sent(&self, seq: i64) {
        if seq <= self.sent_through.load(Ordering::Acquire) {
            return;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let through = seq + SENT_AHEAD;
        if self.tx.send(Op::SentThrough { through, reply }).is_ok() {
            let _ = answer.await;
        }
    }

    /// Forgets how far the input `key` was read.
    pub(crate) fn forget_input(&self, key: &str) {
        let _ = self.tx.send(Op::ForgetInput(key.to_string()));
    }

    /// Keeps the `log_id`s taken within `window`, at most `capacity` of them (the
    /// receiver's de-duplication window).
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    pub(crate) fn keep_seen(&self, window: Duration, capacity: usize) {
        let _ = self.tx.send(Op::SeenWindow(window, capacity));
    }

    /// Waits until everything handed to the writer so far is written (or failed to be).
    #[cfg(test)]
    pub(crate) fn flush(&self) {
        let (ack, acked) = std::sync::mpsc::channel();
        if self.tx.send(Op::Barrier(ack)).is_ok() {
            let _ = acked.recv();
        }
    }

    /// What health shows.
    pub(crate) fn report(&self) -> JournalReport {
        let g = &self.gauges;
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        JournalReport {
            path: self.path.clone(),
            pending: g.pending.load(Ordering::Acquire),
            bytes: size(&self.path) + size(Path::new(&wal)),
            appended: g.appended.load(Ordering::Acquire),
            fsyncs: g.fsyncs.load(Ordering::Acquire),
            recovered: g.recovered.load(Ordering::Acquire),
            possible_duplicates: g.recovered_in_flight.load(Ordering::Acquire),
            error: g.error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Writes what is left and stops the writer: rows of events still unsettled stay,
    /// and are resumed at the next start.
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Op::Close);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the thread that writes the write-ahead log panicked");
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads what an earlier process left, and how far its calls may have carried rows.
fn recover(db: &Connection, trim: &Sender<Op>) -> rusqlite::Result<(Recovered, i64)> {
    let mut recovered = Recovered::default();
    let sent_through: i64 = db
        .query_row(
            "SELECT value FROM meta WHERE name = 'sent_through'",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(0),
            e => Err(e),
        })?;
    let mut rows = db.prepare(
        "SELECT seq, id, source, detail_type, time, resources, detail
         FROM pending ORDER BY seq",
    )?;
    let mut rows = rows.query([])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let resources: String = row.get(5)?;
        let event = Event {
            id: row.get(1)?,
            source: row.get(2)?,
            detail_type: row.get(3)?,
            time: row.get(4)?,
            resources: serde_json::from_str(&resources).unwrap_or_default(),
            detail: row.get(6)?,
        };
        recovered.in_flight += u64::from(seq <= sent_through);
        recovered
            .events
            .push((event, Ticket::new(seq, trim.clone())));
    }
    let mut seen = db.prepare("SELECT at, ids FROM seen ORDER BY at DESC, rowid DESC")?;
    let mut rows = seen.query([])?;
    while let Some(row) = rows.next()? {
        let at = row.get::<_, i64>(0)? as u64;
        let ids: String = row.get(1)?;
        let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
        recovered
            .seen
            .extend(ids.into_iter().rev().map(|id| (id, at)));
    }
    let mut inputs = db.prepare("SELECT key, offset, line FROM inputs")?;
    recovered.inputs = inputs
        .query_map([], |r| {
            let key: String = r.get(0)?;
            Ok((
                key.clone(),
                InputPosition {
                    key,
                    offset: r.get::<_, i64>(1)? as u64,
                    line: r.get::<_, i64>(2)? as u64,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((recovered, sent_through))
}

/// The runs of consecutive numbers in `sorted`, as `(first, last)`.
fn runs(sorted: &[i64]) -> impl Iterator<Item = (i64, i64)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = *sorted.get(i)?;
        let mut last = first;
        i += 1;
        while sorted.get(i) == Some(&(last + 1)) {
            last += 1;
            i += 1;
        }
        Some((first, last))
    })
}

/// The writer thread's state.
struct Writer {
    db: Connection,
    path: PathBuf,
    next_seq: i64,
    sent_through: Arc<AtomicI64>,
    gauges: Arc<Gauges>,
    synchronous_full: bool,
    /// When settled rows were last trimmed.
    trimmed_at: std::time::Instant,
    /// Whether the last trim failed (said once).
    trim_failing: bool,
    seen_window: Option<(Duration, usize)>,
    trimmed_seen_at: std::time::Instant,
}

/// An append waiting for the next commit: the events, the ids taken with them, how far
/// an input was read, and whom to answer.
type PendingAppend = (
    Vec<Event>,
    Vec<String>,
    Option<InputPosition>,
    tokio::sync::oneshot::Sender<AppendResult>,
);

/// What one round of the writer gathered.
#[derive(Default)]
struct Round {
    appends: Vec<PendingAppend>,
    sent: Vec<(i64, tokio::sync::oneshot::Sender<()>)>,
    forget: Vec<String>,
    barriers: Vec<Sender<()>>,
    close: bool,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Op>) {
        // Settled rows not yet trimmed (kept across rounds while writing fails).
        let mut finished: Vec<i64> = Vec::new();
        loop {
            let first = if finished.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(Duration::from_millis(50))
            };
            let mut round = Round::default();
            let mut next = match first {
                Ok(op) => Some(op),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    round.close = true;
                    None
                }
            };
            while let Some(op) = next.take() {
                match op {
                    Op::Append {
                        events,
                        seen,
                        input,
                        reply,
                    } => round.appends.push((events, seen, input, reply)),
                    Op::SentThrough { through, reply } => round.sent.push((through, reply)),
                    Op::Finished(seq) => finished.push(seq),
                    Op::ForgetInput(key) => round.forget.push(key),
                    Op::SeenWindow(window, capacity) => {
                        self.seen_window = Some((window, capacity));
                    }
                    #[cfg(test)]
                    Op::Barrier(ack) => round.barriers.push(ack),
                    Op::Close => round.close = true,
                }
                if round.appends.len() < APPENDS_PER_COMMIT && !round.close {
                    next = rx.try_recv().ok();
                }
            }
            // Appends first: their callers wait for the `fsync`. Trims can wait, and go
            // in bigger batches while appends keep coming: when a round has none, when
            // enough have gathered, or every few milliseconds.
            let appending = !round.appends.is_empty();
            self.append(std::mem::take(&mut round.appends));
            let trim_due = !appending
                || round.close
                || !round.sent.is_empty()
                || finished.len() >= TRIM_BATCH
                || self.trimmed_at.elapsed() >= TRIM_EVERY;
            if trim_due {
                self.trim(&mut finished, &mut round);
            }
            for ack in round.barriers {
                let _ = ack.send(());
            }
            if round.close {
                // What is still unsettled stays, to be resumed.
                return;
            }
        }
    }

    fn set_synchronous(&mut self, full: bool) -> rusqlite::Result<()> {
        if self.synchronous_full != full {
            self.db
                .pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
            self.synchronous_full = full;
        }
        Ok(())
    }

    /// Trims settled rows and notes rows sent, in one transaction written to the
    /// operating system (not `fsync`ed: the next append's `fsync` covers it). Rows that
    /// could not be trimmed stay in `finished` for the next round.
    fn trim(&mut self, finished: &mut Vec<i64>, round: &mut Round) {
        let seen_due =
            self.seen_window.is_some() && self.trimmed_seen_at.elapsed() >= Duration::from_secs(10);
        if finished.is_empty() && round.sent.is_empty() && round.forget.is_empty() && !seen_due {
            return;
        }
        let result = (|| -> rusqlite::Result<()> {
            self.set_synchronous(false)?;
            let tx = self.db.transaction()?;
            {
                // Rows settle in about the order they came: whole runs go at once.
                finished.sort_unstable();
                let mut delete =
                    tx.prepare_cached("DELETE FROM pending WHERE seq BETWEEN ?1 AND ?2")?;
                for (first, last) in runs(finished) {
                    delete.execute([first, last])?;
                }
                if let Some(through) = round.sent.iter().map(|(through, _)| *through).max() {
                    tx.execute(
                        "INSERT OR REPLACE INTO meta (name, value) VALUES ('sent_through', ?1)",
                        [through],
                    )?;
                }
                for key in &round.forget {
                    tx.execute("DELETE FROM inputs WHERE key = ?1", [key])?;
                }
                if seen_due && let Some((window, capacity)) = self.seen_window {
                    let cutoff = now_ms().saturating_sub(window.as_millis() as u64);
                    tx.execute("DELETE FROM seen WHERE at < ?1", [cutoff as i64])?;
                    // Each row holds at least one id: no more rows than ids are kept.
                    tx.execute(
                        "DELETE FROM seen WHERE rowid IN
                         (SELECT rowid FROM seen ORDER BY at DESC LIMIT -1 OFFSET ?1)",
                        [capacity as i64],
                    )?;
                }
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                self.trimmed_at = std::time::Instant::now();
                if std::mem::replace(&mut self.trim_failing, false) {
                    tracing::info!("the write-ahead log can be trimmed again");
                }
                if let Some(through) = round.sent.iter().map(|(through, _)| *through).max() {
                    self.sent_through.fetch_max(through, Ordering::AcqRel);
                }
                self.gauges
                    .pending
                    .fetch_sub(finished.len() as u64, Ordering::AcqRel);
                finished.clear();
                if seen_due {
                    self.trimmed_seen_at = std::time::Instant::now();
                }
            }
            Err(e) => {
                // Rows not trimmed are settled all the same: after a crash they are
                // sent again, and only that. The note of a send is lost: the call is
                // made anyway. Said once until a trim succeeds again.
                if !std::mem::replace(&mut self.trim_failing, true) {
                    tracing::warn!(
                        rows = finished.len(),
                        "could not trim the write-ahead log (retrying every 50 ms): {e}"
                    );
                }
            }
        }
        for (_, reply) in round.sent.drain(..) {
            let _ = reply.send(());
        }
        round.forget.clear();
    }

    /// Writes every append of the round in one transaction and one `fsync`.
    fn append(&mut self, appends: Vec<PendingAppend>) {
        if appends.is_empty() {
            return;
        }
        let first_seq = self.next_seq;
        let result = (|| -> rusqlite::Result<i64> {
            self.set_synchronous(true)?;
            let now = now_ms() as i64;
            let tx = self.db.transaction()?;
            let mut seq = first_seq;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO pending (seq, id, source, detail_type, time, resources, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                let mut seen = tx.prepare_cached("INSERT INTO seen (at, ids) VALUES (?1, ?2)")?;
                let mut input = tx.prepare_cached(
                    "INSERT OR REPLACE INTO inputs (key, offset, line) VALUES (?1, ?2, ?3)",
                )?;
                for (events, ids, mark, _) in &appends {
                    for event in events {
                        let resources = if event.resources.is_empty() {
                            "[]".to_string()
                        } else {
                            serde_json::to_string(&event.resources).unwrap_or_default()
                        };
                        insert.execute(params![
                            seq,
                            event.id,
                            event.source,
                            event.detail_type,
                            event.time,
                            resources,
                            event.detail
                        ])?;
                        seq += 1;
                    }
                    if !ids.is_empty() {
                        let ids = serde_json::to_string(ids).unwrap_or_default();
                        seen.execute(params![now, ids])?;
                    }
                    if let Some(mark) = mark {
                        input.execute(params![mark.key, mark.offset as i64, mark.line as i64])?;
                    }
                }
            }
            tx.commit()?;
            Ok(seq)
        })();
        match result {
            Ok(next) => {
                self.next_seq = next;
                let n = (next - first_seq) as u64;
                let g = &self.gauges;
                g.pending.fetch_add(n, Ordering::AcqRel);
                g.appended.fetch_add(n, Ordering::AcqRel);
                g.fsyncs.fetch_add(1, Ordering::AcqRel);
                if g.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("the write-ahead log can be written again; intake resumes");
                    *g.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                let mut seq = first_seq;
                for (events, _, _, reply) in appends {
                    let n = events.len() as i64;
                    let _ = reply.send(Ok((seq, events)));
                    seq += n;
                }
            }
            Err(e) => {
                let error = JournalError::from_sqlite(&self.path, "written", &e);
                let g = &self.gauges;
                if !g.failing.swap(true, Ordering::AcqRel) {
                    tracing::error!("{error}");
                }
                *g.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
                for (events, _, _, reply) in appends {
                    let _ = reply.send(Err((error.clone(), events)));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
