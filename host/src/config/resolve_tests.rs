//! Tests of reading a configuration: the file, overrides over it, and the settings list
//! against the keys the file takes.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::SETTINGS;

fn text(key: &'static str, value: &str) -> Override {
    Override {
        key,
        value: OverrideValue::Text(value.to_string()),
    }
}

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
    assert_eq!(config.serve.max_body, 1 << 20);
    assert_eq!(config.serve.dedupe_window, Duration::from_secs(30));
    assert_eq!(config.serve.header_timeout, Duration::from_millis(1500));
    assert_eq!(config.serve.max_connections, 64);
    assert_eq!(config.delivery.linger, Duration::from_millis(7));
    assert_eq!(config.delivery.max_request_size, RequestSize::TwoFiftySixKb);
    assert_eq!(config.buses, ["a"]);
    assert!(config.sink.eventbridge);
    // What the file does not say is the default.
    let d = Config::default();
    assert_eq!(config.data_dir, d.data_dir);
    assert_eq!(config.serve.idle_timeout, d.serve.idle_timeout);
    assert_eq!(config.plugin_limits, d.plugin_limits);
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
    assert_eq!(
        refused("workers = \"two\"\n"),
        "`two` is not a whole number (line 1: `workers = \"two\"`)"
    );
    assert_eq!(
        refused("watch = true\n"),
        "`watch`: watching needs a plugins folder: give `plugins` (--plugins DIR)"
    );
}

#[test]
fn the_defaults_are_those_of_the_parts_they_configure() {
    let d = Config::default();
    assert_eq!(
        d.delivery_config(),
        crate::delivery::DeliveryConfig::default()
    );
    assert_eq!(d.plugin_limits(), crate::plugin::PluginLimits::default());
    let serve = d.serve_config();
    let default = crate::serve::ServeConfig::default();
    assert_eq!(serve.max_body_bytes, default.max_body_bytes);
    assert_eq!(serve.max_connections, default.max_connections);
    assert_eq!(serve.header_timeout, default.header_timeout);
    assert_eq!(serve.drain_timeout, d.delivery.shutdown_timeout);
    assert_eq!(d.value_text("serve.max_body").as_deref(), Some("16mb"));
    assert_eq!(d.value_text("serve.dedupe_window").as_deref(), Some("10m"));
    assert_eq!(
        d.value_text("plugin_limits.timeout_ms").as_deref(),
        Some("50")
    );
    assert_eq!(d.value_text("plugins"), None);
}

#[test]
fn overrides_win_over_the_file_and_are_checked_by_its_rules() {
    let dir = std::env::temp_dir().join(format!("logbridge-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("logbridge.toml");
    std::fs::write(
        &file,
        "source = \"from.file\"\ndetail_type = \"From file\"\nplugins = \"p\"\n\
         [delivery]\nlinger_ms = 9\nretries = 7\n[plugin_limits]\ntimeout_ms = 20\n",
    )
    .unwrap();
    let config = Config::resolve(
        Some(&file),
        &[
            text("source", "from.flag"),
            text("delivery.retries", "1"),
            text("serve.dedupe_window", "90s"),
            Override {
                key: "watch",
                value: OverrideValue::Switch(true),
            },
        ],
    )
    .unwrap();
    assert_eq!(config.source, "from.flag", "the override wins");
    assert_eq!(config.delivery.retries, 1, "the override wins");
    assert_eq!(
        config.detail_type, "From file",
        "the file wins over the default"
    );
    assert_eq!(config.delivery.linger, Duration::from_millis(9));
    assert_eq!(config.plugin_limits.timeout, Duration::from_millis(20));
    assert_eq!(config.serve.dedupe_window, Duration::from_secs(90));
    assert_eq!(
        config.plugins,
        Some(dir.join("p")),
        "paths from the file's folder"
    );
    assert!(config.watch, "watch with the file's plugins folder");
    assert_eq!(config.default_bus, crate::DEFAULT_BUS, "the default");

    let refused = |overrides: &[Override]| {
        Config::resolve(Some(&file), overrides)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused(&[text("serve.max_connections", "1")]),
        "--max-connections (or LOGBRIDGE_MAX_CONNECTIONS): must be at least 2"
    );
    assert_eq!(
        refused(&[text("workers", "many")]),
        "--workers (or LOGBRIDGE_WORKERS): `many` is not a whole number"
    );
    assert_eq!(
        refused(&[text("serve.authorization", "")]),
        "--authorization (or LOGBRIDGE_AUTHORIZATION): is empty; give the exact \
         Authorization header value the log stream sends"
    );
    assert_eq!(
        refused(&[
            text("sink.output", "out.jsonl"),
            Override {
                key: "sink.eventbridge",
                value: OverrideValue::Switch(true),
            }
        ]),
        "`sink.output`: a local output file and `sink.eventbridge = true` exclude each other"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

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
fn the_settings_list_is_exactly_the_keys_the_file_takes() {
    let keys = file_keys();
    assert!(keys.len() > 30, "{keys:?}");
    let listed: BTreeSet<String> = SETTINGS.iter().map(|s| s.key.to_string()).collect();
    assert_eq!(listed.len(), SETTINGS.len(), "a key listed twice");
    assert_eq!(listed, keys);
    let flags: BTreeSet<&str> = SETTINGS.iter().map(|s| s.flag).collect();
    assert_eq!(flags.len(), SETTINGS.len(), "a flag used twice");
    // One name: the flag is the key's last part, with `-` for `_` (and `plugin-` for
    // `[plugin_limits]`, `bus` for the list `buses`).
    for setting in SETTINGS {
        let leaf = setting.key.rsplit('.').next().unwrap().replace('_', "-");
        let expected = match setting.key {
            "buses" => "bus".to_string(),
            key if key.starts_with("plugin_limits.") => format!("plugin-{leaf}"),
            _ => leaf,
        };
        assert_eq!(setting.flag, expected, "{}", setting.key);
    }
    // Every default shown reads back as itself.
    let d = Config::default();
    for setting in SETTINGS {
        let Some(shown) = (setting.show)(&d) else {
            continue;
        };
        let value = match setting.kind {
            SettingKind::Switch => OverrideValue::Switch(shown == "true"),
            SettingKind::List => OverrideValue::List(vec![shown]),
            _ => OverrideValue::Text(shown),
        };
        let config = Config::resolve(
            None,
            &[Override {
                key: setting.key,
                value,
            }],
        )
        .unwrap_or_else(|e| panic!("{}: {e}", setting.key));
        assert_eq!(config, d, "{}", setting.key);
    }
}
