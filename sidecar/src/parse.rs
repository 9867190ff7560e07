//! A script's output, `key=value` per line, into values.
//!
//! The contract scripts are written to:
//! - One `key=value` per line. `\n` or `\r\n` ends a line. Blank lines and lines whose
//!   first non-blank character is `#` are ignored (not counted).
//! - The line's surrounding whitespace is trimmed, and so is the value's. The key is
//!   everything before the first `=`, taken as it is: `a b=1` and `a =1` are rejected
//!   (the key has a space), `a= 1` is `a` = 1.
//! - Keys are ASCII letters, digits and `_`, not starting with a digit (edge-common's
//!   label-name rule, the rule of a name part joined to the prefix).
//! - Values are what Prometheus itself reads: decimal numbers (`42`, `-0.5`, `1e3`,
//!   `.5`), `NaN` and `Inf`, `+Inf`, `-Inf`, `Infinity` in any case. Not hex, not `_`
//!   separators, not a number too large for an f64.
//! - Anything else (no `=`, a bad key, a bad value, a line that is not UTF-8) is
//!   skipped and counted in [`ParsedOutput::rejected`]; the caller logs
//!   [`ParsedOutput::first_problem`] once per run.
//! - A key whose value would take one of the sidecar's own names
//!   ([`ValueNames::own_family_for`]: `sidecar_info` under the prefix `edge_`) is
//!   rejected and counted like any bad line, so a script can neither hide nor spoof
//!   the sidecar's status.
//! - A key seen again replaces the earlier value and is counted in
//!   [`ParsedOutput::duplicates`].
//! - At most [`KeyRules::max_keys`] keys a run: a line with a new key after that is
//!   dropped and counted in [`ParsedOutput::over_limit`]; the first keys stay, and
//!   the run is not failed for it. Memory is bounded by the output cap and this.
//!
//! Only validated keys and parsed numbers leave this module, so nothing a script prints
//! can reach the `.prom` file as text: no newline, brace, quote or `#`.

use std::collections::HashMap;

use edge_common::exposition::names::is_label_name;

use crate::names::ValueNames;

/// `--max-keys-per-run`'s default: far more than a node's sensors, far less than
/// what would make the file large.
pub const DEFAULT_MAX_KEYS_PER_RUN: usize = 1000;

/// What a key must meet besides its syntax.
#[derive(Debug, Clone, Copy)]
pub struct KeyRules<'a> {
    /// Distinct keys kept from one run (`--max-keys-per-run`).
    pub max_keys: usize,
    /// How keys become names; keys that make one of the sidecar's own are rejected.
    pub names: &'a ValueNames,
}

/// What one run of a script printed, once read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedOutput {
    /// Validated keys and their values, in the order each key first appeared; for a
    /// repeated key the last value.
    pub values: Vec<(String, f64)>,
    /// Lines skipped: no `=`, a bad key, a bad value, not UTF-8. Blank lines and `#`
    /// comments are not counted.
    pub rejected: usize,
    /// Lines whose key had been seen before (their value replaced the earlier one).
    pub duplicates: usize,
    /// Lines with a new key after [`KeyRules::max_keys`] keys, dropped.
    pub over_limit: usize,
    /// The first key dropped for the limit, for the log.
    pub first_over_limit: Option<String>,
    /// The first rejected or repeated line and why, e.g. `line 3: key "a b" has a
    /// space`: one line (control characters escaped, long text cut) for the log.
    pub first_problem: Option<String>,
    /// Lines rejected because their key would take one of the sidecar's own names
    /// (also counted in `rejected`), and the first [`NAMED_OWN_KEYS`] of those keys,
    /// quoted, for a warning that names them.
    pub own_name_lines: usize,
    pub own_name_keys: Vec<String>,
}

/// How many of a run's keys that would take the sidecar's own names are named in its
/// warning (all are counted).
pub const NAMED_OWN_KEYS: usize = 8;

