//! Loading plugins: one `.wasm` component (plus optional sidecar) into a
//! [`CompiledPlugin`], and a whole plugins folder into a [`PluginSet`].
//!
//! Over 400 lines: loading is one sequence of steps (sidecar, header, compile, role, link,
//! init) that `inspect.rs` replays one by one; they are kept together so the order is
//! visible in one place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use wasmtime::component::{Component, InstancePre};

use super::bindings::{CONTRACT, filter, names, router, transformer};
use super::cache::sha256_hex;
use super::engine::{PluginEngine, PluginState};
use super::instance::PluginInstance;
use super::reads::{Blame, Reads};
use super::sidecar::{PluginSettings, Sidecar};
use super::stdio::LineBudget;
use super::{PluginError, Role, sidecar};
use crate::health::PluginCounters;

/// The export lookups for a plugin's role, resolved once at load time.
pub(crate) enum RoleIndices {
    Filter(filter::GuestIndices),
    Transformer(transformer::GuestIndices),
    Router(router::GuestIndices),
}

/// A plugin compiled and checked against the contract, ready to be instantiated.
pub struct CompiledPlugin {
    name: Arc<str>,
    file: PathBuf,
    role: Role,
    hash: String,
    loaded_at: SystemTime,
    counters: Arc<PluginCounters>,
    line_budget: Arc<LineBudget>,
    settings: PluginSettings,
    pub(crate) config: Vec<(String, String)>,
    pub(crate) engine: PluginEngine,
    pub(crate) pre: InstancePre<PluginState>,
    pub(crate) indices: RoleIndices,
    /// What the plugin reads, from its `init` at load (`None` until then).
    pub(crate) reads: Option<Reads>,
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlugin")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

const WASM_MAGIC: &[u8] = b"\0asm";
const CORE_MODULE_VERSION: &[u8] = &[1, 0, 0, 0];

impl CompiledPlugin {
    /// Loads the component at `file`, with the configuration from the sidecar next to it
    /// (`NAME.toml`, optional), and instantiates it once to run `init` as a check.
    pub fn load(engine: &PluginEngine, file: &Path) -> Result<Arc<Self>, PluginError> {
        let bytes = std::fs::read(file).map_err(|source| PluginError::ReadFile {
            file: file.to_owned(),
            source,
        })?;
        let sidecar = sidecar::read(&file.with_extension("toml"))?;
        Self::from_bytes(engine, file, &bytes, sidecar)
    }

    /// Compiles `bytes` as the plugin `file` with the given sidecar (or just its
    /// `[config]` list), and instantiates it once to run `init` as a check.
    pub fn from_bytes(
        engine: &PluginEngine,
        file: &Path,
        bytes: &[u8],
        sidecar: impl Into<Sidecar>,
    ) -> Result<Arc<Self>, PluginError> {
        let sidecar = sidecar.into();
        check_settings(engine, &file.with_extension("toml"), &sidecar.settings)?;
        check_header(file, bytes)?;
        let hash = sha256_hex(bytes);
        let tiering = engine.tiering();
        let built = match tiering.take_ready(engine, &hash) {
            Some(component) => Built {
                engine: engine.clone(),
                component,
            },
            None => match tiering.ahead().take(engine, &hash) {
                Some(built) => built,
                None => build(engine, file, bytes, &hash)?,
            },
        };
        let plugin =
            Self::from_component(&built.engine, file, &built.component, hash.clone(), sidecar)?;
        if built.engine.compiler() == super::Compiler::Winch {
            tiering.optimize_in_background(engine, file, bytes.to_vec(), hash);
        }
        Ok(plugin)
    }

