//! Build-time flag IDs: reads a configuration file and writes `enum FlagId`.
//!
//! Use it from any crate's `build.rs` (with `vexil` as a build-dependency):
//!
//! ```no_run
//! // in build.rs, inside `fn main()`:
//! vexil::codegen::generate("config/features.toml").expect("flag ids");
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
//! This module only needs `toml` and `std`, so that this crate's own build script can compile
//! it too.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

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
    /// A flag name cannot become a Rust identifier, or two names become the same one.
    Name(PathBuf, String),
    /// `OUT_DIR` is not set (not running from a build script).
    NoOutDir,
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            CodegenError::Parse(p, e) | CodegenError::Name(p, e) => {
                write!(f, "{}: error: {e}", p.display())
            }
            CodegenError::NoOutDir => f.write_str("OUT_DIR is not set: call this from build.rs"),
        }
    }
}

impl std::error::Error for CodegenError {}

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
    let table: toml::Table = config_text
        .parse()
        .map_err(|e: toml::de::Error| CodegenError::Parse(no_path(), e.message().to_owned()))?;
    let features = match table.get("features") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(CodegenError::Parse(
                no_path(),
                "`features` must be a table".to_owned(),
            ))
        }
        None => &toml::Table::new(),
    };
    let mut flags: Vec<(&str, String, Option<&str>)> = Vec::with_capacity(features.len());
    for (name, value) in features {
        let ident = variant_name(name).ok_or_else(|| {
            CodegenError::Name(
                no_path(),
                format!("flag `{name}` cannot be a Rust identifier (use letters, digits, `_` and `-`, starting with a letter)"),
            )
        })?;
        let description = value.get("description").and_then(toml::Value::as_str);
        flags.push((name.as_str(), ident, description));
    }
    flags.sort_by(|a, b| a.0.cmp(b.0));
    let mut idents = std::collections::BTreeMap::new();
    for (name, ident, _) in &flags {
        if let Some(other) = idents.insert(ident.as_str(), *name) {
            return Err(CodegenError::Name(
                no_path(),
                format!("flags `{other}` and `{name}` both become `FlagId::{ident}`"),
            ));
        }
    }

    let n = flags.len();
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "// Generated by vexil::codegen. Do not edit.");
    let _ = writeln!(
        w,
        "/// The flags compiled into this binary; the discriminant is the flag's table slot."
    );
    let _ = writeln!(
        w,
        "#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]"
    );
    // 32 bits, not 16: a flag passed through memory (a stack slot, a struct field) is then
    // reloaded by a plain `mov` rather than a zero-extending `movzx`, and on the Zen 4 the
    // benches run on, a disabled flag's check measured 1.02 ns against 1.15 ns with that one
    // instruction changed (BENCHMARKS.md).
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

/// `parallel_validation` -> `ParallelValidation`; `None` if the name cannot be an identifier.
pub fn variant_name(flag: &str) -> Option<String> {
    let mut chars = flag.chars();
    if !chars.next()?.is_ascii_alphabetic() {
        return None;
    }
    if !flag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let mut out = String::with_capacity(flag.len());
    for part in flag.split(['_', '-']).filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(cs.as_str());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_upper_camel_case() {
        assert_eq!(
            variant_name("parallel_validation").unwrap(),
            "ParallelValidation"
        );
        assert_eq!(variant_name("lighthouse_v5").unwrap(), "LighthouseV5");
        assert_eq!(variant_name("new-mempool").unwrap(), "NewMempool");
        assert_eq!(variant_name("x"), Some("X".to_owned()));
        assert_eq!(variant_name("5g"), None);
        assert_eq!(variant_name("a.b"), None);
        assert_eq!(variant_name(""), None);
    }

    #[test]
    fn clashing_names_are_rejected() {
        let err = flag_ids_source(
            "[features.new_mempool]\nenabled = true\n[features.new-mempool]\nenabled = true\n",
            "::vexil",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("both become `FlagId::NewMempool`"),
            "{err}"
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
