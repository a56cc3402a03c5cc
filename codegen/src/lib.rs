//! # vexil-build
//!
//! Build-time flag IDs for [Vexil](https://example.invalid/vexil): reads a configuration file
//! and writes `enum FlagId`, the way `prost-build` writes protobuf types. It needs only `std`
//! and `toml`, so a build script that uses it builds nothing else of Vexil.
//!
//! ```toml
//! [build-dependencies]
//! vexil-build = { path = "../vexil/codegen" }   # or the git repository
//! ```
//!
//! ```no_run
//! // build.rs, in `fn main()`:
//! vexil_build::generate("config/features.toml").expect("flag ids");
//! ```
//!
//! ```ignore
//! // src/lib.rs
//! include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));
//! // ... flags.check(FlagId::ParallelValidation, &ctx)
//! ```
//!
//! The enum has one UpperCamelCase variant per flag (`parallel_validation` becomes
//! `ParallelValidation`), in name order; its discriminant is the flag's slot in a table made
//! with `FlagTable::new(&FlagId::NAMES)`. `FlagId::NAMES`, `FlagId::ALL`, `FlagId::COUNT`,
//! `FlagId::name()` and `FlagId::from_name()` come with it. Each variant's documentation is the
//! flag's `description`. The build script reruns when the file changes.
//!
//! # Names
//!
//! The naming rule of flags, experiments and experiment variants lives here, in [`identifier`]
//! and [`check_names`], and validation (`vexil validate`, `vexil::validate`) calls the same
//! functions, so a file that validates always generates, and the two word a problem alike:
//!
//! * a name starts with a lowercase ASCII letter (`a`-`z`) and continues with lowercase ASCII
//!   letters, digits, `_` and `-`, at most [`MAX_NAME_LEN`] characters in all;
//! * its identifier is the UpperCamelCase of its `_`/`-`-separated parts
//!   (`parallel_validation` and `parallel-validation` become `ParallelValidation`,
//!   `lighthouse_v5` becomes `LighthouseV5`);
//! * the identifier must not be one of [`RESERVED_IDENTIFIERS`] (`self` would become the
//!   keyword `Self`, `c_o_u_n_t` the generated constant `FlagId::COUNT`);
//! * two names of one kind (the flags; the experiments; the variants of one experiment) must
//!   not have the same identifier (`foo_bar` and `foo__bar` both become `FooBar`).
//!
//! Uppercase letters are refused rather than folded: `Foo` and `foo` would otherwise be two
//! flags with one identifier, and `COUNT` would be a flag shadowing `FlagId::COUNT`.
//!
//! This module only needs `toml` and `std`, so that this crate's own build script can compile
//! it too.

#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

/// The file [`generate`] writes into `OUT_DIR`.
pub const OUT_FILE: &str = "vexil_flags.rs";

/// Why flag IDs could not be generated.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodegenError {
    /// The configuration file could not be read, or the output not written.
    Io(PathBuf, std::io::Error),
    /// The configuration is not TOML, or has no usable `[features]` table.
    Parse(PathBuf, String),
    /// Flag names that break the naming rule (see the module docs), or that become the same
    /// identifier: every one, in file order, each with its position.
    Name(PathBuf, Vec<NameError>),
    /// `OUT_DIR` is not set (not running from a build script).
    NoOutDir,
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            CodegenError::Parse(p, e) => write!(f, "{}: error: {e}", p.display()),
            CodegenError::Name(p, errors) => {
                // One line per name, as `vexil validate` prints it.
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(
                        f,
                        "{}:{}:{}: error: {}",
                        p.display(),
                        e.line,
                        e.column,
                        e.message
                    )?;
                }
                Ok(())
            }
            CodegenError::NoOutDir => f.write_str("OUT_DIR is not set: call this from build.rs"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// A flag name that cannot become a `FlagId` variant, at its key in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    /// 1-based line of the flag's key.
    pub line: usize,
    /// 1-based column of the flag's key, in characters.
    pub column: usize,
    /// The flag.
    pub flag: String,
    /// What is wrong, as validation words it: ``flag `9lives`: a name must start ...``.
    pub message: String,
}

/// Reads `config`, writes `$OUT_DIR/vexil_flags.rs` and tells Cargo to rerun when the file
/// changes. The generated code names the crate `::vexil`; see [`generate_with`] for another
/// path.
pub fn generate(config: impl AsRef<Path>) -> Result<PathBuf, CodegenError> {
    generate_with(config, "::vexil")
}

