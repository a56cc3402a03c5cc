//! End to end: the built `vexil` binary on fixtures, stdout JSON and exit codes for every
//! subcommand, a live `watch`, and a Prometheus scrape over loopback.

#[path = "../../std-adapter/tests/support/mod.rs"]
mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn vexil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vexil"))
}

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn bundled() -> PathBuf {
    config_dir().join("features.toml")
}

/// Runs the command: (exit code, stdout JSON lines, stderr).
fn run(cmd: &mut Command) -> (i32, Vec<Value>, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (
        out.status.code().unwrap(),
        lines,
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn validate_reports_problems_as_json_and_exits_one() {
    let bad = config_dir().join("fixtures/invalid/every_problem_at_once.toml");
    let (code, lines, _) = run(vexil()
        .args(["validate", "--format", "json"])
        .arg(bundled())
        .arg(&bad));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(
        lines[0],
        serde_json::json!({
            "file": bad.display().to_string(), "line": 8, "column": 22, "severity": "error",
            "flag": "a", "field": "rollout_percentage",
            "message": "`rollout_percentage` must be a number from 0 to 100, found 101"
        })
    );
    let (code, lines, _) = run(vexil()
        .args(["validate", "--format", "json"])
        .arg(bundled()));
    assert_eq!((code, lines.len()), (0, 0));
    let out = vexil().arg("validate").arg(&bad).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(":8:22: error: flag `a`, field `rollout_percentage`"),
        "{text}"
    );
}

#[test]
fn whole_file_problems_have_no_position_in_text_and_line_zero_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.toml", "# nothing\n");
    let (code, lines, _) = run(vexil().args(["validate", "--format", "json"]).arg(&empty));
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        [serde_json::json!({
            "file": empty.display().to_string(), "line": 0, "column": 0, "severity": "error",
            "flag": null, "field": null,
            "message": "the file defines no flags (only comments or empty tables); an empty \
                        configuration would turn every flag off"
        })]
    );
    let out = vexil().arg("validate").arg(&empty).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{}: error: the file defines no flags (only comments or empty tables); an empty \
             configuration would turn every flag off\n",
            empty.display()
        )
    );
}

#[test]
fn validate_warns_about_compiled_in_flags() {
    let (code, lines, _) = run(vexil()
        .args([
            "validate",
            "--format",
            "json",
            "--known",
            "parallel_validation,ghost",
        ])
        .arg(bundled()));
    assert_eq!(code, 0);
    assert!(lines.iter().all(|l| l["severity"] == "warning"));
    assert!(lines.iter().any(|l| l["flag"] == "ghost"));
}

#[test]
fn eval_prints_one_object_per_flag() {
    let (code, lines, _) = run(vexil()
        .args([
            "eval",
            "--all",
            "--format",
            "json",
            "--node-id",
            "canary-1",
            "--env",
            "canary",
        ])
        .arg(bundled()));
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 13);
    let rule = |l: &&serde_json::Value| l["flag"] == "block_prefetch";
    assert_eq!(
        *lines.iter().find(rule).unwrap(),
        serde_json::json!({"flag": "block_prefetch", "enabled": true, "reason": "rule_match", "generation": 1, "variant": "true", "value": true, "detail": "rule 1", "rule": 1})
    );
    let pv = lines
        .iter()
        .find(|l| l["flag"] == "parallel_validation")
        .unwrap();
    assert_eq!(
        *pv,
        serde_json::json!({"flag": "parallel_validation", "enabled": true, "reason": "rollout_included", "generation": 1, "variant": "true", "value": true})
    );
    // A typed flag: the variant served and its value (the canaries' rule).
    let peers = lines.iter().find(|l| l["flag"] == "max_peers").unwrap();
    assert_eq!(
        *peers,
        serde_json::json!({"flag": "max_peers", "enabled": true, "reason": "rule_match", "generation": 1, "variant": "many", "value": 100, "detail": "rule 0", "rule": 0})
    );
    let gov = lines
        .iter()
        .find(|l| l["flag"] == "governance_integration")
        .unwrap();
    assert_eq!(
        (gov["enabled"].as_bool(), gov["reason"].as_str()),
        (Some(false), Some("disabled"))
    );
}

