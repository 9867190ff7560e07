//! The families of the `*.prom` files in `--collector.textfile.directory`, with
//! `node_textfile_mtime_seconds{file}` and `node_textfile_scrape_error`. These are
//! node_exporter 1.12's textfile collector's families.
//!
//! This is how other programs on the node (our sidecar, cron jobs) publish metrics.
//! They write `name.prom.<tmp>` and rename it, so a scrape sees a whole file or the
//! previous one. Only names ending in `.prom` are read.
//!
//! Behaviour, as node_exporter 1.12's:
//! - Each value of the flag is a glob. If it matches nothing or is not a valid pattern,
//!   it is used as a directory name. The flag may be repeated (1.9, #3135). An empty
//!   value reads nothing. A directory that cannot be listed sets the error flag. A
//!   directory named twice (or matched by two globs) counts twice, as node_exporter
//!   reads it twice; we read it once and repeat its files.
//! - A file that fails to parse ([`parse`]) or has a client-side timestamp is skipped
//!   whole. It sets `node_textfile_scrape_error 1` and is logged. Every other file
//!   gets `node_textfile_mtime_seconds{file="<dir>/<name>"}` in whole seconds. A
//!   directory named `x.prom` counts as an empty file.
//! - A family whose HELP differs from the HELP an earlier file gave its name is
//!   dropped, and so is every later family of that name; this sets
//!   `node_textfile_scrape_error 1` ([`HelpCheck`], 1.8, #2962). node_exporter 1.5
//!   left this to the registry, which dropped the later family without an error.
//! - A family without HELP gets `Metric read from <every file whose family of that
//!   name was kept>`. Samples missing some of their family's label names (within
//!   one file) get them as "".
//! - Families then go through node_exporter's registry rules, edge-common's
//!   [`MetricSet::append_deduplicated`]: the first family of a name wins, exact
//!   duplicate series are dropped, and a summary or histogram must not clash with
//!   `_sum`, `_count` or `_bucket` names. These drops are logged but are not scrape
//!   errors. Built-in collectors run before this one, so a built-in family beats a
//!   textfile family of the same name ([`MetricSet::append`]).
//!
//! Differences from node_exporter 1.12:
//! - A file over 16 MiB is refused, with an error.
//! - A label name starting with `__` skips the file with an error. node_exporter
//!   crashes on it. The same goes for `# TYPE x gauge_histogram` ([`parse`]), and
//!   for a family without HELP after a HELP conflict on its name ([`HelpCheck`]).
//! - Families of one file are registered in file order. node_exporter uses Go map
//!   order, which only matters when a file has both summary `x` and a family `x_sum`.
//! - Quoted names (`{"x",a="1"} 1`, `x{"a"="1"} 1`, `# HELP "x" …`) are parse errors
//!   here, as in 1.5 ([`parse`]). 1.12's parser (prometheus/common v0.66 with legacy
//!   validation, #3405) accepts them when the quoted name is a legacy one.
//!
//! Summaries and histograms are written as node_exporter writes them: one family of
//! that type, each series' quantiles or buckets followed by its `_sum` and `_count`.

pub mod glob;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction};

use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::deadline::DeadlineWorker;
use crate::error::{CollectError, ConfigError};
use crate::sources::Sources;
use edge_common::duration::parse_go_duration;
use edge_common::exposition::{MetricKind, MetricSet, SamplePart};
use edge_common::textparse::{self as parse, MetricFamily, MetricType, Value};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "textfile",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(Textfile::build(ctx)?)),
};

const DIRECTORY_FLAG: &str = "collector.textfile.directory";
const TIMEOUT_FLAG: &str = "collector.textfile.timeout";
const MAX_BYTES_FLAG: &str = "collector.textfile.max-bytes";
const MAX_SERIES_FLAG: &str = "collector.textfile.max-series";
const MAX_LABELS_FLAG: &str = "collector.textfile.max-labels";

/// node_exporter reads files of any size. A file this large is a mistake, and reading
/// it would hold up the scrape.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// How long the reads of one scrape may take before they are abandoned (a directory
/// on a dead network mount blocks forever).
pub const DEFAULT_TIMEOUT: &str = "5s";
/// What one scrape takes from all textfiles together, at most: bytes read, series
/// kept, labels of one series. A file that would go past a limit is skipped whole
/// (node_textfile_scrape_error 1, edge_textfile_refused{file,limit} 1); the files
/// before it and the other collectors are not affected. Parsed series cost ~30 times
/// their text in memory, so the byte limit is what bounds the exporter's memory.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 20;
pub const DEFAULT_MAX_SERIES: usize = 50_000;
pub const DEFAULT_MAX_LABELS: usize = 64;

const MTIME_HELP: &str = "Unixtime mtime of textfiles successfully read.";
const ERROR_HELP: &str = "1 if there was an error opening or reading a file, 0 otherwise";

fn args() -> Vec<Arg> {
    vec![
        Arg::new(DIRECTORY_FLAG)
            .long(DIRECTORY_FLAG)
            .action(ArgAction::Append)
            .value_name("DIR")
            .help("Directory to read text files with metrics from; a glob is allowed, and the flag may be repeated."),
        Arg::new(TIMEOUT_FLAG)
            .long(TIMEOUT_FLAG)
            .default_value(DEFAULT_TIMEOUT)
            .help("Longest the reads of one scrape may take (a directory on a dead mount): then the scrape reports node_textfile_scrape_error 1 and nothing is read again until the stuck read returns."),
        Arg::new(MAX_BYTES_FLAG)
            .long(MAX_BYTES_FLAG)
            .default_value("4194304")
            .help("Bytes one scrape reads from all textfiles together; a file past it is skipped (edge_textfile_refused{limit=\"bytes\"})."),
        Arg::new(MAX_SERIES_FLAG)
            .long(MAX_SERIES_FLAG)
            .default_value("50000")
            .help("Series one scrape takes from all textfiles together; a file past it is skipped (edge_textfile_refused{limit=\"series\"})."),
        Arg::new(MAX_LABELS_FLAG)
            .long(MAX_LABELS_FLAG)
            .default_value("64")
            .help("Labels one textfile series may have; a file with more is skipped (edge_textfile_refused{limit=\"labels\"})."),
    ]
}

