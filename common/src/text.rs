//! The small rules of the Prometheus text format that every program here writes or
//! reads: how a sample value is spelled and read, and how HELP text and label values
//! are escaped. One copy, so the exporter, the sidecar and the master agree.

use std::fmt::Write;

/// Writes a sample value as both text 0.0.4 and OpenMetrics accept it: `NaN`,
/// `+Inf`, `-Inf`, integers without a fraction, else the shortest form that reads
/// back the same (exponent form for very large or very small magnitudes).
pub fn write_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        // Exact: |value| < 2^53, so the cast loses nothing.
        write_integer(value as i64, out);
    } else if value != 0.0 && (value.abs() >= 1e15 || value.abs() < 1e-5) {
        // Display would spell out every digit of 1e300; the exponent form is shorter.
        let _ = write!(out, "{value:e}");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Most sample values are integers (counters, bytes): their digits without going
/// through `core::fmt`, which costs several times more per value.
fn write_integer(value: i64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    for &digit in &digits[at..] {
        out.push(digit as char);
    }
}

/// Reads a sample value as Prometheus's text parser does (Go's `strconv.ParseFloat`
/// without its hex and `_` forms): decimals, `NaN`, `Inf`/`Infinity` with a sign, in
/// any case. A decimal too large for an f64 is refused, not read as infinity.
pub fn parse_value(text: &str) -> Option<f64> {
    let negative = text.starts_with('-');
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Go takes no sign before NaN.
    if text.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    // Rust's parser also takes "+nan" and "infinity" spelled other ways: keep to digits.
    let decimal = unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !decimal {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

/// Text 0.0.4 HELP escapes backslash and newline only.
pub fn escape_help(text: &str, out: &mut String) {
    // Byte scan: HELP texts are written on every scrape and almost never need escaping.
    if !text.bytes().any(|b| b == b'\\' || b == b'\n') {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Label values (both formats) and OpenMetrics HELP escape backslash, quote and newline.
pub fn escape_label_value(text: &str, out: &mut String) {
    if !text.bytes().any(|b| b == b'\\' || b == b'"' || b == b'\n') {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_exactly() {
        let cases = [
            (0.0, "0"),
            (-3.0, "-3"),
            (1548288.0, "1548288"),
            (10.0, "10"),
            (-123456789.0, "-123456789"),
            (999_999_999_999_999.0, "999999999999999"),
            (-0.0, "0"),
            (154.17, "154.17"),
            (2.70553174016e11, "270553174016"),
            (1e300, "1e300"),
            (1.5e16, "1.5e16"),
            (1e-7, "1e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, text) in cases {
            let mut out = String::new();
            write_value(value, &mut out);
            assert_eq!(out, text, "value {value}");
            if value.is_finite() {
                assert_eq!(parse_value(&out), Some(value), "round trip of {text}");
            }
        }
    }

    #[test]
    fn values_are_read_as_prometheus_reads_them() {
        for (text, value) in [
            ("42", 42.0),
            ("-0.5", -0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+3", 3.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
        ] {
            assert_eq!(parse_value(text), Some(value), "{text}");
        }
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert!(parse_value("nan").is_some_and(f64::is_nan));
        for bad in [
            "", "+nan", "0x10", "1_000", "1e400", "abc", "1.2.3e", "--1", " 1",
        ] {
            assert_eq!(parse_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn escapes() {
        let mut out = String::new();
        escape_help("a\\b\nc\"d", &mut out);
        assert_eq!(out, "a\\\\b\\nc\"d");
        out.clear();
        escape_label_value("a\\b\nc\"d", &mut out);
        assert_eq!(out, "a\\\\b\\nc\\\"d");
        out.clear();
        escape_label_value("plain", &mut out);
        assert_eq!(out, "plain");
    }
}
