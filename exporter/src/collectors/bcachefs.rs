//! `node_bcachefs_*` from `<sysfs>/fs/bcachefs/<uuid>/` (new in node_exporter 1.10), as
//! 1.12 reads it through procfs `bcachefs`: `btree_cache_size`, `compression_stats`,
//! `errors`, `counters/*`, `btree_write_stats`, and per member device (`dev-N/`) its
//! `label`, `state`, `bucket_size`, `nbuckets`, `durability`, `io_done` and `io_errors`.
//!
//! Sizes are bcachefs' human numbers (`19.3G`, powers of 1024, truncated to whole
//! bytes). Each file under `counters/` becomes its own family,
//! `node_bcachefs_<name>_total` (name with anything outside `[a-zA-Z0-9_]` turned into
//! `_`), from its "since filesystem creation" line. `io_errors` counts only the section
//! "IO errors since filesystem creation", and only when it comes first. A missing file
//! is nothing (0 or no series); a file that is there but does not parse fails the
//! collector, naming it. No `fs/bcachefs`, or no filesystem in it, is ErrNoData.

use std::io;
use std::path::{Path, PathBuf};

use super::sysfs_dir::{is_real_dir, sorted_names};
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{read_attribute, read_table_string};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "bcachefs",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Bcachefs::new(ctx.paths))),
};

/// One member device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    /// What follows `dev-`.
    pub name: String,
    pub label: String,
    pub state: String,
    pub bucket_size: u64,
    pub buckets: u64,
    pub durability: u64,
    /// `(operation, data type, bytes)`.
    pub io_done: Vec<(String, String, u64)>,
    /// `(type, count)` since filesystem creation.
    pub io_errors: Vec<(String, u64)>,
}

/// One filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BcachefsStats {
    pub uuid: String,
    pub btree_cache_size: u64,
    /// `(algorithm, compressed, uncompressed)`.
    pub compression: Vec<(String, u64, u64)>,
    /// `(error type, count)`.
    pub errors: Vec<(String, u64)>,
    /// `(counter file name, since filesystem creation)`.
    pub counters: Vec<(String, u64)>,
    /// `(write type, count, average size)`.
    pub btree_writes: Vec<(String, u64, u64)>,
    pub devices: Vec<Device>,
}

/// procfs' `parseHumanReadableBytes`: `19.3G` → bytes (powers of 1024).
pub fn human_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let last = text.chars().last()?;
    let power = match last.to_ascii_lowercase() {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => 0,
    };
    let number = if power == 0 {
        text
    } else {
        &text[..text.len() - 1]
    };
    let value: f64 = number.trim().parse().ok()?;
    Some((value * 1024f64.powi(power)) as u64)
}

/// A file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_table_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// An attribute's text, empty when it cannot be read (procfs' `readSysfsFile`).
fn read_lenient(path: &Path) -> String {
    read_attribute(path).unwrap_or_default()
}

fn human_field(text: &str, path: &Path, line: usize) -> Result<u64, CollectError> {
    human_bytes(text)
        .ok_or_else(|| CollectError::parse(path, line, format!("not a size: {text:?}")))
}

fn number_field(text: &str, path: &Path, line: usize) -> Result<u64, CollectError> {
    text.parse()
        .map_err(|_| CollectError::parse(path, line, format!("not an unsigned integer: {text:?}")))
}

/// `compression_stats`: a header, then `<algorithm> <compressed> <uncompressed> [<average extent>]`.
pub fn parse_compression(text: &str, path: &Path) -> Result<Vec<(String, u64, u64)>, CollectError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        let compressed = human_field(fields[1], path, index + 1)?;
        let uncompressed = human_field(fields[2], path, index + 1)?;
        if let Some(average) = fields.get(3) {
            human_field(average, path, index + 1)?;
        }
        rows.push((
            fields[0].trim_end_matches(':').to_string(),
            compressed,
            uncompressed,
        ));
    }
    Ok(rows)
}

/// `errors`: `<type> <count> [<time>]` lines.
pub fn parse_errors(text: &str, path: &Path) -> Result<Vec<(String, u64)>, CollectError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 2 {
            continue;
        }
        let count = number_field(fields[1], path, index + 1)?;
        if let Some(time) = fields.get(2) {
            number_field(time, path, index + 1)?;
        }
        rows.push((fields[0].to_string(), count));
    }
    Ok(rows)
}

