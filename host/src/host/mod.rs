//! The embeddable host: a plugin set, pipeline workers, delivery and health wired
//! together behind a cheap, cloneable [`Host`] handle.
//!
//! Events flow through bounded queues: [`Host::send`] waits when the workers are behind
//! (backpressure), workers wait when delivery is behind. Each worker thread owns its
//! own plugin instances. With a write-ahead log ([`Durability::Disk`]) an event is on
//! disk before it is queued, and what an earlier process left unsettled is queued before
//! anything new. [`Host::shutdown`] stops intake, lets every queued event finish, and
//! returns the final [`HealthReport`]. [`HostBuilder`] (in `builder.rs`) makes one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::delivery::Delivered;
use crate::error::{Error, Result};
use crate::event::{Envelope, Event, EventError};
use crate::health::{Failure, FailureLog, Health, HealthReport, PluginLoadError, Stage, rfc3339};
use crate::journal::{Durability, InputPosition, Journal, JournalError, Ticket};
use crate::plugin::{CompiledPlugin, ReloadOutcome, reload_dir_for};
use crate::worker::{PluginSlot, plugin_infos};

mod builder;

pub use builder::HostBuilder;

/// The bus EventBridge calls `default`, and ours when none is configured.
pub const DEFAULT_BUS: &str = "default";

/// Delivered entries a [`Host::subscribe`] receiver may fall behind before it misses some.
pub const SUBSCRIBER_BACKLOG: usize = 4096;

/// An event in the queue, with its hold on its write-ahead log row.
pub(crate) type Queued = (Event, Ticket);

/// Places in the queue taken for events not yet queued; given back if they are not
/// used (an error, or a caller that gave up).
struct Reserved<'a> {
    room: Option<&'a tokio::sync::Semaphore>,
    places: usize,
}

impl Reserved<'_> {
    fn none() -> Self {
        Reserved {
            room: None,
            places: 0,
        }
    }

    /// Uses one place, if one is left.
    fn use_one(&mut self) -> bool {
        if self.places == 0 {
            return false;
        }
        self.places -= 1;
        true
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(room) = self.room {
            room.add_permits(self.places);
        }
    }
}

struct Inner {
    ingress: async_channel::Sender<Queued>,
    /// The workers' end of the queue, for [`Host::abort`] to empty.
    queued: async_channel::Receiver<Queued>,
    /// The write-ahead log, with [`Durability::Disk`].
    journal: Option<Arc<Journal>>,
    /// With the write-ahead log: room in the queue, one permit per place, taken before
    /// events are written (so they are written only when they can be queued) and given
    /// back as the workers take them.
    room: Option<Arc<tokio::sync::Semaphore>>,
    /// Whether what an earlier process left is all queued (new input waits until then).
    resumed: AtomicBool,
    resumed_tx: tokio::sync::watch::Sender<bool>,
    /// `log_id`s taken before the last restart, newest first, with when (ms since the
    /// Unix epoch), for the receiver to take once.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    seen_before: Mutex<Vec<(String, u64)>>,
    /// How far each input was read by an earlier process.
    inputs_before: HashMap<String, InputPosition>,
    /// Inputs read to the end, forgotten at shutdown once every event is settled.
    inputs_done: Mutex<Vec<String>>,
    /// Tells delivery to send nothing more ([`Host::abort`]).
    abort: tokio::sync::watch::Sender<bool>,
    envelope: Envelope,
    slot: Arc<PluginSlot>,
    plugins_dir: Option<PathBuf>,
    failure_log: Option<Arc<FailureLog>>,
    reload_lock: tokio::sync::Mutex<()>,
    reloads: tokio::sync::broadcast::Sender<ReloadOutcome>,
    delivered: tokio::sync::broadcast::Sender<Delivered>,
    watcher: Mutex<Option<crate::watch::Watcher>>,
    health: Arc<Health>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// How many workers there are (the instance pool holds an instance of every plugin
    /// for each).
    workers_count: usize,
    delivery: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A [`Host`] handle that does not keep it alive (for its own background threads).
pub(crate) struct WeakHost(std::sync::Weak<Inner>);

impl WeakHost {
    pub(crate) fn upgrade(&self) -> Option<Host> {
        self.0.upgrade().map(|inner| Host { inner })
    }
}

/// A running logbridge host. Cheap to clone; every clone drives the same host.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.inner.slot.current().1.plugins().len())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A builder made from `config`: its plugins folder (with the compile cache in
    /// `DATA_DIR/plugin-cache`), watch, envelope, buses, workers, plugin limits, delivery,
    /// failure log in `data_dir` and the sink of `[sink]` — opened here, so for
    /// EventBridge the AWS credentials chain is read. `[serve]` is for
    /// [`Config::serve_config`](crate::config::Config::serve_config).
    pub async fn from_config(config: &crate::config::Config) -> Result<HostBuilder> {
        // The settings may have been changed since the configuration was read.
        config.check_combination()?;
        let envelope = Envelope::new(config.source.clone(), config.detail_type.clone())?;
        let mut builder = Host::builder()
            .envelope(envelope)
            .default_bus(config.default_bus.clone())
            .data_dir(&config.data_dir)
            .delivery_config(config.delivery_config())
            .plugin_limits(config.plugin_limits())
            .durability(config.durability)
            .sink_arc(config.sink.open().await?);
        if let Some(dir) = &config.plugins {
            builder = builder
                .plugins_dir(dir)
                .cache_dir(config.data_dir.join("plugin-cache"))
                .watch_plugins(config.watch);
        }
        if let Some(workers) = config.workers {
            builder = builder.workers(workers);
        }
        if !config.buses.is_empty() {
            builder = builder.buses(config.buses.iter().cloned());
        }
        Ok(builder)
    }

