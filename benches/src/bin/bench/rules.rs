//! The `rules` group: EventBridge event patterns compiled into one matcher, with 1, 100 and
//! 1,000 Auth0-shaped rules (type lists, `prefix` on `client_name`, `cidr` on `ip`,
//! `numeric` on `details`, `anything-but`), natively and as the `eventbridge-router`
//! plugin, beside the hand-written `30-route-by-category` router in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use event_pattern::Scratch;
use event_pattern::rules::{Role, RuleSet, envelope};
use logbridge::pipeline::{Outcome, Pipeline};
use logbridge::{Event, PluginEngine, PluginLimits, PluginSet};
use serde_json::Value;

use crate::host::tempdir;
use crate::pipeline::plugin_round;
use crate::{ROUNDS, per_event};

const COUNTS: [usize; 3] = [1, 100, 1000];

const TYPES: &[&str] = &[
    "s",
    "f",
    "fp",
    "fu",
    "ss",
    "fs",
    "seacft",
    "seccft",
    "sertft",
    "sapi",
    "fapi",
    "slo",
    "scp",
    "fcp",
    "limit_wc",
    "pwd_leak",
    "gd_auth_failed",
    "mgmt_api_read",
    "sv",
    "fv",
];
const APPS: &[&str] = &[
    "Storefront",
    "Back Office",
    "Partner Portal",
    "Mobile",
    "Support",
];
const CONNECTIONS: &[&str] = &["Username-Password-Authentication", "google-oauth2", "sms"];

/// Rule `i` of a generated tenant's rule set: rule 0 sends security events to `security`;
/// the others each combine a type list, a prefix, a CIDR block, a numeric range or an
/// `anything-but` with a condition of their own, as real rule sets do.
fn rule(i: usize) -> (String, String) {
    let t = |k: usize| TYPES[(i * 7 + k * 3) % TYPES.len()];
    let pattern = match i % 5 {
        _ if i == 0 => format!(
            r#"{{"detail": {{"data": {{"type": {}}}}}}}"#,
            serde_json::to_string(auth0_rules::SECURITY_TYPES).expect("a list of strings")
        ),
        0 => format!(
            r#"{{"detail": {{"data": {{"type": ["{}", "{}", "{}"], "client_name": [{{"prefix": "{}-{i}"}}]}}}}}}"#,
            t(0),
            t(1),
            t(2),
            APPS[i % APPS.len()]
        ),
        1 => format!(
            r#"{{"detail": {{"data": {{"client_name": [{{"prefix": "{}"}}], "ip": [{{"cidr": "10.{}.{}.0/24"}}]}}}}}}"#,
            &APPS[i % APPS.len()][..4],
            i / 256,
            i % 256
        ),
        2 => format!(
            r#"{{"detail": {{"data": {{"ip": [{{"cidr": "198.51.{}.0/24"}}], "details": {{"stats": {{"loginsCount": [{{"numeric": [">=", {}, "<", {}]}}]}}}}}}}}}}"#,
            i % 256,
            i,
            i + 3
        ),
        3 => format!(
            r#"{{"detail": {{"data": {{"type": ["{}"], "details": {{"stats": {{"loginsCount": [{{"numeric": [">", {}.5, "<=", {}]}}]}}}}}}}}}}"#,
            t(0),
            i * 2,
            i * 2 + 4
        ),
        _ => format!(
            r#"{{"detail": {{"data": {{"connection": [{{"anything-but": ["{}"]}}], "user_id": [{{"prefix": "auth0|{i:04}"}}]}}}}}}"#,
            CONNECTIONS[i % CONNECTIONS.len()]
        ),
    };
    let bus = if i == 0 {
        "security".to_string()
    } else {
        format!("bus-{i}")
    };
    (pattern, bus)
}

/// A `[projection]` of the detail fields the generated rules read.
const PROJECTION: &str = "[projection]\nfields = [\"data.type\", \"data.client_name\", \"data.ip\", \
    \"data.details.stats.loginsCount\", \"data.connection\", \"data.user_id\"]\n";

/// The sidecar of an `eventbridge-router` with `n` generated rules.
fn sidecar(n: usize) -> String {
    (0..n)
        .map(|i| {
            let (pattern, bus) = rule(i);
            format!("[[rule]]\nname = \"rule-{i}\"\npattern = '''{pattern}'''\nbus = \"{bus}\"\n\n")
        })
        .collect()
}

/// The event as the rules see it.
fn seen(event: &Event) -> Result<Value> {
    Ok(envelope(
        &event.source,
        &event.detail_type,
        &event.time,
        &event.resources,
        serde_json::from_str(&event.detail)?,
    ))
}

/// A plugins folder holding only `wasm` (as `30-NAME.wasm`) with `sidecar`.
fn single(name: &str, wasm: &Path, sidecar: Option<&str>) -> Result<PathBuf> {
    let dir = tempdir(&format!("rules-{name}"))?;
    std::fs::copy(wasm, dir.join(format!("30-{name}.wasm")))
        .with_context(|| format!("copying {}", wasm.display()))?;
    if let Some(text) = sidecar {
        std::fs::write(dir.join(format!("30-{name}.toml")), text)?;
    }
    Ok(dir)
}

