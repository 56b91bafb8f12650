//! Reading a [`Config`]: a TOML file, then overrides (flags and environment variables)
//! over it, every value checked by one set of rules — those of the file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::raw::{Num, RawConfig};
use super::{Config, ConfigError, RequestSize, SettingKind, parse_duration, parse_size};
use crate::event::Envelope;

/// A value given outside the file, for the setting whose key is `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The setting's key, dotted: `delivery.linger_ms` (see [`super::SETTINGS`]).
    pub key: &'static str,
    /// The value.
    pub value: OverrideValue,
}

/// The value of an [`Override`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverrideValue {
    /// Text, read by the file's rules (`90s`, `16mb`, `4`).
    Text(String),
    /// On or off.
    Switch(bool),
    /// Several values.
    List(Vec<String>),
}

fn value(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key,
        message: message.into(),
    }
}

/// `text` turned into TOML, with what could not be read placed by its line.
fn toml_table(text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| syntax(&e, text))
        .and_then(|table| {
            // Read once as the typed shape too, for errors that point at their line.
            toml::from_str::<RawConfig>(text).map_err(|e| syntax(&e, text))?;
            Ok(table)
        })
}

fn syntax(e: &toml::de::Error, text: &str) -> ConfigError {
    let place = e
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count();
            let content = text.lines().nth(line).unwrap_or_default().trim();
            format!(" (line {}: `{content}`)", line + 1)
        })
        .unwrap_or_default();
    ConfigError::Syntax(format!("{}{place}", e.message().trim_end()))
}

/// The table under `key`'s section, made if needed, and the key's last part.
fn slot<'t>(table: &'t mut toml::Table, key: &'static str) -> (&'t mut toml::Table, &'static str) {
    match key.split_once('.') {
        Some((section, leaf)) => {
            let inner = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            // A section is always a table: the file was refused otherwise.
            let inner = inner
                .as_table_mut()
                .expect("a section of a checked configuration is a table");
            (inner, leaf)
        }
        None => (table, key),
    }
}

/// Takes every path setting in `table` from the folder `base`.
fn paths_from(table: &mut toml::Table, base: &Path) {
    for setting in super::SETTINGS
        .iter()
        .filter(|s| s.kind == SettingKind::Path)
    {
        let value = match setting.key.split_once('.') {
            Some((section, leaf)) => table
                .get_mut(section)
                .and_then(toml::Value::as_table_mut)
                .and_then(|section| section.get_mut(leaf)),
            None => table.get_mut(setting.key),
        };
        if let Some(toml::Value::String(path)) = value {
            *path = base.join(&*path).to_string_lossy().into_owned();
        }
    }
}

