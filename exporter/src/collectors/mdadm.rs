//! `node_md_*{device}` from `<procfs>/mdstat` and `<sysfs>/block/md*/md/`, as node_exporter
//! 1.12 reads them (procfs `MDStat` and `sysfs.Mdraids`).
//!
//! From mdstat: `node_md_disks_required` (the `[n/m]` n), `node_md_disks{state}` (active
//! = the m, failed = `(F)` members, spare = `(S)` members), `node_md_state{state}` (one of
//! five is 1), `node_md_blocks` and `node_md_blocks_synced`. From sysfs:
//! `node_md_raid_disks` (`md/raid_disks`) and `node_md_degraded` (`md/degraded`, read —
//! and required — only for raid1/4/5/6/10; 0 for other levels).
//!
//! Surprising but upstream: the `resync` and `check` states are 1 when mdstat says the
//! array is resyncing or checking, and an array being reshaped has all five states 0. A
//! raid0 or linear array counts the `[` of its member list as both active and required
//! disks; an inactive array has 0 of each. A sync line that says PENDING or DELAYED
//! gives 0 synced blocks. No mdstat is ErrNoData; a missing file of an md array's
//! sysfs directory is ErrNoData too (node_exporter shows the mdstat families next to
//! its `success 0` then; we show nothing, the scraper's rule).

use std::path::{Path, PathBuf};

use regex_lite::Regex;

use super::sysfs_dir::sorted_names;
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{read_attribute, read_table_string};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "mdadm",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Mdadm::new(ctx.paths))),
};

/// One array as `/proc/mdstat` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MdStat {
    pub name: String,
    /// `active`, `inactive`, or what a sync line makes it: `recovering`, `reshaping`,
    /// `checking`, `resyncing`.
    pub activity_state: String,
    pub disks_active: i64,
    pub disks_total: i64,
    pub disks_failed: i64,
    pub disks_spare: i64,
    pub blocks_total: i64,
    pub blocks_synced: i64,
}

/// One array as `<sysfs>/block/mdN/md/` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MdRaid {
    pub device: String,
    pub raid_disks: u64,
    pub degraded: u64,
}

/// The regular expressions of procfs' mdstat parser, compiled once.
pub struct MdStatParser {
    status: Regex,
    recovery_blocks: Regex,
    recovery_pct: Regex,
    recovery_finish: Regex,
    recovery_speed: Regex,
}

impl Default for MdStatParser {
    fn default() -> Self {
        let re = |pattern: &str| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        MdStatParser {
            status: re(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]"),
            recovery_blocks: re(r"\((\d+)/(\d+)\)"),
            recovery_pct: re(r"= (.+)%"),
            recovery_finish: re(r"finish=(.+)min"),
            recovery_speed: re(r"speed=(.+)[A-Z]"),
        }
    }
}

const PERSONALITIES: &str = "Personalities : ";

