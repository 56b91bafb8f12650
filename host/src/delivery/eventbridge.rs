//! The Amazon EventBridge sink: `PutEvents` through `aws-sdk-eventbridge`.
//!
//! This is the only file that touches the AWS SDK. Region and credentials come from the
//! standard AWS chain (environment, profile, web identity, ECS/EC2 metadata); an endpoint
//! override points it at an EventBridge-compatible server such as moto. The HTTP client
//! uses rustls with the `ring` provider: one TLS stack. The SDK's own retries are off:
//! delivery retries, per entry (see [`super::RetryPolicy`]).
//!
//! The SDK signs, sends, times out and reads every call; the request body alone is
//! written here ([`WriteBody`]), since the SDK's serializer escapes each detail a byte at
//! a time and that was the largest single cost of a call.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::StalledStreamProtectionConfig;
use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents};
use aws_sdk_eventbridge::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
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
            .retry_config(RetryConfig::disabled())
            // The attempt timeout above covers the whole attempt, reading the answer
            // included. The SDK's stalled-stream watch would wrap every body in a
            // throughput check that catches nothing the timeout does not.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .interceptor(WriteBody);
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

/// Writes the `PutEvents` request body in place of the SDK's serializer: it takes the
/// entries out of the input before the SDK serializes it (so the SDK writes an empty
/// list), writes them itself, and puts that body into the request before the SDK signs
/// it. The JSON is the SDK's, key for key; only the escaping of strings is faster,
/// copying the runs between characters that need it whole.
#[derive(Debug)]
struct WriteBody;

/// The body [`WriteBody`] wrote for the call in progress.
#[derive(Debug, Clone)]
struct WrittenBody(bytes::Bytes);

impl Storable for WrittenBody {
    type Storer = StoreReplace<Self>;
}

impl Intercept for WriteBody {
    fn name(&self) -> &'static str {
        "logbridge::WriteBody"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input_mut().downcast_mut::<PutEventsInput>() {
            let body = put_events_body(input)?;
            input.entries = Some(Vec::new());
            cfg.interceptor_state()
                .store_put(WrittenBody(bytes::Bytes::from(body)));
        }
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(WrittenBody(body)) = cfg.load::<WrittenBody>() {
            let request = context.request_mut();
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = SdkBody::from(body.clone());
        }
        Ok(())
    }
}

/// The JSON body of `PutEvents` for `input`, as the SDK writes it (awsJson 1.1): the
/// entries' members in the SDK's order, `Time` in epoch seconds. A time that cannot be
/// written fails the call, as it does in the SDK's serializer.
fn put_events_body(
    input: &PutEventsInput,
) -> Result<Vec<u8>, aws_smithy_types::date_time::DateTimeFormatError> {
    let entries = input.entries.as_deref().unwrap_or_default();
    let size: usize = entries
        .iter()
        .map(|e| 160 + e.detail.as_ref().map_or(0, |d| d.len() + d.len() / 8))
        .sum();
    let mut out = Vec::with_capacity(size + 32);
    out.extend_from_slice(b"{\"Entries\":[");
    for (n, entry) in entries.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, key: &str| {
            out.extend_from_slice(if std::mem::take(&mut first) {
                b"{\""
            } else {
                b",\""
            });
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
        };
        if let Some(time) = &entry.time {
            let seconds = time.fmt(Format::EpochSeconds)?;
            key(&mut out, "Time");
            out.extend_from_slice(seconds.as_bytes());
        }
        if let Some(source) = &entry.source {
            key(&mut out, "Source");
            push_json_string(&mut out, source);
        }
        if let Some(resources) = &entry.resources {
            key(&mut out, "Resources");
            out.push(b'[');
            for (k, resource) in resources.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_string(&mut out, resource);
            }
            out.push(b']');
        }
        for (name, value) in [
            ("DetailType", &entry.detail_type),
            ("Detail", &entry.detail),
            ("EventBusName", &entry.event_bus_name),
            ("TraceHeader", &entry.trace_header),
        ] {
            if let Some(value) = value {
                key(&mut out, name);
                push_json_string(&mut out, value);
            }
        }
        out.extend_from_slice(if first { b"{}" } else { b"}" });
    }
    out.push(b']');
    if let Some(endpoint) = &input.endpoint_id {
        out.extend_from_slice(b",\"EndpointId\":");
        push_json_string(&mut out, endpoint);
    }
    out.push(b'}');
    Ok(out)
}

/// Appends `text` to `out` as a JSON string, escaped as the SDK escapes it: `"` and `\\`
/// by a backslash, the control characters with names by theirs, the others as `\\u00xx`.
/// Eight bytes are copied at a time up to the next byte that needs escaping.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    use crate::json_scan::{has_byte, has_control};
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let chunk: &[u8; 8] = chunk.try_into().expect("eight bytes");
        let word = u64::from_le_bytes(*chunk);
        let found = has_byte(word, b'"') | has_byte(word, b'\\') | has_control(word);
        // A whole word is copied either way (a fixed-size copy is cheaper than one of
        // the length up to the match); what lies past the match is cut off again.
        let at = out.len();
        out.extend_from_slice(chunk);
        if found == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is a real match (false flags only sit above one).
        let k = (found.trailing_zeros() / 8) as usize;
        out.truncate(at + k);
        push_escaped(out, chunk[k]);
        i += k + 1;
    }
    for &byte in &bytes[i..] {
        if byte < 0x20 || byte == b'"' || byte == b'\\' {
            push_escaped(out, byte);
        } else {
            out.push(byte);
        }
    }
    out.push(b'"');
}

/// Appends the JSON escape of `byte`: a quote, a backslash or a control character.
fn push_escaped(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0C => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
    }
}

impl Sink for EventBridgeSink {
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        Box::pin(self.put_events(bus, entries))
    }
}

#[cfg(test)]
#[path = "eventbridge_tests.rs"]
mod tests;
