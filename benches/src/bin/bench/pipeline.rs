//! The `pipeline` group: the three example plugins against the same rules natively,
//! one thread — as the three rule functions (each parses the detail again) and as one
//! native pass (one typed, borrowing parse; the masks spliced into the original text).
//! The goal's ratio (plugins against the one native pass) is also measured paired, slice
//! by slice, so that it holds still on a machine whose speed changes under it.

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
    Ok(Some(bus_of(&code)))
}

/// The fields of an Auth0 record the three rules read, borrowed from the detail.
#[derive(serde::Deserialize)]
struct Picked<'a> {
    #[serde(borrow)]
    data: PickedData<'a>,
}

#[derive(serde::Deserialize)]
struct PickedData<'a> {
    #[serde(rename = "type", borrow, default)]
    code: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    user_name: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    ip: Option<&'a serde_json::value::RawValue>,
}

/// The example pipeline's three rules as one native pass: one typed, borrowing parse
/// picks `data.type`, `data.user_name` and `data.ip`; the type decides the filter and the
/// bus, and the masks are spliced into the original text. What the plain path does not
/// take (escaped strings, an `ip` that must be removed, a detail that is not a plain
/// record) goes to the rule functions, as the redactor does. Returns the bus, or `None`
/// when the event is filtered.
pub(crate) fn one_pass(event: &mut Event, drop: &[&str]) -> Result<Option<&'static str>> {
    let Ok(picked) = serde_json::from_str::<Picked>(&event.detail) else {
        return native_rules_of(event, drop);
    };
    let code = picked.data.code.as_deref().unwrap_or_default();
    if picked.data.code.is_some() && drop.contains(&code) {
        return Ok(None);
    }
    let bus = bus_of(code);
    let detail = &event.detail;
    let span = |raw: &serde_json::value::RawValue| {
        let start = raw.get().as_ptr() as usize - detail.as_ptr() as usize;
        start..start + raw.get().len()
    };
    /// The text of a JSON string with no escapes in it, or `None`.
    fn plain(raw: &serde_json::value::RawValue) -> Option<&str> {
        let text = raw.get();
        let inner = text.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.contains(['"', '\\'])).then_some(inner)
    }
    let mut edits: [(std::ops::Range<usize>, String); 2] = Default::default();
    let mut n = 0;
    if let Some(raw) = picked.data.user_name {
        match plain(raw) {
            Some(name) => {
                if let Some(masked) = auth0_rules::mask_email(name) {
                    edits[n] = (span(raw), format!("\"{masked}\""));
                    n += 1;
                }
            }
            None if raw.get().starts_with('"') => return native_rules_of(event, drop),
            None => {}
        }
    }
    if let Some(raw) = picked.data.ip {
        match plain(raw).and_then(auth0_rules::mask_ip) {
            Some(masked) => {
                edits[n] = (span(raw), format!("\"{masked}\""));
                n += 1;
            }
            // Not an IP, or not a string: the member is removed; the rare path.
            None if raw.get() != "null" => return native_rules_of(event, drop),
            None => {}
        }
    }
    if n > 0 {
        let edits = &mut edits[..n];
        edits.sort_by_key(|(range, _)| range.start);
        let mut out = String::with_capacity(detail.len());
        let mut at = 0;
        for (range, text) in edits.iter() {
            out.push_str(&detail[at..range.start]);
            out.push_str(text);
            at = range.end;
        }
        out.push_str(&detail[at..]);
        event.detail = out;
    }
    Ok(Some(bus))
}

fn bus_of(code: &str) -> &'static str {
    match auth0_rules::category(code) {
        Category::Security => "security",
        Category::Audit => "audit",
        Category::Other => "default",
    }
}

/// [`native`] for the details [`one_pass`] leaves to the rule functions.
fn native_rules_of(event: &mut Event, drop: &[&str]) -> Result<Option<&'static str>> {
    let drop = drop.iter().map(|t| t.to_string()).collect();
    native(event, &drop)
}