impl MdStatParser {
    /// Parses `/proc/mdstat`; `path` is for messages.
    pub fn parse(&self, text: &str, path: &Path) -> Result<Vec<MdStat>, CollectError> {
        let lines: Vec<&str> = text.split('\n').collect();
        let mut arrays = Vec::new();
        let mut seen_personalities = false;
        for (i, line) in lines.iter().enumerate() {
            let err = |message: String| CollectError::parse(path, i + 1, message);
            if line.trim().is_empty() || line.starts_with(' ') || line.starts_with("unused") {
                continue;
            }
            if !seen_personalities && line.starts_with(PERSONALITIES) {
                seen_personalities = line[PERSONALITIES.len()..].split_whitespace().count() > 0;
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 3 {
                return Err(err(format!("expected 3 or more fields, got {line:?}")));
            }
            let name = fields[0];
            let mut state = fields[2];
            if lines.len() <= i + 3 {
                return Err(err(format!("too few lines for md device {name:?}")));
            }
            let failed = line.matches("(F)").count() as i64;
            let spare = line.matches("(S)").count() as i64;
            let status = lines[i + 1];
            let (active, total, size) = self.status_line(line, status).ok_or_else(|| {
                CollectError::parse(path, i + 2, format!("unexpected status line {status:?}"))
            })?;
            let mut sync_index = i + 2;
            if lines[i + 2].contains("bitmap") {
                sync_index += 1;
            }
            let sync = lines[sync_index];
            let mut synced = size;
            let recovering = sync.contains("recovery");
            let reshaping = sync.contains("reshape");
            let resyncing = sync.contains("resync");
            let checking = sync.contains("check");
            if recovering || reshaping || resyncing || checking {
                state = if recovering {
                    "recovering"
                } else if reshaping {
                    "reshaping"
                } else if checking {
                    "checking"
                } else {
                    "resyncing"
                };
                if sync.contains("PENDING") || sync.contains("DELAYED") {
                    synced = 0;
                } else {
                    synced = self.synced_blocks(sync).ok_or_else(|| {
                        CollectError::parse(
                            path,
                            sync_index + 1,
                            format!("unexpected sync line {sync:?}"),
                        )
                    })?;
                }
            }
            arrays.push(MdStat {
                name: name.to_string(),
                activity_state: state.to_string(),
                disks_active: active,
                disks_total: total,
                disks_failed: failed,
                disks_spare: spare,
                blocks_total: size,
                blocks_synced: synced,
            });
        }
        Ok(arrays)
    }

    /// `(active, total, size)` from an array's first two lines.
    fn status_line(&self, device_line: &str, status: &str) -> Option<(i64, i64, i64)> {
        let size: i64 = status.split_whitespace().next()?.parse().ok()?;
        if device_line.contains("raid0") || device_line.contains("linear") {
            // Only the members carry a `[n]` on the device line.
            let members = device_line.matches('[').count() as i64;
            return Some((members, members, size));
        }
        if device_line.contains("inactive") {
            return Some((0, 0, size));
        }
        let caps = self.status.captures(status)?;
        Some((caps[3].parse().ok()?, caps[2].parse().ok()?, size))
    }

    /// The synced blocks of a recovery/resync/check line. procfs also parses the
    /// percentage, finish time and speed, and fails the file when one is missing.
    fn synced_blocks(&self, line: &str) -> Option<i64> {
        let blocks = self.recovery_blocks.captures(line)?;
        let synced = blocks[1].parse().ok()?;
        blocks[2].parse::<i64>().ok()?;
        let float = |re: &Regex| -> Option<f64> { re.captures(line)?[1].trim().parse().ok() };
        self.recovery_pct.captures(line)?[1]
            .trim()
            .parse::<f64>()
            .ok()?;
        let finish = self.recovery_finish.captures(line)?;
        finish[1].parse::<f64>().ok()?;
        float(&self.recovery_speed)?;
        Some(synced)
    }
}

pub struct Mdadm {
    mdstat: PathBuf,
    block: PathBuf,
    parser: MdStatParser,
}

impl Mdadm {
    pub fn new(paths: &Paths) -> Self {
        Mdadm {
            mdstat: paths.proc("mdstat"),
            block: paths.sys("block"),
            parser: MdStatParser::default(),
        }
    }

