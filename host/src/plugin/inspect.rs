//! Checking one component before deploying it (`logbridge plugin check`): what the host
//! makes of it — role and world, every import and whether the host offers it, `init`'s
//! answer with its sidecar, declared fields, settings, size and compile time — and
//! whether it would load, with the loader's own message when it would not.
//!
//! Every step is the loader's: the sidecar is read by [`super::sidecar`], the bytes go
//! through the same checks, the imports are resolved against the engine's linker, and
//! `init` runs in an instance made the way the host makes one (its CPU budget, off the
//! async runtime's threads), so a plugin that prints, panics or loops is contained.
//!
//! Over 400 lines: the report types and the one function that fills them, step by step
//! alongside the loader.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, LinkerInstance, ResourceType};

use super::bindings::world_of;
use super::cache::{ModuleCache, sha256_hex};
use super::engine::{PluginEngine, PluginLimits, PluginState};
use super::loader::{
    CompiledPlugin, check_header, check_settings, compile, detect_role, not_compiled,
};
use super::reads::Reads;
use super::sidecar::{self, PluginSettings, Sidecar};
use super::{PluginError, Role};

/// What [`inspect`] is to check a component with.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// The sidecar to read; by default `NAME.toml` next to the component, as the host
    /// reads it (absent: no configuration).
    pub sidecar: Option<PathBuf>,
    /// A data folder: the report then says whether its compiled-plugin cache
    /// (`DATA_DIR/plugin-cache`) holds this component.
    pub data_dir: Option<PathBuf>,
    /// The host's plugin limits (the memory ceiling a sidecar is held to, the CPU budget
    /// `init` runs under).
    pub limits: PluginLimits,
}

/// Whether the host offers an import.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportStatus {
    /// The host's linker provides it.
    Offered,
    /// The host does not provide it (or not in this shape): the component is refused.
    Refused,
    /// Not known: resolving stopped at an earlier refused import.
    Unchecked,
}

/// One import of a component.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Its name, e.g. `wasi:http/types@0.2.0`.
    pub name: String,
    /// Whether the host offers it.
    pub status: ImportStatus,
    /// For a refused import, the runtime's reason.
    pub reason: Option<String>,
    /// What to do about a refused import (the build flag that removes it, where known),
    /// or what an offered one amounts to inside the sandbox.
    pub note: Option<&'static str>,
}

/// What `init` answered.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "message")]
pub enum InitOutcome {
    /// Not run: the component was refused before it could be instantiated.
    NotRun,
    /// `init` accepted the configuration.
    Ok,
    /// `init` returned an error: the plugin's own message.
    Refused(String),
    /// Instantiating it or running `init` failed in the runtime (a panic, a trap, the
    /// CPU budget, the memory cap): what happened.
    Failed(String),
}

/// What the host makes of one component: see [`inspect`].
#[non_exhaustive]
#[derive(Debug, Serialize)]
pub struct PluginReport {
    /// The component file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// The SHA-256 of its bytes, hex: the version the host reports and caches it by.
    pub sha256: String,
    /// The sidecar read, if there was one.
    pub sidecar: Option<PathBuf>,
    /// The `[config]` pairs (and `[[rule]]` tables) `init` receives.
    pub config: Vec<(String, String)>,
    /// How the host would run it (limits, failure policy, grants, projection); `None`
    /// when the sidecar was refused.
    pub settings: Option<PluginSettings>,
    /// What the plugin reads, from what its `init` answered (and the sidecar's
    /// narrowing); `None` when `init` did not run or answer.
    pub reads: Option<Reads>,
    /// How long compiling it took, without any cache; `None` when it was not compiled.
    #[serde(rename = "compile_ms", serialize_with = "millis")]
    pub compile_time: Option<Duration>,
    /// How long compiling it with the baseline compiler (Winch) took, uncached: what a
    /// host takes to start serving a large plugin (see `PluginLimits::
    /// fast_first_compile_bytes`). `None` when it was not compiled, or the baseline
    /// compiler cannot compile it (then `baseline_error` says why).
    #[serde(rename = "baseline_compile_ms", serialize_with = "millis")]
    pub baseline_compile_time: Option<Duration>,
    /// Why the baseline compiler cannot compile it, if it cannot: a large plugin is then
    /// compiled by Cranelift on its first load.
    pub baseline_error: Option<String>,
    /// Whether the data folder's compiled-plugin cache holds it (`None`: no data folder
    /// given, or not compiled).
    pub cached: Option<bool>,
    /// Its role, when it exports exactly one.
    #[serde(serialize_with = "display")]
    pub role: Option<Role>,
    /// The world of `wit/` its role's plugins target.
    pub world: Option<&'static str>,
    /// Everything it exports, by name.
    pub exports: Vec<String>,
    /// Everything it imports, and whether the host offers it.
    pub imports: Vec<ImportReport>,
    /// What `init` answered.
    pub init: InitOutcome,
    /// Why the host would refuse it: the loader's own error. `None`: it would load.
    #[serde(serialize_with = "display")]
    pub refusal: Option<PluginError>,
}

