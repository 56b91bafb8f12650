//! A plugin's sidecar file `NAME.toml`: the `[config]` table handed to its `init`, and how
//! the host runs it — `[limits]`, `[failures]`, `[grants]` and `[projection]`.
//!
//! ```toml
//! [config]              # passed to the plugin's init, as strings
//! drop_types = "seacft,seccft"
//!
//! [limits]              # each overrides the host's default for this plugin
//! call_timeout_ms = 20
//! max_memory_mib = 64
//! recycle_after_calls = 100000
//! recycle_memory_mib = 48
//!
//! [failures]
//! on_error = "fail-event"   # or "skip": the event goes on as if the plugin were not there
//! degraded_share = 0.5      # health says `degraded` above this share of failed recent calls
//!
//! [grants]
//! read_only = { "/data" = "geoip" }   # guest path = host directory (relative: to the folder)
//!
//! [projection]
//! fields = ["data.type"]    # narrows the fields the plugin declared: it is handed only these
//!
//! [[rule]]              # a list of tables: passed to init after `[config]`, as
//! name = "failed-logins"    # `rule.0.name`, `rule.0.pattern`... (the rules plugins read them)
//! pattern = '{"detail": {"data": {"type": ["f"]}}}'
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{PluginError, Projection};

/// What a plugin's failures do to the event it failed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// The event goes to the failure log (stage `plugin`). The default.
    #[default]
    FailEvent,
    /// The failure is logged and counted, and the event goes on as if the plugin were not
    /// there: a filter keeps it, a transformer leaves it unchanged, a router has no say.
    Skip,
}

/// A directory a plugin may read, and the path it sees it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirGrant {
    /// The absolute path inside the plugin, e.g. `/data`.
    pub guest: String,
    /// The directory on the host.
    pub host: PathBuf,
}

/// How the host runs one plugin. `None` takes the host's default from
/// [`PluginLimits`](super::PluginLimits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PluginSettings {
    /// Longest one call may run.
    pub call_timeout: Option<Duration>,
    /// Most linear memory one instance may have, in bytes.
    pub max_memory_bytes: Option<usize>,
    /// An instance is replaced by a fresh one after this many calls.
    pub recycle_after_calls: Option<u64>,
    /// An instance whose memory has grown past this many bytes is replaced after the call.
    pub recycle_memory_bytes: Option<usize>,
    /// What a failure does to the event.
    pub on_error: OnError,
    /// Health reports the plugin `degraded` when more than this share of its recent calls
    /// failed, in thousandths (500 = half).
    pub degraded_permille: Option<u16>,
    /// Directories the plugin may read. Nothing else on the host is visible to it.
    pub read_only: Vec<DirGrant>,
    /// The operator's narrowing of the detail fields the plugin declared (`[projection]
    /// fields`): it is handed only these. Each must be a declared field or lie inside one.
    pub projection: Option<Vec<String>>,
}

/// A plugin's sidecar: the configuration for its `init`, and its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecar {
    /// The `[config]` table, as the key/value list `init` receives.
    pub config: Vec<(String, String)>,
    /// `[limits]`, `[failures]` and `[grants]`.
    pub settings: PluginSettings,
}

