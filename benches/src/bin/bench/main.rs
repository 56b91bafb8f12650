//! Benchmark suite (not a test): every figure beside a baseline measured in the same run,
//! as a ratio.
//!
//! - `pipeline`: the three example plugins (filter, redact, route) against the very same
//!   rules (`auth0-rules`) called natively, one thread, best of several alternating rounds;
//!   also with the entry check natively and without call deadlines. The goal's ratio to
//!   the one native pass is paired: both run slice by slice in turn, so a slower spell of
//!   a shared machine weighs on both alike.
//! - `scaling`: the whole host (queue, workers, plugins, batching, delivery to a sink that
//!   only counts) with 1 and with 2 workers.
//! - `delivery`: the whole host delivering with `PutEvents` to an in-process
//!   EventBridge-compatible endpoint: events/s, and entries per `PutEvents` call, against
//!   the same run into the counting sink.
//! - `rules`: EventBridge event patterns with 1, 100 and 1,000 Auth0-shaped rules compiled
//!   into one matcher — natively, and as the `eventbridge-router` plugin — as ratios to 1
//!   rule, beside the hand-written `30-route-by-category` router.
//! - `curve`: how the pipeline's cost grows with 1, 3, 10 and 30 plugins, and with 1 KB,
//!   10 KB and 100 KB logs (against the one-pass native rules at each size), one thread.
//! - `rss`: resident memory of a host with 10 plugins, before and after events, and its
//!   peak, against the same process before any plugin was loaded. Run it alone: it reads
//!   the process's own memory figures.
//!
//! Run: `scripts/bench.sh [GROUP...]` (builds the plugins, generates the logs, runs this).
//! Directly: `cargo run -p logbridge-benches --bin bench -- PLUGINS_DIR LOGS.ndjson
//! [GROUP...]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use logbridge::{Envelope, Event};

mod curve;
mod host;
mod pipeline;
mod rss;
mod rules;

use curve::curve;
use host::{delivery, scaling};
use pipeline::pipeline;
use rss::rss;
use rules::rules;

const ROUNDS: usize = 5;

/// The allocator the `logbridge` command runs on, so the figures are the command's.
#[global_allocator]
static ALLOCATOR: logbridge::allocator::Allocator = logbridge::allocator::ALLOCATOR;

fn main() -> Result<()> {
    logbridge::allocator::configure();
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: bench PLUGINS_DIR LOGS.ndjson [pipeline|scaling|delivery|curve|rules|rss ...]";
    let plugins = PathBuf::from(args.next().context(usage)?);
    let logs = PathBuf::from(args.next().context(usage)?);
    let mut groups: Vec<String> = args.collect();
    if groups.is_empty() {
        groups = ["pipeline", "scaling", "delivery"]
            .map(String::from)
            .to_vec();
    }
    let ran = run_groups(&groups, &plugins, &logs, usage);
    let _ = std::fs::remove_dir_all(host::scratch_root());
    ran
}

/// Runs each of `groups` in turn.
fn run_groups(groups: &[String], plugins: &Path, logs: &Path, usage: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for group in groups {
        match group.as_str() {
            "pipeline" => pipeline(plugins, &read_events(logs)?)?,
            "scaling" => runtime.block_on(scaling(plugins, read_events(logs)?))?,
            "delivery" => runtime.block_on(delivery(plugins, read_events(logs)?))?,
            "curve" => curve(plugins, &read_events(logs)?)?,
            "rules" => rules(plugins, &read_events(logs)?)?,
            "rss" => runtime.block_on(rss(plugins, logs))?,
            other => bail!("unknown group `{other}`; {usage}"),
        }
    }
    Ok(())
}

/// The generated logs, mapped to events as the host's ingest does.
fn read_events(logs: &Path) -> Result<Vec<Event>> {
    let envelope = Envelope::default();
    let text =
        std::fs::read_to_string(logs).with_context(|| format!("cannot read {}", logs.display()))?;
    Ok(text
        .lines()
        .map(|line| envelope.auth0_event(line))
        .collect::<Result<_, _>>()?)
}

fn per_event(elapsed: Duration, events: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / events as f64
}

fn rate(elapsed: Duration, events: usize) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}
