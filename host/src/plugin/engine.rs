//! The wasmtime engine and linker that every plugin shares, and the per-instance store.
//!
//! One [`PluginEngine`] is built per host: Cranelift, the pooling instance allocator and
//! epoch interruption. A background ticker advances the epoch every
//! [`EPOCH_TICK`]; it holds only a weak reference to the engine and stops when the engine
//! is dropped. A call's deadline counts the CPU time it uses (see [`super::budget`]).
//! Each plugin instance gets its own [`Store`] with its plugin's memory cap,
//! no network, environment or arguments, only the directories its sidecar grants (read
//! only), and its stdout and stderr going to the host's log.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{
    CacheStore, Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    ProfilingStrategy, ResourceLimiter, Store, Strategy, UpdateDeadline,
};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::PluginError;
use super::bindings::log;
use super::budget::{Budget, CallClock, thread_cpu_time};
use super::cache::ModuleCache;
use super::function_cache::FunctionCache;
use super::loader::CompiledPlugin;
use super::stdio::{PluginOutput, StderrTail, Stdio};
use super::tiering::{Compiler, Tiering};

/// How often the epoch advances; plugin-call deadlines are counted in these ticks.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The host-wide defaults for plugin instances; a plugin's sidecar may override each of
/// the per-plugin ones (see [`PluginSettings`](super::PluginSettings)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// The CPU time a single plugin call may use before it is interrupted. Time the
    /// thread spends off its core (a busy machine) does not count; a call that has not
    /// finished after 20× this on the wall
    /// clock (at least a second) is interrupted all the same.
    pub call_timeout: Duration,
    /// Most linear memory one plugin instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// The most any sidecar may grant one instance, in bytes.
    pub memory_ceiling_bytes: usize,
    /// An instance is replaced by a fresh one after this many calls (`None`: never).
    pub recycle_after_calls: Option<u64>,
    /// An instance whose memory grew past this many bytes is replaced after the call
    /// (`None`: never). Linear memory never shrinks, so this is how it is given back.
    pub recycle_memory_bytes: Option<usize>,
    /// Health reports a plugin `degraded` when more than this share of its recent calls
    /// failed, in thousandths.
    pub degraded_permille: u16,
    /// Most plugin instances alive at once (sizes the instance pool). A host sizes its
    /// pool from its workers and the plugins it loads, and never below this.
    pub max_instances: u32,
    /// Memory for compiled functions kept across reloads, in bytes: a new version of a
    /// plugin recompiles only the functions that changed. 0 turns it off.
    pub function_cache_bytes: usize,
    /// Whether calls are interrupted at their deadline (epoch interruption). Turn it off
    /// only to measure what it costs: without it, a plugin that never returns holds its
    /// worker forever.
    pub deadlines: bool,
    /// A host that reloads its plugins folder compiles a plugin at least this large that
    /// is not in the compiled-plugin cache with the baseline compiler first, so it serves
    /// events within a moment, and swaps in the optimized build when that is ready
    /// (`None`: always the optimizing compiler). See `plugin::tiering`.
    pub fast_first_compile_bytes: Option<usize>,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            call_timeout: Duration::from_millis(50),
            max_memory_bytes: 64 << 20,
            memory_ceiling_bytes: 1 << 30,
            recycle_after_calls: Some(1_000_000),
            recycle_memory_bytes: Some(48 << 20),
            degraded_permille: 500,
            max_instances: 256,
            function_cache_bytes: 128 << 20,
            deadlines: true,
            fast_first_compile_bytes: Some(1 << 20),
        }
    }
}

/// A trap raised by the host because a plugin asked for more memory than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "memory cap of {cap_mib} MiB reached (the plugin asked for {wanted_mib} MiB); if it needs \
     more, raise `limits.max_memory_mib` in its sidecar"
)]
pub(super) struct MemoryCapReached {
    /// The cap, in MiB.
    pub cap_mib: usize,
    /// What the plugin asked for, in MiB.
    pub wanted_mib: usize,
}

/// Elements one instance's tables may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Set to `1`, the engine writes `/tmp/perf-PID.map` so `perf report` names the
/// functions of plugins rather than showing bare JIT addresses.
pub(crate) const PERFMAP_VAR: &str = "LOGBRIDGE_PERFMAP";

