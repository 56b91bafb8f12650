//! One event as a plugin sees it, and typed, borrowing access to the detail fields the
//! plugin declared.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bindings::types::{Edit, Envelope};
use crate::lookup::{Raw, lookup_many, same};

/// A field that could not be read: not declared, or not of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    field: String,
    message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// One event: its detail (only the fields the plugin declared, when it declared any) and
/// its envelope (when the plugin asked for it).
#[derive(Debug)]
pub struct Event<'a> {
    detail: String,
    envelope: Option<Envelope>,
    declared: &'a [String],
}

impl<'a> Event<'a> {
    /// An event with `detail` and `envelope`, for a plugin that declared `declared`
    /// (empty: the whole detail). The SDK makes these; tests of a plugin may too.
    pub fn new(detail: String, envelope: Option<Envelope>, declared: &'a [String]) -> Self {
        Event {
            detail,
            envelope,
            declared,
        }
    }

    /// The detail as JSON text: the declared fields only, on their paths, when the plugin
    /// declared any.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The envelope (id, source, detail-type, time, resources), when the plugin asked for
    /// it (`ENVELOPE = true`).
    pub fn envelope(&self) -> Option<&Envelope> {
        self.envelope.as_ref()
    }

    /// Whether `field` may be read: declared, inside a declared field, or on the way to
    /// one. Kept small so it is inlined into every read; the error is built apart.
    #[inline]
    fn check(&self, field: &str) -> Result<(), FieldError> {
        if self.declared.is_empty() || self.declared.iter().any(|d| related(d, field)) {
            Ok(())
        } else {
            Err(self.undeclared(field))
        }
    }

    #[cold]
    #[inline(never)]
    fn undeclared(&self, field: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: format!(
                "not declared, so the host does not hand it over; add it to FIELDS (declared: {})",
                self.declared.join(", ")
            ),
        }
    }

    /// The value at dotted `field` as JSON text, if the detail has it.
    ///
    /// # Errors
    /// `field` is not declared, inside a declared field, or on the way to one.
    pub fn raw(&self, field: &str) -> Result<Option<Raw<'_>>, FieldError> {
        let [raw] = self.raws([field])?;
        Ok(raw)
    }

    /// The values at several dotted `fields` as JSON text, in one pass over the detail:
    /// cheaper than asking for each. A key the detail repeats counts the first time.
    ///
    /// # Errors
    /// As [`Event::raw`], for any of them.
    pub fn raws<const N: usize>(
        &self,
        fields: [&str; N],
    ) -> Result<[Option<Raw<'_>>; N], FieldError> {
        for field in fields {
            self.check(field)?;
        }
        Ok(lookup_many(&self.detail, fields))
    }

    /// Whether the detail has dotted `field` (with any value, `null` included).
    ///
    /// # Errors
    /// As [`Event::raw`].
    pub fn has(&self, field: &str) -> Result<bool, FieldError> {
        self.raw(field).map(|raw| raw.is_some())
    }

    /// The string at dotted `field`, borrowed from the detail when it holds no escapes;
    /// `None` when the detail lacks the field or its value is not a string.
    ///
    /// # Errors
    /// As [`Event::raw`].
    pub fn str(&self, field: &str) -> Result<Option<Cow<'_, str>>, FieldError> {
        Ok(self.raw(field)?.and_then(Raw::as_str))
    }

    /// The value at dotted `field` as a `T` (borrowing from the detail where `T` does),
    /// if the detail has the field.
    ///
    /// # Errors
    /// As [`Event::raw`], or the value is not a `T`.
    pub fn get<'de, T: Deserialize<'de>>(&'de self, field: &str) -> Result<Option<T>, FieldError> {
        let Some(raw) = self.raw(field)? else {
            return Ok(None);
        };
        raw.parse().map(Some).map_err(|e| FieldError {
            field: field.to_string(),
            message: format!("{e}: {}", raw.get()),
        })
    }

    /// The whole (declared part of the) detail as a `T`, borrowing where `T` does.
    ///
    /// # Errors
    /// The detail is not a `T`.
    pub fn parse<'de, T: Deserialize<'de>>(&'de self) -> Result<T, FieldError> {
        serde_json::from_str(&self.detail).map_err(|e| FieldError {
            field: String::new(),
            message: format!("the detail does not parse as asked: {e}"),
        })
    }
}

/// Whether dotted paths `a` and `b` are the same, or one lies inside the other.
#[inline]
fn related(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() {
        (a.as_bytes(), b.as_bytes())
    } else {
        (b.as_bytes(), a.as_bytes())
    };
    (long.len() == short.len() || long[short.len()] == b'.') && same(&long[..short.len()], short)
}

