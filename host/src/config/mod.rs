//! Configuration files: the TOML file `run` and `serve` read with `--config FILE`, parsed
//! and checked once into typed values. Unknown keys are refused by name; every value is
//! checked before anything starts (`logbridge config check FILE`), and relative paths are
//! taken from the file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::event::{AUTH0_DETAIL_TYPE, DEFAULT_SOURCE, Envelope};

mod raw;
mod units;

use raw::RawConfig;
pub use units::{ValueError, parse_duration, parse_size};

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
pub enum RequestSize {
    /// 1 MB, EventBridge's limit for event buses since January 2026.
    OneMb,
    /// 256 KB, the former limit.
    TwoFiftySixKb,
}

/// A checked configuration file: every value the file gives, typed; `None` where the file
/// is silent (the command's default applies).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `plugins`: the plugins folder.
    pub plugins: Option<PathBuf>,
    /// `data_dir`: where the failure log lives.
    pub data_dir: Option<PathBuf>,
    /// `source`: the events' `source`.
    pub source: Option<String>,
    /// `detail_type`: the events' `detail-type`.
    pub detail_type: Option<String>,
    /// `default_bus`: the bus for events no router routes.
    pub default_bus: Option<String>,
    /// `buses`: the buses routers may name.
    pub buses: Option<Vec<String>>,
    /// `workers`: pipeline worker threads (at least 1).
    pub workers: Option<usize>,
    /// `watch`: reload plugins when the folder changes.
    pub watch: Option<bool>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkConfig {
    /// `output`: a local JSON-lines file.
    pub output: Option<PathBuf>,
    /// `truncate_output`: empty the output file first.
    pub truncate_output: Option<bool>,
    /// `eventbridge`: deliver to Amazon EventBridge.
    pub eventbridge: Option<bool>,
    /// `endpoint_url`: EventBridge endpoint override.
    pub endpoint_url: Option<String>,
    /// `region`: AWS region override.
    pub region: Option<String>,
    /// `attempt_timeout_ms`: timeout of one PutEvents attempt.
    pub attempt_timeout: Option<Duration>,
}

/// `[delivery]`: batching and retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliverySection {
    /// `max_request_size`: `"1mb"` or `"256kb"`.
    pub max_request_size: Option<RequestSize>,
    /// `linger_ms`: longest a batch waits to fill.
    pub linger: Option<Duration>,
    /// `retries`: retries after the first attempt.
    pub retries: Option<u32>,
    /// `retry_base_ms`: first backoff ceiling.
    pub retry_base: Option<Duration>,
    /// `retry_cap_ms`: largest backoff.
    pub retry_cap: Option<Duration>,
    /// `shutdown_timeout_ms`: how long failed entries may be retried at shutdown.
    pub shutdown_timeout: Option<Duration>,
}

/// `[plugin_limits]`: defaults for every plugin without a sidecar saying otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginLimitsSection {
    /// `timeout_ms`: how long one plugin call may run (at least 1 ms).
    pub timeout: Option<Duration>,
    /// `memory_mib`: how much memory one instance may use, in MiB (at least 1).
    pub memory_mib: Option<usize>,
}

/// `[serve]`: the HTTP receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeSection {
    /// `listen`: the address.
    pub listen: Option<SocketAddr>,
    /// `authorization`: the `Authorization` value requests must carry (never empty).
    pub authorization: Option<String>,
    /// `max_body`: largest request body, in bytes.
    pub max_body: Option<usize>,
    /// `queue_wait_ms`: how long a request waits for room in the queue.
    pub queue_wait: Option<Duration>,
    /// `dedupe_window`: duplicates within it are dropped (zero turns it off).
    pub dedupe_window: Option<Duration>,
    /// `header_timeout`: more than zero.
    pub header_timeout: Option<Duration>,
    /// `body_timeout`: more than zero.
    pub body_timeout: Option<Duration>,
    /// `idle_timeout`: more than zero.
    pub idle_timeout: Option<Duration>,
    /// `max_connections`: at least 2.
    pub max_connections: Option<u64>,
    /// `health_connections`: kept for the health page.
    pub health_connections: Option<u64>,
    /// `max_requests`: at least 1.
    pub max_requests: Option<u64>,
}

fn value(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key,
        message: message.into(),
    }
}

