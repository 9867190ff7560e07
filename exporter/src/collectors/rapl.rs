//! Energy counters of the RAPL power zones in `<sysfs>/class/powercap/`, as node_exporter
//! 1.12's rapl collector (procfs `GetRaplZones`) reads them: every entry of the class
//! directory that has a `name` file is a zone (`intel-rapl:0`, `intel-rapl:0:1`,
//! `intel-rapl-mmio:0`; the control types `intel-rapl` and `intel-rapl-mmio` have no
//! name and are passed over), and its `energy_uj` is exported in joules.
//!
//! The family and `index` label come from the zone's name: `package-1` is name
//! `package`, index 1; a name without a `-<number>` suffix (`core`, `dram`, `psys`)
//! gets as index the number of earlier zones of that name, in entry name order. By
//! default each name is a family of its own, `node_rapl_<name>_joules_total{index,
//! path}` (the name cleaned to a metric name); with `--collector.rapl.enable-zone-label`
//! every zone goes to `node_rapl_joules_total{index,path,rapl_zone}`. `path` is the
//! zone's directory as given by `--path.sysfs`.
//!
//! Each zone's `max_energy_range_uj` must read as a number too (procfs reads it while
//! listing zones). No `class/powercap`, or one the exporter may not read, is nothing to
//! report (ErrNoData). Kernels since 5.10 (the Platypus fix) make `energy_uj` readable
//! by root only: a non-root exporter then gets EACCES, and as in node_exporter the
//! collector reports nothing (ErrNoData, `success 0`) rather than a partial set. Any
//! other failure fails the collector with the file named.

use std::io;
use std::path::{Path, PathBuf};

use regex_lite::Regex;

use crate::collector::{switch_args, Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

const ZONE_LABEL_FLAG: &str = "collector.rapl.enable-zone-label";

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "rapl",
    enabled_by_default: true,
    // node_exporter's help text for this flag is a copy of another flag's; kept as is.
    args: || {
        switch_args(
            ZONE_LABEL_FLAG,
            "Enables service unit metric unit_start_time_seconds",
        )
        .into()
    },
    build: |ctx| {
        Ok(Box::new(Rapl::new(
            ctx.paths,
            ctx.switch(ZONE_LABEL_FLAG, false),
        )))
    },
};

/// One zone as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RaplZone {
    /// The name without its `-<index>` suffix.
    pub name: String,
    pub index: i64,
    /// The zone's directory, as the `path` label shows it.
    pub path: String,
}

pub struct Rapl {
    class_dir: PathBuf,
    zone_label: bool,
    /// node_exporter's `SanitizeMetricName`.
    unsafe_runs: Regex,
}

/// A failure while listing zones: a missing or forbidden file is nothing to report.
fn classify(path: &Path, error: io::Error) -> CollectError {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
            CollectError::NoData(format!("{}: {error}", path.display()))
        }
        _ => CollectError::read(path, error),
    }
}

/// A failure reading a zone's counter: only a forbidden one is nothing to report.
fn classify_energy(path: &Path, error: io::Error) -> CollectError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            CollectError::NoData(format!("{}: {error}", path.display()))
        }
        _ => CollectError::read(path, error),
    }
}

/// procfs's `ReadUintFromFile`: the whole file, trimmed, a decimal u64. `classify`
/// turns a read error into what the collector returns.
fn read_uint(
    path: &Path,
    classify: fn(&Path, io::Error) -> CollectError,
) -> Result<u64, CollectError> {
    let text = read_attribute(path).map_err(|e| classify(path, e))?;
    let parsed = if text.starts_with('+') {
        None
    } else {
        text.parse().ok()
    };
    parsed.ok_or_else(|| CollectError::parse(path, 1, format!("not an unsigned integer: {text:?}")))
}

