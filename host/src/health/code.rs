//! Failure codes: why an event failed, in a stable short form that the failure log, the
//! health page, `/metrics` and `logbridge failures` all show.

use std::fmt;

/// Why an event failed. Its string form ([`FailureCode::as_str`]) is stable: it is what
/// the failure log stores and every surface shows, so it can be matched in alerts.
///
/// Codes of logbridge's own are kebab-case (`bad-input`, `deadline`); codes EventBridge
/// (or the SDK reaching it) gives keep EventBridge's spelling (`ThrottlingException`).
/// New codes may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailureCode {
    /// Stage `ingest`: the input was not a log logbridge can take (`bad-input`).
    BadInput,
    /// A plugin call used up its CPU-time budget (`deadline`).
    Deadline,
    /// A plugin instance went past its memory cap (`memory-cap`).
    MemoryCap,
    /// A plugin overflowed its stack (`stack-overflow`).
    StackOverflow,
    /// A plugin panicked (`panic`).
    Panic,
    /// A plugin trapped for another reason (`trap`).
    Trap,
    /// A plugin made a call that would block the host (`blocking-call`).
    BlockingCall,
    /// A transformer returned an error of its own (`plugin-error`).
    PluginError,
    /// A plugin's output is not an event EventBridge would take (`malformed-output`).
    MalformedOutput,
    /// A transformer's output is larger than an entry may be (`oversize-output`).
    OversizeOutput,
    /// A router named a bus the host does not know (`unknown-bus`).
    UnknownBus,
    /// A plugin could not be instantiated for the event (`instantiate`).
    Instantiate,
    /// The host stopped at once before the entry was delivered (`aborted`).
    Aborted,
    /// The delivery task stopped before the entry was sent (`DeliveryStopped`).
    DeliveryStopped,
    /// The entry alone is larger than a `PutEvents` request may be (`EntryTooLarge`).
    EntryTooLarge,
    /// The entry's `Source` is not one EventBridge accepts (`InvalidSource`).
    InvalidSource,
    /// The entry's `DetailType` is not one EventBridge accepts (`InvalidDetailType`).
    InvalidDetailType,
    /// The entry's `Detail` is not one EventBridge accepts (`MalformedDetail`).
    MalformedDetail,
    /// Any other code, as EventBridge or the SDK gave it: `ThrottlingException`,
    /// `InternalFailure`, `ResourceNotFoundException`…
    EventBridge(String),
}

/// Every code of logbridge's own with its string form.
const OWN: &[(FailureCode, &str)] = &[
    (FailureCode::BadInput, "bad-input"),
    (FailureCode::Deadline, "deadline"),
    (FailureCode::MemoryCap, "memory-cap"),
    (FailureCode::StackOverflow, "stack-overflow"),
    (FailureCode::Panic, "panic"),
    (FailureCode::Trap, "trap"),
    (FailureCode::BlockingCall, "blocking-call"),
    (FailureCode::PluginError, "plugin-error"),
    (FailureCode::MalformedOutput, "malformed-output"),
    (FailureCode::OversizeOutput, "oversize-output"),
    (FailureCode::UnknownBus, "unknown-bus"),
    (FailureCode::Instantiate, "instantiate"),
    (FailureCode::Aborted, "aborted"),
    (FailureCode::DeliveryStopped, "DeliveryStopped"),
    (FailureCode::EntryTooLarge, "EntryTooLarge"),
    (FailureCode::InvalidSource, "InvalidSource"),
    (FailureCode::InvalidDetailType, "InvalidDetailType"),
    (FailureCode::MalformedDetail, "MalformedDetail"),
];

impl FailureCode {
    /// The stable string form.
    pub fn as_str(&self) -> &str {
        match self {
            FailureCode::EventBridge(code) => code,
            own => OWN
                .iter()
                .find(|(code, _)| code == own)
                .map_or("unknown", |(_, text)| text),
        }
    }

    /// The code whose string form is `text`; a text that is none of logbridge's own is
    /// EventBridge's ([`FailureCode::EventBridge`]).
    pub fn parse(text: &str) -> FailureCode {
        OWN.iter().find(|(_, own)| *own == text).map_or_else(
            || FailureCode::EventBridge(text.to_string()),
            |(code, _)| code.clone(),
        )
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for FailureCode {
    fn from(text: &str) -> Self {
        FailureCode::parse(text)
    }
}

impl PartialEq<str> for FailureCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<String> for FailureCode {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FailureCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for FailureCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FailureCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(FailureCode::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_string_form() {
        for (code, text) in OWN {
            assert_eq!(code.as_str(), *text);
            assert_eq!(&FailureCode::parse(text), code);
        }
        let throttled = FailureCode::parse("ThrottlingException");
        assert_eq!(
            throttled,
            FailureCode::EventBridge("ThrottlingException".into())
        );
        assert_eq!(throttled.to_string(), "ThrottlingException");
        let json = serde_json::to_string(&FailureCode::Deadline).unwrap();
        assert_eq!(json, "\"deadline\"");
        assert_eq!(
            serde_json::from_str::<FailureCode>(&json).unwrap(),
            FailureCode::Deadline
        );
    }

    #[test]
    fn string_forms_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for (_, text) in OWN {
            assert!(seen.insert(*text), "{text} twice");
        }
    }
}
