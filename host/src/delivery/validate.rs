//! Checks an entry against what EventBridge would reject, before it is sent. Some
//! EventBridge-compatible servers (moto among them) accept what AWS refuses, so these
//! checks are the only guard that behaves the same everywhere.

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::event::{Event, MAX_DETAIL_TYPE_CHARS, check_detail};
use crate::health::FailureCode;

/// Why EventBridge would refuse an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryProblem {
    /// `source` is empty or starts with `aws.`.
    #[error(
        "source {0:?} is not allowed: it is empty or starts with `aws.`, which EventBridge reserves"
    )]
    Source(String),
    /// `detail-type` is empty or longer than 128 characters.
    #[error("detail-type must be 1 to {MAX_DETAIL_TYPE_CHARS} characters, got {0}")]
    DetailType(usize),
    /// `detail` is not a JSON object, or holds an integer outside the 64-bit signed range.
    #[error("detail is not acceptable to EventBridge: {0}")]
    Detail(String),
}

impl EntryProblem {
    /// The error code recorded in the failure log, named like EventBridge's own.
    pub fn code(&self) -> FailureCode {
        match self {
            EntryProblem::Source(_) => FailureCode::InvalidSource,
            EntryProblem::DetailType(_) => FailureCode::InvalidDetailType,
            EntryProblem::Detail(_) => FailureCode::MalformedDetail,
        }
    }
}

/// Checks an entry's `Source`.
pub(crate) fn check_source(source: &str) -> Result<(), EntryProblem> {
    if source.is_empty() || source.starts_with("aws.") {
        return Err(EntryProblem::Source(source.to_string()));
    }
    Ok(())
}

/// Checks an entry's `DetailType`.
pub(crate) fn check_detail_type(detail_type: &str) -> Result<(), EntryProblem> {
    // No more bytes than the limit: no more characters either, with no need to count.
    if !detail_type.is_empty() && detail_type.len() <= MAX_DETAIL_TYPE_CHARS {
        return Ok(());
    }
    let chars = detail_type.chars().count();
    if chars == 0 || chars > MAX_DETAIL_TYPE_CHARS {
        return Err(EntryProblem::DetailType(chars));
    }
    Ok(())
}

/// Checks `event` as a `PutEvents` entry.
pub fn validate(event: &Event) -> Result<(), EntryProblem> {
    check_source(&event.source)?;
    check_detail_type(&event.detail_type)?;
    check_detail_text(&event.detail)
}

/// Checks a detail: a JSON object EventBridge takes.
pub(crate) fn check_detail_text(detail: &str) -> Result<(), EntryProblem> {
    if !detail.trim_start().starts_with('{') {
        return Err(EntryProblem::Detail("it must be a JSON object".into()));
    }
    check_value(detail).map_err(EntryProblem::Detail)
}

/// Checks one JSON value as EventBridge would check it inside a detail: it parses, its
/// integers fit in 64 bits, it is not nested too deep.
pub(crate) fn check_value(text: &str) -> Result<(), String> {
    serde_json::from_str::<Checked>(text).map_err(|e| e.to_string())?;
    // Integers beyond u64 reach the parser as floats: the text tells them apart.
    check_detail(text).map_err(|e| e.to_string())
}

/// Any JSON value whose integers all fit in `i64`, checked while parsing without building
/// the value.
pub(crate) struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Checked, E> {
        if n > i64::MAX as u64 {
            return Err(E::custom(format!(
                "the integer {n} does not fit in a signed 64-bit integer"
            )));
        }
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<IgnoredAny, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, detail_type: &str, detail: &str) -> Event {
        Event {
            id: "e".into(),
            source: source.into(),
            detail_type: detail_type.into(),
            time: String::new(),
            resources: Vec::new(),
            detail: detail.into(),
        }
    }

    #[test]
    fn accepts_a_normal_entry() {
        assert_eq!(
            validate(&event("a", "b", r#"{"n": -9223372036854775808}"#)),
            Ok(())
        );
    }

    #[test]
    fn refuses_what_eventbridge_refuses() {
        let code = |e: Event| validate(&e).unwrap_err().code();
        assert_eq!(code(event("aws.auth0", "b", "{}")), "InvalidSource");
        assert_eq!(code(event("", "b", "{}")), "InvalidSource");
        assert_eq!(code(event("a", "", "{}")), "InvalidDetailType");
        assert_eq!(
            code(event("a", &"x".repeat(129), "{}")),
            "InvalidDetailType"
        );
        assert_eq!(code(event("a", "b", "[1]")), "MalformedDetail");
        assert_eq!(code(event("a", "b", "\"text\"")), "MalformedDetail");
        assert_eq!(code(event("a", "b", "{not json")), "MalformedDetail");
        assert_eq!(
            code(event("a", "b", r#"{"x":[{"n":9223372036854775808}]}"#)),
            "MalformedDetail"
        );
        assert_eq!(
            code(event("a", "b", r#"{"x":[{"n":-184467440737095516160}]}"#)),
            "MalformedDetail"
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(150), "]".repeat(150));
        assert_eq!(code(event("a", "b", &deep)), "MalformedDetail");
    }

    #[test]
    fn detail_type_is_limited_in_characters_not_bytes() {
        for (detail_type, ok) in [
            ("x".repeat(128), true),
            ("x".repeat(129), false),
            // Two bytes each: 256 bytes, 128 characters.
            ("é".repeat(128), true),
            ("é".repeat(129), false),
            (format!("{}é", "x".repeat(127)), true),
            ("🦀".repeat(33), true),
        ] {
            assert_eq!(
                check_detail_type(&detail_type).is_ok(),
                ok,
                "{} bytes, {} characters",
                detail_type.len(),
                detail_type.chars().count()
            );
        }
    }
}