/// [`generate`], with the path under which the generated code finds `FlagKey` (for crates
/// that depend on `vexil-core` directly, `::vexil_core`).
pub fn generate_with(config: impl AsRef<Path>, crate_path: &str) -> Result<PathBuf, CodegenError> {
    let config = config.as_ref();
    println!("cargo:rerun-if-changed={}", config.display());
    let text =
        std::fs::read_to_string(config).map_err(|e| CodegenError::Io(config.to_path_buf(), e))?;
    let source = flag_ids_source(&text, crate_path).map_err(|e| e.with_path(config))?;
    let out_dir = std::env::var_os("OUT_DIR").ok_or(CodegenError::NoOutDir)?;
    let out = Path::new(&out_dir).join(OUT_FILE);
    std::fs::write(&out, source).map_err(|e| CodegenError::Io(out.clone(), e))?;
    Ok(out)
}

impl CodegenError {
    fn with_path(self, path: &Path) -> CodegenError {
        match self {
            CodegenError::Parse(_, m) => CodegenError::Parse(path.to_path_buf(), m),
            CodegenError::Name(_, m) => CodegenError::Name(path.to_path_buf(), m),
            other => other,
        }
    }
}

/// The generated source for a configuration's text.
pub fn flag_ids_source(config_text: &str, crate_path: &str) -> Result<String, CodegenError> {
    let no_path = PathBuf::new;
    // Parsed with spans, so that a bad name is reported at its key.
    let root = DeTable::parse(config_text)
        .map_err(|e| CodegenError::Parse(no_path(), e.message().to_owned()))?;
    let empty = DeTable::new();
    let features = match root.get_ref().get("features").map(|v| v.get_ref()) {
        Some(DeValue::Table(t)) => t,
        Some(_) => {
            return Err(CodegenError::Parse(
                no_path(),
                "`features` must be a table".to_owned(),
            ))
        }
        None => &empty,
    };
    // (name, key span, description), in file order for the name checks.
    let mut flags: Vec<(&str, Range<usize>, Option<&str>)> = features
        .iter()
        .map(|(key, value)| {
            let description = value
                .get_ref()
                .get("description")
                .and_then(|d| d.get_ref().as_str());
            (key.get_ref().as_ref(), key.span(), description)
        })
        .collect();
    flags.sort_by_key(|f| f.1.start);
    let names: Vec<&str> = flags.iter().map(|f| f.0).collect();
    let problems = check_names("flag", &names);
    if !problems.is_empty() {
        let errors = problems
            .into_iter()
            .map(|p| {
                let (name, span, _) = &flags[p.index];
                let (line, column) = line_column(config_text, span.start);
                NameError {
                    line,
                    column,
                    flag: (*name).to_owned(),
                    message: format!("flag `{name}`: {}", p.message),
                }
            })
            .collect();
        return Err(CodegenError::Name(no_path(), errors));
    }
    let mut flags: Vec<(&str, String, Option<&str>)> = flags
        .into_iter()
        .map(|(name, _, description)| {
            // Checked above: every name has an identifier.
            let ident = identifier(name).unwrap_or_default();
            (name, ident, description)
        })
        .collect();
    flags.sort_by(|a, b| a.0.cmp(b.0));

    let n = flags.len();
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "// Generated by vexil-build. Do not edit.");
    let _ = writeln!(
        w,
        "/// The flags compiled into this binary; the discriminant is the flag's table slot."
    );
    let _ = writeln!(
        w,
        "#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]"
    );
    // 32 bits, not 16: a flag passed through memory (a stack slot, a struct field) is then
    // reloaded by a plain `mov` rather than a zero-extending `movzx` that waits for the store
    // before it (the measurement is in benches/NOTES.md).
    let _ = writeln!(w, "#[repr(u32)]");
    let _ = writeln!(w, "#[allow(dead_code)]");
    let _ = writeln!(w, "pub enum FlagId {{");
    for (i, (name, ident, description)) in flags.iter().enumerate() {
        // An attribute with an escaped string literal, not a `///` comment: the description
        // is free text, and a comment cannot hold every character (a bare CR is an error in
        // one, a newline would end it).
        let doc = match description {
            Some(d) if !d.is_empty() => format!("`{name}`: {d}"),
            _ => format!("`{name}`"),
        };
        let _ = writeln!(w, "    #[doc = {}]", string_literal(&doc));
        let _ = writeln!(w, "    {ident} = {i},");
    }
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "#[allow(dead_code)]");
    let _ = writeln!(w, "impl FlagId {{");
    let _ = writeln!(w, "    /// The number of compiled-in flags.");
    let _ = writeln!(w, "    pub const COUNT: usize = {n};");
    let _ = writeln!(w, "    /// Every flag, in slot order.");
    let _ = write!(w, "    pub const ALL: [FlagId; {n}] = [");
    for (_, ident, _) in &flags {
        let _ = write!(w, "FlagId::{ident}, ");
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(
        w,
        "    /// The flags' names, in slot order: pass to `FlagTable::new`."
    );
    let _ = write!(w, "    pub const NAMES: [&'static str; {n}] = [");
    for (name, _, _) in &flags {
        let _ = write!(w, "{name:?}, ");
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w, "    /// The flag's name in the configuration.");
    let _ = writeln!(
        w,
        "    pub const fn name(self) -> &'static str {{ Self::NAMES[self as usize] }}"
    );
    let _ = writeln!(w, "    /// The flag of a name, if it is compiled in.");
    let _ = writeln!(
        w,
        "    pub fn from_name(name: &str) -> ::core::option::Option<FlagId> {{"
    );
    let _ = writeln!(
        w,
        "        Self::NAMES.iter().position(|n| *n == name).map(|i| Self::ALL[i])"
    );
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "impl {crate_path}::FlagKey for FlagId {{");
    let _ = writeln!(w, "    #[inline(always)]");
    let _ = writeln!(w, "    fn index(self) -> usize {{ self as usize }}");
    let _ = writeln!(w, "    #[inline(always)]");
    let _ = writeln!(
        w,
        "    fn flag_name(self) -> ::core::option::Option<&'static str> {{ ::core::option::Option::Some(Self::NAMES[self as usize]) }}"
    );
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "impl ::core::fmt::Display for FlagId {{");
    let _ = writeln!(w, "    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{ f.write_str(self.name()) }}");
    let _ = writeln!(w, "}}");
    Ok(s)
}