/// [`one_pass`] over `events`, with or without the entry check (see [`native_round`]).
pub(crate) fn one_pass_round(events: &[Event], check: bool) -> Result<(Duration, usize)> {
    let drop = auth0_rules::DEFAULT_DROP_TYPES;
    round(events, check, |event| one_pass(event, drop))
}

/// Times `steps` over a copy of each of `events`; with `check`, each routed entry is
/// also checked as the host checks it before `PutEvents`. Returns the time and how many
/// were routed.
fn round(
    events: &[Event],
    check: bool,
    mut steps: impl FnMut(&mut Event) -> Result<Option<&'static str>>,
) -> Result<(Duration, usize)> {
    let mut routed = 0;
    let started = Instant::now();
    for event in events {
        let mut event = event.clone();
        if steps(&mut event)?.is_some() {
            if check {
                logbridge::delivery::validate(&event)?;
            }
            routed += 1;
        }
        std::hint::black_box(&event);
    }
    Ok((started.elapsed(), routed))
}

/// Checks, before anything is timed, that the one native pass makes of every event what
/// the three rule functions make of it: the same bus (or none) and the same detail.
fn one_pass_agrees(events: &[Event]) -> Result<()> {
    let drop: std::collections::HashSet<String> = auth0_rules::DEFAULT_DROP_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    for event in events {
        let (mut a, mut b) = (event.clone(), event.clone());
        let (bus_a, bus_b) = (
            native(&mut a, &drop)?,
            one_pass(&mut b, auth0_rules::DEFAULT_DROP_TYPES)?,
        );
        if bus_a != bus_b || (bus_a.is_some() && a.detail != b.detail) {
            bail!(
                "the one-pass baseline disagrees with the rule functions on event {}: \
                 {bus_a:?} {:?} against {bus_b:?} {:?}",
                event.id,
                a.detail,
                b.detail
            );
        }
    }
    Ok(())
}

/// The native steps over `events`; with `check`, each routed entry is also checked as
/// the host checks every entry it did not check itself before `PutEvents` (the plugin
/// pipeline's scan does that check on the way).
pub(crate) fn native_round(events: &[Event], check: bool) -> Result<(Duration, usize)> {
    let drop = auth0_rules::DEFAULT_DROP_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    round(events, check, |event| native(event, &drop))
}

/// Times the plugins of `set` over `events` on a warm pipeline; returns the time and how
/// many were routed.
pub(crate) fn plugin_round(set: &Arc<PluginSet>, events: &[Event]) -> Result<(Duration, usize)> {
    run_plugins(&mut warm_pipeline(set, events), events)
}

/// A pipeline over `set` that has run the first of `events` once: instances are made on
/// first use, which is start-up, not per-event cost.
fn warm_pipeline(set: &Arc<PluginSet>, events: &[Event]) -> Pipeline {
    let mut pipeline = Pipeline::new(Arc::clone(set), "default");
    pipeline.run(events[0].clone());
    pipeline
}

