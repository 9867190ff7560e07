//! A strict parser for the Prometheus text exposition format 0.0.4 that accepts and
//! rejects what node_exporter 1.5's textfile collector does. That collector uses
//! prometheus/common's `expfmt.TextParser` of its time; this is a port of that parser.
//! Every rejection gives the line and says what was wrong.
//!
//! It shares only the name rules (`exposition::names`) and the value rules (`text`)
//! with the rest of this crate.
//!
//! The format: lines end with `\n`. A line is blank, a comment (`# …`), `# HELP name
//! text`, `# TYPE name counter|gauge|summary|histogram|untyped`, or a sample
//! `name{label="value",…} value [timestamp]`. Metric names are
//! `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names `[a-zA-Z_][a-zA-Z0-9_]*`. Label values
//! escape `\\`, `\"` and `\n`; HELP text escapes only `\\` and `\n`. Values are
//! decimal floats, `NaN`, `±Inf` or `±Infinity` (any case). Timestamps are integer
//! milliseconds.
//!
//! expfmt's quirks are kept, because they decide which files node_exporter reads:
//! - The input must end with a newline. Only blanks and tabs may follow the last one.
//! - A blank or tab after the value starts a timestamp, so `x 1 \n` is an error.
//! - `#HELP` (no space) is read as a HELP line.
//! - HELP text loses its leading blanks and keeps its trailing ones. A TYPE keeps
//!   them too, so `gauge ` is an unknown type.
//! - A TYPE line after the family's first sample is an error. A HELP line may come
//!   after the samples.
//! - Summaries and histograms are grouped by name, the way expfmt groups them:
//!   `x_count` and `x_sum` belong to summary or histogram `x`, and so does `x_bucket`
//!   to histogram `x`, but only once `# TYPE x …` has been read. Lines with the same
//!   labels (ignoring `quantile` or `le`) make one metric. A `quantile` or `le` that
//!   is `NaN` is ignored, and so is a line of such a family with neither a bound nor
//!   a `_count` or `_sum` suffix. The metric itself still exists.
//!
//! Differences from expfmt: `# TYPE x gauge_histogram` is rejected. expfmt accepts
//! it and node_exporter 1.5 then crashes. HELP text that is not UTF-8 is kept with
//! U+FFFD in place of the bad bytes. expfmt keeps the bytes.
//!
//! Two entry points. [`parse`] is the strict one above, for the exporter's textfile
//! collector: one unreadable family rejects the whole input, as node_exporter does.
//! [`parse_lenient`] is for a scraper (edge-master), which should lose one family, not
//! a node, when an exporter serves something odd: a family declared twice (a second
//! HELP or TYPE line), a type conflict (a TYPE line that contradicts the family's type,
//! or comes after its samples), or a sample that repeats a series of its family drops
//! that family and keeps the rest, as Prometheus keeps a scrape that declares a family
//! twice. Every other error (a line that cannot be read at all) still rejects the
//! input. The dropped families are reported by name and reason, the names bounded by
//! [`MAX_REPORTED_DROPS`].
//!
//! [`parse_lenient_wanted`] is [`parse_lenient`] for a reader that needs only some
//! families (edge-master reads ~80 of a node's ~300): a line whose metric name is not
//! wanted is passed over at the speed of a newline search, its labels and value never
//! read, so it can neither fail the input nor drop its family. Only its name (at the
//! start of the line) and the final newline are checked. The cost of a scrape is then
//! the wanted lines, not the body.
//!
//! Cost notes: names, values and the name index borrow from the input; only what a
//! [`Metric`] keeps (its label names and values) is allocated. Lenient mode finds a
//! repeated counter/gauge series by a hash of its label set that does not depend on
//! label order, comparing label sets only on a hash match, instead of keeping a
//! sorted copy of every label set.

use crate::exposition::names::{
    is_label_name_char, is_label_name_start, is_metric_name_char, is_metric_name_start,
};
use foldhash::fast::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;

/// Up to this many labels, a repeated name is found by scanning them; beyond, by a
/// set (a line of 50,000 labels took 13.7 s when every name was scanned for).
const SCANNED_LABELS: usize = 16;

/// `is_metric_name_char` and `is_label_name_char` by byte, made from them at compile
/// time: a name is scanned at one load per byte (names are most of what is scanned).
const METRIC_NAME_CHARS: [bool; 256] = byte_table(true);
const LABEL_NAME_CHARS: [bool; 256] = byte_table(false);

const fn byte_table(metric: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = if metric {
            is_metric_name_char(byte as u8)
        } else {
            is_label_name_char(byte as u8)
        };
        byte += 1;
    }
    table
}

fn is_metric_name_byte(byte: u8) -> bool {
    METRIC_NAME_CHARS[usize::from(byte)]
}

fn is_label_name_byte(byte: u8) -> bool {
    LABEL_NAME_CHARS[usize::from(byte)]
}

/// The type a `# TYPE` line declares. Samples without one are `Untyped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Summary,
    Histogram,
    Untyped,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Histogram => "histogram",
            MetricType::Untyped => "untyped",
        }
    }
}

/// The samples of one metric name, with its HELP and TYPE.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    /// `None` when the input has no HELP line for the family.
    pub help: Option<String>,
    pub kind: MetricType,
    /// In input order.
    pub metrics: Vec<Metric>,
}

/// One series: a label set and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// In input order. For a summary this excludes `quantile`, and for a histogram `le`.
    pub labels: Vec<(String, String)>,
    pub value: Value,
    pub timestamp: Option<Timestamp>,
    /// The line the metric first appears on.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The value of a counter, gauge or untyped sample.
    Single(f64),
    /// The bounds are in input order. A repeated bound is kept as many times as it appears.
    Summary {
        count: Option<f64>,
        sum: Option<f64>,
        quantiles: Vec<(f64, f64)>,
    },
    Histogram {
        count: Option<f64>,
        sum: Option<f64>,
        /// (upper bound `le`, cumulative count)
        buckets: Vec<(f64, f64)>,
    },
}

/// A client-side timestamp, in milliseconds since the epoch, and where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub millis: i64,
    pub line: usize,
}

