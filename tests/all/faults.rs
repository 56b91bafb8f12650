//! Delivery under faults: a fault-injecting proxy between the host and moto throttles,
//! fails, delays, stalls and drops `PutEvents` calls on script. For each fault: the right number
//! of attempts reaches the proxy, only failed entries are re-sent, what is delivered is in
//! SQS exactly once, what is not is in the failure log with the right code and attempts,
//! every accepted event is accounted for, and a replay once the fault clears delivers
//! what failed, exactly once.
//!
//! Over 400 lines: one test per scripted fault, each a few lines over the shared
//! proxy-and-moto harness at the top; the faults read best as one list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use logbridge::delivery::{DeliveryConfig, ReplayReport, RetryPolicy, replay};
use logbridge::health::{FailureFilter, FailureLog};
use logbridge::{Event, EventBridgeOptions, EventBridgeSink, HealthReport, Host};
use logbridge_tests::{FaultProxy, Moto};
use serde_json::json;

const SOURCE: &str = "logbridge.test";

const FAST_RETRIES: RetryPolicy = RetryPolicy {
    max_retries: 3,
    base: Duration::from_millis(20),
    cap: Duration::from_millis(100),
};

struct Rig {
    moto: Moto,
    proxy: FaultProxy,
    queue: String,
    data_dir: PathBuf,
}

/// A fresh data directory for the test `name`.
fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Replays every failure in `dir` through `sink_url`, with fast retries.
async fn replay_log(moto: &Moto, dir: &Path, sink_url: &str) -> Result<ReplayReport> {
    let log = FailureLog::open(dir)?;
    let sdk = moto.sdk_config_for(sink_url).await;
    let sink = EventBridgeSink::from_sdk_config(&sdk, &EventBridgeOptions::default());
    let config = DeliveryConfig {
        retry: FAST_RETRIES,
        ..DeliveryConfig::default()
    };
    Ok(replay(&log, &sink, &FailureFilter::default(), &config).await?)
}

impl Rig {
    async fn start(name: &str) -> Result<Rig> {
        let moto = Moto::start()?;
        let queue = moto
            .route_to_queue("default", "all-events", &json!({ "source": [SOURCE] }))
            .await?;
        let proxy = FaultProxy::start(&moto.url())?;
        Ok(Rig {
            moto,
            proxy,
            queue,
            data_dir: data_dir(name),
        })
    }

    /// Clears the faults and replays the failure log through the proxy.
    async fn replay_after_the_fault_clears(&self) -> Result<ReplayReport> {
        self.proxy.script(json!([])).await?;
        replay_log(&self.moto, &self.data_dir, &self.proxy.url()).await
    }

    /// Sends `n` events through a host without plugins whose EventBridge client goes
    /// through the proxy; returns the final health.
    async fn send(&self, n: usize, attempt_timeout: Option<Duration>) -> Result<HealthReport> {
        let options = EventBridgeOptions {
            attempt_timeout,
            ..EventBridgeOptions::default()
        };
        let sdk = self.moto.sdk_config_for(&self.proxy.url()).await;
        let host = Host::builder()
            .sink(EventBridgeSink::from_sdk_config(&sdk, &options))
            .retry_policy(FAST_RETRIES)
            .data_dir(&self.data_dir)
            .workers(1)
            .build()?;
        for i in 0..n {
            host.send(event(i)).await?;
        }
        Ok(host.shutdown().await?)
    }

    /// The ids of the events in the queue, with how often each arrived.
    async fn delivered(&self) -> Result<BTreeMap<String, usize>> {
        let mut seen = BTreeMap::new();
        for message in self.moto.drain_queue(&self.queue).await? {
            let id = message["detail"]["n"].to_string();
            *seen.entry(id).or_default() += 1;
        }
        Ok(seen)
    }
}

fn event(n: usize) -> Event {
    Event {
        id: format!("event-{n}"),
        source: SOURCE.into(),
        detail_type: "fault test".into(),
        time: "2026-11-25T09:00:00Z".into(),
        resources: Vec::new(),
        detail: json!({ "n": n }).to_string(),
    }
}

fn ids(range: impl IntoIterator<Item = usize>) -> BTreeMap<String, usize> {
    range.into_iter().map(|n| (n.to_string(), 1)).collect()
}

