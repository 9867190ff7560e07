//! `node_os_info`, `node_os_version` and (node_exporter 1.8) the end of the release's
//! support, `node_os_support_end_timestamp_seconds` from `SUPPORT_END=YYYY-MM-DD`
//! (midnight UTC; a date Go's `time.DateOnly` refuses fails the collector), from the
//! host's os-release (`<rootfs>/etc/os-release`, else `<rootfs>/usr/lib/os-release`).
//!
//! The file is parsed again only when its modification time changes (an upgrade),
//! so a steady-state scrape costs one stat.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "os",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Os::new(ctx.paths))),
};

const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

pub struct Os {
    candidates: [PathBuf; 2],
    cached: Option<(PathBuf, SystemTime, OsRelease)>,
}

/// The parsed key/value pairs of an os-release file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsRelease {
    pub fields: Vec<(String, String)>,
}

impl OsRelease {
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// node_exporter's version: the leading `major[.minor]` of VERSION_ID, else 0.
    pub fn version(&self) -> f64 {
        let id = self.get("VERSION_ID");
        let mut end = 0;
        let mut seen_dot = false;
        for (i, c) in id.char_indices() {
            if c.is_ascii_digit() {
                end = i + 1;
            } else if c == '.' && !seen_dot && end > 0 {
                seen_dot = true;
                end = i + 1;
            } else {
                break;
            }
        }
        id[..end].trim_end_matches('.').parse().unwrap_or(0.0)
    }
}

impl Os {
    pub fn new(paths: &Paths) -> Self {
        Os {
            candidates: [
                paths.rootfs_path("/etc/os-release"),
                paths.rootfs_path("/usr/lib/os-release"),
            ],
            cached: None,
        }
    }

    fn release(&mut self) -> Result<&OsRelease, CollectError> {
        let mut found = None;
        let mut last_error = None;
        for path in &self.candidates {
            // metadata() follows the symlink /etc/os-release -> ../usr/lib/os-release.
            match std::fs::metadata(path).and_then(|m| m.modified()) {
                Ok(modified) => {
                    found = Some((path.clone(), modified));
                    break;
                }
                Err(e) => last_error = Some(CollectError::read(path, e)),
            }
        }
        let Some((path, modified)) = found else {
            self.cached = None;
            return Err(last_error.unwrap_or_else(|| {
                CollectError::parse(&self.candidates[0], 0, "no os-release file")
            }));
        };
        let fresh = matches!(&self.cached, Some((p, m, _)) if *p == path && *m == modified);
        if !fresh {
            let release = parse_os_release(&read_table_string(&path)?, &path)?;
            self.cached = Some((path, modified, release));
        }
        match &self.cached {
            Some((_, _, release)) => Ok(release),
            None => Err(CollectError::parse(
                &self.candidates[0],
                0,
                "no os-release file",
            )),
        }
    }
}

impl Collector for Os {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        self.release()?;
        let Some((path, _, release)) = &self.cached else {
            return Err(CollectError::parse(
                &self.candidates[0],
                0,
                "no os-release file",
            ));
        };
        let labels: Vec<(&'static str, &str)> = INFO_LABELS
            .iter()
            .map(|(label, key)| (*label, release.get(key)))
            .collect();
        out.gauge(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            &labels,
            1.0,
        );
        // Like node_exporter, no version series when VERSION_ID has no number.
        let version = release.version();
        if version > 0.0 {
            out.gauge(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                &[
                    ("id", release.get("ID")),
                    ("id_like", release.get("ID_LIKE")),
                    ("name", release.get("NAME")),
                ],
                version,
            );
        }
        let support_end = release.get("SUPPORT_END");
        if !support_end.is_empty() {
            let seconds = date_only_seconds(support_end).ok_or_else(|| {
                CollectError::parse(
                    path,
                    0,
                    format!("SUPPORT_END: not a YYYY-MM-DD date: {support_end:?}"),
                )
            })?;
            out.gauge(
                "node_os_support_end_timestamp_seconds",
                "Metric containing the end-of-life date timestamp of the OS.",
                &[],
                seconds as f64,
            );
        }
        Ok(())
    }
}

/// Go's `time.Parse(time.DateOnly, text)` as Unix seconds (midnight UTC): exactly
/// `YYYY-MM-DD`, a real day of that month.
pub fn date_only_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some((era * 146_097 + day_of_era - 719_468) * 86_400)
}

