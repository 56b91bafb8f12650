//! Local sinks that need no AWS account: JSON lines to a writer (stdout or a file), and
//! an in-process channel for embedding applications and tests.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::sink::{EntryResult, PutFuture, Sink};
use crate::event::Event;

/// One delivered event as the local sinks write it: the EventBridge event envelope, plus
/// the bus it was sent to.
#[derive(Serialize)]
struct Line<'a> {
    bus: &'a str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    time: &'a str,
    resources: &'a [String],
    detail: &'a RawValue,
}

/// Writes each delivered event as one JSON line:
/// `{"bus", "id", "source", "detail-type", "time", "resources", "detail"}`.
///
/// Like EventBridge, it refuses an entry whose `detail` is not a JSON object
/// (`MalformedDetail`).
pub struct JsonLinesSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLinesSink {
    /// A sink writing to `out`. Each batch is flushed as it is written.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        JsonLinesSink {
            out: Mutex::new(Box::new(out)),
        }
    }

    fn write_batch(&self, bus: &str, entries: &[Event]) -> Vec<EntryResult> {
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.detail.len() + 256).sum());
        let mut results = Vec::with_capacity(entries.len());
        for event in entries {
            let detail = match serde_json::from_str::<&RawValue>(&event.detail) {
                Ok(raw) if raw.get().starts_with('{') => raw,
                _ => {
                    results.push(EntryResult::failed(
                        "MalformedDetail",
                        "detail is not a JSON object",
                    ));
                    continue;
                }
            };
            let line = Line {
                bus,
                id: &event.id,
                source: &event.source,
                detail_type: &event.detail_type,
                time: &event.time,
                resources: &event.resources,
                detail,
            };
            serde_json::to_writer(&mut buf, &line).expect("writing JSON to memory cannot fail");
            buf.push(b'\n');
            results.push(EntryResult::Delivered);
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            let message = format!("writing the output failed: {e}");
            for result in &mut results {
                if *result == EntryResult::Delivered {
                    *result = EntryResult::failed("WriteFailed", message.clone());
                }
            }
        }
        results
    }
}

impl Sink for JsonLinesSink {
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        // Writes are small and buffered; they do not hold the runtime up for long.
        Box::pin(async move { self.write_batch(bus, entries) })
    }
}

/// An event delivered through a [`ChannelSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The bus it was routed to.
    pub bus: String,
    /// The event as it left the pipeline.
    pub event: Event,
}

/// Hands delivered events to an in-process receiver. A full channel slows delivery down
/// (backpressure); a dropped receiver fails the entries (`ReceiverClosed`). Keep
/// receiving (or drop the receiver) until [`crate::Host::shutdown`] returns: shutdown waits
/// for every entry to be delivered.
pub struct ChannelSink {
    tx: mpsc::Sender<Delivered>,
}

impl ChannelSink {
    /// A sink and the receiver of what it delivers, with room for `capacity` events.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Delivered>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ChannelSink { tx }, rx)
    }
}

impl Sink for ChannelSink {
    fn put<'a>(&'a self, bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(entries.len());
            for event in entries {
                let delivered = Delivered {
                    bus: bus.to_string(),
                    event: event.clone(),
                };
                results.push(match self.tx.send(delivered).await {
                    Ok(()) => EntryResult::Delivered,
                    Err(_) => EntryResult::failed(
                        "ReceiverClosed",
                        "the in-process receiver of delivered events was dropped",
                    ),
                });
            }
            results
        })
    }
}
