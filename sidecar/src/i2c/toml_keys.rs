//! A TOML table read key by key, so every error names the file, the line and the key
//! as a path (`value[1].width`), and a key nobody asked for is reported instead of
//! ignored. It knows TOML and [`I2cConfigError`], nothing of sensors or drivers: the
//! sensor file's layout is `source`'s, each driver's options are the driver's.
//!
//! serde's derive would give messages without the key for type errors; reading
//! toml's spanned document tree by hand gives both.

use std::ops::RangeInclusive;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::I2cConfigError;

/// A parsed TOML file, and where its text came from for error positions.
pub(crate) struct Document<'i> {
    file: FileText<'i>,
    root: Spanned<DeTable<'i>>,
}

impl<'i> Document<'i> {
    /// Parses `text`; a syntax error names `origin` and the line.
    pub fn parse(text: &'i str, origin: &'i str) -> Result<Self, I2cConfigError> {
        let file = FileText { origin, text };
        let root = DeTable::parse(text).map_err(|error| {
            I2cConfigError::new(
                origin,
                error.span().map(|span| file.line_of(span.start)),
                None,
                error.message().trim_end(),
            )
        })?;
        Ok(Document { file, root })
    }

    /// The top-level table.
    pub fn keys(&self) -> Keys<'_, 'i> {
        Keys::new(self.file, String::new(), None, self.root.get_ref())
    }
}

/// The file's name and text, for error positions.
#[derive(Debug, Clone, Copy)]
struct FileText<'a> {
    origin: &'a str,
    text: &'a str,
}

