//! `--config FILE`: one TOML file for everything `run` and `serve` take as flags. A flag
//! given on the command line, or through its environment variable, wins over the file;
//! the file wins over the built-in defaults. Unknown keys are refused by name, and every
//! value is checked before anything starts (`logbridge config check FILE`).
//!
//! Two layers: [`RawConfig`] is what serde reads (`deny_unknown_fields`), [`Config`] the
//! checked values, with relative paths taken from the file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use crate::args::{HostArgs, RequestLimit, ServeArgs, parse_duration, parse_size};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    plugins: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    source: Option<String>,
    detail_type: Option<String>,
    default_bus: Option<String>,
    buses: Option<Vec<String>>,
    workers: Option<usize>,
    watch: Option<bool>,
    #[serde(default)]
    sink: RawSink,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    plugin_limits: RawPluginLimits,
    #[serde(default)]
    serve: RawServe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    output: Option<PathBuf>,
    truncate_output: Option<bool>,
    eventbridge: Option<bool>,
    endpoint_url: Option<String>,
    region: Option<String>,
    attempt_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    max_request_size: Option<String>,
    linger_ms: Option<u64>,
    retries: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_cap_ms: Option<u64>,
    shutdown_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginLimits {
    timeout_ms: Option<u64>,
    memory_mib: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    listen: Option<String>,
    authorization: Option<String>,
    max_body: Option<String>,
    queue_wait_ms: Option<u64>,
    dedupe_window: Option<String>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<u64>,
    health_connections: Option<u64>,
    max_requests: Option<u64>,
}

/// A checked configuration file.
#[derive(Debug, Default)]
pub(crate) struct Config {
    raw: RawConfig,
    max_request_size: Option<RequestLimit>,
    listen: Option<SocketAddr>,
    max_body: Option<usize>,
    dedupe_window: Option<Duration>,
    header_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
}

