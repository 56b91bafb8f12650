//! Checks an entry against what EventBridge would reject, before it is sent. Some
//! EventBridge-compatible servers (moto among them) accept what AWS refuses, so these
//! checks are the only guard that behaves the same everywhere.

use serde_json::Value;

use crate::event::{Event, MAX_DETAIL_TYPE_CHARS};

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
    pub fn code(&self) -> &'static str {
        match self {
            EntryProblem::Source(_) => "InvalidSource",
            EntryProblem::DetailType(_) => "InvalidDetailType",
            EntryProblem::Detail(_) => "MalformedDetail",
        }
    }
}

/// Checks `event` as a `PutEvents` entry.
pub fn validate(event: &Event) -> Result<(), EntryProblem> {
    if event.source.is_empty() || event.source.starts_with("aws.") {
        return Err(EntryProblem::Source(event.source.clone()));
    }
    let chars = event.detail_type.chars().count();
    if chars == 0 || chars > MAX_DETAIL_TYPE_CHARS {
        return Err(EntryProblem::DetailType(chars));
    }
    let detail: Value = serde_json::from_str(&event.detail)
        .map_err(|e| EntryProblem::Detail(format!("not valid JSON ({e})")))?;
    if !detail.is_object() {
        return Err(EntryProblem::Detail("it must be a JSON object".into()));
    }
    if let Some(n) = oversized_integer(&detail) {
        return Err(EntryProblem::Detail(format!(
            "the integer {n} does not fit in a signed 64-bit integer"
        )));
    }
    Ok(())
}

/// The first integer in `value` above `i64::MAX`, if any.
fn oversized_integer(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().filter(|&u| u > i64::MAX as u64),
        Value::Array(items) => items.iter().find_map(oversized_integer),
        Value::Object(map) => map.values().find_map(oversized_integer),
        _ => None,
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
    }
}
