//! What serde reads from a configuration file, unchecked: every key optional, unknown
//! keys refused by name.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) plugins: Option<PathBuf>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) source: Option<String>,
    pub(super) detail_type: Option<String>,
    pub(super) default_bus: Option<String>,
    pub(super) buses: Option<Vec<String>>,
    pub(super) workers: Option<usize>,
    pub(super) watch: Option<bool>,
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
    pub(super) truncate_output: Option<bool>,
    pub(super) eventbridge: Option<bool>,
    pub(super) endpoint_url: Option<String>,
    pub(super) region: Option<String>,
    pub(super) attempt_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub(super) max_request_size: Option<String>,
    pub(super) linger_ms: Option<u64>,
    pub(super) retries: Option<u32>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_cap_ms: Option<u64>,
    pub(super) shutdown_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginLimits {
    pub(super) timeout_ms: Option<u64>,
    pub(super) memory_mib: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub(super) listen: Option<String>,
    pub(super) authorization: Option<String>,
    pub(super) max_body: Option<String>,
    pub(super) queue_wait_ms: Option<u64>,
    pub(super) dedupe_window: Option<String>,
    pub(super) header_timeout: Option<String>,
    pub(super) body_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) max_connections: Option<u64>,
    pub(super) health_connections: Option<u64>,
    pub(super) max_requests: Option<u64>,
}