/// Why the input was rejected: the 1-based line and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Why [`parse_lenient`] dropped a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A second HELP line, or a second TYPE line of the same type.
    DeclaredTwice,
    /// A TYPE line of another type than the family already has (from an earlier TYPE
    /// line, or untyped by samples that came before it).
    TypeConflict,
    /// A sample with the name and labels of an earlier one (for a summary or
    /// histogram: the same quantile, bucket, `_sum` or `_count`).
    RepeatedSeries,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::DeclaredTwice,
        DropReason::TypeConflict,
        DropReason::RepeatedSeries,
    ];

    /// A short snake_case name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::DeclaredTwice => "declared_twice",
            DropReason::TypeConflict => "type_conflict",
            DropReason::RepeatedSeries => "repeated_series",
        }
    }
}

/// A family [`parse_lenient`] left out, and the first reason it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedFamily {
    pub name: String,
    pub reason: DropReason,
    /// The line that made it unreadable.
    pub line: usize,
}

/// At most this many dropped families are named in a [`LenientParse`]; the counts
/// cover them all.
pub const MAX_REPORTED_DROPS: usize = 32;

/// What [`parse_lenient`] read: the readable families, as [`parse`] returns them, and
/// what it left out.
#[derive(Debug, Clone, PartialEq)]
pub struct LenientParse {
    pub families: Vec<MetricFamily>,
    /// The first [`MAX_REPORTED_DROPS`] dropped families, in the order they were dropped.
    pub dropped: Vec<DroppedFamily>,
    /// How many families were dropped for each reason, in [`DropReason::ALL`]'s order.
    pub dropped_counts: [usize; 3],
    /// Sample lines [`parse_lenient_wanted`] passed over, their family not wanted
    /// (0 from [`parse_lenient`]).
    pub skipped_samples: usize,
}

impl LenientParse {
    /// Families dropped for `reason`.
    pub fn dropped_count(&self, reason: DropReason) -> usize {
        DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.dropped_counts[i])
    }

    /// Families dropped for any reason.
    pub fn dropped_total(&self) -> usize {
        self.dropped_counts.iter().sum()
    }
}

/// Parses a whole exposition. Families are returned in the order they first appear,
/// without those that have a HELP or TYPE line but no samples.
pub fn parse(input: &[u8]) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::new(input, None, None);
    parser.run()?;
    Ok(parser.finish().0)
}

/// Parses a whole exposition as [`parse`] does, except that a family declared twice, a
/// type conflict or a repeated series drops that family instead of the whole input
/// (see the module doc). Lines that cannot be read at all are still an error.
pub fn parse_lenient(input: &[u8]) -> Result<LenientParse, ParseError> {
    lenient_with(input, None)
}

/// Parses as [`parse_lenient`] does, reading only the families `wanted` accepts by
/// name (see the module doc): a sample, HELP or TYPE line is read when its name or,
/// for the `_count`, `_sum` or `_bucket` of a summary or histogram, the family's name
/// is wanted. Every other line is passed over unread and counted in
/// [`LenientParse::skipped_samples`] if it is a sample. A wanted name that is not a
/// family's (`x_count` of a summary `x` that is not wanted) is read as a family of its
/// own.
pub fn parse_lenient_wanted(
    input: &[u8],
    wanted: &dyn Fn(&str) -> bool,
) -> Result<LenientParse, ParseError> {
    lenient_with(input, Some(wanted))
}

fn lenient_with(
    input: &[u8],
    wanted: Option<&dyn Fn(&str) -> bool>,
) -> Result<LenientParse, ParseError> {
    let mut parser = Parser::new(input, Some(Drops::default()), wanted);
    parser.run()?;
    let skipped_samples = parser.skipped_samples;
    let (families, drops) = parser.finish();
    let drops = drops.unwrap_or_default();
    Ok(LenientParse {
        families,
        dropped: drops.reported,
        dropped_counts: drops.counts,
        skipped_samples,
    })
}

/// Parses a sample value as expfmt does (see [`crate::text::parse_value`]).
pub use crate::text::parse_value as parse_float;

/// A family while it is being read: its type is unset until a TYPE line or a sample.
struct FamilyState {
    name: String,
    help: Option<String>,
    kind: Option<MetricType>,
    metrics: Vec<Metric>,
}

/// Which sample of a summary or histogram a line's name gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Plain,
    Count,
    Sum,
}

type Labels = Vec<(String, String)>;

/// A byte-at-a-time reader, shaped like expfmt's state machine so that the same
/// inputs fail in the same way. `cur` is the last byte read, `input[pos - 1]`.
struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
    cur: u8,
    families: Vec<FamilyState>,
    by_name: HashMap<&'a str, usize, RandomState>,
    /// The metric of each (summary or histogram family, label set sorted by name).
    grouped: HashMap<(usize, Labels), usize, RandomState>,
    /// `Some` in lenient mode: what has been dropped so far.
    lenient: Option<Drops>,
    /// `Some` when only some families are read ([`parse_lenient_wanted`]).
    wanted: Option<&'a dyn Fn(&str) -> bool>,
    /// The last sample name [`Parser::is_wanted`] answered for, and its answer.
    last_wanted: Option<(&'a [u8], bool)>,
    skipped_samples: usize,
}

/// What lenient parsing has dropped, and the series seen (to find repeats).
#[derive(Debug, Default)]
struct Drops {
    /// The reason of each dropped family, by family index.
    reasons: HashMap<usize, DropReason>,
    reported: Vec<DroppedFamily>,
    counts: [usize; 3],
    /// (family, sorted labels, part, bound bits) of every summary or histogram sample read.
    series: HashSet<(usize, Labels, Part, u64), RandomState>,
    /// [`label_set_hash`] of every counter, gauge or untyped sample read: a repeat is
    /// only possible on a match, which is then checked against the family's metrics.
    single_hashes: HashSet<u64, RandomState>,
}

