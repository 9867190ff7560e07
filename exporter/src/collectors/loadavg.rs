//! `node_load1`, `node_load5`, `node_load15` from `<procfs>/loadavg`.

use std::path::PathBuf;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::parse_field;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "loadavg",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(LoadAvg::new(ctx.paths))),
};

pub struct LoadAvg {
    path: PathBuf,
}

impl LoadAvg {
    pub fn new(paths: &Paths) -> Self {
        LoadAvg {
            path: paths.proc("loadavg"),
        }
    }
}

/// The three load averages of a `/proc/loadavg` line.
pub fn parse_loadavg(text: &str, path: &std::path::Path) -> Result<[f64; 3], CollectError> {
    let mut fields = text.split_whitespace();
    Ok([
        parse_field(fields.next(), path, 1, "1m load")?,
        parse_field(fields.next(), path, 1, "5m load")?,
        parse_field(fields.next(), path, 1, "15m load")?,
    ])
}

impl Collector for LoadAvg {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = sources.table(&self.path)?;
        let [one, five, fifteen] = parse_loadavg(text, &self.path)?;
        out.gauge("node_load1", "1m load average.", &[], one);
        out.gauge("node_load5", "5m load average.", &[], five);
        out.gauge("node_load15", "15m load average.", &[], fifteen);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_three_averages() {
        let p = Path::new("loadavg");
        assert_eq!(
            parse_loadavg("0.25 1.50 12.00 2/345 6789\n", p).unwrap(),
            [0.25, 1.5, 12.0]
        );
        let err = parse_loadavg("0.25 x", p).unwrap_err();
        assert_eq!(err.to_string(), "loadavg:1: 5m load: not a number: \"x\"");
    }
}