fn failure_codes(health: &HealthReport) -> Vec<(String, u32)> {
    health
        .recent_failures
        .iter()
        .map(|f| (f.code.to_string(), f.attempts))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_until_delivered() -> Result<()> {
    let rig = Rig::start("throttled_requests_are_retried_until_delivered").await?;
    rig.proxy
        .script(json!([{ "kind": "throttle", "times": 2 }]))
        .await?;
    let health = rig.send(5, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [5, 5, 5],
        "two throttled attempts, then one through"
    );
    assert_eq!(
        rig.delivered().await?,
        ids(0..5),
        "each event delivered exactly once"
    );
    assert_eq!(health.buses["default"].retried, 10);
    assert_eq!(health.failed(), 0);
    assert!(health.settled(), "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_use_up_three_retries_then_fail() -> Result<()> {
    let rig = Rig::start("server_errors_use_up_three_retries_then_fail").await?;
    rig.proxy
        .script(json!([{ "kind": "status", "status": 500, "times": 100 }]))
        .await?;
    let health = rig.send(3, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [3, 3, 3, 3],
        "the first attempt and 3 retries"
    );
    assert!(rig.delivered().await?.is_empty());
    assert_eq!(health.failed_delivery(), 3);
    assert_eq!(
        failure_codes(&health),
        vec![("InternalException".to_string(), 4); 3]
    );
    assert!(health.settled(), "{health:?}");

    let replayed = rig.replay_after_the_fault_clears().await?;
    assert_eq!((replayed.delivered, replayed.failed), (3, 0));
    assert_eq!(rig.delivered().await?, ids(0..3));
    assert_eq!(
        rig.replay_after_the_fault_clears().await?.sent,
        0,
        "nothing twice"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_is_retried() -> Result<()> {
    let rig = Rig::start("service_unavailable_is_retried").await?;
    rig.proxy
        .script(json!([{ "kind": "status", "status": 503, "times": 1 }]))
        .await?;
    let health = rig.send(4, None).await?;
    assert_eq!(rig.proxy.put_events_calls().await?, [4, 4]);
    assert_eq!(rig.delivered().await?, ids(0..4));
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_failure_resends_only_the_failed_entries() -> Result<()> {
    let rig = Rig::start("partial_failure_resends_only_the_failed_entries").await?;
    rig.proxy
        .script(json!([
            { "kind": "fail_entries", "indices": [2, 7], "code": "ThrottlingException" },
            { "kind": "fail_entries", "indices": [1], "code": "InternalFailure" },
        ]))
        .await?;
    let health = rig.send(10, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [10, 2, 1],
        "only failed entries are re-sent"
    );
    assert_eq!(
        rig.delivered().await?,
        ids(0..10),
        "each event delivered exactly once"
    );
    assert_eq!(health.buses["default"].retried, 3);
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_entry_errors_are_not_retried() -> Result<()> {
    let rig = Rig::start("permanent_entry_errors_are_not_retried").await?;
    rig.proxy
        .script(json!([
            { "kind": "fail_entries", "indices": [0, 3], "code": "InvalidArgument" },
        ]))
        .await?;
    let health = rig.send(5, None).await?;
    assert_eq!(rig.proxy.put_events_calls().await?, [5]);
    assert_eq!(rig.delivered().await?, ids([1, 2, 4]));
    assert_eq!(
        failure_codes(&health),
        vec![("InvalidArgument".to_string(), 1); 2]
    );
    let failed: Vec<_> = health
        .recent_failures
        .iter()
        .map(|f| f.event_id.clone())
        .collect();
    assert_eq!(
        failed,
        [Some("event-0".to_string()), Some("event-3".to_string())]
    );
    assert!(health.settled(), "{health:?}");

    assert_eq!(rig.replay_after_the_fault_clears().await?.delivered, 2);
    assert_eq!(
        rig.delivered().await?,
        ids([0, 3]),
        "only the failed ones, once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_are_not_retried() -> Result<()> {
    let rig = Rig::start("validation_errors_are_not_retried").await?;
    rig.proxy
        .script(json!([{ "kind": "error", "status": 400, "code": "ValidationException" }]))
        .await?;
    let health = rig.send(2, None).await?;
    assert_eq!(rig.proxy.put_events_calls().await?, [2]);
    assert_eq!(
        failure_codes(&health),
        vec![("ValidationException".to_string(), 1); 2]
    );
    assert_eq!(rig.replay_after_the_fault_clears().await?.delivered, 2);
    assert_eq!(rig.delivered().await?, ids(0..2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_requests_are_not_retried() -> Result<()> {
    let rig = Rig::start("oversize_requests_are_not_retried").await?;
    rig.proxy
        .script(json!([{ "kind": "error", "status": 413, "code": "RequestEntityTooLarge" }]))
        .await?;
    let health = rig.send(1, None).await?;
    assert_eq!(rig.proxy.put_events_calls().await?, [1]);
    assert_eq!(health.failed_delivery(), 1);
    assert_eq!(rig.replay_after_the_fault_clears().await?.delivered, 1);
    assert_eq!(rig.delivered().await?, ids([0]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_dropped_connections_are_retried() -> Result<()> {
    let rig = Rig::start("timeouts_and_dropped_connections_are_retried").await?;
    rig.proxy
        .script(json!([
            { "kind": "delay", "seconds": 2, "forward": false },
            { "kind": "reset" },
        ]))
        .await?;
    let health = rig.send(3, Some(Duration::from_millis(500))).await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [3, 3, 3],
        "timed out, reset, then through"
    );
    assert_eq!(rig.delivered().await?, ids(0..3));
    assert_eq!(health.buses["default"].retried, 6);
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_stalls_mid_body_is_cut_off_and_retried() -> Result<()> {
    let rig = Rig::start("an_answer_that_stalls_mid_body_is_cut_off_and_retried").await?;
    // Status, headers and half the body, then nothing for two minutes: only the attempt
    // timeout, which covers reading the answer, ends this attempt.
    rig.proxy
        .script(json!([{ "kind": "stall", "seconds": 120 }]))
        .await?;
    let health = rig.send(3, Some(Duration::from_millis(500))).await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [3, 3],
        "the stalled answer is cut off, then the entries go through"
    );
    assert_eq!(rig.delivered().await?, ids(0..3));
    assert_eq!(health.buses["default"].retried, 3);
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_fails_after_every_attempt() -> Result<()> {
    let moto = Moto::start()?;
    let queue = moto
        .route_to_queue("default", "down", &json!({ "source": [SOURCE] }))
        .await?;
    let dir = data_dir("endpoint_down");
    // A port nothing listens on: every attempt is a connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let sdk = moto
        .sdk_config_for(&format!("http://127.0.0.1:{closed}"))
        .await;
    let host = Host::builder()
        .sink(EventBridgeSink::from_sdk_config(
            &sdk,
            &EventBridgeOptions::default(),
        ))
        .retry_policy(FAST_RETRIES)
        .data_dir(&dir)
        .build()?;
    host.send(event(0)).await?;
    let health = host.shutdown().await?;
    assert_eq!(failure_codes(&health), [("ConnectionError".to_string(), 4)]);
    assert!(health.settled(), "{health:?}");

    // The endpoint is back: replay to it.
    assert_eq!(replay_log(&moto, &dir, &moto.url()).await?.delivered, 1);
    assert_eq!(moto.drain_queue(&queue).await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_eventbridge_would_refuse_fail_before_sending() -> Result<()> {
    let rig = Rig::start("entries_eventbridge_would_refuse_fail_before_sending").await?;
    rig.proxy.script(json!([])).await?;
    let sdk = rig.moto.sdk_config_for(&rig.proxy.url()).await;
    let host = Host::builder()
        .sink(EventBridgeSink::from_sdk_config(
            &sdk,
            &EventBridgeOptions::default(),
        ))
        .data_dir(&rig.data_dir)
        .build()?;
    let bad = [
        Event {
            detail: "[1, 2]".into(),
            ..event(0)
        },
        Event {
            detail_type: "x".repeat(129),
            ..event(1)
        },
        Event {
            source: "aws.partner/auth0.com".into(),
            ..event(2)
        },
    ];
    for e in bad {
        host.send(e).await?;
    }
    host.send(event(3)).await?;
    let health = host.shutdown().await?;
    let mut codes: Vec<String> = health
        .recent_failures
        .iter()
        .map(|f| f.code.to_string())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["InvalidDetailType", "InvalidSource", "MalformedDetail"]
    );
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [1],
        "only the good entry is sent"
    );
    assert_eq!(rig.delivered().await?, ids([3]));

    // Replay cannot cure them: they fail the same checks again and are never sent.
    let replayed = rig.replay_after_the_fault_clears().await?;
    assert_eq!((replayed.sent, replayed.failed), (0, 3));
    assert_eq!(rig.proxy.put_events_calls().await?, Vec::<usize>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_retrying_at_its_deadline_and_logs_the_rest() -> Result<()> {
    let rig = Rig::start("shutdown_stops_retrying_at_its_deadline_and_logs_the_rest").await?;
    rig.proxy
        .script(json!([{ "kind": "status", "status": 503, "times": 100 }]))
        .await?;
    let sdk = rig.moto.sdk_config_for(&rig.proxy.url()).await;
    let host = Host::builder()
        .sink(EventBridgeSink::from_sdk_config(
            &sdk,
            &EventBridgeOptions::default(),
        ))
        // The batch only leaves when shutdown drains it, after the deadline is set.
        .batch_limits(logbridge::BatchLimits {
            linger: Duration::from_secs(600),
            ..logbridge::BatchLimits::default()
        })
        .shutdown_timeout(Duration::ZERO)
        .data_dir(&rig.data_dir)
        .build()?;
    for i in 0..3 {
        host.send(event(i)).await?;
    }
    let health = host.shutdown().await?;
    assert_eq!(
        rig.proxy.put_events_calls().await?,
        [3],
        "one attempt, no retry after the deadline"
    );
    assert_eq!(
        failure_codes(&health),
        vec![("ServiceUnavailableException".to_string(), 1); 3]
    );
    assert!(
        health
            .recent_failures
            .iter()
            .all(|f| f.message.contains("shutting down"))
    );
    assert!(health.settled(), "{health:?}");
    assert_eq!(rig.replay_after_the_fault_clears().await?.delivered, 3);
    assert_eq!(rig.delivered().await?, ids(0..3));
    Ok(())
}
