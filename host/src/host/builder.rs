//! Building a [`Host`]: [`HostBuilder`]'s settings, and `build`, which loads the plugins
//! into an engine whose instance pool they fit, then starts the workers, delivery and
//! the folder watcher.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{DEFAULT_BUS, Host, Inner, Queued, SUBSCRIBER_BACKLOG};
use crate::delivery::{BatchLimits, DeliveryConfig, RetryPolicy, Routed, Sink};
use crate::error::{Error, Result};
use crate::event::Envelope;
use crate::health::{FailureLog, FailureStore, Health};
use crate::journal::{Durability, Journal, Recovered, Ticket};
use crate::pipeline::OutputRules;
use crate::plugin::{
    PluginEngine, PluginLimits, PluginSet, instances_for, limits_holding, wasm_files,
};
use crate::worker::{PluginSlot, Queue, plugin_infos, run_worker};

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
    buses: Option<BTreeSet<String>>,
    sink: Option<Arc<dyn Sink>>,
    workers: usize,
    queue_capacity: usize,
    delivery: DeliveryConfig,
    failure_store: Option<Arc<dyn FailureStore>>,
    data_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    watch: bool,
    durability: Durability,
    /// The setters called, so two that exclude each other are refused by `build`
    /// instead of the later silently undoing the earlier.
    given: Vec<&'static str>,
}

/// Setters that exclude each other: the later would silently undo or ignore the earlier.
const EXCLUSIVE: &[(&str, &str, &str)] = &[
    (
        "plugins_dir",
        "plugin_set",
        "a plugins folder and a loaded plugin set exclude each other; give one",
    ),
    (
        "plugin_set",
        "plugin_limits",
        "a loaded plugin set runs under its own engine's limits; give the limits to `PluginEngine::new` instead of `plugin_limits`",
    ),
    (
        "plugin_set",
        "cache_dir",
        "a loaded plugin set is already compiled; `cache_dir` applies to a plugins folder only",
    ),
    (
        "plugin_set",
        "watch_plugins",
        "a loaded plugin set has no folder to watch; use `plugins_dir` to watch one",
    ),
    (
        "data_dir",
        "failure_store",
        "a data folder and a failure store exclude each other; give one",
    ),
    ("sink", "sink_arc", "two sinks were given; give one"),
    (
        "delivery_config",
        "batch_limits",
        "`delivery_config` sets the batch limits too; set them in the `DeliveryConfig` or drop `delivery_config`",
    ),
    (
        "delivery_config",
        "retry_policy",
        "`delivery_config` sets the retry policy too; set it in the `DeliveryConfig` or drop `delivery_config`",
    ),
    (
        "delivery_config",
        "shutdown_timeout",
        "`delivery_config` sets the shutdown timeout too; set it in the `DeliveryConfig` or drop `delivery_config`",
    ),
    (
        "delivery_config",
        "max_in_flight",
        "`delivery_config` sets `max_in_flight` too; set it in the `DeliveryConfig` or drop `delivery_config`",
    ),
];

impl HostBuilder {
    /// The defaults [`Host::builder`] starts from.
    pub(super) fn new() -> Self {
        HostBuilder {
            plugins: PluginSource::None,
            limits: PluginLimits::default(),
            envelope: Envelope::default(),
            default_bus: DEFAULT_BUS.to_string(),
            buses: None,
            sink: None,
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            queue_capacity: 1024,
            delivery: DeliveryConfig::default(),
            failure_store: None,
            data_dir: None,
            cache_dir: None,
            watch: false,
            durability: Durability::Memory,
            given: Vec::new(),
        }
    }

    fn given(mut self, setter: &'static str) -> Self {
        self.given.push(setter);
        self
    }