    /// The rest of loading once `component` (whose bytes hash to `hash`) is compiled:
    /// its role, its imports, its exports against the contract, and `init` run once.
    pub(crate) fn from_component(
        engine: &PluginEngine,
        file: &Path,
        component: &Component,
        hash: String,
        sidecar: Sidecar,
    ) -> Result<Arc<Self>, PluginError> {
        let Sidecar { config, settings } = sidecar;
        let invalid = |reason: String| PluginError::Invalid {
            file: file.to_owned(),
            reason,
        };
        let role = detect_role(engine, component).map_err(invalid)?;
        let pre = link(engine, file, component)?;
        let contract = |e: wasmtime::Error| {
            invalid(format!(
                "its {role} export does not match the contract in wit/: {e:#}"
            ))
        };
        let indices = match role {
            Role::Filter => RoleIndices::Filter(filter::GuestIndices::new(&pre).map_err(contract)?),
            Role::Transformer => {
                RoleIndices::Transformer(transformer::GuestIndices::new(&pre).map_err(contract)?)
            }
            Role::Router => RoleIndices::Router(router::GuestIndices::new(&pre).map_err(contract)?),
        };
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string());
        let plugin = Arc::new(CompiledPlugin {
            name: name.into(),
            file: file.to_owned(),
            role,
            hash,
            loaded_at: SystemTime::now(),
            counters: Arc::new(PluginCounters::new(
                settings
                    .degraded_permille
                    .unwrap_or(engine.limits().degraded_permille),
            )),
            line_budget: Arc::default(),
            settings,
            config,
            engine: engine.clone(),
            pre,
            indices,
            reads: None,
        });
        // One instance up front proves the exports type-check and `init` accepts the
        // configuration, so a bad plugin fails at load time, not on the first event; its
        // `init` also says what the plugin reads.
        let manifest = PluginInstance::new(&plugin)?.manifest().clone();
        let reads = Reads::new(&manifest, plugin.settings.projection.as_deref()).map_err(
            |(blame, reason)| match blame {
                Blame::Plugin => PluginError::Init {
                    plugin: plugin.name().to_string(),
                    reason,
                },
                Blame::Sidecar => PluginError::Sidecar {
                    file: file.with_extension("toml"),
                    reason,
                },
            },
        )?;
        let mut plugin = plugin;
        Arc::get_mut(&mut plugin)
            .expect("the load-time instance is gone, and nothing else holds the plugin")
            .reads = Some(reads);
        Ok(plugin)
    }

    /// This plugin version compiled again for `engine` (its host moved to a larger
    /// instance pool), from the same `bytes` and sidecar; what health shows of it — its
    /// counters, when it was loaded — carries over.
    pub(crate) fn for_engine(
        &self,
        engine: &PluginEngine,
        bytes: &[u8],
        sidecar: Sidecar,
    ) -> Result<Arc<Self>, PluginError> {
        let mut plugin = Self::from_bytes(engine, &self.file, bytes, sidecar)?;
        if let Some(moved) = Arc::get_mut(&mut plugin) {
            moved.counters = Arc::clone(&self.counters);
            moved.line_budget = Arc::clone(&self.line_budget);
            moved.loaded_at = self.loaded_at;
        }
        Ok(plugin)
    }

    /// The plugin's name: its file name without `.wasm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Which compiler made the code it runs: Winch for a large plugin's first build,
    /// until the optimized one is swapped in (see [`Compiler`](super::Compiler)).
    pub fn compiler(&self) -> super::Compiler {
        self.engine.compiler()
    }

    /// What the plugin reads: the fields its `init` declared, the operator's narrowing
    /// of them, and whether it reads the envelope.
    pub fn reads(&self) -> &Reads {
        self.reads
            .as_ref()
            .expect("a loaded plugin's init answered what it reads")
    }

    /// The fields the plugin is handed instead of the whole detail, if any: those its
    /// `init` declared, narrowed by its sidecar's `[projection]`.
    pub fn projection(&self) -> Option<&super::Projection> {
        self.reads().projection()
    }

    /// The role it plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The SHA-256 of its bytes, hex: which version this is.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// When it was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The configuration passed to its `init`.
    pub fn config(&self) -> &[(String, String)] {
        &self.config
    }

    /// How the host runs it: limits, failure policy, grants (from its sidecar).
    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    pub(crate) fn line_budget(&self) -> &Arc<LineBudget> {
        &self.line_budget
    }

    /// What this version has done since it was loaded: calls, verdicts, errors, time.
    pub fn counters(&self) -> &Arc<PluginCounters> {
        &self.counters
    }
}

