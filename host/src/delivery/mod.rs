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

pub use batcher::{
    Batch, BatchLimits, Batcher, MAX_BYTES_1MB, MAX_BYTES_256KB, MAX_ENTRIES, Oversize,
};
pub use eventbridge::{EventBridgeOptions, EventBridgeSetupError, EventBridgeSink};
pub use local::{ChannelSink, Delivered, JsonLinesSink};
pub use replay::{ReplayReport, replay};
pub use retry::{Backoff, RETRYABLE_CODES, RetryAction, RetryPolicy, SplitMix64, is_retryable};
pub use service::{ABORTED, DeliveryConfig, Routed};
pub use sink::{EntryResult, PutFuture, Sink};
pub(crate) use validate::Checked;
pub use validate::{EntryProblem, check_detail_type, check_source, validate};
