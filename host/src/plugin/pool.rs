//! Sizing the instance pool from the plugins a host runs.
//!
//! wasmtime's pooling allocator is sized when the engine is built, before any plugin is
//! compiled against it, so a host counts the plugin files first: every worker holds an
//! instance of every plugin, and while a reload is under way workers move from the old
//! set to the new one, so the pool holds two sets' worth per worker, with room for the
//! instance loading makes to check each plugin. A reload that brings more plugins than
//! that builds a larger engine and compiles the whole set for it
//! ([`reload_dir_for`](super::reload::reload_dir_for)).

use super::{PluginEngine, PluginError, PluginLimits};

/// Room for the instances made outside the workers: the one loading makes to check a
/// plugin, and a replacement being made while a worn-out one is dropped.
const ROOM: usize = 8;

/// Instances a host with `workers` workers needs for `plugins` plugins.
pub(crate) fn instances_for(workers: usize, plugins: usize) -> u32 {
    let needed = workers
        .max(1)
        .saturating_mul(plugins)
        .saturating_mul(2)
        .saturating_add(ROOM);
    u32::try_from(needed).unwrap_or(u32::MAX)
}

/// `limits` with a pool of at least `instances`: a larger `max_instances` set by the
/// embedder stays.
pub(crate) fn limits_holding(limits: PluginLimits, instances: u32) -> PluginLimits {
    PluginLimits {
        max_instances: limits.max_instances.max(instances),
        ..limits
    }
}

/// `engine` when its pool holds `instances`; otherwise a new engine like it (same
/// limits, same compiled-plugin cache) with a pool that does.
pub(crate) fn engine_holding(
    engine: &PluginEngine,
    instances: u32,
) -> Result<PluginEngine, PluginError> {
    if engine.limits().max_instances >= instances {
        return Ok(engine.clone());
    }
    tracing::info!(
        from = engine.limits().max_instances,
        to = instances,
        "the plugins no longer fit the instance pool; moving them to a larger one"
    );
    let grown =
        PluginEngine::new(limits_holding(engine.limits(), instances))?.with_tiering_of(engine);
    Ok(match engine.cache() {
        Some(cache) => grown.with_cache(cache.dir()),
        None => grown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_two_sets_per_worker_and_room_for_loading() {
        assert_eq!(instances_for(4, 80), 4 * 80 * 2 + 8);
        assert_eq!(instances_for(0, 3), 3 * 2 + 8, "at least one worker");
        assert_eq!(instances_for(usize::MAX, 2), u32::MAX);
    }

    #[test]
    fn an_embedders_larger_pool_is_kept() {
        let limits = PluginLimits {
            max_instances: 1000,
            ..PluginLimits::default()
        };
        assert_eq!(limits_holding(limits, 40).max_instances, 1000);
        assert_eq!(limits_holding(limits, 4000).max_instances, 4000);
    }
}
