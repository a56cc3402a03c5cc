//! Runs `examples/prometheus_registry.rs`: Vexil's metrics, emitted through the `metrics`
//! facade, land in the node's own `prometheus::Registry` beside the node's metrics.

mod support;

use std::process::Command;

use support::example;

#[test]
fn vexil_metrics_are_gathered_from_the_nodes_registry() {
    let out = Command::new(example("prometheus_registry"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    for line in [
        // The node's own metric, registered in the registry directly.
        "node_blocks_imported_total 1024",
        // Vexil's, through the bridge: usage counts folded by `maintain`...
        r#"vexil_checks_total{flag="lighthouse_v5",result="false"} 1024"#,
        r#"vexil_checks_total{flag="parallel_validation",result="true"} 1024"#,
        // ... the reload gauges and counters ...
        "vexil_config_generation 1",
        "vexil_config_last_reload_successful 1",
        "vexil_flags_loaded 13",
        r#"vexil_reloads_total{result="applied"} 1"#,
        // ... and the histograms, with the buckets the example gave them (one check in
        // 1,024 is timed: two of the 2,048).
        "# TYPE vexil_check_duration_seconds histogram",
        r#"vexil_check_duration_seconds_bucket{le="0.000000025"}"#,
        "vexil_check_duration_seconds_count 2",
        r#"vexil_reload_duration_seconds_bucket{le="0.0001"}"#,
        "vexil_reload_duration_seconds_count 1",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no `{line}` in:\n{stdout}"
        );
    }
}
