//! The embeddable host: a plugin set, pipeline workers, delivery and health wired
//! together behind a cheap, cloneable [`Host`] handle.
//!
//! Events flow through bounded queues: [`Host::send`] waits when the workers are behind
//! (backpressure), workers wait when delivery is behind. Each worker thread owns its
//! own plugin instances. [`Host::shutdown`] stops intake, lets every queued event finish,
//! and returns the final [`HealthReport`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::delivery::{Batch, BatchLimits, Batcher, EntryResult, Sink};
use crate::error::{Error, Result};
use crate::event::{Envelope, Event, EventError};
use crate::health::{Failure, Health, HealthReport, Stage};
use crate::pipeline::{Outcome, Pipeline, Routed};
use crate::plugin::{CompiledPlugin, PluginEngine, PluginLimits, PluginSet};

/// The bus EventBridge calls `default`, and ours when none is configured.
pub const DEFAULT_BUS: &str = "default";

enum PluginSource {
    None,
    Dir(PathBuf),
    Set(PluginSet),
}

/// Builds a [`Host`]. Start with [`Host::builder`].
pub struct HostBuilder {
    plugins: PluginSource,
    limits: PluginLimits,
    envelope: Envelope,
    default_bus: String,
    sink: Option<Arc<dyn Sink>>,
    workers: usize,
    queue_capacity: usize,
    batch: BatchLimits,
    max_in_flight: usize,
}

impl HostBuilder {
    /// Loads every `*.wasm` plugin in `dir`, in file-name order.
    pub fn plugins_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plugins = PluginSource::Dir(dir.into());
        self
    }

    /// Uses an already loaded plugin set (its engine's limits apply).
    pub fn plugin_set(mut self, set: PluginSet) -> Self {
        self.plugins = PluginSource::Set(set);
        self
    }

    /// Limits for plugin instances (ignored with [`HostBuilder::plugin_set`]).
    pub fn plugin_limits(mut self, limits: PluginLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The `source` and `detail-type` input logs are sent with.
    pub fn envelope(mut self, envelope: Envelope) -> Self {
        self.envelope = envelope;
        self
    }

    /// The bus for events no router routes; default `default`.
    pub fn default_bus(mut self, bus: impl Into<String>) -> Self {
        self.default_bus = bus.into();
        self
    }

    /// Where routed events are delivered.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Pipeline worker threads; default: one per core.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Events that may wait for a worker before [`Host::send`] waits too; default 1024.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How entries are grouped into `PutEvents` calls.
    pub fn batch_limits(mut self, limits: BatchLimits) -> Self {
        self.batch = limits;
        self
    }

    /// Most batches being sent at once; default 8.
    pub fn max_in_flight(mut self, batches: usize) -> Self {
        self.max_in_flight = batches.max(1);
        self
    }

    /// Loads the plugins and starts the workers and the delivery task. Must be called
    /// inside a multi-threaded Tokio runtime.
    pub fn build(self) -> Result<Host> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let sink = self.sink.ok_or(Error::NoSink)?;
        let set = match self.plugins {
            PluginSource::Set(set) => set,
            PluginSource::Dir(dir) => PluginSet::load_dir(&PluginEngine::new(self.limits)?, &dir)?,
            PluginSource::None => PluginSet::empty(&PluginEngine::new(self.limits)?),
        };
        for plugin in set.plugins() {
            tracing::info!(plugin = plugin.name(), role = %plugin.role(), "plugin loaded");
        }
        let set = Arc::new(set);
        let health = Arc::new(Health::new());

        let (ingress, work) = async_channel::bounded::<Event>(self.queue_capacity);
        let (routed_tx, routed_rx) = async_channel::bounded::<Routed>(self.queue_capacity);
        let mut workers = Vec::with_capacity(self.workers);
        for n in 0..self.workers {
            let pipeline = Pipeline::new(Arc::clone(&set), self.default_bus.clone());
            let (work, routed_tx, health) = (work.clone(), routed_tx.clone(), Arc::clone(&health));
            let handle = std::thread::Builder::new()
                .name(format!("logbridge-worker-{n}"))
                .spawn(move || run_worker(pipeline, &work, &routed_tx, &health))
                .map_err(Error::Worker)?;
            workers.push(handle);
        }
        drop(routed_tx);
        let delivery = runtime.spawn(run_delivery(
            routed_rx,
            sink,
            self.batch,
            self.max_in_flight,
            Arc::clone(&health),
        ));

        Ok(Host {
            inner: Arc::new(Inner {
                ingress,
                envelope: self.envelope,
                set,
                health,
                workers: Mutex::new(workers),
                delivery: tokio::sync::Mutex::new(Some(delivery)),
            }),
        })
    }
}

