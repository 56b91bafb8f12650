//! Delivery: routed events are checked, grouped per bus into batches and handed to a
//! [`Sink`] — EventBridge, JSON lines on stdout or a file, or an in-process channel —
//! with retries of only the entries that failed.

mod batcher;
mod eventbridge;
mod local;
mod replay;
mod retry;
pub(crate) mod service;
mod sink;
mod validate;

pub use batcher::{BatchLimits, MAX_BYTES_1MB, MAX_BYTES_256KB, MAX_ENTRIES};
pub use eventbridge::{EventBridgeOptions, EventBridgeSetupError, EventBridgeSink};
pub use local::{ChannelSink, Delivered, JsonLinesSink};
pub use replay::{ReplayReport, replay};
pub use retry::{RETRYABLE_CODES, RetryPolicy};
pub use service::DeliveryConfig;
pub(crate) use service::{ABORTED, Routed};
pub use sink::{EntryResult, PutFuture, Sink};
pub(crate) use validate::{Checked, check_detail_text, check_value};
pub use validate::{EntryProblem, validate};
pub(crate) use validate::{check_detail_type, check_source};