/// Parses os-release's shell-like `KEY=value` lines as node_exporter's go-envparse
/// does: an optional `export `, bare, "double-quoted" (JSON-like escapes) or
/// 'single-quoted' values; `#` comments and blank lines skipped.
pub fn parse_os_release(text: &str, path: &Path) -> Result<OsRelease, CollectError> {
    let mut release = OsRelease::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: &str| CollectError::parse(path, index + 1, message);
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| err("expected KEY=value"))?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(err("bad key"));
        }
        let value = match raw.as_bytes().first() {
            Some(b'"') => {
                let inner = raw[1..]
                    .strip_suffix('"')
                    .ok_or_else(|| err("unterminated double quote"))?;
                let mut value = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        match chars.next() {
                            Some(c @ ('"' | '\\' | '/')) => value.push(c),
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(_) => return Err(err("invalid escape sequence")),
                            None => return Err(err("trailing backslash")),
                        }
                    } else {
                        value.push(c);
                    }
                }
                value
            }
            Some(b'\'') => raw[1..]
                .strip_suffix('\'')
                .ok_or_else(|| err("unterminated single quote"))?
                .to_string(),
            _ => raw.to_string(),
        };
        release.fields.push((key.to_string(), value));
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n# comment\n\nHOME_URL='https://www.debian.org/'\nQUOTED=\"a \\\"b\\\" \\\\c\"\n";

    #[test]
    fn parses_quotes_and_versions() {
        let release = parse_os_release(DEBIAN, Path::new("os-release")).unwrap();
        assert_eq!(release.get("PRETTY_NAME"), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(release.get("VERSION_CODENAME"), "bookworm");
        assert_eq!(release.get("HOME_URL"), "https://www.debian.org/");
        assert_eq!(release.get("QUOTED"), "a \"b\" \\c");
        assert_eq!(release.get("MISSING"), "");
        assert_eq!(release.version(), 12.0);
        let version = |id: &str| {
            OsRelease {
                fields: vec![("VERSION_ID".into(), id.into())],
            }
            .version()
        };
        assert_eq!(version("22.04"), 22.04);
        assert_eq!(version("3.18.4"), 3.18);
        assert_eq!(version("rolling"), 0.0);
        assert_eq!(version(""), 0.0);
    }

    #[test]
    fn support_end_dates_like_gos_date_only() {
        assert_eq!(date_only_seconds("1970-01-01"), Some(0));
        assert_eq!(date_only_seconds("2028-03-15"), Some(1_836_691_200));
        assert_eq!(date_only_seconds("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-01x",
            "2024/01/01",
            "",
        ] {
            assert_eq!(date_only_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn support_end_is_exported_and_a_bad_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let file = dir.path().join("etc/os-release");
        std::fs::write(&file, "ID=fedora\nVERSION_ID=40\nSUPPORT_END=2025-05-13\n").unwrap();
        let paths = Paths {
            rootfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let mut os = Os::new(&paths);
        let mut out = MetricSet::new();
        os.update(&mut Sources::default(), &mut out).unwrap();
        let family = out.get("node_os_support_end_timestamp_seconds").unwrap();
        assert_eq!(
            family.help,
            "Metric containing the end-of-life date timestamp of the OS."
        );
        assert_eq!(
            out.value("node_os_support_end_timestamp_seconds", &[]),
            Some(1_747_094_400.0)
        );
        assert_eq!(
            out.value("node_os_version", &[("id", "fedora")]),
            Some(40.0)
        );
        // Rewritten with a date Go refuses: the collector fails, naming the file.
        std::fs::write(&file, "ID=fedora\nSUPPORT_END=2025-5-13\n").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let err = os
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().contains("etc/os-release"), "{err}");
        assert!(err.to_string().contains("SUPPORT_END"), "{err}");
        // The fixture's Raspbian 12 has no SUPPORT_END: no series.
        let mut out = MetricSet::new();
        Os::new(&crate::test_support::fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        assert!(out.get("node_os_support_end_timestamp_seconds").is_none());
    }

    #[test]
    fn rejects_bad_lines() {
        let err = parse_os_release("ID=x\nNAME=\"open\n", Path::new("os-release")).unwrap_err();
        assert_eq!(err.to_string(), "os-release:2: unterminated double quote");
        let err = parse_os_release("A=\"\\$x\"\n", Path::new("os-release")).unwrap_err();
        assert_eq!(err.to_string(), "os-release:1: invalid escape sequence");
        let err = parse_os_release("just words\n", Path::new("os-release")).unwrap_err();
        assert_eq!(err.to_string(), "os-release:1: expected KEY=value");
    }

    #[test]
    fn rereads_only_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        let file = dir.path().join("usr/lib/os-release");
        std::fs::write(
            &file,
            "ID=alpine\nVERSION_ID=3.18.4\nNAME=\"Alpine Linux\"\n",
        )
        .unwrap();
        let paths = Paths {
            rootfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let mut os = Os::new(&paths);
        let mut out = MetricSet::new();
        os.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(
            out.value(
                "node_os_version",
                &[("id", "alpine"), ("name", "Alpine Linux")]
            ),
            Some(3.18)
        );
        // An upgrade rewrites the file with a new mtime.
        std::fs::write(&file, "ID=alpine\nVERSION_ID=3.19\nNAME=\"Alpine Linux\"\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let mut out = MetricSet::new();
        os.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(
            out.value("node_os_version", &[("id", "alpine")]),
            Some(3.19)
        );
        std::fs::remove_file(&file).unwrap();
        let err = os
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().contains("os-release"), "{err}");
    }
}