/// A Rust string literal holding `text`: `str`'s `Debug` form escapes quotes, backslashes and
/// control characters (a CR becomes `\r`) with escapes that Rust string literals accept.
fn string_literal(text: &str) -> String {
    format!("{text:?}")
}

/// The longest name of a flag, experiment or variant, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Identifiers a name may not become.
///
/// `Self` is the only Rust keyword an identifier made here can be (every other keyword is
/// lowercase, and an identifier starts with an uppercase letter); it comes from the name
/// `self`. `ALL`, `COUNT` and `NAMES` are the generated types' associated constants: a variant
/// of the same name would shadow the constant (`FlagId::COUNT` would be a flag), and the
/// generated code, which uses `Self::NAMES` and `Self::ALL`, would not compile.
pub const RESERVED_IDENTIFIERS: [&str; 4] = ["Self", "ALL", "COUNT", "NAMES"];

/// The identifier of a valid name (`parallel_validation` -> `ParallelValidation`), or why the
/// name breaks the naming rule (see the module docs). Two names with the same identifier are
/// [`check_names`]'s concern.
///
/// ```
/// # use vexil_build::identifier;
/// assert_eq!(identifier("lighthouse_v5").as_deref(), Ok("LighthouseV5"));
/// assert_eq!(identifier("new-mempool").as_deref(), Ok("NewMempool"));
/// assert!(identifier("9lives").is_err());
/// assert!(identifier("self").is_err());
/// ```
pub fn identifier(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a name must not be empty".to_owned());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_LEN {
        return Err(format!(
            "the name is {chars} characters, more than {MAX_NAME_LEN}"
        ));
    }
    let bad = name.chars().enumerate().find(|&(i, c)| {
        let allowed =
            c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || c == '_' || c == '-'));
        !allowed
    });
    if let Some((i, c)) = bad {
        return Err(format!(
            "a name must start with a lowercase ASCII letter (a-z) and contain only lowercase \
             ASCII letters, digits, `_` and `-`; found {c:?} at character {}",
            i + 1
        ));
    }
    let mut ident = String::with_capacity(name.len());
    for part in name.split(['_', '-']) {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            ident.push(first.to_ascii_uppercase());
            ident.push_str(cs.as_str());
        }
    }
    if RESERVED_IDENTIFIERS.contains(&ident.as_str()) {
        let what = if ident == "Self" {
            "a Rust keyword"
        } else {
            "the name of a generated constant"
        };
        return Err(format!("the name becomes the identifier `{ident}`, {what}"));
    }
    Ok(ident)
}

/// A name of a list given to [`check_names`] that breaks the naming rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameProblem {
    /// Its index in the list.
    pub index: usize,
    /// What is wrong (without the name itself, which the caller puts first).
    pub message: String,
}

