//! Delivery under faults: a fault-injecting proxy between the host and moto throttles,
//! fails, delays and drops `PutEvents` calls on script. For each fault: the right number
//! of attempts reaches the proxy, only failed entries are re-sent, what is delivered is in
//! SQS exactly once, what is not is failed with the right code and attempts, and every
//! accepted event is accounted for.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use logbridge::delivery::RetryPolicy;
use logbridge::{Event, EventBridgeOptions, EventBridgeSink, HealthReport, Host};
use logbridge_tests::{FaultProxy, Moto};
use serde_json::json;

const SOURCE: &str = "logbridge.test";

struct Rig {
    moto: Moto,
    proxy: FaultProxy,
    queue: String,
}

impl Rig {
    async fn start() -> Result<Rig> {
        let moto = Moto::start()?;
        let queue = moto
            .route_to_queue("default", "all-events", &json!({ "source": [SOURCE] }))
            .await?;
        let proxy = FaultProxy::start(&moto.url())?;
        Ok(Rig { moto, proxy, queue })
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
            .retry_policy(RetryPolicy {
                max_retries: 3,
                base: Duration::from_millis(20),
                cap: Duration::from_millis(100),
            })
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
        .map(|f| (f.code.clone(), f.attempts))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_until_delivered() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy
        .script(json!([{ "kind": "throttle", "times": 2 }]))?;
    let health = rig.send(5, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls()?,
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
    let rig = Rig::start().await?;
    rig.proxy
        .script(json!([{ "kind": "status", "status": 500, "times": 100 }]))?;
    let health = rig.send(3, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls()?,
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
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_is_retried() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy
        .script(json!([{ "kind": "status", "status": 503, "times": 1 }]))?;
    let health = rig.send(4, None).await?;
    assert_eq!(rig.proxy.put_events_calls()?, [4, 4]);
    assert_eq!(rig.delivered().await?, ids(0..4));
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_failure_resends_only_the_failed_entries() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy.script(json!([
        { "kind": "fail_entries", "indices": [2, 7], "code": "ThrottlingException" },
        { "kind": "fail_entries", "indices": [1], "code": "InternalFailure" },
    ]))?;
    let health = rig.send(10, None).await?;
    assert_eq!(
        rig.proxy.put_events_calls()?,
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
    let rig = Rig::start().await?;
    rig.proxy.script(json!([
        { "kind": "fail_entries", "indices": [0, 3], "code": "InvalidArgument" },
    ]))?;
    let health = rig.send(5, None).await?;
    assert_eq!(rig.proxy.put_events_calls()?, [5]);
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
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_are_not_retried() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy
        .script(json!([{ "kind": "error", "status": 400, "code": "ValidationException" }]))?;
    let health = rig.send(2, None).await?;
    assert_eq!(rig.proxy.put_events_calls()?, [2]);
    assert_eq!(
        failure_codes(&health),
        vec![("ValidationException".to_string(), 1); 2]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_requests_are_not_retried() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy
        .script(json!([{ "kind": "error", "status": 413, "code": "RequestEntityTooLarge" }]))?;
    let health = rig.send(1, None).await?;
    assert_eq!(rig.proxy.put_events_calls()?, [1]);
    assert_eq!(health.failed_delivery(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_dropped_connections_are_retried() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy.script(json!([
        { "kind": "delay", "seconds": 2, "forward": false },
        { "kind": "reset" },
    ]))?;
    let health = rig.send(3, Some(Duration::from_millis(500))).await?;
    assert_eq!(
        rig.proxy.put_events_calls()?,
        [3, 3, 3],
        "timed out, reset, then through"
    );
    assert_eq!(rig.delivered().await?, ids(0..3));
    assert_eq!(health.buses["default"].retried, 6);
    assert!(health.settled() && health.failed() == 0, "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_fails_after_every_attempt() -> Result<()> {
    let moto = Moto::start()?;
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
        .retry_policy(RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        })
        .build()?;
    host.send(event(0)).await?;
    let health = host.shutdown().await?;
    assert_eq!(failure_codes(&health), [("ConnectionError".to_string(), 4)]);
    assert!(health.settled(), "{health:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_eventbridge_would_refuse_fail_before_sending() -> Result<()> {
    let rig = Rig::start().await?;
    rig.proxy.script(json!([]))?;
    let sdk = rig.moto.sdk_config_for(&rig.proxy.url()).await;
    let host = Host::builder()
        .sink(EventBridgeSink::from_sdk_config(
            &sdk,
            &EventBridgeOptions::default(),
        ))
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
        .map(|f| f.code.clone())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["InvalidDetailType", "InvalidSource", "MalformedDetail"]
    );
    assert_eq!(
        rig.proxy.put_events_calls()?,
        [1],
        "only the good entry is sent"
    );
    assert_eq!(rig.delivered().await?, ids([3]));
    Ok(())
}
