//! Validation: every problem of a configuration file at once, each with file, line, column,
//! flag and field (the rules: `docs/configuration.md`).
//!
//! 1. Limits: the file must exist, be at most [`Limits::max_file_size`] bytes and not be empty;
//!    tables and arrays may nest at most [`Limits::max_depth`] deep.
//! 2. Syntax: the TOML parser recovers after an error, so every syntax error is reported.
//! 3. Names and types: flag, experiment and variant names follow the naming rule of
//!    [`vexil_build`] (the same functions, so a file that validates generates `FlagId`s);
//!    each flag and experiment is deserialized on its own, so a typo in one flag does not hide
//!    the problems of the next; an unknown field (`enabeld`), a wrong type, an offset-less
//!    date-time, an unknown environment or operator is reported at its key, then left out so
//!    that the rest of the flag is still deserialized and checked.
//! 4. Semantics: the core compiler's rules (ranges, CIDRs, prerequisites, experiments,
//!    capacity, ...), each pointed at the key it is about.
//!
//! Warnings (valid, but reported): a compiled-in flag missing from the file, a flag in the
//! file that the binary was not built with, a CIDR with host bits set.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;
use vexil_core::compile::{Compiled, CompiledTable};
use vexil_core::diagnostics::Step;
use vexil_core::model::{Config, Experiment, FeatureFlag, Segment, Targets};
use vexil_core::{Diagnostic, FieldPath, Scope, Severity};

use vexil_build::check_names;

use crate::digest::Digest;
pub use vexil_build::line_column;

/// Size and shape limits of a configuration file.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest file accepted, in bytes (default 1 MiB).
    pub max_file_size: u64,
    /// How deep tables and arrays may nest (default 10; the deepest valid key,
    /// `features.NAME.conditions.custom[i].values[j]`, is 6).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 1024 * 1024,
            max_depth: 10,
        }
    }
}