impl PluginReport {
    /// Whether the host would load it.
    pub fn loads(&self) -> bool {
        self.refusal.is_none()
    }
}

fn millis<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    value.map(|d| d.as_secs_f64() * 1000.0).serialize(s)
}

fn display<T: std::fmt::Display, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(ToString::to_string).serialize(s)
}

/// Checks the component at `file` the way the host loads it, and reports what it finds.
///
/// A component the host would refuse is still an `Ok` report, with
/// [`PluginReport::refusal`] holding the loader's error; as much as can be learned about it
/// is reported all the same (its imports when it does not export a role, say).
///
/// # Errors
/// The component, or the sidecar named in `options`, cannot be read; the engine cannot
/// be set up.
pub fn inspect(file: &Path, options: &InspectOptions) -> Result<PluginReport, PluginError> {
    let bytes = std::fs::read(file).map_err(|source| PluginError::ReadFile {
        file: file.to_owned(),
        source,
    })?;
    let sidecar_path = match &options.sidecar {
        Some(path) => {
            std::fs::metadata(path).map_err(|source| PluginError::ReadFile {
                file: path.clone(),
                source,
            })?;
            path.clone()
        }
        None => file.with_extension("toml"),
    };
    // Compile times are measured without the function cache; a small pool is enough
    // for the one instance `init` runs in.
    let engine = PluginEngine::new(PluginLimits {
        function_cache_bytes: 0,
        max_instances: 4,
        ..options.limits
    })?;
    let hash = sha256_hex(&bytes);
    let mut report = PluginReport {
        file: file.to_owned(),
        size_bytes: bytes.len() as u64,
        sha256: hash.clone(),
        sidecar: sidecar_path.is_file().then(|| sidecar_path.clone()),
        config: Vec::new(),
        settings: None,
        reads: None,
        compile_time: None,
        baseline_compile_time: None,
        baseline_error: None,
        cached: None,
        role: None,
        world: None,
        exports: Vec::new(),
        imports: Vec::new(),
        init: InitOutcome::NotRun,
        refusal: None,
    };
    let refuse = |report: &mut PluginReport, error: PluginError| {
        report.refusal.get_or_insert(error);
    };

    let sidecar = match sidecar::read(&sidecar_path) {
        Ok(sidecar) => {
            report.config = sidecar.config.clone();
            report.settings = Some(sidecar.settings.clone());
            if let Err(e) = check_settings(&engine, &sidecar_path, &sidecar.settings) {
                refuse(&mut report, e);
            }
            sidecar
        }
        Err(e) => {
            refuse(&mut report, e);
            Sidecar::default()
        }
    };
    if let Err(e) = check_header(file, &bytes) {
        refuse(&mut report, e);
        return Ok(report);
    }
    let started = Instant::now();
    let compiled = compile(&engine, file, &bytes);
    report.compile_time = Some(started.elapsed());
    let component = match compiled {
        Ok(component) => component,
        Err(e) => {
            refuse(&mut report, not_compiled(file, &e));
            return Ok(report);
        }
    };
    match PluginEngine::baseline_for(engine.limits()) {
        Ok(baseline) => {
            let started = Instant::now();
            match compile(&baseline, file, &bytes) {
                Ok(_) => report.baseline_compile_time = Some(started.elapsed()),
                Err(e) => report.baseline_error = Some(format!("{e:#}")),
            }
        }
        Err(e) => report.baseline_error = Some(e.to_string()),
    }
    report.cached = options
        .data_dir
        .as_ref()
        .map(|dir| ModuleCache::new(dir.join("plugin-cache")).has_entry(engine.engine(), &hash));

    let ty = component.component_type();
    report.exports = ty
        .exports(engine.engine())
        .map(|(name, _)| name.to_string())
        .collect();
    match detect_role(&engine, &component) {
        Ok(role) => {
            report.role = Some(role);
            report.world = Some(world_of(role));
        }
        Err(reason) => refuse(
            &mut report,
            PluginError::Invalid {
                file: file.to_owned(),
                reason,
            },
        ),
    }
    report.imports = imports(&engine, &component);
    if report.refusal.is_some() {
        return Ok(report);
    }

    // The loader's remaining steps, on the component compiled above: linking, the
    // exports against the contract, and `init` in one contained instance.
    match CompiledPlugin::from_component(&engine, file, &component, hash, sidecar) {
        Ok(plugin) => {
            report.init = InitOutcome::Ok;
            report.reads = Some(plugin.reads().clone());
        }
        Err(e) => {
            report.init = match &e {
                PluginError::Init { reason, .. } => InitOutcome::Refused(reason.clone()),
                PluginError::Instantiate { reason, .. } => InitOutcome::Failed(reason.clone()),
                _ => InitOutcome::NotRun,
            };
            refuse(&mut report, e);
        }
    }
    Ok(report)
}

