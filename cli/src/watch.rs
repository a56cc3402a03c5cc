//! `vexil watch`: hot reload with a live view (or JSON events).

use std::collections::VecDeque;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use vexil::{Environment, EvaluationContext, Event, Flags, Reload, WatchOptions};

use crate::commands::{bar, detail_text, problem_json};
use crate::context::ContextArgs;
use crate::Format;

pub struct Options {
    pub file: PathBuf,
    pub audit_log: Option<PathBuf>,
    pub metrics_addr: Option<SocketAddr>,
    pub fleet: Option<usize>,
    pub debounce: Duration,
    pub context: ContextArgs,
    pub format: Format,
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    if let Some(addr) = o.metrics_addr {
        // Installed before the flags are built, so every metric reaches it.
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    }
    let mut builder = Flags::builder(&o.file).lenient(true).watch(WatchOptions {
        debounce: o.debounce,
        ..WatchOptions::default()
    });
    if let Some(path) = &o.audit_log {
        builder = builder.audit_log(path);
    }
    let events = builder.subscribe();
    let flags: Flags = builder.build().map_err(|e| e.to_string())?;
    let ctx = o.context.build(None)?;
    let fleet: Vec<EvaluationContext> = (0..o.fleet.unwrap_or(0))
        .map(|i| {
            let mut c = o.context.build(Some(&format!("node-{i}")))?;
            c = c.with_environment(Environment::ALL[i % Environment::ALL.len()]);
            Ok(c)
        })
        .collect::<Result<_, String>>()?;
    let live = o.format == Format::Text && std::io::stdout().is_terminal();
    let mut log: VecDeque<String> = VecDeque::new();
    let mut first = true;
    for event in events {
        let (line, text) = describe(&event, first, &flags);
        first = false;
        let mut out = std::io::stdout().lock();
        match o.format {
            Format::Json => {
                let _ = writeln!(out, "{line}");
            }
            Format::Text => {
                log.push_back(text);
                while log.len() > 8 {
                    log.pop_front();
                }
                if live {
                    let _ = write!(out, "\x1b[2J\x1b[H");
                    for l in &log {
                        let _ = writeln!(out, "{l}");
                    }
                } else if let Some(l) = log.back() {
                    let _ = writeln!(out, "{l}");
                }
                let _ = writeln!(out, "\n{}", state(&flags, &ctx, &fleet));
            }
        }
        let _ = out.flush();
    }
    Ok(ExitCode::SUCCESS)
}

/// The event as a JSON line and as text.
fn describe(event: &Event, first: bool, flags: &Flags) -> (serde_json::Value, String) {
    let now = chrono::Local::now().format("%H:%M:%S%.3f");
    match event {
        Event::Reload(Reload::Applied(c)) if first || c.previous.is_none() => (
            json!({"event": "loaded", "generation": c.generation, "sha256": c.sha256.to_string(), "flags": flags.config().features.len()}),
            format!(
                "{now} loaded {}: generation {}, {} flags, sha256 {}",
                flags.path().display(),
                c.generation,
                flags.config().features.len(),
                &c.sha256.short(16)
            ),
        ),
        Event::Reload(Reload::Applied(c)) => {
            let mut text = format!(
                "{now} applied generation {} (sha256 {}): {} changes",
                c.generation,
                &c.sha256.short(16),
                c.changes.len()
            );
            for ch in &c.changes {
                text.push_str(&format!("\n    {}: {} -> {}", ch.key_path(), ch.old, ch.new));
            }
            (
                json!({"event": "applied", "generation": c.generation, "sha256": c.sha256.to_string(), "changes": c.changes}),
                text,
            )
        }
        Event::Reload(Reload::Rejected {
            generation,
            problems,
            ..
        }) => {
            let mut text = format!("{now} rejected (generation {generation} stays in force):");
            for p in &problems.0 {
                text.push_str(&format!("\n    {p}"));
            }
            (
                json!({"event": "rejected", "generation": generation, "errors": problems.0.iter().map(problem_json).collect::<Vec<_>>()}),
                text,
            )
        }
        Event::Reload(Reload::Missing { .. }) => (
            json!({"event": "missing"}),
            format!(
                "{now} {} is missing; the last good configuration stays",
                flags.path().display()
            ),
        ),
        Event::Reload(Reload::Restored { generation, sha256 }) => (
            json!({"event": "restored", "generation": generation, "sha256": sha256.to_string()}),
            format!(
                "{now} restored: {} holds the version in force again (generation {generation}, sha256 {})",
                flags.path().display(),
                sha256.short(16)
            ),
        ),
        Event::AuditFailed { error, pending } => (
            json!({"event": "audit_failed", "error": error, "pending": pending}),
            format!(
                "{now} audit log write failed: {error} ({pending} records wait, kept and retried)"
            ),
        ),
        Event::AuditRecovered { written } => (
            json!({"event": "audit_recovered", "written": written}),
            format!("{now} audit log writable again: {written} waiting records written"),
        ),
        other => (
            json!({"event": "other", "detail": format!("{other:?}")}),
            format!("{now} {other:?}"),
        ),
    }
}

/// The state of every flag for the local context, and for the simulated fleet.
fn state(flags: &Flags, ctx: &EvaluationContext, fleet: &[EvaluationContext]) -> String {
    // A view, not a use of the flags: a plain snapshot, no usage counting.
    let s = flags.snapshot();
    let mut out = format!(
        "generation {}  ·  node `{}`{}\n{:<26} {:<5} {:<20} {}",
        s.generation(),
        ctx.node_id(),
        if fleet.is_empty() {
            String::new()
        } else {
            format!("  ·  fleet of {}", fleet.len())
        },
        "flag",
        "state",
        "reason",
        if fleet.is_empty() {
            "detail"
        } else {
            "fleet share"
        }
    );
    for (index, name, _) in s.flags() {
        let e = s.explain(index, ctx);
        let right = if fleet.is_empty() {
            detail_text(&s, e.detail)
        } else {
            let on = fleet.iter().filter(|c| s.check(index, c)).count();
            let share = on as f64 / fleet.len() as f64;
            format!("{} {:>6.1}% ({on})", bar(share, 30), share * 100.0)
        };
        out.push_str(&format!(
            "\n{name:<26} {:<5} {:<20} {right}",
            if e.enabled { "on" } else { "off" },
            e.reason.as_str()
        ));
    }
    out
}
