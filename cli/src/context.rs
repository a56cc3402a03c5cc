//! The context options shared by `eval`, `rollout`, `variant`, `diff` and `watch`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;
use vexil::{Environment, EvaluationContext};

/// Who is asking: every field optional (the defaults of `docs/evaluation.md`).
#[derive(Args, Debug, Clone, Default)]
pub struct ContextArgs {
    /// The node id (the default bucket key).
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// The environment: development, testnet, mainnet or canary.
    #[arg(long = "env", value_name = "ENV", value_parser = parse_env)]
    pub environment: Option<Environment>,
    /// The chain height.
    #[arg(long, value_name = "N")]
    pub chain_height: Option<u64>,
    /// The sync progress, 0.0 to 1.0.
    #[arg(long, value_name = "X", value_parser = parse_sync_progress)]
    pub sync_progress: Option<f64>,
    /// The validator key.
    #[arg(long, value_name = "KEY")]
    pub validator_key: Option<String>,
    /// The node's IP address.
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<IpAddr>,
    /// A custom attribute (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
    pub attributes: Vec<(String, String)>,
    /// The evaluation instant (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// A JSON file with the same fields (node_id, environment, chain_height, sync_progress,
    /// validator_key, ip_address, custom_attributes, now); options given here win.
    #[arg(long, value_name = "FILE.json")]
    pub context: Option<PathBuf>,
    /// The `--context` file, read and checked once by [`ContextArgs::load`].
    #[arg(skip)]
    loaded: Option<ContextFile>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    node_id: Option<String>,
    environment: Option<Environment>,
    chain_height: Option<u64>,
    sync_progress: Option<f64>,
    validator_key: Option<String>,
    ip_address: Option<IpAddr>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, String>,
    now: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_env(s: &str) -> Result<Environment, String> {
    s.parse()
        .map_err(|e: vexil::model::UnknownEnvironment| e.to_string())
}

/// The library takes any `f64` (see `EvaluationContext::set_sync_progress`), but a progress
/// outside 0.0..=1.0, or NaN, is a mistake on the command line: refused rather than evaluated.
fn check_sync_progress(p: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("must be a number from 0.0 to 1.0, found {p}"))
    }
}

fn parse_sync_progress(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; it must be a number from 0.0 to 1.0"))?;
    check_sync_progress(p)
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 date-time with an offset: {e}"))
}

/// Reads and checks a `--context` file: the message names the file, and where they are known
/// the line, column and field.
fn read_context_file(path: &std::path::Path) -> Result<ContextFile, String> {
    let file = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    // serde would read a JSON array as the fields in order: refused outright.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        if !value.is_object() {
            return Err(format!(
                "{file}: error: a context file holds one JSON object (found {})",
                match value {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ));
        }
    }
    let context: ContextFile = serde_json::from_str(&text).map_err(|e| {
        // serde_json's message ends with the position, given here in front instead.
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = message.strip_suffix(&suffix).unwrap_or(&message);
        let field = failing_field(&text)
            .map(|f| format!("field `{f}`: "))
            .unwrap_or_default();
        format!(
            "{file}:{}:{}: error: {field}{message}",
            e.line(),
            e.column()
        )
    })?;
    if let Some(p) = context.sync_progress {
        check_sync_progress(p).map_err(|m| {
            // serde_json keeps no positions: the key's, found in the text.
            let at = text
                .find("\"sync_progress\"")
                .map(|i| {
                    let before = &text[..i];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
                    format!(":{line}:{column}")
                })
                .unwrap_or_default();
            format!("{file}{at}: error: field `sync_progress`: {m}")
        })?;
    }
    Ok(context)
}

/// The top-level field of a context file that does not deserialize: each key is tried on its
/// own (every field is optional, so a key alone fails only if it is unknown or its value is
/// wrong). `None` when the text is not a JSON object.
fn failing_field(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.as_object()?.iter().find_map(|(k, v)| {
        let alone = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
        ContextFile::deserialize(alone).is_err().then(|| k.clone())
    })
}

impl ContextArgs {
    /// Reads and checks the `--context` file, once, before any command runs: a bad file is a
    /// usage error (exit 2), and `build` then uses what was read.
    pub fn load(&mut self) -> Result<(), String> {
        if let Some(path) = &self.context {
            self.loaded = Some(read_context_file(path)?);
        }
        Ok(())
    }

    /// The context for one node (`node_id` overrides the options' and the file's).
    pub fn build(&self, node_id: Option<&str>) -> Result<EvaluationContext, String> {
        let file: ContextFile = match (&self.loaded, &self.context) {
            (Some(loaded), _) => loaded.clone(),
            (None, Some(p)) => read_context_file(p)?,
            (None, None) => ContextFile::default(),
        };
        let id = node_id
            .map(str::to_owned)
            .or_else(|| self.node_id.clone())
            .or(file.node_id)
            .unwrap_or_default();
        let mut ctx = EvaluationContext::new(id);
        if let Some(e) = self.environment.or(file.environment) {
            ctx = ctx.with_environment(e);
        }
        ctx.set_chain_height(self.chain_height.or(file.chain_height).unwrap_or(0));
        ctx.set_sync_progress(self.sync_progress.or(file.sync_progress).unwrap_or(0.0));
        if let Some(k) = self.validator_key.clone().or(file.validator_key) {
            ctx = ctx.with_validator_key(k);
        }
        if let Some(ip) = self.ip.or(file.ip_address) {
            ctx = ctx.with_ip_address(ip);
        }
        for (k, v) in file.custom_attributes {
            ctx.set_attribute(k, v);
        }
        for (k, v) in &self.attributes {
            ctx.set_attribute(k.clone(), v.clone());
        }
        ctx.set_now(self.now.or(file.now).unwrap_or_else(chrono::Utc::now));
        Ok(ctx)
    }
}

/// Node ids from a file: one per line; blank lines and `#` comments skipped.
pub fn read_nodes(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
