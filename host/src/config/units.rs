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

/// `bytes` in the largest unit [`parse_size`] reads back exactly: `16mb`, `512kb`, `1000`.
pub fn format_size(bytes: usize) -> String {
    match bytes {
        0 => "0".to_string(),
        b if b % (1 << 20) == 0 => format!("{}mb", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}kb", b >> 10),
        b => b.to_string(),
    }
}

/// `d` in the largest unit [`parse_duration`] reads back exactly: `10m`, `30s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_string(),
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
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

    #[test]
    fn formatted_values_read_back_as_themselves() {
        for bytes in [1, 1000, 1024, 512 << 10, 16 << 20, (16 << 20) + 1] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(format_size(16 << 20), "16mb");
        for ms in [1, 999, 1000, 1500, 30_000, 600_000, 3_600_000, 86_400_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}");
        }
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
    }
}
