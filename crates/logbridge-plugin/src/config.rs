//! A plugin's configuration: the `[config]` pairs of its sidecar, read with errors that
//! name the key, and a check that no key was left unread (a typo in a sidecar is an error,
//! not a silent default).

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

/// What is wrong with one configuration key. Its message names the key, so an operator
/// reading it in the host's log knows which line of the sidecar to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    message: String,
}

impl ConfigError {
    /// An error about `key`: `message` says what is wrong and what to write instead.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key the error is about.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The plugin's configuration: the `[config]` table of its sidecar `NAME.toml` (and its
/// `[[rule]]` tables, as `rule.N.key`), every value a string.
///
/// Every key must be read by `init` (through any method here); a key no one read makes
/// loading fail with the list of keys the plugin knows.
#[derive(Debug)]
pub struct Config {
    pairs: Vec<(String, String)>,
    read: RefCell<Vec<String>>,
    read_all: RefCell<bool>,
}

impl Config {
    /// A configuration of `pairs`, in the sidecar's order.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Config {
            pairs,
            read: RefCell::default(),
            read_all: RefCell::new(false),
        }
    }

    fn mark(&self, key: &str) {
        let mut read = self.read.borrow_mut();
        if !read.iter().any(|k| k == key) {
            read.push(key.to_string());
        }
    }

    /// The value of `key` as written, if it is set.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.mark(key);
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` as written, or an error naming it when it is not set.
    ///
    /// # Errors
    /// `key` is not set.
    pub fn required(&self, key: &str) -> Result<&str, ConfigError> {
        self.str(key)
            .ok_or_else(|| ConfigError::new(key, "is required; set it in the sidecar's [config]"))
    }

    /// The value of `key` parsed as a `T` (a number, a `bool`, anything `FromStr`), if it
    /// is set.
    ///
    /// # Errors
    /// The value does not parse: the message quotes it and the parser's reason.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.str(key)
            .map(|value| {
                value.trim().parse().map_err(|e| {
                    ConfigError::new(
                        key,
                        format!(
                            "`{value}` is not a valid {}: {e}",
                            std::any::type_name::<T>()
                        ),
                    )
                })
            })
            .transpose()
    }

    /// The value of `key` as a comma-separated list, items trimmed and empty ones left
    /// out, if it is set.
    pub fn list(&self, key: &str) -> Option<Vec<&str>> {
        self.str(key).map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .collect()
        })
    }

    /// Every pair, in the sidecar's order; reading them all counts every key as read.
    pub fn pairs(&self) -> &[(String, String)] {
        *self.read_all.borrow_mut() = true;
        &self.pairs
    }

    /// Checks that every key was read.
    ///
    /// # Errors
    /// A key was not read: the message names it and the keys that were.
    pub fn finish(&self) -> Result<(), ConfigError> {
        if *self.read_all.borrow() {
            return Ok(());
        }
        let read = self.read.borrow();
        match self.pairs.iter().find(|(k, _)| !read.contains(k)) {
            None => Ok(()),
            Some((key, _)) => Err(ConfigError::new(
                key.as_str(),
                if read.is_empty() {
                    "is unknown; this plugin takes no configuration".to_string()
                } else {
                    format!(
                        "is unknown; this plugin reads {}",
                        read.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn values_parse_and_errors_name_the_key() {
        let c = config(&[("limit", "12"), ("ratio", "x"), ("types", " a, ,b ")]);
        assert_eq!(c.parse::<u32>("limit").unwrap(), Some(12));
        let err = c.parse::<f64>("ratio").unwrap_err();
        assert_eq!(err.key(), "ratio");
        assert!(
            err.to_string()
                .starts_with("config key `ratio`: `x` is not a valid f64")
        );
        assert_eq!(c.list("types"), Some(vec!["a", "b"]));
        assert_eq!(c.parse::<u32>("absent").unwrap(), None);
        assert!(
            c.required("needed")
                .unwrap_err()
                .to_string()
                .contains("`needed`: is required")
        );
        assert!(c.finish().is_ok());
    }

    #[test]
    fn a_key_no_one_read_is_an_error_listing_the_known_ones() {
        let c = config(&[("drop_types", "a"), ("drop_tpyes", "b")]);
        c.list("drop_types");
        let err = c.finish().unwrap_err().to_string();
        assert_eq!(
            err,
            "config key `drop_tpyes`: is unknown; this plugin reads `drop_types`"
        );
        let none = config(&[("x", "1")]);
        assert!(
            none.finish()
                .unwrap_err()
                .to_string()
                .contains("takes no configuration")
        );
        let all = config(&[("rule.0.name", "a")]);
        assert_eq!(all.pairs().len(), 1);
        assert!(all.finish().is_ok());
    }
}
