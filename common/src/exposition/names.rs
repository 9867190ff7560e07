//! The name rules of the format, one copy for the writers, the parser and every
//! program that turns outside text (a script's key, a sensor file's name) into a name.

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric (family) name.
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(is_metric_name_start) && bytes.all(is_metric_name_char)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name. Also the rule for a name *part* that is
/// joined to a prefix (a script's key, a sensor's value name): no colons, which
/// Prometheus keeps for recording rules.
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(is_label_name_start) && bytes.all(is_label_name_char)
}

/// Label names starting with `__` are Prometheus's own (`__name__`, `__address__`):
/// an exposition must not carry them.
pub fn is_reserved_label_name(name: &str) -> bool {
    name.starts_with("__")
}

pub const fn is_label_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

pub const fn is_label_name_char(byte: u8) -> bool {
    is_label_name_start(byte) || byte.is_ascii_digit()
}

pub const fn is_metric_name_start(byte: u8) -> bool {
    is_label_name_start(byte) || byte == b':'
}

pub const fn is_metric_name_char(byte: u8) -> bool {
    is_label_name_char(byte) || byte == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "_x", "node_cpu_seconds_total", "job:rate5m", "A9"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        for good in ["a", "_x", "le", "__name__"] {
            assert!(is_label_name(good), "{good}");
        }
        for bad in ["", "9a", "a:b", "a-b"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        assert!(is_reserved_label_name("__name__"));
        assert!(!is_reserved_label_name("_x"));
    }
}
