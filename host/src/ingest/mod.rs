//! Ingest: where log records come from and how they become [`crate::Event`]s.

mod ndjson;

pub use ndjson::{NdjsonReader, Record};
