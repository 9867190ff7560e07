//! A script printing 100,000 keys: the sidecar keeps --max-keys-per-run of them, its
//! memory stays small, and the file stays within --max-file-bytes with the status
//! families in it.

mod support;

use std::time::Duration;

use support::{value_in, ConfigMap, Sidecar};

/// The defaults of --max-keys-per-run and --max-file-bytes.
const MAX_KEYS: usize = 1000;
const MAX_FILE_BYTES: u64 = 2 << 20;
/// Far below the sidecar container's 64 MiB limit.
const MAX_RSS: u64 = 40 << 20;

/// 100,000 distinct keys named `<prefix>_<n>`.
fn keys_script(prefix: &str) -> String {
    format!(
        "#!/bin/bash\nawk 'BEGIN {{ for (i = 0; i < 100000; i++) printf \"{prefix}_%d=%d\\n\", i, i }}'\n"
    )
}

fn written_keys(text: &str, prefix: &str) -> usize {
    let start = format!("edge_{prefix}_");
    text.lines().filter(|l| l.starts_with(&start)).count()
}

#[test]
fn a_100k_key_script_keeps_the_sidecar_small_and_the_file_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let script = keys_script("flood");
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=flood:300ms\n"),
            ("flood.sh", &script),
        ],
    );
    let output = tmp.path().join("custom_metrics.prom");
    let sidecar = Sidecar::start(&cm.config(), &output, &["--timeout=5s"]);
    let flood = "{kind=\"script\",source=\"flood\"}";
    sidecar.wait_for_value(
        &format!("edge_sidecar_source_runs_total{flood}"),
        5.0,
        Duration::from_secs(30),
    );
    let (rss, peak) = sidecar.memory();
    let text = sidecar.text();
    let size = std::fs::metadata(&output).unwrap().len();
    let written = written_keys(&text, "flood");
    eprintln!(
        "100k keys: {written} written, file {size} bytes, RSS {rss} bytes, peak {peak} bytes"
    );

    assert_eq!(written, MAX_KEYS);
    // The first keys are the ones kept.
    assert_eq!(value_in(&text, "edge_flood_0"), Some(0.0));
    assert_eq!(value_in(&text, "edge_flood_999"), Some(999.0));
    assert_eq!(value_in(&text, "edge_flood_1000"), None);
    assert!(size <= MAX_FILE_BYTES, "{size}");
    assert!(peak < MAX_RSS, "peak RSS {peak} bytes");
    // Still a success, the drop counted, the status there.
    let value = |series: &str| value_in(&text, &format!("{series}{flood}"));
    assert_eq!(value("edge_sidecar_source_success"), Some(1.0));
    assert_eq!(value("edge_sidecar_source_values"), Some(MAX_KEYS as f64));
    let runs = value("edge_sidecar_source_runs_total").unwrap();
    let dropped = value("edge_sidecar_source_dropped_keys_total").unwrap();
    // The 1 MiB output cap holds some 60,000 of the lines; all but 1,000 are dropped.
    assert!(
        dropped >= runs * 40_000.0,
        "{dropped} keys dropped in {runs} runs"
    );
    assert!(text.contains("edge_sidecar_info{"));
}

#[test]
fn sources_past_the_file_limit_are_left_out_whole_and_the_status_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (keys_script("first"), keys_script("second"));
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=first:300ms,second:300ms\n"),
            ("first.sh", &first),
            ("second.sh", &second),
        ],
    );
    let output = tmp.path().join("custom_metrics.prom");
    // Room for one source's 1,000 values (about 130 kB), not for two.
    let limit = 200_000;
    let sidecar = Sidecar::start(
        &cm.config(),
        &output,
        &["--timeout=5s", &format!("--max-file-bytes={limit}")],
    );
    let labels = |source: &str| format!("{{kind=\"script\",source=\"{source}\"}}");
    for source in ["first", "second"] {
        sidecar.wait_for_value(
            &format!("edge_sidecar_source_runs_total{}", labels(source)),
            3.0,
            Duration::from_secs(30),
        );
    }
    let text = sidecar.text();
    let size = std::fs::metadata(&output).unwrap().len();
    eprintln!("two 100k-key sources, --max-file-bytes={limit}: file {size} bytes");
    assert!(size <= limit, "{size}");
    assert_eq!(written_keys(&text, "first"), MAX_KEYS);
    assert_eq!(written_keys(&text, "second"), 0);
    let value =
        |series: &str, source: &str| value_in(&text, &format!("{series}{}", labels(source)));
    assert_eq!(
        value("edge_sidecar_source_values", "first"),
        Some(MAX_KEYS as f64)
    );
    assert_eq!(
        value("edge_sidecar_source_left_out_values", "first"),
        Some(0.0)
    );
    assert_eq!(value("edge_sidecar_source_values", "second"), Some(0.0));
    assert_eq!(
        value("edge_sidecar_source_left_out_values", "second"),
        Some(MAX_KEYS as f64)
    );
    for source in ["first", "second"] {
        assert_eq!(
            value("edge_sidecar_source_success", source),
            Some(1.0),
            "{text}"
        );
    }
    assert!(text.contains("edge_sidecar_info{"));
}
