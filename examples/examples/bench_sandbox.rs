//! Benchmark (not a test): what the call deadline costs. The example pipeline runs the
//! same generated logs on one thread, with epoch interruption on and off, alternating
//! rounds in one process; the best round of each is reported and their ratio.
//!
//! Run: `scripts/build-plugins.sh target/example && python3 ../shared/data/gen_auth0_logs.py
//! -n 20000 --seed 7 > target/example/logs.ndjson && cargo run -p logbridge-examples
//! --example bench_sandbox -- target/example/plugins target/example/logs.ndjson`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use logbridge::pipeline::{Outcome, Pipeline};
use logbridge::{Envelope, Event, PluginEngine, PluginLimits, PluginSet};

const ROUNDS: usize = 5;

fn round(set: &Arc<PluginSet>, events: &[Event]) -> Result<Duration> {
    let mut pipeline = Pipeline::new(Arc::clone(set), "default");
    let started = Instant::now();
    for event in events {
        if let Outcome::Failed(failure) = pipeline.run(event.clone()) {
            anyhow::bail!("{} failed: {}", failure.plugin, failure.reason);
        }
    }
    Ok(started.elapsed())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_sandbox PLUGINS_DIR LOGS.ndjson";
    let plugins = PathBuf::from(args.next().context(usage)?);
    let logs = PathBuf::from(args.next().context(usage)?);
    let envelope = Envelope::default();
    let events: Vec<Event> = std::fs::read_to_string(&logs)
        .with_context(|| format!("cannot read {}", logs.display()))?
        .lines()
        .map(|line| envelope.auth0_event(line))
        .collect::<Result<_, _>>()?;

    let set = |deadlines: bool| -> Result<Arc<PluginSet>> {
        let engine = PluginEngine::new(PluginLimits {
            deadlines,
            ..PluginLimits::default()
        })?;
        Ok(Arc::new(PluginSet::load_dir(&engine, &plugins)?))
    };
    let with = set(true)?;
    let without = set(false)?;
    // One warm-up round each, then alternate so drift hits both alike.
    round(&with, &events)?;
    round(&without, &events)?;
    let (mut best_with, mut best_without) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_with = best_with.min(round(&with, &events)?);
        best_without = best_without.min(round(&without, &events)?);
    }
    let rate = |d: Duration| events.len() as f64 / d.as_secs_f64();
    println!(
        "example pipeline, {} events, one thread, best of {ROUNDS}: with deadlines {:.0} events/s, \
         without {:.0} events/s; deadlines cost {:.1}% (ratio {:.3})",
        events.len(),
        rate(best_with),
        rate(best_without),
        (best_with.as_secs_f64() / best_without.as_secs_f64() - 1.0) * 100.0,
        best_with.as_secs_f64() / best_without.as_secs_f64(),
    );
    Ok(())
}
