//! Diagnostics: the problems compilation finds in a configuration, each naming its flag or
//! experiment and the field inside it as a [`FieldPath`], so that the std adapter can point at
//! file, line and column.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
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
#[non_exhaustive]
pub enum Scope {
    /// The configuration as a whole.
    Config,
    /// `[features.NAME]`.
    Feature(String),
    /// `[experiments.NAME]`.
    Experiment(String),
    /// `[segments.NAME]`.
    Segment(String),
}

impl Scope {
    /// The top-level table and the name of the item (`("features", "alpha")`); `None` for the
    /// configuration as a whole.
    pub fn item(&self) -> Option<(&'static str, &str)> {
        match self {
            Scope::Config => None,
            Scope::Feature(f) => Some(("features", f)),
            Scope::Experiment(e) => Some(("experiments", e)),
            Scope::Segment(s) => Some(("segments", s)),
        }
    }

    /// The scope of the item `name` in the top-level table `section` (`features`,
    /// `experiments`, `segments`).
    pub fn of_item(section: &str, name: &str) -> Option<Scope> {
        let name = name.to_string();
        match section {
            "features" => Some(Scope::Feature(name)),
            "experiments" => Some(Scope::Experiment(name)),
            "segments" => Some(Scope::Segment(name)),
            _ => None,
        }
    }
}

/// One step of a [`FieldPath`]: a key of a table, or an index into an array.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A key (`conditions`; a flag's name under `feature_overrides`).
    Key(Cow<'static, str>),
    /// An index into an array (`[1]`).
    Index(usize),
}

/// Where a problem is inside its flag or experiment: the keys and indices from the item down,
/// e.g. `conditions`, `custom`, `[1]`, `value`. Empty for the item as a whole.
///
/// Displays as the path is written in the documentation and in `vexil validate`'s output,
/// `conditions.custom[1].value`; the std adapter walks its [`steps`](FieldPath::steps) to find
/// the field in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Step>);

impl FieldPath {
    /// The empty path: the item as a whole.
    pub const fn new() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path with a key under it.
    pub fn key(mut self, key: impl Into<Cow<'static, str>>) -> FieldPath {
        self.0.push(Step::Key(key.into()));
        self
    }

    /// This path with an array index under it.
    pub fn index(mut self, index: usize) -> FieldPath {
        self.0.push(Step::Index(index));
        self
    }

    /// Adds a step at the end.
    pub fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    /// The steps, outermost first.
    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// Whether the path is empty (the item as a whole).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `prefix`'s steps begin this path's (every path begins with the empty one).
    pub fn starts_with(&self, prefix: &[Step]) -> bool {
        self.0.starts_with(prefix)
    }
}

impl From<Vec<Step>> for FieldPath {
    fn from(steps: Vec<Step>) -> FieldPath {
        FieldPath(steps)
    }
}

impl From<&[Step]> for FieldPath {
    fn from(steps: &[Step]) -> FieldPath {
        FieldPath(steps.to_vec())
    }
}

impl FromIterator<Step> for FieldPath {
    fn from_iter<I: IntoIterator<Item = Step>>(steps: I) -> FieldPath {
        FieldPath(steps.into_iter().collect())
    }
}

impl fmt::Display for FieldPath {
    /// Keys joined by `.`, each index as `[i]` after its key: `conditions.custom[1].value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A dot goes between a key and what was written before it, if anything was (an empty
        // key writes nothing).
        let mut written = false;
        for step in &self.0 {
            match step {
                Step::Key(key) => {
                    if written {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                    written |= !key.is_empty();
                }
                Step::Index(i) => {
                    write!(f, "[{i}]")?;
                    written = true;
                }
            }
        }
        Ok(())
    }
}

/// A path equals a string when it displays as that string.
impl PartialEq<str> for FieldPath {
    fn eq(&self, text: &str) -> bool {
        /// What is left of the text after the path written so far; an error at a difference.
        struct Rest<'a>(&'a str);
        impl fmt::Write for Rest<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 = self.0.strip_prefix(s).ok_or(fmt::Error)?;
                Ok(())
            }
        }
        let mut rest = Rest(text);
        fmt::write(&mut rest, format_args!("{self}")).is_ok() && rest.0.is_empty()
    }
}

impl PartialEq<&str> for FieldPath {
    fn eq(&self, text: &&str) -> bool {
        *self == **text
    }
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The flag or experiment.
    pub scope: Scope,
    /// The field inside it, e.g. `targets.ip_ranges[0]`; empty for the whole item.
    pub field: FieldPath,
    /// What is wrong, for people.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(
        severity: Severity,
        scope: &Scope,
        field: FieldPath,
        message: String,
    ) -> Self {
        Diagnostic {
            severity,
            scope: scope.clone(),
            field,
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
        let base = match self.scope.item() {
            None => String::new(),
            Some((section, name)) => format!("{section}.{name}"),
        };
        match (base.is_empty(), self.field.is_empty()) {
            (true, _) => self.field.to_string(),
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

    pub(crate) fn error(&mut self, scope: &Scope, field: FieldPath, message: String) {
        self.0
            .push(Diagnostic::new(Severity::Error, scope, field, message));
    }

    pub(crate) fn warning(&mut self, scope: &Scope, field: FieldPath, message: String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_displays_as_it_is_written() {
        let custom = FieldPath::new()
            .key("conditions")
            .key("custom")
            .index(1)
            .key("value");
        assert_eq!(custom.to_string(), "conditions.custom[1].value");
        assert_eq!(custom, "conditions.custom[1].value");
        assert_ne!(custom, "conditions.custom[1]");
        assert_ne!(custom, "conditions.custom[1].value.x");
        assert_eq!(FieldPath::new().key("requires").index(0), "requires[0]");
        assert_eq!(FieldPath::new(), "");
        assert!(FieldPath::new().is_empty());
        // A key with nothing written before it takes no dot, an empty one included.
        let after_empty = FieldPath::new().key("").key("x");
        assert_eq!(after_empty.to_string(), "x");
        let overrides = FieldPath::new().key("feature_overrides").key("");
        assert_eq!(overrides.to_string(), "feature_overrides.");
    }

    #[test]
    fn a_path_starts_with_its_parents_steps_only() {
        let value = FieldPath::new().key("custom").index(1).key("value");
        let element = FieldPath::new().key("custom").index(1);
        assert!(value.starts_with(element.steps()));
        assert!(value.starts_with(&[]));
        assert!(!value.starts_with(FieldPath::new().key("custom").index(10).steps()));
        assert!(!element.starts_with(value.steps()));
    }
}
