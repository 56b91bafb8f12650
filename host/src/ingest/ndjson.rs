//! Newline-delimited JSON input: one Auth0 log (or `{"log_id", "data"}` record) per line.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::event::{Envelope, Event, EventError};

/// One line of input, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The line became an event.
    Event(Event),
    /// The line could not become an event.
    Invalid {
        /// Its 1-based line number.
        line: u64,
        /// The line itself (invalid UTF-8 replaced), for the failure log.
        text: String,
        /// Why.
        error: EventError,
    },
}

/// Reads NDJSON lines and maps each to an event. Blank lines are skipped.
#[derive(Debug)]
pub struct NdjsonReader<R> {
    reader: R,
    envelope: Envelope,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> NdjsonReader<R> {
    /// A reader over `reader`, mapping logs with `envelope`.
    pub fn new(reader: R, envelope: Envelope) -> Self {
        Self::starting_at(reader, envelope, 0, 0)
    }

    /// A reader over `reader` that starts `offset` bytes and `line` lines into its input
    /// (the caller has skipped them), so offsets and line numbers count from the start.
    pub fn starting_at(reader: R, envelope: Envelope, offset: u64, line: u64) -> Self {
        NdjsonReader {
            reader,
            envelope,
            line,
            offset,
            buf: Vec::new(),
        }
    }

    /// Bytes read so far: the end of the last line returned (or skipped as blank).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Lines read so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next record, or `None` at end of input. `Err` only for I/O errors.
    pub async fn next(&mut self) -> std::io::Result<Option<Record>> {
        loop {
            self.buf.clear();
            let read = self.reader.read_until(b'\n', &mut self.buf).await?;
            if read == 0 {
                return Ok(None);
            }
            self.offset += read as u64;
            self.line += 1;
            let record = match std::str::from_utf8(&self.buf) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => match self.envelope.auth0_event(text) {
                    Ok(event) => Record::Event(event),
                    Err(error) => Record::Invalid {
                        line: self.line,
                        text: text.trim_end().to_string(),
                        error,
                    },
                },
                Err(e) => Record::Invalid {
                    line: self.line,
                    text: String::from_utf8_lossy(&self.buf).trim_end().to_string(),
                    error: EventError::NotJson(format!("not UTF-8: {e}")),
                },
            };
            return Ok(Some(record));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn numbers_lines_and_skips_blanks() {
        let input: &[u8] = b"{\"log_id\":\"a\",\"date\":\"2026-11-01T00:00:00Z\"}\n\n[1]\n\xff\n";
        let mut reader = NdjsonReader::new(input, Envelope::default());
        assert!(matches!(reader.next().await.unwrap(), Some(Record::Event(e)) if e.id == "a"));
        assert!(matches!(
            reader.next().await.unwrap(),
            Some(Record::Invalid {
                line: 3,
                error: EventError::NotAnObject(_),
                ref text,
            }) if text == "[1]"
        ));
        assert!(matches!(
            reader.next().await.unwrap(),
            Some(Record::Invalid {
                line: 4,
                error: EventError::NotJson(_),
                ..
            })
        ));
        assert_eq!(reader.next().await.unwrap(), None);
    }
}
