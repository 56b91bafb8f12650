//! Tests of the host builder: settings that exclude each other are refused.

use super::*;
use crate::delivery::{BatchLimits, DeliveryConfig, JsonLinesSink, RetryPolicy};
use crate::plugin::{PluginEngine, PluginLimits, PluginSet};

fn refusal(builder: HostBuilder) -> String {
    match builder.build() {
        Err(Error::Conflict(why)) => why.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("built"),
    }
}

#[test]
fn setters_that_exclude_each_other_are_refused_instead_of_one_undoing_the_other() {
    let sink = || JsonLinesSink::new(std::io::sink());
    assert!(
        refusal(
            Host::builder()
                .delivery_config(DeliveryConfig::default())
                .batch_limits(BatchLimits::default())
                .sink(sink())
        )
        .contains("`delivery_config` sets the batch limits too")
    );
    // The other order too: the earlier setter would have been lost.
    assert!(
        refusal(
            Host::builder()
                .retry_policy(RetryPolicy::default())
                .delivery_config(DeliveryConfig::default())
                .sink(sink())
        )
        .contains("retry policy")
    );
    assert_eq!(
        refusal(Host::builder().sink(sink()).sink_arc(Arc::new(sink()))),
        "two sinks were given; give one"
    );
    let engine = PluginEngine::new(PluginLimits::default()).unwrap();
    assert!(
        refusal(
            Host::builder()
                .plugin_set(PluginSet::empty(&engine))
                .plugins_dir("plugins")
                .sink(sink())
        )
        .starts_with("a plugins folder and a loaded plugin set exclude each other")
    );
    assert!(
        refusal(
            Host::builder()
                .plugin_set(PluginSet::empty(&engine))
                .plugin_limits(PluginLimits::default())
                .sink(sink())
        )
        .contains("its own engine's limits")
    );
}

#[test]
fn one_setter_of_each_kind_still_builds() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = Host::builder()
            .batch_limits(BatchLimits::default())
            .retry_policy(RetryPolicy::default())
            .sink(JsonLinesSink::new(std::io::sink()))
            .workers(1)
            .build()
            .unwrap();
        host.shutdown().await.unwrap();
    });
}

#[test]
fn a_configuration_changed_after_it_was_read_is_checked_again_by_the_files_rules() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = crate::config::Config {
        watch: true,
        ..Default::default()
    };
    let refused = runtime
        .block_on(Host::from_config(&config))
        .err()
        .expect("watch without a plugins folder is refused");
    assert_eq!(
        refused.to_string(),
        "`watch`: watching needs a plugins folder: give `plugins` (--plugins DIR)"
    );
}
