//! The one-shot subcommands.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};
use vexil::model::Config;
use vexil::validate::{self, Limits, Problem, Rejected};
use vexil::{Detail, EvaluationContext, Snapshot, Value as FlagValue, DEFAULT_CAPACITY};
use vexil_core::FlagTable;

use crate::context::{read_nodes, ContextArgs};
use crate::Format;

/// A problem as `vexil validate --format json` prints it.
pub fn problem_json(p: &Problem) -> Value {
    let mut v = json!({
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "severity": p.severity.as_str(),
        "flag": p.flag,
        "field": p.field,
        "message": p.message,
    });
    if let Some(e) = &p.experiment {
        v["experiment"] = json!(e);
    }
    if let Some(segment) = &p.segment {
        v["segment"] = json!(segment);
    }
    v
}

/// A file validated and published into a table of its own (generation 1), with its
/// configuration.
pub fn load(path: &Path) -> Result<(FlagTable, Config), Rejected> {
    let v = validate::validate_file::<DEFAULT_CAPACITY>(path, &[], &Limits::default())?;
    for w in &v.warnings {
        eprintln!("{w}");
    }
    let table = FlagTable::new(&[]).with_clock(|| chrono::Utc::now().timestamp_micros());
    table.publish(v.table);
    Ok((table, v.config))
}

fn load_or_report(path: &Path) -> Result<(FlagTable, Config), String> {
    load(path).map_err(|r| r.to_string())
}

/// The step of the evaluation order a reason belongs to: a rollout's two sides are one step.
fn step_name(reason: vexil::Reason) -> &'static str {
    match reason {
        vexil::Reason::RolloutIncluded | vexil::Reason::RolloutExcluded => "rollout",
        vexil::Reason::RuleMatch | vexil::Reason::RuleSplit => "rule",
        other => other.as_str(),
    }
}

/// What decided, for people.
pub fn detail_text(s: &Snapshot<'_>, d: Detail) -> String {
    match d {
        Detail::None => String::new(),
        Detail::Prerequisite(p) => format!("prerequisite {}", s.flag_name(p).unwrap_or("?")),
        Detail::Condition(vexil::ConditionKind::Custom(i)) => format!("condition custom[{i}]"),
        Detail::Condition(c) => format!("condition {}", c.as_str()),
        Detail::Target(t) => format!("target {}", t.as_str()),
        Detail::Variant {
            experiment,
            variant,
        } => format!(
            "variant {}/{}",
            s.experiment_name(experiment).unwrap_or("?"),
            s.variant_name(experiment, variant).unwrap_or("?")
        ),
        Detail::Rule(i) => format!("rule {i}"),
        _ => String::new(),
    }
}

