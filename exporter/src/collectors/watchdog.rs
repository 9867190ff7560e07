//! `node_watchdog_*` from `<sysfs>/class/watchdog/<watchdog>/`, as node_exporter 1.12's
//! watchdog collector (procfs `WatchdogClass`) reads them: the numbers `bootstatus`,
//! `fw_version`, `nowayout`, `timeleft`, `timeout`, `pretimeout` and `access_cs0`, each a
//! gauge when its file exists, and `node_watchdog_info` with the texts `options`,
//! `identity`, `state`, `status` and `pretimeout_governor` (empty when the file is
//! absent).
//!
//! Each file is read with procfs's `SysReadFile` (one read of at most 128 bytes,
//! trimmed) and numbers parsed as Go's `strconv.ParseInt(s, 0, 64)`. A missing file is
//! left out; any other read error, or a number that does not parse, fails the collector
//! with the file named. Most attributes are readable by root only on some drivers, so
//! a non-root exporter fails there as node_exporter does. No `class/watchdog`, or one
//! that cannot be listed for lack of permission, is nothing to report (ErrNoData).

use std::io;
use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{go_valid_utf8, parse_go_int, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "watchdog",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Watchdog::new(ctx.paths))),
};

/// `(file, family, help)` of the numeric attributes, in family name order.
const NUMERIC: [(&str, &str, &str); 7] = [
    (
        "access_cs0",
        "node_watchdog_access_cs0",
        "Value of /sys/class/watchdog/<watchdog>/access_cs0",
    ),
    (
        "bootstatus",
        "node_watchdog_bootstatus",
        "Value of /sys/class/watchdog/<watchdog>/bootstatus",
    ),
    (
        "fw_version",
        "node_watchdog_fw_version",
        "Value of /sys/class/watchdog/<watchdog>/fw_version",
    ),
    (
        "nowayout",
        "node_watchdog_nowayout",
        "Value of /sys/class/watchdog/<watchdog>/nowayout",
    ),
    (
        "pretimeout",
        "node_watchdog_pretimeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/pretimeout",
    ),
    (
        "timeleft",
        "node_watchdog_timeleft_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeleft",
    ),
    (
        "timeout",
        "node_watchdog_timeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeout",
    ),
];

/// The text attributes, in `node_watchdog_info` label name order (`name` goes after
/// `identity`).
const TEXT: [&str; 5] = [
    "identity",
    "options",
    "pretimeout_governor",
    "state",
    "status",
];

/// One watchdog as read this scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogStats {
    pub name: String,
    /// Per [`NUMERIC`] entry, the value when the file exists.
    pub numbers: [Option<i64>; NUMERIC.len()],
    /// Per [`TEXT`] entry, the value, empty when the file is absent.
    pub texts: [String; TEXT.len()],
}

pub struct Watchdog {
    class_dir: PathBuf,
}

impl Watchdog {
    pub fn new(paths: &Paths) -> Self {
        Watchdog {
            class_dir: paths.sys("class/watchdog"),
        }
    }

    /// Reads one watchdog's files.
    fn read_one(&self, name: &str) -> Result<WatchdogStats, CollectError> {
        let path = self.class_dir.join(name);
        let dir = AttributeDir::open(&path).map_err(|e| CollectError::read(&path, e))?;
        let read = |file: &str| match dir.read_sys_file(file) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CollectError::read(&dir.path_of(file), e)),
        };
        let mut stats = WatchdogStats {
            name: name.to_string(),
            numbers: [None; NUMERIC.len()],
            texts: Default::default(),
        };
        for (slot, (file, _, _)) in stats.numbers.iter_mut().zip(NUMERIC) {
            let Some(value) = read(file)? else { continue };
            let number = std::str::from_utf8(&value).ok().and_then(parse_go_int);
            *slot = Some(number.ok_or_else(|| {
                CollectError::parse(
                    &dir.path_of(file),
                    1,
                    format!("not an integer: {:?}", String::from_utf8_lossy(&value)),
                )
            })?);
        }
        for (slot, file) in stats.texts.iter_mut().zip(TEXT) {
            if let Some(value) = read(file)? {
                *slot = go_valid_utf8(&value);
            }
        }
        Ok(stats)
    }

    /// Every watchdog, in name order.
    pub fn read(&self) -> Result<Vec<WatchdogStats>, CollectError> {
        let entries = std::fs::read_dir(&self.class_dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                CollectError::NoData(format!("{}: {e}", self.class_dir.display()))
            }
            _ if e.raw_os_error() == Some(libc::EINVAL) => {
                CollectError::NoData(format!("{}: {e}", self.class_dir.display()))
            }
            _ => CollectError::read(&self.class_dir, e),
        })?;
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.class_dir, e))?;
            names.push(go_valid_utf8(entry.file_name().as_encoded_bytes()));
        }
        names.sort();
        names.iter().map(|name| self.read_one(name)).collect()
    }
}

