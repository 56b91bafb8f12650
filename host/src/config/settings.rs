//! Every `run`/`serve` setting, listed once: its key in the file, its flag, its help and
//! how its default reads. The command line and its environment variables are made from
//! this list; a test checks it against the keys the file parser takes, both ways.
//!
//! Over 400 lines: it is one table, a few lines per setting; split, it would no longer
//! be the one place each setting is defined.

use super::Config;

/// What a setting's value is, on the command line and in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingKind {
    /// Text, read by the file's own rules (numbers, sizes, durations, names).
    Text,
    /// A path: relative to the current folder on the command line, to the file's folder
    /// in the file.
    Path,
    /// On or off: a flag without a value on the command line, `true`/`false` elsewhere.
    Switch,
    /// Several values: the flag repeated, or the variable's values separated by commas.
    List,
}

/// Which commands take a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// `run` and `serve`: everything that builds a host.
    Host,
    /// `run`, `serve` and `replay`: the sink, delivery and the data folder.
    Delivery,
    /// `serve` only: the HTTP receiver.
    Serve,
}

/// One setting: one name in the file, on the command line and in the environment.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Setting {
    /// The key in the configuration file, dotted by section: `delivery.linger_ms`.
    pub key: &'static str,
    /// The flag, without its dashes: `linger-ms`.
    pub flag: &'static str,
    /// What the value is called in help (`MS`, `DIR`), for settings that take one.
    pub value_name: Option<&'static str>,
    /// How the value is given.
    pub kind: SettingKind,
    /// Which commands take it.
    pub scope: Scope,
    /// One line of help.
    pub help: &'static str,
    /// The value as text, as a flag would give it (the default when shown on
    /// [`Config::default`]); `None` when unset.
    pub show: fn(&Config) -> Option<String>,
}

impl Setting {
    /// The environment variable: `LOGBRIDGE_` and the flag in capitals
    /// (`--linger-ms` is `LOGBRIDGE_LINGER_MS`).
    pub fn env_var(&self) -> String {
        format!(
            "LOGBRIDGE_{}",
            self.flag.replace('-', "_").to_ascii_uppercase()
        )
    }

    /// Whether a command taking `scope` takes this setting.
    pub fn in_scope(&self, command: Scope) -> bool {
        match command {
            Scope::Serve => true,
            Scope::Host => self.scope != Scope::Serve,
            Scope::Delivery => self.scope == Scope::Delivery,
        }
    }

    /// The setting whose key is `key`.
    pub fn find(key: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|s| s.key == key)
    }
}

fn ms(d: std::time::Duration) -> Option<String> {
    Some(d.as_millis().to_string())
}

fn text(s: impl ToString) -> Option<String> {
    Some(s.to_string())
}

fn on(b: bool) -> Option<String> {
    Some(b.to_string())
}

macro_rules! setting {
    ($key:literal, $flag:literal, $value:expr, $kind:ident, $scope:ident, $help:literal, $show:expr) => {
        Setting {
            key: $key,
            flag: $flag,
            value_name: $value,
            kind: SettingKind::$kind,
            scope: Scope::$scope,
            help: $help,
            show: $show,
        }
    };
}

