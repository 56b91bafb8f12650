//! The event envelope, the Auth0 log mapping, and EventBridge size accounting.
//!
//! An [`Event`] is shaped like an EventBridge `PutEvents` entry. [`Envelope`] turns an
//! Auth0 log — either a bare log object or the `{"log_id", "data"}` record that Auth0's
//! log streams send — into an event whose `detail` is `{"log_id": ..., "data": <log>}`,
//! the shape Auth0's own EventBridge stream emits, so rules written for it keep working.

mod detail;

use std::borrow::Cow;
use std::sync::LazyLock;

pub use detail::MAX_DETAIL_DEPTH;
pub(crate) use detail::{DetailProblem, check_detail};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::plugin::Picker;

/// The `detail-type` Auth0's EventBridge stream uses, and our default.
pub const AUTH0_DETAIL_TYPE: &str = "Auth0 log";

/// Our default `source`. EventBridge rejects custom sources that start with `aws.`, so
/// the partner source Auth0 itself uses (`aws.partner/auth0.com/...`) is not available.
pub const DEFAULT_SOURCE: &str = "logbridge.auth0";

/// The longest `DetailType` EventBridge accepts, in characters.
pub const MAX_DETAIL_TYPE_CHARS: usize = 128;

/// One log event, shaped like an EventBridge `PutEvents` entry.
///
/// The same type is the WIT `event` record plugins receive and return, and what the
/// failure log stores (as JSON, with the field `detail-type`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    wasmtime::component::ComponentType,
    wasmtime::component::Lift,
    wasmtime::component::Lower,
)]
#[component(record)]
pub struct Event {
    /// A stable identifier; for Auth0 logs, the log's `log_id`.
    pub id: String,
    /// The EventBridge `Source`.
    pub source: String,
    /// The EventBridge `DetailType`.
    #[serde(rename = "detail-type")]
    #[component(name = "detail-type")]
    pub detail_type: String,
    /// When the event happened, RFC 3339.
    pub time: String,
    /// ARNs of the resources the event concerns.
    pub resources: Vec<String>,
    /// The event body: a JSON object as text.
    pub detail: String,
}

impl Event {
    /// The size EventBridge charges this entry against the `PutEvents` request limit:
    /// 14 bytes for `Time` (when set) plus the UTF-8 bytes of `Source`, `DetailType`,
    /// `Detail` and each resource. The bus name does not count.
    pub fn entry_size(&self) -> usize {
        entry_size(
            &self.time,
            &self.source,
            &self.detail_type,
            self.detail.len(),
            &self.resources,
        )
    }
}

/// [`Event::entry_size`] from an entry's parts, for whoever holds them in another shape.
pub(crate) fn entry_size(
    time: &str,
    source: &str,
    detail_type: &str,
    detail_len: usize,
    resources: &[String],
) -> usize {
    let time = if time.is_empty() { 0 } else { 14 };
    time + source.len()
        + detail_type.len()
        + detail_len
        + resources.iter().map(String::len).sum::<usize>()
}

/// Why an input record could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The input is not valid JSON.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// The input is JSON but not an object.
    #[error("expected a JSON object (an Auth0 log or a {{\"log_id\", \"data\"}} record), got {0}")]
    NotAnObject(&'static str),
    /// A `{"log_id", "data"}` record whose `data` is not an object.
    #[error("`data` must be the Auth0 log object, got {0}")]
    DataNotAnObject(&'static str),
    /// `log_id`, `_id`, `date` or `data` has the wrong JSON type.
    #[error("a field has the wrong type ({0}); `log_id` and `date` must be strings")]
    BadField(String),
    /// The log has no `log_id` (nor the older `_id`).
    #[error("the log has no `log_id`; every Auth0 log carries one and it is the event's id")]
    MissingLogId,
    /// The log has no `date`.
    #[error("the log has no `date`; it becomes the event's time")]
    MissingDate,
    /// The log's `date` is not an RFC 3339 timestamp.
    #[error("the log's `date` {0:?} is not an RFC 3339 timestamp")]
    BadDate(String),
    /// The detail could never be delivered: an integer outside the signed 64-bit range,
    /// or nesting deeper than [`MAX_DETAIL_DEPTH`].
    #[error("EventBridge would refuse it: {0}")]
    Undeliverable(#[from] DetailProblem),
}

/// Why an [`Envelope`] is not acceptable to EventBridge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The source is empty.
    #[error("the event source is empty; set it to something like `{DEFAULT_SOURCE}`")]
    EmptySource,
    /// The source starts with `aws.`, which EventBridge reserves.
    #[error(
        "the event source {0:?} starts with `aws.`, which EventBridge reserves for AWS and \
         partner sources; choose another, such as `{DEFAULT_SOURCE}`"
    )]
    ReservedSource(String),
    /// The detail type is empty or longer than EventBridge allows.
    #[error("the detail type must be 1 to {MAX_DETAIL_TYPE_CHARS} characters, got {0}")]
    DetailTypeLength(usize),
}

