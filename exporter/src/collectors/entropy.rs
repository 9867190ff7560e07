//! `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `<procfs>/sys/kernel/random/{entropy_avail,poolsize}`.
//!
//! Since Linux 5.18 both read 256 once the pool is initialised. A missing file fails the
//! collector (node_exporter has no "no data" case here: every Linux has them).

use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "entropy",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Entropy::new(ctx.paths))),
};

pub struct Entropy {
    available: PathBuf,
    pool_size: PathBuf,
}

impl Entropy {
    pub fn new(paths: &Paths) -> Self {
        Entropy {
            available: paths.proc("sys/kernel/random/entropy_avail"),
            pool_size: paths.proc("sys/kernel/random/poolsize"),
        }
    }
}

/// One unsigned integer, trimmed, as procfs reads these files.
fn read_count(path: &std::path::Path) -> Result<f64, CollectError> {
    let text = read_attribute(path).map_err(|e| CollectError::read(path, e))?;
    let value: u64 = text
        .parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not an unsigned integer: {text:?}")))?;
    Ok(value as f64)
}

impl Collector for Entropy {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let available = read_count(&self.available)?;
        let pool_size = read_count(&self.pool_size)?;
        out.gauge(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            &[],
            available,
        );
        out.gauge(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            &[],
            pool_size,
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
        Entropy::new(&fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let a = "node_entropy_available_bits";
        let p = "node_entropy_pool_size_bits";
        assert_eq!(
            rendered(&out, |_| true),
            vec![
                Line::Help(a.into(), "Bits of available entropy.".into()),
                Line::Type(a.into(), "gauge".into()),
                Line::Sample(a.into(), vec![], 3591.0),
                Line::Help(p.into(), "Bits of entropy pool.".into()),
                Line::Type(p.into(), "gauge".into()),
                Line::Sample(p.into(), vec![], 4096.0),
            ]
        );
    }

    #[test]
    fn missing_or_bad_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let err = Entropy::new(&paths)
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
        let random = dir.path().join("proc/sys/kernel/random");
        std::fs::create_dir_all(&random).unwrap();
        std::fs::write(random.join("entropy_avail"), "256\n").unwrap();
        std::fs::write(random.join("poolsize"), "lots\n").unwrap();
        let err = Entropy::new(&paths)
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1: not an unsigned integer: \"lots\"",
                random.join("poolsize").display()
            )
        );
    }
}