fn millis(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

impl Config {
    /// Reads and checks the file at `path`; relative paths in it are taken from its
    /// folder. Errors name the file and the key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| ConfigError::InFile {
            path: path.to_path_buf(),
            error: Box::new(e),
        })
    }

    /// Parses and checks `text`, taking relative paths from the folder `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count();
                    let content = text.lines().nth(line).unwrap_or_default().trim();
                    format!(" (line {}: `{content}`)", line + 1)
                })
                .unwrap_or_default();
            ConfigError::Syntax(format!("{}{place}", e.message().trim_end()))
        })?;
        let path = |p: Option<PathBuf>| p.map(|p| base.join(p));
        if let Some(source) = &raw.source {
            let detail_type = raw.detail_type.as_deref().unwrap_or(AUTH0_DETAIL_TYPE);
            Envelope::new(source.clone(), detail_type.to_string())
                .map_err(|e| value("source", e.to_string()))?;
        }
        if let Some(detail_type) = &raw.detail_type {
            Envelope::new(DEFAULT_SOURCE, detail_type.clone())
                .map_err(|e| value("detail_type", e.to_string()))?;
        }
        if raw.serve.authorization.as_deref() == Some("") {
            return Err(value(
                "serve.authorization",
                "is empty; give the exact Authorization header value the log stream sends",
            ));
        }
        if raw.workers == Some(0) {
            return Err(value("workers", "must be at least 1"));
        }
        if raw.sink.output.is_some() && raw.sink.eventbridge == Some(true) {
            return Err(value(
                "sink.output",
                "a local output file and `sink.eventbridge = true` exclude each other",
            ));
        }
        if raw.plugin_limits.timeout_ms == Some(0) {
            return Err(value("plugin_limits.timeout_ms", "must be at least 1"));
        }
        if raw.plugin_limits.memory_mib == Some(0) {
            return Err(value("plugin_limits.memory_mib", "must be at least 1"));
        }
        let max_request_size = match raw.delivery.max_request_size.as_deref() {
            None => None,
            Some("1mb") => Some(RequestSize::OneMb),
            Some("256kb") => Some(RequestSize::TwoFiftySixKb),
            Some(other) => {
                return Err(value(
                    "delivery.max_request_size",
                    format!("`{other}` is not a limit EventBridge has; use \"1mb\" or \"256kb\""),
                ));
            }
        };
        let serve = &raw.serve;
        let listen = serve
            .listen
            .as_deref()
            .map(|l| {
                l.parse::<SocketAddr>().map_err(|e| {
                    value(
                        "serve.listen",
                        format!("`{l}` is not an address such as 127.0.0.1:8080 ({e})"),
                    )
                })
            })
            .transpose()?;
        let max_body = serve
            .max_body
            .as_deref()
            .map(|s| parse_size(s).map_err(|e| value("serve.max_body", e.0)))
            .transpose()?;
        let dedupe_window = serve
            .dedupe_window
            .as_deref()
            .map(|s| parse_duration(s).map_err(|e| value("serve.dedupe_window", e.0)))
            .transpose()?;
        let timeout = |key: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(|s| match parse_duration(s) {
                    Ok(d) if d.is_zero() => Err(value(key, "must be more than zero")),
                    Ok(d) => Ok(d),
                    Err(e) => Err(value(key, e.0)),
                })
                .transpose()
        };
        let header_timeout = timeout("serve.header_timeout", &serve.header_timeout)?;
        let body_timeout = timeout("serve.body_timeout", &serve.body_timeout)?;
        let idle_timeout = timeout("serve.idle_timeout", &serve.idle_timeout)?;
        if serve.max_connections.is_some_and(|n| n < 2) {
            return Err(value("serve.max_connections", "must be at least 2"));
        }
        if serve.max_requests == Some(0) {
            return Err(value("serve.max_requests", "must be at least 1"));
        }
        Ok(Config {
            plugins: path(raw.plugins),
            data_dir: path(raw.data_dir),
            source: raw.source,
            detail_type: raw.detail_type,
            default_bus: raw.default_bus,
            buses: raw.buses,
            workers: raw.workers,
            watch: raw.watch,
            sink: SinkConfig {
                output: path(raw.sink.output),
                truncate_output: raw.sink.truncate_output,
                eventbridge: raw.sink.eventbridge,
                endpoint_url: raw.sink.endpoint_url,
                region: raw.sink.region,
                attempt_timeout: millis(raw.sink.attempt_timeout_ms),
            },
            delivery: DeliverySection {
                max_request_size,
                linger: millis(raw.delivery.linger_ms),
                retries: raw.delivery.retries,
                retry_base: millis(raw.delivery.retry_base_ms),
                retry_cap: millis(raw.delivery.retry_cap_ms),
                shutdown_timeout: millis(raw.delivery.shutdown_timeout_ms),
            },
            plugin_limits: PluginLimitsSection {
                timeout: millis(raw.plugin_limits.timeout_ms),
                memory_mib: raw.plugin_limits.memory_mib,
            },
            serve: ServeSection {
                listen,
                authorization: raw.serve.authorization,
                max_body,
                queue_wait: millis(raw.serve.queue_wait_ms),
                dedupe_window,
                header_timeout,
                body_timeout,
                idle_timeout,
                max_connections: raw.serve.max_connections,
                health_connections: raw.serve.health_connections,
                max_requests: raw.serve.max_requests,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_into_typed_values_with_paths_from_its_folder() {
        let config = Config::parse(
            "plugins = \"p\"\nbuses = [\"a\"]\n[sink]\neventbridge = true\n\
             [delivery]\nmax_request_size = \"256kb\"\nlinger_ms = 7\n\
             [serve]\nlisten = \"127.0.0.1:9000\"\n\
             max_body = \"1mb\"\ndedupe_window = \"30s\"\nheader_timeout = \"1500ms\"\n\
             max_connections = 64\n",
            Path::new("/etc/logbridge"),
        )
        .unwrap();
        assert_eq!(
            config.plugins.as_deref(),
            Some(Path::new("/etc/logbridge/p"))
        );
        assert_eq!(config.serve.max_body, Some(1 << 20));
        assert_eq!(config.serve.dedupe_window, Some(Duration::from_secs(30)));
        assert_eq!(
            config.serve.header_timeout,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(config.serve.max_connections, Some(64));
        assert_eq!(config.delivery.linger, Some(Duration::from_millis(7)));
        assert_eq!(
            config.delivery.max_request_size,
            Some(RequestSize::TwoFiftySixKb)
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let refused = |text: &str| Config::parse(text, Path::new(".")).unwrap_err().to_string();
        assert_eq!(
            refused("[serve]\nauthorization = \"\"\n"),
            "`serve.authorization`: is empty; give the exact Authorization header value the \
             log stream sends"
        );
        assert_eq!(
            refused("[plugin_limits]\nmemory_mib = 0\n"),
            "`plugin_limits.memory_mib`: must be at least 1"
        );
        assert!(refused("workerz = 2\n").starts_with("unknown field `workerz`"));
    }
}
