//! `nodes.conf`: which sources run on which node, and how often.
//!
//! The existing format, kept: one `node=script:interval` per line (the script's name
//! without `.sh`, looked up in the scripts directory), `#` comments and blank lines.
//! A node mapped to `default`, or not listed, runs no source. Compatible extensions:
//! several sources per node (`node=a:10s,b:30s`), the interval may be left out
//! (`--default-interval`), and native I2C reads are sources too:
//! `node=i2c:<sensor file>[:interval]` (a TOML file in the scripts directory, see
//! SENSORS.md), and so are the kernel's sensors under `--path.sysfs`:
//! `node=iio:<device>[:interval]` (an IIO device by its `name`, `N` or `iio:deviceN`)
//! and `node=w1:<id>[:interval]` or `w1:*` (1-Wire thermometers). Durations are
//! Go's (`500ms`, `10s`, `1m`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_common::duration::{parse_go_duration, DurationError};

/// The shortest interval accepted: a script every few milliseconds is a mistake.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What a source reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// `<scripts dir>/<name>.sh`, run with bash.
    Script(String),
    /// `<scripts dir>/<file>`, a sensor file read over /dev/i2c-N.
    I2c(String),
    /// An IIO device under `<sysfs>/bus/iio/devices`: its `name`, `N` or `iio:deviceN`.
    Iio(String),
    /// A 1-Wire thermometer under `<sysfs>/bus/w1/devices` by id, or `*` for all.
    W1(String),
}

impl SourceKind {
    /// The `source` label of the sidecar's own families.
    pub fn label(&self) -> &str {
        match self {
            SourceKind::Script(name)
            | SourceKind::I2c(name)
            | SourceKind::Iio(name)
            | SourceKind::W1(name) => name,
        }
    }

    /// The `kind` label: `script`, `i2c`, `iio` or `w1`.
    pub fn kind_label(&self) -> &'static str {
        match self {
            SourceKind::Script(_) => "script",
            SourceKind::I2c(_) => "i2c",
            SourceKind::Iio(_) => "iio",
            SourceKind::W1(_) => "w1",
        }
    }

    /// The file this source reads in the scripts directory; `None` for the sysfs
    /// sources, which read under `--path.sysfs` instead.
    pub fn file_name(&self) -> Option<String> {
        match self {
            SourceKind::Script(name) => Some(format!("{name}.sh")),
            SourceKind::I2c(file) => Some(file.clone()),
            SourceKind::Iio(_) | SourceKind::W1(_) => None,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::Script(name) => write!(f, "script {name}"),
            SourceKind::I2c(file) => write!(f, "i2c {file}"),
            SourceKind::Iio(device) => write!(f, "iio {device}"),
            SourceKind::W1(id) => write!(f, "w1 {id}"),
        }
    }
}

/// One scheduled source of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    pub interval: Duration,
}

/// A parsed `nodes.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodesConf {
    nodes: BTreeMap<String, Vec<Source>>,
}

/// A `nodes.conf` that cannot be used, with the place.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Line 0: the whole file.
    #[error("{path}:0: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Line {
        path: String,
        /// 1-based.
        line: usize,
        problem: LineError,
    },
}

/// What is wrong with one line of `nodes.conf`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected node=source[:interval][,…], got {0:?}")]
    NotNodeEqualsSources(String),
    #[error("bad node name {0:?}")]
    BadNodeName(String),
    #[error("node {0:?} is listed twice")]
    NodeListedTwice(String),
    #[error("{kind} is listed twice for {node}")]
    SourceListedTwice { kind: SourceKind, node: String },
    #[error("{0:?}: expected script[:interval], i2c:file[:interval], iio:device[:interval] or w1:id[:interval]")]
    BadEntry(String),
    /// `what` is `script`, `sensor file`, `IIO device` or `1-Wire device`.
    #[error("{name:?}: a {what} name is letters, digits, '_', '-' and '.', not starting with '.'")]
    BadFileName { name: String, what: &'static str },
    #[error("{name:?}: {what} names are letters, digits, '_', '-' and '.', not starting with '.', at most {MAX_DEVICE_NAME} bytes")]
    BadDeviceName { name: String, what: &'static str },
    #[error("{entry:?}: {source}")]
    BadInterval {
        entry: String,
        #[source]
        source: DurationError,
    },
    #[error("{entry:?}: interval {interval:?} is shorter than {min:?}", min = MIN_INTERVAL)]
    IntervalTooShort { entry: String, interval: Duration },
}

/// Why a source's file cannot be run or read.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("scripts directory {}: {source}", dir.display())]
    ScriptsDirectory {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Missing, or a dangling link.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} resolves to {}, outside the scripts directory {}: refused",
        path.display(),
        real.display(),
        dir.display()
    )]
    OutsideScriptsDirectory {
        path: PathBuf,
        real: PathBuf,
        dir: PathBuf,
    },
    #[error("{} is not a file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{kind} reads under --path.sysfs, not a file in the scripts directory")]
    NotInScriptsDirectory { kind: SourceKind },
}

