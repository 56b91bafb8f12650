//! The embeddable host: a plugin set, pipeline workers, delivery and health wired
//! together behind a cheap, cloneable [`Host`] handle.
//!
//! Events flow through bounded queues: [`Host::send`] waits when the workers are behind
//! (backpressure), workers wait when delivery is behind. Each worker thread owns its
//! own plugin instances. [`Host::shutdown`] stops intake, lets every queued event finish,
//! and returns the final [`HealthReport`]. [`HostBuilder`] (in `builder.rs`) makes one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::delivery::Delivered;
use crate::error::{Error, Result};
use crate::event::{Envelope, Event, EventError};
use crate::health::{Failure, FailureLog, Health, HealthReport, PluginLoadError, Stage, rfc3339};
use crate::plugin::{CompiledPlugin, ReloadOutcome, reload_dir_for};
use crate::worker::{PluginSlot, plugin_infos};

mod builder;

pub use builder::HostBuilder;

/// The bus EventBridge calls `default`, and ours when none is configured.
pub const DEFAULT_BUS: &str = "default";

/// Delivered entries a [`Host::subscribe`] receiver may fall behind before it misses some.
pub const SUBSCRIBER_BACKLOG: usize = 4096;

struct Inner {
    ingress: async_channel::Sender<Event>,
    /// The workers' end of the queue, for [`Host::abort`] to empty.
    queued: async_channel::Receiver<Event>,
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
    pub async fn send(&self, event: Event) -> Result<()> {
        self.admit(&event)?;
        self.enqueue(event).await
    }

    /// Queues an event already checked (mapped by the envelope, which checks).
    async fn enqueue(&self, event: Event) -> Result<()> {
        self.inner
            .ingress
            .send(event)
            .await
            .map_err(|_| Error::ShutDown)?;
        self.inner.health.record_accepted();
        Ok(())
    }

    /// Queues `event` if the queue has room within `wait`; [`Error::Busy`] if it stays
    /// full that long (nothing was queued).
    pub async fn send_within(&self, event: Event, wait: std::time::Duration) -> Result<()> {
        self.admit(&event)?;
        self.enqueue_within(event, wait).await
    }

    /// [`send_within`](Self::send_within) for an event already checked (mapped by the
    /// envelope, which checks).
    pub(crate) async fn enqueue_within(
        &self,
        event: Event,
        wait: std::time::Duration,
    ) -> Result<()> {
        match tokio::time::timeout(wait, self.inner.ingress.send(event)).await {
            Ok(Ok(())) => {
                self.inner.health.record_accepted();
                Ok(())
            }
            Ok(Err(_)) => Err(Error::ShutDown),
            Err(_) => Err(Error::Busy),
        }
    }

    /// Queues every event in order, waiting while the queue is full. On an error the
    /// events before it were queued and the rest were not.
    pub async fn send_batch(&self, events: impl IntoIterator<Item = Event>) -> Result<()> {
        for event in events {
            self.send(event).await?;
        }
        Ok(())
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

    pub(crate) fn plugins_dir(&self) -> Option<&std::path::Path> {
        self.inner.plugins_dir.as_deref()
    }

    /// A handle that does not keep the host alive.
    pub(crate) fn weak(&self) -> WeakHost {
        WeakHost(Arc::downgrade(&self.inner))
    }

    /// A snapshot of the stream's health.
    pub fn health(&self) -> HealthReport {
        self.inner.health.report()
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
        let now = std::time::SystemTime::now();
        while let Ok(event) = self.inner.queued.try_recv() {
            self.inner.health.record_failure(Failure {
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
            });
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
        tokio::task::spawn_blocking(move || {
            health.note_deliveries();
            health.flush_totals();
        })
        .await
        .map_err(|_| Error::Panicked("health flush"))?;
        Ok(self.health())
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