/// How input logs become events: the `source` and `detail-type` they are sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    source: String,
    detail_type: String,
}

impl Default for Envelope {
    fn default() -> Self {
        Envelope {
            source: DEFAULT_SOURCE.to_string(),
            detail_type: AUTH0_DETAIL_TYPE.to_string(),
        }
    }
}

/// The fields of an input record or log the mapping reads; everything else is carried
/// through untouched as raw JSON.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log_id: Option<Cow<'a, str>>,
    #[serde(rename = "_id", borrow, default)]
    legacy_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    date: Option<Cow<'a, str>>,
}

/// The JSON type of a raw value, for error messages.
fn json_kind(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

impl Envelope {
    /// An envelope with the given `source` and `detail-type`, checked against what
    /// EventBridge accepts.
    pub fn new(
        source: impl Into<String>,
        detail_type: impl Into<String>,
    ) -> Result<Self, EnvelopeError> {
        let source = source.into();
        let detail_type = detail_type.into();
        if source.is_empty() {
            return Err(EnvelopeError::EmptySource);
        }
        if source.starts_with("aws.") {
            return Err(EnvelopeError::ReservedSource(source));
        }
        let chars = detail_type.chars().count();
        if chars == 0 || chars > MAX_DETAIL_TYPE_CHARS {
            return Err(EnvelopeError::DetailTypeLength(chars));
        }
        Ok(Envelope {
            source,
            detail_type,
        })
    }

    /// The `source` events are sent with.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `detail-type` events are sent with.
    pub fn detail_type(&self) -> &str {
        &self.detail_type
    }

    /// Maps one Auth0 log, given as JSON text, to an event.
    ///
    /// Accepts a bare log object or a `{"log_id": ..., "data": {...}}` record. The log's
    /// JSON is carried into `detail` byte for byte; only `log_id` (or the older `_id`)
    /// and `date` are read, and the detail is checked for what EventBridge would refuse
    /// (`check_detail`).
    pub fn auth0_event(&self, json: &str) -> Result<Event, EventError> {
        let json = json.trim();
        match picked(json) {
            Some(picked) => self.mapped(picked.log, picked.fields, picked.checked),
            None => self.parsed(json),
        }
    }

    /// [`auth0_event`](Self::auth0_event) by serde, for what the fast pass leaves: the
    /// record parsed, the log inside it parsed again, the detail checked.
    fn parsed(&self, json: &str) -> Result<Event, EventError> {
        // serde would read a struct from an array too; only an object is a log.
        if !json.starts_with('{') {
            return Err(match json_kind_checked(json) {
                Some(kind) => EventError::NotAnObject(kind),
                None => EventError::NotJson(
                    serde_json::from_str::<&RawValue>(json)
                        .err()
                        .map_or_else(String::new, |e| e.to_string()),
                ),
            });
        }
        let outer: Probe<'_> =
            serde_json::from_str(json).map_err(|e| match json_kind_checked(json) {
                Some("an object") => EventError::BadField(e.to_string()),
                Some(kind) => EventError::NotAnObject(kind),
                None => EventError::NotJson(e.to_string()),
            })?;
        let (log, probe) = match outer.data {
            Some(data) => {
                let kind = json_kind(data.get());
                if kind != "an object" {
                    return Err(EventError::DataNotAnObject(kind));
                }
                let inner: Probe<'_> = serde_json::from_str(data.get())
                    .map_err(|e| EventError::BadField(e.to_string()))?;
                // The record's own log_id wins; Auth0 repeats it inside `data`.
                let probe = Probe {
                    log_id: outer.log_id.or(inner.log_id),
                    ..inner
                };
                (data.get(), probe)
            }
            None => (json, outer),
        };
        let fields = Fields {
            log_id: probe.log_id,
            legacy_id: probe.legacy_id,
            date: probe.date,
        };
        self.mapped(log, fields, false)
    }

    /// The event of `log` with the `fields` read from its record; `checked` when the
    /// detail is already known to pass [`check_detail`].
    fn mapped(&self, log: &str, fields: Fields<'_>, checked: bool) -> Result<Event, EventError> {
        let log_id = fields
            .log_id
            .or(fields.legacy_id)
            .filter(|id| !id.is_empty())
            .ok_or(EventError::MissingLogId)?;
        let date = fields.date.ok_or(EventError::MissingDate)?;
        OffsetDateTime::parse(&date, &Rfc3339)
            .map_err(|_| EventError::BadDate(date.to_string()))?;

        let id_json = serde_json::to_string(log_id.as_ref()).expect("a string serializes");
        let mut detail = String::with_capacity(log.len() + id_json.len() + 20);
        detail.push_str("{\"log_id\":");
        detail.push_str(&id_json);
        detail.push_str(",\"data\":");
        detail.push_str(log);
        detail.push('}');
        if !checked {
            check_detail(&detail)?;
        }
        Ok(Event {
            id: log_id.into_owned(),
            source: self.source.clone(),
            detail_type: self.detail_type.clone(),
            time: date.into_owned(),
            resources: Vec::new(),
            detail,
        })
    }
}

/// The fields the mapping reads of a record: its `log_id` (the record's own, else the
/// log's), the log's older `_id`, and the log's `date`.
struct Fields<'a> {
    log_id: Option<Cow<'a, str>>,
    legacy_id: Option<Cow<'a, str>>,
    date: Option<Cow<'a, str>>,
}