struct Inner {
    ingress: async_channel::Sender<Event>,
    envelope: Envelope,
    set: Arc<PluginSet>,
    health: Arc<Health>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    delivery: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A running logbridge host. Cheap to clone; every clone drives the same host.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.inner.set.plugins().len())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A builder with the defaults: no plugins, the Auth0 envelope, bus `default`, one
    /// worker per core, EventBridge's batch limits.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            plugins: PluginSource::None,
            limits: PluginLimits::default(),
            envelope: Envelope::default(),
            default_bus: DEFAULT_BUS.to_string(),
            sink: None,
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            queue_capacity: 1024,
            batch: BatchLimits::default(),
            max_in_flight: 8,
        }
    }

    /// Queues `event` for the pipeline, waiting while the queue is full.
    pub async fn send(&self, event: Event) -> Result<()> {
        self.inner
            .ingress
            .send(event)
            .await
            .map_err(|_| Error::ShutDown)?;
        self.inner.health.record_accepted();
        Ok(())
    }

    /// Maps one Auth0 log (bare, or a `{"log_id", "data"}` record) with the host's
    /// envelope and queues it. A record that cannot be mapped is counted as an ingest
    /// failure (with `origin` naming where it came from) and its error returned.
    pub async fn send_auth0(&self, json: &str, origin: &str) -> Result<()> {
        match self.inner.envelope.auth0_event(json) {
            Ok(event) => self.send(event).await,
            Err(error) => {
                self.record_ingest_failure(origin, &error);
                Err(Error::Event(error))
            }
        }
    }

    /// Counts an input record that could not become an event (stage `ingest`).
    pub fn record_ingest_failure(&self, origin: &str, error: &EventError) {
        self.inner.health.record_accepted();
        self.inner.health.record_failure(Failure {
            stage: Stage::Ingest,
            event_id: None,
            origin: origin.to_string(),
            code: "bad-input".into(),
            message: error.to_string(),
        });
    }

    /// The envelope input logs are mapped with.
    pub fn envelope(&self) -> &Envelope {
        &self.inner.envelope
    }

    /// The loaded plugins, in file-name order.
    pub fn plugins(&self) -> &[Arc<CompiledPlugin>] {
        self.inner.set.plugins()
    }

    /// A snapshot of the stream's health.
    pub fn health(&self) -> HealthReport {
        self.inner.health.report()
    }

    /// Stops intake, waits until every queued event is delivered or failed, and returns
    /// the final health. Later calls return the health at once.
    pub async fn shutdown(&self) -> Result<HealthReport> {
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
        Ok(self.health())
    }
}

/// A worker: takes events, runs them through its pipeline, passes routed entries on.
fn run_worker(
    mut pipeline: Pipeline,
    work: &async_channel::Receiver<Event>,
    routed: &async_channel::Sender<Routed>,
    health: &Health,
) {
    while let Ok(event) = work.recv_blocking() {
        match pipeline.run(event) {
            Outcome::Filtered { plugin } => health.record_filtered(&plugin),
            Outcome::Failed(failure) => health.record_failure(Failure {
                stage: Stage::Plugin,
                event_id: Some(failure.event.id),
                origin: failure.plugin,
                code: if failure.trapped {
                    "trap"
                } else {
                    "plugin-error"
                }
                .into(),
                message: failure.reason,
            }),
            Outcome::Routed(entries) => {
                health.record_routed(entries.len());
                for entry in entries {
                    if let Err(lost) = routed.send_blocking(entry) {
                        let entry = lost.into_inner();
                        health.record_failure(Failure {
                            stage: Stage::Delivery,
                            event_id: Some(entry.event.id),
                            origin: entry.bus,
                            code: "DeliveryStopped".into(),
                            message: "the delivery task stopped before this entry was sent".into(),
                        });
                    }
                }
            }
        }
    }
}

/// Delivery: batches routed entries per bus and sends up to `max_in_flight` batches at
/// once. Returns when the routed queue is closed and every batch has been answered.
async fn run_delivery(
    routed: async_channel::Receiver<Routed>,
    sink: Arc<dyn Sink>,
    limits: BatchLimits,
    max_in_flight: usize,
    health: Arc<Health>,
) {
    let mut batcher = Batcher::new(limits);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let send = |in_flight: &mut JoinSet<()>, batch: Batch| {
        let (sink, health) = (Arc::clone(&sink), Arc::clone(&health));
        in_flight.spawn(async move {
            let results = sink.put(&batch.bus, &batch.entries).await;
            account(&health, batch, results);
        });
    };
    loop {
        while in_flight.len() >= max_in_flight {
            in_flight.join_next().await;
        }
        let due = batcher.next_due();
        tokio::select! {
            next = routed.recv() => match next {
                Ok(entry) => match batcher.push(&entry.bus, entry.event, Instant::now()) {
                    Ok(ready) => ready.into_iter().for_each(|b| send(&mut in_flight, b)),
                    Err(oversize) => health.record_failure(Failure {
                        stage: Stage::Delivery,
                        event_id: Some(oversize.event.id),
                        origin: oversize.bus,
                        code: "EntryTooLarge".into(),
                        message: format!(
                            "the entry is {} bytes as EventBridge counts them; a PutEvents \
                             request may carry at most {} bytes",
                            oversize.bytes, oversize.limit
                        ),
                    }),
                },
                Err(_) => break,
            },
            () = sleep_until(due), if due.is_some() => {
                for batch in batcher.take_due(Instant::now()) {
                    send(&mut in_flight, batch);
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    for batch in batcher.drain() {
        send(&mut in_flight, batch);
    }
    while in_flight.join_next().await.is_some() {}
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => tokio::time::sleep(Duration::MAX).await,
    }
}

/// Records what became of each entry of a sent batch.
fn account(health: &Health, batch: Batch, results: Vec<EntryResult>) {
    let mut delivered = 0;
    let mut results = results.into_iter();
    for event in batch.entries {
        match results.next() {
            Some(EntryResult::Delivered) => delivered += 1,
            Some(EntryResult::Failed { code, message }) => health.record_failure(Failure {
                stage: Stage::Delivery,
                event_id: Some(event.id),
                origin: batch.bus.clone(),
                code,
                message,
            }),
            None => health.record_failure(Failure {
                stage: Stage::Delivery,
                event_id: Some(event.id),
                origin: batch.bus.clone(),
                code: "NoResult".into(),
                message: "the sink answered fewer entries than it was given".into(),
            }),
        }
    }
    health.record_delivered(&batch.bus, delivered);
}