/// Checks the names of one kind (`kind` is `"flag"`, `"experiment"`, `"variant"`, ...; the
/// messages use it) against the naming rule: each name on its own ([`identifier`]), and every
/// pair whose identifiers are equal. `names` is in file order: a clash is reported at the later
/// name, naming both. Equal names are left to the caller (duplicate keys and variant names are
/// reported as duplicates).
pub fn check_names(kind: &str, names: &[&str]) -> Vec<NameProblem> {
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for (index, &name) in names.iter().enumerate() {
        match identifier(name) {
            Err(message) => problems.push(NameProblem { index, message }),
            Ok(ident) => match seen.get(&ident) {
                Some(&first) if first != name => problems.push(NameProblem {
                    index,
                    message: format!(
                        "{kind}s `{first}` and `{name}` both become the identifier `{ident}`; \
                         rename one"
                    ),
                }),
                Some(_) => {}
                None => {
                    seen.insert(ident, name);
                }
            },
        }
    }
    problems
}

/// 1-based line and character column of a byte offset in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_upper_camel_case() {
        let ok = |n: &str| identifier(n).unwrap();
        assert_eq!(ok("parallel_validation"), "ParallelValidation");
        assert_eq!(ok("lighthouse_v5"), "LighthouseV5");
        assert_eq!(ok("new-mempool"), "NewMempool");
        assert_eq!(ok("x"), "X");
        assert_eq!(ok("a_1b"), "A1b");
        assert_eq!(ok("trailing_"), "Trailing");
        assert_eq!(ok(&"a".repeat(MAX_NAME_LEN)).len(), MAX_NAME_LEN);
    }

    #[test]
    fn names_outside_the_rule_are_refused_with_the_reason() {
        let err = |n: &str| identifier(n).unwrap_err();
        assert_eq!(err(""), "a name must not be empty");
        assert!(
            err("5g").ends_with("found '5' at character 1"),
            "{}",
            err("5g")
        );
        assert!(err("_a").ends_with("found '_' at character 1"));
        assert!(err("a.b").ends_with("found '.' at character 2"));
        assert!(err("has space").ends_with("found ' ' at character 4"));
        assert!(err("Upper").ends_with("found 'U' at character 1"));
        assert!(err("caf\u{e9}").ends_with("found '\u{e9}' at character 4"));
        assert_eq!(
            err(&"a".repeat(MAX_NAME_LEN + 1)),
            "the name is 65 characters, more than 64"
        );
        assert_eq!(
            err("self"),
            "the name becomes the identifier `Self`, a Rust keyword"
        );
        for (name, ident) in [
            ("a_l_l", "ALL"),
            ("c_o_u_n_t", "COUNT"),
            ("n-a-m-e-s", "NAMES"),
        ] {
            assert_eq!(
                err(name),
                format!(
                    "the name becomes the identifier `{ident}`, the name of a generated constant"
                )
            );
        }
    }

    #[test]
    fn clashes_are_reported_at_the_later_name_naming_both() {
        let problems = check_names("flag", &["foo_bar", "ok", "foo__bar", "9", "foo-bar", "ok"]);
        assert_eq!(
            problems,
            vec![
                NameProblem {
                    index: 2,
                    message: "flags `foo_bar` and `foo__bar` both become the identifier `FooBar`; rename one".to_owned()
                },
                NameProblem {
                    index: 3,
                    message: identifier("9").unwrap_err()
                },
                NameProblem {
                    index: 4,
                    message: "flags `foo_bar` and `foo-bar` both become the identifier `FooBar`; rename one".to_owned()
                },
            ]
        );
    }

    #[test]
    fn clashing_names_are_rejected_at_their_keys() {
        let err = flag_ids_source(
            "[features.new_mempool]\nenabled = true\n[features.new-mempool]\nenabled = true\n",
            "::vexil",
        )
        .unwrap_err();
        let CodegenError::Name(_, errors) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            errors,
            &[NameError {
                line: 3,
                column: 11,
                flag: "new-mempool".to_owned(),
                message: "flag `new-mempool`: flags `new_mempool` and `new-mempool` both become \
                          the identifier `NewMempool`; rename one"
                    .to_owned(),
            }]
        );
    }

    #[test]
    fn source_lists_flags_in_name_order() {
        let s = flag_ids_source(
            "[features.b]\nenabled = true\ndescription = \"Bee\"\n[features.a]\nenabled = false\n",
            "::vexil",
        )
        .unwrap();
        assert!(s.contains("    A = 0,\n"), "{s}");
        assert!(s.contains("    B = 1,\n"), "{s}");
        assert!(s.contains("    #[doc = \"`b`: Bee\"]\n    B = 1,\n"), "{s}");
        assert!(s.contains("    #[doc = \"`a`\"]\n    A = 0,\n"), "{s}");
        assert!(
            s.contains("pub const NAMES: [&'static str; 2] = [\"a\", \"b\", ];"),
            "{s}"
        );
    }

    #[test]
    fn bad_toml_is_an_error() {
        assert!(matches!(
            flag_ids_source("[features.a\n", "::vexil"),
            Err(CodegenError::Parse(..))
        ));
    }
}