/// What one scrape may take from the textfiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextfileLimits {
    pub max_bytes: u64,
    pub max_series: usize,
    pub max_labels: usize,
}

impl Default for TextfileLimits {
    fn default() -> Self {
        TextfileLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_series: DEFAULT_MAX_SERIES,
            max_labels: DEFAULT_MAX_LABELS,
        }
    }
}

pub struct Textfile {
    directories: Arc<[String]>,
    limits: TextfileLimits,
    timeout: Duration,
    worker: DeadlineWorker<TextfileScrape>,
}

impl Textfile {
    /// Reads the `*.prom` files of each directory (or glob) of `directories`.
    pub fn new(directories: Vec<String>) -> Self {
        Textfile::with_limits(
            directories,
            TextfileLimits::default(),
            Duration::from_secs(5),
        )
    }

    pub fn with_limits(
        directories: Vec<String>,
        limits: TextfileLimits,
        timeout: Duration,
    ) -> Self {
        Textfile {
            directories: directories.into(),
            limits,
            timeout,
            worker: DeadlineWorker::new("textfile"),
        }
    }

    fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let number = |flag: &str| -> Result<u64, ConfigError> {
            let text = ctx.string(flag).unwrap_or_default();
            text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError::new(
                    format!("--{flag}"),
                    format!("{text:?}: must be a whole number above 0"),
                )
            })
        };
        let timeout_text = ctx.string(TIMEOUT_FLAG).unwrap_or_default();
        let timeout = parse_go_duration(&timeout_text)
            .map_err(|e| ConfigError::new(format!("--{TIMEOUT_FLAG}"), e))?;
        if timeout.is_zero() {
            return Err(ConfigError::new(
                format!("--{TIMEOUT_FLAG}"),
                "must be longer than 0",
            ));
        }
        let limits = TextfileLimits {
            max_bytes: number(MAX_BYTES_FLAG)?,
            max_series: usize::try_from(number(MAX_SERIES_FLAG)?).unwrap_or(usize::MAX),
            max_labels: usize::try_from(number(MAX_LABELS_FLAG)?).unwrap_or(usize::MAX),
        };
        Ok(Textfile::with_limits(
            ctx.matches
                .get_many::<String>(DIRECTORY_FLAG)
                .map(|values| values.cloned().collect())
                .unwrap_or_default(),
            limits,
            timeout,
        ))
    }

    /// Reads every directory on the worker thread, waiting at most the timeout.
    fn read(&mut self) -> TextfileScrape {
        if self.directories.iter().all(|d| d.is_empty()) {
            // Nothing to read (node_exporter's default): no file system call, no
            // hand-over to the worker.
            return TextfileScrape::default();
        }
        let (directories, limits) = (Arc::clone(&self.directories), self.limits);
        match self
            .worker
            .run(move || read_directories(&directories, limits), self.timeout)
        {
            Ok(scrape) => scrape,
            Err(missed) => {
                tracing::error!(error = %missed, "reading the textfile directories");
                TextfileScrape {
                    errored: true,
                    ..TextfileScrape::default()
                }
            }
        }
    }
}

/// Lists and parses every `*.prom` file. Failures are logged and counted. They
/// never fail the collector.
fn read_directories(directories: &[String], limits: TextfileLimits) -> TextfileScrape {
    let mut scrape = TextfileScrape::default();
    let mut budget = Budget::new(limits);
    // Each directory read so far: the range of `scrape.files` it gave.
    let mut seen: HashMap<String, std::ops::Range<usize>> = HashMap::new();
    // An empty value reads nothing and is no error (node_exporter's default).
    for pattern in directories.iter().filter(|p| !p.is_empty()) {
        for dir in glob::expand(pattern) {
            let cleaned = glob::clean(&dir);
            if let Some(read) = seen.get(&cleaned) {
                // node_exporter reads a repeated directory again. Its families are
                // then all duplicates, and only show as the file named twice in a
                // `Metric read from …` HELP: repeat what was read, not the reads.
                let again: Vec<PromFile> = scrape.files[read.clone()].to_vec();
                scrape.files.extend(again);
                continue;
            }
            let first = scrape.files.len();
            let names = match prom_file_names(Path::new(&dir)) {
                Ok(names) => names,
                Err(error) => {
                    scrape.errored = true;
                    tracing::error!(path = %dir, %error, "failed to read textfile collector directory");
                    continue;
                }
            };
            for name in names {
                let label = glob::clean(&format!("{dir}/{}", name.to_string_lossy()));
                match read_prom_file(&Path::new(&dir).join(&name), label.clone(), &mut budget) {
                    Ok(file) => scrape.files.push(file),
                    Err(Refusal::Error(error)) => {
                        scrape.errored = true;
                        tracing::error!(%error, "skipping textfile");
                    }
                    Err(Refusal::OverLimit(limit)) => {
                        scrape.errored = true;
                        tracing::error!(file = %label, limit = limit.as_str(), "skipping textfile: over the scrape's limit");
                        scrape.refused.push((label, limit));
                    }
                }
            }
            seen.insert(cleaned, first..scrape.files.len());
        }
    }
    scrape
}

/// The limit a file would have gone past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes,
    Series,
    Labels,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Bytes => "bytes",
            Limit::Series => "series",
            Limit::Labels => "labels",
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(transparent)]
    Error(#[from] CollectError),
    #[error("over the scrape's {} limit", .0.as_str())]
    OverLimit(Limit),
}

/// What is left of one scrape's limits.
struct Budget {
    limits: TextfileLimits,
    bytes: u64,
    series: usize,
}

impl Budget {
    fn new(limits: TextfileLimits) -> Self {
        Budget {
            limits,
            bytes: limits.max_bytes,
            series: limits.max_series,
        }
    }
}

impl Collector for Textfile {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        record(&self.read(), out);
        Ok(())
    }
}

/// What one scrape read: the files that parsed, in directory order, whether anything
/// failed, and the files skipped for a limit.
#[derive(Debug, Default)]
pub struct TextfileScrape {
    pub files: Vec<PromFile>,
    pub errored: bool,
    pub refused: Vec<(String, Limit)>,
}

