//! The sidecar's `nodes.conf` (`config::parse`), with the Go durations its intervals
//! are written in (edge-common's `duration::parse_go_duration`, also every duration
//! flag, and `parse_duration_or_days`).
//!
//! Never panics, and what it accepts keeps its promises: node names without blanks,
//! file names that cannot leave the scripts directory or hide, no source twice on a
//! node, no interval under `MIN_INTERVAL`.
#![no_main]

use std::time::Duration;

use edge_common::duration::{parse_duration_or_days, parse_go_duration};
use edge_metrics_fuzz::text;
use edge_sidecar::config::{parse, SourceKind, MIN_INTERVAL};
use libfuzzer_sys::fuzz_target;

/// The sidecar's default `--default-interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

fuzz_target!(|data: &[u8]| {
    // `config::load` reads the file with `read_to_string`.
    let Some(text) = text(data) else {
        return;
    };
    for line in text.lines().take(4) {
        let _ = parse_go_duration(line);
        let _ = parse_duration_or_days(line);
    }
    let conf = match parse(text, "nodes.conf", DEFAULT_INTERVAL) {
        Ok(conf) => conf,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    for (node, sources) in conf.nodes() {
        assert!(
            !node.is_empty() && !node.contains(char::is_whitespace),
            "{node:?}"
        );
        assert_eq!(conf.sources_for(node), sources.as_slice());
        for (index, source) in sources.iter().enumerate() {
            assert!(source.interval >= MIN_INTERVAL, "{source:?}");
            assert!(
                !sources[..index].iter().any(|s| s.kind == source.kind),
                "{node}: {} twice",
                source.kind
            );
            // Scripts and sensor files name a file in the scripts directory; the IIO
            // and 1-Wire sources name none.
            let Some(file) = source.kind.file_name() else {
                assert!(
                    matches!(source.kind, SourceKind::Iio(_) | SourceKind::W1(_)),
                    "{source:?}"
                );
                continue;
            };
            assert!(
                !file.is_empty()
                    && !file.starts_with('.')
                    && !file.contains('/')
                    && file != ".."
                    && file
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
                "{file:?}"
            );
            if let SourceKind::Script(name) = &source.kind {
                assert!(!name.is_empty(), "{source:?}");
            }
        }
    }
});
