//! The [`Sink`] trait: where batches of routed events go, and what came of each entry.

use std::future::Future;
use std::pin::Pin;

use crate::event::Event;

/// What became of one entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    /// The destination accepted it.
    Delivered,
    /// The destination refused it, or the request carrying it failed.
    Failed {
        /// A short machine-readable code, e.g. EventBridge's `ErrorCode`
        /// (`ThrottlingException`, `InternalFailure`, ...) or a request-level error.
        code: String,
        /// A human-readable explanation.
        message: String,
        /// Whether another attempt may succeed (throttling, internal errors, timeouts,
        /// connection failures); see `is_retryable` in `retry.rs`.
        retryable: bool,
    },
}

impl EntryResult {
    /// A permanent failure with `code` and `message`.
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        EntryResult::Failed {
            code: code.into(),
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure that another attempt may cure.
    pub fn failed_retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        EntryResult::Failed {
            code: code.into(),
            message: message.into(),
            retryable: true,
        }
    }
}

/// The future a [`Sink`] returns: one [`EntryResult`] per entry, in order.
pub type PutFuture<'a> = Pin<Box<dyn Future<Output = Vec<EntryResult>> + Send + 'a>>;

/// A destination for batches of events bound for one bus.
///
/// `put` must answer with exactly one result per entry, in order; a whole-request
/// failure is one failed result per entry.
pub trait Sink: Send + Sync + 'static {
    /// Sends `entries` to `bus`.
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a>;
}