impl Config {
    /// Reads and checks the file at `path`; relative paths in it are taken from its
    /// folder. Errors name the file and the key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::resolve(Some(path), &[])
    }

    /// Parses and checks `text`, taking relative paths from the folder `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut table = toml_table(text)?;
        paths_from(&mut table, base);
        let config = Config::from_table(table)?;
        config.check_combination()?;
        Ok(config)
    }

    /// The configuration made of the defaults, then the file at `file` (if any), then
    /// `overrides` — flags and environment variables — each overriding what comes
    /// before. Every value is checked by the same rules wherever it comes from; an
    /// override's error names its flag and variable, a file's the file and the key.
    pub fn resolve(file: Option<&Path>, overrides: &[Override]) -> Result<Config, ConfigError> {
        let mut table = match file {
            None => toml::Table::new(),
            Some(path) => {
                let in_file = |error| ConfigError::InFile {
                    path: path.to_path_buf(),
                    error: Box::new(error),
                };
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                let mut table = toml_table(&text).map_err(in_file)?;
                paths_from(&mut table, path.parent().unwrap_or(Path::new(".")));
                // The file alone must be right, so its errors name it.
                Config::from_table(table.clone()).map_err(in_file)?;
                table
            }
        };
        for given in overrides {
            let setting = super::Setting::find(given.key).ok_or_else(|| {
                ConfigError::Syntax(format!("there is no setting `{}`", given.key))
            })?;
            let toml_value = match &given.value {
                OverrideValue::Text(text) => toml::Value::String(text.clone()),
                OverrideValue::Switch(on) => toml::Value::Boolean(*on),
                OverrideValue::List(items) => {
                    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
                }
            };
            // Checked alone first, so an error names the flag.
            let mut alone = toml::Table::new();
            let (section, leaf) = slot(&mut alone, setting.key);
            section.insert(leaf.to_string(), toml_value.clone());
            if let Err(error) = Config::from_table(alone) {
                let message = match error {
                    ConfigError::Value { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(ConfigError::Setting {
                    flag: setting.flag,
                    env: setting.env_var(),
                    message,
                });
            }
            let (section, leaf) = slot(&mut table, setting.key);
            section.insert(leaf.to_string(), toml_value);
        }
        let config = Config::from_table(table)?;
        match (config.check_combination(), file) {
            (Ok(()), _) => Ok(config),
            // The file alone is at fault: say which.
            (Err(error), Some(path)) if overrides.is_empty() => Err(ConfigError::InFile {
                path: path.to_path_buf(),
                error: Box::new(error),
            }),
            (Err(error), _) => Err(error),
        }
    }

    /// The defaults with `table`'s values over them, each value checked (but not how
    /// they go together: see [`Config::check_combination`]).
    fn from_table(table: toml::Table) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Syntax(e.message().trim_end().into()))?;
        Config::from_raw(raw)
    }

    /// The defaults with `raw`'s values over them, every value checked.
    fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let d = Config::default();
        let num = |n: Option<Num<u64>>, default: u64| n.map_or(default, |Num(n)| n);
        let ms = |n: Option<Num<u64>>, default: Duration| {
            n.map_or(default, |Num(n)| Duration::from_millis(n))
        };
        let on = |b: Option<super::raw::Switch>, default: bool| b.map_or(default, |b| b.0);
        let source = raw.source.unwrap_or_else(|| d.source.clone());
        let detail_type = raw.detail_type.unwrap_or_else(|| d.detail_type.clone());
        if let Err(e) = Envelope::new(source.clone(), d.detail_type.clone()) {
            return Err(value("source", e.to_string()));
        }
        if let Err(e) = Envelope::new(d.source.clone(), detail_type.clone()) {
            return Err(value("detail_type", e.to_string()));
        }
        if raw.serve.authorization.as_deref() == Some("") {
            return Err(value(
                "serve.authorization",
                "is empty; give the exact Authorization header value the log stream sends",
            ));
        }
        let workers = raw.workers.map(|Num(n)| n);
        if workers == Some(0) {
            return Err(value("workers", "must be at least 1"));
        }
        let durability = match raw.durability.as_deref() {
            None => d.durability,
            Some(text) => text.parse().map_err(|e: String| value("durability", e))?,
        };
        let limits = &raw.plugin_limits;
        if limits.timeout_ms == Some(Num(0)) {
            return Err(value("plugin_limits.timeout_ms", "must be at least 1"));
        }
        if limits.memory_mib == Some(Num(0)) {
            return Err(value("plugin_limits.memory_mib", "must be at least 1"));
        }
        let max_request_size = match raw.delivery.max_request_size.as_deref() {
            None => d.delivery.max_request_size,
            Some("1mb") => RequestSize::OneMb,
            Some("256kb") => RequestSize::TwoFiftySixKb,
            Some(other) => {
                return Err(value(
                    "delivery.max_request_size",
                    format!("`{other}` is not a limit EventBridge has; use \"1mb\" or \"256kb\""),
                ));
            }
        };
        let serve = &raw.serve;
        let listen = match serve.listen.as_deref() {
            None => d.serve.listen,
            Some(l) => l.parse::<SocketAddr>().map_err(|e| {
                value(
                    "serve.listen",
                    format!("`{l}` is not an address such as 127.0.0.1:8080 ({e})"),
                )
            })?,
        };
        let max_body = match serve.max_body.as_deref() {
            None => d.serve.max_body,
            Some(s) => parse_size(s).map_err(|e| value("serve.max_body", e.0))?,
        };
        let dedupe_window = match serve.dedupe_window.as_deref() {
            None => d.serve.dedupe_window,
            Some(s) => parse_duration(s).map_err(|e| value("serve.dedupe_window", e.0))?,
        };
        let timeout = |key: &'static str, text: &Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(s) => match parse_duration(s) {
                Ok(d) if d.is_zero() => Err(value(key, "must be more than zero")),
                Ok(d) => Ok(d),
                Err(e) => Err(value(key, e.0)),
            },
        };
        let header_timeout = timeout(
            "serve.header_timeout",
            &serve.header_timeout,
            d.serve.header_timeout,
        )?;
        let body_timeout = timeout(
            "serve.body_timeout",
            &serve.body_timeout,
            d.serve.body_timeout,
        )?;
        let idle_timeout = timeout(
            "serve.idle_timeout",
            &serve.idle_timeout,
            d.serve.idle_timeout,
        )?;
        let max_connections = num(serve.max_connections, d.serve.max_connections);
        if max_connections < 2 {
            return Err(value("serve.max_connections", "must be at least 2"));
        }
        let max_requests = num(serve.max_requests, d.serve.max_requests);
        if max_requests == 0 {
            return Err(value("serve.max_requests", "must be at least 1"));
        }
        let sink = &raw.sink;
        let config = Config {
            plugins: raw.plugins.or(d.plugins),
            data_dir: raw.data_dir.unwrap_or(d.data_dir),
            source,
            detail_type,
            default_bus: raw.default_bus.unwrap_or(d.default_bus),
            buses: raw.buses.unwrap_or(d.buses),
            workers: workers.or(d.workers),
            watch: on(raw.watch, d.watch),
            durability,
            sink: super::SinkConfig {
                output: sink.output.clone().or(d.sink.output),
                truncate_output: on(sink.truncate_output, d.sink.truncate_output),
                eventbridge: on(sink.eventbridge, d.sink.eventbridge),
                endpoint_url: sink.endpoint_url.clone().or(d.sink.endpoint_url),
                region: sink.region.clone().or(d.sink.region),
                attempt_timeout: ms(sink.attempt_timeout_ms, d.sink.attempt_timeout),
            },
            delivery: super::DeliverySection {
                max_request_size,
                linger: ms(raw.delivery.linger_ms, d.delivery.linger),
                retries: raw.delivery.retries.map_or(d.delivery.retries, |Num(n)| n),
                retry_base: ms(raw.delivery.retry_base_ms, d.delivery.retry_base),
                retry_cap: ms(raw.delivery.retry_cap_ms, d.delivery.retry_cap),
                shutdown_timeout: ms(
                    raw.delivery.shutdown_timeout_ms,
                    d.delivery.shutdown_timeout,
                ),
            },
            plugin_limits: super::PluginLimitsSection {
                timeout: ms(limits.timeout_ms, d.plugin_limits.timeout),
                memory_mib: limits
                    .memory_mib
                    .map_or(d.plugin_limits.memory_mib, |Num(n)| n),
            },
            serve: super::ServeSection {
                listen,
                authorization: serve.authorization.clone().or(d.serve.authorization),
                max_body,
                queue_wait: ms(serve.queue_wait_ms, d.serve.queue_wait),
                dedupe_window,
                header_timeout,
                body_timeout,
                idle_timeout,
                max_connections,
                health_connections: num(serve.health_connections, d.serve.health_connections),
                max_requests,
            },
        };
        Ok(config)
    }

    /// The checks that concern several settings at once.
    pub(crate) fn check_combination(&self) -> Result<(), ConfigError> {
        if self.sink.output.is_some() && self.sink.eventbridge {
            return Err(value(
                "sink.output",
                "a local output file and `sink.eventbridge = true` exclude each other",
            ));
        }
        if self.watch && self.plugins.is_none() {
            return Err(value(
                "watch",
                "watching needs a plugins folder: give `plugins` (--plugins DIR)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