/// One `counters/<name>` file: its "since filesystem creation" value (0 when only
/// "since mount" is there).
pub fn parse_counter(text: &str, path: &Path) -> Result<u64, CollectError> {
    let mut creation = None;
    let mut seen_mount = false;
    for (index, line) in text.lines().enumerate() {
        if let Some(value) = line.strip_prefix("since mount:") {
            human_field(value, path, index + 1)?;
            seen_mount = true;
        } else if let Some(value) = line.strip_prefix("since filesystem creation:") {
            creation = Some(human_field(value, path, index + 1)?);
        }
    }
    match creation {
        Some(value) => Ok(value),
        None if seen_mount => Ok(0),
        None => Err(CollectError::parse(
            path,
            0,
            "counter file format not recognized",
        )),
    }
}

/// `btree_write_stats`: a header, then `<type>: <count> <average size>`.
pub fn parse_btree_writes(
    text: &str,
    path: &Path,
) -> Result<Vec<(String, u64, u64)>, CollectError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        let count = number_field(fields[1], path, index + 1)?;
        let size = human_field(fields[2], path, index + 1)?;
        rows.push((fields[0].trim_end_matches(':').to_string(), count, size));
    }
    Ok(rows)
}

/// `dev-N/io_done`: `read:` and `write:` sections of `<data type> : <bytes>`.
pub fn parse_io_done(text: &str, path: &Path) -> Result<Vec<(String, String, u64)>, CollectError> {
    let mut rows = Vec::new();
    let mut operation: Option<&str> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "read:" || line == "write:" {
            operation = Some(line.trim_end_matches(':'));
            continue;
        }
        let (Some(op), Some((kind, value))) = (operation, line.split_once(':')) else {
            continue;
        };
        let value = number_field(value.trim(), path, index + 1)?;
        rows.push((op.to_string(), kind.trim().to_string(), value));
    }
    Ok(rows)
}

/// `dev-N/io_errors`: the section "IO errors since filesystem creation" when it comes
/// first; any later "IO errors since …" header ends it.
pub fn parse_io_errors(text: &str, path: &Path) -> Result<Vec<(String, u64)>, CollectError> {
    let mut rows = Vec::new();
    let mut in_creation = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("IO errors since filesystem creation") {
            in_creation = true;
            continue;
        }
        if line.starts_with("IO errors since ") {
            break;
        }
        if !in_creation {
            continue;
        }
        let Some((kind, value)) = line.trim().split_once(':') else {
            continue;
        };
        rows.push((
            kind.trim().to_string(),
            number_field(value.trim(), path, index + 1)?,
        ));
    }
    Ok(rows)
}

/// Reads a number attribute: missing is 0, anything else must parse.
fn read_number(path: &Path) -> Result<u64, CollectError> {
    match read_attribute(path) {
        Ok(text) => number_field(&text, path, 1),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(CollectError::read(path, e)),
    }
}

fn read_device(dir: &Path, name: &str) -> Result<Device, CollectError> {
    let mut device = Device {
        name: name.to_string(),
        label: read_lenient(&dir.join("label")),
        state: read_lenient(&dir.join("state")),
        ..Device::default()
    };
    let bucket_size = read_lenient(&dir.join("bucket_size"));
    if !bucket_size.is_empty() {
        device.bucket_size = human_field(&bucket_size, &dir.join("bucket_size"), 1)?;
    }
    device.buckets = read_number(&dir.join("nbuckets"))?;
    device.durability = read_number(&dir.join("durability"))?;
    let path = dir.join("io_done");
    if let Some(text) = read_optional(&path)? {
        device.io_done = parse_io_done(&text, &path)?;
    }
    let path = dir.join("io_errors");
    if let Some(text) = read_optional(&path)? {
        device.io_errors = parse_io_errors(&text, &path)?;
    }
    Ok(device)
}

