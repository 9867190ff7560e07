//! The exporter's textfile collector, the whole path a `.prom` file takes: up to three
//! files (the input split at 0xFF) written to a directory, then
//! `Textfile::new(vec![dir])` and the `Collector::update` of a scrape — listing,
//! reading, `textparse`, the checks, node_exporter's conversion and the registry rule.
//!
//! Never panics, always reports `node_textfile_scrape_error`, and what it adds to
//! the scrape renders (0.0.4 and OpenMetrics) to text the strict parser accepts: a
//! textfile can never make `/metrics` unreadable.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use edge_common::exposition::MetricSet;
use edge_exporter::collector::Collector;
use edge_exporter::collectors::textfile::Textfile;
use edge_exporter::sources::Sources;
use edge_metrics_fuzz::{parts, render_and_reparse};
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 3] = ["a.prom", "b.prom", "c.prom"];

/// One directory per fuzz process, under `$TMPDIR` (scripts/fuzz.sh points that at
/// a directory of its own and removes it after the run).
fn directory() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("edge-fuzz-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("textfile directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = directory();
    let files = parts(data, FILES.len());
    for (index, name) in FILES.iter().enumerate() {
        let path = dir.join(name);
        match files.get(index) {
            Some(contents) => std::fs::write(&path, contents).expect("write a textfile"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    let mut collector = Textfile::new(vec![dir.display().to_string()]);
    let mut out = MetricSet::new();
    collector
        .update(&mut Sources::default(), &mut out)
        .expect("the textfile collector never fails");
    assert!(out.get("node_textfile_scrape_error").is_some());
    render_and_reparse(&out);
});