/// Reads and checks `path`. Errors name the file and the key.
pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn parse(text: &str, base: &Path) -> Result<Config, String> {
    let mut raw: RawConfig = toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count();
                let content = text.lines().nth(line).unwrap_or_default().trim();
                format!(" (line {}: `{content}`)", line + 1)
            })
            .unwrap_or_default();
        format!("{}{place}", e.message().trim_end())
    })?;
    let key = |key: &str, e: String| format!("`{key}`: {e}");
    for path in [&mut raw.plugins, &mut raw.data_dir, &mut raw.sink.output]
        .into_iter()
        .flatten()
    {
        *path = base.join(&*path);
    }
    if let (Some(source), detail_type) = (&raw.source, &raw.detail_type) {
        logbridge::Envelope::new(
            source.clone(),
            detail_type
                .clone()
                .unwrap_or_else(|| logbridge::event::AUTH0_DETAIL_TYPE.to_string()),
        )
        .map_err(|e| key("source", e.to_string()))?;
    }
    if let Some(detail_type) = &raw.detail_type {
        logbridge::Envelope::new(logbridge::event::DEFAULT_SOURCE, detail_type.clone())
            .map_err(|e| key("detail_type", e.to_string()))?;
    }
    if raw.serve.authorization.as_deref() == Some("") {
        return Err(key(
            "serve.authorization",
            "is empty; give the exact Authorization header value the log stream sends".into(),
        ));
    }
    if raw.workers == Some(0) {
        return Err(key("workers", "must be at least 1".into()));
    }
    if raw.sink.output.is_some() && raw.sink.eventbridge == Some(true) {
        return Err(key(
            "sink.output",
            "a local output file and `sink.eventbridge = true` exclude each other".into(),
        ));
    }
    for (name, value) in [
        ("plugin_limits.timeout_ms", raw.plugin_limits.timeout_ms),
        (
            "plugin_limits.memory_mib",
            raw.plugin_limits.memory_mib.map(|m| m as u64),
        ),
    ] {
        if value == Some(0) {
            return Err(key(name, "must be at least 1".into()));
        }
    }
    let max_request_size = match raw.delivery.max_request_size.as_deref() {
        None => None,
        Some("1mb") => Some(RequestLimit::OneMb),
        Some("256kb") => Some(RequestLimit::TwoFiftySixKb),
        Some(other) => {
            return Err(key(
                "delivery.max_request_size",
                format!("`{other}` is not a limit EventBridge has; use \"1mb\" or \"256kb\""),
            ));
        }
    };
    let listen = raw
        .serve
        .listen
        .as_deref()
        .map(|l| {
            l.parse::<SocketAddr>().map_err(|e| {
                key(
                    "serve.listen",
                    format!("`{l}` is not an address such as 127.0.0.1:8080 ({e})"),
                )
            })
        })
        .transpose()?;
    let max_body = raw
        .serve
        .max_body
        .as_deref()
        .map(|s| parse_size(s).map_err(|e| key("serve.max_body", e)))
        .transpose()?;
    let dedupe_window = raw
        .serve
        .dedupe_window
        .as_deref()
        .map(|s| parse_duration(s).map_err(|e| key("serve.dedupe_window", e)))
        .transpose()?;
    let timeout = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|s| match parse_duration(s) {
                Ok(d) if d.is_zero() => Err(key(name, "must be more than zero".into())),
                Ok(d) => Ok(d),
                Err(e) => Err(key(name, e)),
            })
            .transpose()
    };
    let header_timeout = timeout("serve.header_timeout", &raw.serve.header_timeout)?;
    let body_timeout = timeout("serve.body_timeout", &raw.serve.body_timeout)?;
    let idle_timeout = timeout("serve.idle_timeout", &raw.serve.idle_timeout)?;
    if raw.serve.max_connections.is_some_and(|n| n < 2) {
        return Err(key("serve.max_connections", "must be at least 2".into()));
    }
    if raw.serve.max_requests == Some(0) {
        return Err(key("serve.max_requests", "must be at least 1".into()));
    }
    Ok(Config {
        raw,
        max_request_size,
        listen,
        max_body,
        dedupe_window,
        header_timeout,
        body_timeout,
        idle_timeout,
    })
}

/// Whether the argument `id` was given on the command line or by its environment
/// variable (and so wins over the file).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// Sets `$field` to the file's `$value`, when there is one and the argument `$id` was
/// not given.
macro_rules! take {
    ($matches:expr, $id:literal, $field:expr, $value:expr) => {
        if !given($matches, $id)
            && let Some(value) = $value
        {
            $field = value;
        }
    };
}