    /// A builder with the defaults: no plugins, the Auth0 envelope, bus `default`, one
    /// worker per core, EventBridge's batch limits.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// Queues `event` for the pipeline, waiting while the queue is full. A detail
    /// EventBridge would refuse whatever the plugins do (an integer outside the signed
    /// 64-bit range, nesting deeper than [`MAX_DETAIL_DEPTH`](crate::event::MAX_DETAIL_DEPTH))
    /// is not queued: it is recorded as an ingest failure and its error returned.
    ///
    /// With a write-ahead log ([`Durability::Disk`]) the event is on disk when this
    /// returns `Ok`; [`Error::Journal`] when it cannot be written (a full disk: nothing
    /// was taken, retry later).
    pub async fn send(&self, event: Event) -> Result<()> {
        self.admit(&event)?;
        self.enqueue(event).await
    }

    /// Queues an event already checked (mapped by the envelope, which checks).
    async fn enqueue(&self, event: Event) -> Result<()> {
        self.accept(vec![event], Vec::new(), None).await
    }

    /// Takes `events`, already checked: with a write-ahead log, writes them first —
    /// with the `log_id`s in `seen` and how far an input was read, in one `fsync` shared
    /// with every other caller waiting — then queues them all, waiting for room. Once
    /// the log has them they are the host's: if it shuts down before all are queued,
    /// the rest are resumed at the next start. With the log, the work runs in a task of
    /// its own, so a caller that gives up waiting (a timeout around `send`) cancels
    /// nothing half-way: the events are then taken, or not, whole.
    pub(crate) async fn accept(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
    ) -> Result<()> {
        self.accept_or_return(events, seen, input)
            .await
            .map_err(|(error, _)| error)
    }

    /// [`accept`](Self::accept), giving the events back when none was written (a full
    /// disk, say), so the caller can try again without a copy.
    async fn accept_or_return(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
    ) -> std::result::Result<(), (Error, Vec<Event>)> {
        if self.inner.room.is_none() {
            self.wait_resumed().await;
            return self.take(events, seen, input, Reserved::none()).await;
        }
        let host = self.clone();
        tokio::spawn(async move {
            host.wait_resumed().await;
            let reserved = host.reserve(events.len()).await;
            host.take(events, seen, input, reserved).await
        })
        .await
        .map_err(|_| (Error::Panicked("intake task"), Vec::new()))?
    }

