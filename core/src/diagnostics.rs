//! Diagnostics: the problems compilation finds in a configuration, each naming its flag or
//! experiment and the field inside it, so that the std adapter can point at file, line and
//! column.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Valid, but worth a look.
    Warning,
    /// The configuration is rejected.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What part of the configuration a problem is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The configuration as a whole.
    Config,
    /// `[features.NAME]`.
    Feature(String),
    /// `[experiments.NAME]`.
    Experiment(String),
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The flag or experiment.
    pub scope: Scope,
    /// The field path inside it, e.g. `targets.ip_ranges[0]`; empty for the whole item.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(
        severity: Severity,
        scope: &Scope,
        field: impl Into<String>,
        message: String,
    ) -> Self {
        Diagnostic {
            severity,
            scope: scope.clone(),
            field: field.into(),
            message,
        }
    }

    /// The flag this problem is about, if any.
    pub fn flag(&self) -> Option<&str> {
        match &self.scope {
            Scope::Feature(f) => Some(f),
            _ => None,
        }
    }

    /// The TOML key path of the problem: `features.NAME.FIELD`.
    pub fn key_path(&self) -> String {
        let base = match &self.scope {
            Scope::Config => String::new(),
            Scope::Feature(f) => format!("features.{f}"),
            Scope::Experiment(e) => format!("experiments.{e}"),
        };
        match (base.is_empty(), self.field.is_empty()) {
            (true, _) => self.field.clone(),
            (false, true) => base,
            (false, false) => format!("{base}.{}", self.field),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity.as_str(), self.message)?;
        let path = self.key_path();
        if !path.is_empty() {
            write!(f, " (at `{path}`)")?;
        }
        Ok(())
    }
}

/// Every problem of a configuration; an error among them means it was rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub(crate) fn error(&mut self, scope: &Scope, field: impl Into<String>, message: String) {
        self.0
            .push(Diagnostic::new(Severity::Error, scope, field, message));
    }

    pub(crate) fn warning(&mut self, scope: &Scope, field: impl Into<String>, message: String) {
        self.0
            .push(Diagnostic::new(Severity::Warning, scope, field, message));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl core::error::Error for Diagnostics {}