/// Every import of `component`, and whether the host's linker offers it.
///
/// The linker names only the first import it cannot satisfy, so each refused one is
/// stubbed out in a scratch copy of the linker (never used to run anything) and the
/// component resolved again, until everything resolves.
fn imports(engine: &PluginEngine, component: &Component) -> Vec<ImportReport> {
    let wanted: Vec<(String, ComponentItem)> = component
        .component_type()
        .imports(engine.engine())
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect();
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut scratch = engine.linker().clone();
    scratch.allow_shadowing(true);
    let mut complete = false;
    let mut attempts = vec![0u8; wanted.len()];
    let mut resources = 0u32;
    for _ in 0..=wanted.len() * 2 {
        let error = match scratch.instantiate_pre(component) {
            Ok(_) => {
                complete = true;
                break;
            }
            Err(error) => error,
        };
        let outer = error.to_string();
        let Some(at) = wanted
            .iter()
            .position(|(name, _)| outer.contains(&format!("`{name}`")))
        else {
            break;
        };
        let (name, item) = &wanted[at];
        if !refused.iter().any(|(n, _)| n == name) {
            refused.push((name.clone(), format!("{error:#}")));
        }
        // First without defining resources (most are aliases of offered ones, e.g.
        // `wasi:io` streams), then with them; then give up.
        attempts[at] += 1;
        let with_resources = match attempts[at] {
            1 => false,
            2 => true,
            _ => break,
        };
        let stubbed = stub(
            &mut scratch.root(),
            name,
            item,
            engine,
            with_resources,
            &mut resources,
        );
        if stubbed.is_err() {
            break;
        }
    }
    wanted
        .into_iter()
        .map(|(name, _)| {
            let reason = refused
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| r.clone());
            let status = match (&reason, complete) {
                (Some(_), _) => ImportStatus::Refused,
                (None, true) => ImportStatus::Offered,
                (None, false) => ImportStatus::Unchecked,
            };
            let note = match status {
                ImportStatus::Refused => Some(refused_note(&name)),
                _ => offered_note(&name),
            };
            ImportReport {
                name,
                status,
                reason,
                note,
            }
        })
        .collect()
}

/// Defines `name` in `linker` with functions that fail, so resolving goes past it.
fn stub(
    linker: &mut LinkerInstance<'_, PluginState>,
    name: &str,
    item: &ComponentItem,
    engine: &PluginEngine,
    with_resources: bool,
    resources: &mut u32,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => linker.func_new(name, |_, _, _, _| {
            Err(wasmtime::format_err!("not offered by logbridge"))
        }),
        ComponentItem::Resource(_) if with_resources => {
            *resources += 1;
            linker.resource(name, ResourceType::host_dynamic(*resources), |_, _| Ok(()))
        }
        ComponentItem::ComponentInstance(instance) => {
            let mut inner = linker.instance(name)?;
            for (export, item) in instance.exports(engine.engine()) {
                stub(
                    &mut inner,
                    export,
                    &item.ty,
                    engine,
                    with_resources,
                    resources,
                )?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What to do about an import the host refuses.
fn refused_note(name: &str) -> &'static str {
    if name.starts_with("wasi:http/") {
        "plugins have no network. componentize-js links HTTP in by default: build with \
         `-d http -d fetch-event` (`--disable http --disable fetch-event`); in Rust, drop \
         the HTTP client crate that pulls it in"
    } else if name.starts_with("logbridge:") {
        "an interface of another version of the logbridge contract; build against this \
         host's wit/ (logbridge:plugin@0.1.0)"
    } else if name.starts_with("wasi:") {
        "a WASI interface the host does not provide in this version or shape; build for \
         wasm32-wasip2 (WASI 0.2) and drop the dependency that needs it"
    } else {
        "an interface only another host provides; plugins may import only WASI 0.2 and \
         `logbridge:plugin/log` — drop the dependency that imports it"
    }
}

/// What an offered import amounts to inside the sandbox, where that is worth saying.
fn offered_note(name: &str) -> Option<&'static str> {
    let interface = name.split('@').next().unwrap_or(name);
    Some(match interface {
        n if n.starts_with("wasi:sockets/") => {
            "linked, but plugins have no network: every socket and name lookup fails \
             (componentize-py links it in; it costs nothing unused)"
        }
        n if n.starts_with("wasi:filesystem/") => {
            "linked; the plugin sees only the directories its sidecar grants \
             (`[grants] read_only`), read only"
        }
        "wasi:cli/environment" => "linked; the environment and arguments are empty",
        "wasi:cli/stdout" | "wasi:cli/stderr" => "linked; lines go to the host's log, rate-limited",
        "wasi:io/poll" => "linked, but blocking (`poll`, sleeping) traps: plugins may not wait",
        "logbridge:plugin/log" => "the host's log",
        _ => return None,
    })
}