/// A `*.prom` file that was read and accepted.
#[derive(Debug, Clone)]
pub struct PromFile {
    /// `Clean(dir/name)`: the `file` label and the name in `Metric read from …`.
    pub path: String,
    /// Whole seconds, as node_exporter's `UnixNano() / 1e9`.
    pub mtime: f64,
    pub families: Vec<MetricFamily>,
}

/// The names ending in `.prom` in `dir`, sorted like Go's `os.ReadDir`.
fn prom_file_names(dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if name.as_bytes().ends_with(b".prom") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads, parses and checks one file within what is left of `budget`. Only regular
/// files are read, opened non-blocking: a FIFO named `x.prom` would block a plain
/// open until a writer comes, a device could stream forever. The mtime is taken
/// after parsing, as node_exporter does, so a file that fails never looks fresh.
fn read_prom_file(path: &Path, label: String, budget: &mut Budget) -> Result<PromFile, Refusal> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| CollectError::read(path, e))?;
    let opened = file.metadata().map_err(|e| CollectError::read(path, e))?;
    let mut bytes = Vec::new();
    if opened.is_dir() {
        // node_exporter reads a directory named `x.prom` as an empty file.
    } else if !opened.is_file() {
        return Err(CollectError::parse(
            path,
            0,
            "not a regular file (a FIFO, socket or device): not read",
        )
        .into());
    } else {
        let too_large = || {
            Refusal::from(CollectError::parse(
                path,
                0,
                format!("larger than {MAX_FILE_BYTES} bytes"),
            ))
        };
        if opened.len() > MAX_FILE_BYTES {
            return Err(too_large());
        }
        if opened.len() > budget.bytes {
            return Err(Refusal::OverLimit(Limit::Bytes));
        }
        // The size can change under us: read one byte more than may be kept.
        let cap = budget.bytes.min(MAX_FILE_BYTES);
        (&file)
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CollectError::read(path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large());
        }
        if bytes.len() as u64 > cap {
            return Err(Refusal::OverLimit(Limit::Bytes));
        }
    }
    let families =
        parse::parse(&bytes).map_err(|e| CollectError::parse(path, e.line, e.message))?;
    check(&families, path)?;
    let series: usize = families.iter().map(|f| f.metrics.len()).sum();
    if series > budget.series {
        return Err(Refusal::OverLimit(Limit::Series));
    }
    let labels = families
        .iter()
        .flat_map(|f| &f.metrics)
        .map(|m| m.labels.len())
        .max()
        .unwrap_or(0);
    if labels > budget.limits.max_labels {
        return Err(Refusal::OverLimit(Limit::Labels));
    }
    budget.bytes -= bytes.len() as u64;
    budget.series -= series;
    let metadata = file.metadata().map_err(|e| CollectError::read(path, e))?;
    // Go divides nanoseconds by 1e9 as integers, which rounds toward zero.
    let mut seconds = metadata.mtime();
    if seconds < 0 && metadata.mtime_nsec() > 0 {
        seconds += 1;
    }
    Ok(PromFile {
        path: label,
        mtime: seconds as f64,
        families,
    })
}

/// What parses but must not be exported. A client-side timestamp would be wrong by
/// the time it is scraped. A `__` label name is reserved, and node_exporter 1.5
/// panics on one.
fn check(families: &[MetricFamily], path: &Path) -> Result<(), CollectError> {
    let metrics = || families.iter().flat_map(|f| &f.metrics);
    if let Some(timestamp) = metrics().find_map(|m| m.timestamp) {
        return Err(CollectError::parse(
            path,
            timestamp.line,
            "client-side timestamps are not supported, skipping the whole file",
        ));
    }
    for metric in metrics() {
        if let Some((name, _)) = metric.labels.iter().find(|(n, _)| n.starts_with("__")) {
            return Err(CollectError::parse(
                path,
                metric.line,
                format!("label name {name:?} is reserved (names starting with __ are)"),
            ));
        }
    }
    Ok(())
}

/// Turns what was read into families: node_exporter's `convertMetricFamily` for each
/// family of each file that passes the help check ([`HelpCheck`]), joined by the
/// registry rule ([`MetricSet::append_deduplicated`]: the first family of a name wins,
/// repeated series and summary/histogram name collisions are dropped), series in
/// node_exporter's order, then its mtime and error gauges.
pub fn record(scrape: &TextfileScrape, out: &mut MetricSet) {
    let mut help_check = HelpCheck::default();
    let kept: Vec<(&PromFile, &MetricFamily)> = scrape
        .files
        .iter()
        .flat_map(|file| file.families.iter().map(move |family| (file, family)))
        .filter(|&(file, family)| help_check.keep(file, family))
        .collect();
    let mut files_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for (file, family) in &kept {
        files_of.entry(&family.name).or_default().push(&file.path);
    }
    let mut textfiles = MetricSet::new();
    for (file, family) in &kept {
        let _file = tracing::warn_span!("textfile", file = %file.path).entered();
        let help = family.help.clone().unwrap_or_else(|| {
            let files = files_of.get(family.name.as_str()).map(Vec::as_slice);
            format!("Metric read from {}", files.unwrap_or_default().join(", "))
        });
        textfiles.append_deduplicated(convert(family, help));
    }
    textfiles.sort_series();
    out.append(textfiles);

    let mut own = MetricSet::new();
    let mtimes: BTreeMap<&str, f64> = scrape
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.mtime))
        .collect();
    for (path, mtime) in mtimes {
        own.gauge(
            "node_textfile_mtime_seconds",
            MTIME_HELP,
            &[("file", path)],
            mtime,
        );
    }
    own.gauge(
        "node_textfile_scrape_error",
        ERROR_HELP,
        &[],
        if scrape.errored || help_check.dropped {
            1.0
        } else {
            0.0
        },
    );
    for (file, limit) in &scrape.refused {
        own.gauge(
            "edge_textfile_refused",
            "A textfile skipped in this scrape because reading it would go past the scrape's limit (--collector.textfile.max-*).",
            &[("file", file), ("limit", limit.as_str())],
            1.0,
        );
    }
    out.append(own);
}

