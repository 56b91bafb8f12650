//! Local sinks that need no AWS account: JSON lines to a writer (stdout or a file), and
//! an in-process channel for embedding applications and tests.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::sink::{EntryResult, PutFuture, Sink};
use crate::event::Event;
use crate::json_scan::string_end;

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

/// Writes each delivered event as one compact JSON line:
/// `{"bus", "id", "source", "detail-type", "time", "resources", "detail"}`. A detail
/// that came in pretty-printed is written without its whitespace, so every line is one
/// event whatever the input looked like; strings and numbers are kept byte for byte.
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
            let compact = compact_json(&event.detail);
            let detail = match serde_json::from_str::<&RawValue>(&compact) {
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

/// `json` without the whitespace between its tokens (borrowed when it has none). Only
/// whitespace outside strings is taken out; a string cannot hold a raw line break, so the
/// result is one line.
pub(crate) fn compact_json(json: &str) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    // Allocated at the first whitespace outside a string, if there is one.
    let mut out: Option<Vec<u8>> = None;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        let next = if b == b'"' {
            string_end(bytes, at + 1)
        } else {
            at + 1
        };
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.get_or_insert_with(|| {
                let mut out = Vec::with_capacity(bytes.len());
                out.extend_from_slice(&bytes[..at]);
                out
            });
        } else if let Some(out) = &mut out {
            out.extend_from_slice(&bytes[at..next]);
        }
        at = next;
    }
    match out {
        None => Cow::Borrowed(json),
        // Only ASCII whitespace was taken out, between whole UTF-8 sequences.
        Some(out) => {
            Cow::Owned(String::from_utf8(out).expect("removing ASCII bytes keeps UTF-8 valid"))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str) -> Event {
        Event {
            id: "1".into(),
            source: "s".into(),
            detail_type: "t".into(),
            time: "2026-11-25T09:00:00Z".into(),
            resources: Vec::new(),
            detail: detail.into(),
        }
    }

    #[test]
    fn whitespace_between_tokens_goes_and_strings_stay_byte_for_byte() {
        let pretty = "{\n  \"log_id\": \"a b\",\r\n\t\"data\" : { \"q\": \"say \\\" \\n hi \" ,\n \"n\": [ 1 , 2.50 ] }\n}";
        assert_eq!(
            compact_json(pretty),
            "{\"log_id\":\"a b\",\"data\":{\"q\":\"say \\\" \\n hi \",\"n\":[1,2.50]}}"
        );
        assert!(matches!(compact_json("{\"a\":\"x y\"}"), Cow::Borrowed(_)));
        assert_eq!(compact_json("{\"é\" : \"ü\"}"), "{\"é\":\"ü\"}");
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_pretty_printed_detail_is_written_as_one_line() {
        let out = Shared::default();
        let sink = JsonLinesSink::new(out.clone());
        let results = sink.write_batch(
            "default",
            &[
                event("{\n  \"log_id\": \"1\",\n  \"data\": {\n    \"type\": \"s\"\n  }\n}"),
                event("{\"log_id\":\"2\"}"),
            ],
        );
        assert_eq!(results, [EntryResult::Delivered, EntryResult::Delivered]);
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 2, "{written}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["detail"]["data"]["type"], "s");
        assert!(lines[0].contains(r#""detail":{"log_id":"1","data":{"type":"s"}}"#));
    }
}