/// One problem of a file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given.
    pub file: String,
    /// 1-based line; 0 when the problem has no position in the file (the file as a whole,
    /// or a compiled-in flag the file does not define). Such a problem prints as
    /// `FILE: error: MESSAGE`; `vexil validate --format json` gives it `"line": 0`.
    pub line: usize,
    /// 1-based column in characters (0 with line 0).
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// The flag the problem is about.
    pub flag: Option<String>,
    /// The experiment the problem is about.
    pub experiment: Option<String>,
    /// The segment the problem is about.
    pub segment: Option<String>,
    /// The field inside the flag or experiment (`targets.ip_ranges[0]`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem with the file as a whole (no position): unreadable, too large, empty.
    pub fn whole_file(file: &str, message: String) -> Problem {
        Problem {
            file: file.to_owned(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            flag: None,
            experiment: None,
            segment: None,
            field: None,
            message,
        }
    }

    /// Whether this is an error (the file is rejected).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: ", self.file, self.severity.as_str())?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}: ",
                self.file,
                self.line,
                self.column,
                self.severity.as_str()
            )?;
        }
        let item = [
            ("flag", &self.flag),
            ("experiment", &self.experiment),
            ("segment", &self.segment),
        ]
        .into_iter()
        .find_map(|(kind, name)| Some((kind, name.as_deref()?)));
        match (item, &self.field) {
            (Some((kind, name)), Some(field)) => write!(f, "{kind} `{name}`, field `{field}`: ")?,
            (Some((kind, name)), None) => write!(f, "{kind} `{name}`: ")?,
            (None, Some(field)) => write!(f, "`{field}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// The problems of a rejected file (errors first, then warnings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected(pub Vec<Problem>);

impl Rejected {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.is_error())
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

/// A valid configuration: the model, its compiled table and its identity.
#[derive(Debug)]
pub struct Validated<const N: usize> {
    /// The configuration.
    pub config: Config,
    /// The compiled table, its digest set, ready to publish.
    pub table: CompiledTable<N>,
    /// SHA-256 of the file's bytes.
    pub sha256: Digest,
    /// Warnings.
    pub warnings: Vec<Problem>,
}

/// Lowercase hex of a digest (as audit records store it).
pub(crate) fn hex(digest: &Digest) -> String {
    digest.to_string()
}

/// Reads and validates a file (only a regular file is read, at most the size limit).
pub fn validate_file<const N: usize>(
    path: &Path,
    known: &[&str],
    limits: &Limits,
) -> Result<Validated<N>, Rejected> {
    let file = path.display().to_string();
    let bytes = crate::file::read_regular(path, limits.max_file_size).map_err(|e| {
        let message = match e {
            crate::file::ReadError::Missing => "cannot read: the file does not exist".to_owned(),
            crate::file::ReadError::Unsettled => {
                "the file kept changing while it was read".to_owned()
            }
            crate::file::ReadError::Failed { message, .. } => message,
        };
        Rejected(vec![Problem::whole_file(&file, message)])
    })?;
    validate_bytes(&bytes, &file, known, limits)
}

/// Validates the bytes of a file; `file` names it in problems.
pub fn validate_bytes<const N: usize>(
    bytes: &[u8],
    file: &str,
    known: &[&str],
    limits: &Limits,
) -> Result<Validated<N>, Rejected> {
    validate_digested(bytes, Digest::of(bytes), file, known, limits)
}

/// [`validate_bytes`], for bytes whose digest the caller has already computed (a reload
/// hashes the file once).
pub(crate) fn validate_digested<const N: usize>(
    bytes: &[u8],
    digest: Digest,
    file: &str,
    known: &[&str],
    limits: &Limits,
) -> Result<Validated<N>, Rejected> {
    let whole = |m: String| Rejected(vec![Problem::whole_file(file, m)]);
    if bytes.len() as u64 > limits.max_file_size {
        return Err(whole(format!(
            "the file is {} bytes, more than the limit of {}",
            bytes.len(),
            limits.max_file_size
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(file, bytes, &e))?;
    if text.trim().is_empty() {
        return Err(whole("the file is empty".to_owned()));
    }
    let mut v = Validator {
        file,
        text,
        problems: Vec::new(),
        left_out: Vec::new(),
    };
    let (root, syntax) = DeTable::parse_recoverable(text);
    for e in syntax {
        let Some(span) = e.span() else {
            // No position: reported as a problem of the whole file.
            let message = e.message().trim_end().to_owned();
            v.push(0, 0, Severity::Error, None, &FieldPath::new(), message);
            continue;
        };
        // The parser says only "duplicate key": name the flag or experiment, the key, and
        // where it was first defined, from the recovered document.
        let duplicate = (e.message().trim_end() == "duplicate key")
            .then(|| duplicate(&root, text, span.clone()))
            .flatten();
        match duplicate {
            Some(d) => {
                let (scope, field) = scope_and_field(&d.path);
                v.at(span, Severity::Error, scope.as_ref(), &field, d.message);
            }
            None => v.at(
                span,
                Severity::Error,
                None,
                &FieldPath::new(),
                e.message().trim_end().to_owned(),
            ),
        }
    }
    if v.has_errors() {
        return Err(v.finish());
    }
    v.check_depth(root.get_ref(), limits.max_depth);
    if v.has_errors() {
        return Err(v.finish());
    }
    v.check_names(root.get_ref());
    let config = v.deserialize(&root);
    if config.features.is_empty() && config.experiments.is_empty() && !v.has_errors() {
        v.problems.push(Problem::whole_file(
            file,
            "the file defines no flags (only comments or empty tables); an empty configuration \
             would turn every flag off"
                .to_owned(),
        ));
    }
    let compiled: Option<Compiled<N>> = match vexil_core::compile::<N>(&config, known) {
        Ok(c) => {
            for w in &c.warnings {
                v.diagnostic(&root, w);
            }
            Some(c)
        }
        Err(diags) => {
            for d in &diags.0 {
                v.diagnostic(&root, d);
            }
            None
        }
    };
    match compiled {
        Some(c) if !v.has_errors() => {
            let mut table = c.table;
            table.set_digest(*digest.as_bytes());
            let mut warnings = v.problems;
            // In file order, as a rejected file's problems are.
            warnings.sort_by_key(|p| (p.line, p.column));
            Ok(Validated {
                config,
                table,
                sha256: digest,
                warnings,
            })
        }
        _ => Err(v.finish()),
    }
}

/// The one problem of a file that is not UTF-8, at its first bad byte (the line and column
/// count the valid text before it).
fn not_utf8(file: &str, bytes: &[u8], e: &std::str::Utf8Error) -> Rejected {
    let valid = &bytes[..e.valid_up_to()];
    // `valid_up_to` ends on a character boundary by definition.
    let before = std::str::from_utf8(valid).unwrap_or_default();
    let (line, column) = line_column(before, before.len());
    let message = match e.error_len() {
        Some(_) => format!(
            "the file is not UTF-8: byte {:#04x} does not begin a valid UTF-8 character",
            bytes[e.valid_up_to()]
        ),
        None => "the file is not UTF-8: it ends inside a UTF-8 character".to_owned(),
    };
    let mut p = Problem::whole_file(file, message);
    (p.line, p.column) = (line, column);
    Rejected(vec![p])
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
    /// Parts of flags and experiments that deserialization left out after reporting them
    /// (see [`Validator::deserialize_item`]): the compiler's diagnostics inside them are
    /// consequences of leaving them out, not problems of the file.
    left_out: Vec<(Scope, FieldPath)>,
}

impl Validator<'_> {
    fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    fn finish(mut self) -> Rejected {
        // Errors first, each group in file order.
        self.problems
            .sort_by_key(|p| (p.severity != Severity::Error, p.line, p.column));
        Rejected(self.problems)
    }

    fn at(
        &mut self,
        span: Range<usize>,
        severity: Severity,
        scope: Option<&Scope>,
        field: &FieldPath,
        message: String,
    ) {
        let (line, column) = line_column(self.text, span.start);
        self.push(line, column, severity, scope, field, message);
    }

    /// A problem at a line and column (0 and 0: no position), in a field unless `field`
    /// writes nothing.
    fn push(
        &mut self,
        line: usize,
        column: usize,
        severity: Severity,
        scope: Option<&Scope>,
        field: &FieldPath,
        message: String,
    ) {
        let name = |want: &str| match scope.and_then(Scope::item) {
            Some((section, name)) if section == want => Some(name.to_owned()),
            _ => None,
        };
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            column,
            severity,
            flag: name("features"),
            experiment: name("experiments"),
            segment: name("segments"),
            field: Some(field.to_string()).filter(|f| !f.is_empty()),
            message,
        });
    }

    /// Reports tables and arrays nested deeper than `max`, naming the flag or experiment.
    fn check_depth(&mut self, root: &DeTable<'_>, max: usize) {
        for (section, value) in root {
            let DeValue::Table(items) = value.get_ref() else {
                continue;
            };
            for (name, item) in items {
                let scope = Scope::of_item(section.get_ref(), name.get_ref());
                self.check_value_depth(item, item, 3, max, scope.as_ref());
            }
        }
    }

    fn check_value_depth(
        &mut self,
        item: &Spanned<DeValue<'_>>,
        value: &Spanned<DeValue<'_>>,
        depth: usize,
        max: usize,
        scope: Option<&Scope>,
    ) {
        let children: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::Table(t) => t.values().collect(),
            DeValue::Array(a) => a.iter().collect(),
            _ => return,
        };
        if depth > max {
            let field = field_at(item, value.span().start);
            let message = format!("tables and arrays nest more than {max} deep");
            self.at(value.span(), Severity::Error, scope, &field, message);
            return;
        }
        for child in children {
            self.check_value_depth(item, child, depth + 1, max, scope);
        }
    }

    /// Checks the names of the flags, of the experiments and of each experiment's variants
    /// against the naming rule ([`vexil_build::check_names`]), each at its key (a variant's
    /// at its `name` value), in file order so that a clash is reported at the later name.
    fn check_names(&mut self, root: &DeTable<'_>) {
        let sections = [
            ("features", "flag"),
            ("experiments", "experiment"),
            ("segments", "segment"),
        ];
        for (section, kind) in sections {
            let Some(DeValue::Table(items)) = root.get(section).map(Spanned::get_ref) else {
                continue;
            };
            let mut keys: Vec<&Spanned<std::borrow::Cow<'_, str>>> = items.keys().collect();
            keys.sort_by_key(|k| k.span().start);
            let names: Vec<&str> = keys.iter().map(|k| k.get_ref().as_ref()).collect();
            for p in check_names(kind, &names) {
                let (key, name) = (keys[p.index], names[p.index]);
                // Segments become no identifier: only the naming rule applies to them, not
                // the clash of two names on one identifier.
                if kind == "segment" && vexil_build::identifier(name).is_ok() {
                    continue;
                }
                // The core compiler reports an empty flag name.
                if kind == "flag" && name.is_empty() {
                    continue;
                }
                let scope = Scope::of_item(section, name);
                let whole = FieldPath::new();
                self.at(
                    key.span(),
                    Severity::Error,
                    scope.as_ref(),
                    &whole,
                    p.message,
                );
            }
            if kind == "experiment" {
                for (key, item) in items {
                    self.check_variant_names(key.get_ref(), item.get_ref());
                }
            }
            if kind == "flag" {
                for (key, item) in items {
                    self.check_flag_variant_names(key.get_ref(), item.get_ref());
                }
            }
        }
    }

    /// The variant names of one typed flag (the keys of its `variants` table), each at its key.
    fn check_flag_variant_names(&mut self, flag: &str, item: &DeValue<'_>) {
        let Some(DeValue::Table(variants)) = item.get("variants").map(Spanned::get_ref) else {
            return;
        };
        let mut named: Vec<(&str, Range<usize>, FieldPath)> = variants
            .keys()
            .map(|k| {
                let name = k.get_ref().as_ref();
                let field = FieldPath::new().key("variants").key(name.to_owned());
                (name, k.span(), field)
            })
            .collect();
        named.sort_by_key(|(_, span, _)| span.start);
        self.check_variant_list(&Scope::Feature(flag.to_owned()), &named);
    }

    /// The variant names of one experiment (those that are strings: a wrong type is reported
    /// by deserialization).
    fn check_variant_names(&mut self, experiment: &str, item: &DeValue<'_>) {
        let Some(DeValue::Array(variants)) = item.get("variants").map(Spanned::get_ref) else {
            return;
        };
        let named: Vec<(&str, Range<usize>, FieldPath)> = variants
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let name = v.get_ref().get("name")?;
                let field = FieldPath::new().key("variants").index(i).key("name");
                Some((name.get_ref().as_str()?, name.span(), field))
            })
            .collect();
        self.check_variant_list(&Scope::Experiment(experiment.to_owned()), &named);
    }

    /// Variant names, in file order, against the naming rule (clashes included), each reported
    /// at its span and field.
    fn check_variant_list(&mut self, scope: &Scope, named: &[(&str, Range<usize>, FieldPath)]) {
        let names: Vec<&str> = named.iter().map(|(name, _, _)| *name).collect();
        for p in check_names("variant", &names) {
            let (_, span, field) = &named[p.index];
            self.at(span.clone(), Severity::Error, Some(scope), field, p.message);
        }
    }

    /// Deserializes each flag and experiment on its own ([`Validator::deserialize_item`]); a
    /// flag that cannot be deserialized is kept as a disabled placeholder so that other flags
    /// naming it are not reported as unknown.
    fn deserialize(&mut self, root: &Spanned<DeTable<'_>>) -> Config {
        let mut config = Config::default();
        for (key, value) in root.get_ref() {
            match key.get_ref().as_ref() {
                "features" | "experiments" | "segments" => {}
                other => {
                    self.at(
                        key.span(),
                        Severity::Error,
                        None,
                        &FieldPath::new(),
                        format!("unknown top-level key `{other}` (expected `features`, `segments` or `experiments`)"),
                    );
                    continue;
                }
            }
            let section = key.get_ref().as_ref();
            let DeValue::Table(items) = value.get_ref() else {
                self.at(
                    value.span(),
                    Severity::Error,
                    None,
                    &FieldPath::new(),
                    format!("`{}` must be a table", key.get_ref()),
                );
                continue;
            };
            for (name, item) in items {
                let name_str = name.get_ref().to_string();
                let Some(scope) = Scope::of_item(section, &name_str) else {
                    continue;
                };
                match scope {
                    Scope::Feature(_) => {
                        let flag = self
                            .deserialize_item::<FeatureFlag>(item, &scope)
                            .unwrap_or_else(|| FeatureFlag::new(false));
                        config.features.insert(name_str, flag);
                    }
                    Scope::Segment(_) => {
                        // A segment that cannot be read is kept as a placeholder, so that rules
                        // naming it are not reported as naming an unknown segment (the file is
                        // rejected for the segment's own errors).
                        let segment = self
                            .deserialize_item::<Segment>(item, &scope)
                            .unwrap_or_else(|| Segment {
                                targets: Some(Targets::default()),
                                ..Segment::default()
                            });
                        config.segments.insert(name_str, segment);
                    }
                    _ => {
                        if let Some(e) = self.deserialize_item::<Experiment>(item, &scope) {
                            config.experiments.insert(name_str, e);
                        }
                    }
                }
            }
        }
        config
    }

    /// Deserializes one flag or experiment, reporting every field that fails rather than the
    /// first: serde stops at the first bad field, so after reporting it the field is left out
    /// of a copy of the item and deserialization runs again, at most [`MAX_REPAIRS`] times.
    ///
    /// * An unknown field, a wrong type or a bad value is reported and its key removed (a whole
    ///   list when the bad value is one of its elements, as removing an element would shift
    ///   the indices the next problems are reported at; a flag's whole `variants` when one of
    ///   its values is bad, as the rules and on/off variants naming it would fail).
    /// * A missing required field is reported, unless it is missing because it was removed
    ///   here. A flag's `enabled` is then set to `false` (a disabled flag is checked in full);
    ///   inside a list element (a custom constraint, a variant) the whole list is removed.
    /// * An experiment's `start_time` and `end_time`, and any other required field, cannot be
    ///   filled in without changing which experiments overlap: the experiment is given up
    ///   (`None`) after reporting.
    ///
    /// What a removal causes is not reported: the compiler's diagnostics inside a removed
    /// key, or inside the list element (`conditions.custom[0]`) holding it, are dropped.
    fn deserialize_item<T: for<'de> Deserialize<'de>>(
        &mut self,
        item: &Spanned<DeValue<'_>>,
        scope: &Scope,
    ) -> Option<T> {
        // The item is copied for repairs only once it fails: a valid item is cloned once, to
        // be deserialized (a reload of a large file clones every item).
        let original = item;
        let mut repaired: Option<Spanned<DeValue<'_>>> = None;
        let mut removed: Vec<FieldPath> = Vec::new();
        for _ in 0..MAX_REPAIRS {
            let current = repaired.as_ref().unwrap_or(original);
            let e = match T::deserialize(ValueDeserializer::from(current.clone())) {
                Ok(value) => return Some(value),
                Err(e) => e,
            };
            let item = repaired.get_or_insert_with(|| original.clone());
            let span = e.span().unwrap_or_else(|| item.span());
            // An error spanning the whole item (a missing field of the flag itself) is the
            // item's, even where the item's first key is a sub-table that starts where the
            // item does (`[features.a.conditions]` with no `[features.a]`).
            let path = if span == item.span() {
                FieldPath::new()
            } else {
                field_at(item, span.start)
            };
            let message = e.message().trim_end().to_owned();
            if let Some(missing) = missing_field(&message).map(str::to_owned) {
                let field = path.clone().key(missing.clone());
                if !removed.contains(&field) {
                    self.at(span, Severity::Error, Some(scope), &field, message);
                }
                if path.is_empty() {
                    if matches!(scope, Scope::Feature(_)) && missing == "enabled" {
                        insert_key(item, "enabled", DeValue::Boolean(false));
                        continue;
                    }
                    return None;
                }
                // Inside a list element: the list goes.
                let list = without_indices(path.steps());
                if list.is_empty() || !remove_key(item, list) {
                    return None;
                }
                self.left_out.push((scope.clone(), list.into()));
                removed.push(list.into());
                continue;
            }
            self.at(span, Severity::Error, Some(scope), &path, message);
            let mut key = without_indices(path.steps());
            // A bad variant value (an integer above i64::MAX) takes the whole `variants`
            // table: without one of its variants, what names it would be reported too.
            if matches!(scope, Scope::Feature(_))
                && matches!(key.first(), Some(Step::Key(k)) if k == "variants")
            {
                key = &key[..1];
            }
            let windows = matches!(scope, Scope::Experiment(_))
                && matches!(key, [Step::Key(k)] if k == "start_time" || k == "end_time");
            if key.is_empty() || windows || !remove_key(item, key) {
                return None;
            }
            self.left_out
                .push((scope.clone(), list_element(key).into()));
            removed.push(key.into());
        }
        None
    }

    /// A compiler diagnostic, at the key it is about; one about something the file does not
    /// have (a compiled-in flag it does not define) has no position.
    fn diagnostic(&mut self, root: &Spanned<DeTable<'_>>, d: &Diagnostic) {
        if self
            .left_out
            .iter()
            .any(|(scope, part)| *scope == d.scope && d.field.starts_with(part.steps()))
        {
            return;
        }
        // A segment left with neither part because its bad part was left out has been
        // reported for that part.
        let whole_segment = matches!(d.scope, Scope::Segment(_)) && d.field.is_empty();
        if whole_segment && self.left_out.iter().any(|(scope, _)| *scope == d.scope) {
            return;
        }
        let (line, column) = match span_of(root, d) {
            Some(span) => line_column(self.text, span.start),
            None => (0, 0),
        };
        self.push(
            line,
            column,
            d.severity,
            Some(&d.scope),
            &d.field,
            d.message.clone(),
        );
    }
}

