//! The command line: every subcommand's arguments, parsed by clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use logbridge::delivery::{
    BatchLimits, DeliveryConfig, MAX_BYTES_1MB, MAX_BYTES_256KB, RetryPolicy,
};

#[derive(Args)]
pub(crate) struct DataDirArg {
    /// Where the failure log (`failures.sqlite3`) lives.
    #[arg(
        long,
        value_name = "DIR",
        env = "LOGBRIDGE_DATA_DIR",
        default_value = "logbridge-data"
    )]
    pub(crate) data_dir: PathBuf,
}

#[derive(Args)]
pub(crate) struct SinkArgs {
    /// Local sink: write delivered events as JSON lines to FILE instead of stdout. An
    /// existing file is appended to.
    #[arg(long, value_name = "FILE", conflicts_with = "eventbridge")]
    pub(crate) output: Option<PathBuf>,
    /// Empty the --output file first instead of appending to it.
    #[arg(long)]
    pub(crate) truncate_output: bool,
    /// Deliver to Amazon EventBridge with PutEvents (region and credentials from the
    /// standard AWS chain).
    #[arg(long)]
    pub(crate) eventbridge: bool,
    /// EventBridge endpoint override, e.g. a local EventBridge-compatible server.
    #[arg(long, value_name = "URL", env = "LOGBRIDGE_ENDPOINT_URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region override.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Timeout of one PutEvents attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub(crate) attempt_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RequestLimit {
    /// 1 MB, EventBridge's limit for event buses since January 2026.
    #[value(name = "1mb")]
    OneMb,
    /// 256 KB, the former limit.
    #[value(name = "256kb")]
    TwoFiftySixKb,
}

#[derive(Args)]
pub(crate) struct DeliveryArgs {
    /// PutEvents request-size limit, summed as EventBridge counts entry sizes.
    #[arg(long, value_enum, default_value = "1mb")]
    pub(crate) max_request_size: RequestLimit,
    /// Longest a batch waits to fill, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub(crate) linger_ms: u64,
    /// Retries after the first attempt, for retryable failures.
    #[arg(long, default_value_t = 3)]
    pub(crate) retries: u32,
    /// First backoff ceiling, in milliseconds (doubles each retry; full jitter).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub(crate) retry_base_ms: u64,
    /// Largest backoff, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub(crate) retry_cap_ms: u64,
    /// At end of input or Ctrl-C, how long failed entries may still be retried, in
    /// milliseconds; after it they go to the failure log. `serve` exits within it of the
    /// first signal, whatever clients do.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub(crate) shutdown_timeout_ms: u64,
}

impl DeliveryArgs {
    pub(crate) fn config(&self) -> DeliveryConfig {
        DeliveryConfig {
            batch: BatchLimits {
                max_bytes: match self.max_request_size {
                    RequestLimit::OneMb => MAX_BYTES_1MB,
                    RequestLimit::TwoFiftySixKb => MAX_BYTES_256KB,
                },
                linger: Duration::from_millis(self.linger_ms),
                ..BatchLimits::default()
            },
            retry: RetryPolicy {
                max_retries: self.retries,
                base: Duration::from_millis(self.retry_base_ms),
                cap: Duration::from_millis(self.retry_cap_ms),
            },
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
            ..DeliveryConfig::default()
        }
    }
}

