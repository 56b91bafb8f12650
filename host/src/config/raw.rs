//! What serde reads from a configuration file (or from flags and environment variables,
//! as text), unchecked: every key optional, unknown keys refused by name.

use std::marker::PhantomData;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A whole number, written as one (`workers = 4`) or as text (`LOGBRIDGE_WORKERS=4`, or
/// a flag): flags and environment variables are text, read by the same rules as the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Num<T>(pub(super) T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Num<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Whole<T>(PhantomData<T>);
        impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
            type Value = Num<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Num<T>, E> {
                T::try_from(n)
                    .map(Num)
                    .map_err(|_| E::custom(format!("{n} is too large")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Num<T>, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("{n} is negative; give a whole number"))),
                }
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Num<T>, E> {
                match text.trim().parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("`{text}` is not a whole number"))),
                }
            }
        }
        deserializer.deserialize_any(Whole(PhantomData))
    }
}

/// On or off, written as a boolean or as text (`true`, `false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Switch(pub(super) bool);

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnOff;
        impl Visitor<'_> for OnOff {
            type Value = Switch;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Switch, E> {
                Ok(Switch(b))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Switch, E> {
                match text.trim() {
                    "true" => Ok(Switch(true)),
                    "false" => Ok(Switch(false)),
                    _ => Err(E::custom(format!("`{text}` is not true or false"))),
                }
            }
        }
        deserializer.deserialize_any(OnOff)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) plugins: Option<PathBuf>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) source: Option<String>,
    pub(super) detail_type: Option<String>,
    pub(super) default_bus: Option<String>,
    pub(super) buses: Option<Vec<String>>,
    pub(super) workers: Option<Num<usize>>,
    pub(super) watch: Option<Switch>,
    pub(super) durability: Option<String>,
    #[serde(default)]
    pub(super) sink: RawSink,
    #[serde(default)]
    pub(super) delivery: RawDelivery,
    #[serde(default)]
    pub(super) plugin_limits: RawPluginLimits,
    #[serde(default)]
    pub(super) serve: RawServe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    pub(super) output: Option<PathBuf>,
    pub(super) truncate_output: Option<Switch>,
    pub(super) eventbridge: Option<Switch>,
    pub(super) endpoint_url: Option<String>,
    pub(super) region: Option<String>,
    pub(super) attempt_timeout_ms: Option<Num<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub(super) max_request_size: Option<String>,
    pub(super) linger_ms: Option<Num<u64>>,
    pub(super) retries: Option<Num<u32>>,
    pub(super) retry_base_ms: Option<Num<u64>>,
    pub(super) retry_cap_ms: Option<Num<u64>>,
    pub(super) shutdown_timeout_ms: Option<Num<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginLimits {
    pub(super) timeout_ms: Option<Num<u64>>,
    pub(super) memory_mib: Option<Num<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub(super) listen: Option<String>,
    pub(super) authorization: Option<String>,
    pub(super) max_body: Option<String>,
    pub(super) queue_wait_ms: Option<Num<u64>>,
    pub(super) dedupe_window: Option<String>,
    pub(super) header_timeout: Option<String>,
    pub(super) body_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) max_connections: Option<Num<u64>>,
    pub(super) health_connections: Option<Num<u64>>,
    pub(super) max_requests: Option<Num<u64>>,
}