/// A duplicate key or table, described: its full key path and the message.
struct Duplicate {
    /// `features`, `x`, `targets`, `node_ids`.
    path: Vec<Step>,
    message: String,
}

/// A table or array of the recovered document with a span of its own text: a `[header]`
/// table (whose span is its header only), or an inline `{ }` table or `[ ]` array (whose span
/// covers its body).
struct Container {
    span: Range<usize>,
    path: Vec<Step>,
    header: bool,
}

/// Every [`Container`] in a table, recursively.
fn containers(table: &DeTable<'_>, text: &str, path: &mut Vec<Step>, out: &mut Vec<Container>) {
    for (k, v) in table {
        path.push(key_step(k.get_ref()));
        value_containers(v, text, path, out);
        path.pop();
    }
}

fn value_containers(
    value: &Spanned<DeValue<'_>>,
    text: &str,
    path: &mut Vec<Step>,
    out: &mut Vec<Container>,
) {
    let first = text
        .get(value.span().start..)
        .and_then(|t| t.chars().next());
    match value.get_ref() {
        DeValue::Table(t) => {
            if matches!(first, Some('[' | '{')) {
                out.push(Container {
                    span: value.span(),
                    path: path.clone(),
                    header: first == Some('['),
                });
            }
            containers(t, text, path, out);
        }
        DeValue::Array(a) => {
            // An array of tables (`[[x]]`) has header tables as elements and no text of its
            // own; any other array is inline.
            let of_tables = a.iter().any(|e| {
                e.get_ref().is_table()
                    && text
                        .get(e.span().start..)
                        .is_some_and(|t| t.starts_with('['))
            });
            if first == Some('[') && !of_tables {
                out.push(Container {
                    span: value.span(),
                    path: path.clone(),
                    header: false,
                });
            }
            for (i, e) in a.iter().enumerate() {
                path.push(Step::Index(i));
                value_containers(e, text, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A key as written (`x`, `"has space"`, `'lit'`) without its quotes.
fn unquote(key: &str) -> String {
    let key = key.trim();
    for q in ['"', '\''] {
        if let Some(inner) = key.strip_prefix(q).and_then(|k| k.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    key.to_owned()
}

/// The keys of the table header on the line holding `at`, each as written with its byte
/// range, when that line is a header (`[a.b]` or `[[a.b]]`).
fn header_keys(text: &str, at: usize) -> Option<Vec<(&str, Range<usize>)>> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[line_start..line_end];
    let open = line.len() - line.trim_start().len();
    if !line[open..].starts_with('[') {
        return None;
    }
    let bytes = line.as_bytes();
    let mut i = open + 1;
    if bytes.get(i) == Some(&b'[') {
        i += 1;
    }
    let mut keys = Vec::new();
    loop {
        while bytes.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        let start = i;
        match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i += 1;
                while let Some(&b) = bytes.get(i) {
                    i += 1;
                    if b == b'\\' && q == b'"' {
                        i += 1;
                    } else if b == q {
                        break;
                    }
                }
            }
            _ => {
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                {
                    i += 1;
                }
            }
        }
        let end = i.min(line.len());
        if start == end {
            return None;
        }
        keys.push((&line[start..end], line_start + start..line_start + end));
        while bytes.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        if bytes.get(i) != Some(&b'.') {
            return Some(keys);
        }
        i += 1;
    }
}

/// The dotted keys written before the key at `at` (`targets.` before `node_ids`), unquoted,
/// outermost first.
fn dotted_prefix(text: &str, at: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut prefix = Vec::new();
    let mut i = at;
    let skip_blanks = |mut i: usize| {
        while i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            i -= 1;
        }
        i
    };
    loop {
        i = skip_blanks(i);
        if i == 0 || bytes[i - 1] != b'.' {
            break;
        }
        i = skip_blanks(i - 1);
        let end = i;
        match bytes.get(i.wrapping_sub(1)) {
            Some(&q @ (b'"' | b'\'')) => {
                i -= 1;
                while i > 0 {
                    i -= 1;
                    if bytes[i] == q && (i == 0 || bytes[i - 1] != b'\\') {
                        break;
                    }
                }
            }
            _ => {
                while i > 0
                    && (bytes[i - 1].is_ascii_alphanumeric()
                        || bytes[i - 1] == b'_'
                        || bytes[i - 1] == b'-')
                {
                    i -= 1;
                }
            }
        }
        if i == end || !text.is_char_boundary(i) {
            break;
        }
        prefix.insert(0, unquote(&text[i..end]));
    }
    prefix
}

/// A key of the document as a step of a field path.
fn key_step(key: &str) -> Step {
    Step::Key(key.to_owned().into())
}

/// The child of a table (a key) or array (an index) at one step of a key path.
fn child<'a, 'i>(value: &'a DeValue<'i>, step: &Step) -> Option<&'a Spanned<DeValue<'i>>> {
    match (value, step) {
        (DeValue::Array(a), Step::Index(i)) => a.get(*i),
        (DeValue::Table(t), Step::Key(k)) => t.get(k.as_ref()),
        _ => None,
    }
}

/// The span of the key that first defined `path` in the recovered document.
fn first_key_span(root: &DeTable<'_>, path: &[Step]) -> Option<Range<usize>> {
    let (Step::Key(last), parents) = path.split_last()? else {
        return None;
    };
    let table = match parents.split_first() {
        None => root,
        Some((first, rest)) => {
            let Step::Key(first) = first else {
                return None;
            };
            let mut value = root.get(first.as_ref())?;
            for step in rest {
                value = child(value.get_ref(), step)?;
            }
            value.get_ref().as_table()?
        }
    };
    table.get_key_value(last.as_ref()).map(|(k, _)| k.span())
}

/// Describes the duplicate key the parser reported at `span`: the table header defined a
/// second time, or the key set a second time (inside a header table, a dotted key or an
/// inline table), with the line of the first definition where the document still has it.
fn duplicate(root: &Spanned<DeTable<'_>>, text: &str, span: Range<usize>) -> Option<Duplicate> {
    let key = unquote(text.get(span.clone())?);
    let mut all = Vec::new();
    containers(root.get_ref(), text, &mut Vec::new(), &mut all);
    // Inside an inline table or array: the innermost one holding the key.
    let inline = all
        .iter()
        .filter(|c| !c.header && c.span.start < span.start && span.end <= c.span.end)
        .min_by_key(|c| c.span.len());
    if inline.is_none() {
        if let Some(keys) = header_keys(text, span.start) {
            // A header: the table it names, up to the key reported, is defined again.
            let upto = keys.iter().position(|(_, r)| r.contains(&span.start))?;
            let written: Vec<&str> = keys[..=upto].iter().map(|(k, _)| *k).collect();
            return Some(Duplicate {
                path: written.iter().map(|k| key_step(&unquote(k))).collect(),
                message: format!(
                    "the table `[{}]` is defined again (a table is defined once)",
                    written.join(".")
                ),
            });
        }
    }
    // A key in the body of the latest header before it (the root before any header).
    let base = match inline {
        Some(c) => c.path.clone(),
        None => all
            .iter()
            .filter(|c| c.header && c.span.start <= span.start)
            .max_by_key(|c| (c.span.start, c.path.len()))
            .map(|c| c.path.clone())
            .unwrap_or_default(),
    };
    let mut path = base;
    path.extend(dotted_prefix(text, span.start).iter().map(|k| key_step(k)));
    path.push(key_step(&key));
    let first = first_key_span(root.get_ref(), &path)
        .filter(|first| first.start < span.start)
        .map(|first| format!(" (first at line {})", line_column(text, first.start).0))
        .unwrap_or_default();
    Some(Duplicate {
        path,
        message: format!("the key `{key}` is defined again{first}"),
    })
}

/// The flag or experiment a key path is in, and the field inside it (`targets.node_ids`,
/// `variants[0].name`); for a path outside both, the whole path as the field.
fn scope_and_field(path: &[Step]) -> (Option<Scope>, FieldPath) {
    if let [Step::Key(section), Step::Key(name), rest @ ..] = path {
        if let Some(scope) = Scope::of_item(section, name) {
            return (Some(scope), rest.into());
        }
    }
    (None, path.into())
}

/// How many fields of one flag or experiment are reported and left out before the rest of it
/// is given up on.
const MAX_REPAIRS: usize = 32;

/// `missing field `enabled`` -> `enabled`.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(field, _)| field)
}

/// A field path without its trailing list indices: the key holding the value.
/// `targets.environments[0]` -> `targets.environments`.
fn without_indices(path: &[Step]) -> &[Step] {
    let keep = path
        .iter()
        .rposition(|step| matches!(step, Step::Key(_)))
        .map_or(0, |last_key| last_key + 1);
    &path[..keep]
}

/// The list element holding a field, or the field itself when it is in none:
/// `conditions.custom[0].value` -> `conditions.custom[0]`, `rollout_percentage` -> itself.
fn list_element(path: &[Step]) -> &[Step] {
    match path.iter().rposition(|step| matches!(step, Step::Index(_))) {
        Some(last_index) => &path[..=last_index],
        None => path,
    }
}

/// The table at a field path, for changing it.
fn table_at<'a, 'i>(
    item: &'a mut Spanned<DeValue<'i>>,
    steps: &[Step],
) -> Option<&'a mut DeTable<'i>> {
    let mut value = item.get_mut();
    for step in steps {
        value = match (value, step) {
            (DeValue::Table(t), Step::Key(k)) => t.get_mut(k.as_ref())?.get_mut(),
            (DeValue::Array(a), Step::Index(i)) => a.get_mut(*i)?.get_mut(),
            _ => return None,
        };
    }
    match value {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

/// Removes the key at a field path (`conditions.after`); whether there was one.
fn remove_key(item: &mut Spanned<DeValue<'_>>, field: &[Step]) -> bool {
    let Some((Step::Key(last), parents)) = field.split_last() else {
        return false;
    };
    table_at(item, parents).is_some_and(|t| t.remove(last.as_ref()).is_some())
}

/// Adds a top-level key to an item, spanning the item (it is not in the file).
fn insert_key<'i>(item: &mut Spanned<DeValue<'i>>, key: &'static str, value: DeValue<'i>) {
    let span = item.span();
    if let DeValue::Table(t) = item.get_mut() {
        t.insert(
            Spanned::new(span.clone(), std::borrow::Cow::Borrowed(key)),
            Spanned::new(span, value),
        );
    }
}

/// The span of the deepest existing key on a diagnostic's path: the key itself for a whole
/// flag, the value for a field.
fn span_of(root: &Spanned<DeTable<'_>>, d: &Diagnostic) -> Option<Range<usize>> {
    let Some((section, name)) = d.scope.item() else {
        let (k, v) = root.get_ref().get_key_value("features")?;
        return Some(if d.field.is_empty() {
            v.span()
        } else {
            k.span()
        });
    };
    let section = root.get_ref().get(section)?;
    let DeValue::Table(items) = section.get_ref() else {
        return Some(section.span());
    };
    let (key, mut value) = items.get_key_value(name)?;
    let mut best = key.span();
    for step in d.field.steps() {
        match child(value.get_ref(), step) {
            Some(n) => {
                value = n;
                best = n.span();
            }
            None => break,
        }
    }
    Some(best)
}

/// The field path (`targets.ip_ranges[1]`) of the deepest key or value at `offset`; empty
/// when the value itself is the deepest.
///
/// Tables are searched whatever their own span: a `[features.a.conditions]` header table's
/// span covers its header, not its body.
fn field_at(value: &Spanned<DeValue<'_>>, offset: usize) -> FieldPath {
    fn walk(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<Step>) -> bool {
        match value.get_ref() {
            DeValue::Table(t) => {
                for (k, v) in t {
                    path.push(key_step(k.get_ref()));
                    if k.span().contains(&offset) || walk(v, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Step::Index(i));
                    if walk(v, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        value.span().contains(&offset)
    }
    let mut path = Vec::new();
    walk(value, offset, &mut path);
    path.into()
}

/// Reads and validates a file for a table of the default capacity with no compiled-in flags,
/// and returns the configuration (warnings are dropped; use [`validate_file`] to see them).
pub fn read_config(path: impl AsRef<Path>) -> Result<Config, Rejected> {
    validate_file::<{ vexil_core::DEFAULT_CAPACITY }>(path.as_ref(), &[], &Limits::default())
        .map(|v| v.config)
}

/// Validates configuration text for a table of the default capacity with no compiled-in
/// flags, and returns the configuration.
pub fn parse_config(text: &str, file: &str) -> Result<Config, Rejected> {
    validate_bytes::<{ vexil_core::DEFAULT_CAPACITY }>(
        text.as_bytes(),
        file,
        &[],
        &Limits::default(),
    )
    .map(|v| v.config)
}
