//! A plugin's stdout and stderr: each line goes to the host's log, tagged with the plugin
//! and the stream, under a per-plugin line budget so a chatty plugin cannot flood the log.
//! The last lines of stderr are also kept so a trap can say what the plugin printed
//! before it (a Rust `panic!` prints its message there).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Lines a plugin may log per second, on average.
pub const LINES_PER_SECOND: f64 = 20.0;
/// Lines a plugin may log in a burst.
pub const LINE_BURST: f64 = 100.0;
/// Longest line logged; the rest is cut.
const MAX_LINE: usize = 1024;
/// stderr lines kept for the next trap's message.
const TAIL_LINES: usize = 4;

/// The line budget of one plugin version, shared by all its instances: a token bucket.
#[derive(Debug)]
pub(crate) struct LineBudget {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
}

impl Default for LineBudget {
    fn default() -> Self {
        LineBudget {
            state: Mutex::new(Bucket {
                tokens: LINE_BURST,
                refilled: Instant::now(),
                suppressed: 0,
            }),
        }
    }
}

impl LineBudget {
    /// Whether one more line may be logged now; `Some(n)` also reports `n` lines dropped
    /// since the last one that was let through.
    fn take(&self) -> Option<u64> {
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * LINES_PER_SECOND).min(LINE_BURST);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Some(std::mem::take(&mut bucket.suppressed))
        } else {
            bucket.suppressed += 1;
            None
        }
    }
}

/// The last lines an instance wrote to stderr.
pub(crate) type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Which stream a [`PluginOutput`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdio {
    Stdout,
    Stderr,
}

/// The stdout or stderr of one plugin instance, as WASI sees it.
#[derive(Clone)]
pub(crate) struct PluginOutput {
    plugin: Arc<str>,
    stream: Stdio,
    budget: Arc<LineBudget>,
    tail: StderrTail,
}

impl PluginOutput {
    pub(crate) fn new(
        plugin: Arc<str>,
        stream: Stdio,
        budget: Arc<LineBudget>,
        tail: StderrTail,
    ) -> Self {
        PluginOutput {
            plugin,
            stream,
            budget,
            tail,
        }
    }
}

impl IsTerminal for PluginOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            output: self.clone(),
            pending: Vec::new(),
        })
    }

    /// Plugins are WASI 0.2 components: the host never asks for the async (0.3) stream.
    /// Should it, the output is discarded rather than written to the host's own stdout.
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

/// Splits what a plugin writes into lines and logs each.
struct LineWriter {
    output: PluginOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let cut = line.len().min(MAX_LINE);
        let text = String::from_utf8_lossy(&line[..cut]);
        let text = if cut < line.len() {
            format!("{text}… ({} bytes cut)", line.len() - cut)
        } else {
            text.into_owned()
        };
        let output = &self.output;
        if output.stream == Stdio::Stderr {
            let mut tail = output.tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.clone());
        }
        let Some(suppressed) = output.budget.take() else {
            return;
        };
        let plugin = &*output.plugin;
        if suppressed > 0 {
            tracing::warn!(
                plugin,
                "{suppressed} lines of plugin output dropped (over {LINES_PER_SECOND} lines/s)"
            );
        }
        match output.stream {
            Stdio::Stdout => tracing::info!(plugin, stream = "stdout", "{text}"),
            Stdio::Stderr => tracing::warn!(plugin, stream = "stderr", "{text}"),
        }
    }
}

/// Most bytes one write may carry: what `check_write` promises.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.len() > WRITE_PERMIT {
            return Err(StreamError::trap(
                "the plugin wrote more to stdout/stderr at once than the stream allowed",
            ));
        }
        self.pending.extend_from_slice(&bytes);
        // One pass over what is pending, one drain at the end.
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset;
            self.emit(&self.pending[start..end]);
            start = end + 1;
        }
        self.pending.drain(..start);
        // A line that never ends is logged in pieces rather than held without bound.
        if self.pending.len() > MAX_LINE {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

#[async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(stream: Stdio) -> (LineWriter, StderrTail, Arc<LineBudget>) {
        let tail = StderrTail::default();
        let budget = Arc::new(LineBudget::default());
        let output = PluginOutput::new("p".into(), stream, Arc::clone(&budget), tail.clone());
        (
            LineWriter {
                output,
                pending: Vec::new(),
            },
            tail,
            budget,
        )
    }

    #[test]
    fn stderr_lines_are_split_and_the_last_kept() {
        let (mut w, tail, _) = writer(Stdio::Stderr);
        w.write(Bytes::from_static(b"one\ntw")).unwrap();
        w.write(Bytes::from_static(b"o\nthree\nfour\nfive\n"))
            .unwrap();
        let tail: Vec<String> = tail.lock().unwrap().iter().cloned().collect();
        assert_eq!(tail, ["two", "three", "four", "five"]);
    }

    #[test]
    fn many_lines_in_one_write_are_split_in_one_pass_and_oversize_writes_refused() {
        let (mut w, tail, _) = writer(Stdio::Stderr);
        w.write(Bytes::from(b"x\n".repeat(30_000))).unwrap();
        assert!(w.pending.is_empty());
        assert_eq!(tail.lock().unwrap().len(), TAIL_LINES);
        assert!(w.write(Bytes::from(vec![b'\n'; WRITE_PERMIT + 1])).is_err());
    }

    #[test]
    fn a_long_line_is_cut_and_an_endless_one_flushed() {
        let (mut w, tail, _) = writer(Stdio::Stderr);
        w.write(Bytes::from(vec![b'x'; 3000])).unwrap();
        assert!(w.pending.is_empty());
        let last = tail.lock().unwrap().back().cloned().unwrap();
        assert!(last.ends_with("(1976 bytes cut)"), "{last}");
    }

    #[test]
    fn the_budget_lets_a_burst_through_then_counts_what_it_drops() {
        let budget = LineBudget::default();
        let allowed = (0..1000).filter(|_| budget.take().is_some()).count();
        // The burst, plus whatever refilled while the loop ran (well under a second).
        assert!((100..120).contains(&allowed), "{allowed}");
        assert!(budget.state.lock().unwrap().suppressed > 800);
    }
}
