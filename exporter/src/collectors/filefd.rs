//! `node_filefd_allocated` and `node_filefd_maximum` from `<procfs>/sys/fs/file-nr`
//! (three tab-separated numbers; the middle one, free handles, is always 0 since 2.6).
//! The maximum is LONG_MAX (9.2e18) on systemd hosts: it is a float, as in node_exporter.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "filefd",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(FileFd::new(ctx.paths))),
};

pub struct FileFd {
    path: PathBuf,
}

impl FileFd {
    pub fn new(paths: &Paths) -> Self {
        FileFd {
            path: paths.proc("sys/fs/file-nr"),
        }
    }
}

/// Allocated and maximum file handles of a (trimmed) `file-nr` line.
pub fn parse_file_nr(text: &str, path: &Path) -> Result<(f64, f64), CollectError> {
    let mut parts = text.split('\t');
    let (Some(allocated), Some(_free), Some(maximum)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CollectError::parse(
            path,
            1,
            "expected three tab-separated numbers",
        ));
    };
    let number = |text: &str, what: &str| {
        text.parse::<f64>()
            .map_err(|_| CollectError::parse(path, 1, format!("{what}: not a number: {text:?}")))
    };
    Ok((number(allocated, "allocated")?, number(maximum, "maximum")?))
}

impl Collector for FileFd {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_attribute(&self.path).map_err(|e| CollectError::read(&self.path, e))?;
        let (allocated, maximum) = parse_file_nr(&text, &self.path)?;
        out.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            &[],
            allocated,
        );
        out.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            &[],
            maximum,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    #[test]
    fn both_families_of_the_fixture() {
        let mut out = MetricSet::new();
        FileFd::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let a = "node_filefd_allocated";
        let m = "node_filefd_maximum";
        assert_eq!(
            rendered(&out, |_| true),
            vec![
                Line::Help(a.into(), "File descriptor statistics: allocated.".into()),
                Line::Type(a.into(), "gauge".into()),
                Line::Sample(a.into(), vec![], 5312.0),
                Line::Help(m.into(), "File descriptor statistics: maximum.".into()),
                Line::Type(m.into(), "gauge".into()),
                Line::Sample(m.into(), vec![], 9.223372036854776e18),
            ]
        );
    }

    #[test]
    fn parse_errors_name_the_file() {
        let p = Path::new("/proc/sys/fs/file-nr");
        assert_eq!(parse_file_nr("1\t0\t2", p).unwrap(), (1.0, 2.0));
        assert_eq!(
            parse_file_nr("1 0 2", p).unwrap_err().to_string(),
            "/proc/sys/fs/file-nr:1: expected three tab-separated numbers"
        );
        assert_eq!(
            parse_file_nr("1\t0\tmany", p).unwrap_err().to_string(),
            "/proc/sys/fs/file-nr:1: maximum: not a number: \"many\""
        );
    }
}