    /// Loads every `*.wasm` plugin in `dir`, in file-name order.
    pub fn plugins_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plugins = PluginSource::Dir(dir.into());
        self.given("plugins_dir")
    }

    /// Keeps compiled plugins in `dir` by content hash, so unchanged plugins load
    /// without compiling next time (refused with [`HostBuilder::plugin_set`]).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self.given("cache_dir")
    }

    /// Watches the plugins folder and reloads when a plugin or sidecar is added,
    /// changed or removed (a burst of writes makes one reload).
    pub fn watch_plugins(mut self, watch: bool) -> Self {
        self.watch = watch;
        self.given("watch_plugins")
    }

    /// Uses an already loaded plugin set (its engine's limits apply).
    pub fn plugin_set(mut self, set: PluginSet) -> Self {
        self.plugins = PluginSource::Set(set);
        self.given("plugin_set")
    }

    /// Limits for plugin instances (refused with [`HostBuilder::plugin_set`]).
    pub fn plugin_limits(mut self, limits: PluginLimits) -> Self {
        self.limits = limits;
        self.given("plugin_limits")
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

    /// The buses routers may name (the default bus is always one). A route to any other
    /// bus fails the event at stage `plugin` with code `unknown-bus`, naming the router.
    /// Without this list every name is passed to the sink.
    pub fn buses<I: IntoIterator<Item = S>, S: Into<String>>(mut self, buses: I) -> Self {
        self.buses = Some(buses.into_iter().map(Into::into).collect());
        self
    }

    /// Keeps the durable failure log (`failures.sqlite3`) in `dir`, created if needed.
    /// Without a data directory or a [`HostBuilder::failure_store`], failures are
    /// counted and logged but not stored.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self.given("data_dir")
    }

    /// Writes failures to `store` instead of a data directory's failure log.
    pub fn failure_store(mut self, store: Arc<dyn FailureStore>) -> Self {
        self.failure_store = Some(store);
        self.given("failure_store")
    }

    /// Where routed events are delivered.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sink = Some(Arc::new(sink));
        self.given("sink")
    }

    /// Where routed events are delivered, when the sink is already shared.
    pub fn sink_arc(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self.given("sink_arc")
    }

    /// Where accepted events wait until they are settled: [`Durability::Memory`] (the
    /// default for an embedded host) or [`Durability::Disk`], a write-ahead log in the
    /// data folder (needs [`data_dir`](Self::data_dir)): `send*` return once the event is
    /// on disk, and what a crash left unsettled is resumed by the next host built on the
    /// same folder, before anything new.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self.given("durability")
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

    /// All of delivery's settings at once: batching, retries, concurrency, shutdown.
    pub fn delivery_config(mut self, config: DeliveryConfig) -> Self {
        self.delivery = config;
        self.given("delivery_config")
    }

    /// How entries are grouped into `PutEvents` calls.
    pub fn batch_limits(mut self, limits: BatchLimits) -> Self {
        self.delivery.batch = limits;
        self.given("batch_limits")
    }

    /// How failed entries are retried; default: up to 3 retries, 100 ms base, 5 s cap.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.delivery.retry = policy;
        self.given("retry_policy")
    }

    /// Once [`Host::shutdown`] has drained the pipeline, how long failed entries may
    /// still be retried before they fail for good; default 30 s.
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.delivery.shutdown_timeout = timeout;
        self.given("shutdown_timeout")
    }

    /// Most batches being sent at once; default 8.
    pub fn max_in_flight(mut self, batches: usize) -> Self {
        self.delivery.max_in_flight = batches.max(1);
        self.given("max_in_flight")
    }

    /// Loads the plugins and starts the workers and the delivery task. Must be called
    /// inside a multi-threaded Tokio runtime.
    pub fn build(self) -> Result<Host> {
        for (a, b, why) in EXCLUSIVE {
            if self.given.contains(a) && self.given.contains(b) {
                return Err(Error::Conflict(why));
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let sink = self.sink.ok_or(Error::NoSink)?;
        // The instance pool is sized from the plugins there are (see plugin::pool).
        let plugins = match &self.plugins {
            PluginSource::Dir(dir) => wasm_files(dir)?.len(),
            PluginSource::Set(_) | PluginSource::None => 0,
        };
        let limits = limits_holding(self.limits, instances_for(self.workers, plugins));
        let engine = || -> Result<PluginEngine> {
            let engine = PluginEngine::new(limits)?;
            Ok(match &self.cache_dir {
                Some(dir) => engine.with_cache(dir),
                None => engine,
            })
        };
        let mut optimized_builds = None;
        let (set, plugins_dir) = match self.plugins {
            PluginSource::Set(set) => (set, None),
            PluginSource::Dir(dir) => {
                // A host with a folder can reload it, so it can swap in the optimized
                // build of a large plugin first compiled by the baseline compiler.
                let engine = engine()?;
                optimized_builds = Some(engine.tiering().listen());
                (PluginSet::load_dir(&engine, &dir)?, Some(dir))
            }
            PluginSource::None => (PluginSet::empty(&engine()?), None),
        };
        for plugin in set.plugins() {
            tracing::info!(plugin = plugin.name(), role = %plugin.role(), hash = &plugin.hash()[..12], "plugin loaded");
        }
        let slot = Arc::new(PluginSlot::new(set));
        let failure_log = match &self.data_dir {
            Some(dir) => Some(Arc::new(FailureLog::open(dir)?)),
            None => None,
        };
        let store = match (self.failure_store, &failure_log) {
            (Some(store), _) => Some(store),
            (None, Some(log)) => Some(Arc::clone(log) as Arc<dyn FailureStore>),
            (None, None) => None,
        };
        let health = Arc::new(store.map_or_else(Health::new, Health::with_store));
        health.keep_totals();
        health.set_plugins(plugin_infos(&slot.current().1));

        let (journal, recovered) = match (self.durability, &self.data_dir) {
            (Durability::Memory, _) => (None, Recovered::default()),
            (Durability::Disk, Some(dir)) => {
                let (journal, recovered) = Journal::open(dir)?;
                (Some(Arc::new(journal)), recovered)
            }
            (Durability::Disk, None) => {
                return Err(Error::Conflict(
                    "durability `disk` keeps its write-ahead log in the data folder; give one \
                     with `data_dir`",
                ));
            }
        };
        let (ingress, work) = async_channel::bounded::<Queued>(self.queue_capacity);
        // Workers hand routed entries over in chunks of up to ROUTED_CHUNK.
        let (routed_tx, routed_rx) = async_channel::bounded::<Vec<(Routed, Ticket)>>(
            self.queue_capacity.div_ceil(16).max(4),
        );
        let rules = OutputRules {
            buses: self.buses.map(|mut buses| {
                buses.insert(self.default_bus.clone());
                Arc::new(buses)
            }),
            max_entry_bytes: self.delivery.batch.max_bytes,
        };
        let mut workers = Vec::with_capacity(self.workers);
        let room = journal
            .as_ref()
            .map(|_| Arc::new(tokio::sync::Semaphore::new(self.queue_capacity)));
        for n in 0..self.workers {
            let (work, routed_tx, health) = (work.clone(), routed_tx.clone(), Arc::clone(&health));
            let room = room.clone();
            let (slot, default_bus) = (Arc::clone(&slot), self.default_bus.clone());
            let rules = rules.clone();
            let handle = std::thread::Builder::new()
                .name(format!("logbridge-worker-{n}"))
                .spawn(move || {
                    let queue = Queue {
                        work: &work,
                        room: room.as_deref(),
                    };
                    run_worker(&slot, &default_bus, &rules, queue, &routed_tx, &health);
                })
                .map_err(Error::Worker)?;
            workers.push(handle);
        }
        drop(routed_tx);
        let delivered = tokio::sync::broadcast::channel(SUBSCRIBER_BACKLOG).0;
        let (abort, aborted) = tokio::sync::watch::channel(false);
        let delivery = runtime.spawn(crate::delivery::service::run(
            routed_rx,
            journal.clone(),
            sink,
            self.delivery,
            Arc::clone(&health),
            delivered.clone(),
            aborted,
        ));

        let host = Host {
            inner: Arc::new(Inner {
                ingress,
                queued: work,
                journal,
                room,
                resumed: AtomicBool::new(recovered.events.is_empty()),
                resumed_tx: tokio::sync::watch::channel(recovered.events.is_empty()).0,
                seen_before: Mutex::new(recovered.seen),
                inputs_before: recovered.inputs,
                inputs_done: Mutex::default(),
                abort,
                envelope: self.envelope,
                slot,
                plugins_dir,
                failure_log,
                reload_lock: tokio::sync::Mutex::new(()),
                reloads: tokio::sync::broadcast::channel(16).0,
                delivered,
                watcher: Mutex::new(None),
                health,
                workers: Mutex::new(workers),
                workers_count: self.workers,
                delivery: tokio::sync::Mutex::new(Some(delivery)),
            }),
        };
        resume(&host, recovered.events, recovered.in_flight, &runtime);
        if let Some(ready) = optimized_builds {
            swap_in_optimized_builds(&host, ready, &runtime);
        }
        if self.watch {
            crate::watch::start(&host, runtime)?;
        }
        Ok(host)
    }
}

/// Queues what an earlier process accepted and did not settle, before anything new: new
/// input waits until it is all queued.
fn resume(host: &Host, events: Vec<Queued>, in_flight: u64, runtime: &tokio::runtime::Handle) {
    if events.is_empty() {
        return;
    }
    tracing::warn!(
        events = events.len(),
        possible_duplicates = in_flight,
        "resuming events an earlier process accepted and did not finish (it stopped \
         without a shutdown); those a call had already carried may reach their bus twice"
    );
    let inner = Arc::clone(&host.inner);
    runtime.spawn(async move {
        for item in events {
            if let Some(room) = &inner.room
                && let Ok(permit) = room.acquire().await
            {
                permit.forget();
            }
            // Closed: the host is shutting down; the rest stay in the log for next time.
            if inner.ingress.send(item).await.is_err() {
                break;
            }
            inner.health.record_accepted();
        }
        inner.resumed.store(true, Ordering::Release);
        inner.resumed_tx.send_replace(true);
    });
}

/// Reloads `host`'s plugins folder each time optimized builds of plugins running on
/// their baseline build are ready (several ready at once make one reload). Ends when the
/// host is gone.
fn swap_in_optimized_builds(
    host: &Host,
    mut ready: tokio::sync::mpsc::UnboundedReceiver<String>,
    runtime: &tokio::runtime::Handle,
) {
    let weak = host.weak();
    runtime.spawn(async move {
        while ready.recv().await.is_some() {
            while ready.try_recv().is_ok() {}
            let Some(host) = weak.upgrade() else { break };
            match host.reload().await {
                Ok(outcome) if !outcome.optimized.is_empty() => {
                    tracing::info!(plugins = ?outcome.optimized, "optimized builds swapped in");
                }
                Ok(_) => {}
                Err(e) => tracing::error!("swapping in optimized plugin builds failed: {e}"),
            }
        }
    });
}
