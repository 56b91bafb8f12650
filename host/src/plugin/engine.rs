//! The wasmtime engine and linker that every plugin shares, and the per-instance store.
//!
//! One [`PluginEngine`] is built per host: Cranelift, the pooling instance allocator and
//! epoch interruption. A background ticker advances the epoch every
//! [`EPOCH_TICK`]; it holds only a weak reference to the engine and stops when the engine
//! is dropped. Each plugin instance gets its own [`Store`] with a memory cap and no
//! filesystem, network, environment or arguments.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::PluginError;
use super::bindings::log;
use super::cache::ModuleCache;

/// How often the epoch advances; plugin-call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Resource limits for plugin instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Longest a single plugin call may run before it is interrupted.
    pub call_timeout: Duration,
    /// Most linear memory one plugin instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Most plugin instances alive at once across the host (sizes the instance pool).
    pub max_instances: u32,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            call_timeout: Duration::from_millis(100),
            max_memory_bytes: 64 << 20,
            max_instances: 256,
        }
    }
}

/// What a plugin instance's store holds: its WASI context (with nothing granted), its
/// resource table, its name for log lines, and its limits.
pub(crate) struct PluginState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// The engine and linker shared by every plugin of a host. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    linker: Arc<Linker<PluginState>>,
    limits: PluginLimits,
    cache: Option<Arc<ModuleCache>>,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginEngine {
    /// Builds the engine (pooling allocator, epoch interruption) and the linker that
    /// offers plugins WASI without any grants plus the `log` interface.
    pub fn new(limits: PluginLimits) -> Result<Self, PluginError> {
        let instances = limits.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(2))
            .max_memory_size(limits.max_memory_bytes);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(PluginError::engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(PluginError::engine)?;
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(PluginError::engine)?;

        spawn_epoch_ticker(&engine)?;
        Ok(PluginEngine {
            engine,
            linker: Arc::new(linker),
            limits,
            cache: None,
        })
    }

    /// Keeps compiled plugins in `dir`, by content hash, so unchanged plugins load
    /// without compiling after a restart.
    pub fn with_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache = Some(Arc::new(ModuleCache::new(dir)));
        self
    }

    /// The compiled-plugin cache, if there is one.
    pub fn cache(&self) -> Option<&ModuleCache> {
        self.cache.as_deref()
    }

    /// The limits instances of this engine run under.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<PluginState> {
        &self.linker
    }

    /// A fresh store for one instance of `plugin`: no preopened directories, no
    /// environment, no arguments, no network; memory capped.
    pub(crate) fn store(&self, plugin: Arc<str>) -> Store<PluginState> {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory_bytes)
            .build();
        let mut store = Store::new(
            &self.engine,
            PluginState {
                plugin,
                wasi,
                table: ResourceTable::new(),
                limits,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        store
    }

    /// Epoch ticks that make up one call's deadline.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.call_timeout.as_micros() / EPOCH_TICK.as_micros();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }

    /// Epoch ticks allowed for instantiating a plugin and running its `init`: ten call
    /// deadlines, at least a second, since a reload under load may wait for a core.
    pub(crate) fn setup_ticks(&self) -> u64 {
        let floor = u64::try_from(1_000_000 / EPOCH_TICK.as_micros()).unwrap_or(1_000);
        self.deadline_ticks().saturating_mul(10).max(floor)
    }
}

fn spawn_epoch_ticker(engine: &Engine) -> Result<(), PluginError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("logbridge-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| PluginError::Engine(format!("could not start the epoch ticker thread: {e}")))
}
