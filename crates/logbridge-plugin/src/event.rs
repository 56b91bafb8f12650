//! One event as a plugin sees it, and typed, borrowing access to the detail fields the
//! plugin declared.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::bindings::types::{Edit, Envelope};

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

    fn check(&self, field: &str) -> Result<(), FieldError> {
        let related = |declared: &String| {
            let (short, long) = if declared.len() <= field.len() {
                (declared.as_str(), field)
            } else {
                (field, declared.as_str())
            };
            long == short
                || long
                    .strip_prefix(short)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        if self.declared.is_empty() || self.declared.iter().any(related) {
            return Ok(());
        }
        Err(FieldError {
            field: field.to_string(),
            message: format!(
                "not declared, so the host does not hand it over; add it to FIELDS (declared: {})",
                self.declared.join(", ")
            ),
        })
    }

    /// The value at dotted `field` as JSON text, if the detail has it.
    ///
    /// # Errors
    /// `field` is not declared, inside a declared field, or on the way to one.
    pub fn raw(&self, field: &str) -> Result<Option<&RawValue>, FieldError> {
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
    ) -> Result<[Option<&RawValue>; N], FieldError> {
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
        Ok(self.raw(field)?.and_then(|raw| {
            serde_json::from_str::<&str>(raw.get())
                .map(Cow::Borrowed)
                .or_else(|_| serde_json::from_str::<String>(raw.get()).map(Cow::Owned))
                .ok()
        }))
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
        serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| FieldError {
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

/// The values at dotted `paths` in `json`, in their order: one pass over each object on
/// the way, whatever the number of paths, and nothing allocated. A repeated key counts
/// once, the first time.
fn lookup_many<'a, const N: usize>(json: &'a str, paths: [&str; N]) -> [Option<&'a RawValue>; N] {
    let mut out = [None; N];
    let mut wanted = [(0, ""); N];
    for (at, path) in paths.iter().enumerate() {
        wanted[at] = (at, *path);
    }
    walk(json, &wanted, &mut out);
    out
}

/// Fills `out` at each wanted index with the value at its path below `json` (at most `N`
/// paths).
fn walk<'a, const N: usize>(
    json: &'a str,
    wanted: &[(usize, &str)],
    out: &mut [Option<&'a RawValue>; N],
) {
    let mut heads = [""; N];
    let mut count = 0;
    for (_, path) in wanted {
        let head = path.split('.').next().unwrap_or(path);
        if !heads[..count].contains(&head) {
            heads[count] = head;
            count += 1;
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let Ok(found) = Find::<N>(&heads[..count]).deserialize(&mut de) else {
        return;
    };
    for (head, raw) in heads[..count].iter().zip(found) {
        let Some(raw) = raw else { continue };
        let mut deeper = [(0, ""); N];
        let mut below = 0;
        for (at, path) in wanted {
            match path.split_once('.') {
                None if path == head => out[*at] = Some(raw),
                Some((first, rest)) if first == *head => {
                    deeper[below] = (*at, rest);
                    below += 1;
                }
                _ => {}
            }
        }
        if below > 0 {
            walk(raw.get(), &deeper[..below], out);
        }
    }
}

/// Finds some keys' values (at most `N`) in a JSON object; none in anything else.
struct Find<'k, const N: usize>(&'k [&'k str]);

impl<'de, const N: usize> DeserializeSeed<'de> for Find<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Find<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.0.iter().position(|k| *k == key.0) {
                Some(at) if found[at].is_none() => {
                    found[at] = Some(map.next_value::<&'de RawValue>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok([None; N])
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok([None; N])
    }
}

/// A map key, borrowed when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
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