impl From<Vec<(String, String)>> for Sidecar {
    fn from(config: Vec<(String, String)>) -> Self {
        Sidecar {
            config,
            settings: PluginSettings::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSidecar {
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    failures: RawFailures,
    #[serde(default)]
    grants: RawGrants,
    projection: Option<RawProjection>,
    #[serde(default)]
    rule: Vec<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProjection {
    fields: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    call_timeout_ms: Option<u64>,
    max_memory_mib: Option<u64>,
    recycle_after_calls: Option<u64>,
    recycle_memory_mib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailures {
    #[serde(default)]
    on_error: OnError,
    degraded_share: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    read_only: toml::Table,
}

/// Reads the sidecar at `path`, if it exists. Relative grant paths are taken from the
/// sidecar's folder.
pub(crate) fn read(path: &Path) -> Result<Sidecar, PluginError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sidecar::default()),
        Err(source) => {
            return Err(PluginError::ReadFile {
                file: path.to_owned(),
                source,
            });
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|reason| PluginError::Sidecar {
        file: path.to_owned(),
        reason,
    })
}

const MIB: u64 = 1 << 20;

fn parse(text: &str, base: &Path) -> Result<Sidecar, String> {
    let raw: RawSidecar = toml::from_str(text).map_err(|e| {
        format!(
            "{}; a sidecar has the tables `[config]` (strings for init), `[limits]`, \
             `[failures]`, `[grants]` and `[projection]`",
            e.message()
        )
    })?;
    let rules = raw.rule.into_iter().enumerate().flat_map(|(n, table)| {
        table
            .into_iter()
            .map(move |(key, value)| (format!("rule.{n}.{key}"), value))
    });
    let config = raw
        .config
        .into_iter()
        .chain(rules)
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    let key = match key.strip_prefix("rule.").and_then(|r| r.split_once('.')) {
                        Some((n, field)) => format!("rule[{n}].{field}"),
                        None => format!("config.{key}"),
                    };
                    return Err(format!(
                        "`{key}` is {} but plugin config values must be strings, \
                         numbers or booleans (write a list as a comma-separated string)",
                        other.type_str()
                    ));
                }
            };
            Ok((key, text))
        })
        .collect::<Result<_, _>>()?;

    let positive = |key: &str, value: Option<u64>| match value {
        Some(0) => Err(format!("`limits.{key}` must be at least 1")),
        other => Ok(other),
    };
    let mib = |key: &str, value: Option<u64>| -> Result<Option<usize>, String> {
        positive(key, value)?
            .map(|v| {
                v.checked_mul(MIB)
                    .and_then(|b| usize::try_from(b).ok())
                    .ok_or_else(|| format!("`limits.{key}` = {v} MiB is too large"))
            })
            .transpose()
    };
    let limits = raw.limits;
    let degraded_permille = match raw.failures.degraded_share {
        None => None,
        Some(share) if (0.0..=1.0).contains(&share) => Some((share * 1000.0).round() as u16),
        Some(share) => {
            return Err(format!(
                "`failures.degraded_share` is {share}; give a share of calls between 0 and 1"
            ));
        }
    };
    let mut read_only = Vec::new();
    for (guest, host) in raw.grants.read_only {
        let toml::Value::String(host) = host else {
            return Err(format!(
                "`grants.read_only.\"{guest}\"` must be a host directory path (a string)"
            ));
        };
        if !guest.starts_with('/') {
            return Err(format!(
                "`grants.read_only`: the plugin-side path `{guest}` must be absolute, \
                 e.g. `/data`"
            ));
        }
        let host = base.join(host);
        if !host.is_dir() {
            return Err(format!(
                "`grants.read_only.\"{guest}\"`: {} is not a directory",
                host.display()
            ));
        }
        read_only.push(DirGrant { guest, host });
    }
    Ok(Sidecar {
        config,
        settings: PluginSettings {
            call_timeout: positive("call_timeout_ms", limits.call_timeout_ms)?
                .map(Duration::from_millis),
            max_memory_bytes: mib("max_memory_mib", limits.max_memory_mib)?,
            recycle_after_calls: positive("recycle_after_calls", limits.recycle_after_calls)?,
            recycle_memory_bytes: mib("recycle_memory_mib", limits.recycle_memory_mib)?,
            on_error: raw.failures.on_error,
            degraded_permille,
            read_only,
            projection: raw
                .projection
                .map(|p| Projection::new(&p.fields).map(|_| p.fields))
                .transpose()?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_here(text: &str) -> Result<Sidecar, String> {
        parse(text, Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    #[test]
    fn scalars_become_strings() {
        let sidecar = parse_here("[config]\na = \"x,y\"\nb = 3\nc = true\n").unwrap();
        assert_eq!(
            sidecar.config,
            vec![
                ("a".into(), "x,y".into()),
                ("b".into(), "3".into()),
                ("c".into(), "true".into())
            ]
        );
        assert_eq!(sidecar.settings, PluginSettings::default());
    }

    #[test]
    fn rule_tables_are_passed_on_after_the_config_numbered_in_order() {
        let sidecar = parse_here(
            "[config]\nmode = \"router\"\n[[rule]]\nname = \"a\"\npattern = '{\"source\": [\"x\"]}'\n\
             [[rule]]\nname = \"b\"\naction = \"drop\"\n",
        )
        .unwrap();
        assert_eq!(
            sidecar.config,
            vec![
                ("mode".into(), "router".into()),
                ("rule.0.name".into(), "a".into()),
                ("rule.0.pattern".into(), "{\"source\": [\"x\"]}".into()),
                ("rule.1.name".into(), "b".into()),
                ("rule.1.action".into(), "drop".into()),
            ]
        );
        let err = parse_here("[[rule]]\npattern = { source = [\"x\"] }\n").unwrap_err();
        assert!(err.contains("`rule[0].pattern` is table"), "{err}");
    }

    #[test]
    fn unknown_tables_and_nested_values_are_refused_by_name() {
        assert!(
            parse_here("[limitz]\nx = 1\n")
                .unwrap_err()
                .contains("limitz")
        );
        assert!(
            parse_here("[config]\nlist = [1]\n")
                .unwrap_err()
                .contains("`config.list` is array")
        );
        assert!(
            parse_here("[limits]\ncall_timeout = 5\n")
                .unwrap_err()
                .contains("call_timeout")
        );
    }

    #[test]
    fn a_projection_is_read_and_checked() {
        let sidecar = parse_here("[projection]\nfields = [\"data.type\", \"data.ip\"]\n").unwrap();
        let projection = sidecar.settings.projection.expect("a projection");
        assert_eq!(projection, ["data.type", "data.ip"]);
        for (text, says) in [
            (
                "[projection]\nfields = []\n",
                "`projection.fields` is empty",
            ),
            (
                "[projection]\nfields = [\"data..ip\"]\n",
                "`data..ip` is not a path",
            ),
            ("[projection]\nfield = [\"a\"]\n", "field"),
            ("[projection]\nfields = \"data.type\"\n", "sequence"),
        ] {
            let err = parse_here(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn limits_failures_and_grants_are_read() {
        let sidecar = parse_here(
            "[limits]\ncall_timeout_ms = 20\nmax_memory_mib = 8\nrecycle_after_calls = 5\n\
             recycle_memory_mib = 4\n[failures]\non_error = \"skip\"\ndegraded_share = 0.25\n\
             [grants]\nread_only = { \"/src\" = \"src\" }\n",
        )
        .unwrap();
        let settings = sidecar.settings;
        assert_eq!(settings.call_timeout, Some(Duration::from_millis(20)));
        assert_eq!(settings.max_memory_bytes, Some(8 << 20));
        assert_eq!(settings.recycle_after_calls, Some(5));
        assert_eq!(settings.recycle_memory_bytes, Some(4 << 20));
        assert_eq!(settings.on_error, OnError::Skip);
        assert_eq!(settings.degraded_permille, Some(250));
        assert_eq!(settings.read_only.len(), 1);
        assert_eq!(settings.read_only[0].guest, "/src");
        assert!(settings.read_only[0].host.ends_with("src"));
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        for (text, needle) in [
            ("[limits]\ncall_timeout_ms = 0\n", "at least 1"),
            ("[failures]\non_error = \"ignore\"\n", "ignore"),
            ("[failures]\ndegraded_share = 2.0\n", "between 0 and 1"),
            (
                "[grants]\nread_only = { \"data\" = \"src\" }\n",
                "must be absolute",
            ),
            (
                "[grants]\nread_only = { \"/x\" = \"no-such-dir\" }\n",
                "not a directory",
            ),
        ] {
            let error = parse_here(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn empty_sidecar_is_empty_config() {
        assert_eq!(parse_here("").unwrap(), Sidecar::default());
    }
}
