//! Configuration: one [`Config`] for everything `run` and `serve` take — typed, with the
//! defaults in one place ([`Config::default`]), checked once. It comes from a TOML file
//! (`--config FILE`), environment variables and flags, layered by [`Config::resolve`];
//! every setting has one name in all three ([`SETTINGS`]). Unknown keys are refused by
//! name, and relative paths in a file are taken from the file's folder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::delivery::{BatchLimits, DeliveryConfig, MAX_BYTES_1MB, MAX_BYTES_256KB, RetryPolicy};
use crate::event::{AUTH0_DETAIL_TYPE, DEFAULT_SOURCE};
use crate::plugin::PluginLimits;

mod raw;
mod resolve;
mod settings;
mod units;

pub use resolve::{Override, OverrideValue};
pub use settings::{SETTINGS, Scope, Setting, SettingKind};
pub use units::{ValueError, format_duration, format_size, parse_duration, parse_size};

/// The data folder when none is given: `logbridge-data`, in the current folder.
pub const DEFAULT_DATA_DIR: &str = "logbridge-data";

/// The address `serve` listens on when none is given: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The timeout of one `PutEvents` attempt when none is given.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A configuration file refused: the file (when read from one), the key and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        message: String,
    },
    /// The text is not TOML of the expected shape (unknown key, wrong type).
    #[error("{0}")]
    Syntax(String),
    /// A key's value is not acceptable.
    #[error("`{key}`: {message}")]
    Value {
        /// The key, dotted: `serve.max_body`.
        key: &'static str,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// A value given by a flag or its environment variable is not acceptable.
    #[error("--{flag} (or {env}): {message}")]
    Setting {
        /// The flag, without its dashes.
        flag: &'static str,
        /// Its environment variable.
        env: String,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// An error in the file at `path`.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The error.
        error: Box<ConfigError>,
    },
}

/// The PutEvents request-size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestSize {
    /// 1 MB, EventBridge's limit for event buses since January 2026.
    OneMb,
    /// 256 KB, the former limit.
    TwoFiftySixKb,
}

impl RequestSize {
    /// How the file and the flag write it: `1mb` or `256kb`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestSize::OneMb => "1mb",
            RequestSize::TwoFiftySixKb => "256kb",
        }
    }

    /// The limit in bytes, as EventBridge sums entry sizes.
    pub fn bytes(self) -> usize {
        match self {
            RequestSize::OneMb => MAX_BYTES_1MB,
            RequestSize::TwoFiftySixKb => MAX_BYTES_256KB,
        }
    }
}

/// Everything `run` and `serve` take, checked. [`Config::default`] holds every default;
/// [`Config::resolve`] layers a file, environment variables and flags over it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `plugins`: the plugins folder; none runs every event unchanged to the default bus.
    pub plugins: Option<PathBuf>,
    /// `data_dir`: where the failure log lives.
    pub data_dir: PathBuf,
    /// `source`: the events' `source`.
    pub source: String,
    /// `detail_type`: the events' `detail-type`.
    pub detail_type: String,
    /// `default_bus`: the bus for events no router routes.
    pub default_bus: String,
    /// `buses`: the buses routers may name; empty accepts any name.
    pub buses: Vec<String>,
    /// `workers`: pipeline worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// `durability`: where accepted events wait until they are settled; `disk` (a
    /// write-ahead log in the data folder) unless set.
    pub durability: crate::Durability,
    /// `watch`: reload plugins when the folder changes (needs `plugins`).
    pub watch: bool,
    /// `[sink]`.
    pub sink: SinkConfig,
    /// `[delivery]`.
    pub delivery: DeliverySection,
    /// `[plugin_limits]`.
    pub plugin_limits: PluginLimitsSection,
    /// `[serve]`.
    pub serve: ServeSection,
}

/// `[sink]`: where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkConfig {
    /// `output`: a local JSON-lines file; none (and no `eventbridge`) is stdout.
    pub output: Option<PathBuf>,
    /// `truncate_output`: empty the output file first instead of appending.
    pub truncate_output: bool,
    /// `eventbridge`: deliver to Amazon EventBridge.
    pub eventbridge: bool,
    /// `endpoint_url`: EventBridge endpoint override.
    pub endpoint_url: Option<String>,
    /// `region`: AWS region override.
    pub region: Option<String>,
    /// `attempt_timeout_ms`: timeout of one PutEvents attempt.
    pub attempt_timeout: Duration,
}

