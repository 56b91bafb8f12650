//! A plugin's sidecar file `NAME.toml`: the `[config]` table handed to its `init`.

use std::path::Path;

use serde::Deserialize;

use super::PluginError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSidecar {
    #[serde(default)]
    config: toml::Table,
}

/// Reads the sidecar at `path`, if it exists, into the key/value list `init` receives.
/// Strings pass as they are; numbers and booleans as their TOML text.
pub(crate) fn read(path: &Path) -> Result<Vec<(String, String)>, PluginError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PluginError::ReadFile {
                file: path.to_owned(),
                source,
            });
        }
    };
    parse(&text).map_err(|reason| PluginError::Sidecar {
        file: path.to_owned(),
        reason,
    })
}

fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let raw: RawSidecar = toml::from_str(text).map_err(|e| {
        format!(
            "{}; a sidecar has one table, `[config]`, of string values",
            e.message()
        )
    })?;
    raw.config
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "`config.{key}` is {} but plugin config values must be strings, \
                         numbers or booleans (write a list as a comma-separated string)",
                        other.type_str()
                    ));
                }
            };
            Ok((key, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn scalars_become_strings() {
        let config = parse("[config]\na = \"x,y\"\nb = 3\nc = true\n").unwrap();
        assert_eq!(
            config,
            vec![
                ("a".into(), "x,y".into()),
                ("b".into(), "3".into()),
                ("c".into(), "true".into())
            ]
        );
    }

    #[test]
    fn unknown_tables_and_nested_values_are_refused_by_name() {
        assert!(parse("[limits]\nx = 1\n").unwrap_err().contains("limits"));
        assert!(
            parse("[config]\nlist = [1]\n")
                .unwrap_err()
                .contains("`config.list` is array")
        );
    }

    #[test]
    fn empty_sidecar_is_empty_config() {
        assert!(parse("").unwrap().is_empty());
    }
}
