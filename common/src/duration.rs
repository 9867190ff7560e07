//! Go-style durations (`5s`, `500ms`, `1m30s`, `1.5h`), as node_exporter's flags take
//! them, so the same flag values work for both.

use std::time::Duration;

/// Why a duration could not be read; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}")]
    Invalid(String),
    #[error("{0:?}: must not be negative")]
    Negative(String),
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

/// Parses a Go `time.Duration` string (`5s`, `500ms`, `1m30s`, `1.5h`, `250us`).
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.starts_with('-') {
        return Err(DurationError::Negative(text.to_owned()));
    }
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    if unsigned.is_empty() {
        return Err(invalid());
    }
    let mut rest = unsigned;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..len];
            rest = &after_dot[len..];
        }
        if int_part.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(DurationError::MissingUnit(text.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    text: text.to_owned(),
                })
            }
        };
        rest = &rest[unit_len..];
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole.checked_mul(unit).ok_or_else(invalid)?;
        // Digits past nanosecond precision cannot change the result.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().map_err(|_| invalid())?;
            nanos += digits * unit / 10u128.pow(fraction.len() as u32);
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
    }
    let total = u64::try_from(total).map_err(|_| invalid())?;
    Ok(Duration::from_nanos(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse_go_duration("5s"), Ok(ms(5000)));
        assert_eq!(parse_go_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_go_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_go_duration("1h2m3.5s"), Ok(ms(3_723_500)));
        assert_eq!(parse_go_duration("+.5s"), Ok(ms(500)));
        assert_eq!(parse_go_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_go_duration("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_go_duration("5").unwrap_err().to_string(),
            "missing unit in duration \"5\""
        );
        assert_eq!(
            parse_go_duration("5x").unwrap_err().to_string(),
            "unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(
            parse_go_duration("").unwrap_err().to_string(),
            "invalid duration \"\""
        );
        assert_eq!(
            parse_go_duration("s").unwrap_err().to_string(),
            "invalid duration \"s\""
        );
        assert_eq!(parse_go_duration("1.s"), Ok(ms(1000)));
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("99999999999999999999h").is_err());
    }
}

/// A Go duration, or a whole number of days (`7d`, `30d`) as retention flags spell
/// them (Go's durations stop at hours).
pub fn parse_duration_or_days(text: &str) -> Result<Duration, DurationError> {
    match text.strip_suffix('d') {
        Some(days) if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) => {
            let invalid = || DurationError::Invalid(text.to_owned());
            let days: u64 = days.parse().map_err(|_| invalid())?;
            days.checked_mul(86_400)
                .map(Duration::from_secs)
                .ok_or_else(invalid)
        }
        _ => parse_go_duration(text),
    }
}

#[cfg(test)]
mod day_tests {
    use super::*;

    #[test]
    fn days_or_go_durations() {
        assert_eq!(
            parse_duration_or_days("30d"),
            Ok(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration_or_days("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration_or_days("10s"), Ok(Duration::from_secs(10)));
        assert!(parse_duration_or_days("d").is_err());
        assert!(parse_duration_or_days("1.5d").is_err());
        assert!(parse_duration_or_days("x").is_err());
    }
}
