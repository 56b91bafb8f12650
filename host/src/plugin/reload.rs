//! Reloading a plugins folder: what changed since the running set, compiled off the hot
//! path, with a plugin that fails to load leaving its previous version running.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::cache::sha256_hex;
use super::engine::PluginEngine;
use super::loader::{CompiledPlugin, PluginSet, wasm_files};
use super::pool::{engine_holding, instances_for};
use super::tiering::Compiler;
use super::{PluginError, sidecar};

/// A plugin file that could not be loaded by a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginLoadFailure {
    /// The plugin's name (its file name without `.wasm`).
    pub plugin: String,
    /// The file.
    pub file: PathBuf,
    /// The SHA-256 of the bytes that failed, when they could be read.
    pub hash: Option<String>,
    /// What is wrong.
    pub error: String,
    /// Whether the previous version of the plugin is still running.
    pub kept_previous: bool,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadOutcome {
    /// Plugins that were not running before.
    pub added: Vec<String>,
    /// Plugins whose bytes or configuration changed.
    pub replaced: Vec<String>,
    /// Plugins whose file is gone.
    pub removed: Vec<String>,
    /// Plugins left as they were.
    pub unchanged: Vec<String>,
    /// Plugins running on their baseline build whose optimized build replaced it (same
    /// bytes, same sidecar).
    pub optimized: Vec<String>,
    /// Plugin files that failed to load.
    pub failed: Vec<PluginLoadFailure>,
}

impl ReloadOutcome {
    /// Whether the running set changes.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty()
            && self.replaced.is_empty()
            && self.removed.is_empty()
            && self.optimized.is_empty())
    }
}

/// The plugin set `dir` holds now, built from `current`: unchanged plugins are kept as
/// they are (no recompiling), changed ones are loaded and checked, and a plugin that
/// fails to load keeps its previous version, if it had one. For a host with `workers`
/// workers: when the plugins in `dir` need a
/// larger instance pool than the running set's engine has, the new set is compiled for
/// a new engine with one ([`super::pool`]); plugins left as they were are compiled for
/// it too, and keep their counters.
pub(crate) fn reload_dir_for(
    current: &PluginSet,
    dir: &Path,
    workers: usize,
) -> Result<(PluginSet, ReloadOutcome), PluginError> {
    let files = wasm_files(dir)?;
    let engine = engine_holding(current.engine(), instances_for(workers, files.len()))?;
    reload_files(current, files, &engine)
}

fn reload_files(
    current: &PluginSet,
    files: Vec<PathBuf>,
    engine: &PluginEngine,
) -> Result<(PluginSet, ReloadOutcome), PluginError> {
    let mut outcome = ReloadOutcome::default();
    let mut plugins = Vec::new();
    let moved = !wasmtime::Engine::same(engine.engine(), current.engine().engine());
    let previous = |name: &str| current.plugins().iter().find(|p| p.name() == name).cloned();
    for file in &files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let old = previous(&name);
        let loaded = std::fs::read(file)
            .map_err(|source| PluginError::ReadFile {
                file: file.clone(),
                source,
            })
            .and_then(|bytes| {
                let sidecar = sidecar::read(&file.with_extension("toml"))?;
                Ok((bytes, sidecar))
            });
        let (bytes, sidecar) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                fail(&mut outcome, &mut plugins, name, file, None, e, old);
                continue;
            }
        };
        let hash = sha256_hex(&bytes);
        if let Some(old) = &old
            && old.hash() == hash
            && old.config() == sidecar.config.as_slice()
            && *old.settings() == sidecar.settings
        {
            let optimized = old.compiler() == Compiler::Winch && engine.tiering().is_ready(&hash);
            if !moved && !optimized {
                outcome.unchanged.push(name);
                plugins.push(Arc::clone(old));
                continue;
            }
            // Compiled again for the new engine, or its optimized build swapped in: the
            // same plugin, counters and all.
            match old.for_engine(engine, &bytes, sidecar) {
                Ok(plugin) => {
                    if optimized {
                        outcome.optimized.push(name);
                    } else {
                        outcome.unchanged.push(name);
                    }
                    plugins.push(plugin);
                }
                Err(e) => {
                    let old = Some(Arc::clone(old));
                    fail(&mut outcome, &mut plugins, name, file, Some(hash), e, old);
                }
            }
            continue;
        }
        match CompiledPlugin::from_bytes(engine, file, &bytes, sidecar) {
            Ok(plugin) => {
                if old.is_some() {
                    outcome.replaced.push(name);
                } else {
                    outcome.added.push(name);
                }
                plugins.push(plugin);
            }
            Err(e) => fail(&mut outcome, &mut plugins, name, file, Some(hash), e, old),
        }
    }
    for plugin in current.plugins() {
        let still_there = files.iter().any(|f| {
            f.file_stem()
                .is_some_and(|s| s.to_string_lossy() == plugin.name())
        });
        if !still_there {
            outcome.removed.push(plugin.name().to_string());
        }
    }
    engine.tiering().ahead().forget_finished();
    Ok((PluginSet::from_plugins(engine, plugins), outcome))
}

fn fail(
    outcome: &mut ReloadOutcome,
    plugins: &mut Vec<Arc<CompiledPlugin>>,
    name: String,
    file: &Path,
    hash: Option<String>,
    error: PluginError,
    previous: Option<Arc<CompiledPlugin>>,
) {
    tracing::error!(plugin = %name, "plugin failed to load; {}: {error}",
        if previous.is_some() { "its previous version keeps running" } else { "it is not running" });
    outcome.failed.push(PluginLoadFailure {
        plugin: name,
        file: file.to_owned(),
        hash,
        error: error.to_string(),
        kept_previous: previous.is_some(),
    });
    plugins.extend(previous);
}
