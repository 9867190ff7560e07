//! The `.prom` file: its text, and writing it so that a reader never sees half of it.
//!
//! The text is edge-common's exposition writer in Prometheus text 0.0.4 ([`FORMAT`]),
//! families sorted by name, no timestamps: node_exporter's textfile collector and
//! `promtool check metrics` read that format and not OpenMetrics. `--listen` serves
//! the same text. Names from outside (a script's key, a sensor's value name) enter the
//! set through [`append_checked`]: checked, never escaped — a bad family or label name
//! is skipped with a warning, because one bad line makes the collector reject the
//! whole file, and with it every script's values.
//!
//! [`write_atomic`] writes a temp file next to the target, named `<file name>.tmp.`
//! plus tempfile's random suffix (e.g. `custom_metrics.prom.tmp.Ab3xQz`) so that it
//! never ends in `.prom` and the collector never reads it; then fsync, mode 0644,
//! rename over the target, fsync the directory. A failed write removes the temp file
//! and leaves the old `.prom` as it was; the caller logs, counts and tries again on
//! the next run.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use edge_common::exposition::{self, Format, MetricKind, MetricSet, Name};

/// The file's format, and `--listen`'s: text 0.0.4, the only one the textfile
/// collector reads.
pub const FORMAT: Format = Format::PrometheusText;

/// One sample: its label pairs and its value.
pub type Sample<'a> = (&'a [(&'a str, &'a str)], f64);

/// The file's text.
pub fn render(set: &MetricSet) -> String {
    let mut out = String::new();
    exposition::render(set, FORMAT, &mut out);
    out
}

/// Adds a family whose name or label names come from outside to `set`, so that the
/// file stays one the collector accepts. Skipped with a warning: the family, if its
/// name is not a metric name; a sample with a label name that is not valid, is
/// reserved (`__…`) or is given twice. What is left joins `set` by the registry rule
/// of [`MetricSet::append_deduplicated`] — the first family of a name wins (a later one
/// with another HELP or type is dropped), a sample whose label set repeats an earlier
/// one is dropped, within this family too. A family with no sample left is not added,
/// and does not take the name from a later one.
pub fn append_checked(
    set: &mut MetricSet,
    name: impl Into<Name>,
    help: impl Into<Name>,
    kind: MetricKind,
    samples: &[Sample<'_>],
) {
    let name = name.into();
    let mut checked = MetricSet::new();
    let family = match checked.checked_family(name.clone(), help, kind) {
        Ok(family) => family,
        Err(error) => {
            tracing::warn!(%error, "family not written");
            return;
        }
    };
    for (labels, value) in samples {
        if let Err(error) = family.checked_push(labels, *value) {
            tracing::warn!(family = %name, %error, "sample not written");
        }
    }
    if !family.is_empty() {
        set.append_deduplicated(checked);
    }
}

/// The step of [`write_atomic`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    CreateTemp,
    SetMode,
    Write,
    SyncFile,
    Rename,
    SyncDirectory,
}

impl fmt::Display for WriteStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteStep::CreateTemp => "creating the temp file",
            WriteStep::SetMode => "setting mode 0644 on the temp file",
            WriteStep::Write => "writing the temp file",
            WriteStep::SyncFile => "fsyncing the temp file",
            WriteStep::Rename => "renaming the temp file over it",
            WriteStep::SyncDirectory => "fsyncing its directory",
        })
    }
}

/// Why [`write_atomic`] failed: the target, the step and the system's error, e.g.
/// `writing /var/lib/edge/custom_metrics.prom: creating the temp file: Read-only file
/// system (os error 30)`. Except at [`WriteStep::SyncDirectory`], the old file is
/// unchanged.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {step}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub step: WriteStep,
    #[source]
    pub source: io::Error,
}

/// Writes `contents` to `path` atomically: a reader sees the old file or the new one,
/// never a mix, and after a crash the file is one or the other. The file gets mode
/// 0644 whatever the umask (node_exporter runs as nobody). On any error the temp file
/// is removed. Errors name the path and step.
///
/// At [`WriteStep::SyncDirectory`] the new file is already in place; only its
/// surviving a crash is in doubt.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let fail = |step: WriteStep| {
        move |source: io::Error| WriteError {
            path: path.to_path_buf(),
            step,
            source,
        }
    };
    let file_name = path.file_name().ok_or_else(|| {
        fail(WriteStep::CreateTemp)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Dropping `temp` on any early return below removes the file.
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(file_name))
        .tempfile_in(dir)
        .map_err(fail(WriteStep::CreateTemp))?;
    // An fchmod, so the umask plays no part.
    temp.as_file()
        .set_permissions(Permissions::from_mode(0o644))
        .map_err(fail(WriteStep::SetMode))?;
    temp.write_all(contents).map_err(fail(WriteStep::Write))?;
    temp.as_file()
        .sync_all()
        .map_err(fail(WriteStep::SyncFile))?;
    // On failure the error holds the temp file, and dropping it removes the file.
    temp.persist(path)
        .map_err(|e| fail(WriteStep::Rename)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail(WriteStep::SyncDirectory))
}