/// Every setting `run` and `serve` take, in the order help lists them.
pub const SETTINGS: &[Setting] = &[
    setting!(
        "plugins",
        "plugins",
        Some("DIR"),
        Path,
        Host,
        "Folder of plugins (`*.wasm` components, each with an optional `NAME.toml`)",
        |c| c.plugins.as_ref().map(|p| p.display().to_string())
    ),
    setting!(
        "data_dir",
        "data-dir",
        Some("DIR"),
        Path,
        Delivery,
        "Where the failure log (`failures.sqlite3`) and the write-ahead log (`journal.sqlite3`) \
         live",
        |c| text(c.data_dir.display())
    ),
    setting!(
        "source",
        "source",
        Some("SOURCE"),
        Text,
        Host,
        "The `source` events are sent with (must not start with `aws.`)",
        |c| text(&c.source)
    ),
    setting!(
        "detail_type",
        "detail-type",
        Some("TYPE"),
        Text,
        Host,
        "The `detail-type` events are sent with",
        |c| text(&c.detail_type)
    ),
    setting!(
        "default_bus",
        "default-bus",
        Some("NAME"),
        Text,
        Host,
        "The bus for events no router routes",
        |c| text(&c.default_bus)
    ),
    setting!(
        "buses",
        "bus",
        Some("NAME"),
        List,
        Host,
        "A bus routers may name (repeat for each; the default bus is always allowed); with \
         any given, a route to another bus fails the event (`unknown-bus`)",
        |c| (!c.buses.is_empty()).then(|| c.buses.join(","))
    ),
    setting!(
        "workers",
        "workers",
        Some("N"),
        Text,
        Host,
        "Pipeline worker threads (default: one per core)",
        |c| c.workers.map(|n| n.to_string())
    ),
    setting!(
        "durability",
        "durability",
        Some("disk|memory"),
        Text,
        Host,
        "Where accepted events wait until they are settled: `disk` (default; a write-ahead \
         log in the data folder: acknowledged once on disk, resumed after a crash) or \
         `memory` (faster; a crash loses what was not yet delivered)",
        |c| Some(c.durability.to_string())
    ),
    setting!(
        "watch",
        "watch",
        None,
        Switch,
        Host,
        "Reload plugins when a `.wasm` or sidecar in the plugins folder is added, changed \
         or removed, without stopping",
        |c| on(c.watch)
    ),
    setting!(
        "sink.output",
        "output",
        Some("FILE"),
        Path,
        Delivery,
        "Local sink: write delivered events as JSON lines to FILE instead of stdout (an \
         existing file is appended to)",
        |c| c.sink.output.as_ref().map(|p| p.display().to_string())
    ),
    setting!(
        "sink.truncate_output",
        "truncate-output",
        None,
        Switch,
        Delivery,
        "Empty the --output file first instead of appending to it",
        |c| on(c.sink.truncate_output)
    ),
    setting!(
        "sink.eventbridge",
        "eventbridge",
        None,
        Switch,
        Delivery,
        "Deliver to Amazon EventBridge with PutEvents (region and credentials from the \
         standard AWS chain)",
        |c| on(c.sink.eventbridge)
    ),
    setting!(
        "sink.endpoint_url",
        "endpoint-url",
        Some("URL"),
        Text,
        Delivery,
        "EventBridge endpoint override, e.g. a local EventBridge-compatible server",
        |c| c.sink.endpoint_url.clone()
    ),
    setting!(
        "sink.region",
        "region",
        Some("REGION"),
        Text,
        Delivery,
        "AWS region override",
        |c| c.sink.region.clone()
    ),
    setting!(
        "sink.attempt_timeout_ms",
        "attempt-timeout-ms",
        Some("MS"),
        Text,
        Delivery,
        "Timeout of one PutEvents attempt, in milliseconds",
        |c| ms(c.sink.attempt_timeout)
    ),
    setting!(
        "delivery.max_request_size",
        "max-request-size",
        Some("LIMIT"),
        Text,
        Delivery,
        "PutEvents request-size limit, `1mb` or `256kb`, summed as EventBridge counts entry \
         sizes",
        |c| text(c.delivery.max_request_size.as_str())
    ),
    setting!(
        "delivery.linger_ms",
        "linger-ms",
        Some("MS"),
        Text,
        Delivery,
        "Longest a batch waits to fill, in milliseconds",
        |c| ms(c.delivery.linger)
    ),
    setting!(
        "delivery.retries",
        "retries",
        Some("N"),
        Text,
        Delivery,
        "Retries after the first attempt, for retryable failures",
        |c| text(c.delivery.retries)
    ),
    setting!(
        "delivery.retry_base_ms",
        "retry-base-ms",
        Some("MS"),
        Text,
        Delivery,
        "First backoff ceiling, in milliseconds (doubles each retry; full jitter)",
        |c| ms(c.delivery.retry_base)
    ),
    setting!(
        "delivery.retry_cap_ms",
        "retry-cap-ms",
        Some("MS"),
        Text,
        Delivery,
        "Largest backoff, in milliseconds",
        |c| ms(c.delivery.retry_cap)
    ),
    setting!(
        "delivery.shutdown_timeout_ms",
        "shutdown-timeout-ms",
        Some("MS"),
        Text,
        Delivery,
        "At end of input or a signal, how long failed entries may still be retried, in \
         milliseconds; then they go to the failure log (`serve` exits within it)",
        |c| ms(c.delivery.shutdown_timeout)
    ),
    setting!(
        "plugin_limits.timeout_ms",
        "plugin-timeout-ms",
        Some("MS"),
        Text,
        Host,
        "CPU time one plugin call may use, unless the plugin's sidecar says otherwise",
        |c| ms(c.plugin_limits.timeout)
    ),
    setting!(
        "plugin_limits.memory_mib",
        "plugin-memory-mib",
        Some("MIB"),
        Text,
        Host,
        "Memory one plugin instance may use, unless its sidecar says otherwise",
        |c| text(c.plugin_limits.memory_mib)
    ),
    setting!(
        "serve.listen",
        "listen",
        Some("ADDR"),
        Text,
        Serve,
        "Address to listen on; put it behind your TLS-terminating proxy (the default is \
         loopback only)",
        |c| text(c.serve.listen)
    ),
    setting!(
        "serve.authorization",
        "authorization",
        Some("VALUE"),
        Text,
        Serve,
        "The `Authorization` header value the log stream sends; requests without it get \
         401 (prefer the environment variable, out of `ps`)",
        |c| c.serve.authorization.clone()
    ),
    setting!(
        "serve.max_body",
        "max-body",
        Some("SIZE"),
        Text,
        Serve,
        "Largest request body taken, e.g. `16mb`, `512kb`; larger ones get 413",
        |c| text(super::units::format_size(c.serve.max_body))
    ),
    setting!(
        "serve.queue_wait_ms",
        "queue-wait-ms",
        Some("MS"),
        Text,
        Serve,
        "How long a request waits for room in the queue before it gets 429",
        |c| ms(c.serve.queue_wait)
    ),
    setting!(
        "serve.dedupe_window",
        "dedupe-window",
        Some("DURATION"),
        Text,
        Serve,
        "Records whose `log_id` was taken within this long are dropped as duplicates \
         (`0s` turns it off)",
        |c| text(super::units::format_duration(c.serve.dedupe_window))
    ),
    setting!(
        "serve.header_timeout",
        "header-timeout",
        Some("DURATION"),
        Text,
        Serve,
        "A new connection must send a whole request head within this long, or it is closed",
        |c| text(super::units::format_duration(c.serve.header_timeout))
    ),
    setting!(
        "serve.body_timeout",
        "body-timeout",
        Some("DURATION"),
        Text,
        Serve,
        "A request body must arrive whole within this long of its head, or it gets 408",
        |c| text(super::units::format_duration(c.serve.body_timeout))
    ),
    setting!(
        "serve.idle_timeout",
        "idle-timeout",
        Some("DURATION"),
        Text,
        Serve,
        "A kept-alive connection with no next request within this long is closed",
        |c| text(super::units::format_duration(c.serve.idle_timeout))
    ),
    setting!(
        "serve.max_connections",
        "max-connections",
        Some("N"),
        Text,
        Serve,
        "Most connections open at once (keep it below `ulimit -n`); at the cap the one \
         waiting longest without a request is closed",
        |c| text(c.serve.max_connections)
    ),
    setting!(
        "serve.health_connections",
        "health-connections",
        Some("N"),
        Text,
        Serve,
        "Of --max-connections, how many are kept for `GET /`, `/health` and `/metrics`",
        |c| text(c.serve.health_connections)
    ),
    setting!(
        "serve.max_requests",
        "max-requests",
        Some("N"),
        Text,
        Serve,
        "Ingest slots: most posts whose records are taken at once; more get 503",
        |c| text(c.serve.max_requests)
    ),
];