/// node_exporter 1.8's check of HELP texts across files (#2962, "textfile: Avoid
/// inconsistent help-texts"), in file order. A family whose HELP differs from the
/// first HELP seen for its name is dropped and sets `node_textfile_scrape_error 1`.
/// From then on every later family of that name is dropped too, even one with the
/// first HELP again. node_exporter marks the name by keeping the newest conflicting
/// text beside the first and testing it against "", so a conflicting HELP that is
/// empty (`# HELP x` alone) is dropped but leaves no mark; we keep that quirk.
/// A family without HELP is kept while its name is unmarked; node_exporter
/// 1.12 dereferences a nil HELP once the name is marked and crashes, we drop it
/// with the error instead. Dropped families are not named in `Metric read from …`.
/// Files keep their `node_textfile_mtime_seconds`: the file itself was read.
#[derive(Default)]
struct HelpCheck<'a> {
    /// Per name: the first HELP kept, and the last conflicting one ("" for none).
    texts: HashMap<&'a str, (&'a str, &'a str)>,
    dropped: bool,
}

impl<'a> HelpCheck<'a> {
    fn keep(&mut self, file: &PromFile, family: &'a MetricFamily) -> bool {
        let name = family.name.as_str();
        let help = family.help.as_deref();
        if let Some(&(first, conflicting)) = self.texts.get(name) {
            let differs = help.is_some_and(|h| h != first);
            if differs || !conflicting.is_empty() {
                // node_exporter 1.12 panics here when `help` is None.
                let newest = help.unwrap_or(conflicting);
                self.texts.insert(name, (first, newest));
                self.dropped = true;
                tracing::error!(
                    metric = name,
                    original_help_text = first,
                    new_help_text = help.unwrap_or("(none)"),
                    file = %file.path,
                    "inconsistent metric help text: family dropped"
                );
                return false;
            }
        }
        if let Some(help) = help {
            self.texts.insert(name, (help, ""));
        }
        true
    }
}