#[test]
fn eval_takes_a_context_file_and_options_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx.json");
    std::fs::write(
        &ctx,
        r#"{"node_id": "n1", "environment": "mainnet", "chain_height": 2000000, "sync_progress": 1.0,
            "validator_key": "0xabc", "ip_address": "10.0.0.1",
            "custom_attributes": {"region": "eu-west", "client_version": "2.2.0"},
            "now": "2025-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let eval = |extra: &[&str]| {
        let (code, lines, err) = run(vexil()
            .args([
                "eval",
                "--flag",
                "validator_batching",
                "--format",
                "json",
                "--context",
            ])
            .arg(&ctx)
            .args(extra)
            .arg(bundled()));
        assert_eq!(code, 0, "{err}");
        lines[0]["reason"].as_str().unwrap().to_owned()
    };
    // The custom constraints hold, so only the 10 % rollout on validator_key can exclude it.
    assert!(["rollout_included", "rollout_excluded"].contains(&eval(&[]).as_str()));
    assert_eq!(eval(&["--attr", "region=us-east"]), "condition_failed");
    assert_eq!(eval(&["--now", "2024-01-01T00:00:00Z"]), "condition_failed");
}

#[test]
fn usage_errors_exit_two() {
    let out = vexil().args(["eval"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = vexil()
        .args(["eval", "--env", "production"])
        .arg(bundled())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown environment"));
    let out = vexil().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_sync_progress_outside_zero_to_one_is_a_usage_error() {
    let eval = |progress: &str| {
        vexil()
            .args(["eval", "--flag", "new_mempool"])
            .arg(format!("--sync-progress={progress}"))
            .arg(bundled())
            .output()
            .unwrap()
    };
    for bad in ["5", "1.01", "-0.1", "NaN", "inf"] {
        let out = eval(bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("--sync-progress") && err.contains("from 0.0 to 1.0"),
            "{bad}: {err}"
        );
    }
    for good in ["0", "0.99", "1"] {
        assert_eq!(eval(good).status.code(), Some(0), "{good}");
    }
}

#[test]
fn a_bad_context_file_is_a_usage_error_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (missing.clone(), vec!["cannot read"]),
        (
            write(
                dir.path(),
                "syntax.json",
                "{\"node_id\": \"n1\",\n \"chain_height\": }",
            ),
            vec![":2:18: error:", "expected value"],
        ),
        (
            write(dir.path(), "nan.json", "{\"sync_progress\": NaN}"),
            vec![":1:19: error:"],
        ),
        (
            write(
                dir.path(),
                "unknown.json",
                "{\"node_id\": \"n1\", \"nod_id\": \"n2\"}",
            ),
            vec![":1:26: error: field `nod_id`:", "unknown field `nod_id`"],
        ),
        (
            write(
                dir.path(),
                "type.json",
                "{\"node_id\": \"n1\",\n \"chain_height\": \"tall\"}",
            ),
            vec![
                ":2:23: error: field `chain_height`:",
                "invalid type: string \"tall\"",
            ],
        ),
        (
            write(
                dir.path(),
                "range.json",
                "{\"node_id\": \"n1\",\n  \"sync_progress\": 5}",
            ),
            vec![
                ":2:3: error: field `sync_progress`:",
                "must be a number from 0.0 to 1.0, found 5",
            ],
        ),
        (
            write(dir.path(), "array.json", "[\"n1\"]"),
            vec![": error: a context file holds one JSON object (found an array)"],
        ),
        (
            write(dir.path(), "negative.json", "{\"sync_progress\": -0.5}"),
            vec![":1:2: error: field `sync_progress`:", "found -0.5"],
        ),
    ];
    for (file, words) in &cases {
        for command in [&["eval"][..], &["rollout", "--flag", "new_mempool"][..]] {
            let out = vexil()
                .args(command)
                .arg("--context")
                .arg(file)
                .arg(bundled())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
            assert!(err.contains(&file.display().to_string()), "{err}");
            for w in words {
                assert!(err.contains(w), "{}: {w:?} not in {err}", file.display());
            }
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn diff_lists_changes_and_the_nodes_they_turn_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        "old.toml",
        "[features.a]\nenabled = true\nrollout_percentage = 10\n[features.b]\nenabled = true\n",
    );
    let new = write(
        dir.path(),
        "new.toml",
        "[features.a]\nenabled = true\nrollout_percentage = 60\n[features.b]\nenabled = false\nupdated_by = \"alice\"\n",
    );
    let nodes = write(
        dir.path(),
        "nodes.txt",
        "# fleet\nnode-1\n\nnode-2\nnode-3\nnode-4\nnode-5\nnode-6\n",
    );
    let (code, lines, _) = run(vexil()
        .args(["diff", "--format", "json"])
        .arg(&old)
        .arg(&old));
    assert_eq!((code, lines.len()), (0, 0), "same files");
    let (code, lines, err) = run(vexil()
        .args(["diff", "--format", "json", "--nodes"])
        .arg(&nodes)
        .arg(&old)
        .arg(&new));
    assert_eq!(code, 1, "{err}");
    let changes: Vec<&Value> = lines.iter().filter(|l| l.get("field").is_some()).collect();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c["flag"].as_str().unwrap(), c["field"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("a", "rollout_percentage"),
            ("b", "enabled"),
            ("b", "updated_by")
        ]
    );
    assert_eq!(
        (&changes[0]["old"], &changes[0]["new"]),
        (&serde_json::json!(10.0), &serde_json::json!(60.0))
    );
    assert_eq!(changes[1]["updated_by"], "alice");
    let impact: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("turn_on").is_some())
        .collect();
    let b = impact.iter().find(|l| l["flag"] == "b").unwrap();
    assert_eq!(
        b["turn_off"].as_array().unwrap().len(),
        6,
        "b goes off everywhere"
    );
    assert!(b["turn_on"].as_array().unwrap().is_empty());
    // Raising a rollout only turns nodes on; check against `rollout` on both files.
    let a = impact.iter().find(|l| l["flag"] == "a");
    let on_in = |file: &Path| {
        let (_, r, _) = run(vexil()
            .args(["rollout", "--flag", "a", "--format", "json", "--nodes"])
            .arg(&nodes)
            .arg(file));
        r[0]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (before, after) = (on_in(&old), on_in(&new));
    let expected: Vec<String> = after
        .iter()
        .filter(|n| !before.contains(n))
        .cloned()
        .collect();
    match a {
        Some(a) => {
            let got: Vec<String> = a["turn_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got, expected);
            assert!(a["turn_off"].as_array().unwrap().is_empty());
        }
        None => assert!(expected.is_empty()),
    }
}

#[test]
fn rollout_reports_share_and_nodes() {
    let (code, lines, _) = run(vexil()
        .args([
            "rollout",
            "--flag",
            "fast_block_import",
            "--simulate",
            "2000",
            "--format",
            "json",
        ])
        .arg(bundled()));
    assert_eq!(code, 0);
    let r = &lines[0];
    assert_eq!(
        (r["flag"].as_str(), r["total"].as_u64()),
        (Some("fast_block_import"), Some(2000))
    );
    let enabled = r["enabled"].as_u64().unwrap();
    assert_eq!(r["nodes"].as_array().unwrap().len() as u64, enabled);
    assert!((r["share"].as_f64().unwrap() - enabled as f64 / 2000.0).abs() < 1e-12);
    assert!((400..600).contains(&enabled), "25 % of 2000: {enabled}");
    let (code, _, err) = run(vexil().args(["rollout", "--flag", "nope"]).arg(bundled()));
    assert_eq!(code, 1);
    assert!(err.contains("no flag `nope`"), "{err}");
}

#[test]
fn variant_names_the_assigned_variant() {
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..40 {
        let (code, lines, _) = run(vexil()
            .args([
                "variant",
                "--experiment",
                "compact_relay_ab",
                "--format",
                "json",
                "--now",
                "2025-01-01T00:00:00Z",
                "--node-id",
            ])
            .arg(format!("node-{i}"))
            .arg(bundled()));
        assert_eq!(code, 0);
        seen.insert(lines[0]["variant"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["control", "treatment"]
    );
    let (_, lines, _) = run(vexil()
        .args([
            "variant",
            "--experiment",
            "compact_relay_ab",
            "--format",
            "json",
            "--node-id",
            "n",
            "--now",
            "2031-01-01T00:00:00Z",
        ])
        .arg(bundled()));
    assert_eq!(lines[0]["variant"], Value::Null, "the experiment has ended");
}

/// TOML to JSON as editors see it: date-times as RFC 3339 strings.
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

#[test]
fn the_schema_accepts_the_bundled_config_and_rejects_a_typo() {
    let out = vexil().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let config = toml_to_json(
        std::fs::read_to_string(bundled())
            .unwrap()
            .parse::<toml::Table>()
            .unwrap()
            .into(),
    );
    let errors: Vec<String> = validator
        .iter_errors(&config)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut typo = config.clone();
    typo["features"]["actor_system"]["enabeld"] = Value::Bool(true);
    assert!(!validator.is_valid(&typo));
    let mut range = config.clone();
    range["features"]["fast_block_import"]["rollout_percentage"] = Value::from(120);
    assert!(!validator.is_valid(&range));
    let mut env = config;
    env["features"]["improved_sync"]["targets"]["environments"] = serde_json::json!(["prod"]);
    // The error is the value's own (not an `anyOf` of the value and null, which editors
    // report as "not valid under any of the schemas").
    let errors: Vec<String> = validator.iter_errors(&env).map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("\"prod\" is not one of"), "{errors:?}");
    assert!(
        !serde_json::to_string(&schema).unwrap().contains("\"null\""),
        "an optional field may be left out, never null"
    );
}

#[test]
fn audit_verify_exits_zero_when_intact_and_one_when_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "features.toml", &support::version(1));
    let log = dir.path().join("audit.jsonl");
    let flags: vexil::Flags = vexil::Flags::builder(&path)
        .audit_log(&log)
        .build()
        .unwrap();
    std::fs::write(&path, support::version(2)).unwrap();
    flags.reload();
    assert!(flags.flush_audit(support::PATIENCE));
    let (code, lines, _) = run(vexil()
        .args(["audit", "verify", "--format", "json"])
        .arg(&log));
    assert_eq!(code, 0);
    assert_eq!(lines[0]["records"], 2);
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replace("\"loaded\"", "\"applied\"");
    std::fs::write(&log, text).unwrap();
    let (code, lines, _) = run(vexil()
        .args(["audit", "verify", "--format", "json"])
        .arg(&log));
    assert_eq!(code, 1);
    assert_eq!(
        (lines[0]["intact"].as_bool(), lines[0]["line"].as_u64()),
        (Some(false), Some(1))
    );
}

/// A `vexil watch` child, killed when dropped.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_prints_loaded_applied_and_rejected_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "features.toml", &support::version(1));
    let mut child = Watch(
        vexil()
            .args(["watch", "--format", "json", "--debounce-ms", "10"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let loaded = next();
    assert_eq!(
        (
            loaded["event"].as_str(),
            loaded["generation"].as_u64(),
            loaded["flags"].as_u64()
        ),
        (Some("loaded"), Some(1), Some(3))
    );
    assert_eq!(
        loaded["sha256"],
        vexil::Digest::of(support::version(1).as_bytes()).to_string()
    );

    support::write(support::Style::Rename, &path, &support::version(2));
    let applied = next();
    assert_eq!(
        (applied["event"].as_str(), applied["generation"].as_u64()),
        (Some("applied"), Some(2))
    );
    let fields: Vec<&str> = applied["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"enabled"), "{applied}");

    support::write(support::Style::Rename, &path, &support::invalid(0));
    let rejected = next();
    assert_eq!(rejected["event"], "rejected");
    let e = &rejected["errors"][0];
    assert_eq!(
        (e["line"].as_u64(), e["flag"].as_str(), e["field"].as_str()),
        (Some(3), Some("flag_on"), Some("rollout_percentage"))
    );
}

fn scrape(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn watch_serves_prometheus_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "features.toml", &support::version(1));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Watch(
        vexil()
            .args(["watch", "--format", "json", "--metrics-addr", &addr])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The loaded event is printed after the first load, which set the gauges.
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("\"loaded\""));
    let deadline = std::time::Instant::now() + support::PATIENCE;
    let body = loop {
        if let Some(b) = scrape(&addr).filter(|b| b.contains("vexil_config_generation")) {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "no metrics on {addr}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(body.contains("vexil_config_generation 1"), "{body}");
    assert!(body.contains("vexil_flags_loaded 3"), "{body}");
    assert!(
        body.contains("vexil_reloads_total{result=\"applied\"} 1"),
        "{body}"
    );
}

/// `watch --format json` reports the audit log failing and recovering as it happens, and the
/// failure is logged on stderr through the installed subscriber.
#[cfg(unix)]
#[test]
fn watch_reports_audit_failures_and_recoveries() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "features.toml", &support::version(1));
    let log = dir.path().join("audit.jsonl");
    let c = std::ffi::CString::new(log.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut child = Watch(
        vexil()
            .args(["watch", "--format", "json", "--debounce-ms", "10"])
            .arg(&path)
            .arg("--audit-log")
            .arg(&log)
            .env_remove("VEXIL_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let mut events = vec![next(), next()];
    events.sort_by_key(|e| e["event"].as_str().unwrap().to_owned());
    assert_eq!(events[0]["event"], "audit_failed", "{events:?}");
    assert_eq!(events[1]["event"], "loaded", "{events:?}");
    assert!(events[0]["pending"].as_u64().unwrap() >= 1);

    // The sink becomes a regular file: the waiting record is written.
    std::fs::remove_file(&log).unwrap();
    let recovered = next();
    assert_eq!(
        (recovered["event"].as_str(), recovered["written"].as_u64()),
        (Some("audit_recovered"), Some(1))
    );
    assert_eq!(vexil::audit::verify(&log), Ok(1));
    drop(child);
    let mut err = String::new();
    BufReader::new(stderr).read_to_string(&mut err).unwrap();
    assert!(err.contains("audit write failed"), "stderr: {err}");
}

#[test]
fn rollout_shows_what_decided_rule_by_rule() {
    let rollout = |args: &[&str]| {
        let (code, lines, err) = run(vexil()
            .args(["rollout", "--flag", "block_prefetch", "--format", "json"])
            .args(args)
            .arg(bundled()));
        assert_eq!(code, 0, "{err}");
        lines.into_iter().next().unwrap()
    };
    // On the canaries, rule 0 turns canary-13 off and rule 1 turns the others on.
    let dir = tempfile::tempdir().unwrap();
    let nodes = write(dir.path(), "nodes.txt", "canary-1\ncanary-13\ncanary-2\n");
    let canaries = rollout(&["--env", "canary", "--nodes", nodes.to_str().unwrap()]);
    assert_eq!(canaries["enabled"], 2);
    assert_eq!(
        canaries["decided"],
        serde_json::json!([
            {"step": "rule", "detail": "rule 0", "nodes": 1, "enabled": 0},
            {"step": "rule", "detail": "rule 1", "nodes": 2, "enabled": 2},
        ])
    );
    // Elsewhere no rule matches: the fallthrough's 5 % decides, within 4 sigma of 100 of 2,000.
    let mainnet = rollout(&["--env", "mainnet", "--simulate", "2000"]);
    let decided = mainnet["decided"].as_array().unwrap();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["step"], "rollout");
    assert_eq!(decided[0]["nodes"], 2000);
    let on = decided[0]["enabled"].as_f64().unwrap();
    let sigma = (2000.0f64 * 0.05 * 0.95).sqrt();
    assert!((on - 100.0).abs() <= 4.0 * sigma, "{on} of 2000 at 5 %");
    assert_eq!(mainnet["enabled"], decided[0]["enabled"]);
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // Megabytes of output (every node of a simulated fleet), and nobody reading it: the pipe
    // breaks on the first write past its buffer whenever the reader goes.
    let mut child = vexil()
        .args([
            "rollout",
            "--flag",
            "parallel_validation",
            "--simulate",
            "300000",
        ])
        .args(["--format", "json"])
        .arg(bundled())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
