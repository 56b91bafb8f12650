//! Hot reload of the stock router's rules: a sidecar with a pattern AWS refuses is
//! refused with AWS's reason while the rules already running keep routing, and nothing is
//! lost; a valid rule set then takes over, by `Host::reload` and by the folder watcher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logbridge::{ChannelSink, Delivered, Host, ReloadOutcome};
use serde_json::json;
use tokio::sync::mpsc::Receiver;

use super::stock;

/// Rules v1: failed logins to `security`, successful ones to `audit`, anything from the
/// office network also to `office` (the union with the others).
const RULES_V1: &str = r#"
[[rule]]
name = "failed-logins"
pattern = '{"detail": {"data": {"type": ["f", "fp", "fu"]}}}'
bus = "security"

[[rule]]
name = "logins"
pattern = '{"detail": {"data": {"type": ["s"]}}}'
bus = "audit"

[[rule]]
name = "office"
pattern = '{"detail": {"data": {"ip": [{"cidr": "198.51.100.0/24"}]}}}'
bus = "office"
"#;

/// v1 with failed logins moved to `security-v2` and a rule whose pattern AWS refuses:
/// applied even in part, it would move failed logins.
const RULES_INVALID: &str = r#"
[[rule]]
name = "failed-logins"
pattern = '{"detail": {"data": {"type": ["f", "fp", "fu"]}}}'
bus = "security-v2"

[[rule]]
name = "tokens"
pattern = '{"detail": {"data": {"type": [{"prefix": 5}]}}}'
bus = "tokens"
"#;

/// What the host says of [`RULES_INVALID`]: AWS's reason for that pattern, as
/// `TestEventPattern` words it, after the rule's name.
const REFUSAL: &str = "plugin `30-eventbridge-router` refused its configuration: rule `tokens`: \
                       Event pattern is not valid. Reason: prefix match pattern must be a string";

/// Rules v2: failed logins to `security-v2`, token exchanges (`se…`) to `tokens`; the
/// `logins` and `office` rules are gone.
const RULES_V2: &str = r#"
[[rule]]
name = "failed-logins"
pattern = '{"detail": {"data": {"type": ["f", "fp", "fu"]}}}'
bus = "security-v2"

[[rule]]
name = "tokens"
pattern = '{"detail": {"data": {"type": [{"prefix": "se"}]}}}'
bus = "tokens"
"#;

/// A folder holding only the stock router, as `30-eventbridge-router`, with `rules`.
fn router_only(name: &str, rules: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rules-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        stock().join("eventbridge-router.wasm"),
        dir.join("30-eventbridge-router.wasm"),
    )
    .unwrap();
    std::fs::write(dir.join("30-eventbridge-router.toml"), rules).unwrap();
    dir
}

/// Replaces the router's sidecar the way deployments should: written beside the folder,
/// then renamed in.
fn set_rules(dir: &Path, rules: &str) {
    let staged = dir.with_extension("staged.toml");
    std::fs::write(&staged, rules).unwrap();
    std::fs::rename(&staged, dir.join("30-eventbridge-router.toml")).unwrap();
}

/// An Auth0 log `id` of type `code` from `ip`.
fn auth0_log(id: &str, code: &str, ip: &str) -> String {
    json!({"log_id": id, "date": "2026-11-25T09:00:00Z", "type": code, "ip": ip}).to_string()
}

const OFFICE: &str = "198.51.100.7";
const ELSEWHERE: &str = "203.0.113.9";

/// One round of logs, `(id, type, ip)`, each with the sorted buses it must reach.
type Round<'a> = [(&'a str, &'a str, &'a str, &'a [&'a str])];

/// Sends `round` and waits for its deliveries: every event reaches exactly its buses.
async fn send_round(host: &Host, rx: &mut Receiver<Delivered>, what: &str, round: &Round<'_>) {
    for (id, code, ip, _) in round {
        host.send_auth0(&auth0_log(id, code, ip), "rules-reload")
            .await
            .unwrap();
    }
    let expected: BTreeMap<String, Vec<String>> = round
        .iter()
        .map(|(id, _, _, buses)| {
            (
                id.to_string(),
                buses.iter().map(|b| b.to_string()).collect(),
            )
        })
        .collect();
    let total: usize = expected.values().map(Vec::len).sum();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..total {
        let delivered = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: only {seen:?} delivered within 30 s"))
            .expect("the sink is open");
        seen.entry(delivered.event.id)
            .or_default()
            .push(delivered.bus);
    }
    seen.values_mut().for_each(|buses| buses.sort());
    assert_eq!(seen, expected, "{what}");
}

