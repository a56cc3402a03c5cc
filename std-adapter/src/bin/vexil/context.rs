//! The context options shared by `eval`, `rollout`, `variant`, `diff` and `watch`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;
use vexil::{Environment, EvaluationContext};

/// Who is asking: every field optional (SPEC section 4's defaults).
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
    #[arg(long, value_name = "X")]
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
}

#[derive(Deserialize, Default)]
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

impl ContextArgs {
    /// The context for one node (`node_id` overrides the options' and the file's).
    pub fn build(&self, node_id: Option<&str>) -> Result<EvaluationContext, String> {
        let file: ContextFile = match &self.context {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => ContextFile::default(),
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
