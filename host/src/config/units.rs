//! Sizes (`16mb`) and durations (`90s`) as configuration files and flags write them.

use std::time::Duration;

/// A size or duration that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub(super) String);

/// `16mb`, `512kb`, `1024` (bytes).
pub fn parse_size(text: &str) -> Result<usize, ValueError> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let n: usize = digits.parse().map_err(|_| {
        ValueError(format!(
            "`{text}` is not a size; write e.g. 16mb, 512kb or 1024"
        ))
    })?;
    let scale = match unit.trim() {
        "" | "b" => 1,
        "kb" | "k" | "kib" => 1 << 10,
        "mb" | "m" | "mib" => 1 << 20,
        other => {
            return Err(ValueError(format!(
                "unknown size unit `{other}`; use b, kb or mb"
            )));
        }
    };
    n.checked_mul(scale)
        .filter(|&n| n > 0)
        .ok_or_else(|| ValueError(format!("`{text}` is out of range")))
}

/// `500ms`, `90s`, `10m`, `2h`, `7d` (or plain seconds) as a duration.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().map_err(|_| {
        ValueError(format!(
            "{text:?} is not a duration such as 500ms, 90s, 10m, 2h or 7d"
        ))
    })?;
    if unit == "ms" {
        return Ok(Duration::from_millis(n));
    }
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(ValueError(format!(
                "unknown unit {other:?}; use ms, s, m, h or d"
            )));
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_their_units() {
        assert_eq!(parse_size("16mb"), Ok(16 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 years").is_err());
    }
}