impl<'a> Parser<'a> {
    fn new(
        input: &'a [u8],
        lenient: Option<Drops>,
        wanted: Option<&'a dyn Fn(&str) -> bool>,
    ) -> Parser<'a> {
        Parser {
            input,
            pos: 0,
            line: 0,
            cur: 0,
            families: Vec::new(),
            by_name: HashMap::default(),
            grouped: HashMap::default(),
            lenient,
            wanted,
            last_wanted: None,
            skipped_samples: 0,
        }
    }

    /// The families read, without empty and dropped ones, and what was dropped.
    fn finish(self) -> (Vec<MetricFamily>, Option<Drops>) {
        let lenient = self.lenient;
        let families = self
            .families
            .into_iter()
            .enumerate()
            .filter(|(index, f)| {
                !f.metrics.is_empty()
                    && lenient
                        .as_ref()
                        .is_none_or(|drops| !drops.reasons.contains_key(index))
            })
            .map(|(_, f)| MetricFamily {
                name: f.name,
                help: f.help,
                kind: f.kind.unwrap_or(MetricType::Untyped),
                metrics: f.metrics,
            })
            .collect();
        (families, lenient)
    }

    /// In lenient mode, drops `family` for `reason` (the first reason is kept) and
    /// returns true; in strict mode returns false, and the caller fails.
    fn drop_family(&mut self, family: usize, reason: DropReason) -> bool {
        let line = self.line;
        let Some(drops) = self.lenient.as_mut() else {
            return false;
        };
        if drops.reasons.contains_key(&family) {
            return true;
        }
        drops.reasons.insert(family, reason);
        if let Some(i) = DropReason::ALL.iter().position(|r| *r == reason) {
            drops.counts[i] += 1;
        }
        if drops.reported.len() < MAX_REPORTED_DROPS {
            drops.reported.push(DroppedFamily {
                name: self.families[family].name.clone(),
                reason,
                line,
            });
        }
        true
    }

    /// Reads to the end of the line: `cur` becomes its newline.
    fn skip_line(&mut self) -> Result<(), ParseError> {
        if self.cur == b'\n' {
            return Ok(());
        }
        match memchr::memchr(b'\n', &self.input[self.pos..]) {
            Some(offset) => {
                self.pos += offset + 1;
                self.cur = b'\n';
                Ok(())
            }
            None => {
                self.pos = self.input.len();
                Err(self.error("unexpected end of input stream"))
            }
        }
    }

    /// Whether a line of metric `name` (a sample's, or a HELP or TYPE line's) is read:
    /// always, unless only some families are wanted and neither `name` nor the summary
    /// or histogram it may belong to is. A family's lines come together, so the last
    /// answer is kept and most lines cost one comparison.
    fn is_wanted(&mut self, name: &'a [u8]) -> bool {
        let Some(wanted) = self.wanted else {
            return true;
        };
        if let Some((last, answer)) = self.last_wanted {
            if last == name {
                return answer;
            }
        }
        let text = ascii(name);
        let answer = wanted(text)
            || ["_count", "_sum", "_bucket"].iter().any(|suffix| {
                text.strip_suffix(suffix)
                    .is_some_and(|base| !base.is_empty() && wanted(base))
            });
        self.last_wanted = Some((name, answer));
        answer
    }

    /// The metric name at the start of a sample line (`cur` its first byte), without
    /// moving: what [`Parser::name`] would read.
    fn peek_metric_name(&self) -> &'a [u8] {
        let start = self.pos - 1;
        let rest = &self.input[start..];
        if !rest.first().is_some_and(|&b| is_metric_name_start(b)) {
            return &[];
        }
        let len = rest
            .iter()
            .position(|&b| !is_metric_name_byte(b))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    /// Reads the next byte into `cur`. Everywhere except at the start of a line, the
    /// input ending is an error.
    #[inline]
    fn next(&mut self) -> Result<u8, ParseError> {
        match self.input.get(self.pos) {
            Some(&byte) => {
                self.pos += 1;
                self.cur = byte;
                Ok(byte)
            }
            None => Err(self.end_of_input()),
        }
    }

    #[cold]
    #[inline(never)]
    fn end_of_input(&self) -> ParseError {
        self.error("unexpected end of input stream")
    }

    /// Reads past blanks and tabs. `cur` is the first other byte.
    fn skip_blanks(&mut self) -> Result<(), ParseError> {
        while is_blank(self.next()?) {}
        Ok(())
    }

    fn skip_blanks_if_blank(&mut self) -> Result<(), ParseError> {
        if is_blank(self.cur) {
            self.skip_blanks()?;
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            self.line += 1;
            // The one place the input may end: at the start of a line, after blanks.
            loop {
                let Some(&byte) = self.input.get(self.pos) else {
                    return Ok(());
                };
                self.pos += 1;
                self.cur = byte;
                if !is_blank(byte) {
                    break;
                }
            }
            match self.cur {
                b'#' => self.comment()?,
                b'\n' => {}
                _ => {
                    if self.wanted.is_some() {
                        let name = self.peek_metric_name();
                        if !name.is_empty() && !self.is_wanted(name) {
                            self.skipped_samples += 1;
                            self.skip_line()?;
                            continue;
                        }
                    }
                    self.sample()?
                }
            }
        }
    }

    /// A comment line. `cur` is `#`. On return it is the line's newline.
    fn comment(&mut self) -> Result<(), ParseError> {
        self.skip_blanks()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        let keyword = self.token_until_blank()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        let is_help = match keyword {
            b"HELP" => true,
            b"TYPE" => false,
            _ => return self.skip_line(),
        };
        self.skip_blanks()?;
        let name = self.name_bytes(is_metric_name_start, is_metric_name_byte)?;
        if self.cur == b'\n' {
            return Ok(());
        }
        if !is_blank(self.cur) {
            return Err(self.error("invalid metric name in comment"));
        }
        if !self.is_wanted(name) {
            return self.skip_line();
        }
        let (family, _) = self.family_for(ascii(name));
        self.skip_blanks()?;
        if self.cur == b'\n' {
            return Ok(());
        }
        if is_help {
            self.help(family)
        } else {
            self.type_line(family)
        }
    }

    fn help(&mut self, family: usize) -> Result<(), ParseError> {
        if self.families[family].help.is_some() {
            if self.drop_family(family, DropReason::DeclaredTwice) {
                return self.skip_line();
            }
            return Err(self.error(format!(
                "second HELP line for metric name {}",
                quote(&self.families[family].name)
            )));
        }
        let mut text = Vec::new();
        let mut escaped = false;
        loop {
            if escaped {
                match self.cur {
                    b'\\' => text.push(b'\\'),
                    b'n' => text.push(b'\n'),
                    other => return Err(self.error(invalid_escape(other))),
                }
                escaped = false;
            } else {
                match self.cur {
                    b'\n' => break,
                    b'\\' => escaped = true,
                    other => text.push(other),
                }
            }
            self.next()?;
        }
        self.families[family].help = Some(String::from_utf8_lossy(&text).into_owned());
        Ok(())
    }

    fn type_line(&mut self, family: usize) -> Result<(), ParseError> {
        let earlier = self.families[family].kind;
        if earlier.is_some() && self.lenient.is_none() {
            return Err(self.error(format!(
                "second TYPE line for metric name {}, or TYPE reported after samples",
                quote(&self.families[family].name)
            )));
        }
        let text = self.token_until_newline()?;
        let kind = match text.to_ascii_lowercase().as_slice() {
            b"counter" => Some(MetricType::Counter),
            b"gauge" => Some(MetricType::Gauge),
            b"summary" => Some(MetricType::Summary),
            b"histogram" => Some(MetricType::Histogram),
            b"untyped" => Some(MetricType::Untyped),
            _ => None,
        };
        if let Some(earlier) = earlier {
            // Lenient only: strict mode failed above.
            let reason = if kind == Some(earlier) {
                DropReason::DeclaredTwice
            } else {
                DropReason::TypeConflict
            };
            self.drop_family(family, reason);
            return Ok(());
        }
        let kind =
            kind.ok_or_else(|| self.error(format!("unknown metric type {}", quote(text))))?;
        self.families[family].kind = Some(kind);
        Ok(())
    }

    /// A sample line. `cur` is its first byte. On return it is the line's newline.
    fn sample(&mut self) -> Result<(), ParseError> {
        let name = self.name(is_metric_name_start, is_metric_name_byte)?;
        if name.is_empty() {
            return Err(self.error("invalid metric name"));
        }
        let (family, part) = self.family_for(name);
        let kind = *self.families[family]
            .kind
            .get_or_insert(MetricType::Untyped);
        let line = self.line;
        self.skip_blanks_if_blank()?;
        let mut labels = Vec::new();
        // The `quantile` of a summary line or the `le` of a histogram line.
        let mut bound = f64::NAN;
        if self.cur == b'{' {
            self.labels(family, kind, &mut labels, &mut bound)?;
        }

        let token = self.token_until_blank()?;
        let value = std::str::from_utf8(token)
            .ok()
            .and_then(parse_float)
            .ok_or_else(|| self.error(format!("expected float as value, got {}", quote(token))))?;
        if self.lenient.is_some() && self.repeats_a_series(family, &labels, part, bound) {
            self.drop_family(family, DropReason::RepeatedSeries);
        }
        let index = self.metric_for(family, kind, labels, line);
        let metric = &mut self.families[family].metrics[index];
        match &mut metric.value {
            Value::Single(v) => *v = value,
            Value::Summary {
                count,
                sum,
                quantiles: points,
            }
            | Value::Histogram {
                count,
                sum,
                buckets: points,
            } => match part {
                Part::Count => *count = Some(value),
                Part::Sum => *sum = Some(value),
                Part::Plain if !bound.is_nan() => points.push((bound, value)),
                Part::Plain => {}
            },
        }
        if self.cur == b'\n' {
            return Ok(());
        }

        self.skip_blanks()?;
        let token = self.token_until_blank()?;
        let millis = std::str::from_utf8(token)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| {
                self.error(format!(
                    "expected integer as timestamp, got {}",
                    quote(token)
                ))
            })?;
        let timestamp_line = self.line;
        let rest = self.token_until_newline()?;
        if !rest.is_empty() {
            return Err(self.error(format!("spurious string after timestamp: {}", quote(rest))));
        }
        let metric = &mut self.families[family].metrics[index];
        metric.timestamp.get_or_insert(Timestamp {
            millis,
            line: timestamp_line,
        });
        Ok(())
    }

    /// Lenient mode: whether this sample repeats one read before (and remembers it).
    /// A summary or histogram line whose bound is NaN is ignored by the parser, so it
    /// repeats nothing.
    fn repeats_a_series(&mut self, family: usize, labels: &Labels, part: Part, bound: f64) -> bool {
        let Some(drops) = self.lenient.as_mut() else {
            return false;
        };
        if drops.reasons.contains_key(&family) {
            // Dropped already: whether it repeats changes nothing.
            return false;
        }
        let grouped = matches!(
            self.families[family].kind,
            Some(MetricType::Summary | MetricType::Histogram)
        );
        if !grouped {
            let hash = label_set_hash(family, labels);
            return !drops.single_hashes.insert(hash)
                && self.families[family]
                    .metrics
                    .iter()
                    .any(|metric| same_label_set(&metric.labels, labels));
        }
        if part == Part::Plain && bound.is_nan() {
            return false;
        }
        let mut key = labels.clone();
        key.sort();
        // One NaN for every bound-less line, so that bits compare equal.
        let bound = if bound.is_nan() { f64::NAN } else { bound };
        !drops.series.insert((family, key, part, bound.to_bits()))
    }

    /// The label set of a sample. `cur` is `{`. On return it is the first byte of the value.
    fn labels(
        &mut self,
        family: usize,
        kind: MetricType,
        labels: &mut Labels,
        bound: &mut f64,
    ) -> Result<(), ParseError> {
        // The names so far, once there are enough that scanning them for a repeat
        // would make a line of many labels quadratic.
        let mut seen: Option<HashSet<String, RandomState>> = None;
        loop {
            self.skip_blanks()?;
            if self.cur == b'}' {
                return self.skip_blanks();
            }
            let name = self.name(is_label_name_start, is_label_name_byte)?;
            if name.is_empty() {
                return Err(self.error(format!(
                    "invalid label name for metric {}",
                    quote(&self.families[family].name)
                )));
            }
            if name == "__name__" {
                return Err(self.error("label name \"__name__\" is reserved"));
            }
            let is_bound = (kind == MetricType::Summary && name == "quantile")
                || (kind == MetricType::Histogram && name == "le");
            self.skip_blanks_if_blank()?;
            if self.cur != b'=' {
                return Err(self.error(format!(
                    "expected '=' after label name, found {}",
                    quote_byte(self.cur)
                )));
            }
            let repeated = if labels.len() < SCANNED_LABELS {
                labels.iter().any(|(n, _)| *n == name)
            } else {
                seen.get_or_insert_with(|| labels.iter().map(|(n, _)| n.clone()).collect())
                    .contains(name)
            };
            if !is_bound && repeated {
                return Err(self.error(format!(
                    "duplicate label names for metric {}",
                    quote(&self.families[family].name)
                )));
            }
            self.skip_blanks()?;
            if self.cur != b'"' {
                return Err(self.error(format!(
                    "expected '\"' at start of label value, found {}",
                    quote_byte(self.cur)
                )));
            }
            let raw = self.label_value()?;
            let value = String::from_utf8(raw)
                .map_err(|e| self.error(format!("invalid label value {}", quote(e.as_bytes()))))?;
            if is_bound {
                *bound = parse_float(&value).ok_or_else(|| {
                    self.error(format!(
                        "expected float as value for '{name}' label, got {}",
                        quote(&value)
                    ))
                })?;
            }
            self.skip_blanks()?;
            match self.cur {
                b',' | b'}' => {}
                _ => {
                    return Err(
                        self.error(format!("unexpected end of label value {}", quote(&value)))
                    )
                }
            }
            if !is_bound {
                if let Some(seen) = &mut seen {
                    seen.insert(name.to_string());
                }
                labels.push((name.to_string(), value));
            }
            if self.cur == b'}' {
                return self.skip_blanks();
            }
        }
    }

    /// A quoted label value. `cur` is the opening quote. On return it is the closing one.
    fn label_value(&mut self) -> Result<Vec<u8>, ParseError> {
        // Most values have no escape: copy up to the next quote, backslash or newline
        // at once, then go on byte by byte from there.
        let rest = &self.input[self.pos..];
        let plain = memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
        let mut value = rest[..plain].to_vec();
        self.pos += plain;
        if let Some(&last) = value.last() {
            self.cur = last;
        }
        let mut escaped = false;
        loop {
            let byte = self.next()?;
            if escaped {
                match byte {
                    b'"' | b'\\' => value.push(byte),
                    b'n' => value.push(b'\n'),
                    other => return Err(self.error(invalid_escape(other))),
                }
                escaped = false;
                continue;
            }
            match byte {
                b'"' => return Ok(value),
                b'\n' => {
                    return Err(self.error(format!(
                        "label value {} contains unescaped new-line",
                        quote(&value)
                    )))
                }
                b'\\' => escaped = true,
                other => value.push(other),
            }
        }
    }

    /// The metric a sample line adds to: a new one, or for a summary or histogram the
    /// one with the same labels.
    fn metric_for(
        &mut self,
        family: usize,
        kind: MetricType,
        labels: Labels,
        line: usize,
    ) -> usize {
        let metrics = &mut self.families[family].metrics;
        let value = match kind {
            MetricType::Summary => Value::Summary {
                count: None,
                sum: None,
                quantiles: Vec::new(),
            },
            MetricType::Histogram => Value::Histogram {
                count: None,
                sum: None,
                buckets: Vec::new(),
            },
            _ => Value::Single(f64::NAN),
        };
        if matches!(value, Value::Single(_)) {
            metrics.push(Metric {
                labels,
                value,
                timestamp: None,
                line,
            });
            return metrics.len() - 1;
        }
        let mut key = labels.clone();
        key.sort();
        *self.grouped.entry((family, key)).or_insert_with(|| {
            metrics.push(Metric {
                labels,
                value,
                timestamp: None,
                line,
            });
            metrics.len() - 1
        })
    }

    /// The family a name belongs to, as expfmt decides it: the family of that exact
    /// name, else the summary or histogram it is the `_count`, `_sum` or `_bucket` of,
    /// else a new family.
    fn family_for(&mut self, name: &'a str) -> (usize, Part) {
        if let Some(&index) = self.by_name.get(name) {
            return (index, Part::Plain);
        }
        let strip = |suffix: &str| name.strip_suffix(suffix).filter(|base| !base.is_empty());
        let (summary_base, part) = match (strip("_count"), strip("_sum")) {
            (Some(base), _) => (Some(base), Part::Count),
            (None, Some(base)) => (Some(base), Part::Sum),
            (None, None) => (None, Part::Plain),
        };
        let histogram_base = summary_base.or_else(|| strip("_bucket"));
        for (base, kind) in [
            (summary_base, MetricType::Summary),
            (histogram_base, MetricType::Histogram),
        ] {
            if let Some(&index) = base.and_then(|b| self.by_name.get(b)) {
                if self.families[index].kind == Some(kind) {
                    return (index, part);
                }
            }
        }
        self.families.push(FamilyState {
            name: name.to_string(),
            help: None,
            kind: None,
            metrics: Vec::new(),
        });
        let index = self.families.len() - 1;
        self.by_name.insert(name, index);
        (index, Part::Plain)
    }

    /// A metric or label name starting at `cur`. The result is empty when `cur` cannot
    /// start one. On return `cur` is the first byte after the name.
    fn name(
        &mut self,
        is_start: impl Fn(u8) -> bool,
        is_char: impl Fn(u8) -> bool,
    ) -> Result<&'a str, ParseError> {
        Ok(ascii(self.name_bytes(is_start, is_char)?))
    }

    /// [`Parser::name`] as bytes (they are ASCII), scanned as a slice.
    fn name_bytes(
        &mut self,
        is_start: impl Fn(u8) -> bool,
        is_char: impl Fn(u8) -> bool,
    ) -> Result<&'a [u8], ParseError> {
        let start = self.pos.saturating_sub(1);
        if !is_start(self.cur) {
            return Ok(&[]);
        }
        let rest = &self.input[self.pos..];
        match rest.iter().position(|&byte| !is_char(byte)) {
            Some(len) => {
                self.pos += len + 1;
                self.cur = rest[len];
                Ok(&self.input[start..self.pos - 1])
            }
            None => {
                self.pos = self.input.len();
                Err(self.end_of_input())
            }
        }
    }

    /// The bytes from `cur` up to a blank, tab or newline, which is left in `cur`.
    fn token_until_blank(&mut self) -> Result<&'a [u8], ParseError> {
        let start = self.pos.saturating_sub(1);
        while !is_blank(self.cur) && self.cur != b'\n' {
            self.next()?;
        }
        Ok(&self.input[start..self.pos.saturating_sub(1).max(start)])
    }

    /// The bytes from `cur` up to the newline, which is left in `cur`.
    fn token_until_newline(&mut self) -> Result<&'a [u8], ParseError> {
        let start = self.pos.saturating_sub(1);
        self.skip_line()?;
        Ok(&self.input[start..self.pos - 1])
    }
}