/// What builds a host: plugins, sink, delivery, data directory, envelope, limits.
#[derive(Args)]
pub(crate) struct HostArgs {
    /// A TOML file with any of these settings (see `examples/logbridge.toml`); flags and
    /// their environment variables override it.
    #[arg(long, value_name = "FILE", env = "LOGBRIDGE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Folder of plugins (`*.wasm` components, each with an optional `NAME.toml`).
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sink: SinkArgs,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// The `source` events are sent with (must not start with `aws.`).
    #[arg(long, default_value = logbridge::event::DEFAULT_SOURCE)]
    pub(crate) source: String,
    /// The `detail-type` events are sent with.
    #[arg(long, default_value = logbridge::event::AUTH0_DETAIL_TYPE)]
    pub(crate) detail_type: String,
    /// The bus for events no router routes.
    #[arg(long, default_value = logbridge::DEFAULT_BUS)]
    pub(crate) default_bus: String,
    /// A bus routers may name (repeat for each; the default bus is always allowed). With
    /// any given, a route to another bus fails the event at stage `plugin`
    /// (`unknown-bus`); without, every bus name is sent on.
    #[arg(long = "bus", value_name = "NAME")]
    pub(crate) buses: Vec<String>,
    /// How long one plugin call may run, unless the plugin's sidecar says otherwise.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub(crate) plugin_timeout_ms: u64,
    /// How much memory one plugin instance may use, unless its sidecar says otherwise.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub(crate) plugin_memory_mib: usize,
    /// Pipeline worker threads (default: one per core).
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// Reload plugins when a `.wasm` or sidecar in the plugins folder is added, changed or
    /// removed, without stopping (compiled plugins are cached in DATA_DIR/plugin-cache).
    #[arg(long)]
    pub(crate) watch: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// NDJSON input: one Auth0 log or `{"log_id", "data"}` record per line; `-` is stdin.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub(crate) input: String,
    #[command(flatten)]
    pub(crate) host: HostArgs,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Auth0 must reach it: put it behind your TLS-terminating
    /// proxy; the default listens on loopback only.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// The `Authorization` header value the log stream is configured to send; requests
    /// without it get 401. Prefer the environment variable to keep it out of `ps`.
    #[arg(long, env = "LOGBRIDGE_AUTHORIZATION", hide_env_values = true)]
    pub(crate) authorization: Option<String>,
    /// Largest request body taken, e.g. `16mb`, `512kb`; larger ones get 413.
    #[arg(long, value_name = "SIZE", default_value = "16mb", value_parser = parse_size)]
    pub(crate) max_body: usize,
    /// How long a request waits for room in the queue before it gets 429.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) queue_wait_ms: u64,
    /// Records whose `log_id` was taken within this long are dropped as duplicates
    /// (`0s` turns it off).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) dedupe_window: Duration,
    /// A new connection must send a whole request head within this long, or it is
    /// closed (idle sockets, half-sent headers, unauthenticated clients).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) header_timeout: Duration,
    /// A request body must arrive whole within this long of its head, or it gets 408
    /// and its connection is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) body_timeout: Duration,
    /// A kept-alive connection with no next request within this long of its last answer
    /// is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) idle_timeout: Duration,
    /// Most connections open at once (keep it below `ulimit -n`); at the cap the one
    /// waiting longest without a request is closed to make room.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(2..))]
    pub(crate) max_connections: u64,
    /// Of --max-connections, how many are kept for `GET /`, `/health` and `/metrics`
    /// when every other connection is in a request.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) health_connections: u64,
    /// Ingest slots: most posts whose records are taken at once (a post takes one once
    /// its body has arrived); more get 503.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_requests: u64,
    #[command(flatten)]
    pub(crate) host: HostArgs,
}

/// `16mb`, `512kb`, `1024` (bytes), as the config file reads them.
fn parse_size(text: &str) -> Result<usize, logbridge::config::ValueError> {
    logbridge::config::parse_size(text)
}

#[derive(Args)]
pub(crate) struct FilterArgs {
    /// Only delivery failures for this bus.
    #[arg(long)]
    pub(crate) bus: Option<String>,
    /// Only failures last tried at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StageArg {
    Ingest,
    Plugin,
    Delivery,
}

#[derive(Args)]
pub(crate) struct FailuresArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Only this stage.
    #[arg(long, value_enum)]
    pub(crate) stage: Option<StageArg>,
    /// Also list failures a replay has delivered since.
    #[arg(long)]
    pub(crate) all: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    #[command(flatten)]
    pub(crate) sink: SinkArgs,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

#[derive(Args)]
pub(crate) struct HealthArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// A bus whose every delivery has failed for this long is reported `failing` (a
    /// shorter streak is `degraded`): e.g. `90s`, `10m`, `2h`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) failing_after: Duration,
    /// JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Ask the `logbridge serve` at this URL (e.g. `http://127.0.0.1:8080`) for its live
    /// state; by default, the one running on the same data folder, if any.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The `Authorization` value the server takes (the same as `serve`'s).
    #[arg(long, env = "LOGBRIDGE_AUTHORIZATION", hide_env_values = true)]
    pub(crate) authorization: Option<String>,
}

/// `500ms`, `90s`, `10m`, `2h`, `7d` (or plain seconds), as the config file reads them.
fn parse_duration(text: &str) -> Result<Duration, logbridge::config::ValueError> {
    logbridge::config::parse_duration(text)
}

#[derive(Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    pub(crate) command: ConfigCommand,
}

#[derive(clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a configuration file: every key known, every value valid.
    Check {
        /// The file.
        file: PathBuf,
    },
}