/// `[delivery]`: batching and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliverySection {
    /// `max_request_size`: `"1mb"` or `"256kb"`.
    pub max_request_size: RequestSize,
    /// `linger_ms`: longest a batch waits to fill.
    pub linger: Duration,
    /// `retries`: retries after the first attempt.
    pub retries: u32,
    /// `retry_base_ms`: first backoff ceiling.
    pub retry_base: Duration,
    /// `retry_cap_ms`: largest backoff.
    pub retry_cap: Duration,
    /// `shutdown_timeout_ms`: how long failed entries may be retried at shutdown.
    pub shutdown_timeout: Duration,
}

/// `[plugin_limits]`: defaults for every plugin without a sidecar saying otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginLimitsSection {
    /// `timeout_ms`: CPU time one plugin call may use (at least 1 ms).
    pub timeout: Duration,
    /// `memory_mib`: memory one instance may use, in MiB (at least 1).
    pub memory_mib: usize,
}

/// `[serve]`: the HTTP receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeSection {
    /// `listen`: the address.
    pub listen: SocketAddr,
    /// `authorization`: the `Authorization` value requests must carry (never empty).
    pub authorization: Option<String>,
    /// `max_body`: largest request body, in bytes.
    pub max_body: usize,
    /// `queue_wait_ms`: how long a request waits for room in the queue.
    pub queue_wait: Duration,
    /// `dedupe_window`: duplicates within it are dropped (zero turns it off).
    pub dedupe_window: Duration,
    /// `header_timeout`: more than zero.
    pub header_timeout: Duration,
    /// `body_timeout`: more than zero.
    pub body_timeout: Duration,
    /// `idle_timeout`: more than zero.
    pub idle_timeout: Duration,
    /// `max_connections`: at least 2.
    pub max_connections: u64,
    /// `health_connections`: kept for the health page.
    pub health_connections: u64,
    /// `max_requests`: at least 1.
    pub max_requests: u64,
}

impl Default for Config {
    /// Every default, taken from the parts they configure.
    fn default() -> Self {
        let delivery = DeliveryConfig::default();
        let limits = PluginLimits::default();
        let serve = crate::serve::ServeConfig::default();
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Config {
            plugins: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            source: DEFAULT_SOURCE.to_string(),
            detail_type: AUTH0_DETAIL_TYPE.to_string(),
            default_bus: crate::DEFAULT_BUS.to_string(),
            buses: Vec::new(),
            workers: None,
            durability: crate::Durability::Disk,
            watch: false,
            sink: SinkConfig {
                output: None,
                truncate_output: false,
                eventbridge: false,
                endpoint_url: None,
                region: None,
                attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            },
            delivery: DeliverySection {
                max_request_size: match delivery.batch.max_bytes {
                    MAX_BYTES_256KB => RequestSize::TwoFiftySixKb,
                    _ => RequestSize::OneMb,
                },
                linger: delivery.batch.linger,
                retries: delivery.retry.max_retries,
                retry_base: delivery.retry.base,
                retry_cap: delivery.retry.cap,
                shutdown_timeout: delivery.shutdown_timeout,
            },
            plugin_limits: PluginLimitsSection {
                timeout: limits.call_timeout,
                memory_mib: limits.max_memory_bytes >> 20,
            },
            serve: ServeSection {
                listen: DEFAULT_LISTEN,
                authorization: serve.authorization,
                max_body: serve.max_body_bytes,
                queue_wait: serve.queue_wait,
                dedupe_window: serve.dedupe_window,
                header_timeout: serve.header_timeout,
                body_timeout: serve.body_timeout,
                idle_timeout: serve.idle_timeout,
                max_connections: as_u64(serve.max_connections),
                health_connections: as_u64(serve.health_connections),
                max_requests: as_u64(serve.max_requests),
            },
        }
    }
}

/// Ends the last line of an output file appended to, if a process killed mid-write left
/// it without its newline: the next event then starts a line of its own instead of
/// being glued to the torn one (which a reader skips; its event was not acknowledged
/// and is delivered again).
fn end_torn_line(path: &std::path::Path, out: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut last = [0u8; 1];
    let mut reading = std::fs::File::open(path)?;
    if reading.seek(SeekFrom::End(0))? == 0 {
        return Ok(());
    }
    reading.seek(SeekFrom::End(-1))?;
    reading.read_exact(&mut last)?;
    if last[0] != b'\n' {
        out.write_all(b"\n")?;
    }
    Ok(())
}