/// Appends the families, series in name order as node_exporter writes them.
pub fn record(watchdogs: &[WatchdogStats], out: &mut MetricSet) {
    for (index, (_, family, help)) in NUMERIC.iter().enumerate() {
        for watchdog in watchdogs {
            if let Some(value) = watchdog.numbers[index] {
                out.family(*family, *help, MetricKind::Gauge)
                    .push(&[("name", &watchdog.name)], value as f64);
            }
        }
    }
    if watchdogs.is_empty() {
        return;
    }
    let info = out.family(
        "node_watchdog_info",
        "Info of /sys/class/watchdog/<watchdog>",
        MetricKind::Gauge,
    );
    for watchdog in watchdogs {
        let [identity, options, governor, state, status] = &watchdog.texts;
        info.push(
            &[
                ("identity", identity),
                ("name", &watchdog.name),
                ("options", options),
                ("pretimeout_governor", governor),
                ("state", state),
                ("status", status),
            ],
            1.0,
        );
    }
    // The info series sort by identity first, not by name.
    info.sort_series();
}

impl Collector for Watchdog {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let watchdogs = self.read()?;
        record(&watchdogs, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};
    use std::path::Path;

    fn scrape(collector: &mut Watchdog) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    #[test]
    fn the_fixture_matches_node_exporter_1_12() {
        let set = scrape(&mut Watchdog::new(&fixture_paths())).unwrap();
        let expected = parse_text(
            "# HELP node_watchdog_access_cs0 Value of /sys/class/watchdog/<watchdog>/access_cs0
# TYPE node_watchdog_access_cs0 gauge
node_watchdog_access_cs0{name=\"watchdog1\"} 0
# HELP node_watchdog_bootstatus Value of /sys/class/watchdog/<watchdog>/bootstatus
# TYPE node_watchdog_bootstatus gauge
node_watchdog_bootstatus{name=\"watchdog0\"} 32
node_watchdog_bootstatus{name=\"watchdog1\"} 0
# HELP node_watchdog_fw_version Value of /sys/class/watchdog/<watchdog>/fw_version
# TYPE node_watchdog_fw_version gauge
node_watchdog_fw_version{name=\"watchdog0\"} 2
# HELP node_watchdog_info Info of /sys/class/watchdog/<watchdog>
# TYPE node_watchdog_info gauge
node_watchdog_info{identity=\"Software Watchdog\",name=\"watchdog1\",options=\"0x8180\",pretimeout_governor=\"\",state=\"inactive\",status=\"\"} 1
node_watchdog_info{identity=\"iTCO_wdt\",name=\"watchdog0\",options=\"0x8380\",pretimeout_governor=\"panic\",state=\"active\",status=\"0x8000\"} 1
# HELP node_watchdog_nowayout Value of /sys/class/watchdog/<watchdog>/nowayout
# TYPE node_watchdog_nowayout gauge
node_watchdog_nowayout{name=\"watchdog0\"} 1
node_watchdog_nowayout{name=\"watchdog1\"} 0
# HELP node_watchdog_pretimeout_seconds Value of /sys/class/watchdog/<watchdog>/pretimeout
# TYPE node_watchdog_pretimeout_seconds gauge
node_watchdog_pretimeout_seconds{name=\"watchdog0\"} 5
# HELP node_watchdog_timeleft_seconds Value of /sys/class/watchdog/<watchdog>/timeleft
# TYPE node_watchdog_timeleft_seconds gauge
node_watchdog_timeleft_seconds{name=\"watchdog0\"} 27
# HELP node_watchdog_timeout_seconds Value of /sys/class/watchdog/<watchdog>/timeout
# TYPE node_watchdog_timeout_seconds gauge
node_watchdog_timeout_seconds{name=\"watchdog0\"} 30
node_watchdog_timeout_seconds{name=\"watchdog1\"} 60
",
        );
        assert_eq!(
            rendered(&set, |name| name.starts_with("node_watchdog_")),
            expected
        );
    }

    fn watchdog(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = root.join("class/watchdog").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, value) in files {
            std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
        }
        dir
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn an_entry_without_files_has_an_empty_info_and_bad_numbers_fail() {
        let root = tempfile::tempdir().unwrap();
        let mut collector = Watchdog::new(&sys_paths(&root));
        assert!(matches!(
            scrape(&mut collector).unwrap_err(),
            CollectError::NoData(_)
        ));
        let dir = watchdog(root.path(), "watchdog3", &[("timeout", "0x3c")]);
        let set = scrape(&mut collector).unwrap();
        let name = [("name", "watchdog3")];
        assert_eq!(
            set.value("node_watchdog_timeout_seconds", &name),
            Some(60.0)
        );
        assert_eq!(
            set.get("node_watchdog_info").unwrap().samples()[0].labels,
            [
                ("identity".to_string(), String::new()),
                ("name".into(), "watchdog3".into()),
                ("options".into(), String::new()),
                ("pretimeout_governor".into(), String::new()),
                ("state".into(), String::new()),
                ("status".into(), String::new()),
            ]
        );
        std::fs::write(dir.join("nowayout"), "yes\n").unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(
            err.ends_with("watchdog3/nowayout:1: not an integer: \"yes\""),
            "{err}"
        );
        std::fs::remove_file(dir.join("nowayout")).unwrap();
        std::fs::create_dir(dir.join("state")).unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(err.contains("watchdog3/state: Is a directory"), "{err}");
    }
}