/// Sets from `config` every host argument the command line left at its default.
pub(crate) fn apply_host(config: &Config, matches: &ArgMatches, args: &mut HostArgs) {
    let raw = &config.raw;
    take!(
        matches,
        "plugins",
        args.plugins,
        raw.plugins.clone().map(Some)
    );
    take!(
        matches,
        "data_dir",
        args.data.data_dir,
        raw.data_dir.clone()
    );
    take!(matches, "source", args.source, raw.source.clone());
    take!(
        matches,
        "detail_type",
        args.detail_type,
        raw.detail_type.clone()
    );
    take!(
        matches,
        "default_bus",
        args.default_bus,
        raw.default_bus.clone()
    );
    take!(matches, "buses", args.buses, raw.buses.clone());
    take!(matches, "workers", args.workers, raw.workers.map(Some));
    take!(matches, "watch", args.watch, raw.watch);
    // A local output given on the command line turns the file's EventBridge off.
    if !given(matches, "output") {
        take!(
            matches,
            "eventbridge",
            args.sink.eventbridge,
            raw.sink.eventbridge
        );
        take!(
            matches,
            "output",
            args.sink.output,
            raw.sink.output.clone().map(Some)
        );
    }
    take!(
        matches,
        "truncate_output",
        args.sink.truncate_output,
        raw.sink.truncate_output
    );
    take!(
        matches,
        "endpoint_url",
        args.sink.endpoint_url,
        raw.sink.endpoint_url.clone().map(Some)
    );
    take!(
        matches,
        "region",
        args.sink.region,
        raw.sink.region.clone().map(Some)
    );
    take!(
        matches,
        "attempt_timeout_ms",
        args.sink.attempt_timeout_ms,
        raw.sink.attempt_timeout_ms
    );
    take!(
        matches,
        "max_request_size",
        args.delivery.max_request_size,
        config.max_request_size
    );
    take!(
        matches,
        "linger_ms",
        args.delivery.linger_ms,
        raw.delivery.linger_ms
    );
    take!(
        matches,
        "retries",
        args.delivery.retries,
        raw.delivery.retries
    );
    take!(
        matches,
        "retry_base_ms",
        args.delivery.retry_base_ms,
        raw.delivery.retry_base_ms
    );
    take!(
        matches,
        "retry_cap_ms",
        args.delivery.retry_cap_ms,
        raw.delivery.retry_cap_ms
    );
    take!(
        matches,
        "shutdown_timeout_ms",
        args.delivery.shutdown_timeout_ms,
        raw.delivery.shutdown_timeout_ms
    );
    take!(
        matches,
        "plugin_timeout_ms",
        args.plugin_timeout_ms,
        raw.plugin_limits.timeout_ms
    );
    take!(
        matches,
        "plugin_memory_mib",
        args.plugin_memory_mib,
        raw.plugin_limits.memory_mib
    );
}

/// Sets from `config` every `serve` argument the command line left at its default.
pub(crate) fn apply_serve(config: &Config, matches: &ArgMatches, args: &mut ServeArgs) {
    let raw = &config.raw.serve;
    take!(matches, "listen", args.listen, config.listen);
    take!(
        matches,
        "authorization",
        args.authorization,
        raw.authorization.clone().map(Some)
    );
    take!(matches, "max_body", args.max_body, config.max_body);
    take!(
        matches,
        "queue_wait_ms",
        args.queue_wait_ms,
        raw.queue_wait_ms
    );
    take!(
        matches,
        "dedupe_window",
        args.dedupe_window,
        config.dedupe_window
    );
    take!(
        matches,
        "header_timeout",
        args.header_timeout,
        config.header_timeout
    );
    take!(
        matches,
        "body_timeout",
        args.body_timeout,
        config.body_timeout
    );
    take!(
        matches,
        "idle_timeout",
        args.idle_timeout,
        config.idle_timeout
    );
    take!(
        matches,
        "max_connections",
        args.max_connections,
        raw.max_connections
    );
    take!(
        matches,
        "health_connections",
        args.health_connections,
        raw.health_connections
    );
    take!(matches, "max_requests", args.max_requests, raw.max_requests);
    apply_host(config, matches, &mut args.host);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_and_paths_are_taken_from_its_folder() {
        let config = parse(
            "plugins = \"p\"\nbuses = [\"a\"]\n[sink]\neventbridge = true\n\
             [delivery]\nmax_request_size = \"256kb\"\n[serve]\nlisten = \"127.0.0.1:9000\"\n\
             max_body = \"1mb\"\ndedupe_window = \"30s\"\nheader_timeout = \"1500ms\"\n\
             max_connections = 64\n",
            Path::new("/etc/logbridge"),
        )
        .unwrap();
        assert_eq!(
            config.raw.plugins.as_deref(),
            Some(Path::new("/etc/logbridge/p"))
        );
        assert_eq!(config.max_body, Some(1 << 20));
        assert_eq!(config.dedupe_window, Some(Duration::from_secs(30)));
        assert_eq!(config.header_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(config.raw.serve.max_connections, Some(64));
        assert!(matches!(
            config.max_request_size,
            Some(RequestLimit::TwoFiftySixKb)
        ));
    }
}
