//! WebAssembly plugins: the shared engine, loading a plugins folder, and running
//! instances of the `filter`, `transformer` and `router` roles defined in `wit/`.
//!
//! A [`CompiledPlugin`] is a validated, compiled component ready to be instantiated;
//! a `PluginInstance` is one live instance of it with its own store. Instances are
//! reused across events (instantiation costs far more than a call) and thrown away after
//! a trap, so one bad event never poisons the next. [`inspect`] checks one component the
//! way the loader would, without running a host.

mod ahead;
mod bindings;
mod budget;
mod cache;
mod engine;
mod function_cache;
mod inspect;
mod instance;
mod loader;
mod pool;
mod projection;
mod reads;
mod reload;
mod sidecar;
mod stdio;
mod tiering;

use std::path::PathBuf;

pub(crate) use bindings::{Destination, Edit, Envelope, Transformed};
pub use cache::{CacheStats, sha256_hex};
pub use engine::{PluginEngine, PluginLimits};
pub use inspect::{ImportReport, ImportStatus, InitOutcome, InspectOptions, PluginReport, inspect};
pub(crate) use instance::{CallError, PluginInstance};
pub(crate) use loader::wasm_files;
pub use loader::{CompiledPlugin, PluginSet};
pub(crate) use pool::{instances_for, limits_holding};
pub use projection::Projection;
pub(crate) use projection::{Merged, Picker, Projector, ScanFor, Spans, edit_detail};
pub use reads::Reads;
pub(crate) use reload::reload_dir_for;
pub use reload::{PluginLoadFailure, ReloadOutcome};
pub use sidecar::{DirGrant, OnError, PluginSettings};
pub use stdio::{LINE_BURST, LINES_PER_SECOND};
pub use tiering::Compiler;

/// A core module with one function, `a`, returning 1: the smallest thing that compiles.
#[cfg(test)]
pub(crate) const ONE_FUNCTION_MODULE: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, // header
    1, 5, 1, 0x60, 0, 1, 0x7f, // type: () -> i32
    3, 2, 1, 0, // one function of that type
    7, 5, 1, 1, b'a', 0, 0, // exported as "a"
    10, 6, 1, 4, 0, 0x41, 1, 0x0b, // body: i32.const 1
];

/// The role a plugin plays, from the interface it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Exports `filter`: decides whether an event is kept.
    Filter,
    /// Exports `transformer`: reshapes an event.
    Transformer,
    /// Exports `router`: picks the buses an event goes to.
    Router,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Filter => "filter",
            Role::Transformer => "transformer",
            Role::Router => "router",
        })
    }
}

/// Why a plugin could not be loaded or instantiated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugins folder could not be read.
    #[error("cannot read the plugins folder {dir}: {source}")]
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plugin or sidecar file could not be read.
    #[error("cannot read {file}: {source}")]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a usable WebAssembly component.
    #[error("{file} is not a logbridge plugin: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong and what to do about it.
        reason: String,
    },
    /// The sidecar `NAME.toml` is malformed.
    #[error("{file}: {reason}")]
    Sidecar {
        /// The sidecar file.
        file: PathBuf,
        /// What is wrong and what to do about it.
        reason: String,
    },
    /// The plugin's `init` returned an error.
    #[error("plugin `{plugin}` refused its configuration: {reason}")]
    Init {
        /// The plugin's name.
        plugin: String,
        /// The plugin's own message.
        reason: String,
    },
    /// Instantiating the plugin, or calling its `init`, failed in the runtime (a trap,
    /// the deadline, the memory cap, or the instance pool being exhausted).
    #[error("plugin `{plugin}` could not be instantiated: {reason}")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// The runtime's message.
        reason: String,
    },
    /// The wasmtime engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PluginError {
    fn engine(error: wasmtime::Error) -> Self {
        PluginError::Engine(error.into())
    }
}
