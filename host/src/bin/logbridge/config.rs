//! The settings on the command line: each of [`logbridge::config::SETTINGS`] becomes a
//! flag with its environment variable and its default, and what a user gave (by flag or
//! variable) becomes an override of the configuration file — read and checked by the
//! library, by the file's rules.

use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};
use logbridge::config::{Config, Override, OverrideValue, SETTINGS, Scope, Setting, SettingKind};

/// Adds every setting `scope` takes to `command`, as a flag with its environment
/// variable; help shows each default, from [`Config::default`].
pub(crate) fn with_settings(command: clap::Command, scope: Scope) -> clap::Command {
    with_chosen(command, |s| s.in_scope(scope))
}

/// Adds the settings whose keys are `keys` to `command`, as [`with_settings`] does.
pub(crate) fn with_keys(command: clap::Command, keys: &[&str]) -> clap::Command {
    with_chosen(command, |s| keys.contains(&s.key))
}

fn with_chosen(mut command: clap::Command, chosen: impl Fn(&Setting) -> bool) -> clap::Command {
    let defaults = Config::default();
    for setting in SETTINGS.iter().filter(|s| chosen(s)) {
        // clap keeps names for the whole run; the list is built once per process.
        let env: &'static str = Box::leak(setting.env_var().into_boxed_str());
        let mut arg = Arg::new(setting.key)
            .long(setting.flag)
            .help(setting.help)
            .env(env);
        arg = match setting.kind {
            SettingKind::Switch => arg.action(ArgAction::SetTrue),
            SettingKind::List => arg.action(ArgAction::Append).value_delimiter(','),
            _ => match (setting.show)(&defaults) {
                Some(default) => arg
                    .action(ArgAction::Set)
                    .default_value(&*Box::leak(default.into_boxed_str())),
                None => arg.action(ArgAction::Set),
            },
        };
        if let Some(name) = setting.value_name {
            arg = arg.value_name(name);
        }
        if setting.key == "serve.authorization" {
            arg = arg.hide_env_values(true);
        }
        command = command.arg(arg);
    }
    command
}

/// What the user gave on the command line or in the environment, for `scope`'s settings.
pub(crate) fn overrides(matches: &ArgMatches, scope: Scope) -> Vec<Override> {
    chosen_overrides(matches, |s| s.in_scope(scope))
}

/// What the user gave on the command line or in the environment, for the settings whose
/// keys are `keys`.
pub(crate) fn overrides_of_keys(matches: &ArgMatches, keys: &[&str]) -> Vec<Override> {
    chosen_overrides(matches, |s| keys.contains(&s.key))
}

fn chosen_overrides(matches: &ArgMatches, chosen: impl Fn(&Setting) -> bool) -> Vec<Override> {
    SETTINGS
        .iter()
        .filter(|s| chosen(s))
        .filter(|s| {
            matches!(
                matches.value_source(s.key),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .filter_map(|s| {
            let value = match s.kind {
                SettingKind::Switch => OverrideValue::Switch(matches.get_flag(s.key)),
                SettingKind::List => {
                    OverrideValue::List(matches.get_many::<String>(s.key)?.cloned().collect())
                }
                _ => OverrideValue::Text(matches.get_one::<String>(s.key)?.clone()),
            };
            Some(Override { key: s.key, value })
        })
        .collect()
}

/// The configuration: the defaults, the file at `file`, then what `matches` gave.
pub(crate) fn resolve(
    file: Option<&Path>,
    matches: &ArgMatches,
    scope: Scope,
) -> anyhow::Result<Config> {
    Ok(Config::resolve(file, &overrides(matches, scope))?)
}

/// Asserts that `command`'s subcommand `name` takes exactly the settings `wanted` picks,
/// each with its flag and its `LOGBRIDGE_*` variable.
#[cfg(test)]
pub(crate) fn assert_takes_settings(
    command: &clap::Command,
    name: &str,
    wanted: impl Fn(&Setting) -> bool,
) {
    let sub = command
        .find_subcommand(name)
        .unwrap_or_else(|| panic!("a `{name}` subcommand"));
    let ids: std::collections::BTreeSet<&str> =
        sub.get_arguments().map(|a| a.get_id().as_str()).collect();
    for setting in SETTINGS {
        assert_eq!(
            ids.contains(setting.key),
            wanted(setting),
            "`{name}` and `{}`",
            setting.key
        );
        if let Some(arg) = sub.get_arguments().find(|a| a.get_id() == setting.key) {
            assert_eq!(arg.get_long(), Some(setting.flag));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(setting.env_var().as_str())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sub(args: &[&str]) -> ArgMatches {
        let matches = crate::command().try_get_matches_from(args).unwrap();
        matches.subcommand().unwrap().1.clone()
    }

    #[test]
    fn run_and_serve_take_every_setting_of_their_scope_with_its_variable() {
        let command = crate::command();
        for (name, scope) in [
            ("run", Scope::Host),
            ("serve", Scope::Serve),
            ("replay", Scope::Delivery),
        ] {
            assert_takes_settings(&command, name, |setting| setting.in_scope(scope));
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let dir = std::env::temp_dir().join(format!("logbridge-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("logbridge.toml");
        std::fs::write(
            &file,
            "source = \"from.file\"\ndetail_type = \"From file\"\nplugins = \"p\"\n\
             [delivery]\nlinger_ms = 9\nretries = 7\n[plugin_limits]\ntimeout_ms = 20\n",
        )
        .unwrap();
        let matches = sub(&[
            "logbridge",
            "run",
            "--source",
            "from.flag",
            "--retries",
            "1",
            "--bus",
            "a",
            "--bus",
            "b",
            "--watch",
        ]);
        let config = resolve(Some(&file), &matches, Scope::Host).unwrap();
        assert_eq!(config.source, "from.flag", "the flag wins");
        assert_eq!(config.delivery.retries, 1, "the flag wins");
        assert_eq!(
            config.detail_type, "From file",
            "the file wins over the default"
        );
        assert_eq!(config.delivery.linger, Duration::from_millis(9));
        assert_eq!(config.plugin_limits.timeout, Duration::from_millis(20));
        assert_eq!(
            config.plugins,
            Some(dir.join("p")),
            "paths from the file's folder"
        );
        assert_eq!(config.buses, ["a", "b"]);
        assert!(config.watch);
        assert_eq!(config.default_bus, logbridge::DEFAULT_BUS, "the default");
        assert_eq!(
            config.delivery.retry_cap,
            Duration::from_secs(5),
            "the default"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_flag_is_refused_by_the_files_rules_naming_the_flag() {
        let matches = sub(&["logbridge", "serve", "--max-connections", "1"]);
        let error = resolve(None, &matches, Scope::Serve).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--max-connections (or LOGBRIDGE_MAX_CONNECTIONS): must be at least 2"
        );
        let matches = sub(&["logbridge", "run", "--watch"]);
        let error = resolve(None, &matches, Scope::Host).unwrap_err();
        assert!(
            error.to_string().contains("needs a plugins folder"),
            "{error}"
        );
    }
}