/// `custom_metrics.prom` → `custom_metrics.prom.tmp.`: tempfile adds a random suffix,
/// so the name never ends in `.prom`.
fn temp_prefix(file_name: &std::ffi::OsStr) -> OsString {
    let mut prefix = file_name.to_os_string();
    prefix.push(".tmp.");
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_key_values;
    use edge_common::text::write_value;
    use std::fs;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    fn gauge(set: &mut MetricSet, name: &str, help: &str, samples: &[Sample<'_>]) {
        family(set, name, help, MetricKind::Gauge, samples);
    }

    fn family(
        set: &mut MetricSet,
        name: &str,
        help: &str,
        kind: MetricKind,
        samples: &[Sample<'_>],
    ) {
        append_checked(set, name.to_string(), help.to_string(), kind, samples);
    }

    /// A sidecar-like file: two scripts' gauges and the status families.
    fn sample_set() -> MetricSet {
        let mut set = MetricSet::new();
        gauge(
            &mut set,
            "edge_custom_temp",
            "Value of temp printed by script sensors.sh.",
            &[(&[], 21.5)],
        );
        gauge(
            &mut set,
            "edge_custom_fan",
            "Value of fan printed by script sensors.sh.",
            &[(&[], f64::NAN)],
        );
        gauge(
            &mut set,
            "edge_custom_limit",
            "Help with \\ backslash and\nnewline.",
            &[(&[], f64::INFINITY)],
        );
        gauge(
            &mut set,
            "edge_sidecar_script_success",
            "Whether the script's last run succeeded.",
            &[
                (&[("script", "sensors.sh")], 1.0),
                (&[("script", "we\"ird\\na\nme.sh")], 0.0),
            ],
        );
        family(
            &mut set,
            "edge_sidecar_script_rejected_lines_total",
            "Lines of script output skipped.",
            MetricKind::Counter,
            &[(&[("script", "sensors.sh")], 3.0)],
        );
        gauge(
            &mut set,
            "edge_sidecar_last_write_timestamp_seconds",
            "When the file was last written.",
            &[(&[], 1_700_000_000.25)],
        );
        set
    }

    #[test]
    fn renders_text_0_0_4_exactly() {
        assert_eq!(
            render(&sample_set()),
            "# HELP edge_custom_fan Value of fan printed by script sensors.sh.\n\
             # TYPE edge_custom_fan gauge\n\
             edge_custom_fan NaN\n\
             # HELP edge_custom_limit Help with \\\\ backslash and\\nnewline.\n\
             # TYPE edge_custom_limit gauge\n\
             edge_custom_limit +Inf\n\
             # HELP edge_custom_temp Value of temp printed by script sensors.sh.\n\
             # TYPE edge_custom_temp gauge\n\
             edge_custom_temp 21.5\n\
             # HELP edge_sidecar_last_write_timestamp_seconds When the file was last written.\n\
             # TYPE edge_sidecar_last_write_timestamp_seconds gauge\n\
             edge_sidecar_last_write_timestamp_seconds 1700000000.25\n\
             # HELP edge_sidecar_script_rejected_lines_total Lines of script output skipped.\n\
             # TYPE edge_sidecar_script_rejected_lines_total counter\n\
             edge_sidecar_script_rejected_lines_total{script=\"sensors.sh\"} 3\n\
             # HELP edge_sidecar_script_success Whether the script's last run succeeded.\n\
             # TYPE edge_sidecar_script_success gauge\n\
             edge_sidecar_script_success{script=\"sensors.sh\"} 1\n\
             edge_sidecar_script_success{script=\"we\\\"ird\\\\na\\nme.sh\"} 0\n"
        );
        assert_eq!(render(&MetricSet::new()), "");
    }

    #[test]
    fn values_are_written_as_prometheus_reads_them() {
        let text = |value: f64| {
            let mut out = String::new();
            write_value(value, &mut out);
            out
        };
        assert_eq!(text(f64::NAN), "NaN");
        assert_eq!(text(f64::INFINITY), "+Inf");
        assert_eq!(text(f64::NEG_INFINITY), "-Inf");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(1000.0), "1000");
        assert_eq!(text(-0.5), "-0.5");
        assert_eq!(text(1e300), "1e300");
        assert_eq!(text(1.5e-7), "1.5e-7");
        assert_eq!(text(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn bad_names_and_repeats_are_skipped_never_written() {
        let mut set = MetricSet::new();
        gauge(&mut set, "ok", "fine", &[(&[("a", "1")], 1.0)]);
        gauge(&mut set, "bad name", "x", &[(&[], 1.0)]);
        gauge(&mut set, "bad\n# TYPE x counter", "x", &[(&[], 1.0)]);
        gauge(&mut set, "1bad", "x", &[(&[], 1.0)]);
        gauge(&mut set, "", "x", &[(&[], 1.0)]);
        gauge(&mut set, "bad{a=\"1\"}", "x", &[(&[], 1.0)]);
        gauge(
            &mut set,
            "labels",
            "bad label names skip the sample",
            &[
                (&[("a b", "1")], 1.0),
                (&[("a", "1"), ("__name__", "x")], 2.0),
                (&[("1a", "1")], 3.0),
                (&[("a", "1"), ("a", "2")], 4.0),
                (&[("a\"}", "1")], 5.0),
                (&[("a", "1"), ("b", "2")], 6.0),
                (&[("b", "2"), ("a", "1")], 7.0),
                (&[("a", "1")], 8.0),
                (&[("a", "1")], 9.0),
            ],
        );
        gauge(
            &mut set,
            "ok",
            "second family of the name",
            &[(&[("a", "2")], 2.0)],
        );
        gauge(&mut set, "empty", "no samples", &[]);
        gauge(
            &mut set,
            "all_bad",
            "every sample skipped",
            &[(&[("-", "x")], 1.0)],
        );
        family(
            &mut set,
            "ns:name",
            "colons are allowed",
            MetricKind::Counter,
            &[(&[], 1.0)],
        );
        assert_eq!(
            render(&set),
            "# HELP labels bad label names skip the sample\n# TYPE labels gauge\n\
             labels{a=\"1\",b=\"2\"} 6\nlabels{a=\"1\"} 8\n\
             # HELP ns:name colons are allowed\n# TYPE ns:name counter\nns:name 1\n\
             # HELP ok fine\n# TYPE ok gauge\nok{a=\"1\"} 1\n"
        );
    }

    #[test]
    fn script_output_cannot_inject_text() {
        let output = b"ok=1\n\
            x{job=\"evil\"}=2\n\
            y=3 # TYPE y counter\n\
            # HELP edge_custom_ok pwned\n\
            z=1}\n\
            q\"=4\n\
            h#=5\n\
            w=6\nnewline 7\n\
            v=\"8\"\n\
            u=9\r\n\
            t=1\rinjected 1\n\
            brace}=10\n\
            neg=-Inf\n";
        let names = crate::names::ValueNames::new("edge_custom_");
        let rules = crate::parse::KeyRules {
            max_keys: crate::parse::DEFAULT_MAX_KEYS_PER_RUN,
            names: &names,
        };
        let parsed = parse_key_values(output, &rules);
        assert_eq!(parsed.rejected, 9);
        let script =
            crate::config::SourceKind::Script("evil\n# TYPE edge_custom_ok counter\n".into());
        let mut set = MetricSet::new();
        for (key, value) in &parsed.values {
            crate::output::append_value(
                &mut set,
                format!("edge_custom_{key}"),
                key,
                &script,
                &[(&[], *value)],
            );
        }
        let text = render(&set);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "# HELP edge_custom_neg Value of neg from script evil\\n# TYPE edge_custom_ok counter\\n.",
                "# TYPE edge_custom_neg gauge",
                "edge_custom_neg -Inf",
                "# HELP edge_custom_ok Value of ok from script evil\\n# TYPE edge_custom_ok counter\\n.",
                "# TYPE edge_custom_ok gauge",
                "edge_custom_ok 1",
                "# HELP edge_custom_u Value of u from script evil\\n# TYPE edge_custom_ok counter\\n.",
                "# TYPE edge_custom_u gauge",
                "edge_custom_u 9",
                "# HELP edge_custom_w Value of w from script evil\\n# TYPE edge_custom_ok counter\\n.",
                "# TYPE edge_custom_w gauge",
                "edge_custom_w 6",
            ]
        );
        promtool_check(&text);
    }

    /// Runs the real `promtool check metrics` on `text` and fails unless it is clean.
    fn promtool_check(text: &str) {
        let promtool = Path::new("/usr/bin/promtool");
        assert!(
            promtool.exists(),
            "/usr/bin/promtool is missing: scripts/test.sh installs it (apt-get install prometheus)"
        );
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting promtool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .expect("writing to promtool");
        let result = child.wait_with_output().expect("running promtool");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(
            result.status.success() && said.trim().is_empty(),
            "promtool check metrics: {}: {said}\n--- input:\n{text}",
            result.status
        );
    }

    #[test]
    fn promtool_finds_the_rendered_file_clean() {
        promtool_check(&render(&sample_set()));
    }

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn temp_files_are_named_after_the_target_but_not_prom() {
        assert_eq!(
            temp_prefix("custom_metrics.prom".as_ref()),
            OsString::from("custom_metrics.prom.tmp.")
        );
    }

    #[test]
    fn writes_mode_0644_whatever_the_umask_and_replaces_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custom_metrics.prom");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();

        // The umask is the process's: restore it at once, other tests create files too.
        // SAFETY: umask has no memory-safety requirements.
        let previous = unsafe { libc::umask(0o077) };
        let result = write_atomic(&path, b"new\n");
        unsafe { libc::umask(previous) };
        result.unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(mode(&path), 0o644);
        assert_eq!(listing(dir.path()), ["custom_metrics.prom"]);

        // Again, over a file this function wrote.
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(listing(dir.path()), ["custom_metrics.prom"]);
    }

    /// Asserts `write_atomic(path)` fails at `step`, names the path, and leaves `dir`
    /// holding exactly `expected`.
    fn assert_fails(path: &Path, step: WriteStep, dir: &Path, expected: &[&str]) {
        let error = write_atomic(path, b"new\n").expect_err("the write succeeded");
        assert_eq!(error.step, step, "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("writing {}: {step}: ", path.display())),
            "{error}"
        );
        assert_eq!(listing(dir), expected);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();

        // The target's parent is a regular file: fails for root too (ENOTDIR).
        let old = dir.path().join("custom_metrics.prom");
        fs::write(&old, "old\n").unwrap();
        assert_fails(
            &old.join("x.prom"),
            WriteStep::CreateTemp,
            dir.path(),
            &["custom_metrics.prom"],
        );
        assert_eq!(fs::read(&old).unwrap(), b"old\n");

        // The target is a directory: the temp file is made, written and synced, then
        // the rename fails (for root too), and the temp file must go.
        let taken = dir.path().join("taken.prom");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("inside"), "old\n").unwrap();
        assert_fails(
            &taken,
            WriteStep::Rename,
            dir.path(),
            &["custom_metrics.prom", "taken.prom"],
        );
        assert_eq!(fs::read(taken.join("inside")).unwrap(), b"old\n");

        // The directory does not exist.
        assert_fails(
            &dir.path().join("gone/x.prom"),
            WriteStep::CreateTemp,
            dir.path(),
            &["custom_metrics.prom", "taken.prom"],
        );

        // No file name at all.
        let error = write_atomic(Path::new("/"), b"").unwrap_err();
        assert_eq!(error.step, WriteStep::CreateTemp);
    }

    #[test]
    fn a_read_only_directory_is_an_error_and_the_old_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        let path = ro.join("custom_metrics.prom");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&ro, Permissions::from_mode(0o555)).unwrap();
        // Root (CAP_DAC_OVERRIDE) writes through mode 0555; then the other test's
        // ENOTDIR and rename failures stand for this one.
        let probe = ro.join("probe");
        let enforced = File::create(&probe).is_err();
        let _ = fs::remove_file(&probe);
        if enforced {
            assert_fails(&path, WriteStep::CreateTemp, &ro, &["custom_metrics.prom"]);
            assert_eq!(fs::read(&path).unwrap(), b"old\n");
        } else {
            eprintln!("mode 0555 does not stop this user's writes; see a_failed_write_leaves_the_old_file_and_no_temp_file");
        }
        fs::set_permissions(&ro, Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_reader_sees_the_old_file_or_the_new_one_never_a_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custom_metrics.prom");
        // Different lengths and bytes, large enough to take more than one write call.
        let a = "a 1\n".repeat(40_000).into_bytes();
        let b = "bb 22\n".repeat(30_000).into_bytes();
        write_atomic(&path, &a).unwrap();

        let done = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (path, a, b) = (path.clone(), a.clone(), b.clone());
            let (done, writes) = (done.clone(), writes.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let n = writes.load(Ordering::Relaxed);
                    write_atomic(&path, if n % 2 == 0 { &b } else { &a }).unwrap();
                    writes.store(n + 1, Ordering::Relaxed);
                }
            })
        };
        // Stop the writer however the reader ends.
        struct Stop(Arc<AtomicBool>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stop = Stop(done);

        let started = std::time::Instant::now();
        let mut reads = 0;
        let (mut saw_a, mut saw_b) = (false, false);
        // Thousands of reads over hundreds of renames, and both contents seen.
        while reads < 5000 || writes.load(Ordering::Relaxed) < 200 || !(saw_a && saw_b) {
            let read = fs::read(&path).unwrap();
            if read == a {
                saw_a = true;
            } else if read == b {
                saw_b = true;
            } else {
                panic!("read {} bytes that are neither content", read.len());
            }
            reads += 1;
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "too slow: {reads} reads, {} writes",
                writes.load(Ordering::Relaxed)
            );
        }
        drop(stop);
        writer.join().unwrap();
        assert_eq!(listing(dir.path()), ["custom_metrics.prom"]);
    }
}
