//! `--config FILE`: one TOML file for everything `run` and `serve` take as flags. A flag
//! given on the command line, or through its environment variable, wins over the file;
//! the file wins over the built-in defaults. The file is read and checked by
//! [`logbridge::config::Config`]; here its values are merged under the flags.

use std::path::Path;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use logbridge::config::{Config, RequestSize};

use crate::args::{HostArgs, RequestLimit, ServeArgs};

/// Reads and checks `path`. Errors name the file and the key.
pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

/// The config-file key of a `run`/`serve` argument: the flag's name with `_` for `-`,
/// under its section (`[plugin_limits]` drops the `plugin_` prefix). `None` for the two
/// that only make sense on the command line, `--config` and `--input`. A test checks
/// every flag against the file's keys, both ways.
#[cfg(test)]
pub(crate) fn file_key(id: &str) -> Option<String> {
    const SINK: &[&str] = &[
        "output",
        "truncate_output",
        "eventbridge",
        "endpoint_url",
        "region",
        "attempt_timeout_ms",
    ];
    const DELIVERY: &[&str] = &[
        "max_request_size",
        "linger_ms",
        "retries",
        "retry_base_ms",
        "retry_cap_ms",
        "shutdown_timeout_ms",
    ];
    const SERVE: &[&str] = &[
        "listen",
        "authorization",
        "max_body",
        "queue_wait_ms",
        "dedupe_window",
        "header_timeout",
        "body_timeout",
        "idle_timeout",
        "max_connections",
        "health_connections",
        "max_requests",
    ];
    Some(match id {
        "config" | "input" => return None,
        _ if SINK.contains(&id) => format!("sink.{id}"),
        _ if DELIVERY.contains(&id) => format!("delivery.{id}"),
        _ if SERVE.contains(&id) => format!("serve.{id}"),
        _ => match id.strip_prefix("plugin_") {
            Some(leaf) => format!("plugin_limits.{leaf}"),
            None => id.to_string(),
        },
    })
}

/// The environment variable of a `run`/`serve` argument: `LOGBRIDGE_` and its name, in
/// capitals (`--linger-ms` is `LOGBRIDGE_LINGER_MS`).
pub(crate) fn env_var(id: &str) -> String {
    format!("LOGBRIDGE_{}", id.to_ascii_uppercase())
}

/// Gives every argument of `command` its environment variable ([`env_var`]), so each
/// setting has one name on the command line, in the environment and in the file.
pub(crate) fn with_env_vars(command: clap::Command) -> clap::Command {
    let ids: Vec<String> = command
        .get_arguments()
        .filter(|arg| !arg.is_positional() && arg.get_id() != "help")
        .map(|arg| arg.get_id().to_string())
        .collect();
    ids.into_iter().fold(command, |command, id| {
        let name: &'static str = Box::leak(env_var(&id).into_boxed_str());
        command.mut_arg(id, |arg| arg.env(name))
    })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
    take!(
        matches,
        "plugins",
        args.plugins,
        config.plugins.clone().map(Some)
    );
    take!(
        matches,
        "data_dir",
        args.data.data_dir,
        config.data_dir.clone()
    );
    take!(matches, "source", args.source, config.source.clone());
    take!(
        matches,
        "detail_type",
        args.detail_type,
        config.detail_type.clone()
    );
    take!(
        matches,
        "default_bus",
        args.default_bus,
        config.default_bus.clone()
    );
    take!(matches, "buses", args.buses, config.buses.clone());
    take!(matches, "workers", args.workers, config.workers.map(Some));
    take!(matches, "watch", args.watch, config.watch);
    // A local output given on the command line turns the file's EventBridge off.
    if !given(matches, "output") {
        take!(
            matches,
            "eventbridge",
            args.sink.eventbridge,
            config.sink.eventbridge
        );
        take!(
            matches,
            "output",
            args.sink.output,
            config.sink.output.clone().map(Some)
        );
    }
    take!(
        matches,
        "truncate_output",
        args.sink.truncate_output,
        config.sink.truncate_output
    );
    take!(
        matches,
        "endpoint_url",
        args.sink.endpoint_url,
        config.sink.endpoint_url.clone().map(Some)
    );
    take!(
        matches,
        "region",
        args.sink.region,
        config.sink.region.clone().map(Some)
    );
    take!(
        matches,
        "attempt_timeout_ms",
        args.sink.attempt_timeout_ms,
        config.sink.attempt_timeout.map(ms)
    );
    take!(
        matches,
        "max_request_size",
        args.delivery.max_request_size,
        config.delivery.max_request_size.map(|size| match size {
            RequestSize::OneMb => RequestLimit::OneMb,
            RequestSize::TwoFiftySixKb => RequestLimit::TwoFiftySixKb,
        })
    );
    take!(
        matches,
        "linger_ms",
        args.delivery.linger_ms,
        config.delivery.linger.map(ms)
    );
    take!(
        matches,
        "retries",
        args.delivery.retries,
        config.delivery.retries
    );
    take!(
        matches,
        "retry_base_ms",
        args.delivery.retry_base_ms,
        config.delivery.retry_base.map(ms)
    );
    take!(
        matches,
        "retry_cap_ms",
        args.delivery.retry_cap_ms,
        config.delivery.retry_cap.map(ms)
    );
    take!(
        matches,
        "shutdown_timeout_ms",
        args.delivery.shutdown_timeout_ms,
        config.delivery.shutdown_timeout.map(ms)
    );
    take!(
        matches,
        "plugin_timeout_ms",
        args.plugin_timeout_ms,
        config.plugin_limits.timeout.map(ms)
    );
    take!(
        matches,
        "plugin_memory_mib",
        args.plugin_memory_mib,
        config.plugin_limits.memory_mib
    );
}