/// Reads `<sysfs>/fs/bcachefs/<uuid>/`.
pub fn read_filesystem(dir: &Path, uuid: &str) -> Result<BcachefsStats, CollectError> {
    let mut stats = BcachefsStats {
        uuid: uuid.to_string(),
        ..BcachefsStats::default()
    };
    let path = dir.join("btree_cache_size");
    if let Some(text) = read_optional(&path)? {
        if !text.trim().is_empty() {
            stats.btree_cache_size = human_field(&text, &path, 1)?;
        }
    }
    let path = dir.join("compression_stats");
    if let Some(text) = read_optional(&path)? {
        stats.compression = parse_compression(&text, &path)?;
    }
    let path = dir.join("errors");
    if let Some(text) = read_optional(&path)? {
        stats.errors = parse_errors(&text, &path)?;
    }
    let counters = dir.join("counters");
    match sorted_names(&counters) {
        Ok(names) => {
            for name in names {
                let path = counters.join(&name);
                if is_real_dir(&path) {
                    continue;
                }
                if let Some(text) = read_optional(&path)? {
                    stats.counters.push((name, parse_counter(&text, &path)?));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CollectError::read(&counters, e)),
    }
    let path = dir.join("btree_write_stats");
    if let Some(text) = read_optional(&path)? {
        stats.btree_writes = parse_btree_writes(&text, &path)?;
    }
    for entry in sorted_names(dir).map_err(|e| CollectError::read(dir, e))? {
        let Some(name) = entry.strip_prefix("dev-") else {
            continue;
        };
        if is_real_dir(&dir.join(&entry)) {
            stats.devices.push(read_device(&dir.join(&entry), name)?);
        }
    }
    Ok(stats)
}

/// `[^a-zA-Z0-9_]` → `_`, as node_exporter's `sanitizeMetricName`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Appends the families of `filesystems` in node_exporter's sample order.
pub fn record(filesystems: &[BcachefsStats], out: &mut MetricSet) {
    use MetricKind::{Counter, Gauge};
    for fs in filesystems {
        let uuid = fs.uuid.as_str();
        out.family("node_bcachefs_info", "Filesystem information.", Gauge)
            .push(&[("uuid", uuid)], 1.0);
        out.family(
            "node_bcachefs_btree_cache_size_bytes",
            "Btree cache memory usage in bytes.",
            Gauge,
        )
        .push(&[("uuid", uuid)], fs.btree_cache_size as f64);
        for (algorithm, compressed, uncompressed) in &fs.compression {
            let labels = [("algorithm", algorithm.as_str()), ("uuid", uuid)];
            out.family(
                "node_bcachefs_compression_compressed_bytes",
                "Compressed size by algorithm.",
                Gauge,
            )
            .push(&labels, *compressed as f64);
            out.family(
                "node_bcachefs_compression_uncompressed_bytes",
                "Uncompressed size by algorithm.",
                Gauge,
            )
            .push(&labels, *uncompressed as f64);
        }
        for (kind, count) in &fs.errors {
            out.family(
                "node_bcachefs_errors_total",
                "Error count by error type.",
                Counter,
            )
            .push(
                &[("error_type", kind.as_str()), ("uuid", uuid)],
                *count as f64,
            );
        }
        for (name, value) in &fs.counters {
            out.family(
                format!("node_bcachefs_{}_total", sanitize(name)),
                format!("Bcachefs counter {name} since filesystem creation."),
                Counter,
            )
            .push(&[("uuid", uuid)], *value as f64);
        }
        for (kind, count, size) in &fs.btree_writes {
            let labels = [("type", kind.as_str()), ("uuid", uuid)];
            out.family(
                "node_bcachefs_btree_writes_total",
                "Number of btree writes by type.",
                Counter,
            )
            .push(&labels, *count as f64);
            out.family(
                "node_bcachefs_btree_write_average_size_bytes",
                "Average btree write size by type.",
                Gauge,
            )
            .push(&labels, *size as f64);
        }
        for dev in &fs.devices {
            let device = dev.name.as_str();
            out.family("node_bcachefs_device_info", "Device information.", Gauge)
                .push(
                    &[
                        ("device", device),
                        ("label", &dev.label),
                        ("state", &dev.state),
                        ("uuid", uuid),
                    ],
                    1.0,
                );
            let labels = [("device", device), ("uuid", uuid)];
            out.family(
                "node_bcachefs_device_bucket_size_bytes",
                "Bucket size in bytes.",
                Gauge,
            )
            .push(&labels, dev.bucket_size as f64);
            out.family(
                "node_bcachefs_device_buckets",
                "Total number of buckets.",
                Gauge,
            )
            .push(&labels, dev.buckets as f64);
            out.family(
                "node_bcachefs_device_durability",
                "Device durability setting.",
                Gauge,
            )
            .push(&labels, dev.durability as f64);
            for (operation, data_type, value) in &dev.io_done {
                out.family(
                    "node_bcachefs_device_io_done_bytes_total",
                    "IO bytes by operation type and data type.",
                    Counter,
                )
                .push(
                    &[
                        ("data_type", data_type.as_str()),
                        ("device", device),
                        ("operation", operation.as_str()),
                        ("uuid", uuid),
                    ],
                    *value as f64,
                );
            }
            for (kind, value) in &dev.io_errors {
                out.family(
                    "node_bcachefs_device_io_errors_total",
                    "IO errors by error type.",
                    Counter,
                )
                .push(
                    &[("device", device), ("type", kind.as_str()), ("uuid", uuid)],
                    *value as f64,
                );
            }
        }
    }
    out.sort_series();
}

pub struct Bcachefs {
    fs_bcachefs: PathBuf,
}

impl Bcachefs {
    pub fn new(paths: &Paths) -> Self {
        Bcachefs {
            fs_bcachefs: paths.sys("fs/bcachefs"),
        }
    }
}

impl Collector for Bcachefs {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let names = match sorted_names(&self.fs_bcachefs) {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.fs_bcachefs.display()
                )));
            }
            Err(e) => return Err(CollectError::read(&self.fs_bcachefs, e)),
        };
        let mut filesystems = Vec::new();
        for uuid in names {
            let dir = self.fs_bcachefs.join(&uuid);
            if is_real_dir(&dir) {
                filesystems.push(read_filesystem(&dir, &uuid)?);
            }
        }
        if filesystems.is_empty() {
            return Err(CollectError::NoData("no bcachefs filesystem".to_string()));
        }
        record(&filesystems, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    const UUID: &str = "c5a1e0d2-3b4f-4c6d-9e8f-a0b1c2d3e4f5";

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Bcachefs::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    fn g(gib: f64) -> f64 {
        ((gib * 1073741824.0) as u64) as f64
    }

    #[test]
    fn the_fixture_gives_every_family() {
        let set = scrape(&fixture_paths()).unwrap();
        let u = [("uuid", UUID)];
        assert_eq!(set.value("node_bcachefs_info", &u), Some(1.0));
        assert_eq!(
            set.value("node_bcachefs_btree_cache_size_bytes", &u),
            Some(327.0 * 1048576.0)
        );
        let a = |alg: &'static str| [("algorithm", alg), ("uuid", UUID)];
        assert_eq!(
            set.value("node_bcachefs_compression_compressed_bytes", &a("lz4")),
            Some(g(19.3))
        );
        assert_eq!(
            set.value("node_bcachefs_compression_uncompressed_bytes", &a("lz4")),
            Some(g(67.0))
        );
        assert_eq!(
            set.value("node_bcachefs_compression_compressed_bytes", &a("zstd")),
            Some(g(4.61))
        );
        assert_eq!(
            set.value(
                "node_bcachefs_compression_uncompressed_bytes",
                &a("incompressible")
            ),
            Some(g(2.25))
        );
        assert_eq!(
            set.value("node_bcachefs_compression_compressed_bytes", &a("gzip")),
            Some(0.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_errors_total",
                &[("error_type", "checksum_err")]
            ),
            Some(17.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_errors_total",
                &[("error_type", "btree_node_read_err")]
            ),
            Some(3.0)
        );
        assert_eq!(set.value("node_bcachefs_io_read_total", &u), Some(g(41.3)));
        assert_eq!(set.value("node_bcachefs_io_write_total", &u), Some(g(17.6)));
        assert_eq!(
            set.value("node_bcachefs_btree_node_read_total", &u),
            Some(88412.0)
        );
        assert_eq!(
            set.value("node_bcachefs_bucket_alloc_total", &u),
            Some(902117.0)
        );
        assert_eq!(
            set.value("node_bcachefs_transaction_restart_fault_inject_total", &u),
            Some(0.0)
        );
        let t = |kind: &'static str| [("type", kind), ("uuid", UUID)];
        assert_eq!(
            set.value("node_bcachefs_btree_writes_total", &t("initial")),
            Some(19088.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_btree_write_average_size_bytes",
                &t("initial")
            ),
            Some(108.0 * 1024.0)
        );
        assert_eq!(
            set.value("node_bcachefs_btree_writes_total", &t("journal_reclaim")),
            Some(541.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_btree_write_average_size_bytes",
                &t("journal_reclaim")
            ),
            Some(542.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_btree_write_average_size_bytes",
                &t("interior")
            ),
            Some(((2.06 * 1024.0) as u64) as f64)
        );
        let info = |dev, label, state| {
            [
                ("device", dev),
                ("label", label),
                ("state", state),
                ("uuid", UUID),
            ]
        };
        assert_eq!(
            set.value("node_bcachefs_device_info", &info("0", "ssd.fast", "rw")),
            Some(1.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_info", &info("1", "hdd.slow", "ro")),
            Some(1.0)
        );
        let d = |dev: &'static str| [("device", dev), ("uuid", UUID)];
        assert_eq!(
            set.value("node_bcachefs_device_bucket_size_bytes", &d("0")),
            Some(524288.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_bucket_size_bytes", &d("1")),
            Some(1048576.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_buckets", &d("0")),
            Some(953869.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_durability", &d("1")),
            Some(2.0)
        );
        let io = |dt: &'static str, dev: &'static str, op: &'static str| {
            [
                ("data_type", dt),
                ("device", dev),
                ("operation", op),
                ("uuid", UUID),
            ]
        };
        assert_eq!(
            set.value(
                "node_bcachefs_device_io_done_bytes_total",
                &io("btree", "0", "read")
            ),
            Some(4411097088.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_device_io_done_bytes_total",
                &io("user", "1", "write")
            ),
            Some(81011212288.0)
        );
        assert_eq!(
            set.value(
                "node_bcachefs_device_io_done_bytes_total",
                &io("need_gc_gens", "1", "read")
            ),
            Some(0.0)
        );
        let e = |dev: &'static str, kind: &'static str| {
            [("device", dev), ("type", kind), ("uuid", UUID)]
        };
        assert_eq!(
            set.value("node_bcachefs_device_io_errors_total", &e("1", "read")),
            Some(197346.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_io_errors_total", &e("1", "checksum")),
            Some(3.0)
        );
        assert_eq!(
            set.value("node_bcachefs_device_io_errors_total", &e("0", "write")),
            Some(0.0)
        );
        assert_eq!(
            set.get("node_bcachefs_device_io_done_bytes_total")
                .map(|f| f.len()),
            Some(40)
        );
        assert_eq!(
            set.get("node_bcachefs_device_io_errors_total")
                .map(|f| f.len()),
            Some(6)
        );
        let lines = rendered(&set, |name| name.starts_with("node_bcachefs_"));
        assert!(lines.contains(&Line::Help(
            "node_bcachefs_io_read_total".into(),
            "Bcachefs counter io_read since filesystem creation.".into()
        )));
        assert!(lines.contains(&Line::Type(
            "node_bcachefs_btree_writes_total".into(),
            "counter".into()
        )));
    }

    #[test]
    fn absent_is_no_data_and_bad_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        std::fs::create_dir_all(paths.sys("fs/bcachefs")).unwrap();
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        let fs = paths.sys("fs/bcachefs/x-y");
        std::fs::create_dir_all(fs.join("counters")).unwrap();
        let set = scrape(&paths).unwrap();
        assert_eq!(
            set.value("node_bcachefs_btree_cache_size_bytes", &[("uuid", "x-y")]),
            Some(0.0)
        );
        std::fs::write(fs.join("counters/io_read"), "whatever\n").unwrap();
        let err = scrape(&paths).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("counters/io_read:0: counter file format not recognized"),
            "{err}"
        );
        let p = Path::new("e");
        assert_eq!(
            parse_errors("a 1 x\n", p).unwrap_err().to_string(),
            "e:1: not an unsigned integer: \"x\""
        );
        assert_eq!(
            parse_io_errors("IO errors since 2 d ago\n  read: 5\nIO errors since filesystem creation\n  read: 7\n", p).unwrap(),
            []
        );
        assert_eq!(human_bytes("1.5G"), Some(1610612736));
        assert_eq!(human_bytes("405"), Some(405));
        assert_eq!(human_bytes(""), None);
        assert_eq!(sanitize("io-read.x"), "io_read_x");
    }
}
