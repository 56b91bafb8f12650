//! logbridge: a programmable Auth0-to-EventBridge log stream.
//!
//! Auth0 tenant logs come in (NDJSON, or from the embedding application), pass through
//! WebAssembly plugins that filter, transform and route them, and are delivered in
//! batches to Amazon EventBridge — or to a local sink when there is no AWS account.
//!
//! ```
//! use logbridge::{Host, JsonLinesSink};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> logbridge::Result<()> {
//! // Add `.plugins_dir("plugins")` for a folder of WebAssembly plugins; without one every
//! // event goes, unchanged, to the default bus.
//! let host = Host::builder()
//!     .sink(JsonLinesSink::new(std::io::stdout()))
//!     .build()?;
//! let mut delivered = host.subscribe();
//! let log = r#"{"log_id":"900201","date":"2026-11-01T00:00:00Z","type":"f","user_name":"jane@example.com"}"#;
//! host.send_auth0(log, "example").await?;
//! let health = host.shutdown().await?; // drains: every event delivered, filtered or failed
//! assert!(health.settled() && health.delivered() == 1);
//! assert_eq!(delivered.try_recv().unwrap().event.id, "900201");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(feature = "mimalloc")]
pub mod allocator;
pub mod config;
pub mod delivery;
mod error;
pub mod event;
pub mod health;
mod host;
pub mod ingest;
mod journal;
mod json_scan;
// For the benchmarks: the one-thread pipeline they measure. Not part of the API.
#[doc(hidden)]
pub mod pipeline;
pub mod plugin;
#[cfg(test)]
mod scratch;
pub mod serve;
mod watch;
mod worker;

pub use delivery::{
    BatchLimits, ChannelSink, Delivered, EntryResult, EventBridgeOptions, EventBridgeSink,
    JsonLinesSink, Sink,
};
pub use error::{Error, Result};
pub use event::{Envelope, Event, EventError};
pub use health::{FailureCode, HealthReport, Stage};
pub use host::{DEFAULT_BUS, Host, HostBuilder, SUBSCRIBER_BACKLOG};
pub use journal::{Durability, InputPosition, JOURNAL_FILE, JournalError, JournalReport};
pub use plugin::{
    CompiledPlugin, Compiler, PluginEngine, PluginError, PluginLimits, PluginSet, ReloadOutcome,
    Role,
};
