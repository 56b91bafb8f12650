//! Delivery: routed events are grouped per bus into batches and handed to a [`Sink`] —
//! EventBridge, JSON lines on stdout or a file, or an in-process channel.

mod batcher;
mod eventbridge;
mod local;
mod sink;

pub use batcher::{
    Batch, BatchLimits, Batcher, MAX_BYTES_1MB, MAX_BYTES_256KB, MAX_ENTRIES, Oversize,
};
pub use eventbridge::{EventBridgeOptions, EventBridgeSetupError, EventBridgeSink};
pub use local::{ChannelSink, Delivered, JsonLinesSink};
pub use sink::{EntryResult, PutFuture, Sink};