/// procfs's `getIndexAndName`: `package-1` is (1, `package`); other names take the
/// count of earlier zones of that name.
fn index_and_name(name: &str, seen: &[(String, i64)]) -> (i64, String) {
    let parts: Vec<&str> = name.split('-').collect();
    if let [base, index] = parts[..] {
        if let Some(index) = go_atoi(index) {
            return (index, base.to_string());
        }
    }
    let count = seen
        .iter()
        .find(|(seen_name, _)| seen_name == name)
        .map_or(0, |(_, count)| *count);
    (count, name.to_string())
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Rapl {
    pub fn new(paths: &Paths, zone_label: bool) -> Self {
        Rapl {
            class_dir: paths.sys("class/powercap"),
            zone_label,
            unsafe_runs: Regex::new("_*[^0-9A-Za-z_]+_*").expect("a constant pattern"),
        }
    }

    /// Every zone, in entry name order.
    pub fn zones(&self) -> Result<Vec<RaplZone>, CollectError> {
        let entries =
            std::fs::read_dir(&self.class_dir).map_err(|e| classify(&self.class_dir, e))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut seen: Vec<(String, i64)> = Vec::new();
        let mut zones = Vec::new();
        for entry in names {
            let dir = self.class_dir.join(&entry);
            // Only zones have a name; any error reading it passes the entry over.
            let Ok(raw) = std::fs::read_to_string(dir.join("name")) else {
                continue;
            };
            let (index, name) = index_and_name(raw.trim(), &seen);
            read_uint(&dir.join("max_energy_range_uj"), classify)?;
            match seen.iter_mut().find(|(seen_name, _)| *seen_name == name) {
                Some(slot) => slot.1 = index + 1,
                None => seen.push((name.clone(), index + 1)),
            }
            zones.push(RaplZone {
                name,
                index,
                path: dir.to_string_lossy().into_owned(),
            });
        }
        Ok(zones)
    }

    /// Each zone with its energy counter in microjoules.
    pub fn read(&self) -> Result<Vec<(RaplZone, u64)>, CollectError> {
        self.zones()?
            .into_iter()
            .map(|zone| {
                let energy = read_uint(&Path::new(&zone.path).join("energy_uj"), classify_energy)?;
                Ok((zone, energy))
            })
            .collect()
    }

    pub fn record(&self, zones: &[(RaplZone, u64)], out: &mut MetricSet) {
        for (zone, microjoules) in zones {
            let joules = *microjoules as f64 / 1_000_000.0;
            let index = zone.index.to_string();
            if self.zone_label {
                out.family(
                    "node_rapl_joules_total",
                    "Current RAPL value in joules",
                    MetricKind::Counter,
                )
                .push(
                    &[
                        ("index", &index),
                        ("path", &zone.path),
                        ("rapl_zone", &zone.name),
                    ],
                    joules,
                );
            } else {
                let metric = self.unsafe_runs.replace_all(&zone.name, "_");
                out.family(
                    format!("node_rapl_{metric}_joules_total"),
                    format!("Current RAPL {} value in joules", zone.name),
                    MetricKind::Counter,
                )
                .push(&[("index", &index), ("path", &zone.path)], joules);
            }
        }
        out.sort_series();
    }
}

impl Collector for Rapl {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let zones = self.read()?;
        self.record(&zones, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, parse_text, rendered};

    fn scrape(collector: &mut Rapl) -> Result<MetricSet, CollectError> {
        crate::test_support::run(collector)
    }

    fn expected(zone_label: bool) -> String {
        let class = fixture_paths().sys("class/powercap");
        let class = class.display();
        if zone_label {
            format!(
                "# HELP node_rapl_joules_total Current RAPL value in joules
# TYPE node_rapl_joules_total counter
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl-mmio:0\",rapl_zone=\"package\"}} 27182.818284
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0\",rapl_zone=\"package\"}} 31415.926535
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:0\",rapl_zone=\"core\"}} 16180.339887
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:1\",rapl_zone=\"uncore\"}} 1414.213562
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:2\",rapl_zone=\"dram\"}} 2718.281828
node_rapl_joules_total{{index=\"0\",path=\"{class}/intel-rapl:1\",rapl_zone=\"psys\"}} 57721.566490
"
            )
        } else {
            format!(
                "# HELP node_rapl_core_joules_total Current RAPL core value in joules
# TYPE node_rapl_core_joules_total counter
node_rapl_core_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:0\"}} 16180.339887
# HELP node_rapl_dram_joules_total Current RAPL dram value in joules
# TYPE node_rapl_dram_joules_total counter
node_rapl_dram_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:2\"}} 2718.281828
# HELP node_rapl_package_joules_total Current RAPL package value in joules
# TYPE node_rapl_package_joules_total counter
node_rapl_package_joules_total{{index=\"0\",path=\"{class}/intel-rapl-mmio:0\"}} 27182.818284
node_rapl_package_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0\"}} 31415.926535
# HELP node_rapl_psys_joules_total Current RAPL psys value in joules
# TYPE node_rapl_psys_joules_total counter
node_rapl_psys_joules_total{{index=\"0\",path=\"{class}/intel-rapl:1\"}} 57721.56649
# HELP node_rapl_uncore_joules_total Current RAPL uncore value in joules
# TYPE node_rapl_uncore_joules_total counter
node_rapl_uncore_joules_total{{index=\"0\",path=\"{class}/intel-rapl:0:1\"}} 1414.213562
"
            )
        }
    }

    fn is_rapl(name: &str) -> bool {
        name.starts_with("node_rapl_")
    }

    #[test]
    fn the_fixture_gives_one_family_per_zone_name() {
        let set = scrape(&mut Rapl::new(&fixture_paths(), false)).unwrap();
        assert_eq!(rendered(&set, is_rapl), parse_text(&expected(false)));
    }

    #[test]
    fn the_zone_label_puts_every_zone_in_one_family() {
        let set = scrape(&mut Rapl::new(&fixture_paths(), true)).unwrap();
        assert_eq!(rendered(&set, is_rapl), parse_text(&expected(true)));
    }

    fn zone(root: &Path, entry: &str, name: &str, energy: &str) -> PathBuf {
        let dir = root.join("class/powercap").join(entry);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(dir.join("max_energy_range_uj"), "262143328850\n").unwrap();
        std::fs::write(dir.join("energy_uj"), format!("{energy}\n")).unwrap();
        dir
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn names_without_an_index_are_counted_and_cleaned() {
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), "intel-rapl:0:2", "dram", "1");
        zone(root.path(), "intel-rapl:1:2", "dram", "2");
        zone(root.path(), "intel-rapl:2", "package-7", "3");
        zone(root.path(), "intel-rapl:3", "odd-name-1", "4");
        zone(root.path(), "intel-rapl:4", "odd-name-1", "5");
        std::fs::create_dir_all(root.path().join("class/powercap/intel-rapl")).unwrap();
        let collector = Rapl::new(&sys_paths(&root), false);
        let zones: Vec<(String, i64)> = collector
            .zones()
            .unwrap()
            .into_iter()
            .map(|z| (z.name, z.index))
            .collect();
        assert_eq!(
            zones,
            [
                ("dram".to_string(), 0),
                ("dram".to_string(), 1),
                ("package".to_string(), 7),
                ("odd-name-1".to_string(), 0),
                ("odd-name-1".to_string(), 1),
            ]
        );
        let set = scrape(&mut Rapl::new(&sys_paths(&root), false)).unwrap();
        let family = set.get("node_rapl_odd_name_1_joules_total").unwrap();
        assert_eq!(family.help, "Current RAPL odd-name-1 value in joules");
        assert_eq!(family.len(), 2);
    }

    #[test]
    fn missing_or_forbidden_sources_are_no_data_and_bad_values_fail() {
        let root = tempfile::tempdir().unwrap();
        let mut collector = Rapl::new(&sys_paths(&root), false);
        assert!(matches!(
            scrape(&mut collector).unwrap_err(),
            CollectError::NoData(_)
        ));
        let forbidden = io::Error::from_raw_os_error(libc::EACCES);
        let energy = Path::new("/sys/class/powercap/intel-rapl:0/energy_uj");
        assert!(matches!(
            classify_energy(energy, forbidden),
            CollectError::NoData(_)
        ));
        let missing = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(matches!(
            classify_energy(energy, missing),
            CollectError::Read { .. }
        ));
        let dir = zone(root.path(), "intel-rapl:0", "package-0", "12x");
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(
            err.ends_with("intel-rapl:0/energy_uj:1: not an unsigned integer: \"12x\""),
            "{err}"
        );
        std::fs::write(dir.join("energy_uj"), "12\n").unwrap();
        std::fs::remove_file(dir.join("max_energy_range_uj")).unwrap();
        assert!(matches!(
            scrape(&mut collector).unwrap_err(),
            CollectError::NoData(_)
        ));
        std::fs::write(dir.join("max_energy_range_uj"), "-1\n").unwrap();
        let err = scrape(&mut collector).unwrap_err().to_string();
        assert!(err.contains("max_energy_range_uj:1:"), "{err}");
    }

    #[test]
    fn the_flag_is_a_switch_that_defaults_off() {
        let names: Vec<String> = (SPEC.args)()
            .iter()
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert_eq!(
            names,
            [ZONE_LABEL_FLAG.to_string(), format!("no-{ZONE_LABEL_FLAG}")]
        );
    }
}