impl SinkConfig {
    /// Opens the sink this section describes: EventBridge (credentials from the standard
    /// AWS chain), the output file (appended to unless `truncate_output`), or stdout.
    pub async fn open(&self) -> crate::Result<std::sync::Arc<dyn crate::Sink>> {
        use std::sync::Arc;
        Ok(if self.eventbridge {
            let options = crate::EventBridgeOptions {
                endpoint_url: self.endpoint_url.clone(),
                region: self.region.clone(),
                attempt_timeout: Some(self.attempt_timeout),
            };
            Arc::new(crate::EventBridgeSink::from_env(&options).await?)
        } else if let Some(path) = &self.output {
            let truncate = self.truncate_output;
            let output_error = |source| crate::Error::Output {
                path: path.clone(),
                source,
            };
            let mut file = std::fs::File::options()
                .create(true)
                .write(true)
                .append(!truncate)
                .truncate(truncate)
                .open(path)
                .map_err(output_error)?;
            if !truncate {
                end_torn_line(path, &mut file).map_err(output_error)?;
            }
            Arc::new(crate::JsonLinesSink::new(std::io::BufWriter::new(file)))
        } else {
            Arc::new(crate::JsonLinesSink::new(std::io::stdout()))
        })
    }
}

impl Config {
    /// Delivery's settings: batching, retries and the shutdown timeout from `[delivery]`,
    /// the rest at their defaults.
    pub fn delivery_config(&self) -> DeliveryConfig {
        let d = &self.delivery;
        DeliveryConfig {
            batch: BatchLimits {
                max_bytes: d.max_request_size.bytes(),
                linger: d.linger,
                ..BatchLimits::default()
            },
            retry: RetryPolicy {
                max_retries: d.retries,
                base: d.retry_base,
                cap: d.retry_cap,
            },
            shutdown_timeout: d.shutdown_timeout,
            ..DeliveryConfig::default()
        }
    }

    /// Plugin limits from `[plugin_limits]`, the rest at their defaults.
    pub fn plugin_limits(&self) -> PluginLimits {
        PluginLimits {
            call_timeout: self.plugin_limits.timeout,
            max_memory_bytes: self.plugin_limits.memory_mib.saturating_mul(1 << 20),
            ..PluginLimits::default()
        }
    }

    /// The receiver's settings from `[serve]`; a stopping server drains within
    /// `delivery.shutdown_timeout`.
    pub fn serve_config(&self) -> crate::serve::ServeConfig {
        let s = &self.serve;
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        crate::serve::ServeConfig {
            authorization: s.authorization.clone(),
            max_body_bytes: s.max_body,
            queue_wait: s.queue_wait,
            dedupe_window: s.dedupe_window,
            max_requests: as_usize(s.max_requests),
            header_timeout: s.header_timeout,
            body_timeout: s.body_timeout,
            idle_timeout: s.idle_timeout,
            max_connections: as_usize(s.max_connections),
            health_connections: as_usize(s.health_connections),
            drain_timeout: self.delivery.shutdown_timeout,
            ..crate::serve::ServeConfig::default()
        }
    }

    /// The value of the setting `key` as text, as its flag would give it; `None` when
    /// unset or when there is no such key.
    pub fn value_text(&self, key: &str) -> Option<String> {
        Setting::find(key).and_then(|setting| (setting.show)(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_output_file_torn_by_a_kill_gets_its_last_line_ended() {
        let dir = std::env::temp_dir().join(format!("logbridge-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.ndjson");
        std::fs::write(&path, "{\"id\":\"whole\"}\n{\"id\":\"to").unwrap();
        let sink = SinkConfig {
            output: Some(path.clone()),
            ..Config::default().sink
        }
        .open()
        .await
        .unwrap();
        let event = crate::Event {
            id: "next".into(),
            source: "s".into(),
            detail_type: "d".into(),
            time: String::new(),
            resources: Vec::new(),
            detail: "{}".into(),
        };
        sink.put("bus", std::slice::from_ref(&event)).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let last: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(last["id"], "next");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
