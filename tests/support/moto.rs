//! A real moto server (AWS's API, EventBridge and SQS among them) on 127.0.0.1, with
//! buses, rules and SQS queues to read back what EventBridge routed; and the SDK
//! configuration that points a client at a server on this machine.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;

use crate::fixtures::workspace_root;
use crate::os::{die_with_parent, free_port};

/// A moto server on 127.0.0.1, killed when dropped — also when the test panics, and
/// (through the parent-death signal) when the test process itself dies.
pub struct Moto {
    child: Child,
    port: u16,
    /// Its AWS configuration, loaded once and shared by every client.
    config: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

/// The region moto serves; also what the `logbridge` binary gets.
pub const REGION: &str = "us-east-1";
/// The account moto's resources belong to (in queue and rule ARNs).
pub const ACCOUNT: &str = "123456789012";

impl Moto {
    /// Starts moto from the project's virtualenv (`scripts/setup-test-env.sh`).
    pub fn start() -> Result<Moto> {
        let server = std::env::var_os("LOGBRIDGE_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
        if !server.is_file() {
            bail!(
                "{} is missing; run scripts/setup-test-env.sh to install moto",
                server.display()
            );
        }
        let port = free_port()?;
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", server.display()))?;
        let mut moto = Moto {
            child,
            port,
            config: tokio::sync::OnceCell::new(),
        };
        moto.wait_ready()?;
        Ok(moto)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto exited before it was ready: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("moto did not listen on {addr} within 30 s")
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment that points an AWS client (or the `logbridge` binary) at this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// An AWS SDK configuration for this moto (or, with `endpoint`, a proxy before it).
    pub async fn sdk_config_for(&self, endpoint: &str) -> aws_config::SdkConfig {
        local_sdk_config(endpoint).await
    }

    /// Its AWS configuration, loaded on first use.
    async fn config(&self) -> &aws_config::SdkConfig {
        self.config
            .get_or_init(|| async { self.sdk_config_for(&self.url()).await })
            .await
    }

    /// An EventBridge admin client for this moto.
    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(self.config().await)
    }

    /// An SQS client for this moto.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self.config().await)
    }

    /// Creates `bus` unless it exists already (`default` always does).
    pub async fn create_bus(&self, bus: &str) -> Result<()> {
        if bus != "default" {
            self.eventbridge()
                .await
                .create_event_bus()
                .name(bus)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Creates the SQS queue `name` and a rule of that name on `bus`, with `pattern`,
    /// that targets it. Returns the queue URL.
    pub async fn route_to_queue(
        &self,
        bus: &str,
        name: &str,
        pattern: &serde_json::Value,
    ) -> Result<String> {
        let eb = self.eventbridge().await;
        let url = self
            .sqs()
            .await
            .create_queue()
            .queue_name(name)
            .send()
            .await?
            .queue_url
            .context("moto returned no queue URL")?;
        eb.put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await?;
        eb.put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
                    .build()?,
            )
            .send()
            .await?;
        Ok(url)
    }

    /// Creates `bus` and, for each Auth0 log type in `types`, a queue and a rule matching
    /// `{"source": [source], "detail": {"data": {"type": [type]}}}` — the shape of rule
    /// Auth0's users write. Returns the queue URLs. One queue per type keeps moto's queues
    /// short: its SQS slows down with every message a queue holds.
    pub async fn route_types_to_queues(
        &self,
        bus: &str,
        source: &str,
        types: &[&str],
    ) -> Result<Vec<String>> {
        self.create_bus(bus).await?;
        let mut urls = Vec::with_capacity(types.len());
        for log_type in types {
            let pattern = serde_json::json!({
                "source": [source],
                "detail": { "data": { "type": [log_type] } },
            });
            urls.push(
                self.route_to_queue(bus, &format!("{bus}-{log_type}"), &pattern)
                    .await?,
            );
        }
        Ok(urls)
    }

    /// Every message in the queue at `url`, parsed as JSON. Received messages stay
    /// invisible for ten minutes, so each is returned once.
    pub async fn drain_queue(&self, url: &str) -> Result<Vec<serde_json::Value>> {
        let sqs = self.sqs().await;
        let mut messages = Vec::new();
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .visibility_timeout(600)
                .send()
                .await?;
            let received = batch.messages.unwrap_or_default();
            if received.is_empty() {
                return Ok(messages);
            }
            for message in received {
                let body = message.body.context("an SQS message without a body")?;
                messages.push(serde_json::from_str(&body)?);
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An AWS SDK configuration for a server on this machine at `endpoint`: a fixed region,
/// test credentials and the one TLS stack the host uses.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(endpoint)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}