impl NodesConf {
    /// The sources of `node`, in file order; none for `default` or an unlisted node.
    pub fn sources_for(&self, node: &str) -> &[Source] {
        self.nodes.get(node).map_or(&[], Vec::as_slice)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &Vec<Source>)> {
        self.nodes.iter()
    }
}

/// Reads and parses `path`.
pub fn load(path: &Path, default_interval: Duration) -> Result<NodesConf, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string(), default_interval)
}

pub fn parse(
    text: &str,
    origin: &str,
    default_interval: Duration,
) -> Result<NodesConf, ConfigError> {
    let mut conf = NodesConf::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |problem: LineError| ConfigError::Line {
            path: origin.to_string(),
            line: index + 1,
            problem,
        };
        let (node, entries) = line
            .split_once('=')
            .ok_or_else(|| err(LineError::NotNodeEqualsSources(line.to_string())))?;
        let node = node.trim();
        if node.is_empty() || node.contains(char::is_whitespace) {
            return Err(err(LineError::BadNodeName(node.to_string())));
        }
        if conf.nodes.contains_key(node) {
            return Err(err(LineError::NodeListedTwice(node.to_string())));
        }
        let entries = entries.trim();
        let sources = if entries == "default" {
            Vec::new()
        } else {
            let mut sources: Vec<Source> = Vec::new();
            for entry in entries.split(',') {
                let source = parse_entry(entry.trim(), default_interval).map_err(&err)?;
                if sources.iter().any(|s| s.kind == source.kind) {
                    return Err(err(LineError::SourceListedTwice {
                        kind: source.kind,
                        node: node.to_string(),
                    }));
                }
                sources.push(source);
            }
            sources
        };
        conf.nodes.insert(node.to_string(), sources);
    }
    Ok(conf)
}

fn parse_entry(entry: &str, default_interval: Duration) -> Result<Source, LineError> {
    let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
    let (kind, interval) = match parts.as_slice() {
        ["i2c", file] => (SourceKind::I2c(check_file_name(file, false)?), None),
        ["i2c", file, interval] => (
            SourceKind::I2c(check_file_name(file, false)?),
            Some(*interval),
        ),
        ["iio", device] => (SourceKind::Iio(check_device(device, "IIO device")?), None),
        ["iio", device, interval] => (
            SourceKind::Iio(check_device(device, "IIO device")?),
            Some(*interval),
        ),
        ["w1", id] => (SourceKind::W1(check_w1_id(id)?), None),
        ["w1", id, interval] => (SourceKind::W1(check_w1_id(id)?), Some(*interval)),
        [script] => (SourceKind::Script(check_file_name(script, true)?), None),
        [script, interval] => (
            SourceKind::Script(check_file_name(script, true)?),
            Some(*interval),
        ),
        _ => return Err(LineError::BadEntry(entry.to_string())),
    };
    let interval = match interval {
        None => default_interval,
        Some(text) => parse_go_duration(text).map_err(|source| LineError::BadInterval {
            entry: entry.to_string(),
            source,
        })?,
    };
    if interval < MIN_INTERVAL {
        return Err(LineError::IntervalTooShort {
            entry: entry.to_string(),
            interval,
        });
    }
    Ok(Source { kind, interval })
}

/// A script or sensor file name: a plain name in the scripts directory, nothing
/// that could leave it (`/`, `..`) or hide (`.name`, ConfigMap's `..data`).
fn check_file_name(name: &str, is_script: bool) -> Result<String, LineError> {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !valid {
        return Err(LineError::BadFileName {
            name: name.to_string(),
            what: if is_script { "script" } else { "sensor file" },
        });
    }
    let name = if is_script {
        name.strip_suffix(".sh").unwrap_or(name)
    } else {
        name
    };
    Ok(name.to_string())
}