    /// Every `block/md*/md` directory, as procfs' `Mdraids`.
    fn read_raids(&self) -> Result<Vec<MdRaid>, CollectError> {
        let mut raids = Vec::new();
        for device in sorted_names(&self.block).unwrap_or_default() {
            let md = self.block.join(&device).join("md");
            if !device.starts_with("md") || !md.exists() {
                continue;
            }
            raids.push(read_raid(device, &md)?);
        }
        Ok(raids)
    }
}

/// Reads one array's `md/` directory; every file procfs requires must be there.
fn read_raid(device: String, md: &Path) -> Result<MdRaid, CollectError> {
    let text = |name: &str| -> Result<String, CollectError> {
        let path = md.join(name);
        read_attribute(&path).map_err(|e| CollectError::read(&path, e))
    };
    let number = |name: &str| -> Result<u64, CollectError> {
        let value = text(name)?;
        value.parse().map_err(|_| {
            CollectError::parse(
                &md.join(name),
                1,
                format!("not an unsigned integer: {value:?}"),
            )
        })
    };
    let level = text("level")?;
    text("array_state")?;
    text("metadata_version")?;
    let raid_disks = number("raid_disks")?;
    text("uuid")?;
    for name in sorted_names(md).map_err(|e| CollectError::read(md, e))? {
        if name.starts_with("dev-") {
            let path = md.join(&name).join("state");
            read_attribute(&path).map_err(|e| CollectError::read(&path, e))?;
        }
    }
    if matches!(
        level.as_str(),
        "raid0" | "raid4" | "raid5" | "raid6" | "raid10"
    ) {
        number("chunk_size")?;
    }
    let mut degraded = 0;
    if matches!(
        level.as_str(),
        "raid1" | "raid4" | "raid5" | "raid6" | "raid10"
    ) {
        degraded = number("degraded")?;
        text("sync_action")?;
        let completed = text("sync_completed")?;
        if completed != "none" {
            let fields: Vec<&str> = completed.split_whitespace().collect();
            let fraction = match fields.as_slice() {
                [done, "/", total] => done.parse::<u64>().ok().zip(total.parse::<u64>().ok()),
                _ => None,
            };
            if fraction.is_none() {
                return Err(CollectError::parse(
                    &md.join("sync_completed"),
                    1,
                    format!("expected \"<done> / <total>\", got {completed:?}"),
                ));
            }
        }
    }
    Ok(MdRaid {
        device,
        raid_disks,
        degraded,
    })
}

/// The five `node_md_state` series of an array: label and the activity state that
/// makes it 1.
const STATES: [(&str, &str); 5] = [
    ("active", "active"),
    ("check", "checking"),
    ("inactive", "inactive"),
    ("recovering", "recovering"),
    ("resync", "resyncing"),
];

/// Appends the families, each sorted by device as node_exporter writes them.
pub fn record(arrays: &[MdStat], raids: &[MdRaid], out: &mut MetricSet) {
    let mut arrays: Vec<&MdStat> = arrays.iter().collect();
    arrays.sort_by(|a, b| a.name.cmp(&b.name));
    let mut raids: Vec<&MdRaid> = raids.iter().collect();
    raids.sort_by(|a, b| a.device.cmp(&b.device));
    let gauge =
        |out: &mut MetricSet, name: &'static str, help: &'static str, value: fn(&MdStat) -> i64| {
            let family = out.family(name, help, MetricKind::Gauge);
            for md in &arrays {
                family.push(&[("device", &md.name)], value(md) as f64);
            }
        };
    gauge(
        out,
        "node_md_blocks",
        "Total number of blocks on device.",
        |md| md.blocks_total,
    );
    gauge(
        out,
        "node_md_blocks_synced",
        "Number of blocks synced on device.",
        |md| md.blocks_synced,
    );
    gauge(
        out,
        "node_md_disks_required",
        "Total number of disks of device.",
        |md| md.disks_total,
    );
    let disks = out.family(
        "node_md_disks",
        "Number of active/failed/spare disks of device.",
        MetricKind::Gauge,
    );
    for md in &arrays {
        for (state, value) in [
            ("active", md.disks_active),
            ("failed", md.disks_failed),
            ("spare", md.disks_spare),
        ] {
            disks.push(&[("device", &md.name), ("state", state)], value as f64);
        }
    }
    let state = out.family(
        "node_md_state",
        "Indicates the state of md-device.",
        MetricKind::Gauge,
    );
    for md in &arrays {
        for (label, activity) in STATES {
            let value = if md.activity_state == activity {
                1.0
            } else {
                0.0
            };
            state.push(&[("device", &md.name), ("state", label)], value);
        }
    }
    let family = out.family(
        "node_md_raid_disks",
        "Number of raid disks on device.",
        MetricKind::Gauge,
    );
    for raid in &raids {
        family.push(&[("device", &raid.device)], raid.raid_disks as f64);
    }
    let family = out.family(
        "node_md_degraded",
        "Number of degraded disks on device.",
        MetricKind::Gauge,
    );
    for raid in &raids {
        family.push(&[("device", &raid.device)], raid.degraded as f64);
    }
}

impl Collector for Mdadm {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = match read_table_string(&self.mdstat) {
            Ok(text) => text,
            Err(CollectError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.mdstat.display()
                )));
            }
            Err(e) => return Err(e),
        };
        let arrays = self.parser.parse(&text, &self.mdstat)?;
        let raids = match self.read_raids() {
            Ok(raids) => raids,
            Err(CollectError::Read { path, source })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    path.display()
                )));
            }
            Err(e) => return Err(e),
        };
        record(&arrays, &raids, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Mdadm::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_fixture_gives_three_arrays() {
        let set = scrape(&fixture_paths()).unwrap();
        let v = |name: &str, device: &str| set.value(name, &[("device", device)]);
        let d = |device: &str, state: &str| {
            set.value("node_md_disks", &[("device", device), ("state", state)])
        };
        let s = |device: &str, state: &str| {
            set.value("node_md_state", &[("device", device), ("state", state)])
        };
        // md0: raid1 in sync with a failed third member and a bitmap line.
        assert_eq!(v("node_md_blocks", "md0"), Some(1046528.0));
        assert_eq!(v("node_md_blocks_synced", "md0"), Some(1046528.0));
        assert_eq!(v("node_md_disks_required", "md0"), Some(2.0));
        assert_eq!(
            [d("md0", "active"), d("md0", "failed"), d("md0", "spare")],
            [Some(2.0), Some(1.0), Some(0.0)]
        );
        assert_eq!(v("node_md_raid_disks", "md0"), Some(2.0));
        assert_eq!(v("node_md_degraded", "md0"), Some(0.0));
        // md1: raid5 recovering, one spare.
        assert_eq!(v("node_md_blocks", "md1"), Some(1953260544.0));
        assert_eq!(v("node_md_blocks_synced", "md1"), Some(219803136.0));
        assert_eq!(v("node_md_disks_required", "md1"), Some(3.0));
        assert_eq!(
            [d("md1", "active"), d("md1", "failed"), d("md1", "spare")],
            [Some(2.0), Some(0.0), Some(1.0)]
        );
        assert_eq!(v("node_md_raid_disks", "md1"), Some(3.0));
        assert_eq!(v("node_md_degraded", "md1"), Some(1.0));
        // md2: inactive.
        assert_eq!(v("node_md_blocks", "md2"), Some(8382464.0));
        assert_eq!(v("node_md_blocks_synced", "md2"), Some(8382464.0));
        assert_eq!(v("node_md_disks_required", "md2"), Some(0.0));
        assert_eq!(
            [d("md2", "active"), d("md2", "failed"), d("md2", "spare")],
            [Some(0.0), Some(0.0), Some(1.0)]
        );
        assert_eq!(v("node_md_raid_disks", "md2"), Some(0.0));
        assert_eq!(v("node_md_degraded", "md2"), Some(0.0));
        for (device, on) in [
            ("md0", "active"),
            ("md1", "recovering"),
            ("md2", "inactive"),
        ] {
            for (label, _) in STATES {
                let expected = if label == on { 1.0 } else { 0.0 };
                assert_eq!(s(device, label), Some(expected), "{device} {label}");
            }
        }
        let lines = rendered(&set, |name| name.starts_with("node_md_"));
        assert_eq!(lines.len(), 7 * 2 + 3 * (5 + 3 + 5));
        assert!(lines.contains(&Line::Help(
            "node_md_disks".into(),
            "Number of active/failed/spare disks of device.".into()
        )));
        assert!(lines.contains(&Line::Type("node_md_state".into(), "gauge".into())));
        // Samples in node_exporter's order: by device, then state.
        let states: Vec<_> = lines
            .iter()
            .filter_map(|line| match line {
                Line::Sample(name, labels, _) if name == "node_md_state" => {
                    Some(labels[1].1.clone())
                }
                _ => None,
            })
            .take(5)
            .collect();
        assert_eq!(
            states,
            ["active", "check", "inactive", "recovering", "resync"]
        );
    }

    #[test]
    fn no_mdstat_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            scrape(&Paths::under(dir.path())),
            Err(CollectError::NoData(_))
        ));
    }

    #[test]
    fn a_missing_sysfs_file_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.sys("block/md0/md")).unwrap();
        std::fs::create_dir_all(&paths.procfs).unwrap();
        std::fs::write(
            paths.proc("mdstat"),
            "Personalities : [raid1] \nunused devices: <none>\n",
        )
        .unwrap();
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        std::fs::remove_dir_all(paths.sys("block/md0")).unwrap();
        let set = scrape(&paths).unwrap();
        assert!(set.families().iter().all(|f| f.is_empty()));
    }

    #[test]
    fn sync_states_and_errors() {
        let parser = MdStatParser::default();
        let path = Path::new("/proc/mdstat");
        let text = "Personalities : [raid1] [raid0] \n\
            md3 : active raid1 sdb[1] sda[0]\n      100 blocks super 1.2 [2/2] [UU]\n      [=>...]  check = 5.0% (5/100) finish=1.0min speed=10K/sec\n\n\
            md4 : active raid1 sdd[1] sdc[0]\n      200 blocks super 1.2 [2/2] [UU]\n      \tresync=DELAYED\n\n\
            md5 : active raid0 sdf[1] sde[0] sdg[2]\n      300 blocks super 1.2 512k chunks\n\n\
            md6 : active raid1 sdi[1] sdh[0]\n      400 blocks super 1.2 [2/2] [UU]\n      [>....]  reshape = 1.0% (4/400) finish=9.9min speed=1K/sec\n\n\
            unused devices: <none>\n";
        let arrays = parser.parse(text, path).unwrap();
        let summary: Vec<_> = arrays
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.activity_state.as_str(),
                    a.disks_active,
                    a.disks_total,
                    a.blocks_synced,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("md3", "checking", 2, 2, 5),
                ("md4", "resyncing", 2, 2, 0),
                ("md5", "active", 3, 3, 300),
                ("md6", "reshaping", 2, 2, 4),
            ]
        );
        let err = parser
            .parse(
                "md7 : active raid1 sda[0]\n      x blocks [1/1] [U]\n\n\n",
                path,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/mdstat:2: unexpected status line \"      x blocks [1/1] [U]\""
        );
        let err = parser
            .parse("md7 : active raid1 sda[0]\n      1 blocks [1/1] [U]\n      recovery = x% (1/2)\n\n", path)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/proc/mdstat:3: unexpected sync line"),
            "{err}"
        );
        let err = parser.parse("md8 :\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/mdstat:1: expected 3 or more fields, got \"md8 :\""
        );
        let err = parser.parse("md8 : active\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/mdstat:1: too few lines for md device \"md8\""
        );
    }
}