/// Enforces one plugin's memory cap and remembers how far its memory grew.
pub(crate) struct PluginLimiter {
    cap: usize,
    /// The largest linear memory the instance has grown to, in bytes.
    pub(crate) peak: usize,
}

impl ResourceLimiter for PluginLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Err(MemoryCapReached {
                cap_mib: self.cap >> 20,
                wanted_mib: desired.div_ceil(1 << 20),
            }
            .into());
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// What a plugin instance's store holds: its WASI context (only what its sidecar
/// grants), its resource table, its name for log lines, its limiter and the last lines
/// it wrote to stderr.
pub(crate) struct PluginState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: PluginLimiter,
    pub(crate) stderr: StderrTail,
    /// The deadline of the call in progress.
    pub(crate) clock: CallClock,
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
    functions: Option<Arc<FunctionCache>>,
    compiler: Compiler,
    tiering: Arc<Tiering>,
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
        Self::build(limits, Compiler::Cranelift)
    }

    /// An engine like [`PluginEngine::new`]'s that compiles with Winch, the baseline
    /// compiler, for the first build of large plugins.
    pub(crate) fn baseline_for(limits: PluginLimits) -> Result<Self, PluginError> {
        Self::build(
            PluginLimits {
                function_cache_bytes: 0,
                ..limits
            },
            Compiler::Winch,
        )
    }

    fn build(limits: PluginLimits, compiler: Compiler) -> Result<Self, PluginError> {
        let instances = limits.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(2))
            .max_memory_size(limits.memory_ceiling_bytes.max(limits.max_memory_bytes));

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(limits.deadlines)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if compiler == Compiler::Winch {
            config.strategy(Strategy::Winch);
        }
        if std::env::var_os(PERFMAP_VAR).is_some_and(|v| v == "1") {
            // `perf` then names plugin functions: /tmp/perf-PID.map.
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let functions = (limits.function_cache_bytes > 0)
            .then(|| Arc::new(FunctionCache::new(limits.function_cache_bytes)));
        if let Some(functions) = &functions {
            config
                .enable_incremental_compilation(Arc::clone(functions) as Arc<dyn CacheStore>)
                .map_err(PluginError::engine)?;
        }
        let engine = Engine::new(&config).map_err(PluginError::engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(PluginError::engine)?;
        refuse_blocking_waits(&mut linker).map_err(PluginError::engine)?;
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(PluginError::engine)?;

        if limits.deadlines {
            spawn_epoch_ticker(&engine)?;
        }
        Ok(PluginEngine {
            engine,
            linker: Arc::new(linker),
            limits,
            cache: None,
            functions,
            compiler,
            tiering: Arc::default(),
        })
    }

    /// Which compiler this engine compiles with.
    pub(crate) fn compiler(&self) -> Compiler {
        self.compiler
    }

    /// What the engines of one host share about tiering.
    pub(crate) fn tiering(&self) -> &Arc<Tiering> {
        &self.tiering
    }

    /// This engine, sharing `other`'s tiering (a larger engine made for a reload).
    pub(crate) fn with_tiering_of(mut self, other: &PluginEngine) -> Self {
        self.tiering = Arc::clone(&other.tiering);
        self
    }

    /// Whether a component of `bytes` bytes is to be compiled by the baseline compiler
    /// first: tiering is on and the component is large enough.
    pub(crate) fn wants_fast_first_compile(&self, bytes: usize) -> bool {
        self.compiler == Compiler::Cranelift
            && self
                .limits
                .fast_first_compile_bytes
                .is_some_and(|min| bytes >= min)
            && self.tiering.on()
    }

    /// Functions served from the in-memory function cache, and functions compiled, since
    /// the engine was built (both 0 with the cache off).
    pub fn function_cache_counts(&self) -> (u64, u64) {
        self.functions.as_ref().map_or((0, 0), |f| f.counts())
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

    /// A fresh store for one instance of `plugin`: no environment, no arguments, no
    /// network, only the directories its sidecar grants (read only); its memory capped,
    /// its stdout and stderr to the host's log.
    pub(crate) fn store(&self, plugin: &CompiledPlugin) -> Result<Store<PluginState>, PluginError> {
        let name = plugin.name_arc();
        let stderr = StderrTail::default();
        let output = |stream| {
            PluginOutput::new(
                Arc::clone(&name),
                stream,
                Arc::clone(plugin.line_budget()),
                stderr.clone(),
            )
        };
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(output(Stdio::Stdout))
            .stderr(output(Stdio::Stderr));
        for grant in &plugin.settings().read_only {
            wasi.preopened_dir(&grant.host, &grant.guest, FsPerms::ReadOnly)
                .map_err(|e| PluginError::Instantiate {
                    plugin: name.to_string(),
                    reason: format!(
                        "cannot open the granted directory {} for `{}`: {e:#}",
                        grant.host.display(),
                        grant.guest
                    ),
                })?;
        }
        let mut store = Store::new(
            &self.engine,
            PluginState {
                plugin: name,
                wasi: wasi.build(),
                table: ResourceTable::new(),
                limiter: PluginLimiter {
                    cap: self.max_memory_bytes(plugin),
                    peak: 0,
                },
                stderr,
                clock: CallClock::new(self.call_budget(plugin)),
            },
        );
        store.limiter(|state| &mut state.limiter);
        if self.limits.deadlines {
            // The wall-clock deadline is when to look at the CPU the call has used.
            store.epoch_deadline_callback(|mut store| {
                match store.data_mut().clock.look(thread_cpu_time()) {
                    Ok(ticks) => Ok(UpdateDeadline::Continue(ticks)),
                    Err(reached) => Err(reached.into()),
                }
            });
        }
        Ok(store)
    }

    /// `plugin`'s memory cap: its sidecar's, or the host's default.
    pub(crate) fn max_memory_bytes(&self, plugin: &CompiledPlugin) -> usize {
        plugin
            .settings()
            .max_memory_bytes
            .unwrap_or(self.limits.max_memory_bytes)
    }

    /// `plugin`'s call deadline: its sidecar's, or the host's default.
    pub(crate) fn call_timeout(&self, plugin: &CompiledPlugin) -> Duration {
        plugin
            .settings()
            .call_timeout
            .unwrap_or(self.limits.call_timeout)
    }

    /// `plugin`'s CPU budget per call.
    pub(crate) fn call_budget(&self, plugin: &CompiledPlugin) -> Budget {
        Budget::new(self.call_timeout(plugin))
    }

    /// The CPU budget for instantiating `plugin` and running its `init`: ten call
    /// budgets, at least a second (a plugin may build its tables there).
    pub(crate) fn setup_budget(&self, plugin: &CompiledPlugin) -> Budget {
        Budget::new(
            self.call_timeout(plugin)
                .saturating_mul(10)
                .max(Duration::from_secs(1)),
        )
    }
}

/// A trap raised by the host because a plugin tried to wait (sleep, or block on a
/// pollable): the deadline cannot interrupt a wait inside the host, so none is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the plugin tried to wait (sleep or block on a pollable); plugins may not block, since \
     the call deadline cannot interrupt a wait"
)]
pub(super) struct BlockingWaitRefused;

/// Replaces WASI's two blocking waits — `poll` and `pollable.block`, which a sleep comes
/// down to — with traps. Everything else of WASI stays as it is.
fn refuse_blocking_waits(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::DynPollable;
    linker.allow_shadowing(true);
    let mut poll = linker.instance(WASI_POLL)?;
    poll.func_wrap(
        "poll",
        |_, (_,): (Vec<Resource<DynPollable>>,)| -> wasmtime::Result<(Vec<u32>,)> {
            Err(BlockingWaitRefused.into())
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |_, (_,): (Resource<DynPollable>,)| -> wasmtime::Result<()> {
            Err(BlockingWaitRefused.into())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The `wasi:io/poll` interface as wasmtime-wasi defines it (imports of earlier 0.2
/// versions resolve to it).
const WASI_POLL: &str = "wasi:io/poll@0.2.12";

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
        .map_err(|e| {
            PluginError::Engine(format!("could not start the epoch ticker thread: {e}").into())
        })
}