    /// Takes room in the queue for up to `n` events (at most all of it) with the
    /// write-ahead log, waiting for it.
    async fn reserve(&self, n: usize) -> Reserved<'_> {
        let Some(room) = self.inner.room.as_deref() else {
            return Reserved::none();
        };
        let places = n.min(self.inner.ingress.capacity().unwrap_or(n));
        if places == 0 {
            return Reserved::none();
        }
        match room
            .acquire_many(u32::try_from(places).unwrap_or(u32::MAX))
            .await
        {
            Ok(permit) => {
                permit.forget();
                Reserved {
                    room: Some(room),
                    places,
                }
            }
            // Closed: the host is stopping; `take` says so.
            Err(_) => Reserved::none(),
        }
    }

    /// Writes `events` ahead (with the write-ahead log) and queues them; the `reserved`
    /// places in the queue are taken for them, the rest are taken one by one. On an
    /// error before anything was written, the events come back with it.
    async fn take(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
        mut reserved: Reserved<'_>,
    ) -> std::result::Result<(), (Error, Vec<Event>)> {
        if events.is_empty() && seen.is_empty() && input.is_none() {
            return Ok(());
        }
        // Nothing is written for a host that no longer takes events.
        if self.inner.ingress.is_closed() {
            return Err((Error::ShutDown, events));
        }
        let queued = self.write_ahead(events, seen, input).await?;
        for item in queued {
            if !reserved.use_one()
                && let Some(room) = &self.inner.room
                && let Ok(permit) = room.acquire().await
            {
                permit.forget();
            }
            self.inner
                .ingress
                .send(item)
                .await
                .map_err(|_| (Error::ShutDown, Vec::new()))?;
            self.inner.health.record_accepted();
        }
        Ok(())
    }

    /// `events` on disk with their tickets, or with empty tickets without a log. On an
    /// error nothing was written, and the events come back with it.
    async fn write_ahead(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        input: Option<InputPosition>,
    ) -> std::result::Result<Vec<Queued>, (Error, Vec<Event>)> {
        match &self.inner.journal {
            Some(journal) => journal
                .append(events, seen, input)
                .await
                .map_err(|(error, events)| (Error::Journal(error), events)),
            None => Ok(events
                .into_iter()
                .map(|event| (event, Ticket::default()))
                .collect()),
        }
    }

    /// Waits until what an earlier process left is all queued.
    async fn wait_resumed(&self) {
        if self.inner.resumed.load(Ordering::Acquire) {
            return;
        }
        let mut resumed = self.inner.resumed_tx.subscribe();
        let _ = resumed.wait_for(|done| *done).await;
    }

    /// Queues `event` if the queue has room within `wait`; [`Error::Busy`] if it stays
    /// full that long (nothing was queued).
    pub async fn send_within(&self, event: Event, wait: std::time::Duration) -> Result<()> {
        self.admit(&event)?;
        self.accept_within(vec![event], Vec::new(), wait)
            .await
            .map(drop)
            .map_err(|(error, _)| error)
    }

    /// Takes `events`, already checked, if the queue has room within `wait`. Without a
    /// write-ahead log each event gets up to `wait`; on an error, the number before it
    /// that were queued comes back with it. With a log, the events (and the `log_id`s in
    /// `seen`) are written together once the queue has room, and then all taken, or none.
    pub(crate) async fn accept_within(
        &self,
        events: Vec<Event>,
        seen: Vec<String>,
        wait: std::time::Duration,
    ) -> std::result::Result<usize, (Error, usize)> {
        let count = events.len();
        if self.inner.journal.is_some() {
            // In a task of its own, as `accept`: a caller that gives up cancels nothing
            // half-way.
            let host = self.clone();
            return tokio::spawn(async move {
                let room = async {
                    host.wait_resumed().await;
                    host.reserve(count).await
                };
                let reserved = tokio::time::timeout(wait, room)
                    .await
                    .map_err(|_| (Error::Busy, 0))?;
                host.take(events, seen, None, reserved)
                    .await
                    .map(|()| count)
                    .map_err(|(error, _)| (error, 0))
            })
            .await
            .map_err(|_| (Error::Panicked("intake task"), 0))?;
        }
        tokio::time::timeout(wait, self.wait_resumed())
            .await
            .map_err(|_| (Error::Busy, 0))?;
        for (n, event) in events.into_iter().enumerate() {
            let queued = (event, Ticket::default());
            match tokio::time::timeout(wait, self.inner.ingress.send(queued)).await {
                Ok(Ok(())) => self.inner.health.record_accepted(),
                Ok(Err(_)) => return Err((Error::ShutDown, n)),
                Err(_) => return Err((Error::Busy, n)),
            }
        }
        Ok(count)
    }

    /// Queues every event in order, waiting while the queue is full. On an error the
    /// events before it were queued and the rest were not. With a write-ahead log they
    /// are written together, in one `fsync`.
    pub async fn send_batch(&self, events: impl IntoIterator<Item = Event>) -> Result<()> {
        let mut admitted = Vec::new();
        let mut refused = None;
        for event in events {
            if let Err(error) = self.admit(&event) {
                refused = Some(error);
                break;
            }
            admitted.push(event);
        }
        if !admitted.is_empty() {
            self.accept(admitted, Vec::new(), None).await?;
        }
        refused.map_or(Ok(()), Err)
    }

    /// Queues `events` read from an input, with how far it has been read (for an input
    /// that can be read again: a file): with a write-ahead log the position is written
    /// with the events, so that [`input_position`](Self::input_position) gives it back
    /// to a rerun after a crash, which can go on from there. Events refused by
    /// [`send`](Self::send)'s checks are recorded as ingest failures, as there; their
    /// error is not returned. While the write-ahead log or the failure log cannot be
    /// written (a full disk), this waits: reading stops, and goes on once they can.
    pub async fn send_read(
        &self,
        events: Vec<Event>,
        position: Option<InputPosition>,
    ) -> Result<()> {
        let mut admitted = Vec::with_capacity(events.len());
        for event in events {
            if self.admit(&event).is_ok() {
                admitted.push(event);
            }
        }
        let mut paused = false;
        let result = loop {
            // Ingest failures of this read are written before the position moves past
            // them.
            self.flush_failures().await?;
            let why = match self.intake_blocked() {
                Some(why) => why,
                None => match self
                    .accept_or_return(admitted, Vec::new(), position.clone())
                    .await
                {
                    Err((Error::Journal(error @ JournalError::Full { .. }), back)) => {
                        admitted = back;
                        error.to_string()
                    }
                    other => break other.map_err(|(error, _)| error),
                },
            };
            if !std::mem::replace(&mut paused, true) {
                tracing::warn!("input paused: {why}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        if paused {
            tracing::info!("input resumed");
        }
        result
    }

    /// How far an earlier process read the input `key` (with a write-ahead log), if it
    /// did not read it to the end: the events before it were accepted then.
    pub fn input_position(&self, key: &str) -> Option<InputPosition> {
        self.inner.inputs_before.get(key).cloned()
    }

    /// The input `key` was read to the end: once [`shutdown`](Self::shutdown) has
    /// settled every event, its position is forgotten and a later run starts it from the
    /// beginning. (Until then a crash keeps the position: a rerun reads nothing more of
    /// it and resumes what was not settled.)
    pub fn finish_input(&self, key: &str) {
        if self.inner.journal.is_some() {
            self.inner
                .inputs_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(key.to_string());
        }
    }

    /// Waits until every failure handed over so far is in the failure log.
    pub async fn flush_failures(&self) -> Result<()> {
        let health = Arc::clone(&self.inner.health);
        tokio::task::spawn_blocking(move || health.flush_failures())
            .await
            .map_err(|_| Error::Panicked("failure log flush"))
    }

    /// Why intake must stop now, if it must: failures cannot be written to the failure
    /// log (a full disk, say). Intake resumes once they can.
    pub fn intake_blocked(&self) -> Option<String> {
        self.inner.health.failure_log_blocked()
    }

    /// Where accepted events wait until they are settled.
    pub fn durability(&self) -> Durability {
        if self.inner.journal.is_some() {
            Durability::Disk
        } else {
            Durability::Memory
        }
    }

    /// The `log_id`s taken before the last restart (newest first, with when, in ms
    /// since the Unix epoch), once; and from now on those within `window`, at most
    /// `capacity` of them, are kept in the write-ahead log.
    #[cfg(feature = "serve")]
    pub(crate) fn seen_before(
        &self,
        window: std::time::Duration,
        capacity: usize,
    ) -> Vec<(String, u64)> {
        if let Some(journal) = &self.inner.journal {
            journal.keep_seen(window, capacity);
        }
        std::mem::take(
            &mut *self
                .inner
                .seen_before
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Checks `event`'s detail before it is queued; one that could never be delivered
    /// fails here, at stage `ingest`, rather than in the first plugin that parses it.
    fn admit(&self, event: &Event) -> Result<()> {
        let Err(problem) = crate::event::check_detail(&event.detail) else {
            return Ok(());
        };
        let error = EventError::Undeliverable(problem);
        self.record_bad_input("send", Some(&event.id), &event.detail, &error);
        Err(Error::Event(error))
    }

    /// Events waiting in the queue. Each worker also takes up to 16 queued events at a
    /// time; those are being worked on and not counted here.
    pub fn queue_depth(&self) -> usize {
        self.inner.ingress.len()
    }

    #[cfg(feature = "serve")]
    /// Counts a record dropped as a duplicate of one already taken (same `log_id`, within
    /// the receiver's window). It is not an accepted event.
    pub(crate) fn record_duplicate(&self) {
        self.inner.health.record_duplicate();
    }

    /// Maps one Auth0 log (bare, or a `{"log_id", "data"}` record) with the host's
    /// envelope and queues it. A record that cannot be mapped is counted as an ingest
    /// failure (with `origin` naming where it came from) and its error returned.
    pub async fn send_auth0(&self, json: &str, origin: &str) -> Result<()> {
        match self.inner.envelope.auth0_event(json) {
            Ok(event) => self.enqueue(event).await,
            Err(error) => {
                self.record_ingest_failure(origin, json, &error);
                Err(Error::Event(error))
            }
        }
    }

    /// Counts an input record that could not become an event (stage `ingest`), keeping
    /// the record itself (`input`) in the failure log.
    pub fn record_ingest_failure(&self, origin: &str, input: &str, error: &EventError) {
        self.record_bad_input(origin, None, input, error);
    }

    /// Counts a record accepted and failed at stage `ingest`, keeping its text.
    fn record_bad_input(
        &self,
        origin: &str,
        event_id: Option<&str>,
        input: &str,
        error: &EventError,
    ) {
        self.inner.health.record_accepted();
        self.inner.health.record_failure(Failure {
            stage: Stage::Ingest,
            event_id: event_id.map(str::to_owned),
            origin: origin.to_string(),
            version: None,
            code: crate::health::FailureCode::BadInput,
            message: error.to_string(),
            attempts: 0,
            first_attempt: std::time::SystemTime::now(),
            event: None,
            input: Some(input.to_string()),
        });
    }

    /// The failure log in the data folder, for a host built with
    /// [`HostBuilder::data_dir`]: to list failures, replay them or record a run.
    pub fn failure_log(&self) -> Option<&Arc<FailureLog>> {
        self.inner.failure_log.as_ref()
    }

    /// The envelope input logs are mapped with.
    pub fn envelope(&self) -> &Envelope {
        &self.inner.envelope
    }

    /// The running plugins, in file-name order.
    pub fn plugins(&self) -> Vec<Arc<CompiledPlugin>> {
        self.inner.slot.current().1.plugins().to_vec()
    }

    /// Reloads the plugins folder: new and changed plugins are compiled and checked off
    /// the hot path, then the whole set is swapped at once. Events already in a pipeline
    /// finish on the set they started with. A plugin that fails to load keeps its previous
    /// version running and shows in health. Reloads run one at a time.
    pub async fn reload(&self) -> Result<ReloadOutcome> {
        let dir = self.inner.plugins_dir.clone().ok_or(Error::NoPluginsDir)?;
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        let (_, current) = self.inner.slot.current();
        let workers = self.inner.workers_count;
        let (next, outcome) =
            tokio::task::spawn_blocking(move || reload_dir_for(&current, &dir, workers))
                .await
                .map_err(|_| Error::Panicked("plugin reload"))??;
        let health = &self.inner.health;
        for failure in &outcome.failed {
            health.record_plugin_load_error(PluginLoadError {
                plugin: failure.plugin.clone(),
                hash: failure.hash.clone(),
                error: failure.error.clone(),
                kept_previous: failure.kept_previous,
                at: rfc3339(std::time::SystemTime::now()),
            });
        }
        if outcome.changed() {
            health.set_plugins(plugin_infos(&next));
            self.inner.slot.swap(next);
            tracing::info!(
                added = ?outcome.added,
                replaced = ?outcome.replaced,
                removed = ?outcome.removed,
                failed = outcome.failed.len(),
                "plugins reloaded"
            );
        }
        health.record_reload();
        // Nobody listening is fine.
        let _ = self.inner.reloads.send(outcome.clone());
        Ok(outcome)
    }

    /// Receives every entry the sink accepts from now on, in-process, whatever the sink.
    /// A subscriber that falls more than [`SUBSCRIBER_BACKLOG`] entries behind misses
    /// the oldest (its next `recv` says how many); when every event must be seen, make a
    /// [`ChannelSink`](crate::ChannelSink) the sink instead.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Delivered> {
        self.inner.delivered.subscribe()
    }

    /// Receives the outcome of every reload from now on, whoever triggered it (the
    /// folder watcher or [`Host::reload`]).
    pub fn subscribe_reloads(&self) -> tokio::sync::broadcast::Receiver<ReloadOutcome> {
        self.inner.reloads.subscribe()
    }

    pub(crate) fn set_watcher(&self, watcher: crate::watch::Watcher) {
        *self.inner.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(watcher);
    }

    /// Starts compiling the plugin `file`, just arrived complete in the plugins folder,
    /// for the reload that follows (see `plugin::ahead`).
    pub(crate) fn compile_ahead(&self, file: &std::path::Path) {
        let (_, current) = self.inner.slot.current();
        let running = current
            .plugins()
            .iter()
            .map(|p| p.hash().to_owned())
            .collect();
        let engine = current.engine();
        engine.tiering().ahead().start(engine, file, running);
    }

    pub(crate) fn plugins_dir(&self) -> Option<&std::path::Path> {
        self.inner.plugins_dir.as_deref()
    }

    /// A handle that does not keep the host alive.
    pub(crate) fn weak(&self) -> WeakHost {
        WeakHost(Arc::downgrade(&self.inner))
    }

    /// A snapshot of the stream's health.
    pub fn health(&self) -> HealthReport {
        let mut report = self.inner.health.report();
        report.journal = self.inner.journal.as_ref().map(|j| j.report());
        report
    }

    /// Stops at once instead of draining: intake closes, nothing more is sent, and every
    /// accepted event not yet delivered or filtered fails into the failure log with code
    /// [`FailureCode::Aborted`](crate::FailureCode::Aborted) — events still queued for the plugins at
    /// stage `ingest` (their record kept), routed ones at stage `delivery` (replayable;
    /// a call cut off mid-way may have reached the bus). Returns once the queued events'
    /// failures are written, without waiting for the workers: a [`Host::shutdown`],
    /// under way or called next, then completes as soon as the workers have finished
    /// the events in their hands, with every failure written.
    pub fn abort(&self) {
        self.inner.ingress.close();
        // Senders waiting for room give up (the host takes nothing more).
        if let Some(room) = &self.inner.room {
            room.close();
        }
        let now = std::time::SystemTime::now();
        while let Ok((event, ticket)) = self.inner.queued.try_recv() {
            let failure = Failure {
                stage: Stage::Ingest,
                event_id: Some(event.id.clone()),
                origin: "queue".into(),
                version: None,
                code: crate::delivery::ABORTED,
                message: "not processed: logbridge was stopped at once (a second signal, \
                          or the shutdown timeout ran out) while this event waited for the \
                          plugins; its record is kept here"
                    .into(),
                attempts: 0,
                first_attempt: now,
                event: None,
                input: Some(event.detail),
            };
            self.inner.health.record_failure_of(failure, ticket);
        }
        // Only now, with the queue empty: a worker waiting to hand over to delivery would
        // otherwise go on taking queued events through the plugins. Delivery may already
        // be gone (shut down): nothing left to cut short then.
        let _ = self.inner.abort.send(true);
        // What failed so far is in the failure log before this returns; what delivery
        // cuts short next is by the time `shutdown` returns.
        self.inner.health.flush_failures();
    }

    /// Stops intake, waits until every queued event is delivered or failed, and returns
    /// the final health. Later calls return the health at once.
    pub async fn shutdown(&self) -> Result<HealthReport> {
        self.inner
            .watcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.inner.ingress.close();
        if let Some(room) = &self.inner.room {
            room.close();
        }
        let workers =
            std::mem::take(&mut *self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()));
        let joined = tokio::task::spawn_blocking(move || {
            // Join every worker, even after one panicked: no short-circuiting.
            let panicked = workers
                .into_iter()
                .map(std::thread::JoinHandle::join)
                .filter(Result::is_err)
                .count();
            panicked == 0
        })
        .await;
        if !matches!(joined, Ok(true)) {
            return Err(Error::Panicked("pipeline worker"));
        }
        if let Some(delivery) = self.inner.delivery.lock().await.take() {
            delivery
                .await
                .map_err(|_| Error::Panicked("delivery task"))?;
        }
        // The last deliveries and the totals to the failure log, after every failure
        // handed to its writer: blocking waits, off the runtime.
        let health = Arc::clone(&self.inner.health);
        let journal = self.inner.journal.clone();
        let inputs_done = std::mem::take(
            &mut *self
                .inner
                .inputs_done
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        tokio::task::spawn_blocking(move || {
            health.note_deliveries();
            health.flush_totals();
            // Every settled row trimmed, inputs read to the end forgotten; what is left
            // is resumed at the next start.
            if let Some(journal) = journal {
                for key in &inputs_done {
                    journal.forget_input(key);
                }
                journal.close();
            }
        })
        .await
        .map_err(|_| Error::Panicked("health flush"))?;
        Ok(self.health())
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