pub fn bar(share: f64, width: usize) -> String {
    let filled = ((share * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "·".repeat(width - filled))
}

pub fn validate(
    files: &[std::path::PathBuf],
    known: &[String],
    format: Format,
) -> Result<ExitCode, String> {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut invalid = false;
    for file in files {
        let (problems, summary) =
            match validate::validate_file::<DEFAULT_CAPACITY>(file, &known, &Limits::default()) {
                Ok(v) => {
                    let summary = format!(
                        "{}: valid: {} flags, {} experiments, sha256 {}",
                        file.display(),
                        v.config.features.len(),
                        v.config.experiments.len(),
                        v.sha256
                    );
                    (v.warnings, Some(summary))
                }
                Err(r) => {
                    invalid = true;
                    (r.0, None)
                }
            };
        for p in &problems {
            match format {
                Format::Text => println!("{p}"),
                Format::Json => println!("{}", problem_json(p)),
            }
        }
        if let (Format::Text, Some(s)) = (format, summary) {
            println!("{s}");
        }
    }
    Ok(ExitCode::from(u8::from(invalid)))
}

/// A resolved value as JSON: a json flag's text as the value it spells.
fn value_json(value: FlagValue<'_>) -> Value {
    match value {
        FlagValue::Bool(b) => json!(b),
        FlagValue::Integer(i) => json!(i),
        FlagValue::Float(x) => json!(x),
        FlagValue::String(s) => json!(s),
        FlagValue::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        _ => Value::Null,
    }
}

pub fn eval(
    file: &Path,
    flag: Option<&str>,
    ctx: &ContextArgs,
    format: Format,
) -> Result<ExitCode, String> {
    let (table, _) = load_or_report(file)?;
    let ctx = ctx.build(None)?;
    let s = table.snapshot();
    let names: Vec<String> = match flag {
        Some(f) => vec![f.to_owned()],
        None => s.flags().map(|(_, n, _)| n.to_owned()).collect(),
    };
    if format == Format::Text {
        println!(
            "{:<28} {:<5} {:<22} {:<10} {:<12} detail",
            "flag", "state", "reason", "generation", "variant"
        );
    }
    for name in names {
        let r = s.value_name(&name, &ctx);
        let e = r.evaluation;
        match format {
            Format::Json => {
                let mut line = json!({"flag": name, "enabled": e.enabled, "reason": e.reason.as_str(), "generation": e.generation, "variant": r.variant, "value": value_json(r.value)});
                let detail = detail_text(&s, e.detail);
                if !detail.is_empty() {
                    line["detail"] = json!(detail);
                }
                if let Detail::Rule(i) = e.detail {
                    line["rule"] = json!(i);
                }
                println!("{line}")
            }
            Format::Text => println!(
                "{name:<28} {:<5} {:<22} {:<10} {:<12} {}",
                if e.enabled { "on" } else { "off" },
                e.reason.as_str(),
                e.generation,
                r.variant,
                detail_text(&s, e.detail)
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(
    old: &Path,
    new: &Path,
    nodes: Option<&Path>,
    ctx: &ContextArgs,
    format: Format,
) -> Result<ExitCode, String> {
    let ((a, ca), (b, cb)) = (load_or_report(old)?, load_or_report(new)?);
    let changes = vexil::diff::diff(&ca, &cb);
    for c in &changes {
        match format {
            Format::Json => println!("{}", serde_json::to_string(c).expect("changes serialize")),
            Format::Text => println!("{}: {} -> {}", c.key_path(), c.old, c.new),
        }
    }
    if let Some(nodes) = nodes {
        let nodes = read_nodes(nodes)?;
        let contexts: Vec<EvaluationContext> = nodes
            .iter()
            .map(|n| ctx.build(Some(n)))
            .collect::<Result<_, _>>()?;
        let (sa, sb) = (a.snapshot(), b.snapshot());
        let flags: BTreeSet<String> = sa
            .flags()
            .chain(sb.flags())
            .map(|(_, n, _)| n.to_owned())
            .collect();
        for flag in flags {
            let mut on = Vec::new();
            let mut off = Vec::new();
            for (node, c) in nodes.iter().zip(&contexts) {
                match (sa.check_name(&flag, c), sb.check_name(&flag, c)) {
                    (false, true) => on.push(node.clone()),
                    (true, false) => off.push(node.clone()),
                    _ => {}
                }
            }
            if on.is_empty() && off.is_empty() {
                continue;
            }
            match format {
                Format::Json => {
                    println!("{}", json!({"flag": flag, "turn_on": on, "turn_off": off}))
                }
                Format::Text => println!(
                    "{flag}: turns on for {} of {} nodes {:?}, off for {} {:?}",
                    on.len(),
                    nodes.len(),
                    on,
                    off.len(),
                    off
                ),
            }
        }
    }
    Ok(ExitCode::from(u8::from(!changes.is_empty())))
}

pub fn rollout(
    file: &Path,
    flag: &str,
    nodes: Option<&Path>,
    simulate: Option<usize>,
    ctx: &ContextArgs,
    format: Format,
) -> Result<ExitCode, String> {
    let (table, _) = load_or_report(file)?;
    let nodes: Vec<String> = match (nodes, simulate) {
        (Some(path), _) => read_nodes(path)?,
        (None, n) => (0..n.unwrap_or(1000))
            .map(|i| format!("node-{i}"))
            .collect(),
    };
    let s = table.snapshot();
    if s.index_of(flag).is_none() {
        return Err(format!("{}: no flag `{flag}`", file.display()));
    }
    let mut enabled = Vec::new();
    // What decided, with how many nodes it decided for and how many of them it turned on: a
    // flag with rules shows each rule's share.
    let mut decided: std::collections::BTreeMap<(String, String), (usize, usize)> =
        std::collections::BTreeMap::new();
    for node in &nodes {
        let e = s.explain_name(flag, &ctx.build(Some(node))?);
        let step = decided
            .entry((step_name(e.reason).to_owned(), detail_text(&s, e.detail)))
            .or_default();
        step.0 += 1;
        if e.enabled {
            step.1 += 1;
            enabled.push(node.clone());
        }
    }
    let share = if nodes.is_empty() {
        0.0
    } else {
        enabled.len() as f64 / nodes.len() as f64
    };
    match format {
        Format::Json => {
            let decided: Vec<Value> = decided
                .iter()
                .map(|((step, detail), (total, on))| {
                    json!({"step": step, "detail": detail, "nodes": total, "enabled": on})
                })
                .collect();
            println!(
                "{}",
                json!({"flag": flag, "total": nodes.len(), "enabled": enabled.len(), "share": share, "decided": decided, "nodes": enabled})
            )
        }
        Format::Text => {
            println!(
                "{flag}: {} of {} nodes ({:.2}%)\n{}",
                enabled.len(),
                nodes.len(),
                share * 100.0,
                bar(share, 50)
            );
            if decided.len() > 1 || decided.keys().any(|(_, detail)| !detail.is_empty()) {
                for ((step, detail), (total, on)) in &decided {
                    let what = match (step.as_str(), detail.is_empty()) {
                        (_, true) => step.clone(),
                        ("rule", false) => detail.clone(),
                        (_, false) => format!("{step} ({detail})"),
                    };
                    println!("  {what:<32} {total:>7} nodes, {on:>7} on");
                }
            }
            let shown: Vec<&str> = enabled.iter().take(20).map(String::as_str).collect();
            let more = enabled.len().saturating_sub(shown.len());
            println!(
                "on: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn variant(
    file: &Path,
    experiment: &str,
    ctx: &ContextArgs,
    format: Format,
) -> Result<ExitCode, String> {
    let (table, _) = load_or_report(file)?;
    let s = table.snapshot();
    if !s.experiments().any(|e| e == experiment) {
        return Err(format!("{}: no experiment `{experiment}`", file.display()));
    }
    let ctx = ctx.build(None)?;
    let v = s.variant(experiment, &ctx);
    match format {
        Format::Json => println!(
            "{}",
            json!({"experiment": experiment, "node_id": ctx.node_id(), "variant": v})
        ),
        Format::Text => println!(
            "{experiment}: {}",
            v.unwrap_or("(no variant: inactive, or outside every variant)")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn schema() -> Result<ExitCode, String> {
    // TOML has no null: an optional field is one that may be left out, not one that may be
    // null. Without the `anyOf [T, null]` wrapping, an editor reports the error inside the
    // value (an unknown environment) instead of "not valid under any of the schemas".
    let mut schema = schemars::schema_for!(vexil::model::Config).to_value();
    for_editors(&mut schema);
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("the schema serializes")
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes a schema report errors where they are: removes `null` (`anyOf [T, {"type":
/// "null"}]` becomes `T` with the field's own keys, such as its description, and `"type":
/// ["string", "null"]` becomes `"string"`), and turns a `oneOf` of documented constants (an
/// enum whose variants have doc comments) into an `enum`, their descriptions listed in its
/// own, so that a wrong value is "not one of ..." rather than "not valid under any of the
/// schemas".
fn for_editors(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            let constants: Option<Vec<(Value, String)>> = match obj.get("oneOf") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        let c = i.get("const")?.clone();
                        let d = i.get("description").and_then(Value::as_str).unwrap_or("");
                        Some((c, d.to_owned()))
                    })
                    .collect(),
                _ => None,
            };
            if let Some(constants) = constants {
                obj.remove("oneOf");
                let listed: Vec<String> = constants
                    .iter()
                    .map(|(c, d)| {
                        let d = d.trim_end_matches('.');
                        format!("{}: {d}", c.as_str().unwrap_or_default())
                    })
                    .collect();
                let own = obj.get("description").and_then(Value::as_str).unwrap_or("");
                let description = format!("{own} {}.", listed.join("; "));
                obj.insert("description".to_owned(), json!(description.trim()));
                obj.insert("type".to_owned(), json!("string"));
                obj.insert(
                    "enum".to_owned(),
                    Value::Array(constants.into_iter().map(|(c, _)| c).collect()),
                );
            }
            if let Some(Value::Array(any)) = obj.get_mut("anyOf") {
                any.retain(|s| s != &json!({"type": "null"}));
                if any.len() == 1 {
                    if let (Some(Value::Object(only)), _) = (any.pop(), obj.remove("anyOf")) {
                        for (k, v) in only {
                            obj.entry(k).or_insert(v);
                        }
                    }
                }
            }
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.pop();
                    obj.insert("type".to_owned(), only.unwrap_or(Value::Null));
                }
            }
            obj.values_mut().for_each(for_editors);
        }
        Value::Array(items) => items.iter_mut().for_each(for_editors),
        _ => {}
    }
}

pub fn audit_verify(file: &Path, format: Format) -> Result<ExitCode, String> {
    let result = vexil::audit::verify(file);
    match (&result, format) {
        (Ok(n), Format::Text) => println!("{}: intact, {n} records", file.display()),
        (Err(e), Format::Text) => println!("{}: broken at {e}", file.display()),
        (Ok(n), Format::Json) => {
            println!("{}", json!({"file": file, "intact": true, "records": n}))
        }
        (Err(e), Format::Json) => println!(
            "{}",
            json!({"file": file, "intact": false, "line": e.line, "message": e.message})
        ),
    }
    Ok(ExitCode::from(u8::from(result.is_err())))
}