pub(crate) fn rules(plugins: &Path, events: &[Event]) -> Result<()> {
    let n = events.len();
    let envelopes: Vec<Value> = events.iter().map(seen).collect::<Result<_>>()?;
    let sets: Vec<RuleSet> = COUNTS
        .iter()
        .map(|&count| {
            let config: Vec<(String, String)> = (0..count)
                .flat_map(|i| {
                    let (pattern, bus) = rule(i);
                    [
                        (format!("rule.{i}.name"), format!("rule-{i}")),
                        (format!("rule.{i}.pattern"), pattern),
                        (format!("rule.{i}.bus"), bus),
                    ]
                })
                .collect();
            RuleSet::from_config(&config, Role::Router).map_err(anyhow::Error::msg)
        })
        .collect::<Result<_>>()?;
    // The matcher alone (events already parsed, whole), and with reading the detail as
    // the plugin does for every event (only the members the rules look at are built).
    let matcher_round = |set: &RuleSet, parse: bool| -> Result<(Duration, usize)> {
        let mut scratch = Scratch::default();
        let mut buses = Vec::new();
        let mut matched = 0;
        let started = Instant::now();
        for (event, value) in events.iter().zip(&envelopes) {
            if parse {
                let detail = set.parse_detail(&event.detail)?;
                let value = envelope(
                    &event.source,
                    &event.detail_type,
                    &event.time,
                    &event.resources,
                    detail,
                );
                set.buses(&value, &mut scratch, &mut buses);
            } else {
                set.buses(value, &mut scratch, &mut buses);
            }
            matched += buses.len();
            std::hint::black_box(&buses);
        }
        Ok((started.elapsed(), matched))
    };

    let stock = plugins
        .parent()
        .context("the plugins folder's parent")?
        .join("stock");
    let engine = PluginEngine::new(PluginLimits::default())?;
    let hand_written = Arc::new(PluginSet::load_dir(
        &engine,
        &single(
            "route-by-category",
            &plugins.join("30-route-by-category.wasm"),
            std::fs::read_to_string(plugins.join("30-route-by-category.toml"))
                .ok()
                .as_deref(),
        )?,
    )?);
    let router_sets: Vec<Arc<PluginSet>> = COUNTS
        .iter()
        .map(|&count| {
            let dir = single(
                &format!("eventbridge-router-{count}"),
                &stock.join("eventbridge-router.wasm"),
                Some(&sidecar(count)),
            )?;
            Ok(Arc::new(PluginSet::load_dir(&engine, &dir)?))
        })
        .collect::<Result<_>>()?;

    // The same 1,000 rules with the sidecar declaring the fields they read: the host
    // hands the plugin only those, as it does for the hand-written router.
    let projected = Arc::new(PluginSet::load_dir(
        &engine,
        &single(
            "eventbridge-router-projected",
            &stock.join("eventbridge-router.wasm"),
            Some(&format!("{}{PROJECTION}", sidecar(1000))),
        )?,
    )?);
    let mut projected_best = Duration::MAX;
    let mut only = [Duration::MAX; 3];
    let mut parsed = [Duration::MAX; 3];
    let mut plugin = [Duration::MAX; 3];
    let mut hand = Duration::MAX;
    let mut matches = [0; 3];
    for _ in 0..ROUNDS + 1 {
        for k in 0..COUNTS.len() {
            let (time, m) = matcher_round(&sets[k], false)?;
            only[k] = only[k].min(time);
            matches[k] = m;
            parsed[k] = parsed[k].min(matcher_round(&sets[k], true)?.0);
            plugin[k] = plugin[k].min(plugin_round(&router_sets[k], events)?.0);
        }
        hand = hand.min(plugin_round(&hand_written, events)?.0);
        projected_best = projected_best.min(plugin_round(&projected, events)?.0);
    }
    check_same_routes(&hand_written, &router_sets[0], events)?;

    println!(
        "rules: {n} events, one thread, best of {} rounds; Auth0-shaped EventBridge patterns \
         compiled into one matcher; ratios against 1 rule",
        ROUNDS + 1
    );
    let row = |label: String, time: Duration, base: Duration| {
        println!(
            "  {label:<42}{:>7.2} µs/event  ratio {:.2}",
            per_event(time, n),
            time.as_secs_f64() / base.as_secs_f64()
        );
    };
    for (k, count) in COUNTS.iter().enumerate() {
        row(
            format!(
                "matcher, {count} rules ({:.2} buses/event)",
                matches[k] as f64 / n as f64
            ),
            only[k],
            only[0],
        );
    }
    for (k, count) in COUNTS.iter().enumerate() {
        row(
            format!("read detail + matcher, {count} rules"),
            parsed[k],
            parsed[0],
        );
    }
    for (k, count) in COUNTS.iter().enumerate() {
        row(
            format!("eventbridge-router plugin, {count} rules"),
            plugin[k],
            plugin[0],
        );
    }
    row(
        "eventbridge-router, 1000 rules, projected".into(),
        projected_best,
        plugin[0],
    );
    row(
        "30-route-by-category (hand-written)".into(),
        hand,
        plugin[0],
    );
    println!(
        "  (the last two against the rules plugin with 1 rule; `projected`: the sidecar's \
         [projection] lists the fields the rules read)"
    );
    Ok(())
}

/// The rules router with rule 0 alone and the hand-written router agree on the security
/// bus for every event (the benchmark compares like with like).
fn check_same_routes(
    hand: &Arc<PluginSet>,
    rules: &Arc<PluginSet>,
    events: &[Event],
) -> Result<()> {
    let mut a = Pipeline::new(Arc::clone(hand), "default");
    let mut b = Pipeline::new(Arc::clone(rules), "default");
    for event in events {
        let security = |outcome: Outcome| -> Result<bool> {
            match outcome {
                Outcome::Routed { entries, .. } => Ok(entries.iter().any(|e| e.bus == "security")),
                Outcome::Filtered { .. } => Ok(false),
                Outcome::Failed(f) => bail!("{} failed: {}", f.plugin, f.reason),
            }
        };
        if security(a.run(event.clone()))? != security(b.run(event.clone()))? {
            bail!(
                "the routers disagree on {} about the security bus",
                event.id
            );
        }
    }
    Ok(())
}
