//! The Amazon EventBridge sink: `PutEvents` through `aws-sdk-eventbridge`.
//!
//! This is the only file that touches the AWS SDK. Region and credentials come from the
//! standard AWS chain (environment, profile, web identity, ECS/EC2 metadata); an endpoint
//! override points it at an EventBridge-compatible server such as moto. The HTTP client
//! uses rustls with the `ring` provider: one TLS stack. The SDK's own retries are off:
//! delivery retries, per entry (see [`super::RetryPolicy`]).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::ProvideCredentials;
use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_types::date_time::{DateTime, Format};

use super::retry::is_retryable;
use super::sink::{EntryResult, PutFuture, Sink};
use crate::event::Event;

/// How to reach EventBridge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventBridgeOptions {
    /// Overrides the endpoint, e.g. `http://127.0.0.1:5000` for a local server.
    pub endpoint_url: Option<String>,
    /// Overrides the region from the AWS chain.
    pub region: Option<String>,
    /// Timeout for one `PutEvents` attempt; default 10 s.
    pub attempt_timeout: Option<Duration>,
}

/// Why the EventBridge sink could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventBridgeSetupError {
    /// No region was found in the AWS chain.
    #[error(
        "no AWS region is configured; set AWS_REGION (or a region in your AWS profile), \
         or pass --region"
    )]
    NoRegion,
    /// No credentials were found in the AWS chain.
    #[error(
        "no AWS credentials were found ({0}); set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE, or run with an IAM role"
    )]
    NoCredentials(String),
}

/// Sends batches to EventBridge with `PutEvents`, one call per batch.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: Client,
}

impl EventBridgeSink {
    /// Builds the client from the standard AWS chain and `options`, and checks that a
    /// region and credentials are available.
    pub async fn from_env(options: &EventBridgeOptions) -> Result<Self, EventBridgeSetupError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(EventBridgeSetupError::NoRegion);
        }
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| EventBridgeSetupError::NoCredentials("no provider".into()))?;
        credentials
            .provide_credentials()
            .await
            .map_err(|e| EventBridgeSetupError::NoCredentials(causes(&e)))?;

        Ok(Self::from_sdk_config(&sdk, options))
    }

    /// Builds the client from an AWS SDK configuration the application already has,
    /// with `options` applied on top. Region and credentials are the caller's business.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, options: &EventBridgeOptions) -> Self {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(options.attempt_timeout.unwrap_or(Duration::from_secs(10)))
            .connect_timeout(Duration::from_secs(3))
            .build();
        let mut config = aws_sdk_eventbridge::config::Builder::from(sdk)
            .timeout_config(timeouts)
            // logbridge retries itself, re-sending only failed entries; SDK retries on top
            // would turn "up to 3 retries" into up to 16 attempts.
            .retry_config(RetryConfig::disabled());
        if let Some(url) = &options.endpoint_url {
            config = config.endpoint_url(url);
        }
        EventBridgeSink {
            client: Client::from_conf(config.build()),
        }
    }

    async fn put_events(&self, bus: &str, entries: &[Event]) -> Vec<EntryResult> {
        // Entries the SDK cannot even encode fail alone, before the call.
        let mut results: Vec<Option<EntryResult>> = vec![None; entries.len()];
        let mut request = Vec::with_capacity(entries.len());
        let mut sent = Vec::with_capacity(entries.len());
        for (i, event) in entries.iter().enumerate() {
            let mut entry = PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source(&event.source)
                .detail_type(&event.detail_type)
                .detail(&event.detail)
                .set_resources(Some(event.resources.clone()));
            if !event.time.is_empty() {
                match DateTime::from_str(&event.time, Format::DateTime) {
                    Ok(time) => entry = entry.time(time),
                    Err(_) => {
                        results[i] = Some(EntryResult::failed(
                            "InvalidTime",
                            format!("time {:?} is not an RFC 3339 timestamp", event.time),
                        ));
                        continue;
                    }
                }
            }
            request.push(entry.build());
            sent.push(i);
        }
        if !request.is_empty() {
            let answer = self
                .client
                .put_events()
                .set_entries(Some(request))
                .send()
                .await;
            match answer {
                Ok(output) => {
                    let answers = output.entries();
                    for (n, &i) in sent.iter().enumerate() {
                        results[i] = Some(match answers.get(n) {
                            Some(entry) => match entry.error_code() {
                                None => EntryResult::Delivered,
                                Some(code) => EntryResult::Failed {
                                    code: code.to_string(),
                                    message: entry.error_message().unwrap_or_default().to_string(),
                                    retryable: is_retryable(code, None),
                                },
                            },
                            None => EntryResult::failed(
                                "MissingResultEntry",
                                "EventBridge answered with fewer result entries than were sent",
                            ),
                        });
                    }
                }
                Err(error) => {
                    let (code, status, message) = describe(&error);
                    let retryable = is_retryable(&code, status);
                    for &i in &sent {
                        results[i] = Some(EntryResult::Failed {
                            code: code.clone(),
                            message: message.clone(),
                            retryable,
                        });
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every entry was answered"))
            .collect()
    }
}

/// A code, the HTTP status (when there was an answer) and a message for a whole-request
/// failure.
fn describe<E>(error: &SdkError<E, HttpResponse>) -> (String, Option<u16>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = match error {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        SdkError::ResponseError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    };
    let code = match error {
        SdkError::ServiceError(_) => match (error.code(), status) {
            (Some(code), _) => code.to_string(),
            (None, Some(413)) => "RequestEntityTooLarge".to_string(),
            (None, Some(status)) => format!("HTTP{status}"),
            (None, None) => "ServiceError".to_string(),
        },
        SdkError::TimeoutError(_) => "Timeout".to_string(),
        SdkError::DispatchFailure(_) => "ConnectionError".to_string(),
        SdkError::ResponseError(_) => "ResponseError".to_string(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".to_string(),
        _ => "Unknown".to_string(),
    };
    let message = match (error, status) {
        // The service's own words, not the SDK's debug rendering of them.
        (SdkError::ServiceError(_), Some(status)) => format!(
            "EventBridge answered HTTP {status}: {}",
            error.message().unwrap_or("no message")
        ),
        (SdkError::TimeoutError(_), _) => {
            "the PutEvents attempt timed out (see --attempt-timeout-ms)".to_string()
        }
        _ => causes(error),
    };
    (code, status, message)
}

/// `error` and its causes, `: `-separated, each said once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let said = e.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = e.source();
    }
    text
}

impl Sink for EventBridgeSink {
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        Box::pin(self.put_events(bus, entries))
    }
}