/// Reads a script's whole output. Never fails: every line is a value, ignored, or
/// rejected and counted.
pub fn parse_key_values(output: &[u8], rules: &KeyRules) -> ParsedOutput {
    let mut parsed = ParsedOutput::default();
    // Each key's index in `values` and the line it was last set on.
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for (index, raw) in output.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = raw.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let (key, value) = match parse_line(line, rules.names) {
            Ok(pair) => pair,
            Err(why) => {
                parsed.rejected += 1;
                if let Rejected::OwnName { key, .. } = &why {
                    parsed.own_name_lines += 1;
                    if parsed.own_name_keys.len() < NAMED_OWN_KEYS {
                        parsed.own_name_keys.push(quote(key));
                    }
                }
                parsed
                    .first_problem
                    .get_or_insert_with(|| format!("line {number}: {why}"));
                continue;
            }
        };
        match seen.get_mut(key) {
            Some((slot, previous)) => {
                parsed.duplicates += 1;
                parsed.first_problem.get_or_insert_with(|| {
                    format!(
                        "line {number}: key {} repeats line {previous}; the last value wins",
                        quote(key)
                    )
                });
                parsed.values[*slot].1 = value;
                *previous = number;
            }
            None if parsed.values.len() >= rules.max_keys => {
                parsed.over_limit += 1;
                parsed
                    .first_over_limit
                    .get_or_insert_with(|| format!("line {number}: key {}", quote(key)));
            }
            None => {
                seen.insert(key.to_string(), (parsed.values.len(), number));
                parsed.values.push((key.to_string(), value));
            }
        }
    }
    parsed
}

