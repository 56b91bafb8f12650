//! The `pipeline` group: the three example plugins against the same rules natively,
//! one thread.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use auth0_rules::Category;
use logbridge::pipeline::{Outcome, Pipeline};
use logbridge::{Event, PluginEngine, PluginLimits, PluginSet};

use crate::{ROUNDS, per_event, rate};

/// The example pipeline's three steps, natively: what the plugins do, without the
/// sandbox. Returns the bus, or `None` when the event is filtered.
pub(crate) fn native(
    event: &mut Event,
    drop: &std::collections::HashSet<String>,
) -> Result<Option<&'static str>> {
    if let Some(code) = auth0_rules::log_type(&event.detail)
        && drop.contains(code.as_ref())
    {
        return Ok(None);
    }
    let redacted = auth0_rules::redact(&event.detail).map_err(anyhow::Error::msg)?;
    if let Some(detail) = redacted.detail {
        event.detail = detail;
    }
    let code = auth0_rules::log_type(&event.detail).unwrap_or_default();
    Ok(Some(match auth0_rules::category(&code) {
        Category::Security => "security",
        Category::Audit => "audit",
        Category::Other => "default",
    }))
}

/// The native steps over `events`; with `check`, each routed entry is also checked as
/// the host checks every entry it did not check itself before `PutEvents` (the plugin
/// pipeline's scan does that check on the way).
pub(crate) fn native_round(events: &[Event], check: bool) -> Result<(Duration, usize)> {
    let drop = auth0_rules::DEFAULT_DROP_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    let mut routed = 0;
    let started = Instant::now();
    for event in events {
        let mut event = event.clone();
        if native(&mut event, &drop)?.is_some() {
            if check {
                logbridge::delivery::validate(&event)?;
            }
            routed += 1;
        }
        std::hint::black_box(&event);
    }
    Ok((started.elapsed(), routed))
}

pub(crate) fn plugin_round(set: &Arc<PluginSet>, events: &[Event]) -> Result<(Duration, usize)> {
    let mut pipeline = Pipeline::new(Arc::clone(set), "default");
    // Instances are made on first use; that is start-up, not per-event cost.
    pipeline.run(events[0].clone());
    let mut routed = 0;
    let started = Instant::now();
    for event in events {
        match pipeline.run(event.clone()) {
            Outcome::Routed { entries, .. } => {
                routed += 1;
                std::hint::black_box(&entries);
            }
            Outcome::Filtered { .. } => {}
            Outcome::Failed(failure) => bail!("{} failed: {}", failure.plugin, failure.reason),
        }
    }
    Ok((started.elapsed(), routed))
}

pub(crate) fn clone_round(events: &[Event]) -> Duration {
    let started = Instant::now();
    for event in events {
        std::hint::black_box(event.clone());
    }
    started.elapsed()
}

pub(crate) fn pipeline(plugins: &Path, events: &[Event]) -> Result<()> {
    let set = |deadlines: bool| -> Result<Arc<PluginSet>> {
        let engine = PluginEngine::new(PluginLimits {
            deadlines,
            ..PluginLimits::default()
        })?;
        Ok(Arc::new(PluginSet::load_dir(&engine, plugins)?))
    };
    let with = set(true)?;
    let without = set(false)?;
    let mut best = [Duration::MAX; 5];
    let mut routed = [0; 4];
    for _ in 0..ROUNDS + 1 {
        let (native, n) = native_round(events, false)?;
        let (checked, c) = native_round(events, true)?;
        let (plugins, p) = plugin_round(&with, events)?;
        let (unguarded, u) = plugin_round(&without, events)?;
        best[0] = best[0].min(native);
        best[1] = best[1].min(checked);
        best[2] = best[2].min(plugins);
        best[3] = best[3].min(unguarded);
        best[4] = best[4].min(clone_round(events));
        routed = [n, c, p, u];
    }
    if routed.iter().any(|&r| r != routed[0]) {
        bail!("native and plugin pipelines disagree: routed {routed:?}");
    }
    let n = events.len();
    println!(
        "pipeline: {n} events ({} routed), one thread, best of {} rounds; ratios against the \
         native rules",
        routed[0],
        ROUNDS + 1
    );
    println!(
        "  native rules                  {:>6.2} µs/event {:>8.0} events/s  (baseline)",
        per_event(best[0], n),
        rate(best[0], n)
    );
    for (label, time) in [
        ("native rules + entry check    ", best[1]),
        ("3 plugins                     ", best[2]),
        ("3 plugins, no call deadline   ", best[3]),
    ] {
        println!(
            "  {label}{:>6.2} µs/event {:>8.0} events/s  ratio {:.2}",
            per_event(time, n),
            rate(time, n),
            time.as_secs_f64() / best[0].as_secs_f64()
        );
    }
    println!(
        "  3 plugins against native rules + entry check: ratio {:.2}",
        best[2].as_secs_f64() / best[1].as_secs_f64()
    );
    println!(
        "  (every row includes cloning the event: {:.2} µs/event)",
        per_event(best[4], n)
    );
    Ok(())
}
