//! Reading configuration files.
//!
//! Syntax and type errors (unknown fields, wrong types, offset-less date-times, unknown
//! environments or operators) are reported as `FILE:LINE:COLUMN: error: MESSAGE`, naming the
//! flag whose table holds the error.

use std::fmt;
use std::path::Path;

use vexil_core::model::Config;

/// The largest configuration file accepted.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// A problem in a configuration file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The file, as given.
    pub file: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The flag whose table holds the problem, if any.
    pub flag: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: ", self.file, self.line, self.column)?;
        if let Some(flag) = &self.flag {
            write!(f, "flag `{flag}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// Reads and parses a configuration file (at most [`MAX_FILE_SIZE`] bytes, not empty).
pub fn read(path: impl AsRef<Path>) -> Result<Config, LoadError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let whole = |message: String| LoadError {
        file: file.clone(),
        line: 0,
        column: 0,
        flag: None,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| whole(format!("cannot read: {e}")))?
        .len();
    if size > MAX_FILE_SIZE {
        return Err(whole(format!(
            "the file is {size} bytes, more than the limit of {MAX_FILE_SIZE}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    parse(&text, &file)
}

/// Parses configuration text; `file` names it in errors. A text without any flag or
/// experiment is rejected like an empty file.
pub fn parse(text: &str, file: &str) -> Result<Config, LoadError> {
    if text.trim().is_empty() {
        return Err(LoadError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            flag: None,
            message: "the file is empty".to_owned(),
        });
    }
    let config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = line_column(text, offset);
        LoadError {
            file: file.to_owned(),
            line,
            column,
            flag: enclosing_flag(text, offset),
            message: e.message().trim_end().to_owned(),
        }
    })?;
    if config.features.is_empty() && config.experiments.is_empty() {
        return Err(LoadError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            flag: None,
            message: "the file defines no flags (only comments or empty tables); an empty \
                      configuration would turn every flag off"
                .to_owned(),
        });
    }
    Ok(config)
}

/// 1-based line and character column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The flag of the nearest `[features.NAME...]` header above `offset`.
fn enclosing_flag(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    before.lines().rev().find_map(|l| {
        let header = l.trim().strip_prefix('[')?.trim_start_matches('[');
        let rest = header.trim().strip_prefix("features.")?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        (!name.is_empty()).then_some(name)
    })
}