/// What a transformer changes: edits to the detail (set or remove a field) and, if it
/// wants, a new envelope. Fields it does not name stay byte for byte.
#[derive(Debug, Default)]
pub struct Edits {
    pub(crate) edits: Vec<Edit>,
    pub(crate) envelope: Option<Envelope>,
}

impl Edits {
    /// No changes: the event goes on as it came.
    pub fn new() -> Self {
        Edits::default()
    }

    /// Sets dotted `field` to `value` (added when the detail lacks it). The field must be
    /// one the plugin declared, or inside one.
    pub fn set(&mut self, field: &str, value: impl Serialize) -> &mut Self {
        let json = serde_json::to_string(&value)
            .unwrap_or_else(|e| panic!("the new value of `{field}` does not serialize: {e}"));
        self.edits.push(Edit {
            field: field.to_string(),
            value: Some(json),
        });
        self
    }

    /// Sets dotted `field` to `json`, JSON text written by the plugin.
    pub fn set_json(&mut self, field: &str, json: impl Into<String>) -> &mut Self {
        self.edits.push(Edit {
            field: field.to_string(),
            value: Some(json.into()),
        });
        self
    }

    /// Removes dotted `field` (nothing happens when the detail lacks it).
    pub fn remove(&mut self, field: &str) -> &mut Self {
        self.edits.push(Edit {
            field: field.to_string(),
            value: None,
        });
        self
    }

    /// Replaces the whole envelope.
    pub fn envelope(&mut self, envelope: Envelope) -> &mut Self {
        self.envelope = Some(envelope);
        self
    }

    /// Whether there are no changes.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty() && self.envelope.is_none()
    }

    /// The edits so far: each a field and its new JSON value (`None`: removed).
    pub fn edits(&self) -> &[Edit] {
        &self.edits
    }
}

#[cfg(test)]
mod tests {
    use super::{Edits, Event};

    fn declared(fields: &[&str]) -> Vec<String> {
        fields.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn declared_fields_read_typed_and_borrowed() {
        let fields = declared(&["data.type", "data.details"]);
        let event = Event::new(
            r#"{"data":{"type":"s","details":{"n":3,"esc":"a\"b"}}}"#.into(),
            None,
            &fields,
        );
        assert_eq!(event.str("data.type").unwrap().as_deref(), Some("s"));
        assert!(matches!(
            event.str("data.type").unwrap(),
            Some(std::borrow::Cow::Borrowed(_))
        ));
        assert_eq!(event.get::<u32>("data.details.n").unwrap(), Some(3));
        assert_eq!(
            event.str("data.details.esc").unwrap().as_deref(),
            Some("a\"b")
        );
        assert!(event.has("data").unwrap());
        assert_eq!(event.str("data.details.absent").unwrap(), None);
        assert_eq!(event.str("data.details.n").unwrap(), None);
        let err = event.get::<bool>("data.details.n").unwrap_err().to_string();
        assert!(
            err.starts_with("field `data.details.n`: invalid type"),
            "{err}"
        );
        let err = event.str("data.ip").unwrap_err().to_string();
        assert!(err.contains("not declared"), "{err}");
    }

    #[test]
    fn several_fields_are_found_in_one_pass_and_the_first_of_a_repeated_key_counts() {
        let fields = declared(&["data.user_name", "data.ip"]);
        let event = Event::new(
            r#"{"data":{"ip":"1.2.3.4","user_name":"j","ip":"5.6.7.8"},"data":{"ip":"x"}}"#.into(),
            None,
            &fields,
        );
        let [data, name, ip, absent] = event
            .raws(["data", "data.user_name", "data.ip", "data.user_name.x"])
            .unwrap();
        assert!(data.unwrap().get().starts_with(r#"{"ip":"1.2.3.4""#));
        assert_eq!(name.unwrap().get(), r#""j""#);
        assert_eq!(ip.unwrap().get(), r#""1.2.3.4""#);
        assert!(absent.is_none());
        assert!(event.raws(["data.type"]).is_err());
    }

    #[test]
    fn a_plugin_that_declared_nothing_reads_anything_and_bad_json_reads_as_absent() {
        let event = Event::new(r#"{"a":{"b":[1]}}"#.into(), None, &[]);
        assert_eq!(event.raw("a.b").unwrap().unwrap().get(), "[1]");
        assert_eq!(event.str("a.b.c").unwrap(), None);
        let broken = Event::new("not json".into(), None, &[]);
        assert_eq!(broken.str("a").unwrap(), None);
    }

    #[test]
    fn edits_serialize_their_values() {
        let mut edits = Edits::new();
        edits
            .set("data.user_name", "***@example.com")
            .remove("data.ip");
        let got: Vec<(&str, Option<&str>)> = edits
            .edits()
            .iter()
            .map(|e| (e.field.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("data.user_name", Some(r#""***@example.com""#)),
                ("data.ip", None)
            ]
        );
    }
}
