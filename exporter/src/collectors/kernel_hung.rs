//! `node_kernel_hung_tasks_total` from `<procfs>/sys/kernel/hung_task_detect_count`
//! (kernel ≥ 6.13 with CONFIG_DETECT_HUNG_TASK). No file is "no data", as in
//! node_exporter 1.12.

use std::io;
use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "kernel_hung",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(KernelHung::new(ctx.paths))),
};

pub struct KernelHung {
    path: PathBuf,
}

impl KernelHung {
    pub fn new(paths: &Paths) -> Self {
        KernelHung {
            path: paths.proc("sys/kernel/hung_task_detect_count"),
        }
    }
}

impl Collector for KernelHung {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = match read_attribute(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.path.display()
                )))
            }
            Err(e) => return Err(CollectError::read(&self.path, e)),
        };
        let count: u64 = text.parse().map_err(|_| {
            CollectError::parse(&self.path, 1, format!("not an unsigned integer: {text:?}"))
        })?;
        out.counter(
            "node_kernel_hung_tasks_total",
            "Total number of tasks that have been detected as hung since the system booted.",
            &[],
            count as f64,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        KernelHung::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_fixture_count() {
        let out = scrape(&fixture_paths()).unwrap();
        let name = "node_kernel_hung_tasks_total";
        assert_eq!(
            rendered(&out, |_| true),
            vec![
                Line::Help(
                    name.into(),
                    "Total number of tasks that have been detected as hung since the system booted."
                        .into()
                ),
                Line::Type(name.into(), "counter".into()),
                Line::Sample(name.into(), vec![], 4.0),
            ]
        );
    }

    #[test]
    fn absent_is_no_data_and_garbage_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let err = scrape(&paths).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        let file = dir.path().join("proc/sys/kernel/hung_task_detect_count");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "-3\n").unwrap();
        let err = scrape(&paths).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:1: not an unsigned integer: \"-3\"", file.display())
        );
    }
}