/// Times `pipeline` over a copy of each of `events`; returns the time and how many were
/// routed.
fn run_plugins(pipeline: &mut Pipeline, events: &[Event]) -> Result<(Duration, usize)> {
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

/// Events per slice of [`paired_ratios`]: tens of milliseconds of work each way. Shorter
/// slices cost the plugins their warm caches at every turn (2,000 events: 0.05–0.1 more
/// on the ratio).
const SLICE: usize = 10_000;

/// Rounds of [`paired_ratios`].
const PAIRED_ROUNDS: usize = 9;

/// The plugins (with call deadlines) against the one native pass, timed slice by slice:
/// each slice of [`SLICE`] events runs once each way, in turn (which goes first
/// alternates), so a slowdown of the machine that lasts longer than a slice —
/// another tenant of a shared host — weighs on both sides alike instead of on whichever
/// round it fell in. Returns each round's ratio of the two totals, sorted.
fn paired_ratios(set: &Arc<PluginSet>, events: &[Event]) -> Result<Vec<f64>> {
    let mut pipeline = warm_pipeline(set, events);
    let drop = auth0_rules::DEFAULT_DROP_TYPES;
    let mut ratios = Vec::with_capacity(PAIRED_ROUNDS);
    for _ in 0..PAIRED_ROUNDS {
        let (mut native, mut plugins) = (Duration::ZERO, Duration::ZERO);
        for (k, slice) in events.chunks(SLICE).enumerate() {
            let one = || round(slice, false, |event| one_pass(event, drop));
            let ((n, a), (p, b)) = if k % 2 == 0 {
                let one = one()?;
                (one, run_plugins(&mut pipeline, slice)?)
            } else {
                let plugins = run_plugins(&mut pipeline, slice)?;
                (one()?, plugins)
            };
            if a != b {
                bail!("native and plugin pipelines disagree: routed {a} and {b} of a slice");
            }
            native += n;
            plugins += p;
        }
        ratios.push(plugins.as_secs_f64() / native.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    Ok(ratios)
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
    one_pass_agrees(events)?;
    let with = set(true)?;
    let without = set(false)?;
    let mut best = [Duration::MAX; 7];
    let mut routed = [0; 6];
    for _ in 0..ROUNDS + 1 {
        let (native, n) = native_round(events, false)?;
        let (checked, c) = native_round(events, true)?;
        let (plugins, p) = plugin_round(&with, events)?;
        let (unguarded, u) = plugin_round(&without, events)?;
        let (one, o) = one_pass_round(events, false)?;
        let (one_checked, oc) = one_pass_round(events, true)?;
        best[0] = best[0].min(native);
        best[1] = best[1].min(checked);
        best[2] = best[2].min(plugins);
        best[3] = best[3].min(unguarded);
        best[4] = best[4].min(clone_round(events));
        best[5] = best[5].min(one);
        best[6] = best[6].min(one_checked);
        routed = [n, c, p, u, o, oc];
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
    table(
        n,
        ("native rules                  ", best[0]),
        &[
            ("native rules + entry check    ", best[1]),
            ("3 plugins                     ", best[2]),
            ("3 plugins, no call deadline   ", best[3]),
        ],
    );
    println!(
        "  3 plugins against native rules + entry check: ratio {:.2}",
        best[2].as_secs_f64() / best[1].as_secs_f64()
    );
    println!("  the same rules as one native pass (one parse; ratios against it):");
    table(
        n,
        ("one-pass native               ", best[5]),
        &[
            ("one-pass native + entry check ", best[6]),
            ("native rules (three parses)   ", best[0]),
            ("3 plugins                     ", best[2]),
            ("3 plugins, no call deadline   ", best[3]),
        ],
    );
    let ratio = best[2].as_secs_f64() / best[5].as_secs_f64();
    println!("  3 plugins against one-pass native, best rounds: ratio {ratio:.2}");
    let paired = paired_ratios(&with, events)?;
    let median = paired[paired.len() / 2];
    println!(
        "  the same, paired in slices of {SLICE} events, {PAIRED_ROUNDS} rounds: median ratio \
         {median:.2} (rounds {:.2}–{:.2})",
        paired[0],
        paired[paired.len() - 1]
    );
    println!(
        "  goal: 3 plugins within 2× the one-pass native baseline (paired median): \
         {median:.2}× — {}",
        logbridge_benches::verdict(median <= 2.0)
    );
    println!(
        "  (3 plugins against one-pass native + entry check: ratio {:.2})",
        best[2].as_secs_f64() / best[6].as_secs_f64()
    );
    println!(
        "  (every row includes cloning the event: {:.2} µs/event)",
        per_event(best[4], n)
    );
    Ok(())
}

/// Prints `baseline` and then each of `rows` with its ratio to it; `n` events each.
fn table(n: usize, baseline: (&str, Duration), rows: &[(&str, Duration)]) {
    let (label, base) = baseline;
    println!(
        "  {label}{:>6.2} µs/event {:>8.0} events/s  (baseline)",
        per_event(base, n),
        rate(base, n)
    );
    for &(label, time) in rows {
        println!(
            "  {label}{:>6.2} µs/event {:>8.0} events/s  ratio {:.2}",
            per_event(time, n),
            rate(time, n),
            time.as_secs_f64() / base.as_secs_f64()
        );
    }
}