/// Sets from `config` every `serve` argument the command line left at its default.
pub(crate) fn apply_serve(config: &Config, matches: &ArgMatches, args: &mut ServeArgs) {
    take!(matches, "listen", args.listen, config.serve.listen);
    take!(
        matches,
        "authorization",
        args.authorization,
        config.serve.authorization.clone().map(Some)
    );
    take!(matches, "max_body", args.max_body, config.serve.max_body);
    take!(
        matches,
        "queue_wait_ms",
        args.queue_wait_ms,
        config.serve.queue_wait.map(ms)
    );
    take!(
        matches,
        "dedupe_window",
        args.dedupe_window,
        config.serve.dedupe_window
    );
    take!(
        matches,
        "header_timeout",
        args.header_timeout,
        config.serve.header_timeout
    );
    take!(
        matches,
        "body_timeout",
        args.body_timeout,
        config.serve.body_timeout
    );
    take!(
        matches,
        "idle_timeout",
        args.idle_timeout,
        config.serve.idle_timeout
    );
    take!(
        matches,
        "max_connections",
        args.max_connections,
        config.serve.max_connections
    );
    take!(
        matches,
        "health_connections",
        args.health_connections,
        config.serve.health_connections
    );
    take!(
        matches,
        "max_requests",
        args.max_requests,
        config.serve.max_requests
    );
    apply_host(config, matches, &mut args.host);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::FromArgMatches;

    use super::*;
    use crate::args::RunArgs;

    /// The keys the configuration file takes, dotted, as its parser reports them.
    fn file_keys() -> BTreeSet<String> {
        let expected = |section: &str| -> Vec<String> {
            let text = match section {
                "" => "no_such_key = 1\n".to_string(),
                _ => format!("[{section}]\nno_such_key = 1\n"),
            };
            let error = Config::parse(&text, Path::new("."))
                .unwrap_err()
                .to_string();
            // "unknown field `x`, expected one of `a`, `b` (line 2: `x = 1`)"
            let list = error.split("expected").nth(1).unwrap_or_default();
            let list = list.split(" (line").next().unwrap_or_default();
            list.split('`')
                .skip(1)
                .step_by(2)
                .map(|key| match section {
                    "" => key.to_string(),
                    _ => format!("{section}.{key}"),
                })
                .collect()
        };
        let sections = ["sink", "delivery", "plugin_limits", "serve"];
        let mut keys: BTreeSet<String> = expected("")
            .into_iter()
            .filter(|key| !sections.contains(&key.as_str()))
            .collect();
        for section in sections {
            let inner = expected(section);
            assert!(!inner.is_empty(), "no keys found in [{section}]");
            keys.extend(inner);
        }
        keys
    }

    #[test]
    fn every_flag_has_a_file_key_and_an_environment_variable_of_its_name() {
        let command = crate::command();
        let keys = file_keys();
        assert!(keys.len() > 30, "{keys:?}");
        let mut covered = BTreeSet::new();
        for name in ["run", "serve"] {
            for arg in command.find_subcommand(name).unwrap().get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_positional() || id == "help" {
                    continue;
                }
                assert_eq!(
                    arg.get_env().and_then(|env| env.to_str()),
                    Some(env_var(id).as_str()),
                    "`{name} --{id}`"
                );
                let Some(key) = file_key(id) else { continue };
                assert!(
                    keys.contains(&key),
                    "`{name} --{id}` has no file key `{key}`"
                );
                covered.insert(key);
            }
        }
        let missing: Vec<_> = keys.difference(&covered).collect();
        assert!(missing.is_empty(), "file keys without a flag: {missing:?}");
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let file = Config::parse(
            "source = \"from.file\"\ndetail_type = \"From file\"\nplugins = \"p\"\n\
             [delivery]\nlinger_ms = 9\nretries = 7\n[plugin_limits]\ntimeout_ms = 20\n",
            Path::new("/etc/logbridge"),
        )
        .unwrap();
        let matches = crate::command()
            .try_get_matches_from([
                "logbridge",
                "run",
                "--source",
                "from.flag",
                "--retries",
                "1",
            ])
            .unwrap();
        let matches = matches.subcommand_matches("run").unwrap();
        let mut args = RunArgs::from_arg_matches(matches).unwrap();
        apply_host(&file, matches, &mut args.host);
        let host = &args.host;
        assert_eq!(host.source, "from.flag", "the flag wins");
        assert_eq!(host.delivery.retries, 1, "the flag wins");
        assert_eq!(
            host.detail_type, "From file",
            "the file wins over the default"
        );
        assert_eq!(host.delivery.linger_ms, 9);
        assert_eq!(host.plugin_timeout_ms, 20);
        assert_eq!(
            host.plugins.as_deref(),
            Some(Path::new("/etc/logbridge/p")),
            "paths from the file's folder"
        );
        assert_eq!(host.default_bus, logbridge::DEFAULT_BUS, "the default");
        assert_eq!(host.delivery.retry_cap_ms, 5_000, "the default");
    }
}