/// The longest IIO device name or 1-Wire id accepted (the kernel's are far shorter).
pub const MAX_DEVICE_NAME: usize = 64;

/// An IIO device (`bme280`, `0`, `device0`) or 1-Wire id: one plain name under
/// `--path.sysfs`, nothing that could leave its directory.
pub(crate) fn check_device(name: &str, what: &'static str) -> Result<String, LineError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_DEVICE_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !valid {
        return Err(LineError::BadDeviceName {
            name: name.to_string(),
            what,
        });
    }
    Ok(name.to_string())
}

/// A 1-Wire id (`28-00000a1b2c3d`) or `*`.
fn check_w1_id(id: &str) -> Result<String, LineError> {
    if id == "*" {
        return Ok(id.to_string());
    }
    check_device(id, "1-Wire device")
}

/// The real path of `kind`'s file, if it exists and resolves (through symlinks such
/// as ConfigMap's `..data`) to a file inside `scripts_dir`.
pub fn resolve(scripts_dir: &Path, kind: &SourceKind) -> Result<PathBuf, ResolveError> {
    let dir = scripts_dir
        .canonicalize()
        .map_err(|source| ResolveError::ScriptsDirectory {
            dir: scripts_dir.to_path_buf(),
            source,
        })?;
    let Some(file_name) = kind.file_name() else {
        return Err(ResolveError::NotInScriptsDirectory { kind: kind.clone() });
    };
    let path = scripts_dir.join(file_name);
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(source) => return Err(ResolveError::File { path, source }),
    };
    if !real.starts_with(&dir) {
        return Err(ResolveError::OutsideScriptsDirectory { path, real, dir });
    }
    if !real.is_file() {
        return Err(ResolveError::NotAFile { path });
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sensors_example_nodes_conf_parses_and_names_shipped_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sensors");
        let text = std::fs::read_to_string(dir.join("nodes.conf")).unwrap();
        let conf = parse(&text, "nodes.conf", Duration::from_secs(15)).unwrap();
        let shown = |node: &str| -> Vec<(String, Duration)> {
            conf.sources_for(node)
                .iter()
                .map(|s| (s.kind.to_string(), s.interval))
                .collect()
        };
        let s = Duration::from_secs;
        assert_eq!(
            shown("rpi-greenhouse"),
            [
                ("iio bme280".to_string(), s(15)),
                ("w1 *".to_string(), s(30))
            ]
        );
        assert_eq!(
            shown("jetson-01"),
            [
                ("iio 0".to_string(), s(15)),
                ("w1 28-00000a1b2c3d".to_string(), s(60))
            ]
        );
        let files: Vec<String> = conf
            .sources_for("edge-node-01")
            .iter()
            .filter_map(|source| source.kind.file_name())
            .collect();
        assert_eq!(files, ["bme280.toml", "scd4x.toml", "ina3221.toml"]);
        for file in files {
            assert!(dir.join(&file).is_file(), "{file} is not an example");
        }
    }

    const S: Duration = Duration::from_secs(1);

    fn script(name: &str, secs: u64) -> Source {
        Source {
            kind: SourceKind::Script(name.into()),
            interval: Duration::from_secs(secs),
        }
    }

    #[test]
    fn parses_the_existing_format_and_the_extensions() {
        let text = "# node=script:interval\n\nbupt-a=space_server:10s\nedge-node-01=jetson_nano:30s\nlow-power=default\nmulti = a:10s, b:1m ,c\nsensors=i2c:sht31.toml:500ms,i2c:bmp280.toml\n";
        let conf = parse(text, "nodes.conf", 15 * S).unwrap();
        assert_eq!(conf.sources_for("bupt-a"), &[script("space_server", 10)]);
        assert_eq!(
            conf.sources_for("edge-node-01"),
            &[script("jetson_nano", 30)]
        );
        assert_eq!(conf.sources_for("low-power"), &[]);
        assert_eq!(conf.sources_for("not-listed"), &[]);
        assert_eq!(
            conf.sources_for("multi"),
            &[script("a", 10), script("b", 60), script("c", 15)]
        );
        assert_eq!(
            conf.sources_for("sensors"),
            &[
                Source {
                    kind: SourceKind::I2c("sht31.toml".into()),
                    interval: Duration::from_millis(500)
                },
                Source {
                    kind: SourceKind::I2c("bmp280.toml".into()),
                    interval: 15 * S
                },
            ]
        );
        let conf = parse(
            "s=iio:bme280:10s,iio:0,w1:*:1m,w1:28-00000a1b2c3d\n",
            "nodes.conf",
            15 * S,
        )
        .unwrap();
        let kinds: Vec<(String, &str, Duration)> = conf
            .sources_for("s")
            .iter()
            .map(|s| (s.kind.to_string(), s.kind.kind_label(), s.interval))
            .collect();
        assert_eq!(
            kinds,
            [
                ("iio bme280".to_string(), "iio", 10 * S),
                ("iio 0".to_string(), "iio", 15 * S),
                ("w1 *".to_string(), "w1", 60 * S),
                ("w1 28-00000a1b2c3d".to_string(), "w1", 15 * S),
            ]
        );
        // A script given with its .sh is the same script.
        let conf = parse("n=probe.sh:5s\n", "x", S).unwrap();
        assert_eq!(conf.sources_for("n"), &[script("probe", 5)]);
    }

    #[test]
    fn rejects_what_it_cannot_read_with_the_place() {
        let cases = [
            ("n=a:10s\nbroken line\n", "nodes.conf:2: expected node=source[:interval][,…], got \"broken line\""),
            ("n=a:10x\n", "nodes.conf:1: \"a:10x\": unknown unit \"x\" in duration \"10x\""),
            ("n=a:10ms\n", "nodes.conf:1: \"a:10ms\": interval 10ms is shorter than 100ms"),
            ("n=../etc/passwd:1s\n", "nodes.conf:1: \"../etc/passwd\": a script name is letters, digits, '_', '-' and '.', not starting with '.'"),
            ("n=/bin/sh\n", "nodes.conf:1: \"/bin/sh\": a script name is letters, digits, '_', '-' and '.', not starting with '.'"),
            ("n=i2c:..data:1s\n", "nodes.conf:1: \"..data\": a sensor file name is letters, digits, '_', '-' and '.', not starting with '.'"),
            ("n=a\nn=b\n", "nodes.conf:2: node \"n\" is listed twice"),
            ("n=a:1s,a:2s\n", "nodes.conf:1: script a is listed twice for n"),
            ("my node=a\n", "nodes.conf:1: bad node name \"my node\""),
            ("n=a:1s:2s\n", "nodes.conf:1: \"a:1s:2s\": expected script[:interval], i2c:file[:interval], iio:device[:interval] or w1:id[:interval]"),
            ("n=iio:../x\n", "nodes.conf:1: \"../x\": IIO device names are letters, digits, '_', '-' and '.', not starting with '.', at most 64 bytes"),
            ("n=w1:28-*\n", "nodes.conf:1: \"28-*\": 1-Wire device names are letters, digits, '_', '-' and '.', not starting with '.', at most 64 bytes"),
            ("n=iio:bme280,iio:bme280:5s\n", "nodes.conf:1: iio bme280 is listed twice for n"),
        ];
        for (text, message) in cases {
            let err = parse(text, "nodes.conf", S).unwrap_err();
            assert_eq!(err.to_string(), message, "{text:?}");
        }
    }

    #[test]
    fn resolve_refuses_files_outside_the_scripts_directory() {
        let root = tempfile::tempdir().unwrap();
        let scripts = root.path().join("scripts");
        std::fs::create_dir(&scripts).unwrap();
        std::fs::write(scripts.join("ok.sh"), "echo a=1\n").unwrap();
        std::fs::write(root.path().join("evil.sh"), "echo pwned=1\n").unwrap();
        std::os::unix::fs::symlink("../evil.sh", scripts.join("escape.sh")).unwrap();
        // ConfigMap layout: name -> ..data/name, ..data -> ..2024_01_01
        let data = scripts.join("..2024_01_01");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("cm.sh"), "echo b=2\n").unwrap();
        std::os::unix::fs::symlink("..2024_01_01", scripts.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/cm.sh", scripts.join("cm.sh")).unwrap();

        let ok = resolve(&scripts, &SourceKind::Script("ok".into())).unwrap();
        assert!(ok.ends_with("scripts/ok.sh"));
        assert!(resolve(&scripts, &SourceKind::Script("cm".into()))
            .unwrap()
            .ends_with("..2024_01_01/cm.sh"));
        let err = resolve(&scripts, &SourceKind::Script("escape".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the scripts directory"), "{err}");
        let err = resolve(&scripts, &SourceKind::Script("missing".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.sh"), "{err}");
    }
}
