//! The command line: every subcommand's arguments, parsed by clap.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// `--data-dir`, for the commands that only read the data folder.
#[derive(Args)]
pub(crate) struct DataDirArg {
    /// Where the failure log (`failures.sqlite3`) lives.
    #[arg(
        long,
        value_name = "DIR",
        env = "LOGBRIDGE_DATA_DIR",
        default_value = logbridge::config::DEFAULT_DATA_DIR
    )]
    pub(crate) data_dir: PathBuf,
}

/// `run`: NDJSON in, through the plugins, out to the sink. Every setting of
/// `logbridge::config::SETTINGS` is added to it as a flag with its environment variable.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// NDJSON input: one Auth0 log or `{"log_id", "data"}` record per line; `-` is stdin.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub(crate) input: String,
    /// With `durability = "disk"`, read FILE from its first line even when an earlier run
    /// on the same data folder stopped part-way (by default a rerun goes on after the
    /// last line that run took).
    #[arg(long)]
    pub(crate) from_start: bool,
    #[command(flatten)]
    pub(crate) config: ConfigFileArg,
}

/// `serve`: only the config file here; the settings are added from the list.
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigFileArg,
}

/// `--config FILE`.
#[derive(Args)]
pub(crate) struct ConfigFileArg {
    /// A TOML file with any of these settings (see `examples/logbridge.toml`); flags and
    /// their environment variables override it.
    #[arg(long = "config", value_name = "FILE", env = "LOGBRIDGE_CONFIG")]
    pub(crate) file: Option<PathBuf>,
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
    pub(crate) filter: FilterArgs,
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