/// The one failure a reload of [`RULES_INVALID`] reports, and that health keeps.
fn assert_refused(outcome: &ReloadOutcome, host: &Host, what: &str) {
    assert_eq!(outcome.failed.len(), 1, "{what}: {outcome:?}");
    let failure = &outcome.failed[0];
    assert_eq!(failure.plugin, "30-eventbridge-router", "{what}");
    assert_eq!(failure.error, REFUSAL, "{what}");
    assert!(failure.kept_previous, "{what}: the running rules stay");
    assert!(
        !outcome.changed(),
        "{what}: the running set stays: {outcome:?}"
    );
    let health = host.health();
    let last = health
        .plugin_load_errors
        .last()
        .unwrap_or_else(|| panic!("{what}: health lists the refusal"));
    assert_eq!(
        (
            last.plugin.as_str(),
            last.error.as_str(),
            last.kept_previous
        ),
        ("30-eventbridge-router", REFUSAL, true),
        "{what}"
    );
}

/// Every event accepted was delivered, to as many buses as its rules said, and no more.
async fn assert_nothing_lost(host: Host, mut rx: Receiver<Delivered>, events: u64, entries: u64) {
    let health = host.shutdown().await.unwrap();
    assert!(rx.try_recv().is_err(), "nothing delivered beyond the rules");
    assert_eq!(health.accepted, events);
    assert_eq!(health.filtered, 0);
    assert_eq!(health.failed(), 0, "{health:?}");
    assert_eq!(health.routed_events, events);
    assert_eq!(health.routed_entries, entries);
    assert_eq!(health.delivered(), entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_pattern_on_reload_is_refused_and_the_running_rules_keep_routing() {
    let dir = router_only("reload", RULES_V1);
    let (sink, mut rx) = ChannelSink::new(64);
    let host = Host::builder()
        .plugins_dir(&dir)
        .cache_dir(dir.with_extension("cache"))
        .sink(sink)
        .workers(2)
        .build()
        .expect("the host starts with rules v1");
    let v1: &Round<'_> = &[
        ("a1", "f", ELSEWHERE, &["security"]),
        ("a2", "s", ELSEWHERE, &["audit"]),
        ("a3", "fp", OFFICE, &["office", "security"]),
        ("a4", "seacft", ELSEWHERE, &["default"]),
    ];
    send_round(&host, &mut rx, "rules v1", v1).await;
    let running = host.plugins()[0].hash().to_string();

    set_rules(&dir, RULES_INVALID);
    let outcome = host.reload().await.unwrap();
    assert_refused(&outcome, &host, "reload");
    assert_eq!(host.plugins()[0].hash(), running, "v1 still runs");
    let kept: &Round<'_> = &[
        ("b1", "f", ELSEWHERE, &["security"]),
        ("b2", "s", OFFICE, &["audit", "office"]),
        ("b3", "fu", ELSEWHERE, &["security"]),
        ("b4", "seacft", ELSEWHERE, &["default"]),
    ];
    send_round(&host, &mut rx, "v1 after the refused reload", kept).await;

    set_rules(&dir, RULES_V2);
    let outcome = host.reload().await.unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.replaced, ["30-eventbridge-router"]);
    let v2: &Round<'_> = &[
        ("c1", "f", OFFICE, &["security-v2"]),
        ("c2", "s", OFFICE, &["default"]),
        ("c3", "seacft", ELSEWHERE, &["tokens"]),
    ];
    send_round(&host, &mut rx, "rules v2", v2).await;
    assert_eq!(host.health().reloads, 2);
    assert_nothing_lost(host, rx, 11, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_refuses_an_invalid_pattern_and_keeps_the_running_rules() {
    let dir = router_only("watch", RULES_V1);
    let (sink, mut rx) = ChannelSink::new(64);
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(sink)
        .watch_plugins(true)
        .build()
        .expect("the host starts with rules v1");
    let mut reloads = host.subscribe_reloads();
    send_round(
        &host,
        &mut rx,
        "rules v1",
        &[("a1", "f", ELSEWHERE, &["security"])],
    )
    .await;

    set_rules(&dir, RULES_INVALID);
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let outcome = reloads.recv().await.unwrap();
            if !outcome.failed.is_empty() || outcome.changed() {
                return outcome;
            }
        }
    })
    .await
    .expect("the watcher reloaded within 20 s");
    assert_refused(&outcome, &host, "watcher");
    send_round(
        &host,
        &mut rx,
        "v1 after the refused reload",
        &[("b1", "f", OFFICE, &["office", "security"])],
    )
    .await;

    set_rules(&dir, RULES_V2);
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let outcome = reloads.recv().await.unwrap();
            if outcome.changed() {
                return outcome;
            }
        }
    })
    .await
    .expect("the watcher reloaded within 20 s");
    assert_eq!(outcome.replaced, ["30-eventbridge-router"], "{outcome:?}");
    send_round(
        &host,
        &mut rx,
        "rules v2",
        &[("c1", "f", OFFICE, &["security-v2"])],
    )
    .await;
    assert_nothing_lost(host, rx, 3, 4).await;
}