/// Which role `component` exports; exactly one is allowed.
pub(crate) fn detect_role(engine: &PluginEngine, component: &Component) -> Result<Role, String> {
    let roles: Vec<Role> = [
        (names::FILTER, Role::Filter),
        (names::TRANSFORMER, Role::Transformer),
        (names::ROUTER, Role::Router),
    ]
    .into_iter()
    .filter(|(name, _)| component.get_export_index(None, name).is_some())
    .map(|(_, role)| role)
    .collect();
    match roles.as_slice() {
        [role] => Ok(*role),
        [] => {
            let names: Vec<String> = component
                .component_type()
                .exports(engine.engine())
                .map(|(name, _)| name.to_string())
                .collect();
            if let Some(other) = names.iter().find_map(|name| other_contract(name)) {
                return Err(format!(
                    "it was built for the plugin contract {other}, and this host speaks \
                     {CONTRACT}; rebuild it against wit/plugin.wit of this version (with \
                     the SDKs, update them and rebuild; PLUGINS.md, \"Moving from contract \
                     0.1\", lists what changed)"
                ));
            }
            let exports: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            let exports = if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            };
            Err(format!(
                "it exports {exports}, but a plugin must export exactly one of `{}`, `{}` or \
                 `{}` (target a world of the {CONTRACT} package in wit/)",
                names::FILTER,
                names::TRANSFORMER,
                names::ROUTER
            ))
        }
        several => Err(format!(
            "it exports several roles ({}); a plugin plays exactly one role — split it into \
             one plugin per role",
            several
                .iter()
                .map(Role::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A sidecar's settings the host cannot honour: more memory than its ceiling. `sidecar`
/// is the file named in the error.
pub(crate) fn check_settings(
    engine: &PluginEngine,
    sidecar: &Path,
    settings: &PluginSettings,
) -> Result<(), PluginError> {
    let ceiling = engine.limits().memory_ceiling_bytes;
    match settings.max_memory_bytes {
        Some(asked) if asked > ceiling => Err(PluginError::Sidecar {
            file: sidecar.to_owned(),
            reason: format!(
                "`limits.max_memory_mib` = {} is above the host's ceiling of {} MiB; \
                 lower it, or raise the host's memory ceiling",
                asked >> 20,
                ceiling >> 20
            ),
        }),
        _ => Ok(()),
    }
}

/// The contract `export` belongs to, when it is a logbridge role of another version
/// than this host's: `logbridge:plugin@0.1.0` for `logbridge:plugin/filter@0.1.0`.
fn other_contract(export: &str) -> Option<String> {
    let rest = export.strip_prefix(names::ANY_VERSION)?;
    let (_, version) = rest.split_once('@')?;
    let contract = format!("logbridge:plugin@{version}");
    (contract != CONTRACT).then_some(contract)
}

/// Refuses bytes that are not WebAssembly, or a core module rather than a component.
pub(crate) fn check_header(file: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let invalid = |reason: &str| PluginError::Invalid {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(invalid(
            "the file is not WebAssembly (no `\\0asm` header); plugins are components \
             built for wasm32-wasip2",
        ));
    }
    if bytes.get(4..8) == Some(CORE_MODULE_VERSION) {
        return Err(invalid(
            "it is a core WebAssembly module, not a component; build it for \
             wasm32-wasip2, or wrap it with `wasm-tools component new`",
        ));
    }
    Ok(())
}

/// A component compiled for loading, and the engine that compiled it: `engine` itself,
/// or its baseline engine for a fast first compile.
#[derive(Clone)]
pub(crate) struct Built {
    /// The engine the component belongs to.
    pub(crate) engine: PluginEngine,
    /// The compiled component.
    pub(crate) component: Component,
}

/// Compiles `bytes` (the plugin `file`, content hash `hash`) for a load with `engine`:
/// by Winch first when the component is large enough for a fast first compile and not in
/// the compiled-plugin cache, otherwise by Cranelift, through the cache when there is one.
pub(crate) fn build(
    engine: &PluginEngine,
    file: &Path,
    bytes: &[u8],
    hash: &str,
) -> Result<Built, PluginError> {
    if engine.wants_fast_first_compile(bytes.len())
        && !engine
            .cache()
            .is_some_and(|cache| cache.has_entry(engine.engine(), hash))
        && let Ok(baseline) = engine.tiering().baseline(engine)
    {
        match compile(&baseline, file, bytes) {
            Ok(component) => {
                return Ok(Built {
                    engine: baseline,
                    component,
                });
            }
            Err(e) => tracing::warn!(
                file = %file.display(),
                "the baseline compiler could not compile the plugin; compiling it optimized: {e:#}"
            ),
        }
    }
    let component = match engine.cache() {
        Some(cache) => {
            cache.load_or_compile(engine.engine(), hash, || compile(engine, file, bytes))
        }
        None => compile(engine, file, bytes),
    }
    .map_err(|e| not_compiled(file, &e))?;
    Ok(Built {
        engine: engine.clone(),
        component,
    })
}

/// Compiles `bytes` (the plugin `file`), with a log line when compiling starts and one
/// when it ends, with the size and the time taken: a large component (a Python plugin is
/// about 18 MB) takes seconds, and a host that is compiling should say so.
pub(crate) fn compile(
    engine: &PluginEngine,
    file: &Path,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let plugin = file.file_stem().map_or_else(
        || file.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let compiler = engine.compiler().to_string();
    tracing::info!(plugin, bytes = bytes.len(), compiler, "compiling plugin");
    let started = Instant::now();
    let compiled = Component::new(engine.engine(), bytes);
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &compiled {
        Ok(_) => tracing::info!(plugin, bytes = bytes.len(), compiler, ms, "plugin compiled"),
        Err(_) => {
            tracing::info!(
                plugin,
                bytes = bytes.len(),
                compiler,
                ms,
                "plugin did not compile"
            );
        }
    }
    compiled
}

/// The refusal for bytes that do not compile as a component.
pub(crate) fn not_compiled(file: &Path, error: &wasmtime::Error) -> PluginError {
    PluginError::Invalid {
        file: file.to_owned(),
        reason: format!("it does not compile as a component: {error:#}"),
    }
}

/// Resolves `component`'s imports against the host's linker, or says what it imports
/// that the host does not offer.
pub(crate) fn link(
    engine: &PluginEngine,
    file: &Path,
    component: &Component,
) -> Result<InstancePre<PluginState>, PluginError> {
    engine
        .linker()
        .instantiate_pre(component)
        .map_err(|e| PluginError::Invalid {
            file: file.to_owned(),
            reason: format!(
                "it imports something logbridge does not offer ({e:#}); plugins may import \
                 only WASI and `logbridge:plugin/log`"
            ),
        })
}

/// The `*.wasm` files in `dir`, in file-name order.
pub(crate) fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let read_dir = |source| PluginError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        if path.extension().is_some_and(|ext| ext == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The plugins of a folder, in file-name order, compiled and checked.
#[derive(Debug, Clone)]
pub struct PluginSet {
    engine: PluginEngine,
    plugins: Vec<Arc<CompiledPlugin>>,
}

impl PluginSet {
    /// A set with no plugins: every event is kept, unchanged, for the default bus.
    pub fn empty(engine: &PluginEngine) -> Self {
        PluginSet {
            engine: engine.clone(),
            plugins: Vec::new(),
        }
    }

    /// Loads every `*.wasm` file in `dir`, in file-name order. Any plugin that fails to
    /// load fails the whole set, with an error naming the file.
    pub fn load_dir(engine: &PluginEngine, dir: &Path) -> Result<Self, PluginError> {
        let files = wasm_files(dir)?;
        let plugins = files
            .iter()
            .map(|file| CompiledPlugin::load(engine, file))
            .collect::<Result<_, _>>()?;
        Ok(PluginSet {
            engine: engine.clone(),
            plugins,
        })
    }

    /// A set of already compiled plugins, run in the order given.
    pub fn from_plugins(engine: &PluginEngine, plugins: Vec<Arc<CompiledPlugin>>) -> Self {
        PluginSet {
            engine: engine.clone(),
            plugins,
        }
    }

    /// The plugins, in the order they run within their role.
    pub fn plugins(&self) -> &[Arc<CompiledPlugin>] {
        &self.plugins
    }

    /// The engine the plugins were compiled with.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }
}