/// A name's bytes, which the name rules keep ASCII, as text (never the empty fallback).
fn ascii(name: &[u8]) -> &str {
    std::str::from_utf8(name).unwrap_or_default()
}

/// A hash of a family's label set that does not depend on the labels' order (names
/// are unique within a set, so the set is what a series is).
fn label_set_hash(family: usize, labels: &Labels) -> u64 {
    // A fixed seed: the hashes are compared only with each other, within one parse.
    let state = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);
    let set = labels
        .iter()
        .fold(0u64, |sum, pair| sum.wrapping_add(state.hash_one(pair)));
    state.hash_one((family, labels.len(), set))
}

/// Whether two label sets of unique names are the same set, in any order.
fn same_label_set(a: &Labels, b: &Labels) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= SCANNED_LABELS {
        return a.iter().all(|pair| b.contains(pair));
    }
    let (mut a, mut b) = (a.clone(), b.clone());
    a.sort();
    b.sort();
    a == b
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn invalid_escape(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("invalid escape sequence '\\{}'", char::from(byte))
    } else {
        format!(
            "invalid escape sequence: '\\' followed by {}",
            quote_byte(byte)
        )
    }
}

/// Quotes text for a message like Go's `%q`: control characters and bytes that are
/// not UTF-8 are escaped.
fn quote(bytes: impl AsRef<[u8]>) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.as_ref().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                c => out.extend(c.escape_debug()),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// Quotes one byte like Go's `%q` of a character: `'='`, `'\n'`.
fn quote_byte(byte: u8) -> String {
    match byte {
        b'\'' => "'\\''".to_string(),
        b if b.is_ascii_graphic() || b == b' ' => format!("'{}'", char::from(b)),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        b => format!("'\\x{b:02x}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<MetricFamily> {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &[u8]) -> String {
        match parse(text) {
            Ok(families) => panic!("{text:?} parsed: {families:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn single(labels: Labels, value: f64, line: usize) -> Metric {
        Metric {
            labels,
            value: Value::Single(value),
            timestamp: None,
            line,
        }
    }

    #[test]
    fn reads_the_sidecar_format() {
        let families = ok("# HELP edge_x Temperature of x.\n# TYPE edge_x gauge\nedge_x 1.5\n");
        assert_eq!(
            families,
            vec![MetricFamily {
                name: "edge_x".into(),
                help: Some("Temperature of x.".into()),
                kind: MetricType::Gauge,
                metrics: vec![single(vec![], 1.5, 3)],
            }]
        );
    }

    #[test]
    fn reads_labels_escapes_comments_and_blank_lines() {
        let text = "\n  \t\n# a comment\n#\n# HELP  c_total  Line one\\nback\\\\slash  \n\
                    # TYPE c_total COUNTER\n\
                    c_total{path=\"C:\\\\x \\\"q\\\"\\nz\",b=\"\"} 7\n\
                    c_total { a = \"1\" , } 8 1700000000000\n\
                    #HELP u Set without a space.\n\
                    u{} -0\nnew:name_1\t+3e2\n\n  ";
        let families = ok(text);
        assert_eq!(families.len(), 3);
        let counter = &families[0];
        assert_eq!(counter.help.as_deref(), Some("Line one\nback\\slash  "));
        assert_eq!(counter.kind, MetricType::Counter);
        assert_eq!(
            counter.metrics,
            vec![
                single(labels(&[("path", "C:\\x \"q\"\nz"), ("b", "")]), 7.0, 7),
                Metric {
                    timestamp: Some(Timestamp {
                        millis: 1_700_000_000_000,
                        line: 8
                    }),
                    ..single(labels(&[("a", "1")]), 8.0, 8)
                },
            ]
        );
        assert_eq!(families[1].name, "u");
        assert_eq!(families[1].help.as_deref(), Some("Set without a space."));
        assert_eq!(families[1].kind, MetricType::Untyped);
        assert_eq!(families[2].name, "new:name_1");
        assert_eq!(families[2].metrics, vec![single(vec![], 300.0, 11)]);
    }

    #[test]
    fn help_may_follow_the_samples_and_empty_families_are_dropped() {
        let families = ok(
            "# TYPE a gauge\na 1\n# HELP a late\n# HELP b nothing\n# TYPE c counter\n# HELP d\n",
        );
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].help.as_deref(), Some("late"));
    }

    #[test]
    fn values_are_what_go_parses() {
        let value = |text: &str| {
            let families = ok(&format!("v {text}\n"));
            match families[0].metrics[0].value {
                Value::Single(v) => v,
                _ => unreachable!(),
            }
        };
        assert_eq!(value("+Inf"), f64::INFINITY);
        assert_eq!(value("-inf"), f64::NEG_INFINITY);
        assert_eq!(value("Infinity"), f64::INFINITY);
        assert!(value("NaN").is_nan() && value("nan").is_nan());
        assert_eq!(value(".5"), 0.5);
        assert_eq!(value("5."), 5.0);
        assert_eq!(value("1E+5"), 100000.0);
        assert_eq!(value("1e-400"), 0.0);
        assert_eq!(value("-0"), 0.0);
        for bad in [
            "0x1p3", "0x10", "1_000", "1e400", "+nan", "infin", "1e", ".", "", "abc",
        ] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejections_name_the_line_and_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (b"a 1", "line 1: unexpected end of input stream"),
            (b"a 1\n# comment", "line 2: unexpected end of input stream"),
            (b"a 1 \n", "line 1: expected integer as timestamp, got \"\""),
            (b"a 1\r\n", "line 1: expected float as value, got \"1\\r\""),
            (
                b"a 1 1.5\n",
                "line 1: expected integer as timestamp, got \"1.5\"",
            ),
            (
                b"a 1 2 3\n",
                "line 1: spurious string after timestamp: \" 3\"",
            ),
            (b"a\n", "line 1: expected float as value, got \"\""),
            (
                b"\na 0x1p3\n",
                "line 2: expected float as value, got \"0x1p3\"",
            ),
            (b"1a 1\n", "line 1: invalid metric name"),
            (b"{a=\"1\"} 1\n", "line 1: invalid metric name"),
            (
                b"a{1b=\"1\"} 1\n",
                "line 1: invalid label name for metric \"a\"",
            ),
            (
                b"a{b:c=\"1\"} 1\n",
                "line 1: expected '=' after label name, found ':'",
            ),
            (
                b"a{b=1} 1\n",
                "line 1: expected '\"' at start of label value, found '1'",
            ),
            (
                b"a{b=\"1\",b=\"2\"} 1\n",
                "line 1: duplicate label names for metric \"a\"",
            ),
            (
                b"a{__name__=\"x\"} 1\n",
                "line 1: label name \"__name__\" is reserved",
            ),
            (
                b"a{b=\"x\\ty\"} 1\n",
                "line 1: invalid escape sequence '\\t'",
            ),
            (
                b"a{b=\"x\ny\"} 1\n",
                "line 1: label value \"x\" contains unescaped new-line",
            ),
            (
                b"a{b=\"1\" c=\"2\"} 1\n",
                "line 1: unexpected end of label value \"1\"",
            ),
            (
                b"a{b=\"\xff\"} 1\n",
                "line 1: invalid label value \"\\xff\"",
            ),
            (b"a{b=\"1", "line 1: unexpected end of input stream"),
            (b"# HELP a x\\ty\n", "line 1: invalid escape sequence '\\t'"),
            (
                b"# HELP a say \\\"hi\\\"\n",
                "line 1: invalid escape sequence '\\\"'",
            ),
            (
                b"# HELP a x\\\na 1\n",
                "line 1: invalid escape sequence: '\\' followed by '\\n'",
            ),
            (
                b"# HELP a x\n# HELP a y\n",
                "line 2: second HELP line for metric name \"a\"",
            ),
            (b"# HELP 1a x\n", "line 1: invalid metric name in comment"),
            (
                b"a 1\n# TYPE a gauge\n",
                "line 2: second TYPE line for metric name \"a\", or TYPE reported after samples",
            ),
            (
                b"# TYPE a gauge \n",
                "line 1: unknown metric type \"gauge \"",
            ),
            (
                b"# TYPE a gauge_histogram\n",
                "line 1: unknown metric type \"gauge_histogram\"",
            ),
            (
                b"# TYPE s summary\n# TYPE s_count gauge\n",
                "line 2: second TYPE line for metric name \"s\", or TYPE reported after samples",
            ),
            (
                b"# TYPE s summary\ns{quantile=\"x\"} 1\n",
                "line 2: expected float as value for 'quantile' label, got \"x\"",
            ),
            (
                b"# TYPE h histogram\nh_bucket{le=\"0x1p-1\"} 1\n",
                "line 2: expected float as value for 'le' label, got \"0x1p-1\"",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(err(text), *message, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn comments_and_help_need_not_be_utf8() {
        let families = parse(b"# \xff\n# HELP a x\xffy\na 1\n").unwrap();
        assert_eq!(families[0].help.as_deref(), Some("x\u{fffd}y"));
    }

    #[test]
    fn groups_summaries_by_labels() {
        let text = "# HELP rpc Summary.\n# TYPE rpc summary\n\
                    rpc{svc=\"b\",quantile=\"0.5\"} 1\n\
                    rpc_sum{svc=\"b\"} 10\n\
                    rpc_count{svc=\"b\"} 5\n\
                    rpc{quantile=\"0.9\",svc=\"a\"} 3\n\
                    rpc{svc=\"b\",quantile=\"NaN\"} 8\n\
                    rpc{svc=\"c\"} 9\n\
                    rpc{svc=\"b\",quantile=\"0.99\"} 2\n";
        let families = ok(text);
        assert_eq!(families.len(), 1);
        let metrics = &families[0].metrics;
        assert_eq!(metrics.len(), 3);
        assert_eq!(metrics[0].labels, labels(&[("svc", "b")]));
        assert_eq!(
            metrics[0].value,
            Value::Summary {
                count: Some(5.0),
                sum: Some(10.0),
                quantiles: vec![(0.5, 1.0), (0.99, 2.0)]
            }
        );
        assert_eq!(metrics[0].line, 3);
        assert_eq!(
            metrics[1].value,
            Value::Summary {
                count: None,
                sum: None,
                quantiles: vec![(0.9, 3.0)]
            }
        );
        assert_eq!(metrics[2].labels, labels(&[("svc", "c")]));
        assert_eq!(
            metrics[2].value,
            Value::Summary {
                count: None,
                sum: None,
                quantiles: vec![]
            }
        );
    }

    #[test]
    fn groups_histograms_and_leaves_other_names_alone() {
        let text = "x_sum 1\n# TYPE lat histogram\n\
                    lat_bucket{le=\"0.5\"} 1\nlat{le=\"+Inf\"} 3\nlat_bucket 4\nlat_sum 7.5\nlat_count 3\n\
                    lat_bucket{x=\"1\",le=\"1e3\"} 2\n\
                    # TYPE x summary\nx{quantile=\"0.5\"} 2\n\
                    # TYPE g gauge\ng_count 1\n";
        let families = ok(text);
        let names: Vec<(&str, MetricType)> =
            families.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("x_sum", MetricType::Untyped),
                ("lat", MetricType::Histogram),
                ("x", MetricType::Summary),
                ("g_count", MetricType::Untyped),
            ]
        );
        let lat = &families[1].metrics;
        assert_eq!(
            lat[0].value,
            Value::Histogram {
                count: Some(3.0),
                sum: Some(7.5),
                buckets: vec![(0.5, 1.0), (f64::INFINITY, 3.0)]
            }
        );
        assert_eq!(lat[1].labels, labels(&[("x", "1")]));
        assert_eq!(
            lat[1].value,
            Value::Histogram {
                count: None,
                sum: None,
                buckets: vec![(1000.0, 2.0)]
            }
        );
    }

    fn lenient(text: &str) -> LenientParse {
        parse_lenient(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn names(families: &[MetricFamily]) -> Vec<&str> {
        families.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn lenient_drops_a_family_declared_twice_and_keeps_the_rest() {
        // What an exporter served when a script's gauge met a counter of the same name.
        let text = "# HELP a_total Runs.\n# TYPE a_total counter\na_total{s=\"x\"} 3\n\
                    # HELP a_total Runs again.\n# TYPE a_total counter\na_total{s=\"y\"} 1\n\
                    # TYPE b gauge\nb 1\n";
        assert!(
            parse(text.as_bytes()).is_err(),
            "strict mode still refuses it"
        );
        let read = lenient(text);
        assert_eq!(names(&read.families), ["b"]);
        assert_eq!(
            read.dropped,
            [DroppedFamily {
                name: "a_total".into(),
                reason: DropReason::DeclaredTwice,
                line: 4,
            }]
        );
        assert_eq!(read.dropped_count(DropReason::DeclaredTwice), 1);
        assert_eq!(read.dropped_total(), 1);
    }

    #[test]
    fn lenient_drops_type_conflicts_and_repeated_series() {
        let text = "g 1\n# TYPE g gauge\n\
                    # TYPE c counter\n# TYPE c gauge\nc 2\n\
                    r{x=\"1\",y=\"2\"} 1\nr{y=\"2\",x=\"1\"} 2\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 2\nh_count 2\n\
                    # TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_sum 3\ns_count 2\n\
                    ok 1\n";
        let read = lenient(text);
        assert_eq!(names(&read.families), ["s", "ok"]);
        let dropped: Vec<(&str, DropReason)> = read
            .dropped
            .iter()
            .map(|d| (d.name.as_str(), d.reason))
            .collect();
        assert_eq!(
            dropped,
            [
                ("g", DropReason::TypeConflict),
                ("c", DropReason::TypeConflict),
                ("r", DropReason::RepeatedSeries),
                ("h", DropReason::RepeatedSeries),
            ]
        );
        assert_eq!(read.dropped_counts, [0, 2, 2]);
        // The kept families are what strict parsing gives for them alone.
        let s_alone =
            "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_sum 3\ns_count 2\n";
        let mut strict = ok(s_alone);
        strict[0].metrics[0].line = read.families[0].metrics[0].line;
        assert_eq!(read.families[0], strict[0]);
    }

    #[test]
    fn lenient_still_refuses_what_cannot_be_read() {
        for (text, message) in [
            (&b"a 1"[..], "line 1: unexpected end of input stream"),
            (
                b"a{b=1} 1\n",
                "line 1: expected '\"' at start of label value, found '1'",
            ),
            (
                b"# TYPE a gauge_histogram\n",
                "line 1: unknown metric type \"gauge_histogram\"",
            ),
            (b"a x\n", "line 1: expected float as value, got \"x\""),
        ] {
            assert_eq!(parse_lenient(text).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn lenient_reads_valid_input_as_strict_does() {
        let text = "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"1\"} 7\nc_total{a=\"2\"} 8 1700000000000\n\
                    # TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 7.5\nlat_count 3\n\
                    # TYPE q summary\nq{quantile=\"NaN\"} 1\nq{quantile=\"NaN\"} 2\nq_sum 1\n";
        let read = lenient(text);
        assert_eq!(read.families, ok(text));
        assert!(read.dropped.is_empty());
        assert_eq!(read.dropped_total(), 0);
    }

    #[test]
    fn lenient_names_a_bounded_number_of_dropped_families() {
        let text: String = (0..MAX_REPORTED_DROPS + 10)
            .map(|i| format!("f{i} 1\nf{i} 2\n"))
            .collect::<String>()
            + "kept 1\n";
        let read = lenient(&text);
        assert_eq!(names(&read.families), ["kept"]);
        assert_eq!(read.dropped.len(), MAX_REPORTED_DROPS);
        assert_eq!(
            read.dropped_count(DropReason::RepeatedSeries),
            MAX_REPORTED_DROPS + 10
        );
    }

    fn wanted(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |name| names.contains(&name)
    }

    #[test]
    fn wanted_families_are_read_as_the_full_parse_reads_them() {
        let text = "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"1\"} 7\n\
                    other{z=\"q\"} 1\n# HELP other O.\n# TYPE other gauge\n\
                    c_total{a=\"2\"} 8 1700000000000\n\
                    # TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 7.5\nlat_count 3\n\
                    # TYPE q summary\nq{quantile=\"0.5\"} 1\nq_sum 1\nq_count 1\n";
        let full = lenient(text);
        let read = parse_lenient_wanted(text.as_bytes(), &wanted(&["c_total", "lat"])).unwrap();
        let expected: Vec<MetricFamily> = full
            .families
            .into_iter()
            .filter(|f| f.name == "c_total" || f.name == "lat")
            .collect();
        assert_eq!(read.families, expected);
        // other, q, q_sum, q_count: samples passed over.
        assert_eq!(read.skipped_samples, 4);
        assert_eq!(full.skipped_samples, 0);
    }

    #[test]
    fn lines_not_wanted_are_passed_over_unread_but_the_input_must_still_end() {
        let keep = wanted(&["a"]);
        // Unreadable lines of other families (labels, value, a repeat, a conflict).
        let text = "b{ 2\nb x\nb 1\nb 1\n# TYPE b gauge_histogram\n# HELP b x\\ty\na{k=\"v\"} 1\n";
        let read = parse_lenient_wanted(text.as_bytes(), &keep).unwrap();
        assert_eq!(names(&read.families), ["a"]);
        assert_eq!(read.families[0].metrics[0].line, 7);
        assert_eq!((read.skipped_samples, read.dropped_total()), (4, 0));
        for (text, message) in [
            (
                &b"b 1\na 1\nb 2"[..],
                "line 3: unexpected end of input stream",
            ),
            (b"b 1\n1b 2\n", "line 2: invalid metric name"),
            (
                b"b 1\na{k=1} 1\n",
                "line 2: expected '\"' at start of label value, found '1'",
            ),
            (b"b 1\na 1\n# TYPE a gauge\n", "no error"),
        ] {
            let got = parse_lenient_wanted(text, &keep)
                .map(|r| {
                    assert_eq!(r.dropped_count(DropReason::TypeConflict), 1);
                    "no error".to_string()
                })
                .unwrap_or_else(|e| e.to_string());
            assert_eq!(got, message);
        }
    }

    #[test]
    fn a_repeat_in_another_label_order_is_found_without_sorted_copies() {
        let many: Vec<String> = (0..40).map(|n| format!("l{n}=\"v{n}\"")).collect();
        let mut reversed = many.clone();
        reversed.reverse();
        let text = format!(
            "w{{{}}} 1\nw{{{}}} 2\nk{{a=\"1\",b=\"2\"}} 1\nk{{a=\"2\",b=\"1\"}} 1\nk{{b=\"1\",a=\"1\"}} 1\n",
            many.join(","),
            reversed.join(",")
        );
        let read = lenient(&text);
        assert_eq!(names(&read.families), ["k"]);
        assert_eq!(read.families[0].metrics.len(), 3, "different sets are kept");
        assert_eq!(read.dropped_count(DropReason::RepeatedSeries), 1);
    }

    #[test]
    fn many_labels_on_a_line_are_read_in_linear_time() {
        let labels: Vec<String> = (0..50_000).map(|n| format!("l{n}=\"v\"")).collect();
        let line = format!("wide{{{}}} 1\n", labels.join(","));
        let started = std::time::Instant::now();
        let families = parse(line.as_bytes()).unwrap();
        assert_eq!(families[0].metrics[0].labels.len(), 50_000);
        // Scanning 50,000 names for every label took 13.7 s; a set takes milliseconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let repeated = format!("wide{{{},l7=\"again\"}} 1\n", labels.join(","));
        assert_eq!(
            parse(repeated.as_bytes()).unwrap_err().to_string(),
            "line 1: duplicate label names for metric \"wide\""
        );
    }
}
