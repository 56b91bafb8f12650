//! The crate's error type.

use crate::delivery::EventBridgeSetupError;
use crate::event::{EnvelopeError, EventError};
use crate::health::FailureLogError;
use crate::plugin::PluginError;

/// Everything that can go wrong at the library's boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plugin could not be loaded or instantiated.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The configured `source`/`detail-type` are not acceptable to EventBridge.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// An input record could not become an event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The EventBridge client could not be set up.
    #[error(transparent)]
    EventBridge(#[from] EventBridgeSetupError),
    /// The failure log could not be opened or written.
    #[error(transparent)]
    FailureLog(#[from] FailureLogError),
    /// The write-ahead log could not be opened or written (a full disk, say): nothing
    /// was taken.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// A reload or watch was asked of a host built without a plugins folder.
    #[error("this host has no plugins folder to reload; build it with `.plugins_dir(...)`")]
    NoPluginsDir,
    /// The plugins folder cannot be watched.
    #[error("cannot watch the plugins folder: {0}")]
    Watch(String),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The local sink's output file could not be opened.
    #[error("cannot open the output file {}: {source}; check the folder exists and is writable", path.display())]
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// Two builder settings that exclude each other were both given.
    #[error("{0}")]
    Conflict(&'static str),
    /// The builder was given no sink.
    #[error("no sink is configured; give the builder one with `.sink(...)`")]
    NoSink,
    /// The host was built outside a Tokio runtime.
    #[error(
        "the host must be built inside a multi-threaded Tokio runtime (its delivery runs there)"
    )]
    NoRuntime,
    /// The pipeline's queue stayed full for as long as the caller was willing to wait;
    /// nothing was queued. Retry later, or give the host more workers.
    #[error("the pipeline queue is full; retry later")]
    Busy,
    /// The host is shutting down or has shut down; it takes no more events.
    #[error("the host has shut down and takes no more events")]
    ShutDown,
    /// A worker thread could not be started.
    #[error("cannot start a pipeline worker thread: {0}")]
    Worker(#[source] std::io::Error),
    /// A pipeline worker or the delivery task panicked; events it held are unaccounted.
    #[error("a {0} panicked; the events it held were lost — this is a bug, please report it")]
    Panicked(&'static str),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