/// node_exporter's `convertMetricFamily`: every metric gets every label name the file
/// used for the family ("" where it had none), labels sorted by name; a summary's
/// quantiles and a histogram's buckets one per bound, sorted, and a histogram always
/// ends with a `+Inf` bucket. The family alone in a set, for [`MetricSet::append`].
fn convert(family: &MetricFamily, help: String) -> MetricSet {
    let mut names: Vec<&str> = Vec::new();
    for metric in &family.metrics {
        for (name, _) in &metric.labels {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let kind = match family.kind {
        MetricType::Counter => MetricKind::Counter,
        MetricType::Gauge => MetricKind::Gauge,
        MetricType::Untyped => MetricKind::Untyped,
        MetricType::Summary => MetricKind::Summary,
        MetricType::Histogram => MetricKind::Histogram,
    };
    let mut set = MetricSet::new();
    let out = set.family(family.name.clone(), help, kind);
    for metric in &family.metrics {
        let mut labels = metric.labels.clone();
        for name in &names {
            if !labels.iter().any(|(n, _)| n == name) {
                labels.push((name.to_string(), String::new()));
            }
        }
        labels.sort();
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        fn with_bound<'a>(
            pairs: &[(&'a str, &'a str)],
            label: &'a str,
            bound: &'a str,
        ) -> Vec<(&'a str, &'a str)> {
            let mut with = pairs.to_vec();
            with.push((label, bound));
            with
        }
        match &metric.value {
            Value::Single(value) => out.push(&pairs, *value),
            Value::Summary {
                count,
                sum,
                quantiles,
            } => {
                for (quantile, value) in by_bound(quantiles.iter().copied()) {
                    let bound = go_float(quantile);
                    out.push_part(
                        SamplePart::Value,
                        &with_bound(&pairs, "quantile", &bound),
                        value,
                    );
                }
                out.push_part(SamplePart::Sum, &pairs, sum.unwrap_or(0.0));
                let count = go_uint64(count.unwrap_or(0.0)) as f64;
                out.push_part(SamplePart::Count, &pairs, count);
            }
            Value::Histogram {
                count,
                sum,
                buckets,
            } => {
                let count = go_uint64(count.unwrap_or(0.0)) as f64;
                let buckets = by_bound(buckets.iter().map(|&(le, n)| (le, go_uint64(n) as f64)));
                let has_inf = buckets.iter().any(|(le, _)| *le == f64::INFINITY);
                for (le, value) in buckets {
                    let bound = go_float(le);
                    out.push_part(SamplePart::Bucket, &with_bound(&pairs, "le", &bound), value);
                }
                // The text format always ends a histogram with a +Inf bucket.
                if !has_inf {
                    out.push_part(SamplePart::Bucket, &with_bound(&pairs, "le", "+Inf"), count);
                }
                out.push_part(SamplePart::Sum, &pairs, sum.unwrap_or(0.0));
                out.push_part(SamplePart::Count, &pairs, count);
            }
        }
    }
    set
}

/// Go keeps quantiles and buckets in a map keyed by bound, then sorts them.
fn by_bound(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (bound, value) in points {
        match out.iter_mut().find(|(b, _)| *b == bound) {
            Some(point) => point.1 = value,
            None => out.push((bound, value)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Go's `uint64(f)` conversion, which expfmt applies to summary and histogram counts.
/// On amd64 a negative count wraps (-1 becomes 2^64-1) and NaN or a count too large
/// becomes 2^63. On arm64 the value saturates, as Rust's `as` does.
fn go_uint64(value: f64) -> u64 {
    if cfg!(target_arch = "x86_64") {
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        // CVTTSD2SQ: the integer if it fits in an i64, else 0x8000_0000_0000_0000.
        let cvttsd2sq = |v: f64| {
            if (-TWO_63..TWO_63).contains(&v) {
                v as i64 as u64
            } else {
                1 << 63
            }
        };
        if value < TWO_63 {
            cvttsd2sq(value)
        } else {
            cvttsd2sq(value - TWO_63) | 1 << 63
        }
    } else {
        value as u64
    }
}

/// A quantile or bucket bound as expfmt writes it into the `quantile` or `le` label:
/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, with `+Inf` and `-Inf`. Being a label
/// value, it has to match to the character.
fn go_float(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Go's -1 precision does.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if value < 0.0 { "-" } else { "" };
    // %e when the exponent is below -4 or at least 6 (Go's rule for shortest %g).
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{point}{rest}e{exp_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    let point = exponent + 1;
    let len = digits.len() as i32;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= len {
        format!("{sign}{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Scraper;
    use crate::collectors::loadavg::LoadAvg;
    use crate::test_support::{fixture_paths, fixtures};
    use edge_common::exposition::write::{render, Format};

    /// A budget that only the 16 MiB file cap limits.
    fn unlimited() -> Budget {
        Budget::new(TextfileLimits {
            max_bytes: u64::MAX,
            max_series: usize::MAX,
            max_labels: usize::MAX,
        })
    }

    fn fixture(name: &str) -> String {
        fixtures()
            .join("textfile")
            .join(name)
            .to_str()
            .expect("a UTF-8 path")
            .to_string()
    }

    fn scrape(directories: &[&str]) -> MetricSet {
        let mut collector = Textfile::new(directories.iter().map(|d| d.to_string()).collect());
        let mut set = MetricSet::new();
        collector
            .update(&mut Sources::default(), &mut set)
            .expect("the textfile collector never fails");
        set
    }

    fn text(set: &MetricSet) -> String {
        let mut out = String::new();
        render(set, Format::PrometheusText, &mut out);
        out
    }

    /// The mtime lines node_exporter writes for these files of `dir`.
    fn mtimes(dir: &str, names: &[&str]) -> String {
        let mut out = String::from(
            "# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.\n\
             # TYPE node_textfile_mtime_seconds gauge\n",
        );
        for name in names {
            let seconds = fs::metadata(format!("{dir}/{name}")).unwrap().mtime();
            out.push_str(&format!(
                "node_textfile_mtime_seconds{{file=\"{dir}/{name}\"}} {seconds}\n"
            ));
        }
        out
    }

    fn scrape_error(value: u8) -> String {
        format!(
            "# HELP node_textfile_scrape_error {ERROR_HELP}\n\
             # TYPE node_textfile_scrape_error gauge\n\
             node_textfile_scrape_error {value}\n"
        )
    }

    #[test]
    fn reads_the_good_fixture_exactly() {
        let dir = fixture("good");
        let expected = format!(
            "# HELP edge_i2c_temperature_celsius Temperature of an I2C sensor.
# TYPE edge_i2c_temperature_celsius gauge
edge_i2c_temperature_celsius{{address=\"0x48\",bus=\"1\"}} 21.5
edge_i2c_temperature_celsius{{address=\"0x49\",bus=\"1\"}} -3.25
# HELP edge_x Value x written by the sidecar.
# TYPE edge_x gauge
edge_x 1.5
# HELP job_big Metric read from {dir}/jobs.prom
# TYPE job_big untyped
job_big 1.2345678901234568e17
# HELP job_last_duration_seconds Metric read from {dir}/jobs.prom
# TYPE job_last_duration_seconds gauge
job_last_duration_seconds{{job=\"backup\"}} 12500
job_last_duration_seconds{{job=\"restore\"}} NaN
job_last_duration_seconds{{job=\"sync\"}} +Inf
job_last_duration_seconds{{job=\"trim\"}} -Inf
# HELP job_runs_total Runs of a job, by result.\\nSecond line with a \\\\ backslash.
# TYPE job_runs_total counter
job_runs_total{{job=\"\",result=\"ok\"}} 7
job_runs_total{{job=\"backup\",result=\"failed\"}} 1
job_runs_total{{job=\"backup\",result=\"ok\"}} 42
job_runs_total{{job=\"path C:\\\\x \\\"q\\\"\\nz\",result=\"ok\"}} 3
# HELP job_untyped_without_help Metric read from {dir}/jobs.prom
# TYPE job_untyped_without_help untyped
job_untyped_without_help{{job=\"backup\"}} 1e-6
job_untyped_without_help{{job=\"restore\"}} 0
{mtimes}{error}# HELP request_size_bytes Request sizes.
# TYPE request_size_bytes histogram
request_size_bytes_bucket{{code=\"\",le=\"0.5\"}} 1
request_size_bytes_bucket{{code=\"\",le=\"100\"}} 3
request_size_bytes_bucket{{code=\"\",le=\"1e+06\"}} 5
request_size_bytes_bucket{{code=\"\",le=\"+Inf\"}} 6
request_size_bytes_sum{{code=\"\"}} 1234.5
request_size_bytes_count{{code=\"\"}} 6
request_size_bytes_bucket{{code=\"500\",le=\"+Inf\"}} 4
request_size_bytes_sum{{code=\"500\"}} 10
request_size_bytes_count{{code=\"500\"}} 4
# HELP rpc_duration_seconds RPC latency.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{{service=\"a\",quantile=\"1e-05\"}} 0.0001
rpc_duration_seconds{{service=\"a\",quantile=\"0.1\"}} 0.001
rpc_duration_seconds_sum{{service=\"a\"}} 0
rpc_duration_seconds_count{{service=\"a\"}} 7
rpc_duration_seconds{{service=\"b\",quantile=\"0.5\"}} 0.01
rpc_duration_seconds{{service=\"b\",quantile=\"0.99\"}} 0.2
rpc_duration_seconds_sum{{service=\"b\"}} 17
rpc_duration_seconds_count{{service=\"b\"}} 1000
rpc_duration_seconds_sum{{service=\"c\"}} 0
rpc_duration_seconds_count{{service=\"c\"}} 0
# HELP shared_no_help Metric read from {dir}/shared_a.prom, {dir}/shared_b.prom
# TYPE shared_no_help untyped
shared_no_help{{from=\"a\"}} 1
shared_no_help{{other=\"b\"}} 2
# HELP shared_same_help Same help in two files.
# TYPE shared_same_help untyped
shared_same_help{{file=\"c\"}} 3
shared_same_help{{a=\"z\",file=\"b\"}} 2
",
            mtimes = mtimes(
                &dir,
                &[
                    "custom_metrics.prom",
                    "jobs.prom",
                    "shared_a.prom",
                    "shared_b.prom",
                    "shared_c.prom",
                    "subdir.prom",
                    "summary.prom",
                ]
            ),
            error = scrape_error(0),
        );
        assert_eq!(text(&scrape(&[&dir])), expected);
    }

    #[test]
    fn skips_bad_files_and_families_whose_help_conflicts() {
        // e_help_second.prom's other HELP drops its edge_conflict and marks the name:
        // f's and g's are dropped too, though their HELP is the first one again.
        let dir = fixture("mixed");
        let expected = format!(
            "# HELP edge_conflict First help.
# TYPE edge_conflict gauge
edge_conflict{{src=\"d\"}} 1
# HELP edge_dup Metric read from {dir}/g_same.prom
# TYPE edge_dup untyped
edge_dup{{a=\"1\",b=\"2\"}} 1
# HELP edge_rpc Calls.
# TYPE edge_rpc summary
edge_rpc_sum 0
edge_rpc_count 2
# HELP edge_x Value x written by the sidecar.
# TYPE edge_x gauge
edge_x 1.5
{mtimes}{error}",
            mtimes = mtimes(
                &dir,
                &[
                    "a_sidecar.prom",
                    "d_help_first.prom",
                    "e_help_second.prom",
                    "f_type_second.prom",
                    "g_same.prom",
                    "i_summary.prom",
                    "j_collides.prom",
                ]
            ),
            error = scrape_error(1),
        );
        assert_eq!(text(&scrape(&[&dir])), expected);
    }

    #[test]
    fn reads_the_help_conflict_fixture_exactly() {
        let dir = fixture("help_conflict");
        let expected = format!(
            "# HELP help_kept Kept in every file.
# TYPE help_kept untyped
help_kept{{from=\"b\"}} 7
help_kept{{from=\"c\"}} 9
# HELP help_mixed Metric read from {dir}/a_no_help.prom, {dir}/b_help_one.prom
# TYPE help_mixed gauge
help_mixed{{from=\"a\"}} 1
# HELP help_other Metric read from {dir}/c_help_two.prom
# TYPE help_other untyped
help_other{{from=\"c\"}} 8
{mtimes}{error}",
            mtimes = mtimes(
                &dir,
                &[
                    "a_no_help.prom",
                    "b_help_one.prom",
                    "c_help_two.prom",
                    "d_help_one_again.prom",
                ]
            ),
            error = scrape_error(1),
        );
        assert_eq!(text(&scrape(&[&dir])), expected);
    }

    /// `record` on files given as text, each with mtime 7.
    fn recorded(files: &[(&str, &str)]) -> String {
        let scrape = TextfileScrape {
            files: files
                .iter()
                .map(|(path, body)| PromFile {
                    path: path.to_string(),
                    mtime: 7.0,
                    families: parse::parse(body.as_bytes()).unwrap(),
                })
                .collect(),
            ..TextfileScrape::default()
        };
        let mut set = MetricSet::new();
        record(&scrape, &mut set);
        text(&set)
    }

    fn mtime_lines(paths: &[&str]) -> String {
        let mut out = String::from(
            "# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.\n\
             # TYPE node_textfile_mtime_seconds gauge\n",
        );
        for path in paths {
            out.push_str(&format!(
                "node_textfile_mtime_seconds{{file=\"{path}\"}} 7\n"
            ));
        }
        out
    }

    #[test]
    fn the_same_help_in_several_files_is_no_conflict() {
        let out = recorded(&[
            ("/t/a.prom", "# HELP x X.\nx{f=\"a\"} 1\n"),
            ("/t/b.prom", "x{f=\"b\"} 2\n"),
            ("/t/c.prom", "# HELP x X.\nx{f=\"c\"} 3\n"),
        ]);
        // b's family has no HELP: it gets "Metric read from …", which differs from
        // "X.", so the registry rule drops its series, without an error.
        assert_eq!(
            out,
            format!(
                "{}{}# HELP x X.\n# TYPE x untyped\nx{{f=\"a\"}} 1\nx{{f=\"c\"}} 3\n",
                mtime_lines(&["/t/a.prom", "/t/b.prom", "/t/c.prom"]),
                scrape_error(0)
            )
        );
    }

    #[test]
    fn a_family_without_help_after_a_conflict_is_dropped_where_node_exporter_crashes() {
        let out = recorded(&[
            ("/t/a.prom", "# HELP x One.\nx{f=\"a\"} 1\n"),
            ("/t/b.prom", "# HELP x Two.\nx{f=\"b\"} 2\n"),
            ("/t/c.prom", "x{f=\"c\"} 3\ny 4\n"),
        ]);
        assert_eq!(
            out,
            format!(
                "{}{}# HELP x One.\n# TYPE x untyped\nx{{f=\"a\"}} 1\n\
                 # HELP y Metric read from /t/c.prom\n# TYPE y untyped\ny 4\n",
                mtime_lines(&["/t/a.prom", "/t/b.prom", "/t/c.prom"]),
                scrape_error(1)
            )
        );
    }

    #[test]
    fn an_empty_conflicting_help_clears_the_mark_as_node_exporter_does() {
        // b's empty HELP conflicts (error 1) but leaves no mark: c, with the first
        // HELP again, is kept; d's "Three." conflicts again.
        let out = recorded(&[
            ("/t/a.prom", "# HELP x One.\nx{f=\"a\"} 1\n"),
            ("/t/b.prom", "# HELP x\nx{f=\"b\"} 2\n"),
            ("/t/c.prom", "# HELP x One.\nx{f=\"c\"} 3\n"),
            ("/t/d.prom", "# HELP x Three.\nx{f=\"d\"} 4\n"),
        ]);
        assert_eq!(
            out,
            format!(
                "{}{}# HELP x One.\n# TYPE x untyped\nx{{f=\"a\"}} 1\nx{{f=\"c\"}} 3\n",
                mtime_lines(&["/t/a.prom", "/t/b.prom", "/t/c.prom", "/t/d.prom"]),
                scrape_error(1)
            )
        );
    }

    #[test]
    fn a_help_conflict_drops_only_that_family_and_not_the_files_mtime() {
        let out = recorded(&[
            ("/t/a.prom", "# HELP x One.\nx 1\n"),
            ("/t/b.prom", "# HELP x Two.\nx 2\n# HELP z Z.\nz 5\n"),
        ]);
        assert_eq!(
            out,
            format!(
                "{}{}# HELP x One.\n# TYPE x untyped\nx 1\n# HELP z Z.\n# TYPE z untyped\nz 5\n",
                mtime_lines(&["/t/a.prom", "/t/b.prom"]),
                scrape_error(1)
            )
        );
    }

    #[test]
    fn no_directory_gives_error_0_and_nothing_else() {
        assert_eq!(text(&scrape(&[])), scrape_error(0));
        assert_eq!(text(&scrape(&["", ""])), scrape_error(0));
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let missing = fixture("missing");
        assert_eq!(text(&scrape(&[&missing, ""])), scrape_error(1));
        let file = fixture("good/jobs.prom");
        assert_eq!(text(&scrape(&[&file])), scrape_error(1));
    }

    #[test]
    fn globs_and_repeated_directories() {
        let root = fixture("glob");
        let set = scrape(&[&format!("{root}/x*"), &format!("{root}//x1/")]);
        assert_eq!(set.value("glob_x1", &[]), Some(1.0));
        assert_eq!(set.value("glob_x2", &[]), Some(2.0));
        assert!(set.get("glob_y1").is_none());
        let files: Vec<String> = set
            .get("node_textfile_mtime_seconds")
            .unwrap()
            .samples()
            .into_iter()
            .map(|s| s.labels[0].1.clone())
            .collect();
        assert_eq!(
            files,
            vec![format!("{root}/x1/a.prom"), format!("{root}/x2/b.prom")]
        );
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(0.0));
    }

    #[test]
    fn a_directory_named_twice_counts_twice_as_node_exporter_reads_it_twice() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        fs::write(dir.path().join("a.prom"), "no_help{x=\"1\"} 1\n").unwrap();
        fs::write(
            dir.path().join("b.prom"),
            "# HELP with_help W.\nwith_help 2\n",
        )
        .unwrap();
        let seconds = |name: &str| fs::metadata(dir.path().join(name)).unwrap().mtime();
        let set = scrape(&[&root, &format!("{root}/"), &format!("{root}*")]);
        assert_eq!(
            text(&set),
            format!(
                "# HELP no_help Metric read from {root}/a.prom, {root}/a.prom, {root}/a.prom\n\
                 # TYPE no_help untyped\n\
                 no_help{{x=\"1\"}} 1\n\
                 # HELP node_textfile_mtime_seconds {MTIME_HELP}\n\
                 # TYPE node_textfile_mtime_seconds gauge\n\
                 node_textfile_mtime_seconds{{file=\"{root}/a.prom\"}} {}\n\
                 node_textfile_mtime_seconds{{file=\"{root}/b.prom\"}} {}\n\
                 {}# HELP with_help W.\n\
                 # TYPE with_help untyped\n\
                 with_help 2\n",
                seconds("a.prom"),
                seconds("b.prom"),
                scrape_error(0),
            )
        );
    }

    #[test]
    fn what_crashes_node_exporter_skips_the_file() {
        let dir = fixture("node_exporter_crashes");
        let set = scrape(&[&dir]);
        let names: Vec<&str> = set.families().iter().map(|f| &*f.name).collect();
        assert_eq!(
            names,
            vec![
                "crash_ok",
                "node_textfile_mtime_seconds",
                "node_textfile_scrape_error"
            ]
        );
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(1.0));
    }

    #[test]
    fn rejections_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &[u8], &str)] = &[
            (
                "a.prom",
                b"# HELP x X.\nx{s=\"t1\" 3\n",
                ":2: unexpected end of label value \"t1\"",
            ),
            (
                "b.prom",
                b"x 1\nx{a=\"1\"} 2\ny 3 1700000000000\n",
                ":3: client-side timestamps are not supported, skipping the whole file",
            ),
            (
                "c.prom",
                b"x 1\nx{__meta=\"1\"} 2\n",
                ":2: label name \"__meta\" is reserved (names starting with __ are)",
            ),
            (
                "d.prom",
                b"x 1\r\n",
                ":1: expected float as value, got \"1\\r\"",
            ),
            (
                "e.prom",
                b"# TYPE x gauge_histogram\n",
                ":1: unknown metric type \"gauge_histogram\"",
            ),
        ];
        for (name, content, message) in cases {
            let path = dir.path().join(name);
            fs::write(&path, content).unwrap();
            let error = read_prom_file(&path, String::new(), &mut unlimited()).unwrap_err();
            assert_eq!(error.to_string(), format!("{}{message}", path.display()));
        }
    }

    #[test]
    fn refuses_a_file_over_16_mib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.prom");
        let line = "big_metric_with_a_long_name{label=\"value\"} 1\n";
        let body = line.repeat((MAX_FILE_BYTES as usize) / line.len() + 1);
        fs::write(&path, &body).unwrap();
        let error = read_prom_file(&path, String::new(), &mut unlimited()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}:0: larger than 16777216 bytes", path.display())
        );
        fs::write(
            &path,
            &body.as_bytes()[..body[..MAX_FILE_BYTES as usize].rfind('\n').unwrap() + 1],
        )
        .unwrap();
        assert!(read_prom_file(&path, String::new(), &mut unlimited()).is_ok());
    }

    #[test]
    fn the_sidecars_temporary_file_is_read_only_once_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let tmp = dir.path().join("custom_metrics.prom.tmp.1234");
        fs::write(&tmp, "# HELP edge_x X.\n# TYPE edge_x gauge\nedge_x 1.5\n").unwrap();
        let set = scrape(&[root]);
        assert!(set.get("edge_x").is_none());
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(0.0));
        fs::rename(&tmp, dir.path().join("custom_metrics.prom")).unwrap();
        let set = scrape(&[root]);
        assert_eq!(set.value("edge_x", &[]), Some(1.5));
        let family = set.get("edge_x").unwrap();
        assert_eq!((&*family.help, family.kind), ("X.", MetricKind::Gauge));
        assert_eq!(
            set.value(
                "node_textfile_mtime_seconds",
                &[("file", &format!("{root}/custom_metrics.prom"))]
            ),
            Some(
                fs::metadata(dir.path().join("custom_metrics.prom"))
                    .unwrap()
                    .mtime() as f64
            )
        );
    }

    #[test]
    fn a_textfile_family_clashing_with_a_builtin_one_loses() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("load.prom"),
            "# HELP node_load1 Not the built-in help.\n# TYPE node_load1 gauge\nnode_load1{x=\"1\"} 9\n\
             # HELP node_load5 5m load average.\n# TYPE node_load5 gauge\nnode_load5{x=\"1\"} 9\n\
             # HELP node_load15 15m load average.\n# TYPE node_load15 gauge\nnode_load15 9\n",
        )
        .unwrap();
        let mut scraper = Scraper::new(
            vec![
                ("loadavg", Box::new(LoadAvg::new(&fixture_paths()))),
                (
                    "textfile",
                    Box::new(Textfile::new(vec![dir
                        .path()
                        .to_str()
                        .unwrap()
                        .to_string()])),
                ),
            ],
            MetricSet::new(),
        );
        let set = scraper.scrape();
        let samples = |name: &str| {
            set.get(name)
                .unwrap()
                .rendered()
                .map(|(labels, value)| (labels.to_string(), value))
                .collect::<Vec<_>>()
        };
        assert_eq!(samples("node_load1"), vec![(String::new(), 0.52)]);
        assert_eq!(
            samples("node_load5"),
            vec![(String::new(), 0.58), ("x=\"1\"".to_string(), 9.0)]
        );
        assert_eq!(samples("node_load15"), vec![(String::new(), 0.59)]);
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(0.0));
    }

    #[test]
    fn the_directory_flag_repeats() {
        let matches = clap::Command::new("t")
            .args(args())
            .try_get_matches_from([
                "t",
                "--collector.textfile.directory=/a",
                "--collector.textfile.directory",
                "/b/*",
                "--collector.textfile.directory=",
            ])
            .unwrap();
        let paths = crate::paths::Paths::default();
        let collector = Textfile::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
        .unwrap();
        assert_eq!(&collector.directories[..], ["/a", "/b/*", ""]);
        let matches = clap::Command::new("t").args(args()).get_matches_from(["t"]);
        let collector = Textfile::build(&BuildContext {
            paths: &paths,
            matches: &matches,
        })
        .unwrap();
        assert!(collector.directories.is_empty());
        assert_eq!(collector.limits, TextfileLimits::default());
        assert_eq!(collector.timeout, Duration::from_secs(5));
    }

    #[test]
    fn limit_flags_are_checked() {
        let paths = crate::paths::Paths::default();
        for (flag, expected) in [
            (
                "--collector.textfile.max-bytes=0",
                "--collector.textfile.max-bytes: \"0\": must be a whole number above 0",
            ),
            (
                "--collector.textfile.max-series=x",
                "--collector.textfile.max-series: \"x\": must be a whole number above 0",
            ),
            (
                "--collector.textfile.timeout=0s",
                "--collector.textfile.timeout: must be longer than 0",
            ),
        ] {
            let matches = clap::Command::new("t")
                .args(args())
                .get_matches_from(["t", flag]);
            let error = Textfile::build(&BuildContext {
                paths: &paths,
                matches: &matches,
            })
            .err()
            .unwrap();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn a_fifo_is_not_read_and_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("stuck.prom");
        let path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        fs::write(dir.path().join("ok.prom"), "ok 1\n").unwrap();
        let started = std::time::Instant::now();
        let set = scrape(&[dir.path().to_str().unwrap()]);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(set.value("ok", &[]), Some(1.0));
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(1.0));
        let error = read_prom_file(&fifo, String::new(), &mut unlimited())
            .err()
            .unwrap();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    #[test]
    fn files_past_the_scrapes_limits_are_skipped_whole() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.prom"), "a{x=\"1\"} 1\na{x=\"2\"} 2\n").unwrap();
        fs::write(dir.path().join("b.prom"), "b{x=\"1\"} 1\nb{x=\"2\"} 2\n").unwrap();
        fs::write(dir.path().join("c.prom"), "c{a=\"1\",b=\"2\",c=\"3\"} 1\n").unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let read = |limits| {
            let mut collector =
                Textfile::with_limits(vec![root.clone()], limits, Duration::from_secs(5));
            let mut set = MetricSet::new();
            collector.update(&mut Sources::default(), &mut set).unwrap();
            set
        };
        let refused = |set: &MetricSet, file: &str| {
            set.get("edge_textfile_refused").and_then(|family| {
                family
                    .samples()
                    .into_iter()
                    .find(|s| s.labels[0].1.ends_with(file))
                    .map(|s| s.labels[1].1.clone())
            })
        };
        // Series: a's two fit, b's would make four.
        let set = read(TextfileLimits {
            max_series: 3,
            ..TextfileLimits::default()
        });
        assert_eq!(set.value("a", &[("x", "2")]), Some(2.0));
        assert!(set.get("b").is_none());
        assert_eq!(set.value("c", &[]), Some(1.0));
        assert_eq!(refused(&set, "b.prom").as_deref(), Some("series"));
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(1.0));
        // Labels: c's three are one too many.
        let set = read(TextfileLimits {
            max_labels: 2,
            ..TextfileLimits::default()
        });
        assert!(set.get("c").is_none() && set.get("b").is_some());
        assert_eq!(refused(&set, "c.prom").as_deref(), Some("labels"));
        // Bytes: a (24 bytes) fits in 30, b does not.
        let set = read(TextfileLimits {
            max_bytes: 30,
            ..TextfileLimits::default()
        });
        assert!(set.get("a").is_some() && set.get("b").is_none());
        assert_eq!(refused(&set, "b.prom").as_deref(), Some("bytes"));
        // Within the limits: nothing refused, no error.
        let set = read(TextfileLimits::default());
        assert!(set.get("edge_textfile_refused").is_none());
        assert_eq!(set.value("node_textfile_scrape_error", &[]), Some(0.0));
    }

    #[test]
    fn bounds_are_written_as_go_writes_them() {
        for (value, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e-7, "1e-07"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123.456, "123.456"),
            (-2.5e-10, "-2.5e-10"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(go_float(value), text, "{value}");
        }
    }

    #[test]
    fn counts_convert_as_go_does_on_this_machine() {
        assert_eq!(go_uint64(3.7), 3);
        assert_eq!(go_uint64(1e19), 10_000_000_000_000_000_000);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(go_uint64(-1.0), u64::MAX);
            assert_eq!(go_uint64(f64::NAN), 1 << 63);
            assert_eq!(go_uint64(1e30), 1 << 63);
            assert_eq!(go_uint64(-1e30), 1 << 63);
        } else {
            assert_eq!(go_uint64(-1.0), 0);
            assert_eq!(go_uint64(f64::NAN), 0);
        }
    }
}
