//! Pressure stall information from `<procfs>/pressure/{cpu,io,memory,irq}`:
//! `node_pressure_{cpu,io,memory}_waiting_seconds_total` from each "some" line,
//! `node_pressure_{io,memory,irq}_stalled_seconds_total` from each "full" line.
//!
//! As node_exporter 1.12 does: cpu's "full" line (all zero at the system level) is not
//! exported; irq has only a "full" line (kernel ≥ 6.1 with IRQ time accounting). A
//! resource whose file is absent is skipped; no file at all, or PSI compiled in but
//! switched off (`psi=0`: reads fail with EOPNOTSUPP), is "no data". A resource file
//! without its expected lines is "no data" too, even when earlier resources were read.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "pressure",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Pressure::new(ctx.paths))),
};

/// A resource, the family of its "some" line and the family of its "full" line.
struct Resource {
    name: &'static str,
    some: Option<(&'static str, &'static str)>,
    full: Option<(&'static str, &'static str)>,
}

const RESOURCES: [Resource; 4] = [
    Resource {
        name: "cpu",
        some: Some((
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        )),
        full: None,
    },
    Resource {
        name: "io",
        some: Some((
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        )),
        full: Some((
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        )),
    },
    Resource {
        name: "memory",
        some: Some((
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        )),
        full: Some((
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        )),
    },
    Resource {
        name: "irq",
        some: None,
        full: Some((
            "node_pressure_irq_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IRQ congestion",
        )),
    },
];

pub struct Pressure {
    paths: [PathBuf; 4],
}

impl Pressure {
    pub fn new(paths: &Paths) -> Self {
        Pressure {
            paths: RESOURCES.map(|r| paths.proc(&format!("pressure/{}", r.name))),
        }
    }
}

/// The stall totals of one pressure file, in microseconds.
#[derive(Debug, Default, PartialEq)]
pub struct PsiTotals {
    pub some: Option<u64>,
    pub full: Option<u64>,
}

/// Parses a pressure file: `some|full avg10=F avg60=F avg300=F total=N` lines; lines
/// with another first word are ignored (a later kernel may add kinds).
pub fn parse_psi(text: &str, path: &Path) -> Result<PsiTotals, CollectError> {
    let mut totals = PsiTotals::default();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split(' ');
        let slot = match words.next() {
            Some("some") => &mut totals.some,
            Some("full") => &mut totals.full,
            _ => continue,
        };
        let line_no = index + 1;
        for key in ["avg10", "avg60", "avg300"] {
            let average = words
                .next()
                .and_then(|w| w.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse::<f64>().ok());
            if average.is_none() {
                return Err(CollectError::parse(
                    path,
                    line_no,
                    format!("expected {key}=<number>"),
                ));
            }
        }
        let total = words
            .next()
            .and_then(|w| w.strip_prefix("total="))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| CollectError::parse(path, line_no, "expected total=<integer>"))?;
        *slot = Some(total);
    }
    Ok(totals)
}

/// node_exporter's conversion, two divisions as it writes them.
fn microseconds_to_seconds(total: u64) -> f64 {
    total as f64 / 1000.0 / 1000.0
}

impl Collector for Pressure {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut found = 0;
        for (resource, path) in RESOURCES.iter().zip(&self.paths) {
            let text = match read_attribute(path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    return Err(CollectError::NoData(format!(
                        "{}: pressure information is disabled (psi=0)",
                        path.display()
                    )))
                }
                Err(e) => return Err(CollectError::read(path, e)),
            };
            let totals = parse_psi(&text, path)?;
            let (some, full) = match (resource.some, totals.some, resource.full, totals.full) {
                (Some(_), None, _, _) => {
                    return Err(CollectError::NoData(format!(
                        "{}: no \"some\" line",
                        path.display()
                    )))
                }
                (_, _, Some(_), None) => {
                    return Err(CollectError::NoData(format!(
                        "{}: no \"full\" line",
                        path.display()
                    )))
                }
                (_, some, _, full) => (some, full),
            };
            if let (Some((name, help)), Some(total)) = (resource.some, some) {
                out.counter(name, help, &[], microseconds_to_seconds(total));
            }
            if let (Some((name, help)), Some(total)) = (resource.full, full) {
                out.counter(name, help, &[], microseconds_to_seconds(total));
            }
            found += 1;
        }
        if found == 0 {
            return Err(CollectError::NoData(
                "no pressure files: a kernel >= 4.20 with CONFIG_PSI is needed".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Pressure::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    fn family(name: &str, help: &str, value: f64) -> Vec<Line> {
        vec![
            Line::Help(name.into(), help.into()),
            Line::Type(name.into(), "counter".into()),
            Line::Sample(name.into(), vec![], value),
        ]
    }

    #[test]
    fn every_family_of_the_fixture() {
        let out = scrape(&fixture_paths()).unwrap();
        let mut lines = rendered(&out, |_| true);
        lines.sort_by_key(|l| l.family().to_string());
        let mut expected = [
            family(
                "node_pressure_cpu_waiting_seconds_total",
                "Total time in seconds that processes have waited for CPU time",
                184.726351,
            ),
            family(
                "node_pressure_io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
                92.817364,
            ),
            family(
                "node_pressure_io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
                61.534207,
            ),
            family(
                "node_pressure_memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
                3.418275,
            ),
            family(
                "node_pressure_memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
                2.209163,
            ),
            family(
                "node_pressure_irq_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IRQ congestion",
                0.517342,
            ),
        ]
        .concat();
        expected.sort_by_key(|l| l.family().to_string());
        assert_eq!(lines, expected);
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/pressure")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("proc/pressure").join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn absent_files_are_skipped_and_none_is_no_data() {
        // A kernel before 6.1: no irq file, and a cpu file without a "full" line (< 5.13).
        let dir = tree(&[
            ("cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"),
            (
                "memory",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2\n",
            ),
        ]);
        let out = scrape(&Paths::under(dir.path())).unwrap();
        assert_eq!(
            out.value("node_pressure_cpu_waiting_seconds_total", &[]),
            Some(0.000007)
        );
        assert!(out.get("node_pressure_io_waiting_seconds_total").is_none());
        assert!(out.get("node_pressure_irq_stalled_seconds_total").is_none());

        let dir = tree(&[]);
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
    }

    #[test]
    fn a_missing_line_is_no_data() {
        let dir = tree(&[("io", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n")]);
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(
            matches!(&err, CollectError::NoData(m) if m.ends_with("io: no \"full\" line")),
            "{err}"
        );
        let dir = tree(&[("cpu", "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n")]);
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let p = Path::new("/proc/pressure/io");
        assert_eq!(
            parse_psi("some avg10=0.1 avg60=0.2 avg300=0.3 total=5\nfuture x\n", p).unwrap(),
            PsiTotals {
                some: Some(5),
                full: None
            }
        );
        let err = parse_psi(
            "some avg10=0.1 avg60=0.2 avg300=0.3 total=5\nfull avg10=0.1 avg60=x avg300=0.3 total=5\n",
            p,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/pressure/io:2: expected avg60=<number>"
        );
        let err = parse_psi("full avg10=0.1 avg60=0.2 avg300=0.3 total=-1\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/pressure/io:1: expected total=<integer>"
        );
    }
}