/// Why a line was rejected; displayed in [`ParsedOutput::first_problem`].
#[derive(Debug, thiserror::Error)]
enum Rejected<'a> {
    #[error("not UTF-8")]
    NotUtf8,
    #[error("no '=' in {}", quote(.0))]
    NoEquals(&'a str),
    #[error("no key before '='")]
    NoKey,
    #[error("key {} has a space", quote(.0))]
    KeyHasSpace(&'a str),
    #[error("key {} is not letters, digits and _ (not starting with a digit)", quote(.0))]
    BadKey(&'a str),
    #[error("key {} has no value", quote(.0))]
    NoValue(&'a str),
    #[error("value {} of key {} is not a number", quote(.value), quote(.key))]
    NotANumber { key: &'a str, value: &'a str },
    #[error("key {} would make {name}, which collides with the sidecar's own {own}", quote(.key))]
    OwnName {
        key: &'a str,
        name: String,
        own: String,
    },
}

/// One trimmed, non-blank, non-comment line into its key and value, or why not. A
/// key follows the rule of a label name (`[a-zA-Z_][a-zA-Z0-9_]*`), the rule for a
/// name part joined to the prefix, and must not make one of the sidecar's own names.
fn parse_line<'a>(line: &'a [u8], names: &ValueNames) -> Result<(&'a str, f64), Rejected<'a>> {
    let line = std::str::from_utf8(line).map_err(|_| Rejected::NotUtf8)?;
    let Some((key, value)) = line.split_once('=') else {
        return Err(Rejected::NoEquals(line));
    };
    if key.is_empty() {
        return Err(Rejected::NoKey);
    }
    if key.contains(|c: char| c.is_whitespace()) {
        return Err(Rejected::KeyHasSpace(key));
    }
    if !is_label_name(key) {
        return Err(Rejected::BadKey(key));
    }
    let value = value.trim_ascii();
    if value.is_empty() {
        return Err(Rejected::NoValue(key));
    }
    let number =
        edge_common::text::parse_value(value).ok_or(Rejected::NotANumber { key, value })?;
    if let Some(own) = names.own_family_for(key) {
        return Err(Rejected::OwnName {
            key,
            name: names.name(key),
            own: own.to_string(),
        });
    }
    Ok((key, number))
}

/// Quotes script text for a log line: control characters escaped, cut after
/// `MAX_QUOTED` characters so a megabyte of garbage makes a short message.
fn quote(text: &str) -> String {
    const MAX_QUOTED: usize = 64;
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default rules under the prefix `edge_`.
    fn parse(output: &[u8]) -> ParsedOutput {
        let names = ValueNames::new("edge_");
        parse_key_values(
            output,
            &KeyRules {
                max_keys: DEFAULT_MAX_KEYS_PER_RUN,
                names: &names,
            },
        )
    }

    fn values(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn reads_keys_and_every_kind_of_value() {
        let parsed = parse(
            b"temp=42\nfan_rpm=1e3\n_offset=-0.5\nA1=.5\nb=5.\nc=+3\nd=1E-2\n\
              nan=NaN\nup=+Inf\ndown=-Inf\ne=inf\nf=-infinity\ng=nan\nh=-0\n",
        );
        assert_eq!(parsed.rejected, 0);
        assert_eq!(parsed.duplicates, 0);
        assert_eq!(parsed.first_problem, None);
        let keys: Vec<&str> = parsed.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "temp", "fan_rpm", "_offset", "A1", "b", "c", "d", "nan", "up", "down", "e", "f",
                "g", "h"
            ]
        );
        let v: Vec<f64> = parsed.values.iter().map(|(_, v)| *v).collect();
        assert_eq!(v[..7], [42.0, 1000.0, -0.5, 0.5, 5.0, 3.0, 0.01]);
        assert!(v[7].is_nan());
        assert_eq!(v[8], f64::INFINITY);
        assert_eq!(v[9], f64::NEG_INFINITY);
        assert_eq!(v[10], f64::INFINITY);
        assert_eq!(v[11], f64::NEG_INFINITY);
        assert!(v[12].is_nan());
        assert_eq!(v[13], 0.0);
    }

    #[test]
    fn whitespace_crlf_blank_lines_and_comments() {
        let parsed =
            parse(b"  a=1  \r\n\tb= 2\t\r\nc=3\r\n\r\n   \n# a comment\n  #x=9\n#\nd =4\ne=5");
        assert_eq!(
            parsed.values,
            values(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("e", 5.0)])
        );
        assert_eq!(parsed.rejected, 1);
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some("line 9: key \"d \" has a space")
        );
        assert_eq!(parse(b"").values, vec![]);
        assert_eq!(parse(b"\n\n\r\n").rejected, 0);
    }

    #[test]
    fn rejects_bad_lines_and_says_why() {
        let cases: &[(&[u8], &str)] = &[
            (b"a b=1", "line 1: key \"a b\" has a space"),
            (b"a\tb=1", "line 1: key \"a\\tb\" has a space"),
            (b"temp", "line 1: no '=' in \"temp\""),
            (b"temp 42", "line 1: no '=' in \"temp 42\""),
            (b"=1", "line 1: no key before '='"),
            (b"x=", "line 1: key \"x\" has no value"),
            (b"x=  ", "line 1: key \"x\" has no value"),
            (
                b"1a=1",
                "line 1: key \"1a\" is not letters, digits and _ (not starting with a digit)",
            ),
            (
                b"a-b=1",
                "line 1: key \"a-b\" is not letters, digits and _ (not starting with a digit)",
            ),
            (
                b"a.b=1",
                "line 1: key \"a.b\" is not letters, digits and _ (not starting with a digit)",
            ),
            (
                "t\u{e9}mp=1".as_bytes(),
                "line 1: key \"t\u{e9}mp\" is not letters, digits and _ (not starting with a digit)",
            ),
            (b"x=abc", "line 1: value \"abc\" of key \"x\" is not a number"),
            (b"x=1 2", "line 1: value \"1 2\" of key \"x\" is not a number"),
            (b"x==1", "line 1: value \"=1\" of key \"x\" is not a number"),
            (b"x=1=2", "line 1: value \"1=2\" of key \"x\" is not a number"),
            (b"x=0x10", "line 1: value \"0x10\" of key \"x\" is not a number"),
            (b"x=1_000", "line 1: value \"1_000\" of key \"x\" is not a number"),
            (b"x=1e400", "line 1: value \"1e400\" of key \"x\" is not a number"),
            (b"x=+nan", "line 1: value \"+nan\" of key \"x\" is not a number"),
            (b"x=infin", "line 1: value \"infin\" of key \"x\" is not a number"),
            (b"x=\"1\"", "line 1: value \"\\\"1\\\"\" of key \"x\" is not a number"),
            (
                b"x=1 # note",
                "line 1: value \"1 # note\" of key \"x\" is not a number",
            ),
            (b"x=1e", "line 1: value \"1e\" of key \"x\" is not a number"),
            (b"x=.", "line 1: value \".\" of key \"x\" is not a number"),
            (b"\n\nx=\x00", "line 3: value \"\\0\" of key \"x\" is not a number"),
            (b"\xff=1", "line 1: not UTF-8"),
            (b"x=\xfe", "line 1: not UTF-8"),
        ];
        for (text, message) in cases {
            let parsed = parse(text);
            let shown = String::from_utf8_lossy(text);
            assert_eq!(parsed.values, vec![], "{shown:?}");
            assert_eq!(parsed.rejected, 1, "{shown:?}");
            assert_eq!(parsed.duplicates, 0, "{shown:?}");
            assert_eq!(parsed.first_problem.as_deref(), Some(*message), "{shown:?}");
        }
    }

    #[test]
    fn invalid_utf8_lines_are_rejected_and_the_rest_kept() {
        let parsed = parse(b"a=1\n\xff\xfe=2\nb=\xc3\x28\nc=3\n\xe2\x82=4\n");
        assert_eq!(parsed.values, values(&[("a", 1.0), ("c", 3.0)]));
        assert_eq!(parsed.rejected, 3);
        assert_eq!(parsed.first_problem.as_deref(), Some("line 2: not UTF-8"));
    }

    #[test]
    fn the_last_value_of_a_repeated_key_wins_in_first_seen_order() {
        let parsed = parse(b"a=1\nb=2\na=3\nc=4\na=5\nb=bad\n");
        assert_eq!(parsed.values, values(&[("a", 5.0), ("b", 2.0), ("c", 4.0)]));
        assert_eq!(parsed.duplicates, 2);
        assert_eq!(parsed.rejected, 1);
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some("line 3: key \"a\" repeats line 1; the last value wins")
        );
        // The message names the line the key was last set on.
        let parsed = parse(b"a=1\na=2\na=3\n");
        assert_eq!(parsed.values, values(&[("a", 3.0)]));
        assert_eq!(parsed.duplicates, 2);
        // Keys are case-sensitive.
        assert_eq!(parse(b"a=1\nA=2").duplicates, 0);
    }

    #[test]
    fn the_first_problem_is_the_first_line_with_one() {
        let parsed = parse(b"ok=1\nbad line\nok=2\n1x=3\n");
        assert_eq!(parsed.rejected, 2);
        assert_eq!(parsed.duplicates, 1);
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some("line 2: no '=' in \"bad line\"")
        );
    }

    #[test]
    fn problems_are_one_short_log_line() {
        let long = format!("{}\u{7}x", "y".repeat(200));
        let parsed = parse(long.as_bytes());
        let problem = parsed.first_problem.unwrap();
        assert_eq!(
            problem,
            format!("line 1: no '=' in \"{}…\"", "y".repeat(64))
        );
        let parsed = parse(b"k\x1b[2J=1");
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some("line 1: key \"k\\u{1b}[2J\" is not letters, digits and _ (not starting with a digit)")
        );
    }

    #[test]
    fn injection_attempts_are_rejected() {
        let attempts: &[&[u8]] = &[
            b"x{a=\"1\"}=1",
            b"x}=1",
            b"x\"=1",
            b"x#=1",
            b"x=1}",
            b"x=1\" ",
            b"x=1 # TYPE x counter",
            b"x=1\rinjected 2",
            b"x\\n=1",
        ];
        for text in attempts {
            let parsed = parse(text);
            assert_eq!(
                (parsed.values.len(), parsed.rejected),
                (0, 1),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// A script's keys follow edge-common's label-name rule.
    #[test]
    fn valid_keys() {
        for key in ["a", "_", "_1", "temp_c", "A_b9", "__x"] {
            assert!(is_label_name(key), "{key:?}");
        }
        for key in [
            "", "1", "9a", "a-b", "a b", "a:b", "a.b", "é", "a\n", "a{", "a\"", "a#",
        ] {
            assert!(!is_label_name(key), "{key:?}");
        }
    }

    #[test]
    fn keys_that_make_the_sidecars_own_names_are_bad_lines() {
        let parsed = parse(
            b"sidecar_source_success=1\nok=1\nsidecar_info=42\nsidecar_source_runs=5\n\
              sidecar_source_runs_total=3\nsidecar_source_runs_created=1\nsidecar_x=2\n",
        );
        assert_eq!(parsed.values, values(&[("ok", 1.0), ("sidecar_x", 2.0)]));
        assert_eq!(parsed.rejected, 5);
        assert_eq!(parsed.own_name_lines, 5);
        assert_eq!(parsed.own_name_keys[1], "\"sidecar_info\"");
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some(
                "line 1: key \"sidecar_source_success\" would make edge_sidecar_source_success, \
                 which collides with the sidecar's own edge_sidecar_source_success"
            )
        );
        let parsed = parse(b"sidecar_source_runs=5\n");
        assert_eq!(
            parsed.first_problem.as_deref(),
            Some(
                "line 1: key \"sidecar_source_runs\" would make edge_sidecar_source_runs, \
                 which collides with the sidecar's own edge_sidecar_source_runs_total"
            )
        );
    }

    #[test]
    fn keys_past_the_limit_are_dropped_and_counted_and_the_first_kept() {
        let names = ValueNames::new("edge_");
        let rules = KeyRules {
            max_keys: 3,
            names: &names,
        };
        let parsed = parse_key_values(b"a=1\nb=2\nc=3\nd=4\na=5\ne=6\nbad\nd=7\n", &rules);
        assert_eq!(parsed.values, values(&[("a", 5.0), ("b", 2.0), ("c", 3.0)]));
        assert_eq!(parsed.over_limit, 3);
        assert_eq!(parsed.duplicates, 1);
        assert_eq!(parsed.rejected, 1);
        assert_eq!(
            parsed.first_over_limit.as_deref(),
            Some("line 4: key \"d\"")
        );
        // Own names do not take a place under the limit.
        let parsed = parse_key_values(b"sidecar_info=1\na=1\nb=1\nc=1\n", &rules);
        assert_eq!(parsed.values.len(), 3);
        assert_eq!((parsed.rejected, parsed.over_limit), (1, 0));
    }
}