impl FileText<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let bytes = self.text.as_bytes();
        bytes[..offset.min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// One table of the file, handing out its keys.
pub(crate) struct Keys<'a, 'i> {
    file: FileText<'a>,
    /// `""` for the top level, else `read`, `value[0]`, `names`.
    path: String,
    /// The table's own line (its header); `None` for the top level.
    line: Option<usize>,
    table: &'a DeTable<'i>,
    /// Every key asked for, present or not: the list shown with an unknown key.
    asked: Vec<&'static str>,
}

type Value<'a, 'i> = &'a Spanned<DeValue<'i>>;

impl<'a, 'i> Keys<'a, 'i> {
    fn new(file: FileText<'a>, path: String, line: Option<usize>, table: &'a DeTable<'i>) -> Self {
        Keys {
            file,
            path,
            line,
            table,
            asked: Vec::new(),
        }
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn line_of_key(&self, key: &str) -> Option<usize> {
        match self.table.get_key_value(key) {
            Some((k, _)) => Some(self.file.line_of(k.span().start)),
            None => self.line,
        }
    }

    /// An error at `key` (at its line, or at the table's when it is missing).
    pub fn error(&self, key: &str, message: impl Into<String>) -> I2cConfigError {
        I2cConfigError::new(
            self.file.origin,
            self.line_of_key(key),
            Some(self.key_path(key)),
            message,
        )
    }

    /// An error at element `index` of the array `key`.
    fn element_error(
        &self,
        key: &str,
        index: usize,
        item: Value<'a, 'i>,
        message: impl Into<String>,
    ) -> I2cConfigError {
        I2cConfigError::new(
            self.file.origin,
            Some(self.file.line_of(item.span().start)),
            Some(format!("{}[{index}]", self.key_path(key))),
            message,
        )
    }

    pub fn missing(&self, key: &str, why: &str) -> I2cConfigError {
        self.error(key, format!("missing ({why})"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn get(&mut self, key: &'static str) -> Option<Value<'a, 'i>> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        self.table.get(key)
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &DeValue<'_>) -> I2cConfigError {
        self.error(
            key,
            format!("expected {expected}, found {}", found.type_str()),
        )
    }

    pub fn integer(&mut self, key: &'static str) -> Result<Option<i64>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match integer_of(value.get_ref()) {
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(error)) => Err(self.error(key, error.to_string())),
            None => Err(self.wrong_type(key, "an integer", value.get_ref())),
        }
    }

    pub fn integer_in(
        &mut self,
        key: &'static str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, I2cConfigError> {
        match self.integer(key)? {
            Some(n) if !range.contains(&n) => Err(self.error(
                key,
                format!("{n} is out of range {}..={}", range.start(), range.end()),
            )),
            other => Ok(other),
        }
    }

    /// A number: an integer is taken where a float is expected (`shunt_ohms = 1`).
    pub fn float(&mut self, key: &'static str) -> Result<Option<f64>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(number) = number_of(value.get_ref()) else {
            return Err(self.wrong_type(key, "a number", value.get_ref()));
        };
        match number {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(self.error(key, "must be a finite number")),
        }
    }

    /// An array of exactly `length` numbers (`shunt_ohms = [0.1, 0.1, 0.05]`).
    pub fn floats(
        &mut self,
        key: &'static str,
        length: usize,
    ) -> Result<Option<Vec<f64>>, I2cConfigError> {
        let Some(value) = self.array(key)? else {
            return Ok(None);
        };
        let items = Self::items(value);
        if items.len() != length {
            return Err(self.error(
                key,
                format!("has {} numbers, must have {length}", items.len()),
            ));
        }
        let mut numbers = Vec::with_capacity(length);
        for (index, item) in items.iter().enumerate() {
            match number_of(item.get_ref()) {
                Some(Some(n)) if n.is_finite() => numbers.push(n),
                _ => return Err(self.element_error(key, index, item, "must be a finite number")),
            }
        }
        Ok(Some(numbers))
    }

    pub fn boolean(&mut self, key: &'static str) -> Result<Option<bool>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(Some(*b)),
            other => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    pub fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::String(s) => Ok(Some(s.as_ref())),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// One of a fixed set of strings.
    pub fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, I2cConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        match choices.iter().find(|(name, _)| *name == text) {
            Some((_, choice)) => Ok(Some(*choice)),
            None => Err(self.error(
                key,
                format!(
                    "{text:?} is not one of {}",
                    quoted(choices.iter().map(|c| c.0))
                ),
            )),
        }
    }

    /// A Go duration string (`20ms`), at most `max`.
    pub fn duration(
        &mut self,
        key: &'static str,
        max: Duration,
    ) -> Result<Option<Duration>, I2cConfigError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        let duration = edge_common::duration::parse_go_duration(text)
            .map_err(|e| self.error(key, e.to_string()))?;
        if duration > max {
            return Err(self.error(key, format!("{text} is longer than {max:?}")));
        }
        Ok(Some(duration))
    }

    fn array(&mut self, key: &'static str) -> Result<Option<Value<'a, 'i>>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Array(_) => Ok(Some(value)),
            other => Err(self.wrong_type(key, "an array", other)),
        }
    }

    fn items(value: Value<'a, 'i>) -> &'a [Spanned<DeValue<'i>>] {
        match value.get_ref() {
            DeValue::Array(items) => items,
            _ => &[],
        }
    }

    /// An array of bytes (`command = [0x24, 0x00]`) of a length in `lengths`.
    pub fn bytes(
        &mut self,
        key: &'static str,
        lengths: RangeInclusive<usize>,
    ) -> Result<Option<Vec<u8>>, I2cConfigError> {
        let Some(value) = self.array(key)? else {
            return Ok(None);
        };
        let items = Self::items(value);
        if !lengths.contains(&items.len()) {
            return Err(self.error(
                key,
                format!(
                    "has {} bytes, must have {} to {}",
                    items.len(),
                    lengths.start(),
                    lengths.end()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match integer_of(item.get_ref())
                .and_then(Result::ok)
                .map(u8::try_from)
            {
                Some(Ok(byte)) => bytes.push(byte),
                _ => return Err(self.element_error(key, index, item, "must be a byte, 0 to 0xFF")),
            }
        }
        Ok(Some(bytes))
    }

    /// An array of strings, each with its index for errors.
    pub fn strings(&mut self, key: &'static str) -> Result<Option<Vec<&'a str>>, I2cConfigError> {
        let Some(value) = self.array(key)? else {
            return Ok(None);
        };
        let mut strings = Vec::new();
        for (index, item) in Self::items(value).iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => strings.push(s.as_ref()),
                other => {
                    return Err(self.element_error(
                        key,
                        index,
                        item,
                        format!("expected a string, found {}", other.type_str()),
                    ))
                }
            }
        }
        Ok(Some(strings))
    }

    /// The error for element `index` of the string array `key`.
    pub fn string_error(
        &self,
        key: &str,
        index: usize,
        message: impl Into<String>,
    ) -> I2cConfigError {
        match self.table.get(key) {
            Some(value) => match Self::items(value).get(index) {
                Some(item) => self.element_error(key, index, item, message),
                None => self.error(key, message),
            },
            None => self.error(key, message),
        }
    }

    /// A sub-table (`[read]`).
    pub fn table(&mut self, key: &'static str) -> Result<Option<Keys<'a, 'i>>, I2cConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Table(table) => Ok(Some(Keys::new(
                self.file,
                self.key_path(key),
                self.line_of_key(key),
                table,
            ))),
            other => Err(self.wrong_type(key, "a table", other)),
        }
    }

    /// An array of tables (`[[value]]`).
    pub fn tables(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Vec<Keys<'a, 'i>>>, I2cConfigError> {
        if let Some(DeValue::Table(_)) = self.table.get(key).map(Spanned::get_ref) {
            return Err(self.error(
                key,
                format!("write [[{key}]] (each one a table), not [{key}]"),
            ));
        }
        let Some(value) = self.array(key)? else {
            return Ok(None);
        };
        let mut tables = Vec::new();
        for (index, item) in Self::items(value).iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => tables.push(Keys::new(
                    self.file,
                    format!("{}[{index}]", self.key_path(key)),
                    Some(self.file.line_of(item.span().start)),
                    table,
                )),
                other => {
                    return Err(self.element_error(
                        key,
                        index,
                        item,
                        format!("expected a table, found {}", other.type_str()),
                    ))
                }
            }
        }
        Ok(Some(tables))
    }

    /// Every entry of this table as (key, string value), for `[names]`, whose keys
    /// are not known in advance (so there is no `finish` for such a table).
    pub fn string_entries(&self) -> Result<Vec<(&'a str, &'a str)>, I2cConfigError> {
        let mut entries = Vec::new();
        for (key, value) in self.table.iter() {
            match value.get_ref() {
                DeValue::String(s) => entries.push((key.get_ref().as_ref(), s.as_ref())),
                other => return Err(self.wrong_type(key.get_ref(), "a string", other)),
            }
        }
        // The map is ordered by key; errors should come in file order.
        entries.sort_by_key(|(key, _)| self.line_of_key(key));
        Ok(entries)
    }

    /// Fails on the first key (in file order) that nothing asked for.
    pub fn finish(self) -> Result<(), I2cConfigError> {
        let unknown = self
            .table
            .iter()
            .filter(|(key, _)| !self.asked.contains(&key.get_ref().as_ref()))
            .min_by_key(|(key, _)| key.span().start);
        match unknown {
            Some((key, _)) => Err(self.error(
                key.get_ref(),
                format!("unknown key (known here: {})", self.asked.join(", ")),
            )),
            None => Ok(()),
        }
    }
}

/// An integer literal too large for i64.
#[derive(Debug, thiserror::Error)]
#[error("integer {0} is out of range")]
struct OutOfRange(String);

/// `None` when `value` is not an integer.
fn integer_of(value: &DeValue<'_>) -> Option<Result<i64, OutOfRange>> {
    match value {
        DeValue::Integer(n) => {
            Some(i64::from_str_radix(n.as_str(), n.radix()).map_err(|_| OutOfRange(n.to_string())))
        }
        _ => None,
    }
}

/// `None` when `value` is not a number; `Some(None)` for one that does not parse.
/// An integer is taken where a float is expected (`shunt_ohms = 1`).
fn number_of(value: &DeValue<'_>) -> Option<Option<f64>> {
    match value {
        DeValue::Float(f) => Some(f.as_str().parse::<f64>().ok()),
        DeValue::Integer(_) => Some(integer_of(value).and_then(Result::ok).map(|n| n as f64)),
        _ => None,
    }
}

/// `"a", "b"` for messages.
pub(crate) fn quoted<'s>(names: impl Iterator<Item = &'s str>) -> String {
    names
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