/// A record read by the fast pass.
struct PickedRecord<'a> {
    /// The log: the record's `data`, or the record itself when it is a bare log.
    log: &'a str,
    fields: Fields<'a>,
    /// The detail made from it passes [`check_detail`]: the pass checked every integer
    /// of the record, and the detail is not too deep (that of a `{"log_id", "data"}`
    /// record is no deeper than the record; that of a bare log one level deeper).
    checked: bool,
}

/// The paths of a record the mapping reads, in the order [`picked`] takes them apart;
/// `data.data` only so that a repeated one is left to serde, which refuses it.
const PICKED_PATHS: [&str; 8] = [
    "data",
    "log_id",
    "_id",
    "date",
    "data.log_id",
    "data._id",
    "data.date",
    "data.data",
];

/// The picker of [`PICKED_PATHS`].
static PICKER: LazyLock<Picker> = LazyLock::new(|| Picker::new(&PICKED_PATHS));

/// What the mapping reads of `json`, in one pass that also checks the record, when that
/// pass is sure and every field read is a string without escapes (`data`, when there, an
/// object): what Auth0 sends. `None` leaves the record to the serde parse, which decides
/// and says what is wrong; it would read the same fields from what this takes.
fn picked(json: &str) -> Option<PickedRecord<'_>> {
    let picked = PICKER.pick(json)?;
    let [
        data,
        log_id,
        legacy_id,
        date,
        inner_log_id,
        inner_legacy_id,
        inner_date,
        _,
    ] = <[Option<&str>; 8]>::try_from(picked.values).ok()?;
    // serde reads the record's own fields, and refuses them when they are not strings,
    // even when `data` is there.
    let (log_id, legacy_id, date) = (plain(log_id)?, plain(legacy_id)?, plain(date)?);
    match data {
        None => Some(PickedRecord {
            log: json,
            fields: Fields {
                log_id,
                legacy_id,
                date,
            },
            // The detail wraps the log: one level deeper.
            checked: picked.deepest < MAX_DETAIL_DEPTH,
        }),
        Some(data) if data.starts_with('{') => {
            let (inner_log_id, legacy_id, date) = (
                plain(inner_log_id)?,
                plain(inner_legacy_id)?,
                plain(inner_date)?,
            );
            Some(PickedRecord {
                log: data,
                fields: Fields {
                    log_id: log_id.or(inner_log_id),
                    legacy_id,
                    date,
                },
                checked: true,
            })
        }
        // `null` (a bare log after all) or not an object: serde decides.
        Some(_) => None,
    }
}

/// A picked value as the mapping reads it: absent (`Some(None)`), or a JSON string with
/// no escape in it (its text). `None` for anything else, which serde decides.
fn plain(raw: Option<&str>) -> Option<Option<Cow<'_, str>>> {
    let Some(raw) = raw else {
        return Some(None);
    };
    let text = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!text.contains('\\')).then_some(Some(Cow::Borrowed(text)))
}

/// The JSON type of `text` when it parses as JSON at all.
fn json_kind_checked(text: &str) -> Option<&'static str> {
    serde_json::from_str::<&RawValue>(text)
        .ok()
        .map(|raw| json_kind(raw.get()))
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
