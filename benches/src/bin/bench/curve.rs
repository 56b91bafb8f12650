//! The `curve` group: how the pipeline's cost grows with the number of plugins (1, 3, 10
//! and 30) and with the size of the logs (1 KB, 10 KB and 100 KB), one thread, each
//! point beside its baseline in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use logbridge::{Event, PluginEngine, PluginLimits, PluginSet};

use crate::host::tempdir;
use crate::pipeline::{one_pass_round, plugin_round};
use crate::{ROUNDS, per_event, rate};

/// A plugins folder of `count` plugins: the `10-drop-noise` filter alone for 1; the
/// three examples for 3; beyond that, copies of the filter between it and the redactor
/// (each its own plugin, called for every event the first filter keeps).
fn folder_of(plugins: &Path, count: usize) -> Result<PathBuf> {
    let dir = tempdir(&format!("curve-{count}"))?;
    let copy = |name: &str, to: &str| -> Result<()> {
        for ext in ["wasm", "toml"] {
            let from = plugins.join(format!("{name}.{ext}"));
            if from.exists() {
                std::fs::copy(&from, dir.join(format!("{to}.{ext}")))
                    .with_context(|| format!("cannot copy {}", from.display()))?;
            }
        }
        Ok(())
    };
    copy("10-drop-noise", "10-drop-noise")?;
    if count >= 3 {
        copy("20-redact", "20-redact")?;
        copy("30-route-by-category", "30-route-by-category")?;
    }
    for k in 0..count.saturating_sub(3) {
        copy("10-drop-noise", &format!("11-drop-noise-copy-{k:02}"))?;
    }
    let made = std::fs::read_dir(&dir)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .count();
    if made != count {
        bail!("expected {count} plugins in {}, made {made}", dir.display());
    }
    Ok(dir)
}

/// `events` with their detail grown to about `bytes` bytes by a string field at the end
/// of `data` (as a large request body in a log's `details` makes it), `count` of them.
fn grown(events: &[Event], bytes: usize, count: usize) -> Vec<Event> {
    const WORDS: &str = "the quick brown fox jumps over the lazy dog 0123456789 ";
    events
        .iter()
        .cycle()
        .take(count)
        .map(|event| {
            let mut event = event.clone();
            let detail = &event.detail;
            let room = bytes.saturating_sub(detail.len() + 20);
            if room > 0 && detail.ends_with("}}") {
                let mut pad = String::with_capacity(room);
                while pad.len() < room {
                    let take = WORDS.len().min(room - pad.len());
                    pad.push_str(&WORDS[..take]);
                }
                let mut out = String::with_capacity(detail.len() + room + 20);
                out.push_str(&detail[..detail.len() - 2]);
                out.push_str(",\"request_body\":\"");
                out.push_str(&pad);
                out.push_str("\"}}");
                event.detail = out;
            }
            event
        })
        .collect()
}

fn load(engine: &PluginEngine, dir: &Path) -> Result<Arc<PluginSet>> {
    Ok(Arc::new(PluginSet::load_dir(engine, dir)?))
}

pub(crate) fn curve(plugins: &Path, events: &[Event]) -> Result<()> {
    let engine = PluginEngine::new(PluginLimits::default())?;
    println!(
        "curve: the pipeline's cost by number of plugins and by log size, one thread, best \
         of {} rounds",
        ROUNDS + 1
    );
    println!(
        "  by plugins ({} events of {:.2} KB on average; ratios against 1 plugin):",
        events.len(),
        events.iter().map(|e| e.detail.len()).sum::<usize>() as f64 / events.len() as f64 / 1e3
    );
    let counts = [1, 3, 10, 30];
    let sets = counts
        .iter()
        .map(|&count| {
            let dir = folder_of(plugins, count)?;
            let set = load(&engine, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            set
        })
        .collect::<Result<Vec<_>>>()?;
    let mut best = [Duration::MAX; 4];
    for _ in 0..ROUNDS + 1 {
        for (k, set) in sets.iter().enumerate() {
            best[k] = best[k].min(plugin_round(set, events)?.0);
        }
    }
    let n = events.len();
    for (k, count) in counts.iter().enumerate() {
        let extra = if k == 0 {
            String::new()
        } else {
            format!(
                "  +{:.2} µs per plugin beyond the previous point",
                (per_event(best[k], n) - per_event(best[k - 1], n))
                    / (count - counts[k - 1]) as f64
            )
        };
        println!(
            "  {count:>2} plugins  {:>7.2} µs/event {:>8.0} events/s  ratio {:>5.2}{extra}",
            per_event(best[k], n),
            rate(best[k], n),
            best[k].as_secs_f64() / best[0].as_secs_f64()
        );
    }

    println!(
        "  by log size (the 3 example plugins against the one-pass native rules, same \
         events; ratios against 1 KB):"
    );
    let three = &sets[1];
    let sizes = [(1_000, events.len()), (10_000, 4_000), (100_000, 400)];
    let mut first = None;
    for (bytes, count) in sizes {
        let grown = grown(events, bytes, count.min(events.len()));
        let size = grown.iter().map(|e| e.detail.len()).sum::<usize>() as f64 / grown.len() as f64;
        let mut best = [Duration::MAX; 2];
        let mut routed = [0; 2];
        for _ in 0..ROUNDS + 1 {
            let (plugins, p) = plugin_round(three, &grown)?;
            let (native, o) = one_pass_round(&grown, false)?;
            best[0] = best[0].min(plugins);
            best[1] = best[1].min(native);
            routed = [p, o];
        }
        if routed[0] != routed[1] {
            bail!(
                "at {bytes} bytes the plugins routed {} and the one-pass {}",
                routed[0],
                routed[1]
            );
        }
        let n = grown.len();
        let plugins_us = per_event(best[0], n);
        let base = *first.get_or_insert(plugins_us);
        println!(
            "  {:>6.1} KB  3 plugins {:>8.2} µs/event {:>8.0} events/s {:>6.0} MB/s  ratio {:>6.2}  \
             | one-pass native {:>7.2} µs/event  plugins/native {:.2}",
            size / 1e3,
            plugins_us,
            rate(best[0], n),
            size * rate(best[0], n) / 1e6,
            plugins_us / base,
            per_event(best[1], n),
            best[0].as_secs_f64() / best[1].as_secs_f64()
        );
    }
    Ok(())
}
